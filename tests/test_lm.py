"""Language modelling end to end: the model, the tiny preset, generation, and the `rnnkit lm` command
with every bad input a user can bring."""

import gzip
import json

import pytest
import torch

from rnnkit.cli import main
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.tasks import lm
from rnnkit.training import TrainConfig, fit, masked_cross_entropy, model_loss

SHORT = "the quick brown fox jumps over the lazy dog. " * 8  # a few hundred characters
CORPUS = ("It was the best of times, it was the worst of times, it was the age of wisdom, "
          "it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity.\n") * 40
FAST = ["--max-steps", "30", "--batch-size", "4", "--bptt", "16", "--eval-every", "15", "--no-progress", "--device", "cpu"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def test_tiny_preset_overfits_a_few_hundred_characters():
    from rnnkit.data import CharTokenizer

    tok = CharTokenizer.fit([SHORT])
    ids = torch.tensor(tok.encode(SHORT).ids)
    data = lm.stream_batches([ids], batch_size=4, bptt=32, what="training")
    torch.manual_seed(0)
    model = LanguageModel.from_config(LanguageModelConfig(vocab_size=tok.vocab_size, **lm.PRESETS["tiny"].model))
    history = fit(model, data, TrainConfig(epochs=200, max_steps=300, lr=1e-2, clip_norm=1.0, progress=False, device="cpu"),
                  loss_fn=model_loss(masked_cross_entropy))
    assert sum(history.step_losses[-10:]) / 10 < 0.1, history.step_losses[-10:]


def test_weight_tying_shares_one_matrix():
    model = LanguageModel(LanguageModelConfig(vocab_size=20, embedding_size=16, hidden_size=16, tie_weights=True))
    assert model.output.weight is model.embedding.weight
    with pytest.raises(ValueError, match="tie_weights needs embedding_size == hidden_size"):
        LanguageModelConfig(vocab_size=20, embedding_size=8, hidden_size=16, tie_weights=True)


def test_generation_does_constant_work_per_token():
    """The prompt is read once; each new token costs one model step over one token."""
    model = LanguageModel(LanguageModelConfig(vocab_size=12, embedding_size=8, hidden_size=8, num_layers=1)).eval()
    calls = []
    original = model.step

    def counting(ids, state=None):
        calls.append(ids.shape[1])
        return original(ids, state)

    model.step = counting
    tokens = list(lm.generate_ids(model, [1, 2, 3, 4, 5], max_tokens=25, seed=0))
    assert len(tokens) == 25
    assert calls == [5] + [1] * 24


def test_greedy_and_top_k_sampling():
    logits = torch.tensor([0.0, 5.0, 1.0, 4.0])
    g = torch.Generator().manual_seed(0)
    assert lm.sample_next(logits, 0.0, None, g) == 1
    assert {lm.sample_next(logits, 1.0, 2, g) for _ in range(50)} <= {1, 3}


def test_train_evaluate_generate_resume(tmp_path, corpus, capsys):
    run = tmp_path / "run"
    assert main(["lm", "train", "--data", str(corpus), "--out", str(run), *FAST]) == 0
    out = capsys.readouterr().out
    assert "30 steps (max_steps)" in out and f"rnnkit lm generate {run}" in out
    assert {p.name for p in run.iterdir()} >= {"run.json", "vocab.json", "lm.json", "metrics.jsonl", "last", "best", "plots"}
    assert json.loads((run / "run.json").read_text())["task"] == "lm"

    assert main(["lm", "evaluate", str(run), "--data", str(corpus), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) >= {"loss", "perplexity", "bits_per_char"}
    assert metrics["perplexity"] == pytest.approx(2.718281828 ** metrics["loss"], rel=1e-6)
    assert metrics["bits_per_char"] == pytest.approx(metrics["loss"] / 0.693147, rel=0.02)  # char model

    texts = []
    for _ in range(2):
        assert main(["lm", "generate", str(run), "--prompt", "it was", "--max-tokens", "40", "--seed", "7", "--device", "cpu"]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] and texts[0].startswith("it was") and len(texts[0]) > 30
    assert main(["lm", "generate", str(run), "--prompt", "it was", "--max-tokens", "40", "--seed", "8", "--device", "cpu"]) == 0
    assert capsys.readouterr().out != texts[0]

    assert main(["lm", "train", "--resume", str(run), "--max-steps", "45", "--no-progress", "--device", "cpu"]) == 0
    assert "45 steps (max_steps)" in capsys.readouterr().out


def test_word_and_bpe_tokenizers_train(tmp_path, corpus, capsys):
    for kind in ("word", "bpe"):
        assert main(["lm", "train", "--data", str(corpus), "--tokenizer", kind, "--bpe-vocab-size", "300",
                     "--out", str(tmp_path / kind), *FAST]) == 0
        assert "bits per char" in capsys.readouterr().out
        assert main(["lm", "generate", str(tmp_path / kind), "--prompt", "it was", "--max-tokens", "5", "--device", "cpu"]) == 0


def test_gzipped_and_directory_inputs(tmp_path, capsys):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text(CORPUS[:3000], encoding="utf-8")
    with gzip.open(folder / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write(CORPUS[3000:6000])
    (folder / "notes.bin").write_bytes(b"\x00\x01")  # not a text suffix: ignored
    assert main(["lm", "train", "--data", str(folder), "--out", str(tmp_path / "run"), *FAST]) == 0
    assert "2 file(s)" in capsys.readouterr().err


def test_overwrite_replaces_a_run_but_never_other_folders(tmp_path, corpus, capsys):
    run = tmp_path / "run"
    assert main(["lm", "train", "--data", str(corpus), "--out", str(run), *FAST]) == 0
    assert main(["lm", "train", "--data", str(corpus), "--out", str(run), *FAST]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert main(["lm", "train", "--data", str(corpus), "--out", str(run), "--overwrite", *FAST]) == 0
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    assert main(["lm", "train", "--data", str(corpus), "--out", str(precious), "--overwrite", *FAST]) == 1
    assert "refuses to delete" in capsys.readouterr().err and (precious / "thesis.tex").exists()


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.txt", "missing.txt: no such file or directory"),
    (lambda d: _write(d / "empty.txt", b""), "empty.txt is empty"),
    (lambda d: _write(d / "blob.txt", b"abc\x00\x01\x02" * 50), "looks like a binary file"),
    (lambda d: _write(d / "latin1.txt", "caf\xe9 ".encode("latin-1") * 200), r"not valid UTF-8 at byte offset 3 .*--encoding-errors replace"),
    (lambda d: (d / "nothing").mkdir() or d / "nothing", "holds no text files"),
    (lambda d: _write(d / "short.txt", b"hello"), "at least 8 are needed for one batch of 4 rows"),
])
def test_bad_training_input_is_a_clear_error_without_traceback(tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert main(["lm", "train", "--data", str(path), "--out", str(tmp_path / "run"), *FAST]) == 1
    err = capsys.readouterr().err
    assert "rnnkit: error:" in err and "Traceback" not in err
    assert __import__("re").search(message, err), err


def test_replace_option_reads_non_utf8_text(tmp_path, capsys):
    path = _write(tmp_path / "latin1.txt", ("caf\xe9 au lait. " * 100).encode("latin-1"))
    assert main(["lm", "train", "--data", str(path), "--encoding-errors", "replace", "--out", str(tmp_path / "run"), *FAST]) == 0


def test_not_a_run_directory(tmp_path, capsys):
    for verb in (["generate"], ["evaluate", "--data", str(_write(tmp_path / "t.txt", b"text"))]):
        assert main(["lm", verb[0], str(tmp_path), *verb[1:]]) == 1
        assert "is not an rnnkit run directory" in capsys.readouterr().err


def test_unknown_preset(capsys, tmp_path):
    assert main(["lm", "train", "--preset", "huge", "--out", str(tmp_path / "r")]) == 1
    assert "unknown preset 'huge'; choose one of: tiny" in capsys.readouterr().err


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_awd_preset_locks_its_dropout_masks_and_drops_recurrent_weights_on_the_fused_kernel():
    preset = lm.preset_configs("awd")
    model = LanguageModel.from_config(LanguageModelConfig(vocab_size=30, **{**preset.model, "embedding_size": 16,
                                                                            "hidden_size": 16}))
    assert model.rnn.weight_drop == 0.25 and model.rnn.variational_dropout == 0.2 and model.rnn.dropout == 0.0
    assert model.output.weight is model.embedding.weight
    model.train()
    torch.manual_seed(0)
    embedded = model.embedding_dropout(torch.ones(4, 9, 16))
    assert torch.equal(embedded, embedded[:, :1].expand_as(embedded))  # one mask per sequence
    model(torch.randint(0, 30, (2, 12)))
    assert model.rnn.last_kernel.name == "fused" and "weight_drop" in model.rnn.last_kernel.reason


def test_token_dropout_zeroes_every_occurrence_of_a_dropped_token():
    model = LanguageModel.from_config(LanguageModelConfig(vocab_size=6, embedding_size=4, hidden_size=8, token_dropout=0.5))
    ids = torch.tensor([[0, 1, 2, 0, 1, 2, 3, 3]] * 3)
    torch.manual_seed(0)
    model.train()
    rows = model._embed(ids)
    weight = model.embedding.weight
    for token in range(4):
        got = rows[ids == token]
        dropped = bool((got == 0).all())
        assert dropped or torch.allclose(got, 2 * weight[token].expand_as(got))  # all or none, scaled by 1/(1-p)
    wide = LanguageModel.from_config(LanguageModelConfig(vocab_size=400, embedding_size=4, hidden_size=8, token_dropout=0.5))
    dropped = (wide._embed(torch.arange(400).view(1, -1)) == 0).all(dim=2).float().mean().item()
    assert 0.4 < dropped < 0.6  # about half of the vocabulary
    model.eval()
    assert torch.equal(model._embed(ids), model.embedding(ids))
    with pytest.raises(ValueError, match="token_dropout must be a probability"):
        LanguageModelConfig(vocab_size=6, token_dropout=1.5)


def test_regulariser_flags_add_to_the_presets(tmp_path, corpus, capsys):
    run = tmp_path / "awd"
    assert main(["lm", "train", "--data", str(corpus), "--preset", "awd", "--hidden-size", "16", "--embedding-size", "16",
                 "--max-steps", "2", "--bptt", "8", "--batch-size", "2", "--weight-drop", "0.4", "--out", str(run),
                 "--no-progress", "--device", "cpu"]) == 0
    config = json.loads((run / "run.json").read_text())["model"]["config"]
    assert config["regularisers"] == {"weight_drop": 0.4, "variational_dropout": 0.2}
    assert config["locked_dropout"] is True and config["tie_weights"] is True
    assert main(["lm", "generate", str(run), "--prompt", "a", "--max-tokens", "3", "--device", "cpu"]) == 0

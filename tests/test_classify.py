"""Sequence classification: the model (pooling, padding invariance, attention weights), overfitting
tiny sets, and `rnnkit classify` train -> evaluate -> predict with every bad input."""

import json
import re

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data import PaddedBatches
from rnnkit.data.splits import stratified_split
from rnnkit.models import LanguageModelPretraining, SequenceClassifier, SequenceClassifierConfig
from rnnkit.tasks.classify import class_weights, classification_loss, evaluate_batches
from rnnkit.training import TrainConfig, fit

FAST = ["--epochs", "3", "--batch-size", "8", "--hidden-size", "16", "--embedding-size", "16", "--no-progress", "--device", "cpu"]
POS = ["a wonderful film", "great acting and a great story", "i loved it", "wonderful , moving , great", "a joy to watch"]
NEG = ["a dull film", "terrible acting and a boring story", "i hated it", "boring , slow , terrible", "a chore to watch"]


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_a_prediction(pooling, bidirectional):
    model = SequenceClassifier(SequenceClassifierConfig(num_classes=3, input_size=4, hidden_size=8, pooling=pooling,
                                                        bidirectional=bidirectional, num_layers=2)).eval()
    x = torch.randn(3, 6, 4)
    lengths = torch.tensor([6, 2, 4])
    padded = torch.cat([x, 1e3 * torch.randn(3, 5, 4)], dim=1)
    torch.testing.assert_close(model(x, lengths), model(padded, lengths))
    alone = model(x[1:2, :2])  # the short row on its own, no padding at all
    torch.testing.assert_close(model(x, lengths)[1:2], alone)


def test_attention_weights_sum_to_one_over_valid_steps_and_zero_on_padding():
    model = SequenceClassifier(SequenceClassifierConfig(num_classes=2, vocab_size=20, hidden_size=8, pooling="attention"))
    _, weights = model.encode(torch.randint(0, 20, (3, 7)), torch.tensor([7, 3, 1]))
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert torch.all(weights[1, 3:] == 0) and torch.all(weights[2, 1:] == 0)


def _tiny_fit(inputs, labels, config, epochs=60):
    torch.manual_seed(0)
    data = PaddedBatches(inputs, torch.tensor(labels), batch_size=4)
    model = SequenceClassifier(config)
    fit(model, data, TrainConfig(epochs=epochs, lr=1e-2, progress=False, device="cpu"), loss_fn=classification_loss(None))
    return evaluate_batches(model, PaddedBatches(inputs, torch.tensor(labels), 16, shuffle=False), ["0", "1"], "cpu")


def test_overfits_tiny_text():
    vocab = {w: i + 1 for i, w in enumerate(sorted({w for t in POS + NEG for w in t.split()}))}
    inputs = [torch.tensor([vocab[w] for w in t.split()]) for t in POS + NEG]
    metrics = _tiny_fit(inputs, [1] * 5 + [0] * 5, SequenceClassifierConfig(num_classes=2, vocab_size=len(vocab) + 1, hidden_size=16, embedding_size=16))
    assert metrics["accuracy"] == 1.0


def test_overfits_tiny_numeric_series():
    g = torch.Generator().manual_seed(0)
    rising = [torch.linspace(0, 1, n).unsqueeze(1) + 0.05 * torch.randn(n, 1, generator=g) for n in (5, 8, 11, 6, 9)]
    falling = [torch.linspace(1, 0, n).unsqueeze(1) + 0.05 * torch.randn(n, 1, generator=g) for n in (7, 5, 10, 8, 6)]
    metrics = _tiny_fit(rising + falling, [1] * 5 + [0] * 5, SequenceClassifierConfig(num_classes=2, input_size=1, hidden_size=16, pooling="last"))
    assert metrics["accuracy"] == 1.0


def test_balanced_class_weights_and_stratified_split():
    assert class_weights(torch.tensor([0, 0, 0, 1]), 2).tolist() == pytest.approx([4 / 6, 2.0])
    train, val = stratified_split(["a"] * 10 + ["b"] * 5, 0.2, seed=0)
    assert len(val) == 3 and sorted(train + val) == list(range(15))


@pytest.fixture
def text_files(tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("text\tlabel\n" + "".join(f"{t}\tpos\n{n}\tneg\n" for t, n in zip(POS * 4, NEG * 4)))
    test = tmp_path / "test.txt"
    test.write_text("".join(f"pos\t{t}\nneg\t{n}\n" for t, n in zip(POS, NEG)))
    return train, test


def test_text_train_evaluate_predict(tmp_path, text_files, capsys):
    train, test = text_files
    run = tmp_path / "run"
    assert main(["classify", "train", "--data", str(train), "--test", str(test), "--out", str(run), *FAST]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["classify", "evaluate", str(run), "--data", str(test), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "per_class", "confusion"} <= set(metrics)
    assert sum(map(sum, metrics["confusion"])) == 10 and (run / "plots" / "confusion-test.png").is_file()
    assert main(["classify", "evaluate", str(run), "--data", str(test)]) == 0
    assert "macro-F1" in capsys.readouterr().out

    texts = tmp_path / "new.txt"
    texts.write_text("a great film\nboring and slow\n")
    assert main(["classify", "predict", str(run), "--data", str(texts)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "label,p_neg,p_pos" and len(lines) == 3
    assert all(abs(sum(map(float, line.split(",")[1:])) - 1) < 1e-5 for line in lines[1:])

    import io  # noqa: E401
    import sys
    sys_stdin = sys.stdin
    sys.stdin = io.StringIO("what a joy\n")
    try:
        assert main(["classify", "predict", str(run), "--data", "-", "--jsonl"]) == 0
    finally:
        sys.stdin = sys_stdin
    row = json.loads(capsys.readouterr().out)
    assert row["label"] in ("pos", "neg") and set(row["probabilities"]) == {"pos", "neg"}


def test_numeric_ts_train_and_evaluate(tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    lines = []
    for i in range(24):
        label = i % 2
        values = torch.linspace(0, 1, 12) * (1 if label else -1) + 0.1 * torch.randn(12, generator=g)
        lines.append(",".join(f"{v:.3f}" for v in values) + ":" + ",".join(f"{v:.3f}" for v in -values) + f":{label}")
    path = tmp_path / "train.ts"
    path.write_text("@problemName toy\n@classLabel true 0 1\n@data\n" + "\n".join(lines) + "\n")
    run = tmp_path / "run"
    assert main(["classify", "train", "--data", str(path), "--out", str(run), *FAST, "--epochs", "20"]) == 0
    capsys.readouterr()
    assert main(["classify", "evaluate", str(run), "--data", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.9
    assert json.loads((run / "encoder.json").read_text())["kind"] == "numeric"

    # no validation (every example trains, the last weights are kept), through a convolutional front end
    run = tmp_path / "run-all"
    assert main(["classify", "train", "--data", str(path), "--out", str(run), *FAST, "--epochs", "20", "--val-fraction", "0",
                 "--conv-layers", "2", "--conv-kernel", "3"]) == 0
    assert "no validation data, so the last weights are kept" in capsys.readouterr().out
    assert not (run / "best").exists() and (run / "last").is_dir()
    assert json.loads((run / "run.json").read_text())["model"]["config"]["conv_layers"] == 2
    assert main(["classify", "evaluate", str(run), "--data", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.9


def _bad(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("args, message", [
    (lambda d: ["--data", _bad(d, "a.csv", "review,stars\ngood,1\nbad,0\n")], r"no column 'text' \(set it with --text-column\); the columns are \['review', 'stars'\]"),
    (lambda d: ["--data", _bad(d, "a.tsv", "text\tlabel\ngood\t1\n\t0\nbad\t0\n")], r"row\(s\) with missing text or label \(rows 3\)"),
    (lambda d: ["--data", _bad(d, "a.tsv", "text\tlabel\ngood\t1\nbad\t1\n")], "every training example has the label '1'"),
    (lambda d: ["--data", _bad(d, "a.ts", "@classLabel true a b\n@data\n1,?,3:a\n4,5,6:b\n1,2,3:a\n4,5,6:b\n")], "has missing values"),
    (lambda d: ["--data", _bad(d, "a.ts", "@classLabel true a b\n@data\n1,2:3,4:a\n5,6:b\n")], "1 channels, but earlier series have 2"),
])
def test_bad_training_input(tmp_path, capsys, args, message):
    assert main(["classify", "train", *args(tmp_path), "--out", str(tmp_path / "run"), *FAST]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and re.search(message, err), err


def test_label_unseen_in_training_is_an_error_at_evaluation(tmp_path, text_files, capsys):
    train, _ = text_files
    run = tmp_path / "run"
    assert main(["classify", "train", "--data", str(train), "--out", str(run), *FAST]) == 0
    other = tmp_path / "other.txt"
    other.write_text("pos\ta fine film\nmeh\tso so\n")
    assert main(["classify", "evaluate", str(run), "--data", str(other)]) == 1
    assert "label(s) ['meh'] that training never saw; the known labels are ['neg', 'pos']" in capsys.readouterr().err


def test_missing_values_can_be_filled(tmp_path, capsys):
    path = _bad(tmp_path, "a.ts", "@classLabel true a b\n@data\n" + "1,?,3:a\n6,5,4:b\n" * 6)
    assert main(["classify", "train", "--data", path, "--fill-missing", "ffill", "--out", str(tmp_path / "run"), *FAST]) == 0


def test_resume_continues_on_the_same_data(tmp_path, text_files, capsys):
    train, test = text_files
    run = tmp_path / "run"
    assert main(["classify", "train", "--data", str(train), "--test", str(test), "--out", str(run), *FAST]) == 0
    first = int(capsys.readouterr().out.split(" steps")[0])
    assert main(["classify", "train", "--resume", str(run), "--epochs", "5", "--no-progress", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert int(out.split(" steps")[0]) == first // 3 * 5 and "test accuracy" in out


def test_conv_front_end_keeps_padding_invariance_and_overfits_series():
    model = SequenceClassifier(SequenceClassifierConfig(num_classes=2, input_size=2, hidden_size=8, embedding_size=8,
                                                        conv_layers=2, conv_kernel=3, pooling="mean")).eval()
    x, lengths = torch.randn(3, 7, 2), torch.tensor([7, 3, 5])
    padded = torch.cat([x, 1e3 * torch.randn(3, 4, 2)], dim=1)
    torch.testing.assert_close(model(x, lengths), model(padded, lengths))
    g = torch.Generator().manual_seed(0)
    peaked = [torch.randn(n, 1, generator=g) * 0.1 + (torch.arange(n) == n // 2).float().unsqueeze(1) for n in (9, 12, 10, 11, 9)]
    flat = [torch.randn(n, 1, generator=g) * 0.1 for n in (10, 9, 12, 11, 10)]
    config = SequenceClassifierConfig(num_classes=2, input_size=1, hidden_size=16, conv_layers=2, conv_kernel=3, pooling="max")
    assert _tiny_fit(peaked + flat, [1] * 5 + [0] * 5, config)["accuracy"] == 1.0


def test_word_dropout_replaces_tokens_while_training_only():
    config = SequenceClassifierConfig(num_classes=2, vocab_size=50, hidden_size=8, embedding_size=8, word_dropout=0.5, dropout=0.0)
    model = SequenceClassifier(config)
    seen = []
    model.embed.register_forward_hook(lambda module, args, out: seen.append(args[0].clone()))
    ids = torch.randint(1, 50, (4, 30))
    model.eval()(ids)
    assert torch.equal(seen[-1], ids)
    model.train()(ids)
    dropped = seen[-1] == 0
    assert 0.3 < dropped.float().mean() < 0.7 and torch.equal(seen[-1][~dropped], ids[~dropped])
    with pytest.raises(ValueError, match="word_dropout applies to token inputs"):
        SequenceClassifierConfig(num_classes=2, input_size=3, word_dropout=0.1)
    with pytest.raises(ValueError, match="conv_kernel odd"):
        SequenceClassifierConfig(num_classes=2, input_size=3, conv_layers=1, conv_kernel=4)


def test_bpe_subwords_reach_words_training_never_saw(tmp_path, text_files, capsys):
    train, test = text_files
    run = tmp_path / "run"
    assert main(["classify", "train", "--data", str(train), "--out", str(run), *FAST, "--tokenizer", "bpe", "--vocab-size", "300",
                 "--lowercase", "--word-dropout", "0.1"]) == 0
    capsys.readouterr()
    assert json.loads((run / "encoder.json").read_text())["tokenizer"]["kind"] == "bpe"
    texts = tmp_path / "new.txt"
    texts.write_text("WONDERFULLY boring\n")  # an unseen word and case: no <unk>, pieces instead
    assert main(["classify", "predict", str(run), "--data", str(texts), "--jsonl"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["label"] in ("pos", "neg") and "not in the vocabulary" not in err


def test_several_runs_evaluate_and_predict_as_an_ensemble(tmp_path, text_files, capsys):
    train, test = text_files
    runs = [tmp_path / f"run{seed}" for seed in (0, 1)]
    for seed, run in enumerate(runs):
        assert main(["classify", "train", "--data", str(train), "--out", str(run), *FAST, "--seed", str(seed)]) == 0
    capsys.readouterr()
    assert main(["classify", "predict", *map(str, runs), "--data", str(test), "--jsonl"]) == 0
    together = [json.loads(line)["probabilities"]["pos"] for line in capsys.readouterr().out.splitlines()]
    alone = []
    for run in runs:
        assert main(["classify", "predict", str(run), "--data", str(test), "--jsonl"]) == 0
        alone.append([json.loads(line)["probabilities"]["pos"] for line in capsys.readouterr().out.splitlines()])
    assert together == pytest.approx([(a + b) / 2 for a, b in zip(*alone)], abs=1e-6)
    assert main(["classify", "evaluate", *map(str, runs), "--data", str(test), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["examples"] == 10 and metrics["confusion_plot"].endswith("confusion-ensemble2-test.png")

    other = tmp_path / "other.tsv"
    other.write_text("text\tlabel\n" + "".join(f"{t}\tgood\n{n}\tbad\n" for t, n in zip(POS * 4, NEG * 4)))
    assert main(["classify", "train", "--data", str(other), "--out", str(tmp_path / "other"), *FAST]) == 0
    capsys.readouterr()
    assert main(["classify", "predict", str(runs[0]), str(tmp_path / "other"), "--data", str(test)]) == 1
    assert "an ensemble needs runs trained on the same labels" in capsys.readouterr().err


def test_language_model_pretraining_learns_the_texts_and_refuses_leaky_models():
    torch.manual_seed(0)
    texts = [torch.tensor([1, 2, 3, 4, 5, 6][: n]) for n in (6, 4, 5, 3, 6, 2)] * 4  # each token follows from the one before
    model = SequenceClassifier(SequenceClassifierConfig(num_classes=2, vocab_size=8, hidden_size=16, embedding_size=16,
                                                        bidirectional=True, dropout=0.0))
    lm = LanguageModelPretraining(model)
    data = PaddedBatches(texts, torch.zeros(len(texts), dtype=torch.long), batch_size=8)
    batch = next(iter(data.batches(epoch=0, seed=0)))
    before = float(lm(batch.inputs, batch.lengths).detach())
    fit(lm, data, TrainConfig(epochs=40, lr=1e-2, progress=False, device="cpu"), loss_fn=lambda m, b, s: (m(b.inputs, b.lengths), None))
    assert before > 1.5 and float(lm(batch.inputs, batch.lengths).detach()) < 0.1
    assert float(lm(torch.tensor([[3]]), torch.tensor([1])).detach()) == 0.0  # nothing to predict in one token
    for config, message in [
        (dict(input_size=3), "needs token inputs"),
        (dict(vocab_size=8, bidirectional=True, num_layers=2), "needs num_layers=1"),
        (dict(vocab_size=8, conv_layers=1, conv_kernel=3), "needs conv_layers=0"),
    ]:
        with pytest.raises(ValueError, match=message):
            LanguageModelPretraining(SequenceClassifier(SequenceClassifierConfig(num_classes=2, **config)))


def test_pretraining_through_the_cli_and_the_seed_sets_the_initial_weights(tmp_path, text_files, capsys):
    from safetensors.torch import load_file

    train, _ = text_files
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        torch.rand(7)  # the global generator moves between runs; the weights must not follow it
        runs[name] = tmp_path / name
        assert main(["classify", "train", "--data", str(train), "--out", str(runs[name]), *FAST, "--epochs", "1", "--seed", str(seed),
                     "--pretrain-epochs", "2"]) == 0
    assert "language-model pre-training, 2 epochs" in capsys.readouterr().err
    assert json.loads((runs["a"] / "classify.json").read_text())["pretrain_loss"] > 0
    weights = {name: load_file(run / "last" / "model.safetensors") for name, run in runs.items()}
    key = "embed.weight"
    assert torch.equal(weights["a"][key], weights["b"][key]) and not torch.equal(weights["a"][key], weights["c"][key])

"""Translation: the Seq2Seq model (attention masks, padding invariance), decoding (greedy == beam 1,
beam scores are sums of token log-probabilities, exhaustive search by brute force, the length limit),
overfitting a tiny parallel set, parallel-text reading, and `rnnkit translate` end to end."""

import gzip
import io
import itertools
import json

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.parallel import PairBatches, read_pairs
from rnnkit.models.decoding import beam_search, greedy_decode
from rnnkit.models.seq2seq import ATTENTIONS, BOS, EOS, Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.translate import TranslateDataConfig, Vocab, detokenize, encode_pairs, pair_loss
from rnnkit.training import TrainConfig, fit


def small_model(attention="general", cell="gru", tgt_vocab=9, **kw):
    config = Seq2SeqConfig(src_vocab_size=11, tgt_vocab_size=tgt_vocab, embedding_size=8, hidden_size=8, attention=attention,
                           cell=cell, dropout=0.0, **kw)
    return Seq2Seq(config).eval()


@pytest.mark.parametrize("attention", ["additive", "dot", "general"])
def test_attention_rows_sum_to_one_and_ignore_source_padding(attention):
    model = small_model(attention)
    src, lengths = torch.randint(3, 11, (3, 6)), torch.tensor([6, 2, 4])
    memory, state = model.encode(src, lengths)
    _, _, weights = model.decode(torch.randint(3, 9, (3, 5)), memory, state)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))
    assert torch.all(weights[1, :, 2:] == 0) and torch.all(weights[2, :, 4:] == 0)


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_padding_never_changes_the_output(attention, cell):
    model = small_model(attention, cell, num_layers=2)
    src, lengths, tgt = torch.randint(3, 11, (3, 6)), torch.tensor([6, 2, 4]), torch.randint(3, 9, (3, 5))
    padded = torch.cat([src, torch.randint(3, 11, (3, 4))], dim=1)  # junk past every length
    torch.testing.assert_close(model(src, lengths, tgt), model(padded, lengths, tgt))
    alone = model(src[1:2, :2], lengths[1:2], tgt[1:2])
    torch.testing.assert_close(model(src, lengths, tgt)[1:2], alone)


def test_teacher_forcing_ratio_feeds_gold_or_own_tokens():
    model = small_model("general").train()
    src, lengths, tgt = torch.randint(3, 11, (2, 5)), torch.tensor([5, 3]), torch.randint(3, 9, (2, 6))
    forced = model(src, lengths, tgt)
    always = Seq2Seq(Seq2SeqConfig(**{**model.config.__dict__, "teacher_forcing": 0.9999999})).train()
    always.load_state_dict(model.state_dict())
    torch.testing.assert_close(always(src, lengths, tgt), forced)  # the step loop fed gold equals one call
    never = Seq2Seq(Seq2SeqConfig(**{**model.config.__dict__, "teacher_forcing": 0.0})).train()
    never.load_state_dict(model.state_dict())
    free = never(src, lengths, tgt)
    torch.testing.assert_close(free[:, 0], forced[:, 0])  # the first step always sees <bos>
    own = torch.cat([tgt[:, :1], free[:, :-1].argmax(-1)], dim=1)  # what it fed itself
    torch.testing.assert_close(free, model(src, lengths, own))


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_greedy_equals_beam_of_one(attention, cell):
    torch.manual_seed(3)
    model = small_model(attention, cell)
    src, lengths = torch.randint(3, 11, (4, 7)), torch.tensor([7, 3, 5, 1])
    greedy = greedy_decode(model, src, lengths, max_len_a=1.0, max_len_b=3)
    beam = beam_search(model, src, lengths, beam_size=1, max_len_a=1.0, max_len_b=3)
    assert [h.tokens for h in greedy] == [h.tokens for h in beam]
    assert [h.finished for h in greedy] == [h.finished for h in beam]
    for g, b in zip(greedy, beam):
        assert g.score == pytest.approx(b.score, abs=1e-5)


@torch.no_grad()
def sequence_log_prob(model, src, lengths, tokens, finished):
    """Sum of the model's step log-probabilities of `tokens` (then <eos> when finished), one step at a time."""
    memory, state = model.encode(src, lengths)
    total, previous = 0.0, BOS
    for token in [*tokens, *([EOS] if finished else [])]:
        logp, state, _ = model.step(torch.tensor([previous]), memory, state)
        total += float(logp[0, token])
        previous = token
    return total


@pytest.mark.parametrize("attention", ["additive", "none"])
def test_beam_search_is_exhaustive_with_a_wide_beam_and_scores_are_log_prob_sums(attention):
    torch.manual_seed(0)
    model = small_model(attention, tgt_vocab=6)  # 3 specials + 3 real tokens
    src, lengths = torch.randint(3, 11, (1, 4)), torch.tensor([4])
    # every candidate of at most 3 tokens: ended by <eos>, or cut at the maximum length (3)
    candidates = [(list(seq), True) for n in range(3) for seq in itertools.product(range(3, 6), repeat=n)]
    candidates += [(list(seq), False) for seq in itertools.product(range(3, 6), repeat=3)]
    scored = [(sequence_log_prob(model, src, lengths, seq, done), seq, done) for seq, done in candidates]
    best_score, best_seq, best_done = max(scored, key=lambda s: s[0])
    hyp = beam_search(model, src, lengths, beam_size=64, length_penalty=0.0, max_len_a=0.0, max_len_b=3)[0]
    assert (hyp.tokens, hyp.finished) == (best_seq, best_done)
    assert hyp.score == pytest.approx(best_score, abs=1e-5)
    narrow = beam_search(model, src, lengths, beam_size=2, length_penalty=0.0, max_len_a=0.0, max_len_b=3)[0]
    assert narrow.score == pytest.approx(sequence_log_prob(model, src, lengths, narrow.tokens, narrow.finished), abs=1e-5)
    assert narrow.score <= best_score + 1e-6


def test_decoding_stops_at_the_length_limit_for_any_source():
    model = small_model("dot")
    with torch.no_grad():
        model.output.bias[EOS] = -1e4  # a model that never ends a sentence
    src = torch.randint(3, 11, (2, 50))
    lengths = torch.tensor([50, 7])
    for hyp, limit in zip(greedy_decode(model, src, lengths, max_len_a=1.5, max_len_b=10), (85, 20)):
        assert len(hyp.tokens) == limit and not hyp.finished
    for hyp, limit in zip(beam_search(model, src, lengths, beam_size=3, max_len_a=0.5, max_len_b=2), (27, 5)):
        assert len(hyp.tokens) == limit and not hyp.finished and hyp.attention.shape == (limit, 50)


PAIRS = [("ein hund", "a dog"), ("eine katze", "a cat"), ("zwei hunde", "two dogs"), ("zwei katzen", "two cats"),
         ("der hund schläft", "the dog sleeps"), ("die katze schläft", "the cat sleeps"), ("ein hund und eine katze", "a dog and a cat")]


def test_overfits_a_tiny_parallel_set():
    from rnnkit.data.parallel import Pairs

    pairs = Pairs([a for a, _ in PAIRS], [b for _, b in PAIRS], "tiny")
    config = TranslateDataConfig(src_tokenizer="word", tgt_tokenizer="word", label_smoothing=0.0)
    src, tgt = Vocab.fit("word", pairs.sources, config), Vocab.fit("word", pairs.targets, config)
    data = PairBatches(*encode_pairs(pairs, src, tgt, None), batch_size=4)
    model = Seq2Seq(Seq2SeqConfig(src_vocab_size=src.size, tgt_vocab_size=tgt.size, embedding_size=16, hidden_size=32, dropout=0.0,
                                  attention="additive"))
    fit(model, data, TrainConfig(epochs=60, lr=1e-2, progress=False, device="cpu"), loss_fn=lambda m, b, s: (pair_loss(m, b), None))
    model.eval()
    batch = data.collate(list(range(len(PAIRS))))
    for beam in (1, 3):
        hyps = (greedy_decode if beam == 1 else lambda *a: beam_search(*a, beam_size=3))(model, batch.inputs, batch.lengths)
        assert [tgt.decode(h.tokens) for h in hyps] == [b for _, b in PAIRS]


def test_reads_aligned_files_tsv_and_gzip(tmp_path):
    (tmp_path / "a.de").write_text("ein hund\neine katze\n")
    with gzip.open(tmp_path / "a.en.gz", "wt") as f:
        f.write("a dog\na cat\n")
    pairs = read_pairs(tmp_path / "a.de", tmp_path / "a.en.gz")
    assert pairs.sources == ["ein hund", "eine katze"] and pairs.targets == ["a dog", "a cat"]
    (tmp_path / "p.tsv").write_text("ein hund\ta dog\n")
    assert read_pairs(tmp_path / "p.tsv").targets == ["a dog"]


def test_parallel_text_errors(tmp_path):
    (tmp_path / "a.de").write_text("eins\nzwei\ndrei\n")
    (tmp_path / "a.en").write_text("one\ntwo\n")
    with pytest.raises(ValueError, match=r"a.de has 3 lines and .*a.en has 2; .*a.en ends first, after line 2"):
        read_pairs(tmp_path / "a.de", tmp_path / "a.en")
    (tmp_path / "b.de").write_text("eins\n\ndrei\n")
    (tmp_path / "b.en").write_text("one\ntwo\nthree\n")
    with pytest.raises(ValueError, match=r"1 empty line\(s\) \(line 2\).*--skip-empty"):
        read_pairs(tmp_path / "b.de", tmp_path / "b.en")
    assert read_pairs(tmp_path / "b.de", tmp_path / "b.en", skip_empty=True).targets == ["one", "three"]
    (tmp_path / "p.tsv").write_text("no tab here\n")
    with pytest.raises(ValueError, match="line 1: expected 'source<TAB>target'"):
        read_pairs(tmp_path / "p.tsv")


def test_detokenize_undoes_word_spacing():
    assert detokenize("a man , in a t - shirt , isn ' t happy .") == "a man, in a t-shirt, isn't happy."
    assert detokenize("( two ) dogs !") == "(two) dogs!"


@pytest.fixture(scope="module")
def numbers(tmp_path_factory):
    directory = tmp_path_factory.mktemp("numbers")
    assert main(["translate", "example", str(directory), "--limit", "300"]) == 0
    return directory


FAST = ["--tokenizer", "char", "--epochs", "2", "--hidden-size", "16", "--embedding-size", "8", "--batch-size", "32",
        "--no-progress", "--device", "cpu"]


def test_train_evaluate_run_end_to_end(tmp_path, numbers, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["translate", "train", "--src", str(numbers / "train.de"), "--tgt", str(numbers / "train.en"),
                 "--val-src", str(numbers / "val.de"), "--val-tgt", str(numbers / "val.en"), "--test-src", str(numbers / "test.de"),
                 "--test-ref", str(numbers / "test.en"), "--attention", "dot", "--out", str(run), *FAST]) == 0
    assert "test: BLEU" in capsys.readouterr().out
    assert main(["translate", "evaluate", str(run), "--src", str(numbers / "test.de"), "--ref", str(numbers / "test.en"),
                 "--beam", "2", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0 <= metrics["bleu"] <= 100 and 0 <= metrics["chrf"] <= 100 and metrics["sentences"] == 30 and metrics["beam"] == 2
    plot = tmp_path / "attention.png"
    assert main(["translate", "run", str(run), "siebenundachtzig", "neun", "--attention-plot", str(plot)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2 and plot.is_file()
    from rnnkit.tasks import translate

    drawn = {}
    monkeypatch.setattr(translate, "plot_attention", lambda w, src, tgt, path: drawn.update(w=w, src=src, tgt=tgt))
    assert main(["translate", "run", str(run), "neun", "siebenundachtzig", "--attention-plot", str(plot)]) == 0
    assert drawn["src"] == list("neun") and drawn["w"].shape == (len(drawn["tgt"]), 4)  # cropped to its own source
    assert drawn["w"].sum(axis=1) == pytest.approx([1.0] * len(drawn["tgt"]), abs=1e-5)
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("elf\nzwölf\ndrei\n"))
    assert main(["translate", "run", str(run), "-", "--beam", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["translate", "run", str(run), "zwölf XYZ"]) == 0
    assert "source tokens are not in the vocabulary; they became <unk>" in capsys.readouterr().err
    steps = json.loads((run / "last" / "state.json").read_text())["trainer"]["progress"]["step"]
    assert main(["translate", "train", "--resume", str(run), "--epochs", "3", "--no-progress"]) == 0
    assert json.loads((run / "last" / "state.json").read_text())["trainer"]["progress"]["step"] > steps


def test_dot_and_general_scores_are_scaled_and_runs_saved_before_the_field_load_unscaled(tmp_path, numbers, capsys):
    from rnnkit.tasks.translate import Translator

    run = tmp_path / "run"
    assert main(["translate", "train", "--src", str(numbers / "train.de"), "--tgt", str(numbers / "train.en"),
                 "--attention", "general", "--out", str(run), *FAST]) == 0
    assert Translator.load(run, "cpu").model.attention.scaled
    described = json.loads((run / "run.json").read_text())
    assert described["model"]["config"]["scale_scores"] is True
    del described["model"]["config"]["scale_scores"]  # as a run saved before the field existed
    (run / "run.json").write_text(json.dumps(described))
    assert not Translator.load(run, "cpu").model.attention.scaled
    unscaled = tmp_path / "unscaled"
    assert main(["translate", "train", "--src", str(numbers / "train.de"), "--tgt", str(numbers / "train.en"),
                 "--attention", "dot", "--unscaled-scores", "--out", str(unscaled), *FAST]) == 0
    assert not Translator.load(unscaled, "cpu").model.attention.scaled


def test_bad_input_is_one_clear_line(tmp_path, numbers, capsys):
    (tmp_path / "short.en").write_text("one\n")
    assert main(["translate", "train", "--src", str(numbers / "train.de"), "--tgt", str(tmp_path / "short.en"),
                 "--out", str(tmp_path / "r"), *FAST]) == 1
    err = capsys.readouterr().err
    assert "line-aligned files need the same number of lines" in err and "Traceback" not in err
    run = tmp_path / "none"
    assert main(["translate", "train", "--src", str(numbers / "train.de"), "--tgt", str(numbers / "train.en"), "--attention", "none",
                 "--max-length", "25", "--out", str(run), *FAST]) == 0
    assert "longer than 25 tokens (--max-length)" in capsys.readouterr().err
    assert main(["translate", "run", str(run), "neun", "--attention-plot", str(tmp_path / "a.png")]) == 1
    assert "has no attention" in capsys.readouterr().err
    assert main(["translate", "run", str(run), ""]) == 1
    assert "input line 1 is empty" in capsys.readouterr().err


def test_shared_embeddings_and_tied_output_share_one_matrix():
    config = Seq2SeqConfig(src_vocab_size=12, tgt_vocab_size=12, embedding_size=8, hidden_size=8, share_embeddings=True, tie_output=True)
    model = Seq2Seq(config)
    assert model.src_embed.weight is model.tgt_embed.weight is model.output.weight
    assert model(torch.randint(3, 12, (2, 4)), torch.tensor([4, 2]), torch.randint(3, 12, (2, 3))).shape == (2, 3, 12)
    with pytest.raises(ValueError, match="share_embeddings needs one shared vocabulary"):
        Seq2SeqConfig(src_vocab_size=12, tgt_vocab_size=9, share_embeddings=True)

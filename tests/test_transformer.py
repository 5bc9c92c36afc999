"""The transformer baselines: masking (causal, padding, SDPA's polarity), the KV cache against full
recomputation, overfitting tiny tasks, and `--model transformer` in lm, classify and forecast."""

import json
import math
from dataclasses import asdict, replace

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data import CharTokenizer
from rnnkit.layers.transformer import SelfAttention, Transformer, sinusoidal_positions
from rnnkit.models import (
    TransformerClassifier,
    TransformerClassifierConfig,
    TransformerForecaster,
    TransformerForecasterConfig,
    TransformerLanguageModel,
    TransformerLanguageModelConfig,
)
from rnnkit.tasks import lm
from rnnkit.training import TrainConfig, fit, masked_cross_entropy, model_loss


def _lm(**kwargs):
    torch.manual_seed(0)
    settings = dict(vocab_size=30, d_model=32, num_layers=2, num_heads=4, max_len=16) | kwargs
    return TransformerLanguageModel(TransformerLanguageModelConfig(**settings)).eval()


# -- the layer -----------------------------------------------------------------------------------------
def test_sinusoidal_positions_follow_the_formula():
    table = sinusoidal_positions(5, 6, offset=3)
    for p in range(5):
        for i in range(3):
            angle = (p + 3) / 10000 ** (2 * i / 6)
            assert table[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_boolean_masks_mean_true_may_attend():
    torch.manual_seed(0)
    attention = SelfAttention(8, num_heads=2).eval()
    x = torch.randn(1, 4, 8)
    only_first = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    only_first[..., 0] = True
    ys, (k, v) = attention(x, only_first)
    value_0 = v[:, :, :1].transpose(1, 2).reshape(1, 1, 8)  # every query reads key 0's value only
    torch.testing.assert_close(ys, attention.out(value_0).expand(1, 4, 8))


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_causal_outputs_never_depend_on_later_inputs(positions):
    torch.manual_seed(0)
    layer = Transformer(16, num_layers=2, num_heads=4, max_len=12, causal=True, positions=positions).eval()
    x = torch.randn(2, 9, 16)
    changed = x.clone()
    changed[:, 5:] = torch.randn(2, 4, 16) * 10
    a, _ = layer(x)
    b, _ = layer(changed)
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5:], b[:, 5:])


@pytest.mark.parametrize("causal", [False, True])
def test_padding_changes_no_valid_output(causal):
    torch.manual_seed(0)
    layer = Transformer(16, num_layers=2, num_heads=2, max_len=20, causal=causal).eval()
    x = torch.randn(3, 6, 16)
    lengths = torch.tensor([6, 2, 4])
    padded = torch.cat([x, 1e3 * torch.randn(3, 5, 16)], dim=1)
    ys, _ = layer(x, lengths)
    ys_padded, _ = layer(padded, lengths)
    torch.testing.assert_close(ys, ys_padded[:, :6])
    assert torch.all(ys_padded[1, 2:] == 0) and torch.all(ys_padded[2, 4:] == 0)
    alone, _ = layer(x[1:2, :2])  # the short row on its own
    torch.testing.assert_close(ys[1:2, :2], alone)


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    layer = Transformer(8, num_layers=1, num_heads=2, max_len=6, causal=True).double()
    x = torch.randn(2, 4, 8, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([4, 3])
    assert torch.autograd.gradcheck(lambda inputs: layer(inputs, lengths)[0], (x,))


def test_bad_inputs_are_clear_errors():
    layer = Transformer(16, num_layers=1, num_heads=4, max_len=8, causal=True)
    with pytest.raises(ValueError, match="max_len"):
        layer(torch.randn(1, 9, 16))
    with pytest.raises(ValueError, match="d_model = 16"):
        layer(torch.randn(1, 3, 12))
    with pytest.raises(ValueError, match="multiple of num_heads"):
        Transformer(10, num_heads=4)
    with pytest.raises(ValueError, match="causal"):
        Transformer(16, num_heads=4)(torch.randn(1, 2, 16), cache=[(torch.zeros(1, 4, 1, 4),) * 2])
    with pytest.raises(ValueError, match="carries no state"):
        _lm()(torch.randint(0, 30, (1, 4)), state=torch.zeros(1))


# -- the language model and its cache -----------------------------------------------------------------
def test_cached_steps_equal_full_recomputation():
    model = _lm()
    ids = torch.randint(0, 30, (2, 12))
    full, _ = model(ids)
    logits, state = model.step(ids[:, :5])  # a prompt, then one token at a time
    steps = [logits]
    for t in range(5, 12):
        logits, state = model.step(ids[:, t : t + 1], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full[:, 4:], atol=1e-5, rtol=1e-5)


def test_generation_past_the_context_rereads_the_last_half():
    model = _lm(max_len=8)
    ids = torch.randint(0, 30, (1, 11))
    _, state = model.step(ids[:, :8])
    logits, state = model.step(ids[:, 8:9], state)  # 9 tokens > max_len: the last 4 are read afresh
    expected, _ = model(ids[:, 5:9])
    torch.testing.assert_close(logits, expected[:, -1], atol=1e-5, rtol=1e-5)
    logits, state = model.step(ids[:, 9:10], state)  # and the cache goes on from there
    expected, _ = model(ids[:, 5:10])
    torch.testing.assert_close(logits, expected[:, -1], atol=1e-5, rtol=1e-5)


def test_greedy_generation_with_the_cache_equals_recomputing_each_step():
    model = _lm(max_len=32)
    prompt = [3, 1, 4, 1, 5]
    cached = list(lm.generate_ids(model, prompt, max_tokens=12, temperature=0))
    ids = list(prompt)
    for _ in range(12):
        logits, _ = model(torch.tensor([ids]))
        scores = logits[0, -1].clone()
        scores[0] = float("-inf")  # generate_ids never emits <unk>
        ids.append(int(scores.argmax()))
    assert cached == ids[len(prompt):]


def test_language_model_overfits_a_short_text():
    text = "the quick brown fox jumps over the lazy dog. " * 8
    tok = CharTokenizer.fit([text])
    data = lm.stream_batches([torch.tensor(tok.encode(text).ids)], batch_size=4, bptt=32, what="training")
    torch.manual_seed(0)
    model = TransformerLanguageModel(TransformerLanguageModelConfig(vocab_size=tok.vocab_size, d_model=64, num_layers=2, max_len=32))
    history = fit(model, data, TrainConfig(epochs=300, max_steps=300, lr=3e-3, clip_norm=1.0, progress=False, device="cpu"),
                  loss_fn=model_loss(masked_cross_entropy))
    assert sum(history.step_losses[-10:]) / 10 < 0.3, history.step_losses[-10:]


# -- classifier and forecaster -----------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_classifier_padding_never_changes_a_prediction(pooling):
    torch.manual_seed(0)
    model = TransformerClassifier(TransformerClassifierConfig(num_classes=3, input_size=4, d_model=16, pooling=pooling)).eval()
    x = torch.randn(3, 6, 4)
    lengths = torch.tensor([6, 2, 4])
    padded = torch.cat([x, 1e3 * torch.randn(3, 5, 4)], dim=1)
    torch.testing.assert_close(model(x, lengths), model(padded, lengths))
    torch.testing.assert_close(model(x, lengths)[1:2], model(x[1:2, :2]))


def test_classifier_learns_which_token_comes_first():
    torch.manual_seed(0)
    ids = torch.randint(3, 10, (64, 8))
    labels = torch.randint(0, 2, (64,))
    ids[:, 0] = labels + 1  # the class is the first token: order matters, a bag of tokens cannot tell
    ids[:, 1:][ids[:, 1:] <= 2] = 3
    model = TransformerClassifier(TransformerClassifierConfig(num_classes=2, vocab_size=10, d_model=32, dropout=0.0,
                                                              positions="learned", max_len=8))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(ids), labels)
        loss.backward()
        optimizer.step()
    assert (model.eval()(ids).argmax(1) == labels).float().mean() == 1.0


def test_forecaster_never_reads_the_future_targets_and_fits_a_sine():
    torch.manual_seed(0)
    config = TransformerForecasterConfig(num_features=2, num_targets=1, lookback=24, horizon=6, num_known=1, d_model=32, dropout=0.0)
    model = TransformerForecaster(config)
    t = torch.arange(30).float()
    phases = torch.rand(64, 1) * 6.28
    series = torch.sin(t * 0.5 + phases)  # (64, 30)
    known = torch.cos(t * 0.1 + phases)
    inputs = torch.stack([series, known], dim=-1).clone()
    targets = inputs[:, 24:, :1].clone()
    inputs[:, 24:, 0] = 0.0  # the data layer's layout: the future's targets are zeroed
    leaked = inputs.clone()
    leaked[:, 24:, 0] = 5.0  # a value there changes nothing: the model zeroes it again
    torch.testing.assert_close(model.eval()(inputs), model(leaked))
    optimizer = torch.optim.Adam(model.train().parameters(), lr=3e-3)
    for _ in range(200):
        optimizer.zero_grad()
        loss = model.loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.01


# -- the command line --------------------------------------------------------------------------------
FAST = ["--max-steps", "20", "--batch-size", "4", "--bptt", "16", "--eval-every", "10", "--no-progress", "--device", "cpu",
        "--d-model", "32", "--num-layers", "1"]


def test_lm_train_generate_evaluate_resume(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("it was the best of times, it was the worst of times.\n" * 30, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["lm", "train", "--model", "transformer", "--data", str(corpus), "--out", str(run), *FAST]) == 0
    saved = json.loads((run / "run.json").read_text())
    assert saved["model"]["class"].endswith("TransformerLanguageModel")
    assert saved["model"]["config"]["max_len"] == 16 and saved["model"]["config"]["d_model"] == 32
    capsys.readouterr()
    assert main(["lm", "generate", str(run), "--prompt", "it was", "--max-tokens", "40", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith("it was")
    assert main(["lm", "evaluate", str(run), "--data", str(corpus), "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] > 0
    assert main(["lm", "train", "--resume", str(run), "--max-steps", "30", "--no-progress", "--device", "cpu"]) == 0


def test_options_the_chosen_model_lacks_are_refused(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abc " * 200, encoding="utf-8")
    assert main(["lm", "train", "--model", "transformer", "--cell", "gru", "--data", str(corpus), "--out", str(tmp_path / "r"), *FAST]) == 1
    assert "--model transformer has no option --cell" in capsys.readouterr().err
    assert main(["lm", "train", "--data", str(corpus), "--out", str(tmp_path / "r2"), "--d-model", "32", "--max-steps", "2"]) == 1
    assert "--model rnn has no option --d-model" in capsys.readouterr().err


def test_classify_and_forecast_take_the_transformer(tmp_path, capsys):
    texts = tmp_path / "train.tsv"
    rows = [f"pos\t{w} film" for w in ("great", "wonderful", "lovely")] + [f"neg\t{w} film" for w in ("dull", "boring", "awful")]
    texts.write_text("label\ttext\n" + "\n".join(rows * 6) + "\n", encoding="utf-8")
    run = tmp_path / "classify"
    args = ["--epochs", "2", "--batch-size", "8", "--no-progress", "--device", "cpu", "--d-model", "16"]
    assert main(["classify", "train", "--model", "transformer", "--data", str(texts), "--out", str(run), *args]) == 0
    assert main(["classify", "evaluate", str(run), "--data", str(texts), "--json"]) == 0
    assert "accuracy" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["classify", "train", "--model", "transformer", "--pretrain-epochs", "1", "--data", str(texts),
                 "--out", str(tmp_path / "c2"), *args]) == 1
    assert "needs --model rnn" in capsys.readouterr().err

    table = tmp_path / "demand.csv"
    assert main(["forecast", "example", str(table), "--days", "40"]) == 0
    run = tmp_path / "forecast"
    assert main(["forecast", "train", "--data", str(table), "--time-column", "time", "--target", "demand", "--calendar",
                 "--model", "transformer", "--d-model", "16", "--lookback", "48", "--horizon", "12", "--epochs", "1",
                 "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((run / "run.json").read_text())["model"]["class"].endswith("TransformerForecaster")
    capsys.readouterr()
    assert main(["forecast", "predict", str(run), "--data", str(table)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 13  # a header and the horizon's rows


def test_sinusoidal_inputs_are_scaled_and_runs_saved_before_the_field_are_not():
    from rnnkit.models.choice import model_from_description
    from rnnkit.tasks.classify import CLASSIFIERS

    config = TransformerClassifierConfig(num_classes=2, vocab_size=30, d_model=16, num_heads=2)
    model = TransformerClassifier(config)
    assert model.encoder.input_scale == 4.0  # sqrt(d_model): embeddings comparable with the positions
    assert TransformerClassifier(replace(config, positions="learned")).encoder.input_scale == 1.0
    saved = {k: v for k, v in asdict(config).items() if k != "scale_inputs"}  # a run.json from before the field
    old = model_from_description(CLASSIFIERS, {"class": "rnnkit.models.transformer.TransformerClassifier", "config": saved})
    assert old.encoder.input_scale == 1.0 and old.config.scale_inputs is False
    x = torch.randn(2, 5, 16)
    layer = model.encoder.eval()
    scaled = layer(x)[0]
    layer.input_scale = 1.0
    torch.testing.assert_close(layer(4.0 * x)[0], scaled)

"""`rnnkit export` and rnnkit.runtime: ONNX graphs with symbolic batch and time, onnxruntime equal to
the eager model at shapes the trace never saw (mixed lengths, bidirectional, stacked), the step
graph's roll-out equal to whole sequences, greedy text from the runtime equal to rnnkit's, and the
runtime working without torch."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
onnx = pytest.importorskip("onnx")

from rnnkit import runtime  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.export.masked import MaskedRecurrent, whole_sequence_blocker  # noqa: E402
from rnnkit.layers import GRU, LSTM, RNN, LayerNormLSTM  # noqa: E402

CPU = ["--no-progress", "--device", "cpu"]


@pytest.mark.parametrize("layer_class", [LSTM, GRU])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_masked_layer_equals_the_packed_layer(layer_class, bidirectional):
    torch.manual_seed(0)
    layer = layer_class(5, 7, num_layers=2, bidirectional=bidirectional).eval()
    x, lengths = torch.randn(4, 9, 5), torch.tensor([9, 3, 6, 1])
    state = layer.init_state(4)
    state = type(state)(*(torch.randn_like(s) for s in state)) if isinstance(state, tuple) else torch.randn_like(state)
    with torch.no_grad():
        want_ys, want_state = layer(x, state, lengths=lengths)
        got_ys, got_state = MaskedRecurrent(layer)(x, state, lengths=lengths)
    torch.testing.assert_close(got_ys, want_ys)
    h_want = want_state[0] if isinstance(want_state, tuple) else want_state
    h_got = got_state[0] if isinstance(got_state, tuple) else got_state
    torch.testing.assert_close(h_got, h_want)  # h is exact at every length (an LSTM's c only for full rows)


def test_cells_without_a_fused_kernel_are_refused_for_whole_sequences():
    assert "loop kernel" in whole_sequence_blocker(LayerNormLSTM(3, 4))
    assert "zoneout" in whole_sequence_blocker(LSTM(3, 4, zoneout=0.1))
    assert whole_sequence_blocker(LSTM(3, 4, recurrent_dropout=0.2).eval()) is None  # off in evaluation
    assert "LSTM and GRU operators only" in whole_sequence_blocker(RNN(3, 4))  # the exporter would freeze its time axis
    with pytest.raises(ValueError, match="loop kernel"):
        MaskedRecurrent(GRU(3, 4, kernel="loop"))


@pytest.fixture(scope="module")
def lm_export(tmp_path_factory):
    run = tmp_path_factory.mktemp("lm") / "run"
    assert main(["lm", "train", "--preset", "tiny", "--max-steps", "30", "--hidden-size", "32", "--embedding-size", "16",
                 "--out", str(run), *CPU]) == 0
    assert main(["export", str(run)]) == 0
    return run


def test_lm_export_has_symbolic_axes_and_a_spec_that_matches_the_files(lm_export):
    folder = lm_export / "export"
    spec = json.loads((folder / "export.json").read_text())
    assert spec["task"] == "lm" and set(spec["graphs"]) == {"model", "step"}
    assert [leaf["name"] for leaf in spec["state"]] == ["h", "c"]
    for entry in spec["graphs"].values():
        model = onnx.load(str(folder / entry["file"]))
        assert not any(p.key == "" for p in model.metadata_props)
        assert {p.key: p.value for p in model.metadata_props}["rnnkit_task"] == "lm"
        declared = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                    for v in list(model.graph.input) + list(model.graph.output)}
        assert declared == {p["name"]: p["shape"] for p in entry["inputs"] + entry["outputs"]}
        assert all(d == "batch" for p in entry["inputs"] for d in p["shape"][1:2] if p["name"].startswith("state"))
    assert spec["graphs"]["model"]["inputs"][0]["shape"] == ["batch", "time"]
    assert spec["graphs"]["model"]["outputs"][0]["shape"][:2] == ["batch", "time"]  # not frozen at the example's length
    assert spec["graphs"]["step"]["parity"]["rollout_max_abs_diff"] < 1e-4


def test_runtime_greedy_text_equals_rnnkit_generate(lm_export):
    from rnnkit.tasks.lm import generate

    expected = "".join(generate(lm_export, "The ", max_tokens=40, temperature=0.0, device_name="cpu"))
    lm = runtime.load(lm_export / "export")
    assert len(expected) >= 20 and lm.generate("The ", max_tokens=40, temperature=0) == expected
    sampled = lm.generate("The ", max_tokens=40, temperature=0.8, seed=3)
    assert sampled == lm.generate("The ", max_tokens=40, temperature=0.8, seed=3) and sampled != expected


def test_runtime_step_with_keep_reads_prompts_of_different_lengths_exactly(lm_export):
    lm = runtime.load(lm_export / "export")
    prompts = [[5, 9, 3, 7, 2], [4, 8]]
    state = lm.initial_state(2)
    for t in range(5):
        keep = np.array([t < len(p) for p in prompts])
        tokens = np.array([p[t] if t < len(p) else 0 for p in prompts])
        _, state = lm.step(tokens, state, keep)
    for row, prompt in enumerate(prompts):
        _, alone = lm.logits(np.array([prompt]))
        for name in state:
            np.testing.assert_allclose(state[name][:, row], alone[name][:, 0], rtol=1e-4, atol=1e-5)


def test_runtime_refuses_bad_token_ids(lm_export):
    lm = runtime.load(lm_export / "export")
    with pytest.raises(ValueError, match="ids run from 0 to"):
        lm.logits(np.array([[1, 10_000]]))
    with pytest.raises(ValueError, match="integer token ids"):
        lm.step(np.array([0.5]))


def test_runtime_imports_no_torch(lm_export):
    code = ("import sys; from rnnkit import runtime; lm = runtime.load(sys.argv[1]); text = lm.generate('The ', 10, temperature=0); "
            "assert 'torch' not in sys.modules, 'torch was imported'; print(repr(text))")
    result = subprocess.run([sys.executable, "-c", code, str(lm_export / "export")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(eval(result.stdout)) > 0


@pytest.mark.parametrize("cell, why, leaves", [("lnlstm", "loop kernel", {"h", "c"}), ("rnn", "LSTM and GRU operators only", {"h"})])
def test_lm_without_a_whole_sequence_graph_exports_the_step_graph(tmp_path, cell, why, leaves):
    run = tmp_path / "run"
    assert main(["lm", "train", "--preset", "tiny", "--max-steps", "3", "--cell", cell, "--hidden-size", "16",
                 "--embedding-size", "8", "--out", str(run), *CPU]) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "out")]) == 0
    spec = json.loads((tmp_path / "out" / "export.json").read_text())
    assert set(spec["graphs"]) == {"step"} and why in spec["whole_sequence"]
    lm = runtime.load(tmp_path / "out")
    logits, state = lm.logits(np.array([[3, 4, 5]]))  # one step at a time through step.onnx
    assert logits.shape[:2] == (1, 3) and set(state) == leaves
    from rnnkit.tasks.lm import generate

    assert lm.generate("ab", max_tokens=8, temperature=0) == "".join(generate(run, "ab", max_tokens=8, temperature=0.0, device_name="cpu"))


TEXTS = ["a wonderful film", "great acting and a great story", "i loved it", "a dull film", "terrible acting", "i hated it"]


@pytest.mark.parametrize("flags", [["--cell", "gru", "--bidirectional", "--num-layers", "2", "--pooling", "last"],
                                   ["--cell", "lstm", "--bidirectional", "--pooling", "attention"]])
def test_classifier_export_matches_rnnkit_predict(tmp_path, flags, capsys):
    train = tmp_path / "train.tsv"
    train.write_text("text\tlabel\n" + "".join(f"{t}\t{'pos' if i < 3 else 'neg'}\n" for i, t in enumerate(TEXTS * 4)))
    run = tmp_path / "run"
    assert main(["classify", "train", "--data", str(train), "--out", str(run), *flags, "--epochs", "2", "--hidden-size", "8",
                 "--embedding-size", "8", *CPU]) == 0
    assert main(["export", str(run)]) == 0
    spec = json.loads((run / "export" / "export.json").read_text())
    assert spec["graphs"]["model"]["inputs"][0]["shape"] == ["batch", "time"]
    clf = runtime.load(run / "export")
    queries = ["great story", "a dull , terrible film that i hated", "wonderful"]
    labels, probabilities = clf.predict(queries)
    from rnnkit.tasks.classify import predict

    names, want = predict(run, None, stdin="\n".join(queries), device_name="cpu")
    np.testing.assert_allclose(probabilities, want.numpy(), rtol=1e-4, atol=1e-5)
    assert clf.labels == names and labels == [names[i] for i in want.argmax(1)]
    with pytest.raises(ValueError, match="no tokens"):
        clf.predict([""])


def test_numeric_classifier_and_forecaster_exports(tmp_path):
    g = np.random.default_rng(0)
    lines = ["@classLabel true up down", "@data"]
    for i in range(16):
        ramp = np.linspace(0, 1, 6 + i % 5) * (1 if i % 2 else -1) + 0.05 * g.standard_normal(6 + i % 5)
        lines.append(",".join(f"{v:.4f}" for v in ramp) + (":up" if i % 2 else ":down"))
    (tmp_path / "series.ts").write_text("\n".join(lines) + "\n")
    run = tmp_path / "numeric"
    assert main(["classify", "train", "--data", str(tmp_path / "series.ts"), "--out", str(run), "--epochs", "2",
                 "--hidden-size", "8", "--embedding-size", "8", *CPU]) == 0
    assert main(["export", str(run)]) == 0
    clf = runtime.load(run / "export")
    series = [np.linspace(0, 1, 7), np.linspace(1, 0, 4)]
    _, probabilities = clf.predict(series)
    from rnnkit.tasks.classify import load_run

    model, encoder, _, _ = load_run(run)
    with torch.no_grad():
        for row, s in enumerate(series):
            x = encoder.series([torch.tensor(s, dtype=torch.float32).unsqueeze(1)])[0].unsqueeze(0)
            want = torch.softmax(model(x, torch.tensor([len(s)])), dim=1)[0].numpy()
            np.testing.assert_allclose(probabilities[row], want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        clf.predict([np.array([0.1, np.nan, 0.3])])

    assert main(["forecast", "example", str(tmp_path / "demand.csv")]) == 0
    run = tmp_path / "forecast"
    assert main(["forecast", "train", "--data", str(tmp_path / "demand.csv"), "--time-column", "time", "--target", "demand",
                 "--lookback", "24", "--horizon", "6", "--epochs", "1", "--hidden-size", "8", "--stride", "8", "--loss", "gaussian",
                 "--out", str(run), *CPU]) == 0
    assert main(["export", str(run)]) == 0
    from rnnkit.tasks.forecast.inference import predict

    want = predict(run, str(tmp_path / "demand.csv"), device_name="cpu")
    history = np.loadtxt(tmp_path / "demand.csv", delimiter=",", skiprows=1, usecols=[1], max_rows=None)
    got = runtime.load(run / "export").forecast(history)
    np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["upper"], want["upper"], rtol=1e-4, atol=1e-4)


def test_export_errors_say_what_is_wrong(tmp_path, lm_export, capsys):
    assert main(["export", str(tmp_path / "missing")]) == 1
    assert "run.json" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["export", str(lm_export), "--out", str(tmp_path / "taken")]) == 1
    assert "not an rnnkit export" in capsys.readouterr().err
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="no export.json"):
        runtime.load(tmp_path)


def test_transformer_models_export(tmp_path):
    run = tmp_path / "lm"
    assert main(["lm", "train", "--preset", "tiny", "--model", "transformer", "--max-steps", "3", "--d-model", "16", "--num-heads", "2",
                 "--out", str(run), *CPU]) == 0
    assert main(["export", str(run)]) == 0
    spec = json.loads((run / "export" / "export.json").read_text())
    assert set(spec["graphs"]) == {"model"} and spec["state"] == []
    from rnnkit.tasks.lm import generate

    lm = runtime.load(run / "export")
    assert lm.generate("ab", max_tokens=12, temperature=0) == "".join(generate(run, "ab", max_tokens=12, temperature=0.0, device_name="cpu"))
    with pytest.raises(ValueError, match="no step graph"):
        lm.step([1])

    train = tmp_path / "train.tsv"
    train.write_text("text\tlabel\n" + "good film\tpos\nbad film\tneg\n" * 6)
    run = tmp_path / "classify"
    assert main(["classify", "train", "--data", str(train), "--out", str(run), "--model", "transformer", "--d-model", "16",
                 "--num-heads", "2", "--epochs", "1", *CPU]) == 0
    assert main(["export", str(run)]) == 0
    labels, probabilities = runtime.load(run / "export").predict(["good film", "bad"])
    assert len(labels) == 2 and probabilities.shape == (2, 2)


@pytest.mark.parametrize("flags", [["--attention", "additive", "--cell", "gru"], ["--attention", "general", "--cell", "lstm"]])
def test_translation_export_decodes_like_rnnkit(tmp_path, flags):
    assert main(["translate", "example", str(tmp_path / "numbers"), "--limit", "300"]) == 0
    numbers, run = tmp_path / "numbers", tmp_path / "run"
    assert main(["translate", "train", "--src", str(numbers / "train.de"), "--tgt", str(numbers / "train.en"), *flags,
                 "--tokenizer", "char", "--epochs", "8", "--hidden-size", "32", "--embedding-size", "16", "--out", str(run), *CPU]) == 0
    assert main(["export", str(run)]) == 0
    spec = json.loads((run / "export" / "export.json").read_text())
    assert set(spec["graphs"]) == {"encoder", "decoder_step"}
    assert spec["graphs"]["encoder"]["inputs"][0]["shape"] == ["batch", "source"]
    from rnnkit.tasks.translate import run as translate

    texts = (numbers / "train.de").read_text().splitlines()[:16]
    translator = runtime.load(run / "export")
    got = translator.translate(texts)
    assert got == translate(run, texts, beam_size=1, device_name="cpu")
    assert len(set(got)) > 4  # trained enough to say different things
    for beam, alpha in ((4, 1.0), (3, 0.0)):
        assert translator.translate(texts, beam, alpha) == translate(run, texts, beam_size=beam, length_penalty=alpha, device_name="cpu")
    with pytest.raises(ValueError, match="empty"):
        runtime.load(run / "export").translate([""])


@pytest.mark.parametrize("flags", [[], ["--cell", "lstm", "--no-bidirectional", "--features", "mfcc", "--utterance-norm", "--conv-layers", "1"]],
                         ids=["bigru-logmel", "lstm-mfcc-cmn-conv"])
def test_speech_export_transcribes_like_rnnkit(tmp_path, flags, capsys):
    from rnnkit.tasks.speech.recognize import Decoding, transcribe

    tones = tmp_path / "tones"
    assert main(["speech", "example", str(tones), "--train", "24", "--val", "4", "--test", "6"]) == 0
    run = tmp_path / "run"
    assert main(["speech", "train", "--train", str(tones / "train.jsonl"), "--val", str(tones / "val.jsonl"), "--hidden-size", "32",
                 "--num-layers", "1", "--epochs", "3", "--batch-size", "8", "--out", str(run), *flags, *CPU]) == 0
    assert main(["export", str(run)]) == 0
    capsys.readouterr()
    spec = json.loads((run / "export" / "export.json").read_text())
    assert spec["task"] == "speech" and set(spec["graphs"]) == {"features", "model"}
    for file, first in (("model.onnx", ["batch", "steps"]), ("features.onnx", ["frames"])):
        graph = onnx.load(str(run / "export" / file)).graph
        axes = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.input]
        assert axes[0][: len(first)] == first, (file, axes)

    clips = sorted(str(p) for p in (tones / "wav").glob("test-*.wav"))
    assert clips
    expected = [t.text for t in transcribe(run, clips, Decoding(), device_name="cpu")]
    asr = runtime.load(run / "export")
    assert asr.transcribe(clips) == expected
    # log-probabilities too, not only their argmax
    from rnnkit.tasks.speech.recognize import Recognizer, log_probs_of, utterances_of

    recognizer = Recognizer.load(run, "cpu")
    data = recognizer.load_audio(utterances_of(clips[:3]), "clips")
    for got, want in zip(asr.log_probs(clips[:3]), log_probs_of(recognizer.model, data.features, "cpu")):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="Hz; this model reads"):
        from rnnkit.data.audio import write_wav

        write_wav(tmp_path / "fast.wav", np.zeros(4000), 44100)
        asr.transcribe([str(tmp_path / "fast.wav")])
    with pytest.raises(ValueError, match="at least"):
        asr.transcribe([np.zeros(10, dtype=np.float32)])

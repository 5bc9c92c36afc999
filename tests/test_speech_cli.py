"""`rnnkit speech` end to end on the generated touch-tone example: train -> evaluate -> transcribe
(txt, json, srt, plot) -> stream -> lm; streaming equals offline greedy decoding token for token at
several chunk sizes; an exact resume; and every bad input a clear error."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.data.dtmf import dtmf_utterance
from rnnkit.data.features import FeatureConfig, FeatureExtractor, subtract_mean
from rnnkit.data.series import Standardizer
from rnnkit.data.speech import TextNormalizer, Units
from rnnkit.models.ctc import collapse
from rnnkit.models.recognizer import SpeechRecognizer, SpeechRecognizerConfig
from rnnkit.tasks.speech import Recognizer, StreamingRecognizer
from rnnkit.tasks.speech.recognize import log_probs_of


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    assert main(["speech", "example", str(root / "tones"), "--train", "48", "--val", "8", "--test", "8"]) == 0
    return root


def train_args(root, out, *extra):
    return ["speech", "train", "--train", str(root / "tones" / "train.jsonl"), "--val", str(root / "tones" / "val.jsonl"),
            "--hidden-size", "32", "--num-layers", "1", "--epochs", "2", "--batch-size", "8", "--no-progress", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def run(example):
    out = example / "run"
    assert main(train_args(example, out, "--no-bidirectional", "--lm-order", "3", "--test", str(example / "tones" / "test.jsonl"))) == 0
    return out


def test_train_writes_a_complete_run(run):
    config = json.loads((run / "run.json").read_text())
    assert config["task"] == "speech" and config["model"]["config"]["sample_rate"] == 8000
    assert config["model"]["config"]["bidirectional"] is False and config["training"]["monitor"] == "val_cer"
    for name in ("speech.json", "units.json", "scaler.json", "lm.json", "best/model.safetensors", "plots/loss.png"):
        assert (run / name).is_file(), name
    assert "0" in json.loads((run / "units.json").read_text())["symbols"]


def test_evaluate_prints_one_json_object(run, example, capsys):
    capsys.readouterr()
    predictions = example / "pred.jsonl"
    assert main(["speech", "evaluate", str(run), "--data", str(example / "tones" / "test.jsonl"), "--json",
                 "--beam", "4", "--lm-weight", "0.3", "--predictions", str(predictions)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"wer", "cer", "ser", "words", "chars", "sentences", "real_time_factor", "timed_words"} <= set(metrics)
    assert metrics["sentences"] == 8 and metrics["beam"] == 4
    records = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(records) == 8 and all({"reference", "hypothesis"} <= set(r) for r in records)


def test_transcribe_formats(run, example, capsys, tmp_path):
    wav = str(example / "tones" / "wav" / "test-0000.wav")
    capsys.readouterr()
    assert main(["speech", "transcribe", str(run), wav, "--format", "json", "--timestamps", "--plot", str(tmp_path / "p.png")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["audio"] == wav and "words" in record and (tmp_path / "p.png").is_file()
    assert main(["speech", "transcribe", str(run), str(example / "tones" / "test.jsonl"), "--format", "srt",
                 "--output-dir", str(tmp_path / "subs")]) == 0
    assert len(list((tmp_path / "subs").glob("*.srt"))) == 8
    assert main(["speech", "transcribe", str(run), str(example / "tones" / "test.jsonl")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and all(line.split("\t")[0].endswith(".wav") for line in lines)


def test_stream_equals_transcribe(run, example, capsys):
    wav = str(example / "tones" / "wav" / "test-0001.wav")
    capsys.readouterr()
    assert main(["speech", "transcribe", str(run), wav]) == 0
    offline = capsys.readouterr().out
    assert main(["speech", "stream", str(run), wav, "--chunk-ms", "30"]) == 0
    assert capsys.readouterr().out == offline
    assert main(["speech", "stream", str(run), wav, "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["final"] and events[-1]["text"] == offline.strip()


def random_recognizer(stack: int, samples: torch.Tensor) -> Recognizer:
    """An untrained streamable recognizer: its random outputs emit many tokens, a strong check."""
    features = FeatureConfig(sample_rate=8000, n_mels=20)
    model = SpeechRecognizer(SpeechRecognizerConfig(input_size=20, num_units=6, sample_rate=8000, stack=stack, hidden_size=16,
                                                    bidirectional=False, cell="lstm")).eval()
    with torch.no_grad():
        model.output.weight.mul_(40.0)  # sharp, input-dependent outputs
    scaler = Standardizer.fit([FeatureExtractor(features)(samples)])
    return Recognizer(model, Units("char", list("ab cd")), features, scaler, TextNormalizer(), None, torch.device("cpu"))


@pytest.mark.parametrize("stack", [1, 3])
@pytest.mark.parametrize("chunk", [7, 80, 333, 4000])
def test_streaming_equals_offline_greedy_token_for_token(stack, chunk):
    samples = torch.tensor(dtmf_utterance(np.random.default_rng(stack), max_keys=6)[0], dtype=torch.float32)
    recognizer = random_recognizer(stack, samples)
    offline = collapse(log_probs_of(recognizer.model, [recognizer.scaler(recognizer.extractor(samples))], "cpu")[0].argmax(-1).tolist())
    assert len(offline) >= 4  # enough tokens (and repeats across chunks) to make the comparison bite
    stream = StreamingRecognizer(recognizer)
    for start in range(0, len(samples), chunk):
        stream.push(samples[start : start + chunk])
    stream.finish()
    assert stream.tokens == offline


def test_resume_continues_exactly(example):
    straight, halves = example / "straight", example / "halves"
    constant = ("--schedule", "constant", "--warmup-steps", "0")  # the same learning rate whatever the epochs
    assert main(train_args(example, straight, *constant)) == 0
    assert main(train_args(example, halves, *constant, "--epochs", "1")) == 0
    assert main(["speech", "train", "--resume", str(halves), "--epochs", "2", "--no-progress"]) == 0
    a, b = load_file(str(straight / "last" / "model.safetensors")), load_file(str(halves / "last" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_lm_verb_writes_a_model(run, example, capsys):
    assert main(["speech", "lm", str(run), "--text", str(example / "tones" / "train.jsonl"), "--order", "2"]) == 0
    assert json.loads((run / "lm.json").read_text())["order"] == 2
    assert "training perplexity" in capsys.readouterr().out


def test_bad_inputs_are_clear_errors(example, run, capsys, tmp_path):
    capsys.readouterr()
    assert main(["speech", "train", "--out", str(tmp_path / "x")]) == 1
    assert "--train MANIFEST is required" in capsys.readouterr().err
    assert main(train_args(example, tmp_path / "y", "--stack", "40")) == 1  # 400 ms per output frame
    assert "too short for their transcript under CTC" in capsys.readouterr().err
    bidirectional = tmp_path / "bi"
    assert main(train_args(example, bidirectional, "--epochs", "1")) == 0
    capsys.readouterr()
    assert main(["speech", "stream", str(bidirectional), str(example / "tones" / "wav" / "test-0000.wav")]) == 1
    assert "streaming needs a unidirectional model" in capsys.readouterr().err
    assert main(["speech", "transcribe", str(run), str(example / "tones" / "test.jsonl"), "--format", "srt"]) == 1
    assert "need --output-dir" in capsys.readouterr().err
    (tmp_path / "unlabelled.jsonl").write_text(json.dumps({"audio_filepath": str(example / "tones" / "wav" / "test-0000.wav")}) + "\n")
    assert main(["speech", "evaluate", str(run), "--data", str(tmp_path / "unlabelled.jsonl")]) == 1
    assert "needs a transcript" in capsys.readouterr().err
    assert main(["speech", "evaluate", str(bidirectional), "--data", str(example / "tones" / "test.jsonl"), "--lm-weight", "0.5"]) == 1
    assert "needs an n-gram model" in capsys.readouterr().err
    assert main(["speech", "evaluate", str(tmp_path), "--data", str(example / "tones" / "test.jsonl")]) == 1
    assert "not an rnnkit run directory" in capsys.readouterr().err


def test_align_writes_word_times_that_train_on_runs_of_words(run, example, capsys, tmp_path):
    aligned = tmp_path / "aligned.jsonl"
    capsys.readouterr()
    assert main(["speech", "align", str(run), "--data", str(example / "tones" / "train.jsonl"), "--out", str(aligned), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["aligned"] == 48 and summary["left_out"] == 0 and summary["align_score_min"] <= summary["align_score_median"] <= 0
    truth = [json.loads(line) for line in (example / "tones" / "train.jsonl").read_text().splitlines()]
    entries = [json.loads(line) for line in aligned.read_text().splitlines()]
    for entry, true in zip(entries, truth):
        assert entry["text"] == true["text"] and [w["word"] for w in entry["words"]] == true["text"].split()
        starts = [w["start"] for w in entry["words"]]
        assert starts == sorted(starts) and all(0 <= w["start"] < w["end"] <= true["duration"] + 0.05 for w in entry["words"])
    out = tmp_path / "cropped"
    assert main(["speech", "train", "--train", str(aligned), "--val", str(example / "tones" / "val.jsonl"), "--hidden-size", "32",
                 "--num-layers", "1", "--epochs", "1", "--batch-size", "8", "--no-progress", "--crop-words", "0.5", "--out", str(out)]) == 0
    assert "48 of 48 training utterances can be cut between words" in capsys.readouterr().err
    assert json.loads((out / "speech.json").read_text())["data"]["crop_words"] == 0.5


def test_crop_words_without_word_times_and_a_text_out_are_clear_errors(run, example, capsys, tmp_path):
    plain = tmp_path / "plain.jsonl"
    lines = [json.loads(line) for line in (example / "tones" / "train.jsonl").read_text().splitlines()]
    plain.write_text("".join(json.dumps({"audio_filepath": str(example / "tones" / e["audio_filepath"]), "text": e["text"]}) + "\n"
                             for e in lines))
    capsys.readouterr()
    assert main(["speech", "train", "--train", str(plain), "--crop-words", "0.5", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 1
    assert "--crop-words needs word times" in capsys.readouterr().err
    assert main(["speech", "align", str(run), "--data", str(plain), "--out", str(tmp_path / "a.txt")]) == 1
    assert "name it .jsonl" in capsys.readouterr().err


def test_utterance_norm_removes_a_gain_and_refuses_to_stream(example, capsys, tmp_path):
    features = FeatureExtractor(FeatureConfig(sample_rate=8000))
    clip = torch.from_numpy(dtmf_utterance(np.random.default_rng(0), 8000)[0]).float()
    clip = 0.9 * clip / clip.abs().max()
    loud, quiet = subtract_mean(features(clip)), subtract_mean(features(0.25 * clip))
    torch.testing.assert_close(loud, quiet, atol=0.02, rtol=0)  # a gain shifts every log energy (up to the log floor)
    assert (features(clip) - features(0.25 * clip)).abs().min() > 2.0
    out = tmp_path / "cmn"
    assert main(train_args(example, out, "--epochs", "1", "--no-bidirectional", "--utterance-norm")) == 0
    assert json.loads((out / "speech.json").read_text())["data"]["utterance_norm"] is True
    recognizer = Recognizer.load(out, "cpu")
    assert recognizer.utterance_norm
    capsys.readouterr()
    assert main(["speech", "evaluate", str(out), "--data", str(example / "tones" / "test.jsonl"), "--json"]) == 0
    assert "wer" in json.loads(capsys.readouterr().out)
    assert main(["speech", "stream", str(out), str(example / "tones" / "wav" / "test-0000.wav")]) == 1
    assert "cannot use a run trained with --utterance-norm" in capsys.readouterr().err

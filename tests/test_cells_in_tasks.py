"""Every task trains, scores and uses a model with the new cells (`--cell lnlstm|lngru|mingru|minlstm`) and
the recurrent regularisers on tiny generated data; the cell and the regularisers are saved in run.json,
so the later verbs rebuild the same model."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli import main

# one set of regulariser flags per cell, each of them tried somewhere (the min cells have no W_hh)
REGULARISE = {
    "lnlstm": ["--recurrent-dropout", "0.1", "--zoneout", "0.1", "0.05"],
    "lngru": ["--weight-drop", "0.2", "--variational-dropout", "0.1"],
    "mingru": ["--zoneout", "0.1"],
    "minlstm": [],
}


def saved(run) -> dict:
    return json.loads((run / "run.json").read_text())["model"]["config"]


def saved_cell(run) -> str:
    return saved(run)["cell"]


@pytest.mark.parametrize("cell", sorted(REGULARISE))
def test_lm_classify_translate_forecast_speech_clinical_video_with_the_new_cells(cell, tmp_path, capsys):
    extra = REGULARISE[cell]
    text = tmp_path / "corpus.txt"
    text.write_text("the cat sat on the mat and the dog sat on the log. " * 20, encoding="utf-8")
    run = tmp_path / "lm"
    assert main(["lm", "train", "--data", str(text), "--out", str(run), "--cell", cell, *extra, "--max-steps", "6", "--batch-size", "4",
                 "--bptt", "16", "--no-progress", "--device", "cpu"]) == 0
    assert saved_cell(run) == cell
    expected = {"lnlstm": {"recurrent_dropout": 0.1, "zoneout": [0.1, 0.05]}, "lngru": {"weight_drop": 0.2, "variational_dropout": 0.1},
                "mingru": {"zoneout": 0.1}, "minlstm": {}}[cell]
    assert saved(run).get("regularisers", {}) == expected
    assert main(["lm", "generate", str(run), "--prompt", "the", "--max-tokens", "5", "--device", "cpu"]) == 0

    train = tmp_path / "train.tsv"
    train.write_text("text\tlabel\n" + "good film\tpos\nbad film\tneg\n" * 10)
    run = tmp_path / "classify"
    assert main(["classify", "train", "--data", str(train), "--out", str(run), "--cell", cell, *extra, "--epochs", "1",
                 "--no-progress", "--device", "cpu"]) == 0
    assert main(["classify", "evaluate", str(run), "--data", str(train), "--json"]) == 0

    assert main(["translate", "example", str(tmp_path / "numbers"), "--limit", "60"]) == 0
    numbers, run = tmp_path / "numbers", tmp_path / "translate"
    assert main(["translate", "train", "--src", str(numbers / "train.de"), "--tgt", str(numbers / "train.en"), "--cell", cell, *extra,
                 "--tokenizer", "char", "--epochs", "1", "--hidden-size", "8", "--embedding-size", "8", "--out", str(run),
                 "--no-progress", "--device", "cpu"]) == 0
    assert main(["translate", "run", str(run), "neun", "--beam", "2"]) == 0

    assert main(["forecast", "example", str(tmp_path / "demand.csv")]) == 0
    run = tmp_path / "forecast"
    assert main(["forecast", "train", "--data", str(tmp_path / "demand.csv"), "--time-column", "time", "--target", "demand",
                 "--cell", cell, *extra, "--lookback", "24", "--horizon", "6", "--epochs", "1", "--hidden-size", "8", "--stride", "8",
                 "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    assert main(["forecast", "evaluate", str(run), "--json"]) == 0

    assert main(["speech", "example", str(tmp_path / "tones"), "--train", "8", "--val", "4", "--test", "4"]) == 0
    run = tmp_path / "speech"
    assert main(["speech", "train", "--train", str(tmp_path / "tones" / "train.jsonl"), "--val", str(tmp_path / "tones" / "val.jsonl"),
                 "--cell", cell, *extra, "--hidden-size", "16", "--num-layers", "1", "--epochs", "1", "--batch-size", "4",
                 "--no-progress", "--out", str(run)]) == 0
    assert main(["speech", "evaluate", str(run), "--data", str(tmp_path / "tones" / "test.jsonl"), "--json"]) == 0

    assert main(["clinical", "example", str(tmp_path / "ward"), "--stays", "60"]) == 0
    run = tmp_path / "clinical"
    assert main(["clinical", "train", "--records", str(tmp_path / "ward" / "records"), "--outcomes",
                 str(tmp_path / "ward" / "outcomes.csv"), "--label", "died", "--backbone", "simple", "--cell", cell, *extra,
                 "--static-mode", "init", "--hidden-size", "8", "--epochs", "1", "--no-progress", "--out", str(run)]) == 0
    assert saved_cell(run) == cell

    assert main(["video", "example", str(tmp_path / "video"), "--per-class", "3"]) == 0
    run = tmp_path / "video-run"
    assert main(["video", "train", "--data", str(tmp_path / "video" / "poses" / "manifest.csv"), "--cell", cell, *extra,
                 "--hidden-size", "8", "--num-layers", "1", "--epochs", "1", "--out", str(run), "--no-progress"]) == 0
    assert saved_cell(run) == cell
    capsys.readouterr()

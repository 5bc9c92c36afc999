"""The rnnkit command: the demo trains and its loss falls; usage errors exit 2, user errors exit 1."""

import json
import subprocess
import sys

import pytest

from rnnkit.cli import main
from rnnkit.tasks.demo import BASELINE_MSE, DemoConfig, run_demo


def test_demo_lstm_learns_the_adding_problem():
    losses = run_demo(DemoConfig(seq_len=20, steps=400), log=lambda line: None)
    assert sum(losses[-50:]) / 50 < 0.2 * BASELINE_MSE
    assert sum(losses[:50]) / 50 > 0.5 * BASELINE_MSE


def test_demo_command_prints_result(capsys):
    assert main(["demo", "--steps", "5", "--seq-len", "10"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("lstm: final mse")
    assert "step     5" in captured.err


def test_bad_value_is_exit_1_with_message(capsys):
    assert main(["demo", "--steps", "0"]) == 1
    assert "rnnkit: error: --seq-len must be at least 2" in capsys.readouterr().err


def test_unknown_cell_is_usage_error():
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--cell", "transformer"])
    assert exit_info.value.code == 2


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "rnnkit", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("rnnkit ")


def test_report_stop_says_how_to_resume_an_interrupted_run(capsys, tmp_path):
    from rnnkit.cli.common import report_stop

    assert report_stop({"steps": 7, "stop_reason": "interrupted", "best": None}, "best", "best loss", "translate", tmp_path) is True
    out = capsys.readouterr().out
    assert "7 steps (interrupted); best loss none yet" in out and f"rnnkit translate train --resume {tmp_path}" in out
    assert report_stop({"steps": 9, "stop_reason": "completed", "best": 0.5}, "best", "best loss", "forecast", tmp_path) is False
    assert "best loss 0.5000" in capsys.readouterr().out


def test_schedule_weight_decay_and_early_stopping_reach_the_training_configuration(tmp_path, capsys):
    import argparse

    from rnnkit.cli.common import add_training_flags, training_overrides

    parser = argparse.ArgumentParser()
    add_training_flags(parser)
    args = parser.parse_args(["--schedule", "cosine", "--weight-decay", "0.01", "--warmup-steps", "5", "--early-stopping", "3"])
    assert training_overrides(args) == {"schedule": "cosine", "weight_decay": 0.01, "warmup_steps": 5, "early_stopping": 3, "device": "auto"}
    train = tmp_path / "train.tsv"
    train.write_text("text\tlabel\n" + "good film\tpos\nbad film\tneg\n" * 10)
    run = tmp_path / "run"
    assert main(["classify", "train", "--data", str(train), "--out", str(run), "--epochs", "2", "--no-progress", "--device", "cpu",
                 "--schedule", "cosine", "--weight-decay", "0.01"]) == 0
    saved = json.loads((run / "run.json").read_text())["training"]
    assert saved["schedule"] == "cosine" and saved["weight_decay"] == 0.01

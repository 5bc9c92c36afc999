"""Frame prediction and anomaly scores: the regularity score, frame labels, the ConvLSTM frame
predictor, and `rnnkit video train --objective predict` + `detect` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.clips import read_frame_labels
from rnnkit.models.frame_predictor import FramePredictor, FramePredictorConfig
from rnnkit.tasks.video.detect import detect
from rnnkit.training.anomaly import regularity


def test_regularity_is_one_at_the_best_frame_and_ignores_nan():
    s = regularity([np.nan, 1.0, 3.0, 2.0])
    assert np.isnan(s[0])
    np.testing.assert_allclose(s[1:], [1.0, 1 - 2 / 3, 1 - 1 / 3])
    assert np.isnan(regularity([np.nan])).all() and (regularity([np.nan, 0.0, 0.0])[1:] == 1).all()


def test_frame_labels_parse_spans_and_reject_bad_ones(tmp_path):
    (tmp_path / "m.csv").write_text("path,anomalous_frames\na.gif,3-5;8-9\nb.gif,\n")
    assert read_frame_labels(tmp_path / "m.csv") == {"a.gif": [(3, 5), (8, 9)], "b.gif": []}
    (tmp_path / "m.csv").write_text("path,anomalous_frames\na.gif,5-3\n")
    with pytest.raises(ValueError, match="line 2: anomalous_frames must be spans start-end"):
        read_frame_labels(tmp_path / "m.csv")
    with pytest.raises(ValueError, match="no frames column"):
        read_frame_labels(tmp_path / "m.csv", "frames")


def dot_clips(count: int, steps: int = 10, jump_at: int | None = None) -> torch.Tensor:
    """A 4x4 square moving one pixel right per frame from random rows and columns; optionally jumping."""
    rng = np.random.default_rng(count)
    clips = torch.zeros(count, steps, 1, 16, 16)
    for b in range(count):
        row, col = int(rng.integers(0, 12)), int(rng.integers(0, 3))
        for t in range(steps):
            c = col + t + (5 if jump_at is not None and t >= jump_at else 0)
            clips[b, t, 0, row: row + 4, c % 13: c % 13 + 4] = 1.0
    return clips


def test_predictor_errors_have_the_clip_layout_and_respect_lengths():
    model = FramePredictor(FramePredictorConfig(hidden_channels=4, stem_channels=4)).eval()
    clips = torch.rand(2, 6, 1, 8, 8)
    errors = model.errors(clips, torch.tensor([6, 3]))
    assert errors.shape == (2, 6) and torch.isnan(errors[:, 0]).all() and torch.isnan(errors[1, 3:]).all()
    assert not torch.isnan(errors[0, 1:]).any()
    torch.testing.assert_close(errors[1, 1:3], model.errors(clips[1:, :3])[0, 1:])
    with pytest.raises(ValueError, match="even H and W"):
        model(torch.rand(1, 3, 1, 7, 8))


def test_a_predictor_trained_on_normal_motion_scores_a_jump_highest():
    torch.manual_seed(0)
    model = FramePredictor(FramePredictorConfig(hidden_channels=8, stem_channels=8))
    normal = dot_clips(16)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimiser.zero_grad()
        loss = model.loss(normal)
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        errors = model.errors(dot_clips(4, jump_at=6))
    # the frame of the jump is the worst predicted in every clip
    assert (errors[:, 1:].argmax(1) + 1 == 6).all()


def test_video_cli_predicts_frames_and_detects_anomalies(tmp_path, capsys):
    assert main(["video", "example", str(tmp_path / "ex"), "--per-class", "4"]) == 0
    clips = tmp_path / "ex" / "clips"
    run = tmp_path / "run"
    assert main(["video", "train", "--data", str(clips / "manifest.csv"), "--objective", "predict", "--size", "16", "16",
                 "--hidden-channels", "4", "--epochs", "1", "--val-fraction", "0.2", "--out", str(run), "--no-progress"]) == 0
    assert "rnnkit video detect" in capsys.readouterr().out
    assert main(["video", "detect", str(run), "--data", str(clips / "anomaly.csv"), "--labels", "anomalous_frames",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["clips"] == 4 and 0 <= summary["auroc"] <= 1 and summary["anomalous_frames"] > 0
    assert (run / "plots" / "regularity-anomaly.png").is_file()
    assert main(["video", "detect", str(run), "--data", str(clips / "anomaly.csv"), "--out", str(tmp_path / "s.csv")]) == 0
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "clip,frame,error,regularity,anomaly" and lines[1].endswith(",0,,,")
    assert len(lines) - 1 == summary["frames"]
    # clips of different lengths in batches of different padded lengths: every frame of every clip scored
    results, again = detect(run, str(clips / "anomaly.csv"), labels_column="anomalous_frames", batch_size=1)
    assert again["frames"] == summary["frames"] and [len(r.errors) for r in results] != [len(results[0].errors)] * 4
    torch.testing.assert_close(torch.tensor(again["auroc"]), torch.tensor(summary["auroc"]))
    assert main(["video", "evaluate", str(run), "--data", str(clips / "manifest.csv")]) == 1
    assert "frame-prediction run" in capsys.readouterr().err
    assert main(["video", "train", "--resume", str(run), "--epochs", "2", "--no-progress"]) == 0

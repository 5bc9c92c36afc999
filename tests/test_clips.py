"""Clips: frame folders, GIFs and video files in, frame sampling, the generated example, the CNN+RNN
and ConvLSTM classifiers, and `rnnkit video` end to end on clips."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
import torch
from PIL import Image

from rnnkit.cli import main
from rnnkit.data.clips import ClipFormat, read_clip, read_clips, sample_indices
from rnnkit.data.moving_shapes import MOTIONS, moving_shape_clip, write_clip_example, write_gif
from rnnkit.models.video import ClipModelConfig, build_clip_model
from rnnkit.tasks.video import detect_kind


def write_frames(folder, frames: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"frame{t:03d}.png")


def test_sampling_spreads_frames_evenly_and_keeps_short_clips_whole():
    assert sample_indices(10, 4) == [0, 3, 6, 9]
    assert sample_indices(3, 4) == [0, 1, 2] and sample_indices(5, None) == [0, 1, 2, 3, 4]


def test_frame_folders_and_gifs_give_the_same_clip(tmp_path):
    frames = (np.random.default_rng(0).random((6, 8, 10)) * 255).astype(np.uint8)
    write_frames(tmp_path / "clip", frames)
    write_gif(frames, tmp_path / "clip.gif")
    fmt = ClipFormat(size=(8, 10), channels=1, frames=None)
    folder, gif = read_clip(tmp_path / "clip", fmt), read_clip(tmp_path / "clip.gif", fmt)
    assert folder.shape == gif.shape == (6, 1, 8, 10)
    torch.testing.assert_close(folder[:, 0], torch.from_numpy(frames / 255.0).float())
    torch.testing.assert_close(gif, folder, atol=2 / 255, rtol=0)  # a grey GIF's palette is near exact
    rgb = read_clip(tmp_path / "clip", ClipFormat(size=(4, 5), channels=3, frames=3))
    assert rgb.shape == (3, 3, 4, 5) and 0 <= float(rgb.min()) and float(rgb.max()) <= 1


def test_manifests_class_folders_and_their_errors(tmp_path):
    frames = np.zeros((3, 4, 4), dtype=np.uint8)
    for label in ("a", "b"):
        write_frames(tmp_path / "data" / label / "one", frames)
    clips = read_clips(tmp_path / "data", ClipFormat(size=(4, 4)))
    assert clips.labels == ["a", "b"] and clips.names == ["a/one", "b/one"]
    (tmp_path / "data" / "m.csv").write_text("path,label,subject\na/one,x,3\nb/one,,\n")
    listed = read_clips(tmp_path / "data" / "m.csv", ClipFormat(size=(4, 4)))
    assert listed.labels == ["x", None] and listed.subjects == [3, None]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "frame0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"frame0.png: cannot read the frame"):
        read_clip(tmp_path / "bad", ClipFormat())
    (tmp_path / "clip.xyz").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown clip format '.xyz'"):
        read_clip(tmp_path / "clip.xyz", ClipFormat())
    (tmp_path / "m.csv").write_text("file,label\nx,y\n")
    with pytest.raises(ValueError, match="needs a path column"):
        read_clips(tmp_path / "m.csv", ClipFormat())
    with pytest.raises(ValueError, match="channels must be 1"):
        ClipFormat(channels=2)


def test_video_files_without_pyav_name_the_extra(tmp_path, monkeypatch):
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 16)
    real_import = builtins.__import__

    def no_av(name, *args, **kwargs):
        if name == "av":
            raise ImportError("no av")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_av)
    with pytest.raises(ValueError, match=r"needs PyAV: pip install 'rnnkit\[video\]'"):
        read_clip(tmp_path / "clip.mp4", ClipFormat())


def test_video_files_decode_through_pyav_when_installed(tmp_path):
    av = pytest.importorskip("av")
    frames = (np.random.default_rng(1).random((8, 16, 16, 3)) * 255).astype(np.uint8)
    with av.open(str(tmp_path / "clip.mp4"), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    clip = read_clip(tmp_path / "clip.mp4", ClipFormat(size=(16, 16), channels=3, frames=None))
    assert clip.shape == (8, 3, 16, 16)


def test_generated_motions_differ_in_where_the_shape_goes():
    rng = np.random.default_rng(0)
    for motion in MOTIONS:
        frames, caption = moving_shape_clip(motion, rng)
        assert frames.dtype == np.uint8 and frames.shape[1:] == (32, 32) and 16 <= len(frames) <= 24
        rows, cols = zip(*[np.argwhere(f > 140).mean(0) for f in frames])
        if motion == "left-right":
            assert np.ptp(cols) > 8 and np.ptp(rows) < 3
        if motion == "up-down":
            assert np.ptp(rows) > 8 and np.ptp(cols) < 3
        if motion == "pulse":
            assert np.ptp(rows) < 2 and np.ptp(cols) < 2
        assert caption.startswith("a ") and caption.split()[2] in ("disc", "square")


@pytest.mark.parametrize("architecture", ["cnn-rnn", "convlstm"])
def test_clip_models_ignore_padding_and_overfit_a_tiny_set(architecture):
    torch.manual_seed(0)
    config = ClipModelConfig(num_classes=2, architecture=architecture, conv_channels=(8, 8), hidden_size=16,
                             hidden_channels=8, dropout=0.0)
    model = build_clip_model(config).eval()
    clips = torch.rand(2, 6, 1, 16, 16)
    both = model(clips, torch.tensor([6, 3]))
    torch.testing.assert_close(both[1], model(clips[1:, :3])[0], atol=1e-5, rtol=1e-4)
    model.train()
    # left-moving versus right-moving bright dot: only the order of the frames tells them apart
    frames = torch.zeros(4, 6, 1, 16, 16)
    for t in range(6):
        frames[0::2, t, 0, 8, 2 + 2 * t] = 1.0
        frames[1::2, t, 0, 8, 13 - 2 * t] = 1.0
    labels = torch.tensor([0, 1, 0, 1])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(frames), labels)
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1


def test_the_kind_is_told_by_the_files(tmp_path):
    clips = write_clip_example(tmp_path / "clips", per_class=2)
    assert detect_kind(clips) == "clips" and detect_kind(tmp_path / "clips") == "clips"
    (tmp_path / "p" / "jump").mkdir(parents=True)
    np.savetxt(tmp_path / "p" / "jump" / "a.csv", np.ones((2, 6)), delimiter=",")
    assert detect_kind(tmp_path / "p") == "pose"


def test_video_cli_on_generated_clips(tmp_path, capsys):
    assert main(["video", "example", str(tmp_path / "ex"), "--per-class", "4"]) == 0
    manifest = tmp_path / "ex" / "clips" / "manifest.csv"
    run = tmp_path / "run"
    assert main(["video", "train", "--data", str(manifest), "--architecture", "convlstm", "--test-fraction", "0.25",
                 "--size", "16", "16", "--frames", "8", "--epochs", "2", "--hidden-channels", "4",
                 "--conv-channels", "4", "--out", str(run), "--no-progress"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    saved = json.loads((run / "video.json").read_text())
    assert saved["kind"] == "clips" and saved["data"]["size"] == [16, 16]
    assert main(["video", "evaluate", str(run), "--data", str(manifest), "--split", "test", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["examples"] == 5 and set(metrics["per_class"]) == set(MOTIONS)
    assert main(["video", "predict", str(run), "--data", str(manifest), "--jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(rows) == 4 * len(MOTIONS) and rows[0]["label"] in MOTIONS

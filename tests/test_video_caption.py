"""Captioning clips: captions from a manifest, the frame-feature encoder under the translation
decoder, beam search on an overfitted tiny set, and `rnnkit video train --objective caption` + `caption`."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.cli import main
from rnnkit.models.captioner import CaptionerConfig, ClipCaptioner
from rnnkit.models.decoding import beam_search, greedy_decode
from rnnkit.models.seq2seq import BOS, EOS
from rnnkit.tasks.video.caption import read_captions


def test_captions_come_from_the_manifest_and_empty_ones_are_errors(tmp_path):
    (tmp_path / "m.csv").write_text("path,caption\na.gif,a dot moves\nsub/b.gif,a square grows\n")
    assert read_captions(tmp_path / "m.csv") == {"a.gif": "a dot moves", "sub/b.gif": "a square grows"}
    (tmp_path / "m.csv").write_text("path,caption\na.gif,\n")
    with pytest.raises(ValueError, match="line 2: empty caption"):
        read_captions(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text("path,label\na.gif,x\n")
    with pytest.raises(ValueError, match="no caption column"):
        read_captions(tmp_path / "m.csv")


def test_a_captioner_learns_to_describe_which_way_a_bar_moves():
    torch.manual_seed(0)
    # two clips: a bright column sweeping right, or left; captions [3 4 5] and [3 6 5]
    clips = torch.zeros(2, 6, 1, 8, 8)
    for t in range(6):
        clips[0, t, 0, :, 1 + t] = 1.0
        clips[1, t, 0, :, 6 - t] = 1.0
    captions = torch.tensor([[BOS, 3, 4, 5, EOS], [BOS, 3, 6, 5, EOS]])
    lengths = torch.tensor([6, 6])
    model = ClipCaptioner(CaptionerConfig(vocab_size=7, conv_channels=(8,), embedding_size=16, hidden_size=16, dropout=0.0))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        optimiser.zero_grad()
        logits = model(clips, lengths, captions[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), captions[:, 1:].reshape(-1))
        loss.backward()
        optimiser.step()
    model.eval()
    assert [h.tokens for h in beam_search(model, clips, lengths, beam_size=3)] == [[3, 4, 5], [3, 6, 5]]
    assert [h.tokens for h in greedy_decode(model, clips, lengths)] == [[3, 4, 5], [3, 6, 5]]


def test_video_cli_captions_the_generated_clips(tmp_path, capsys):
    assert main(["video", "example", str(tmp_path / "ex"), "--per-class", "4"]) == 0
    manifest = tmp_path / "ex" / "clips" / "manifest.csv"
    run = tmp_path / "run"
    assert main(["video", "train", "--data", str(manifest), "--objective", "caption", "--test-fraction", "0.25",
                 "--val-fraction", "0.2", "--size", "16", "16", "--frames", "6", "--hidden-size", "16",
                 "--conv-channels", "4", "--epochs", "2", "--out", str(run), "--no-progress"]) == 0
    assert "test BLEU" in capsys.readouterr().out
    assert main(["video", "evaluate", str(run), "--data", str(manifest), "--split", "test", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["examples"] == 5 and 0 <= metrics["bleu"] <= 100 and metrics["samples"][0]["reference"]
    assert main(["video", "caption", str(run), "--data", str(manifest), "--jsonl", "--beam-size", "2",
                 "--plot", str(tmp_path / "attention.png")]) == 0
    assert (tmp_path / "attention.png").is_file()
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(rows) == 20 and {"clip", "caption"} == set(rows[0])
    assert main(["video", "train", "--resume", str(run), "--epochs", "3", "--no-progress"]) == 0
    assert main(["video", "detect", str(run), "--data", str(manifest)]) == 1
    assert "frame-prediction run" in capsys.readouterr().err

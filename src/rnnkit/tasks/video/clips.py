"""Clips as a kind of video input: frame folders, GIFs or video files, sampled and resized by
`rnnkit.data.clips.ClipFormat`, classified by a per-frame CNN with an RNN (LRCN) or by a ConvLSTM.
Splitting, training and scoring are `common`'s."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

import torch

from rnnkit.data.clips import ClipFormat, ClipSet, read_clips
from rnnkit.models.video import ClipModelConfig, build_clip_model
from rnnkit.tasks.video.common import check_split

TRAIN_DEFAULTS = {"epochs": 15, "lr": 2e-3, "clip_norm": 5.0}


@dataclass(frozen=True)
class ClipDataConfig:
    """What to read and how to split it: frames resized to `size` (H, W) with `channels` (1 grey,
    3 RGB), `frames` evenly spaced per clip (None: all); `classes` to keep (None: all). Split:
    `test_subjects` (needs a subject column) or a stratified `test_fraction`, then a stratified
    `val_fraction` of the rest (0: no validation, the last weights are kept)."""

    size: tuple[int, int] = (32, 32)
    channels: int = 1
    frames: int | None = 16
    classes: tuple[str, ...] | None = None
    test_subjects: tuple[int, ...] = ()
    test_fraction: float = 0.0
    val_fraction: float = 0.0
    split_seed: int = 0
    batch_size: int = 16

    def __post_init__(self) -> None:
        for name in ("size", "classes", "test_subjects"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else tuple(value))
        check_split(self)
        self.format()

    def format(self) -> ClipFormat:
        return ClipFormat(self.size, self.channels, self.frames)


def load(path: str, config: ClipDataConfig, classes: tuple[str, ...] | None = None,
         subjects: tuple[int, ...] | None = None, labelled: bool = True) -> ClipSet:
    """Read every clip, keeping `classes` (default: the config's) and `subjects`; `labelled=False`
    (prediction) keeps unlabelled clips too."""
    clips = read_clips(path, config.format())
    keep = classes if classes is not None else config.classes
    rows = [i for i, label in enumerate(clips.labels)
            if (not labelled or keep is None or label in keep) and (subjects is None or clips.subjects[i] in subjects)]
    if not rows:
        raise ValueError(f"{path}: no clip left after keeping classes {keep} and subjects {subjects}")
    frames = sum(len(clips.sequences[i]) for i in rows)
    print(f"rnnkit: {len(rows)} clips, {frames} frames at {config.size[0]}x{config.size[1]}", file=sys.stderr)
    return clips.subset(rows)


def model_config(clips: ClipSet, names: list[str], overrides: dict) -> dict:
    return asdict(ClipModelConfig(num_classes=len(names), channels=clips.sequences[0].shape[1], **overrides))


def build_model(config: dict) -> torch.nn.Module:
    return build_clip_model(ClipModelConfig(**config))


DataConfig = ClipDataConfig

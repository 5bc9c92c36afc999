"""Pose sequences as a kind of video input: read skeletons (MSR Action3D or the generic layout),
keep the wanted classes and subjects, normalise each sequence, and build the whole-body RNN or the
hierarchical body-part RNN. Splitting, training and scoring are `common`'s."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

import torch

from rnnkit.data.pose import MSR_ACTION_SETS, MSR_BODY_PARTS, MSR_JOINTS, PoseNormalisation, PoseSet, read_poses
from rnnkit.models.pose import PoseModelConfig, build_pose_model
from rnnkit.tasks.video.common import check_split

TRAIN_DEFAULTS = {"epochs": 60, "lr": 1e-3, "clip_norm": 5.0, "weight_decay": 0.05, "optimizer": "adamw"}
MODEL_DEFAULTS = {"dropout": 0.5}  # small data sets: on MSR Action3D 0.5 with weight decay 0.05 beat 0.3 with 0.01


@dataclass(frozen=True)
class PoseDataConfig:
    """What to read and how to split it.

    `listing`: MSR Action3D's file of sequence names to use (files_used_in_cvpr12_paper.txt);
    `classes`: keep only these labels (an MSR action set such as "AS1" names its eight); `joints`,
    `dims`: the generic layout's frame shape (None: inferred); `min_frames`: shorter sequences are
    skipped. Split: `test_subjects` (cross-subject) or a stratified `test_fraction` are held out and
    scored at the end; the rest gives a stratified `val_fraction` (0: no validation, the last
    weights are kept).
    Normalisation: `rnnkit.data.pose.PoseNormalisation` (`root`, `scale`, `center`, `frames`)."""

    listing: str | None = None
    classes: tuple[str, ...] | None = None
    joints: int | None = None
    dims: int = 3
    min_frames: int = 2
    test_subjects: tuple[int, ...] = ()
    test_fraction: float = 0.0
    val_fraction: float = 0.0
    split_seed: int = 0
    root: int = 6
    scale: tuple[int, int] | None = (6, 2)
    center: str = "frame"
    frames: int | None = None
    batch_size: int = 16

    def __post_init__(self) -> None:
        for name in ("classes", "test_subjects", "scale"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else tuple(value))
        check_split(self)
        self.normalisation()

    def normalisation(self) -> PoseNormalisation:
        return PoseNormalisation(self.root, self.scale, self.center, self.frames)


def action_set(name: str) -> tuple[str, ...]:
    """The MSR Action3D labels ("a02", ...) of an action subset AS1, AS2 or AS3."""
    if name not in MSR_ACTION_SETS:
        raise ValueError(f"unknown action set {name!r}; MSR Action3D has {sorted(MSR_ACTION_SETS)}")
    return tuple(f"a{a:02d}" for a in MSR_ACTION_SETS[name])


def load(path: str, config: PoseDataConfig, classes: tuple[str, ...] | None = None,
         subjects: tuple[int, ...] | None = None, labelled: bool = True) -> PoseSet:
    """Read, keep `classes` (default: the config's) and `subjects`, and normalise every sequence to
    (T, J, D). Pose data always carries labels (`labelled` is for the shared interface)."""
    poses = read_poses(path, joints=config.joints, dims=config.dims, listing=config.listing, min_frames=config.min_frames)
    for line in poses.report.lines():
        print(f"rnnkit: {line}", file=sys.stderr)
    keep = classes if classes is not None else config.classes
    rows = [i for i, label in enumerate(poses.labels) if (keep is None or label in keep)
            and (subjects is None or poses.subjects[i] in subjects)]
    if not rows:
        raise ValueError(f"{path}: no sequence left after keeping classes {keep} and subjects {subjects}")
    poses = poses.subset(rows)
    normalise = config.normalisation()
    normalise.check(poses.joints)
    poses.sequences = [normalise(s) for s in poses.sequences]
    return poses


def model_config(poses: PoseSet, names: list[str], overrides: dict) -> dict:
    """The model config for these sequences; MSR's body parts by default for the body-part RNN."""
    overrides = {**MODEL_DEFAULTS, **overrides}
    if overrides.get("architecture") == "parts" and overrides.get("parts") is None and poses.joints == MSR_JOINTS:
        overrides["parts"] = MSR_BODY_PARTS
    return asdict(PoseModelConfig(num_classes=len(names), joints=poses.joints, dims=poses.dims, **overrides))


def build_model(config: dict) -> torch.nn.Module:
    return build_pose_model(PoseModelConfig(**config))


DataConfig = PoseDataConfig

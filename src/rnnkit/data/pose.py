"""Pose sequences (joints tracked over time): readers for MSR Action3D's layout and a generic one,
cleaning that reports what it drops, and per-sequence normalisation.

Layouts
- MSR Action3D: `aAA_sSS_eEE_skeleton3D.txt`, whitespace rows `x y z c`, 20 rows (joints) per frame;
  the fourth column is dropped. Action AA is the label, subject SS is kept for cross-subject splits.
- Generic: one frame per row with joints x coordinates as columns (`x1 y1 z1 x2 ...`), whitespace or
  comma separated `.txt`/`.csv`, or a `.npy` array (T, J, D) or (T, J*D); labelled by a manifest CSV
  (`path,label[,subject]`, paths relative to the manifest) or by class subfolders.

Cleaning: frames whose joints are all exactly 0 are tracker failures and are dropped; a sequence left
with fewer than `min_frames` frames is skipped. Both are counted in the `PoseReport`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

MSR_JOINTS = 20
MSR_NAME = re.compile(r"^a(\d+)_s(\d+)_e(\d+)_skeleton3D\.txt$")
# 0-based joints of MSR Action3D's skeleton, inferred from the bones its drawing script joins
MSR_ROOT, MSR_NECK = 6, 2  # hip centre, neck
# Du, Wang & Wang (2015)'s five parts, in the order the hierarchical model fuses them: arm, arm, trunk, leg, leg
MSR_BODY_PARTS = ((0, 7, 9, 11), (1, 8, 10, 12), (19, 2, 3, 6), (4, 13, 15, 17), (5, 14, 16, 18))
# Li, Zhang & Liu (2010)'s three action subsets
MSR_ACTION_SETS = {"AS1": (2, 3, 5, 6, 10, 13, 18, 20), "AS2": (1, 4, 7, 8, 9, 11, 12, 14),
                   "AS3": (6, 14, 15, 16, 17, 18, 19, 20)}
POSE_SUFFIXES = (".txt", ".csv", ".npy")


@dataclass
class PoseReport:
    """What reading kept and dropped: all-zero frames removed, sequences skipped (with the reason)."""

    files: int = 0
    zero_frames: int = 0
    sequences_with_zero_frames: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.files} pose files read"]
        if self.zero_frames:
            out.append(f"dropped {self.zero_frames} all-zero frames (tracking lost) in "
                       f"{self.sequences_with_zero_frames} sequences")
        for name, reason in self.skipped:
            out.append(f"skipped {name}: {reason}")
        return out


@dataclass
class PoseSet:
    """Sequences (T_i, J, D) with labels, names and subjects (None when the layout has none)."""

    sequences: list[Tensor]
    labels: list[str]
    names: list[str]
    subjects: list[int | None]
    report: PoseReport

    @property
    def joints(self) -> int:
        return self.sequences[0].shape[1]

    @property
    def dims(self) -> int:
        return self.sequences[0].shape[2]

    def inputs(self) -> list[Tensor]:
        """The sequences as model inputs, (T_i, J*D)."""
        return [s.flatten(1) for s in self.sequences]

    def subset(self, rows) -> PoseSet:
        rows = list(rows)
        return PoseSet([self.sequences[i] for i in rows], [self.labels[i] for i in rows],
                       [self.names[i] for i in rows], [self.subjects[i] for i in rows], self.report)


def parse_msr_name(name: str) -> tuple[int, int, int] | None:
    """(action, subject, execution) from `aAA_sSS_eEE_skeleton3D.txt`, or None for other names."""
    match = MSR_NAME.match(name)
    return None if match is None else tuple(int(g) for g in match.groups())


def read_msr_file(path: str | Path) -> np.ndarray:
    """(T, 20, 3) joints of one MSR Action3D skeleton file (the fourth column dropped)."""
    rows = _read_rows(Path(path), expect=4)
    if len(rows) % MSR_JOINTS:
        raise ValueError(f"{path}: {len(rows)} rows is not a whole number of frames of {MSR_JOINTS} joints "
                         f"(MSR Action3D has one 'x y z c' row per joint)")
    return rows.reshape(-1, MSR_JOINTS, 4)[:, :, :3]


def read_pose_file(path: str | Path, joints: int | None = None, dims: int = 3) -> np.ndarray:
    """(T, J, D) from a generic pose file: `.npy` (T, J, D) or (T, J*D), or text with one frame per row.
    `joints` None infers J from the columns (their count must divide by `dims`)."""
    path = Path(path)
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable .npy array ({err})") from None
        if array.ndim == 2:
            array = array.reshape(array.shape[0], -1, dims) if array.shape[1] % dims == 0 else array[..., None]
        if array.ndim != 3 or array.shape[2] != dims or (joints is not None and array.shape[1] != joints):
            raise ValueError(f"{path}: expected an array (frames, {joints or 'joints'}, {dims}) or (frames, joints*{dims}); "
                             f"got shape {array.shape}")
        return array.astype(np.float32)
    rows = _read_rows(path, expect=None if joints is None else joints * dims)
    if rows.shape[1] % dims:
        raise ValueError(f"{path}: {rows.shape[1]} columns is not a whole number of joints of {dims} coordinates; "
                         f"pass the right --pose-dims")
    return rows.reshape(rows.shape[0], -1, dims)


def _read_rows(path: Path, expect: int | None) -> np.ndarray:
    """A numeric text table, whitespace or comma separated; errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read the pose file ({err})") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise ValueError(f"{path}: the pose file is empty")
    sep = "," if "," in lines[0][1] else None
    width = expect or len(lines[0][1].split(sep))
    rows = []
    for n, line in lines:
        parts = line.split(sep)
        if len(parts) != width:
            raise ValueError(f"{path}, line {n}: {len(parts)} values; expected {width} (as on the first line)")
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            raise ValueError(f"{path}, line {n}: not all values are numbers: {line.strip()[:60]!r}") from None
    array = np.asarray(rows, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{path}: contains NaN or infinite coordinates; mark lost joints as 0 instead")
    return array


def read_poses(path: str | Path, *, joints: int | None = None, dims: int = 3, listing: str | Path | None = None,
               min_frames: int = 2) -> PoseSet:
    """Read a pose data set: a folder of MSR Action3D files (restricted to the names in `listing`, a
    file of `aAA_sSS_eEE` lines, when given), a folder of class subfolders, or a manifest CSV."""
    path = Path(path)
    if path.is_dir():
        msr = sorted(p for p in path.iterdir() if parse_msr_name(p.name))
        if msr:
            return _read_msr(msr, listing, min_frames)
        return _read_labelled(_class_folders(path), joints, dims, min_frames)
    if path.is_file():
        return _read_labelled(_manifest(path), joints, dims, min_frames)
    raise ValueError(f"{path}: no such pose file or folder")


def _read_msr(files: list[Path], listing, min_frames: int) -> PoseSet:
    if listing is not None:
        used = {line.strip() for line in Path(listing).read_text(encoding="utf-8").splitlines() if line.strip()}
        files = [p for p in files if p.name.replace("_skeleton3D.txt", "") in used]
        if not files:
            raise ValueError(f"{listing}: none of its names matches a file in the pose folder")
    items = []
    for p in files:
        action, subject, _ = parse_msr_name(p.name)
        items.append((p, f"a{action:02d}", subject))
    return _clean(items, read_msr_file, min_frames)


def _class_folders(root: Path) -> list[tuple[Path, str, int | None]]:
    items = [(p, folder.name, None) for folder in sorted(root.iterdir()) if folder.is_dir()
             for p in sorted(folder.iterdir()) if p.suffix in POSE_SUFFIXES]
    if not items:
        raise ValueError(f"{root}: no MSR Action3D files (aAA_sSS_eEE_skeleton3D.txt) and no class subfolders "
                         f"holding {'/'.join(POSE_SUFFIXES)} pose files")
    return items


def _manifest(path: Path) -> list[tuple[Path, str, int | None]]:
    """(file, label, subject) rows of a `path,label[,subject]` CSV; paths relative to the manifest."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: a pose manifest needs the columns path and label; missing {sorted(missing)} "
                             f"(header: {reader.fieldnames})")
        items = []
        for n, row in enumerate(reader, 2):
            if not (row["path"] or "").strip() or not (row["label"] or "").strip():
                raise ValueError(f"{path}, line {n}: empty path or label")
            subject = (row.get("subject") or "").strip()
            try:
                items.append((path.parent / row["path"].strip(), row["label"].strip(), int(subject) if subject else None))
            except ValueError:
                raise ValueError(f"{path}, line {n}: subject must be an integer; got {subject!r}") from None
    if not items:
        raise ValueError(f"{path}: the manifest lists no pose files")
    return items


def _read_labelled(items, joints, dims, min_frames) -> PoseSet:
    return _clean(items, lambda p: read_pose_file(p, joints, dims), min_frames)


def _clean(items, read, min_frames: int) -> PoseSet:
    report = PoseReport()
    kept = PoseSet([], [], [], [], report)
    for path, label, subject in items:
        if not Path(path).is_file():
            raise ValueError(f"{path}: the pose file does not exist")
        joints = read(path)
        report.files += 1
        if kept.sequences and joints.shape[1:] != tuple(kept.sequences[0].shape[1:]):
            raise ValueError(f"{path}: {joints.shape[1]} joints x {joints.shape[2]} coordinates, but "
                             f"{kept.names[0]} has {kept.joints} x {kept.dims}; every sequence needs the same layout")
        zero = ~joints.reshape(len(joints), -1).any(axis=1)
        if zero.any():
            report.zero_frames += int(zero.sum())
            report.sequences_with_zero_frames += 1
            joints = joints[~zero]
        if len(joints) < min_frames:
            why = "all frames are zero" if zero.all() else f"{len(joints)} frames (fewer than {min_frames})"
            report.skipped.append((Path(path).name, why))
            continue
        kept.sequences.append(torch.from_numpy(np.ascontiguousarray(joints, dtype=np.float32)))
        kept.labels.append(label)
        kept.names.append(Path(path).name)
        kept.subjects.append(subject)
    if not kept.sequences:
        raise ValueError("no usable pose sequence: " + "; ".join(report.lines()))
    return kept


@dataclass(frozen=True)
class PoseNormalisation:
    """Per-sequence normalisation, nothing fitted: `center` "frame" subtracts the root joint of every
    frame (keeps the pose, drops where the body is), "sequence" the root's mean position over the
    sequence (keeps the motion of the body), "none" leaves positions as they are; then every
    coordinate is divided by the mean distance between joints `scale` (a body length; MSR: hip centre
    to neck) over the sequence. `frames` > 0 resamples each sequence to that many frames by linear
    interpolation; None keeps the lengths (batches are padded and masked)."""

    root: int = MSR_ROOT
    scale: tuple[int, int] | None = (MSR_ROOT, MSR_NECK)
    center: str = "frame"
    frames: int | None = None

    def __post_init__(self) -> None:
        if self.center not in ("frame", "sequence", "none"):
            raise ValueError(f"center must be frame, sequence or none; got {self.center!r}")
        if self.frames is not None and self.frames < 2:
            raise ValueError(f"frames must be at least 2 (or None to keep lengths); got {self.frames}")
        if self.scale is not None:
            object.__setattr__(self, "scale", tuple(self.scale))

    def check(self, joints: int) -> None:
        used = [self.root, *(self.scale or ())]
        if any(not 0 <= j < joints for j in used):
            raise ValueError(f"root and scale joints must be in 0..{joints - 1} (the data has {joints} joints); "
                             f"got root={self.root}, scale={self.scale}")

    def __call__(self, seq: Tensor) -> Tensor:
        """(T, J, D) -> normalised (T', J, D)."""
        if self.center == "frame":
            seq = seq - seq[:, self.root: self.root + 1]
        elif self.center == "sequence":
            seq = seq - seq[:, self.root].mean(0)
        if self.scale is not None:
            length = (seq[:, self.scale[0]] - seq[:, self.scale[1]]).norm(dim=-1).mean()
            seq = seq / length.clamp(min=1e-6)
        if self.frames is not None:
            seq = resample(seq, self.frames)
        return seq


def resample(seq: Tensor, frames: int) -> Tensor:
    """(T, ...) -> (frames, ...) by linear interpolation over time, first and last frame kept."""
    flat = seq.reshape(seq.shape[0], -1).T.unsqueeze(0)  # (1, J*D, T)
    out = torch.nn.functional.interpolate(flat, size=frames, mode="linear", align_corners=True)
    return out[0].T.reshape(frames, *seq.shape[1:])

"""Video clips as (T, C, H, W) float tensors in [0, 1]: folders of frame images (PNG/JPEG, in file-name
order) and animated GIFs through Pillow, other video files (mp4, avi, mov, mkv, webm) through PyAV
(the `video` extra, whose wheels carry FFmpeg). Clips are labelled by a manifest CSV (`path,label`,
paths relative to the manifest) or by class subfolders.

Every frame is converted to `channels` (1: grey, 3: RGB) and resized to `size` (H, W) with bilinear
filtering (the aspect ratio is not kept). `frames` N picks N frames evenly spaced over the clip
(first and last included; a shorter clip keeps all its frames), None keeps every frame.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence, UnidentifiedImageError
from torch import Tensor

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
PYAV_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")
CLIP_SUFFIXES = (".gif", *PYAV_SUFFIXES)


@dataclass(frozen=True)
class ClipFormat:
    """How frames become tensors: `size` (H, W), `channels` 1 or 3, `frames` evenly spaced (None: all)."""

    size: tuple[int, int] = (32, 32)
    channels: int = 1
    frames: int | None = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(self.size))
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"size must be (height, width), both positive; got {self.size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB); got {self.channels}")
        if self.frames is not None and self.frames < 1:
            raise ValueError(f"frames must be positive (or None for every frame); got {self.frames}")


@dataclass
class ClipSet:
    """Clips (T_i, C, H, W) with labels (None where the manifest has none), names and subjects (None
    without a `subject` column)."""

    sequences: list[Tensor]
    labels: list[str | None]
    names: list[str]
    subjects: list[int | None]

    def inputs(self) -> list[Tensor]:
        """The clips as model inputs, (T_i, C, H, W)."""
        return self.sequences

    def subset(self, rows) -> ClipSet:
        rows = list(rows)
        return ClipSet([self.sequences[i] for i in rows], [self.labels[i] for i in rows],
                       [self.names[i] for i in rows], [self.subjects[i] for i in rows])


def sample_indices(total: int, frames: int | None) -> list[int]:
    """`frames` indices evenly spaced over 0..total-1 (all of them when there are not more)."""
    if frames is None or total <= frames:
        return list(range(total))
    return np.linspace(0, total - 1, frames).round().astype(int).tolist()


def _to_tensor(images: list[Image.Image], fmt: ClipFormat, source: Path) -> Tensor:
    if not images:
        raise ValueError(f"{source}: the clip has no frames")
    mode = "L" if fmt.channels == 1 else "RGB"
    height, width = fmt.size
    arrays = [np.asarray(im.convert(mode).resize((width, height), Image.BILINEAR), dtype=np.float32) / 255.0
              for im in images]
    clip = torch.from_numpy(np.stack(arrays))  # (T, H, W) or (T, H, W, 3)
    return clip.unsqueeze(1) if fmt.channels == 1 else clip.permute(0, 3, 1, 2).contiguous()


def read_clip(path: str | Path, fmt: ClipFormat) -> Tensor:
    """(T, C, H, W) in [0, 1] from a frame folder, a GIF or (with PyAV) a video file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{path}: the frame folder holds no {'/'.join(IMAGE_SUFFIXES)} images")
        images = []
        for p in (files[i] for i in sample_indices(len(files), fmt.frames)):
            try:
                with Image.open(p) as im:
                    im.load()
                    images.append(im.copy())
            except (OSError, UnidentifiedImageError) as err:
                raise ValueError(f"{p}: cannot read the frame ({err})") from None
        return _to_tensor(images, fmt, path)
    if not path.is_file():
        raise ValueError(f"{path}: no such clip (a frame folder or a video file)")
    if path.suffix.lower() == ".gif":
        try:
            with Image.open(path) as im:
                frames = [f.copy() for f in ImageSequence.Iterator(im)]
        except (OSError, UnidentifiedImageError) as err:
            raise ValueError(f"{path}: cannot read the GIF ({err})") from None
        return _to_tensor([frames[i] for i in sample_indices(len(frames), fmt.frames)], fmt, path)
    if path.suffix.lower() in PYAV_SUFFIXES:
        return _to_tensor(_decode_with_pyav(path, fmt), fmt, path)
    raise ValueError(f"{path}: unknown clip format {path.suffix!r}; expected a frame folder, .gif or "
                     f"{'/'.join(PYAV_SUFFIXES)} (the latter with pip install 'rnnkit[video]')")


def _decode_with_pyav(path: Path, fmt: ClipFormat) -> list[Image.Image]:
    try:
        import av
    except ImportError:
        raise ValueError(f"{path}: reading {path.suffix} video needs PyAV: pip install 'rnnkit[video]' "
                         f"(or give frame folders or GIFs)") from None
    try:
        with av.open(str(path)) as container:
            images = [frame.to_image() for frame in container.decode(video=0)]
    except (av.FFmpegError, OSError, ValueError) as err:  # corrupt or unsupported streams
        raise ValueError(f"{path}: cannot decode the video ({err})") from None
    return [images[i] for i in sample_indices(len(images), fmt.frames)]


def clip_items(path: str | Path) -> list[tuple[Path, str | None, int | None]]:
    """(clip, label, subject) from a manifest CSV (`path,label[,subject]`; label may be absent for
    prediction) or from class subfolders, each holding frame folders or video files."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv"):
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            if "path" not in (reader.fieldnames or ()):
                raise ValueError(f"{path}: a clip manifest needs a path column (and label to train); "
                                 f"header: {reader.fieldnames}")
            items = []
            for n, row in enumerate(reader, 2):
                if not (row["path"] or "").strip():
                    raise ValueError(f"{path}, line {n}: empty path")
                label = (row.get("label") or "").strip() or None
                subject = (row.get("subject") or "").strip()
                try:
                    items.append((path.parent / row["path"].strip(), label, int(subject) if subject else None))
                except ValueError:
                    raise ValueError(f"{path}, line {n}: subject must be an integer; got {subject!r}") from None
        if not items:
            raise ValueError(f"{path}: the manifest lists no clips")
        return items
    if path.is_dir():
        items = [(clip, folder.name, None) for folder in sorted(p for p in path.iterdir() if p.is_dir())
                 for clip in sorted(folder.iterdir()) if clip.is_dir() or clip.suffix.lower() in CLIP_SUFFIXES]
        if not items:
            raise ValueError(f"{path}: no class subfolders holding frame folders or video files")
        return items
    raise ValueError(f"{path}: no such manifest or folder of clips")


def read_clips(path: str | Path, fmt: ClipFormat) -> ClipSet:
    """Every clip of a manifest or class-folder data set, as `ClipFormat` says."""
    items = clip_items(path)
    base = Path(path).parent if Path(path).is_file() else Path(path)
    return ClipSet([read_clip(p, fmt) for p, _, _ in items], [label for _, label, _ in items],
                   [str(p.relative_to(base)) for p, _, _ in items], [subject for _, _, subject in items])


def manifest_column(manifest: str | Path, column: str) -> list[tuple[int, str, str]]:
    """(line number, clip name, stripped value) of every row of a manifest CSV's `column`; names are
    the manifest's paths, as `read_clips` gives them."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise ValueError(f"{manifest}: expected a manifest CSV with path and {column} columns")
    with open(manifest, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or ()):
            raise ValueError(f"{manifest}: no {column} column (header: {reader.fieldnames})")
        return [(n, str(Path(row["path"].strip())), (row[column] or "").strip()) for n, row in enumerate(reader, 2)]


def read_frame_labels(manifest: str | Path, column: str = "anomalous_frames") -> dict[str, list[tuple[int, int]]]:
    """{clip name: [(start, end), ...]} from a manifest column of frame spans `start-end` (end
    exclusive; several separated by ';'; empty for none), frames counted from 0 in the clip's own
    frames."""
    spans = {}
    for n, name, value in manifest_column(manifest, column):
        try:
            pairs = [tuple(int(v) for v in p.split("-")) for p in value.split(";") if p.strip()]
        except ValueError:
            pairs = [()]
        if any(len(p) != 2 or p[0] < 0 or p[1] <= p[0] for p in pairs):
            raise ValueError(f"{manifest}, line {n}: {column} must be spans start-end (end > start >= 0) "
                             f"separated by ';'; got {value!r}")
        spans[name] = pairs
    return spans

"""Video analysis: action recognition from pose sequences (MSR Action3D's layout or a generic one;
a whole-body RNN or Du et al.'s hierarchical body-part RNN) and from clips (frame folders, GIFs,
video files; a per-frame CNN with an RNN, or a ConvLSTM).

`pose` and `clips` turn each kind of input into labelled sequences and models; `common` splits,
trains and scores them all the same way. A run directory remembers its kind (video.json), so
`evaluate`, `predict` and `resume` need only the run.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.data.clips import clip_items
from rnnkit.data.pose import POSE_SUFFIXES, parse_msr_name
from rnnkit.tasks.video import caption, clips, common, detect, pose
from rnnkit.tasks.video.clips import ClipDataConfig
from rnnkit.tasks.video.pose import PoseDataConfig, action_set

KINDS = {"pose": pose, "clips": clips}


def _kind(run_dir: Path):
    _, info = common.read_video_run(run_dir)
    if info.get("objective") == "predict":
        raise ValueError(f"{run_dir} is a frame-prediction run: score clips with rnnkit video detect {run_dir} --data ...")
    if info.get("objective") == "caption":
        raise ValueError(f"{run_dir} is a captioning run: use rnnkit video caption {run_dir} --data ...")
    kind = info["kind"]
    if kind not in KINDS:
        raise ValueError(f"{run_dir}: unknown video kind {kind!r} in video.json; this rnnkit knows {sorted(KINDS)}")
    return KINDS[kind]


def train(kind: str, path: str, data_config, model_overrides: dict, train_overrides: dict, out: Path) -> dict:
    """Train a `kind` ("pose" or "clips") classifier on `path` into the run directory `out`."""
    module = KINDS[kind]
    return common.train(kind, module, path, data_config, model_overrides, module.TRAIN_DEFAULTS, train_overrides, out)


def resume(out: Path, overrides: dict) -> dict:
    objective = common.read_video_run(out)[1].get("objective", "classify")
    if objective == "predict":
        return detect.resume(out, overrides)
    if objective == "caption":
        return caption.resume(out, overrides)
    return common.resume(_kind(out), out, overrides)


def evaluate_run(run_dirs: Path | list[Path], path: str, *, split_name: str | None = None, subjects=None,
                 device_name: str = "auto") -> dict:
    """Classifiers: accuracy, macro-F1, per class (several runs: an ensemble); captioners: BLEU (see
    caption.evaluate_run)."""
    run_dirs = list(run_dirs) if isinstance(run_dirs, (list, tuple)) else [run_dirs]
    if common.read_video_run(run_dirs[0])[1].get("objective") == "caption":
        if len(run_dirs) > 1:
            raise ValueError("captioning runs are evaluated one at a time")
        return caption.evaluate_run(run_dirs[0], path, split_name=split_name, device_name=device_name)
    kinds = {_kind(d) for d in run_dirs}
    if len(kinds) > 1:
        raise ValueError("an ensemble needs runs of one kind (all pose or all clips)")
    return common.evaluate_run(kinds.pop(), run_dirs, path, split_name=split_name, subjects=subjects,
                               device_name=device_name)


def predict(run_dir: Path, path: str, device_name: str = "auto") -> list[dict]:
    return common.predict(_kind(run_dir), run_dir, path, device_name)


def detect_kind(path: str | Path) -> str:
    """"pose" or "clips", told by the files: MSR Action3D names or pose tables (.txt/.csv/.npy) are
    pose; frame folders, GIFs and video files are clips."""
    path = Path(path)
    if path.is_dir():
        if any(parse_msr_name(p.name) for p in path.iterdir()):
            return "pose"
        inside = [q for folder in sorted(path.iterdir()) if folder.is_dir() for q in sorted(folder.iterdir())]
        return "pose" if inside and all(q.is_file() and q.suffix.lower() in POSE_SUFFIXES for q in inside) else "clips"
    first = clip_items(path)[0][0]  # a manifest: its first file tells
    return "pose" if first.is_file() and first.suffix.lower() in POSE_SUFFIXES else "clips"


__all__ = ["KINDS", "ClipDataConfig", "PoseDataConfig", "action_set", "detect_kind", "evaluate_run", "predict", "resume", "train"]

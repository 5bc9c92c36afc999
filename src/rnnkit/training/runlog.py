"""What a run shows and keeps: metrics.jsonl, optional TensorBoard, a progress bar on stderr.

Only the main process writes; the others get a logger that does nothing.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from tqdm import tqdm


class RunLog:
    """Appends one JSON object per record to RUN_DIR/metrics.jsonl (and TensorBoard when asked)."""

    def __init__(self, run_dir: Path | None, *, enabled: bool, tensorboard: bool, progress_total: int | None, show_progress: bool, start: int = 0):
        self.enabled = enabled
        self.path = run_dir / "metrics.jsonl" if (run_dir is not None and enabled) else None
        self.writer = _tensorboard(run_dir) if (tensorboard and enabled and run_dir is not None) else None
        self.bar = None
        if enabled and show_progress:
            self.bar = tqdm(total=progress_total, initial=start, file=sys.stderr, unit="step", dynamic_ncols=True, leave=True)

    def record(self, values: dict) -> None:
        if not self.enabled:
            return
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(_plain(values)) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                if key not in ("step", "epoch", "split") and isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(f"{values['split']}/{key}", value, values["step"])

    def advance(self, postfix: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


def _plain(values: dict) -> dict:
    """Non-finite floats as strings, so every line is strict JSON."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ValueError("tensorboard=True needs the tensorboard package: pip install tensorboard") from err
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def read_metrics(run_dir: Path) -> list[dict]:
    """The records of RUN_DIR/metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

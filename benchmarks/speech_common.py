"""Shared by the speech benchmarks: manifests written from Python lists, and one function that trains
a recognizer through `rnnkit.tasks.speech.train` (what `rnnkit speech train` runs) and scores it with
several decodings (what `rnnkit speech evaluate` runs)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rnnkit.data.speech import read_manifest  # noqa: E402
from rnnkit.tasks import speech  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def write_manifest(path: Path, entries: list[dict]) -> Path:
    """JSON lines of {"audio_filepath", "text", ...} entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return path


def train_and_score(train: Path, val: Path | None, tests: dict[str, Path], out: Path, data: dict, model: dict, training: dict,
                    decodings: dict[str, speech.Decoding], preset: str = "tiny") -> dict:
    """Train into `out` (replacing an earlier run there) and score every test manifest with every
    decoding; returns {"train_seconds", "steps", "best", test name: {decoding name: metrics}}."""
    import shutil

    if out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    summary = speech.train(str(train), str(val) if val else None, None, speech.SpeechDataConfig(**data), model,
                           {"progress": False, **training}, out, preset)
    result = {"train_seconds": time.perf_counter() - start, "steps": summary["steps"], "best": summary["best"]}
    for name, path in tests.items():
        utterances = read_manifest(path)
        result[name] = {key: speech.evaluate_run(out, utterances, str(path), decoding, "cpu")[0] for key, decoding in decodings.items()}
    return result


def line(name: str, metrics: dict) -> str:
    extra = f", word starts {metrics['start_error_ms_mean']:.0f} ms mean error" if metrics.get("timed_words") else ""
    return (f"{name}: WER {100 * metrics['wer']:.2f}%  CER {100 * metrics['cer']:.2f}%  SER {100 * metrics['ser']:.2f}%  "
            f"({metrics['sentences']} utterances, {metrics['words']} words; RTF {metrics['real_time_factor']:.4f}{extra})")

"""Models side by side: train each named model on the same data, split, seed and budget under the
shared loop, each in its own process and run directory, and put their figures in one table.

A model name is a recurrent cell (`lstm`, `gru`, `rnn`, `lnlstm`, `mingru`, ...: the task's RNN with
that cell), `transformer`, or for forecasting also `segrnn`. Each trains with
`python -m rnnkit TASK train ...`: the task's own flags, then the model's, then the budget, so a
comparison runs exactly what a user would. Figures per model: parameters, the task's metric on
validation and test (from the run's summary.json), training time, tokens per second (median over the
logged windows), the peak memory of its process (resident set, which includes Python and torch),
and for language models the milliseconds per generated token (greedy, batch 1, with the model's own
state or cache).
"""

from __future__ import annotations

import codecs
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.layers import RECURRENT_LAYERS
from rnnkit.training.checkpoint import read_json, write_json
from rnnkit.training.config import UNCAPPED
from rnnkit.training.plots import plot_comparison
from rnnkit.training.runlog import read_metrics


@dataclass(frozen=True)
class TaskFigures:
    """Where a task keeps the figure a comparison ranks by."""

    metric: str                                # its name in the table
    record_key: str                            # its key in the validation records of metrics.jsonl
    better: str                                # "min" or "max"
    val: Callable[[dict], float | None]        # from summary.json
    test: Callable[[dict], float | None]
    rate: str                                  # the table's name for tokens_per_s: valid time steps read per second
    families: tuple[str, ...]                  # model names besides the recurrent cells


def _get(summary: dict, *keys):
    for key in keys:
        if not isinstance(summary, dict) or key not in summary:
            return None
        summary = summary[key]
    return summary


TASKS = {
    "lm": TaskFigures("bits/char", "bits_per_char", "min", lambda s: _get(s, "bits_per_char"),
                      lambda s: _get(s, "test", "bits_per_char"), "tokens/s", ("transformer",)),
    "classify": TaskFigures("accuracy", "accuracy", "max", lambda s: _get(s, "best_val_accuracy"),
                            lambda s: _get(s, "test", "accuracy"), "tokens/s", ("transformer",)),
    "forecast": TaskFigures("MSE (scaled)", "mse", "min", lambda s: _get(s, "best_val_mse"),
                            lambda s: _get(s, "test", "model", "mse_scaled"), "time steps/s", ("transformer", "segrnn")),
}


def model_flags(task: str, name: str) -> list[str]:
    """The task's training flags that select the model `name`."""
    if task not in TASKS:
        raise ValueError(f"compare runs the tasks {', '.join(TASKS)}; got {task!r}")
    if name in TASKS[task].families:
        return ["--model", name]
    if name in RECURRENT_LAYERS:
        return ["--model", "rnn", "--cell", name]
    raise ValueError(f"unknown model {name!r} for {task}: choose from {', '.join([*sorted(RECURRENT_LAYERS), *TASKS[task].families])}")


def parse_models(text: str, task: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError("--models needs at least one model name, e.g. --models lstm,gru,transformer")
    if len(set(names)) != len(names):
        raise ValueError(f"--models names a model twice: {text}")
    for name in names:
        model_flags(task, name)  # raises for unknown names
    return names


@dataclass(frozen=True)
class Budget:
    max_steps: int | None = None
    minutes: float | None = None

    def __post_init__(self) -> None:
        if self.max_steps is None and self.minutes is None:
            raise ValueError("give a budget: --max-steps N, --budget-minutes M, or both")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be at least 1; got {self.max_steps}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"--budget-minutes must be positive; got {self.minutes}")

    def flags(self, task_args: list[str]) -> list[str]:
        """The training flags of the budget. Minutes alone make the time the budget: the step and epoch
        caps of each model's preset are lifted (unless the task's flags give --epochs)."""
        if self.max_steps is not None:
            steps = ["--max-steps", str(self.max_steps)]
        else:
            steps = ["--max-steps", str(UNCAPPED)]
            if not any(arg == "--epochs" or arg.startswith("--epochs=") for arg in task_args):
                steps += ["--epochs", str(UNCAPPED)]
        return steps + ([] if self.minutes is None else ["--max-minutes", str(self.minutes)])


def compare(task: str, models: list[str], task_args: list[str], budget: Budget, out: Path, seed: int = 0,
            params: int | None = None, overwrite: bool = False, generate_tokens: int = 200) -> dict:
    """Train every model in `models` into out/NAME and return {"models": {NAME: figures}, ...}; the
    table, compare.json and the plots are written into `out`."""
    figures = TASKS[task]
    out = Path(out)
    for reserved in ("--out", "--resume", "--model", "--cell", "--params", "--seed", "--max-steps", "--max-minutes"):
        if any(arg == reserved or arg.startswith(reserved + "=") for arg in task_args):
            raise ValueError(f"{reserved} is set by compare itself; leave it out of the task's flags")
    taken = [name for name in models if (out / name / "run.json").exists()]
    if taken and not overwrite:
        raise ValueError(f"{out} already holds runs of {', '.join(taken)}; choose another --out or add --overwrite")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    results, failures = {}, []
    for i, name in enumerate(models, 1):
        argv = [task, "train", *task_args, *model_flags(task, name), *budget.flags(task_args), "--seed", str(seed),
                "--out", str(out / name), *(["--params", str(params)] if params else []), *(["--overwrite"] if overwrite else [])]
        print(f"rnnkit compare: [{i}/{len(models)}] {name}: rnnkit {' '.join(argv)}", file=sys.stderr)
        code, peak, wall = run_child(argv, out / "logs" / f"{name}.txt")
        if code != 0:
            failures.append(name)
            results[name] = {"error": f"training failed (exit code {code}); see {out / 'logs' / f'{name}.txt'}"}
            continue
        results[name] = run_figures(out / name, figures, peak, wall)
        if task == "lm":
            results[name]["generate_ms_per_token"] = generation_ms_per_token(out / name, generate_tokens)
    comparison = {"task": task, "metric": figures.metric, "better": figures.better, "seed": seed, "params": params,
                  "budget": {"max_steps": budget.max_steps, "minutes": budget.minutes}, "task_args": task_args,
                  "models": results, "baselines": baselines(task, out, models, results), "failed": failures}
    (out / "compare.md").write_text(table(comparison) + "\n", encoding="utf-8")
    curves = {name: _curve(out / name, figures.record_key) for name in models if "error" not in results[name]}
    sizes = {name: (r["parameters"], r["val"]) for name, r in results.items() if "error" not in r and r["val"] is not None}
    comparison["plots"] = [str(p) for p in plot_comparison(curves, sizes, figures.metric, out / "plots")]
    write_json(out / "compare.json", comparison)
    return comparison


def run_child(argv: list[str], log: Path) -> tuple[int, int | None, float]:
    """Run `python -m rnnkit ARGV`, its output (stdout and stderr, progress included) shown on stderr
    as it comes and kept in `log`; (exit code, peak resident memory of the process in bytes where
    the OS reports it, seconds)."""
    start = time.perf_counter()
    with open(log, "wb") as keep:
        process = subprocess.Popen([sys.executable, "-m", "rnnkit", *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        text = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a chunk may end inside a character
        while chunk := os.read(process.stdout.fileno(), 4096):
            keep.write(chunk)
            sys.stderr.write(text.decode(chunk))
            sys.stderr.flush()
        process.stdout.close()
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux
        else:
            process.wait()
            peak = None
    return process.returncode, peak, time.perf_counter() - start


def run_figures(run_dir: Path, figures: TaskFigures, peak: int | None, wall: float) -> dict:
    """One model's row: read back from its run directory."""
    summary = read_json(run_dir / "summary.json")
    run = read_json(run_dir / "run.json")
    records = read_metrics(run_dir)
    rates = [r["tokens_per_s"] for r in records if r.get("split") == "train" and _finite(r.get("tokens_per_s"))]
    elapsed = [r["elapsed_s"] for r in records if _finite(r.get("elapsed_s"))]
    return {
        "parameters": run["model"]["parameters"], "model": run["model"]["class"].rsplit(".", 1)[-1],
        "val": figures.val(summary), "test": figures.test(summary), "steps": summary["steps"],
        "stop_reason": summary["stop_reason"], "train_seconds": max(elapsed) if elapsed else None,
        "process_seconds": round(wall, 2), "tokens_per_s": statistics.median(rates) if rates else None,
        "peak_rss_mib": None if peak is None else round(peak / 2**20, 1), "run_dir": str(run_dir),
    }


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _curve(run_dir: Path, key: str) -> list[tuple[float, float]]:
    return [(r["elapsed_s"], r[key]) for r in read_metrics(run_dir)
            if r.get("split") == "val" and _finite(r.get(key)) and _finite(r.get("elapsed_s"))]


@torch.inference_mode()
def generation_ms_per_token(run_dir: Path, tokens: int) -> float:
    """Milliseconds per generated token of a language model run: greedy, batch 1, after a one-token
    prompt, each token one step with the model's carried state (an RNN) or key/value cache (a transformer)."""
    from rnnkit.tasks import lm  # imported here: only language models generate

    model, tokenizer = lm.load_model(run_dir, "cpu")
    stream = lm.generate_ids(model, tokenizer.encode("\n").ids or [1], tokens + 1, temperature=0.0)
    next(stream)  # the prompt is read here
    start = time.perf_counter()
    count = sum(1 for _ in stream)
    return 1000 * (time.perf_counter() - start) / max(count, 1)


def baselines(task: str, out: Path, models: list[str], results: dict) -> dict:
    """Reference figures on the same split: forecasting's linear baseline and persistence (from the
    first run that finished; every forecast run fits them on the same training part)."""
    if task != "forecast":
        return {}
    for name in models:
        if "error" not in results[name]:
            test = _get(read_json(out / name / "summary.json"), "test") or {}
            return {base: {"test": _get(test, base, "mse_scaled")} for base in ("linear", "persistence", "seasonal_naive")
                    if base in test}
    return {}


def table(comparison: dict) -> str:
    """The comparison as a Markdown table, best validation figure first."""
    metric, better = comparison["metric"], comparison["better"]
    rate = TASKS[comparison["task"]].rate
    lm = comparison["task"] == "lm"
    header = ["model", "parameters", f"val {metric}", f"test {metric}", "steps", "train s", rate, "peak RSS MiB"]
    header += ["generate ms/token"] if lm else []
    rows = []
    ranked = sorted(comparison["models"].items(), key=lambda item: _rank(item[1].get("val"), better))
    for name, r in ranked:
        if "error" in r:
            rows.append([name, r["error"]] + [""] * (len(header) - 2))
            continue
        row = [name, f"{r['parameters']:,}", _fmt(r["val"]), _fmt(r["test"]), str(r["steps"]), _fmt(r["train_seconds"], 1),
               _fmt(r["tokens_per_s"], 0, True), _fmt(r["peak_rss_mib"], 0)]
        rows.append(row + ([_fmt(r.get("generate_ms_per_token"), 2)] if lm else []))
    for name, values in comparison.get("baselines", {}).items():
        rows.append([f"{name} (baseline)", "", "", _fmt(values.get("test")), "", "", "", ""])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _rank(value, better: str) -> float:
    if not _finite(value):
        return math.inf
    return value if better == "min" else -value


def _fmt(value, digits: int = 4, thousands: bool = False) -> str:
    if not _finite(value):
        return "—"
    return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"


__all__ = ["TASKS", "Budget", "compare", "model_flags", "parse_models", "table"]

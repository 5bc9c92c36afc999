"""`rnnkit report`: one self-contained HTML page for run directories and compare directories.

The page needs nothing but itself: the figures are PNGs inlined as base64, the style sheet is inline,
there is no script and no link to anything outside the file, so it opens offline, mails as one
attachment and prints. Every string that comes from a run (configuration values, labels, file names,
generated text) is escaped.

For each run: what it is (task, model, versions, when), how it ended (steps, stop reason, time), its
validation and test figures next to the baselines the run holds (forecasting's linear model and
persistence; for a language model the uniform model over its vocabulary), the loss curves, the learning
rate, gradient norm and throughput, every figure the task saved under plots/ (gradient flow, attention
maps, confusion matrices, forecasts, risk curves, transcripts), for a language model a generated sample,
the configuration, and the checkpoints with their size and sha256. Several runs, or a compare directory,
add a comparison table first.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rnnkit.training.checkpoint import read_json
from rnnkit.training.plots import plot_training_dynamics
from rnnkit.training.rundir import package_version
from rnnkit.training.runlog import read_metrics

MAX_FIGURES = 24  # per run: a forecast run may save a plot per series; the rest are named, not inlined


@dataclass
class Run:
    """One run directory as the report reads it."""

    path: Path
    name: str
    info: dict  # run.json
    summary: dict  # summary.json, {} for a run that has none
    records: list[dict]  # metrics.jsonl

    @property
    def task(self) -> str:
        return self.info.get("task") or "?"

    @property
    def parameters(self) -> int | None:
        return self.info.get("model", {}).get("parameters")


def find_runs(paths: list[Path]) -> tuple[list[Run], list[tuple[Path, dict]]]:
    """(the runs, the compare directories among `paths` with their compare.json); a compare directory
    contributes each of its models that trained."""
    runs, comparisons = [], []
    for path in map(Path, paths):
        if (path / "compare.json").is_file():
            comparison = read_json(path / "compare.json")
            comparisons.append((path, comparison))
            for name, figures in comparison.get("models", {}).items():
                if "error" not in figures and (path / name / "run.json").is_file():
                    runs.append(read_run_dir(path / name, name))
        elif (path / "run.json").is_file():
            runs.append(read_run_dir(path, path.name))
        elif not path.exists():
            raise FileNotFoundError(f"{path} does not exist; give a run directory (it holds run.json) or a compare directory")
        else:
            raise ValueError(f"{path} is neither a run directory (no run.json) nor a compare directory (no compare.json)")
    if not runs and not comparisons:
        raise ValueError("no runs to report on")
    names = [run.name for run in runs]
    for run in runs:
        if names.count(run.name) > 1:  # two runs called "lstm" from two compare directories
            run.name = f"{run.path.parent.name}/{run.name}"
    return runs, comparisons


def read_run_dir(path: Path, name: str) -> Run:
    summary = read_json(path / "summary.json") if (path / "summary.json").is_file() else {}
    return Run(path, name, read_json(path / "run.json"), summary, read_metrics(path))


def write_report(paths: list[Path], output: Path | None = None, sample_tokens: int = 300) -> Path:
    """Write the page for `paths` (default file: report.html inside the only directory given, else
    ./report.html) and return where it went."""
    paths = [Path(p) for p in paths]
    if output is None:
        output = (paths[0] / "report.html") if len(paths) == 1 else Path("report.html")
    page = render(paths, sample_tokens)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(output)
    return output


def render(paths: list[Path], sample_tokens: int = 300) -> str:
    runs, comparisons = find_runs(paths)
    parts = [f"<h1>rnnkit report</h1><p class=meta>{esc(', '.join(str(p) for p in paths))} &middot; written "
             f"{esc(time.strftime('%Y-%m-%d %H:%M:%S %Z'))} by rnnkit {esc(package_version())}, Python {esc(platform.python_version())}</p>"]
    for path, comparison in comparisons:
        parts.append(comparison_section(path, comparison))
    if len(runs) > 1 and not (len(comparisons) == 1 and len(runs) == len(comparisons[0][1].get("models", {}))):
        parts.append(runs_table(runs))
    if len(runs) > 1:
        parts.append("<nav><b>runs:</b> " + " &middot; ".join(f'<a href="#run-{i}">{esc(r.name)}</a>' for i, r in enumerate(runs)) + "</nav>")
    parts.extend(run_section(i, run, sample_tokens) for i, run in enumerate(runs))
    return PAGE.format(title=esc("rnnkit report: " + ", ".join(r.name for r in runs) if runs else "rnnkit report"),
                       body="\n".join(parts))


# -- sections -----------------------------------------------------------------------------------------
def comparison_section(path: Path, comparison: dict) -> str:
    metric, better = comparison.get("metric", "metric"), comparison.get("better", "min")
    columns = [("parameters", "parameters"), ("val", f"val {metric}"), ("test", f"test {metric}"), ("steps", "steps"),
               ("train_seconds", "train s"), ("tokens_per_s", "tokens/s"), ("peak_rss_mib", "peak RSS MiB"),
               ("generate_ms_per_token", "generate ms/token")]
    models = comparison.get("models", {})
    columns = [c for c in columns if any(c[0] in figures for figures in models.values())]
    values = [figures.get("val") for figures in models.values() if _finite(figures.get("val"))]
    best = (min if better == "min" else max)(values) if values else None
    rows = []
    for name, figures in models.items():
        if "error" in figures:
            rows.append(f"<tr><th>{esc(name)}</th><td colspan={len(columns)} class=bad>{esc(figures['error'])}</td></tr>")
            continue
        cells = "".join(f"<td{' class=best' if key == 'val' and figures.get(key) == best else ''}>{fmt(figures.get(key))}</td>"
                        for key, _ in columns)
        rows.append(f"<tr><th>{esc(name)}</th>{cells}</tr>")
    for name, value in comparison.get("baselines", {}).items():
        rows.append(f"<tr class=baseline><th>{esc(name)} (baseline)</th>" + "".join(
            f"<td>{fmt(value) if key == 'test' else ''}</td>" for key, _ in columns) + "</tr>")
    budget = comparison.get("budget", {})
    said = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in budget.items() if v is not None)
    head = "".join(f"<th>{esc(label)}</th>" for _, label in columns)
    plots = "".join(figure(p) for p in sorted((path / "plots").glob("*.png")))
    flags = " ".join(comparison.get("task_args", []))
    return (f'<section id=comparison><h2>Comparison: {esc(comparison.get("task", "?"))} in {esc(path)}</h2>'
            f"<p>Each model trained in its own process on the same data and seed ({esc(comparison.get('seed'))}); budget: "
            f"{esc(said or '?')}; sized to {fmt(comparison.get('params')) if comparison.get('params') else 'their own sizes'} "
            f"parameters; {esc(better)}imum {esc(metric)} is best (bold). Task flags: <code>{esc(flags or '(none)')}</code></p>"
            f"<table><tr><th>model</th>{head}</tr>{''.join(rows)}</table><div class=figures>{plots}</div></section>")


def runs_table(runs: list[Run]) -> str:
    rows = []
    for i, run in enumerate(runs):
        val, test = headline(run)
        rows.append(f'<tr><th><a href="#run-{i}">{esc(run.name)}</a></th><td>{esc(run.task)}</td><td>{esc(model_name(run))}</td>'
                    f"<td>{fmt(run.parameters)}</td><td>{fmt(run.summary.get('steps'))}</td><td>{esc(run.summary.get('stop_reason', ''))}</td>"
                    f"<td>{esc(val)}</td><td>{esc(test)}</td></tr>")
    return ("<section id=runs><h2>Runs</h2><table><tr><th>run</th><th>task</th><th>model</th><th>parameters</th><th>steps</th>"
            f"<th>stopped</th><th>validation</th><th>test</th></tr>{''.join(rows)}</table></section>")


def run_section(index: int, run: Run, sample_tokens: int) -> str:
    info, summary = run.info, run.summary
    elapsed = summary.get("elapsed_s") or next((r["elapsed_s"] for r in reversed(run.records) if _finite(r.get("elapsed_s"))), None)
    facts = {"directory": str(run.path), "task": run.task, "model": model_name(run), "parameters": fmt(run.parameters),
             "created": info.get("created"), "rnnkit": info.get("rnnkit_version"), "torch": info.get("torch_version"),
             "steps": fmt(summary.get("steps")), "stopped because": summary.get("stop_reason"),
             "training time": f"{elapsed / 60:.1f} min" if _finite(elapsed) else None,
             "seed": info.get("training", {}).get("seed")}
    parts = [f'<section id="run-{index}" class=run><h2>{esc(run.name)}</h2>', definition_list(facts),
             "<h3>Results</h3>", results_table(run), "<h3>Training</h3>", training_figures(run)]
    task_figures = [p for p in sorted((run.path / "plots").glob("*.png")) if p.name != "loss.png"]
    if task_figures:
        shown = "".join(figure(p) for p in task_figures[:MAX_FIGURES])
        more = len(task_figures) - MAX_FIGURES
        note = f"<p class=meta>{more} more in {esc(run.path / 'plots')}</p>" if more > 0 else ""
        parts.append(f"<h3>Figures</h3><div class=figures>{shown}</div>{note}")
    if run.task == "lm" and sample_tokens:
        parts.append(lm_sample(run, sample_tokens))
    parts.append("<h3>Configuration</h3>" + configuration(run))
    parts.append("<h3>Checkpoints</h3>" + checkpoints(run))
    return "".join(parts) + "</section>"


def results_table(run: Run) -> str:
    """Every figure of summary.json (validation at the top level, test under "test", baselines as
    nested tables), or the last validation record for a run without one."""
    figures = {k: v for k, v in run.summary.items() if k not in ("steps", "stop_reason", "step", "elapsed_s")}
    if not figures:
        val = [r for r in run.records if r.get("split") == "val"]
        figures = {k: v for k, v in val[-1].items() if k not in ("split", "epoch")} if val else {}
    if run.task == "lm":
        vocab = run.info.get("model", {}).get("config", {}).get("vocab_size")
        tokenizer = _json(run.path / "lm.json").get("data", {}).get("tokenizer")
        if vocab:  # a uniform guess over the vocabulary; bits per character only when a token is a character
            figures["uniform model (baseline)"] = {"loss": math.log(vocab), **({"bits_per_char": math.log2(vocab)}
                                                                              if tokenizer == "char" else {})}
    if not figures:
        return "<p class=meta>no figures: the run stopped before its first evaluation</p>"
    return nested_table(figures)


def training_figures(run: Run) -> str:
    images = []
    if (run.path / "plots" / "loss.png").is_file():
        images.append(figure(run.path / "plots" / "loss.png", "training and validation loss"))
    with tempfile.TemporaryDirectory() as scratch:
        drawn = plot_training_dynamics(run.records, Path(scratch) / "dynamics.png")
        if drawn is not None:
            images.append(figure(drawn, "learning rate, gradient norm and throughput"))
    clip = [r["clip_rate"] for r in run.records if r.get("split") == "train" and _finite(r.get("clip_rate"))]
    note = f"<p>Updates clipped: {100 * sum(clip) / len(clip):.1f}% of logged windows' steps.</p>" if clip else ""
    return (f"<div class=figures>{''.join(images)}</div>{note}" if images or note
            else "<p class=meta>no training records (metrics.jsonl)</p>")


def lm_sample(run: Run, tokens: int) -> str:
    from rnnkit.tasks import lm  # only language models generate

    try:
        text = "".join(lm.generate(run.path, "", max_tokens=tokens, temperature=0.8, seed=0, device_name="cpu"))
    except Exception as error:  # a sample is a courtesy; the report still stands without it
        return f"<h3>Sample</h3><p class=bad>could not generate: {esc(error)}</p>"
    return (f"<h3>Sample</h3><p class=meta>{tokens} tokens after a newline, temperature 0.8, seed 0 "
            f"(<code>rnnkit lm generate {esc(run.path)} --seed 0</code>)</p><pre>{esc(text)}</pre>")


def configuration(run: Run) -> str:
    sections = {"model": run.info.get("model", {}).get("config", {}), "training": run.info.get("training", {})}
    for path in sorted(run.path.glob("*.json")):
        if path.name not in ("run.json", "summary.json") and not path.name.startswith("vocab"):
            value = _json(path)
            if value and len(json.dumps(value)) < 20_000:  # label maps and scalers can be long
                sections[path.stem] = value
    return "".join(f"<details{' open' if name == 'model' else ''}><summary>{esc(name)}</summary>{nested_table(value)}</details>"
                   for name, value in sections.items() if value)


def checkpoints(run: Run) -> str:
    rows = []
    for folder in ("best", "last"):
        for path in sorted((run.path / folder).glob("*.safetensors")):
            rows.append(f"<tr><td>{esc(f'{folder}/{path.name}')}</td><td>{path.stat().st_size / 2**20:.2f} MiB</td>"
                        f"<td><code>{sha256(path)}</code></td></tr>")
    if not rows:
        return "<p class=meta>no checkpoints</p>"
    return f"<table><tr><th>file</th><th>size</th><th>sha256</th></tr>{''.join(rows)}</table>"


# -- pieces -------------------------------------------------------------------------------------------
def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return esc(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return esc(value)
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return esc(value)


def definition_list(facts: dict) -> str:
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{v if k in ('parameters', 'steps') else esc(v)}</dd>"
                            for k, v in facts.items() if v not in (None, "")) + "</dl>"


def nested_table(value: dict) -> str:
    rows = []
    for key, item in value.items():
        if isinstance(item, dict) and item:
            cell = nested_table(item)
        elif isinstance(item, list) and len(item) > 12:
            cell = esc(json.dumps(item[:12])[:-1] + f", ... ({len(item)} in all)]")
        elif isinstance(item, (list, dict)):
            cell = esc(json.dumps(item))
        else:
            cell = fmt(item)
        rows.append(f"<tr><th>{esc(key)}</th><td>{cell}</td></tr>")
    return f"<table class=kv>{''.join(rows)}</table>"


def figure(path: Path, caption: str | None = None) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    caption = caption or Path(path).stem.replace("_", " ")
    return (f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def headline(run: Run) -> tuple[str, str]:
    """A run's validation and test figures in a few words, for the runs table."""
    summary = run.summary
    picks = ("bits_per_char", "accuracy", "wer", "bleu", "mse_scaled", "mse", "auroc", "loss")

    def pick(figures: dict) -> str:
        if isinstance(figures.get("model"), dict):
            figures = figures["model"]
        for key in picks:
            if _finite(figures.get(key)):
                return f"{key} {fmt(figures[key])}"
        return ""

    return pick(summary), pick(summary.get("test") or {})


def model_name(run: Run) -> str:
    model = run.info.get("model", {})
    name = str(model.get("class", "?")).rsplit(".", 1)[-1]
    cell = model.get("config", {}).get("cell")
    return f"{name} ({cell})" if isinstance(cell, str) else name


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _json(path: Path) -> dict:
    try:
        value = read_json(path)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }}
h1 {{ margin-bottom: 0; }} h2 {{ border-bottom: 2px solid #ccd; padding-bottom: .2em; margin-top: 2em; }}
.meta {{ color: #667; }} .bad {{ color: #a00; }} .best {{ font-weight: bold; }} .baseline {{ color: #556; font-style: italic; }}
table {{ border-collapse: collapse; margin: .5em 0; }} th, td {{ border: 1px solid #dde; padding: .25em .6em; text-align: left; vertical-align: top; }}
tr:nth-child(even) {{ background: #f6f7fb; }} td {{ font-variant-numeric: tabular-nums; }}
table.kv table.kv {{ margin: 0; }} dl {{ display: grid; grid-template-columns: max-content auto; gap: .1em 1em; }}
dt {{ color: #667; }} dd {{ margin: 0; }} pre {{ background: #f6f7fb; padding: .8em; white-space: pre-wrap; }}
.figures {{ display: flex; flex-wrap: wrap; gap: 1em; }} figure {{ margin: 0; max-width: 100%; }}
figure img {{ max-width: 100%; border: 1px solid #eee; }} figcaption {{ color: #667; font-size: 12px; }}
nav {{ margin: 1em 0; }} details {{ margin: .3em 0; }} summary {{ cursor: pointer; font-weight: 600; }}
@media print {{ .run {{ break-before: page; }} details {{ display: block; }} }}
</style></head>
<body>
{body}
</body></html>
"""

__all__ = ["find_runs", "render", "write_report"]

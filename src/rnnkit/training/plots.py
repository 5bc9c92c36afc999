"""Plots a run saves under RUN_DIR/plots: loss curves, gradient flow, confusion matrices and forecasts
(matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_losses(records: list[dict], path: Path) -> Path | None:
    """Training and validation loss against the step; None when there is nothing to draw."""
    train = [(r["step"], r["loss"]) for r in records if r.get("split") == "train" and isinstance(r.get("loss"), float)]
    val = [(r["step"], r["loss"]) for r in records if r.get("split") == "val" and isinstance(r.get("loss"), float)]
    if not train and not val:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for points, label, style in ((train, "train", "-"), (val, "validation", "o-")):
        if points:
            ax.plot(*zip(*points), style, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, plt, path)


def plot_gradient_flow(norms: dict[str, list[float]], path: Path, title: str = "") -> Path:
    """||dL/dh_t|| against the time step t, one line per recurrent layer, on a log scale."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in norms.items():
        ax.plot(range(1, len(values) + 1), [max(v, 1e-30) for v in values], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title(title or "gradient flow through time")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, plt, path)


def _save(fig, plt, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(matrix: list[list[int]], class_names: list[str], path: Path, title: str = "") -> Path:
    """The confusion matrix as a heat map with counts (rows: true class, columns: predicted)."""
    plt = _pyplot()
    size = max(4.0, 0.6 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    fig.colorbar(image, ax=ax)
    return _save(fig, plt, path)


def plot_forecast(past_x, past_y, future_x, lines: dict, interval, path: Path, truth=None, title: str = "") -> Path:
    """History, then one line per forecast in `lines` (the first drawn boldest), the prediction
    interval (lower, upper) as a band and, when known, the true future values."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(past_x, past_y, color="black", linewidth=1, label="history")
    if truth is not None:
        ax.plot(future_x, truth, color="black", linestyle=":", linewidth=1.2, label="actual")
    if interval is not None:
        ax.fill_between(future_x, interval[0], interval[1], color="tab:blue", alpha=0.2, label="interval")
    for i, (name, values) in enumerate(lines.items()):
        ax.plot(future_x, values, linewidth=2 if i == 0 else 1, alpha=1 if i == 0 else 0.7, label=name)
    ax.set_title(title or "forecast")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return _save(fig, plt, path)


def plot_attention(weights, source: list[str], target: list[str], path: Path, title: str = "") -> Path:
    """An attention map: one row per target token, one column per source token, darker = more weight."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(source) + 2), max(3.0, 0.35 * len(target) + 1.5)))
    image = ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), source, rotation=60, ha="right")
    ax.set_yticks(range(len(target)), target)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    ax.set_title(title or "attention")
    fig.colorbar(image, ax=ax)
    return _save(fig, plt, path)


def plot_transcript(features, posteriors, words: list[dict], hop_seconds: float, frame_seconds: float, path: Path,
                    title: str = "") -> Path:
    """A recognised clip: its features (frames x features) with each word's span marked, and below
    them the CTC posteriors per output frame (blank and the best other unit)."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    seconds = features.shape[0] * hop_seconds
    top.imshow(features.T, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, features.shape[1]))
    for word in words:
        top.axvspan(word["start"], word["end"], color="white", alpha=0.18)
        top.text((word["start"] + word["end"]) / 2, features.shape[1] * 0.92, word["word"], color="white",
                 ha="center", va="top", fontsize=10, weight="bold")
    top.set_ylabel("feature")
    top.set_title(title or "recognised words over the features")
    times = [(i + 0.5) * frame_seconds for i in range(posteriors.shape[0])]
    bottom.plot(times, posteriors[:, 0], label="blank", color="0.5")
    bottom.plot(times, posteriors[:, 1:].max(axis=1), label="best unit", color="tab:red")
    bottom.set_ylim(0, 1.02)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("posterior")
    bottom.legend(loc="upper right", fontsize=8)
    return _save(fig, plt, path)


def plot_decays(hours, curves: dict[str, list[float]], path: Path, label_top: int = 8) -> Path:
    """GRU-D's learned input decays, gamma_x against the hours since a variable was observed (Che et
    al. 2018, Fig. 4): the `label_top` fastest-decaying variables named, the rest in grey."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ranked = sorted(curves, key=lambda n: curves[n][-1])
    for rank, name in enumerate(ranked):
        if rank < label_top:
            ax.plot(hours, curves[name], label=name, lw=1.8)
        else:
            ax.plot(hours, curves[name], color="0.75", lw=0.8)
    ax.set_xlabel("hours since last observed")
    ax.set_ylabel("input decay (1: last value kept, 0: training mean)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    return _save(fig, plt, path)


def plot_reliability(lines: dict[str, list[dict]], path: Path, title: str = "") -> Path:
    """Observed outcome frequency against mean predicted risk per bin, one line per model; marker
    area follows the bin's count."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ":", color="0.5", label="perfect calibration")
    for name, table in lines.items():
        counts = [row["count"] for row in table]
        ax.plot([r["predicted"] for r in table], [r["observed"] for r in table], "-", label=name)
        ax.scatter([r["predicted"] for r in table], [r["observed"] for r in table], s=[10 + 200 * c / max(counts) for c in counts])
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, plt, path)


def plot_risk_over_time(series: dict[str, tuple[list[float], list[float]]], path: Path, title: str = "") -> Path:
    """Risk after every step of each stay: {stay id: (hours, risks)}, one panel per stay."""
    plt = _pyplot()
    n = len(series)
    fig, axes = plt.subplots(n, 1, figsize=(7, 1.6 * n + 0.6), sharex=True, squeeze=False)
    for ax, (name, (hours, risks)) in zip(axes[:, 0], series.items()):
        ax.step(hours, risks, where="post")
        ax.set_ylim(0, 1)
        ax.set_ylabel("risk")
        ax.set_title(str(name), fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("hours since admission")
    fig.suptitle(title)
    return _save(fig, plt, path)


def plot_metric_curve(xs, lines: dict[str, list[float]], xlabel: str, ylabel: str, path: Path) -> Path:
    """One or more metrics against x (e.g. AUROC against hours of data seen)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in lines.items():
        ax.plot(xs, ys, "o-", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, plt, path)


def plot_anomalies(times, values, scores, threshold: float, flags, path: Path, name: str = "", labels=None) -> Path:
    """The series with flagged rows marked (and labelled anomalies shaded), and the score against
    the threshold below it."""
    import numpy as np

    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), sharex=True, height_ratios=(2, 1))
    times, values, scores, flags = np.asarray(times), np.asarray(values), np.asarray(scores), np.asarray(flags, dtype=bool)
    top.plot(times, values, lw=0.7)
    top.plot(times[flags], values[flags], "o", color="tab:red", ms=3, label="flagged")
    if labels is not None:
        marked = np.asarray(labels) > 0
        top.plot(times[marked], values[marked], "s", mfc="none", color="black", ms=5, label="labelled anomaly")
    top.set_ylabel(name)
    top.legend(fontsize=8)
    bottom.plot(times, scores, lw=0.7, color="tab:purple")
    bottom.axhline(threshold, color="tab:red", ls=":", label=f"threshold {threshold:.3g}")
    bottom.set_yscale("log")
    bottom.set_ylabel("score")
    bottom.legend(fontsize=8)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def plot_regularity(clips: list[dict], path: Path, columns: int = 4) -> Path:
    """One panel per clip: the regularity score over its frames, labelled anomalous frames shaded.
    Each clip is {"name", "regularity": [...], "labels": [...] or None}."""
    import math

    import numpy as np

    plt = _pyplot()
    rows = max(1, math.ceil(len(clips) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.2 * rows), squeeze=False, sharey=True)
    for ax, clip in zip(axes.ravel(), clips):
        score = np.asarray(clip["regularity"], dtype=float)
        ax.plot(np.arange(len(score)), score, lw=1.2)
        if clip.get("labels") is not None:
            for t, flag in enumerate(clip["labels"]):
                if flag:
                    ax.axvspan(t - 0.5, t + 0.5, color="tab:red", alpha=0.15, lw=0)
        ax.set_title(clip["name"], fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(clips):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("regularity")
    return _save(fig, plt, path)


def plot_comparison(curves: dict[str, list[tuple[float, float]]], sizes: dict[str, tuple[int, float]], metric: str,
                    directory: Path) -> list[Path]:
    """Two plots of a comparison: the validation metric against wall-clock training time, one line per
    model (vs_time.png), and each model's final figure against its parameter count (vs_params.png)."""
    plt = _pyplot()
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, points in curves.items():
        if points:
            ax.plot(*zip(*points), "o-", label=name, markersize=3)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(f"validation {metric}")
    ax.grid(alpha=0.3)
    ax.legend()
    paths.append(_save(fig, plt, Path(directory) / "vs_time.png"))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (params, value) in sizes.items():
        ax.scatter([params], [value], label=name)
        ax.annotate(name, (params, value), textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel(f"validation {metric}")
    ax.grid(alpha=0.3, which="both")
    paths.append(_save(fig, plt, Path(directory) / "vs_params.png"))
    return paths


def plot_training_dynamics(records: list[dict], path: Path) -> Path | None:
    """The learning rate, the gradient norm (before clipping, with the fraction of clipped updates) and
    the throughput against the step, from the train records; None when there are none."""
    train = [r for r in records if r.get("split") == "train" and isinstance(r.get("step"), int)]
    if not train:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    steps = [r["step"] for r in train]
    panels = (("lr", "learning rate", False), ("grad_norm", "gradient norm (before clipping)", True),
              ("tokens_per_s", "tokens per second", False))
    for ax, (key, label, log) in zip(axes, panels):
        points = [(s, r[key]) for s, r in zip(steps, train) if isinstance(r.get(key), (int, float))]
        if points:
            ax.plot(*zip(*points), lw=1)
        if log and points and min(v for _, v in points) > 0:
            ax.set_yscale("log")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    clipped = [(s, r["clip_rate"]) for s, r in zip(steps, train) if isinstance(r.get("clip_rate"), (int, float))]
    if clipped and any(v > 0 for _, v in clipped):
        twin = axes[1].twinx()
        twin.plot(*zip(*clipped), color="tab:red", lw=0.8, alpha=0.6)
        twin.set_ylabel("fraction clipped", color="tab:red")
        twin.set_ylim(0, 1.05)
    return _save(fig, plt, path)

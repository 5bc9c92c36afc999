"""Plots a run saves under RUN_DIR/plots: loss curves and gradient flow (matplotlib, no display)."""

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

"""Metrics of predicted risks (probabilities of a binary outcome): ranking (AUROC, average
precision, i.e. the area under the precision-recall curve as scikit-learn computes it),
calibration (Brier score, expected calibration error and its reliability table), and sensitivity,
specificity and F1 at a threshold."""

from __future__ import annotations

import numpy as np


def _check(targets, scores) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(targets, dtype=np.float64).ravel(), np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"targets and scores must have one entry each per example; got {y.shape} and {p.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("targets must be 0 or 1")
    if not np.isfinite(p).all():
        raise ValueError("scores must be finite")
    return y, p


def auroc(targets, scores) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative, ties
    counting one half (Mann-Whitney U with average ranks). NaN when one class is absent."""
    y, p = _check(targets, scores)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_p = p[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_p)) + 1]
    ends = np.r_[starts[1:], len(p)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2  # average 1-based rank of a tie group
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _by_threshold(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct score, high to low: (that score, flagged count, true positives) when
    everything scoring at least that much is flagged."""
    order = np.argsort(-p, kind="mergesort")
    y, p = y[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]  # last index of each distinct score
    return p[last], last + 1, np.cumsum(y)[last]


def average_precision(targets, scores) -> float:
    """Sum over thresholds (distinct scores, high to low) of (recall gain) x precision."""
    y, p = _check(targets, scores)
    if y.sum() == 0:
        return float("nan")
    _, flagged, tp = _by_threshold(y, p)
    precision, recall = tp / flagged, tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier(targets, scores) -> float:
    y, p = _check(targets, scores)
    return float(np.mean((p - y) ** 2))


def reliability(targets, scores, bins: int = 10) -> list[dict]:
    """Equal-width bins of the predicted risk: each with its range, count, mean predicted risk and
    observed frequency of the outcome (empty bins left out)."""
    y, p = _check(targets, scores)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    table = []
    for b in range(bins):
        inside = index == b
        if inside.any():
            table.append({"low": b / bins, "high": (b + 1) / bins, "count": int(inside.sum()),
                          "predicted": float(p[inside].mean()), "observed": float(y[inside].mean())})
    return table


def expected_calibration_error(targets, scores, bins: int = 10) -> float:
    """Sum over equal-width bins of (bin share) x |observed frequency - mean predicted risk|."""
    table = reliability(targets, scores, bins)
    total = sum(row["count"] for row in table)
    return float(sum(row["count"] / total * abs(row["observed"] - row["predicted"]) for row in table))


def at_threshold(targets, scores, threshold: float) -> dict:
    """Sensitivity (recall), specificity, precision and F1 when risk >= threshold counts as positive."""
    y, p = _check(targets, scores)
    flagged = p >= threshold
    tp, fp = float((flagged & (y == 1)).sum()), float((flagged & (y == 0)).sum())
    fn, tn = float((~flagged & (y == 1)).sum()), float((~flagged & (y == 0)).sum())
    ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {"threshold": threshold, "sensitivity": recall, "specificity": ratio(tn, tn + fp), "precision": precision,
            "f1": ratio(2 * tp, 2 * tp + fp + fn)}


def best_f1(targets, scores) -> dict:
    """The threshold (among the scores) with the highest F1, and that F1."""
    y, p = _check(targets, scores)
    thresholds, flagged, tp = _by_threshold(y, p)
    f1 = 2 * tp / (flagged + y.sum())
    best = int(np.argmax(f1)) if len(f1) else 0
    return {"threshold": float(thresholds[best]), "f1": float(f1[best]) if y.sum() else float("nan")}


def risk_metrics(targets, scores, threshold: float = 0.5, bins: int = 10) -> dict:
    """Everything above in one dictionary."""
    return {"auroc": auroc(targets, scores), "auprc": average_precision(targets, scores), "brier": brier(targets, scores),
            "ece": expected_calibration_error(targets, scores, bins), **at_threshold(targets, scores, threshold),
            "positives": int(np.sum(targets)), "count": int(np.size(targets))}

"""Metrics. Classification, from predicted and true class indices: accuracy, macro-F1, per-class
precision / recall / F1 / support and the confusion matrix (rows: true class, columns: predicted).
Forecasting, accumulated over batches of forecasts: MSE, MAE, MAPE, sMAPE and interval coverage."""

from __future__ import annotations

import torch
from torch import Tensor


def confusion_matrix(targets: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    index = targets.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def classification_metrics(targets: Tensor, predictions: Tensor, class_names: list[str]) -> dict:
    """{"accuracy", "macro_f1", "per_class": {name: {precision, recall, f1, support}}, "confusion"}."""
    matrix = confusion_matrix(targets, predictions, len(class_names)).double()
    true_positive = matrix.diag()
    predicted, actual = matrix.sum(0), matrix.sum(1)
    precision = torch.where(predicted > 0, true_positive / predicted.clamp(min=1), torch.zeros_like(true_positive))
    recall = torch.where(actual > 0, true_positive / actual.clamp(min=1), torch.zeros_like(true_positive))
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), torch.zeros_like(precision))
    present = actual > 0  # classes absent from the targets do not count towards the macro average
    return {
        "accuracy": float(true_positive.sum() / matrix.sum().clamp(min=1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(actual[i])}
            for i, name in enumerate(class_names)
        },
        "confusion": matrix.long().tolist(),
    }


class ErrorSums:
    """Running sums for forecast errors over any number of batches (tensors of one shape each call).

    MAPE counts only targets with |y| > eps (undefined at zero) and is None when there are none;
    sMAPE = mean 2|y_hat - y| / (|y| + |y_hat|) over targets where that denominator is not 0.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = eps
        self.sums = {"se": 0.0, "ae": 0.0, "ape": 0.0, "sape": 0.0, "covered": 0.0}
        self.counts = {"n": 0, "ape": 0, "sape": 0, "interval": 0}

    def add(self, prediction: Tensor, target: Tensor, lower: Tensor | None = None, upper: Tensor | None = None) -> None:
        prediction, target = prediction.double(), target.double()
        error = prediction - target
        self.sums["se"] += float((error**2).sum())
        self.sums["ae"] += float(error.abs().sum())
        self.counts["n"] += target.numel()
        defined = target.abs() > self.eps
        self.sums["ape"] += float((error.abs()[defined] / target.abs()[defined]).sum())
        self.counts["ape"] += int(defined.sum())
        denominator = target.abs() + prediction.abs()
        defined = denominator > self.eps
        self.sums["sape"] += float((2 * error.abs()[defined] / denominator[defined]).sum())
        self.counts["sape"] += int(defined.sum())
        if lower is not None and upper is not None:
            self.sums["covered"] += float(((target >= lower.double()) & (target <= upper.double())).sum())
            self.counts["interval"] += target.numel()

    def result(self) -> dict:
        n = max(self.counts["n"], 1)
        out = {"mse": self.sums["se"] / n, "mae": self.sums["ae"] / n,
               "mape": self.sums["ape"] / self.counts["ape"] if self.counts["ape"] else None,
               "smape": self.sums["sape"] / self.counts["sape"] if self.counts["sape"] else None}
        if self.counts["interval"]:
            out["coverage"] = self.sums["covered"] / self.counts["interval"]
        return out

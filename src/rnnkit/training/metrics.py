"""Classification metrics from predicted and true class indices: accuracy, macro-F1, per-class
precision / recall / F1 / support and the confusion matrix (rows: true class, columns: predicted)."""

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

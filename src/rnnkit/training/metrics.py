"""Metrics. Classification, from predicted and true class indices: accuracy, macro-F1, per-class
precision / recall / F1 / support and the confusion matrix (rows: true class, columns: predicted).
Forecasting, accumulated over batches of forecasts: MSE, MAE, MAPE, sMAPE and interval coverage.
Speech recognition: word, character and sentence error rates from a Levenshtein alignment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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


# -- error rates ------------------------------------------------------------------------------------
@dataclass
class Edits:
    """A minimum-edit alignment of a hypothesis to a reference: counts, and the (reference index,
    hypothesis index) pairs that match."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0
    matches: list[tuple[int, int]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def align_edits(reference: Sequence, hypothesis: Sequence) -> Edits:
    """Levenshtein alignment (unit costs) of two sequences, with one optimal path traced back."""
    n, m = len(reference), len(hypothesis)
    cost = [list(range(m + 1))] + [[i] + [0] * m for i in range(1, n + 1)]
    for i in range(1, n + 1):
        row, above, ref = cost[i], cost[i - 1], reference[i - 1]
        for j in range(1, m + 1):
            row[j] = min(above[j - 1] + (ref != hypothesis[j - 1]), above[j] + 1, row[j - 1] + 1)
    edits, i, j = Edits(), n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (reference[i - 1] != hypothesis[j - 1]):
            if reference[i - 1] == hypothesis[j - 1]:
                edits.hits += 1
                edits.matches.append((i - 1, j - 1))
            else:
                edits.substitutions += 1
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            edits.deletions, i = edits.deletions + 1, i - 1
        else:
            edits.insertions, j = edits.insertions + 1, j - 1
    edits.matches.reverse()
    return edits


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> dict:
    """Corpus-level WER, CER and SER: total edits over the total reference length (not a mean of
    per-sentence rates). Words are split on whitespace; characters are those of the words joined by
    single spaces, spaces counted. With no reference words the rate is the number of insertions (as
    jiwer gives it). Normalise both sides the same way before calling."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    totals = {"word": [0, 0, 0, 0], "char": [0, 0, 0, 0]}  # S, D, I, reference length
    wrong = 0
    for ref, hyp in zip(references, hypotheses):
        ref_words, hyp_words = ref.split(), hyp.split()
        for unit, (a, b) in (("word", (ref_words, hyp_words)), ("char", (" ".join(ref_words), " ".join(hyp_words)))):
            edits = align_edits(a, b)
            for k, value in enumerate((edits.substitutions, edits.deletions, edits.insertions, len(a))):
                totals[unit][k] += value
        wrong += ref_words != hyp_words
    out = {}
    for unit, (s, d, i, length) in totals.items():
        out[f"{unit[0]}er"] = (s + d + i) / length if length else float(s + d + i)
        out[f"{unit}s"] = length
        out[f"{unit}_substitutions"], out[f"{unit}_deletions"], out[f"{unit}_insertions"] = s, d, i
    out["ser"] = wrong / len(references) if references else 0.0
    out["sentences"], out["sentence_errors"] = len(references), wrong
    return out

"""L2-regularised logistic regression fitted by L-BFGS: the baseline every clinical risk model is
printed next to. The objective is scikit-learn's, 0.5 |w|^2 + C * sum of log-losses (intercept not
penalised), on features standardised with the training mean and std."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class LogisticRegression:
    """Fitted weights (F,), intercept, and the standardisation of the features."""

    weight: list[float]
    intercept: float
    mean: list[float]
    std: list[float]
    C: float = 0.1

    @classmethod
    def fit(cls, features: Tensor, targets: Tensor, C: float = 0.1, max_iter: int = 500) -> LogisticRegression:
        """features (N, F), targets (N,) in {0, 1}."""
        if features.dim() != 2 or targets.shape != (features.shape[0],):
            raise ValueError(f"features must be (N, F) and targets (N,); got {tuple(features.shape)} and {tuple(targets.shape)}")
        if not C > 0:
            raise ValueError(f"C must be positive; got {C}")
        x = features.double()
        mean, std = x.mean(0), x.std(0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))
        x, y = (x - mean) / std, targets.double()
        w = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([w], lr=1, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-12,
                                      history_size=20, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            logits = x @ w[:-1] + w[-1]
            loss = 0.5 * (w[:-1] ** 2).sum() + C * F.binary_cross_entropy_with_logits(logits, y, reduction="sum")
            loss.backward()
            return loss

        optimizer.step(closure)
        w = w.detach()
        return cls(w[:-1].tolist(), float(w[-1]), mean.tolist(), std.tolist(), C)

    def predict(self, features: Tensor) -> Tensor:
        """(N, F) -> probabilities (N,)."""
        if features.dim() != 2 or features.shape[1] != len(self.weight):
            raise ValueError(f"features must be (N, {len(self.weight)}); got {tuple(features.shape)}")
        x = (features.double() - torch.tensor(self.mean, dtype=torch.float64)) / torch.tensor(self.std, dtype=torch.float64)
        return torch.sigmoid(x @ torch.tensor(self.weight, dtype=torch.float64) + self.intercept).float()

    def to_dict(self) -> dict:
        return {"weight": self.weight, "intercept": self.intercept, "mean": self.mean, "std": self.std, "C": self.C}

    @classmethod
    def from_dict(cls, data: dict) -> LogisticRegression:
        return cls(**data)

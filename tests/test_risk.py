"""Risk metrics against hand-computed cases and scikit-learn (when installed), and the logistic-
regression baseline against scikit-learn's solution of the same objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnkit.training.risk as risk
from rnnkit.models.logistic import LogisticRegression


def test_hand_computed_cases():
    y, p = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    assert risk.auroc(y, p) == 0.75  # 3 of the 4 positive-negative pairs ordered right
    assert risk.auroc([0, 1], [0.3, 0.3]) == 0.5  # a tie counts one half
    assert risk.average_precision(y, p) == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))
    assert risk.brier(y, p) == pytest.approx(np.mean([0.01, 0.16, 0.4225, 0.04]))
    cut = risk.at_threshold(y, p, 0.3)
    assert (cut["sensitivity"], cut["specificity"], cut["precision"]) == (1.0, 0.5, 2 / 3)
    assert risk.best_f1(y, p) == {"threshold": 0.35, "f1": pytest.approx(0.8)}
    assert np.isnan(risk.auroc([1, 1], [0.2, 0.4]))


def test_calibration_error_and_reliability_table():
    y = [0, 1, 1, 1, 0]
    p = [0.05, 0.05, 0.95, 0.95, 0.95]
    table = risk.reliability(y, p, bins=10)
    assert [(r["count"], r["observed"]) for r in table] == [(2, 0.5), (3, pytest.approx(2 / 3))]
    assert risk.expected_calibration_error(y, p) == pytest.approx(0.4 * 0.45 + 0.6 * abs(2 / 3 - 0.95))


def test_bad_inputs():
    with pytest.raises(ValueError, match="targets must be 0 or 1"):
        risk.auroc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="scores must be finite"):
        risk.auroc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="one entry each"):
        risk.brier([0, 1], [0.1])


@given(st.integers(0, 10_000), st.integers(2, 60))
@settings(max_examples=60, deadline=None)
def test_ranking_metrics_match_scikit_learn(seed, n):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, 2, n), np.round(rng.random(n), 1)  # rounding makes ties
    if y.min() == y.max():
        return
    assert risk.auroc(y, p) == pytest.approx(metrics.roc_auc_score(y, p), abs=1e-12)
    assert risk.average_precision(y, p) == pytest.approx(metrics.average_precision_score(y, p), abs=1e-12)
    assert risk.brier(y, p) == pytest.approx(metrics.brier_score_loss(y, p))
    assert risk.at_threshold(y, p, 0.5)["f1"] == pytest.approx(metrics.f1_score(y, p >= 0.5, zero_division=np.nan), nan_ok=True)


def test_risk_metrics_holds_everything():
    result = risk.risk_metrics([0, 1, 0, 1], [0.2, 0.7, 0.4, 0.9])
    assert {"auroc", "auprc", "brier", "ece", "sensitivity", "specificity", "positives", "count"} <= set(result)


def test_logistic_regression_matches_scikit_learn():
    linear_model = pytest.importorskip("sklearn.linear_model")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g) * torch.tensor([1.0, 3.0, 0.5, 1.0, 10.0])
    y = (x[:, 0] + 0.5 * torch.randn(300, generator=g) > 0.3).float()
    ours = LogisticRegression.fit(x, y, C=0.1)
    standardised = ((x - x.mean(0)) / x.std(0, unbiased=False)).numpy()
    theirs = linear_model.LogisticRegression(C=0.1, tol=1e-10, max_iter=10_000).fit(standardised, y.numpy())
    assert np.allclose(ours.weight, theirs.coef_[0], atol=1e-3) and ours.intercept == pytest.approx(theirs.intercept_[0], abs=1e-3)
    assert torch.allclose(ours.predict(x), torch.tensor(theirs.predict_proba(standardised)[:, 1], dtype=torch.float32), atol=1e-3)
    assert LogisticRegression.from_dict(ours.to_dict()).predict(x[:3]).tolist() == ours.predict(x[:3]).tolist()

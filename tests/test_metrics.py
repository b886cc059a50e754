"""Metrics against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest

from eospec.metrics import lins_ccc, regression_metrics, rpiq


def test_perfect_and_shifted_predictions() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    perfect = regression_metrics(y, y)
    assert perfect["rmse"] == 0 and perfect["r2"] == 1 and perfect["ccc"] == pytest.approx(1.0)
    shifted = regression_metrics(y, y + 1)
    assert shifted["rmse"] == pytest.approx(1.0) and shifted["bias"] == pytest.approx(1.0)
    # CCC penalises the shift although Pearson r is 1: 2*2 / (2 + 2 + 1) = 0.8
    assert shifted["ccc"] == pytest.approx(0.8)
    assert rpiq(y, y + 1) == pytest.approx((4.0 - 2.0) / 1.0)


def test_against_numpy_formulas_and_nan_pairs() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(20, 5, 200)
    p = 0.8 * y + rng.normal(3, 2, 200)
    y_nan, p_nan = np.append(y, np.nan), np.append(p, 1.0)
    m = regression_metrics(y_nan, p_nan)
    assert m["n"] == 200
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((p - y) ** 2)))
    assert m["r2"] == pytest.approx(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))
    r = np.corrcoef(y, p)[0, 1]
    assert lins_ccc(y, p) == pytest.approx(2 * r * y.std() * p.std() / (y.var() + p.var() + (y.mean() - p.mean()) ** 2))
    with pytest.raises(ValueError, match="differ in length"):
        regression_metrics([1, 2], [1])

"""Accuracy metrics of soil-property predictions.

All take 1-D arrays of measured (observed) and predicted values in the same unit and ignore
pairs where either is NaN.

- RMSE: root mean squared error, in the property's unit.
- bias: mean of predicted minus observed, in the property's unit.
- R2: coefficient of determination, 1 - SS_res / SS_tot (as :func:`sklearn.metrics.r2_score`).
- RPIQ: ratio of performance to inter-quartile distance, (Q3 - Q1) of the observed values / RMSE
  (Bellon-Maurel et al. 2010, *TrAC* 29(9), 1073-1081).
- Lin's CCC: concordance correlation coefficient,
  2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2) with population (co)variances
  (Lin 1989, *Biometrics* 45(1), 255-268, Eq. 2).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.metrics import mean_squared_error, r2_score

__all__ = ["regression_metrics", "lins_ccc", "rpiq"]


def _pairs(observed: npt.ArrayLike, predicted: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(observed, dtype=np.float64).ravel()
    p = np.asarray(predicted, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"observed and predicted differ in length: {y.size} != {p.size}")
    keep = np.isfinite(y) & np.isfinite(p)
    return y[keep], p[keep]


def lins_ccc(observed: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Lin's concordance correlation coefficient (module docstring).

    Args:
        observed: shape (n,), measured values.
        predicted: shape (n,), predicted values.

    Returns:
        CCC in [-1, 1]; NaN for fewer than 2 pairs.
    """
    y, p = _pairs(observed, predicted)
    if y.size < 2:
        return float("nan")
    covariance = np.mean((y - y.mean()) * (p - p.mean()))
    return float(2 * covariance / (y.var() + p.var() + (y.mean() - p.mean()) ** 2))


def rpiq(observed: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Ratio of performance to inter-quartile distance (module docstring).

    Args:
        observed: shape (n,), measured values.
        predicted: shape (n,), predicted values.

    Returns:
        RPIQ (higher is better); NaN for fewer than 2 pairs.
    """
    y, p = _pairs(observed, predicted)
    if y.size < 2:
        return float("nan")
    q1, q3 = np.percentile(y, [25, 75])
    error = np.sqrt(mean_squared_error(y, p))
    return float("inf") if error == 0 else float((q3 - q1) / error)


def regression_metrics(observed: npt.ArrayLike, predicted: npt.ArrayLike) -> dict[str, float]:
    """RMSE, bias, R2, RPIQ and Lin's CCC of a set of predictions.

    Args:
        observed: shape (n,), measured values.
        predicted: shape (n,), predicted values in the same unit.

    Returns:
        ``{"n", "rmse", "bias", "r2", "rpiq", "ccc"}``; NaN metrics for fewer than 2 pairs.
    """
    y, p = _pairs(observed, predicted)
    if y.size < 2:
        nan = float("nan")
        return {"n": float(y.size), "rmse": nan, "bias": nan, "r2": nan, "rpiq": nan, "ccc": nan}
    return {
        "n": float(y.size),
        "rmse": float(np.sqrt(mean_squared_error(y, p))),
        "bias": float(np.mean(p - y)),
        "r2": float(r2_score(y, p)),
        "rpiq": rpiq(y, p),
        "ccc": lins_ccc(y, p),
    }

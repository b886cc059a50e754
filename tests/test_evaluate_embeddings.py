"""The downstream-evaluation recipe (``recipes/evaluate_embeddings.py --quick``) on LimeSoDa CV.98."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from conftest import import_recipe

from eospec.metrics import regression_metrics


def _recipe() -> ModuleType:
    return import_recipe("evaluate_embeddings")


def _independent(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """RMSE, bias, R2, Lin's CCC (Lin 1989, Eq. 3; population moments) and RPIQ from their definitions."""
    error = p - y
    rmse = float(np.sqrt(np.mean(error**2)))
    covariance = np.mean((y - y.mean()) * (p - p.mean()))
    ccc = 2 * covariance / (y.var() + p.var() + (y.mean() - p.mean()) ** 2)
    q1, q3 = np.quantile(y, [0.25, 0.75])
    return {
        "rmse": rmse,
        "bias": float(error.mean()),
        "r2": float(1 - np.sum(error**2) / np.sum((y - y.mean()) ** 2)),
        "ccc": float(ccc),
        "rpiq": float((q3 - q1) / rmse),
    }


@pytest.mark.shared_data
def test_quick_run_table_and_metrics(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("LimeSoDa")
    if not (shared_data / "soil" / "wadoux_soilspec" / "datsoilspc.csv").is_file():
        pytest.skip("datsoilspc.csv not in the shared data")
    monkeypatch.setenv("EOSPEC_SHARED_DATA", str(shared_data))
    recipe = _recipe()
    assert recipe.main(["--quick", "--out-dir", str(tmp_path), "--save-predictions", "--threads", "1"]) == 0
    table = pd.read_csv(tmp_path / "metrics.csv")
    predictions = pd.read_csv(tmp_path / "predictions.csv")

    # Every feature set x model x metric is there, finite, for the one property of the quick run.
    expected = {(f, m) for f in recipe.FEATURE_SETS for m in recipe.models_for(f)}
    assert set(zip(table["features"], table["model"], strict=True)) == expected
    assert len(table) == len(expected)
    assert np.isfinite(table[list(recipe.METRICS)].to_numpy()).all()
    assert (table["validation"] == "cv-3fold").all()

    # The table's metrics agree with the predictions, by eospec.metrics and by the definitions.
    for row in table.itertuples():
        chosen = predictions[(predictions["features"] == row.features) & (predictions["model"] == row.model)]
        y, p = chosen["observed"].to_numpy(), chosen["predicted"].to_numpy()
        assert len(y) == row.n == 98
        ours = regression_metrics(y, p)
        direct = _independent(y, p)
        for metric in recipe.METRICS:
            assert getattr(row, metric) == pytest.approx(ours[metric], rel=1e-3, abs=1e-4)
            assert ours[metric] == pytest.approx(direct[metric], rel=1e-6, abs=1e-9)

    summary = (tmp_path / "summary.json").read_text()
    assert "embedding_matches_spectra" in summary


def test_claim_checks_pick_the_best_model_per_feature_set() -> None:
    recipe = _recipe()
    rmse = {"spectra": (1.0, 2.0), "embedding": (1.04, 3.0), "converted": (1.5, 1.2), "low_fidelity": (1.3, 1.1)}
    rows = [
        {"dataset": "d", "property": "p", "validation": "cv", "features": f, "model": m, "rmse": r}
        for f, values in rmse.items()
        for m, r in zip(("a", "b"), values, strict=True)
    ]
    (check,) = recipe.claim_checks(pd.DataFrame(rows))
    assert check["best_rmse_converted"] == 1.2
    assert check["embedding_matches_spectra"] is True  # 1.04 <= 1.05 * 1.0
    assert check["converted_worse_than_high"] is True
    assert check["converted_at_least_low"] is False  # 1.2 > 1.1

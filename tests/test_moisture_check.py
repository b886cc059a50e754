"""The soil-moisture check recipe (``recipes/moisture_check.py``): its tables, the nested choice of g, its errors."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from conftest import import_recipe


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    return import_recipe("moisture_check")


def rows(out: str, *labels: str) -> list[list[str]]:
    """The Markdown table rows of ``out`` whose first cell is one of ``labels``, as stripped cells."""
    return [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in out.splitlines()
        if line.startswith(tuple(f"| {label} |" for label in labels))
    ]


@pytest.mark.shared_data
def test_tables(recipe, shared_data, capsys):
    assert recipe.main(["--epo-components", "1", "--folds", "2", "--inner-folds", "2", "--wet-training"]) == 0
    out = capsys.readouterr().out
    assert "100 datsoilspc matches" in out and "trained `unseen (no EPO)` on 1098 soils" in out
    models = rows(out, "bundled (in sample)", "unseen (no EPO)")
    scans = ["air-dry", "wet", "re-dried (1 day)"]
    assert [(row[0], row[1]) for row in models] == [
        (model, scan) for model in ("bundled (in sample)", "unseen (no EPO)") for scan in scans
    ]
    for row in models:
        if row[1] == "air-dry":  # the change from the air-dry prediction is zero for the air-dry scan
            assert row[6] in ("+0.0", "-0.0") and row[7] in ("+0.0 to +0.0", "-0.0 to +0.0")
    # EPO (one component, fitted on the other fold's scans) makes the wet scans predictable out of fold
    study = {(row[0], row[1]): float(row[4]) for row in rows(out, "none", "EPO g=1")}
    assert len(study) == 6 and study[("EPO g=1", "wet")] > 0.5 > study[("none", "wet")]
    # the wet scans of the other fold in training: one row per scan and one over all, all finite
    wet_training = rows(out, "EPO g=1, wet scans")
    assert [row[1] for row in wet_training] == [*scans, "all"]
    assert all(np.isfinite(float(cell)) for row in wet_training for cell in row[2:])
    # the nested estimate takes, fold by fold, the study's model with the g chosen inside; EPO's gain
    # on the wet scans makes both inner studies choose g = 1, so it is the EPO g=1 study row
    chosen = out.split("chosen per outer fold: ")[1].splitlines()[0]
    assert chosen == "[1, 1]"
    nested = {row[1]: row[2:] for row in rows(out, "nested")}
    assert list(nested) == [*scans, "all"]
    for row in rows(out, "EPO g=1"):
        assert nested[row[1]] == row[2:]


def test_nested_takes_each_outer_fold_from_the_study_model_chosen_inside(recipe, monkeypatch):
    # stand-in inner studies: g = 1 wins where the inner soils' first soil is even, g = 0 elsewhere
    def inner_cv(candidate, pool, moisture, components, n_folds, settings, seed, soils, epochs):
        predicted = {g: np.full((3, moisture.soc.size), np.nan) for g in components}
        best = 1 if soils[0] % 2 == 0 else 0
        for g in components:
            predicted[g][:, soils] = moisture.soc[soils] + (1.0 if g == best else 5.0)
        return predicted

    monkeypatch.setattr(recipe, "moisture_cv", inner_cv)
    soc = np.arange(10.0)
    moisture = recipe.MoistureScans({s: np.zeros((10, 2)) for s in ("a", "b", "c")}, soc, np.arange(10))
    study = {0: np.zeros((3, 10)), 1: np.ones((3, 10))}
    predicted, chosen = recipe.nested_moisture_cv(study, None, None, moisture, (0, 1), 3, 2, seed=0, epochs=5)
    fold = recipe.moisture_folds(10, 3, seed=0)
    for k, g in enumerate(chosen):
        inner_first = np.flatnonzero(fold != k)[0]
        assert g == (1 if inner_first % 2 == 0 else 0)
        np.testing.assert_array_equal(predicted[:, fold == k], study[g][:, fold == k])


def test_bad_arguments_exit_2(recipe, capsys):
    for args, message in (
        (["--folds", "1"], "--folds 1: pass 2 or more"),
        (["--inner-folds", "1"], "--inner-folds 1: pass 2 or more"),
        (["--epo-components", "0"], "pass whole numbers of 1 or more (0 is always run)"),
    ):
        with pytest.raises(SystemExit) as stop:
            recipe.main(args)
        assert stop.value.code == 2 and message in capsys.readouterr().err

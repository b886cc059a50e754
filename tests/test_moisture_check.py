"""The soil-moisture check recipe (``recipes/moisture_check.py``): datEPO loading, soil matching, its table."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from conftest import import_recipe


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    return import_recipe("moisture_check")


def test_match_soils_takes_the_best_correlated_soil_with_the_same_carbon(recipe):
    rng = np.random.default_rng(0)
    spectra = rng.uniform(0.1, 0.5, size=(5, 20))
    soc = np.array([10.0, 20.0, 10.0, 30.0, 10.0])
    lab = recipe.LabSet("datsoilspc", spectra, soc, np.ones(5, dtype=np.int64), np.arange(5), (350.0, 2500.0))
    # a brighter copy of soil 2 correlates perfectly with it; soils 0 and 4 have the same carbon
    assert recipe.match_soils(1.2 * spectra[[2, 3]], np.array([10.0, 30.0]), lab).tolist() == [2, 3]
    with pytest.raises(ValueError, match="12.5 g/kg"):
        recipe.match_soils(spectra[:1], np.array([12.5]), lab)


@pytest.mark.shared_data
def test_datepo_scans(recipe, shared_data):
    scans, soc = recipe.load_datepo(shared_data / "soil" / "wadoux_soilspec")
    assert list(scans) == ["air-dry", "wet", "re-dried (1 day)"]
    assert soc.shape == (100,) and 0 < soc.min() and soc.max() < 150
    for reflectance in scans.values():
        assert reflectance.shape == (100, 202) and (reflectance > 0).all() and (reflectance < 1).all()
    # water darkens a soil; a day of drying brings most of the brightness back
    dry, wet, redried = (scans[k].mean(axis=1) for k in scans)
    assert (wet < dry).mean() > 0.95 and np.median(wet) < np.median(redried) < np.median(dry)
    with pytest.raises(FileNotFoundError, match="EOSPEC_SHARED_DATA"):
        recipe.load_datepo(shared_data / "missing")


@pytest.mark.shared_data
def test_table(recipe, shared_data, capsys):
    assert recipe.main(["--epo-components", "1", "--folds", "2"]) == 0
    out = capsys.readouterr().out
    assert "100 datsoilspc matches" in out and "trained `unseen` on 1098 soils" in out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith(("| bundled |", "| unseen |"))]
    assert [(row[0].strip(), row[1].strip()) for row in rows] == [
        (model, scan) for model in ("bundled", "unseen") for scan in ("air-dry", "wet", "re-dried (1 day)")
    ]
    for row in rows:
        if row[1].strip() == "air-dry":  # the change from the air-dry prediction is zero for the air-dry scan
            assert row[6].strip() in ("+0.0", "-0.0") and row[7].strip() in ("+0.0 to +0.0", "-0.0 to +0.0")
    # out of sample, the air-dry scans are predicted worse than in sample (the bundled model trained on them)
    air_dry = {row[0].strip(): float(row[3]) for row in rows if row[1].strip() == "air-dry"}
    assert air_dry["unseen"] > air_dry["bundled"]
    # EPO (one component, fitted on the other fold's wet/dry scans) makes the wet scans predictable
    epo = {
        (row[0].strip(), row[1].strip()): float(row[4])
        for row in (line.split("|")[1:-1] for line in out.splitlines() if line.startswith(("| none |", "| EPO g=1 |")))
    }
    assert len(epo) == 6 and epo[("EPO g=1", "wet")] > 0.5 > epo[("none", "wet")]


def test_too_few_folds_exit_2(recipe, capsys):
    with pytest.raises(SystemExit) as stop:
        recipe.main(["--folds", "1"])
    assert stop.value.code == 2 and "--folds 1: pass 2 or more" in capsys.readouterr().err

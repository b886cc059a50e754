"""The mixture-training check recipe (``recipes/mixture_training_check.py``): mixing models and its tables."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import import_recipe


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    return import_recipe("mixture_training_check")


def test_mixing_models_against_their_definitions(recipe):
    rng = np.random.default_rng(0)
    soil, plant = rng.uniform(0.05, 0.6, size=(2, 8, 30))
    for name, mix in recipe.MIXING.items():
        # no plant gives the soil, all plant gives the plant
        np.testing.assert_allclose(mix(soil, plant, 0.0), soil, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(mix(soil, plant, 1.0), plant, atol=1e-9, err_msg=name)
    for mix in (recipe.linear_mixture, recipe.intimate_mixture):  # a spectrum mixed with itself is unchanged
        np.testing.assert_allclose(mix(soil, soil, 0.3), soil, atol=1e-9)
    np.testing.assert_allclose(recipe.linear_mixture(soil, plant, 0.2), 0.8 * soil + 0.2 * plant)
    np.testing.assert_allclose(
        recipe.bilinear_mixture(soil, plant, 0.2) - recipe.linear_mixture(soil, plant, 0.2), 0.16 * soil * plant
    )

    # intimate mixing averages single-scattering albedos: the Hapke form r = w / (1 + 2 sqrt(1 - w))^2 at
    # nadir, inverted here by bisection, independently of eospec's closed-form inverse
    def albedo(r: np.ndarray) -> np.ndarray:
        low, high = np.zeros_like(r), np.ones_like(r)
        for _ in range(60):
            middle = 0.5 * (low + high)
            too_bright = middle / (1 + 2 * np.sqrt(1 - middle)) ** 2 > r
            high, low = np.where(too_bright, middle, high), np.where(too_bright, low, middle)
        return 0.5 * (low + high)

    w = 0.7 * albedo(soil) + 0.3 * albedo(plant)
    np.testing.assert_allclose(recipe.intimate_mixture(soil, plant, 0.3), w / (1 + 2 * np.sqrt(1 - w)) ** 2, atol=1e-9)
    # a dark plant darkens an intimate mixture more than an areal one (multiple scattering)
    dark = np.full_like(soil, 0.03)
    assert (recipe.intimate_mixture(soil, dark, 0.2) < recipe.linear_mixture(soil, dark, 0.2)).all()


@pytest.mark.shared_data
def test_tables_with_the_bundled_model_as_control(recipe, shared_data, capsys):
    bundled = Path(recipe.__file__).parents[1] / "eospec" / "models" / "weights" / "soc.json"
    assert recipe.main(["--seeds", "0", "--size", "32", "--control", str(bundled)]) == 0
    out = capsys.readouterr().out
    spectra = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith(("| green |", "| litter |"))]
    assert len(spectra) == 2 * (1 + 3 * 3)  # two plant kinds: pure soil, then 3 mixing models x 3 fractions
    for row in spectra:
        assert row[4:6] == row[6:8]  # the same model twice gives the same figures
        assert 0 <= float(row[3].strip().rstrip("%")) <= 100
    # the unmixed rows are the 89 held-out soils with EnMAP-like noise, most kept by the masks (dark
    # soils are not): near the model's held-out test
    held_out = json.loads(bundled.read_text())["held_out_test"]["pooled"]["rmse"]
    pure_soil = [row for row in spectra if row[2].strip() == "0%"]
    assert len(pure_soil) == 2 and all(float(row[3].strip().rstrip("%")) > 70 for row in pure_soil)
    assert all(abs(float(row[4]) - held_out) < 1.5 for row in pure_soil)
    # more green vegetation: the NDVI test keeps fewer mixtures
    kept = [
        float(row[3].strip().rstrip("%"))
        for row in spectra
        if row[0].strip() == "green" and row[1].strip() in ("none (pure soil)", "linear")
    ]
    assert kept == sorted(kept, reverse=True) and kept[-1] < 100
    scene = [line.split("|")[2:-1] for line in out.splitlines() if line.startswith("| 0 |")]
    assert [row[0].strip() for row in scene] == ["control"] * 4 + ["bundled"] * 4
    assert [row[1:] for row in scene[:4]] == [row[1:] for row in scene[4:]]

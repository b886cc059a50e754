"""The mixture-training check recipe (``recipes/mixture_training_check.py``): plant spectra and mixing."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from conftest import import_recipe


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    return import_recipe("mixture_training_check")


def test_mixtures_are_convex_combinations_with_fractions_in_range(recipe):
    rng = np.random.default_rng(1)
    soils = rng.uniform(0.1, 0.4, size=(50, 6))
    green = np.full((1, 6), 0.05)
    dry = np.full((1, 6), 0.6)
    mixed = recipe.mix_with_plants(soils, green, dry, copies=3, max_fraction=0.2, rng=np.random.default_rng(2))
    assert mixed.shape == (150, 6)
    repeated = np.tile(soils, (3, 1))
    # with one constant spectrum per kind, (soil - mixture) / (soil - plant) is the plant fraction f
    # in every band; which plant was drawn shows in the sign of soil - mixture
    plant = np.where((mixed > repeated).all(axis=1, keepdims=True), 0.6, 0.05)
    fraction = (repeated - mixed) / (repeated - plant)
    np.testing.assert_allclose(fraction, fraction[:, :1].repeat(6, axis=1), atol=1e-12)
    assert (fraction >= 0).all() and (fraction <= 0.2).all() and fraction.max() > 0.15
    assert 0.3 < np.mean(plant[:, 0] == 0.6) < 0.7  # green and dry with equal odds
    # the same generator seed gives the same mixtures
    again = recipe.mix_with_plants(soils, green, dry, copies=3, max_fraction=0.2, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(mixed, again)


@pytest.mark.shared_data
def test_usgs_plant_spectra(recipe, shared_data):
    green, dry = recipe.plant_spectra(shared_data / "endmembers" / "usgs_splib07_av95")
    assert green.shape[1] == dry.shape[1] == 202 and len(green) > 20 and len(dry) > 10
    centres = recipe.enmap_default_bands()[0]
    red, nir = (int(np.argmin(np.abs(centres - nm))) for nm in (665, 865))
    assert ((green[:, nir] - green[:, red]) / (green[:, nir] + green[:, red]) >= 0.6).all()
    assert ((dry[:, nir] - dry[:, red]) / (dry[:, nir] + dry[:, red]) < 0.3).all()
    assert np.isfinite(green).all() and (green >= 0).all() and (green <= 1).all()
    with pytest.raises(FileNotFoundError, match="USGS splib07 AV95"):
        recipe.plant_spectra(shared_data / "missing")

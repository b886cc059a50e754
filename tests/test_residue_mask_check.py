"""The residue-mask check recipe (``recipes/residue_mask_check.py``): its indices and its tables."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from conftest import import_recipe


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    return import_recipe("residue_mask_check")


def test_residue_indices_against_their_definitions(recipe):
    wavelengths = recipe.enmap_default_bands()[0]

    def centre(nm: float) -> float:
        return float(wavelengths[np.argmin(np.abs(wavelengths - nm))])

    # a straight line R = 1e-4 * wavelength: CAI is the slope times the offset of the 2101 nm band
    # from the mean of the 2031 and 2211 nm bands; NBR2 is the normalised difference of two band centres
    line = 1e-4 * wavelengths[None, :]
    cai, nbr2 = recipe.residue_indices(line, wavelengths)
    expected_cai = 1e-4 * (0.5 * (centre(2031) + centre(2211)) - centre(2101))
    np.testing.assert_allclose(cai, expected_cai, rtol=1e-9)
    np.testing.assert_allclose(nbr2, (centre(1610) - centre(2190)) / (centre(1610) + centre(2190)), rtol=1e-9)
    # a flat spectrum with a cellulose-like dip of 0.05 at 2101 nm: CAI is the depth, NBR2 zero
    flat = np.full((2, wavelengths.size), 0.3)
    flat[1, np.argmin(np.abs(wavelengths - 2101))] = 0.25
    cai, nbr2 = recipe.residue_indices(flat, wavelengths)
    np.testing.assert_allclose(cai, [0.0, 0.05], atol=1e-12)
    np.testing.assert_allclose(nbr2, 0.0, atol=1e-12)


def test_tables_on_a_small_scene(recipe, capsys):
    assert recipe.main(["--seeds", "0", "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "lab soils (n 1" in out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| 0 |")]
    classes = [row for row in rows if len(row) == 5]
    accuracy = [row for row in rows if len(row) == 10]
    assert [row[1].strip() for row in classes] == ["pure soil", "10-20 % residue", "5-20 % green vegetation"]
    for row in classes:  # shares of pixels are percentages
        assert all(0.0 <= float(cell.strip().rstrip("%")) <= 100.0 for cell in row[3:])
    limits = [row[1].strip() for row in accuracy]
    assert limits == ["none", "0.125", "0.1", "0.075", "0.05"]
    counts = [int(row[2]) for row in accuracy]
    pure = [int(row[7]) for row in accuracy]
    # a stricter NBR2 mask keeps a subset of the pixels
    assert counts == sorted(counts, reverse=True) and pure == sorted(pure, reverse=True)
    assert all(p <= n for p, n in zip(pure, counts, strict=True)) and counts[0] > 0
    assert int(classes[0][2]) == pure[0]  # the unmasked pure-soil count appears in both tables

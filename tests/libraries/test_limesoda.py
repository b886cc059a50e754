"""Tests of the LimeSoDa loader, on the installed package and on a generated stand-in."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

from eospec.errors import DataPackageMissingError, SpectralLibraryError
from eospec.libraries import list_limesoda, read_limesoda
from eospec.libraries.limesoda import LIMESODA_SPECTRAL, LIMESODA_UNITS


def fake_limesoda() -> types.ModuleType:
    """A stand-in for the LimeSoDa package with one small MIR dataset (decreasing wavenumbers)."""
    rng = np.random.default_rng(5)
    wavenumbers = [3800.0, 3798.1, 2000.0, 751.1]
    table = pd.DataFrame(
        {"SOC_target": [1.2, 2.3, 0.7], "pH_target": [6.1, 7.2, 5.5], "Clay_target": [20.0, 31.0, 12.5]},
        index=[10, 11, 12],  # LimeSoDa frames need not have a 0-based index
    )
    spectra = rng.uniform(10.0, 60.0, (3, 4))
    for k, wavenumber in enumerate(wavenumbers):
        table[f"wn_{wavenumber:g}"] = spectra[:, k]
    table["ERa"] = [35.0, 40.0, 28.0]
    coordinates = pd.DataFrame({"x_32633": [1.0, 2.0, 3.0], "y_32633": [5.0, 6.0, 7.0]})
    module = types.ModuleType("LimeSoDa")
    module.list_datasets = lambda: ["O.32", "BB.250"]  # type: ignore[attr-defined]
    module.load_dataset = lambda name: {  # type: ignore[attr-defined]
        "Dataset": table.copy(),
        "Folds": np.array([3, 1, 2]),
        "Coordinates": coordinates,
    }
    module.spectra = spectra  # type: ignore[attr-defined]
    return module


def test_stand_in_mir_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fake_limesoda()
    monkeypatch.setitem(sys.modules, "LimeSoDa", module)
    assert list_limesoda() == ["O.32"]
    library = read_limesoda("O.32")
    assert library.wavelength_unit == "cm-1" and library.quantity == "reflectance"
    np.testing.assert_array_equal(library.wavelengths, [751.1, 2000.0, 3798.1, 3800.0])
    np.testing.assert_allclose(library.spectra, module.spectra[:, ::-1] / 100.0)
    assert library.property_names == ["SOC", "pH", "Clay"]
    assert library.props["SOC"].tolist() == [1.2, 2.3, 0.7]
    assert library.property_units == {"SOC": "%", "pH": "pH", "Clay": "%"}
    assert library.meta["fold"].tolist() == [3, 1, 2] and library.meta["ERa"].tolist() == [35.0, 40.0, 28.0]
    assert library.meta["x"].tolist() == [1.0, 2.0, 3.0] and set(library.meta["crs"]) == {"EPSG:32633"}
    assert not library.meta["coordinates_dummy"].any()
    train, test = library.fold_split(1)
    assert len(train) == 2 and test.props["SOC"].tolist() == [2.3]
    with pytest.raises(SpectralLibraryError, match="'BB.250' has no spectra"):
        read_limesoda("BB.250")
    with pytest.raises(SpectralLibraryError, match="'XX.1' is not a LimeSoDa dataset"):
        read_limesoda("XX.1")


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "LimeSoDa", None)  # makes "import LimeSoDa" fail
    with pytest.raises(DataPackageMissingError, match="pip install limesoda"):
        read_limesoda("CV.98")
    with pytest.raises(DataPackageMissingError):
        list_limesoda()


def test_every_spectral_dataset_against_the_package() -> None:
    LimeSoDa = pytest.importorskip("LimeSoDa")
    names = list_limesoda()
    assert set(names) == set(LIMESODA_SPECTRAL) & set(LimeSoDa.list_datasets())
    for name in names:
        data = LimeSoDa.load_dataset(name)
        table = data["Dataset"]
        library = read_limesoda(name)
        bands = [c for c in table.columns if str(c).startswith(("wl_", "wn_"))]
        positions = np.array([float(str(c)[3:]) for c in bands])
        order = np.argsort(positions)
        np.testing.assert_array_equal(library.wavelengths, positions[order])
        np.testing.assert_allclose(library.spectra, table[bands].to_numpy()[:, order] / 100.0)
        np.testing.assert_array_equal(library.folds, np.asarray(data["Folds"]))
        targets = [c for c in table.columns if str(c).endswith("_target")]
        np.testing.assert_array_equal(library.props.to_numpy(), table[targets].to_numpy())
        assert set(library.property_units) == set(library.property_names)
        assert library.property_units == {k: v for k, v in LIMESODA_UNITS[name].items() if k in library.props}
        assert library.wavelength_unit == ("cm-1" if LIMESODA_SPECTRAL[name] == "MIR" else "nm")
        assert sorted(set(library.folds)) == list(range(1, 11))


def test_real_vis_nir_dataset_details() -> None:
    pytest.importorskip("LimeSoDa")
    library = read_limesoda("SC.93")
    assert len(library) == 93 and library.wavelengths[0] == 355.0 and library.wavelengths[-1] == 2500.0
    assert 0.0 < np.nanmin(library.spectra) and np.nanmax(library.spectra) < 1.0  # percent became a fraction
    assert set(library.meta["crs"]) == {"EPSG:32722"}
    dummy = read_limesoda("UL.120")
    assert dummy.meta["coordinates_dummy"].all() and set(dummy.meta["crs"]) == {"EPSG:4326"}
    assert dummy.property_names == ["SOM", "pH", "Clay"]

"""Tests of the wide-table loaders (generic CSV, NIRsoil, datsoilspc, KSSL MIR)."""

from __future__ import annotations

import csv
import gzip
import time
from pathlib import Path

import numpy as np
import pytest

from eospec.errors import SpectralLibraryError, UnknownUnitError, WavelengthOrderError
from eospec.libraries import read_datsoilspc, read_kssl_mir, read_nirsoil, read_wide_csv
from eospec.libraries.tables import find_spectrum_columns

FIXTURES = Path(__file__).parents[1] / "data" / "libraries"


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The table as text, with the csv module (independent of pandas)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:  # type: ignore[operator]
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def column(header: list[str], rows: list[list[str]], name: str) -> np.ndarray:
    index = header.index(name)
    return np.array([float(row[index]) if row[index] not in ("", "NA") else np.nan for row in rows])


# ----------------------------------------------------------------------------------------------
# Generic wide CSV
# ----------------------------------------------------------------------------------------------


def test_wide_csv_with_prefix_sorts_decreasing_wavenumbers() -> None:
    path = FIXTURES / "wide_generic.csv"
    library = read_wide_csv(path, wavelength_unit="cm-1", spectrum_columns="wn_", id_column="sample")
    header, rows = read_rows(path)
    bands = [name for name in header if name.startswith("wn_")]
    positions = np.array([float(name[3:]) for name in bands])
    assert positions[0] > positions[-1]  # the file runs from 4000 down to 600
    np.testing.assert_array_equal(library.wavelengths, np.sort(positions))
    expected = np.array([[float(row[header.index(name)]) for name in bands] for row in rows])[:, ::-1]
    np.testing.assert_array_equal(library.spectra, expected)
    assert library.property_names == ["soc", "clay"] and library.meta.columns.tolist() == ["site"]
    np.testing.assert_array_equal(library.props["soc"].to_numpy(), column(header, rows, "soc"))
    assert np.isnan(library.props["soc"].to_numpy()[2])  # the empty cell, never 0
    assert list(library.groups()) == ["s1", "s2", "s3"]
    assert len(library.mean_repeats()) == 3 and library.name == "wide_generic"


def test_wide_csv_with_regex_and_explicit_columns() -> None:
    library = read_wide_csv(
        FIXTURES / "wide_generic.csv",
        wavelength_unit="cm-1",
        quantity="absorbance",
        spectrum_columns=r"wn_(?P<position>\d+)",
        property_columns=["clay"],
        property_units={"clay": "%"},
        metadata_columns=["site", "soc"],
        name="generic",
    )
    assert library.property_names == ["clay"] and library.meta.columns.tolist() == ["site", "soc"]
    assert library.n_bands == 35 and library.quantity == "absorbance" and library.property_units == {"clay": "%"}


def test_wide_csv_bad_input(tmp_path: Path) -> None:
    path = FIXTURES / "wide_generic.csv"
    with pytest.raises(UnknownUnitError, match="'nanometers' is unknown"):
        read_wide_csv(path, wavelength_unit="nanometers")
    with pytest.raises(SpectralLibraryError, match="no spectrum column with numeric names"):
        read_wide_csv(path, wavelength_unit="cm-1")
    with pytest.raises(SpectralLibraryError, match=r"columns \['ph'\] are not in wide_generic.csv"):
        read_wide_csv(path, wavelength_unit="cm-1", spectrum_columns="wn_", property_columns=["ph"])
    with pytest.raises(SpectralLibraryError, match="property 'site' is not numeric"):
        read_wide_csv(path, wavelength_unit="cm-1", spectrum_columns="wn_", property_columns=["site"])
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("soc,350,351,350.0\n1.0,0.1,0.2,0.3\n")
    with pytest.raises(WavelengthOrderError, match="strictly increasing"):
        read_wide_csv(repeated, wavelength_unit="nm")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_wide_csv(tmp_path / "absent.csv", wavelength_unit="nm")


def test_wide_csv_percent_reflectance(tmp_path: Path) -> None:
    path = tmp_path / "percent.csv"
    path.write_text("id,400,500\nx,20,40\ny,30,50\n")
    with pytest.warns(UserWarning, match="reflectance_scale=100"):
        read_wide_csv(path, wavelength_unit="nm")
    library = read_wide_csv(path, wavelength_unit="nm", reflectance_scale=100.0, id_column="id")
    np.testing.assert_allclose(library.spectra, [[0.2, 0.4], [0.3, 0.5]])
    with pytest.raises(SpectralLibraryError, match="reflectance_scale applies to reflectance only"):
        read_wide_csv(path, wavelength_unit="nm", quantity="absorbance", reflectance_scale=100.0)


def test_find_spectrum_columns_forms() -> None:
    names, positions = find_spectrum_columns(["id", "350", "351.5", "1e3", "X"])
    assert names == ["350", "351.5", "1e3"] and positions.tolist() == [350.0, 351.5, 1000.0]
    names, positions = find_spectrum_columns(["X400", "X410", "Xa"], "X")
    assert names == ["X400", "X410"] and positions.tolist() == [400.0, 410.0]
    names, positions = find_spectrum_columns(["scan_mir.600_abs", "scan_mir.602_abs", "id"], r"scan_mir\.(\d+)_abs")
    assert positions.tolist() == [600.0, 602.0]


# ----------------------------------------------------------------------------------------------
# Named tables on generated fixtures
# ----------------------------------------------------------------------------------------------


def test_nirsoil_fixture() -> None:
    path = FIXTURES / "nirsoil_like.csv"
    library = read_nirsoil(path)
    header, rows = read_rows(path)
    assert library.quantity == "absorbance" and library.wavelength_unit == "nm"
    np.testing.assert_array_equal(library.wavelengths, np.arange(1100.0, 2499.0, 2.0))
    for name in ("Nt", "Ciso", "CEC"):
        np.testing.assert_array_equal(library.props[name].to_numpy(), column(header, rows, name))
    assert library.property_units == {"Nt": "g/kg", "Ciso": "g/100 g", "CEC": "meq/100 g"}
    train = column(header, rows, "train")
    assert library.meta["split"].tolist() == ["train" if t == 1 else "test" for t in train]
    np.testing.assert_array_equal(library.spectra[:, -1], column(header, rows, "2498"))


def test_datsoilspc_fixture() -> None:
    path = FIXTURES / "datsoilspc_like.csv"
    library = read_datsoilspc(path)
    header, rows = read_rows(path)
    assert library.quantity == "reflectance" and library.n_bands == 2151
    np.testing.assert_array_equal(library.props["TotalCarbon"].to_numpy(), column(header, rows, "TotalCarbon"))
    np.testing.assert_array_equal(library.spectra[:, 0], column(header, rows, "350"))
    assert library.property_units["clay"] == "%"


def test_kssl_mir_fixture() -> None:
    path = FIXTURES / "kssl_mir_like.csv.gz"
    library = read_kssl_mir(path)
    header, rows = read_rows(path)
    assert library.wavelength_unit == "cm-1" and library.quantity == "absorbance"
    np.testing.assert_array_equal(library.wavelengths, np.arange(600.0, 4001.0, 2.0))
    np.testing.assert_array_equal(library.ids, [row[0] for row in rows])
    assert library.property_units == {
        "k.ext_usda.a725_cmolc.kg": "cmol(+)/kg",
        "cec_usda.a723_cmolc.kg": "cmol(+)/kg",
        "oc_usda.c729_w.pct": "%",
        "clay.tot_usda.a334_w.pct": "%",
    }
    np.testing.assert_array_equal(library.spectra[:, 0], column(header, rows, "600"))


def test_kssl_mir_needs_an_id_column() -> None:
    with pytest.raises(SpectralLibraryError, match="has no 'id' column"):
        read_kssl_mir(FIXTURES / "nirsoil_like.csv")


# ----------------------------------------------------------------------------------------------
# Real files
# ----------------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_real_nirsoil(shared_data: Path) -> None:
    path = shared_data / "soil" / "prospectr" / "NIRsoil.csv"
    start = time.perf_counter()
    library = read_nirsoil(path)
    elapsed = time.perf_counter() - start
    header, rows = read_rows(path)
    assert len(library) == 825 and library.n_bands == 700
    assert library.wavelengths[0] == 1100.0 and library.wavelengths[-1] == 2498.0
    # Missing properties stay missing: as many NaN as empty cells in the file (22 %, 11 %, 46 %).
    for name in ("Nt", "Ciso", "CEC"):
        empty = sum(row[header.index(name)] in ("", "NA") for row in rows)
        assert int(library.props[name].isna().sum()) == empty > 0
        np.testing.assert_array_equal(library.props[name].to_numpy(), column(header, rows, name))
    assert (library.meta["split"] == "train").sum() == 618 and (library.meta["split"] == "test").sum() == 207
    assert elapsed < 2.0


@pytest.mark.shared_data
def test_real_datsoilspc(shared_data: Path) -> None:
    path = shared_data / "soil" / "wadoux_soilspec" / "datsoilspc.csv"
    start = time.perf_counter()
    library = read_datsoilspc(path)
    elapsed = time.perf_counter() - start
    assert len(library) == 391 and library.n_bands == 2151
    np.testing.assert_array_equal(library.wavelengths, np.arange(350.0, 2501.0))
    header, rows = read_rows(path)
    for name in ("clay", "silt", "sand", "TotalCarbon"):
        np.testing.assert_array_equal(library.props[name].to_numpy(), column(header, rows, name))
    # clay + silt + sand is 100 % within rounding of the hydrometer data (94-106 %): the texture fractions
    np.testing.assert_allclose(library.props[["clay", "silt", "sand"]].sum(axis=1), 100.0, atol=6.0)
    assert 0.0 < np.nanmin(library.spectra) and np.nanmax(library.spectra) < 1.0
    assert elapsed < 2.0


@pytest.mark.shared_data
def test_real_kssl_mir(shared_data: Path) -> None:
    path = shared_data / "soil" / "soilspecdl_kssl_mir" / "toy_kssl_mir.csv.gz"
    start = time.perf_counter()
    library = read_kssl_mir(path)
    elapsed = time.perf_counter() - start
    header, rows = read_rows(path)
    assert len(library) == 500 and library.n_bands == 1701
    np.testing.assert_array_equal(library.wavelengths, np.arange(600.0, 4001.0, 2.0))
    np.testing.assert_array_equal(library.props["oc_usda.c729_w.pct"], column(header, rows, "oc_usda.c729_w.pct"))
    assert library.property_units["oc_usda.c729_w.pct"] == "%"
    assert library.property_units["cec_usda.a723_cmolc.kg"] == "cmol(+)/kg"
    assert elapsed < 2.0
    # The vis-NIR-to-MIR pooling guard: a MIR library cannot be stacked with a nm one unconverted.
    from eospec.errors import MixedUnitsError
    from eospec.libraries import SpectralLibrary

    with pytest.raises(MixedUnitsError):
        SpectralLibrary.concat([library, library.to_unit("nm")])

"""EnMAP-Box spectral library GeoPackage loader: generated fixtures, edge cases, the real Berlin files."""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pytest
import shapely

from eospec.errors import MixedUnitsError, SpectralLibraryError, UnknownUnitError, WavelengthOrderError
from eospec.libraries import read_enmapbox_library, read_envi_library
from eospec.libraries.enmapbox import decode_profile

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "libraries_raw"
_spec = importlib.util.spec_from_file_location("libraries_raw_data_gpkg", FIXTURES / "data.py")
assert _spec is not None and _spec.loader is not None
data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(data)


def _sqlite_profiles(path: Path, layer: str, field: str) -> list[dict | None]:
    """The profile dictionaries straight from SQLite (no GDAL): an independent decode."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute(f'SELECT "{field}" FROM "{layer}" ORDER BY fid').fetchall()
    return [None if value is None else json.loads(bytes(value).decode("utf-8")) for (value,) in rows]


def _profile(x: list[float], y: list[float | None], unit: str | None = "Nanometers", **extra: object) -> dict:
    return {"x": x, "y": y, "xUnit": unit, **extra}


# ---------------------------------------------------------------------------------------------
# Generated fixture
# ---------------------------------------------------------------------------------------------


def test_fixture_values_match_sqlite_decode() -> None:
    path = FIXTURES / "tiny_enmapbox.gpkg"
    library = read_enmapbox_library(path)
    profiles = _sqlite_profiles(path, "library", "profiles")
    expected = np.array([[np.nan if v is None else v for v in p["y"]] for p in profiles], dtype=np.float64)
    expected[:, np.asarray(profiles[0]["bbl"]) == 0] = np.nan
    np.testing.assert_array_equal(library.spectra, expected)
    np.testing.assert_array_equal(library.wavelengths, profiles[0]["x"])
    assert library.wavelength_unit == "nm"
    assert library.name == "library"


def test_fixture_metadata_geometry_properties_and_repeats() -> None:
    library = read_enmapbox_library(FIXTURES / "tiny_enmapbox.gpkg", properties=["soc"])
    meta = library.meta
    assert meta["name"].tolist() == ["soil A", "soil A", "grass"]
    assert meta["fid"].tolist() == [1, 2, 3]
    assert "profiles" not in meta.columns
    np.testing.assert_array_equal(meta["x"].to_numpy()[:2], [370000.0, 370030.0])
    assert np.isnan(meta["x"].iloc[2]) and np.isnan(meta["y"].iloc[2])  # empty point
    assert set(meta["crs"]) == {"EPSG:32633"}
    np.testing.assert_array_equal(library.props["soc"].to_numpy(), [12.5, np.nan, 30.1])
    assert library.n_samples == 2


def test_bad_bands_keep() -> None:
    library = read_enmapbox_library(FIXTURES / "tiny_enmapbox.gpkg", bad_bands="keep")
    bad = np.asarray(data.GPKG_BBL) == 0
    np.testing.assert_array_equal(library.spectra[:, bad][:, 0], [row[5] for row in data.GPKG_PROFILES])


# ---------------------------------------------------------------------------------------------
# Encodings and layouts
# ---------------------------------------------------------------------------------------------


def test_text_and_blob_encodings_agree(tmp_path: Path) -> None:
    profile = _profile([500.0, 600.0, 700.0], [0.1, None, 0.3], bbl=[1, 1, 1])
    records = [{"name": "a", "profiles": profile, "geometry": shapely.Point(13.0, 52.0)}]
    blob = data.write_enmapbox_gpkg(tmp_path / "blob.gpkg", records, crs="EPSG:4326")
    text = data.write_enmapbox_gpkg(
        tmp_path / "text.gpkg", records, crs="EPSG:4326", blob_fields=(), text_fields=("profiles",)
    )
    a, b = read_enmapbox_library(blob), read_enmapbox_library(text)
    np.testing.assert_array_equal(a.spectra, b.spectra)
    np.testing.assert_array_equal(a.spectra[0], [0.1, np.nan, 0.3])
    assert b.meta["lon"].iloc[0] == 13.0 and b.meta["lat"].iloc[0] == 52.0  # geographic CRS -> lon/lat


def test_several_profile_fields_need_field(tmp_path: Path) -> None:
    records = [
        {
            "name": "a",
            "full": _profile([500.0, 600.0, 700.0], [0.1, 0.2, 0.3]),
            "landsat": _profile([560.0, 660.0], [0.15, 0.25]),
            "geometry": None,
        }
    ]
    path = data.write_enmapbox_gpkg(tmp_path / "two.gpkg", records, blob_fields=("full", "landsat"))
    with pytest.raises(SpectralLibraryError, match=r"several profile fields \['full', 'landsat'\].*field="):
        read_enmapbox_library(path)
    library = read_enmapbox_library(path, field="landsat")
    np.testing.assert_array_equal(library.wavelengths, [560.0, 660.0])
    assert "full" not in library.meta.columns
    with pytest.raises(SpectralLibraryError, match="holds no spectral profiles"):
        read_enmapbox_library(path, field="name")
    with pytest.raises(SpectralLibraryError, match="has no field 'nope'"):
        read_enmapbox_library(path, field="nope")


def test_different_axes_refused_or_united(tmp_path: Path) -> None:
    records = [
        {"name": "a", "profiles": _profile([500.0, 600.0, 700.0], [0.1, 0.2, 0.3]), "geometry": None},
        {"name": "b", "profiles": _profile([600.0, 800.0], [0.5, 0.6]), "geometry": None},
    ]
    path = data.write_enmapbox_gpkg(tmp_path / "axes.gpkg", records)
    with pytest.raises(SpectralLibraryError, match=r"2 different band axes.*axes='union'.*field="):
        read_enmapbox_library(path)
    library = read_enmapbox_library(path, axes="union")
    np.testing.assert_array_equal(library.wavelengths, [500.0, 600.0, 700.0, 800.0])
    np.testing.assert_array_equal(library.spectra, [[0.1, 0.2, 0.3, np.nan], [np.nan, 0.5, np.nan, 0.6]])


def test_mixed_units_refused(tmp_path: Path) -> None:
    records = [
        {"name": "a", "profiles": _profile([500.0, 600.0], [0.1, 0.2]), "geometry": None},
        {"name": "b", "profiles": _profile([0.5, 0.6], [0.1, 0.2], unit="Micrometers"), "geometry": None},
    ]
    path = data.write_enmapbox_gpkg(tmp_path / "units.gpkg", records)
    with pytest.raises(MixedUnitsError, match=r"different units \{'nm': 1, 'um': 1\}: split the layer"):
        read_enmapbox_library(path, axes="union")


def test_unknown_or_missing_units_and_missing_x(tmp_path: Path) -> None:
    unknown = data.write_enmapbox_gpkg(
        tmp_path / "u.gpkg", [{"profiles": _profile([1.0, 2.0], [0.1, 0.2], unit="Band Number"), "geometry": None}]
    )
    with pytest.raises(UnknownUnitError, match=r"'Band Number'.*use one of 'nm', 'um', 'cm-1'"):
        read_enmapbox_library(unknown)
    assert read_enmapbox_library(unknown, wavelength_unit="nm").wavelength_unit == "nm"
    no_unit = data.write_enmapbox_gpkg(
        tmp_path / "n.gpkg", [{"profiles": _profile([1.0, 2.0], [0.1, 0.2], unit=None), "geometry": None}]
    )
    with pytest.raises(UnknownUnitError, match="gives no wavelength unit"):
        read_enmapbox_library(no_unit)
    no_x = data.write_enmapbox_gpkg(tmp_path / "x.gpkg", [{"profiles": {"y": [0.1, 0.2]}, "geometry": None}])
    with pytest.raises(SpectralLibraryError, match="no 'x' values"):
        read_enmapbox_library(no_x)


def test_decreasing_axis_reversed_and_disordered_axis(tmp_path: Path) -> None:
    down = data.write_enmapbox_gpkg(
        tmp_path / "d.gpkg", [{"profiles": _profile([4000.0, 3000.0, 2000.0], [1.0, 2.0, 3.0], unit="cm-1")}]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # absorbance above 2 is no scaling problem
        library = read_enmapbox_library(down, quantity="absorbance")
    np.testing.assert_array_equal(library.wavelengths, [2000.0, 3000.0, 4000.0])
    np.testing.assert_array_equal(library.spectra[0], [3.0, 2.0, 1.0])
    mixed = data.write_enmapbox_gpkg(
        tmp_path / "m.gpkg", [{"profiles": _profile([500.0, 700.0, 600.0], [0.1, 0.3, 0.2])}]
    )
    with pytest.raises(WavelengthOrderError, match="sort_wavelengths=True"):
        read_enmapbox_library(mixed)
    np.testing.assert_array_equal(read_enmapbox_library(mixed, sort_wavelengths=True).spectra[0], [0.1, 0.2, 0.3])


def test_features_without_profile_are_dropped_with_warning(tmp_path: Path) -> None:
    records = [
        {"name": "a", "profiles": _profile([500.0, 600.0], [0.1, 0.2]), "geometry": None},
        {"name": "empty", "profiles": None, "geometry": None},
        {"name": "b", "profiles": _profile([500.0, 600.0], [0.3, 0.4]), "geometry": None},
    ]
    path = data.write_enmapbox_gpkg(tmp_path / "gap.gpkg", records)
    with pytest.warns(UserWarning, match=r"1 feature\(s\).*dropped \(fid \[2\]\)"):
        library = read_enmapbox_library(path)
    assert library.meta["name"].tolist() == ["a", "b"]
    np.testing.assert_array_equal(library.spectra, [[0.1, 0.2], [0.3, 0.4]])


def test_pickled_profiles_are_refused(tmp_path: Path) -> None:
    payload = pickle.dumps({"x": [1.0, 2.0], "y": [0.1, 0.2]})
    path = data.write_enmapbox_gpkg(tmp_path / "p.gpkg", [{"name": "a", "profiles": payload, "geometry": None}])
    with pytest.raises(SpectralLibraryError, match="pickled profile"):
        decode_profile(payload)
    with pytest.raises(SpectralLibraryError, match=r"feature 1 .* is a pickled profile.*current EnMAP-Box"):
        read_enmapbox_library(path)


def test_decode_profile_edge_cases() -> None:
    assert decode_profile(None) is None
    assert decode_profile(float("nan")) is None
    assert decode_profile(b"   ") is None
    assert decode_profile('{"y": [1, null]}') == {"y": [1, None]}
    with pytest.raises(SpectralLibraryError, match="not a JSON spectral profile"):
        decode_profile("plain text")
    with pytest.raises(SpectralLibraryError, match="needs a list of values under 'y'"):
        decode_profile('{"x": [1, 2]}')


def test_layers(tmp_path: Path) -> None:
    path = FIXTURES.parent / "libraries_raw" / "tiny_enmapbox.gpkg"
    copy = tmp_path / "two_layers.gpkg"
    shutil.copy(path, copy)
    data.write_enmapbox_gpkg(copy, [{"name": "z", "profiles": _profile([1.0, 2.0], [0.5, 0.6])}], layer="second")
    with pytest.raises(SpectralLibraryError, match=r"several spectral library layers \['library', 'second'\]"):
        read_enmapbox_library(copy)
    assert len(read_enmapbox_library(copy, layer="second")) == 1
    with pytest.raises(SpectralLibraryError, match="has no layer 'third'"):
        read_enmapbox_library(copy, layer="third")


def test_not_a_library_and_missing_file(tmp_path: Path) -> None:
    path = data.write_enmapbox_gpkg(
        tmp_path / "points.gpkg", [{"name": "p", "geometry": shapely.Point(1.0, 2.0)}], blob_fields=()
    )
    with pytest.raises(SpectralLibraryError, match="not a spectral library"):
        read_enmapbox_library(path)
    with pytest.raises(SpectralLibraryError, match="does not exist"):
        read_enmapbox_library(tmp_path / "missing.gpkg")
    (tmp_path / "junk.gpkg").write_bytes(b"junk" * 10)
    with pytest.raises(SpectralLibraryError, match="cannot be opened"):
        read_enmapbox_library(tmp_path / "junk.gpkg")


# ---------------------------------------------------------------------------------------------
# Real files (../shared/data)
# ---------------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_berlin_gpkg_matches_the_envi_library(shared_data: Path) -> None:
    folder = shared_data / "enmap" / "berlin"
    with pytest.warns(UserWarning, match="scale=10000"):
        read_enmapbox_library(folder / "library_berlin.gpkg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        library = read_enmapbox_library(folder / "library_berlin.gpkg", scale=10000)
    envi = read_envi_library(folder / "library_berlin.sli")
    np.testing.assert_allclose(library.spectra, envi.spectra, rtol=1e-12)
    np.testing.assert_array_equal(library.wavelengths, envi.wavelengths)
    assert library.wavelength_unit == envi.wavelength_unit == "um"
    for column in ("name", "level_1", "level_2", "level_3"):
        assert library.meta[column].tolist() == envi.meta[column].tolist()
    assert "Landsat8" not in library.meta.columns  # an empty profile field, not metadata
    assert library.meta["lon"].isna().all()  # the features carry empty points


@pytest.mark.shared_data
def test_enmap_srf_library_needs_union(shared_data: Path) -> None:
    path = shared_data / "enmap" / "berlin" / "enmap_srf_library.gpkg"
    with pytest.raises(SpectralLibraryError, match="different band axes"):
        read_enmapbox_library(path)
    library = read_enmapbox_library(path, axes="union")
    profiles = _sqlite_profiles(path, "SpectralLibrary", "profiles")
    assert len(library) == len(profiles) == 177
    for row in (0, 88, 176):
        x, y = np.asarray(profiles[row]["x"], dtype=float), np.asarray(profiles[row]["y"], dtype=float)
        present = ~np.isnan(library.spectra[row])
        np.testing.assert_array_equal(library.wavelengths[present], x)
        np.testing.assert_array_equal(library.spectra[row][present], y)


@pytest.mark.shared_data
def test_landcover_points_are_not_a_library(shared_data: Path) -> None:
    with pytest.raises(SpectralLibraryError, match="not a spectral library"):
        read_enmapbox_library(shared_data / "enmap" / "berlin" / "landcover_berlin_point.gpkg")

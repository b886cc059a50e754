"""ENVI spectral library loader: generated fixtures, edge cases and the real USGS / Berlin libraries."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eospec.errors import SpectralLibraryError, UnknownUnitError, WavelengthOrderError
from eospec.libraries import SpectralLibrary, read_envi_library
from eospec.libraries.envi import SPECPR_DELETED, read_envi_header

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "libraries_raw"
_spec = importlib.util.spec_from_file_location("libraries_raw_data", FIXTURES / "data.py")
assert _spec is not None and _spec.loader is not None
data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(data)


def _spy_spectra(header: Path, data_file: Path) -> np.ndarray:
    """The matrix as Spectral Python (SPy) reads it: an independent parse of the same files."""
    spectral = pytest.importorskip("spectral")
    return np.asarray(spectral.io.envi.open(str(header), str(data_file)).spectra, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Generated fixtures
# ---------------------------------------------------------------------------------------------


def test_tiny_values_match_independent_parse() -> None:
    library = read_envi_library(FIXTURES / "tiny.hdr")
    assert isinstance(library, SpectralLibrary)
    raw = np.fromfile(FIXTURES / "tiny.sli", dtype="<i2").reshape(3, 10).astype(np.float64)
    np.testing.assert_array_equal(raw, _spy_spectra(FIXTURES / "tiny.hdr", FIXTURES / "tiny.sli"))
    expected = raw / 10000.0
    expected[raw == -9999] = np.nan
    expected[:, np.asarray(data.TINY_BBL) == 0] = np.nan
    np.testing.assert_allclose(library.spectra, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(library.wavelengths, data.TINY_WAVELENGTHS_UM)
    assert library.wavelength_unit == "um"
    assert library.quantity == "reflectance"
    assert library.name == "tiny"


def test_tiny_metadata_sidecars_and_repeats() -> None:
    library = read_envi_library(FIXTURES / "tiny.sli", properties=["soc"])
    assert library.meta["name"].tolist() == data.TINY_NAMES
    assert library.meta["level_1"].tolist() == ["soil", "soil", "vegetation"]
    classes = json.loads((FIXTURES / "tiny.json").read_text())["level_1"]["categories"]
    codes = {label: code for code, label, _ in classes}
    assert library.meta["level_1_id"].tolist() == [codes[v] for v in library.meta["level_1"]]
    assert library.n_samples == 2  # "soil A" twice is one sample
    csv = pd.read_csv(FIXTURES / "tiny.csv")
    np.testing.assert_array_equal(library.props["soc"].to_numpy(), csv["soc"].to_numpy())
    assert np.isnan(library.props["soc"].iloc[1])  # missing stays missing, never zero
    assert "soc" not in library.meta.columns


def test_sidecars_can_be_ignored() -> None:
    library = read_envi_library(FIXTURES / "tiny.hdr", sidecars=False)
    assert list(library.meta.columns) == ["name"]


def test_bad_bands_keep() -> None:
    library = read_envi_library(FIXTURES / "tiny.hdr", bad_bands="keep")
    raw = np.fromfile(FIXTURES / "tiny.sli", dtype="<i2").reshape(3, 10)
    np.testing.assert_allclose(library.spectra[:, 3], raw[:, 3] / 10000.0)


def test_usgs_layout_records_sentinel_and_sorting() -> None:
    library = read_envi_library(FIXTURES / "usgs_like.hdr", sort_wavelengths=True)
    # wavelength, resolution and error-bar records are not spectra
    assert library.meta["name"].tolist() == ["Quartz GDS31        ASDFRb AREF", "Kaolinite CM9        BECKa AREF"]
    order = np.argsort(data.USGS_WAVELENGTHS_UM)
    np.testing.assert_allclose(library.wavelengths, np.asarray(data.USGS_WAVELENGTHS_UM)[order])
    quartz = np.asarray(data.USGS_QUARTZ, dtype=np.float32)[order]
    np.testing.assert_array_equal(library.spectra[0], quartz)  # each value moved with its band
    kaolinite = np.asarray(data.USGS_KAOLINITE, dtype=np.float32)[order]
    deleted = kaolinite < -1e30
    assert np.isnan(library.spectra[1][deleted]).all()
    np.testing.assert_array_equal(library.spectra[1][~deleted], kaolinite[~deleted])
    assert library.spectra.dtype == np.float32  # kept as stored (big-endian float32)


def test_non_monotonic_axis_raises_with_fix() -> None:
    with pytest.raises(WavelengthOrderError, match=r"0\.7 is followed by 0\.65.*sort_wavelengths=True"):
        read_envi_library(FIXTURES / "usgs_like.hdr")


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "float32", "float64", "uint16"])
@pytest.mark.parametrize("byte_order", [0, 1])
def test_round_trip_dtypes_and_byte_orders(tmp_path: Path, dtype: str, byte_order: int) -> None:
    values = np.random.default_rng(1).integers(1, 200, size=(4, 6)).astype(dtype)
    header, _ = data.write_envi_library(
        tmp_path / "lib",
        values,
        {"wavelength units": "nm", "wavelength": [400, 500, 600, 700, 800, 900], "reflectance scale factor": 255},
        byte_order=byte_order,
    )
    library = read_envi_library(header)
    np.testing.assert_allclose(library.spectra, values.astype(np.float64) / 255, rtol=1e-6)
    assert library.wavelength_unit == "nm"
    assert library.ids.tolist() == [f"spectrum {i}" for i in range(1, 5)]  # no names in the header


def test_header_offset_is_honoured(tmp_path: Path) -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4) / 20
    header, data_file = data.write_envi_library(
        tmp_path / "lib", values, {"wavelength units": "nm", "wavelength": [1, 2, 3, 4], "header offset": 16}
    )
    payload = data_file.read_bytes()
    data_file.write_bytes(b"\x00" * 16 + payload)
    np.testing.assert_array_equal(read_envi_library(header).spectra, values)


def test_decreasing_wavenumbers_are_reversed(tmp_path: Path) -> None:
    values = np.array([[0.1, 0.2, 0.3, 0.4]])
    header, _ = data.write_envi_library(
        tmp_path / "mir", values, {"wavelength units": "Wavenumber", "wavelength": [4000, 3000, 2000, 1000]}
    )
    library = read_envi_library(header, quantity="absorbance")
    assert library.wavelength_unit == "cm-1"
    np.testing.assert_array_equal(library.wavelengths, [1000, 2000, 3000, 4000])
    np.testing.assert_array_equal(library.spectra[0], values[0, ::-1])


def test_repeated_wavelength_raises(tmp_path: Path) -> None:
    header, _ = data.write_envi_library(
        tmp_path / "lib", np.ones((1, 4)), {"wavelength units": "nm", "wavelength": [400, 500, 500, 450]}
    )
    with pytest.raises(WavelengthOrderError, match=r"repeats band centre.*500"):
        read_envi_library(header, sort_wavelengths=True)


def test_unknown_and_missing_units(tmp_path: Path) -> None:
    header, _ = data.write_envi_library(
        tmp_path / "lib", np.ones((1, 3)) / 2, {"wavelength units": "Index", "wavelength": [1, 2, 3]}
    )
    with pytest.raises(UnknownUnitError, match=r"'Index'.*use one of 'nm', 'um', 'cm-1'"):
        read_envi_library(header)
    assert read_envi_library(header, wavelength_unit="nm").wavelength_unit == "nm"
    header2, _ = data.write_envi_library(tmp_path / "nounit", np.ones((1, 3)) / 2, {"wavelength": [1, 2, 3]})
    with pytest.raises(UnknownUnitError, match=r"nounit.hdr \('wavelength units'\) gives no wavelength unit"):
        read_envi_library(header2)


def test_image_header_is_not_a_library(tmp_path: Path) -> None:
    header, _ = data.write_envi_library(tmp_path / "cube", np.ones((2, 3)), {"bands": 5, "wavelength units": "nm"})
    with pytest.raises(SpectralLibraryError, match="5 bands, not a spectral library"):
        read_envi_library(header)


def test_truncated_data_file(tmp_path: Path) -> None:
    header, data_file = data.write_envi_library(
        tmp_path / "lib", np.ones((3, 4), dtype=np.float32), {"wavelength units": "nm", "wavelength": [1, 2, 3, 4]}
    )
    data_file.write_bytes(data_file.read_bytes()[:20])
    with pytest.raises(SpectralLibraryError, match="truncated"):
        read_envi_library(header)


def test_missing_files_and_bad_header(tmp_path: Path) -> None:
    with pytest.raises(SpectralLibraryError, match="no ENVI header"):
        read_envi_library(tmp_path / "nothing.sli")
    (tmp_path / "lonely.hdr").write_text("ENVI\nsamples = 2\n")
    with pytest.raises(SpectralLibraryError, match="no data file"):
        read_envi_library(tmp_path / "lonely.hdr")
    (tmp_path / "bad.hdr").write_text("not a header\n")
    (tmp_path / "bad.sli").write_bytes(b"\x00" * 8)
    with pytest.raises(SpectralLibraryError, match="first line must be 'ENVI'"):
        read_envi_library(tmp_path / "bad.sli")


def test_sidecar_that_disagrees_is_reported(tmp_path: Path) -> None:
    for suffix in (".hdr", ".sli", ".json"):
        shutil.copy(FIXTURES / f"tiny{suffix}", tmp_path / f"tiny{suffix}")
    (tmp_path / "tiny.csv").write_text("spectra names,level_1\nsoil A,soil\nsoil B,soil\ngrass,vegetation\n")
    with pytest.raises(SpectralLibraryError, match=r"row 1 of tiny.csv names 'soil B'.*sidecars=False"):
        read_envi_library(tmp_path / "tiny.hdr")
    assert len(read_envi_library(tmp_path / "tiny.hdr", sidecars=False)) == 3


def test_scaled_reflectance_warns_and_scale_fixes_it(tmp_path: Path) -> None:
    values = np.array([[12.0, 35.0, 60.0]])
    header, _ = data.write_envi_library(tmp_path / "pct", values, {"wavelength units": "nm", "wavelength": [1, 2, 3]})
    with pytest.warns(UserWarning, match=r"reaches 60.*scale=100"):
        read_envi_library(header)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(read_envi_library(header, scale=100).spectra, values / 100)
    with pytest.raises(ValueError, match="positive number"):
        read_envi_library(header, scale=0)


def test_header_parser_keeps_braced_lists_and_description() -> None:
    fields = read_envi_header(FIXTURES / "usgs_like.hdr")
    assert fields["description"] == "eospec test library"
    assert isinstance(fields["spectra names"], list) and len(fields["spectra names"]) == 5
    assert fields["byte order"] == "1"


# ---------------------------------------------------------------------------------------------
# Real libraries (../shared/data)
# ---------------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_usgs_splib07(shared_data: Path) -> None:
    folder = shared_data / "endmembers" / "usgs_splib07_av95"
    header, data_file = folder / "s07_AV95_envi.hdr", folder / "s07_AV95_envi.sli"
    fields = read_envi_header(header)
    names = [name.strip() for name in fields["spectra names"]]
    is_spectrum = np.array(
        [not (n.startswith(("Wavelengths", "Resolution")) or n.startswith("error bars")) for n in names]
    )
    library = read_envi_library(header, sort_wavelengths=True)
    assert len(library) == int(is_spectrum.sum()) == 3139 - 2 - 680
    header_axis = np.asarray([float(v) for v in fields["wavelength"]])
    order = np.argsort(header_axis)
    np.testing.assert_allclose(library.wavelengths, header_axis[order])
    assert library.wavelength_unit == "um"
    # against SPy: the same numbers, with the deleted channels (-1.23e34) as NaN and the bands sorted
    expected = _spy_spectra(header, data_file)[is_spectrum][:, order]
    deleted = np.isclose(expected, SPECPR_DELETED, rtol=1e-5)
    assert deleted.any()
    np.testing.assert_array_equal(np.isnan(library.spectra), deleted)
    np.testing.assert_allclose(library.spectra[~deleted], expected[~deleted], rtol=1e-7)
    assert np.nanmin(library.spectra) > -1.0 and np.nanmax(library.spectra) < 2.0


@pytest.mark.shared_data
def test_usgs_splib06_sentinel_without_ignore_value(shared_data: Path) -> None:
    folder = shared_data / "endmembers" / "usgs_splib07_av95"
    header = folder / "s06av95a_envi.hdr"
    assert "data ignore value" not in read_envi_header(header)
    library = read_envi_library(header, sort_wavelengths=True)
    assert library.spectra.shape == (1365, 224)
    expected = _spy_spectra(header, folder / "s06av95a_envi.sli")
    assert int(np.isnan(library.spectra).sum()) == int((expected < -1e30).sum()) > 0
    assert library.n_samples == len(set(library.meta["name"]))  # equal names are repeats


@pytest.mark.shared_data
def test_berlin_library_with_class_sidecars(shared_data: Path) -> None:
    folder = shared_data / "enmap" / "berlin"
    library = read_envi_library(folder / "library_berlin.sli")
    assert library.spectra.shape == (75, 177)
    # stored as reflectance x 10000 ("z plot titles = {..., reflectance [*10000]}")
    expected = _spy_spectra(folder / "library_berlin.hdr", folder / "library_berlin.sli") / 10000.0
    np.testing.assert_allclose(library.spectra, expected, rtol=1e-12)
    assert 0.0 < np.nanmin(library.spectra) and np.nanmax(library.spectra) < 1.0
    csv = pd.read_csv(folder / "library_berlin.csv")
    for level in ("level_1", "level_2", "level_3"):
        assert library.meta[level].tolist() == csv[level].tolist()
        categories = json.loads((folder / "library_berlin.json").read_text())[level]["categories"]
        codes = {label: code for code, label, _ in categories}
        assert library.meta[f"{level}_id"].tolist() == [codes[v] for v in csv[level]]
    assert library.meta["name"].tolist() == csv["spectra names"].str.strip().tolist()

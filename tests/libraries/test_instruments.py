"""Raw instrument files: ASD .asd and Bruker OPUS, on the real OSSL sample files and on generated junk."""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eospec.errors import DataPackageMissingError, SpectralLibraryError
from eospec.libraries import read_asd, read_opus

pytest.importorskip("specdal")
pytest.importorskip("brukeropusreader")

OSSL = ("soil", "ossl_sample")
ASD_FILES = ("101453MD01.asd", "235157MD01.asd")
OPUS_FILES = ("235157XS01.0", "icr056141.0")


def _asd_by_hand(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Wavelengths and target / reference of an ASD v8 raw file, parsed with NumPy from the byte layout
    of "ASD File Format version 8" (independent of SpecDAL)."""
    raw = path.read_bytes()
    assert raw[:3] in (b"as6", b"as7", b"as8")
    start, step = struct.unpack("<ff", raw[191:199])
    channels = struct.unpack("<h", raw[204:206])[0]
    assert raw[199] == 2  # double precision data
    target = np.frombuffer(raw, dtype="<f8", count=channels, offset=484)
    after = 484 + 8 * channels
    description = struct.unpack("<H", raw[after + 18 : after + 20])[0]
    reference = np.frombuffer(raw, dtype="<f8", count=channels, offset=after + 20 + description)
    splices = struct.unpack("<ff", raw[444:452])
    return start + step * np.arange(channels), target / reference, splices


def _opus_parameters(path: Path) -> dict:
    from brukeropusreader.opus_parser import parse_data, parse_meta

    content = path.read_bytes()
    return parse_data(content, parse_meta(content))["AB Data Parameter"]


# ---------------------------------------------------------------------------------------------
# ASD
# ---------------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_asd_reflectance_matches_independent_parse(shared_data: Path) -> None:
    folder = shared_data.joinpath(*OSSL)
    library = read_asd([folder / name for name in ASD_FILES])
    assert library.spectra.shape == (2, 2151)
    assert library.wavelength_unit == "nm" and library.quantity == "reflectance"
    for row, name in enumerate(ASD_FILES):
        wavelengths, reflectance, _ = _asd_by_hand(folder / name)
        np.testing.assert_allclose(library.wavelengths, wavelengths)
        np.testing.assert_allclose(library.spectra[row], reflectance, rtol=1e-12)
    assert library.wavelengths[0] == 350.0 and library.wavelengths[-1] == 2500.0
    assert 0.0 < library.spectra.min() and library.spectra.max() < 1.0
    assert library.ids.tolist() == ["101453MD01", "235157MD01"]
    assert library.meta["file"].tolist() == list(ASD_FILES)
    assert set(library.meta["spectrum_type"]) == {"RAW_TYPE"}


@pytest.mark.shared_data
def test_asd_folder_and_sample_id_pattern(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data.joinpath(*OSSL)
    assert read_asd(folder).meta["file"].tolist() == list(ASD_FILES)  # a folder: its .asd files, sorted
    for replicate in ("235157MD01.asd", "235157MD02.asd"):
        shutil.copy(folder / "235157MD01.asd", tmp_path / replicate)
    default = read_asd(tmp_path)
    assert default.n_samples == 2  # file stems differ
    grouped = read_asd(tmp_path, sample_id=r"(?P<id>\d+)MD\d+")
    assert grouped.ids.tolist() == ["235157", "235157"] and grouped.n_samples == 1
    assert read_asd(tmp_path, sample_id=lambda path: path.name[:3]).ids.tolist() == ["235", "235"]
    with pytest.raises(SpectralLibraryError, match="does not match the file name"):
        read_asd(tmp_path, sample_id=r"XYZ(\d+)")


@pytest.mark.shared_data
def test_asd_jump_correction_joins_the_detectors(shared_data: Path) -> None:
    path = shared_data.joinpath(*OSSL, ASD_FILES[0])
    plain = read_asd(path)
    corrected = read_asd(path, jump_correct=True)
    wavelengths, _, (splice1, splice2) = _asd_by_hand(path)
    vnir, swir1, swir2 = (
        wavelengths <= splice1,
        (wavelengths > splice1) & (wavelengths <= splice2),
        wavelengths > splice2,
    )
    np.testing.assert_array_equal(corrected.spectra[0][swir1], plain.spectra[0][swir1])  # SWIR1 held fixed
    # the other segments are shifted by a constant so that they meet SWIR1 at the splices
    for segment in (vnir, swir2):
        shift = corrected.spectra[0][segment] - plain.spectra[0][segment]
        np.testing.assert_allclose(shift, shift[0], atol=1e-12)
    last_vnir, first_swir1 = np.flatnonzero(vnir)[-1], np.flatnonzero(swir1)[0]
    last_swir1, first_swir2 = np.flatnonzero(swir1)[-1], np.flatnonzero(swir2)[0]
    assert corrected.spectra[0][last_vnir] == pytest.approx(corrected.spectra[0][first_swir1])
    assert corrected.spectra[0][first_swir2] == pytest.approx(corrected.spectra[0][last_swir1])


def test_asd_junk_and_missing_paths(tmp_path: Path) -> None:
    junk = tmp_path / "junk.asd"
    junk.write_bytes(b"not an asd file" * 40)
    with pytest.raises(SpectralLibraryError, match=r"junk.asd cannot be read as an ASD file"):
        read_asd(junk)
    with pytest.raises(SpectralLibraryError, match="does not exist"):
        read_asd(tmp_path / "missing.asd")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpectralLibraryError, match=r"holds no ASD \(.asd\) files"):
        read_asd(empty)


# ---------------------------------------------------------------------------------------------
# Bruker OPUS
# ---------------------------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("name", OPUS_FILES)
def test_opus_axis_and_values_match_the_header(shared_data: Path, name: str) -> None:
    path = shared_data.joinpath(*OSSL, name)
    library = read_opus(path)
    parameters = _opus_parameters(path)
    npt_value = parameters["NPT"]
    assert library.spectra.shape == (1, npt_value)
    assert library.wavelength_unit == "cm-1" and library.quantity == "absorbance"
    axis = np.linspace(parameters["FXV"], parameters["LXV"], npt_value)
    np.testing.assert_allclose(library.wavelengths, np.sort(axis))
    assert np.all(np.diff(library.wavelengths) > 0)
    # OPUS records the extremes of the stored y values (MXY, MNY): the parsed spectrum must reach them
    assert library.spectra.max() == pytest.approx(parameters["MXY"] * parameters.get("CSF", 1.0), rel=1e-6)
    assert library.spectra.min() == pytest.approx(parameters["MNY"] * parameters.get("CSF", 1.0), rel=1e-6)
    assert library.ids.tolist() == [Path(name).stem]
    assert str(library.meta["acquired"].iloc[0].tz) == "UTC"


@pytest.mark.shared_data
def test_opus_picks_the_data_block_not_the_report(shared_data: Path) -> None:
    import brukeropusreader

    path = shared_data.joinpath(*OSSL, "235157XS01.0")
    # brukeropusreader's read_file returns a later text block of the AB type in place of the spectrum
    assert brukeropusreader.read_file(str(path))["AB"].size != _opus_parameters(path)["NPT"]
    assert read_opus(path).spectra.shape[1] == _opus_parameters(path)["NPT"]


@pytest.mark.shared_data
def test_opus_acquisition_time_in_utc(shared_data: Path) -> None:
    path = shared_data.joinpath(*OSSL, "235157XS01.0")
    parameters = _opus_parameters(path)
    assert parameters["TIM"].endswith("(GMT-5)")
    day, month, year = parameters["DAT"].split("/")
    local = pd.Timestamp(f"{year}-{month}-{day}T{parameters['TIM'].split()[0]}-05:00")
    assert read_opus(path).meta["acquired"].iloc[0] == local.tz_convert("UTC")


@pytest.mark.shared_data
def test_opus_repeats_share_an_id_and_axes_must_agree(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data.joinpath(*OSSL, "235157XS01.0")
    for suffix in (".0", ".1"):
        shutil.copy(source, tmp_path / f"235157XS01{suffix}")
    library = read_opus(tmp_path)
    assert library.ids.tolist() == ["235157XS01", "235157XS01"] and library.n_samples == 1
    np.testing.assert_array_equal(library.mean_repeats().spectra[0], library.spectra[0])
    with pytest.raises(SpectralLibraryError, match=r"icr056141.0 has 1715 bands.*resample"):
        read_opus([source, shared_data.joinpath(*OSSL, "icr056141.0")])


def test_opus_junk(tmp_path: Path) -> None:
    junk = tmp_path / "junk.0"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(SpectralLibraryError, match="junk.0"):
        read_opus(junk)
    zeros = tmp_path / "zeros.0"
    zeros.write_bytes(b"\x00" * 600)
    with pytest.raises(SpectralLibraryError, match="no AB \\(absorbance\\) spectrum block"):
        read_opus(zeros)


# ---------------------------------------------------------------------------------------------
# The optional extra
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "modules", "filename"),
    [
        (read_asd, ("specdal", "specdal.reader", "specdal.utils.misc"), "x.asd"),
        (read_opus, ("brukeropusreader", "brukeropusreader.opus_parser", "brukeropusreader.block_parser"), "x.0"),
    ],
)
def test_missing_package_says_how_to_install(monkeypatch, tmp_path: Path, reader, modules, filename) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # import of it now raises ImportError
    path = tmp_path / filename
    path.write_bytes(b"\x00" * 600)
    with pytest.raises(DataPackageMissingError, match=r'pip install "eospec\[instruments\]"') as caught:
        reader(path)
    assert isinstance(caught.value, ImportError)
    assert modules[0] in str(caught.value)

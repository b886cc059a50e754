"""open_scene on every input form of the generated EnMAP fixture, and on the real Potsdam scene."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import enmap_cloud_block, enmap_reference

from eospec.errors import (
    MissingCRSError,
    MissingWavelengthsError,
    NotARasterError,
    SceneNotFoundError,
)
from eospec.io.scene import Scene, open_scene

DATA = Path(__file__).resolve().parents[1] / "data" / "enmap"
EXPECTED = json.loads((DATA / "expected.json").read_text())
PRODUCT = EXPECTED["product"]
FORMS = {
    "dlr_folder": DATA / PRODUCT,
    "dlr_zip": DATA / f"{PRODUCT}.zip",
    "enmapbox_geotiff": DATA / "enmapbox_style.tif",
    "envi_data": DATA / "envi_cube.bsq",
    "envi_header": DATA / "envi_cube.hdr",
}
DLR_FORMS = {"dlr_folder", "dlr_zip"}
BAD = np.asarray(EXPECTED["bad_bands"]) - 1
GOOD = np.setdiff1d(np.arange(224), BAD)


reference = enmap_reference
cloud_block = enmap_cloud_block


@pytest.fixture(params=sorted(FORMS))
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_metadata_of_every_form(form: str) -> None:
    with open_scene(FORMS[form]) as scene:
        info = scene.info
        assert (info.count, info.height, info.width) == (224, *EXPECTED["size"])
        assert info.crs is not None and info.crs.to_epsg() == EXPECTED["crs_epsg"]
        np.testing.assert_allclose(list(info.transform)[:6], EXPECTED["transform"])
        np.testing.assert_allclose(info.wavelengths_nm, EXPECTED["wavelengths_nm"], atol=1e-9)
        np.testing.assert_allclose(info.fwhm_nm, EXPECTED["fwhm_nm"], atol=1e-9)
        np.testing.assert_allclose(info.gain, EXPECTED["gains"], rtol=1e-12)
        np.testing.assert_allclose(info.offset, EXPECTED["offsets"], atol=0)
        assert info.nodata == EXPECTED["nodata"]
        if form in DLR_FORMS:
            assert info.scene_id == PRODUCT
            assert info.acquisition_time is not None
            assert info.acquisition_time.isoformat().startswith("2022-07-24T10:45:26")
        else:
            assert (np.flatnonzero(info.bad_bands) + 1).tolist() == EXPECTED["bad_bands"]


def test_same_reflectance_from_every_form(form: str) -> None:
    expected = reference()[GOOD]
    with open_scene(FORMS[form]) as scene:
        reflectance = scene.read_reflectance(bands=GOOD)
    assert reflectance.dtype == np.float32
    assert reflectance.shape == (GOOD.size, *EXPECTED["size"])
    if form in DLR_FORMS:
        block = cloud_block()
        assert np.isnan(reflectance[:, block]).all()  # QL_QUALITY_CLOUD
        expected[:, block] = np.nan
    np.testing.assert_allclose(reflectance, expected, rtol=1e-6, atol=1e-7, equal_nan=True)
    finite = reflectance[np.isfinite(reflectance)]
    assert finite.min() >= 0 and finite.max() <= 1


def test_invalid_pixels_and_bad_bands_are_nan(form: str) -> None:
    with open_scene(FORMS[form]) as scene:
        if form in DLR_FORMS:
            assert scene.info.bad_bands.sum() == len(BAD)
        reflectance = scene.read_reflectance()
    assert np.isnan(reflectance[BAD]).all()
    for row, col in EXPECTED["nodata_pixels"] + EXPECTED["zero_pixels"]:
        assert np.isnan(reflectance[:, row, col]).all()
    expected = reference()
    if form in DLR_FORMS:
        expected[:, cloud_block()] = np.nan
    np.testing.assert_allclose(reflectance, expected, rtol=1e-6, atol=1e-7, equal_nan=True)


def test_window_read_matches_full_read() -> None:
    from rasterio.windows import Window

    window = Window(col_off=20, row_off=2, width=10, height=8)
    with open_scene(FORMS["enmapbox_geotiff"]) as scene:
        full = scene.read_reflectance(bands=GOOD)
        part = scene.read_reflectance(window, bands=GOOD)
        flags = scene.quality_flags(window)
    np.testing.assert_array_equal(part, full[:, 2:10, 20:30])
    assert flags.shape == (8, 10) and not flags.any()


def test_vegetation_and_soil_pixels_are_plausible() -> None:
    wavelengths = np.asarray(EXPECTED["wavelengths_nm"])
    red, nir = (int(np.argmin(np.abs(wavelengths - target))) for target in (665, 850))
    with open_scene(FORMS["enmapbox_geotiff"]) as scene:
        reflectance = scene.read_reflectance(bands=[red, nir])
    ndvi = (reflectance[1] - reflectance[0]) / (reflectance[1] + reflectance[0])
    vegetation = np.asarray(EXPECTED["vegetation_pixels"])
    soil = np.asarray(EXPECTED["soil_pixels"])
    assert len(vegetation) > 50 and len(soil) > 50
    assert ndvi[vegetation[:, 0], vegetation[:, 1]].min() > 0.6
    assert ndvi[soil[:, 0], soil[:, 1]].max() < 0.2


def _wavelength_csv(path: Path) -> Path:
    rows = ["wavelength,fwhm"] + [
        f"{w!r},{f!r}" for w, f in zip(EXPECTED["wavelengths_nm"], EXPECTED["fwhm_nm"], strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_wavelengths_override_on_untagged_raster(tmp_path: Path) -> None:
    table = _wavelength_csv(tmp_path / "bands.csv")
    with open_scene(DATA / "no_wavelengths.tif", wavelengths=table) as scene:
        np.testing.assert_allclose(scene.info.wavelengths_nm, EXPECTED["wavelengths_nm"])
        np.testing.assert_allclose(scene.info.fwhm_nm, EXPECTED["fwhm_nm"])
        reflectance = scene.read_reflectance(bands=GOOD)
    np.testing.assert_allclose(reflectance, reference()[GOOD], rtol=1e-6, atol=1e-7, equal_nan=True)
    with open_scene(DATA / "no_wavelengths.tif", wavelengths=EXPECTED["wavelengths_nm"]) as scene:
        np.testing.assert_allclose(scene.info.wavelengths_nm, EXPECTED["wavelengths_nm"])


def test_missing_wavelengths_message_names_the_fix() -> None:
    for name in ("no_wavelengths.tif", "rgb.tif"):
        with pytest.raises(MissingWavelengthsError, match=r"no band wavelengths.*--wavelengths"):
            open_scene(DATA / name)


def test_wavelength_count_mismatch(tmp_path: Path) -> None:
    with pytest.raises(MissingWavelengthsError, match="224 bands .* but 3 wavelengths"):
        open_scene(DATA / "no_wavelengths.tif", wavelengths=[450.0, 550.0, 650.0])


def test_not_a_raster() -> None:
    with pytest.raises(NotARasterError, match="not_a_raster.tif.*not a raster GDAL can read"):
        open_scene(DATA / "not_a_raster.tif")


def test_missing_crs() -> None:
    with pytest.raises(MissingCRSError, match="no CRS.*gdal_edit.py -a_srs"):
        open_scene(DATA / "no_crs.tif")
    with open_scene(DATA / "no_crs.tif", require_crs=False) as scene:
        assert scene.info.crs is None
        assert np.isfinite(scene.read_reflectance(bands=GOOD)).any()


def test_all_nodata_scene_reads_all_nan() -> None:
    with open_scene(DATA / "all_nodata.tif") as scene:
        assert np.isnan(scene.read_reflectance()).all()


def test_missing_path_and_folder_without_product(tmp_path: Path) -> None:
    with pytest.raises(SceneNotFoundError, match="Scene not found"):
        open_scene(tmp_path / "absent.tif")
    with pytest.raises(SceneNotFoundError, match="folder without an EnMAP L2A product"):
        open_scene(tmp_path)


# -- real data -------------------------------------------------------------------------------


def _check_potsdam(scene: Scene) -> None:
    info = scene.info
    assert info.count == 224
    assert 417 < info.wavelengths_nm.min() < 419 and 2445 < info.wavelengths_nm.max() < 2447
    assert np.all(np.diff(info.wavelengths_nm[:91]) > 0)
    assert (np.flatnonzero(info.bad_bands) + 1).tolist() == list(range(130, 136))
    reflectance = scene.read_reflectance()
    assert np.isnan(reflectance[info.bad_bands]).all()
    median = float(np.nanmedian(reflectance[~info.bad_bands]))
    assert 0.02 < median < 0.5


@pytest.mark.shared_data
def test_real_potsdam_mosaic(shared_data: Path) -> None:
    path = shared_data / "enmap" / "potsdam" / "enmap_potsdam_tiles_mosaic.tif"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with open_scene(path) as scene:
        _check_potsdam(scene)
        assert scene.info.acquisition_time is not None
        invalid = np.isnan(scene.read_reflectance(bands=[0])[0])
        assert 0.3 < invalid.mean() < 0.6  # the gap between tiles plus the all-zero pixels


@pytest.mark.shared_data
def test_real_potsdam_tile(shared_data: Path) -> None:
    tiles = sorted((shared_data / "enmap" / "potsdam" / "tiles").glob("*.tif"))
    if not tiles:
        pytest.skip("Potsdam tiles not found")
    with open_scene(tiles[0]) as scene:
        assert scene.info.scale_source == "GDAL band scale/offset"
        _check_potsdam(scene)


def test_dlr_named_file_alone(tmp_path: Path) -> None:
    """A product file without its METADATA.XML: read from its own tags, or refused with the XML hint."""
    import shutil

    name = f"{PRODUCT}-SPECTRAL_IMAGE.TIF"
    tagged = tmp_path / "tagged" / name
    tagged.parent.mkdir()
    shutil.copy(FORMS["enmapbox_geotiff"], tagged)
    with open_scene(tagged) as scene:
        assert scene.info.count == 224 and scene.info.gain[0] == pytest.approx(1e-4)
    bare = tmp_path / "bare" / name
    bare.parent.mkdir()
    shutil.copy(FORMS["dlr_folder"] / name, bare)
    with pytest.raises(SceneNotFoundError, match="METADATA.XML"):
        open_scene(bare)


@pytest.mark.parametrize(
    ("dtype", "scale", "expected_gain", "source"),
    [
        ("int16", 10000, 1e-4, "integer data taken as reflectance x 10000"),
        ("float32", 10000, 1e-4, "float data > 2 taken as reflectance x 10000"),
        ("float32", 1, 1.0, "float data taken as reflectance"),
    ],
)
def test_gain_is_guessed_only_without_stored_scale(
    tmp_path: Path, dtype: str, scale: int, expected_gain: float, source: str
) -> None:
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "untagged_scale.tif"
    values = (np.full((3, 8, 8), 0.25) * scale).astype(dtype)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=3,
        dtype=dtype,
        crs="EPSG:32633",
        transform=from_origin(0, 80, 10, 10),
    ) as dst:
        dst.write(values)
    with open_scene(path, wavelengths=[560.0, 665.0, 865.0]) as scene:
        assert scene.info.scale_source == source
        assert scene.info.gain[0] == pytest.approx(expected_gain)
        np.testing.assert_allclose(scene.read_reflectance(), 0.25, rtol=1e-6)

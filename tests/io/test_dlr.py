"""Tests of eospec.io.dlr on the generated DLR product (tests/data/enmap/data.py)."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio

from eospec.errors import MissingWavelengthsError, SceneNotFoundError
from eospec.io.dlr import L2A_NODATA, DLRProduct, find_dlr_product, parse_metadata_xml
from eospec.io.scene import open_scene

DATA = Path(__file__).resolve().parents[1] / "data" / "enmap"
EXPECTED = json.loads((DATA / "expected.json").read_text())
PRODUCT = EXPECTED["product"]
FOLDER = DATA / PRODUCT
ZIP = DATA / f"{PRODUCT}.zip"
XML = FOLDER / f"{PRODUCT}-METADATA.XML"


def expected_start() -> datetime:
    return datetime.fromisoformat(EXPECTED["acquisition_start"].replace("Z", "+00:00")).replace(tzinfo=None)


@pytest.fixture(params=["folder", "zip"])
def product(request: pytest.FixtureRequest) -> DLRProduct:
    found = find_dlr_product(FOLDER if request.param == "folder" else ZIP)
    assert found is not None
    return found


def test_band_characterisation_matches_generator(product: DLRProduct) -> None:
    np.testing.assert_allclose(product.wavelengths_nm, EXPECTED["wavelengths_nm"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(product.fwhm_nm, EXPECTED["fwhm_nm"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(product.gains, EXPECTED["gains"], rtol=1e-12)
    np.testing.assert_allclose(product.offsets, EXPECTED["offsets"], atol=0)
    for array in (product.wavelengths_nm, product.fwhm_nm, product.gains, product.offsets):
        assert array.dtype == np.float64
        assert array.shape == (224,)


def test_scene_facts(product: DLRProduct) -> None:
    assert product.scene_id == EXPECTED["scene_id"]
    assert product.acquisition_start == expected_start()
    assert product.nodata == EXPECTED["nodata"]
    assert product.processing_level == "L2A"
    assert product.bad_bands is not None
    assert (np.flatnonzero(product.bad_bands) + 1).tolist() == EXPECTED["bad_bands"]


def test_quality_masks(product: DLRProduct) -> None:
    # single-band flag layers only: QL_QUALITY_CLASSES is a class layer and the L2A pixel mask
    # has one band per spectral band
    assert set(product.quality_masks) == {"cloud", "cirrus", "snow", "cloudshadow", "haze"}
    assert product.quality_masks["cloud"].endswith("-QL_QUALITY_CLOUD.TIF")
    assert product.quality_masks["cloudshadow"].endswith("-QL_QUALITY_CLOUDSHADOW.TIF")
    assert product.pixel_mask_per_band is not None
    assert product.pixel_mask_per_band.endswith("-QL_PIXELMASK.TIF")
    for path in product.quality_masks.values():
        with rasterio.open(path) as mask:
            assert mask.count == 1


def test_cloud_mask_flags_exactly_the_cloud_block() -> None:
    rows, cols = EXPECTED["cloud_rows"], EXPECTED["cloud_cols"]
    expected = np.zeros(tuple(EXPECTED["size"]), dtype=bool)
    expected[rows[0] : rows[1], cols[0] : cols[1]] = True
    for path in (FOLDER, ZIP):
        with open_scene(path) as scene:
            layers = scene.quality_layers()
            np.testing.assert_array_equal(layers["cloud"], expected)
            for name in ("cirrus", "snow", "cloudshadow", "haze"):
                assert not layers[name].any()
            np.testing.assert_array_equal(scene.quality_flags(), expected)


def test_zip_paths_are_vsizip_and_hold_the_same_pixels() -> None:
    zipped = find_dlr_product(ZIP)
    plain = find_dlr_product(FOLDER)
    assert zipped is not None and plain is not None
    assert zipped.spectral_image.startswith("/vsizip/")
    assert zipped.metadata_xml.startswith("/vsizip/")
    assert f".zip/{PRODUCT}/{PRODUCT}-SPECTRAL_IMAGE.TIF" in zipped.spectral_image
    with rasterio.open(zipped.spectral_image) as a, rasterio.open(plain.spectral_image) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.crs == b.crs and a.transform == b.transform


def test_gain_offset_give_the_tagged_geotiff_reflectance(product: DLRProduct) -> None:
    good = np.flatnonzero(~product.bad_bands) if product.bad_bands is not None else None
    with rasterio.open(product.spectral_image) as dataset:
        raw = dataset.read().astype(np.float64)
    reflectance = raw * product.gains[:, None, None] + product.offsets[:, None, None]
    with open_scene(DATA / "enmapbox_style.tif") as scene:
        reference = scene.read_reflectance(bands=good)
    valid = np.isfinite(reference).all(axis=0)
    assert valid.sum() == 1024 - len(EXPECTED["nodata_pixels"]) - len(EXPECTED["zero_pixels"])
    np.testing.assert_allclose(reflectance[good][:, valid], reference[:, valid], rtol=1e-6, atol=1e-7)


def test_nested_folder_is_found(tmp_path: Path) -> None:
    outer = tmp_path / "delivery" / "unzipped"
    shutil.copytree(FOLDER, outer / PRODUCT)
    found = find_dlr_product(tmp_path / "delivery")
    assert found is not None
    assert found.scene_id == PRODUCT


def test_spectral_image_or_xml_path_names_the_product() -> None:
    for path in (FOLDER / f"{PRODUCT}-SPECTRAL_IMAGE.TIF", XML):
        found = find_dlr_product(path)
        assert found is not None
        assert Path(found.spectral_image) == FOLDER / f"{PRODUCT}-SPECTRAL_IMAGE.TIF"


def test_no_spectral_image_returns_none(tmp_path: Path) -> None:
    assert find_dlr_product(tmp_path) is None
    shutil.copy(DATA / "enmapbox_style.tif", tmp_path / "enmapbox_style.tif")
    assert find_dlr_product(tmp_path) is None
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(DATA / "rgb.tif", "rgb.tif")
    assert find_dlr_product(archive) is None
    (tmp_path / "broken.zip").write_text("not a zip")
    assert find_dlr_product(tmp_path / "broken.zip") is None
    assert find_dlr_product(DATA / "rgb.tif") is None


def test_missing_metadata_xml_folder(tmp_path: Path) -> None:
    folder = tmp_path / PRODUCT
    shutil.copytree(FOLDER, folder)
    (folder / XML.name).unlink()
    with pytest.raises(SceneNotFoundError, match=r"no '.*-METADATA\.XML' beside it.*re-download"):
        find_dlr_product(folder)
    with pytest.raises(SceneNotFoundError, match="METADATA.XML"):
        open_scene(folder)


def test_missing_metadata_xml_zip(tmp_path: Path) -> None:
    archive = tmp_path / f"{PRODUCT}.zip"
    with zipfile.ZipFile(ZIP) as source, zipfile.ZipFile(archive, "w") as target:
        for item in source.infolist():
            if not item.filename.endswith("METADATA.XML"):
                target.writestr(item, source.read(item))
    with pytest.raises(SceneNotFoundError, match=r"SPECTRAL_IMAGE\.TIF.*METADATA\.XML"):
        find_dlr_product(archive)


def test_lower_case_and_cog_names(tmp_path: Path) -> None:
    folder = tmp_path / "product"
    folder.mkdir()
    for path in FOLDER.iterdir():
        name = path.name.replace(".TIF", "_COG.TIF") if "QL_QUALITY_CLOUD." in path.name else path.name
        if "SPECTRAL_IMAGE" in name:
            name = name.replace(".TIF", ".tif")
        shutil.copy(path, folder / name)
    shutil.copy(FOLDER / f"{PRODUCT}-SPECTRAL_IMAGE.TIF", folder / f"{PRODUCT}-SPECTRAL_IMAGE_COG.TIF")
    found = find_dlr_product(folder)
    assert found is not None
    assert found.spectral_image.endswith("-SPECTRAL_IMAGE.tif")  # plain preferred over _COG
    assert found.quality_masks["cloud"].endswith("-QL_QUALITY_CLOUD_COG.TIF")


def test_several_products_are_refused(tmp_path: Path) -> None:
    shutil.copytree(FOLDER, tmp_path / PRODUCT)
    other = PRODUCT.replace("DT0000001867", "DT0000001868")
    (tmp_path / other).mkdir()
    for path in FOLDER.iterdir():
        shutil.copy(path, tmp_path / other / path.name.replace(PRODUCT, other))
    with pytest.raises(SceneNotFoundError, match="holds 2 EnMAP products.*pass one"):
        find_dlr_product(tmp_path)


def test_l1b_product_is_refused(tmp_path: Path) -> None:
    stem = PRODUCT.replace("L2A", "L1B")
    for suffix in ("SPECTRAL_IMAGE_VNIR.TIF", "SPECTRAL_IMAGE_SWIR.TIF", "METADATA.XML"):
        (tmp_path / f"{stem}-{suffix}").write_bytes(b"")
    with pytest.raises(SceneNotFoundError, match="L1B.*L2A"):
        find_dlr_product(tmp_path)


def test_single_band_pixel_mask_is_a_quality_mask(tmp_path: Path) -> None:
    folder = tmp_path / PRODUCT
    shutil.copytree(FOLDER, folder)
    with rasterio.open(folder / f"{PRODUCT}-QL_QUALITY_CLOUD.TIF") as source:
        profile = source.profile
        data = source.read()
    with rasterio.open(folder / f"{PRODUCT}-QL_PIXELMASK.TIF", "w", **profile) as target:
        target.write(data)
    found = find_dlr_product(folder)
    assert found is not None
    assert "pixelmask" in found.quality_masks
    assert found.pixel_mask_per_band is None


# -- parse_metadata_xml ---------------------------------------------------------------------


def test_xml_with_default_namespace_parses_the_same() -> None:
    text = XML.read_text()
    namespaced = text.replace("<level_X ", '<level_X xmlns="http://www.dlr.de/enmap/l2a" ', 1)
    plain = parse_metadata_xml(text)
    with_ns = parse_metadata_xml(namespaced)
    np.testing.assert_array_equal(plain.wavelengths_nm, with_ns.wavelengths_nm)
    np.testing.assert_array_equal(plain.bad_bands, with_ns.bad_bands)
    assert with_ns.scene_id == PRODUCT
    assert with_ns.acquisition_start == expected_start()


def _xml(bands: str, extra: str = "", level: str = "L2A") -> str:
    return (
        f"<level_X><metadata><schema><processingLevel>{level}</processingLevel></schema>"
        f"<name>ENMAP01-____{level}-TEST-METADATA.XML</name></metadata>{extra}"
        f"<specific><bandCharacterisation>{bands}</bandCharacterisation></specific></level_X>"
    )


def test_bands_sorted_by_number_per_band_gains_and_nodata_element() -> None:
    bands = (
        '<bandID number="2"><wavelengthCenterOfBand>500.5</wavelengthCenterOfBand>'
        "<FWHMOfBand>7</FWHMOfBand><GainOfBand>0.0002</GainOfBand><OffsetOfBand>-0.01</OffsetOfBand>"
        "</bandID>"
        '<bandID number="1"><wavelengthCenterOfBand>420.25</wavelengthCenterOfBand></bandID>'
    )
    parsed = parse_metadata_xml(_xml(bands, "<product><noDataValue>-9999</noDataValue></product>"))
    np.testing.assert_array_equal(parsed.wavelengths_nm, [420.25, 500.5])
    assert np.isnan(parsed.fwhm_nm[0]) and parsed.fwhm_nm[1] == 7
    np.testing.assert_array_equal(parsed.gains, [1e-4, 2e-4])  # missing L2A gain -> 0.0001
    np.testing.assert_array_equal(parsed.offsets, [0.0, -0.01])
    assert parsed.nodata == -9999
    assert parsed.scene_id == "ENMAP01-____L2A-TEST"
    assert parsed.acquisition_start is None


def test_l2a_default_nodata_and_no_statistics() -> None:
    bands = '<bandID number="1"><wavelengthCenterOfBand>420</wavelengthCenterOfBand></bandID>'
    parsed = parse_metadata_xml(_xml(bands))
    assert parsed.nodata == L2A_NODATA
    assert not parsed.bad_bands.any()


def test_not_an_enmap_xml() -> None:
    with pytest.raises(MissingWavelengthsError, match="bandCharacterisation.*not a DLR EnMAP"):
        parse_metadata_xml("<level_X><specific/></level_X>", "x-METADATA.XML")
    with pytest.raises(MissingWavelengthsError, match="Cannot parse 'bad-METADATA.XML' as XML"):
        parse_metadata_xml("<level_X>", "bad-METADATA.XML")

"""Tests of the EnMAPL2A TorchGeo dataset on the generated fixture and the real Potsdam tiles."""

from __future__ import annotations

import json
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import enmap_cloud_block, enmap_reference
from torch.utils.data import DataLoader

# tests/conftest.py imports eospec first, whose _compat makes torchvision (and torchgeo) importable
from torchgeo.datasets import DatasetNotFoundError, stack_samples
from torchgeo.samplers import GridGeoSampler

from eospec.datasets import EnMAPL2A
from eospec.datasets.utils import shared_data_dir

DATA = Path(__file__).resolve().parents[1] / "data" / "enmap"
EXPECTED = json.loads((DATA / "expected.json").read_text())
PRODUCT = EXPECTED["product"]
FORMS = {
    "dlr_folder": DATA / PRODUCT,
    "dlr_zip": DATA / f"{PRODUCT}.zip",
    "dlr_image": DATA / PRODUCT / f"{PRODUCT}-SPECTRAL_IMAGE.TIF",
    "enmapbox_geotiff": DATA / "enmapbox_style.tif",
    "envi": DATA / "envi_cube.bsq",
}
DLR_FORMS = {"dlr_folder", "dlr_zip", "dlr_image"}
BAD = np.asarray(EXPECTED["bad_bands"]) - 1
ALL = EnMAPL2A.all_bands


reference = enmap_reference
cloud_block = enmap_cloud_block


@pytest.fixture(params=sorted(FORMS))
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_full_read_is_float32_reflectance_with_nan(form: str) -> None:
    dataset = EnMAPL2A(FORMS[form], bands=ALL)
    assert len(dataset) == 1
    assert dataset.res == (30.0, 30.0)
    sample = dataset[dataset.bounds]
    image = sample["image"]
    assert isinstance(image, torch.Tensor)
    assert image.dtype == torch.float32
    assert image.shape == (224, *EXPECTED["size"])
    values = image.numpy()
    finite = values[np.isfinite(values)]
    assert 0 <= finite.min() and finite.max() <= 1
    expected = reference()
    if form in DLR_FORMS:
        expected[:, cloud_block()] = np.nan  # QL_QUALITY_CLOUD
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-7, equal_nan=True)
    assert sample["crs"] == dataset.crs


def test_nodata_zero_pixels_and_bad_bands_are_nan() -> None:
    values = EnMAPL2A(FORMS["dlr_zip"], bands=ALL)[:]["image"].numpy()
    assert np.isnan(values[BAD]).all()
    for row, col in EXPECTED["nodata_pixels"] + EXPECTED["zero_pixels"]:
        assert np.isnan(values[:, row, col]).all()
    assert np.isnan(values[:, cloud_block()]).all()
    kept = EnMAPL2A(FORMS["dlr_zip"], bands=ALL, mask_quality=False)[:]["image"].numpy()
    good = np.setdiff1d(np.arange(224), BAD)
    assert np.isfinite(kept[good][:, cloud_block()]).all()
    assert (kept[good][:, cloud_block()] > 0.3).all()  # the bright cloud spectra


def test_default_bands_and_band_subset() -> None:
    full = EnMAPL2A(FORMS["enmapbox_geotiff"], bands=ALL)[:]["image"]
    default = EnMAPL2A(FORMS["enmapbox_geotiff"])
    assert len(default.bands) == 202
    image = default[:]["image"]
    assert image.shape == (202, *EXPECTED["size"])
    rows = [ALL.index(band) for band in default.bands]
    torch.testing.assert_close(image, full[rows], equal_nan=True)
    rgb = EnMAPL2A(FORMS["dlr_folder"], bands=EnMAPL2A.rgb_bands)
    image = rgb[:]["image"]
    assert image.shape == (3, *EXPECTED["size"])
    expected = reference()[[ALL.index(band) for band in EnMAPL2A.rgb_bands]]
    expected[:, cloud_block()] = np.nan
    np.testing.assert_allclose(image.numpy(), expected, rtol=1e-6, atol=1e-7, equal_nan=True)
    np.testing.assert_allclose(
        rgb.band_wavelengths_nm,
        [EXPECTED["wavelengths_nm"][ALL.index(band)] for band in EnMAPL2A.rgb_bands],
    )
    with pytest.raises(AssertionError):
        EnMAPL2A(FORMS["enmapbox_geotiff"], bands=["B0"])


def test_slice_indexing_returns_the_window() -> None:
    dataset = EnMAPL2A(FORMS["enmapbox_geotiff"], bands=ALL)
    full = dataset[:]["image"]
    x, y, _ = dataset.bounds
    res = 30.0
    # columns 20-29, rows 2-9 of the 32x32 grid (rows count down from the top)
    x0, x1 = x.start + 20 * res, x.start + 30 * res
    y0, y1 = y.stop - 10 * res, y.stop - 2 * res
    window = dataset[x0:x1:res, y0:y1:res]["image"]
    assert window.shape == (224, 8, 10)
    torch.testing.assert_close(window, full[:, 2:10, 20:30], equal_nan=True)
    coarse = dataset[x.start : x.stop : 60.0, y.start : y.stop : 60.0]["image"]
    assert coarse.shape == (224, 16, 16)
    # nearest neighbour: each 60 m cell takes the 30 m pixel at its centre (lower right of 2x2)
    torch.testing.assert_close(coarse, full[:, 1::2, 1::2], equal_nan=True)
    with pytest.raises(IndexError):
        dataset[x.stop + 1000 : x.stop + 2000, y.start : y.stop]


def test_grid_sampler_and_data_loader() -> None:
    dataset = EnMAPL2A([FORMS["dlr_zip"]])
    sampler = GridGeoSampler(dataset, size=16, stride=16)
    assert len(sampler) == 4
    loader = DataLoader(dataset, sampler=sampler, batch_size=2, collate_fn=stack_samples)
    batches = list(loader)
    assert len(batches) == 2
    for batch in batches:
        assert batch["image"].shape == (2, 202, 16, 16)
        assert batch["image"].dtype == torch.float32
    images = torch.cat([batch["image"] for batch in batches])
    finite = images[torch.isfinite(images)]
    assert finite.min() >= 0 and finite.max() <= 1
    assert torch.isnan(images).any()  # nodata corner, zero pixels and cloud block


def test_acquisition_time_index() -> None:
    start = datetime(2022, 7, 24, 10, 45, 26)
    for form in ("dlr_folder", "dlr_zip", "enmapbox_geotiff"):
        interval = EnMAPL2A(FORMS[form]).index.index[0]
        assert interval.left == pd.Timestamp(start)
        assert start <= interval.right < datetime(2022, 7, 24, 10, 45, 27)
    undated = EnMAPL2A(FORMS["envi"]).index.index[0]
    assert undated.left == pd.Timestamp.min and undated.right == pd.Timestamp.max
    dataset = EnMAPL2A(FORMS["enmapbox_geotiff"])
    x, y, _ = dataset.bounds
    with pytest.raises(IndexError):
        dataset[x, y, pd.Timestamp("2023-01-01") : pd.Timestamp("2023-02-01")]


def test_folder_discovery_and_filename_glob() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = EnMAPL2A(DATA)
    names = sorted(Path(path).name for path in dataset.index["filepath"])
    # the product once (its folder; the zip of the same scene is skipped), QL_* layers never
    assert names == sorted(
        [
            f"{PRODUCT}-SPECTRAL_IMAGE.TIF",
            "all_nodata.tif",
            "enmapbox_style.tif",
            "envi_cube.bsq",
            "no_wavelengths.tif",
        ]
    )
    messages = " ".join(str(item.message) for item in caught)
    assert "no_crs.tif" in messages and "rgb.tif" in messages
    assert "no_wavelengths.tif' has no band wavelengths" in messages
    only = EnMAPL2A(DATA, filename_glob="enmapbox_style.tif")
    assert [Path(path).name for path in only.index["filepath"]] == ["enmapbox_style.tif"]
    zipped = EnMAPL2A(DATA, filename_glob="ENMAP*.zip")
    assert len(zipped) == 1 and str(zipped.index["filepath"].iloc[0]).startswith("/vsizip/")
    with pytest.raises(DatasetNotFoundError):
        EnMAPL2A(DATA, filename_glob="nothing_*.tif")


def test_untagged_no_data_bands_do_not_blank_pixels() -> None:
    with pytest.warns(UserWarning, match="generic band centres"):
        dataset = EnMAPL2A(DATA / "no_wavelengths.tif", bands=ALL)
    values = dataset[:]["image"].numpy()
    np.testing.assert_allclose(values, reference(), rtol=1e-6, atol=1e-7, equal_nan=True)


# -- real data -------------------------------------------------------------------------------


def potsdam_tiles() -> Path:
    root = shared_data_dir()
    tiles = root / "enmap" / "potsdam" / "tiles" if root is not None else None
    if tiles is None or not tiles.is_dir():
        pytest.skip("real Potsdam tiles not found (set EOSPEC_SHARED_DATA)")
    return tiles


@pytest.mark.shared_data
def test_real_potsdam_tiles(shared_data: Path) -> None:
    tiles = potsdam_tiles()
    dataset = EnMAPL2A(tiles, filename_glob="enmap_potsdam_tile_*.tif")
    assert len(dataset) == 18
    assert dataset.crs.to_epsg() == 32633
    assert dataset.index.index[0].left == pd.Timestamp("2022-07-24T10:45:26")
    sampler = GridGeoSampler(dataset, size=32, stride=32)
    loader = DataLoader(dataset, sampler=sampler, batch_size=6, collate_fn=stack_samples)
    images = torch.cat([batch["image"] for batch in loader])
    assert images.shape == (18, 202, 32, 32)
    assert images.dtype == torch.float32
    median = float(np.nanmedian(images.numpy()))
    assert 0.02 < median < 0.5
    finite = images[torch.isfinite(images)]
    assert finite.min() >= -0.05 and finite.max() < 1.5


@pytest.mark.shared_data
def test_real_potsdam_bad_bands_are_nan(shared_data: Path) -> None:
    tile = sorted(potsdam_tiles().glob("*.tif"))[0]
    image = EnMAPL2A(tile, bands=ALL)[:]["image"]
    assert torch.isnan(image[129:135]).all()
    assert torch.isfinite(image[:129]).float().mean() > 0.9

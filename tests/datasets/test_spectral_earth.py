"""Tests of the SpectralEarth dataset and data module on the generated fixture and on ``eospec sample`` output."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from torchgeo.datasets import DatasetNotFoundError

import eospec  # noqa: F401
from eospec.datasets import SpectralEarth
from eospec.datasets.spectral_earth import SpectralEarthDataModule, SpectralEarthNotFoundError, random_dihedral

ROOT = Path(__file__).resolve().parents[1] / "data" / "spectral_earth"
EXPECTED = json.loads((ROOT / "expected.json").read_text())
_spec = importlib.util.spec_from_file_location("spectral_earth_data", ROOT / "data.py")
assert _spec is not None and _spec.loader is not None
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)


def _dihedral_images(image: torch.Tensor) -> list[torch.Tensor]:
    out = []
    for flip_w in (False, True):
        for flip_h in (False, True):
            for transpose in (False, True):
                x = image.flip(-1) if flip_w else image
                x = x.flip(-2) if flip_h else x
                out.append(x.transpose(-1, -2) if transpose else x)
    return out


def test_reads_reflectance_as_written():
    dataset = SpectralEarth(ROOT, split="all")
    assert len(dataset) == 6
    index = [patch.patch_id for patch in dataset.patches].index("p1")
    torch.manual_seed(0)
    seen = set()
    for _ in range(12):
        sample = dataset[index]
        d = EXPECTED["patches"]["p1"].index(sample["date"])
        seen.add(d)
        expected = fixture.values(1, d).astype(np.float32) * np.float32(1e-4)
        np.testing.assert_allclose(sample["image"].numpy(), expected, rtol=1e-6)
        assert sample["image"].dtype == torch.float32 and sample["valid"].all()
        assert sample["patch_id"] == "p1"
    assert seen == {0, 1}  # both dates drawn over 12 accesses
    assert dataset.wavelengths_nm.shape == (202,)


def test_nodata_pixels_are_filled_and_flagged():
    dataset = SpectralEarth(ROOT, split="all", fill_value=-1.0)
    image, valid = dataset.read(str(ROOT / "enmap" / "p0" / "20230502T103012.tif"))
    assert not valid[0, 0] and valid.sum() == 16 * 16 - 1
    assert torch.all(image[:, 0, 0] == -1.0)
    np.testing.assert_allclose(image[:, 1, 1].numpy(), fixture.values(0, 1)[:, 1, 1] * 1e-4, rtol=1e-6)


def test_two_views_are_two_dates_or_a_transformed_copy():
    dataset = SpectralEarth(ROOT, split="all", views=2)
    ids = [patch.patch_id for patch in dataset.patches]
    torch.manual_seed(1)
    sample = dataset[ids.index("p2")]
    assert {sample["date1"], sample["date2"]} == set(EXPECTED["patches"]["p2"])
    assert not sample["same_date"]
    for key in ("image1", "image2"):
        d = EXPECTED["patches"]["p2"].index(sample[f"date{key[-1]}"])
        np.testing.assert_allclose(sample[key].numpy(), fixture.values(2, d) * 1e-4, rtol=1e-6)
    single = dataset[ids.index("p4")]
    assert single["same_date"] and single["date1"] == single["date2"]
    assert any(torch.equal(single["image2"], candidate) for candidate in _dihedral_images(single["image1"]))
    plain = SpectralEarth(ROOT, split="all", views=2, fallback_transform=None)[ids.index("p4")]
    assert torch.equal(plain["image1"], plain["image2"])


def test_fallback_transform_moves_the_valid_mask_with_the_image():
    dataset = SpectralEarth(ROOT, split="all", views=2, fallback_transform=lambda x: x.flip(-1))
    dataset.patches = [patch for patch in dataset.patches if patch.patch_id == "p0"]
    dataset.patches[0] = type(dataset.patches[0])("p0", dataset.patches[0].files[1:], dataset.patches[0].dates[1:])
    sample = dataset[0]
    assert not sample["valid1"][0, 0] and not sample["valid2"][0, -1] and sample["valid2"].sum() == 255


def test_random_dihedral_draws_all_eight():
    image = torch.arange(9.0).reshape(1, 3, 3)
    generator = torch.Generator().manual_seed(0)
    seen = {tuple(random_dihedral(image, generator).flatten().tolist()) for _ in range(200)}
    assert len(seen) == 8


def test_hash_split_partitions_the_patches():
    all_ids = {patch.patch_id for patch in SpectralEarth(ROOT, split="all").patches}
    splits = {
        split: {
            patch.patch_id for patch in SpectralEarth(ROOT, split=split, val_fraction=0.3, test_fraction=0.3).patches
        }
        for split in ("train", "val", "test")
    }
    assert splits["train"] | splits["val"] | splits["test"] == all_ids
    assert not (splits["train"] & splits["val"]) and not (splits["train"] & splits["test"])
    again = {patch.patch_id for patch in SpectralEarth(ROOT, split="val", val_fraction=0.3, test_fraction=0.3).patches}
    assert again == splits["val"]
    with pytest.raises(ValueError, match="split 'training' is unknown"):
        SpectralEarth(ROOT, split="training")
    with pytest.raises(ValueError, match="views 3 is invalid"):
        SpectralEarth(ROOT, views=3)


def test_split_files_and_index_parquet_select_patches(tmp_path):
    root = tmp_path / "se"
    shutil.copytree(ROOT / "enmap", root / "enmap")
    (root / "splits").mkdir()
    (root / "splits" / "val.txt").write_text("p3\np1\n")
    assert [patch.patch_id for patch in SpectralEarth(root, split="val").patches] == ["p3", "p1"]
    (root / "splits" / "test.txt").write_text("p9\n")
    with pytest.raises(ValueError, match="'p9'"):
        SpectralEarth(root, split="test")
    pd.DataFrame(
        {"patch_id": ["p2", "p5"], "files": [["enmap/p2/20220724T104526.tif"], ["enmap/p5/20220724T104526.tif"]]}
    ).to_parquet(root / "index.parquet")
    dataset = SpectralEarth(root, split="all")
    assert [patch.patch_id for patch in dataset.patches] == ["p2", "p5"]
    assert dataset.n_dates(0) == 1


def test_missing_dataset_says_where_to_download(tmp_path):
    with pytest.raises(SpectralEarthNotFoundError, match=r"geoservice\.dlr\.de.*<root>/enmap/<patch_id>/<date>\.tif"):
        SpectralEarth(tmp_path)
    (tmp_path / "enmap" / "empty").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no <patch_id>/\\*.tif file"):
        SpectralEarth(tmp_path)
    assert issubclass(SpectralEarthNotFoundError, FileNotFoundError)


def test_reads_eospec_sample_output(tmp_path):
    from eospec.sampling import write_spectralearth_patches

    stack = Path(__file__).resolve().parents[1] / "data" / "enmap_stack"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = write_spectralearth_patches(stack, tmp_path / "out", patch_size=16, min_dates=1, progress=False)
    dataset = SpectralEarth(tmp_path / "out", split="all", views=2)
    assert len(dataset) == len(result.index)
    row = result.index.iloc[0]
    path = tmp_path / "out" / row["files"][0]
    image, valid = dataset.read(str(path))
    with rasterio.open(path) as source:
        dn = source.read()
    assert image.shape == (202, 16, 16)
    np.testing.assert_array_equal(valid.numpy(), ~(dn == -32768).any(axis=0))
    np.testing.assert_allclose(image.numpy()[:, valid.numpy()], dn[:, valid.numpy()] * 1e-4, rtol=1e-6)
    sample = dataset[int(np.argmax(result.index["n_dates"].to_numpy()))]
    assert sample["date1"] != sample["date2"] and len(sample["date1"]) == 15


def test_band_statistics_match_numpy():
    dataset = SpectralEarth(ROOT, split="all")
    dataset.patches = [type(p)(p.patch_id, p.files[:1], p.dates[:1]) for p in dataset.patches]
    mean, std = dataset.band_statistics(max_patches=100)
    stacked = np.concatenate([fixture.values(k, 0).reshape(202, -1) * 1e-4 for k in range(6)], axis=1)
    np.testing.assert_allclose(mean, stacked.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(std, stacked.std(axis=1), rtol=1e-3)


def test_data_module_batches():
    data = SpectralEarthDataModule(batch_size=2, root=ROOT, views=2, val_fraction=0.34, test_fraction=0.0)
    data.setup("fit")
    assert len(data.train_dataset) + len(data.val_dataset) == 6
    batch = next(iter(data.train_dataloader()))
    assert batch["image1"].shape == (2, 202, 16, 16) and batch["valid2"].dtype == torch.bool
    assert len(batch["patch_id"]) == 2
    assert data.aug(batch) is batch  # reflectance passes unchanged

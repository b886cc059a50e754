"""Benchmark dataset readers: the nine SpectralEarth layouts and enmap-potsdam."""

from __future__ import annotations

import csv
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from torchgeo.datasets import DatasetNotFoundError as TorchGeoDatasetNotFoundError

from eospec.benchmark import (
    IGNORE_INDEX,
    DatasetNotFoundError,
    EnMAPPotsdam,
    get_benchmark_dataset,
    list_benchmark_datasets,
    parse_dataset_names,
)
from eospec.benchmark.datasets import CLC_TO_BIGEARTHNET19, DOWNLOAD_PAGE, EnMAPCORINE
from eospec.benchmark.fixtures import write_fixture
from eospec.errors import BenchmarkError

NAMES = list_benchmark_datasets()
PAPER = [name for name in NAMES if name != "enmap-potsdam"]


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("benchmark")
    for name in PAPER:
        write_fixture(name, root, samples=(3, 1, 2), size=8)
    write_fixture("enmap-potsdam", root / "potsdam", samples=(3, 1, 2), size=8)
    return root


def _root(name: str, fixture_root: Path) -> Path:
    return fixture_root / "potsdam" if name == "enmap-potsdam" else fixture_root


def test_names_and_table_sizes() -> None:
    assert PAPER == [
        "enmap-cdl",
        "enmap-nlcd",
        "enmap-corine",
        "enmap-eurocrops",
        "enmap-bdforet",
        "enmap-treemap",
        "enmap-bnetd",
        "desis-cdl",
        "eo1-cdl",
    ]
    # class counts of the paper's Table (README of the authors' repository)
    expected = {"enmap-cdl": 14, "enmap-nlcd": 15, "enmap-corine": 19, "enmap-eurocrops": 15, "enmap-bdforet": 12}
    expected |= {"enmap-treemap": 24, "enmap-bnetd": 10, "desis-cdl": 14, "eo1-cdl": 14, "enmap-potsdam": 6}
    assert {name: get_benchmark_dataset(name).num_classes() for name in NAMES} == expected
    assert get_benchmark_dataset("desis-cdl").num_bands == 235
    assert get_benchmark_dataset("eo1-cdl").num_bands == 198


@pytest.mark.parametrize("name", NAMES)
def test_class_tables_match_codes(name: str) -> None:
    """The packaged class tables (transcribed from the products' legends) list the same codes in class order."""
    cls = get_benchmark_dataset(name)
    table = resources.files("eospec").joinpath("data", "benchmark", f"{name.replace('-', '_')}.csv")
    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["code"]) for row in rows] == list(cls.codes)
    assert all(row["name"].strip() for row in rows)
    assert [c.name for c in cls.classes()] == [row["name"].strip() for row in rows]


def test_corine_mapping_matches_table() -> None:
    table = resources.files("eospec").joinpath("data", "benchmark", "enmap_corine_clc.csv")
    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    from_table = {int(row["clc_code"]): int(row["label19"]) for row in rows if row["label19"].strip()}
    assert from_table == CLC_TO_BIGEARTHNET19
    assert sorted(set(CLC_TO_BIGEARTHNET19.values())) == list(range(19))


@pytest.mark.parametrize("name", NAMES)
def test_reads_fixture_against_rasterio(name: str, fixture_root: Path) -> None:
    cls = get_benchmark_dataset(name)
    dataset = cls(root=_root(name, fixture_root), split="train")
    assert len(dataset) == 3
    sample = dataset[1]
    image_path, mask_path = dataset.files[1]
    with rasterio.open(image_path) as source:
        raw = source.read().astype(np.float64)
        nodata = source.nodata
    if name == "enmap-potsdam":
        from eospec.sensors import ENMAP_DEFAULT_BANDS

        raw = raw[np.asarray(ENMAP_DEFAULT_BANDS) - 1]
    invalid = (raw == nodata).all(axis=0)
    assert sample["image"].dtype == torch.float32
    assert sample["image"].shape == (cls.num_bands, 8, 8)
    assert torch.equal(sample["valid"], torch.from_numpy(~invalid))
    expected = np.where(invalid[None], 0.0, raw * 1e-4)
    np.testing.assert_allclose(sample["image"].numpy(), expected, rtol=1e-6, atol=1e-7)
    with rasterio.open(mask_path) as source:
        codes = source.read(1).astype(np.int64)
    if cls.task == "multilabel":
        present = {CLC_TO_BIGEARTHNET19[c] for c in np.unique(codes[~invalid]) if c in CLC_TO_BIGEARTHNET19}
        assert set(np.flatnonzero(sample["label"].numpy())) == present
        assert sample["label"].shape == (19,)
        return
    mask = sample["mask"].numpy()
    for row in range(8):
        for col in range(8):
            code = int(codes[row, col])
            if invalid[row, col] or code not in cls.codes:
                assert mask[row, col] == IGNORE_INDEX
            else:
                assert mask[row, col] == cls.codes.index(code)
    assert (mask == IGNORE_INDEX).any() and (mask != IGNORE_INDEX).any()


def test_authors_layout_is_read(tmp_path: Path) -> None:
    """The authors' data_dir layout: images and masks under root, split files under root/splits/<folder>/."""
    folder = write_fixture("enmap-nlcd", tmp_path / "tmp", samples=(2, 1, 1), size=8)
    root = tmp_path / "data"
    (root / "splits").mkdir(parents=True)
    shutil.move(str(folder / "enmap"), root / "enmap")
    shutil.move(str(folder / "nlcd"), root / "nlcd")
    shutil.move(str(folder / "splits"), root / "splits" / "enmap_nlcd")
    dataset = get_benchmark_dataset("enmap-nlcd")(root, split="train")
    assert len(dataset) == 2
    assert dataset[0]["mask"].shape == (8, 8)


def test_missing_dataset_message(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="EnMAP-CDL.*no train split file") as raised:
        get_benchmark_dataset("enmap-cdl")(tmp_path, split="train")
    message = str(raised.value)
    assert DOWNLOAD_PAGE in message
    assert "enmap_cdl/enmap/<name>.tif" in message and "data/splits/enmap_cdl" in message
    assert isinstance(raised.value, TorchGeoDatasetNotFoundError)


def test_missing_listed_file_is_named(tmp_path: Path) -> None:
    folder = write_fixture("eo1-cdl", tmp_path, samples=(2, 1, 1), size=8)
    (folder / "cdl" / "train_001.tif").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"1 of the 2 files .* \('train_001.tif'\)"):
        get_benchmark_dataset("eo1-cdl")(tmp_path, split="train")
    with pytest.raises(DatasetNotFoundError, match="mask folder"):
        shutil.rmtree(folder / "cdl")
        get_benchmark_dataset("eo1-cdl")(tmp_path, split="val")


def test_wrong_band_count_is_refused(tmp_path: Path) -> None:
    from eospec.benchmark.datasets import EnMAPCDL

    class Wrong(EnMAPCDL):
        num_bands = 235

    write_fixture("enmap-cdl", tmp_path, samples=(1, 1, 1), size=8)
    with pytest.raises(BenchmarkError, match="has 202 bands but EnMAP-CDL .USA. images have 235"):
        Wrong(tmp_path, split="train")[0]


def test_bad_split_and_names() -> None:
    with pytest.raises(ValueError, match="split 'training' is unknown"):
        get_benchmark_dataset("enmap-cdl")(".", split="training")
    assert parse_dataset_names("all") == PAPER
    assert parse_dataset_names("EnMAP_CDL,enmap-potsdam,enmap-cdl") == ["enmap-cdl", "enmap-potsdam"]
    with pytest.raises(BenchmarkError, match="'enmap-foo' is unknown: use 'all' or one of enmap-cdl"):
        parse_dataset_names("enmap-cdl,enmap-foo")


def test_cache_returns_equal_samples(fixture_root: Path) -> None:
    cached = EnMAPCORINE(fixture_root, split="test", cache=True)
    plain = EnMAPCORINE(fixture_root, split="test")
    for index in range(len(plain)):
        first, second, reference = cached[index], cached[index], plain[index]
        for key in reference:
            assert torch.equal(first[key], reference[key]) and torch.equal(second[key], reference[key])


def test_plot_returns_figure(fixture_root: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    dataset = get_benchmark_dataset("enmap-treemap")(fixture_root, split="val")
    sample = dataset[0]
    sample["prediction"] = sample["mask"].clone()
    figure = dataset.plot(sample, suptitle="x")
    assert len(figure.axes) == 3


@pytest.mark.shared_data
def test_potsdam_real_tiles(shared_data: Path) -> None:
    from eospec.sensors import ENMAP_DEFAULT_BANDS

    sizes = {split: len(EnMAPPotsdam(split=split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 14, "val": 2, "test": 2}
    dataset = EnMAPPotsdam(shared_data / "enmap" / "potsdam", split="test")
    sample = dataset[0]
    image_path, mask_path = dataset.files[0]
    with rasterio.open(image_path) as source:
        band_1 = source.read(ENMAP_DEFAULT_BANDS[0]).astype(np.float64)
        band_last = source.read(ENMAP_DEFAULT_BANDS[-1]).astype(np.float64)
    valid = sample["valid"].numpy()
    np.testing.assert_allclose(sample["image"][0].numpy()[valid], band_1[valid] * 1e-4, rtol=1e-6)
    np.testing.assert_allclose(sample["image"][-1].numpy()[valid], band_last[valid] * 1e-4, rtol=1e-6)
    with rasterio.open(mask_path) as source:
        codes = source.read(1)
    mask = sample["mask"].numpy()
    assert np.array_equal(mask == IGNORE_INDEX, (codes == 0) | ~valid)
    assert np.array_equal(mask[mask != IGNORE_INDEX], codes[mask != IGNORE_INDEX].astype(np.int64) - 1)


def test_potsdam_missing_root_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EOSPEC_SHARED_DATA", str(tmp_path / "absent"))
    with pytest.raises(DatasetNotFoundError, match="no train_files.csv"):
        EnMAPPotsdam(tmp_path, split="train")
    with pytest.raises(DatasetNotFoundError, match="has no enmap/potsdam; pass its path with --root"):
        EnMAPPotsdam(split="train")


@pytest.mark.shared_data
def test_potsdam_falls_back_to_shared_data(shared_data: Path, tmp_path: Path, fixture_root: Path) -> None:
    """A --root that holds other datasets (or a potsdam/ folder) still finds the Potsdam tiles."""
    assert EnMAPPotsdam(tmp_path, split="val").root == shared_data / "enmap" / "potsdam"
    assert EnMAPPotsdam(fixture_root, split="val").root == fixture_root / "potsdam"

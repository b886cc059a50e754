"""Tests of the point sampler: pixel alignment, edges, DataLoader batches, order and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import torch
from conftest import ENMAP_FIXTURES, enmap_reference
from torch.utils.data import DataLoader
from torchgeo.datasets import stack_samples
from torchgeo.samplers import Units

from eospec.datasets import EnMAPL2A, SoilSamples
from eospec.samplers import PointSampler, centred_window

DATA = Path(__file__).resolve().parents[1] / "data" / "soil_samples"
EXPECTED = json.loads((DATA / "expected.json").read_text())
SCENE = ENMAP_FIXTURES / "enmapbox_style.tif"
ALL = EnMAPL2A.all_bands


@pytest.fixture(scope="module")
def pairs() -> object:
    return SoilSamples(DATA / "samples.csv", crs="EPSG:4326") & EnMAPL2A(SCENE, bands=ALL)


def padded_reference(size: int) -> np.ndarray:
    """The fixture's reflectance (independent read) padded with NaN by ``size`` pixels."""
    reference = enmap_reference()
    return np.pad(reference, ((0, 0), (size, size), (size, size)), constant_values=np.nan)


@pytest.mark.parametrize("size", [1, 4, 5])
def test_patch_is_the_window_around_the_pixel_holding_the_point(pairs: object, size: int) -> None:
    sampler = PointSampler(pairs, size, edge="pad")  # type: ignore[arg-type]
    assert len(sampler) == len(pairs.index)  # type: ignore[attr-defined]
    padded = padded_reference(size)
    with rasterio.open(SCENE) as scene:
        for query, row in zip(sampler, sampler.rows, strict=True):
            point = pairs.index.geometry.iloc[row]  # type: ignore[attr-defined]
            r, c = scene.index(point.x, point.y)
            sample = pairs[query]  # type: ignore[index]
            image = sample["image"].numpy()
            assert image.shape == (224, size, size)
            top, left = r - size // 2 + size, c - size // 2 + size
            expected = padded[:, top : top + size, left : left + size]
            np.testing.assert_allclose(image, expected, rtol=1e-6, atol=1e-7, equal_nan=True)
            # the pixel holding the point is at [size // 2, size // 2]
            centre = scene.read(window=((r, r + 1), (c, c + 1)))[:, 0, 0] / 10000
            good = np.isfinite(image[:, size // 2, size // 2])
            np.testing.assert_allclose(image[good, size // 2, size // 2], centre[good], rtol=1e-6)
            x, y, _ = query
            assert (x.stop - x.start, y.stop - y.start) == (30.0 * size, 30.0 * size)
            assert sample["sample_id"] == pairs.index["sample_id"].iloc[row]  # type: ignore[attr-defined]


def test_pixel_edges_follow_rasterio() -> None:
    with rasterio.open(SCENE) as scene:
        transform = scene.transform
        origin = (transform.c, transform.f)
        # points on pixel edges and corners: a pixel holds its left and top edges
        xs = np.array([origin[0] + 30 * 5, origin[0] + 30 * 5 - 1e-7, origin[0] + 30 * 7 + 0.5])
        ys = np.array([origin[1] - 30 * 3, origin[1] - 30 * 3 - 1e-7, origin[1] - 30 * 9 - 29.5])
        xmin, xmax, ymin, ymax = centred_window(xs, ys, origin=origin, res=(30.0, 30.0), size=(3, 3))
        for x, y, left, top in zip(xs, ys, xmin, ymax, strict=True):
            r, c = scene.index(x, y)
            assert (left, top) == (origin[0] + (c - 1) * 30, origin[1] - (r - 1) * 30)
    assert np.all(xmax - xmin == 90) and np.all(ymax - ymin == 90)


def test_skip_leaves_out_patches_that_cross_the_scene_edge(pairs: object) -> None:
    size = 5
    skip = PointSampler(pairs, size)  # type: ignore[arg-type]
    pad = PointSampler(pairs, size, edge="pad")  # type: ignore[arg-type]
    with rasterio.open(SCENE) as scene:
        inside = []
        for row in range(len(pairs.index)):  # type: ignore[attr-defined]
            point = pairs.index.geometry.iloc[row]  # type: ignore[attr-defined]
            r, c = scene.index(point.x, point.y)
            half = size // 2
            inside.append(r - half >= 0 and c - half >= 0 and r + half < scene.height and c + half < scene.width)
    assert list(skip.rows) == list(np.flatnonzero(inside))
    assert list(skip.skipped) == list(np.flatnonzero(~np.asarray(inside)))
    assert len(skip) == sum(inside) < len(pad) == len(pairs.index)  # type: ignore[attr-defined]
    for query in skip:
        assert not torch.isnan(pairs[query]["image"][:129]).all(dim=0).any()  # type: ignore[index]


def test_sizes_in_crs_units_round_to_whole_pixels(pairs: object) -> None:
    sampler = PointSampler(pairs, 150.0, units=Units.CRS, edge="pad")  # type: ignore[arg-type]
    assert sampler.size == (5, 5)
    assert PointSampler(pairs, 100.0, units=Units.CRS, edge="pad").size == (3, 3)  # type: ignore[arg-type]
    assert PointSampler(pairs, (3, 7), edge="pad").size == (3, 7)  # type: ignore[arg-type]
    x, y, _ = next(iter(PointSampler(pairs, (3, 7), edge="pad")))  # type: ignore[arg-type]
    assert (x.stop - x.start, y.stop - y.start) == (210.0, 90.0)


def test_data_loader_batches_patches_with_properties(pairs: object) -> None:
    sampler = PointSampler(pairs, 4, edge="pad")  # type: ignore[arg-type]
    loader = DataLoader(pairs, sampler=sampler, batch_size=4, collate_fn=stack_samples)  # type: ignore[arg-type]
    batches = list(loader)
    assert [batch["image"].shape[0] for batch in batches] == [4, 3]
    images = torch.cat([batch["image"] for batch in batches])
    properties = torch.cat([batch["properties"] for batch in batches])
    assert images.shape == (7, 224, 4, 4) and images.dtype == torch.float32
    ids = [key for batch in batches for key in batch["sample_id"]]
    assert ids == list(pairs.index["sample_id"])  # type: ignore[attr-defined]
    table = pd.read_csv(DATA / "samples.csv").set_index("id")
    expected = torch.tensor(table.loc[ids, ["soc", "clay"]].to_numpy(), dtype=torch.float32)
    torch.testing.assert_close(properties, expected, equal_nan=True)
    assert torch.isnan(properties).sum() == 2  # S02 soc, S06 clay: missing stays missing


def test_order_is_deterministic_and_shuffle_reproducible(pairs: object) -> None:
    first = list(PointSampler(pairs, 3, edge="pad"))  # type: ignore[arg-type]
    assert first == list(PointSampler(pairs, 3, edge="pad"))  # type: ignore[arg-type]
    shuffled = [
        list(PointSampler(pairs, 3, edge="pad", shuffle=True, generator=torch.Generator().manual_seed(1)))  # type: ignore[arg-type]
        for _ in range(2)
    ]
    assert shuffled[0] == shuffled[1]
    assert sorted(map(str, shuffled[0])) == sorted(map(str, first)) and shuffled[0] != first


def test_roi_and_toi_filter_samples(tmp_path: Path) -> None:
    scenes = EnMAPL2A(SCENE)
    pairs = SoilSamples(DATA / "samples.parquet", time_tolerance="10D") & scenes
    points = pairs.index.geometry
    west = shapely.box(points.x.min() - 1, points.y.min() - 1, points.x.min() + 100, points.y.max() + 1)
    sampler = PointSampler(pairs, 1, roi=west)
    assert {pairs.index["sample_id"].iloc[row] for row in sampler.rows} == {
        key
        for key, value in EXPECTED["samples"].items()
        if value["x"] <= points.x.min() + 100 and key in set(pairs.index["sample_id"])
    }
    toi = pd.Interval(pd.Timestamp("2022-07-24T10:45:26"), pd.Timestamp("2022-07-24T10:45:27"))
    assert len(PointSampler(pairs, 1, toi=toi)) == len(pairs.index)
    empty = pd.Interval(pd.Timestamp("2023-01-01"), pd.Timestamp("2023-01-02"))
    assert len(PointSampler(pairs, 1, toi=empty)) == 0


def test_samples_alone_need_a_grid_origin() -> None:
    samples = SoilSamples(DATA / "samples.parquet", res=30.0)
    with pytest.raises(ValueError, match=r"origin=\(x, y\)"):
        PointSampler(samples, 3, edge="pad")
    with pytest.raises(ValueError, match="edge='skip' needs scenes"):
        PointSampler(samples, 3, origin=tuple(EXPECTED["origin"]))
    sampler = PointSampler(samples, 3, origin=tuple(EXPECTED["origin"]), edge="pad")
    assert len(sampler) == 8
    scenes = EnMAPL2A(SCENE)
    paired = PointSampler(samples & scenes, 3, edge="pad")
    by_id = dict(zip((samples & scenes).index["sample_id"], paired, strict=True))
    for key, query in zip(samples.data["sample_id"], sampler, strict=True):
        if key in by_id:  # the same grid: the same windows in space
            assert query[:2] == by_id[key][:2]
    with pytest.raises(ValueError, match="has no resolution"):
        PointSampler(SoilSamples(DATA / "samples.parquet"), 3, origin=(0.0, 0.0), edge="pad")


def test_bad_arguments(pairs: object) -> None:
    with pytest.raises(ValueError, match="edge='wrap' is not a mode"):
        PointSampler(pairs, 3, edge="wrap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be whole pixels"):
        PointSampler(pairs, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one pixel"):
        PointSampler(pairs, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="index holds points"):
        PointSampler(EnMAPL2A(SCENE), 3)


@pytest.mark.parametrize("scene", ["enmapbox_style.tif", "dlr_zip", "envi_cube.bsq"])
def test_on_grid_reads_equal_the_rasterio_merge_path(scene: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """EnMAPL2A reads windows on the file's grid directly: the same values as through rasterio.merge."""
    import eospec.datasets.enmap as enmap_module

    product = json.loads((ENMAP_FIXTURES / "expected.json").read_text())["product"]
    path = ENMAP_FIXTURES / (f"{product}.zip" if scene == "dlr_zip" else scene)
    dataset = EnMAPL2A(path, bands=ALL)
    x, y, t = dataset.bounds
    windows = [
        (x.start, x.stop, y.start, y.stop),  # the whole scene (nodata, zero pixels, cloud block)
        (x.start - 90, x.start + 150, y.stop - 150, y.stop + 60),  # across the upper-left corner
        (x.stop - 60, x.stop + 30, y.start - 30, y.start + 90),  # across the lower-right corner
        (x.start + 600, x.start + 900, y.stop - 300, y.stop - 90),  # the cloud block
    ]
    direct = [dataset[x0:x1:30.0, y0:y1:30.0, t.start : t.stop]["image"] for x0, x1, y0, y1 in windows]
    handle = dataset._handle(str(dataset.index["filepath"].iloc[0]))
    on_grid = enmap_module._read_on_grid(handle, (x.start, y.start, x.stop, y.stop), (30.0, 30.0), [1], np.nan)
    assert on_grid is not None  # the direct path is the one tested
    assert enmap_module._read_on_grid(handle, (x.start + 7, y.start, x.stop, y.stop), (30.0, 30.0), [1], 0) is None
    monkeypatch.setattr(enmap_module, "_read_on_grid", lambda *args, **kwargs: None)
    merged = EnMAPL2A(path, bands=ALL)
    for (x0, x1, y0, y1), image in zip(windows, direct, strict=True):
        torch.testing.assert_close(image, merged[x0:x1:30.0, y0:y1:30.0, t.start : t.stop]["image"], equal_nan=True)
    assert torch.isnan(direct[1][:, :2, :3]).all()  # off the scene

"""Multitemporal samplers on the generated three-date stack (tests/data/enmap_stack)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import torch
from rasterio.windows import from_bounds
from torch.utils.data import DataLoader
from torchgeo.samplers import Units

from eospec.datasets import EnMAPL2A
from eospec.errors import SamplingError
from eospec.samplers import (
    GridMultiTemporalSampler,
    MultiTemporalDataset,
    RandomMultiTemporalSampler,
    group_acquisitions,
    select_dates,
    stack_time_series,
)

STACK = Path(__file__).resolve().parents[1] / "data" / "enmap_stack"
EXPECTED = json.loads((STACK / "expected.json").read_text())
FILES = EXPECTED["files"]
CLOUDY = EXPECTED["cloudy_scene"]
STARTS = sorted(pd.Timestamp(info["start_time"]) for info in FILES.values())


@pytest.fixture(scope="module")
def stack() -> EnMAPL2A:
    return EnMAPL2A(STACK)


def file_of(start: pd.Timestamp) -> dict:
    return next(info for info in FILES.values() if pd.Timestamp(info["start_time"]) == start)


def expected_window(start: pd.Timestamp, x: slice, y: slice) -> np.ndarray:
    """Reflectance of the source file at the window, read with rasterio (boundless), NaN outside
    the file and in the cloud block of the DLR scene: an independent reading of the same ground."""
    info = file_of(start)
    from eospec.sensors import ENMAP_DEFAULT_BANDS

    with rasterio.open(STACK / info["path"]) as src:
        window = from_bounds(x.start, y.start, x.stop, y.stop, src.transform)
        dn = src.read(list(ENMAP_DEFAULT_BANDS), window=window, boundless=True, fill_value=-32768)
        values = dn.astype(np.float32) / np.float32(EXPECTED["scale"])
        values[dn == -32768] = np.nan
        if info["scene_id"] == CLOUDY:
            rows, cols = np.mgrid[0 : dn.shape[1], 0 : dn.shape[2]]
            xs = x.start + (cols + 0.5) * EXPECTED["res"]
            ys = y.stop - (rows + 0.5) * EXPECTED["res"]
            c0, r0, c1, r1 = EXPECTED["cloud_bounds"]
            values[:, (xs > c0) & (xs < c1) & (ys > r0) & (ys < r1)] = np.nan
    return values


def assert_same_reflectance(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same NaN pixels and the same DN (reflectance x 10000) elsewhere."""
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    finite = ~np.isnan(expected)
    np.testing.assert_array_equal(np.rint(actual[finite] * 10000), np.rint(expected[finite] * 10000))


def cloud_fraction(x: slice, y: slice) -> float:
    c0, r0, c1, r1 = EXPECTED["cloud_bounds"]
    window = shapely.box(x.start, y.start, x.stop, y.stop)
    return shapely.box(c0, r0, c1, r1).intersection(window).area / window.area


def footprint_fraction(start: pd.Timestamp, x: slice, y: slice) -> float:
    window = shapely.box(x.start, y.start, x.stop, y.stop)
    return shapely.box(*file_of(start)["bounds"]).intersection(window).area / window.area


# -- date selection ------------------------------------------------------------------------------


def valid_chain(times: list[pd.Timestamp], chosen: list[int], min_gap: pd.Timedelta, max_gap: pd.Timedelta | None):
    gaps = [times[b] - times[a] for a, b in itertools.pairwise(chosen)]
    return all(g > pd.Timedelta(0) and g >= min_gap and (max_gap is None or g <= max_gap) for g in gaps)


TIMES = [pd.Timestamp("2022-01-01") + pd.Timedelta(days=d) for d in (0, 3, 20, 26, 60, 61, 130, 200)]


@pytest.mark.parametrize("views", [2, 3])
def test_views_are_uniform_over_all_valid_sets(views: int) -> None:
    min_gap, max_gap = pd.Timedelta(days=5), pd.Timedelta(days=75)
    valid = [
        c for c in itertools.combinations(range(len(TIMES)), views) if valid_chain(TIMES, list(c), min_gap, max_gap)
    ]
    assert valid
    rng = np.random.default_rng(1)
    draws = 400 * len(valid)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(draws):
        chosen = select_dates(TIMES, views=views, min_gap=min_gap, max_gap=max_gap, generator=rng)
        assert chosen is not None
        counts[tuple(chosen)] = counts.get(tuple(chosen), 0) + 1
    assert set(counts) == set(valid)
    frequencies = np.array([counts[c] for c in valid]) / draws
    assert np.allclose(frequencies, 1 / len(valid), atol=5 * np.sqrt(1 / len(valid) / draws))


def test_time_series_is_the_longest_valid_chain() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(1, 8))
        times = sorted(pd.Timestamp("2022-01-01") + pd.Timedelta(days=int(d)) for d in rng.integers(0, 120, n))
        min_gap = pd.Timedelta(days=int(rng.integers(0, 20)))
        max_gap = None if rng.random() < 0.3 else min_gap + pd.Timedelta(days=int(rng.integers(0, 40)))
        best = max(
            (
                len(c)
                for r in range(1, n + 1)
                for c in itertools.combinations(range(n), r)
                if valid_chain(times, list(c), min_gap, max_gap)
            ),
            default=0,
        )
        chosen = select_dates(times, views=None, min_dates=1, min_gap=min_gap, max_gap=max_gap)
        assert chosen is not None and len(chosen) == best
        assert valid_chain(times, chosen, min_gap, max_gap)
        assert select_dates(times, views=None, min_dates=best + 1, min_gap=min_gap, max_gap=max_gap) is None


def test_max_dates_takes_consecutive_dates_of_the_chain() -> None:
    full = select_dates(TIMES, views=None, min_dates=1)
    assert full == list(range(len(TIMES)))
    for seed in range(10):
        chosen = select_dates(TIMES, views=None, min_dates=1, max_dates=3, generator=np.random.default_rng(seed))
        assert chosen is not None and len(chosen) == 3 and chosen == list(range(chosen[0], chosen[0] + 3))


def test_no_valid_choice_gives_none() -> None:
    assert select_dates(TIMES, views=2, min_gap=pd.Timedelta(days=500)) is None
    assert select_dates(TIMES[:1], views=2) is None
    assert select_dates([], views=None, min_dates=1) is None
    same = [TIMES[0], TIMES[0]]
    assert select_dates(same, views=2) is None  # one instant is never two dates


# -- acquisitions -----------------------------------------------------------------------------


class FakeDataset:
    def __init__(self, intervals: list[tuple[pd.Timestamp, pd.Timestamp]], names: list[str]) -> None:
        index = pd.IntervalIndex.from_tuples(intervals, closed="both", name="datetime")
        boxes = [shapely.box(i, 0, i + 10, 10) for i in range(len(names))]
        self.index = gpd.GeoDataFrame({"filepath": names}, index=index, geometry=boxes, crs="EPSG:32633")


def test_tiles_of_one_overpass_form_one_acquisition() -> None:
    t0 = pd.Timestamp("2022-07-24T10:45:26")
    second = pd.Timedelta(seconds=1)
    tiles = [(t0 + k * 4 * second, t0 + (k * 4 + 1) * second) for k in range(3)]  # a datatake, 4 s apart
    later = (t0 + pd.Timedelta(days=5), t0 + pd.Timedelta(days=5) + second)
    dataset = FakeDataset([later, *tiles], ["d", "a", "b", "c"])
    acquisitions = group_acquisitions(dataset)  # type: ignore[arg-type]
    assert [a.filepaths for a in acquisitions] == [("a", "b", "c"), ("d",)]
    assert acquisitions[0].start == t0 and acquisitions[0].name == "20220724T104526"
    assert acquisitions[0].footprint.equals(shapely.box(1, 0, 13, 10))
    assert len(group_acquisitions(dataset, tolerance=pd.Timedelta(seconds=2))) == 4  # type: ignore[arg-type]


def test_file_without_acquisition_time_is_refused() -> None:
    dataset = FakeDataset([(pd.Timestamp.min, pd.Timestamp.max)], ["undated.tif"])
    with pytest.raises(SamplingError, match="'undated.tif' has no acquisition time.*start_time"):
        group_acquisitions(dataset)  # type: ignore[arg-type]


def test_fixture_stack_has_three_dates(stack: EnMAPL2A) -> None:
    acquisitions = group_acquisitions(stack)
    assert [a.start for a in acquisitions] == STARTS


# -- samplers on the stack --------------------------------------------------------------------


def test_grid_windows_cover_the_same_ground_at_every_date(stack: EnMAPL2A) -> None:
    sampler = GridMultiTemporalSampler(stack, size=16, min_dates=2)
    assert sampler.strategy == "sequential"
    samples = list(sampler)
    assert len(samples) == len(sampler) >= 4
    dataset = MultiTemporalDataset(stack)
    for query in samples:
        assert len(query) >= 2
        (x, y, _), *_ = query
        assert all(q[0] == x and q[1] == y for q in query)
        assert x.stop - x.start == 16 * 30 and y.stop - y.start == 16 * 30
        assert (x.start - 365835.0) % 30 == 0 and (5810085.0 - y.stop) % 30 == 0  # on the pixel grid
        starts = [q[2].start for q in query]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        sample = dataset[query]
        assert sample["image"].shape == (len(query), 202, 16, 16)
        assert sample["time"].tolist() == [int(s.timestamp()) for s in starts]
        for position, start in enumerate(starts):
            assert_same_reflectance(sample["image"][position].numpy(), expected_window(start, x, y))


def test_cloudy_date_is_dropped_by_the_valid_fraction(stack: EnMAPL2A) -> None:
    cloudy = pd.Timestamp(FILES[CLOUDY]["start_time"])
    loose = {
        (q[0][0].start, q[0][1].stop): q for q in GridMultiTemporalSampler(stack, size=16, min_valid_fraction=0.05)
    }
    strict = {
        (q[0][0].start, q[0][1].stop): q for q in GridMultiTemporalSampler(stack, size=16, min_valid_fraction=0.5)
    }
    checked = 0
    for key, query in loose.items():
        x, y = query[0][0], query[0][1]
        if cloudy not in [q[2].start for q in query]:
            continue
        valid = footprint_fraction(cloudy, x, y) - cloud_fraction(x, y)
        strict_dates = [q[2].start for q in strict.get(key, [])]
        assert (cloudy in strict_dates) == (valid >= 0.5)
        checked += valid < 0.5
    assert checked >= 1  # the fixture has a window where the cloud removes the date


def test_pixel_estimate_matches_the_read(stack: EnMAPL2A) -> None:
    sampler = GridMultiTemporalSampler(stack, size=16, min_valid_fraction=0.01)
    assert sampler.validity_step == 1
    for x, y in sampler.windows():
        for date in sampler.candidates(x, y):
            position = sampler.acquisitions.index(date.acquisition)
            image = stack[x, y, date.time]["image"].numpy()
            exact = float(np.mean(~np.all(np.isnan(image), axis=0)))
            assert sampler._grid(position).fraction(x, y) == pytest.approx(exact)


def test_footprint_validity_keeps_the_cloudy_date(stack: EnMAPL2A) -> None:
    cloudy = pd.Timestamp(FILES[CLOUDY]["start_time"])
    sampler = GridMultiTemporalSampler(stack, size=16, min_valid_fraction=0.5, validity="footprint")
    for query in sampler:
        x, y = query[0][0], query[0][1]
        present = cloudy in [q[2].start for q in query]
        assert present == (footprint_fraction(cloudy, x, y) >= 0.5)


def test_time_of_interest_and_gaps(stack: EnMAPL2A) -> None:
    toi = pd.Interval(pd.Timestamp("2022-01-01"), pd.Timestamp("2022-12-31"), closed="both")
    for query in GridMultiTemporalSampler(stack, size=16, toi=toi, min_valid_fraction=0.0):
        assert all(q[2].start in toi for q in query)
    gap = pd.Timedelta(days=30)  # 2022-07-24 and 2022-08-17 are 24 days apart
    pairs = list(RandomMultiTemporalSampler(stack, size=16, length=30, views=2, min_gap=gap, generator=3))
    assert len(pairs) == 30
    assert all(q[1][2].start - q[0][2].start >= gap for q in pairs)
    close = pd.Timedelta(days=100)
    pairs = list(RandomMultiTemporalSampler(stack, size=16, length=30, views=2, max_gap=close, generator=3))
    assert all(q[1][2].start - q[0][2].start <= close for q in pairs)
    assert {(q[0][2].start, q[1][2].start) for q in pairs} == {(STARTS[0], STARTS[1])}


def test_pairs_and_time_series(stack: EnMAPL2A) -> None:
    pairs = list(RandomMultiTemporalSampler(stack, size=16, length=40, views=2, generator=0))
    assert all(len(q) == 2 for q in pairs)
    assert len({(q[0][2].start, q[1][2].start) for q in pairs}) == 3  # all three pairs occur
    series = list(GridMultiTemporalSampler(stack, size=16, views=None, min_dates=2))
    assert {len(q) for q in series} == {2, 3}
    assert all(len(q) == 3 for q in GridMultiTemporalSampler(stack, size=16, min_dates=3, min_valid_fraction=0.0))
    capped = list(GridMultiTemporalSampler(stack, size=16, min_dates=2, max_dates=2, generator=0))
    assert all(len(q) == 2 for q in capped) and len(capped) == len(series)


def test_random_windows_are_reproducible(stack: EnMAPL2A) -> None:
    def draw(generator: object) -> list:
        sampler = RandomMultiTemporalSampler(stack, size=16, length=10, views=2, generator=generator)  # type: ignore[arg-type]
        return [(q[0][0].start, q[0][1].start, q[0][2].start, q[1][2].start) for q in sampler]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)
    assert draw(torch.Generator().manual_seed(5)) == draw(torch.Generator().manual_seed(5))
    torch.manual_seed(11)
    first = draw(None)
    torch.manual_seed(11)
    assert draw(None) == first
    sampler = RandomMultiTemporalSampler(stack, size=16, length=10, views=2, generator=7)
    assert [q[0][0].start for q in sampler] != [q[0][0].start for q in sampler]  # a new epoch, new windows


def test_random_windows_lie_in_the_roi_and_units_crs(stack: EnMAPL2A) -> None:
    roi = shapely.box(366255, 5808700, 366900, 5809600)
    sampler = RandomMultiTemporalSampler(stack, size=480, units=Units.CRS, length=20, roi=roi, generator=0)
    assert sampler.size_px == (16, 16)
    for query in sampler:
        x, y = query[0][0], query[0][1]
        assert roi.contains(shapely.box(x.start, y.start, x.stop, y.stop))


def test_dataloader_batches_time_series(stack: EnMAPL2A) -> None:
    sampler = GridMultiTemporalSampler(stack, size=16)
    loader = DataLoader(MultiTemporalDataset(stack), sampler=sampler, batch_size=8, collate_fn=stack_time_series)
    batch = next(iter(loader))
    lengths = [len(q) for q in list(sampler)[:8]]
    assert batch["image"].shape == (len(lengths), max(lengths), 202, 16, 16)
    assert batch["time_mask"].sum(dim=1).tolist() == lengths
    padded = ~batch["time_mask"]
    assert torch.isnan(batch["image"][padded]).all()
    assert (batch["time"][padded] == 0).all()
    assert len(batch["bounds"]) == len(lengths)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 16, "min_dates": 4}, r"4 dates needed per window, but the stack holds 3 acquisition date\(s\)"),
        ({"size": 64}, r"a patch of 64 x 64 px .* is larger than the area covered by 2 dates"),
        ({"size": 16, "views": 2, "min_dates": 3}, "each sample has exactly views dates"),
        ({"size": 16, "min_gap": "10D", "max_gap": "5D"}, "max_gap=5 days .* is shorter than min_gap"),
        ({"size": 16, "min_valid_fraction": 1.5}, r"min_valid_fraction=1.5 must lie in \[0, 1\]"),
        ({"size": 16, "roi": shapely.box(0, 0, 10, 10)}, "no area is covered by 2 dates .* inside the region"),
        (
            {"size": 16, "toi": pd.Interval(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-12-31"))},
            r"holds 0 acquisition date\(s\) within",
        ),
    ],
)
def test_bad_parameters(stack: EnMAPL2A, kwargs: dict, message: str) -> None:
    with pytest.raises(SamplingError, match=message):
        GridMultiTemporalSampler(stack, **kwargs)


def test_random_sampler_gives_up_with_a_message(stack: EnMAPL2A) -> None:
    sampler = RandomMultiTemporalSampler(stack, size=16, length=2, views=2, min_gap="400D", max_attempts=5, generator=0)
    with pytest.raises(SamplingError, match="5 random windows in a row had fewer than 2 dates"):
        list(sampler)


def test_random_sampler_stops_when_no_window_fits(stack: EnMAPL2A) -> None:
    # an L-shaped region of interest: its bounding box fits the window, the region does not
    roi = shapely.union(shapely.box(366255, 5808700, 366735, 5808850), shapely.box(366255, 5808700, 366405, 5809180))
    sampler = RandomMultiTemporalSampler(stack, size=16, length=1, roi=roi, max_attempts=3, generator=0)
    with pytest.raises(SamplingError, match="no window of 16 x 16 px fits inside .* region of interest in 300 draws"):
        list(sampler)

"""Multitemporal samplers: the same window of a stack of scenes at two or more dates.

A stack is a :class:`~torchgeo.datasets.GeoDataset` (typically :class:`eospec.datasets.EnMAPL2A`
over scenes of the same area acquired on different dates). TorchGeo 0.8 samples one slice at a
time; the samplers here yield, for each window, a **list of GeoSlices**, one per date, with the
same ``x`` and ``y`` slices and the ``t`` slice of that date's acquisition. Wrap the dataset in
:class:`MultiTemporalDataset` and batch with :func:`stack_time_series` to get ``(B, T, C, H, W)``
images through a :class:`~torch.utils.data.DataLoader`.

Names follow TorchGeo's samplers: ``size`` (pixels, or CRS units with ``units=Units.CRS``),
``length``, ``stride``, ``roi`` (a shapely polygon), ``toi`` (a :class:`pandas.Interval`),
``generator`` and the ``strategy`` attribute (``"random"`` or ``"sequential"``) of the
spatial/temporal samplers in TorchGeo's development branch (``RandomSpatialSampler``,
``GridSpatialSampler``, ``RandomTimestampSampler``, ``SequentialTimestampSampler``, combined with
``spatial @ temporal`` into a ``SpatioTemporalSampler``; versionadded 0.10, not in a release at
the time of writing). Those yield one ``(x, y, t)`` slice per sample, and a ``t`` slice spanning
several scenes makes a TorchGeo 0.8 dataset *mosaic* them. Here each date is its own slice, so the
dates stay separate; :class:`RandomMultiTemporalSampler` corresponds to
``RandomSpatialSampler @ <dates>`` and :class:`GridMultiTemporalSampler` to
``GridSpatialSampler @ <dates>``.

**Dates.** Files of the dataset index whose acquisition starts lie within ``tolerance`` (default
10 minutes) of each other form one *acquisition* (one overpass; adjacent tiles of a datatake are
mosaicked by the dataset). At a window, an acquisition is a candidate date when it overlaps
``toi`` and its valid fraction is at least ``min_valid_fraction``. Among the candidates:

* ``views=k`` draws ``k`` dates uniformly among all sets of ``k`` candidates whose consecutive
  gaps (sorted by time) lie in ``[min_gap, max_gap]`` (``views=2``: a random pair for contrastive
  views);
* ``views=None`` (time series) takes the longest chain of candidates whose consecutive gaps lie in
  ``[min_gap, max_gap]`` (earliest dates on ties); a window is kept when it holds at least
  ``min_dates``; with ``max_dates``, a random run of ``max_dates`` consecutive dates of it.

**Valid fraction.** ``validity="footprint"`` takes the fraction of the window covered by the
date's file footprints (free). ``validity="pixels"`` (default) also counts pixels that the
dataset returns as all-NaN (nodata, clouds and other quality flags of DLR products): when the
sampler is built it reads each acquisition once over the sampled region, every ``validity_step``-th pixel in each
direction (nearest neighbour; default ``max(1, min(size) // 16)``, i.e. 256 points per window),
and estimates each window's fraction from those points. The cost is one decimated read of each
acquisition (GDAL still decodes every block: about the time of reading the scene once) and
``C x H/step x W/step`` float32 of memory for the largest acquisition; with
``min_valid_fraction=0`` nothing is read.

**CRS.** Samplers work in the dataset's CRS and pixel grid (the grid of the dataset's upper-left
corner, ``dataset.res``). TorchGeo warps every file to the first file's CRS by default;
:func:`eospec.sampling.open_stack` refuses a stack of mixed CRS unless a target CRS is given.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
import torch
from shapely import Polygon
from shapely.geometry.base import BaseGeometry
from torch.utils.data import Dataset, Sampler
from torchgeo.datasets import GeoDataset
from torchgeo.datasets.utils import GeoSlice
from torchgeo.samplers import Units

from ..errors import SamplingError

__all__ = [
    "Acquisition",
    "DateWindow",
    "GridMultiTemporalSampler",
    "MultiTemporalDataset",
    "RandomMultiTemporalSampler",
    "group_acquisitions",
    "select_dates",
    "stack_time_series",
]

GeneratorLike = int | np.random.Generator | torch.Generator | None
Validity = Literal["pixels", "footprint"]

#: Acquisition starts closer than this belong to one overpass.
DEFAULT_TOLERANCE = pd.Timedelta(minutes=10)


@dataclass(frozen=True)
class Acquisition:
    """One overpass of a stack: the index entries acquired within a tolerance of each other.

    Attributes:
        start: earliest acquisition start of its files (naive UTC).
        filepaths: the files, in time order.
        intervals: the time interval of each file in the dataset index.
        geometries: the footprint of each file, in the dataset CRS.
        footprint: union of ``geometries``.
    """

    start: pd.Timestamp
    filepaths: tuple[str, ...]
    intervals: tuple[pd.Interval, ...]
    geometries: tuple[BaseGeometry, ...]
    footprint: BaseGeometry

    @property
    def name(self) -> str:
        """The acquisition start as ``YYYYMMDDTHHMMSS``."""
        return self.start.strftime("%Y%m%dT%H%M%S")


@dataclass(frozen=True)
class DateWindow:
    """One date of a window: which files cover it and how to slice the dataset for it.

    Attributes:
        acquisition: the overpass.
        start: earliest acquisition start of the files that cover the window (naive UTC).
        time: ``tmin:tmax`` slice that selects exactly those files.
        filepaths: the files that cover the window.
        coverage: fraction (0-1) of the window inside their footprints.
    """

    acquisition: Acquisition
    start: pd.Timestamp
    time: slice
    filepaths: tuple[str, ...]
    coverage: float

    @property
    def name(self) -> str:
        """The date's acquisition start as ``YYYYMMDDTHHMMSS`` (the SpectralEarth file stem)."""
        return self.start.strftime("%Y%m%dT%H%M%S")


def group_acquisitions(dataset: GeoDataset, tolerance: pd.Timedelta = DEFAULT_TOLERANCE) -> list[Acquisition]:
    """Group the files of a dataset index into acquisitions (overpasses), in time order.

    Files are sorted by acquisition start; a file starting within ``tolerance`` of the previous
    one joins its acquisition.

    Args:
        dataset: a TorchGeo dataset whose index holds one time interval per file.
        tolerance: largest gap between starts within one overpass.

    Returns:
        The acquisitions, earliest first.

    Raises:
        SamplingError: If a file has no acquisition time (indexed over all time), since it would
            be mosaicked into every date.
    """
    index = dataset.index
    entries = []
    for position in range(len(index)):
        interval = index.index[position]
        filepath = str(index["filepath"].iloc[position]) if "filepath" in index else str(position)
        if interval.left <= pd.Timestamp.min or interval.right >= pd.Timestamp.max:
            raise SamplingError(
                f"{filepath!r} has no acquisition time (no DLR METADATA.XML or file name date, no start_time "
                "tag), so it would be mixed into every date: add a start_time tag, e.g. "
                "'gdal_edit.py -mo start_time=2022-07-24T10:45:26 FILE', or leave it out of the stack"
            )
        entries.append((pd.Timestamp(interval.left), filepath, interval, index.geometry.iloc[position]))
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    groups: list[list[tuple[pd.Timestamp, str, pd.Interval, BaseGeometry]]] = []
    for entry in entries:
        if groups and entry[0] - groups[-1][-1][0] <= tolerance:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    return [
        Acquisition(
            start=group[0][0],
            filepaths=tuple(entry[1] for entry in group),
            intervals=tuple(entry[2] for entry in group),
            geometries=tuple(entry[3] for entry in group),
            footprint=shapely.union_all([entry[3] for entry in group]),
        )
        for group in groups
    ]


def _gap_ok(times: Sequence[pd.Timestamp], min_gap: pd.Timedelta, max_gap: pd.Timedelta | str | None) -> np.ndarray:
    """(N, N) bool: True where j > i and ``min_gap <= times[j] - times[i] <= max_gap``."""
    values = np.array([pd.Timestamp(t).value for t in times], dtype=np.int64)
    gaps = values[None, :] - values[:, None]
    ok = (gaps > 0) & (gaps >= pd.Timedelta(min_gap).value)
    if max_gap is not None:
        ok &= gaps <= pd.Timedelta(max_gap).value
    return ok


def select_dates(
    times: Sequence[pd.Timestamp],
    *,
    views: int | None = None,
    min_dates: int = 2,
    max_dates: int | None = None,
    min_gap: pd.Timedelta | str | None = None,
    max_gap: pd.Timedelta | str | None = None,
    generator: np.random.Generator | None = None,
) -> list[int] | None:
    """Choose dates among candidates under time-gap constraints (module docstring).

    Consecutive chosen dates (in time order) are at least ``min_gap`` and at most ``max_gap``
    apart; dates at the same instant are never both chosen.

    Args:
        times: acquisition starts of the candidates, shape (N,), in increasing order.
        views: number of dates to draw, uniformly among all valid sets of that size; None for the
            time series (the longest valid chain, earliest dates on ties).
        min_dates: fewest dates of a time series (ignored with ``views``).
        max_dates: most dates of a time series: a random run of that many consecutive dates of
            the chain (ignored with ``views``).
        min_gap: smallest gap between consecutive chosen dates (None: any positive gap).
        max_gap: largest gap between consecutive chosen dates (None: no limit).
        generator: numpy random generator (default: a fresh one).

    Returns:
        Positions in ``times`` of the chosen dates, increasing, or None when no valid choice exists.
    """
    rng = generator if generator is not None else np.random.default_rng()
    n = len(times)
    if n == 0:
        return None
    ok = _gap_ok(times, pd.Timedelta(0) if min_gap is None else pd.Timedelta(min_gap), max_gap)
    if views is not None:
        if views <= 0 or views > n:
            return None
        # counts[m][i]: number of valid chains of m + 1 dates starting at i
        counts = [np.ones(n, dtype=np.float64)]
        for _ in range(1, views):
            counts.append(ok.astype(np.float64) @ counts[-1])
        total = counts[-1].sum()
        if total <= 0:
            return None
        chosen = [int(rng.choice(n, p=counts[-1] / total))]
        for m in range(views - 2, -1, -1):
            weights = ok[chosen[-1]] * counts[m]
            chosen.append(int(rng.choice(n, p=weights / weights.sum())))
        return chosen
    # longest chain: longest[i] = dates in the longest valid chain starting at i
    longest = np.ones(n, dtype=np.int64)
    following = np.full(n, -1, dtype=np.int64)
    for i in range(n - 2, -1, -1):
        nexts = np.flatnonzero(ok[i])
        if nexts.size:
            best = nexts[np.argmax(longest[nexts])]  # argmax takes the earliest on ties
            longest[i] = longest[best] + 1
            following[i] = best
    start = int(np.argmax(longest))
    chain = [start]
    while following[chain[-1]] >= 0:
        chain.append(int(following[chain[-1]]))
    if len(chain) < min_dates:
        return None
    if max_dates is not None and len(chain) > max_dates:
        offset = int(rng.integers(0, len(chain) - max_dates + 1))
        chain = chain[offset : offset + max_dates]
    return chain


def _numpy_generator(generator: GeneratorLike) -> np.random.Generator:
    """A numpy generator from a seed, a numpy or torch generator, or torch's global generator."""
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, int):
        return np.random.default_rng(generator)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return np.random.default_rng(seed)


def _coverage_region(footprints: Sequence[BaseGeometry], count: int) -> BaseGeometry:
    """The area covered by at least ``count`` of the footprints."""
    levels: list[BaseGeometry] = [Polygon() for _ in range(count + 1)]
    for footprint in footprints:
        for level in range(count, 0, -1):
            added = footprint if level == 1 else shapely.intersection(levels[level - 1], footprint)
            levels[level] = shapely.union(levels[level], added)
    return levels[count]


class _ValidityGrid:
    """Every ``step``-th pixel of one acquisition: True where the dataset returns a valid pixel."""

    def __init__(self, valid: npt.NDArray[np.bool_], left: float, top: float, cell: tuple[float, float]) -> None:
        self.valid = valid
        self.left = left
        self.top = top
        self.cell = cell

    def fraction(self, x: slice, y: slice) -> float | None:
        """Valid fraction of the grid points inside the window, or None when none falls inside."""
        cx, cy = self.cell
        c0 = math.ceil((x.start - self.left) / cx - 0.5 + 1e-9)
        c1 = math.floor((x.stop - self.left) / cx - 0.5 - 1e-9)
        r0 = math.ceil((self.top - y.stop) / cy - 0.5 + 1e-9)
        r1 = math.floor((self.top - y.start) / cy - 0.5 - 1e-9)
        total = max(0, c1 - c0 + 1) * max(0, r1 - r0 + 1)
        if total == 0:
            return None
        height, width = self.valid.shape
        rows = slice(max(r0, 0), min(r1 + 1, height))
        cols = slice(max(c0, 0), min(c1 + 1, width))
        inside = int(self.valid[rows, cols].sum()) if rows.start < rows.stop and cols.start < cols.stop else 0
        return inside / total


class _MultiTemporalSampler(Sampler[list[GeoSlice]]):
    """Shared logic of the multitemporal samplers: dates, coverage, validity, date choice."""

    strategy: Literal["random", "sequential"]

    def __init__(
        self,
        dataset: GeoDataset,
        *,
        size: tuple[float, float] | float,
        roi: Polygon | None,
        toi: pd.Interval | None,
        units: Units,
        views: int | None,
        min_dates: int | None,
        max_dates: int | None,
        min_gap: pd.Timedelta | str | None,
        max_gap: pd.Timedelta | str | None,
        min_valid_fraction: float,
        validity: Validity,
        validity_step: int | None,
        tolerance: pd.Timedelta | str,
        generator: GeneratorLike,
    ) -> None:
        if views is not None and views < 1:
            raise SamplingError(f"views={views!r} must be at least 1 (or None for the whole time series)")
        if views is not None and min_dates is not None and min_dates != views:
            raise SamplingError(f"min_dates={min_dates} with views={views}: each sample has exactly views dates")
        if views is not None and max_dates is not None and max_dates != views:
            raise SamplingError(f"max_dates={max_dates} with views={views}: each sample has exactly views dates")
        self.views = views
        self.min_dates = views if views is not None else (2 if min_dates is None else min_dates)
        if self.min_dates < 1:
            raise SamplingError(f"min_dates={self.min_dates} must be at least 1")
        if max_dates is not None and max_dates < self.min_dates:
            raise SamplingError(f"max_dates={max_dates} is below min_dates={self.min_dates}: raise max_dates")
        self.max_dates = max_dates
        self.min_gap = pd.Timedelta(0) if min_gap is None else pd.Timedelta(min_gap)
        self.max_gap = None if max_gap is None else pd.Timedelta(max_gap)
        if self.min_gap < pd.Timedelta(0):
            raise SamplingError(f"min_gap={self.min_gap} is negative: give a duration >= 0")
        if self.max_gap is not None and self.max_gap < self.min_gap:
            raise SamplingError(f"max_gap={self.max_gap} is shorter than min_gap={self.min_gap}: swap or widen them")
        if not 0.0 <= min_valid_fraction <= 1.0:
            raise SamplingError(f"min_valid_fraction={min_valid_fraction!r} must lie in [0, 1]")
        if validity not in ("pixels", "footprint"):
            raise SamplingError(f"validity={validity!r} is unknown: use 'pixels' or 'footprint'")
        if validity_step is not None and validity_step < 1:
            raise SamplingError(f"validity_step={validity_step!r} must be at least 1 pixel")
        self.min_valid_fraction = float(min_valid_fraction)
        self.validity = validity
        self.dataset = dataset
        self.res = dataset.res
        self.roi = roi
        self.toi = toi
        self.generator = _numpy_generator(generator)

        height, width = (size, size) if isinstance(size, int | float) else size
        if height <= 0 or width <= 0:
            raise SamplingError(f"size={size!r} must be positive")
        if units == Units.PIXELS:
            self.size_px = (int(round(height)), int(round(width)))
            self.size = (height * self.res[1], width * self.res[0])
        else:
            self.size = (float(height), float(width))
            self.size_px = (int(round(height / self.res[1])), int(round(width / self.res[0])))
        self.validity_step = validity_step or max(1, min(self.size_px) // 16)

        acquisitions = group_acquisitions(dataset, pd.Timedelta(tolerance))
        if toi is not None:
            acquisitions = [a for a in acquisitions if any(i.overlaps(toi) for i in a.intervals)]
        dates = ", ".join(a.start.strftime("%Y-%m-%d") for a in acquisitions) or "none"
        if len(acquisitions) < self.min_dates:
            where = f" within {toi}" if toi is not None else ""
            raise SamplingError(
                f"{self.min_dates} dates needed per window, but the stack holds {len(acquisitions)} acquisition "
                f"date(s){where} ({dates}): lower min_dates/views, widen the time of interest or add scenes"
            )
        self.acquisitions = acquisitions

        region = _coverage_region([a.footprint for a in acquisitions], self.min_dates)
        if roi is not None:
            region = shapely.intersection(region, roi)
        if region.is_empty or region.area <= 0:
            raise SamplingError(
                f"no area is covered by {self.min_dates} dates ({dates})"
                + (" inside the region of interest" if roi is not None else "")
                + ": check that the scenes overlap, or lower min_dates/views"
            )
        xmin, ymin, xmax, ymax = region.bounds
        eps = 1e-6 * max(self.res)
        if xmax - xmin < self.size[1] - eps or ymax - ymin < self.size[0] - eps:
            raise SamplingError(
                f"a patch of {self.size_px[1]} x {self.size_px[0]} px ({self.size[1]:g} x {self.size[0]:g} CRS units) "
                f"is larger than the area covered by {self.min_dates} dates ({xmax - xmin:g} x {ymax - ymin:g} CRS "
                f"units, {(xmax - xmin) / self.res[0]:.0f} x {(ymax - ymin) / self.res[1]:.0f} px): choose a smaller "
                "patch size"
            )
        self.region = region
        self._region_test = region.buffer(1e-3 * min(self.res))
        shapely.prepare(self._region_test)
        x, y, _ = dataset.bounds
        self._origin = (float(x.start), float(y.stop))  # upper-left corner of the dataset grid
        self._validity: dict[int, _ValidityGrid] = {}
        self._positions = {id(acquisition): k for k, acquisition in enumerate(acquisitions)}
        if self.validity == "pixels" and self.min_valid_fraction > 0:
            for position, acquisition in enumerate(acquisitions):
                if shapely.intersects(acquisition.footprint, region):  # others never cover a window
                    self._grid(position)

    # -- geometry ---------------------------------------------------------------------------

    def _snap(self, left: float, top: float, outward: bool) -> tuple[float, float]:
        """Snap a window's upper-left corner to the dataset pixel grid (inward or to nearest)."""
        ox, oy = self._origin
        rx, ry = self.res
        fx, fy = (left - ox) / rx, (oy - top) / ry
        if outward:
            col, row = math.ceil(fx - 1e-6), math.ceil(fy - 1e-6)
        else:
            col, row = round(fx), round(fy)
        return ox + col * rx, oy - row * ry

    def _window(self, left: float, top: float) -> tuple[slice, slice]:
        return slice(left, left + self.size[1]), slice(top - self.size[0], top)

    def _inside(self, x: slice, y: slice) -> bool:
        window = shapely.box(x.start, y.start, x.stop, y.stop)
        if self.roi is not None and not self.roi.buffer(1e-3 * min(self.res)).contains(window):
            return False
        return bool(self._region_test.contains(window))

    def candidates(self, x: slice, y: slice) -> list[DateWindow]:
        """The dates whose footprints cover a window, with their coverage, in time order.

        Only the footprint test is applied here: dates covering less than ``min_valid_fraction``
        of the window (and dates not covering it at all) are left out; pixel validity is not read.

        Args:
            x: ``xmin:xmax`` of the window, CRS units.
            y: ``ymin:ymax`` of the window, CRS units.

        Returns:
            One :class:`DateWindow` per covering acquisition.
        """
        window = shapely.box(x.start, y.start, x.stop, y.stop)
        area = window.area
        found = []
        for acquisition in self.acquisitions:
            covering = [
                k
                for k, geometry in enumerate(acquisition.geometries)
                if shapely.intersection(geometry, window).area > 1e-9 * area
            ]
            if not covering:
                continue
            union = shapely.union_all([acquisition.geometries[k] for k in covering])
            coverage = min(1.0, shapely.intersection(union, window).area / area)
            if coverage < self.min_valid_fraction:
                continue
            intervals = [acquisition.intervals[k] for k in covering]
            start = min(pd.Timestamp(i.left) for i in intervals)
            stop = max(pd.Timestamp(i.right) for i in intervals)
            found.append(
                DateWindow(
                    acquisition=acquisition,
                    start=start,
                    time=slice(start, stop),
                    filepaths=tuple(acquisition.filepaths[k] for k in covering),
                    coverage=coverage,
                )
            )
        found.sort(key=lambda date: date.start)
        return found

    # -- pixel validity ---------------------------------------------------------------------

    def _grid(self, position: int) -> _ValidityGrid:
        """Decimated validity of one acquisition over the sampled region (read once, cached)."""
        if position in self._validity:
            return self._validity[position]
        acquisition = self.acquisitions[position]
        rx, ry = self.res
        step = self.validity_step
        cell = (rx * step, ry * step)
        area = shapely.intersection(acquisition.footprint, self.region.envelope)
        left, bottom, right, top = (area if not area.is_empty else self.region.envelope).bounds
        left, top = self._snap(left, top, outward=False)
        width = max(1, math.ceil((right - left) / cell[0] - 1e-6))
        height = max(1, math.ceil((top - bottom) / cell[1] - 1e-6))
        times = [i for i in acquisition.intervals]
        query = (
            slice(left, left + width * cell[0], cell[0]),
            slice(top - height * cell[1], top, cell[1]),
            slice(min(pd.Timestamp(i.left) for i in times), max(pd.Timestamp(i.right) for i in times)),
        )
        # Read without cached file handles: none stays open in this process, so DataLoader workers
        # forked later open their own, and the decoded blocks leave GDAL's cache with the handles.
        cache = getattr(self.dataset, "cache", None)
        if cache:
            self.dataset.cache = False  # type: ignore[attr-defined]
        try:
            sample = self.dataset[query]
        finally:
            if cache:
                self.dataset.cache = cache  # type: ignore[attr-defined]
        image = sample["image"] if "image" in sample else sample["mask"][None]
        values = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        valid = (
            ~np.all(np.isnan(values), axis=0)
            if np.issubdtype(values.dtype, np.floating)
            else np.ones(values.shape[1:], dtype=bool)
        )
        grid = _ValidityGrid(valid, left, top, cell)
        self._validity[position] = grid
        return grid

    def _valid_dates(self, x: slice, y: slice) -> list[DateWindow]:
        """Candidates that also pass the pixel-validity estimate (``validity="pixels"``)."""
        dates = self.candidates(x, y)
        if self.validity == "footprint" or self.min_valid_fraction <= 0:
            return dates
        kept = []
        for date in dates:
            position = self._positions[id(date.acquisition)]
            fraction = self._grid(position).fraction(x, y)
            if fraction is None or fraction >= self.min_valid_fraction:
                kept.append(date)
        return kept

    def _choose(self, dates: list[DateWindow]) -> list[DateWindow] | None:
        if len(dates) < self.min_dates:
            return None
        chosen = select_dates(
            [date.start for date in dates],
            views=self.views,
            min_dates=self.min_dates,
            max_dates=self.max_dates,
            min_gap=self.min_gap,
            max_gap=self.max_gap,
            generator=self.generator,
        )
        return None if chosen is None else [dates[i] for i in chosen]

    def _has_choice(self, dates: list[DateWindow]) -> bool:
        """Whether a valid choice exists (without drawing from the generator)."""
        if len(dates) < self.min_dates:
            return False
        chosen = select_dates(
            [date.start for date in dates],
            views=self.views,
            min_dates=self.min_dates,
            max_dates=None,
            min_gap=self.min_gap,
            max_gap=self.max_gap,
            generator=np.random.default_rng(0),
        )
        return chosen is not None

    @staticmethod
    def _slices(x: slice, y: slice, dates: list[DateWindow]) -> list[GeoSlice]:
        return [(x, y, date.time) for date in dates]

    def windows(self) -> Iterator[tuple[slice, slice]]:
        """Candidate windows (inside the area covered by ``min_dates`` dates), before date checks.

        Yields:
            ``(x, y)`` slices, CRS units, on the dataset pixel grid.
        """
        raise NotImplementedError


class RandomMultiTemporalSampler(_MultiTemporalSampler):
    """Random windows, each at several dates: pairs (``views=2``) or whole time series.

    The multitemporal counterpart of TorchGeo's ``RandomGeoSampler`` / ``RandomSpatialSampler``:
    window corners are drawn uniformly on the dataset's pixel grid among the windows that lie
    inside the area covered by ``min_dates`` (or ``views``) acquisitions (and inside ``roi``);
    a window is kept when enough dates pass the validity and gap tests (module docstring), else
    another one is drawn. Each epoch draws new windows; the sequence is reproducible from
    ``generator``.

    Example:
        >>> sampler = RandomMultiTemporalSampler(dataset, size=128, length=100, views=2)  # doctest: +SKIP
        >>> loader = DataLoader(MultiTemporalDataset(dataset), sampler=sampler,
        ...                     batch_size=8, collate_fn=stack_time_series)  # doctest: +SKIP
    """

    strategy = "random"

    def __init__(
        self,
        dataset: GeoDataset,
        *,
        size: tuple[float, float] | float,
        length: int | None = None,
        roi: Polygon | None = None,
        toi: pd.Interval | None = None,
        units: Units = Units.PIXELS,
        views: int | None = 2,
        min_dates: int | None = None,
        max_dates: int | None = None,
        min_gap: pd.Timedelta | str | None = None,
        max_gap: pd.Timedelta | str | None = None,
        min_valid_fraction: float = 0.5,
        validity: Validity = "pixels",
        validity_step: int | None = None,
        tolerance: pd.Timedelta | str = DEFAULT_TOLERANCE,
        max_attempts: int = 1000,
        generator: GeneratorLike = None,
    ) -> None:
        """Initialise a new RandomMultiTemporalSampler.

        Args:
            dataset: the stack to sample (e.g. :class:`eospec.datasets.EnMAPL2A`).
            size: window (height, width), or one number for both, in pixels or CRS units.
            length: windows per epoch (default: about the number of non-overlapping windows
                that fit in the sampled area).
            roi: region of interest (shapely polygon in the dataset CRS) that windows lie in.
            toi: time of interest: only acquisitions overlapping it are used.
            units: whether ``size`` is in pixels or CRS units.
            views: dates per window, drawn at random (2: a pair); None for the time series.
            min_dates: fewest dates per window in time-series mode (default 2).
            max_dates: most dates per window in time-series mode (default: all).
            min_gap: smallest time between consecutive dates (a :class:`pandas.Timedelta` or a
                string such as ``"30D"``).
            max_gap: largest time between consecutive dates.
            min_valid_fraction: fewest valid pixels per date, as a fraction of the window (0-1).
            validity: ``"pixels"`` (estimate from a decimated read, see the module docstring) or
                ``"footprint"`` (footprint coverage only, free).
            validity_step: pixel step of the validity estimate (default ``max(1, size // 16)``).
            tolerance: acquisition starts closer than this are one overpass.
            max_attempts: windows drawn per sample before giving up.
            generator: seed, numpy or torch generator (default: drawn from torch's global
                generator, so ``torch.manual_seed`` makes runs repeatable).

        Raises:
            SamplingError: If the parameters are inconsistent, the stack holds fewer dates than
                required, no area is covered by enough dates, or the window is larger than it.
        """
        super().__init__(
            dataset,
            size=size,
            roi=roi,
            toi=toi,
            units=units,
            views=views,
            min_dates=min_dates,
            max_dates=max_dates,
            min_gap=min_gap,
            max_gap=max_gap,
            min_valid_fraction=min_valid_fraction,
            validity=validity,
            validity_step=validity_step,
            tolerance=tolerance,
            generator=generator,
        )
        if length is None:
            length = max(1, int(self.region.area // (self.size[0] * self.size[1])))
        if length < 1:
            raise SamplingError(f"length={length!r} must be at least 1")
        if max_attempts < 1:
            raise SamplingError(f"max_attempts={max_attempts!r} must be at least 1")
        self.length = length
        self.max_attempts = max_attempts
        xmin, ymin, xmax, ymax = self.region.bounds
        left, top = self._snap(xmin, ymax, outward=True)
        self._left, self._top = left, top
        self._n_cols = max(1, math.floor((xmax - left - self.size[1]) / self.res[0] + 1e-6) + 1)
        self._n_rows = max(1, math.floor((top - ymin - self.size[0]) / self.res[1] + 1e-6) + 1)

    def windows(self) -> Iterator[tuple[slice, slice]]:
        """An endless stream of random windows inside the sampled area.

        Yields:
            ``(x, y)`` slices, CRS units, on the dataset pixel grid.

        Raises:
            SamplingError: If ``100 * max_attempts`` draws in a row fall partly outside the area
                (no window fits inside it).
        """
        misses = 0
        while True:
            col = int(self.generator.integers(0, self._n_cols))
            row = int(self.generator.integers(0, self._n_rows))
            x, y = self._window(self._left + col * self.res[0], self._top - row * self.res[1])
            if self._inside(x, y):
                misses = 0
                yield x, y
                continue
            misses += 1
            if misses >= 100 * self.max_attempts:
                raise SamplingError(
                    f"no window of {self.size_px[1]} x {self.size_px[0]} px fits inside the area covered by "
                    f"{self.min_dates} dates"
                    + (" and the region of interest" if self.roi is not None else "")
                    + f" in {misses} draws: choose a smaller size or a larger region"
                )

    def __iter__(self) -> Iterator[list[GeoSlice]]:
        """Draw ``length`` windows, each with its dates.

        Yields:
            One ``(x, y, t)`` slice per date, earliest first, all with the same ``x`` and ``y``.

        Raises:
            SamplingError: If ``max_attempts`` windows in a row fail the date tests.
        """
        stream = self.windows()
        for _ in range(self.length):
            for _attempt in range(self.max_attempts):
                x, y = next(stream)
                chosen = self._choose(self._valid_dates(x, y))
                if chosen is not None:
                    yield self._slices(x, y, chosen)
                    break
            else:
                raise SamplingError(
                    f"{self.max_attempts} random windows in a row had fewer than {self.min_dates} dates passing "
                    f"min_valid_fraction={self.min_valid_fraction} and the time gaps: lower min_valid_fraction or "
                    "min_dates, relax min_gap/max_gap, or use GridMultiTemporalSampler to list the windows that pass"
                )

    def __len__(self) -> int:
        """Windows per epoch."""
        return self.length


class GridMultiTemporalSampler(_MultiTemporalSampler):
    """Windows on a regular grid, each at several dates (time series by default).

    The multitemporal counterpart of TorchGeo's ``GridGeoSampler`` / ``GridSpatialSampler``: the
    grid starts at the upper-left corner of the area covered by ``min_dates`` acquisitions
    (snapped inwards to the dataset pixel grid) and steps by ``stride``; windows outside that area
    (or ``roi``), or without enough dates passing the tests, are skipped. With ``views``, each
    epoch draws new dates for the same windows.
    """

    strategy = "sequential"

    def __init__(
        self,
        dataset: GeoDataset,
        *,
        size: tuple[float, float] | float,
        stride: tuple[float, float] | float | None = None,
        roi: Polygon | None = None,
        toi: pd.Interval | None = None,
        units: Units = Units.PIXELS,
        views: int | None = None,
        min_dates: int | None = None,
        max_dates: int | None = None,
        min_gap: pd.Timedelta | str | None = None,
        max_gap: pd.Timedelta | str | None = None,
        min_valid_fraction: float = 0.5,
        validity: Validity = "pixels",
        validity_step: int | None = None,
        tolerance: pd.Timedelta | str = DEFAULT_TOLERANCE,
        generator: GeneratorLike = None,
    ) -> None:
        """Initialise a new GridMultiTemporalSampler.

        Args:
            dataset: the stack to sample (e.g. :class:`eospec.datasets.EnMAPL2A`).
            size: window (height, width), or one number for both, in pixels or CRS units.
            stride: step between windows (height, width) in the units of ``size`` (default: ``size``).
            roi: region of interest (shapely polygon in the dataset CRS) that windows lie in.
            toi: time of interest: only acquisitions overlapping it are used.
            units: whether ``size`` and ``stride`` are in pixels or CRS units.
            views: dates per window, drawn at random; None (default) for the time series.
            min_dates: fewest dates per window in time-series mode (default 2).
            max_dates: most dates per window in time-series mode (default: all).
            min_gap: smallest time between consecutive dates.
            max_gap: largest time between consecutive dates.
            min_valid_fraction: fewest valid pixels per date, as a fraction of the window (0-1).
            validity: ``"pixels"`` or ``"footprint"`` (module docstring).
            validity_step: pixel step of the validity estimate (default ``max(1, size // 16)``).
            tolerance: acquisition starts closer than this are one overpass.
            generator: seed, numpy or torch generator, for ``views`` and ``max_dates`` draws.

        Raises:
            SamplingError: If the parameters are inconsistent, the stack holds fewer dates than
                required, no area is covered by enough dates, or the window is larger than it.
        """
        super().__init__(
            dataset,
            size=size,
            roi=roi,
            toi=toi,
            units=units,
            views=views,
            min_dates=min_dates,
            max_dates=max_dates,
            min_gap=min_gap,
            max_gap=max_gap,
            min_valid_fraction=min_valid_fraction,
            validity=validity,
            validity_step=validity_step,
            tolerance=tolerance,
            generator=generator,
        )
        if stride is None:
            self.stride = self.size
        else:
            sh, sw = (stride, stride) if isinstance(stride, int | float) else stride
            if sh <= 0 or sw <= 0:
                raise SamplingError(f"stride={stride!r} must be positive")
            self.stride = (sh * self.res[1], sw * self.res[0]) if units == Units.PIXELS else (float(sh), float(sw))
        self._plan: list[tuple[slice, slice, list[DateWindow]]] | None = None

    def windows(self) -> Iterator[tuple[slice, slice]]:
        """The grid windows inside the sampled area, row by row from the upper-left corner.

        Yields:
            ``(x, y)`` slices, CRS units, on the dataset pixel grid.
        """
        xmin, ymin, xmax, ymax = self.region.bounds
        left, top = self._snap(xmin, ymax, outward=True)
        n_cols = math.floor((xmax - left - self.size[1]) / self.stride[1] + 1e-6) + 1
        n_rows = math.floor((top - ymin - self.size[0]) / self.stride[0] + 1e-6) + 1
        for row in range(max(n_rows, 0)):
            for col in range(max(n_cols, 0)):
                x, y = self._window(left + col * self.stride[1], top - row * self.stride[0])
                if self._inside(x, y):
                    yield x, y

    def plan(self) -> list[tuple[slice, slice, list[DateWindow]]]:
        """The windows that have enough dates, with their candidate dates (computed once).

        Returns:
            ``(x, y, dates)`` per kept window, in grid order.
        """
        if self._plan is None:
            plan = []
            for x, y in self.windows():
                dates = self._valid_dates(x, y)
                if self._has_choice(dates):
                    plan.append((x, y, dates))
            self._plan = plan
        return self._plan

    def __iter__(self) -> Iterator[list[GeoSlice]]:
        """Visit every kept grid window once.

        Yields:
            One ``(x, y, t)`` slice per date, earliest first, all with the same ``x`` and ``y``.
        """
        for x, y, dates in self.plan():
            chosen = self._choose(dates)
            if chosen is not None:
                yield self._slices(x, y, chosen)

    def __len__(self) -> int:
        """Number of kept grid windows."""
        return len(self.plan())


class MultiTemporalDataset(Dataset[dict[str, Any]]):
    """A GeoDataset indexed by lists of GeoSlices (one per date), as the samplers here yield.

    ``dataset[[q1, q2, ...]]`` reads each slice with the wrapped dataset and stacks the images.

    Example:
        >>> loader = DataLoader(MultiTemporalDataset(stack), sampler=sampler,
        ...                     batch_size=4, collate_fn=stack_time_series)  # doctest: +SKIP
    """

    def __init__(self, dataset: GeoDataset) -> None:
        """Wrap a dataset.

        Args:
            dataset: a TorchGeo dataset whose samples hold an ``image`` (or ``mask``) tensor.
        """
        self.dataset = dataset

    def __getitem__(self, query: Sequence[GeoSlice]) -> dict[str, Any]:
        """Read one window at several dates.

        Args:
            query: one ``(x, y, t)`` slice per date.

        Returns:
            A sample dict: ``image`` float tensor of shape (T, C, H, W) (for EnMAPL2A:
            reflectance 0-1, NaN where invalid), ``time`` int64 tensor (T,) with the start of
            each slice's time range in seconds since 1970-01-01 UTC, ``bounds`` (the query, one
            slice per date) and ``crs``.

        Raises:
            IndexError: If a slice is outside the dataset (as the wrapped dataset raises it).
        """
        if len(query) == 0:
            raise IndexError("empty query: give one (x, y, t) slice per date")
        samples = [self.dataset[item] for item in query]
        key = "image" if "image" in samples[0] else "mask"
        images = torch.stack([sample[key] for sample in samples])
        times = []
        for item in query:
            t = item[2] if isinstance(item, tuple) and len(item) == 3 else slice(None)
            start = t.start if t.start is not None else pd.Timestamp(0)
            times.append(int(pd.Timestamp(start).timestamp()))
        return {
            key: images,
            "time": torch.tensor(times, dtype=torch.int64),
            "bounds": list(query),
            "crs": samples[0].get("crs"),
        }


def stack_time_series(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate multitemporal samples into a batch, padding shorter time series with NaN.

    Args:
        samples: dicts from :class:`MultiTemporalDataset`.

    Returns:
        ``image`` (or ``mask``) tensor of shape (B, T, C, H, W) with T the longest series (float
        images are padded with NaN, others with 0), ``time`` int64 (B, T) (0 where padded),
        ``time_mask`` bool (B, T) (True for real dates), and lists of the other keys.
    """
    key = "image" if "image" in samples[0] else "mask"
    longest = max(sample[key].shape[0] for sample in samples)
    first = samples[0][key]
    fill = float("nan") if first.is_floating_point() else 0
    times = torch.zeros((len(samples), longest), dtype=torch.int64)
    mask = torch.zeros((len(samples), longest), dtype=torch.bool)
    if all(sample[key].shape[0] == longest for sample in samples):
        batch = torch.stack([sample[key] for sample in samples])  # one pass: no fill needed
    else:
        batch = torch.empty((len(samples), longest, *first.shape[1:]), dtype=first.dtype)
    for position, sample in enumerate(samples):
        count = sample[key].shape[0]
        if count < longest:
            batch[position, :count] = sample[key]
            batch[position, count:] = fill
        times[position, :count] = sample["time"]
        mask[position, :count] = True
    out: dict[str, Any] = {key: batch, "time": times, "time_mask": mask}
    for name in samples[0]:
        if name not in out:
            out[name] = [sample[name] for sample in samples]
    return out

"""Point-centred patches: one patch per soil sample, on the scenes' pixel grid.

:class:`PointSampler` is a TorchGeo :class:`~torchgeo.samplers.GeoSampler` that yields, for each
point in a dataset's index (a :class:`~eospec.datasets.SoilSamples`, or ``samples & scenes``),
the slice of a patch of ``size`` pixels around it. Patches are aligned with the pixel grid of the
scene the point falls in (the grid origin is the upper-left corner of that file's footprint), so
the scene's pixels are read as they are, without resampling, and the pixel that contains the
point is always at ``patch[..., size // 2, size // 2]`` (for even sizes the point's pixel is the
lower-right one of the four central pixels). "Contains" follows rasterio's
``dataset.index(x, y)``: a pixel holds its left and top edges.

At scene edges the sampler either skips the sample (``edge="skip"``, the default: the patch must
lie inside the union of the footprints of the files acquired at the sample's time) or keeps the
patch and lets it extend past the scene (``edge="pad"``): :class:`eospec.datasets.EnMAPL2A` then
returns NaN for the pixels outside every file. Footprints are file extents: nodata pixels inside
a file are NaN in either mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
import torch
from rasterio.transform import Affine, rowcol
from shapely import Polygon
from torch import Generator
from torchgeo.datasets import GeoDataset, RasterDataset
from torchgeo.samplers import GeoSampler, Units

__all__ = ["PointSampler", "centred_window", "find_raster_dataset"]

EdgeMode = Literal["skip", "pad"]


def centred_window(
    xs: npt.ArrayLike,
    ys: npt.ArrayLike,
    *,
    origin: tuple[float, float] | npt.NDArray[np.float64],
    res: tuple[float, float],
    size: tuple[int, int],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Bounds of the pixel-aligned windows of ``size`` pixels centred on the pixels holding points.

    Args:
        xs: x of the points, shape (N,), CRS units.
        ys: y of the points, shape (N,), CRS units.
        origin: upper-left corner (x, y) of the pixel grid, CRS units; one pair for all points or
            an array of shape (N, 2), one grid per point.
        res: pixel size (x, y) in CRS units, both positive (north-up grids).
        size: window (height, width) in pixels.

    Returns:
        ``xmin, xmax, ymin, ymax``, float64 arrays of shape (N,). The pixel containing point i
        (rasterio's ``rowcol`` with ``floor``) is at row ``size[0] // 2`` and column
        ``size[1] // 2`` of window i.
    """
    x = np.atleast_1d(np.asarray(xs, dtype=np.float64))
    y = np.atleast_1d(np.asarray(ys, dtype=np.float64))
    corners = np.broadcast_to(np.asarray(origin, dtype=np.float64), (x.size, 2))
    height, width = int(size[0]), int(size[1])
    xres, yres = float(res[0]), float(res[1])
    xmin = np.empty(x.size)
    ymax = np.empty(x.size)
    for corner in np.unique(corners, axis=0):  # usually one grid
        same = np.all(corners == corner, axis=1)
        transform = Affine(xres, 0.0, float(corner[0]), 0.0, -yres, float(corner[1]))
        rows, cols = rowcol(transform, x[same], y[same], op=np.floor)
        rows = np.asarray(rows, dtype=np.int64) - height // 2
        cols = np.asarray(cols, dtype=np.int64) - width // 2
        xmin[same] = corner[0] + cols * xres
        ymax[same] = corner[1] - rows * yres
    return xmin, xmin + width * xres, ymax - height * yres, ymax


def find_raster_dataset(dataset: GeoDataset) -> RasterDataset | None:
    """The first :class:`~torchgeo.datasets.RasterDataset` in a dataset or its intersections/unions.

    Args:
        dataset: any GeoDataset.

    Returns:
        The raster dataset, or None when there is none.
    """
    if isinstance(dataset, RasterDataset):
        return dataset
    for child in getattr(dataset, "datasets", ()):
        found = find_raster_dataset(child)
        if found is not None:
            return found
    return None


class PointSampler(GeoSampler):
    """One patch centred on each sample point, on the scenes' pixel grid.

    Iterates over the rows of ``dataset.index`` (points) in index order (or shuffled) and yields
    TorchGeo slices ``[xmin:xmax:xres, ymin:ymax:yres, tmin:tmax]``; the time slice is the row's
    interval, so with ``samples & scenes`` the patch comes from the scene the sample was paired
    with. See the module docstring for the grid and the edge modes.

    Attributes:
        size: patch (height, width) in pixels.
        rows: positions in ``dataset.index`` of the patches yielded, in order.
        skipped: positions of the samples skipped at scene edges (``edge="skip"``) or left out by
            ``roi``/``toi``.

    Example:
        >>> from eospec.datasets import EnMAPL2A, SoilSamples
        >>> scenes = EnMAPL2A("tests/data/enmap/enmapbox_style.tif")
        >>> samples = SoilSamples("tests/data/soil_samples/samples.parquet")
        >>> pairs = samples & scenes
        >>> sampler = PointSampler(pairs, size=5)
        >>> [pairs[query]["image"].shape for query in sampler][:1]
        [torch.Size([202, 5, 5])]
    """

    def __init__(
        self,
        dataset: GeoDataset,
        size: tuple[float, float] | float,
        *,
        units: Units = Units.PIXELS,
        edge: EdgeMode = "skip",
        roi: Polygon | None = None,
        toi: pd.Interval | None = None,
        origin: tuple[float, float] | None = None,
        shuffle: bool = False,
        generator: Generator | None = None,
    ) -> None:
        """Initialise a point sampler.

        Args:
            dataset: a dataset whose index holds points: ``samples & scenes`` (usual), or a
                :class:`~eospec.datasets.SoilSamples` with ``res`` set and ``origin`` given.
            size: patch (height, width), or one number for both, in pixels (whole numbers) or
                CRS units (rounded to the nearest whole number of pixels, at least 1).
            units: :attr:`Units.PIXELS <torchgeo.samplers.Units>` or ``Units.CRS``.
            edge: ``"skip"`` samples whose patch leaves the scenes, or ``"pad"`` (keep them; the
                scene returns NaN outside its files).
            roi: region of interest (shapely polygon in the dataset's CRS): points outside are left out.
            toi: time of interest: rows whose interval does not overlap it are left out.
            origin: upper-left corner (x, y) of the pixel grid (default: that of the file each point
                falls in, found through the dataset's raster part).
            shuffle: yield the patches in a new random order each epoch (default: index order).
            generator: random generator for ``shuffle``.

        Raises:
            ValueError: If ``edge`` or ``size`` is invalid; if the dataset index holds no points or
                no resolution; or if there are no scenes to take the grid (or the edges, for
                ``edge="skip"``) from and no ``origin`` is given.
        """
        if edge not in ("skip", "pad"):
            raise ValueError(f"edge={edge!r} is not a mode: use 'skip' or 'pad'")
        super().__init__(dataset)
        index = self.index
        selected = np.ones(len(index), dtype=bool)
        geometry = index.geometry
        if len(geometry) and set(geometry.geom_type) != {"Point"}:
            raise ValueError(
                f"PointSampler needs a dataset whose index holds points (got {sorted(set(geometry.geom_type))}): "
                "use SoilSamples & scenes"
            )
        if roi is not None:
            self.roi = roi
            selected &= shapely.intersects(roi, geometry.to_numpy())
        lefts = index.index.left.to_numpy(dtype="datetime64[ns]")
        rights = index.index.right.to_numpy(dtype="datetime64[ns]")
        if toi is not None:
            self.toi = toi
            selected &= np.asarray(index.index.overlaps(pd.Interval(toi.left, toi.right, closed="both")))
            start, stop = np.datetime64(pd.Timestamp(toi.left), "ns"), np.datetime64(pd.Timestamp(toi.right), "ns")
            lefts = np.where(selected, np.maximum(lefts, start), lefts)
            rights = np.where(selected, np.minimum(rights, stop), rights)
        xres, yres = float(self.res[0]), float(self.res[1])
        if xres <= 0 or yres <= 0:
            raise ValueError(
                f"the dataset has no resolution (res={self.res}): pair the samples with scenes "
                "(samples & scenes) or give SoilSamples(res=...)"
            )
        self.size = self._pixels(size, units, (xres, yres))
        self.edge: EdgeMode = edge
        self.shuffle = shuffle
        self.generator = generator
        raster = find_raster_dataset(dataset)
        if raster is None and origin is None:
            raise ValueError(
                "no scenes to take the pixel grid from: sample from samples & scenes, or give origin=(x, y), "
                "the upper-left corner of the grid"
            )
        if raster is None and edge == "skip":
            raise ValueError(
                "edge='skip' needs scenes to find their edges: sample from samples & scenes, or edge='pad'"
            )

        xs, ys = geometry.x.to_numpy(), geometry.y.to_numpy()
        paths = index["filepath"].to_numpy() if "filepath" in index.columns else None
        origins = (
            np.broadcast_to(np.asarray(origin, dtype=np.float64), (len(xs), 2))
            if origin is not None
            else self._grid_origins(raster, xs, ys, paths)  # type: ignore[arg-type]
        )
        xmin, xmax, ymin, ymax = centred_window(xs, ys, origin=origins, res=(xres, yres), size=self.size)
        intervals = pd.IntervalIndex.from_arrays(lefts, rights, closed="both")
        keep = selected.copy()
        if edge == "skip" and raster is not None:
            keep[selected] = self._inside_scenes(
                raster, xmin[selected], xmax[selected], ymin[selected], ymax[selected], intervals[selected]
            )
        self.rows: npt.NDArray[np.intp] = np.flatnonzero(keep)
        self.skipped: npt.NDArray[np.intp] = np.flatnonzero(~keep)
        self._slices = [
            (
                slice(float(xmin[i]), float(xmax[i]), xres),
                slice(float(ymin[i]), float(ymax[i]), yres),
                slice(intervals[i].left, intervals[i].right),
            )
            for i in self.rows
        ]

    @staticmethod
    def _pixels(size: tuple[float, float] | float, units: Units, res: tuple[float, float]) -> tuple[int, int]:
        height, width = (size, size) if isinstance(size, int | float) else size
        if units == Units.CRS:
            pixels = (max(1, round(height / res[1])), max(1, round(width / res[0])))
        else:
            if any(float(value) != round(float(value)) for value in (height, width)):
                raise ValueError(f"size={size!r} must be whole pixels with units=Units.PIXELS")
            pixels = (round(height), round(width))
        if min(pixels) < 1:
            raise ValueError(f"size={size!r} must be at least one pixel")
        return int(pixels[0]), int(pixels[1])

    @staticmethod
    def _grid_origins(
        raster: RasterDataset, xs: np.ndarray, ys: np.ndarray, paths: np.ndarray | None
    ) -> npt.NDArray[np.float64]:
        """Upper-left corner of the footprint of the file each point pairs with (or falls in)."""
        footprints = raster.index
        bounds = footprints.geometry.bounds
        corners = np.column_stack([bounds["minx"].to_numpy(), bounds["maxy"].to_numpy()])
        origins = np.broadcast_to(corners[0], (len(xs), 2)).copy()
        found = np.zeros(len(xs), dtype=bool)
        if paths is not None and "filepath" in footprints.columns:
            by_file = {str(path): corner for path, corner in zip(footprints["filepath"], corners, strict=True)}
            for i, path in enumerate(paths):
                if str(path) in by_file:
                    origins[i] = by_file[str(path)]
                    found[i] = True
            if found.all():
                return origins
        points = shapely.points(xs[~found], ys[~found])
        hits = footprints.sindex.query(points, predicate="intersects")
        first: dict[int, int] = {}
        for point, footprint in zip(hits[0], hits[1], strict=True):
            first.setdefault(int(point), int(footprint))
        missing = np.flatnonzero(~found)
        for point, footprint in first.items():
            origins[missing[point]] = corners[footprint]
        return origins

    @staticmethod
    def _inside_scenes(
        raster: RasterDataset,
        xmin: np.ndarray,
        xmax: np.ndarray,
        ymin: np.ndarray,
        ymax: np.ndarray,
        intervals: pd.IntervalIndex,
    ) -> npt.NDArray[np.bool_]:
        """Whether each patch lies inside the union of the footprints acquired in its interval."""
        footprints = raster.index
        boxes = shapely.box(xmin, ymin, xmax, ymax)
        hits = footprints.sindex.query(boxes, predicate="intersects")
        scene_intervals = footprints.index
        keep = np.zeros(len(boxes), dtype=bool)
        for i in range(len(boxes)):
            candidates = hits[1][hits[0] == i]
            if candidates.size == 0:
                continue
            interval = intervals[i]
            same_time = [c for c in candidates if scene_intervals[c].overlaps(interval)]
            if not same_time:
                continue
            union = shapely.union_all(footprints.geometry.iloc[same_time].to_numpy())
            keep[i] = bool(union.covers(boxes[i]))
        return keep

    def __iter__(self) -> Iterator[tuple[slice, slice, slice]]:
        """Yield the patch slices.

        Yields:
            [xmin:xmax:xres, ymin:ymax:yres, tmin:tmax] in the dataset's CRS.
        """
        order: Any = range(len(self._slices))
        if self.shuffle:
            order = torch.randperm(len(self._slices), generator=self.generator).tolist()
        for i in order:
            yield self._slices[i]

    def __len__(self) -> int:
        """Number of patches per epoch (samples minus those skipped)."""
        return len(self._slices)

"""Georeferenced soil samples as a TorchGeo point dataset, and their pairing with scenes.

:class:`SoilSamples` reads sampling points with a sampling date and measured properties from a
CSV table (x/y or longitude/latitude columns plus the CRS, which a CSV cannot carry), a
GeoPackage, a GeoParquet file or any vector file GDAL reads, or from a (Geo)DataFrame. Like
TorchGeo's :class:`~torchgeo.datasets.GBIF` its index holds one zero-area point per sample; its
time interval is the sampling date (the whole day for plain dates) widened by ``time_tolerance``,
so that TorchGeo's spatio-temporal intersection pairs a sample with the scenes acquired within
the tolerance.

``samples & scenes`` returns a :class:`SampleSceneIntersection`: the points are reprojected to
the scenes' CRS (the scenes are never warped to the samples' CRS) and each sample is paired with
the one scene closest in time among those that cover it within the tolerance
(``samples.pair_with(scenes, closest=False)`` keeps every such scene). With
:class:`eospec.samplers.PointSampler` it yields the patch around each sample together with the
sample's properties. TorchGeo 0.8's own ``scenes & samples`` finds no intersection: its
``geopandas.overlay`` keeps only geometries of the first operand's type (polygons), so put the
samples first.

Measured properties are float64 with NaN where missing (never 0). Dates without a time of day
mean the whole day (UTC); missing dates mean "any time" (the sample is indexed over all time and
pairs with any scene; its time gap is NaN).
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path as _Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from pyproj import CRS
from pyproj.exceptions import CRSError
from torchgeo.datasets import GeoDataset, IntersectionDataset
from torchgeo.datasets.utils import GeoSlice

from ..errors import SamplesError

__all__ = ["SoilSamples", "SampleSceneIntersection", "join_samples", "match_scenes", "to_timedelta"]

#: Column names tried, case-insensitively and in this order, when no coordinate columns are given.
COORDINATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("x", "y"),
    ("lon", "lat"),
    ("longitude", "latitude"),
    ("lng", "lat"),
    ("easting", "northing"),
)
#: Column names tried for the sampling date when ``date_column`` is not given.
DATE_COLUMNS: tuple[str, ...] = ("date", "sampling_date", "sample_date", "datetime", "time")
#: Column names tried for the sample id when ``id_column`` is not given.
ID_COLUMNS: tuple[str, ...] = ("sample_id", "id")

_TABLE_SUFFIXES = {".csv": ",", ".txt": ",", ".tsv": "\t", ".tab": "\t"}
_PARQUET_SUFFIXES = {".parquet", ".geoparquet", ".pq"}
_NS_MIN = pd.Timestamp.min.value
_NS_MAX = pd.Timestamp.max.value
_DAY_NS = 86_400 * 10**9

Tolerance: TypeAlias = pd.Timedelta | _dt.timedelta | str | float | None


def to_timedelta(value: Tolerance, name: str = "time_tolerance") -> pd.Timedelta | None:
    """A time tolerance as a :class:`pandas.Timedelta`.

    Args:
        value: a Timedelta, a ``datetime.timedelta``, a pandas string (``"10D"``, ``"36h"``), a
            number of days, or None (no limit).
        name: the argument's name, for the error message.

    Returns:
        The tolerance, or None for no limit.

    Raises:
        SamplesError: If the value is negative or cannot be read as a duration.
    """
    if value is None:
        return None
    try:
        delta = pd.Timedelta(days=float(value)) if isinstance(value, int | float) else pd.Timedelta(value)
    except (ValueError, TypeError) as error:
        raise SamplesError(
            f"{name}={value!r} is not a duration: give a number of days, a pandas Timedelta or a string such as '10D'"
        ) from error
    if pd.isna(delta) or delta < pd.Timedelta(0):
        raise SamplesError(f"{name}={value!r} must be a duration of zero or more, e.g. '10D'")
    return delta


def _find_column(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str) -> str | None:
    """The column named ``wanted`` (must exist) or the first of ``candidates`` found (case-insensitive)."""
    lower = {str(column).lower(): str(column) for column in columns}
    if wanted is not None:
        if wanted in columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise SamplesError(f"{what} column {wanted!r} is not in the samples: the columns are {list(columns)}")
    for candidate in candidates:
        if candidate in lower:
            return lower[candidate]
    return None


def _parse_crs(value: Any, source: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except CRSError as error:
        raise SamplesError(f"crs={value!r} for {source} is not a CRS: give e.g. crs='EPSG:4326'") from error


def _read_table(path: _Path, layer: str | int | None) -> pd.DataFrame:
    """A samples file as a DataFrame (tables) or GeoDataFrame (vector files)."""
    if not path.exists():
        raise SamplesError(f"samples file {str(path)!r} does not exist: check the path")
    suffix = path.suffix.lower()
    if suffix in _TABLE_SUFFIXES:
        return pd.read_csv(path, sep=_TABLE_SUFFIXES[suffix])
    if suffix in _PARQUET_SUFFIXES:
        try:
            return gpd.read_parquet(path)
        except ValueError:  # a plain Parquet table without geo metadata: read as a table
            return pd.read_parquet(path)
    import pyogrio

    try:
        if layer is None:  # the first layer with geometries (GeoPackages may hold style tables)
            layers = pyogrio.list_layers(path)
            spatial = [str(name) for name, kind in layers if kind is not None]
            layer = spatial[0] if spatial else (str(layers[0][0]) if len(layers) else None)
        return gpd.read_file(path, layer=layer)
    except pyogrio.errors.DataSourceError as error:
        raise SamplesError(
            f"samples file {str(path)!r} cannot be read ({error}): use a CSV, GeoPackage or GeoParquet file"
        ) from error
    except pyogrio.errors.DataLayerError as error:
        raise SamplesError(f"samples file {str(path)!r} has no layer {layer!r}: {error}") from error


def _to_points(
    table: pd.DataFrame,
    source: str,
    crs: Any,
    x_column: str | None,
    y_column: str | None,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Points with a CRS from a table or GeoDataFrame; also the coordinate columns used."""
    given = _parse_crs(crs, source) if crs is not None else None
    if isinstance(table, gpd.GeoDataFrame) and x_column is None and y_column is None:
        frame = table
        if frame.crs is None:
            if given is None:
                raise SamplesError(
                    f"samples {source} have no CRS: pass crs='EPSG:4326' (or the EPSG code of the coordinates), "
                    "or set it with geopandas: frame.set_crs('EPSG:4326')"
                )
            frame = frame.set_crs(given)
        elif given is not None and CRS.from_user_input(frame.crs) != given:
            raise SamplesError(
                f"samples {source} are in {frame.crs.to_string()} but crs={crs!r} was given: leave crs unset "
                "(the points are reprojected to the scenes' CRS when paired) or fix the file's CRS"
            )
        used: list[str] = []
    else:
        columns = [str(column) for column in table.columns]
        if (x_column is None) != (y_column is None):
            raise SamplesError(f"give both x_column and y_column (got {x_column!r}, {y_column!r})")
        if x_column is not None and y_column is not None:
            x_name = _find_column(columns, x_column, (), "x")
            y_name = _find_column(columns, y_column, (), "y")
        else:
            x_name = y_name = None
            lower = {column.lower() for column in columns}
            for x_try, y_try in COORDINATE_COLUMNS:
                if x_try in lower and y_try in lower:
                    x_name = _find_column(columns, x_try, (), "x")
                    y_name = _find_column(columns, y_try, (), "y")
                    break
        if x_name is None or y_name is None:
            raise SamplesError(
                f"samples {source} have no coordinate columns (looked for x/y, lon/lat, longitude/latitude): "
                f"name them with x_column= and y_column=; the columns are {columns}"
            )
        if given is None:
            hint = "crs='EPSG:4326' if they are WGS 84 longitude/latitude" if x_name.lower() != "x" else "crs='EPSG:…'"
            raise SamplesError(
                f"samples {source} have no CRS for the columns {x_name!r}/{y_name!r}: pass {hint} "
                "(--crs on the command line), or set it with geopandas set_crs before passing a GeoDataFrame"
            )
        xs = pd.to_numeric(table[x_name], errors="coerce")
        ys = pd.to_numeric(table[y_name], errors="coerce")
        bad = xs.isna() | ys.isna()
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())[:5].tolist()
            raise SamplesError(
                f"samples {source} have missing or non-numeric coordinates in rows {rows}: fill or drop those rows"
            )
        plain = pd.DataFrame(table.drop(columns=["geometry"], errors="ignore"))
        frame = gpd.GeoDataFrame(plain, geometry=gpd.points_from_xy(xs, ys), crs=given)
        used = [x_name, y_name]
    geometry = frame.geometry
    empty = geometry.isna() | geometry.is_empty
    if empty.any():
        rows = np.flatnonzero(empty.to_numpy())[:5].tolist()
        raise SamplesError(f"samples {source} have no geometry in rows {rows}: fill or drop those rows")
    kinds = set(geometry.geom_type)
    if kinds != {"Point"}:
        raise SamplesError(
            f"samples {source} must be points, not {sorted(kinds)}: use their centroids "
            "(frame.geometry = frame.geometry.centroid) or representative points"
        )
    if frame.crs.is_geographic:
        lon, lat = geometry.x.to_numpy(), geometry.y.to_numpy()
        if np.any(np.abs(lat) > 90) or np.any(np.abs(lon) > 360):
            raise SamplesError(
                f"samples {source} are in the geographic CRS {frame.crs.to_string()} but have coordinates "
                f"outside longitude/latitude range (e.g. {lon[0]:.6g}, {lat[0]:.6g}): are x and y swapped, "
                "or are they projected coordinates? Pass the right crs="
            )
    return frame, used


def _parse_dates(values: pd.Series, column: str, date_format: str | None, source: str) -> tuple[pd.Series, bool]:
    """Naive UTC timestamps (NaT where missing) and whether they are plain dates (no time of day)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = values
    else:
        text = values.where(values.notna(), None)
        missing = text.isna() | text.astype(str).str.strip().isin(["", "NaT", "nan", "NaN", "None"])
        try:
            parsed = pd.to_datetime(text.where(~missing, None), format=date_format, errors="coerce", utc=True)
        except (ValueError, TypeError) as error:
            raise SamplesError(f"date_format={date_format!r} cannot parse the {column!r} column: {error}") from error
        parsed = parsed.dt.tz_localize(None)
        bad = parsed.isna() & ~missing
        if bad.any():
            examples = [str(value) for value in values[bad].head(3)]
            raise SamplesError(
                f"samples {source}: {int(bad.sum())} dates in column {column!r} cannot be parsed, e.g. {examples}: "
                "pass date_format= (e.g. '%d.%m.%Y', or 'mixed'), or fix them"
            )
    parsed = pd.Series(pd.to_datetime(parsed).astype("datetime64[ns]"), index=values.index)
    known = parsed.dropna()
    date_only = bool(len(known) == 0 or (known == known.dt.normalize()).all())
    return parsed, date_only


def _time_bounds(
    times: pd.Series, date_only: bool, tolerance: pd.Timedelta | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Index interval of each sample in ns: the sampling time (a whole day for dates) +- tolerance.

    Missing times, and every time when ``tolerance`` is None, span all time.
    """
    count = len(times)
    left = np.full(count, _NS_MIN, dtype=np.int64)
    right = np.full(count, _NS_MAX, dtype=np.int64)
    if tolerance is None:
        return left, right
    known = times.notna().to_numpy()
    start = times.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    tol = np.int64(tolerance.value)
    extra = np.int64(_DAY_NS - 1 if date_only else 0)
    low = np.where(start < _NS_MIN + tol, _NS_MIN, start - tol)
    high = np.where(start > _NS_MAX - tol - extra, _NS_MAX, start + extra + tol)
    left[known] = low[known]
    right[known] = high[known]
    return left, right


class SoilSamples(GeoDataset):
    """Georeferenced soil samples: points with a sampling date and measured properties.

    A TorchGeo :class:`~torchgeo.datasets.GeoDataset` (template: TorchGeo's ``GBIF``): the index
    holds one zero-area point per sample, its time interval the sampling date widened by
    ``time_tolerance``. Indexing with a TorchGeo slice ``samples[x0:x1, y0:y1, t0:t1]`` returns
    the samples inside (see :meth:`__getitem__`); ``samples & scenes`` pairs each sample with the
    closest scene in time (:class:`SampleSceneIntersection`).

    Attributes:
        data: GeoDataFrame, one row per sample in file order: ``sample_id`` (str), ``sample_time``
            (datetime64[ns], naive UTC, NaT when unknown), the file's other columns (properties as
            float64 with NaN where missing) and the point geometry in :attr:`crs`.
        property_names: the measured-property columns, in :attr:`properties` order.
        properties: float64 array of shape (N, P), NaN where a value is missing.
        time_tolerance: the tolerance the index intervals were widened by (None: all time).
        date_only: True when the sampling dates carry no time of day (each means the whole day).

    Example:
        >>> samples = SoilSamples("tests/data/soil_samples/samples.gpkg", time_tolerance="30D")
        >>> len(samples), samples.property_names
        (8, ['soc', 'clay'])
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | pd.DataFrame,
        *,
        crs: Any = None,
        x_column: str | None = None,
        y_column: str | None = None,
        date_column: str | None = None,
        date_format: str | None = None,
        id_column: str | None = None,
        properties: Sequence[str] | None = None,
        time_tolerance: Tolerance = None,
        layer: str | int | None = None,
        res: float | tuple[float, float] | None = None,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """Read soil samples.

        Args:
            path: a CSV/TSV table, a GeoParquet file, a GeoPackage or other vector file, or a
                DataFrame/GeoDataFrame.
            crs: the CRS of the coordinates of a table (a CSV cannot carry one), e.g.
                ``"EPSG:4326"`` for WGS 84 longitude/latitude; for files that carry a CRS leave it
                unset (a different value is an error, it never silently overrides).
            x_column: column of x (easting or longitude); with ``y_column``. Default: the first
                pair found of x/y, lon/lat, longitude/latitude, lng/lat, easting/northing
                (case-insensitive). Ignored for vector files unless given.
            y_column: column of y (northing or latitude).
            date_column: column of sampling dates or times (default: the first of ``date``,
                ``sampling_date``, ``sample_date``, ``datetime``, ``time`` found; none found means
                every sample is undated). Time zones are converted to UTC; naive values are UTC.
            date_format: :func:`pandas.to_datetime` format of text dates, e.g. ``"%d.%m.%Y"``
                (default: inferred, ISO 8601 works).
            id_column: column of sample ids (default: ``sample_id`` or ``id`` when present, else
                the row number). Ids are kept as text.
            properties: columns of measured properties (default: every numeric column other than
                coordinates, date and id). Read as float64; missing values stay NaN.
            time_tolerance: how far from the sampling date a scene may be to pair with a sample:
                a Timedelta, a string such as ``"10D"``, or a number of days (default None: any
                time; ``samples & scenes`` then pairs the closest scene whatever the gap).
            layer: layer of a multi-layer vector file (default: the first layer with geometries).
            res: resolution (x, y) in CRS units for samplers that need one when the samples are
                used without scenes (default (0, 0); pairing with scenes sets it).
            transforms: a function that takes a sample dict and returns a transformed one.

        Raises:
            SamplesError: If the file does not exist or cannot be read; if the samples have no
                CRS; if coordinate, date, id or property columns are missing or unreadable; if
                geometries are not points; or if ``time_tolerance`` is not a duration.
        """
        super().__init__()
        self.paths = path if not isinstance(path, pd.DataFrame) else "<DataFrame>"
        self.transforms = transforms
        source = repr(str(path)) if not isinstance(path, pd.DataFrame) else "DataFrame"
        table = path if isinstance(path, pd.DataFrame) else _read_table(_Path(path), layer)
        frame, coordinate_columns = _to_points(table, source, crs, x_column, y_column)
        columns = [str(column) for column in frame.columns if column != frame.geometry.name]

        id_name = _find_column(columns, id_column, ID_COLUMNS, "id")
        date_name = _find_column(columns, date_column, DATE_COLUMNS, "date")
        if id_name is not None:
            ids = frame[id_name].astype(str).where(frame[id_name].notna(), "")
        else:
            ids = pd.Series([str(row) for row in range(len(frame))], index=frame.index)
        if date_name is not None:
            times, self.date_only = _parse_dates(frame[date_name], date_name, date_format, source)
        else:
            times, self.date_only = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]"), True

        skip = {*coordinate_columns, *(name for name in (id_name, date_name) if name is not None)}
        rest = [column for column in columns if column not in skip]
        if properties is None:
            chosen = [
                column
                for column in rest
                if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])
            ]
        else:
            chosen = [_find_column(columns, name, (), "property") or name for name in properties]
        values: dict[str, pd.Series] = {}
        for column in chosen:
            numbers = pd.to_numeric(frame[column], errors="coerce").astype("float64")
            bad = numbers.isna() & frame[column].notna() & (frame[column].astype(str).str.strip() != "")
            if bad.any():
                examples = [str(value) for value in frame[column][bad].head(3)]
                raise SamplesError(
                    f"property {column!r} of samples {source} has values that are not numbers, e.g. {examples}: "
                    "fix them, or leave the column out of properties="
                )
            values[column] = numbers

        data = pd.DataFrame({"sample_id": ids.to_numpy(), "sample_time": times.to_numpy()})
        for column in rest:
            data[column] = values[column].to_numpy() if column in values else frame[column].to_numpy()
        self.data = gpd.GeoDataFrame(data, geometry=frame.geometry.to_numpy(), crs=frame.crs)
        self.property_names: list[str] = list(values)
        self.properties: npt.NDArray[np.float64] = (
            np.column_stack([values[name].to_numpy() for name in self.property_names])
            if self.property_names
            else np.zeros((len(frame), 0))
        )
        self.time_tolerance = to_timedelta(time_tolerance)
        self._build_index()
        if res is not None:
            self._res = (float(res), float(res)) if isinstance(res, int | float) else (float(res[0]), float(res[1]))

    # -- index ------------------------------------------------------------------------------------

    def _build_index(self) -> None:
        left, right = _time_bounds(self.data["sample_time"], self.date_only, self.time_tolerance)
        intervals = pd.IntervalIndex.from_arrays(
            pd.to_datetime(left), pd.to_datetime(right), closed="both", name="datetime"
        )
        self.index = gpd.GeoDataFrame(
            {
                "sample_index": np.arange(len(self.data)),
                "sample_id": self.data["sample_id"].to_numpy(),
                "sample_time": self.data["sample_time"].to_numpy(),
            },
            index=intervals,
            geometry=self.data.geometry.to_numpy(),
            crs=self.data.crs,
        )
        self._xy = np.column_stack([self.data.geometry.x.to_numpy(), self.data.geometry.y.to_numpy()])
        self._ids: list[str] = [str(value) for value in self.data["sample_id"]]
        self._times = self.data["sample_time"].to_numpy(dtype="datetime64[ns]")
        self._left, self._right = left, right

    def intervals(self, tolerance: Tolerance = None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Time window of each sample for another tolerance, as int64 ns since 1970 (naive UTC).

        Args:
            tolerance: as ``time_tolerance`` (None: all time).

        Returns:
            Left and right ends, int64 arrays of shape (N,), inclusive.
        """
        return _time_bounds(self.data["sample_time"], self.date_only, to_timedelta(tolerance, "tolerance"))

    @property
    def crs(self) -> CRS:
        """CRS of the sample points."""
        return CRS.from_user_input(self.index.crs)

    @crs.setter
    def crs(self, new_crs: CRS) -> None:
        """Reproject the points (index and :attr:`data`) to ``new_crs``."""
        if CRS.from_user_input(new_crs) == self.crs:
            return
        self.data = self.data.to_crs(new_crs)
        self._build_index()

    def reprojected(self, crs: Any) -> SoilSamples:
        """A copy with the points in another CRS (this dataset is left unchanged).

        Args:
            crs: the target CRS (anything :meth:`pyproj.CRS.from_user_input` reads).

        Returns:
            A shallow copy sharing the properties, with :attr:`data` and the index reprojected.
        """
        clone = copy.copy(self)
        clone.crs = CRS.from_user_input(crs)
        return clone

    # -- queries ----------------------------------------------------------------------------------

    def _disambiguate_slice(self, query: GeoSlice) -> tuple[slice, slice, slice]:
        """TorchGeo's slice completion, without computing the bounds when the slice is complete."""
        from .enmap import _complete_slice

        return _complete_slice(query, self.res) or super()._disambiguate_slice(query)

    def query_rows(self, query: GeoSlice) -> npt.NDArray[np.intp]:
        """Positions of the samples inside a TorchGeo slice, nearest to its centre first.

        Args:
            query: [xmin:xmax:xres, ymin:ymax:yres, tmin:tmax:tres]; bounds are inclusive.

        Returns:
            int array of row positions in :attr:`data` (empty when none is inside).
        """
        x, y, t = self._disambiguate_slice(query)
        t_start = pd.Timestamp(t.start).value if t.start is not None else _NS_MIN
        t_stop = pd.Timestamp(t.stop).value if t.stop is not None else _NS_MAX
        xs, ys = self._xy[:, 0], self._xy[:, 1]
        inside = (
            (xs >= x.start)
            & (xs <= x.stop)
            & (ys >= y.start)
            & (ys <= y.stop)
            # closed intervals overlap
            & (self._left <= t_stop)
            & (self._right >= t_start)
        )
        rows = np.flatnonzero(inside)
        if rows.size > 1:
            centre = ((x.start + x.stop) / 2, (y.start + y.stop) / 2)
            distance = np.hypot(xs[rows] - centre[0], ys[rows] - centre[1])
            rows = rows[np.argsort(distance, kind="stable")]
        return rows

    def query(self, query: GeoSlice) -> gpd.GeoDataFrame:
        """The rows of :attr:`data` inside a spatio-temporal slice, nearest to its centre first.

        Args:
            query: as for :meth:`__getitem__`.

        Returns:
            A GeoDataFrame (possibly empty).
        """
        return self.data.iloc[self.query_rows(query)]

    def __getitem__(self, query: GeoSlice) -> dict[str, Any]:
        """The samples inside a spatio-temporal slice.

        Light enough for a DataLoader (no data frame per item; :meth:`query` returns the rows).

        Args:
            query: [xmin:xmax:xres, ymin:ymax:yres, tmin:tmax:tres] coordinates in :attr:`crs`
                (bounds inclusive); the time slice selects samples whose index interval (the
                sampling date +- ``time_tolerance``) overlaps it.

        Returns:
            A dict with ``crs``, ``bounds`` (the query), ``sample_ids`` and ``sample_rows`` (ids and
            positions in :attr:`data` of the samples inside, nearest to the query centre first),
            and for the sample nearest the centre: ``properties`` (float32 tensor of shape (P,), NaN
            where missing), ``point`` (float64 tensor of shape (2,), x and y in CRS units),
            ``sample_id`` (str) and ``sample_time`` (pandas Timestamp, NaT when unknown).

        Raises:
            IndexError: If no sample is inside the query.
        """
        rows = self.query_rows(query)
        if rows.size == 0:
            raise IndexError(f"query: {query} not found in index with bounds: {self.bounds}")
        first = int(rows[0])
        sample: dict[str, Any] = {
            "crs": self.crs,
            "bounds": query,
            "sample_ids": [self._ids[row] for row in rows],
            "sample_rows": rows.tolist(),
            "properties": torch.from_numpy(self.properties[first].astype(np.float32)),
            "point": torch.from_numpy(self._xy[first].copy()),
            "sample_id": self._ids[first],
            "sample_time": pd.Timestamp(self._times[first]),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    # -- pairing with scenes ----------------------------------------------------------------------

    def __and__(self, other: GeoDataset) -> IntersectionDataset:
        """Pair each sample with the closest scene in time (see :class:`SampleSceneIntersection`).

        Args:
            other: the scenes, e.g. :class:`eospec.datasets.EnMAPL2A`.

        Returns:
            A :class:`SampleSceneIntersection` (closest scene only); for two sample sets,
            TorchGeo's plain :class:`~torchgeo.datasets.IntersectionDataset`.
        """
        if isinstance(other, SoilSamples):
            return IntersectionDataset(self, other)
        return SampleSceneIntersection(self, other)

    def pair_with(self, scenes: GeoDataset, *, closest: bool = True) -> SampleSceneIntersection:
        """Pair samples with the scenes that cover them within :attr:`time_tolerance`.

        Args:
            scenes: a raster GeoDataset (e.g. :class:`eospec.datasets.EnMAPL2A`).
            closest: keep only the scene closest in time per sample (False: one row per
                sample and scene within the tolerance, as TorchGeo's intersection would).

        Returns:
            The paired dataset; ``samples & scenes`` is ``samples.pair_with(scenes)``.
        """
        return SampleSceneIntersection(self, scenes, closest=closest)


def _scene_table(scenes: GeoDataset) -> gpd.GeoDataFrame:
    """The scenes' index as a table: ``scene_row``, ``scene_left``/``scene_right`` (ns), ``scene_time``."""
    table = scenes.index.reset_index()
    interval = pd.IntervalIndex(table.pop("datetime"))
    left = np.asarray(interval.left.to_numpy(dtype="datetime64[ns]").astype(np.int64))
    right = np.asarray(interval.right.to_numpy(dtype="datetime64[ns]").astype(np.int64))
    table["scene_row"] = np.arange(len(table))
    table["scene_left"] = left
    table["scene_right"] = right
    known = left > _NS_MIN + 1  # undated scenes span all time
    table["scene_time"] = pd.Series(pd.to_datetime(left)).where(known).to_numpy(dtype="datetime64[ns]")
    return gpd.GeoDataFrame(table, geometry=table.geometry.name, crs=scenes.index.crs)


def match_scenes(
    samples: SoilSamples,
    scenes: GeoDataset,
    *,
    tolerance: Tolerance = None,
    use_tolerance: bool = False,
) -> pd.DataFrame:
    """Every (sample, scene) pair where the scene's footprint covers the sample, with the time gap.

    The points are reprojected to the scenes' CRS. The time gap is the scene's acquisition time
    (the left end of its index interval) minus the sampling time (midnight UTC for plain dates),
    in days; NaN when either is unknown.

    Args:
        samples: the samples.
        scenes: a GeoDataset of scenes (footprints and acquisition intervals in its index).
        tolerance: the largest gap allowed (see :class:`SoilSamples` ``time_tolerance``); used
            only when ``use_tolerance`` is true.
        use_tolerance: take ``tolerance`` (else the samples' own ``time_tolerance``).

    Returns:
        A DataFrame sorted by sample and rank, columns ``sample_index`` (row in
        ``samples.data``), ``scene_row`` (row in ``scenes.index``), the scenes' index columns
        (e.g. ``filepath``), ``scene_time`` (datetime64, NaT when unknown), ``time_gap_days``
        (float64), ``within`` (bool: the sample's window, widened by the tolerance, overlaps the
        scene's interval), ``pair_left``/``pair_right`` (ns, the overlap of both intervals) and
        ``rank`` (0 for the pair to keep: within the tolerance first, then smallest absolute
        gap, unknown gaps last, then scene order).
    """
    points = samples.reprojected(scenes.crs) if CRS.from_user_input(scenes.crs) != samples.crs else samples
    left, right = (
        points.intervals(tolerance) if use_tolerance else (points._left, points._right)  # noqa: SLF001
    )
    footprints = _scene_table(scenes)
    query = gpd.GeoDataFrame(
        {"sample_index": np.arange(len(points.data))}, geometry=points.data.geometry.to_numpy(), crs=footprints.crs
    )
    hits = footprints.sindex.query(query.geometry, predicate="intersects")
    sample_rows, scene_rows = hits[0], hits[1]
    table = pd.DataFrame(footprints.drop(columns=footprints.geometry.name).iloc[scene_rows]).reset_index(drop=True)
    table.insert(0, "sample_index", sample_rows)
    sample_time = points.data["sample_time"].to_numpy(dtype="datetime64[ns]")[sample_rows]
    gap = (table["scene_time"].to_numpy(dtype="datetime64[ns]") - sample_time) / np.timedelta64(1, "D")
    table["time_gap_days"] = gap.astype(np.float64)
    pair_left = np.maximum(left[sample_rows], table["scene_left"].to_numpy())
    pair_right = np.minimum(right[sample_rows], table["scene_right"].to_numpy())
    table["within"] = pair_left <= pair_right
    table["pair_left"] = pair_left
    table["pair_right"] = pair_right
    distance = np.abs(table["time_gap_days"].to_numpy())
    table["_unknown"] = np.isnan(distance)
    table["_distance"] = np.where(np.isnan(distance), np.inf, distance)
    table["_outside"] = ~table["within"]
    table = table.sort_values(
        ["sample_index", "_outside", "_unknown", "_distance", "scene_row"], kind="stable"
    ).reset_index(drop=True)
    table["rank"] = table.groupby("sample_index").cumcount()
    return table.drop(columns=["_unknown", "_distance", "_outside"])


def join_samples(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Join the dicts of intersected datasets: TorchGeo's ``concat_samples`` without copies.

    Tensors under a key that several dicts share are concatenated along dim 0 (as
    ``concat_samples`` does); a key that one dict alone has keeps its value as is (no copy of
    the image); other values come from the first dict that has the key.

    Args:
        samples: the dicts, e.g. of the samples and of the scenes.

    Returns:
        One dict.
    """
    joined: dict[str, Any] = {}
    shared: dict[str, list[Any]] = {}
    for sample in samples:
        for key, value in sample.items():
            if key not in joined:
                joined[key] = value
            elif isinstance(value, torch.Tensor) and isinstance(joined[key], torch.Tensor):
                shared.setdefault(key, [joined[key]]).append(value)
    for key, values in shared.items():
        joined[key] = torch.cat(values)
    return joined


class SampleSceneIntersection(IntersectionDataset):
    """Soil samples paired with the scenes that cover them: ``samples & scenes``.

    Unlike TorchGeo's :class:`~torchgeo.datasets.IntersectionDataset` (which warps the second
    dataset to the first one's CRS and resolution), the *points* move to the scenes' CRS and take
    their resolution, and the index is built by a spatial join of points and footprints (TorchGeo
    0.8's overlay would drop points). By default each sample keeps the one scene closest in time
    among those acquired within its ``time_tolerance``; ties (tiles of one acquisition) go to the
    first scene in index order. Samples that no scene covers in space and time are left out of
    the index; :func:`eospec.extract.extract_spectra` reports them.

    The index has one point per (sample, scene) pair, its time interval the overlap of the
    sample's window and the scene's acquisition interval, and the columns ``sample_index``,
    ``sample_id``, ``sample_time``, the scenes' index columns (``filepath``), ``scene_time`` and
    ``time_gap_days`` (scene minus sample, days). Indexing it with a slice returns the union of
    the samples' and the scenes' dicts (``image`` from the scenes; ``properties``, ``point``,
    ``sample_id`` ... from the samples). Use :class:`eospec.samplers.PointSampler` to get the
    patch centred on each sample.

    Example:
        >>> from eospec.datasets import EnMAPL2A
        >>> scenes = EnMAPL2A("tests/data/enmap/enmapbox_style.tif")
        >>> samples = SoilSamples("tests/data/soil_samples/samples.parquet", time_tolerance="10D")
        >>> pairs = samples & scenes
        >>> sorted(pairs.index["sample_id"])
        ['S01', 'S02', 'S03', 'S06', 'S07', 'S08']
    """

    def __init__(
        self,
        samples: SoilSamples,
        scenes: GeoDataset,
        *,
        closest: bool = True,
        collate_fn: Callable[[Sequence[dict[str, Any]]], dict[str, Any]] = join_samples,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """Pair samples with scenes.

        Args:
            samples: the soil samples (left unchanged; a reprojected copy is used).
            scenes: a raster GeoDataset, e.g. :class:`eospec.datasets.EnMAPL2A`.
            closest: keep only the closest scene in time per sample.
            collate_fn: joins the samples' and the scenes' dicts (default :func:`join_samples`,
                TorchGeo's ``concat_samples`` without copying tensors that only one side has).
            transforms: a function that takes a sample dict and returns a transformed one.

        Raises:
            SamplesError: If ``samples`` is not a :class:`SoilSamples`, or no sample falls on a
                scene within the time tolerance.
        """
        if not isinstance(samples, SoilSamples) or not isinstance(scenes, GeoDataset):
            raise SamplesError(
                f"pair SoilSamples with a GeoDataset of scenes (got {type(samples).__name__} and "
                f"{type(scenes).__name__}): samples & scenes"
            )
        points = samples.reprojected(scenes.crs)
        points._res = scenes.res  # noqa: SLF001 (TorchGeo's res setter prints)
        self.datasets = [points, scenes]
        self.collate_fn = collate_fn
        self.transforms = transforms
        self.closest = closest
        pairs = match_scenes(points, scenes)
        covered = pairs["sample_index"].nunique()
        pairs = pairs[pairs["within"]]
        if closest:
            pairs = pairs[pairs["rank"] == 0]
        if pairs.empty:
            raise SamplesError(
                f"none of the {len(points)} samples falls on a scene within the time tolerance "
                f"({samples.time_tolerance}); {covered} are covered in space: widen time_tolerance, or check "
                "that samples and scenes overlap (see eospec.extract.extract_spectra for a per-sample report)"
            )
        rows = pairs["sample_index"].to_numpy()
        columns = pairs.drop(columns=["scene_left", "scene_right", "pair_left", "pair_right", "within", "rank"])
        columns = columns.drop(columns=["sample_index"]).reset_index(drop=True)
        columns.insert(0, "sample_index", rows)
        columns.insert(1, "sample_id", points.data["sample_id"].to_numpy()[rows])
        columns.insert(2, "sample_time", points.data["sample_time"].to_numpy()[rows])
        intervals = pd.IntervalIndex.from_arrays(
            pd.to_datetime(pairs["pair_left"].to_numpy()),
            pd.to_datetime(pairs["pair_right"].to_numpy()),
            closed="both",
            name="datetime",
        )
        columns.index = intervals
        self.index = gpd.GeoDataFrame(columns, geometry=points.data.geometry.to_numpy()[rows], crs=points.data.crs)

    @property
    def samples(self) -> SoilSamples:
        """The samples, reprojected to the scenes' CRS."""
        dataset = self.datasets[0]
        assert isinstance(dataset, SoilSamples)
        return dataset

    @property
    def scenes(self) -> GeoDataset:
        """The scenes."""
        return self.datasets[1]

    def __str__(self) -> str:
        return (
            f"{self.__class__.__name__} Dataset\n    type: IntersectionDataset\n    bbox: {self.bounds}\n"
            f"    size: {len(self)} (sample, scene) pairs"
        )

"""Spectra of scenes at soil sample points: one table row per sample, none dropped.

:func:`extract_spectra` pairs each sample with the scene closest in time among those whose
footprint covers it (:func:`eospec.datasets.soil.match_scenes`), reads the pixel that contains
the point, or the mean of the valid pixels of a k x k window centred on it, through
:class:`eospec.datasets.EnMAPL2A` (reflectance 0-1, NaN where invalid), and returns a
GeoDataFrame with the sample's id, attributes and properties, the scene id, acquisition time,
time gap and status. Samples outside every scene, too far in time from every scene, or on masked
pixels are rows with a status and NaN spectra, and a :class:`~eospec.errors.SamplesOutsideScenesWarning`
gives their counts.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from .errors import SamplesOutsideScenesWarning

__all__ = ["extract_spectra", "write_table", "STATUSES", "spectrum_columns"]

#: Status of a row: ``ok`` (spectrum read), ``outside`` (no scene covers the sample), ``time_gap``
#: (scenes cover it, none within the allowed time gap; the closest is named), ``masked`` (fewer
#: than ``min_valid`` valid pixels in the window: nodata, cloud, edge artefact).
STATUSES: tuple[str, ...] = ("ok", "masked", "time_gap", "outside")

_SPECTRAL_IMAGE = re.compile(r"[-_]SPECTRAL_IMAGE$", re.IGNORECASE)


def spectrum_columns(wavelengths_nm: npt.ArrayLike, prefix: str = "refl") -> list[str]:
    """Column names of spectra: ``refl_418.2`` for a band centred at 418.24 nm.

    Args:
        wavelengths_nm: band centres, float (B,), nm.
        prefix: text before the wavelength.

    Returns:
        One name per band (one decimal; two where one decimal would repeat a name).
    """
    centres = np.asarray(wavelengths_nm, dtype=np.float64)
    for decimals in (1, 2, 3):
        names = [f"{prefix}_{value:.{decimals}f}" for value in centres]
        if len(set(names)) == len(names):
            return names
    return [f"{prefix}_{index + 1}_{value:.3f}" for index, value in enumerate(centres)]


def _scene_id(filepath: str) -> str:
    """Product id of a DLR spectral image, else the file name without suffix."""
    stem = os.path.splitext(os.path.basename(str(filepath).rstrip("/")))[0]
    return _SPECTRAL_IMAGE.sub("", stem)


def _as_scenes(scenes: Any, bands: Sequence[str] | None, filename_glob: str | None) -> Any:
    from torchgeo.datasets import GeoDataset

    from .datasets.enmap import EnMAPL2A

    if isinstance(scenes, GeoDataset):
        if bands is not None or filename_glob is not None:
            raise ValueError(
                "bands= and filename_glob= apply only when scenes are paths: pass them to EnMAPL2A(...) instead"
            )
        return scenes
    paths = [scenes] if isinstance(scenes, str | os.PathLike) else list(scenes)
    return EnMAPL2A(paths, bands=bands, filename_glob=filename_glob)


def _as_samples(samples: Any) -> Any:
    from .datasets.soil import SoilSamples

    if isinstance(samples, SoilSamples):
        return samples
    return SoilSamples(samples)


def extract_spectra(
    scenes: Any,
    samples: Any,
    *,
    window: int = 1,
    max_time_gap: Any = None,
    bands: Sequence[str] | None = None,
    min_valid: int = 1,
    filename_glob: str | None = None,
) -> gpd.GeoDataFrame:
    """Spectra of the scenes at the sample points, with scene, date, time gap and status.

    Args:
        scenes: an :class:`eospec.datasets.EnMAPL2A` (or other raster GeoDataset returning
            float ``image`` with NaN where invalid), or paths of scenes/folders to build one from.
        samples: a :class:`eospec.datasets.SoilSamples`, or a GeoPackage/GeoParquet path or
            GeoDataFrame that carries its CRS (build a SoilSamples for CSV tables).
        window: side k of the k x k pixel window centred on the pixel that holds the point
            (odd, >= 1); the spectrum is the mean of its valid pixels, band by band.
        max_time_gap: the largest |acquisition - sampling| allowed (Timedelta, ``"10D"`` or
            days; default: the samples' ``time_tolerance``, None there meaning no limit). Plain
            dates count as the whole day. Samples whose covering scenes are all further away get
            status ``time_gap`` (the closest scene is named, the spectrum is NaN).
        bands: band names (``B1``-``B224``) when ``scenes`` are paths (default: the 202 default
            bands).
        min_valid: fewer valid pixels than this in the window gives status ``masked``.
        filename_glob: glob of scene files in folders when ``scenes`` are paths.

    Returns:
        A GeoDataFrame with one row per sample, in the samples' order and CRS: ``sample_id``,
        ``sample_time``, the samples' other columns (properties float64, NaN where missing),
        ``status`` (one of :data:`STATUSES`), ``scene_id`` (DLR product id or file stem),
        ``scene_path``, ``acquisition_time`` (naive UTC), ``time_gap_days`` (acquisition minus
        sampling time, float64 days; NaN when a date is unknown), ``window`` (k), ``n_valid``
        (valid pixels in the window, 0-k*k) and one float32 column per band of reflectance (0-1)
        named by its centre wavelength in nm (``refl_418.2``; NaN for bad bands and for rows
        that are not ``ok``). ``frame.attrs["wavelengths_nm"]`` holds the band centres.

    Raises:
        ValueError: If ``window`` is not a positive odd number or ``min_valid`` is out of range.
        SamplesError: If the samples cannot be read or have no CRS.
        DatasetNotFoundError: If no scene is found at the paths.

    Warns:
        SamplesOutsideScenesWarning: If some samples are outside every scene, too far in time, or
            masked (with the counts).
    """
    from .datasets.soil import match_scenes, to_timedelta
    from .samplers.point import centred_window, find_raster_dataset

    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1 or window % 2 == 0:
        raise ValueError(f"window={window!r} must be an odd number of pixels (1, 3, 5, ...)")
    if not 1 <= min_valid <= window * window:
        raise ValueError(f"min_valid={min_valid!r} must be between 1 and window * window = {window * window}")
    dataset = _as_scenes(scenes, bands, filename_glob)
    points = _as_samples(samples)
    tolerance = to_timedelta(max_time_gap, "max_time_gap") if max_time_gap is not None else points.time_tolerance
    pairs = match_scenes(points, dataset, tolerance=tolerance, use_tolerance=True)
    chosen = pairs[pairs["rank"] == 0].set_index("sample_index")

    count = len(points.data)
    wavelengths = getattr(dataset, "band_wavelengths_nm", None)
    band_names = list(getattr(dataset, "bands", []))
    if wavelengths is not None:
        columns = spectrum_columns(wavelengths)
    else:
        columns = [f"refl_{name}" for name in band_names]
    spectra = np.full((count, len(columns)), np.nan, dtype=np.float32)
    status = np.full(count, "outside", dtype=object)
    n_valid = np.zeros(count, dtype=np.int64)
    scene_path = np.full(count, None, dtype=object)
    acquisition = np.full(count, np.datetime64("NaT"), dtype="datetime64[ns]")
    gap = np.full(count, np.nan)

    geometry = points.data.geometry
    if not chosen.empty:
        crs_points = points.reprojected(dataset.crs) if points.crs != dataset.crs else points
        xy = crs_points._xy  # noqa: SLF001
        rows = chosen.index.to_numpy()
        raster = find_raster_dataset(dataset)
        footprints = (raster or dataset).index
        bounds = footprints.geometry.bounds
        corners = np.column_stack([bounds["minx"].to_numpy(), bounds["maxy"].to_numpy()])
        origins = corners[chosen["scene_row"].to_numpy()] if raster is dataset else corners[0]
        xres, yres = dataset.res
        xmin, xmax, ymin, ymax = centred_window(
            xy[rows, 0], xy[rows, 1], origin=origins, res=(xres, yres), size=(window, window)
        )
        scene_intervals = dataset.index.index
        for i, row in enumerate(rows):
            pair = chosen.loc[row]
            scene_path[row] = str(pair["filepath"]) if "filepath" in pair.index else None
            acquisition[row] = pair["scene_time"]
            gap[row] = pair["time_gap_days"]
            if not pair["within"]:
                status[row] = "time_gap"
                continue
            interval = scene_intervals[int(pair["scene_row"])]
            query = (
                slice(float(xmin[i]), float(xmax[i]), xres),
                slice(float(ymin[i]), float(ymax[i]), yres),
                slice(interval.left, interval.right),
            )
            image = dataset[query]["image"].numpy().reshape(len(columns), -1)
            valid = ~np.all(np.isnan(image), axis=0)
            n_valid[row] = int(valid.sum())
            if n_valid[row] < min_valid:
                status[row] = "masked"
                continue
            status[row] = "ok"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # bad bands: mean of no value is NaN
                spectra[row] = np.nanmean(image[:, valid], axis=1)

    table = points.data.drop(columns=geometry.name).copy()
    table["status"] = pd.Categorical(status, categories=list(STATUSES))
    table["scene_id"] = [_scene_id(path) if path is not None else None for path in scene_path]
    table["scene_path"] = scene_path
    table["acquisition_time"] = acquisition
    table["time_gap_days"] = gap
    table["window"] = window
    table["n_valid"] = n_valid
    spectrum = pd.DataFrame(spectra, columns=columns, index=table.index)
    frame = gpd.GeoDataFrame(pd.concat([table, spectrum], axis=1), geometry=geometry.to_numpy(), crs=geometry.crs)
    if wavelengths is not None:
        frame.attrs["wavelengths_nm"] = [float(value) for value in wavelengths]

    counts = {name: int((status == name).sum()) for name in STATUSES}
    if counts["ok"] < count:
        details = ", ".join(f"{counts[name]} {name}" for name in STATUSES[1:] if counts[name])
        warnings.warn(
            f"{count - counts['ok']} of {count} samples have no spectrum ({details}); they are kept "
            "in the table with status and NaN spectra",
            SamplesOutsideScenesWarning,
            stacklevel=2,
        )
    return frame


def write_table(frame: gpd.GeoDataFrame, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write an extraction table as GeoParquet, atomically.

    Args:
        frame: the table from :func:`extract_spectra`.
        path: the output ``.parquet`` file.
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        OutputExistsError: If the file exists and ``overwrite`` is false.
        OutputNotWritableError: If the folder is missing or not writable.
    """
    from .cog import atomic_output, check_output

    target = check_output(path, overwrite)
    out = frame.copy()
    out["status"] = out["status"].astype(str)
    with atomic_output(target) as temporary:
        out.to_parquet(temporary)
    return target

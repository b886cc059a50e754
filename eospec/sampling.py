"""Multi-date EnMAP patches on disk in the SpectralEarth layout, with a GeoParquet index.

:func:`write_spectralearth_patches` (the library behind ``eospec sample``) cuts a stack of EnMAP
L2A scenes of the same area into windows of ``patch_size`` pixels (a grid, or random windows) and
writes, for every window seen at enough dates::

    <out>/enmap/<patch_id>/<acquisition YYYYMMDDTHHMMSS>.tif   one file per date
    <out>/enmap/<patch_id>/metadata.json                        the patch's dates (written last)
    <out>/index.parquet                                         GeoParquet, one row per patch
    <out>/sampling.json                                         the parameters of the run

as in SpectralEarth (Braham et al. 2024, "SpectralEarth: Training Hyperspectral Foundation Models
at Scale", arXiv:2408.08447): 128 x 128 pixels, the 202 EnMAP bands without the water-vapour
bands (:data:`eospec.sensors.ENMAP_DEFAULT_BANDS`), int16 reflectance x 10000 with nodata -32768
where the scene is invalid (nodata, clouds and other DLR quality flags, outside the footprint).
Each GeoTIFF carries the CRS and transform of the window, DEFLATE compression, per-band tags
``wavelength`` and ``fwhm`` (generic EnMAP L2A band centres, nm), ``wavelength_units`` and band
descriptions as the EnMAP-Box writes them, and the dataset tags ``start_time``, ``scene_id``,
``patch_id``, ``valid_fraction`` and ``scale_factor=0.0001``.

**Dates.** A date (acquisition) is kept for a window when its valid fraction, counted on the
pixels actually read, is at least ``min_valid_fraction``; the kept dates are then chosen as
:func:`eospec.samplers.temporal.select_dates` does (time series, or ``views`` dates at random, with
``min_gap``/``max_gap``), and windows with fewer than ``min_dates`` dates are skipped.

**Determinism and resuming.** Patch ids are the window's upper-left corner in CRS units
(``x366015_y5809965``), random windows come from a generator seeded by ``seed`` and random date
choices from a generator seeded by ``(seed, patch_id)``, so a run gives the same patches whatever
was done before. Every file is written to a temporary name and renamed when complete, and a
patch's ``metadata.json`` is written after its images: a patch with a ``metadata.json`` is
complete. Re-running the same call (or command) skips complete patches, rewrites incomplete ones
and rebuilds the index: an interrupted run continues without duplicates. Changing a parameter of
an existing output raises :class:`~eospec.errors.OutputExistsError` unless ``overwrite=True``,
which deletes the previous patches first.

**CRS.** :func:`open_stack` refuses scenes in different CRS (:class:`~eospec.errors.CRSMismatchError`)
unless ``crs`` is given; then every scene is warped to it with nearest-neighbour resampling.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .cog import atomic_output
from .errors import CRSMismatchError, OutputExistsError, OutputNotWritableError, SamplingError, SceneNotFoundError
from .sensors import enmap

if TYPE_CHECKING:
    import geopandas as gpd
    from pyproj import CRS

    from .datasets.enmap import EnMAPL2A

__all__ = ["SamplingResult", "open_stack", "write_spectralearth_patches", "patch_id_of", "INDEX_NAME"]

#: Name of the GeoParquet index in the output folder.
INDEX_NAME = "index.parquet"
#: Name of the parameter record in the output folder.
PARAMETERS_NAME = "sampling.json"
#: Name of a patch's record, written after its images.
PATCH_RECORD = "metadata.json"
#: Layout version written to ``sampling.json``.
LAYOUT_VERSION = 1
NODATA = -32768
SCALE = 10000


@dataclass
class SamplingResult:
    """What :func:`write_spectralearth_patches` did.

    Attributes:
        out_dir: the output folder.
        index_path: the GeoParquet index.
        index: the index as a GeoDataFrame (one row per patch; columns in the module docstring of
            :func:`write_spectralearth_patches`).
        n_written: patches written by this call.
        n_resumed: complete patches found from an earlier (interrupted) call and kept.
        n_rejected: windows skipped for having fewer than ``min_dates`` valid dates.
        n_files: GeoTIFFs in the index.
        seconds: wall time of the call.
    """

    out_dir: Path
    index_path: Path
    index: gpd.GeoDataFrame
    n_written: int
    n_resumed: int
    n_rejected: int
    n_files: int
    seconds: float

    @property
    def n_patches(self) -> int:
        """Patches in the index."""
        return len(self.index)


def _as_paths(scenes: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(scenes, str | os.PathLike):
        return [str(scenes)]
    return [str(scene) for scene in scenes]


def open_stack(
    scenes: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    crs: CRS | str | int | None = None,
    res: float | tuple[float, float] | None = None,
    bands: Sequence[str] | None = None,
    filename_glob: str | None = None,
    mask_quality: bool = True,
) -> EnMAPL2A:
    """Open EnMAP L2A scenes of several dates as one :class:`~eospec.datasets.EnMAPL2A` stack.

    Unlike TorchGeo's default (warp everything to the first file's CRS without a word), a stack
    whose files are in different CRS is refused unless ``crs`` names the target; then every file
    is warped to it with nearest-neighbour resampling, at ``res`` (default: the first file's pixel
    size when both CRS are projected in metres, else TorchGeo's default).

    Args:
        scenes: DLR product folders or zips, GeoTIFF/ENVI files, or folders holding them.
        crs: target CRS (anything :meth:`pyproj.CRS.from_user_input` takes, e.g. ``"EPSG:32633"``).
        res: pixel size in target CRS units.
        bands: band names ``B1``-``B224`` (default: the 202 default bands).
        filename_glob: glob that files in folders must match.
        mask_quality: set pixels flagged by DLR quality masks (clouds, ...) to NaN.

    Returns:
        The dataset.

    Raises:
        SceneNotFoundError: If a path does not exist or no EnMAP L2A scene is found.
        CRSMismatchError: If the scenes are in different CRS and ``crs`` is None.
    """
    import rasterio
    from pyproj import CRS as ProjCRS
    from torchgeo.datasets import DatasetNotFoundError

    from .datasets.enmap import EnMAPL2A

    paths = _as_paths(scenes)
    if not paths:
        raise SceneNotFoundError("no scenes given: pass folders or files of EnMAP L2A scenes (--scenes DIR)")
    for path in paths:
        if not os.path.exists(path) and not path.startswith("/vsi"):
            raise SceneNotFoundError(f"{path!r} does not exist: pass a folder or file of EnMAP L2A scenes")
    target = None if crs is None else ProjCRS.from_user_input(crs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Could not find any relevant files", category=UserWarning)
        try:
            probe = EnMAPL2A(paths, bands=bands, filename_glob=filename_glob, mask_quality=mask_quality)
        except DatasetNotFoundError:
            raise SceneNotFoundError(
                f"no EnMAP L2A scene found in {', '.join(repr(p) for p in paths)}: give DLR product folders or zips, "
                "or 224-band GeoTIFF/ENVI files with an acquisition time"
            ) from None
    systems: dict[str, list[str]] = {}
    native_res = None
    native_crs = None
    for filepath in probe.index["filepath"]:
        with rasterio.open(filepath) as dataset:
            name = dataset.crs.to_string() if dataset.crs else "none"
            systems.setdefault(name, []).append(os.path.basename(str(filepath)))
            if native_res is None:
                native_res, native_crs = dataset.res, dataset.crs
    if target is None:
        if len(systems) > 1:
            listed = "; ".join(f"{name}: {', '.join(files)}" for name, files in sorted(systems.items()))
            first = next(iter(systems))
            raise CRSMismatchError(
                f"the scenes are in {len(systems)} coordinate reference systems ({listed}): pass crs={first!r} "
                f"(--crs {first}) to warp all of them to one (nearest neighbour), or sample each CRS separately"
            )
        return probe
    if res is None and native_crs is not None and native_res is not None:
        source = ProjCRS.from_user_input(native_crs.to_wkt())
        metres = all(
            system.is_projected and system.axis_info and system.axis_info[0].unit_name in ("metre", "meter")
            for system in (source, target)
        )
        if metres:
            res = (float(native_res[0]), float(native_res[1]))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Could not find any relevant files", category=UserWarning)
        return EnMAPL2A(paths, crs=target, res=res, bands=bands, filename_glob=filename_glob, mask_quality=mask_quality)


def patch_id_of(left: float, top: float) -> str:
    """The id of the patch whose upper-left corner is (left, top).

    Args:
        left: x of the upper-left corner, CRS units.
        top: y of the upper-left corner, CRS units.

    Returns:
        ``x<left>_y<top>``, in whole units when both are whole numbers, else with 6 decimals
        (``.`` written as ``p`` and ``-`` as ``m``, so that the id is a safe folder name).
    """

    def text(value: float) -> str:
        whole = abs(value - round(value)) < 1e-6
        written = f"{round(value):d}" if whole else f"{value:.6f}"
        return written.replace("-", "m").replace(".", "p")

    return f"x{text(left)}_y{text(top)}"


def _patch_rng(seed: int, patch_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(patch_id.encode())])


def _read_record(folder: Path) -> dict[str, Any] | None:
    """The record of a complete patch (all its files present), or None."""
    record_path = folder / PATCH_RECORD
    if not record_path.is_file():
        return None
    try:
        record: dict[str, Any] = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if not all((folder / date["file"]).is_file() for date in record.get("dates", [])):
        return None
    return record


def _write_json(path: Path, content: dict[str, Any]) -> None:
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(content, indent=1) + "\n")


def _write_patch_image(
    path: Path,
    reflectance: np.ndarray,
    *,
    crs: Any,
    left: float,
    top: float,
    res: tuple[float, float],
    band_numbers: Sequence[int],
    tags: dict[str, str],
) -> None:
    """Write one (C, H, W) float reflectance patch as int16 x 10000 GeoTIFF (atomically)."""
    import rasterio
    from rasterio.transform import from_origin

    scaled = np.rint(np.nan_to_num(reflectance, nan=0.0) * SCALE)
    dn = np.clip(scaled, -32767, 32767).astype(np.int16)
    dn[np.isnan(reflectance)] = NODATA
    count, height, width = dn.shape
    sensor = enmap()
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": "int16",
        "crs": crs,
        "transform": from_origin(left, top, res[0], res[1]),
        "nodata": NODATA,
        "compress": "deflate",
        "predictor": 2,
        "interleave": "band",
    }
    with atomic_output(path) as temporary:
        with rasterio.open(temporary, "w", **profile) as dst:
            dst.update_tags(**tags)
            for position, band in enumerate(band_numbers, start=1):
                wavelength = float(sensor.wavelengths_nm[band - 1])
                dst.set_band_description(position, f"band {band} ({wavelength:g} Nanometers)")
                dst.update_tags(
                    position,
                    wavelength=f"{wavelength:g}",
                    fwhm=f"{float(sensor.fwhm_nm[band - 1]):g}",
                    wavelength_units="Nanometers",
                    bbl="1",
                )
            dst.write(dn)


def _parameters(**values: Any) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        return str(value)

    return {"layout_version": LAYOUT_VERSION, **{key: plain(value) for key, value in values.items()}}


def _prepare_output(out: Path, parameters: dict[str, Any], overwrite: bool) -> None:
    """Create the output folder, or check that it continues the same run, or clear it."""
    if out.exists() and not out.is_dir():
        raise OutputNotWritableError(f"Output {str(out)!r} is a file: give a folder for --out")
    if not out.parent.is_dir():
        raise OutputNotWritableError(f"Output folder {str(out.parent)!r} does not exist: create it first")
    record = out / PARAMETERS_NAME
    ours = [out / "enmap", out / INDEX_NAME, record]
    if overwrite:
        if (out / "enmap").is_dir():
            shutil.rmtree(out / "enmap")
        for path in ours[1:]:
            path.unlink(missing_ok=True)
    elif record.is_file():
        try:
            previous = json.loads(record.read_text())
        except ValueError:
            previous = {}
        changed = sorted(key for key in set(previous) | set(parameters) if previous.get(key) != parameters.get(key))
        if changed:
            listed = ", ".join(f"{key}: {previous.get(key)!r} -> {parameters.get(key)!r}" for key in changed)
            raise OutputExistsError(
                f"{str(out)!r} holds patches written with other parameters ({listed}): pass --overwrite "
                "(overwrite=True) to replace them, or choose another --out"
            )
    elif (out / "enmap").exists() or (out / INDEX_NAME).exists():
        raise OutputExistsError(
            f"{str(out)!r} holds patches that eospec sample did not record (no {PARAMETERS_NAME}): pass --overwrite "
            "(overwrite=True) to replace them, or choose another --out"
        )
    out.mkdir(exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputNotWritableError(f"Output folder {str(out)!r} is not writable: choose another --out")
    _write_json(record, parameters)


def _index_frame(records: list[dict[str, Any]], crs: Any) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import shapely

    rows = []
    for record in records:
        dates = record["dates"]
        rows.append(
            {
                "patch_id": record["patch_id"],
                "n_dates": len(dates),
                "dates": [pd.Timestamp(date["start_time"]) for date in dates],
                "acquisitions": [date["acquisition"] for date in dates],
                "scene_ids": ["+".join(date["scene_ids"]) for date in dates],
                "valid_fraction": [float(date["valid_fraction"]) for date in dates],
                "files": [f"enmap/{record['patch_id']}/{date['file']}" for date in dates],
                "geometry": shapely.box(*record["bounds"]),
            }
        )
    columns = ["patch_id", "n_dates", "dates", "acquisitions", "scene_ids", "valid_fraction", "files", "geometry"]
    frame = pd.DataFrame(rows, columns=columns)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)


def _scene_id(filepath: str) -> str:
    """Product name of a DLR spectral image, else the file stem."""
    name = os.path.basename(str(filepath))
    stem = name.rsplit(".", 1)[0]
    for suffix in ("-SPECTRAL_IMAGE_COG", "-SPECTRAL_IMAGE"):
        if stem.upper().endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _progress_bar(enabled: bool | None, total: int | None, description: str) -> Any:
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=description, unit="patch", disable=not enabled, leave=False)


def write_spectralearth_patches(
    scenes: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    patch_size: int = 128,
    stride: int | None = None,
    mode: Literal["grid", "random"] = "grid",
    n_patches: int | None = None,
    min_dates: int = 2,
    max_dates: int | None = None,
    views: int | None = None,
    min_gap: pd.Timedelta | str | None = None,
    max_gap: pd.Timedelta | str | None = None,
    toi: pd.Interval | None = None,
    min_valid_fraction: float = 0.5,
    crs: CRS | str | int | None = None,
    seed: int = 0,
    filename_glob: str | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> SamplingResult:
    """Write multi-date patches of an EnMAP stack in the SpectralEarth layout (module docstring).

    The index ``<out>/index.parquet`` (GeoParquet, read with :func:`geopandas.read_parquet`) has
    one row per patch: ``patch_id`` (str), ``n_dates`` (int), ``dates`` (list of acquisition
    starts, naive UTC), ``acquisitions`` (list of ``YYYYMMDDTHHMMSS``, the file stems),
    ``scene_ids`` (list of str: DLR product names or file stems, ``+``-joined when an overpass is
    mosaicked from several files), ``valid_fraction`` (list of float, 0-1, per date),
    ``files`` (list of paths relative to ``out_dir``) and ``geometry`` (the patch footprint, in
    the CRS of the stack).

    Args:
        scenes: DLR product folders or zips, GeoTIFF/ENVI files, or folders holding them.
        out_dir: output folder (created if missing; its parent must exist).
        patch_size: window side in pixels.
        stride: grid step in pixels (default ``patch_size``: no overlap).
        mode: ``"grid"`` (every window of the grid) or ``"random"`` (``n_patches`` random windows).
        n_patches: patches to write in random mode (default: about the number of non-overlapping
            windows that fit).
        min_dates: fewest dates per patch.
        max_dates: most dates per patch (a random run of consecutive dates when more pass).
        views: write exactly this many dates per patch, drawn at random (None: all that pass).
        min_gap: smallest time between consecutive dates (e.g. ``"30D"``).
        max_gap: largest time between consecutive dates.
        toi: time of interest: only acquisitions overlapping it are used.
        min_valid_fraction: fewest valid pixels per date, as a fraction of the patch (0-1).
        crs: target CRS for a stack of mixed CRS (see :func:`open_stack`).
        seed: seed of the random windows and random date choices.
        filename_glob: glob that files in scene folders must match.
        overwrite: delete the patches of an earlier run with other parameters first.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        A :class:`SamplingResult`.

    Raises:
        SceneNotFoundError: If no scene is found.
        CRSMismatchError: If the scenes are in different CRS and ``crs`` is None.
        SamplingError: If the stack holds fewer dates than ``min_dates``, the patch is larger than
            the area they cover together, or a parameter is out of range.
        OutputExistsError: If ``out_dir`` holds patches written with other parameters.
        OutputNotWritableError: If ``out_dir`` cannot be created or written.
    """
    from torchgeo.samplers import Units

    from .samplers.temporal import GridMultiTemporalSampler, RandomMultiTemporalSampler, select_dates

    started = time.perf_counter()
    if patch_size < 1:
        raise SamplingError(f"patch_size={patch_size!r} must be at least 1 pixel")
    if mode not in ("grid", "random"):
        raise SamplingError(f"mode={mode!r} is unknown: use 'grid' or 'random'")
    if n_patches is not None and n_patches < 1:
        raise SamplingError(f"n_patches={n_patches!r} must be at least 1")
    if views is not None:
        min_dates = views
        max_dates = views
    paths = [os.path.abspath(path) for path in _as_paths(scenes)]
    stack = open_stack(paths, crs=crs, filename_glob=filename_glob)
    common: dict[str, Any] = {
        "size": patch_size,
        "toi": toi,
        "units": Units.PIXELS,
        "views": None,
        "min_dates": min_dates,
        "min_gap": min_gap,
        "max_gap": max_gap,
        "min_valid_fraction": min_valid_fraction,
        "validity": "footprint",
    }
    sampler: GridMultiTemporalSampler | RandomMultiTemporalSampler
    if mode == "grid":
        sampler = GridMultiTemporalSampler(stack, stride=stride or patch_size, **common)
        target = None
    else:
        sampler = RandomMultiTemporalSampler(stack, length=n_patches, generator=seed, **common)
        target = sampler.length
    parameters = _parameters(
        scenes=paths,
        patch_size=patch_size,
        stride=stride or patch_size,
        mode=mode,
        n_patches=target,
        min_dates=sampler.min_dates,
        max_dates=max_dates,
        views=views,
        min_gap=None if min_gap is None else str(pd.Timedelta(min_gap)),
        max_gap=None if max_gap is None else str(pd.Timedelta(max_gap)),
        toi=None if toi is None else str(toi),
        min_valid_fraction=float(min_valid_fraction),
        crs=stack.crs.to_string(),
        seed=seed,
        bands=list(stack.bands),
    )
    out = Path(out_dir)
    _prepare_output(out, parameters, overwrite)
    patches_root = out / "enmap"
    patches_root.mkdir(exist_ok=True)
    band_numbers = [stack.all_bands.index(band) + 1 for band in stack.bands]
    res = (float(stack.res[0]), float(stack.res[1]))

    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    written = resumed = rejected = 0
    windows: Iterator[tuple[slice, slice]] = sampler.windows()
    attempts = 0
    max_attempts = None if target is None else 50 * target + 100
    bar = _progress_bar(progress, target, "patches")
    try:
        for x, y in windows:
            if target is not None:
                if len(records) >= target:
                    break
                attempts += 1
                if max_attempts is not None and attempts > max_attempts:
                    warnings.warn(
                        f"only {len(records)} of {target} random windows had {min_dates} valid dates after "
                        f"{max_attempts} draws: lower min_valid_fraction or min_dates",
                        UserWarning,
                        stacklevel=2,
                    )
                    break
            patch_id = patch_id_of(x.start, y.stop)
            if patch_id in seen:
                continue
            seen.add(patch_id)
            folder = patches_root / patch_id
            record = _read_record(folder)
            if record is not None:
                records.append(record)
                resumed += 1
                bar.update(1)
                continue
            candidates = sampler.candidates(x, y)
            if len(candidates) < sampler.min_dates:
                rejected += 1
                continue
            images, fractions, kept = [], [], []
            for date in candidates:
                image = stack[x, y, date.time]["image"].numpy()
                fraction = float(np.mean(~np.all(np.isnan(image), axis=0)))
                if fraction >= min_valid_fraction and fraction > 0:
                    images.append(image)
                    fractions.append(fraction)
                    kept.append(date)
            chosen = select_dates(
                [date.start for date in kept],
                views=views,
                min_dates=sampler.min_dates,
                max_dates=max_dates,
                min_gap=sampler.min_gap,
                max_gap=sampler.max_gap,
                generator=_patch_rng(seed, patch_id),
            )
            if chosen is None:
                rejected += 1
                continue
            folder.mkdir(exist_ok=True)
            dates = []
            for position in chosen:
                date = kept[position]
                scene_ids = [_scene_id(path) for path in date.filepaths]
                file_name = f"{date.name}.tif"
                tags = {
                    "start_time": date.start.isoformat(),
                    "scene_id": "+".join(scene_ids),
                    "patch_id": patch_id,
                    "valid_fraction": f"{fractions[position]:.6f}",
                    "scale_factor": str(1 / SCALE),
                    "source": "eospec sample (SpectralEarth layout)",
                }
                _write_patch_image(
                    folder / file_name,
                    images[position],
                    crs=stack.crs,
                    left=float(x.start),
                    top=float(y.stop),
                    res=res,
                    band_numbers=band_numbers,
                    tags=tags,
                )
                dates.append(
                    {
                        "file": file_name,
                        "acquisition": date.name,
                        "start_time": date.start.isoformat(),
                        "scene_ids": scene_ids,
                        "valid_fraction": fractions[position],
                    }
                )
            names = {date["file"] for date in dates}
            for stray in folder.glob("*.tif"):  # left by an interrupted run with other dates
                if stray.name not in names:
                    stray.unlink()
            record = {
                "patch_id": patch_id,
                "bounds": [float(x.start), float(y.start), float(x.stop), float(y.stop)],
                "crs": stack.crs.to_string(),
                "dates": dates,
            }
            _write_json(folder / PATCH_RECORD, record)
            records.append(record)
            written += 1
            bar.update(1)
    finally:
        bar.close()

    if not records:
        raise SamplingError(
            f"no window of {patch_size} px had {sampler.min_dates} dates with at least {min_valid_fraction:.0%} valid "
            f"pixels and the time gaps asked ({rejected} windows tried): lower --min-valid-fraction or --min-dates, "
            "relax --min-gap/--max-gap, or choose a smaller --patch-size"
        )
    index = _index_frame(records, stack.crs)
    index_path = out / INDEX_NAME
    with atomic_output(index_path) as temporary:
        index.to_parquet(temporary, index=False)
    return SamplingResult(
        out_dir=out,
        index_path=index_path,
        index=index,
        n_written=written,
        n_resumed=resumed,
        n_rejected=rejected,
        n_files=int(index["n_dates"].sum()) if len(index) else 0,
        seconds=time.perf_counter() - started,
    )

"""Streaming scene inference: a soil-property map (COG) from a hyperspectral scene.

:func:`map_scene` reads the scene window by window (never the whole scene), runs a bundled
per-pixel model on each window and writes a two-band float32 Cloud-Optimized GeoTIFF:

- band 1 ``<property>`` (e.g. ``soc`` in g/kg), nodata ``-9999`` wherever band 2 is not 0;
- band 2 ``mask_reason``: the :class:`eospec.masks.MaskReason` code of each pixel.

Fast path. Windows arrive from GDAL as digital numbers (DN) of shape (B, H, W). The scene's
gain/offset, the band selection (or SRF resampling) to the model's bands and the model's input
standardisation are all linear, so they are folded into the model's first layer once
(:func:`plan_bands`); each window is then one matrix product on the band axis of the raw DN
(``W' @ DN``), with no transpose and no reflectance copy, and only on the pixels that pass the
masks. Reading (GDAL decodes with several threads), computing and writing overlap: reader threads
prefetch the next windows while the current one is computed. The model runs in NumPy
(:mod:`eospec.models.runtime`, same weights and forward pass as the torch module), so neither torch
nor torchgeo is imported on this path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.windows import Window

from .cog import atomic_output, check_output, qml_pseudocolor, translate_to_cog
from .errors import AllNodataWarning, ModelBandsError, NotHyperspectralError
from .io.scene import Scene, SceneInfo, invalid_pixel_mask, open_scene
from .masks import QUALITY_REASONS, MaskReason, SpectralMaskThresholds, classify, index_bands
from .models.registry import load_numpy_model, resolve_model
from .sensors import enmap, gaussian_srf_matrix

if TYPE_CHECKING:
    from .models.runtime import NumpySpectralRegressor

__all__ = [
    "BandPlan",
    "MapResult",
    "plan_bands",
    "fold_first_layer",
    "map_scene",
    "stream_windows",
    "stream_windows_with_halo",
    "MAP_NODATA",
]

logger = logging.getLogger(__name__)

#: Nodata value of the property band of every map.
MAP_NODATA = -9999.0
#: Pixels per matrix product: bounds the float32 copy of the DN to about 26 MB at 202 bands.
_CHUNK_PIXELS = 32768
#: Raw window data read ahead while the model loads and runs: bounds memory, not speed.
_PREFETCH_BYTES = 160 * 2**20
#: Valid values kept per window to place the QGIS colour ramp (2nd-98th percentile).
_SAMPLE_PER_WINDOW = 4096


@dataclass
class BandPlan:
    """How scene bands feed a model (computed from metadata only: no torch).

    Attributes:
        read_bands: 0-based scene bands to read, sorted, shape (R,).
        matrix: float64 (B_model, R): model-band reflectance = matrix @ scene-band reflectance.
        method: ``"selection"`` (nearest bands) or ``"srf"`` (Gaussian SRF resampling).
        index_positions: position in ``read_bands`` of the green/red/NIR/SWIR-1 mask bands.
    """

    read_bands: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float64]
    method: str
    index_positions: dict[str, int]


def _model_fwhm(metadata: dict[str, Any]) -> np.ndarray:
    given = metadata.get("band_fwhm_nm")
    if given is not None:
        return np.asarray(given, dtype=np.float64)
    sensor = enmap()
    wavelengths = np.asarray(metadata["band_wavelengths_nm"], dtype=np.float64)
    nearest = np.abs(sensor.wavelengths_nm[None, :] - wavelengths[:, None]).argmin(1)
    return sensor.fwhm_nm[nearest]


def plan_bands(info: SceneInfo, metadata: dict[str, Any]) -> BandPlan:
    """Match a scene's bands to a model's.

    Each model band takes the nearest good scene band when one lies within max(2 nm, FWHM / 4);
    the other model bands are resampled from the scene's good bands with Gaussian SRFs
    (:func:`eospec.sensors.gaussian_srf_matrix`, model FWHM), which is faithful when the scene is
    sampled at least as finely as the model. A band at the edge of the scene's range whose
    response the scene does not cover takes the nearest band within one FWHM.

    Args:
        info: the scene's metadata.
        metadata: the model's metadata (``band_wavelengths_nm``, optional ``band_fwhm_nm``).

    Returns:
        The :class:`BandPlan`.

    Raises:
        NotHyperspectralError: If the scene has too few bands or does not span the model's range.
        ModelBandsError: If some model band cannot be formed from the scene's good bands.
    """
    name = metadata.get("name", "model")
    model_wl = np.asarray(metadata["band_wavelengths_nm"], dtype=np.float64)
    model_fwhm = _model_fwhm(metadata)
    good = info.good_band_indices
    scene_wl = info.wavelengths_nm[good]
    needed = f"{model_wl.size} bands from {model_wl.min():.0f} to {model_wl.max():.0f} nm"
    if good.size < 10 or scene_wl.min() > model_wl.min() + 30 or scene_wl.max() < model_wl.max() - 30:
        raise NotHyperspectralError(
            f"{info.path!r} has {info.count} bands ({info.wavelengths_nm.min():.0f}-"
            f"{info.wavelengths_nm.max():.0f} nm) but the {name!r} model needs a hyperspectral "
            f"bottom-of-atmosphere reflectance scene with {needed} (e.g. EnMAP L2A)"
        )
    distance = np.abs(scene_wl[None, :] - model_wl[:, None])
    nearest = distance.argmin(axis=1)
    nearest_distance = distance[np.arange(model_wl.size), nearest]
    selected = nearest_distance <= np.maximum(2.0, model_fwhm / 4.0)
    local = np.zeros((model_wl.size, good.size))
    local[np.flatnonzero(selected), nearest[selected]] = 1.0
    method = "selection"
    if not selected.all():
        method = "srf"
        resampled = gaussian_srf_matrix(scene_wl, model_wl[~selected], model_fwhm[~selected])
        # A band at the edge of the scene's range whose response is not covered falls back on the
        # nearest scene band when that lies within one FWHM.
        uncovered = ~np.isfinite(resampled).all(axis=1)
        edge = uncovered & (nearest_distance[~selected] <= model_fwhm[~selected])
        rows = np.flatnonzero(~selected)
        resampled[edge] = 0.0
        resampled[np.flatnonzero(edge), nearest[rows[edge]]] = 1.0
        missing = uncovered & ~edge
        if missing.any():
            raise ModelBandsError(
                f"The scene's good bands cannot form the {name!r} model's bands at "
                f"{model_wl[rows[missing]][:5].round(1).tolist()} nm: the model needs {needed}"
            )
        resampled[np.abs(resampled) < 1e-6] = 0.0
        local[rows] = resampled
    try:
        mask_bands = index_bands(info.wavelengths_nm)
    except ValueError as error:
        raise NotHyperspectralError(
            f"{info.path!r}: {error}; the masks need bands near 560, 665, 865 and 1610 nm"
        ) from error
    used = good[np.flatnonzero(np.any(local != 0, axis=0))]
    read_bands = np.unique(np.concatenate([used, np.fromiter(mask_bands.values(), dtype=np.int64)]))
    matrix = np.zeros((model_wl.size, read_bands.size))
    position = {band: i for i, band in enumerate(read_bands.tolist())}
    for column, band in enumerate(good.tolist()):
        if band in position:
            matrix[:, position[band]] = local[:, column]
    return BandPlan(read_bands, matrix, method, {key: position[b] for key, b in mask_bands.items()})


def fold_first_layer(
    plan: BandPlan, module: NumpySpectralRegressor, info: SceneInfo
) -> tuple[np.ndarray, np.ndarray] | None:
    """The model's first layer acting directly on the scene's raw digital numbers.

    Folds the DN-to-reflectance gain/offset, the band plan's matrix and the model's input
    standardisation into one weight: ``W' = W diag(1/s) M diag(g)`` and
    ``b' = b - W diag(1/s) mu + W diag(1/s) M o``.

    Args:
        plan: the band plan.
        module: the model.
        info: the scene's metadata (gain and offset).

    Returns:
        ``(weight, bias)``: float32 arrays of shapes (H1, R) and (H1,); None when the model's
        preprocessing is not linear (absorbance or SNV), which then runs on reflectance.
    """
    if not module.is_linear_input:
        return None
    weight, bias = module.folded_first_layer()
    folded = weight.astype(np.float64) @ plan.matrix
    gain = info.gain[plan.read_bands]
    offset = info.offset[plan.read_bands]
    return (folded * gain[None, :]).astype(np.float32), (bias.astype(np.float64) + folded @ offset).astype(np.float32)


@dataclass
class MapResult:
    """What :func:`map_scene` wrote.

    Attributes:
        path: the COG.
        style_path: the QGIS style sidecar (``.qml``).
        model: the model name.
        unit: unit of band 1.
        width: columns.
        height: rows.
        reason_counts: pixel count per mask reason name.
        value_range: 2nd and 98th percentile of the valid values (NaN if none).
        seconds: wall time of the run.
        band_method: how scene bands fed the model (``selection`` or ``srf``).
    """

    path: Path
    style_path: Path
    model: str
    unit: str
    width: int
    height: int
    reason_counts: dict[str, int] = field(default_factory=dict)
    value_range: tuple[float, float] = (float("nan"), float("nan"))
    seconds: float = 0.0
    band_method: str = ""

    @property
    def n_valid(self) -> int:
        """Number of pixels with a value."""
        return self.reason_counts.get("valid", 0)


def _windows(info: SceneInfo, block: tuple[int, int], tile_size: int) -> list[Window]:
    """Square-ish windows aligned to the file's internal blocks."""
    block_h, block_w = block
    step_w = max(block_w, (tile_size // block_w) * block_w) if block_w < info.width else info.width
    step_h = max(block_h, (tile_size // block_h) * block_h) if block_h < info.height else tile_size
    step_h = max(1, min(step_h, info.height))
    return [
        Window(col, row, min(step_w, info.width - col), min(step_h, info.height - row))
        for row in range(0, info.height, step_h)
        for col in range(0, info.width, step_w)
    ]


class _Reader:
    """Reads windows of the scene bands in worker threads (one rasterio handle per thread)."""

    def __init__(self, scene: Scene, bands: np.ndarray) -> None:
        self.scene = scene
        self.indexes = [int(b) + 1 for b in bands]
        self.local = threading.local()
        self.handles: list[Any] = []
        self.lock = threading.Lock()

    def _handles(self) -> tuple[Any, dict[str, Any]]:
        if not hasattr(self.local, "dataset"):
            self.local.dataset = rasterio.open(self.scene.info.raster_path)
            self.local.masks = {name: rasterio.open(path) for name, path in self.scene.info.quality_masks.items()}
            with self.lock:
                self.handles += [self.local.dataset, *self.local.masks.values()]
        return self.local.dataset, self.local.masks

    def read(self, window: Window) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        dataset, masks = self._handles()
        raw = dataset.read(self.indexes, window=window)
        quality = {name: np.any(mask.read(window=window) != 0, axis=0) for name, mask in masks.items()}
        return raw, quality

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


class _Prefetcher:
    """Reads windows in order, ``depth`` windows ahead on ``threads`` threads; starts at construction.

    Starting before the model loads lets GDAL (which releases the GIL) decode the first
    windows on one core while the main thread loads the model on the other.
    """

    def __init__(self, reader: _Reader, windows: list[Window], threads: int, depth: int) -> None:
        self.reader = reader
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="eospec-read")
        self.queue = iter(windows)
        self.pending: deque[tuple[Window, Future[tuple[np.ndarray, dict[str, np.ndarray]]]]] = deque()
        for window in self.queue:
            self.pending.append((window, self.pool.submit(reader.read, window)))
            if len(self.pending) >= depth:
                break

    def __iter__(self) -> Iterator[tuple[Window, tuple[np.ndarray, dict[str, np.ndarray]]]]:
        while self.pending:
            window, future = self.pending.popleft()
            result = future.result()
            following = next(self.queue, None)
            if following is not None:
                self.pending.append((following, self.pool.submit(self.reader.read, following)))
            yield window, result

    def close(self) -> None:
        """Cancel reads not started and wait for running ones."""
        for _, future in self.pending:
            future.cancel()
        self.pool.shutdown(wait=True)
        self.reader.close()


@contextlib.contextmanager
def stream_windows(
    scene: Scene, bands: npt.ArrayLike, tile_size: int = 256, workers: int = 2
) -> Iterator[Iterator[tuple[Window, np.ndarray, dict[str, np.ndarray]]]]:
    """Read a scene window by window, in order, with reader threads prefetching the next windows.

    Reading starts when the context is entered (so GDAL decodes while the caller loads a model);
    windows are square-ish, aligned to the file's internal blocks, and at most about 160 MB of raw
    data is read ahead. Used by :func:`map_scene` and :func:`eospec.embedding.embed_scene`.

    Args:
        scene: an open scene (:func:`eospec.io.open_scene`).
        bands: 0-based band indices to read, shape (R,).
        tile_size: window side in pixels (rounded to the file's internal blocks).
        workers: reader threads (at least 1).

    Yields:
        An iterator of ``(window, raw, quality)``: the rasterio ``Window``; the digital numbers of
        the R bands, shape (R, h, w), in the raster's dtype; and each quality mask of the product
        as a bool array (h, w), True where flagged.
    """
    read_bands = np.asarray(bands, dtype=np.int64)
    windows = _windows(scene.info, scene.dataset.block_shapes[0], tile_size)
    with _prefetched(scene, read_bands, windows, workers, tile_size) as stream:
        yield ((window, raw, quality) for window, (raw, quality) in stream)


@contextlib.contextmanager
def _prefetched(
    scene: Scene, read_bands: np.ndarray, windows: list[Window], workers: int, side: int
) -> Iterator[Iterator[tuple[Window, tuple[np.ndarray, dict[str, np.ndarray]]]]]:
    """Prefetch ``windows`` (at most ``side`` pixels square) on ``workers`` threads, about 160 MB ahead."""
    window_bytes = read_bands.size * side * side * np.dtype(scene.info.dtype).itemsize
    depth = max(workers, min(len(windows), _PREFETCH_BYTES // max(1, window_bytes)))
    prefetcher = _Prefetcher(_Reader(scene, read_bands), windows, workers, depth)
    try:
        yield iter(prefetcher)
    finally:
        prefetcher.close()


def _halo_window(window: Window, halo: int, stride: int, width: int, height: int) -> Window:
    """``window`` grown by ``halo`` pixels on every side, its edges on multiples of ``stride``, inside the scene."""
    col0 = max(0, ((int(window.col_off) - halo) // stride) * stride)
    row0 = max(0, ((int(window.row_off) - halo) // stride) * stride)
    col1 = min(width, -(-(int(window.col_off + window.width) + halo) // stride) * stride)
    row1 = min(height, -(-(int(window.row_off + window.height) + halo) // stride) * stride)
    return Window(col0, row0, col1 - col0, row1 - row0)


@contextlib.contextmanager
def stream_windows_with_halo(
    scene: Scene, bands: npt.ArrayLike, tile_size: int, workers: int, *, halo: int, stride: int = 1
) -> Iterator[Iterator[tuple[Window, np.ndarray, dict[str, np.ndarray], tuple[slice, slice]]]]:
    """Like :func:`stream_windows`, but each window is read with a halo (for patch encoders).

    Windows are ``tile_size`` (rounded down to a multiple of ``stride``) squares; each is read
    grown by ``halo`` pixels on every side, its edges moved out to multiples of ``stride`` and
    clipped to the scene (so that the feature-map grid of every read lines up with the scene's).
    Used by :func:`eospec.embedding.embed_scene`.

    Args:
        scene: an open scene (:func:`eospec.io.open_scene`).
        bands: 0-based band indices to read, shape (R,).
        tile_size: window side in pixels (rounded down to a multiple of ``stride``, at least ``stride``).
        workers: reader threads (at least 1).
        halo: pixels read around each window (0 or more).
        stride: output stride of the encoder in pixels; edges of every read lie on its multiples.

    Yields:
        An iterator of ``(window, raw, quality, core)``: the rasterio ``Window`` (without halo); the
        digital numbers of the R bands of the grown window, shape (R, h', w'), in the raster's
        dtype; each quality mask of the product over the grown window as a bool array (h', w'),
        True where flagged; and ``core``, the (row, column) slices such that
        ``raw[:, core[0], core[1]]`` is the window itself.
    """
    read_bands = np.asarray(bands, dtype=np.int64)
    info = scene.info
    step = max(stride, (tile_size // stride) * stride)
    cores = _windows(info, (step, step), step)
    grown = [_halo_window(window, halo, stride, info.width, info.height) for window in cores]
    side = max(int(max(w.width, w.height)) for w in grown)

    with _prefetched(scene, read_bands, grown, workers, side) as stream:

        def items() -> Iterator[tuple[Window, np.ndarray, dict[str, np.ndarray], tuple[slice, slice]]]:
            for core, (outer, (raw, quality)) in zip(cores, stream, strict=True):
                row, col = int(core.row_off - outer.row_off), int(core.col_off - outer.col_off)
                yield core, raw, quality, (slice(row, row + int(core.height)), slice(col, col + int(core.width)))

        yield items()


def _predict(
    plan: BandPlan,
    module: NumpySpectralRegressor,
    folded: tuple[np.ndarray, np.ndarray] | None,
    raw: np.ndarray,
    info: SceneInfo,
) -> np.ndarray:
    """Model output for every pixel of a (R, N) DN array: float32 (n_outputs, N)."""
    pixels = raw.shape[1]
    out = np.empty((module.n_outputs, pixels), dtype=np.float32)
    gain = info.gain[plan.read_bands].astype(np.float32)[:, None]
    offset = info.offset[plan.read_bands].astype(np.float32)[:, None]
    rows = plan.matrix.argmax(axis=1) if plan.method == "selection" else None
    matrix = plan.matrix.astype(np.float32)
    for start in range(0, pixels, _CHUNK_PIXELS):
        chunk = raw[:, start : start + _CHUNK_PIXELS]
        if folded is not None:
            result = module.forward_band_major(chunk.astype(np.float32), *folded)
        elif rows is not None:
            # Nonlinear preprocessing (absorbance, SNV) needs reflectance at the model's bands.
            reflectance = chunk[rows].astype(np.float32) * gain[rows] + offset[rows]
            result = module.forward_band_major(reflectance)
        else:
            result = module.forward_band_major(matrix @ (chunk.astype(np.float32) * gain + offset))
        out[:, start : start + _CHUNK_PIXELS] = result
    return out


def _progress(total: int, enabled: bool | None, desc: str = "mapping") -> Any:
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, unit="px", unit_scale=True, desc=desc, disable=not show, leave=False)


def map_scene(
    scene: str | os.PathLike[str],
    out: str | os.PathLike[str],
    model: str = "soc",
    *,
    overwrite: bool = False,
    tile_size: int = 256,
    workers: int = 2,
    wavelengths: str | os.PathLike[str] | npt.ArrayLike | None = None,
    thresholds: SpectralMaskThresholds | None = None,
    progress: bool | None = None,
) -> MapResult:
    """Map a soil property from a hyperspectral scene to a Cloud-Optimized GeoTIFF.

    The output has the input's CRS, transform, width and height; band 1 is the property
    (float32, nodata -9999, unit tag), band 2 the mask reason (module docstring). A QGIS style
    ``<out stem>.qml`` beside it renders band 1 with a colour ramp. Both files are written to
    temporary names and moved into place only when complete.

    Args:
        scene: DLR EnMAP L2A product (folder or zip), tagged GeoTIFF or ENVI cube.
        out: the output ``.tif``.
        model: a bundled model name (see :func:`eospec.models.list_models`).
        overwrite: replace an existing output.
        tile_size: window side in pixels (rounded to the file's internal blocks); memory grows
            with its square, not with the scene.
        workers: reader threads that prefetch windows (at least 1).
        wavelengths: band centres for scenes that lack them (CSV path or array in nm).
        thresholds: thresholds of the vegetation/water/dark tests.
        progress: show a progress bar; None shows it on a terminal only.

    Returns:
        A :class:`MapResult` summary.

    Raises:
        OutputExistsError: If ``out`` exists and ``overwrite`` is false.
        OutputNotWritableError: If the output folder is missing or not writable.
        UnknownModelError: If ``model`` is not bundled.
        SceneNotFoundError: If the scene does not exist.
        NotARasterError: If the scene is not a raster.
        MissingWavelengthsError: If the scene has no wavelengths and none were given.
        MissingCRSError: If the scene has no CRS.
        NotHyperspectralError: If the scene's bands cannot feed the model.
        ValueError: If ``tile_size`` or ``workers`` is not positive.
    """
    started = time.perf_counter()
    if tile_size < 16:
        raise ValueError(f"Invalid tile_size: {tile_size!r}. Must be at least 16 pixels")
    if workers < 1:
        raise ValueError(f"Invalid workers: {workers!r}. Must be at least 1")
    target = check_output(out, overwrite)
    metadata, weights_path = resolve_model(model)
    unit = str(metadata.get("unit", ""))
    limits = thresholds or SpectralMaskThresholds()
    valid_low, valid_high = (float(v) for v in metadata.get("valid_range", (-np.inf, np.inf)))
    counts = np.zeros(len(MaskReason), dtype=np.int64)
    samples: list[np.ndarray] = []  # up to _SAMPLE_PER_WINDOW valid values per window, for the colour ramp
    style_path = target.with_suffix(".qml")
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "count": 2,
        "dtype": "float32",
        "nodata": MAP_NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "bigtiff": "IF_SAFER",
    }
    with (
        rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=64),
        open_scene(scene, wavelengths=wavelengths) as opened,
    ):
        info = opened.info
        plan = plan_bands(info, metadata)
        gain = info.gain[plan.read_bands].astype(np.float32)
        offset = info.offset[plan.read_bands].astype(np.float32)
        profile.update(width=info.width, height=info.height, crs=info.crs, transform=info.transform)
        with (
            atomic_output(target) as cog_path,
            atomic_output(target, suffix=".stage.tif") as stage_path,
            # Reading starts now, so that GDAL decodes while the model loads.
            stream_windows(opened, plan.read_bands, tile_size, workers) as stream,
        ):
            bar = _progress(info.width * info.height, progress)
            try:
                module = load_numpy_model(metadata, weights_path)
                folded = fold_first_layer(plan, module, info)
                with rasterio.open(stage_path, "w", **profile) as stage:
                    for window, raw, quality in stream:
                        height, width = int(window.height), int(window.width)
                        flat = raw.reshape(raw.shape[0], -1)
                        bands = {
                            key: flat[pos].astype(np.float32) * gain[pos] + offset[pos]
                            for key, pos in plan.index_positions.items()
                        }
                        reason = classify(bands["green"], bands["red"], bands["nir"], bands["swir1"], limits)
                        reason_2d = reason.reshape(height, width)
                        for name, flags in quality.items():
                            code = QUALITY_REASONS.get(name, MaskReason.CLOUD)
                            reason_2d[flags & ((reason_2d == 0) | (reason_2d > code))] = code
                        reason[invalid_pixel_mask(flat, info.nodata)] = MaskReason.NODATA
                        # The model runs only on pixels that passed the masks: the others are nodata.
                        candidates = np.flatnonzero(reason == 0)
                        prediction = np.full(reason.size, np.nan, dtype=np.float32)
                        if candidates.size:
                            prediction[candidates] = _predict(plan, module, folded, flat[:, candidates], info)[0]
                        reason[(reason == 0) & ~((prediction >= valid_low) & (prediction <= valid_high))] = (
                            MaskReason.OUT_OF_RANGE
                        )
                        values = np.where(reason == 0, prediction, np.float32(MAP_NODATA)).astype(np.float32)
                        mapped = values[reason == 0]
                        samples.append(mapped[:: max(1, mapped.size // _SAMPLE_PER_WINDOW)])
                        counts += np.bincount(reason, minlength=len(MaskReason))
                        stage.write(values.reshape(1, height, width), window=window, indexes=[1])
                        stage.write(reason.astype(np.float32).reshape(1, height, width), window=window, indexes=[2])
                        bar.update(height * width)
                    _describe(stage, metadata, unit, info)
            finally:
                bar.close()
            translate_to_cog(stage_path, cog_path)
            reason_names = {member.name.lower(): int(counts[member]) for member in MaskReason}
            value_range = _percentiles(np.concatenate(samples) if samples else np.empty(0, np.float32))
            low, high = (
                value_range if np.all(np.isfinite(value_range)) else (max(valid_low, 0.0), min(valid_high, 100.0))
            )
            with atomic_output(style_path) as qml_temp:
                qml_temp.write_text(qml_pseudocolor(low, high, str(metadata.get("property", model)).upper(), unit))
    if reason_names["valid"] == 0:
        warnings.warn(
            f"No pixel of {str(scene)!r} received a value (mask reasons: "
            f"{ {k: v for k, v in reason_names.items() if v} }); the map is all nodata",
            AllNodataWarning,
            stacklevel=2,
        )
    return MapResult(
        path=target,
        style_path=style_path,
        model=str(metadata.get("name", model)),
        unit=unit,
        width=info.width,
        height=info.height,
        reason_counts=reason_names,
        value_range=value_range,
        seconds=time.perf_counter() - started,
        band_method=plan.method,
    )


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    """2nd and 98th percentile of mapped values (NaN, NaN when there are none)."""
    if values.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2, 98])
    return float(low), float(high)


def _describe(stage: Any, meta: dict[str, Any], unit: str, info: SceneInfo) -> None:
    """Band names, units and provenance tags of the map."""
    prop = str(meta.get("property", meta.get("name", "value")))
    stage.set_band_description(1, prop)
    stage.set_band_description(2, "mask_reason")
    stage.units = (unit, "")
    stage.update_tags(
        1, long_name=str(meta.get("long_name", prop)), units=unit, valid_range=str(meta.get("valid_range", ""))
    )
    legend = "; ".join(f"{code}={name}" for code, name in MaskReason.legend().items())
    stage.update_tags(2, long_name="reason the pixel has no value (0 = valid)", legend=legend)
    stage.update_tags(
        model=str(meta.get("name", "")),
        model_version=str(meta.get("version", "")),
        source_scene=info.scene_id,
        source_path=str(info.path),
        acquisition_time=info.acquisition_time.isoformat() if info.acquisition_time else "",
        software="eospec",
        mask_reason_legend=legend,
    )

"""Open hyperspectral L2A scenes and read them window by window.

Three input forms are recognised (the first that matches wins):

(a) the DLR EnMAP L2A product as delivered: a folder or ``.zip`` holding ``*-SPECTRAL_IMAGE.TIF``
    and ``*-METADATA.XML`` (band centres, FWHM, gain and offset from the XML), with its quality
    masks when present (:mod:`eospec.io.dlr`);
(b) a GeoTIFF whose bands carry ``wavelength`` / ``fwhm`` / ``bbl`` tags, as the EnMAP-Box writes
    them;
(c) an ENVI cube whose ``.hdr`` has a ``wavelength`` field.

A ``wavelengths`` argument (a CSV with a ``wavelength`` column in nm and an optional ``fwhm``
column, or an array) supplies band centres for any raster that lacks them.

Digital numbers (DN) become bottom-of-atmosphere reflectance (0-1) as ``DN * gain + offset``.
The gain comes from, in order: the product XML, GDAL band scale/offset, a dataset tag
``scale_factor`` or ``reflectance_scale`` (or the ENVI ``reflectance scale factor``); otherwise
integer data are taken as reflectance x 10000 (the EnMAP L2A convention) and float data whose
median exceeds 2 likewise, else as reflectance.

A pixel is invalid when any good band equals the nodata value, when every band is zero (edge
artefacts of L2A products), or when a quality mask flags it.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from ..errors import MissingCRSError, MissingWavelengthsError, NotARasterError, SceneNotFoundError

__all__ = ["SceneInfo", "Scene", "invalid_pixel_mask", "open_scene", "read_wavelength_table"]

#: Fallback reflectance scale of integer L2A products (reflectance x 10000).
L2A_INTEGER_SCALE = 1e-4

_UM_UNITS = {"micrometers", "micrometer", "microns", "micron", "um", "µm"}
_NM_UNITS = {"nanometers", "nanometer", "nm"}


@dataclass
class SceneInfo:
    """What eospec knows about a scene.

    Attributes:
        path: the path the user gave.
        raster_path: the raster GDAL reads (may be a ``/vsizip/`` path).
        width: columns.
        height: rows.
        count: number of bands, B.
        dtype: the raster's data type name, e.g. ``"int16"``.
        crs: coordinate reference system.
        transform: affine pixel-to-CRS transform.
        nodata: nodata value of the digital numbers, or None.
        wavelengths_nm: float64 (B,), band centres in nm.
        fwhm_nm: float64 (B,), band FWHM in nm (NaN where unknown).
        bad_bands: bool (B,), True for bands flagged bad (``bbl`` = 0).
        gain: float64 (B,), reflectance = DN * gain + offset.
        offset: float64 (B,).
        scale_source: where ``gain`` came from, for reports.
        quality_masks: name -> raster path of quality layers (DLR products).
        scene_id: product or file identifier.
        acquisition_time: start of acquisition, or None.
        band_names: one descriptive name per band.
    """

    path: str
    raster_path: str
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS | None
    transform: Any
    nodata: float | None
    wavelengths_nm: npt.NDArray[np.float64]
    fwhm_nm: npt.NDArray[np.float64]
    bad_bands: npt.NDArray[np.bool_]
    gain: npt.NDArray[np.float64]
    offset: npt.NDArray[np.float64]
    scale_source: str
    quality_masks: dict[str, str] = field(default_factory=dict)
    scene_id: str = ""
    acquisition_time: datetime | None = None
    band_names: list[str] = field(default_factory=list)

    @property
    def good_band_indices(self) -> npt.NDArray[np.int64]:
        """0-based indices of bands that are not flagged bad."""
        return np.flatnonzero(~self.bad_bands)


def read_wavelength_table(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read band centres (and FWHM) from a CSV file.

    The file has a header row with a ``wavelength`` column (nm, or um when every value is below
    100) and optionally ``fwhm`` in the same unit; one row per band, in band order.

    Args:
        path: the CSV file.

    Returns:
        ``(wavelengths_nm, fwhm_nm)``, float64 arrays of shape (B,); FWHM is NaN when absent.

    Raises:
        MissingWavelengthsError: If the file is missing or has no ``wavelength`` column.
    """
    if not Path(path).is_file():
        raise MissingWavelengthsError(f"Wavelength table not found: {str(path)!r}")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    if not rows or "wavelength" not in {key.strip().lower() for key in rows[0]}:
        raise MissingWavelengthsError(
            f"{str(path)!r} has no 'wavelength' column: write a CSV with a header 'wavelength,fwhm' "
            "and one row per band (nm)"
        )
    lowered = [{key.strip().lower(): value for key, value in row.items()} for row in rows]
    wavelengths = np.array([float(row["wavelength"]) for row in lowered])
    fwhm = np.array([float(row.get("fwhm") or "nan") for row in lowered])
    factor = 1000.0 if np.nanmax(wavelengths) < 100 else 1.0
    return wavelengths * factor, fwhm * factor


def _unit_factor(unit: str | None, values: np.ndarray) -> float:
    """Factor that converts wavelengths in ``unit`` to nm (guessing from magnitude if unknown)."""
    name = (unit or "").strip().lower()
    if name in _UM_UNITS:
        return 1000.0
    if name in _NM_UNITS:
        return 1.0
    return 1000.0 if values.size and np.nanmax(values) < 100 else 1.0


def _parse_envi_list(text: str) -> list[str]:
    return [item.strip() for item in text.strip().strip("{}").split(",") if item.strip()]


def _read_envi_header(path: Path) -> dict[str, str]:
    """Parse an ENVI header into lower-case keys and raw string values."""
    text = path.read_text(errors="replace")
    fields: dict[str, str] = {}
    for match in re.finditer(r"^\s*([^=\n]+?)\s*=\s*(\{[^}]*\}|[^\n]*)", text, flags=re.M):
        fields[match.group(1).strip().lower()] = match.group(2).strip()
    return fields


def _envi_header_for(raster_path: Path) -> Path | None:
    for candidate in (raster_path.with_suffix(".hdr"), Path(str(raster_path) + ".hdr")):
        if candidate.is_file():
            return candidate
    return None


@dataclass
class _Spectral:
    wavelengths: np.ndarray | None = None
    fwhm: np.ndarray | None = None
    bad: np.ndarray | None = None
    gain: np.ndarray | None = None
    offset: np.ndarray | None = None
    scale_source: str = ""
    nodata: float | None = None


def _from_band_tags(dataset: rasterio.io.DatasetReader) -> _Spectral:
    """Wavelength, FWHM and bad-band tags per band (EnMAP-Box / GDAL style)."""
    result = _Spectral()
    tags = [dataset.tags(band) for band in range(1, dataset.count + 1)]
    lowered = [{key.lower(): value for key, value in band_tags.items()} for band_tags in tags]
    if all("wavelength" in band_tags for band_tags in lowered):
        values = np.array([float(band_tags["wavelength"]) for band_tags in lowered])
        factor = _unit_factor(lowered[0].get("wavelength_units"), values)
        result.wavelengths = values * factor
        if all("fwhm" in band_tags for band_tags in lowered):
            result.fwhm = np.array([float(band_tags["fwhm"]) for band_tags in lowered]) * factor
        if all("bbl" in band_tags for band_tags in lowered):
            result.bad = np.array([float(band_tags["bbl"]) == 0 for band_tags in lowered])
    else:
        # Dataset-level ENVI-style lists, e.g. in the ENVI metadata domain.
        for domain in (None, "ENVI"):
            meta = {key.lower(): value for key, value in dataset.tags(ns=domain).items()}
            if "wavelength" in meta:
                values = np.array([float(v) for v in _parse_envi_list(meta["wavelength"])])
                if values.size == dataset.count:
                    factor = _unit_factor(meta.get("wavelength_units"), values)
                    result.wavelengths = values * factor
                    if "fwhm" in meta:
                        result.fwhm = np.array([float(v) for v in _parse_envi_list(meta["fwhm"])]) * factor
                    if "bbl" in meta:
                        result.bad = np.array([float(v) == 0 for v in _parse_envi_list(meta["bbl"])])
                    break
    scales = np.asarray(dataset.scales, dtype=np.float64)
    offsets = np.asarray(dataset.offsets, dtype=np.float64)
    if np.any(scales != 1.0) or np.any(offsets != 0.0):
        result.gain, result.offset, result.scale_source = scales, offsets, "GDAL band scale/offset"
    else:
        meta = {key.lower(): value for key, value in dataset.tags().items()}
        if "scale_factor" in meta:
            result.gain = np.full(dataset.count, float(meta["scale_factor"]))
            result.scale_source = "dataset tag scale_factor"
        elif "reflectance_scale" in meta:
            result.gain = np.full(dataset.count, 1.0 / float(meta["reflectance_scale"]))
            result.scale_source = "dataset tag reflectance_scale"
    return result


def _from_envi_header(header: Path, count: int) -> _Spectral:
    fields = _read_envi_header(header)
    result = _Spectral()
    if "wavelength" in fields:
        values = np.array([float(v) for v in _parse_envi_list(fields["wavelength"])])
        if values.size == count:
            factor = _unit_factor(fields.get("wavelength units"), values)
            result.wavelengths = values * factor
            if "fwhm" in fields:
                result.fwhm = np.array([float(v) for v in _parse_envi_list(fields["fwhm"])]) * factor
    if "bbl" in fields:
        result.bad = np.array([float(v) == 0 for v in _parse_envi_list(fields["bbl"])])
    if "reflectance scale factor" in fields:
        result.gain = np.full(count, 1.0 / float(fields["reflectance scale factor"]))
        result.scale_source = "ENVI reflectance scale factor"
    if "data ignore value" in fields:
        result.nodata = float(fields["data ignore value"])
    return result


def _guess_gain(dataset: rasterio.io.DatasetReader) -> tuple[np.ndarray, str]:
    if np.issubdtype(np.dtype(dataset.dtypes[0]), np.integer):
        return np.full(dataset.count, L2A_INTEGER_SCALE), "integer data taken as reflectance x 10000"
    size = min(64, dataset.width), min(64, dataset.height)
    window = Window((dataset.width - size[0]) // 2, (dataset.height - size[1]) // 2, *size)
    sample = dataset.read(window=window, masked=True).astype(np.float64).filled(np.nan)
    median = float(np.nanmedian(sample)) if np.isfinite(sample).any() else 0.0
    if median > 2.0:
        return np.full(dataset.count, L2A_INTEGER_SCALE), "float data > 2 taken as reflectance x 10000"
    return np.ones(dataset.count), "float data taken as reflectance"


def invalid_pixel_mask(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Invalid pixels of band-major digital numbers.

    A pixel is invalid when any band holds ``nodata``, when every band is zero (L2A edge
    artefacts), or when a value is not finite. A band that is nodata in every pixel (an unflagged
    water-vapour band) is ignored rather than blanking all pixels. Integer nodata at the dtype's
    minimum (e.g. -32768 for int16) is found with one min/max pass, without a (B, N) temporary.

    Args:
        values: array of shape (B, N), the good bands' DN of N pixels.
        nodata: the nodata value, or None.

    Returns:
        bool array of shape (N,), True where the pixel is invalid.
    """
    low = values.min(axis=0)
    high = values.max(axis=0)
    invalid = (low == 0) & (high == 0)
    floating = np.issubdtype(values.dtype, np.floating)
    if floating:
        invalid |= ~np.isfinite(low) | ~np.isfinite(high)
    if nodata is None or (floating and np.isnan(nodata)):
        return np.asarray(invalid)
    empty = values.max(axis=1) == nodata if values.size else np.zeros(values.shape[0], bool)
    if empty.all():
        return np.ones(values.shape[1], dtype=bool)
    if empty.any():
        values = values[~empty]
        low = values.min(axis=0)
    if np.issubdtype(values.dtype, np.integer) and nodata == np.iinfo(values.dtype).min:
        invalid |= low == nodata
    else:
        for band in values:
            invalid |= band == nodata
    return np.asarray(invalid)


class Scene:
    """An open scene: metadata plus window reads.

    Use :func:`open_scene` to create one; close it (or use ``with``) when done.
    """

    def __init__(self, info: SceneInfo) -> None:
        self.info = info
        self._dataset = rasterio.open(info.raster_path)
        self._masks: dict[str, rasterio.io.DatasetReader] = {}

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the raster and any quality masks."""
        self._dataset.close()
        for mask in self._masks.values():
            mask.close()
        self._masks.clear()

    @property
    def dataset(self) -> rasterio.io.DatasetReader:
        """The underlying rasterio dataset of the spectral image."""
        return self._dataset

    def read_raw(
        self, window: Window | None = None, bands: npt.ArrayLike | None = None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Read digital numbers.

        Args:
            window: the pixel window; None for the whole scene.
            bands: 0-based band indices; None for all bands.
            out: optional preallocated array of shape (b, h, w) and the raster's dtype.

        Returns:
            Array of shape (b, h, w) in the raster's dtype.
        """
        indexes = None if bands is None else [int(i) + 1 for i in np.atleast_1d(bands)]
        return self._dataset.read(indexes, window=window, out=out)

    def invalid_pixels(self, raw: np.ndarray, bands: npt.ArrayLike | None = None) -> np.ndarray:
        """Pixels with nodata in any good band, or zero in every band (:func:`invalid_pixel_mask`).

        Args:
            raw: DN array of shape (b, h, w) as returned by :meth:`read_raw` for ``bands``.
            bands: the 0-based band indices ``raw`` holds; None for all bands.

        Returns:
            bool array of shape (h, w), True where the pixel is invalid.
        """
        indices = np.arange(self.info.count) if bands is None else np.atleast_1d(bands)
        good = ~self.info.bad_bands[indices]
        values = raw[good] if not good.all() else raw
        return invalid_pixel_mask(values.reshape(values.shape[0], -1), self.info.nodata).reshape(raw.shape[1:])

    def read_reflectance(self, window: Window | None = None, bands: npt.ArrayLike | None = None) -> np.ndarray:
        """Read bottom-of-atmosphere reflectance.

        Args:
            window: the pixel window; None for the whole scene.
            bands: 0-based band indices; None for all bands.

        Returns:
            float32 array of shape (b, h, w), reflectance 0-1 (values slightly outside are kept as
            delivered), NaN on invalid pixels (nodata, all-zero, quality-flagged) and bad bands.
        """
        indices = np.arange(self.info.count) if bands is None else np.atleast_1d(bands)
        raw = self.read_raw(window, indices)
        invalid = self.invalid_pixels(raw, indices) | self.quality_flags(window)
        gain = self.info.gain[indices].astype(np.float32)[:, None, None]
        offset = self.info.offset[indices].astype(np.float32)[:, None, None]
        reflectance = raw.astype(np.float32) * gain + offset
        reflectance[:, invalid] = np.nan
        reflectance[self.info.bad_bands[indices]] = np.nan
        return reflectance

    def quality_flags(self, window: Window | None = None) -> np.ndarray:
        """Union of the product's quality masks (cloud, cirrus, snow, shadow, defective pixels).

        Args:
            window: the pixel window; None for the whole scene.

        Returns:
            bool array of shape (h, w); all False when the scene has no quality masks.
        """
        flags = self.quality_layers(window)
        height = int(window.height) if window is not None else self.info.height
        width = int(window.width) if window is not None else self.info.width
        union = np.zeros((height, width), dtype=bool)
        for layer in flags.values():
            union |= layer
        return union

    def quality_layers(self, window: Window | None = None) -> dict[str, np.ndarray]:
        """Each quality mask of the product as a boolean layer.

        Args:
            window: the pixel window; None for the whole scene.

        Returns:
            Mapping from mask name (``cloud``, ``cirrus``, ``snow``, ``cloudshadow``,
            ``pixelmask``, ...) to a bool array of shape (h, w), True where flagged.
        """
        layers: dict[str, np.ndarray] = {}
        for name, path in self.info.quality_masks.items():
            if name not in self._masks:
                self._masks[name] = rasterio.open(path)
            data = self._masks[name].read(window=window)
            layers[name] = np.any(data != 0, axis=0)
        return layers


def _resolve_dlr(path: Path) -> Any:
    from .dlr import find_dlr_product

    return find_dlr_product(path)


def open_scene(
    path: str | os.PathLike[str],
    wavelengths: str | os.PathLike[str] | npt.ArrayLike | None = None,
    fwhm: npt.ArrayLike | None = None,
    require_crs: bool = True,
) -> Scene:
    """Open a hyperspectral scene in any of the supported forms (module docstring).

    Args:
        path: DLR product folder or zip, GeoTIFF, or ENVI cube (data file or ``.hdr``).
        wavelengths: band centres for rasters that lack them: a CSV path (see
            :func:`read_wavelength_table`) or an array of shape (B,) in nm. Overrides the file's.
        fwhm: band FWHM in nm, shape (B,), when ``wavelengths`` is an array.
        require_crs: refuse rasters without a CRS.

    Returns:
        The open :class:`Scene`.

    Raises:
        SceneNotFoundError: If the path does not exist.
        NotARasterError: If GDAL cannot open it as a raster.
        MissingWavelengthsError: If no band centre wavelengths can be found.
        MissingCRSError: If the raster has no CRS and ``require_crs`` is true.
    """
    given = Path(path)
    if not given.exists():
        raise SceneNotFoundError(f"Scene not found: {str(path)!r}. Check the path.")
    spectral = _Spectral()
    quality: dict[str, str] = {}
    scene_id = given.stem
    acquisition: datetime | None = None
    raster_path = str(given)
    is_product_file = given.is_file() and bool(re.search(r"SPECTRAL_IMAGE|-METADATA\.XML$", given.name, flags=re.I))
    product = None
    missing_xml: SceneNotFoundError | None = None
    if given.is_dir() or given.suffix.lower() == ".zip":
        product = _resolve_dlr(given)
    elif is_product_file:
        # A DLR file name: read the product, or the file alone when it carries its own band tags.
        try:
            product = _resolve_dlr(given)
        except SceneNotFoundError as error:
            missing_xml = error
    if product is not None:
        raster_path = product.spectral_image
        spectral = _Spectral(
            product.wavelengths_nm,
            product.fwhm_nm,
            product.bad_bands,
            product.gains,
            product.offsets,
            "DLR METADATA.XML gain/offset",
            product.nodata,
        )
        quality, scene_id, acquisition = product.quality_masks, product.scene_id, product.acquisition_start
    elif given.is_dir():
        raise SceneNotFoundError(
            f"{str(path)!r} is a folder without an EnMAP L2A product (*-SPECTRAL_IMAGE.TIF and "
            "*-METADATA.XML): pass the product folder or zip, or a GeoTIFF/ENVI file"
        )
    elif given.suffix.lower() == ".hdr":
        for candidate in (
            given.with_suffix(""),
            given.with_suffix(".img"),
            given.with_suffix(".dat"),
            given.with_suffix(".bsq"),
            given.with_suffix(".bil"),
            given.with_suffix(".bip"),
        ):
            if candidate.is_file():
                raster_path = str(candidate)
                break
    try:
        with rasterio.open(raster_path) as dataset:
            count, width, height = dataset.count, dataset.width, dataset.height
            dtype, crs, transform = dataset.dtypes[0], dataset.crs, dataset.transform
            nodata = dataset.nodata
            tagged = _from_band_tags(dataset)
            header = _envi_header_for(Path(raster_path)) if product is None else None
            from_header = _from_envi_header(header, count) if header is not None else _Spectral()
            descriptions = list(dataset.descriptions)
            start = dataset.tags().get("start_time")
            # The guess reads pixels: only when neither the product, the tags nor the header give a gain.
            known_gain = any(source.gain is not None for source in (spectral, tagged, from_header))
            guessed = None if known_gain else _guess_gain(dataset)
    except RasterioIOError as error:
        raise NotARasterError(
            f"{str(path)!r} is not a raster GDAL can read ({error}). Pass an EnMAP L2A product, a "
            "GeoTIFF or an ENVI cube"
        ) from error
    if require_crs and crs is None:
        raise MissingCRSError(
            f"{str(path)!r} has no CRS. Assign one first, e.g. 'gdal_edit.py -a_srs EPSG:32633 FILE' "
            "or rioxarray's 'rio.write_crs()'"
        )
    for source in (tagged, from_header):
        for name in ("wavelengths", "fwhm", "bad", "gain", "offset", "nodata"):
            if getattr(spectral, name) is None and getattr(source, name) is not None:
                setattr(spectral, name, getattr(source, name))
                if name == "gain":
                    spectral.scale_source = source.scale_source
    if wavelengths is not None:
        if isinstance(wavelengths, (str, os.PathLike)):
            spectral.wavelengths, table_fwhm = read_wavelength_table(wavelengths)
            spectral.fwhm = table_fwhm if np.isfinite(table_fwhm).any() else spectral.fwhm
        else:
            spectral.wavelengths = np.asarray(wavelengths, dtype=np.float64)
            if fwhm is not None:
                spectral.fwhm = np.asarray(fwhm, dtype=np.float64)
    if spectral.wavelengths is None and missing_xml is not None:
        raise missing_xml
    if spectral.wavelengths is None:
        raise MissingWavelengthsError(
            f"{str(path)!r} has no band wavelengths (no 'wavelength' band tags, ENVI header or DLR "
            "METADATA.XML). Supply them with --wavelengths bands.csv (a CSV with header "
            "'wavelength,fwhm', one row per band, in nm)"
        )
    if spectral.wavelengths.size != count:
        raise MissingWavelengthsError(
            f"{count} bands in {str(path)!r} but {spectral.wavelengths.size} wavelengths given: "
            "give one wavelength per band"
        )
    if spectral.gain is None:
        assert guessed is not None
        spectral.gain, spectral.scale_source = guessed
    if start and acquisition is None:
        try:
            acquisition = datetime.fromisoformat(start)
        except ValueError:
            acquisition = None
    nodata_value = spectral.nodata if nodata is None else nodata
    info = SceneInfo(
        path=str(path),
        raster_path=raster_path,
        width=width,
        height=height,
        count=count,
        dtype=dtype,
        crs=crs,
        transform=transform,
        nodata=None if nodata_value is None else float(nodata_value),
        wavelengths_nm=np.asarray(spectral.wavelengths, dtype=np.float64),
        fwhm_nm=np.asarray(spectral.fwhm if spectral.fwhm is not None else np.full(count, np.nan)),
        bad_bands=np.asarray(spectral.bad if spectral.bad is not None else np.zeros(count, bool)),
        gain=np.asarray(spectral.gain, dtype=np.float64),
        offset=np.asarray(spectral.offset if spectral.offset is not None else np.zeros(count)),
        scale_source=spectral.scale_source,
        quality_masks=quality,
        scene_id=scene_id,
        acquisition_time=acquisition,
        band_names=[d or f"band {i + 1}" for i, d in enumerate(descriptions)],
    )
    return Scene(info)

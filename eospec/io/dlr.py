"""Find and parse DLR EnMAP HSI products (folder or ``.zip``) as DLR delivers them.

A product is a folder, or a zip that holds one (possibly inside a sub-folder, as in DLR's
``ENMAP01-...-Z.zip``), with files named ``<product>-<suffix>``:

* ``-SPECTRAL_IMAGE.TIF`` (or ``-SPECTRAL_IMAGE_COG.TIF``): the cube. At L2A, int16 bottom-of-
  atmosphere reflectance x 10000, nodata -32768, all 224 bands in one file.
* ``-METADATA.XML``: the product metadata of the *EnMAP HSI Level 1/2 product specification*
  (EN-PCV-ICD-2009-2). This module reads (namespaces, when present, are ignored):

  - ``specific/bandCharacterisation/bandID[@number]`` with ``wavelengthCenterOfBand`` (nm),
    ``FWHMOfBand`` (nm), ``GainOfBand`` and ``OffsetOfBand``: ``value = DN * gain + offset``. At
    L2A the gain is a uniform 0.0001 and the offset 0, so the value is reflectance 0-1;
  - ``product/bandStatistics/bandID`` with ``mean`` and ``stdDeviation``: DLR fills bands
    without any valid retrieval (the water-vapour bands around 1330-1390 nm) with the nodata
    value and writes ``mean = -1000000``, ``stdDeviation = 0`` for them; those become
    :attr:`DLRProduct.bad_bands`;
  - ``metadata/name`` (scene id), ``base/temporalCoverage/startTime`` (acquisition start, UTC),
    ``metadata/schema/processingLevel`` or ``base/level``;
  - a ``noDataValue`` / ``nodata`` element if the XML has one. The specification as read by the
    EnMAP-Box and EnPT names none; DLR's STAC items carry ``enmap:nodata = -32768`` and the
    L2A GeoTIFF its own GDAL nodata tag, so the L2A default is -32768.

* Quality layers, single-band, ``0`` clear and non-zero flagged: ``-QL_QUALITY_CLOUD``,
  ``-QL_QUALITY_CIRRUS``, ``-QL_QUALITY_SNOW``, ``-QL_QUALITY_CLOUDSHADOW``,
  ``-QL_QUALITY_HAZE``. These are returned in :attr:`DLRProduct.quality_masks`, where
  :meth:`eospec.io.scene.Scene.quality_layers` reads any non-zero value as flagged.
* ``-QL_PIXELMASK``: the defective-pixel mask. At L1C/L2A it has one band per spectral band
  (a detector element is defective in some bands only, and DLR interpolates it at L1B). The
  "any band non-zero flags the pixel" rule would blank whole along-track stripes of otherwise
  usable spectra, so a per-band mask is *not* put in ``quality_masks``; its path is in
  :attr:`DLRProduct.pixel_mask_per_band` for callers that mask per band. A single-band pixel
  mask is a plain flag layer and is returned as ``quality_masks['pixelmask']``.
* ``-QL_QUALITY_CLASSES`` (land / water / background classes) and ``-QL_QUALITY_TESTFLAGS``
  are class and bit layers, not flags, and are ignored.

Sources for the element names and the gain convention: the EnMAP-Box's
``enmapboxprocessing/algorithm/importenmapl2aalgorithm.py`` (EnMAP-Box/enmap-box; sets
``GainOfBand``/``OffsetOfBand`` as GDAL scale/offset "into the 0 to 1 range" and drops bands whose
statistics are ``stdDeviation == 0`` and ``mean == -1000000``) and EnPT's
``enpt/model/metadata/metadata_mapgeo.py`` (GFZ/enpt; writes L2A ``GainOfBand = 1 / 10000``,
``OffsetOfBand = 0``).
"""

from __future__ import annotations

import os
import posixpath
import re
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import MissingWavelengthsError, SceneNotFoundError

__all__ = ["DLRProduct", "find_dlr_product", "parse_metadata_xml", "L2A_GAIN", "L2A_NODATA"]

#: Gain of EnMAP L2A reflectance: reflectance = DN * 0.0001 (DN is reflectance x 10000).
L2A_GAIN = 1e-4
#: Nodata value of EnMAP L2A int16 reflectance.
L2A_NODATA = -32768.0
#: ``product/bandStatistics/bandID/mean`` that DLR writes for a band with no valid pixel.
NO_DATA_BAND_MEAN = -1_000_000.0

_SPECTRAL = re.compile(r"SPECTRAL_IMAGE[^/]*\.tiff?$", re.IGNORECASE)
_METADATA = re.compile(r"-METADATA\.XML$", re.IGNORECASE)
_COG = re.compile(r"_COG\.tiff?$", re.IGNORECASE)
_MASKS: dict[str, re.Pattern[str]] = {
    name: re.compile(rf"-{pattern}(?:_COG)?\.tiff?$", re.IGNORECASE)
    for name, pattern in (
        ("cloud", "QL_QUALITY_CLOUD"),
        ("cirrus", "QL_QUALITY_CIRRUS"),
        ("snow", "QL_QUALITY_SNOW"),
        ("cloudshadow", "QL_QUALITY_CLOUDSHADOW"),
        ("haze", "QL_QUALITY_HAZE"),
        ("pixelmask", "QL_(?:QUALITY_)?PIXELMASK"),
    )
}
_NODATA_TAGS = {"nodatavalue", "nodata", "no_data_value", "nodata_value", "fillvalue"}
_LEVEL = re.compile(r"(L1B|L1C|L2A|L2B)", re.IGNORECASE)
#: How deep below the given folder (or zip root) the product files may sit.
_MAX_DEPTH = 3


@dataclass
class DLRProduct:
    """The parts of a DLR EnMAP product that eospec reads.

    Attributes:
        spectral_image: path rasterio can open; for a zip a ``/vsizip/<zip>/<member>`` path.
        metadata_xml: path of ``*-METADATA.XML`` (for a zip, its ``/vsizip/`` path).
        wavelengths_nm: float64 (B,), band centre wavelengths in nm, in band order.
        fwhm_nm: float64 (B,), band full width at half maximum in nm (NaN where absent).
        gains: float64 (B,), value = DN * gain + offset (reflectance 0-1 at L2A).
        offsets: float64 (B,).
        nodata: nodata value of the DN, or None when unknown. The image's own GDAL nodata tag,
            when present, takes precedence over this.
        quality_masks: mask name (``cloud``, ``cirrus``, ``snow``, ``cloudshadow``, ``haze``,
            ``pixelmask``) -> path of a single-band raster, non-zero where flagged; only the
            masks the product has.
        scene_id: product name, e.g.
            ``ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302_20230628T165614Z``.
        acquisition_start: start of the acquisition (naive datetime in UTC), or None.
        bad_bands: bool (B,), True for bands that DLR filled with nodata (band statistics
            ``mean == -1000000`` and ``stdDeviation == 0``).
        processing_level: ``"L2A"``, ``"L1C"``, ... or ``""`` when unknown.
        pixel_mask_per_band: path of a per-band defective-pixel mask (one band per spectral
            band, non-zero where defective), or None.
    """

    spectral_image: str
    metadata_xml: str
    wavelengths_nm: npt.NDArray[np.float64]
    fwhm_nm: npt.NDArray[np.float64]
    gains: npt.NDArray[np.float64]
    offsets: npt.NDArray[np.float64]
    nodata: float | None
    quality_masks: dict[str, str]
    scene_id: str
    acquisition_start: datetime | None
    bad_bands: npt.NDArray[np.bool_] | None = None
    processing_level: str = ""
    pixel_mask_per_band: str | None = None


@dataclass
class _Metadata:
    wavelengths_nm: npt.NDArray[np.float64]
    fwhm_nm: npt.NDArray[np.float64]
    gains: npt.NDArray[np.float64]
    offsets: npt.NDArray[np.float64]
    bad_bands: npt.NDArray[np.bool_]
    nodata: float | None
    scene_id: str
    acquisition_start: datetime | None
    processing_level: str


def _strip_namespaces(root: ET.Element) -> None:
    """Replace ``{namespace}tag`` by ``tag`` throughout the tree, in place."""
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]


def _float(text: str | None, default: float = np.nan) -> float:
    try:
        return float(text) if text is not None and text.strip() else default
    except ValueError:
        return default


def _parse_time(text: str | None) -> datetime | None:
    """ISO 8601 time (``2022-07-24T10:45:26.123456Z``) -> naive UTC datetime, or None."""
    if not text or not text.strip():
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _scene_id_from_name(name: str) -> str:
    base = posixpath.basename(name.replace("\\", "/"))
    base = re.sub(r"-METADATA(\.XML)?$", "", base, flags=re.IGNORECASE)
    return re.sub(r"\.xml$", "", base, flags=re.IGNORECASE)


def parse_metadata_xml(text: bytes | str, source: str = "METADATA.XML") -> _Metadata:
    """Parse the band characterisation and scene facts of a DLR EnMAP ``METADATA.XML``.

    Args:
        text: the XML document.
        source: the file it came from, for messages and as a fallback scene id.

    Returns:
        The parsed metadata (see the module docstring for the elements read).

    Raises:
        MissingWavelengthsError: If the XML cannot be parsed or has no
            ``specific/bandCharacterisation/bandID/wavelengthCenterOfBand``.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise MissingWavelengthsError(
            f"Cannot parse {source!r} as XML ({error}). Re-download the product, or open the "
            "spectral image with wavelengths given explicitly (--wavelengths bands.csv)"
        ) from error
    _strip_namespaces(root)
    characterisation = root.find("specific/bandCharacterisation")
    if characterisation is None:
        characterisation = root.find(".//bandCharacterisation")
    bands = [] if characterisation is None else characterisation.findall("bandID")
    bands = [band for band in bands if band.find("wavelengthCenterOfBand") is not None]
    if not bands:
        raise MissingWavelengthsError(
            f"{source!r} has no specific/bandCharacterisation/bandID/wavelengthCenterOfBand "
            "elements: it is not a DLR EnMAP METADATA.XML. Pass the product's own METADATA.XML, "
            "or open the spectral image with --wavelengths bands.csv"
        )
    numbers = [band.get("number") for band in bands]
    if all(number is not None and number.strip().isdigit() for number in numbers):
        order = np.argsort([int(number or 0) for number in numbers], kind="stable")
        bands = [bands[i] for i in order]
    wavelengths = np.array([_float(band.findtext("wavelengthCenterOfBand")) for band in bands])
    if not np.all(np.isfinite(wavelengths)):
        raise MissingWavelengthsError(
            f"{source!r} has a wavelengthCenterOfBand that is not a number: fix or re-download "
            "the product, or open the spectral image with --wavelengths bands.csv"
        )
    fwhm = np.array([_float(band.findtext("FWHMOfBand")) for band in bands])

    level_text = root.findtext("metadata/schema/processingLevel") or root.findtext("base/level")
    name = (root.findtext("metadata/name") or "").strip()
    level_match = _LEVEL.search(level_text or "") or _LEVEL.search(name or source)
    level = level_match.group(1).upper() if level_match else ""
    default_gain = L2A_GAIN if level == "L2A" else 1.0
    gains = np.array([_float(band.findtext("GainOfBand"), default_gain) for band in bands])
    offsets = np.array([_float(band.findtext("OffsetOfBand"), 0.0) for band in bands])
    gains[~np.isfinite(gains) | (gains == 0)] = default_gain
    offsets[~np.isfinite(offsets)] = 0.0

    nodata: float | None = None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _NODATA_TAGS:
            value = _float(element.text)
            if np.isfinite(value):
                nodata = value
                break
    if nodata is None and level == "L2A":
        nodata = L2A_NODATA

    bad = np.zeros(wavelengths.size, dtype=bool)
    statistics = root.find("product/bandStatistics")
    if statistics is None:
        statistics = root.find(".//bandStatistics")
    if statistics is not None:
        for position, entry in enumerate(statistics.findall("bandID")):
            number = entry.get("number")
            index = int(number) - 1 if number and number.strip().isdigit() else position
            mean = _float(entry.findtext("mean"))
            std = _float(entry.findtext("stdDeviation"))
            sentinel = mean == NO_DATA_BAND_MEAN or (nodata is not None and mean == nodata)
            if 0 <= index < bad.size and std == 0 and sentinel:
                bad[index] = True

    start = root.find("base/temporalCoverage/startTime")
    if start is None:
        start = root.find(".//startTime")
    return _Metadata(
        wavelengths_nm=wavelengths,
        fwhm_nm=fwhm,
        gains=gains,
        offsets=offsets,
        bad_bands=bad,
        nodata=nodata,
        scene_id=_scene_id_from_name(name) if name else _scene_id_from_name(source),
        acquisition_start=_parse_time(start.text if start is not None else None),
        processing_level=level,
    )


def _depth(relative: str) -> int:
    return relative.count("/")


def _prefer_plain(candidates: list[str]) -> str:
    """The non-COG spelling when DLR's ``_COG`` copy sits beside it."""
    plain = [name for name in candidates if not _COG.search(name)]
    return sorted(plain or candidates)[0]


def _stem(name: str) -> str:
    base = posixpath.basename(name)
    match = re.search(r"-?SPECTRAL_IMAGE", base, flags=re.IGNORECASE)
    return base[: match.start()] if match else base


def _select(
    names: Iterable[str], where: str, max_depth: int = _MAX_DEPTH
) -> tuple[str, str, dict[str, str], str | None] | None:
    """Pick the spectral image, XML and masks among relative POSIX names.

    Returns:
        ``(image, xml, masks, pixelmask)`` as relative names, or None when there is no image.
    """
    names = [name for name in names if _depth(name) <= max_depth and not name.endswith("/")]
    images = [
        name for name in names if _SPECTRAL.search(posixpath.basename(name)) and not name.lower().endswith(".aux.xml")
    ]
    if not images:
        return None
    stems = sorted({(posixpath.dirname(name), _stem(name)) for name in images})
    if len(stems) > 1:
        listing = ", ".join(repr(stem or posixpath.basename(folder)) for folder, stem in stems)
        raise SceneNotFoundError(
            f"{where!r} holds {len(stems)} EnMAP products ({listing}): pass one product folder or zip at a time"
        )
    folder, stem = stems[0]
    own = [name for name in images if posixpath.dirname(name) == folder]
    detectors = {
        match.group(1).upper()
        for name in own
        if (match := re.search(r"SPECTRAL_IMAGE_(VNIR|SWIR)", name, flags=re.IGNORECASE))
    }
    if detectors:
        raise SceneNotFoundError(
            f"{where!r} is an EnMAP L1B product (separate SPECTRAL_IMAGE_VNIR and _SWIR files, not "
            "co-registered). eospec reads L2A (or L1C) products, which hold one SPECTRAL_IMAGE: "
            "order L2A from DLR, or process L1B to L2A with EnPT first"
        )
    image = _prefer_plain(own)
    siblings = [name for name in names if posixpath.dirname(name) == folder]
    xmls = [name for name in siblings if _METADATA.search(posixpath.basename(name))]
    if not xmls:
        raise SceneNotFoundError(
            f"{where!r} has the spectral image {posixpath.basename(image)!r} but no "
            f"'{stem}-METADATA.XML' beside it; the XML carries the band wavelengths and the gain/"
            "offset. Put the product's METADATA.XML back (re-extract or re-download the complete "
            "product from DLR), or open a GeoTIFF with wavelength tags instead"
        )
    same_stem = [name for name in xmls if posixpath.basename(name).startswith(stem)]
    xml = sorted(same_stem or xmls)[0]
    masks: dict[str, str] = {}
    for key, pattern in _MASKS.items():
        found = [name for name in siblings if pattern.search(posixpath.basename(name))]
        if found:
            masks[key] = _prefer_plain(found)
    pixelmask = masks.pop("pixelmask", None)
    return image, xml, masks, pixelmask


def _band_count(path: str) -> int | None:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as dataset:
            return int(dataset.count)
    except RasterioIOError:
        return None


def _folder_names(folder: Path) -> list[str]:
    names: list[str] = []
    for current, subfolders, files in os.walk(folder):
        relative = Path(current).relative_to(folder).as_posix()
        prefix = "" if relative == "." else relative + "/"
        if _depth(prefix) > _MAX_DEPTH:
            subfolders[:] = []
            continue
        subfolders.sort()
        names += [prefix + name for name in sorted(files)]
    return names


def find_dlr_product(path: Path) -> DLRProduct | None:
    """Find a DLR EnMAP product in a folder or zip and parse its metadata.

    The product files may sit in the folder itself or in a sub-folder (up to three levels
    down), as in DLR's delivery zips, which hold one folder named like the product. The
    product's own ``*SPECTRAL_IMAGE*.TIF`` or ``*-METADATA.XML`` also names it (only its folder
    is searched then).

    Args:
        path: the product folder, a folder that holds one, a ``.zip``, or the product's spectral
            image or METADATA.XML.

    Returns:
        The :class:`DLRProduct`, or None when the folder or zip holds no ``*SPECTRAL_IMAGE*.TIF``
        (or the zip cannot be read as a zip).

    Raises:
        SceneNotFoundError: If there is a spectral image but no ``*-METADATA.XML`` beside it,
            if there are several products, or if it is an L1B product (two detector images).
        MissingWavelengthsError: If the XML cannot be parsed or has no band characterisation.
    """
    path = Path(path)
    max_depth = _MAX_DEPTH
    if path.is_file() and (_SPECTRAL.search(path.name) or _METADATA.search(path.name)):
        path, max_depth = path.parent, 0
    if path.is_dir():
        selected = _select(_folder_names(path), str(path), max_depth)
        if selected is None:
            return None
        image, xml, masks, pixelmask = selected
        xml_path = str(path / xml)
        metadata = parse_metadata_xml(Path(xml_path).read_bytes(), xml_path)

        def locate(name: str) -> str:
            return str(path / name)
    elif path.is_file() and path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                selected = _select(archive.namelist(), str(path))
                if selected is None:
                    return None
                image, xml, masks, pixelmask = selected
                text = archive.read(xml)
        except zipfile.BadZipFile:
            return None
        prefix = "/vsizip/" + str(path.resolve()) + "/"
        xml_path = prefix + xml
        metadata = parse_metadata_xml(text, str(path) + "/" + xml)

        def locate(name: str) -> str:
            return prefix + name
    else:
        return None

    if metadata.processing_level in {"L1B", "L1C"}:
        warnings.warn(
            f"{str(path)!r} is an EnMAP {metadata.processing_level} product: its values are "
            "top-of-atmosphere radiance, not reflectance. Models trained on L2A reflectance "
            "need an L2A product",
            UserWarning,
            stacklevel=2,
        )
    quality = {key: locate(name) for key, name in masks.items()}
    per_band: str | None = None
    if pixelmask is not None:
        count = _band_count(locate(pixelmask))
        if count == 1:
            quality["pixelmask"] = locate(pixelmask)
        elif count is not None:
            per_band = locate(pixelmask)
    return DLRProduct(
        spectral_image=locate(image),
        metadata_xml=xml_path,
        wavelengths_nm=metadata.wavelengths_nm,
        fwhm_nm=metadata.fwhm_nm,
        gains=metadata.gains,
        offsets=metadata.offsets,
        nodata=metadata.nodata,
        quality_masks=quality,
        scene_id=metadata.scene_id or _stem(image),
        acquisition_start=metadata.acquisition_start,
        bad_bands=metadata.bad_bands,
        processing_level=metadata.processing_level,
        pixel_mask_per_band=per_band,
    )

"""ENVI spectral libraries (``.sli`` + ``.hdr``), e.g. USGS splib06/splib07 and the EnMAP-Box Berlin library.

An ENVI spectral library is a headerless binary matrix of ``lines`` spectra by ``samples`` bands
(``bands = 1``, ``file type = ENVI Spectral Library``) with a text header that gives the data type,
byte order, header offset, band centres (``wavelength``), their unit (``wavelength units``), the
spectrum names (``spectra names``), a bad-band list (``bbl``), a no-data value (``data ignore
value``) and a ``reflectance scale factor`` (the number that divides the stored values to give
reflectance 0-1). The format is documented in the ENVI manual ("ENVI Header Files", NV5 Geospatial
Software); this module reads it with NumPy and needs no ENVI library.

USGS conventions handled (Kokaly et al. 2017, USGS Spectral Library Version 7, USGS Data Series 1035):

* deleted channels hold the SPECPR sentinel ``-1.23e34``; it is read as NaN (missing), never as a value,
  whether or not the header declares it as ``data ignore value`` (splib06 does not);
* splib07 files converted from SPECPR carry the wavelength and bandpass (resolution) records as their
  first two "spectra" (``Wavelengths in microns ...``, ``Resolution in microns ...``) and an
  ``error bars to preceding`` record after some spectra; these records are not spectra and are dropped;
* AVIRIS-convolved libraries have overlapping spectrometers, so their band centres are not increasing
  (e.g. 0.687 um followed by 0.664 um): pass ``sort_wavelengths=True`` to reorder the bands, with their
  data, by wavelength.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import SpectralLibraryError, UnknownUnitError, WavelengthOrderError
from .core import SpectralLibrary, parse_wavelength_unit

__all__ = ["read_envi_library", "read_envi_header", "SPECPR_DELETED"]

#: The value USGS SPECPR (and the ENVI libraries converted from it) stores in deleted channels.
SPECPR_DELETED = -1.23e34

#: ENVI ``data type`` codes with a NumPy equivalent (complex types are not spectra).
_ENVI_DTYPES: dict[int, str] = {
    1: "u1",
    2: "i2",
    3: "i4",
    4: "f4",
    5: "f8",
    12: "u2",
    13: "u4",
    14: "i8",
    15: "u8",
}

_WAVELENGTH_RECORD = re.compile(r"^\s*wavelengths?\b", re.IGNORECASE)
_BANDPASS_RECORD = re.compile(r"^\s*(resolution|bandpass|fwhm)\b", re.IGNORECASE)
_ERROR_RECORD = re.compile(r"^\s*error\s+bars?\b", re.IGNORECASE)
_PLOT_SCALE = re.compile(r"\[\s*[*x×]\s*([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*\]")
_DATA_SUFFIXES = (".sli", ".esl", ".lib", ".spl", ".dat", ".bin", "")


def normalise_unit(unit: str | None, source: str) -> str:
    """Map a spectral axis unit as files spell it to ``"nm"``, ``"um"`` or ``"cm-1"``.

    Args:
        unit: the unit as written, e.g. ``"Micrometers"``, ``"Nanometers"``, ``"μm"``, ``"Wavenumber"``.
        source: where the unit was read (file and field), quoted in the error message.

    Returns:
        ``"nm"``, ``"um"`` or ``"cm-1"``.

    Raises:
        UnknownUnitError: If the unit is missing or none of the known spellings.
    """
    if unit is None or not str(unit).strip():
        raise UnknownUnitError(f"{source} gives no wavelength unit: pass wavelength_unit='nm', 'um' or 'cm-1'")
    try:
        return parse_wavelength_unit(unit)
    except UnknownUnitError:
        raise UnknownUnitError(
            f"wavelength unit {unit!r} in {source} is unknown: use one of 'nm', 'um', 'cm-1' "
            "(fix the file, or pass wavelength_unit='nm', 'um' or 'cm-1')"
        ) from None


def order_axis(axis: npt.NDArray[np.float64], source: str, sort_wavelengths: bool) -> npt.NDArray[np.intp] | None:
    """Column order that makes a spectral axis strictly increasing, or None if it already is.

    A strictly decreasing axis (wavenumbers are often stored high to low) is reversed without asking;
    any other order is sorted only when ``sort_wavelengths`` is True.

    Args:
        axis: float64 array of shape (B,), band centres in any unit.
        source: file (and profile) quoted in error messages.
        sort_wavelengths: sort a non-monotonic axis (with its data) instead of raising.

    Returns:
        An index array of shape (B,) to apply to the axis and the spectra columns, or None.

    Raises:
        WavelengthOrderError: If the axis has non-finite or repeated values, or is not monotonic and
            ``sort_wavelengths`` is False.
    """
    if not np.all(np.isfinite(axis)):
        raise WavelengthOrderError(
            f"{source} has non-finite band centres at positions {np.flatnonzero(~np.isfinite(axis)).tolist()}"
        )
    steps = np.diff(axis)
    if np.all(steps > 0):
        return None
    if np.all(steps < 0):
        return np.arange(axis.size)[::-1].copy()
    sorted_axis = np.sort(axis)
    repeated = sorted_axis[1:][np.diff(sorted_axis) == 0]
    if repeated.size:
        raise WavelengthOrderError(
            f"{source} repeats band centre(s) {np.unique(repeated).tolist()[:5]}: remove the duplicate bands"
        )
    if not sort_wavelengths:
        first = int(np.flatnonzero(steps <= 0)[0])
        raise WavelengthOrderError(
            f"band centres in {source} are not increasing ({axis[first]:g} is followed by {axis[first + 1]:g}): "
            "pass sort_wavelengths=True to reorder the bands, with their data, by wavelength"
        )
    return np.argsort(axis, kind="stable")


def split_properties(
    metadata: pd.DataFrame, properties: Sequence[str] | None, source: str
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Move the named measured-property columns out of a metadata table, as floats (NaN = missing).

    Args:
        metadata: table of N rows.
        properties: column names to move, or None for none.
        source: file quoted in the error message.

    Returns:
        The metadata without those columns and an (N, P) float64 table of the properties (or None).

    Raises:
        SpectralLibraryError: If a named column is missing or not numeric.
    """
    if not properties:
        return metadata, None
    missing = [column for column in properties if column not in metadata.columns]
    if missing:
        raise SpectralLibraryError(
            f"property column(s) {missing} are not in {source}: choose from {list(metadata.columns)}"
        )
    table = pd.DataFrame(index=metadata.index)
    for column in properties:
        values = pd.to_numeric(metadata[column], errors="coerce")
        bad = values.isna() & metadata[column].notna()
        if bad.any():
            raise SpectralLibraryError(
                f"property column {column!r} of {source} holds non-numeric values, e.g. "
                f"{metadata[column][bad].iloc[0]!r}: keep it as metadata instead"
            )
        table[column] = values.astype("float64")
    return metadata.drop(columns=list(properties)), table


def warn_if_scaled(values: npt.NDArray[np.floating], quantity: str, source: str) -> None:
    """Warn when reflectance values look like percent or integer-scaled reflectance (maximum above 2).

    Args:
        values: array of any shape, the spectra as they will be stored.
        quantity: ``"reflectance"`` or ``"absorbance"`` (absorbance is not checked).
        source: file quoted in the warning.
    """
    if quantity != "reflectance" or values.size == 0 or not np.isfinite(values).any():
        return
    largest = float(np.nanmax(values))
    if largest > 2.0:
        warnings.warn(
            f"reflectance in {source} reaches {largest:g}, which looks like percent or scaled reflectance: "
            "pass scale=100 or scale=10000 to store it as a fraction 0-1",
            UserWarning,
            stacklevel=3,
        )


def read_envi_header(path: str | os.PathLike[str]) -> dict[str, str | list[str]]:
    """Parse an ENVI header file.

    Keys are lower-cased and stripped; a value in braces (which may span lines) becomes a list of
    stripped strings split at commas (``description`` stays one string), any other value a string.

    Args:
        path: the ``.hdr`` file.

    Returns:
        The header fields.

    Raises:
        SpectralLibraryError: If the file does not start with ``ENVI`` or a brace is not closed.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.lstrip().startswith("ENVI"):
        raise SpectralLibraryError(f"{path} is not an ENVI header: its first line must be 'ENVI'")
    fields: dict[str, str | list[str]] = {}
    position = text.index("ENVI") + 4
    pattern = re.compile(r"^[ \t]*([^=\n{}]+?)[ \t]*=[ \t]*", re.MULTILINE)
    while True:
        match = pattern.search(text, position)
        if match is None:
            break
        key = match.group(1).strip().lower()
        start = match.end()
        if text.startswith("{", start):
            end = text.find("}", start)
            if end < 0:
                raise SpectralLibraryError(f"field {key!r} of {path} opens a brace that is never closed")
            body = text[start + 1 : end]
            fields[key] = " ".join(body.split()) if key == "description" else [item.strip() for item in body.split(",")]
            position = end + 1
        else:
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            fields[key] = text[start:end].strip()
            position = end
    return fields


def _files(path: Path) -> tuple[Path, Path]:
    """The (header, data) pair for a path to either."""
    if path.suffix.lower() == ".hdr":
        header = path
        for suffix in _DATA_SUFFIXES:
            data = path.with_suffix(suffix)
            if data.is_file():
                return header, data
        raise SpectralLibraryError(
            f"no data file found beside {header}: expected {header.with_suffix('.sli').name} (or .esl, .lib)"
        )
    for header in (path.with_suffix(".hdr"), Path(str(path) + ".hdr")):
        if header.is_file():
            return header, path
    raise SpectralLibraryError(f"no ENVI header found for {path}: expected {path.with_suffix('.hdr').name}")


def _number(fields: dict[str, str | list[str]], key: str, header: Path, default: float | None = None) -> float:
    value = fields.get(key)
    if value is None or value == "":
        if default is None:
            raise SpectralLibraryError(f"{header} has no {key!r} field, which an ENVI spectral library needs")
        return default
    if isinstance(value, list):
        value = value[0] if value else ""
    try:
        return float(value)
    except ValueError as error:
        raise SpectralLibraryError(f"field {key!r} of {header} is {value!r}, not a number") from error


def _floats(fields: dict[str, str | list[str]], key: str, header: Path, size: int) -> npt.NDArray[np.float64] | None:
    value = fields.get(key)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    items = [item for item in items if item != ""]
    try:
        numbers = np.asarray([float(item) for item in items], dtype=np.float64)
    except ValueError as error:
        raise SpectralLibraryError(f"field {key!r} of {header} holds a value that is not a number: {error}") from error
    if numbers.size != size:
        raise SpectralLibraryError(f"field {key!r} of {header} has {numbers.size} values for {size} bands")
    return numbers


def _sidecars(data_path: Path, names: list[str], source: str) -> pd.DataFrame | None:
    """Class labels from the EnMAP-Box ``.csv`` (one row per spectrum) and ``.json`` (class ids) sidecars."""
    csv_path = data_path.with_suffix(".csv")
    if not csv_path.is_file():
        return None
    table = pd.read_csv(csv_path)
    if len(table) != len(names):
        raise SpectralLibraryError(
            f"{csv_path.name} has {len(table)} rows for the {len(names)} spectra of {source}: "
            "fix it, or pass sidecars=False to ignore it"
        )
    name_column = next((column for column in table.columns if column.strip().lower() == "spectra names"), None)
    if name_column is not None:
        listed = table[name_column].astype(str).str.strip().tolist()
        if listed != names:
            first = next(i for i, (a, b) in enumerate(zip(listed, names, strict=True)) if a != b)
            raise SpectralLibraryError(
                f"row {first} of {csv_path.name} names {listed[first]!r} but the header names {names[first]!r}: "
                "fix it, or pass sidecars=False to ignore it"
            )
        table = table.drop(columns=[name_column])
    json_path = data_path.with_suffix(".json")
    if json_path.is_file():
        classes = json.loads(json_path.read_text(encoding="utf-8"))
        for column in list(table.columns):
            categories = classes.get(column, {}).get("categories") if isinstance(classes, dict) else None
            if not categories:
                continue
            ids = {str(label): int(code) for code, label, *_ in categories}
            table[f"{column}_id"] = table[column].astype(str).map(ids).astype("Int64")
    return table.reset_index(drop=True)


def scale_hint(fields: dict[str, str | list[str]]) -> float | None:
    """The scale that an ENVI header declares for its values.

    ``reflectance scale factor`` first; else a ``z plot titles`` label such as ``reflectance [*10000]``
    (the EnMAP-Box writes that for its libraries stored as reflectance x 10000).

    Args:
        fields: a parsed header (see :func:`read_envi_header`).

    Returns:
        The divisor that turns stored values into reflectance 0-1, or None when the header gives none.
    """
    factor = fields.get("reflectance scale factor")
    if isinstance(factor, str) and factor:
        try:
            value = float(factor)
        except ValueError:
            value = 0.0
        if np.isfinite(value) and value > 0:
            return value
    titles = fields.get("z plot titles")
    if titles:
        text = " ".join(titles) if isinstance(titles, list) else titles
        match = _PLOT_SCALE.search(text)
        if match:
            return float(match.group(1))
    return None


def read_envi_library(
    path: str | os.PathLike[str],
    *,
    sort_wavelengths: bool = False,
    bad_bands: Literal["nan", "keep"] = "nan",
    scale: float | None = None,
    wavelength_unit: str | None = None,
    quantity: str = "reflectance",
    properties: Sequence[str] | None = None,
    sidecars: bool = True,
    name: str | None = None,
) -> SpectralLibrary:
    """Read an ENVI spectral library (``.sli`` + ``.hdr``).

    Values equal to the header's ``data ignore value`` and the USGS SPECPR deleted-channel value
    ``-1.23e34`` become NaN. Stored values are divided by ``scale`` (default: the header's
    ``reflectance scale factor``, else an ``[*10000]``-style label in ``z plot titles``, else 1).
    Records that are not spectra (USGS wavelength, resolution and error-bar records) are dropped; a
    wavelength record supplies the band centres when the header has no ``wavelength`` field.
    A strictly decreasing axis is reversed; any other non-increasing axis raises unless
    ``sort_wavelengths`` is True.

    Metadata has one row per spectrum with ``name`` (the ``spectra names``, stripped) and, when
    ``sidecars`` is True and an EnMAP-Box ``<stem>.csv`` sits beside the data, its columns (e.g. the
    Berlin library's ``level_1``..``level_3`` class names) plus ``<column>_id`` class codes from
    ``<stem>.json``. Spectra with the same name share a ``sample_id``.

    Args:
        path: the ``.hdr`` file or the data file (``.sli``, ``.esl``, ``.lib``) beside it.
        sort_wavelengths: reorder non-monotonic band centres (and the data columns) by wavelength
            instead of raising :class:`WavelengthOrderError`.
        bad_bands: ``"nan"`` sets the bands that the header's ``bbl`` marks 0 to NaN; ``"keep"`` keeps
            their values.
        scale: divisor from stored values to reflectance 0-1 (e.g. 10000); None reads it from the header.
        wavelength_unit: ``"nm"``, ``"um"`` or ``"cm-1"``, overriding (or standing in for a missing)
            ``wavelength units``.
        quantity: ``"reflectance"`` or ``"absorbance"``.
        properties: metadata columns (from the ``.csv`` sidecar) that are measured properties: moved to
            ``properties`` as float64, NaN where missing.
        sidecars: read the EnMAP-Box ``.csv``/``.json`` sidecars when present.
        name: library name; default the file stem.

    Returns:
        A :class:`SpectralLibrary` with spectra of shape (N, B) (float32 when the file stores float32,
        else float64) and float64 band centres of shape (B,), increasing, in the header's unit (nm, um
        or cm-1).

    Raises:
        SpectralLibraryError: If the files are missing, the header is not a spectral library's
            (``bands`` other than 1, complex data), the data file is too short, a wavelength list has the
            wrong length, or a sidecar disagrees with the header.
        UnknownUnitError: If ``wavelength units`` is missing or unknown and ``wavelength_unit`` is None.
        WavelengthOrderError: If band centres repeat, or are not monotonic and ``sort_wavelengths`` is False.

    Warns:
        UserWarning: If reflectance, after scaling, exceeds 2 (percent or x10000 values without a
            declared scale factor).
    """
    header, data_path = _files(Path(path))
    fields = read_envi_header(header)
    source = header.name
    bands = int(_number(fields, "bands", header, default=1.0))
    if bands != 1:
        raise SpectralLibraryError(
            f"{source} describes an image with {bands} bands, not a spectral library (bands = 1): "
            "open it with eospec.io.open_scene"
        )
    n_bands = int(_number(fields, "samples", header))
    n_spectra = int(_number(fields, "lines", header))
    code = int(_number(fields, "data type", header))
    if code not in _ENVI_DTYPES:
        raise SpectralLibraryError(
            f"data type {code} of {source} is not a real number type: use one of {sorted(_ENVI_DTYPES)}"
        )
    order = "<" if int(_number(fields, "byte order", header, default=0.0)) == 0 else ">"
    dtype = np.dtype(order + _ENVI_DTYPES[code])
    offset = int(_number(fields, "header offset", header, default=0.0))
    expected = offset + n_spectra * n_bands * dtype.itemsize
    if data_path.stat().st_size < expected:
        raise SpectralLibraryError(
            f"{data_path.name} has {data_path.stat().st_size} bytes but the header needs {expected} "
            f"({n_spectra} spectra x {n_bands} bands of {dtype.name}): the file is truncated or the header is wrong"
        )
    raw = np.fromfile(data_path, dtype=dtype, count=n_spectra * n_bands, offset=offset).reshape(n_spectra, n_bands)
    values: npt.NDArray[np.floating] = raw.astype(
        np.float32 if raw.dtype.kind == "f" and raw.dtype.itemsize == 4 else np.float64
    )

    names_field = fields.get("spectra names")
    if names_field is None:
        names = [f"spectrum {i + 1}" for i in range(n_spectra)]
    else:
        names = list(names_field) if isinstance(names_field, list) else [names_field]
        names = [item.strip() for item in names]
        if len(names) != n_spectra:
            raise SpectralLibraryError(f"'spectra names' of {source} lists {len(names)} names for {n_spectra} spectra")

    ignore = _number(fields, "data ignore value", header, default=np.nan)
    missing = np.isclose(values, SPECPR_DELETED, rtol=1e-5, atol=0.0)
    if np.isfinite(ignore):
        missing |= np.isclose(values, ignore, rtol=1e-6, atol=0.0) if ignore != 0 else values == 0
    values[missing] = np.nan

    wavelengths = _floats(fields, "wavelength", header, n_bands)
    keep = np.ones(n_spectra, dtype=bool)
    for row, label in enumerate(names):
        if _WAVELENGTH_RECORD.match(label):
            keep[row] = False
            if wavelengths is None:
                # shortest decimals of the stored numbers: float32 0.4 reads as 0.4, not 0.4000000059604645
                wavelengths = raw[row].astype(str).astype(np.float64)
        elif _BANDPASS_RECORD.match(label) or _ERROR_RECORD.match(label):
            keep[row] = False
    if wavelengths is None:
        raise SpectralLibraryError(
            f"{source} has no 'wavelength' field (and no wavelength record): band centres are unknown"
        )
    unit = normalise_unit(
        wavelength_unit if wavelength_unit is not None else _text(fields.get("wavelength units")),
        f"{source} ('wavelength units')",
    )

    all_names = names
    values = values[keep]
    names = [label for label, kept in zip(names, keep, strict=True) if kept]
    if bad_bands not in ("nan", "keep"):
        raise ValueError(f"bad_bands={bad_bands!r} is unknown: use 'nan' or 'keep'")
    bbl = _floats(fields, "bbl", header, n_bands)
    if bbl is not None and bad_bands == "nan":
        values[:, bbl == 0] = np.nan
    divisor = scale if scale is not None else scale_hint(fields)
    if divisor is not None:
        if not (np.isfinite(divisor) and divisor > 0):
            raise ValueError(f"scale={divisor!r} must be a positive number, e.g. 10000")
        values /= divisor

    warn_if_scaled(values, quantity, source)
    columns = order_axis(wavelengths, source, sort_wavelengths)
    if columns is not None:
        wavelengths = wavelengths[columns]
        values = values[:, columns]

    metadata = pd.DataFrame({"name": names})
    if sidecars:
        extra = _sidecars(data_path, all_names, source)
        if extra is not None:
            extra = extra.loc[keep].reset_index(drop=True)
            metadata = pd.concat([metadata, extra], axis=1)
    metadata, property_table = split_properties(metadata, properties, source)
    return SpectralLibrary(
        spectra=values,
        wavelengths=wavelengths,
        wavelength_unit=unit,
        quantity=quantity,
        metadata=metadata,
        properties=property_table,
        sample_ids=np.asarray(names, dtype=object),
        name=name if name is not None else data_path.stem,
    )


def _text(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return ", ".join(value)
    return value

"""Raw instrument files: ASD FieldSpec/LabSpec ``.asd`` (vis-NIR) and Bruker OPUS (MIR), through existing readers.

Both readers are the optional extra ``instruments`` (``pip install "eospec[instruments]"``), imported
only when a function here is called:

* ``.asd`` files are decoded by SpecDAL (``specdal.reader.read_asd``; the EnSpec lab's package).
  A raw (DN) file stores the target and the white-reference spectrum; reflectance is their ratio,
  target / reference, at each wavelength (the ``get_pct_reflect`` of SpecDAL, and the
  ``get_spectra(type = "reflectance")`` of the R package asdreader, which normalises both by the same
  integration time and detector gains before dividing, so that those cancel). It is reflectance
  relative to the reference panel: the panel's own calibration is not applied. ASD spectrometers
  join three detectors (VNIR, SWIR1, SWIR2) at the splice wavelengths in the file header (e.g. 1000
  and 1830 nm), where a small step can appear; ``jump_correct=True`` removes it with SpecDAL's additive
  jump correction, shifting the VNIR and SWIR2 segments to meet the SWIR1 segment.
* OPUS files are decoded by brukeropusreader: eospec reads the spectrum of the ``AB`` data block with
  its ``AB Data Parameter`` block (first and last x ``FXV``/``LXV``, number of points ``NPT``, y
  scaling ``CSF``, x unit ``DXU``; the parameter names of Bruker's OPUS reference manual). Two
  faults of brukeropusreader 1.3 are avoided: when a file also has a text block of the ``AB`` type
  (e.g. a report), ``read_file`` returns that block in place of the spectrum, and its x axis uses the
  stored block length instead of ``NPT`` (blocks are padded). eospec picks the data block and keeps
  the first ``NPT`` values. Wavenumbers (cm-1) are stored increasing, the values reversed with them.

Several files become one library. Each file's sample id comes from its name (``sample_id=``); files
that share an id are repeats of one sample.
"""

from __future__ import annotations

import importlib
import os
import re
import struct
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import DataPackageMissingError, SpectralLibraryError, UnknownUnitError
from .core import SpectralLibrary

__all__ = ["read_asd", "read_opus"]

PathsLike = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
SampleIdLike = str | Callable[[Path], str] | None

#: Byte offsets of the two splice wavelengths (float32, nm) in an ASD file header (ASD File Format v8).
_ASD_SPLICE_OFFSETS = (444, 448)
#: OPUS x-axis units (``DXU``) that eospec reads.
_OPUS_UNITS = {"WN": "cm-1", "MI": "um"}
_OPUS_REPEAT = re.compile(r"\.\d+$")


def _require(module: str) -> ModuleType:
    """Import an optional reader, or raise DataPackageMissingError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        raise DataPackageMissingError(
            f"reading raw instrument files needs the optional package {package!r}, which is not installed: "
            'pip install "eospec[instruments]"'
        ) from error


def _collect(paths: PathsLike, matches: Callable[[Path], bool], kind: str) -> list[Path]:
    """Files from a path, a folder (its matching files, sorted) or a list of paths."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and matches(p))
            if not found:
                raise SpectralLibraryError(f"folder {path} holds no {kind} files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise SpectralLibraryError(f"{path} does not exist: give {kind} files or a folder of them")
    if not files:
        raise SpectralLibraryError(f"no {kind} file given")
    return files


def _sample_id(path: Path, sample_id: SampleIdLike, default: Callable[[Path], str]) -> str:
    """Sample id of one file: a regex on the file name (group ``id`` or the first group), a function, or the default."""
    if sample_id is None:
        return default(path)
    if callable(sample_id):
        return str(sample_id(path))
    match = re.search(sample_id, path.name)
    if match is None:
        raise SpectralLibraryError(f"sample_id pattern {sample_id!r} does not match the file name {path.name!r}")
    if "id" in match.groupdict():
        return str(match.group("id"))
    return str(match.group(1) if match.groups() else match.group(0))


def _stack(
    axes: list[npt.NDArray[np.float64]], values: list[npt.NDArray[np.float64]], files: list[Path], unit: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """One (N, B) matrix when every file has the same axis, else SpectralLibraryError listing the axes."""
    reference = axes[0]
    for path, axis in zip(files, axes, strict=True):
        if axis.size != reference.size or not np.allclose(axis, reference, rtol=0.0, atol=1e-6 * abs(reference[-1])):
            raise SpectralLibraryError(
                f"{path.name} has {axis.size} bands {axis[0]:g}-{axis[-1]:g} {unit} but {files[0].name} has "
                f"{reference.size} bands {reference[0]:g}-{reference[-1]:g} {unit}: read files of each axis "
                "separately, and resample them to one grid before combining (SpectralLibrary.resample)"
            )
    return reference, np.vstack(values)


# ----------------------------------------------------------------------------------------------
# ASD
# ----------------------------------------------------------------------------------------------


def _read_one_asd(path: Path, jump_correct: bool) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], dict]:
    reader = _require("specdal.reader")
    misc = _require("specdal.utils.misc")
    try:
        data, meta = reader.read_asd(str(path))
    except Exception as error:  # specdal asserts and raises struct errors on files it cannot parse
        raise SpectralLibraryError(
            f"{path.name} cannot be read as an ASD file ({type(error).__name__}: {error}): is it a binary .asd "
            "file from an ASD FieldSpec/LabSpec/TerraSpec?"
        ) from error
    reference_column = [c for c in data.columns if c.startswith("ref_")]
    if not reference_column or data[reference_column[0]].isna().all():
        raise SpectralLibraryError(
            f"{path.name} has no white-reference spectrum (ASD file version {meta.get('measurement_type')}), "
            "so its reflectance cannot be computed: export reflectance from the instrument software instead"
        )
    series = misc.get_pct_reflect(data.astype(np.float64))
    if jump_correct:
        operator = _require("specdal.operator")
        with path.open("rb") as handle:
            header = handle.read(max(_ASD_SPLICE_OFFSETS) + 4)
        splices = [struct.unpack("<f", header[o : o + 4])[0] for o in _ASD_SPLICE_OFFSETS]
        series = operator.jump_correct(series.copy(), splices, reference=1)
    wavelengths = np.asarray(series.index, dtype=np.float64)
    info = {
        "file": path.name,
        "instrument": "ASD",
        "spectrum_type": meta.get("measurement_type"),
        "integration_time_ms": meta.get("integration_time"),
    }
    return wavelengths, series.to_numpy(dtype=np.float64), info


def read_asd(
    paths: PathsLike,
    *,
    jump_correct: bool = False,
    sample_id: SampleIdLike = None,
    name: str = "asd",
) -> SpectralLibrary:
    r"""Read ASD ``.asd`` files (vis-NIR, typically 350-2500 nm at 1 nm) as reflectance.

    Reflectance is target / white reference at each wavelength, as SpecDAL and asdreader compute it
    (see the module docstring); it is relative to the reference panel.

    Args:
        paths: an ``.asd`` file, a folder (all its ``.asd`` files, sorted by name), or a list of files.
        jump_correct: remove the steps at the detector splices (SpecDAL's additive jump correction,
            SWIR1 held fixed).
        sample_id: how a file name gives its sample id: None for the name without ``.asd``; a regular
            expression searched in the file name, whose group ``id`` (or first group) is the id (e.g.
            ``r"(?P<id>\d+)MD\d+"`` groups KSSL scans ``235157MD01.asd`` and ``235157MD02.asd``); or a
            function of the path.
        name: library name.

    Returns:
        A :class:`SpectralLibrary` of reflectance (fraction), float64 of shape (N, B), wavelengths in nm
        (float64, shape (B,)); metadata ``file``, ``instrument``, ``spectrum_type`` (e.g. ``RAW_TYPE``),
        ``integration_time_ms``.

    Raises:
        DataPackageMissingError: If SpecDAL is not installed (``pip install "eospec[instruments]"``).
        SpectralLibraryError: If a path is missing, a file is not an ASD file or has no white reference,
            or the files have different wavelength axes.
    """
    files = _collect(paths, lambda p: p.suffix.lower() == ".asd", "ASD (.asd)")
    axes, values, rows = [], [], []
    for path in files:
        axis, spectrum, info = _read_one_asd(path, jump_correct)
        axes.append(axis)
        values.append(spectrum)
        rows.append(info)
    wavelengths, spectra = _stack(axes, values, files, "nm")
    ids = [_sample_id(path, sample_id, lambda p: p.stem) for path in files]
    return SpectralLibrary(
        spectra=spectra,
        wavelengths=wavelengths,
        wavelength_unit="nm",
        quantity="reflectance",
        metadata=pd.DataFrame(rows),
        sample_ids=np.asarray(ids, dtype=object),
        name=name,
    )


# ----------------------------------------------------------------------------------------------
# Bruker OPUS
# ----------------------------------------------------------------------------------------------


def _opus_time(parameters: dict[str, Any]) -> pd.Timestamp:
    """Acquisition time (UTC) from ``DAT`` ("14/07/2015") and ``TIM`` ("14:52:39.366 (GMT-5)"), or NaT."""
    date = str(parameters.get("DAT", "")).strip()
    time = str(parameters.get("TIM", "")).strip()
    match = re.fullmatch(r"(\d{1,2}:\d{2}:\d{2})(\.\d+)?\s*(?:\(GMT([+-]\d{1,2})?(?::?(\d{2}))?\))?", time)
    if not date or match is None:
        return pd.NaT
    try:
        moment = datetime.strptime(f"{date} {match.group(1)}", "%d/%m/%Y %H:%M:%S")
    except ValueError:
        return pd.NaT
    if match.group(2):
        moment += timedelta(seconds=float(match.group(2)))
    sign = -1 if (match.group(3) or "+").startswith("-") else 1
    offset = sign * timedelta(hours=abs(int(match.group(3) or 0)), minutes=int(match.group(4) or 0))
    return pd.Timestamp(moment.replace(tzinfo=timezone(offset))).tz_convert(UTC)


def _read_one_opus(path: Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str, dict]:
    parser = _require("brukeropusreader.opus_parser")
    block_parser = _require("brukeropusreader.block_parser")
    data = path.read_bytes()
    try:
        blocks = parser.parse_meta(data)
        parsed = parser.parse_data(data, blocks)
    except Exception as error:  # struct/unicode errors on files that are not OPUS
        raise SpectralLibraryError(
            f"{path.name} cannot be read as a Bruker OPUS file ({type(error).__name__}: {error})"
        ) from error
    parameters = parsed.get("AB Data Parameter")
    spectra_blocks = [b for b in blocks if b.data_type == 15 and b.text_type == 0]
    if not isinstance(parameters, dict) or not spectra_blocks:
        raise SpectralLibraryError(
            f"{path.name} has no AB (absorbance) spectrum block: it is not an OPUS spectrum file, or holds only "
            "interferograms or single-channel spectra; save the absorbance spectrum in OPUS first"
        )
    try:
        npt_value = int(parameters["NPT"])
        first, last = float(parameters["FXV"]), float(parameters["LXV"])
    except (KeyError, TypeError, ValueError) as error:
        raise SpectralLibraryError(f"the AB Data Parameter block of {path.name} lacks NPT/FXV/LXV: {error}") from error
    block = next((b for b in spectra_blocks if b.chunk_size >= npt_value), None)
    if block is None or npt_value < 2:
        raise SpectralLibraryError(
            f"the AB block of {path.name} holds fewer values than its NPT = {npt_value}: the file is truncated"
        )
    acquisition = parsed.get("Acquisition", {})
    result = str(acquisition.get("PLF", "AB")) if isinstance(acquisition, dict) else "AB"
    if result != "AB":
        raise SpectralLibraryError(
            f"the result spectrum of {path.name} is {result!r} (OPUS PLF), not absorbance 'AB': convert it to "
            "absorbance in OPUS, or read it with brukeropusreader directly"
        )
    dxu = str(parameters.get("DXU", "WN"))
    if dxu not in _OPUS_UNITS:
        raise UnknownUnitError(
            f"x unit {dxu!r} (DXU) of {path.name} is unknown: eospec reads 'WN' (wavenumber, cm-1) and 'MI' (um)"
        )
    scale = float(parameters.get("CSF", 1.0) or 1.0)
    values = np.asarray(block_parser.parse_series(data, block), dtype=np.float64)[:npt_value] * scale
    axis = np.linspace(first, last, npt_value)
    if axis[0] > axis[-1]:
        axis, values = axis[::-1].copy(), values[::-1].copy()
    sample = parsed.get("Sample", {})
    instrument = parsed.get("Instrument", {})
    info = {
        "file": path.name,
        "instrument": instrument.get("INS") if isinstance(instrument, dict) else None,
        "sample_name": sample.get("SNM") if isinstance(sample, dict) else None,
        "resolution_cm-1": acquisition.get("RES") if isinstance(acquisition, dict) else None,
        "acquired": _opus_time(parameters),
    }
    return axis, values, _OPUS_UNITS[dxu], info


def _is_opus_name(path: Path) -> bool:
    return _OPUS_REPEAT.search(path.name) is not None


def read_opus(
    paths: PathsLike,
    *,
    sample_id: SampleIdLike = None,
    name: str = "opus",
) -> SpectralLibrary:
    """Read Bruker OPUS files (MIR, e.g. 600-4000 cm-1) as absorbance from their AB block.

    Args:
        paths: an OPUS file (OPUS numbers repeats ``sample.0``, ``sample.1``, ...), a folder (its files
            whose extension is a number, sorted by name), or a list of files.
        sample_id: how a file name gives its sample id: None for the name without its numeric extension
            (so ``sample.0`` and ``sample.1`` are repeats of ``sample``); a regular expression searched in
            the file name, whose group ``id`` (or first group) is the id; or a function of the path.
        name: library name.

    Returns:
        A :class:`SpectralLibrary` of absorbance, float64 of shape (N, B), with float64 wavenumbers in
        cm-1 (or um when the file's ``DXU`` is ``MI``) of shape (B,), increasing; metadata ``file``,
        ``instrument``, ``sample_name`` (OPUS ``SNM``), ``resolution_cm-1`` and ``acquired`` (UTC).

    Raises:
        DataPackageMissingError: If brukeropusreader is not installed (``pip install "eospec[instruments]"``).
        SpectralLibraryError: If a path is missing, a file is not an OPUS spectrum with an AB block, its
            result spectrum is not absorbance, or the files have different axes.
        UnknownUnitError: If the x unit (``DXU``) is neither wavenumber nor micrometres.
    """
    files = _collect(paths, _is_opus_name, "Bruker OPUS (.0, .1, ...)")
    axes, values, rows, units = [], [], [], []
    for path in files:
        axis, spectrum, unit, info = _read_one_opus(path)
        axes.append(axis)
        values.append(spectrum)
        units.append(unit)
        rows.append(info)
    if len(set(units)) > 1:
        raise SpectralLibraryError(f"the OPUS files mix x units {sorted(set(units))}: read each unit separately")
    wavenumbers, spectra = _stack(axes, values, files, units[0])
    ids = [_sample_id(path, sample_id, lambda p: _OPUS_REPEAT.sub("", p.name)) for path in files]
    return SpectralLibrary(
        spectra=spectra,
        wavelengths=wavenumbers,
        wavelength_unit=units[0],
        quantity="absorbance",
        metadata=pd.DataFrame(rows),
        sample_ids=np.asarray(ids, dtype=object),
        name=name,
    )

r"""Spectral-axis units (nm, um, cm-1) and the reflectance <-> absorbance conversion.

eospec knows three units for the position of a spectral sample: wavelength in nanometres
(``"nm"``) or micrometres (``"um"``), and wavenumber in reciprocal centimetres (``"cm-1"``, the
unit of mid-infrared FTIR spectra). They convert exactly by

.. math:: \lambda_{\mathrm{um}} = \lambda_{\mathrm{nm}} / 1000, \qquad
          \tilde\nu_{\mathrm{cm^{-1}}} = 10^{7} / \lambda_{\mathrm{nm}} = 10^{4} / \lambda_{\mathrm{um}},

so 1000 nm = 1 um = 10000 cm-1. Wavenumber falls as wavelength rises: an increasing wavelength
axis becomes a decreasing wavenumber axis. :func:`convert_axis` keeps the order of the values;
:func:`convert_spectra` also reverses the axis and the spectra's last axis so that the result
increases, which is what every eospec function expects.

Functions take the strict unit names only; :func:`parse_unit` reads the spellings found in file
headers ("Nanometers", "Micrometers", "1/cm", ...). Convert at the edges: read in the file's unit,
convert once, compute in one unit.

Absorbance is the decadic "apparent absorbance" of diffuse-reflectance spectroscopy,
:math:`A = \log_{10}(1/R)` (e.g. Stenberg et al. 2010, *Advances in Agronomy* 107:163-215).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from .errors import MixedUnitsError, UnknownUnitError, WavelengthOrderError

__all__ = [
    "UNITS",
    "ABSORBANCE_FLOOR",
    "check_unit",
    "parse_unit",
    "common_unit",
    "convert_axis",
    "convert_width",
    "convert_spectra",
    "check_axis",
    "reflectance_to_absorbance",
    "absorbance_to_reflectance",
]

FloatArray = npt.NDArray[np.float64]

#: The spectral-axis units eospec computes in.
UNITS: tuple[str, ...] = ("nm", "um", "cm-1")

#: Default lower bound applied to reflectance before ``log10(1/R)``: the same 1e-4 that the
#: bundled models use (:mod:`eospec.models.runtime`), so absorbance is at most 4.
ABSORBANCE_FLOOR = 1e-4

#: Spellings found in file headers (ENVI ``wavelength units``, CSV column titles), lower case.
_ALIASES: dict[str, str] = {
    "nm": "nm",
    "nanometer": "nm",
    "nanometers": "nm",
    "nanometre": "nm",
    "nanometres": "nm",
    "um": "um",
    "µm": "um",
    "μm": "um",
    "micrometer": "um",
    "micrometers": "um",
    "micrometre": "um",
    "micrometres": "um",
    "micron": "um",
    "microns": "um",
    "cm-1": "cm-1",
    "cm^-1": "cm-1",
    "cm⁻¹": "cm-1",
    "1/cm": "cm-1",
    "wavenumber": "cm-1",
    "wavenumbers": "cm-1",
}

#: Plausible axis values per unit, used by :func:`check_axis` to catch an axis declared in the
#: wrong unit (micrometres passed as nanometres, or the reverse). nm and cm-1 ranges overlap
#: (350-2500 nm vs 600-4000 cm-1), so the two cannot be told apart from the values.
_PLAUSIBLE: dict[str, tuple[float, float]] = {"nm": (100.0, 1.0e6), "um": (0.1, 1000.0), "cm-1": (1.0, 1.0e5)}


def check_unit(unit: str) -> str:
    """Check that a unit is one eospec computes in.

    Args:
        unit: ``"nm"``, ``"um"`` or ``"cm-1"`` exactly.

    Returns:
        The unit, unchanged.

    Raises:
        UnknownUnitError: If ``unit`` is anything else (e.g. ``"nanometers"``: read such spellings
            with :func:`parse_unit`).
    """
    if not isinstance(unit, str) or unit not in UNITS:
        hint = f" (did you mean {_ALIASES[unit.strip().lower()]!r}?)" if _alias(unit) else ""
        raise UnknownUnitError(
            f"spectral axis unit {unit!r} is unknown: use one of 'nm', 'um', 'cm-1'{hint}; "
            "eospec.units.parse_unit reads header spellings such as 'Nanometers'"
        )
    return unit


def _alias(unit: object) -> bool:
    return isinstance(unit, str) and unit.strip().lower() in _ALIASES


def parse_unit(text: str) -> str:
    """Canonical unit from the way a file header spells it.

    Args:
        text: e.g. ``"Nanometers"``, ``"micrometers"``, ``"µm"``, ``"1/cm"``, ``"Wavenumber"``
            (case and surrounding blanks are ignored).

    Returns:
        ``"nm"``, ``"um"`` or ``"cm-1"``.

    Raises:
        UnknownUnitError: If the spelling is not one eospec knows (e.g. ``"Unknown"`` in an ENVI
            header): give the unit explicitly.
    """
    if not _alias(text):
        raise UnknownUnitError(
            f"spectral axis unit {text!r} is unknown: use one of 'nm', 'um', 'cm-1' "
            f"(or a spelling such as 'nanometers', 'micrometers', '1/cm')"
        )
    return _ALIASES[text.strip().lower()]


def common_unit(units: Iterable[str]) -> str:
    """The one unit shared by several spectra, libraries or sensors.

    Args:
        units: the units to combine, each ``"nm"``, ``"um"`` or ``"cm-1"``.

    Returns:
        The shared unit.

    Raises:
        UnknownUnitError: If a unit is unknown.
        MixedUnitsError: If the units differ (convert them to one unit with :func:`convert_axis`
            or :func:`convert_spectra` first), or if there are none.
    """
    found = [check_unit(unit) for unit in units]
    if not found:
        raise MixedUnitsError("no spectral axis unit given: pass at least one of 'nm', 'um', 'cm-1'")
    distinct = sorted(set(found))
    if len(distinct) > 1:
        raise MixedUnitsError(
            f"spectral axes in mixed units {distinct} cannot be combined: convert them to one unit first "
            "with eospec.units.convert_spectra(axis, spectra, from_unit, to_unit)"
        )
    return distinct[0]


def convert_axis(values: npt.ArrayLike, from_unit: str, to_unit: str) -> FloatArray:
    """Convert spectral positions between nm, um and cm-1, keeping their order.

    Args:
        values: float array of any shape, positions in ``from_unit`` (> 0 for a wavenumber
            conversion).
        from_unit: ``"nm"``, ``"um"`` or ``"cm-1"``.
        to_unit: ``"nm"``, ``"um"`` or ``"cm-1"``.

    Returns:
        float64 array of the same shape in ``to_unit`` (a new array). An increasing wavelength
        axis gives a decreasing wavenumber axis: see :func:`convert_spectra` to reorder.

    Raises:
        UnknownUnitError: If a unit is not one of :data:`UNITS`.
        ValueError: If a wavenumber conversion meets a value <= 0.
    """
    check_unit(from_unit)
    check_unit(to_unit)
    array = np.array(values, dtype=np.float64)
    if from_unit == to_unit:
        return array
    if "cm-1" in (from_unit, to_unit) and np.any(array <= 0):
        raise ValueError(
            f"cannot convert {from_unit} -> {to_unit}: values must be > 0, got minimum {float(np.nanmin(array))!r}"
        )
    nm = array if from_unit == "nm" else array * 1000.0 if from_unit == "um" else 1.0e7 / array
    if to_unit == "nm":
        return nm
    if to_unit == "um":
        return nm / 1000.0
    return 1.0e7 / nm


def convert_width(centres: npt.ArrayLike, widths: npt.ArrayLike, from_unit: str, to_unit: str) -> FloatArray:
    r"""Convert band widths (e.g. FWHM) between units.

    Between nm and um a width scales exactly (``w / 1000``). Between wavelength and wavenumber it
    scales with the local derivative at the band centre,
    :math:`\Delta\tilde\nu = \Delta\lambda\,\tilde\nu / \lambda` (i.e.
    :math:`10^7\,\Delta\lambda / \lambda^2` for nm and cm-1), which is exactly invertible and
    differs from the edge-to-edge width by a relative :math:`(\Delta\lambda / 2\lambda)^2`
    (< 1e-4 for a 10 nm band at 1000 nm). A response that is Gaussian in wavelength is only
    approximately Gaussian in wavenumber.

    Args:
        centres: shape (B,), band centres in ``from_unit`` (> 0).
        widths: shape (B,) or scalar, band widths in ``from_unit``.
        from_unit: ``"nm"``, ``"um"`` or ``"cm-1"``.
        to_unit: ``"nm"``, ``"um"`` or ``"cm-1"``.

    Returns:
        float64 array of shape (B,), widths in ``to_unit`` (same sign as the input).

    Raises:
        UnknownUnitError: If a unit is unknown.
        ValueError: If a wavenumber conversion meets a centre <= 0.
    """
    c = np.asarray(centres, dtype=np.float64)
    w = np.array(np.broadcast_to(np.asarray(widths, dtype=np.float64), c.shape))
    if "cm-1" not in (from_unit, to_unit) or from_unit == to_unit:
        return convert_axis(w, from_unit, to_unit)  # a linear scaling: exact
    converted = convert_axis(c, from_unit, to_unit)
    return w * converted / c


def check_axis(values: npt.ArrayLike, unit: str, name: str = "wavelengths") -> FloatArray:
    """Check a spectral axis: 1-D, finite, strictly increasing, and plausible for its unit.

    Args:
        values: shape (S,), positions in ``unit``.
        unit: ``"nm"``, ``"um"`` or ``"cm-1"``.
        name: what to call the axis in error messages.

    Returns:
        The axis as a float64 array of shape (S,).

    Raises:
        UnknownUnitError: If ``unit`` is unknown.
        WavelengthOrderError: If the axis is not 1-D with at least 2 finite values, or not strictly
            increasing (the message gives the first offending position).
        MixedUnitsError: If the values cannot be in ``unit`` (e.g. 0.35-2.5 declared as ``"nm"``:
            they are micrometres; convert with :func:`convert_axis`).
    """
    check_unit(unit)
    axis = np.asarray(values, dtype=np.float64)
    if axis.ndim != 1 or axis.size < 2:
        raise WavelengthOrderError(f"{name} must be a 1-D array of at least 2 values, got shape {axis.shape}")
    if not np.all(np.isfinite(axis)):
        raise WavelengthOrderError(f"{name} must be finite; position {int(np.argmin(np.isfinite(axis)))} is not")
    steps = np.diff(axis)
    if np.all(steps < 0):
        raise WavelengthOrderError(
            f"{name} in {unit} must be strictly increasing but decrease from {float(axis[0])!r} to "
            f"{float(axis[-1])!r}: reverse the axis together with the spectra (eospec.units.convert_spectra does this)"
        )
    if not np.all(steps > 0):
        index = int(np.argmin(steps > 0))
        raise WavelengthOrderError(
            f"{name} in {unit} must be strictly increasing: {float(axis[index + 1])!r} at position {index + 1} "
            f"follows {float(axis[index])!r}; sort the spectra by position and drop repeated positions"
        )
    low, high = _PLAUSIBLE[unit]
    if axis[0] < low or axis[-1] > high:
        guesses = [
            other for other, (lo, hi) in _PLAUSIBLE.items() if other != unit and lo <= axis[0] and axis[-1] <= hi
        ]
        raise MixedUnitsError(
            f"{name} span {axis[0]:g}-{axis[-1]:g}, which is not a plausible range in {unit!r} "
            f"({low:g}-{high:g}); they look like {' or '.join(repr(g) for g in guesses) or 'another unit'}: "
            "declare the right unit or convert with eospec.units.convert_axis"
        )
    return axis


def convert_spectra(
    axis: npt.ArrayLike,
    spectra: npt.ArrayLike,
    from_unit: str,
    to_unit: str,
) -> tuple[FloatArray, FloatArray]:
    """Convert a spectral axis to another unit and return it increasing, with the spectra reordered.

    Converting an increasing wavelength axis to wavenumber (or back) reverses its order; this
    function then flips the axis and the spectra's last axis together so that both increase
    again. The values of the spectra are not changed (no Jacobian: reflectance and absorbance
    are ratios, not spectral densities).

    Args:
        axis: shape (S,), strictly monotonic positions in ``from_unit``.
        spectra: shape (..., S), values on that axis.
        from_unit: ``"nm"``, ``"um"`` or ``"cm-1"``.
        to_unit: ``"nm"``, ``"um"`` or ``"cm-1"``.

    Returns:
        ``(axis, spectra)``: float64 arrays of shape (S,) (strictly increasing, in ``to_unit``)
        and (..., S).

    Raises:
        UnknownUnitError: If a unit is unknown.
        WavelengthOrderError: If ``axis`` is not strictly monotonic.
        ValueError: If the spectra's last axis is not S long.
    """
    positions = np.asarray(axis, dtype=np.float64)
    values = np.array(spectra, dtype=np.float64)
    if values.shape[-1:] != positions.shape:
        raise ValueError(f"Expected spectra with {positions.size} values on the last axis but got {values.shape}")
    converted = convert_axis(positions, from_unit, to_unit)
    if converted.size > 1 and converted[0] > converted[-1]:
        converted = converted[::-1].copy()
        values = values[..., ::-1].copy()
    check_axis(converted, to_unit, name="converted axis")
    return converted, values


def reflectance_to_absorbance(reflectance: npt.ArrayLike, floor: float | None = ABSORBANCE_FLOOR) -> FloatArray:
    r"""Apparent absorbance :math:`A = \log_{10}(1/R)` of reflectance.

    Reflectance at or below ``floor`` (including zero and negative values, which a log cannot
    take) is raised to ``floor`` first, so the absorbance is at most :math:`-\log_{10}(floor)`
    (4 for the default 1e-4, the clip the bundled models use). With ``floor=None`` such values
    give NaN instead. NaN stays NaN.

    Args:
        reflectance: array of any shape, reflectance as a fraction (0-1, not percent).
        floor: the smallest reflectance used (> 0), or None for NaN at R <= 0.

    Returns:
        float64 array of the same shape, absorbance (unitless).

    Raises:
        ValueError: If ``floor`` is not positive.
    """
    values = np.asarray(reflectance, dtype=np.float64)
    if floor is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(values > 0, -np.log10(np.where(values > 0, values, 1.0)), np.nan)
    if not floor > 0:
        raise ValueError(f"floor must be > 0 (a reflectance fraction), got {floor!r}")
    return 0.0 - np.log10(np.maximum(values, floor))  # np.maximum keeps NaN; 0.0 - x avoids -0.0


def absorbance_to_reflectance(absorbance: npt.ArrayLike) -> FloatArray:
    r"""Reflectance :math:`R = 10^{-A}` from apparent absorbance (inverse of :func:`reflectance_to_absorbance`).

    Args:
        absorbance: array of any shape, :math:`\log_{10}(1/R)` (unitless).

    Returns:
        float64 array of the same shape, reflectance as a fraction (0-1 for A >= 0).
    """
    return np.power(10.0, -np.asarray(absorbance, dtype=np.float64))

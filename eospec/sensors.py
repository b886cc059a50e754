r"""Sensor catalogue, band definitions and spectral resampling by spectral response functions (SRFs).

A :class:`Sensor` holds band centres and widths (full width at half maximum, FWHM), optionally
tabulated responses, bad bands, band names and a default band subset. Its ``wavelengths_nm`` and
``fwhm_nm`` are always in nanometres (nm); ``unit`` names the sensor's native axis unit (``"nm"``
for imaging spectrometers, ``"cm-1"`` for the KSSL mid-infrared), in which :attr:`Sensor.centres`
and :attr:`Sensor.widths` are reported. The catalogue (:func:`list_sensors`, :func:`get_sensor`)
holds EnMAP, DESIS, EO-1 Hyperion, PRISMA, AVIRIS-Classic, AVIRIS-NG, Sentinel-2A MSI, a lab
spectroradiometer, a portable NIR spectrometer and the KSSL mid-infrared grid; each band table
names its source (``docs/sensors.md`` lists them).

Resampling a finely sampled spectrum :math:`r(\lambda)` to a band :math:`i` with response
:math:`s_i(\lambda)` is the response-weighted mean

.. math:: r_i = \frac{\sum_j s_i(\lambda_j)\, r(\lambda_j)\, \Delta\lambda_j}
                      {\sum_j s_i(\lambda_j)\, \Delta\lambda_j}

(e.g. Schott, *Remote Sensing: The Image Chain Approach*, 2007, Eq. 7.24). A Gaussian response
with full width at half maximum (FWHM) :math:`f` has :math:`\sigma = f / (2\sqrt{2\ln 2})`.

:meth:`Sensor.resample_matrix` applies it between any two spectral axes:

* from a *continuous* source (a lab spectrum, an FTIR spectrum, any plain array of positions) the
  source samples are point values weighted by their sample widths, as above;
* from a *band* source (another imaging sensor) the source band values are interpolated linearly
  between band centres and the target response is applied to that curve; for a Gaussian target
  its width is reduced to :math:`\sqrt{f_t^2 - f_s^2}` because the source bands already blur the
  spectrum by their own FWHM :math:`f_s` (two Gaussian blurs compose in quadrature); a target band
  narrower than the source bands keeps the source's resolution (no deconvolution);
* the target's tabulated SRF is used when it has one, else a Gaussian of its centre and FWHM;
  Gaussians are evaluated in the target's native unit (the source axis is converted to it);
* a target band with less than ``min_coverage`` (default 0.9) of its response inside the range
  where the source has data gets a row of NaN, so its resampled values are NaN rather than
  extrapolated. The source has data between consecutive good bands whose spacing is at most
  1.5 times their mean FWHM; wider spacings (bad-band gaps, multispectral sensors) are holes.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .errors import UnknownSensorError, WavelengthOrderError
from .units import check_axis, check_unit, convert_axis, convert_width

__all__ = [
    "Sensor",
    "enmap",
    "ENMAP_DEFAULT_BANDS",
    "gaussian_srf_matrix",
    "tabulated_srf_matrix",
    "resample",
    "nearest_band",
    "read_srf_table",
    "list_sensors",
    "get_sensor",
]

FloatArray = npt.NDArray[np.float64]
Responses = Sequence[tuple[npt.ArrayLike, npt.ArrayLike]]

#: 1-based EnMAP bands kept by TorchGeo's ``EnMAP.default_bands`` and SpectralEarth (202 bands):
#: bands 127-141 (about 1330-1490 nm) and 161-167 (about 1780-1960 nm) are dropped because the
#: water-vapour absorption there leaves no usable bottom-of-atmosphere signal.
ENMAP_DEFAULT_BANDS: tuple[int, ...] = tuple(list(range(1, 127)) + list(range(142, 161)) + list(range(168, 225)))

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))

#: Consecutive source bands (sorted by position) are contiguous when their spacing is at most this
#: many times their mean FWHM; wider spacings are holes without data.
_CONTIGUOUS_SPACING = 1.5

#: Fine-grid step for band-to-band resampling, as a fraction of the narrowest target FWHM and of the
#: median source spacing; and the most fine-grid points allowed.
_FINE_STEP_FRACTION = 0.1
_MAX_FINE_POINTS = 400_000


def _frozen(values: npt.ArrayLike) -> FloatArray:
    """A read-only float64 copy."""
    array: FloatArray = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Sensor:
    """Bands of a spectrometer: centres, widths, optional tabulated responses, bad and default bands.

    Construct it positionally as before (``Sensor("enmap", wavelengths_nm, fwhm_nm, bad_bands)``),
    with keywords for the rest, or from values in another unit with :meth:`from_axis`. Arrays are
    copied to read-only float64 (bool for ``bad_bands``). Two sensors are equal when all their
    fields are; sensors are hashable, so resampling matrices are cached per (target, source) pair.

    Attributes:
        name: short sensor name, e.g. ``"enmap"``.
        wavelengths_nm: float64 array of shape (B,), band centre wavelengths in nm, in the sensor's
            band order (increasing for most sensors; sensors with overlapping spectrometers, such
            as Hyperion, decrease where one spectrometer hands over to the next; a cm-1 sensor's
            wavelengths decrease). Centres must be distinct.
        fwhm_nm: float64 array of shape (B,), full width at half maximum of each band in nm (> 0).
        bad_bands: bool array of shape (B,), True for bands that carry no usable signal.
        unit: the sensor's native axis unit, ``"nm"``, ``"um"`` or ``"cm-1"`` (see :attr:`centres`).
        srf: optional tabulated responses, one ``(wavelengths_nm, weights)`` pair of float64 arrays
            of shape (K_i,) per band; used instead of Gaussian(centre, FWHM) when present.
        band_names: optional names of the B bands (e.g. TorchGeo's ``"B1"`` ... ``"B224"``).
        default_bands: optional 1-based band numbers of the default subset (EnMAP: the 202 bands
            of TorchGeo/SpectralEarth); None means the good bands.
        continuous: True for a finely sampled continuous spectrum (lab spectroradiometer, FTIR grid):
            as a resampling *source* its samples are point values weighted by their sample widths;
            False for an imaging sensor whose values are band averages.
        description: one line on the sensor.
        source: where the band table comes from (document, file and version).
    """

    name: str
    wavelengths_nm: FloatArray
    fwhm_nm: FloatArray
    bad_bands: npt.NDArray[np.bool_]
    unit: str = "nm"
    srf: tuple[tuple[FloatArray, FloatArray], ...] | None = field(default=None, repr=False)
    band_names: tuple[str, ...] | None = field(default=None, repr=False)
    default_bands: tuple[int, ...] | None = field(default=None, repr=False)
    continuous: bool = False
    description: str = field(default="", repr=False)
    source: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        """Validate the fields and store read-only copies of the arrays.

        Raises:
            ValueError: If shapes disagree, a centre or FWHM is not finite and positive, or the band
                names or default bands do not fit the B bands.
            WavelengthOrderError: If two bands share a centre.
            UnknownUnitError: If ``unit`` is not ``"nm"``, ``"um"`` or ``"cm-1"``.
        """
        check_unit(self.unit)
        centres = _frozen(self.wavelengths_nm)
        fwhm = _frozen(np.broadcast_to(np.asarray(self.fwhm_nm, dtype=np.float64), centres.shape))
        bad = np.array(np.broadcast_to(np.asarray(self.bad_bands, dtype=bool), centres.shape))
        bad.setflags(write=False)
        if centres.ndim != 1 or centres.size < 1:
            raise ValueError(f"sensor {self.name!r}: wavelengths_nm must be a 1-D array of band centres")
        if not np.all(np.isfinite(centres) & (centres > 0)):
            raise ValueError(f"sensor {self.name!r}: band centres must be finite and > 0 nm")
        if not np.all(np.isfinite(fwhm) & (fwhm > 0)):
            raise ValueError(
                f"sensor {self.name!r}: fwhm_nm must be finite and > 0, got {fwhm[~(fwhm > 0)][:3].tolist()}"
            )
        if np.unique(centres).size != centres.size:
            raise WavelengthOrderError(f"sensor {self.name!r}: two bands share a centre; band centres must differ")
        object.__setattr__(self, "wavelengths_nm", centres)
        object.__setattr__(self, "fwhm_nm", fwhm)
        object.__setattr__(self, "bad_bands", bad)
        if self.srf is not None:
            if len(self.srf) != centres.size:
                raise ValueError(f"sensor {self.name!r}: {len(self.srf)} tabulated responses for {centres.size} bands")
            table = tuple((_frozen(grid), _frozen(weights)) for grid, weights in self.srf)
            if any(g.shape != w.shape or g.ndim != 1 or not np.any(w > 0) for g, w in table):
                raise ValueError(f"sensor {self.name!r}: each tabulated response needs 1-D grid and weights > 0")
            object.__setattr__(self, "srf", table)
        if self.band_names is not None:
            names = tuple(str(name) for name in self.band_names)
            if len(names) != centres.size or len(set(names)) != len(names):
                raise ValueError(f"sensor {self.name!r}: band_names must be {centres.size} distinct names")
            object.__setattr__(self, "band_names", names)
        if self.default_bands is not None:
            default = tuple(int(band) for band in self.default_bands)
            if not default or min(default) < 1 or max(default) > centres.size or list(default) != sorted(set(default)):
                raise ValueError(
                    f"sensor {self.name!r}: default_bands must be increasing 1-based band numbers "
                    f"within 1-{centres.size}"
                )
            object.__setattr__(self, "default_bands", default)
        digest = hashlib.blake2b(digest_size=16)
        for array in (centres, fwhm, bad):
            digest.update(array.tobytes())
        for grid, weights in self.srf or ():
            digest.update(grid.tobytes() + weights.tobytes())
        extras = (self.name, self.unit, self.band_names, self.default_bands, self.continuous)
        object.__setattr__(self, "_key", (digest.hexdigest(), repr(extras)))

    def __hash__(self) -> int:
        """Hash of all fields except the free-text description and source."""
        return hash(self._key)  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        """True when ``other`` is a Sensor with the same bands, responses, names and flags."""
        return isinstance(other, Sensor) and self._key == other._key  # type: ignore[attr-defined]

    @classmethod
    def from_axis(
        cls,
        name: str,
        centres: npt.ArrayLike,
        widths: npt.ArrayLike,
        unit: str = "nm",
        **kwargs: object,
    ) -> Sensor:
        """A sensor from band centres and widths in its native unit.

        Args:
            name: short sensor name.
            centres: shape (B,), band centres in ``unit``.
            widths: shape (B,) or scalar, FWHM in ``unit`` (> 0).
            unit: ``"nm"``, ``"um"`` or ``"cm-1"``; stored as :attr:`unit`.
            **kwargs: the other :class:`Sensor` fields (``bad_bands`` defaults to none bad).

        Returns:
            The :class:`Sensor`, with ``wavelengths_nm``/``fwhm_nm`` converted to nm
            (:func:`eospec.units.convert_axis`, :func:`eospec.units.convert_width`).

        Raises:
            UnknownUnitError: If ``unit`` is unknown.
            ValueError: If a width is not positive.
        """
        check_unit(unit)
        values = np.asarray(centres, dtype=np.float64)
        wavelengths = convert_axis(values, unit, "nm")
        fwhm = convert_width(values, widths, unit, "nm")
        bad = kwargs.pop("bad_bands", np.zeros(values.shape, dtype=bool))
        return cls(name, wavelengths, fwhm, bad, unit, **kwargs)  # type: ignore[arg-type]

    @property
    def n_bands(self) -> int:
        """Number of bands, B."""
        return int(self.wavelengths_nm.size)

    @property
    def good_band_indices(self) -> npt.NDArray[np.int64]:
        """0-based indices of the bands that are not bad, shape (B_good,)."""
        return np.flatnonzero(~self.bad_bands)

    @property
    def default_band_indices(self) -> npt.NDArray[np.int64]:
        """0-based indices of :attr:`default_bands` (the good bands when None), shape (B_default,)."""
        if self.default_bands is None:
            return self.good_band_indices
        return np.asarray(self.default_bands, dtype=np.int64) - 1

    @property
    def centres(self) -> FloatArray:
        """Band centres in the native :attr:`unit`, float64 of shape (B,) (600-4000 for ``"cm-1"``)."""
        return self.centres_in(self.unit)

    @property
    def widths(self) -> FloatArray:
        """Band FWHM in the native :attr:`unit`, float64 of shape (B,)."""
        return self.widths_in(self.unit)

    def centres_in(self, unit: str) -> FloatArray:
        """Band centres in any unit.

        Args:
            unit: ``"nm"``, ``"um"`` or ``"cm-1"``.

        Returns:
            float64 array of shape (B,), in band order (a new array).

        Raises:
            UnknownUnitError: If ``unit`` is unknown.
        """
        return convert_axis(self.wavelengths_nm, "nm", unit)

    def widths_in(self, unit: str) -> FloatArray:
        """Band FWHM in any unit, converted from the band edges (:func:`eospec.units.convert_width`).

        Args:
            unit: ``"nm"``, ``"um"`` or ``"cm-1"``.

        Returns:
            float64 array of shape (B,).

        Raises:
            UnknownUnitError: If ``unit`` is unknown.
        """
        return convert_width(self.wavelengths_nm, self.fwhm_nm, "nm", unit)

    def with_srf(self, responses: Responses) -> Sensor:
        """This sensor with tabulated spectral responses.

        Args:
            responses: one ``(wavelengths_nm, weights)`` pair per band (B pairs), e.g. the first
                element returned by :func:`read_srf_table`.

        Returns:
            A new :class:`Sensor` whose resampling uses the tables.

        Raises:
            ValueError: If there are not B responses.
        """
        table = tuple((np.asarray(grid, dtype=np.float64), np.asarray(w, dtype=np.float64)) for grid, w in responses)
        return dataclasses.replace(self, srf=table)

    def subset(self, indices: npt.ArrayLike) -> Sensor:
        """A sensor made of some of this sensor's bands, in the order given.

        Args:
            indices: 0-based band indices, e.g. :attr:`default_band_indices` for EnMAP's 202 bands.

        Returns:
            A new :class:`Sensor` (``default_bands`` reset to None).

        Raises:
            IndexError: If an index is out of range.
        """
        index = np.asarray(indices, dtype=np.int64).ravel()
        if index.size and (index.min() < -self.n_bands or index.max() >= self.n_bands):
            raise IndexError(f"band indices must lie in 0-{self.n_bands - 1} for {self.name!r}")
        return dataclasses.replace(
            self,
            wavelengths_nm=self.wavelengths_nm[index],
            fwhm_nm=self.fwhm_nm[index],
            bad_bands=self.bad_bands[index],
            srf=None if self.srf is None else tuple(self.srf[i] for i in index),
            band_names=None if self.band_names is None else tuple(self.band_names[i] for i in index),
            default_bands=None,
        )

    def srf_matrix(self, source_wavelengths_nm: npt.ArrayLike) -> FloatArray:
        """Gaussian SRF matrix from a source wavelength grid to this sensor's bands.

        Args:
            source_wavelengths_nm: shape (S,), increasing wavelengths of the source spectra in nm.

        Returns:
            float64 array of shape (B, S); see :func:`gaussian_srf_matrix`.
        """
        return gaussian_srf_matrix(source_wavelengths_nm, self.wavelengths_nm, self.fwhm_nm)

    def resample_matrix(
        self,
        source: Sensor | npt.ArrayLike,
        *,
        source_unit: str = "nm",
        min_coverage: float = 0.9,
    ) -> FloatArray:
        """Resampling matrix from another sensor, or from a grid of positions, to this sensor.

        Rules are in the module docstring: tabulated SRF when present else Gaussian(centre, FWHM);
        a continuous source (plain arrays, lab grids) by sample widths; a band source by linear
        interpolation between its good band centres with the Gaussian width reduced by the source
        FWHM; units converted at the edges; NaN rows where the source covers less than
        ``min_coverage`` of a band's response. The source's bad bands get zero weight.

        Args:
            source: a :class:`Sensor`, or an array of shape (S,) of strictly increasing positions
                in ``source_unit`` (treated as a continuous source).
            source_unit: unit of an array ``source`` (``"nm"``, ``"um"`` or ``"cm-1"``); ignored for
                a Sensor, which carries its own.
            min_coverage: fraction (0-1] of each band's response that must fall where the source
                has data; rows below it are NaN.

        Returns:
            float64 array of shape (B, S), read-only (it is cached: copy it before editing); each
            finite row sums to 1.

        Raises:
            WavelengthOrderError: If an array source is not strictly increasing, or two good source
                bands share a position.
            MixedUnitsError: If an array source's values cannot be in ``source_unit``.
            UnknownUnitError: If ``source_unit`` is unknown.
            ValueError: If ``min_coverage`` is not in (0, 1].
        """
        return _resampler(self, _as_source(source, source_unit), float(min_coverage)).matrix

    def resample(
        self,
        spectra: npt.ArrayLike,
        source: Sensor | npt.ArrayLike,
        *,
        source_unit: str = "nm",
        min_coverage: float = 0.9,
    ) -> FloatArray:
        """Resample spectra from another sensor, or from a grid of positions, to this sensor's bands.

        Values at the source's bad bands are ignored (they may be NaN). Other NaN values are missing
        values: each band is then the weighted mean of the finite source values it uses (weights
        renormalised), and NaN when less than ``min_coverage`` of its weight falls on finite values.

        Args:
            spectra: shape (..., S), values on the source axis (reflectance 0-1, absorbance, or any
                quantity that averages linearly).
            source: a :class:`Sensor` with S bands, or an array of shape (S,) of strictly increasing
                positions in ``source_unit``.
            source_unit: unit of an array ``source``.
            min_coverage: see :meth:`resample_matrix`.

        Returns:
            float64 array of shape (..., B); NaN for bands the source does not cover.

        Raises:
            ValueError: If the last axis of ``spectra`` is not S long, or as :meth:`resample_matrix`.
            WavelengthOrderError, MixedUnitsError, UnknownUnitError: as :meth:`resample_matrix`.
        """
        plan = _resampler(self, _as_source(source, source_unit), float(min_coverage))
        values = np.asarray(spectra, dtype=np.float64)
        if values.ndim == 0 or values.shape[-1] != plan.matrix.shape[1]:
            raise ValueError(
                f"Expected spectra with {plan.matrix.shape[1]} values on the last axis (the source's bands) "
                f"but got shape {values.shape}"
            )
        used = values if plan.used.size == values.shape[-1] else values[..., plan.used]
        finite = np.isfinite(used)
        if finite.all():
            return used @ plan.weights.T
        # Missing values: weighted mean of the finite values, NaN below min_coverage of the weight.
        total = finite.astype(np.float64) @ plan.weights.T
        with np.errstate(invalid="ignore", divide="ignore"):
            result = (np.where(finite, used, 0.0) @ plan.weights.T) / total
        result[~(total >= min_coverage)] = np.nan
        return result


# ----------------------------------------------------------------------------------------------
# Matrices


def _check_increasing(wavelengths: FloatArray, name: str) -> None:
    if wavelengths.ndim != 1 or wavelengths.size < 2:
        raise WavelengthOrderError(
            f"{name} must be a 1-D array of at least 2 wavelengths, got shape {wavelengths.shape}"
        )
    if not np.all(np.diff(wavelengths) > 0):
        raise WavelengthOrderError(f"{name} must be strictly increasing (nm); sort the spectra by wavelength first")


def _sample_widths(wavelengths: FloatArray) -> FloatArray:
    """Width of the interval each sample of a (possibly irregular) grid stands for."""
    edges = np.concatenate([[wavelengths[0]], (wavelengths[1:] + wavelengths[:-1]) / 2.0, [wavelengths[-1]]])
    widths = np.diff(edges)
    widths[0] *= 2.0
    widths[-1] *= 2.0
    return widths


def _gaussian_rows(
    source: FloatArray,
    widths: FloatArray,
    centres: FloatArray,
    fwhm: FloatArray,
    intervals: FloatArray,
    min_coverage: float,
) -> FloatArray:
    """Normalised Gaussian weights (B, S); NaN rows where less than min_coverage lies in intervals (K, 2)."""
    from scipy.special import ndtr

    sigma = fwhm * _FWHM_TO_SIGMA
    z = (source[None, :] - centres[:, None]) / sigma[:, None]
    weights = np.exp(-0.5 * z**2) * widths[None, :]
    # Fraction of each Gaussian inside the covered intervals, from the normal CDF.
    inside = np.zeros(centres.shape)
    for low, high in intervals:
        inside += ndtr((high - centres) / sigma) - ndtr((low - centres) / sigma)
    totals = weights.sum(axis=1)
    matrix = weights / np.where(totals > 0, totals, 1.0)[:, None]
    matrix[(inside < min_coverage) | (totals <= 0)] = np.nan
    return matrix


def gaussian_srf_matrix(
    source_wavelengths_nm: npt.ArrayLike,
    centres_nm: npt.ArrayLike,
    fwhm_nm: npt.ArrayLike,
    min_coverage: float = 0.9,
) -> FloatArray:
    r"""Resampling matrix from a source grid to bands with Gaussian spectral response.

    Row ``i`` holds the normalised weights :math:`s_i(\lambda_j)\Delta\lambda_j` of source sample
    ``j`` for target band ``i`` (module docstring). A band whose Gaussian response lies less than
    ``min_coverage`` inside the source range cannot be resampled faithfully; its row is NaN, so
    resampled values for it are NaN rather than silently extrapolated. The arithmetic is unit-free:
    any one unit for all three arrays works (the names say nm, the usual case).

    Args:
        source_wavelengths_nm: shape (S,), increasing source wavelengths in nm.
        centres_nm: shape (B,), target band centres in nm.
        fwhm_nm: shape (B,) or scalar, target band FWHM in nm (> 0).
        min_coverage: fraction of each band's response (0-1] that must fall inside the source range.

    Returns:
        float64 array of shape (B, S); each finite row sums to 1.

    Raises:
        WavelengthOrderError: If the source wavelengths are not strictly increasing (a ValueError).
        ValueError: If an FWHM is not positive.
    """
    source = np.asarray(source_wavelengths_nm, dtype=np.float64)
    centres = np.asarray(centres_nm, dtype=np.float64).ravel()
    fwhm = np.broadcast_to(np.asarray(fwhm_nm, dtype=np.float64), centres.shape)
    _check_increasing(source, "source_wavelengths_nm")
    if np.any(~(fwhm > 0)):
        raise ValueError(f"fwhm_nm must be positive, got {fwhm[~(fwhm > 0)][:3].tolist()}")
    intervals = np.array([[source[0], source[-1]]])
    return _gaussian_rows(source, _sample_widths(source), centres, fwhm, intervals, min_coverage)


def tabulated_srf_matrix(
    source_wavelengths_nm: npt.ArrayLike,
    responses: Responses,
    min_coverage: float = 0.0,
) -> FloatArray:
    """Resampling matrix from tabulated spectral responses.

    Args:
        source_wavelengths_nm: shape (S,), increasing source wavelengths in nm.
        responses: one ``(wavelengths_nm, weights)`` pair per target band, each of shape (K_i,),
            e.g. the EnMAP-Box ``.srf`` tables (whose wavelengths are in um: multiply by 1000).
            The response is linearly interpolated onto the source grid (zero outside its table).
        min_coverage: fraction (0-1) of each response's area (trapezoid rule over its table) that
            the source range must hold; 0 (default) only rejects bands with no response inside.

    Returns:
        float64 array of shape (B, S); each row sums to 1, NaN for a band with no response (or
        less than ``min_coverage`` of it) inside the source range.

    Raises:
        WavelengthOrderError: If the source wavelengths are not strictly increasing (a ValueError).
    """
    source = np.asarray(source_wavelengths_nm, dtype=np.float64)
    _check_increasing(source, "source_wavelengths_nm")
    widths = _sample_widths(source)
    matrix = np.full((len(responses), source.size), np.nan)
    for row, (wavelengths, weights) in enumerate(responses):
        grid, values = _sorted_table(wavelengths, weights)
        response = np.interp(source, grid, values, left=0.0, right=0.0) * widths
        if response.sum() > 0 and _inside_fraction(grid, values, [(source[0], source[-1])]) >= min_coverage:
            matrix[row] = response / response.sum()
    return matrix


def _sorted_table(wavelengths: npt.ArrayLike, weights: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    grid = np.asarray(wavelengths, dtype=np.float64)
    values = np.asarray(weights, dtype=np.float64)
    order = np.argsort(grid)
    return grid[order], values[order]


def _inside_fraction(grid: FloatArray, values: FloatArray, intervals: Sequence[tuple[float, float]]) -> float:
    """Fraction of a tabulated response's area (trapezoid rule) inside the intervals."""
    total = float(np.trapezoid(values, grid))
    if total <= 0:
        return 0.0
    inside = 0.0
    for low, high in intervals:
        if high <= grid[0] or low >= grid[-1] or high <= low:
            continue
        lo, hi = max(low, grid[0]), min(high, grid[-1])
        mask = (grid > lo) & (grid < hi)
        x = np.concatenate([[lo], grid[mask], [hi]])
        inside += float(np.trapezoid(np.interp(x, grid, values), x))
    return inside / total


def resample(spectra: npt.ArrayLike, matrix: FloatArray) -> FloatArray:
    """Apply an SRF matrix to spectra.

    Args:
        spectra: shape (..., S), values on the matrix's source grid (reflectance, any unit).
        matrix: shape (B, S), from :func:`gaussian_srf_matrix` or :func:`tabulated_srf_matrix`.

    Returns:
        float64 array of shape (..., B).

    Raises:
        ValueError: If the last axis of ``spectra`` is not S.
    """
    values = np.asarray(spectra, dtype=np.float64)
    if values.shape[-1] != matrix.shape[1]:
        raise ValueError(
            f"Expected spectra with {matrix.shape[1]} source samples on the last axis but got {values.shape[-1]}"
        )
    return values @ matrix.T


class _Resampler(NamedTuple):
    matrix: FloatArray  # (B, S), read-only
    used: npt.NDArray[np.int64]  # source columns with weight
    weights: FloatArray  # (B, len(used)), contiguous


def _as_source(source: Sensor | npt.ArrayLike, unit: str) -> Sensor:
    if isinstance(source, Sensor):
        return source
    axis = check_axis(source, unit, name="source positions")
    return _grid_sensor(axis.tobytes(), unit)


@functools.lru_cache(maxsize=16)
def _grid_sensor(axis_bytes: bytes, unit: str) -> Sensor:
    axis = np.frombuffer(axis_bytes, dtype=np.float64)
    return Sensor.from_axis("grid", axis, _sample_widths(axis), unit, continuous=True)


def _contiguous_intervals(positions: FloatArray, widths: FloatArray) -> FloatArray:
    """Intervals (K, 2) between consecutive sorted positions closer than _CONTIGUOUS_SPACING x mean width."""
    joined = np.diff(positions) <= _CONTIGUOUS_SPACING * (widths[1:] + widths[:-1]) / 2.0
    intervals = []
    start = None
    for index, link in enumerate(joined):
        if link and start is None:
            start = index
        if not link and start is not None:
            intervals.append((positions[start], positions[index]))
            start = None
    if start is not None:
        intervals.append((positions[start], positions[-1]))
    return np.array(intervals, dtype=np.float64).reshape(-1, 2)


def _segment_widths(positions: FloatArray, widths: FloatArray, intervals: FloatArray) -> FloatArray:
    """Sample widths computed within each contiguous run (isolated samples keep their own width)."""
    result = widths.copy()
    for low, high in intervals:
        run = np.flatnonzero((positions >= low) & (positions <= high))
        result[run] = _sample_widths(positions[run])
    return result


@functools.lru_cache(maxsize=32)
def _resampler(target: Sensor, source: Sensor, min_coverage: float) -> _Resampler:
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage!r}")
    # Work in the unit the target's responses are defined in: nm for tables, its native unit else.
    unit = "nm" if target.srf is not None else target.unit
    positions = source.centres_in(unit)
    source_widths = source.widths_in(unit)
    good = np.flatnonzero(~source.bad_bands)
    order = good[np.argsort(positions[good], kind="stable")]
    x, w = positions[order], source_widths[order]
    if x.size < 2 or not np.all(np.diff(x) > 0):
        raise WavelengthOrderError(
            f"source {source.name!r} needs at least 2 good bands at distinct positions to resample from"
        )
    intervals = _contiguous_intervals(x, w)
    if target.srf is not None:
        centres = target.wavelengths_nm
        fwhm = target.fwhm_nm
    else:
        centres = target.centres
        fwhm = target.widths
    if source.continuous:
        sub = _continuous_rows(x, _segment_widths(x, w, intervals), target, centres, fwhm, intervals, min_coverage)
    else:
        sub = _band_rows(x, w, target, centres, fwhm, intervals, min_coverage)
    matrix = np.zeros((target.n_bands, source.n_bands))
    matrix[:, order] = sub
    matrix[~np.isfinite(sub).all(axis=1)] = np.nan
    matrix.setflags(write=False)
    finite = np.isfinite(matrix).all(axis=1)
    used = np.flatnonzero(np.any(matrix[finite] != 0, axis=0)) if finite.any() else order[:0]
    weights = np.ascontiguousarray(matrix[:, used])
    weights.setflags(write=False)
    return _Resampler(matrix, used, weights)


def _continuous_rows(
    x: FloatArray,
    dx: FloatArray,
    target: Sensor,
    centres: FloatArray,
    fwhm: FloatArray,
    intervals: FloatArray,
    min_coverage: float,
) -> FloatArray:
    if target.srf is None:
        return _gaussian_rows(x, dx, centres, fwhm, intervals, min_coverage)
    rows = np.full((target.n_bands, x.size), np.nan)
    spans = [(float(low), float(high)) for low, high in intervals]
    for row, (wavelengths, weights) in enumerate(target.srf):
        grid, values = _sorted_table(wavelengths, weights)
        response = np.interp(x, grid, values, left=0.0, right=0.0) * dx
        if response.sum() > 0 and _inside_fraction(grid, values, spans) >= min_coverage:
            rows[row] = response / response.sum()
    return rows


def _band_rows(
    x: FloatArray,
    w: FloatArray,
    target: Sensor,
    centres: FloatArray,
    fwhm: FloatArray,
    intervals: FloatArray,
    min_coverage: float,
) -> FloatArray:
    """Rows (B, n) for band-averaged source values at sorted centres x with FWHM w."""
    from scipy import sparse

    spacing = float(np.median(np.diff(x)))
    step = min(_FINE_STEP_FRACTION * float(fwhm.min()), spacing / 4.0)
    step = max(step, (x[-1] - x[0]) / _MAX_FINE_POINTS)
    fine = np.arange(x[0], x[-1] + step / 2, step)
    fine = fine[fine <= x[-1]]
    covered = np.zeros(fine.shape, dtype=bool)
    for low, high in intervals:
        covered |= (fine >= low) & (fine <= high)
    # Linear interpolation of the band values onto the fine grid, zero in holes: L (F, n), 2 per row.
    left = np.clip(np.searchsorted(x, fine, side="right") - 1, 0, x.size - 2)
    t = (fine - x[left]) / (x[left + 1] - x[left])
    rows_index = np.repeat(np.flatnonzero(covered), 2)
    cols = np.stack([left[covered], left[covered] + 1], axis=1).ravel()
    data = np.stack([1.0 - t[covered], t[covered]], axis=1).ravel()
    interpolation = sparse.csr_matrix((data, (rows_index, cols)), shape=(fine.size, x.size))
    dx = np.full(fine.shape, step)
    if target.srf is None:
        # The source already blurs by its FWHM: the remaining Gaussian width in quadrature.
        source_fwhm = np.interp(centres, x, w)
        effective = np.sqrt(np.maximum(fwhm**2 - source_fwhm**2, (2.0 * step) ** 2))
        fine_rows = _gaussian_rows(fine, dx * covered, centres, effective, intervals, min_coverage)
    else:
        fine_rows = _continuous_rows(fine, dx * covered, target, centres, fwhm, intervals, min_coverage)
    finite = np.isfinite(fine_rows).all(axis=1)
    rows = np.full((target.n_bands, x.size), np.nan)
    if finite.any():
        rows[finite] = np.asarray((interpolation.T @ fine_rows[finite].T).T)
    return rows


# ----------------------------------------------------------------------------------------------
# Utilities


def nearest_band(wavelengths_nm: npt.ArrayLike, target_nm: float, tolerance_nm: float = 30.0) -> int:
    """Index of the band whose centre is closest to a wavelength.

    Args:
        wavelengths_nm: shape (B,), band centres in nm.
        target_nm: the wavelength sought, in nm.
        tolerance_nm: the largest acceptable distance in nm.

    Returns:
        0-based band index.

    Raises:
        ValueError: If no band centre lies within ``tolerance_nm`` of ``target_nm``.
    """
    centres = np.asarray(wavelengths_nm, dtype=np.float64)
    index = int(np.argmin(np.abs(centres - target_nm)))
    if abs(centres[index] - target_nm) > tolerance_nm:
        raise ValueError(f"No band within {tolerance_nm} nm of {target_nm} nm (closest: {centres[index]:.1f} nm)")
    return index


def read_srf_table(path: str | os.PathLike[str]) -> tuple[list[tuple[FloatArray, FloatArray]], FloatArray, FloatArray]:
    """Read tabulated spectral responses from an EnMAP-Box ``.srf`` archive.

    The archive is a NumPy ``npz`` with ``srf`` of shape (K, B, 2): per band, K rows of
    [wavelength in um, weight] (rows with weight 0 pad shorter tables), and the band centres
    ``sensor_wl`` and widths ``sensor_fwhm`` in nm.

    Args:
        path: the ``.srf`` file, e.g. ``EnMAP_L2A_224bands_generic.srf``.

    Returns:
        ``(responses, centres_nm, fwhm_nm)``: one ``(wavelengths_nm, weights)`` pair per band for
        :func:`tabulated_srf_matrix` or :meth:`Sensor.with_srf`, and float64 arrays of shape (B,).

    Raises:
        ValueError: If the archive lacks the ``srf`` table or it is not (K, B, 2).
    """
    with np.load(path) as archive:
        if "srf" not in archive.files:
            raise ValueError(f"{str(path)!r} has no 'srf' table (found {archive.files}); expected an EnMAP-Box .srf")
        table = np.asarray(archive["srf"], dtype=np.float64)
        centres = np.asarray(archive["sensor_wl"], dtype=np.float64)
        fwhm = np.asarray(archive["sensor_fwhm"], dtype=np.float64)
    if table.ndim != 3 or table.shape[2] != 2:
        raise ValueError(f"'srf' in {str(path)!r} has shape {table.shape}; expected (K, B, 2)")
    responses = []
    for band in range(table.shape[1]):
        rows = table[:, band]
        rows = rows[rows[:, 1] > 0]
        responses.append((rows[:, 0] * 1000.0, rows[:, 1]))
    return responses, centres, fwhm


# ----------------------------------------------------------------------------------------------
# Catalogue


@functools.cache
def enmap() -> Sensor:
    """The EnMAP HSI L2A sensor: 224 bands, 418-2446 nm, with the 22 water-vapour bad bands.

    Band centres and FWHM are the generic L2A values (EnMAP HSI product specification,
    EN-PCV-ICD-2009-2) as distributed with the EnMAP-Box; each real scene's METADATA.XML or band
    tags carry its own values, which the scene readers prefer. Band names ``B1``-``B224`` and the
    202 default bands follow TorchGeo's ``EnMAP`` dataset. The EnMAP-Box tabulated SRFs are not
    bundled: add them with ``enmap().with_srf(read_srf_table(path)[0])``.

    Returns:
        The EnMAP :class:`Sensor`.
    """
    text = resources.files("eospec").joinpath("data/enmap_l2a_bands.csv").read_text()
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith(("#", "band"))]
    table = np.array([[float(value) for value in row] for row in rows])
    bad = np.ones(len(table), dtype=bool)
    bad[np.asarray(ENMAP_DEFAULT_BANDS) - 1] = False
    return Sensor(
        "enmap",
        table[:, 1].copy(),
        table[:, 2].copy(),
        bad,
        band_names=tuple(f"B{band}" for band in range(1, len(table) + 1)),
        default_bands=ENMAP_DEFAULT_BANDS,
        description="EnMAP HSI L2A (DLR), 224 bands 418-2446 nm, VNIR 1-91 and SWIR 92-224",
        source="EnMAP-Box generic L2A band centres and FWHM (EnMAP_L2A_224bands_generic); "
        "bad bands = the 22 bands outside TorchGeo's EnMAP.default_bands (SpectralEarth)",
    )


def _read_band_table(filename: str, name: str, continuous: bool = False) -> Sensor:
    """A catalogue sensor from ``eospec/data/sensors/<filename>`` (``band,name,centre,fwhm,bad``)."""
    text = resources.files("eospec").joinpath(f"data/sensors/{filename}").read_text()
    comments = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
    meta: dict[str, str] = {}
    key = ""
    for line in comments[1:]:
        head, sep, rest = line.partition(":")
        if sep and head.isidentifier():
            key = head
            meta[key] = rest.strip()
        elif key:
            meta[key] += " " + line
    rows = list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))
    return Sensor.from_axis(
        name,
        [float(row["centre"]) for row in rows],
        [float(row["fwhm"]) for row in rows],
        meta.get("unit", "nm"),
        bad_bands=np.array([row["bad"] == "1" for row in rows]),
        band_names=tuple(row["name"] for row in rows),
        continuous=continuous,
        description=comments[0] if comments else name,
        source=meta.get("source", ""),
    )


def _lab_asd() -> Sensor:
    wavelengths = np.arange(350.0, 2501.0)
    # ASD FieldSpec 3/4 (standard resolution): 3 nm at 700 nm (VNIR detector, 350-1000 nm),
    # 10 nm at 1400 and 2100 nm (SWIR1 1001-1830 nm, SWIR2 1831-2500 nm); data interpolated to 1 nm.
    fwhm = np.where(wavelengths <= 1000.0, 3.0, 10.0)
    return Sensor.from_axis(
        "lab-asd",
        wavelengths,
        fwhm,
        "nm",
        continuous=True,
        description="Laboratory vis-NIR spectroradiometer (ASD FieldSpec type), 350-2500 nm at 1 nm",
        source="ASD FieldSpec 3 User Manual (ASD document 600540): detectors VNIR 350-1000 nm, SWIR1 1000-1830 nm, "
        "SWIR2 1830-2500 nm; spectral resolution 3 nm at 700 nm and 10 nm at 1400/2100 nm (used as FWHM); "
        "output interpolated to 1 nm",
    )


def _portable_nir() -> Sensor:
    return Sensor.from_axis(
        "portable-nir",
        np.arange(1350.0, 2551.0, 2.0),
        16.0,
        "nm",
        continuous=True,
        description="Portable NIR spectrometer grid (NeoSpectra type), 1350-2550 nm at 2 nm",
        source="Open Soil Spectral Library (OSSL) harmonised NIR grid for the Si-Ware NeoSpectra scans, "
        "1350-2550 nm every 2 nm; FWHM 16 nm = the manufacturer's nominal resolution at 1550 nm "
        "(nominal, not a measured per-band table)",
    )


def _kssl_mir() -> Sensor:
    return Sensor.from_axis(
        "kssl-mir",
        np.arange(600.0, 4001.0, 2.0),
        4.0,
        "cm-1",
        continuous=True,
        description="USDA NRCS KSSL mid-infrared (FTIR diffuse reflectance) grid, 600-4000 cm-1 at 2 cm-1",
        source="USDA NRCS Kellogg Soil Survey Laboratory MIR spectra as harmonised by the OSSL and the soilspecdl "
        "KSSL table (600-4000 cm-1 every 2 cm-1); FWHM 4 cm-1 = the nominal resolution of the KSSL Bruker "
        "Vertex 70/HTS-XT scans",
    )


_BUILDERS: dict[str, Callable[[], Sensor]] = {
    "enmap": enmap,
    "desis": lambda: _read_band_table("desis.csv", "desis"),
    "hyperion": lambda: _read_band_table("hyperion.csv", "hyperion"),
    "prisma": lambda: _read_band_table("prisma.csv", "prisma"),
    "aviris-classic": lambda: _read_band_table("aviris_classic.csv", "aviris-classic"),
    "aviris-ng": lambda: _read_band_table("aviris_ng.csv", "aviris-ng"),
    "sentinel-2a-msi": lambda: _read_band_table("sentinel2a_msi.csv", "sentinel-2a-msi"),
    "lab-asd": _lab_asd,
    "portable-nir": _portable_nir,
    "kssl-mir": _kssl_mir,
}

#: Other accepted names -> catalogue name.
_ALIASES: dict[str, str] = {"sentinel-2": "sentinel-2a-msi", "sentinel-2a": "sentinel-2a-msi"}


def list_sensors() -> list[str]:
    """Names of the sensors in the catalogue, sorted.

    Returns:
        e.g. ``["aviris-classic", "aviris-ng", "desis", "enmap", ...]``.
    """
    return sorted(_BUILDERS)


@functools.cache
def _build(name: str) -> Sensor:
    return _BUILDERS[name]()


def get_sensor(name: str) -> Sensor:
    """A sensor from the catalogue.

    Args:
        name: a name from :func:`list_sensors` (case-insensitive), or the alias ``"sentinel-2"``.

    Returns:
        The :class:`Sensor` (the same object on every call).

    Raises:
        UnknownSensorError: If ``name`` is not in the catalogue (a KeyError).
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _BUILDERS:
        raise UnknownSensorError(f"sensor {name!r} is unknown: use one of {list_sensors()} (or 'sentinel-2')")
    return _build(key)

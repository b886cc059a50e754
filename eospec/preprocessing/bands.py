r"""Band selection by wavelength ranges or masks, and resampling to a sensor's bands by SRF.

Resampling is the response-weighted mean
:math:`r_i = \sum_j s_i(\lambda_j) r(\lambda_j) \Delta\lambda_j / \sum_j s_i(\lambda_j) \Delta\lambda_j`
computed by :mod:`eospec.sensors` (which gives its source), with Gaussian responses of the band
centres and FWHM, or the sensor's own (tabulated) responses.
"""

from __future__ import annotations

from numbers import Real
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from eospec.preprocessing._base import (
    FloatArray,
    WavelengthFeatureNamesMixin,
    check_wavelengths,
    positions,
    validate_fit_input,
    validate_transform_input,
    wavelength_names,
)
from eospec.sensors import gaussian_srf_matrix, resample
from eospec.units import UNITS

__all__ = ["BandSelector", "SpectralResampler"]


def _ranges(value: npt.ArrayLike, name: str, unit: str) -> FloatArray:
    """(low, high) pairs as a float64 array of shape (k, 2), or ValueError naming the bad value."""
    pairs = np.atleast_2d(np.asarray(value, dtype=np.float64))
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.all(np.isfinite(pairs)) or np.any(pairs[:, 0] > pairs[:, 1]):
        raise ValueError(
            f"{name} must be (low, high) pairs with low <= high in {unit}, e.g. [(400, 1300), (1450, 1800)]; "
            f"got {value!r}"
        )
    return pairs


def _in_ranges(axis: FloatArray, pairs: FloatArray) -> npt.NDArray[np.bool_]:
    return np.any((axis[:, None] >= pairs[None, :, 0]) & (axis[:, None] <= pairs[None, :, 1]), axis=1)


class BandSelector(WavelengthFeatureNamesMixin, SelectorMixin, BaseEstimator):
    """Keep the bands inside wavelength ranges, drop ranges and bad bands.

    A band is kept when it lies in one of the ``include`` ranges (all bands when None), in none of
    the ``exclude`` ranges, and is not flagged in ``bad_bands``. Ranges are inclusive and in the
    unit of ``wavelengths``; without ``wavelengths`` they are 0-based band indices. Values are not
    read, so NaN and inf are allowed (e.g. water-vapour bands stored as NaN: drop them here).
    ``inverse_transform`` puts zeros back in the dropped bands (scikit-learn's ``SelectorMixin``).

    Args:
        wavelengths: optional array of shape (n_bands,), strictly increasing band positions in
            ``unit``; None means band indices.
        unit: unit of ``wavelengths`` and of the ranges: ``"nm"``, ``"um"`` or ``"cm-1"``.
        include: optional (low, high) pairs, the ranges to keep, e.g. ``[(400, 2450)]``.
        exclude: optional (low, high) pairs, the ranges to drop, e.g. ``[(1350, 1460), (1790, 1960)]``.
        bad_bands: optional bool array of shape (n_bands,), True for bands to drop (e.g.
            ``eospec.sensors.get_sensor("enmap").bad_bands``).

    Attributes:
        support_: bool array of shape (n_bands,), True for the kept bands.
        wavelengths_: float64 array of shape (n_bands,) or None.
        selected_wavelengths_: float64 array of shape (n_kept,), the kept wavelengths (band
            indices without ``wavelengths``), e.g. for a following :class:`ContinuumRemoval`.
        n_features_in_: number of bands seen in ``fit``.

    Raises:
        ValueError: From ``fit`` if a range is not a (low, high) pair, ``bad_bands`` or
            ``wavelengths`` does not have one value per band, or no band is left; from
            ``transform`` if X does not have ``n_features_in_`` columns.
        WavelengthOrderError: From ``fit`` if ``wavelengths`` is not strictly increasing.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "wavelengths": ["array-like", None],
        "unit": [StrOptions(set(UNITS))],
        "include": ["array-like", None],
        "exclude": ["array-like", None],
        "bad_bands": ["array-like", None],
    }

    def __init__(
        self,
        wavelengths: npt.ArrayLike | None = None,
        unit: str = "nm",
        include: npt.ArrayLike | None = None,
        exclude: npt.ArrayLike | None = None,
        bad_bands: npt.ArrayLike | None = None,
    ) -> None:
        self.wavelengths = wavelengths
        self.unit = unit
        self.include = include
        self.exclude = exclude
        self.bad_bands = bad_bands

    def __sklearn_tags__(self) -> Any:
        """Scikit-learn tags: NaN is allowed (values are not read)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: npt.ArrayLike, y: object = None) -> BandSelector:
        """Find the bands to keep.

        Args:
            X: array of shape (n_samples, n_bands); only its number of columns is used.
            y: ignored.

        Returns:
            self.

        Raises:
            ValueError, WavelengthOrderError: See the class docstring.
        """
        data = validate_fit_input(self, X, dtype="numeric", ensure_all_finite=False)
        n_bands = data.shape[1]
        name = type(self).__name__
        self.wavelengths_ = check_wavelengths(self.wavelengths, n_bands, self.unit, name)
        axis = positions(self.wavelengths_, n_bands)
        unit = self.unit if self.wavelengths_ is not None else "band indices"
        keep = np.ones(n_bands, dtype=bool)
        if self.include is not None:
            keep &= _in_ranges(axis, _ranges(self.include, "include", unit))
        if self.exclude is not None:
            keep &= ~_in_ranges(axis, _ranges(self.exclude, "exclude", unit))
        if self.bad_bands is not None:
            bad = np.asarray(self.bad_bands)
            if bad.shape != (n_bands,) or bad.dtype.kind not in "bui":
                raise ValueError(
                    f"{name}: bad_bands must be a bool array with one value per band ({n_bands}), got "
                    f"shape {bad.shape} and dtype {bad.dtype}: pass e.g. sensor.bad_bands"
                )
            keep &= ~bad.astype(bool)
        if not keep.any():
            raise ValueError(
                f"{name} keeps no band: include={self.include!r}, exclude={self.exclude!r} and bad_bands leave "
                f"none of the {n_bands} bands ({axis[0]:g}-{axis[-1]:g} {unit}): widen include or narrow exclude"
            )
        self.support_ = keep
        self.selected_wavelengths_ = axis[keep]
        return self

    def _get_support_mask(self) -> npt.NDArray[np.bool_]:
        check_is_fitted(self, "support_")
        mask: npt.NDArray[np.bool_] = self.support_
        return mask

    def _output_mask(self) -> npt.NDArray[np.bool_] | None:
        return self._get_support_mask()


def _resolve_sensor(sensor: object) -> Any:
    """A sensor object from a name (``eospec.sensors.get_sensor``) or a sensor-like object."""
    if isinstance(sensor, str):
        from eospec.sensors import get_sensor  # lazily: the catalogue reads its band tables on demand

        return get_sensor(sensor)
    if not (hasattr(sensor, "wavelengths_nm") and hasattr(sensor, "fwhm_nm")):
        raise ValueError(
            f"sensor must be a sensor name (e.g. 'enmap') or an object with wavelengths_nm and fwhm_nm "
            f"(an eospec.sensors.Sensor); got {type(sensor).__name__}"
        )
    return sensor


class SpectralResampler(TransformerMixin, BaseEstimator):
    """Resample spectra to other bands: a sensor's, or Gaussian bands of given centres and FWHM.

    With ``sensor``, the resampling matrix is the sensor's own
    (:meth:`eospec.sensors.Sensor.resample_matrix`: its tabulated SRF when it has one, else
    Gaussian responses of its centres and FWHM); with ``target_wavelengths`` and ``target_fwhm``,
    it is :func:`eospec.sensors.gaussian_srf_matrix`. Spectra are resampled with
    :func:`eospec.sensors.resample`. Without ``wavelengths`` the source axis is the band index
    0 ... n-1 and the target centres and FWHM are in band indices too (a sensor needs real
    wavelengths).

    A target band with less than ``min_coverage`` of its response inside the source range cannot
    be resampled faithfully. ``uncovered`` decides what happens to it: ``"raise"`` (the default)
    refuses in ``fit``, ``"drop"`` leaves it out of the output, ``"nan"`` keeps it as NaN.

    Args:
        wavelengths: optional array of shape (n_bands,), strictly increasing positions of the
            input bands in ``unit``.
        unit: unit of ``wavelengths``, ``target_wavelengths`` and ``target_fwhm``: ``"nm"``,
            ``"um"`` or ``"cm-1"``.
        sensor: optional target sensor: a name for ``eospec.sensors.get_sensor`` (e.g.
            ``"enmap"``) or an object with ``wavelengths_nm`` and ``fwhm_nm`` arrays (in nm), such
            as :class:`eospec.sensors.Sensor`.
        target_wavelengths: optional array of shape (n_targets,), target band centres in ``unit``
            (instead of ``sensor``).
        target_fwhm: scalar or array of shape (n_targets,), target FWHM in ``unit`` (> 0).
        min_coverage: fraction (0-1] of a band's response that must fall inside the source range.
        uncovered: ``"raise"``, ``"drop"`` or ``"nan"`` (see above).

    Attributes:
        matrix_: float64 array of shape (n_out, n_bands), the resampling weights (rows sum to 1;
            NaN rows for uncovered bands kept with ``uncovered="nan"``).
        target_wavelengths_: float64 array of shape (n_out,), output band centres in ``unit``.
        target_fwhm_: float64 array of shape (n_out,), output band FWHM in ``unit``.
        wavelengths_: float64 array of shape (n_bands,) or None.
        n_features_in_: number of input bands seen in ``fit``.

    Raises:
        ValueError: From ``fit`` if neither or both of ``sensor`` and ``target_wavelengths`` are
            given, ``target_fwhm`` is missing or not positive, X has fewer than 2 bands, a sensor is
            asked without ``wavelengths``, or (``uncovered="raise"``) a target band is not covered;
            from ``transform`` if X does not have ``n_features_in_`` columns.
        WavelengthOrderError: From ``fit`` if ``wavelengths`` is not strictly increasing.
        UnknownSensorError: From ``fit`` if ``sensor`` is an unknown name.
    """

    _parameter_constraints: dict[str, Any] = {
        "wavelengths": ["array-like", None],
        "unit": [StrOptions(set(UNITS))],
        "sensor": "no_validation",
        "target_wavelengths": ["array-like", None],
        "target_fwhm": ["array-like", Interval(Real, 0, None, closed="neither"), None],
        "min_coverage": [Interval(Real, 0, 1, closed="right")],
        "uncovered": [StrOptions({"raise", "drop", "nan"})],
    }

    def __init__(
        self,
        wavelengths: npt.ArrayLike | None = None,
        unit: str = "nm",
        sensor: object = None,
        target_wavelengths: npt.ArrayLike | None = None,
        target_fwhm: npt.ArrayLike | float | None = None,
        min_coverage: float = 0.9,
        uncovered: Literal["raise", "drop", "nan"] = "raise",
    ) -> None:
        self.wavelengths = wavelengths
        self.unit = unit
        self.sensor = sensor
        self.target_wavelengths = target_wavelengths
        self.target_fwhm = target_fwhm
        self.min_coverage = min_coverage
        self.uncovered = uncovered

    def _sensor_matrix(self, source: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        name = type(self).__name__
        if self.wavelengths_ is None:
            raise ValueError(f"{name}: resampling to a sensor needs the input wavelengths: pass wavelengths= (in unit)")
        target = _resolve_sensor(self.sensor)
        if hasattr(target, "resample_matrix"):
            matrix = target.resample_matrix(source, source_unit=self.unit, min_coverage=self.min_coverage)
            return np.array(matrix, dtype=np.float64), target.centres_in(self.unit), target.widths_in(self.unit)
        if self.unit != "nm":
            raise ValueError(
                f"{name}: a sensor without resample_matrix needs wavelengths in nm, got unit={self.unit!r}"
            )
        centres = np.asarray(target.wavelengths_nm, dtype=np.float64)
        fwhm = np.broadcast_to(np.asarray(target.fwhm_nm, dtype=np.float64), centres.shape)
        return gaussian_srf_matrix(source, centres, fwhm, self.min_coverage), centres, fwhm

    def fit(self, X: npt.ArrayLike, y: object = None) -> SpectralResampler:
        """Build the resampling matrix from the input bands to the target bands.

        Args:
            X: array of shape (n_samples, n_bands); only its number of columns is used.
            y: ignored.

        Returns:
            self.

        Raises:
            ValueError, WavelengthOrderError, UnknownSensorError: See the class docstring.
        """
        data = validate_fit_input(self, X, dtype=np.float64)
        name = type(self).__name__
        n_bands = data.shape[1]
        if n_bands < 2:
            raise ValueError(f"{name} needs spectra of at least 2 bands but X has {n_bands} feature(s)")
        self.wavelengths_ = check_wavelengths(self.wavelengths, n_bands, self.unit, name)
        source = positions(self.wavelengths_, n_bands)
        if (self.sensor is None) == (self.target_wavelengths is None):
            raise ValueError(
                f"{name}: pass either sensor= (a name such as 'enmap' or a Sensor) or target_wavelengths= with "
                "target_fwhm=, not both and not neither"
            )
        if self.sensor is not None:
            matrix, centres, fwhm = self._sensor_matrix(source)
        else:
            if self.target_fwhm is None:
                raise ValueError(f"{name}: target_wavelengths needs target_fwhm= (FWHM of the target bands in unit)")
            centres = np.asarray(self.target_wavelengths, dtype=np.float64).ravel()
            fwhm = np.broadcast_to(np.asarray(self.target_fwhm, dtype=np.float64), centres.shape).copy()
            matrix = gaussian_srf_matrix(source, centres, fwhm, self.min_coverage)
        covered = np.all(np.isfinite(matrix), axis=1)
        if not covered.any():
            raise ValueError(
                f"{name}: none of the {centres.size} target bands ({centres.min():g}-{centres.max():g} {self.unit}) "
                f"has min_coverage={self.min_coverage} of its response inside the input range "
                f"{source[0]:g}-{source[-1]:g}: check the target and the units"
            )
        if not covered.all() and self.uncovered != "nan":
            if self.uncovered == "raise":
                missing = centres[~covered]
                raise ValueError(
                    f"{name}: {missing.size} of {centres.size} target bands (e.g. {missing[:5].round(2).tolist()} "
                    f"{self.unit}) have less than min_coverage={self.min_coverage} of their response inside the "
                    f"input range {source[0]:g}-{source[-1]:g}: pass uncovered='drop' to leave them out, "
                    "uncovered='nan' to keep them as NaN, or lower min_coverage"
                )
            matrix, centres, fwhm = matrix[covered], centres[covered], fwhm[covered]
        self.matrix_ = np.ascontiguousarray(matrix)
        self.target_wavelengths_ = np.asarray(centres, dtype=np.float64)
        self.target_fwhm_ = np.asarray(fwhm, dtype=np.float64)
        return self

    def transform(self, X: npt.ArrayLike) -> FloatArray:
        """Resample each spectrum.

        Args:
            X: array of shape (n_samples, n_features_in_), on the input bands.

        Returns:
            float64 array of shape (n_samples, n_out) on the target bands.

        Raises:
            ValueError: If X does not have ``n_features_in_`` columns.
            sklearn.exceptions.NotFittedError: If called before ``fit``.
        """
        data = validate_transform_input(self, X, "matrix_")
        return resample(data, self.matrix_)

    def get_feature_names_out(self, input_features: npt.ArrayLike | None = None) -> npt.NDArray[np.object_]:
        """Names of the target bands, ``spectrum_<centre>`` (centre in ``unit``).

        Args:
            input_features: names of the input columns (checked against those seen in ``fit``).

        Returns:
            object array of n_out str.

        Raises:
            ValueError: If ``input_features`` does not match the columns seen in ``fit``.
        """
        check_is_fitted(self, "matrix_")
        _check_feature_names_in(self, input_features)
        return wavelength_names(self.target_wavelengths_)

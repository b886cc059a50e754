"""Helpers shared by the preprocessing transformers: input validation, axis checks and feature names."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from eospec.units import check_axis

FloatArray = npt.NDArray[np.float64]

#: Prefix of the feature names built from wavelengths (``"spectrum_450"``), the same as the spectrum
#: columns of ``eospec.libraries.SpectralLibrary.to_pandas``.
SPECTRUM_PREFIX = "spectrum_"


def validate_fit_input(estimator: BaseEstimator, X: npt.ArrayLike, **check_params: Any) -> Any:
    """Validate an estimator's parameters and the X given to ``fit`` (records ``n_features_in_``).

    Args:
        estimator: the scikit-learn estimator being fitted.
        X: array of shape (n_samples, n_bands).
        **check_params: passed to ``sklearn.utils.validation.validate_data`` (e.g. ``dtype``).

    Returns:
        the validated X, an array of shape (n_samples, n_bands).

    Raises:
        sklearn.utils._param_validation.InvalidParameterError: If a parameter is invalid.
        ValueError: If X is not a valid 2-D numeric array (finite unless ``check_params`` says otherwise).
    """
    estimator._validate_params()
    return validate_data(estimator, X, reset=True, **check_params)


def validate_transform_input(estimator: BaseEstimator, X: npt.ArrayLike, fitted_attribute: str) -> FloatArray:
    """Check that an estimator is fitted and validate X for ``transform`` as float64.

    Args:
        estimator: the fitted scikit-learn estimator.
        X: array of shape (n_samples, n_features_in_).
        fitted_attribute: an attribute that exists only after ``fit`` (e.g. ``"n_features_in_"``).

    Returns:
        float64 array of shape (n_samples, n_features_in_).

    Raises:
        sklearn.exceptions.NotFittedError: If ``estimator`` is not fitted.
        ValueError: If X is not a finite 2-D numeric array with ``n_features_in_`` columns.
    """
    check_is_fitted(estimator, fitted_attribute)
    data: FloatArray = validate_data(estimator, X, reset=False, dtype=np.float64)
    return data


def check_wavelengths(wavelengths: npt.ArrayLike | None, n_features: int, unit: str, owner: str) -> FloatArray | None:
    """Validate a transformer's ``wavelengths`` against the number of columns of X.

    Args:
        wavelengths: shape (n_bands,), strictly increasing positions in ``unit``, or None.
        n_features: number of columns (bands) of X.
        unit: ``"nm"``, ``"um"`` or ``"cm-1"``.
        owner: the transformer's class name, for messages.

    Returns:
        float64 array of shape (n_bands,), or None when ``wavelengths`` is None.

    Raises:
        ValueError: If there is not one wavelength per column of X.
        WavelengthOrderError: If the wavelengths are not strictly increasing.
        UnknownUnitError: If ``unit`` is unknown.
        MixedUnitsError: If the values cannot be in ``unit``.
    """
    if wavelengths is None:
        return None
    values = np.asarray(wavelengths, dtype=np.float64)
    if values.ndim != 1 or values.size != n_features:
        raise ValueError(
            f"{owner}: wavelengths has shape {values.shape} but X has {n_features} feature(s) (bands): "
            "pass one wavelength per column of X, or wavelengths=None to work on band indices"
        )
    if n_features == 1:
        return values
    return check_axis(values, unit, name=f"{owner} wavelengths")


def positions(wavelengths: FloatArray | None, n_features: int) -> FloatArray:
    """The wavelengths, or the band indices 0 ... n-1 as float64 when there are none."""
    if wavelengths is None:
        return np.arange(n_features, dtype=np.float64)
    return wavelengths


def wavelength_names(values: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Feature names ``spectrum_<position>`` with the shortest text that reads back to the value.

    Args:
        values: shape (n,), positions (e.g. nm).

    Returns:
        object array of n str, e.g. ``["spectrum_450", "spectrum_452.5"]``.
    """
    names = [f"{SPECTRUM_PREFIX}{np.format_float_positional(float(v), trim='-')}" for v in np.ravel(values)]
    return np.asarray(names, dtype=object)


class WavelengthFeatureNamesMixin:
    """``get_feature_names_out`` for transformers that keep (a subset of) the input bands.

    Names are the input's column names when X was a DataFrame (or ``input_features`` when given),
    else ``spectrum_<wavelength>`` when ``wavelengths`` was given, else scikit-learn's ``x<i>``.
    Subclasses with a band subset override :meth:`_output_mask`.
    """

    wavelengths_: FloatArray | None

    def _output_mask(self) -> npt.NDArray[np.bool_] | None:
        return None

    def get_feature_names_out(self, input_features: npt.ArrayLike | None = None) -> npt.NDArray[np.object_]:
        """Names of the output features.

        Args:
            input_features: names of the input columns (n_features_in_,), or None.

        Returns:
            object array of str, one per output column.

        Raises:
            ValueError: If ``input_features`` does not match the columns seen in ``fit``.
        """
        check_is_fitted(self, "n_features_in_")
        if input_features is None and not hasattr(self, "feature_names_in_") and self.wavelengths_ is not None:
            names = wavelength_names(self.wavelengths_)
        else:
            names = np.asarray(_check_feature_names_in(self, input_features), dtype=object)
        mask = self._output_mask()
        return names if mask is None else names[mask]

r"""Reflectance <-> apparent absorbance as scikit-learn transformers.

:math:`A = \log_{10}(1/R)` and :math:`R = 10^{-A}` (e.g. Stenberg et al. 2010, *Advances in
Agronomy* 107:163-215), computed by :func:`eospec.units.reflectance_to_absorbance` and
:func:`eospec.units.absorbance_to_reflectance`.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils._param_validation import Interval

from eospec.preprocessing._base import validate_fit_input, validate_transform_input
from eospec.units import ABSORBANCE_FLOOR, absorbance_to_reflectance, reflectance_to_absorbance

__all__ = ["ReflectanceToAbsorbance", "AbsorbanceToReflectance"]

FloatArray = npt.NDArray[np.float64]


class _Intensity(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Stateless element-wise conversion; ``fit`` records the number of bands."""

    _parameter_constraints: dict[str, list[Any]] = {"floor": [Interval(Real, 0, None, closed="neither"), None]}

    def __init__(self, floor: float | None = ABSORBANCE_FLOOR) -> None:
        self.floor = floor

    def fit(self, X: npt.ArrayLike, y: object = None) -> _Intensity:
        """Record the number of bands.

        Args:
            X: array of shape (n_samples, n_bands).
            y: ignored.

        Returns:
            self.

        Raises:
            ValueError: If X is not a finite 2-D numeric array.
        """
        validate_fit_input(self, X, dtype=np.float64)
        return self

    def _to_absorbance(self, X: npt.ArrayLike) -> FloatArray:
        """Absorbance of reflectance.

        Args:
            X: reflectance, array of shape (n_samples, n_features_in_).

        Returns:
            float64 absorbance of the same shape.
        """
        return reflectance_to_absorbance(validate_transform_input(self, X, "n_features_in_"), floor=self.floor)

    def _to_reflectance(self, X: npt.ArrayLike) -> FloatArray:
        """Reflectance of absorbance.

        Args:
            X: absorbance, array of shape (n_samples, n_features_in_).

        Returns:
            float64 reflectance of the same shape.
        """
        return absorbance_to_reflectance(validate_transform_input(self, X, "n_features_in_"))


class ReflectanceToAbsorbance(_Intensity):
    r"""Apparent absorbance :math:`A = \log_{10}(1/R)` of reflectance (fraction 0-1, not percent).

    Reflectance at or below ``floor`` (zero, negative noise) is raised to it first, so absorbance
    is at most :math:`-\log_{10}(\mathrm{floor})` (4 for the default 1e-4, the clip of eospec's
    bundled models); ``floor=None`` gives NaN there instead. ``inverse_transform`` is
    :math:`10^{-A}`, so the round trip returns R wherever R > floor.

    Args:
        floor: smallest reflectance used (> 0), or None.

    Attributes:
        n_features_in_: number of bands seen in ``fit``.

    Raises:
        ValueError: If X does not have ``n_features_in_`` columns, or is not finite.
    """

    transform = _Intensity._to_absorbance
    inverse_transform = _Intensity._to_reflectance


class AbsorbanceToReflectance(_Intensity):
    r"""Reflectance :math:`R = 10^{-A}` of apparent absorbance; the inverse of :class:`ReflectanceToAbsorbance`.

    Args:
        floor: used by ``inverse_transform`` (:math:`\log_{10}(1/R)`): reflectance at or below it is
            raised to it first (> 0), or None for NaN there.

    Attributes:
        n_features_in_: number of bands seen in ``fit``.

    Raises:
        ValueError: If X does not have ``n_features_in_`` columns, or is not finite.
    """

    transform = _Intensity._to_reflectance
    inverse_transform = _Intensity._to_absorbance

r"""Savitzky-Golay smoothing and derivatives on the real wavelength axis.

A Savitzky-Golay filter fits a polynomial of order :math:`d` by least squares to each window of
:math:`w` consecutive bands and replaces the centre band by the polynomial's value, or by its
:math:`k`-th derivative (Savitzky & Golay 1964, *Analytical Chemistry* 36(8):1627-1639; the
convolution coefficients are ``scipy.signal.savgol_coeffs``). On an axis with band spacing
:math:`\Delta\lambda` the derivative per unit wavelength is the derivative per band divided by
:math:`\Delta\lambda^k` (SciPy's ``delta``).
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.signal import savgol_filter
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from eospec.preprocessing._base import (
    WavelengthFeatureNamesMixin,
    check_wavelengths,
    validate_fit_input,
    validate_transform_input,
)
from eospec.units import UNITS

__all__ = ["SavitzkyGolay"]

#: Largest relative spread of the band spacing that still counts as an even grid.
_EVEN_SPACING_RTOL = 1e-3


class SavitzkyGolay(WavelengthFeatureNamesMixin, TransformerMixin, BaseEstimator):
    r"""Savitzky-Golay smoothing (``deriv=0``) or derivative (``deriv>=1``) along the bands.

    Wraps ``scipy.signal.savgol_filter`` (chemotools' ``SavitzkyGolay`` calls the same function
    but always per band index). With ``wavelengths`` the derivative is per unit of the axis (e.g.
    reflectance per nm for ``unit="nm"``), computed with the real band spacing; without them it is
    per band (unit spacing). Derivatives need evenly spaced bands (spacing within 0.1 %): resample
    an irregular grid first (:class:`~eospec.preprocessing.SpectralResampler`), or work per band
    index with ``wavelengths=None``. Smoothing (``deriv=0``) does not depend on the spacing.

    Args:
        window_length: number of bands in each window, odd, > ``polyorder``.
        polyorder: order of the fitted polynomial.
        deriv: order of the derivative (0 = smoothing), at most ``polyorder``.
        wavelengths: optional array of shape (n_bands,), strictly increasing band positions in
            ``unit``; None means band indices (unit spacing).
        unit: unit of ``wavelengths``: ``"nm"``, ``"um"`` or ``"cm-1"``.
        mode: edge handling of ``savgol_filter``: ``"interp"`` (fit the polynomial to the first and
            last windows; exact for polynomials of order <= ``polyorder``), ``"mirror"``,
            ``"nearest"``, ``"constant"`` or ``"wrap"``.

    Attributes:
        wavelengths_: float64 array of shape (n_bands,) or None, the validated wavelengths.
        delta_: band spacing used (in ``unit``; 1.0 without wavelengths).
        n_features_in_: number of bands seen in ``fit``.

    Raises:
        ValueError: From ``fit`` if ``polyorder >= window_length``, ``deriv > polyorder``,
            ``window_length`` is even, ``mode="interp"`` with fewer bands than ``window_length``,
            ``wavelengths`` does not have one value per band, or a derivative is asked on an uneven
            grid; from ``transform`` if X does not have ``n_features_in_`` columns.
        WavelengthOrderError: From ``fit`` if ``wavelengths`` is not strictly increasing.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "window_length": [Interval(Integral, 1, None, closed="left")],
        "polyorder": [Interval(Integral, 0, None, closed="left")],
        "deriv": [Interval(Integral, 0, None, closed="left")],
        "wavelengths": ["array-like", None],
        "unit": [StrOptions(set(UNITS))],
        "mode": [StrOptions({"interp", "mirror", "nearest", "constant", "wrap"})],
    }

    def __init__(
        self,
        window_length: int = 11,
        polyorder: int = 2,
        deriv: int = 0,
        wavelengths: npt.ArrayLike | None = None,
        unit: str = "nm",
        mode: Literal["interp", "mirror", "nearest", "constant", "wrap"] = "interp",
    ) -> None:
        self.window_length = window_length
        self.polyorder = polyorder
        self.deriv = deriv
        self.wavelengths = wavelengths
        self.unit = unit
        self.mode = mode

    def fit(self, X: npt.ArrayLike, y: object = None) -> SavitzkyGolay:
        """Check the filter against the bands of X and find the band spacing.

        Args:
            X: array of shape (n_samples, n_bands).
            y: ignored.

        Returns:
            self.

        Raises:
            ValueError, WavelengthOrderError: See the class docstring.
        """
        data = validate_fit_input(self, X, dtype=np.float64)
        name = type(self).__name__
        if self.window_length % 2 == 0:
            raise ValueError(
                f"{name}: window_length={self.window_length} must be odd (the window is centred on a band)"
            )
        if self.polyorder >= self.window_length:
            raise ValueError(
                f"{name}: polyorder={self.polyorder} must be less than window_length={self.window_length}: "
                "lower polyorder or widen the window"
            )
        if self.deriv > self.polyorder:
            raise ValueError(
                f"{name}: deriv={self.deriv} exceeds polyorder={self.polyorder}, so the derivative would be 0: "
                f"pass polyorder >= {self.deriv}"
            )
        n_bands = data.shape[1]
        if self.mode == "interp" and n_bands < self.window_length:
            raise ValueError(
                f"{name}: X has {n_bands} feature(s) (bands), fewer than window_length={self.window_length}: "
                f"pass window_length <= {n_bands} or another mode (e.g. mode='nearest')"
            )
        self.wavelengths_ = check_wavelengths(self.wavelengths, n_bands, self.unit, name)
        self.delta_ = 1.0
        if self.wavelengths_ is not None and n_bands > 1:
            steps = np.diff(self.wavelengths_)
            self.delta_ = float(steps.mean())
            if self.deriv > 0 and not np.allclose(steps, self.delta_, rtol=_EVEN_SPACING_RTOL, atol=0.0):
                raise ValueError(
                    f"{name}: a derivative needs evenly spaced bands but the steps of wavelengths range from "
                    f"{steps.min():g} to {steps.max():g} {self.unit}: resample to an even grid first "
                    "(SpectralResampler) or pass wavelengths=None to differentiate per band index"
                )
        return self

    def transform(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Smooth or differentiate each spectrum.

        Args:
            X: array of shape (n_samples, n_features_in_).

        Returns:
            float64 array of shape (n_samples, n_features_in_): smoothed values, or the ``deriv``-th
            derivative per unit of ``wavelengths`` (per band without them).

        Raises:
            ValueError: If X does not have ``n_features_in_`` columns.
            sklearn.exceptions.NotFittedError: If called before ``fit``.
        """
        data = validate_transform_input(self, X, "delta_")
        result: npt.NDArray[np.float64] = savgol_filter(
            data, self.window_length, self.polyorder, deriv=self.deriv, delta=self.delta_, axis=1, mode=self.mode
        )
        return result

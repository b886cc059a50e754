r"""Scatter corrections: standard normal variate (SNV) and multiplicative scatter correction (MSC).

Both wrap the chemotools transformers (``chemotools.scatter``), which compute them with NumPy.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import numpy.typing as npt
from chemotools.scatter import MultiplicativeScatterCorrection as _ChemotoolsMSC
from chemotools.scatter import StandardNormalVariate as _ChemotoolsSNV
from sklearn.utils._param_validation import Interval

__all__ = ["StandardNormalVariate", "MultiplicativeScatterCorrection"]


class StandardNormalVariate(_ChemotoolsSNV):
    r"""Standard normal variate: centre and scale each spectrum by its own mean and standard deviation.

    For a spectrum :math:`x` of :math:`p` bands (Barnes, Dhanoa & Lister 1989, *Applied
    Spectroscopy* 43(5):772-777),

    .. math:: x^{\mathrm{SNV}}_j = \frac{x_j - \bar x}{\sqrt{\sum_k (x_k - \bar x)^2 / (p - \mathrm{ddof})}}

    Barnes et al. divide by :math:`p - 1` (``ddof=1``, the default, as eospec's bundled models
    do); chemotools, which this subclasses, uses :math:`p` (``ddof=0``). The two differ by the
    factor :math:`\sqrt{(p - 1)/p}`. SNV is stateless: ``fit`` only records the number of bands.

    Args:
        ddof: delta degrees of freedom of the standard deviation (0 or 1 in practice).

    Attributes:
        n_features_in_: number of bands seen in ``fit``.
        feature_names_in_: column names of a DataFrame X, when it had string names.

    Raises:
        ValueError: From ``fit`` if X has ``ddof`` or fewer bands; from ``transform`` if X does not
            have ``n_features_in_`` columns. A flat spectrum (standard deviation 0) gives NaN and a
            UserWarning.

    Example:
        ``StandardNormalVariate().fit_transform(X)`` with X of shape (n_samples, n_bands), any unit
        (reflectance, absorbance); the result has the same shape, float64, each row with mean 0 and
        standard deviation 1.
    """

    _parameter_constraints: dict[str, list[Any]] = {"ddof": [Interval(Integral, 0, None, closed="left")]}

    def __init__(self, ddof: int = 1) -> None:
        self.ddof = ddof

    def fit(self, X: npt.ArrayLike, y: object = None) -> StandardNormalVariate:
        """Record the number of bands.

        Args:
            X: array of shape (n_samples, n_bands).
            y: ignored.

        Returns:
            self.

        Raises:
            ValueError: If X is not a finite 2-D numeric array or has ``ddof`` or fewer bands.
        """
        super().fit(X, y)
        if self.n_features_in_ <= self.ddof:
            raise ValueError(
                f"SNV with ddof={self.ddof} needs more than {self.ddof} band(s) but X has {self.n_features_in_} "
                "feature(s): pass spectra with more bands or ddof=0"
            )
        return self

    def transform(self, X: npt.ArrayLike, y: object = None) -> npt.NDArray[np.float64]:
        """SNV of each spectrum.

        Args:
            X: array of shape (n_samples, n_features_in_).
            y: ignored.

        Returns:
            float64 array of shape (n_samples, n_features_in_).

        Raises:
            ValueError: If X does not have ``n_features_in_`` columns.
            sklearn.exceptions.NotFittedError: If called before ``fit``.
        """
        result: npt.NDArray[np.float64] = super().transform(X, y)
        if self.ddof:
            p = result.shape[1]
            result *= np.sqrt((p - self.ddof) / p)
        return result


class MultiplicativeScatterCorrection(_ChemotoolsMSC):
    r"""Multiplicative scatter correction against a reference spectrum (chemotools' implementation).

    Each spectrum :math:`x` is regressed on the reference :math:`r` by least squares,
    :math:`x = a\,r + b + e`, and corrected to :math:`(x - b)/a` (Geladi, MacDougall & Martens
    1985, *Applied Spectroscopy* 39(3):491-500). The reference is
    the mean (or median) training spectrum, learnt in ``fit``, or one you give.

    Args:
        method: ``"mean"`` or ``"median"``: the reference computed from the training spectra.
        reference: optional array of shape (n_bands,), the reference spectrum; ``method`` is then
            ignored.
        weights: optional array of shape (n_bands,), weights of the bands in the regression (e.g. 0
            for noisy bands); chemotools applies them to both sides of the least squares, so the
            effective weight of a band is its value squared.

    Attributes:
        reference_: float64 array of shape (n_bands,), the reference spectrum used.
        weights_: float64 array of shape (n_bands,), the weights used (ones by default).
        n_features_in_: number of bands seen in ``fit``.

    Raises:
        ValueError: From ``fit`` if ``reference``/``weights`` do not have one value per band; from
            ``transform`` if X does not have ``n_features_in_`` columns.

    Example:
        ``MultiplicativeScatterCorrection().fit(X_train).transform(X)``: X of shape (n_samples,
        n_bands), any unit; a spectrum equal to :math:`a\,r + b` maps back to :math:`r` exactly.
    """

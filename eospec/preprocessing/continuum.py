r"""Continuum removal by the upper convex hull (Clark & Roush 1984).

The continuum :math:`R_c(\lambda)` of a reflectance spectrum :math:`R(\lambda)` is the upper
convex hull of the points :math:`(\lambda_j, R_j)`, drawn as straight lines between its vertices;
the continuum-removed spectrum is the ratio

.. math:: R_{cr}(\lambda) = R(\lambda) / R_c(\lambda) \in (0, 1]

and the band depth is :math:`D = 1 - R_{cr}` (Clark & Roush 1984, *Journal of Geophysical
Research* 89(B7):6329-6340). The hull is computed on the real
wavelengths, so unevenly spaced bands (EnMAP's two spectrometers, bad-band gaps) give the same
continuum as the physical spectrum.

Speed: :func:`convex_hull_continuum` runs Andrew's monotone chain (Andrew 1979, *Information
Processing Letters* 9(5):216-219) on all spectra at once, vectorised over the spectra. A band
that lies below a chord between two other bands of its spectrum is no hull vertex, so two array
passes discard most bands first: those below the hull of every 16th band (computed the same way)
and those on or below the chord of their two neighbours; the chain then runs on the rest (about
100-250 of 2151 bands for lab spectra). 10,000 spectra of 2151 bands take 1-2 s of CPU
(``docs/preprocessing.md``), 3-4 times less than ``scipy.spatial.ConvexHull`` per spectrum, with
the same hull.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions

from eospec.preprocessing._base import (
    FloatArray,
    WavelengthFeatureNamesMixin,
    check_wavelengths,
    positions,
    validate_fit_input,
    validate_transform_input,
)
from eospec.units import UNITS

__all__ = ["convex_hull_continuum", "ContinuumRemoval"]

IntArray = npt.NDArray[np.intp]

#: Band step of the coarse hull whose lines discard the bands below them.
_COARSE_STEP = 16
#: Rows per cache-sized chunk of the array passes, and per block of the chain.
_CHUNK_ROWS = 512
_BLOCK_ROWS = 8192


def _candidates(x: FloatArray, y: FloatArray, coarse_hull: FloatArray) -> npt.NDArray[np.bool_]:
    """False for bands that cannot be upper-hull vertices: below the coarse hull or a neighbours' chord."""
    keep = y >= coarse_hull
    # p = (x_p, y_p) is above the chord a-b iff (x_b - x_a)(y_p - y_a) > (y_b - y_a)(x_p - x_a).
    left, middle, right = y[:, :-2], y[:, 1:-1], y[:, 2:]
    keep[:, 1:-1] &= (middle - left) * (x[2:] - x[:-2]) > (right - left) * (x[1:-1] - x[:-2])
    keep[:, 0] = True
    keep[:, -1] = True
    return keep


def _compact(keep: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    """Column indices of the True entries of each row, left-aligned, padded with the last column."""
    m, n = keep.shape
    counts = keep.sum(axis=1)
    rows, columns = np.nonzero(keep)
    starts = np.cumsum(counts) - counts
    packed = np.full((m, int(counts.max())), n - 1, dtype=np.intp)
    packed[rows, np.arange(rows.size) - starts[rows]] = columns
    return packed, counts


def _monotone_chain(xc: FloatArray, yc: FloatArray) -> tuple[IntArray, IntArray]:
    """Upper hull of each row of (xc, yc) (x increasing along rows), all rows at once.

    Returns the hull vertex positions (m, K), left-aligned, and the number of vertices per row.
    """
    m, k_max = xc.shape
    stack = np.zeros((m, k_max), dtype=np.intp)
    top = np.zeros(m, dtype=np.intp)
    rows = np.arange(m)
    base = rows * k_max
    x_flat, y_flat, stack_flat = xc.ravel(), yc.ravel(), stack.ravel()
    for j in range(k_max):
        xj, yj = xc[:, j], yc[:, j]
        active = rows[top >= 2]
        while active.size:
            slot = base[active] + top[active]
            second = base[active] + stack_flat[slot - 1]
            first = base[active] + stack_flat[slot - 2]
            x1, y1 = x_flat[first], y_flat[first]
            # Pop the last vertex while it is not strictly above the chord from the one before it to j.
            cross = (x_flat[second] - x1) * (yj[active] - y1) - (y_flat[second] - y1) * (xj[active] - x1)
            active = active[cross >= 0]
            top[active] -= 1
            active = active[top[active] >= 2]
        stack_flat[base + top] = j
        top += 1
    return stack, top


def _hull_values(x: FloatArray, y: FloatArray, vertices: IntArray, counts: IntArray, out: FloatArray) -> None:
    """Write into ``out`` (m, n) the lines between each row's hull vertices (columns, left-aligned)."""
    m, n = y.shape
    is_vertex = np.arange(vertices.shape[1])[None, :] < counts[:, None]
    # One np.interp per chunk of rows: row r is shifted by r * span along x, so rows never mix.
    span = float(x[-1] - x[0]) + 1.0
    for s in range(0, m, _CHUNK_ROWS):
        e = min(m, s + _CHUNK_ROWS)
        vertex_rows, vertex_slots = np.nonzero(is_vertex[s:e])
        vertex_columns = vertices[s:e][vertex_rows, vertex_slots]
        offsets = np.arange(e - s) * span
        queries = (x[None, :] + offsets[:, None]).ravel()
        nodes = x[vertex_columns] + offsets[vertex_rows]
        out[s:e] = np.interp(queries, nodes, y[s + vertex_rows, vertex_columns]).reshape(e - s, n)


def _upper_hull(x: FloatArray, y: FloatArray, columns: IntArray) -> tuple[IntArray, IntArray]:
    """Hull vertices (columns of y, left-aligned) and their number per row, from candidate columns."""
    stack, top = _monotone_chain(x[columns], np.take_along_axis(y, columns, axis=1))
    return np.take_along_axis(columns, stack, axis=1), top


def _block_continuum(x: FloatArray, y: FloatArray, out: FloatArray) -> None:
    m, n = y.shape
    # The hull of every _COARSE_STEP-th band (and the last) lies on or below the full hull.
    coarse = np.unique(np.r_[0:n:_COARSE_STEP, n - 1])
    vertices, counts = _upper_hull(x, y, np.tile(coarse, (m, 1)))
    _hull_values(x, y, vertices, counts, out)
    parts = [
        _compact(_candidates(x, y[s : s + _CHUNK_ROWS], out[s : s + _CHUNK_ROWS])) for s in range(0, m, _CHUNK_ROWS)
    ]
    columns = np.full((m, max(part[0].shape[1] for part in parts)), n - 1, dtype=np.intp)
    row = 0
    for packed, _ in parts:
        columns[row : row + packed.shape[0], : packed.shape[1]] = packed
        row += packed.shape[0]
    vertices, counts = _upper_hull(x, y, columns)
    _hull_values(x, y, vertices, counts, out)


def convex_hull_continuum(spectra: npt.ArrayLike, wavelengths: npt.ArrayLike | None = None) -> FloatArray:
    """The continuum of each spectrum: its upper convex hull, linearly interpolated to every band.

    Args:
        spectra: shape (n_bands,) or (n_samples, n_bands), finite values (reflectance 0-1).
        wavelengths: shape (n_bands,), strictly increasing band positions (e.g. nm); None means
            band indices, which give the same hull as any evenly spaced axis.

    Returns:
        float64 array of the shape of ``spectra``: the hull, equal to the spectrum at the hull
        vertices (always including the first and last band) and above or on it elsewhere.

    Raises:
        ValueError: If ``spectra`` is not 1-D or 2-D, holds NaN or inf, or ``wavelengths`` does not
            have one value per band or is not strictly increasing.
    """
    values = np.asarray(spectra, dtype=np.float64)
    if values.ndim not in (1, 2):
        raise ValueError(f"spectra must have shape (n_bands,) or (n_samples, n_bands), got shape {values.shape}")
    table = values.reshape(1, -1) if values.ndim == 1 else values
    n = table.shape[1]
    if not np.all(np.isfinite(table)):
        raise ValueError("spectra contain NaN or inf: drop those bands first (e.g. with BandSelector)")
    x = positions(None if wavelengths is None else np.asarray(wavelengths, dtype=np.float64), n)
    if x.shape != (n,) or (n > 1 and not np.all(np.diff(x) > 0)):
        raise ValueError(
            f"wavelengths must be strictly increasing with one value per band ({n}), got shape {x.shape}: "
            "sort the bands by wavelength"
        )
    out = np.empty_like(table)
    if n <= 2 or table.shape[0] == 0:
        out[:] = table
    else:
        for s in range(0, table.shape[0], _BLOCK_ROWS):
            _block_continuum(x, table[s : s + _BLOCK_ROWS], out[s : s + _BLOCK_ROWS])
    return out.reshape(values.shape)


class ContinuumRemoval(WavelengthFeatureNamesMixin, TransformerMixin, BaseEstimator):
    r"""Continuum removal: each spectrum divided by its upper convex hull (Clark & Roush 1984).

    See the module docstring for the formula. The result lies in (0, 1] for positive reflectance:
    exactly 1 at the hull vertices (which always include the first and last band; values a
    rounding error above 1 are set to 1), NaN where the continuum is 0 (a spectrum that is 0
    across a whole hull segment). ``output="depth"`` returns the band depth :math:`1 - R/R_c`
    instead. Stateless: ``fit`` only checks the bands.

    Select the range of a feature first to remove a local continuum, e.g. 2100-2300 nm for the
    clay Al-OH feature: ``BandSelector(wavelengths=w, include=[(2100, 2300)])`` then
    ``ContinuumRemoval(wavelengths=w[(w >= 2100) & (w <= 2300)])``.

    The tag ``input_tags.positive_only`` is set: reflectance is non-negative, and the ratio to a
    hull is meaningless for negative values, so ``fit`` and ``transform`` refuse them (this is what
    scikit-learn's ``check_fit_non_negative`` expects).

    Args:
        wavelengths: optional array of shape (n_bands,), strictly increasing band positions in
            ``unit``; None means band indices (right for evenly spaced bands).
        unit: unit of ``wavelengths``: ``"nm"``, ``"um"`` or ``"cm-1"``.
        output: ``"ratio"`` (:math:`R/R_c`) or ``"depth"`` (:math:`1 - R/R_c`).

    Attributes:
        wavelengths_: float64 array of shape (n_bands,) or None.
        n_features_in_: number of bands seen in ``fit``.

    Raises:
        ValueError: If X holds negative values ("Negative values in data passed to ..."), NaN or
            inf, or does not have ``n_features_in_`` columns, or ``wavelengths`` does not have one
            value per band.
        WavelengthOrderError: If ``wavelengths`` is not strictly increasing.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "wavelengths": ["array-like", None],
        "unit": [StrOptions(set(UNITS))],
        "output": [StrOptions({"ratio", "depth"})],
    }

    def __init__(
        self,
        wavelengths: npt.ArrayLike | None = None,
        unit: str = "nm",
        output: Literal["ratio", "depth"] = "ratio",
    ) -> None:
        self.wavelengths = wavelengths
        self.unit = unit
        self.output = output

    def __sklearn_tags__(self) -> Any:
        """Scikit-learn tags: X must be non-negative."""
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    def _check_non_negative(self, data: FloatArray) -> None:
        if data.size and data.min() < 0:
            raise ValueError(
                f"Negative values in data passed to {type(self).__name__} (minimum {data.min():g}): continuum "
                "removal takes reflectance >= 0; clip or offset the spectra first (e.g. np.clip(X, 0, None))"
            )

    def _spectra_and_continuum(self, X: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """The validated X and its continuum, both float64 arrays of shape (n_samples, n_features_in_)."""
        data = validate_transform_input(self, X, "wavelengths_")
        self._check_non_negative(data)
        return data, convex_hull_continuum(data, positions(self.wavelengths_, data.shape[1]))

    def fit(self, X: npt.ArrayLike, y: object = None) -> ContinuumRemoval:
        """Check X and the wavelengths.

        Args:
            X: array of shape (n_samples, n_bands), reflectance >= 0.
            y: ignored.

        Returns:
            self.

        Raises:
            ValueError, WavelengthOrderError: See the class docstring.
        """
        data = validate_fit_input(self, X, dtype=np.float64)
        self._check_non_negative(data)
        self.wavelengths_ = check_wavelengths(self.wavelengths, data.shape[1], self.unit, type(self).__name__)
        return self

    def continuum(self, X: npt.ArrayLike) -> FloatArray:
        """The continuum (upper convex hull) of each spectrum.

        Args:
            X: array of shape (n_samples, n_features_in_), reflectance >= 0.

        Returns:
            float64 array of shape (n_samples, n_features_in_).

        Raises:
            ValueError: As :meth:`transform`.
        """
        return self._spectra_and_continuum(X)[1]

    def transform(self, X: npt.ArrayLike) -> FloatArray:
        """Continuum-removed spectra (or band depths).

        Args:
            X: array of shape (n_samples, n_features_in_), reflectance >= 0.

        Returns:
            float64 array of shape (n_samples, n_features_in_), in (0, 1] (``output="ratio"``) or
            [0, 1) (``output="depth"``), NaN where the continuum is 0.

        Raises:
            ValueError: If X has negative values, NaN or inf, or not ``n_features_in_`` columns.
            sklearn.exceptions.NotFittedError: If called before ``fit``.
        """
        data, hull = self._spectra_and_continuum(X)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.minimum(data / hull, 1.0)
        if self.output == "depth":
            return 1.0 - ratio
        return ratio

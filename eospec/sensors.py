r"""Sensor band definitions and spectral resampling by spectral response functions (SRFs).

Wavelengths are in nanometres (nm) throughout this module.

Resampling a finely sampled spectrum :math:`r(\lambda)` to a band :math:`i` with response
:math:`s_i(\lambda)` is the response-weighted mean

.. math:: r_i = \frac{\sum_j s_i(\lambda_j)\, r(\lambda_j)\, \Delta\lambda_j}
                      {\sum_j s_i(\lambda_j)\, \Delta\lambda_j}

(e.g. Schott, *Remote Sensing: The Image Chain Approach*, 2007, Eq. 7.24). A Gaussian response
with full width at half maximum (FWHM) :math:`f` has :math:`\sigma = f / (2\sqrt{2\ln 2})`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt

__all__ = [
    "Sensor",
    "enmap",
    "ENMAP_DEFAULT_BANDS",
    "gaussian_srf_matrix",
    "tabulated_srf_matrix",
    "resample",
    "nearest_band",
    "read_srf_table",
]

FloatArray = npt.NDArray[np.float64]

#: 1-based EnMAP bands kept by TorchGeo's ``EnMAP.default_bands`` and SpectralEarth (202 bands):
#: bands 127-141 (about 1330-1490 nm) and 161-167 (about 1780-1960 nm) are dropped because the
#: water-vapour absorption there leaves no usable bottom-of-atmosphere signal.
ENMAP_DEFAULT_BANDS: tuple[int, ...] = tuple(list(range(1, 127)) + list(range(142, 161)) + list(range(168, 225)))

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass(frozen=True)
class Sensor:
    """Band centres and widths of an imaging spectrometer.

    Attributes:
        name: short sensor name, e.g. ``"enmap"``.
        wavelengths_nm: float64 array of shape (B,), band centre wavelengths in nm, increasing.
        fwhm_nm: float64 array of shape (B,), full width at half maximum of each band in nm.
        bad_bands: bool array of shape (B,), True for bands that carry no usable signal.
    """

    name: str
    wavelengths_nm: FloatArray
    fwhm_nm: FloatArray
    bad_bands: npt.NDArray[np.bool_]

    @property
    def n_bands(self) -> int:
        """Number of bands, B."""
        return int(self.wavelengths_nm.size)

    @property
    def good_band_indices(self) -> npt.NDArray[np.int64]:
        """0-based indices of the bands that are not bad, shape (B_good,)."""
        return np.flatnonzero(~self.bad_bands)

    def srf_matrix(self, source_wavelengths_nm: npt.ArrayLike) -> FloatArray:
        """Gaussian SRF matrix from a source wavelength grid to this sensor's bands.

        Args:
            source_wavelengths_nm: shape (S,), increasing wavelengths of the source spectra in nm.

        Returns:
            float64 array of shape (B, S); see :func:`gaussian_srf_matrix`.
        """
        return gaussian_srf_matrix(source_wavelengths_nm, self.wavelengths_nm, self.fwhm_nm)


@functools.cache
def enmap() -> Sensor:
    """The EnMAP HSI L2A sensor: 224 bands, 418-2446 nm, with the 22 water-vapour bad bands.

    Band centres and FWHM are the generic L2A values (EnMAP HSI product specification,
    EN-PCV-ICD-2009-2); each real scene's METADATA.XML or band tags carry its own values, which
    the scene readers prefer.

    Returns:
        The EnMAP :class:`Sensor`.
    """
    text = resources.files("eospec").joinpath("data/enmap_l2a_bands.csv").read_text()
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith(("#", "band"))]
    table = np.array([[float(value) for value in row] for row in rows])
    bad = np.ones(len(table), dtype=bool)
    bad[np.asarray(ENMAP_DEFAULT_BANDS) - 1] = False
    return Sensor("enmap", table[:, 1].copy(), table[:, 2].copy(), bad)


def _check_increasing(wavelengths: FloatArray, name: str) -> None:
    if wavelengths.ndim != 1 or wavelengths.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 wavelengths, got shape {wavelengths.shape}")
    if not np.all(np.diff(wavelengths) > 0):
        raise ValueError(f"{name} must be strictly increasing (nm); sort the spectra by wavelength first")


def _sample_widths(wavelengths: FloatArray) -> FloatArray:
    """Width of the interval each sample of a (possibly irregular) grid stands for."""
    edges = np.concatenate([[wavelengths[0]], (wavelengths[1:] + wavelengths[:-1]) / 2.0, [wavelengths[-1]]])
    widths = np.diff(edges)
    widths[0] *= 2.0
    widths[-1] *= 2.0
    return widths


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
    resampled values for it are NaN rather than silently extrapolated.

    Args:
        source_wavelengths_nm: shape (S,), increasing source wavelengths in nm.
        centres_nm: shape (B,), target band centres in nm.
        fwhm_nm: shape (B,) or scalar, target band FWHM in nm (> 0).
        min_coverage: fraction of each band's response (0-1] that must fall inside the source range.

    Returns:
        float64 array of shape (B, S); each finite row sums to 1.

    Raises:
        ValueError: If the source wavelengths are not increasing or an FWHM is not positive.
    """
    source = np.asarray(source_wavelengths_nm, dtype=np.float64)
    centres = np.asarray(centres_nm, dtype=np.float64).ravel()
    fwhm = np.broadcast_to(np.asarray(fwhm_nm, dtype=np.float64), centres.shape)
    _check_increasing(source, "source_wavelengths_nm")
    if np.any(~(fwhm > 0)):
        raise ValueError(f"fwhm_nm must be positive, got {fwhm[~(fwhm > 0)][:3].tolist()}")
    sigma = fwhm * _FWHM_TO_SIGMA
    z = (source[None, :] - centres[:, None]) / sigma[:, None]
    weights = np.exp(-0.5 * z**2) * _sample_widths(source)[None, :]
    # Fraction of each Gaussian inside [source[0], source[-1]], from the normal CDF.
    from scipy.special import ndtr

    inside = ndtr((source[-1] - centres) / sigma) - ndtr((source[0] - centres) / sigma)
    totals = weights.sum(axis=1)
    matrix = weights / np.where(totals > 0, totals, 1.0)[:, None]
    matrix[(inside < min_coverage) | (totals <= 0)] = np.nan
    return matrix


def tabulated_srf_matrix(
    source_wavelengths_nm: npt.ArrayLike,
    responses: list[tuple[npt.ArrayLike, npt.ArrayLike]],
) -> FloatArray:
    """Resampling matrix from tabulated spectral responses.

    Args:
        source_wavelengths_nm: shape (S,), increasing source wavelengths in nm.
        responses: one ``(wavelengths_nm, weights)`` pair per target band, each of shape (K_i,),
            e.g. the EnMAP-Box ``.srf`` tables (whose wavelengths are in um: multiply by 1000).
            The response is linearly interpolated onto the source grid (zero outside its table).

    Returns:
        float64 array of shape (B, S); each row sums to 1, NaN for a band with no response inside
        the source range.

    Raises:
        ValueError: If the source wavelengths are not increasing.
    """
    source = np.asarray(source_wavelengths_nm, dtype=np.float64)
    _check_increasing(source, "source_wavelengths_nm")
    widths = _sample_widths(source)
    matrix = np.full((len(responses), source.size), np.nan)
    for row, (wavelengths, weights) in enumerate(responses):
        grid = np.asarray(wavelengths, dtype=np.float64)
        values = np.asarray(weights, dtype=np.float64)
        order = np.argsort(grid)
        response = np.interp(source, grid[order], values[order], left=0.0, right=0.0) * widths
        if response.sum() > 0:
            matrix[row] = response / response.sum()
    return matrix


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
        :func:`tabulated_srf_matrix`, and float64 arrays of shape (B,).

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

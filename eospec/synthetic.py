r"""Synthetic hyperspectral mixtures with known abundances: the post-nonlinear mixing model.

The synthetic benchmark of Dhaini et al. (2024), "Contrastive learning for regression on
hyperspectral data", ICASSP 2024 (arXiv:2403.17014), Section 4.1: a 100 x 100 pixel image mixed from
four USGS splib07 endmember spectra at 224 bands with Dirichlet-distributed abundances and the
post-nonlinear model (the PPNMM of Altmann, Halimi, Dobigeon and Tourneret 2012, "Supervised
nonlinear spectral unmixing using a postnonlinear mixing model for hyperspectral imagery", IEEE
Trans. Image Process. 21(6), 3017-3025, Eq. 3, with nonlinearity parameter b = 1):

.. math::

    x = M a + b\,(M a) \odot (M a) + n,

with :math:`M` the (B, R) endmember matrix, :math:`a` the abundance vector on the simplex
(:math:`a_r \ge 0`, :math:`\sum_r a_r = 1`), :math:`\odot` the element-wise product and :math:`n`
white Gaussian noise. The noise level is set by the signal-to-noise ratio, defined here over the
whole image (all pixels and bands):

.. math::

    \mathrm{SNR} = 10 \log_{10} \frac{\overline{s^2}}{\sigma^2}, \qquad s = M a + b\,(M a) \odot (M a),

so :math:`\sigma^2 = \overline{s^2} / 10^{\mathrm{SNR}/10}`. The regression target is :math:`a`.

:data:`SYNTHETIC_ENDMEMBERS` names the four splib07 spectra that eospec's reproduction uses (soil
minerals measured on the Beckman spectrometer, complete over the 224 AVIRIS-1995 channels); the
paper does not name its four in the sources we could read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from eospec.errors import SpectralLibraryError

__all__ = [
    "DELETED_VALUE_THRESHOLD",
    "SPLIB07_AV95",
    "Mixtures",
    "SYNTHETIC_ENDMEMBERS",
    "make_mixtures",
    "measured_snr_db",
    "post_nonlinear_mixing",
    "select_spectra",
    "usgs_endmembers",
]

#: splib07 (AVIRIS-1995 convolution, ``s07_AV95_envi.sli``) spectra used as the four endmembers,
#: as their names read with runs of spaces collapsed: kaolinite, montmorillonite, calcite, hematite.
SYNTHETIC_ENDMEMBERS: tuple[str, ...] = (
    "Kaolinite CM9 BECKb AREF",
    "Montmorillonite SWy-1 BECKb AREF",
    "Calcite WS272 BECKa AREF",
    "Hematite GDS27 BECKa AREF",
)

#: Where the splib07 AVIRIS-1995 library lies inside the shared data folder.
SPLIB07_AV95 = Path("endmembers") / "usgs_splib07_av95" / "s07_AV95_envi.hdr"

#: USGS spectral libraries mark deleted channels with -1.23e34; values below this are missing.
DELETED_VALUE_THRESHOLD = -1.0e30


class Mixtures(NamedTuple):
    """Mixed spectra and their abundances (unpacks as ``spectra, abundances``).

    Attributes:
        spectra: float32 array (N, B): mixed reflectance, noise included.
        abundances: float32 array (N, R): the abundances, each row on the simplex.
    """

    spectra: npt.NDArray[np.float32]
    abundances: npt.NDArray[np.float32]


def _normalise_name(name: str) -> str:
    return " ".join(str(name).split())


def select_spectra(
    names: Sequence[str], spectra: npt.ArrayLike, wanted: Sequence[str] = SYNTHETIC_ENDMEMBERS
) -> npt.NDArray[np.float64]:
    """Pick spectra from a library by name (runs of whitespace ignored).

    Args:
        names: the library's spectrum names, length L.
        spectra: array (L, B) of the library's spectra (reflectance 0-1).
        wanted: the names to pick, in the order wanted.

    Returns:
        Float64 array (len(wanted), B).

    Raises:
        SpectralLibraryError: If a wanted name is missing (or repeated) in ``names``, the shapes do
            not match, or a picked spectrum has deleted (< -1e30) or non-finite channels.
    """
    table = np.asarray(spectra, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] != len(names):
        raise SpectralLibraryError(
            f"spectra of shape {table.shape} do not match {len(names)} names: "
            "pass an (L, B) array with one row per name"
        )
    index: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        index.setdefault(_normalise_name(name), []).append(i)
    rows = []
    for name in wanted:
        hits = index.get(_normalise_name(name), [])
        if len(hits) != 1:
            problem = "is not in the library" if not hits else f"appears {len(hits)} times"
            raise SpectralLibraryError(f"spectrum {name!r} {problem}: pass names exactly as the library spells them")
        row = table[hits[0]]
        if not np.all(np.isfinite(row) & (row > DELETED_VALUE_THRESHOLD)):
            raise SpectralLibraryError(
                f"spectrum {name!r} has deleted or non-finite channels: choose a spectrum measured over all bands"
            )
        rows.append(row)
    return np.stack(rows)


def post_nonlinear_mixing(
    endmembers: npt.ArrayLike, abundances: npt.ArrayLike, nonlinearity: float = 1.0
) -> npt.NDArray[np.float64]:
    """Noise-free post-nonlinear mixtures ``s = M a + b (M a) * (M a)`` (Altmann et al. 2012, Eq. 3).

    Args:
        endmembers: array (R, B), the endmember spectra (reflectance 0-1), one per row.
        abundances: array (N, R), the abundances.
        nonlinearity: b, the weight of the quadratic term (0 gives the linear mixing model).

    Returns:
        Float64 array (N, B).

    Raises:
        ValueError: If the shapes do not match.
    """
    m = np.asarray(endmembers, dtype=np.float64)
    a = np.asarray(abundances, dtype=np.float64)
    if m.ndim != 2 or a.ndim != 2 or a.shape[1] != m.shape[0]:
        raise ValueError(
            f"endmembers {m.shape} and abundances {a.shape} do not match: pass (R, B) endmembers and (N, R) abundances"
        )
    linear = a @ m
    return linear + nonlinearity * linear * linear


def measured_snr_db(signal: npt.ArrayLike, noisy: npt.ArrayLike) -> float:
    """Signal-to-noise ratio of a noisy copy, in dB, over all elements: ``10 log10(mean(s^2) / mean((x - s)^2))``.

    Args:
        signal: the noise-free array (any shape).
        noisy: the noisy array, same shape.

    Returns:
        The SNR in dB (``inf`` when the two are equal).

    Raises:
        ValueError: If the shapes differ.
    """
    s = np.asarray(signal, dtype=np.float64)
    x = np.asarray(noisy, dtype=np.float64)
    if s.shape != x.shape:
        raise ValueError(f"signal {s.shape} and noisy {x.shape} differ in shape: pass arrays of the same shape")
    noise_power = float(np.mean((x - s) ** 2))
    if noise_power == 0.0:
        return float("inf")
    return float(10.0 * np.log10(np.mean(s**2) / noise_power))


def make_mixtures(
    endmembers: npt.ArrayLike,
    n_pixels: int = 100 * 100,
    snr_db: float | None = 20.0,
    seed: int | np.random.Generator | None = 0,
    concentration: float | Sequence[float] = 1.0,
    nonlinearity: float = 1.0,
    scale: float = 1.0,
) -> Mixtures:
    """Draw Dirichlet abundances and mix them with the post-nonlinear model, plus noise at a given SNR.

    The abundances are drawn first (``Generator.dirichlet``), then the noise
    (``Generator.standard_normal``), from one ``numpy.random.Generator``, so a seed fixes both.

    Args:
        endmembers: array (R, B), R endmember spectra (reflectance 0-1) at B bands; the paper uses
            R = 4, B = 224.
        n_pixels: number of mixed pixels N (100 x 100 = 10,000 in the paper).
        snr_db: signal-to-noise ratio in dB over the whole image (see the module docstring);
            ``None`` for noise-free spectra.
        seed: seed or generator.
        concentration: Dirichlet concentration, a scalar or R values; 1 draws uniformly on the
            simplex.
        nonlinearity: b, the weight of the quadratic term.
        scale: a factor applied to the noise-free mixtures before the noise is added (the SNR is
            then defined over the scaled signal, so the noise scales with it). With b = 1 the
            mixtures of reflectances in [0, 1] reach 2; ``scale=0.5`` keeps them in [0, 1], as the
            Hapke augmentation (:class:`eospec.augment.HapkeScattering`) requires.

    Returns:
        :class:`Mixtures` with ``spectra`` float32 (N, B) and ``abundances`` float32 (N, R).

    Raises:
        ValueError: If ``endmembers`` is not a finite (R, B) array with R >= 2, ``n_pixels`` < 1,
            a concentration is not positive, ``snr_db`` is not finite or ``scale`` is not a finite
            positive number.
    """
    m = np.asarray(endmembers, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 2 or not np.all(np.isfinite(m)):
        raise ValueError(
            f"endmembers of shape {m.shape} are invalid: pass a finite (R, B) array with R >= 2 spectra as rows"
        )
    if int(n_pixels) < 1:
        raise ValueError(f"n_pixels {n_pixels!r} is invalid: use a positive number of pixels")
    alpha = np.broadcast_to(np.asarray(concentration, dtype=np.float64), (m.shape[0],))
    if not np.all(alpha > 0):
        raise ValueError(f"concentration {concentration!r} is invalid: use Dirichlet parameters > 0")
    if snr_db is not None and not np.isfinite(snr_db):
        raise ValueError(f"snr_db {snr_db!r} is invalid: use a finite value in dB, or None for no noise")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale {scale!r} is invalid: use a finite factor > 0 (1 leaves the mixtures unscaled)")
    rng = np.random.default_rng(seed)
    abundances = rng.dirichlet(alpha, size=int(n_pixels))
    signal = scale * post_nonlinear_mixing(m, abundances, nonlinearity)
    spectra = signal
    if snr_db is not None:
        sigma = np.sqrt(np.mean(signal**2) / 10.0 ** (snr_db / 10.0))
        spectra = signal + sigma * rng.standard_normal(signal.shape)
    return Mixtures(spectra.astype(np.float32), abundances.astype(np.float32))


def usgs_endmembers(
    path: str | os.PathLike[str] | None = None, names: Sequence[str] = SYNTHETIC_ENDMEMBERS
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Read the synthetic study's endmembers from the USGS splib07 library (AVIRIS-1995, 224 channels).

    The library (Kokaly et al. 2017, USGS Spectral Library Version 7, USGS Data Series 1035,
    convolved to AVIRIS 1995) is read with :func:`eospec.libraries.read_envi_library`; its channels
    are sorted by wavelength (the AVIRIS spectrometers overlap near 0.66-0.69 um).

    Args:
        path: the ``s07_AV95_envi.hdr`` file; default ``<shared data>/endmembers/usgs_splib07_av95/``.
        names: the spectra to pick (see :func:`select_spectra`).

    Returns:
        Band centres in nm, float64 (B,), increasing; and the endmembers, float64 (R, B),
        reflectance 0-1.

    Raises:
        SpectralLibraryError: If the library is not found or a name is missing or incomplete.
    """
    from eospec.datasets.utils import shared_data_dir
    from eospec.libraries import read_envi_library

    if path is None:
        folder = shared_data_dir()
        if folder is None:
            raise SpectralLibraryError(
                "the USGS splib07 library was not found: set EOSPEC_SHARED_DATA to the shared data folder "
                f"or pass the path of {SPLIB07_AV95.name}"
            )
        path = folder / SPLIB07_AV95
    library = read_envi_library(path, sort_wavelengths=True, bad_bands="keep").to_unit("nm")
    metadata = library.metadata
    names_in_library = [str(name) for name in metadata["name"]] if metadata is not None else []
    return np.asarray(library.wavelengths, dtype=np.float64), select_spectra(names_in_library, library.spectra, names)

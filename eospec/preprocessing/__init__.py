r"""Spectral preprocessing as scikit-learn transformers.

Every transformer takes X of shape (n_samples, n_bands), returns float64 (``BandSelector`` keeps X's dtype), passes
``sklearn.utils.estimator_checks.check_estimator``, works in a ``Pipeline`` and supports
``set_output(transform="pandas")``. Those that need the spectral axis take ``wavelengths``
(shape (n_bands,), strictly increasing, in ``unit``, nm by default); without it they work on band
indices (unit spacing). ``docs/preprocessing.md`` gives the formulas and sources.

* :class:`StandardNormalVariate` (SNV; Barnes et al. 1989), :class:`MultiplicativeScatterCorrection`
  (MSC; Geladi et al. 1985): wrap chemotools.
* :class:`SavitzkyGolay`: smoothing and derivatives per unit wavelength (Savitzky & Golay 1964;
  ``scipy.signal.savgol_filter``).
* :class:`ContinuumRemoval` and :func:`convex_hull_continuum`: ratio to the upper convex hull on
  the real wavelengths (Clark & Roush 1984).
* :class:`BandSelector`: keep wavelength ranges, drop ranges and bad bands.
* :class:`SpectralResampler`: to a sensor's bands, or Gaussian bands, by SRF (:mod:`eospec.sensors`).
* :class:`ReflectanceToAbsorbance`, :class:`AbsorbanceToReflectance`: :math:`A = \log_{10}(1/R)`.
"""

from eospec.preprocessing._base import SPECTRUM_PREFIX, wavelength_names
from eospec.preprocessing.bands import BandSelector, SpectralResampler
from eospec.preprocessing.continuum import ContinuumRemoval, convex_hull_continuum
from eospec.preprocessing.derivative import SavitzkyGolay
from eospec.preprocessing.intensity import AbsorbanceToReflectance, ReflectanceToAbsorbance
from eospec.preprocessing.scatter import MultiplicativeScatterCorrection, StandardNormalVariate

__all__ = [
    "StandardNormalVariate",
    "MultiplicativeScatterCorrection",
    "SavitzkyGolay",
    "ContinuumRemoval",
    "convex_hull_continuum",
    "BandSelector",
    "SpectralResampler",
    "ReflectanceToAbsorbance",
    "AbsorbanceToReflectance",
    "SPECTRUM_PREFIX",
    "wavelength_names",
]

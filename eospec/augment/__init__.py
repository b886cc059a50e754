"""Spectral augmentations for contrastive learning on hyperspectral data.

The eight transformations of Dhaini, Berar, Honeine and Van Exem, "Contrastive learning for
regression on hyperspectral data" (ICASSP 2024, arXiv:2403.17014, Sec. 2), as batched PyTorch
modules with physical parameters, plus containers that chain them with a seeded generator:

========================================  ===========================================  =========
name                                      class                                        paper
========================================  ===========================================  =========
``spectral_shift``                        :class:`SpectralShift`                       Eq. 1
``spectral_flip``                         :class:`SpectralFlip`                        Eq. 2
``hapke``                                 :class:`HapkeScattering`                     Eq. 3-4
``atmospheric_compensation``              :class:`AtmosphericCompensation`             Eq. 5
``elastic_distortion``                    :class:`ElasticDistortion`                   Eq. 6
``band_erasure``                          :class:`BandErasure`                         Sec. 2
``band_permutation``                      :class:`BandPermutation`                     Sec. 2
``nearest_neighbour_averaging``           :class:`NearestNeighbourAveraging`           Sec. 2
========================================  ===========================================  =========

Equation numbers are the paper's as cited in eospec's issue 4; the formulas follow the authors'
public code (github.com/mohamaddhaini/contrastive-learning-hyperspectral, ``transformations.py``)
and are written out in each docstring.

Every augmentation takes spectra (N, B) or patches (N, B, H, W) with bands along dimension 1, on
any device, and ``forward(x, generator=None)``; see :mod:`eospec.augment.base` for the conventions
(per-sample parameters, NaN handling) and ``docs/augment.md`` for parameter ranges.
"""

from __future__ import annotations

from typing import Any

from eospec.augment.base import Params, SpectralAugmentation
from eospec.augment.compose import Compose, RandomApply, RandomChoice
from eospec.augment.physical import (
    SPECTRL2_TABLE_RANGES,
    AtmosphericCompensation,
    HapkeScattering,
    clear_sky_irradiance,
    hapke_albedo,
    hapke_reflectance,
)
from eospec.augment.spectral import (
    BandErasure,
    BandPermutation,
    ElasticDistortion,
    NearestNeighbourAveraging,
    SpectralFlip,
    SpectralShift,
    neighbour_average,
    shift_spectra,
    warp_spectra,
)
from eospec.errors import AugmentationError, UnknownAugmentationError

__all__ = [
    "SpectralAugmentation",
    "Params",
    "SpectralShift",
    "SpectralFlip",
    "HapkeScattering",
    "AtmosphericCompensation",
    "ElasticDistortion",
    "BandErasure",
    "BandPermutation",
    "NearestNeighbourAveraging",
    "Compose",
    "RandomApply",
    "RandomChoice",
    "shift_spectra",
    "warp_spectra",
    "neighbour_average",
    "hapke_reflectance",
    "hapke_albedo",
    "clear_sky_irradiance",
    "SPECTRL2_TABLE_RANGES",
    "AUGMENTATIONS",
    "get_augmentation",
    "list_augmentations",
]

#: Registry of the paper's eight augmentations: name -> class.
AUGMENTATIONS: dict[str, type[SpectralAugmentation]] = {
    "spectral_shift": SpectralShift,
    "spectral_flip": SpectralFlip,
    "hapke": HapkeScattering,
    "atmospheric_compensation": AtmosphericCompensation,
    "elastic_distortion": ElasticDistortion,
    "band_erasure": BandErasure,
    "band_permutation": BandPermutation,
    "nearest_neighbour_averaging": NearestNeighbourAveraging,
}


def list_augmentations() -> list[str]:
    """Names of the registered augmentations, in the paper's order (Eq. 1-6, then the others)."""
    return list(AUGMENTATIONS)


def get_augmentation(name: str, **kwargs: Any) -> SpectralAugmentation:
    """Build a registered augmentation by name.

    Args:
        name: one of :func:`list_augmentations`, e.g. ``"spectral_shift"``.
        **kwargs: constructor arguments of that class, e.g. ``wavelengths_nm=..., max_shift_nm=5.0``.

    Returns:
        The augmentation module.

    Raises:
        UnknownAugmentationError: if ``name`` is not registered.
        AugmentationError: if the arguments do not fit the class.
    """
    if name not in AUGMENTATIONS:
        raise UnknownAugmentationError(f"augmentation {name!r} is unknown: use one of {', '.join(AUGMENTATIONS)}")
    cls = AUGMENTATIONS[name]
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise AugmentationError(f"bad arguments for augmentation {name!r} ({cls.__name__}): {error}") from error

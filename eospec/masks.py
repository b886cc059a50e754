"""Why a pixel gets no soil-property value: mask reason codes and the spectral tests behind them.

Soil properties predicted from reflectance are only meaningful on exposed soil. Every map that
eospec writes carries, besides the property, a band of :class:`MaskReason` codes (0 = valid).
The first reason that applies wins, in the order of the enum below.

Spectral tests (reflectance 0-1 at the scene bands nearest to the given wavelengths):

- vegetation: NDVI = (R865 - R665) / (R865 + R665) > ``ndvi_max`` (default 0.3). Bare-soil
  composites use NDVI thresholds of 0.25-0.35 (e.g. Castaldi et al. 2019, *ISPRS J.* 147,
  267-282; Dematte et al. 2018, *RSE* 212, 161-175); 0.3 keeps pixels with a little green cover,
  which the soil-labelled 30 m pixels of the Potsdam scene need (their NDVI median is 0.41).
- water: MNDWI = (R560 - R1610) / (R560 + R1610) > 0 (Xu 2006, *Int. J. Remote Sens.* 27(14),
  Eq. 2), or R1610 < ``water_swir_max`` (0.05): open water absorbs almost all SWIR light.
- dark: R865 < ``dark_max`` and R1610 < ``dark_max`` (0.10): too dark for bare mineral soil at
  both wavelengths (shadows, water mixed into shoreline pixels, dark roofs); soils rarely fall
  below 0.1 at 1610 nm.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from .sensors import nearest_band

__all__ = ["MaskReason", "SpectralMaskThresholds", "INDEX_WAVELENGTHS_NM", "index_bands", "classify"]


class MaskReason(IntEnum):
    """Codes of the ``mask_reason`` band (0 means the pixel has a valid value)."""

    VALID = 0
    #: input nodata, every band zero, or a non-finite value
    NODATA = 1
    #: flagged by the product's cloud, cirrus or haze mask
    CLOUD = 2
    #: flagged by the product's cloud-shadow mask
    CLOUD_SHADOW = 3
    #: flagged by the product's snow mask
    SNOW = 4
    #: flagged by the product's defective-pixel mask
    DEFECTIVE = 5
    #: open water (MNDWI > 0 or SWIR reflectance < 0.05)
    WATER = 6
    #: vegetated (NDVI above the threshold)
    VEGETATION = 7
    #: too dark for bare soil (shadow, water mixture, dark surfaces)
    DARK = 8
    #: the model's prediction is outside its documented valid range
    OUT_OF_RANGE = 9

    @classmethod
    def legend(cls) -> dict[int, str]:
        """Code -> lower-case name, as written into the map's tags."""
        return {int(member): member.name.lower() for member in cls}


#: Quality-mask names (DLR L2A) -> reason.
QUALITY_REASONS: dict[str, MaskReason] = {
    "cloud": MaskReason.CLOUD,
    "cirrus": MaskReason.CLOUD,
    "haze": MaskReason.CLOUD,
    "cloudshadow": MaskReason.CLOUD_SHADOW,
    "snow": MaskReason.SNOW,
    "pixelmask": MaskReason.DEFECTIVE,
}

#: Wavelengths (nm) of the bands the spectral tests read: green, red, NIR, SWIR-1.
INDEX_WAVELENGTHS_NM: dict[str, float] = {"green": 560.0, "red": 665.0, "nir": 865.0, "swir1": 1610.0}


@dataclass(frozen=True)
class SpectralMaskThresholds:
    """Thresholds of the spectral tests (module docstring).

    Attributes:
        ndvi_max: pixels with NDVI above this are vegetation.
        water_swir_max: reflectance at 1610 nm below this is water.
        dark_max: reflectance at 865 and 1610 nm both below this is too dark for soil.
    """

    ndvi_max: float = 0.3
    water_swir_max: float = 0.05
    dark_max: float = 0.10


def index_bands(wavelengths_nm: npt.ArrayLike) -> dict[str, int]:
    """0-based indices of the bands nearest to :data:`INDEX_WAVELENGTHS_NM`.

    Args:
        wavelengths_nm: shape (B,), band centres in nm.

    Returns:
        Mapping ``green``/``red``/``nir``/``swir1`` -> band index.

    Raises:
        ValueError: If a wavelength has no band within 30 nm.
    """
    return {name: nearest_band(wavelengths_nm, wl) for name, wl in INDEX_WAVELENGTHS_NM.items()}


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (a - b) / (a + b)
    return np.where(np.isfinite(value), value, 0.0)


def classify(
    green: np.ndarray,
    red: np.ndarray,
    nir: np.ndarray,
    swir1: np.ndarray,
    thresholds: SpectralMaskThresholds | None = None,
) -> np.ndarray:
    """Apply the water, vegetation and dark tests.

    Args:
        green: float32 array of shape (H, W), reflectance 0-1 near 560 nm.
        red: same, near 665 nm.
        nir: same, near 865 nm.
        swir1: same, near 1610 nm.
        thresholds: the thresholds; defaults to :class:`SpectralMaskThresholds`.

    Returns:
        uint8 array of shape (H, W) of :class:`MaskReason` codes: ``WATER``, ``VEGETATION``,
        ``DARK`` or ``VALID``.
    """
    limits = thresholds or SpectralMaskThresholds()
    reason = np.zeros(np.shape(green), dtype=np.uint8)
    dark = (nir < limits.dark_max) & (swir1 < limits.dark_max)
    reason[dark] = MaskReason.DARK
    reason[_ratio(nir, red) > limits.ndvi_max] = MaskReason.VEGETATION
    water = (_ratio(green, swir1) > 0) | (swir1 < limits.water_swir_max)
    reason[water] = MaskReason.WATER
    return reason

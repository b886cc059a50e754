"""Mask reason tests on constructed reflectance."""

from __future__ import annotations

import numpy as np

from eospec.masks import MaskReason, SpectralMaskThresholds, classify, index_bands
from eospec.sensors import enmap


def test_classify_priorities_and_thresholds() -> None:
    #                 soil  veg   water dark  dark+veg  zero
    green = np.array([0.10, 0.08, 0.06, 0.04, 0.03, 0.0])
    red = np.array([0.15, 0.04, 0.04, 0.05, 0.02, 0.0])
    nir = np.array([0.25, 0.45, 0.03, 0.08, 0.09, 0.0])
    swir1 = np.array([0.35, 0.25, 0.01, 0.09, 0.08, 0.0])
    reason = classify(green, red, nir, swir1)
    assert reason.tolist() == [
        MaskReason.VALID,
        MaskReason.VEGETATION,
        MaskReason.WATER,
        MaskReason.DARK,
        MaskReason.VEGETATION,
        MaskReason.WATER,
    ]
    ndvi = (nir[0] - red[0]) / (nir[0] + red[0])
    assert (
        classify(green[:1], red[:1], nir[:1], swir1[:1], SpectralMaskThresholds(ndvi_max=ndvi - 0.01))[0]
        == MaskReason.VEGETATION
    )
    assert (
        classify(green[:1], red[:1], nir[:1], swir1[:1], SpectralMaskThresholds(ndvi_max=ndvi + 0.01))[0]
        == MaskReason.VALID
    )


def test_index_bands_on_enmap() -> None:
    positions = index_bands(enmap().wavelengths_nm)
    for name, target in {"green": 560, "red": 665, "nir": 865, "swir1": 1610}.items():
        assert abs(enmap().wavelengths_nm[positions[name]] - target) < 6


def test_legend_is_complete() -> None:
    legend = MaskReason.legend()
    assert legend[0] == "valid" and len(legend) == len(MaskReason) and legend[9] == "out_of_range"

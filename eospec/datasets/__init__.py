"""TorchGeo datasets of eospec.

The dataset classes import torchgeo (and with it torchvision); they are loaded on first use, so
``import eospec.datasets`` and :func:`eospec.datasets.utils.shared_data_dir` stay cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from .utils import shared_data_dir

_LAZY = {
    "EnMAPL2A": "eospec.datasets.enmap",
    "SoilSamples": "eospec.datasets.soil",
    "SpectralEarth": "eospec.datasets.spectral_earth",
}

__all__ = ["EnMAPL2A", "SoilSamples", "SpectralEarth", "shared_data_dir"]


def __getattr__(name: str) -> Any:
    """Import dataset classes on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eospec.datasets' has no attribute {name!r}")

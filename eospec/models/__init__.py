"""Spectral models and the registry of bundled models.

Names are imported on first use, so that reading model metadata does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "BundledModel": "eospec.models.registry",
    "get_model": "eospec.models.registry",
    "get_model_metadata": "eospec.models.registry",
    "list_models": "eospec.models.registry",
    "SpectralRegressor": "eospec.models.spectral",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    """Import public names on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eospec.models' has no attribute {name!r}")

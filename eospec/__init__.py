"""eospec: hyperspectral Earth observation to soil and land-cover knowledge.

``eospec._compat`` runs first: it makes torchvision (and with it torchgeo, timm and lightning)
importable even where torchvision's C extension cannot load, at the moment torchvision is first
imported. Everything else is imported lazily: ``import eospec`` does not import torch, and the
mapping path never imports torchvision or torchgeo.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._compat import ensure_torchvision_ops, install_import_hook

install_import_hook()

__version__ = "0.1.0"

_LAZY = {
    "map_scene": "eospec.mapping",
    "MapResult": "eospec.mapping",
    "open_scene": "eospec.io.scene",
    "simulate_scene": "eospec.simulate",
    "get_model": "eospec.models.registry",
    "list_models": "eospec.models.registry",
}

__all__ = ["__version__", "ensure_torchvision_ops", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import public functions on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eospec' has no attribute {name!r}")

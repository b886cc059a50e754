"""Lightning tasks on TorchGeo's :class:`~torchgeo.trainers.BaseTask`.

Names are imported on first use, so that ``import eospec.trainers`` does not import Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eospec.trainers.contrastive import (
        ContrastiveRegressionTask,
        SpectraDataModule,
        SpectraDataset,
        build_augmentations,
    )
    from eospec.trainers.dino import DINOTask

_LAZY: dict[str, str] = {
    "ContrastiveRegressionTask": "eospec.trainers.contrastive",
    "SpectraDataModule": "eospec.trainers.contrastive",
    "SpectraDataset": "eospec.trainers.contrastive",
    "build_augmentations": "eospec.trainers.contrastive",
    "DINOTask": "eospec.trainers.dino",
}

__all__ = [
    "ContrastiveRegressionTask",
    "DINOTask",
    "SpectraDataModule",
    "SpectraDataset",
    "build_augmentations",
]


def __getattr__(name: str) -> Any:
    """Import public names on first use (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eospec.trainers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Helpers shared by eospec datasets."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["shared_data_dir"]

#: Environment variable that points at the real data folder.
SHARED_DATA_ENV = "EOSPEC_SHARED_DATA"


def shared_data_dir() -> Path | None:
    """Folder of the real data that tests, recipes and benchmarks read.

    It is ``$EOSPEC_SHARED_DATA`` when that variable is set, else ``<repo>/../shared/data``
    (beside the project checkout). The data are never copied into the repository.

    Returns:
        The folder, or None when it does not exist (callers skip what needs it).
    """
    configured = os.environ.get(SHARED_DATA_ENV)
    if configured:
        candidate = Path(configured).expanduser()
    else:
        candidate = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return candidate if candidate.is_dir() else None

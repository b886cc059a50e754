"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from eospec.datasets.utils import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``$EOSPEC_SHARED_DATA`` or ``<repo>/../shared/data``); skips if absent."""
    folder = shared_data_dir()
    if folder is None:
        pytest.skip(
            "real data not found: set EOSPEC_SHARED_DATA or put it in <repo>/../shared/data"
        )
    return folder

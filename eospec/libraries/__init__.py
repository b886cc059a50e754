"""Spectral libraries: lab and field spectra with their wavelength axis, metadata and measured properties.

:class:`SpectralLibrary` is the one type; the loaders return it. Loaders are imported lazily (on
first use of their name), so ``import eospec.libraries`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from eospec.libraries.core import (
    QUANTITIES,
    WAVELENGTH_UNITS,
    SpectralLibrary,
    convert_axis,
    parse_wavelength_unit,
)

if TYPE_CHECKING:
    from eospec.libraries.enmapbox import read_enmapbox_library
    from eospec.libraries.envi import read_envi_library
    from eospec.libraries.instruments import read_asd, read_opus
    from eospec.libraries.limesoda import list_limesoda, read_limesoda
    from eospec.libraries.ossl import read_ossl
    from eospec.libraries.tables import read_datsoilspc, read_kssl_mir, read_nirsoil, read_wide_csv

#: Public name -> module that defines it (imported on first access).
_LAZY: dict[str, str] = {
    "read_wide_csv": "eospec.libraries.tables",
    "read_nirsoil": "eospec.libraries.tables",
    "read_datsoilspc": "eospec.libraries.tables",
    "read_kssl_mir": "eospec.libraries.tables",
    "read_limesoda": "eospec.libraries.limesoda",
    "list_limesoda": "eospec.libraries.limesoda",
    "read_ossl": "eospec.libraries.ossl",
    "read_envi_library": "eospec.libraries.envi",
    "read_enmapbox_library": "eospec.libraries.enmapbox",
    "read_asd": "eospec.libraries.instruments",
    "read_opus": "eospec.libraries.instruments",
}

__all__ = [
    "QUANTITIES",
    "WAVELENGTH_UNITS",
    "SpectralLibrary",
    "convert_axis",
    "parse_wavelength_unit",
    "read_wide_csv",
    "read_nirsoil",
    "read_datsoilspc",
    "read_kssl_mir",
    "read_limesoda",
    "list_limesoda",
    "read_ossl",
    "read_envi_library",
    "read_enmapbox_library",
    "read_asd",
    "read_opus",
]


def __getattr__(name: str) -> Any:
    """Import a loader on first access (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eospec.libraries' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

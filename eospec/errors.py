"""Exceptions raised by eospec.

Each subclasses the built-in exception a caller would catch for the same problem, and its message
names the bad value and says how to fix it. The CLI turns every one of them into a one-line message
and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "EospecError",
    "SceneNotFoundError",
    "NotARasterError",
    "MissingWavelengthsError",
    "NotHyperspectralError",
    "MissingCRSError",
    "OutputExistsError",
    "OutputNotWritableError",
    "UnknownModelError",
    "ModelBandsError",
    "DataPackageMissingError",
    "AllNodataWarning",
]


class EospecError(Exception):
    """Base class of all eospec errors."""


class SceneNotFoundError(EospecError, FileNotFoundError):
    """A scene path that does not exist, or a product folder without a spectral image."""


class NotARasterError(EospecError, ValueError):
    """A file that GDAL cannot open as a raster."""


class MissingWavelengthsError(EospecError, ValueError):
    """A raster whose bands carry no centre wavelengths."""


class NotHyperspectralError(EospecError, ValueError):
    """A raster with too few bands or too narrow a spectral range for the requested model."""


class MissingCRSError(EospecError, ValueError):
    """A raster without a coordinate reference system (CRS)."""


class OutputExistsError(EospecError, FileExistsError):
    """An output file that exists, when ``overwrite`` was not requested."""


class OutputNotWritableError(EospecError, PermissionError):
    """An output folder that is missing or not writable."""


class UnknownModelError(EospecError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:
        # KeyError quotes its message; show it as written.
        return str(self.args[0]) if self.args else ""


class ModelBandsError(EospecError, ValueError):
    """A scene whose wavelengths do not cover the bands a model needs."""


class DataPackageMissingError(EospecError, ImportError):
    """An optional package that holds real spectra (LimeSoDa, earthlib) is not installed."""


class AllNodataWarning(UserWarning):
    """A scene (or the part of it that a model can use) has no valid pixel."""

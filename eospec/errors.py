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
    "WavelengthOrderError",
    "UnknownUnitError",
    "MixedUnitsError",
    "UnknownSensorError",
    "SpectralLibraryError",
    "SamplesError",
    "CRSMismatchError",
    "SamplesOutsideScenesWarning",
    "AugmentationError",
    "UnknownAugmentationError",
    "SamplingError",
    "CheckpointError",
    "BenchmarkError",
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
    """An optional package is not installed.

    Real spectra (LimeSoDa, earthlib) or readers of instrument files (specdal, brukeropusreader).
    """


class AllNodataWarning(UserWarning):
    """A scene (or the part of it that a model can use) has no valid pixel."""


class WavelengthOrderError(EospecError, ValueError):
    """A wavelength (or wavenumber) axis that is not strictly monotonic, or has repeated values."""


class UnknownUnitError(EospecError, ValueError):
    """A spectral axis unit (or quantity) that eospec does not know, e.g. ``"nanometer"`` for ``"nm"``."""


class MixedUnitsError(EospecError, ValueError):
    """Spectra, libraries or sensors combined with different axis units or quantities and no conversion asked."""


class UnknownSensorError(EospecError, KeyError):
    """A sensor name that is not in the sensor catalogue."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SpectralLibraryError(EospecError, ValueError):
    """A spectral library file or table that cannot be read as the layout it claims to be."""


class SamplesError(EospecError, ValueError):
    """Georeferenced soil samples that cannot be used: no CRS, no coordinates, bad dates."""


class CRSMismatchError(EospecError, ValueError):
    """Scenes (or scenes and samples) in different coordinate reference systems where one is required."""


class SamplingError(EospecError, ValueError):
    """A sampler that cannot draw what was asked: patch larger than the scenes, fewer dates than required."""


class SamplesOutsideScenesWarning(UserWarning):
    """Some samples fall outside every scene, or on masked pixels; they are reported, not dropped."""


class AugmentationError(EospecError, ValueError):
    """Spectral augmentation parameters out of their physical range, or spectra of the wrong shape or dtype."""


class UnknownAugmentationError(EospecError, KeyError):
    """An augmentation name that is not in the registry of :mod:`eospec.augment`."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CheckpointError(EospecError, ValueError):
    """A model checkpoint that cannot be loaded safely (pickled code) or whose keys or shapes do not fit."""


class BenchmarkError(EospecError, ValueError):
    """A benchmark configuration that cannot run: unknown dataset or encoder, protocol unfit for an encoder."""

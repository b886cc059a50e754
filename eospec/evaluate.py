"""Accuracy of a property map against a reference raster on the same grid."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from .errors import NotARasterError, SceneNotFoundError
from .metrics import regression_metrics

__all__ = ["MapAccuracy", "evaluate_map"]


@dataclass
class MapAccuracy:
    """Accuracy of a map on the pixels where both it and the reference have values.

    Attributes:
        metrics: ``n``, ``rmse``, ``bias``, ``r2``, ``rpiq``, ``ccc`` (see :mod:`eospec.metrics`).
        reference_pixels: pixels with a reference value.
        mapped_fraction: share of those pixels that the map gives a value (the rest are masked).
        unit: unit of the map's band.
    """

    metrics: dict[str, float]
    reference_pixels: int
    mapped_fraction: float
    unit: str


def _read(path: Path, band: int) -> tuple[np.ndarray, rasterio.Affine, str]:
    if not path.exists():
        raise SceneNotFoundError(f"Raster not found: {str(path)!r}")
    try:
        with rasterio.open(path) as dataset:
            values = dataset.read(band, masked=True).astype(np.float64).filled(np.nan)
            return values, dataset.transform, (dataset.units[band - 1] or "")
    except rasterio.errors.RasterioIOError as error:
        raise NotARasterError(f"{str(path)!r} is not a raster GDAL can read ({error})") from error


def evaluate_map(
    map_path: str | os.PathLike[str], reference_path: str | os.PathLike[str], band: int = 1, reference_band: int = 1
) -> MapAccuracy:
    """Compare a map (e.g. from :func:`eospec.mapping.map_scene`) with a reference raster.

    Args:
        map_path: the map; nodata pixels are masked pixels.
        reference_path: the reference on the same grid, e.g. ``<scene>_truth.tif`` of
            :func:`eospec.simulate.simulate_scene` (band 1: SOC in g/kg).
        band: 1-based band of the map.
        reference_band: 1-based band of the reference.

    Returns:
        The :class:`MapAccuracy`.

    Raises:
        SceneNotFoundError: If a file is missing.
        NotARasterError: If a file is not a raster.
        ValueError: If the grids differ.
    """
    predicted, transform, unit = _read(Path(map_path), band)
    observed, reference_transform, _ = _read(Path(reference_path), reference_band)
    if predicted.shape != observed.shape or transform != reference_transform:
        raise ValueError(
            f"The map {str(map_path)!r} ({predicted.shape}) and the reference {str(reference_path)!r} "
            f"({observed.shape}) are not on the same grid: map the scene the reference belongs to"
        )
    has_reference = np.isfinite(observed)
    both = has_reference & np.isfinite(predicted)
    return MapAccuracy(
        metrics=regression_metrics(observed[both], predicted[both]),
        reference_pixels=int(has_reference.sum()),
        mapped_fraction=float(both.sum() / max(1, has_reference.sum())),
        unit=unit,
    )

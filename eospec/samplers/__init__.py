"""TorchGeo samplers of eospec: point-centred patches and multitemporal (same place, several dates) windows."""

from .point import PointSampler, centred_window, find_raster_dataset
from .temporal import (
    GridMultiTemporalSampler,
    MultiTemporalDataset,
    RandomMultiTemporalSampler,
    group_acquisitions,
    select_dates,
    stack_time_series,
)

__all__ = [
    "PointSampler",
    "centred_window",
    "find_raster_dataset",
    "GridMultiTemporalSampler",
    "MultiTemporalDataset",
    "RandomMultiTemporalSampler",
    "group_acquisitions",
    "select_dates",
    "stack_time_series",
]

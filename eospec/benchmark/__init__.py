"""The SpectralEarth downstream benchmark: datasets, encoders, baselines, runner and reports.

``eospec benchmark`` evaluates encoders on the nine downstream datasets of Braham et al. (2024),
"SpectralEarth: Training Hyperspectral Foundation Models at Scale" (arXiv:2408.08447), and on a
tenth, ``enmap-potsdam`` (real EnMAP L2A tiles of Potsdam with land-cover labels), the same way:
:mod:`~eospec.benchmark.datasets` and :mod:`~eospec.benchmark.potsdam` read the data,
:mod:`~eospec.benchmark.encoders` builds what ``--encoder`` names,
:mod:`~eospec.benchmark.baselines` fits the raw-spectra baselines,
:mod:`~eospec.benchmark.runner` trains and tests every run (resumably) and
:mod:`~eospec.benchmark.report` writes the tables and plot. :mod:`~eospec.benchmark.fixtures`
writes each dataset's layout in small.
"""

from eospec.benchmark.datasets import (
    BENCHMARK_DATASETS,
    IGNORE_INDEX,
    BenchmarkDataset,
    DatasetNotFoundError,
    get_benchmark_dataset,
    list_benchmark_datasets,
    parse_dataset_names,
)
from eospec.benchmark.potsdam import EnMAPPotsdam

__all__ = [
    "BENCHMARK_DATASETS",
    "IGNORE_INDEX",
    "BenchmarkDataset",
    "DatasetNotFoundError",
    "EnMAPPotsdam",
    "get_benchmark_dataset",
    "list_benchmark_datasets",
    "parse_dataset_names",
]

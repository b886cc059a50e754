"""LimeSoDa spectral datasets as libraries, with their cross-validation folds.

LimeSoDa (Schmidinger et al. 2025, *LimeSoDa: A dataset collection for benchmarking of machine
learning regressors in digital soil mapping*, Geoderma, arXiv:2502.20139; Python package
``limesoda``, CC BY-SA 4.0) holds 31 field-scale soil datasets with SOC or SOM, pH and clay and
10 pre-defined folds. Fifteen of them carry laboratory (or on-the-go) spectra: vis-NIR/NIR columns
``wl_<nm>`` and MIR columns ``wn_<cm-1>``, all in percent reflectance. The loader divides them by
100 (reflectance as a fraction) and sorts MIR wavenumbers increasingly.

Units of the targets follow each dataset's LimeSoDa documentation (:data:`LIMESODA_UNITS`); they
differ between datasets, so check ``library.property_units`` before pooling datasets.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from eospec.errors import DataPackageMissingError, SpectralLibraryError
from eospec.libraries.core import SpectralLibrary

__all__ = ["LIMESODA_SPECTRAL", "LIMESODA_UNITS", "LIMESODA_CITATION", "list_limesoda", "read_limesoda"]

LIMESODA_CITATION = (
    "Schmidinger J. et al. (2025) LimeSoDa: A dataset collection for benchmarking of machine learning "
    "regressors in digital soil mapping. Geoderma (arXiv:2502.20139); https://github.com/a11to1n3/LimeSoDa"
)

#: LimeSoDa datasets with spectra -> the kind of spectra (LimeSoDa's "Sensors" column).
LIMESODA_SPECTRAL: dict[str, str] = {
    "CV.98": "vis-NIR",
    "H.138": "MIR",
    "MG.44": "vis-NIR",
    "NRW.115": "MIR",
    "NRW.42": "MIR",
    "NRW.62": "MIR",
    "O.32": "MIR",
    "RP.62": "NIR",
    "SA.112": "NIR",
    "SC.93": "vis-NIR",
    "SL.125": "vis-NIR",
    "SP.231": "vis-NIR",
    "SSP.460": "vis-NIR",
    "SSP.58": "vis-NIR",
    "UL.120": "vis-NIR",
}

_PERCENT = {"SOC": "%", "SOM": "%", "pH": "pH", "Clay": "%"}

#: Units of the target properties as each dataset's LimeSoDa documentation gives them. SSP.460 is
#: undocumented ("metadata not yet received"); its SOC (0.1-5.1) and clay (4-71) read as percent.
#: MG.44 and SSP.58 are documented in mmolc/dm3 (SOC) and g/dm3 (clay), kept as documented.
LIMESODA_UNITS: dict[str, dict[str, str]] = {
    name: dict(_PERCENT) for name in LIMESODA_SPECTRAL if name not in ("MG.44", "SSP.58")
} | {
    "MG.44": {"SOC": "mmolc/dm3", "pH": "pH", "Clay": "g/dm3"},
    "SSP.58": {"SOC": "mmolc/dm3", "pH": "pH", "Clay": "g/dm3"},
}

_BAND = re.compile(r"^(wl|wn)_(\d+(?:\.\d+)?)$")
_COORDINATE = re.compile(r"^([xy])_(dummy_)?(\d+)$")


def _import_limesoda():  # noqa: ANN202 - returns the optional module
    try:
        import LimeSoDa
    except ImportError as error:
        raise DataPackageMissingError(
            "the LimeSoDa datasets need the 'limesoda' package: pip install limesoda"
        ) from error
    return LimeSoDa


def list_limesoda() -> list[str]:
    """Names of the LimeSoDa datasets that carry spectra (vis-NIR, NIR or MIR).

    Returns:
        Sorted dataset names, e.g. ``["CV.98", "H.138", ...]``.

    Raises:
        DataPackageMissingError: If the ``limesoda`` package is not installed.
    """
    module = _import_limesoda()
    available = set(module.list_datasets())
    return sorted(name for name in LIMESODA_SPECTRAL if name in available)


def read_limesoda(name: str, *, dtype: type[np.floating] = np.float64) -> SpectralLibrary:
    """Load one LimeSoDa dataset that has spectra.

    Args:
        name: a dataset of :func:`list_limesoda`, e.g. ``"SSP.460"`` (vis-NIR) or ``"NRW.115"`` (MIR).
        dtype: float dtype of the spectra.

    Returns:
        The library: reflectance (fraction) in nm (``wl_`` columns) or cm-1 (``wn_``, increasing);
        properties ``SOC`` or ``SOM``, ``pH`` and ``Clay`` (LimeSoDa's ``*_target`` columns) with
        the units of :data:`LIMESODA_UNITS`; metadata ``fold`` (1-10, LimeSoDa's CV folds),
        ``dataset``, the other covariates of the dataset (e.g. ``ERa``) and ``x``/``y`` with
        ``crs`` where LimeSoDa gives coordinates (``coordinates_dummy`` True where they are dummies).

    Raises:
        DataPackageMissingError: If the ``limesoda`` package is not installed.
        SpectralLibraryError: If the dataset does not exist or has no spectra.
    """
    module = _import_limesoda()
    if name not in LIMESODA_SPECTRAL:
        known = set(module.list_datasets())
        what = "has no spectra" if name in known else "is not a LimeSoDa dataset"
        raise SpectralLibraryError(f"{name!r} {what}: use one of {sorted(LIMESODA_SPECTRAL)}")
    data = module.load_dataset(name)
    table: pd.DataFrame = data["Dataset"].reset_index(drop=True)
    bands = [(str(c), _BAND.match(str(c))) for c in table.columns]
    band_columns = [column for column, match in bands if match]
    kinds = {match.group(1) for _, match in bands if match}
    if len(kinds) != 1:
        raise SpectralLibraryError(f"LimeSoDa {name} has band columns of kinds {sorted(kinds)}: expected one")
    unit = "nm" if kinds == {"wl"} else "cm-1"
    positions = np.array([float(match.group(2)) for _, match in bands if match])
    targets = [str(c) for c in table.columns if str(c).endswith("_target")]
    properties = table[targets].rename(columns=lambda column: column.removesuffix("_target"))
    units = {k: v for k, v in LIMESODA_UNITS[name].items() if k in properties.columns}
    covariates = [str(c) for c in table.columns if str(c) not in band_columns and str(c) not in targets]
    metadata = pd.DataFrame({"dataset": name, "fold": np.asarray(data["Folds"], dtype=np.int64)})
    metadata = pd.concat([metadata, table[covariates]], axis=1)
    coordinates = data.get("Coordinates")
    if isinstance(coordinates, pd.DataFrame) and len(coordinates) == len(table):
        for column in coordinates.columns:
            match = _COORDINATE.match(str(column))
            if match:
                metadata[match.group(1)] = coordinates[column].to_numpy(dtype=np.float64)
                metadata["crs"] = f"EPSG:{match.group(3)}"
                metadata["coordinates_dummy"] = bool(match.group(2))
    spectra = table[band_columns].to_numpy(dtype=np.float64) / 100.0
    return SpectralLibrary.sorted(
        spectra.astype(dtype, copy=False),
        positions,
        unit,
        quantity="reflectance",
        metadata=metadata,
        properties=properties,
        property_units=units,
        sample_ids=np.array([f"{name}-{i}" for i in range(len(table))]),
        name=f"LimeSoDa {name}",
    )

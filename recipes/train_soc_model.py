#!/usr/bin/env python
"""Train eospec's default bundled soil organic carbon (SOC) model on real laboratory spectra.

The model maps bottom-of-atmosphere reflectance (0-1) at the 202 EnMAP default bands
(:data:`eospec.sensors.ENMAP_DEFAULT_BANDS`) to SOC in g/kg. Everything it learns from is measured:

* LimeSoDa (``pip install limesoda``; Schmidinger et al. 2025, *Geoderma*, arXiv:2502.20139;
  CC BY-SA 4.0): the vis-NIR datasets that span the EnMAP range (about 420-2445 nm):
  SSP.460, CV.98 and SC.93 (SOC, %), UL.120 and SL.125 (soil organic matter, SOM, %; converted to
  SOC with the van Bemmelen factor, SOC = SOM / 1.724). Reflectance columns ``wl_<nm>`` are in
  percent. MG.44 and SSP.58 (431-2153 nm), SP.231 (350-1700 nm) and SA.112/RP.62 (NIR,
  1000-2400 nm) do not cover the EnMAP SWIR and are excluded.
* ``datsoilspc`` (Geeves et al. 1994, via AlexandreWadoux/soilspec, MIT): 391 Australian soils,
  reflectance 0-1 at 350-2500 nm, total carbon in g/100 g (all organic), read from
  ``$EOSPEC_SHARED_DATA/soil/wadoux_soilspec/datsoilspc.csv`` (default ``<repo>/../shared/data``)
  when that file exists; the recipe runs on LimeSoDa alone otherwise.

Each training soil also enters as ``--plant-copies`` (default 3) linear mixtures
``(1 - f) R_soil + f R_plant`` with f uniform in (0, 0.25] and a green or dry plant spectrum of the
USGS Spectral Library Version 7 (``$EOSPEC_SHARED_DATA/endmembers/usgs_splib07_av95/``; Kokaly et
al. 2017), labelled with the soil's SOC, so that the model learns to read SOC through partial
plant cover (:func:`mix_with_plants`). Every plant belongs to one CV fold and a soil is mixed only
with plants of its fold; a soil and its mixtures stay on one side of every split.

The model's first step is an external parameter orthogonalisation (EPO; Roger et al. 2003; for
soil moisture Minasny et al. 2011) against soil moisture: absorbance is projected off the g
leading directions in which wetting moves a soil's spectrum, learnt from datEPO (100 Geeves
soils scanned air-dry, wet and re-dried; ``$EOSPEC_SHARED_DATA/soil/wadoux_soilspec/``) without
any SOC value (:class:`Epo`, :meth:`MoistureScans.directions`). After the candidate is chosen, g
is chosen among :data:`EPO_COMPONENTS` by the candidate's out-of-fold RMSE on all datEPO scans
(:func:`moisture_cv`; ``--epo-components`` fixes it, 0 turns EPO off), and the candidate is
cross-validated again with its EPO step for the reported figures.

Fold 10 of every LimeSoDa dataset (the datasets' own cross-validation folds) is held out: never
used for training or model selection, it is reserved for ``eospec simulate``'s end-to-end
accuracy test. Model selection is a 9-fold cross-validation on LimeSoDa folds 1-9 (and 9 random
folds of datsoilspc, seeded): fold k of every dataset is predicted together by a model trained
on the other 8 folds of all datasets. Hyperparameters (PLSR components, ridge penalty, MLP
epochs) are chosen by an inner cross-validation (or inner validation split) inside each
training set. The candidate with the lowest pooled cross-validated RMSE is refitted on all
folds 1-9 (plus all of datsoilspc), converted to a :class:`eospec.models.SpectralRegressor`,
checked against the fitted estimator and written to ``<out-dir>/soc.safetensors`` and ``soc.json``
(through a temporary folder, moved into place when complete). The candidate is chosen on the
pooled CV RMSE over the soils and their mixtures; the metadata reports both.

Usage::

    python recipes/train_soc_model.py                          # the bundled model (about 10 min, 2 cores)
    python recipes/train_soc_model.py --epo-components 0 --out-dir v2  # version 2.0.0: no EPO (8 min)
    python recipes/train_soc_model.py --plant-copies 0 --epo-components 0 --out-dir v1  # 1.0.0 (2 min)
    python recipes/train_soc_model.py --quick --out-dir /tmp/soc  # CI-size run (under 30 s)
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eospec.models.registry import load_model_file  # noqa: E402
from eospec.models.spectral import SpectralRegressor  # noqa: E402
from eospec.sensors import ENMAP_DEFAULT_BANDS, enmap, gaussian_srf_matrix, resample  # noqa: E402

log = logging.getLogger("train_soc_model")

FloatArray = npt.NDArray[np.float64]

#: SOC (g/kg) = SOM (%) * 10 / VAN_BEMMELEN (the conventional 58 % carbon in soil organic matter).
VAN_BEMMELEN = 1.724

#: LimeSoDa vis-NIR datasets used: name -> (target column, factor from the column to SOC in %).
LIMESODA_DATASETS: dict[str, tuple[str, float]] = {
    "SSP.460": ("SOC_target", 1.0),
    "CV.98": ("SOC_target", 1.0),
    "SC.93": ("SOC_target", 1.0),
    "UL.120": ("SOM_target", 1.0 / VAN_BEMMELEN),
    "SL.125": ("SOM_target", 1.0 / VAN_BEMMELEN),
}

#: LimeSoDa spectral datasets left out, with the reason (checked by inspection of their grids).
LIMESODA_EXCLUDED: dict[str, str] = {
    "MG.44": "vis-NIR 431.6-2153.1 nm: misses the EnMAP SWIR beyond 2153 nm",
    "SSP.58": "vis-NIR 431.6-2153.1 nm: misses the EnMAP SWIR beyond 2153 nm",
    "SP.231": "vis-NIR 350-1700 nm: misses the EnMAP SWIR beyond 1700 nm",
    "SA.112": "NIR 1000-2400 nm only: misses the EnMAP VNIR",
    "RP.62": "NIR 1000-2400 nm only: misses the EnMAP VNIR",
    "H.138, NRW.115, NRW.62, NRW.42, O.32": "mid-infrared spectra",
}

#: LimeSoDa's fold reserved for the end-to-end accuracy test of ``eospec simulate``.
HELD_OUT_FOLD = 10
N_FOLDS = 9

#: A lab spectrum must reach this close to the EnMAP range (nm); shorter gaps are edge-extended.
COVERAGE_NM = (420.0, 2445.0)

#: Reference reflectance and signal-to-noise ratios for the EnMAP-like noise (mission
#: requirements: SNR > 400:1 in the VNIR at 495 nm and > 180:1 in the SWIR at 2200 nm for a 30 %
#: reflector; Guanter et al. 2015, Remote Sens. 7, 8830). EnMAP bands 1-91 are VNIR.
NOISE_REFERENCE_REFLECTANCE = 0.3
SNR_VNIR = 400.0
SNR_SWIR = 180.0

LIMESODA_CITATION = (
    "Schmidinger J. et al. (2025) LimeSoDa: A dataset collection for benchmarking of machine "
    "learning regressors in digital soil mapping. Geoderma (arXiv:2502.20139); Python package "
    "limesoda 0.1.5, https://github.com/a11to1n3/LimeSoDa"
)

#: Plant spectra mixed into the training soils: the USGS Spectral Library Version 7, AVIRIS-1995
#: convolution (Kokaly et al. 2017, USGS Data Series 1035; public domain), in the shared data folder.
USGS_AV95 = Path("endmembers") / "usgs_splib07_av95" / "s07_AV95_envi.hdr"
USGS_CITATION = (
    "Kokaly R.F. et al. (2017) USGS Spectral Library Version 7. U.S. Geological Survey Data Series "
    "1035, doi:10.3133/ds1035 (AVIRIS-1995 convolution, s07_AV95_envi.sli; public domain)"
)
#: USGS library names kept as plant spectra (leaves, canopies, grass, dry plant matter) ...
PLANT_NAMES = re.compile(
    r"leaf|leaves|grass|needle|straw|npv|sagebrush|tumbleweed|pine|oak|maple|walnut|willow|manzanita|aspen|"
    r"lichen|juniper|fir|spruce|corn|wheat|rice",
    re.IGNORECASE,
)
#: ... except mixtures with minerals (the library's AMX series and named mineral mixtures), materials
#: that are not field plants (kerogen, whose sample name holds "corn"; starch; plywood; wood beams;
#: rock lichen) and the library's wavelength-shifted copies of one lawn-grass spectrum.
NOT_PLANTS = re.compile(
    r"\+|antigorite|stonwll|mont|kaol|calcite|AMX|kerogen|starch|plywood|wood_beam|lichen|shift", re.IGNORECASE
)
#: NDVI (665 and 865 nm bands) at or above which a plant spectrum is green, and below which it is dry.
GREEN_NDVI = 0.6
DRY_NDVI = 0.3
#: Soil-plant mixtures per training soil, and the largest plant fraction (uniform from 0).
PLANT_COPIES = 3
MAX_PLANT_FRACTION = 0.25


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass
class LabSet:
    """Laboratory spectra of one dataset, resampled to the EnMAP default bands.

    Attributes:
        name: dataset name, e.g. ``"SSP.460"``.
        reflectance: float64 array of shape (N, 202), reflectance 0-1 at the EnMAP default bands.
        soc: float64 array of shape (N,), SOC in g/kg.
        folds: int array of shape (N,), 1-10 (LimeSoDa folds; 10 is held out) or 1-9.
        rows: int array of shape (N,), 0-based row index in the source table.
        source_range_nm: (first, last) wavelength of the lab spectra in nm.
        info: ``training_data`` entry for the metadata.
    """

    name: str
    reflectance: FloatArray
    soc: FloatArray
    folds: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    source_range_nm: tuple[float, float]
    info: dict[str, Any] = field(default_factory=dict)


def enmap_default_bands() -> tuple[FloatArray, FloatArray]:
    """Centres and FWHM (nm) of the 202 EnMAP default bands, each of shape (202,)."""
    sensor = enmap()
    index = np.asarray(ENMAP_DEFAULT_BANDS) - 1
    return sensor.wavelengths_nm[index], sensor.fwhm_nm[index]


def to_enmap(wavelengths_nm: npt.ArrayLike, reflectance: npt.ArrayLike) -> FloatArray:
    """Resample lab spectra to the EnMAP default bands with Gaussian SRFs.

    Where a lab spectrum does not reach 3 FWHM beyond a band centre (UL.120 and SL.125 start at
    420 nm, EnMAP band 1 is centred at 418.2 nm with a 7.0 nm FWHM, so 72 % of its response lies
    below 420 nm), the spectrum is extended with its first (last) value at 1 nm steps, so that
    every band is resampled from its full response and none is dropped. Only band 1 of UL.120 and
    SL.125 is affected (by much less than 0.1 % reflectance: soil spectra are smooth there).

    Args:
        wavelengths_nm: shape (S,), increasing lab wavelengths in nm.
        reflectance: shape (N, S), reflectance 0-1.

    Returns:
        float64 array of shape (N, 202).
    """
    wavelengths = np.asarray(wavelengths_nm, dtype=np.float64)
    values = np.asarray(reflectance, dtype=np.float64)
    centres, fwhm = enmap_default_bands()
    low = math.floor(float(np.min(centres - 3 * fwhm)))
    high = math.ceil(float(np.max(centres + 3 * fwhm)))
    if wavelengths[0] > low:
        pad = np.arange(low, wavelengths[0])
        wavelengths = np.concatenate([pad, wavelengths])
        values = np.concatenate([np.repeat(values[:, :1], pad.size, axis=1), values], axis=1)
    if wavelengths[-1] < high:
        pad = np.arange(wavelengths[-1] + 1, high + 1)
        wavelengths = np.concatenate([wavelengths, pad])
        values = np.concatenate([values, np.repeat(values[:, -1:], pad.size, axis=1)], axis=1)
    matrix = gaussian_srf_matrix(wavelengths, centres, fwhm)
    if np.isnan(matrix).any():
        raise ValueError("EnMAP bands not covered by the lab spectra after edge extension")
    return resample(values, matrix)


def _check_range(name: str, first: float, last: float) -> None:
    if first > COVERAGE_NM[0] + 1 or last < COVERAGE_NM[1]:
        raise ValueError(f"{name} covers {first}-{last} nm, not {COVERAGE_NM[0]}-{COVERAGE_NM[1]} nm: exclude it")


def load_limesoda(name: str) -> LabSet:
    """Load one LimeSoDa vis-NIR dataset, with SOC in g/kg and spectra at EnMAP bands.

    Args:
        name: one of :data:`LIMESODA_DATASETS`.

    Returns:
        The dataset, all 10 folds (fold 10 is removed by the caller).
    """
    import LimeSoDa

    column, factor = LIMESODA_DATASETS[name]
    data = LimeSoDa.load_dataset(name)
    table = data["Dataset"]
    bands = [c for c in table.columns if str(c).startswith("wl_")]
    wavelengths = np.array([float(str(c)[3:]) for c in bands])
    order = np.argsort(wavelengths)
    wavelengths = wavelengths[order]
    _check_range(name, float(wavelengths[0]), float(wavelengths[-1]))
    percent = table[bands].to_numpy(dtype=np.float64)[:, order]
    if not 1.0 < np.nanmax(percent) <= 100.0:
        raise ValueError(f"{name}: reflectance is expected in percent")
    soc = table[column].to_numpy(dtype=np.float64) * factor * 10.0  # % -> g/kg
    folds = np.asarray(data["Folds"], dtype=np.int64)
    keep = np.isfinite(soc) & np.isfinite(percent).all(axis=1)
    unit = "SOC, %" if factor == 1.0 else f"SOM, %; SOC = SOM / {VAN_BEMMELEN} (van Bemmelen)"
    info = {
        "name": f"LimeSoDa {name}",
        "n": int(np.sum(keep & (folds != HELD_OUT_FOLD))),
        "n_held_out": int(np.sum(keep & (folds == HELD_OUT_FOLD))),
        "target": f"{column} ({unit})",
        "spectra": f"lab vis-NIR reflectance, {wavelengths[0]:g}-{wavelengths[-1]:g} nm, percent",
        "licence": "CC BY-SA 4.0",
        "source": LIMESODA_CITATION,
    }
    return LabSet(
        name,
        to_enmap(wavelengths, percent[keep] / 100.0),
        soc[keep],
        folds[keep],
        np.flatnonzero(keep),
        (float(wavelengths[0]), float(wavelengths[-1])),
        info,
    )


def shared_data_dir() -> Path:
    """The shared real-data folder: ``$EOSPEC_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("EOSPEC_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_datsoilspc(path: Path, seed: int) -> LabSet:
    """Load the Geeves (datsoilspc) vis-NIR dataset with 9 seeded random folds.

    Args:
        path: ``datsoilspc.csv``: columns clay, silt, sand, TotalCarbon (g/100 g), then
            reflectance (0-1) at 350-2500 nm.
        seed: seed of the fold assignment.

    Returns:
        The dataset, SOC in g/kg.
    """
    table = pd.read_csv(path)
    bands = [c for c in table.columns if str(c).replace(".", "").isdigit()]
    wavelengths = np.array([float(c) for c in bands])
    _check_range("datsoilspc", float(wavelengths[0]), float(wavelengths[-1]))
    reflectance = table[bands].to_numpy(dtype=np.float64)
    if np.nanmax(reflectance) > 1.5:
        raise ValueError("datsoilspc: reflectance is expected in 0-1")
    soc = table["TotalCarbon"].to_numpy(dtype=np.float64) * 10.0  # g/100 g -> g/kg
    keep = np.isfinite(soc) & np.isfinite(reflectance).all(axis=1)
    rng = np.random.default_rng(seed)
    folds = np.empty(int(keep.sum()), dtype=np.int64)
    folds[rng.permutation(folds.size)] = np.arange(folds.size) % N_FOLDS + 1
    info = {
        "name": "datsoilspc (Geeves et al. 1994, NSW/Victoria, Australia)",
        "n": int(keep.sum()),
        "target": "TotalCarbon (g/100 g, dry combustion; no inorganic carbon)",
        "spectra": "lab vis-NIR reflectance (ASD AgriSpec, contact probe), 350-2500 nm, 0-1",
        "licence": "MIT",
        "source": "https://github.com/AlexandreWadoux/soilspec (data/datsoilspc.rda)",
    }
    return LabSet(
        "datsoilspc",
        to_enmap(wavelengths, reflectance[keep]),
        soc[keep],
        folds,
        np.flatnonzero(keep),
        (float(wavelengths[0]), float(wavelengths[-1])),
        info,
    )


def load_lab_sets(seed: int) -> list[LabSet]:
    """The LimeSoDa sets of :data:`LIMESODA_DATASETS`, and datsoilspc when its file is in the shared data.

    Args:
        seed: seed of datsoilspc's 9 random folds.

    Returns:
        One :class:`LabSet` per dataset, datsoilspc last.
    """
    sets = [load_limesoda(name) for name in LIMESODA_DATASETS]
    datsoilspc = shared_data_dir() / WADOUX_SOILSPEC / "datsoilspc.csv"
    if datsoilspc.is_file():
        sets.append(load_datsoilspc(datsoilspc, seed))
    else:
        log.warning("%s not found: LimeSoDa only", datsoilspc)
    return sets


#: Offsets from ``--seed`` of the seeds of the tuning noise, the plants' folds and the mixtures.
NOISE_SEED, PLANT_FOLD_SEED, MIXTURE_SEED = 1000, 2000, 3000


def with_enmap_noise(reflectance: FloatArray, seed: int) -> FloatArray:
    """``reflectance`` plus one fixed draw of EnMAP-like noise (generator seed ``seed + NOISE_SEED``), same shape."""
    noise = np.random.default_rng(seed + NOISE_SEED).normal(size=reflectance.shape)
    return reflectance + noise * enmap_noise_sigma()


def enmap_noise_sigma() -> FloatArray:
    """Standard deviation (reflectance 0-1) of the EnMAP-like noise per default band, shape (202,)."""
    vnir = np.asarray(ENMAP_DEFAULT_BANDS) <= 91
    return np.where(vnir, NOISE_REFERENCE_REFLECTANCE / SNR_VNIR, NOISE_REFERENCE_REFLECTANCE / SNR_SWIR)


@dataclass
class Plants:
    """Green and dry plant spectra at the EnMAP default bands, each assigned to one of the 9 folds.

    Attributes:
        reflectance: float64 array of shape (P, 202), reflectance 0-1.
        green: bool array of shape (P,): True for green plants (NDVI >= :data:`GREEN_NDVI`), False
            for dry plant matter (NDVI < :data:`DRY_NDVI`).
        names: the library's spectrum names, P of them.
        folds: int array of shape (P,), 1-9, stratified by ``green``: a training soil of fold k is
            mixed only with plants of fold k, so no plant of a test fold is seen in training.
    """

    reflectance: FloatArray
    green: npt.NDArray[np.bool_]
    names: list[str]
    folds: npt.NDArray[np.int64]


def load_plants(header: Path, seed: int) -> Plants:
    """Green and dry plant spectra of the USGS splib07 AV95 library, resampled to EnMAP.

    Spectra whose name matches :data:`PLANT_NAMES` but not :data:`NOT_PLANTS`, measured in at
    least 70 % of the library's 224 channels, are interpolated over their deleted channels on a
    1 nm grid (380-2510 nm), clipped to 0-1 and resampled to the EnMAP default bands with Gaussian
    SRFs. Those with NDVI (665 and 865 nm bands) at or above 0.6 are green, below 0.3 dry; the
    others (senescent, mixed) are left out.

    Args:
        header: the library's ``s07_AV95_envi.hdr`` (its ``.sli`` beside it).
        seed: seed of the plants' fold assignment.

    Returns:
        The plants (61 green and 19 dry in splib07a).

    Raises:
        FileNotFoundError: If ``header`` does not exist.
        ValueError: If a fold gets no green or no dry plant.
    """
    from eospec.libraries import read_envi_library
    from eospec.sensors import nearest_band

    if not header.is_file():
        raise FileNotFoundError(
            f"{header} not found: put the USGS splib07 AV95 library (s07_AV95_envi.hdr and .sli) there, "
            "set EOSPEC_SHARED_DATA, or pass --plant-copies 0 to train on pure soils"
        )
    library = read_envi_library(header, sort_wavelengths=True, bad_bands="keep").to_unit("nm")
    names_in_library = [str(name) for name in library.metadata["name"]] if library.metadata is not None else []
    grid = np.arange(380.0, 2511.0)
    names, resampled = [], []
    for name, spectrum in zip(names_in_library, np.asarray(library.spectra, dtype=np.float64), strict=True):
        measured = np.isfinite(spectrum) & (spectrum > -0.01) & (spectrum < 1.5)
        if not PLANT_NAMES.search(name) or NOT_PLANTS.search(name) or measured.mean() < 0.7:
            continue
        resampled.append(np.interp(grid, library.wavelengths[measured], spectrum[measured]))
        names.append(name)
    reflectance = to_enmap(grid, np.clip(np.asarray(resampled), 0.0, 1.0))
    centres = enmap_default_bands()[0]
    red, nir = reflectance[:, nearest_band(centres, 665)], reflectance[:, nearest_band(centres, 865)]
    ndvi = (nir - red) / (nir + red)
    keep = (ndvi >= GREEN_NDVI) | (ndvi < DRY_NDVI)
    green = ndvi[keep] >= GREEN_NDVI
    rng = np.random.default_rng(seed)
    folds = np.empty(green.size, dtype=np.int64)
    for kind in (True, False):
        members = np.flatnonzero(green == kind)
        if members.size < N_FOLDS:
            raise ValueError(f"{members.size} {'green' if kind else 'dry'} plants: fewer than the {N_FOLDS} folds")
        folds[members[rng.permutation(members.size)]] = np.arange(members.size) % N_FOLDS + 1
    return Plants(reflectance[keep], green, [n for n, k in zip(names, keep, strict=True) if k], folds)


# --------------------------------------------------------------------------------------------
# Features and metrics
# --------------------------------------------------------------------------------------------


def features(reflectance: FloatArray, transform: str, snv: bool, epo: Epo | None = None) -> FloatArray:
    """The EPO step, transform and SNV of :class:`SpectralRegressor`, in float64 numpy.

    Args:
        reflectance: shape (N, B), reflectance 0-1.
        transform: ``"reflectance"`` or ``"absorbance"`` (log10(1/R), R clipped at 1e-4).
        snv: standard normal variate per spectrum (standard deviation with ddof=1, as torch).
        epo: optional EPO projection applied first (:meth:`Epo.apply`).

    Returns:
        float64 array of shape (N, B).
    """
    x = np.asarray(reflectance if epo is None else epo.apply(reflectance), dtype=np.float64)
    if transform == "absorbance":
        x = -np.log10(np.clip(x, 1e-4, None))
    if snv:
        std = np.clip(x.std(axis=1, ddof=1, keepdims=True), 1e-8, None)
        x = (x - x.mean(axis=1, keepdims=True)) / std
    return x


def metrics(observed: FloatArray, predicted: FloatArray) -> dict[str, float]:
    """RMSE, R2, RPIQ, Lin's CCC, bias (mean of predicted - observed) and n.

    Args:
        observed: shape (N,), measured SOC in g/kg.
        predicted: shape (N,), predicted SOC in g/kg.

    Returns:
        The metrics (RMSE and bias in g/kg).
    """
    obs = np.asarray(observed, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.float64)
    error = pred - obs
    rmse = float(np.sqrt(np.mean(error**2)))
    sst = float(np.sum((obs - obs.mean()) ** 2))
    q75, q25 = np.percentile(obs, [75, 25])
    covariance = float(np.mean((obs - obs.mean()) * (pred - pred.mean())))
    ccc = 2 * covariance / (obs.var() + pred.var() + (obs.mean() - pred.mean()) ** 2)
    return {
        "rmse": round(rmse, 3),
        "r2": round(1.0 - float(np.sum(error**2)) / sst, 3),
        "rpiq": round(float(q75 - q25) / rmse, 3),
        "ccc": round(float(ccc), 3),
        "bias": round(float(error.mean()), 3),
        "n": int(obs.size),
    }


# --------------------------------------------------------------------------------------------
# Soil moisture: datEPO and external parameter orthogonalisation (EPO)
# --------------------------------------------------------------------------------------------

#: The folder of datsoilspc and datEPO in the shared data.
WADOUX_SOILSPEC = Path("soil") / "wadoux_soilspec"
#: datEPO's three scans of every soil: file suffix -> label.
SCANS = {"0": "air-dry", "1": "wet", "2": "re-dried (1 day)"}
DATEPO_CITATION = (
    "Minasny B., McBratney A.B., Bellon-Maurel V., Roger J.-M., Gobrecht A., Ferrand L., Joalland S. "
    "(2011) Removing the effect of soil moisture from NIR diffuse reflectance spectra for the "
    "prediction of soil organic carbon. Geoderma 167-168, 118-124; data datEPO of "
    "https://github.com/AlexandreWadoux/soilspec (MIT)"
)
#: EPO components g that the recipe compares (0: no EPO), and the folds over the datEPO soils.
EPO_COMPONENTS = (0, 1, 2, 4, 8)
EPO_FOLDS = 5


def absorbance(reflectance: FloatArray) -> FloatArray:
    """log10(1/R), R clipped at 1e-4, as the models compute it; same shape, float64."""
    return features(reflectance, "absorbance", False)


@dataclass
class Epo:
    """An external parameter orthogonalisation (EPO) of absorbance spectra.

    Roger et al. (2003, Chemometr. Intell. Lab. Syst. 66, 191-204); for soil moisture Minasny et
    al. (2011, Geoderma 167-168, 118-124). With a = log10(1/R): a' = a - (a - m) V V^T, the
    projection P = I - V V^T about m. :meth:`apply` is exactly the EPO step of
    :class:`SpectralRegressor` (reflectance in, reflectance 10^-a' out), in float64.

    Attributes:
        mean: float64 array of shape (B,), m: the mean absorbance of the model's training spectra.
        basis: float64 array of shape (B, g), V: orthonormal directions of the moisture effect.
    """

    mean: FloatArray
    basis: FloatArray

    @property
    def components(self) -> int:
        """g, the number of directions removed."""
        return int(self.basis.shape[1])

    @classmethod
    def about(cls, reflectance: FloatArray, basis: FloatArray) -> Epo:
        """The EPO with directions ``basis`` (B, g) about the mean absorbance of ``reflectance`` (N, B)."""
        return cls(absorbance(reflectance).mean(axis=0), np.asarray(basis, dtype=np.float64))

    def apply(self, reflectance: FloatArray) -> FloatArray:
        """Project reflectance of shape (N, B); returns reflectance of the same shape."""
        a = absorbance(reflectance)
        a = a - ((a - self.mean) @ self.basis) @ self.basis.T
        return np.power(10.0, -a)


@dataclass
class MoistureScans:
    """Soils scanned at several moisture levels (datEPO), at the EnMAP default bands.

    Attributes:
        scans: scan label (:data:`SCANS`) -> float64 array of shape (S, 202), reflectance 0-1;
            row i of every scan is soil i.
        soc: float64 array of shape (S,), SOC in g/kg.
        matched: int array of shape (S,), each soil's row in the datsoilspc :class:`LabSet`
            (:func:`match_soils`): these soils are also in the SOC training data.
    """

    scans: dict[str, FloatArray]
    soc: FloatArray
    matched: npt.NDArray[np.int64]

    def stacked(self, soils: npt.NDArray[np.int64]) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """Every scan of ``soils``: reflectance of shape (len(scans) * n, 202) and the soil of each row."""
        return np.concatenate([r[soils] for r in self.scans.values()]), np.tile(soils, len(self.scans))

    def directions(self, soils: npt.NDArray[np.int64], components: int) -> FloatArray:
        """The EPO directions V (202, g) of ``soils``' scans, with chemotools' ``ExternalParameterOrthogonalization``.

        The moisture effect matrix holds each scan's absorbance minus the mean absorbance of its
        soil's scans (within-soil deviations: composition cancels, moisture stays); V is its
        ``components`` leading right singular vectors.
        """
        from chemotools.projection import ExternalParameterOrthogonalization

        reflectance, soil = self.stacked(soils)
        scans = absorbance(reflectance)
        epo = ExternalParameterOrthogonalization(n_components=components)
        epo.fit(scans, X_external=scans, sample_ids=soil)
        return np.asarray(epo.V_epo_, dtype=np.float64)


def load_datepo(folder: Path) -> tuple[dict[str, FloatArray], FloatArray]:
    """The datEPO scans as reflectance at the EnMAP default bands, and their carbon.

    datEPO (Minasny et al. 2011): 100 soils of the Geeves survey scanned air-dry
    (``spectra0``), wet (``spectra1``) and wet then air-dried for a day (``spectra2``), as
    absorbance log10(1/R) at 350-2500 nm every 1 nm, with total carbon (g/100 g, all organic).

    Args:
        folder: the folder of ``datEPO_spectra{0,1,2}.csv`` and ``datEPO_soilC.csv``.

    Returns:
        ``(scans, soc)``: label (:data:`SCANS`) -> float64 array of shape (100, 202), reflectance
        0-1 (R = 10^-A); and SOC in g/kg, shape (100,).

    Raises:
        FileNotFoundError: If a file is missing.
    """
    carbon = folder / "datEPO_soilC.csv"
    if not carbon.is_file():
        raise FileNotFoundError(
            f"{carbon} not found: set EOSPEC_SHARED_DATA to the shared data folder, or pass --epo-components 0"
        )
    soc = pd.read_csv(carbon)["TotalC"].to_numpy(dtype=np.float64) * 10.0  # g/100 g -> g/kg
    scans = {}
    for suffix, label in SCANS.items():
        table = pd.read_csv(folder / f"datEPO_spectra{suffix}.csv")
        wavelengths = table.columns.astype(float).to_numpy()
        scans[label] = to_enmap(wavelengths, 10.0 ** (-table.to_numpy(dtype=np.float64)))
    return scans, soc


def match_soils(dry: FloatArray, soc: FloatArray, datsoilspc: LabSet) -> npt.NDArray[np.int64]:
    """Row in ``datsoilspc`` of each datEPO soil: same carbon, best-correlated spectrum.

    Args:
        dry: shape (N, 202), the air-dry datEPO reflectance.
        soc: shape (N,), their SOC in g/kg.
        datsoilspc: the datsoilspc lab set.

    Returns:
        int array of shape (N,).

    Raises:
        ValueError: If a carbon value does not occur in datsoilspc.
    """
    rows = np.empty(len(soc), dtype=np.int64)
    for i, (spectrum, value) in enumerate(zip(dry, soc, strict=True)):
        same = np.flatnonzero(np.isclose(datsoilspc.soc, value, rtol=0.0, atol=1e-6))
        if same.size == 0:
            raise ValueError(f"datEPO soil {i} ({value:g} g/kg) has no datsoilspc soil with that carbon")
        correlation = [np.corrcoef(spectrum, datsoilspc.reflectance[j])[0, 1] for j in same]
        rows[i] = same[int(np.argmax(correlation))]
    return rows


def load_moisture_scans(sets: Sequence[LabSet]) -> MoistureScans:
    """The datEPO scans from the shared data, each soil matched to its datsoilspc row.

    Raises:
        FileNotFoundError: If datEPO or datsoilspc is not in the shared data.
    """
    datsoilspc = next((s for s in sets if s.name == "datsoilspc"), None)
    if datsoilspc is None:
        raise FileNotFoundError(
            f"{shared_data_dir() / WADOUX_SOILSPEC / 'datsoilspc.csv'} not found: the EPO step needs datEPO "
            "and datsoilspc (set EOSPEC_SHARED_DATA), or pass --epo-components 0"
        )
    scans, soc = load_datepo(shared_data_dir() / WADOUX_SOILSPEC)
    return MoistureScans(scans, soc, match_soils(scans["air-dry"], soc, datsoilspc))


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One compared model: an estimator and its preprocessing."""

    kind: str  # "plsr", "ridge" or "mlp"
    transform: str
    snv: bool
    hidden: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        """A readable name, e.g. ``mlp-128-64/absorbance+snv``."""
        model = "-".join(["mlp", *map(str, self.hidden)]) if self.kind == "mlp" else self.kind
        return f"{model}/{self.transform}{'+snv' if self.snv else ''}"


@dataclass
class Fitted:
    """A fitted candidate: its prediction function, its SpectralRegressor and hyperparameters."""

    predict: Callable[[FloatArray], FloatArray]
    module: SpectralRegressor
    hyper: dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """Sizes of the search (smaller with ``--quick``)."""

    max_components: int = 30
    alphas: tuple[float, ...] = tuple(np.logspace(-6, 2, 33))  # x n_train
    max_epochs: int = 300
    patience: int = 25
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    #: EnMAP-like noise: on the MLP training inputs (fresh each batch) and on the spectra on
    #: which every candidate's hyperparameters are tuned (one fixed draw).
    noise: bool = True


def _standardise(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-12, scale, 1.0)


def _regressor(candidate: Candidate, n_bands: int, epo: Epo | None) -> SpectralRegressor:
    """The candidate's :class:`SpectralRegressor` (one output) with ``epo`` as its EPO step, if any."""
    module = SpectralRegressor(
        n_bands,
        candidate.hidden,
        1,
        candidate.transform,  # type: ignore[arg-type]
        candidate.snv,
        0 if epo is None else epo.components,
    )
    return module if epo is None else module.set_epo(epo.mean, epo.basis)


def _linear_module(
    candidate: Candidate, mean: FloatArray, scale: FloatArray, weight: FloatArray, bias: float, epo: Epo | None
) -> SpectralRegressor:
    module = _regressor(candidate, mean.size, epo)
    with torch.no_grad():
        module.input_mean.copy_(torch.from_numpy(mean))
        module.input_scale.copy_(torch.from_numpy(scale))
        first = module.layers[0]
        assert isinstance(first, torch.nn.Linear)
        first.weight.copy_(torch.from_numpy(weight.reshape(1, -1)))
        first.bias.fill_(bias)
    return module.eval()


def _inner_folds(folds: npt.NDArray[np.int64]) -> list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
    return [(folds != k, folds == k) for k in np.unique(folds)]


def _pls_path(x_train: FloatArray, y_train: FloatArray, x_test: FloatArray, max_components: int) -> FloatArray:
    """Predictions of PLSR with 1..A components from one A-component fit, shape (N_test, A).

    NIPALS extracts components one after the other, so the first j weights and loadings of an
    A-component fit are those of a j-component fit: ``R_j = W_j (P_j^T W_j)^-1``.
    """
    from sklearn.cross_decomposition import PLSRegression

    mean, scale = _standardise(x_train)
    a = min(max_components, x_train.shape[0] - 1, x_train.shape[1])
    pls = PLSRegression(n_components=a, scale=False).fit((x_train - mean) / scale, y_train)
    xs = (x_test - mean) / scale
    xc = xs - ((x_train - mean) / scale).mean(axis=0)
    w, p, q = pls.x_weights_, pls.x_loadings_, pls.y_loadings_
    out = np.empty((x_test.shape[0], a))
    for j in range(1, a + 1):
        rotation = w[:, :j] @ np.linalg.inv(p[:, :j].T @ w[:, :j])
        out[:, j - 1] = xc @ rotation @ q[:, :j].T[:, 0] + y_train.mean()
    return out


def fit_plsr(
    candidate: Candidate,
    reflectance: FloatArray,
    soc: FloatArray,
    folds: npt.NDArray[np.int64],
    settings: Settings,
    seed: int,
    tune_reflectance: FloatArray,
    groups: npt.NDArray[np.int64] | None = None,
    epochs: int | None = None,
    epo: Epo | None = None,
) -> Fitted:
    """PLSR (sklearn ``PLSRegression``), components chosen by inner CV on ``folds``.

    The inner CV predicts ``tune_reflectance`` (the spectra with EnMAP-like noise, or the
    spectra themselves), so that the number of components suits the sensor's noise. ``groups`` is
    not needed: a soil's mixtures share its fold, so the inner folds keep them together, and
    ``epochs`` is unused (the fitters share one signature). ``epo``: an EPO step in front.
    """
    from sklearn.cross_decomposition import PLSRegression

    x = features(reflectance, candidate.transform, candidate.snv, epo)
    x_tune = features(tune_reflectance, candidate.transform, candidate.snv, epo)
    sse = np.zeros(settings.max_components)
    for train, test in _inner_folds(folds):
        path = _pls_path(x[train], soc[train], x_tune[test], settings.max_components)
        sse[: path.shape[1]] += np.sum((path - soc[test, None]) ** 2, axis=0)
        sse[path.shape[1] :] = np.inf
    n_components = int(np.argmin(sse)) + 1
    mean, scale = _standardise(x)
    pls = PLSRegression(n_components=n_components, scale=False).fit((x - mean) / scale, soc)
    weight = np.asarray(pls.coef_, dtype=np.float64).ravel()
    bias = float(pls.predict(np.zeros((1, x.shape[1]))).ravel()[0])  # folds in pls' centring

    def predict(r: FloatArray) -> FloatArray:
        xs = (features(r, candidate.transform, candidate.snv, epo) - mean) / scale
        return np.asarray(pls.predict(xs), dtype=np.float64).ravel()

    module = _linear_module(candidate, mean, scale, weight, bias, epo)
    return Fitted(predict, module, {"n_components": n_components})


def _ridge_path(
    x_train: FloatArray, y_train: FloatArray, x_test: FloatArray, alphas: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Ridge on standardised features for many penalties from one eigendecomposition.

    Returns:
        Predictions (N_test, K), coefficients (F, K) on standardised features, mean and scale.
    """
    mean, scale = _standardise(x_train)
    xs = (x_train - mean) / scale
    eigenvalues, vectors = np.linalg.eigh(xs.T @ xs)
    projected = vectors.T @ (xs.T @ (y_train - y_train.mean()))
    coefs = vectors @ (projected[:, None] / (eigenvalues[:, None] + alphas[None, :]))
    return ((x_test - mean) / scale) @ coefs + y_train.mean(), coefs, mean, scale


def fit_ridge(
    candidate: Candidate,
    reflectance: FloatArray,
    soc: FloatArray,
    folds: npt.NDArray[np.int64],
    settings: Settings,
    seed: int,
    tune_reflectance: FloatArray,
    groups: npt.NDArray[np.int64] | None = None,
    epochs: int | None = None,
    epo: Epo | None = None,
) -> Fitted:
    """Ridge regression on standardised features, penalty chosen by inner CV on ``folds``.

    ``groups`` and ``epochs`` are unused (the fitters share one signature); ``epo``: an EPO step in front.
    """
    x = features(reflectance, candidate.transform, candidate.snv, epo)
    x_tune = features(tune_reflectance, candidate.transform, candidate.snv, epo)
    relative = np.asarray(settings.alphas)
    sse = np.zeros(relative.size)
    for train, test in _inner_folds(folds):
        path, *_ = _ridge_path(x[train], soc[train], x_tune[test], relative * train.sum())
        sse += np.sum((path - soc[test, None]) ** 2, axis=0)
    best = int(np.argmin(sse))
    alpha = float(relative[best] * x.shape[0])
    _, coefs, mean, scale = _ridge_path(x, soc, x[:1], np.array([alpha]))
    weight = coefs[:, 0]
    intercept = float(soc.mean())

    def predict(r: FloatArray) -> FloatArray:
        xs = (features(r, candidate.transform, candidate.snv, epo) - mean) / scale
        return xs @ weight + intercept

    module = _linear_module(candidate, mean, scale, weight, intercept, epo)
    return Fitted(predict, module, {"alpha_over_n": float(relative[best])})


def validation_split(
    groups: npt.NDArray[np.int64], rng: np.random.Generator, validate: bool = True
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Rows of 10 % of the groups (at least one) for validation, the others' rows for training.

    The groups are put in a random order (one ``rng.permutation`` over the groups) with each
    group's rows together; the first tenth of the groups validate. With one row per group this is
    ``index = rng.permutation(n); index[: n // 10], index[n // 10 :]``.

    Args:
        groups: int array of shape (N,): rows that share a value (a soil and its mixtures) fall
            on the same side.
        rng: the random generator.
        validate: False: no validation rows, and all rows (in that random group order) train.

    Returns:
        ``(validation, training)`` row indices.
    """
    _, group = np.unique(groups, return_inverse=True)
    n_groups = int(group.max()) + 1
    rank = np.empty(n_groups, dtype=np.int64)
    rank[rng.permutation(n_groups)] = np.arange(n_groups)
    index = np.argsort(rank[group], kind="stable")
    n_validation = int(np.sum(rank[group] < max(1, n_groups // 10))) if validate else 0
    return index[:n_validation], index[n_validation:]


def train_mlp(
    candidate: Candidate,
    reflectance: FloatArray,
    soc: FloatArray,
    settings: Settings,
    seed: int,
    tune_reflectance: FloatArray,
    epochs: int | None = None,
    groups: npt.NDArray[np.int64] | None = None,
    epo: Epo | None = None,
) -> tuple[SpectralRegressor, int, Callable[[FloatArray], FloatArray]]:
    """Train a :class:`SpectralRegressor` MLP with AdamW on MSE and EnMAP-like input noise.

    Without ``epochs``, 10 % of the groups (random, seeded; a group is a soil with its
    soil-plant mixtures, each spectrum its own group when ``groups`` is None) are kept for
    validation, their spectra taken from ``tune_reflectance`` (i.e. with EnMAP-like noise when
    enabled), and training stops ``patience`` epochs after the best validation RMSE (that state is
    kept); with ``epochs``, all spectra train for that many epochs. With ``epo`` the module holds
    that EPO step in front of its transform during training (the noise is added to the
    reflectance before it, as a sensor adds it), and ``epo=None`` trains exactly as before EPO
    existed (same random draws).

    Returns:
        The module (in eval mode, SOC in g/kg out; the target standardisation folded into its
        output layer), the number of epochs it trained and the prediction function of the
        module as trained (before that folding).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = features(reflectance, candidate.transform, candidate.snv, epo)
    mean, scale = _standardise(x)
    module = _regressor(candidate, x.shape[1], epo)
    with torch.no_grad():
        module.input_mean.copy_(torch.from_numpy(mean))
        module.input_scale.copy_(torch.from_numpy(scale))
    y_mean, y_scale = float(soc.mean()), float(soc.std())
    val, train = validation_split(np.arange(soc.size) if groups is None else groups, rng, epochs is None)
    r_train = torch.from_numpy(reflectance[train]).float()
    y_train = torch.from_numpy((soc[train] - y_mean) / y_scale).float()
    r_val = torch.from_numpy(tune_reflectance[val]).float()
    sigma = torch.from_numpy(enmap_noise_sigma()).float()
    optimiser = torch.optim.AdamW(module.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    best_rmse, best_epoch, best_state = math.inf, 0, None
    max_epochs = epochs if epochs is not None else settings.max_epochs
    for epoch in range(1, max_epochs + 1):
        module.train()
        order = torch.randperm(r_train.shape[0])
        for start in range(0, order.numel(), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            inputs = r_train[batch]
            if settings.noise:
                inputs = inputs + torch.randn_like(inputs) * sigma
            loss = torch.mean((module(inputs)[:, 0] - y_train[batch]) ** 2)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if epochs is None:
            module.eval()
            with torch.no_grad():
                pred = module(r_val)[:, 0].double().numpy() * y_scale + y_mean
            rmse = float(np.sqrt(np.mean((pred - soc[val]) ** 2)))
            if rmse < best_rmse:
                best_rmse, best_epoch = rmse, epoch
                best_state = {k: v.clone() for k, v in module.state_dict().items()}
            elif epoch - best_epoch >= settings.patience:
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    else:
        best_epoch = max_epochs
    trained = copy.deepcopy(module).eval()

    def predict(r: FloatArray) -> FloatArray:
        return module_predict(trained, r) * y_scale + y_mean

    last = module.layers[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():  # fold the target standardisation into the output layer
        last.weight.mul_(y_scale)
        last.bias.mul_(y_scale).add_(y_mean)
    return module.eval(), best_epoch, predict


def module_predict(module: torch.nn.Module, reflectance: FloatArray) -> FloatArray:
    """SOC (g/kg) of a model's first output for reflectance of shape (N, B), float32 arithmetic; shape (N,)."""
    with torch.no_grad():
        return module(torch.from_numpy(reflectance).float())[:, 0].double().numpy()


def fit_mlp(
    candidate: Candidate,
    reflectance: FloatArray,
    soc: FloatArray,
    folds: npt.NDArray[np.int64],
    settings: Settings,
    seed: int,
    tune_reflectance: FloatArray,
    groups: npt.NDArray[np.int64] | None = None,
    epochs: int | None = None,
    epo: Epo | None = None,
) -> Fitted:
    """MLP trained with early stopping on a split by ``groups``, or for fixed ``epochs`` (``epo``: see train_mlp)."""
    module, trained, predict = train_mlp(
        candidate, reflectance, soc, settings, seed, tune_reflectance, epochs, groups, epo
    )
    return Fitted(predict, module, {"epochs": trained})


FITTERS = {"plsr": fit_plsr, "ridge": fit_ridge, "mlp": fit_mlp}


def fit_candidate(
    candidate: Candidate,
    pool: Pool,
    settings: Settings,
    seed: int,
    tune_reflectance: FloatArray,
    epo: Epo | None = None,
    epochs: int | None = None,
) -> Fitted:
    """Fit ``candidate`` on all of ``pool`` (``epochs``: an MLP's fixed epochs, None for early stopping)."""
    return FITTERS[candidate.kind](
        candidate,
        pool.reflectance,
        pool.soc,
        pool.folds,
        settings,
        seed,
        tune_reflectance,
        groups=pool.group,
        epochs=epochs,
        epo=epo,
    )


# --------------------------------------------------------------------------------------------
# Cross-validation, selection, export
# --------------------------------------------------------------------------------------------


@dataclass
class Pool:
    """All training spectra, concatenated: the pure lab soils, then their soil-plant mixtures.

    Attributes:
        reflectance: float64 array of shape (N, 202), reflectance 0-1.
        soc: float64 array of shape (N,), SOC in g/kg (a mixture keeps its soil's SOC).
        folds: int array of shape (N,), 1-9 (a mixture is in its soil's fold).
        dataset: shape (N,), the dataset name of each row's soil.
        group: int array of shape (N,), the row of each row's pure soil: a soil and its mixtures
            share a group, and are kept on one side of every split.
        plant_fraction: float64 array of shape (N,), 0 for a pure soil, in (0, max] for a mixture.
    """

    reflectance: FloatArray
    soc: FloatArray
    folds: npt.NDArray[np.int64]
    dataset: npt.NDArray[np.str_]
    group: npt.NDArray[np.int64]
    plant_fraction: FloatArray

    @property
    def pure(self) -> npt.NDArray[np.bool_]:
        """Rows that are pure lab soils, shape (N,)."""
        return self.plant_fraction == 0.0

    @property
    def datsoilspc_soils(self) -> npt.NDArray[np.bool_]:
        """The pure datsoilspc rows, shape (N,): in a :func:`training_pool` that set's rows in order."""
        return self.pure & (self.dataset == "datsoilspc")

    def subset(self, rows: npt.NDArray[np.bool_]) -> Pool:
        """The pool's rows where the bool array ``rows`` (N,) is True."""
        return Pool(
            self.reflectance[rows],
            self.soc[rows],
            self.folds[rows],
            self.dataset[rows],
            self.group[rows],
            self.plant_fraction[rows],
        )


def training_pool(sets: Sequence[LabSet], exclude: dict[str, npt.NDArray[np.bool_]] | None = None) -> Pool:
    """The pure training soils of ``sets``: every fold but :data:`HELD_OUT_FOLD`, concatenated.

    Args:
        sets: the lab sets (:func:`load_lab_sets`).
        exclude: optional dataset name -> bool array over that set's rows to leave out as well.

    Returns:
        A pool of pure soils (``group`` = row, ``plant_fraction`` 0).
    """
    kept = [(s, (s.folds != HELD_OUT_FOLD) & ~(exclude or {}).get(s.name, np.zeros(s.soc.size, bool))) for s in sets]
    n = sum(int(m.sum()) for _, m in kept)
    return Pool(
        np.concatenate([s.reflectance[m] for s, m in kept]),
        np.concatenate([s.soc[m] for s, m in kept]),
        np.concatenate([s.folds[m] for s, m in kept]),
        np.concatenate([np.full(int(m.sum()), s.name) for s, m in kept]),
        np.arange(n),
        np.zeros(n),
    )


def bundled_pool(soils: Pool, plants: Plants | None, metadata: dict[str, Any], seed: int = 0) -> Pool:
    """``soils`` with the plant mixtures that ``metadata``'s model was trained with (its ``plant_mixtures``).

    Args:
        soils: a pool of pure soils (:func:`training_pool`).
        plants: the plants (:func:`load_plants` with seed ``seed + PLANT_FOLD_SEED``); unused, and
            may be None, when the model has no ``plant_mixtures``.
        metadata: the model's metadata.
        seed: the recipe's ``--seed``.

    Returns:
        ``soils`` itself, or ``soils`` followed by the mixtures.
    """
    mixing = metadata.get("plant_mixtures")
    if not mixing:
        return soils
    if plants is None:
        raise ValueError("the model was trained on plant mixtures: pass the plants (load_plants)")
    return mix_with_plants(soils, plants, mixing["copies"], mixing["max_fraction"], seed + MIXTURE_SEED)


def bundled_candidate(metadata: dict[str, Any]) -> Candidate:
    """The MLP :class:`Candidate` a model's metadata describes (its ``architecture``).

    Raises:
        ValueError: If the architecture is not one of the recipe's MLP candidates (a linear layer
            does not say whether it came from PLSR or ridge).
    """
    architecture = metadata["architecture"]
    name = "-".join(["mlp", *map(str, architecture["hidden"])]) + f"/{architecture['transform']}"
    name += "+snv" if architecture["snv"] else ""
    for candidate in candidates(False):
        if candidate.kind == "mlp" and candidate.name == name:
            return candidate
    raise ValueError(f"{name} is not an MLP candidate of train_soc_model.py: retrain it with its own recipe")


def mix_with_plants(pool: Pool, plants: Plants, copies: int, max_fraction: float, seed: int) -> Pool:
    """Add ``copies`` linear soil-plant mixtures of every pure soil of ``pool``.

    Mixture ``(1 - f) R_soil + f R_plant`` with f uniform in (0, ``max_fraction``], the plant
    green or dry with equal odds and drawn from the plants of the soil's own fold, and the soil's
    SOC as its label: a pixel with some vegetation or crop residue over a soil still has that
    soil's SOC. Linear (areal, checkerboard) mixing is the first-order model of a pixel partly
    covered by plants (Keshava and Mustard 2002, IEEE Signal Process. Mag. 19(1), 44-57).

    Args:
        pool: pure soils only (``plant_fraction`` all 0).
        plants: the plant spectra and their folds.
        copies: mixtures per soil; 0 returns ``pool`` unchanged.
        max_fraction: the largest plant fraction, in (0, 1).
        seed: seed of fractions and plant draws.

    Returns:
        The pool followed by its mixtures: copy c of soil i is row ``(c + 1) * N + i``.

    Raises:
        ValueError: If ``pool`` already holds mixtures or ``max_fraction`` is outside (0, 1).
    """
    if not pool.pure.all():
        raise ValueError("mix_with_plants needs a pool of pure soils")
    if not 0.0 < max_fraction < 1.0:
        raise ValueError(f"max_fraction {max_fraction} is outside (0, 1): pass a plant fraction such as 0.25")
    if copies == 0:
        return pool
    rng = np.random.default_rng(seed)
    n = pool.soc.size
    mixtures, fractions = [], []
    for _ in range(copies):
        fraction = max_fraction * (1.0 - rng.random(n))  # (0, max_fraction]
        use_green = rng.random(n) < 0.5
        plant = np.empty(n, dtype=np.int64)
        for k in np.unique(pool.folds):
            for kind in (True, False):
                soils = np.flatnonzero((pool.folds == k) & (use_green == kind))
                choices = np.flatnonzero((plants.folds == k) & (plants.green == kind))
                plant[soils] = choices[rng.integers(choices.size, size=soils.size)]
        mixtures.append((1.0 - fraction[:, None]) * pool.reflectance + fraction[:, None] * plants.reflectance[plant])
        fractions.append(fraction)
    return Pool(
        np.concatenate([pool.reflectance, *mixtures]),
        np.tile(pool.soc, copies + 1),
        np.tile(pool.folds, copies + 1),
        np.tile(pool.dataset, copies + 1),
        np.tile(pool.group, copies + 1),
        np.concatenate([pool.plant_fraction, *fractions]),
    )


def cross_validate(
    candidate: Candidate,
    pool: Pool,
    settings: Settings,
    seed: int,
    noisy: FloatArray,
    epo_basis: FloatArray | None = None,
) -> dict[str, Any]:
    """Out-of-fold predictions of a candidate over the 9 pooled folds and their metrics.

    The top-level metrics are those of the pure lab soils; ``mixtures`` those of their soil-plant
    mixtures (each with a plant of its own test fold, never seen in training); ``rmse_all`` the
    RMSE over both, the selection criterion. With ``epo_basis`` (B, g) every fold's model holds an
    EPO step with those directions about its own training spectra's mean absorbance.
    """
    oof = np.empty(pool.soc.size)
    oof_noisy = np.empty(pool.soc.size)
    hypers = []
    for k in range(1, N_FOLDS + 1):
        train, test = pool.folds != k, pool.folds == k
        tune = noisy[train] if settings.noise else pool.reflectance[train]
        epo = None if epo_basis is None else Epo.about(pool.reflectance[train], epo_basis)
        fitted = fit_candidate(candidate, pool.subset(train), settings, seed + k, tune, epo)
        oof[test] = fitted.predict(pool.reflectance[test])
        oof_noisy[test] = fitted.predict(noisy[test])
        hypers.append(fitted.hyper)
    pure = pool.pure
    result: dict[str, Any] = {
        "name": candidate.name,
        "model": candidate.kind,
        "hidden": list(candidate.hidden),
        "transform": candidate.transform,
        "snv": candidate.snv,
        **metrics(pool.soc[pure], oof[pure]),
        "rmse_enmap_noise": metrics(pool.soc[pure], oof_noisy[pure])["rmse"],
        "rmse_all": metrics(pool.soc, oof)["rmse"],
    }
    if not pure.all():
        result["mixtures"] = metrics(pool.soc[~pure], oof[~pure])
    result["per_dataset"] = {
        name: metrics(pool.soc[pure & (pool.dataset == name)], oof[pure & (pool.dataset == name)])
        for name in dict.fromkeys(pool.dataset.tolist())
    }
    result["hyperparameters_per_fold"] = hypers
    return result


def without_soils(pool: Pool, datsoilspc_rows: npt.NDArray[np.int64]) -> Pool:
    """``pool`` without the datsoilspc soils at rows ``datsoilspc_rows`` of its LabSet, and their mixtures.

    The pure datsoilspc rows of a :func:`training_pool` are that set's rows in order (it has no
    held-out fold), so row j is the j-th pure datsoilspc row of ``pool``.
    """
    groups = pool.group[pool.datsoilspc_soils][np.asarray(datsoilspc_rows, dtype=np.int64)]
    return pool.subset(~np.isin(pool.group, groups))


def with_moisture_scans(
    training: Pool, pool: Pool, moisture: MoistureScans, soils: npt.NDArray[np.int64], scans: Sequence[str]
) -> Pool:
    """``training`` followed by the ``scans`` of ``soils``, each labelled with its soil's SOC.

    A scan row takes the group and fold of its soil's datsoilspc copy in ``pool`` (so it stays
    on that soil's side of every split), dataset ``"datEPO"`` and plant fraction 0.

    Raises:
        KeyError: If a scan label is not one of ``moisture.scans``.
    """
    rows = moisture.matched[soils]
    groups, folds = pool.group[pool.datsoilspc_soils][rows], pool.folds[pool.datsoilspc_soils][rows]
    reflectance = np.concatenate([moisture.scans[scan][soils] for scan in scans])
    n = reflectance.shape[0]
    return Pool(
        np.concatenate([training.reflectance, reflectance]),
        np.concatenate([training.soc, np.tile(moisture.soc[soils], len(scans))]),
        np.concatenate([training.folds, np.tile(folds, len(scans))]),
        np.concatenate([training.dataset, np.full(n, "datEPO")]),
        np.concatenate([training.group, np.tile(groups, len(scans))]),
        np.concatenate([training.plant_fraction, np.zeros(n)]),
    )


def moisture_folds(n_soils: int, n_folds: int, seed: int) -> npt.NDArray[np.int64]:
    """Fold 0 to ``n_folds - 1`` of each of ``n_soils`` soils (a seeded permutation, sizes within one).

    Raises:
        ValueError: If ``n_folds`` is below 2 or above ``n_soils``.
    """
    if not 2 <= n_folds <= n_soils:
        raise ValueError(f"{n_folds} folds for {n_soils} soils: pass 2 to {n_soils} folds")
    fold = np.empty(n_soils, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n_soils)] = np.arange(n_soils) % n_folds
    return fold


def moisture_cv(
    candidate: Candidate,
    pool: Pool,
    moisture: MoistureScans,
    components: Sequence[int],
    n_folds: int,
    settings: Settings,
    seed: int,
    soils: npt.NDArray[np.int64] | None = None,
    epochs: int | None = None,
    training_scans: Sequence[str] = (),
) -> dict[int, FloatArray]:
    """Out-of-fold SOC of the moisture scans for every EPO ``components`` g (0: no EPO).

    The ``soils`` (default: all) are split into ``n_folds`` folds (:func:`moisture_folds`). For fold k, the
    candidate is fitted (an MLP for ``epochs``, or with early stopping when None; PLSR and
    ridge tune on the pool's folds) on ``pool`` without the datsoilspc copies of fold k's soils
    and of every soil outside ``soils`` (so that a nested caller's outer test soils stay unseen);
    with g > 0 it holds an EPO step whose directions come from the scans of the other folds'
    soils only (:meth:`MoistureScans.directions`), about the training spectra's mean. With
    ``training_scans`` (scan labels, e.g. ``("wet",)``) those scans of the other folds' soils
    also train, labelled with their SOC (:func:`with_moisture_scans`). It then predicts all
    scans of fold k.

    Returns:
        g -> float64 array of shape (len(scans), S): predicted SOC (g/kg), NaN outside ``soils``.

    Raises:
        ValueError: If ``n_folds`` is below 2 or above the number of soils.
    """
    n_soils = moisture.soc.size
    soils = np.arange(n_soils) if soils is None else np.asarray(soils, dtype=np.int64)
    fold = moisture_folds(soils.size, n_folds, seed)
    outside = np.setdiff1d(np.arange(n_soils), soils)
    predicted = {g: np.full((len(moisture.scans), n_soils), np.nan) for g in components}
    for k in range(n_folds):
        test, calibration = soils[fold == k], soils[fold != k]
        training = without_soils(pool, moisture.matched[np.concatenate([test, outside])])
        if training_scans:
            training = with_moisture_scans(training, pool, moisture, calibration, training_scans)
        tune = with_enmap_noise(training.reflectance, seed) if settings.noise else training.reflectance
        for g in components:
            epo = Epo.about(training.reflectance, moisture.directions(calibration, g)) if g else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = fit_candidate(candidate, training, settings, seed, tune, epo, epochs)
            for i, reflectance in enumerate(moisture.scans.values()):
                predicted[g][i, test] = module_predict(fitted.module, reflectance[test])
    return predicted


def moisture_scores(
    moisture: MoistureScans, predicted: FloatArray, soils: npt.NDArray[np.int64] | None = None
) -> dict[str, dict[str, float]]:
    """Metrics (:func:`metrics`) of predictions (len(scans), S) per scan and over all scans ("all") of ``soils``."""
    soils = np.arange(moisture.soc.size) if soils is None else soils
    scores = {scan: metrics(moisture.soc[soils], predicted[i, soils]) for i, scan in enumerate(moisture.scans)}
    scores["all"] = metrics(np.tile(moisture.soc[soils], len(moisture.scans)), predicted[:, soils].ravel())
    return scores


def choose_epo_components(scores: dict[int, dict[str, dict[str, float]]]) -> int:
    """The g with the lowest RMSE over all scans (``scores[g]["all"]``); the smaller g on a tie."""
    return min(scores, key=lambda g: (scores[g]["all"]["rmse"], g))


def candidates(quick: bool) -> list[Candidate]:
    """The compared models."""
    preprocessing = [(t, s) for t in ("reflectance", "absorbance") for s in (False, True)]
    linear = [Candidate(kind, t, s) for kind in ("plsr", "ridge") for t, s in preprocessing]
    if quick:
        return [*linear, Candidate("mlp", "absorbance", True, (64,))]
    mlps = [Candidate("mlp", t, s, h) for h in ((64,), (128, 64)) for t, s in preprocessing]
    return [*linear, *mlps]


def verify(
    fitted: Fitted, candidate: Candidate, reflectance: FloatArray, metadata: dict[str, Any], weights: Path
) -> dict[str, float]:
    """Check the saved model against the fitted estimator on the training spectra.

    The weights are loaded back as the registry loads them (:func:`load_model_file`), and must
    reproduce the estimator's predictions to 1e-4 g/kg: in float64 arithmetic for the linear
    models (the estimator is float64 sklearn/numpy, the weights are float32), in float32 for an
    MLP (the estimator is the trained torch module, before its target scaling was folded into
    the output layer). ``forward_band_major`` must agree with ``forward`` to 1e-4 g/kg in float64.
    Float32 arithmetic alone (summation order, for outputs up to about 130 g/kg) may add up to
    1e-3 g/kg.

    Returns:
        The largest absolute differences in g/kg.

    Raises:
        AssertionError: If a difference is too large.
    """
    reference = fitted.predict(reflectance)
    loaded = load_model_file(metadata, weights)
    if not isinstance(loaded, SpectralRegressor):
        raise TypeError(f"{weights} holds a {type(loaded).__name__}, not a SpectralRegressor")
    deviation = {}
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        module = loaded.to(dtype)
        with torch.no_grad():
            x = torch.from_numpy(reflectance).to(dtype)
            out = module(x)[:, 0].double().numpy()
            band_major = module.forward_band_major(x.T.contiguous())[0].double().numpy()
        deviation[name] = float(np.max(np.abs(out - reference)))
        deviation[f"band_major_vs_forward_{name}"] = float(np.max(np.abs(band_major - out)))
    log.info("verification, max |saved module - estimator| (g/kg): %s", deviation)
    exact = "float32" if candidate.kind == "mlp" else "float64"
    assert deviation[exact] < 1e-4, deviation
    assert deviation["float32"] < 1e-3, deviation  # float32 arithmetic of a float64 estimator
    assert deviation["band_major_vs_forward_float64"] < 1e-4, deviation
    assert deviation["band_major_vs_forward_float32"] < 1e-3, deviation
    return {key: float(f"{value:.3g}") for key, value in deviation.items()}


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=REPO / "eospec" / "models" / "weights",
        help="folder for soc.safetensors and soc.json (default: eospec/models/weights)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of folds, noise and MLP training")
    parser.add_argument("--quick", action="store_true", help="CI-size run: fewer candidates, components and epochs")
    parser.add_argument("--no-noise", action="store_true", help="train the MLPs without EnMAP-like noise augmentation")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument(
        "--plant-copies",
        type=int,
        default=PLANT_COPIES,
        help=f"soil-plant mixtures per training soil (default {PLANT_COPIES}; 0: pure soils only, the 1.0.0 model)",
    )
    parser.add_argument(
        "--max-plant-fraction",
        type=float,
        default=MAX_PLANT_FRACTION,
        help=f"largest plant fraction of a mixture (default {MAX_PLANT_FRACTION})",
    )
    parser.add_argument(
        "--epo-components",
        default="auto",
        help=(
            "EPO components g removed against soil moisture: 'auto' (default) chooses among "
            f"{', '.join(map(str, EPO_COMPONENTS))} by CV on the datEPO scans; 0: no EPO (the 2.0.0 model)"
        ),
    )
    parser.add_argument(
        "--epo-folds", type=int, default=EPO_FOLDS, help=f"folds over the datEPO soils (default {EPO_FOLDS})"
    )
    args = parser.parse_args(argv)
    epo_request: int | None = None  # None: auto
    if args.epo_components != "auto":
        try:
            epo_request = int(args.epo_components)
        except ValueError:
            epo_request = -1
        if not 0 <= epo_request <= len(ENMAP_DEFAULT_BANDS):
            parser.error(
                f"--epo-components {args.epo_components}: pass 'auto' or a whole number 0-{len(ENMAP_DEFAULT_BANDS)}"
            )
    if args.epo_folds < 2:
        parser.error(f"--epo-folds {args.epo_folds}: pass 2 or more")
    if args.plant_copies < 0:
        parser.error(f"--plant-copies {args.plant_copies} is negative: pass 0 (pure soils) or more")
    if not 0.0 < args.max_plant_fraction < 1.0:
        parser.error(f"--max-plant-fraction {args.max_plant_fraction} is outside (0, 1): pass e.g. 0.25")
    plants = None
    if args.plant_copies:
        try:
            plants = load_plants(shared_data_dir() / USGS_AV95, args.seed + PLANT_FOLD_SEED)
        except FileNotFoundError as error:
            parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    # Small matrices: one BLAS thread is fastest (and does not fight torch's threads).
    threadpool_limits(limits=1, user_api="blas")
    started = time.perf_counter()
    settings = Settings(noise=not args.no_noise)
    if args.quick:
        settings = Settings(
            max_components=12, alphas=tuple(np.logspace(-5, 0, 6)), max_epochs=25, patience=5, noise=not args.no_noise
        )

    sets = load_lab_sets(args.seed)
    with_datsoilspc = sets[-1].name == "datsoilspc"
    moisture = None
    if epo_request != 0:
        try:
            moisture = load_moisture_scans(sets)
        except FileNotFoundError as error:
            parser.error(str(error))
        if not 2 <= args.epo_folds <= moisture.soc.size:
            parser.error(f"--epo-folds {args.epo_folds}: pass 2 to {moisture.soc.size} (the datEPO soils)")
    for s in sets:
        log.info(
            "%-10s %4d spectra (%g-%g nm), SOC %.1f-%.1f g/kg, held out %d",
            s.name,
            int(np.sum(s.folds != HELD_OUT_FOLD)),
            *s.source_range_nm,
            s.soc.min(),
            s.soc.max(),
            int(np.sum(s.folds == HELD_OUT_FOLD)),
        )

    soils = training_pool(sets)
    pool = soils
    if plants is not None:
        pool = mix_with_plants(soils, plants, args.plant_copies, args.max_plant_fraction, args.seed + MIXTURE_SEED)
        log.info(
            "%d soil-plant mixtures (%d green and %d dry USGS plants, fraction up to %g)",
            int((~pool.pure).sum()),
            int(plants.green.sum()),
            int((~plants.green).sum()),
            args.max_plant_fraction,
        )
    noisy = with_enmap_noise(pool.reflectance, args.seed)

    table = []
    for candidate in candidates(args.quick):
        t0 = time.perf_counter()
        result = cross_validate(candidate, pool, settings, args.seed, noisy)
        result["seconds"] = round(time.perf_counter() - t0, 1)
        table.append(result)
        log.info(
            "%-28s soils: RMSE %6.2f  R2 %5.2f  RPIQ %5.2f  CCC %5.2f  bias %6.2f  (EnMAP noise: RMSE %6.2f)"
            "  mixtures: RMSE %6.2f  bias %6.2f  all: RMSE %6.2f  %5.1f s",
            candidate.name,
            result["rmse"],
            result["r2"],
            result["rpiq"],
            result["ccc"],
            result["bias"],
            result["rmse_enmap_noise"],
            result.get("mixtures", {}).get("rmse", math.nan),
            result.get("mixtures", {}).get("bias", math.nan),
            result["rmse_all"],
            result["seconds"],
        )

    best = min(table, key=lambda row: row["rmse_all"])
    chosen = next(c for c in candidates(args.quick) if c.name == best["name"])
    log.info("chosen: %s (pooled CV RMSE %.2f g/kg, soils and mixtures)", chosen.name, best["rmse_all"])
    selected = best  # the chosen candidate's CV without EPO
    epo, epo_record = None, None
    if moisture is not None:
        components = EPO_COMPONENTS if epo_request is None else (0, epo_request)
        study_epochs = _median_epochs(best) if chosen.kind == "mlp" else None
        t0 = time.perf_counter()
        predicted = moisture_cv(
            chosen, pool, moisture, components, args.epo_folds, settings, args.seed, epochs=study_epochs
        )
        scores = {g: moisture_scores(moisture, predicted[g]) for g in components}
        g = choose_epo_components(scores) if epo_request is None else epo_request
        for component in components:
            log.info(
                "EPO g=%d, datEPO out of fold: RMSE %s (all scans %.2f)%s",
                component,
                ", ".join(f"{scan} {scores[component][scan]['rmse']:.2f}" for scan in SCANS.values()),
                scores[component]["all"]["rmse"],
                "  <- chosen" if component == g else "",
            )
        study_seconds = round(time.perf_counter() - t0, 1)
        if g:
            basis = moisture.directions(np.arange(moisture.soc.size), g)
            best = cross_validate(chosen, pool, settings, args.seed, noisy, epo_basis=basis)
            log.info(
                "with EPO g=%d: soils RMSE %.2f (without %.2f), mixtures RMSE %.2f, all %.2f",
                g,
                best["rmse"],
                selected["rmse"],
                best.get("mixtures", {}).get("rmse", math.nan),
                best["rmse_all"],
            )
            epo = Epo.about(pool.reflectance, basis)
        epo_record = {
            "components": g,
            "candidates": list(components),
            "selection": (
                "the g with the lowest RMSE over all three datEPO scans (air-dry, wet, re-dried), out of "
                f"fold over {args.epo_folds} folds of the datEPO soils (seed {args.seed})"
                if epo_request is None
                else f"fixed by --epo-components {epo_request}"
            ),
            "study": {str(component): scores[component] for component in components},
            "study_epochs": study_epochs,
            "study_seconds": study_seconds,
        }
    tune = noisy if settings.noise else pool.reflectance
    epochs = _median_epochs(best) if chosen.kind == "mlp" else None
    fitted = fit_candidate(chosen, pool, settings, args.seed, tune, epo, epochs)
    held = [(s, s.folds == HELD_OUT_FOLD) for s in sets if s.name != "datsoilspc"]
    held_r = np.concatenate([s.reflectance[m] for s, m in held])
    held_y = np.concatenate([s.soc[m] for s, m in held])
    held_pred = module_predict(fitted.module, held_r)
    held_test = {"pooled": metrics(held_y, held_pred)}
    start = 0
    for s, m in held:
        n = int(m.sum())
        held_test[f"LimeSoDa {s.name}"] = metrics(held_y[start : start + n], held_pred[start : start + n])
        start += n
    log.info("held-out fold 10 (LimeSoDa), reported only: %s", held_test["pooled"])

    args.out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".soc-", dir=args.out_dir))  # moved into place when complete
    weights = staging / "soc.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in fitted.module.state_dict().items()}, weights)
    centres, fwhm = enmap_default_bands()
    training_max = float(pool.soc.max())
    per_dataset = {(f"LimeSoDa {k}" if k != "datsoilspc" else k): v for k, v in best["per_dataset"].items()}
    command = "python recipes/train_soc_model.py" + (f" --seed {args.seed}" if args.seed else "")
    command += " --quick" if args.quick else ""
    command += " --no-noise" if args.no_noise else ""
    command += f" --plant-copies {args.plant_copies}" if args.plant_copies != PLANT_COPIES else ""
    command += (
        f" --max-plant-fraction {args.max_plant_fraction:g}" if args.max_plant_fraction != MAX_PLANT_FRACTION else ""
    )
    command += f" --epo-components {epo_request}" if epo_request is not None else ""
    command += f" --epo-folds {args.epo_folds}" if moisture is not None and args.epo_folds != EPO_FOLDS else ""
    n_soils, n_mixtures = int(pool.pure.sum()), int((~pool.pure).sum())
    mixture_text = (
        f" and {n_mixtures} linear mixtures of them with up to {args.max_plant_fraction:.0%} green or dry "
        "plant spectra (USGS splib07), labelled with the soil's SOC"
        if plants is not None
        else ""
    )
    transform_text = {"reflectance": "reflectance R (0-1)", "absorbance": "absorbance log10(1/R), R clipped at 1e-4"}[
        chosen.transform
    ]
    epo_text = (
        f"EPO against soil moisture: absorbance a = log10(1/R) (R clipped at 1e-4) projected off {epo.components} "
        "direction(s) V of within-soil moisture variation about the training mean m, a' = a - (a - m) V V^T "
        "(epo_basis, epo_mean), and returned as reflectance 10^-a'; "
        if epo is not None
        else ""
    )
    version = "0.0.0-quick" if args.quick else "2.0.0" if plants is not None else "1.0.0"
    if epo is not None and not args.quick:
        version = "3.0.0" if plants is not None else "1.0.0+epo"
    metadata: dict[str, Any] = {
        "name": "soc",
        "version": version,
        "description": (
            f"Soil organic carbon of bare soil from EnMAP L2A reflectance: {chosen.name} trained on "
            f"{n_soils} laboratory vis-NIR spectra of real soils (LimeSoDa"
            f"{' and datsoilspc' if with_datsoilspc else ''}){mixture_text}, resampled to the 202 "
            "EnMAP default bands"
            + (
                f", with an external parameter orthogonalisation (EPO, {epo.components} component"
                f"{'s' if epo.components > 1 else ''}) fitted on dry and wet scans of 100 real soils (datEPO) "
                "that removes most of the effect of soil moisture"
                if epo is not None
                else ""
            )
            + ". Laboratory (sieved) soil: expect larger errors on field surfaces (roughness, residue, "
            "green vegetation, moisture) than the cross-validation shows."
        ),
        "property": "soc",
        "long_name": "soil organic carbon",
        "unit": "g/kg",
        "sensor": "enmap",
        "band_wavelengths_nm": [round(float(c), 3) for c in centres],
        "band_fwhm_nm": [round(float(f), 4) for f in fwhm],
        "enmap_bands": list(ENMAP_DEFAULT_BANDS),
        "input": "bottom-of-atmosphere reflectance, 0-1, at EnMAP L2A bands",
        "architecture": {
            "type": "spectral_regressor",
            "hidden": list(chosen.hidden),
            "n_outputs": 1,
            "transform": chosen.transform,
            "snv": chosen.snv,
            "epo_components": 0 if epo is None else epo.components,
        },
        "preprocessing": (
            "Lab reflectance (LimeSoDa: percent / 100) resampled to the 202 EnMAP default bands "
            "(generic L2A centres and FWHM, eospec.sensors.enmap()) with Gaussian spectral "
            "responses (eospec.sensors.gaussian_srf_matrix); spectra that start above 397 nm "
            "(UL.120, SL.125: 420 nm) are extended with their first value so that band 1 "
            "(418.2 nm) is resampled from its full response (no band dropped). "
            + (
                f"Each training soil also enters as {args.plant_copies} linear mixtures "
                f"(1 - f) R_soil + f R_plant, f uniform in (0, {args.max_plant_fraction:g}], with a green "
                "or dry USGS plant spectrum of the soil's own fold (plant_mixtures). "
                if plants is not None
                else ""
            )
            + "In the model: "
            f"{epo_text}{transform_text}; {'SNV per spectrum (ddof=1); ' if chosen.snv else ''}"
            "per-band standardisation with the training mean and standard deviation "
            "(input_mean, input_scale); "
            + (
                "PLSR coefficients as one linear layer."
                if chosen.kind == "plsr"
                else "ridge coefficients as one linear layer."
                if chosen.kind == "ridge"
                else f"MLP {'-'.join(map(str, [202, *chosen.hidden, 1]))} with ReLU, trained with AdamW "
                f"on MSE{' and EnMAP-like Gaussian noise on the inputs' if settings.noise else ''}; "
                "the target standardisation is folded into the output layer."
            )
        ),
        "valid_range": [0.0, 150.0],
        "valid_range_note": (
            f"g/kg; training SOC spans {pool.soc.min():.1f}-{training_max:.1f} g/kg. 150 g/kg is "
            "about the upper limit of mineral soils; predictions outside are flagged by mapping."
        ),
        "training_data": [s.info for s in sets]
        + (
            [
                {
                    "name": "USGS Spectral Library Version 7, AVIRIS-1995 convolution: plant spectra",
                    "n": len(plants.names),
                    "target": "none (mixed into the soils; a mixture keeps its soil's SOC)",
                    "spectra": "lab and field reflectance of leaves, canopies, grass and dry plant matter, 0-1",
                    "licence": "public domain (U.S. Geological Survey)",
                    "source": USGS_CITATION,
                }
            ]
            if plants is not None
            else []
        )
        + (
            [
                {
                    "name": "datEPO (Minasny et al. 2011): 100 Geeves soils scanned air-dry, wet and re-dried",
                    "n": int(moisture.soc.size),
                    "target": "none in training (the EPO directions come from within-soil scan differences); "
                    "SOC only to choose g",
                    "spectra": "lab vis-NIR absorbance log10(1/R), 350-2500 nm, three moisture states",
                    "licence": "MIT",
                    "source": DATEPO_CITATION,
                }
            ]
            if moisture is not None and epo is not None
            else []
        ),
        "plant_mixtures": (
            {
                "copies": args.plant_copies,
                "max_fraction": args.max_plant_fraction,
                "n_mixtures": n_mixtures,
                "model": "linear: (1 - f) R_soil + f R_plant, f uniform in (0, max_fraction], SOC of the soil",
                "plants": (
                    f"{int(plants.green.sum())} green (NDVI >= {GREEN_NDVI}) and {int((~plants.green).sum())} "
                    f"dry (NDVI < {DRY_NDVI}) spectra of {USGS_AV95.name}, names matching "
                    f"'{PLANT_NAMES.pattern}' and not '{NOT_PLANTS.pattern}', measured in >= 70 % "
                    "of the channels; green or dry with equal odds"
                ),
                "folds": (
                    "each plant is assigned to one of the 9 CV folds (seeded, stratified green/dry); a "
                    "soil is mixed only with plants of its own fold, so a test fold's mixtures hold "
                    "plants never seen in training, and a soil and its mixtures are on one side of "
                    "every split (outer and inner folds, MLP early-stopping split by soil)"
                ),
                "plant_names": plants.names,
            }
            if plants is not None
            else None
        ),
        "epo": (
            None
            if epo_record is None
            else {
                **epo_record,
                "method": (
                    "external parameter orthogonalisation (Roger et al. 2003, Chemometr. Intell. Lab. Syst. "
                    "66, 191-204; for soil moisture Minasny et al. 2011, Geoderma 167-168, 118-124) in "
                    "absorbance: V = the g leading right singular vectors of the datEPO scans' deviations "
                    "from their soil's mean scan (chemotools ExternalParameterOrthogonalization with "
                    "sample_ids); m = the mean absorbance of the training spectra"
                ),
                "study_scheme": (
                    "for each fold of the datEPO soils: the chosen candidate trained on the training pool "
                    "without the datsoilspc copies of the fold's soils (and their mixtures), V from the other "
                    "folds' scans only; metrics of the fold's three scans, pooled (RMSE and bias in g/kg); "
                    "'all' pools the three scans"
                ),
                "without_epo_cross_validation": {
                    k: selected[k] for k in ("rmse", "r2", "rpiq", "ccc", "bias", "n", "rmse_all")
                },
            }
        ),
        "excluded_data": {f"LimeSoDa {k}": v for k, v in LIMESODA_EXCLUDED.items()},
        "soc_conversion": (
            "SOC g/kg = SOC % x 10; SOM % (UL.120, SL.125) to SOC % with the van Bemmelen factor "
            f"1/{VAN_BEMMELEN}; datsoilspc total carbon (g/100 g, no inorganic C) taken as SOC."
        ),
        "licence": "CC BY-SA 4.0",
        "licence_note": (
            "The weights are derived from LimeSoDa (CC BY-SA 4.0) and are shared under the same "
            "licence; cite Schmidinger et al. (2025) and Geeves et al. (1994)"
            + (", and Kokaly et al. (2017) for the USGS plant spectra (public domain)." if plants is not None else ".")
        ),
        "cross_validation": {
            **{k: best[k] for k in ("rmse", "r2", "rpiq", "ccc", "bias", "n")},
            "rmse_enmap_noise": best["rmse_enmap_noise"],
            "rmse_all": best["rmse_all"],
            **({"mixtures": best["mixtures"]} if "mixtures" in best else {}),
            "folds": N_FOLDS,
            "scheme": (
                "9-fold CV on pooled data: LimeSoDa folds 1-9 of each dataset (fold 10 held out) "
                "and 9 random folds of datsoilspc (seeded); fold k of all datasets is predicted by "
                "a model trained on the other 8 folds; hyperparameters tuned inside each training "
                "set (inner CV on its folds for PLSR components and ridge penalty, 10 % "
                "validation split with early stopping for MLP epochs). RMSE and bias in g/kg; "
                "RPIQ = IQR / RMSE; CCC = Lin's concordance correlation coefficient; "
                "rmse_enmap_noise: the same models on test spectra with EnMAP-like noise. The "
                "top-level metrics and per_dataset are those of the pure lab soils; mixtures: the "
                "test folds' soil-plant mixtures (plants of the test fold, never seen in training); "
                "rmse_all: both together."
            ),
            "selection": (
                "lowest pooled CV RMSE over all candidates (rmse_all: the pure soils and their mixtures), "
                "without EPO; with an EPO step (epo) the figures here are those of the chosen candidate "
                "with it, cross-validated again (the EPO directions are fixed, m is each fold's training mean)"
            ),
            "per_dataset": per_dataset,
        },
        "candidates": table,
        "hyperparameters": fitted.hyper,
        "held_out": "LimeSoDa fold 10 of each dataset",
        "held_out_samples": {f"LimeSoDa {s.name}": s.rows[m].tolist() for s, m in held},
        "held_out_samples_note": (
            "0-based row positions in LimeSoDa.load_dataset(name)['Dataset'] (fold 10 of the "
            "dataset's 'Folds'); never used for training or selection"
        ),
        "held_out_test": held_test,
        "noise_model": (
            f"additive Gaussian, sigma = {NOISE_REFERENCE_REFLECTANCE} / SNR reflectance, SNR "
            f"{SNR_VNIR:g} (VNIR bands 1-91) and {SNR_SWIR:g} (SWIR), after the EnMAP mission "
            "requirements (Guanter et al. 2015, Remote Sens. 7, 8830)"
        ),
        "software": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scikit-learn": __import__("sklearn").__version__,
            "LimeSoDa": _version("LimeSoDa"),
        },
        "recipe": command,
        "weights": "soc.safetensors",
    }
    try:
        deviation = verify(fitted, chosen, pool.reflectance, metadata, weights)
        metadata["conversion_check"] = {
            "max_abs_difference_g_per_kg": deviation,
            "note": "saved weights (loaded as the registry loads them) vs the fitted estimator, training spectra",
        }
        (staging / "soc.json").write_text(json.dumps(metadata, indent=1) + "\n")
        size = weights.stat().st_size
        for name in ("soc.safetensors", "soc.json"):
            os.replace(staging / name, args.out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "wrote %s (%.0f KB) and soc.json in %.0f s",
        args.out_dir / "soc.safetensors",
        size / 1024,
        time.perf_counter() - started,
    )
    return 0


def _median_epochs(result: dict[str, Any]) -> int:
    """The median of the epochs an MLP candidate's CV folds stopped at (its ``hyperparameters_per_fold``)."""
    return int(np.median([h["epochs"] for h in result["hyperparameters_per_fold"]]))


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())

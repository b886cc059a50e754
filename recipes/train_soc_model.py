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

Fold 10 of every LimeSoDa dataset (the datasets' own cross-validation folds) is held out: never
used for training or model selection, it is reserved for ``eospec simulate``'s end-to-end
accuracy test. Model selection is a 9-fold cross-validation on LimeSoDa folds 1-9 (and 9 random
folds of datsoilspc, seeded): fold k of every dataset is predicted together by a model trained
on the other 8 folds of all datasets. Hyperparameters (PLSR components, ridge penalty, MLP
epochs) are chosen by an inner cross-validation (or inner validation split) inside each
training set. The candidate with the lowest pooled cross-validated RMSE is refitted on all
folds 1-9 (plus all of datsoilspc), converted to a :class:`eospec.models.SpectralRegressor`,
checked against the fitted estimator and written to ``<out-dir>/soc.safetensors`` and ``soc.json``.

Usage::

    python recipes/train_soc_model.py                          # the bundled model (1-2 min, 2 cores)
    python recipes/train_soc_model.py --quick --out-dir /tmp/soc  # CI-size run (under 30 s)
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import sys
import time
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
    datsoilspc = shared_data_dir() / "soil" / "wadoux_soilspec" / "datsoilspc.csv"
    if datsoilspc.is_file():
        sets.append(load_datsoilspc(datsoilspc, seed))
    else:
        log.warning("%s not found: LimeSoDa only", datsoilspc)
    return sets


def enmap_noise_sigma() -> FloatArray:
    """Standard deviation (reflectance 0-1) of the EnMAP-like noise per default band, shape (202,)."""
    vnir = np.asarray(ENMAP_DEFAULT_BANDS) <= 91
    return np.where(vnir, NOISE_REFERENCE_REFLECTANCE / SNR_VNIR, NOISE_REFERENCE_REFLECTANCE / SNR_SWIR)


# --------------------------------------------------------------------------------------------
# Features and metrics
# --------------------------------------------------------------------------------------------


def features(reflectance: FloatArray, transform: str, snv: bool) -> FloatArray:
    """The transform and SNV of :class:`SpectralRegressor`, in float64 numpy.

    Args:
        reflectance: shape (N, B), reflectance 0-1.
        transform: ``"reflectance"`` or ``"absorbance"`` (log10(1/R), R clipped at 1e-4).
        snv: standard normal variate per spectrum (standard deviation with ddof=1, as torch).

    Returns:
        float64 array of shape (N, B).
    """
    x = np.asarray(reflectance, dtype=np.float64)
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


def _linear_module(
    candidate: Candidate, mean: FloatArray, scale: FloatArray, weight: FloatArray, bias: float
) -> SpectralRegressor:
    module = SpectralRegressor(mean.size, (), 1, candidate.transform, candidate.snv)  # type: ignore[arg-type]
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
) -> Fitted:
    """PLSR (sklearn ``PLSRegression``), components chosen by inner CV on ``folds``.

    The inner CV predicts ``tune_reflectance`` (the spectra with EnMAP-like noise, or the
    spectra themselves), so that the number of components suits the sensor's noise.
    """
    from sklearn.cross_decomposition import PLSRegression

    x = features(reflectance, candidate.transform, candidate.snv)
    x_tune = features(tune_reflectance, candidate.transform, candidate.snv)
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
        xs = (features(r, candidate.transform, candidate.snv) - mean) / scale
        return np.asarray(pls.predict(xs), dtype=np.float64).ravel()

    module = _linear_module(candidate, mean, scale, weight, bias)
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
) -> Fitted:
    """Ridge regression on standardised features, penalty chosen by inner CV on ``folds``."""
    x = features(reflectance, candidate.transform, candidate.snv)
    x_tune = features(tune_reflectance, candidate.transform, candidate.snv)
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
        xs = (features(r, candidate.transform, candidate.snv) - mean) / scale
        return xs @ weight + intercept

    module = _linear_module(candidate, mean, scale, weight, intercept)
    return Fitted(predict, module, {"alpha_over_n": float(relative[best])})


def train_mlp(
    candidate: Candidate,
    reflectance: FloatArray,
    soc: FloatArray,
    settings: Settings,
    seed: int,
    tune_reflectance: FloatArray,
    epochs: int | None = None,
) -> tuple[SpectralRegressor, int, Callable[[FloatArray], FloatArray]]:
    """Train a :class:`SpectralRegressor` MLP with AdamW on MSE and EnMAP-like input noise.

    Without ``epochs``, 10 % of the spectra (random, seeded; taken from ``tune_reflectance``,
    i.e. with EnMAP-like noise when enabled) are kept for validation and training stops
    ``patience`` epochs after the best validation RMSE (that state is kept); with ``epochs``,
    all spectra train for that many epochs.

    Returns:
        The module (in eval mode, SOC in g/kg out; the target standardisation folded into its
        output layer), the number of epochs it trained and the prediction function of the
        module as trained (before that folding).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = features(reflectance, candidate.transform, candidate.snv)
    mean, scale = _standardise(x)
    module = SpectralRegressor(x.shape[1], candidate.hidden, 1, candidate.transform, candidate.snv)  # type: ignore[arg-type]
    with torch.no_grad():
        module.input_mean.copy_(torch.from_numpy(mean))
        module.input_scale.copy_(torch.from_numpy(scale))
    y_mean, y_scale = float(soc.mean()), float(soc.std())
    index = rng.permutation(soc.size)
    if epochs is None:
        n_val = max(1, soc.size // 10)
        val, train = index[:n_val], index[n_val:]
    else:
        val, train = index[:0], index
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
        return _module_predict(trained, r) * y_scale + y_mean

    last = module.layers[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():  # fold the target standardisation into the output layer
        last.weight.mul_(y_scale)
        last.bias.mul_(y_scale).add_(y_mean)
    return module.eval(), best_epoch, predict


def _module_predict(module: SpectralRegressor, reflectance: FloatArray) -> FloatArray:
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
    epochs: int | None = None,
) -> Fitted:
    """MLP trained with early stopping, or for a fixed number of epochs."""
    module, trained, predict = train_mlp(candidate, reflectance, soc, settings, seed, tune_reflectance, epochs)
    return Fitted(predict, module, {"epochs": trained})


FITTERS = {"plsr": fit_plsr, "ridge": fit_ridge, "mlp": fit_mlp}


# --------------------------------------------------------------------------------------------
# Cross-validation, selection, export
# --------------------------------------------------------------------------------------------


@dataclass
class Pool:
    """All training spectra, concatenated."""

    reflectance: FloatArray
    soc: FloatArray
    folds: npt.NDArray[np.int64]
    dataset: npt.NDArray[np.str_]


def cross_validate(
    candidate: Candidate, pool: Pool, settings: Settings, seed: int, noisy: FloatArray
) -> dict[str, Any]:
    """Out-of-fold predictions of a candidate over the 9 pooled folds and their metrics."""
    oof = np.empty(pool.soc.size)
    oof_noisy = np.empty(pool.soc.size)
    hypers = []
    for k in range(1, N_FOLDS + 1):
        train, test = pool.folds != k, pool.folds == k
        tune = noisy[train] if settings.noise else pool.reflectance[train]
        fitted = FITTERS[candidate.kind](
            candidate, pool.reflectance[train], pool.soc[train], pool.folds[train], settings, seed + k, tune
        )
        oof[test] = fitted.predict(pool.reflectance[test])
        oof_noisy[test] = fitted.predict(noisy[test])
        hypers.append(fitted.hyper)
    result: dict[str, Any] = {
        "name": candidate.name,
        "model": candidate.kind,
        "hidden": list(candidate.hidden),
        "transform": candidate.transform,
        "snv": candidate.snv,
        **metrics(pool.soc, oof),
        "rmse_enmap_noise": metrics(pool.soc, oof_noisy)["rmse"],
    }
    result["per_dataset"] = {
        name: metrics(pool.soc[pool.dataset == name], oof[pool.dataset == name])
        for name in dict.fromkeys(pool.dataset.tolist())
    }
    result["hyperparameters_per_fold"] = hypers
    return result


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
    args = parser.parse_args(argv)
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

    train_sets = [(s, s.folds != HELD_OUT_FOLD) for s in sets]
    pool = Pool(
        np.concatenate([s.reflectance[m] for s, m in train_sets]),
        np.concatenate([s.soc[m] for s, m in train_sets]),
        np.concatenate([s.folds[m] for s, m in train_sets]),
        np.concatenate([np.full(int(m.sum()), s.name) for s, m in train_sets]),
    )
    noise_rng = np.random.default_rng(args.seed + 1000)
    noisy = pool.reflectance + noise_rng.normal(size=pool.reflectance.shape) * enmap_noise_sigma()

    table = []
    for candidate in candidates(args.quick):
        t0 = time.perf_counter()
        result = cross_validate(candidate, pool, settings, args.seed, noisy)
        result["seconds"] = round(time.perf_counter() - t0, 1)
        table.append(result)
        log.info(
            "%-28s RMSE %6.2f  R2 %5.2f  RPIQ %5.2f  CCC %5.2f  bias %6.2f  (EnMAP noise: RMSE %6.2f)  %5.1f s",
            candidate.name,
            result["rmse"],
            result["r2"],
            result["rpiq"],
            result["ccc"],
            result["bias"],
            result["rmse_enmap_noise"],
            result["seconds"],
        )

    best = min(table, key=lambda row: row["rmse"])
    chosen = next(c for c in candidates(args.quick) if c.name == best["name"])
    log.info("chosen: %s (pooled CV RMSE %.2f g/kg)", chosen.name, best["rmse"])
    tune = noisy if settings.noise else pool.reflectance
    if chosen.kind == "mlp":
        epochs = int(np.median([h["epochs"] for h in best["hyperparameters_per_fold"]]))
        fitted = fit_mlp(chosen, pool.reflectance, pool.soc, pool.folds, settings, args.seed, tune, epochs)
    else:
        fitted = FITTERS[chosen.kind](chosen, pool.reflectance, pool.soc, pool.folds, settings, args.seed, tune)
    held = [(s, s.folds == HELD_OUT_FOLD) for s in sets if s.name != "datsoilspc"]
    held_r = np.concatenate([s.reflectance[m] for s, m in held])
    held_y = np.concatenate([s.soc[m] for s, m in held])
    held_pred = _module_predict(fitted.module, held_r)
    held_test = {"pooled": metrics(held_y, held_pred)}
    start = 0
    for s, m in held:
        n = int(m.sum())
        held_test[f"LimeSoDa {s.name}"] = metrics(held_y[start : start + n], held_pred[start : start + n])
        start += n
    log.info("held-out fold 10 (LimeSoDa), reported only: %s", held_test["pooled"])

    args.out_dir.mkdir(parents=True, exist_ok=True)
    weights = args.out_dir / "soc.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in fitted.module.state_dict().items()}, weights)
    centres, fwhm = enmap_default_bands()
    training_max = float(pool.soc.max())
    per_dataset = {(f"LimeSoDa {k}" if k != "datsoilspc" else k): v for k, v in best["per_dataset"].items()}
    command = "python recipes/train_soc_model.py" + (f" --seed {args.seed}" if args.seed else "")
    command += " --quick" if args.quick else ""
    command += " --no-noise" if args.no_noise else ""
    transform_text = {"reflectance": "reflectance R (0-1)", "absorbance": "absorbance log10(1/R), R clipped at 1e-4"}[
        chosen.transform
    ]
    metadata: dict[str, Any] = {
        "name": "soc",
        "version": "1.0.0" if not args.quick else "0.0.0-quick",
        "description": (
            f"Soil organic carbon of bare soil from EnMAP L2A reflectance: {chosen.name} trained on "
            f"{pool.soc.size} laboratory vis-NIR spectra of real soils (LimeSoDa"
            f"{' and datsoilspc' if with_datsoilspc else ''}) resampled to the 202 EnMAP default "
            "bands. Laboratory (dry, sieved) soil: expect larger errors on field surfaces "
            "(moisture, roughness, residue, green vegetation) than the cross-validation shows."
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
        },
        "preprocessing": (
            "Lab reflectance (LimeSoDa: percent / 100) resampled to the 202 EnMAP default bands "
            "(generic L2A centres and FWHM, eospec.sensors.enmap()) with Gaussian spectral "
            "responses (eospec.sensors.gaussian_srf_matrix); spectra that start above 397 nm "
            "(UL.120, SL.125: 420 nm) are extended with their first value so that band 1 "
            "(418.2 nm) is resampled from its full response (no band dropped). In the model: "
            f"{transform_text}; {'SNV per spectrum (ddof=1); ' if chosen.snv else ''}"
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
        "training_data": [s.info for s in sets],
        "excluded_data": {f"LimeSoDa {k}": v for k, v in LIMESODA_EXCLUDED.items()},
        "soc_conversion": (
            "SOC g/kg = SOC % x 10; SOM % (UL.120, SL.125) to SOC % with the van Bemmelen factor "
            f"1/{VAN_BEMMELEN}; datsoilspc total carbon (g/100 g, no inorganic C) taken as SOC."
        ),
        "licence": "CC BY-SA 4.0",
        "licence_note": (
            "The weights are derived from LimeSoDa (CC BY-SA 4.0) and are shared under the same "
            "licence; cite Schmidinger et al. (2025) and Geeves et al. (1994)."
        ),
        "cross_validation": {
            **{k: best[k] for k in ("rmse", "r2", "rpiq", "ccc", "bias", "n")},
            "rmse_enmap_noise": best["rmse_enmap_noise"],
            "folds": N_FOLDS,
            "scheme": (
                "9-fold CV on pooled data: LimeSoDa folds 1-9 of each dataset (fold 10 held out) "
                "and 9 random folds of datsoilspc (seeded); fold k of all datasets is predicted by "
                "a model trained on the other 8 folds; hyperparameters tuned inside each training "
                "set (inner CV on its folds for PLSR components and ridge penalty, 10 % "
                "validation split with early stopping for MLP epochs). RMSE and bias in g/kg; "
                "RPIQ = IQR / RMSE; CCC = Lin's concordance correlation coefficient; "
                "rmse_enmap_noise: the same models on test spectra with EnMAP-like noise."
            ),
            "selection": "lowest pooled CV RMSE over all candidates",
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
    except AssertionError:
        weights.unlink()
        raise
    metadata["conversion_check"] = {
        "max_abs_difference_g_per_kg": deviation,
        "note": "saved weights (loaded as the registry loads them) vs the fitted estimator, training spectra",
    }
    (args.out_dir / "soc.json").write_text(json.dumps(metadata, indent=1) + "\n")
    log.info(
        "wrote %s (%.0f KB) and soc.json in %.0f s",
        weights,
        weights.stat().st_size / 1024,
        time.perf_counter() - started,
    )
    return 0


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())

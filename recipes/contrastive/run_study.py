#!/usr/bin/env python
"""Run the contrastive-regression studies of Dhaini et al. (2024) with eospec's task and augmentations.

Dhaini, Berar, Honeine and Van Exem, "Contrastive learning for regression on hyperspectral data",
ICASSP 2024 (arXiv:2403.17014). A YAML config (``recipes/contrastive/synthetic.yaml`` or
``soil.yaml``) names the data, the :class:`eospec.trainers.ContrastiveRegressionTask` arguments,
the seeds and the variants (the baseline without contrastive loss, the contrastive loss without
augmentation, and one variant per augmentation). Every variant is trained once per seed (and, for
the soil study, once per cross-validation fold) and scored on held-out data; the table reports
mean +/- standard deviation over seeds of R2 (averaged over the targets, as scikit-learn's
``r2_score``) and MAE. ``--greedy`` adds the combination study (the paper's Table 3): starting from
the single augmentation with the best mean *validation* R2, add the augmentation that raises it most,
until none does; test scores are reported, never used for the choice.

Usage::

    python recipes/contrastive/run_study.py --config recipes/contrastive/synthetic.yaml --out synthetic.json
    python recipes/contrastive/run_study.py --config recipes/contrastive/synthetic.yaml --quick   # CI size
    python recipes/contrastive/run_study.py --config recipes/contrastive/soil.yaml --variants baseline,spectral_shift
    python recipes/contrastive/run_study.py --config recipes/contrastive/synthetic.yaml --set data.n_train=50 \
        --set data.n_val=50 --epochs 1000 --out scarce.json --resume   # another setting; reuse finished variants
    python recipes/contrastive/run_study.py --config recipes/contrastive/synthetic.yaml --set data.snr_db=10 \
        --chosen grid.json --epochs 300 --out longer.json   # the settings a --grid study chose, trained longer
    python recipes/contrastive/run_study.py --config recipes/contrastive/synthetic.yaml --grid pretrain_epochs=100 \
        --grid freeze_extractor=true,false --out two_stage.json   # contrastive pretraining, then regression
    python recipes/contrastive/run_study.py --config recipes/contrastive/synthetic.yaml --perturbations all \
        --out robust.json   # also score every model on the config's perturbed validation and test spectra
    python recipes/contrastive/run_study.py --config recipes/contrastive/soil_nirsoil.yaml \
        --variants baseline,plsr_reference   # another soil table (random folds), against the PLSR reference

``--perturbations`` scores every trained model a second time on perturbed copies of its validation
and test spectra (the config's ``perturbations``: a wavelength calibration shift ``shift_nm`` and/or
re-illumination under new Hapke angles ``incidence_deg`` / ``emergence_deg``); ``--tables`` then
adds one comparison per perturbation.

A soil config names a LimeSoDa dataset (``data.limesoda``, with its own folds) or a soil table of
:mod:`eospec.libraries` (``data.table`` and ``data.path``, relative to the shared data folder, with
``data.n_folds`` random folds drawn with ``data.fold_seed``). ``data.n_train`` trains on a random
subset of that many soils of the training folds (label-scarce; drawn with ``data.subset_seed``, the
same for every run seed). ``data.inputs`` chooses what the network sees: ``reflectance`` (the
default), ``absorbance``, ``absorbance_snv`` (follow-up 12) or ``absorbance_sg1`` (follow-up 13).
A variant ``{model: plsr}`` is the chemometric reference: PLSR instead of a network, on the same
splits.

``train.max_epochs`` counts the regression epochs: a variant with ``pretrain_epochs`` P trains for
P + ``max_epochs`` epochs in all, so its regression stage is as long as the baseline's training.

The JSON written by ``--out`` is rewritten after every variant (so an interrupted study keeps what
it finished, and ``--resume`` skips those variants), and records the wall-clock and CPU time of
each variant and of the whole study, and the load average of the machine at its start and end.
An existing ``--out`` is replaced only with ``--overwrite``. ``--resume`` keeps the file's finished
variants that the run does not train again (same data, seeds, folds and training), so a run with a
subset of the variants adds to the file; it refuses, unless ``--overwrite`` is given, to replace or
drop a finished variant run with other settings. A ``--resume`` that trains nothing leaves a
finished file as it is, its run metadata included.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import eospec  # noqa: E402, F401  (installs the torchvision fallback before lightning is imported)

if TYPE_CHECKING:
    from eospec.libraries import SpectralLibrary

log = logging.getLogger("run_study")


@dataclass
class Split:
    """One training problem: spectra (N, B) float32 and targets (N, s) float32 per part."""

    name: str
    seed: int
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    wavelengths_nm: np.ndarray


def r2_mae(truth: np.ndarray, prediction: np.ndarray) -> tuple[float, float]:
    """R2 averaged uniformly over the targets (scikit-learn's ``r2_score``) and the MAE."""
    truth = truth.reshape(len(truth), -1).astype(np.float64)
    prediction = prediction.reshape(len(prediction), -1).astype(np.float64)
    residual = ((truth - prediction) ** 2).sum(axis=0)
    total = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1.0 - residual / total)), float(np.abs(truth - prediction).mean())


#: Hapke geometry (incidence, emergence; deg) at which the spectra are taken to be observed, as
#: :class:`eospec.augment.HapkeScattering` assumes by default.
REFERENCE_ANGLES_DEG = (30.0, 30.0)
PERTURBATION_KEYS = ("shift_nm", "incidence_deg", "emergence_deg")
# Data settings added after some results were recorded, with the value those results used, so that
# --resume still recognises the older records.
DATA_DEFAULTS: dict[str, Any] = {"scale": 1.0, "n_train": None, "subset_seed": 0, "inputs": "reflectance"}


def check_perturbation(perturbation: dict[str, Any]) -> None:
    """Raise ``ValueError`` if a perturbation has an unknown key or only one of the two Hapke angles."""
    unknown = sorted(set(perturbation) - set(PERTURBATION_KEYS))
    if unknown:
        raise ValueError(f"perturbation keys {unknown} are unknown: use some of {list(PERTURBATION_KEYS)}")
    if ("incidence_deg" in perturbation) != ("emergence_deg" in perturbation):
        raise ValueError(f"perturbation {perturbation} must give both incidence_deg and emergence_deg, or neither")


def perturb(spectra: np.ndarray, wavelengths_nm: np.ndarray, perturbation: dict[str, Any]) -> np.ndarray:
    """A fixed physical perturbation of spectra: the test-time counterpart of two augmentations.

    ``shift_nm``: every spectrum resampled at lambda - shift (a wavelength calibration error,
    :func:`eospec.augment.shift_spectra`, Eq. 1 of Dhaini et al. 2024). ``incidence_deg`` and
    ``emergence_deg`` (both, in [0, 89]): reflectance inverted to single-scattering albedo at the
    reference geometry :data:`REFERENCE_ANGLES_DEG` and recomputed at the new one (the Hapke model,
    Eq. 3-4, :func:`eospec.augment.hapke_albedo` and :func:`eospec.augment.hapke_reflectance`). The
    shift is applied first.

    Args:
        spectra: float32 array (N, B), reflectance.
        wavelengths_nm: band centres in nm (B,), increasing.
        perturbation: ``{"shift_nm": ..., "incidence_deg": ..., "emergence_deg": ...}``, any of them.

    Returns:
        Float32 array (N, B).

    Raises:
        ValueError: If a key is unknown or only one of the two angles is given.
    """
    import torch

    from eospec.augment import hapke_albedo, hapke_reflectance, shift_spectra

    check_perturbation(perturbation)
    x = torch.from_numpy(np.ascontiguousarray(spectra, dtype=np.float32))
    if "shift_nm" in perturbation:
        x = shift_spectra(x, wavelengths_nm, float(perturbation["shift_nm"]))
    if "incidence_deg" in perturbation:
        albedo = hapke_albedo(x, *REFERENCE_ANGLES_DEG)
        x = hapke_reflectance(albedo, float(perturbation["incidence_deg"]), float(perturbation["emergence_deg"]))
    return x.numpy().astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def synthetic_image(data: dict[str, Any], endmembers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The post-nonlinear image of a synthetic config's ``data``: spectra (N, B) and abundances (N, R)."""
    from eospec.synthetic import make_mixtures

    return make_mixtures(
        endmembers,
        n_pixels=int(data["n_pixels"]),
        snr_db=data["snr_db"],
        seed=int(data.get("data_seed", 0)),
        concentration=data.get("concentration", 1.0),
        scale=float(data.get("scale", 1.0)),
    )


def synthetic_parts(data: dict[str, Any], n_pixels: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The train / validation / test pixel indices of run seed ``seed`` (``n_train``, ``n_val``, the rest)."""
    n_train, n_val = int(data["n_train"]), int(data["n_val"])
    order = np.random.default_rng(seed).permutation(n_pixels)
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def synthetic_splits(data: dict[str, Any], seeds: Sequence[int]) -> Iterator[Split]:
    """One 100 x 100 post-nonlinear image (fixed ``data_seed``, optional ``scale``), split at random per run seed.

    Raises:
        ValueError: If ``data.inputs`` asks for anything but reflectance (soil configs only).
    """
    from eospec.synthetic import SYNTHETIC_ENDMEMBERS, usgs_endmembers

    inputs = data.get("inputs", "reflectance")
    if inputs != "reflectance":
        raise ValueError(
            f"data.inputs {inputs!r} is read by soil configs only: a synthetic study trains on the mixtures' "
            "reflectance; remove data.inputs"
        )
    wavelengths, endmembers = usgs_endmembers(data.get("library"), data.get("endmembers") or SYNTHETIC_ENDMEMBERS)
    spectra, abundances = synthetic_image(data, endmembers)
    for seed in seeds:
        train, val, test = ((spectra[p], abundances[p]) for p in synthetic_parts(data, len(spectra), seed))
        yield Split("synthetic", seed, train, val, test, wavelengths)


#: Soil tables outside LimeSoDa that a soil config may name as ``data.table`` (reader in
#: :mod:`eospec.libraries`); ``data.path`` is relative to the shared data folder.
SOIL_TABLES = {"datsoilspc": "read_datsoilspc", "nirsoil": "read_nirsoil"}


def read_soil_library(data: dict[str, Any]) -> SpectralLibrary:
    """The soil library of a config: ``data.limesoda`` (a LimeSoDa dataset) or ``data.table`` + ``data.path``.

    Spectra are returned as reflectance (absorbance tables such as NIRsoil are converted, R = 10^-A)
    with only the property ``data.property``.

    Raises:
        ValueError: If the config names neither, an unknown table, or a path that does not exist.
    """
    import eospec.libraries as libraries
    from eospec.datasets.utils import shared_data_dir

    if "limesoda" in data:
        library = libraries.read_limesoda(str(data["limesoda"]))
    elif "table" in data:
        table = str(data["table"])
        if table not in SOIL_TABLES:
            raise ValueError(f"data.table {table!r} is unknown: use 'limesoda: NAME' or a table of {list(SOIL_TABLES)}")
        path = Path(str(data.get("path", "")))
        if not path.is_absolute():
            root = shared_data_dir()
            if root is None:
                raise ValueError(f"the shared data folder was not found for {path}: set EOSPEC_SHARED_DATA")
            path = root / path
        if not path.is_file():
            raise ValueError(f"data.path {str(path)!r} of table {table!r} does not exist: give the table's CSV")
        library = getattr(libraries, SOIL_TABLES[table])(path)
    else:
        raise ValueError(
            f"a soil config needs data.limesoda (a LimeSoDa dataset) or data.table (one of {list(SOIL_TABLES)})"
        )
    return library.select_properties(str(data["property"])).to_quantity("reflectance")


SOIL_INPUTS = ("reflectance", "absorbance", "absorbance_snv", "absorbance_sg1")

#: Savitzky-Golay filter of ``absorbance_sg1`` (follow-up 13, ours): 5-band windows (50 nm on the
#: 10 nm grids of the soil configs), quadratic polynomials, first derivative.
SG1_WINDOW_BANDS = 5
SG1_POLYORDER = 2


def soil_inputs(spectra: np.ndarray, inputs: str, wavelengths_nm: np.ndarray | None = None) -> np.ndarray:
    """The network's input representation of soil reflectance (``data.inputs``; follow-ups 12-13).

    Every option works spectrum by spectrum (nothing is fitted on the data), so it is applied once
    to all spectra before the split without leaking test information:

    * ``reflectance``: unchanged;
    * ``absorbance``: apparent absorbance log10(1/R), reflectance floored at 1e-4
      (:class:`~eospec.preprocessing.ReflectanceToAbsorbance`);
    * ``absorbance_snv``: absorbance, then the standard normal variate of each spectrum (Barnes,
      Dhanoa and Lister 1989, *Appl. Spectrosc.* 43(5):772-777;
      :class:`~eospec.preprocessing.StandardNormalVariate`), the input of eospec's bundled SOC model;
    * ``absorbance_sg1``: absorbance, then its first derivative per nm by a Savitzky-Golay filter
      (Savitzky and Golay 1964, *Anal. Chem.* 36(8):1627-1639;
      :class:`~eospec.preprocessing.SavitzkyGolay`, ``SG1_WINDOW_BANDS`` bands, order
      ``SG1_POLYORDER``), which removes additive baseline offsets; absorbance per nm.

    Args:
        spectra: reflectance (fraction 0-1), float array (N, B).
        inputs: one of ``SOIL_INPUTS``.
        wavelengths_nm: band centres in nm, evenly spaced, float array (B,); needed by
            ``absorbance_sg1`` only.

    Returns:
        float32 array (N, B).

    Raises:
        ValueError: If ``inputs`` is not one of ``SOIL_INPUTS``, or ``absorbance_sg1`` is asked
            without ``wavelengths_nm``, on fewer than ``SG1_WINDOW_BANDS`` bands or on an uneven grid.
    """
    from eospec.preprocessing import ReflectanceToAbsorbance, SavitzkyGolay, StandardNormalVariate

    if inputs not in SOIL_INPUTS:
        raise ValueError(f"data.inputs {inputs!r} is unknown: use one of {list(SOIL_INPUTS)}")
    if inputs == "absorbance_sg1" and wavelengths_nm is None:
        raise ValueError("data.inputs 'absorbance_sg1' needs the band centres: pass wavelengths_nm")
    values = np.asarray(spectra, dtype=np.float64)
    if inputs != "reflectance":
        values = ReflectanceToAbsorbance().fit_transform(values)
    if inputs == "absorbance_snv":
        values = StandardNormalVariate().fit_transform(values)
    if inputs == "absorbance_sg1":
        derivative = SavitzkyGolay(
            window_length=SG1_WINDOW_BANDS, polyorder=SG1_POLYORDER, deriv=1, wavelengths=wavelengths_nm, unit="nm"
        )
        values = derivative.fit_transform(values)
    return np.asarray(values, dtype=np.float32)


def random_folds(keep: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Folds 1..n_folds for the ``keep`` spectra of a table without its own folds (0 for the others).

    The kept spectra are shuffled with ``numpy.random.default_rng(seed)`` and dealt out in turn, so the
    fold sizes differ by at most one.
    """
    assigned = np.zeros(keep.shape, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(np.flatnonzero(keep))
    assigned[order] = np.arange(order.size) % n_folds + 1
    return assigned


def soil_splits(data: dict[str, Any], seeds: Sequence[int], folds: Sequence[int]) -> Iterator[Split]:
    """Soil spectra with the dataset's folds: fold k tests, fold k + 1 validates, the rest trains.

    LimeSoDa datasets bring their own folds. A table without folds (``data.table``) gets
    ``data.n_folds`` (default 10) random folds drawn with ``data.fold_seed`` (default 0) over the
    spectra that have the property, the same for every run seed.

    With ``data.n_train`` (the label-scarce setting of follow-up 7) only that many soils of the
    training folds train: a random subset drawn per fold with ``data.subset_seed`` (default 0),
    the same for every run seed, so that the run seeds vary the initialisation and the views only,
    as in the other soil studies. Validation and test folds are unchanged.

    ``data.inputs`` (see :func:`soil_inputs`) converts the reflectance before the split.

    Raises:
        ValueError: If a fold is not a fold of the data, ``data.n_train`` is below 2 or above the
            number of soils in the training folds, or ``data.inputs`` is unknown.
    """
    library = read_soil_library(data)
    start, stop, step = (float(v) for v in data["bands_nm"])
    centres = np.arange(start, stop + step / 2, step)
    library = library.resample(centres, np.full(centres.size, step))
    spectra = np.asarray(library.spectra, dtype=np.float32)
    target = library.props[str(data["property"])].to_numpy(dtype=np.float32)
    keep = np.isfinite(target) & np.isfinite(spectra).all(axis=1)
    inputs = str(data.get("inputs", "reflectance"))
    if inputs != "reflectance":
        spectra[keep] = soil_inputs(spectra[keep], inputs, centres)
    if library.folds is not None:
        assigned = np.asarray(library.folds)
    else:
        assigned = random_folds(keep, int(data.get("n_folds", 10)), int(data.get("fold_seed", 0)))
    all_folds = sorted(int(f) for f in np.unique(assigned[keep]))
    unknown = [f for f in folds if int(f) not in all_folds]
    if unknown:
        raise ValueError(f"folds {unknown} are not folds of the data: use some of {all_folds}")
    n_train = data.get("n_train")
    subsets = {}
    for fold in folds:
        validation = all_folds[(all_folds.index(int(fold)) + 1) % len(all_folds)]
        training = np.flatnonzero(keep & (assigned != fold) & (assigned != validation))
        if n_train is not None:
            if not 2 <= int(n_train) <= training.size:
                raise ValueError(
                    f"data.n_train {n_train} is not possible with fold {fold}: use 2 to {training.size} training soils"
                )
            rng = np.random.default_rng([int(data.get("subset_seed", 0)), int(fold)])
            training = np.sort(rng.choice(training, size=int(n_train), replace=False))
        subsets[fold] = (
            training,
            np.flatnonzero(keep & (assigned == validation)),
            np.flatnonzero(keep & (assigned == fold)),
        )
    for seed in seeds:
        for fold in folds:
            train, val, test = ((spectra[p], target[p, None]) for p in subsets[fold])
            yield Split(f"fold{fold}", seed, train, val, test, centres)


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------


def fit_task(split: Split, task_kwargs: dict[str, Any], train: dict[str, Any]) -> tuple[Any, float, int]:
    """Train a :class:`~eospec.trainers.ContrastiveRegressionTask` on one split.

    ``train["max_epochs"]`` counts the regression epochs; a two-stage task trains its
    ``pretrain_epochs`` on top. Returns the task (in evaluation mode), the training time in seconds
    and the number of epochs trained.
    """
    import lightning.pytorch as pl

    from eospec.trainers import ContrastiveRegressionTask, SpectraDataModule

    pl.seed_everything(split.seed, verbose=False)
    data = SpectraDataModule(split.train, val=split.val, test=split.test, batch_size=int(train["batch_size"]))
    kwargs = {
        "in_bands": split.train[0].shape[1],
        "num_outputs": split.train[1].shape[1],
        "wavelengths_nm": split.wavelengths_nm.tolist(),
    } | task_kwargs
    task = ContrastiveRegressionTask(**kwargs)
    epochs = int(train["max_epochs"]) + int(kwargs.get("pretrain_epochs", 0))
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,  # the validation scores are computed once, after training
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    if epochs > 0:
        trainer.fit(task, data)
    seconds = time.perf_counter() - start
    task.eval()
    return task, seconds, epochs


def train_one(
    split: Split,
    task_kwargs: dict[str, Any],
    train: dict[str, Any],
    perturbations: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train one variant on one split; return its predictions and scores.

    With ``perturbations`` (``{name: perturbation}``, see :func:`perturb`), the same model is also
    scored on perturbed copies of the validation and test spectra (``result["perturbed"][name]``).
    """
    import torch

    if task_kwargs.get("model") == "plsr":
        if perturbations:
            raise ValueError("the PLSR reference is not scored under --perturbations: leave it out of --variants")
        return plsr_one(split, int(task_kwargs.get("max_components", 20)))
    task, seconds, epochs = fit_task(split, task_kwargs, train)

    def predict(spectra: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            prediction: np.ndarray = task(torch.from_numpy(spectra)).numpy()
        return prediction

    perturbed = {}
    for name, perturbation in (perturbations or {}).items():
        val_spectra = perturb(split.val[0], split.wavelengths_nm, perturbation)
        test_spectra = perturb(split.test[0], split.wavelengths_nm, perturbation)
        perturbed[name] = {"val": r2_mae(split.val[1], predict(val_spectra)), "test_prediction": predict(test_spectra)}
    return {
        "val": r2_mae(split.val[1], predict(split.val[0])),
        "test_prediction": predict(split.test[0]),
        "perturbed": perturbed,
        "seconds": seconds,
        "seconds_per_epoch": seconds / max(epochs, 1),
    }


def plsr_one(split: Split, max_components: int) -> dict[str, Any]:
    """The chemometric reference: PLSR on the raw spectra, 1..``max_components`` components chosen on validation R2.

    scikit-learn's ``PLSRegression`` (NIPALS, Wold et al. 2001; spectra and targets centred, not
    scaled) is fitted on the training part once per number of components; the number with the best
    validation R2 predicts the test part. A variant ``{model: plsr, max_components: A}`` of a config
    runs it in place of a network, so it shares the splits, the pooling and the tables.
    """
    from sklearn.cross_decomposition import PLSRegression

    start = time.perf_counter()
    (x_train, y_train), (x_val, y_val), (x_test, _) = split.train, split.val, split.test
    largest = min(max_components, x_train.shape[0] - 1, x_train.shape[1])
    best: tuple[float, float, Any] | None = None
    for n_components in range(1, largest + 1):
        model = PLSRegression(n_components=n_components, scale=False).fit(x_train, y_train)
        r2, mae = r2_mae(y_val, model.predict(x_val).reshape(y_val.shape))
        if best is None or r2 > best[0]:
            best = (r2, mae, model)
    assert best is not None
    prediction = np.asarray(best[2].predict(x_test), dtype=np.float32).reshape(len(x_test), -1)
    seconds = time.perf_counter() - start
    return {
        "val": (best[0], best[1]),
        "test_prediction": prediction,
        "perturbed": {},
        "seconds": seconds,
        "seconds_per_epoch": seconds,  # no epochs: the whole fit, so the tables' s/epoch column stays filled
        "n_components": best[2].n_components,
    }


def variant_task(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The task settings of a variant: the config's ``task`` with the variant's overrides."""
    return copy.deepcopy(config["task"]) | copy.deepcopy(overrides)


def same_runs(result: dict[str, Any], seeds: list[int], train: dict[str, Any], trainings: int) -> bool:
    """Whether a finished variant was run with these seeds, training settings and number of trainings."""
    runs_seeds = [run["seed"] for run in result.get("runs", [])]
    return runs_seeds == seeds and result.get("train") == train and result.get("trainings") == trainings


def same_task(result: dict[str, Any], task_kwargs: dict[str, Any], perturbations: dict[str, dict[str, Any]]) -> bool:
    """Whether a finished variant was run with these task settings and scored on these perturbations."""
    return result["task"] == task_kwargs and result.get("perturbations", {}) == json.loads(json.dumps(perturbations))


def resume_losses(
    old: dict[str, Any],
    same_setup: bool,
    names: list[str],
    config: dict[str, Any],
    train: dict[str, Any],
    seeds: list[int],
    trainings: int,
    perturbations: dict[str, dict[str, Any]],
) -> list[str]:
    """The finished variants of an ``--out`` record that ``--resume`` could neither reuse nor keep.

    A variant is kept when it was run on the same data set-up, seeds, folds and training settings
    and this run does not train it again; it is reused when this run asks for it with the same task
    and perturbations. Every other one would be replaced or dropped.
    """
    losses = []
    for result in list(old.get("results", [])) + list(old.get("greedy", [])):
        name = result["variant"]
        lost = not same_setup or not same_runs(result, seeds, train, trainings)
        if not lost and name in names:
            lost = not same_task(result, variant_task(config, config["variants"][name]), perturbations)
        if lost:
            losses.append(name)
    return losses


class Recorder:
    """Keeps the finished variants, rewrites the ``--out`` JSON after each, and reuses them (``--resume``).

    The finished variants of the old record with the same data, seeds, folds and training
    (``kept_results``, ``kept_greedy``) are reused when this run asks for them with the same task,
    and the others stay in the rewritten record, after the variants of this run, so that resuming
    with a subset of the variants loses nothing. A run that only reuses variants of a finished
    record (``finished=True``) leaves that record as it is: its run metadata (times, load
    average, overrides) still describe the runs that trained.
    """

    def __init__(
        self,
        out: Path | None,
        header: dict[str, Any],
        kept_results: list[dict[str, Any]] | None = None,
        kept_greedy: list[dict[str, Any]] | None = None,
        finished: bool = False,
    ) -> None:
        self.out = out
        self.header = header
        self.kept_results = kept_results or []
        self.kept_greedy = kept_greedy or []
        self.finished = finished
        self.reused: set[str] = set()
        self.results: list[dict[str, Any]] = []
        self.greedy: list[dict[str, Any]] = []

    def reuse(
        self,
        name: str,
        task_kwargs: dict[str, Any],
        train: dict[str, Any],
        trainings: int,
        perturbations: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        """A finished result of the same variant, task, training settings, seeds, folds and perturbations, if any."""
        for result in self.kept_results + self.kept_greedy:
            same = result["variant"] == name and same_runs(result, self.header["seeds"], train, trainings)
            if same and same_task(result, task_kwargs, perturbations or {}):
                log.info("%-40s reused from %s", name, self.out)
                self.reused.add(name)
                return result
        return None

    def trained_nothing(self) -> bool:
        """Whether every variant of this run so far was reused from a finished record."""
        return self.finished and all(r["variant"] in self.reused for r in self.results + self.greedy)

    def write(self, status: str) -> None:
        """Rewrite the JSON record (a no-op without ``--out``, or while this run has trained nothing)."""
        if self.out is None or self.trained_nothing():
            return
        done = {result["variant"] for result in self.results + self.greedy}
        results = self.results + [result for result in self.kept_results if result["variant"] not in done]
        greedy = self.greedy + [result for result in self.kept_greedy if result["variant"] not in done]
        record = self.header | {"status": status, "results": results, "greedy": greedy}
        record["seconds"] = time.perf_counter() - self.header["_start"]
        record["cpu_seconds"] = time.process_time() - self.header["_cpu_start"]
        record["load_average_end"] = list(os.getloadavg())
        record = {key: value for key, value in record.items() if not key.startswith("_")}
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(record, indent=2))


def summarise_runs(per_seed: dict[int, dict[str, list[Any]]]) -> dict[str, Any]:
    """Per-seed scores (soil folds pooled within a seed) and their mean and standard deviation over seeds."""
    runs = []
    for seed, bucket in sorted(per_seed.items()):
        test_r2, test_mae = r2_mae(np.concatenate(bucket["truth"]), np.concatenate(bucket["prediction"]))
        runs.append(
            {
                "seed": seed,
                "test_R2": test_r2,
                "test_MAE": test_mae,
                "val_R2": float(np.mean(bucket["val_r2"])),
                "val_MAE": float(np.mean(bucket["val_mae"])),
            }
        )
    summary: dict[str, Any] = {"runs": runs}
    for key in ("test_R2", "test_MAE", "val_R2"):
        values = np.array([run[key] for run in runs])
        summary[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if values.size > 1 else 0.0}
    return summary


def run_variant(
    name: str,
    overrides: dict[str, Any],
    splits: list[Split],
    config: dict[str, Any],
    train: dict[str, Any],
    recorder: Recorder | None = None,
    perturbations: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train a variant on every split and summarise it per seed (soil folds pooled within a seed).

    With ``perturbations`` the summary holds, under ``"perturbed"``, the same scores of the same
    models on the perturbed validation and test spectra, one entry per perturbation.
    """
    task_kwargs = variant_task(config, overrides)
    perturbations = perturbations or {}
    done = None if recorder is None else recorder.reuse(name, task_kwargs, train, len(splits), perturbations)
    if done is not None:
        return done
    wall, cpu = time.perf_counter(), time.process_time()
    conditions: dict[str, dict[int, dict[str, list[Any]]]] = {"": {}, **{c: {} for c in perturbations}}
    seconds, components = [], []
    for split in splits:
        result = train_one(split, task_kwargs, train, perturbations)
        if "n_components" in result:
            components.append(int(result["n_components"]))
        scores = {"": result} | result["perturbed"]
        for condition, per_seed in conditions.items():
            bucket = per_seed.setdefault(split.seed, {"truth": [], "prediction": [], "val_r2": [], "val_mae": []})
            bucket["truth"].append(split.test[1])
            bucket["prediction"].append(scores[condition]["test_prediction"])
            bucket["val_r2"].append(scores[condition]["val"][0])
            bucket["val_mae"].append(scores[condition]["val"][1])
        seconds.append(result["seconds_per_epoch"])
    summary = {"variant": name, "task": task_kwargs, "train": dict(train)} | summarise_runs(conditions[""])
    if components:  # the PLSR reference: the number of components chosen on each split's validation part
        summary["n_components"] = components
    if perturbations:
        summary["perturbations"] = copy.deepcopy(perturbations)
        summary["perturbed"] = {c: summarise_runs(conditions[c]) for c in perturbations}
    summary |= {
        "seconds_per_epoch": float(np.mean(seconds)),
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "trainings": len(splits),
    }
    log.info(
        "%-40s test R2 %.3f +/- %.3f  MAE %.4f  val R2 %.3f  (%.2f s/epoch, %.0f s)%s",
        name,
        summary["test_R2"]["mean"],
        summary["test_R2"]["std"],
        summary["test_MAE"]["mean"],
        summary["val_R2"]["mean"],
        summary["seconds_per_epoch"],
        summary["seconds"],
        "".join(f"  {c}: {v['test_R2']['mean']:.3f}" for c, v in summary.get("perturbed", {}).items()),
    )
    return summary


def greedy_study(
    singles: dict[str, dict[str, Any]],
    config: dict[str, Any],
    splits: list[Split],
    train: dict[str, Any],
    recorder: Recorder | None = None,
    top: int | None = None,
) -> list[dict[str, Any]]:
    """Add augmentations one at a time while the mean validation R2 rises (the paper's Table 3).

    The trials of every round are kept in ``recorder.greedy`` (marked ``"chosen"`` when a round
    takes them); the returned steps are the chosen path, from the best single augmentation.
    ``top`` restricts the candidates to the ``top`` single augmentations of best mean validation R2
    (a cheaper search: at most top (top - 1) / 2 trials instead of 28 for all eight).
    """
    candidates = [c for c in config["greedy"]["candidates"] if c in singles]
    if top is not None:
        candidates = sorted(candidates, key=lambda c: -singles[c]["val_R2"]["mean"])[: max(int(top), 1)]
    if not candidates:
        return []
    best = max(candidates, key=lambda c: singles[c]["val_R2"]["mean"])
    chosen, steps = [best], [singles[best]]
    augmentations = {c: list(config["variants"][c]["augmentations"]) for c in candidates}
    while True:
        trials = []
        for candidate in candidates:
            if candidate in chosen:
                continue
            combined = [a for c in [*chosen, candidate] for a in augmentations[c]]
            name = " + ".join([*chosen, candidate])
            trials.append(run_variant(name, {"augmentations": combined}, splits, config, train, recorder))
            if recorder is not None:
                recorder.greedy.append(trials[-1] | {"chosen": False})
                recorder.write("running")
        if not trials:
            break
        trial = max(trials, key=lambda t: t["val_R2"]["mean"])
        if trial["val_R2"]["mean"] <= steps[-1]["val_R2"]["mean"]:
            break
        chosen = trial["variant"].split(" + ")
        steps.append(trial)
        if recorder is not None:
            for record in recorder.greedy:
                record["chosen"] = record["chosen"] or record["variant"] == trial["variant"]
    return steps


def markdown_table(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| variant | test R2 (mean +/- std) | test MAE | validation R2 | s/epoch | seeds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['variant']} | {r['test_R2']['mean']:.3f} +/- {r['test_R2']['std']:.3f} | "
            f"{r['test_MAE']['mean']:.4f} +/- {r['test_MAE']['std']:.4f} | {r['val_R2']['mean']:.3f} | "
            f"{r['seconds_per_epoch']:.2f} | {len(r['runs'])} |"
        )
    return "\n".join(lines)


def spread_test(variant_scores: Sequence[float], baseline_scores: Sequence[float]) -> tuple[float, bool]:
    """The goal of the reproduction: does the variant's mean beat the baseline's by more than the seed spread?

    Args:
        variant_scores: the variant's per-seed test R2.
        baseline_scores: the baseline's per-seed test R2.

    Returns:
        ``(spread, passes)``: the larger of the two standard deviations over seeds (ddof 1; 0 for a
        single seed), and whether the difference of the means exceeds it.
    """

    def std(scores: Sequence[float]) -> float:
        return float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0

    spread = max(std(variant_scores), std(baseline_scores))
    return spread, bool(np.mean(variant_scores) - np.mean(baseline_scores) > spread)


def comparison_table(results: list[dict[str, Any]], baseline: str = "baseline") -> str:
    """Each variant against the baseline, as a Markdown table.

    Columns: test R2 mean +/- standard deviation over seeds; the paired difference to the baseline
    (same seed, hence the same split and initialisation) as mean +/- standard deviation; how many
    seeds beat the baseline; whether the gain exceeds the seed-to-seed spread (the larger standard
    deviation of the two, the goal of the reproduction); test MAE; validation R2; wall-clock and CPU
    seconds of the variant (all seeds and folds).
    """
    reference = next((r for r in results if r["variant"] == baseline), None)
    lines = [
        "| variant | test R2 | paired gain over baseline | seeds better | gain > spread | test MAE | "
        "validation R2 | wall s | CPU s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        gain, better, beyond = "", "", ""
        if reference is not None and r is not reference:
            base = {run["seed"]: run["test_R2"] for run in reference["runs"]}
            paired = np.array([run["test_R2"] - base[run["seed"]] for run in r["runs"] if run["seed"] in base])
            scores = [run["test_R2"] for run in r["runs"]]
            _, passes = spread_test(scores, [run["test_R2"] for run in reference["runs"]])
            std = paired.std(ddof=1) if paired.size > 1 else 0.0
            gain = f"{paired.mean():+.3f} +/- {std:.3f}"
            better = f"{int((paired > 0).sum())}/{paired.size}"
            beyond = "yes" if passes else "no"
        lines.append(
            f"| {r['variant']} | {r['test_R2']['mean']:.3f} +/- {r['test_R2']['std']:.3f} | {gain} | {better} | "
            f"{beyond} | {r['test_MAE']['mean']:.4f} | {r['val_R2']['mean']:.3f} | "
            f"{r.get('seconds', float('nan')):.0f} | {r.get('cpu_seconds', float('nan')):.0f} |"
        )
    return "\n".join(lines)


def read_value(text: str) -> Any:
    """A command-line value read as YAML, then as a float (YAML 1.1 reads ``1e-3`` as a string)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def parse_grid(assignments: Sequence[str], task: dict[str, Any]) -> dict[str, list[Any]]:
    """Read ``--grid KEY=V1,V2,...`` options into ``{KEY: [V1, V2, ...]}`` (values read as YAML, then as float).

    Raises:
        ValueError: If an option is not ``KEY=V1,...`` or KEY is not an argument of the config's ``task``.
    """
    grid: dict[str, list[Any]] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key or not raw:
            raise ValueError(f"--grid {assignment!r} is invalid: write KEY=V1,V2, e.g. alpha=0.001,0.01,0.1")
        if key not in task:
            raise ValueError(f"--grid {assignment!r}: {key!r} is not a task setting; use one of {sorted(task)}")
        grid[key] = [read_value(text) for text in raw.split(",")]
    return grid


def expand_grid(
    names: Sequence[str], variants: dict[str, dict[str, Any]], task: dict[str, Any], grid: dict[str, list[Any]]
) -> dict[str, dict[str, Any]]:
    """Every contrastive variant once per combination of the grid values; variants with alpha 0 stay single.

    Returns ``{name: overrides}`` in order, the grid variants named ``"NAME [key=value, ...]"`` (the
    name that :func:`select_on_validation` groups by).
    """
    import itertools

    expanded: dict[str, dict[str, Any]] = {}
    for name in names:
        overrides = variants[name]
        if not grid or float((task | overrides).get("alpha", 0.0)) == 0.0:
            expanded[name] = dict(overrides)
            continue
        for values in itertools.product(*grid.values()):
            setting = dict(zip(grid, values, strict=True))
            label = ", ".join(
                f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}" for key, value in setting.items()
            )
            expanded[f"{name} [{label}]"] = dict(overrides) | setting
    return expanded


def select_on_validation(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant of a ``--grid`` study, the setting with the best mean validation R2 (test R2 is never used).

    Results named ``"NAME [settings]"`` are grouped by NAME; others are kept as they are, in order.
    """
    chosen: dict[str, dict[str, Any]] = {}
    for result in results:
        group = result["variant"].split(" [", 1)[0]
        if group not in chosen or result["val_R2"]["mean"] > chosen[group]["val_R2"]["mean"]:
            chosen[group] = result
    return list(chosen.values())


def merge_variants(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The results of finished studies (their records) merged by variant name, the first kept."""
    results: dict[str, dict[str, Any]] = {}
    for record in records:
        for result in record["results"]:
            results.setdefault(result["variant"], result)
    return results


def merged_results(paths: Sequence[Path]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The records of finished studies (JSON files) and their results merged by variant name, the first kept."""
    records = [json.loads(Path(path).read_text()) for path in paths]
    return records, merge_variants(records)


def chosen_settings(paths: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """``{name: task settings}`` of the setting chosen on validation R2 per variant in finished studies.

    The results are merged as ``--tables`` merges them (:func:`merged_results`); a variant without
    a grid (the baseline) is kept as it is.
    """
    results = merged_results(paths)[1]
    return {result["variant"]: dict(result["task"]) for result in select_on_validation(list(results.values()))}


def under(result: dict[str, Any], perturbation: str) -> dict[str, Any]:
    """A result with its scores replaced by those under a perturbation (its ``"perturbed"`` entry)."""
    scores = result["perturbed"][perturbation]
    return result | {key: scores[key] for key in ("runs", "test_R2", "test_MAE", "val_R2")}


def perturbation_tables(results: Sequence[dict[str, Any]]) -> str:
    """Per perturbation: every variant, the settings chosen on perturbed and on clean validation R2.

    Scores are those of the same trained models on the perturbed validation and test spectra;
    paired gains are over the baseline under the same perturbation.
    """
    scored = [r for r in results if r.get("perturbed")]
    names = list(dict.fromkeys(name for r in scored for name in r["perturbed"]))
    blocks = []
    for name in names:
        here = [r for r in scored if name in r["perturbed"]]
        spec = here[0]["perturbations"][name]
        blocks.append(f"Under perturbation {name} {spec}:\n\n" + comparison_table([under(r, name) for r in here]))
        if any(" [" in r["variant"] for r in here):
            chosen = select_on_validation([under(r, name) for r in here])
            blocks.append(f"{name}, chosen on validation R2 under {name}:\n\n" + comparison_table(chosen))
            chosen = [under(r, name) for r in select_on_validation(here)]
            blocks.append(f"{name}, chosen on clean validation R2:\n\n" + comparison_table(chosen))
    return "\n\n".join(blocks)


def data_setup(data: dict[str, Any]) -> dict[str, Any]:
    """A study's data settings as JSON values, with ``DATA_DEFAULTS`` filled in for older records."""
    return DATA_DEFAULTS | json.loads(json.dumps(data))


def study_setup(record: dict[str, Any]) -> str:
    """What must match for two finished studies to share one table: data, folds, seeds and training."""
    setup = [data_setup(record.get("data", {})), record.get("folds"), record.get("seeds"), record.get("train")]
    return json.dumps(setup, sort_keys=True)


def print_tables(paths: Sequence[Path]) -> None:
    """Print the comparison tables of the studies in JSON files.

    Files of one set-up (:func:`study_setup`: the same data, folds, seeds and training) share a
    table, their variants merged by name (the first kept), so that a variant run in a file of its
    own is compared with the baseline of another. Files of different set-ups (e.g. one data set
    each) get a table each, in the order given.
    """
    setups: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for path in paths:
        record = json.loads(Path(path).read_text())
        setups.setdefault(study_setup(record), []).append((Path(path), record))
    for number, group in enumerate(setups.values()):
        if number:
            print()
        print_setup_tables([path for path, _ in group], [record for _, record in group])


def print_setup_tables(paths: Sequence[Path], records: Sequence[dict[str, Any]]) -> None:
    """Print the comparison table of studies of one set-up (variants merged by name, first kept)."""
    results = merge_variants(records)
    greedy: list[dict[str, Any]] = []
    for path, record in zip(paths, records, strict=True):
        greedy += record.get("greedy", [])
        print(
            f"{path}: {record.get('status', 'done')}, seeds {record['seeds']}, {record['train']}, "
            f"overrides {record.get('overrides', [])}, {record['seconds']:.0f} s wall, "
            f"{record.get('cpu_seconds', float('nan')):.0f} s CPU"
        )
    print()
    print(comparison_table(list(results.values())))
    if any(" [" in name for name in results):
        print("\nChosen on validation R2 (one setting per variant):\n")
        print(comparison_table(select_on_validation(list(results.values()))))
    if any(r.get("perturbed") for r in results.values()):
        print("\n" + perturbation_tables(list(results.values())))
    if greedy:
        baseline = [results["baseline"]] if "baseline" in results else []
        print("\nGreedy trials (chosen marks the path):\n")
        for trial in greedy:
            trial = trial | {"variant": trial["variant"] + (" (chosen)" if trial.get("chosen") else "")}
            print(comparison_table([*baseline, trial]).splitlines()[-1])


def set_value(config: dict[str, Any], assignment: str) -> None:
    """Set ``config[a][b] = yaml(value)`` from ``"a.b=value"``; the path must exist."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ValueError(f"--set {assignment!r} is invalid: write KEY=VALUE, e.g. data.n_train=50")
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        if not isinstance(node.get(part), dict):
            raise ValueError(f"--set {assignment!r}: {part!r} is not a section of the config")
        node = node[part]
    if leaf not in node:
        raise ValueError(f"--set {assignment!r}: {key!r} is not in the config; use one of {sorted(node)}")
    node[leaf] = yaml.safe_load(raw)


def quiet_training(threads: int) -> None:
    """Log progress lines with times, silence Lightning's chatter, and set the torch threads."""
    import torch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    torch.set_num_threads(threads)


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="YAML study config")
    parser.add_argument(
        "--tables", type=Path, nargs="+", metavar="JSON", help="only print the comparison tables of finished studies"
    )
    parser.add_argument("--quick", action="store_true", help="CI size: the config's `quick` epochs, seeds, variants")
    parser.add_argument("--variants", help="comma-separated variant names (default: all, or the quick ones)")
    parser.add_argument("--seeds", type=int, help="use seeds 0..N-1 instead of the config's")
    parser.add_argument("--epochs", type=int, help="override train.max_epochs")
    parser.add_argument("--greedy", action="store_true", help="also run the greedy combination study")
    parser.add_argument(
        "--greedy-top", type=int, metavar="K", help="greedy search over the K best single augmentations only"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these tiny models)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here (rewritten after every variant)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by its dotted path, e.g. data.n_train=50 (VALUE is read as YAML); repeatable",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="train every contrastive variant once per value (repeatable: the product), e.g. alpha=0.001,0.01,0.1; "
        "--tables then also reports the setting of best validation R2 per variant",
    )
    parser.add_argument(
        "--chosen",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="train, per variant, the grid setting of best validation R2 in these finished studies (and their "
        "baseline), e.g. with --epochs 300 to check longer training",
    )
    parser.add_argument(
        "--perturbations",
        metavar="NAMES",
        help="also score every model on perturbed validation and test spectra: 'all' or comma-separated names of "
        "the config's `perturbations`",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the finished variants found in --out, and keep those this run does not train",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out (with --resume: replace the finished variants that cannot be reused or kept)",
    )
    args = parser.parse_args(argv)
    if args.tables:
        print_tables(args.tables)
        return 0
    if args.config is None:
        parser.error("--config is required (or --tables to print finished studies)")
    if args.out is not None and args.out.exists() and not (args.resume or args.overwrite):
        parser.error(
            f"--out {args.out} exists: pass --resume to reuse and keep its finished variants, or --overwrite "
            "to replace it"
        )
    quiet_training(args.threads)
    config = yaml.safe_load(args.config.read_text())
    for assignment in args.set:
        try:
            set_value(config, assignment)
        except ValueError as error:
            parser.error(str(error))
    train = dict(config["train"])
    seeds = list(config["seeds"])
    names = list(config["variants"])
    folds = list(config["data"].get("folds", []))
    if args.quick:
        quick = config["quick"]
        train["max_epochs"] = quick["max_epochs"]
        seeds = list(quick["seeds"])
        names = list(quick["variants"])
        folds = list(quick.get("folds", folds))
    if args.variants:
        names = args.variants.split(",")
    if args.chosen:
        settings = chosen_settings(args.chosen)
        config["variants"] = config["variants"] | settings
        names = list(settings)
    unknown = [n for n in names if n not in config["variants"]]
    if unknown:
        parser.error(f"variants {unknown} are not in {args.config}: use some of {list(config['variants'])}")
    try:
        grid = parse_grid(args.grid, config["task"])
    except ValueError as error:
        parser.error(str(error))
    if grid:
        expanded = expand_grid(names, config["variants"], config["task"], grid)
        config["variants"] = config["variants"] | expanded
        names = list(expanded)
    perturbations: dict[str, dict[str, Any]] = {}
    if args.perturbations:
        available = config.get("perturbations") or {}
        wanted = list(available) if args.perturbations == "all" else args.perturbations.split(",")
        missing = [name for name in wanted if name not in available]
        if missing or not wanted:
            parser.error(
                f"--perturbations {missing or wanted} not in {args.config}: use 'all' or some of {list(available)}"
            )
        perturbations = {name: dict(available[name]) for name in wanted}
        for name, perturbation in perturbations.items():
            try:
                check_perturbation(perturbation)
            except ValueError as error:
                parser.error(f"perturbation {name!r} of {args.config}: {error}")
    if args.seeds:
        seeds = list(range(args.seeds))
    if args.epochs:
        train["max_epochs"] = args.epochs

    start, cpu_start = time.perf_counter(), time.process_time()
    if config["study"] == "synthetic":
        splits = list(synthetic_splits(config["data"], seeds))
    elif config["study"] == "soil":
        try:
            splits = list(soil_splits(config["data"], seeds, folds))
        except ValueError as error:
            parser.error(f"{args.config}: {error}")
    else:
        parser.error(f"study {config['study']!r} is unknown: use 'synthetic' or 'soil'")
    log.info(
        "%s: %d splits, %d train / %d val / %d test spectra each (first split), %d bands; %d epochs",
        config["study"],
        len(splits),
        len(splits[0].train[0]),
        len(splits[0].val[0]),
        len(splits[0].test[0]),
        splits[0].train[0].shape[1],
        train["max_epochs"],
    )
    kept: dict[str, list[dict[str, Any]]] = {"results": [], "greedy": []}
    finished = False
    if args.resume and args.out is not None and args.out.exists():
        old = json.loads(args.out.read_text())
        same_setup = data_setup(old.get("data", {})) == data_setup(config["data"]) and old.get("folds") == folds
        losses = resume_losses(old, same_setup, names, config, train, seeds, len(splits), perturbations)
        if losses and not args.overwrite:
            parser.error(
                f"--resume would replace or drop these finished variants of {args.out} (run with another data "
                f"set-up, seeds, folds, training or task): {losses}. Write to another --out, or add --overwrite "
                "to replace them"
            )
        if same_setup:
            finished = old.get("status") == "done"
            for part in kept:
                kept[part] = [r for r in old.get(part, []) if same_runs(r, seeds, train, len(splits))]
        else:
            log.info("%s holds another data set-up: nothing is reused", args.out)
    header = {
        "config": str(args.config),
        "overrides": list(args.set),
        "quick": args.quick,
        "seeds": seeds,
        "folds": folds,
        "train": train,
        "data": config["data"],
        "torch_threads": args.threads,
        "greedy_top": args.greedy_top,
        "grid": grid,
        "perturbations": perturbations,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_start": list(os.getloadavg()),
        "_start": start,
        "_cpu_start": cpu_start,
    }
    recorder = Recorder(args.out, header, kept["results"], kept["greedy"], finished)
    for name in names:
        variant = run_variant(name, config["variants"][name], splits, config, train, recorder, perturbations)
        recorder.results.append(variant)
        recorder.write("running")
    greedy = []
    if args.greedy:
        greedy = greedy_study(
            {r["variant"]: r for r in recorder.results}, config, splits, train, recorder, args.greedy_top
        )
        chosen = {step["variant"] for step in greedy}
        recorder.header["greedy_path"] = [step["variant"] for step in greedy]
        for record in recorder.greedy:
            record["chosen"] = record["variant"] in chosen
    elapsed = time.perf_counter() - start
    print(markdown_table(recorder.results))
    if greedy:
        print("\nGreedy combination (chosen on validation R2):\n")
        print(markdown_table(greedy))
    print(f"\n{config['study']}: {len(seeds)} seeds, {train['max_epochs']} epochs, {elapsed:.0f} s in all")
    if recorder.trained_nothing():
        log.info("every variant was reused: %s is left as it was", args.out)
    recorder.write("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

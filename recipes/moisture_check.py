#!/usr/bin/env python
"""Measure how soil moisture moves the bundled SOC model's predictions.

The bundled SOC model learnt from air-dried, sieved laboratory soils; a field surface after rain
is darker and absorbs more near the water bands. This recipe measures the effect on real spectra:
``datEPO`` (Minasny et al. 2011, Geoderma 167, 118-124; AlexandreWadoux/soilspec, MIT), 100 soils
of the Geeves survey scanned three times: air-dry (``spectra0``), wet (``spectra1``) and wet then
air-dried for a day (``spectra2``), as absorbance log10(1/R) at 350-2500 nm every 1 nm, with total
carbon (g/100 g, all organic). The spectra are converted to reflectance 0-1 and resampled to the
202 EnMAP default bands with Gaussian SRFs, as the training recipe does.

The 100 soils are also in datsoilspc, on which the bundled model trained: every datEPO total-carbon
value occurs there, and each datEPO soil is matched to the datsoilspc soil with that value whose
spectrum correlates best with its air-dry scan. So besides ``bundled`` the recipe trains
``unseen``: the bundled model's candidate, plant mixtures and epochs (``train_soc_model``'s own
functions, seed 0) on its training soils without the matched ones; all three scans are out of
sample for it.

It prints, per model and scan, RMSE, bias and R2 against the measured carbon, the paired change
from the air-dry prediction (median and 10th-90th percentile), and the share of spectra that
``eospec map``'s masks keep. Then it measures whether external parameter orthogonalisation (EPO,
:func:`epo_study`) removes the moisture effect, out of fold over the datEPO soils.

Usage::

    python recipes/moisture_check.py                                  # about 1 minute on 2 cores
    python recipes/moisture_check.py --epo-components 1 --folds 2     # CI size (15 s)
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_soc_model import (  # noqa: E402
    PLANT_FOLD_SEED,
    USGS_AV95,
    LabSet,
    Plants,
    Pool,
    Settings,
    bundled_candidate,
    bundled_pool,
    enmap_default_bands,
    features,
    load_lab_sets,
    load_plants,
    module_predict,
    shared_data_dir,
    to_enmap,
    train_mlp,
    training_pool,
)

from eospec.masks import classify, index_bands  # noqa: E402
from eospec.metrics import regression_metrics  # noqa: E402
from eospec.models.registry import load_model_file, resolve_model  # noqa: E402

FloatArray = npt.NDArray[np.float64]

#: datEPO's three scans of every soil: file suffix -> label.
SCANS = {"0": "air-dry", "1": "wet", "2": "re-dried (1 day)"}


def load_datepo(folder: Path) -> tuple[dict[str, FloatArray], FloatArray]:
    """The datEPO scans as reflectance at the EnMAP default bands, and their carbon.

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
        raise FileNotFoundError(f"{carbon} not found: set EOSPEC_SHARED_DATA to the shared data folder")
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


def absorbance(reflectance: FloatArray) -> FloatArray:
    """log10(1/R), R clipped at 1e-4, as the models compute it (``train_soc_model.features``)."""
    return features(reflectance, "absorbance", False)


def retraining_pool(
    sets: Sequence[LabSet], excluded: npt.NDArray[np.int64], bundled: dict, plants: Plants | None
) -> Pool:
    """The bundled model's training spectra (soils and its plant mixtures) without datsoilspc rows ``excluded``."""
    datsoilspc = next(s for s in sets if s.name == "datsoilspc")
    exclude = np.zeros(datsoilspc.soc.size, dtype=bool)
    exclude[excluded] = True
    return bundled_pool(training_pool(sets, {"datsoilspc": exclude}), plants, bundled)


def epo_study(
    scans: dict[str, FloatArray],
    soc: FloatArray,
    matched: npt.NDArray[np.int64],
    sets: Sequence[LabSet],
    bundled: dict,
    plants: Plants | None,
    components: Sequence[int],
    n_folds: int,
) -> list[str]:
    """Out-of-fold accuracy on the datEPO scans with and without EPO, as Markdown rows.

    External parameter orthogonalisation (EPO; Roger et al. 2003, Chemometr. Intell. Lab. Syst.
    66, 191-204; for soil moisture Minasny et al. 2011) removes from every spectrum its projection
    on the g leading directions of within-soil variation between moisture levels: x -> x - (x -
    m) V V^T, with V from the SVD of each calibration soil's three absorbance scans minus their
    mean (chemotools' ``ExternalParameterOrthogonalization``) and m the training mean.

    The 100 soils are split into ``n_folds`` folds (seed 0). For fold k, EPO is fitted on the scans
    of the other folds' soils; the bundled candidate (with its plant mixtures and epochs) trains on
    the projected training soils without fold k's matched soils and predicts fold k's projected
    scans. ``none`` is the same without EPO. Projection is in absorbance; the projected absorbance
    is turned back into pseudo-reflectance 10^-A for the model's own input transform.
    """
    from chemotools.projection import ExternalParameterOrthogonalization

    candidate = bundled_candidate(bundled)
    epochs = int(bundled["hyperparameters"]["epochs"])
    fold = np.empty(len(soc), dtype=np.int64)
    fold[np.random.default_rng(0).permutation(len(soc))] = np.arange(len(soc)) % n_folds
    variants = ["none", *(f"EPO g={g}" for g in components)]
    predicted = {v: {scan: np.empty(len(soc)) for scan in scans} for v in variants}
    stacked = absorbance(np.concatenate(list(scans.values())))
    soil_of_scan = np.tile(np.arange(len(soc)), len(scans))
    for k in range(n_folds):
        test = fold == k
        pool = retraining_pool(sets, matched[test], bundled, plants)
        calibration = ~test[soil_of_scan]
        for variant in variants:
            if variant == "none":
                train_r, test_r = pool.reflectance, {scan: r[test] for scan, r in scans.items()}
            else:
                epo = ExternalParameterOrthogonalization(n_components=int(variant.split("=")[1]))
                epo.fit(
                    absorbance(pool.reflectance),
                    X_external=stacked[calibration],
                    sample_ids=soil_of_scan[calibration],
                )
                train_r = 10.0 ** (-epo.transform(absorbance(pool.reflectance)))
                test_r = {scan: 10.0 ** (-epo.transform(absorbance(r[test]))) for scan, r in scans.items()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module, _, _ = train_mlp(candidate, train_r, pool.soc, Settings(), 0, train_r, epochs, pool.group)
            for scan, r in test_r.items():
                predicted[variant][scan][test] = module_predict(module, r)
    rows = []
    for variant in variants:
        for scan in scans:
            score = regression_metrics(soc, predicted[variant][scan])
            rows.append(f"| {variant} | {scan} | {score['rmse']:.2f} | {score['bias']:+.2f} | {score['r2']:.2f} |")
    return rows


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description="Measure how soil moisture moves the SOC model's predictions.")
    parser.add_argument(
        "--epo-components", type=int, nargs="*", default=[1, 2, 4, 8], help="EPO components g to test (none: skip)"
    )
    parser.add_argument("--folds", type=int, default=5, help="folds over the datEPO soils for the EPO study")
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error(f"--folds {args.folds}: pass 2 or more")
    torch.set_num_threads(2)
    data = shared_data_dir()
    scans, soc = load_datepo(data / "soil" / "wadoux_soilspec")
    sets = load_lab_sets(0)
    datsoilspc = next(s for s in sets if s.name == "datsoilspc")
    matched = match_soils(scans["air-dry"], soc, datsoilspc)
    print(f"datEPO: {len(soc)} soils, SOC {soc.min():.1f}-{soc.max():.1f} g/kg; {len(set(matched))} datsoilspc matches")

    bundled, weights = resolve_model("soc")
    plants = load_plants(data / USGS_AV95, PLANT_FOLD_SEED) if bundled.get("plant_mixtures") else None
    pool = retraining_pool(sets, matched, bundled, plants)
    epochs = int(bundled["hyperparameters"]["epochs"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unseen, _, _ = train_mlp(
            bundled_candidate(bundled), pool.reflectance, pool.soc, Settings(), 0, pool.reflectance, epochs, pool.group
        )
    print(f"trained `unseen` on {int(pool.pure.sum())} soils without those ({pool.soc.size} spectra), {epochs} epochs")
    models = {"bundled": load_model_file(bundled, weights).eval(), "unseen": unseen.eval()}

    bands = index_bands(enmap_default_bands()[0])
    print("\nSOC (g/kg) of the datEPO soils by scan:\n")
    print("| model | scan | kept by the masks | RMSE | bias | R2 | change from air-dry: median | 10th-90th pct |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, module in models.items():
        predicted = {}
        for scan, reflectance in scans.items():
            predicted[scan] = module_predict(module, reflectance)
        for scan, reflectance in scans.items():
            green, red, nir, swir1 = (reflectance[:, bands[b]] for b in ("green", "red", "nir", "swir1"))
            kept = classify(green, red, nir, swir1) == 0
            score = regression_metrics(soc, predicted[scan])
            change = predicted[scan] - predicted["air-dry"]
            low, median, high = np.percentile(change, [10, 50, 90])
            print(
                f"| {label} | {scan} | {kept.mean():.0%} | {score['rmse']:.2f} | {score['bias']:+.2f} | "
                f"{score['r2']:.2f} | {median:+.1f} | {low:+.1f} to {high:+.1f} |"
            )
    if args.epo_components:
        rows = epo_study(scans, soc, matched, sets, bundled, plants, args.epo_components, args.folds)
        print(f"\nOut of fold ({args.folds} folds over the datEPO soils), with and without EPO:\n")
        print("| EPO | scan | RMSE | bias | R2 |\n| --- | --- | --- | --- | --- |")
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

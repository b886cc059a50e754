#!/usr/bin/env python
"""Measure how soil moisture moves the bundled SOC model's predictions, and what its EPO step buys.

The bundled SOC model learnt from air-dried, sieved laboratory soils; a field surface after rain
is darker and absorbs more near the water bands. This recipe measures the effect on real spectra:
``datEPO`` (Minasny et al. 2011, Geoderma 167-168, 118-124; AlexandreWadoux/soilspec, MIT), 100
soils of the Geeves survey scanned three times: air-dry, wet, and wet then air-dried for a day
(``train_soc_model.load_datepo``), resampled to the 202 EnMAP default bands.

The 100 soils are also in datsoilspc, on which the bundled model trained, and its external
parameter orthogonalisation (EPO) step took its moisture directions from their scans. So the
``bundled`` rows are in sample twice over. The honest figures are out of fold:

1. ``unseen (no EPO)``: the bundled model's candidate, plant mixtures and epochs trained without
   the datsoilspc copies of the 100 soils and without EPO (what the model without its EPO step
   does on unseen soils);
2. the EPO study (``train_soc_model.moisture_cv``): the 100 soils in ``--folds`` folds; for each
   fold the candidate trains without that fold's soils, with EPO directions from the other folds'
   scans only, for each g of ``--epo-components`` (and 0, no EPO). This is the table from which
   ``train_soc_model.py`` chose g, so its best row is optimistic;
3. nested: for each outer fold, g is chosen by the same study over the other soils alone
   (``--inner-folds``), and the outer fold's scans are predicted by the model with that g. This
   is the estimate of what the recipe's choice of g delivers on unseen soils;
4. with ``--wet-training``: the bundled g with the other folds' soils' wet and re-dried scans
   added to the training data, labelled with their SOC (would real wet spectra help beyond EPO?).

It prints RMSE, bias and R2 against the measured carbon per scan, the paired change from the
air-dry prediction and the share of spectra that ``eospec map``'s masks keep.

Usage::

    python recipes/moisture_check.py                                             # 6-7 minutes on 2 cores
    python recipes/moisture_check.py --no-nested --wet-training                  # about 1.5 minutes
    python recipes/moisture_check.py --epo-components 1 --folds 2 --inner-folds 2  # CI size (about 30 s)
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_soc_model import (  # noqa: E402
    EPO_FOLDS,
    PLANT_FOLD_SEED,
    USGS_AV95,
    Candidate,
    MoistureScans,
    Pool,
    Settings,
    bundled_candidate,
    bundled_pool,
    choose_epo_components,
    enmap_default_bands,
    fit_candidate,
    load_lab_sets,
    load_moisture_scans,
    load_plants,
    metrics,
    module_predict,
    moisture_cv,
    moisture_folds,
    moisture_scores,
    shared_data_dir,
    training_pool,
    without_soils,
)

from eospec.masks import classify, index_bands  # noqa: E402
from eospec.models.registry import load_model_file, resolve_model  # noqa: E402

FloatArray = npt.NDArray[np.float64]


def nested_moisture_cv(
    study: dict[int, FloatArray],
    candidate: Candidate,
    pool: Pool,
    moisture: MoistureScans,
    components: Sequence[int],
    n_folds: int,
    inner_folds: int,
    seed: int,
    epochs: int | None,
) -> tuple[FloatArray, list[int]]:
    """Out-of-fold SOC of the moisture scans with g chosen inside each training set.

    The outer folds are those of ``study`` (:func:`moisture_cv` over all soils with ``n_folds``
    and ``seed``), whose fold-k model with g is exactly the model that the nested estimate needs
    once g is chosen; so only the inner studies train: for outer fold k, :func:`moisture_cv` over
    the other soils (their own ``inner_folds`` folds; fold k's soils are left out of training)
    chooses g (:func:`choose_epo_components`), and fold k's scans take ``study[g]``.

    Returns:
        Predicted SOC (g/kg) of shape (len(scans), S), and the g chosen for each outer fold.
    """
    fold = moisture_folds(moisture.soc.size, n_folds, seed)
    predicted = np.full((len(moisture.scans), moisture.soc.size), np.nan)
    chosen = []
    for k in range(n_folds):
        inner_soils = np.flatnonzero(fold != k)
        inner = moisture_cv(candidate, pool, moisture, components, inner_folds, Settings(), seed, inner_soils, epochs)
        g = choose_epo_components({c: moisture_scores(moisture, inner[c], inner_soils) for c in components})
        predicted[:, fold == k] = study[g][:, fold == k]
        chosen.append(g)
    return predicted, chosen


def _score(soc: FloatArray, predicted: FloatArray) -> str:
    """RMSE, bias and R2 as Markdown cells."""
    score = metrics(soc, predicted)
    return f"{score['rmse']:.2f} | {score['bias']:+.2f} | {score['r2']:.2f}"


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description="Measure how soil moisture moves the SOC model's predictions.")
    parser.add_argument(
        "--epo-components", type=int, nargs="*", default=[1, 2, 4, 8], help="EPO components g to test besides 0"
    )
    parser.add_argument("--folds", type=int, default=EPO_FOLDS, help="folds over the datEPO soils for the EPO study")
    parser.add_argument("--inner-folds", type=int, default=4, help="folds of the nested study's inner choice of g")
    parser.add_argument("--no-nested", action="store_true", help="skip the nested estimate")
    parser.add_argument(
        "--wet-training",
        action="store_true",
        help="also measure the bundled EPO with the other folds' wet and re-dried scans in training",
    )
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error(f"--folds {args.folds}: pass 2 or more")
    if args.inner_folds < 2:
        parser.error(f"--inner-folds {args.inner_folds}: pass 2 or more")
    if any(g < 1 for g in args.epo_components):
        parser.error(f"--epo-components {args.epo_components}: pass whole numbers of 1 or more (0 is always run)")
    torch.set_num_threads(2)
    sets = load_lab_sets(0)
    try:
        moisture = load_moisture_scans(sets)
    except FileNotFoundError as error:
        parser.error(str(error))
    soc = moisture.soc
    print(
        f"datEPO: {soc.size} soils, SOC {soc.min():.1f}-{soc.max():.1f} g/kg; "
        f"{len(set(moisture.matched))} datsoilspc matches"
    )

    bundled, weights = resolve_model("soc")
    plants = load_plants(shared_data_dir() / USGS_AV95, PLANT_FOLD_SEED) if bundled.get("plant_mixtures") else None
    pool = bundled_pool(training_pool(sets), plants, bundled)
    candidate = bundled_candidate(bundled)
    epo = bundled.get("epo") or {}
    epochs = int(epo.get("study_epochs") or bundled["hyperparameters"]["epochs"])
    unseen_pool = without_soils(pool, moisture.matched)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unseen = fit_candidate(candidate, unseen_pool, Settings(), 0, unseen_pool.reflectance, None, epochs).module
    print(
        f"trained `unseen (no EPO)` on {int(unseen_pool.pure.sum())} soils without those "
        f"({unseen_pool.soc.size} spectra), {epochs} epochs; the bundled model has "
        f"{bundled['architecture'].get('epo_components', 0)} EPO component(s)"
    )
    models = {"bundled (in sample)": load_model_file(bundled, weights).eval(), "unseen (no EPO)": unseen.eval()}

    bands = index_bands(enmap_default_bands()[0])
    print("\nSOC (g/kg) of the datEPO soils by scan:\n")
    print("| model | scan | kept by the masks | RMSE | bias | R2 | change from air-dry: median | 10th-90th pct |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, module in models.items():
        predicted = {scan: module_predict(module, reflectance) for scan, reflectance in moisture.scans.items()}
        for scan, reflectance in moisture.scans.items():
            green, red, nir, swir1 = (reflectance[:, bands[b]] for b in ("green", "red", "nir", "swir1"))
            kept = classify(green, red, nir, swir1) == 0
            change = predicted[scan] - predicted["air-dry"]
            low, median, high = np.percentile(change, [10, 50, 90])
            print(
                f"| {label} | {scan} | {kept.mean():.0%} | {_score(soc, predicted[scan])} | "
                f"{median:+.1f} | {low:+.1f} to {high:+.1f} |"
            )

    components = [0, *sorted(set(args.epo_components))]
    study = moisture_cv(candidate, pool, moisture, components, args.folds, Settings(), 0, epochs=epochs)
    print(f"\nOut of fold ({args.folds} folds over the datEPO soils), with and without EPO:\n")
    print("| EPO | scan | RMSE | bias | R2 |\n| --- | --- | --- | --- | --- |")
    for g in components:
        for i, scan in enumerate(moisture.scans):
            print(f"| {f'EPO g={g}' if g else 'none'} | {scan} | {_score(soc, study[g][i])} |")
    if args.wet_training:
        g = int(bundled["architecture"].get("epo_components", 0))
        extra = ["wet", "re-dried (1 day)"]
        trained = moisture_cv(
            candidate, pool, moisture, [g], args.folds, Settings(), 0, epochs=epochs, training_scans=extra
        )[g]
        print(
            f"\nOut of fold, EPO g={g} and the other folds' soils' wet and re-dried scans in training "
            "(labelled with their SOC):\n"
        )
        print("| training | scan | RMSE | bias | R2 |\n| --- | --- | --- | --- | --- |")
        for i, scan in enumerate(moisture.scans):
            print(f"| EPO g={g}, wet scans | {scan} | {_score(soc, trained[i])} |")
        print(f"| EPO g={g}, wet scans | all | {_score(np.tile(soc, len(moisture.scans)), trained.ravel())} |")
    if not args.no_nested:
        nested, chosen = nested_moisture_cv(
            study, candidate, pool, moisture, components, args.folds, args.inner_folds, 0, epochs
        )
        print(
            f"\nNested: g chosen among {components} by {args.inner_folds}-fold CV inside each outer "
            f"training set; chosen per outer fold: {chosen}\n"
        )
        print("| EPO | scan | RMSE | bias | R2 |\n| --- | --- | --- | --- | --- |")
        for i, scan in enumerate(moisture.scans):
            print(f"| nested | {scan} | {_score(soc, nested[i])} |")
        print(f"| nested | all | {_score(np.tile(soc, len(moisture.scans)), nested.ravel())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

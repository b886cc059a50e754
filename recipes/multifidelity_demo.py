#!/usr/bin/env python
"""Multi-fidelity spectrum conversion on real soil spectra: a narrow NIR range to the full vis-NIR range.

After Sun, Safanelli, Sanderman et al. (2025), "Self-supervised and multi-fidelity learning for
extended predictive soil spectroscopy" (arXiv:2511.15965), who convert portable NIR scans to MIR
through the frozen decoder of a pretrained MIR VAE. Here, on the 391 Australian soils of
datsoilspc (lab vis-NIR, 350-2500 nm at 1 nm, ``../shared/data/soil/wadoux_soilspec``):

* high fidelity (``lab-asd``): the measured spectrum, 350-2500 nm at 1 nm, reflectance;
* low fidelity (``--demo portable``, default): the same scan resampled to a portable-NIR grid,
  bands centred at 1350-2490 nm every 2 nm with 16 nm FWHM (the OSSL NeoSpectra grid runs to
  2550 nm, but the lab data stop at 2500 nm: bands centred beyond 2490 nm would need data past
  2500 nm); or (``--demo enmap``) the scan resampled to the
  202 EnMAP default bands with EnMAP-like noise (SNR 400 VNIR / 180 SWIR at 30 % reflectance).

The low-fidelity spectra are simulated from the lab scans (same sample, same presentation), so
this is the optimistic end of a real instrument pairing: it shows the mechanism and its error
floor, not the error of a real portable scanner.

``--demo ossl`` is the paper's own kind of pairing: two instruments, vis-NIR (or, with
``--source-scan nir``, the portable NeoSpectra NIR scans) to MIR, read from Open Soil Spectral
Library tables with :func:`eospec.libraries.read_ossl` (``--ossl-dir``, the OSSL v1.2 files as
distributed; see docs/vae.md, "NIR to MIR (OSSL)") and paired by layer id
(:func:`eospec.multifidelity.pair_by_id`, scan repeats averaged). The MIR VAE is pretrained on
every MIR spectrum except those of the test layers (the paired training layers and the MIR-only
layers), in absorbance on the library's wavenumber axis (cm-1, increasing); the vis-NIR encoder is
trained on the training pairs. Without ``--ossl-dir`` it runs on the generated fixture
``tests/data/libraries/ossl_paired`` (96 synthetic layers in the OSSL layout): those numbers are a
mechanism check, not a scientific result. A downstream check follows: a PLSR model of one property
(``--property``, default organic carbon) on the vis-NIR input alone against a PLSR model trained on
measured MIR spectra (all non-test layers) and applied to the converted test spectra.

Steps: a seeded 80/20 split of the soils; a :class:`~eospec.models.vae.SpectralVAE` pretrained on
the training soils' lab spectra plus the other unpaired 350-2500 nm soil spectra we have (datEPO
air-dry/wet/re-dried scans as repeats, specSoilCol, the OSSL sample scans); its decoder frozen; a
low-fidelity encoder trained on the training pairs (:func:`eospec.multifidelity.fit_converter`).
The test soils are converted and compared with their measured spectra
(:func:`eospec.multifidelity.conversion_report`: RMSE in reflectance, per band and overall), and
with two baselines on the same split: ridge regression from the low- to the high-fidelity
spectrum (multi-output, penalty by internal cross-validation) and the VAE's own reconstruction of
the measured spectrum (the ceiling of any conversion through its latent space).

Usage::

    nice -n 19 python recipes/multifidelity_demo.py                      # 1-2.5 minutes, 1 thread
    python recipes/multifidelity_demo.py --demo enmap --out-dir /tmp/mf
    python recipes/multifidelity_demo.py --quick                         # CI-size run
    python recipes/multifidelity_demo.py --demo ossl --quick             # the OSSL-layout fixture, seconds
    python recipes/multifidelity_demo.py --demo ossl --ossl-dir ossl/ --source-scan nir   # the paper's setting
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import eospec  # noqa: E402, F401  (torchvision fallback before lightning is imported)
from eospec.errors import SpectralLibraryError  # noqa: E402
from eospec.libraries import SpectralLibrary, read_datsoilspc, read_ossl, read_wide_csv  # noqa: E402
from eospec.metrics import regression_metrics  # noqa: E402
from eospec.models.vae import SpectralVAE  # noqa: E402
from eospec.multifidelity import (  # noqa: E402
    ConversionReport,
    LearnedConverter,
    SpectralDomain,
    conversion_report,
    convert,
    fit_converter,
    get_domain,
    pair_by_id,
    register_converter,
    register_domain,
    save_converter,
    subset_domain,
    to_domain,
)
from eospec.sensors import ENMAP_DEFAULT_BANDS  # noqa: E402
from eospec.trainers.vae import train_vae  # noqa: E402

log = logging.getLogger("multifidelity_demo")

#: Both networks: fully connected 256-128 on standardised reflectance. (The bundled encoder's
#: log10(1/R) features with a linear shortcut did worse here: converter RMSE 0.0146, ceiling 0.0066.)
MODEL_KWARGS: dict[str, object] = {"hidden": [256, 128]}

#: RMSE is also reported per region: below 1350 nm (outside the portable-NIR input) and above.
REGIONS = {"rmse_350_1349nm": (350.0, 1349.0), "rmse_1350_2500nm": (1350.0, 2500.0)}

#: MIR regions (cm-1): the mineral/organic fingerprint and the O-H/C-H stretching region.
MIR_REGIONS = {"rmse_600_1999cm-1": (600.0, 1999.0), "rmse_2000_4000cm-1": (2000.0, 4000.0)}

#: The OSSL-layout fixture that ``--demo ossl`` reads without ``--ossl-dir`` (synthetic spectra).
OSSL_FIXTURE = REPO / "tests" / "data" / "libraries" / "ossl_paired"

#: Where the OSSL v1.2 tables are published (OSSL manual, chapter "OSSL database access").
OSSL_URL = "https://storage.googleapis.com/soilspec4gg-public/"

#: Fewest paired layers for a train/test split of the OSSL demo.
OSSL_MIN_PAIRS = 10

#: Epochs of ``--demo ossl --quick`` (the fixture is small: 150 epochs take seconds).
OSSL_QUICK_EPOCHS = 150

FIXTURE_NOTE = (
    "FIXTURE RESULT: synthetic spectra in the OSSL layout (tests/data/libraries/ossl_paired); "
    "a mechanism check of the code path, not a scientific result"
)


def shared_data_dir() -> Path:
    """``$EOSPEC_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("EOSPEC_SHARED_DATA", REPO.parent / "shared" / "data"))


def unpaired_lab_spectra(folder: Path) -> SpectralLibrary:
    """Other real 350-2500 nm soil spectra (no pairs needed): datEPO, specSoilCol, OSSL sample scans."""
    parts = []
    for index, label in ((0, "dry"), (2, "re-dried"), (1, "wet")):
        path = folder / "wadoux_soilspec" / f"datEPO_spectra{index}.csv"
        if path.is_file():
            table = read_wide_csv(
                path, wavelength_unit="nm", quantity="absorbance", property_columns=[], metadata_columns=[]
            )
            suffix = "-wet" if label == "wet" else ""
            ids = np.array([f"datEPO-{i}{suffix}" for i in range(len(table))])
            parts.append(
                SpectralLibrary(table.to_quantity("reflectance").spectra, table.wavelengths, "nm", sample_ids=ids)
            )
    path = folder / "wadoux_soilspec" / "specSoilCol.csv"
    if path.is_file():
        table = read_wide_csv(path, wavelength_unit="nm", property_columns=[], metadata_columns=["Soil", "Horizon"])
        ids = np.array([f"specSoilCol-{i}" for i in range(len(table))])
        parts.append(SpectralLibrary(table.spectra, table.wavelengths, "nm", sample_ids=ids))
    path = folder / "ossl_sample" / "sample_visnir_data.csv"
    if path.is_file():
        table = read_wide_csv(path, wavelength_unit="nm", id_column="sample_id", property_columns=[])
        ids = np.array([f"ossl-{i}" for i in table.ids])
        parts.append(SpectralLibrary(table.spectra, table.wavelengths, "nm", sample_ids=ids))
    library = SpectralLibrary.concat(parts, name="unpaired lab spectra")
    finite = np.isfinite(library.spectra).all(axis=1) & (library.spectra > 0).all(axis=1)
    return library.subset(finite)


def check_ossl_folder(folder: Path, scans: Sequence[str], *, lab: bool = True) -> None:
    """Check that an OSSL folder holds the tables a demo needs, naming every missing one.

    Args:
        folder: the folder holding the OSSL v1.2 files (``.csv.gz``, ``.csv`` or ``.parquet``).
        scans: the scan tables needed, e.g. ``("visnir", "mir")``.
        lab: whether the soil-lab table (``ossl_soillab_L1_*``) is needed too.

    Raises:
        FileNotFoundError: If the folder does not exist.
        SpectralLibraryError: If a table is missing (an ``ossl_all_*`` table stands in for all):
            the message lists the missing files and where to download them.
    """
    if not folder.is_dir():
        raise FileNotFoundError(
            f"OSSL folder {str(folder)!r} does not exist: download the OSSL v1.2 tables into a folder "
            f"(from {OSSL_URL}<file name>; see docs/vae.md, 'NIR to MIR (OSSL)') and pass it as --ossl-dir"
        )
    names = [p.name.lower() for p in folder.iterdir() if p.name.lower().endswith((".csv", ".csv.gz", ".parquet"))]
    if any(name.startswith("ossl_all_") for name in names):
        return
    wanted = {scan: f"ossl_{scan}_L0_v1.2.csv.gz" for scan in scans}
    if lab:
        wanted["soillab"] = "ossl_soillab_L1_v1.2.csv.gz"
    missing = [file for kind, file in wanted.items() if not any(n.startswith(f"ossl_{kind}_") for n in names)]
    if missing:
        raise SpectralLibraryError(
            f"OSSL folder {str(folder)!r} lacks {', '.join(missing)}: download "
            + ", ".join(f"{OSSL_URL}{file}" for file in missing)
            + " into it (or use ossl_all_L1_v1.2.csv.gz); see docs/vae.md, 'NIR to MIR (OSSL)'"
        )


def complete_spectra(library: SpectralLibrary, min_fraction: float = 0.95) -> SpectralLibrary:
    """Keep the bands measured in most spectra, then the spectra complete on those bands.

    Real OSSL tables mix datasets whose scans cover different ranges (e.g. vis-NIR from 400 rather
    than 350 nm): dropping every row with a missing band would drop whole datasets.

    Args:
        library: the spectra (N, B), NaN where a band was not measured.
        min_fraction: keep the bands finite in at least this fraction of the spectra.

    Returns:
        The library on the kept bands (same unit and quantity), without spectra that miss one of them.

    Raises:
        SpectralLibraryError: If fewer than two bands are measured often enough.
    """
    finite = np.isfinite(library.spectra)
    bands = finite.mean(axis=0) >= min_fraction
    if bands.sum() < 2:
        raise SpectralLibraryError(
            f"{library.name!r}: fewer than two bands are measured in {min_fraction:.0%} of the spectra: filter the "
            "table to one instrument range first"
        )
    rows = finite[:, bands].all(axis=1)
    if not bands.all() or not rows.all():
        log.info(
            "%s: kept %d of %d bands and %d of %d spectra (complete on those bands)",
            library.name,
            bands.sum(),
            bands.size,
            rows.sum(),
            rows.size,
        )
    kept = library.subset(rows)
    return dataclasses.replace(kept, spectra=np.asarray(kept.spectra)[:, bands], wavelengths=kept.wavelengths[bands])


def library_domain(library: SpectralLibrary, name: str, description: str) -> SpectralDomain:
    """A domain on a library's own axis (FWHM = the band spacing), registered under ``name``."""
    domain = SpectralDomain(
        name, library.wavelengths, library.wavelength_unit, library.quantity, description=description
    )
    register_domain(domain, overwrite=True)
    return domain


def read_ossl_pairs(
    folder: Path, source_scan: str, prop: str | None
) -> tuple[SpectralLibrary, SpectralLibrary, SpectralLibrary]:
    """Read the OSSL source and MIR scans, and pair them by layer id.

    Args:
        folder: the OSSL folder.
        source_scan: ``"visnir"`` or ``"nir"``.
        prop: OSSL property name or prefix for the downstream check (e.g. ``"oc"``), or None.

    Returns:
        ``(source_pairs, mir_pairs, mir_all)``: the paired layers (repeats averaged, same order) and
        every MIR spectrum (one per layer), all without missing values (:func:`complete_spectra`); absorbance on an
        increasing cm-1 axis for MIR, reflectance in nm for the source.

    Raises:
        FileNotFoundError, SpectralLibraryError: If the folder or a table is missing, a property is
            unknown, or fewer than :data:`OSSL_MIN_PAIRS` layers have both scans.
    """
    check_ossl_folder(folder, (source_scan, "mir"), lab=prop is not None)
    properties = [prop] if prop is not None else []
    source = complete_spectra(read_ossl(folder, scan=source_scan, properties=properties)).mean_repeats()
    mir = complete_spectra(read_ossl(folder, scan="mir", properties=properties)).mean_repeats()
    source_pairs, mir_pairs = pair_by_id(source, mir)
    if len(source_pairs) < OSSL_MIN_PAIRS:
        raise SpectralLibraryError(
            f"only {len(source_pairs)} layers of {str(folder)!r} have both a {source_scan} and a MIR scan: the demo "
            f"needs {OSSL_MIN_PAIRS} or more paired layers (ossl_{source_scan}_L0 and ossl_mir_L0 of the same OSSL)"
        )
    return source_pairs, mir_pairs, mir


def fit_stage2(
    args: argparse.Namespace,
    source: SpectralLibrary,
    target: SpectralLibrary,
    test: np.ndarray,
    low: SpectralDomain,
    high: SpectralDomain,
    high_fidelity: Any,
    epochs: int,
) -> Any:
    """Stage 2: a low-fidelity encoder through the frozen high-fidelity decoder, on the training pairs.

    The converter is registered, so ``convert(..., low, high)`` uses it afterwards.
    """
    converter = fit_converter(
        source.subset(~test),
        target.subset(~test),
        low,
        high,
        high_fidelity=high_fidelity,
        converter_kwargs={"lr": 2e-3, "model_kwargs": MODEL_KWARGS, "latent_weight": args.latent_weight},
        converter_epochs=epochs,
        seed=args.seed,
    )
    register_converter(converter, overwrite=True)
    return converter


def compare_conversions(
    high_fidelity: SpectralVAE,
    source: SpectralLibrary,
    target: SpectralLibrary,
    test: np.ndarray,
    low: SpectralDomain,
    high: SpectralDomain,
    regions: dict[str, tuple[float, float]],
) -> tuple[SpectralLibrary, ConversionReport, dict[str, Any], dict[str, SpectralLibrary]]:
    """Convert the test samples and measure them and three baselines against the measured spectra.

    Baselines on the same split: ridge regression low -> high fidelity (multi-output, penalty by
    internal leave-one-out cross-validation, ``sklearn.linear_model.RidgeCV``); the VAE's own
    reconstruction of the measured spectrum (the ceiling of any conversion through its latent
    space); the mean training spectrum for every test sample (the floor any converter must beat).

    Args:
        high_fidelity: the pretrained target-domain VAE.
        source: low-fidelity spectra of all paired samples (N, B_low) on ``low``.
        target: high-fidelity spectra of the same samples (N, B_high) on ``high``.
        test: bool (N,), the test samples.
        low: the source domain (a converter from it to ``high`` must be registered).
        high: the target domain.
        regions: name -> (low, high) band range in ``high.unit`` for per-region RMSE.

    Returns:
        ``(converted, report, summaries, baselines)``: the converted test library (``high``'s axis,
        unit and quantity), its :class:`ConversionReport`, JSON-ready summaries of the converter and
        of each baseline (RMSE in ``high.quantity`` units), and the baseline spectra as libraries.
    """
    from sklearn.linear_model import RidgeCV

    reference = target.subset(test)
    converted = convert(source.subset(test), low, high)
    ridge = RidgeCV(alphas=np.logspace(-6, 2, 17)).fit(source.spectra[~test], target.spectra[~test])
    x_test = np.asarray(reference.spectra, dtype=np.float32)
    baselines = {
        "ridge_baseline": ridge.predict(source.spectra[test]),
        "vae_reconstruction_ceiling": high_fidelity.reconstruct(x_test).numpy(),
        "training_mean_baseline": np.repeat(target.spectra[~test].mean(axis=0, keepdims=True), int(test.sum()), 0),
    }
    libraries = {
        key: SpectralLibrary(values, high.wavelengths, high.unit, quantity=high.quantity, sample_ids=reference.ids)
        for key, values in baselines.items()
    }

    def summary(report: ConversionReport) -> dict[str, Any]:
        return {**report.summary(), **{k: round(report.rmse_between(*r), 6) for k, r in regions.items()}}

    report = conversion_report(converted, reference, high)
    summaries: dict[str, Any] = {"converter": summary(report)}
    for key, library in libraries.items():
        summaries[key] = summary(conversion_report(library, reference, high))
    summaries["ridge_baseline"]["alpha"] = float(ridge.alpha_)
    return converted, report, summaries, libraries


def plsr(quick: bool, seed: int) -> Any:
    """PLSR with the number of components (1-15) chosen by inner k-fold cross-validation."""
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import GridSearchCV, KFold

    folds = KFold(3 if quick else 5, shuffle=True, random_state=seed)
    grid = {"n_components": list(range(1, 11 if quick else 16))}
    return GridSearchCV(PLSRegression(scale=False), grid, cv=folds, scoring="neg_mean_squared_error")


def downstream_check(
    source: SpectralLibrary,
    target: SpectralLibrary,
    mir_all: SpectralLibrary,
    test: np.ndarray,
    converted: dict[str, SpectralLibrary],
    prop: str,
    *,
    quick: bool,
    seed: int,
) -> dict[str, Any]:
    """Is a MIR model on converted spectra better than a model on the low-fidelity input alone?

    The paper's use (Sun et al. 2025): a property model trained on a MIR library, applied to spectra
    converted from another instrument. Models (PLSR, :func:`plsr`), all evaluated on the test layers:

    * ``source_input``: trained on the training pairs' source spectra (absorbance log10(1/R));
    * ``mir_model_on_<name>``: trained on the measured MIR spectra of every non-test layer with the
      property (training pairs and MIR-only layers), applied to the test layers' spectra
      converted by each method (``converter``, ``ridge_baseline``), and to their measured MIR
      spectra (``mir_model_on_measured``: the ceiling);
    * ``mir_pairs_model_on_converter``: the same, trained on the training pairs' MIR only.

    Args:
        source: paired source spectra (N, B_low), reflectance, with the property.
        target: the same layers' MIR spectra (N, B_high), absorbance.
        mir_all: every MIR spectrum (M, B_high), absorbance, with the property.
        test: bool (N,), the test layers.
        converted: method -> converted test spectra (test layers, MIR axis, absorbance).
        prop: the property column.
        quick: smaller inner cross-validation.
        seed: seed of the inner folds.

    Returns:
        JSON-ready metrics per model (:func:`eospec.metrics.regression_metrics`: RMSE, bias, R2,
        RPIQ, Lin's CCC, in the property's unit) and the property name, unit and sample counts.
    """
    y = source.props[prop].to_numpy(dtype=np.float64)
    y_test = y[test]
    test_ids = set(np.asarray(source.ids[test], dtype=str))
    in_test = np.isin(np.asarray(mir_all.ids, dtype=str), list(test_ids))
    y_mir = mir_all.props[prop].to_numpy(dtype=np.float64)
    mir_train = ~in_test & np.isfinite(y_mir)
    pairs_train = ~test & np.isfinite(y)
    if pairs_train.sum() < 5 or not np.isfinite(y_test).any():
        return {"property": prop, "skipped": "too few layers with this property"}
    x_source = np.log10(1.0 / np.clip(np.asarray(source.spectra, dtype=np.float64), 1e-6, None))
    results: dict[str, Any] = {}
    model = plsr(quick, seed).fit(x_source[pairs_train], y[pairs_train])
    results["source_input"] = regression_metrics(y_test, model.predict(x_source[test]).ravel())
    mir_model = plsr(quick, seed).fit(mir_all.spectra[mir_train], y_mir[mir_train])
    for name, library in converted.items():
        results[f"mir_model_on_{name}"] = regression_metrics(y_test, mir_model.predict(library.spectra).ravel())
    results["mir_model_on_measured"] = regression_metrics(y_test, mir_model.predict(target.spectra[test]).ravel())
    pairs_model = plsr(quick, seed).fit(target.spectra[pairs_train], y[pairs_train])
    results["mir_pairs_model_on_converter"] = regression_metrics(
        y_test, pairs_model.predict(converted["converter"].spectra).ravel()
    )
    rounded = {k: {m: round(v, 4) for m, v in metrics.items()} for k, metrics in results.items()}
    return {
        "property": prop,
        "unit": source.property_units.get(prop, ""),
        "n_train_source_model": int(pairs_train.sum()),
        "n_train_mir_model": int(mir_train.sum()),
        "models": rounded,
    }


def markdown_report(summary: dict[str, Any]) -> str:
    """The summary as Markdown tables: conversion RMSE (and the downstream check, if any)."""
    unit = summary["converter"]["quantity"]
    regions = [k for k in summary["converter"] if k.startswith("rmse_")]
    lines = [f"# {summary['source']} -> {summary['target']}", ""]
    if summary.get("note"):
        lines += [f"**{summary['note']}**", ""]
    lines += [
        f"`{summary['command']}`: {summary['n_train_pairs']} training pairs, {summary['n_test']} test samples, "
        f"{summary['epochs']} epochs. RMSE in {unit} units on the test samples.",
        "",
        "| method | " + " | ".join(["all bands", *[r.removeprefix("rmse_") for r in regions]]) + " |",
        "| --- | " + " | ".join(["---"] * (1 + len(regions))) + " |",
    ]
    for key in ("converter", "ridge_baseline", "vae_reconstruction_ceiling", "training_mean_baseline"):
        if key in summary:
            row = summary[key]
            lines.append(f"| {key} | " + " | ".join(f"{row[k]:.4f}" for k in ["rmse", *regions]) + " |")
    downstream = summary.get("downstream")
    if downstream and "models" in downstream:
        lines += [
            "",
            f"Downstream: {downstream['property']} ({downstream['unit']}) on the test samples, PLSR.",
            "",
            "| model | RMSE | R2 | RPIQ | CCC |",
            "| --- | --- | --- | --- | --- |",
        ]
        for key, metrics in downstream["models"].items():
            values = f"{metrics['rmse']:.4f} | {metrics['r2']:.3f} | {metrics['rpiq']:.2f} | {metrics['ccc']:.3f}"
            lines.append(f"| {key} | {values} |")
    return "\n".join(lines) + "\n"


def write_results(
    out_dir: Path, name: str, converter: LearnedConverter, report: ConversionReport, summary: dict[str, Any]
) -> None:
    """Write the converter, the per-band errors (CSV) and the summary (JSON and Markdown)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    save_converter(converter, out_dir, name)
    report.to_frame().to_csv(out_dir / f"{name}_per_band.csv", index=False)
    (out_dir / f"{name}_report.json").write_text(json.dumps(summary, indent=1))
    (out_dir / f"{name}_report.md").write_text(markdown_report(summary))
    print(json.dumps(summary, indent=1))


def run_ossl(args: argparse.Namespace, started: float) -> int:
    """``--demo ossl``: vis-NIR (or portable NIR) to MIR on OSSL tables, and the downstream check."""
    folder = args.ossl_dir or OSSL_FIXTURE
    on_fixture = folder.resolve() == OSSL_FIXTURE.resolve()
    epochs = (OSSL_QUICK_EPOCHS if on_fixture else 10) if args.quick else args.epochs
    prop = args.property or None
    try:
        source, target, mir_all = read_ossl_pairs(folder, args.source_scan, prop)
    except (FileNotFoundError, SpectralLibraryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if prop is not None:
        prop = source.property_names[0]
    low = library_domain(source, f"ossl-{args.source_scan}", f"OSSL {args.source_scan} scans of {folder.name}")
    high = library_domain(target, "ossl-mir", f"OSSL MIR scans of {folder.name}, absorbance")
    rng = np.random.default_rng(args.seed)
    test = np.zeros(len(source), dtype=bool)
    test[rng.permutation(len(source))[: int(round(0.2 * len(source)))]] = True
    test_ids = np.asarray(source.ids[test], dtype=str)
    pretraining = mir_all.subset(~np.isin(np.asarray(mir_all.ids, dtype=str), test_ids))
    log.info(
        "%d paired layers (%d test), %d MIR spectra for the pretraining", len(source), test.sum(), len(pretraining)
    )

    # Stage 1: the MIR VAE, in absorbance on the cm-1 axis, on every MIR spectrum but the test layers'.
    high_fidelity = train_vae(
        np.asarray(pretraining.spectra, dtype=np.float32),
        np.asarray(pretraining.ids, dtype=str),
        epochs=epochs,
        seed=args.seed,
        latent_dim=args.latent_dim,
        beta=1e-6,
        kl_warmup_epochs=10,
        lr=2e-3,
        model_kwargs={**MODEL_KWARGS, "quantity": "absorbance"},
    )
    # Stage 2: the source encoder through the frozen MIR decoder, on the training pairs.
    converter = fit_stage2(args, source, target, test, low, high, high_fidelity, epochs)
    converted, report, summaries, baselines = compare_conversions(
        high_fidelity, source, target, test, low, high, MIR_REGIONS
    )
    downstream = None
    if prop is not None:
        methods = {"converter": converted, "ridge_baseline": baselines["ridge_baseline"]}
        downstream = downstream_check(source, target, mir_all, test, methods, prop, quick=args.quick, seed=args.seed)
    name = f"{low.name}_to_{high.name}".replace("-", "_")
    command = "python recipes/multifidelity_demo.py --demo ossl" + (
        f" --ossl-dir {args.ossl_dir}" if args.ossl_dir else ""
    )
    command += f" --source-scan {args.source_scan}" if args.source_scan != "visnir" else ""
    command += " --quick" if args.quick else ""
    summary: dict[str, Any] = {
        "demo": "ossl",
        "data": "fixture" if on_fixture else str(folder),
        "note": FIXTURE_NOTE if on_fixture else "",
        "source": low.name,
        "target": high.name,
        "target_unit": high.unit,
        "target_quantity": high.quantity,
        "n_train_pairs": int((~test).sum()),
        "n_test": int(test.sum()),
        "n_mir_pretraining": len(pretraining),
        "epochs": epochs,
        "latent_dim": args.latent_dim,
        "latent_weight": args.latent_weight,
        **summaries,
        "downstream": downstream,
        "seconds": round(time.perf_counter() - started, 1),
        "command": command,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    # The converted test spectra, in the OSSL MIR layout (read back with read_ossl(path, scan="mir")).
    table = pd.DataFrame({"id.layer_uuid_txt": np.asarray(converted.ids, dtype=str)})
    columns = [f"scan_mir.{w:g}_abs" for w in converted.wavelengths]
    table = pd.concat([table, pd.DataFrame(np.asarray(converted.spectra), columns=columns)], axis=1)
    table.to_csv(args.out_dir / "ossl_mir_converted_test.csv", index=False)
    write_results(args.out_dir, name, converter, report, summary)
    return 0


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--demo", choices=["portable", "enmap", "ossl"], default="portable")
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/eospec_multifidelity"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="CI-size run (10 epochs; 150 on the OSSL fixture)")
    parser.add_argument(
        "--latent-weight",
        type=float,
        default=0.0,
        help="weight of the distance to the high-fidelity encoder's means (0: reconstruction only, as the paper)",
    )
    parser.add_argument(
        "--ossl-dir",
        type=Path,
        default=None,
        help="--demo ossl: folder of the downloaded OSSL v1.2 tables (default: the synthetic fixture "
        "tests/data/libraries/ossl_paired)",
    )
    parser.add_argument(
        "--source-scan",
        choices=["visnir", "nir"],
        default="visnir",
        help="--demo ossl: the low-fidelity scans (nir: the portable NeoSpectra scans of the paper)",
    )
    parser.add_argument(
        "--property",
        default="oc",
        help="--demo ossl: OSSL property (name or prefix) of the downstream check; '' to skip it",
    )
    parser.add_argument("--latent-dim", type=int, default=32, help="--demo ossl: latent dimensions of the MIR VAE")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    warnings.filterwarnings("ignore", message=".*(treespec|eval mode|num_workers|does not have many workers).*")
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.demo == "ossl":
        return run_ossl(args, started)
    epochs = 10 if args.quick else args.epochs
    folder = shared_data_dir() / "soil"
    path = folder / "wadoux_soilspec" / "datsoilspc.csv"
    if not path.is_file():
        log.error("datsoilspc.csv not found under %s: set EOSPEC_SHARED_DATA", folder)
        return 1
    lab = read_datsoilspc(path)
    lab = lab.subset(np.isfinite(lab.spectra).all(axis=1))
    high = get_domain("lab-asd")
    if args.demo == "portable":
        low = subset_domain("portable-nir", 1350.0, 2490.0, name="portable-nir-1350-2490")
        source = to_domain(lab, low)
    else:
        low = get_domain("enmap")
        source = to_domain(lab, low, edge_nm=10.0)
        sigma = np.where(np.asarray(ENMAP_DEFAULT_BANDS) <= 91, 0.3 / 400.0, 0.3 / 180.0)
        noisy = source.spectra + np.random.default_rng(args.seed).normal(0.0, 1.0, source.spectra.shape) * sigma
        source = SpectralLibrary(np.clip(noisy, 1e-4, None), source.wavelengths, "nm", sample_ids=source.ids)
    target = to_domain(lab, high)
    rng = np.random.default_rng(args.seed)
    test = np.zeros(len(lab), dtype=bool)
    test[rng.permutation(len(lab))[: int(round(0.2 * len(lab)))]] = True
    unpaired = unpaired_lab_spectra(folder)
    log.info("%d pairs (%d test), %d unpaired lab spectra", len(lab), test.sum(), len(unpaired))

    # Stage 1: a VAE of the high-fidelity domain, on the training soils and the unpaired spectra.
    pretraining = np.concatenate([target.spectra[~test], to_domain(unpaired, high).spectra])
    ids = np.concatenate([np.asarray(target.ids[~test], dtype=str), np.asarray(unpaired.ids, dtype=str)])
    high_fidelity = train_vae(
        pretraining,
        ids,
        epochs=epochs,
        seed=args.seed,
        latent_dim=32,
        beta=1e-6,
        kl_warmup_epochs=10,
        lr=2e-3,
        model_kwargs=MODEL_KWARGS,
    )
    # Stage 2: a low-fidelity encoder through the frozen decoder, on the training pairs.
    converter = fit_stage2(args, source, target, test, low, high, high_fidelity, epochs)
    _, report, summaries, _ = compare_conversions(high_fidelity, source, target, test, low, high, REGIONS)
    name = f"{low.name}_to_{high.name}".replace("-", "_")
    summary = {
        "demo": args.demo,
        "source": low.name,
        "target": high.name,
        "n_train_pairs": int((~test).sum()),
        "n_test": int(test.sum()),
        "n_unpaired_pretraining": len(unpaired),
        "epochs": epochs,
        "latent_weight": args.latent_weight,
        **summaries,
        "seconds": round(time.perf_counter() - started, 1),
        "command": "python recipes/multifidelity_demo.py"
        + (f" --demo {args.demo}" if args.demo != "portable" else "")
        + (f" --latent-weight {args.latent_weight:g}" if args.latent_weight else ""),
    }
    write_results(args.out_dir, name, converter, report, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""Downstream evaluation of the spectral embeddings and the multi-fidelity converter (issue 5, "Evaluation").

Tests two claims of Sun, Safanelli, Sanderman et al. (2025), "Self-supervised and multi-fidelity
learning for extended predictive soil spectroscopy" (arXiv:2511.15965), on the real soil data we have:

1. models on the 32-d embeddings of the bundled encoder ``vae_enmap`` match or beat the baselines on
   the spectra themselves;
2. models on spectra converted from a narrow portable-NIR range to the full range are worse than
   models on the measured full-range spectra but at least as good as models on the narrow range alone.

Data (``../shared/data`` or ``$EOSPEC_SHARED_DATA``): the LimeSoDa vis-NIR datasets whose spectra
cover the EnMAP bands (418-2446 nm: CV.98, SC.93, SL.125, SSP.460, UL.120; properties SOC or SOM, pH,
Clay; LimeSoDa's own 10 CV folds) and datsoilspc (391 Australian soils; TotalCarbon, clay, silt, sand;
seeded 10-fold CV, it has no folds of its own). MG.44 and SSP.58 stop at 2153 nm and SP.231 at 1700 nm,
RP.62/SA.112 start at 1000 nm, NIRsoil is NIR only (1100-2498 nm): none covers the EnMAP bands, so
they are left out.

Feature sets (all from reflectance):

* ``spectra``: the spectrum at the 202 EnMAP default bands (Gaussian SRF resampling,
  :func:`eospec.embedding.spectra_at_bands`), as absorbance log10(1/R);
* ``embedding``: the 32 latent means of ``vae_enmap`` (:func:`eospec.embedding.embed_library`);
* ``converted``: the portable-NIR spectrum (1350-2490 nm every 2 nm, 16 nm FWHM, simulated from the
  lab scan) converted to the 202 EnMAP bands by a learned converter (Sun et al. 2025: a low-fidelity
  encoder into the frozen ``vae_enmap`` decoder, :func:`eospec.multifidelity.fit_converter`), absorbance.
  The converter never sees the evaluated dataset: it is trained on the spectra of datsoilspc for the
  LimeSoDa sets, and on the pooled LimeSoDa spectra for datsoilspc and the independent tests;
* ``low_fidelity``: the portable-NIR spectrum itself, absorbance.

Models: on spectra (all three spectral feature sets) PLSR (components 1-20 chosen by inner 5-fold
CV), a gradient-boosting tree ensemble (scikit-learn HistGradientBoostingRegressor, the
"Cubist-like" tree baseline) and an MLP (one hidden layer of 64, standardised inputs and target);
on embeddings ridge (penalty by inner CV), the same GBM and MLP. Metrics
(:func:`eospec.metrics.regression_metrics`): RMSE, bias (mean predicted - observed), R2, Lin's CCC,
RPIQ, computed on the pooled out-of-fold predictions.

Independent ("gold standard") tests: models trained on the pooled LimeSoDa sets and tested on
datsoilspc: SOC (%) -> TotalCarbon (g/100 g, i.e. %; datsoilspc soils carry no carbonate, so total
carbon is organic carbon); the SOM of SL.125 and UL.120 is converted to SOC with the van Bemmelen
factor (SOC = SOM / 1.724); clay (%) -> clay (%).

Usage::

    nice -n 19 python recipes/evaluate_embeddings.py            # about 6 minutes, 2 threads
    python recipes/evaluate_embeddings.py --quick               # CI-size: CV.98 only, 3 folds, tiny models

Writes ``<out-dir>/metrics.csv`` (one row per dataset x property x validation x features x model)
and ``<out-dir>/summary.json`` (settings, timings, the claim checks).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import eospec  # noqa: E402, F401  (torchvision fallback before lightning is imported)
from eospec.embedding import embed_library, encoder_bands, load_encoder, resolve_encoder, spectra_at_bands  # noqa: E402
from eospec.libraries import SpectralLibrary, read_datsoilspc, read_limesoda  # noqa: E402
from eospec.metrics import regression_metrics  # noqa: E402
from eospec.models.vae import SpectralVAE  # noqa: E402
from eospec.multifidelity import LearnedConverter, fit_converter, get_domain, subset_domain, to_domain  # noqa: E402

log = logging.getLogger("evaluate_embeddings")

#: LimeSoDa vis-NIR sets that cover the 202 EnMAP bands.
LIMESODA_SETS = ("CV.98", "SC.93", "SL.125", "SSP.460", "UL.120")
#: van Bemmelen factor: SOM = 1.724 SOC (Nelson & Sommers 1996).
VAN_BEMMELEN = 1.724
FEATURE_SETS = ("spectra", "embedding", "converted", "low_fidelity")
SPECTRAL_MODELS = ("plsr", "gbm", "mlp")
EMBEDDING_MODELS = ("ridge", "gbm", "mlp")
METRICS = ("rmse", "bias", "r2", "ccc", "rpiq")
ENCODER = "vae_enmap"


def shared_data_dir() -> Path:
    """``$EOSPEC_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("EOSPEC_SHARED_DATA", REPO.parent / "shared" / "data"))


def models_for(features: str, *, quick: bool = False, seed: int = 0) -> dict[str, Callable[[], Any]]:
    """Factories of the scikit-learn regressors compared on one feature set.

    Args:
        features: one of :data:`FEATURE_SETS`.
        quick: small models (CI).
        seed: random state of GBM and MLP.

    Returns:
        ``{model name: factory}``; each factory returns an unfitted estimator with ``fit(X, y)`` /
        ``predict(X)`` on X float (n, p) and y float (n,).
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    iterations = 20 if quick else 100

    def gbm() -> Any:
        return HistGradientBoostingRegressor(max_iter=iterations, learning_rate=0.05, random_state=seed)

    def mlp() -> Any:
        network = MLPRegressor(hidden_layer_sizes=(64,), alpha=1e-2, max_iter=50 if quick else 500, random_state=seed)
        return TransformedTargetRegressor(make_pipeline(StandardScaler(), network), transformer=StandardScaler())

    def plsr() -> Any:
        grid = {"n_components": list(range(1, (5 if quick else 20) + 1))}
        return GridSearchCV(PLSRegression(scale=False), grid, cv=3 if quick else 5, scoring="neg_mean_squared_error")

    def ridge() -> Any:
        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 4, 15)))

    if features == "embedding":
        return {"ridge": ridge, "gbm": gbm, "mlp": mlp}
    return {"plsr": plsr, "gbm": gbm, "mlp": mlp}


@dataclass
class FeatureSets:
    """The four feature matrices of one library (rows aligned with the library)."""

    name: str
    library: SpectralLibrary
    matrices: dict[str, np.ndarray] = field(default_factory=dict)


def absorbance(reflectance: np.ndarray) -> np.ndarray:
    """log10(1/R) of reflectance (n, b), clipped at R = 1e-4."""
    return np.asarray(-np.log10(np.clip(reflectance, 1e-4, None)), dtype=np.float64)


def build_features(name: str, library: SpectralLibrary, converter: LearnedConverter) -> FeatureSets:
    """Spectra, embeddings, converted and low-fidelity spectra of a library.

    Args:
        name: label of the data set.
        library: reflectance spectra in nm covering 418-2490 nm.
        converter: portable-NIR -> EnMAP converter trained on other data.

    Returns:
        The :class:`FeatureSets` (float64 matrices (n, 202), (n, 32), (n, 202), (n, 571)).
    """
    metadata, _ = resolve_encoder(ENCODER)
    centres, fwhm = encoder_bands(metadata)
    high = spectra_at_bands(library, centres, fwhm, quantity="reflectance")
    embedding = embed_library(library, ENCODER)
    latent = embedding[[c for c in embedding.columns if c.startswith("z_")]].to_numpy(np.float64)
    low = np.asarray(to_domain(library, converter.source, edge_nm=10.0).spectra, dtype=np.float64)
    converted = np.asarray(converter(low), dtype=np.float64)
    return FeatureSets(
        name,
        library,
        {
            "spectra": absorbance(high),
            "embedding": latent,
            "converted": absorbance(converted),
            "low_fidelity": absorbance(low[:, ::4]),
        },
    )


def train_converter_on(libraries: Sequence[SpectralLibrary], *, epochs: int, seed: int) -> LearnedConverter:
    """A portable-NIR (1350-2490 nm) -> EnMAP converter through the frozen ``vae_enmap`` decoder.

    Args:
        libraries: reflectance spectra (nm) covering 418-2490 nm, pooled; only the spectra are used.
        epochs: converter epochs.
        seed: seed.

    Returns:
        The :class:`~eospec.multifidelity.LearnedConverter` (not registered).
    """
    low = subset_domain("portable-nir", 1350.0, 2490.0, name="portable-nir-1350-2490")
    high = get_domain("enmap")

    def pooled(domain: Any, edge_nm: float) -> SpectralLibrary:
        parts = [to_domain(library, domain, edge_nm=edge_nm) for library in libraries]
        renamed = [
            SpectralLibrary(p.spectra, p.wavelengths, "nm", sample_ids=np.array([f"{k}-{i}" for i in range(len(p))]))
            for k, p in enumerate(parts)
        ]
        return SpectralLibrary.concat(renamed, name="converter pairs")

    decoder = load_encoder(ENCODER).module
    if not isinstance(decoder, SpectralVAE):
        raise TypeError(f"encoder {ENCODER!r} does not load as a SpectralVAE: check its architecture type")
    return fit_converter(
        pooled(low, 10.0),
        pooled(high, 10.0),
        low,
        high,
        high_fidelity=decoder,
        converter_kwargs={"lr": 2e-3, "model_kwargs": {"hidden": [256, 128]}},
        converter_epochs=epochs,
        seed=seed,
    )


def cross_validated(x: np.ndarray, y: np.ndarray, folds: np.ndarray, factory: Callable[[], Any]) -> np.ndarray:
    """Out-of-fold predictions (n,) of a model: fit on all other folds, predict each fold."""
    predicted = np.full(y.shape, np.nan)
    for fold in np.unique(folds):
        test = folds == fold
        model = factory().fit(x[~test], y[~test])
        predicted[test] = np.ravel(model.predict(x[test]))
    return predicted


def metric_row(observed: np.ndarray, predicted: np.ndarray, **labels: Any) -> dict[str, Any]:
    """Labels plus :func:`eospec.metrics.regression_metrics` of one set of predictions."""
    return {**labels, **regression_metrics(observed, predicted)}


def evaluate_cv(
    sets: FeatureSets,
    properties: Sequence[str],
    folds: np.ndarray,
    *,
    quick: bool,
    seed: int,
    predictions: list[pd.DataFrame] | None = None,
) -> list[dict[str, Any]]:
    """Cross-validated metrics of every feature set x model for each property of one data set."""
    rows = []
    units = sets.library.property_units
    for prop in properties:
        y = sets.library.props[prop].to_numpy(np.float64)
        keep = np.isfinite(y)
        for features in FEATURE_SETS:
            x = sets.matrices[features]
            ok = keep & np.isfinite(x).all(axis=1)
            for model, factory in models_for(features, quick=quick, seed=seed).items():
                started = time.perf_counter()
                predicted = cross_validated(x[ok], y[ok], folds[ok], factory)
                rows.append(
                    metric_row(
                        y[ok],
                        predicted,
                        dataset=sets.name,
                        property=prop,
                        unit=units.get(prop, ""),
                        validation=f"cv-{len(np.unique(folds[ok]))}fold",
                        features=features,
                        model=model,
                        seconds=round(time.perf_counter() - started, 2),
                    )
                )
                if predictions is not None:
                    predictions.append(
                        pd.DataFrame(
                            {
                                "dataset": sets.name,
                                "property": prop,
                                "features": features,
                                "model": model,
                                "observed": y[ok],
                                "predicted": predicted,
                            }
                        )
                    )
        log.info("%s: %s done", sets.name, prop)
    return rows


def evaluate_independent(
    train: Sequence[tuple[FeatureSets, str, float]],
    test: tuple[FeatureSets, str],
    label: str,
    unit: str,
    *,
    quick: bool,
    seed: int,
) -> list[dict[str, Any]]:
    """Metrics of models fitted on pooled training sets and tested on another data set.

    Args:
        train: (feature sets, property, factor) per training set; the property times factor is
            the pooled target.
        test: (feature sets, property) of the independent set.
        label: property label in the table.
        unit: unit of the pooled target and the test property.
        quick: small models.
        seed: seed.

    Returns:
        One row per feature set x model.
    """
    rows = []
    test_sets, test_property = test
    y_test = test_sets.library.props[test_property].to_numpy(np.float64)
    for features in FEATURE_SETS:
        x_parts, y_parts = [], []
        for sets, prop, factor in train:
            x_parts.append(sets.matrices[features])
            y_parts.append(sets.library.props[prop].to_numpy(np.float64) * factor)
        x, y = np.concatenate(x_parts), np.concatenate(y_parts)
        ok = np.isfinite(y) & np.isfinite(x).all(axis=1)
        x_test = test_sets.matrices[features]
        ok_test = np.isfinite(y_test) & np.isfinite(x_test).all(axis=1)
        for model, factory in models_for(features, quick=quick, seed=seed).items():
            started = time.perf_counter()
            fitted = factory().fit(x[ok], y[ok])
            predicted = np.ravel(fitted.predict(x_test[ok_test]))
            rows.append(
                metric_row(
                    y_test[ok_test],
                    predicted,
                    dataset=f"{'+'.join(s.name for s, _, _ in train)} -> {test_sets.name}",
                    property=label,
                    unit=unit,
                    validation="independent",
                    features=features,
                    model=model,
                    seconds=round(time.perf_counter() - started, 2),
                )
            )
    return rows


def claim_checks(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The two claims per dataset x property x validation, on the best model of each feature set (by RMSE).

    Returns:
        Rows with the best RMSE per feature set and booleans ``embedding_matches_spectra`` (best
        embedding RMSE <= 1.05 x best spectra RMSE), ``converted_worse_than_high`` and
        ``converted_at_least_low`` (best converted RMSE <= best low-fidelity RMSE).
    """
    rows = []
    for (dataset, prop, validation), group in table.groupby(["dataset", "property", "validation"], sort=False):
        best = group.groupby("features")["rmse"].min()
        rows.append(
            {
                "dataset": dataset,
                "property": prop,
                "validation": validation,
                **{f"best_rmse_{k}": round(float(v), 4) for k, v in best.items()},
                "embedding_matches_spectra": bool(best["embedding"] <= 1.05 * best["spectra"]),
                "converted_worse_than_high": bool(best["converted"] > best["spectra"]),
                "converted_at_least_low": bool(best["converted"] <= best["low_fidelity"]),
            }
        )
    return rows


def finite_rows(library: SpectralLibrary) -> SpectralLibrary:
    """The spectra without missing values and with positive reflectance."""
    spectra = np.asarray(library.spectra)
    return library.subset(np.isfinite(spectra).all(axis=1) & (spectra > 0).all(axis=1))


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "recipes" / "results" / "embeddings")
    parser.add_argument("--quick", action="store_true", help="CI-size run: CV.98 only, 3 folds, small models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--converter-epochs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save-predictions", action="store_true", help="also write predictions.csv")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    warnings.filterwarnings("ignore", message=".*(treespec|eval mode|num_workers|does not have many workers).*")
    warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    folder = shared_data_dir() / "soil" / "wadoux_soilspec" / "datsoilspc.csv"
    if not folder.is_file():
        log.error("datsoilspc.csv not found at %s: set EOSPEC_SHARED_DATA", folder)
        return 1
    datsoilspc = finite_rows(read_datsoilspc(folder))
    names = LIMESODA_SETS[:1] if args.quick else LIMESODA_SETS
    limesoda = {name: finite_rows(read_limesoda(name)) for name in names}
    epochs = 2 if args.quick else args.converter_epochs

    # Converters trained on data other than the evaluated set (spectra only, no properties).
    pairs = datsoilspc.subset(np.arange(len(datsoilspc)) % 4 == 0) if args.quick else datsoilspc
    from_datsoilspc = train_converter_on([pairs], epochs=epochs, seed=args.seed)
    if args.quick:
        from_limesoda = from_datsoilspc
    else:
        from_limesoda = train_converter_on(list(limesoda.values()), epochs=epochs, seed=args.seed)
    log.info("converters trained (%.0f s)", time.perf_counter() - started)
    sets = {name: build_features(name, lib, from_datsoilspc) for name, lib in limesoda.items()}
    rows: list[dict[str, Any]] = []
    predictions: list[pd.DataFrame] | None = [] if args.save_predictions else None
    for feature_sets in sets.values():
        folds = np.asarray(feature_sets.library.folds)
        if args.quick:
            folds = folds % 3
        properties = feature_sets.library.property_names[:1] if args.quick else feature_sets.library.property_names
        rows += evaluate_cv(feature_sets, properties, folds, quick=args.quick, seed=args.seed, predictions=predictions)
    if not args.quick:
        target = build_features("datsoilspc", datsoilspc, from_limesoda)
        folds = np.random.default_rng(args.seed).permutation(len(datsoilspc)) % 10
        rows += evaluate_cv(
            target, target.library.property_names, folds, quick=False, seed=args.seed, predictions=predictions
        )
        pooled_sets = {name: build_features(name, lib, from_limesoda) for name, lib in limesoda.items()}
        soc = [
            (pooled_sets[n], "SOC", 1.0) if "SOC" in lib.property_names else (pooled_sets[n], "SOM", 1 / VAN_BEMMELEN)
            for n, lib in limesoda.items()
        ]
        rows += evaluate_independent(
            soc, (target, "TotalCarbon"), "SOC / TotalCarbon", "%", quick=False, seed=args.seed
        )
        clay = [(pooled_sets[n], "Clay", 1.0) for n in limesoda]
        rows += evaluate_independent(clay, (target, "clay"), "Clay / clay", "%", quick=False, seed=args.seed)
        log.info("independent tests done")
    table = pd.DataFrame(rows)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out_dir / "metrics.csv", index=False, float_format="%.5g")
    if predictions:
        pd.concat(predictions).to_csv(args.out_dir / "predictions.csv", index=False)
    summary = {
        "command": "python recipes/evaluate_embeddings.py" + (" --quick" if args.quick else ""),
        "encoder": ENCODER,
        "converter_epochs": epochs,
        "datasets": [*names, *([] if args.quick else ["datsoilspc"])],
        "seconds": round(time.perf_counter() - started, 1),
        "claims": claim_checks(table),
    }
    (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(table.to_string(max_rows=400))
    log.info("done in %.0f s", summary["seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

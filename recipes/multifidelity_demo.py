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
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import eospec  # noqa: E402, F401  (torchvision fallback before lightning is imported)
from eospec.libraries import SpectralLibrary, read_datsoilspc, read_wide_csv  # noqa: E402
from eospec.multifidelity import (  # noqa: E402
    conversion_report,
    convert,
    fit_converter,
    get_domain,
    register_converter,
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


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--demo", choices=["portable", "enmap"], default="portable")
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/eospec_multifidelity"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="CI-size run (10 epochs)")
    parser.add_argument(
        "--latent-weight",
        type=float,
        default=0.0,
        help="weight of the distance to the high-fidelity encoder's means (0: reconstruction only, as the paper)",
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    warnings.filterwarnings("ignore", message=".*(treespec|eval mode|num_workers|does not have many workers).*")
    import torch
    from sklearn.linear_model import RidgeCV

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
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
    converted = convert(source.subset(test), low, high)
    report = conversion_report(converted, target.subset(test))

    # Baselines on the same split.
    ridge = RidgeCV(alphas=np.logspace(-6, 2, 17)).fit(source.spectra[~test], target.spectra[~test])
    ridge_library = SpectralLibrary(ridge.predict(source.spectra[test]), high.wavelengths, "nm")
    ridge_report = conversion_report(ridge_library, target.subset(test))
    ceiling = high_fidelity.reconstruct(target.spectra[test].astype(np.float32)).numpy()
    ceiling_report = conversion_report(SpectralLibrary(ceiling, high.wavelengths, "nm"), target.subset(test))

    args.out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{low.name}_to_{high.name}".replace("-", "_")
    save_converter(converter, args.out_dir, name)
    report.to_frame().to_csv(args.out_dir / f"{name}_per_band.csv", index=False)
    summary = {
        "demo": args.demo,
        "source": low.name,
        "target": high.name,
        "n_train_pairs": int((~test).sum()),
        "n_test": int(test.sum()),
        "n_unpaired_pretraining": len(unpaired),
        "epochs": epochs,
        "latent_weight": args.latent_weight,
        "converter": {**report.summary(), **{k: round(report.rmse_between(*r), 6) for k, r in REGIONS.items()}},
        "ridge_baseline": {
            **ridge_report.summary(),
            **{k: round(ridge_report.rmse_between(*r), 6) for k, r in REGIONS.items()},
            "alpha": float(ridge.alpha_),
        },
        "vae_reconstruction_ceiling": {
            **ceiling_report.summary(),
            **{k: round(ceiling_report.rmse_between(*r), 6) for k, r in REGIONS.items()},
        },
        "seconds": round(time.perf_counter() - started, 1),
        "command": "python recipes/multifidelity_demo.py"
        + (f" --demo {args.demo}" if args.demo != "portable" else "")
        + (f" --latent-weight {args.latent_weight:g}" if args.latent_weight else ""),
    }
    (args.out_dir / f"{name}_report.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

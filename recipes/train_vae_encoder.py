#!/usr/bin/env python
"""Pretrain eospec's bundled spectral encoder ``vae_enmap``: a 32-dimensional VAE at the 202 EnMAP bands.

Self-supervised pretraining after Sun, Safanelli, Sanderman et al. (2025), "Self-supervised and
multi-fidelity learning for extended predictive soil spectroscopy" (arXiv:2511.15965): a VAE learns a
compressed latent space from unlabelled spectra; scan repeats serve as extra views. The paper
pretrains on the KSSL MIR library; the encoder bundled here is for EnMAP, so its corpus is every
real laboratory vis-NIR soil spectrum we have that covers the EnMAP range, resampled to the 202
EnMAP default bands (:data:`eospec.sensors.ENMAP_DEFAULT_BANDS`) with Gaussian SRFs:

* earthlib soils (LEVEL_3 ``soil``: 4,168 ICRAF-ISRIC soil spectral library spectra and 17 ASD
  soils; 400-2450 nm at 10 nm; earthlib package, MIT);
* LimeSoDa vis-NIR sets SSP.460, CV.98, SC.93, UL.120, SL.125 (Schmidinger et al. 2025, CC BY-SA
  4.0; 420-2500 nm); fold 10 of each is never used for training (as for the ``soc`` model): it is
  part of the held-out set;
* ``../shared/data/soil/wadoux_soilspec``: datsoilspc (391 soils, 350-2500 nm), datEPO (100 soils
  scanned air-dry, wet and re-dried, absorbance; air-dry and re-dried scans are repeats of one
  sample, the wet scan a sample of its own that shares the soil's split) and specSoilCol (12);
  ``../shared/data/soil/ossl_sample/sample_visnir_data.csv`` (20 KSSL vis-NIR scans). MIT.

Left out, because they do not cover 420-2440 nm and so cannot form all 202 bands: NIRsoil
(1100-2498 nm), LimeSoDa MG.44 and SSP.58 (431-2153 nm), SP.231 (350-1700 nm), SA.112 and RP.62
(NIR 1000-2400 nm), and every MIR set (LimeSoDa MIR, the KSSL MIR table): they belong to other
encoders (``eospec.multifidelity``). Spectra are extended by at most 10 nm at their ends
(:func:`eospec.embedding.spectra_at_bands`), which only matters for band 1 (418 nm) of the
LimeSoDa sets that start at 420 nm and band 224 (2446 nm) of earthlib, which ends at 2450 nm.

Split: held out (never trained on, never used for selection) are LimeSoDa fold 10 and a seeded
10 % of the soils of every other dataset (earthlib soils grouped by site coordinates, so that the
horizons of one profile stay together). A seeded 10 % of the remaining soils is the validation set
that picks between candidates (reflectance or log10(1/R) features; ``--with-conv`` adds the 1-D
convolutional VAE) and drives the learning-rate schedule; the chosen candidate is trained on the
training set and evaluated once on the held-out set, where it is compared with a PCA with 32
components fitted on the training + validation spectra (reconstruction RMSE in reflectance).
Views: another scan of the same sample where there are repeats, otherwise the spectrum itself, with
additive EnMAP-like noise (SNR 400 VNIR / 180 SWIR at 30 % reflectance; Guanter et al. 2015,
Remote Sens. 7, 8830) decoded to the clean spectrum.

Usage::

    nice -n 19 python recipes/train_vae_encoder.py                 # the bundled weights (about 6 min, 1 thread)
    python recipes/train_vae_encoder.py --quick --out-dir /tmp/vae  # CI-size run (under 30 s)
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
import numpy.typing as npt
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import eospec  # noqa: E402, F401  (torchvision fallback before lightning is imported)
from eospec.embedding import read_earthlib, spectra_at_bands  # noqa: E402
from eospec.libraries import SpectralLibrary, read_datsoilspc, read_limesoda, read_wide_csv  # noqa: E402
from eospec.sensors import ENMAP_DEFAULT_BANDS, enmap  # noqa: E402

log = logging.getLogger("train_vae_encoder")

FloatArray = npt.NDArray[np.float64]

LIMESODA_SETS = ("SSP.460", "CV.98", "SC.93", "UL.120", "SL.125")
HELD_OUT_FOLD = 10
HELD_OUT_FRACTION = 0.1
VALIDATION_FRACTION = 0.1
SNR_VNIR, SNR_SWIR, NOISE_REFERENCE = 400.0, 180.0, 0.3

LIMESODA_SOURCE = (
    "Schmidinger J. et al. (2025) LimeSoDa, Geoderma (arXiv:2502.20139); Python package limesoda, "
    "https://github.com/a11to1n3/LimeSoDa"
)
WADOUX_SOURCE = "https://github.com/AlexandreWadoux/soilspec (data/*.rda), via ../shared/data/soil/wadoux_soilspec"


@dataclass
class Corpus:
    """Spectra at the EnMAP default bands with their provenance.

    Attributes:
        reflectance: float64 (N, 202), reflectance 0-1.
        dataset: str (N,), dataset name of each spectrum.
        sample_id: str (N,), sample ids (scan repeats share one).
        group: str (N,), split unit (a soil, or an earthlib site).
        held_out: bool (N,), never used for training or selection.
        info: ``training_data`` entries of the metadata.
    """

    reflectance: FloatArray
    dataset: npt.NDArray[np.str_]
    sample_id: npt.NDArray[np.str_]
    group: npt.NDArray[np.str_]
    held_out: npt.NDArray[np.bool_]
    info: list[dict[str, Any]] = field(default_factory=list)


def enmap_default_bands() -> tuple[FloatArray, FloatArray]:
    """Centres and FWHM (nm) of the 202 EnMAP default bands."""
    sensor = enmap()
    index = np.asarray(ENMAP_DEFAULT_BANDS) - 1
    return sensor.wavelengths_nm[index], sensor.fwhm_nm[index]


def noise_sigma() -> FloatArray:
    """EnMAP-like noise standard deviation (reflectance) per default band, (202,)."""
    vnir = np.asarray(ENMAP_DEFAULT_BANDS) <= 91
    return np.where(vnir, NOISE_REFERENCE / SNR_VNIR, NOISE_REFERENCE / SNR_SWIR)


def shared_data_dir() -> Path:
    """``$EOSPEC_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("EOSPEC_SHARED_DATA", REPO.parent / "shared" / "data"))


def _split_groups(groups: npt.ArrayLike, fraction: float, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """True for the rows of a seeded ``fraction`` of the distinct groups."""
    values = np.asarray(groups)
    unique = pd.unique(values)
    chosen = rng.permutation(unique.size)[: int(round(fraction * unique.size))]
    return np.isin(values, unique[chosen])


def load_corpus(seed: int = 0) -> Corpus:
    """Read, resample and split every source (module docstring).

    Args:
        seed: seed of the held-out split.

    Returns:
        The corpus.
    """
    centres, fwhm = enmap_default_bands()
    rng = np.random.default_rng(seed)
    parts: list[tuple[str, SpectralLibrary, npt.NDArray[np.str_], npt.NDArray[np.bool_] | None, dict[str, Any]]] = []

    soils = read_earthlib("soil")
    sites = (soils.meta["lat"].round(4).astype(str) + "," + soils.meta["lon"].round(4).astype(str)).to_numpy()
    parts.append(
        (
            "earthlib",
            soils,
            np.array([f"earthlib-site-{s}" for s in sites]),
            None,
            {
                "name": "earthlib soils (LEVEL_3 'soil': ICRAF-ISRIC soil spectral library and ASD soils)",
                "spectra": "reflectance 0-1, 400-2450 nm at 10 nm",
                "licence": "MIT (earthlib package)",
                "source": "Anderson, C., earthlib, https://github.com/earth-chris/earthlib (version 1.1.0)",
            },
        )
    )
    for name in LIMESODA_SETS:
        library = read_limesoda(name)
        folds = library.meta["fold"].to_numpy()
        parts.append(
            (
                f"LimeSoDa {name}",
                library,
                library.ids.astype(str),
                folds == HELD_OUT_FOLD,
                {
                    "name": f"LimeSoDa {name}",
                    "spectra": f"lab vis-NIR reflectance, {library.wavelengths[0]:g}-{library.wavelengths[-1]:g} nm",
                    "licence": "CC BY-SA 4.0",
                    "source": LIMESODA_SOURCE,
                },
            )
        )
    folder = shared_data_dir() / "soil"
    wadoux = folder / "wadoux_soilspec"
    if (wadoux / "datsoilspc.csv").is_file():
        library = read_datsoilspc(wadoux / "datsoilspc.csv")
        ids = np.array([f"datsoilspc-{i}" for i in library.ids])
        library = SpectralLibrary(library.spectra, library.wavelengths, "nm", sample_ids=ids, name="datsoilspc")
        parts.append(
            (
                "datsoilspc",
                library,
                ids,
                None,
                {
                    "name": "datsoilspc (Geeves et al. 1994, NSW/Victoria, Australia)",
                    "spectra": "lab vis-NIR reflectance, 350-2500 nm at 1 nm",
                    "licence": "MIT",
                    "source": WADOUX_SOURCE,
                },
            )
        )
    if (wadoux / "datEPO_spectra0.csv").is_file():
        scans = []
        for index, label in ((0, "air-dry"), (2, "re-dried"), (1, "wet")):
            table = read_wide_csv(
                wadoux / f"datEPO_spectra{index}.csv",
                wavelength_unit="nm",
                quantity="absorbance",
                property_columns=[],
                metadata_columns=[],
            ).to_quantity("reflectance")
            suffix = "-wet" if label == "wet" else ""
            ids = np.array([f"datEPO-{i}{suffix}" for i in range(len(table))])
            scans.append(SpectralLibrary(table.spectra, table.wavelengths, "nm", sample_ids=ids, name=label))
        library = SpectralLibrary.concat(scans, name="datEPO")
        groups = np.array([str(i).removesuffix("-wet") for i in library.ids])
        parts.append(
            (
                "datEPO",
                library,
                groups,
                None,
                {
                    "name": "datEPO (100 Geeves soils scanned air-dry, wet and re-dried; Minasny et al. 2011)",
                    "spectra": "lab vis-NIR absorbance, 350-2500 nm at 1 nm (converted to reflectance)",
                    "licence": "MIT",
                    "source": WADOUX_SOURCE,
                },
            )
        )
    if (wadoux / "specSoilCol.csv").is_file():
        library = read_wide_csv(
            wadoux / "specSoilCol.csv", wavelength_unit="nm", property_columns=[], metadata_columns=["Soil", "Horizon"]
        )
        ids = np.array(
            [f"specSoilCol-{s}-{h}" for s, h in zip(library.meta["Soil"], library.meta["Horizon"], strict=True)]
        )
        parts.append(
            (
                "specSoilCol",
                library,
                ids,
                None,
                {
                    "name": "specSoilCol (12 soil horizons)",
                    "spectra": "lab vis-NIR reflectance, 350-2500 nm at 1 nm",
                    "licence": "MIT",
                    "source": WADOUX_SOURCE,
                },
            )
        )
    ossl = folder / "ossl_sample" / "sample_visnir_data.csv"
    if ossl.is_file():
        library = read_wide_csv(ossl, wavelength_unit="nm", id_column="sample_id", property_columns=[])
        ids = np.array([f"ossl-sample-{i}" for i in library.ids])
        parts.append(
            (
                "OSSL sample vis-NIR",
                library,
                ids,
                None,
                {
                    "name": "OSSL sample vis-NIR scans (KSSL)",
                    "spectra": "lab vis-NIR reflectance, 350-2500 nm",
                    "licence": "MIT (soilspectroscopy/ossl-models sample data)",
                    "source": "https://github.com/soilspectroscopy/ossl-models (sample folder)",
                },
            )
        )

    reflectance, dataset, sample_id, group, held_out, info = [], [], [], [], [], []
    for name, library, groups, fixed, entry in parts:
        values = spectra_at_bands(library, centres, fwhm, quantity="reflectance")
        keep = np.isfinite(values).all(axis=1) & (values > 0).all(axis=1)
        split = fixed if fixed is not None else _split_groups(groups, HELD_OUT_FRACTION, rng)
        reflectance.append(values[keep])
        dataset.append(np.full(int(keep.sum()), name))
        sample_id.append(np.asarray(library.ids, dtype=str)[keep])
        group.append(np.asarray(groups, dtype=str)[keep])
        held_out.append(np.asarray(split)[keep])
        entry = {
            **entry,
            "n": int((keep & ~split).sum()),
            "n_held_out": int((keep & split).sum()),
            "n_dropped": int((~keep).sum()),
        }
        info.append(entry)
        log.info("%s: %d spectra (%d held out, %d dropped)", name, keep.sum(), (keep & split).sum(), (~keep).sum())
    return Corpus(
        np.concatenate(reflectance),
        np.concatenate(dataset),
        np.concatenate(sample_id),
        np.concatenate(group),
        np.concatenate(held_out),
        info,
    )


@dataclass(frozen=True)
class Candidate:
    """One compared configuration of :class:`eospec.trainers.vae.VAETask`."""

    name: str
    model: str
    model_kwargs: dict[str, Any]


#: Compared on the validation split; the first is the reference configuration.
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("fc-256-128/reflectance+skip", "fc", {"hidden": [256, 128], "linear_skip": True}),
    Candidate(
        "fc-256-128/absorbance+skip", "fc", {"hidden": [256, 128], "transform": "absorbance", "linear_skip": True}
    ),
)
#: Not compared by default (``--with-conv``): on one CPU thread the 1-D convolutional variant
#: (channels 16-32-64) takes more than 6 s an epoch here, ten times the fully connected one.
CONV_CANDIDATE = Candidate(
    "conv-16-32-64/absorbance+skip",
    "conv",
    {"hidden": [128], "channels": [16, 32, 64], "transform": "absorbance", "linear_skip": True},
)

#: Settings shared by every candidate (chosen by the exploratory runs listed in docs/vae.md).
TRAINING: dict[str, Any] = {
    "latent_dim": 32,
    "beta": 1e-6,
    "kl_warmup_epochs": 10,
    "lr": 3e-3,
    "patience": 8,
    "consistency_weight": 0.0,
}
BATCH_SIZE = 128


def rmse(a: FloatArray, b: FloatArray) -> float:
    """Root-mean-square difference over all values."""
    return float(np.sqrt(np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2)))


def reconstruction_table(
    reconstruct: Callable[[FloatArray], FloatArray], corpus: Corpus, rows: npt.NDArray[np.bool_], seed: int
) -> dict[str, Any]:
    """Held-out reconstruction RMSE (reflectance), overall, per dataset and with EnMAP-like noise on the input."""
    x = corpus.reflectance[rows]
    noisy = np.clip(x + np.random.default_rng(seed).normal(0.0, 1.0, x.shape) * noise_sigma(), 1e-4, None)
    clean, from_noisy = reconstruct(x), reconstruct(noisy)
    per_dataset = {}
    for name in pd.unique(corpus.dataset[rows]):
        inside = corpus.dataset[rows] == name
        per_dataset[str(name)] = {"rmse": round(rmse(clean[inside], x[inside]), 6), "n": int(inside.sum())}
    return {
        "rmse": round(rmse(clean, x), 6),
        "rmse_noisy_input": round(rmse(from_noisy, x), 6),
        "n": int(rows.sum()),
        "quantity": "reflectance",
        "per_dataset": per_dataset,
    }


def train(
    candidate: Candidate,
    corpus: Corpus,
    train_rows: npt.NDArray[np.bool_],
    val_rows: npt.NDArray[np.bool_],
    epochs: int,
    seed: int,
) -> Any:
    """Train one candidate (the VAE of :func:`eospec.trainers.vae.train_vae`)."""
    from eospec.trainers.vae import train_vae

    return train_vae(
        corpus.reflectance[train_rows],
        corpus.sample_id[train_rows],
        epochs=epochs,
        batch_size=BATCH_SIZE,
        seed=seed,
        val=(corpus.reflectance[val_rows], None),
        model=candidate.model,
        model_kwargs=candidate.model_kwargs,
        noise_std=noise_sigma().tolist(),
        **TRAINING,
    )


def _reconstructor(vae: Any) -> Callable[[FloatArray], FloatArray]:
    return lambda x: vae.reconstruct(np.asarray(x, dtype=np.float32)).numpy().astype(np.float64)


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "eospec" / "models" / "weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300, help="epochs of the final model")
    parser.add_argument("--select-epochs", type=int, default=60, help="epochs of each candidate in the selection")
    parser.add_argument("--no-select", action="store_true", help="skip the comparison: train the first candidate")
    parser.add_argument("--with-conv", action="store_true", help="also compare the (slow) 1-D convolutional VAE")
    parser.add_argument("--quick", action="store_true", help="CI-size run: 3 epochs, first candidate, no selection")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    warnings.filterwarnings("ignore", message=".*(treespec|eval mode|num_workers|does not have many workers).*")
    import torch
    from safetensors.torch import save_file
    from sklearn.decomposition import PCA

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    corpus = load_corpus(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    validation = ~corpus.held_out & _split_groups(corpus.group, VALIDATION_FRACTION, rng)
    training = ~corpus.held_out & ~validation
    log.info("%d training, %d validation, %d held-out spectra", training.sum(), validation.sum(), corpus.held_out.sum())
    epochs, select_epochs = (3, 3) if args.quick else (args.epochs, args.select_epochs)

    selection: list[dict[str, Any]] = []
    chosen = CANDIDATES[0]
    if not (args.no_select or args.quick):
        best = np.inf
        for candidate in (*CANDIDATES, CONV_CANDIDATE) if args.with_conv else CANDIDATES:
            tic = time.perf_counter()
            vae = train(candidate, corpus, training, validation, select_epochs, args.seed)
            x = corpus.reflectance[validation]
            score = rmse(_reconstructor(vae)(x), x)
            selection.append(
                {
                    "name": candidate.name,
                    "val_rmse": round(score, 6),
                    "epochs": select_epochs,
                    "seconds": round(time.perf_counter() - tic, 1),
                }
            )
            log.info("candidate %s: validation RMSE %.5f", candidate.name, score)
            if score < best:
                best, chosen = score, candidate
    tic = time.perf_counter()
    vae = train(chosen, corpus, training, validation, epochs, args.seed)
    seconds = time.perf_counter() - tic
    log.info("final %s: %d epochs in %.0f s", chosen.name, epochs, seconds)

    held_out = reconstruction_table(_reconstructor(vae), corpus, corpus.held_out, args.seed)
    fitted = ~corpus.held_out
    pca = PCA(n_components=32, random_state=args.seed).fit(corpus.reflectance[fitted])
    pca_table = reconstruction_table(
        lambda x: pca.inverse_transform(pca.transform(x)), corpus, corpus.held_out, args.seed
    )
    log.info("held-out RMSE: VAE %.5f, PCA-32 %.5f", held_out["rmse"], pca_table["rmse"])

    centres, fwhm = enmap_default_bands()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().contiguous() for key, value in vae.state_dict().items()}
    save_file(state, str(args.out_dir / "vae_enmap.safetensors"))
    os.chmod(args.out_dir / "vae_enmap.safetensors", 0o644)
    held_ids = {
        name: sorted(corpus.sample_id[corpus.held_out & (corpus.dataset == name)].tolist())
        for name in pd.unique(corpus.dataset)
        if not name.startswith("LimeSoDa")
    }
    import lightning
    import sklearn

    metadata = {
        "name": "vae_enmap",
        "version": "1.0.0",
        "description": (
            "Spectral VAE encoder (32 latent dimensions) for bottom-of-atmosphere reflectance at the 202 EnMAP "
            "default bands, pretrained self-supervised on real laboratory soil spectra (after Sun et al. 2025, "
            "arXiv:2511.15965). Embedding = posterior mean. Learnt from dry, sieved lab soils only: pixels of "
            "vegetation, water, built surfaces or moist soils lie outside its training distribution."
        ),
        "long_name": "soil spectral embedding (VAE, 32 dimensions)",
        "task": "embedding",
        "kind": "spectral",
        "latent_dim": 32,
        "sensor": "enmap",
        "band_wavelengths_nm": [round(float(w), 4) for w in centres],
        "band_fwhm_nm": [round(float(w), 5) for w in fwhm],
        "input": "reflectance 0-1 (bottom-of-atmosphere or laboratory) at the 202 EnMAP default bands",
        "architecture": vae.architecture(),
        "preprocessing": (
            "lab spectra resampled to the EnMAP default bands with Gaussian SRFs (generic L2A centres and FWHM), "
            "ends extended by at most 10 nm; per-band standardisation stored in the weights"
            + ("; log10(1/R)" if chosen.model_kwargs.get("transform") == "absorbance" else "")
        ),
        "training": {
            **TRAINING,
            "model": chosen.model,
            "model_kwargs": chosen.model_kwargs,
            "batch_size": BATCH_SIZE,
            "epochs": epochs,
            "views": "another scan of the same sample where there are repeats (datEPO), else the spectrum; "
            "plus EnMAP-like Gaussian noise (SNR 400 VNIR / 180 SWIR at 30 % reflectance), decoded to the clean scan",
            "n_training": int(training.sum()),
            "n_validation": int(validation.sum()),
            "seconds": round(seconds, 1),
            "threads": args.threads,
        },
        "selection": selection,
        "training_data": corpus.info,
        "licence": "CC BY-SA 4.0 (derived from LimeSoDa, CC BY-SA 4.0; other sources MIT)",
        "held_out": "LimeSoDa fold 10 of each dataset, and a seeded 10 % of the soils (earthlib: sites) of every "
        "other dataset; never used for training or selection",
        "held_out_samples": held_ids,
        "reconstruction": {"held_out": held_out, "pca32": pca_table},
        "excluded_data": {
            "NIRsoil": "1100-2498 nm: misses the EnMAP VNIR",
            "LimeSoDa MG.44, SSP.58": "431-2153 nm: misses the EnMAP SWIR beyond 2153 nm",
            "LimeSoDa SP.231": "350-1700 nm",
            "LimeSoDa SA.112, RP.62": "NIR 1000-2400 nm only",
            "LimeSoDa MIR sets, KSSL MIR table": "mid-infrared: another domain",
        },
        "software": {
            "torch": torch.__version__,
            "lightning": lightning.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "recipe": "python recipes/train_vae_encoder.py" + (" --quick" if args.quick else ""),
        "weights": "vae_enmap.safetensors",
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    (args.out_dir / "vae_enmap.json").write_text(json.dumps(metadata, indent=1) + "\n")
    log.info("wrote %s (%.0f s in all)", args.out_dir / "vae_enmap.json", time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

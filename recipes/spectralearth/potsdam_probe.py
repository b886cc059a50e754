#!/usr/bin/env python
"""Real-data check: MAE- (or DINO-) pretrain a small Spec. ViT on Potsdam EnMAP patches, then probe it linearly.

Data: the real EnMAP L2A Potsdam scene of ``../shared/data/enmap/potsdam`` (18 tiles of 32 x 32
pixels merged in ``enmap_potsdam_tiles_mosaic.tif``, land-cover labels 1 roof, 2 pavement, 3 low
vegetation, 4 tree, 5 soil, 6 water in ``enmap_potsdam_tiles_landcover_labels.tif``, tile split in
``train_files.csv`` / ``validation_files.csv`` / ``test_files.csv``).

1. **Patches** (``eospec sample``'s library, :func:`eospec.sampling.write_spectralearth_patches`):
   the validation and test tiles are blanked (nodata) in a copy of the mosaic, so pretraining never
   sees them; random 32 x 32 windows with at least 90 % valid pixels are written in the
   SpectralEarth layout (one date: the scene is a single acquisition).
2. **Pretraining**: :class:`eospec.trainers.mae.MAETask` (mask ratio 0.75, loss in reflectance
   units) on a small Spec. ViT (4-pixel tokens) for ``--steps`` steps; with ``--method dino``
   :class:`eospec.trainers.dino.DINOTask` instead (two augmented copies of each single-date patch
   as the global views, ``--local-crops`` local crops of 16 pixels; step 3 is skipped).
3. **Reconstruction error** on the held-out validation and test tiles (masked tokens only, valid
   pixels, RMSE in reflectance, averaged over ``--masks`` random masks), against two baselines that
   use no learning from context: the training mean spectrum, and each patch's mean visible spectrum
   (both on the same masked pixels), and against the same MAE before training.
4. **Linear probe**: frozen encoder, per-pixel features (``pixel_features``: the token map
   upsampled bilinearly), a multinomial logistic regression (scikit-learn, standardised features)
   fitted on the labelled pixels of the training tiles and scored on the validation and test tiles
   (overall accuracy, macro F1, mean IoU); the pretrained encoder against the same architecture
   with random weights (same seed) and against the raw 202-band spectra.

Usage (about 5-10 minutes on 2 CPU cores)::

    nice -n 19 python recipes/spectralearth/potsdam_probe.py --out runs/potsdam_probe [--steps 300]
    nice -n 19 python recipes/spectralearth/potsdam_probe.py --method dino --out runs/potsdam_dino
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import eospec  # noqa: E402,F401  (torchvision fallback before lightning)

CLASSES = ["roof", "pavement", "low vegetation", "tree", "soil", "water"]


def potsdam_dir() -> Path:
    """The real Potsdam folder of the shared data (exit with a message when absent)."""
    from eospec.datasets.utils import shared_data_dir

    folder = shared_data_dir()
    if folder is None:
        raise SystemExit("real data not found: set EOSPEC_SHARED_DATA or put it in <repo>/../shared/data")
    return folder / "enmap" / "potsdam"


def tile_split(folder: Path) -> dict[str, list[Path]]:
    """Tile files of the EnMAP-Box train / validation / test split."""
    import pandas as pd

    splits = {}
    for split, name in (("train", "train_files.csv"), ("val", "validation_files.csv"), ("test", "test_files.csv")):
        frame = pd.read_csv(folder / name)
        splits[split] = [folder / "tiles" / Path(path).name for path in frame["image"]]
    return splits


def blank_tiles(mosaic: Path, tiles: list[Path], out: Path) -> Path:
    """Copy the mosaic with the given tiles set to nodata (band tags kept)."""
    import rasterio
    from rasterio.windows import from_bounds

    with rasterio.open(mosaic) as source:
        data = source.read()
        profile = source.profile
        tags = source.tags()
        band_tags = [source.tags(band) for band in range(1, source.count + 1)]
        descriptions = source.descriptions
        for tile in tiles:
            with rasterio.open(tile) as t:
                window = from_bounds(*t.bounds, transform=source.transform).round_offsets().round_lengths()
            rows = slice(window.row_off, window.row_off + window.height)
            cols = slice(window.col_off, window.col_off + window.width)
            data[:, rows, cols] = profile["nodata"]
    with rasterio.open(out, "w", **profile) as target:
        target.update_tags(**tags)
        for band, (band_tag, description) in enumerate(zip(band_tags, descriptions, strict=True), start=1):
            target.update_tags(band, **band_tag)
            if description:
                target.set_band_description(band, description)
        target.write(data)
    return out


def read_tiles(folder: Path, tiles: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reflectance (T, 202, 32, 32), labels (T, 32, 32) and validity (T, 32, 32) of tiles, from the mosaic."""
    import rasterio
    from rasterio.windows import from_bounds

    from eospec.sensors import ENMAP_DEFAULT_BANDS

    images, labels, valid = [], [], []
    with (
        rasterio.open(folder / "enmap_potsdam_tiles_mosaic.tif") as mosaic,
        rasterio.open(folder / "enmap_potsdam_tiles_landcover_labels.tif") as truth,
    ):
        for tile in tiles:
            with rasterio.open(tile) as t:
                window = from_bounds(*t.bounds, transform=mosaic.transform).round_offsets().round_lengths()
            dn = mosaic.read(list(ENMAP_DEFAULT_BANDS), window=window)
            ok = ~(dn == mosaic.nodata).any(axis=0) & (dn != 0).any(axis=0)
            images.append(np.where(ok[None], dn * 1e-4, 0.0).astype(np.float32))
            labels.append(truth.read(1, window=window))
            valid.append(ok)
    return np.stack(images), np.stack(labels), np.stack(valid)


def reconstruction_errors(
    task: Any, images: np.ndarray, valid: np.ndarray, train_mean: np.ndarray, n_masks: int
) -> dict[str, float]:
    """RMSE (reflectance) on masked valid pixels: MAE, training-mean and visible-mean baselines."""
    import torch

    from eospec.trainers.mae import patchify

    x = torch.from_numpy(images)
    v = torch.from_numpy(valid)
    p = task.encoder.output_stride
    bands = x.shape[1]
    sums = {"mae": 0.0, "train_mean": 0.0, "visible_mean": 0.0}
    count = 0.0
    task.eval()
    with torch.no_grad():
        for seed in range(n_masks):
            torch.manual_seed(1000 + seed)
            prediction, masked = task.reconstruct(x)
            target = patchify(x, p)
            pixel_valid = patchify(v[:, None].float(), p).repeat_interleave(bands, dim=-1)
            weight = masked[..., None].float() * pixel_valid
            # visible-mean baseline: each patch's mean spectrum over its visible valid pixels
            visible = (~masked)[..., None].float() * pixel_valid
            per_band = (target * visible).reshape(*target.shape[:2], -1, bands).sum(dim=(1, 2))
            n_band = visible.reshape(*target.shape[:2], -1, bands).sum(dim=(1, 2)).clamp(min=1)
            visible_mean = (per_band / n_band)[:, None, :].repeat(1, 1, p * p)
            mean_tokens = torch.from_numpy(train_mean).float().repeat(p * p)[None, None]
            for name, guess in (("mae", prediction), ("train_mean", mean_tokens), ("visible_mean", visible_mean)):
                sums[name] += float((((guess - target) ** 2) * weight).sum())
            count += float(weight.sum())
    return {name: (value / count) ** 0.5 for name, value in sums.items()}


def pixel_features(encoder: Any, images: np.ndarray) -> np.ndarray:
    """Frozen per-pixel features (T, 32, 32, D) of reflectance tiles (T, 202, 32, 32)."""
    import torch

    from eospec.models.foundation import encode_pixels

    features = encode_pixels(encoder, torch.from_numpy(images))
    return features.permute(0, 2, 3, 1).numpy()  # (T, 32, 32, D)


def probe(
    features: dict[str, np.ndarray], labels: dict[str, np.ndarray], valid: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Logistic regression on labelled pixels of the training tiles; scores on val and test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, jaccard_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def pixels(split: str) -> tuple[np.ndarray, np.ndarray]:
        use = (labels[split] > 0) & valid[split]
        return features[split][use], labels[split][use]

    from threadpoolctl import threadpool_limits

    x_train, y_train = pixels("train")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=1.0))
    # One BLAS thread: on a busy 2-core machine, multi-threaded BLAS spins (70x slower here).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        model.fit(x_train, y_train)
    scores: dict[str, dict[str, float]] = {}
    for split in ("train", "val", "test"):
        x, y = pixels(split)
        predicted = model.predict(x)
        classes = sorted(set(y_train))
        scores[split] = {
            "OA": float(accuracy_score(y, predicted)),
            "macro_F1": float(f1_score(y, predicted, labels=classes, average="macro", zero_division=0)),
            "mIoU": float(jaccard_score(y, predicted, labels=classes, average="macro", zero_division=0)),
            "n": int(len(y)),
        }
    return scores


def main() -> None:
    """Run steps 1-4 of the module docstring and write ``<out>/result.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/potsdam_probe"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--patches", type=int, default=300, help="random 32 x 32 pretraining patches")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--masks", type=int, default=8, help="random masks for the reconstruction error")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", choices=("mae", "dino"), default="mae", help="pretraining method")
    parser.add_argument("--local-crops", type=int, default=2, help="DINO local crops (16 x 16 pixels)")
    args = parser.parse_args()

    import lightning.pytorch as pl
    import torch

    from eospec.datasets.spectral_earth import SpectralEarth, SpectralEarthDataModule
    from eospec.models.foundation import save_checkpoint, save_input_statistics
    from eospec.sampling import write_spectralearth_patches
    from eospec.trainers.dino import DINOTask
    from eospec.trainers.mae import MAETask

    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    started = time.perf_counter()
    folder = potsdam_dir()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    splits = tile_split(folder)

    # 1. patches from the training tiles only
    blanked = blank_tiles(
        folder / "enmap_potsdam_tiles_mosaic.tif", splits["val"] + splits["test"], out / "train_only.tif"
    )
    sampled = write_spectralearth_patches(
        blanked,
        out / "patches",
        patch_size=32,
        mode="random",
        n_patches=args.patches,
        min_dates=1,
        min_valid_fraction=0.9,
        seed=args.seed,
        overwrite=True,
        progress=False,
    )
    dataset = SpectralEarth(out / "patches", split="all")
    mean, std = dataset.band_statistics(max_patches=len(dataset))
    save_input_statistics(out / "statistics.npz", mean, std)
    t_patches = time.perf_counter() - started

    # 2. MAE (or DINO) pretraining
    model_kwargs = {"embed_dim": 96, "depth": 4, "num_heads": 4, "img_size": 32}
    common = {
        "model": "spec_vit_small",
        "model_kwargs": model_kwargs,
        "band_mean": mean.tolist(),
        "band_std": std.tolist(),
        "lr": 1e-3,
    }
    task_class: Any
    if args.method == "mae":
        task_class = MAETask
        settings = common | {
            "mask_ratio": 0.75,
            "decoder_dim": 64,
            "decoder_num_heads": 4,
            "weight_decay": 0.05,
            "max_epochs": 1000,
        }
    else:
        task_class = DINOTask
        epochs = max(1, -(-args.steps * args.batch // args.patches))
        settings = common | {
            "hidden_dim": 512,
            "bottleneck_dim": 128,
            "output_dim": 128,
            "size": 32,
            "global_crop_scale": (0.25, 1.0),  # 32-pixel patches: no tiny global crops
            "n_local_crops": args.local_crops,
            "local_size": 16,
            "local_crop_scale": (0.05, 0.25),
            "base_momentum": 0.99,  # a short run: the teacher must move within a few hundred steps
            "weight_decay": 1e-5,
            "warmup_epochs": 1,
            "max_epochs": epochs,
        }
    pl.seed_everything(args.seed, verbose=False)
    untrained = task_class(**settings)
    pl.seed_everything(args.seed, verbose=False)
    task = task_class(**settings)
    data = SpectralEarthDataModule(batch_size=args.batch, root=out / "patches", val_fraction=0.0, test_fraction=0.0)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=args.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    t0 = time.perf_counter()
    trainer.fit(task, datamodule=data)
    t_train = time.perf_counter() - t0
    save_checkpoint(task.encoder, out / "encoder.safetensors", {"ssl_method": args.method})

    # 3. reconstruction error on held-out tiles
    images, labels, valid = {}, {}, {}
    for split, tiles in splits.items():
        images[split], labels[split], valid[split] = read_tiles(folder, tiles)
    held_images = np.concatenate([images["val"], images["test"]])
    held_valid = np.concatenate([valid["val"], valid["test"]])
    t0 = time.perf_counter()
    reconstruction: dict[str, float] | None = None
    if args.method == "mae":
        reconstruction = reconstruction_errors(task, held_images, held_valid, mean, args.masks)
        untrained_errors = reconstruction_errors(untrained, held_images, held_valid, mean, args.masks)
        reconstruction["mae_untrained"] = untrained_errors["mae"]

    t_reconstruction = time.perf_counter() - t0

    # 4. linear probes
    t0 = time.perf_counter()
    random_encoder = untrained.encoder  # same seed, same initial weights as the pretrained encoder
    feature_sets = {
        f"{args.method}_pretrained": {split: pixel_features(task.encoder, images[split]) for split in splits},
        "random_init": {split: pixel_features(random_encoder, images[split]) for split in splits},
        "raw_spectra": {split: images[split].transpose(0, 2, 3, 1) for split in splits},
    }
    probes = {name: probe(features, labels, valid) for name, features in feature_sets.items()}
    t_probe = time.perf_counter() - t0

    result = {
        "command": " ".join(["python", *sys.argv]),
        "patches": {"n": len(dataset), "size": 32, "written_in_s": round(sampled.seconds, 1)},
        "pretraining": {
            "steps": int(trainer.global_step),
            "batch": args.batch,
            "seconds": round(t_train, 1),
            "method": args.method,
            "final_train_rmse": float(trainer.callback_metrics.get("train_rmse", float("nan"))),
            "final_train_loss": float(trainer.callback_metrics.get("train_loss", float("nan"))),
            "model_kwargs": model_kwargs,
        },
        "reconstruction_rmse_heldout": reconstruction,
        "linear_probe": probes,
        "classes": CLASSES,
        "seconds_total": round(time.perf_counter() - started, 1),
        "seconds_patches": round(t_patches, 1),
        "seconds_reconstruction": round(t_reconstruction, 1),
        "seconds_probe": round(t_probe, 1),
        "load_average": os.getloadavg(),
    }
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

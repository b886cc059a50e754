#!/usr/bin/env python
"""Pretrain a SpectralEarth encoder (MAE, MoCo-v2, SimCLR or DINO) on SpectralEarth-layout patches.

Braham et al. (2024), "SpectralEarth: Training Hyperspectral Foundation Models at Scale",
arXiv:2408.08447. A YAML config (``mae_vit_small.yaml``, ``moco_resnet50.yaml``,
``simclr_vit_small.yaml``, ``dino_vit_small.yaml``, ``dino_resnet50.yaml`` in this folder) names
the data (:class:`eospec.datasets.spectral_earth.SpectralEarthDataModule` arguments: the
SpectralEarth download or the output of ``eospec sample``), the task
(:class:`eospec.trainers.mae.MAETask`, :class:`eospec.trainers.ssl.SpectralMoCoTask`,
:class:`eospec.trainers.ssl.SpectralSimCLRTask`, :class:`eospec.trainers.dino.DINOTask`) and the
Lightning trainer. The script

1. computes per-band reflectance mean and standard deviation from ``statistics.max_patches``
   training patches (valid pixels only) and writes them to ``<out>/statistics.npz``;
2. trains the task (the encoder standardises its input with those statistics);
3. writes the encoder (for DINO: the teacher) in the authors' key layout to
   ``<out>/encoder.safetensors`` and a metadata file ``<out>/encoder.json`` (architecture, builder
   arguments, bands, wavelengths in nm, the statistics file, the command), which
   :func:`eospec.models.foundation.get_foundation_model` loads back:
   ``get_foundation_model(arch, "<out>/encoder.safetensors", statistics="<out>/statistics.npz",
   **model_kwargs)``.

Usage::

    python recipes/spectralearth/pretrain.py --config recipes/spectralearth/mae_vit_small.yaml \
        --set data.root=/data/spectral_earth --out runs/mae_vits
    python recipes/spectralearth/pretrain.py --config recipes/spectralearth/moco_resnet50.yaml \
        --set data.root=patches --set trainer.max_epochs=5 --out runs/moco_rn50   # eospec sample output
    python recipes/spectralearth/pretrain.py --config recipes/spectralearth/dino_vit_small.yaml \
        --set data.root=/data/spectral_earth --out runs/dino_vits
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import eospec  # noqa: E402,F401  (torchvision fallback before lightning)

TASKS = {
    "mae": ("eospec.trainers.mae", "MAETask"),
    "moco": ("eospec.trainers.ssl", "SpectralMoCoTask"),
    "simclr": ("eospec.trainers.ssl", "SpectralSimCLRTask"),
    "dino": ("eospec.trainers.dino", "DINOTask"),
}


def set_value(config: dict[str, Any], assignment: str) -> None:
    """Apply a ``section.key=value`` override (value parsed as YAML)."""
    key, _, text = assignment.partition("=")
    if not _:
        raise SystemExit(f"--set {assignment!r} is not key=value, e.g. --set data.root=/data/spectral_earth")
    node = config
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = yaml.safe_load(text)


def build_task(task_config: dict[str, Any], mean: Any, std: Any) -> Any:
    """The Lightning task named by ``task_config['name']``, with the band statistics."""
    import importlib

    settings = copy.deepcopy(task_config)
    name = settings.pop("name")
    if name not in TASKS:
        raise SystemExit(f"task name {name!r} is unknown: use one of {', '.join(TASKS)}")
    module, attribute = TASKS[name]
    task_class = getattr(importlib.import_module(module), attribute)
    return task_class(band_mean=[float(v) for v in mean], band_std=[float(v) for v in std], **settings)


def save_encoder(task: Any, task_config: dict[str, Any], out: Path, extra: dict[str, Any]) -> Path:
    """Write the task's encoder (authors' layout, safetensors) and its metadata next to it."""
    from eospec.models.foundation import save_checkpoint
    from eospec.sensors import ENMAP_DEFAULT_BANDS, enmap

    encoder = task.encoder if hasattr(task, "encoder") else task.backbone
    path = save_checkpoint(encoder, out / "encoder.safetensors", {"ssl_method": task_config["name"]})
    wavelengths = enmap().wavelengths_nm[[band - 1 for band in ENMAP_DEFAULT_BANDS]]
    metadata = {
        "kind": "patch",
        "arch": encoder.arch,
        "model_kwargs": task_config.get("model_kwargs") or {},
        "ssl_method": task_config["name"],
        "weights": path.name,
        "statistics": "statistics.npz",
        "bands": [f"B{band}" for band in ENMAP_DEFAULT_BANDS],
        "wavelengths_nm": [float(w) for w in wavelengths],
        "input": "bottom-of-atmosphere reflectance 0-1, standardised with statistics.npz (mean, std)",
        **extra,
    }
    (out / "encoder.json").write_text(json.dumps(metadata, indent=1) + "\n")
    return path


def pretrain(config: dict[str, Any], out: Path, quiet: bool = False) -> dict[str, Any]:
    """Run steps 1-3 of the module docstring; return the metrics and timings."""
    import lightning.pytorch as pl

    from eospec.datasets.spectral_earth import SpectralEarth, SpectralEarthDataModule
    from eospec.models.foundation import save_input_statistics

    if quiet:
        logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    out.mkdir(parents=True, exist_ok=True)
    data_config = dict(config["data"])
    split_keys = ("root", "val_fraction", "test_fraction")
    statistics_data = SpectralEarth(split="train", **{k: data_config[k] for k in split_keys if k in data_config})
    started = time.perf_counter()
    mean, std = statistics_data.band_statistics(int(config.get("statistics", {}).get("max_patches", 256)))
    save_input_statistics(out / "statistics.npz", mean, std)
    data = SpectralEarthDataModule(**data_config)
    task = build_task(config["task"], mean, std)
    trainer_config: dict[str, Any] = {
        "accelerator": "auto",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": not quiet,
        "enable_model_summary": not quiet,
    } | dict(config.get("trainer", {}))
    trainer = pl.Trainer(**trainer_config)
    trainer.fit(task, datamodule=data)
    seconds = time.perf_counter() - started
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    result = {
        "metrics": metrics,
        "seconds": seconds,
        "steps": int(trainer.global_step),
        "n_train": len(statistics_data),
    }
    save_encoder(task, config["task"], out, {"training": result, "config": config})
    return result


def main() -> None:
    """Parse the command line, pretrain, print the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    parser.add_argument("--out", type=Path, default=Path("runs/spectralearth"))
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    for assignment in args.set:
        set_value(config, assignment)
    result = pretrain(config, args.out)
    print(json.dumps(result, indent=1))
    print(f"encoder written to {args.out / 'encoder.safetensors'} (metadata {args.out / 'encoder.json'})")


if __name__ == "__main__":
    main()

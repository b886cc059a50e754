"""Run the benchmark: every dataset x encoder x protocol x seed, resumably.

One run trains a head (and, by protocol, parts of the encoder) on a dataset's training split with
Lightning, for a fixed number of epochs, and scores the final model on the test split
(:func:`eospec.trainers.finetune.classification_metrics`). The protocols are those of Braham et
al. (2024), Sec. V (:mod:`eospec.trainers.finetune`): ``linear`` (frozen encoder, one 1 x 1
convolution on the feature map, bilinearly upsampled), ``adapter`` (the spectral adapter learns
too) and ``finetune`` (everything learns; FCN head). Raw-spectra baselines run once per seed
whatever the protocols (protocol ``pixel``).

Each finished run is a JSON file ``<out>/runs/<dataset>/<encoder>/<protocol>/seed<k>.json``
(written atomically); a later call with the same settings skips it, so an interrupted benchmark
resumes where it stopped. The settings that change results are kept in
``<out>/benchmark.json``; a call with other settings refuses to mix them unless ``overwrite``.
Lightning logs each run to CSV (and TensorBoard when it is installed) under ``<out>/logs/``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchgeo.datamodules import NonGeoDataModule

from eospec.benchmark.datasets import BenchmarkDataset, get_benchmark_dataset
from eospec.benchmark.encoders import BuiltEncoder, EncoderChoice, build_encoder, parse_encoder
from eospec.errors import BenchmarkError, OutputExistsError

__all__ = [
    "BenchmarkConfig",
    "BenchmarkDataModule",
    "RunSpec",
    "input_statistics",
    "plan_runs",
    "run_benchmark",
    "run_one",
]

PROTOCOLS: tuple[str, ...] = ("linear", "adapter", "finetune")
_SETTINGS_FILE = "benchmark.json"


@dataclass(frozen=True)
class BenchmarkConfig:
    """Training settings shared by all runs of a benchmark.

    Attributes:
        epochs: training epochs per run (the final model is tested).
        batch_size: patches per batch (capped at the training split's size).
        lr: AdamW learning rate (cosine decay to ``lr / 100``).
        weight_decay: AdamW weight decay.
        max_samples: use the first N patches of each split (quick runs), or None for all.
        spectral_mode: ``"adapter"`` or ``"resample"`` (:mod:`eospec.benchmark.encoders`).
        max_pixels: most training pixels of the raw-spectra baselines.
        augment: random flips and 90-degree rotations of training patches.
        val_every: validate every N epochs (validation is logged, not used to pick a model).
        cache_samples: keep decoded samples in memory when the training split has at most this
            many (does not change results).
        num_workers: DataLoader worker processes (does not change results).
        accelerator: Lightning accelerator, ``"auto"``, ``"cpu"`` or ``"gpu"`` (does not change
            results beyond floating-point noise).
    """

    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_samples: int | None = None
    spectral_mode: str = "adapter"
    max_pixels: int = 20000
    augment: bool = True
    val_every: int = 5
    cache_samples: int = 512
    num_workers: int = 0
    accelerator: str = "auto"

    def settings(self) -> dict[str, Any]:
        """The settings that change results (stored in ``benchmark.json``)."""
        values = dataclasses.asdict(self)
        for key in ("num_workers", "accelerator", "cache_samples", "val_every"):
            values.pop(key)
        return values


@dataclass(frozen=True)
class RunSpec:
    """One run.

    Attributes:
        dataset: dataset name.
        encoder: the parsed encoder.
        protocol: ``linear``, ``adapter``, ``finetune`` or ``pixel`` (baselines).
        seed: random seed.
    """

    dataset: str
    encoder: EncoderChoice
    protocol: str
    seed: int

    def path(self, out: Path) -> Path:
        """The run's result file under ``out``."""
        return out / "runs" / self.dataset / self.encoder.label / self.protocol / f"seed{self.seed}.json"

    def describe(self) -> str:
        """One line for progress output."""
        return f"{self.dataset} | {self.encoder.label} | {self.protocol} | seed {self.seed}"


def plan_runs(
    datasets: Sequence[str], encoders: Sequence[str], protocols: Sequence[str], seeds: int
) -> tuple[list[RunSpec], list[str]]:
    """All runs of a benchmark, in order, and the combinations left out (with why).

    Args:
        datasets: dataset names.
        encoders: ``--encoder`` values.
        protocols: protocol names.
        seeds: seeds per combination (seeds 0..seeds-1).

    Returns:
        ``(runs, skipped)``.

    Raises:
        BenchmarkError: If a dataset, encoder or protocol is unknown, or ``seeds`` < 1.
    """
    if seeds < 1:
        raise BenchmarkError(f"seeds {seeds!r} is invalid: use 1 or more")
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise BenchmarkError(f"protocol {protocol!r} is unknown: use one of {', '.join(PROTOCOLS)}")
    names = [get_benchmark_dataset(name).name for name in datasets]
    choices = [parse_encoder(spec) for spec in encoders]
    labels = [choice.label for choice in choices]
    for label in labels:
        if labels.count(label) > 1:
            raise BenchmarkError(f"two encoders share the result name {label!r}: give each encoder once")
    runs: list[RunSpec] = []
    skipped: list[str] = []
    for dataset in names:
        for choice in choices:
            if choice.kind == "baseline":
                runs.extend(RunSpec(dataset, choice, "pixel", seed) for seed in range(seeds))
                continue
            for protocol in protocols:
                if protocol == "adapter" and choice.kind != "patch":
                    skipped.append(f"{choice.label} / adapter: a per-pixel encoder has no spectral adapter")
                    continue
                runs.extend(RunSpec(dataset, choice, protocol, seed) for seed in range(seeds))
    return runs, sorted(set(skipped))


# -- data ----------------------------------------------------------------------------------------


def _identity(batch: dict[str, Any]) -> dict[str, Any]:
    return batch


def _dihedral(batch: dict[str, Any]) -> dict[str, Any]:
    """A random flip and 90-degree rotation per sample, the same for image, mask and validity."""
    image: Tensor = batch["image"]
    out = {key: value.clone() if isinstance(value, Tensor) else value for key, value in batch.items()}
    spatial = [key for key in ("image", "mask", "valid") if key in batch]
    for i in range(image.shape[0]):
        k = int(torch.randint(0, 4, (1,)))
        flip = bool(torch.randint(0, 2, (1,)))
        for key in spatial:
            value = batch[key][i]
            value = torch.rot90(value, k, dims=(-2, -1))
            out[key][i] = torch.flip(value, dims=(-1,)) if flip else value
    return out


class BenchmarkDataModule(NonGeoDataModule):
    """Lightning data module of a benchmark dataset (train / val / test splits).

    Batches keep reflectance as it is: the encoders standardise their input themselves. Training
    batches get a random dihedral transform (flip and 90-degree rotation) per patch when
    ``augment``.

    Args:
        dataset_class: a :class:`~eospec.benchmark.datasets.BenchmarkDataset` subclass.
        batch_size: patches per batch (the incomplete last training batch is dropped).
        num_workers: DataLoader workers.
        augment: random flips and rotations of training patches.
        **kwargs: dataset arguments (``root``, ``max_samples``).
    """

    def __init__(
        self,
        dataset_class: type[BenchmarkDataset],
        batch_size: int = 8,
        num_workers: int = 0,
        augment: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(dataset_class, batch_size, num_workers, **kwargs)
        self.aug = _identity
        self.train_aug = _dihedral if augment else _identity


def input_statistics(
    dataset: BenchmarkDataset, built: BuiltEncoder, *, max_samples: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation of an encoder's input over a split's valid pixels.

    Args:
        dataset: the training split.
        built: the encoder (its band mapping is applied first).
        max_samples: patches used (the first N).

    Returns:
        ``(mean, std)``: float64 (B,) each in reflectance; std of 0 replaced by 1.
    """
    total = None
    total_sq = None
    count = 0
    mapper = built.module.mapper
    for index in range(min(len(dataset), max_samples)):
        sample = dataset[index]
        image = sample["image"][None]
        if mapper is not None:
            with torch.no_grad():
                image = mapper(image)
        pixels = image[0][:, sample["valid"]].double()
        total = pixels.sum(dim=1) if total is None else total + pixels.sum(dim=1)
        total_sq = (pixels**2).sum(dim=1) if total_sq is None else total_sq + (pixels**2).sum(dim=1)
        count += int(pixels.shape[1])
    if total is None or total_sq is None or count < 2:
        raise BenchmarkError(f"{dataset.title}: too few valid training pixels to standardise the input")
    mean = (total / count).numpy()
    variance = np.maximum((total_sq / count).numpy() - mean**2, 0.0) * count / (count - 1)
    std = np.sqrt(variance)
    std[std <= 1e-8] = 1.0
    return mean, std


# -- runs ----------------------------------------------------------------------------------------


def _atomic_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(payload, stream, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _loggers(log_dir: Path, spec: RunSpec) -> list[Any]:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    name = f"{spec.dataset}/{spec.encoder.label}/{spec.protocol}"
    loggers: list[Any] = [CSVLogger(log_dir, name=name, version=f"seed{spec.seed}")]
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return loggers
    loggers.append(TensorBoardLogger(log_dir, name=name, version=f"seed{spec.seed}", default_hp_metric=False))
    return loggers


def _dataset_kwargs(
    root: Path | None, dataset: type[BenchmarkDataset], config: BenchmarkConfig, cache: bool = False
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"max_samples": config.max_samples, "cache": cache}
    if root is not None or dataset.name != "enmap-potsdam":
        kwargs["root"] = root if root is not None else Path(".")
    return kwargs


def run_one(
    spec: RunSpec, root: Path | None, config: BenchmarkConfig, log_dir: Path, *, progress_bar: bool = False
) -> dict[str, Any]:
    """Train and test one run.

    Args:
        spec: the run.
        root: the datasets' folder (None: ``enmap-potsdam`` reads the shared real data).
        config: the settings.
        log_dir: Lightning log folder.
        progress_bar: show Lightning's per-epoch progress bar.

    Returns:
        The run's record: metrics (``test_*``), timing, trainable parameters, band handling.

    Raises:
        DatasetNotFoundError: If the dataset is not under ``root``.
        BenchmarkError: If the run cannot be configured.
    """
    from lightning.pytorch import Trainer, seed_everything

    from eospec.benchmark.baselines import run_baseline
    from eospec.trainers.finetune import SpectralEarthClassificationTask, SpectralEarthSegmentationTask

    dataset = get_benchmark_dataset(spec.dataset)
    kwargs = _dataset_kwargs(root, dataset, config)
    start = time.perf_counter()
    train = dataset(split="train", **kwargs)
    test = dataset(split="test", **kwargs)
    # Splits of a few hundred patches are decoded once and kept in memory for all epochs.
    kwargs["cache"] = len(train) <= config.cache_samples
    record: dict[str, Any] = {
        "dataset": dataset.name,
        "title": dataset.title,
        "task": dataset.task,
        "encoder": spec.encoder.label,
        "encoder_spec": spec.encoder.spec,
        "protocol": spec.protocol,
        "seed": spec.seed,
        "n_train": len(train),
        "n_test": len(test),
        "root": str(train.root),
    }
    if spec.encoder.kind == "baseline":
        threads = max(torch.get_num_threads(), 1)
        values = run_baseline(
            spec.encoder.base, train, test, seed=spec.seed, max_pixels=config.max_pixels, n_jobs=threads
        )
        record["metrics"] = {name: value for name, value in values.items() if not name.endswith("_rows")}
        record["train_rows"] = int(values["train_rows"])
        record.update(band_method="native", bands_covered=dataset.num_bands, trainable_parameters=None)
        record["seconds"] = round(time.perf_counter() - start, 2)
        return record

    seed_everything(spec.seed, workers=True, verbose=False)
    built = build_encoder(spec.encoder, dataset, seed=spec.seed, spectral_mode=config.spectral_mode)
    if built.needs_statistics:
        mean, std = input_statistics(train, built)
        inner: Any = built.module.encoder
        inner.set_input_statistics(mean, std)
    batch_size = max(1, min(config.batch_size, len(train)))
    datamodule = BenchmarkDataModule(
        dataset, batch_size=batch_size, num_workers=config.num_workers, augment=config.augment, **kwargs
    )
    common: dict[str, Any] = {
        "protocol": spec.protocol,
        "num_classes": dataset.num_classes(),
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "max_epochs": config.epochs,
        "eta_min": config.lr / 100,
        "encoder": built.module,
    }
    head = "bn-linear" if spec.protocol in ("linear", "adapter") else None
    task: Any
    if dataset.task == "multilabel":
        task = SpectralEarthClassificationTask(task="multilabel", head=head or "linear", **common)
    else:
        from eospec.benchmark.datasets import IGNORE_INDEX

        task = SpectralEarthSegmentationTask(ignore_index=IGNORE_INDEX, head=head, **common)
    trainer = Trainer(
        max_epochs=config.epochs,
        accelerator=config.accelerator,
        devices=1,
        logger=_loggers(log_dir, spec),
        enable_checkpointing=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        check_val_every_n_epoch=max(1, min(config.val_every, config.epochs)),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        trainer.fit(task, datamodule=datamodule)
        tested = trainer.test(task, datamodule=datamodule, verbose=False)
    metrics = {name.removeprefix("test_"): float(value) for name, value in tested[0].items() if name != "test_loss"}
    record["metrics"] = metrics
    record["test_loss"] = float(tested[0].get("test_loss", float("nan")))
    record.update(
        band_method=built.band_method,
        bands_covered=built.bands_covered,
        trainable_parameters=task.trainable_parameter_count(),
        batch_size=batch_size,
        device=str(trainer.strategy.root_device),
    )
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record


@dataclass
class BenchmarkRun:
    """What :func:`run_benchmark` did.

    Attributes:
        records: one record per run (finished now or earlier), in plan order.
        ran: runs computed in this call.
        reused: runs read from earlier calls.
        skipped: combinations left out, with why.
        outputs: the summary files written (CSV, Markdown, PNG).
    """

    records: list[dict[str, Any]]
    ran: int
    reused: int
    skipped: list[str]
    outputs: dict[str, Path]


def _check_settings(out: Path, config: BenchmarkConfig, overwrite: bool) -> None:
    path = out / _SETTINGS_FILE
    current = config.settings()
    if path.is_file():
        stored = json.loads(path.read_text()).get("settings", {})
        if stored != current:
            if not overwrite:
                changed = sorted(key for key in set(stored) | set(current) if stored.get(key) != current.get(key))
                detail = ", ".join(f"{key} {stored.get(key)!r} -> {current.get(key)!r}" for key in changed)
                raise OutputExistsError(
                    f"{str(out)!r} holds benchmark results made with other settings ({detail}): "
                    "use another --out, or --overwrite to discard them"
                )
            for folder in ("runs", "logs"):
                shutil.rmtree(out / folder, ignore_errors=True)
    _atomic_json(path, {"settings": current})


def run_benchmark(
    datasets: Sequence[str],
    encoders: Sequence[str],
    out: str | os.PathLike[str],
    *,
    protocols: Sequence[str] = ("linear",),
    seeds: int = 3,
    root: str | os.PathLike[str] | None = None,
    config: BenchmarkConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
    progress_bar: bool = False,
    echo: Callable[[str], None] | None = None,
) -> BenchmarkRun:
    """Run (or resume) a benchmark and write its tables and plot.

    Args:
        datasets: dataset names (:func:`~eospec.benchmark.datasets.parse_dataset_names`).
        encoders: ``--encoder`` values (:func:`~eospec.benchmark.encoders.parse_encoder`).
        out: results folder (created).
        protocols: protocols of the encoder runs.
        seeds: seeds per combination.
        root: the folder holding the datasets (None: only ``enmap-potsdam``, from the shared data).
        config: training settings (default :class:`BenchmarkConfig`).
        overwrite: discard results of other settings in ``out``.
        progress: show a progress bar over the runs (tqdm, on stderr).
        progress_bar: also show Lightning's per-epoch bar.
        echo: called with one line per finished run (e.g. ``click.echo``), or None.

    Returns:
        The :class:`BenchmarkRun`.

    Raises:
        BenchmarkError: If a dataset, encoder or protocol is unknown, or a run cannot be configured.
        DatasetNotFoundError: If a dataset is not on disk (before any run starts).
        OutputExistsError: If ``out`` holds results of other settings and not ``overwrite``.
    """
    from tqdm.auto import tqdm

    from eospec.benchmark.report import write_reports

    config = config or BenchmarkConfig()
    out = Path(out)
    runs, skipped = plan_runs(datasets, encoders, protocols, seeds)
    root_path = Path(root) if root is not None else None
    for name in dict.fromkeys(spec.dataset for spec in runs):  # fail early on missing data
        dataset = get_benchmark_dataset(name)
        if root_path is None and dataset.name != "enmap-potsdam":
            from eospec.benchmark.datasets import AUTHORS_REPOSITORY, DOWNLOAD_PAGE, DatasetNotFoundError

            raise DatasetNotFoundError(
                f"{dataset.title} needs --root, the folder that holds the downloaded datasets "
                f"({dataset.layout()}). Download them from {DOWNLOAD_PAGE} (free account) and the split files "
                f"from {AUTHORS_REPOSITORY} (data/splits/{dataset.folder}/)"
            )
        for split in ("train", "val", "test"):
            dataset(split=split, **_dataset_kwargs(root_path, dataset, config))
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, config, overwrite)
    records: list[dict[str, Any]] = []
    ran = reused = 0
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    bar = tqdm(runs, desc="benchmark", unit="run", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(spec.describe())
        path = spec.path(out)
        if path.is_file():
            records.append(json.loads(path.read_text()))
            reused += 1
            continue
        record = run_one(spec, root_path, config, out / "logs", progress_bar=progress_bar)
        _atomic_json(path, record)
        records.append(record)
        ran += 1
        if echo is not None:
            shown = ", ".join(f"{key} {value:.3f}" for key, value in record["metrics"].items())
            echo(f"{spec.describe()}: {shown} ({record['seconds']:.0f} s)")
    outputs = write_reports(records, out)
    return BenchmarkRun(records, ran, reused, skipped, outputs)

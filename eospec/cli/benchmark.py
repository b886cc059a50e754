"""``eospec benchmark``: evaluate encoders on the SpectralEarth downstream datasets, the same way."""

from __future__ import annotations

from pathlib import Path

import click

from .options import handle_errors

_PROTOCOLS = ("linear", "adapter", "finetune")


def _split_list(values: tuple[str, ...]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


@click.command("benchmark")
@click.option(
    "--datasets",
    default="all",
    show_default=True,
    help="'all' (the paper's nine) or comma-separated names: enmap-cdl, enmap-nlcd, enmap-corine, "
    "enmap-eurocrops, enmap-bdforet, enmap-treemap, enmap-bnetd, desis-cdl, eo1-cdl, enmap-potsdam.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding the downloaded datasets (<root>/enmap_cdl/, ...). enmap-potsdam defaults to "
    "the real data in ../shared/data/enmap/potsdam.",
)
@click.option(
    "--encoder",
    "encoders",
    multiple=True,
    default=("vae_enmap",),
    show_default=True,
    help="Encoder (repeatable or comma-separated): a bundled encoder (eospec models), an encoder .json, "
    "a SpectralEarth architecture (random weights), NAME=PATH for a checkpoint, random:NAME, or the "
    "raw-spectra baselines raw-rf and raw-logreg.",
)
@click.option(
    "--protocol",
    "protocols",
    multiple=True,
    default=("linear",),
    show_default=True,
    help="linear (frozen encoder, one-layer head), adapter (spectral adapter trained too) or finetune "
    "(everything trained, FCN head); repeatable or comma-separated.",
)
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Seeds per combination.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Results folder: results.csv, summary.csv, results.md, results.png, runs/, logs/.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True, help="Training epochs per run.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Patches per batch.")
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True, help="AdamW learning rate."
)
@click.option(
    "--max-samples",
    type=click.IntRange(min=1),
    default=None,
    help="Use only the first N patches of each split (quick runs).",
)
@click.option(
    "--spectral-mode",
    type=click.Choice(["adapter", "resample"]),
    default="adapter",
    show_default=True,
    help="How DESIS and Hyperion bands reach an encoder: straight into the spectral adapter, or "
    "resampled to the EnMAP bands (per-pixel encoders always resample).",
)
@click.option("--num-workers", type=click.IntRange(min=0), default=0, show_default=True, help="DataLoader workers.")
@click.option(
    "--accelerator",
    type=click.Choice(["auto", "cpu", "gpu"]),
    default="auto",
    show_default=True,
    help="Lightning accelerator.",
)
@click.option("--overwrite", is_flag=True, help="Discard results in --out that were made with other settings.")
@click.option("--quiet", is_flag=True, help="No progress bar and no per-run lines.")
@handle_errors
def benchmark_command(
    datasets: str,
    root: Path | None,
    encoders: tuple[str, ...],
    protocols: tuple[str, ...],
    seeds: int,
    out: Path,
    epochs: int,
    batch_size: int,
    lr: float,
    max_samples: int | None,
    spectral_mode: str,
    num_workers: int,
    accelerator: str,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Evaluate encoders on the SpectralEarth downstream datasets (Braham et al. 2024).

    Every dataset x encoder x protocol x seed is trained on the dataset's training split and
    scored on its test split; finished runs are kept in OUT/runs and skipped when the command is
    run again, so an interrupted benchmark resumes. Writes results.csv (one row per run),
    summary.csv and results.md (mean +/- std over seeds) and results.png (bar plot).

    Example, on the real EnMAP tiles of Potsdam (about a minute on 2 CPU cores):
    eospec benchmark --datasets enmap-potsdam --encoder vae_enmap,random:vae_enmap,raw-rf,raw-logreg
    --seeds 3 --epochs 30 --batch-size 4 --lr 0.01 --out results/potsdam
    """
    import eospec  # noqa: F401  (torchvision fallback before lightning is imported)
    from eospec.benchmark.datasets import parse_dataset_names
    from eospec.benchmark.runner import BenchmarkConfig, run_benchmark

    names = parse_dataset_names(datasets)
    protocol_list = _split_list(protocols)
    for protocol in protocol_list:
        if protocol not in _PROTOCOLS:
            raise click.BadParameter(f"{protocol!r} is not one of {', '.join(_PROTOCOLS)}", param_hint="--protocol")
    config = BenchmarkConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_samples=max_samples,
        spectral_mode=spectral_mode,
        num_workers=num_workers,
        accelerator=accelerator,
    )
    result = run_benchmark(
        names,
        _split_list(encoders),
        out,
        protocols=protocol_list,
        seeds=seeds,
        root=root,
        config=config,
        overwrite=overwrite,
        progress=not quiet,
        echo=None if quiet else click.echo,
    )
    for line in result.skipped:
        click.echo(f"skipped: {line}", err=True)
    click.echo(f"{result.ran} run(s) computed, {result.reused} reused from {out}")
    for kind, path in result.outputs.items():
        click.echo(f"{kind}: {path}")

"""``eospec sample``: multi-date EnMAP patches in the SpectralEarth layout, with a GeoParquet index."""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path

import click

from .options import handle_errors, overwrite_option, progress_option


def _days(value: float | None) -> str | None:
    return None if value is None else f"{value}D"


@click.command("sample")
@click.option(
    "--scenes",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="Folder (searched recursively) or file of EnMAP L2A scenes; repeat for several.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder (<out>/enmap/<patch_id>/<acquisition>.tif and <out>/index.parquet).",
)
@click.option("--patch-size", default=128, show_default=True, type=click.IntRange(min=1), help="Patch side in pixels.")
@click.option("--stride", type=click.IntRange(min=1), help="Grid step in pixels  [default: patch size]")
@click.option(
    "--mode",
    type=click.Choice(["grid", "random"]),
    default="grid",
    show_default=True,
    help="Every window of a grid, or --n-patches random windows.",
)
@click.option("--n-patches", type=click.IntRange(min=1), help="Patches to write in random mode.")
@click.option("--min-dates", default=2, show_default=True, type=click.IntRange(min=1), help="Fewest dates per patch.")
@click.option("--max-dates", type=click.IntRange(min=1), help="Most dates per patch  [default: all]")
@click.option("--views", type=click.IntRange(min=1), help="Exactly this many dates per patch, drawn at random.")
@click.option("--min-gap", type=click.FloatRange(min=0), help="Fewest days between consecutive dates.")
@click.option("--max-gap", type=click.FloatRange(min=0), help="Most days between consecutive dates.")
@click.option("--start", type=click.DateTime(), help="Time of interest: first acquisition time (UTC), e.g. 2022-06-01.")
@click.option("--end", type=click.DateTime(), help="Time of interest: last acquisition time (UTC).")
@click.option(
    "--min-valid-fraction",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fewest valid (not nodata, not cloud) pixels per date, as a fraction of the patch.",
)
@click.option("--crs", help="Warp scenes of different CRS to this one, e.g. EPSG:32633 (else they are refused).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of random windows and date draws.")
@click.option("--glob", "filename_glob", help="Only files matching this glob in scene folders.")
@overwrite_option
@progress_option
@click.pass_context
@handle_errors
def sample_command(
    ctx: click.Context,
    scenes: tuple[Path, ...],
    out: Path,
    patch_size: int,
    stride: int | None,
    mode: str,
    n_patches: int | None,
    min_dates: int,
    max_dates: int | None,
    views: int | None,
    min_gap: float | None,
    max_gap: float | None,
    start: datetime | None,
    end: datetime | None,
    min_valid_fraction: float,
    crs: str | None,
    seed: int,
    filename_glob: str | None,
    overwrite: bool,
    progress: bool | None,
) -> None:
    """Write multi-date EnMAP patches in the SpectralEarth layout, with a GeoParquet index.

    Each window of --patch-size pixels seen at --min-dates dates or more (each with at least
    --min-valid-fraction valid pixels) becomes OUT/enmap/<patch_id>/<YYYYMMDDTHHMMSS>.tif per
    date: int16 reflectance x 10000, nodata -32768, the 202 EnMAP bands without the water-vapour
    bands. OUT/index.parquet lists the patches (footprint, dates, scene ids, valid fractions).
    Running the same command again continues an interrupted run.
    """
    import pandas as pd

    from ..errors import SamplingError
    from ..sampling import write_spectralearth_patches

    if mode == "grid" and n_patches is not None:
        raise click.UsageError("--n-patches applies to --mode random only")
    if views is not None and (max_dates is not None or min_dates != 2):
        raise click.UsageError("--views sets the number of dates: leave out --min-dates and --max-dates")
    toi = None
    if start is not None or end is not None:
        left = pd.Timestamp(start) if start is not None else pd.Timestamp.min
        right = pd.Timestamp(end) if end is not None else pd.Timestamp.max
        if right < left:
            raise SamplingError(f"--end {end} is before --start {start}: swap them")
        toi = pd.Interval(left, right, closed="both")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = write_spectralearth_patches(
            [str(scene) for scene in scenes],
            out,
            patch_size=patch_size,
            stride=stride,
            mode=mode,  # type: ignore[arg-type]
            n_patches=n_patches,
            min_dates=views if views is not None else min_dates,
            max_dates=max_dates,
            views=views,
            min_gap=_days(min_gap),
            max_gap=_days(max_gap),
            toi=toi,
            min_valid_fraction=min_valid_fraction,
            crs=crs,
            seed=seed,
            filename_glob=filename_glob,
            overwrite=overwrite,
            progress=progress,
        )
    for warning in caught:
        if issubclass(warning.category, UserWarning):
            click.echo(f"Warning: {warning.message}", err=True)
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    if not quiet:
        click.echo(
            f"Wrote {result.n_patches} patches ({result.n_files} files) to {result.out_dir} in {result.seconds:.1f} s"
        )
        click.echo(
            f"  new {result.n_written}, kept from an earlier run {result.n_resumed}, "
            f"windows without enough valid dates {result.n_rejected}"
        )
        click.echo(f"  index: {result.index_path}")

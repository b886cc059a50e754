"""``eospec extract``: spectra of scenes at soil sample points, to a GeoParquet table."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from .options import handle_errors, overwrite_option


def _odd(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value < 1 or value % 2 == 0:
        raise click.BadParameter(f"{value!r} is not an odd number of pixels: use 1, 3, 5, ...", ctx, param)
    return value


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from ..datasets.soil import to_timedelta
    from ..errors import SamplesError

    try:
        return to_timedelta(float(value) if value.replace(".", "", 1).isdigit() else value, "--max-time-gap")
    except SamplesError as error:
        message = f"{value!r} is not a duration: give days (10) or a pandas string (10D, 36h)"
        raise click.BadParameter(message, ctx, param) from error


@click.command("extract")
@click.option(
    "--scenes",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="EnMAP L2A scene (DLR folder or zip, tagged GeoTIFF) or folder of scenes; repeat for several.",
)
@click.option(
    "--samples",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Sample points: GeoPackage, GeoParquet, or CSV (with --crs).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Output GeoParquet.")
@overwrite_option
@click.option(
    "--window",
    default=1,
    show_default=True,
    type=int,
    callback=_odd,
    help="Mean of the valid pixels of a k x k window.",
)
@click.option(
    "--max-time-gap",
    callback=_duration,
    help="Largest time between sampling and acquisition, in days or as 10D/36h (default: no limit).",
)
@click.option(
    "--min-valid", default=1, show_default=True, type=click.IntRange(min=1), help="Valid pixels needed in the window."
)
@click.option("--crs", "samples_crs", help="CRS of CSV coordinates, e.g. EPSG:4326 for longitude/latitude.")
@click.option("--x-column", help="Column of x or longitude (default: x, lon, longitude, ...).")
@click.option("--y-column", help="Column of y or latitude (default: y, lat, latitude, ...).")
@click.option("--date-column", help="Column of sampling dates (default: date, sampling_date, ...).")
@click.option("--date-format", help="strftime format of the dates, e.g. %d.%m.%Y (default: inferred).")
@click.option("--id-column", help="Column of sample ids (default: sample_id or id, else the row number).")
@click.option(
    "--property", "properties", multiple=True, help="Measured-property column; repeat (default: numeric ones)."
)
@click.option("--layer", help="Layer of a multi-layer GeoPackage (default: the first with points).")
@click.option("--filename-glob", help="Glob of scene files in folders, e.g. 'enmap_*.tif' (default: all rasters).")
@click.option("--all-bands", is_flag=True, help="All 224 bands (default: the 202 without water-vapour bands).")
@click.pass_context
@handle_errors
def extract_command(
    ctx: click.Context,
    scenes: tuple[Path, ...],
    samples: Path,
    out: Path,
    overwrite: bool,
    window: int,
    max_time_gap: Any,
    min_valid: int,
    samples_crs: str | None,
    x_column: str | None,
    y_column: str | None,
    date_column: str | None,
    date_format: str | None,
    id_column: str | None,
    properties: tuple[str, ...],
    layer: str | None,
    filename_glob: str | None,
    all_bands: bool,
) -> None:
    """Extract the spectra of scenes at sample points into a GeoParquet table.

    One row per sample, in the samples' order: id, properties, status (ok, masked, time_gap,
    outside), scene id, acquisition time, time gap (days), valid pixels in the window, and one
    reflectance column per band (refl_<nm>). Samples outside every scene or on masked pixels
    are kept with their status and empty spectra.
    """
    from ..cog import check_output
    from ..datasets.enmap import EnMAPL2A
    from ..datasets.soil import SoilSamples
    from ..extract import STATUSES, extract_spectra, write_table

    if window * window < min_valid:
        raise click.BadParameter(f"--min-valid {min_valid} is more than the {window * window} pixels of the window")
    check_output(out, overwrite)
    points = SoilSamples(
        samples,
        crs=samples_crs,
        x_column=x_column,
        y_column=y_column,
        date_column=date_column,
        date_format=date_format,
        id_column=id_column,
        properties=list(properties) or None,
        layer=layer,
    )
    missing = [str(path) for path in scenes if not path.exists()]
    if missing:
        raise click.BadParameter(f"{missing[0]!r} does not exist", param_hint="--scenes")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):  # library internals
            warnings.simplefilter("ignore", category)
        dataset = EnMAPL2A(list(scenes), bands=EnMAPL2A.all_bands if all_bands else None, filename_glob=filename_glob)
        frame = extract_spectra(dataset, points, window=window, max_time_gap=max_time_gap, min_valid=min_valid)
        path = write_table(frame, out, overwrite=overwrite)
    for message in dict.fromkeys(str(warning.message) for warning in caught):
        click.echo(f"Warning: {message}", err=True)
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    if not quiet:
        counts = frame["status"].value_counts()
        summary = ", ".join(f"{name} {int(counts.get(name, 0))}" for name in STATUSES)
        scenes_used = frame["scene_id"].dropna().nunique()
        n_bands = len(frame.attrs.get("wavelengths_nm", []))
        click.echo(f"Wrote {path} ({len(frame)} samples, {n_bands} bands, {window} x {window} px window)")
        click.echo(f"  status: {summary}")
        click.echo(f"  from {scenes_used} of {len(dataset)} scene files")

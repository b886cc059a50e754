"""``eospec map``: a soil-property COG from a hyperspectral scene."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from .options import (
    handle_errors,
    overwrite_option,
    progress_option,
    scene_option,
    tile_size_option,
    wavelengths_option,
    workers_option,
)


@click.command("map")
@scene_option(required=True)
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Output COG (.tif).")
@click.option("--model", default="soc", show_default=True, help="Bundled model (see 'eospec models').")
@overwrite_option
@tile_size_option
@workers_option
@wavelengths_option
@click.option(
    "--ndvi-max",
    default=0.3,
    show_default=True,
    type=float,
    help="Pixels with NDVI above this are masked as vegetation.",
)
@progress_option
@click.pass_context
@handle_errors
def map_command(
    ctx: click.Context,
    scene: Path,
    out: Path,
    model: str,
    overwrite: bool,
    tile_size: int,
    workers: int,
    wavelengths: Path | None,
    ndvi_max: float,
    progress: bool | None,
) -> None:
    """Map a soil property (default: SOC in g/kg) from a hyperspectral scene.

    Writes a two-band Cloud-Optimized GeoTIFF (band 1 the property, nodata -9999; band 2 the
    mask reason code, 0 = valid) and a QGIS style OUT.qml beside it.
    """
    from ..mapping import map_scene
    from ..masks import SpectralMaskThresholds

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = map_scene(
            scene,
            out,
            model,
            overwrite=overwrite,
            tile_size=tile_size,
            workers=workers,
            wavelengths=wavelengths,
            thresholds=SpectralMaskThresholds(ndvi_max=ndvi_max),
            progress=progress,
        )
    for warning in caught:
        click.echo(f"Warning: {warning.message}", err=True)
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    if not quiet:
        total = result.width * result.height
        masked = ", ".join(
            f"{name} {count}" for name, count in result.reason_counts.items() if count and name != "valid"
        )
        low, high = result.value_range
        click.echo(f"Wrote {result.path} ({result.width} x {result.height} px, {result.seconds:.1f} s)")
        click.echo(
            f"  {result.n_valid} of {total} pixels valid; {result.model} 2-98 %: {low:.1f}-{high:.1f} {result.unit}"
        )
        click.echo(f"  masked: {masked or 'none'}")
        click.echo(f"  QGIS style: {result.style_path}")

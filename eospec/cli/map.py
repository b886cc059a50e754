"""``eospec map``: a soil-property COG from a hyperspectral scene."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from .options import handle_errors, overwrite_option


@click.command("map")
@click.option(
    "--scene",
    required=True,
    type=click.Path(path_type=Path),
    help="EnMAP L2A product (folder or zip), GeoTIFF with wavelength tags, or ENVI cube.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Output COG (.tif).")
@click.option("--model", default="soc", show_default=True, help="Bundled model (see 'eospec models').")
@overwrite_option
@click.option("--tile-size", default=256, show_default=True, type=click.IntRange(min=16), help="Window side in pixels.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Reader threads.")
@click.option(
    "--wavelengths",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="CSV with 'wavelength,fwhm' (nm), one row per band, for scenes without wavelength tags.",
)
@click.option(
    "--ndvi-max",
    default=0.3,
    show_default=True,
    type=float,
    help="Pixels with NDVI above this are masked as vegetation.",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
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

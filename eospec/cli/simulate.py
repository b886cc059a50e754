"""``eospec simulate``: a small EnMAP-like L2A scene of real spectra with a known SOC truth."""

from __future__ import annotations

from pathlib import Path

import click

from .options import handle_errors, overwrite_option


@click.command("simulate")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Scene GeoTIFF to write (.tif); OUT_truth.tif and OUT_truth.json go beside it.",
)
@click.option(
    "--size",
    default=64,
    show_default=True,
    type=click.IntRange(min=16, max=2048),
    help="Width and height in 30 m pixels.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Random seed (layout, spectra, noise).",
)
@click.option(
    "--snr",
    nargs=2,
    type=click.FloatRange(min=0, min_open=True),
    default=(400.0, 150.0),
    show_default=True,
    metavar="VNIR SWIR",
    help="Signal-to-noise ratio at reflectance 0.3 of the VNIR (1-91) and SWIR (92-224) bands.",
)
@overwrite_option
@click.pass_context
@handle_errors
def simulate_command(
    ctx: click.Context, out: Path, size: int, seed: int, snr: tuple[float, float], overwrite: bool
) -> None:
    """Write a simulated EnMAP L2A scene: real LimeSoDa soils, earthlib vegetation, a lake.

    Soil fields use the held-out fold 10 of LimeSoDa, so 'eospec map --scene OUT' can be
    scored against OUT_truth.tif (band 1: SOC in g/kg). Needs: pip install "eospec[data]".
    """
    from ..simulate import simulate_scene

    result = simulate_scene(out, size=size, seed=seed, snr=snr, overwrite=overwrite)
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    if not quiet:
        click.echo("Simulated EnMAP L2A scene (not a real acquisition):")
        for line in result.summary():
            click.echo(f"  {line}")

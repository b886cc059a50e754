"""``eospec evaluate``: accuracy of a map against a reference raster on the same grid."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import handle_errors


@click.command("evaluate")
@click.option("--map", "map_path", required=True, type=click.Path(path_type=Path), help="Map written by 'eospec map'.")
@click.option(
    "--truth", required=True, type=click.Path(path_type=Path), help="Reference raster, e.g. <scene>_truth.tif."
)
@click.option("--band", default=1, show_default=True, type=click.IntRange(min=1), help="Band of the map.")
@click.option("--truth-band", default=1, show_default=True, type=click.IntRange(min=1), help="Band of the reference.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@handle_errors
def evaluate_command(map_path: Path, truth: Path, band: int, truth_band: int, as_json: bool) -> None:
    """Report RMSE, bias, R2, RPIQ and Lin's CCC of a map against a reference."""
    from ..evaluate import evaluate_map

    accuracy = evaluate_map(map_path, truth, band, truth_band)
    figures = accuracy.metrics
    if as_json:
        click.echo(
            json.dumps(
                {
                    **figures,
                    "reference_pixels": accuracy.reference_pixels,
                    "mapped_fraction": accuracy.mapped_fraction,
                    "unit": accuracy.unit,
                }
            )
        )
        return
    unit = accuracy.unit
    click.echo(
        f"{int(figures['n'])} pixels compared ({accuracy.mapped_fraction:.0%} of "
        f"{accuracy.reference_pixels} reference pixels mapped)"
    )
    click.echo(
        f"  RMSE {figures['rmse']:.2f} {unit}, bias {figures['bias']:+.2f} {unit}, R2 {figures['r2']:.2f}, "
        f"RPIQ {figures['rpiq']:.2f}, Lin's CCC {figures['ccc']:.2f}"
    )

"""``eospec embed``: embeddings of a spectral library (Parquet) or of a scene (per-pixel COG)."""

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


@click.command("embed")
@click.option(
    "--library",
    help="Spectral library: a file (.parquet, .csv, .sli/.hdr, .gpkg), an OSSL folder, or "
    "limesoda:NAME, earthlib:soil, nirsoil:PATH, datsoilspc:PATH, kssl-mir:PATH, ossl:FOLDER.",
)
@scene_option()
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output: .parquet for --library, .tif (COG) for --scene.",
)
@click.option(
    "--encoder",
    default="vae_enmap",
    show_default=True,
    help=(
        "Embedding encoder: a bundled name (see 'eospec models'), a model .json, a SpectralEarth patch "
        "encoder.json, or a SpectralEarth architecture name (spec_resnet18, spec_vit_small, ...) with "
        "RANDOM weights, as a baseline."
    ),
)
@overwrite_option
@tile_size_option
@workers_option
@wavelengths_option
@click.option(
    "--keep-flagged/--mask-flagged",
    default=False,
    show_default=True,
    help="Embed pixels that the product's quality masks flag (cloud, shadow, ...) or give them nodata.",
)
@click.option(
    "--wavelength-unit",
    type=click.Choice(["nm", "um", "cm-1"]),
    default="nm",
    show_default=True,
    help="Axis unit of a CSV library's band columns.",
)
@click.option(
    "--quantity",
    type=click.Choice(["reflectance", "absorbance"]),
    default="reflectance",
    show_default=True,
    help="Quantity of a CSV or ENVI library.",
)
@click.option("--id-column", default=None, help="Sample-id column of a CSV library (rows sharing an id are repeats).")
@click.option(
    "--spectrum-columns",
    default=None,
    help="Band-column prefix of a CSV library, e.g. 'wl_' (default: numeric column names).",
)
@progress_option
@click.pass_context
@handle_errors
def embed_command(
    ctx: click.Context,
    library: str | None,
    scene: Path | None,
    out: Path,
    encoder: str,
    overwrite: bool,
    tile_size: int,
    workers: int,
    wavelengths: Path | None,
    keep_flagged: bool,
    wavelength_unit: str,
    quantity: str,
    id_column: str | None,
    spectrum_columns: str | None,
    progress: bool | None,
) -> None:
    """Embed a spectral library (one row per spectrum, columns z_1..z_K) or a scene (one band per dimension).

    The default encoder, vae_enmap, is a 32-dimensional spectral VAE pretrained on real laboratory
    soil spectra at the 202 EnMAP bands; an embedding is the VAE's posterior mean.
    """
    from ..embedding import embed_library, embed_scene, read_library, write_embeddings

    if (library is None) == (scene is None):
        raise click.UsageError("give exactly one of --library and --scene")
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    suffix = out.name.lower()
    if library is not None:
        if not suffix.endswith((".parquet", ".pq")):
            raise click.BadParameter(f"{str(out)!r}: library embeddings are written as Parquet: use a .parquet name")
        spectra = read_library(
            library,
            wavelength_unit=wavelength_unit,
            quantity=quantity,
            id_column=id_column,
            spectrum_columns=spectrum_columns,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = embed_library(spectra, encoder)
            path = write_embeddings(frame, out, overwrite=overwrite)
        for warning in caught:
            click.echo(f"Warning: {warning.message}", err=True)
        if not quiet:
            description = frame.attrs.get("eospec_embedding", {})
            click.echo(
                f"Wrote {path} ({len(frame)} spectra of {spectra.name or library!r}, "
                f"{description.get('latent_dim', '?')} dimensions from {description.get('encoder', encoder)})"
            )
        return
    assert scene is not None
    if not suffix.endswith((".tif", ".tiff")):
        raise click.BadParameter(f"{str(out)!r}: scene embeddings are written as a COG: use a .tif name")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = embed_scene(
            scene,
            out,
            encoder,
            overwrite=overwrite,
            tile_size=tile_size,
            workers=workers,
            wavelengths=wavelengths,
            mask_quality=not keep_flagged,
            progress=progress,
        )
    for warning in caught:
        click.echo(f"Warning: {warning.message}", err=True)
    if not quiet:
        click.echo(
            f"Wrote {result.path} ({result.width} x {result.height} px, {result.latent_dim} bands, "
            f"{result.seconds:.1f} s)"
        )
        click.echo(f"  {result.n_valid} pixels embedded, {result.n_nodata} nodata; encoder {result.encoder}")

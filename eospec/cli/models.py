"""``eospec models``: list the bundled models, their training data, licence and accuracy."""

from __future__ import annotations

import json
from typing import Any

import click

from ..models.registry import get_model_metadata, list_models, model_task
from .options import handle_errors

__all__ = ["models_command", "describe_model"]


def _training_data(metadata: dict[str, Any]) -> list[str]:
    entries = metadata.get("training_data", [])
    return [f"{entry.get('name', '?')}: n={entry.get('n', '?')}, {entry.get('licence', '?')}" for entry in entries]


def _accuracy(metadata: dict[str, Any]) -> str:
    cv = metadata.get("cross_validation", {})
    if not cv:
        return "not reported"
    unit = metadata.get("unit", "")
    text = (
        f"RMSE {cv.get('rmse', float('nan')):.2f} {unit}, R2 {cv.get('r2', float('nan')):.2f}, "
        f"RPIQ {cv.get('rpiq', float('nan')):.2f}"
    )
    if "n" in cv:
        text += f" (n={cv['n']}, {cv.get('folds', '?')}-fold CV)"
    mixtures = cv.get("mixtures")
    if mixtures:
        text += f"; soil-plant mixtures: RMSE {mixtures['rmse']:.2f} {unit} (n={mixtures['n']})"
    return text


def _moisture(metadata: dict[str, Any]) -> str | None:
    """The EPO step against soil moisture and its out-of-fold figures on wet scans, or None without one."""
    epo = metadata.get("epo")
    if not epo or not epo.get("components"):
        return None
    g, unit = epo["components"], metadata.get("unit", "")
    study = epo.get("study", {})
    text = f"EPO, {g} component{'s' if g > 1 else ''}"
    if str(g) in study and "0" in study:
        with_epo, without = study[str(g)]["wet"], study["0"]["wet"]
        text += (
            f"; wet soils out of fold: RMSE {with_epo['rmse']:.2f} {unit}, R2 {with_epo['r2']:.2f} "
            f"(without EPO: {without['rmse']:.2f}, {without['r2']:.2f})"
        )
    return text


def describe_model(name: str) -> str:
    """A few lines describing a bundled model.

    Args:
        name: registry name, one of :func:`eospec.models.registry.list_models`.

    Returns:
        The description: property, unit, sensor and bands, training data, licence, CV accuracy,
        and for a model with an EPO step its out-of-fold accuracy on wet soils.

    Raises:
        UnknownModelError: If ``name`` is not a bundled model.
    """
    metadata = get_model_metadata(name)
    if model_task(metadata) == "embedding":
        return _describe_encoder(name, metadata)
    architecture = metadata.get("architecture", {})
    hidden = architecture.get("hidden", [])
    kind = "linear" if not hidden else "MLP " + "-".join(str(size) for size in hidden)
    bands = metadata.get("band_wavelengths_nm", [])
    band_text = f"{len(bands)} bands"
    if bands:
        band_text += f", {min(bands):.0f}-{max(bands):.0f} nm"
    valid = metadata.get("valid_range")
    unit = metadata.get("unit", "?")
    training = _training_data(metadata)
    lines = [
        f"{name} (v{metadata.get('version', '?')}): {metadata.get('long_name', '')}",
        f"  property:      {metadata.get('property', '?')} [{unit}]",
        f"  sensor:        {metadata.get('sensor', '?')} ({band_text})",
        f"  model:         {kind}, {'EPO + ' if architecture.get('epo_components') else ''}"
        f"{architecture.get('transform', '?')}{' + SNV' if architecture.get('snv') else ''}",
        f"  valid range:   {f'{valid[0]:g}-{valid[1]:g} {unit}' if valid else 'not given'}",
        f"  CV accuracy:   {_accuracy(metadata)}",
        *([f"  moisture:      {moisture}"] if (moisture := _moisture(metadata)) else []),
        f"  licence:       {metadata.get('licence', '?')}",
        "  training data:" + ("" if training else " unknown"),
        *(f"    - {line}" for line in training),
    ]
    return "\n".join(lines)


def _describe_encoder(name: str, metadata: dict[str, Any]) -> str:
    """A few lines describing an embedding encoder (``task: "embedding"``)."""
    architecture = metadata.get("architecture", {})
    bands = metadata.get("band_wavelengths_nm", [])
    band_text = f"{len(bands)} bands" + (f", {min(bands):.0f}-{max(bands):.0f} nm" if bands else "")
    layers = "-".join(str(size) for size in architecture.get("hidden", []))
    transform = architecture.get("transform", "none")
    features = architecture.get("quantity", "reflectance") + (" as log10(1/R)" if transform == "absorbance" else "")
    held_out = metadata.get("reconstruction", {}).get("held_out", {})
    pca = metadata.get("reconstruction", {}).get("pca32", {})
    if held_out:
        rmse = held_out.get("rmse", float("nan"))
        accuracy = f"held-out RMSE {rmse:.5f} {held_out.get('quantity', '')} (n={held_out.get('n', '?')})"
        if pca:
            accuracy += f"; PCA-32 on the same split {pca.get('rmse', float('nan')):.5f}"
    else:
        accuracy = "not reported"
    training = _training_data(metadata)
    lines = [
        f"{name} (v{metadata.get('version', '?')}): {metadata.get('long_name', metadata.get('description', ''))}",
        f"  task:          embedding ({metadata.get('kind', 'spectral')} encoder, "
        f"{metadata.get('latent_dim', architecture.get('latent_dim', '?'))} dimensions)",
        f"  sensor:        {metadata.get('sensor', '?')} ({band_text})",
        f"  model:         {architecture.get('type', '?')} {architecture.get('kind', '')} {layers}, {features}",
        f"  reconstruction: {accuracy}",
        f"  licence:       {metadata.get('licence', '?')}",
        "  training data:" + ("" if training else " unknown"),
        *(f"    - {line}" for line in training),
    ]
    return "\n".join(lines)


@click.command("models")
@click.argument("names", nargs=-1)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    default=False,
    help="Print the full metadata as JSON (a list, one object per model).",
)
@handle_errors
def models_command(names: tuple[str, ...], as_json: bool) -> None:
    """List the bundled models (or only NAMES) with their accuracy and licence."""
    selected = list(names) or list_models()
    if as_json:
        click.echo(json.dumps([get_model_metadata(name) for name in selected], indent=1))
        return
    if not selected:
        click.echo("No bundled models.")
        return
    click.echo("\n\n".join(describe_model(name) for name in selected))

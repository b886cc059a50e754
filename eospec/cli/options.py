"""Shared click options and the error boundary of every command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import EospecError

F = TypeVar("F", bound=Callable[..., Any])

overwrite_option = click.option("--overwrite", is_flag=True, default=False, help="Replace the output if it exists.")
tile_size_option = click.option(
    "--tile-size", default=256, show_default=True, type=click.IntRange(min=16), help="Window side in pixels."
)
workers_option = click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Reader threads."
)
wavelengths_option = click.option(
    "--wavelengths",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="CSV with 'wavelength,fwhm' (nm), one row per band, for scenes without wavelength tags.",
)
progress_option = click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")


def scene_option(required: bool = False) -> Callable[[F], F]:
    """``--scene``: one hyperspectral scene, as a :class:`~pathlib.Path`.

    Args:
        required: Whether the command needs the option.

    Returns:
        The click option decorator.
    """
    return click.option(
        "--scene",
        required=required,
        type=click.Path(path_type=Path),
        help="EnMAP L2A product (folder or zip), GeoTIFF with wavelength tags, or ENVI cube.",
    )


def _check_output(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """Check an output path early: folder exists and is writable, file absent unless --overwrite."""
    if value is None:
        return None
    path = Path(value)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise click.BadParameter(f"{str(folder)!r} does not exist: create the folder first", ctx, param)
    return path


output_option = click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    callback=_check_output,
    help="Output file.",
)


class CommandError(click.ClickException):
    """A failed command: printed as ``Error: <message>`` with exit code 2."""

    exit_code = 2


def handle_errors(function: F) -> F:
    """Turn eospec's errors into a one-line message and exit code 2 (never a traceback)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except EospecError as error:
            raise CommandError(str(error)) from None
        except (FileNotFoundError, PermissionError, IsADirectoryError) as error:
            raise CommandError(str(error)) from None

    return wrapper  # type: ignore[return-value]

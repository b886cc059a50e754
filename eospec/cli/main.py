"""The ``eospec`` click group.

Commands live one per module (``eospec/cli/<command>.py``) and are imported only when invoked, so
``eospec --help`` and ``eospec map`` do not pay for torchgeo's imports. Every
:class:`eospec.errors.EospecError` (and ``click.UsageError``) becomes a one-line message and
exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import logging

import click

from .. import __version__

#: command name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "benchmark": (
        "eospec.cli.benchmark",
        "benchmark_command",
        "Evaluate encoders on the SpectralEarth downstream datasets (and the real Potsdam tiles).",
    ),
    "extract": (
        "eospec.cli.extract",
        "extract_command",
        "Spectra of scenes at soil sample points, to a GeoParquet table.",
    ),
    "embed": (
        "eospec.cli.embed",
        "embed_command",
        "Per-pixel or per-spectrum embeddings from a pretrained encoder, to a COG or Parquet.",
    ),
    "evaluate": ("eospec.cli.evaluate", "evaluate_command", "Accuracy of a map against a reference raster."),
    "map": ("eospec.cli.map", "map_command", "Map a soil property from a hyperspectral scene to a COG."),
    "models": ("eospec.cli.models", "models_command", "List the bundled models and their accuracy."),
    "sample": (
        "eospec.cli.sample",
        "sample_command",
        "Write multi-date EnMAP patches in the SpectralEarth layout, with a GeoParquet index.",
    ),
    "simulate": (
        "eospec.cli.simulate",
        "simulate_command",
        "Write a small EnMAP-like L2A scene of real soil and vegetation spectra.",
    ),
}


class LazyGroup(click.Group):
    """A click group that imports each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Names of all commands, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """Import and return the command called ``name``."""
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands with their help without importing them."""
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="eospec")
@click.option("-v", "--verbose", count=True, help="More log messages (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """eospec: hyperspectral Earth observation to soil and land-cover maps."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


if __name__ == "__main__":
    cli()

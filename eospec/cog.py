"""Cloud-Optimized GeoTIFF output: safe file replacement, COG conversion, validation, QGIS style.

COGs are made by GDAL's COG driver (through :func:`rasterio.shutil.copy`), which keeps band
descriptions, band tags and band units, and are checked with :func:`rio_cogeo.cog_validate`.
Every output is first written to a hidden temporary file in the destination folder and moved into
place with :func:`os.replace` only when complete, so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio.shutil

from .errors import OutputExistsError, OutputNotWritableError

__all__ = ["check_output", "atomic_output", "translate_to_cog", "validate_cog", "qml_pseudocolor", "overview_count"]

#: A sequential colour ramp (ColorBrewer YlOrBr, 5 classes): light for low, dark brown for high.
SOIL_RAMP: tuple[str, ...] = ("#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404")


def check_output(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Check that an output can be written, before any work is done.

    Args:
        path: the output file.
        overwrite: whether an existing file may be replaced.

    Returns:
        The output path.

    Raises:
        OutputNotWritableError: If the folder does not exist or is not writable, or the path is
            a folder.
        OutputExistsError: If the file exists and ``overwrite`` is false.
    """
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise OutputNotWritableError(
            f"Output {str(target)!r} is a folder: give a file name, e.g. {str(target / 'map.tif')!r}"
        )
    if not folder.is_dir():
        raise OutputNotWritableError(f"Output folder {str(folder)!r} does not exist: create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputNotWritableError(f"Output folder {str(folder)!r} is not writable: choose another --out")
    if target.exists() and not overwrite:
        raise OutputExistsError(f"Output {str(target)!r} exists: pass --overwrite (overwrite=True) to replace it")
    return target


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    Args:
        path: the final file.
        suffix: the temporary file's suffix (default: that of ``path``).

    Yields:
        The temporary path (it does not exist yet); on an exception it is removed.
    """
    final = Path(path)
    handle, name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=suffix if suffix is not None else final.suffix, dir=final.parent
    )
    os.close(handle)
    temporary = Path(name)
    temporary.unlink()
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def overview_count(width: int, height: int, smallest: int = 64) -> int:
    """Number of 2x overview levels until the largest side is at most ``smallest`` pixels.

    Args:
        width: raster columns.
        height: raster rows.
        smallest: stop when the overview's larger side is at or below this.

    Returns:
        The count (0 for rasters already that small).
    """
    count, size = 0, max(width, height)
    while size > smallest:
        size = (size + 1) // 2
        count += 1
    return count


def translate_to_cog(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    blocksize: int = 256,
    resampling: str = "NEAREST",
    compress: str = "DEFLATE",
) -> None:
    """Convert a GeoTIFF to a COG with internal overviews (GDAL COG driver).

    Args:
        source: the finished GeoTIFF (any layout).
        destination: the COG to write (overwritten if present; pair with :func:`atomic_output`).
        blocksize: internal tile size in pixels.
        resampling: overview resampling; ``NEAREST`` keeps class codes intact.
        compress: compression (``DEFLATE`` is read by every GDAL build).
    """
    with rasterio.open(source) as dataset:
        levels = overview_count(dataset.width, dataset.height)
        predictor = "FLOATING_POINT" if dataset.dtypes[0].startswith("float") else "YES"
    options = {
        "compress": compress,
        "predictor": predictor,
        "blocksize": blocksize,
        "overview_resampling": resampling,
        "num_threads": "ALL_CPUS",
        "bigtiff": "IF_SAFER",
    }
    if levels:
        options["overview_count"] = levels
    else:
        options["overviews"] = "NONE"
    rasterio.shutil.copy(str(source), str(destination), driver="COG", **options)


def validate_cog(path: str | os.PathLike[str]) -> tuple[bool, list[str], list[str]]:
    """Validate a COG with rio-cogeo.

    Args:
        path: the file.

    Returns:
        ``(is_valid, errors, warnings)`` as :func:`rio_cogeo.cog_validate` gives them.
    """
    from rio_cogeo.cogeo import cog_validate  # imported here: it pulls in morecantile and pydantic

    valid, errors, warnings = cog_validate(str(path), quiet=True)
    return bool(valid), list(errors), list(warnings)


def qml_pseudocolor(
    minimum: float,
    maximum: float,
    label: str,
    unit: str,
    band: int = 1,
    colors: Sequence[str] = SOIL_RAMP,
) -> str:
    """A QGIS layer style (``.qml``): single-band pseudocolour with an interpolated ramp.

    QGIS applies ``<raster>.qml`` beside a raster as its default style when the layer is added.

    Args:
        minimum: value of the first colour, in ``unit``.
        maximum: value of the last colour, in ``unit``.
        label: the property's name for the legend, e.g. ``"SOC"``.
        unit: the unit, e.g. ``"g/kg"``.
        band: 1-based band to render.
        colors: hex colours from low to high.

    Returns:
        The QML document.
    """
    if not maximum > minimum:
        maximum = minimum + 1.0
    steps = len(colors) - 1
    items = []
    for index, color in enumerate(colors):
        value = minimum + (maximum - minimum) * index / steps
        text = escape(f"{value:.1f} {unit}")
        items.append(f'          <item alpha="255" value="{value:.4f}" label="{text}" color="{color}"/>')
    stops = ";".join(
        f"{index / steps:.2f};{int(c[1:3], 16)},{int(c[3:5], 16)},{int(c[5:7], 16)},255"
        for index, c in enumerate(colors[1:-1], start=1)
    )
    first, last = colors[0], colors[-1]
    rgb = lambda c: f"{int(c[1:3], 16)},{int(c[3:5], 16)},{int(c[5:7], 16)},255"  # noqa: E731
    body = "\n".join(items)
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="Symbology">
  <pipe>
    <rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="1" alphaBand="-1"
        classificationMin="{minimum:.4f}" classificationMax="{maximum:.4f}" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0"
            minimumValue="{minimum:.4f}" maximumValue="{maximum:.4f}" labelPrecision="1">
          <colorramp type="gradient" name="[source]">
            <Option type="Map">
              <Option type="QString" name="color1" value="{rgb(first)}"/>
              <Option type="QString" name="color2" value="{rgb(last)}"/>
              <Option type="QString" name="discrete" value="0"/>
              <Option type="QString" name="rampType" value="gradient"/>
              <Option type="QString" name="stops" value="{stops}"/>
            </Option>
          </colorramp>
{body}
        </colorrampshader>
      </rastershader>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0" invertColors="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
  <!-- {escape(label)} in {escape(unit)} -->
</qgis>
"""

"""Render a map as QGIS shows it (its .qml default style applied) to a PNG.

Runs with the system Python that has QGIS (Debian: ``apt-get install python3-qgis``)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/qgis_render.py soc.tif soc.png

Prints what QGIS reports about the layer (CRS, renderer, band names, style loaded) so a check can
read it, and writes the rendered PNG.
"""

from __future__ import annotations

import sys

from qgis.core import (
    QgsApplication,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def main(raster: str, png: str, size: int = 600) -> None:
    """Render ``raster`` with its default style to ``png``, ``size`` pixels wide."""
    app = QgsApplication([], False)
    app.initQgis()
    layer = QgsRasterLayer(raster, "map")
    if not layer.isValid():
        raise SystemExit(f"QGIS cannot open {raster}")
    message, loaded = layer.loadDefaultStyle()
    renderer = layer.renderer()
    provider = layer.dataProvider()
    print(f"valid={layer.isValid()} crs={layer.crs().authid()} style_loaded={loaded} renderer={renderer.type()}")
    print(f"bands={[provider.generateBandName(b) + ':' + layer.bandName(b) for b in range(1, layer.bandCount() + 1)]}")
    print(f"nodata={provider.sourceNoDataValue(1)} extent={layer.extent().toString(1)}")
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setBackgroundColor(QColor(255, 255, 255))
    width = size
    height = max(1, int(size * layer.height() / layer.width()))
    settings.setOutputSize(QSize(width, height))
    settings.setExtent(layer.extent())
    settings.setDestinationCrs(layer.crs())
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(png, "png")
    print(f"wrote {png}")
    app.exitQgis()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

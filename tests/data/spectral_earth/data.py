#!/usr/bin/env python3
"""Generate the tiny SpectralEarth fixture in this folder (deterministic).

Run from the repository root: ``python tests/data/spectral_earth/data.py``.

Layout (as the SpectralEarth data set and ``eospec sample`` write it)::

    enmap/<patch_id>/<YYYYMMDDTHHMMSS>.tif   16 x 16 pixels, 202 bands, int16 reflectance x 10000

Six patches: ``p0``-``p3`` with two dates, ``p4`` and ``p5`` with one. Pixel (r, c) of band b at
date d holds ``round(10000 * (0.05 + 0.3 * (b / 201) * (1 + 0.1 * d)) + 7 * r + 3 * c + 100 * k)``
for patch k, so that tests can recompute every value; nodata -32768 at pixel (0, 0) of every
band in the second date of ``p0``. ``expected.json`` lists the patches and their dates.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parent
SIZE = 16
BANDS = 202
NODATA = -32768
DATES = ["20220724T104526", "20230502T103012"]
PATCHES = {f"p{k}": DATES if k < 4 else DATES[:1] for k in range(6)}


def values(k: int, d: int) -> np.ndarray:
    b = np.arange(BANDS)[:, None, None]
    r = np.arange(SIZE)[None, :, None]
    c = np.arange(SIZE)[None, None, :]
    data = np.rint(10000 * (0.05 + 0.3 * (b / (BANDS - 1)) * (1 + 0.1 * d)) + 7 * r + 3 * c + 100 * k)
    return data.astype(np.int16)


def main() -> None:
    folder = ROOT / "enmap"
    shutil.rmtree(folder, ignore_errors=True)
    for k, (patch_id, dates) in enumerate(PATCHES.items()):
        (folder / patch_id).mkdir(parents=True)
        for d, date in enumerate(dates):
            data = values(k, d)
            if patch_id == "p0" and d == 1:
                data[:, 0, 0] = NODATA
            profile = {
                "driver": "GTiff",
                "width": SIZE,
                "height": SIZE,
                "count": BANDS,
                "dtype": "int16",
                "crs": CRS.from_epsg(32633),
                "transform": from_origin(366015.0 + 480 * k, 5809965.0, 30.0, 30.0),
                "nodata": NODATA,
                "compress": "deflate",
                "predictor": 2,
            }
            with rasterio.open(folder / patch_id / f"{date}.tif", "w", **profile) as dst:
                dst.write(data)
    (ROOT / "expected.json").write_text(json.dumps({"patches": PATCHES, "size": SIZE, "bands": BANDS}, indent=1) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the soil-sample fixtures in this folder (deterministic, no random numbers).

Run from the repository root: ``python tests/data/soil_samples/data.py``.

Eight sampling points placed on the 32 x 32 EnMAP fixture of ``tests/data/enmap/`` (EPSG:32633,
30 m pixels, upper-left corner 366015 E, 5809965 N, acquired 2022-07-24T10:45:26Z), each at a
chosen pixel plus an offset in metres, and one 2 km outside it:

====  =========  ================================================  ==========
id    pixel      what is there                                     date
====  =========  ================================================  ==========
S01   (10, 10)   soil                                              2022-07-20
S02   (22, 3)    soil; ``soc`` missing                             2022-07-24
S03   (5, 26)    the DLR product's cloud block (valid in GeoTIFF)  2022-07-25
S04   (31, 31)   nodata in every band                              2022-08-30
S05   outside    2 km east of the scene                            2022-07-24
S06   (1, 30)    one pixel from the upper-right corner             (missing)
S07   (16, 0)    an all-zero pixel (edge artefact)                 2022-07-23
S08   (12, 12)   0.7 m inside the pixel's upper-left corner        2022-07-21
====  =========  ================================================  ==========

Writes (about 5 KB in all):

* ``samples.csv``: ``id,lon,lat,date,soc,clay,texture``; WGS 84 longitude/latitude (9 decimals,
  about 0.1 mm), ISO dates, ``soc`` (g/kg) empty for S02, ``clay`` (%) empty for S06, a text
  column ``texture``. The CSV carries no CRS: readers must be told ``crs="EPSG:4326"``.
* ``samples.gpkg``: the same points in EPSG:32633 (UTM 33N) with a ``sampling_date`` date field;
* ``samples.parquet``: GeoParquet, EPSG:32633, ``date`` as a datetime column;
* ``expected.json``: per sample the pixel (row, col) it was placed in (None outside), the UTM
  coordinates, and the scene facts the tests need.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

ROOT = Path(__file__).resolve().parent
ORIGIN = (366015.0, 5809965.0)  # upper-left corner of the EnMAP fixture, EPSG:32633
RES = 30.0
SCENE_CRS = "EPSG:32633"

# id, (row, col) or None, offset east (m), offset north (m) from the pixel's upper-left corner, date
SAMPLES: list[tuple[str, tuple[int, int] | None, float, float, str | None]] = [
    ("S01", (10, 10), 22.0, -8.0, "2022-07-20"),
    ("S02", (22, 3), 5.0, -25.0, "2022-07-24"),
    ("S03", (5, 26), 15.0, -15.0, "2022-07-25"),
    ("S04", (31, 31), 12.0, -20.0, "2022-08-30"),
    ("S05", None, 2000.0, -300.0, "2022-07-24"),
    ("S06", (1, 30), 29.0, -1.5, None),
    ("S07", (16, 0), 14.0, -14.0, "2022-07-23"),
    ("S08", (12, 12), 0.7, -0.7, "2022-07-21"),
]
SOC = [12.5, None, 30.1, 8.0, 15.0, 21.3, 9.9, 17.2]  # g/kg; S02 missing
CLAY = [18.0, 25.0, 31.0, 12.0, 22.0, None, 15.0, 27.0]  # %; S06 missing
TEXTURE = ["loam", "clay loam", "clay", "sandy loam", "loam", "silt loam", "sand", "clay loam"]


def utm_points() -> tuple[np.ndarray, np.ndarray]:
    """UTM easting and northing (m) of the samples."""
    xs, ys = [], []
    for _, pixel, dx, dy, _ in SAMPLES:
        row, col = pixel if pixel is not None else (0, 32)  # outside: east of the last column
        xs.append(ORIGIN[0] + col * RES + dx)
        ys.append(ORIGIN[1] - row * RES + dy)
    return np.array(xs), np.array(ys)


def main() -> None:
    xs, ys = utm_points()
    ids = [sample[0] for sample in SAMPLES]
    dates = [sample[4] for sample in SAMPLES]
    lon, lat = Transformer.from_crs(SCENE_CRS, "EPSG:4326", always_xy=True).transform(xs, ys)
    table = pd.DataFrame(
        {
            "id": ids,
            "lon": np.round(lon, 9),
            "lat": np.round(lat, 9),
            "date": dates,
            "soc": SOC,
            "clay": CLAY,
            "texture": TEXTURE,
        }
    )
    table.to_csv(ROOT / "samples.csv", index=False, float_format="%.9f", na_rep="")

    frame = gpd.GeoDataFrame(
        {
            "id": ids,
            "sampling_date": pd.to_datetime(pd.Series(dates)).dt.date,
            "soc": SOC,
            "clay": CLAY,
            "texture": TEXTURE,
        },
        geometry=gpd.points_from_xy(xs, ys),
        crs=SCENE_CRS,
    )
    gpkg = ROOT / "samples.gpkg"
    gpkg.unlink(missing_ok=True)
    frame.to_file(gpkg, layer="samples", driver="GPKG")

    parquet = frame.rename(columns={"sampling_date": "date"})
    parquet["date"] = pd.to_datetime(pd.Series(dates))
    parquet.to_parquet(ROOT / "samples.parquet")

    expected = {
        "scene_crs": SCENE_CRS,
        "origin": list(ORIGIN),
        "res": RES,
        "acquisition": "2022-07-24T10:45:26",
        "samples": {
            sample_id: {
                "pixel": list(pixel) if pixel is not None else None,
                "x": float(x),
                "y": float(y),
                "date": date,
            }
            for (sample_id, pixel, _, _, date), x, y in zip(SAMPLES, xs, ys, strict=True)
        },
    }
    (ROOT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()

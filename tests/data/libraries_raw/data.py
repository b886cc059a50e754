#!/usr/bin/env python3
"""Generate the spectral-library fixtures in this folder (deterministic, a few KB).

Run from the repository root: ``python tests/data/libraries_raw/data.py``.

Writes:

* ``tiny.sli`` + ``tiny.hdr``: an ENVI spectral library of 3 spectra x 10 bands, int16 reflectance
  x 10000 (``reflectance scale factor = 10000``), little endian, band centres in micrometres, band 4
  marked bad in ``bbl``, one value equal to ``data ignore value = -9999``; spectra names
  ``soil A``, ``soil A`` (a repeat), ``grass``; with EnMAP-Box-style sidecars ``tiny.csv`` (names,
  ``level_1`` class, ``soc`` in g/kg with one missing value) and ``tiny.json`` (class ids);
* ``usgs_like.sli`` + ``usgs_like.hdr``: a library laid out like USGS splib07 ENVI files: big endian
  float32, no ``wavelength`` field in the header but a ``Wavelengths in microns`` record and a
  ``Resolution in microns`` record as the first two rows, an ``error bars to preceding`` record,
  a deleted channel holding ``-1.23e34``, and AVIRIS-like overlapping band centres (not increasing);
* ``tiny_enmapbox.gpkg``: an EnMAP-Box spectral library GeoPackage (layer ``library``): 3 features
  with ``name``, ``level_1``, ``soc`` and a point geometry (EPSG:32633, one empty), and a BLOB field
  ``profiles`` holding UTF-8 JSON ``{"x", "y", "xUnit", "bbl"}`` as the EnMAP-Box writes it
  (``encodeProfileValueDict``), 8 bands in nanometres, one bad band and one ``null`` value.

The helpers :func:`write_envi_library` and :func:`write_enmapbox_gpkg` are also used by the tests
to write edge cases into temporary folders.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

TINY_WAVELENGTHS_UM = [0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.05, 1.15, 1.25, 1.35]
TINY_DN = [
    [500, 800, 1000, 1500, 2000, 2400, 2600, 2800, 3000, 3100],
    [520, 810, 990, 1490, 2050, 2410, -9999, 2790, 3010, 3120],
    [300, 600, 400, 3500, 4200, 4400, 4500, 4300, 4100, 3900],
]
TINY_BBL = [1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
TINY_NAMES = ["soil A", "soil A", "grass"]

USGS_WAVELENGTHS_UM = [0.40, 0.50, 0.60, 0.70, 0.65, 0.75, 0.85, 0.95]
USGS_FWHM_UM = [0.01] * 8
USGS_QUARTZ = [0.80, 0.82, 0.84, 0.86, 0.85, 0.87, 0.88, 0.89]
USGS_ERRORS = [0.01] * 8
USGS_KAOLINITE = [-1.23e34, 0.60, 0.70, 0.75, 0.72, 0.78, 0.80, 0.81]

GPKG_WAVELENGTHS_NM = [400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0, 1100.0]
GPKG_PROFILES = [
    [0.05, 0.08, 0.10, 0.15, 0.20, 0.24, 0.26, 0.28],
    [0.06, 0.09, None, 0.16, 0.21, 0.25, 0.27, 0.29],
    [0.03, 0.06, 0.04, 0.35, 0.42, 0.44, 0.45, 0.43],
]
GPKG_BBL = [1, 1, 1, 1, 1, 0, 1, 1]


def write_envi_library(
    stem: Path,
    values: np.ndarray,
    fields: Mapping[str, Any],
    *,
    byte_order: int = 0,
    suffix: str = ".sli",
) -> tuple[Path, Path]:
    """Write ``values`` (N, B) as ``<stem><suffix>`` with the ENVI header ``<stem>.hdr``.

    The dtype of ``values`` sets ``data type``; ``fields`` adds header fields (lists are written in
    braces). ``samples``, ``lines``, ``bands``, ``data type``, ``byte order``, ``header offset``,
    ``file type`` and ``interleave`` are written unless ``fields`` overrides them.
    """
    codes = {"uint8": 1, "int16": 2, "int32": 3, "float32": 4, "float64": 5, "uint16": 12}
    array = np.asarray(values)
    header: dict[str, Any] = {
        "description": "eospec test library",
        "samples": array.shape[1],
        "lines": array.shape[0],
        "bands": 1,
        "header offset": 0,
        "file type": "ENVI Spectral Library",
        "data type": codes[array.dtype.name],
        "interleave": "bsq",
        "byte order": byte_order,
    }
    header.update(fields)
    lines = ["ENVI"]
    for key, value in header.items():
        if isinstance(value, (list, tuple)):
            lines.append(f"{key} = {{\n " + ",\n ".join(str(item) for item in value) + "}")
        elif key == "description":
            lines.append(f"{key} = {{\n  {value}}}")
        else:
            lines.append(f"{key} = {value}")
    header_path = stem.with_suffix(".hdr")
    data_path = stem.with_suffix(suffix)
    header_path.write_text("\n".join(lines) + "\n")
    array.astype(array.dtype.newbyteorder(">" if byte_order else "<")).tofile(data_path)
    return header_path, data_path


def encode_profile(profile: Mapping[str, Any]) -> str:
    """JSON of a profile dictionary as the EnMAP-Box ``encodeProfileValueDict`` writes it (NaN -> null)."""
    clean = {key: value for key, value in profile.items() if value is not None}
    return json.dumps(clean, ensure_ascii=False, allow_nan=False)


def write_enmapbox_gpkg(
    path: Path,
    records: Sequence[Mapping[str, Any]],
    *,
    layer: str = "library",
    crs: str | None = "EPSG:32633",
    blob_fields: Sequence[str] = ("profiles",),
    text_fields: Sequence[str] = (),
) -> Path:
    """Write an EnMAP-Box-style spectral library layer.

    Each record maps attribute names to values, ``geometry`` to a shapely geometry (or None), and
    each name in ``blob_fields`` / ``text_fields`` to a profile dictionary (or None, or raw bytes /
    text written as given). BLOB fields are added with SQLite after pyogrio wrote the layer, since
    pyogrio writes no binary fields; GDAL reads them as OFTBinary, like the EnMAP-Box's own files.
    """
    import geopandas as gpd

    profile_names = set(blob_fields) | set(text_fields)
    columns: dict[str, list[Any]] = {}
    for record in records:
        for key in record:
            if key not in profile_names and key != "geometry":
                columns.setdefault(key, [])
    for key in columns:
        columns[key] = [record.get(key) for record in records]
    for key in text_fields:
        columns[key] = [
            value if value is None or isinstance(value, str) else encode_profile(value)
            for value in (record.get(key) for record in records)
        ]
    geometry = [record.get("geometry") for record in records]
    frame = gpd.GeoDataFrame(columns, geometry=geometry, crs=crs)
    if path.exists():
        frame.to_file(path, layer=layer, driver="GPKG", mode="a")
    else:
        frame.to_file(path, layer=layer, driver="GPKG")
    with sqlite3.connect(path) as connection:
        # The GeoPackage's R-tree triggers call SpatiaLite functions on any UPDATE; they only act when the
        # geometry or fid changes, which these updates never do, so stand-ins that are never used suffice.
        connection.create_function("ST_IsEmpty", 1, lambda geometry: 0)
        for name in ("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):
            connection.create_function(name, 1, lambda geometry: 0.0)
        for key in blob_fields:
            connection.execute(f'ALTER TABLE "{layer}" ADD COLUMN "{key}" BLOB')
            for fid, record in enumerate(records, start=1):
                value = record.get(key)
                if isinstance(value, Mapping):
                    value = encode_profile(value).encode("utf-8")
                connection.execute(f'UPDATE "{layer}" SET "{key}" = ? WHERE fid = ?', (value, fid))
    return path


def main() -> None:
    """Write the committed fixtures."""
    import shapely

    write_envi_library(
        HERE / "tiny",
        np.asarray(TINY_DN, dtype=np.int16),
        {
            "wavelength units": "Micrometers",
            "reflectance scale factor": 10000,
            "data ignore value": -9999,
            "spectra names": TINY_NAMES,
            "wavelength": TINY_WAVELENGTHS_UM,
            "bbl": TINY_BBL,
        },
    )
    (HERE / "tiny.csv").write_text("spectra names,level_1,soc\nsoil A,soil,12.5\nsoil A,soil,\ngrass,vegetation,30.1\n")
    (HERE / "tiny.json").write_text(
        json.dumps(
            {
                "level_1": {
                    "categories": [
                        [0, "unclassified", [0, 0, 0]],
                        [1, "soil", [168, 112, 0]],
                        [2, "vegetation", [56, 168, 0]],
                    ]
                }
            }
        )
    )
    usgs = np.asarray([USGS_WAVELENGTHS_UM, USGS_FWHM_UM, USGS_QUARTZ, USGS_ERRORS, USGS_KAOLINITE], dtype=np.float32)
    write_envi_library(
        HERE / "usgs_like",
        usgs,
        {
            "wavelength units": "Micrometers",
            "spectra names": [
                "Wavelengths in microns 8ch TEST",
                "Resolution  in microns 8ch TEST",
                "Quartz GDS31        ASDFRb AREF",
                " error bars to preceding       ",
                "Kaolinite CM9        BECKa AREF",
            ],
        },
        byte_order=1,
    )
    gpkg = HERE / "tiny_enmapbox.gpkg"
    gpkg.unlink(missing_ok=True)
    records = [
        {
            "name": name,
            "level_1": level,
            "soc": soc,
            "geometry": geometry,
            "profiles": {"x": GPKG_WAVELENGTHS_NM, "y": values, "xUnit": "Nanometers", "bbl": GPKG_BBL},
        }
        for name, level, soc, geometry, values in zip(
            ["soil A", "soil A", "grass"],
            ["soil", "soil", "vegetation"],
            [12.5, None, 30.1],
            [shapely.Point(370000.0, 5810000.0), shapely.Point(370030.0, 5810000.0), shapely.Point()],
            GPKG_PROFILES,
            strict=True,
        )
    ]
    write_enmapbox_gpkg(gpkg, records)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the multi-date EnMAP stack in this folder (deterministic, no random numbers).

Run from the repository root: ``python tests/data/enmap_stack/data.py``.

Three acquisitions of the same area (EPSG:32633, 30 m, 48 x 48 pixels, 224 bands, int16
reflectance x 10000, nodata -32768, DEFLATE), with overlapping but shifted footprints:

* ``enmap_20220724.tif``: EnMAP-Box style (band tags ``wavelength``/``fwhm``/``bbl``, GDAL band
  scale 0.0001, dataset tag ``start_time``), upper-left corner at (366015, 5809965);
* ``<PRODUCT>/``: a DLR L2A product folder acquired 2022-08-17 (``-SPECTRAL_IMAGE.TIF``, a
  ``-METADATA.XML`` with the band characterisation and start time, and a ``-QL_QUALITY_CLOUD.TIF``
  whose cloud block covers rows 2-21, columns 26-45 of that scene), shifted 8 px east and 6 px south;
* ``enmap_20230502.tif``: EnMAP-Box style, shifted 6 px west and 4 px north.

The three overlap on columns 8-41 and rows 6-43 of the first scene's grid. Every pixel is a
mixture of the vegetation and soil spectra of ``tests/data/enmap/data.py``, with a vegetation
abundance that depends on the ground position (so the same ground looks alike at every date)
and on the date (green-up); the cloud block holds a bright, flat cloud spectrum. ``expected.json``
lists what the tests need (grids, dates, the cloud block in map coordinates).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parents[2]
sys.path.insert(0, str(REPO))

from eospec.sensors import ENMAP_DEFAULT_BANDS, enmap  # noqa: E402

_spec = importlib.util.spec_from_file_location("enmap_fixture_data", ROOT.parent / "enmap" / "data.py")
assert _spec is not None and _spec.loader is not None
enmap_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(enmap_fixture)

SIZE = 48
RES = 30.0
X0, Y0 = 366015.0, 5809965.0
CRS_EPSG = 32633
NODATA = -32768
SCALE = 10000
PRODUCT = "ENMAP01-____L2A-DT0000002001_20220817T103012Z_003_V010302_20230105T120000Z"
#: name -> (start time, column shift, row shift) relative to the first scene's grid
DATES = {
    "enmap_20220724.tif": ("2022-07-24T10:45:26", 0, 0),
    PRODUCT: ("2022-08-17T10:30:12", 8, 6),
    "enmap_20230502.tif": ("2023-05-02T10:12:40", -6, -4),
}
GREEN = {"enmap_20220724.tif": 1.0, PRODUCT: 0.7, "enmap_20230502.tif": 0.4}
CLOUD_ROWS = (2, 22)  # half-open, in the DLR scene's own grid
CLOUD_COLS = (26, 46)
CREATION = {"compress": "deflate", "predictor": 2, "interleave": "band", "tiled": False}


def transform_of(name: str) -> rasterio.Affine:
    _, dc, dr = DATES[name]
    return from_origin(X0 + dc * RES, Y0 - dr * RES, RES, RES)


def cube(name: str, wl: np.ndarray) -> np.ndarray:
    """DN (224, SIZE, SIZE) int16 for one date."""
    _, dc, dr = DATES[name]
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    rows += dr  # ground position in the first scene's grid
    cols += dc
    # parcels of 5 x 7 pixels on the ground, each with its own vegetation cover (compresses well)
    parcel_row, parcel_col = np.floor(rows / 7.0), np.floor(cols / 5.0)
    field = (0.5 + 0.5 * np.sin(1.7 * parcel_col + 0.9 * parcel_row) * np.cos(0.6 * parcel_row)).round(1)
    abundance = np.clip(GREEN[name] * field, 0, 1)
    veg, bare = enmap_fixture.vegetation(wl), enmap_fixture.soil(wl)
    reflectance = abundance * veg[:, None, None] + (1 - abundance) * bare[:, None, None]
    if name == PRODUCT:
        cloud = 0.55 + 0.05 * enmap_fixture.gauss(wl, 500, 300) - 0.2 * enmap_fixture.gauss(wl, 1400, 60)
        reflectance[:, CLOUD_ROWS[0] : CLOUD_ROWS[1], CLOUD_COLS[0] : CLOUD_COLS[1]] = cloud[:, None, None]
    return np.clip(np.round(reflectance * SCALE), 1, 15000).astype(np.int16)


def write(path: Path, data: np.ndarray, transform: rasterio.Affine, tagged_start: str | None = None) -> None:
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": CRS.from_epsg(CRS_EPSG),
        "transform": transform,
        "nodata": NODATA if data.shape[0] > 1 else None,
        **CREATION,
    }
    with rasterio.open(path, "w", **profile) as dst:
        if tagged_start is not None:
            sensor = enmap()
            bbl = np.zeros(sensor.n_bands, dtype=int)
            bbl[np.asarray(ENMAP_DEFAULT_BANDS) - 1] = 1
            dst.update_tags(start_time=tagged_start)
            for index, description in enumerate(enmap_fixture.band_names(sensor.wavelengths_nm)):
                dst.set_band_description(index + 1, description)
                dst.update_tags(
                    index + 1,
                    wavelength=repr(float(sensor.wavelengths_nm[index])),
                    fwhm=repr(float(sensor.fwhm_nm[index])),
                    bbl=str(bbl[index]),
                    wavelength_units="Nanometers",
                )
            dst.scales = (1.0 / SCALE,) * data.shape[0]
            dst.offsets = (0.0,) * data.shape[0]
        dst.write(data)


def metadata_xml(wl: np.ndarray, fwhm: np.ndarray, start: str) -> str:
    """The parts of a DLR L2A METADATA.XML that eospec reads (see eospec/io/dlr.py)."""
    bands = "\n".join(
        f'      <bandID number="{i + 1}">\n'
        f"        <wavelengthCenterOfBand>{float(wl[i])!r}</wavelengthCenterOfBand>\n"
        f"        <FWHMOfBand>{float(fwhm[i])!r}</FWHMOfBand>\n"
        f"        <GainOfBand>{1 / SCALE!r}</GainOfBand>\n"
        f"        <OffsetOfBand>0.0</OffsetOfBand>\n"
        f"      </bandID>"
        for i in range(wl.size)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<level_X>
  <!-- eospec test fixture: the structure of a DLR EnMAP HSI L2A METADATA.XML, synthetic values -->
  <metadata>
    <schema><processingLevel>L2A</processingLevel></schema>
    <name>{PRODUCT}-METADATA.XML</name>
  </metadata>
  <base>
    <temporalCoverage><startTime>{start}.000Z</startTime></temporalCoverage>
  </base>
  <specific>
    <bandCharacterisation>
{bands}
    </bandCharacterisation>
  </specific>
</level_X>
"""


def main() -> None:
    sensor = enmap()
    wl, fwhm = sensor.wavelengths_nm, sensor.fwhm_nm
    for name, (start, _, _) in DATES.items():
        data = cube(name, wl)
        if name == PRODUCT:
            folder = ROOT / PRODUCT
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            write(folder / f"{PRODUCT}-SPECTRAL_IMAGE.TIF", data, transform_of(name))
            (folder / f"{PRODUCT}-METADATA.XML").write_text(metadata_xml(wl, fwhm, start), encoding="utf-8")
            cloud = np.zeros((1, SIZE, SIZE), dtype=np.uint8)
            cloud[0, CLOUD_ROWS[0] : CLOUD_ROWS[1], CLOUD_COLS[0] : CLOUD_COLS[1]] = 1
            write(folder / f"{PRODUCT}-QL_QUALITY_CLOUD.TIF", cloud, transform_of(name))
        else:
            write(ROOT / name, data, transform_of(name), tagged_start=start)
    cloud_transform = transform_of(PRODUCT)
    cx0, cy1 = cloud_transform * (CLOUD_COLS[0], CLOUD_ROWS[0])
    cx1, cy0 = cloud_transform * (CLOUD_COLS[1], CLOUD_ROWS[1])
    expected = {
        "crs_epsg": CRS_EPSG,
        "res": RES,
        "size": SIZE,
        "nodata": NODATA,
        "scale": SCALE,
        "files": {
            name: {
                "start_time": start,
                "path": f"{PRODUCT}/{PRODUCT}-SPECTRAL_IMAGE.TIF" if name == PRODUCT else name,
                "scene_id": PRODUCT if name == PRODUCT else Path(name).stem,
            }
            for name, (start, _, _) in DATES.items()
        },
        "cloud_bounds": [cx0, cy0, cx1, cy1],
        "cloudy_scene": PRODUCT,
    }
    for info in expected["files"].values():
        with rasterio.open(ROOT / info["path"]) as dataset:
            info["bounds"] = list(dataset.bounds)
    (ROOT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    print(f"wrote {ROOT} ({total / 1e3:.0f} KB)")


if __name__ == "__main__":
    main()


def write_mixed_crs_stack(folder: Path, epsg: int = 32632) -> Path:
    """Copy the stack into ``folder`` with ``enmap_20230502.tif`` warped to another CRS (for tests).

    Args:
        folder: an empty folder.
        epsg: the CRS of the warped scene.

    Returns:
        The path of the warped scene.
    """
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    shutil.copy(ROOT / "enmap_20220724.tif", folder / "enmap_20220724.tif")
    shutil.copytree(ROOT / PRODUCT, folder / PRODUCT)
    target = folder / "enmap_20230502.tif"
    with rasterio.open(ROOT / "enmap_20230502.tif") as src:
        crs = CRS.from_epsg(epsg)
        transform, width, height = calculate_default_transform(
            src.crs, crs, src.width, src.height, *src.bounds, resolution=RES
        )
        profile = {**src.profile, "crs": crs, "transform": transform, "width": width, "height": height}
        with rasterio.open(target, "w", **profile) as dst:
            dst.update_tags(**src.tags())
            for band in range(1, src.count + 1):
                dst.update_tags(band, **src.tags(band))
                dst.set_band_description(band, src.descriptions[band - 1])
            dst.scales, dst.offsets = src.scales, src.offsets
            for band in range(1, src.count + 1):
                reproject(
                    rasterio.band(src, band),
                    rasterio.band(dst, band),
                    src_nodata=NODATA,
                    dst_nodata=NODATA,
                    resampling=Resampling.nearest,
                )
    return target

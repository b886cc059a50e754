#!/usr/bin/env python3
"""Generate the EnMAP test fixtures in this folder (deterministic: fixed seed, fixed zip times).

Run from the repository root: ``python tests/data/enmap/data.py``.

Writes:

* ``<PRODUCT>/``: a DLR EnMAP L2A product folder (``-SPECTRAL_IMAGE.TIF`` int16 reflectance
  x 10000, nodata -32768, EPSG:32633, 30 m; ``-METADATA.XML`` shaped like the DLR product
  specification EN-PCV-ICD-2009-2; ``-QL_QUALITY_*`` masks with a cloud block; a 224-band
  ``-QL_PIXELMASK``; ``-QL_VNIR``/``-QL_SWIR`` quicklooks) and ``<PRODUCT>.zip`` holding that
  folder, as DLR delivers it;
* ``enmapbox_style.tif``: the same pixels as the EnMAP-Box writes them (float32 reflectance
  x 10000, GDAL band scale 0.0001, band tags ``wavelength``/``fwhm``/``bbl``/``wavelength_units``,
  band descriptions, dataset tag ``start_time``), like the real Potsdam tiles;
* ``envi_cube.bsq`` + ``envi_cube.hdr``: the same pixels as an ENVI cube (int16, UTM 33N);
* ``no_wavelengths.tif``, ``rgb.tif``, ``no_crs.tif``, ``all_nodata.tif``, ``not_a_raster.tif``:
  edge cases;
* ``expected.json``: what the files hold (band centres, FWHM, gains, bad bands, cloud block,
  nodata/zero/vegetation/soil pixels, ...), for the tests.

Pixels are mixtures of a smooth vegetation spectrum (red edge, NDVI > 0.6) and a soil spectrum
(NDVI < 0.2) with a smooth abundance field, a cloud block (bright, flat), four nodata pixels
(-32768 in every band), two all-zero pixels, and bands 130-135 (1331-1391 nm) filled with
nodata in every pixel, as in the real Potsdam L2A scene.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parents[2]
sys.path.insert(0, str(REPO))

from eospec.sensors import enmap  # noqa: E402

SEED = 0
SIZE = 32
PRODUCT = "ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302_20230628T165614Z"
START_TIME = "2022-07-24T10:45:26.470Z"
STOP_TIME = "2022-07-24T10:45:30.782Z"
NODATA = -32768
SCALE = 10000
GAIN = 1.0 / SCALE
CRS_EPSG = 32633
TRANSFORM = from_origin(366015.0, 5809965.0, 30.0, 30.0)
BAD_BANDS = tuple(range(130, 136))  # 1-based, 1331-1391 nm: nodata in the real scene
CLOUD_ROWS = (4, 8)  # half-open
CLOUD_COLS = (24, 30)
NODATA_PIXELS = ((0, 0), (0, 1), (1, 0), (31, 31))
ZERO_PIXELS = ((15, 0), (16, 0))
DEFECTIVE = {"band": 200, "row": 20, "col": 5}  # one entry of the per-band pixel mask
ZIP_TIME = (2023, 6, 28, 16, 56, 14)
FILES = (
    "SPECTRAL_IMAGE.TIF",
    "METADATA.XML",
    "QL_QUALITY_CLOUD.TIF",
    "QL_QUALITY_CIRRUS.TIF",
    "QL_QUALITY_SNOW.TIF",
    "QL_QUALITY_CLOUDSHADOW.TIF",
    "QL_QUALITY_HAZE.TIF",
    "QL_QUALITY_CLASSES.TIF",
    "QL_PIXELMASK.TIF",
    "QL_VNIR.TIF",
    "QL_SWIR.TIF",
)
CREATION = {"compress": "deflate", "predictor": 2, "interleave": "band"}


def gauss(wl: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((wl - centre) / width) ** 2)


def vegetation(wl: np.ndarray) -> np.ndarray:
    """Green leaf canopy: chlorophyll wells, red edge at ~715 nm, NIR plateau, water bands."""
    r = 0.035 + 0.045 * gauss(wl, 555, 35) - 0.01 * gauss(wl, 670, 25)
    r += 0.42 / (1 + np.exp(-(wl - 715) / 12))
    swir = wl > 1000
    r[swir] -= 0.12 * (wl[swir] - 1000) / 1500
    r -= 0.05 * gauss(wl, 975, 30) + 0.08 * gauss(wl, 1200, 45)
    r -= 0.22 * gauss(wl, 1450, 70) + 0.25 * gauss(wl, 1940, 90) + 0.08 * gauss(wl, 2500, 150)
    return np.clip(r, 0.01, None)


def soil(wl: np.ndarray) -> np.ndarray:
    """Dry loam: rising from the blue, iron-oxide shoulder, weak water and clay features."""
    r = 0.07 + 0.23 * (1 - np.exp(-(wl - 400) / 700)) - 0.015 * gauss(wl, 900, 80)
    r -= 0.04 * gauss(wl, 1415, 40) + 0.06 * gauss(wl, 1915, 60) + 0.035 * gauss(wl, 2205, 25)
    return r


def ndvi(spectrum: np.ndarray, wl: np.ndarray) -> float:
    red = spectrum[np.argmin(np.abs(wl - 665))]
    nir = spectrum[np.argmin(np.abs(wl - 850))]
    return float((nir - red) / (nir + red))


def make_cube(wl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DN cube (B, H, W) int16 (reflectance x 10000) and the vegetation abundance (H, W)."""
    rng = np.random.default_rng(SEED)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    abundance = 1 / (1 + np.exp(-(cols - 15.5 + 4 * np.sin(rows / 5)) / 1.5))
    brightness = 1 + 0.08 * np.sin(rows / 7 + 1) * np.cos(cols / 9)
    veg, bare = vegetation(wl), soil(wl)
    reflectance = brightness * (abundance * veg[:, None, None] + (1 - abundance) * bare[:, None, None])
    cloud = 0.55 + 0.05 * gauss(wl, 500, 300) - 0.2 * gauss(wl, 1400, 60) - 0.25 * gauss(wl, 1900, 80)
    r0, r1 = CLOUD_ROWS
    c0, c1 = CLOUD_COLS
    reflectance[:, r0:r1, c0:c1] = cloud[:, None, None]
    reflectance += rng.normal(0.0, 0.0002, reflectance.shape)
    dn = np.clip(np.round(reflectance * SCALE), 1, 15000).astype(np.int16)
    for row, col in NODATA_PIXELS:
        dn[:, row, col] = NODATA
    for row, col in ZERO_PIXELS:
        dn[:, row, col] = 0
    dn[np.asarray(BAD_BANDS) - 1] = NODATA
    return dn, abundance


def band_names(wl: np.ndarray) -> list[str]:
    return [f"band {i + 1} ({w!r} Nanometers)" for i, w in enumerate(wl.tolist())]


def write_tif(
    path: Path,
    data: np.ndarray,
    crs: CRS | None = None,
    nodata: float | None = None,
    tagged: bool = False,
    scale: float | None = None,
    start_time: str | None = "2022-07-24T10:45:26",
    **extra: object,
) -> None:
    """Write a GeoTIFF; ``tagged`` adds the EnMAP-Box band tags (wavelength, fwhm, bbl, units),
    band descriptions and the dataset tag ``start_time``; ``scale`` a GDAL band scale."""
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": TRANSFORM,
        "nodata": nodata,
        **CREATION,
        **extra,
    }
    with rasterio.open(path, "w", **profile) as dst:
        if tagged:
            sensor = enmap()
            wl, fwhm = sensor.wavelengths_nm, sensor.fwhm_nm
            bbl = np.ones(wl.size, dtype=int)
            bbl[np.asarray(BAD_BANDS) - 1] = 0
            if start_time:
                dst.update_tags(start_time=start_time)
            for index, name in enumerate(band_names(wl)):
                dst.set_band_description(index + 1, name)
                dst.update_tags(
                    index + 1,
                    wavelength=repr(float(wl[index])),
                    fwhm=repr(float(fwhm[index])),
                    bbl=str(bbl[index]),
                    wavelength_units="Nanometers",
                )
        if scale is not None:
            dst.scales = (scale,) * data.shape[0]
            dst.offsets = (0.0,) * data.shape[0]
        dst.write(data)


def metadata_xml(wl: np.ndarray, fwhm: np.ndarray, dn: np.ndarray) -> str:
    """A METADATA.XML with the structure of a DLR L2A product (the parts readers use)."""
    n = wl.size
    band_rows = "\n".join(
        f'      <bandID number="{i + 1}">\n'
        f"        <wavelengthCenterOfBand>{float(wl[i])!r}</wavelengthCenterOfBand>\n"
        f"        <FWHMOfBand>{float(fwhm[i])!r}</FWHMOfBand>\n"
        f"        <GainOfBand>{GAIN!r}</GainOfBand>\n"
        f"        <OffsetOfBand>0.0</OffsetOfBand>\n"
        f"      </bandID>"
        for i in range(n)
    )
    valid = dn != NODATA
    stats = []
    for i in range(n):
        values = dn[i][valid[i]].astype(float) * GAIN
        if values.size == 0:
            mean, std = "-1000000", "0"
        else:
            mean, std = f"{values.mean():.6f}", f"{values.std():.6f}"
        stats.append(
            f'      <bandID number="{i + 1}">\n'
            f"        <wavelength>{float(wl[i])!r}</wavelength>\n"
            f"        <mean>{mean}</mean>\n"
            f"        <stdDeviation>{std}</stdDeviation>\n"
            f"      </bandID>"
        )
    files = "\n".join(
        f'      <file number="{i}">\n'
        f"        <name>{PRODUCT}-{suffix}</name>\n"
        f'        <size unit="Kbyte">NA</size>\n'
        f"        <version>01.03.02</version>\n"
        f"        <format>{'xml' if suffix.endswith('XML') else 'binary'}</format>\n"
        f"      </file>"
        for i, suffix in enumerate(FILES)
    )
    vnir = ",".join(str(i) for i in range(1, 92))
    swir = ",".join(str(i) for i in range(92, n + 1))
    corners = {
        "upper_left": (52.42346, 13.02956),
        "upper_right": (52.42369, 13.04367),
        "lower_left": (52.41484, 13.02994),
        "lower_right": (52.41507, 13.04405),
        "center": (52.41927, 13.03680),
    }
    points = "\n".join(
        f"          <point>\n"
        f"            <frame>{frame}</frame>\n"
        f"            <latitude>{lat}</latitude>\n"
        f"            <longitude>{lon}</longitude>\n"
        f"          </point>"
        for frame, (lat, lon) in corners.items()
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<level_X xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="L2A_schema.xsd">
  <!-- eospec test fixture: structure of a DLR EnMAP HSI L2A METADATA.XML (EN-PCV-ICD-2009-2), synthetic values -->
  <metadata>
    <schema>
      <processingLevel>L2A</processingLevel>
      <versionSchema>01.03.02</versionSchema>
    </schema>
    <name>{PRODUCT}-METADATA.XML</name>
    <comment>EnMAP Level 2A product (eospec synthetic test fixture)</comment>
  </metadata>
  <processing>
    <terrainCorrection>Yes</terrainCorrection>
    <productFormat>GeoTIFF+Metadata</productFormat>
    <mapProjection>UTM_Zone_of_Scene_Center</mapProjection>
    <correctionType>Land_Mode</correctionType>
  </processing>
  <base>
    <format>ENMAP_L2A</format>
    <level>L2A</level>
    <size unit="Mbyte">1</size>
    <temporalCoverage>
      <startTime>{START_TIME}</startTime>
      <stopTime>{STOP_TIME}</stopTime>
    </temporalCoverage>
    <spatialCoverage>
      <boundingPolygon>
{points}
      </boundingPolygon>
    </spatialCoverage>
  </base>
  <specific>
    <code>L2A</code>
    <sunElevationAngle>
      <center>53.1</center>
    </sunElevationAngle>
    <bandCharacterisation>
{band_rows}
    </bandCharacterisation>
    <vnirProductQuality>
      <expectedChannelsList>{vnir}</expectedChannelsList>
    </vnirProductQuality>
    <swirProductQuality>
      <expectedChannelsList>{swir}</expectedChannelsList>
    </swirProductQuality>
  </specific>
  <product>
    <image>
      <merge>
        <channels>{n}</channels>
        <name>{PRODUCT}-SPECTRAL_IMAGE.TIF</name>
        <dimension>
          <columns>{SIZE}</columns>
          <rows>{SIZE}</rows>
        </dimension>
      </merge>
    </image>
    <productFileInformation>
{files}
    </productFileInformation>
    <ortho>
      <projection>UTM_Zone33_North</projection>
      <resolution>30</resolution>
    </ortho>
    <bandStatistics>
{chr(10).join(stats)}
    </bandStatistics>
  </product>
</level_X>
"""


def write_product(folder: Path, wl: np.ndarray, fwhm: np.ndarray, dn: np.ndarray) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    crs = CRS.from_epsg(CRS_EPSG)
    write_tif(folder / f"{PRODUCT}-SPECTRAL_IMAGE.TIF", dn, crs, NODATA, interleave="pixel")
    (folder / f"{PRODUCT}-METADATA.XML").write_text(metadata_xml(wl, fwhm, dn), encoding="utf-8")
    empty = np.zeros((1, SIZE, SIZE), dtype=np.uint8)
    cloud = empty.copy()
    cloud[0, CLOUD_ROWS[0] : CLOUD_ROWS[1], CLOUD_COLS[0] : CLOUD_COLS[1]] = 1
    write_tif(folder / f"{PRODUCT}-QL_QUALITY_CLOUD.TIF", cloud, crs)
    for name in ("CIRRUS", "SNOW", "CLOUDSHADOW", "HAZE"):
        write_tif(folder / f"{PRODUCT}-QL_QUALITY_{name}.TIF", empty, crs)
    classes = np.ones_like(empty)  # 1 land, 2 water, 3 background (outside the swath)
    for row, col in NODATA_PIXELS:
        classes[0, row, col] = 3
    write_tif(folder / f"{PRODUCT}-QL_QUALITY_CLASSES.TIF", classes, crs)
    pixelmask = np.zeros((wl.size, SIZE, SIZE), dtype=np.uint8)
    pixelmask[DEFECTIVE["band"] - 1, DEFECTIVE["row"], DEFECTIVE["col"]] = 1
    write_tif(folder / f"{PRODUCT}-QL_PIXELMASK.TIF", pixelmask, crs)
    for name, centres in (("VNIR", (640, 550, 460)), ("SWIR", (2200, 1650, 850))):
        index = [int(np.argmin(np.abs(wl - c))) for c in centres]
        quick = np.clip(dn[index].astype(float) / 2000 * 255, 0, 255).astype(np.uint8)
        write_tif(folder / f"{PRODUCT}-QL_{name}.TIF", quick, crs, photometric="RGB")


def write_zip(folder: Path, target: Path) -> None:
    """Zip the product folder (folder inside, as DLR delivers it) with fixed timestamps."""
    target.unlink(missing_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            info = zipfile.ZipInfo(f"{folder.name}/{path.name}", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())


def write_envi(stem: Path, wl: np.ndarray, fwhm: np.ndarray, dn: np.ndarray) -> None:
    bbl = np.ones(wl.size, dtype=int)
    bbl[np.asarray(BAD_BANDS) - 1] = 0
    dn.astype("<i2").tofile(stem.with_suffix(".bsq"))
    x, y = TRANSFORM.c, TRANSFORM.f
    header = [
        "ENVI",
        "description = {eospec synthetic EnMAP L2A test cube (reflectance x 10000)}",
        f"samples = {SIZE}",
        f"lines = {SIZE}",
        f"bands = {wl.size}",
        "header offset = 0",
        "file type = ENVI Standard",
        "data type = 2",
        "interleave = bsq",
        "byte order = 0",
        f"map info = {{UTM, 1.000, 1.000, {x:.3f}, {y:.3f}, 30.000, 30.000, 33, North, WGS-84, units=Meters}}",
        "wavelength units = Nanometers",
        f"data ignore value = {NODATA}",
        f"reflectance scale factor = {SCALE}",
        "band names = {" + ", ".join(band_names(wl)) + "}",
        "wavelength = {" + ", ".join(repr(float(w)) for w in wl) + "}",
        "fwhm = {" + ", ".join(repr(float(f)) for f in fwhm) + "}",
        "bbl = {" + ", ".join(str(b) for b in bbl) + "}",
    ]
    stem.with_suffix(".hdr").write_text("\n".join(header) + "\n")
    stem.with_suffix(".bsq.aux.xml").unlink(missing_ok=True)


def main() -> None:
    sensor = enmap()
    wl, fwhm = sensor.wavelengths_nm, sensor.fwhm_nm
    dn, abundance = make_cube(wl)
    crs = CRS.from_epsg(CRS_EPSG)

    folder = ROOT / PRODUCT
    write_product(folder, wl, fwhm, dn)
    write_zip(folder, ROOT / f"{PRODUCT}.zip")

    write_tif(ROOT / "enmapbox_style.tif", dn.astype(np.float32), crs, NODATA, tagged=True, scale=GAIN, predictor=3)

    write_envi(ROOT / "envi_cube", wl, fwhm, dn)

    write_tif(ROOT / "no_wavelengths.tif", dn, crs, NODATA, interleave="pixel")
    rgb = np.zeros((4, SIZE, SIZE), dtype=np.uint8)
    for i, centre in enumerate((640, 550, 460)):
        band = dn[int(np.argmin(np.abs(wl - centre)))].astype(float)
        rgb[i] = np.clip(band / 1500 * 255, 0, 255).astype(np.uint8)
    rgb[3] = 255
    write_tif(ROOT / "rgb.tif", rgb, crs, photometric="RGB", alpha="YES")
    write_tif(ROOT / "no_crs.tif", dn[:, :8, :8].copy(), None, NODATA, tagged=True)
    write_tif(ROOT / "all_nodata.tif", np.full_like(dn[:, :8, :8], NODATA), crs, NODATA, tagged=True)
    (ROOT / "not_a_raster.tif").write_text("This is a text file with a .tif extension, not a raster.\n")

    valid = np.ones((SIZE, SIZE), dtype=bool)
    for row, col in (*NODATA_PIXELS, *ZERO_PIXELS):
        valid[row, col] = False
    valid[CLOUD_ROWS[0] : CLOUD_ROWS[1], CLOUD_COLS[0] : CLOUD_COLS[1]] = False
    veg = [[int(r), int(c)] for r, c in zip(*np.nonzero((abundance > 0.95) & valid), strict=True)]
    bare = [[int(r), int(c)] for r, c in zip(*np.nonzero((abundance < 0.05) & valid), strict=True)]
    expected = {
        "product": PRODUCT,
        "scene_id": PRODUCT,
        "acquisition_start": START_TIME,
        "crs_epsg": CRS_EPSG,
        "transform": list(TRANSFORM)[:6],
        "size": [SIZE, SIZE],
        "wavelengths_nm": wl.tolist(),
        "fwhm_nm": fwhm.tolist(),
        "gains": [GAIN] * wl.size,
        "offsets": [0.0] * wl.size,
        "nodata": NODATA,
        "reflectance_scale": SCALE,
        "bad_bands": list(BAD_BANDS),
        "cloud_rows": list(CLOUD_ROWS),
        "cloud_cols": list(CLOUD_COLS),
        "nodata_pixels": [list(p) for p in NODATA_PIXELS],
        "zero_pixels": [list(p) for p in ZERO_PIXELS],
        "defective_pixel": DEFECTIVE,
        "vegetation_pixels": veg,
        "soil_pixels": bare,
        "vegetation_ndvi": ndvi(vegetation(wl), wl),
        "soil_ndvi": ndvi(soil(wl), wl),
    }
    (ROOT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")

    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    print(
        f"wrote {ROOT} ({total / 1e6:.2f} MB); NDVI vegetation {expected['vegetation_ndvi']:.2f}, "
        f"soil {expected['soil_ndvi']:.2f}; {len(veg)} vegetation and {len(bare)} soil pixels"
    )


if __name__ == "__main__":
    main()

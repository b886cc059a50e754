"""Simulate a small EnMAP-like L2A scene of real spectra, with a known soil organic carbon truth.

``eospec simulate`` lets the README's main job (``eospec simulate --out scene.tif`` then
``eospec map --scene scene.tif --out soc.tif``) run on a machine without real EnMAP scenes, and
measures the whole pipeline against a known answer.

**Output.** A GeoTIFF laid out like an EnMAP HSI L2A spectral image as the EnMAP-Box writes it:
224 int16 bands of bottom-of-atmosphere reflectance x 10000 (dataset tag ``scale_factor=0.0001``),
nodata -32768, EPSG:32633 (UTM 33N) with 30 m pixels near Potsdam (upper-left corner
364095 E, 5809965 N), DEFLATE-compressed and tiled, with per-band tags ``wavelength``, ``fwhm``
(nm), ``bbl`` (0 for the 22 water-vapour bands outside :data:`eospec.sensors.ENMAP_DEFAULT_BANDS`)
and ``wavelength_units=Nanometers``. Beside it, ``<stem>_truth.tif`` (float32, same grid, nodata
-9999; see :data:`TRUTH_BANDS`) and ``<stem>_truth.json`` (fields, samples, noise, sources).

**Spectra.** Every pixel is a linear mixture of real spectra, resampled to EnMAP's bands:

- soils: the held-out fold 10 of the LimeSoDa vis-NIR datasets that cover about 420-2450 nm
  (SSP.460, CV.98 and SC.93 with SOC; UL.120 and SL.125 with soil organic matter, converted as
  SOC = SOM / 1.724, the van Bemmelen factor). LimeSoDa reflectance is in percent; SOC in
  percent becomes g/kg by x 10. The bundled SOC model never trains on fold 10, so mapping this
  scene measures honest end-to-end accuracy.
- green vegetation: PROSAIL canopy spectra of the earthlib library (LEVEL_2 ``vegetation``,
  reflectance 0-1, 400-2450 nm at 10 nm, no samples in 1350-1460 and 1790-1960 nm), those with
  NDVI >= 0.8 on EnMAP bands.
- crop residue: earthlib's measured litter spectra (LEVEL_3 ``litter``) with NDVI < 0.3, excluding
  mixtures with green leaves or minerals.
- water: no library above holds one, so :func:`water_reflectance` models a mesotrophic lake.

**Resampling and edge extension.** Each source spectrum is linearly interpolated onto a 1 nm grid
from 400 to 2500 nm, then resampled with Gaussian spectral responses
(:func:`eospec.sensors.gaussian_srf_matrix` with EnMAP's FWHM). Outside a source's measured range
``numpy.interp`` holds the nearest measured value constant: this touches only EnMAP band 1
(418 nm) for the LimeSoDa sets that start at 420 nm and the last band (2446 nm) for earthlib,
which ends at 2450 nm. earthlib's gaps are bridged linearly; they fall in bad bands.

**Noise.** Additive Gaussian noise with a per-band standard deviation (noise-equivalent
reflectance) of ``0.3 / SNR``: 0.3 is the reference albedo of EnMAP's SNR specification (> 400 at
495 nm, > 180 at 2200 nm; Guanter et al. 2015, *Remote Sens.* 7, 8830-8857), and the defaults
SNR = 400 (VNIR, bands 1-91) and 150 (SWIR, bands 92-224) sit at the low end of the in-flight
values (Storch et al. 2023, *Remote Sens. Environ.* 294, 113632). The water-vapour bad bands
carry what little light crosses the absorption: 5 % of the surface reflectance plus five times
the band's noise, so they are near zero, noisy and sometimes negative, as in real L2A products.
Values are rounded to integers (reflectance x 10000) and clipped to [-32767, 32767].

**Layout** (``size`` x ``size`` pixels, 8 x 8 fields; 4 x 4 below 32 pixels): bare-soil fields each
hold one soil sample (so every soil pixel has a known SOC); ``sparse_vegetation`` fields mix their
soil with 0-20 % green canopy and ``crop_residue`` fields with 0-20 % litter, drawn per pixel;
``vegetated`` fields are dense canopies (NDVI > 0.6); the bottom-right 2 x 2 block holds an
elliptical lake inside a vegetated ``meadow``. A nodata strip (all bands -32768) runs down the left
edge, widening towards the bottom as the swath edge of a real scene does, and a few all-zero
pixels (L2A edge artefacts) sit beside it. Everything is drawn from ``numpy.random`` generators
seeded by ``seed``: the same seed gives the same pixel values.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import DataPackageMissingError, OutputExistsError, OutputNotWritableError
from .sensors import enmap, gaussian_srf_matrix, nearest_band, resample

__all__ = [
    "SimulationResult",
    "DataPackageMissingError",
    "simulate_scene",
    "water_reflectance",
    "truth_paths",
    "TRUTH_BANDS",
    "SOIL_DATASETS",
    "HELD_OUT_FOLD",
    "VAN_BEMMELEN_FACTOR",
]

FloatArray = npt.NDArray[np.float64]

#: LimeSoDa vis-NIR datasets used for soils -> the column holding their carbon target (percent).
SOIL_DATASETS: dict[str, str] = {
    "SSP.460": "SOC_target",
    "CV.98": "SOC_target",
    "SC.93": "SOC_target",
    "UL.120": "SOM_target",
    "SL.125": "SOM_target",
}
#: The LimeSoDa fold held out from the bundled SOC model's training; only it is simulated.
HELD_OUT_FOLD = 10
#: Soil organic matter / soil organic carbon (van Bemmelen factor).
VAN_BEMMELEN_FACTOR = 1.724

#: Truth bands: (description, unit tag).
TRUTH_BANDS: tuple[tuple[str, str], ...] = (
    ("soc_g_per_kg", "g/kg"),
    ("soil_fraction", "fraction 0-1"),
    ("vegetation_fraction", "fraction 0-1"),
    ("litter_fraction", "fraction 0-1"),
    ("water_fraction", "fraction 0-1"),
    ("field_id", "1"),
)

MIN_SIZE = 16
MAX_SIZE = 2048
DEFAULT_SNR = (400.0, 150.0)
#: Reference albedo of EnMAP's SNR specification; noise sigma = this / SNR.
REFERENCE_REFLECTANCE = 0.3
VNIR_BAND_COUNT = 91
BAD_BAND_TRANSMITTANCE = 0.05
BAD_BAND_NOISE_FACTOR = 5.0
NODATA_DN = -32768
TRUTH_NODATA = -9999.0
PIXEL_SIZE_M = 30.0
ORIGIN_EN = (364095.0, 5809965.0)
CRS_EPSG = 32633
START_TIME = "2024-06-18T10:26:41"
DN_SCALE = 10000.0
MAX_GREEN_COVER = 0.2
MAX_LITTER_COVER = 0.2
#: Lake model parameters (see :func:`water_reflectance`).
LAKE_CHLOROPHYLL_MG_M3 = 10.0
LAKE_CDOM_440_PER_M = 0.5
LAKE_PARTICLE_BACKSCATTER_550_PER_M = 0.02
LAKE_SURFACE_REFLECTANCE = 0.002

_GRID_NM = np.arange(400.0, 2501.0, 1.0)
_STRIP_ROWS = 64
_SUFFIX_TRUTH_TIF = "_truth.tif"
_SUFFIX_TRUTH_JSON = "_truth.json"

#: Pure-water absorption a_w (nm, 1/m): Pope & Fry (1997, *Appl. Opt.* 36, 8710) to 720 nm, then
#: Kou et al. (1993, *Appl. Opt.* 32, 3531) and Hale & Querry (1973, *Appl. Opt.* 12, 555).
_PURE_WATER_ABSORPTION = np.array(
    [
        [400, 0.00663],
        [410, 0.00473],
        [420, 0.00454],
        [430, 0.00495],
        [440, 0.00635],
        [450, 0.00922],
        [460, 0.00979],
        [470, 0.0106],
        [480, 0.0127],
        [490, 0.0150],
        [500, 0.0204],
        [510, 0.0325],
        [520, 0.0409],
        [530, 0.0434],
        [540, 0.0474],
        [550, 0.0565],
        [560, 0.0619],
        [570, 0.0695],
        [580, 0.0896],
        [590, 0.1351],
        [600, 0.2224],
        [610, 0.2644],
        [620, 0.2755],
        [630, 0.2916],
        [640, 0.3108],
        [650, 0.340],
        [660, 0.410],
        [670, 0.439],
        [680, 0.465],
        [690, 0.516],
        [700, 0.624],
        [710, 0.827],
        [720, 1.231],
        [740, 2.6],
        [760, 2.6],
        [780, 2.3],
        [800, 2.0],
        [825, 2.8],
        [850, 4.3],
        [875, 5.4],
        [900, 6.8],
        [950, 30.0],
        [1000, 36.0],
    ]
)

_SOURCES: list[dict[str, str]] = [
    {
        "name": "LimeSoDa",
        "what": "soil reflectance (percent) and SOC/SOM (percent) of the held-out fold 10 of "
        "SSP.460, CV.98, SC.93, UL.120, SL.125",
        "reference": "Schmidinger et al. (2025) LimeSoDa: a dataset collection for benchmarking "
        "of machine learning regressors in digital soil mapping, Geoderma",
        "url": "https://github.com/a11to1n3/LimeSoDa",
        "licence": "CC BY-SA 4.0",
    },
    {
        "name": "earthlib",
        "what": "PROSAIL canopy spectra (LEVEL_2 'vegetation') and measured litter spectra "
        "(LEVEL_3 'litter'), reflectance 0-1, 400-2450 nm at 10 nm",
        "reference": "Anderson, C. earthlib: a global spectral library",
        "url": "https://github.com/earth-chris/earthlib",
        "licence": "MIT",
    },
    {
        "name": "water model",
        "what": "mesotrophic lake: Gordon et al. (1988) / Lee et al. (2002) reflectance model "
        "with pure-water absorption of Pope & Fry (1997), Kou et al. (1993), Hale & Querry (1973)",
        "reference": "eospec.simulate.water_reflectance",
        "url": "",
        "licence": "MIT (eospec)",
    },
]


_LICENCE = (
    "derived from LimeSoDa soil spectra (CC BY-SA 4.0: share alike, attribute Schmidinger et al. "
    "2025) and earthlib spectra (MIT)"
)


@dataclass
class SimulationResult:
    """What :func:`simulate_scene` wrote.

    Attributes:
        scene_path: the EnMAP-like GeoTIFF.
        truth_path: the float32 truth GeoTIFF (:data:`TRUTH_BANDS`).
        truth_json_path: the JSON description of fields, samples, noise and sources.
        size: width and height in pixels.
        seed: the random seed.
        noise_sigma: float64 (224,), noise standard deviation per band, reflectance 0-1.
        n_fields: number of fields (soil, vegetated, lake and meadow).
        n_soil_fields: fields whose pixels contain soil.
        n_soil_pixels: valid pixels with a soil fraction above zero.
        n_pure_soil_pixels: valid pixels that are 100 % soil.
        n_vegetated_pixels: valid pixels of dense vegetation (vegetated fields and meadow).
        n_water_pixels: water pixels.
        n_nodata_pixels: pixels with nodata in every band.
        n_zero_pixels: pixels with zero in every band.
        soc_min_g_per_kg: lowest SOC of the soils in the scene, g/kg.
        soc_max_g_per_kg: highest SOC of the soils in the scene, g/kg.
        elapsed_s: wall-clock seconds taken.
    """

    scene_path: Path
    truth_path: Path
    truth_json_path: Path
    size: int
    seed: int
    noise_sigma: FloatArray
    n_fields: int
    n_soil_fields: int
    n_soil_pixels: int
    n_pure_soil_pixels: int
    n_vegetated_pixels: int
    n_water_pixels: int
    n_nodata_pixels: int
    n_zero_pixels: int
    soc_min_g_per_kg: float
    soc_max_g_per_kg: float
    elapsed_s: float = 0.0

    def summary(self) -> list[str]:
        """Human-readable lines describing the scene (used by ``eospec simulate``).

        Returns:
            One string per line, without newlines.
        """
        vnir, swir = self.noise_sigma[0], self.noise_sigma[-1]
        return [
            f"scene: {self.scene_path}",
            f"truth: {self.truth_path}",
            f"truth table: {self.truth_json_path}",
            f"{self.size} x {self.size} pixels of 30 m, 224 bands, seed {self.seed}",
            f"{self.n_fields} fields, {self.n_soil_fields} with soil; {self.n_soil_pixels} soil pixels "
            f"({self.n_pure_soil_pixels} pure), {self.n_vegetated_pixels} vegetated, "
            f"{self.n_water_pixels} water, {self.n_nodata_pixels} nodata, {self.n_zero_pixels} all-zero",
            f"SOC {self.soc_min_g_per_kg:.1f}-{self.soc_max_g_per_kg:.1f} g/kg",
            f"noise sigma {vnir:.5f} (VNIR band 1) / {swir:.5f} (SWIR band 224) reflectance",
            f"took {self.elapsed_s:.1f} s",
        ]


@dataclass
class _Soil:
    dataset: str
    sample_id: str
    target: str
    soc_g_per_kg: float
    spectrum: FloatArray


@dataclass
class _Library:
    soils: list[_Soil]
    vegetation: FloatArray
    vegetation_names: list[str]
    litter: FloatArray
    litter_names: list[str]
    litter_origins: list[str]
    water: FloatArray


@dataclass
class _Field:
    id: int
    kind: str
    row_off: int
    col_off: int
    height: int
    width: int
    soil: int = -1
    vegetation: int = -1
    litter: int = -1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Layout:
    """Per-pixel mixture of a scene of shape (N, N)."""

    field_id: npt.NDArray[np.int32]
    soil: npt.NDArray[np.int32]
    soil_fraction: npt.NDArray[np.float32]
    vegetation: npt.NDArray[np.int32]
    vegetation_fraction: npt.NDArray[np.float32]
    litter: npt.NDArray[np.int32]
    litter_fraction: npt.NDArray[np.float32]
    water_fraction: npt.NDArray[np.float32]
    nodata: npt.NDArray[np.bool_]
    zero: npt.NDArray[np.bool_]
    fields: list[_Field]


def truth_paths(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Paths of the truth raster and table written beside a simulated scene.

    Args:
        out: the scene path, e.g. ``scene.tif``.

    Returns:
        ``(<stem>_truth.tif, <stem>_truth.json)`` in the scene's folder.
    """
    path = Path(out)
    return (
        path.with_name(path.stem + _SUFFIX_TRUTH_TIF),
        path.with_name(path.stem + _SUFFIX_TRUTH_JSON),
    )


def water_reflectance(
    wavelengths_nm: npt.ArrayLike,
    chlorophyll_mg_m3: float = LAKE_CHLOROPHYLL_MG_M3,
    cdom_440_per_m: float = LAKE_CDOM_440_PER_M,
    particle_backscatter_550_per_m: float = LAKE_PARTICLE_BACKSCATTER_550_PER_M,
    surface_reflectance: float = LAKE_SURFACE_REFLECTANCE,
) -> FloatArray:
    """Reflectance of optically deep inland water from its inherent optical properties.

    Absorption ``a = a_w + a_ph + a_g`` and backscattering ``b_b = b_bw + b_bp`` (1/m) give
    ``u = b_b / (a + b_b)``; below the surface ``r_rs = (0.089 + 0.125 u) u`` (Gordon et al. 1988,
    *J. Geophys. Res.* 93, 10909); above it ``R_rs = 0.52 r_rs / (1 - 1.7 r_rs)`` (Lee et al. 2002,
    *Appl. Opt.* 41, 5755), and reflectance is ``pi R_rs`` plus a flat residual of sky glint
    that atmospheric correction leaves. The terms are:

    - ``a_w``: pure water (Pope & Fry 1997 to 720 nm; Kou et al. 1993, Hale & Querry 1973
      beyond; held at 36 1/m above 1000 nm, a lower bound, so water-leaving light vanishes);
    - ``a_ph``: phytoplankton, two Gaussians at 440 nm (0.031 m2/mg, sigma 35 nm) and 675 nm
      (0.010 m2/mg, sigma 12 nm), the Bricaud et al. (1995, *J. Geophys. Res.* 100, 13321)
      specific absorption at 10 mg/m3, times the chlorophyll concentration;
    - ``a_g``: coloured dissolved organic matter, ``a_g(440) exp(-0.015 (lambda - 440))``
      (Bricaud et al. 1981, *Limnol. Oceanogr.* 26, 43);
    - ``b_bw = 0.0038 (400 / lambda)^4.32`` (Morel 1974) and ``b_bp = b_bp(550) (550 / lambda)``.

    The defaults describe a mesotrophic lake such as those around Potsdam: green peak near
    0.013 at 560 nm, about 0.002 beyond 900 nm.

    Args:
        wavelengths_nm: shape (S,), wavelengths in nm.
        chlorophyll_mg_m3: chlorophyll-a concentration, mg/m3.
        cdom_440_per_m: CDOM absorption at 440 nm, 1/m.
        particle_backscatter_550_per_m: particle backscattering at 550 nm, 1/m.
        surface_reflectance: flat residual surface (glint) reflectance, 0-1.

    Returns:
        float64 array of shape (S,), reflectance 0-1.
    """
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    a_w = np.interp(wl, _PURE_WATER_ABSORPTION[:, 0], _PURE_WATER_ABSORPTION[:, 1])
    a_ph = chlorophyll_mg_m3 * (
        0.031 * np.exp(-0.5 * ((wl - 440.0) / 35.0) ** 2) + 0.010 * np.exp(-0.5 * ((wl - 675.0) / 12.0) ** 2)
    )
    a_g = cdom_440_per_m * np.exp(-0.015 * (wl - 440.0))
    b_b = 0.0038 * (400.0 / wl) ** 4.32 + particle_backscatter_550_per_m * (550.0 / wl)
    u = b_b / (a_w + a_ph + a_g + b_b)
    r_rs = (0.089 + 0.125 * u) * u
    remote_sensing = 0.52 * r_rs / (1.0 - 1.7 * r_rs)
    return np.asarray(np.pi * remote_sensing + surface_reflectance, dtype=np.float64)


def _data_packages() -> tuple[ModuleType, ModuleType]:
    """Import LimeSoDa and earthlib, or say how to install them."""
    try:
        import earthlib
        import LimeSoDa
    except ImportError as error:
        raise DataPackageMissingError(
            f"The simulation needs the LimeSoDa and earthlib packages of real spectra, but "
            f'{error.name or "one of them"!r} is not installed: pip install "eospec[data]"'
        ) from error
    return LimeSoDa, earthlib


def _to_enmap(wavelengths_nm: FloatArray, spectra: FloatArray) -> FloatArray:
    """Resample spectra of shape (K, S) on an increasing grid in nm to EnMAP, shape (K, 224)."""
    on_grid = np.stack([np.interp(_GRID_NM, wavelengths_nm, row) for row in np.atleast_2d(spectra)])
    return resample(on_grid, _grid_matrix())


@functools.cache
def _grid_matrix() -> FloatArray:
    """Gaussian SRF matrix from the 1 nm grid to EnMAP's bands, shape (224, 2101)."""
    sensor = enmap()
    return gaussian_srf_matrix(_GRID_NM, sensor.wavelengths_nm, sensor.fwhm_nm)


def _ndvi(spectra: FloatArray) -> FloatArray:
    wavelengths = enmap().wavelengths_nm
    red, nir = spectra[..., nearest_band(wavelengths, 665.0)], spectra[..., nearest_band(wavelengths, 865.0)]
    return np.asarray((nir - red) / (nir + red), dtype=np.float64)


def _load_library() -> _Library:
    """Read and resample every source spectrum (module docstring)."""
    limesoda, earthlib = _data_packages()
    soils: list[_Soil] = []
    for name, target in SOIL_DATASETS.items():
        data = limesoda.load_dataset(name)
        table, folds = data["Dataset"], np.asarray(data["Folds"])
        columns = [c for c in table.columns if str(c).startswith("wl_")]
        wavelengths = np.array([float(str(c)[3:]) for c in columns])
        order = np.argsort(wavelengths)
        rows = table.loc[folds == HELD_OUT_FOLD]
        percent = rows[columns].to_numpy(dtype=np.float64)[:, order]
        spectra = _to_enmap(wavelengths[order], percent / 100.0)
        carbon = rows[target].to_numpy(dtype=np.float64)
        if target == "SOM_target":
            carbon = carbon / VAN_BEMMELEN_FACTOR
        for label, soc_percent, spectrum in zip(rows.index, carbon, spectra, strict=True):
            soils.append(_Soil(name, str(label), target, float(soc_percent * 10.0), spectrum))
    library = earthlib.full_library
    metadata = library.metadata.reset_index(drop=True)
    data = np.asarray(library.data, dtype=np.float64)
    wavelengths = np.asarray(library.sensor.band_centers, dtype=np.float64)
    if wavelengths.max() < 100.0:  # earthlib keeps its band centres in micrometres
        wavelengths = wavelengths * 1000.0
    names = [str(n) for n in metadata["NAME"]]
    canopy = np.flatnonzero((metadata["LEVEL_2"] == "vegetation").to_numpy())
    canopy_spectra = _to_enmap(wavelengths, data[canopy])
    keep = _ndvi(canopy_spectra) >= 0.8
    litter = np.flatnonzero((metadata["LEVEL_3"] == "litter").to_numpy())
    litter = litter[np.all(np.isfinite(data[litter]), axis=1) & (data[litter].min(axis=1) > 0.005)]
    litter = np.array([i for i in litter if "green" not in names[i].lower() and "+" not in names[i]])
    litter_spectra = _to_enmap(wavelengths, data[litter])
    litter_keep = _ndvi(litter_spectra) < 0.3
    return _Library(
        soils=soils,
        vegetation=canopy_spectra[keep],
        vegetation_names=[names[i] for i in canopy[keep]],
        litter=litter_spectra[litter_keep],
        litter_names=[names[i] for i in litter[litter_keep]],
        litter_origins=[f"{metadata['SOURCE'][i]}: {metadata['NOTES'][i]}" for i in litter[litter_keep]],
        water=_to_enmap(_GRID_NM, water_reflectance(_GRID_NM)[None, :])[0],
    )


def _noise_sigma(snr: npt.ArrayLike) -> FloatArray:
    """Per-band noise sigma (reflectance) from a scalar, a (VNIR, SWIR) pair or 224 values."""
    values = np.asarray(snr, dtype=np.float64)
    count = enmap().n_bands
    if values.ndim == 0:
        per_band = np.full(count, float(values))
    elif values.shape == (2,):
        per_band = np.where(np.arange(count) < VNIR_BAND_COUNT, values[0], values[1])
    elif values.shape == (count,):
        per_band = values.copy()
    else:
        raise ValueError(f"snr must be a number, a (VNIR, SWIR) pair or {count} values, got shape {values.shape}")
    if np.any(np.isnan(per_band)) or np.any(per_band <= 0):
        raise ValueError(f"snr must be positive (inf for no noise), got {np.unique(per_band)[:3].tolist()}")
    return np.asarray(REFERENCE_REFLECTANCE / per_band, dtype=np.float64)


def _layout(size: int, library: _Library, rng: np.random.Generator) -> _Layout:
    """Fields, lake, nodata strip and zero pixels of a size x size scene (module docstring)."""
    grid = 8 if size >= 32 else 4
    edges = [round(i * size / grid) for i in range(grid + 1)]
    shape = (size, size)
    field_id = np.zeros(shape, np.int32)
    soil = np.full(shape, -1, np.int32)
    vegetation = np.full(shape, -1, np.int32)
    litter = np.full(shape, -1, np.int32)
    soil_fraction = np.zeros(shape, np.float32)
    vegetation_fraction = np.zeros(shape, np.float32)
    litter_fraction = np.zeros(shape, np.float32)
    water_fraction = np.zeros(shape, np.float32)

    # The lake and its meadow take the bottom-right 2 x 2 block (1 x 1 on a 4 x 4 grid).
    lake_cells = 2 if grid == 8 else 1
    blocks = [
        (r, c) for r in range(grid) for c in range(grid) if not (r >= grid - lake_cells and c >= grid - lake_cells)
    ]
    n_blocks = len(blocks)
    counts = {
        "vegetated": max(1, round(0.2 * n_blocks)),
        "sparse_vegetation": max(1, round(0.15 * n_blocks)),
        "crop_residue": max(1, round(0.1 * n_blocks)),
    }
    kinds = [kind for kind, n in counts.items() for _ in range(n)]
    kinds += ["bare"] * (n_blocks - len(kinds))
    kinds = [kinds[i] for i in rng.permutation(n_blocks)]
    n_soil_fields = sum(kind != "vegetated" for kind in kinds)
    n_soils = len(library.soils)
    order = np.concatenate([rng.permutation(n_soils) for _ in range(-(-n_soil_fields // n_soils))])[:n_soil_fields]

    fields: list[_Field] = []
    soil_iter = iter(order.tolist())
    for (r, c), kind in zip(blocks, kinds, strict=True):
        r0, r1, c0, c1 = edges[r], edges[r + 1], edges[c], edges[c + 1]
        record = _Field(len(fields) + 1, kind, r0, c0, r1 - r0, c1 - c0)
        fields.append(record)
        window = (slice(r0, r1), slice(c0, c1))
        field_id[window] = record.id
        h, w = r1 - r0, c1 - c0
        if kind == "vegetated":
            record.vegetation = int(rng.integers(len(library.vegetation)))
            vegetation[window] = record.vegetation
            vegetation_fraction[window] = 1.0
            continue
        record.soil = next(soil_iter)
        soil[window] = record.soil
        if kind == "sparse_vegetation":
            record.vegetation = int(rng.integers(len(library.vegetation)))
            cover = rng.uniform(0.0, MAX_GREEN_COVER, (h, w)).astype(np.float32)
            vegetation[window] = record.vegetation
            vegetation_fraction[window] = cover
            soil_fraction[window] = 1.0 - cover
        elif kind == "crop_residue":
            record.litter = int(rng.integers(len(library.litter)))
            cover = rng.uniform(0.0, MAX_LITTER_COVER, (h, w)).astype(np.float32)
            litter[window] = record.litter
            litter_fraction[window] = cover
            soil_fraction[window] = 1.0 - cover
        else:
            soil_fraction[window] = 1.0

    # Lake: an ellipse inside the block, surrounded by meadow (dense vegetation).
    r0, c0 = edges[grid - lake_cells], edges[grid - lake_cells]
    rows, cols = np.mgrid[r0:size, c0:size]
    centre_r, centre_c = (r0 + size - 1) / 2.0, (c0 + size - 1) / 2.0
    radius_r, radius_c = 0.42 * (size - r0), 0.36 * (size - c0)
    inside = ((rows - centre_r) / radius_r) ** 2 + ((cols - centre_c) / radius_c) ** 2 <= 1.0
    block = (slice(r0, size), slice(c0, size))
    meadow = _Field(len(fields) + 1, "meadow", r0, c0, size - r0, size - c0)
    meadow.vegetation = int(rng.integers(len(library.vegetation)))
    lake = _Field(len(fields) + 2, "lake", r0, c0, size - r0, size - c0)
    fields += [meadow, lake]
    field_id[block] = np.where(inside, lake.id, meadow.id)
    vegetation[block] = np.where(inside, -1, meadow.vegetation)
    vegetation_fraction[block] = np.where(inside, 0.0, 1.0)
    water_fraction[block] = np.where(inside, 1.0, 0.0)

    # Swath edge: nodata strip, 2 pixels wide at the top to 2 + size/16 at the bottom.
    widths = 2 + np.floor(np.arange(size) * (size // 16) / max(size - 1, 1)).astype(int)
    nodata = np.arange(size)[None, :] < widths[:, None]
    zero = np.zeros(shape, bool)
    zero_rows = rng.choice(size, size=max(3, size // 16), replace=False)
    zero[zero_rows, widths[zero_rows]] = True
    return _Layout(
        field_id,
        soil,
        soil_fraction,
        vegetation,
        vegetation_fraction,
        litter,
        litter_fraction,
        water_fraction,
        nodata,
        zero,
        fields,
    )


def _check_outputs(paths: list[Path], overwrite: bool) -> None:
    folder = paths[0].parent
    if not folder.is_dir():
        raise OutputNotWritableError(
            f"Output folder {str(folder)!r} does not exist: create it first (mkdir -p {folder})"
        )
    if not os.access(folder, os.W_OK):
        raise OutputNotWritableError(
            f"Output folder {str(folder)!r} is not writable: choose another folder or fix its permissions"
        )
    for path in paths:
        if path.is_dir():
            raise OutputNotWritableError(
                f"{str(path)!r} is a folder: give a file name, e.g. {str(path / 'scene.tif')!r}"
            )
        if path.exists() and not overwrite:
            raise OutputExistsError(
                f"{str(path)!r} exists: pass --overwrite (overwrite=True) to replace it, or choose another --out"
            )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def _temporary(final: Path) -> Iterator[Path]:
    """A temporary file beside ``final`` that is removed unless it was moved into place."""
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
    temp = Path(name)
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)
        Path(name + ".aux.xml").unlink(missing_ok=True)


def _profile(size: int, count: int, dtype: str, nodata: float) -> dict[str, Any]:
    from affine import Affine
    from rasterio.crs import CRS

    block = 64 if size >= 128 else (32 if size >= 32 else 16)
    return {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": count,
        "dtype": dtype,
        "nodata": nodata,
        "crs": CRS.from_epsg(CRS_EPSG),
        "transform": Affine(PIXEL_SIZE_M, 0.0, ORIGIN_EN[0], 0.0, -PIXEL_SIZE_M, ORIGIN_EN[1]),
        "compress": "deflate",
        "predictor": 2,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "interleave": "band",
        "bigtiff": "if_safer",
    }


def _write_scene(
    path: Path,
    layout: _Layout,
    library: _Library,
    sigma: FloatArray,
    seed: int,
    rng: np.random.Generator,
    truth_name: str,
) -> None:
    """Write the int16 spectral image strip by strip (module docstring: noise, bad bands)."""
    import rasterio
    from rasterio.windows import Window

    sensor = enmap()
    size = layout.field_id.shape[0]
    zero_row = np.zeros((1, sensor.n_bands))
    soils = np.concatenate([np.stack([s.spectrum for s in library.soils]), zero_row]).astype(np.float32)
    vegetation = np.concatenate([library.vegetation, zero_row]).astype(np.float32)
    litter = np.concatenate([library.litter, zero_row]).astype(np.float32)
    water = library.water.astype(np.float32)
    bad = sensor.bad_bands
    transmit = np.where(bad, BAD_BAND_TRANSMITTANCE, 1.0).astype(np.float32)
    noise_scale = (sigma * np.where(bad, BAD_BAND_NOISE_FACTOR, 1.0)).astype(np.float32)
    noise_scale[~np.isfinite(noise_scale)] = 0.0
    with rasterio.open(path, "w", **_profile(size, sensor.n_bands, "int16", NODATA_DN)) as dst:
        dst.update_tags(
            scale_factor="0.0001",
            start_time=START_TIME,
            source=(
                "SIMULATED by eospec.simulate, not an EnMAP acquisition: mixtures of LimeSoDa soil "
                "(fold 10), earthlib vegetation/litter and modelled water spectra resampled to "
                f"EnMAP HSI L2A bands, seed {seed}; truth in {truth_name}"
            ),
            sensor="EnMAP HSI (simulated)",
            processing_level="L2A (simulated bottom-of-atmosphere reflectance)",
            reflectance_unit="reflectance x 10000",
            seed=str(seed),
            licence=_LICENCE,
        )
        for band in range(sensor.n_bands):
            wavelength = float(sensor.wavelengths_nm[band])
            dst.update_tags(
                band + 1,
                wavelength=repr(wavelength),
                fwhm=repr(float(sensor.fwhm_nm[band])),
                bbl="0" if bad[band] else "1",
                wavelength_units="Nanometers",
            )
            dst.set_band_description(band + 1, f"band {band + 1} ({wavelength:g} Nanometers)")
        for r0 in range(0, size, _STRIP_ROWS):
            rows = slice(r0, min(r0 + _STRIP_ROWS, size))
            reflectance = (
                layout.soil_fraction[rows, :, None] * soils[layout.soil[rows]]
                + layout.vegetation_fraction[rows, :, None] * vegetation[layout.vegetation[rows]]
                + layout.litter_fraction[rows, :, None] * litter[layout.litter[rows]]
                + layout.water_fraction[rows, :, None] * water
            )
            noise = rng.standard_normal(reflectance.shape, dtype=np.float32)
            reflectance = reflectance * transmit + noise * noise_scale
            dn = np.clip(np.rint(reflectance * DN_SCALE), NODATA_DN + 1, 32767).astype(np.int16)
            dn[layout.zero[rows]] = 0
            dn[layout.nodata[rows]] = NODATA_DN
            height = rows.stop - rows.start
            dst.write(np.ascontiguousarray(dn.transpose(2, 0, 1)), window=Window(0, r0, size, height))


def _write_truth(path: Path, layout: _Layout, library: _Library) -> None:
    """Write the float32 truth raster (:data:`TRUTH_BANDS`)."""
    import rasterio

    size = layout.field_id.shape[0]
    invalid = layout.nodata | layout.zero
    soc_table = np.array([s.soc_g_per_kg for s in library.soils] + [TRUTH_NODATA], np.float32)
    soc = np.where(layout.soil_fraction > 0, soc_table[layout.soil], np.float32(TRUTH_NODATA))
    bands = [
        soc,
        layout.soil_fraction,
        layout.vegetation_fraction,
        layout.litter_fraction,
        layout.water_fraction,
        layout.field_id.astype(np.float32),
    ]
    stack = np.stack(bands).astype(np.float32)
    stack[:, invalid] = TRUTH_NODATA
    with rasterio.open(path, "w", **_profile(size, len(bands), "float32", TRUTH_NODATA)) as dst:
        dst.update_tags(
            source="SIMULATED by eospec.simulate: ground truth of the simulated EnMAP scene",
            soc_conversion=f"SOC g/kg = SOC % x 10; SOM datasets: SOC = SOM / {VAN_BEMMELEN_FACTOR}",
        )
        for index, (name, unit) in enumerate(TRUTH_BANDS, start=1):
            dst.set_band_description(index, name)
            dst.update_tags(index, name=name, units=unit)
            dst.set_band_unit(index, unit)
        dst.write(stack)


def _truth_table(
    layout: _Layout,
    library: _Library,
    sigma: FloatArray,
    snr: npt.ArrayLike,
    seed: int,
    scene: Path,
    truth: Path,
) -> dict[str, Any]:
    valid = ~(layout.nodata | layout.zero)
    fields = []
    for record in layout.fields:
        mask = (layout.field_id == record.id) & valid
        entry: dict[str, Any] = {
            "id": record.id,
            "type": record.kind,
            "row_off": record.row_off,
            "col_off": record.col_off,
            "height": record.height,
            "width": record.width,
            "n_valid_pixels": int(mask.sum()),
        }
        if record.soil >= 0:
            sample = library.soils[record.soil]
            entry.update(
                dataset=sample.dataset,
                sample_id=sample.sample_id,
                fold=HELD_OUT_FOLD,
                target_column=sample.target,
                soc_g_per_kg=round(sample.soc_g_per_kg, 6),
                soil_ndvi=round(float(_ndvi(sample.spectrum)), 4),
                soil_fraction_range=[
                    round(float(layout.soil_fraction[mask].min()), 4) if mask.any() else None,
                    round(float(layout.soil_fraction[mask].max()), 4) if mask.any() else None,
                ],
            )
        if record.vegetation >= 0:
            entry["vegetation_spectrum"] = library.vegetation_names[record.vegetation]
        if record.litter >= 0:
            entry["litter_spectrum"] = library.litter_names[record.litter]
            entry["litter_origin"] = library.litter_origins[record.litter]
        fields.append(entry)
    snr_values = np.asarray(snr, dtype=np.float64)
    return {
        "scene": scene.name,
        "truth_raster": truth.name,
        "truth_bands": [{"band": i + 1, "name": n, "units": u} for i, (n, u) in enumerate(TRUTH_BANDS)],
        "truth_nodata": TRUTH_NODATA,
        "seed": seed,
        "size": int(layout.field_id.shape[0]),
        "pixel_size_m": PIXEL_SIZE_M,
        "crs": f"EPSG:{CRS_EPSG}",
        "origin_en": list(ORIGIN_EN),
        "snr": _jsonable(snr_values),
        "noise_model": (
            f"additive Gaussian, sigma = {REFERENCE_REFLECTANCE} / SNR per band (reflectance); "
            f"bad bands: {BAD_BAND_TRANSMITTANCE} x reflectance + {BAD_BAND_NOISE_FACTOR} x sigma noise"
        ),
        "noise_sigma_reflectance": [round(float(s), 8) for s in sigma],
        "soc_conversion": (
            f"SOC g/kg = SOC % x 10; UL.120 and SL.125 give SOM: SOC = SOM / {VAN_BEMMELEN_FACTOR} (van Bemmelen)"
        ),
        "held_out_fold": HELD_OUT_FOLD,
        "licence": _LICENCE,
        "fields": fields,
        "sources": _SOURCES,
    }


def _jsonable(values: FloatArray) -> Any:
    """A number or list for JSON, with infinity written as the string ``"inf"``."""
    if values.ndim == 0:
        return float(values) if np.isfinite(values) else "inf"
    return [_jsonable(v) for v in values]


def _write_json(path: Path, table: dict[str, Any]) -> None:
    path.write_text(json.dumps(table, indent=1) + "\n")


def simulate_scene(
    out: str | os.PathLike[str],
    size: int = 64,
    seed: int = 0,
    snr: npt.ArrayLike = DEFAULT_SNR,
    overwrite: bool = False,
) -> SimulationResult:
    """Write a simulated EnMAP-like L2A scene and its truth (module docstring).

    Args:
        out: the scene GeoTIFF to write, e.g. ``scene.tif``; ``<stem>_truth.tif`` and
            ``<stem>_truth.json`` are written beside it.
        size: width and height in pixels (30 m), 16 to 2048.
        seed: seed (>= 0) of the layout, the choice of spectra and the noise.
        snr: signal-to-noise ratio at reflectance 0.3: a number for all bands, a
            ``(VNIR, SWIR)`` pair (bands 1-91, 92-224) or 224 values; ``inf`` for no noise.
        overwrite: replace existing outputs.

    Returns:
        The paths written and a summary of the scene.

    Raises:
        ValueError: If ``size``, ``seed`` or ``snr`` is out of range.
        OutputExistsError: If an output exists and ``overwrite`` is false.
        OutputNotWritableError: If the output folder is missing or not writable.
        DataPackageMissingError: If LimeSoDa or earthlib is not installed.
    """
    start = time.perf_counter()
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    size, seed = int(size), int(seed)
    sigma = _noise_sigma(snr)
    scene = Path(out)
    truth, table_path = truth_paths(scene)
    _check_outputs([scene, truth, table_path], overwrite)
    library = _load_library()
    layout_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    layout = _layout(size, library, layout_rng)
    table = _truth_table(layout, library, sigma, snr, seed, scene, truth)
    with _temporary(scene) as scene_tmp, _temporary(truth) as truth_tmp, _temporary(table_path) as json_tmp:
        _write_scene(scene_tmp, layout, library, sigma, seed, noise_rng, truth.name)
        _write_truth(truth_tmp, layout, library)
        _write_json(json_tmp, table)
        if not overwrite:
            _check_outputs([scene, truth, table_path], overwrite)
        for temp, final in ((json_tmp, table_path), (truth_tmp, truth), (scene_tmp, scene)):
            os.replace(temp, final)
    valid = ~(layout.nodata | layout.zero)
    soil_ids = {record.soil for record in layout.fields if record.soil >= 0}
    soc = [library.soils[i].soc_g_per_kg for i in soil_ids]
    dense = valid & (layout.vegetation_fraction == 1.0)
    return SimulationResult(
        scene_path=scene,
        truth_path=truth,
        truth_json_path=table_path,
        size=size,
        seed=seed,
        noise_sigma=sigma,
        n_fields=len(layout.fields),
        n_soil_fields=sum(record.soil >= 0 for record in layout.fields),
        n_soil_pixels=int((valid & (layout.soil_fraction > 0)).sum()),
        n_pure_soil_pixels=int((valid & (layout.soil_fraction == 1.0)).sum()),
        n_vegetated_pixels=int(dense.sum()),
        n_water_pixels=int((valid & (layout.water_fraction > 0)).sum()),
        n_nodata_pixels=int(layout.nodata.sum()),
        n_zero_pixels=int(layout.zero.sum()),
        soc_min_g_per_kg=float(min(soc)),
        soc_max_g_per_kg=float(max(soc)),
        elapsed_s=time.perf_counter() - start,
    )

#!/usr/bin/env python3
"""Generate the spectral-library table fixtures in this folder (deterministic: fixed seed).

Run from the repository root: ``python tests/data/libraries/data.py``.

Writes:

* ``nirsoil_like.csv``: 6 rows in the layout of prospectr's NIRsoil export (``Nt``, ``Ciso``,
  ``CEC``, ``train``, then absorbance columns ``"1100"`` ... ``"2498"`` every 2 nm), with empty
  cells for missing properties;
* ``datsoilspc_like.csv``: 4 rows in the layout of soilspec's datsoilspc export (``clay``,
  ``silt``, ``sand``, ``TotalCarbon``, then reflectance ``"350"`` ... ``"2500"`` every 1 nm);
* ``kssl_mir_like.csv.gz``: 5 rows in the layout of soilspecdl's ``toy_kssl_mir.csv.gz`` (``id``,
  four OSSL-named properties, absorbance ``"600"`` ... ``"4000"`` every 2 cm-1);
* ``wide_generic.csv``: a generic table: ``sample`` ids with repeats, a text column ``site``,
  properties ``soc`` (one missing) and ``clay``, MIR columns ``wn_4000`` ... ``wn_600`` in
  *decreasing* order (every 100 cm-1);
* ``ossl/``: a few rows of each OSSL v1.2 table, named and laid out as distributed
  (``ossl_soilsite_L0_v1.2.csv.gz``, ``ossl_soillab_L0_v1.2.csv.gz``, ``ossl_soillab_L1_v1.2.csv.gz``,
  ``ossl_visnir_L0_v1.2.csv.gz``, ``ossl_mir_L0_v1.2.csv.gz``; column names from the OSSL
  manual), with repeats, a layer without lab data, a missing property and a MIR row without values;
* ``expected.json``: what the OSSL fixture holds, by construction;
* ``ossl_paired/``: a larger OSSL v1.2-layout fixture for the NIR-to-MIR multi-fidelity demo
  (``recipes/multifidelity_demo.py --demo ossl``): 96 layers, 80 scanned in vis-NIR and MIR (8 of
  them twice in vis-NIR), 16 in MIR only, all with properties. *Synthetic* spectra, physically
  shaped: both ranges are drawn from the same latent soil (organic carbon, clay, sand, carbonate,
  iron oxides) through absorption features at the positions where they occur (vis-NIR: iron oxides
  at 480 and 900 nm, O-H at 1415/1915 nm, Al-OH at 2205 nm, carbonate at 2340 nm, organic C-H at
  1730/2310 nm, darkening by organic matter; MIR: quartz at 800/1870/1990 cm-1, kaolinite O-H at
  3620/3695 cm-1, Al-OH at 915 cm-1, water at 3400 cm-1, aliphatic C-H at 2850/2920 cm-1,
  carboxylate/amide at 1650 cm-1, carbonate at 875/1430/1800/2515 cm-1), plus an independent
  baseline and noise per range. Spectra every 10 nm / 10 cm-1 (the OSSL has 2 nm / 2 cm-1) to keep
  the fixture small. A mechanism check, not soil science.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
RNG = np.random.default_rng(20240611)


def smooth(positions: np.ndarray, level: float, amplitude: float, phase: float) -> np.ndarray:
    """A smooth spectrum-like curve over the positions."""
    x = (positions - positions[0]) / (positions[-1] - positions[0])
    return level + amplitude * np.sin(2.0 * np.pi * (1.5 * x + phase)) + 0.3 * amplitude * x


def write_gz_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a gzip CSV with a fixed header time, so that reruns give the same bytes."""
    text = frame.to_csv(index=False, lineterminator="\n")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as handle:
        handle.write(text.encode())
    path.write_bytes(buffer.getvalue())


def nirsoil_like() -> pd.DataFrame:
    wavelengths = np.arange(1100, 2500, 2)
    rows = 6
    frame = pd.DataFrame(
        {
            "Nt": [1.2, np.nan, 0.8, 2.1, np.nan, 1.5],
            "Ciso": [1.1, 0.9, np.nan, 2.4, 1.3, 1.0],
            "CEC": [np.nan, 12.0, 9.5, np.nan, np.nan, 15.2],
            "train": [1, 1, 0, 1, 0, 1],
        }
    )
    spectra = np.stack([smooth(wavelengths, 0.3 + 0.05 * i, 0.05, 0.1 * i) for i in range(rows)]).round(6)
    return pd.concat([frame, pd.DataFrame(spectra, columns=[str(w) for w in wavelengths])], axis=1)


def datsoilspc_like() -> pd.DataFrame:
    wavelengths = np.arange(350, 2501)
    frame = pd.DataFrame(
        {
            "clay": [49, 20, 35, 12],
            "silt": [10, 30, 25, 8],
            "sand": [41, 50, 40, 80],
            "TotalCarbon": [0.15, 1.2, 3.4, 0.6],
        }
    )
    spectra = np.stack([smooth(wavelengths, 0.25 + 0.04 * i, 0.08, 0.2 * i) for i in range(4)]).round(4)
    return pd.concat([frame, pd.DataFrame(spectra, columns=[str(w) for w in wavelengths])], axis=1)


def kssl_mir_like() -> pd.DataFrame:
    wavenumbers = np.arange(600, 4001, 2)
    frame = pd.DataFrame(
        {
            "id": [RNG.bytes(16).hex() for _ in range(5)],
            "k.ext_usda.a725_cmolc.kg": [0.33, 1.39, 0.52, 0.21, 0.75],
            "cec_usda.a723_cmolc.kg": [11.8, 19.8, 7.1, 25.3, 14.0],
            "oc_usda.c729_w.pct": [0.21, 0.90, 2.35, 0.05, 1.10],
            "clay.tot_usda.a334_w.pct": [34.4, 27.3, 12.0, 55.1, 20.9],
        }
    )
    spectra = np.stack([smooth(wavenumbers, 1.4 - 0.1 * i, 0.3, 0.15 * i) for i in range(5)]).round(4)
    return pd.concat([frame, pd.DataFrame(spectra, columns=[str(w) for w in wavenumbers])], axis=1)


def wide_generic() -> pd.DataFrame:
    wavenumbers = np.arange(4000, 599, -100)  # decreasing, as MIR tables often are
    frame = pd.DataFrame(
        {
            "sample": ["s1", "s1", "s2", "s3", "s3", "s3"],
            "site": ["north", "north", "south", "east", "east", "east"],
            "soc": [12.5, 12.5, np.nan, 30.1, 30.1, 30.1],
            "clay": [20.0, 20.0, 35.0, 10.0, 10.0, 10.0],
        }
    )
    spectra = np.stack([smooth(wavenumbers, 1.0 + 0.05 * i, 0.2, 0.1 * i) for i in range(6)]).round(5)
    return pd.concat([frame, pd.DataFrame(spectra, columns=[f"wn_{w}" for w in wavenumbers])], axis=1)


#: OSSL layer ids of the fixture (32 hex digits like the real ``id.layer_uuid_txt``).
LAYERS = {name: RNG.bytes(16).hex() for name in "abcd"}


def ossl_tables() -> dict[str, pd.DataFrame]:
    a, b, c, d = (LAYERS[k] for k in "abcd")
    site = pd.DataFrame(
        {
            "dataset.code_ascii_txt": ["KSSL.SSL", "KSSL.SSL", "AFSIS1.SSL", "KSSL.SSL"],
            "id.layer_uuid_txt": [a, b, c, d],
            "id.layer_local_c": ["1001", "1002", "icr072246", "1004"],
            "longitude.point_wgs84_dd": [-96.6888, -96.7012, 15.6874917, -101.25],
            "latitude.point_wgs84_dd": [40.7845, 40.8011, -7.37775, 35.5],
            "layer.sequence_usda_uint16": [1, 2, 1, 1],
            "layer.upper.depth_usda_cm": [0.0, 20.0, 0.0, 0.0],
            "layer.lower.depth_usda_cm": [20.0, 40.0, 20.0, 15.0],
            "observation.date.begin_iso.8601_yyyy.mm.dd": ["2015-03-05", "2015-03-05", "2011-01-01", "2019-07-20"],
            "observation.date.end_iso.8601_yyyy.mm.dd": ["2015-03-05", "2015-03-05", "2013-12-31", "2019-07-20"],
            "location.country_iso.3166_txt": ["USA", "USA", "AGO", "USA"],
        }
    )
    lab_l1 = pd.DataFrame(
        {
            "dataset.code_ascii_txt": ["KSSL.SSL", "KSSL.SSL", "AFSIS1.SSL"],
            "id.layer_uuid_txt": [a, b, c],  # layer d has no lab data
            "oc_usda.c729_w.pct": [2.91, 0.45, 1.20],
            "clay.tot_usda.a334_w.pct": [30.99, np.nan, 51.0],  # missing for b
            "ph.h2o_usda.a268_index": [5.1, 6.4, 7.64],
            "cec_usda.a723_cmolc.kg": [6.63, 12.1, 37.8],
            "efferv_usda.a479_class": ["none", "slight", "none"],
        }
    )
    lab_l0 = pd.DataFrame(
        {
            "dataset.code_ascii_txt": ["KSSL.SSL", "KSSL.SSL", "AFSIS1.SSL"],
            "id.layer_uuid_txt": [a, b, c],
            "oc_iso.10694_w.pct": [np.nan, np.nan, 1.25],
            "oc_usda.c729_w.pct": [2.91, 0.45, np.nan],
        }
    )
    wavelengths = np.arange(350, 2501, 2)
    visnir_layers = [a, a, b, d]  # two scans (repeats) of layer a; layer c has no vis-NIR scan
    visnir = pd.DataFrame(
        {
            "dataset.code_ascii_txt": ["KSSL.SSL"] * 4,
            "id.layer_uuid_txt": visnir_layers,
            "id.scan_local_c": ["196784MD01", "196784MD02", "196785MD01", "196790MD01"],
            "scan.visnir.date.begin_iso.8601_yyyy.mm.dd": ["2015-03-05"] * 4,
            "scan.visnir.model.name_utf8_txt": ["ASD Labspec 2500 with Muglight accessory"] * 4,
        }
    )
    reflectance = np.stack([smooth(wavelengths, 0.2 + 0.03 * i, 0.05, 0.1 * i) for i in range(4)]).round(5)
    visnir = pd.concat(
        [visnir, pd.DataFrame(reflectance, columns=[f"scan_visnir.{w}_ref" for w in wavelengths])], axis=1
    )
    wavenumbers = np.arange(600, 4001, 2)
    mir = pd.DataFrame(
        {
            "dataset.code_ascii_txt": ["KSSL.SSL", "AFSIS1.SSL", "KSSL.SSL"],
            "id.layer_uuid_txt": [a, c, b],
            "id.scan_local_c": ["1001XS01", "icr021044", "1002XS01"],
            "scan.mir.model.name_utf8_txt": ["Bruker Vertex 70 with HTS-XT accessory"] * 3,
        }
    )
    absorbance = np.stack([smooth(wavenumbers, 1.2 + 0.1 * i, 0.3, 0.2 * i) for i in range(3)]).round(4)
    absorbance[2] = np.nan  # a MIR row without values (layer b): left out
    mir = pd.concat([mir, pd.DataFrame(absorbance, columns=[f"scan_mir.{w}_abs" for w in wavenumbers])], axis=1)
    return {
        "ossl_soilsite_L0_v1.2.csv.gz": site,
        "ossl_soillab_L1_v1.2.csv.gz": lab_l1,
        "ossl_soillab_L0_v1.2.csv.gz": lab_l0,
        "ossl_visnir_L0_v1.2.csv.gz": visnir,
        "ossl_mir_L0_v1.2.csv.gz": mir,
    }


#: Spectral grids of ``ossl_paired/`` (nm, cm-1): every 10 instead of the OSSL's every 2.
PAIRED_VISNIR_NM = np.arange(350, 2501, 10)
PAIRED_MIR_CM1 = np.arange(600, 4001, 10)


def _bands(positions: np.ndarray, centres_widths_depths: list[tuple[float, float, np.ndarray]]) -> np.ndarray:
    """Sum of Gaussian bands, (N, B): each (centre, FWHM, depth of shape (N,)) in the positions' unit."""
    total = np.zeros((len(centres_widths_depths[0][2]), positions.size))
    for centre, fwhm, depth in centres_widths_depths:
        sigma = fwhm / 2.3548
        total += depth[:, None] * np.exp(-0.5 * ((positions[None, :] - centre) / sigma) ** 2)
    return total


def ossl_paired_tables() -> dict[str, pd.DataFrame]:
    """OSSL-layout tables of 96 synthetic layers whose vis-NIR and MIR spectra share a latent soil."""
    rng = np.random.default_rng(20251120)  # its own stream: the other fixtures keep their bytes
    n_pairs, n_mir_only, n_repeats = 80, 16, 8
    n = n_pairs + n_mir_only
    layers = [rng.bytes(16).hex() for _ in range(n)]
    clay = rng.uniform(5.0, 60.0, n)
    silt = rng.uniform(5.0, 35.0, n)
    sand = np.clip(100.0 - clay - silt, 2.0, None)
    soc = np.exp(rng.normal(0.2, 0.8, n)).clip(0.1, 8.0)  # weight %, log-normal as in real soils
    caco3 = np.where(rng.random(n) < 0.3, rng.uniform(1.0, 15.0, n), 0.0)
    iron = rng.uniform(0.3, 5.0, n)
    ph = 5.0 + 0.9 * np.log1p(caco3) + rng.normal(0.0, 0.3, n)  # calcareous soils are alkaline
    site = pd.DataFrame(
        {
            "dataset.code_ascii_txt": ["KSSL.SSL"] * n,
            "id.layer_uuid_txt": layers,
            "id.layer_local_c": [str(50000 + i) for i in range(n)],
            "longitude.point_wgs84_dd": rng.uniform(-104.0, -90.0, n).round(4),
            "latitude.point_wgs84_dd": rng.uniform(32.0, 45.0, n).round(4),
            "layer.upper.depth_usda_cm": np.zeros(n),
            "layer.lower.depth_usda_cm": np.full(n, 20.0),
            "observation.date.begin_iso.8601_yyyy.mm.dd": ["2016-06-01"] * n,
        }
    )
    lab = pd.DataFrame(
        {
            "dataset.code_ascii_txt": ["KSSL.SSL"] * n,
            "id.layer_uuid_txt": layers,
            "oc_usda.c729_w.pct": soc.round(3),
            "clay.tot_usda.a334_w.pct": clay.round(2),
            "silt.tot_usda.c62_w.pct": silt.round(2),
            "sand.tot_usda.c60_w.pct": sand.round(2),
            "caco3_usda.a54_w.pct": caco3.round(2),
            "fe.dith_usda.a66_w.pct": iron.round(3),
            "ph.h2o_usda.a268_index": ph.round(2),
        }
    )
    # vis-NIR reflectance: organic matter darkens; absorption features deepen with their cause.
    nm = PAIRED_VISNIR_NM.astype(float)
    albedo = 0.12 + 0.55 * np.exp(-0.35 * soc) * rng.uniform(0.9, 1.1, n)
    shape = 0.45 + 0.55 * (1.0 - np.exp(-(nm - 350.0) / 300.0))
    depth = _bands(
        nm,
        [
            (480.0, 120.0, 0.08 * iron),
            (900.0, 200.0, 0.03 * iron),
            (1415.0, 40.0, 0.03 + 0.002 * clay),
            (1915.0, 60.0, 0.05 + 0.004 * clay),
            (2205.0, 50.0, 0.0035 * clay),
            (2340.0, 60.0, 0.012 * caco3),
            (1730.0, 50.0, 0.01 * soc),
            (2310.0, 50.0, 0.012 * soc),
        ],
    )
    visnir_rows = list(range(n_pairs)) + list(range(n_repeats))  # 8 layers scanned twice
    reflectance = albedo[:, None] * shape[None, :] * np.exp(-depth)
    reflectance = reflectance[visnir_rows] * rng.normal(1.0, 0.02, (len(visnir_rows), 1))
    reflectance += rng.normal(0.0, 0.002, reflectance.shape)
    visnir = pd.DataFrame(
        {
            "dataset.code_ascii_txt": ["KSSL.SSL"] * len(visnir_rows),
            "id.layer_uuid_txt": [layers[i] for i in visnir_rows],
            "id.scan_local_c": [f"{50000 + i}MD0{1 + (k >= n_pairs)}" for k, i in enumerate(visnir_rows)],
            "scan.visnir.model.name_utf8_txt": ["ASD Labspec 2500 with Muglight accessory"] * len(visnir_rows),
        }
    )
    visnir = pd.concat(
        [visnir, pd.DataFrame(reflectance.round(4), columns=[f"scan_visnir.{w}_ref" for w in PAIRED_VISNIR_NM])],
        axis=1,
    )
    # MIR absorbance: a rising baseline towards low wavenumbers, mineral and organic bands.
    cm1 = PAIRED_MIR_CM1.astype(float)
    baseline = 0.35 + 0.9 * ((4000.0 - cm1) / 3400.0) ** 1.5
    bands = _bands(
        cm1,
        [
            (800.0, 40.0, 0.006 * sand),
            (1870.0, 60.0, 0.004 * sand),
            (1990.0, 60.0, 0.003 * sand),
            (3695.0, 30.0, 0.008 * clay),
            (3620.0, 30.0, 0.006 * clay),
            (915.0, 40.0, 0.005 * clay),
            (3400.0, 400.0, 0.15 + 0.004 * clay),
            (2920.0, 40.0, 0.05 * soc),
            (2850.0, 30.0, 0.03 * soc),
            (1650.0, 100.0, 0.06 * soc),
            (2515.0, 40.0, 0.02 * caco3),
            (1800.0, 30.0, 0.012 * caco3),
            (1430.0, 150.0, 0.03 * caco3),
            (875.0, 30.0, 0.02 * caco3),
        ],
    )
    # The baseline rises with organic carbon (darker soils) and varies by an independent few per cent.
    scale = (0.9 + 0.04 * soc + rng.normal(0.0, 0.01, n))[:, None]
    offset = rng.normal(0.0, 0.015, (n, 1)) + scale * baseline[None, :]
    absorbance = offset + bands + rng.normal(0.0, 0.004, (n, cm1.size))
    mir = pd.DataFrame(
        {
            "dataset.code_ascii_txt": ["KSSL.SSL"] * n,
            "id.layer_uuid_txt": layers,
            "id.scan_local_c": [f"{50000 + i}XS01" for i in range(n)],
            "scan.mir.model.name_utf8_txt": ["Bruker Vertex 70 with HTS-XT accessory"] * n,
        }
    )
    mir = pd.concat(
        [mir, pd.DataFrame(absorbance.round(4), columns=[f"scan_mir.{w}_abs" for w in PAIRED_MIR_CM1])], axis=1
    )
    return {
        "ossl_soilsite_L0_v1.2.csv.gz": site,
        "ossl_soillab_L1_v1.2.csv.gz": lab,
        "ossl_visnir_L0_v1.2.csv.gz": visnir,
        "ossl_mir_L0_v1.2.csv.gz": mir,
    }


def main() -> None:
    nirsoil_like().to_csv(HERE / "nirsoil_like.csv", index=False, lineterminator="\n")
    datsoilspc_like().to_csv(HERE / "datsoilspc_like.csv", index=False, lineterminator="\n")
    write_gz_csv(kssl_mir_like(), HERE / "kssl_mir_like.csv.gz")
    wide_generic().to_csv(HERE / "wide_generic.csv", index=False, lineterminator="\n")
    folder = HERE / "ossl"
    folder.mkdir(exist_ok=True)
    for name, frame in ossl_tables().items():
        write_gz_csv(frame, folder / name)
    expected = {
        "layers": LAYERS,
        "visnir_layers": ["a", "a", "b", "d"],
        "mir_layers": ["a", "c"],
        "no_lab_layer": "d",
        "clay_missing_layer": "b",
        "oc_l1": {"a": 2.91, "b": 0.45, "c": 1.20},
        "lon": {"a": -96.6888, "b": -96.7012, "c": 15.6874917, "d": -101.25},
        "date": {"a": "2015-03-05", "b": "2015-03-05", "c": "2011-01-01", "d": "2019-07-20"},
        "visnir_range_nm": [350, 2500, 2],
        "mir_range_cm1": [600, 4000, 2],
    }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    paired = HERE / "ossl_paired"
    paired.mkdir(exist_ok=True)
    for name, frame in ossl_paired_tables().items():
        write_gz_csv(frame, paired / name)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Measure whether a crop-residue index mask would remove the biased mixed pixels of ``eospec map``.

It would not. A SOC model trained on pure laboratory soils (the bundled model's version 1;
``--model``) over-predicts on soil pixels mixed with 1-20 % green vegetation or dry crop residue
(``docs/models.md``), and NDVI does not see residue. This recipe
measures, on simulated EnMAP scenes (``eospec.simulate``, whose per-pixel cover fractions are
known), whether the two residue indices of the bare-soil literature separate such pixels from
pure soil:

* CAI, the cellulose absorption index, 0.5 (R2031 + R2211) - R2101 (reflectance 0-1; Nagler et
  al. 2000, *Remote Sens. Environ.* 71, 207-215, there scaled by 100; used for residue cover by
  Quemada and Daughtry 2016, *Remote Sens.* 8, 660): positive for dry plant litter, negative
  for soils;
* NBR2, (R1610 - R2190) / (R1610 + R2190), whose bare-soil thresholds the Sentinel-2 SOC
  studies of Castaldi et al. 2019 (*Remote Sens.* 11, 2121) and Dvorakova et al. 2020
  (*Remote Sens.* 12, 1913) compare; this recipe tests 0.05-0.125.

Rxxx is the reflectance at the scene band nearest to xxx nm. It prints (1) the indices of the
1,287 laboratory soils the model was trained and held out on, resampled to EnMAP; (2) per scene,
the share of *mapped* pixels (those that pass eospec's masks) that a CAI threshold at the lab
soils' 99th percentile, or NBR2 > 0.075, would remove, per pixel class; (3) the end-to-end
accuracy of the map (``--model``, default the bundled ``soc``) over all mapped pixels and over
pure soil, with NBR2 masks of 0.125-0.05. Only (3) depends on the model.

Usage::

    python recipes/residue_mask_check.py --seeds 0 1 2 --size 128   # about 5 s on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_soc_model import enmap_default_bands, load_lab_sets  # noqa: E402

from eospec.mapping import map_scene  # noqa: E402
from eospec.metrics import regression_metrics  # noqa: E402
from eospec.sensors import nearest_band  # noqa: E402
from eospec.simulate import simulate_scene  # noqa: E402

NBR2_THRESHOLDS = (0.125, 0.1, 0.075, 0.05)


def residue_indices(reflectance: np.ndarray, wavelengths_nm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CAI and NBR2 (module docstring) of reflectance 0-1 whose last axis is the bands."""

    def band(nm: float) -> np.ndarray:
        return reflectance[..., nearest_band(wavelengths_nm, nm)].astype(np.float64)

    cai = 0.5 * (band(2031) + band(2211)) - band(2101)
    with np.errstate(divide="ignore", invalid="ignore"):
        nbr2 = (band(1610) - band(2190)) / (band(1610) + band(2190))
    return cai, nbr2


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(
        description="Measure whether a crop-residue index mask would remove biased mixed pixels."
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--size", type=int, default=128, help="scene side in pixels")
    parser.add_argument("--model", default="soc", help="the SOC model: a bundled name or a model .json (default soc)")
    args = parser.parse_args(argv)

    soils = np.concatenate([s.reflectance for s in load_lab_sets(0)])  # the model's soils, held-out ones too
    lab_cai, lab_nbr2 = residue_indices(soils, enmap_default_bands()[0])
    cai_max = float(np.percentile(lab_cai, 99))
    print(
        f"lab soils (n {len(soils)}): CAI median {np.median(lab_cai):+.4f}, 99th percentile {cai_max:+.4f}, "
        f"max {lab_cai.max():+.4f}; NBR2 median {np.median(lab_nbr2):+.3f}, "
        f"share above 0.075 {np.mean(lab_nbr2 > 0.075):.1%}\n"
    )
    rows, accuracy = [], []
    with tempfile.TemporaryDirectory() as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in args.seeds:
            scene = simulate_scene(Path(work) / f"scene{seed}.tif", size=args.size, seed=seed)
            result = map_scene(scene.scene_path, Path(work) / f"soc{seed}.tif", model=args.model, progress=False)
            with rasterio.open(scene.scene_path) as src:
                wavelengths = np.array([float(src.tags(i)["wavelength"]) for i in src.indexes])
                cube = np.moveaxis(src.read().astype(np.float32) * float(src.tags()["scale_factor"]), 0, -1)
            with rasterio.open(result.path) as src:
                soc, reason = src.read(1), src.read(2)
            with rasterio.open(scene.truth_path) as src:
                truth, soil, vegetation, litter = src.read(1), src.read(2), src.read(3), src.read(4)
            cai, nbr2 = residue_indices(cube, wavelengths)
            mapped = (reason == 0) & (soil > 0)
            classes = {
                "pure soil": soil > 0.999,
                "10-20 % residue": (litter > 0.1) & (vegetation == 0),
                "5-20 % green vegetation": (vegetation > 0.05) & (litter == 0),
            }
            for name, members in classes.items():
                chosen = mapped & members
                rows.append(
                    f"| {seed} | {name} | {chosen.sum()} | {np.mean(cai[chosen] > cai_max):.1%} | "
                    f"{np.mean(nbr2[chosen] > 0.075):.1%} |"
                )
            for limit in (None, *NBR2_THRESHOLDS):
                kept = mapped if limit is None else mapped & (nbr2 <= limit)
                every, pure = (
                    regression_metrics(truth[part], soc[part]) for part in (kept, kept & classes["pure soil"])
                )
                accuracy.append(
                    f"| {seed} | {'none' if limit is None else limit} | {int(every['n'])} | {every['rmse']:.2f} | "
                    f"{every['bias']:+.2f} | {every['r2']:.2f} | {every['ccc']:.2f} | "
                    f"{int(pure['n'])} | {pure['rmse']:.2f} | {pure['r2']:.2f} |"
                )
    print(f"Mapped pixels a residue mask would remove (CAI > {cai_max:+.4f}, the lab soils' 99th percentile):\n")
    print("| seed | pixels | n | CAI mask | NBR2 > 0.075 |\n| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print("\nMap accuracy (SOC, g/kg) with an NBR2 mask on top of eospec's masks:\n")
    print("| seed | NBR2 max | n | RMSE | bias | R2 | CCC | pure soil n | pure RMSE | pure R2 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(accuracy))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Measure whether training the SOC model on soil-plant mixtures removes the mixed-pixel bias.

The bundled SOC model learnt from pure laboratory soils, and over-predicts by +10 to +20 g/kg on
pixels that mix soil with 1-20 % green vegetation or crop residue (``docs/models.md``); no index
mask removes those pixels (``recipes/residue_mask_check.py``). This recipe trains the bundled
model's candidate (architecture, input transform and number of epochs read from
``eospec/models/weights/soc.json``) with the same recipe code (``train_soc_model.train_mlp``,
seed 0) twice on the same 1,198 laboratory soils:

* ``control``: the soils alone, i.e. the bundled model again;
* ``mixed``: the soils plus three copies of each, every copy a linear mixture
  (1 - f) R_soil + f R_plant with f uniform in [0, ``max_fraction``] and the soil's SOC as label;
  R_plant is drawn, with equal odds, from green (NDVI >= 0.6) or dry (NDVI < 0.3) plant spectra
  of the USGS Spectral Library Version 7 (Kokaly et al. 2017, USGS Data Series 1035), AVIRIS-1995
  convolution, resampled to EnMAP with Gaussian SRFs.

``eospec simulate`` mixes its soils with the earthlib library's vegetation and litter, not USGS
spectra, so no plant spectrum of the test scenes is seen in training; both use linear mixing.
Both models then map simulated scenes (held-out LimeSoDa fold 10 soils, known SOC per pixel)
and, when present, the real Potsdam EnMAP scene, whose soil-labelled pixels (EnMAP-Box land-cover
polygons) are sandy arable and fallow soils.

Usage::

    python recipes/mixture_training_check.py --seeds 0 1 2 --size 128   # about 20 s on 2 cores
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_soc_model import (  # noqa: E402
    HELD_OUT_FOLD,
    Settings,
    candidates,
    enmap_default_bands,
    load_lab_sets,
    shared_data_dir,
    to_enmap,
    train_mlp,
)

from eospec.mapping import map_scene  # noqa: E402
from eospec.metrics import regression_metrics  # noqa: E402
from eospec.models.registry import resolve_model  # noqa: E402
from eospec.sensors import nearest_band  # noqa: E402
from eospec.simulate import simulate_scene  # noqa: E402

#: USGS library names kept as plant spectra (leaves, canopies, grass, dry plant matter) ...
PLANT_NAMES = re.compile(
    r"leaf|leaves|grass|needle|straw|npv|sagebrush|tumbleweed|pine|oak|maple|walnut|willow|manzanita|aspen|"
    r"lichen|juniper|fir|spruce|corn|wheat|rice",
    re.IGNORECASE,
)
#: ... except mixtures with minerals (the library's AMX series).
MINERAL_MIXTURES = re.compile(r"\+|antigorite|stonwll|mont|kaol|calcite|AMX", re.IGNORECASE)
#: Entries of the bundled model's metadata that report its own evaluation.
EVALUATION_KEYS = ("cross_validation", "candidates", "held_out_test", "conversion_check", "version", "recipe")
POTSDAM_SOIL = 5  # class of enmap_potsdam_tiles_landcover_labels.tif


def plant_spectra(library_folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Green and dry plant spectra of the USGS splib07 AV95 library at the EnMAP default bands.

    Args:
        library_folder: folder of ``s07_AV95_envi.hdr`` and ``.sli``.

    Returns:
        ``(green, dry)``: float64 arrays of shape (G, 202) and (D, 202), reflectance 0-1.

    Raises:
        FileNotFoundError: If the library is not in ``library_folder``.
    """
    import spectral.io.envi as envi

    header = library_folder / "s07_AV95_envi.hdr"
    if not header.is_file():
        raise FileNotFoundError(f"{header} not found: put the USGS splib07 AV95 library there")
    library = envi.open(str(header), str(header.with_suffix(".sli")))
    wavelengths = np.asarray(library.bands.centers, dtype=np.float64)
    wavelengths = wavelengths * 1000.0 if wavelengths.max() < 100 else wavelengths  # um -> nm
    grid = np.arange(380.0, 2511.0)
    resampled = []
    for name, spectrum in zip(library.names, np.asarray(library.spectra, dtype=np.float64), strict=True):
        measured = (spectrum > -0.01) & (spectrum < 1.5)  # the library's deleted channels are -1.23e34
        if not PLANT_NAMES.search(name) or MINERAL_MIXTURES.search(name) or measured.mean() < 0.7:
            continue
        order = np.argsort(wavelengths[measured], kind="stable")  # AVIRIS spectrometers overlap
        centres, first = np.unique(wavelengths[measured][order], return_index=True)
        resampled.append(np.interp(grid, centres, spectrum[measured][order][first]))
    plants = to_enmap(grid, np.clip(np.asarray(resampled), 0.0, 1.0))
    centres = enmap_default_bands()[0]
    red, nir = plants[:, nearest_band(centres, 665)], plants[:, nearest_band(centres, 865)]
    ndvi = (nir - red) / (nir + red)
    return plants[ndvi >= 0.6], plants[ndvi < 0.3]


def mix_with_plants(
    soils: np.ndarray,
    green: np.ndarray,
    dry: np.ndarray,
    copies: int,
    max_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Linear soil-plant mixtures: ``copies`` mixtures of every soil spectrum.

    Args:
        soils: shape (N, B), reflectance 0-1.
        green: shape (G, B), green plant spectra.
        dry: shape (D, B), dry plant spectra.
        copies: mixtures per soil.
        max_fraction: plant fractions are uniform in [0, max_fraction].
        rng: the random generator.

    Returns:
        float64 array of shape (copies * N, B): copy k of soil i is row k * N + i.
    """
    mixtures = []
    for _ in range(copies):
        fraction = rng.uniform(0.0, max_fraction, size=(len(soils), 1))
        use_green = rng.random(len(soils)) < 0.5
        plant = np.where(
            use_green[:, None],
            green[rng.integers(len(green), size=len(soils))],
            dry[rng.integers(len(dry), size=len(soils))],
        )
        mixtures.append((1.0 - fraction) * soils + fraction * plant)
    return np.concatenate(mixtures)


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description="Measure whether soil-plant mixture training removes the bias.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="simulated scenes")
    parser.add_argument("--size", type=int, default=128, help="simulated scene side in pixels")
    parser.add_argument("--copies", type=int, default=3, help="mixtures per soil spectrum")
    parser.add_argument("--max-fraction", type=float, default=0.25, help="largest plant fraction")
    parser.add_argument("--out-dir", type=Path, default=None, help="keep the two models here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    sets = load_lab_sets(0)
    soils = np.concatenate([s.reflectance[s.folds != HELD_OUT_FOLD] for s in sets])
    soc = np.concatenate([s.soc[s.folds != HELD_OUT_FOLD] for s in sets])
    green, dry = plant_spectra(shared_data_dir() / "endmembers" / "usgs_splib07_av95")
    print(f"{len(soils)} soils; USGS plants: {len(green)} green, {len(dry)} dry")
    mixed = mix_with_plants(soils, green, dry, args.copies, args.max_fraction, np.random.default_rng(0))

    bundled, _ = resolve_model("soc")
    architecture = bundled["architecture"]
    name = f"mlp-{'-'.join(map(str, architecture['hidden']))}/{architecture['transform']}"
    name += "+snv" if architecture["snv"] else ""
    candidate = next(c for c in candidates(False) if c.name == name)
    epochs = int(bundled["hyperparameters"]["epochs"])
    training = {
        "control": (soils, soc),
        "mixed": (np.concatenate([soils, mixed]), np.tile(soc, args.copies + 1)),
    }
    with tempfile.TemporaryDirectory() as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = args.out_dir or Path(work)
        folder.mkdir(parents=True, exist_ok=True)
        from safetensors.torch import save_file

        models = {}
        for label, (reflectance, target) in training.items():
            module, _, _ = train_mlp(candidate, reflectance, target, Settings(), 0, reflectance, epochs=epochs)
            save_file({k: v.contiguous() for k, v in module.state_dict().items()}, folder / f"{label}.safetensors")
            # the bundled model's description of inputs and bands; its accuracy figures describe another model
            metadata = {key: value for key, value in bundled.items() if key not in EVALUATION_KEYS}
            metadata |= {
                "name": label,
                "weights": f"{label}.safetensors",
                "description": f"{label} model of recipes/mixture_training_check.py (a check, not evaluated)",
            }
            (folder / f"{label}.json").write_text(json.dumps(metadata))
            models[label] = str(folder / f"{label}.json")
            print(f"trained {label} on {len(target)} spectra, {epochs} epochs")

        rows = []
        for seed in args.seeds:
            scene = simulate_scene(Path(work) / f"scene{seed}.tif", size=args.size, seed=seed)
            with rasterio.open(scene.truth_path) as src:
                truth, soil, vegetation, litter = src.read(1), src.read(2), src.read(3), src.read(4)
            for label, model in models.items():
                result = map_scene(scene.scene_path, Path(work) / f"{label}{seed}.tif", model=model, progress=False)
                with rasterio.open(result.path) as src:
                    values, reason = src.read(1), src.read(2)
                mapped = (reason == 0) & (soil > 0)
                parts = {
                    "all mapped": mapped,
                    "pure soil": mapped & (soil > 0.999),
                    "with green vegetation": mapped & (vegetation > 0),
                    "with crop residue": mapped & (litter > 0),
                }
                for part, chosen in parts.items():
                    score = regression_metrics(truth[chosen], values[chosen])
                    rows.append(
                        f"| {seed} | {label} | {part} | {int(score['n'])} | {score['rmse']:.2f} | "
                        f"{score['bias']:+.2f} | {score['r2']:.2f} | {score['ccc']:.2f} |"
                    )
        print("\nSimulated scenes (SOC, g/kg):\n")
        print(
            "| seed | model | pixels | n | RMSE | bias | R2 | CCC |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
        )
        print("\n".join(rows))

        potsdam = shared_data_dir() / "enmap" / "potsdam"
        if (potsdam / "enmap_potsdam_tiles_mosaic.tif").is_file():
            with rasterio.open(potsdam / "enmap_potsdam_tiles_landcover_labels.tif") as src:
                soil_label = src.read(1) == POTSDAM_SOIL
            print("\nPotsdam EnMAP scene, soil-labelled pixels with a value (SOC, g/kg):\n")
            print("| model | n | 10th pct | median | 90th pct |\n| --- | --- | --- | --- | --- |")
            for label, model in models.items():
                result = map_scene(
                    potsdam / "enmap_potsdam_tiles_mosaic.tif",
                    Path(work) / f"potsdam_{label}.tif",
                    model=model,
                    progress=False,
                )
                with rasterio.open(result.path) as src:
                    values, reason = src.read(1), src.read(2)
                chosen = values[soil_label & (reason == 0)]
                low, median, high = np.percentile(chosen, [10, 50, 90])
                print(f"| {label} | {chosen.size} | {low:.1f} | {median:.1f} | {high:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

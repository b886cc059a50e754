#!/usr/bin/env python
"""Measure what the bundled SOC model's soil-plant mixture training buys, under three mixing models.

The bundled SOC model (``recipes/train_soc_model.py``, version 2 and later) learnt from 1,198
laboratory soils and three linear mixtures of each with 0-25 % of a green or dry USGS plant
spectrum. This recipe compares it with ``pure``: the same candidate (architecture, input
transform and EPO directions read from ``eospec/models/weights/soc.json`` and its weights)
trained by the recipe's own ``train_mlp`` on the soils alone, with its early stopping (seed 0),
i.e. the version-1 recipe for that candidate; ``--control`` compares with a saved model instead,
labelled ``control`` (``train_soc_model.py --plant-copies 0 --epo-components 0`` rebuilds
version 1).

Three tests, all on data never used in training:

1. **Spectra**: the held-out LimeSoDa fold 10 soils (89) mixed with the plant spectra that
   ``eospec simulate`` uses (earthlib's PROSAIL canopies and measured litter; no USGS spectrum),
   a plant fraction f of 0, 5, 10 and 20 %, under three mixing models:

   * linear (areal): ``(1 - f) s + f p`` (Keshava and Mustard 2002), the model of the training
     mixtures;
   * bilinear: ``(1 - f) s + f p + f (1 - f) s p`` (Fan et al. 2009, Int. J. Remote Sens. 30,
     2951, Eq. 3, for two endmembers): light scattered once by the plant and once by the soil;
   * intimate: the single-scattering albedos mix, ``w = (1 - f) w_s + f w_p``, converted with
     Hapke's model at nadir (Hapke 1981; :func:`eospec.augment.physical.hapke_albedo`, the
     ``"paper"`` form), as for plant fragments mixed into the soil surface.

2. **Simulated scenes** (``eospec simulate``: linear mixing, EnMAP-like noise), mapped with
   ``eospec.mapping.map_scene``, split by pixel class.
3. **The real Potsdam EnMAP scene**, when present: the soil-labelled pixels (EnMAP-Box land-cover
   polygons; sandy arable and fallow soils, no SOC measured).

Usage::

    python recipes/mixture_training_check.py --seeds 0 1 2 --size 128   # about 30 s on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_soc_model import (  # noqa: E402
    HELD_OUT_FOLD,
    Epo,
    Settings,
    bundled_candidate,
    enmap_default_bands,
    enmap_noise_sigma,
    load_lab_sets,
    module_predict,
    shared_data_dir,
    train_mlp,
    training_pool,
    with_enmap_noise,
)

from eospec.augment.physical import hapke_albedo, hapke_reflectance  # noqa: E402
from eospec.mapping import map_scene  # noqa: E402
from eospec.masks import classify, index_bands  # noqa: E402
from eospec.metrics import regression_metrics  # noqa: E402
from eospec.models.registry import load_model_file, resolve_model  # noqa: E402
from eospec.models.spectral import SpectralRegressor  # noqa: E402
from eospec.sensors import ENMAP_DEFAULT_BANDS  # noqa: E402
from eospec.simulate import simulate_scene  # noqa: E402

FloatArray = npt.NDArray[np.float64]

#: Entries of the bundled model's metadata that report its own evaluation.
EVALUATION_KEYS = ("cross_validation", "candidates", "held_out_test", "conversion_check", "version", "recipe")
POTSDAM_SOIL = 5  # class of enmap_potsdam_tiles_landcover_labels.tif
FRACTIONS = (0.0, 0.05, 0.1, 0.2)


def linear_mixture(soil: FloatArray, plant: FloatArray, fraction: float) -> FloatArray:
    """Areal (checkerboard) mixture ``(1 - f) soil + f plant``; shapes broadcast, reflectance 0-1."""
    return (1.0 - fraction) * soil + fraction * plant


def bilinear_mixture(soil: FloatArray, plant: FloatArray, fraction: float) -> FloatArray:
    """Fan et al. (2009, Eq. 3) bilinear mixture of two endmembers: the linear one plus ``f (1 - f) soil plant``."""
    return linear_mixture(soil, plant, fraction) + fraction * (1.0 - fraction) * soil * plant


def intimate_mixture(soil: FloatArray, plant: FloatArray, fraction: float) -> FloatArray:
    """Hapke intimate mixture at nadir: single-scattering albedos mix linearly (Hapke 1981).

    Args:
        soil: reflectance 0-1, shape (..., B).
        plant: reflectance 0-1, broadcastable to ``soil``.
        fraction: the plant's share of the scattering cross-section, 0-1.

    Returns:
        Reflectance of the mixture, float64, the broadcast shape.
    """
    soil_t, plant_t = torch.as_tensor(soil, dtype=torch.float64), torch.as_tensor(plant, dtype=torch.float64)
    albedo = (1.0 - fraction) * hapke_albedo(soil_t, 0.0, 0.0) + fraction * hapke_albedo(plant_t, 0.0, 0.0)
    return hapke_reflectance(albedo, 0.0, 0.0).numpy()


MIXING: dict[str, Callable[[FloatArray, FloatArray, float], FloatArray]] = {
    "linear": linear_mixture,
    "bilinear": bilinear_mixture,
    "intimate": intimate_mixture,
}


def simulation_plants() -> tuple[FloatArray, FloatArray]:
    """Green canopy and litter spectra of ``eospec simulate`` (earthlib), each (P, 202), reflectance 0-1."""
    from eospec.simulate import _load_library  # the scenes' own plant spectra, not part of the public API

    library = _load_library()  # all 224 EnMAP bands
    default = np.asarray(ENMAP_DEFAULT_BANDS) - 1
    return library.vegetation[:, default], library.litter[:, default]


def spectra_table(
    models: Mapping[str, torch.nn.Module], soils: FloatArray, soc: FloatArray, plants: dict[str, FloatArray], seed: int
) -> list[str]:
    """Markdown rows: RMSE and bias of each model on held-out soils mixed with plants.

    Every soil is mixed with 10 spectra of each plant kind (drawn with ``seed``) at each fraction of
    :data:`FRACTIONS` under each model of :data:`MIXING`, with EnMAP-like noise added. Only the
    mixtures that ``eospec map``'s spectral tests keep (:func:`eospec.masks.classify`: not
    vegetation, water or too dark) are scored; ``kept`` is their share.
    """
    rng = np.random.default_rng(seed)
    sigma = enmap_noise_sigma()
    bands = index_bands(enmap_default_bands()[0])
    rows = []
    for kind, spectra in plants.items():
        draws = rng.integers(len(spectra), size=(len(soils), 10))
        soil = np.repeat(soils, 10, axis=0)
        plant = spectra[draws.ravel()]
        target = np.repeat(soc, 10)
        noise = rng.normal(size=soil.shape) * sigma
        for mixing, mix in MIXING.items():
            for fraction in FRACTIONS:
                if fraction == 0.0 and mixing != "linear":
                    continue
                mixed = np.clip(mix(soil, plant, fraction) + noise, 1e-4, 1.0)
                green, red, nir, swir1 = (mixed[:, bands[name]] for name in ("green", "red", "nir", "swir1"))
                kept = classify(green, red, nir, swir1) == 0
                label = mixing if fraction else "none (pure soil)"
                cells = [f"| {kind} | {label} | {fraction:.0%} | {kept.mean():.0%} |"]
                for module in models.values():
                    if not kept.any():
                        cells.append(" n/a | n/a |")
                        continue
                    predicted = module_predict(module, mixed[kept])
                    score = regression_metrics(target[kept], predicted)
                    cells.append(f" {score['rmse']:.2f} | {score['bias']:+.2f} |")
                rows.append("".join(cells))
    return rows


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description="Measure what soil-plant mixture training buys.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="simulated scenes")
    parser.add_argument("--size", type=int, default=128, help="simulated scene side in pixels")
    parser.add_argument("--control", type=Path, default=None, help="a model JSON to compare instead of `pure`")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    sets = load_lab_sets(0)
    pool = training_pool(sets)
    soils, soc = pool.reflectance, pool.soc
    held = [(s, s.folds == HELD_OUT_FOLD) for s in sets if s.name != "datsoilspc"]
    held_soils = np.concatenate([s.reflectance[m] for s, m in held])
    held_soc = np.concatenate([s.soc[m] for s, m in held])

    bundled, bundled_weights = resolve_model("soc")
    with tempfile.TemporaryDirectory() as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = "pure" if args.control is None else "control"
        bundled_module = load_model_file(bundled, bundled_weights).eval()
        if args.control is not None:
            control_json = args.control
        else:
            candidate = bundled_candidate(bundled)
            noisy = with_enmap_noise(soils, 0)
            epo = None
            if isinstance(bundled_module, SpectralRegressor) and bundled_module.epo_components:
                # the bundled EPO directions, about these soils' mean
                epo = Epo.about(soils, bundled_module.epo_basis.double().numpy())
            module, epochs, _ = train_mlp(candidate, soils, soc, Settings(), 0, noisy, epo=epo)
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in module.state_dict().items()}, Path(work) / "pure.safetensors")
            # the bundled model's description of inputs and bands; its accuracy figures describe another model
            metadata = {key: value for key, value in bundled.items() if key not in EVALUATION_KEYS}
            metadata |= {
                "name": "pure",
                "weights": "pure.safetensors",
                "description": "pure-soil model of recipes/mixture_training_check.py (a check, not evaluated)",
            }
            metadata.pop("plant_mixtures", None)
            control_json = Path(work) / "pure.json"
            control_json.write_text(json.dumps(metadata))
            print(f"trained `pure` ({candidate.name}) on {len(soc)} soils, {epochs} epochs (early stopping)")
        control = json.loads(Path(control_json).read_text())
        model_files = {other: str(control_json), "bundled": "soc"}
        modules = {
            other: load_model_file(control, Path(control_json).parent / control["weights"]).eval(),
            "bundled": bundled_module,
        }
        version = f"{control['version']}, " if "version" in control else ""
        print(f"bundled: soc {bundled['version']}; {other}: {version}{control['description'][:80]}")

        green, litter = simulation_plants()
        print(f"\nHeld-out soils (n {len(held_soc)}) mixed with earthlib plants, EnMAP-like noise (SOC, g/kg):\n")
        print(f"| plant | mixing | fraction | kept | {other}: RMSE | bias | bundled: RMSE | bias |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        print("\n".join(spectra_table(modules, held_soils, held_soc, {"green": green, "litter": litter}, 0)))

        rows = []
        for seed in args.seeds:
            scene = simulate_scene(Path(work) / f"scene{seed}.tif", size=args.size, seed=seed)
            with rasterio.open(scene.truth_path) as src:
                truth, soil, vegetation, residue = src.read(1), src.read(2), src.read(3), src.read(4)
            for label, model in model_files.items():
                result = map_scene(scene.scene_path, Path(work) / f"{label}{seed}.tif", model=model, progress=False)
                with rasterio.open(result.path) as src:
                    values, reason = src.read(1), src.read(2)
                mapped = (reason == 0) & (soil > 0)
                parts = {
                    "all mapped": mapped,
                    "pure soil": mapped & (soil > 0.999),
                    "with green vegetation": mapped & (vegetation > 0),
                    "with crop residue": mapped & (residue > 0),
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
            for label, model in model_files.items():
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

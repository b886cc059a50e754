"""Tests of the bundled-model registry and of the bundled SOC model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import import_recipe

from eospec.errors import UnknownModelError
from eospec.models import registry
from eospec.models.registry import get_model, get_model_metadata, list_models

#: The metadata keys documented in eospec.models.registry's module docstring.
DOCUMENTED_KEYS = {
    "name",
    "version",
    "description",
    "property",
    "long_name",
    "unit",
    "sensor",
    "band_wavelengths_nm",
    "input",
    "architecture",
    "preprocessing",
    "valid_range",
    "training_data",
    "licence",
    "cross_validation",
    "weights",
    "recipe",
    "epo",
}


def test_documented_keys_are_the_docstring_keys():
    doc = registry.__doc__ or ""
    for key in DOCUMENTED_KEYS:
        assert f"``{key}``" in doc


def test_list_models_contains_soc():
    names = list_models()
    assert "soc" in names
    assert names == sorted(names)


def test_soc_metadata_has_every_documented_key():
    metadata = get_model_metadata("soc")
    assert DOCUMENTED_KEYS <= set(metadata)
    assert metadata["name"] == "soc"
    assert metadata["property"] == "soc"
    assert metadata["unit"] == "g/kg"
    assert metadata["sensor"] == "enmap"
    assert metadata["weights"] == "soc.safetensors"
    assert {"type", "hidden", "n_outputs", "transform", "snv", "epo_components"} <= set(metadata["architecture"])
    assert metadata["epo"]["components"] == metadata["architecture"]["epo_components"] >= 1
    assert metadata["architecture"]["type"] == "spectral_regressor"
    assert {"rmse", "r2", "rpiq", "n", "folds", "scheme"} <= set(metadata["cross_validation"])
    low, high = metadata["valid_range"]
    assert 0 <= low < high
    for entry in metadata["training_data"]:
        assert {"name", "n", "licence", "source"} <= set(entry)
    assert metadata["held_out"] == "LimeSoDa fold 10 of each dataset"
    wavelengths = metadata["band_wavelengths_nm"]
    assert wavelengths == sorted(wavelengths)
    assert 400 < wavelengths[0] and wavelengths[-1] < 2500


def test_soc_weights_are_small():
    metadata = get_model_metadata("soc")
    weights = Path(str(registry._weights_folder())) / metadata["weights"]
    assert weights.stat().st_size < 5 * 1024 * 1024


def test_loaded_module_matches_metadata():
    model = get_model("soc")
    assert model.unit == "g/kg"
    assert model.module.n_bands == len(model.band_wavelengths_nm)
    assert model.module.n_bands == len(model.metadata["band_wavelengths_nm"])
    assert not model.module.training


def test_unknown_model_lists_available_models():
    with pytest.raises(UnknownModelError, match="Unknown model: 'nope'") as info:
        get_model_metadata("nope")
    assert "soc" in str(info.value)
    with pytest.raises(KeyError):
        get_model("nope")


def test_forward_and_forward_band_major_agree():
    module = get_model("soc").module
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(64, module.n_bands, generator=generator) * 0.4 + 0.05
    with torch.no_grad():
        pixel_major = module(x)[:, 0]
        band_major = module.forward_band_major(x.T.contiguous())[0]
    torch.testing.assert_close(band_major, pixel_major, rtol=1e-4, atol=1e-3)


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    """LimeSoDa fold-10 spectra (never trained on), resampled as in the recipe, and SOC (g/kg)."""
    pytest.importorskip("LimeSoDa")
    recipe = import_recipe("train_soc_model")
    metadata = get_model_metadata("soc")
    reflectance, soc = [], []
    for name in recipe.LIMESODA_DATASETS:
        data = recipe.load_limesoda(name)
        held = data.folds == recipe.HELD_OUT_FOLD
        assert data.rows[held].tolist() == metadata["held_out_samples"][f"LimeSoDa {name}"]
        reflectance.append(data.reflectance[held])
        soc.append(data.soc[held])
    return np.concatenate(reflectance), np.concatenate(soc)


def test_predictions_on_held_out_lab_spectra(held_out):
    reflectance, soc = held_out
    model = get_model("soc")
    assert reflectance.shape == (soc.size, len(model.band_wavelengths_nm))
    with torch.no_grad():
        predicted = model.module(torch.from_numpy(reflectance).float())[:, 0].numpy()
    low, high = model.metadata["valid_range"]
    inside = (predicted >= low - 10) & (predicted <= high)
    assert inside.mean() > 0.95, predicted[~inside]
    assert np.all(np.isfinite(predicted))
    r = float(np.corrcoef(predicted, soc)[0, 1])
    assert r > 0.3, f"correlation with measured SOC is only {r:.2f}"


def test_epo_components_of_the_metadata_must_match_the_weights(tmp_path):
    import json

    from conftest import write_linear_model

    rng = np.random.default_rng(0)
    epo = (rng.uniform(0.3, 1.0, 202), np.linalg.qr(rng.normal(size=(202, 2)))[0])
    path, _, _ = write_linear_model(tmp_path, epo=epo)
    metadata, weights = registry.resolve_model(str(path))
    assert registry.load_model_file(metadata, weights).epo_components == 2
    assert registry.load_numpy_model(metadata, weights).epo_basis.shape == (202, 2)
    metadata["architecture"]["epo_components"] = 0  # metadata without the step the weights hold
    path.write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="holds 2 EPO components but the metadata's architecture says 0"):
        registry.load_numpy_model(*registry.resolve_model(str(path)))
    with pytest.raises(RuntimeError, match="epo_mean"):  # torch refuses the unexpected buffers too
        registry.load_model_file(*registry.resolve_model(str(path)))

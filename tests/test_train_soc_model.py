"""The SOC training recipe (``recipes/train_soc_model.py``): plant spectra, mixtures, splits and a quick run."""

from __future__ import annotations

import json
from types import ModuleType

import numpy as np
import pytest
from conftest import import_recipe


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    return import_recipe("train_soc_model")


def toy_pool(recipe: ModuleType, n: int = 90) -> object:
    """Soils whose band 0 is 0 and band 1 is 1, so that a mixture's fraction and plant value can be read back."""
    reflectance = np.tile([0.0, 1.0], (n, 1))
    folds = np.arange(n) % 3 + 1
    return recipe.Pool(reflectance, np.arange(n, dtype=float), folds, np.full(n, "toy"), np.arange(n), np.zeros(n))


def toy_plants(recipe: ModuleType) -> object:
    """Six constant plant spectra (values 0.1-0.6), two per fold: one green, one dry."""
    values = np.arange(1, 7) / 10.0
    return recipe.Plants(
        np.repeat(values[:, None], 2, axis=1),
        np.array([True, False] * 3),
        [f"plant {v}" for v in values],
        np.array([1, 1, 2, 2, 3, 3]),
    )


def test_mixtures_keep_their_soil_fold_label_and_group(recipe):
    pool, plants = toy_pool(recipe), toy_plants(recipe)
    mixed = recipe.mix_with_plants(pool, plants, copies=4, max_fraction=0.3, seed=5)
    n = pool.soc.size
    assert mixed.reflectance.shape == (5 * n, 2)
    np.testing.assert_array_equal(mixed.reflectance[:n], pool.reflectance)
    np.testing.assert_array_equal(mixed.pure, np.arange(5 * n) < n)
    for name in ("soc", "folds", "group", "dataset"):
        np.testing.assert_array_equal(getattr(mixed, name), np.tile(getattr(pool, name), 5))
    # band 0 is f * plant and band 1 is (1 - f) + f * plant: read f and the plant back
    rows = mixed.reflectance[n:]
    fraction = 1.0 - rows[:, 1] + rows[:, 0]
    np.testing.assert_allclose(fraction, mixed.plant_fraction[n:], atol=1e-12)
    assert (fraction > 0).all() and (fraction <= 0.3 + 1e-12).all() and fraction.max() > 0.25
    plant_value = rows[:, 0] / fraction
    plant = np.rint(plant_value * 10).astype(int) - 1
    np.testing.assert_allclose(plant_value, (plant + 1) / 10.0, atol=1e-9)
    # every mixture holds a plant of its own soil's fold, green and dry with equal odds
    np.testing.assert_array_equal(plants.folds[plant], mixed.folds[n:])
    assert 0.4 < plants.green[plant].mean() < 0.6
    again = recipe.mix_with_plants(pool, plants, copies=4, max_fraction=0.3, seed=5)
    np.testing.assert_array_equal(again.reflectance, mixed.reflectance)
    assert recipe.mix_with_plants(pool, plants, copies=0, max_fraction=0.3, seed=5) is pool


def test_mixing_refuses_bad_input(recipe):
    pool, plants = toy_pool(recipe), toy_plants(recipe)
    with pytest.raises(ValueError, match="max_fraction 1.2 is outside"):
        recipe.mix_with_plants(pool, plants, copies=1, max_fraction=1.2, seed=0)
    mixed = recipe.mix_with_plants(pool, plants, copies=1, max_fraction=0.2, seed=0)
    with pytest.raises(ValueError, match="pool of pure soils"):
        recipe.mix_with_plants(mixed, plants, copies=1, max_fraction=0.2, seed=0)


def test_validation_split_keeps_groups_together(recipe):
    # one row per group: the version-1 split, index = permutation(n); index[:n // 10], index[n // 10:]
    index = np.random.default_rng(3).permutation(57)
    validation, training = recipe.validation_split(np.arange(57), np.random.default_rng(3))
    np.testing.assert_array_equal(validation, index[:5])
    np.testing.assert_array_equal(training, index[5:])
    # a soil and its three mixtures share a group: 10 % of the groups validate, none is split
    groups = np.tile(np.arange(40), 4)
    validation, training = recipe.validation_split(groups, np.random.default_rng(0))
    assert len(set(groups[validation])) == 4 and not set(groups[validation]) & set(groups[training])
    np.testing.assert_array_equal(np.sort(np.concatenate([validation, training])), np.arange(160))
    validation, training = recipe.validation_split(groups, np.random.default_rng(0), validate=False)
    assert validation.size == 0 and np.sort(training).tolist() == list(range(160))


@pytest.mark.shared_data
def test_usgs_plant_spectra(recipe, shared_data):
    plants = recipe.load_plants(shared_data / recipe.USGS_AV95, seed=0)
    assert plants.reflectance.shape == (80, 202) and plants.green.sum() == 61
    assert np.isfinite(plants.reflectance).all() and (plants.reflectance >= 0).all() and (plants.reflectance <= 1).all()
    centres = recipe.enmap_default_bands()[0]
    red, nir = (int(np.argmin(np.abs(centres - nm))) for nm in (665, 865))
    ndvi = (plants.reflectance[:, nir] - plants.reflectance[:, red]) / (
        plants.reflectance[:, nir] + plants.reflectance[:, red]
    )
    assert (ndvi[plants.green] >= 0.6).all() and (ndvi[~plants.green] < 0.3).all()
    names = " ".join(plants.names).lower()
    assert "kerogen" not in names and "plywood" not in names and "lawn_grass" in names
    # every fold holds green and dry plants, as evenly as the counts allow
    for kind, low in ((True, 6), (False, 2)):
        counts = np.bincount(plants.folds[plants.green == kind], minlength=10)[1:]
        assert counts.min() >= low and counts.max() - counts.min() <= 1
    with pytest.raises(FileNotFoundError, match="--plant-copies 0"):
        recipe.load_plants(shared_data / "missing.hdr", seed=0)


def test_bad_arguments_exit_2_with_the_fix(recipe, capsys):
    for args, message in (
        (["--max-plant-fraction", "1.5"], "--max-plant-fraction 1.5 is outside (0, 1)"),
        (["--plant-copies", "-1"], "--plant-copies -1 is negative"),
    ):
        with pytest.raises(SystemExit) as stop:
            recipe.main(args)
        assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.shared_data
def test_quick_run_writes_a_loadable_mixture_trained_model(recipe, shared_data, tmp_path):
    assert recipe.main(["--quick", "--plant-copies", "1", "--out-dir", str(tmp_path), "--threads", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["soc.json", "soc.safetensors"]  # no staging left
    metadata = json.loads((tmp_path / "soc.json").read_text())
    assert metadata["version"] == "0.0.0-quick"
    assert metadata["recipe"] == "python recipes/train_soc_model.py --quick --plant-copies 1"
    mixtures = metadata["plant_mixtures"]
    n_soils = metadata["cross_validation"]["n"]
    assert mixtures["copies"] == 1 and mixtures["n_mixtures"] == n_soils and len(mixtures["plant_names"]) == 80
    assert metadata["cross_validation"]["mixtures"]["n"] == n_soils
    best = min(metadata["candidates"], key=lambda row: row["rmse_all"])
    assert metadata["cross_validation"]["rmse_all"] == best["rmse_all"]
    assert "USGS" in metadata["training_data"][-1]["name"]

    from eospec.models.registry import load_model_file

    module = load_model_file(metadata, tmp_path / "soc.safetensors")
    assert max(metadata["conversion_check"]["max_abs_difference_g_per_kg"].values()) < 1e-3
    assert module.transform == best["transform"]


def test_training_pool_leaves_out_the_held_out_fold_and_excluded_rows(recipe):
    def lab(name: str, n: int) -> object:
        reflectance = np.arange(n * 2, dtype=float).reshape(n, 2)
        folds = np.arange(n) % 10 + 1
        return recipe.LabSet(name, reflectance, np.arange(n) + 0.5, folds, np.arange(n), (350.0, 2500.0))

    sets = [lab("a", 20), lab("b", 12)]
    exclude = np.zeros(12, dtype=bool)
    exclude[[0, 5]] = True
    pool = recipe.training_pool(sets, {"b": exclude})
    expected_b = (sets[1].folds != 10) & ~exclude
    assert pool.soc.tolist() == [*sets[0].soc[sets[0].folds != 10], *sets[1].soc[expected_b]]
    assert (pool.folds != 10).all() and pool.pure.all() and pool.group.tolist() == list(range(pool.soc.size))
    assert pool.dataset.tolist() == ["a"] * 18 + ["b"] * int(expected_b.sum())


def test_bundled_candidate_is_the_metadata_architecture(recipe):
    from eospec.models.registry import get_model_metadata

    metadata = get_model_metadata("soc")
    candidate = recipe.bundled_candidate(metadata)
    architecture = metadata["architecture"]
    assert candidate.kind == "mlp" and list(candidate.hidden) == architecture["hidden"]
    assert (candidate.transform, candidate.snv) == (architecture["transform"], architecture["snv"])
    with pytest.raises(ValueError, match="not an MLP candidate"):
        recipe.bundled_candidate({"architecture": {"hidden": [], "transform": "absorbance", "snv": False}})

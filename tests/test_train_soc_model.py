"""The SOC training recipe (``recipes/train_soc_model.py``): plant spectra, mixtures, splits and a quick run."""

from __future__ import annotations

import json
from types import ModuleType

import numpy as np
import pytest
import torch
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
        (["--epo-components", "two"], "--epo-components two: pass 'auto' or a whole number 0-202"),
        (["--epo-components", "-1"], "--epo-components -1: pass 'auto' or a whole number 0-202"),
        (["--epo-folds", "1"], "--epo-folds 1: pass 2 or more"),
    ):
        with pytest.raises(SystemExit) as stop:
            recipe.main(args)
        assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.shared_data
def test_quick_run_writes_a_loadable_mixture_trained_model(recipe, shared_data, tmp_path):
    args = ["--quick", "--plant-copies", "1", "--epo-components", "1", "--epo-folds", "2"]
    assert recipe.main([*args, "--out-dir", str(tmp_path), "--threads", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["soc.json", "soc.safetensors"]  # no staging left
    metadata = json.loads((tmp_path / "soc.json").read_text())
    assert metadata["version"] == "0.0.0-quick"
    assert metadata["recipe"] == "python recipes/train_soc_model.py " + " ".join(args)
    # the EPO step: g = 1 as asked, with the datEPO study of g = 0 and 1 (three scans and all) recorded
    epo = metadata["epo"]
    assert epo["components"] == metadata["architecture"]["epo_components"] == 1
    assert sorted(epo["study"]) == ["0", "1"]
    assert set(epo["study"]["1"]) == {"air-dry", "wet", "re-dried (1 day)", "all"}
    assert epo["study"]["1"]["all"]["n"] == 300
    assert metadata["training_data"][-1]["name"].startswith("datEPO")
    assert "EPO against soil moisture" in metadata["preprocessing"]
    mixtures = metadata["plant_mixtures"]
    n_soils = metadata["cross_validation"]["n"]
    assert mixtures["copies"] == 1 and mixtures["n_mixtures"] == n_soils and len(mixtures["plant_names"]) == 80
    assert metadata["cross_validation"]["mixtures"]["n"] == n_soils
    # the candidate is chosen without EPO; the reported CV is that candidate's, again, with its EPO step
    best = min(metadata["candidates"], key=lambda row: row["rmse_all"])
    assert epo["without_epo_cross_validation"]["rmse_all"] == best["rmse_all"]
    assert metadata["cross_validation"]["rmse_all"] != best["rmse_all"]
    assert "USGS" in metadata["training_data"][-2]["name"]

    from eospec.models.registry import load_model_file

    module = load_model_file(metadata, tmp_path / "soc.safetensors")
    assert max(metadata["conversion_check"]["max_abs_difference_g_per_kg"].values()) < 1e-3
    assert module.transform == best["transform"]
    assert module.epo_components == 1
    basis = module.epo_basis.double()
    torch.testing.assert_close(basis.T @ basis, torch.eye(1, dtype=torch.float64), atol=1e-5, rtol=0)


@pytest.mark.shared_data
def test_missing_datepo_exits_2_with_the_fix(recipe, shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EOSPEC_SHARED_DATA", str(tmp_path))  # no datsoilspc, no datEPO there
    with pytest.raises(SystemExit) as stop:
        recipe.main(["--quick", "--plant-copies", "0", "--out-dir", str(tmp_path / "out")])
    assert stop.value.code == 2 and "pass --epo-components 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


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


# --------------------------------------------------------------------------------------------
# Soil moisture: datEPO and the EPO step
# --------------------------------------------------------------------------------------------


def test_match_soils_takes_the_best_correlated_soil_with_the_same_carbon(recipe):
    rng = np.random.default_rng(0)
    spectra = rng.uniform(0.1, 0.5, size=(5, 20))
    soc = np.array([10.0, 20.0, 10.0, 30.0, 10.0])
    lab = recipe.LabSet("datsoilspc", spectra, soc, np.ones(5, dtype=np.int64), np.arange(5), (350.0, 2500.0))
    # a brighter copy of soil 2 correlates perfectly with it; soils 0 and 4 have the same carbon
    assert recipe.match_soils(1.2 * spectra[[2, 3]], np.array([10.0, 30.0]), lab).tolist() == [2, 3]
    with pytest.raises(ValueError, match="12.5 g/kg"):
        recipe.match_soils(spectra[:1], np.array([12.5]), lab)


@pytest.mark.shared_data
def test_datepo_scans(recipe, shared_data):
    scans, soc = recipe.load_datepo(shared_data / "soil" / "wadoux_soilspec")
    assert list(scans) == ["air-dry", "wet", "re-dried (1 day)"]
    assert soc.shape == (100,) and 0 < soc.min() and soc.max() < 150
    for reflectance in scans.values():
        assert reflectance.shape == (100, 202) and (reflectance > 0).all() and (reflectance < 1).all()
    # water darkens a soil; a day of drying brings most of the brightness back
    dry, wet, redried = (scans[k].mean(axis=1) for k in scans)
    assert (wet < dry).mean() > 0.95 and np.median(wet) < np.median(redried) < np.median(dry)
    with pytest.raises(FileNotFoundError, match="EOSPEC_SHARED_DATA"):
        recipe.load_datepo(shared_data / "missing")


def synthetic_moisture(recipe, n_soils: int = 180, n_scanned: int = 40, seed: int = 0):
    """Soils whose absorbance carries SOC along one direction; wet scans add another (moisture) direction.

    Returns the pool (all soils, dataset "datsoilspc", folds 1-9), the moisture scans of the first
    ``n_scanned`` soils and the unit moisture direction (202,) in absorbance.
    """
    rng = np.random.default_rng(seed)
    bands = np.linspace(0.0, 1.0, 202)
    carbon = np.exp(-(((bands - 0.3) / 0.05) ** 2))  # an absorption feature that deepens with SOC
    water = 0.2 + np.exp(-(((bands - 0.7) / 0.1) ** 2)) + bands  # broad darkening plus a water band
    soc = rng.uniform(5.0, 40.0, n_soils)
    absorbance = 0.3 + 0.01 * soc[:, None] * carbon + rng.normal(0, 0.05, (n_soils, 1)) * bands
    absorbance += rng.normal(0, 0.002, absorbance.shape)
    folds = np.arange(n_soils) % 9 + 1
    pool = recipe.Pool(
        10.0**-absorbance, soc, folds, np.full(n_soils, "datsoilspc"), np.arange(n_soils), np.zeros(n_soils)
    )
    wetness = rng.uniform(0.2, 0.6, (n_scanned, 1))
    dry = absorbance[:n_scanned]
    scans = {
        "air-dry": 10.0**-dry,
        "wet": 10.0 ** -(dry + wetness * water),
        "re-dried (1 day)": 10.0 ** -(dry + 0.3 * wetness * water),
    }
    moisture = recipe.MoistureScans(scans, soc[:n_scanned], np.arange(n_scanned))
    return pool, moisture, water / np.linalg.norm(water)


def test_epo_apply_is_the_model_step_and_chemotools_projection(recipe):
    from chemotools.projection import ExternalParameterOrthogonalization

    from eospec.models.spectral import SpectralRegressor

    pool, moisture, water = synthetic_moisture(recipe)
    reflectance, soil = moisture.stacked(np.arange(40))
    assert reflectance.shape == (120, 202) and soil.tolist() == [*range(40)] * 3
    basis = moisture.directions(np.arange(40), 1)
    assert abs(float(basis[:, 0] @ water)) > 0.999  # the within-soil scan differences are the moisture effect
    epo = recipe.Epo.about(pool.reflectance, basis)
    np.testing.assert_allclose(epo.mean, -np.log10(pool.reflectance).mean(axis=0), rtol=1e-12)
    reference = ExternalParameterOrthogonalization(n_components=1).fit(
        -np.log10(pool.reflectance), X_external=-np.log10(reflectance), sample_ids=soil
    )
    np.testing.assert_allclose(
        -np.log10(epo.apply(reflectance)), reference.transform(-np.log10(reflectance)), atol=1e-10
    )
    # the wet and dry scans of a soil become the same spectrum
    projected = epo.apply(reflectance).reshape(3, 40, 202)
    np.testing.assert_allclose(projected[1], projected[0], rtol=1e-9)
    # the recipe's numpy features and the model's own EPO step agree
    model = SpectralRegressor(202, (), 202, "reflectance", True, epo_components=1).double()
    model.set_epo(epo.mean, epo.basis)
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.eye(202))
        model.layers[0].bias.zero_()
        got = model(torch.from_numpy(reflectance)).numpy()
    np.testing.assert_allclose(got, recipe.features(reflectance, "reflectance", True, epo), rtol=1e-9, atol=1e-9)


def test_without_soils_drops_those_soils_and_their_mixtures(recipe):
    soils = recipe.Pool(
        np.zeros((6, 2)),
        np.arange(6.0),
        np.ones(6, dtype=np.int64),
        np.array(["SSP.460"] * 2 + ["datsoilspc"] * 4),
        np.arange(6),
        np.zeros(6),
    )
    mixed = recipe.Pool(
        *(np.concatenate([a, a]) for a in (soils.reflectance, soils.soc, soils.folds, soils.dataset, soils.group)),
        np.r_[np.zeros(6), np.full(6, 0.1)],
    )
    kept = recipe.without_soils(mixed, np.array([1, 3]))  # datsoilspc rows 1 and 3: pool groups 3 and 5
    assert kept.group.tolist() == [0, 1, 2, 4, 0, 1, 2, 4]
    assert kept.plant_fraction.tolist() == [0.0] * 4 + [0.1] * 4


def test_moisture_folds_and_the_choice_of_g(recipe):
    fold = recipe.moisture_folds(11, 3, seed=0)
    assert sorted(np.bincount(fold).tolist()) == [3, 4, 4]
    np.testing.assert_array_equal(fold, recipe.moisture_folds(11, 3, seed=0))
    for bad in (1, 12):
        with pytest.raises(ValueError, match=f"{bad} folds for 11 soils: pass 2 to 11 folds"):
            recipe.moisture_folds(11, bad, seed=0)
    scores = {g: {"all": {"rmse": rmse}} for g, rmse in ((0, 9.0), (1, 7.0), (2, 7.0), (4, 8.0))}
    assert recipe.choose_epo_components(scores) == 1  # the smaller g on a tie


def test_moisture_cv_epo_removes_a_moisture_effect_out_of_fold(recipe):
    pool, moisture, _ = synthetic_moisture(recipe)
    settings = recipe.Settings(alphas=tuple(np.logspace(-8, -2, 7)), noise=False)
    candidate = recipe.Candidate("ridge", "absorbance", False)
    predicted = recipe.moisture_cv(candidate, pool, moisture, (0, 1), 4, settings, seed=0)
    scores = {g: recipe.moisture_scores(moisture, predicted[g]) for g in (0, 1)}
    assert scores[0]["air-dry"]["rmse"] < 2.0  # the dry scans are what the model learnt from
    assert scores[0]["wet"]["rmse"] > 5.0  # wetting moves the prediction without EPO ...
    assert scores[1]["wet"]["rmse"] < 0.3 * scores[0]["wet"]["rmse"]  # ... and hardly with it
    assert recipe.choose_epo_components(scores) == 1
    # a subset of soils is predicted alone, the others left NaN (a nested caller's outer test fold)
    subset = recipe.moisture_cv(candidate, pool, moisture, (1,), 2, settings, seed=0, soils=np.arange(20))[1]
    assert np.isfinite(subset[:, :20]).all() and np.isnan(subset[:, 20:]).all()


def test_with_moisture_scans_labels_each_scan_with_its_soil(recipe):
    pool, moisture, _ = synthetic_moisture(recipe)
    training = recipe.without_soils(pool, moisture.matched[[0, 1]])
    soils = np.array([2, 5, 7])
    added = recipe.with_moisture_scans(training, pool, moisture, soils, ["wet", "re-dried (1 day)"])
    n = training.soc.size
    assert added.soc.size == n + 6
    np.testing.assert_array_equal(added.reflectance[:n], training.reflectance)
    np.testing.assert_array_equal(added.reflectance[n : n + 3], moisture.scans["wet"][soils])
    np.testing.assert_array_equal(added.reflectance[n + 3 :], moisture.scans["re-dried (1 day)"][soils])
    np.testing.assert_array_equal(added.soc[n:], np.tile(moisture.soc[soils], 2))
    # a scan shares its soil's group and fold: it stays on that soil's side of every split
    np.testing.assert_array_equal(added.group[n:], np.tile(pool.group[soils], 2))
    np.testing.assert_array_equal(added.folds[n:], np.tile(pool.folds[soils], 2))
    assert (added.dataset[n:] == "datEPO").all() and (added.plant_fraction[n:] == 0).all()
    with pytest.raises(KeyError):
        recipe.with_moisture_scans(training, pool, moisture, soils, ["flooded"])

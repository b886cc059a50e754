"""The contrastive study runner (recipes/contrastive/run_study.py): splits, greedy search, --set, --resume."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy.signal import savgol_filter

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "contrastive"


@pytest.fixture
def run_study(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_study", RECIPES / "run_study.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_study", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _fake_summary(name: str, val_r2: float) -> dict[str, Any]:
    return {"variant": name, "val_R2": {"mean": val_r2, "std": 0.0}, "test_R2": {"mean": 0.0, "std": 0.0}}


def test_greedy_adds_the_best_augmentation_while_validation_improves(run_study, monkeypatch):
    # Validation R2 of a combination: the sum of per-augmentation gains, with "c" hurting once combined.
    gain = {"a": 0.30, "b": 0.20, "c": 0.25, "d": 0.10}
    tried: list[list[str]] = []

    def fake_run_variant(name, overrides, splits, config, train, recorder=None):  # noqa: ANN001, ANN202
        names = list(overrides["augmentations"])
        tried.append(names)
        value = sum(gain[n] for n in names) - (0.5 if "c" in names and len(names) > 1 else 0.0)
        return _fake_summary(name, value)

    monkeypatch.setattr(run_study, "run_variant", fake_run_variant)
    config = {"greedy": {"candidates": ["a", "b", "c", "d"]}, "variants": {n: {"augmentations": [n]} for n in gain}}
    singles = {n: _fake_summary(n, v) for n, v in gain.items()}
    steps = run_study.greedy_study(singles, config, [], {})
    # best single a (0.30); round 1: a+b 0.50 > a+d 0.40 > a+c 0.05; round 2: a+b+d 0.60; round 3: only c left, worse
    assert [step["variant"] for step in steps] == ["a", "a + b", "a + b + d"]
    assert sorted(map(tuple, tried)) == sorted(
        [("a", "b"), ("a", "c"), ("a", "d"), ("a", "b", "c"), ("a", "b", "d"), ("a", "b", "d", "c")]
    )


def test_set_overrides_a_config_value_and_rejects_unknown_keys(run_study):
    config = {"data": {"n_train": 500, "endmembers": ["x"]}, "train": {"max_epochs": 100}}
    run_study.set_value(config, "data.n_train=50")
    run_study.set_value(config, "train.max_epochs=3")
    assert config["data"]["n_train"] == 50 and config["train"]["max_epochs"] == 3
    with pytest.raises(
        ValueError, match=r"'data.n_trian' is not in the config; use one of \['endmembers', 'n_train'\]"
    ):
        run_study.set_value(config, "data.n_trian=5")
    with pytest.raises(ValueError, match="write KEY=VALUE"):
        run_study.set_value(config, "data.n_train")


def test_synthetic_splits_are_disjoint_and_sized(run_study, monkeypatch):
    from eospec import synthetic

    wavelengths = np.linspace(400.0, 2500.0, 30)
    endmembers = np.stack([0.2 + 0.1 * k + 0.05 * np.sin(wavelengths / (100.0 + 50 * k)) for k in range(4)])
    monkeypatch.setattr(synthetic, "usgs_endmembers", lambda *args: (wavelengths, endmembers))
    data = {"n_pixels": 300, "snr_db": 20.0, "n_train": 40, "n_val": 60, "endmembers": ["a"]}
    splits = list(run_study.synthetic_splits(data, [0, 1]))
    spectra, _ = synthetic.make_mixtures(endmembers, n_pixels=300, snr_db=20.0, seed=0)
    rows = {row.tobytes(): i for i, row in enumerate(spectra)}
    seen = []
    for split in splits:
        parts = [[rows[row.tobytes()] for row in part[0]] for part in (split.train, split.val, split.test)]
        assert [len(p) for p in parts] == [40, 60, 200]
        assert len(set().union(*map(set, parts))) == 300  # a partition of the image
        seen.append(parts[0])
    assert seen[0] != seen[1]  # each run seed draws its own split
    halved = list(run_study.synthetic_splits(data | {"scale": 0.5}, [0]))[0]
    np.testing.assert_allclose(halved.train[0], 0.5 * splits[0].train[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(halved.test[1], splits[0].test[1])
    # the soil input conversions are not silently ignored on mixtures
    with pytest.raises(ValueError, match="data.inputs 'absorbance_snv' is read by soil configs only"):
        list(run_study.synthetic_splits(data | {"inputs": "absorbance_snv"}, [0]))
    reflectance = list(run_study.synthetic_splits(data | {"inputs": "reflectance"}, [0]))[0]
    np.testing.assert_array_equal(reflectance.train[0], splits[0].train[0])


def test_soil_splits_follow_the_limesoda_folds(run_study):
    pytest.importorskip("LimeSoDa")
    from eospec.libraries import read_limesoda

    library = read_limesoda("SSP.460")
    folds = np.asarray(library.folds)
    target = library.properties["SOC"].to_numpy()
    data = {"limesoda": "SSP.460", "property": "SOC", "bands_nm": [400.0, 2450.0, 50.0]}
    splits = list(run_study.soil_splits(data, [0], [1, 10]))
    assert [s.name for s in splits] == ["fold1", "fold10"]
    for split, (test_fold, val_fold) in zip(splits, [(1, 2), (10, 1)], strict=True):
        # every SSP.460 soil has SOC and a complete spectrum: the parts are exactly the folds
        assert len(split.test[0]) == (folds == test_fold).sum() and len(split.val[0]) == (folds == val_fold).sum()
        assert len(split.train[0]) == ((folds != test_fold) & (folds != val_fold)).sum()
        np.testing.assert_allclose(np.sort(split.test[1][:, 0]), np.sort(target[folds == test_fold]), rtol=1e-6)
        np.testing.assert_allclose(np.sort(split.val[1][:, 0]), np.sort(target[folds == val_fold]), rtol=1e-6)
        assert split.train[0].shape[1] == 42  # 400-2450 nm every 50 nm


def no_training(*args: Any) -> None:
    """A stand-in for ``run_study.train_one`` where every variant must be reused."""
    raise AssertionError("a finished variant was trained again")


def tiny_synthetic_study(shared_data: Path, monkeypatch: pytest.MonkeyPatch, out: Path) -> list[str]:
    """run_study arguments of a one-seed, one-epoch synthetic study on 32 + 32 pixels, written to ``out``."""
    monkeypatch.setenv("EOSPEC_SHARED_DATA", str(shared_data))
    argv = ["--config", str(RECIPES / "synthetic.yaml"), "--quick", "--epochs", "1", "--seeds", "1"]
    return [*argv, "--set", "data.n_train=32", "--set", "data.n_val=32", "--out", str(out)]


@pytest.mark.shared_data
def test_resume_reuses_finished_variants(shared_data, run_study, tmp_path, monkeypatch):
    out = tmp_path / "study.json"
    argv = tiny_synthetic_study(shared_data, monkeypatch, out)
    assert run_study.main([*argv, "--variants", "baseline"]) == 0
    first = json.loads(out.read_text())
    assert first["status"] == "done" and first["overrides"] == ["data.n_train=32", "data.n_val=32"]
    assert first["results"][0]["seconds"] > 0 and first["results"][0]["trainings"] == 1

    monkeypatch.setattr(run_study, "train_one", no_training)
    before = out.read_text()
    assert run_study.main([*argv, "--variants", "baseline", "--resume"]) == 0
    # nothing trained: the record, run metadata included (times, load average), is left as it was
    assert out.read_text() == before
    with pytest.raises(AssertionError, match="trained again"):  # other settings are not reused
        run_study.main([*argv, "--variants", "baseline", "--resume", "--overwrite", "--set", "data.n_train=33"])
    # A record written before data.scale existed holds the unscaled data: reused at scale 1 only.
    record = json.loads(out.read_text())
    del record["data"]["scale"]
    out.write_text(json.dumps(record))
    assert run_study.main([*argv, "--variants", "baseline", "--resume"]) == 0
    with pytest.raises(AssertionError, match="trained again"):
        run_study.main([*argv, "--variants", "baseline", "--resume", "--overwrite", "--set", "data.scale=0.5"])


@pytest.mark.shared_data
def test_resume_with_a_subset_keeps_the_other_finished_variants(shared_data, run_study, tmp_path, monkeypatch):
    # Follow-up 14 resumed follow-up 9's files with `--variants baseline,spectral_flip`: the old code
    # rewrote them with those two only and dropped the finished nearest_neighbour_averaging.
    out = tmp_path / "study.json"
    argv = tiny_synthetic_study(shared_data, monkeypatch, out)
    assert run_study.main([*argv, "--variants", "baseline,no_augmentation"]) == 0
    first = {r["variant"]: r for r in json.loads(out.read_text())["results"]}
    assert run_study.main([*argv, "--variants", "baseline,spectral_flip", "--resume"]) == 0
    record = json.loads(out.read_text())
    assert [r["variant"] for r in record["results"]] == ["baseline", "spectral_flip", "no_augmentation"]
    kept = {r["variant"]: r for r in record["results"]}
    assert kept["baseline"] == first["baseline"] and kept["no_augmentation"] == first["no_augmentation"]
    # the kept variant is reused by a later run that asks for it again: nothing trains
    train_one = run_study.train_one

    monkeypatch.setattr(run_study, "train_one", no_training)
    before = out.read_text()
    assert run_study.main([*argv, "--variants", "no_augmentation,spectral_flip", "--resume"]) == 0
    assert out.read_text() == before
    # an interrupted record is completed (marked done) even when its variants are all reused
    out.write_text(json.dumps(json.loads(before) | {"status": "running"}))
    assert run_study.main([*argv, "--variants", "no_augmentation,spectral_flip", "--resume"]) == 0
    record = json.loads(out.read_text())
    assert record["status"] == "done" and {r["variant"] for r in record["results"]} == set(kept)
    monkeypatch.setattr(run_study, "train_one", train_one)
    # other seeds: the finished variants could be neither reused nor kept, so --resume refuses
    before = out.read_text()
    with pytest.raises(SystemExit) as exit_info:
        run_study.main([*argv, "--variants", "baseline", "--resume", "--seeds", "2"])
    assert exit_info.value.code == 2
    assert out.read_text() == before


@pytest.mark.shared_data
def test_existing_out_is_replaced_only_with_overwrite(shared_data, run_study, tmp_path, monkeypatch, capsys):
    out = tmp_path / "study.json"
    out.write_text("{}")
    argv = [*tiny_synthetic_study(shared_data, monkeypatch, out), "--variants", "baseline"]
    with pytest.raises(SystemExit) as exit_info:
        run_study.main(argv)
    assert exit_info.value.code == 2 and out.read_text() == "{}"
    assert f"--out {out} exists: pass --resume" in capsys.readouterr().err
    assert run_study.main([*argv, "--overwrite"]) == 0
    assert [r["variant"] for r in json.loads(out.read_text())["results"]] == ["baseline"]
    # --resume with another training set-up names what it would replace, and writes nothing
    with pytest.raises(SystemExit) as exit_info:
        run_study.main([*argv, "--resume", "--epochs", "2"])
    assert exit_info.value.code == 2
    assert "would replace or drop these finished variants" in capsys.readouterr().err
    assert json.loads(out.read_text())["train"]["max_epochs"] == 1


def test_grid_expands_contrastive_variants_and_leaves_the_baseline_single(run_study):
    task = {"alpha": 0.001, "radius": 0.01}
    grid = run_study.parse_grid(["alpha=1e-3,0.1", "radius=0.01,0.1"], task)
    assert grid == {"alpha": [0.001, 0.1], "radius": [0.01, 0.1]}  # "1e-3" is a string to YAML 1.1
    variants = {"baseline": {"alpha": 0.0}, "flip": {"augmentations": ["spectral_flip"]}}
    expanded = run_study.expand_grid(["baseline", "flip"], variants, task, grid)
    assert list(expanded)[0] == "baseline" and expanded["baseline"] == {"alpha": 0.0}
    assert len(expanded) == 1 + 2 * 2
    assert expanded["flip [alpha=0.1, radius=0.01]"] == {
        "augmentations": ["spectral_flip"],
        "alpha": 0.1,
        "radius": 0.01,
    }
    with pytest.raises(ValueError, match=r"'temprature' is not a task setting; use one of \['alpha', 'radius'\]"):
        run_study.parse_grid(["temprature=0.5,1"], task)
    with pytest.raises(ValueError, match="write KEY=V1,V2"):
        run_study.parse_grid(["alpha"], task)


def test_select_on_validation_picks_by_validation_never_by_test(run_study):
    results = [
        _fake_summary("baseline", 0.5),
        _fake_summary("flip [alpha=0.001]", 0.6) | {"test_R2": {"mean": 0.9, "std": 0.0}},
        _fake_summary("flip [alpha=0.1]", 0.7) | {"test_R2": {"mean": 0.1, "std": 0.0}},
        _fake_summary("shift [alpha=0.1]", 0.4),
    ]
    chosen = run_study.select_on_validation(results)
    assert [r["variant"] for r in chosen] == ["baseline", "flip [alpha=0.1]", "shift [alpha=0.1]"]


def test_chosen_settings_reads_the_validation_choice_of_finished_studies(run_study, tmp_path):
    def summary(name: str, val_r2: float, task: dict[str, Any]) -> dict[str, Any]:
        return _fake_summary(name, val_r2) | {"task": task}

    first = tmp_path / "grid_a.json"
    second = tmp_path / "grid_b.json"
    first.write_text(
        json.dumps(
            {
                "results": [
                    summary("baseline", 0.5, {"alpha": 0.0}),
                    summary("flip [alpha=0.001]", 0.6, {"alpha": 0.001, "augmentations": ["spectral_flip"]}),
                ]
            }
        )
    )
    second.write_text(
        json.dumps(
            {
                "results": [
                    summary("flip [alpha=0.1]", 0.7, {"alpha": 0.1, "augmentations": ["spectral_flip"]}),
                    summary("baseline", 0.9, {"alpha": 0.0, "note": "a duplicate: the first file's is kept"}),
                ]
            }
        )
    )
    chosen = run_study.chosen_settings([first, second])
    assert chosen == {
        "baseline": {"alpha": 0.0},
        "flip [alpha=0.1]": {"alpha": 0.1, "augmentations": ["spectral_flip"]},
    }


def test_two_stage_variants_train_their_pretraining_epochs_on_top_of_max_epochs(run_study, monkeypatch):
    import lightning.pytorch as pl

    epochs: list[int] = []
    real_trainer = pl.Trainer

    def recording_trainer(**kwargs: Any) -> Any:
        epochs.append(kwargs["max_epochs"])
        return real_trainer(**kwargs)

    monkeypatch.setattr(pl, "Trainer", recording_trainer)
    generator = np.random.default_rng(0)
    part = (generator.random((16, 8), dtype=np.float32), generator.random((16, 2), dtype=np.float32))
    split = run_study.Split("tiny", 0, part, part, part, np.linspace(400.0, 900.0, 8))
    train = {"max_epochs": 1, "batch_size": 8}
    base = {"model": "fc", "model_kwargs": {"hidden": [8, 4]}, "alpha": 0.0}
    for kwargs in (base, base | {"pretrain_epochs": 2, "loss_form": "rnc"}):
        result = run_study.train_one(split, kwargs, train)
        assert result["seconds_per_epoch"] == pytest.approx(result["seconds"] / epochs[-1])
    assert epochs == [1, 3]  # max_epochs counts the regression epochs; pretraining comes on top


def _paper_hapke_reflectance(albedo: np.ndarray, angle_deg: float) -> np.ndarray:
    mu = np.cos(np.radians(angle_deg))
    gamma = np.sqrt(1.0 - albedo)
    return albedo / (1.0 + 2.0 * mu * gamma) ** 2  # incidence = emergence: Dhaini et al. (2024), Eq. 3


def test_perturb_shifts_and_reilluminates_as_an_independent_computation(run_study):
    import torch

    from eospec.augment import shift_spectra

    wavelengths = np.linspace(400.0, 2400.0, 64)
    spectra = (0.3 + 0.2 * np.sin(wavelengths / 150.0))[None, :].repeat(3, axis=0).astype(np.float32)
    spectra *= np.array([[0.6], [1.0], [1.4]], dtype=np.float32)
    shifted = run_study.perturb(spectra, wavelengths, {"shift_nm": 10.0})
    np.testing.assert_allclose(shifted, shift_spectra(torch.from_numpy(spectra), wavelengths, 10.0).numpy())
    assert not np.allclose(shifted, spectra)
    same = run_study.perturb(spectra, wavelengths, {"incidence_deg": 30.0, "emergence_deg": 30.0})
    np.testing.assert_allclose(same, spectra, atol=1e-6)  # the reference geometry changes nothing
    # Albedo by bisection of Eq. 3 at 30 deg, then reflectance at 60 deg.
    low, high = np.zeros_like(spectra, dtype=np.float64), np.ones_like(spectra, dtype=np.float64)
    for _ in range(60):
        middle = (low + high) / 2
        too_bright = _paper_hapke_reflectance(middle, 30.0) > spectra
        high, low = np.where(too_bright, middle, high), np.where(too_bright, low, middle)
    expected = _paper_hapke_reflectance((low + high) / 2, 60.0)
    reilluminated = run_study.perturb(spectra, wavelengths, {"incidence_deg": 60.0, "emergence_deg": 60.0})
    np.testing.assert_allclose(reilluminated, expected, rtol=1e-5)
    assert np.all(reilluminated > spectra)  # smaller cosines: a brighter particulate surface
    with pytest.raises(ValueError, match="unknown"):
        run_study.perturb(spectra, wavelengths, {"shift": 5.0})
    with pytest.raises(ValueError, match="both incidence_deg and emergence_deg"):
        run_study.perturb(spectra, wavelengths, {"incidence_deg": 60.0})


def _scored(name: str, val: float, test: float, perturbed: dict[str, tuple[float, float]]) -> dict[str, Any]:
    def scores(val_r2: float, test_r2: float) -> dict[str, Any]:
        runs = [{"seed": 0, "test_R2": test_r2, "test_MAE": 0.1, "val_R2": val_r2, "val_MAE": 0.1}]
        return {
            "runs": runs,
            "test_R2": {"mean": test_r2, "std": 0.0},
            "test_MAE": {"mean": 0.1, "std": 0.0},
            "val_R2": {"mean": val_r2, "std": 0.0},
        }

    return {"variant": name, **scores(val, test), "perturbations": {p: {"shift_nm": 5.0} for p in perturbed}} | {
        "perturbed": {p: scores(*values) for p, values in perturbed.items()}
    }


def test_perturbation_tables_choose_on_perturbed_or_clean_validation(run_study):
    results = [
        _scored("baseline", 0.6, 0.6, {"shift": (0.2, 0.2)}),
        _scored("shift [alpha=0.01]", 0.7, 0.7, {"shift": (0.3, 0.35)}),  # best clean validation
        _scored("shift [alpha=0.1]", 0.5, 0.5, {"shift": (0.5, 0.45)}),  # best perturbed validation
    ]
    text = run_study.perturbation_tables(results)
    every, under_perturbed, under_clean = text.split("\n\n")[1::2]
    assert "| shift [alpha=0.01] | 0.350" in every and "| shift [alpha=0.1] | 0.450" in every
    assert "| shift [alpha=0.1] | 0.450 +/- 0.000 | +0.250" in under_perturbed and "alpha=0.01" not in under_perturbed
    assert "| shift [alpha=0.01] | 0.350 +/- 0.000 | +0.150" in under_clean and "alpha=0.1]" not in under_clean
    assert "| baseline | 0.200" in every


@pytest.mark.shared_data
def test_perturbations_score_the_same_models_and_are_checked(shared_data, run_study, tmp_path, monkeypatch):
    monkeypatch.setenv("EOSPEC_SHARED_DATA", str(shared_data))
    out = tmp_path / "study.json"
    argv = ["--config", str(RECIPES / "synthetic.yaml"), "--quick", "--epochs", "1", "--seeds", "2"]
    argv += ["--set", "data.n_train=32", "--set", "data.n_val=32", "--variants", "baseline", "--out", str(out)]
    identity = ["--set", "perturbations.shift_5nm={shift_nm: 0.0}", "--perturbations", "shift_5nm,hapke_60deg"]
    assert run_study.main([*argv, *identity]) == 0
    result = json.loads(out.read_text())["results"][0]
    same, hapke = result["perturbed"]["shift_5nm"], result["perturbed"]["hapke_60deg"]
    for clean_run, same_run, hapke_run in zip(result["runs"], same["runs"], hapke["runs"], strict=True):
        assert same_run["test_R2"] == pytest.approx(clean_run["test_R2"], abs=1e-6)  # a zero shift is no change
        assert hapke_run["test_R2"] != pytest.approx(clean_run["test_R2"], abs=1e-3)
    assert result["perturbations"]["hapke_60deg"] == {"incidence_deg": 60.0, "emergence_deg": 60.0}
    with pytest.raises(SystemExit) as error:
        run_study.main([*argv, "--perturbations", "shift_3nm"])
    assert error.value.code == 2

    def training_too_soon(*args: Any) -> None:
        raise AssertionError("a malformed perturbation must stop the study before any training")

    monkeypatch.setattr(run_study, "train_one", training_too_soon)
    one_angle = ["--set", "perturbations.hapke_60deg={incidence_deg: 60.0}", "--perturbations", "hapke_60deg"]
    with pytest.raises(SystemExit) as error:
        run_study.main([*argv, *one_angle])
    assert error.value.code == 2


def _nirsoil_table(path: Path, n: int = 23) -> tuple[np.ndarray, np.ndarray]:
    """A small table in NIRsoil's layout: absorbance constant over 1100-1300 nm, Ciso missing for soil 5."""
    import pandas as pd

    rng = np.random.default_rng(3)
    absorbance = rng.uniform(0.2, 0.9, n)
    ciso = rng.uniform(0.5, 3.0, n)
    ciso[5] = np.nan
    table = pd.DataFrame({"Nt": 1.0, "Ciso": ciso, "CEC": 10.0, "train": 1})
    bands = pd.DataFrame(np.repeat(absorbance[:, None], 101, axis=1), columns=[str(w) for w in range(1100, 1301, 2)])
    pd.concat([table, bands], axis=1).to_csv(path, index=False)
    return absorbance, ciso


def test_random_folds_deal_the_kept_spectra_evenly_and_reproducibly(run_study):
    keep = np.ones(47, dtype=bool)
    keep[[0, 9, 30]] = False
    folds = run_study.random_folds(keep, 10, seed=0)
    assert (folds[~keep] == 0).all()
    sizes = np.bincount(folds[keep], minlength=11)[1:]
    assert sizes.sum() == 44 and sizes.max() - sizes.min() <= 1  # 44 spectra in 10 folds: 4 or 5 each
    np.testing.assert_array_equal(folds, run_study.random_folds(keep, 10, seed=0))
    assert not np.array_equal(folds, run_study.random_folds(keep, 10, seed=1))


def test_soil_splits_of_a_table_convert_absorbance_and_use_random_folds(run_study, tmp_path):
    absorbance, ciso = _nirsoil_table(tmp_path / "NIRsoil.csv")
    data = {"table": "nirsoil", "path": str(tmp_path / "NIRsoil.csv"), "property": "Ciso"}
    data |= {"bands_nm": [1120.0, 1280.0, 20.0], "n_folds": 5, "fold_seed": 0}
    splits = list(run_study.soil_splits(data, [0, 1], [1, 5]))
    assert [(s.name, s.seed) for s in splits] == [("fold1", 0), ("fold5", 0), ("fold1", 1), ("fold5", 1)]
    kept = np.isfinite(ciso)
    folds = run_study.random_folds(kept, 5, 0)
    for split, (test_fold, val_fold) in zip(splits, [(1, 2), (5, 1), (1, 2), (5, 1)], strict=True):
        assert split.train[0].shape[1] == 9  # 1120-1280 nm every 20 nm
        # the soil without Ciso is in no part; the parts are the folds, whatever the run seed
        parts = [(folds != test_fold) & (folds != val_fold) & kept, folds == val_fold, folds == test_fold]
        for (spectra, target), part in zip((split.train, split.val, split.test), parts, strict=True):
            np.testing.assert_allclose(np.sort(target[:, 0]), np.sort(ciso[part]), rtol=1e-6)
            # absorbance A becomes reflectance 10^-A (flat spectra stay flat when resampled)
            expected = np.sort(10.0 ** -absorbance[part])
            np.testing.assert_allclose(np.sort(spectra[:, 0]), expected, rtol=1e-5)
            np.testing.assert_allclose(spectra, spectra[:, :1].repeat(9, axis=1), rtol=1e-5)


def test_soil_inputs_are_absorbance_and_its_snv_computed_per_spectrum(run_study):
    rng = np.random.default_rng(5)
    reflectance = rng.uniform(0.05, 0.6, (7, 30))
    reflectance[2, 4] = 0.0  # floored at 1e-4: absorbance 4
    absorbance = -np.log10(np.maximum(reflectance, 1e-4))
    np.testing.assert_allclose(run_study.soil_inputs(reflectance, "absorbance"), absorbance, rtol=1e-6)
    centred = absorbance - absorbance.mean(axis=1, keepdims=True)
    snv = centred / np.sqrt((centred**2).sum(axis=1, keepdims=True) / (30 - 1))  # Barnes et al. (1989), p - 1
    converted = run_study.soil_inputs(reflectance, "absorbance_snv")
    assert converted.dtype == np.float32
    np.testing.assert_allclose(converted, snv, rtol=1e-5, atol=1e-6)
    # per spectrum: a spectrum's input does not depend on the others
    np.testing.assert_allclose(run_study.soil_inputs(reflectance[3:4], "absorbance_snv"), converted[3:4], rtol=1e-6)
    np.testing.assert_array_equal(run_study.soil_inputs(reflectance, "reflectance"), reflectance.astype(np.float32))
    with pytest.raises(ValueError, match=r"data.inputs 'snv' is unknown: use one of \['reflectance', 'absorbance'"):
        run_study.soil_inputs(reflectance, "snv")


def test_soil_inputs_absorbance_sg1_is_the_savitzky_golay_derivative_per_nm(run_study):
    wavelengths = np.arange(1000.0, 1300.0, 10.0)  # 30 bands, 10 nm apart
    # absorbance linear in wavelength plus a quadratic: a 5-band quadratic fit differentiates it exactly
    slope, curvature = np.array([[2e-4], [-1e-4], [5e-4]]), np.array([[1e-7], [0.0], [-3e-7]])
    offset = np.array([[0.3], [0.6], [0.2]])
    absorbance = offset + slope * (wavelengths - 1000.0) + curvature * (wavelengths - 1000.0) ** 2
    reflectance = 10.0**-absorbance
    derivative = run_study.soil_inputs(reflectance, "absorbance_sg1", wavelengths)
    assert derivative.dtype == np.float32 and derivative.shape == (3, 30)
    expected = slope + 2 * curvature * (wavelengths - 1000.0)  # d(absorbance)/d(lambda), per nm
    np.testing.assert_allclose(derivative, expected, rtol=1e-4, atol=1e-9)
    # an additive baseline offset is removed
    shifted = run_study.soil_inputs(10.0 ** -(absorbance + 0.25), "absorbance_sg1", wavelengths)
    np.testing.assert_allclose(shifted, derivative, rtol=1e-4, atol=1e-9)
    # noisy spectra: the same as SciPy's filter on log10(1/R) with the 10 nm spacing
    noisy = np.random.default_rng(3).uniform(0.05, 0.6, (4, 30))
    scipy_derivative = savgol_filter(-np.log10(noisy), 5, 2, deriv=1, delta=10.0, axis=1)
    np.testing.assert_allclose(
        run_study.soil_inputs(noisy, "absorbance_sg1", wavelengths), scipy_derivative, rtol=1e-4, atol=1e-7
    )
    with pytest.raises(ValueError, match="'absorbance_sg1' needs the band centres: pass wavelengths_nm"):
        run_study.soil_inputs(noisy, "absorbance_sg1")
    with pytest.raises(ValueError, match="even"):
        run_study.soil_inputs(noisy, "absorbance_sg1", np.r_[wavelengths[:-1], 1400.0])


def test_soil_splits_give_the_network_the_chosen_inputs(run_study, tmp_path):
    absorbance, ciso = _nirsoil_table(tmp_path / "NIRsoil.csv")
    data = {"table": "nirsoil", "path": str(tmp_path / "NIRsoil.csv"), "property": "Ciso"}
    data |= {"bands_nm": [1120.0, 1280.0, 20.0], "n_folds": 5, "fold_seed": 0}
    reflectance = next(run_study.soil_splits(data, [0], [1]))
    converted = next(run_study.soil_splits(data | {"inputs": "absorbance"}, [0], [1]))
    # NIRsoil holds absorbance: read as reflectance 10^-A, converted back it is the table's absorbance
    for (spectra, target), (reference, reference_target) in zip(
        (converted.train, converted.val, converted.test),
        (reflectance.train, reflectance.val, reflectance.test),
        strict=True,
    ):
        np.testing.assert_array_equal(target, reference_target)
        np.testing.assert_allclose(spectra, -np.log10(reference), rtol=1e-5)
        assert (np.abs(spectra[:, :1] - absorbance[None, :]).min(axis=1) < 1e-5).all()  # each a soil of the table
    # the table's spectra are flat: their absorbance derivative, on the config's 20 nm bands, is zero
    derivative = next(run_study.soil_splits(data | {"inputs": "absorbance_sg1"}, [0], [1]))
    for spectra, _ in (derivative.train, derivative.val, derivative.test):
        assert spectra.shape[1] == 9
        np.testing.assert_allclose(spectra, 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="data.inputs 'derivative' is unknown"):
        list(run_study.soil_splits(data | {"inputs": "derivative"}, [0], [1]))


def test_label_scarce_soil_splits_train_on_a_fixed_subset_of_the_training_folds(run_study, tmp_path):
    _, ciso = _nirsoil_table(tmp_path / "NIRsoil.csv", n=41)
    data = {"table": "nirsoil", "path": str(tmp_path / "NIRsoil.csv"), "property": "Ciso"}
    data |= {"bands_nm": [1120.0, 1280.0, 20.0], "n_folds": 5, "fold_seed": 0}
    full = list(run_study.soil_splits(data, [0], [1, 3]))
    scarce = list(run_study.soil_splits(data | {"n_train": 10}, [0, 1], [1, 3]))
    folds = run_study.random_folds(np.isfinite(ciso), 5, 0)
    for split in scarce:
        reference = full[0] if split.name == "fold1" else full[1]
        # 10 distinct soils, all from the training folds; validation and test folds are untouched
        assert len(split.train[1]) == 10 and len(np.unique(split.train[1])) == 10
        assert np.isin(split.train[1], reference.train[1]).all()
        np.testing.assert_array_equal(split.val[1], reference.val[1])
        np.testing.assert_array_equal(split.test[1], reference.test[1])
        test_fold = int(split.name.removeprefix("fold"))
        assert not np.isin(split.train[1], ciso[(folds == test_fold) | (folds == test_fold + 1)]).any()
    # the subset is the same for every run seed, and another subset seed draws another one
    np.testing.assert_array_equal(scarce[0].train[1], scarce[2].train[1])
    other = next(run_study.soil_splits(data | {"n_train": 10, "subset_seed": 1}, [0], [1]))
    assert not np.array_equal(np.sort(other.train[1], axis=0), np.sort(scarce[0].train[1], axis=0))
    for n_train in (1, 40):
        with pytest.raises(ValueError, match=rf"data.n_train {n_train} is not possible with fold 1: use 2 to 2\d"):
            list(run_study.soil_splits(data | {"n_train": n_train}, [0], [1]))


def test_label_scarce_soil_study_runs_and_resumes_only_the_same_subset(run_study, tmp_path, monkeypatch):
    pytest.importorskip("LimeSoDa")
    out = tmp_path / "scarce.json"
    argv = ["--config", str(RECIPES / "soil.yaml"), "--quick", "--epochs", "1", "--seeds", "1"]
    argv += ["--variants", "baseline,plsr_reference", "--out", str(out)]
    scarce = ["--set", "data.n_train=12", "--set", "train.batch_size=12"]
    train_one, sizes = run_study.train_one, []

    def counting_train_one(split, *args):  # noqa: ANN001, ANN002, ANN202
        sizes.append((len(split.train[0]), len(split.val[0]), len(split.test[0])))
        return train_one(split, *args)

    monkeypatch.setattr(run_study, "train_one", counting_train_one)
    assert run_study.main([*argv, *scarce]) == 0
    # 2 variants x folds 1-2: every training part holds the 12 soils, validation and test their 46-soil folds
    assert sizes == [(12, 46, 46)] * 4
    record = json.loads(out.read_text())
    assert record["data"]["n_train"] == 12 and record["train"]["batch_size"] == 12
    # PLSR on 12 soils can use at most 11 components (scikit-learn: n_components <= n_samples - 1)
    assert all(1 <= n <= 11 for n in record["results"][1]["n_components"])

    monkeypatch.setattr(run_study, "train_one", no_training)
    assert run_study.main([*argv, *scarce, "--resume"]) == 0
    with pytest.raises(AssertionError, match="trained again"):  # another subset of 12 soils
        run_study.main([*argv, *scarce, "--set", "data.subset_seed=1", "--resume", "--overwrite"])
    with pytest.raises(AssertionError, match="trained again"):  # all the soils of the training folds
        run_study.main([*argv, "--set", "train.batch_size=12", "--resume", "--overwrite"])
    with pytest.raises(AssertionError, match="trained again"):  # absorbance SNV inputs (follow-up 12)
        run_study.main([*argv, *scarce, "--set", "data.inputs=absorbance_snv", "--resume", "--overwrite"])
    assert run_study.main([*argv, *scarce, "--set", "data.inputs=reflectance", "--resume"]) == 0  # the default


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"table": "ossl", "path": "x.csv"}, "data.table 'ossl' is unknown"),
        ({"table": "nirsoil", "path": "/no/such/NIRsoil.csv"}, "does not exist"),
        ({}, "needs data.limesoda"),
    ],
)
def test_soil_configs_with_bad_data_are_refused_with_the_fix(run_study, data, message):
    data = data | {"property": "Ciso", "bands_nm": [1120.0, 1280.0, 20.0]}
    with pytest.raises(ValueError, match=message):
        list(run_study.soil_splits(data, [0], [1]))


def test_runner_reports_bad_soil_data_and_unknown_folds_as_usage_errors(run_study, tmp_path, capsys):
    _nirsoil_table(tmp_path / "NIRsoil.csv")
    argv = ["--config", str(RECIPES / "soil_nirsoil.yaml"), "--variants", "baseline", "--epochs", "1"]
    bands = ["--set", "data.bands_nm=[1120, 1280, 20]"]
    with pytest.raises(SystemExit) as exit_info:
        run_study.main([*argv, "--set", f"data.path={tmp_path / 'missing.csv'}"])
    assert exit_info.value.code == 2 and "missing.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        run_study.main([*argv, "--set", f"data.path={tmp_path / 'NIRsoil.csv'}", "--set", "data.folds=[11]", *bands])
    assert exit_info.value.code == 2 and "folds [11] are not folds of the data" in capsys.readouterr().err


def test_plsr_reference_chooses_components_on_validation_and_recovers_a_linear_target(run_study):
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    scores, loadings = rng.normal(size=(90, 3)), rng.normal(size=(3, 12))
    spectra = (scores @ loadings + 0.05 * rng.normal(size=(90, 12))).astype(np.float32)
    target = (scores @ np.array([1.0, -2.0, 0.5]))[:, None].astype(np.float32)
    parts = [(spectra[s], target[s]) for s in (slice(0, 50), slice(50, 70), slice(70, 90))]
    split = run_study.Split("fold1", 0, *parts, np.arange(12.0))
    result = run_study.plsr_one(split, max_components=8)
    # independent check: the validation R2 of every number of components, fitted here
    val_r2 = [
        r2_score(parts[1][1], PLSRegression(n_components=a, scale=False).fit(*parts[0]).predict(parts[1][0]))
        for a in range(1, 9)
    ]
    assert result["n_components"] == int(np.argmax(val_r2)) + 1 >= 3  # three latent factors carry the target
    assert result["val"][0] == pytest.approx(max(val_r2), abs=1e-6)
    assert r2_score(parts[2][1], result["test_prediction"]) > 0.99
    with pytest.raises(ValueError, match="not scored under --perturbations"):
        run_study.train_one(split, {"model": "plsr"}, {}, {"shift_5nm": {"shift_nm": 5.0}})


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("config", "n_soils", "n_bands"), [("soil_datsoilspc.yaml", 391, 206), ("soil_nirsoil.yaml", 732, 139)]
)
def test_follow_up_6_configs_run_on_the_real_tables(
    shared_data, run_study, tmp_path, monkeypatch, config, n_soils, n_bands
):
    monkeypatch.setenv("EOSPEC_SHARED_DATA", str(shared_data))
    import yaml

    data = yaml.safe_load((RECIPES / config).read_text())["data"]
    splits = list(run_study.soil_splits(data, [0], data["folds"]))
    # the ten test folds partition the soils that have the property, 39-40 or 73-74 soils each
    assert sum(len(s.test[0]) for s in splits) == n_soils
    assert max(len(s.test[0]) for s in splits) - min(len(s.test[0]) for s in splits) <= 1
    assert all(s.train[0].shape[1] == n_bands and 0.0 < s.train[0].min() and s.train[0].max() < 1.0 for s in splits)
    out = tmp_path / "quick.json"
    argv = ["--config", str(RECIPES / config), "--quick", "--epochs", "1", "--seeds", "1"]
    assert run_study.main([*argv, "--variants", "baseline,plsr_reference", "--out", str(out)]) == 0
    baseline, plsr = json.loads(out.read_text())["results"]
    assert baseline["trainings"] == plsr["trainings"] == 2  # folds 1-2
    assert len(plsr["n_components"]) == 2 and all(1 <= n <= 20 for n in plsr["n_components"])
    assert "n_components" not in baseline
    assert plsr["test_R2"]["mean"] > baseline["test_R2"]["mean"]  # one epoch of the network against fitted PLSR


def _finished_study(path: Path, variants: dict[str, list[float]], data: dict[str, Any]) -> Path:
    """A finished study's JSON with the given test R2 per seed (seeds 0..n-1) for each variant."""

    def result(name: str, scores: list[float]) -> dict[str, Any]:
        summary = {"mean": float(np.mean(scores)), "std": float(np.std(scores, ddof=1))}
        runs = [{"seed": seed, "test_R2": score} for seed, score in enumerate(scores)]
        return {"variant": name, "runs": runs, "test_R2": summary, "test_MAE": summary, "val_R2": summary}

    seeds = list(range(len(next(iter(variants.values())))))
    record = {"data": data, "folds": [1, 2], "seeds": seeds, "train": {"max_epochs": 100}, "seconds": 1.0}
    record["results"] = [result(name, scores) for name, scores in variants.items()]
    path.write_text(json.dumps(record))
    return path


def test_tables_merge_studies_of_one_set_up_and_keep_other_data_sets_apart(run_study, tmp_path, capsys):
    clay = {"limesoda": "SSP.460", "property": "Clay"}
    base = _finished_study(tmp_path / "a.json", {"baseline": [0.50, 0.52, 0.54]}, clay)
    # a variant run in a file of its own, on the same set-up: compared with the other file's baseline
    own = _finished_study(tmp_path / "b.json", {"spectral_flip": [0.60, 0.62, 0.64]}, clay | {"inputs": "reflectance"})
    carbon = _finished_study(tmp_path / "c.json", {"baseline": [0.90, 0.91, 0.92]}, clay | {"property": "SOC"})
    run_study.print_tables([base, own, carbon])
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith("| baseline")]
    assert [row.split(" | ")[1] for row in rows] == ["0.520 +/- 0.020", "0.910 +/- 0.010"]  # two set-ups
    flips = [line for line in lines if line.startswith("| spectral_flip")]
    assert len(flips) == 1
    assert "+0.100 +/- 0.000 | 3/3 | yes" in flips[0]  # paired with the clay baseline, not the carbon one

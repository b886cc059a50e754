"""The ridge probe of extractor features (recipes/contrastive/probe_features.py)."""

from __future__ import annotations

import json
from types import ModuleType

import numpy as np
import pytest
from conftest import CONTRASTIVE_RECIPES


@pytest.fixture
def probe(contrastive_recipe) -> ModuleType:
    return contrastive_recipe("probe_features")


def test_parse_pretraining_reads_settings_and_rejects_malformed_options(probe):
    name, settings = probe.parse_pretraining("rnc=loss_form:rnc,temperature:2,radius:1e-3")
    assert name == "rnc" and settings == {"loss_form": "rnc", "temperature": 2, "radius": 0.001}
    for bad in ("rnc", "rnc=", "=loss_form:rnc", "rnc=loss_form", "rnc=loss_form:rnc,:2"):
        with pytest.raises(ValueError, match=f"--pretrain '{bad}' is invalid: write NAME=KEY:VALUE"):
            probe.parse_pretraining(bad)


def test_ridge_probe_scores_one_when_features_hold_the_targets_and_none_for_noise(probe):
    generator = np.random.default_rng(0)
    targets = generator.random((200, 3))
    mixing = generator.normal(size=(3, 8))
    features = targets @ mixing  # an invertible linear image of the targets: R2 1
    assert probe.ridge_probe(features[:150], targets[:150], features[150:], targets[150:]) == pytest.approx(
        1.0, abs=1e-4
    )
    noise = generator.normal(size=(200, 8))  # features unrelated to the targets: R2 about 0 or below
    assert probe.ridge_probe(noise[:150], targets[:150], noise[150:], targets[150:]) < 0.1


@pytest.mark.shared_data
def test_probe_runs_on_a_small_synthetic_problem(shared_data, probe, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EOSPEC_SHARED_DATA", str(shared_data))
    out = tmp_path / "probe.json"
    argv = ["--config", str(CONTRASTIVE_RECIPES / "synthetic.yaml"), "--seeds", "1", "--pretrain-epochs", "1"]
    argv += ["--set", "data.n_pixels=300", "--set", "data.n_train=100", "--set", "data.n_val=50"]
    argv += ["--set", "train.max_epochs=1", "--pretrain", "rnc=loss_form:rnc,temperature:2", "--out", str(out)]
    assert probe.main(argv) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [row["extractor"] for row in rows] == ["spectra (no extractor)", "random", "baseline", "rnc"]
    assert rows[3]["task"]["pretrain_epochs"] == 1 and rows[3]["task"]["loss_form"] == "rnc"
    assert all(np.isfinite(row["probe_R2"]) and row["probe_R2"] <= 1.0 for row in rows)
    assert all(row["feature_norm"] > 0 and 0.0 <= row["dead_features"] <= 1.0 for row in rows[1:])
    table = capsys.readouterr().out.splitlines()
    spectra_row = next(line for line in table if line.startswith("| spectra (no extractor) |"))
    assert spectra_row.endswith("| - | - |") and f"{rows[0]['probe_R2']:.3f} +/- 0.000" in spectra_row
    with pytest.raises(SystemExit) as exit_info:
        probe.main([*argv[:2], "--pretrain", "rnc"])
    assert exit_info.value.code == 2

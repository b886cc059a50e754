"""Cosine similarity of extractor features at initialisation (recipes/contrastive/feature_similarity.py)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from conftest import CONTRASTIVE_RECIPES


@pytest.fixture
def similarity(contrastive_recipe) -> ModuleType:
    return contrastive_recipe("feature_similarity")


def test_pairwise_cosine_matches_a_loop_over_pairs(similarity):
    features = np.random.default_rng(0).normal(size=(7, 5))
    values = [
        features[i] @ features[j] / (np.linalg.norm(features[i]) * np.linalg.norm(features[j]))
        for i in range(7)
        for j in range(7)
        if i != j
    ]
    mean, std = similarity.pairwise_cosine(features)
    assert mean == pytest.approx(np.mean(values), abs=1e-12)
    assert std == pytest.approx(np.std(values), abs=1e-12)


def test_pairwise_cosine_of_parallel_and_opposite_vectors(similarity):
    direction = np.array([1.0, -2.0, 0.5])
    assert similarity.pairwise_cosine(np.outer([1.0, 3.0, 0.1], direction)) == pytest.approx((1.0, 0.0))
    # one pair, two ordered pairs, both -1
    assert similarity.pairwise_cosine(np.stack([direction, -2 * direction])) == pytest.approx((-1.0, 0.0))


def test_pairwise_cosine_rejects_bad_input(similarity):
    with pytest.raises(ValueError, match=r"features of shape \(3,\) are invalid: give an \(N, D\) array with N >= 2"):
        similarity.pairwise_cosine(np.ones(3))
    with pytest.raises(ValueError, match="1 feature vectors are zero"):
        similarity.pairwise_cosine(np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]]))


def correlated_spectra(n: int = 64, bands: int = 40) -> np.ndarray:
    """Bright, strongly correlated spectra (a common shape times a brightness, plus small noise), as soils."""
    generator = np.random.default_rng(1)
    shape = np.linspace(0.2, 0.5, bands)
    brightness = generator.uniform(0.8, 1.2, size=(n, 1))
    return (brightness * shape + 0.01 * generator.normal(size=(n, bands))).astype(np.float32)


def test_standardisation_spreads_the_features_of_correlated_spectra(similarity):
    spectra = correlated_spectra()
    raw = [similarity.initial_similarity(spectra, seed, standardise=False) for seed in range(2)]
    standardised = [similarity.initial_similarity(spectra, seed, standardise=True) for seed in range(2)]
    for (raw_mean, raw_std), (std_mean, std_std) in zip(raw, standardised, strict=True):
        assert raw_mean > 0.95 and raw_std < 0.05
        assert std_mean < raw_mean - 0.05 and std_std > 2 * raw_std
    # same seed, same extractor, same numbers
    assert similarity.initial_similarity(spectra, 0, standardise=False) == pytest.approx(raw[0], abs=1e-12)


def test_standardised_similarity_ignores_the_unit_of_the_spectra(similarity):
    spectra = correlated_spectra()
    # percent reflectance plus an offset: the same spectra after per-band standardisation
    assert similarity.initial_similarity(100 * spectra + 3, 0, standardise=True) == pytest.approx(
        similarity.initial_similarity(spectra, 0, standardise=True), abs=1e-4
    )


def test_command_line_rejects_bad_options(similarity, capsys, tmp_path):
    with pytest.raises(SystemExit) as error:
        similarity.main(["--config", str(CONTRASTIVE_RECIPES / "soil.yaml"), "--seeds", "0"])
    assert error.value.code == 2
    assert "--seeds 0 is invalid: use 1 or more initialisations" in capsys.readouterr().err
    with pytest.raises(SystemExit) as error:
        similarity.main(["--config", str(tmp_path / "missing.yaml")])
    assert error.value.code == 2
    assert "missing.yaml' does not exist" in capsys.readouterr().err


def test_command_line_table_on_the_synthetic_config(similarity, shared_data, capsys):
    assert similarity.main(["--config", str(CONTRASTIVE_RECIPES / "synthetic.yaml"), "--seeds", "1"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:2] == ["synthetic.yaml", "500 x 224"]
    raw_mean, standardised_mean = (float(cell.split(" +/- ")[0]) for cell in cells[2:])
    assert raw_mean > 0.95 and standardised_mean < raw_mean - 0.1

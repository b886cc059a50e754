"""Tests of eospec.models.spectral.SpectralRegressor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eospec.models.spectral import SpectralRegressor

N_BANDS = 12


def _model(hidden: tuple[int, ...], transform: str, snv: bool, seed: int = 0) -> SpectralRegressor:
    torch.manual_seed(seed)
    model = SpectralRegressor(N_BANDS, hidden, 2, transform, snv)  # type: ignore[arg-type]
    with torch.no_grad():
        model.input_mean.uniform_(-0.5, 0.5)
        model.input_scale.uniform_(0.5, 2.0)
    return model.eval()


def _reflectance(n: int = 16, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, N_BANDS, generator=generator, dtype=torch.float32) * 0.6 + 0.02


@pytest.mark.parametrize("hidden", [(), (8,), (8, 4)])
@pytest.mark.parametrize("transform", ["reflectance", "absorbance"])
@pytest.mark.parametrize("snv", [False, True])
def test_forward_band_major_matches_forward(hidden, transform, snv):
    model = _model(hidden, transform, snv)
    x = _reflectance()
    with torch.no_grad():
        pixel_major = model(x)
        band_major = model.forward_band_major(x.T.contiguous())
    assert pixel_major.shape == (16, 2)
    assert band_major.shape == (2, 16)
    torch.testing.assert_close(band_major.T, pixel_major, rtol=1e-5, atol=1e-5)


def test_folded_first_layer_equals_manual_standardisation():
    model = _model((8,), "reflectance", False)
    x = _reflectance()
    weight, bias = model.folded_first_layer()
    first = model.layers[0]
    with torch.no_grad():
        manual = first((x - model.input_mean) / model.input_scale)
        folded = x @ weight.T + bias
    assert weight.shape == (8, N_BANDS)
    assert bias.shape == (8,)
    torch.testing.assert_close(folded, manual, rtol=1e-5, atol=1e-5)


def test_forward_band_major_with_given_first_layer():
    # A first layer that folds a scale of 10,000 (digital numbers) into the folded weight.
    model = _model((8,), "reflectance", False)
    x = _reflectance()
    weight, bias = model.folded_first_layer()
    with torch.no_grad():
        expected = model(x)
        scaled = model.forward_band_major((x * 10_000).T.contiguous(), weight / 10_000, bias)
    torch.testing.assert_close(scaled.T, expected, rtol=1e-4, atol=1e-4)


def _features_model(transform: str, snv: bool) -> SpectralRegressor:
    """A model whose output is its features: identity layer, zero mean, unit scale."""
    model = SpectralRegressor(N_BANDS, (), N_BANDS, transform, snv)  # type: ignore[arg-type]
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.eye(N_BANDS))
        model.layers[0].bias.zero_()
    return model.double().eval()


@pytest.mark.parametrize("transform", ["reflectance", "absorbance"])
@pytest.mark.parametrize("snv", [False, True])
def test_transform_and_snv_match_numpy(transform, snv):
    reflectance = _reflectance().double().numpy()
    reflectance[0, 0] = 0.0  # clipped at 1e-4 for the absorbance
    expected = reflectance.copy()
    if transform == "absorbance":
        expected = np.log10(1.0 / np.clip(expected, 1e-4, None))
    if snv:
        expected = (expected - expected.mean(axis=1, keepdims=True)) / expected.std(axis=1, ddof=1, keepdims=True)
    with torch.no_grad():
        got = _features_model(transform, snv)(torch.from_numpy(reflectance)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    if transform == "absorbance" and not snv:
        assert got[0, 0] == pytest.approx(4.0)


def test_snv_spectra_have_zero_mean_unit_std():
    with torch.no_grad():
        got = _features_model("absorbance", True)(_reflectance().double()).numpy()
    np.testing.assert_allclose(got.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(got.std(axis=1, ddof=1), 1.0, rtol=1e-12)


def test_bad_transform_raises():
    with pytest.raises(ValueError, match="Invalid transform: 'log'"):
        SpectralRegressor(N_BANDS, transform="log")  # type: ignore[arg-type]


def test_non_positive_size_raises():
    with pytest.raises(ValueError, match="positive"):
        SpectralRegressor(N_BANDS, hidden=(0,))


def test_linear_model_has_one_layer():
    model = SpectralRegressor(N_BANDS)
    assert len(model.layers) == 1
    assert model.n_bands == N_BANDS
    assert set(model.state_dict()) == {"input_mean", "input_scale", "layers.0.weight", "layers.0.bias"}

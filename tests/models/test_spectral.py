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


def _epo(n_components: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A calibration mean absorbance (B,) and orthonormal EPO directions (B, g) fitted by chemotools."""
    from chemotools.projection import ExternalParameterOrthogonalization

    rng = np.random.default_rng(seed)
    dry = rng.uniform(0.2, 1.2, (30, N_BANDS))
    wet = dry + rng.uniform(0.05, 0.3, (30, 1)) * np.linspace(0.5, 1.5, N_BANDS)  # a moisture-like offset
    scans = np.concatenate([dry, wet])
    epo = ExternalParameterOrthogonalization(n_components=n_components)
    epo.fit(dry, X_external=scans, sample_ids=np.tile(np.arange(30), 2))
    return epo.mean_X_, epo.V_epo_


@pytest.mark.parametrize("snv", [False, True])
def test_epo_step_matches_chemotools(snv):
    from chemotools.projection import ExternalParameterOrthogonalization

    mean, basis = _epo(2)
    model = _features_model("absorbance", snv)
    epo_model = SpectralRegressor(N_BANDS, (), N_BANDS, "absorbance", snv, epo_components=2)
    epo_model.load_state_dict(
        {**model.state_dict(), "epo_mean": torch.zeros(N_BANDS), "epo_basis": torch.zeros(N_BANDS, 2)}
    )
    epo_model = epo_model.double().set_epo(mean, basis).eval()
    reflectance = _reflectance().double().numpy()
    reference = ExternalParameterOrthogonalization(n_components=2)
    reference.mean_X_, reference.V_epo_, reference.n_features_in_ = mean, basis, N_BANDS
    expected = reference.transform(np.log10(1.0 / reflectance))
    if snv:
        expected = (expected - expected.mean(axis=1, keepdims=True)) / expected.std(axis=1, ddof=1, keepdims=True)
    with torch.no_grad():
        got = epo_model(torch.from_numpy(reflectance)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("transform", ["reflectance", "absorbance"])
def test_epo_model_ignores_the_removed_directions(transform):
    # a' = a - (a - m) V V^T is blind to any a + V c: darkening a spectrum along the moisture
    # directions (multiplying R by 10^-(V c)) leaves every prediction unchanged
    mean, basis = _epo(2)
    torch.manual_seed(0)
    model = SpectralRegressor(N_BANDS, (8, 4), 1, transform, True, epo_components=2).double()  # type: ignore[arg-type]
    model.set_epo(mean, basis).eval()
    reflectance = _reflectance().double()
    shift = torch.from_numpy(basis) @ torch.tensor([0.3, -0.2], dtype=torch.float64)
    wet = reflectance * torch.pow(10.0, -shift)
    other = reflectance * torch.pow(10.0, -0.3 * torch.linspace(0, 1, N_BANDS, dtype=torch.float64))
    with torch.no_grad():
        torch.testing.assert_close(model(wet), model(reflectance), rtol=1e-9, atol=1e-9)
        assert (model(other) - model(reflectance)).abs().max() > 1e-3  # other changes still move it
        torch.testing.assert_close(
            model.forward_band_major(wet.T.contiguous()).T, model(reflectance), rtol=1e-9, atol=1e-9
        )


def test_epo_buffers_are_in_the_state_dict():
    model = SpectralRegressor(N_BANDS, (), 1, epo_components=3)
    assert set(model.state_dict()) == {
        "input_mean",
        "input_scale",
        "epo_mean",
        "epo_basis",
        "layers.0.weight",
        "layers.0.bias",
    }
    assert model.state_dict()["epo_basis"].shape == (N_BANDS, 3)


def test_epo_errors_name_the_fix():
    mean, basis = _epo(2)
    with pytest.raises(ValueError, match="epo_components -1 is outside 0-12"):
        SpectralRegressor(N_BANDS, epo_components=-1)
    with pytest.raises(ValueError, match="has no EPO step: build it with epo_components"):
        SpectralRegressor(N_BANDS).set_epo(mean, basis)
    with pytest.raises(ValueError, match=r"pass shapes \(12,\) and \(12, 3\)"):
        SpectralRegressor(N_BANDS, epo_components=3).set_epo(mean, basis)
    with pytest.raises(ValueError, match="not orthonormal"):
        SpectralRegressor(N_BANDS, epo_components=2).set_epo(mean, 2.0 * basis)

"""The NumPy runtime computes the same forward pass as the torch SpectralRegressor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eospec.models.registry import get_model, load_numpy_model, resolve_model
from eospec.models.runtime import NumpySpectralRegressor
from eospec.models.spectral import SpectralRegressor


@pytest.mark.parametrize(
    ("transform", "snv", "hidden"),
    [("reflectance", False, ()), ("absorbance", True, (16, 8)), ("reflectance", True, (5,))],
)
def test_matches_torch_module(transform: str, snv: bool, hidden: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    module = SpectralRegressor(12, hidden, 2, transform=transform, snv=snv).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        module.input_mean.uniform_(0.1, 0.3)
        module.input_scale.uniform_(0.05, 0.2)
    runtime = NumpySpectralRegressor.from_state({k: v.numpy() for k, v in module.state_dict().items()}, transform, snv)
    spectra = np.random.default_rng(0).uniform(0.02, 0.6, (12, 300)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(spectra.T)).numpy().T
    np.testing.assert_allclose(runtime.forward_band_major(spectra), expected, rtol=1e-4, atol=1e-5)
    if runtime.is_linear_input:
        weight, bias = runtime.folded_first_layer()
        np.testing.assert_allclose(runtime.forward_band_major(spectra, weight, bias), expected, rtol=1e-4, atol=1e-5)


def test_bundled_soc_model_same_in_numpy_and_torch() -> None:
    metadata, weights = resolve_model("soc")
    runtime = load_numpy_model(metadata, weights)
    module = get_model("soc").module
    spectra = np.random.default_rng(1).uniform(0.05, 0.45, (runtime.input_mean.size, 500)).astype(np.float32)
    spectra = np.sort(spectra, axis=0)  # smooth, rising: soil-like
    with torch.no_grad():
        expected = module(torch.from_numpy(spectra.T)).numpy().T
    np.testing.assert_allclose(runtime.forward_band_major(spectra), expected, rtol=1e-4, atol=1e-3)


def test_incomplete_weights() -> None:
    with pytest.raises(ValueError, match="layers.1.bias"):
        NumpySpectralRegressor.from_state(
            {
                "input_mean": np.zeros(2),
                "input_scale": np.ones(2),
                "layers.0.weight": np.ones((1, 2)),
                "layers.0.bias": np.zeros(1),
                "layers.1.weight": np.ones((1, 1)),
            }
        )


@pytest.mark.parametrize(("transform", "snv"), [("reflectance", True), ("absorbance", False), ("reflectance", False)])
def test_epo_model_matches_torch_module(transform: str, snv: bool) -> None:
    torch.manual_seed(1)
    rng = np.random.default_rng(3)
    module = SpectralRegressor(12, (6,), 1, transform=transform, snv=snv, epo_components=2).eval()  # type: ignore[arg-type]
    module.set_epo(rng.uniform(0.3, 1.0, 12), np.linalg.qr(rng.normal(size=(12, 2)))[0])
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    runtime = NumpySpectralRegressor.from_state(state, transform, snv)
    assert runtime.epo_basis is not None and runtime.epo_basis.shape == (12, 2)
    assert not runtime.is_linear_input  # EPO is nonlinear in reflectance: never folded into the first layer
    spectra = rng.uniform(0.02, 0.6, (12, 300)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(spectra.T)).numpy().T
    np.testing.assert_allclose(runtime.forward_band_major(spectra), expected, rtol=1e-4, atol=1e-4)


def test_half_an_epo_step_is_refused() -> None:
    module = SpectralRegressor(4, (), 1, epo_components=1)
    state = {k: v.numpy() for k, v in module.state_dict().items() if k != "epo_basis"}
    with pytest.raises(ValueError, match="needs both 'epo_mean' and 'epo_basis'"):
        NumpySpectralRegressor.from_state(state)

"""Tests of the per-band standardisation shared by the VAE and the contrastive regressor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eospec.models.standardisation import BandStandardisation


def test_fit_forward_and_inverse_against_numpy():
    spectra = np.random.default_rng(0).random((50, 6)) * [1, 2, 3, 4, 5, 6]
    spectra[:, 2] = 0.25  # a constant band keeps scale 1
    module = BandStandardisation(6)
    x = torch.from_numpy(spectra.astype(np.float32))
    torch.testing.assert_close(module(x), x)  # the identity before fitting
    assert module.fit(torch.from_numpy(spectra)) is module and bool(module.fitted)
    expected_scale = spectra.std(0)
    expected_scale[2] = 1.0
    np.testing.assert_allclose(module(x).numpy(), (spectra - spectra.mean(0)) / expected_scale, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(module(x).numpy().mean(0), 0.0, atol=1e-6)
    torch.testing.assert_close(module.inverse(module(x)), x)


def test_fit_rejects_bad_spectra_and_keeps_the_identity():
    module = BandStandardisation(4)
    with pytest.raises(ValueError, match=r"spectra of shape \(3, 5\) do not fit a model for 4 bands"):
        module.fit(np.ones((3, 5)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        module.fit(np.array([[1.0, np.inf, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    assert not bool(module.fitted) and torch.equal(module.scale, torch.ones(4))

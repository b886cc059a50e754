"""Tests of the spectral VAE modules and of the bundled ``vae_enmap`` encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eospec.errors import UnknownModelError
from eospec.models import registry
from eospec.models.registry import get_model, get_model_metadata, list_models, load_numpy_model, resolve_model
from eospec.models.vae import (
    SpectralConverter,
    SpectralDecoder,
    SpectralEncoder,
    SpectralVAE,
    kl_divergence,
    latent_columns,
)


def _spectra(n: int, bands: int, seed: int = 0) -> torch.Tensor:
    generator = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, bands)
    values = 0.15 + 0.3 * generator.random((n, 1)) + 0.05 * np.sin(7 * grid[None, :] * (1 + generator.random((n, 1))))
    return torch.from_numpy(values.astype(np.float32))


@pytest.mark.parametrize("kind", ["fc", "conv"])
@pytest.mark.parametrize("bands", [7, 50, 202])
def test_shapes(kind: str, bands: int) -> None:
    vae = SpectralVAE(bands, latent_dim=6, kind=kind, hidden=(16,), channels=(4, 8))  # type: ignore[arg-type]
    x = _spectra(5, bands)
    vae.fit_normalisation(x)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 6)
    assert vae.decode(mu).shape == (5, bands)
    reconstruction, mu2, _ = vae(x)
    assert reconstruction.shape == (5, bands)
    torch.testing.assert_close(vae.eval()(x)[1], mu2)
    assert vae.embed(x.numpy()).shape == (5, 6)
    assert vae.reconstruct(x).shape == (5, bands)


def test_normalisation_matches_numpy() -> None:
    x = _spectra(40, 30, seed=1)
    vae = SpectralVAE(30, latent_dim=4, hidden=(8,), transform="absorbance")
    assert not vae.is_normalised
    vae.fit_normalisation(x)
    assert vae.is_normalised
    absorbance = -np.log10(x.numpy().astype(np.float64))
    np.testing.assert_allclose(vae.encoder.normalisation.mean.numpy(), absorbance.mean(0), rtol=1e-5)
    np.testing.assert_allclose(vae.encoder.normalisation.scale.numpy(), absorbance.std(0), rtol=1e-5)
    expected = (absorbance - absorbance.mean(0)) / absorbance.std(0)
    np.testing.assert_allclose(vae.features(x).numpy(), expected, rtol=1e-4, atol=1e-4)
    # The decoder shares the normalisation and inverts it: features -> reflectance.
    back = vae.decoder.normalisation.destandardise(vae.features(x))
    np.testing.assert_allclose(back.numpy(), x.numpy(), rtol=1e-4)


def test_decode_is_in_input_quantity() -> None:
    x = _spectra(20, 12)
    vae = SpectralVAE(12, latent_dim=3, hidden=(8,), transform="absorbance")
    vae.fit_normalisation(x)
    with torch.no_grad():
        features = vae.decoder.decode_features(torch.zeros(2, 3))
        decoded = vae.decode(torch.zeros(2, 3))
    scale, mean = vae.decoder.normalisation.scale, vae.decoder.normalisation.mean
    torch.testing.assert_close(decoded, torch.pow(10.0, -(features * scale + mean)))


def test_architecture_round_trip() -> None:
    for kind in ("fc", "conv"):
        vae = SpectralVAE(33, latent_dim=5, kind=kind, hidden=(12, 6), channels=(3, 5), activation="relu")  # type: ignore[arg-type]
        vae.fit_normalisation(_spectra(10, 33))
        architecture = vae.architecture()
        assert architecture["type"] == "spectral_vae" and architecture["latent_dim"] == 5
        copy = SpectralVAE.from_architecture(architecture, 33)
        copy.load_state_dict(vae.state_dict())
        x = _spectra(4, 33, seed=3)
        torch.testing.assert_close(copy.eval().embed(x), vae.eval().embed(x))
        torch.testing.assert_close(copy.reconstruct(x), vae.reconstruct(x))


def test_kl_divergence_matches_torch_distributions() -> None:
    mu = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    logvar = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(dim=1)
    torch.testing.assert_close(kl_divergence(mu, logvar), expected)


def test_reparameterize_statistics() -> None:
    torch.manual_seed(0)
    mu = torch.full((20000, 2), 1.5)
    logvar = torch.log(torch.full((20000, 2), 0.25))
    z = SpectralVAE.reparameterize(mu, logvar)
    assert abs(float(z.mean()) - 1.5) < 0.02
    assert abs(float(z.std()) - 0.5) < 0.02


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "lstm"}, "kind 'lstm' is unknown"),
        ({"activation": "swish"}, "activation 'swish' is unknown"),
        ({"quantity": "absorbance", "transform": "absorbance"}, "use transform='none'"),
        ({"hidden": (0,)}, "hidden"),
        ({"kind": "conv", "kernel_size": 4}, "kernel_size 4"),
    ],
)
def test_invalid_options(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpectralVAE(20, latent_dim=3, **kwargs)


def test_wrong_input_shape() -> None:
    vae = SpectralVAE(20, latent_dim=3, hidden=(8,))
    with pytest.raises(ValueError, match=r"pass \(N, 20\)"):
        vae.encode(torch.zeros(4, 21))
    with pytest.raises(ValueError, match=r"pass \(N, 3\)"):
        vae.decode(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        vae.fit_normalisation(np.full((3, 20), np.nan))


def test_converter_plugs_encoder_into_decoder() -> None:
    low = SpectralEncoder(10, latent_dim=4, hidden=(8,))
    high = SpectralDecoder(30, latent_dim=4, hidden=(8,))
    converter = SpectralConverter(low, high)
    x = _spectra(3, 10)
    with torch.no_grad():
        expected = high(low(x)[0])
    torch.testing.assert_close(converter.convert(x.numpy()), expected)
    copy = SpectralConverter.from_architecture(converter.architecture(), 10, 30)
    copy.load_state_dict(converter.state_dict())
    torch.testing.assert_close(copy.convert(x), expected)
    with pytest.raises(ValueError, match="latent_dim"):
        SpectralConverter(low, SpectralDecoder(30, latent_dim=5, hidden=(8,)))


def test_latent_columns() -> None:
    assert latent_columns(3) == ["z_1", "z_2", "z_3"]
    assert latent_columns(32, "band")[:2] == ["z01", "z02"] and latent_columns(32, "band")[-1] == "z32"
    assert latent_columns(128, "band")[0] == "z001"


# ----------------------------------------------------------------------------------------------
# The bundled encoder


def test_registry_lists_both_models() -> None:
    names = list_models()
    assert {"soc", "vae_enmap"} <= set(names)
    assert "vae_enmap" in list_models("embedding") and "soc" not in list_models("embedding")
    assert "soc" in list_models("property") and "vae_enmap" not in list_models("property")


def test_vae_enmap_metadata() -> None:
    metadata = get_model_metadata("vae_enmap")
    assert metadata["task"] == "embedding" and metadata["kind"] == "spectral"
    assert metadata["latent_dim"] == 32 and metadata["architecture"]["type"] == "spectral_vae"
    assert len(metadata["band_wavelengths_nm"]) == len(metadata["band_fwhm_nm"]) == 202
    assert metadata["weights"] == "vae_enmap.safetensors"
    assert metadata["recipe"].startswith("python recipes/train_vae_encoder.py")
    for entry in metadata["training_data"]:
        assert {"name", "n", "licence", "source"} <= set(entry)
    held_out = metadata["reconstruction"]["held_out"]
    assert held_out["n"] > 100 and 0 < held_out["rmse"] < 0.05
    assert "pca32" in metadata["reconstruction"]
    weights = Path(str(registry._weights_folder())) / metadata["weights"]
    assert weights.stat().st_size < 5 * 1024 * 1024


def test_get_model_returns_the_vae() -> None:
    model = get_model("vae_enmap")
    assert isinstance(model.module, SpectralVAE)
    assert not model.module.training and model.module.is_normalised
    assert model.module.n_bands == 202 and model.module.latent_dim == 32
    x = _spectra(8, 202, seed=4)
    embedding = model.module.embed(x)
    assert embedding.shape == (8, 32) and torch.isfinite(embedding).all()


def test_numpy_runtime_refuses_an_encoder() -> None:
    metadata, weights = resolve_model("vae_enmap")
    with pytest.raises(UnknownModelError, match="embedding encoder"):
        load_numpy_model(metadata, weights)


@pytest.mark.shared_data
def test_held_out_reconstruction_matches_metadata(shared_data: Path) -> None:
    """The bundled weights reproduce the recorded held-out RMSE of LimeSoDa fold 10 (recomputed here)."""
    pytest.importorskip("LimeSoDa")
    from eospec.embedding import spectra_at_bands
    from eospec.libraries import read_limesoda

    metadata = get_model_metadata("vae_enmap")
    centres, fwhm = np.asarray(metadata["band_wavelengths_nm"]), np.asarray(metadata["band_fwhm_nm"])
    vae = get_model("vae_enmap").module
    assert isinstance(vae, SpectralVAE)
    name = "LimeSoDa CV.98"
    library = read_limesoda("CV.98")
    fold10 = library.subset(library.meta["fold"].to_numpy() == 10)
    x = spectra_at_bands(fold10, centres, fwhm).astype(np.float32)
    rmse = float(np.sqrt(np.mean((vae.reconstruct(x).numpy() - x) ** 2)))
    recorded = metadata["reconstruction"]["held_out"]["per_dataset"][name]
    assert recorded["n"] == len(x)
    assert rmse == pytest.approx(recorded["rmse"], rel=1e-3, abs=2e-6)

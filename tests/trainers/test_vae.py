"""Tests of VAE pretraining (VAETask) and multi-fidelity encoder training (MultiFidelityTask)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import one_thread, quiet_trainer

import eospec  # noqa: F401  (installs the torchvision fallback before lightning is imported)
from eospec.models.vae import SpectralVAE
from eospec.trainers.vae import (
    MultiFidelityTask,
    PairedSpectraDataModule,
    RepeatSpectraDataset,
    VAEDataModule,
    VAETask,
    train_converter,
    train_vae,
)

pl = pytest.importorskip("lightning.pytorch")

BANDS = 24
WAVELENGTHS = list(np.linspace(450.0, 2400.0, BANDS))


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread(ignore=(".*(treespec|eval mode|num_workers|does not have many workers).*",)):
        yield


def _spectra(n: int, bands: int = BANDS, seed: int = 0) -> np.ndarray:
    generator = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, bands)
    level = 0.15 + 0.3 * generator.random((n, 1))
    shape = 0.05 * np.sin(6 * grid[None, :] * (1 + generator.random((n, 1))))
    return (level + shape).astype(np.float32)


class _Recorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []
        self.kl_weights: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))
        if isinstance(pl_module, VAETask):
            self.kl_weights.append(pl_module.kl_weight(batch_idx))


def _trainer(**kwargs) -> pl.Trainer:
    return quiet_trainer(**({"num_sanity_val_steps": 0} | kwargs))


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("fc", {}),
        ("fc", {"noise_std": 0.002, "consistency_weight": 1.0}),
        ("fc", {"augmentations": ["spectral_shift"], "wavelengths_nm": WAVELENGTHS, "model_kwargs": {"hidden": (32,)}}),
        ("conv", {"model_kwargs": {"channels": (4, 8), "hidden": (16,), "transform": "absorbance"}}),
    ],
)
def test_loss_decreases_on_a_fixed_batch(model: str, options: dict) -> None:
    pl.seed_everything(0, verbose=False)
    x = _spectra(32)
    ids = np.repeat(np.arange(16), 2)  # pairs of scan repeats
    data = VAEDataModule((x, ids), batch_size=32)  # one batch of the same 32 spectra every step
    task = VAETask(model=model, in_bands=BANDS, latent_dim=4, beta=1e-3, lr=3e-3, **options)
    recorder = _Recorder()
    _trainer(max_epochs=40, limit_val_batches=0, callbacks=[recorder]).fit(task, datamodule=data)
    first, last = np.mean(recorder.losses[:3]), np.mean(recorder.losses[-3:])
    assert last < 0.5 * first, (first, last)


def test_normalisation_is_fitted_on_the_training_spectra() -> None:
    x = _spectra(20)
    task = VAETask(in_bands=BANDS, latent_dim=3, model_kwargs={"hidden": (8,)})
    _trainer(max_epochs=1, limit_val_batches=0).fit(task, datamodule=VAEDataModule(x, batch_size=10))
    np.testing.assert_allclose(task.model.encoder.normalisation.mean.numpy(), x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(task.model.encoder.normalisation.scale.numpy(), x.std(0), rtol=1e-4)
    np.testing.assert_array_equal(task.model.decoder.normalisation.mean.numpy(), task.model.encoder.normalisation.mean)


def test_kl_warmup_is_linear_in_steps() -> None:
    pl.seed_everything(0, verbose=False)
    x = _spectra(40)
    task = VAETask(in_bands=BANDS, latent_dim=3, beta=0.2, kl_warmup_epochs=2, model_kwargs={"hidden": (8,)})
    recorder = _Recorder()
    data = VAEDataModule(x, batch_size=10)  # 4 batches per epoch
    _trainer(max_epochs=3, limit_val_batches=0, callbacks=[recorder]).fit(task, datamodule=data)
    expected = [0.2 * min(1.0, step / 8) for step in range(12)]
    np.testing.assert_allclose(recorder.kl_weights, expected, rtol=1e-9)


def test_repeats_give_views_of_the_same_sample() -> None:
    x = np.arange(12, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    ids = np.array(["a", "b", "a", "c", "b", "a", "d", "d", "e", "f", "f", "g"])
    dataset = RepeatSpectraDataset(x, ids, seed=1)
    assert dataset.n_with_repeats == 9
    for _ in range(5):
        for index in range(len(dataset)):
            item = dataset[index]
            other = int(item["view"][0])
            assert ids[other] == ids[index]
            if ids[index] in ("c", "e", "g"):
                assert other == index
    draws = {int(dataset[0]["view"][0]) for _ in range(50)}
    assert draws == {0, 2, 5}
    with pytest.raises(ValueError, match="sample_ids must have shape"):
        RepeatSpectraDataset(x, ids[:5])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "rnn"}, "model 'rnn' is unknown"),
        ({"optimizer": "sgd"}, "optimizer 'sgd' is unknown"),
        ({"beta": -1.0}, "beta -1.0 is invalid"),
        ({"kl_warmup_epochs": -2}, "kl_warmup_epochs -2"),
        ({"noise_std": [0.1, 0.2]}, "noise_std"),
        ({"augmentation_mode": "all"}, "augmentation_mode 'all'"),
        ({"augmentations": ["nope"]}, "augmentation 'nope' is unknown"),
    ],
)
def test_vae_task_rejects_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VAETask(in_bands=BANDS, **kwargs)


def _high_fidelity(bands: int = 30) -> tuple[SpectralVAE, np.ndarray]:
    target = _spectra(48, bands, seed=2)
    vae = train_vae(target, epochs=40, batch_size=16, latent_dim=4, lr=3e-3, model_kwargs={"hidden": (16,)})
    return vae, target


def test_multifidelity_freezes_the_decoder() -> None:
    pl.seed_everything(0, verbose=False)
    vae, target = _high_fidelity()
    source = target[:, 10:20]  # the "low-fidelity" part of each spectrum
    decoder_before = {k: v.clone() for k, v in vae.decoder.state_dict().items()}
    encoder_before = {k: v.clone() for k, v in vae.encoder.state_dict().items()}
    task = MultiFidelityTask(vae, in_bands=10, model_kwargs={"hidden": (16,)}, latent_weight=0.5, lr=3e-3)
    assert all(not p.requires_grad for p in task.decoder.parameters())
    optimised = {id(p) for group in task.configure_optimizers().param_groups for p in group["params"]}  # type: ignore[union-attr]
    assert optimised == {id(p) for p in task.encoder.parameters()}
    low_before = {k: v.clone() for k, v in task.encoder.state_dict().items()}
    recorder = _Recorder()
    data = PairedSpectraDataModule((source, target), batch_size=48)
    _trainer(max_epochs=30, limit_val_batches=0, callbacks=[recorder]).fit(task, datamodule=data)
    for key, value in vae.decoder.state_dict().items():
        assert torch.equal(value, decoder_before[key]), key
    for key, value in vae.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[key]), key
    assert any(not torch.equal(v, low_before[k]) for k, v in task.encoder.state_dict().items() if "weight" in k)
    assert not task.decoder.training and not task.target_encoder.training
    assert np.mean(recorder.losses[-3:]) < 0.5 * np.mean(recorder.losses[:3])
    # The new encoder's normalisation was fitted on the low-fidelity training spectra.
    np.testing.assert_allclose(task.encoder.normalisation.mean.numpy(), source.mean(0), rtol=1e-5)
    converted = task.model.convert(source)
    assert converted.shape == target.shape


def test_train_converter_returns_a_converter() -> None:
    vae, target = _high_fidelity()
    converter = train_converter(vae, target[:, :12], target, epochs=3, model_kwargs={"hidden": (8,)})
    assert not converter.training
    assert converter.convert(target[:4, :12]).shape == (4, 30)


def test_multifidelity_rejects_bad_options() -> None:
    vae, _ = _high_fidelity()
    with pytest.raises(ValueError, match="both 0"):
        MultiFidelityTask(vae, in_bands=5, reconstruction_weight=0.0, latent_weight=0.0)
    with pytest.raises(ValueError, match="no input normalisation"):
        MultiFidelityTask(SpectralVAE(30, latent_dim=4, hidden=(8,)), in_bands=5)
    with pytest.raises(ValueError, match="model 'big' is unknown"):
        MultiFidelityTask(vae, in_bands=5, model="big")
    with pytest.raises(ValueError, match="pass the pairs in the same order"):
        PairedSpectraDataModule((np.zeros((3, 5)), np.zeros((4, 30))))
    with pytest.raises(ValueError, match="NaN"):
        train_vae(np.full((4, 5), np.nan), epochs=1)

"""Tests of the MAE pretraining task on tiny Spec. ViT configurations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_thread, quiet_trainer

import eospec  # noqa: F401
from eospec.trainers.mae import MAETask, patchify, random_masking, unpatchify

pl = pytest.importorskip("lightning.pytorch")

ROOT = Path(__file__).resolve().parents[1] / "data" / "spectral_earth"
TINY = {"embed_dim": 32, "depth": 1, "num_heads": 2, "img_size": 16}


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


def _task(**kwargs) -> MAETask:
    settings = {"model_kwargs": TINY, "decoder_dim": 32, "decoder_num_heads": 2, "mask_ratio": 0.5, "lr": 3e-3}
    return MAETask(**(settings | kwargs))


def test_patchify_layout_and_round_trip():
    x = torch.rand(2, 5, 8, 12)
    tokens = patchify(x, 4)
    assert tokens.shape == (2, 6, 4 * 4 * 5)
    # token (row 1, col 2) = pixels rows 4-7, columns 8-11; element (i * p + j) * C + c
    token = tokens[1, 1 * 3 + 2].reshape(4, 4, 5)
    torch.testing.assert_close(token, x[1, :, 4:8, 8:12].permute(1, 2, 0))
    torch.testing.assert_close(unpatchify(tokens, 4, 5, (2, 3)), x)


def test_random_masking_counts():
    keep, masked = random_masking(3, 16, 0.75)
    assert keep.shape == (3, 4) and masked.sum(dim=1).tolist() == [12, 12, 12]
    assert not masked.gather(1, keep).any()
    assert random_masking(1, 4, 0.99)[0].shape == (1, 1)


def test_loss_is_masked_mse_in_reflectance_units():
    torch.manual_seed(0)
    generator = np.random.default_rng(0)
    mean = generator.uniform(0.05, 0.3, 202)
    std = generator.uniform(0.02, 0.1, 202)
    task = _task(band_mean=mean.tolist(), band_std=std.tolist())
    x = torch.rand(2, 202, 16, 16) * 0.4
    valid = torch.ones(2, 16, 16, dtype=torch.bool)
    valid[1, :4, :] = False
    torch.manual_seed(5)
    loss, count = task.reconstruction_loss(x, valid)
    torch.manual_seed(5)
    prediction, masked = task.reconstruct(x)
    # independent computation: decoder output de-standardised = prediction; squared error on masked tokens
    predicted = unpatchify(prediction.detach(), 4, 202, (4, 4)).numpy()
    token_mask = masked.reshape(2, 4, 4).repeat_interleave(4, 1).repeat_interleave(4, 2).numpy()
    use = token_mask & valid.numpy()
    errors = ((predicted - x.numpy()) ** 2).transpose(0, 2, 3, 1)[use]
    assert count == errors.size
    assert loss.item() == pytest.approx(float(errors.mean()), rel=1e-5)
    # the decoder predicts standardised values: raw output * std + mean is reflectance
    raw = task.decoder(
        task.encode_visible(x, torch.arange(16)[None].expand(2, -1)), torch.arange(16)[None].expand(2, -1), 16
    )
    torch.testing.assert_close(
        task._to_reflectance(raw), raw * torch.tensor(std).float().repeat(16) + torch.tensor(mean).float().repeat(16)
    )


def test_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    task = _task()
    optimizer = torch.optim.AdamW(task.parameters(), lr=3e-3)
    x = torch.rand(4, 202, 16, 16) * 0.3
    losses = []
    for _ in range(12):
        torch.manual_seed(1)  # the same mask every step
        loss, _ = task.reconstruction_loss(x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_trains_and_validates_with_the_data_module():
    from eospec.datasets.spectral_earth import SpectralEarthDataModule

    pl.seed_everything(0, verbose=False)
    data = SpectralEarthDataModule(batch_size=2, root=ROOT, val_fraction=0.34, test_fraction=0.0)
    task = _task(norm_pix_loss=False)
    trainer = quiet_trainer(
        max_steps=2,
        num_sanity_val_steps=0,
    )
    trainer.fit(task, datamodule=data)
    metrics = trainer.callback_metrics
    assert torch.isfinite(metrics["train_loss"]) and torch.isfinite(metrics["val_rmse"])
    assert float(metrics["val_rmse"]) == pytest.approx(float(metrics["val_loss"]) ** 0.5, rel=1e-4)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="'spec_resnet50' is not a ViT"):
        MAETask(model="spec_resnet50")
    with pytest.raises(ValueError, match="mask_ratio 1.0 is invalid"):
        _task(mask_ratio=1.0)
    with pytest.raises(ValueError, match="3 band means do not match in_channels=202"):
        _task(band_mean=[0.1, 0.2, 0.3], band_std=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="images have 150 bands"):
        _task().reconstruct(torch.rand(1, 150, 16, 16))

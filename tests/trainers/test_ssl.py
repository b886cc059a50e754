"""Tests of MoCo and SimCLR (TorchGeo tasks) on SpectralEarth encoders fed two-date views."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import one_thread, quiet_trainer
from torch.utils.data import default_collate

import eospec  # noqa: F401
from eospec.datasets.spectral_earth import SpectralEarth, SpectralEarthDataModule
from eospec.trainers.ssl import SpectralMoCoTask, SpectralSimCLRTask, spectral_augmentations, two_view_batch

pl = pytest.importorskip("lightning.pytorch")

ROOT = Path(__file__).resolve().parents[1] / "data" / "spectral_earth"


@pytest.fixture(autouse=True)
def _quiet():
    with one_thread(ignore=("MoCo v2 uses a memory bank",)):
        yield


def _batch() -> dict:
    torch.manual_seed(0)
    dataset = SpectralEarth(ROOT, split="all", views=2)
    return default_collate([dataset[i] for i in range(len(dataset))])


def test_two_view_batch_stacks_views_on_the_channel_axis():
    batch = {"image1": torch.zeros(2, 202, 4, 4), "image2": torch.ones(2, 202, 4, 4), "patch_id": ["a", "b"]}
    image = two_view_batch(batch)["image"]
    assert image.shape == (2, 404, 4, 4)
    assert torch.all(image[:, :202] == 0) and torch.all(image[:, 202:] == 1)
    one = {"image": torch.zeros(1, 202, 4, 4)}
    assert two_view_batch(one) is one


def test_moco_builds_a_frozen_momentum_copy_of_the_spectral_encoder():
    mean, std = [0.1] * 202, [0.05] * 202
    task = SpectralMoCoTask(model="spec_resnet18", size=16, hidden_dim=32, output_dim=16, band_mean=mean, band_std=std)
    for key, value in task.backbone.state_dict().items():
        assert torch.equal(value, task.backbone_momentum.state_dict()[key])
    assert not any(p.requires_grad for p in task.backbone_momentum.parameters())
    assert task.backbone.arch == "spec_resnet18" and task.backbone.input_mean is not None
    assert torch.equal(task.backbone_momentum.input_std, task.backbone.input_std)
    with pytest.raises(ValueError, match="give both band_mean and band_std"):
        SpectralMoCoTask(model="spec_resnet18", band_mean=mean)


@pytest.mark.parametrize(
    ("task_class", "kwargs"),
    [
        (
            SpectralMoCoTask,
            {
                "memory_bank_size": 0,
                "moco_momentum": 0.9,
                "augmentation1": torch.nn.Identity(),
                "augmentation2": torch.nn.Identity(),
            },
        ),
        (SpectralSimCLRTask, {"augmentations": torch.nn.Identity()}),
    ],
)
def test_loss_decreases_on_a_fixed_two_date_batch(task_class, kwargs):
    batch = _batch()
    torch.manual_seed(0)
    task = task_class(model="spec_resnet18", size=16, hidden_dim=32, output_dim=16, **kwargs)
    task.log = lambda *args, **kw: None
    optimizer = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    losses = []
    for step in range(8):
        loss = task.training_step(batch, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < 0.6 * losses[0]


def test_fits_on_two_date_views_with_the_default_spectral_augmentations():
    pl.seed_everything(0, verbose=False)
    data = SpectralEarthDataModule(batch_size=3, root=ROOT, views=2, val_fraction=0.0, test_fraction=0.0)
    task = SpectralSimCLRTask(
        model="spec_vit_small",
        model_kwargs={"embed_dim": 32, "depth": 1, "num_heads": 2, "img_size": 16},
        size=16,
        hidden_dim=32,
        output_dim=16,
    )
    assert isinstance(task.augmentations, type(spectral_augmentations(16)))
    trainer = quiet_trainer(
        max_steps=2,
        limit_val_batches=0,
    )
    trainer.fit(task, datamodule=data)
    assert torch.isfinite(trainer.callback_metrics["train_loss"])
    assert trainer.global_step == 2

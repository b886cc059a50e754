"""Tests of the fine-tuning protocols (linear probe, adapter-only, full) for segmentation and classification."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import one_thread, quiet_trainer
from torch.utils.data import DataLoader, Dataset

import eospec  # noqa: F401
from eospec.models.foundation import get_foundation_model, save_checkpoint
from eospec.trainers.finetune import (
    FCNHead,
    SpectralEarthClassificationTask,
    SpectralEarthSegmentationTask,
    freeze_for_protocol,
)

pl = pytest.importorskip("lightning.pytorch")

# Frozen modules are kept in eval mode on purpose.
pytestmark = pytest.mark.filterwarnings(r"ignore:Found \d+ module\(s\) in eval mode")

TINY_VIT = {"embed_dim": 32, "depth": 1, "num_heads": 2, "img_size": 16}


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


class _Segmentation(Dataset):
    """Two classes told apart by the spectrum: class 1 pixels are brighter beyond band 100."""

    def __init__(self, n: int = 4) -> None:
        generator = torch.Generator().manual_seed(0)
        blocks = torch.randint(0, 2, (n, 4, 4), generator=generator)  # one class per 4 x 4 token
        self.masks = blocks.repeat_interleave(4, 1).repeat_interleave(4, 2)
        base = 0.2 + 0.02 * torch.randn(n, 202, 16, 16, generator=generator)
        base[:, 100:] += 0.15 * self.masks[:, None].float()
        self.images = base

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "mask": self.masks[index]}


def _trainer(steps: int) -> pl.Trainer:
    return quiet_trainer(
        max_steps=steps,
        limit_val_batches=0,
    )


@pytest.mark.parametrize(
    ("protocol", "trainable"),
    [("linear", set()), ("adapter", {"spectral_adapter"}), ("finetune", {"spectral_adapter", "resnet"})],
)
def test_freeze_for_protocol(protocol, trainable):
    encoder = get_foundation_model("spec_resnet18")
    freeze_for_protocol(encoder, protocol)
    groups = {name.split(".")[0] for name, p in encoder.named_parameters() if p.requires_grad}
    assert groups == trainable
    with pytest.raises(ValueError, match="protocol 'probe' is unknown"):
        freeze_for_protocol(encoder, "probe")


@pytest.mark.parametrize("protocol", ["linear", "adapter", "finetune"])
def test_frozen_parts_stay_unchanged_and_loss_decreases(protocol, tmp_path):
    torch.manual_seed(0)
    pretrained = get_foundation_model("spec_vit_small", **TINY_VIT)
    weights = save_checkpoint(pretrained, tmp_path / "pre.safetensors")
    task = SpectralEarthSegmentationTask(
        model="spec_vit_small", weights=str(weights), model_kwargs=TINY_VIT, num_classes=2, protocol=protocol, lr=1e-2
    )
    assert isinstance(task.model.head, FCNHead if protocol == "finetune" else torch.nn.Conv2d)
    before = copy.deepcopy(task.model.encoder.state_dict())
    torch.testing.assert_close(before, pretrained.state_dict())  # weights were loaded
    data = _Segmentation()
    batch = {"image": data.images, "mask": data.masks}
    task.train()
    with torch.no_grad():
        first = task.criterion(task(batch["image"]), batch["mask"]).item()
    trainer = _trainer(6)
    trainer.fit(task, DataLoader(data, batch_size=4))
    task.train()  # as in training: frozen modules must stay in eval mode
    assert all(not module.training for module in task.model.frozen)
    with torch.no_grad():
        last = task.criterion(task(batch["image"]), batch["mask"]).item()
    assert last < first
    after = task.model.encoder.state_dict()
    changed = {key.split(".")[0] for key in before if not torch.equal(before[key], after[key])}
    expected = {"linear": set(), "adapter": {"spectral_adapter"}, "finetune": {"spectral_adapter", "vit_core"}}[
        protocol
    ]
    assert changed == expected  # includes batch-norm running statistics


def test_segmentation_metrics_ignore_unlabelled_pixels():
    task = SpectralEarthSegmentationTask(
        model="spec_vit_small", model_kwargs=TINY_VIT, num_classes=3, protocol="linear", ignore_index=0
    )
    data = _Segmentation()
    masks = data.masks.clone() + 1
    masks[:, :8] = 0  # unlabelled half
    trainer = _trainer(1)
    trainer.fit(task, DataLoader([{"image": data.images[i], "mask": masks[i]} for i in range(4)], batch_size=4))
    logits = task(data.images)
    assert logits.shape == (4, 3, 16, 16)
    loss = task.criterion(logits, masks)
    labelled = masks[masks > 0]
    expected = torch.nn.functional.cross_entropy(logits.permute(0, 2, 3, 1)[masks > 0], labelled)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("task_kind", ["multiclass", "multilabel"])
def test_classification_linear_probe_learns(task_kind):
    torch.manual_seed(0)
    data = _Segmentation(6)
    labels = (data.masks.float().mean(dim=(1, 2)) > 0.5).long()
    target = torch.stack([labels, 1 - labels], dim=1) if task_kind == "multilabel" else labels
    task = SpectralEarthClassificationTask(
        model="spec_resnet18", num_classes=2, task=task_kind, protocol="linear", lr=5e-2
    )
    optimizer = task.configure_optimizers()["optimizer"]
    task.train()
    losses = []
    for _ in range(10):
        loss = task.criterion(task(data.images), target.float() if task_kind == "multilabel" else target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert task.trainable_parameter_count() == 512 * 2 + 2


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="protocol 'frozen' is unknown"):
        SpectralEarthSegmentationTask(model="spec_resnet18", protocol="frozen")
    with pytest.raises(ValueError, match="head 'unet' is unknown"):
        SpectralEarthSegmentationTask(model="spec_resnet18", head="unet")
    with pytest.raises(ValueError, match="num_classes 1 is invalid"):
        SpectralEarthClassificationTask(model="spec_resnet18", num_classes=1)
    with pytest.raises(ValueError, match="task 'regression' is unknown"):
        SpectralEarthClassificationTask(model="spec_resnet18", task="regression")

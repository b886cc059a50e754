"""Tests of the DINO pretraining task on tiny SpectralEarth encoders."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import one_thread, quiet_trainer
from torch.utils.data import default_collate

import eospec  # noqa: F401
from eospec.datasets.spectral_earth import SpectralEarth, SpectralEarthDataModule
from eospec.errors import UnknownModelError
from eospec.models.foundation import get_foundation_model
from eospec.trainers.dino import DINOTask, teacher_temperature

pl = pytest.importorskip("lightning.pytorch")

ROOT = Path(__file__).resolve().parents[1] / "data" / "spectral_earth"
TINY = {"embed_dim": 32, "depth": 1, "num_heads": 2, "img_size": 16}
HEAD = {"hidden_dim": 32, "bottleneck_dim": 16, "output_dim": 64}


@pytest.fixture(autouse=True)
def _quiet():
    with one_thread(ignore=("`torch.nn.utils.weight_norm` is deprecated",)):
        yield


def _task(**kwargs) -> DINOTask:
    settings = {"model": "spec_vit_small", "model_kwargs": TINY, "size": 16} | HEAD
    return DINOTask(**(settings | kwargs))


def _batch() -> dict:
    torch.manual_seed(0)
    dataset = SpectralEarth(ROOT, split="all", views=2)
    return default_collate([dataset[i] for i in range(len(dataset))])


def _data() -> SpectralEarthDataModule:
    return SpectralEarthDataModule(batch_size=3, root=ROOT, views=2, val_fraction=0.0, test_fraction=0.0)


def test_teacher_temperature_warms_up_linearly():
    for epoch in range(8):
        expected = float(np.interp(epoch, [0, 5], [0.04, 0.07]))
        assert teacher_temperature(epoch, 0.04, 0.07, 5) == pytest.approx(expected)
    assert teacher_temperature(0, 0.04, 0.07, 0) == 0.07


def test_teacher_starts_as_a_frozen_copy_of_the_student():
    task = _task(band_mean=[0.1] * 202, band_std=[0.05] * 202)
    for student, teacher in ((task.student_backbone, task.teacher_backbone), (task.student_head, task.teacher_head)):
        student_state, teacher_state = student.state_dict(), teacher.state_dict()
        assert student_state.keys() == teacher_state.keys()
        for key, value in student_state.items():
            assert torch.equal(value, teacher_state[key])
        assert not any(p.requires_grad for p in teacher.parameters())
    assert torch.equal(task.teacher_backbone.input_mean, task.student_backbone.input_mean)
    assert task.encoder is task.teacher_backbone
    # the optimiser only sees the student
    optimizer = task.configure_optimizers()["optimizer"]
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized <= {id(p) for p in task.student_parameters()}
    assert not optimized & {id(p) for p in task.teacher_backbone.parameters()}


def test_loss_and_centre_update_against_the_formulas():
    torch.manual_seed(1)
    task = _task(student_temp=0.2, teacher_temp=0.05, warmup_teacher_temp=0.05, center_momentum=0.8)
    task.eval()  # no dropout; the formulas do not depend on the mode
    centre = torch.randn(1, 1, 64) * 0.1
    task.criterion.center.copy_(centre)
    global_views = [torch.rand(2, 202, 16, 16) * 0.4 for _ in range(2)]
    local_views = [torch.rand(2, 202, 8, 8) * 0.4]
    with torch.no_grad():
        loss, _ = task.dino_loss(global_views, local_views)
        teacher = [task.teacher_head(task.teacher_backbone(v)) for v in global_views]
        student = [task.student_head(task.student_backbone(v)) for v in global_views + local_views]
    # Eqs. 1-3: cross-entropy of every (teacher global view i, student view j != i) pair, batch mean
    terms = []
    for i, t in enumerate(teacher):
        p_teacher = F.softmax((t - centre[0]) / 0.05, dim=-1).numpy().astype(np.float64)
        for j, s in enumerate(student):
            if i != j:
                log_p_student = F.log_softmax(s.double() / 0.2, dim=-1).numpy()
                terms.append(-(p_teacher * log_p_student).sum(axis=-1).mean())
    assert len(terms) == 2 * 3 - 2
    assert loss.item() == pytest.approx(float(np.mean(terms)), rel=1e-5)
    # Eq. 4: c <- m c + (1 - m) mean of the teacher outputs over views and batch
    expected_centre = 0.8 * centre + 0.2 * torch.cat(teacher).mean(dim=0)
    torch.testing.assert_close(task.criterion.center, expected_centre)
    # evaluation leaves the centre alone
    task.dino_loss(global_views, [], update_center=False)
    torch.testing.assert_close(task.criterion.center, expected_centre)


def test_views_use_the_two_dates_or_two_augmentations_of_one():
    identity = torch.nn.Identity()
    task = _task(
        n_local_crops=3, local_size=8, global_augmentation=identity, local_augmentation=lambda x: x[..., :8, :8]
    )
    first, second = torch.rand(4, 202, 16, 16), torch.rand(4, 202, 16, 16)
    torch.manual_seed(3)
    global_views, local_views = task.views({"image1": first, "image2": second, "patch_id": list("abcd")})
    assert torch.equal(global_views[0], first) and torch.equal(global_views[1], second)
    assert len(local_views) == 3
    for crop in local_views:
        assert crop.shape == (4, 202, 8, 8)
        for n in range(4):  # each sample's local crop comes from one of its two dates
            assert torch.equal(crop[n], first[n, :, :8, :8]) or torch.equal(crop[n], second[n, :, :8, :8])
    augmented = _task()
    one_view, locals_ = augmented.views({"image": first})
    assert len(one_view) == 2 and not locals_ and one_view[0].shape == (4, 202, 16, 16)
    assert not torch.equal(one_view[0], one_view[1])
    with pytest.raises(KeyError, match="no 'image1'/'image2' or 'image'"):
        task.views({"mask": first})


def test_loss_decreases_on_a_fixed_two_date_batch():
    batch = _batch()
    torch.manual_seed(0)
    task = _task(global_augmentation=torch.nn.Identity(), n_local_crops=0)
    task.log = lambda *args, **kw: None
    initial = [copy.deepcopy(module.state_dict()) for module in (task.student_backbone, task.student_head)]
    optimizer = torch.optim.AdamW(task.student_parameters(), lr=3e-3)
    losses = []
    for step in range(10):
        loss = task.training_step(batch, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        task.update_teacher(0.99)
        losses.append(loss.item())
    assert min(losses) < 0.5 * losses[0]
    # The centre keeps moving (it flattens the teacher's targets, so the training loss rises again after its
    # minimum): compare the trained and the initial student against the same, final teacher and centre.
    views, _ = task.views(batch, augment=False)
    with torch.no_grad():
        trained = task.dino_loss(views, [], update_center=False)[0].item()
        task.student_backbone.load_state_dict(initial[0])
        task.student_head.load_state_dict(initial[1])
        untrained = task.dino_loss(views, [], update_center=False)[0].item()
    assert trained < 0.8 * untrained


class _Recorder(pl.Callback):
    """Snapshots the teacher before each batch and checks the EMA after it."""

    def __init__(self) -> None:
        self.checked: list[tuple[int, float]] = []
        self.moved = 0

    @staticmethod
    def _params(task: DINOTask, which: str) -> list[torch.Tensor]:
        modules = (getattr(task, f"{which}_backbone"), getattr(task, f"{which}_head"))
        return [p.detach().clone() for module in modules for p in module.parameters()]

    def on_train_batch_start(self, trainer, task, batch, batch_idx) -> None:
        self.before = self._params(task, "teacher")

    def on_train_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        step = trainer.global_step - 1
        total = 4
        # independent cosine schedule: lambda_k = 1 - (1 - lambda_0) (cos(pi k / (K - 1)) + 1) / 2
        momentum = 1 - (1 - 0.5) * (math.cos(math.pi * step / (total - 1)) + 1) / 2
        student = self._params(task, "student")
        teacher = self._params(task, "teacher")
        for old, new, current in zip(self.before, teacher, student, strict=True):
            torch.testing.assert_close(new, momentum * old + (1 - momentum) * current)
        self.moved += any(not torch.equal(old, new) for old, new in zip(self.before, teacher, strict=True))
        for module in (task.teacher_backbone, task.teacher_head):
            assert all(p.grad is None and not p.requires_grad for p in module.parameters())
        self.checked.append((step, momentum))


def test_teacher_is_only_an_ema_of_the_student_during_fit():
    pl.seed_everything(0, verbose=False)
    task = _task(base_momentum=0.5, warmup_epochs=1, freeze_last_layer=0, lr=1e-2)
    recorder = _Recorder()
    trainer = quiet_trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=0, callbacks=[recorder])
    trainer.fit(task, datamodule=_data())
    assert [step for step, _ in recorder.checked] == [0, 1, 2, 3]
    assert recorder.checked[0][1] == 0.5 and recorder.checked[-1][1] == pytest.approx(1.0)
    assert recorder.moved == 3  # the last step has momentum 1
    assert torch.isfinite(trainer.callback_metrics["train_loss"])


def test_lightning_checkpoint_loads_the_teacher_through_the_registry(tmp_path):
    pl.seed_everything(0, verbose=False)
    task = _task(base_momentum=0.5, freeze_last_layer=0, n_local_crops=1, local_size=8, lr=1e-2)
    trainer = quiet_trainer(max_steps=3, limit_val_batches=0)
    trainer.fit(task, datamodule=_data())
    path = tmp_path / "dino.ckpt"
    trainer.save_checkpoint(path)
    encoder = get_foundation_model("spec_vit_small", weights=path, **TINY)
    assert encoder.load_report.prefix == "teacher_backbone."
    assert not encoder.load_report.missing
    x = torch.rand(2, 202, 16, 16) * 0.4
    task.eval()
    encoder.eval()
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), task.teacher_backbone(x))
        assert not torch.allclose(encoder(x), task.student_backbone(x))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"student_temp": -0.1}, r"student_temp -0.1 must be > 0"),
        ({"teacher_temp": 0.0}, r"teacher_temp 0.0 must be > 0"),
        ({"base_momentum": 1.5}, r"base_momentum 1.5 is outside \[0, 1\]"),
        ({"center_momentum": -0.2}, r"center_momentum -0.2 is outside \[0, 1\]"),
        ({"base_momentum": 0.999, "final_momentum": 0.99}, r"base_momentum 0.999 > final_momentum 0.99"),
        ({"global_crop_scale": (0.5, 0.2)}, r"global_crop_scale \(0.5, 0.2\) is invalid"),
        ({"n_local_crops": -1}, r"n_local_crops -1 must be >= 0"),
        ({"output_dim": 0}, r"output_dim 0 must be > 0"),
        ({"band_mean": [0.1] * 3, "band_std": [0.1] * 3}, r"3 band means do not match in_channels=202"),
        ({"band_mean": [0.1] * 202}, r"give both band_mean and band_std"),
        ({"size": 18}, r"size 18 is not a multiple of the ViT token size 4"),
        ({"n_local_crops": 2, "local_size": 6}, r"local_size 6 is not a multiple of the ViT token size 4"),
    ],
)
def test_bad_settings_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _task(**kwargs)


def test_unknown_model_and_bad_momentum_raise():
    with pytest.raises(UnknownModelError, match="'spec_vit_tiny' is unknown"):
        DINOTask(model="spec_vit_tiny")
    with pytest.raises(ValueError, match=r"momentum 1.2 is outside \[0, 1\]"):
        _task().update_teacher(1.2)


@pytest.mark.parametrize("config_name", ["dino_vit_small.yaml", "dino_resnet50.yaml"])
def test_recipe_config_pretrains_and_saves_the_teacher(tmp_path, config_name):
    import importlib.util
    import json

    import yaml

    recipes = Path(__file__).resolve().parents[2] / "recipes" / "spectralearth"
    spec = importlib.util.spec_from_file_location("dino_pretrain_recipe", recipes / "pretrain.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    config = yaml.safe_load((recipes / config_name).read_text())
    assert config["task"]["name"] == "dino"
    tiny = TINY if "vit" in config_name else {}
    for assignment in (
        f"data.root={ROOT}",
        "data.batch_size=3",
        "data.num_workers=0",
        f"task.model_kwargs={json.dumps(tiny)}",
        "task.size=16",
        "task.hidden_dim=32",
        "task.bottleneck_dim=16",
        "task.output_dim=32",
        "statistics.max_patches=3",
        "trainer.max_steps=2",
        "trainer.accelerator=cpu",
    ):
        recipe.set_value(config, assignment)
    if "vit" not in config_name:
        config["task"]["model"] = "spec_resnet18"  # the tiny ResNet
    result = recipe.pretrain(config, tmp_path, quiet=True)
    assert result["steps"] == 2 and math.isfinite(result["metrics"]["train_loss"])
    metadata = json.loads((tmp_path / "encoder.json").read_text())
    assert metadata["ssl_method"] == "dino"
    encoder = get_foundation_model(
        metadata["arch"], tmp_path / "encoder.safetensors", statistics=tmp_path / "statistics.npz", **tiny
    )
    assert not encoder.load_report.missing and encoder.input_mean is not None

r"""DINO self-distillation pretraining of SpectralEarth encoders, as a Lightning task on TorchGeo's BaseTask.

Caron et al. (2021), "Emerging Properties in Self-Supervised Vision Transformers", ICCV
(arXiv:2104.14294), as SpectralEarth applies it to EnMAP patches (Braham et al. 2024,
arXiv:2408.08447, Sec. IV-B). TorchGeo 0.8 has no DINO task; this one follows its ``BaseTask``
hooks and takes the projection head, the loss (with centering) and the momentum helpers from the
``lightly`` library.

A **student** network (encoder :math:`f_{\theta_s}` and projection head) is trained to match a
**teacher** (same architecture, :math:`\theta_t`) that receives no gradient. Both output
:math:`K` logits (``output_dim``) turned into distributions by a temperature softmax (Eq. 1):

.. math::

    P_s(x)^{(i)} = \frac{\exp(g_{\theta_s}(x)^{(i)} / \tau_s)}{\sum_{k=1}^{K} \exp(g_{\theta_s}(x)^{(k)} / \tau_s)},

and the teacher's :math:`P_t` likewise with :math:`\tau_t` after **centering** its logits. The loss is
the cross-entropy :math:`H(a, b) = -\sum_i a^{(i)} \log b^{(i)}` between the teacher's output on each
global view and the student's output on every *other* view (Eqs. 2-3):

.. math::

    L = \frac{1}{n_{pairs}} \sum_{x \in \{x^g_1, x^g_2\}} \sum_{x' \in V,\ x' \neq x} H(P_t(x), P_s(x')),

averaged over the batch, where :math:`V` holds the two global views and the ``n_local_crops`` local
crops (seen by the student only). Collapse is avoided by

* **centering** (Eq. 4): :math:`c \leftarrow m\,c + (1 - m)\,\frac{1}{nB}\sum_{v, i} g_{\theta_t}(x_{v,i})`
  over the teacher outputs of the n global views of the batch of B, with ``center_momentum`` m
  (0.9), subtracted from the teacher logits before the softmax;
* **sharpening**: a low teacher temperature :math:`\tau_t`, warmed up linearly from
  ``warmup_teacher_temp`` to ``teacher_temp`` over ``warmup_teacher_temp_epochs`` epochs
  (Sec. 3.1 and Appendix: 0.04 to 0.07 over 30 epochs in the paper; the SpectralEarth authors keep
  lightly's default 0.04 throughout, the default here).

The teacher is an **exponential moving average** of the student (Sec. 3.1, "Teacher network"),
updated after every optimiser step, parameters only (batch-norm statistics of the teacher follow
its own forward passes):

.. math::

    \theta_t \leftarrow \lambda\,\theta_t + (1 - \lambda)\,\theta_s,
    \qquad \lambda_k = 1 - (1 - \lambda_0)\,\frac{\cos(\pi k / (K - 1)) + 1}{2},

a cosine schedule from :math:`\lambda_0` = ``base_momentum`` (0.996) at step 0 to
``final_momentum`` (1) at the last of the K optimiser steps of training (lightly's
``cosine_schedule``).

**Views.** The two global views are two acquisition dates of the same patch (the SpectralEarth
positive pairs: batches of :class:`eospec.datasets.SpectralEarth` with ``views=2``, keys
``image1``/``image2``), each augmented by a random resized crop (area 5-100 %), a Gaussian blur
(probability 0.5) and flips, with no colour changes (:func:`eospec.trainers.ssl.
spectral_augmentations`). One-view batches (``image``) give two augmented copies of the same patch,
as in the original method. Local crops (``n_local_crops``, 0 by default as in the authors'
configuration; their multi-crop setting uses ``local_size=48`` and area 5-40 %) are taken from one
of the two dates, drawn per sample.

**SpectralEarth settings** (the authors' ``src/models/dino_module.py``, ``configs/model/dino.yaml``
and ``configs/experiment/pretrain/dino/base.yaml``, which are the defaults here): projection head
hidden width 2048, bottleneck 256, output 128 (no batch norm, weight-normalised last layer frozen in
the first epoch), student temperature 0.1, centre momentum 0.9, AdamW with learning rate 1e-3 and
weight decay 1e-5, 20 epochs of linear warm-up then cosine decay, 100 epochs, batches of 64,
128 x 128 patches. Two deliberate differences: the teacher starts as a copy of the student (the
paper's initialisation; the authors build a separately initialised teacher head), and the teacher
momentum follows the cosine over all training steps (the authors' schedule reaches 1 after 10
epochs, which freezes the teacher for the remaining 90); the cosine learning-rate decay runs over
the epochs after the warm-up and ends at 0.

The encoder to keep is the **teacher** (:attr:`DINOTask.encoder`, the paper's choice: it performs
better); a Lightning checkpoint of this task holds ``teacher_backbone.*`` and ``student_backbone.*``
and loads through :func:`eospec.models.foundation.get_foundation_model`, which prefers the teacher.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch.utilities.types
import torch
import torch.nn.functional as F
from lightly.loss import DINOLoss
from lightly.models.modules import DINOProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule
from torch import Tensor, nn
from torch.optim import AdamW, Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR
from torchgeo.trainers import BaseTask

from eospec.models.backbones import SpectralEarthEncoder, SpecViTEncoder
from eospec.models.foundation import get_foundation_model
from eospec.trainers._common import EvaluationSteps, check_band_stats
from eospec.trainers.ssl import spectral_augmentations

__all__ = ["DINOTask", "check_dino_settings", "teacher_temperature"]


def teacher_temperature(epoch: int, warmup_temp: float, final_temp: float, warmup_epochs: int) -> float:
    """Teacher temperature of an epoch: linear warm-up, then constant (Caron et al. 2021, Sec. 3.1).

    Args:
        epoch: current epoch, 0-based.
        warmup_temp: temperature at epoch 0.
        final_temp: temperature from epoch ``warmup_epochs`` on.
        warmup_epochs: epochs of the linear warm-up (0: ``final_temp`` from the start).

    Returns:
        ``warmup_temp + (final_temp - warmup_temp) * epoch / warmup_epochs`` during the warm-up, else
        ``final_temp``.
    """
    if epoch >= warmup_epochs:
        return float(final_temp)
    return float(warmup_temp + (final_temp - warmup_temp) * epoch / warmup_epochs)


def _check_range(name: str, value: float, low: float, high: float, fix: str) -> None:
    if not low <= value <= high:  # also False for NaN
        raise ValueError(f"{name} {value!r} is outside [{low:g}, {high:g}]: {fix}")


def _check_positive(name: str, value: float, fix: str) -> None:
    if not value > 0:
        raise ValueError(f"{name} {value!r} must be > 0: {fix}")


def _check_scale(name: str, scale: Sequence[float]) -> None:
    values = tuple(float(v) for v in scale)
    if len(values) != 2 or not (0.0 < values[0] <= values[1] <= 1.0):
        raise ValueError(
            f"{name} {tuple(scale)!r} is invalid: give (min, max) crop areas as fractions, 0 < min <= max <= 1, "
            "e.g. (0.05, 1.0)"
        )


def _pair(values: Sequence[float]) -> tuple[float, float]:
    return float(values[0]), float(values[1])


def check_dino_settings(settings: dict[str, Any]) -> None:
    """Check the numeric settings of :class:`DINOTask` (its constructor arguments).

    Args:
        settings: the arguments, by name.

    Raises:
        ValueError: If a temperature, width, learning rate or crop size is not positive, a momentum
            is outside [0, 1] (or ``base_momentum > final_momentum``), a count is negative, a crop
            scale is not ``0 < min <= max <= 1``, or the band statistics do not match ``in_channels``.
    """
    for name in ("student_temp", "teacher_temp", "warmup_teacher_temp"):
        _check_positive(name, settings[name], "temperatures are positive, e.g. student 0.1, teacher 0.04-0.07")
    for name in ("hidden_dim", "bottleneck_dim", "output_dim", "size", "local_size", "in_channels"):
        _check_positive(name, settings[name], "give a positive integer")
    _check_positive("lr", settings["lr"], "use a positive learning rate, e.g. 1e-3")
    for name in ("base_momentum", "final_momentum", "center_momentum"):
        _check_range(name, settings[name], 0.0, 1.0, "momenta are fractions, e.g. 0.996 for the teacher, 0.9 centre")
    if settings["base_momentum"] > settings["final_momentum"]:
        raise ValueError(
            f"base_momentum {settings['base_momentum']!r} > final_momentum {settings['final_momentum']!r}: the "
            "teacher momentum increases during training (e.g. 0.996 to 1)"
        )
    for name in ("warmup_teacher_temp_epochs", "n_local_crops", "warmup_epochs", "freeze_last_layer"):
        if settings[name] < 0:
            raise ValueError(f"{name} {settings[name]!r} must be >= 0")
    if settings["weight_decay"] < 0:
        raise ValueError(f"weight_decay {settings['weight_decay']!r} must be >= 0")
    _check_range("blur_probability", settings["blur_probability"], 0.0, 1.0, "give a probability")
    _check_scale("global_crop_scale", settings["global_crop_scale"])
    _check_scale("local_crop_scale", settings["local_crop_scale"])
    check_band_stats(settings["band_mean"], settings["band_std"])
    band_mean = settings["band_mean"]
    if band_mean is not None and len(band_mean) != settings["in_channels"]:
        raise ValueError(
            f"{len(band_mean)} band means do not match in_channels={settings['in_channels']}: give one per band"
        )


class DINOTask(EvaluationSteps, BaseTask):
    """DINO pretraining of a SpectralEarth encoder on two-date views (module docstring).

    Batches are dicts with ``image1`` and ``image2`` (float (N, B, H, W) reflectance, two dates of
    each patch) or ``image`` (one date, augmented twice); other keys are ignored.

    Args:
        model: an architecture of :mod:`eospec.models.foundation` (``"spec_resnet50"``,
            ``"spec_vit_small"``, ...).
        weights: optional checkpoint path to start the student and teacher from (authors' or our layout).
        model_kwargs: builder arguments (e.g. ``img_size=128`` or tiny sizes for tests).
        in_channels: number of input bands B (202).
        band_mean: per-band input mean (B,) in reflectance, or None.
        band_std: per-band input standard deviation (B,) in reflectance, or None.
        hidden_dim: projection head hidden width (2048).
        bottleneck_dim: projection head bottleneck before the last layer (256).
        output_dim: K, logits of the last (weight-normalised) layer (128 for SpectralEarth; 65536 in the paper).
        batch_norm: batch norm in the projection head (False, as the authors and the paper for ViTs).
        norm_last_layer: fix the norm of the last layer's weights (True).
        freeze_last_layer: epochs during which the student's last layer gets no update (1).
        student_temp: tau_s (0.1).
        teacher_temp: tau_t after the warm-up (0.04, the authors'; 0.04-0.07 in the paper).
        warmup_teacher_temp: tau_t at epoch 0 (0.04).
        warmup_teacher_temp_epochs: epochs of the linear temperature warm-up (10, the authors'; 30 in the paper).
        center_momentum: m of the centre update, Eq. 4 (0.9).
        base_momentum: teacher EMA momentum at step 0 (0.996).
        final_momentum: teacher EMA momentum at the last step (1.0).
        size: side of the global views in pixels after cropping (128).
        global_crop_scale: (min, max) area fraction of the global random resized crops ((0.05, 1.0)).
        n_local_crops: local crops per sample seen by the student only (0, the authors' default).
        local_size: side of the local crops in pixels (48).
        local_crop_scale: (min, max) area fraction of the local crops ((0.05, 0.4)).
        blur_probability: probability of a Gaussian blur of each view (0.5).
        global_augmentation: replaces the global-view augmentation (float (N, B, H, W) -> (N, B, size, size)).
        local_augmentation: replaces the local-crop augmentation (-> (N, B, local_size, local_size)).
        lr: AdamW learning rate (1e-3 for batches of 64).
        weight_decay: AdamW weight decay (1e-5).
        warmup_epochs: epochs of linear learning-rate warm-up (20).
        max_epochs: length of the schedule in epochs (default: the trainer's max_epochs).

    Raises:
        ValueError: If a setting is invalid (see :func:`check_dino_settings`), or a ViT's view sizes
            are not multiples of its token size.
        UnknownModelError: If ``model`` is not an architecture of the registry.
    """

    ignore = ("weights", "global_augmentation", "local_augmentation")
    monitor = "train_loss"
    mode = "min"

    def __init__(
        self,
        model: str = "spec_resnet50",
        weights: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        in_channels: int = 202,
        band_mean: Sequence[float] | None = None,
        band_std: Sequence[float] | None = None,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        output_dim: int = 128,
        batch_norm: bool = False,
        norm_last_layer: bool = True,
        freeze_last_layer: int = 1,
        student_temp: float = 0.1,
        teacher_temp: float = 0.04,
        warmup_teacher_temp: float = 0.04,
        warmup_teacher_temp_epochs: int = 10,
        center_momentum: float = 0.9,
        base_momentum: float = 0.996,
        final_momentum: float = 1.0,
        size: int = 128,
        global_crop_scale: Sequence[float] = (0.05, 1.0),
        n_local_crops: int = 0,
        local_size: int = 48,
        local_crop_scale: Sequence[float] = (0.05, 0.4),
        blur_probability: float = 0.5,
        global_augmentation: Callable[[Tensor], Tensor] | None = None,
        local_augmentation: Callable[[Tensor], Tensor] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        warmup_epochs: int = 20,
        max_epochs: int | None = None,
    ) -> None:
        check_dino_settings(dict(locals()))
        self.weights = weights
        super().__init__()
        if global_augmentation is None:
            global_augmentation = spectral_augmentations(size, _pair(global_crop_scale), blur_probability)
        if local_augmentation is None:
            local_augmentation = spectral_augmentations(local_size, _pair(local_crop_scale), blur_probability)
        self.global_augmentation = global_augmentation
        self.local_augmentation = local_augmentation

    # -- hooks ----------------------------------------------------------------------------------

    def configure_models(self) -> None:
        """Build the student (encoder and head) and the teacher, a frozen copy of it.

        Raises:
            ValueError: If the encoder is a ViT and ``size`` or ``local_size`` (with local crops) is
                not a multiple of its token size.
        """
        hparams = self.hparams
        encoder = get_foundation_model(hparams["model"], self.weights, **(hparams["model_kwargs"] or {}))
        if hparams["band_mean"] is not None:
            encoder.set_input_statistics(hparams["band_mean"], hparams["band_std"])
        if isinstance(encoder, SpecViTEncoder):
            sizes = [("size", hparams["size"])]
            if hparams["n_local_crops"] > 0:
                sizes.append(("local_size", hparams["local_size"]))
            for name, value in sizes:
                if value % encoder.output_stride:
                    raise ValueError(
                        f"{name} {value!r} is not a multiple of the ViT token size {encoder.output_stride}: "
                        f"use e.g. {value - value % encoder.output_stride or encoder.output_stride}"
                    )
        self.student_backbone: SpectralEarthEncoder = encoder
        self.student_head = self._head(encoder.num_features)
        self.teacher_backbone: SpectralEarthEncoder = copy.deepcopy(encoder)
        # A weight-normalised layer cannot be deep-copied: build the teacher head and copy the weights.
        self.teacher_head = self._head(encoder.num_features)
        self.teacher_head.load_state_dict(self.student_head.state_dict())
        deactivate_requires_grad(self.teacher_backbone)
        deactivate_requires_grad(self.teacher_head)

    def _head(self, input_dim: int) -> DINOProjectionHead:
        hparams = self.hparams
        return DINOProjectionHead(
            input_dim,
            hparams["hidden_dim"],
            hparams["bottleneck_dim"],
            hparams["output_dim"],
            batch_norm=hparams["batch_norm"],
            freeze_last_layer=hparams["freeze_last_layer"],
            norm_last_layer=hparams["norm_last_layer"],
        )

    def configure_losses(self) -> None:
        """The DINO loss of lightly:: cross-entropy over pairs of different views, with the teacher centre."""
        self.criterion = DINOLoss(
            output_dim=self.hparams["output_dim"],
            warmup_teacher_temp=self.hparams["warmup_teacher_temp"],
            teacher_temp=self.hparams["teacher_temp"],
            warmup_teacher_temp_epochs=max(1, self.hparams["warmup_teacher_temp_epochs"]),
            student_temp=self.hparams["student_temp"],
            center_momentum=self.hparams["center_momentum"],
        )

    def configure_optimizers(self) -> lightning.pytorch.utilities.types.OptimizerLRScheduler:
        """AdamW on the student, linear warm-up then cosine decay, by epoch.

        Returns:
            The optimiser and the scheduler.
        """
        parameters = [p for p in self.student_parameters() if p.requires_grad]
        optimizer = AdamW(parameters, lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"])
        epochs = self.hparams["max_epochs"] or (self._trainer.max_epochs if self._trainer is not None else None)
        epochs = int(epochs) if epochs is not None and epochs > 0 else 100
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self._lr_schedule(optimizer, epochs)}}

    def _lr_schedule(self, optimizer: Optimizer, epochs: int) -> LRScheduler:
        warmup = int(self.hparams["warmup_epochs"])
        cosine = CosineAnnealingLR(optimizer, T_max=max(epochs - warmup, 1))
        if warmup == 0:
            return cosine
        linear = LinearLR(optimizer, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup)
        return SequentialLR(optimizer, schedulers=[linear, cosine], milestones=[warmup])

    def on_after_backward(self) -> None:
        """Drop the gradients of the student's last layer during the first ``freeze_last_layer`` epochs."""
        self.student_head.cancel_last_layer_gradients(current_epoch=self.current_epoch)

    def optimizer_step(
        self,
        epoch: int,
        batch_idx: int,
        optimizer: Any,
        optimizer_closure: Callable[[], Any] | None = None,
    ) -> None:
        """Step the student, then move the teacher towards it (EMA with the scheduled momentum).

        Args:
            epoch: current epoch.
            batch_idx: index of the batch.
            optimizer: the optimiser.
            optimizer_closure: Lightning's closure (forward and backward).
        """
        momentum = self.teacher_momentum(self.global_step)
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        self.update_teacher(momentum)
        self.log("train_teacher_momentum", momentum)

    # -- schedules and updates ------------------------------------------------------------------

    def student_parameters(self) -> list[nn.Parameter]:
        """Parameters of the student encoder and head (the ones trained by the optimiser)."""
        return [*self.student_backbone.parameters(), *self.student_head.parameters()]

    @property
    def encoder(self) -> SpectralEarthEncoder:
        """The encoder to keep after pretraining: the teacher's."""
        return self.teacher_backbone

    def total_steps(self) -> int | None:
        """Optimiser steps of the whole training, from the attached trainer (None without one)."""
        if self._trainer is None:
            return None
        total = self.trainer.estimated_stepping_batches
        return int(total) if math.isfinite(total) else None

    def teacher_momentum(self, step: int) -> float:
        """EMA momentum of optimiser step ``step`` (cosine from ``base_momentum`` to ``final_momentum``).

        Args:
            step: 0-based optimiser step.

        Returns:
            The momentum lambda in [0, 1] (``base_momentum`` when the length of training is unknown).
        """
        total = self.total_steps()
        base, final = float(self.hparams["base_momentum"]), float(self.hparams["final_momentum"])
        if total is None:
            return base
        return cosine_schedule(min(step, max(total - 1, 0)), total, base, final)

    def current_teacher_temperature(self) -> float:
        """tau_t of the current epoch (:func:`teacher_temperature`)."""
        return teacher_temperature(
            self.current_epoch,
            self.hparams["warmup_teacher_temp"],
            self.hparams["teacher_temp"],
            self.hparams["warmup_teacher_temp_epochs"],
        )

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """Teacher parameters <- momentum * teacher + (1 - momentum) * student (buffers untouched).

        Args:
            momentum: lambda in [0, 1]; 1 leaves the teacher unchanged.

        Raises:
            ValueError: If ``momentum`` is outside [0, 1].
        """
        _check_range("momentum", momentum, 0.0, 1.0, "the EMA momentum is a fraction, e.g. 0.996")
        update_momentum(self.student_backbone, self.teacher_backbone, m=momentum)
        update_momentum(self.student_head, self.teacher_head, m=momentum)

    # -- views and loss -------------------------------------------------------------------------

    def views(self, batch: dict[str, Any], augment: bool = True) -> tuple[list[Tensor], list[Tensor]]:
        """Global views (two dates, or one date twice) and local crops of a batch.

        Args:
            batch: dict with ``image1`` and ``image2``, or ``image`` (float (N, B, H, W)).
            augment: apply the augmentations (False: the two images as they are, no local crops).

        Returns:
            ``(global_views, local_views)``: two float tensors (N, B, size, size) and
            ``n_local_crops`` tensors (N, B, local_size, local_size).

        Raises:
            KeyError: If the batch has neither ``image1``/``image2`` nor ``image``.
        """
        if "image1" in batch and "image2" in batch:
            first, second = batch["image1"].float(), batch["image2"].float()
        elif "image" in batch:
            first = second = batch["image"].float()
        else:
            raise KeyError(
                f"batch keys {sorted(batch)} have no 'image1'/'image2' or 'image': use SpectralEarth batches"
            )
        if not augment:
            return [first, second], []
        with torch.no_grad():
            global_views = [self.global_augmentation(first), self.global_augmentation(second)]
            local_views = []
            for _ in range(int(self.hparams["n_local_crops"])):
                pick = torch.rand(first.shape[0], device=first.device) < 0.5
                source = torch.where(pick[:, None, None, None], first, second)
                local_views.append(self.local_augmentation(source))
        return global_views, local_views

    def student(self, x: Tensor) -> Tensor:
        """Student logits g_s(x).

        Args:
            x: float (N, B, H, W) reflectance.

        Returns:
            Float tensor (N, output_dim).
        """
        out: Tensor = self.student_head(self.student_backbone(x).flatten(start_dim=1))
        return out

    @torch.no_grad()
    def teacher(self, x: Tensor) -> Tensor:
        """Teacher logits g_t(x) (before centering), without gradients.

        Args:
            x: float (N, B, H, W) reflectance.

        Returns:
            Float tensor (N, output_dim).
        """
        out: Tensor = self.teacher_head(self.teacher_backbone(x).flatten(start_dim=1))
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Pooled features of the teacher encoder (the encoder kept after pretraining).

        Args:
            x: float (N, B, H, W) reflectance.

        Returns:
            Float tensor (N, D).
        """
        out: Tensor = self.teacher_backbone(x)
        return out

    def dino_loss(
        self, global_views: list[Tensor], local_views: list[Tensor], update_center: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Cross-entropy between teacher and student over all pairs of different views (Eq. 3).

        Args:
            global_views: the two global views, float (N, B, H, W) each.
            local_views: local crops seen by the student only.
            update_center: update the teacher centre (Eq. 4) with this batch's teacher outputs.

        Returns:
            ``(loss, student_features)``: the scalar loss and the student's pooled features of the
            first global view (N, D), detached.
        """
        teacher_out = [self.teacher(view) for view in global_views]
        features = self.student_backbone(global_views[0])
        student_out = [self.student_head(features.flatten(start_dim=1))]
        student_out += [self.student(view) for view in global_views[1:] + local_views]
        center = self.criterion.center.clone()
        loss: Tensor = self.criterion(teacher_out, student_out, teacher_temp=self.current_teacher_temperature())
        if not update_center:
            self.criterion.center.copy_(center)
        return loss, features.detach()

    # -- steps ----------------------------------------------------------------------------------

    def training_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """DINO loss of a batch (views augmented, teacher centre updated).

        Args:
            batch: dict with ``image1`` and ``image2``, or ``image``.
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            The loss.
        """
        global_views, local_views = self.views(batch)
        loss, features = self.dino_loss(global_views, local_views)
        size = global_views[0].shape[0]
        self.log("train_loss", loss, batch_size=size)
        self.log("train_teacher_temp", self.current_teacher_temperature(), batch_size=size)
        # Collapse monitor: mean per-dimension std of the L2-normalised features (about 1/sqrt(D) when
        # spread out, 0 when collapsed).
        self.log("train_feature_std", F.normalize(features, dim=1).std(dim=0).mean(), batch_size=size)
        return loss

    def _evaluate(self, batch: Any, prefix: str) -> None:
        global_views, _ = self.views(batch, augment=False)
        loss, _ = self.dino_loss(global_views, [], update_center=False)
        self.log(f"{prefix}_loss", loss, batch_size=global_views[0].shape[0])

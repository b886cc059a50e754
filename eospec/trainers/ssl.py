"""Contrastive pretraining of SpectralEarth encoders with TorchGeo's MoCo and SimCLR tasks.

Braham et al. (2024), "SpectralEarth: Training Hyperspectral Foundation Models at Scale", IEEE
JSTARS (arXiv:2408.08447), Sec. IV-B: MoCo-v2 (He et al. 2020, arXiv:1911.05722; Chen et al. 2020,
arXiv:2003.04297) with two acquisitions of the same location as the positive pair, and no colour
augmentation (it would distort spectra): random resized crop, Gaussian blur and flips only (the
authors' ``src/models/moco_module.py`` and ``configs/experiment/pretrain/moco/base.yaml``:
2-layer projection head 2048 -> 128 with batch norm, temperature 0.1, memory bank 32768, key
momentum 0.999, SGD with momentum 0.9, learning rate 1e-3, weight decay 1e-4, steps at epochs
60 and 80).

:class:`SpectralMoCoTask` and :class:`SpectralSimCLRTask` subclass TorchGeo's
:class:`~torchgeo.trainers.MoCoTask` and :class:`~torchgeo.trainers.SimCLRTask` and only replace
what those build from a timm model name: the backbone is a SpectralEarth encoder
(:func:`eospec.models.foundation.get_foundation_model`, pooled features), and the batches of
:class:`eospec.datasets.SpectralEarth` with ``views=2`` (``image1``, ``image2``: two dates of a
patch, or one date and its flipped/rotated copy) are fed as TorchGeo's two-view layout (the views
stacked on the channel axis). One-view batches (``image``) get two augmentations of the same
patch, as in the original methods.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, cast

import kornia.augmentation as K
import torch
from lightly.models.modules import MoCoProjectionHead, SimCLRProjectionHead
from lightly.models.utils import deactivate_requires_grad
from torch import Tensor, nn
from torchgeo.trainers import MoCoTask, SimCLRTask

from eospec.models.backbones import SpectralEarthEncoder
from eospec.models.foundation import get_foundation_model
from eospec.trainers._common import check_band_stats

__all__ = ["SpectralMoCoTask", "SpectralSimCLRTask", "spectral_augmentations", "two_view_batch"]


def spectral_augmentations(
    size: int, crop_scale: tuple[float, float] = (0.08, 1.0), blur_probability: float = 0.5
) -> nn.Module:
    """The SpectralEarth contrastive augmentation: crop, blur and flips, no colour changes.

    Args:
        size: output patch side in pixels (the input's, usually).
        crop_scale: range of the crop area as a fraction of the patch (0.08-1 in the authors' code).
        blur_probability: probability of a Gaussian blur (kernel about size / 10, sigma 0.1-2).

    Returns:
        A kornia ``AugmentationSequential`` on float (N, B, H, W) tensors.
    """
    kernel = max(3, size // 10 // 2 * 2 + 1)
    return K.AugmentationSequential(
        K.RandomResizedCrop(size=(size, size), scale=crop_scale),
        K.RandomGaussianBlur(kernel_size=(kernel, kernel), sigma=(0.1, 2.0), p=blur_probability),
        K.RandomHorizontalFlip(),
        K.RandomVerticalFlip(),
        data_keys=["input"],
    )


def two_view_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """Turn a two-view batch into TorchGeo's layout (views stacked on the channel axis).

    Args:
        batch: dict with ``image1`` and ``image2`` (float (N, B, H, W) each), or with ``image``.

    Returns:
        A dict whose ``image`` is (N, 2B, H, W) (views 1 then 2), or the batch unchanged.
    """
    if "image1" in batch and "image2" in batch:
        return {"image": torch.cat([batch["image1"].float(), batch["image2"].float()], dim=1)}
    return batch


def _encoder(task: Any) -> SpectralEarthEncoder:
    hparams = task.hparams
    encoder = get_foundation_model(hparams["model"], task.weights, **(hparams["model_kwargs"] or {}))
    if hparams["band_mean"] is not None:
        encoder.set_input_statistics(hparams["band_mean"], hparams["band_std"])
    return encoder


class SpectralMoCoTask(MoCoTask):
    """MoCo (v2 by default) on a SpectralEarth encoder, fed two-date views (module docstring).

    Args:
        model: an architecture of :mod:`eospec.models.foundation` (``"spec_resnet50"``, ...).
        weights: optional checkpoint path to start from (authors' or our layout).
        model_kwargs: builder arguments (e.g. tiny sizes for tests).
        band_mean: per-band input mean (B,) in reflectance, or None.
        band_std: per-band input standard deviation (B,) in reflectance, or None.
        in_channels: bands B (202).
        version: MoCo version (2).
        layers: projection head layers (2 for v2).
        hidden_dim: projection head hidden width (2048).
        output_dim: projection dimension (128).
        lr: SGD learning rate (1e-3, the authors').
        weight_decay: weight decay (1e-4).
        momentum: SGD momentum (0.9).
        schedule: epochs at which the learning rate drops 10x ((60, 80)).
        temperature: InfoNCE temperature (0.1).
        memory_bank_size: negatives kept from earlier batches (32768; 0 for in-batch negatives).
        moco_momentum: key encoder momentum (0.999).
        gather_distributed: gather negatives across GPUs.
        size: patch side in pixels after cropping (128).
        augmentation1: augmentation of the first view (default :func:`spectral_augmentations`).
        augmentation2: augmentation of the second view (default: the same pipeline).
    """

    def __init__(
        self,
        model: str = "spec_resnet50",
        weights: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        band_mean: Sequence[float] | None = None,
        band_std: Sequence[float] | None = None,
        in_channels: int = 202,
        version: int = 2,
        layers: int = 2,
        hidden_dim: int = 2048,
        output_dim: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        momentum: float = 0.9,
        schedule: Sequence[int] = (60, 80),
        temperature: float = 0.1,
        memory_bank_size: int = 32768,
        moco_momentum: float = 0.999,
        gather_distributed: bool = False,
        size: int = 128,
        augmentation1: nn.Module | None = None,
        augmentation2: nn.Module | None = None,
    ) -> None:
        check_band_stats(band_mean, band_std)
        augmentation = spectral_augmentations(size)
        super().__init__(
            model=model,
            weights=weights,
            in_channels=in_channels,
            version=version,
            layers=layers,
            hidden_dim=hidden_dim,
            output_dim=output_dim,
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            schedule=list(schedule),
            temperature=temperature,
            memory_bank_size=memory_bank_size,
            moco_momentum=moco_momentum,
            gather_distributed=gather_distributed,
            size=size,
            augmentation1=augmentation1 if augmentation1 is not None else augmentation,
            augmentation2=augmentation2 if augmentation2 is not None else augmentation,
        )

    def configure_models(self) -> None:
        """Build the query encoder, its momentum copy and the projection (and prediction) heads."""
        version: int = self.hparams["version"]
        self.backbone = _encoder(self)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        deactivate_requires_grad(self.backbone_momentum)
        input_dim = int(self.backbone.num_features)
        hidden_dim, output_dim, layers = self.hparams["hidden_dim"], self.hparams["output_dim"], self.hparams["layers"]
        if version > 1:
            self.projection_head = MoCoProjectionHead(input_dim, hidden_dim, output_dim, layers, batch_norm=True)
            self.projection_head_momentum = copy.deepcopy(self.projection_head)
            deactivate_requires_grad(self.projection_head_momentum)
        if version == 3:
            self.prediction_head = MoCoProjectionHead(output_dim, hidden_dim, output_dim, num_layers=2)
        self.avg_output_std = 0.0

    def training_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """TorchGeo's MoCo step on two-date views (or two augmentations of one view).

        Args:
            batch: dict with ``image1`` and ``image2``, or ``image`` (float (N, B, H, W)).
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            The InfoNCE loss.
        """
        return cast(Tensor, super().training_step(two_view_batch(batch), batch_idx, dataloader_idx))


class SpectralSimCLRTask(SimCLRTask):
    """SimCLR on a SpectralEarth encoder, fed two-date views (module docstring).

    Args:
        model: an architecture of :mod:`eospec.models.foundation`.
        weights: optional checkpoint path to start from.
        model_kwargs: builder arguments.
        band_mean: per-band input mean (B,) in reflectance, or None.
        band_std: per-band input standard deviation (B,) in reflectance, or None.
        in_channels: bands B (202).
        version: SimCLR version (1 or 2).
        layers: projection head layers (2 for v1, 3 for v2).
        hidden_dim: projection hidden width (default: the encoder's feature width).
        output_dim: projection dimension (default: the encoder's feature width).
        lr: LARS learning rate.
        momentum: LARS momentum.
        weight_decay: weight decay.
        temperature: NT-Xent temperature.
        memory_bank_size: negatives kept from earlier batches (0 for v1).
        gather_distributed: gather negatives across GPUs.
        size: patch side after cropping.
        augmentations: augmentation of both views (default :func:`spectral_augmentations`).
    """

    def __init__(
        self,
        model: str = "spec_resnet50",
        weights: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        band_mean: Sequence[float] | None = None,
        band_std: Sequence[float] | None = None,
        in_channels: int = 202,
        version: int = 1,
        layers: int = 2,
        hidden_dim: int | None = None,
        output_dim: int | None = None,
        lr: float = 0.3,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        temperature: float = 0.1,
        memory_bank_size: int = 0,
        gather_distributed: bool = False,
        size: int = 128,
        augmentations: nn.Module | None = None,
    ) -> None:
        check_band_stats(band_mean, band_std)
        super().__init__(
            model=model,
            weights=weights,
            in_channels=in_channels,
            version=version,
            layers=layers,
            hidden_dim=hidden_dim,
            output_dim=output_dim,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            temperature=temperature,
            memory_bank_size=memory_bank_size,
            gather_distributed=gather_distributed,
            size=size,
            augmentations=augmentations if augmentations is not None else spectral_augmentations(size),
        )

    def configure_models(self) -> None:
        """Build the encoder and the projection head."""
        self.backbone = _encoder(self)
        input_dim = int(self.backbone.num_features)
        if self.hparams["hidden_dim"] is None:
            self.hparams["hidden_dim"] = input_dim
        if self.hparams["output_dim"] is None:
            self.hparams["output_dim"] = input_dim
        self.projection_head = SimCLRProjectionHead(
            input_dim, self.hparams["hidden_dim"], self.hparams["output_dim"], self.hparams["layers"]
        )
        self.avg_output_std = 0.0

    def training_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """TorchGeo's SimCLR step on two-date views (or two augmentations of one view).

        Args:
            batch: dict with ``image1`` and ``image2``, or ``image``.
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            The NT-Xent loss.
        """
        return cast(Tensor, super().training_step(two_view_batch(batch), batch_idx, dataloader_idx))

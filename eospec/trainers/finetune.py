"""Fine-tuning SpectralEarth encoders: linear probing, adapter-only and full fine-tuning.

The three protocols of Braham et al. (2024), "SpectralEarth: Training Hyperspectral Foundation
Models at Scale", IEEE JSTARS (arXiv:2408.08447), Sec. V (the authors'
``src/models/semantic_segmentation_module.py``: ``freeze_backbone``, ``finetune_adapter``):

* ``"linear"``: the whole encoder is frozen (weights *and* batch-norm statistics); only the head
  learns, by default a one-layer 1 x 1 convolution (segmentation) or a linear layer
  (classification) on the encoder's features;
* ``"adapter"``: the backbone is frozen, the spectral adapter and the head learn (adapting a
  pretrained model to another sensor or to new bands);
* ``"finetune"``: everything learns; the default segmentation head is then an FCN head (3 x 3
  convolution to D/8 channels, batch norm, ReLU, 1 x 1 convolution; Long et al. 2015 as in
  torchvision and the authors' code).

Segmentation logits are computed on the feature map (stride 16 for Spec. ResNet, 4 for Spec. ViT;
``model_kwargs={"replace_stride_with_dilation": [True] * 4}`` gives a full-resolution ResNet as in
the authors' FCN setting) and upsampled bilinearly to the input size. Both tasks subclass
TorchGeo's :class:`~torchgeo.trainers.BaseTask`; batches are TorchGeo dicts: ``image`` (float
(N, B, H, W) reflectance) with ``mask`` (int (N, H, W) class ids) or ``label`` (int (N,) class ids,
or (N, C) 0/1 for multi-label).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch.utilities.types
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import AdamW
from torch.optim.lr_scheduler import CosineAnnealingLR
from torchgeo.trainers import BaseTask
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassJaccardIndex,
    MultilabelAveragePrecision,
    MultilabelF1Score,
)

from eospec.models.backbones import SpectralEarthEncoder
from eospec.models.foundation import get_foundation_model
from eospec.trainers._common import EvaluationSteps, split_metrics

__all__ = [
    "HEADS",
    "PROTOCOLS",
    "FCNHead",
    "LinearProbeHead",
    "ProtocolModel",
    "SpectralEarthClassificationTask",
    "SpectralEarthSegmentationTask",
    "classification_metrics",
    "freeze_for_protocol",
]

#: Fine-tuning protocols (module docstring).
PROTOCOLS: tuple[str, ...] = ("linear", "adapter", "finetune")
#: Segmentation heads.
HEADS: tuple[str, ...] = ("linear", "bn-linear", "fcn")


def freeze_for_protocol(encoder: nn.Module, protocol: str) -> list[nn.Module]:
    """Set ``requires_grad`` of an encoder's parameters for a protocol.

    Args:
        encoder: a SpectralEarth encoder, or any encoder with a ``backbone`` (and, for
            ``"adapter"``, a ``spectral_adapter`` that is not None).
        protocol: one of :data:`PROTOCOLS`.

    Returns:
        The frozen modules (to keep in eval mode so that their batch-norm statistics stay put).

    Raises:
        ValueError: If ``protocol`` is unknown, or ``"adapter"`` is asked of an encoder without a
            spectral adapter (a per-pixel encoder).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is unknown: use one of {', '.join(map(repr, PROTOCOLS))}")
    adapter = getattr(encoder, "spectral_adapter", None)
    if protocol == "adapter" and adapter is None:
        raise ValueError(
            "protocol 'adapter' trains the spectral adapter, but this encoder has none (a per-pixel encoder): "
            "use 'linear' or 'finetune'"
        )
    for parameter in encoder.parameters():
        parameter.requires_grad = protocol == "finetune"
    if protocol == "linear":
        return [encoder]
    if protocol == "adapter":
        assert adapter is not None
        for parameter in adapter.parameters():
            parameter.requires_grad = True
        backbone: Any = encoder.backbone
        return [backbone]
    return []


def classification_metrics(task: str, num_classes: int, ignore_index: int | None = None) -> MetricCollection:
    """The metrics of the SpectralEarth downstream tasks (torchmetrics, accumulated over batches).

    * ``"segmentation"``: ``OA`` (overall accuracy, micro), ``mIoU`` (mean intersection over union
      over the classes) and ``F1`` (macro F1), pixels at ``ignore_index`` left out;
    * ``"multiclass"``: ``OA`` and ``F1`` (macro);
    * ``"multilabel"``: ``mAP`` (macro average precision over the classes, from scores),
      ``F1_micro`` and ``F1_macro`` (scores thresholded at 0.5).

    Args:
        task: ``"segmentation"``, ``"multiclass"`` or ``"multilabel"``.
        num_classes: classes K.
        ignore_index: segmentation target value to leave out, or None.

    Returns:
        A :class:`~torchmetrics.MetricCollection` fed with (scores or logits (N, K, ...), targets).

    Raises:
        ValueError: If ``task`` is unknown.
    """
    if task == "segmentation":
        return MetricCollection(
            {
                "OA": MulticlassAccuracy(num_classes, average="micro", ignore_index=ignore_index),
                "mIoU": MulticlassJaccardIndex(num_classes, average="macro", ignore_index=ignore_index),
                "F1": MulticlassF1Score(num_classes, average="macro", ignore_index=ignore_index),
            }
        )
    if task == "multiclass":
        return MetricCollection(
            {
                "OA": MulticlassAccuracy(num_classes, average="micro"),
                "F1": MulticlassF1Score(num_classes, average="macro"),
            }
        )
    if task == "multilabel":
        return MetricCollection(
            {
                "mAP": MultilabelAveragePrecision(num_classes, average="macro"),
                "F1_micro": MultilabelF1Score(num_classes, average="micro"),
                "F1_macro": MultilabelF1Score(num_classes, average="macro"),
            }
        )
    raise ValueError(f"task {task!r} is unknown: use 'segmentation', 'multiclass' or 'multilabel'")


class LinearProbeHead(nn.Sequential):
    """Linear-probe head: batch norm without affine parameters, then a linear map (1x1 convolution).

    The batch norm standardises the frozen features with running statistics, so the head stays a
    linear classifier of the features at inference; it makes the probe's optimisation insensitive
    to the features' scale (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners",
    CVPR, Appendix A.2: "an extra BatchNorm layer without affine transformation").

    Args:
        in_channels: feature channels D.
        num_classes: output classes.
        spatial: True for feature maps (N, D, h, w), False for pooled features (N, D).
    """

    def __init__(self, in_channels: int, num_classes: int, spatial: bool = True) -> None:
        if spatial:
            super().__init__(nn.BatchNorm2d(in_channels, affine=False), nn.Conv2d(in_channels, num_classes, 1))
        else:
            super().__init__(nn.BatchNorm1d(in_channels, affine=False), nn.Linear(in_channels, num_classes))


class FCNHead(nn.Sequential):
    """FCN segmentation head: 3x3 conv (D -> max(D // 8, 16)), batch norm, ReLU, 1x1 conv to classes.

    Args:
        in_channels: feature channels D.
        num_classes: output classes.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        inter = max(in_channels // 8, 16)
        super().__init__(
            nn.Conv2d(in_channels, inter, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter),
            nn.ReLU(),
            nn.Conv2d(inter, num_classes, 1),
        )


class ProtocolModel(nn.Module):
    """An encoder and a head; frozen modules stay in eval mode whatever ``train()`` is asked.

    Args:
        encoder: the SpectralEarth encoder (or any module with ``forward_features`` and ``forward``).
        head: the head module.
        frozen: modules whose parameters are frozen (see :func:`freeze_for_protocol`).
        kind: ``"segmentation"`` (head on the feature map, logits upsampled to the input size)
            or ``"classification"`` (head on the pooled features).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, frozen: Sequence[nn.Module], kind: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.frozen = list(frozen)  # plain list: not registered twice
        self.kind = kind

    def train(self, mode: bool = True) -> ProtocolModel:
        """Set train/eval mode, keeping frozen modules in eval mode.

        Args:
            mode: True for training.

        Returns:
            self.
        """
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Logits.

        Args:
            x: float (N, B, H, W) reflectance.

        Returns:
            Float (N, classes, H, W) for segmentation, (N, classes) for classification.
        """
        encoder_frozen = any(module is self.encoder for module in self.frozen)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not encoder_frozen):
            encoder: Any = self.encoder
            features = encoder.forward_features(x) if self.kind == "segmentation" else encoder(x)
        logits: Tensor = self.head(features)
        if self.kind == "segmentation":
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits


def _check(protocol: str, num_classes: int) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is unknown: use one of {', '.join(map(repr, PROTOCOLS))}")
    if num_classes < 2:
        raise ValueError(f"num_classes {num_classes!r} is invalid: use 2 or more classes")


def _encoder(hparams: Any, weights: str | None, given: tuple[nn.Module, ...]) -> nn.Module:
    if given:
        return given[0]
    encoder: SpectralEarthEncoder = get_foundation_model(hparams["model"], weights, **(hparams["model_kwargs"] or {}))
    if hparams["band_mean"] is not None:
        encoder.set_input_statistics(hparams["band_mean"], hparams["band_std"])
    return encoder


def _num_features(encoder: nn.Module) -> int:
    features: Any = encoder.num_features
    return int(features)


class _FinetuneBase(EvaluationSteps, BaseTask):
    ignore = ("weights", "encoder")
    #: The encoder module passed to ``__init__`` (a tuple, so that it is set before ``nn.Module``
    #: is initialised), or empty to build one from ``model``.
    _given_encoder: tuple[nn.Module, ...] = ()
    monitor = "val_loss"
    mode = "min"
    model: ProtocolModel
    criterion: nn.Module
    train_metrics: MetricCollection
    val_metrics: MetricCollection
    test_metrics: MetricCollection

    def configure_optimizers(self) -> lightning.pytorch.utilities.types.OptimizerLRScheduler:
        """AdamW on the trainable parameters, cosine decay over the epochs.

        Returns:
            The optimiser and the scheduler.
        """
        parameters = [p for p in self.parameters() if p.requires_grad]
        optimizer = AdamW(parameters, lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"])
        t_max = self.hparams["max_epochs"] or (self._trainer.max_epochs if self._trainer is not None else None) or 100
        scheduler = CosineAnnealingLR(optimizer, T_max=max(int(t_max), 1), eta_min=self.hparams["eta_min"])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler}}

    def trainable_parameter_count(self) -> int:
        """Number of parameters that the protocol trains."""
        return int(sum(p.numel() for p in self.parameters() if p.requires_grad))

    def _target(self, batch: Any) -> Tensor:
        raise NotImplementedError

    def _step(self, batch: Any, prefix: str, metrics: MetricCollection) -> Tensor:
        x = batch["image"].float()
        y = self._target(batch)
        logits = self(x)
        loss: Tensor = self.criterion(logits, y)
        self.log(f"{prefix}_loss", loss, batch_size=x.shape[0])
        metrics(self._prediction(logits), y.long() if y.is_floating_point() else y)
        self.log_dict(metrics, batch_size=x.shape[0])
        return loss

    def _prediction(self, logits: Tensor) -> Tensor:
        return logits

    def training_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Loss and metrics of a training batch.

        Args:
            batch: TorchGeo batch dict (module docstring).
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            The loss.
        """
        return self._step(batch, "train", self.train_metrics)

    def _evaluate(self, batch: Any, prefix: str) -> None:
        """Log the loss and metrics of a validation or test batch."""
        self._step(batch, prefix, self.val_metrics if prefix == "val" else self.test_metrics)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Class probabilities of a batch.

        Args:
            batch: dict with ``image``.
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            Softmax (multi-class) or sigmoid (multi-label) of the logits.
        """
        logits = self(batch["image"].float())
        if self.hparams.get("task") == "multilabel":
            return torch.sigmoid(logits)
        return logits.softmax(dim=1)


class SpectralEarthSegmentationTask(_FinetuneBase):
    """Semantic segmentation with a SpectralEarth encoder under one of the protocols.

    Args:
        model: an architecture of :mod:`eospec.models.foundation`.
        weights: checkpoint path (authors' or our layout); None for random initialisation.
        model_kwargs: builder arguments.
        band_mean: per-band input mean (B,) in reflectance, or None.
        band_std: per-band input standard deviation (B,) in reflectance, or None.
        num_classes: classes.
        protocol: ``"linear"``, ``"adapter"`` or ``"finetune"``.
        head: ``"linear"`` (1x1 convolution), ``"bn-linear"`` (:class:`LinearProbeHead`) or
            ``"fcn"``; default ``"fcn"`` for ``"finetune"``, ``"linear"`` otherwise.
        ignore_index: class id left out of the loss and metrics (e.g. 0 = unlabelled).
        class_weights: per-class weights of the cross-entropy, or None.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        max_epochs: T_max of the cosine schedule (default: the trainer's).
        eta_min: final learning rate of the cosine schedule.
        encoder: an encoder module to use instead of building ``model`` (any module with
            ``forward_features``, ``forward``, ``num_features`` and ``backbone``; not saved in the
            hyper-parameters).

    Raises:
        ValueError: If ``protocol``, ``head`` or ``num_classes`` is invalid.
    """

    def __init__(
        self,
        model: str = "spec_resnet50",
        weights: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        band_mean: Sequence[float] | None = None,
        band_std: Sequence[float] | None = None,
        num_classes: int = 2,
        protocol: str = "linear",
        head: str | None = None,
        ignore_index: int | None = None,
        class_weights: Sequence[float] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        max_epochs: int | None = None,
        eta_min: float = 1e-5,
        encoder: nn.Module | None = None,
    ) -> None:
        _check(protocol, num_classes)
        if head is not None and head not in HEADS:
            raise ValueError(f"head {head!r} is unknown: use one of {', '.join(map(repr, HEADS))}")
        self.weights = weights
        self._given_encoder = (encoder,) if encoder is not None else ()
        super().__init__()

    def configure_models(self) -> None:
        """Build the encoder, freeze it for the protocol and add the head."""
        encoder = _encoder(self.hparams, self.weights, self._given_encoder)
        frozen = freeze_for_protocol(encoder, self.hparams["protocol"])
        head_name = self.hparams["head"] or ("fcn" if self.hparams["protocol"] == "finetune" else "linear")
        classes = self.hparams["num_classes"]
        features = int(_num_features(encoder))
        head: nn.Module
        if head_name == "linear":
            head = nn.Conv2d(features, classes, 1)
        elif head_name == "bn-linear":
            head = LinearProbeHead(features, classes)
        else:
            head = FCNHead(features, classes)
        self.model = ProtocolModel(encoder, head, frozen, "segmentation")

    def configure_losses(self) -> None:
        """Cross-entropy (with ``ignore_index`` and class weights)."""
        weights = self.hparams["class_weights"]
        ignore = self.hparams["ignore_index"]
        self.criterion = nn.CrossEntropyLoss(
            weight=torch.tensor(weights, dtype=torch.float32) if weights is not None else None,
            ignore_index=ignore if ignore is not None else -100,
        )

    def configure_metrics(self) -> None:
        """Overall accuracy, mean IoU and macro F1 (ignoring ``ignore_index``): :func:`classification_metrics`."""
        metrics = classification_metrics("segmentation", self.hparams["num_classes"], self.hparams["ignore_index"])
        self.train_metrics, self.val_metrics, self.test_metrics = split_metrics(metrics)

    def _target(self, batch: Any) -> Tensor:
        mask: Tensor = batch["mask"].long()
        return mask[:, 0] if mask.ndim == 4 else mask


class SpectralEarthClassificationTask(_FinetuneBase):
    """Scene classification (one label or several per patch) with a SpectralEarth encoder.

    Args:
        model: an architecture of :mod:`eospec.models.foundation`.
        weights: checkpoint path; None for random initialisation.
        model_kwargs: builder arguments.
        band_mean: per-band input mean (B,) in reflectance, or None.
        band_std: per-band input standard deviation (B,) in reflectance, or None.
        num_classes: classes.
        task: ``"multiclass"`` (``label`` int (N,)) or ``"multilabel"`` (``label`` 0/1 (N, C), as
            EnMAP-CORINE in the paper).
        protocol: ``"linear"``, ``"adapter"`` or ``"finetune"``.
        head: ``"linear"`` (a linear layer on the pooled features) or ``"bn-linear"``
            (:class:`LinearProbeHead`).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        max_epochs: T_max of the cosine schedule (default: the trainer's).
        eta_min: final learning rate of the cosine schedule.
        encoder: an encoder module to use instead of building ``model`` (see
            :class:`SpectralEarthSegmentationTask`).

    Raises:
        ValueError: If ``task``, ``protocol`` or ``num_classes`` is invalid.
    """

    def __init__(
        self,
        model: str = "spec_resnet50",
        weights: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        band_mean: Sequence[float] | None = None,
        band_std: Sequence[float] | None = None,
        num_classes: int = 2,
        task: str = "multiclass",
        protocol: str = "linear",
        head: str = "linear",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        max_epochs: int | None = None,
        eta_min: float = 1e-5,
        encoder: nn.Module | None = None,
    ) -> None:
        _check(protocol, num_classes)
        if task not in ("multiclass", "multilabel"):
            raise ValueError(f"task {task!r} is unknown: use 'multiclass' or 'multilabel'")
        if head not in ("linear", "bn-linear"):
            raise ValueError(f"head {head!r} is unknown for classification: use 'linear' or 'bn-linear'")
        self.weights = weights
        self._given_encoder = (encoder,) if encoder is not None else ()
        super().__init__()

    def configure_models(self) -> None:
        """Build the encoder, freeze it for the protocol and add a linear head on pooled features."""
        encoder = _encoder(self.hparams, self.weights, self._given_encoder)
        frozen = freeze_for_protocol(encoder, self.hparams["protocol"])
        features = int(_num_features(encoder))
        classes = self.hparams["num_classes"]
        head: nn.Module = (
            LinearProbeHead(features, classes, spatial=False)
            if self.hparams.get("head") == "bn-linear"
            else nn.Linear(features, classes)
        )
        self.model = ProtocolModel(encoder, head, frozen, "classification")

    def configure_losses(self) -> None:
        """Cross-entropy (multi-class) or binary cross-entropy on logits (multi-label)."""
        self.criterion = nn.BCEWithLogitsLoss() if self.hparams["task"] == "multilabel" else nn.CrossEntropyLoss()

    def configure_metrics(self) -> None:
        """Multi-class: overall accuracy and macro F1; multi-label: macro mAP, micro and macro F1."""
        metrics = classification_metrics(self.hparams["task"], self.hparams["num_classes"])
        self.train_metrics, self.val_metrics, self.test_metrics = split_metrics(metrics)

    def _target(self, batch: Any) -> Tensor:
        label: Tensor = batch["label"]
        return label.float() if self.hparams["task"] == "multilabel" else label.long()

    def _prediction(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits) if self.hparams["task"] == "multilabel" else logits

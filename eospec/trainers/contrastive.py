r"""Contrastive regression on spectra: a Lightning task on TorchGeo's :class:`~torchgeo.trainers.BaseTask`.

Dhaini, Berar, Honeine and Van Exem (2024), "Contrastive learning for regression on hyperspectral
data", ICASSP 2024 (arXiv:2403.17014). A feature extractor :math:`f` embeds each spectrum, a head
:math:`g` predicts the s targets, and training minimises (the paper's Eq. 9-10)

.. math::

    L = L_R + \alpha\, L_{\mathrm{contrastive}}, \qquad
    L_R = \frac{1}{N s} \sum_{i=1}^{N} \lVert g(f(x_i)) - y_i \rVert_2^2,

where :math:`L_{\mathrm{contrastive}}` (:func:`eospec.losses.regression_contrastive_loss`) compares
the embeddings :math:`f(x_i)` of the batch and of an augmented view :math:`f(t(x_i))` of every
spectrum, positives being the pairs whose labels are within a radius r. As in the authors' code
(github.com/mohamaddhaini/contrastive-learning-hyperspectral, ``models.train``), one augmentation
:math:`t` is drawn at random per batch from the configured list, the regression loss uses the
original spectra only (``augment_regression=True`` feeds it the augmented view instead, a control),
and ``alpha = 0`` is the baseline (no second view is computed).

Two-stage training (``pretrain_epochs > 0``, an extension beyond the paper) follows the protocol of
Rank-N-Contrast (Zha, Cao, Hu, Ye, Kang and Katabi 2023, "Rank-N-Contrast: learning continuous
representations for regression", NeurIPS 2023, Sec. 3): the first ``pretrain_epochs`` epochs train
the feature extractor with the contrastive loss alone, then the regression head is trained on the
frozen extractor (``freeze_extractor=True``, the paper's linear-probe protocol) or the whole
network is fine-tuned with :math:`L_R + \alpha L_{\mathrm{contrastive}}`.

Batches are dicts with ``"image"`` (float (N, B) spectra) and ``"label"`` (float (N, s) or (N,)
targets), as TorchGeo's datasets yield and :class:`SpectraDataModule` builds from arrays.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import lightning.pytorch.utilities.types
import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn
from torch.optim import Adam, AdamW
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import Dataset
from torchgeo.trainers import BaseTask
from torchmetrics import MeanAbsoluteError, MetricCollection, R2Score

from eospec.losses import LOSS_FORMS, RegressionContrastiveLoss
from eospec.models.feature_extractors import ContrastiveRegressor, get_feature_extractor, list_feature_extractors
from eospec.trainers._common import EvaluationSteps, SplitLoadersDataModule, split_metrics, training_spectra

__all__ = [
    "AUGMENTATION_MODES",
    "OPTIMIZERS",
    "ContrastiveRegressionTask",
    "SpectraDataModule",
    "SpectraDataset",
    "build_augmentations",
]

#: How the second view is made from the configured augmentations: ``"random"`` draws one per batch
#: (the authors' code), ``"sequential"`` applies all of them in order.
AUGMENTATION_MODES: tuple[str, ...] = ("random", "sequential")

#: Optimisers accepted by :class:`ContrastiveRegressionTask`.
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")

AugmentationSpec = str | Mapping[str, Any]


def _augmentation_name_and_kwargs(spec: AugmentationSpec) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        kwargs = {key: value for key, value in spec.items() if key != "name"}
        return str(spec["name"]), kwargs
    raise ValueError(
        f"augmentation {spec!r} is invalid: give a name such as 'spectral_flip' or a mapping such as "
        "{'name': 'spectral_shift', 'max_shift_nm': 10.0}"
    )


def build_augmentations(
    specs: Sequence[AugmentationSpec] | None, wavelengths_nm: Sequence[float] | None = None
) -> nn.ModuleList:
    """Build :mod:`eospec.augment` modules from names or ``{"name": ..., **kwargs}`` mappings.

    Args:
        specs: the augmentations; ``None`` or empty for none.
        wavelengths_nm: band centres in nm (B,), passed as ``wavelengths_nm`` to augmentations
            whose constructor takes that argument and did not get it in ``specs``.

    Returns:
        A ``ModuleList`` of the augmentation modules, in order.

    Raises:
        ValueError: If a spec is malformed or a name is unknown to :mod:`eospec.augment`.
        AugmentationError: If the keyword arguments do not fit the augmentation (from
            :func:`eospec.augment.get_augmentation`).
    """
    modules = nn.ModuleList()
    if not specs:
        return modules
    if isinstance(specs, str | Mapping):
        specs = [specs]
    from eospec import augment

    known = augment.list_augmentations()
    for spec in specs:
        name, kwargs = _augmentation_name_and_kwargs(spec)
        if name not in known:
            raise ValueError(f"augmentation {name!r} is unknown: use one of {', '.join(map(repr, known))}")
        takes_axis = _takes_wavelengths(augment.AUGMENTATIONS[name])
        if wavelengths_nm is not None and "wavelengths_nm" not in kwargs and takes_axis:
            kwargs["wavelengths_nm"] = list(wavelengths_nm)
        modules.append(augment.get_augmentation(name, **kwargs))
    return modules


def _takes_wavelengths(builder: Any) -> bool:
    try:
        return "wavelengths_nm" in inspect.signature(builder).parameters
    except (TypeError, ValueError):
        return False


class ContrastiveRegressionTask(EvaluationSteps, BaseTask):
    """Regression of spectra with the regression contrastive loss (Dhaini et al. 2024, Eq. 9-10).

    Args:
        model: feature extractor, ``"fc"`` (the paper's 128-64-32 fully connected network) or
            ``"cnn1d"`` (a 1-D CNN; see :mod:`eospec.models.feature_extractors`).
        in_bands: number of spectral bands B of the input.
        num_outputs: number of targets s (4 abundances in the synthetic study, 1 for SOC).
        model_kwargs: extra arguments of the extractor (``hidden`` for ``"fc"``; ``channels``,
            ``kernel_size``, ``out_features`` for ``"cnn1d"``).
        head_hidden: hidden units of the regression head (16 in the paper).
        alpha: weight of the contrastive term; 0 trains the baseline (regression loss only).
            The defaults of ``alpha``, ``radius`` and ``temperature`` are those of the authors' code
            (``models.train``: ``tradeoff_cont=0.001``, ``thresh=0.01``; ``ContrastiveLoss``:
            ``temperature=1.0``); the radius is in the target's unit, so set it for your targets.
        radius: label-ball radius r of positive pairs, in the target unit (unused by ``"rnc"``).
        temperature: tau of the similarities.
        loss_form: ``"infonce"`` (the paper's Eq. 7-8), ``"bce"`` (the authors' code) or ``"rnc"``
            (Rank-N-Contrast, Zha et al. 2023, an extension; see :mod:`eospec.losses`).
        augmentations: :mod:`eospec.augment` names or ``{"name": ..., **kwargs}`` mappings that make
            the second view; empty means the contrastive loss sees one view (label-ball positives only).
        augmentation_mode: ``"random"`` (one augmentation drawn per batch, as the authors' code) or
            ``"sequential"`` (all applied in order).
        wavelengths_nm: band centres in nm (length B), handed to augmentations that need them.
        lr: learning rate.
        weight_decay: weight decay of the optimiser.
        optimizer: ``"adam"`` or ``"adamw"``.
        patience: patience (epochs) of a ReduceLROnPlateau scheduler on ``val_loss``; ``None`` keeps
            the learning rate constant. During contrastive pretraining ``val_loss`` is that of the
            untrained head, so prefer ``None`` with ``pretrain_epochs > 0``.
        pretrain_epochs: epochs of contrastive pretraining of the extractor alone (the loss is
            L_contrastive; the head is not trained) before the regression stage; 0 trains jointly
            from the start, as the paper. The trainer's ``max_epochs`` counts both stages.
        freeze_extractor: in the regression stage, keep the extractor fixed (its weights and, for
            the 1-D CNN, its batch-norm statistics) and train the head only on ``L_R``; ``False``
            fine-tunes everything with ``L_R + alpha * L_contrastive``. With ``pretrain_epochs=0`` it
            trains a head on a randomly initialised extractor (a control for the pretraining).
        augment_regression: also feed the regression loss the augmented view (plain data
            augmentation): ``L_R`` is computed on ``augment(x)`` instead of ``x``, while the
            contrastive term is unchanged. With ``alpha=0`` this is the control that separates what
            an augmentation does as training data from what the contrastive loss does with it.
        standardise: standardise every band with the mean and standard deviation of the training
            spectra (``train_dataset.spectra`` of the data module, e.g. :class:`SpectraDataModule`),
            computed at the start of ``fit`` unless
            :meth:`~eospec.models.feature_extractors.ContrastiveRegressor.fit_input_standardisation`
            was called first. The augmentations still see the spectra in their own unit (they are
            physical); the network sees standardised values. ``False`` (the paper, and the
            default) gives the network the raw spectra, whose unit then changes how fast it trains.

    Raises:
        ValueError: If ``model``, ``loss_form``, ``augmentation_mode``, ``optimizer`` or an
            augmentation name is unknown, or a number is out of range; the message names the value.
    """

    monitor = "val_loss"
    mode = "min"

    def __init__(
        self,
        model: str = "fc",
        in_bands: int = 224,
        num_outputs: int = 4,
        model_kwargs: dict[str, Any] | None = None,
        head_hidden: int = 16,
        alpha: float = 0.001,
        radius: float = 0.01,
        temperature: float = 1.0,
        loss_form: str = "infonce",
        augmentations: Sequence[AugmentationSpec] | None = None,
        augmentation_mode: str = "random",
        wavelengths_nm: Sequence[float] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        patience: int | None = None,
        pretrain_epochs: int = 0,
        freeze_extractor: bool = False,
        augment_regression: bool = False,
        standardise: bool = False,
    ) -> None:
        if model not in list_feature_extractors():
            raise ValueError(
                f"model {model!r} is unknown: use one of {', '.join(map(repr, list_feature_extractors()))}"
            )
        if loss_form not in LOSS_FORMS:
            raise ValueError(f"loss_form {loss_form!r} is unknown: use one of {', '.join(map(repr, LOSS_FORMS))}")
        if augmentation_mode not in AUGMENTATION_MODES:
            raise ValueError(
                f"augmentation_mode {augmentation_mode!r} is unknown: use one of "
                f"{', '.join(map(repr, AUGMENTATION_MODES))}"
            )
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {optimizer!r} is unknown: use one of {', '.join(map(repr, OPTIMIZERS))}")
        if not alpha >= 0.0:
            raise ValueError(f"alpha {alpha!r} is invalid: use a weight >= 0 (0 trains the baseline)")
        if not lr > 0.0:
            raise ValueError(f"lr {lr!r} is invalid: use a learning rate > 0, e.g. 1e-3")
        if isinstance(pretrain_epochs, bool) or not isinstance(pretrain_epochs, int) or pretrain_epochs < 0:
            raise ValueError(
                f"pretrain_epochs {pretrain_epochs!r} is invalid: use a whole number of epochs >= 0 (0 trains jointly)"
            )
        if wavelengths_nm is not None and len(wavelengths_nm) != in_bands:
            raise ValueError(
                f"{len(wavelengths_nm)} wavelengths do not match in_bands={in_bands}: pass one centre (nm) per band"
            )
        super().__init__()

    def configure_models(self) -> None:
        """Build the feature extractor, the regression head and the augmentations."""
        extractor = get_feature_extractor(
            self.hparams["model"], self.hparams["in_bands"], **(self.hparams["model_kwargs"] or {})
        )
        self.model = ContrastiveRegressor(extractor, self.hparams["num_outputs"], self.hparams["head_hidden"])
        self.augmentations = build_augmentations(self.hparams["augmentations"], self.hparams["wavelengths_nm"])

    def on_fit_start(self) -> None:
        """With ``standardise``, fit the input standardisation on the training spectra if it is not set."""
        if self.hparams["standardise"] and not bool(self.model.standardisation.fitted):
            self.model.fit_input_standardisation(
                training_spectra(self, "contrastive regressor", "fit_input_standardisation", "a SpectraDataModule")
            )

    def configure_losses(self) -> None:
        """The regression loss (MSE, L_R) and the contrastive loss."""
        self.criterion = nn.MSELoss()
        self.contrastive_criterion = RegressionContrastiveLoss(
            self.hparams["radius"], self.hparams["temperature"], self.hparams["loss_form"]
        )

    def configure_metrics(self) -> None:
        """R2 (averaged uniformly over the s targets, as scikit-learn's ``r2_score``) and MAE."""
        metrics = MetricCollection({"R2": R2Score(multioutput="uniform_average"), "MAE": MeanAbsoluteError()})
        self.train_metrics, self.val_metrics, self.test_metrics = split_metrics(metrics)

    def configure_optimizers(self) -> lightning.pytorch.utilities.types.OptimizerLRScheduler:
        """Adam or AdamW; a ReduceLROnPlateau scheduler on ``val_loss`` when ``patience`` is set.

        Returns:
            The optimiser, or a dict with the optimiser and the scheduler.
        """
        kind = Adam if self.hparams["optimizer"] == "adam" else AdamW
        optimizer = kind(self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"])
        if self.hparams["patience"] is None:
            return optimizer
        scheduler = ReduceLROnPlateau(optimizer, patience=self.hparams["patience"])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor}}

    def _unpack(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        x = batch["image"].float()
        y = batch["label"].float()
        if y.ndim == 1:
            y = y[:, None]
        return x, y

    def augment(self, x: Tensor) -> Tensor:
        """The second view of a batch of spectra.

        Args:
            x: float tensor (N, B).

        Returns:
            Float tensor (N, B): ``x`` through one augmentation drawn at random (mode ``"random"``)
            or through all of them in order (``"sequential"``); ``x`` itself if there are none.
        """
        if len(self.augmentations) == 0:
            return x
        with torch.no_grad():
            if self.hparams["augmentation_mode"] == "random":
                choice = int(torch.randint(len(self.augmentations), (1,)).item())
                return self.augmentations[choice](x)
            for augmentation in self.augmentations:
                x = augmentation(x)
            return x

    @property
    def pretraining(self) -> bool:
        """Whether the current epoch is in the contrastive pretraining stage (``pretrain_epochs``)."""
        return self.current_epoch < int(self.hparams["pretrain_epochs"])

    @property
    def extractor_frozen(self) -> bool:
        """Whether the extractor is fixed: ``freeze_extractor`` is set and the regression stage has started."""
        return bool(self.hparams["freeze_extractor"]) and not self.pretraining

    def on_train_epoch_start(self) -> None:
        """Freeze the extractor (weights and batch-norm statistics) once the regression stage starts, if asked."""
        self.model.extractor.requires_grad_(not self.extractor_frozen)
        if self.extractor_frozen:
            self.model.extractor.eval()

    def train(self, mode: bool = True) -> ContrastiveRegressionTask:
        """Set the training mode, keeping a frozen extractor in evaluation mode (fixed batch-norm statistics).

        Args:
            mode: training (``True``) or evaluation mode.

        Returns:
            The task itself.
        """
        super().train(mode)
        if mode and self.extractor_frozen:
            self.model.extractor.eval()
        return self

    def _contrastive(self, x: Tensor, y: Tensor, features: Tensor) -> Tensor:
        features_augmented = None
        if len(self.augmentations) > 0:
            features_augmented = self.model.embed(self.augment(x))
        loss: Tensor = self.contrastive_criterion(features, y, features_augmented)
        return loss

    def _loss_terms(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        alpha = float(self.hparams["alpha"])
        x_regression = self.augment(x) if self.hparams["augment_regression"] else x
        if self.extractor_frozen:
            with torch.no_grad():
                features = self.model.embed(x_regression)
            prediction = self.model.head(features)
            return prediction, self.criterion(prediction, y), prediction.new_zeros(())
        if alpha == 0.0:
            prediction = self.model(x_regression)
            return prediction, self.criterion(prediction, y), prediction.new_zeros(())
        if x_regression is x:
            prediction, features = self.model.forward_features(x)
        else:
            prediction, features = self.model(x_regression), self.model.embed(x)
        return prediction, self.criterion(prediction, y), self._contrastive(x, y, features)

    def training_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Compute L_R + alpha * L_contrastive on a batch and log its terms and metrics.

        In the pretraining stage (``pretrain_epochs``) the loss is L_contrastive alone, on the
        extractor's embeddings; with a frozen extractor in the regression stage it is L_R alone.

        Args:
            batch: dict with ``"image"`` (N, B) and ``"label"`` (N, s) or (N,).
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            The total loss (a scalar tensor).
        """
        x, y = self._unpack(batch)
        if self.pretraining:
            contrastive = self._contrastive(x, y, self.model.embed(x))
            self.log("train_loss", contrastive, batch_size=x.shape[0])
            self.log("train_contrastive_loss", contrastive, batch_size=x.shape[0])
            return contrastive
        prediction, regression, contrastive = self._loss_terms(x, y)
        loss = regression + float(self.hparams["alpha"]) * contrastive
        batch_size = x.shape[0]
        self.log("train_loss", loss, batch_size=batch_size)
        self.log("train_regression_loss", regression, batch_size=batch_size)
        self.log("train_contrastive_loss", contrastive, batch_size=batch_size)
        if batch_size > 1:  # R2 needs two samples
            self.train_metrics(prediction.detach(), y)
            self.log_dict(self.train_metrics, batch_size=batch_size)
        return loss

    def _evaluate(self, batch: Any, prefix: str) -> None:
        """Log the regression loss (MSE), R2 and MAE of a validation or test batch (accumulated)."""
        metrics: MetricCollection = self.val_metrics if prefix == "val" else self.test_metrics
        x, y = self._unpack(batch)
        prediction = self.model(x)
        loss = self.criterion(prediction, y)
        self.log(f"{prefix}_loss", loss, batch_size=x.shape[0])
        metrics.update(prediction, y)
        self.log_dict(metrics, batch_size=x.shape[0])

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Predict the targets of a batch.

        Args:
            batch: dict with ``"image"`` (N, B).
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            Float tensor (N, s).
        """
        prediction: Tensor = self.model(batch["image"].float())
        return prediction


class SpectraDataset(Dataset[dict[str, Tensor]]):
    """Spectra and their targets as TorchGeo-style samples ``{"image": (B,), "label": (s,)}``.

    Args:
        spectra: float array (N, B).
        targets: float array (N, s) or (N,).

    Raises:
        ValueError: If the lengths differ or ``spectra`` is not 2-D.
    """

    def __init__(self, spectra: npt.ArrayLike | Tensor, targets: npt.ArrayLike | Tensor) -> None:
        self.spectra = torch.as_tensor(np.asarray(spectra, dtype=np.float32))
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.float32))
        if self.spectra.ndim != 2 or self.targets.ndim not in (1, 2) or len(self.spectra) != len(self.targets):
            raise ValueError(
                f"spectra {tuple(self.spectra.shape)} and targets {tuple(self.targets.shape)} do not match: "
                "pass (N, B) spectra and (N, s) or (N,) targets"
            )

    def __len__(self) -> int:
        return len(self.spectra)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"image": self.spectra[index], "label": self.targets[index]}


class SpectraDataModule(SplitLoadersDataModule):
    """In-memory train/validation/test spectra as a Lightning data module.

    Args:
        train: (spectra (N, B), targets (N, s)) of the training set.
        val: optional validation set, same layout.
        test: optional test set, same layout.
        batch_size: training batch size; the last incomplete training batch is dropped so that
            every batch has at least two samples for the contrastive loss and R2.
        eval_batch_size: batch size of validation, test and prediction.
        num_workers: DataLoader workers (0 keeps everything in the main process).
    """

    missing_hint = "=(spectra, targets) to SpectraDataModule"

    def __init__(
        self,
        train: tuple[npt.ArrayLike, npt.ArrayLike],
        val: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
        test: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        self.set_splits(SpectraDataset, train, val, test)

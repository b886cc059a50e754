r"""Self-supervised VAE pretraining and multi-fidelity encoder training, as TorchGeo ``BaseTask`` subclasses.

Sun, Safanelli, Sanderman et al. (2025), "Self-supervised and multi-fidelity learning for extended
predictive soil spectroscopy" (arXiv:2511.15965):

1. :class:`VAETask` pretrains a :class:`~eospec.models.vae.SpectralVAE` on unlabelled spectra. The
   paper uses the scan repeats of the KSSL MIR library (334,665 scans of 83,971 samples) as
   augmented training data: here every scan is a training spectrum, and each batch also carries a
   *view*: another scan of the same sample drawn at random (the scan itself when a sample has one),
   optionally passed through :mod:`eospec.augment` augmentations and additive Gaussian noise.
2. :class:`MultiFidelityTask` freezes the pretrained high-fidelity decoder and trains a new encoder
   for low-fidelity spectra into the same latent space on paired samples (the paper: a NIR encoder
   plugged into the frozen MIR decoder, trained on the KSSL samples scanned with both instruments).

Losses. For a spectrum :math:`x` with standardised features :math:`f(x)` (B bands; see
:mod:`eospec.models.vae`), posterior :math:`q(z|x) = N(\mu, \sigma^2)` (K dimensions) and
decoded features :math:`\hat f = g(z)`, :math:`z \sim q(z|x)`:

.. math::

    L_{rec}(x) = \frac{1}{B} \lVert \hat f - f(x) \rVert^2, \qquad
    L_{KL}(x) = D_{KL}\big(q(z|x) \,\Vert\, N(0, I)\big), \qquad
    L = L_{rec} + \beta_t L_{KL}

(Kingma & Welling 2014, arXiv:1312.6114, Eq. 10 with a Gaussian decoder; :math:`\beta \ne 2/B` is
the beta-VAE of Higgins et al. 2017, ICLR). The weight grows linearly from 0 to :math:`\beta` over
the first ``kl_warmup_epochs`` epochs, :math:`\beta_t = \beta \min(1, t / T_{warm})` (KL
annealing: Bowman et al. 2016, CoNLL, Sec. 3.1; Sonderby et al. 2016, NeurIPS, "warm-up"). With a
view :math:`v` of the same sample (clean source :math:`x'`: the repeat before augmentation), the
loss averages both terms over :math:`x` and :math:`v` (the view is decoded to :math:`f(x')`, so
augmentations and noise act as denoising) and adds an optional consistency term
:math:`\gamma \frac{1}{K}\lVert \mu(x) - \mu(v) \rVert^2` (eospec's option, ``consistency_weight``;
the paper does not report one: default 0).

Multi-fidelity loss (low-fidelity encoder :math:`e_{lo}`, frozen high-fidelity decoder :math:`g`
and encoder :math:`\mu_{hi}`, pairs :math:`(x_{lo}, x_{hi})`):

.. math::

    L = w_{rec} \frac{1}{B_{hi}} \lVert g(z_{lo}) - f_{hi}(x_{hi}) \rVert^2
        + w_{lat} \frac{1}{K} \lVert \mu_{lo}(x_{lo}) - \mu_{hi}(x_{hi}) \rVert^2
        + \beta D_{KL}(q_{lo}),

with :math:`z_{lo}` the posterior mean (a sample when ``beta > 0``). The paper trains the NIR
encoder through the frozen MIR decoder to reproduce the MIR spectrum, i.e. the reconstruction term
(default ``reconstruction_weight=1``, ``latent_weight=0``); the latent term is eospec's option.

Batches are dicts as TorchGeo datasets yield: ``{"image": (N, B), "view": (N, B)}`` for
:class:`VAETask` and ``{"image": (N, B_lo), "target": (N, B_hi)}`` for :class:`MultiFidelityTask`.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import lightning.pytorch.utilities.types
import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from lightning.pytorch import Trainer
from torch import Tensor, nn
from torch.optim import Adam, AdamW
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import Dataset
from torchgeo.trainers import BaseTask

from eospec.models.vae import KINDS, SpectralConverter, SpectralEncoder, SpectralVAE, kl_divergence
from eospec.trainers._common import EvaluationSteps, SplitLoadersDataModule, training_spectra
from eospec.trainers.contrastive import AUGMENTATION_MODES, OPTIMIZERS, AugmentationSpec, build_augmentations

__all__ = [
    "MultiFidelityTask",
    "PairedSpectraDataModule",
    "PairedSpectraDataset",
    "RepeatSpectraDataset",
    "VAEDataModule",
    "VAETask",
    "train_converter",
    "train_vae",
]

#: Data modules that hold ``train_dataset.spectra`` for the VAE tasks (named in error messages).
_VAE_DATAMODULES = "a VAEDataModule (PairedSpectraDataModule)"


def _check_positive(name: str, value: float, allow_zero: bool = True) -> None:
    ok = value >= 0.0 if allow_zero else value > 0.0
    if not ok or not np.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} {value!r} is invalid: use a finite number {bound}")


def _as_float32(values: npt.ArrayLike | Tensor, what: str) -> Tensor:
    array = np.asarray(values, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{what} must have shape (N, B); got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} hold NaN or infinite values: drop or fill those spectra first")
    return torch.from_numpy(np.ascontiguousarray(array))


class _OptimiserMixin:
    """Adam/AdamW with an optional ReduceLROnPlateau on ``val_loss``."""

    hparams: Any
    monitor: str

    def _optimiser(self, parameters: Iterator[nn.Parameter]) -> lightning.pytorch.utilities.types.OptimizerLRScheduler:
        kind = Adam if self.hparams["optimizer"] == "adam" else AdamW
        optimizer = kind(parameters, lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"])
        if self.hparams["patience"] is None:
            return optimizer
        scheduler = ReduceLROnPlateau(optimizer, patience=self.hparams["patience"])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor}}


class VAETask(EvaluationSteps, _OptimiserMixin, BaseTask):
    """Pretraining of a :class:`~eospec.models.vae.SpectralVAE` (module docstring for the loss).

    The model's input normalisation is fitted on the training spectra at the start of ``fit``
    unless it was set before (:meth:`SpectralVAE.fit_normalisation`).

    Args:
        model: ``"fc"`` or ``"conv"`` (:data:`eospec.models.vae.KINDS`).
        in_bands: number of bands B.
        latent_dim: latent dimensions K (32 as in Sun et al. 2025).
        model_kwargs: other :class:`SpectralVAE` arguments (``hidden``, ``channels``,
            ``kernel_size``, ``activation``, ``quantity``, ``transform``).
        beta: final weight of the KL term (per spectrum, nats) against the per-band MSE;
            ``2 / in_bands`` is the plain ELBO with a unit-variance Gaussian decoder.
        kl_warmup_epochs: epochs over which the KL weight grows linearly from 0 to ``beta``; 0 for none.
        consistency_weight: weight gamma of the squared distance between the posterior means of a
            spectrum and its view (per latent dimension); 0 for none.
        augmentations: :mod:`eospec.augment` names or ``{"name": ..., **kwargs}`` applied to views.
        augmentation_mode: ``"random"`` (one augmentation per batch) or ``"sequential"``.
        noise_std: standard deviation of additive Gaussian noise on views, in the input quantity
            (a number, or one value per band); 0 for none.
        wavelengths_nm: band centres in nm (B,), for augmentations that need them.
        lr: learning rate.
        weight_decay: weight decay.
        optimizer: ``"adam"`` or ``"adamw"``.
        patience: ReduceLROnPlateau patience on ``val_loss`` (epochs); None for a constant rate.

    Raises:
        ValueError: If a name is unknown or a number out of range; the message names the value.
    """

    monitor = "val_loss"
    mode = "min"

    def __init__(
        self,
        model: str = "fc",
        in_bands: int = 202,
        latent_dim: int = 32,
        model_kwargs: dict[str, Any] | None = None,
        beta: float = 1e-3,
        kl_warmup_epochs: int = 0,
        consistency_weight: float = 0.0,
        augmentations: Sequence[AugmentationSpec] | None = None,
        augmentation_mode: str = "random",
        noise_std: float | Sequence[float] = 0.0,
        wavelengths_nm: Sequence[float] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        patience: int | None = None,
    ) -> None:
        if model not in KINDS:
            raise ValueError(f"model {model!r} is unknown: use one of {', '.join(map(repr, KINDS))}")
        if augmentation_mode not in AUGMENTATION_MODES:
            modes = ", ".join(map(repr, AUGMENTATION_MODES))
            raise ValueError(f"augmentation_mode {augmentation_mode!r} is unknown: use one of {modes}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {optimizer!r} is unknown: use one of {', '.join(map(repr, OPTIMIZERS))}")
        _check_positive("beta", beta)
        _check_positive("consistency_weight", consistency_weight)
        _check_positive("lr", lr, allow_zero=False)
        if kl_warmup_epochs < 0:
            raise ValueError(f"kl_warmup_epochs {kl_warmup_epochs!r} is invalid: use 0 (no warm-up) or more epochs")
        noise = np.asarray(noise_std, dtype=np.float64)
        if noise.ndim > 1 or (noise.ndim == 1 and noise.size != in_bands) or np.any(noise < 0):
            raise ValueError(f"noise_std {noise_std!r} is invalid: use a number >= 0 or {in_bands} values >= 0")
        if wavelengths_nm is not None and len(wavelengths_nm) != in_bands:
            raise ValueError(
                f"{len(wavelengths_nm)} wavelengths do not match in_bands={in_bands}: pass one centre (nm) per band"
            )
        super().__init__()

    noise_std: Tensor

    def configure_models(self) -> None:
        """Build the VAE, the augmentations and the noise level."""
        self.model = SpectralVAE(
            self.hparams["in_bands"],
            self.hparams["latent_dim"],
            kind=self.hparams["model"],
            **(self.hparams["model_kwargs"] or {}),
        )
        self.augmentations = build_augmentations(self.hparams["augmentations"], self.hparams["wavelengths_nm"])
        noise = torch.as_tensor(np.asarray(self.hparams["noise_std"], dtype=np.float32))
        self.register_buffer("noise_std", noise, persistent=False)

    @property
    def has_views(self) -> bool:
        """Whether views are augmented or noisy (repeats are used whenever the batch has them)."""
        return len(self.augmentations) > 0 or bool(torch.any(self.noise_std > 0))

    def on_fit_start(self) -> None:
        """Fit the model's input normalisation on the training spectra if it is not set."""
        if not self.model.is_normalised:
            self.model.fit_normalisation(training_spectra(self, "VAE", "fit_normalisation", _VAE_DATAMODULES))

    def configure_optimizers(self) -> lightning.pytorch.utilities.types.OptimizerLRScheduler:
        """Adam or AdamW on the VAE's parameters; ReduceLROnPlateau when ``patience`` is set.

        Returns:
            The optimiser, or a dict with the optimiser and the scheduler.
        """
        return self._optimiser(self.model.parameters())

    def kl_weight(self, batch_idx: int = 0) -> float:
        """The KL weight beta_t of the current step (linear warm-up, module docstring).

        Args:
            batch_idx: index of the batch in the epoch.

        Returns:
            beta_t, between 0 and ``beta``.
        """
        beta = float(self.hparams["beta"])
        warmup = int(self.hparams["kl_warmup_epochs"])
        if warmup == 0:
            return beta
        batches = 1
        with contextlib.suppress(RuntimeError, AttributeError, TypeError):
            batches = max(1, int(self.trainer.num_training_batches))
        progress = (self.current_epoch + batch_idx / batches) / warmup
        return beta * min(1.0, progress)

    def make_view(self, x: Tensor) -> Tensor:
        """Augment a batch of spectra (N, B): augmentations (random or sequential), then Gaussian noise.

        Args:
            x: float tensor (N, B) in the model's quantity.

        Returns:
            Float tensor (N, B); ``x`` itself when there are no augmentations and no noise.
        """
        with torch.no_grad():
            if len(self.augmentations) > 0:
                if self.hparams["augmentation_mode"] == "random":
                    choice = int(torch.randint(len(self.augmentations), (1,)).item())
                    x = self.augmentations[choice](x)
                else:
                    for augmentation in self.augmentations:
                        x = augmentation(x)
            if bool(torch.any(self.noise_std > 0)):
                x = x + torch.randn_like(x) * self.noise_std.to(x)
                if self.model.quantity == "reflectance" and self.model.encoder.normalisation.transform == "absorbance":
                    x = x.clamp(min=1e-4)
        return x

    def loss_terms(self, batch: Mapping[str, Tensor], kl_weight: float) -> dict[str, Tensor]:
        """All loss terms of a batch.

        Args:
            batch: ``{"image": (N, B)}`` and optionally ``"view"`` (N, B), another scan of each sample.
            kl_weight: beta_t.

        Returns:
            ``loss``, ``reconstruction`` (per-band MSE of standardised features), ``kl`` (nats per
            spectrum), ``consistency`` (0 without views), as scalar tensors.
        """
        x = batch["image"].float()
        target = self.model.features(x)
        reconstruction, mu, logvar = self.model(x)
        rec = torch.mean((reconstruction - target) ** 2)
        kl = kl_divergence(mu, logvar).mean()
        consistency = rec.new_zeros(())
        source = batch.get("view")
        if source is not None or self.has_views:
            source = x if source is None else source.float()
            view = self.make_view(source)
            view_reconstruction, view_mu, view_logvar = self.model(view)
            rec = 0.5 * (rec + torch.mean((view_reconstruction - self.model.features(source)) ** 2))
            kl = 0.5 * (kl + kl_divergence(view_mu, view_logvar).mean())
            consistency = torch.mean((mu - view_mu) ** 2)
        loss = rec + kl_weight * kl + float(self.hparams["consistency_weight"]) * consistency
        return {"loss": loss, "reconstruction": rec, "kl": kl, "consistency": consistency}

    def training_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Loss of a training batch; logs its terms and the KL weight.

        Args:
            batch: ``{"image": (N, B), "view": (N, B)}`` (``view`` optional).
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            The loss (scalar tensor).
        """
        weight = self.kl_weight(batch_idx)
        terms = self.loss_terms(batch, weight)
        size = int(batch["image"].shape[0])
        for name, value in terms.items():
            self.log(f"train_{name}", value, batch_size=size)
        self.log("kl_weight", weight, batch_size=size)
        return terms["loss"]

    def _evaluate(self, batch: Any, prefix: str) -> None:
        x = batch["image"].float()
        reconstruction, mu, logvar = self.model(x)
        rec = torch.mean((reconstruction - self.model.features(x)) ** 2)
        kl = kl_divergence(mu, logvar).mean()
        rmse = torch.sqrt(torch.mean((self.model.decode(mu) - x) ** 2))
        size = int(x.shape[0])
        self.log(f"{prefix}_loss", rec + float(self.hparams["beta"]) * kl, batch_size=size)
        self.log(f"{prefix}_reconstruction", rec, batch_size=size)
        self.log(f"{prefix}_kl", kl, batch_size=size)
        self.log(f"{prefix}_rmse", rmse, batch_size=size)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Embeddings of a batch.

        Args:
            batch: ``{"image": (N, B)}``.
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            Float tensor (N, K), the posterior means.
        """
        return self.model.embed(batch["image"])


class MultiFidelityTask(EvaluationSteps, _OptimiserMixin, BaseTask):
    """A low-fidelity encoder trained into a pretrained VAE's latent space through its frozen decoder.

    Only the new encoder is optimised; the high-fidelity decoder (and encoder, used for the latent
    targets) keep ``requires_grad=False`` and stay in eval mode. ``task.model`` is the
    :class:`~eospec.models.vae.SpectralConverter`. The new encoder's input normalisation is fitted
    on the training spectra at the start of ``fit`` unless already set.

    Args:
        high_fidelity: the pretrained :class:`~eospec.models.vae.SpectralVAE` of the target domain.
        in_bands: number of low-fidelity bands, B_lo.
        model: ``"fc"`` or ``"conv"`` (the new encoder).
        model_kwargs: other :class:`~eospec.models.vae.SpectralEncoder` arguments (``hidden``,
            ``channels``, ``kernel_size``, ``activation``, ``quantity``, ``transform``);
            ``latent_dim`` is the high-fidelity model's.
        reconstruction_weight: weight of the reconstruction term through the frozen decoder.
        latent_weight: weight of the distance to the high-fidelity posterior means.
        beta: weight of the KL term of the new encoder (its codes are then sampled); 0 uses the means.
        lr: learning rate.
        weight_decay: weight decay.
        optimizer: ``"adam"`` or ``"adamw"``.
        patience: ReduceLROnPlateau patience on ``val_loss``; None for a constant rate.

    Raises:
        ValueError: If a name is unknown, a weight negative, both term weights zero, or the
            high-fidelity model has no input normalisation.
    """

    monitor = "val_loss"
    mode = "min"
    ignore = ("high_fidelity",)

    def __init__(
        self,
        high_fidelity: SpectralVAE,
        in_bands: int,
        model: str = "fc",
        model_kwargs: dict[str, Any] | None = None,
        reconstruction_weight: float = 1.0,
        latent_weight: float = 0.0,
        beta: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        patience: int | None = None,
    ) -> None:
        if not isinstance(high_fidelity, SpectralVAE):
            raise ValueError(f"high_fidelity must be a pretrained SpectralVAE, got {type(high_fidelity).__name__}")
        if not high_fidelity.is_normalised:
            raise ValueError(
                "high_fidelity has no input normalisation: pretrain it (VAETask) or load its weights first"
            )
        if model not in KINDS:
            raise ValueError(f"model {model!r} is unknown: use one of {', '.join(map(repr, KINDS))}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {optimizer!r} is unknown: use one of {', '.join(map(repr, OPTIMIZERS))}")
        for name, value in (("reconstruction_weight", reconstruction_weight), ("latent_weight", latent_weight)):
            _check_positive(name, value)
        _check_positive("beta", beta)
        _check_positive("lr", lr, allow_zero=False)
        if reconstruction_weight == 0 and latent_weight == 0:
            raise ValueError("reconstruction_weight and latent_weight are both 0: give at least one a positive weight")
        # configure_models (run by BaseTask.__init__) needs the module before nn.Module is set up.
        self.__dict__["_pending_high_fidelity"] = high_fidelity
        super().__init__()

    def configure_models(self) -> None:
        """The new encoder, the frozen high-fidelity encoder and decoder, and the converter."""
        high: SpectralVAE = self.__dict__.pop("_pending_high_fidelity")
        self.encoder = SpectralEncoder(
            self.hparams["in_bands"],
            high.latent_dim,
            kind=self.hparams["model"],
            **(self.hparams["model_kwargs"] or {}),
        )
        self.target_encoder = high.encoder
        self.decoder = high.decoder
        for frozen in (self.target_encoder, self.decoder):
            frozen.requires_grad_(False)
            frozen.eval()
        self.model = SpectralConverter(self.encoder, self.decoder)

    def train(self, mode: bool = True) -> MultiFidelityTask:
        """Set training mode, keeping the frozen high-fidelity modules in eval mode.

        Args:
            mode: training (True) or evaluation (False).

        Returns:
            The task.
        """
        super().train(mode)
        self.target_encoder.eval()
        self.decoder.eval()
        return self

    def on_fit_start(self) -> None:
        """Fit the new encoder's input normalisation on the training spectra if it is not set."""
        if not bool(self.encoder.normalisation.fitted):
            self.encoder.normalisation.fit(
                training_spectra(self, "low-fidelity encoder", "encoder.normalisation.fit", _VAE_DATAMODULES)
            )

    def configure_optimizers(self) -> lightning.pytorch.utilities.types.OptimizerLRScheduler:
        """Adam or AdamW on the new encoder's parameters only.

        Returns:
            The optimiser, or a dict with the optimiser and the scheduler.
        """
        return self._optimiser(self.encoder.parameters())

    def loss_terms(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """All loss terms of a batch of pairs.

        Args:
            batch: ``{"image": (N, B_lo), "target": (N, B_hi)}``.

        Returns:
            ``loss``, ``reconstruction`` (per-band MSE of the target's standardised features),
            ``latent`` (per-dimension MSE to the high-fidelity means) and ``kl``, scalar tensors.
        """
        x = batch["image"].float()
        target = batch["target"].float()
        mu, logvar = self.encoder(x)
        beta = float(self.hparams["beta"])
        z = SpectralVAE.reparameterize(mu, logvar) if beta > 0 and self.training else mu
        terms: dict[str, Tensor] = {}
        terms["reconstruction"] = torch.mean(
            (self.decoder.decode_features(z) - self.target_encoder.features(target)) ** 2
        )
        with torch.no_grad():
            target_mu, _ = self.target_encoder(target)
        terms["latent"] = torch.mean((mu - target_mu) ** 2)
        terms["kl"] = kl_divergence(mu, logvar).mean()
        terms["loss"] = (
            float(self.hparams["reconstruction_weight"]) * terms["reconstruction"]
            + float(self.hparams["latent_weight"]) * terms["latent"]
            + beta * terms["kl"]
        )
        return terms

    def training_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Loss of a training batch of pairs; logs its terms.

        Args:
            batch: ``{"image": (N, B_lo), "target": (N, B_hi)}``.
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            The loss (scalar tensor).
        """
        terms = self.loss_terms(batch)
        for name, value in terms.items():
            self.log(f"train_{name}", value, batch_size=int(batch["image"].shape[0]))
        return terms["loss"]

    def _evaluate(self, batch: Any, prefix: str) -> None:
        terms = self.loss_terms(batch)
        size = int(batch["image"].shape[0])
        for name, value in terms.items():
            self.log(f"{prefix}_{name}", value, batch_size=size)
        rmse = torch.sqrt(torch.mean((self.model(batch["image"].float()) - batch["target"].float()) ** 2))
        self.log(f"{prefix}_rmse", rmse, batch_size=size)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Converted spectra of a batch.

        Args:
            batch: ``{"image": (N, B_lo)}``.
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            Float tensor (N, B_hi) in the target's quantity.
        """
        converted: Tensor = self.model(batch["image"].float())
        return converted


# ----------------------------------------------------------------------------------------------
# Data


class RepeatSpectraDataset(Dataset[dict[str, Tensor]]):
    """Spectra with their sample ids; each item carries a random other scan of the same sample.

    Args:
        spectra: float array (N, B), finite.
        sample_ids: array (N,) of ids; rows sharing an id are scan repeats. None: every row its own sample.
        seed: seed of the draws of repeats.

    Raises:
        ValueError: If shapes disagree or a value is not finite.
    """

    def __init__(self, spectra: npt.ArrayLike | Tensor, sample_ids: npt.ArrayLike | None = None, seed: int = 0) -> None:
        self.spectra = _as_float32(spectra, "spectra")
        n = len(self.spectra)
        ids = np.arange(n) if sample_ids is None else np.asarray(sample_ids)
        if ids.shape != (n,):
            raise ValueError(f"sample_ids must have shape ({n},); got shape {ids.shape}")
        codes, _ = pd.factorize(pd.Series(ids), sort=False)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(codes.max() + 2 if n else 1))
        self._members = order
        self._start = bounds[codes] if n else np.zeros(0, np.int64)
        self._count = (bounds[codes + 1] - bounds[codes]) if n else np.zeros(0, np.int64)
        self._rng = np.random.default_rng(seed)

    @property
    def n_with_repeats(self) -> int:
        """Number of spectra whose sample has more than one scan."""
        return int(np.sum(self._count > 1))

    def __len__(self) -> int:
        return len(self.spectra)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        count = int(self._count[index])
        other = index
        if count > 1:
            other = int(self._members[self._start[index] + int(self._rng.integers(count))])
        return {"image": self.spectra[index], "view": self.spectra[other]}


class PairedSpectraDataset(Dataset[dict[str, Tensor]]):
    """Paired spectra of the same samples in two domains: ``{"image": low (B_lo,), "target": high (B_hi,)}``.

    Args:
        source: float array (N, B_lo), the low-fidelity spectra.
        target: float array (N, B_hi), the high-fidelity spectra of the same N samples (same order).

    Raises:
        ValueError: If the lengths differ or a value is not finite.
    """

    def __init__(self, source: npt.ArrayLike | Tensor, target: npt.ArrayLike | Tensor) -> None:
        self.spectra = _as_float32(source, "source spectra")
        self.targets = _as_float32(target, "target spectra")
        if len(self.spectra) != len(self.targets):
            raise ValueError(
                f"{len(self.spectra)} source and {len(self.targets)} target spectra: pass the pairs in the same order"
            )

    def __len__(self) -> int:
        return len(self.spectra)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"image": self.spectra[index], "target": self.targets[index]}


SpectraWithIds = npt.ArrayLike | tuple[npt.ArrayLike, npt.ArrayLike | None]


def _repeat_dataset(data: SpectraWithIds, seed: int) -> RepeatSpectraDataset:
    if isinstance(data, tuple):
        return RepeatSpectraDataset(data[0], data[1], seed)
    return RepeatSpectraDataset(data, None, seed)


class VAEDataModule(SplitLoadersDataModule):
    """In-memory spectra (with optional sample ids for scan repeats) for :class:`VAETask`.

    Args:
        train: spectra (N, B), or ``(spectra, sample_ids)``.
        val: optional validation spectra, same forms.
        test: optional test spectra, same forms.
        batch_size: training batch size.
        eval_batch_size: batch size of validation, test and prediction.
        num_workers: DataLoader workers.
        seed: seed of the draws of repeats.
    """

    def __init__(
        self,
        train: SpectraWithIds,
        val: SpectraWithIds | None = None,
        test: SpectraWithIds | None = None,
        batch_size: int = 128,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        self.train_dataset = _repeat_dataset(train, seed)
        self.val_dataset = _repeat_dataset(val, seed) if val is not None else None
        self.test_dataset = _repeat_dataset(test, seed) if test is not None else None


class PairedSpectraDataModule(SplitLoadersDataModule):
    """In-memory paired spectra for :class:`MultiFidelityTask`.

    Args:
        train: ``(source (N, B_lo), target (N, B_hi))``.
        val: optional validation pairs.
        test: optional test pairs.
        batch_size: training batch size.
        eval_batch_size: batch size of validation, test and prediction.
        num_workers: DataLoader workers.
    """

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
        self.set_splits(PairedSpectraDataset, train, val, test)


# ----------------------------------------------------------------------------------------------
# Convenience


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info logs and its warnings about deliberate choices while training.

    The choices: frozen modules in eval mode, in-process data loading.
    """
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for message in ("treespec", "module\\(s\\) in eval mode", "does not have many workers"):
                warnings.filterwarnings("ignore", message=f".*{message}.*")
            yield
    finally:
        logger.setLevel(level)


def _trainer(epochs: int, validate: bool, callbacks: Sequence[Any] = ()) -> Trainer:
    return Trainer(
        max_epochs=int(epochs),
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=1.0 if validate else 0,
        num_sanity_val_steps=0,
        callbacks=list(callbacks),
    )


def train_vae(
    spectra: npt.ArrayLike,
    sample_ids: npt.ArrayLike | None = None,
    *,
    epochs: int = 200,
    batch_size: int = 128,
    seed: int = 0,
    val: SpectraWithIds | None = None,
    **task_kwargs: Any,
) -> SpectralVAE:
    """Pretrain a :class:`~eospec.models.vae.SpectralVAE` on spectra with :class:`VAETask` (CPU).

    Args:
        spectra: float array (N, B) in the model's quantity (reflectance 0-1 unless
            ``model_kwargs={"quantity": "absorbance"}``), finite.
        sample_ids: optional ids (N,); rows sharing an id are scan repeats (views).
        epochs: training epochs.
        batch_size: batch size.
        seed: seed of the initialisation, shuffling and draws.
        val: optional validation spectra (logged only).
        **task_kwargs: :class:`VAETask` arguments (``model``, ``latent_dim``, ``beta``, ...).

    Returns:
        The trained VAE, in eval mode.

    Raises:
        ValueError: If the spectra are not finite (N, B), or as :class:`VAETask`.
    """
    from lightning.pytorch import seed_everything

    values = np.asarray(spectra, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"spectra must have shape (N, B); got shape {values.shape}")
    with _quiet_lightning():
        seed_everything(seed, verbose=False)
        task = VAETask(in_bands=values.shape[1], **task_kwargs)
        data = VAEDataModule((values, sample_ids), val=val, batch_size=batch_size, seed=seed)
        _trainer(epochs, val is not None).fit(task, datamodule=data)
    return task.model.eval()


def train_converter(
    high_fidelity: SpectralVAE,
    source: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    epochs: int = 200,
    batch_size: int = 64,
    seed: int = 0,
    val: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    **task_kwargs: Any,
) -> SpectralConverter:
    """Train a low-fidelity encoder into ``high_fidelity``'s latent space (:class:`MultiFidelityTask`, CPU).

    Args:
        high_fidelity: the pretrained target-domain VAE (its decoder is frozen).
        source: float array (N, B_lo), low-fidelity spectra.
        target: float array (N, B_hi), the same samples' high-fidelity spectra (same order).
        epochs: training epochs.
        batch_size: batch size.
        seed: seed.
        val: optional validation pairs (logged only).
        **task_kwargs: :class:`MultiFidelityTask` arguments (``model``, ``model_kwargs``,
            ``reconstruction_weight``, ``latent_weight``, ``beta``, ``lr``, ...).

    Returns:
        The :class:`~eospec.models.vae.SpectralConverter`, in eval mode.

    Raises:
        ValueError: As :class:`MultiFidelityTask` and :class:`PairedSpectraDataset`.
    """
    from lightning.pytorch import seed_everything

    values = np.asarray(source, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"source spectra must have shape (N, B_lo); got shape {values.shape}")
    with _quiet_lightning():
        seed_everything(seed, verbose=False)
        task = MultiFidelityTask(high_fidelity, values.shape[1], **task_kwargs)
        data = PairedSpectraDataModule((values, target), val=val, batch_size=batch_size)
        _trainer(epochs, val is not None).fit(task, datamodule=data)
    return task.model.eval()

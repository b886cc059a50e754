r"""Masked autoencoder (MAE) pretraining of a Spec. ViT, as a Lightning task on TorchGeo's BaseTask.

He et al. (2022), "Masked Autoencoders Are Scalable Vision Learners", CVPR (arXiv:2111.06377),
as SpectralEarth applies it to EnMAP patches (Braham et al. 2024, arXiv:2408.08447, Sec. IV-B;
the authors' ``src/models/mae_module.py`` and ``configs/model/mae.yaml``: 4 x 4-pixel tokens,
mask ratio 0.9, one decoder block of width 512 with 16 heads, AdamW at 1e-4 with cosine decay).
TorchGeo 0.8 has no MAE task; this one follows its ``BaseTask`` hooks.

A random ``mask_ratio`` of the tokens of each patch is dropped; the encoder (spectral adapter,
patch embedding and position embedding of :class:`~eospec.models.backbones.SpecViTEncoder`, then
the transformer on the kept tokens and the class token) sees the rest; a light decoder puts mask
tokens back, adds its own position embedding and predicts every pixel's spectrum of each token
(``4 * 4 * B`` values). The loss is the mean squared error on the **masked** tokens only, over
valid pixels (the dataset's ``valid`` mask), **in reflectance units**: the decoder predicts
standardised values that are turned back into reflectance with the encoder's input statistics
before the comparison, so that

.. math::

    L = \frac{\sum_{t \in M} \sum_{p \in t,\ valid} \sum_b (\hat{r}_{pb} - r_{pb})^2}
             {B \cdot |\{(t, p): t \in M,\ p\ valid\}|},

and :math:`\sqrt{L}` (logged as ``*_rmse``) is the reconstruction error in reflectance (0-1).
``norm_pix_loss=True`` instead normalises each target token by its own mean and variance (the
MAE paper's and the SpectralEarth authors' choice); the loss is then unitless and no RMSE is logged.

Augmentation: random flips and 90-degree rotations per batch (the authors also use a random
resized crop, which resamples spectra spatially; add it with ``augmentations=``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch.utilities.types
import torch
from torch import Tensor, nn
from torch.optim import AdamW
from torch.optim.lr_scheduler import CosineAnnealingLR
from torchgeo.trainers import BaseTask

from eospec.datasets.spectral_earth import random_dihedral
from eospec.models.backbones import SpecViTEncoder
from eospec.models.foundation import get_foundation_model
from eospec.trainers._common import EvaluationSteps, check_band_stats

__all__ = ["MAEDecoder", "MAETask", "patchify", "random_masking", "unpatchify"]


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Cut images into square tokens, bands innermost.

    Args:
        images: tensor (N, C, H, W), H and W multiples of ``patch_size``.
        patch_size: token side p in pixels.

    Returns:
        Tensor (N, (H/p) * (W/p), p * p * C); element ``(i * p + j) * C + c`` of a token is band c
        of its pixel (i, j); tokens in row-major order of the token grid (as timm's patch embedding).
    """
    n, c, h, w = images.shape
    p = patch_size
    x = images.reshape(n, c, h // p, p, w // p, p)
    x = x.permute(0, 2, 4, 3, 5, 1)
    return x.reshape(n, (h // p) * (w // p), p * p * c)


def unpatchify(tokens: Tensor, patch_size: int, channels: int, grid: tuple[int, int]) -> Tensor:
    """Inverse of :func:`patchify`.

    Args:
        tokens: tensor (N, h * w, p * p * C).
        patch_size: p.
        channels: C.
        grid: (h, w), the token grid.

    Returns:
        Tensor (N, C, h * p, w * p).
    """
    n = tokens.shape[0]
    h, w = grid
    p = patch_size
    x = tokens.reshape(n, h, w, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, channels, h * p, w * p)


def random_masking(
    batch: int, length: int, mask_ratio: float, device: torch.device | None = None
) -> tuple[Tensor, Tensor]:
    """Random token masks: for each sample, keep ``round(length * (1 - mask_ratio))`` tokens (at least 1).

    Args:
        batch: N.
        length: tokens per sample L.
        mask_ratio: fraction of tokens to mask, 0 <= ratio < 1.
        device: device of the outputs.

    Returns:
        ``(keep, masked)``: int64 (N, K) indices of the kept tokens (sorted) and bool (N, L), True
        for masked tokens.
    """
    n_keep = max(1, int(round(length * (1.0 - mask_ratio))))
    noise = torch.rand(batch, length, device=device)
    keep = torch.argsort(noise, dim=1)[:, :n_keep].sort(dim=1).values
    masked = torch.ones(batch, length, dtype=torch.bool, device=device)
    masked.scatter_(1, keep, False)
    return keep, masked


class MAEDecoder(nn.Module):
    """Light MAE decoder: linear embedding, mask tokens, position embedding, timm blocks, pixel head.

    Args:
        num_tokens: tokens per patch L (the encoder's grid, (128 / 4)^2 = 1024 in SpectralEarth).
        num_prefix_tokens: class tokens before the patch tokens (1).
        encoder_dim: encoder token width.
        decoder_dim: decoder token width (512).
        depth: decoder blocks (1).
        num_heads: decoder attention heads (16).
        mlp_ratio: MLP width / decoder_dim (4).
        out_dim: values predicted per token (p * p * B).
    """

    def __init__(
        self,
        num_tokens: int,
        num_prefix_tokens: int,
        encoder_dim: int,
        decoder_dim: int = 512,
        depth: int = 1,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        out_dim: int = 16 * 202,
    ) -> None:
        super().__init__()
        from timm.models.vision_transformer import Block

        self.num_prefix_tokens = num_prefix_tokens
        self.embed = nn.Linear(encoder_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_prefix_tokens + num_tokens, decoder_dim))
        self.blocks = nn.Sequential(
            *[Block(decoder_dim, num_heads, mlp_ratio, qkv_bias=True, norm_layer=nn.LayerNorm) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(decoder_dim)
        self.pred = nn.Linear(decoder_dim, out_dim)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, encoded: Tensor, keep: Tensor, length: int) -> Tensor:
        """Predict every token's pixel values.

        Args:
            encoded: float (N, P + K, encoder_dim), prefix tokens then the K kept tokens.
            keep: int64 (N, K), grid positions of the kept tokens.
            length: L, tokens in the full grid.

        Returns:
            Float tensor (N, L, out_dim).
        """
        x = self.embed(encoded)
        prefix, kept = x[:, : self.num_prefix_tokens], x[:, self.num_prefix_tokens :]
        full = self.mask_token.expand(x.shape[0], length, -1).clone()
        full = full.scatter(1, keep[..., None].expand(-1, -1, x.shape[-1]), kept)
        x = torch.cat([prefix, full], dim=1)
        pos = self.pos_embed
        if pos.shape[1] != x.shape[1]:
            from timm.layers import resample_abs_pos_embed

            side = int(round(length**0.5))
            pos = resample_abs_pos_embed(pos, new_size=[side, side], num_prefix_tokens=self.num_prefix_tokens)
        x = self.norm(self.blocks(x + pos))
        out: Tensor = self.pred(x[:, self.num_prefix_tokens :])
        return out


class MAETask(EvaluationSteps, BaseTask):
    """MAE pretraining of a Spec. ViT on SpectralEarth-like batches (module docstring).

    Batches are dicts with ``image`` (float (N, B, H, W) reflectance; or ``image1``, the first
    view of a two-view dataset) and optionally ``valid`` (bool (N, H, W)); H and W multiples of 4.

    Args:
        model: a ViT architecture of :mod:`eospec.models.foundation` (``"spec_vit_small"``, ...).
        weights: optional checkpoint path to start from (authors' or our layout).
        model_kwargs: builder arguments (e.g. ``img_size=128`` or tiny sizes for tests).
        in_channels: number of input bands B (202).
        band_mean: per-band input mean (B,) in reflectance (default: 0).
        band_std: per-band input standard deviation (B,) in reflectance (default: 1).
        mask_ratio: fraction of tokens masked (0.9 in SpectralEarth, 0.75 in the MAE paper).
        decoder_dim: decoder width.
        decoder_depth: decoder blocks.
        decoder_num_heads: decoder attention heads.
        norm_pix_loss: normalise each target token (unitless loss) instead of reflectance units.
        augment: random flips/90-degree rotations of each batch.
        augmentations: extra batch augmentation (float (N, B, H, W) -> same), after the flips.
        lr: AdamW learning rate (1e-4 in SpectralEarth for a batch of 64 per GPU).
        weight_decay: AdamW weight decay.
        max_epochs: T_max of the cosine schedule (default: the trainer's max_epochs).

    Raises:
        ValueError: If ``model`` is not a ViT, ``mask_ratio`` is outside [0, 1) or the statistics
            do not have one value per band.
    """

    ignore = ("weights", "augmentations")
    monitor = "val_loss"
    mode = "min"

    def __init__(
        self,
        model: str = "spec_vit_small",
        weights: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        in_channels: int = 202,
        band_mean: Sequence[float] | None = None,
        band_std: Sequence[float] | None = None,
        mask_ratio: float = 0.9,
        decoder_dim: int = 512,
        decoder_depth: int = 1,
        decoder_num_heads: int = 16,
        norm_pix_loss: bool = False,
        augment: bool = True,
        augmentations: Callable[[Tensor], Tensor] | None = None,
        lr: float = 1e-4,
        weight_decay: float = 0.05,
        max_epochs: int | None = None,
    ) -> None:
        if not model.startswith("spec_vit"):
            raise ValueError(f"model {model!r} is not a ViT: MAE needs a token model such as 'spec_vit_small'")
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio {mask_ratio!r} is invalid: use a fraction in [0, 1), e.g. 0.75 or 0.9")
        check_band_stats(band_mean, band_std)
        if band_mean is not None and len(band_mean) != in_channels:
            raise ValueError(f"{len(band_mean)} band means do not match in_channels={in_channels}: give one per band")
        self.weights = weights
        self.augmentations = augmentations
        super().__init__()

    def configure_models(self) -> None:
        """Build the encoder (with its input statistics) and the decoder."""
        encoder = get_foundation_model(self.hparams["model"], self.weights, **(self.hparams["model_kwargs"] or {}))
        if not isinstance(encoder, SpecViTEncoder):
            raise ValueError(f"model {self.hparams['model']!r} did not build a ViT encoder")
        if self.hparams["band_mean"] is not None:
            encoder.set_input_statistics(self.hparams["band_mean"], self.hparams["band_std"])
        self.encoder = encoder
        grid = encoder.img_size // encoder.output_stride
        self.n_bands = int(self.hparams["in_channels"])
        self.decoder = MAEDecoder(
            num_tokens=grid * grid,
            num_prefix_tokens=encoder.num_prefix_tokens,
            encoder_dim=encoder.num_features,
            decoder_dim=self.hparams["decoder_dim"],
            depth=self.hparams["decoder_depth"],
            num_heads=self.hparams["decoder_num_heads"],
            out_dim=encoder.output_stride**2 * self.n_bands,
        )

    def configure_losses(self) -> None:
        """Nothing to build: the masked MSE is computed in :meth:`reconstruction_loss`."""

    def configure_optimizers(self) -> lightning.pytorch.utilities.types.OptimizerLRScheduler:
        """AdamW (betas 0.9, 0.95) with cosine decay over the epochs.

        Returns:
            The optimiser and the scheduler.
        """
        optimizer = AdamW(
            self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"], betas=(0.9, 0.95)
        )
        t_max = self.hparams["max_epochs"] or (self._trainer.max_epochs if self._trainer is not None else None) or 100
        scheduler = CosineAnnealingLR(optimizer, T_max=max(int(t_max), 1))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler}}

    # -- model ----------------------------------------------------------------------------------

    def encode_visible(self, images: Tensor, keep: Tensor) -> Tensor:
        """Encode the kept tokens (and the class token) of a batch.

        Args:
            images: float (N, B, H, W) reflectance.
            keep: int64 (N, K) kept token positions.

        Returns:
            Float tensor (N, P + K, D) after the final norm.
        """
        vit = self.encoder.vit_core
        tokens = vit._pos_embed(vit.patch_embed(self.encoder.adapt(images)))
        prefix_count = self.encoder.num_prefix_tokens
        prefix, patches = tokens[:, :prefix_count], tokens[:, prefix_count:]
        kept = patches.gather(1, keep[..., None].expand(-1, -1, patches.shape[-1]))
        x = vit.norm_pre(torch.cat([prefix, kept], dim=1))
        x = vit.blocks(x)
        out: Tensor = vit.norm(x)
        return out

    def _to_reflectance(self, prediction: Tensor) -> Tensor:
        mean, std = self.encoder.input_mean, self.encoder.input_std
        if mean is None or std is None:
            return prediction
        p2 = self.encoder.output_stride**2
        return prediction * std.repeat(p2) + mean.repeat(p2)

    def reconstruct(self, images: Tensor, mask_ratio: float | None = None) -> tuple[Tensor, Tensor]:
        """Mask, encode and decode a batch.

        Args:
            images: float (N, B, H, W) reflectance (H, W multiples of 4).
            mask_ratio: fraction masked (default: the task's).

        Returns:
            ``(prediction, masked)``: float (N, L, p * p * B) predicted tokens (reflectance, or
            normalised units with ``norm_pix_loss``) and bool (N, L), True for masked tokens.

        Raises:
            ValueError: If the number of bands differs from the decoder's.
        """
        if images.shape[1] != self.n_bands:
            raise ValueError(
                f"images have {images.shape[1]} bands but the task was built for {self.n_bands}: pass band_mean/"
                "band_std with one value per band"
            )
        n, _, h, w = images.shape
        p = self.encoder.output_stride
        length = (h // p) * (w // p)
        ratio = self.hparams["mask_ratio"] if mask_ratio is None else mask_ratio
        keep, masked = random_masking(n, length, ratio, images.device)
        encoded = self.encode_visible(images, keep)
        prediction = self.decoder(encoded, keep, length)
        if not self.hparams["norm_pix_loss"]:
            prediction = self._to_reflectance(prediction)
        return prediction, masked

    def reconstruction_loss(
        self, images: Tensor, valid: Tensor | None = None, mask_ratio: float | None = None
    ) -> tuple[Tensor, int]:
        """Masked-token MSE of a batch (module docstring).

        Args:
            images: float (N, B, H, W) reflectance.
            valid: bool (N, H, W), False for nodata pixels (left out of the loss), or None.
            mask_ratio: fraction masked (default: the task's).

        Returns:
            ``(loss, count)``: the scalar loss and the number of (pixel, band) values it averages.
        """
        prediction, masked = self.reconstruct(images, mask_ratio)
        p = self.encoder.output_stride
        bands = images.shape[1]
        target = patchify(images, p)
        if self.hparams["norm_pix_loss"]:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        weight = masked[..., None].to(target.dtype).expand_as(target)
        if valid is not None:
            pixel_valid = patchify(valid[:, None].to(target.dtype), p)  # (N, L, p*p)
            weight = weight * pixel_valid.repeat_interleave(bands, dim=-1)
        count = weight.sum()
        loss = ((prediction - target) ** 2 * weight).sum() / count.clamp(min=1.0)
        return loss, int(count.item())

    # -- steps ----------------------------------------------------------------------------------

    def _batch(self, batch: dict[str, Any], augment: bool) -> tuple[Tensor, Tensor | None]:
        images = (batch["image"] if "image" in batch else batch["image1"]).float()
        valid = batch.get("valid", batch.get("valid1"))
        if augment:
            with torch.no_grad():
                if self.hparams["augment"]:
                    stacked = images if valid is None else torch.cat([images, valid[:, None].to(images.dtype)], 1)
                    stacked = random_dihedral(stacked)
                    images, valid = (stacked, None) if valid is None else (stacked[:, :-1], stacked[:, -1] > 0.5)
                if self.augmentations is not None:
                    images = self.augmentations(images)
        return images, (valid.bool() if valid is not None else None)

    def training_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Masked reconstruction loss of an augmented batch.

        Args:
            batch: dict with ``image`` (or ``image1``) and optionally ``valid``.
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.

        Returns:
            The loss.
        """
        images, valid = self._batch(batch, augment=True)
        loss, _ = self.reconstruction_loss(images, valid)
        self.log("train_loss", loss, batch_size=images.shape[0])
        if not self.hparams["norm_pix_loss"]:
            self.log("train_rmse", loss.detach().sqrt(), batch_size=images.shape[0])
        return loss

    def _evaluate(self, batch: Any, prefix: str) -> None:
        images, valid = self._batch(batch, augment=False)
        loss, _ = self.reconstruction_loss(images, valid)
        self.log(f"{prefix}_loss", loss, batch_size=images.shape[0])
        if not self.hparams["norm_pix_loss"]:
            self.log(f"{prefix}_rmse", loss.sqrt(), batch_size=images.shape[0])

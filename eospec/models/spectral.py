"""Per-pixel spectral regression models that run band-major, without transposing scenes.

A scene window arrives from GDAL as (B, H, W): bands first. Reshaped to (B, N) with N = H * W
(a view, no copy), a fully connected layer is a single matrix product ``W @ x`` on the band
axis. :class:`SpectralRegressor` keeps every linear preprocessing step (input standardisation,
band selection) folded into that first product, so mapping a scene needs no (N, B) copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

__all__ = ["SpectralRegressor", "Transform"]

Transform = Literal["reflectance", "absorbance"]


class SpectralRegressor(nn.Module):
    r"""A fully connected network (or a linear model) on reflectance spectra.

    The forward pass, for a reflectance spectrum :math:`r` (0-1) at the model's bands:

    1. ``transform``: ``"reflectance"`` keeps :math:`r`; ``"absorbance"`` uses
       :math:`\log_{10}(1/r)` (the usual NIR-spectroscopy form, e.g. Stenberg et al. 2010,
       *Adv. Agron.* 107), with :math:`r` clipped to at least 1e-4;
    2. ``snv``: optional standard normal variate per spectrum (Barnes et al. 1989, *Appl. Spectrosc.*
       43(5), Eq. 1): subtract the spectrum's mean over bands, divide by its standard deviation;
    3. standardisation with the training set's per-band ``input_mean`` and ``input_scale``;
    4. linear layers with ReLU between them (no hidden layer: a linear model such as PLSR).

    Args:
        n_bands: number of input bands, B.
        hidden: sizes of the hidden layers, e.g. ``(128, 64)``; ``()`` for a linear model.
        n_outputs: number of predicted properties.
        transform: ``"reflectance"`` or ``"absorbance"``.
        snv: whether to apply SNV after the transform.

    Raises:
        ValueError: If ``transform`` is unknown or a size is not positive.
    """

    input_mean: torch.Tensor
    input_scale: torch.Tensor

    def __init__(
        self,
        n_bands: int,
        hidden: Sequence[int] = (),
        n_outputs: int = 1,
        transform: Transform = "reflectance",
        snv: bool = False,
    ) -> None:
        super().__init__()
        if transform not in ("reflectance", "absorbance"):
            raise ValueError(f"Invalid transform: {transform!r}. Must be 'reflectance' or 'absorbance'")
        sizes = [n_bands, *hidden, n_outputs]
        if any(size < 1 for size in sizes):
            raise ValueError(f"Layer sizes must be positive, got {sizes}")
        self.transform = transform
        self.snv = snv
        self.hidden = tuple(int(size) for size in hidden)
        self.register_buffer("input_mean", torch.zeros(n_bands))
        self.register_buffer("input_scale", torch.ones(n_bands))
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    @property
    def n_bands(self) -> int:
        """Number of input bands, B."""
        return int(self.input_mean.numel())

    def _features(self, x: torch.Tensor, band_axis: int) -> torch.Tensor:
        if self.transform == "absorbance":
            x = -torch.log10(x.clamp(min=1e-4))
        if self.snv:
            mean = x.mean(dim=band_axis, keepdim=True)
            std = x.std(dim=band_axis, keepdim=True).clamp(min=1e-8)
            x = (x - mean) / std
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict from pixel-major spectra.

        Args:
            x: float32 tensor of shape (N, B), reflectance (0-1) at the model's bands.

        Returns:
            float32 tensor of shape (N, n_outputs).
        """
        x = self._features(x, band_axis=1)
        x = (x - self.input_mean) / self.input_scale
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < len(self.layers) - 1:
                x = torch.relu(x)
        return x

    def folded_first_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """First-layer weight and bias with the standardisation folded in.

        Returns:
            ``(weight, bias)`` of shapes (H1, B) and (H1,) such that
            ``weight @ x + bias[:, None]`` equals the first layer on standardised features.
        """
        first = self.layers[0]
        assert isinstance(first, nn.Linear)
        weight = first.weight / self.input_scale[None, :]
        bias = first.bias - weight @ self.input_mean
        return weight, bias

    def forward_band_major(
        self, x: torch.Tensor, first_weight: torch.Tensor | None = None, first_bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict from band-major spectra, without transposing them.

        Args:
            x: float32 tensor of shape (B_in, N): reflectance, or raw digital numbers when
                ``first_weight`` already folds in their scaling and band selection (see
                :func:`eospec.mapping.fold_scene_into_model`). Only valid for
                ``transform == "reflectance"`` without SNV when ``first_weight`` is given.
            first_weight: optional (H1, B_in) replacement of the folded first-layer weight.
            first_bias: optional (H1,) replacement of the folded first-layer bias.

        Returns:
            float32 tensor of shape (n_outputs, N).
        """
        if first_weight is None or first_bias is None:
            x = self._features(x, band_axis=0)
            first_weight, first_bias = self.folded_first_layer()
        # x.T is a strided view: BLAS reads it as a transposed operand, nothing is copied. The
        # pixel-major product (N, B) @ (B, H1) is the faster GEMM shape on CPU.
        h = nn.functional.linear(x.T, first_weight, first_bias)
        for layer in list(self.layers)[1:]:
            assert isinstance(layer, nn.Linear)
            h = nn.functional.linear(torch.relu_(h), layer.weight, layer.bias)
        return h.T

"""Per-pixel spectral regression models that run band-major, without transposing scenes.

A scene window arrives from GDAL as (B, H, W): bands first. Reshaped to (B, N) with N = H * W
(a view, no copy), a fully connected layer is a single matrix product ``W @ x`` on the band
axis. :class:`SpectralRegressor` keeps every linear preprocessing step (input standardisation,
band selection) folded into that first product, so mapping a scene needs no (N, B) copy.

A model may also carry an external parameter orthogonalisation (EPO) of its input, a projection
in absorbance that removes the directions in which soil moisture moves a spectrum
(:meth:`SpectralRegressor.set_epo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

__all__ = ["SpectralRegressor", "Transform"]

Transform = Literal["reflectance", "absorbance"]


class SpectralRegressor(nn.Module):
    r"""A fully connected network (or a linear model) on reflectance spectra.

    The forward pass, for a reflectance spectrum :math:`r` (0-1) at the model's bands:

    0. ``epo_components`` g > 0: external parameter orthogonalisation (EPO; Roger et al. 2003,
       *Chemometr. Intell. Lab. Syst.* 66, 191-204; for soil moisture Minasny et al. 2011,
       *Geoderma* 167-168, 118-124) in absorbance :math:`a = \log_{10}(1/r)` (:math:`r` clipped to
       at least 1e-4): :math:`a' = a - (a - m) V V^T` with ``epo_basis`` :math:`V` (B, g), the
       orthonormal directions of the external parameter, and ``epo_mean`` :math:`m` (B,), the
       calibration mean; i.e. :math:`a` projected by :math:`P = I - V V^T` about :math:`m`. The
       step returns reflectance :math:`10^{-a'}` to the steps below, so it runs in front of either
       transform;
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
        epo_components: g, the number of EPO directions removed (0: no EPO step). The model then
            holds the float32 buffers ``epo_mean`` (B,) and ``epo_basis`` (B, g), zeros until
            :meth:`set_epo` (or a ``state_dict``) sets them.

    Raises:
        ValueError: If ``transform`` is unknown, a size is not positive, or ``epo_components`` is
            negative or larger than B.
    """

    input_mean: torch.Tensor
    input_scale: torch.Tensor
    epo_mean: torch.Tensor
    epo_basis: torch.Tensor

    def __init__(
        self,
        n_bands: int,
        hidden: Sequence[int] = (),
        n_outputs: int = 1,
        transform: Transform = "reflectance",
        snv: bool = False,
        epo_components: int = 0,
    ) -> None:
        super().__init__()
        if transform not in ("reflectance", "absorbance"):
            raise ValueError(f"Invalid transform: {transform!r}. Must be 'reflectance' or 'absorbance'")
        sizes = [n_bands, *hidden, n_outputs]
        if any(size < 1 for size in sizes):
            raise ValueError(f"Layer sizes must be positive, got {sizes}")
        if not 0 <= epo_components <= n_bands:
            raise ValueError(f"epo_components {epo_components} is outside 0-{n_bands}: pass 0 (no EPO) to {n_bands}")
        self.transform = transform
        self.snv = snv
        self.epo_components = int(epo_components)
        self.hidden = tuple(int(size) for size in hidden)
        self.register_buffer("input_mean", torch.zeros(n_bands))
        self.register_buffer("input_scale", torch.ones(n_bands))
        if self.epo_components:
            self.register_buffer("epo_mean", torch.zeros(n_bands))
            self.register_buffer("epo_basis", torch.zeros(n_bands, self.epo_components))
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    @property
    def n_bands(self) -> int:
        """Number of input bands, B."""
        return int(self.input_mean.numel())

    def set_epo(self, mean: npt.ArrayLike | torch.Tensor, basis: npt.ArrayLike | torch.Tensor) -> SpectralRegressor:
        """Set the EPO projection, e.g. from a fitted ``chemotools`` ``ExternalParameterOrthogonalization``.

        Args:
            mean: shape (B,), the calibration mean absorbance m (chemotools' ``mean_X_``).
            basis: shape (B, g), orthonormal columns V spanning the external parameter's directions
                in absorbance (chemotools' ``V_epo_``).

        Returns:
            The module itself.

        Raises:
            ValueError: If the model has no EPO step, or a shape does not match (B,) and (B, g),
                or the columns of ``basis`` are not orthonormal (to 1e-4).
        """
        if not self.epo_components:
            raise ValueError("this model has no EPO step: build it with epo_components=g > 0")
        mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float64))
        basis_t = torch.as_tensor(np.asarray(basis, dtype=np.float64))
        expected = (self.n_bands, self.epo_components)
        if tuple(mean_t.shape) != expected[:1] or tuple(basis_t.shape) != expected:
            raise ValueError(
                f"EPO mean {tuple(mean_t.shape)} and basis {tuple(basis_t.shape)} do not fit this model: "
                f"pass shapes ({expected[0]},) and {expected}"
            )
        gram = basis_t.T @ basis_t
        if not torch.allclose(gram, torch.eye(self.epo_components, dtype=gram.dtype), atol=1e-4):
            raise ValueError("the EPO basis columns are not orthonormal: pass right singular vectors (V_epo_)")
        with torch.no_grad():
            self.epo_mean.copy_(mean_t.to(self.epo_mean.dtype))
            self.epo_basis.copy_(basis_t.to(self.epo_basis.dtype))
        return self

    def _orthogonalise(self, x: torch.Tensor, band_axis: int) -> torch.Tensor:
        """The EPO step: reflectance in, reflectance out (see the class docstring)."""
        a = -torch.log10(x.clamp(min=1e-4))
        if band_axis == 1:
            a = a - ((a - self.epo_mean) @ self.epo_basis) @ self.epo_basis.T
        else:
            a = a - self.epo_basis @ (self.epo_basis.T @ (a - self.epo_mean[:, None]))
        return torch.pow(10.0, -a)

    def _features(self, x: torch.Tensor, band_axis: int) -> torch.Tensor:
        if self.epo_components:
            x = self._orthogonalise(x, band_axis)
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
                :func:`eospec.mapping.fold_first_layer`). Only valid for
                ``transform == "reflectance"`` without SNV or EPO when ``first_weight`` is given.
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

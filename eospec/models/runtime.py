"""Inference of a :class:`~eospec.models.spectral.SpectralRegressor` in NumPy, without torch.

Mapping a scene runs a small per-pixel network on the pixels that pass the masks; importing torch
for that costs about a second, more than the work itself. This runtime computes exactly the
forward pass of :class:`~eospec.models.spectral.SpectralRegressor` (same EPO projection, transform,
SNV, standardisation, layers and ReLU; see its docstring for the sources) from the same weights, in
float32 with NumPy's BLAS. ``tests/models/test_runtime.py`` checks it against the torch module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NumpySpectralRegressor"]

_LN10 = np.float32(np.log(10.0))

#: State-dict keys of the optional EPO step: mean (B,) and basis (B, g).
EPO_KEYS = ("epo_mean", "epo_basis")

Float32 = npt.NDArray[np.float32]


@dataclass
class NumpySpectralRegressor:
    """Weights and preprocessing of a spectral regressor, run band-major with NumPy.

    Attributes:
        transform: ``"reflectance"`` or ``"absorbance"`` (log10(1/R), R clipped to >= 1e-4).
        snv: standard normal variate per spectrum after the transform.
        input_mean: float32 (B,), per-band mean of the training features.
        input_scale: float32 (B,), per-band scale of the training features.
        weights: float32 arrays (H_k, H_{k-1}), one per layer.
        biases: float32 arrays (H_k,), one per layer.
        epo_mean: float32 (B,), the EPO calibration mean absorbance, or None (no EPO step).
        epo_basis: float32 (B, g), the orthonormal EPO directions in absorbance, or None.
    """

    transform: str
    snv: bool
    input_mean: Float32
    input_scale: Float32
    weights: list[Float32]
    biases: list[Float32]
    epo_mean: Float32 | None = None
    epo_basis: Float32 | None = None

    @classmethod
    def from_state(
        cls, state: dict[str, np.ndarray], transform: str = "reflectance", snv: bool = False
    ) -> NumpySpectralRegressor:
        """Build from a ``SpectralRegressor`` state dict of NumPy arrays.

        Args:
            state: ``input_mean``, ``input_scale``, ``layers.<k>.weight``, ``layers.<k>.bias``, and
                ``epo_mean`` with ``epo_basis`` for a model with an EPO step.
            transform: ``"reflectance"`` or ``"absorbance"``.
            snv: whether SNV follows the transform.

        Returns:
            The runtime.

        Raises:
            ValueError: If ``transform`` is unknown, a layer is missing, or only one of
                ``epo_mean`` and ``epo_basis`` is given.
        """
        if transform not in ("reflectance", "absorbance"):
            raise ValueError(f"Invalid transform: {transform!r}. Must be 'reflectance' or 'absorbance'")
        count = len([key for key in state if key.startswith("layers.") and key.endswith(".weight")])
        try:
            weights = [np.ascontiguousarray(state[f"layers.{k}.weight"], dtype=np.float32) for k in range(count)]
            biases = [np.ascontiguousarray(state[f"layers.{k}.bias"], dtype=np.float32) for k in range(count)]
        except KeyError as error:
            raise ValueError(f"Incomplete weights: {error.args[0]!r} is missing") from error
        if not weights:
            raise ValueError("The weights hold no layer ('layers.0.weight' is missing)")
        if ("epo_mean" in state) != ("epo_basis" in state):
            raise ValueError("Incomplete weights: an EPO step needs both 'epo_mean' and 'epo_basis'")
        epo = [np.ascontiguousarray(state[k], dtype=np.float32) if k in state else None for k in EPO_KEYS]
        return cls(
            transform,
            snv,
            np.asarray(state["input_mean"], dtype=np.float32),
            np.asarray(state["input_scale"], dtype=np.float32),
            weights,
            biases,
            *epo,
        )

    @property
    def n_outputs(self) -> int:
        """Number of predicted properties."""
        return int(self.weights[-1].shape[0])

    @property
    def is_linear_input(self) -> bool:
        """Whether everything before the first layer is linear (so it can fold into it)."""
        return self.transform == "reflectance" and not self.snv and self.epo_basis is None

    def folded_first_layer(self) -> tuple[Float32, Float32]:
        """First-layer weight (H1, B) and bias (H1,) with the standardisation folded in."""
        weight = (self.weights[0] / self.input_scale[None, :]).astype(np.float32)
        bias = (self.biases[0] - weight @ self.input_mean).astype(np.float32)
        return weight, bias

    def features(self, x: Float32) -> Float32:
        """EPO, transform and SNV of band-major spectra (B, N), float32."""
        if self.epo_basis is not None and self.epo_mean is not None:
            # 10^-a' with a' = a - V V^T (a - m), a = log10(1/R), computed in natural logs and in
            # place: b = ln R = -a ln 10, so 10^-a' = exp(b - V V^T (b + m ln 10)). One log, one exp
            # and no (B, N) temporary but V @ proj: three times faster than log10 and power.
            b = np.maximum(x, np.float32(1e-4))
            np.log(b, out=b)
            projection = self.epo_basis.T @ b
            projection += (self.epo_basis.T @ self.epo_mean)[:, None] * _LN10
            b -= self.epo_basis @ projection
            x = np.exp(b, out=b)
        if self.transform == "absorbance":
            x = -np.log10(np.maximum(x, np.float32(1e-4)))
        if self.snv:
            mean = x.mean(axis=0, keepdims=True)
            std = np.maximum(x.std(axis=0, ddof=1, keepdims=True), np.float32(1e-8))
            x = (x - mean) / std
        return x.astype(np.float32, copy=False)

    def forward_band_major(
        self, x: Float32, first_weight: Float32 | None = None, first_bias: Float32 | None = None
    ) -> Float32:
        """Predict from band-major spectra.

        Args:
            x: float32 (B_in, N): reflectance at the model's bands, or raw digital numbers when
                ``first_weight``/``first_bias`` fold their scaling and band selection in (only for
                :attr:`is_linear_input` models).
            first_weight: optional (H1, B_in) replacement of the folded first-layer weight.
            first_bias: optional (H1,) replacement of the folded first-layer bias.

        Returns:
            float32 array of shape (n_outputs, N).
        """
        if first_weight is None or first_bias is None:
            x = self.features(x)
            first_weight, first_bias = self.folded_first_layer()
        # x.T is a view: BLAS reads it transposed; (N, B) @ (B, H1) is the faster GEMM shape.
        h = x.T @ first_weight.T
        h += first_bias
        for weight, bias in zip(self.weights[1:], self.biases[1:], strict=True):
            np.maximum(h, 0, out=h)
            h = h @ weight.T
            h += bias
        return np.ascontiguousarray(h.T)

"""Per-band standardisation of spectra with statistics of a training set, stored as buffers.

Networks that take raw spectra depend on the input's units: reflectance in [0, 1], percent or a
scaled mixture train at different speeds under the same learning rate. Standardising every band to
zero mean and unit standard deviation over the training spectra removes that dependence. The
statistics are buffers, so they travel with the model's ``state_dict`` and checkpoints.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

__all__ = ["BandStandardisation", "as_float64"]

#: Bands whose training standard deviation is below this keep a scale of 1 (constant bands).
MIN_SCALE = 1e-8


def as_float64(spectra: npt.ArrayLike | Tensor) -> Tensor:
    """Spectra as a float64 CPU tensor (detached), for computing statistics.

    Args:
        spectra: array or tensor of any shape.

    Returns:
        Float64 tensor of the same shape.
    """
    if isinstance(spectra, Tensor):
        return spectra.detach().cpu().double()
    return torch.as_tensor(np.asarray(spectra, dtype=np.float64))


class BandStandardisation(nn.Module):
    """``(x - mean) / scale`` per band; the identity until :meth:`fit` is called.

    Args:
        n_bands: number of bands B.

    Attributes:
        mean: float32 buffer (B,), the per-band mean of the training spectra (0 before fitting).
        scale: float32 buffer (B,), the per-band population standard deviation (1 before fitting,
            and for bands that are constant in the training set).
        fitted: bool buffer (), whether :meth:`fit` has been called.
    """

    mean: Tensor
    scale: Tensor
    fitted: Tensor

    def __init__(self, n_bands: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(int(n_bands)))
        self.register_buffer("scale", torch.ones(int(n_bands)))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def fit(self, spectra: npt.ArrayLike | Tensor) -> BandStandardisation:
        """Set the statistics from training spectra (computed in float64).

        Args:
            spectra: array (N, B), in the unit the model will be given.

        Returns:
            The module itself.

        Raises:
            ValueError: If ``spectra`` is not (N, B) or holds NaN or infinite values.
        """
        values = as_float64(spectra)
        n_bands = self.mean.numel()
        if values.ndim != 2 or values.shape[1] != n_bands:
            raise ValueError(
                f"spectra of shape {tuple(values.shape)} do not fit a model for {n_bands} bands: "
                f"pass shape (N, {n_bands})"
            )
        if not torch.isfinite(values).all():
            raise ValueError("the spectra hold NaN or infinite values: drop or fill those spectra first")
        scale = values.std(dim=0, unbiased=False)
        scale = torch.where(scale > MIN_SCALE, scale, torch.ones_like(scale))
        self.mean.copy_(values.mean(dim=0).to(self.mean.dtype))
        self.scale.copy_(scale.to(self.scale.dtype))
        self.fitted.fill_(True)
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Standardise.

        Args:
            x: float tensor (N, B).

        Returns:
            Float tensor (N, B).
        """
        return (x - self.mean) / self.scale

    def inverse(self, z: Tensor) -> Tensor:
        """Undo :meth:`forward`.

        Args:
            z: float tensor (N, B) of standardised values.

        Returns:
            Float tensor (N, B) in the input's unit.
        """
        return z * self.scale + self.mean

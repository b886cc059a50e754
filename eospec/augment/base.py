"""Base class and shared helpers of the spectral augmentations.

Every augmentation is a :class:`torch.nn.Module` whose ``forward(x, generator=None)`` takes a batch
of spectra of shape (N, B) or of patches of shape (N, B, H, W) (B bands along dimension 1) and
returns a new tensor of the same shape, dtype and device; the input is never modified. Random
parameters are drawn per sample (the same for every pixel of a patch) by
:meth:`SpectralAugmentation.sample_parameters`, on the device of the ``generator`` (the CPU global
generator when none is given), so that a seeded :class:`torch.Generator` reproduces a batch exactly
on any device. :meth:`SpectralAugmentation.transform` is the deterministic transform for given
parameters.

NaN marks a missing value (e.g. EnMAP's water-vapour bands). Every augmentation returns NaN at
least where the input is NaN (the mask is kept in place); a value computed from a NaN band (by
interpolation, or a band moved by a permutation) is NaN too, and finite inputs never give NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from eospec.errors import AugmentationError, WavelengthOrderError

__all__ = ["SpectralAugmentation", "Params"]

#: Parameters of one batch: tensors whose first dimension is the batch size N.
Params = dict[str, Tensor]


def as_wavelengths(wavelengths_nm: npt.ArrayLike | Tensor) -> Tensor:
    """Check a wavelength axis and return it as a float64 CPU tensor of shape (B,), in nm.

    Raises:
        WavelengthOrderError: if the axis is not 1-D with at least 2 strictly increasing finite values.
    """
    if isinstance(wavelengths_nm, Tensor):
        values = wavelengths_nm.detach().to(device="cpu", dtype=torch.float64).flatten().clone()
    else:
        values = torch.from_numpy(np.array(wavelengths_nm, dtype=np.float64)).flatten()
    if values.numel() < 2 or not bool(torch.isfinite(values).all()):
        raise WavelengthOrderError(
            f"wavelengths_nm must hold at least 2 finite band centres in nm, got {values.numel()} values "
            f"({values[:4].tolist()}...): pass the (B,) band centre wavelengths of the spectra"
        )
    steps = torch.diff(values)
    if not bool((steps > 0).all()):
        bad = int(torch.nonzero(steps <= 0)[0, 0])
        raise WavelengthOrderError(
            f"wavelengths_nm must be strictly increasing, but band {bad + 2} ({values[bad + 1].item():g} nm) follows "
            f"{values[bad].item():g} nm: sort the bands by wavelength (and drop duplicates) first"
        )
    return values


def check_range(name: str, value: tuple[float, float], low: float, high: float, unit: str = "") -> tuple[float, float]:
    """Check that ``value`` is a (min, max) pair inside [low, high]; return it as floats.

    Raises:
        AugmentationError: if it is not an ordered pair inside [low, high].
    """
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as error:
        raise AugmentationError(f"{name} must be a (min, max) pair of numbers, got {value!r}") from error
    if not (low <= lo <= hi <= high):
        raise AugmentationError(
            f"{name}={value!r} is outside its valid range: give min <= max within [{low:g}, {high:g}]{unit}"
        )
    return lo, hi


def check_probability(p: float) -> float:
    """Check that ``p`` is a probability in [0, 1].

    Raises:
        AugmentationError: if it is not.
    """
    if not 0.0 <= float(p) <= 1.0:
        raise AugmentationError(f"p={p!r} is not a probability: give a value in [0, 1]")
    return float(p)


def generator_device(generator: torch.Generator | None) -> torch.device:
    """The device random numbers are drawn on: the generator's, or the CPU for the global generator."""
    return generator.device if generator is not None else torch.device("cpu")


def uniform(n: int | Sequence[int], low: float, high: float, generator: torch.Generator | None) -> Tensor:
    """Uniform draws in [low, high) as float64 on the generator's device, shape ``n``."""
    shape = (n,) if isinstance(n, int) else tuple(n)
    draws = torch.rand(shape, generator=generator, dtype=torch.float64, device=generator_device(generator))
    return low + (high - low) * draws


def to_batch(x: Tensor, n_bands: int | None = None) -> tuple[Tensor, torch.Size]:
    """Check spectra or patches and view them as (N, B, P) with P pixels per sample.

    Args:
        x: floating tensor of shape (N, B) or (N, B, H, W).
        n_bands: the number of bands B the augmentation was built for, or None if any.

    Returns:
        The (N, B, P) view (P = 1 for spectra, H * W for patches) and the original shape.

    Raises:
        AugmentationError: for another number of dimensions, a non-floating dtype or a wrong band count.
    """
    if not isinstance(x, Tensor):
        raise AugmentationError(f"expected a torch.Tensor of spectra, got {type(x).__name__}: use torch.as_tensor(x)")
    if x.ndim not in (2, 4):
        raise AugmentationError(
            f"expected spectra of shape (N, B) or patches of shape (N, B, H, W), got shape {tuple(x.shape)}: "
            "add a batch dimension with x.unsqueeze(0) for a single spectrum"
        )
    if not torch.is_floating_point(x):
        raise AugmentationError(f"expected floating-point spectra, got dtype {x.dtype}: convert with x.float()")
    if n_bands is not None and x.shape[1] != n_bands:
        raise AugmentationError(
            f"the spectra have {x.shape[1]} bands along dimension 1 but the augmentation was built for "
            f"{n_bands} wavelengths: pass the wavelengths_nm of these spectra"
        )
    return x.reshape(x.shape[0], x.shape[1], -1), x.shape


def interpolate(x: Tensor, wavelengths_nm: Tensor, query_nm: Tensor) -> Tensor:
    """Linear interpolation of batched spectra at per-sample wavelengths, with the edge value outside.

    Args:
        x: shape (N, B, P), values at ``wavelengths_nm``.
        wavelengths_nm: shape (B,), strictly increasing, same dtype and device as ``x``.
        query_nm: shape (N, Q), wavelengths at which to evaluate each sample (the same for its P pixels).

    Returns:
        Shape (N, Q, P). A query that falls exactly on a band returns that band's value even if a
        neighbouring band is NaN.
    """
    n_bands = wavelengths_nm.numel()
    query = query_nm.clamp(wavelengths_nm[0], wavelengths_nm[-1]).contiguous()
    upper = torch.searchsorted(wavelengths_nm, query).clamp(1, n_bands - 1)
    lower = upper - 1
    weight = ((query - wavelengths_nm[lower]) / (wavelengths_nm[upper] - wavelengths_nm[lower])).unsqueeze(-1)
    pixels = x.shape[2]
    x_lower = torch.gather(x, 1, lower.unsqueeze(-1).expand(-1, -1, pixels))
    x_upper = torch.gather(x, 1, upper.unsqueeze(-1).expand(-1, -1, pixels))
    mixed = torch.lerp(x_lower, x_upper, weight)
    return torch.where(weight <= 0, x_lower, torch.where(weight >= 1, x_upper, mixed))


class SpectralAugmentation(nn.Module):
    """Base class of the spectral augmentations (see the module docstring for shapes and NaN).

    Subclasses implement :meth:`_sample` (random parameters for a batch) and :meth:`_augment` (the
    transform of (N, B, P) values for given parameters).

    Args:
        p: probability in [0, 1] that each sample is augmented (the others pass through unchanged).
        wavelengths_nm: shape (B,), band centre wavelengths in nm, strictly increasing, for the
            augmentations that act on the wavelength axis; None for those that do not.

    Raises:
        AugmentationError: if ``p`` is not in [0, 1].
        WavelengthOrderError: if ``wavelengths_nm`` is not strictly increasing.
    """

    wavelengths_nm: Tensor | None

    def __init__(self, p: float = 1.0, wavelengths_nm: npt.ArrayLike | Tensor | None = None) -> None:
        super().__init__()
        self.p = check_probability(p)
        if wavelengths_nm is None:
            self.wavelengths_nm = None
        else:
            self.register_buffer("wavelengths_nm", as_wavelengths(wavelengths_nm), persistent=False)

    @property
    def n_bands(self) -> int | None:
        """The number of bands B the augmentation was built for, or None if it takes any."""
        return None if self.wavelengths_nm is None else int(self.wavelengths_nm.numel())

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment a batch with freshly drawn random parameters.

        Args:
            x: floating tensor of shape (N, B) (spectra) or (N, B, H, W) (patches), on any device.
            generator: source of randomness; the same seed gives the same output. None uses
                torch's global CPU generator.

        Returns:
            A new tensor of the shape, dtype and device of ``x``.

        Raises:
            AugmentationError: for a wrong shape, dtype or number of bands.
        """
        to_batch(x, self.n_bands)
        return self.transform(x, self.sample_parameters(x.shape, generator))

    def sample_parameters(self, shape: Sequence[int], generator: torch.Generator | None = None) -> Params:
        """Draw the random parameters of a batch.

        Args:
            shape: the input shape, (N, B) or (N, B, H, W).
            generator: source of randomness (None: torch's global CPU generator).

        Returns:
            A dict of tensors on the generator's device, each of first dimension N, including
            ``"applied"`` (bool, (N,)): which samples are augmented (drawn with probability ``p``).
        """
        n = int(shape[0])
        params = self._sample(n, int(shape[1]), generator)
        if self.p >= 1.0:
            params["applied"] = torch.ones(n, dtype=torch.bool, device=generator_device(generator))
        else:
            params["applied"] = uniform(n, 0.0, 1.0, generator) < self.p
        return params

    def transform(self, x: Tensor, params: Params) -> Tensor:
        """Apply the augmentation with given parameters (deterministic).

        Args:
            x: floating tensor of shape (N, B) or (N, B, H, W).
            params: as returned by :meth:`sample_parameters` for this shape.

        Returns:
            A new tensor of the shape, dtype and device of ``x``.

        Raises:
            AugmentationError: for a wrong shape, dtype or number of bands.
        """
        values, shape = to_batch(x, self.n_bands)
        moved = {key: value.to(x.device) for key, value in params.items()}
        out = self._augment(values, moved)
        out = torch.where(moved["applied"].view(-1, 1, 1), out, values)
        out = out.masked_fill(torch.isnan(values), float("nan"))
        return out.reshape(shape)

    def wavelengths_like(self, x: Tensor) -> Tensor:
        """The wavelength axis (B,) in nm on the device and dtype of ``x``."""
        if self.wavelengths_nm is None:
            raise AugmentationError(f"{type(self).__name__} needs wavelengths_nm: pass the band centres in nm")
        return self.wavelengths_nm.to(device=x.device, dtype=x.dtype)

    def _sample(self, n: int, n_bands: int, generator: torch.Generator | None) -> Params:
        """Random parameters for N samples of B bands (override); none by default."""
        return {}

    def _augment(self, x: Tensor, params: Params) -> Tensor:
        """Transform x of shape (N, B, P) with parameters on x's device (override)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return f"p={self.p}"

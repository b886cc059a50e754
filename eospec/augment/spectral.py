r"""Augmentations that move, hide or mix values along the band axis.

Source: Dhaini, Berar, Honeine and Van Exem, "Contrastive learning for regression on hyperspectral
data", ICASSP 2024, pp. 5080-5084, arXiv:2403.17014 (Sec. 2, Eq. 1, 2 and 6), and the authors'
public code (github.com/mohamaddhaini/contrastive-learning-hyperspectral, ``transformations.py``).
Where the code acts on band indices, eospec acts on the real wavelength axis in nm, and all random
parameters are drawn per sample (the authors' code draws one shift, erasure window or permutation
per batch); each class docstring lists its differences from that code.

Shapes: x is (N, B) or (N, B, H, W); internally (N, B, P). Wavelengths in nm.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy.typing as npt
import torch
from torch import Tensor

from eospec.augment.base import (
    Params,
    SpectralAugmentation,
    as_wavelengths,
    interpolate,
    to_batch,
    uniform,
)
from eospec.errors import AugmentationError

__all__ = [
    "SpectralShift",
    "SpectralFlip",
    "ElasticDistortion",
    "BandErasure",
    "BandPermutation",
    "NearestNeighbourAveraging",
    "shift_spectra",
    "warp_spectra",
    "neighbour_average",
]


def _per_sample(values: Tensor | float, n: int, like: Tensor) -> Tensor:
    """A (N,) tensor on the device and dtype of ``like`` from a scalar or (N,) values."""
    out = torch.as_tensor(values, dtype=like.dtype, device=like.device)
    return out.expand(n) if out.ndim == 0 else out.reshape(n)


def shift_spectra(x: Tensor, wavelengths_nm: npt.ArrayLike | Tensor, shift_nm: Tensor | float) -> Tensor:
    r"""Shift spectra along the wavelength axis: :math:`\tilde x(\lambda) = x(\lambda - \Delta)` (Eq. 1).

    A positive shift moves features to longer wavelengths. Values are interpolated linearly on the
    real wavelength axis; beyond the first and last band the edge value is repeated.

    Args:
        x: floating tensor of shape (N, B) or (N, B, H, W).
        wavelengths_nm: shape (B,), strictly increasing band centres in nm.
        shift_nm: the shift :math:`\Delta` in nm, a scalar or shape (N,) (one per sample).

    Returns:
        A new tensor of the shape and dtype of ``x``.

    Raises:
        AugmentationError: for a wrong shape or dtype.
        WavelengthOrderError: if ``wavelengths_nm`` is not strictly increasing.
    """
    wavelengths = as_wavelengths(wavelengths_nm).to(device=x.device, dtype=x.dtype)
    values, shape = to_batch(x, wavelengths.numel())
    shift = _per_sample(shift_nm, values.shape[0], values)
    return interpolate(values, wavelengths, wavelengths - shift[:, None]).reshape(shape)


def warp_spectra(x: Tensor, wavelengths_nm: npt.ArrayLike | Tensor, displacement_nm: Tensor) -> Tensor:
    r"""Resample spectra on a displaced wavelength axis: :math:`\tilde x(\lambda) = x(\lambda + d(\lambda))` (Eq. 6).

    Args:
        x: floating tensor of shape (N, B) or (N, B, H, W).
        wavelengths_nm: shape (B,), strictly increasing band centres in nm.
        displacement_nm: shape (N, B), the displacement :math:`d` at each band in nm. The warp has no
            fold-over when :math:`\lambda + d(\lambda)` is increasing.

    Returns:
        A new tensor of the shape and dtype of ``x`` (linear interpolation, edge values repeated).
    """
    wavelengths = as_wavelengths(wavelengths_nm).to(device=x.device, dtype=x.dtype)
    values, shape = to_batch(x, wavelengths.numel())
    displacement = displacement_nm.to(device=x.device, dtype=x.dtype)
    return interpolate(values, wavelengths, wavelengths + displacement).reshape(shape)


def neighbour_average(x: Tensor, k: int) -> Tensor:
    """Replace each sample by the mean of its k nearest samples in the batch (itself included).

    Distances are Euclidean over all bands (and all pixels of a patch), computed on the values that
    are finite in both samples (mean squared difference). The sample itself is always its own first
    neighbour, so ``k=1`` is the identity and ``k=N`` gives the batch mean. The mean ignores NaN
    (a band is NaN only where every neighbour is NaN).

    Args:
        x: floating tensor of shape (N, B) or (N, B, H, W).
        k: number of neighbours, at least 1; larger than N is taken as N.

    Returns:
        A new tensor of the shape and dtype of ``x``.

    Raises:
        AugmentationError: if ``k`` < 1, or for a wrong shape or dtype.
    """
    if int(k) < 1:
        raise AugmentationError(f"k={k!r} neighbours is not allowed: give k >= 1 (k=1 is the identity)")
    values, shape = to_batch(x)
    return _neighbour_average(values, int(k)).reshape(shape)


def _neighbour_average(values: Tensor, k: int) -> Tensor:
    """:func:`neighbour_average` of (N, B, P) values."""
    n = values.shape[0]
    flat = values.reshape(n, -1)
    missing = torch.isnan(flat)
    if not bool(missing.any()):
        distances = torch.cdist(flat.unsqueeze(0), flat.unsqueeze(0)).squeeze(0)
        distances.fill_diagonal_(-math.inf)
        nearest = torch.topk(distances, min(k, n), dim=1, largest=False).indices
        weights = torch.zeros_like(distances).scatter_(1, nearest, 1.0 / nearest.shape[1])
        return (weights @ flat).reshape(values.shape)
    work = flat.double()
    valid = (~missing).to(work.dtype)
    filled = torch.nan_to_num(work, nan=0.0)
    squares = filled * filled
    # Sum over jointly valid entries of (x_i - x_j)^2, divided by their number.
    distances = squares @ valid.T + valid @ squares.T - 2.0 * filled @ filled.T
    counts = valid @ valid.T
    distances = torch.where(counts > 0, distances / counts.clamp(min=1.0), torch.full_like(distances, math.inf))
    distances.fill_diagonal_(-math.inf)
    nearest = torch.topk(distances, min(k, n), dim=1, largest=False).indices
    indicator = torch.zeros_like(distances).scatter_(1, nearest, 1.0)
    total = indicator @ filled
    count = indicator @ valid
    mean = torch.where(count > 0, total / count.clamp(min=1.0), torch.full_like(total, math.nan))
    return mean.to(values.dtype).reshape(values.shape)


class SpectralShift(SpectralAugmentation):
    r"""Shift each spectrum along the wavelength axis by a random :math:`\Delta` (Eq. 1 of Dhaini et al. 2024).

    :math:`\tilde x(\lambda) = x(\lambda - \Delta)`, :math:`\Delta \sim U(-\Delta_{max}, \Delta_{max})`
    drawn per sample; see :func:`shift_spectra`. Physical meaning: a spectral calibration error
    (band-centre shift) of the sensor, or a shifted absorption feature (e.g. the 2200 nm Al-OH band
    moving with clay mineralogy). Differences from the authors' code: a real shift in nm interpolated on
    the wavelength axis (their code shifts by a whole number of bands, 1 to ``shift_range``, in one
    direction, the same for the whole batch, and extrapolates linearly at the edge; here the edge
    value is repeated).

    Args:
        wavelengths_nm: shape (B,), strictly increasing band centres in nm.
        max_shift_nm: :math:`\Delta_{max}` in nm, in [0, 100]. EnMAP's band spacing is 6.5 nm
            (VNIR) and 10 nm (SWIR); its spectral calibration is specified to about 0.5 nm.
        p: probability that a sample is shifted.

    Raises:
        AugmentationError: for ``max_shift_nm`` outside [0, 100] or ``p`` outside [0, 1].
        WavelengthOrderError: if ``wavelengths_nm`` is not strictly increasing.
    """

    def __init__(self, wavelengths_nm: npt.ArrayLike | Tensor, max_shift_nm: float = 10.0, p: float = 1.0) -> None:
        super().__init__(p, wavelengths_nm)
        if not 0.0 <= float(max_shift_nm) <= 100.0:
            raise AugmentationError(f"max_shift_nm={max_shift_nm!r} is outside [0, 100] nm: give a shift in nm")
        self.max_shift_nm = float(max_shift_nm)

    def _sample(self, n: int, n_bands: int, generator: torch.Generator | None) -> Params:
        return {"shift_nm": uniform(n, -self.max_shift_nm, self.max_shift_nm, generator)}

    def _augment(self, x: Tensor, params: Params) -> Tensor:
        wavelengths = self.wavelengths_like(x)
        shift = params["shift_nm"].to(x.dtype)
        return interpolate(x, wavelengths, wavelengths - shift[:, None])

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return f"max_shift_nm={self.max_shift_nm}, p={self.p}"


class SpectralFlip(SpectralAugmentation):
    r"""Flip each spectrum along the band axis (Eq. 2 of Dhaini et al. 2024).

    ``mode="reverse"`` (the authors' code, ``np.flip``) reverses the band order,
    :math:`\tilde x_b = x_{B+1-b}`: an involution. ``mode="mirror"`` mirrors the spectrum on the real
    wavelength axis, :math:`\tilde x(\lambda) = x(\lambda_{min} + \lambda_{max} - \lambda)` by linear
    interpolation; it equals ``"reverse"`` on an evenly spaced axis and is an involution only there
    (approximately elsewhere). Not a physical transform: it keeps the band values and their local
    contrast but destroys the band positions, which makes it a strong "negative-like" view.

    Args:
        wavelengths_nm: shape (B,), band centres in nm; required for ``mode="mirror"``.
        mode: ``"reverse"`` or ``"mirror"``.
        p: probability that a sample is flipped.

    Raises:
        AugmentationError: for an unknown ``mode``, a mirror without wavelengths or ``p`` outside [0, 1].
    """

    def __init__(
        self,
        wavelengths_nm: npt.ArrayLike | Tensor | None = None,
        mode: Literal["reverse", "mirror"] = "reverse",
        p: float = 1.0,
    ) -> None:
        super().__init__(p, wavelengths_nm)
        if mode not in ("reverse", "mirror"):
            raise AugmentationError(f"mode={mode!r} is unknown: use 'reverse' or 'mirror'")
        if mode == "mirror" and wavelengths_nm is None:
            raise AugmentationError("mode='mirror' mirrors on the wavelength axis: pass wavelengths_nm")
        self.mode = mode

    def _augment(self, x: Tensor, params: Params) -> Tensor:
        if self.mode == "reverse":
            return torch.flip(x, dims=(1,))
        wavelengths = self.wavelengths_like(x)
        query = (wavelengths[0] + wavelengths[-1] - wavelengths).expand(x.shape[0], -1)
        return interpolate(x, wavelengths, query)

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return f"mode={self.mode!r}, p={self.p}"


class ElasticDistortion(SpectralAugmentation):
    r"""Smooth random warp of the wavelength axis (elastic distortion, Eq. 6 of Dhaini et al. 2024).

    :math:`\tilde x(\lambda) = x(\lambda + d(\lambda))` with
    :math:`d = a \, (G_\sigma * u) / \max_\lambda |G_\sigma * u|`, :math:`u_b \sim U(-1, 1)` i.i.d.
    per band, :math:`G_\sigma` a Gaussian kernel of standard deviation ``smoothing_nm`` on the
    wavelength axis (row-normalised, so irregular band spacing is handled) and
    :math:`a \sim U(0, d_{max})` per sample. Hence :math:`|d| \le d_{max}` everywhere. To rule out
    fold-over, :math:`d` is scaled down where needed so that its slope between bands stays above
    -0.9: :math:`\lambda + d(\lambda)` is strictly increasing (for a rough field, ``smoothing_nm``
    much smaller than ``max_displacement_nm``, this rule rather than :math:`d_{max}` limits the
    amplitude: to about 0.9 ``smoothing_nm``). Physical meaning: a smile-like,
    wavelength-dependent spectral calibration error, or the stretching of absorption features.
    Differences from the authors' code: displacement and smoothing in nm rather than bands,
    amplitude normalised to a bounded maximum, fold-over prevented, a fixed smoothing width (their
    code draws ``sigma`` per sample) and linear rather than cubic interpolation.

    Args:
        wavelengths_nm: shape (B,), strictly increasing band centres in nm.
        max_displacement_nm: :math:`d_{max}` in nm, in [0, 100].
        smoothing_nm: :math:`\sigma` in nm, > 0: the length over which the displacement varies.
        p: probability that a sample is distorted.

    Raises:
        AugmentationError: for parameters outside their ranges.
        WavelengthOrderError: if ``wavelengths_nm`` is not strictly increasing.
    """

    kernel: Tensor

    def __init__(
        self,
        wavelengths_nm: npt.ArrayLike | Tensor,
        max_displacement_nm: float = 10.0,
        smoothing_nm: float = 50.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p, wavelengths_nm)
        if not 0.0 <= float(max_displacement_nm) <= 100.0:
            raise AugmentationError(
                f"max_displacement_nm={max_displacement_nm!r} is outside [0, 100] nm: give a displacement in nm"
            )
        if not float(smoothing_nm) > 0.0:
            raise AugmentationError(f"smoothing_nm={smoothing_nm!r} must be > 0 nm: give the smoothing width in nm")
        self.max_displacement_nm = float(max_displacement_nm)
        self.smoothing_nm = float(smoothing_nm)
        assert self.wavelengths_nm is not None
        gaps = self.wavelengths_nm[:, None] - self.wavelengths_nm[None, :]
        kernel = torch.exp(-0.5 * (gaps / self.smoothing_nm) ** 2)
        self.register_buffer("kernel", kernel / kernel.sum(dim=1, keepdim=True), persistent=False)

    def displacement(self, noise: Tensor, amplitude_nm: Tensor) -> Tensor:
        """The displacement field d (N, B) in nm from per-band noise u (N, B) and amplitudes a (N,).

        Args:
            noise: shape (N, B), values in [-1, 1].
            amplitude_nm: shape (N,), the maximum |d| of each sample in nm.

        Returns:
            Float64 tensor of shape (N, B) on the device of ``noise``, with |d| <= amplitude and a slope
            above -0.9 between bands.
        """
        assert self.wavelengths_nm is not None
        wavelengths = self.wavelengths_nm.to(noise.device)
        smooth = (noise.float() @ self.kernel.to(device=noise.device, dtype=torch.float32).T).double()
        peak = smooth.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)
        field = smooth / peak * amplitude_nm.double().to(noise.device)[:, None]
        slope = torch.diff(field, dim=1) / torch.diff(wavelengths)
        steepest = (-slope).amax(dim=1, keepdim=True).clamp(min=0.0)
        return field * torch.where(steepest > 0.9, 0.9 / steepest.clamp(min=1e-12), torch.ones_like(steepest))

    def _sample(self, n: int, n_bands: int, generator: torch.Generator | None) -> Params:
        return {
            "noise": uniform((n, n_bands), -1.0, 1.0, generator),
            "amplitude_nm": uniform(n, 0.0, self.max_displacement_nm, generator),
        }

    def _augment(self, x: Tensor, params: Params) -> Tensor:
        wavelengths = self.wavelengths_like(x)
        field = self.displacement(params["noise"], params["amplitude_nm"]).to(x.dtype)
        return interpolate(x, wavelengths, wavelengths + field)

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return f"max_displacement_nm={self.max_displacement_nm}, smoothing_nm={self.smoothing_nm}, p={self.p}"


class BandErasure(SpectralAugmentation):
    """Set a random window of bands to a constant (random erasure of Dhaini et al. 2024, authors' code).

    ``floor(fraction * B)`` bands are set to ``value`` (default 0, the authors' choice): by default a
    contiguous window starting at a uniformly drawn band (the authors' ``random_erasure``), or, with
    ``contiguous=False``, that many bands drawn at random without replacement. Physical meaning: a
    dead detector region or bands lost to absorption or saturation. Differences from the authors'
    code: the window is drawn per sample (theirs: one per batch) and may also touch the last band.

    Args:
        fraction: fraction of the bands to erase, in [0, 1] (authors' default 0.1).
        value: the value written into erased bands (0.0: zero reflectance, as in the authors' code).
        contiguous: erase one contiguous window (True) or scattered bands (False).
        p: probability that a sample is erased.

    Raises:
        AugmentationError: for ``fraction`` or ``p`` outside [0, 1].
    """

    def __init__(self, fraction: float = 0.1, value: float = 0.0, contiguous: bool = True, p: float = 1.0) -> None:
        super().__init__(p)
        if not 0.0 <= float(fraction) <= 1.0:
            raise AugmentationError(f"fraction={fraction!r} of bands to erase is outside [0, 1]: give e.g. 0.1")
        self.fraction = float(fraction)
        self.value = float(value)
        self.contiguous = bool(contiguous)

    def n_erased(self, n_bands: int) -> int:
        """Number of bands erased in spectra of ``n_bands`` bands: floor(fraction * B)."""
        return int(math.floor(self.fraction * n_bands + 1e-9))

    def _sample(self, n: int, n_bands: int, generator: torch.Generator | None) -> Params:
        if self.contiguous:
            return {"start": uniform(n, 0.0, 1.0, generator)}
        return {"keys": uniform((n, n_bands), 0.0, 1.0, generator)}

    def erased_mask(self, params: Params, n_bands: int) -> Tensor:
        """Which bands each sample loses: bool tensor of shape (N, B)."""
        count = self.n_erased(n_bands)
        if self.contiguous:
            start = torch.floor(params["start"] * (n_bands - count + 1)).long().clamp(max=n_bands - count)
            bands = torch.arange(n_bands, device=start.device)
            return (bands >= start[:, None]) & (bands < start[:, None] + count)
        keys = params["keys"]
        chosen = torch.topk(keys, count, dim=1).indices
        return torch.zeros_like(keys, dtype=torch.bool).scatter_(1, chosen, True)

    def _augment(self, x: Tensor, params: Params) -> Tensor:
        mask = self.erased_mask(params, x.shape[1])
        return x.masked_fill(mask.unsqueeze(-1), self.value)

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return f"fraction={self.fraction}, value={self.value}, contiguous={self.contiguous}, p={self.p}"


class BandPermutation(SpectralAugmentation):
    """Randomly permute the bands, or contiguous groups of bands (band permutation of Dhaini et al. 2024).

    With ``group_size=1`` every band goes to a random position (the authors' ``random_permutation``);
    with ``group_size=g`` the bands are cut into consecutive groups of g (the last may be shorter)
    and the groups are permuted, each keeping its internal order (the authors'
    ``group_random_permutation``). The output holds exactly the input values of each sample, in
    another order. Not a physical transform: it keeps the value distribution but destroys the
    spectral shape (or, for groups, keeps it only locally). Difference from the authors' code: one
    permutation per sample (theirs: one per batch).

    Args:
        group_size: number of consecutive bands moved together, >= 1.
        p: probability that a sample is permuted.

    Raises:
        AugmentationError: for ``group_size`` < 1 or ``p`` outside [0, 1].
    """

    def __init__(self, group_size: int = 1, p: float = 1.0) -> None:
        super().__init__(p)
        if int(group_size) < 1 or int(group_size) != group_size:
            raise AugmentationError(f"group_size={group_size!r} must be a whole number >= 1 of bands")
        self.group_size = int(group_size)

    def _sample(self, n: int, n_bands: int, generator: torch.Generator | None) -> Params:
        n_groups = -(-n_bands // self.group_size)
        return {"keys": uniform((n, n_groups), 0.0, 1.0, generator)}

    def permutation(self, params: Params, n_bands: int) -> Tensor:
        """Band order of each sample: int64 tensor (N, B); output band b takes input band ``order[:, b]``."""
        keys = params["keys"]
        if self.group_size == 1:
            return torch.argsort(keys, dim=1)
        group_order = torch.argsort(keys, dim=1)
        positions = torch.arange(keys.shape[1], device=keys.device).expand_as(group_order)
        group_rank = torch.empty_like(group_order).scatter_(1, group_order, positions)
        bands = torch.arange(n_bands, device=keys.device)
        sort_key = group_rank[:, bands // self.group_size] * n_bands + bands
        return torch.argsort(sort_key, dim=1)

    def _augment(self, x: Tensor, params: Params) -> Tensor:
        order = self.permutation(params, x.shape[1])
        return torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, x.shape[2]))

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return f"group_size={self.group_size}, p={self.p}"


class NearestNeighbourAveraging(SpectralAugmentation):
    """Replace each sample by the mean of its k nearest samples in the batch (Dhaini et al. 2024, authors' code).

    See :func:`neighbour_average`. Physical meaning: a synthetic sample between similar materials,
    like a spatial or spectral mixture of close neighbours. The authors' code averages each sample
    with its 5 nearest neighbours (itself included) in the whole training set (scikit-learn
    ``NearestNeighbors``); here the neighbours are searched in the batch, so the batch should be
    large compared with k. With ``p`` < 1 the samples that are not augmented still serve as
    neighbours.

    Args:
        k: number of neighbours including the sample itself, >= 1 (authors: 5). ``k=1`` is the
            identity, ``k`` >= N gives the batch mean.
        p: probability that a sample is replaced.

    Raises:
        AugmentationError: for ``k`` < 1 or ``p`` outside [0, 1].
    """

    def __init__(self, k: int = 5, p: float = 1.0) -> None:
        super().__init__(p)
        if int(k) < 1 or int(k) != k:
            raise AugmentationError(f"k={k!r} neighbours is not allowed: give a whole number k >= 1")
        self.k = int(k)

    def _augment(self, x: Tensor, params: Params) -> Tensor:
        return _neighbour_average(x, self.k)

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return f"k={self.k}, p={self.p}"

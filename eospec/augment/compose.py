"""Containers that chain, randomly apply or randomly choose spectral augmentations, passing the generator on.

torchvision's ``transforms.v2.Compose``/``RandomApply``/``RandomChoice`` call their transforms with
the input only and draw from the global random state, so they cannot pass a seeded
:class:`torch.Generator`; these containers do, and they decide per sample rather than per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from eospec.augment.base import check_probability, to_batch, uniform
from eospec.errors import AugmentationError

__all__ = ["Compose", "RandomApply", "RandomChoice"]


def _modules(transforms: Sequence[nn.Module] | nn.Module, name: str) -> nn.ModuleList:
    items = [transforms] if isinstance(transforms, nn.Module) else list(transforms)
    if not items or not all(isinstance(t, nn.Module) for t in items):
        raise AugmentationError(f"{name} needs a non-empty list of augmentation modules, got {transforms!r}")
    return nn.ModuleList(items)


def _call(transform: nn.Module, x: Tensor, generator: torch.Generator | None) -> Tensor:
    return transform(x, generator=generator)


class Compose(nn.Module):
    """Apply augmentations one after the other, each drawing from the same generator.

    Args:
        transforms: augmentation modules whose ``forward`` accepts ``(x, generator=None)``.

    Raises:
        AugmentationError: if ``transforms`` is empty.
    """

    def __init__(self, transforms: Sequence[nn.Module]) -> None:
        super().__init__()
        self.transforms = _modules(transforms, "Compose")

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment a batch of shape (N, B) or (N, B, H, W); returns a new tensor of the same shape.

        Args:
            x: floating tensor of spectra or patches.
            generator: source of randomness (None: torch's global CPU generator).
        """
        for transform in self.transforms:
            x = _call(transform, x, generator)
        return x


class RandomApply(nn.Module):
    """Apply a chain of augmentations to each sample with probability ``p`` (decided per sample).

    Args:
        transforms: one augmentation or a list applied in order.
        p: probability in [0, 1] that a sample goes through the chain.

    Raises:
        AugmentationError: for an empty list or ``p`` outside [0, 1].
    """

    def __init__(self, transforms: Sequence[nn.Module] | nn.Module, p: float = 0.5) -> None:
        super().__init__()
        self.transforms = _modules(transforms, "RandomApply")
        self.p = check_probability(p)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment a batch of shape (N, B) or (N, B, H, W); returns a new tensor of the same shape.

        Args:
            x: floating tensor of spectra or patches.
            generator: source of randomness (None: torch's global CPU generator).
        """
        to_batch(x)
        out = x
        for transform in self.transforms:
            out = _call(transform, out, generator)
        chosen = (uniform(x.shape[0], 0.0, 1.0, generator) < self.p).to(x.device)
        return torch.where(chosen.view(-1, *([1] * (x.ndim - 1))), out, x)

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return f"p={self.p}"


class RandomChoice(nn.Module):
    """Apply one augmentation per sample, chosen at random (with optional weights).

    Every augmentation runs on the whole batch (so batch-level ones such as nearest-neighbour
    averaging see all samples) and each sample keeps the output of its chosen one.

    Args:
        transforms: the candidate augmentations.
        weights: relative probabilities of the candidates (non-negative, not all zero); None: equal.

    Raises:
        AugmentationError: for an empty list, or weights of the wrong length or sign.
    """

    cumulative: Tensor

    def __init__(self, transforms: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.transforms = _modules(transforms, "RandomChoice")
        values = [1.0] * len(self.transforms) if weights is None else [float(w) for w in weights]
        if len(values) != len(self.transforms) or min(values) < 0 or sum(values) <= 0:
            raise AugmentationError(
                f"weights={weights!r} must be {len(self.transforms)} non-negative numbers, not all zero"
            )
        total = sum(values)
        self.register_buffer(
            "cumulative", torch.tensor(values, dtype=torch.float64).cumsum(0) / total, persistent=False
        )

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment a batch of shape (N, B) or (N, B, H, W); returns a new tensor of the same shape.

        Args:
            x: floating tensor of spectra or patches.
            generator: source of randomness (None: torch's global CPU generator).
        """
        to_batch(x)
        draws = uniform(x.shape[0], 0.0, 1.0, generator)
        cumulative = self.cumulative.to(draws.device)
        choice = torch.searchsorted(cumulative, draws, right=True).clamp(max=len(self.transforms) - 1).to(x.device)
        out = x
        for index, transform in enumerate(self.transforms):
            candidate = _call(transform, x, generator)
            out = torch.where((choice == index).view(-1, *([1] * (x.ndim - 1))), candidate, out)
        return out

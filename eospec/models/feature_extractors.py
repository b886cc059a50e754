"""Per-spectrum feature extractors and the regression head of the contrastive regression model.

The architecture of Dhaini et al. (2024), "Contrastive learning for regression on hyperspectral
data", ICASSP 2024 (arXiv:2403.17014), Section 4: a fully connected feature extractor with 128, 64
and 32 units, whose 32-dimensional output is the embedding that the contrastive loss compares, and
a regression head with 16 hidden units and s outputs. A 1-D convolutional extractor along the
spectral axis is offered as an option (our design: three convolution blocks, global average
pooling, a linear layer to the same 32-dimensional embedding).

All modules take spectra of shape (N, B) (float, any unit; reflectance 0-1 in eospec) and run on
any device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn

from eospec.models.standardisation import BandStandardisation

__all__ = [
    "CNN1DFeatureExtractor",
    "ContrastiveRegressor",
    "FCFeatureExtractor",
    "RegressionHead",
    "get_feature_extractor",
    "list_feature_extractors",
]


def _check_sizes(name: str, sizes: Sequence[int]) -> None:
    if len(sizes) == 0 or any(int(size) < 1 for size in sizes):
        raise ValueError(f"{name} {tuple(sizes)!r} is invalid: use one or more positive sizes, e.g. (128, 64, 32)")


def _check_spectra(x: Tensor, in_bands: int) -> None:
    if x.ndim != 2 or x.shape[1] != in_bands:
        raise ValueError(
            f"spectra of shape {tuple(x.shape)} do not fit a model for {in_bands} bands: pass shape (N, {in_bands})"
        )


class FCFeatureExtractor(nn.Module):
    """Fully connected feature extractor: Linear + ReLU layers (Dhaini et al. 2024: 128-64-32).

    Args:
        in_bands: number of input bands B.
        hidden: layer sizes; the last is the embedding size D.

    Raises:
        ValueError: If a size is not positive.
    """

    def __init__(self, in_bands: int, hidden: Sequence[int] = (128, 64, 32)) -> None:
        super().__init__()
        _check_sizes("in_bands", (in_bands,))
        _check_sizes("hidden", hidden)
        self.in_bands = int(in_bands)
        layers: list[nn.Module] = []
        previous = self.in_bands
        for size in hidden:
            layers += [nn.Linear(previous, int(size)), nn.ReLU()]
            previous = int(size)
        self.layers = nn.Sequential(*layers)
        self.out_features = previous

    def forward(self, x: Tensor) -> Tensor:
        """Embed spectra.

        Args:
            x: float tensor (N, B).

        Returns:
            Float tensor (N, D), D = ``out_features``.

        Raises:
            ValueError: If ``x`` is not (N, in_bands).
        """
        _check_spectra(x, self.in_bands)
        return self.layers(x)


class CNN1DFeatureExtractor(nn.Module):
    """1-D convolutional feature extractor along the spectral axis.

    Each block is Conv1d (kernel ``kernel_size``, 'same' padding) + BatchNorm1d + ReLU + MaxPool1d(2);
    after the blocks, global average pooling over the remaining bands and Linear + ReLU to
    ``out_features``.

    Args:
        in_bands: number of input bands B (at least 2 ** len(channels)).
        channels: output channels of the convolution blocks.
        kernel_size: odd kernel width in bands.
        out_features: embedding size D.

    Raises:
        ValueError: If a size is not positive, the kernel is even, or the spectrum is too short
            for the pooling.
    """

    def __init__(
        self,
        in_bands: int,
        channels: Sequence[int] = (16, 32, 64),
        kernel_size: int = 7,
        out_features: int = 32,
    ) -> None:
        super().__init__()
        _check_sizes("channels", channels)
        _check_sizes("out_features", (out_features,))
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size {kernel_size!r} is invalid: use an odd width >= 1, e.g. 7")
        if in_bands < 2 ** len(channels):
            raise ValueError(
                f"in_bands {in_bands!r} is too few for {len(channels)} pooling blocks: use >= {2 ** len(channels)} "
                "bands or fewer channels"
            )
        self.in_bands = int(in_bands)
        layers: list[nn.Module] = []
        previous = 1
        for size in channels:
            layers += [
                nn.Conv1d(previous, int(size), kernel_size, padding=kernel_size // 2),
                nn.BatchNorm1d(int(size)),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            previous = int(size)
        self.blocks = nn.Sequential(*layers)
        self.projection = nn.Sequential(nn.Linear(previous, int(out_features)), nn.ReLU())
        self.out_features = int(out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Embed spectra.

        Args:
            x: float tensor (N, B).

        Returns:
            Float tensor (N, D).

        Raises:
            ValueError: If ``x`` is not (N, in_bands).
        """
        _check_spectra(x, self.in_bands)
        features = self.blocks(x[:, None, :]).mean(dim=2)
        return self.projection(features)


class RegressionHead(nn.Module):
    """Regression head: Linear + ReLU to ``hidden`` units, then Linear to ``num_outputs`` (16 then s).

    Args:
        in_features: embedding size D.
        num_outputs: number of regression targets s.
        hidden: hidden units (Dhaini et al. 2024: 16).

    Raises:
        ValueError: If a size is not positive.
    """

    def __init__(self, in_features: int, num_outputs: int, hidden: int = 16) -> None:
        super().__init__()
        _check_sizes("head sizes", (in_features, num_outputs, hidden))
        self.layers = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_outputs))

    def forward(self, features: Tensor) -> Tensor:
        """Predict from embeddings.

        Args:
            features: float tensor (N, D).

        Returns:
            Float tensor (N, s).
        """
        return self.layers(features)


_EXTRACTORS: dict[str, Callable[..., nn.Module]] = {
    "fc": FCFeatureExtractor,
    "cnn1d": CNN1DFeatureExtractor,
}


def list_feature_extractors() -> list[str]:
    """Names accepted by :func:`get_feature_extractor`.

    Returns:
        The sorted names, e.g. ``["cnn1d", "fc"]``.
    """
    return sorted(_EXTRACTORS)


def get_feature_extractor(name: str, in_bands: int, **kwargs: Any) -> nn.Module:
    """Build a feature extractor by name.

    Args:
        name: ``"fc"`` (:class:`FCFeatureExtractor`) or ``"cnn1d"`` (:class:`CNN1DFeatureExtractor`).
        in_bands: number of input bands B.
        **kwargs: passed to the class (``hidden`` for ``"fc"``; ``channels``, ``kernel_size``,
            ``out_features`` for ``"cnn1d"``).

    Returns:
        The module; its ``out_features`` attribute is the embedding size D.

    Raises:
        ValueError: If ``name`` is unknown.
    """
    if name not in _EXTRACTORS:
        raise ValueError(
            f"feature extractor {name!r} is unknown: use one of {', '.join(map(repr, list_feature_extractors()))}"
        )
    return _EXTRACTORS[name](in_bands, **kwargs)


class ContrastiveRegressor(nn.Module):
    """A feature extractor followed by a regression head; exposes the embedding for the contrastive loss.

    The spectra pass through a per-band :class:`~eospec.models.standardisation.BandStandardisation`
    first. It is the identity until :meth:`fit_input_standardisation` sets it from training spectra,
    so an unfitted model sees the spectra in their own unit.

    Args:
        extractor: a module mapping (N, B) to (N, D) with an ``out_features`` attribute D and,
            for the standardisation, an ``in_bands`` attribute B (both built-in extractors have
            them; without it the standardisation stays the identity).
        num_outputs: number of targets s.
        head_hidden: hidden units of the head (16).

    Raises:
        ValueError: If ``extractor`` has no integer ``out_features``.
    """

    def __init__(self, extractor: nn.Module, num_outputs: int, head_hidden: int = 16) -> None:
        super().__init__()
        self.extractor = extractor
        out_features = getattr(extractor, "out_features", None)
        if not isinstance(out_features, int):
            raise ValueError(
                f"extractor {type(extractor).__name__} has no integer out_features: set it to the embedding size D"
            )
        self.head = RegressionHead(out_features, num_outputs, head_hidden)
        self.standardisation = BandStandardisation(int(getattr(extractor, "in_bands", 1)))  # 1: broadcast identity

    def fit_input_standardisation(self, spectra: Any) -> ContrastiveRegressor:
        """Standardise every band with the mean and standard deviation of these training spectra.

        Args:
            spectra: array or tensor (N, B), in the unit the model will be given.

        Returns:
            The model itself.

        Raises:
            ValueError: If the extractor has no ``in_bands``, or ``spectra`` is not (N, B) or holds
                NaN or infinite values.
        """
        if not hasattr(self.extractor, "in_bands"):
            raise ValueError(
                f"extractor {type(self.extractor).__name__} has no in_bands: set it to the number of bands B "
                "to standardise its input"
            )
        self.standardisation.fit(spectra)
        return self

    def embed(self, x: Tensor) -> Tensor:
        """Embeddings of spectra (standardised first, if fitted).

        Args:
            x: float tensor (N, B).

        Returns:
            Float tensor (N, D).
        """
        features: Tensor = self.extractor(self.standardisation(x))
        return features

    def forward_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Predictions and embeddings.

        Args:
            x: float tensor (N, B).

        Returns:
            Predictions (N, s) and embeddings (N, D).
        """
        features = self.embed(x)
        return self.head(features), features

    def forward(self, x: Tensor) -> Tensor:
        """Predict.

        Args:
            x: float tensor (N, B).

        Returns:
            Float tensor (N, s).
        """
        return self.forward_features(x)[0]

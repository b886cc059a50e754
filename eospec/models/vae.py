r"""A variational autoencoder of spectra (SpectralVAE): per-spectrum embeddings and a decoder back to spectra.

Sun, Safanelli, Sanderman et al. (2025), "Self-supervised and multi-fidelity learning for extended
predictive soil spectroscopy" (arXiv:2511.15965) pretrain a VAE on the unlabelled KSSL MIR library
(scan repeats as extra training views) and use its 32-dimensional latent space as spectral
embeddings; a second encoder, for another kind of spectra, is then trained into the same latent space
through the frozen decoder (:class:`SpectralConverter`, :mod:`eospec.trainers.vae`).

The model is the VAE of Kingma & Welling (2014), "Auto-encoding variational Bayes" (ICLR,
arXiv:1312.6114): an encoder gives the mean :math:`\mu(x)` and log-variance :math:`\log\sigma^2(x)`
of a diagonal Gaussian posterior :math:`q(z|x)` over K latent dimensions; a decoder maps :math:`z`
back to the spectrum; training maximises the evidence lower bound (the loss is in
:mod:`eospec.trainers.vae`). The embedding of a spectrum is :math:`\mu(x)` (deterministic).

Spectra enter in their physical quantity (``quantity``: reflectance 0-1 or absorbance
:math:`\log_{10}(1/R)`) at the model's B bands. The modules store their input normalisation as
buffers, so raw spectra can be passed:

1. ``transform="absorbance"`` (only for reflectance input) takes :math:`A = \log_{10}(1/R)` with
   :math:`R` clipped to at least 1e-4; ``"none"`` keeps the values;
2. per-band standardisation with the training set's mean and standard deviation (the *features*).

:meth:`SpectralDecoder.forward` inverts both steps, so decoded spectra are in the input quantity.
Two variants (``kind``):

- ``"fc"``: fully connected encoder B-h1-...-2K and mirrored decoder K-...-h1-B (default
  ``hidden=(256, 128)``);
- ``"conv"``: 1-D convolutions along the band axis (stride 2 per block, ``channels=(16, 32, 64)``),
  a fully connected layer to the latent parameters, and a decoder of fully connected, then
  upsampling + convolution blocks, cropped to B bands.

``linear_skip=True`` adds a linear shortcut beside the nonlinear layers: the posterior parameters
get ``+ W_e f(x)`` and the decoded features ``+ W_d z``. The network then contains a linear
(PCA-like) autoencoder and learns only the nonlinear remainder; on the soil spectra of
``recipes/train_vae_encoder.py`` it halves the reconstruction error at equal training time.

The architectural details of the paper's VAE (layer sizes, activations) are not public in the
sources consulted (the arXiv abstract and summaries); the variants here are eospec's design, with the
paper's latent size (32) as default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from eospec.models.standardisation import BandStandardisation, as_float64

__all__ = [
    "ACTIVATIONS",
    "KINDS",
    "SpectralConverter",
    "SpectralDecoder",
    "SpectralEncoder",
    "SpectralVAE",
    "kl_divergence",
    "latent_columns",
]

Kind = Literal["fc", "conv"]
Quantity = Literal["reflectance", "absorbance"]
TransformName = Literal["none", "absorbance"]

#: Architecture variants of the encoder and decoder.
KINDS: tuple[str, ...] = ("fc", "conv")

#: Activation functions by name.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
}

#: Reflectance is clipped to at least this before log10(1/R).
_REFLECTANCE_FLOOR = 1e-4


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is unknown: use one of {', '.join(map(repr, allowed))}")


def _check_sizes(name: str, sizes: Sequence[int], allow_empty: bool = False) -> tuple[int, ...]:
    values = tuple(int(size) for size in sizes)
    if (not values and not allow_empty) or any(size < 1 for size in values):
        raise ValueError(f"{name} {tuple(sizes)!r} is invalid: use positive sizes, e.g. (256, 128)")
    return values


def _check_transform(quantity: str, transform: str) -> None:
    _check_choice("quantity", quantity, ("reflectance", "absorbance"))
    _check_choice("transform", transform, ("none", "absorbance"))
    if transform == "absorbance" and quantity != "reflectance":
        raise ValueError(
            f"transform 'absorbance' takes log10(1/R) of reflectance, but the quantity is {quantity!r}: "
            "use transform='none' for absorbance spectra"
        )


def _activation(name: str) -> nn.Module:
    _check_choice("activation", name, tuple(ACTIVATIONS))
    return ACTIVATIONS[name]()


def _conv_lengths(n_bands: int, blocks: int, kernel_size: int) -> list[int]:
    """Band-axis length after each stride-2 convolution block (padding kernel_size // 2)."""
    lengths = [n_bands]
    for _ in range(blocks):
        lengths.append((lengths[-1] + 2 * (kernel_size // 2) - kernel_size) // 2 + 1)
    return lengths


class _Normalisation(BandStandardisation):
    """Quantity transform, then per-band standardisation, stored as buffers (shared by encoder and decoder)."""

    def __init__(self, n_bands: int, quantity: Quantity, transform: TransformName) -> None:
        super().__init__(n_bands)
        _check_transform(quantity, transform)
        self.quantity: Quantity = quantity
        self.transform: TransformName = transform

    def transformed(self, x: Tensor) -> Tensor:
        if self.transform == "absorbance":
            return -torch.log10(x.clamp(min=_REFLECTANCE_FLOOR))
        return x

    def inverse_transformed(self, y: Tensor) -> Tensor:
        if self.transform == "absorbance":
            return torch.pow(10.0, -y)
        return y

    def standardise(self, x: Tensor) -> Tensor:
        return self(self.transformed(x))

    def destandardise(self, features: Tensor) -> Tensor:
        return self.inverse_transformed(self.inverse(features))

    def fit(self, spectra: npt.ArrayLike | Tensor) -> _Normalisation:
        super().fit(self.transformed(as_float64(spectra)))
        return self


def _check_spectra(x: Tensor, n_bands: int) -> None:
    if x.ndim != 2 or x.shape[1] != n_bands:
        raise ValueError(
            f"spectra of shape {tuple(x.shape)} do not fit a model for {n_bands} bands: pass (N, {n_bands})"
        )


class _SpectralCoder(nn.Module):
    """Constructor checks, ``options`` and normalisation shared by the VAE encoder and decoder."""

    def _setup(
        self,
        n_bands: int,
        latent_dim: int,
        kind: Kind,
        hidden: Sequence[int],
        channels: Sequence[int],
        kernel_size: int,
        activation: str,
        quantity: Quantity,
        transform: TransformName,
        linear_skip: bool,
    ) -> None:
        _check_choice("kind", kind, KINDS)
        _check_sizes("n_bands and latent_dim", (n_bands, latent_dim))
        #: Constructor arguments other than ``n_bands`` (JSON-ready), for the model's metadata.
        self.options: dict[str, Any] = {
            "latent_dim": int(latent_dim),
            "kind": kind,
            "hidden": [int(h) for h in hidden],
            "channels": [int(c) for c in channels],
            "kernel_size": int(kernel_size),
            "activation": activation,
            "quantity": quantity,
            "transform": transform,
            "linear_skip": bool(linear_skip),
        }
        self.n_bands = int(n_bands)
        self.latent_dim = int(latent_dim)
        self.kind: Kind = kind
        self.normalisation = _Normalisation(self.n_bands, quantity, transform)


class SpectralEncoder(_SpectralCoder):
    """Encoder of a :class:`SpectralVAE`: raw spectra (N, B) to the posterior parameters (mu, logvar).

    Args:
        n_bands: number of input bands, B.
        latent_dim: number of latent dimensions, K.
        kind: ``"fc"`` or ``"conv"`` (module docstring).
        hidden: fully connected layer sizes (``"fc"``: all layers; ``"conv"``: after the convolutions).
        channels: convolution channels per block (``"conv"`` only).
        kernel_size: convolution kernel size in bands (odd; ``"conv"`` only).
        activation: a name of :data:`ACTIVATIONS`.
        quantity: ``"reflectance"`` (0-1) or ``"absorbance"`` (log10(1/R)): what the caller passes.
        transform: ``"none"`` or ``"absorbance"`` (log10(1/R) of reflectance before standardisation).
        linear_skip: add a linear map of the features to the posterior parameters (module docstring).

    Raises:
        ValueError: If a name is unknown or a size is not positive; the message names the value.
    """

    def __init__(
        self,
        n_bands: int,
        latent_dim: int = 32,
        kind: Kind = "fc",
        hidden: Sequence[int] = (256, 128),
        channels: Sequence[int] = (16, 32, 64),
        kernel_size: int = 7,
        activation: str = "gelu",
        quantity: Quantity = "reflectance",
        transform: TransformName = "none",
        linear_skip: bool = False,
    ) -> None:
        super().__init__()
        self._setup(
            n_bands, latent_dim, kind, hidden, channels, kernel_size, activation, quantity, transform, linear_skip
        )
        hidden = _check_sizes("hidden", hidden, allow_empty=kind == "conv")
        layers: list[nn.Module] = []
        if kind == "conv":
            channels = _check_sizes("channels", channels)
            if kernel_size < 1 or kernel_size % 2 == 0:
                raise ValueError(f"kernel_size {kernel_size!r} is invalid: use an odd number of bands, e.g. 7")
            previous = 1
            for size in channels:
                layers += [nn.Conv1d(previous, size, kernel_size, stride=2, padding=kernel_size // 2)]
                layers += [_activation(activation)]
                previous = size
            layers.append(nn.Flatten())
            width = channels[-1] * _conv_lengths(self.n_bands, len(channels), kernel_size)[-1]
        else:
            width = self.n_bands
        for size in hidden:
            layers += [nn.Linear(width, size), _activation(activation)]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2 * self.latent_dim)
        self.skip = nn.Linear(self.n_bands, 2 * self.latent_dim, bias=False) if linear_skip else None

    @property
    def quantity(self) -> Quantity:
        """What the encoder takes: ``"reflectance"`` or ``"absorbance"``."""
        return self.normalisation.quantity

    def features(self, x: Tensor) -> Tensor:
        """Standardised features of raw spectra: float tensor (N, B)."""
        _check_spectra(x, self.n_bands)
        return self.normalisation.standardise(x)

    def encode_features(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior parameters from standardised features (N, B): ``(mu, logvar)``, each (N, K)."""
        h = features.unsqueeze(1) if self.kind == "conv" else features
        out = self.head(self.body(h))
        if self.skip is not None:
            out = out + self.skip(features)
        mu, logvar = out.chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior parameters of raw spectra.

        Args:
            x: float tensor (N, B) in the encoder's ``quantity`` at its bands.

        Returns:
            ``(mu, logvar)``: float tensors (N, K), mean and log-variance of q(z|x).

        Raises:
            ValueError: If ``x`` is not (N, B).
        """
        return self.encode_features(self.features(x))


class SpectralDecoder(_SpectralCoder):
    """Decoder of a :class:`SpectralVAE`: latent codes (N, K) to spectra (N, B) in the input quantity.

    Args:
        n_bands: number of output bands, B.
        latent_dim: number of latent dimensions, K.
        kind: ``"fc"`` or ``"conv"``.
        hidden: fully connected sizes, in encoder order (the decoder runs them reversed).
        channels: convolution channels per block, in encoder order (``"conv"`` only).
        kernel_size: convolution kernel size (``"conv"`` only).
        activation: a name of :data:`ACTIVATIONS`.
        quantity: the quantity of the decoded spectra (that of the training spectra).
        transform: the transform inverted after de-standardisation (``"absorbance"``: R = 10^-A).
        linear_skip: add a linear map of the latent code to the features (module docstring).

    Raises:
        ValueError: If a name is unknown or a size is not positive.
    """

    def __init__(
        self,
        n_bands: int,
        latent_dim: int = 32,
        kind: Kind = "fc",
        hidden: Sequence[int] = (256, 128),
        channels: Sequence[int] = (16, 32, 64),
        kernel_size: int = 7,
        activation: str = "gelu",
        quantity: Quantity = "reflectance",
        transform: TransformName = "none",
        linear_skip: bool = False,
    ) -> None:
        super().__init__()
        self._setup(
            n_bands, latent_dim, kind, hidden, channels, kernel_size, activation, quantity, transform, linear_skip
        )
        hidden = _check_sizes("hidden", hidden, allow_empty=kind == "conv")
        layers: list[nn.Module] = []
        width = self.latent_dim
        for size in reversed(hidden):
            layers += [nn.Linear(width, size), _activation(activation)]
            width = size
        if kind == "conv":
            channels = _check_sizes("channels", channels)
            lengths = _conv_lengths(self.n_bands, len(channels), kernel_size)
            self._start = (channels[-1], lengths[-1])
            layers += [nn.Linear(width, channels[-1] * lengths[-1]), _activation(activation)]
            layers.append(nn.Unflatten(1, self._start))
            sizes = [*reversed(channels), channels[0]]
            for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
                layers += [nn.Upsample(scale_factor=2, mode="linear", align_corners=False)]
                layers += [nn.Conv1d(size_in, size_out, kernel_size, padding=kernel_size // 2)]
                if index < len(channels) - 1:
                    layers.append(_activation(activation))
            layers += [_activation(activation), nn.Conv1d(channels[0], 1, kernel_size, padding=kernel_size // 2)]
        else:
            layers.append(nn.Linear(width, self.n_bands))
        self.body = nn.Sequential(*layers)
        self.skip = nn.Linear(self.latent_dim, self.n_bands, bias=False) if linear_skip else None

    @property
    def quantity(self) -> Quantity:
        """The quantity of the decoded spectra."""
        return self.normalisation.quantity

    def decode_features(self, z: Tensor) -> Tensor:
        """Standardised features (N, B) from latent codes (N, K)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"latent codes of shape {tuple(z.shape)} do not fit a decoder of {self.latent_dim} dimensions: "
                f"pass (N, {self.latent_dim})"
            )
        out = self.body(z)
        if self.kind == "conv":
            out = out[:, 0, : self.n_bands]
        if self.skip is not None:
            out = out + self.skip(z)
        return out

    def forward(self, z: Tensor) -> Tensor:
        """Spectra from latent codes.

        Args:
            z: float tensor (N, K).

        Returns:
            Float tensor (N, B) in the decoder's ``quantity`` (reflectance 0-1 or absorbance).

        Raises:
            ValueError: If ``z`` is not (N, K).
        """
        return self.normalisation.destandardise(self.decode_features(z))


class SpectralVAE(nn.Module):
    """Variational autoencoder of spectra (module docstring): ``encode``, ``decode``, ``embed``.

    Args:
        n_bands: number of bands, B.
        latent_dim: number of latent dimensions, K (the paper's 32 by default).
        kind: ``"fc"`` (fully connected) or ``"conv"`` (1-D convolutional).
        hidden: fully connected layer sizes of the encoder (the decoder mirrors them).
        channels: convolution channels per block (``"conv"``).
        kernel_size: convolution kernel size in bands, odd (``"conv"``).
        activation: a name of :data:`ACTIVATIONS`.
        quantity: ``"reflectance"`` (0-1) or ``"absorbance"`` (log10(1/R)): what is passed and decoded.
        transform: ``"none"`` or ``"absorbance"`` (reflectance modelled as log10(1/R)).
        linear_skip: linear shortcuts from the features to the posterior parameters and from the
            latent code to the features, beside the nonlinear layers (module docstring).

    Raises:
        ValueError: If a name is unknown or a size is not positive; the message names the value.

    Example:
        >>> import torch
        >>> vae = SpectralVAE(50, latent_dim=4, hidden=(16,))
        >>> vae.fit_normalisation(torch.rand(20, 50))
        >>> vae.embed(torch.rand(3, 50)).shape
        torch.Size([3, 4])
    """

    def __init__(
        self,
        n_bands: int,
        latent_dim: int = 32,
        kind: Kind = "fc",
        hidden: Sequence[int] = (256, 128),
        channels: Sequence[int] = (16, 32, 64),
        kernel_size: int = 7,
        activation: str = "gelu",
        quantity: Quantity = "reflectance",
        transform: TransformName = "none",
        linear_skip: bool = False,
    ) -> None:
        super().__init__()
        options: dict[str, Any] = {
            "latent_dim": latent_dim,
            "kind": kind,
            "hidden": hidden,
            "channels": channels,
            "kernel_size": kernel_size,
            "activation": activation,
            "quantity": quantity,
            "transform": transform,
            "linear_skip": linear_skip,
        }
        self.encoder = SpectralEncoder(n_bands, **options)
        self.decoder = SpectralDecoder(n_bands, **options)

    @property
    def n_bands(self) -> int:
        """Number of bands, B."""
        return self.encoder.n_bands

    @property
    def latent_dim(self) -> int:
        """Number of latent dimensions, K."""
        return self.encoder.latent_dim

    @property
    def quantity(self) -> Quantity:
        """What the model takes and decodes: ``"reflectance"`` or ``"absorbance"``."""
        return self.encoder.quantity

    @property
    def is_normalised(self) -> bool:
        """Whether the input normalisation has been fitted (:meth:`fit_normalisation`) or loaded."""
        return bool(self.encoder.normalisation.fitted)

    def architecture(self) -> dict[str, Any]:
        """The constructor arguments, as the ``architecture`` entry of a model's metadata.

        Returns:
            ``{"type": "spectral_vae", "latent_dim": ..., "kind": ..., "hidden": [...], ...}``
            (``n_bands`` is the length of the metadata's ``band_wavelengths_nm``).
        """
        return {"type": "spectral_vae", **self.encoder.options}

    @classmethod
    def from_architecture(cls, architecture: Mapping[str, Any], n_bands: int) -> SpectralVAE:
        """Build an (untrained) model from the ``architecture`` entry of a model's metadata.

        Args:
            architecture: as :meth:`architecture` returns (``type`` must be ``"spectral_vae"``).
            n_bands: number of bands, B.

        Returns:
            The model.

        Raises:
            ValueError: If ``type`` is not ``"spectral_vae"`` or an entry is invalid.
        """
        options = dict(architecture)
        kind = options.pop("type", "spectral_vae")
        if kind != "spectral_vae":
            raise ValueError(f"architecture type {kind!r} is not a VAE: expected 'spectral_vae'")
        return cls(n_bands=n_bands, **options)

    def fit_normalisation(self, spectra: npt.ArrayLike | Tensor) -> None:
        """Set the per-band mean and standard deviation of the features from training spectra.

        Args:
            spectra: float array (N, B) in the model's ``quantity`` (finite values).

        Raises:
            ValueError: If the shape does not fit or a value is not finite.
        """
        self.encoder.normalisation.fit(spectra)
        self.decoder.normalisation.load_state_dict(self.encoder.normalisation.state_dict())

    def features(self, x: Tensor) -> Tensor:
        """Standardised features (N, B) of raw spectra (N, B): the space the reconstruction loss uses."""
        return self.encoder.features(x)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior parameters of spectra.

        Args:
            x: float tensor (N, B), spectra in the model's ``quantity`` at its bands.

        Returns:
            ``(mu, logvar)``: float tensors (N, K).

        Raises:
            ValueError: If ``x`` is not (N, B).
        """
        mu, logvar = self.encoder(x)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Spectra from latent codes.

        Args:
            z: float tensor (N, K).

        Returns:
            Float tensor (N, B) in the model's ``quantity``.
        """
        decoded: Tensor = self.decoder(z)
        return decoded

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        r"""Draw :math:`z = \mu + \sigma \epsilon`, :math:`\epsilon \sim N(0, I)` (Kingma & Welling 2014, Eq. 10).

        Args:
            mu: float tensor (N, K).
            logvar: float tensor (N, K), :math:`\log\sigma^2`.

        Returns:
            Float tensor (N, K).
        """
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One stochastic pass for training: encode, sample, decode (in feature space).

        Args:
            x: float tensor (N, B), raw spectra.

        Returns:
            ``(reconstruction, mu, logvar)``: standardised features (N, B) decoded from a sample of
            q(z|x) (from ``mu`` in eval mode), and the posterior parameters (N, K).
        """
        mu, logvar = self.encoder.encode_features(self.encoder.features(x))
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decoder.decode_features(z), mu, logvar

    @torch.no_grad()
    def embed(self, x: Tensor | npt.ArrayLike) -> Tensor:
        """Embeddings: the posterior means.

        Args:
            x: float tensor or array (N, B), spectra in the model's ``quantity`` at its bands.

        Returns:
            Float32 tensor (N, K) on the model's device: the posterior means mu(x).
        """
        tensor = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, Tensor) else x.float()
        mu, _ = self.encoder(tensor.to(self.encoder.head.weight.device))
        return mu

    @torch.no_grad()
    def reconstruct(self, x: Tensor | npt.ArrayLike) -> Tensor:
        """Spectra decoded from their embeddings (deterministic): ``decode(embed(x))``.

        Args:
            x: float tensor or array (N, B) in the model's ``quantity``.

        Returns:
            Float32 tensor (N, B) in the model's ``quantity``.
        """
        return self.decode(self.embed(x))


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""KL divergence of :math:`N(\mu, \sigma^2)` from :math:`N(0, I)` per sample (Kingma & Welling 2014, App. B).

    .. math:: D_{KL} = -\tfrac12 \sum_k (1 + \log\sigma_k^2 - \mu_k^2 - \sigma_k^2)

    Args:
        mu: float tensor (N, K).
        logvar: float tensor (N, K).

    Returns:
        Float tensor (N,), nats.
    """
    return -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=1)


class SpectralConverter(nn.Module):
    """Multi-fidelity conversion: a low-fidelity encoder into the latent space of a high-fidelity decoder.

    Sun et al. (2025, arXiv:2511.15965) plug a NIR encoder into the frozen MIR decoder of their
    pretrained VAE; ``converter(x_low)`` is ``decoder(encoder(x_low).mu)``.

    Args:
        encoder: the low-fidelity :class:`SpectralEncoder` (B_low bands, K latent dimensions).
        decoder: the high-fidelity :class:`SpectralDecoder` (K latent dimensions, B_high bands).

    Raises:
        ValueError: If the latent sizes differ.
    """

    def __init__(self, encoder: SpectralEncoder, decoder: SpectralDecoder) -> None:
        super().__init__()
        if encoder.latent_dim != decoder.latent_dim:
            raise ValueError(
                f"the encoder has {encoder.latent_dim} latent dimensions but the decoder {decoder.latent_dim}: "
                "train the low-fidelity encoder with the decoder's latent_dim"
            )
        self.encoder = encoder
        self.decoder = decoder

    @property
    def source_bands(self) -> int:
        """Number of low-fidelity bands, B_low."""
        return self.encoder.n_bands

    @property
    def target_bands(self) -> int:
        """Number of high-fidelity bands, B_high."""
        return self.decoder.n_bands

    def forward(self, x: Tensor) -> Tensor:
        """Convert spectra.

        Args:
            x: float tensor (N, B_low) in the encoder's quantity.

        Returns:
            Float tensor (N, B_high) in the decoder's quantity.
        """
        mu, _ = self.encoder(x)
        decoded: Tensor = self.decoder(mu)
        return decoded

    @torch.no_grad()
    def convert(self, x: Tensor | npt.ArrayLike) -> Tensor:
        """Convert spectra without gradients.

        Args:
            x: float tensor or array (N, B_low).

        Returns:
            Float32 tensor (N, B_high).
        """
        tensor = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, Tensor) else x.float()
        result: Tensor = self(tensor)
        return result

    def architecture(self) -> dict[str, Any]:
        """The ``architecture`` entry of a converter's metadata (encoder and decoder options)."""
        return {
            "type": "spectral_converter",
            "latent_dim": self.encoder.latent_dim,
            "encoder": dict(self.encoder.options),
            "decoder": dict(self.decoder.options),
        }

    @classmethod
    def from_architecture(
        cls, architecture: Mapping[str, Any], source_bands: int, target_bands: int
    ) -> SpectralConverter:
        """Build an (untrained) converter from :meth:`architecture`'s output.

        Args:
            architecture: ``{"type": "spectral_converter", "encoder": {...}, "decoder": {...}}``.
            source_bands: B_low.
            target_bands: B_high.

        Returns:
            The converter.

        Raises:
            ValueError: If ``type`` is not ``"spectral_converter"``.
        """
        if architecture.get("type") != "spectral_converter":
            raise ValueError(f"architecture type {architecture.get('type')!r} is not 'spectral_converter'")
        encoder = SpectralEncoder(source_bands, **architecture["encoder"])
        decoder = SpectralDecoder(target_bands, **architecture["decoder"])
        return cls(encoder, decoder)


def latent_columns(latent_dim: int, style: Literal["table", "band"] = "table") -> list[str]:
    """Names of the latent dimensions: ``z_1 .. z_K`` (tables) or ``z01 .. zK`` (raster bands).

    Args:
        latent_dim: K.
        style: ``"table"`` for Parquet columns, ``"band"`` for COG band descriptions (zero-padded to
            the width of K, at least two digits).

    Returns:
        K names.
    """
    if style == "band":
        width = max(2, int(math.log10(max(latent_dim, 1))) + 1)
        return [f"z{k:0{width}d}" for k in range(1, latent_dim + 1)]
    return [f"z_{k}" for k in range(1, latent_dim + 1)]

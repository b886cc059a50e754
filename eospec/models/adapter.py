"""The SpectralEarth spectral adapter: 1-D convolutions along the band axis in front of a 2-D backbone.

Braham et al. (2024), "SpectralEarth: Training Hyperspectral Foundation Models at Scale", IEEE
JSTARS (arXiv:2408.08447), Sec. IV-A and Fig. 4: every pixel's spectrum goes through three blocks
``Conv3d -> BatchNorm3d -> ReLU`` whose kernels span only the band axis (kernel 7, 7, 5; stride 5,
5, 3; padding 1; 32, 64, 128 filters), then an adaptive average pool collapses what is left of the
band axis. The output has 128 channels at the input's spatial resolution, whatever the number of
input bands (at least :data:`MIN_BANDS`), so that a standard ResNet or ViT takes it as a 128-channel
image. For the 202 EnMAP default bands the band axis shrinks 202 -> 40 -> 8 -> 2 -> 1.

The layer order (and so the ``state_dict`` keys ``0.*``, ``1.*``, ``3.*``, ``4.*``, ``6.*``,
``7.*``) is that of the authors' ``SpectralAdapter`` (github.com/AABNassim/spectral_earth,
``src/backbones/spectral_adapter.py``), so their checkpoints load without renaming.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["MIN_BANDS", "SpectralAdapter", "adapter_band_lengths"]

#: Fewest input bands the default adapter accepts (the band axis must survive the three strides).
MIN_BANDS = 75


def adapter_band_lengths(
    n_bands: int,
    kernels: Sequence[int] = (7, 7, 5),
    strides: Sequence[int] = (5, 5, 3),
    padding: int = 1,
) -> list[int]:
    """Length of the band axis after each convolution of the adapter.

    Args:
        n_bands: number of input bands B.
        kernels: kernel sizes along the band axis.
        strides: strides along the band axis.
        padding: zero padding at both ends of the band axis.

    Returns:
        ``[B, L1, L2, L3]`` with ``L_i = (L_{i-1} + 2 * padding - k_i) // s_i + 1`` (PyTorch's
        convolution arithmetic); a value below 1 means the input is too short.
    """
    lengths = [int(n_bands)]
    for kernel, stride in zip(kernels, strides, strict=True):
        previous = lengths[-1]
        numerator = previous + 2 * padding - kernel
        lengths.append(numerator // stride + 1 if numerator >= 0 else 0)
    return lengths


class SpectralAdapter(nn.Sequential):
    """Spectral adapter of SpectralEarth: (N, B, H, W) spectra -> (N, 128, H, W) features.

    Args:
        channels: filters of the three convolution blocks (32, 64, 128 in the paper); the last one
            is the number of output channels.
        kernels: kernel sizes along the band axis (7, 7, 5).
        strides: strides along the band axis (5, 5, 3).
        padding: zero padding at both ends of the band axis (1).

    Raises:
        ValueError: If the three sequences do not have the same length or hold values < 1.

    Example:
        >>> import torch
        >>> SpectralAdapter()(torch.rand(2, 202, 8, 8)).shape
        torch.Size([2, 128, 8, 8])
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128),
        kernels: Sequence[int] = (7, 7, 5),
        strides: Sequence[int] = (5, 5, 3),
        padding: int = 1,
    ) -> None:
        if not (len(channels) == len(kernels) == len(strides)) or not channels:
            raise ValueError(
                f"channels {tuple(channels)}, kernels {tuple(kernels)} and strides {tuple(strides)} must have "
                "the same (non-zero) length: one value per convolution block"
            )
        if min(*channels, *kernels, *strides) < 1 or padding < 0:
            raise ValueError(
                f"channels {tuple(channels)}, kernels {tuple(kernels)}, strides {tuple(strides)} must be >= 1 "
                f"and padding {padding!r} >= 0"
            )
        layers: list[nn.Module] = []
        previous = 1
        for out, kernel, stride in zip(channels, kernels, strides, strict=True):
            layers += [
                nn.Conv3d(previous, out, kernel_size=(kernel, 1, 1), stride=(stride, 1, 1), padding=(padding, 0, 0)),
                nn.BatchNorm3d(out),
                nn.ReLU(),
            ]
            previous = out
        layers.append(nn.AdaptiveAvgPool3d((1, None, None)))
        super().__init__(*layers)
        self.out_channels = int(channels[-1])
        self.kernels = tuple(int(k) for k in kernels)
        self.strides = tuple(int(s) for s in strides)
        self.padding = int(padding)

    def min_bands(self) -> int:
        """Fewest input bands for which every convolution still has an output (75 by default).

        Returns:
            The smallest B with a band axis of at least 1 after the last convolution.
        """
        n_bands = 1
        while adapter_band_lengths(n_bands, self.kernels, self.strides, self.padding)[-1] < 1:
            n_bands += 1
        return n_bands

    def forward(self, x: Tensor) -> Tensor:
        """Apply the adapter to every pixel's spectrum.

        Args:
            x: float tensor of shape (N, B, H, W) (bands on axis 1), B >= :meth:`min_bands`.

        Returns:
            Float tensor of shape (N, C, H, W), C = ``out_channels`` (128).

        Raises:
            ValueError: If ``x`` is not 4-D or has too few bands.
        """
        if x.ndim != 4:
            raise ValueError(f"expected spectra of shape (N, B, H, W), got {tuple(x.shape)}")
        if adapter_band_lengths(x.shape[1], self.kernels, self.strides, self.padding)[-1] < 1:
            raise ValueError(
                f"{x.shape[1]} bands are too few for the spectral adapter: give at least {self.min_bands()} bands "
                "(SpectralEarth models take the 202 EnMAP default bands)"
            )
        out: Tensor = super().forward(x.unsqueeze(1))
        return out.squeeze(2)

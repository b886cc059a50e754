"""SpectralEarth encoders: the spectral adapter in front of a timm ResNet or Vision Transformer.

Braham et al. (2024), "SpectralEarth: Training Hyperspectral Foundation Models at Scale", IEEE
JSTARS (arXiv:2408.08447), Sec. IV-A. The spectral adapter (:class:`~eospec.models.adapter.
SpectralAdapter`) turns (N, B, H, W) spectra into a 128-channel image at full resolution, and

* **Spec. ResNet** (:class:`SpecResNetEncoder`): a ResNet without its stem (no 7x7 convolution, no
  max-pool): the first residual block takes the 128 adapter channels and halves the resolution,
  then the timm ResNet stages follow; output stride 16 (2048 channels at H/16 for ResNet-50).
* **Spec. ViT** (:class:`SpecViTEncoder`): a timm ``VisionTransformer`` with 4 x 4-pixel tokens on
  the 128 adapter channels (ViT-S: 384 dims, 12 blocks, 6 heads; ViT-B: 768, 12, 12), output
  stride 4.

Module and parameter names follow the authors' code (github.com/AABNassim/spectral_earth,
``src/backbones/spec_resnet.py`` and ``spec_vit.py``): ``spectral_adapter.*`` then ``resnet.*``
(``layer1.0`` is their ``CustomBottleneck``: 1x1 conv 128 -> 256, 3x3 conv with stride 2, 1x1 conv,
and a strided 1x1 ``downsample``) or ``vit_core.*`` (timm names), so a ``state_dict`` of the
authors' ``SpecResNet50``/``SpecViTSmall`` loads into these classes key for key
(:mod:`eospec.models.foundation` handles their training checkpoints' prefixes).

Every encoder has :meth:`~SpectralEarthEncoder.forward` (pooled features (N, D), what MoCo and
DINO train), :meth:`~SpectralEarthEncoder.forward_features` (the feature map (N, D, H/s, W/s)) and
:meth:`~SpectralEarthEncoder.pixel_features` (the feature map brought back to (N, D, H, W) by
bilinear upsampling, for per-pixel embeddings). An optional per-band standardisation
(:meth:`~SpectralEarthEncoder.set_input_statistics`) is applied first; it is not part of the
``state_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .adapter import SpectralAdapter

__all__ = [
    "AdapterBottleneck",
    "SpecResNet",
    "SpectralEarthEncoder",
    "SpecResNetEncoder",
    "SpecViTEncoder",
    "VIT_CONFIGS",
    "count_parameters",
    "feature_grid",
    "spec_resnet18",
    "spec_resnet50",
    "spec_vit_small",
    "spec_vit_base",
    "spec_vit_large",
    "spec_vit_huge",
]

#: Width, depth and heads of the ViT sizes of the paper (their ``SpecViTSmall`` ... ``SpecViTHuge``).
VIT_CONFIGS: dict[str, dict[str, int]] = {
    "small": {"embed_dim": 384, "depth": 12, "num_heads": 6},
    "base": {"embed_dim": 768, "depth": 12, "num_heads": 12},
    "large": {"embed_dim": 1024, "depth": 24, "num_heads": 16},
    "huge": {"embed_dim": 1280, "depth": 32, "num_heads": 16},
}


class SpectralEarthEncoder(nn.Module):
    """Base class: spectral adapter + 2-D backbone (see the module docstring).

    Attributes:
        spectral_adapter: the :class:`~eospec.models.adapter.SpectralAdapter`.
        num_features: D, channels of the features.
        output_stride: s, input pixels per feature-map cell along each axis.
        arch: architecture name, e.g. ``"spec_resnet50"``.
    """

    spectral_adapter: SpectralAdapter
    num_features: int
    output_stride: int
    arch: str
    input_mean: Tensor | None
    input_std: Tensor | None
    #: The registry entry of the weights loaded by ``get_foundation_model`` (or None).
    foundation_weights: Any
    #: The ``LoadReport`` of the checkpoint loaded by ``get_foundation_model`` (or None).
    load_report: Any

    def __init__(self) -> None:
        super().__init__()
        self.foundation_weights = None
        self.load_report = None
        self.register_buffer("input_mean", None, persistent=False)
        self.register_buffer("input_std", None, persistent=False)

    @property
    def backbone(self) -> nn.Module:
        """The 2-D part after the adapter (``resnet`` or ``vit_core``)."""
        raise NotImplementedError

    def adapter_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the spectral adapter."""
        return self.spectral_adapter.parameters()

    def set_input_statistics(self, mean: npt.ArrayLike | Tensor | None, std: npt.ArrayLike | Tensor | None) -> None:
        """Standardise inputs band by band, ``(x - mean) / std``, before the adapter.

        The statistics are buffers outside the ``state_dict`` (checkpoints stay in the authors'
        layout); keep them with the model's metadata.

        Args:
            mean: float array (B,), per-band mean in the input's unit (e.g. reflectance 0-1), or
                None to remove the standardisation.
            std: float array (B,), per-band standard deviation (> 0), or None.

        Raises:
            ValueError: If only one of them is None, their shapes differ or a std is <= 0.
        """
        if mean is None or std is None:
            if (mean is None) != (std is None):
                raise ValueError("give both mean and std (or neither, to remove the standardisation)")
            self.input_mean = None
            self.input_std = None
            return
        mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32))
        std_t = torch.as_tensor(np.asarray(std, dtype=np.float32))
        if mean_t.ndim != 1 or mean_t.shape != std_t.shape:
            raise ValueError(f"mean {tuple(mean_t.shape)} and std {tuple(std_t.shape)} must both be (B,) arrays")
        if not bool(torch.all(std_t > 0)):
            raise ValueError("std must be > 0 in every band: replace zero or negative values (e.g. by 1)")
        device = next(self.spectral_adapter.parameters()).device
        self.input_mean = mean_t.to(device)
        self.input_std = std_t.to(device)

    def adapt(self, x: Tensor) -> Tensor:
        """Standardise (if statistics are set) and apply the spectral adapter.

        Args:
            x: float tensor (N, B, H, W).

        Returns:
            Float tensor (N, 128, H, W).

        Raises:
            ValueError: If the statistics are set for another number of bands.
        """
        if self.input_mean is not None and self.input_std is not None:
            if self.input_mean.numel() != x.shape[1]:
                raise ValueError(
                    f"input statistics are for {self.input_mean.numel()} bands but the input has {x.shape[1]}"
                )
            x = (x - self.input_mean[None, :, None, None]) / self.input_std[None, :, None, None]
        out: Tensor = self.spectral_adapter(x)
        return out

    def forward_features(self, x: Tensor) -> Tensor:
        """Feature map of a batch of patches.

        Args:
            x: float tensor (N, B, H, W).

        Returns:
            Float tensor (N, D, ceil(H / s), ceil(W / s)) for the ResNet, (N, D, H / s, W / s) for
            the ViT (H and W multiples of s = ``output_stride``).
        """
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Pooled features (global average pool for the ResNet, class token for the ViT).

        Args:
            x: float tensor (N, B, H, W).

        Returns:
            Float tensor (N, D).
        """
        raise NotImplementedError

    def pixel_features(self, x: Tensor, mode: str = "bilinear") -> Tensor:
        """Features brought back to pixel resolution (one D-vector per input pixel).

        The patch is padded (edge replication) to a multiple of ``output_stride``, encoded, and
        the feature map is upsampled to the padded size (``align_corners=False``: each cell's
        value sits at the centre of the s x s pixels it covers) and cropped back to (H, W).

        Args:
            x: float tensor (N, B, H, W).
            mode: ``"bilinear"`` or ``"nearest"`` upsampling.

        Returns:
            Float tensor (N, D, H, W).

        Raises:
            ValueError: If ``mode`` is not one of them.
        """
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"mode {mode!r} is unknown: use 'bilinear' or 'nearest'")
        height, width = x.shape[-2:]
        stride = self.output_stride
        pad_h = (-height) % stride
        pad_w = (-width) % stride
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        features = self.forward_features(x)
        size = (height + pad_h, width + pad_w)
        if mode == "bilinear":
            up = F.interpolate(features, size=size, mode="bilinear", align_corners=False)
        else:
            up = F.interpolate(features, size=size, mode="nearest")
        return up[..., :height, :width]


class AdapterBottleneck(nn.Module):
    """First residual block of Spec. ResNet: takes the adapter's channels and halves the resolution.

    The authors' ``CustomBottleneck``: ``conv1`` 1x1 (in -> out), ``conv2`` 3x3 with ``stride``,
    ``conv3`` 1x1 (out -> out), each followed by batch norm (ReLU after the first two), plus a
    ``downsample`` shortcut (1x1 convolution with ``stride`` and batch norm), then ReLU.

    Args:
        in_channels: input channels (the adapter's 128).
        out_channels: output channels (256 for ResNet-50, 64 for ResNet-18).
        stride: stride of the 3x3 convolution and of the shortcut.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv3 = nn.Conv2d(out_channels, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Residual block forward pass.

        Args:
            x: float tensor (N, in_channels, H, W).

        Returns:
            Float tensor (N, out_channels, H / stride, W / stride) (rounded up).
        """
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + self.downsample(x)
        result: Tensor = self.relu(out)
        return result


def _dilate_layer(layer: nn.Sequential, dilation: int) -> None:
    """Replace the strides of a ResNet stage by dilation (authors' ``replace_stride_with_dilation``)."""
    for block in layer:
        downsample = getattr(block, "downsample", None)
        if isinstance(downsample, nn.Sequential) and isinstance(downsample[0], nn.Conv2d):
            downsample[0].stride = (1, 1)
        for module in block.modules():
            if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
                module.stride = (1, 1)
                module.dilation = (dilation, dilation)
                module.padding = (dilation, dilation)


class SpecResNet(nn.Module):
    """The ResNet part of Spec. ResNet (authors' ``CustomResNet50``): four stages, no stem.

    Args:
        depth: 50 (the paper) or 18 (a small variant for tests and quick runs).
        in_channels: channels of the adapter output (128).
        num_classes: size of a linear head ``fc`` after global average pooling; 0 for none.
        replace_stride_with_dilation: per stage, replace its stride 2 by dilation (the authors'
            FCN segmentation setting is all True: output stride 1).

    Raises:
        ValueError: If ``depth`` is not 18 or 50, or the dilation list does not have 4 entries.
    """

    def __init__(
        self,
        depth: int = 50,
        in_channels: int = 128,
        num_classes: int = 0,
        replace_stride_with_dilation: Sequence[bool] = (False, False, False, False),
    ) -> None:
        super().__init__()
        import timm

        if depth not in (18, 50):
            raise ValueError(f"depth {depth!r} is not supported: use 50 (the paper) or 18")
        if len(replace_stride_with_dilation) != 4:
            raise ValueError(
                f"replace_stride_with_dilation {tuple(replace_stride_with_dilation)!r} needs one bool per stage (4)"
            )
        base: Any = timm.create_model(f"resnet{depth}", pretrained=False, num_classes=0)
        first_out = int(base.layer1[-1].conv3.out_channels if depth == 50 else base.layer1[-1].conv2.out_channels)
        self.layer1 = nn.Sequential(AdapterBottleneck(in_channels, first_out, stride=2), *list(base.layer1)[1:])
        self.layer2: nn.Sequential = base.layer2
        self.layer3: nn.Sequential = base.layer3
        self.layer4: nn.Sequential = base.layer4
        self.num_features = int(base.num_features)
        self.fc: nn.Module = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        stride = 1
        dilation = 1
        for layer, dilate in zip(self.stages(), replace_stride_with_dilation, strict=True):
            if dilate:
                _dilate_layer(layer, dilation)
                dilation *= 2
            else:
                stride *= 2
        self.output_stride = stride

    def stages(self) -> list[nn.Sequential]:
        """The four stages ``layer1`` ... ``layer4``."""
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def forward_features(self, x: Tensor) -> Tensor:
        """Feature map after ``layer4``.

        Args:
            x: float tensor (N, 128, H, W).

        Returns:
            Float tensor (N, D, H / s, W / s) (rounded up).
        """
        for layer in self.stages():
            x = layer(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Global average pool of the feature map, then ``fc``.

        Args:
            x: float tensor (N, 128, H, W).

        Returns:
            Float tensor (N, D) (or (N, num_classes) with a head).
        """
        pooled = self.forward_features(x).mean(dim=(2, 3))
        out: Tensor = self.fc(pooled)
        return out


class SpecResNetEncoder(SpectralEarthEncoder):
    """Spec. ResNet: ``spectral_adapter`` + ``resnet`` (:class:`SpecResNet`), output stride 16.

    Args:
        depth: 50 (paper) or 18.
        num_classes: linear head size (0: none, the encoder returns features).
        replace_stride_with_dilation: see :class:`SpecResNet`.
        adapter_kwargs: arguments of :class:`~eospec.models.adapter.SpectralAdapter`.

    Example:
        >>> import torch
        >>> encoder = spec_resnet18()
        >>> encoder.pixel_features(torch.rand(1, 202, 16, 16)).shape
        torch.Size([1, 512, 16, 16])
    """

    def __init__(
        self,
        depth: int = 50,
        num_classes: int = 0,
        replace_stride_with_dilation: Sequence[bool] = (False, False, False, False),
        adapter_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.spectral_adapter = SpectralAdapter(**(adapter_kwargs or {}))
        self.resnet = SpecResNet(depth, self.spectral_adapter.out_channels, num_classes, replace_stride_with_dilation)
        self.num_features = self.resnet.num_features
        self.output_stride = self.resnet.output_stride
        self.arch = f"spec_resnet{depth}"

    @property
    def backbone(self) -> nn.Module:
        """The :class:`SpecResNet`."""
        return self.resnet

    def forward_features(self, x: Tensor) -> Tensor:
        """See :meth:`SpectralEarthEncoder.forward_features`."""
        return self.resnet.forward_features(self.adapt(x))

    def forward(self, x: Tensor) -> Tensor:
        """See :meth:`SpectralEarthEncoder.forward`."""
        out: Tensor = self.resnet(self.adapt(x))
        return out


class SpecViTEncoder(SpectralEarthEncoder):
    """Spec. ViT: ``spectral_adapter`` + ``vit_core`` (timm ``VisionTransformer``, 4-pixel tokens).

    Args:
        embed_dim: token width (384 for ViT-S, 768 for ViT-B).
        depth: transformer blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``embed_dim``.
        img_size: patch side the position embeddings are made for (128 in SpectralEarth).
        token_patch_size: pixels per token side (4).
        num_classes: linear head size (0: none).
        dynamic_img_size: accept other sizes (multiples of ``token_patch_size``) by interpolating
            the position embeddings (timm); the ``state_dict`` is the same either way.
        adapter_kwargs: arguments of :class:`~eospec.models.adapter.SpectralAdapter`.
        name: architecture name recorded in ``arch``.
        **vit_kwargs: further arguments of ``timm.models.vision_transformer.VisionTransformer``.

    Example:
        >>> import torch
        >>> encoder = spec_vit_small(embed_dim=32, depth=1, num_heads=2, img_size=16)
        >>> encoder.forward_features(torch.rand(1, 202, 16, 16)).shape
        torch.Size([1, 32, 4, 4])
    """

    def __init__(
        self,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        img_size: int = 128,
        token_patch_size: int = 4,
        num_classes: int = 0,
        dynamic_img_size: bool = True,
        adapter_kwargs: dict[str, Any] | None = None,
        name: str = "spec_vit",
        **vit_kwargs: Any,
    ) -> None:
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        self.spectral_adapter = SpectralAdapter(**(adapter_kwargs or {}))
        self.vit_core = VisionTransformer(
            img_size=img_size,
            patch_size=token_patch_size,
            in_chans=self.spectral_adapter.out_channels,
            num_classes=num_classes,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            dynamic_img_size=dynamic_img_size,
            **vit_kwargs,
        )
        self.num_features = int(self.vit_core.num_features)
        self.output_stride = int(token_patch_size)
        self.img_size = int(img_size)
        self.arch = name

    @property
    def backbone(self) -> nn.Module:
        """The timm ``VisionTransformer``."""
        return self.vit_core

    @property
    def num_prefix_tokens(self) -> int:
        """Class (and register) tokens before the patch tokens (1)."""
        return int(self.vit_core.num_prefix_tokens)

    def tokens(self, x: Tensor) -> Tensor:
        """All tokens after the last block and the final norm.

        Args:
            x: float tensor (N, B, H, W), H and W multiples of ``output_stride``.

        Returns:
            Float tensor (N, P + h * w, D), P = ``num_prefix_tokens``, h = H / 4, w = W / 4.
        """
        out: Tensor = self.vit_core.forward_features(self.adapt(x))
        return out

    def forward_features(self, x: Tensor) -> Tensor:
        """See :meth:`SpectralEarthEncoder.forward_features` (patch tokens as a map).

        Raises:
            ValueError: If H or W is not a multiple of ``output_stride``.
        """
        height, width = x.shape[-2:]
        stride = self.output_stride
        if height % stride or width % stride:
            raise ValueError(
                f"patch size {height}x{width} is not a multiple of the token size {stride}: pad or crop it "
                "(pixel_features pads automatically)"
            )
        tokens = self.tokens(x)[:, self.num_prefix_tokens :]
        grid_h, grid_w = height // stride, width // stride
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, grid_h, grid_w)

    def forward(self, x: Tensor) -> Tensor:
        """See :meth:`SpectralEarthEncoder.forward` (the class token after the final norm)."""
        out: Tensor = self.vit_core(self.adapt(x))
        return out


def spec_resnet50(**kwargs: Any) -> SpecResNetEncoder:
    """Spec. ResNet-50 of SpectralEarth (about 23 M parameters without a head).

    Args:
        **kwargs: arguments of :class:`SpecResNetEncoder` (not ``depth``).

    Returns:
        The encoder, randomly initialised.
    """
    return SpecResNetEncoder(depth=50, **kwargs)


def spec_resnet18(**kwargs: Any) -> SpecResNetEncoder:
    """A small Spec. ResNet-18 (not in the paper; for tests and quick experiments).

    Args:
        **kwargs: arguments of :class:`SpecResNetEncoder` (not ``depth``).

    Returns:
        The encoder, randomly initialised.
    """
    return SpecResNetEncoder(depth=18, **kwargs)


def _spec_vit(size: str, **kwargs: Any) -> SpecViTEncoder:
    settings: dict[str, Any] = dict(VIT_CONFIGS[size]) | {"name": f"spec_vit_{size}"}
    settings.update(kwargs)
    return SpecViTEncoder(**settings)


def spec_vit_small(**kwargs: Any) -> SpecViTEncoder:
    """Spec. ViT-S/4 of SpectralEarth (384 dims, 12 blocks, 6 heads; about 22 M parameters).

    Args:
        **kwargs: arguments of :class:`SpecViTEncoder`, overriding the size (e.g. a tiny
            ``embed_dim=32, depth=1, num_heads=2`` for tests).

    Returns:
        The encoder, randomly initialised.
    """
    return _spec_vit("small", **kwargs)


def spec_vit_base(**kwargs: Any) -> SpecViTEncoder:
    """Spec. ViT-B/4 of SpectralEarth (768 dims, 12 blocks, 12 heads; about 86 M parameters).

    Args:
        **kwargs: arguments of :class:`SpecViTEncoder`.

    Returns:
        The encoder, randomly initialised.
    """
    return _spec_vit("base", **kwargs)


def spec_vit_large(**kwargs: Any) -> SpecViTEncoder:
    """Spec. ViT-L/4 of SpectralEarth (1024 dims, 24 blocks, 16 heads; about 304 M parameters).

    Args:
        **kwargs: arguments of :class:`SpecViTEncoder`.

    Returns:
        The encoder, randomly initialised.
    """
    return _spec_vit("large", **kwargs)


def spec_vit_huge(**kwargs: Any) -> SpecViTEncoder:
    """Spec. ViT-H/4 of SpectralEarth (1280 dims, 32 blocks, 16 heads; about 630 M parameters).

    Args:
        **kwargs: arguments of :class:`SpecViTEncoder`.

    Returns:
        The encoder, randomly initialised.
    """
    return _spec_vit("huge", **kwargs)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of a module.

    Args:
        module: any module.
        trainable_only: count only parameters with ``requires_grad``.

    Returns:
        The count.
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))


def feature_grid(encoder: SpectralEarthEncoder, height: int, width: int) -> tuple[int, int]:
    """Size of the feature map of an (H, W) patch.

    Args:
        encoder: a SpectralEarth encoder.
        height: patch height H in pixels.
        width: patch width W in pixels.

    Returns:
        ``(ceil(H / s), ceil(W / s))`` with s = ``output_stride``.
    """
    stride = encoder.output_stride
    return math.ceil(height / stride), math.ceil(width / stride)

"""Tests of the SpectralEarth spectral adapter and the Spec. ResNet / Spec. ViT encoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import one_thread

import eospec  # noqa: F401  (torchvision fallback before timm)
from eospec.models.adapter import MIN_BANDS, SpectralAdapter, adapter_band_lengths
from eospec.models.backbones import spec_resnet18, spec_resnet50, spec_vit_small

TINY_VIT = {"embed_dim": 32, "depth": 1, "num_heads": 2, "img_size": 16}


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread(seed=0, quiet_lightning=False):
        yield


def _randomise_batch_norm(module: torch.nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.running_mean.uniform_(-0.2, 0.2)
            layer.running_var.uniform_(0.5, 2.0)
            layer.weight.data.uniform_(0.5, 1.5)
            layer.bias.data.uniform_(-0.1, 0.1)


def test_band_axis_lengths_follow_convolution_arithmetic():
    # 202 -> 40 -> 8 -> 2 by (L + 2 - k) // s + 1, and the adapter really produces 2 before pooling
    assert adapter_band_lengths(202) == [202, 40, 8, 2]
    adapter = SpectralAdapter().eval()
    x = torch.rand(1, 1, 202, 2, 2)
    for index, expected in zip((0, 3, 6), (40, 8, 2), strict=True):
        x = adapter[index + 2](adapter[index + 1](adapter[index](x)))
        assert x.shape[2] == expected


def test_output_shape_and_authors_key_layout():
    adapter = SpectralAdapter()
    out = adapter(torch.rand(2, 202, 5, 7))
    assert out.shape == (2, 128, 5, 7)
    keys = set(adapter.state_dict())
    for index, channels in ((0, 32), (3, 64), (6, 128)):
        assert adapter.state_dict()[f"{index}.weight"].shape[:2] == (channels, {0: 1, 3: 32, 6: 64}[index])
        assert f"{index + 1}.running_var" in keys
    assert adapter[0].kernel_size == (7, 1, 1) and adapter[0].stride == (5, 1, 1)
    assert adapter[6].kernel_size == (5, 1, 1) and adapter[6].stride == (3, 1, 1)


def test_min_bands_and_error_for_short_spectra():
    adapter = SpectralAdapter()
    assert adapter.min_bands() == MIN_BANDS
    assert adapter(torch.rand(1, MIN_BANDS, 2, 2)).shape == (1, 128, 2, 2)
    with pytest.raises(ValueError, match=f"74 bands are too few.*at least {MIN_BANDS}"):
        adapter(torch.rand(1, MIN_BANDS - 1, 2, 2))
    with pytest.raises(ValueError, match="same"):
        SpectralAdapter(channels=(8, 16), kernels=(7, 7, 5))


def test_adapter_matches_an_independent_per_pixel_computation():
    adapter = SpectralAdapter().eval()
    _randomise_batch_norm(adapter)
    x = torch.rand(2, 202, 3, 4)
    expected = torch.empty(2, 128, 3, 4)
    with torch.no_grad():
        out = adapter(x)
        for n in range(2):
            for i in range(3):
                for j in range(4):
                    h = x[n, :, i, j][None, None]  # (1, 1, B): a 1-D signal
                    for conv_i in (0, 3, 6):
                        conv, bn = adapter[conv_i], adapter[conv_i + 1]
                        h = F.conv1d(h, conv.weight[..., 0, 0], conv.bias, stride=conv.stride[0], padding=1)
                        h = (h - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps)
                        h = torch.relu(h * bn.weight[None, :, None] + bn.bias[None, :, None])
                    expected[n, :, i, j] = h.mean(dim=-1)[0]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_adapter_is_per_pixel():
    adapter = SpectralAdapter().eval()
    x = torch.rand(1, 202, 4, 4)
    y = x.clone()
    y[0, :, 1, 2] += 0.5
    with torch.no_grad():
        diff = (adapter(x) - adapter(y)).abs().sum(dim=1)[0]
    assert diff[1, 2] > 0
    diff[1, 2] = 0
    assert torch.all(diff == 0)


def test_spec_resnet50_follows_the_authors_layout():
    encoder = spec_resnet50()
    state = encoder.state_dict()
    assert state["resnet.layer1.0.conv1.weight"].shape == (256, 128, 1, 1)
    assert state["resnet.layer1.0.conv2.weight"].shape == (256, 256, 3, 3)
    assert state["resnet.layer1.0.conv3.weight"].shape == (256, 256, 1, 1)
    assert state["resnet.layer1.0.downsample.0.weight"].shape == (256, 128, 1, 1)
    assert state["resnet.layer1.1.conv1.weight"].shape == (64, 256, 1, 1)
    assert state["resnet.layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)
    assert not any(key.startswith(("resnet.conv1", "resnet.bn1", "resnet.fc")) for key in state)
    assert encoder.num_features == 2048 and encoder.output_stride == 16


@pytest.mark.parametrize("builder", ["resnet", "vit"])
def test_feature_shapes_and_pixel_features(builder):
    encoder = (spec_resnet18() if builder == "resnet" else spec_vit_small(**TINY_VIT)).eval()
    stride = encoder.output_stride
    x = torch.rand(2, 202, 16, 16)
    with torch.no_grad():
        features = encoder.forward_features(x)
        pooled = encoder(x)
        pixels = encoder.pixel_features(x)
        nearest = encoder.pixel_features(x, mode="nearest")
    assert features.shape == (2, encoder.num_features, 16 // stride, 16 // stride)
    assert pooled.shape == (2, encoder.num_features)
    assert pixels.shape == (2, encoder.num_features, 16, 16)
    # bilinear upsampling of the feature map, independently computed
    torch.testing.assert_close(pixels, F.interpolate(features, size=(16, 16), mode="bilinear", align_corners=False))
    # nearest: each stride x stride block holds its cell's vector
    blocks = nearest.reshape(2, -1, 16 // stride, stride, 16 // stride, stride)
    torch.testing.assert_close(blocks, features[:, :, :, None, :, None].expand_as(blocks))
    if builder == "resnet":
        torch.testing.assert_close(pooled, features.mean(dim=(2, 3)))


def test_pixel_features_pad_odd_sizes_and_vit_refuses_them_directly():
    encoder = spec_vit_small(**TINY_VIT).eval()
    x = torch.rand(1, 202, 10, 7)
    with torch.no_grad():
        out = encoder.pixel_features(x)
        padded = F.pad(x, (0, 1, 0, 2), mode="replicate")
        full = F.interpolate(encoder.forward_features(padded), size=(12, 8), mode="bilinear", align_corners=False)
    assert out.shape == (1, 32, 10, 7)
    torch.testing.assert_close(out, full[..., :10, :7])
    with pytest.raises(ValueError, match="not a multiple of the token size 4"):
        encoder.forward_features(x)


def test_input_statistics_standardise_before_the_adapter():
    encoder = spec_resnet18().eval()
    generator = np.random.default_rng(0)
    mean = generator.uniform(0.05, 0.3, 202)
    std = generator.uniform(0.02, 0.1, 202)
    x = torch.rand(1, 202, 16, 16) * 0.4
    with torch.no_grad():
        plain = encoder(
            (x - torch.tensor(mean, dtype=torch.float32)[:, None, None]) / torch.tensor(std).float()[:, None, None]
        )
        encoder.set_input_statistics(mean, std)
        standardised = encoder(x)
    torch.testing.assert_close(standardised, plain, rtol=1e-4, atol=1e-5)
    assert "input_mean" not in encoder.state_dict()
    with pytest.raises(ValueError, match="std must be > 0"):
        encoder.set_input_statistics(mean, np.zeros(202))
    with pytest.raises(ValueError, match="statistics are for 202 bands but the input has 150"):
        encoder(torch.rand(1, 150, 16, 16))


def test_dilated_resnet_keeps_full_resolution():
    encoder = spec_resnet18(replace_stride_with_dilation=[True, True, True, True]).eval()
    assert encoder.output_stride == 1
    with torch.no_grad():
        assert encoder.forward_features(torch.rand(1, 202, 12, 12)).shape == (1, 512, 12, 12)

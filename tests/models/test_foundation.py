"""Tests of the foundation-model registry and of loading checkpoints in the SpectralEarth authors' key layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_thread

import eospec  # noqa: F401
from eospec.errors import CheckpointError, UnknownModelError
from eospec.models.foundation import (
    encode_pixels,
    get_foundation_model,
    get_foundation_weights,
    list_foundation_models,
    list_foundation_weights,
    load_input_statistics,
    load_spectralearth_checkpoint,
    read_checkpoint,
    save_checkpoint,
    save_input_statistics,
)
from eospec.sensors import ENMAP_DEFAULT_BANDS, enmap

TINY_VIT = {"embed_dim": 32, "depth": 1, "num_heads": 2, "img_size": 16}


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread(seed=0, quiet_lightning=False):
        yield


def _random_like(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state.items():
        if value.is_floating_point():
            out[key] = torch.randn(value.shape, generator=generator)
        else:
            out[key] = torch.randint(0, 100, value.shape, generator=generator, dtype=value.dtype)
    return out


def test_registry_lists_models_and_weights_with_bands_and_wavelengths():
    assert {"spec_resnet50", "spec_vit_small", "spec_vit_base"} <= set(list_foundation_models())
    assert list_foundation_weights("spec_resnet50") == ["spec_resnet50_dino", "spec_resnet50_moco"]
    entry = get_foundation_weights("spec_vit_small_mae")
    assert entry.model == "spec_vit_small" and entry.filename == "spec_ViTs_mae.pth"
    assert entry.in_chans == 202 and entry.bands[0] == "B1" and entry.bands[-1] == "B224"
    expected = enmap().wavelengths_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]
    np.testing.assert_allclose(entry.wavelengths_nm, expected)
    assert entry.meta["in_chans"] == 202 and entry.model_kwargs["token_patch_size"] == 4
    with pytest.raises(UnknownModelError, match="'nope' are unknown"):
        get_foundation_weights("nope")
    with pytest.raises(UnknownModelError, match="foundation model 'resnet50' is unknown"):
        get_foundation_model("resnet50")
    with pytest.raises(CheckpointError, match="download 'spec_rn50_moco.pth' from https://syncandshare"):
        get_foundation_model("spec_resnet50_moco")


def test_mae_lightning_checkpoint_in_authors_layout_loads_tensor_by_tensor(tmp_path):
    model = get_foundation_model("spec_vit_small", **TINY_VIT)
    values = _random_like(model.state_dict(), seed=1)
    # The authors' MAEModule: the encoder wraps SpecViT; the adapter also sits in the patch-embedding
    # wrapper and the projection under original_patch_embed; the decoder and a 1000-class head come along.
    checkpoint: dict[str, torch.Tensor] = {}
    for key, value in values.items():
        checkpoint[f"encoder.vit.spec_vit.{key}"] = value
        if key.startswith("spectral_adapter."):
            checkpoint[f"encoder.vit.spec_vit.vit_core.patch_embed.{key}"] = value
        if key.startswith("vit_core.patch_embed.proj."):
            rest = key.removeprefix("vit_core.patch_embed.")
            checkpoint[f"encoder.vit.spec_vit.vit_core.patch_embed.original_patch_embed.{rest}"] = value
    checkpoint["encoder.vit.spec_vit.vit_core.head.weight"] = torch.randn(1000, 32)
    checkpoint["encoder.vit.spec_vit.vit_core.head.bias"] = torch.randn(1000)
    checkpoint["decoder.decoder_embed.weight"] = torch.randn(512, 32)
    path = tmp_path / "mae.ckpt"
    torch.save({"state_dict": checkpoint, "epoch": 199, "hyper_parameters": {"mask_ratio": 0.9}}, path)

    loaded = get_foundation_model("spec_vit_small", path, **TINY_VIT)
    report = loaded.load_report
    assert report.prefix == "encoder.vit.spec_vit."
    assert not report.missing and not report.unexpected
    assert "encoder.vit.spec_vit.vit_core.head.weight" in report.ignored
    assert "decoder.decoder_embed.weight" in report.ignored
    state = loaded.state_dict()
    for key, value in values.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)
    torch.testing.assert_close(
        state["vit_core.blocks.0.attn.qkv.weight"], checkpoint["encoder.vit.spec_vit.vit_core.blocks.0.attn.qkv.weight"]
    )


def test_released_plain_state_dict_with_mae_wrapper_keys(tmp_path):
    # What SpecViT.state_dict() holds after the MAE wrapper replaced its patch embedding: the adapter
    # and the projection only under the wrapper's names, plus a head.
    model = get_foundation_model("spec_vit_small", **TINY_VIT)
    values = _random_like(model.state_dict(), seed=2)
    checkpoint = {}
    for key, value in values.items():
        if key.startswith("spectral_adapter."):
            checkpoint[f"vit_core.patch_embed.{key}"] = value
        elif key.startswith("vit_core.patch_embed."):
            checkpoint[f"vit_core.patch_embed.original_patch_embed.{key.removeprefix('vit_core.patch_embed.')}"] = value
        else:
            checkpoint[key] = value
    torch.save(checkpoint, tmp_path / "spec_ViTs_mae.pth")
    loaded = get_foundation_model("spec_vit_small_mae", tmp_path / "spec_ViTs_mae.pth", **TINY_VIT)
    assert loaded.foundation_weights.name == "spec_vit_small_mae"
    for key, value in values.items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_moco_and_dino_checkpoints_pick_the_query_and_teacher_branches(tmp_path):
    model = get_foundation_model("spec_resnet18")
    query = _random_like(model.state_dict(), seed=3)
    key_branch = _random_like(model.state_dict(), seed=4)
    moco = {f"backbone.{k}": v for k, v in query.items()} | {f"backbone_momentum.{k}": v for k, v in key_branch.items()}
    moco["projection_head.layers.0.weight"] = torch.randn(8, 512)
    torch.save({"state_dict": moco}, tmp_path / "moco.ckpt")
    loaded = get_foundation_model("spec_resnet18", tmp_path / "moco.ckpt")
    assert loaded.load_report.prefix == "backbone."
    for key, value in query.items():
        assert torch.equal(loaded.state_dict()[key], value), key
    momentum = get_foundation_model("spec_resnet18", tmp_path / "moco.ckpt", prefix="backbone_momentum.")
    assert torch.equal(
        momentum.state_dict()["resnet.layer2.0.conv1.weight"], key_branch["resnet.layer2.0.conv1.weight"]
    )

    dino = {f"module.student_backbone.{k}": v for k, v in query.items()}
    dino |= {f"module.teacher_backbone.{k}": v for k, v in key_branch.items()}
    torch.save({"state_dict": dino}, tmp_path / "dino.ckpt")
    teacher = get_foundation_model("spec_resnet18", tmp_path / "dino.ckpt")
    assert teacher.load_report.prefix == "teacher_backbone."
    assert torch.equal(teacher.state_dict()["spectral_adapter.0.weight"], key_branch["spectral_adapter.0.weight"])


def test_safetensors_round_trip_keeps_the_authors_layout(tmp_path):
    model = get_foundation_model("spec_resnet18")
    model.load_state_dict(_random_like(model.state_dict(), seed=5))
    path = save_checkpoint(model, tmp_path / "rn18.safetensors", {"ssl_method": "mae"})
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        assert handle.metadata()["arch"] == "spec_resnet18"
        assert "spectral_adapter.0.weight" in set(handle.keys())
    loaded = get_foundation_model("spec_resnet18", path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(ValueError, match="must end in '.safetensors'"):
        save_checkpoint(model, tmp_path / "rn18.pt")


def test_strict_loading_reports_missing_and_mismatched_keys(tmp_path):
    small = get_foundation_model("spec_resnet18").state_dict()
    partial = {k: v for k, v in small.items() if not k.startswith("resnet.layer4.")}
    torch.save(partial, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"does not fit spec_resnet18.*missing \(e\.g\. resnet\.layer4"):
        get_foundation_model("spec_resnet18", tmp_path / "partial.pt")
    model = get_foundation_model("spec_resnet18")
    report = load_spectralearth_checkpoint(model, tmp_path / "partial.pt", strict=False)
    assert report.missing and all(key.startswith("resnet.layer4.") for key in report.missing)
    assert torch.equal(model.state_dict()["resnet.layer1.0.conv1.weight"], small["resnet.layer1.0.conv1.weight"])
    torch.save(small, tmp_path / "rn18.pt")
    with pytest.raises(CheckpointError, match="mismatched"):
        get_foundation_model("spec_resnet50", tmp_path / "rn18.pt")
    torch.save({"foo.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no checkpoint key matches the model"):
        get_foundation_model("spec_resnet18", tmp_path / "other.pt")


class _Payload:
    """Unpickling this would create a marker file (stands for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_unsafe_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "code_ran"
    torch.save(
        {"state_dict": {"spectral_adapter.0.weight": torch.zeros(1)}, "payload": _Payload(marker)}, tmp_path / "x.pt"
    )
    with pytest.raises(CheckpointError, match="refusing to load .* could run code"):
        read_checkpoint(tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="refusing"):
        get_foundation_model("spec_resnet18", tmp_path / "x.pt")
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "missing.pt")


def test_position_embeddings_are_resampled_for_another_patch_size(tmp_path):
    source = get_foundation_model("spec_vit_small", **TINY_VIT)
    torch.save(source.state_dict(), tmp_path / "vit16.pt")
    target = get_foundation_model("spec_vit_small", tmp_path / "vit16.pt", **(TINY_VIT | {"img_size": 32}))
    assert target.load_report.resized == ["vit_core.pos_embed"]
    assert target.state_dict()["vit_core.pos_embed"].shape == (1, 1 + 64, 32)
    torch.testing.assert_close(target.state_dict()["vit_core.cls_token"], source.state_dict()["vit_core.cls_token"])


def test_input_statistics_from_authors_files_and_npz(tmp_path):
    mu = np.linspace(300, 3000, 202)
    sigma = np.linspace(50, 900, 202)
    np.save(tmp_path / "mu.npy", mu)
    np.save(tmp_path / "sigma.npy", sigma)
    mean, std = load_input_statistics(tmp_path)
    np.testing.assert_allclose(mean, mu / 10000)
    np.testing.assert_allclose(std, sigma / 10000)
    save_input_statistics(tmp_path / "stats.npz", mean, std)
    again = load_input_statistics(tmp_path / "stats.npz")
    np.testing.assert_allclose(again[0], mean)
    encoder = get_foundation_model("spec_resnet18", statistics=tmp_path / "stats.npz")
    np.testing.assert_allclose(encoder.input_std.numpy(), std, rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="mu.npy and sigma.npy"):
        load_input_statistics(tmp_path / "nothing")


def test_encode_pixels_marks_invalid_pixels_and_matches_pixel_features():
    encoder = get_foundation_model("spec_vit_small", **TINY_VIT)
    x = torch.rand(2, 202, 16, 16) * 0.3
    encoder.eval()
    with torch.no_grad():
        expected = encoder.pixel_features(x)
    encoder.train()
    out = encode_pixels(encoder, x)
    torch.testing.assert_close(out, expected)
    assert encoder.training  # restored
    x[0, :, 3, 5] = float("nan")
    x[1, 10:20, 0, 0] = float("nan")  # some bands missing: filled, still encoded
    out = encode_pixels(encoder, x.numpy())
    assert torch.isnan(out[0, :, 3, 5]).all()
    assert torch.isfinite(out[1, :, 0, 0]).all()
    assert torch.isfinite(out).sum() == out.numel() - 32

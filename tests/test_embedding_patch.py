"""Per-pixel embeddings of a scene from a SpectralEarth patch encoder (``eospec embed --encoder``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner
from conftest import ENMAP_FIXTURES

from eospec.cli.main import cli
from eospec.embedding import EMBEDDING_NODATA, embed_scene, load_encoder, resolve_encoder
from eospec.errors import UnknownModelError
from eospec.io.scene import invalid_pixel_mask, open_scene
from eospec.models.foundation import encode_pixels, get_foundation_model, save_checkpoint, save_input_statistics
from eospec.sensors import ENMAP_DEFAULT_BANDS

SCENE = ENMAP_FIXTURES / "enmapbox_style.tif"
#: A tiny ViT (8 features, one block) on the 32 x 32 fixture.
TINY = {"embed_dim": 8, "depth": 1, "num_heads": 2, "img_size": 32}


@pytest.fixture(scope="module")
def patch_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``encoder.json`` in the layout of ``recipes/spectralearth/pretrain.py`` (weights, statistics)."""
    folder = tmp_path_factory.mktemp("patch_encoder")
    torch.manual_seed(3)
    model = get_foundation_model("spec_vit_small", **TINY)
    save_checkpoint(model, folder / "encoder.safetensors")
    rng = np.random.default_rng(0)
    save_input_statistics(folder / "statistics.npz", rng.uniform(0.05, 0.3, 202), rng.uniform(0.02, 0.1, 202))
    metadata = {
        "kind": "patch",
        "arch": "spec_vit_small",
        "model_kwargs": TINY,
        "weights": "encoder.safetensors",
        "statistics": "statistics.npz",
    }
    (folder / "encoder.json").write_text(json.dumps(metadata))
    return folder / "encoder.json"


def scene_reflectance() -> tuple[np.ndarray, np.ndarray]:
    """The fixture's reflectance at the 202 EnMAP default bands, float32 (202, 32, 32) with NaN, and invalid."""
    with open_scene(SCENE) as opened:
        info = opened.info
        raw = opened.dataset.read()
    good = info.good_band_indices
    invalid = invalid_pixel_mask(raw[good].reshape(good.size, -1), info.nodata).reshape(raw.shape[1:])
    bands = np.asarray(ENMAP_DEFAULT_BANDS) - 1
    reflectance = (raw[bands] * info.gain[bands, None, None] + info.offset[bands, None, None]).astype(np.float32)
    reflectance[:, invalid] = np.nan
    return reflectance, invalid


def test_invalid_input_gives_nodata_and_d_bands(tmp_path: Path, patch_encoder: Path) -> None:
    out = tmp_path / "emb.tif"
    result = embed_scene(SCENE, out, str(patch_encoder), tile_size=16, halo=8)
    _, invalid = scene_reflectance()
    assert invalid.any() and not invalid.all()
    with rasterio.open(out) as written:
        values = written.read()
        assert written.count == TINY["embed_dim"] == result.latent_dim
        assert written.descriptions[0] == "f001" and written.descriptions[-1] == "f008"
        assert written.nodata == EMBEDDING_NODATA
    np.testing.assert_array_equal((values == EMBEDDING_NODATA).all(axis=0), invalid)
    assert np.isfinite(values).all() and not (values[:, ~invalid] == EMBEDDING_NODATA).any()
    assert result.n_valid == int((~invalid).sum())


def test_whole_scene_halo_equals_encoding_at_once(tmp_path: Path, patch_encoder: Path) -> None:
    """Four 16 x 16 windows, each read with a halo that reaches the whole 32 x 32 scene; without a halo they differ."""
    embed_scene(SCENE, tmp_path / "whole.tif", str(patch_encoder), tile_size=16, halo=32)
    embed_scene(SCENE, tmp_path / "none.tif", str(patch_encoder), tile_size=16, halo=0)
    reflectance, invalid = scene_reflectance()
    model = load_encoder(str(patch_encoder)).module
    expected = encode_pixels(model, reflectance[None])[0].numpy()
    with rasterio.open(tmp_path / "whole.tif") as whole, rasterio.open(tmp_path / "none.tif") as none:
        values, unhaloed = whole.read(), none.read()
    np.testing.assert_allclose(values[:, ~invalid], expected[:, ~invalid], rtol=1e-4, atol=1e-5)
    # A ViT attends over its whole window: 16 x 16 windows alone see less of the scene.
    assert not np.allclose(unhaloed[:, ~invalid], expected[:, ~invalid], rtol=1e-4, atol=1e-5)


def test_architecture_name_is_random_but_reproducible() -> None:
    metadata, _ = resolve_encoder("spec_vit_small")
    assert metadata["kind"] == "patch" and len(metadata["band_wavelengths_nm"]) == 202
    first = load_encoder("spec_resnet18").module
    second = load_encoder("spec_resnet18").module
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def test_bad_encoder_name(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="'spec_resnet99'.*spec_resnet18"):
        resolve_encoder("spec_resnet99")
    result = CliRunner().invoke(
        cli, ["embed", "--scene", str(SCENE), "--out", str(tmp_path / "e.tif"), "--encoder", "spec_nope"]
    )
    assert result.exit_code == 2, result.output
    assert "spec_nope" in result.output and "spec_vit_small" in result.output
    assert list(tmp_path.iterdir()) == []
    bad = tmp_path / "bad" / "encoder.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"kind": "patch", "arch": "resnet7", "weights": "w.safetensors"}))
    with pytest.raises(UnknownModelError, match="'resnet7' is not a SpectralEarth architecture"):
        embed_scene(SCENE, tmp_path / "e.tif", str(bad))
    assert not (tmp_path / "e.tif").exists()


def test_cli_with_a_patch_encoder_json(tmp_path: Path, patch_encoder: Path) -> None:
    out = tmp_path / "e.tif"
    args = ["embed", "--scene", str(SCENE), "--out", str(out), "--encoder", str(patch_encoder), "--tile-size", "16"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "8 bands" in result.output
    with rasterio.open(out) as written:
        assert written.count == 8 and "patch encoder" in written.tags()["embedding"]

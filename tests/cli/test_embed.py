"""`eospec embed` through click: outputs, and every bad input gives exit code 2, a message and no file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import rasterio
from conftest import ENMAP_FIXTURES
from conftest import run_cli as run

SCENE = ENMAP_FIXTURES / "enmapbox_style.tif"
LIBRARIES = Path(__file__).parents[1] / "data" / "libraries"


def test_embed_scene_writes_a_32_band_cog(tmp_path: Path) -> None:
    code, output = run("embed", "--scene", str(SCENE), "--out", str(tmp_path / "emb.tif"))
    assert code == 0, output
    assert "32 bands" in output and "pixels embedded" in output
    with rasterio.open(tmp_path / "emb.tif") as written:
        assert written.count == 32 and written.descriptions[0] == "z01" and written.descriptions[-1] == "z32"


def test_embed_library_writes_parquet(tmp_path: Path) -> None:
    out = tmp_path / "emb.parquet"
    code, output = run("embed", "--library", f"datsoilspc:{LIBRARIES / 'datsoilspc_like.csv'}", "--out", str(out))
    assert code == 0, output
    frame = pd.read_parquet(out)
    assert len(frame) == 4 and "z_32" in frame.columns and "TotalCarbon" in frame.columns
    code, output = run("embed", "--library", str(LIBRARIES / "datsoilspc_like.csv"), "--out", str(out))
    assert code == 2 and "exists" in output and "--overwrite" in output
    code, output = run(
        "embed",
        "--library",
        str(LIBRARIES / "datsoilspc_like.csv"),
        "--out",
        str(out),
        "--overwrite",
        "--id-column",
        "clay",
    )
    assert code == 0, output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --library and --scene"),
        (["--library", "x.csv", "--scene", "y.tif"], "exactly one of --library and --scene"),
        (["--scene", str(SCENE), "--encoder", "nope"], "Unknown model: 'nope'"),
        (["--scene", str(SCENE), "--encoder", "soc"], "'soc' is not an embedding encoder"),
        (["--scene", "missing.tif"], "Scene not found"),
        (["--scene", str(ENMAP_FIXTURES / "not_a_raster.tif")], "is not a raster"),
        (["--library", f"nirsoil:{LIBRARIES / 'nirsoil_like.csv'}"], "covers 1100-2498 nm"),
        (["--library", "missing.csv"], "does not exist"),
        (["--library", "nope:x"], "prefix 'nope' is unknown"),
    ],
)
def test_bad_inputs(tmp_path: Path, args: list[str], message: str) -> None:
    suffix = ".parquet" if "--library" in args and "--scene" not in args else ".tif"
    out = tmp_path / f"out{suffix}"
    code, output = run("embed", *args, "--out", str(out))
    assert code == 2, output
    assert message in output
    assert list(tmp_path.iterdir()) == []


def test_output_suffix_must_fit(tmp_path: Path) -> None:
    code, output = run("embed", "--scene", str(SCENE), "--out", str(tmp_path / "emb.parquet"))
    assert code == 2 and "use a .tif name" in output
    code, output = run("embed", "--library", str(LIBRARIES / "datsoilspc_like.csv"), "--out", str(tmp_path / "e.tif"))
    assert code == 2 and "use a .parquet name" in output
    assert list(tmp_path.iterdir()) == []


def test_models_lists_the_encoder() -> None:
    code, output = run("models")
    assert code == 0, output
    assert "soc" in output and "vae_enmap" in output
    assert "embedding" in output and "32" in output
    assert "reconstruction" in output.lower()

"""`eospec map` through click: outputs, and every bad input gives exit code 2, a message and no file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import rasterio
from conftest import ENMAP_FIXTURES
from conftest import run_cli as run

SCENE = ENMAP_FIXTURES / "enmapbox_style.tif"


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_map_writes_cog_and_reports(tmp_path: Path, linear_model: tuple[Path, object, float]) -> None:
    code, output = run(
        "map", "--scene", str(SCENE), "--out", str(tmp_path / "soc.tif"), "--model", str(linear_model[0])
    )
    assert code == 0, output
    assert "pixels valid" in output and "soc.qml" in output
    with rasterio.open(tmp_path / "soc.tif") as written:
        assert written.count == 2


@pytest.mark.parametrize(
    ("scene", "extra", "message"),
    [
        ("missing.tif", [], "Scene not found"),
        ("not_a_raster.tif", [], "is not a raster"),
        ("no_wavelengths.tif", [], "--wavelengths"),
        ("no_crs.tif", [], "has no CRS"),
    ],
)
def test_bad_scene(
    tmp_path: Path, linear_model: tuple[Path, object, float], scene: str, extra: list[str], message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, output = run(
        "map",
        "--scene",
        str(ENMAP_FIXTURES / scene),
        "--out",
        str(out / "soc.tif"),
        "--model",
        str(linear_model[0]),
        *extra,
    )
    assert code == 2
    assert message in output
    assert listing(out) == []


def test_rgb_image(tmp_path: Path, linear_model: tuple[Path, object, float]) -> None:
    table = tmp_path / "bands.csv"
    table.write_text("wavelength\n480\n560\n660\n800\n")
    out = tmp_path / "out"
    out.mkdir()
    code, output = run(
        "map",
        "--scene",
        str(ENMAP_FIXTURES / "rgb.tif"),
        "--out",
        str(out / "soc.tif"),
        "--model",
        str(linear_model[0]),
        "--wavelengths",
        str(table),
    )
    assert code == 2 and "has 4 bands" in output and "hyperspectral" in output
    assert listing(out) == []


def test_wavelength_table_makes_untagged_scene_usable(tmp_path: Path, linear_model: tuple[Path, object, float]) -> None:
    from eospec.sensors import enmap

    table = tmp_path / "bands.csv"
    table.write_text(
        "wavelength,fwhm\n"
        + "\n".join(f"{w},{f}" for w, f in zip(enmap().wavelengths_nm, enmap().fwhm_nm, strict=True))
    )
    code, output = run(
        "map",
        "--scene",
        str(ENMAP_FIXTURES / "no_wavelengths.tif"),
        "--out",
        str(tmp_path / "soc.tif"),
        "--model",
        str(linear_model[0]),
        "--wavelengths",
        str(table),
    )
    assert code == 0, output


def test_all_nodata_scene_warns(tmp_path: Path, linear_model: tuple[Path, object, float]) -> None:
    code, output = run(
        "map",
        "--scene",
        str(ENMAP_FIXTURES / "all_nodata.tif"),
        "--out",
        str(tmp_path / "soc.tif"),
        "--model",
        str(linear_model[0]),
    )
    assert code == 0
    assert "Warning: No pixel" in output and "all nodata" in output
    assert (tmp_path / "soc.tif").exists()


def test_output_folder_missing(tmp_path: Path, linear_model: tuple[Path, object, float]) -> None:
    code, output = run(
        "map", "--scene", str(SCENE), "--out", str(tmp_path / "nope" / "soc.tif"), "--model", str(linear_model[0])
    )
    assert code == 2 and "does not exist" in output
    assert listing(tmp_path) == ["model"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write to read-only folders")
def test_output_folder_not_writable(tmp_path: Path, linear_model: tuple[Path, object, float]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, output = run(
            "map", "--scene", str(SCENE), "--out", str(locked / "soc.tif"), "--model", str(linear_model[0])
        )
    finally:
        locked.chmod(0o700)
    assert code == 2 and "not writable" in output
    assert listing(locked) == []


def test_output_parent_is_a_file(tmp_path: Path, linear_model: tuple[Path, object, float]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, output = run("map", "--scene", str(SCENE), "--out", str(blocker / "soc.tif"), "--model", str(linear_model[0]))
    assert code == 2 and "does not exist" in output


def test_output_exists_without_overwrite(tmp_path: Path, linear_model: tuple[Path, object, float]) -> None:
    out = tmp_path / "soc.tif"
    out.write_bytes(b"old")
    code, output = run("map", "--scene", str(SCENE), "--out", str(out), "--model", str(linear_model[0]))
    assert code == 2 and "--overwrite" in output
    assert out.read_bytes() == b"old"
    code, output = run("map", "--scene", str(SCENE), "--out", str(out), "--model", str(linear_model[0]), "--overwrite")
    assert code == 0 and out.read_bytes() != b"old"


def test_unknown_model(tmp_path: Path) -> None:
    code, output = run("map", "--scene", str(SCENE), "--out", str(tmp_path / "soc.tif"), "--model", "nitrogen")
    assert code == 2 and "Unknown model: 'nitrogen'" in output and "eospec models" in output
    assert listing(tmp_path) == []

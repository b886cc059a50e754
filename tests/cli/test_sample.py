"""`eospec sample` end to end on the generated three-date stack; bad inputs give exit code 2 and a message."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import geopandas as gpd
import pytest
import rasterio
from conftest import run_cli as run

from eospec.sensors import ENMAP_DEFAULT_BANDS

STACK = Path(__file__).resolve().parents[1] / "data" / "enmap_stack"


def test_sample_writes_the_spectralearth_layout(tmp_path: Path) -> None:
    out = tmp_path / "patches"
    code, output = run("sample", "--scenes", str(STACK), "--out", str(out), "--patch-size", "16", "--no-progress")
    assert code == 0, output
    index = gpd.read_parquet(out / "index.parquet")
    assert f"Wrote {len(index)} patches ({index['n_dates'].sum()} files)" in output
    assert {p.name for p in out.iterdir()} == {"enmap", "index.parquet", "sampling.json"}
    assert sorted(p.name for p in (out / "enmap").iterdir()) == sorted(index["patch_id"])
    tifs = sorted((out / "enmap").glob("*/*.tif"))
    assert len(tifs) == index["n_dates"].sum()
    for tif in tifs:
        assert len(tif.stem) == 15 and tif.stem[8] == "T"  # YYYYMMDDTHHMMSS
        with rasterio.open(tif) as patch:
            assert (patch.count, patch.width, patch.height, patch.dtypes[0]) == (202, 16, 16, "int16")
            band = ENMAP_DEFAULT_BANDS[-1]
            assert patch.descriptions[-1].startswith(f"band {band} (")
    parameters = json.loads((out / "sampling.json").read_text())
    assert parameters["patch_size"] == 16 and parameters["min_dates"] == 2

    code, output = run("sample", "--scenes", str(STACK), "--out", str(out), "--patch-size", "16", "--no-progress")
    assert code == 0, output
    assert f"new 0, kept from an earlier run {len(index)}" in output

    code, output = run("sample", "--scenes", str(STACK), "--out", str(out), "--patch-size", "8")
    assert code == 2 and "other parameters (patch_size: 16 -> 8" in output and "--overwrite" in output
    again = ("sample", "--scenes", str(STACK), "--out", str(out), "--patch-size", "8", "--stride", "24")
    code, output = run(*again, "--overwrite")
    assert code == 0, output
    assert all(p.name.startswith("x") for p in (out / "enmap").iterdir())
    with rasterio.open(next((out / "enmap").glob("*/*.tif"))) as patch:
        assert patch.width == 8


def test_sample_random_pairs(tmp_path: Path) -> None:
    args = ["sample", "--scenes", str(STACK), "--patch-size", "16", "--mode", "random", "--n-patches", "3"]
    code, output = run(*args, "--views", "2", "--seed", "5", "--out", str(tmp_path / "a"))
    assert code == 0, output
    index = gpd.read_parquet(tmp_path / "a" / "index.parquet")
    assert len(index) == 3 and (index["n_dates"] == 2).all()


def test_sample_mixed_crs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("enmap_stack_data", STACK / "data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp_path / "mixed"
    folder.mkdir()
    module.write_mixed_crs_stack(folder)
    code, output = run("sample", "--scenes", str(folder), "--out", str(tmp_path / "out"), "--patch-size", "16")
    assert code == 2 and "2 coordinate reference systems" in output and "--crs EPSG:32633" in output
    code, output = run(
        "sample", "--scenes", str(folder), "--out", str(tmp_path / "out"), "--patch-size", "16", "--crs", "EPSG:32633"
    )
    assert code == 0, output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--patch-size", "128"], "a patch of 128 x 128 px (3840 x 3840 CRS units) is larger than the area"),
        (["--min-dates", "4"], "4 dates needed per window, but the stack holds 3 acquisition date(s)"),
        (["--n-patches", "5"], "--n-patches applies to --mode random only"),
        (["--views", "2", "--min-dates", "3"], "--views sets the number of dates"),
        (["--start", "2024-01-01"], "holds 0 acquisition date(s) within"),
        (["--start", "2023-01-01", "--end", "2022-01-01"], "--end 2022-01-01 00:00:00 is before --start"),
        (["--min-gap", "10", "--max-gap", "5"], "is shorter than min_gap"),
        (["--min-valid-fraction", "2"], "Invalid value for '--min-valid-fraction'"),
    ],
)
def test_sample_bad_inputs(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    code, output = run("sample", "--scenes", str(STACK), "--out", str(out), "--patch-size", "16", *extra)
    assert code == 2
    assert message in output
    assert not out.exists()


def test_sample_no_scenes(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, output = run("sample", "--scenes", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert code == 2 and "no EnMAP L2A scene found in" in output
    code, output = run("sample", "--scenes", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert code == 2 and "does not exist" in output
    code, output = run("sample", "--out", str(tmp_path / "out"))
    assert code == 2 and "Missing option '--scenes'" in output

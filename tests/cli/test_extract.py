"""`eospec extract` through click: the table it writes, and exit code 2 with a message on bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import ENMAP_FIXTURES
from conftest import run_cli as run

from eospec.datasets import EnMAPL2A, SoilSamples
from eospec.extract import extract_spectra

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "soil_samples"
SCENE = ENMAP_FIXTURES / "enmapbox_style.tif"


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_extract_writes_the_table_and_reports_counts(tmp_path: Path) -> None:
    out = tmp_path / "spectra.parquet"
    code, output = run(
        "extract",
        "--scenes",
        str(SCENE),
        "--samples",
        str(SAMPLES / "samples.csv"),
        "--crs",
        "EPSG:4326",
        "--out",
        str(out),
        "--window",
        "3",
        "--max-time-gap",
        "10",
    )
    assert code == 0, output
    assert "status: ok 6, masked 0, time_gap 1, outside 1" in output
    assert "1 outside" in output and "kept in the table" in output  # the warning
    table = gpd.read_parquet(out)
    assert table.crs.to_epsg() == 4326 and len(table) == 8
    with pytest.warns(UserWarning):
        expected = extract_spectra(
            EnMAPL2A(SCENE), SoilSamples(SAMPLES / "samples.csv", crs="EPSG:4326"), window=3, max_time_gap=10
        )
    assert list(table["status"]) == list(expected["status"].astype(str))
    columns = [c for c in table.columns if c.startswith("refl_")]
    assert len(columns) == 202
    np.testing.assert_array_equal(table[columns].to_numpy(), expected[columns].to_numpy())
    assert listing(tmp_path) == ["spectra.parquet"]  # no temporary file left


def test_several_scenes_and_all_bands(tmp_path: Path) -> None:
    late = tmp_path / "late.tif"
    shutil.copy(SCENE, late)
    out = tmp_path / "t.parquet"
    code, output = run(
        "extract",
        "--scenes",
        str(SCENE),
        "--scenes",
        str(late),
        "--samples",
        str(SAMPLES / "samples.gpkg"),
        "--out",
        str(out),
        "--all-bands",
    )
    assert code == 0, output
    table = gpd.read_parquet(out)
    assert len([c for c in table.columns if c.startswith("refl_")]) == 224
    assert "of 2 scene files" in output
    assert table["texture"].tolist()[0] == "loam" and np.isnan(table["soc"].iloc[1])


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    out.write_text("keep me")
    args = ["extract", "--scenes", str(SCENE), "--samples", str(SAMPLES / "samples.parquet"), "--out", str(out)]
    code, output = run(*args)
    assert code == 2 and "exists: pass --overwrite" in output
    assert out.read_text() == "keep me"
    code, output = run(*args, "--overwrite")
    assert code == 0, output
    assert len(gpd.read_parquet(out)) == 8


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--samples", str(SAMPLES / "samples.csv")], "have no CRS"),
        (["--samples", str(SAMPLES / "samples.csv"), "--crs", "EPSG:4326", "--window", "2"], "not an odd number"),
        (["--samples", str(SAMPLES / "samples.parquet"), "--max-time-gap", "soon"], "'soon' is not a duration"),
        (["--samples", str(SAMPLES / "missing.gpkg")], "does not exist"),
        (["--samples", str(SAMPLES / "samples.parquet"), "--date-column", "when"], "date column 'when'"),
        (["--samples", str(SAMPLES / "samples.parquet"), "--window", "1", "--min-valid", "2"], "--min-valid 2"),
    ],
)
def test_bad_samples_and_options(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, output = run("extract", "--scenes", str(SCENE), "--out", str(out / "t.parquet"), *extra)
    assert code == 2, output
    assert message in output
    assert listing(out) == []


def test_bad_scenes(tmp_path: Path) -> None:
    samples = str(SAMPLES / "samples.parquet")
    code, output = run(
        "extract", "--scenes", str(tmp_path / "nothing"), "--samples", samples, "--out", str(tmp_path / "t.parquet")
    )
    assert code == 2 and "does not exist" in output
    empty = tmp_path / "empty"
    empty.mkdir()
    code, output = run("extract", "--scenes", str(empty), "--samples", samples, "--out", str(tmp_path / "t.parquet"))
    assert code == 2 and "not found" in output.lower()
    assert not (tmp_path / "t.parquet").exists()


def test_all_samples_outside_still_writes_every_row(tmp_path: Path) -> None:
    frame = gpd.read_parquet(SAMPLES / "samples.parquet")
    frame["geometry"] = frame.geometry.translate(50_000, 0)
    far = tmp_path / "far.parquet"
    frame.to_parquet(far)
    code, output = run("extract", "--scenes", str(SCENE), "--samples", str(far), "--out", str(tmp_path / "t.parquet"))
    assert code == 0, output
    assert "outside 8" in output
    table = pd.read_parquet(tmp_path / "t.parquet")
    assert (table["status"] == "outside").all() and len(table) == 8

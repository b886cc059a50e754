"""Tests of ``eospec simulate``."""

from __future__ import annotations

import sys

import pytest
import rasterio
from click.testing import CliRunner

from eospec.cli.main import cli

pytest.importorskip("LimeSoDa")
pytest.importorskip("earthlib")


def _run(*args: str):
    return CliRunner().invoke(cli, ["simulate", *args])


def test_simulate_writes_scene_and_truth(tmp_path):
    out = tmp_path / "scene.tif"
    result = _run("--out", str(out), "--size", "16", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    assert "scene_truth.tif" in result.output
    assert "SOC" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif", "scene_truth.json", "scene_truth.tif"]
    with rasterio.open(out) as dataset:
        assert (dataset.count, dataset.width, dataset.dtypes[0]) == (224, 16, "int16")
        assert dataset.tags()["seed"] == "2"


def test_quiet(tmp_path):
    result = CliRunner().invoke(cli, ["-q", "simulate", "--out", str(tmp_path / "s.tif"), "--size", "16"])
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_existing_output(tmp_path):
    out = tmp_path / "scene.tif"
    out.write_bytes(b"keep me")
    result = _run("--out", str(out), "--size", "16")
    assert result.exit_code == 2
    assert "exists" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output
    assert out.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]
    result = _run("--out", str(out), "--size", "16", "--overwrite")
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as dataset:
        assert dataset.count == 224


def test_missing_folder(tmp_path):
    result = _run("--out", str(tmp_path / "missing" / "scene.tif"))
    assert result.exit_code == 2
    assert "does not exist" in result.output and "missing" in result.output


@pytest.mark.parametrize("size", ["8", "4096", "big"])
def test_bad_size(tmp_path, size):
    result = _run("--out", str(tmp_path / "scene.tif"), "--size", size)
    assert result.exit_code == 2
    assert "--size" in result.output


def test_snr_option(tmp_path):
    out = tmp_path / "scene.tif"
    result = _run("--out", str(out), "--size", "16", "--snr", "200", "100")
    assert result.exit_code == 0, result.output
    assert '"snr": [\n  200.0,\n  100.0\n ]' in (tmp_path / "scene_truth.json").read_text()
    assert _run("--out", str(out), "--snr", "0", "100", "--overwrite").exit_code == 2


def test_failure_leaves_no_temp_files(tmp_path, monkeypatch):
    from eospec import simulate

    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(simulate, "_write_truth", fail)
    result = _run("--out", str(tmp_path / "scene.tif"), "--size", "16")
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []


def test_missing_data_packages(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "earthlib", None)
    result = _run("--out", str(tmp_path / "scene.tif"), "--size", "16")
    assert result.exit_code == 2
    assert 'pip install "eospec[data]"' in result.output
    assert "Traceback" not in result.output

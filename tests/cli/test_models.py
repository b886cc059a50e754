"""Tests of ``eospec models``."""

from __future__ import annotations

import json

from click.testing import CliRunner

from eospec.cli.main import cli


def test_models_lists_soc():
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    assert "soc" in result.output
    assert "g/kg" in result.output
    assert "soil organic carbon" in result.output
    assert "CC BY-SA 4.0" in result.output
    assert "RMSE" in result.output and "RPIQ" in result.output
    # the accuracy line gives the metadata's CV figures, on the lab soils and on their plant mixtures
    from eospec.models.registry import get_model_metadata

    cv = get_model_metadata("soc")["cross_validation"]
    line = next(line for line in result.output.splitlines() if "CV accuracy" in line)
    assert f"RMSE {cv['rmse']:.2f} g/kg" in line and f"(n={cv['n']}, 9-fold CV)" in line
    assert f"mixtures: RMSE {cv['mixtures']['rmse']:.2f} g/kg (n={cv['mixtures']['n']})" in line


def test_models_json_parses():
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 0, result.output
    models = json.loads(result.output)
    assert isinstance(models, list)
    soc = next(model for model in models if model["name"] == "soc")
    assert soc["unit"] == "g/kg"
    assert len(soc["band_wavelengths_nm"]) > 0


def test_models_named():
    result = CliRunner().invoke(cli, ["models", "soc", "--json"])
    assert result.exit_code == 0, result.output
    assert [model["name"] for model in json.loads(result.output)] == ["soc"]


def test_unknown_model_is_a_one_line_error():
    result = CliRunner().invoke(cli, ["models", "nope"])
    assert result.exit_code == 2
    assert "Unknown model: 'nope'" in result.output
    assert "soc" in result.output
    assert "Traceback" not in result.output


def test_models_shows_the_epo_step_and_its_wet_soil_figures(monkeypatch):
    from eospec.cli import models as command

    metadata = command.get_model_metadata("soc")
    metadata["architecture"]["epo_components"] = 2
    metadata["epo"] = {
        "components": 2,
        "study": {"0": {"wet": {"rmse": 19.2, "r2": 0.07}}, "2": {"wet": {"rmse": 9.5, "r2": 0.78}}},
    }
    monkeypatch.setattr(command, "get_model_metadata", lambda name: metadata)
    text = command.describe_model("soc")
    assert "EPO + reflectance + SNV" in text or "EPO + absorbance" in text
    line = next(line for line in text.splitlines() if "moisture:" in line)
    assert line.strip() == (
        "moisture:      EPO, 2 components; wet soils out of fold: RMSE 9.50 g/kg, R2 0.78 (without EPO: 19.20, 0.07)"
    )
    metadata["epo"] = None
    assert "moisture:" not in command.describe_model("soc")

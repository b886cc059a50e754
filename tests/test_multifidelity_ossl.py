"""The NIR-to-MIR multi-fidelity demo (``recipes/multifidelity_demo.py --demo ossl``) on the OSSL-layout fixture."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_recipe, one_thread

from eospec.errors import SpectralLibraryError
from eospec.libraries import read_ossl
from eospec.multifidelity import load_converter

FIXTURE = Path(__file__).resolve().parent / "data" / "libraries" / "ossl_paired"
WARNINGS = (".*(treespec|eval mode|num_workers|does not have many workers).*",)


def _recipe() -> ModuleType:
    return import_recipe("multifidelity_demo")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One quick run of the demo on the fixture (one thread): its output folder, return code and wall time."""
    out = tmp_path_factory.mktemp("mf_ossl")
    recipe = _recipe()
    with one_thread(ignore=WARNINGS):
        started = time.perf_counter()
        code = recipe.main(["--demo", "ossl", "--quick", "--out-dir", str(out), "--threads", "1"])
        seconds = time.perf_counter() - started
    yield {"out": out, "code": code, "seconds": seconds, "recipe": recipe}


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2)))


def test_demo_runs_quickly_and_writes_its_reports(demo: dict[str, Any]) -> None:
    assert demo["code"] == 0
    assert demo["seconds"] < 30.0
    out: Path = demo["out"]
    summary = json.loads((out / "ossl_visnir_to_ossl_mir_report.json").read_text())
    assert summary["demo"] == "ossl" and summary["data"] == "fixture"
    assert summary["target_unit"] == "cm-1" and summary["target_quantity"] == "absorbance"
    assert summary["n_train_pairs"] + summary["n_test"] == 80  # the paired layers of the fixture
    markdown = (out / "ossl_visnir_to_ossl_mir_report.md").read_text()
    assert "FIXTURE RESULT" in markdown and "not a scientific result" in markdown
    assert f"| converter | {summary['converter']['rmse']:.4f} |" in markdown
    per_band = (out / "ossl_visnir_to_ossl_mir_per_band.csv").read_text().splitlines()
    assert len(per_band) == 1 + 341  # header + the fixture's MIR bands (600-4000 cm-1 every 10)


def test_conversion_beats_the_training_mean_spectrum(demo: dict[str, Any]) -> None:
    # Recompute both errors independently from the fixture and the converted spectra the demo wrote.
    out: Path = demo["out"]
    converted = read_ossl(out / "ossl_mir_converted_test.csv", scan="mir", dtype=np.float64)
    mir = read_ossl(FIXTURE, scan="mir", dtype=np.float64)
    visnir = read_ossl(FIXTURE, scan="visnir")
    test_ids = np.asarray(converted.ids, dtype=str)
    mir_ids = np.asarray(mir.ids, dtype=str)
    paired = np.isin(mir_ids, np.asarray(visnir.ids, dtype=str))
    train = paired & ~np.isin(mir_ids, test_ids)
    assert train.sum() == 80 - len(test_ids)
    reference = mir.spectra[[int(np.flatnonzero(mir_ids == i)[0]) for i in test_ids]]
    converter_rmse = _rmse(converted.spectra, reference)
    mean_rmse = _rmse(np.broadcast_to(mir.spectra[train].mean(axis=0), reference.shape), reference)
    assert converter_rmse < 0.8 * mean_rmse
    summary = json.loads((out / "ossl_visnir_to_ossl_mir_report.json").read_text())
    assert summary["converter"]["rmse"] == pytest.approx(converter_rmse, rel=1e-4)
    assert summary["training_mean_baseline"]["rmse"] == pytest.approx(mean_rmse, rel=1e-4)
    # The latent route cannot beat its own decoder's reconstruction of the measured spectra.
    assert summary["vae_reconstruction_ceiling"]["rmse"] < summary["converter"]["rmse"]


def test_converted_spectra_are_on_the_mir_axis(demo: dict[str, Any]) -> None:
    out: Path = demo["out"]
    converted = read_ossl(out / "ossl_mir_converted_test.csv", scan="mir", dtype=np.float64)
    mir = read_ossl(FIXTURE, scan="mir")
    assert converted.wavelength_unit == "cm-1" and converted.quantity == "absorbance"
    np.testing.assert_array_equal(converted.wavelengths, mir.wavelengths)
    # The saved converter reproduces the written spectra from the measured vis-NIR scans.
    converter = load_converter(out / "ossl_visnir_to_ossl_mir.json", register=False)
    assert converter.source.unit == "nm" and converter.source.quantity == "reflectance"
    assert converter.target.unit == "cm-1" and converter.target.quantity == "absorbance"
    visnir = read_ossl(FIXTURE, scan="visnir", dtype=np.float64).mean_repeats()
    ids = np.asarray(visnir.ids, dtype=str)
    rows = [int(np.flatnonzero(ids == i)[0]) for i in np.asarray(converted.ids, dtype=str)]
    with one_thread(ignore=WARNINGS):
        again = converter(visnir.spectra[rows])
    np.testing.assert_allclose(again, converted.spectra, rtol=1e-5, atol=1e-6)


def test_downstream_check_is_reported(demo: dict[str, Any]) -> None:
    summary = json.loads((demo["out"] / "ossl_visnir_to_ossl_mir_report.json").read_text())
    downstream = summary["downstream"]
    assert downstream["property"] == "oc_usda.c729_w.pct" and downstream["unit"] == "%"
    models = downstream["models"]
    assert {"source_input", "mir_model_on_converter", "mir_model_on_measured"} <= set(models)
    assert all(m["n"] == summary["n_test"] for m in models.values())
    # A MIR model on the measured MIR spectra is the ceiling of the converted route.
    assert models["mir_model_on_measured"]["rmse"] <= models["mir_model_on_converter"]["rmse"]


def _copy_fixture(tmp_path: Path, *leave_out: str) -> Path:
    folder = tmp_path / "ossl"
    folder.mkdir(parents=True)
    for path in FIXTURE.iterdir():
        if path.name not in leave_out:
            shutil.copy(path, folder / path.name)
    return folder


def test_missing_tables_are_named_with_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _recipe()
    folder = _copy_fixture(tmp_path, "ossl_mir_L0_v1.2.csv.gz", "ossl_soillab_L1_v1.2.csv.gz")
    with pytest.raises(
        SpectralLibraryError,
        match=r"lacks ossl_mir_L0_v1.2.csv.gz, ossl_soillab_L1_v1.2.csv.gz: download "
        r"https://storage.googleapis.com/soilspec4gg-public/ossl_mir_L0_v1.2.csv.gz",
    ):
        recipe.check_ossl_folder(folder, ("visnir", "mir"))
    # Through the command line: exit code 2 and the message, before any training.
    assert recipe.main(["--demo", "ossl", "--ossl-dir", str(folder), "--out-dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "ossl_mir_L0_v1.2.csv.gz" in error and "docs/vae.md" in error
    assert not (tmp_path / "out").exists()
    # The soil-lab table is only needed for the downstream check.
    recipe.check_ossl_folder(_copy_fixture(tmp_path / "b", "ossl_soillab_L1_v1.2.csv.gz"), ("visnir", "mir"), lab=False)
    with pytest.raises(FileNotFoundError, match="does not exist: download the OSSL v1.2 tables"):
        recipe.check_ossl_folder(tmp_path / "absent", ("visnir", "mir"))


def test_too_few_pairs_is_an_error(tmp_path: Path) -> None:
    recipe = _recipe()
    small = Path(__file__).resolve().parent / "data" / "libraries" / "ossl"  # one layer with both scans
    with pytest.raises(SpectralLibraryError, match=r"only 1 layers .* have both a visnir and a MIR scan"):
        recipe.read_ossl_pairs(small, "visnir", "oc")
    with pytest.raises(SpectralLibraryError, match="lacks ossl_nir_L0_v1.2.csv.gz"):
        recipe.read_ossl_pairs(small, "nir", None)


def test_bands_missing_in_some_datasets_are_dropped_not_the_spectra() -> None:
    recipe = _recipe()
    library = read_ossl(FIXTURE, scan="visnir", dtype=np.float64)
    spectra = np.array(library.spectra)
    spectra[::2, :5] = np.nan  # half the scans start at 400 nm instead of 350 nm
    spectra[51, 100] = np.nan  # one scan (of a layer scanned once) misses a band the others have
    holed = type(library)(spectra, library.wavelengths, "nm", sample_ids=library.ids, name="holed")
    kept = recipe.complete_spectra(holed)
    np.testing.assert_array_equal(kept.wavelengths, library.wavelengths[5:])
    assert len(kept) == len(library) - 1 and library.ids[51] not in set(kept.ids)
    np.testing.assert_array_equal(kept.spectra[0], library.spectra[0, 5:])
    with pytest.raises(SpectralLibraryError, match="fewer than two bands are measured"):
        recipe.complete_spectra(type(library)(np.full((3, 4), np.nan), np.arange(4.0) + 400, "nm"))

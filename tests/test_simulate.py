"""Tests of eospec.simulate: the simulated EnMAP L2A scene and its truth."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from eospec.errors import OutputExistsError, OutputNotWritableError
from eospec.io import open_scene
from eospec.sensors import enmap, gaussian_srf_matrix, nearest_band, resample

LimeSoDa = pytest.importorskip("LimeSoDa")
pytest.importorskip("earthlib")

from eospec import simulate as simulate_module  # noqa: E402
from eospec.simulate import DataPackageMissingError, simulate_scene, water_reflectance  # noqa: E402

SIZE = 64


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("simulated")
    return simulate_scene(folder / "scene.tif", size=SIZE, seed=0)


@pytest.fixture(scope="module")
def truth(simulated):
    with rasterio.open(simulated.truth_path) as dataset:
        return dataset.read()


@pytest.fixture(scope="module")
def table(simulated):
    return json.loads(simulated.truth_json_path.read_text())


@pytest.fixture(scope="module")
def reflectance(simulated):
    with open_scene(simulated.scene_path) as scene:
        return scene.read_reflectance()


def _limesoda_sample(dataset: str, sample_id: str) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Independent read of a LimeSoDa sample: wavelengths (nm), reflectance 0-1, SOC g/kg, fold."""
    data = LimeSoDa.load_dataset(dataset)
    frame = data["Dataset"]
    columns = [c for c in frame.columns if c.startswith("wl_")]
    position = list(frame.index).index(sample_id)
    wavelengths = np.array([float(c[3:]) for c in columns])
    spectrum = frame.loc[sample_id, columns].to_numpy(dtype=float) / 100.0
    if "SOC_target" in frame.columns:
        soc = float(frame.loc[sample_id, "SOC_target"]) * 10.0
    else:
        soc = float(frame.loc[sample_id, "SOM_target"]) / 1.724 * 10.0
    return wavelengths, spectrum, soc, int(np.asarray(data["Folds"])[position])


def _ndvi(reflectance: np.ndarray) -> np.ndarray:
    wavelengths = enmap().wavelengths_nm
    red = reflectance[nearest_band(wavelengths, 665.0)]
    nir = reflectance[nearest_band(wavelengths, 865.0)]
    return (nir - red) / (nir + red)


def test_raster_is_enmap_l2a_like(simulated):
    sensor = enmap()
    with rasterio.open(simulated.scene_path) as dataset:
        assert dataset.count == 224
        assert set(dataset.dtypes) == {"int16"}
        assert dataset.crs.to_epsg() == 32633
        assert dataset.nodata == -32768
        assert dataset.res == (30.0, 30.0)
        assert (dataset.transform.c, dataset.transform.f) == (364095.0, 5809965.0)
        assert (dataset.width, dataset.height) == (SIZE, SIZE)
        structure = dataset.tags(ns="IMAGE_STRUCTURE")
        assert structure["COMPRESSION"] == "DEFLATE"
        assert dataset.block_shapes[0] == (32, 32)  # tiled: blocks smaller than the image
        tags = dataset.tags()
        assert tags["scale_factor"] == "0.0001"
        assert "start_time" in tags
        assert "SIMULATED" in tags["source"]
        band_tags = [dataset.tags(b) for b in range(1, 225)]
        descriptions = dataset.descriptions
    np.testing.assert_array_equal([float(t["wavelength"]) for t in band_tags], sensor.wavelengths_nm)
    np.testing.assert_array_equal([float(t["fwhm"]) for t in band_tags], sensor.fwhm_nm)
    bbl = np.array([t["bbl"] for t in band_tags])
    np.testing.assert_array_equal(bbl == "0", sensor.bad_bands)
    assert (bbl == "0").sum() == 22
    assert {t["wavelength_units"] for t in band_tags} == {"Nanometers"}
    assert descriptions[0] == "band 1 (418.24 Nanometers)"


def test_open_scene_reads_it(simulated, truth):
    with open_scene(simulated.scene_path) as scene:
        info = scene.info
        np.testing.assert_array_equal(info.gain, np.full(224, 1e-4))
        assert "scale_factor" in info.scale_source
        np.testing.assert_array_equal(info.bad_bands, enmap().bad_bands)
        np.testing.assert_array_equal(info.wavelengths_nm, enmap().wavelengths_nm)
        assert info.acquisition_time is not None
        invalid = scene.invalid_pixels(scene.read_raw())
    # Nodata strip and all-zero pixels are exactly the pixels without truth.
    np.testing.assert_array_equal(invalid, truth[1] == -9999)
    assert simulated.n_nodata_pixels + simulated.n_zero_pixels == invalid.sum()
    assert simulated.n_zero_pixels >= 3


def test_layout_has_every_cover(simulated, table, truth):
    kinds = {field["type"] for field in table["fields"]}
    assert kinds == {"bare", "sparse_vegetation", "crop_residue", "vegetated", "meadow", "lake"}
    valid = truth[1] != -9999
    fractions = truth[1:5][:, valid].sum(axis=0)
    np.testing.assert_allclose(fractions, 1.0, atol=1e-6)
    assert truth[2][valid & (truth[2] < 1) & (truth[2] > 0)].max() <= 0.2 + 1e-6
    assert simulated.n_water_pixels > 0
    # A field holds one sample; every soil field's sample is from the held-out fold.
    soil_fields = [f for f in table["fields"] if "dataset" in f]
    assert len(soil_fields) == simulated.n_soil_fields
    assert {f["fold"] for f in soil_fields} == {10}
    assert len({(f["dataset"], f["sample_id"]) for f in soil_fields}) == len(soil_fields)


def test_ndvi_separates_soil_from_vegetation(reflectance, truth, table):
    ndvi = _ndvi(reflectance)
    vegetated = truth[2] == 1.0
    assert vegetated.sum() > 100
    assert np.nanmin(ndvi[vegetated]) > 0.6
    for field in (f for f in table["fields"] if f["type"] == "bare"):
        pixels = ndvi[(truth[5] == field["id"]) & (truth[1] == 1.0)]
        if field["dataset"] == "CV.98":
            # The CV.98 lab spectra are very dark in the visible: their own NDVI is 0.31-0.39.
            assert field["soil_ndvi"] > 0.3
            np.testing.assert_allclose(pixels, field["soil_ndvi"], atol=0.02)
        else:
            assert pixels.max() < 0.3


def test_pure_soil_pixels_match_limesoda(simulated, reflectance, truth, table):
    sensor = enmap()
    sigma = simulated.noise_sigma
    checked = 0
    for field in (f for f in table["fields"] if f["type"] == "bare"):
        wavelengths, spectrum, soc, fold = _limesoda_sample(field["dataset"], field["sample_id"])
        assert fold == 10
        assert truth[0][truth[5] == field["id"]][0] == pytest.approx(soc, rel=1e-6)
        # Independent recomputation on the sample's own wavelength grid.
        expected = resample(spectrum, gaussian_srf_matrix(wavelengths, sensor.wavelengths_nm, sensor.fwhm_nm))
        good = ~sensor.bad_bands & np.isfinite(expected)
        pixels = reflectance[:, (truth[5] == field["id"]) & (truth[1] == 1.0)][good]
        if pixels.shape[1] == 0:
            continue
        # Noise is 0.3 / SNR; 5e-4 allows for the simulation's 1 nm interpolation.
        tolerance = 5 * sigma[good, None] + 5e-4
        assert np.all(np.abs(pixels - expected[good, None]) < tolerance)
        mean_tolerance = 5 * sigma[good] / math.sqrt(pixels.shape[1]) + 5e-4
        assert np.all(np.abs(pixels.mean(axis=1) - expected[good]) < mean_tolerance)
        # The scatter between pixels of one field is the noise model.
        if pixels.shape[1] > 10:
            ratio = np.median(pixels.std(axis=1) / sigma[good])
            assert 0.8 < ratio < 1.2
        checked += 1
    assert checked >= 10


def test_truth_soc_equals_limesoda(truth, table):
    soil_fields = [f for f in table["fields"] if "dataset" in f]
    for field in soil_fields:
        _, _, soc, _ = _limesoda_sample(field["dataset"], field["sample_id"])
        assert field["soc_g_per_kg"] == pytest.approx(soc, rel=1e-6)
        values = truth[0][(truth[5] == field["id"]) & (truth[1] > 0)]
        np.testing.assert_allclose(values, soc, rtol=1e-6)
    # No soil, no SOC: water, vegetated fields and meadow.
    assert np.all(truth[0][truth[1] == 0] == -9999)


def test_water_is_dark(reflectance, truth):
    water = reflectance[:, truth[4] == 1.0]
    wavelengths = enmap().wavelengths_nm
    assert np.all(water[nearest_band(wavelengths, 1610.0)] < 0.05)
    green = np.median(water[nearest_band(wavelengths, 560.0)])
    assert 0.005 < green < 0.03
    model = water_reflectance([443.0, 560.0, 900.0, 2200.0])
    assert model[1] > model[0] > model[2]
    assert model[3] == pytest.approx(0.002, abs=1e-4)


def test_same_seed_same_pixels_other_seed_differs(tmp_path):
    arrays = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        result = simulate_scene(tmp_path / f"{name}.tif", size=32, seed=seed)
        with rasterio.open(result.scene_path) as dataset, rasterio.open(result.truth_path) as truth:
            arrays.append((dataset.read(), truth.read()))
    np.testing.assert_array_equal(arrays[0][0], arrays[1][0])
    np.testing.assert_array_equal(arrays[0][1], arrays[1][1])
    assert not np.array_equal(arrays[0][0], arrays[2][0])


def test_no_noise(tmp_path):
    result = simulate_scene(tmp_path / "clean.tif", size=16, snr=math.inf)
    assert np.all(result.noise_sigma == 0)
    assert json.loads(result.truth_json_path.read_text())["snr"] == "inf"


def test_existing_output_is_refused_and_kept(tmp_path):
    scene = tmp_path / "scene.tif"
    scene.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match=r"scene\.tif.*--overwrite"):
        simulate_scene(scene, size=16)
    assert scene.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


def test_existing_truth_is_refused(tmp_path):
    (tmp_path / "scene_truth.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="scene_truth.json"):
        simulate_scene(tmp_path / "scene.tif", size=16)
    assert not (tmp_path / "scene.tif").exists()


def test_overwrite_replaces(tmp_path):
    scene = tmp_path / "scene.tif"
    scene.write_bytes(b"old")
    simulate_scene(scene, size=16, overwrite=True)
    with rasterio.open(scene) as dataset:
        assert dataset.count == 224


def test_missing_folder(tmp_path):
    with pytest.raises(OutputNotWritableError, match="does not exist"):
        simulate_scene(tmp_path / "missing" / "scene.tif", size=16)


@pytest.mark.parametrize("writer", ["_write_scene", "_write_truth", "_write_json"])
def test_failure_leaves_no_partial_files(tmp_path, monkeypatch, writer):
    original = getattr(simulate_module, writer)

    def fail(path: Path, *args, **kwargs):
        original(path, *args, **kwargs)  # write part of the output, then fail
        raise RuntimeError("disk full")

    monkeypatch.setattr(simulate_module, writer, fail)
    old = tmp_path / "scene.tif"
    old.write_bytes(b"previous scene")
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_scene(old, size=16, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]
    assert old.read_bytes() == b"previous scene"


def test_missing_data_packages(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "LimeSoDa", None)
    with pytest.raises(DataPackageMissingError, match=r'pip install "eospec\[data\]"') as caught:
        simulate_scene(tmp_path / "scene.tif", size=16)
    assert isinstance(caught.value, ImportError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [8, 4096, 32.5, True])
def test_bad_size(tmp_path, size):
    with pytest.raises(ValueError, match="size must be"):
        simulate_scene(tmp_path / "scene.tif", size=size)


@pytest.mark.parametrize("seed", [-1, 1.5])
def test_bad_seed(tmp_path, seed):
    with pytest.raises(ValueError, match="seed must be"):
        simulate_scene(tmp_path / "scene.tif", size=16, seed=seed)


@pytest.mark.parametrize("snr", [0, -1, (400, 150, 100), float("nan")])
def test_bad_snr(tmp_path, snr):
    with pytest.raises(ValueError, match="snr must"):
        simulate_scene(tmp_path / "scene.tif", size=16, snr=snr)

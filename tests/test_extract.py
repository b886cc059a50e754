"""Tests of extract_spectra: values against independent reads, statuses, time gaps, real Potsdam points."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from conftest import ENMAP_EXPECTED, ENMAP_FIXTURES, enmap_cloud_block, enmap_reference

from eospec.datasets import EnMAPL2A, SoilSamples
from eospec.errors import SamplesOutsideScenesWarning
from eospec.extract import STATUSES, extract_spectra, spectrum_columns, write_table
from eospec.sensors import enmap

DATA = Path(__file__).resolve().parent / "data" / "soil_samples"
EXPECTED = json.loads((DATA / "expected.json").read_text())
PRODUCT = ENMAP_EXPECTED["product"]
SCENES = {"geotiff": ENMAP_FIXTURES / "enmapbox_style.tif", "dlr_zip": ENMAP_FIXTURES / f"{PRODUCT}.zip"}
ALL = EnMAPL2A.all_bands
ACQUISITION = pd.Timestamp(EXPECTED["acquisition"])


def samples(**kwargs: object) -> SoilSamples:
    return SoilSamples(DATA / "samples.csv", crs="EPSG:4326", **kwargs)  # type: ignore[arg-type]


def reference(form: str) -> np.ndarray:
    """Reflectance of the fixture read independently; the DLR form also masks its cloud block."""
    values = enmap_reference()
    if form == "dlr_zip":
        values[:, enmap_cloud_block()] = np.nan
    return values


def extract(*args: object, **kwargs: object) -> gpd.GeoDataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplesOutsideScenesWarning)
        return extract_spectra(*args, **kwargs)  # type: ignore[arg-type]


def pixel(key: str) -> tuple[int, int] | None:
    value = EXPECTED["samples"][key]["pixel"]
    return None if value is None else (int(value[0]), int(value[1]))


@pytest.mark.parametrize("form", ["geotiff", "dlr_zip"])
def test_single_pixel_spectra_equal_the_pixel_holding_the_point(form: str) -> None:
    scenes = EnMAPL2A(SCENES[form], bands=ALL)
    table = extract(scenes, samples())
    assert list(table["sample_id"]) == list(EXPECTED["samples"])  # one row per sample, in order
    columns = spectrum_columns(enmap().wavelengths_nm)
    assert columns[0] == "refl_418.2" and [c for c in table.columns if c.startswith("refl_")] == columns
    values = reference(form)
    with rasterio.open(SCENES["geotiff"]) as scene:
        for _, row in table.iterrows():
            key = row["sample_id"]
            point = gpd.GeoSeries([row.geometry], crs=table.crs).to_crs(scene.crs).iloc[0]
            if pixel(key) is None:
                assert row["status"] == "outside" and pd.isna(row["scene_id"])
                assert np.isnan(row[columns].to_numpy(dtype=float)).all()
                continue
            r, c = scene.index(point.x, point.y)
            assert (r, c) == pixel(key)
            spectrum = values[:, r, c]
            if np.isnan(spectrum).all():
                assert row["status"] == "masked" and row["n_valid"] == 0
                assert np.isnan(row[columns].to_numpy(dtype=float)).all()
            else:
                assert row["status"] == "ok" and row["n_valid"] == 1
                np.testing.assert_allclose(row[columns].to_numpy(dtype=float), spectrum, rtol=1e-6, equal_nan=True)
    expected = {"S03": "masked" if form == "dlr_zip" else "ok", "S04": "masked", "S07": "masked", "S05": "outside"}
    for key, status in expected.items():
        assert table.set_index("sample_id").loc[key, "status"] == status


def test_window_mean_equals_numpy_mean_of_the_valid_pixels() -> None:
    table = extract(EnMAPL2A(SCENES["dlr_zip"]), samples(), window=3).set_index("sample_id")
    columns = [c for c in table.columns if c.startswith("refl_")]
    bands = [ALL.index(b) for b in EnMAPL2A.default_bands]
    padded = np.pad(reference("dlr_zip")[bands], ((0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    for key in EXPECTED["samples"]:
        if pixel(key) is None:
            continue
        r, c = pixel(key)  # type: ignore[misc]
        block = padded[:, r : r + 3, c : c + 3].reshape(len(bands), -1)
        valid = ~np.isnan(block).all(axis=0)
        assert table.loc[key, "n_valid"] == valid.sum()
        if valid.sum() == 0:
            assert table.loc[key, "status"] == "masked"
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmean(block[:, valid], axis=1)
        np.testing.assert_allclose(table.loc[key, columns].to_numpy(dtype=float), expected, rtol=1e-5, equal_nan=True)
    assert table.loc["S07", "n_valid"] == 4  # column 0: three pixels off the scene, two all-zero pixels
    assert table.loc["S03", "status"] == "masked"  # inside the 6 x 4 cloud block
    assert (table["window"] == 3).all()


def test_min_valid_turns_sparse_windows_into_masked() -> None:
    table = extract(EnMAPL2A(SCENES["dlr_zip"]), samples(), window=3, min_valid=5).set_index("sample_id")
    assert table.loc["S07", "status"] == "masked" and table.loc["S07", "n_valid"] == 4
    assert np.isnan(table.loc["S07", "refl_418.2"])


def test_time_gap_and_outside_are_reported_not_dropped() -> None:
    with pytest.warns(
        SamplesOutsideScenesWarning, match=r"5 of 8 samples have no spectrum \(2 masked, 2 time_gap, 1 outside\)"
    ):
        table = extract_spectra(SCENES["dlr_zip"], samples(), max_time_gap="3D")
    table = table.set_index("sample_id")
    gap = {
        key: (ACQUISITION - pd.Timestamp(v["date"])) / pd.Timedelta(days=1)
        for key, v in EXPECTED["samples"].items()
        if v["date"]
    }
    for key, days in gap.items():
        if key != "S05":
            assert table.loc[key, "time_gap_days"] == pytest.approx(days)
    # a plain date is the whole day: S01 (20th) ends 3.4 days before the scene, S04 is 37 days off;
    # S08 (21st, 3.45 days from midnight) ends 2.45 days before: within 3 days
    assert table.loc["S01", "status"] == table.loc["S04", "status"] == "time_gap"
    assert table.loc["S08", "status"] == "ok"
    assert table.loc["S01", "scene_id"] == PRODUCT  # the closest scene is named
    assert np.isnan(table.loc["S01", "refl_418.2"])
    assert table.loc["S05", "status"] == "outside" and np.isnan(table.loc["S05", "time_gap_days"])
    assert np.isnan(table.loc["S06", "time_gap_days"]) and table.loc["S06", "status"] == "ok"  # undated: any time
    assert table.loc["S01", "acquisition_time"] == ACQUISITION
    np.testing.assert_array_equal(np.isnan(table["soc"]), pd.read_csv(DATA / "samples.csv")["soc"].isna())
    # the samples' own tolerance is the default
    with pytest.warns(SamplesOutsideScenesWarning):
        tolerant = extract_spectra(SCENES["dlr_zip"], samples(time_tolerance="3D"))
    pd.testing.assert_series_equal(tolerant["status"], table["status"].reset_index(drop=True), check_names=False)


def test_closest_scene_wins(tmp_path: Path) -> None:
    names = {"early.tif": "2022-07-10T10:00:00", "late.tif": "2022-07-26T10:00:00"}
    for name, start in names.items():
        shutil.copy(SCENES["geotiff"], tmp_path / name)
        with rasterio.open(tmp_path / name, "r+") as dataset:
            dataset.update_tags(start_time=start)
    table = extract(tmp_path, samples()).set_index("sample_id")
    # S01 (20 July): early 10.4 days before, late 6.4 days after; S02 (24th): late
    assert table.loc["S01", "scene_id"] == "late"
    assert table.loc["S01", "time_gap_days"] == pytest.approx(6 + 10 / 24)
    assert table.loc["S06", "scene_id"] == "early"  # undated: first scene


def test_statuses_columns_and_round_trip(tmp_path: Path) -> None:
    table = extract(SCENES["geotiff"], DATA / "samples.parquet")
    assert set(table["status"].cat.categories) == set(STATUSES)
    assert table.crs.to_epsg() == 32633
    assert table["refl_418.2"].dtype == np.float32
    path = write_table(table, tmp_path / "spectra.parquet")
    back = gpd.read_parquet(path)
    assert list(back["sample_id"]) == list(table["sample_id"]) and back.crs == table.crs
    np.testing.assert_array_equal(back["refl_418.2"].to_numpy(), table["refl_418.2"].to_numpy())
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_table(table, path)
    write_table(table, path, overwrite=True)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="window=2 must be an odd number"):
        extract_spectra(SCENES["geotiff"], samples(), window=2)
    with pytest.raises(ValueError, match="min_valid=10 must be between 1 and"):
        extract_spectra(SCENES["geotiff"], samples(), window=3, min_valid=10)
    with pytest.raises(ValueError, match="apply only when scenes are paths"):
        extract_spectra(EnMAPL2A(SCENES["geotiff"]), samples(), bands=["B1"])


# -- real data -------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_real_potsdam_points_on_the_tiles(shared_data: Path) -> None:
    potsdam = shared_data / "enmap" / "potsdam"
    tiles = sorted((potsdam / "tiles").glob("*.tif"))
    points = SoilSamples(potsdam / "landcover_potsdam_point.gpkg")
    assert len(points) == 120
    with pytest.warns(SamplesOutsideScenesWarning, match=r"of 120 samples have no spectrum"):
        single = extract_spectra(potsdam / "tiles", points, bands=ALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplesOutsideScenesWarning)
        mean = extract_spectra(potsdam / "tiles", points, bands=ALL, window=3)
    counts = single["status"].value_counts()
    assert counts["ok"] + counts["masked"] == 57 and counts["outside"] == 63 and counts["time_gap"] == 0
    columns = [c for c in single.columns if c.startswith("refl_")]
    good = np.setdiff1d(np.arange(224), np.arange(129, 135))  # bands 130-135 are no-data
    checked = 0
    for row in single.index[single["status"] == "ok"][::6]:
        tile = next(path for path in tiles if Path(single.loc[row, "scene_path"]).name == path.name)
        point = single.geometry.iloc[row]
        with rasterio.open(tile) as dataset:
            r, c = dataset.index(point.x, point.y)
            dn = dataset.read().astype(np.float64)
        expected = dn[:, r, c] / 10000
        np.testing.assert_allclose(single.loc[row, columns].to_numpy(dtype=float)[good], expected[good], rtol=1e-5)
        if 1 <= r < dn.shape[1] - 1 and 1 <= c < dn.shape[2] - 1:
            block = dn[:, r - 1 : r + 2, c - 1 : c + 2].reshape(224, -1)
            valid = ~np.all(block[good] == 0, axis=0) & ~np.any(block[good] == -32768, axis=0)
            block = block / 10000
            assert mean.loc[row, "n_valid"] == valid.sum()
            np.testing.assert_allclose(
                mean.loc[row, columns].to_numpy(dtype=float)[good], block[good][:, valid].mean(axis=1), rtol=1e-5
            )
        checked += 1
    assert checked >= 5

"""Tests of SoilSamples (CSV, GeoPackage, GeoParquet) and of its pairing with EnMAP scenes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from conftest import ENMAP_FIXTURES
from pyproj import Transformer

from eospec.datasets import EnMAPL2A, SoilSamples
from eospec.datasets.soil import SampleSceneIntersection, join_samples, match_scenes, to_timedelta
from eospec.errors import SamplesError

DATA = Path(__file__).resolve().parents[1] / "data" / "soil_samples"
EXPECTED = json.loads((DATA / "expected.json").read_text())
SCENE = ENMAP_FIXTURES / "enmapbox_style.tif"
ACQUISITION = pd.Timestamp(EXPECTED["acquisition"])
IDS = list(EXPECTED["samples"])


def load(form: str, **kwargs: object) -> SoilSamples:
    if form == "csv":
        return SoilSamples(DATA / "samples.csv", crs="EPSG:4326", **kwargs)  # type: ignore[arg-type]
    return SoilSamples(DATA / f"samples.{form}", **kwargs)  # type: ignore[arg-type]


def dated_copy(folder: Path, name: str, start_time: str) -> Path:
    """The EnMAP-Box style fixture with another acquisition time."""
    path = folder / name
    shutil.copy(SCENE, path)
    with rasterio.open(path, "r+") as dataset:
        dataset.update_tags(start_time=start_time)
    return path


@pytest.mark.parametrize("form", ["csv", "gpkg", "parquet"])
def test_formats_read_the_same_samples(form: str) -> None:
    samples = load(form)
    assert len(samples) == len(IDS)
    assert list(samples.data["sample_id"]) == IDS
    assert samples.property_names == ["soc", "clay"]
    assert samples.properties.dtype == np.float64 and samples.properties.shape == (8, 2)
    assert samples.date_only
    expected_dates = pd.to_datetime(pd.Series([sample["date"] for sample in EXPECTED["samples"].values()]))
    pd.testing.assert_series_equal(
        samples.data["sample_time"].reset_index(drop=True), expected_dates.astype("datetime64[ns]"), check_names=False
    )
    points = samples.data.to_crs(EXPECTED["scene_crs"]).geometry
    xs = [sample["x"] for sample in EXPECTED["samples"].values()]
    ys = [sample["y"] for sample in EXPECTED["samples"].values()]
    np.testing.assert_allclose(points.x, xs, atol=1e-3)  # 9 decimals of a degree: < 1 mm
    np.testing.assert_allclose(points.y, ys, atol=1e-3)
    assert list(samples.data["texture"])[:2] == ["loam", "clay loam"]  # text columns kept, not properties


def test_missing_properties_stay_missing_never_zero() -> None:
    table = pd.read_csv(DATA / "samples.csv")
    for form in ("csv", "gpkg", "parquet"):
        samples = load(form)
        np.testing.assert_array_equal(np.isnan(samples.properties), table[["soc", "clay"]].isna().to_numpy())
        assert not np.any(samples.properties == 0)
    samples = load("csv", properties=["soc"])
    row = IDS.index("S02")
    assert np.isnan(samples.properties[row, 0])
    x, y = samples.data.geometry.x.iloc[row], samples.data.geometry.y.iloc[row]
    sample = samples[x - 1e-6 : x + 1e-6, y - 1e-6 : y + 1e-6]
    assert sample["sample_id"] == "S02"
    assert torch.isnan(sample["properties"]).all() and sample["properties"].shape == (1,)


def test_missing_codes_in_csv_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "na.csv"
    path.write_text("x,y,soc\n366100,5809800,NA\n366200,5809800,\n366300,5809800,0\n")
    samples = SoilSamples(path, crs="EPSG:32633")
    assert np.isnan(samples.properties[:2, 0]).all()
    assert samples.properties[2, 0] == 0  # a measured zero stays zero


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_samples_without_crs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SamplesError, match=r"no CRS .*crs='EPSG:4326'"):
        SoilSamples(DATA / "samples.csv")
    frame = gpd.read_file(DATA / "samples.gpkg").set_crs(None, allow_override=True)
    with pytest.raises(SamplesError, match=r"no CRS.*set_crs"):
        SoilSamples(frame)
    path = tmp_path / "no_crs.gpkg"
    frame.to_file(path, driver="GPKG")
    with pytest.raises(SamplesError, match="no CRS"):
        SoilSamples(path)
    assert SoilSamples(path, crs="EPSG:32633").crs.to_epsg() == 32633  # the fix the message gives
    xy = tmp_path / "xy.csv"
    xy.write_text("x,y\n366100,5809800\n")
    with pytest.raises(SamplesError, match=r"columns 'x'/'y'"):
        SoilSamples(xy)


def test_crs_that_contradicts_the_file_is_refused() -> None:
    with pytest.raises(SamplesError, match=r"are in EPSG:32633 but crs='EPSG:4326'"):
        SoilSamples(DATA / "samples.gpkg", crs="EPSG:4326")
    with pytest.raises(SamplesError, match="is not a CRS"):
        SoilSamples(DATA / "samples.csv", crs="EPSG:nonsense")


def test_bad_columns_and_values(tmp_path: Path) -> None:
    with pytest.raises(SamplesError, match=r"x column 'east' is not in the samples"):
        SoilSamples(DATA / "samples.csv", crs="EPSG:4326", x_column="east", y_column="lat")
    with pytest.raises(SamplesError, match="give both x_column and y_column"):
        SoilSamples(DATA / "samples.csv", crs="EPSG:4326", x_column="lon")
    with pytest.raises(SamplesError, match=r"property 'texture' .* not numbers, e.g. \['loam'"):
        SoilSamples(DATA / "samples.csv", crs="EPSG:4326", properties=["soc", "texture"])
    with pytest.raises(SamplesError, match="date column 'when' is not in the samples"):
        SoilSamples(DATA / "samples.csv", crs="EPSG:4326", date_column="when")
    bad_date = tmp_path / "bad_date.csv"
    bad_date.write_text("lon,lat,date\n13.03,52.42,2022-07-20\n13.04,52.42,20.07.2022\n")
    with pytest.raises(
        SamplesError, match=r"1 dates in column 'date' cannot be parsed, e.g. \['20.07.2022'\].*date_format"
    ):
        SoilSamples(bad_date, crs="EPSG:4326")
    german = tmp_path / "german.csv"
    german.write_text("lon,lat,date\n13.03,52.42,19.07.2022\n13.04,52.42,20.07.2022\n")
    parsed = SoilSamples(german, crs="EPSG:4326", date_format="%d.%m.%Y").data["sample_time"]
    assert list(parsed) == [pd.Timestamp("2022-07-19"), pd.Timestamp("2022-07-20")]
    holes = tmp_path / "holes.csv"
    holes.write_text("lon,lat\n13.03,52.42\n,52.43\n")
    with pytest.raises(SamplesError, match=r"missing or non-numeric coordinates in rows \[1\]"):
        SoilSamples(holes, crs="EPSG:4326")
    swapped = tmp_path / "swapped.csv"
    swapped.write_text("lon,lat\n366100,5809800\n")
    with pytest.raises(SamplesError, match="outside longitude/latitude range"):
        SoilSamples(swapped, crs="EPSG:4326")
    with pytest.raises(SamplesError, match="does not exist"):
        SoilSamples(tmp_path / "missing.gpkg")
    polygons = gpd.GeoDataFrame(geometry=gpd.GeoSeries.from_wkt(["POLYGON ((0 0, 1 0, 1 1, 0 0))"]), crs="EPSG:32633")
    with pytest.raises(SamplesError, match="must be points.*centroid"):
        SoilSamples(polygons)


def test_time_index_widens_the_sampling_day_by_the_tolerance() -> None:
    samples = load("parquet", time_tolerance="2D")
    intervals = samples.index.index
    s01 = IDS.index("S01")
    assert intervals[s01].left == pd.Timestamp("2022-07-18")
    assert intervals[s01].right == pd.Timestamp("2022-07-23") - pd.Timedelta(1, "ns")  # whole day 20th + 2 days
    undated = IDS.index("S06")
    assert intervals[undated].left == pd.Timestamp.min and intervals[undated].right == pd.Timestamp.max
    anytime = load("parquet").index.index
    assert (anytime.left == pd.Timestamp.min).all() and (anytime.right == pd.Timestamp.max).all()
    assert to_timedelta(3) == pd.Timedelta(days=3)
    assert to_timedelta("36h") == pd.Timedelta(hours=36)
    with pytest.raises(SamplesError, match="is not a duration"):
        to_timedelta("soon")
    with pytest.raises(SamplesError, match="zero or more"):
        to_timedelta(-1)


def test_times_of_day_are_not_widened_to_a_day(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text("x,y,datetime\n366100,5809800,2022-07-24T09:00:00+02:00\n")
    samples = SoilSamples(path, crs="EPSG:32633", time_tolerance="1h")
    assert not samples.date_only
    assert samples.data["sample_time"].iloc[0] == pd.Timestamp("2022-07-24T07:00:00")  # UTC
    interval = samples.index.index[0]
    assert (interval.left, interval.right) == (pd.Timestamp("2022-07-24T06:00"), pd.Timestamp("2022-07-24T08:00"))


def test_slice_queries_return_the_samples_inside() -> None:
    samples = load("parquet", time_tolerance="1D")
    assert samples.res == (0.0, 0.0)
    xy = {key: (value["x"], value["y"]) for key, value in EXPECTED["samples"].items()}
    x, y = xy["S01"]
    sample = samples[x - 100 : x + 100 : 30.0, y - 100 : y + 100 : 30.0]
    inside = sorted(
        key for key, (px, py) in xy.items() if abs(px - x) <= 100 and abs(py - y) <= 100
    )  # S01 and S08 are 52 m apart
    assert sorted(sample["sample_ids"]) == inside == ["S01", "S08"]
    assert sample["sample_id"] == "S01" and sample["sample_ids"][0] == "S01"  # nearest to the centre first
    assert [IDS[row] for row in sample["sample_rows"]] == sample["sample_ids"]
    rows = samples.query((slice(x - 100, x + 100), slice(y - 100, y + 100), slice(None, None)))
    assert list(rows["sample_id"]) == ["S01", "S08"] and rows.crs == samples.crs
    torch.testing.assert_close(sample["properties"], torch.tensor([12.5, 18.0]))
    torch.testing.assert_close(sample["point"], torch.tensor(xy["S01"], dtype=torch.float64))
    assert sample["sample_time"] == pd.Timestamp("2022-07-20")
    # time: S01 was sampled on the 20th (+-1 day); S08 on the 21st
    late = samples[x - 100 : x + 100, y - 100 : y + 100, pd.Timestamp("2022-07-22T12:00") : pd.Timestamp("2022-07-30")]
    assert late["sample_ids"] == ["S08"]
    with pytest.raises(IndexError, match="not found"):
        samples[x + 5000 : x + 6000, y : y + 100]
    with pytest.raises(IndexError):
        samples[x - 100 : x + 100, y - 100 : y + 100, pd.Timestamp("2023-01-01") : pd.Timestamp("2023-02-01")]


def test_crs_setter_reprojects_points_and_data() -> None:
    samples = load("parquet")
    samples.crs = "EPSG:4326"  # type: ignore[assignment]
    lon, lat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(
        EXPECTED["samples"]["S01"]["x"], EXPECTED["samples"]["S01"]["y"]
    )
    assert samples.crs.to_epsg() == 4326
    assert samples.index.geometry.iloc[0].x == pytest.approx(lon) and samples.data.geometry.iloc[0].y == pytest.approx(
        lat
    )


def test_and_pairs_each_sample_with_the_scene_and_reprojects_the_points() -> None:
    scenes = EnMAPL2A(SCENE)
    samples = load("csv", time_tolerance="10D")
    pairs = samples & scenes
    assert isinstance(pairs, SampleSceneIntersection)
    assert samples.crs.to_epsg() == 4326  # the caller's samples are left as they are
    assert pairs.crs == scenes.crs and pairs.res == scenes.res == (30.0, 30.0)
    # S04 is 37 days off, S05 outside the scene, S06 undated (any time)
    assert list(pairs.index["sample_id"]) == ["S01", "S02", "S03", "S06", "S07", "S08"]
    gaps = dict(zip(pairs.index["sample_id"], pairs.index["time_gap_days"], strict=True))
    for key in ("S01", "S02", "S03", "S07", "S08"):
        expected = (ACQUISITION - pd.Timestamp(EXPECTED["samples"][key]["date"])) / pd.Timedelta(days=1)
        assert gaps[key] == pytest.approx(expected)
    assert np.isnan(gaps["S06"])
    interval = pairs.index.index[0]
    assert interval.left == ACQUISITION  # the scene's second, within the sample's window
    point = pairs.index.geometry.iloc[0]
    sample = pairs[
        point.x - 45 : point.x + 45 : 30.0, point.y - 45 : point.y + 45 : 30.0, interval.left : interval.right
    ]
    assert sample["image"].shape == (202, 3, 3) and sample["image"].dtype == torch.float32
    assert sample["sample_id"] == "S01" and sample["properties"].shape == (2,)


def test_pairing_keeps_the_closest_scene_within_the_tolerance(tmp_path: Path) -> None:
    early = dated_copy(tmp_path, "early.tif", "2022-07-10T10:00:00")
    late = dated_copy(tmp_path, "late.tif", "2022-07-26T10:00:00")
    scenes = EnMAPL2A([early, late])
    samples = load("parquet", time_tolerance="12D")
    pairs = samples & scenes
    chosen = dict(zip(pairs.index["sample_id"], (Path(p).name for p in pairs.index["filepath"]), strict=True))
    # S01 (20th): early is 10 days before, late 6 days after; S08 (21st): 11 / 5 days
    assert chosen["S01"] == "late.tif" and chosen["S08"] == "late.tif"
    # S04 (30 Aug) is 35 days after late: no scene within 12 days
    assert "S04" not in chosen
    every = samples.pair_with(scenes, closest=False)
    counts = every.index["sample_id"].value_counts()
    assert counts["S01"] == 2 and counts["S02"] == 1  # S02 (24th): early is 14 days off
    table = match_scenes(samples, scenes)
    s02 = table[table["sample_index"] == IDS.index("S02")]
    assert list(s02["within"]) == [True, False] and list(s02["rank"]) == [0, 1]


def test_pairing_without_overlap_is_an_error(tmp_path: Path) -> None:
    frame = gpd.read_parquet(DATA / "samples.parquet")
    far = frame.copy()
    far["geometry"] = far.geometry.translate(50_000, 0)
    with pytest.raises(SamplesError, match=r"none of the 8 samples falls on a scene .* 0 are covered in space"):
        SoilSamples(far) & EnMAPL2A(SCENE)
    dated = SoilSamples(frame[frame["id"] != "S06"], time_tolerance="1D")  # S06 is undated: any time
    next_year = EnMAPL2A(dated_copy(tmp_path, "2023.tif", "2023-07-24T10:00:00"))
    with pytest.raises(SamplesError, match=r"none of the 7 samples .* 6 are covered in space: widen time_tolerance"):
        dated & next_year


def test_join_samples_concatenates_shared_tensors_only() -> None:
    image = torch.zeros(3, 2, 2)
    joined = join_samples([{"a": torch.ones(2), "crs": 1}, {"a": torch.zeros(1), "image": image, "crs": 2}])
    torch.testing.assert_close(joined["a"], torch.tensor([1.0, 1.0, 0.0]))
    assert joined["image"] is image and joined["crs"] == 1

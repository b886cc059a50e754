"""write_spectralearth_patches and open_stack on the generated three-date stack."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.windows import from_bounds

import eospec.sampling as sampling
from eospec.errors import CRSMismatchError, OutputExistsError, SamplingError, SceneNotFoundError
from eospec.sampling import open_stack, patch_id_of, write_spectralearth_patches
from eospec.sensors import ENMAP_DEFAULT_BANDS, enmap

STACK = Path(__file__).resolve().parent / "data" / "enmap_stack"
EXPECTED = json.loads((STACK / "expected.json").read_text())
FILES = EXPECTED["files"]
CLOUDY = EXPECTED["cloudy_scene"]
SIZE = 16

_spec = importlib.util.spec_from_file_location("enmap_stack_data", STACK / "data.py")
assert _spec is not None and _spec.loader is not None
stack_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stack_data)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> sampling.SamplingResult:
    """One grid run with the defaults (16 px patches), shared by the read-only tests."""
    return write_spectralearth_patches(STACK, tmp_path_factory.mktemp("patches") / "out", patch_size=SIZE)


def info_by_acquisition(name: str) -> dict:
    return next(info for info in FILES.values() if pd.Timestamp(info["start_time"]).strftime("%Y%m%dT%H%M%S") == name)


def source_dn(info: dict, bounds: tuple[float, float, float, float]) -> np.ndarray:
    with rasterio.open(STACK / info["path"]) as src:
        window = from_bounds(*bounds, transform=src.transform)
        return src.read(list(ENMAP_DEFAULT_BANDS), window=window, boundless=True, fill_value=-32768)


def cloud_mask(bounds: tuple[float, float, float, float], shape: tuple[int, int]) -> np.ndarray:
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    xs = bounds[0] + (cols + 0.5) * EXPECTED["res"]
    ys = bounds[3] - (rows + 0.5) * EXPECTED["res"]
    c0, r0, c1, r1 = EXPECTED["cloud_bounds"]
    return (xs > c0) & (xs < c1) & (ys > r0) & (ys < r1)


def test_layout_files_and_values(written: sampling.SamplingResult) -> None:
    out = written.out_dir
    index = gpd.read_parquet(out / "index.parquet")
    assert written.n_patches == len(index) == len(list((out / "enmap").iterdir())) >= 4
    assert index.crs.to_epsg() == EXPECTED["crs_epsg"]
    assert index["patch_id"].is_unique
    wavelengths = enmap().wavelengths_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]
    for row in index.itertuples():
        tifs = sorted(p.name for p in (out / "enmap" / row.patch_id).glob("*.tif"))
        assert tifs == sorted(f"{a}.tif" for a in row.acquisitions)
        assert list(row.files) == [f"enmap/{row.patch_id}/{a}.tif" for a in row.acquisitions]
        assert list(row.acquisitions) == sorted(row.acquisitions) and row.n_dates == len(row.files) >= 2
        for file, acquisition, date, fraction, scene_id in zip(
            row.files, row.acquisitions, row.dates, row.valid_fraction, row.scene_ids, strict=True
        ):
            with rasterio.open(out / file) as patch:
                assert (patch.count, patch.height, patch.width) == (202, SIZE, SIZE)
                assert patch.dtypes[0] == "int16" and patch.nodata == -32768
                assert patch.crs.to_epsg() == EXPECTED["crs_epsg"]
                assert shapely.box(*patch.bounds).equals(row.geometry)
                assert patch_id_of(patch.bounds.left, patch.bounds.top) == row.patch_id
                assert pd.Timestamp(patch.tags()["start_time"]) == pd.Timestamp(date)
                assert [float(patch.tags(b)["wavelength"]) for b in range(1, 203)] == pytest.approx(
                    wavelengths, abs=1e-3
                )
                dn = patch.read()
            info = info_by_acquisition(acquisition)
            assert scene_id == info["scene_id"]
            expected = source_dn(info, tuple(row.geometry.bounds))
            if info["scene_id"] == CLOUDY:
                expected[:, cloud_mask(tuple(row.geometry.bounds), (SIZE, SIZE))] = -32768
            np.testing.assert_array_equal(dn, expected)
            assert fraction == pytest.approx(np.mean(dn[0] != -32768))
            assert fraction >= 0.5


def test_cloudy_date_dropped_only_where_clouds_cover_the_patch(
    written: sampling.SamplingResult, tmp_path: Path
) -> None:
    loose = write_spectralearth_patches(STACK, tmp_path / "loose", patch_size=SIZE, min_valid_fraction=0.05)
    cloudy = pd.Timestamp(FILES[CLOUDY]["start_time"]).strftime("%Y%m%dT%H%M%S")
    strict = written.index.set_index("patch_id")
    dropped = 0
    for row in loose.index.itertuples():
        if cloudy not in list(row.acquisitions):
            continue
        fraction = row.valid_fraction[list(row.acquisitions).index(cloudy)]
        kept = row.patch_id in strict.index and cloudy in list(strict.loc[row.patch_id, "acquisitions"])
        assert kept == (fraction >= 0.5)
        dropped += fraction < 0.5
    assert dropped >= 1


def test_views_and_gaps(tmp_path: Path) -> None:
    result = write_spectralearth_patches(STACK, tmp_path / "pairs", patch_size=SIZE, views=2, min_gap="30D")
    assert (result.index["n_dates"] == 2).all()
    for dates in result.index["dates"]:
        assert pd.Timestamp(dates[1]) - pd.Timestamp(dates[0]) >= pd.Timedelta(days=30)
    toi = pd.Interval(pd.Timestamp("2022-01-01"), pd.Timestamp("2022-12-31"), closed="both")
    in_2022 = write_spectralearth_patches(STACK, tmp_path / "2022", patch_size=SIZE, toi=toi)
    assert all(pd.Timestamp(d).year == 2022 for dates in in_2022.index["dates"] for d in dates)


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.tif"))}


def test_random_mode_is_deterministic_with_a_seed(tmp_path: Path) -> None:
    one = write_spectralearth_patches(STACK, tmp_path / "a", patch_size=SIZE, mode="random", n_patches=4, seed=3)
    two = write_spectralearth_patches(STACK, tmp_path / "b", patch_size=SIZE, mode="random", n_patches=4, seed=3)
    other = write_spectralearth_patches(STACK, tmp_path / "c", patch_size=SIZE, mode="random", n_patches=4, seed=4)
    assert one.n_patches == 4
    assert list(one.index["patch_id"]) == list(two.index["patch_id"])
    assert listing(tmp_path / "a") == listing(tmp_path / "b")
    assert list(one.index["patch_id"]) != list(other.index["patch_id"])


def test_interrupted_run_resumes_without_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = write_spectralearth_patches(STACK, tmp_path / "reference", patch_size=SIZE, mode="random", n_patches=5)
    real_atomic_output = sampling.atomic_output
    calls = {"tif": 0}

    @contextlib.contextmanager
    def interrupted(path: Path, suffix: str | None = None) -> Iterator[Path]:
        with real_atomic_output(path, suffix) as temporary:
            if Path(path).suffix == ".tif":
                calls["tif"] += 1
                if calls["tif"] == 6:  # the 6th image, in the middle of a patch, half written
                    temporary.write_bytes(b"II*\x00 half a GeoTIFF")
                    raise KeyboardInterrupt
            yield temporary

    monkeypatch.setattr(sampling, "atomic_output", interrupted)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        write_spectralearth_patches(STACK, out, patch_size=SIZE, mode="random", n_patches=5)
    assert not (out / "index.parquet").exists()
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary file left
    for tif in out.rglob("*.tif"):  # every image there is complete
        with rasterio.open(tif) as image:
            assert image.read().shape == (202, SIZE, SIZE)
    complete = [p for p in (out / "enmap").iterdir() if (p / "metadata.json").exists()]
    assert 1 <= len(complete) < 5
    assert len(list((out / "enmap").iterdir())) == len(complete) + 1  # the interrupted patch
    monkeypatch.setattr(sampling, "atomic_output", real_atomic_output)
    resumed = write_spectralearth_patches(STACK, out, patch_size=SIZE, mode="random", n_patches=5)
    assert resumed.n_resumed == len(complete) and resumed.n_written == 5 - len(complete)
    assert resumed.index["patch_id"].is_unique
    assert list(resumed.index["patch_id"]) == list(reference.index["patch_id"])
    assert listing(out) == listing(tmp_path / "reference")
    again = write_spectralearth_patches(STACK, out, patch_size=SIZE, mode="random", n_patches=5)
    assert (again.n_written, again.n_resumed) == (0, 5)
    pd.testing.assert_frame_equal(
        pd.DataFrame(again.index.drop(columns="geometry")), pd.DataFrame(reference.index.drop(columns="geometry"))
    )


def test_other_parameters_need_overwrite(written: sampling.SamplingResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(written.out_dir, out)
    with pytest.raises(
        OutputExistsError, match=r"other parameters \(patch_size: 16 -> 8, stride: 16 -> 8\).*--overwrite"
    ):
        write_spectralearth_patches(STACK, out, patch_size=8)
    result = write_spectralearth_patches(STACK, out, patch_size=8, overwrite=True, min_valid_fraction=0.9)
    assert result.n_resumed == 0
    assert sorted(p.name for p in (out / "enmap").iterdir()) == sorted(result.index["patch_id"])
    stranger = tmp_path / "stranger"
    (stranger / "enmap").mkdir(parents=True)
    with pytest.raises(OutputExistsError, match="did not record"):
        write_spectralearth_patches(STACK, stranger, patch_size=SIZE)


def test_mixed_crs_is_refused_or_warped(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    stack_data.write_mixed_crs_stack(folder, epsg=32632)
    with pytest.raises(CRSMismatchError, match=r"2 coordinate reference systems \(EPSG:32632: enmap_20230502.tif;"):
        open_stack(folder)
    with pytest.raises(CRSMismatchError, match="--crs EPSG:32633"):
        write_spectralearth_patches(folder, tmp_path / "refused", patch_size=SIZE)
    assert not (tmp_path / "refused").exists()
    stack = open_stack(folder, crs="EPSG:32633")
    assert stack.crs.to_epsg() == 32633 and stack.res == (30.0, 30.0)
    result = write_spectralearth_patches(folder, tmp_path / "warped", patch_size=SIZE, crs="EPSG:32633")
    assert result.index.crs.to_epsg() == 32633
    assert set(result.index["n_dates"]) >= {3}  # the warped scene is a date like the others
    # warped with nearest neighbour: every value of the warped date is a value of the source scene
    name = "20230502T101240"
    row = next(r for r in result.index.itertuples() if name in list(r.acquisitions))
    with rasterio.open(result.out_dir / f"enmap/{row.patch_id}/{name}.tif") as patch:
        values = set(np.unique(patch.read(1)).tolist()) - {-32768}
    with rasterio.open(STACK / "enmap_20230502.tif") as src:
        assert values <= set(np.unique(src.read(1)).tolist())


def test_undated_scene_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "undated"
    shutil.copytree(STACK, folder, ignore=shutil.ignore_patterns("*.py", "*.json"))
    with rasterio.open(folder / "enmap_20230502.tif", "r+") as dataset:
        dataset.update_tags(start_time="")
    with pytest.raises(SamplingError, match="enmap_20230502.tif' has no acquisition time"):
        write_spectralearth_patches(folder, tmp_path / "out", patch_size=SIZE)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"patch_size": 64}, SamplingError, "a patch of 64 x 64 px .* is larger than the area"),
        ({"min_dates": 4}, SamplingError, r"4 dates needed per window, but the stack holds 3"),
        ({"min_valid_fraction": 1.0, "min_gap": "300D"}, SamplingError, "no window of 16 px had 2 dates"),
        ({"mode": "sideways"}, SamplingError, "mode='sideways' is unknown"),
    ],
)
def test_bad_inputs(tmp_path: Path, kwargs: dict, error: type, message: str) -> None:
    arguments = {"patch_size": SIZE, **kwargs}
    with pytest.raises(error, match=message):
        write_spectralearth_patches(STACK, tmp_path / "out", **arguments)


def test_no_scenes(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SceneNotFoundError, match="no EnMAP L2A scene found in"):
        write_spectralearth_patches(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(SceneNotFoundError, match="does not exist"):
        write_spectralearth_patches(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(SceneNotFoundError, match="no scenes given"):
        open_stack([])


def test_patch_ids() -> None:
    assert patch_id_of(366015.0, 5809965.0) == "x366015_y5809965"
    assert patch_id_of(-12.5, 51.25) == "xm12p500000_y51p250000"


def test_output_folder_parent_must_exist(tmp_path: Path) -> None:
    from eospec.errors import OutputNotWritableError

    with pytest.raises(OutputNotWritableError, match="does not exist: create it first"):
        write_spectralearth_patches(STACK, tmp_path / "missing" / "out", patch_size=SIZE)

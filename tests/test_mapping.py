"""map_scene on the generated fixtures, checked against an independent numpy computation."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import ENMAP_FIXTURES, write_linear_model

from eospec.cog import validate_cog
from eospec.errors import AllNodataWarning, NotHyperspectralError, OutputExistsError
from eospec.io import open_scene
from eospec.mapping import MAP_NODATA, map_scene
from eospec.masks import MaskReason
from eospec.sensors import ENMAP_DEFAULT_BANDS, nearest_band

EXPECTED = json.loads((ENMAP_FIXTURES / "expected.json").read_text())
PRODUCT = ENMAP_FIXTURES / EXPECTED["product"]
FORMS = {
    "dlr_folder": PRODUCT,
    "dlr_zip": ENMAP_FIXTURES / f"{EXPECTED['product']}.zip",
    "enmapbox": ENMAP_FIXTURES / "enmapbox_style.tif",
    "envi": ENMAP_FIXTURES / "envi_cube.hdr",
}
DEFAULT = np.asarray(ENMAP_DEFAULT_BANDS) - 1


def expected_map(scene: Path, coefficients: np.ndarray, intercept: float) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and spectral mask reason from reflectance read by open_scene (no mapping code)."""
    with open_scene(scene) as opened:
        reflectance = opened.read_reflectance().astype(np.float64)
        wavelengths = opened.info.wavelengths_nm
    prediction = np.tensordot(coefficients, reflectance[DEFAULT], axes=1) + intercept

    def band(nm: float) -> np.ndarray:
        return reflectance[nearest_band(wavelengths, nm)]

    ndvi = (band(865) - band(665)) / (band(865) + band(665))
    mndwi = (band(560) - band(1610)) / (band(560) + band(1610))
    reason = np.zeros(prediction.shape, dtype=np.uint8)
    reason[(band(865) < 0.1) & (band(1610) < 0.1)] = MaskReason.DARK
    reason[ndvi > 0.3] = MaskReason.VEGETATION
    reason[(mndwi > 0) | (band(1610) < 0.05)] = MaskReason.WATER
    reason[~np.isfinite(reflectance[DEFAULT]).all(axis=0)] = MaskReason.NODATA
    return prediction, reason


@pytest.mark.parametrize("form", list(FORMS))
def test_map_matches_independent_computation(
    form: str, tmp_path: Path, linear_model: tuple[Path, np.ndarray, float]
) -> None:
    model, coefficients, intercept = linear_model
    out = tmp_path / "soc.tif"
    result = map_scene(FORMS[form], out, str(model), progress=False)
    prediction, reason = expected_map(FORMS[form], coefficients, intercept)
    with rasterio.open(out) as written:
        values, codes = written.read(1), written.read(2).astype(np.uint8)
        assert written.nodata == MAP_NODATA
    if form.startswith("dlr"):
        rows, cols = EXPECTED["cloud_rows"], EXPECTED["cloud_cols"]
        cloud = np.zeros_like(reason, dtype=bool)
        cloud[rows[0] : rows[1], cols[0] : cols[1]] = True
        assert (codes[cloud] == MaskReason.CLOUD).all()
        reason[cloud] = codes[cloud]
    np.testing.assert_array_equal(codes, reason)
    valid = reason == 0
    assert valid.sum() > 100
    np.testing.assert_allclose(values[valid], prediction[valid], rtol=1e-4, atol=1e-3)
    assert (values[~valid] == MAP_NODATA).all()
    assert result.n_valid == int(valid.sum())
    for row, col in EXPECTED["nodata_pixels"] + EXPECTED["zero_pixels"]:
        assert codes[row, col] == MaskReason.NODATA


def test_model_with_epo_step_maps_its_projected_reflectance(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    mean, basis = rng.uniform(0.3, 1.0, DEFAULT.size), np.linalg.qr(rng.normal(size=(DEFAULT.size, 2)))[0]
    model, coefficients, intercept = write_linear_model(tmp_path / "model", epo=(mean, basis))
    out = tmp_path / "soc.tif"
    map_scene(FORMS["enmapbox"], out, str(model), progress=False)
    with open_scene(FORMS["enmapbox"]) as opened:
        reflectance = opened.read_reflectance().astype(np.float64)[DEFAULT]
    # independent numpy: a = log10(1/R), a' = a - (a - m) V V^T, R' = 10^-a', then the linear model
    absorbance = -np.log10(np.clip(reflectance, 1e-4, None)).reshape(DEFAULT.size, -1)
    projected = absorbance - basis @ (basis.T @ (absorbance - mean[:, None]))
    prediction = (coefficients @ 10.0 ** (-projected) + intercept).reshape(reflectance.shape[1:])
    _, reason = expected_map(FORMS["enmapbox"], coefficients, intercept)
    with rasterio.open(out) as written:
        values, codes = written.read(1), written.read(2)
    np.testing.assert_array_equal(codes, reason)
    valid = reason == 0
    assert valid.sum() > 100
    np.testing.assert_allclose(values[valid], prediction[valid], rtol=1e-4, atol=2e-3)
    plain, _, _ = write_linear_model(tmp_path / "plain")  # same coefficients without EPO: another map
    map_scene(FORMS["enmapbox"], tmp_path / "plain.tif", str(plain), progress=False)
    with rasterio.open(tmp_path / "plain.tif") as written:
        assert np.abs(written.read(1)[valid] - values[valid]).max() > 10 * 2e-3  # well beyond the tolerance above


def test_output_grid_tags_and_style(tmp_path: Path, linear_model: tuple[Path, np.ndarray, float]) -> None:
    out = tmp_path / "soc.tif"
    map_scene(FORMS["enmapbox"], out, str(linear_model[0]), progress=False)
    assert validate_cog(out)[0]
    with rasterio.open(FORMS["enmapbox"]) as source, rasterio.open(out) as written:
        assert written.crs == source.crs
        assert written.transform == source.transform
        assert (written.width, written.height) == (source.width, source.height)
        assert written.count == 2 and written.dtypes == ("float32", "float32")
        assert written.descriptions == ("soc", "mask_reason")
        assert written.units[0] == "g/kg"
        assert written.tags(1)["units"] == "g/kg"
        assert "9=out_of_range" in written.tags()["mask_reason_legend"]
    style = out.with_suffix(".qml")
    import xml.etree.ElementTree as ElementTree

    renderer = ElementTree.parse(style).getroot().find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("type") == "singlebandpseudocolor" and renderer.get("band") == "1"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_tile_size_does_not_change_the_map(tmp_path: Path, linear_model: tuple[Path, np.ndarray, float]) -> None:
    model = str(linear_model[0])
    map_scene(FORMS["enmapbox"], tmp_path / "a.tif", model, tile_size=16, workers=1, progress=False)
    map_scene(FORMS["enmapbox"], tmp_path / "b.tif", model, tile_size=512, workers=3, progress=False)
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_array_equal(a.read(2), b.read(2))
        # BLAS may sum in another order for other batch shapes: float32 rounding only.
        np.testing.assert_allclose(a.read(1), b.read(1), rtol=1e-5)


def test_srf_resampling_path_when_bands_are_shifted(
    tmp_path: Path, linear_model: tuple[Path, np.ndarray, float]
) -> None:
    """A scene whose band centres are 4 nm off is resampled with Gaussian SRFs, not matched."""
    with open_scene(FORMS["enmapbox"]) as scene:
        shifted = scene.info.wavelengths_nm + 4.0
    result = map_scene(FORMS["enmapbox"], tmp_path / "s.tif", str(linear_model[0]), wavelengths=shifted, progress=False)
    assert result.band_method == "srf"
    assert result.n_valid > 100


def test_out_of_range_predictions_are_flagged(tmp_path: Path) -> None:
    model, coefficients, intercept = write_linear_model(tmp_path / "m", valid_range=(-1e6, -1e5))
    result = map_scene(FORMS["enmapbox"], tmp_path / "o.tif", str(model), progress=False)
    assert result.n_valid == 0 and result.reason_counts["out_of_range"] > 100


def test_all_nodata_scene_writes_nodata_map_and_warns(
    tmp_path: Path, linear_model: tuple[Path, np.ndarray, float]
) -> None:
    out = tmp_path / "empty.tif"
    with pytest.warns(AllNodataWarning, match="all nodata"):
        map_scene(ENMAP_FIXTURES / "all_nodata.tif", out, str(linear_model[0]), progress=False)
    with rasterio.open(out) as written:
        assert (written.read(1) == MAP_NODATA).all()
        assert (written.read(2) == MaskReason.NODATA).all()


def test_existing_output_is_kept_without_overwrite(
    tmp_path: Path, linear_model: tuple[Path, np.ndarray, float]
) -> None:
    out = tmp_path / "soc.tif"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        map_scene(FORMS["enmapbox"], out, str(linear_model[0]))
    assert out.read_bytes() == b"keep me"
    map_scene(FORMS["enmapbox"], out, str(linear_model[0]), overwrite=True, progress=False)
    assert validate_cog(out)[0]


def test_failure_mid_run_leaves_nothing(
    tmp_path: Path, linear_model: tuple[Path, np.ndarray, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    import eospec.mapping

    calls = {"n": 0}
    original = eospec.mapping._predict

    def failing(*args: object, **kwargs: object) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("interrupted")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(eospec.mapping, "_predict", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        map_scene(FORMS["enmapbox"], tmp_path / "soc.tif", str(linear_model[0]), tile_size=16, progress=False)
    assert list(tmp_path.glob("*.tif")) == [] and list(tmp_path.glob(".*")) == []


def test_rgb_image_is_refused(tmp_path: Path, linear_model: tuple[Path, np.ndarray, float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotHyperspectralError, match="needs a hyperspectral"):
            map_scene(
                ENMAP_FIXTURES / "rgb.tif", tmp_path / "x.tif", str(linear_model[0]), wavelengths=[480, 560, 660, 800]
            )
    assert list(tmp_path.glob("*.tif")) == []

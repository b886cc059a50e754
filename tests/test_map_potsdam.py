"""`eospec map` on the real EnMAP L2A scene of Potsdam with the bundled SOC model (runs in CI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from eospec.cli.main import cli
from eospec.cog import validate_cog
from eospec.mapping import MAP_NODATA
from eospec.masks import MaskReason
from eospec.models.registry import get_model_metadata

FOREST, WATER, SOIL = 4, 6, 5


@pytest.fixture(scope="module")
def potsdam(shared_data: Path) -> Path:
    return shared_data / "enmap" / "potsdam"


@pytest.fixture(scope="module")
def mosaic_map(potsdam: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("potsdam") / "soc.tif"
    result = CliRunner().invoke(
        cli, ["map", "--scene", str(potsdam / "enmap_potsdam_tiles_mosaic.tif"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_mosaic_map_is_a_valid_cog_on_the_input_grid(potsdam: Path, mosaic_map: Path) -> None:
    valid, errors, _ = validate_cog(mosaic_map)
    assert valid, errors
    with rasterio.open(potsdam / "enmap_potsdam_tiles_mosaic.tif") as scene, rasterio.open(mosaic_map) as soc:
        assert soc.crs == scene.crs and soc.transform == scene.transform
        assert (soc.height, soc.width) == (scene.height, scene.width)
        assert soc.overviews(1), "internal overviews"
        assert soc.units[0] == "g/kg"
        gap = scene.read(1) == scene.nodata
    with rasterio.open(mosaic_map) as soc:
        values, reason = soc.read(1), soc.read(2).astype(int)
    assert (values[gap] == MAP_NODATA).all() and (reason[gap] == MaskReason.NODATA).all()


def test_mosaic_map_masks_trees_and_water_and_keeps_soil(potsdam: Path, mosaic_map: Path) -> None:
    with rasterio.open(potsdam / "enmap_potsdam_tiles_landcover_labels.tif") as labels:
        classes = labels.read(1)
    with rasterio.open(mosaic_map) as soc:
        values, reason = soc.read(1), soc.read(2).astype(int)
    low, high = get_model_metadata("soc")["valid_range"]
    has_value = values != MAP_NODATA
    assert (has_value == (reason == 0)).all()
    # Trees (labels from 1 m imagery of 2019): at least 99 % masked, for vegetation (NDVI 0.53-0.91).
    assert has_value[classes == FOREST].mean() < 0.01
    assert (reason[(classes == FOREST) & ~has_value] == MaskReason.VEGETATION).mean() > 0.99
    # Water (labels from 1 m imagery: shoreline pixels at 30 m are mixed): at least 95 % masked.
    assert has_value[classes == WATER].mean() < 0.05
    # Soil: values are plausible; those masked have a documented reason (mostly green cover).
    soil = classes == SOIL
    assert has_value[soil].sum() >= 20
    assert np.all((values[soil & has_value] >= low) & (values[soil & has_value] <= high))
    assert 0 < np.median(values[soil & has_value]) < 60  # g/kg: mineral arable soils
    assert set(np.unique(reason[soil & ~has_value])) <= {
        int(MaskReason.VEGETATION),
        int(MaskReason.OUT_OF_RANGE),
        int(MaskReason.DARK),
        int(MaskReason.NODATA),
    }


def test_one_original_tile(potsdam: Path, tmp_path: Path) -> None:
    tile = sorted((potsdam / "tiles").glob("*.tif"))[0]
    out = tmp_path / "tile_soc.tif"
    result = CliRunner().invoke(cli, ["map", "--scene", str(tile), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert validate_cog(out)[0]
    with rasterio.open(tile) as scene, rasterio.open(out) as soc:
        assert soc.crs == scene.crs and soc.transform == scene.transform and soc.shape == scene.shape
        reflectance_ok = scene.read(1) != scene.nodata
        reason = soc.read(2).astype(int)
    assert (reason[~reflectance_ok] == MaskReason.NODATA).all()

"""COG writing helpers: atomic replacement, overviews, validation, QGIS style."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from eospec.cog import atomic_output, check_output, overview_count, qml_pseudocolor, translate_to_cog, validate_cog
from eospec.errors import OutputExistsError, OutputNotWritableError


def test_check_output(tmp_path: Path) -> None:
    assert check_output(tmp_path / "a.tif") == tmp_path / "a.tif"
    (tmp_path / "a.tif").write_text("x")
    with pytest.raises(OutputExistsError, match="a.tif.*--overwrite"):
        check_output(tmp_path / "a.tif")
    assert check_output(tmp_path / "a.tif", overwrite=True)
    with pytest.raises(OutputNotWritableError, match="does not exist"):
        check_output(tmp_path / "missing" / "a.tif")
    with pytest.raises(OutputNotWritableError, match="is a folder"):
        check_output(tmp_path)


def test_atomic_output_moves_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "map.tif"
    final.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(final) as temporary:
        temporary.write_text("half")
        raise RuntimeError("boom")
    assert final.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]
    with atomic_output(final) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".map.tif.")
        temporary.write_text("new")
    assert final.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]


@pytest.mark.parametrize(("size", "levels"), [(32, 0), (64, 0), (65, 1), (1024, 4), (1000, 4)])
def test_overview_count(size: int, levels: int) -> None:
    assert overview_count(size, size // 2) == levels


def test_translate_to_cog_keeps_metadata(tmp_path: Path) -> None:
    source = tmp_path / "plain.tif"
    profile = {
        "driver": "GTiff",
        "width": 300,
        "height": 200,
        "count": 2,
        "dtype": "float32",
        "crs": "EPSG:32633",
        "transform": from_origin(364095, 5809965, 30, 30),
        "nodata": -9999.0,
    }
    data = np.random.default_rng(0).random((2, 200, 300), dtype=np.float32)
    with rasterio.open(source, "w", **profile) as dst:
        dst.write(data)
        dst.set_band_description(1, "soc")
        dst.units = ("g/kg", "")
        dst.update_tags(1, units="g/kg")
    translate_to_cog(source, tmp_path / "cog.tif")
    valid, errors, _ = validate_cog(tmp_path / "cog.tif")
    assert valid, errors
    with rasterio.open(tmp_path / "cog.tif") as cog:
        np.testing.assert_array_equal(cog.read(), data)
        assert cog.overviews(1) == [2, 4, 8]
        assert cog.units[0] == "g/kg" and cog.descriptions[0] == "soc" and cog.tags(1)["units"] == "g/kg"
        assert cog.crs.to_epsg() == 32633 and cog.nodata == -9999.0


def test_qml_is_a_qgis_pseudocolor_style() -> None:
    root = ElementTree.fromstring(qml_pseudocolor(5.0, 45.0, "SOC", "g/kg").split("\n", 1)[1])
    items = root.findall(".//colorrampshader/item")
    assert [float(i.get("value", "nan")) for i in items] == [5.0, 15.0, 25.0, 35.0, 45.0]
    assert items[0].get("label") == "5.0 g/kg"

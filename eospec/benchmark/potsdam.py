"""``enmap-potsdam``: a tenth benchmark dataset, on real EnMAP L2A tiles of Potsdam (Germany).

The 18 tiles (32 x 32 pixels, 30 m GSD, 224 bands, bottom-of-atmosphere reflectance x 10000,
acquired 2022-07-24) and their land-cover labels are the test data of the EnMAP-Box SpecDeepMap
application (EnMAP-Box repository, imagery (c) DLR); the labels come from the EnMAP-Box Potsdam
reference polygons (level 3, digitised on 2019 aerial imagery). Layout (as in ``../shared/data``)::

    <root>/tiles/<name>.tif                 # 224 bands, float32, nodata -32768, band tags
    <root>/tile_labels/<name>.tif           # uint8 class codes
    <root>/train_files.csv, validation_files.csv, test_files.csv   # columns image, mask

Classes (code: name): 1 roof, 2 pavement, 3 low vegetation, 4 tree, 5 soil, 6 water; 0 is
unlabelled (ignored). The images are reduced to SpectralEarth's 202 EnMAP default bands (the
water-vapour bands 127-141 and 161-167 dropped), so every EnMAP encoder reads them as they are.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from torch import Tensor

from eospec.benchmark.datasets import (
    BENCHMARK_DATASETS,
    SPLITS,
    BenchmarkDataset,
    DatasetNotFoundError,
    scaled_reflectance,
)
from eospec.datasets.utils import shared_data_dir
from eospec.errors import BenchmarkError

__all__ = ["EnMAPPotsdam", "default_potsdam_root"]

#: Split CSV of each split.
SPLIT_FILES: dict[str, str] = {"train": "train_files.csv", "val": "validation_files.csv", "test": "test_files.csv"}


def default_potsdam_root() -> Path | None:
    """``<shared data>/enmap/potsdam`` when the real data are present, else None."""
    shared = shared_data_dir()
    if shared is None or not (shared / "enmap" / "potsdam").is_dir():
        return None
    return shared / "enmap" / "potsdam"


class EnMAPPotsdam(BenchmarkDataset):
    """EnMAP Potsdam land cover (real L2A tiles): segmentation, 6 classes (module docstring).

    Args:
        root: the Potsdam folder (or a folder holding ``potsdam/`` or ``enmap/potsdam/``); None, or a
            folder without it, for ``<shared data>/enmap/potsdam``. ``self.root`` is the folder read.
        split: ``"train"`` (14 tiles), ``"val"`` (2) or ``"test"`` (2).
        transforms: a function applied to each sample dict.
        max_samples: keep the first N tiles of the split, or None.
        cache: keep decoded tiles in memory after their first read.

    Raises:
        ValueError: If ``split`` is unknown.
        DatasetNotFoundError: If the folder, a split CSV or a listed tile is missing.
    """

    name = "enmap-potsdam"
    title = "EnMAP-Potsdam (Germany)"
    folder = "potsdam"
    image_dir = "tiles"
    mask_dir = "tile_labels"
    codes = (1, 2, 3, 4, 5, 6)
    source = "EnMAP-Box Potsdam land-cover reference (level 3), EnMAP L2A 2022-07-24"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        transforms: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None,
        max_samples: int | None = None,
        cache: bool = False,
    ) -> None:
        if root is None:
            found = default_potsdam_root()
            if found is None:
                raise DatasetNotFoundError(
                    "EnMAP-Potsdam not found: the real data folder (../shared/data beside the checkout, or "
                    "$EOSPEC_SHARED_DATA) has no enmap/potsdam; pass its path with --root"
                )
            root = found
        super().__init__(root, split, transforms, max_samples, cache)

    @classmethod
    def layout(cls) -> str:
        """The expected layout, as text."""
        return (
            "<root>/tiles/<name>.tif, <root>/tile_labels/<name>.tif and <root>/{train,validation,test}_files.csv "
            "(columns image, mask)"
        )

    def _find_files(self) -> list[tuple[Path, Path]]:
        if self.split not in SPLITS:  # pragma: no cover - checked by the base class
            raise ValueError(self.split)
        # The given folder, the Potsdam folder inside a data folder, then the real data beside the checkout
        # (so that --root pointing at the SpectralEarth downloads still finds it).
        roots = [self.root, self.root / "potsdam", self.root / "enmap" / "potsdam"]
        default = default_potsdam_root()
        if default is not None:
            roots.append(default)
        for folder in roots:
            if (folder / SPLIT_FILES[self.split]).is_file():
                self.root = folder
                break
        else:
            raise DatasetNotFoundError(
                f"{self.title} not found under root={str(self.root)!r}: no {SPLIT_FILES[self.split]}. "
                f"Expected {self.layout()} (the real data of ../shared/data/enmap/potsdam)"
            )
        frame = pd.read_csv(folder / SPLIT_FILES[self.split])
        if not {"image", "mask"} <= set(frame.columns):
            raise BenchmarkError(
                f"{str(folder / SPLIT_FILES[self.split])!r} has columns {list(frame.columns)}: "
                "it needs 'image' and 'mask'"
            )
        files = []
        for image, mask in zip(frame["image"], frame["mask"], strict=True):
            pair = (folder / self.image_dir / Path(image).name, folder / self.mask_dir / Path(mask).name)
            for path in pair:
                if not path.is_file():
                    raise DatasetNotFoundError(
                        f"{self.title}: {str(path)!r} (listed in {SPLIT_FILES[self.split]}) does not exist. "
                        f"Expected {self.layout()}"
                    )
            files.append(pair)
        return files

    def read_image(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance (202 default bands) and validity of a tile.

        Args:
            path: the tile GeoTIFF (224 bands).

        Returns:
            ``(reflectance, valid)``: float32 (202, H, W) in 0-1 (0 at invalid pixels) and bool (H, W).

        Raises:
            BenchmarkError: If the tile does not have 224 bands.
        """
        from eospec.sensors import ENMAP_DEFAULT_BANDS

        with rasterio.open(path) as source:
            if source.count != 224:
                raise BenchmarkError(f"{str(path)!r} has {source.count} bands; EnMAP L2A tiles have 224")
            return scaled_reflectance(source.read(list(ENMAP_DEFAULT_BANDS)).astype(np.float32), source.nodata)


BENCHMARK_DATASETS[EnMAPPotsdam.name] = EnMAPPotsdam

"""The SpectralEarth downstream datasets, read from their on-disk layout.

Braham et al. (2024), "SpectralEarth: Training Hyperspectral Foundation Models at Scale", IEEE
JSTARS (arXiv:2408.08447), Sec. IV, define nine downstream tasks on EnMAP, DESIS and EO-1 Hyperion
patches (128 x 128 pixels). The data are distributed by DLR's geoservice
(:data:`DOWNLOAD_PAGE`, with the pretraining archive); the train / val / test split files are in
the authors' repository (``data/splits/<dataset>/{train,val,test}.txt``, one file name per line).

Layout read here (``root`` is the folder that holds the datasets)::

    <root>/<folder>/<image_dir>/<name>.tif     # e.g. <root>/enmap_cdl/enmap/xxx.tif
    <root>/<folder>/<mask_dir>/<name>.tif      # e.g. <root>/enmap_cdl/cdl/xxx.tif (same name)
    <root>/<folder>/splits/{train,val,test}.txt

or the authors' own ``data_dir`` layout, where images and masks sit directly under ``root`` and the
split files under ``root/splits/<folder>/`` (EnMAP-CDL and EnMAP-NLCD then share ``root/enmap``).

Images are reflectance x 10000 (int16 or float; the SpectralEarth convention) and are returned as
float32 reflectance (0-1); pixels whose bands are all nodata, or all zero, are invalid: their
reflectance is set to 0 and their mask value to :data:`IGNORE_INDEX`. Masks hold the label
product's raw codes; the classes of a dataset are the authors' code lists (their
``configs/data/*.yaml``), mapped in that order to 0..K-1; every other code (background 0, codes
outside the list, nodata) becomes :data:`IGNORE_INDEX` and is left out of losses and metrics.
EnMAP-CORINE is multi-label: the CORINE Land Cover codes (111-523) of a patch's mask map to the 19
BigEarthNet classes (Sumbul et al. 2021, "BigEarthNet-MM", their Table 1), giving a 0/1 vector.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import rasterio
import torch
from torch import Tensor
from torchgeo.datasets import NonGeoDataset
from torchgeo.datasets.errors import DatasetNotFoundError as _TorchGeoDatasetNotFoundError

from eospec.errors import BenchmarkError, EospecError

__all__ = [
    "BENCHMARK_DATASETS",
    "CLC_TO_BIGEARTHNET19",
    "DOWNLOAD_PAGE",
    "IGNORE_INDEX",
    "SPLITS",
    "BenchmarkDataset",
    "ClassInfo",
    "DatasetNotFoundError",
    "DESISCDL",
    "EO1CDL",
    "EnMAPBDForet",
    "EnMAPBNETD",
    "EnMAPCDL",
    "EnMAPCORINE",
    "EnMAPEuroCrops",
    "EnMAPNLCD",
    "EnMAPTreeMap",
    "get_benchmark_dataset",
    "list_benchmark_datasets",
    "parse_dataset_names",
    "scaled_reflectance",
]

#: Where the SpectralEarth data (pretraining and downstream) are distributed (free account).
DOWNLOAD_PAGE = "https://geoservice.dlr.de/web/datasets/enmap_spectralearth"
#: The authors' repository, with the split files under ``data/splits/``.
AUTHORS_REPOSITORY = "https://github.com/AABNassim/spectral_earth"
#: Mask value of pixels left out of losses and metrics (background, other codes, invalid pixels).
IGNORE_INDEX = 255
#: Split names.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Reflectance scale of the stored values (SpectralEarth: reflectance x 10000).
REFLECTANCE_SCALE = 1e-4


class DatasetNotFoundError(EospecError, _TorchGeoDatasetNotFoundError):
    """A benchmark dataset that is not on disk in the expected layout.

    Subclasses TorchGeo's :class:`~torchgeo.datasets.DatasetNotFoundError` (code written for
    TorchGeo catches it) and :class:`~eospec.errors.EospecError` (the CLI prints it and exits 2);
    the message says where to download the data and which files were expected.
    """

    def __init__(self, message: str) -> None:
        FileNotFoundError.__init__(self, message)


#: CORINE Land Cover level-3 code -> BigEarthNet-19 class index (Sumbul et al. 2021, Table 1; the
#: authors' ``enmap_corine.py``). Codes absent from this table (122-124, 131-133, 141, 142, 332,
#: 334, 423) belong to no class.
CLC_TO_BIGEARTHNET19: dict[int, int] = {
    111: 0, 112: 0,
    121: 1,
    211: 2, 212: 2, 213: 2,
    221: 3, 222: 3, 223: 3, 241: 3,
    231: 4,
    242: 5,
    243: 6,
    244: 7,
    311: 8,
    312: 9,
    313: 10,
    321: 11, 333: 11,
    322: 12, 323: 12,
    324: 13,
    331: 14,
    411: 15, 412: 15,
    421: 16, 422: 16,
    511: 17, 512: 17,
    521: 18, 522: 18, 523: 18,
}  # fmt: skip


def scaled_reflectance(raw: np.ndarray, nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Reflectance (0-1) and validity of stored values (reflectance x 10000).

    A pixel is invalid when any band is nodata or not finite, or all bands are 0.

    Args:
        raw: float32 (B, H, W) stored values.
        nodata: the file's nodata value, or None.

    Returns:
        ``(reflectance, valid)``: float32 (B, H, W), 0 at invalid pixels, and bool (H, W).
    """
    invalid = ~np.isfinite(raw).all(axis=0) | (raw == 0).all(axis=0)
    if nodata is not None:
        invalid |= (raw == np.float32(nodata)).any(axis=0)
    reflectance = np.where(invalid[None], 0.0, raw * REFLECTANCE_SCALE).astype(np.float32)
    return reflectance, ~invalid


@dataclass(frozen=True)
class ClassInfo:
    """One class of a benchmark dataset.

    Attributes:
        index: the class id in masks and outputs (0..K-1).
        code: the label product's raw code.
        name: the class name (from ``eospec/data/benchmark/<dataset>.csv``).
    """

    index: int
    code: int
    name: str


@cache
def _class_names(table: str) -> dict[int, str]:
    """Names by raw code from the packaged class table (empty when the table is absent)."""
    resource = resources.files("eospec").joinpath("data", "benchmark", f"{table}.csv")
    if not resource.is_file():
        return {}
    with resource.open(encoding="utf-8") as handle:
        return {int(row["code"]): row["name"].strip() for row in csv.DictReader(handle)}


class BenchmarkDataset(NonGeoDataset):
    """Base class of the downstream datasets (see the module docstring for the layout).

    Subclasses set the class attributes; samples are TorchGeo dicts:

    * ``image``: float32 (B, H, W) reflectance (0-1), 0 at invalid pixels;
    * ``mask``: int64 (H, W) class ids 0..K-1 or :data:`IGNORE_INDEX` (segmentation), or
      ``label``: float32 (K,) 0/1 (multi-label);
    * ``valid``: bool (H, W), pixels with data.

    Args:
        root: the folder that holds the datasets (or the dataset's own folder).
        split: ``"train"``, ``"val"`` or ``"test"``.
        transforms: a function applied to each sample dict.
        max_samples: keep the first N samples of the split (quick runs), or None for all.
        cache: keep decoded samples in memory after their first read (small datasets read
            every epoch; about B x H x W x 4 bytes per sample).

    Raises:
        ValueError: If ``split`` is unknown.
        DatasetNotFoundError: If the split file, the image or mask folder, or a listed file is
            missing (the message names it, the expected layout and where to download).
    """

    #: Command-line name, e.g. ``"enmap-cdl"``.
    name: ClassVar[str]
    #: The paper's name, e.g. ``"EnMAP-CDL (USA)"``.
    title: ClassVar[str]
    #: ``"segmentation"`` or ``"multilabel"``.
    task: ClassVar[str] = "segmentation"
    #: Sensor of :mod:`eospec.sensors` (``"enmap"``, ``"desis"``, ``"hyperion"``).
    sensor: ClassVar[str] = "enmap"
    #: Folder under ``root`` and name of the split folder in the authors' repository.
    folder: ClassVar[str]
    #: Image folder inside the dataset folder.
    image_dir: ClassVar[str] = "enmap"
    #: Mask folder inside the dataset folder.
    mask_dir: ClassVar[str]
    #: Raw codes of the classes, in class-id order (the authors' list without 0).
    codes: ClassVar[tuple[int, ...]]
    #: Label product and region.
    source: ClassVar[str]
    #: Bands of the images.
    num_bands: ClassVar[int] = 202

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transforms: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None,
        max_samples: int | None = None,
        cache: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is unknown: use one of {', '.join(map(repr, SPLITS))}")
        self.root = Path(root)
        self.split = split
        self.transforms = transforms
        self.files = self._find_files()
        if max_samples is not None:
            self.files = self.files[: max(int(max_samples), 0)]
        self.cache = cache
        self._cached: dict[int, dict[str, Tensor]] = {}

    # -- description ---------------------------------------------------------------------------

    @classmethod
    def num_classes(cls) -> int:
        """Number of classes K."""
        return len(cls.codes)

    @classmethod
    def classes(cls) -> list[ClassInfo]:
        """The classes: id, raw code and name (``"code <c>"`` where no name is tabulated)."""
        names = _class_names(cls.name.replace("-", "_"))
        return [ClassInfo(i, code, names.get(code, f"code {code}")) for i, code in enumerate(cls.codes)]

    @classmethod
    def wavelengths_nm(cls) -> np.ndarray:
        """Band centres of the images in nm, float64 (B,)."""
        return np.asarray(cls.sensor_bands().wavelengths_nm, dtype=np.float64)

    @classmethod
    def sensor_bands(cls) -> Any:
        """The :class:`~eospec.sensors.Sensor` of the image bands.

        EnMAP: the 202 default bands; DESIS: its 235 bands; Hyperion: its 198 calibrated bands.
        """
        from eospec.sensors import get_sensor

        sensor = get_sensor(cls.sensor)
        return sensor.subset(sensor.default_band_indices)

    @classmethod
    def layout(cls) -> str:
        """The expected layout, as text for messages and docs."""
        return (
            f"<root>/{cls.folder}/{cls.image_dir}/<name>.tif, <root>/{cls.folder}/{cls.mask_dir}/<name>.tif and "
            f"<root>/{cls.folder}/splits/{{train,val,test}}.txt (one file name per line)"
        )

    # -- files ---------------------------------------------------------------------------------

    def _candidates(self) -> list[tuple[Path, Path]]:
        """(dataset folder, split file) pairs to try, in order."""
        split = f"{self.split}.txt"
        return [
            (self.root / self.folder, self.root / self.folder / "splits" / split),
            (self.root, self.root / "splits" / split),
            (self.root, self.root / "splits" / self.folder / split),
        ]

    def _not_found(self, reason: str) -> DatasetNotFoundError:
        return DatasetNotFoundError(
            f"{self.title} not found under root={str(self.root)!r}: {reason}. Expected {self.layout()}. "
            f"Download the data from {DOWNLOAD_PAGE} (free account) and the split files from "
            f"{AUTHORS_REPOSITORY} (data/splits/{self.folder}/), or pass the folder that holds them with --root"
        )

    def _find_files(self) -> list[tuple[Path, Path]]:
        for candidate, split_file in self._candidates():
            if split_file.is_file():
                folder = candidate
                break
        else:
            tried = ", ".join(repr(str(path)) for _, path in self._candidates())
            raise self._not_found(f"no {self.split} split file (tried {tried})")
        images, masks = folder / self.image_dir, folder / self.mask_dir
        for what, path in (("image", images), ("mask", masks)):
            if not path.is_dir():
                raise self._not_found(f"the {what} folder {str(path)!r} does not exist")
        names = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
        if not names:
            raise self._not_found(f"the split file {str(split_file)!r} is empty")
        files = []
        missing = []
        for name in names:
            file_name = Path(name).name if Path(name).suffix else f"{Path(name).name}.tif"
            pair = (images / file_name, masks / file_name)
            if not (pair[0].is_file() and pair[1].is_file()):
                missing.append(file_name)
            files.append(pair)
        if missing:
            shown = ", ".join(map(repr, missing[:3])) + (" ..." if len(missing) > 3 else "")
            raise self._not_found(
                f"{len(missing)} of the {len(names)} files listed in {str(split_file)!r} "
                f"have no image or mask ({shown})"
            )
        return files

    def __len__(self) -> int:
        """Number of samples in the split."""
        return len(self.files)

    # -- reading -------------------------------------------------------------------------------

    def read_image(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance and validity of an image file.

        Args:
            path: the image GeoTIFF.

        Returns:
            ``(reflectance, valid)``: float32 (B, H, W) in 0-1 (0 at invalid pixels) and bool (H, W).

        Raises:
            BenchmarkError: If the file has another number of bands than the dataset's.
        """
        with rasterio.open(path) as source:
            if source.count != self.num_bands:
                raise BenchmarkError(
                    f"{str(path)!r} has {source.count} bands but {self.title} images have {self.num_bands}: "
                    "check that the file belongs to this dataset"
                )
            return scaled_reflectance(source.read(masked=False).astype(np.float32), source.nodata)

    def read_codes(self, path: Path) -> np.ndarray:
        """Raw label codes of a mask file, int64 (H, W)."""
        with rasterio.open(path) as source:
            return source.read(1).astype(np.int64)

    def class_ids(self, codes: np.ndarray) -> np.ndarray:
        """Class ids 0..K-1 of raw codes, :data:`IGNORE_INDEX` for every other code.

        Args:
            codes: int (H, W) raw codes.

        Returns:
            int64 (H, W).
        """
        ids = np.full(codes.shape, IGNORE_INDEX, dtype=np.int64)
        for index, code in enumerate(self.codes):
            ids[codes == code] = index
        return ids

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """Sample ``index`` (see the class docstring).

        Args:
            index: sample index.

        Returns:
            The sample dict.
        """
        if index in self._cached:
            sample = dict(self._cached[index])
        else:
            sample = self._read(index)
            if self.cache:
                self._cached[index] = dict(sample)
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def _read(self, index: int) -> dict[str, Tensor]:
        image_path, mask_path = self.files[index]
        reflectance, valid = self.read_image(image_path)
        codes = self.read_codes(mask_path)
        if codes.shape != valid.shape:
            raise BenchmarkError(
                f"mask {str(mask_path)!r} is {codes.shape} pixels but its image is {valid.shape}: "
                "the files do not belong together"
            )
        sample: dict[str, Tensor] = {"image": torch.from_numpy(reflectance), "valid": torch.from_numpy(valid)}
        sample.update(self._target(codes, valid))
        return sample

    def _target(self, codes: np.ndarray, valid: np.ndarray) -> dict[str, Tensor]:
        ids = self.class_ids(codes)
        ids[~valid] = IGNORE_INDEX
        return {"mask": torch.from_numpy(ids)}

    def plot(self, sample: dict[str, Tensor], show_titles: bool = True, suptitle: str | None = None) -> Any:
        """Show a sample: a true-colour composite and the mask (or the label names).

        Args:
            sample: a sample of :meth:`__getitem__` (optionally with ``prediction``).
            show_titles: add panel titles.
            suptitle: figure title.

        Returns:
            The matplotlib figure.
        """
        import matplotlib.pyplot as plt

        wavelengths = self.wavelengths_nm()
        bands = [int(np.argmin(np.abs(wavelengths - nm))) for nm in (650.0, 560.0, 470.0)]
        rgb = sample["image"][bands].numpy().transpose(1, 2, 0)
        rgb = np.clip(rgb / max(float(np.percentile(rgb, 98)), 1e-6), 0, 1)
        panels = ["mask", "prediction"] if self.task == "segmentation" else []
        panels = [key for key in panels if key in sample]
        figure, axes = plt.subplots(1, 1 + len(panels), figsize=(4 * (1 + len(panels)), 4), squeeze=False)
        axes[0, 0].imshow(rgb)
        if show_titles:
            title = "reflectance (RGB)"
            if self.task == "multilabel":
                names = [c.name for c in self.classes() if sample["label"][c.index] > 0]
                title += "\n" + ", ".join(names)
            axes[0, 0].set_title(title)
        for axis, key in zip(axes[0, 1:], panels, strict=True):
            shown = np.ma.masked_equal(sample[key].numpy(), IGNORE_INDEX)
            axis.imshow(shown, cmap="tab20", vmin=0, vmax=max(self.num_classes() - 1, 1), interpolation="none")
            if show_titles:
                axis.set_title(key)
        for axis in axes[0]:
            axis.axis("off")
        if suptitle is not None:
            figure.suptitle(suptitle)
        return figure


class EnMAPCDL(BenchmarkDataset):
    """EnMAP-CDL (USA): crop-type segmentation, 14 classes of the USDA Cropland Data Layer (CDL)."""

    name = "enmap-cdl"
    title = "EnMAP-CDL (USA)"
    folder = "enmap_cdl"
    mask_dir = "cdl"
    codes = (1, 2, 3, 4, 5, 6, 45, 54, 69, 72, 75, 76, 204, 210)
    source = "USDA NASS Cropland Data Layer (CDL), USA"


class EnMAPNLCD(BenchmarkDataset):
    """EnMAP-NLCD (USA): land-cover segmentation, 15 classes of the National Land Cover Database."""

    name = "enmap-nlcd"
    title = "EnMAP-NLCD (USA)"
    folder = "enmap_nlcd"
    mask_dir = "nlcd"
    codes = (11, 21, 22, 23, 24, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95)
    source = "USGS National Land Cover Database (NLCD), USA"


class EnMAPEuroCrops(BenchmarkDataset):
    """EnMAP-EuroCrops: crop-type segmentation, 15 HCAT classes of EuroCrops (Europe)."""

    name = "enmap-eurocrops"
    title = "EnMAP-EuroCrops (EU)"
    folder = "enmap_eurocrops"
    mask_dir = "eurocrops"
    codes = (
        3301090205, 3301010600, 3301090303, 3301010800, 3301090301, 3303060000, 3303030600, 3303050000,
        3303030100, 3301060500, 3301060300, 3303010000, 3301020000, 3301160000, 3301029900,
    )  # fmt: skip
    source = "EuroCrops (HCAT crop taxonomy), Europe"


class EnMAPBDForet(BenchmarkDataset):
    """EnMAP-BDForet (France): tree-species segmentation, 12 classes of IGN BD Foret V2."""

    name = "enmap-bdforet"
    title = "EnMAP-BDForet (France)"
    folder = "enmap_bdforet"
    mask_dir = "bdforet"
    codes = (1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 14, 16)
    source = "IGN BD Foret V2, France"


class EnMAPTreeMap(BenchmarkDataset):
    """EnMAP-TreeMap (USA): tree-species segmentation, 24 forest types of the USDA Forest Service TreeMap."""

    name = "enmap-treemap"
    title = "EnMAP-TreeMap (USA)"
    folder = "enmap_treemap"
    mask_dir = "treemap"
    codes = (
        184, 185, 221, 924, 105, 503, 520, 706, 801, 201, 264, 266,
        281, 301, 901, 406, 923, 142, 161, 602, 607, 608, 267, 371,
    )  # fmt: skip
    source = "USDA Forest Service TreeMap (FIA forest-type codes), USA"


class EnMAPBNETD(BenchmarkDataset):
    """EnMAP-BNETD (Cote d'Ivoire): land-cover segmentation, 10 classes of the BNETD land-cover map."""

    name = "enmap-bnetd"
    title = "EnMAP-BNETD (Cote d'Ivoire)"
    folder = "enmap_bnetd"
    mask_dir = "bnetd"
    codes = (1, 2, 3, 6, 9, 10, 13, 15, 16, 21)
    source = "BNETD land-cover map, Cote d'Ivoire"


class DESISCDL(BenchmarkDataset):
    """DESIS-CDL (USA): crop-type segmentation on DESIS (235 bands, 400-1000 nm), 14 CDL classes."""

    name = "desis-cdl"
    title = "DESIS-CDL (USA)"
    sensor = "desis"
    folder = "desis_cdl"
    image_dir = "desis"
    mask_dir = "cdl"
    num_bands = 235
    codes = (1, 2, 3, 5, 42, 43, 49, 54, 56, 68, 69, 75, 76, 204)
    source = "USDA NASS Cropland Data Layer (CDL), USA"


class EO1CDL(BenchmarkDataset):
    """EO1-CDL (USA): crop-type segmentation on EO-1 Hyperion (198 calibrated bands), 14 CDL classes."""

    name = "eo1-cdl"
    title = "EO1-CDL (USA)"
    sensor = "hyperion"
    folder = "eo1_cdl"
    image_dir = "eo1"
    mask_dir = "cdl"
    num_bands = 198
    codes = (1, 2, 3, 4, 5, 6, 41, 42, 43, 54, 69, 75, 76, 204)
    source = "USDA NASS Cropland Data Layer (CDL), USA"


class EnMAPCORINE(BenchmarkDataset):
    """EnMAP-CORINE (EU): multi-label classification, the 19 BigEarthNet classes of CORINE Land Cover.

    ``label`` is float32 (19,): 1 for each class whose CORINE codes occur at a valid pixel of the
    patch (:data:`CLC_TO_BIGEARTHNET19`).
    """

    name = "enmap-corine"
    title = "EnMAP-CORINE (EU)"
    task = "multilabel"
    folder = "enmap_corine"
    mask_dir = "corine"
    codes = tuple(range(19))
    source = "CORINE Land Cover 2018 (BigEarthNet-19 nomenclature), Europe"

    def _target(self, codes: np.ndarray, valid: np.ndarray) -> dict[str, Tensor]:
        label = np.zeros(len(self.codes), dtype=np.float32)
        for code in np.unique(codes[valid]):
            index = CLC_TO_BIGEARTHNET19.get(int(code))
            if index is not None:
                label[index] = 1.0
        return {"label": torch.from_numpy(label)}


#: Benchmark datasets by command-line name (the nine of the paper; ``enmap-potsdam`` is added by
#: :mod:`eospec.benchmark.potsdam`).
BENCHMARK_DATASETS: dict[str, type[BenchmarkDataset]] = {
    cls.name: cls
    for cls in (
        EnMAPCDL,
        EnMAPNLCD,
        EnMAPCORINE,
        EnMAPEuroCrops,
        EnMAPBDForet,
        EnMAPTreeMap,
        EnMAPBNETD,
        DESISCDL,
        EO1CDL,
    )
}


def list_benchmark_datasets() -> list[str]:
    """Names of the benchmark datasets: the paper's nine, then ``enmap-potsdam``."""
    from eospec.benchmark import potsdam  # noqa: F401  (registers enmap-potsdam)

    return list(BENCHMARK_DATASETS)


def get_benchmark_dataset(name: str) -> type[BenchmarkDataset]:
    """The dataset class of a name.

    Args:
        name: a name of :func:`list_benchmark_datasets` (case and ``_``/``-`` are ignored).

    Returns:
        The class.

    Raises:
        BenchmarkError: If the name is unknown (the message lists the names).
    """
    key = name.strip().lower().replace("_", "-")
    names = list_benchmark_datasets()
    if key not in BENCHMARK_DATASETS:
        raise BenchmarkError(f"benchmark dataset {name!r} is unknown: use 'all' or one of {', '.join(names)}")
    return BENCHMARK_DATASETS[key]


def parse_dataset_names(text: str | Sequence[str]) -> list[str]:
    """Dataset names of a ``--datasets`` value: ``"all"`` (the paper's nine) or comma-separated names.

    Args:
        text: the value, or a list of values.

    Returns:
        The canonical names, in the order given, without duplicates.

    Raises:
        BenchmarkError: If a name is unknown.
    """
    parts = [text] if isinstance(text, str) else list(text)
    names: list[str] = []
    for part in parts:
        for item in part.split(","):
            if not item.strip():
                continue
            if item.strip().lower() == "all":
                chosen = [name for name in list_benchmark_datasets() if name != "enmap-potsdam"]
            else:
                chosen = [get_benchmark_dataset(item).name]
            names.extend(name for name in chosen if name not in names)
    if not names:
        raise BenchmarkError("no dataset given: use --datasets all or comma-separated names")
    return names

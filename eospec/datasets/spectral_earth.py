"""SpectralEarth: multi-date EnMAP patches for self-supervised pretraining, as a TorchGeo dataset.

Braham et al. (2024), "SpectralEarth: Training Hyperspectral Foundation Models at Scale", IEEE
JSTARS (arXiv:2408.08447): 538,974 EnMAP L2A patches of 128 x 128 pixels and the 202 bands
without water-vapour absorption (:data:`eospec.sensors.ENMAP_DEFAULT_BANDS`), at 415,153
locations, 17.5 % of them seen at several dates. The layout (the one the authors' loader reads,
github.com/AABNassim/spectral_earth, ``src/datasets/spectral_earth.py``, and the one
``eospec sample`` writes)::

    <root>/enmap/<patch_id>/<acquisition>.tif    one GeoTIFF per date, int16 reflectance x 10000
    <root>/index.parquet                         optional (eospec sample): one row per patch
    <root>/splits/{train,val,test}.txt           optional: one patch id per line

:class:`SpectralEarth` returns reflectance (float32, nominally 0-1) of one date of a patch, or
two dates of the same patch as the two positive views of contrastive pretraining (the paper's
multi-temporal views); a patch seen once gives the same date twice, the second view through
``fallback_transform`` (random flips and 90-degree rotations by default) so that the views still
differ. :class:`SpectralEarthDataModule` wraps it for Lightning.

The data set is distributed by DLR's EOC Geoservice after registration
(https://geoservice.dlr.de/web/datasets/enmap_spectralearth); nothing is downloaded here.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torchgeo.datamodules import NonGeoDataModule
from torchgeo.datasets import DatasetNotFoundError, NonGeoDataset

from ..sensors import ENMAP_DEFAULT_BANDS, enmap

__all__ = ["SpectralEarth", "SpectralEarthDataModule", "SpectralEarthNotFoundError", "random_dihedral"]

_DATE = re.compile(r"(\d{8}T\d{6})")
_SPLITS = ("train", "val", "test", "all")
_DOWNLOAD = "https://geoservice.dlr.de/web/datasets/enmap_spectralearth"


class SpectralEarthNotFoundError(DatasetNotFoundError):
    """No SpectralEarth patches under ``root``; the message says where to get them and the layout."""

    def __init__(self, root: str, reason: str) -> None:
        FileNotFoundError.__init__(
            self,
            f"SpectralEarth patches not found in root={root!r}: {reason}. Download the data set from DLR's "
            f"EOC Geoservice ({_DOWNLOAD}, free registration) and unpack it so that patches lie at "
            "<root>/enmap/<patch_id>/<date>.tif (int16 reflectance x 10000, 202 bands), or write patches "
            "of your own EnMAP scenes with 'eospec sample'",
        )


def random_dihedral(image: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One of the 8 flips/90-degree rotations of an image, drawn at random (spectra unchanged).

    Args:
        image: tensor (..., H, W) with H == W for rotations (non-square images are only flipped).
        generator: random generator (default: torch's global one).

    Returns:
        A tensor of the same shape.
    """
    draw = int(torch.randint(8, (1,), generator=generator).item())
    out = image
    if draw & 1:
        out = out.flip(-1)
    if draw & 2:
        out = out.flip(-2)
    if draw & 4 and out.shape[-1] == out.shape[-2]:
        out = out.transpose(-1, -2)
    return out.contiguous()


@dataclass(frozen=True)
class _Patch:
    patch_id: str
    files: tuple[str, ...]
    dates: tuple[str, ...]


def _date_of(name: str) -> str:
    match = _DATE.search(name)
    return match.group(1) if match else ""


def _hash_fraction(patch_id: str) -> float:
    return (zlib.crc32(patch_id.encode()) % 1_000_000) / 1_000_000


class SpectralEarth(NonGeoDataset):
    """SpectralEarth patches (or ``eospec sample`` output): one view or two dates of a patch.

    Samples are dicts with

    * one view: ``image`` (float32 (B, H, W), reflectance 0-1, ``fill_value`` where nodata),
      ``valid`` (bool (H, W), False where any band is nodata), ``patch_id`` (str), ``date``
      (str ``YYYYMMDDTHHMMSS``, ``""`` when the file name has none);
    * two views: ``image1``, ``image2``, ``valid1``, ``valid2``, ``date1``, ``date2``,
      ``patch_id``, and ``same_date`` (bool tensor: the patch has a single date, the second view is
      ``fallback_transform`` of the first).

    Args:
        root: folder holding ``enmap/<patch_id>/*.tif`` (and ``index.parquet`` if written by
            ``eospec sample``, in which case only the patches it lists, i.e. complete ones, are used).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``. With ``<root>/splits/<split>.txt``
            the patch ids it lists; otherwise a deterministic split by a hash of the patch id
            (``val_fraction`` and ``test_fraction`` of the patches), the same on every machine.
        views: 1 (one date drawn at random per access) or 2 (two different dates when the patch
            has them).
        transforms: function applied to each sample dict.
        fallback_transform: makes the second view of a single-date patch from its first view
            (float tensor (B, H, W) -> same shape); default :func:`random_dihedral`; None repeats
            the image unchanged.
        fill_value: reflectance written where the file holds its nodata value.
        val_fraction: fraction of the patches in the hash ``"val"`` split.
        test_fraction: fraction in the hash ``"test"`` split.
        patch_ids: use only these patch ids (after the split).

    Raises:
        SpectralEarthNotFoundError: If ``root`` holds no ``enmap/<patch_id>/*.tif`` (the message says
            where to download the data set).
        ValueError: If ``split``, ``views`` or a fraction is invalid, or a split file names an
            unknown patch.
    """

    #: TorchGeo band names of the 202 bands, in file order.
    all_bands: tuple[str, ...] = tuple(f"B{band}" for band in ENMAP_DEFAULT_BANDS)
    #: Red, green, blue bands for plotting (641, 556, 468 nm; the authors' indices 43, 28, 10).
    rgb_bands: tuple[str, ...] = ("B44", "B29", "B11")
    #: Reflectance per digital number when a file carries no ``scale_factor`` tag.
    default_scale = 1e-4
    #: Nodata digital number when a file declares none.
    default_nodata = -32768

    def __init__(
        self,
        root: str | os.PathLike[str] = "data",
        split: str = "train",
        views: int = 1,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        fallback_transform: Callable[[Tensor], Tensor] | None = random_dihedral,
        fill_value: float = 0.0,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        patch_ids: Sequence[str] | None = None,
    ) -> None:
        if split not in _SPLITS:
            raise ValueError(f"split {split!r} is unknown: use one of {', '.join(map(repr, _SPLITS))}")
        if views not in (1, 2):
            raise ValueError(f"views {views!r} is invalid: use 1 (one date) or 2 (two dates of the same patch)")
        if not (0.0 <= val_fraction and 0.0 <= test_fraction and val_fraction + test_fraction < 1.0):
            raise ValueError(
                f"val_fraction {val_fraction!r} and test_fraction {test_fraction!r} must be >= 0 and sum to < 1"
            )
        self.root = str(root)
        self.split = split
        self.views = views
        self.transforms = transforms
        self.fallback_transform = fallback_transform
        self.fill_value = float(fill_value)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        patches = self._find_patches()
        patches = self._select_split(patches)
        if patch_ids is not None:
            wanted = set(patch_ids)
            patches = [patch for patch in patches if patch.patch_id in wanted]
        self.patches: list[_Patch] = patches
        self.wavelengths_nm: npt.NDArray[np.float64] = enmap().wavelengths_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]

    # -- indexing -------------------------------------------------------------------------------

    def _find_patches(self) -> list[_Patch]:
        root = Path(self.root)
        folder = root / "enmap"
        if not folder.is_dir():
            raise SpectralEarthNotFoundError(self.root, f"the folder {str(folder)!r} does not exist")
        index_path = root / "index.parquet"
        patches = self._from_index(index_path) if index_path.is_file() else self._scan(folder)
        if not patches:
            raise SpectralEarthNotFoundError(self.root, f"no <patch_id>/*.tif file in {str(folder)!r}")
        return patches

    def _scan(self, folder: Path) -> list[_Patch]:
        patches = []
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries if entry.is_dir() and not entry.name.startswith("."))
        for name in names:
            files = sorted(
                file.name
                for file in os.scandir(folder / name)
                if file.is_file() and not file.name.startswith(".") and file.name.lower().endswith((".tif", ".tiff"))
            )
            if files:
                paths = tuple(str(folder / name / file) for file in files)
                patches.append(_Patch(name, paths, tuple(_date_of(file) for file in files)))
        return patches

    def _from_index(self, path: Path) -> list[_Patch]:
        import pandas as pd

        frame = pd.read_parquet(path, columns=["patch_id", "files"])
        patches = []
        for patch_id, files in zip(frame["patch_id"], frame["files"], strict=True):
            paths = tuple(str(Path(self.root) / str(file)) for file in files)
            patches.append(_Patch(str(patch_id), paths, tuple(_date_of(os.path.basename(p)) for p in paths)))
        return sorted(patches, key=lambda patch: patch.patch_id)

    def _select_split(self, patches: list[_Patch]) -> list[_Patch]:
        if self.split == "all":
            return patches
        split_file = Path(self.root) / "splits" / f"{self.split}.txt"
        if split_file.is_file():
            wanted = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
            by_id = {patch.patch_id: patch for patch in patches}
            missing = [patch_id for patch_id in wanted if patch_id not in by_id]
            if missing:
                raise ValueError(
                    f"{len(missing)} patch ids of {str(split_file)!r} are not under {self.root!r}/enmap, e.g. "
                    f"{missing[0]!r}: fix the split file or the root"
                )
            return [by_id[patch_id] for patch_id in wanted]
        low = {"val": 0.0, "test": self.val_fraction, "train": self.val_fraction + self.test_fraction}[self.split]
        high = {"val": self.val_fraction, "test": self.val_fraction + self.test_fraction, "train": 1.0}[self.split]
        return [patch for patch in patches if low <= _hash_fraction(patch.patch_id) < high]

    # -- reading --------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of patches (locations) in the split."""
        return len(self.patches)

    def n_dates(self, index: int) -> int:
        """Number of dates of a patch.

        Args:
            index: patch index.

        Returns:
            The number of files of the patch.
        """
        return len(self.patches[index].files)

    def read(self, path: str) -> tuple[Tensor, Tensor]:
        """Read one patch file as reflectance.

        Args:
            path: a GeoTIFF with the 202 default bands (or all 224 EnMAP bands, of which the 202
                are taken), int16 (or any numeric type) digital numbers.

        Returns:
            ``(image, valid)``: float32 (202, H, W) reflectance (DN times the file's
            ``scale_factor`` tag, else 1e-4; ``fill_value`` where nodata) and bool (H, W), False
            where any band holds the nodata value (or is not finite).

        Raises:
            ValueError: If the file has neither 202 nor 224 bands.
        """
        import rasterio

        with rasterio.open(path) as source:
            count = source.count
            if count == 224:
                indexes = list(ENMAP_DEFAULT_BANDS)
            elif count == len(ENMAP_DEFAULT_BANDS):
                indexes = list(range(1, count + 1))
            else:
                raise ValueError(
                    f"{path!r} has {count} bands: SpectralEarth patches have the 202 EnMAP default bands (or all 224)"
                )
            data = source.read(indexes)
            nodata = source.nodata if source.nodata is not None else self.default_nodata
            scale = float(source.tags().get("scale_factor", self.default_scale))
        invalid = ~np.isfinite(data) if data.dtype.kind == "f" else np.zeros(data.shape, dtype=bool)
        invalid |= data == nodata
        reflectance = data.astype(np.float32) * np.float32(scale)
        reflectance[invalid] = self.fill_value
        return torch.from_numpy(reflectance), torch.from_numpy(~invalid.any(axis=0))

    def _choose(self, count: int, k: int) -> list[int]:
        if count >= k:
            return [int(i) for i in torch.randperm(count)[:k]]
        return [int(torch.randint(count, (1,)).item())] * k

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One or two views of patch ``index`` (see the class docstring).

        Args:
            index: patch index, 0 <= index < len(self).

        Returns:
            The sample dict.
        """
        patch = self.patches[index]
        chosen = self._choose(len(patch.files), self.views)
        sample: dict[str, Any] = {"patch_id": patch.patch_id}
        if self.views == 1:
            image, valid = self.read(patch.files[chosen[0]])
            sample |= {"image": image, "valid": valid, "date": patch.dates[chosen[0]]}
        else:
            image1, valid1 = self.read(patch.files[chosen[0]])
            same = chosen[0] == chosen[1]
            if same:
                image2, valid2 = image1.clone(), valid1.clone()
                if self.fallback_transform is not None:
                    # Transform image and mask together: stack the mask as an extra band.
                    stacked = self.fallback_transform(torch.cat([image2, valid2[None].to(image2.dtype)]))
                    image2, valid2 = stacked[:-1], stacked[-1] > 0.5
            else:
                image2, valid2 = self.read(patch.files[chosen[1]])
            sample |= {
                "image1": image1,
                "image2": image2,
                "valid1": valid1,
                "valid2": valid2,
                "date1": patch.dates[chosen[0]],
                "date2": patch.dates[chosen[1]],
                "same_date": torch.tensor(same),
            }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def band_statistics(self, max_patches: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Per-band mean and standard deviation of reflectance over valid pixels.

        Args:
            max_patches: read at most this many patches (drawn without replacement), one date each.
            seed: seed of the draw.

        Returns:
            ``(mean, std)``, float64 arrays (202,) in reflectance units (std floored at 1e-6).
        """
        generator = np.random.default_rng(seed)
        count = min(max_patches, len(self))
        order = generator.permutation(len(self))[:count]
        total = np.zeros(len(self.all_bands))
        total_sq = np.zeros(len(self.all_bands))
        n = 0
        for index in order:
            files = self.patches[int(index)].files
            image, valid = self.read(files[int(generator.integers(len(files)))])
            pixels = image.numpy()[:, valid.numpy()].astype(np.float64)
            total += pixels.sum(axis=1)
            total_sq += (pixels**2).sum(axis=1)
            n += pixels.shape[1]
        if n == 0:
            return np.zeros_like(total), np.ones_like(total)
        mean = total / n
        std = np.sqrt(np.maximum(total_sq / n - mean**2, 0.0))
        return mean, np.maximum(std, 1e-6)

    def plot(self, sample: dict[str, Any], show_titles: bool = True, suptitle: str | None = None) -> Any:
        """Plot the view(s) of a sample as true-colour images (641, 556, 468 nm).

        Args:
            sample: a sample from :meth:`__getitem__`.
            show_titles: title each panel with its date.
            suptitle: figure title.

        Returns:
            A matplotlib Figure.
        """
        import matplotlib.pyplot as plt

        keys = ["image"] if "image" in sample else ["image1", "image2"]
        rgb = [self.all_bands.index(band) for band in self.rgb_bands]
        figure, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 4), squeeze=False)
        for axis, key in zip(axes[0], keys, strict=True):
            image = sample[key][rgb].numpy().transpose(1, 2, 0)
            low, high = np.percentile(image, (2, 98))
            axis.imshow(np.clip((image - low) / max(high - low, 1e-6), 0, 1))
            axis.axis("off")
            if show_titles:
                axis.set_title(str(sample.get("date" if key == "image" else f"date{key[-1]}", "")))
        if suptitle is not None:
            figure.suptitle(suptitle)
        return figure


def _identity(batch: dict[str, Any]) -> dict[str, Any]:
    return batch


class SpectralEarthDataModule(NonGeoDataModule):
    """Lightning data module of :class:`SpectralEarth` (train/val/test splits of one root).

    Batches keep reflectance as it is (no TorchGeo normalisation): the encoders standardise with
    their own statistics (:meth:`eospec.models.backbones.SpectralEarthEncoder.set_input_statistics`).

    Args:
        batch_size: samples per batch (the incomplete last training batch is dropped).
        num_workers: DataLoader worker processes.
        **kwargs: arguments of :class:`SpectralEarth` (``root``, ``views``, ``val_fraction``, ...).
    """

    def __init__(self, batch_size: int = 64, num_workers: int = 0, **kwargs: Any) -> None:
        super().__init__(SpectralEarth, batch_size, num_workers, **kwargs)
        self.aug = _identity

"""Small fake copies of each benchmark dataset's on-disk layout, for tests, docs and dry runs.

:func:`write_fixture` writes a dataset in the exact layout its reader expects
(:mod:`eospec.benchmark.datasets`, :mod:`eospec.benchmark.potsdam`), with a few patches of a few
pixels. The spectra are synthetic but learnable: each class has its own reflectance spectrum (a
smooth soil-like continuum with one Gaussian absorption feature whose centre depends on the class)
plus noise, so a per-pixel classifier can beat chance on the fixture. Masks hold the dataset's raw
codes, background 0 and a code outside the class list (both ignored by the readers), and every
image has a few nodata pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from eospec.benchmark.datasets import CLC_TO_BIGEARTHNET19, get_benchmark_dataset

__all__ = ["write_fixture"]

#: Nodata value of the fixture images (int16, reflectance x 10000).
FIXTURE_NODATA = -32768


def _class_spectra(wavelengths: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Reflectance (K, B): a rising continuum with a class-specific Gaussian absorption."""
    span = np.ptp(wavelengths) or 1.0
    position = (wavelengths - wavelengths.min()) / span
    centres = np.linspace(0.1, 0.9, max(n_classes, 1))
    spectra = []
    for k in range(n_classes):
        continuum = 0.12 + 0.25 * position + rng.uniform(-0.03, 0.03)
        feature = 0.08 * np.exp(-0.5 * ((position - centres[k]) / 0.04) ** 2)
        spectra.append(np.clip(continuum - feature, 0.01, 0.95))
    return np.asarray(spectra)


def _block_codes(size: int, codes: list[int], rng: np.random.Generator, block: int = 4) -> np.ndarray:
    """An (size, size) mask of block x block squares, each a random code of ``codes``."""
    cells = -(-size // block)
    grid = rng.choice(np.asarray(codes), size=(cells, cells))
    return np.kron(grid, np.ones((block, block), dtype=grid.dtype))[:size, :size]


def _write(path: Path, data: np.ndarray, nodata: float | None, tags: list[dict[str, str]] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": data.shape[-1],
        "height": data.shape[-2],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": "EPSG:32633",
        "transform": from_origin(366000.0, 5810000.0, 30.0, 30.0),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as target:
        target.write(data)
        for band, band_tags in enumerate(tags or [], start=1):
            target.update_tags(band, **band_tags)


def write_fixture(
    name: str,
    root: str | os.PathLike[str],
    *,
    samples: tuple[int, int, int] = (6, 2, 2),
    size: int = 16,
    noise: float = 0.01,
    seed: int = 0,
) -> Path:
    """Write a small fake copy of a benchmark dataset in its on-disk layout.

    Args:
        name: a benchmark dataset name (:func:`~eospec.benchmark.datasets.list_benchmark_datasets`).
        root: the folder that will hold the dataset (created; the dataset goes to
            ``<root>/<folder>``, or straight into ``root`` for ``enmap-potsdam``).
        samples: patches (tiles) in the train, val and test splits.
        size: patch width and height in pixels.
        noise: standard deviation of the Gaussian reflectance noise.
        seed: random seed (the same arguments write the same files).

    Returns:
        The folder to pass as ``root`` to the dataset class.

    Raises:
        BenchmarkError: If ``name`` is unknown.
    """
    cls = get_benchmark_dataset(name)
    rng = np.random.default_rng(seed)
    root = Path(root)
    potsdam = cls.name == "enmap-potsdam"
    if potsdam:
        from eospec.sensors import ENMAP_DEFAULT_BANDS, get_sensor

        enmap = get_sensor("enmap")
        wavelengths = np.asarray(enmap.wavelengths_nm, dtype=np.float64)
        count = enmap.n_bands
        used = np.asarray(ENMAP_DEFAULT_BANDS) - 1
    else:
        wavelengths = cls.wavelengths_nm()
        count = cls.num_bands
        used = np.arange(count)
    if cls.task == "multilabel":
        clc = sorted(CLC_TO_BIGEARTHNET19)
        label_codes = [*clc, 123]  # 123 (port areas) belongs to no BigEarthNet-19 class
        spectra_of = {code: i for i, code in enumerate(label_codes)}
    else:
        label_codes = [*cls.codes, 0, 9999 if max(cls.codes) < 9999 else 1]
        spectra_of = {code: i for i, code in enumerate(label_codes)}
    spectra = _class_spectra(wavelengths[used], len(label_codes), rng)
    folder = root if potsdam else root / cls.folder
    split_names = {"train": "train_files.csv", "val": "validation_files.csv", "test": "test_files.csv"}
    for split, count_split in zip(("train", "val", "test"), samples, strict=True):
        names = []
        for i in range(count_split):
            file_name = f"{split}_{i:03d}.tif"
            names.append(file_name)
            if cls.task == "multilabel":
                present = rng.choice(np.asarray(label_codes), size=3, replace=False)
                codes = _block_codes(size, list(present), rng, block=max(size // 2, 1))
            else:
                codes = _block_codes(size, label_codes, rng)
            index = np.vectorize(spectra_of.__getitem__)(codes)
            reflectance = spectra[index].transpose(2, 0, 1) + rng.normal(0.0, noise, (len(used), size, size))
            invalid = rng.random((size, size)) < 0.03
            if potsdam:
                cube = np.zeros((count, size, size), dtype=np.float32)
                cube[used] = (reflectance * 10000).astype(np.float32)
                cube[:, invalid] = FIXTURE_NODATA
                tags = [
                    {"wavelength": f"{w:.3f}", "fwhm": f"{f:.3f}", "bbl": "1" if b in set(used) else "0"}
                    for b, (w, f) in enumerate(zip(enmap.wavelengths_nm, enmap.fwhm_nm, strict=True))
                ]
                _write(folder / cls.image_dir / file_name, cube, FIXTURE_NODATA, tags)
                _write(folder / cls.mask_dir / file_name, codes.astype(np.uint8)[None], None)
            else:
                cube_i16 = np.clip(np.round(reflectance * 10000), -32767, 32767).astype(np.int16)
                cube_i16[:, invalid] = FIXTURE_NODATA
                _write(folder / cls.image_dir / file_name, cube_i16, FIXTURE_NODATA)
                mask_dtype = np.int64 if max(label_codes) > 2**31 - 1 else np.int32
                _write(folder / cls.mask_dir / file_name, codes.astype(mask_dtype)[None], None)
        if potsdam:
            lines = ["image,mask"] + [f"images/{n},labels/{n}" for n in names]
            (folder / split_names[split]).write_text("\n".join(lines) + "\n")
        else:
            (folder / "splits").mkdir(parents=True, exist_ok=True)
            (folder / "splits" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return folder

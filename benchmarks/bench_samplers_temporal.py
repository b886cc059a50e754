"""Speed of the multitemporal sampler: samples per second through a DataLoader against the rasterio floor.

Builds a three-date stack from the full-size scene of the mapping benchmark
(``bench_map.make_scene``: the real Potsdam EnMAP mosaic mirror-tiled to 1024 x 1024 pixels, 224
bands, int16, 256 px DEFLATE tiles, band-interleaved; about 40 % of it is nodata, the gaps between
the original tiles): three copies with different ``start_time`` tags (2022-07-24, 2022-08-17,
2023-05-02). A :class:`eospec.samplers.RandomMultiTemporalSampler` (seeded) picks ``--windows``
windows of ``--patch`` pixels with the whole time series (3 dates, each at least half valid).
Then, each in a fresh process (no GDAL block cache shared) and in the same session:

* **floor**: rasterio opens the three files once and reads the same windows at the same dates
  (the 202 default bands) with ``DatasetReader.read(window=...)``, converts them to float32
  reflectance and stacks them into (B, T, C, H, W) batches, in one process;
* **eospec**: ``EnMAPL2A`` + ``RandomMultiTemporalSampler`` + ``MultiTemporalDataset`` +
  ``DataLoader(collate_fn=stack_time_series)`` with ``num_workers`` 0 and 2: what a training
  loop gets (float32 reflectance with NaN where invalid). The child checks that it delivers the
  windows the floor read.

Rates count the iteration only (worker start-up included); building the dataset and the sampler
(including its one decimated read of each date for the valid fraction) is printed as ``setup``.
A sample is one window at all its dates. The best of ``--repeat`` runs (interleaved) is reported.
On a busy machine wall time is noisy; the ratio of CPU times (one process: floor and 0 workers)
is printed too.

Usage::

    python benchmarks/bench_samplers_temporal.py [--size 1024] [--windows 48] [--patch 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import best_of

HERE = Path(__file__).resolve().parent
DATES = ("2022-07-24T10:45:26", "2022-08-17T10:30:12", "2023-05-02T10:12:40")


def make_stack(scene: Path, folder: Path) -> Path:
    """Three copies of the scene with different acquisition times (start_time tags)."""
    import rasterio

    folder.mkdir(parents=True, exist_ok=True)
    for date in DATES:
        target = folder / f"enmap_{date[:10]}.tif"
        if target.exists():
            continue
        partial = target.with_suffix(".partial")
        shutil.copyfile(scene, partial)
        with rasterio.open(partial, "r+") as dataset:
            dataset.update_tags(start_time=date)
        partial.rename(target)
    return folder


def sampler_for(stack: object, patch: int, windows: int, seed: int) -> object:
    from eospec.samplers import RandomMultiTemporalSampler

    return RandomMultiTemporalSampler(
        stack,  # type: ignore[arg-type]
        size=patch,
        length=windows,
        views=None,
        min_dates=3,
        min_valid_fraction=0.5,
        generator=seed,
    )


def plan(folder: str, patch: int, windows: int, seed: int) -> list[list[tuple[float, float, str]]]:
    """The windows and dates the sampler yields: [(x0, y1, start), ...] per sample."""
    import warnings

    import eospec  # noqa: F401  (torchvision fallback before torchgeo)
    from eospec.datasets import EnMAPL2A

    warnings.simplefilter("ignore")
    sampler = sampler_for(EnMAPL2A(folder), patch, windows, seed)
    return [[(q[0].start, q[1].stop, str(q[2].start)) for q in query] for query in sampler]  # type: ignore[attr-defined]


def child_floor(folder: str, plan_path: str, patch: int, batch: int) -> dict[str, float]:
    import numpy as np
    import pandas as pd
    import rasterio
    import torch
    from rasterio.windows import Window

    from eospec.sensors import ENMAP_DEFAULT_BANDS

    start = time.perf_counter()
    samples = json.loads(Path(plan_path).read_text())
    bands = list(ENMAP_DEFAULT_BANDS)
    handles = {}
    for path in sorted(Path(folder).glob("*.tif")):
        handle = rasterio.open(path)
        handles[pd.Timestamp(handle.tags()["start_time"])] = handle
    setup = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    delivered = 0
    for first in range(0, len(samples), batch):
        images = []
        for sample in samples[first : first + batch]:
            series = []
            for x0, y1, when in sample:
                handle = handles[pd.Timestamp(when)]
                col, row = ~handle.transform * (x0, y1)
                data = handle.read(bands, window=Window(int(round(col)), int(round(row)), patch, patch))
                series.append(torch.from_numpy(data.astype(np.float32) * np.float32(1e-4)))
            images.append(torch.stack(series))
        delivered += torch.stack(images).shape[0]
    seconds = time.perf_counter() - start
    return {"setup_s": setup, "seconds": seconds, "cpu_s": time.process_time() - cpu, "samples": delivered}


def child_eospec(folder: str, plan_path: str, patch: int, batch: int, workers: int, seed: int) -> dict[str, float]:
    import warnings

    from torch.utils.data import DataLoader

    import eospec  # noqa: F401  (torchvision fallback before torchgeo)
    from eospec.datasets import EnMAPL2A
    from eospec.samplers import MultiTemporalDataset, stack_time_series

    warnings.simplefilter("ignore")
    expected = json.loads(Path(plan_path).read_text())
    start = time.perf_counter()
    stack = EnMAPL2A(folder)
    sampler = sampler_for(stack, patch, len(expected), seed)
    loader = DataLoader(
        MultiTemporalDataset(stack),
        sampler=sampler,  # type: ignore[arg-type]
        batch_size=batch,
        num_workers=workers,
        collate_fn=stack_time_series,
    )
    setup = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    delivered = 0
    seen = []
    for item in loader:
        assert item["image"].shape[2:] == (202, patch, patch)
        delivered += item["image"].shape[0]
        seen += [[[q[0].start, q[1].stop, str(q[2].start)] for q in query] for query in item["bounds"]]
    seconds = time.perf_counter() - start
    assert seen == expected, "the DataLoader delivered other windows than the floor read"
    return {"setup_s": setup, "seconds": seconds, "cpu_s": time.process_time() - cpu, "samples": delivered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="scene side in pixels")
    parser.add_argument("--windows", type=int, default=48, help="windows (samples) per run")
    parser.add_argument("--patch", type=int, default=128, help="window side in pixels")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, action="append", help="DataLoader workers (repeatable; default 0 and 2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "eospec-bench-temporal")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, folder, plan_path, patch, batch, *rest = args.child
        if mode == "floor":
            result = child_floor(folder, plan_path, int(patch), int(batch))
        else:
            result = child_eospec(folder, plan_path, int(patch), int(batch), int(rest[0]), int(rest[1]))
        print(json.dumps(result))
        return

    sys.path.insert(0, str(HERE))
    import bench_map

    scene = bench_map.in_subprocess("make_scene", str(args.size), str(args.work / "scenes"))
    folder = make_stack(scene, args.work / f"stack_{args.size}")
    started = time.perf_counter()
    samples = plan(str(folder), args.patch, args.windows, args.seed)
    print(f"sampler set-up in the parent: {time.perf_counter() - started:.2f} s", flush=True)
    plan_path = args.work / f"plan_{args.size}_{args.patch}_{args.windows}_{args.seed}.json"
    plan_path.write_text(json.dumps(samples))
    common = [str(folder), str(plan_path), str(args.patch), str(args.batch)]
    methods = {"floor (rasterio)": ["floor", *common]}
    for workers in args.workers or [0, 2]:
        methods[f"eospec, {workers} workers"] = ["eospec", *common, str(workers), str(args.seed)]
    results = best_of(__file__, methods, args.repeat)  # interleaved rounds, best of each
    floor = results["floor (rasterio)"]["samples"] / results["floor (rasterio)"]["seconds"]
    floor_cpu = results["floor (rasterio)"]["samples"] / results["floor (rasterio)"]["cpu_s"]
    summary: dict[str, object] = {
        "scene": f"{args.size} x {args.size} px, 224 bands int16, 3 dates",
        "windows": len(samples),
        "dates_per_window": 3,
        "patch": args.patch,
        "batch": args.batch,
    }
    for name, best in results.items():
        rate = best["samples"] / best["seconds"]
        print(
            f"{name:<22} {rate:8.2f} samples/s  ({best['samples']:.0f} in {best['seconds']:.2f} s; "
            f"setup {best['setup_s']:.2f} s)",
            flush=True,
        )
        summary[name] = round(rate, 2)
        summary[f"{name} setup_s"] = round(best["setup_s"], 2)
        if name != "floor (rasterio)":
            summary[f"{name} / floor"] = round(rate / floor, 2)
            print(f"{name} / floor = {rate / floor:.2f} (target >= 0.7)")
        if name.endswith(" 0 workers"):  # CPU time of one process: steadier than wall time on a busy machine
            ratio = best["samples"] / best["cpu_s"] / floor_cpu
            summary[f"{name} / floor (CPU time)"] = round(ratio, 2)
            print(f"{name} / floor, by CPU time = {ratio:.2f}")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

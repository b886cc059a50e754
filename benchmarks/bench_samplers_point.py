"""Speed of the point sampler: samples per second through a DataLoader against the rasterio floor.

Uses the full-size scene of the mapping benchmark (``bench_map.make_scene``: the real Potsdam
EnMAP mosaic mirror-tiled to 1024 x 1024 pixels, 224 bands, int16, 256 px DEFLATE tiles,
band-interleaved) and a few hundred sample points at seeded random positions (dates within
+-10 days of the acquisition). Each method runs in a fresh process (no GDAL block cache is
shared), the methods take turns for ``--repeat`` rounds (so that a busy machine slows them
alike), and the best round of each is reported:

* **floor**: rasterio opens the scene once and reads the same windows (the 202 default bands)
  with ``DatasetReader.read(window=...)``, converts them to float32 reflectance and stacks them
  into batches of tensors, in a plain loop;
* **floor, N workers**: the same reads in a minimal map-style dataset through a torch
  ``DataLoader`` with N worker processes (each opens the file itself, as eospec's workers do);
  the fair floor for eospec with N workers, since each worker process decodes the blocks it
  touches on its own;
* **eospec, N workers**: ``SoilSamples & EnMAPL2A`` + :class:`eospec.samplers.PointSampler` + a
  torch ``DataLoader`` (``stack_samples``): what a training loop gets (float32 reflectance with
  NaN where invalid, plus the samples' properties).

Rates count the iteration only (worker start-up included), not building the datasets (printed
as setup).

Usage::

    python benchmarks/bench_samplers_point.py [--size 1024] [--points 300] [--patch 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from _common import best_of

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def make_points(scene: Path, count: int, patch: int, seed: int, out: Path) -> Path:
    """Seeded random points at least half a patch from the scene edges, as GeoParquet."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import rasterio

    with rasterio.open(scene) as src:
        transform, crs, width, height = src.transform, src.crs, src.width, src.height
    generator = np.random.default_rng(seed)
    margin = patch // 2 + 1
    cols = generator.uniform(margin, width - margin, count)
    rows = generator.uniform(margin, height - margin, count)
    xs = transform.c + cols * transform.a
    ys = transform.f + rows * transform.e
    dates = pd.Timestamp("2022-07-24") + pd.to_timedelta(generator.integers(-10, 11, count), unit="D")
    frame = gpd.GeoDataFrame(
        {"id": [f"P{i:04d}" for i in range(count)], "date": dates, "soc": generator.uniform(5, 40, count)},
        geometry=gpd.points_from_xy(xs, ys),
        crs=crs,
    )
    frame.to_parquet(out)
    return out


class Windows:
    """Map-style dataset of rasterio window reads: the floor behind a DataLoader."""

    def __init__(self, scene: str, rows: Any, cols: Any, patch: int, bands: list[int]) -> None:
        self.scene, self.rows, self.cols, self.patch, self.bands = scene, rows, cols, patch, bands
        self.handle: Any = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Any:
        import numpy as np
        import rasterio
        import torch
        from rasterio.windows import Window

        if self.handle is None:  # one handle per worker process
            self.handle = rasterio.open(self.scene)
        window = Window(int(self.cols[index]), int(self.rows[index]), self.patch, self.patch)
        data = self.handle.read(self.bands, window=window)
        return torch.from_numpy(data.astype(np.float32) * np.float32(1e-4))


def child_floor(scene: str, points: str, patch: int, batch: int, workers: int) -> dict[str, float]:
    import geopandas as gpd
    import numpy as np
    import rasterio
    import torch
    from rasterio.windows import Window
    from torch.utils.data import DataLoader, Dataset

    from eospec.samplers.point import centred_window
    from eospec.sensors import ENMAP_DEFAULT_BANDS

    start = time.perf_counter()
    frame = gpd.read_parquet(points)
    bands = list(ENMAP_DEFAULT_BANDS)
    with rasterio.open(scene) as src:
        transform, res = src.transform, src.res
    xmin, _, _, ymax = centred_window(
        frame.geometry.x, frame.geometry.y, origin=(transform.c, transform.f), res=res, size=(patch, patch)
    )
    cols = np.rint((xmin - transform.c) / transform.a).astype(int)
    rows = np.rint((ymax - transform.f) / transform.e).astype(int)
    setup = time.perf_counter() - start
    delivered = 0
    if workers < 0:  # plain loop
        start = time.perf_counter()
        with rasterio.open(scene) as src:
            for first in range(0, len(frame), batch):
                images = []
                for row, col in zip(rows[first : first + batch], cols[first : first + batch], strict=True):
                    data = src.read(bands, window=Window(int(col), int(row), patch, patch))
                    images.append(torch.from_numpy(data.astype(np.float32) * np.float32(1e-4)))
                delivered += torch.stack(images).shape[0]
    else:
        windows = cast("Dataset[torch.Tensor]", Windows(scene, rows, cols, patch, bands))
        loader: DataLoader[torch.Tensor] = DataLoader(windows, batch_size=batch, num_workers=workers)
        start = time.perf_counter()
        for images in loader:
            delivered += images.shape[0]
    seconds = time.perf_counter() - start
    return {"setup_s": setup, "seconds": seconds, "samples": delivered}


def child_eospec(scene: str, points: str, patch: int, batch: int, workers: int) -> dict[str, float]:
    import warnings

    import eospec

    eospec.ensure_torchvision_ops()  # before torchgeo imports torchvision
    warnings.simplefilter("ignore")
    from torch.utils.data import DataLoader
    from torchgeo.datasets import stack_samples

    from eospec.datasets import EnMAPL2A, SoilSamples
    from eospec.samplers import PointSampler

    start = time.perf_counter()
    scenes = EnMAPL2A(scene)
    samples = SoilSamples(points, time_tolerance="30D")
    pairs = samples & scenes
    sampler = PointSampler(pairs, size=patch)
    loader = DataLoader(pairs, sampler=sampler, batch_size=batch, num_workers=workers, collate_fn=stack_samples)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    delivered = 0
    for item in loader:
        assert item["image"].shape[1:] == (202, patch, patch)
        assert item["properties"].shape[1:] == (1,)
        delivered += item["image"].shape[0]
    seconds = time.perf_counter() - start
    return {"setup_s": setup, "seconds": seconds, "samples": delivered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="scene side in pixels")
    parser.add_argument("--points", type=int, default=300, help="sample points")
    parser.add_argument("--patch", type=int, default=32, help="patch side in pixels")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, action="append", help="DataLoader workers (repeatable; default 0 and 2)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best of each method is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "eospec-bench-point")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, scene, points, patch, batch, workers = args.child
        child = child_floor if mode == "floor" else child_eospec
        print(json.dumps(child(scene, points, int(patch), int(batch), int(workers))))
        return

    sys.path.insert(0, str(HERE))
    import bench_map

    scene = bench_map.in_subprocess("make_scene", str(args.size), str(args.work / "scenes"))
    points = make_points(
        scene, args.points, args.patch, args.seed, args.work / f"points_{args.size}_{args.points}_{args.seed}.parquet"
    )
    common = [str(scene), str(points), str(args.patch), str(args.batch)]
    workers = args.workers or [0, 2]
    methods = {"floor": ["floor", *common, "-1"]}
    for count in workers:
        if count > 0:
            methods[f"floor, {count} workers"] = ["floor", *common, str(count)]
        methods[f"eospec, {count} workers"] = ["eospec", *common, str(count)]
    results = best_of(__file__, methods, args.repeat)  # interleaved rounds, best of each
    for name, best in results.items():
        best["rate"] = best["samples"] / best["seconds"]
        print(
            f"{name:<20} {best['rate']:8.1f} samples/s  ({best['samples']:.0f} in {best['seconds']:.2f} s; "
            f"setup {best['setup_s']:.2f} s)",
            flush=True,
        )
    summary: dict[str, Any] = {
        "scene": f"{args.size} x {args.size} px, 224 bands int16",
        "points": args.points,
        "patch": args.patch,
        "batch": args.batch,
        "samples_per_s": {name: round(value["rate"], 1) for name, value in results.items()},
        "ratios": {},
    }
    floor = results["floor"]["rate"]
    for count in workers:
        ours = results[f"eospec, {count} workers"]["rate"]
        same = results[f"floor, {count} workers"]["rate"] if count > 0 else floor
        summary["ratios"][f"{count} workers"] = {
            "vs floor": round(ours / floor, 2),
            "vs same-worker floor": round(ours / same, 2),
        }
        print(
            f"eospec, {count} workers: {ours / floor:.2f} of the floor, {ours / same:.2f} of the floor with "
            f"{count} workers (target >= 0.7)"
        )
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

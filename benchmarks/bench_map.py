"""Speed and memory of ``eospec map`` against the floor and the usual TorchGeo pipeline.

Builds a full-size scene by mirror-tiling the real Potsdam EnMAP mosaic (int16, 224 bands,
256 x 256 tiles, DEFLATE, band-interleaved, nodata -32768), then runs, each as a whole process
(imports included) and in the same session:

(a) floor: one process reads the scene once with rasterio (GDAL multi-threaded decoding), runs
    the same model over every pixel and writes the COG;
(b) TorchGeo: ``EnMAP`` dataset + ``GridGeoSampler`` (256 px) + ``DataLoader`` + stitching by
    sample bounds + ``rio_cogeo.cog_translate``;
(c) ``eospec map``.

The model is a 202-128-64-1 MLP on reflectance (random weights; the figures do not depend on the
weights), or the model ``--model`` names (a bundled name such as ``soc``, or a model ``.json``):
the bundled SOC model's SNV and EPO steps are nonlinear, so they cannot fold into the first layer
and run on reflectance.
Peak memory is the child's maximum resident set size (``os.wait4``).

Usage::

    python benchmarks/bench_map.py [--size 1024] [--size 2048] [--repeat 2] [--work DIR] [--model soc]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SCENE_NAME = "ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302_20230628T165614Z-SPECTRAL_IMAGE.TIF"


def shared_data() -> Path:
    return Path(os.environ.get("EOSPEC_SHARED_DATA", REPO.parent / "shared" / "data"))


def make_scene(size: int, folder: Path) -> Path:
    """Mirror-tile the Potsdam mosaic to size x size pixels."""
    import numpy as np
    import rasterio
    from rasterio.transform import Affine

    folder.mkdir(parents=True, exist_ok=True)
    out = folder / str(size) / SCENE_NAME
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    source = shared_data() / "enmap" / "potsdam" / "enmap_potsdam_tiles_mosaic.tif"
    with rasterio.open(source) as src:
        data = src.read()
        profile = src.profile
        tags = [src.tags(b) for b in range(1, src.count + 1)]
        descriptions = src.descriptions
        dataset_tags = src.tags()
    _, h, w = data.shape
    reps = (1, -(-size // (2 * h)) * 2, -(-size // (2 * w)) * 2)
    unit = np.concatenate([np.concatenate([data, data[:, :, ::-1]], axis=2)] * 1, axis=1)
    unit = np.concatenate([unit, unit[:, ::-1, :]], axis=1)
    big = np.tile(unit, (1, reps[1] // 2, reps[2] // 2))[:, :size, :size]
    transform = profile["transform"]
    profile.update(
        width=size,
        height=size,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        predictor=2,
        interleave="band",
        transform=Affine(transform.a, 0, transform.c, 0, transform.e, transform.f),
        bigtiff="IF_SAFER",
    )
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(out, "w", **profile) as dst:
        dst.write(big)
        dst.update_tags(**dataset_tags)
        for band, (band_tags, description) in enumerate(zip(tags, descriptions, strict=True), start=1):
            dst.update_tags(band, **band_tags)
            dst.set_band_description(band, description)
    return out


def make_model(folder: Path) -> Path:
    """A 202-128-64-1 MLP in eospec's model format (metadata JSON + state dict)."""
    import numpy as np
    import torch

    from eospec.models.spectral import SpectralRegressor
    from eospec.sensors import ENMAP_DEFAULT_BANDS, enmap

    torch.manual_seed(0)
    wavelengths = enmap().wavelengths_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]
    module = SpectralRegressor(len(wavelengths), (128, 64), 1)
    module.input_mean.fill_(0.2)
    module.input_scale.fill_(0.1)
    folder.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    save_file(module.state_dict(), folder / "mlp.safetensors")
    metadata = {
        "name": "mlp",
        "version": "bench",
        "property": "soc",
        "long_name": "benchmark MLP",
        "unit": "g/kg",
        "sensor": "enmap",
        "band_wavelengths_nm": wavelengths.tolist(),
        "architecture": {
            "type": "spectral_regressor",
            "hidden": [128, 64],
            "n_outputs": 1,
            "transform": "reflectance",
            "snv": False,
        },
        "valid_range": [-1e9, 1e9],
        "weights": "mlp.safetensors",
    }
    path = folder / "mlp.json"
    path.write_text(json.dumps(metadata))
    return path


FLOOR = textwrap.dedent(
    """
    import sys, json, numpy as np, rasterio, torch, rasterio.shutil
    scene, model_json, out = sys.argv[1:4]
    from eospec.models.registry import get_model
    model = get_model(model_json).module
    from eospec.sensors import ENMAP_DEFAULT_BANDS
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(scene) as src:
        data = src.read(list(ENMAP_DEFAULT_BANDS))
        profile = src.profile
    b, h, w = data.shape
    with torch.inference_mode():
        x = torch.from_numpy(data.reshape(b, -1)).float().mul_(1e-4)
        y = model.forward_band_major(x)[0].reshape(h, w).numpy()
    profile.update(count=1, dtype="float32", nodata=-9999, compress=None, predictor=1, interleave="pixel")
    with rasterio.open(out + ".stage.tif", "w", **profile) as dst:
        dst.write(y, 1)
    rasterio.shutil.copy(out + ".stage.tif", out, driver="COG", compress="DEFLATE", num_threads="ALL_CPUS")
    """
)

TORCHGEO = textwrap.dedent(
    """
    import sys, numpy as np
    import eospec  # registers the torchvision fallback where needed
    import rasterio, torch
    from torch.utils.data import DataLoader
    from torchgeo.datasets import EnMAP, stack_samples
    from torchgeo.samplers import GridGeoSampler
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles
    scene, model_json, out = sys.argv[1:4]
    from eospec.models.registry import get_model
    model = get_model(model_json).module
    dataset = EnMAP(paths=[scene.rsplit("/", 1)[0]])
    sampler = GridGeoSampler(dataset, size=256, stride=256)
    loader = DataLoader(dataset, sampler=sampler, batch_size=1, collate_fn=stack_samples)
    with rasterio.open(scene) as src:
        profile, transform, height, width = src.profile, src.transform, src.height, src.width
    result = np.full((height, width), -9999, dtype=np.float32)
    with torch.inference_mode():
        for batch in loader:
            image = batch["image"][0]
            bands, h, w = image.shape
            pixels = image.permute(1, 2, 0).reshape(-1, bands) * 1e-4
            y = model(pixels)[:, 0].reshape(h, w).numpy()
            bounds = batch["bounds"][0]
            x0 = bounds[0].start if isinstance(bounds, tuple) else bounds.minx
            y1 = bounds[1].stop if isinstance(bounds, tuple) else bounds.maxy
            col = int(round((x0 - transform.c) / transform.a))
            row = int(round((y1 - transform.f) / transform.e))
            r0, c0 = max(row, 0), max(col, 0)
            r1, c1 = min(row + h, height), min(col + w, width)
            result[r0:r1, c0:c1] = y[r0 - row : r1 - row, c0 - col : c1 - col]
    profile.update(count=1, dtype="float32", nodata=-9999, compress=None, predictor=1, interleave="pixel")
    with rasterio.open(out + ".stage.tif", "w", **profile) as dst:
        dst.write(result, 1)
    cog_translate(out + ".stage.tif", out, cog_profiles.get("deflate"), quiet=True)
    """
)


def run(command: list[str]) -> tuple[float, float, int]:
    """Run a process; return (seconds, peak RSS in MB, exit code)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.stderr.write(process.stderr.read().decode() if process.stderr else "")
    return seconds, usage.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status)


def in_subprocess(function: str, *args: str) -> Path:
    """Run make_scene/make_model in a child process so this process stays small.

    Children are forked from this process: whatever it holds would count in their peak RSS.
    """
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench_map; print(bench_map.{function}(*sys.argv[1:]))"
    )
    if function == "make_scene":
        code = code.replace("(*sys.argv[1:])", "(int(sys.argv[1]), bench_map.Path(sys.argv[2]))")
    else:
        code = code.replace("(*sys.argv[1:])", "(bench_map.Path(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, action="append", help="scene side in pixels (repeatable)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per method; the best is reported")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "eospec-bench")
    parser.add_argument("--skip-torchgeo", action="store_true")
    parser.add_argument("--model", help="bundled model name or model .json (default: a random 202-128-64-1 MLP)")
    args = parser.parse_args()
    sizes = args.size or [1024, 2048]
    model = args.model or in_subprocess("make_model", str(args.work / "model"))
    python = sys.executable
    eospec = (
        [python, "-m", "eospec.cli.main"]
        if not Path(python).with_name("eospec").exists()
        else [str(Path(python).with_name("eospec"))]
    )
    rows = []
    for size in sizes:
        scene = in_subprocess("make_scene", str(size), str(args.work / "scenes"))
        mb = scene.stat().st_size / 2**20
        out = args.work / f"out_{size}"
        out.mkdir(exist_ok=True)
        methods = {
            "floor (a)": [python, "-c", FLOOR, str(scene), str(model), str(out / "floor.tif")],
            "eospec map": [
                *eospec,
                "-q",
                "map",
                "--scene",
                str(scene),
                "--out",
                str(out / "eospec.tif"),
                "--model",
                str(model),
                "--overwrite",
                "--no-progress",
            ],
        }
        if not args.skip_torchgeo:
            methods["torchgeo (b)"] = [python, "-c", TORCHGEO, str(scene), str(model), str(out / "torchgeo.tif")]
        results: dict[str, tuple[float, float]] = {}
        for name, command in methods.items():
            best = (float("inf"), 0.0)
            for _ in range(args.repeat):
                for leftover in out.glob("*.tif"):
                    if name.split()[0] in leftover.name:
                        leftover.unlink()
                seconds, rss, code = run(command)
                if code != 0:
                    raise SystemExit(f"{name} failed with exit code {code}")
                best = min(best, (seconds, rss))
            results[name] = best
            print(f"{size:>5} px  {name:<14} {best[0]:6.2f} s  {best[1]:7.0f} MB peak", flush=True)
        floor = results["floor (a)"][0]
        ours = results["eospec map"][0]
        line = {
            "size": size,
            "scene_mb": round(mb, 1),
            **{k: {"s": round(v[0], 2), "peak_mb": round(v[1])} for k, v in results.items()},
            "eospec/floor": round(ours / floor, 2),
        }
        if "torchgeo (b)" in results:
            line["torchgeo/eospec"] = round(results["torchgeo (b)"][0] / ours, 2)
        rows.append(line)
        print(
            f"{size:>5} px  eospec/floor = {ours / floor:.2f} (target <= 1.3)"
            + (
                f"; torchgeo/eospec = {results['torchgeo (b)'][0] / ours:.2f} (target >= 3)"
                if "torchgeo (b)" in results
                else ""
            )
            + f"; eospec peak {results['eospec map'][1]:.0f} MB (target < 750)",
            flush=True,
        )
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

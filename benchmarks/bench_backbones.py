"""Training-step throughput of the SpectralEarth encoders at 128 x 128 x 202 (samples/s).

One step = forward of a batch of 128 x 128 patches with the 202 EnMAP bands through the encoder
(spectral adapter + backbone, pooled features), a linear head and a cross-entropy loss, backward,
and an AdamW update, as in supervised fine-tuning or one branch of MoCo. The batch is random
(speed does not depend on the values). Reported: median seconds per step over ``--steps`` timed
steps after ``--warmup`` steps, samples/s, peak memory (GPU) and parameter counts.

Usage::

    nice -n 19 python benchmarks/bench_backbones.py --device cpu --threads 2 --batch 2
    python benchmarks/bench_backbones.py --device cuda --batch 32 [--amp]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import eospec  # noqa: E402,F401  (torchvision fallback before timm)

MODELS = ("spec_resnet50", "spec_vit_small", "spec_vit_base")


def bench(name: str, device: str, batch: int, steps: int, warmup: int, amp: bool, size: int) -> dict[str, float]:
    import torch

    from eospec.models.backbones import count_parameters
    from eospec.models.foundation import get_foundation_model

    torch.manual_seed(0)
    encoder = get_foundation_model(name, img_size=size) if "vit" in name else get_foundation_model(name)
    head = torch.nn.Linear(encoder.num_features, 10)
    model = torch.nn.Sequential(encoder, head).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 202, size, size, device=device) * 0.4
    y = torch.randint(0, 10, (batch,), device=device)
    times = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(warmup + steps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    result = {
        "s_per_step": seconds,
        "samples_per_s": batch / seconds,
        "params_m": count_parameters(encoder) / 1e6,
        "adapter_params_k": count_parameters(encoder.spectral_adapter) / 1e3,
    }
    if device == "cuda":
        result["peak_gb"] = torch.cuda.max_memory_allocated() / 1e9
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {args.threads} threads"
    print(f"# {where}; batch {args.batch}; {args.size} x {args.size} x 202; amp={args.amp}")
    print(
        "| model | params (M) | s / step | samples / s |" + (" peak GPU memory (GB) |" if args.device == "cuda" else "")
    )
    print("| --- | --- | --- | --- |" + (" --- |" if args.device == "cuda" else ""))
    for name in args.models:
        r = bench(name, args.device, args.batch, args.steps, args.warmup, args.amp, args.size)
        line = f"| {name} | {r['params_m']:.1f} | {r['s_per_step']:.2f} | {r['samples_per_s']:.2f} |"
        if args.device == "cuda":
            line += f" {r['peak_gb']:.1f} |"
        print(line, flush=True)


if __name__ == "__main__":
    main()

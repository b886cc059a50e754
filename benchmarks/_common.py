"""Plumbing shared by the sampler benchmarks: a method runs in a fresh child process, best of N rounds.

The benchmark script re-runs itself with ``--child MODE ...``; the child prints one JSON line of
figures (at least ``seconds``) as its last line of output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run_child(script: str | Path, *args: str) -> dict[str, float]:
    """Run ``python SCRIPT --child ARGS...`` and return the JSON dict printed on its last line."""
    done = subprocess.run(
        [sys.executable, str(Path(script).resolve()), "--child", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def best_of(script: str | Path, methods: dict[str, list[str]], repeat: int) -> dict[str, dict[str, float]]:
    """Run every method ``repeat`` times, interleaved, and keep each method's fastest run.

    The methods take turns round by round, so that slow periods of a shared machine hit every method.
    Returns the result of the run with the fewest ``seconds`` per method name, in ``methods`` order.
    """
    results: dict[str, dict[str, float]] = {}
    for _ in range(repeat):
        for name, command in methods.items():
            result = run_child(script, *command)
            best = results.get(name)
            if best is None or result["seconds"] < best["seconds"]:
                results[name] = result
    return results

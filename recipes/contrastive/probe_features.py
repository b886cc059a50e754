#!/usr/bin/env python
r"""How much of the targets the features of a contrastive-regression extractor hold, by a ridge probe.

A diagnostic for two-stage training (``ContrastiveRegressionTask(pretrain_epochs=...)``): ridge
regression (scikit-learn's ``RidgeCV``, penalty chosen by efficient leave-one-out cross-validation
on the training spectra) is fitted on the D features of an extractor and scored on the held-out
spectra. The score measures the information that a representation holds linearly, independent of
how well the small regression head of the task trains. The reference is ridge regression on the
spectra themselves. For every seed of the config the extractors are:

- ``random``: randomly initialised, not trained;
- ``baseline``: trained with the regression loss alone (``train.max_epochs`` epochs, alpha 0);
- one per ``--pretrain NAME=KEY:VALUE,...`` option: pretrained with the contrastive loss alone for
  ``--pretrain-epochs`` epochs (the first stage of two-stage training, no head).

The ridge probe is the linear evaluation of Rank-N-Contrast (Zha et al. 2023, NeurIPS, Sec. 4).

Usage::

    python recipes/contrastive/probe_features.py --config recipes/contrastive/synthetic.yaml \
        --set data.snr_db=10 --pretrain rnc=loss_form:rnc,temperature:2 \
        --pretrain infonce=loss_form:infonce,temperature:0.1,radius:0.1 --out probe.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import run_study  # noqa: E402  (imports eospec first: the torchvision fallback)

log = logging.getLogger("probe_features")

#: Ridge penalties tried by ``RidgeCV`` (features and spectra are not standardised).
RIDGE_ALPHAS = np.logspace(-6, 3, 19)


def parse_pretraining(option: str) -> tuple[str, dict[str, Any]]:
    """Read ``NAME=KEY:VALUE,...`` into ``(NAME, {KEY: VALUE})`` (values read as YAML, then as float).

    Raises:
        ValueError: If the option is not of that form.
    """
    name, sep, raw = option.partition("=")
    items = [item.partition(":") for item in raw.split(",")] if raw else []
    if not sep or not name or not items or any(not key or not colon for key, colon, _ in items):
        raise ValueError(
            f"--pretrain {option!r} is invalid: write NAME=KEY:VALUE,..., e.g. rnc=loss_form:rnc,temperature:2"
        )
    return name, {key: run_study.read_value(text) for key, _, text in items}


def ridge_probe(
    train_features: np.ndarray, train_targets: np.ndarray, test_features: np.ndarray, test_targets: np.ndarray
) -> float:
    """Test R2 (averaged over the targets) of ``RidgeCV`` fitted on the training features (N, D)."""
    from sklearn.linear_model import RidgeCV

    model = RidgeCV(alphas=RIDGE_ALPHAS).fit(train_features.astype(np.float64), train_targets)
    return run_study.r2_mae(test_targets, model.predict(test_features.astype(np.float64)))[0]


def probe_task(task: Any, split: run_study.Split) -> dict[str, float]:
    """Ridge-probe R2, mean feature norm and fraction of dead features (zero on every training spectrum)."""
    import torch

    with torch.no_grad():
        train_features = task.model.embed(torch.from_numpy(split.train[0])).numpy()
        test_features = task.model.embed(torch.from_numpy(split.test[0])).numpy()
    return {
        "probe_R2": ridge_probe(train_features, split.train[1], test_features, split.test[1]),
        "feature_norm": float(np.linalg.norm(train_features, axis=1).mean()),
        "dead_features": float((np.abs(train_features).max(axis=0) == 0).mean()),
    }


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="YAML study config (synthetic.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="as run_study.py --set")
    parser.add_argument(
        "--pretrain",
        action="append",
        default=[],
        metavar="NAME=KEY:VALUE,...",
        help="a contrastive pretraining to probe, as task settings, e.g. rnc=loss_form:rnc,temperature:2",
    )
    parser.add_argument("--pretrain-epochs", type=int, default=100, help="epochs of contrastive pretraining")
    parser.add_argument("--seeds", type=int, help="use seeds 0..N-1 instead of the config's")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, help="write the per-seed figures as JSON here")
    args = parser.parse_args(argv)
    run_study.quiet_training(args.threads)
    config = yaml.safe_load(args.config.read_text())
    try:
        for assignment in args.set:
            run_study.set_value(config, assignment)
        pretrainings = dict(parse_pretraining(option) for option in args.pretrain)
    except ValueError as error:
        parser.error(str(error))
    if config["study"] != "synthetic":
        parser.error(f"study {config['study']!r}: the probe runs on the synthetic study only")
    if args.pretrain_epochs < 1:
        parser.error(f"--pretrain-epochs {args.pretrain_epochs} is invalid: use at least 1")
    seeds = list(range(args.seeds)) if args.seeds else list(config["seeds"])
    train = dict(config["train"])
    extractors: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "random": ({"alpha": 0.0}, train | {"max_epochs": 0}),
        "baseline": ({"alpha": 0.0}, train),
    }
    for name, settings in pretrainings.items():
        extractors[name] = (settings | {"pretrain_epochs": args.pretrain_epochs}, train | {"max_epochs": 0})
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for split in run_study.synthetic_splits(config["data"], seeds):
        spectra_r2 = ridge_probe(split.train[0], split.train[1], split.test[0], split.test[1])
        rows.append({"seed": split.seed, "extractor": "spectra (no extractor)", "probe_R2": spectra_r2})
        for name, (settings, stage) in extractors.items():
            task_kwargs = dict(config["task"]) | settings
            task = run_study.fit_task(split, task_kwargs, stage)[0]
            rows.append({"seed": split.seed, "extractor": name, "task": task_kwargs} | probe_task(task, split))
            log.info("seed %d %-24s probe R2 %.3f", split.seed, name, rows[-1]["probe_R2"])
    print("| extractor | ridge-probe test R2 | mean feature norm | dead features |")
    print("| --- | --- | --- | --- |")
    for name in dict.fromkeys(row["extractor"] for row in rows):
        mine = [row for row in rows if row["extractor"] == name]
        r2 = np.array([row["probe_R2"] for row in mine])
        spread = r2.std(ddof=1) if r2.size > 1 else 0.0
        norm, dead = "-", "-"  # the spectra themselves have no features
        if "feature_norm" in mine[0]:
            norm = f"{np.mean([row['feature_norm'] for row in mine]):.2f}"
            dead = f"{np.mean([row['dead_features'] for row in mine]):.2f}"
        print(f"| {name} | {r2.mean():.3f} +/- {spread:.3f} | {norm} | {dead} |")
    seconds = time.perf_counter() - start
    print(f"\n{len(seeds)} seeds, {seconds:.0f} s")
    if args.out is not None:
        record = {"config": str(args.config), "overrides": args.set, "seeds": seeds, "seconds": seconds, "rows": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

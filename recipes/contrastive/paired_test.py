#!/usr/bin/env python
r"""Paired tests of a variant against the baseline over the seeds of finished studies.

The analysis of follow-up 9 of ``docs/contrastive-followups.md``. The spread test of the earlier follow-ups
(gain of the mean larger than the seed-to-seed standard deviation) cannot resolve a gain smaller
than that spread however many seeds are run. This script pairs the runs by seed instead: for each
study (one result JSON of ``run_study.py``) and seed s it takes

.. math:: d_s = R^2_\text{variant}(s) - R^2_\text{baseline}(s)

(soil folds pooled within a seed, as ``run_study.py`` records them) and reports, per study, the
mean of :math:`d`, its 95 % confidence interval (Student t), the one-sided paired t-test
(H1: mean > 0) with Holm's (1979) step-down correction over the studies, and the one-sided Wilcoxon
signed-rank test. The pooled row tests the per-seed mean of :math:`d` over the studies, on the
seeds present in all of them; it is the primary test of follow-up 9. With ``--variant`` given
several times (follow-up 10), Holm's correction runs over every (variant, study) row.

Usage::

    python recipes/contrastive/paired_test.py --variant nearest_neighbour_averaging \
        recipes/contrastive/results/soil_paired_seeds_*.json
    python recipes/contrastive/paired_test.py --variant "spectral_flip [alpha=0.001, radius=0.01]" \
        --variant "no_augmentation [alpha=0.01, radius=0.01]" recipes/contrastive/results/similar_paired_seeds.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from run_study import spread_test  # noqa: E402  (the spread test of every study table)


def seed_scores(record: Mapping[str, Any], variant: str, metric: str = "test_R2") -> dict[int, float]:
    """The per-seed score of one variant of a finished study.

    Args:
        record: a result JSON of ``run_study.py``, loaded (``results``: a list of
            ``{"variant": name, "runs": [{"seed": int, metric: float, ...}, ...]}``).
        variant: the variant's name.
        metric: the per-seed score, e.g. ``"test_R2"``.

    Returns:
        ``{seed: score}``.

    Raises:
        ValueError: If the study has no finished variant of that name, or its runs lack ``metric``.
    """
    names = [result["variant"] for result in record.get("results", [])]
    if variant not in names:
        raise ValueError(f"variant {variant!r} is not in the study: use one of {names}")
    runs = record["results"][names.index(variant)]["runs"]
    if any(metric not in run for run in runs):
        raise ValueError(f"the runs of {variant!r} have no {metric!r}: use one of {sorted(runs[0])}")
    return {int(run["seed"]): float(run[metric]) for run in runs}


def paired_differences(
    record: Mapping[str, Any], variant: str, baseline: str = "baseline", metric: str = "test_R2"
) -> dict[int, float]:
    """Per-seed difference of a variant's score minus the baseline's, over the seeds both have.

    Args:
        record: a loaded result JSON of ``run_study.py``.
        variant: the variant's name.
        baseline: the reference variant's name.
        metric: the per-seed score.

    Returns:
        ``{seed: score(variant) - score(baseline)}`` for the seeds of both, in seed order.

    Raises:
        ValueError: If either variant is missing, or they share no seed.
    """
    ours, reference = seed_scores(record, variant, metric), seed_scores(record, baseline, metric)
    common = sorted(set(ours) & set(reference))
    if not common:
        raise ValueError(
            f"{variant!r} (seeds {sorted(ours)}) and {baseline!r} (seeds {sorted(reference)}) share no seed: "
            "run both with the same seeds"
        )
    return {seed: ours[seed] - reference[seed] for seed in common}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979, Scand. J. Statist. 6, 65-70).

    Args:
        p_values: m raw p-values in [0, 1].

    Returns:
        The m adjusted p-values, in the input order: the k-th smallest raw p-value times (m - k + 1),
        made non-decreasing in that order and capped at 1. Rejecting where the adjusted value is
        below alpha controls the family-wise error rate at alpha.

    Raises:
        ValueError: If a p-value is outside [0, 1].
    """
    values = np.asarray(p_values, dtype=np.float64)
    if ((values < 0) | (values > 1) | np.isnan(values)).any():
        raise ValueError(f"p-values {values.tolist()} are invalid: each must be in [0, 1]")
    order = np.argsort(values)
    m = len(values)
    stepped = np.maximum.accumulate(values[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


def paired_summary(differences: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean, interval and one-sided tests of paired differences.

    Args:
        differences: n >= 2 paired differences d (variant minus baseline), float.
        confidence: level of the two-sided Student-t interval of the mean.

    Returns:
        ``n``, ``mean``, ``std`` (ddof 1), ``low`` and ``high`` (the interval), ``better`` (count of
        d > 0), ``p_t`` (one-sided one-sample t-test of mean d > 0, i.e. the paired t-test) and
        ``p_wilcoxon`` (one-sided Wilcoxon signed-rank test, zeros dropped; NaN if all d are 0).

    Raises:
        ValueError: If fewer than 2 differences are given or one is not finite.
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or d.size < 2 or not np.isfinite(d).all():
        raise ValueError(f"differences {d.tolist()} are invalid: give 2 or more finite paired differences")
    test = stats.ttest_1samp(d, 0.0, alternative="greater")
    low, high = stats.ttest_1samp(d, 0.0).confidence_interval(confidence_level=confidence)
    wilcoxon = stats.wilcoxon(d, alternative="greater").pvalue if (d != 0).any() else float("nan")
    return {
        "n": float(d.size),
        "mean": float(d.mean()),
        "std": float(d.std(ddof=1)),
        "low": float(low),
        "high": float(high),
        "better": float((d > 0).sum()),
        "p_t": float(test.pvalue),
        "p_wilcoxon": float(wilcoxon),
    }


def pooled_differences(per_study: Mapping[str, Mapping[int, float]]) -> dict[int, float]:
    """Per-seed mean of the paired differences over studies, on the seeds present in every study.

    Args:
        per_study: ``{study: {seed: d}}``.

    Returns:
        ``{seed: mean over studies of d}``.

    Raises:
        ValueError: If no study is given or the studies share no seed.
    """
    if not per_study:
        raise ValueError("no studies given: pass one or more result JSONs")
    common = sorted(set.intersection(*(set(differences) for differences in per_study.values())))
    if not common:
        seeds = {name: sorted(differences) for name, differences in per_study.items()}
        raise ValueError(f"the studies share no seed ({seeds}): run them with the same seeds")
    return {seed: float(np.mean([differences[seed] for differences in per_study.values()])) for seed in common}


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="result JSONs of run_study.py (one per data set)")
    parser.add_argument(
        "--variant", required=True, action="append", help="a variant tested (repeatable: Holm over all their rows)"
    )
    parser.add_argument("--baseline", default="baseline", help="the reference variant (default: baseline)")
    parser.add_argument("--metric", default="test_R2", help="the per-seed score (default: test_R2)")
    args = parser.parse_args(argv)
    records: dict[str, dict[str, Any]] = {}
    paths = {path.stem: path for path in args.results}
    for path in args.results:
        if path.stem in records:
            parser.error(f"two results are named {path.stem!r}: rename one, the tables tell studies apart by file name")
        if not path.is_file():
            parser.error(f"result {str(path)!r} does not exist: give a result JSON written by run_study.py --out")
        try:
            records[path.stem] = json.loads(path.read_text())
        except ValueError as error:
            parser.error(f"{path} is not JSON ({error}): give a result JSON written by run_study.py --out")
    per_variant: dict[str, dict[str, dict[int, float]]] = {}
    for variant in args.variant:
        per_study: dict[str, dict[int, float]] = {}
        for name, record in records.items():
            try:
                per_study[name] = paired_differences(record, variant, args.baseline, args.metric)
            except (ValueError, KeyError, TypeError) as error:
                parser.error(f"{paths[name]}: {error}")
        per_variant[variant] = per_study
    summaries = {
        (variant, name): paired_summary(list(d.values()))
        for variant, per_study in per_variant.items()
        for name, d in per_study.items()
        if len(d) > 1
    }
    if not summaries:
        parser.error("every study has a single shared seed: a paired test needs 2 or more")
    adjusted = dict(zip(summaries, holm([s["p_t"] for s in summaries.values()]), strict=True))
    for variant, per_study in per_variant.items():
        print(f"{variant} minus {args.baseline}, {args.metric} paired by seed (Holm over {len(summaries)} tests)\n")
        print(
            "| study | seeds | mean gain [95 % CI] | std | seeds better | p (t, one-sided) | p Holm | "
            "p (Wilcoxon) | spread | gain > spread |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for (tested, name), s in summaries.items():
            if tested != variant:
                continue
            spread, passes = spread_test(
                list(seed_scores(records[name], variant, args.metric).values()),
                list(seed_scores(records[name], args.baseline, args.metric).values()),
            )
            print(
                f"| {name} | {int(s['n'])} | {s['mean']:+.4f} [{s['low']:+.4f}, {s['high']:+.4f}] | {s['std']:.4f} | "
                f"{int(s['better'])}/{int(s['n'])} | {s['p_t']:.4f} | {adjusted[(variant, name)]:.4f} | "
                f"{s['p_wilcoxon']:.4f} | {spread:.4f} | {'yes' if passes else 'no'} |"
            )
        if len(per_study) > 1:
            try:
                pooled = pooled_differences(per_study)
            except ValueError as error:
                parser.error(str(error))
            if len(pooled) > 1:
                s = paired_summary(list(pooled.values()))
                print(
                    f"| pooled (per-seed mean over {len(per_study)} studies) | {int(s['n'])} | "
                    f"{s['mean']:+.4f} [{s['low']:+.4f}, {s['high']:+.4f}] | {s['std']:.4f} | "
                    f"{int(s['better'])}/{int(s['n'])} | {s['p_t']:.4f} | | {s['p_wilcoxon']:.4f} | | |"
                )
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Paired tests of a variant against the baseline over seeds (recipes/contrastive/paired_test.py)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy import stats


@pytest.fixture
def paired(contrastive_recipe) -> ModuleType:
    return contrastive_recipe("paired_test")


def study(scores: dict[str, dict[int, float]]) -> dict[str, Any]:
    """A result record of run_study.py with the given per-seed test R2 of each variant."""
    return {
        "results": [
            {"variant": name, "runs": [{"seed": seed, "test_R2": r2, "test_MAE": 0.1} for seed, r2 in runs.items()]}
            for name, runs in scores.items()
        ]
    }


def test_paired_summary_matches_the_textbook_formulas(paired):
    d = np.array([0.012, -0.004, 0.020, 0.007, 0.001, 0.015, -0.002, 0.009])
    n, mean, sd = d.size, d.mean(), d.std(ddof=1)
    t = mean / (sd / np.sqrt(n))
    half_width = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    summary = paired.paired_summary(d)
    assert summary["n"] == n and summary["better"] == 6
    assert summary["mean"] == pytest.approx(mean) and summary["std"] == pytest.approx(sd)
    assert summary["p_t"] == pytest.approx(stats.t.sf(t, n - 1), rel=1e-10)
    assert (summary["low"], summary["high"]) == pytest.approx((mean - half_width, mean + half_width), rel=1e-10)


def test_wilcoxon_p_value_matches_an_exact_enumeration_of_signs(paired):
    d = np.array([0.031, -0.012, 0.005, 0.022, -0.003, 0.017])
    ranks = stats.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    # under H0 every sign pattern of the ranks is equally likely: P(W+ >= observed)
    totals = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in itertools.product([0, 1], repeat=6)]
    exact = np.mean(np.array(totals) >= observed)
    assert paired.paired_summary(d)["p_wilcoxon"] == pytest.approx(exact)


def test_paired_summary_of_all_positive_differences_is_significant_and_of_none_is_not(paired):
    assert paired.paired_summary([0.01, 0.02, 0.015, 0.011, 0.013])["p_t"] < 0.001
    assert paired.paired_summary([-0.01, -0.02, -0.015, -0.011, -0.013])["p_t"] > 0.999
    assert np.isnan(paired.paired_summary([0.0, 0.0, 0.0])["p_wilcoxon"])


def test_paired_summary_rejects_too_few_or_non_finite_differences(paired):
    with pytest.raises(ValueError, match=r"differences \[0.1\] are invalid: give 2 or more finite"):
        paired.paired_summary([0.1])
    with pytest.raises(ValueError, match="differences .*nan.* are invalid"):
        paired.paired_summary([0.1, float("nan")])


def test_holm_adjusts_step_down_in_input_order(paired):
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> running maximum 0.03, 0.06, 0.06
    assert paired.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert paired.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert paired.holm([0.2]) == pytest.approx([0.2])
    with pytest.raises(ValueError, match=r"p-values \[0.1, 1.5\] are invalid: each must be in \[0, 1\]"):
        paired.holm([0.1, 1.5])


def test_paired_differences_pair_by_seed_on_the_shared_seeds(paired):
    record = study({"baseline": {0: 0.50, 1: 0.60, 2: 0.55}, "shift": {2: 0.58, 1: 0.59, 3: 0.9}})
    assert paired.paired_differences(record, "shift") == pytest.approx({1: -0.01, 2: 0.03})
    with pytest.raises(ValueError, match=r"variant 'flip' is not in the study: use one of \['baseline', 'shift'\]"):
        paired.paired_differences(record, "flip")
    with pytest.raises(ValueError, match="have no 'val_R2'"):
        paired.paired_differences(record, "shift", metric="val_R2")
    disjoint = study({"baseline": {0: 0.5}, "shift": {1: 0.6}})
    with pytest.raises(ValueError, match=r"'shift' \(seeds \[1\]\) and 'baseline' \(seeds \[0\]\) share no seed"):
        paired.paired_differences(disjoint, "shift")


def test_pooled_differences_average_over_studies_on_common_seeds(paired):
    pooled = paired.pooled_differences({"a": {0: 0.01, 1: 0.03, 2: 0.0}, "b": {1: -0.01, 2: 0.02, 5: 0.4}})
    assert pooled == pytest.approx({1: 0.01, 2: 0.01})
    with pytest.raises(ValueError, match="share no seed"):
        paired.pooled_differences({"a": {0: 0.1}, "b": {1: 0.1}})
    with pytest.raises(ValueError, match="no studies given"):
        paired.pooled_differences({})


def test_spread_test_compares_the_gain_with_the_larger_standard_deviation(paired):
    baseline = [0.50, 0.52, 0.54]  # std 0.02
    assert paired.spread_test([0.53, 0.55, 0.57], baseline) == (pytest.approx(0.02), True)
    # gain 0.02, but the variant's spread is 0.04
    assert paired.spread_test([0.50, 0.54, 0.58], baseline) == (pytest.approx(0.04), False)
    # a single seed has no spread: any gain passes
    assert paired.spread_test([0.51], [0.50]) == (0.0, True)


def write(path: Path, record: dict[str, Any]) -> Path:
    path.write_text(json.dumps(record))
    return path


def test_cli_prints_a_row_per_study_and_the_pooled_test(paired, tmp_path, capsys):
    generator = np.random.default_rng(3)
    files = []
    for name in ("ssp", "dats"):
        base = {seed: 0.5 + 0.02 * generator.normal() for seed in range(6)}
        # gains 0.0075-0.0125, mean 0.01
        variant = {seed: r2 + 0.01 + 0.001 * (seed - 2.5) for seed, r2 in base.items()}
        files.append(write(tmp_path / f"{name}.json", study({"baseline": base, "nn": variant})))
    assert paired.main(["--variant", "nn", *map(str, files)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ssp") or line.startswith("| dats")]
    half_width = stats.t.ppf(0.975, 5) * np.std(0.001 * (np.arange(6) - 2.5), ddof=1) / np.sqrt(6)
    interval = f"+0.0100 [{0.01 - half_width:+.4f}, {0.01 + half_width:+.4f}]"
    assert len(rows) == 2 and all(interval in row and "6/6" in row for row in rows)
    assert "| pooled (per-seed mean over 2 studies) | 6 | +0.0100" in out


def test_cli_with_two_variants_corrects_over_every_variant_and_study(paired, tmp_path, capsys):
    generator = np.random.default_rng(5)
    files, raw = [], []
    for name in ("a", "b"):
        base = {seed: 0.5 + 0.02 * generator.normal() for seed in range(8)}
        gains = {"nn": 0.004 * generator.normal(size=8) + 0.002, "flip": 0.004 * generator.normal(size=8)}
        scores = {"baseline": base} | {v: {s: base[s] + g[s] for s in base} for v, g in gains.items()}
        files.append(write(tmp_path / f"{name}.json", study(scores)))
        for variant, gain in gains.items():
            raw.append((variant, name, stats.ttest_1samp(gain, 0.0, alternative="greater").pvalue))
    assert paired.main(["--variant", "nn", "--variant", "flip", *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert out.count("(Holm over 4 tests)") == 2
    # the four raw p-values, Holm-adjusted by hand
    ordered = sorted(raw, key=lambda item: item[2])
    running, expected = 0.0, {}
    for k, (variant, name, p) in enumerate(ordered):
        running = max(running, min(1.0, (4 - k) * p))
        expected[(variant, name)] = running
    blocks = dict(zip(("nn", "flip"), out.split("minus baseline")[1:], strict=True))
    for (variant, name), adjusted in expected.items():
        row = next(line for line in blocks[variant].splitlines() if line.startswith(f"| {name} |"))
        assert row.split("|")[7].strip() == f"{adjusted:.4f}"


def test_cli_errors_name_the_bad_value_and_exit_2(paired, tmp_path, capsys):
    with pytest.raises(SystemExit) as missing:
        paired.main(["--variant", "nn", str(tmp_path / "absent.json")])
    assert missing.value.code == 2
    assert "absent.json' does not exist: give a result JSON written by run_study.py --out" in capsys.readouterr().err
    one_seed = write(tmp_path / "one.json", study({"baseline": {0: 0.5}, "nn": {0: 0.6}}))
    with pytest.raises(SystemExit) as single:
        paired.main(["--variant", "nn", str(one_seed)])
    assert single.value.code == 2
    assert "a paired test needs 2 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit) as unknown:
        paired.main(["--variant", "flip", str(one_seed)])
    assert unknown.value.code == 2
    assert "variant 'flip' is not in the study" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    same_name = write(tmp_path / "other" / "one.json", study({"baseline": {0: 0.5}, "nn": {0: 0.6}}))
    with pytest.raises(SystemExit) as twice:
        paired.main(["--variant", "nn", str(one_seed), str(same_name)])
    assert twice.value.code == 2
    assert "two results are named 'one': rename one" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SystemExit) as malformed:
        paired.main(["--variant", "nn", str(broken)])
    assert malformed.value.code == 2 and "broken.json is not JSON" in capsys.readouterr().err

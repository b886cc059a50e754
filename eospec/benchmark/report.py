"""Benchmark tables and plot: CSV, Markdown and PNG from the run records.

* ``results.csv``: one row per run (dataset, encoder, protocol, seed, each metric, seconds, ...);
* ``summary.csv``: one row per dataset x encoder x protocol: mean and sample standard deviation
  (ddof = 1; 0 for a single seed) of each metric over the seeds, and the number of seeds;
* ``results.md``: the summary as a Markdown table, ``mean +/- std`` per metric;
* ``results.png``: a bar chart of the main metric per dataset (mIoU for segmentation, mAP for
  multi-label), one bar per encoder and protocol, with +/- one standard deviation.

Every file is written to a temporary name and moved into place when complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MAIN_METRIC", "METRIC_ORDER", "summarise", "write_reports"]

#: The metric plotted per task.
MAIN_METRIC: dict[str, str] = {"segmentation": "mIoU", "multilabel": "mAP"}
#: Column order of the metrics.
METRIC_ORDER: tuple[str, ...] = ("OA", "F1", "mIoU", "mAP", "F1_micro", "F1_macro")
_KEYS = ["dataset", "encoder", "protocol"]


def _records_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for record in records:
        row = {key: record[key] for key in ("dataset", "task", "encoder", "protocol", "seed")}
        row.update(record.get("metrics", {}))
        row["seconds"] = record.get("seconds")
        row["trainable_parameters"] = record.get("trainable_parameters")
        row["band_method"] = record.get("band_method")
        rows.append(row)
    frame = pd.DataFrame(rows)
    metrics = [name for name in METRIC_ORDER if name in frame.columns]
    others = [
        c for c in frame.columns if c not in metrics and c not in ("dataset", "task", "encoder", "protocol", "seed")
    ]
    return frame[["dataset", "task", "encoder", "protocol", "seed", *metrics, *others]] if rows else frame


def summarise(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each metric.

    Args:
        records: run records (:func:`eospec.benchmark.runner.run_one`).

    Returns:
        One row per dataset x encoder x protocol (in first-seen order) with ``task``, ``seeds``,
        ``<metric>_mean`` and ``<metric>_std`` (sample std, ddof = 1; 0 with one seed) and
        ``seconds_mean``.
    """
    frame = _records_frame(records)
    if frame.empty:
        return frame
    metrics = [name for name in METRIC_ORDER if name in frame.columns]
    rows = []
    for keys, group in frame.groupby(_KEYS, sort=False):
        row = dict(zip(_KEYS, keys, strict=True))
        row["task"] = group["task"].iloc[0]
        row["seeds"] = len(group)
        for name in metrics:
            values = group[name].dropna().to_numpy(dtype=np.float64)
            row[f"{name}_mean"] = float(values.mean()) if values.size else np.nan
            row[f"{name}_std"] = float(values.std(ddof=1)) if values.size > 1 else 0.0 if values.size else np.nan
        row["seconds_mean"] = float(group["seconds"].astype(float).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(summary: pd.DataFrame) -> str:
    metrics = [name for name in METRIC_ORDER if f"{name}_mean" in summary.columns]
    header = ["dataset", "encoder", "protocol", "seeds", *metrics, "time per run (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([" --- "] * 3 + [" ---: "] * (len(header) - 3)) + "|"]
    for _, row in summary.iterrows():
        cells = [str(row["dataset"]), str(row["encoder"]), str(row["protocol"]), str(int(row["seeds"]))]
        for name in metrics:
            mean, std = row[f"{name}_mean"], row[f"{name}_std"]
            cells.append("—" if pd.isna(mean) else f"{mean:.3f} ± {std:.3f}")
        cells.append(f"{row['seconds_mean']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        "Mean ± sample standard deviation over seeds, on each dataset's test split. OA: overall accuracy; "
        "F1: macro F1; mIoU: mean intersection over union; mAP: macro average precision (multi-label); "
        "F1_micro / F1_macro: multi-label F1 at a 0.5 threshold.",
    ]
    return "\n".join(lines + notes) + "\n"


def _plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(summary["dataset"]))
    combos = list(dict.fromkeys(zip(summary["encoder"], summary["protocol"], strict=True)))
    width = 0.8 / max(len(combos), 1)
    figure, axis = plt.subplots(figsize=(max(5.0, 0.35 * len(datasets) * len(combos) + 2.0), 4.0))
    colours = plt.get_cmap("tab10")
    for j, (encoder, protocol) in enumerate(combos):
        means, stds, positions = [], [], []
        for i, dataset in enumerate(datasets):
            match = summary[
                (summary["dataset"] == dataset) & (summary["encoder"] == encoder) & (summary["protocol"] == protocol)
            ]
            if match.empty:
                continue
            row = match.iloc[0]
            metric = MAIN_METRIC[str(row["task"])]
            means.append(row[f"{metric}_mean"])
            stds.append(row[f"{metric}_std"])
            positions.append(i - 0.4 + width * (j + 0.5))
        label = encoder if protocol == "pixel" else f"{encoder} ({protocol})"
        axis.bar(positions, means, width, yerr=stds, capsize=3, label=label, color=colours(j % 10))
    axis.set_xticks(range(len(datasets)))
    axis.set_xticklabels(datasets, rotation=20, ha="right")
    metrics = sorted({MAIN_METRIC[str(task)] for task in summary["task"]})
    axis.set_ylabel(" / ".join(metrics) + " on the test split")
    seeds = sorted({int(n) for n in summary["seeds"]})
    axis.set_title(f"mean ± std over {'/'.join(map(str, seeds))} seed(s)", fontsize=9)
    axis.set_ylim(0, 1)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    _atomic(path, lambda target: figure.savefig(target, dpi=120, format="png", bbox_inches="tight"))
    plt.close(figure)


def _atomic(path: Path, write: Any) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_reports(records: Sequence[dict[str, Any]], out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``results.csv``, ``summary.csv``, ``results.md`` and ``results.png`` (module docstring).

    Args:
        records: run records.
        out: the results folder.

    Returns:
        The paths written, by kind (``"runs"``, ``"summary"``, ``"markdown"``, ``"plot"``); empty
        when there is no record.
    """
    out = Path(out)
    if not records:
        return {}
    frame = _records_frame(records)
    summary = summarise(records)
    paths = {
        "runs": out / "results.csv",
        "summary": out / "summary.csv",
        "markdown": out / "results.md",
        "plot": out / "results.png",
    }
    _atomic(paths["runs"], lambda target: frame.to_csv(target, index=False))
    _atomic(paths["summary"], lambda target: summary.to_csv(target, index=False))
    text = _markdown(summary)
    _atomic(paths["markdown"], lambda target: Path(target).write_text(text, encoding="utf-8"))
    _plot(summary, paths["plot"])
    return paths

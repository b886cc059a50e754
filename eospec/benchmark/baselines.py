"""Raw-spectra baselines: a classifier on each pixel's spectrum, no encoder, no spatial context.

* ``raw-rf``: scikit-learn's random forest (Breiman 2001; 200 trees, seeded);
* ``raw-logreg``: multinomial logistic regression on standardised spectra (L2, C = 1).

Segmentation datasets: the classifiers learn from the labelled valid pixels of the training split
(at most ``max_pixels``, drawn at random with the run's seed) and predict every labelled valid
test pixel. Multi-label datasets (EnMAP-CORINE): one sample per patch, its mean valid spectrum;
one binary classifier per class (random forest: multi-output; logistic regression:
one-vs-rest). The metrics are the same torchmetrics objects as the neural runs'
(:func:`eospec.trainers.finetune.classification_metrics`), so the numbers are comparable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from eospec.benchmark.datasets import IGNORE_INDEX, BenchmarkDataset
from eospec.trainers.finetune import classification_metrics

__all__ = ["pixel_table", "run_baseline"]


def pixel_table(
    dataset: BenchmarkDataset, *, max_pixels: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Spectra and targets of a split, one row per labelled valid pixel (segmentation) or patch.

    Args:
        dataset: a split of a benchmark dataset.
        max_pixels: keep at most this many rows (random, seeded), or None for all.
        seed: random seed of the subsample.

    Returns:
        ``(x, y)``: float32 (N, B) reflectance and int64 (N,) class ids (segmentation) or float32
        (N, K) 0/1 labels (multi-label: x is the patch's mean valid spectrum).
    """
    spectra: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for index in range(len(dataset)):
        sample = dataset[index]
        image = sample["image"].numpy()
        valid = sample["valid"].numpy()
        if dataset.task == "multilabel":
            if not valid.any():
                continue
            spectra.append(image[:, valid].mean(axis=1)[None])
            targets.append(sample["label"].numpy()[None])
        else:
            mask = sample["mask"].numpy()
            keep = valid & (mask != IGNORE_INDEX)
            spectra.append(image[:, keep].T)
            targets.append(mask[keep])
    bands = dataset.num_bands if not spectra else spectra[0].shape[1]
    x = np.concatenate(spectra).astype(np.float32) if spectra else np.zeros((0, bands), np.float32)
    y = np.concatenate(targets) if targets else np.zeros(0, np.int64)
    if max_pixels is not None and len(x) > max_pixels:
        rows = np.sort(np.random.default_rng(seed).choice(len(x), size=max_pixels, replace=False))
        x, y = x[rows], y[rows]
    return x, y


def _classifier(kind: str, multilabel: bool, seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "raw-rf":
        return RandomForestClassifier(n_estimators=200, n_jobs=n_jobs, random_state=seed)
    logistic = LogisticRegression(C=1.0, max_iter=2000)
    return make_pipeline(StandardScaler(), OneVsRestClassifier(logistic) if multilabel else logistic)


def _probabilities(model: Any, x: np.ndarray, n_classes: int, multilabel: bool) -> np.ndarray:
    """Class probabilities (N, K), placing the model's known classes in their columns."""
    if multilabel:
        raw = model.predict_proba(x)
        if isinstance(raw, list):  # random forest: one (N, 2) array per class
            columns = [
                p[:, 1] if p.shape[1] == 2 else np.full(len(x), float(c[0]))
                for p, c in zip(raw, model.classes_, strict=True)
            ]
            return np.stack(columns, axis=1)
        return np.asarray(raw)
    out = np.zeros((len(x), n_classes))
    out[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(x)
    return out


def run_baseline(
    kind: str,
    train: BenchmarkDataset,
    test: BenchmarkDataset,
    *,
    seed: int = 0,
    max_pixels: int | None = 20000,
    n_jobs: int = 1,
) -> dict[str, float]:
    """Fit a raw-spectra baseline on a training split and score it on a test split.

    Args:
        kind: ``"raw-rf"`` or ``"raw-logreg"``.
        train: the training split.
        test: the test split.
        seed: random seed (pixel subsample and forest).
        max_pixels: most training rows (None for all).
        n_jobs: random-forest worker threads.

    Returns:
        Test metrics by name (``OA``, ``F1``, ``mIoU``; or ``mAP``, ``F1_micro``, ``F1_macro``),
        plus ``train_rows`` and ``test_rows``.

    Raises:
        ValueError: If ``kind`` is unknown or the training split has no labelled pixel.
    """
    if kind not in ("raw-rf", "raw-logreg"):
        raise ValueError(f"baseline {kind!r} is unknown: use 'raw-rf' or 'raw-logreg'")
    multilabel = train.task == "multilabel"
    n_classes = train.num_classes()
    x_train, y_train = pixel_table(train, max_pixels=max_pixels, seed=seed)
    x_test, y_test = pixel_table(test)
    if len(x_train) == 0:
        raise ValueError(f"{train.title}: the training split has no labelled valid pixel")
    model = _classifier(kind, multilabel, seed, n_jobs)
    model.fit(x_train, y_train.astype(np.int64) if multilabel else y_train)
    metrics = classification_metrics(train.task, n_classes)
    if len(x_test):
        scores = torch.from_numpy(_probabilities(model, x_test, n_classes, multilabel)).float()
        target = torch.from_numpy(y_test.astype(np.int64))
        metrics.update(scores, target)
    values = {name: float(value) for name, value in metrics.compute().items()} if len(x_test) else {}
    return values | {"train_rows": float(len(x_train)), "test_rows": float(len(x_test))}

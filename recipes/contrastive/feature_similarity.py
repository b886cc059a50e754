#!/usr/bin/env python
r"""How alike the contrastive loss sees all spectra: cosine similarity of extractor features at initialisation.

A diagnostic for follow-up 8 of ``docs/contrastive-followups.md``. The regression contrastive loss of Dhaini
et al. (2024, Eq. 7-8) compares the cosine similarities :math:`\cos(z_i, z_j) / \tau` of the
extractor's features :math:`z = f(x)`. If every pair of spectra has nearly the same similarity,
positives (labels within the radius r) and negatives give nearly the same logits and the loss can
barely shape the features. For each config this prints the mean and standard deviation of
:math:`\cos(z_i, z_j)` over all pairs :math:`i \ne j` of the first split's training spectra, for a
randomly initialised extractor (one per seed) fed the raw spectra, and fed the spectra standardised
per band with the training statistics (``ContrastiveRegressionTask(standardise=True)``).

Usage::

    python recipes/contrastive/feature_similarity.py --config recipes/contrastive/synthetic.yaml \
        --config recipes/contrastive/soil.yaml --seeds 3
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.metrics.pairwise import cosine_similarity

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import run_study  # noqa: E402  (imports eospec first: the torchvision fallback)


def pairwise_cosine(features: np.ndarray) -> tuple[float, float]:
    r"""Mean and standard deviation of the cosine similarity over all pairs of distinct rows.

    Args:
        features: float array (N, D), N >= 2, no row of zeros.

    Returns:
        ``(mean, std)`` of :math:`z_i \cdot z_j / (|z_i| |z_j|)` over the N (N - 1) ordered pairs i != j.

    Raises:
        ValueError: If ``features`` is not 2-D with at least 2 rows, or a row has norm 0.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features of shape {features.shape} are invalid: give an (N, D) array with N >= 2")
    norms = np.linalg.norm(features, axis=1)
    if not (norms > 0).all():
        raise ValueError(f"{int((norms == 0).sum())} feature vectors are zero: their cosine similarity is undefined")
    similarity = cosine_similarity(features)
    off_diagonal = similarity[~np.eye(len(similarity), dtype=bool)]
    return float(off_diagonal.mean()), float(off_diagonal.std())


def initial_similarity(spectra: np.ndarray, seed: int, standardise: bool, model: str = "fc") -> tuple[float, float]:
    """:func:`pairwise_cosine` of the features of a randomly initialised extractor.

    Args:
        spectra: float32 array (N, B), the training spectra.
        seed: seed of the initialisation (``torch.manual_seed``).
        standardise: standardise every band with the mean and standard deviation of ``spectra`` first.
        model: the feature extractor (``"fc"``, the paper's 128-64-32, or ``"cnn1d"``).

    Returns:
        ``(mean, std)`` of the cosine similarity of the extractor's features (the features the
        contrastive loss compares).
    """
    import torch

    from eospec.trainers import ContrastiveRegressionTask

    torch.manual_seed(seed)
    task = ContrastiveRegressionTask(model=model, in_bands=spectra.shape[1], num_outputs=1)
    if standardise:
        task.model.fit_input_standardisation(spectra)
    task.eval()
    with torch.no_grad():
        features = task.model.embed(torch.from_numpy(np.asarray(spectra, dtype=np.float32)))
    return pairwise_cosine(features.numpy())


def first_training_spectra(config: dict[str, Any]) -> np.ndarray:
    """The training spectra (N, B) float32 of the first split of a study config (seed 0; fold 1 for soil)."""
    data = dict(config["data"])
    if config["study"] == "synthetic":
        split = next(run_study.synthetic_splits(data, [0]))
    else:
        split = next(run_study.soil_splits(data, [0], [int(data["folds"][0])]))
    return split.train[0]


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", required=True, type=Path, help="a study config (repeatable)")
    parser.add_argument("--seeds", type=int, default=3, help="initialisations averaged (default 3)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds {args.seeds} is invalid: use 1 or more initialisations")
    print("| config | training spectra | raw: cosine mean +/- std | standardised: cosine mean +/- std |")
    print("| --- | --- | --- | --- |")
    for path in args.config:
        if not path.is_file():
            parser.error(
                f"--config {str(path)!r} does not exist: give a study config such as recipes/contrastive/soil.yaml"
            )
        config = yaml.safe_load(path.read_text())
        spectra = first_training_spectra(config)
        cells = []
        for standardise in (False, True):
            pairs = np.array([initial_similarity(spectra, seed, standardise) for seed in range(args.seeds)])
            mean, std = pairs.mean(axis=0)
            cells.append(f"{mean:.3f} +/- {std:.3f}")
        print(f"| {path.name} | {spectra.shape[0]} x {spectra.shape[1]} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

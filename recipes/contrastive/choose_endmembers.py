#!/usr/bin/env python
r"""Choose four similar USGS endmembers whose mixtures are as hard as the paper's baseline (follow-up 10).

Our synthetic baseline reaches test R2 0.93 where Dhaini et al. (ICASSP 2024, Table 1) report 0.55;
the paper does not name its endmembers. This script tests one explanation, that the paper's
endmembers are much more alike than ours, and picks the set of follow-up 10 of ``docs/contrastive-followups.md``
by a rule fixed before any network is trained on it:

1. Candidates: the spectra of USGS splib07 convolved to AVIRIS 1995 (224 channels) that are
   measured on every channel (no deleted value, finite), lie in [0, 1] (reflectance), and have a
   name that occurs once in the library.
2. For every candidate in library order (the anchor), add the candidates nearest to it by spectral
   angle (Kruse et al. 1993, :math:`\theta = \arccos(x \cdot y / \|x\| \|y\|)`) that are at least
   ``min_angle_deg`` from every spectrum already in the set, until it holds ``size`` spectra. The
   floor (2 degrees) keeps out repeated measurements of one sample with another spectrometer,
   which make the abundances unidentifiable rather than hard.
3. For every distinct set: the post-nonlinear mixtures of the study config (``make_mixtures``,
   10,000 pixels, 20 dB, data seed 0), the split of run seed 0 of ``run_study.py`` (500 train,
   500 validation), scikit-learn ``RidgeCV`` fitted on the training pixels and scored (R2 averaged
   over the abundances) on the validation pixels.
4. The chosen set: the one whose ridge validation R2 is closest to ``target`` (0.55, the paper's
   baseline); ties go to the first in library order.

No network and no test pixel takes part in the choice.

Usage::

    python recipes/contrastive/choose_endmembers.py --out recipes/contrastive/results/similar_endmembers.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

#: The ridge penalties searched by ``RidgeCV`` (leave-one-out on the training pixels).
RIDGE_ALPHAS = np.logspace(-8, 3, 23)


def spectral_angles_deg(spectra: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Pairwise spectral angles (Kruse et al. 1993, SAM) in degrees.

    Args:
        spectra: array (L, B) of spectra, none all zero.

    Returns:
        Float64 array (L, L), symmetric, zero on the diagonal.

    Raises:
        ValueError: If ``spectra`` is not 2-D or a spectrum has zero norm.
    """
    from sklearn.metrics.pairwise import cosine_similarity

    table = np.asarray(spectra, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"spectra of shape {table.shape}: pass an (L, B) array")
    norms = np.linalg.norm(table, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"spectrum {int(np.argmin(norms))} is all zero: its spectral angle is undefined")
    angles = np.degrees(np.arccos(np.clip(cosine_similarity(table), -1.0, 1.0)))
    np.fill_diagonal(angles, 0.0)
    return angles


def usable_spectra(names: Sequence[str], spectra: npt.ArrayLike) -> list[int]:
    """Rows measured on every channel, within [0, 1], whose name occurs once (rule 1).

    Args:
        names: the library's spectrum names, length L, whitespace already normalised.
        spectra: array (L, B), deleted channels marked below -1e30.

    Returns:
        The indices of the usable rows, increasing.
    """
    table = np.asarray(spectra, dtype=np.float64)
    counts = Counter(names)
    complete = np.all(np.isfinite(table), axis=1) & np.all((table >= 0.0) & (table <= 1.0), axis=1)
    return [i for i, name in enumerate(names) if complete[i] and counts[name] == 1]


def nearest_sets(angles: npt.ArrayLike, size: int = 4, min_angle_deg: float = 2.0) -> list[tuple[int, ...]]:
    """The greedy nearest-neighbour set of every anchor (rule 2), distinct sets in anchor order.

    Args:
        angles: array (L, L) of pairwise spectral angles in degrees.
        size: spectra per set.
        min_angle_deg: the smallest angle allowed between two spectra of a set.

    Returns:
        Sorted index tuples of length ``size``; an anchor without ``size - 1`` admissible
        neighbours gives no set.
    """
    table = np.asarray(angles, dtype=np.float64)
    found: dict[tuple[int, ...], None] = {}
    for anchor in range(len(table)):
        chosen = [anchor]
        for candidate in np.argsort(table[anchor], kind="stable"):
            if len(chosen) == size:
                break
            if candidate not in chosen and all(table[candidate, member] >= min_angle_deg for member in chosen):
                chosen.append(int(candidate))
        if len(chosen) == size:
            found.setdefault(tuple(sorted(chosen)), None)
    return list(found)


def ridge_validation_r2(endmembers: npt.ArrayLike, data: dict[str, Any], seed: int = 0) -> float:
    """Ridge R2 on the validation pixels of run seed ``seed`` of the synthetic study (rule 3).

    Args:
        endmembers: array (R, B), reflectance.
        data: the ``data`` section of a synthetic config (``n_pixels``, ``snr_db``, ``data_seed``,
            ``concentration``, ``scale``, ``n_train``, ``n_val``).
        seed: the run seed whose split is used (``run_study.synthetic_splits``).

    Returns:
        R2 averaged over the R abundances (scikit-learn ``r2_score``, uniform average).
    """
    from run_study import synthetic_image, synthetic_parts
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score

    spectra, abundances = synthetic_image(data, np.asarray(endmembers, dtype=np.float64))
    train, val, _ = synthetic_parts(data, len(spectra), seed)
    model = RidgeCV(alphas=RIDGE_ALPHAS).fit(spectra[train], abundances[train])
    return float(r2_score(abundances[val], model.predict(spectra[val])))


def choose(scores: Sequence[float], target: float) -> int:
    """Rule 4: the position of the score closest to ``target`` (the first on ties)."""
    if not len(scores):
        raise ValueError("no candidate set: lower --min-angle or use a larger library")
    return int(np.argmin(np.abs(np.asarray(scores, dtype=np.float64) - target)))


def main(argv: Sequence[str] | None = None) -> int:  # noqa: D103
    import yaml

    from eospec.datasets.utils import shared_data_dir
    from eospec.libraries import read_envi_library
    from eospec.synthetic import SPLIB07_AV95

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", type=Path, help="s07_AV95_envi.hdr (default: in the shared data folder)")
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parent / "synthetic.yaml")
    parser.add_argument("--target", type=float, default=0.55, help="ridge validation R2 to match (paper: 0.55)")
    parser.add_argument("--min-angle", type=float, default=2.0, help="smallest angle within a set, degrees")
    parser.add_argument("--size", type=int, default=4, help="endmembers per set")
    parser.add_argument("--out", type=Path, help="write every candidate set and the choice here (JSON)")
    args = parser.parse_args(argv)
    if args.size < 2 or args.min_angle < 0:
        parser.error(f"--size {args.size} / --min-angle {args.min_angle}: use a size >= 2 and an angle >= 0")
    library_path = args.library
    if library_path is None:
        folder = shared_data_dir()
        if folder is None:
            parser.error("the USGS library was not found: set EOSPEC_SHARED_DATA or pass --library")
        library_path = folder / SPLIB07_AV95
    if not library_path.is_file():
        parser.error(f"--library {library_path} does not exist: pass the s07_AV95_envi.hdr file")
    data = yaml.safe_load(args.config.read_text())["data"]

    library = read_envi_library(library_path, sort_wavelengths=True, bad_bands="keep").to_unit("nm")
    metadata = library.metadata
    names = [" ".join(str(name).split()) for name in metadata["name"]] if metadata is not None else []
    spectra = np.asarray(library.spectra, dtype=np.float64)
    usable = usable_spectra(names, spectra)
    angles = spectral_angles_deg(spectra[usable])
    sets = nearest_sets(angles, args.size, args.min_angle)
    candidates: list[dict[str, Any]] = []
    for members in sets:
        rows = [usable[i] for i in members]
        pair_angles = angles[np.ix_(members, members)][np.triu_indices(len(members), 1)]
        candidates.append(
            {
                "names": [names[row] for row in rows],
                "angle_min_deg": float(pair_angles.min()),
                "angle_max_deg": float(pair_angles.max()),
                "ridge_val_R2": ridge_validation_r2(spectra[rows], data),
            }
        )
    try:
        best = choose([c["ridge_val_R2"] for c in candidates], args.target)
    except ValueError as error:
        parser.error(str(error))
    ranked = sorted(range(len(candidates)), key=lambda i: abs(candidates[i]["ridge_val_R2"] - args.target))
    print(f"{len(usable)} usable spectra, {len(candidates)} distinct sets; the 10 nearest ridge R2 {args.target}:")
    for i in ranked[:10]:
        c = candidates[i]
        print(
            f"  R2 {c['ridge_val_R2']:.3f}  angles {c['angle_min_deg']:.1f}-{c['angle_max_deg']:.1f} deg  "
            + " | ".join(c["names"])
        )
    chosen = candidates[best]
    print("chosen (for --set data.endmembers=...):")
    print(json.dumps(chosen["names"]))
    if args.out is not None:
        record = {
            "rule": {"target": args.target, "min_angle_deg": args.min_angle, "size": args.size},
            "library": library_path.name,
            "n_usable": len(usable),
            "chosen": chosen,
            "candidates": candidates,
        }
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

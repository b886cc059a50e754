"""The endmember choice of follow-up 10 (recipes/contrastive/choose_endmembers.py)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import yaml
from conftest import CONTRASTIVE_RECIPES


@pytest.fixture
def chooser(contrastive_recipe) -> ModuleType:
    return contrastive_recipe("choose_endmembers")


def test_spectral_angles_match_hand_values_and_ignore_brightness(chooser):
    spectra = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 3.0], [2.0, 2.0]])
    angles = chooser.spectral_angles_deg(spectra)
    expected = np.array([[0, 45, 90, 45], [45, 0, 45, 0], [90, 45, 0, 45], [45, 0, 45, 0]], dtype=float)
    np.testing.assert_allclose(angles, expected, atol=1e-5)
    with pytest.raises(ValueError, match="spectrum 1 is all zero"):
        chooser.spectral_angles_deg([[1.0, 2.0], [0.0, 0.0]])


def test_usable_spectra_drop_deleted_out_of_range_and_repeated_names(chooser):
    names = ["a", "b", "c", "d", "e", "d", "f"]
    spectra = np.full((7, 3), 0.5)
    spectra[1, 2] = -1.23e34  # a deleted channel
    spectra[2, 0] = 1.2  # not a reflectance
    spectra[4, 1] = np.nan
    assert chooser.usable_spectra(names, spectra) == [0, 6]


def test_nearest_sets_follow_the_greedy_rule_with_the_angle_floor(chooser):
    # 0-1 closer than the floor; the greedy set of 0 must skip 1
    angles = np.array(
        [
            [0.0, 1.0, 3.0, 4.0, 9.0],
            [1.0, 0.0, 2.5, 5.0, 8.0],
            [3.0, 2.5, 0.0, 6.0, 7.0],
            [4.0, 5.0, 6.0, 0.0, 2.2],
            [9.0, 8.0, 7.0, 2.2, 0.0],
        ]
    )
    sets = chooser.nearest_sets(angles, size=3, min_angle_deg=2.0)
    # anchor 0: 1 too close, takes 2 then 3; anchor 1: 2 (2.5), then 3; anchor 2: 1, then 0 is too
    # close to 1, 3; anchor 3: 4, then 0; anchor 4: 3, then 2
    assert sets == [(0, 2, 3), (1, 2, 3), (0, 3, 4), (2, 3, 4)]
    for members in sets:
        block = angles[np.ix_(members, members)]
        assert block[np.triu_indices(3, 1)].min() >= 2.0
    # no anchor has two neighbours 10 degrees apart: no set at all
    assert chooser.nearest_sets(angles, size=3, min_angle_deg=10.0) == []


def test_choose_takes_the_closest_score_and_the_first_on_ties(chooser):
    assert chooser.choose([0.9, 0.6, 0.5, 0.58], 0.55) == 3
    assert chooser.choose([0.6, 0.5], 0.55) == 0
    with pytest.raises(ValueError, match="no candidate set"):
        chooser.choose([], 0.55)


def test_ridge_score_uses_the_study_split_of_run_seed_0(chooser, shared_data):
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score

    from eospec.synthetic import SYNTHETIC_ENDMEMBERS, usgs_endmembers

    run_study = importlib.import_module("run_study")  # beside the recipe on sys.path (fixture)
    data = yaml.safe_load((CONTRASTIVE_RECIPES / "synthetic.yaml").read_text())["data"]
    data |= {"n_pixels": 1500, "n_train": 200, "n_val": 300, "snr_db": 15.0}
    _, endmembers = usgs_endmembers(None, SYNTHETIC_ENDMEMBERS)
    split = next(run_study.synthetic_splits(data, [0]))
    model = RidgeCV(alphas=chooser.RIDGE_ALPHAS).fit(split.train[0], split.train[1])
    expected = r2_score(split.val[1], model.predict(split.val[0]))
    assert chooser.ridge_validation_r2(endmembers, data, seed=0) == pytest.approx(expected, rel=1e-9)
    assert chooser.ridge_validation_r2(endmembers, data, seed=1) != pytest.approx(expected, rel=1e-6)


def write_library(folder: Path, names: list[str], spectra: np.ndarray, wavelengths_nm: np.ndarray) -> Path:
    """A float32 ENVI spectral library (one row per spectrum) with its header."""
    spectra.astype("<f4").tofile(folder / "lib.sli")
    header = folder / "lib.hdr"
    header.write_text(
        "ENVI\n"
        f"samples = {spectra.shape[1]}\nlines = {spectra.shape[0]}\nbands = 1\nheader offset = 0\n"
        "file type = ENVI Spectral Library\ndata type = 4\ninterleave = bsq\nbyte order = 0\n"
        "wavelength units = Nanometers\n"
        f"wavelength = {{{', '.join(f'{w:.1f}' for w in wavelengths_nm)}}}\n"
        f"spectra names = {{{', '.join(names)}}}\n"
    )
    return header


def test_cli_chooses_a_set_of_a_small_library_and_records_every_candidate(chooser, tmp_path, capsys):
    rng = np.random.default_rng(3)
    wavelengths = np.linspace(400.0, 2500.0, 40)
    base = 0.3 + 0.2 * np.sin(wavelengths / 300.0)
    spectra = np.clip(base + 0.05 * rng.standard_normal((7, 40)).cumsum(axis=1) / 4, 0.01, 0.99)
    spectra[6, 5] = -1.23e34  # deleted channel: never a candidate
    names = [f"mineral {i}" for i in range(7)]
    header = write_library(tmp_path, names, spectra, wavelengths)
    config = tmp_path / "synthetic.yaml"
    data = {"n_pixels": 600, "snr_db": 20.0, "data_seed": 0, "n_train": 150, "n_val": 150}
    config.write_text(yaml.safe_dump({"data": data}))
    out = tmp_path / "choice.json"
    args = ["--library", str(header), "--config", str(config), "--min-angle", "0.5", "--out", str(out)]
    assert chooser.main([*args, "--target", "0.7"]) == 0
    record = json.loads(out.read_text())
    assert record["n_usable"] == 6
    candidates = record["candidates"]
    assert candidates and all("mineral 6" not in c["names"] for c in candidates)
    assert all(c["angle_min_deg"] >= 0.5 for c in candidates)
    gaps = [abs(c["ridge_val_R2"] - 0.7) for c in candidates]
    assert record["chosen"] == candidates[int(np.argmin(gaps))]
    assert json.dumps(record["chosen"]["names"]) in capsys.readouterr().out


def test_cli_errors_name_the_bad_value_and_exit_2(chooser, tmp_path, capsys):
    with pytest.raises(SystemExit) as missing:
        chooser.main(["--library", str(tmp_path / "none.hdr")])
    assert missing.value.code == 2 and "none.hdr does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_size:
        chooser.main(["--size", "1"])
    assert bad_size.value.code == 2 and "--size 1" in capsys.readouterr().err

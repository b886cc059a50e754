"""``eospec benchmark`` on the layout fixtures, its errors, and the real Potsdam run (CI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import one_thread, run_cli

from eospec.benchmark.fixtures import write_fixture


def test_benchmark_command_on_fixture(tmp_path: Path) -> None:
    write_fixture("eo1-cdl", tmp_path / "data", samples=(3, 1, 2), size=8)
    out = tmp_path / "results"
    args = ["benchmark", "--datasets", "eo1-cdl", "--root", str(tmp_path / "data"), "--encoder", "raw-logreg"]
    args += ["--encoder", "vae_enmap", "--seeds", "1", "--epochs", "1", "--out", str(out), "--quiet"]
    with one_thread():
        code, output = run_cli(*args)
    assert code == 0, output
    assert "2 run(s) computed, 0 reused" in output
    for name in ("results.csv", "summary.csv", "results.md", "results.png"):
        assert (out / name).is_file()
    table = pd.read_csv(out / "results.csv")
    assert sorted(table.encoder) == ["raw-logreg", "vae_enmap"]
    assert table.loc[table.encoder == "vae_enmap", "band_method"].item() == "resample"  # Hyperion -> EnMAP bands
    with one_thread():
        code, output = run_cli(*args)
    assert code == 0 and "0 run(s) computed, 2 reused" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--datasets", "enmap-cdl"], "EnMAP-CDL (USA) not found"),
        (["--datasets", "enmap-foo"], "'enmap-foo' is unknown: use 'all' or one of"),
        (["--datasets", "enmap-cdl", "--encoder", "nope"], "encoder 'nope' is unknown"),
        (["--datasets", "enmap-cdl", "--protocol", "probe"], "'probe' is not one of linear, adapter, finetune"),
    ],
)
def test_benchmark_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = run_cli("benchmark", "--root", str(tmp_path), "--out", str(tmp_path / "out"), *args)
    assert code == 2
    assert message in " ".join(output.split())


@pytest.mark.shared_data
def test_potsdam_benchmark_real_tiles(shared_data: Path, tmp_path: Path) -> None:
    """The documented CI run (docs/benchmark.md): real EnMAP tiles, bundled encoder, random init, raw spectra."""
    from eospec.benchmark import EnMAPPotsdam

    out = tmp_path / "potsdam"
    args = ["benchmark", "--datasets", "enmap-potsdam", "--encoder", "vae_enmap", "--encoder", "random:vae_enmap"]
    args += ["--encoder", "raw-rf", "--encoder", "raw-logreg", "--protocol", "linear", "--seeds", "3"]
    args += ["--epochs", "30", "--batch-size", "4", "--lr", "0.01", "--out", str(out), "--quiet"]
    code, output = run_cli(*args)
    assert code == 0, output
    summary = pd.read_csv(out / "summary.csv").set_index("encoder")
    assert list(summary.index) == ["vae_enmap", "random_vae_enmap", "raw-rf", "raw-logreg"]
    assert (summary.seeds == 3).all()
    # chance level: always predicting the most frequent test class
    counts = np.zeros(6)
    test = EnMAPPotsdam(split="test")
    for index in range(len(test)):
        mask = test[index]["mask"].numpy()
        counts += np.bincount(mask[mask < 6], minlength=6)
    majority = counts.max() / counts.sum()
    for encoder in summary.index:
        assert majority + 0.1 < summary.loc[encoder, "OA_mean"] <= 1.0
    assert summary.loc["raw-logreg", "OA_std"] == pytest.approx(0.0, abs=1e-9)  # deterministic fit
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 12 and table[["OA", "F1", "mIoU"]].notna().all().all()
    print((out / "results.md").read_text())


def test_benchmark_without_root_names_the_option(tmp_path: Path) -> None:
    code, output = run_cli("benchmark", "--datasets", "enmap-nlcd", "--out", str(tmp_path / "out"))
    assert code == 2
    assert "EnMAP-NLCD (USA) needs --root" in " ".join(output.split())
    assert not (tmp_path / "out").exists()

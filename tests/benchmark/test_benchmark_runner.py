"""Benchmark encoders, baselines, runner (resumable) and reports, on the layout fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import one_thread

from eospec.benchmark import get_benchmark_dataset
from eospec.benchmark.baselines import pixel_table, run_baseline
from eospec.benchmark.encoders import PixelEncoder, band_matrix, build_encoder, parse_encoder
from eospec.benchmark.fixtures import write_fixture
from eospec.benchmark.runner import BenchmarkConfig, input_statistics, plan_runs, run_benchmark
from eospec.errors import BenchmarkError, OutputExistsError

QUICK = BenchmarkConfig(epochs=2, batch_size=2, lr=1e-2, max_pixels=2000, val_every=1)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("benchmark_runner")
    for name in ("enmap-cdl", "desis-cdl", "enmap-corine"):
        write_fixture(name, folder, samples=(4, 1, 2), size=8)
    return folder


@pytest.fixture(scope="module")
def tiny_patch_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A patch-encoder .json (tiny Spec. ViT, random weights) as recipes/spectralearth/pretrain.py writes."""
    path = tmp_path_factory.mktemp("encoder") / "encoder.json"
    model_kwargs = {"embed_dim": 16, "depth": 1, "num_heads": 2}
    path.write_text(json.dumps({"kind": "patch", "arch": "spec_vit_small", "model_kwargs": model_kwargs}))
    return path


def test_parse_encoder() -> None:
    baseline = parse_encoder("raw-rf")
    assert (baseline.kind, baseline.label) == ("baseline", "raw-rf")
    random = parse_encoder("random:vae_enmap")
    assert (random.kind, random.label, random.random_init, random.base) == (
        "spectral",
        "random_vae_enmap",
        True,
        "vae_enmap",
    )
    arch = parse_encoder("spec_resnet18")
    assert (arch.kind, arch.random_init) == ("patch", True)
    with pytest.raises(BenchmarkError, match="'nope' is unknown .* raw-rf, raw-logreg"):
        parse_encoder("nope")
    with pytest.raises(BenchmarkError, match="checkpoint '/no/such.pth' does not exist"):
        parse_encoder("spec_resnet50=/no/such.pth")
    with pytest.raises(BenchmarkError, match="'soc' is of kind|not an embedding encoder|is unknown"):
        parse_encoder("soc")


def test_band_matrix_desis_to_enmap() -> None:
    from eospec.sensors import ENMAP_DEFAULT_BANDS, get_sensor

    target = get_sensor("enmap").wavelengths_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]
    assert band_matrix(get_benchmark_dataset("enmap-cdl"), target) == (None, 202)
    matrix, covered = band_matrix(get_benchmark_dataset("desis-cdl"), target)
    assert matrix is not None and matrix.shape == (202, 235)
    # DESIS covers 400-1000 nm: the EnMAP bands whose +/- FWHM response lies inside it
    fwhm = get_sensor("enmap").fwhm_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]
    inside = int(np.sum(target + fwhm <= 1000.0))
    assert inside - 2 <= covered <= inside + 2
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-9)  # a constant spectrum stays constant
    last = covered - 1
    np.testing.assert_array_equal(matrix[covered:], np.repeat(matrix[last : last + 1], 202 - covered, axis=0))


def test_pixel_encoder_matches_embed() -> None:
    from eospec.embedding import load_encoder

    vae = load_encoder("vae_enmap").module
    encoder = PixelEncoder(vae).eval()
    x = torch.rand(2, 202, 3, 4) * 0.4 + 0.05
    features = encoder.forward_features(x)
    assert features.shape == (2, 32, 3, 4)
    expected = vae.embed(x[1, :, 2, 3][None])[0]
    torch.testing.assert_close(features[1, :, 2, 3], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(encoder(x), features.mean(dim=(2, 3)))


def test_random_init_is_seeded_and_differs() -> None:
    dataset = get_benchmark_dataset("enmap-cdl")
    pretrained = build_encoder(parse_encoder("vae_enmap"), dataset).module
    first = build_encoder(parse_encoder("random:vae_enmap"), dataset, seed=3).module
    again = build_encoder(parse_encoder("random:vae_enmap"), dataset, seed=3).module
    other = build_encoder(parse_encoder("random:vae_enmap"), dataset, seed=4).module
    x = torch.rand(1, 202, 2, 2)
    with torch.no_grad():
        a, b, c, d = (m.eval().forward_features(x) for m in (pretrained, first, again, other))
    assert torch.equal(b, c)
    assert not torch.allclose(a, b) and not torch.allclose(b, d)


def test_other_sensor_band_methods(root: Path, tiny_patch_encoder: Path) -> None:
    desis = get_benchmark_dataset("desis-cdl")
    adapter = build_encoder(parse_encoder(str(tiny_patch_encoder)), desis, spectral_mode="adapter")
    assert (adapter.band_method, adapter.needs_statistics, adapter.module.mapper) == ("adapter", True, None)
    resample = build_encoder(parse_encoder(str(tiny_patch_encoder)), desis, spectral_mode="resample")
    assert resample.band_method == "resample" and resample.module.mapper is not None
    pixel = build_encoder(parse_encoder("vae_enmap"), desis, spectral_mode="adapter")
    assert pixel.band_method == "resample" and pixel.bands_covered < 202
    train = desis(root, split="train")
    mean, std = input_statistics(train, adapter)
    pixels = torch.cat([s["image"][:, s["valid"]] for s in (train[i] for i in range(len(train)))], dim=1).double()
    np.testing.assert_allclose(mean, pixels.mean(dim=1).numpy(), rtol=1e-9)
    np.testing.assert_allclose(std, pixels.std(dim=1).numpy(), rtol=1e-6)
    adapter.module.encoder.set_input_statistics(mean, std)
    with torch.no_grad():
        features = adapter.module.eval().forward_features(train[0]["image"][None])
    assert features.shape[:2] == (1, 16) and torch.isfinite(features).all()


def test_baseline_metrics_match_sklearn(root: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    dataset = get_benchmark_dataset("enmap-cdl")
    train, test = dataset(root, split="train"), dataset(root, split="test")
    metrics = run_baseline("raw-logreg", train, test, seed=0, max_pixels=None)
    x_train, y_train = pixel_table(train)
    x_test, y_test = pixel_table(test)
    predicted = (
        make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(x_train, y_train).predict(x_test)
    )
    assert metrics["OA"] == pytest.approx(accuracy_score(y_test, predicted), abs=1e-6)
    # torchmetrics' macro F1 averages over the classes present in the targets or the predictions
    f1 = f1_score(y_test, predicted, labels=np.union1d(y_test, predicted), average="macro", zero_division=0)
    assert metrics["F1"] == pytest.approx(f1, abs=1e-6)
    assert metrics["OA"] > 0.5  # the fixture's classes are separable
    assert metrics["test_rows"] == len(y_test)


def test_multilabel_baseline(root: Path) -> None:
    dataset = get_benchmark_dataset("enmap-corine")
    metrics = run_baseline("raw-rf", dataset(root, split="train"), dataset(root, split="test"), seed=1)
    assert set(metrics) == {"mAP", "F1_micro", "F1_macro", "train_rows", "test_rows"}
    assert metrics["train_rows"] == 4 and metrics["test_rows"] == 2


def test_plan_runs() -> None:
    runs, skipped = plan_runs(["enmap-cdl"], ["vae_enmap", "raw-rf"], ["linear", "adapter"], 2)
    assert [(r.encoder.label, r.protocol, r.seed) for r in runs] == [
        ("vae_enmap", "linear", 0),
        ("vae_enmap", "linear", 1),
        ("raw-rf", "pixel", 0),
        ("raw-rf", "pixel", 1),
    ]
    assert skipped == ["vae_enmap / adapter: a per-pixel encoder has no spectral adapter"]
    with pytest.raises(BenchmarkError, match="protocol 'probe' is unknown"):
        plan_runs(["enmap-cdl"], ["raw-rf"], ["probe"], 1)
    with pytest.raises(BenchmarkError, match="share the result name 'raw-rf'"):
        plan_runs(["enmap-cdl"], ["raw-rf", "raw-rf"], ["linear"], 1)


def test_run_resume_and_reports(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    with one_thread():
        result = run_benchmark(
            ["enmap-cdl"], ["vae_enmap", "raw-logreg"], out, seeds=2, root=root, config=QUICK, progress=False
        )
    assert (result.ran, result.reused) == (4, 0)
    runs = sorted(p.relative_to(out).as_posix() for p in (out / "runs").rglob("*.json"))
    assert runs == [
        "runs/enmap-cdl/raw-logreg/pixel/seed0.json",
        "runs/enmap-cdl/raw-logreg/pixel/seed1.json",
        "runs/enmap-cdl/vae_enmap/linear/seed0.json",
        "runs/enmap-cdl/vae_enmap/linear/seed1.json",
    ]
    record = json.loads((out / "runs/enmap-cdl/vae_enmap/linear/seed1.json").read_text())
    assert set(record["metrics"]) == {"OA", "F1", "mIoU"}
    assert record["band_method"] == "native" and record["trainable_parameters"] > 0
    assert list((out / "logs").rglob("metrics.csv"))  # Lightning CSV logs
    # summary = mean and sample std of results.csv, recomputed here
    table = pd.read_csv(out / "results.csv")
    summary = pd.read_csv(out / "summary.csv")
    for _, row in summary.iterrows():
        group = table[(table.encoder == row.encoder) & (table.protocol == row.protocol)]
        assert row.seeds == 2
        assert row.OA_mean == pytest.approx(group.OA.mean())
        assert row.OA_std == pytest.approx(np.std(group.OA.to_numpy(), ddof=1))
    markdown = (out / "results.md").read_text()
    mean, std = summary.loc[summary.encoder == "vae_enmap", ["mIoU_mean", "mIoU_std"]].iloc[0]
    assert "| enmap-cdl | vae_enmap | linear | 2 |" in markdown and f"{mean:.3f} ± {std:.3f}" in markdown
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # resumed: nothing recomputed; a deleted run is recomputed alone
    again = run_benchmark(
        ["enmap-cdl"], ["vae_enmap", "raw-logreg"], out, seeds=2, root=root, config=QUICK, progress=False
    )
    assert (again.ran, again.reused) == (0, 4)
    (out / "runs/enmap-cdl/raw-logreg/pixel/seed1.json").unlink()
    again = run_benchmark(
        ["enmap-cdl"], ["vae_enmap", "raw-logreg"], out, seeds=2, root=root, config=QUICK, progress=False
    )
    assert (again.ran, again.reused) == (1, 3)

    # other settings: refused, or discarded with overwrite
    other = BenchmarkConfig(epochs=3, batch_size=2, lr=1e-2, max_pixels=2000)
    with pytest.raises(OutputExistsError, match="other settings .*epochs 2 -> 3"):
        run_benchmark(["enmap-cdl"], ["raw-logreg"], out, seeds=1, root=root, config=other, progress=False)
    redone = run_benchmark(
        ["enmap-cdl"], ["raw-logreg"], out, seeds=1, root=root, config=other, overwrite=True, progress=False
    )
    assert (redone.ran, redone.reused) == (1, 0)
    assert not (out / "runs/enmap-cdl/vae_enmap").exists()


def test_patch_encoder_protocols_and_multilabel(root: Path, tmp_path: Path, tiny_patch_encoder: Path) -> None:
    with one_thread():
        result = run_benchmark(
            ["desis-cdl", "enmap-corine"],
            [str(tiny_patch_encoder)],
            tmp_path / "out",
            protocols=["linear", "adapter", "finetune"],
            seeds=1,
            root=root,
            config=QUICK,
            progress=False,
        )
    records = {(r["dataset"], r["protocol"]): r for r in result.records}
    assert len(records) == 6
    assert records[("desis-cdl", "adapter")]["band_method"] == "adapter"
    assert set(records[("enmap-corine", "linear")]["metrics"]) == {"mAP", "F1_micro", "F1_macro"}
    trainable = {p: records[("desis-cdl", p)]["trainable_parameters"] for p in ("linear", "adapter", "finetune")}
    assert trainable["linear"] < trainable["adapter"] < trainable["finetune"]
    assert "mAP" in (tmp_path / "out" / "results.md").read_text()


def test_missing_data_fails_before_any_run(tmp_path: Path) -> None:
    from eospec.benchmark import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="EnMAP-BNETD"):
        run_benchmark(["enmap-bnetd"], ["raw-rf"], tmp_path / "out", root=tmp_path, progress=False)
    assert not (tmp_path / "out").exists()


def test_adapter_protocol_needs_an_adapter_and_probe_head_is_linear() -> None:
    from eospec.embedding import load_encoder
    from eospec.trainers.finetune import LinearProbeHead, freeze_for_protocol

    pixel = PixelEncoder(load_encoder("vae_enmap").module)
    with pytest.raises(ValueError, match="protocol 'adapter' trains the spectral adapter, but this encoder has none"):
        freeze_for_protocol(pixel, "adapter")
    assert freeze_for_protocol(pixel, "linear") == [pixel]
    assert not any(p.requires_grad for p in pixel.parameters())
    head = LinearProbeHead(4, 3)
    head.train()
    head(torch.randn(8, 4, 5, 5) * 3 + 2)  # update the running statistics
    head.eval()
    x, y = torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5)
    norm, conv = head[0], head[1]
    expected = conv(
        (x - norm.running_mean[None, :, None, None]) / torch.sqrt(norm.running_var + norm.eps)[None, :, None, None]
    )
    torch.testing.assert_close(head(x), expected)
    # affine in the features at inference: f(x + y) - f(y) = f(x) - f(0)
    zero = torch.zeros_like(x)
    torch.testing.assert_close(head(x + y) - head(y), head(x) - head(zero), rtol=1e-5, atol=1e-5)

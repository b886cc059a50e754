"""Tests of the contrastive regression task (TorchGeo BaseTask) on tiny synthetic mixtures."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import one_thread, quiet_trainer

import eospec  # noqa: F401  (installs the torchvision fallback before lightning is imported)
from eospec.losses import regression_contrastive_loss
from eospec.synthetic import make_mixtures
from eospec.trainers import ContrastiveRegressionTask, SpectraDataModule, SpectraDataset

pl = pytest.importorskip("lightning.pytorch")

N_BANDS = 32
WAVELENGTHS = np.linspace(450.0, 2400.0, N_BANDS)


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models on a shared 2-core machine: several threads only spin.
    with one_thread():
        yield


def _mixtures(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(42)
    endmembers = np.clip(
        0.2 + 0.6 * generator.random((3, 1)) + 0.1 * np.sin(WAVELENGTHS / (150.0 + 100 * generator.random((3, 1)))),
        0.05,
        0.95,
    )
    return make_mixtures(endmembers, n_pixels=n, snr_db=30.0, seed=seed)


def _batch(n: int = 32) -> dict[str, torch.Tensor]:
    spectra, abundances = _mixtures(n)
    return {"image": torch.from_numpy(spectra), "label": torch.from_numpy(abundances)}


class _LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def _trainer(**kwargs) -> pl.Trainer:
    return quiet_trainer(**kwargs)


@pytest.mark.parametrize(
    ("model", "alpha", "form", "augmentations"),
    [
        ("fc", 0.0, "infonce", None),
        ("fc", 0.05, "infonce", ["spectral_shift", "spectral_flip"]),
        ("fc", 0.05, "bce", ["band_erasure"]),
        ("fc", 0.05, "rnc", ["nearest_neighbour_averaging"]),
        ("cnn1d", 0.05, "infonce", None),
    ],
)
def test_loss_decreases_on_a_fixed_batch(model, alpha, form, augmentations):
    pl.seed_everything(0, verbose=False)
    spectra, abundances = _mixtures(32)
    data = SpectraDataModule((spectra, abundances), batch_size=32)  # one batch: the same 32 spectra every step
    task = ContrastiveRegressionTask(
        model=model,
        in_bands=N_BANDS,
        num_outputs=3,
        alpha=alpha,
        radius=0.1,
        temperature=0.5,
        loss_form=form,
        augmentations=augmentations,
        wavelengths_nm=WAVELENGTHS.tolist(),
        lr=3e-3,
    )
    recorder = _LossRecorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _trainer(max_epochs=40, callbacks=[recorder], limit_val_batches=0).fit(task, data)
    assert len(recorder.losses) == 40
    assert np.all(np.isfinite(recorder.losses))
    assert np.mean(recorder.losses[-5:]) < 0.7 * np.mean(recorder.losses[:5])


def test_training_step_is_mse_plus_alpha_contrastive():
    torch.manual_seed(0)
    batch = _batch()
    task = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3, alpha=0.3, radius=0.2, temperature=0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        loss = task.training_step(batch, 0)
    prediction, features = task.model.forward_features(batch["image"])
    mse = torch.mean((prediction - batch["label"]) ** 2)
    contrastive = regression_contrastive_loss(features, batch["label"], radius=0.2, temperature=0.7)
    assert loss.item() == pytest.approx((mse + 0.3 * contrastive).item(), rel=1e-5)
    assert contrastive.item() > 0


def test_baseline_never_builds_a_second_view(monkeypatch):
    task = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3, alpha=0.0, augmentations=["spectral_flip"])

    def fail(x):
        raise AssertionError("alpha = 0 must not augment")

    monkeypatch.setattr(task, "augment", fail)
    batch = _batch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = task.training_step(batch, 0)
    assert loss.item() == pytest.approx(torch.mean((task(batch["image"]) - batch["label"]) ** 2).item(), rel=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_augment_regression_trains_l_r_on_the_augmented_view(monkeypatch, alpha):
    torch.manual_seed(0)
    task = ContrastiveRegressionTask(
        in_bands=N_BANDS,
        num_outputs=3,
        alpha=alpha,
        radius=0.2,
        augmentations=["spectral_flip"],
        augment_regression=True,
    )
    monkeypatch.setattr(task, "augment", lambda x: 0.5 * x + 0.1)  # a fixed view, to recompute the loss
    batch = _batch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        loss = task.training_step(batch, 0)
    view = 0.5 * batch["image"] + 0.1
    expected = torch.mean((task(view) - batch["label"]) ** 2)
    if alpha > 0:
        features = task.model.extractor(batch["image"])
        expected = expected + alpha * regression_contrastive_loss(
            features, batch["label"], task.model.extractor(view), radius=0.2, temperature=1.0
        )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    clean = torch.mean((task(batch["image"]) - batch["label"]) ** 2)
    assert abs(loss.item() - clean.item()) > 1e-4  # the clean spectra alone would give another loss


class _StateRecorder(pl.Callback):
    """The extractor's and the head's state (weights and batch-norm statistics) after every epoch."""

    def __init__(self) -> None:
        self.states: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        model = pl_module.model
        self.states.append(
            (
                {k: v.clone() for k, v in model.extractor.state_dict().items()},
                {k: v.clone() for k, v in model.head.state_dict().items()},
            )
        )


def _same(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(first[key], second[key]) for key in first)


@pytest.mark.parametrize("freeze", [True, False])
def test_two_stage_trains_the_extractor_first_then_the_head(freeze):
    pl.seed_everything(0, verbose=False)
    spectra, abundances = _mixtures(64)
    data = SpectraDataModule((spectra, abundances), batch_size=32)
    task = ContrastiveRegressionTask(
        model="cnn1d",  # batch norm: its running statistics must stay fixed too when frozen
        in_bands=N_BANDS,
        num_outputs=3,
        model_kwargs={"channels": (4, 8), "out_features": 8},
        alpha=0.01,
        loss_form="rnc",
        temperature=2.0,
        pretrain_epochs=2,
        freeze_extractor=freeze,
    )
    initial_head = {k: v.clone() for k, v in task.model.head.state_dict().items()}
    initial_extractor = {k: v.clone() for k, v in task.model.extractor.state_dict().items()}
    recorder = _StateRecorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _trainer(max_epochs=4, callbacks=[recorder], limit_val_batches=0).fit(task, data)
    (extractor_1, head_1), (extractor_2, head_2), _, (extractor_4, head_4) = recorder.states
    # pretraining: the extractor learns, the head is untouched
    assert not _same(initial_extractor, extractor_1) and not _same(extractor_1, extractor_2)
    assert _same(initial_head, head_1) and _same(initial_head, head_2)
    # regression: the head learns; the extractor is fixed only when frozen
    assert not _same(head_2, head_4)
    assert _same(extractor_2, extractor_4) is freeze
    assert all(p.requires_grad is not freeze for p in task.model.extractor.parameters())
    task.train()
    assert task.model.extractor.training is not freeze and task.model.head.training


def test_two_stage_losses_match_an_independent_computation():
    torch.manual_seed(0)
    batch = _batch()
    task = ContrastiveRegressionTask(
        in_bands=N_BANDS,
        num_outputs=3,
        alpha=0.3,
        radius=0.2,
        temperature=0.7,
        pretrain_epochs=1,
        freeze_extractor=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        assert task.pretraining  # epoch 0 of 1 pretraining epoch
        pretraining_loss = task.training_step(batch, 0)
        features = task.model.extractor(batch["image"])
        expected = regression_contrastive_loss(features, batch["label"], radius=0.2, temperature=0.7)
        assert pretraining_loss.item() == pytest.approx(expected.item(), rel=1e-5)
        pretraining_loss.backward()
        assert all(p.grad is None for p in task.model.head.parameters())
        task.zero_grad(set_to_none=True)
        task.hparams["pretrain_epochs"] = 0  # as if the regression stage had started
        task.on_train_epoch_start()
        regression_loss = task.training_step(batch, 0)
    mse = torch.mean((task.model.head(task.model.extractor(batch["image"])) - batch["label"]) ** 2)
    assert regression_loss.item() == pytest.approx(mse.item(), rel=1e-6)  # L_R alone: nothing to contrast
    regression_loss.backward()
    assert all(p.grad is None for p in task.model.extractor.parameters())
    assert all(p.grad is not None for p in task.model.head.parameters())


def test_augment_modes():
    x = _batch(8)["image"]
    random_mode = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3, augmentations=["spectral_flip"])
    assert torch.equal(random_mode.augment(x), x.flip(1))
    sequential = ContrastiveRegressionTask(
        in_bands=N_BANDS,
        num_outputs=3,
        augmentations=["spectral_flip", {"name": "spectral_flip", "mode": "reverse"}],
        augmentation_mode="sequential",
    )
    assert torch.equal(sequential.augment(x), x)  # two reversals
    shift = ContrastiveRegressionTask(
        in_bands=N_BANDS,
        num_outputs=3,
        augmentations=[{"name": "spectral_shift", "max_shift_nm": 30.0}],
        wavelengths_nm=WAVELENGTHS.tolist(),
    )
    assert torch.allclose(shift.augmentations[0].wavelengths_nm, torch.as_tensor(WAVELENGTHS))


def test_test_metrics_match_an_independent_computation():
    pl.seed_everything(1, verbose=False)
    train = _mixtures(64, seed=1)
    test = _mixtures(40, seed=2)
    data = SpectraDataModule(train, val=test, test=test, batch_size=16, eval_batch_size=16)
    task = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3, alpha=0.01, radius=0.1)
    trainer = _trainer(max_epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(task, data)
        (metrics,) = trainer.test(task, data, verbose=False)
    with torch.no_grad():
        prediction = task(torch.from_numpy(test[0])).numpy().astype(np.float64)
    truth = test[1].astype(np.float64)
    r2 = np.mean(1.0 - ((truth - prediction) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0))
    assert metrics["test_R2"] == pytest.approx(r2, abs=1e-4)
    assert metrics["test_MAE"] == pytest.approx(np.abs(truth - prediction).mean(), abs=1e-5)
    assert metrics["test_loss"] == pytest.approx(((truth - prediction) ** 2).mean(), rel=1e-3)


def test_single_target_labels_of_shape_n():
    pl.seed_everything(2, verbose=False)
    spectra, abundances = _mixtures(40)
    data = SpectraDataModule((spectra, abundances[:, 0]), val=(spectra, abundances[:, 0]), batch_size=20)
    task = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=1, alpha=0.1, radius=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = _trainer(max_epochs=1)
        trainer.fit(task, data)
    assert np.isfinite(float(trainer.callback_metrics["val_R2"]))
    assert task(torch.from_numpy(spectra)).shape == (40, 1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "mlp"}, ValueError, "model 'mlp' is unknown"),
        ({"loss_form": "triplet"}, ValueError, "loss_form 'triplet' is unknown"),
        ({"augmentation_mode": "all"}, ValueError, "augmentation_mode 'all' is unknown"),
        ({"optimizer": "sgd"}, ValueError, "optimizer 'sgd' is unknown"),
        ({"alpha": -1.0}, ValueError, "alpha -1.0 is invalid"),
        ({"lr": 0.0}, ValueError, "lr 0.0 is invalid"),
        ({"radius": -0.5}, ValueError, "radius -0.5 is invalid"),
        ({"temperature": 0.0}, ValueError, "temperature 0.0 is invalid"),
        ({"augmentations": ["rotate"]}, ValueError, "augmentation 'rotate' is unknown"),
        ({"augmentations": [{"max_shift_nm": 3}]}, ValueError, "augmentation .* is invalid"),
        ({"augmentations": [{"name": "band_erasure", "colour": 1}]}, ValueError, "band_erasure"),
        ({"wavelengths_nm": [500.0, 600.0]}, ValueError, f"2 wavelengths do not match in_bands={N_BANDS}"),
        ({"pretrain_epochs": -1}, ValueError, "pretrain_epochs -1 is invalid"),
        ({"pretrain_epochs": 2.5}, ValueError, "pretrain_epochs 2.5 is invalid: use a whole number of epochs"),
    ],
)
def test_invalid_options_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        ContrastiveRegressionTask(**({"in_bands": N_BANDS, "num_outputs": 3} | kwargs))


def test_spectra_dataset_and_datamodule_errors():
    with pytest.raises(ValueError, match=r"spectra \(4, 3\) and targets \(5,\) do not match"):
        SpectraDataset(np.zeros((4, 3)), np.zeros(5))
    data = SpectraDataModule((np.zeros((4, 3)), np.zeros(4)))
    with pytest.raises(ValueError, match="no test set was given"):
        data.test_dataloader()
    sample = SpectraDataset(np.ones((2, 3)), np.arange(2.0))[1]
    assert sample["image"].dtype == torch.float32 and sample["label"].item() == 1.0


def test_fit_without_a_validation_set_trains_and_skips_validation():
    spectra, abundances = _mixtures(48)
    data = SpectraDataModule((spectra, abundances), batch_size=16)
    assert data.val_dataloader() == []
    task = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3, alpha=0.0)
    before = {k: v.clone() for k, v in task.state_dict().items()}
    trainer = _trainer(max_epochs=2)
    trainer.fit(task, data)
    assert trainer.current_epoch == 2 and "val_loss" not in trainer.callback_metrics
    assert any(not torch.equal(before[k], v) for k, v in task.state_dict().items())


def _fit_predict(spectra: np.ndarray, abundances: np.ndarray, standardise: bool) -> tuple[object, np.ndarray]:
    pl.seed_everything(0, verbose=False)
    task = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3, alpha=0.0, standardise=standardise)
    _trainer(max_epochs=2).fit(task, SpectraDataModule((spectra, abundances), batch_size=16))
    with torch.no_grad():
        return task, task.eval()(torch.from_numpy(spectra)).numpy()


def test_standardise_fits_the_training_statistics_and_removes_the_input_unit():
    spectra, abundances = _mixtures(48)
    half = spectra * np.float32(0.5)  # a power of two: the standardised inputs are bit-identical
    task, full_prediction = _fit_predict(spectra, abundances, standardise=True)
    half_task, half_prediction = _fit_predict(half, abundances, standardise=True)
    for fitted, x in ((task, spectra), (half_task, half)):
        assert bool(fitted.model.standardisation.fitted)
        np.testing.assert_allclose(fitted.model.standardisation.mean.numpy(), x.astype(np.float64).mean(0), rtol=1e-6)
        np.testing.assert_allclose(fitted.model.standardisation.scale.numpy(), x.astype(np.float64).std(0), rtol=1e-6)
    np.testing.assert_array_equal(half_prediction, full_prediction)
    # The control: on raw spectra the same halving changes what the network learns.
    _, raw_full = _fit_predict(spectra, abundances, standardise=False)
    _, raw_half = _fit_predict(half, abundances, standardise=False)
    assert not np.allclose(raw_full, raw_half, atol=1e-4)


def test_input_standardisation_is_applied_before_the_extractor_and_kept_in_the_state_dict():
    spectra, abundances = _mixtures(40)
    task = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3).eval()
    x = torch.from_numpy(spectra)
    with torch.no_grad():
        np.testing.assert_array_equal(task(x).numpy(), task.model.head(task.model.extractor(x)).numpy())  # identity
        task.model.fit_input_standardisation(spectra)
        z = (spectra - spectra.astype(np.float64).mean(0)) / spectra.astype(np.float64).std(0)
        expected = task.model.head(task.model.extractor(torch.from_numpy(z.astype(np.float32))))
        np.testing.assert_allclose(task(x).numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
        restored = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3).eval()
        restored.load_state_dict(task.state_dict())
        np.testing.assert_array_equal(restored(x).numpy(), task(x).numpy())
    # Statistics set by hand are kept by fit(standardise=True).
    other = _mixtures(40, seed=3)[0] * 2.0
    preset = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3, alpha=0.0, standardise=True)
    preset.model.fit_input_standardisation(other)
    _trainer(max_epochs=1).fit(preset, SpectraDataModule((spectra, abundances), batch_size=16))
    np.testing.assert_allclose(preset.model.standardisation.mean.numpy(), other.astype(np.float64).mean(0), rtol=1e-6)


def test_input_standardisation_errors():
    spectra, abundances = _mixtures(40)
    task = ContrastiveRegressionTask(in_bands=N_BANDS, num_outputs=3, standardise=True)
    with pytest.raises(ValueError, match=rf"spectra of shape \(40, 5\) do not fit a model for {N_BANDS} bands"):
        task.model.fit_input_standardisation(spectra[:, :5])
    broken = spectra.copy()
    broken[3, 7] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        task.model.fit_input_standardisation(broken)
    assert not bool(task.model.standardisation.fitted)
    from eospec.models.feature_extractors import ContrastiveRegressor

    bare = torch.nn.Linear(N_BANDS, 8)
    bare.out_features = 8  # an extractor without in_bands: no standardisation to fit
    regressor = ContrastiveRegressor(bare, 3)
    with torch.no_grad():
        x = torch.from_numpy(spectra)
        torch.testing.assert_close(regressor(x), regressor.head(bare(x)))  # the identity
    with pytest.raises(ValueError, match="extractor Linear has no in_bands: set it to the number of bands B"):
        regressor.fit_input_standardisation(spectra)
    loader = torch.utils.data.DataLoader(SpectraDataset(spectra, abundances), batch_size=16)  # no data module
    with pytest.raises(ValueError, match=r"call fit_input_standardisation\(train_spectra\) on the model first"):
        _trainer(max_epochs=1).fit(task, train_dataloaders=loader)


@pytest.mark.shared_data
def test_quick_synthetic_study_runs(shared_data, tmp_path, monkeypatch):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    import yaml

    monkeypatch.setenv("EOSPEC_SHARED_DATA", str(shared_data))
    recipes = Path(__file__).resolve().parents[2] / "recipes" / "contrastive"
    spec = importlib.util.spec_from_file_location("run_study", recipes / "run_study.py")
    run_study = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_study", run_study)  # dataclasses look their module up
    spec.loader.exec_module(run_study)
    out = tmp_path / "quick.json"
    argv = ["--config", str(recipes / "synthetic.yaml"), "--quick", "--epochs", "1"]
    assert run_study.main([*argv, "--variants", "baseline,spectral_shift", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert [r["variant"] for r in record["results"]] == ["baseline", "spectral_shift"]
    baseline, shift = record["results"]
    config = yaml.safe_load((recipes / "synthetic.yaml").read_text())
    assert baseline["task"]["alpha"] == 0.0
    assert shift["task"]["augmentations"] == config["variants"]["spectral_shift"]["augmentations"]
    for result in record["results"]:
        assert [run["seed"] for run in result["runs"]] == [0, 1]
        assert all(np.isfinite(run["test_R2"]) and run["test_MAE"] > 0 for run in result["runs"])

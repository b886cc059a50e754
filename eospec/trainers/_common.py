"""Private helpers shared by the trainers of :mod:`eospec.trainers` (option checks, metric splits, loaders)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchmetrics import MetricCollection


def check_band_stats(band_mean: Sequence[float] | None, band_std: Sequence[float] | None) -> None:
    """Check that per-band statistics come together.

    Args:
        band_mean: per-band input mean (B,) in reflectance, or None.
        band_std: per-band input standard deviation (B,) in reflectance, or None.

    Raises:
        ValueError: If exactly one of them is None.
    """
    if (band_mean is None) != (band_std is None):
        raise ValueError("give both band_mean and band_std (per-band reflectance statistics) or neither")


def training_spectra(task: Any, what: str, fit_method: str, datamodules: str) -> Tensor:
    """The training spectra of the data module a task is being fitted with (to fit its input standardisation).

    Args:
        task: a Lightning module attached to a trainer.
        what: the model, as the error message names it.
        fit_method: the model's method that sets the statistics by hand, for the message.
        datamodules: the data modules that provide ``train_dataset.spectra``, for the message.

    Returns:
        The ``train_dataset.spectra`` tensor (N, B) of the trainer's data module.

    Raises:
        ValueError: If the task has no trainer with such a data module.
    """
    trainer = getattr(task, "_trainer", None)
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    dataset = getattr(datamodule, "train_dataset", None)
    spectra = getattr(dataset, "spectra", None)
    if not isinstance(spectra, Tensor):
        raise ValueError(
            f"the {what} has no input standardisation and the data module has no train_dataset.spectra to fit "
            f"it from: call {fit_method}(train_spectra) on the model first, or fit with {datamodules}"
        )
    return spectra


def split_metrics(metrics: MetricCollection) -> tuple[MetricCollection, MetricCollection, MetricCollection]:
    """Prefixed clones of ``metrics`` for the three stages.

    Args:
        metrics: the metrics to clone.

    Returns:
        ``(train, val, test)`` collections with prefixes ``train_``, ``val_`` and ``test_``.
    """
    return metrics.clone(prefix="train_"), metrics.clone(prefix="val_"), metrics.clone(prefix="test_")


class EvaluationSteps:
    """Mixin: ``validation_step`` and ``test_step`` log ``self._evaluate(batch, "val" | "test")``.

    Put it before TorchGeo's ``BaseTask`` in the bases of a task that defines ``_evaluate``.
    """

    def _evaluate(self, batch: Any, prefix: str) -> None:
        raise NotImplementedError

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Log the validation metrics of a batch.

        Args:
            batch: a batch of the task's data module.
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.
        """
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Log the test metrics of a batch.

        Args:
            batch: a batch of the task's data module.
            batch_idx: index of the batch.
            dataloader_idx: index of the dataloader.
        """
        self._evaluate(batch, "test")


class SplitLoadersDataModule(LightningDataModule):
    """Data module over in-memory train/val/test datasets (subclasses set the three datasets).

    Args:
        batch_size: training batch size.
        eval_batch_size: validation/test/prediction batch size.
        num_workers: DataLoader worker processes.
    """

    train_dataset: Dataset[dict[str, Tensor]]
    val_dataset: Dataset[dict[str, Tensor]] | None
    test_dataset: Dataset[dict[str, Tensor]] | None
    #: Completes the message raised for a missing split: ``f"no {what} set was given: pass {what}{missing_hint}"``.
    missing_hint = "=... to the data module"

    def __init__(self, batch_size: int, eval_batch_size: int, num_workers: int) -> None:
        super().__init__()
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.num_workers = int(num_workers)

    def set_splits(
        self,
        dataset_class: Callable[..., Dataset[dict[str, Tensor]]],
        train: Sequence[Any],
        val: Sequence[Any] | None,
        test: Sequence[Any] | None,
    ) -> None:
        """Build the datasets from argument tuples, e.g. ``(spectra, targets)``; None leaves a split out.

        Args:
            dataset_class: the dataset type, called with each tuple's items.
            train: arguments of the training set.
            val: arguments of the validation set, or None.
            test: arguments of the test set, or None.
        """
        self.train_dataset = dataset_class(*train)
        self.val_dataset = dataset_class(*val) if val is not None else None
        self.test_dataset = dataset_class(*test) if test is not None else None

    def train_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        """Shuffled training batches (the last incomplete batch is dropped when there are several)."""
        size = len(self.train_dataset)  # type: ignore[arg-type]
        return DataLoader(
            self.train_dataset,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=size > self.batch_size,
            num_workers=self.num_workers,
        )

    def _eval_loader(self, dataset: Dataset[dict[str, Tensor]] | None, what: str) -> DataLoader[dict[str, Tensor]]:
        if dataset is None:
            raise ValueError(f"no {what} set was given: pass {what}{self.missing_hint}")
        return DataLoader(dataset, batch_size=self.eval_batch_size, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader[dict[str, Tensor]] | list[DataLoader[dict[str, Tensor]]]:
        """Validation batches, in order; without a val set an empty list, so Lightning skips validation."""
        if self.val_dataset is None:
            return []
        return self._eval_loader(self.val_dataset, "val")

    def test_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        """Test batches, in order."""
        return self._eval_loader(self.test_dataset, "test")

    def predict_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        """Test batches, in order (for ``Trainer.predict``)."""
        return self._eval_loader(self.test_dataset, "test")

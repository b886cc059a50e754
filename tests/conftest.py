"""Shared pytest fixtures."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eospec.datasets.utils import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``$EOSPEC_SHARED_DATA`` or ``<repo>/../shared/data``); skips if absent."""
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("real data not found: set EOSPEC_SHARED_DATA or put it in <repo>/../shared/data")
    return folder


ENMAP_FIXTURES = Path(__file__).parent / "data" / "enmap"


def run_cli(*args: str) -> tuple[int, str]:
    """Invoke ``eospec ARGS...`` through click; return (exit code, output), asserting no traceback was printed."""
    from click.testing import CliRunner

    from eospec.cli.main import cli

    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def write_linear_model(
    folder: Path,
    seed: int = 0,
    valid_range: tuple[float, float] = (-1e6, 1e6),
    epo: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Path, np.ndarray, float]:
    """A linear :class:`SpectralRegressor` on the 202 EnMAP default bands, saved as a model .json.

    Returns the .json path, the per-band coefficients (on reflectance 0-1) and the intercept, so
    that tests can compute the expected map independently with numpy. With ``epo`` (mean (202,),
    orthonormal basis (202, g)) the model holds that EPO step in front: the coefficients then act
    on the projected reflectance.
    """
    import json

    import torch

    from eospec.models.spectral import SpectralRegressor
    from eospec.sensors import ENMAP_DEFAULT_BANDS, enmap

    wavelengths = enmap().wavelengths_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]
    generator = np.random.default_rng(seed)
    coefficients = generator.normal(0.0, 1.0, wavelengths.size)
    intercept = 7.5
    mean = generator.uniform(0.1, 0.3, wavelengths.size)
    scale = generator.uniform(0.05, 0.2, wavelengths.size)
    module = SpectralRegressor(wavelengths.size, (), 1, epo_components=0 if epo is None else epo[1].shape[1])
    if epo is not None:
        module.set_epo(*epo)
    with torch.no_grad():
        module.input_mean.copy_(torch.from_numpy(mean))
        module.input_scale.copy_(torch.from_numpy(scale))
        # y = sum(w_b * (x_b - mean_b) / scale_b) + c  ==  sum(coefficients_b * x_b) + intercept
        module.layers[0].weight.copy_(torch.from_numpy(coefficients * scale)[None, :])
        module.layers[0].bias.fill_(intercept + float(coefficients @ mean))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(module.state_dict(), folder / "linear.pt")
    metadata = {
        "name": "linear",
        "version": "test",
        "property": "soc",
        "long_name": "test linear model",
        "unit": "g/kg",
        "sensor": "enmap",
        "band_wavelengths_nm": wavelengths.tolist(),
        "architecture": {
            "type": "spectral_regressor",
            "hidden": [],
            "n_outputs": 1,
            "transform": "reflectance",
            "snv": False,
            "epo_components": 0 if epo is None else int(epo[1].shape[1]),
        },
        "valid_range": list(valid_range),
        "weights": "linear.pt",
    }
    path = folder / "linear.json"
    path.write_text(json.dumps(metadata))
    return path, coefficients, intercept


@pytest.fixture()
def linear_model(tmp_path: Path) -> tuple[Path, np.ndarray, float]:
    """A linear test model whose predictions are computable with numpy."""
    return write_linear_model(tmp_path / "model")


ENMAP_EXPECTED: dict = __import__("json").loads((ENMAP_FIXTURES / "expected.json").read_text())


def enmap_reference() -> np.ndarray:
    """Reflectance the fixture generator wrote: DN / 10000 read straight from the DLR GeoTIFF, with
    the nodata pixels, all-zero pixels and bad bands set to NaN from expected.json."""
    import rasterio

    product = ENMAP_EXPECTED["product"]
    with rasterio.open(ENMAP_FIXTURES / product / f"{product}-SPECTRAL_IMAGE.TIF") as dataset:
        reflectance = dataset.read().astype(np.float32) / np.float32(ENMAP_EXPECTED["reflectance_scale"])
    for row, col in ENMAP_EXPECTED["nodata_pixels"] + ENMAP_EXPECTED["zero_pixels"]:
        reflectance[:, row, col] = np.nan
    reflectance[np.asarray(ENMAP_EXPECTED["bad_bands"]) - 1] = np.nan
    return reflectance


def enmap_cloud_block() -> np.ndarray:
    """The pixels the fixture's QL_QUALITY_CLOUD flags, shape (H, W)."""
    block = np.zeros(tuple(ENMAP_EXPECTED["size"]), dtype=bool)
    (r0, r1), (c0, c1) = ENMAP_EXPECTED["cloud_rows"], ENMAP_EXPECTED["cloud_cols"]
    block[r0:r1, c0:c1] = True
    return block


@contextlib.contextmanager
def one_thread(seed: int | None = None, quiet_lightning: bool = True, ignore: tuple[str, ...] = ()) -> Iterator[None]:
    """Run tiny torch models on one thread (the machine's cores are shared), restoring the count afterwards.

    Args:
        seed: ``torch.manual_seed`` to set first, or None.
        quiet_lightning: lower the ``lightning.pytorch`` logger to ERROR.
        ignore: warning message regexes ignored inside the block.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    if seed is not None:
        torch.manual_seed(seed)
    if quiet_lightning:
        logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for message in ignore:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        torch.set_num_threads(threads)


def quiet_trainer(**kwargs: Any) -> Any:
    """A CPU ``lightning.pytorch.Trainer`` without logger, checkpoints, progress bar or summary; ``kwargs`` override."""
    import lightning.pytorch as pl

    settings = {
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    } | kwargs
    return pl.Trainer(**settings)


RECIPES = Path(__file__).resolve().parents[1] / "recipes"
CONTRASTIVE_RECIPES = RECIPES / "contrastive"


def _exec_script(name: str, path: Path, register: bool) -> Any:
    """Execute the script ``path`` as a module named ``name``, registered in ``sys.modules`` if ``register``."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_recipe(name: str) -> Any:
    """Import the script ``recipes/NAME.py`` as the module ``NAME`` (registered in ``sys.modules``)."""
    return _exec_script(name, RECIPES / f"{name}.py", register=True)


def import_contrastive_recipe(monkeypatch: pytest.MonkeyPatch, name: str) -> Any:
    """Import the script ``recipes/contrastive/NAME.py`` as a module, with a fresh ``run_study`` beside it.

    The caller should drop ``run_study`` from ``sys.modules`` when done (the scripts import it by name);
    the :func:`contrastive_recipe` fixture does.
    """
    import sys

    monkeypatch.syspath_prepend(str(CONTRASTIVE_RECIPES))
    monkeypatch.delitem(sys.modules, "run_study", raising=False)
    return _exec_script(name, CONTRASTIVE_RECIPES / f"{name}.py", register=False)


@pytest.fixture
def contrastive_recipe(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A function ``NAME -> module`` importing ``recipes/contrastive/NAME.py``; drops ``run_study`` afterwards."""
    import sys

    yield lambda name: import_contrastive_recipe(monkeypatch, name)
    sys.modules.pop("run_study", None)

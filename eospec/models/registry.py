"""Registry of the models bundled with eospec (plain dicts with ``get_*``/``list_*`` helpers).

Each bundled model is a pair of files in ``eospec/models/weights/``: ``<name>.json`` (metadata)
and the weights file it names: a ``.safetensors`` file of the model's ``state_dict`` (no code can
run on load, and NumPy reads it without torch), or a ``.pt`` ``state_dict`` loaded with
``weights_only=True``. The metadata keys are:

``name``, ``version``, ``description``, ``property`` (e.g. ``"soc"``), ``long_name``, ``unit``
(e.g. ``"g/kg"``), ``sensor``, ``band_wavelengths_nm`` (the model's B input bands),
``input`` (what the model expects, e.g. bottom-of-atmosphere reflectance 0-1),
``architecture`` (``{"type": "spectral_regressor", "hidden": [...], "n_outputs": 1,
"transform": ..., "snv": ..., "epo_components": g}``; g > 0 for a model with an EPO step, 0 or
absent otherwise), ``preprocessing`` (text), ``valid_range`` ([min, max] in
``unit``: predictions outside are flagged), ``training_data`` (list of {name, n, licence,
source}), ``licence``, ``cross_validation`` ({rmse, r2, rpiq, n, folds, scheme}; the SOC model
adds ``mixtures``, the same metrics on its soil-plant mixtures), ``weights`` (file name) and
``recipe`` (the command that rebuilds it). A model trained on soil-plant mixtures says how in
``plant_mixtures``; a model with an EPO step says how it was fitted and g chosen in ``epo``.

Embedding encoders (``eospec embed``) carry ``task``: ``"embedding"`` (property models have no
``task`` or ``"property"``), ``kind``: ``"spectral"`` (per-pixel spectra, e.g. the ``vae_enmap``
:class:`~eospec.models.vae.SpectralVAE`) or ``"patch"`` (image patches), ``latent_dim``, an
``architecture`` of type ``"spectral_vae"`` (:meth:`~eospec.models.vae.SpectralVAE.architecture`)
and ``reconstruction`` (held-out reconstruction error in the input quantity) instead of
``property``, ``unit``, ``valid_range`` and ``cross_validation``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UnknownModelError

if TYPE_CHECKING:
    from .runtime import NumpySpectralRegressor
    from .spectral import SpectralRegressor
    from .vae import SpectralVAE

__all__ = [
    "BundledModel",
    "list_models",
    "get_model",
    "get_model_metadata",
    "load_model_file",
    "load_numpy_model",
    "load_weights",
    "resolve_model",
]

_WEIGHTS_PACKAGE = "eospec.models.weights"


@dataclass
class BundledModel:
    """A loaded model with its metadata.

    Attributes:
        name: registry name.
        module: the model, in eval mode, on the CPU (a :class:`~eospec.models.vae.SpectralVAE` for
            embedding encoders).
        metadata: the metadata dictionary (see the module docstring).
        band_wavelengths_nm: the B input band centres in nm.
    """

    name: str
    module: SpectralRegressor | SpectralVAE
    metadata: dict[str, Any]
    band_wavelengths_nm: list[float] = field(default_factory=list)

    @property
    def unit(self) -> str:
        """Unit of the predicted property, e.g. ``"g/kg"``."""
        return str(self.metadata.get("unit", ""))


def _weights_folder() -> Path:
    return Path(str(resources.files(_WEIGHTS_PACKAGE)))


@functools.cache
def _catalogue() -> dict[str, Path]:
    return {path.stem: path for path in sorted(_weights_folder().glob("*.json"))}


def list_models(task: str | None = None) -> list[str]:
    """Names of the bundled models, sorted.

    Args:
        task: only models of this task: ``"property"`` (property maps, ``eospec map``) or
            ``"embedding"`` (encoders, ``eospec embed``); None for all.

    Returns:
        The registry names, e.g. ``["soc", "vae_enmap"]``.
    """
    names = list(_catalogue())
    if task is None:
        return names
    return [name for name in names if model_task(get_model_metadata(name)) == task]


def model_task(metadata: dict[str, Any]) -> str:
    """The task of a model from its metadata: ``"embedding"`` or ``"property"`` (the default).

    Args:
        metadata: the model's metadata.

    Returns:
        The ``task`` entry, ``"property"`` when absent.
    """
    return str(metadata.get("task", "property"))


def get_model_metadata(name: str) -> dict[str, Any]:
    """Metadata of a bundled model, without loading its weights.

    Args:
        name: registry name, one of :func:`list_models`.

    Returns:
        The metadata dictionary.

    Raises:
        UnknownModelError: If ``name`` is not a bundled model.
    """
    catalogue = _catalogue()
    if name not in catalogue:
        raise UnknownModelError(f"Unknown model: {name!r}. Must be one of {list(catalogue)} (see 'eospec models')")
    metadata: dict[str, Any] = json.loads(catalogue[name].read_text())
    return metadata


def load_weights(weights_path: Path) -> dict[str, np.ndarray]:
    """Read a model's weights as float32 NumPy arrays, without importing torch for safetensors.

    Args:
        weights_path: a ``.safetensors`` file (preferred) or a ``.pt`` ``state_dict`` (loaded with
            ``weights_only=True``, so no pickled code runs).

    Returns:
        Parameter name -> array, the names of :class:`~eospec.models.spectral.SpectralRegressor`.

    Raises:
        FileNotFoundError: If the file is missing.
    """
    if not weights_path.is_file():
        raise FileNotFoundError(f"Model weights not found: {str(weights_path)!r}")
    if weights_path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return {name: value.astype(np.float32, copy=False) for name, value in load_file(weights_path).items()}
    import torch

    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    return {name: value.float().numpy() for name, value in state.items()}


def load_model_file(metadata: dict[str, Any], weights_path: Path) -> SpectralRegressor | SpectralVAE:
    """Build the torch module a model's metadata describes and load its weights safely.

    Args:
        metadata: the model's metadata (``architecture`` and ``band_wavelengths_nm`` are used).
        weights_path: ``.safetensors`` or ``.pt`` weights (see :func:`load_weights`).

    Returns:
        The model in eval mode: a :class:`SpectralRegressor` (architecture type
        ``"spectral_regressor"``) or a :class:`~eospec.models.vae.SpectralVAE` (``"spectral_vae"``).

    Raises:
        ValueError: If the architecture type is unknown.
        FileNotFoundError: If the weights file is missing.
    """
    import torch

    from .spectral import SpectralRegressor

    if metadata.get("architecture", {}).get("type") == "spectral_vae":
        from .vae import SpectralVAE

        vae = SpectralVAE.from_architecture(metadata["architecture"], len(metadata["band_wavelengths_nm"]))
        vae.load_state_dict({name: torch.from_numpy(value) for name, value in load_weights(weights_path).items()})
        return vae.eval()
    architecture = _architecture(metadata)
    module = SpectralRegressor(
        n_bands=len(metadata["band_wavelengths_nm"]),
        hidden=tuple(architecture.get("hidden", ())),
        n_outputs=int(architecture.get("n_outputs", 1)),
        transform=architecture.get("transform", "reflectance"),
        snv=bool(architecture.get("snv", False)),
        epo_components=int(architecture.get("epo_components", 0)),
    )
    state = {name: torch.from_numpy(value) for name, value in load_weights(weights_path).items()}
    module.load_state_dict(state)
    return module.eval()


def load_numpy_model(metadata: dict[str, Any], weights_path: Path) -> NumpySpectralRegressor:
    """The same model as :func:`load_model_file`, as a NumPy runtime (no torch import).

    Args:
        metadata: the model's metadata.
        weights_path: ``.safetensors`` or ``.pt`` weights.

    Returns:
        The :class:`~eospec.models.runtime.NumpySpectralRegressor`.

    Raises:
        UnknownModelError: If the model is an embedding encoder (``task`` ``"embedding"``).
        ValueError: If the architecture type is unknown, or the weights' EPO step does not match
            the architecture's ``epo_components``.
        FileNotFoundError: If the weights file is missing.
    """
    from .runtime import NumpySpectralRegressor

    architecture = _architecture(metadata)
    runtime = NumpySpectralRegressor.from_state(
        load_weights(weights_path),
        transform=architecture.get("transform", "reflectance"),
        snv=bool(architecture.get("snv", False)),
    )
    expected = int(architecture.get("epo_components", 0))
    found = 0 if runtime.epo_basis is None else int(runtime.epo_basis.shape[1])
    if found != expected:
        raise ValueError(
            f"{weights_path} holds {found} EPO components but the metadata's architecture says {expected}: "
            "use the weights file written with this metadata"
        )
    return runtime


def _architecture(metadata: dict[str, Any]) -> dict[str, Any]:
    architecture: dict[str, Any] = metadata["architecture"]
    if model_task(metadata) == "embedding":
        name = metadata.get("name", "model")
        raise UnknownModelError(
            f"Model {name!r} is an embedding encoder, not a property model: embed with "
            f"'eospec embed --encoder {name}', or map with one of {list_models('property')}"
        )
    if architecture.get("type") != "spectral_regressor":
        raise ValueError(f"Unknown architecture type: {architecture.get('type')!r}. Must be 'spectral_regressor'")
    return architecture


def resolve_model(name: str) -> tuple[dict[str, Any], Path]:
    """Metadata and weights path of a bundled model or of a model ``.json`` file (no torch import).

    Args:
        name: registry name, one of :func:`list_models`, or the path of a model's ``.json``
            metadata file (its ``weights`` entry is resolved relative to that file), e.g. a model
            trained with a recipe.

    Returns:
        ``(metadata, weights_path)``.

    Raises:
        UnknownModelError: If ``name`` is neither a bundled model nor an existing ``.json`` file.
    """
    if name.endswith(".json"):
        path = Path(name)
        if not path.is_file():
            raise UnknownModelError(f"Model file not found: {name!r}. Give a bundled model name or a model .json")
        metadata: dict[str, Any] = json.loads(path.read_text())
        metadata.setdefault("name", path.stem)
        return metadata, path.parent / metadata["weights"]
    metadata = get_model_metadata(name)
    return metadata, _weights_folder() / metadata["weights"]


def get_model(name: str) -> BundledModel:
    """Load a bundled model, or a model from a metadata file.

    Args:
        name: see :func:`resolve_model`.

    Returns:
        The model and its metadata.

    Raises:
        UnknownModelError: If ``name`` is neither a bundled model nor an existing ``.json`` file.
    """
    metadata, weights = resolve_model(name)
    module = load_model_file(metadata, weights)
    label = name if not name.endswith(".json") else str(metadata["name"])
    return BundledModel(label, module, metadata, [float(w) for w in metadata["band_wavelengths_nm"]])

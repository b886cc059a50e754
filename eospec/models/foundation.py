"""Registry of SpectralEarth foundation models, and loading of the authors' checkpoints from local files.

A TorchGeo-style registry (plain dicts with ``get_*``/``list_*``): :data:`MODELS` maps
architecture names to builders of :mod:`eospec.models.backbones`, :data:`WEIGHTS` maps weight names
to :class:`FoundationWeights` entries describing the checkpoints released with Braham et al. (2024),
"SpectralEarth: Training Hyperspectral Foundation Models at Scale", IEEE JSTARS
(arXiv:2408.08447): their architecture, pretraining method, the file name in the authors' download
folder, and the input they expect (the 202 EnMAP default bands with their centre wavelengths in nm).
Nothing is downloaded: fetch the files from the authors' page (:data:`DOWNLOAD_PAGE`) and give their
local path.

**Checkpoint layouts** understood by :func:`load_spectralearth_checkpoint` (the authors' code,
github.com/AABNassim/spectral_earth):

* a plain ``state_dict`` of ``SpecResNet50`` / ``SpecViT*`` (``spectral_adapter.*``,
  ``resnet.*`` / ``vit_core.*``), as the released ``spec_rn50_moco.pth`` or ``spec_ViTs_mae.pth``
  are loaded by ``model.load_state_dict(torch.load(path), strict=False)``;
* a Lightning checkpoint of their pretraining modules (``{"state_dict": ...}``): MoCo
  (``backbone.*``, ``backbone_momentum.*``, ``projection_head*``), DINO (``teacher_backbone.*``,
  ``student_backbone.*``, heads), MAE (``encoder.vit.spec_vit.*``, where the spectral adapter also
  appears inside the patch embedding wrapper as ``vit_core.patch_embed.spectral_adapter.*`` and the
  projection as ``vit_core.patch_embed.original_patch_embed.proj.*``), and their fine-tuning
  modules (``model.encoder.*``);
* any of these with a DDP ``module.`` prefix, or saved as ``.safetensors``.

The encoder's keys are found by trying every prefix under which checkpoint keys match the model;
the best match wins, ties going to the query/teacher branch (``backbone.`` before
``backbone_momentum.``, ``teacher_backbone.`` before ``student_backbone.``), or pass ``prefix=``.
Keys of other branches, heads and decoders are reported as *ignored*. With ``strict=True`` (the
default) a model key missing from the checkpoint, a checkpoint key of the encoder's branch that
the model lacks, or a shape that differs raises :class:`~eospec.errors.CheckpointError` naming them;
ViT position embeddings made for another patch size are resampled (timm) and reported.

Files are read safely: ``.safetensors``, or ``torch.load(..., weights_only=True)``, which refuses a
pickle that would run code (:class:`~eospec.errors.CheckpointError`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from ..errors import CheckpointError, UnknownModelError
from ..sensors import ENMAP_DEFAULT_BANDS, enmap
from .backbones import (
    SpectralEarthEncoder,
    SpecViTEncoder,
    spec_resnet18,
    spec_resnet50,
    spec_vit_base,
    spec_vit_huge,
    spec_vit_large,
    spec_vit_small,
)

__all__ = [
    "DOWNLOAD_PAGE",
    "MODELS",
    "WEIGHTS",
    "FoundationWeights",
    "LoadReport",
    "encode_pixels",
    "get_foundation_model",
    "get_foundation_weights",
    "list_foundation_models",
    "list_foundation_weights",
    "load_input_statistics",
    "load_spectralearth_checkpoint",
    "read_checkpoint",
    "remap_spectralearth_keys",
    "save_checkpoint",
    "save_input_statistics",
]

#: Where the SpectralEarth authors share their pretrained checkpoints (from their README).
DOWNLOAD_PAGE = "https://syncandshare.desy.de/index.php/s/Po5bTPipz6EEHx3"
_PUBLICATION = "https://arxiv.org/abs/2408.08447"
_REPO = "https://github.com/AABNassim/spectral_earth"

#: Architecture name -> builder (keyword arguments override the sizes, e.g. for tiny test models).
MODELS: dict[str, Callable[..., SpectralEarthEncoder]] = {
    "spec_resnet50": spec_resnet50,
    "spec_resnet18": spec_resnet18,
    "spec_vit_small": spec_vit_small,
    "spec_vit_base": spec_vit_base,
    "spec_vit_large": spec_vit_large,
    "spec_vit_huge": spec_vit_huge,
}


def _band_names() -> tuple[str, ...]:
    return tuple(f"B{band}" for band in ENMAP_DEFAULT_BANDS)


def _band_centres() -> tuple[float, ...]:
    centres = enmap().wavelengths_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]
    return tuple(float(value) for value in centres)


_AUTHORS_INPUT = (
    "EnMAP L2A bottom-of-atmosphere reflectance at the 202 default bands (int16 x 10000 in the files), "
    "standardised band by band with the SpectralEarth statistics (data/statistics/mu.npy and sigma.npy of "
    f"{_REPO}, in digital numbers): load them with load_input_statistics() and pass statistics= to "
    "get_foundation_model; our encoders then take reflectance 0-1"
)


@dataclass(frozen=True)
class FoundationWeights:
    """A pretrained checkpoint: what it is, where to get it, and the input it expects.

    Attributes:
        name: registry name, e.g. ``"spec_vit_small_mae"``.
        model: architecture name in :data:`MODELS`.
        ssl_method: pretraining method (``"mae"``, ``"moco-v2"``, ``"dino"``).
        filename: the file's name in the authors' download folder, when known.
        url: the page to download it from (manually: nothing is downloaded here).
        bands: TorchGeo names of the input bands (the 202 EnMAP default bands), in order.
        wavelengths_nm: their centre wavelengths in nm (generic EnMAP L2A values).
        input: what the weights expect as input.
        model_kwargs: builder arguments the weights need (e.g. ``token_patch_size``).
        publication: the paper.
        repo: the authors' code.
    """

    name: str
    model: str
    ssl_method: str
    filename: str | None
    url: str = DOWNLOAD_PAGE
    bands: tuple[str, ...] = field(default_factory=_band_names)
    wavelengths_nm: tuple[float, ...] = field(default_factory=_band_centres)
    input: str = _AUTHORS_INPUT
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    publication: str = _PUBLICATION
    repo: str = _REPO

    @property
    def in_chans(self) -> int:
        """Number of input bands (202)."""
        return len(self.bands)

    @property
    def meta(self) -> dict[str, Any]:
        """The entry as a TorchGeo-style ``meta`` dictionary."""
        return {
            "model": self.model,
            "ssl_method": self.ssl_method,
            "in_chans": self.in_chans,
            "bands": list(self.bands),
            "wavelengths_nm": list(self.wavelengths_nm),
            "dataset": "SpectralEarth",
            "publication": self.publication,
            "repo": self.repo,
            "url": self.url,
            "filename": self.filename,
        }


def _weights(name: str, model: str, method: str, filename: str | None) -> FoundationWeights:
    kwargs = {"token_patch_size": 4, "img_size": 128} if model.startswith("spec_vit") else {}
    return FoundationWeights(name, model, method, filename, model_kwargs=kwargs)


#: Weight name -> entry (the checkpoints of the paper's model card; file names as distributed).
WEIGHTS: dict[str, FoundationWeights] = {
    entry.name: entry
    for entry in (
        _weights("spec_resnet50_moco", "spec_resnet50", "moco-v2", "spec_rn50_moco.pth"),
        _weights("spec_resnet50_dino", "spec_resnet50", "dino", "spec_rn50_dino.pth"),
        _weights("spec_vit_small_mae", "spec_vit_small", "mae", "spec_ViTs_mae.pth"),
        _weights("spec_vit_small_moco", "spec_vit_small", "moco-v2", None),
        _weights("spec_vit_small_dino", "spec_vit_small", "dino", None),
        _weights("spec_vit_base_mae", "spec_vit_base", "mae", "spec_ViTb_mae.pth"),
        _weights("spec_vit_large_mae", "spec_vit_large", "mae", "spec_ViTl_mae.pth"),
        _weights("spec_vit_huge_mae", "spec_vit_huge", "mae", "spec_ViTh_mae.pth"),
    )
}


def list_foundation_models() -> list[str]:
    """Architecture names, sorted.

    Returns:
        Names accepted by :func:`get_foundation_model`, e.g. ``"spec_vit_small"``.
    """
    return sorted(MODELS)


def list_foundation_weights(model: str | None = None) -> list[str]:
    """Names of the known pretrained checkpoints, optionally of one architecture.

    Args:
        model: an architecture name, or None for all.

    Returns:
        Sorted weight names, e.g. ``["spec_vit_small_dino", "spec_vit_small_mae", ...]``.
    """
    return sorted(name for name, entry in WEIGHTS.items() if model is None or entry.model == model)


def get_foundation_weights(name: str) -> FoundationWeights:
    """The entry of a pretrained checkpoint.

    Args:
        name: a name of :func:`list_foundation_weights`.

    Returns:
        The :class:`FoundationWeights`.

    Raises:
        UnknownModelError: If ``name`` is not a known checkpoint.
    """
    if name not in WEIGHTS:
        raise UnknownModelError(f"weights {name!r} are unknown: use one of {', '.join(map(repr, sorted(WEIGHTS)))}")
    return WEIGHTS[name]


def get_foundation_model(
    name: str,
    weights: str | os.PathLike[str] | None = None,
    *,
    statistics: str | os.PathLike[str] | tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    strict: bool = True,
    prefix: str | None = None,
    **kwargs: Any,
) -> SpectralEarthEncoder:
    """Build a SpectralEarth encoder, optionally with pretrained weights from a local file.

    Args:
        name: an architecture (:func:`list_foundation_models`, randomly initialised unless
            ``weights`` is given) or a checkpoint name (:func:`list_foundation_weights`, which then
            needs ``weights``: the path of the downloaded file).
        weights: path of a checkpoint in the authors' key layout or ours (module docstring):
            ``.safetensors``, or a torch file loaded with ``weights_only=True``.
        statistics: per-band input standardisation: a path for :func:`load_input_statistics`, or
            ``(mean, std)`` arrays (B,) in reflectance units.
        strict: raise if keys or shapes do not match (see :func:`load_spectralearth_checkpoint`).
        prefix: the checkpoint prefix of the encoder's keys (default: found automatically).
        **kwargs: builder arguments (e.g. ``embed_dim=32, depth=1`` for tiny test models).

    Returns:
        The encoder (train mode, CPU). ``encoder.foundation_weights`` holds the
        :class:`FoundationWeights` entry (or None) and ``encoder.load_report`` the
        :class:`LoadReport` (or None).

    Raises:
        UnknownModelError: If ``name`` is neither an architecture nor a checkpoint name.
        CheckpointError: If a checkpoint name is given without ``weights``, or the file cannot be
            loaded safely or does not fit (``strict``).
        FileNotFoundError: If ``weights`` does not exist.
    """
    entry: FoundationWeights | None = None
    if name in WEIGHTS:
        entry = WEIGHTS[name]
        if weights is None:
            where = f"'{entry.filename}'" if entry.filename else "the checkpoint"
            raise CheckpointError(
                f"weights {name!r} are not bundled with eospec: download {where} from {entry.url} and pass "
                "weights='path/to/file' (or use the architecture name "
                f"{entry.model!r} for a randomly initialised model)"
            )
        arch = entry.model
        kwargs = dict(entry.model_kwargs) | kwargs
    elif name in MODELS:
        arch = name
    else:
        raise UnknownModelError(
            f"foundation model {name!r} is unknown: use an architecture ({', '.join(map(repr, sorted(MODELS)))}) "
            f"or a checkpoint ({', '.join(map(repr, sorted(WEIGHTS)))})"
        )
    encoder = MODELS[arch](**kwargs)
    report = None
    if weights is not None:
        report = load_spectralearth_checkpoint(encoder, weights, strict=strict, prefix=prefix)
    if statistics is not None:
        mean, std = load_input_statistics(statistics) if isinstance(statistics, str | os.PathLike) else statistics
        encoder.set_input_statistics(mean, std)
    encoder.foundation_weights = entry
    encoder.load_report = report
    return encoder


# -- checkpoints --------------------------------------------------------------------------------


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a checkpoint's tensors safely, unwrapping Lightning/DINO containers.

    Args:
        path: ``.safetensors``, or a file of ``torch.save`` (a ``state_dict``, or a dict holding one
            under ``"state_dict"``, ``"model"``, ``"teacher"``, ``"student"`` or ``"encoder"``).

    Returns:
        Key -> tensor, with DDP ``module.`` prefixes removed.

    Raises:
        FileNotFoundError: If the file is missing.
        CheckpointError: If the file is a pickle that needs code to load (refused by
            ``weights_only=True``) or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        raw: Any = load_file(str(path))
    else:
        import pickle

        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise CheckpointError(
                f"refusing to load {str(path)!r}: it holds pickled objects other than tensors, which could run "
                "code (torch.load(weights_only=True) failed). If you trust its source, re-save its tensors: "
                "torch.save(torch.load(path, weights_only=False)['state_dict'], 'clean.pt'), or convert it to "
                f".safetensors. Detail: {str(error).splitlines()[0]}"
            ) from error
    state = _unwrap(raw)
    if not state:
        raise CheckpointError(f"{str(path)!r} holds no tensors: expected a state_dict (key -> tensor)")
    return {key.removeprefix("module."): value for key, value in state.items()}


def _unwrap(raw: Any) -> dict[str, Tensor]:
    if isinstance(raw, Mapping):
        tensors = {str(k): v for k, v in raw.items() if isinstance(v, Tensor)}
        if tensors and len(tensors) >= len(raw) / 2:
            return tensors
        for key in ("state_dict", "model", "teacher", "student", "encoder", "backbone"):
            if isinstance(raw.get(key), Mapping):
                inner = _unwrap(raw[key])
                if inner:
                    return inner
        return tensors
    return {}


def _canonical(key: str) -> str:
    """Map the authors' MAE wrapper names to the plain encoder names."""
    for old, new in (
        ("vit_core.patch_embed.spectral_adapter.", "spectral_adapter."),
        ("vit_core.patch_embed.original_patch_embed.", "vit_core.patch_embed."),
    ):
        if key.startswith(old):
            return new + key[len(old) :]
    return key


_HEAD_KEYS = ("vit_core.head.", "resnet.fc.", "vit_core.fc_norm.")
#: Preferred branches on ties (earlier wins); other prefixes come after, shortest first.
_PREFERRED = ("", "backbone.", "teacher_backbone.", "encoder.vit.spec_vit.", "model.encoder.", "encoder.")


def _candidate_prefixes(keys: list[str], model_keys: set[str]) -> dict[str, int]:
    """For every prefix (cut at a dot) under which checkpoint keys name model keys, how many do."""
    names: dict[str, set[str]] = {}
    for key in keys:
        cuts = [0] + [i + 1 for i, char in enumerate(key) if char == "."]
        for cut in cuts:
            name = _canonical(key[cut:])
            if name in model_keys:
                names.setdefault(key[:cut], set()).add(name)
    return {prefix: len(found) for prefix, found in names.items()}


def _rank(prefix: str) -> tuple[int, int, str]:
    preferred = _PREFERRED.index(prefix) if prefix in _PREFERRED else len(_PREFERRED)
    penalty = 1 if ("momentum" in prefix or "student" in prefix) else 0
    return (penalty, preferred, f"{len(prefix):06d}{prefix}")


def remap_spectralearth_keys(
    state: Mapping[str, Tensor], model_keys: set[str] | list[str], prefix: str | None = None
) -> tuple[dict[str, Tensor], list[str], str]:
    """Pick the encoder's keys out of a checkpoint and rename them to the model's names.

    Args:
        state: checkpoint key -> tensor (see :func:`read_checkpoint`).
        model_keys: the ``state_dict`` keys of the target encoder.
        prefix: the prefix of the encoder's keys in ``state`` (e.g. ``"backbone."``); None finds
            it (module docstring).

    Returns:
        ``(mapped, ignored, prefix)``: model-named tensors of the chosen branch, the checkpoint
        keys left out (other branches, heads, decoders), and the prefix used.

    Raises:
        CheckpointError: If no key matches the model, or two checkpoint keys that map to the same
            model key hold different values.
    """
    wanted = set(model_keys)
    keys = list(state)
    if prefix is None:
        counts = _candidate_prefixes(keys, wanted)
        if not counts:
            raise CheckpointError(
                f"no checkpoint key matches the model: checkpoint keys look like {keys[:3]}, the model's like "
                f"{sorted(wanted)[:3]}: is this a SpectralEarth checkpoint of this architecture?"
            )
        best = max(counts.values())
        prefix = min((p for p, n in counts.items() if n == best), key=_rank)
    mapped: dict[str, Tensor] = {}
    ignored: list[str] = []
    for key in keys:
        if not key.startswith(prefix):
            ignored.append(key)
            continue
        name = _canonical(key[len(prefix) :])
        value = state[key]
        if name in mapped:
            if mapped[name].shape != value.shape or not torch.equal(mapped[name], value):
                raise CheckpointError(
                    f"checkpoint keys {key!r} and another spelling of {name!r} hold different tensors: "
                    "pass prefix= to choose the branch"
                )
            continue
        mapped[name] = value
    return mapped, ignored, prefix


@dataclass
class LoadReport:
    """What :func:`load_spectralearth_checkpoint` did.

    Attributes:
        path: the checkpoint file.
        prefix: the checkpoint prefix of the encoder's keys (``""`` for a plain ``state_dict``).
        loaded: model keys set from the checkpoint.
        missing: model keys absent from the checkpoint (left as initialised).
        unexpected: encoder-branch checkpoint keys the model lacks (not loaded).
        ignored: checkpoint keys of other branches, heads and decoders (not loaded).
        resized: keys resampled to the model's shape (ViT position embeddings).
    """

    path: str
    prefix: str
    loaded: list[str]
    missing: list[str]
    unexpected: list[str]
    ignored: list[str]
    resized: list[str]

    def summary(self) -> str:
        """One line: counts of loaded, missing, unexpected and ignored keys."""
        return (
            f"{len(self.loaded)} tensors loaded from {self.path} (prefix {self.prefix!r}); "
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, {len(self.ignored)} ignored, "
            f"{len(self.resized)} resized"
        )


def _resize_pos_embed(value: Tensor, target: Tensor, model: SpectralEarthEncoder) -> Tensor:
    from timm.layers import resample_abs_pos_embed

    prefix_tokens = model.num_prefix_tokens if isinstance(model, SpecViTEncoder) else 1
    side = int(round((target.shape[1] - prefix_tokens) ** 0.5))
    return resample_abs_pos_embed(value, new_size=[side, side], num_prefix_tokens=prefix_tokens)


def load_spectralearth_checkpoint(
    model: SpectralEarthEncoder,
    path: str | os.PathLike[str],
    strict: bool = True,
    prefix: str | None = None,
) -> LoadReport:
    """Load a checkpoint in the authors' (or our) key layout into an encoder.

    Args:
        model: the encoder (its architecture must match the checkpoint's).
        path: the checkpoint file (see :func:`read_checkpoint`).
        strict: raise when a model key is missing (batch-norm ``num_batches_tracked`` counters
            excepted), an encoder-branch key is unexpected (a classification head the model lacks
            excepted) or a shape differs (ViT position embeddings are resampled instead).
        prefix: see :func:`remap_spectralearth_keys`.

    Returns:
        The :class:`LoadReport`.

    Raises:
        FileNotFoundError: If the file is missing.
        CheckpointError: If the file is unsafe or, with ``strict``, does not fit; the message lists
            the first offending keys and how many there are.
    """
    state = read_checkpoint(path)
    own = model.state_dict()
    mapped, ignored, used_prefix = remap_spectralearth_keys(state, set(own), prefix)
    unexpected = sorted(key for key in mapped if key not in own)
    heads = [key for key in unexpected if key.startswith(_HEAD_KEYS)]
    unexpected = [key for key in unexpected if key not in heads]
    ignored = ignored + [used_prefix + key for key in heads]
    missing = sorted(key for key in own if key not in mapped and not key.endswith("num_batches_tracked"))
    resized: list[str] = []
    mismatched: list[str] = []
    loadable: dict[str, Tensor] = {}
    for key, value in mapped.items():
        if key not in own:
            continue
        target = own[key]
        if value.shape != target.shape:
            if key.endswith("pos_embed") and value.ndim == 3 and value.shape[-1] == target.shape[-1]:
                value = _resize_pos_embed(value, target, model)
                resized.append(key)
            else:
                mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(target.shape)}")
                continue
        loadable[key] = value.to(dtype=target.dtype)
    if strict and (missing or unexpected or mismatched):
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("mismatched", mismatched)):
            if items:
                parts.append(f"{len(items)} {label} (e.g. {', '.join(items[:5])})")
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not fit {model.arch} (prefix {used_prefix!r}): {'; '.join(parts)}. "
            "Check the architecture and its size arguments, or load with strict=False"
        )
    model.load_state_dict(loadable, strict=False)
    return LoadReport(str(path), used_prefix, sorted(loadable), missing, unexpected, sorted(ignored), resized)


def save_checkpoint(
    model: SpectralEarthEncoder, path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None
) -> Path:
    """Save an encoder's ``state_dict`` in the authors' key layout as ``.safetensors``.

    Args:
        model: the encoder.
        path: output file (``.safetensors``).
        metadata: string metadata stored in the file header (``arch`` is added).

    Returns:
        The path written.

    Raises:
        ValueError: If ``path`` does not end in ``.safetensors``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"checkpoint path {str(path)!r} must end in '.safetensors' (safe to load)")
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(path), metadata={"arch": model.arch, **(metadata or {})})
    return path


# -- input statistics ---------------------------------------------------------------------------


def load_input_statistics(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band input standardisation, in reflectance units.

    Args:
        path: an ``.npz`` with ``mean`` and ``std`` arrays (B,) in reflectance 0-1 (as
            :func:`save_input_statistics` writes), or a folder with the authors' ``mu.npy`` and
            ``sigma.npy`` (in int16 digital numbers, reflectance x 10000), divided by 10000 here.

    Returns:
        ``(mean, std)``, float64 arrays (B,).

    Raises:
        FileNotFoundError: If neither layout is found.
        ValueError: If the arrays are not 1-D of the same length, or a std is <= 0.
    """
    path = Path(path)
    if path.is_dir() and (path / "mu.npy").is_file() and (path / "sigma.npy").is_file():
        mean = np.load(path / "mu.npy", allow_pickle=False).astype(np.float64) / 10000.0
        std = np.load(path / "sigma.npy", allow_pickle=False).astype(np.float64) / 10000.0
    elif path.is_file() and path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            mean = archive["mean"].astype(np.float64)
            std = archive["std"].astype(np.float64)
    else:
        raise FileNotFoundError(
            f"input statistics not found at {str(path)!r}: give an .npz with 'mean' and 'std' (reflectance) or a "
            "folder with the authors' mu.npy and sigma.npy"
        )
    mean, std = mean.ravel(), std.ravel()
    if mean.shape != std.shape or not np.all(std > 0):
        raise ValueError(f"statistics in {str(path)!r} must be two (B,) arrays with std > 0")
    return mean, std


def save_input_statistics(path: str | os.PathLike[str], mean: npt.ArrayLike, std: npt.ArrayLike) -> Path:
    """Write per-band statistics (reflectance units) for :func:`load_input_statistics`.

    Args:
        path: output ``.npz``.
        mean: float array (B,).
        std: float array (B,), > 0.

    Returns:
        The path written.
    """
    path = Path(path)
    np.savez(path, mean=np.asarray(mean, dtype=np.float64), std=np.asarray(std, dtype=np.float64))
    return path


# -- per-pixel embeddings -----------------------------------------------------------------------


@torch.no_grad()
def encode_pixels(encoder: SpectralEarthEncoder, patches: Tensor | npt.ArrayLike, mode: str = "bilinear") -> Tensor:
    """Per-pixel embeddings of reflectance patches (the patch-encoder side of ``eospec embed``).

    NaN reflectance is replaced by the encoder's input mean (0 without statistics) before
    encoding; pixels NaN in every band get NaN embeddings. The encoder runs in eval mode (batch
    norm uses its running statistics) on the device of its parameters.

    Args:
        encoder: a SpectralEarth encoder.
        patches: float array (N, B, H, W), reflectance 0-1 at the encoder's bands (202).
        mode: upsampling of the feature map, ``"bilinear"`` or ``"nearest"``.

    Returns:
        Float32 tensor (N, D, H, W) on the CPU.
    """
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    x = torch.as_tensor(np.asarray(patches, dtype=np.float32) if not isinstance(patches, Tensor) else patches)
    x = x.to(device=device, dtype=torch.float32)
    missing = torch.isnan(x)
    invalid = missing.all(dim=1)
    if bool(missing.any()):
        fill = encoder.input_mean if encoder.input_mean is not None else torch.zeros(x.shape[1], device=device)
        x = torch.where(missing, fill[None, :, None, None].to(x.dtype), x)
    features = encoder.pixel_features(x, mode=mode).float()
    features = features.masked_fill(invalid[:, None], float("nan"))
    encoder.train(was_training)
    return features.cpu()

"""Encoders under benchmark: what ``--encoder`` accepts, and how a dataset's bands reach them.

``--encoder`` values (:func:`parse_encoder`):

* a bundled per-pixel encoder (``eospec models``, e.g. ``vae_enmap``, the default encoder of
  ``eospec embed``) or its ``.json``; each pixel's spectrum is encoded on its own;
* a patch encoder ``encoder.json`` written by ``recipes/spectralearth/pretrain.py``;
* a SpectralEarth architecture name (``spec_resnet50``, ``spec_vit_small``, ...): random weights;
* ``NAME=PATH``: a SpectralEarth architecture or published checkpoint name with a local checkpoint
  file (the authors' key layout or ours, loaded safely);
* ``random:NAME``: the architecture of ``NAME`` with random weights (seeded by the run's seed) and
  its input standardisation kept: the control for what pretraining adds;
* ``raw-rf`` and ``raw-logreg``: no encoder, a random forest or a multinomial logistic regression
  on each pixel's raw spectrum (:mod:`eospec.benchmark.baselines`).

Bands: every eospec encoder reads the 202 EnMAP default bands. A dataset on those bands is fed as
it is. Other sensors (DESIS, Hyperion) go, as configured by ``spectral_mode``:

* ``"adapter"``: their own bands straight into the spectral adapter of a SpectralEarth encoder
  (its 3-D convolutions and adaptive pooling over bands accept any band count of at least 75;
  Braham et al. 2024, Sec. III-B); the per-band input standardisation is then computed on the
  dataset's training split. Per-pixel encoders have no adapter and always use ``"resample"``;
* ``"resample"``: Gaussian spectral-response resampling to the EnMAP bands
  (:meth:`eospec.sensors.Sensor.resample_matrix`); EnMAP bands that the sensor does not cover
  (DESIS stops at 1000 nm) take the value of the nearest covered band, which is stated in the
  results (``bands_covered``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from eospec.benchmark.datasets import BenchmarkDataset
from eospec.errors import BenchmarkError, UnknownModelError

__all__ = [
    "BASELINES",
    "SPECTRAL_MODES",
    "BandMapper",
    "BenchmarkEncoder",
    "EncoderChoice",
    "PixelEncoder",
    "band_matrix",
    "build_encoder",
    "parse_encoder",
]

#: Raw-spectra baselines (no encoder).
BASELINES: tuple[str, ...] = ("raw-rf", "raw-logreg")
#: How a non-EnMAP dataset reaches an encoder.
SPECTRAL_MODES: tuple[str, ...] = ("adapter", "resample")


@dataclass(frozen=True)
class EncoderChoice:
    """A parsed ``--encoder`` value.

    Attributes:
        spec: the value as given.
        label: the name used in result tables and folders.
        kind: ``"spectral"`` (per-pixel), ``"patch"`` (SpectralEarth) or ``"baseline"``.
        base: the encoder name or path without ``random:`` or ``=PATH``.
        random_init: random weights (``random:`` or a bare architecture name).
        checkpoint: the checkpoint of ``NAME=PATH``, else None.
        metadata: the encoder's metadata (bands, statistics, ...).
    """

    spec: str
    label: str
    kind: str
    base: str
    random_init: bool = False
    checkpoint: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)


def _safe_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "encoder"


def parse_encoder(spec: str) -> EncoderChoice:
    """Parse an ``--encoder`` value (module docstring), checking that it can be loaded.

    Args:
        spec: the value.

    Returns:
        The :class:`EncoderChoice`.

    Raises:
        BenchmarkError: If the name is unknown, a checkpoint file does not exist, or the encoder is
            not an embedding encoder (the message lists what is accepted).
    """
    from eospec.embedding import resolve_encoder
    from eospec.models.foundation import MODELS, WEIGHTS

    text = spec.strip()
    if text in BASELINES:
        return EncoderChoice(text, text, "baseline", text)
    accepted = (
        "a bundled encoder (eospec models), an encoder .json, a SpectralEarth architecture "
        f"({', '.join(sorted(MODELS))}), NAME=PATH for a checkpoint, random:NAME, or {', '.join(BASELINES)}"
    )
    if "=" in text:
        name, _, path = text.partition("=")
        if name not in MODELS and name not in WEIGHTS:
            raise BenchmarkError(
                f"encoder {spec!r}: {name!r} is not a SpectralEarth architecture or checkpoint; use {accepted}"
            )
        checkpoint = Path(path).expanduser()
        if not checkpoint.is_file():
            raise BenchmarkError(f"encoder {spec!r}: the checkpoint {str(checkpoint)!r} does not exist")
        label = _safe_label(name if name in WEIGHTS else f"{name}-{checkpoint.stem}")
        return EncoderChoice(text, label, "patch", name, checkpoint=checkpoint)
    random_init = text.startswith("random:")
    base = text.removeprefix("random:")
    try:
        metadata, _ = resolve_encoder(base)
    except UnknownModelError as error:
        raise BenchmarkError(f"encoder {spec!r} is unknown ({error}); use {accepted}") from error
    kind = str(metadata.get("kind", "spectral"))
    if kind not in ("spectral", "patch"):
        raise BenchmarkError(f"encoder {spec!r} is of kind {kind!r}: the benchmark needs a per-pixel or patch encoder")
    bare_arch = kind == "patch" and not metadata.get("weights")
    name = str(metadata.get("name", Path(base).stem))
    label = _safe_label(f"random_{name}" if random_init else name)
    return EncoderChoice(text, label, kind, base, random_init or bare_arch, None, metadata)


class BandMapper(nn.Module):
    """A fixed linear map of the band axis, (N, B_in, H, W) -> (N, B_out, H, W).

    Args:
        matrix: float (B_out, B_in) weights (rows of a resampling matrix).
    """

    matrix: Tensor

    def __init__(self, matrix: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("matrix", torch.as_tensor(np.asarray(matrix, dtype=np.float32)))

    def forward(self, x: Tensor) -> Tensor:
        """Map the bands.

        Args:
            x: float (N, B_in, H, W).

        Returns:
            Float (N, B_out, H, W).
        """
        return torch.einsum("ob,nbhw->nohw", self.matrix, x)


def band_matrix(dataset: type[BenchmarkDataset], target_nm: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Resampling matrix from a dataset's bands to an encoder's (EnMAP) bands.

    Args:
        dataset: the dataset class.
        target_nm: the encoder's band centres in nm, (T,); they must be EnMAP bands.

    Returns:
        ``(matrix, covered)``: float64 (T, B) or None when the bands already match (to 0.5 nm),
        and the number of target bands that the dataset's sensor covers (the others copy the
        nearest covered band).

    Raises:
        BenchmarkError: If the target bands are not EnMAP bands, or the sensor covers none of them.
    """
    from eospec.sensors import get_sensor

    source = dataset.wavelengths_nm()
    target = np.asarray(target_nm, dtype=np.float64)
    if source.shape == target.shape and np.allclose(source, target, atol=0.5):
        return None, int(target.size)
    enmap = get_sensor("enmap")
    index = [int(np.argmin(np.abs(enmap.wavelengths_nm - nm))) for nm in target]
    if not np.allclose(enmap.wavelengths_nm[index], target, atol=0.5):
        raise BenchmarkError("the encoder's bands are not EnMAP bands: resampling to them is not supported")
    matrix = np.array(enmap.subset(index).resample_matrix(dataset.sensor_bands()), dtype=np.float64)
    covered = np.isfinite(matrix).all(axis=1)
    if not covered.any():
        raise BenchmarkError(f"{dataset.title}: its sensor covers none of the encoder's bands")
    rows = np.flatnonzero(covered)
    for row in np.flatnonzero(~covered):
        matrix[row] = matrix[rows[np.argmin(np.abs(target[rows] - target[row]))]]
    return matrix, int(covered.sum())


class PixelEncoder(nn.Module):
    """A per-pixel spectral encoder (VAE) as a fully convolutional encoder (output stride 1).

    Each pixel's spectrum (N, B, H, W) -> (N*H*W, B) goes through the VAE encoder; the posterior
    means form the feature map (N, K, H, W). ``forward`` averages them over the patch.

    Args:
        vae: a :class:`~eospec.models.vae.SpectralVAE`.
    """

    output_stride = 1
    spectral_adapter = None

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae
        latent: Any = vae.latent_dim
        self.num_features = int(latent)

    @property
    def backbone(self) -> nn.Module:
        """The whole VAE (there is no separate adapter)."""
        return self.vae

    def forward_features(self, x: Tensor) -> Tensor:
        """Feature map (N, K, H, W) of reflectance (N, B, H, W)."""
        n, b, h, w = x.shape
        vae: Any = self.vae
        mu, _ = vae.encode(x.permute(0, 2, 3, 1).reshape(-1, b))
        return mu.reshape(n, h, w, -1).permute(0, 3, 1, 2)

    def forward(self, x: Tensor) -> Tensor:
        """Patch features (N, K): the mean of the pixel features."""
        return self.forward_features(x).mean(dim=(2, 3))


class BenchmarkEncoder(nn.Module):
    """An encoder with the band mapping of a dataset in front (see the module docstring).

    Attributes:
        mapper: the :class:`BandMapper`, or None.
        encoder: the SpectralEarth or :class:`PixelEncoder`.
        num_features: D, feature channels.
        output_stride: input pixels per feature cell.
    """

    def __init__(self, encoder: nn.Module, mapper: BandMapper | None = None) -> None:
        super().__init__()
        self.mapper = mapper
        self.encoder = encoder
        features: Any = encoder.num_features
        self.num_features = int(features)
        self.output_stride = int(getattr(encoder, "output_stride", 1))

    @property
    def spectral_adapter(self) -> nn.Module | None:
        """The encoder's spectral adapter (None for per-pixel encoders)."""
        adapter: nn.Module | None = getattr(self.encoder, "spectral_adapter", None)
        return adapter

    @property
    def backbone(self) -> nn.Module:
        """The part after the spectral adapter."""
        backbone: Any = self.encoder.backbone
        return backbone

    def _map(self, x: Tensor) -> Tensor:
        return self.mapper(x) if self.mapper is not None else x

    def forward_features(self, x: Tensor) -> Tensor:
        """Feature map of reflectance (N, B, H, W) on the dataset's bands."""
        encoder: Any = self.encoder
        features: Tensor = encoder.forward_features(self._map(x))
        return features

    def forward(self, x: Tensor) -> Tensor:
        """Pooled features (N, D) of reflectance (N, B, H, W) on the dataset's bands."""
        pooled: Tensor = self.encoder(self._map(x))
        return pooled


def _reset_parameters(module: nn.Module) -> None:
    for child in module.modules():
        reset = getattr(child, "reset_parameters", None)
        if callable(reset) and child is not module:
            reset()


@dataclass
class BuiltEncoder:
    """An encoder ready for a run.

    Attributes:
        module: the :class:`BenchmarkEncoder`.
        band_method: ``"native"``, ``"adapter"`` (native non-EnMAP bands into the adapter) or
            ``"resample"``.
        bands_covered: encoder bands that the dataset's sensor covers.
        needs_statistics: the per-band input standardisation must be computed on the training split.
    """

    module: BenchmarkEncoder
    band_method: str
    bands_covered: int
    needs_statistics: bool


def build_encoder(
    choice: EncoderChoice, dataset: type[BenchmarkDataset], *, seed: int = 0, spectral_mode: str = "adapter"
) -> BuiltEncoder:
    """Build the encoder of a choice for a dataset.

    Args:
        choice: from :func:`parse_encoder` (not a baseline).
        dataset: the dataset class (its sensor decides the band mapping).
        seed: seed of random weights.
        spectral_mode: ``"adapter"`` or ``"resample"`` (module docstring).

    Returns:
        The :class:`BuiltEncoder` (train mode, CPU).

    Raises:
        BenchmarkError: If ``choice`` is a baseline or ``spectral_mode`` is unknown.
    """
    from eospec.embedding import load_encoder
    from eospec.models.foundation import get_foundation_model

    if spectral_mode not in SPECTRAL_MODES:
        raise BenchmarkError(f"spectral mode {spectral_mode!r} is unknown: use one of {', '.join(SPECTRAL_MODES)}")
    if choice.kind == "baseline":
        raise BenchmarkError(f"{choice.spec!r} is a raw-spectra baseline, not an encoder")
    needs_statistics = False
    inner: nn.Module
    if choice.kind == "spectral":
        bundled = load_encoder(choice.base)
        vae = bundled.module
        if choice.random_init:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                _reset_parameters(vae)
        inner = PixelEncoder(vae)
        target = np.asarray(bundled.band_wavelengths_nm, dtype=np.float64)
    else:
        metadata = choice.metadata
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            if choice.checkpoint is not None:
                inner = get_foundation_model(choice.base, weights=choice.checkpoint)
                needs_statistics = True
            elif choice.random_init:
                arch = str(metadata.get("arch", choice.base))
                inner = get_foundation_model(arch, **dict(metadata.get("model_kwargs") or {}))
                statistics = metadata.get("statistics_path")
                if statistics:
                    from eospec.models.foundation import load_input_statistics

                    inner.set_input_statistics(*load_input_statistics(statistics))
                else:
                    needs_statistics = True
            else:
                inner = load_encoder(choice.base).module
                needs_statistics = getattr(inner, "input_mean", None) is None
        target = np.asarray(metadata.get("band_wavelengths_nm") or _enmap_default_nm(), dtype=np.float64)
    matrix, covered = band_matrix(dataset, target)
    if matrix is None:
        return BuiltEncoder(BenchmarkEncoder(inner.train(), None), "native", covered, needs_statistics)
    if choice.kind == "patch" and spectral_mode == "adapter":
        return BuiltEncoder(BenchmarkEncoder(inner.train(), None), "adapter", dataset.num_bands, True)
    return BuiltEncoder(BenchmarkEncoder(inner.train(), BandMapper(matrix)), "resample", covered, needs_statistics)


def _enmap_default_nm() -> list[float]:
    from eospec.sensors import ENMAP_DEFAULT_BANDS, get_sensor

    return [float(w) for w in get_sensor("enmap").wavelengths_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]]

r"""Embeddings of spectral libraries (to a table / Parquet) and of scenes (to a per-pixel COG).

An *encoder* is a bundled (or file) model whose metadata says ``task: "embedding"`` (see
:mod:`eospec.models.registry`); the default, ``vae_enmap``, is the 32-dimensional
:class:`~eospec.models.vae.SpectralVAE` pretrained by ``recipes/train_vae_encoder.py`` on real
laboratory soil spectra at the 202 EnMAP default bands. The embedding of a spectrum is the
posterior mean :math:`\mu(x)` of the VAE (Sun et al. 2025, arXiv:2511.15965).

- :func:`embed_library` resamples a :class:`~eospec.libraries.SpectralLibrary` to the encoder's
  bands (Gaussian SRFs, :func:`spectra_at_bands`) and returns one row per spectrum: ``sample_id``,
  the metadata, the properties and ``z_1 .. z_K``; :func:`write_embeddings` stores it as Parquet.
- :func:`embed_scene` streams a scene window by window (the machinery of
  :func:`eospec.mapping.map_scene`: :func:`eospec.mapping.stream_windows`, the same band plan) and
  writes a float32 COG with one band per latent dimension (descriptions ``z01 .. zK``), nodata
  :data:`EMBEDDING_NODATA` on invalid pixels (nodata, all-zero, non-finite) and, by default, on
  pixels the product's quality masks flag (cloud, shadow, ...). No spectral mask (vegetation,
  water) is applied: embeddings describe every surface. The encoder runs only on valid pixels.

Encoders of kind ``"spectral"`` embed each pixel's spectrum. Encoders of kind ``"patch"`` (the
SpectralEarth encoders of :mod:`eospec.models.foundation`: a ``encoder.json`` written by
``recipes/spectralearth/pretrain.py``, or an architecture name such as ``"spec_resnet18"`` with
random weights, a baseline) embed each window of the scene as an image: the window is read with a
halo of ``halo`` pixels on every side, encoded by
:func:`~eospec.models.foundation.encode_pixels` (feature map upsampled bilinearly to pixel
resolution) and cropped back, so that neighbouring windows meet without seams (see
:func:`embed_scene`). Band descriptions are then ``f001 .. fD``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import rasterio
from rasterio.windows import Window

from .cog import atomic_output, check_output, translate_to_cog
from .errors import AllNodataWarning, SpectralLibraryError, UnknownModelError
from .io.scene import Scene, SceneInfo, invalid_pixel_mask, open_scene
from .mapping import BandPlan, _progress, plan_bands, stream_windows, stream_windows_with_halo
from .models.registry import list_models, model_task, resolve_model
from .models.vae import latent_columns
from .sensors import gaussian_srf_matrix

if TYPE_CHECKING:
    from .libraries import SpectralLibrary
    from .models.registry import BundledModel

__all__ = [
    "EMBEDDING_NODATA",
    "EmbedResult",
    "PATCH_HALO",
    "LIBRARY_PREFIXES",
    "SCENE_EMBEDDERS",
    "embed_library",
    "embed_scene",
    "encoder_bands",
    "load_encoder",
    "read_embeddings",
    "read_library",
    "resolve_encoder",
    "spectra_at_bands",
    "write_embeddings",
]

#: Nodata value of every band of an embedding COG.
EMBEDDING_NODATA = -9999.0
#: Pixels per encoder call: bounds the (N, B) float32 copy to about 26 MB at 202 bands.
_CHUNK_PIXELS = 32768
#: Key of ``DataFrame.attrs`` that describes an embedding table.
_ATTRS_KEY = "eospec_embedding"
#: Default halo (pixels read around each window) of patch encoders.
PATCH_HALO = 32
#: Seed of the random initialisation of a patch encoder given by architecture name.
_RANDOM_SEED = 0


# ----------------------------------------------------------------------------------------------
# Encoders


def resolve_encoder(encoder: str) -> tuple[dict[str, Any], Path]:
    """Metadata and weights path of an embedding encoder, without loading it (no torch import).

    A patch encoder (``kind: "patch"``) is either the ``encoder.json`` of
    ``recipes/spectralearth/pretrain.py`` (``arch``, ``model_kwargs``, ``weights``, ``statistics``,
    ``wavelengths_nm``) or a SpectralEarth architecture name (``"spec_resnet18"``,
    ``"spec_vit_small"``, ...: :func:`eospec.models.foundation.list_foundation_models`) with random
    weights (seed 0) and no input standardisation, a baseline. Its metadata gains
    ``band_wavelengths_nm`` (the 202 EnMAP default bands, nm) and ``name``; its weights path is
    ``Path()`` for random weights.

    Args:
        encoder: a bundled encoder name (``eospec models``; e.g. ``"vae_enmap"``), a model ``.json``,
            or a SpectralEarth architecture name.

    Returns:
        ``(metadata, weights_path)``.

    Raises:
        UnknownModelError: If the name is unknown, or the model is not an embedding encoder.
    """
    patch = _patch_metadata(encoder)
    if patch is not None:
        return patch
    try:
        metadata, weights = resolve_model(encoder)
    except UnknownModelError as error:
        if encoder.endswith(".json"):
            raise
        from .models.foundation import list_foundation_models

        raise UnknownModelError(
            f"{error}; or a SpectralEarth architecture with random weights: {list_foundation_models()}"
        ) from error
    if model_task(metadata) != "embedding":
        raise UnknownModelError(
            f"Model {encoder!r} is not an embedding encoder (its task is {model_task(metadata)!r}): use one of "
            f"{list_models('embedding')} or an encoder .json"
        )
    return metadata, weights


def load_encoder(encoder: str = "vae_enmap") -> BundledModel:
    """Load an embedding encoder (bundled name or ``.json``) with its metadata.

    Args:
        encoder: see :func:`resolve_encoder`.

    Returns:
        The :class:`~eospec.models.registry.BundledModel`; ``module`` is a
        :class:`~eospec.models.vae.SpectralVAE` for ``kind: "spectral"`` encoders.

    Raises:
        UnknownModelError: If the name is unknown or not an encoder.
    """
    from .models.registry import BundledModel, get_model

    metadata, weights = resolve_encoder(encoder)
    if metadata.get("kind") == "patch":
        module = _load_patch_encoder(metadata, weights)
        wavelengths = [float(w) for w in metadata["band_wavelengths_nm"]]
        return BundledModel(str(metadata["name"]), module, metadata, wavelengths)
    return get_model(encoder)


def _patch_metadata(encoder: str) -> tuple[dict[str, Any], Path] | None:
    """Metadata and weights path of a patch encoder (``encoder.json`` or architecture name), else None."""
    from .sensors import ENMAP_DEFAULT_BANDS, enmap

    defaults = [float(w) for w in enmap().wavelengths_nm[np.asarray(ENMAP_DEFAULT_BANDS) - 1]]
    if encoder.endswith(".json") and Path(encoder).is_file():
        import json

        path = Path(encoder)
        metadata: dict[str, Any] = json.loads(path.read_text())
        if metadata.get("kind") != "patch":
            return None
        from .models.foundation import list_foundation_models

        if metadata.get("arch") not in list_foundation_models():
            raise UnknownModelError(
                f"Encoder {encoder!r} is of kind 'patch' but its 'arch' {metadata.get('arch')!r} is not a "
                f"SpectralEarth architecture: set it to the one it was trained with, one of {list_foundation_models()}"
            )
        metadata.setdefault("name", path.parent.name or path.stem)
        metadata.setdefault("band_wavelengths_nm", metadata.get("wavelengths_nm", defaults))
        metadata.setdefault("task", "embedding")
        if metadata.get("statistics"):
            metadata["statistics_path"] = str(path.parent / metadata["statistics"])
        weights = metadata.get("weights")
        return metadata, (path.parent / weights) if weights else Path()
    if not encoder.startswith("spec_"):
        return None
    from .models.foundation import list_foundation_models

    if encoder not in list_foundation_models():
        return None
    metadata = {
        "kind": "patch",
        "task": "embedding",
        "name": encoder,
        "arch": encoder,
        "model_kwargs": {},
        "weights": None,
        "version": f"random init (seed {_RANDOM_SEED})",
        "band_wavelengths_nm": defaults,
    }
    return metadata, Path()


def _load_patch_encoder(metadata: dict[str, Any], weights: Path) -> Any:
    """Build a SpectralEarth encoder from patch metadata (random weights, seed 0, when it has none)."""
    import torch

    from .models.foundation import get_foundation_model

    kwargs = dict(metadata.get("model_kwargs") or {})
    with torch.random.fork_rng():
        torch.manual_seed(_RANDOM_SEED)
        module = get_foundation_model(
            str(metadata["arch"]),
            weights=weights if metadata.get("weights") else None,
            statistics=metadata.get("statistics_path"),
            **kwargs,
        )
    return module.eval()


def encoder_bands(metadata: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Band centres and FWHM (nm) of an encoder's input, each float64 (B,).

    The FWHM are ``band_fwhm_nm`` when given, else those of the nearest EnMAP bands.

    Args:
        metadata: the encoder's metadata.

    Returns:
        ``(centres, fwhm)``.
    """
    from .mapping import _model_fwhm

    return np.asarray(metadata["band_wavelengths_nm"], dtype=np.float64), _model_fwhm(metadata)


def _latent_dim(metadata: dict[str, Any]) -> int:
    if metadata.get("kind") == "patch":
        import torch

        from .models.foundation import MODELS

        with torch.device("meta"):  # sizes only: no memory, no initialisation
            return int(MODELS[str(metadata["arch"])](**dict(metadata.get("model_kwargs") or {})).num_features)
    return int(metadata.get("latent_dim", metadata.get("architecture", {}).get("latent_dim", 32)))


# ----------------------------------------------------------------------------------------------
# Libraries


def spectra_at_bands(
    library: SpectralLibrary,
    centres_nm: npt.ArrayLike,
    fwhm_nm: npt.ArrayLike,
    *,
    quantity: str = "reflectance",
    edge_nm: float = 10.0,
    min_coverage: float = 0.9,
) -> np.ndarray:
    """A library's spectra at target bands: unit to nm, quantity converted, Gaussian SRF resampling.

    Each spectrum is first extended beyond both ends of its range by repeating its first (last)
    value for up to ``edge_nm`` (at the library's end spacing), so that a band centred just inside
    the edge (EnMAP band 1 at 418.2 nm for spectra that start at 420 nm) keeps its full response;
    soil spectra are smooth there, so the error is far below 0.1 % reflectance. The band values
    are then the response-weighted means of the library's samples (Schott 2007, Eq. 7.24; see
    :func:`eospec.sensors.gaussian_srf_matrix`). A library already on the target axis (same centres
    to 0.01 nm) is returned as is.

    Args:
        library: the spectra (any unit: um and cm-1 are converted to nm).
        centres_nm: target band centres, float (T,) in nm.
        fwhm_nm: target FWHM in nm, (T,) or scalar.
        quantity: ``"reflectance"`` (0-1) or ``"absorbance"`` (log10(1/R)) of the result.
        edge_nm: longest extension at each end, in nm (0 for none).
        min_coverage: fraction of each band's response that the (extended) range must hold.

    Returns:
        float64 array (N, T); NaN where a spectrum has a missing value under a band's response.

    Raises:
        SpectralLibraryError: If some target band lies outside the (extended) library range; the
            message names the bands and both ranges.
        UnknownUnitError: If ``quantity`` is unknown.
    """
    centres = np.asarray(centres_nm, dtype=np.float64).ravel()
    fwhm = np.broadcast_to(np.asarray(fwhm_nm, dtype=np.float64), centres.shape)
    source = library.to_unit("nm").to_quantity(quantity)
    wavelengths = np.asarray(source.wavelengths, dtype=np.float64)
    values = np.asarray(source.spectra, dtype=np.float64)
    if wavelengths.shape == centres.shape and np.allclose(wavelengths, centres, rtol=0.0, atol=0.01):
        return values.copy()
    if edge_nm > 0 and wavelengths.size > 1:
        low_step, high_step = wavelengths[1] - wavelengths[0], wavelengths[-1] - wavelengths[-2]
        low = wavelengths[0] - low_step * np.arange(math.ceil(edge_nm / low_step), 0, -1)
        high = wavelengths[-1] + high_step * np.arange(1, math.ceil(edge_nm / high_step) + 1)
        wavelengths = np.concatenate([low, wavelengths, high])
        values = np.concatenate(
            [np.repeat(values[:, :1], low.size, axis=1), values, np.repeat(values[:, -1:], high.size, axis=1)], axis=1
        )
    matrix = gaussian_srf_matrix(wavelengths, centres, fwhm, min_coverage=min_coverage)
    outside = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if outside.size:
        shown = ", ".join(f"{centres[i]:.1f}" for i in outside[:5])
        raise SpectralLibraryError(
            f"library {library.name!r} covers {source.wavelengths[0]:.0f}-{source.wavelengths[-1]:.0f} nm but "
            f"{outside.size} of the {centres.size} bands needed ({centres.min():.0f}-{centres.max():.0f} nm) lie "
            f"outside it, e.g. {shown} nm: use spectra that cover those bands, or an encoder (domain) made for them"
        )
    return values @ matrix.T


def embed_library(
    library: SpectralLibrary,
    encoder: str = "vae_enmap",
    *,
    edge_nm: float = 10.0,
    batch_size: int = 8192,
) -> pd.DataFrame:
    """Embed every spectrum of a library.

    Args:
        library: the spectra (reflectance or absorbance, any axis unit covering the encoder's bands).
        encoder: embedding encoder name or ``.json`` (kind ``"spectral"``).
        edge_nm: edge extension of :func:`spectra_at_bands`.
        batch_size: spectra per encoder call.

    Returns:
        A DataFrame of N rows: ``sample_id``, the metadata columns, the property columns, then
        ``z_1 .. z_K`` (float32; NaN for spectra with a missing value under the encoder's bands).
        ``attrs["eospec_embedding"]`` records the encoder, its version, K, the library name,
        the property names and units (kept by :func:`write_embeddings` / :func:`read_embeddings`).

    Raises:
        UnknownModelError: If ``encoder`` is not a spectral embedding encoder.
        SpectralLibraryError: If the library does not cover the encoder's bands.
    """
    import torch

    metadata, _ = resolve_encoder(encoder)
    _check_kind(metadata, encoder, ("spectral",))
    centres, fwhm = encoder_bands(metadata)
    quantity = str(metadata.get("architecture", {}).get("quantity", "reflectance"))
    spectra = spectra_at_bands(library, centres, fwhm, quantity=quantity, edge_nm=edge_nm).astype(np.float32)
    from .models.vae import SpectralVAE

    module = load_encoder(encoder).module
    if not isinstance(module, SpectralVAE):
        raise UnknownModelError(f"Encoder {encoder!r} does not load as a SpectralVAE: check its architecture type")
    latent = np.full((len(library), module.latent_dim), np.nan, dtype=np.float32)
    finite = np.flatnonzero(np.isfinite(spectra).all(axis=1))
    with torch.inference_mode():
        for start in range(0, finite.size, max(1, int(batch_size))):
            rows = finite[start : start + batch_size]
            latent[rows] = module.embed(torch.from_numpy(spectra[rows])).numpy()
    if finite.size < len(library):
        warnings.warn(
            f"{len(library) - finite.size} of {len(library)} spectra of {library.name!r} have missing values under "
            "the encoder's bands: their embeddings are NaN",
            UserWarning,
            stacklevel=2,
        )
    columns = latent_columns(latent.shape[1])
    metadata_frame = library.meta.drop(columns=["sample_id"], errors="ignore")
    clashes = [c for c in [*metadata_frame.columns, *library.props.columns] if c in columns or c == "sample_id"]
    if clashes:
        raise SpectralLibraryError(f"library columns {clashes} clash with the embedding columns: rename them first")
    frame = pd.concat(
        [
            pd.DataFrame({"sample_id": library.ids}),
            metadata_frame.reset_index(drop=True),
            library.props.reset_index(drop=True),
            pd.DataFrame(latent, columns=columns),
        ],
        axis=1,
    )
    frame.attrs[_ATTRS_KEY] = {
        "encoder": str(metadata.get("name", encoder)),
        "encoder_version": str(metadata.get("version", "")),
        "latent_dim": int(latent.shape[1]),
        "latent_columns": columns,
        "library": library.name,
        "properties": library.property_names,
        "property_units": dict(library.property_units),
        "n_bands": int(centres.size),
    }
    return frame


def write_embeddings(frame: pd.DataFrame, out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write an embedding table to Parquet (atomically), keeping its ``attrs`` description.

    Args:
        frame: from :func:`embed_library`.
        out: the ``.parquet`` file.
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        OutputExistsError: If ``out`` exists and ``overwrite`` is false.
        OutputNotWritableError: If the folder is missing or not writable.
    """
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    target = check_output(out, overwrite)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    description = json.dumps(frame.attrs.get(_ATTRS_KEY, {}))
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _ATTRS_KEY.encode(): description.encode()})
    with atomic_output(target) as temporary:
        pq.write_table(table, temporary)
    return target


def read_embeddings(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an embedding table written by :func:`write_embeddings`.

    Args:
        path: the ``.parquet`` file.

    Returns:
        The table, with ``attrs["eospec_embedding"]`` restored.

    Raises:
        FileNotFoundError: If the file does not exist.
    """
    import json

    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    table = pq.read_table(path)
    frame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(_ATTRS_KEY.encode())
    if raw:
        frame.attrs[_ATTRS_KEY] = json.loads(raw.decode())
    return frame


#: Library specifications of :func:`read_library`: prefix -> what follows it.
LIBRARY_PREFIXES: dict[str, str] = {
    "limesoda": "a LimeSoDa dataset name, e.g. limesoda:SSP.460",
    "earthlib": "an earthlib LEVEL_3 class, e.g. earthlib:soil (the 4,185 soil spectra)",
    "nirsoil": "prospectr's NIRsoil.csv",
    "datsoilspc": "soilspec's datsoilspc.csv",
    "kssl-mir": "a KSSL MIR table (soilspecdl layout)",
    "ossl": "a folder of OSSL tables (vis-NIR scans)",
    "ossl-nir": "a folder of OSSL tables (portable NIR scans)",
    "ossl-mir": "a folder of OSSL tables (MIR scans)",
}


def read_library(
    spec: str | os.PathLike[str],
    *,
    wavelength_unit: str = "nm",
    quantity: str = "reflectance",
    id_column: str | None = None,
    spectrum_columns: str | None = None,
) -> SpectralLibrary:
    """Read a spectral library from a path or a ``prefix:value`` specification.

    Paths: ``.parquet`` (the layout of :meth:`SpectralLibrary.to_pandas`), ``.sli``/``.hdr``
    (ENVI), ``.gpkg`` (EnMAP-Box), ``.csv``/``.csv.gz``/``.txt`` (a wide table: one column per
    band, read with ``wavelength_unit``, ``quantity`` and ``id_column``), or a folder of OSSL
    tables. Prefixes: :data:`LIBRARY_PREFIXES`.

    Args:
        spec: the path or specification.
        wavelength_unit: axis unit of a wide CSV's band columns (``"nm"``, ``"um"``, ``"cm-1"``).
        quantity: ``"reflectance"`` or ``"absorbance"`` of a wide CSV or ENVI library.
        id_column: column of sample ids in a wide CSV (rows sharing an id are repeats).
        spectrum_columns: band-column naming of a wide CSV: a prefix such as ``"wl_"`` or a
            regular expression (:func:`eospec.libraries.tables.find_spectrum_columns`); default:
            numeric column names.

    Returns:
        The library.

    Raises:
        FileNotFoundError: If the path does not exist.
        SpectralLibraryError: If the prefix or file type is unknown, or the file cannot be read.
        DataPackageMissingError: If ``limesoda``/``earthlib`` is needed but not installed.
    """
    from . import libraries

    text = str(spec)
    prefix, sep, value = text.partition(":")
    if sep and prefix in LIBRARY_PREFIXES:
        if prefix == "limesoda":
            return libraries.read_limesoda(value)
        if prefix == "earthlib":
            return read_earthlib(value or "soil")
        if not Path(value).exists():
            raise FileNotFoundError(f"{value!r} does not exist (from {text!r})")
        readers: dict[str, Callable[[str], SpectralLibrary]] = {
            "nirsoil": libraries.read_nirsoil,
            "datsoilspc": libraries.read_datsoilspc,
            "kssl-mir": libraries.read_kssl_mir,
            "ossl": lambda path: libraries.read_ossl(path, scan="visnir"),
            "ossl-nir": lambda path: libraries.read_ossl(path, scan="nir"),
            "ossl-mir": lambda path: libraries.read_ossl(path, scan="mir"),
        }
        return readers[prefix](value)
    if sep and len(prefix) > 1 and not Path(text).exists():
        raise SpectralLibraryError(
            f"library {text!r}: prefix {prefix!r} is unknown: use a path or one of "
            + "; ".join(f"{key}: ({hint})" for key, hint in LIBRARY_PREFIXES.items())
        )
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(f"library {text!r} does not exist: give a file, a folder or e.g. limesoda:SSP.460")
    if path.is_dir():
        return libraries.read_ossl(path, scan="visnir")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        from .libraries import SpectralLibrary

        return SpectralLibrary.from_pandas(pd.read_parquet(path), wavelength_unit=None)
    if name.endswith((".sli", ".hdr")):
        return libraries.read_envi_library(path, quantity=quantity)
    if name.endswith(".gpkg"):
        return libraries.read_enmapbox_library(path, quantity=quantity)
    if name.endswith((".csv", ".csv.gz", ".txt")):
        return libraries.read_wide_csv(
            path,
            wavelength_unit=wavelength_unit,
            quantity=quantity,
            id_column=id_column,
            spectrum_columns=spectrum_columns,
        )
    raise SpectralLibraryError(
        f"library {text!r}: unknown file type; use .parquet, .sli/.hdr, .gpkg, .csv or a prefix such as limesoda:NAME"
    )


def read_earthlib(level: str = "soil") -> SpectralLibrary:
    """The spectra of one earthlib ``LEVEL_3`` class (e.g. the 4,185 ``"soil"`` spectra) as a library.

    earthlib (C. Anderson, https://github.com/earth-chris/earthlib, MIT) bundles 7,261 spectra at
    10 nm from 400 to 2450 nm; its soils are the ICRAF-ISRIC soil spectral library (4,168) and 17
    ASD soils. Metadata: ``name``, ``source``, ``lat``, ``lon``, ``level_2``.

    Args:
        level: a ``LEVEL_3`` value, e.g. ``"soil"``, ``"litter"``, ``"sand"``.

    Returns:
        Reflectance 0-1 in nm; sample ids ``earthlib-<row>``.

    Raises:
        DataPackageMissingError: If earthlib is not installed.
        SpectralLibraryError: If no spectrum has that ``LEVEL_3``.
    """
    from .errors import DataPackageMissingError
    from .libraries import SpectralLibrary

    try:
        import earthlib
    except ImportError as error:
        raise DataPackageMissingError("earthlib spectra need the 'earthlib' package: pip install earthlib") from error
    library = earthlib.full_library
    table = library.metadata.reset_index(drop=True)
    rows = np.flatnonzero((table["LEVEL_3"] == level).to_numpy())
    if rows.size == 0:
        raise SpectralLibraryError(
            f"earthlib has no LEVEL_3 {level!r} spectra: use one of {sorted(table['LEVEL_3'].unique())}"
        )
    wavelengths = np.asarray(library.sensor.band_centers, dtype=np.float64)
    if wavelengths.max() < 100.0:  # earthlib keeps its band centres in micrometres
        wavelengths = wavelengths * 1000.0
    selected = table.iloc[rows]
    metadata = pd.DataFrame(
        {
            "name": selected["NAME"].astype(str).to_numpy(),
            "source": selected["SOURCE"].astype(str).to_numpy(),
            "lat": pd.to_numeric(selected["LAT"], errors="coerce").to_numpy(),
            "lon": pd.to_numeric(selected["LON"], errors="coerce").to_numpy(),
            "level_2": selected["LEVEL_2"].astype(str).to_numpy(),
        }
    )
    return SpectralLibrary(
        np.asarray(library.data, dtype=np.float64)[rows],
        np.round(wavelengths, 6),
        "nm",
        quantity="reflectance",
        metadata=metadata,
        sample_ids=np.array([f"earthlib-{row}" for row in rows]),
        name=f"earthlib {level}",
    )


# ----------------------------------------------------------------------------------------------
# Scenes


@dataclass
class EmbedResult:
    """What :func:`embed_scene` wrote.

    Attributes:
        path: the COG.
        encoder: the encoder name.
        latent_dim: number of bands, K.
        width: columns.
        height: rows.
        n_valid: pixels with an embedding.
        n_nodata: pixels without one (invalid input or flagged by a quality mask).
        seconds: wall time.
        band_method: how the scene's bands fed the encoder (``selection`` or ``srf``).
    """

    path: Path
    encoder: str
    latent_dim: int
    width: int
    height: int
    n_valid: int = 0
    n_nodata: int = 0
    seconds: float = 0.0
    band_method: str = ""


#: A scene embedder: (module, band plan, scene info, raw DN (R, N) of valid pixels) -> float32 (K, N).
SceneEmbedder = Callable[[Any, BandPlan, SceneInfo, np.ndarray], np.ndarray]


#: A patch embedder: (module, band plan, scene info, raw DN (R, H, W) of a window with its halo,
#: invalid (H, W) bool) -> float32 (K, H, W).
PatchEmbedder = Callable[[Any, BandPlan, SceneInfo, np.ndarray, np.ndarray], np.ndarray]


def _reflectance(plan: BandPlan, info: SceneInfo, raw: np.ndarray) -> np.ndarray:
    """Reflectance at the encoder's bands, float32 (B, N), of raw DN (R, N)."""
    gain = info.gain[plan.read_bands].astype(np.float32)[:, None]
    offset = info.offset[plan.read_bands].astype(np.float32)[:, None]
    if plan.method == "selection":
        rows = plan.matrix.argmax(axis=1)
        return raw[rows].astype(np.float32) * gain[rows] + offset[rows]
    return plan.matrix.astype(np.float32) @ (raw.astype(np.float32) * gain + offset)


def _embed_patch(module: Any, plan: BandPlan, info: SceneInfo, raw: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """Patch encoder: reflectance (NaN on invalid pixels) of one window, then ``encode_pixels``."""
    from .models.foundation import encode_pixels

    height, width = raw.shape[1:]
    reflectance = _reflectance(plan, info, raw.reshape(raw.shape[0], -1))
    reflectance[:, invalid.ravel()] = np.nan
    features = encode_pixels(module, reflectance.reshape(1, -1, height, width))
    return np.asarray(features[0].numpy(), dtype=np.float32)


def _embed_pixels(module: Any, plan: BandPlan, info: SceneInfo, raw: np.ndarray) -> np.ndarray:
    """Per-pixel spectral encoder: reflectance at the encoder's bands, then ``module.embed``."""
    import torch

    gain = info.gain[plan.read_bands].astype(np.float32)[:, None]
    offset = info.offset[plan.read_bands].astype(np.float32)[:, None]
    rows = plan.matrix.argmax(axis=1) if plan.method == "selection" else None
    matrix = plan.matrix.astype(np.float32)
    out = np.empty((module.latent_dim, raw.shape[1]), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, raw.shape[1], _CHUNK_PIXELS):
            chunk = raw[:, start : start + _CHUNK_PIXELS]
            if rows is not None:
                reflectance = chunk[rows].astype(np.float32) * gain[rows] + offset[rows]
            else:
                reflectance = matrix @ (chunk.astype(np.float32) * gain + offset)
            latent = module.embed(torch.from_numpy(np.ascontiguousarray(reflectance.T)))
            out[:, start : start + _CHUNK_PIXELS] = latent.numpy().T
    return out


#: Scene embedders by encoder ``kind``: per-pixel (:data:`SceneEmbedder`) or, for the kinds in
#: :data:`_SPATIAL_KINDS`, per window with a halo (:data:`PatchEmbedder`).
SCENE_EMBEDDERS: dict[str, SceneEmbedder | PatchEmbedder] = {"spectral": _embed_pixels, "patch": _embed_patch}
_SPATIAL_KINDS = frozenset({"patch"})


def _check_kind(metadata: dict[str, Any], encoder: str, supported: tuple[str, ...] | list[str]) -> str:
    kind = str(metadata.get("kind", "spectral"))
    if kind not in supported:
        raise UnknownModelError(
            f"Encoder {encoder!r} is of kind {kind!r}, but this embeds with kinds {list(supported)} only: "
            "use a spectral encoder such as 'vae_enmap'"
        )
    return kind


def embed_scene(
    scene: str | os.PathLike[str],
    out: str | os.PathLike[str],
    encoder: str = "vae_enmap",
    *,
    overwrite: bool = False,
    tile_size: int = 256,
    workers: int = 2,
    wavelengths: str | os.PathLike[str] | npt.ArrayLike | None = None,
    mask_quality: bool = True,
    progress: bool | None = None,
    halo: int = PATCH_HALO,
) -> EmbedResult:
    """Embed every valid pixel of a hyperspectral scene into a K-band Cloud-Optimized GeoTIFF.

    The output has the scene's CRS, transform and size; band k (float32, description ``zkk``,
    e.g. ``z01``) is latent dimension k; nodata :data:`EMBEDDING_NODATA` where the input is invalid
    (any good band nodata, all bands zero, non-finite) and, with ``mask_quality``, where a
    quality mask of the product flags the pixel. The scene's bands are matched to the encoder's as
    for mapping (:func:`eospec.mapping.plan_bands`: nearest band, else Gaussian SRF resampling).

    Patch encoders (``kind: "patch"``, see :func:`resolve_encoder`) give D bands ``f001 .. fD``.
    Each ``tile_size`` window (rounded down to a multiple of the encoder's output stride s) is read
    with ``halo`` more pixels on every side (edges moved out to multiples of s, clipped to the
    scene), converted to reflectance with NaN on invalid pixels (which
    :func:`~eospec.models.foundation.encode_pixels` fills with the input mean), encoded and cropped
    back. When the grown windows cover the receptive field of a ResNet, the result equals encoding
    the whole scene at once (float32 rounding aside); with a smaller halo, pixels near window edges
    differ by what lies beyond the halo. A ViT attends over the whole window and interpolates its
    position embeddings to the window's size, so its embeddings depend on the window: keep
    ``tile_size + 2 * halo`` near the patch size it was trained on (128 for SpectralEarth).

    Args:
        scene: DLR EnMAP L2A product (folder or zip), tagged GeoTIFF or ENVI cube.
        out: the output ``.tif``.
        encoder: embedding encoder name (``eospec models``) or ``.json``.
        overwrite: replace an existing output.
        tile_size: window side in pixels (memory grows with its square, not with the scene).
        workers: reader threads that prefetch windows (at least 1).
        wavelengths: band centres for scenes that lack them (CSV path or array in nm).
        mask_quality: give nodata to pixels flagged by the product's quality masks.
        progress: show a progress bar; None shows it on a terminal only.
        halo: pixels read around each window for patch encoders (ignored for spectral ones).

    Returns:
        An :class:`EmbedResult`.

    Raises:
        OutputExistsError: If ``out`` exists and ``overwrite`` is false.
        OutputNotWritableError: If the output folder is missing or not writable.
        UnknownModelError: If ``encoder`` is not an embedding encoder of a supported kind.
        SceneNotFoundError: If the scene does not exist.
        NotARasterError: If the scene is not a raster.
        MissingWavelengthsError: If the scene has no wavelengths and none were given.
        MissingCRSError: If the scene has no CRS.
        NotHyperspectralError: If the scene's bands cannot feed the encoder.
        ValueError: If ``tile_size`` or ``workers`` is not positive, or ``halo`` is negative.
    """
    started = time.perf_counter()
    if tile_size < 16:
        raise ValueError(f"Invalid tile_size: {tile_size!r}. Must be at least 16 pixels")
    if workers < 1:
        raise ValueError(f"Invalid workers: {workers!r}. Must be at least 1")
    if halo < 0:
        raise ValueError(f"Invalid halo: {halo!r}. Must be 0 or more pixels")
    target = check_output(out, overwrite)
    metadata, _ = resolve_encoder(encoder)
    kind = _check_kind(metadata, encoder, list(SCENE_EMBEDDERS))
    embedder = SCENE_EMBEDDERS[kind]
    latent_dim = _latent_dim(metadata)
    spatial = kind in _SPATIAL_KINDS
    names = _feature_names(latent_dim) if spatial else latent_columns(latent_dim, style="band")
    valid_count = 0
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "count": latent_dim,
        "dtype": "float32",
        "nodata": EMBEDDING_NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "interleave": "pixel",
        "bigtiff": "IF_SAFER",
    }
    with (
        rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=64),
        open_scene(scene, wavelengths=wavelengths) as opened,
    ):
        info = opened.info
        plan = plan_bands(info, metadata)
        profile.update(width=info.width, height=info.height, crs=info.crs, transform=info.transform)
        with (
            atomic_output(target) as cog_path,
            atomic_output(target, suffix=".stage.tif") as stage_path,
            _scene_stream(opened, plan.read_bands, tile_size, workers, halo, metadata, spatial) as stream,
        ):
            bar = _progress(info.width * info.height, progress, desc="embedding")
            try:
                model = load_encoder(encoder)
                with rasterio.open(stage_path, "w", **profile) as stage:
                    for window, block, quality, core in stream:
                        height, width = int(window.height), int(window.width)
                        block_invalid = invalid_pixel_mask(block.reshape(block.shape[0], -1), info.nodata)
                        block_invalid = block_invalid.reshape(block.shape[1:])
                        if mask_quality:
                            for flags in quality.values():
                                block_invalid |= flags
                        invalid = block_invalid[core].ravel()
                        valid = np.flatnonzero(~invalid)
                        values = np.full((latent_dim, height * width), EMBEDDING_NODATA, dtype=np.float32)
                        if valid.size and spatial:
                            features = embedder(model.module, plan, info, block, block_invalid)  # type: ignore[call-arg]
                            values[:, valid] = features[:, core[0], core[1]].reshape(latent_dim, -1)[:, valid]
                        elif valid.size:
                            flat = block[:, core[0], core[1]].reshape(block.shape[0], -1)
                            values[:, valid] = embedder(model.module, plan, info, flat[:, valid])  # type: ignore[call-arg]
                        valid_count += int(valid.size)
                        stage.write(values.reshape(latent_dim, height, width), window=window)
                        bar.update(height * width)
                    _describe(stage, metadata, names, info, encoder, halo if spatial else None)
            finally:
                bar.close()
            translate_to_cog(stage_path, cog_path, resampling="AVERAGE")
    total = info.width * info.height
    if valid_count == 0:
        warnings.warn(
            f"No pixel of {str(scene)!r} is valid (nodata, all-zero or quality-flagged): the embedding is all nodata",
            AllNodataWarning,
            stacklevel=2,
        )
    return EmbedResult(
        path=target,
        encoder=str(metadata.get("name", encoder)),
        latent_dim=latent_dim,
        width=info.width,
        height=info.height,
        n_valid=valid_count,
        n_nodata=total - valid_count,
        seconds=time.perf_counter() - started,
        band_method=plan.method,
    )


def _feature_names(count: int) -> list[str]:
    """Band descriptions of a patch embedding: ``f001 .. fD`` (at least three digits)."""
    width = max(3, len(str(count)))
    return [f"f{k:0{width}d}" for k in range(1, count + 1)]


@contextlib.contextmanager
def _scene_stream(
    scene: Scene,
    bands: npt.ArrayLike,
    tile_size: int,
    workers: int,
    halo: int,
    metadata: dict[str, Any],
    spatial: bool,
) -> Iterator[Iterator[tuple[Window, np.ndarray, dict[str, np.ndarray], tuple[slice, slice]]]]:
    """Windows with a halo for patch encoders, the plain windows of ``stream_windows`` otherwise."""
    if spatial:
        import torch

        from .models.foundation import MODELS

        with torch.device("meta"):
            stride = int(MODELS[str(metadata["arch"])](**dict(metadata.get("model_kwargs") or {})).output_stride)
        with stream_windows_with_halo(scene, bands, tile_size, workers, halo=halo, stride=stride) as stream:
            yield stream
        return
    whole = (slice(None), slice(None))
    with stream_windows(scene, bands, tile_size, workers) as plain:
        yield ((window, raw, quality, whole) for window, raw, quality in plain)


def _describe(
    stage: Any, metadata: dict[str, Any], names: list[str], info: SceneInfo, encoder: str, halo: int | None = None
) -> None:
    """Band names and provenance tags of an embedding COG."""
    name = str(metadata.get("name", encoder))
    patch = metadata.get("kind") == "patch"
    for index, band_name in enumerate(names, start=1):
        stage.set_band_description(index, band_name)
        what = "feature" if patch else "latent dimension"
        stage.update_tags(index, long_name=f"{what} {index} of encoder {name}" + ("" if patch else " (posterior mean)"))
    if patch:
        embedding = (
            f"SpectralEarth patch encoder {metadata.get('arch')} (Braham et al. 2024, arXiv:2408.08447), feature map "
            f"upsampled bilinearly to pixels, windows read with a {halo}-pixel halo"
            + ("" if metadata.get("weights") else "; RANDOM weights (baseline)")
        )
    else:
        embedding = "posterior mean mu(x) of a spectral VAE (Sun et al. 2025, arXiv:2511.15965)"
    stage.update_tags(
        encoder=name,
        encoder_version=str(metadata.get("version", "")),
        latent_dim=str(len(names)),
        embedding=embedding,
        source_scene=info.scene_id,
        source_path=str(info.path),
        acquisition_time=info.acquisition_time.isoformat() if info.acquisition_time else "",
        software="eospec",
    )

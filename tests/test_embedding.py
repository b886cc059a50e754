"""Library and scene embeddings, checked against the encoder run on independently read spectra."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from conftest import ENMAP_EXPECTED, ENMAP_FIXTURES, enmap_cloud_block, enmap_reference

from eospec.cog import validate_cog
from eospec.embedding import (
    EMBEDDING_NODATA,
    embed_library,
    embed_scene,
    load_encoder,
    read_embeddings,
    read_library,
    spectra_at_bands,
    write_embeddings,
)
from eospec.errors import OutputExistsError, SpectralLibraryError, UnknownModelError
from eospec.libraries import SpectralLibrary, read_datsoilspc
from eospec.mapping import map_scene
from eospec.models.vae import SpectralVAE
from eospec.sensors import ENMAP_DEFAULT_BANDS, enmap

LIBRARIES = Path(__file__).parent / "data" / "libraries"
PRODUCT = ENMAP_FIXTURES / ENMAP_EXPECTED["product"]
DEFAULT = np.asarray(ENMAP_DEFAULT_BANDS) - 1


def write_test_encoder(folder: Path, latent_dim: int = 5, kind: str = "spectral", seed: int = 0) -> Path:
    """A randomly initialised SpectralVAE on the 202 EnMAP default bands, saved as an encoder .json."""
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    sensor = enmap()
    vae = SpectralVAE(DEFAULT.size, latent_dim=latent_dim, hidden=(16,), transform="absorbance")
    generator = np.random.default_rng(seed)
    vae.fit_normalisation(0.05 + 0.4 * generator.random((50, DEFAULT.size)))
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, str(folder / "enc.safetensors"))
    metadata = {
        "name": "enc",
        "version": "test",
        "task": "embedding",
        "kind": kind,
        "latent_dim": latent_dim,
        "band_wavelengths_nm": sensor.wavelengths_nm[DEFAULT].tolist(),
        "band_fwhm_nm": sensor.fwhm_nm[DEFAULT].tolist(),
        "architecture": vae.architecture(),
        "weights": "enc.safetensors",
    }
    path = folder / "enc.json"
    path.write_text(json.dumps(metadata))
    return path


@pytest.fixture()
def encoder(tmp_path: Path) -> Path:
    return write_test_encoder(tmp_path / "encoder")


def _embed_reference(encoder: str, reflectance: np.ndarray) -> np.ndarray:
    """Embeddings (K, H, W) of reflectance (202, H, W) read independently; NaN where not finite."""
    module = load_encoder(encoder).module
    assert isinstance(module, SpectralVAE)
    bands, height, width = reflectance.shape
    pixels = reflectance.reshape(bands, -1).T
    finite = np.isfinite(pixels).all(axis=1)
    out = np.full((pixels.shape[0], module.latent_dim), np.nan, dtype=np.float32)
    out[finite] = module.embed(pixels[finite]).numpy()
    return out.T.reshape(module.latent_dim, height, width)


@pytest.mark.parametrize("form", ["dlr_folder", "enmapbox"])
def test_scene_embedding_matches_the_encoder(tmp_path: Path, encoder: Path, form: str) -> None:
    scene = PRODUCT if form == "dlr_folder" else ENMAP_FIXTURES / "enmapbox_style.tif"
    out = tmp_path / "emb.tif"
    result = embed_scene(scene, out, str(encoder), progress=False)
    reflectance = enmap_reference()[DEFAULT]  # DN / 10000 with invalid pixels NaN (no embedding code)
    expected = _embed_reference(str(encoder), reflectance)
    invalid = ~np.isfinite(expected).all(axis=0)
    if form == "dlr_folder":
        invalid |= enmap_cloud_block()  # the DLR product's quality mask flags these
    with rasterio.open(out) as written:
        values = written.read()
        assert written.count == 5 and written.dtypes[0] == "float32"
        assert written.nodata == EMBEDDING_NODATA
        assert list(written.descriptions) == ["z01", "z02", "z03", "z04", "z05"]
        assert written.crs.to_epsg() == ENMAP_EXPECTED["crs_epsg"]
        assert list(written.transform)[:6] == ENMAP_EXPECTED["transform"]
        assert written.tags()["encoder"] == "enc"
    assert (values[:, invalid] == EMBEDDING_NODATA).all()
    for row, col in ENMAP_EXPECTED["nodata_pixels"] + ENMAP_EXPECTED["zero_pixels"]:
        assert invalid[row, col]
    np.testing.assert_allclose(values[:, ~invalid], expected[:, ~invalid], rtol=1e-4, atol=1e-4)
    assert result.n_valid == int((~invalid).sum()) and result.n_nodata == int(invalid.sum())
    assert result.band_method == "selection"
    assert validate_cog(out)[0]


def test_flagged_pixels_are_embedded_on_request(tmp_path: Path, encoder: Path) -> None:
    result = embed_scene(PRODUCT, tmp_path / "emb.tif", str(encoder), mask_quality=False, progress=False)
    cloud = enmap_cloud_block()
    with rasterio.open(tmp_path / "emb.tif") as written:
        values = written.read(1)
    assert (values[cloud] != EMBEDDING_NODATA).all()
    assert result.n_nodata == len(ENMAP_EXPECTED["nodata_pixels"]) + len(ENMAP_EXPECTED["zero_pixels"])


def test_scene_errors(tmp_path: Path, encoder: Path) -> None:
    out = tmp_path / "emb.tif"
    embed_scene(PRODUCT, out, str(encoder), progress=False)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        embed_scene(PRODUCT, out, str(encoder), progress=False)
    with pytest.raises(UnknownModelError, match="'soc' is not an embedding encoder"):
        embed_scene(PRODUCT, tmp_path / "b.tif", "soc", progress=False)
    patch = write_test_encoder(tmp_path / "patch", kind="patch")  # a patch encoder without an 'arch'
    with pytest.raises(UnknownModelError, match="kind 'patch' but its 'arch' None is not"):
        embed_scene(PRODUCT, tmp_path / "c.tif", str(patch), progress=False)
    assert not (tmp_path / "b.tif").exists() and not (tmp_path / "c.tif").exists()


def test_map_refuses_an_encoder(tmp_path: Path, encoder: Path) -> None:
    with pytest.raises(UnknownModelError, match="embedding encoder"):
        map_scene(PRODUCT, tmp_path / "soc.tif", str(encoder), progress=False)
    assert not (tmp_path / "soc.tif").exists()


# ----------------------------------------------------------------------------------------------
# Libraries


def _gaussian_resample(
    wavelengths: np.ndarray, values: np.ndarray, centres: np.ndarray, fwhm: np.ndarray
) -> np.ndarray:
    """Independent Gaussian SRF resampling (trapezoid weights), no eospec code."""
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    widths = np.gradient(wavelengths)
    weights = np.exp(-0.5 * ((wavelengths[None, :] - centres[:, None]) / sigma[:, None]) ** 2) * widths[None, :]
    weights /= weights.sum(axis=1, keepdims=True)
    return values @ weights.T


def test_spectra_at_bands_matches_independent_resampling() -> None:
    library = read_datsoilspc(LIBRARIES / "datsoilspc_like.csv")
    sensor = enmap()
    centres, fwhm = sensor.wavelengths_nm[DEFAULT], sensor.fwhm_nm[DEFAULT]
    result = spectra_at_bands(library, centres, fwhm)
    expected = _gaussian_resample(library.wavelengths, library.spectra, centres, fwhm)
    np.testing.assert_allclose(result, expected, rtol=1e-3, atol=1e-5)
    # Absorbance in, reflectance out (and the other way).
    absorbance = library.to_quantity("absorbance")
    np.testing.assert_allclose(spectra_at_bands(absorbance, centres, fwhm), result, rtol=1e-6)


def test_edge_extension_and_coverage_errors() -> None:
    wavelengths = np.arange(420.0, 2501.0, 2.0)
    spectrum = 0.2 + 0.1 * np.sin(wavelengths / 300.0)
    library = SpectralLibrary(spectrum[None, :], wavelengths, "nm", name="starts-at-420")
    centres, fwhm = np.array([418.24, 1000.0]), np.array([6.99561, 8.0])
    result = spectra_at_bands(library, centres, fwhm, edge_nm=10.0)
    padded = np.concatenate([np.arange(410.0, 420.0, 2.0), wavelengths])
    values = np.concatenate([np.full(5, spectrum[0]), spectrum])
    np.testing.assert_allclose(result[0], _gaussian_resample(padded, values[None, :], centres, fwhm)[0], rtol=1e-4)
    with pytest.raises(SpectralLibraryError, match="starts-at-420' covers 420-2500 nm"):
        spectra_at_bands(library, centres, fwhm, edge_nm=0.0)


def test_library_embedding_and_parquet_round_trip(tmp_path: Path, encoder: Path) -> None:
    library = read_datsoilspc(LIBRARIES / "datsoilspc_like.csv")
    frame = embed_library(library, str(encoder))
    columns = [f"z_{k}" for k in range(1, 6)]
    assert list(frame.columns) == ["sample_id", *library.property_names, *columns]
    sensor = enmap()
    at_bands = _gaussian_resample(
        library.wavelengths, library.spectra, sensor.wavelengths_nm[DEFAULT], sensor.fwhm_nm[DEFAULT]
    )
    module = load_encoder(str(encoder)).module
    assert isinstance(module, SpectralVAE)
    expected = module.embed(at_bands.astype(np.float32)).numpy()
    np.testing.assert_allclose(frame[columns].to_numpy(), expected, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(frame["clay"].to_numpy(), library.props["clay"].to_numpy())
    path = write_embeddings(frame, tmp_path / "emb.parquet")
    back = read_embeddings(path)
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs["eospec_embedding"]["encoder"] == "enc"
    assert back.attrs["eospec_embedding"]["latent_columns"] == columns
    with pytest.raises(OutputExistsError):
        write_embeddings(frame, path)
    write_embeddings(frame.iloc[:2], path, overwrite=True)
    assert len(read_embeddings(path)) == 2


def test_library_with_missing_values_gets_nan_rows(encoder: Path) -> None:
    library = read_datsoilspc(LIBRARIES / "datsoilspc_like.csv")
    spectra = library.spectra.copy()
    spectra[1, 1000] = np.nan
    broken = SpectralLibrary(spectra, library.wavelengths, "nm", name="broken")
    with pytest.warns(UserWarning, match="1 of 4 spectra"):
        frame = embed_library(broken, str(encoder))
    assert frame.loc[1, "z_1"] != frame.loc[1, "z_1"]  # NaN
    assert np.isfinite(frame.loc[[0, 2, 3], ["z_1", "z_5"]].to_numpy()).all()


def test_library_outside_the_encoder_range(encoder: Path) -> None:
    from eospec.libraries import read_nirsoil

    library = read_nirsoil(LIBRARIES / "nirsoil_like.csv")  # 1100-2498 nm only
    with pytest.raises(SpectralLibraryError, match="covers 1100-2498 nm"):
        embed_library(library, str(encoder))


def test_read_library_forms(tmp_path: Path) -> None:
    direct = read_datsoilspc(LIBRARIES / "datsoilspc_like.csv")
    prefixed = read_library(f"datsoilspc:{LIBRARIES / 'datsoilspc_like.csv'}")
    np.testing.assert_array_equal(prefixed.spectra, direct.spectra)
    direct.to_pandas().to_parquet(tmp_path / "lib.parquet")
    from_parquet = read_library(tmp_path / "lib.parquet")
    np.testing.assert_allclose(from_parquet.spectra, direct.spectra)
    assert from_parquet.wavelength_unit == "nm"
    wide = read_library(
        LIBRARIES / "wide_generic.csv",
        wavelength_unit="cm-1",
        quantity="absorbance",
        id_column="sample",
        spectrum_columns="wn_",
    )
    assert wide.wavelength_unit == "cm-1" and wide.quantity == "absorbance"
    ossl = read_library(f"ossl-mir:{LIBRARIES / 'ossl'}")
    assert ossl.wavelength_unit == "cm-1"
    with pytest.raises(SpectralLibraryError, match="prefix 'nope' is unknown"):
        read_library("nope:thing")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_library(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_library(f"nirsoil:{tmp_path / 'missing.csv'}")
    (tmp_path / "lib.xyz").write_text("x")
    with pytest.raises(SpectralLibraryError, match="unknown file type"):
        read_library(tmp_path / "lib.xyz")


def test_limesoda_prefix() -> None:
    pytest.importorskip("LimeSoDa")
    library = read_library("limesoda:CV.98")
    assert len(library) == 98 and library.name == "LimeSoDa CV.98"


def test_earthlib_soils() -> None:
    pytest.importorskip("earthlib")
    library = read_library("earthlib:soil")
    assert len(library) == 4185
    assert library.wavelengths[0] == pytest.approx(400.0) and library.wavelengths[-1] == pytest.approx(2450.0)
    assert np.isfinite(library.spectra).all()


def test_bundled_encoder_embeds_real_soil_spectra() -> None:
    pytest.importorskip("earthlib")
    library = read_library("earthlib:soil").subset(np.arange(0, 4185, 400))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = embed_library(library, "vae_enmap")
    latent = frame[[f"z_{k}" for k in range(1, 33)]].to_numpy()
    assert latent.shape == (11, 32) and np.isfinite(latent).all()
    assert frame.attrs["eospec_embedding"]["encoder"] == "vae_enmap"


@pytest.mark.shared_data
def test_real_potsdam_scene(shared_data: Path, tmp_path: Path) -> None:
    """The bundled encoder on the real EnMAP mosaic: nodata on the gap and zero pixels, equal to a direct run."""
    scene = shared_data / "enmap" / "potsdam" / "enmap_potsdam_tiles_mosaic.tif"
    result = embed_scene(scene, tmp_path / "emb.tif", "vae_enmap", progress=False)
    with rasterio.open(scene) as source:
        tagged = np.array([float(source.tags(band)["wavelength"]) for band in range(1, source.count + 1)])
        tagged = tagged * 1000.0 if tagged.max() < 100.0 else tagged  # um or nm
        wanted = enmap().wavelengths_nm[DEFAULT]
        nearest = np.abs(tagged[None, :] - wanted[:, None]).argmin(axis=1)  # the scene orders bands by detector
        assert np.abs(tagged[nearest] - wanted).max() < 2.0
        dn = source.read((nearest + 1).tolist())
        nodata = source.nodata
    invalid = (dn == nodata).any(axis=0) | (dn == 0).all(axis=0)
    with rasterio.open(tmp_path / "emb.tif") as written:
        values = written.read()
        assert written.count == 32 and written.descriptions[-1] == "z32"
    assert (values[:, invalid] == EMBEDDING_NODATA).all()
    assert (values[:, ~invalid] != EMBEDDING_NODATA).all() and np.isfinite(values).all()
    assert result.n_valid == int((~invalid).sum())
    rows, cols = np.nonzero(~invalid)
    pick = np.random.default_rng(0).choice(rows.size, 200, replace=False)
    reflectance = dn[:, rows[pick], cols[pick]].T.astype(np.float32) / np.float32(10000.0)
    module = load_encoder("vae_enmap").module
    assert isinstance(module, SpectralVAE)
    expected = module.embed(reflectance).numpy()
    np.testing.assert_allclose(values[:, rows[pick], cols[pick]].T, expected, rtol=1e-4, atol=1e-4)

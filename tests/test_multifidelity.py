"""Spectral domains, converters (physical and learned), conversion errors and pairing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import one_thread

import eospec  # noqa: F401
from eospec.errors import SpectralLibraryError, UnknownModelError, UnknownSensorError
from eospec.libraries import SpectralLibrary
from eospec.multifidelity import (
    LearnedConverter,
    ResampleConverter,
    SpectralDomain,
    conversion_report,
    convert,
    fit_converter,
    get_converter,
    get_domain,
    list_converters,
    load_converter,
    pair_by_id,
    register_converter,
    save_converter,
    subset_domain,
    to_domain,
)


@pytest.fixture(autouse=True)
def _quiet():
    with one_thread(ignore=(".*(treespec|eval mode|num_workers|does not have many workers).*",)):
        yield


def _lab_library(n: int = 6, seed: int = 0) -> SpectralLibrary:
    generator = np.random.default_rng(seed)
    wavelengths = np.arange(350.0, 2501.0)
    x = (wavelengths - 350.0) / 2150.0
    spectra = (
        0.1 + 0.3 * generator.random((n, 1)) * x[None, :] + 0.05 * np.sin(9 * x[None, :] + generator.random((n, 1)))
    )
    return SpectralLibrary(spectra, wavelengths, "nm", sample_ids=np.array([f"s{i}" for i in range(n)]), name="lab")


def _gaussian_weights(source: np.ndarray, centres: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    weights = np.exp(-0.5 * ((source[None, :] - centres[:, None]) / sigma[:, None]) ** 2) * np.gradient(source)[None, :]
    return weights / weights.sum(axis=1, keepdims=True)


def test_builtin_domains() -> None:
    enmap = get_domain("enmap")
    assert enmap.n_bands == 202 and enmap.unit == "nm" and enmap.quantity == "reflectance"
    assert get_domain("lab-asd").n_bands == 2151
    mir = get_domain("kssl-mir")
    assert mir.unit == "cm-1" and mir.quantity == "absorbance" and np.all(np.diff(mir.wavelengths) > 0)
    assert get_domain("desis").unit == "nm"  # any catalogue sensor
    with pytest.raises(UnknownSensorError, match="spectral domain 'nope' is unknown"):
        get_domain("nope")


def test_resample_converter_matches_independent_computation() -> None:
    library = _lab_library()
    converter = get_converter("lab-asd", "enmap")
    assert isinstance(converter, ResampleConverter) and converter.method == "resample"
    converted = convert(library, "lab-asd", "enmap")
    enmap = get_domain("enmap")
    expected = library.spectra @ _gaussian_weights(library.wavelengths, enmap.wavelengths, enmap.fwhm).T
    np.testing.assert_allclose(converted.spectra, expected, rtol=1e-6, atol=1e-9)
    assert converted.wavelength_unit == "nm" and converted.quantity == "reflectance"
    np.testing.assert_array_equal(converted.wavelengths, enmap.wavelengths)
    np.testing.assert_array_equal(converted.ids, library.ids)
    # The same spectra as an array on the source axis, and in absorbance: same result.
    np.testing.assert_allclose(convert(library.spectra, "lab-asd", "enmap").spectra, expected, rtol=1e-6)
    np.testing.assert_allclose(
        convert(library.to_quantity("absorbance"), "lab-asd", "enmap").spectra, expected, rtol=1e-6
    )


def test_conversion_to_an_absorbance_wavenumber_domain() -> None:
    wavenumbers = np.arange(500.0, 4101.0, 1.0)
    absorbance = 0.3 + 0.2 * np.sin(wavenumbers / 400.0)[None, :] * np.array([[1.0], [0.5]])
    library = SpectralLibrary(absorbance, wavenumbers, "cm-1", quantity="absorbance", name="fine-mir")
    domain = SpectralDomain("fine-mir", wavenumbers, "cm-1", "absorbance", np.full(wavenumbers.size, 1.0))
    converted = convert(library, domain, "kssl-mir")
    mir = get_domain("kssl-mir")
    assert converted.wavelength_unit == "cm-1" and converted.quantity == "absorbance"
    reflectance = 10.0**-absorbance
    expected = -np.log10(reflectance @ _gaussian_weights(wavenumbers, mir.wavelengths, mir.fwhm).T)
    np.testing.assert_allclose(converted.spectra, expected, rtol=1e-6)


def test_no_converter_when_the_source_does_not_cover_the_target() -> None:
    with pytest.raises(UnknownModelError, match="No converter from 'portable-nir' to 'lab-asd'"):
        get_converter("portable-nir", "lab-asd")
    with pytest.raises(ValueError, match=r"pass \(N, 2151\)"):
        convert(np.zeros((2, 10)), "lab-asd", "enmap")
    short = SpectralLibrary(np.ones((1, 100)), np.arange(1000.0, 1100.0), "nm", name="short")
    with pytest.raises(SpectralLibraryError, match="'short' covers 1000-1099 nm"):
        convert(short, "lab-asd", "enmap")


def test_conversion_report_against_numpy() -> None:
    generator = np.random.default_rng(3)
    reference = _lab_library(5)
    noisy = reference.spectra + generator.normal(0.0, 0.01, reference.spectra.shape)
    converted = SpectralLibrary(noisy, reference.wavelengths, "nm")
    report = conversion_report(converted, reference)
    error = noisy - reference.spectra
    assert report.rmse == pytest.approx(float(np.sqrt(np.mean(error**2))))
    np.testing.assert_allclose(report.rmse_per_band, np.sqrt(np.mean(error**2, axis=0)))
    np.testing.assert_allclose(report.bias_per_band, error.mean(axis=0))
    assert report.quantity == "reflectance" and report.unit == "nm" and report.n == 5
    inside = (reference.wavelengths >= 1000) & (reference.wavelengths <= 1500)
    assert report.rmse_between(1000, 1500) == pytest.approx(float(np.sqrt(np.mean(error[:, inside] ** 2))))
    assert report.summary()["n"] == 5 and len(report.to_frame()) == reference.n_bands
    # A reference on a finer axis is resampled onto the converted one first.
    on_enmap = convert(reference, "lab-asd", "enmap")
    assert conversion_report(on_enmap, reference).rmse == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="differ"):
        conversion_report(converted, reference.spectra[:3])


def test_pair_by_id_aligns_samples_and_means_repeats() -> None:
    low = SpectralLibrary(
        np.array([[1.0, 1.0], [3.0, 3.0], [2.0, 2.0], [9.0, 9.0]]),
        [1.0, 2.0],
        "nm",
        sample_ids=np.array(["a", "a", "b", "z"]),
    )
    high = SpectralLibrary(
        np.array([[20.0, 20.0, 20.0], [10.0, 10.0, 10.0]]), [1.0, 2.0, 3.0], "nm", sample_ids=np.array(["b", "a"])
    )
    source, target = pair_by_id(low, high)
    assert list(source.ids) == ["a", "b"] and list(target.ids) == ["a", "b"]
    np.testing.assert_array_equal(source.spectra[:, 0], [2.0, 2.0])
    np.testing.assert_array_equal(target.spectra[:, 0], [10.0, 20.0])
    with pytest.raises(SpectralLibraryError, match="share no sample id"):
        pair_by_id(low, SpectralLibrary(np.ones((1, 2)), [1.0, 2.0], "nm", sample_ids=np.array(["q"])))


def test_learned_converter_round_trip(tmp_path: Path) -> None:
    full = _lab_library(40, seed=1)
    coarse = SpectralDomain("lab-10nm", np.arange(400.0, 2451.0, 10.0), "nm", "reflectance", np.full(206, 10.0))
    nir = subset_domain(coarse, 1350.0, 2450.0, name="nir-10nm")
    assert nir.wavelengths[0] == 1350.0 and nir.n_bands == 111
    converter = fit_converter(
        full,
        full,
        nir,
        coarse,
        vae_kwargs={"latent_dim": 4, "model_kwargs": {"hidden": (16,)}},
        converter_kwargs={"model_kwargs": {"hidden": (16,)}},
        vae_epochs=3,
        converter_epochs=3,
    )
    assert isinstance(converter, LearnedConverter) and converter.method == "learned"
    with pytest.raises(UnknownModelError):  # not registered yet, and resampling cannot extend the range
        get_converter(nir, coarse)
    path = save_converter(converter, tmp_path, "nir_to_lab")
    loaded = load_converter(path)
    assert ("nir-10nm", "lab-10nm") in list_converters()
    x = to_domain(full, nir).spectra
    np.testing.assert_allclose(loaded(x), converter(x), rtol=1e-6)
    result = convert(full, nir, coarse)  # registered now: the learned converter
    assert result.n_bands == 206 and result.quantity == "reflectance"
    np.testing.assert_allclose(result.spectra, converter(x), rtol=1e-6)
    with pytest.raises(ValueError, match="not a converter"):
        (tmp_path / "other.json").write_text('{"task": "embedding"}')
        load_converter(tmp_path / "other.json")


def test_domain_validation() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        SpectralDomain("bad", np.array([3.0, 2.0, 1.0]))
    from eospec.errors import UnknownUnitError

    with pytest.raises(UnknownUnitError):
        SpectralDomain("bad", np.array([1.0, 2.0]), quantity="radiance")
    round_trip = SpectralDomain.from_description(get_domain("enmap").describe())
    np.testing.assert_array_equal(round_trip.wavelengths, get_domain("enmap").wavelengths)


def test_vis_nir_to_mir_on_the_ossl_layout() -> None:
    """The paper's setting (portable NIR -> KSSL MIR) on the OSSL fixture: pairs by layer id, MIR out."""
    from eospec.libraries import read_ossl

    folder = Path(__file__).parent / "data" / "libraries" / "ossl"
    visnir, mir = read_ossl(folder, scan="visnir"), read_ossl(folder, scan="mir")
    low, high = pair_by_id(visnir, mir)
    assert len(low) == 1 and list(low.ids) == list(high.ids)
    source = subset_domain("lab-asd", 400.0, 2450.0, name="ossl-visnir-400-2450")
    converter = fit_converter(
        low,
        high,
        source,
        "kssl-mir",
        unpaired_target=mir,
        vae_kwargs={"latent_dim": 3, "model_kwargs": {"hidden": (8,)}},
        converter_kwargs={"model_kwargs": {"hidden": (8,)}},
        vae_epochs=2,
        converter_epochs=2,
    )
    assert converter.target.unit == "cm-1" and converter.target.quantity == "absorbance"
    assert converter.module.decoder.quantity == "absorbance"
    register_converter(converter, overwrite=True)
    result = convert(low, source, "kssl-mir")
    assert list(result.ids) == list(low.ids)
    assert result.wavelength_unit == "cm-1" and result.quantity == "absorbance" and result.n_bands == 1701
    report = conversion_report(result, high)
    assert report.unit == "cm-1" and report.quantity == "absorbance" and report.n == 1

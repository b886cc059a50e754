"""Tests of the post-nonlinear mixture generator."""

from __future__ import annotations

import numpy as np
import pytest

from eospec.errors import SpectralLibraryError
from eospec.synthetic import (
    SPLIB07_AV95,
    SYNTHETIC_ENDMEMBERS,
    make_mixtures,
    measured_snr_db,
    post_nonlinear_mixing,
    select_spectra,
    usgs_endmembers,
)


def _endmembers(r: int = 4, b: int = 224) -> np.ndarray:
    """Smooth reflectance-like spectra in (0.05, 0.9) with a Gaussian absorption each."""
    wavelengths = np.linspace(400.0, 2500.0, b)
    rows = []
    for k in range(r):
        continuum = 0.3 + 0.5 * (wavelengths - 400.0) / 2100.0 * (k + 1) / r
        band = 0.2 * np.exp(-0.5 * ((wavelengths - (700.0 + 400.0 * k)) / 60.0) ** 2)
        rows.append(np.clip(continuum - band, 0.05, 0.9))
    return np.stack(rows)


def test_abundances_on_the_simplex_and_shapes():
    spectra, abundances = make_mixtures(_endmembers(), n_pixels=500, seed=1)
    assert spectra.shape == (500, 224) and spectra.dtype == np.float32
    assert abundances.shape == (500, 4) and abundances.dtype == np.float32
    assert np.all(abundances >= 0.0)
    np.testing.assert_allclose(abundances.sum(axis=1), 1.0, atol=1e-6)


def test_uniform_dirichlet_moments():
    # Dirichlet(1, 1, 1, 1): each abundance is Beta(1, 3), mean 1/4 and variance 3/80.
    _, abundances = make_mixtures(_endmembers(), n_pixels=20_000, seed=2, snr_db=None)
    np.testing.assert_allclose(abundances.mean(axis=0), 0.25, atol=0.01)
    np.testing.assert_allclose(abundances.var(axis=0), 3.0 / 80.0, rtol=0.05)


@pytest.mark.parametrize("snr", [10.0, 20.0, 30.0])
def test_measured_snr_matches_the_request(snr):
    endmembers = _endmembers()
    spectra, abundances = make_mixtures(endmembers, n_pixels=2_000, snr_db=snr, seed=3)
    linear = abundances.astype(np.float64) @ endmembers  # independent re-computation of Ma + Ma (.) Ma
    signal = linear + linear**2
    noise = spectra - signal
    measured = 10.0 * np.log10(np.mean(signal**2) / np.mean(noise**2))
    assert abs(measured - snr) < 0.5
    assert measured_snr_db(signal, spectra) == pytest.approx(measured, abs=1e-9)
    assert abs(noise.mean()) < 0.05 * noise.std()  # zero-mean noise


def test_noise_free_mixtures_follow_the_post_nonlinear_model():
    endmembers = _endmembers(r=3, b=50)
    spectra, abundances = make_mixtures(endmembers, n_pixels=40, snr_db=None, seed=4, nonlinearity=0.5)
    a = abundances.astype(np.float64)
    expected = np.array([[sum(a[i, r] * endmembers[r, b] for r in range(3)) for b in range(50)] for i in range(40)])
    expected = expected + 0.5 * expected**2
    np.testing.assert_allclose(spectra, expected, rtol=1e-5)
    np.testing.assert_allclose(post_nonlinear_mixing(endmembers, a, 0.0), a @ endmembers)


def test_scale_multiplies_signal_and_noise():
    # The same seed draws the same abundances and standard normals, so the scaled spectra are the
    # unscaled ones times the factor, and the SNR is unchanged.
    unscaled = make_mixtures(_endmembers(), n_pixels=300, snr_db=15.0, seed=6)
    scaled = make_mixtures(_endmembers(), n_pixels=300, snr_db=15.0, seed=6, scale=0.5)
    np.testing.assert_array_equal(scaled.abundances, unscaled.abundances)
    np.testing.assert_allclose(scaled.spectra, 0.5 * unscaled.spectra, rtol=1e-6, atol=1e-7)
    linear = scaled.abundances.astype(np.float64) @ _endmembers()
    signal = 0.5 * (linear + linear**2)
    assert abs(measured_snr_db(signal, scaled.spectra) - 15.0) < 0.5


def test_half_scale_keeps_noise_free_mixtures_of_reflectances_in_the_unit_interval():
    bright = np.array([[1.0, 0.9, 0.5], [1.0, 0.2, 0.0]])  # the brightest possible endmember reaches 2 unscaled
    spectra, _ = make_mixtures(bright, n_pixels=2_000, snr_db=None, seed=0, concentration=0.05, scale=0.5)
    assert spectra.min() >= 0.0 and spectra.max() <= 1.0
    assert spectra[:, 0].max() == pytest.approx(1.0)


def test_reproducible_by_seed():
    first = make_mixtures(_endmembers(), n_pixels=100, seed=7)
    second = make_mixtures(_endmembers(), n_pixels=100, seed=7)
    other = make_mixtures(_endmembers(), n_pixels=100, seed=8)
    np.testing.assert_array_equal(first.spectra, second.spectra)
    np.testing.assert_array_equal(first.abundances, second.abundances)
    assert not np.allclose(first.abundances, other.abundances)


def test_concentration_skews_the_abundances():
    _, abundances = make_mixtures(_endmembers(), n_pixels=5_000, seed=5, concentration=[8.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(abundances.mean(axis=0), [8 / 11, 1 / 11, 1 / 11, 1 / 11], atol=0.01)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"endmembers": np.ones(10)}, r"endmembers of shape \(10,\) are invalid"),
        ({"n_pixels": 0}, "n_pixels 0 is invalid"),
        ({"concentration": -1.0}, "concentration -1.0 is invalid"),
        ({"snr_db": float("inf")}, "snr_db inf is invalid"),
        ({"scale": 0.0}, "scale 0.0 is invalid"),
        ({"scale": float("nan")}, "scale nan is invalid"),
    ],
)
def test_invalid_arguments(kwargs, match):
    arguments = {"endmembers": _endmembers(), "n_pixels": 10} | kwargs
    with pytest.raises(ValueError, match=match):
        make_mixtures(**arguments)


def test_select_spectra_by_name_ignores_whitespace_runs():
    names = ["Wavelengths", "Kaolinite CM9                 BECKb AREF", "Calcite WS272   BECKa AREF"]
    table = np.arange(15, dtype=np.float64).reshape(3, 5)
    picked = select_spectra(names, table, ["Calcite WS272 BECKa AREF", "Kaolinite CM9 BECKb AREF"])
    np.testing.assert_array_equal(picked, table[[2, 1]])
    with pytest.raises(SpectralLibraryError, match="'Hematite GDS27' is not in the library"):
        select_spectra(names, table, ["Hematite GDS27"])
    table[1, 2] = -1.23e34
    with pytest.raises(SpectralLibraryError, match="'Kaolinite CM9 BECKb AREF' has deleted"):
        select_spectra(names, table, ["Kaolinite CM9 BECKb AREF"])


@pytest.mark.shared_data
def test_usgs_endmembers_mix_at_the_requested_snr(shared_data):
    wavelengths, endmembers = usgs_endmembers(shared_data / SPLIB07_AV95)
    assert endmembers.shape == (len(SYNTHETIC_ENDMEMBERS), 224) and wavelengths.shape == (224,)
    assert np.all(np.diff(wavelengths) > 0) and 370.0 < wavelengths[0] < wavelengths[-1] < 2520.0
    assert np.all((endmembers > 0.0) & (endmembers < 1.0))
    spectra, abundances = make_mixtures(endmembers, n_pixels=10_000, snr_db=20.0, seed=0)
    signal = post_nonlinear_mixing(endmembers, abundances)
    assert abs(measured_snr_db(signal, spectra) - 20.0) < 0.5


def test_usgs_endmembers_without_the_library(tmp_path):
    with pytest.raises(SpectralLibraryError):
        usgs_endmembers(tmp_path / "missing.hdr")

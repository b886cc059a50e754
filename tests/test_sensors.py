"""Sensor tables and SRF resampling against analytic results and the real EnMAP SRF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eospec.sensors import (
    ENMAP_DEFAULT_BANDS,
    enmap,
    gaussian_srf_matrix,
    nearest_band,
    read_srf_table,
    resample,
    tabulated_srf_matrix,
)


def test_enmap_table() -> None:
    sensor = enmap()
    assert sensor.n_bands == 224
    assert np.all(np.diff(sensor.wavelengths_nm) > 0)
    assert 415 < sensor.wavelengths_nm[0] < 425 and 2440 < sensor.wavelengths_nm[-1] < 2450
    assert sensor.good_band_indices.size == len(ENMAP_DEFAULT_BANDS) == 202
    # the dropped bands are the water-vapour absorption regions
    bad = sensor.wavelengths_nm[sensor.bad_bands]
    assert np.all(((bad > 1250) & (bad < 1550)) | ((bad > 1700) & (bad < 2000)))


def test_gaussian_srf_of_linear_spectrum_is_its_value_at_the_centre() -> None:
    source = np.arange(400.0, 2500.0, 1.0)
    sensor = enmap()
    matrix = gaussian_srf_matrix(source, sensor.wavelengths_nm, sensor.fwhm_nm)
    finite = np.isfinite(matrix).all(axis=1)
    assert finite[5:-5].all()
    np.testing.assert_allclose(matrix[finite].sum(axis=1), 1.0)
    spectrum = 0.1 + 1e-4 * source  # symmetric responses reproduce a linear function exactly
    np.testing.assert_allclose(
        resample(spectrum, matrix[finite]), 0.1 + 1e-4 * sensor.wavelengths_nm[finite], rtol=1e-6
    )


def test_uncovered_bands_are_nan_not_extrapolated() -> None:
    matrix = gaussian_srf_matrix(np.arange(500.0, 900.0), [450.0, 700.0, 899.0], [10.0, 10.0, 10.0])
    assert np.isnan(matrix[0]).all() and np.isfinite(matrix[1]).all() and np.isnan(matrix[2]).all()


def test_gaussian_width_matters() -> None:
    source = np.arange(600.0, 800.0, 0.5)
    narrow = gaussian_srf_matrix(source, [700.0], [5.0])[0]
    wide = gaussian_srf_matrix(source, [700.0], [20.0])[0]
    spectrum = np.where(np.abs(source - 700) < 3, 1.0, 0.0)  # a 6 nm wide emission line
    assert resample(spectrum, narrow[None])[0] > resample(spectrum, wide[None])[0]


def test_tabulated_gaussian_equals_analytic_gaussian() -> None:
    source = np.arange(400.0, 1000.0, 1.0)
    grid = np.linspace(650, 750, 401)
    sigma = 8.0 / (2 * np.sqrt(2 * np.log(2)))
    tab = tabulated_srf_matrix(source, [(grid, np.exp(-0.5 * ((grid - 700) / sigma) ** 2))])
    analytic = gaussian_srf_matrix(source, [700.0], [8.0])
    np.testing.assert_allclose(tab, analytic, atol=1e-5)


def test_errors() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        gaussian_srf_matrix([500.0, 400.0, 600.0], [450.0], [10.0])
    with pytest.raises(ValueError, match="positive"):
        gaussian_srf_matrix([400.0, 500.0, 600.0], [450.0], [0.0])
    with pytest.raises(ValueError, match="Expected spectra with 3 source samples"):
        resample(np.ones(4), np.ones((1, 3)))
    with pytest.raises(ValueError, match="No band within"):
        nearest_band([400.0, 500.0], 900.0)


def test_real_enmap_srf_agrees_with_gaussian_fwhm(shared_data: Path) -> None:
    """The EnMAP-Box tabulated L2A SRFs and Gaussian(centre, FWHM) give the same soil spectrum."""
    responses, centres, fwhm = read_srf_table(shared_data / "enmap" / "srf" / "EnMAP_L2A_224bands_generic.srf")
    assert len(responses) == 224 and np.allclose(centres, enmap().wavelengths_nm, atol=0.01)
    table = np.loadtxt(shared_data / "enmap" / "srf" / "Example_Soil_1nm.csv", skiprows=1)
    wavelengths, reflectance = table[:, 0], table[:, 1]
    if wavelengths.max() < 100:
        wavelengths = wavelengths * 1000
    tabulated = resample(reflectance, tabulated_srf_matrix(wavelengths, responses))
    gaussian = resample(reflectance, gaussian_srf_matrix(wavelengths, centres, fwhm))
    good = np.isfinite(tabulated) & np.isfinite(gaussian)
    assert good.sum() > 200
    np.testing.assert_allclose(gaussian[good], tabulated[good], rtol=0.01, atol=2e-3)

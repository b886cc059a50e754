"""Sensor catalogue and SRF resampling against analytic results, independent computations and real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eospec.errors import MixedUnitsError, UnknownSensorError, UnknownUnitError, WavelengthOrderError
from eospec.sensors import (
    ENMAP_DEFAULT_BANDS,
    Sensor,
    enmap,
    gaussian_srf_matrix,
    get_sensor,
    list_sensors,
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


@pytest.mark.shared_data
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


# ----------------------------------------------------------------------------------------------
# Catalogue

#: Documented band counts, bad-band counts and native units (docs/sensors.md).
CATALOGUE = {
    "aviris-classic": (224, 36, "nm"),
    "aviris-ng": (432, 59, "nm"),
    "desis": (235, 0, "nm"),
    "enmap": (224, 22, "nm"),
    "hyperion": (242, 44, "nm"),
    "kssl-mir": (1701, 0, "cm-1"),
    "lab-asd": (2151, 0, "nm"),
    "portable-nir": (601, 0, "nm"),
    "prisma": (239, 0, "nm"),
    "sentinel-2a-msi": (13, 1, "nm"),
}

#: 1-based (first, last) band runs with increasing centres; the centres decrease from one run to the next
#: where spectrometers overlap (AVIRIS-Classic 32->33 and 96->97, Hyperion 70->71, PRISMA 66->67).
SEGMENTS = {
    "aviris-classic": [(1, 32), (33, 96), (97, 224)],
    "hyperion": [(1, 70), (71, 242)],
    "prisma": [(1, 66), (67, 239)],
}

LAB_GRID = np.arange(350.0, 2501.0)


def smooth_spectrum(wavelengths_nm: np.ndarray) -> np.ndarray:
    """A smooth synthetic reflectance spectrum (0.1-0.45) with a 2200 nm absorption feature."""
    lam = np.asarray(wavelengths_nm, dtype=float)
    return (
        0.25
        + 0.08 * np.sin(lam / 90.0)
        + 0.03 * np.cos(lam / 37.0)
        - 0.05 * np.exp(-0.5 * ((lam - 2200.0) / 30.0) ** 2)
    )


def test_catalogue_lists_every_documented_sensor() -> None:
    assert list_sensors() == sorted(CATALOGUE)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_catalogue_entry(name: str) -> None:
    sensor = get_sensor(name)
    n_bands, n_bad, unit = CATALOGUE[name]
    assert sensor.name == name and sensor.unit == unit
    assert sensor.n_bands == n_bands and int(sensor.bad_bands.sum()) == n_bad
    assert sensor.description and sensor.source
    assert np.all(sensor.fwhm_nm > 0) and np.all(sensor.widths > 0)
    centres = sensor.centres
    for first, last in SEGMENTS.get(name, [(1, n_bands)]):
        assert np.all(np.diff(centres[first - 1 : last]) > 0), f"{name} bands {first}-{last} not increasing"
    for (_, last), (first, _) in zip(SEGMENTS.get(name, [])[:-1], SEGMENTS.get(name, [])[1:], strict=True):
        assert centres[first - 1] < centres[last - 1]  # the documented spectrometer overlap
    assert np.unique(centres).size == n_bands
    if sensor.band_names is not None:
        assert len(sensor.band_names) == n_bands
    assert get_sensor(name.upper()) is sensor  # cached, case-insensitive


def test_catalogue_ranges_and_sampling() -> None:
    lab, nir, mir = get_sensor("lab-asd"), get_sensor("portable-nir"), get_sensor("kssl-mir")
    np.testing.assert_allclose(np.diff(lab.centres), 1.0)
    assert (lab.centres[0], lab.centres[-1]) == (350.0, 2500.0)
    assert (nir.centres[0], nir.centres[-1]) == (1350.0, 2550.0)
    np.testing.assert_allclose(np.diff(mir.centres), 2.0)
    np.testing.assert_allclose([mir.centres[0], mir.centres[-1]], [600.0, 4000.0])
    # stored in cm-1, expressed in nm: 600 cm-1 = 16667 nm, 4000 cm-1 = 2500 nm (decreasing)
    np.testing.assert_allclose(mir.wavelengths_nm[[0, -1]], [1e7 / 600.0, 2500.0])
    assert np.all(np.diff(mir.wavelengths_nm) < 0)
    hyperion = get_sensor("hyperion")
    assert hyperion.good_band_indices.size == 198
    desis = get_sensor("desis")
    assert 2.4 < np.median(np.diff(desis.centres)) < 2.7 and 400 < desis.centres[0] < desis.centres[-1] < 1001
    s2 = get_sensor("sentinel-2")
    assert s2 is get_sensor("sentinel-2a-msi")
    assert s2.band_names is not None and s2.band_names[8] == "B8A"
    assert abs(s2.centres[nearest_band(s2.centres, 665.0)] - 664.6) < 1e-9


def test_unknown_sensor_names_the_value_and_the_choices() -> None:
    with pytest.raises(UnknownSensorError, match=r"'enmap-l3' is unknown: use one of \['aviris-classic'"):
        get_sensor("enmap-l3")
    with pytest.raises(KeyError):  # UnknownSensorError is a KeyError, as for a dict registry
        get_sensor("landsat-99")


def test_enmap_default_bands_match_torchgeo() -> None:
    from torchgeo.datasets import EnMAP  # importing eospec installed the torchvision fallback first

    sensor = get_sensor("enmap")
    assert sensor is enmap()
    assert sensor.band_names == EnMAP.all_bands
    names = tuple(sensor.band_names[i] for i in sensor.default_band_indices)
    assert len(names) == 202 and names == EnMAP.default_bands
    assert np.array_equal(sensor.default_band_indices, sensor.good_band_indices)


@pytest.mark.shared_data
def test_aviris_tables_equal_the_real_headers(shared_data: Path) -> None:
    """The bundled AVIRIS tables are the values of the real files (not read at run time)."""
    import spectral.io.envi as envi

    library = envi.open(str(shared_data / "endmembers" / "usgs_splib07_av95" / "s07_AV95_envi.hdr"))
    classic = get_sensor("aviris-classic")
    np.testing.assert_allclose(classic.wavelengths_nm, library.spectra[0] * 1000, atol=0.006)
    np.testing.assert_allclose(classic.fwhm_nm, library.spectra[1] * 1000, atol=0.006)
    header = envi.read_envi_header(
        str(shared_data / "scenes" / "aviris_ng" / "ang20150420t182808_corr_v1e_img_4200-4210_70-80.hdr")
    )
    ng = get_sensor("aviris-ng")
    np.testing.assert_allclose(ng.wavelengths_nm, np.array(header["wavelength"], float), atol=1e-5)
    np.testing.assert_allclose(ng.fwhm_nm, np.array(header["fwhm"], float), atol=1e-5)
    assert np.array_equal(ng.bad_bands, np.array(header["bbl"], float) == 0)
    # the 188 good AVIRIS-Classic bands are the band count of the real Cuprite benchmark cube
    from scipy.io import loadmat

    cube = loadmat(str(shared_data / "endmembers" / "usgs_nmfqmv" / "Rcuprite50x90x188.mat"))["Rcuprite50x90x188"]
    assert cube.shape[-1] == classic.good_band_indices.size


# ----------------------------------------------------------------------------------------------
# Sensor type


def test_positional_construction_and_value_semantics() -> None:
    wl = np.array([500.0, 600.0, 700.0])
    sensor = Sensor("test", wl, np.array([10.0, 10.0, 10.0]), np.array([False, True, False]))
    wl[0] = 1.0  # the sensor holds its own read-only copy
    assert sensor.wavelengths_nm[0] == 500.0 and not sensor.wavelengths_nm.flags.writeable
    assert sensor.unit == "nm" and sensor.srf is None and not sensor.continuous
    assert sensor.good_band_indices.tolist() == [0, 2] and sensor.default_band_indices.tolist() == [0, 2]
    twin = Sensor("test", [500.0, 600.0, 700.0], 10.0, [False, True, False])
    assert twin == sensor and hash(twin) == hash(sensor) and twin != Sensor("other", wl + 1, 10.0, False)
    with pytest.raises(WavelengthOrderError, match="share a centre"):
        Sensor("dup", [500.0, 500.0], [10.0, 10.0], [False, False])
    with pytest.raises(ValueError, match="fwhm_nm must be finite and > 0"):
        Sensor("zero", [500.0, 600.0], [10.0, 0.0], [False, False])
    with pytest.raises(UnknownUnitError, match="'nanometers' is unknown"):
        Sensor("unit", [500.0, 600.0], 10.0, False, unit="nanometers")
    with pytest.raises(ValueError, match="2 tabulated responses for 3 bands"):
        sensor.with_srf([([490.0, 500.0, 510.0], [0.0, 1.0, 0.0])] * 2)


def test_matrices_are_cached_read_only_and_reused() -> None:
    sensor = get_sensor("desis")
    first = sensor.resample_matrix(LAB_GRID)
    assert sensor.resample_matrix(np.arange(350.0, 2501.0)) is first
    assert not first.flags.writeable and first.dtype == np.float64
    copy = Sensor(sensor.name, sensor.wavelengths_nm, sensor.fwhm_nm, sensor.bad_bands, band_names=sensor.band_names)
    assert copy.resample_matrix(LAB_GRID) is first  # equal sensors share the cache entry


# ----------------------------------------------------------------------------------------------
# Resampling


def test_sensor_matrix_from_a_grid_equals_gaussian_srf_matrix() -> None:
    sensor = enmap()
    expected = gaussian_srf_matrix(LAB_GRID, sensor.wavelengths_nm, sensor.fwhm_nm)
    np.testing.assert_array_equal(sensor.resample_matrix(LAB_GRID), expected)
    np.testing.assert_array_equal(sensor.resample_matrix(get_sensor("lab-asd")), expected)


@pytest.mark.parametrize("name", ["enmap", "desis", "hyperion", "prisma", "aviris-ng", "sentinel-2a-msi"])
def test_constant_spectrum_gives_the_constant(name: str) -> None:
    sensor = get_sensor(name)
    out = sensor.resample(np.full((2, LAB_GRID.size), 0.37), LAB_GRID)
    finite = np.isfinite(out[0])
    assert finite.sum() >= sensor.n_bands - 12
    np.testing.assert_allclose(out[:, finite], 0.37, rtol=1e-12)
    # and from another sensor: AVIRIS-NG band values of the same constant
    ng = get_sensor("aviris-ng")
    again = sensor.resample(np.full(ng.n_bands, 0.37), ng)
    np.testing.assert_allclose(again[np.isfinite(again)], 0.37, rtol=1e-12)


@pytest.mark.parametrize("name", ["enmap", "desis", "prisma", "hyperion", "aviris-classic"])
def test_linear_spectrum_gives_its_value_at_the_band_centre(name: str) -> None:
    sensor = get_sensor(name)
    fine = np.arange(300.0, 2700.0, 0.5)
    out = sensor.resample(0.1 + 1e-4 * fine, fine)
    finite = np.isfinite(out)
    assert finite.all()
    np.testing.assert_allclose(out, 0.1 + 1e-4 * sensor.wavelengths_nm, rtol=1e-7)


def test_linear_spectrum_in_wavenumber_on_the_mir_grid() -> None:
    mir = get_sensor("kssl-mir")
    fine = np.arange(550.0, 4050.0, 1.0)  # cm-1
    out = mir.resample(2.0 - 3e-4 * fine, fine, source_unit="cm-1")
    np.testing.assert_allclose(out, 2.0 - 3e-4 * mir.centres, rtol=1e-9)


def test_linear_spectrum_from_band_values_of_another_sensor() -> None:
    """Band values of a linear spectrum are its values at the centres; interpolation is exact."""
    source, target = get_sensor("aviris-ng"), enmap()
    values = 0.1 + 1e-4 * source.wavelengths_nm
    out = target.resample(values, source)
    inside = (target.wavelengths_nm > 450) & (target.wavelengths_nm < 1300)  # far from source holes
    np.testing.assert_allclose(out[inside], 0.1 + 1e-4 * target.wavelengths_nm[inside], rtol=1e-9)


def test_sensor_to_sensor_agrees_with_lab_to_sensor_on_a_smooth_spectrum() -> None:
    """AVIRIS-Classic -> EnMAP against lab -> EnMAP directly, and better than naive centre sampling."""
    target, source = enmap(), get_sensor("aviris-classic")
    spectrum = smooth_spectrum(LAB_GRID)
    direct = target.resample(spectrum, LAB_GRID)
    aviris = source.resample(spectrum, LAB_GRID)
    via = target.resample(aviris, source)
    good = np.isfinite(via) & ~target.bad_bands
    assert good.sum() >= 195
    error = np.abs(via - direct)[good]
    assert error.max() < 2e-3 and np.sqrt(np.mean(error**2)) < 5e-4
    # Naive: AVIRIS band values taken as point samples at their centres (no FWHM correction).
    keep = source.good_band_indices[np.argsort(source.wavelengths_nm[source.good_band_indices])]
    naive = resample(
        aviris[keep], gaussian_srf_matrix(source.wavelengths_nm[keep], target.wavelengths_nm, target.fwhm_nm)
    )
    naive_error = np.abs(naive - direct)[good]
    assert np.sqrt(np.mean(error**2)) < 0.5 * np.sqrt(np.mean(naive_error**2))


@pytest.mark.shared_data
def test_real_soil_spectrum_through_sensors(shared_data: Path) -> None:
    """Lab (1 nm) -> EnMAP: Gaussian vs the real tabulated SRF, and via AVIRIS-Classic / AVIRIS-NG."""
    table = np.loadtxt(shared_data / "enmap" / "srf" / "Example_Soil_1nm.csv", skiprows=1)
    wavelengths, reflectance = table[:, 0], table[:, 1]
    responses, _, _ = read_srf_table(shared_data / "enmap" / "srf" / "EnMAP_L2A_224bands_generic.srf")
    gaussian_sensor = enmap()
    tabulated_sensor = gaussian_sensor.with_srf(responses)
    gaussian = gaussian_sensor.resample(reflectance, wavelengths)
    tabulated = tabulated_sensor.resample(reflectance, wavelengths)
    assert np.isfinite(gaussian).all() and np.isfinite(tabulated).all()
    np.testing.assert_allclose(tabulated, gaussian, rtol=0.02)
    assert np.max(np.abs(tabulated - gaussian) / gaussian) > 1e-4  # the tables are really used
    # the Sensor path with tables equals tabulated_srf_matrix on the same grid
    np.testing.assert_allclose(tabulated, resample(reflectance, tabulated_srf_matrix(wavelengths, responses)))
    for name in ("aviris-classic", "aviris-ng"):
        source = get_sensor(name)
        via = gaussian_sensor.resample(source.resample(reflectance, wavelengths), source)
        good = np.isfinite(via)
        assert good.sum() >= 200
        np.testing.assert_allclose(via[good], gaussian[good], rtol=0.01)


def test_bands_outside_the_source_are_nan() -> None:
    sensor = enmap()
    out = sensor.resample(smooth_spectrum(np.arange(1000.0, 2000.0)), np.arange(1000.0, 2000.0))
    centres = sensor.wavelengths_nm
    assert np.isnan(out[centres < 995]).all() and np.isnan(out[centres > 2005]).all()
    assert np.isfinite(out[(centres > 1020) & (centres < 1980)]).all()
    # holes between good source bands: AVIRIS-Classic's water-vapour bad bands 1332-1432 nm
    aviris = get_sensor("aviris-classic")
    via = sensor.resample(aviris.resample(smooth_spectrum(LAB_GRID), LAB_GRID), aviris)
    hole = (centres > 1340) & (centres < 1420)
    assert hole.any() and np.isnan(via[hole]).all()
    # a multispectral source leaves most hyperspectral bands uncovered
    s2 = get_sensor("sentinel-2a-msi")
    from_s2 = sensor.resample(s2.resample(smooth_spectrum(LAB_GRID), LAB_GRID), s2)
    assert np.isnan(from_s2).sum() > 150


def test_bad_source_bands_and_missing_values_are_ignored() -> None:
    target, source = enmap(), get_sensor("aviris-ng")
    values = source.resample(smooth_spectrum(LAB_GRID), LAB_GRID)
    clean = target.resample(values, source)
    poisoned = values.copy()
    poisoned[source.bad_bands] = np.nan  # bad bands carry no weight
    np.testing.assert_array_equal(target.resample(poisoned, source), clean)
    # an isolated missing value: the bands around it are renormalised over the finite values
    spectrum = smooth_spectrum(LAB_GRID)
    gap = spectrum.copy()
    gap[1000] = np.nan  # 1350 nm
    with_gap = target.resample(np.stack([spectrum, gap]), LAB_GRID)
    assert np.isfinite(with_gap[1]).sum() == np.isfinite(with_gap[0]).sum()
    np.testing.assert_allclose(with_gap[1], with_gap[0], atol=2e-3)
    # a long run of missing values: bands inside it are NaN, not invented
    run = spectrum.copy()
    run[600:800] = np.nan  # 950-1149 nm
    inside = (target.wavelengths_nm > 980) & (target.wavelengths_nm < 1120)
    assert np.isnan(target.resample(run, LAB_GRID)[inside]).all()


def test_units_are_converted_at_the_edges() -> None:
    sensor, spectrum = enmap(), smooth_spectrum(LAB_GRID)
    in_nm = sensor.resample(spectrum, LAB_GRID)
    in_um = sensor.resample(spectrum, LAB_GRID / 1000.0, source_unit="um")
    np.testing.assert_allclose(in_um, in_nm, rtol=1e-12)
    # a target in cm-1 from a source in nm, and from the same source in cm-1 (order reversed)
    target = Sensor.from_axis("mir-bands", np.arange(1000.0, 3001.0, 100.0), 8.0, "cm-1")
    fine_nm = np.arange(3000.0, 11000.0, 1.0)
    values = 1.0 + 0.2 * np.sin(fine_nm / 300.0)
    from_nm = target.resample(values, fine_nm)
    from_cm = target.resample(values[::-1], 1e7 / fine_nm[::-1], source_unit="cm-1")
    assert np.isfinite(from_nm).all()
    np.testing.assert_allclose(from_nm, from_cm, rtol=1e-10)
    mir = get_sensor("kssl-mir")
    # sensor -> sensor across units: a coarse cm-1 sensor from the kssl-mir grid
    coarse = Sensor.from_axis("coarse-mir", np.arange(700.0, 3901.0, 50.0), 40.0, "cm-1")
    mir_values = 1.0 + 0.001 * mir.centres
    out = coarse.resample(mir_values, mir)
    np.testing.assert_allclose(out, 1.0 + 0.001 * coarse.centres, rtol=1e-6)


def test_subset_to_the_default_bands() -> None:
    sensor = enmap()
    default = sensor.subset(sensor.default_band_indices)
    assert default.n_bands == 202 and not default.bad_bands.any() and default.band_names is not None
    spectra = np.stack([smooth_spectrum(LAB_GRID), 0.5 * smooth_spectrum(LAB_GRID)])
    np.testing.assert_allclose(
        default.resample(spectra, LAB_GRID), sensor.resample(spectra, LAB_GRID)[:, sensor.default_band_indices]
    )


def test_resampling_bad_input() -> None:
    sensor = enmap()
    with pytest.raises(WavelengthOrderError, match="strictly increasing"):
        sensor.resample(np.ones(3), [500.0, 400.0, 600.0])
    with pytest.raises(WavelengthOrderError, match="decrease"):
        sensor.resample(np.ones(3), [600.0, 500.0, 400.0])
    with pytest.raises(UnknownUnitError, match="'nanometers' is unknown"):
        sensor.resample(np.ones(3), [400.0, 500.0, 600.0], source_unit="nanometers")
    with pytest.raises(MixedUnitsError, match="look like 'um'"):
        sensor.resample(np.ones(3), [0.4, 0.5, 0.6], source_unit="nm")
    with pytest.raises(ValueError, match="Expected spectra with 2151 values"):
        sensor.resample(np.ones((4, 2150)), LAB_GRID)
    with pytest.raises(ValueError, match="min_coverage must be in"):
        sensor.resample(np.ones(2151), LAB_GRID, min_coverage=0.0)
    with pytest.raises(WavelengthOrderError, match="strictly increasing"):
        tabulated_srf_matrix([400.0, 400.0, 500.0], [([400.0, 450.0], [1.0, 1.0])])

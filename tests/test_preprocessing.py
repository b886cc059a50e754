"""Tests of eospec.preprocessing: scikit-learn conventions and values against independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import ConvexHull
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import eospec.preprocessing.continuum as continuum_module
from eospec.errors import UnknownSensorError, WavelengthOrderError
from eospec.preprocessing import (
    AbsorbanceToReflectance,
    BandSelector,
    ContinuumRemoval,
    MultiplicativeScatterCorrection,
    ReflectanceToAbsorbance,
    SavitzkyGolay,
    SpectralResampler,
    StandardNormalVariate,
    convex_hull_continuum,
    wavelength_names,
)
from eospec.sensors import gaussian_srf_matrix, get_sensor, resample

LAB_NM = np.arange(350.0, 2501.0)  # a lab spectroradiometer grid, 1 nm


def soil_like(n: int, wavelengths: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reflectance (n, B) in (0, 1): a sloped continuum with absorptions whose depth follows y (n,)."""
    rng = np.random.default_rng(seed)
    w = wavelengths
    y = rng.uniform(0.0, 1.0, n)
    slope = 0.25 + 0.15 * (w - w[0]) / (w[-1] - w[0])
    clay = np.exp(-0.5 * ((w - 2200.0) / 25.0) ** 2)
    water = np.exp(-0.5 * ((w - 1420.0) / 40.0) ** 2) + np.exp(-0.5 * ((w - 1920.0) / 50.0) ** 2)
    base = slope[None, :] * (1.0 - 0.3 * y[:, None] * clay[None, :] - 0.2 * water[None, :])
    # Scatter: multiplicative and additive per spectrum, plus a little noise.
    gain = rng.uniform(0.7, 1.3, (n, 1))
    offset = rng.uniform(-0.03, 0.03, (n, 1))
    return np.clip(gain * base + offset + rng.normal(0.0, 1e-4, base.shape), 1e-3, 1.0), y


# ----------------------------------------------------------------------------------------------
# scikit-learn's own estimator checks


ESTIMATORS = [
    StandardNormalVariate(),
    StandardNormalVariate(ddof=0),
    MultiplicativeScatterCorrection(),
    SavitzkyGolay(window_length=5, polyorder=2, deriv=1, mode="nearest"),
    SavitzkyGolay(window_length=1, polyorder=0),
    ContinuumRemoval(),
    ContinuumRemoval(output="depth"),
    BandSelector(),
    BandSelector(include=[(0, 1)]),
    SpectralResampler(target_wavelengths=[0.5], target_fwhm=1.0, min_coverage=0.5),
    ReflectanceToAbsorbance(),
    AbsorbanceToReflectance(),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_continuum_removal_declares_positive_only():
    assert ContinuumRemoval().__sklearn_tags__().input_tags.positive_only
    with pytest.raises(ValueError, match="Negative values in data passed to ContinuumRemoval"):
        ContinuumRemoval().fit(np.array([[0.1, -0.2, 0.3]]))


# ----------------------------------------------------------------------------------------------
# SNV and MSC


def test_snv_matches_hand_computation():
    x, _ = soil_like(20, LAB_NM[::10])
    result = StandardNormalVariate().fit_transform(x)
    p = x.shape[1]
    mean = x.sum(axis=1, keepdims=True) / p
    std = np.sqrt(((x - mean) ** 2).sum(axis=1, keepdims=True) / (p - 1))  # Barnes et al. 1989: p - 1
    np.testing.assert_allclose(result, (x - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(result.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(result.std(axis=1, ddof=1), 1.0, rtol=1e-12)
    population = StandardNormalVariate(ddof=0).fit_transform(x)
    np.testing.assert_allclose(population.std(axis=1), 1.0, rtol=1e-12)


def test_snv_with_absorbance_matches_the_bundled_model_runtime():
    from eospec.models.runtime import NumpySpectralRegressor

    x, _ = soil_like(15, LAB_NM[::10])
    x[0, :3] = 0.0  # clipped to the floor by both
    runtime = NumpySpectralRegressor("absorbance", True, np.zeros(1, np.float32), np.ones(1, np.float32), [], [])
    expected = runtime.features(x.T.astype(np.float32)).T
    pipeline = make_pipeline(ReflectanceToAbsorbance(), StandardNormalVariate())
    np.testing.assert_allclose(pipeline.fit_transform(x), expected, rtol=1e-4, atol=1e-5)


def test_snv_rejects_too_few_bands():
    with pytest.raises(ValueError, match=r"ddof=1 needs more than 1 band\(s\) but X has 1 feature"):
        StandardNormalVariate().fit(np.ones((3, 1)))


def test_msc_recovers_the_reference():
    rng = np.random.default_rng(1)
    reference = 0.3 + 0.1 * np.sin(LAB_NM[::20] / 100.0)
    gains = rng.uniform(0.5, 2.0, (12, 1))
    offsets = rng.uniform(-0.1, 0.1, (12, 1))
    x = gains * reference[None, :] + offsets
    corrected = MultiplicativeScatterCorrection(reference=reference).fit(x).transform(x)
    np.testing.assert_allclose(corrected, np.broadcast_to(reference, x.shape), rtol=1e-10)
    # Against the mean spectrum (itself an affine function of the reference), every row becomes the mean.
    msc = MultiplicativeScatterCorrection().fit(x)
    np.testing.assert_allclose(msc.reference_, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(msc.transform(x), np.broadcast_to(x.mean(axis=0), x.shape), rtol=1e-10)


# ----------------------------------------------------------------------------------------------
# Savitzky-Golay


def test_savgol_derivatives_of_a_quadratic_on_a_non_unit_axis():
    wavelengths = 400.0 + 2.5 * np.arange(81)  # 2.5 nm steps
    a, b, c = np.array([[3.0], [1.0]]), np.array([[0.02], [-0.01]]), np.array([[-1e-5], [4e-6]])
    x = a + b * wavelengths + c * wavelengths**2
    first = SavitzkyGolay(window_length=11, polyorder=2, deriv=1, wavelengths=wavelengths).fit_transform(x)
    np.testing.assert_allclose(first, b + 2.0 * c * wavelengths, rtol=1e-9, atol=1e-12)
    second = SavitzkyGolay(window_length=11, polyorder=2, deriv=2, wavelengths=wavelengths).fit_transform(x)
    np.testing.assert_allclose(second, np.broadcast_to(2.0 * c, x.shape), rtol=1e-7)
    # Without wavelengths the derivative is per band: 2.5 times the derivative per nm.
    per_band = SavitzkyGolay(window_length=11, polyorder=2, deriv=1).fit_transform(x)
    np.testing.assert_allclose(per_band, 2.5 * first, rtol=1e-9)
    smooth = SavitzkyGolay(window_length=11, polyorder=2, wavelengths=wavelengths).fit_transform(x)
    np.testing.assert_allclose(smooth, x, rtol=1e-12)


def test_savgol_refuses_uneven_bands_for_derivatives():
    wavelengths = np.r_[np.arange(400.0, 500.0, 5.0), np.arange(500.0, 600.0, 10.0)]
    x = np.random.default_rng(0).random((3, wavelengths.size))
    with pytest.raises(ValueError, match=r"evenly spaced bands but the steps of wavelengths range from 5 to 10 nm"):
        SavitzkyGolay(deriv=1, wavelengths=wavelengths).fit(x)
    # Smoothing does not depend on the spacing.
    assert SavitzkyGolay(wavelengths=wavelengths).fit(x).transform(x).shape == x.shape


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"window_length": 5, "polyorder": 5}, "polyorder=5 must be less than window_length=5"),
        ({"window_length": 6}, "window_length=6 must be odd"),
        ({"polyorder": 1, "deriv": 2}, "deriv=2 exceeds polyorder=1"),
        ({"window_length": 31}, r"X has 20 feature\(s\) \(bands\), fewer than window_length=31"),
    ],
)
def test_savgol_parameter_errors(params, message):
    with pytest.raises(ValueError, match=message):
        SavitzkyGolay(**params).fit(np.zeros((2, 20)))


# ----------------------------------------------------------------------------------------------
# Continuum removal


def scipy_hull(wavelengths: np.ndarray, spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper hull by Qhull, independently of eospec: (vertex indices, hull at every band)."""
    hull = ConvexHull(np.column_stack([wavelengths, spectrum]))
    upper = np.unique(hull.simplices[hull.equations[:, 1] > 0])  # facets whose outward normal points up
    upper = np.union1d(upper, [0, wavelengths.size - 1])
    return upper, np.interp(wavelengths, wavelengths[upper], spectrum[upper])


def test_continuum_removal_recovers_a_gaussian_absorption_on_a_linear_continuum():
    # Uneven bands, as EnMAP's: 6.5 nm in the VNIR, 10 nm in the SWIR.
    wavelengths = np.r_[np.arange(420.0, 1000.0, 6.5), np.arange(1000.0, 2450.0, 10.0)]
    continuum = 0.25 + 1.2e-4 * (wavelengths - 420.0)
    depth = 0.35 * np.exp(-0.5 * ((wavelengths - 1650.0) / 70.0) ** 2)
    spectra = np.vstack([continuum * (1.0 - depth), 0.5 * continuum * (1.0 - depth)])
    removed = ContinuumRemoval(wavelengths=wavelengths).fit_transform(spectra)
    np.testing.assert_allclose(removed, np.broadcast_to(1.0 - depth, spectra.shape), atol=1e-12)
    assert np.all(removed > 0.0) and np.all(removed <= 1.0)
    assert np.all(removed[:, [0, -1]] == 1.0)
    band_depth = ContinuumRemoval(wavelengths=wavelengths, output="depth").fit_transform(spectra)
    np.testing.assert_allclose(band_depth, np.broadcast_to(depth, spectra.shape), atol=1e-12)
    hull = ContinuumRemoval(wavelengths=wavelengths).fit(spectra).continuum(spectra)
    np.testing.assert_allclose(hull[0], continuum, rtol=1e-12)


def test_continuum_matches_qhull_on_noisy_spectra(monkeypatch):
    # Small chunks and blocks so that the test crosses their boundaries.
    monkeypatch.setattr(continuum_module, "_CHUNK_ROWS", 7)
    monkeypatch.setattr(continuum_module, "_BLOCK_ROWS", 23)
    rng = np.random.default_rng(2)
    wavelengths = np.sort(rng.uniform(400.0, 2500.0, 300))
    spectra, _ = soil_like(50, wavelengths, seed=3)
    spectra = np.clip(spectra + rng.normal(0.0, 0.01, spectra.shape), 1e-3, None)
    hulls = convex_hull_continuum(spectra, wavelengths)
    removed = ContinuumRemoval(wavelengths=wavelengths).fit_transform(spectra)
    for row in range(spectra.shape[0]):
        vertices, expected = scipy_hull(wavelengths, spectra[row])
        np.testing.assert_allclose(hulls[row], expected, rtol=1e-12)
        assert np.all(removed[row, vertices] == 1.0)
    assert np.all(removed > 0.0) and np.all(removed <= 1.0)


@pytest.mark.shared_data
def test_continuum_removal_of_real_soil_spectra(shared_data):
    # 391 Australian soils, ASD vis-NIR reflectance 350-2500 nm at 1 nm, with clay (%).
    frame = pd.read_csv(shared_data / "soil" / "wadoux_soilspec" / "datsoilspc.csv")
    columns = [column for column in frame.columns if column.isdigit()]
    wavelengths = np.asarray(columns, dtype=np.float64)
    spectra = frame[columns].to_numpy(dtype=np.float64)
    removed = ContinuumRemoval(wavelengths=wavelengths).fit_transform(spectra)
    assert np.all(removed > 0.0) and np.all(removed <= 1.0)
    for row in range(0, spectra.shape[0], 13):
        vertices, expected = scipy_hull(wavelengths, spectra[row])
        np.testing.assert_allclose(spectra[row] / removed[row], expected, rtol=1e-12)
    # The depth of the Al-OH feature near 2200 nm, against a local continuum, tracks clay content.
    window = (wavelengths >= 2120) & (wavelengths <= 2280)
    depth = make_pipeline(
        BandSelector(wavelengths=wavelengths, include=[(2120, 2280)]),
        ContinuumRemoval(wavelengths=wavelengths[window], output="depth"),
    ).fit_transform(spectra)
    assert np.corrcoef(depth.max(axis=1), frame["clay"])[0, 1] > 0.7


def test_continuum_uses_the_real_wavelengths():
    # The third band is below the chord of its neighbours on an even axis, a hull vertex on the real one.
    spectrum = np.array([[0.2, 0.5, 0.6, 0.9]])
    even = convex_hull_continuum(spectrum)
    uneven = convex_hull_continuum(spectrum, np.array([400.0, 410.0, 420.0, 1000.0]))
    np.testing.assert_allclose(even, [[0.2, 0.5, 0.7, 0.9]])
    np.testing.assert_allclose(uneven, spectrum)


def test_convex_hull_continuum_shapes_and_errors():
    spectrum = np.array([0.3, 0.1, 0.4, 0.2, 0.5])
    np.testing.assert_allclose(convex_hull_continuum(spectrum), [0.3, 0.35, 0.4, 0.45, 0.5])
    np.testing.assert_array_equal(convex_hull_continuum(np.array([[0.2, 0.1]])), [[0.2, 0.1]])
    with pytest.raises(ValueError, match="NaN or inf"):
        convex_hull_continuum(np.array([0.3, np.nan, 0.4]))
    with pytest.raises(ValueError, match="strictly increasing"):
        convex_hull_continuum(spectrum, np.array([1.0, 3.0, 2.0, 4.0, 5.0]))


# ----------------------------------------------------------------------------------------------
# Band selection


def test_band_selector_keeps_exactly_the_ranges():
    wavelengths = np.arange(400.0, 2501.0, 12.5)
    x = np.random.default_rng(4).random((6, wavelengths.size))
    x[:, (wavelengths > 1350) & (wavelengths < 1450)] = np.nan  # water-vapour bands stored as NaN
    selector = BandSelector(wavelengths=wavelengths, include=[(500, 1300), (2000, 2200)], exclude=[(600, 650)])
    result = selector.fit_transform(x)
    kept = [w for w in wavelengths if (500 <= w <= 1300 or 2000 <= w <= 2200) and not 600 <= w <= 650]
    np.testing.assert_array_equal(selector.selected_wavelengths_, kept)
    np.testing.assert_array_equal(result, x[:, np.isin(wavelengths, kept)])
    names = selector.get_feature_names_out()
    assert list(names) == [f"spectrum_{w:g}" for w in kept]
    assert names[0] == "spectrum_500" and "spectrum_612.5" not in names
    # NaN bands can be dropped by wavelength and the result is finite.
    drop_water = BandSelector(wavelengths=wavelengths, exclude=[(1350, 1450)])
    assert np.all(np.isfinite(drop_water.fit_transform(x)))


def test_band_selector_with_bad_bands_and_dataframes():
    sensor = get_sensor("enmap")
    x = pd.DataFrame(np.random.default_rng(5).random((4, sensor.n_bands)), columns=wavelength_names(sensor.centres))
    selector = BandSelector(bad_bands=sensor.bad_bands).set_output(transform="pandas")
    result = selector.fit_transform(x)
    assert list(result.columns) == list(x.columns[~sensor.bad_bands])
    np.testing.assert_array_equal(result.to_numpy(), x.to_numpy()[:, ~sensor.bad_bands])


def test_band_selector_errors():
    x = np.zeros((2, 5))
    with pytest.raises(ValueError, match=r"keeps no band: .*none of the 5 bands \(400-800 nm\)"):
        BandSelector(wavelengths=[400, 500, 600, 700, 800], include=[(900, 1000)]).fit(x)
    with pytest.raises(ValueError, match=r"include must be \(low, high\) pairs with low <= high"):
        BandSelector(include=[(3, 1)]).fit(x)
    with pytest.raises(ValueError, match=r"bad_bands must be a bool array with one value per band \(5\)"):
        BandSelector(bad_bands=[True, False]).fit(x)
    with pytest.raises(ValueError, match=r"wavelengths has shape \(4,\) but X has 5 feature\(s\)"):
        BandSelector(wavelengths=[400, 500, 600, 700]).fit(x)
    with pytest.raises(WavelengthOrderError, match="strictly increasing"):
        BandSelector(wavelengths=[400, 500, 450, 700, 800]).fit(x)


# ----------------------------------------------------------------------------------------------
# Resampling


def test_resampler_matches_eospec_sensors_resample():
    x, _ = soil_like(8, LAB_NM)
    centres = np.array([500.0, 860.0, 1610.0, 2200.0])
    fwhm = np.array([10.0, 20.0, 30.0, 40.0])
    resampler = SpectralResampler(wavelengths=LAB_NM, target_wavelengths=centres, target_fwhm=fwhm)
    expected = resample(x, gaussian_srf_matrix(LAB_NM, centres, fwhm))
    np.testing.assert_allclose(resampler.fit_transform(x), expected, rtol=1e-12)
    assert list(resampler.get_feature_names_out()) == ["spectrum_500", "spectrum_860", "spectrum_1610", "spectrum_2200"]
    enmap = get_sensor("enmap")
    to_enmap = SpectralResampler(wavelengths=LAB_NM, sensor="enmap").fit(x)
    np.testing.assert_allclose(to_enmap.transform(x), enmap.resample(x, LAB_NM), rtol=1e-12)
    np.testing.assert_allclose(to_enmap.target_wavelengths_, enmap.wavelengths_nm)
    # A Sensor object works as well as its name, also after clone (as in cross-validation).
    from_object = clone(SpectralResampler(wavelengths=LAB_NM, sensor=enmap)).fit(x)
    np.testing.assert_allclose(from_object.matrix_, to_enmap.matrix_)


def test_resampler_of_a_linear_spectrum_gives_the_value_at_the_centre():
    # A symmetric response fully inside the range averages a straight line to its centre value.
    x = 0.1 + 2e-4 * LAB_NM[None, :]
    centres = np.array([600.0, 1200.0, 2000.0])
    result = SpectralResampler(wavelengths=LAB_NM, target_wavelengths=centres, target_fwhm=15.0).fit_transform(x)
    np.testing.assert_allclose(result[0], 0.1 + 2e-4 * centres, rtol=1e-9)


def test_resampler_uncovered_bands():
    nir = np.arange(1350.0, 2551.0, 2.0)  # a portable NIR range
    x = np.full((2, nir.size), 0.4)
    with pytest.raises(ValueError, match=r"target bands .* less than min_coverage=0.9 .*uncovered='drop'"):
        SpectralResampler(wavelengths=nir, sensor="enmap").fit(x)
    dropped = SpectralResampler(wavelengths=nir, sensor="enmap", uncovered="drop").fit(x)
    assert dropped.target_wavelengths_.min() > 1350 and dropped.target_wavelengths_.max() < 2551
    np.testing.assert_allclose(dropped.transform(x), 0.4, rtol=1e-12)
    kept = SpectralResampler(wavelengths=nir, sensor="enmap", uncovered="nan").fit(x)
    assert kept.transform(x).shape == (2, get_sensor("enmap").n_bands)
    assert np.isnan(kept.transform(x)[:, 0]).all()


def test_resampler_errors():
    x = np.zeros((2, 10))
    with pytest.raises(ValueError, match="pass either sensor= .* not both and not neither"):
        SpectralResampler().fit(x)
    with pytest.raises(ValueError, match="target_wavelengths needs target_fwhm="):
        SpectralResampler(target_wavelengths=[3.0]).fit(x)
    with pytest.raises(ValueError, match="resampling to a sensor needs the input wavelengths"):
        SpectralResampler(sensor="enmap").fit(x)
    with pytest.raises(UnknownSensorError, match="'landsat-99' is unknown"):
        SpectralResampler(wavelengths=np.arange(400.0, 500.0, 10.0), sensor="landsat-99").fit(x)
    with pytest.raises(ValueError, match="sensor must be a sensor name"):
        SpectralResampler(wavelengths=np.arange(400.0, 500.0, 10.0), sensor=3).fit(x)


# ----------------------------------------------------------------------------------------------
# Absorbance


def test_absorbance_round_trip_and_floor():
    reflectance = np.random.default_rng(6).uniform(1e-3, 1.0, (5, 30))
    to_absorbance = ReflectanceToAbsorbance().fit(reflectance)
    absorbance = to_absorbance.transform(reflectance)
    np.testing.assert_allclose(absorbance, np.log10(1.0 / reflectance), rtol=1e-12)
    np.testing.assert_allclose(to_absorbance.inverse_transform(absorbance), reflectance, rtol=1e-12)
    to_reflectance = AbsorbanceToReflectance().fit(absorbance)
    np.testing.assert_allclose(to_reflectance.transform(absorbance), reflectance, rtol=1e-12)
    np.testing.assert_allclose(to_reflectance.inverse_transform(reflectance), absorbance, rtol=1e-12)
    clipped = ReflectanceToAbsorbance().fit_transform(np.array([[0.0, -0.01, 1e-5, 0.1]]))
    np.testing.assert_allclose(clipped, [[4.0, 4.0, 4.0, 1.0]])
    undefined = ReflectanceToAbsorbance(floor=None).fit_transform(np.array([[0.0, 0.1]]))
    assert np.isnan(undefined[0, 0]) and undefined[0, 1] == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------------
# Pipelines


def test_pipelines_with_pls_and_cross_validation():
    wavelengths = LAB_NM[::5]
    x, y = soil_like(120, wavelengths, seed=7)
    folds = KFold(5, shuffle=True, random_state=0)
    chains = {
        "absorbance+snv+sg1": make_pipeline(
            ReflectanceToAbsorbance(),
            StandardNormalVariate(),
            SavitzkyGolay(window_length=7, polyorder=2, deriv=1, wavelengths=wavelengths),
            PLSRegression(n_components=4),
        ),
        "msc": make_pipeline(MultiplicativeScatterCorrection(), PLSRegression(n_components=4)),
        "clay window, continuum removed": make_pipeline(
            BandSelector(wavelengths=wavelengths, include=[(2050, 2350)]),
            ContinuumRemoval(wavelengths=wavelengths[(wavelengths >= 2050) & (wavelengths <= 2350)]),
            PLSRegression(n_components=3),
        ),
        "to enmap": make_pipeline(
            SpectralResampler(wavelengths=wavelengths, sensor="enmap"),
            BandSelector(bad_bands=get_sensor("enmap").bad_bands),
            StandardNormalVariate(),
            PLSRegression(n_components=5),
        ),
    }
    for name, pipeline in chains.items():
        scores = cross_val_score(pipeline, x, y, cv=folds, scoring="r2")
        assert scores.mean() > 0.9, (name, scores)
    # With one PLS component, raw reflectance is lost in the scatter; SNV or MSC first removes it.
    raw = cross_val_score(PLSRegression(n_components=1), x, y, cv=folds, scoring="r2")
    assert raw.mean() < 0.5
    for correction in (StandardNormalVariate(), MultiplicativeScatterCorrection()):
        corrected = cross_val_score(make_pipeline(correction, PLSRegression(n_components=1)), x, y, cv=folds)
        assert corrected.mean() > 0.95


def test_pandas_output_names_the_bands():
    wavelengths = np.arange(1000.0, 1100.0, 5.0)
    x = np.random.default_rng(8).random((3, wavelengths.size))
    smoothed = SavitzkyGolay(window_length=5, wavelengths=wavelengths).set_output(transform="pandas").fit_transform(x)
    assert isinstance(smoothed, pd.DataFrame)
    assert list(smoothed.columns) == [f"spectrum_{w:g}" for w in wavelengths]
    removed = ContinuumRemoval(wavelengths=wavelengths).set_output(transform="pandas").fit_transform(x)
    assert list(removed.columns) == list(smoothed.columns)


def test_transform_rejects_other_band_counts():
    snv = StandardNormalVariate().fit(np.random.default_rng(9).random((3, 5)))
    with pytest.raises(ValueError, match="X has 4 features, but StandardNormalVariate is expecting 5 features"):
        snv.transform(np.zeros((2, 4)))
    removal = ContinuumRemoval(wavelengths=np.arange(5) * 10.0 + 400).fit(np.ones((2, 5)))
    with pytest.raises(ValueError, match="X has 6 features, but ContinuumRemoval is expecting 5 features"):
        removal.transform(np.ones((2, 6)))

"""Tests of eospec.augment: the defining property of each augmentation, shapes, devices, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq, curve_fit

from eospec.augment import (
    SPECTRL2_TABLE_RANGES,
    AtmosphericCompensation,
    BandErasure,
    BandPermutation,
    Compose,
    ElasticDistortion,
    HapkeScattering,
    NearestNeighbourAveraging,
    RandomApply,
    RandomChoice,
    SpectralFlip,
    SpectralShift,
    clear_sky_irradiance,
    get_augmentation,
    hapke_albedo,
    hapke_reflectance,
    list_augmentations,
    neighbour_average,
    shift_spectra,
    warp_spectra,
)
from eospec.augment.physical import IRRADIANCE_FLOOR
from eospec.errors import AugmentationError, UnknownAugmentationError, WavelengthOrderError
from eospec.sensors import enmap

WAVELENGTHS = enmap().wavelengths_nm.copy()  # 224 EnMAP bands, 418-2446 nm, irregular spacing
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def seeded(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def soil_like(n: int, wavelengths: np.ndarray = WAVELENGTHS, seed: int = 0) -> torch.Tensor:
    """Smooth reflectance spectra in (0, 1): a sloped continuum with two Gaussian absorptions."""
    rng = np.random.default_rng(seed)
    wl = wavelengths[None, :]
    base = rng.uniform(0.1, 0.4, (n, 1)) + rng.uniform(0.0, 0.15, (n, 1)) * (wl - 400.0) / 2100.0
    depth = rng.uniform(0.02, 0.08, (n, 2))
    bands = depth[:, :1] * np.exp(-0.5 * ((wl - 1400.0) / 30.0) ** 2)
    bands += depth[:, 1:] * np.exp(-0.5 * ((wl - 2200.0) / 25.0) ** 2)
    return torch.from_numpy(base - bands)


def build(name: str, **kwargs: object):
    if name in ("spectral_shift", "atmospheric_compensation", "elastic_distortion"):
        kwargs.setdefault("wavelengths_nm", WAVELENGTHS)
    return get_augmentation(name, **kwargs)


RANDOM = [n for n in list_augmentations() if n not in ("spectral_flip", "nearest_neighbour_averaging")]


# ---------------------------------------------------------------- registry, shapes, devices, reproducibility


def test_registry_lists_the_papers_eight_augmentations():
    names = list_augmentations()
    assert len(names) == 8 == len(set(names))
    assert names[:5] == [
        "spectral_shift",
        "spectral_flip",
        "hapke",
        "atmospheric_compensation",
        "elastic_distortion",
    ]
    with pytest.raises(UnknownAugmentationError, match=r"'shift' is unknown: use one of spectral_shift"):
        get_augmentation("shift")
    with pytest.raises(AugmentationError, match=r"bad arguments for augmentation 'band_erasure'"):
        get_augmentation("band_erasure", max_shift_nm=3.0)


@pytest.mark.parametrize("name", list_augmentations())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_shape_dtype_finite_no_inplace_reproducible(name, dtype, device):
    aug = build(name, p=0.8).to(device)
    x = soil_like(16).to(device=device, dtype=dtype)
    before = x.clone()
    out = aug(x, generator=seeded(3, device))
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert torch.isfinite(out).all()
    assert torch.equal(x, before)  # input untouched
    assert torch.equal(out, aug(x, generator=seeded(3, device)))
    assert not torch.equal(out, aug(x, generator=seeded(4, device)))  # p=0.8: even deterministic ones vary


@pytest.mark.parametrize("name", list_augmentations())
def test_patches_share_parameters_across_pixels(name):
    # A patch whose 3 x 2 pixels all hold the same spectrum gives, pixel by pixel, the spectra result.
    aug = build(name, p=0.7)
    spectra = soil_like(12)
    patches = spectra[:, :, None, None].expand(-1, -1, 3, 2)
    out_patches = aug(patches, generator=seeded(11))
    out_spectra = aug(spectra, generator=seeded(11))
    assert out_patches.shape == (12, 224, 3, 2)
    torch.testing.assert_close(out_patches, out_spectra[:, :, None, None].expand(-1, -1, 3, 2))


@pytest.mark.parametrize("name", RANDOM)
def test_forward_is_transform_of_sampled_parameters(name):
    aug = build(name)
    x = soil_like(8)
    params = aug.sample_parameters(x.shape, seeded(5))
    assert all(value.shape[0] == 8 for value in params.values())
    assert torch.equal(aug(x, generator=seeded(5)), aug.transform(x, params))


@pytest.mark.parametrize("name", list_augmentations())
def test_nan_stays_nan_and_does_not_spread_to_far_bands(name):
    aug = build(name)
    x = soil_like(10)
    x[:, 100] = math.nan
    out = aug(x, generator=seeded(0))
    assert torch.isnan(out[:, 100]).all()
    if name in ("hapke", "atmospheric_compensation", "band_erasure", "nearest_neighbour_averaging"):
        assert torch.isnan(out).sum() == 10  # band-wise transforms: nowhere else


@pytest.mark.parametrize("name", list_augmentations())
def test_p_zero_is_identity_and_p_half_changes_about_half(name):
    x = soil_like(400)
    assert torch.equal(build(name, p=0.0)(x, generator=seeded(0)), x)
    changed = (build(name, p=0.5)(x, generator=seeded(1)) != x).any(dim=1).float().mean()
    assert 0.4 < changed < 0.6


def test_input_errors_name_the_problem():
    shift = SpectralShift(WAVELENGTHS)
    with pytest.raises(AugmentationError, match=r"224 wavelengths: pass the wavelengths_nm"):
        shift(torch.rand(4, 200))
    with pytest.raises(AugmentationError, match=r"got shape \(224,\)"):
        shift(torch.rand(224))
    with pytest.raises(AugmentationError, match=r"dtype torch.int64: convert with x.float\(\)"):
        shift(torch.ones(4, 224, dtype=torch.int64))
    with pytest.raises(WavelengthOrderError, match=r"band 3 \(500 nm\) follows 600 nm"):
        SpectralShift([400.0, 600.0, 500.0])
    with pytest.raises(AugmentationError, match=r"p=1.5 is not a probability"):
        BandErasure(p=1.5)
    with pytest.raises(AugmentationError, match=r"incidence_range_deg=\(0.0, 95.0\) is outside"):
        HapkeScattering(incidence_range_deg=(0.0, 95.0))
    with pytest.raises(AugmentationError, match=r"aod500=0.9 is outside the bundled SPECTRL2 table"):
        AtmosphericCompensation(WAVELENGTHS, aod500=0.9)
    with pytest.raises(AugmentationError, match=r"mode='mirror' mirrors on the wavelength axis"):
        SpectralFlip(mode="mirror")


# ---------------------------------------------------------------- 1. spectral shift (Eq. 1)


def gaussian_dip(wl, centre, depth, width, continuum):
    return continuum - depth * np.exp(-0.5 * ((wl - centre) / width) ** 2)


def fitted_centre(wl: np.ndarray, spectrum: np.ndarray) -> float:
    start = (wl[np.argmin(spectrum)], 0.2, 20.0, 0.5)
    popt, _ = curve_fit(gaussian_dip, wl, spectrum, p0=start)
    return float(popt[0])


@pytest.mark.parametrize(
    ("wavelengths", "tolerance_nm"),
    [(np.arange(1000.0, 1401.0, 1.0), 0.05), (WAVELENGTHS[(WAVELENGTHS > 1000) & (WAVELENGTHS < 1400)], 0.5)],
)
def test_shift_moves_an_absorption_feature_by_delta(wavelengths, tolerance_nm):
    deltas = torch.tensor([-9.3, -2.5, 0.0, 4.1, 9.9], dtype=torch.float64)
    x = torch.from_numpy(gaussian_dip(wavelengths, 1200.0, 0.2, 20.0, 0.5)).expand(5, -1)
    out = shift_spectra(x, wavelengths, deltas).numpy()
    found = np.array([fitted_centre(wavelengths, row) for row in out])
    np.testing.assert_allclose(found - 1200.0, deltas.numpy(), atol=tolerance_nm)


def test_shift_module_draws_shifts_within_range_and_zero_shift_is_identity():
    aug = SpectralShift(WAVELENGTHS, max_shift_nm=4.0)
    shifts = aug.sample_parameters((5000, 224), seeded(0))["shift_nm"]
    assert shifts.abs().max() <= 4.0 and shifts.min() < -3.9 and shifts.max() > 3.9
    x = soil_like(3)
    assert torch.equal(SpectralShift(WAVELENGTHS, max_shift_nm=0.0)(x), x)


# ---------------------------------------------------------------- 2. spectral flip (Eq. 2)


def test_flip_reverse_is_an_involution_and_mirror_matches_it_on_even_axis():
    x = soil_like(6)
    flip = SpectralFlip()
    assert torch.equal(flip(x), x.flip(1))
    assert torch.equal(flip(flip(x)), x)
    even = np.linspace(400.0, 2500.0, 211)
    y = soil_like(6, even)
    torch.testing.assert_close(SpectralFlip(even, mode="mirror")(y), y.flip(1), rtol=0, atol=1e-12)
    # On EnMAP's irregular axis the mirror is an involution only approximately (interpolation).
    mirror = SpectralFlip(WAVELENGTHS, mode="mirror")
    twice = mirror(mirror(x))
    assert (twice - x).abs().max() < 0.01
    assert (mirror(x) - x.flip(1)).abs().max() > 1e-4


# ---------------------------------------------------------------- 3. Hapke (Eq. 3-4)


@pytest.mark.parametrize("model", ["paper", "isotropic"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hapke_with_unchanged_angles_is_identity(model, dtype):
    x = torch.cat([soil_like(20), torch.tensor([[0.0] * 112 + [1.0] * 112], dtype=torch.float64)]).to(dtype)
    aug = HapkeScattering(incidence_range_deg=(30.0, 30.0), model=model)
    torch.testing.assert_close(aug(x), x, rtol=0, atol=1e-5)
    aug = HapkeScattering(
        incidence_range_deg=(55.0, 55.0),
        emergence_range_deg=(10.0, 10.0),
        reference_incidence_deg=55.0,
        reference_emergence_deg=10.0,
        model=model,
    )
    torch.testing.assert_close(aug(x), x, rtol=0, atol=1e-5)


def test_hapke_output_stays_in_unit_interval_and_brightens_at_oblique_geometry():
    x = torch.linspace(0.0, 1.0, 224, dtype=torch.float64).expand(64, -1)
    out = HapkeScattering(incidence_range_deg=(0.0, 89.0))(x, generator=seeded(0))
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert torch.equal(out[:, 0], x[:, 0]) and torch.equal(out[:, -1], x[:, -1])  # w = 0 and w = 1 stay
    oblique = HapkeScattering(incidence_range_deg=(70.0, 70.0))(x)
    assert (oblique[:, 1:-1] > x[:, 1:-1]).all()  # eq. 3: r decreases with mu = cos(angle)


@pytest.mark.parametrize("model", ["paper", "isotropic"])
def test_hapke_albedo_round_trip_and_inverse_against_brentq(model):
    albedo = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    for incidence, emergence in [(0.0, 0.0), (30.0, 30.0), (60.0, 10.0), (85.0, 85.0)]:
        r = hapke_reflectance(albedo, incidence, emergence, model=model)
        assert (torch.diff(r) > 0).all()
        torch.testing.assert_close(hapke_albedo(r, incidence, emergence, model=model), albedo, rtol=0, atol=1e-9)
    # The closed form (or bisection) against an independent root finder on Eq. 3.
    mu0, mu = math.cos(math.radians(40.0)), math.cos(math.radians(20.0))

    def forward(w: float) -> float:
        g = math.sqrt(1.0 - w)
        if model == "paper":
            return w / ((1 + 2 * mu0 * g) * (1 + 2 * mu * g))
        return w / (4 * (mu0 + mu)) * (1 + 2 * mu0) / (1 + 2 * g * mu0) * (1 + 2 * mu) / (1 + 2 * g * mu)

    # The isotropic reflectance is the paper's times that of a white surface at the same geometry.
    white = (1 + 2 * mu0) * (1 + 2 * mu) / (4 * (mu0 + mu))
    if model == "isotropic":
        paper = hapke_reflectance(albedo, 40.0, 20.0, model="paper")
        torch.testing.assert_close(hapke_reflectance(albedo, 40.0, 20.0, model=model), paper * white)
        assert abs(forward(1.0) - white) < 1e-12
    targets = [0.02, 0.1, 0.35, 0.7, 0.95]
    expected = [brentq(lambda w, t=t: forward(w) - t, 0.0, 1.0, xtol=1e-14) for t in targets]
    found = hapke_albedo(torch.tensor(targets, dtype=torch.float64), 40.0, 20.0, model=model)
    np.testing.assert_allclose(found.numpy(), expected, atol=1e-10)


def test_hapke_rejects_unknown_model():
    with pytest.raises(AugmentationError, match=r"model='lommel' is unknown: use 'paper' or 'isotropic'"):
        HapkeScattering(model="lommel")  # type: ignore[arg-type]


# ---------------------------------------------------------------- 4. atmospheric compensation (Eq. 5)


def test_atmospheric_identity_for_identical_illumination():
    x = soil_like(8)
    aug = AtmosphericCompensation(WAVELENGTHS, incidence_range_deg=(0.0, 0.0))
    torch.testing.assert_close(aug(x), x, rtol=1e-12, atol=0)
    # Through the table interpolation path: the new atmosphere drawn equal to the reference.
    aug = AtmosphericCompensation(
        WAVELENGTHS,
        incidence_range_deg=(20.0, 40.0),
        reference_incidence_deg=25.0,
        solar_zenith_range_deg=(10.0, 70.0),
        aod500_range=(0.05, 0.5),
        precipitable_water_range_cm=(0.5, 4.0),
    )
    params = aug.sample_parameters(x.shape, seeded(0))
    params.update(
        incidence_deg=torch.full((8,), 25.0, dtype=torch.float64),
        solar_zenith_deg=torch.full((8,), 30.0, dtype=torch.float64),
        aod500=torch.full((8,), 0.1, dtype=torch.float64),
        precipitable_water_cm=torch.full((8,), 1.4, dtype=torch.float64),
    )
    torch.testing.assert_close(aug.transform(x, params), x, rtol=1e-12, atol=0)
    assert not torch.allclose(aug(x, generator=seeded(0)), x)


def test_atmospheric_default_keeps_reflectance_in_unit_interval_and_darkens():
    x = torch.rand(256, 224, generator=seeded(0), dtype=torch.float64)
    out = AtmosphericCompensation(WAVELENGTHS)(x, generator=seeded(1))
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (out <= x + 1e-15).all()  # theta_0 = 0: the reference is the brightest illumination


def test_atmospheric_ratio_form_with_table_spectra():
    # Eq. 5 assembled from clear_sky_irradiance: ratio = (E_dir cos(theta) + E_sky + f) / (E_dir + E_sky + f).
    aug = AtmosphericCompensation(WAVELENGTHS)
    dni, dhi = clear_sky_irradiance(WAVELENGTHS, 30.0, 0.1, 1.4)
    params = aug.sample_parameters((3, 224), seeded(2))
    cos = torch.cos(torch.deg2rad(params["incidence_deg"]))[:, None]
    expected = (dni * cos + dhi + IRRADIANCE_FLOOR) / (dni + dhi + IRRADIANCE_FLOOR)
    torch.testing.assert_close(aug.ratio(params), expected, rtol=1e-12, atol=0)
    # Physically: the blue sky makes the ratio of an oblique facet larger in the blue than in the NIR.
    blue, nir = np.argmin(np.abs(WAVELENGTHS - 450)), np.argmin(np.abs(WAVELENGTHS - 860))
    assert (expected[:, blue] > expected[:, nir]).all()


def spectrl2_pvlib(zenith: float, aod: float, water: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pvlib = pytest.importorskip("pvlib")
    z = np.array([zenith])
    out = pvlib.spectrum.spectrl2(
        apparent_zenith=z,
        aoi=z,
        surface_tilt=0.0,
        ground_albedo=0.2,
        surface_pressure=101325.0,
        relative_airmass=pvlib.atmosphere.get_relative_airmass(z, model="kastenyoung1989"),
        precipitable_water=np.array([water]),
        ozone=0.31,
        aerosol_turbidity_500nm=np.array([aod]),
        dayofyear=81,
    )
    keep = (out["wavelength"] >= 400) & (out["wavelength"] <= 2500)
    return out["wavelength"][keep], out["dni"][keep, 0], out["dhi"][keep, 0]


@pytest.mark.parametrize("state", [(0.0, 0.02, 0.2), (45.0, 0.3, 2.5), (80.0, 0.6, 5.0), (70.0, 0.1, 1.2)])
def test_bundled_table_matches_pvlib_spectrl2_at_grid_nodes(state):
    wl, dni, dhi = spectrl2_pvlib(*state)
    ours_dni, ours_dhi = clear_sky_irradiance(wl, *state)
    np.testing.assert_allclose(ours_dni[0].numpy(), dni, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(ours_dhi[0].numpy(), dhi, rtol=1e-3, atol=1e-6)


def test_atmospheric_ratio_matches_pvlib_spectrl2():
    wl, dni_ref, dhi_ref = spectrl2_pvlib(30.0, 0.1, 1.2)
    aug = AtmosphericCompensation(
        wl,
        precipitable_water_cm=1.2,
        solar_zenith_range_deg=(0.0, 80.0),
        aod500_range=(0.02, 0.6),
        precipitable_water_range_cm=(0.2, 5.0),
    )
    # A grid-node atmosphere (exact up to the table's 4 digits) and an off-node one (interpolated).
    for (zenith, aod, water), incidence, tolerance in [((60.0, 0.3, 2.5), 40.0, 2e-3), ((37.0, 0.17, 0.8), 65.0, 0.1)]:
        _, dni, dhi = spectrl2_pvlib(zenith, aod, water)
        cos = math.cos(math.radians(incidence))
        expected = (dni * cos + dhi + IRRADIANCE_FLOOR) / (dni_ref + dhi_ref + IRRADIANCE_FLOOR)
        params = {
            "incidence_deg": torch.tensor([incidence], dtype=torch.float64),
            "solar_zenith_deg": torch.tensor([zenith], dtype=torch.float64),
            "aod500": torch.tensor([aod], dtype=torch.float64),
            "precipitable_water_cm": torch.tensor([water], dtype=torch.float64),
            "applied": torch.tensor([True]),
        }
        x = torch.full((1, wl.size), 0.4, dtype=torch.float64)
        ratio = (aug.transform(x, params) / 0.4)[0].numpy()
        lit = dni + dhi > 0.05 * (dni + dhi).max()
        np.testing.assert_allclose(ratio[lit], expected[lit], rtol=tolerance)
        if tolerance > 0.01:
            assert np.median(np.abs(ratio[lit] / expected[lit] - 1)) < 0.01


def test_table_ranges_are_those_of_the_bundled_file():
    from eospec.augment.physical import _spectrl2_table

    _, axes, dni, dhi = _spectrl2_table()
    for (low, high), axis in zip(SPECTRL2_TABLE_RANGES.values(), axes, strict=True):
        assert (axis.min(), axis.max()) == (low, high)
    assert dni.shape == dhi.shape and (dni >= 0).all() and (dhi >= 0).all()


# ---------------------------------------------------------------- 5. elastic distortion (Eq. 6)


@pytest.mark.parametrize(("max_nm", "smoothing_nm"), [(10.0, 50.0), (100.0, 5.0)])
def test_elastic_displacement_is_bounded_and_never_folds(max_nm, smoothing_nm):
    aug = ElasticDistortion(WAVELENGTHS, max_displacement_nm=max_nm, smoothing_nm=smoothing_nm)
    params = aug.sample_parameters((500, 224), seeded(0))
    field = aug.displacement(params["noise"], params["amplitude_nm"])
    assert (field.abs() <= params["amplitude_nm"][:, None] + 1e-9).all()
    slope = torch.diff(field, dim=1) / torch.diff(torch.from_numpy(WAVELENGTHS))
    assert slope.min() >= -0.9 - 1e-9
    if smoothing_nm < 10:  # a rough field: the fold-over rule scales it down, limiting the amplitude
        assert slope.min() < -0.899 and field.abs().max() < 0.5 * max_nm
    else:
        assert field.abs().max() > 0.9 * max_nm
    warped_axis = torch.from_numpy(WAVELENGTHS) + field
    assert (torch.diff(warped_axis, dim=1) > 0).all()
    # Eq. 6 on a ramp x(lambda) = lambda: the output is the warped axis (clamped to the band range).
    ramp = torch.from_numpy(WAVELENGTHS).expand(500, -1)
    expected = warped_axis.clamp(WAVELENGTHS[0], WAVELENGTHS[-1])
    torch.testing.assert_close(aug.transform(ramp, params), expected, rtol=0, atol=1e-9)
    torch.testing.assert_close(warp_spectra(ramp, WAVELENGTHS, field), expected, rtol=0, atol=1e-9)


def test_elastic_zero_amplitude_is_identity():
    x = soil_like(4)
    assert torch.equal(ElasticDistortion(WAVELENGTHS, max_displacement_nm=0.0)(x), x)


# ---------------------------------------------------------------- 6. band erasure


@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.37, 1.0])
def test_erasure_sets_floor_fraction_bands_to_value(contiguous, fraction):
    x = soil_like(50) + 1.0  # no zero in the input
    out = BandErasure(fraction=fraction, contiguous=contiguous)(x, generator=seeded(0))
    erased = out == 0.0
    assert (erased.sum(dim=1) == math.floor(fraction * 224)).all()
    assert torch.equal(out[~erased], x[~erased])
    if contiguous and 0 < fraction < 1:
        first = erased.float().argmax(dim=1)
        for row, start in zip(erased, first, strict=True):
            assert row[start : start + math.floor(fraction * 224)].all()
        assert len(set(first.tolist())) > 10  # windows start at different bands per sample


def test_erasure_value_is_configurable():
    out = BandErasure(fraction=0.25, value=-1.0)(soil_like(5))
    assert ((out == -1.0).sum(dim=1) == 56).all()


# ---------------------------------------------------------------- 7. band permutation


@pytest.mark.parametrize("group_size", [1, 5, 224])
def test_permutation_is_a_permutation_of_the_values(group_size):
    x = torch.rand(20, 224, generator=seeded(0), dtype=torch.float64)  # distinct values
    aug = BandPermutation(group_size=group_size)
    out = aug(x, generator=seeded(1))
    assert torch.equal(out.sort(dim=1).values, x.sort(dim=1).values)
    order = aug.permutation(aug.sample_parameters(x.shape, seeded(1)), 224)
    assert torch.equal(out, torch.gather(x, 1, order))
    # Groups of consecutive bands move together and keep their internal order.
    starts = order[:, ::1] % group_size == 0
    steps = torch.diff(order, dim=1)
    assert ((steps == 1) | starts[:, 1:]).all()
    if group_size < 224:
        assert len({tuple(row.tolist()) for row in order}) == 20  # one permutation per sample


# ---------------------------------------------------------------- 8. nearest-neighbour averaging


def loop_reference(x: np.ndarray, k: int) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(len(x)):
        distance = np.sqrt(((x - x[i]) ** 2).sum(axis=1))
        distance[i] = -1.0
        out[i] = x[np.argsort(distance, kind="stable")[:k]].mean(axis=0)
    return out


def test_neighbour_averaging_k1_identity_kn_batch_mean_and_loop_reference():
    x = soil_like(30)
    assert torch.equal(NearestNeighbourAveraging(k=1)(x), x)
    torch.testing.assert_close(NearestNeighbourAveraging(k=30)(x), x.mean(dim=0).expand(30, -1))
    torch.testing.assert_close(NearestNeighbourAveraging(k=100)(x), x.mean(dim=0).expand(30, -1))
    np.testing.assert_allclose(neighbour_average(x, 4).numpy(), loop_reference(x.numpy(), 4), atol=1e-12)


def test_neighbour_averaging_with_nan_uses_valid_bands():
    x = soil_like(12)
    x[3, 50] = math.nan
    reference = loop_reference(np.nan_to_num(x.numpy(), nan=0.0), 3)  # nearly the same neighbours
    out = neighbour_average(x, 3)
    assert torch.isnan(out).sum() == 0  # NaN is ignored by the mean (the module re-masks band 50 of sample 3)
    assert torch.isnan(NearestNeighbourAveraging(k=3)(x)).sum() == 1
    np.testing.assert_allclose(np.delete(out.numpy(), 50, axis=1), np.delete(reference, 50, axis=1), atol=0.02)


# ---------------------------------------------------------------- containers


def test_compose_chains_with_one_generator():
    shift, hapke = SpectralShift(WAVELENGTHS), HapkeScattering()
    x = soil_like(10)
    generator = seeded(0)
    expected = hapke(shift(x, generator=generator), generator=generator)
    assert torch.equal(Compose([shift, hapke])(x, generator=seeded(0)), expected)


def test_random_apply_and_random_choice_decide_per_sample():
    x = soil_like(200)
    flip = SpectralFlip()
    fill = BandErasure(fraction=1.0, value=-1.0)
    assert torch.equal(RandomApply(flip, p=0.0)(x), x)
    assert torch.equal(RandomApply([flip], p=1.0)(x), x.flip(1))
    half = RandomApply(flip, p=0.5)(x, generator=seeded(0))
    flipped = (half == x.flip(1)).all(dim=1)
    assert ((half == x).all(dim=1) | flipped).all() and 0.35 < flipped.float().mean() < 0.65
    out = RandomChoice([flip, fill])(x, generator=seeded(1))
    chose_fill = (out == -1.0).all(dim=1)
    assert ((out == x.flip(1)).all(dim=1) | chose_fill).all() and 0.35 < chose_fill.float().mean() < 0.65
    assert torch.equal(RandomChoice([flip, fill], weights=[1.0, 0.0])(x), x.flip(1))
    with pytest.raises(AugmentationError, match=r"weights=\[1.0\] must be 2 non-negative numbers"):
        RandomChoice([flip, fill], weights=[1.0])

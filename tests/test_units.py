"""Spectral-axis unit conversions and reflectance <-> absorbance, against independent arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from eospec.errors import MixedUnitsError, UnknownUnitError, WavelengthOrderError
from eospec.units import (
    ABSORBANCE_FLOOR,
    UNITS,
    absorbance_to_reflectance,
    check_axis,
    check_unit,
    common_unit,
    convert_axis,
    convert_spectra,
    convert_width,
    parse_unit,
    reflectance_to_absorbance,
)


def test_reference_points() -> None:
    assert convert_axis(1000.0, "nm", "cm-1") == pytest.approx(10000.0)
    assert convert_axis(1000.0, "nm", "um") == pytest.approx(1.0)
    assert convert_axis(1.0, "um", "cm-1") == pytest.approx(10000.0)
    assert convert_axis(4000.0, "cm-1", "nm") == pytest.approx(2500.0)
    assert convert_axis(600.0, "cm-1", "um") == pytest.approx(1e4 / 600.0)


@pytest.mark.parametrize("start", UNITS)
def test_round_trips_through_every_unit(start: str) -> None:
    rng = np.random.default_rng(3)
    values = convert_axis(rng.uniform(350.0, 25000.0, size=(4, 50)), "nm", start)
    for middle in UNITS:
        for other in UNITS:
            back = convert_axis(convert_axis(convert_axis(values, start, middle), middle, other), other, start)
            np.testing.assert_allclose(back, values, rtol=1e-12)
    assert convert_axis(values, start, start) is not values  # always a new array


def test_wavenumber_conversion_reverses_order_and_convert_spectra_restores_it() -> None:
    wavelengths = np.arange(2500.0, 16700.0, 100.0)  # nm, increasing
    spectra = np.stack([np.linspace(0.1, 0.9, wavelengths.size), np.linspace(1.0, 2.0, wavelengths.size)])
    assert np.all(np.diff(convert_axis(wavelengths, "nm", "cm-1")) < 0)  # kept order: decreasing
    axis, values = convert_spectra(wavelengths, spectra, "nm", "cm-1")
    assert np.all(np.diff(axis) > 0)
    np.testing.assert_allclose(axis, (1e7 / wavelengths)[::-1])
    np.testing.assert_array_equal(values, spectra[:, ::-1])  # columns follow their positions
    # the value at each position is unchanged
    for column in (0, 17, wavelengths.size - 1):
        position = int(np.argmin(np.abs(axis - 1e7 / wavelengths[column])))
        np.testing.assert_array_equal(values[:, position], spectra[:, column])
    back_axis, back_values = convert_spectra(axis, values, "cm-1", "nm")
    np.testing.assert_allclose(back_axis, wavelengths, rtol=1e-12)
    np.testing.assert_array_equal(back_values, spectra)
    um_axis, um_values = convert_spectra(wavelengths, spectra, "nm", "um")  # no reversal needed
    np.testing.assert_allclose(um_axis, wavelengths / 1000.0)
    np.testing.assert_array_equal(um_values, spectra)
    with pytest.raises(ValueError, match="Expected spectra with 142 values"):
        convert_spectra(wavelengths, spectra[:, :-1], "nm", "cm-1")


def test_width_conversion() -> None:
    centres = np.array([500.0, 1000.0, 2200.0])
    fwhm = np.array([5.0, 10.0, 20.0])
    np.testing.assert_allclose(convert_width(centres, fwhm, "nm", "um"), fwhm / 1000.0)
    in_cm = convert_width(centres, fwhm, "nm", "cm-1")
    edges = np.abs(1e7 / (centres - fwhm / 2) - 1e7 / (centres + fwhm / 2))  # independent: band edges
    np.testing.assert_allclose(in_cm, edges, rtol=1e-4)
    np.testing.assert_allclose(in_cm[1], 100.0, rtol=1e-12)  # 10 nm at 1000 nm = 100 cm-1
    back = convert_width(convert_axis(centres, "nm", "cm-1"), in_cm, "cm-1", "nm")
    np.testing.assert_allclose(back, fwhm, rtol=1e-12)


def test_unknown_units() -> None:
    with pytest.raises(UnknownUnitError, match=r"'nanometers' is unknown: use one of 'nm', 'um', 'cm-1'"):
        check_unit("nanometers")
    with pytest.raises(UnknownUnitError, match="did you mean 'nm'"):
        convert_axis([500.0], "Nanometers", "um")
    with pytest.raises(UnknownUnitError, match="'hz' is unknown"):
        convert_axis([500.0], "nm", "hz")
    with pytest.raises(ValueError):  # UnknownUnitError is a ValueError
        check_unit("")
    assert parse_unit(" Nanometers ") == "nm" and parse_unit("Micrometers") == "um" and parse_unit("1/cm") == "cm-1"
    assert parse_unit("µm") == "um" and parse_unit("Wavenumber") == "cm-1"
    with pytest.raises(UnknownUnitError, match="'Unknown' is unknown"):
        parse_unit("Unknown")


def test_mixed_units() -> None:
    assert common_unit(["nm", "nm", "nm"]) == "nm"
    with pytest.raises(MixedUnitsError, match=r"mixed units \['cm-1', 'nm'\] cannot be combined"):
        common_unit(["nm", "cm-1", "nm"])
    with pytest.raises(MixedUnitsError, match="no spectral axis unit"):
        common_unit([])
    with pytest.raises(UnknownUnitError):
        common_unit(["nm", "nanometer"])
    # an axis whose values cannot be in its declared unit: micrometres declared as nanometres
    with pytest.raises(MixedUnitsError, match="look like 'um'"):
        check_axis([0.35, 0.5, 2.5], "nm")
    with pytest.raises(MixedUnitsError, match="not a plausible range in 'um'"):
        check_axis([350.0, 500.0, 2500.0], "um")


def test_axis_order_errors() -> None:
    np.testing.assert_array_equal(check_axis([400, 500, 600], "nm"), [400.0, 500.0, 600.0])
    with pytest.raises(WavelengthOrderError, match="500.0 at position 2 follows 600.0"):
        check_axis([400.0, 600.0, 500.0, 700.0], "nm")
    with pytest.raises(WavelengthOrderError, match="position 2 follows"):
        check_axis([400.0, 500.0, 500.0], "nm")  # repeated position
    with pytest.raises(WavelengthOrderError, match="decrease from 4000.0 to 600.0"):
        check_axis([4000.0, 2000.0, 600.0], "cm-1")
    with pytest.raises(WavelengthOrderError, match="must be finite"):
        check_axis([400.0, np.nan, 600.0], "nm")
    with pytest.raises(WavelengthOrderError, match="1-D array of at least 2"):
        check_axis([[400.0, 500.0]], "nm")
    with pytest.raises(WavelengthOrderError):  # a ValueError for callers that catch those
        check_axis([500.0], "nm")
    with pytest.raises(ValueError, match="values must be > 0"):
        convert_axis([0.0, 500.0], "nm", "cm-1")


def test_absorbance_round_trip() -> None:
    reflectance = np.random.default_rng(0).uniform(0.01, 1.0, size=(5, 200))
    absorbance = reflectance_to_absorbance(reflectance)
    np.testing.assert_allclose(absorbance, np.log10(1.0 / reflectance), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(absorbance_to_reflectance(absorbance), reflectance, rtol=1e-12)
    np.testing.assert_allclose(reflectance_to_absorbance(absorbance_to_reflectance(absorbance)), absorbance, atol=1e-13)
    assert absorbance.dtype == np.float64 and absorbance.shape == reflectance.shape


def test_absorbance_floor_and_missing_values() -> None:
    values = np.array([0.5, 0.0, -0.02, 1e-6, np.nan, 1.0])
    absorbance = reflectance_to_absorbance(values)
    assert ABSORBANCE_FLOOR == 1e-4
    np.testing.assert_allclose(absorbance[[1, 2, 3]], 4.0)  # R <= floor -> log10(1 / 1e-4)
    assert np.isnan(absorbance[4]) and absorbance[5] == 0.0
    assert reflectance_to_absorbance(values, floor=1e-3)[1] == pytest.approx(3.0)
    strict = reflectance_to_absorbance(values, floor=None)
    assert np.isnan(strict[[1, 2, 4]]).all() and strict[3] == pytest.approx(6.0)
    with pytest.raises(ValueError, match="floor must be > 0"):
        reflectance_to_absorbance(values, floor=0.0)

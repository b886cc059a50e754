"""Tests of the SpectralLibrary type."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from eospec.errors import MixedUnitsError, SpectralLibraryError, UnknownUnitError, WavelengthOrderError
from eospec.libraries import SpectralLibrary, convert_axis, parse_wavelength_unit


def make_library(n: int = 6, bands: int = 20, **changes: object) -> SpectralLibrary:
    rng = np.random.default_rng(0)
    fields: dict[str, object] = {
        "spectra": rng.uniform(0.05, 0.6, (n, bands)),
        "wavelengths": np.linspace(400.0, 2400.0, bands),
        "wavelength_unit": "nm",
        "metadata": pd.DataFrame({"site": [f"site{i % 2}" for i in range(n)], "fold": [1, 2, 3, 1, 2, 3][:n]}),
        "properties": pd.DataFrame({"soc": [10.0, np.nan, 30.0, 40.0, 50.0, 60.0][:n], "clay": np.arange(n) + 5.0}),
        "property_units": {"soc": "g/kg", "clay": "%"},
        "sample_ids": np.array(["a", "a", "b", "c", "c", "c"][:n]),
        "name": "test",
    }
    fields.update(changes)
    return SpectralLibrary(**fields)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def test_decreasing_wavelengths_raise_naming_the_index_and_the_fix() -> None:
    wavelengths = np.array([400.0, 500.0, 450.0, 600.0])
    with pytest.raises(WavelengthOrderError, match=r"index 2 \(450 nm\) follows index 1 \(500 nm\).*sorted"):
        SpectralLibrary(np.ones((2, 4)), wavelengths, "nm")


def test_repeated_wavelength_raises() -> None:
    with pytest.raises(WavelengthOrderError, match="index 1"):
        SpectralLibrary(np.ones((1, 3)), [400.0, 400.0, 500.0], "nm")


def test_non_finite_wavelength_raises() -> None:
    with pytest.raises(WavelengthOrderError, match="wavelength 1 is nan"):
        SpectralLibrary(np.ones((1, 3)), [400.0, np.nan, 500.0], "nm")


def test_sorted_orders_decreasing_wavenumbers_with_their_columns() -> None:
    wavenumbers = np.array([4000.0, 3000.0, 2000.0])
    spectra = np.array([[1.0, 2.0, 3.0]])
    library = SpectralLibrary.sorted(spectra, wavenumbers, "cm-1", quantity="absorbance")
    np.testing.assert_array_equal(library.wavelengths, [2000.0, 3000.0, 4000.0])
    np.testing.assert_array_equal(library.spectra, [[3.0, 2.0, 1.0]])


@pytest.mark.parametrize("unit", ["nanometer", "NM", "micron", "", "cm"])
def test_unknown_unit_raises(unit: str) -> None:
    with pytest.raises(UnknownUnitError, match=f"unit {unit!r} is unknown: use one of 'nm', 'um', 'cm-1'"):
        SpectralLibrary(np.ones((1, 2)), [1.0, 2.0], unit)


def test_unknown_quantity_raises() -> None:
    with pytest.raises(UnknownUnitError, match="quantity 'radiance' is unknown"):
        SpectralLibrary(np.ones((1, 2)), [1.0, 2.0], "nm", quantity="radiance")


def test_shapes_must_agree() -> None:
    with pytest.raises(SpectralLibraryError, match=r"wavelengths must have shape \(3,\)"):
        SpectralLibrary(np.ones((2, 3)), [1.0, 2.0], "nm")
    with pytest.raises(SpectralLibraryError, match="metadata has 3 rows but there are 2 spectra"):
        SpectralLibrary(np.ones((2, 2)), [1.0, 2.0], "nm", metadata=pd.DataFrame({"a": [1, 2, 3]}))
    with pytest.raises(SpectralLibraryError, match=r"sample_ids must have shape \(2,\)"):
        SpectralLibrary(np.ones((2, 2)), [1.0, 2.0], "nm", sample_ids=np.arange(3))


def test_non_numeric_property_raises_naming_the_column() -> None:
    properties = pd.DataFrame({"soc": [1.0, 2.0], "texture": ["sand", "clay"]})
    with pytest.raises(SpectralLibraryError, match="property 'texture' is not numeric .*'sand'"):
        SpectralLibrary(np.ones((2, 2)), [1.0, 2.0], "nm", properties=properties)


def test_units_for_unknown_properties_raise() -> None:
    with pytest.raises(SpectralLibraryError, match=r"property_units names \['ph'\]"):
        SpectralLibrary(
            np.ones((1, 2)), [1.0, 2.0], "nm", properties=pd.DataFrame({"soc": [1.0]}), property_units={"ph": "pH"}
        )


def test_missing_properties_stay_missing_never_zero() -> None:
    properties = pd.DataFrame({"soc": pd.array([1.5, pd.NA, 3.0], dtype="Float64"), "n": [None, 2.0, None]})
    library = SpectralLibrary(np.ones((3, 2)), [1.0, 2.0], "nm", properties=properties)
    assert library.props.dtypes.tolist() == [np.float64, np.float64]
    np.testing.assert_array_equal(np.isnan(library.props.to_numpy()), [[False, True], [True, False], [False, True]])
    item = library[1]["properties"]
    assert np.isnan(item[0].item()) and item[1].item() == 2.0


def test_ids_default_to_metadata_sample_id_then_row_numbers() -> None:
    with_ids = SpectralLibrary(np.ones((2, 2)), [1.0, 2.0], "nm", metadata=pd.DataFrame({"sample_id": ["x", "y"]}))
    np.testing.assert_array_equal(with_ids.ids, ["x", "y"])
    without = SpectralLibrary(np.ones((3, 2)), [1.0, 2.0], "nm")
    np.testing.assert_array_equal(without.ids, [0, 1, 2])


def test_integer_spectra_become_float64_and_float32_is_kept() -> None:
    assert SpectralLibrary(np.ones((1, 2), dtype=np.int16), [1.0, 2.0], "nm").spectra.dtype == np.float64
    assert SpectralLibrary(np.ones((1, 2), dtype=np.float32), [1.0, 2.0], "nm").spectra.dtype == np.float32


def test_parse_wavelength_unit() -> None:
    assert parse_wavelength_unit(" Nanometers ") == "nm"
    assert parse_wavelength_unit("Micrometers") == "um"
    assert parse_wavelength_unit("µm") == "um"
    assert parse_wavelength_unit("1/cm") == "cm-1"
    with pytest.raises(UnknownUnitError, match="'furlongs' is unknown"):
        parse_wavelength_unit("furlongs")


# ----------------------------------------------------------------------------------------------
# Dataset protocol
# ----------------------------------------------------------------------------------------------


def test_getitem_returns_float32_tensors() -> None:
    library = make_library()
    item = library[-1]
    assert item["index"] == 5
    assert item["spectrum"].dtype.is_floating_point and item["spectrum"].numpy().dtype == np.float32
    np.testing.assert_array_equal(item["spectrum"].numpy(), library.spectra[5].astype(np.float32))
    np.testing.assert_array_equal(item["properties"].numpy(), [60.0, 10.0])
    with pytest.raises(IndexError, match="index 6 is out of range for a library of 6 spectra"):
        library[6]
    with pytest.raises(TypeError, match="use subset"):
        library[[0, 1]]  # type: ignore[call-overload]
    assert len(library[1:4]) == 3


def test_dataloader_batches_keep_nan() -> None:
    from torch.utils.data import DataLoader

    library = make_library()
    batches = list(DataLoader(library, batch_size=4, shuffle=False))  # type: ignore[arg-type]
    assert [len(b["index"]) for b in batches] == [4, 2]
    spectra = np.concatenate([b["spectrum"].numpy() for b in batches])
    np.testing.assert_allclose(spectra, library.spectra, rtol=1e-6)
    soc = np.concatenate([b["properties"][:, 0].numpy() for b in batches])
    assert np.isnan(soc[1]) and np.count_nonzero(np.isnan(soc)) == 1
    spectra_tensor, properties_tensor = library.tensors()
    assert tuple(spectra_tensor.shape) == (6, 20) and tuple(properties_tensor.shape) == (6, 2)


def test_subset_by_mask_and_indices() -> None:
    library = make_library()
    mask = np.array([True, False, True, False, False, True])
    by_mask = library.subset(mask)
    by_index = library.subset([0, 2, 5])
    for part in (by_mask, by_index):
        np.testing.assert_array_equal(part.spectra, library.spectra[[0, 2, 5]])
        np.testing.assert_array_equal(part.ids, ["a", "b", "c"])
        assert part.meta["site"].tolist() == ["site0", "site0", "site1"]
        assert part.props["clay"].tolist() == [5.0, 7.0, 10.0]
        assert part.property_units == library.property_units
    with pytest.raises(SpectralLibraryError, match=r"a mask must have shape \(6,\)"):
        library.subset(np.array([True, False]))


def test_select_properties_and_bands() -> None:
    library = make_library()
    chosen = library.select_properties(["clay"])
    assert chosen.property_names == ["clay"] and chosen.property_units == {"clay": "%"}
    with pytest.raises(SpectralLibraryError, match=r"properties \['ph'\] are not in library 'test'"):
        library.select_properties("ph")
    bands = library.select_bands(1000.0, 2000.0)
    inside = (library.wavelengths >= 1000) & (library.wavelengths <= 2000)
    np.testing.assert_array_equal(bands.wavelengths, library.wavelengths[inside])
    np.testing.assert_array_equal(bands.spectra, library.spectra[:, inside])
    with pytest.raises(SpectralLibraryError, match="no band"):
        library.select_bands(3000.0)


def test_groups_and_mean_repeats_match_pandas() -> None:
    library = make_library()
    groups = library.groups()
    assert list(groups) == ["a", "b", "c"]
    np.testing.assert_array_equal(groups["c"], [3, 4, 5])
    means = library.mean_repeats()
    assert len(means) == 3 and library.n_samples == 3
    expected = pd.DataFrame(library.spectra).groupby(library.ids).mean().loc[["a", "b", "c"]].to_numpy()
    np.testing.assert_allclose(means.spectra, expected)
    # first non-missing value: sample a's soc is 10 (row 0), never a zero from the NaN in row 1
    assert means.props["soc"].tolist() == [10.0, 30.0, 40.0]
    assert means.meta["site"].tolist() == ["site0", "site0", "site1"]
    np.testing.assert_array_equal(means.ids, ["a", "b", "c"])


def test_mean_repeats_ignores_nan_bands() -> None:
    spectra = np.array([[1.0, np.nan], [3.0, 4.0]])
    library = SpectralLibrary(spectra, [1.0, 2.0], "nm", sample_ids=np.array([7, 7]))
    np.testing.assert_array_equal(library.mean_repeats().spectra, [[2.0, 4.0]])


def test_folds_and_fold_split() -> None:
    library = make_library()
    np.testing.assert_array_equal(library.folds, [1, 2, 3, 1, 2, 3])
    train, test = library.fold_split(2)
    assert len(train) == 4 and len(test) == 2 and set(test.meta["fold"]) == {2}
    with pytest.raises(SpectralLibraryError, match="fold 9 is not among the folds"):
        library.fold_split(9)
    with pytest.raises(SpectralLibraryError, match="no 'fold' metadata"):
        SpectralLibrary(np.ones((1, 2)), [1.0, 2.0], "nm").fold_split(1)


# ----------------------------------------------------------------------------------------------
# pandas and xarray
# ----------------------------------------------------------------------------------------------


def assert_same(a: SpectralLibrary, b: SpectralLibrary) -> None:
    np.testing.assert_array_equal(a.spectra, b.spectra)
    np.testing.assert_array_equal(a.wavelengths, b.wavelengths)
    assert (a.wavelength_unit, a.quantity, a.name) == (b.wavelength_unit, b.quantity, b.name)
    pd.testing.assert_frame_equal(a.props, b.props)
    assert dict(a.property_units) == dict(b.property_units)
    np.testing.assert_array_equal(a.ids, b.ids)
    pd.testing.assert_frame_equal(
        a.meta.drop(columns="sample_id", errors="ignore"), b.meta.drop(columns="sample_id", errors="ignore")
    )


def test_pandas_round_trip_keeps_everything() -> None:
    library = make_library(wavelengths=np.array([0.383, 0.39, 0.1 + 1.0 / 3.0, 2.5]), wavelength_unit="um", bands=4)
    frame = library.to_pandas()
    assert frame.columns[:5].tolist() == ["sample_id", "site", "fold", "soc", "clay"]
    assert frame.columns[5] == "spectrum_0.383" and frame.columns[7] == f"spectrum_{0.1 + 1.0 / 3.0!r}"
    assert_same(SpectralLibrary.from_pandas(frame), library)
    assert_same(SpectralLibrary.from_pandas(pickle.loads(pickle.dumps(frame))), library)


def test_from_pandas_without_attrs_needs_a_unit() -> None:
    frame = make_library().to_pandas()
    frame.attrs.clear()
    with pytest.raises(UnknownUnitError, match="pass wavelength_unit"):
        SpectralLibrary.from_pandas(frame)
    library = SpectralLibrary.from_pandas(frame, wavelength_unit="nm", property_columns=["soc"])
    assert library.property_names == ["soc"] and "clay" in library.meta.columns


def test_xarray_round_trip_and_units() -> None:
    library = make_library()
    dataset = library.to_xarray()
    assert dataset["spectra"].dims == ("sample", "wavelength")
    assert dataset["wavelength"].attrs["units"] == "nm"
    assert dataset["soc"].attrs["units"] == "g/kg" and dataset["clay"].attrs["units"] == "%"
    assert dataset["spectra"].attrs["quantity"] == "reflectance"
    assert_same(SpectralLibrary.from_xarray(dataset), library)


def test_from_xarray_needs_spectra() -> None:
    dataset = make_library().to_xarray().drop_vars("spectra")
    with pytest.raises(SpectralLibraryError, match="needs a variable 'spectra'"):
        SpectralLibrary.from_xarray(dataset)


# ----------------------------------------------------------------------------------------------
# Units, quantities, resampling, concatenation
# ----------------------------------------------------------------------------------------------


def test_to_unit_wavenumbers_reverse_band_order() -> None:
    library = make_library()
    wavenumbers = library.to_unit("cm-1")
    np.testing.assert_allclose(wavenumbers.wavelengths, np.sort(1.0e7 / library.wavelengths))
    assert np.all(np.diff(wavenumbers.wavelengths) > 0)
    np.testing.assert_array_equal(wavenumbers.spectra, library.spectra[:, ::-1])
    back = wavenumbers.to_unit("nm")
    np.testing.assert_allclose(back.wavelengths, library.wavelengths)
    np.testing.assert_array_equal(back.spectra, library.spectra)
    np.testing.assert_allclose(library.to_unit("um").wavelengths, library.wavelengths / 1000.0)
    assert library.to_unit("nm") is library
    with pytest.raises(UnknownUnitError):
        library.to_unit("GHz")


def test_convert_axis_values() -> None:
    np.testing.assert_allclose(convert_axis([2500.0, 10000.0], "nm", "cm-1"), [4000.0, 1000.0])
    np.testing.assert_allclose(convert_axis([4000.0], "cm-1", "um"), [2.5])
    np.testing.assert_allclose(convert_axis([2.5], "um", "nm"), [2500.0])


def test_to_quantity_is_log10_of_inverse_reflectance() -> None:
    spectra = np.array([[0.1, 0.5, 1.0, 0.0, -0.01]], dtype=np.float32)
    library = SpectralLibrary(spectra, np.arange(5.0), "nm")
    absorbance = library.to_quantity("absorbance")
    assert absorbance.spectra.dtype == np.float32 and absorbance.quantity == "absorbance"
    np.testing.assert_allclose(absorbance.spectra[0, :3], [1.0, np.log10(2.0), 0.0], atol=1e-7)
    assert np.isnan(absorbance.spectra[0, 3:]).all()
    np.testing.assert_allclose(absorbance.to_quantity("reflectance").spectra[0, :3], spectra[0, :3], rtol=1e-6)
    with pytest.raises(UnknownUnitError):
        library.to_quantity("transmittance")


def test_resample_linear_spectrum_gives_the_centre_value() -> None:
    # A linear spectrum resampled with a symmetric band response equals its value at the band centre.
    wavelengths = np.arange(400.0, 2501.0)
    spectra = np.stack([0.1 + 1e-4 * wavelengths, 0.5 - 5e-5 * wavelengths])
    library = SpectralLibrary(spectra, wavelengths, "nm", properties=pd.DataFrame({"soc": [1.0, 2.0]}))
    centres = np.array([500.0, 1000.0, 2200.0])
    resampled = library.resample(centres, 10.0)
    expected = np.stack([0.1 + 1e-4 * centres, 0.5 - 5e-5 * centres])
    np.testing.assert_allclose(resampled.spectra, expected, rtol=1e-9)
    assert resampled.wavelength_unit == "nm" and resampled.props["soc"].tolist() == [1.0, 2.0]
    # The same library on a um axis resamples to the same values.
    np.testing.assert_allclose(library.to_unit("um").resample(centres, 10.0).spectra, expected, rtol=1e-9)
    with pytest.raises(SpectralLibraryError, match=r"1 target bands \(2600 nm\) lie outside .*400-2500 nm"):
        library.resample([1000.0, 2600.0], 10.0)


def test_resample_to_a_sensor() -> None:
    from eospec.sensors import enmap

    wavelengths = np.arange(350.0, 2501.0)
    library = SpectralLibrary(np.full((2, wavelengths.size), 0.3), wavelengths, "nm")
    resampled = library.resample(enmap())
    assert resampled.n_bands == 224
    np.testing.assert_allclose(resampled.spectra, 0.3)


def test_concat_refuses_mixed_units_and_quantities() -> None:
    nm = make_library()
    um = nm.to_unit("um")
    with pytest.raises(
        MixedUnitsError,
        match=r"library 1 \('test'\) is in 'um' but library 0 \('test'\) is in 'nm': convert one with .to_unit\('nm'\)",
    ):
        SpectralLibrary.concat([nm, um])
    with pytest.raises(MixedUnitsError, match=r"to_quantity\('reflectance'\)"):
        SpectralLibrary.concat([nm, nm.to_quantity("absorbance")])
    both = SpectralLibrary.concat([nm, um.to_unit("nm")])
    assert len(both) == 12


def test_concat_joins_properties_by_name() -> None:
    first = make_library(name="one")
    second = make_library(name="two", n=2).select_properties(["clay"])
    second = SpectralLibrary(
        second.spectra,
        second.wavelengths,
        "nm",
        properties=second.props.assign(ph=[6.5, 7.0]),
        property_units={"clay": "%", "ph": "pH"},
        name="two",
    )
    both = SpectralLibrary.concat([first, second], name="both")
    assert both.property_names == ["soc", "clay", "ph"]
    assert np.isnan(both.props["soc"].to_numpy()[6:]).all() and np.isnan(both.props["ph"].to_numpy()[:6]).all()
    assert both.property_units == {"soc": "g/kg", "clay": "%", "ph": "pH"}
    assert both.meta["dataset"].tolist() == ["one"] * 6 + ["two"] * 2
    other_grid = make_library(wavelengths=np.linspace(400.0, 2500.0, 20))
    with pytest.raises(SpectralLibraryError, match="other band positions"):
        SpectralLibrary.concat([first, other_grid])
    other_unit = make_library(property_units={"soc": "%", "clay": "%"})
    with pytest.raises(MixedUnitsError, match="property 'soc' is in '%'"):
        SpectralLibrary.concat([first, other_unit])


def test_repr_names_units() -> None:
    text = repr(make_library())
    assert "6 spectra of 3 samples" in text and "soc [g/kg]" in text and "400-2400 nm" in text

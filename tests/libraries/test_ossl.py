"""Tests of the OSSL table-layout loader on a generated fixture in the OSSL v1.2 layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eospec.errors import SpectralLibraryError
from eospec.libraries import read_ossl
from eospec.libraries.ossl import ossl_property_unit, ossl_spectrum_columns

FIXTURES = Path(__file__).parents[1] / "data" / "libraries"
OSSL = FIXTURES / "ossl"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
LAYERS: dict[str, str] = EXPECTED["layers"]


def layer_names(ids: np.ndarray) -> list[str]:
    inverse = {v: k for k, v in LAYERS.items()}
    return [inverse[str(i)] for i in ids]


def test_visnir_join_repeats_and_missing_lab_data() -> None:
    library = read_ossl(OSSL, scan="visnir")
    assert library.wavelength_unit == "nm" and library.quantity == "reflectance"
    start, stop, step = EXPECTED["visnir_range_nm"]
    np.testing.assert_array_equal(library.wavelengths, np.arange(start, stop + 1, step, dtype=float))
    assert layer_names(library.ids) == EXPECTED["visnir_layers"]
    assert library.n_samples == 3 and len(library.mean_repeats()) == 3
    # Spectra are the file's values (read independently with pandas).
    raw = pd.read_csv(OSSL / "ossl_visnir_L0_v1.2.csv.gz")
    bands = [c for c in raw.columns if c.startswith("scan_visnir.")]
    np.testing.assert_allclose(library.spectra, raw[bands].to_numpy(), rtol=1e-6)
    assert library.spectra.dtype == np.float32
    # Properties: level 1 (harmonised), numeric only, units from the OSSL codes; no lab row -> NaN.
    assert library.property_units == {
        "oc_usda.c729_w.pct": "%",
        "clay.tot_usda.a334_w.pct": "%",
        "ph.h2o_usda.a268_index": "pH",
        "cec_usda.a723_cmolc.kg": "cmol(+)/kg",
    }
    names = layer_names(library.ids)
    oc = library.props["oc_usda.c729_w.pct"].to_numpy()
    for k, layer in enumerate(names):
        if layer == EXPECTED["no_lab_layer"]:
            assert np.isnan(library.props.iloc[k].to_numpy()).all()
        else:
            assert oc[k] == EXPECTED["oc_l1"][layer]
    clay = library.props["clay.tot_usda.a334_w.pct"].to_numpy()
    assert np.isnan(clay[names.index(EXPECTED["clay_missing_layer"])])
    # Site metadata joined by layer id; dates parsed.
    assert library.meta["lon"].tolist() == [EXPECTED["lon"][layer] for layer in names]
    assert library.meta["date"].dt.strftime("%Y-%m-%d").tolist() == [EXPECTED["date"][layer] for layer in names]
    assert library.meta["scan_id"].tolist() == ["196784MD01", "196784MD02", "196785MD01", "196790MD01"]
    assert set(library.meta["instrument"]) == {"ASD Labspec 2500 with Muglight accessory"}


def test_mir_drops_rows_without_a_spectrum_and_selects_properties() -> None:
    library = read_ossl(OSSL, scan="mir", properties=["oc", "ph.h2o_usda.a268_index"], dtype=np.float64)
    assert library.wavelength_unit == "cm-1" and library.quantity == "absorbance"
    start, stop, step = EXPECTED["mir_range_cm1"]
    np.testing.assert_array_equal(library.wavelengths, np.arange(start, stop + 1, step, dtype=float))
    assert layer_names(library.ids) == EXPECTED["mir_layers"]
    assert library.property_names == ["oc_usda.c729_w.pct", "ph.h2o_usda.a268_index"]
    assert library.props["oc_usda.c729_w.pct"].tolist() == [EXPECTED["oc_l1"][k] for k in EXPECTED["mir_layers"]]
    assert library.meta["dataset"].tolist() == ["KSSL.SSL", "AFSIS1.SSL"]
    raw = pd.read_csv(OSSL / "ossl_mir_L0_v1.2.csv.gz")
    np.testing.assert_array_equal(library.spectra[0], raw.filter(like="scan_mir.").to_numpy()[0])


def test_level_0_when_given_explicitly_and_ambiguous_prefixes() -> None:
    files = [OSSL / "ossl_visnir_L0_v1.2.csv.gz", OSSL / "ossl_soillab_L0_v1.2.csv.gz"]
    library = read_ossl(files)
    assert library.property_names == ["oc_iso.10694_w.pct", "oc_usda.c729_w.pct"]
    assert "lon" not in library.meta.columns  # no site table given
    with pytest.raises(SpectralLibraryError, match=r"'oc' is ambiguous: it matches \['oc_iso.10694_w.pct'"):
        read_ossl(files, properties=["oc"])


def test_all_table_gives_the_same_library(tmp_path: Path) -> None:
    # Build an ossl_all_L1 table from the separate ones (independently, with pandas), as distributed.
    site = pd.read_csv(OSSL / "ossl_soilsite_L0_v1.2.csv.gz")
    lab = pd.read_csv(OSSL / "ossl_soillab_L1_v1.2.csv.gz").drop(columns="dataset.code_ascii_txt")
    visnir = pd.read_csv(OSSL / "ossl_visnir_L0_v1.2.csv.gz").drop(columns="dataset.code_ascii_txt")
    combined = site.merge(lab, on="id.layer_uuid_txt", how="left").merge(visnir, on="id.layer_uuid_txt", how="left")
    combined.to_csv(tmp_path / "ossl_all_L1_v1.2.csv.gz", index=False)
    from_all = read_ossl(tmp_path / "ossl_all_L1_v1.2.csv.gz")
    separate = read_ossl(OSSL)
    # Layer c has no vis-NIR scan: its row in the combined table is left out.
    assert sorted(layer_names(from_all.ids)) == sorted(layer_names(separate.ids))
    order = np.argsort(from_all.meta["scan_id"].to_numpy())
    np.testing.assert_array_equal(from_all.spectra[order], separate.spectra)
    pd.testing.assert_frame_equal(from_all.props.iloc[order].reset_index(drop=True), separate.props)
    assert from_all.meta["lon"].to_numpy()[order].tolist() == separate.meta["lon"].tolist()


def test_parquet_tables(tmp_path: Path) -> None:
    for path in OSSL.glob("*.csv.gz"):
        pd.read_csv(path).to_parquet(tmp_path / path.name.replace(".csv.gz", ".parquet"))
    library = read_ossl(tmp_path, scan="mir")
    reference = read_ossl(OSSL, scan="mir")
    np.testing.assert_array_equal(library.spectra, reference.spectra)
    pd.testing.assert_frame_equal(library.props, reference.props)


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SpectralLibraryError, match="scan 'swir' is unknown"):
        read_ossl(OSSL, scan="swir")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_ossl(tmp_path / "absent")
    with pytest.raises(SpectralLibraryError, match="no OSSL nir table .*ossl_nir_L0_v1.2.csv.gz"):
        read_ossl(OSSL, scan="nir")
    with pytest.raises(SpectralLibraryError, match="property 'zinc' is not in the OSSL soil-lab table"):
        read_ossl(OSSL, properties=["zinc"])
    with pytest.raises(SpectralLibraryError, match="no soil-lab table was found"):
        read_ossl([OSSL / "ossl_mir_L0_v1.2.csv.gz"], scan="mir", properties=["oc"])


def test_unit_codes_and_spectrum_columns() -> None:
    assert ossl_property_unit("oc_usda.c729_w.pct") == "%"
    assert ossl_property_unit("ph.cacl2_usda.a481_index") == "pH"
    assert ossl_property_unit("cec_usda.a723_cmolc.kg") == "cmol(+)/kg"
    assert ossl_property_unit("bd_usda.a4_g.cm3") == "g/cm3"
    assert ossl_property_unit("ec_usda.a364_ds.m") == "dS/m"
    assert ossl_property_unit("something_new.unit") == "new.unit"
    names, positions, quantity = ossl_spectrum_columns(
        ["id.layer_uuid_txt", "scan_nir.1350_ref", "scan_nir.1352_ref"], "nir"
    )
    assert positions.tolist() == [1350.0, 1352.0] and quantity == "reflectance"
    with pytest.raises(SpectralLibraryError, match="mix '_ref' and '_abs'"):
        ossl_spectrum_columns(["scan_mir.600_abs", "scan_mir.602_ref"], "mir")


@pytest.mark.shared_data
def test_real_kssl_names_follow_the_ossl_codes(shared_data: Path) -> None:
    header = pd.read_csv(shared_data / "soil" / "soilspecdl_kssl_mir" / "toy_kssl_mir.csv.gz", nrows=0).columns
    properties = [c for c in header if "_" in c and c != "id"]
    assert properties and {ossl_property_unit(c) for c in properties} <= {"%", "cmol(+)/kg"}


def test_single_file_of_another_name_is_a_combined_table(tmp_path: Path) -> None:
    lab = pd.read_csv(OSSL / "ossl_soillab_L1_v1.2.csv.gz").drop(columns="dataset.code_ascii_txt")
    mir = pd.read_csv(OSSL / "ossl_mir_L0_v1.2.csv.gz")
    mir.merge(lab, on="id.layer_uuid_txt", how="left").to_csv(tmp_path / "my_subset.csv", index=False)
    library = read_ossl(tmp_path / "my_subset.csv", scan="mir", properties=["oc"])
    assert layer_names(library.ids) == EXPECTED["mir_layers"]
    assert library.props["oc_usda.c729_w.pct"].tolist() == [EXPECTED["oc_l1"][k] for k in EXPECTED["mir_layers"]]

"""Wide CSV tables of spectra: one row per spectrum, one column per band, plus property columns.

:func:`read_wide_csv` reads any such table; :func:`read_nirsoil`, :func:`read_datsoilspc` and
:func:`read_kssl_mir` read three published ones with their units:

- ``NIRsoil`` (R package prospectr; Fernandez Pierna & Dardenne 2008, *Chemometr. Intell. Lab.
  Syst.* 91, 94-98): 825 Belgian soils, NIR absorbance log10(1/R) 1100-2498 nm every 2 nm;
- ``datsoilspc`` (R package soilspec, Wadoux et al.; Geeves et al. 1994): 391 Australian soils,
  vis-NIR reflectance 350-2500 nm every 1 nm;
- the KSSL MIR table of the soilspecdl package (USDA NRCS Kellogg Soil Survey Laboratory): MIR
  absorbance 600-4000 cm-1 every 2 cm-1, properties named as in the OSSL.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eospec.errors import SpectralLibraryError
from eospec.libraries.core import SpectralLibrary, _check_quantity, _check_unit
from eospec.libraries.ossl import ossl_property_unit

__all__ = [
    "NIRSOIL_UNITS",
    "DATSOILSPC_UNITS",
    "read_wide_csv",
    "read_nirsoil",
    "read_datsoilspc",
    "read_kssl_mir",
    "find_spectrum_columns",
]

#: Units of the NIRsoil properties (prospectr's documentation of the data set).
NIRSOIL_UNITS: dict[str, str] = {"Nt": "g/kg", "Ciso": "g/100 g", "CEC": "meq/100 g"}

#: Units of the datsoilspc properties (soilspec's documentation of the data set).
DATSOILSPC_UNITS: dict[str, str] = {"clay": "%", "silt": "%", "sand": "%", "TotalCarbon": "g/100 g"}

_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


def find_spectrum_columns(columns: Sequence[Any], spectrum_columns: str | None = None) -> tuple[list[str], np.ndarray]:
    r"""Pick the band columns of a wide table and read their positions from their names.

    Args:
        columns: the table's column names.
        spectrum_columns: how band columns are named:

            - None: names that are numbers (``"350"``, ``"1100.5"``);
            - a regular expression with a group (``r"scan_mir\.(\d+)_abs"``): names that match
              it entirely; the group named ``position``, else the first group, is the position;
            - any other string: a prefix (``"wl_"``, ``"X"``, ``"spc."``) followed by a number.

    Returns:
        ``(names, positions)``: the column names in table order and their positions, float64 of
        shape (B,).

    Raises:
        SpectralLibraryError: If no column matches.
    """
    names: list[str] = []
    positions: list[float] = []
    pattern: re.Pattern[str] | None = None
    if spectrum_columns is not None and "(" in spectrum_columns:
        pattern = re.compile(spectrum_columns)
    for column in columns:
        text = str(column)
        if pattern is not None:
            match = pattern.fullmatch(text)
            if match is None:
                continue
            group = match.group("position") if "position" in pattern.groupindex else match.group(1)
            try:
                positions.append(float(group))
            except (TypeError, ValueError):
                continue
            names.append(text)
        else:
            rest = text if spectrum_columns is None else text[len(spectrum_columns) :]
            if spectrum_columns is not None and not text.startswith(spectrum_columns):
                continue
            if _NUMBER.match(rest):
                names.append(text)
                positions.append(float(rest))
    if not names:
        how = "numeric names" if spectrum_columns is None else f"names matching {spectrum_columns!r}"
        raise SpectralLibraryError(
            f"no spectrum column with {how} among {[str(c) for c in columns][:8]}...: pass spectrum_columns= "
            "a prefix (e.g. 'wl_') or a regular expression with a group for the position"
        )
    return names, np.asarray(positions, dtype=np.float64)


def read_wide_csv(
    path: str | os.PathLike[str],
    *,
    wavelength_unit: str,
    quantity: str = "reflectance",
    spectrum_columns: str | None = None,
    id_column: str | None = None,
    property_columns: Sequence[str] | None = None,
    property_units: Mapping[str, str] | None = None,
    metadata_columns: Sequence[str] | None = None,
    reflectance_scale: float = 1.0,
    name: str | None = None,
    dtype: type[np.floating] = np.float64,
    **read_csv_kwargs: Any,
) -> SpectralLibrary:
    """Read a wide table of spectra (CSV, compressed or not) into a library.

    Band columns are found by :func:`find_spectrum_columns` and sorted by position (so a MIR table
    from 4000 down to 600 cm-1 is fine); a repeated position raises. Empty cells and ``NA`` are
    missing values (NaN), never zero.

    Args:
        path: the table (``.csv``, ``.csv.gz``, ``.txt``; anything :func:`pandas.read_csv` reads).
        wavelength_unit: unit of the positions in the band names: ``"nm"``, ``"um"`` or ``"cm-1"``.
        quantity: ``"reflectance"`` or ``"absorbance"`` (log10(1/R)).
        spectrum_columns: band-column naming (see :func:`find_spectrum_columns`); default: numeric names.
        id_column: column of sample ids (rows sharing an id are repeats); default: row numbers.
        property_columns: measured properties; default: every other numeric column not in
            ``metadata_columns``.
        property_units: unit of each property, e.g. ``{"clay": "%"}``.
        metadata_columns: columns kept as metadata; default: every other column.
        reflectance_scale: the value meaning reflectance 1 (100 for percent, 10000 for scaled
            integers); the spectra are divided by it. Only for reflectance.
        name: library name (default: the file name without suffixes).
        dtype: float dtype of the spectra.
        **read_csv_kwargs: passed to :func:`pandas.read_csv` (``sep``, ``decimal``, ``na_values``, ...).

    Returns:
        The library.

    Raises:
        UnknownUnitError: If ``wavelength_unit`` or ``quantity`` is unknown.
        WavelengthOrderError: If two band columns have the same position.
        SpectralLibraryError: If no band column is found, a named column is missing, or a
            property is not numeric.
    """
    _check_unit(wavelength_unit)
    _check_quantity(quantity)
    if reflectance_scale != 1.0 and quantity != "reflectance":
        raise SpectralLibraryError("reflectance_scale applies to reflectance only; leave it at 1 for absorbance")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    table = pd.read_csv(path, **read_csv_kwargs)
    table.columns = [str(column) for column in table.columns]
    names, positions = find_spectrum_columns(list(table.columns), spectrum_columns)
    band_set = set(names)
    named = [*(property_columns or []), *(metadata_columns or []), *([id_column] if id_column else [])]
    missing = [column for column in named if column not in table.columns]
    if missing:
        raise SpectralLibraryError(
            f"columns {missing} are not in {path.name}; it has {[c for c in table.columns if c not in band_set][:12]}"
        )
    rest = [column for column in table.columns if column not in band_set and column != id_column]
    if property_columns is None:
        excluded = set(metadata_columns or [])
        property_columns = [
            column for column in rest if column not in excluded and pd.api.types.is_numeric_dtype(table[column].dtype)
        ]
    if metadata_columns is None:
        metadata_columns = [column for column in rest if column not in property_columns]
    spectra = table[names].to_numpy(dtype=np.float64, na_value=np.nan)
    if quantity == "reflectance":
        spectra = spectra / float(reflectance_scale)
        peak = np.nanmax(spectra) if np.isfinite(spectra).any() else 0.0
        if peak > 2.0:
            warnings.warn(
                f"reflectance in {path.name} reaches {peak:g}: if it is in percent pass reflectance_scale=100",
                UserWarning,
                stacklevel=2,
            )
    return SpectralLibrary.sorted(
        spectra.astype(dtype, copy=False),
        positions,
        wavelength_unit,
        quantity=quantity,
        metadata=table[list(metadata_columns)],
        properties=table[list(property_columns)],
        property_units=dict(property_units or {}),
        sample_ids=table[id_column].to_numpy() if id_column else None,
        name=name if name is not None else path.name.split(".")[0],
    )


def read_nirsoil(path: str | os.PathLike[str]) -> SpectralLibrary:
    """Read prospectr's ``NIRsoil`` table (exported to CSV).

    Columns ``Nt`` (total nitrogen, g/kg), ``Ciso`` (total carbon, g/100 g, ISO 14235), ``CEC``
    (meq/100 g), ``train`` (1 training, 0 test) and the NIR absorbance log10(1/R) at 1100-2498 nm
    every 2 nm (columns ``"1100"`` ... ``"2498"``). Missing properties (22 %, 11 % and 46 % of
    the rows) stay NaN.

    Args:
        path: ``NIRsoil.csv``.

    Returns:
        825 spectra, absorbance, nm; properties ``Nt``, ``Ciso``, ``CEC``; metadata ``split``
        (``"train"`` / ``"test"``, 618 / 207).

    Raises:
        SpectralLibraryError: If the table lacks the NIRsoil columns.
    """
    library = read_wide_csv(
        path,
        wavelength_unit="nm",
        quantity="absorbance",
        property_columns=list(NIRSOIL_UNITS),
        property_units=NIRSOIL_UNITS,
        metadata_columns=["train"],
        name="NIRsoil",
    )
    split = np.where(library.meta["train"].to_numpy() == 1, "train", "test")
    return dataclasses.replace(library, metadata=pd.DataFrame({"split": split}))


def read_datsoilspc(path: str | os.PathLike[str]) -> SpectralLibrary:
    """Read soilspec's ``datsoilspc`` table (the Geeves data set, exported to CSV).

    Columns ``clay``, ``silt``, ``sand`` (%), ``TotalCarbon`` (g/100 g; all organic) and the
    vis-NIR reflectance (fraction) at 350-2500 nm every 1 nm (columns ``"350"`` ... ``"2500"``).

    Args:
        path: ``datsoilspc.csv``.

    Returns:
        391 spectra, reflectance, nm, with the four properties.

    Raises:
        SpectralLibraryError: If the table lacks the datsoilspc columns.
    """
    return read_wide_csv(
        path,
        wavelength_unit="nm",
        quantity="reflectance",
        property_columns=list(DATSOILSPC_UNITS),
        property_units=DATSOILSPC_UNITS,
        metadata_columns=[],
        name="datsoilspc",
    )


def read_kssl_mir(path: str | os.PathLike[str]) -> SpectralLibrary:
    """Read the KSSL MIR table of soilspecdl (``toy_kssl_mir.csv.gz``) or one in its layout.

    Columns ``id`` (sample id), properties named as in the OSSL (``oc_usda.c729_w.pct`` organic
    carbon %, ``clay.tot_usda.a334_w.pct`` clay %, ``cec_usda.a723_cmolc.kg`` CEC cmol(+)/kg,
    ``k.ext_usda.a725_cmolc.kg`` extractable K cmol(+)/kg, ...; units from the name, see
    :func:`eospec.libraries.ossl.ossl_property_unit`) and MIR absorbance at 600-4000 cm-1 every
    2 cm-1 (columns ``"600"`` ... ``"4000"``).

    Args:
        path: the table, ``.csv`` or ``.csv.gz``.

    Returns:
        The library: absorbance, wavenumbers in cm-1 (increasing), sample ids from ``id``.

    Raises:
        SpectralLibraryError: If the table has no ``id`` or no band column.
    """
    header = pd.read_csv(path, nrows=0).columns
    if "id" not in header:
        raise SpectralLibraryError(f"{str(path)!r} has no 'id' column: it is not in the KSSL MIR table layout")
    names, _ = find_spectrum_columns(list(header))
    properties = [str(c) for c in header if c != "id" and str(c) not in set(names)]
    return read_wide_csv(
        path,
        wavelength_unit="cm-1",
        quantity="absorbance",
        id_column="id",
        property_columns=properties,
        property_units={column: ossl_property_unit(column) for column in properties},
        metadata_columns=[],
        name="KSSL MIR",
    )

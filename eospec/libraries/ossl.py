"""The Open Soil Spectral Library (OSSL) table layout.

The OSSL (Safanelli et al. 2023, *An open soil spectral library*, PLoS ONE 18(1): e0296545;
manual: https://soilspectroscopy.github.io/ossl-manual/) is distributed as tables joined by the
layer id ``id.layer_uuid_txt``:

- ``ossl_soilsite_L0_v1.2.csv.gz``: site data (``longitude.point_wgs84_dd``,
  ``latitude.point_wgs84_dd``, ``observation.date.begin_iso.8601_yyyy.mm.dd``, layer depths, ...);
- ``ossl_soillab_L0_v1.2.csv.gz`` (original methods) and ``ossl_soillab_L1_v1.2.csv.gz``
  (harmonised): one column per property and method, named ``<property>_<method>_<unit>``, e.g.
  ``oc_usda.c729_w.pct`` (organic carbon, weight %), ``ph.h2o_usda.a268_index`` (pH in water),
  ``cec_usda.a723_cmolc.kg`` (CEC, cmol(+)/kg);
- ``ossl_visnir_L0_v1.2.csv.gz``: vis-NIR reflectance (fraction) ``scan_visnir.350_ref`` ...
  ``scan_visnir.2500_ref`` every 2 nm; ``ossl_mir_L0_v1.2.csv.gz``: MIR absorbance (log10(1/R))
  ``scan_mir.600_abs`` ... ``scan_mir.4000_abs`` every 2 cm-1; ``ossl_nir_L0_v1.2.csv.gz``:
  portable NIR ``scan_nir.<nm>_ref``;
- ``ossl_all_L0_v1.2.csv.gz`` / ``ossl_all_L1_v1.2.csv.gz``: all of the above in one table.

Users download the files themselves (public, about 1 GB in all; CC BY 4.0 for most datasets),
from ``https://storage.googleapis.com/soilspec4gg-public/<file name>``. The ``.qs`` copies are
an R format: use the ``.csv.gz`` (or convert them to Parquet).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from eospec.errors import SpectralLibraryError
from eospec.libraries.core import SpectralLibrary

__all__ = [
    "OSSL_ID_COLUMN",
    "OSSL_UNITS",
    "OSSL_METADATA_COLUMNS",
    "ossl_property_unit",
    "ossl_spectrum_columns",
    "read_ossl",
]

#: The layer id that joins the OSSL tables.
OSSL_ID_COLUMN = "id.layer_uuid_txt"

#: OSSL unit codes (the last ``_``-separated part of a property column name) -> unit written out.
OSSL_UNITS: dict[str, str] = {
    "w.pct": "%",
    "w.frac": "g/g",
    "v.pct": "% (volume)",
    "index": "pH",
    "cmolc.kg": "cmol(+)/kg",
    "g.kg": "g/kg",
    "mg.kg": "mg/kg",
    "g.cm3": "g/cm3",
    "ds.m": "dS/m",
    "class": "class",
}

#: OSSL site and scan columns kept as metadata -> the short name they get.
OSSL_METADATA_COLUMNS: dict[str, str] = {
    "dataset.code_ascii_txt": "dataset",
    "id.layer_local_c": "layer_id",
    "id.scan_local_c": "scan_id",
    "longitude.point_wgs84_dd": "lon",
    "latitude.point_wgs84_dd": "lat",
    "observation.date.begin_iso.8601_yyyy.mm.dd": "date",
    "layer.upper.depth_usda_cm": "depth_top_cm",
    "layer.lower.depth_usda_cm": "depth_bottom_cm",
    "location.country_iso.3166_txt": "country",
}

#: Scan kinds -> unit of their spectral axis.
_SCANS: dict[str, str] = {"visnir": "nm", "nir": "nm", "mir": "cm-1"}

#: Columns of the soil-lab tables that are identifiers, not properties.
_ID_PATTERN = re.compile(r"^(id\.|dataset\.)")

#: File-name patterns of the OSSL tables.
_TABLES = ("visnir", "nir", "mir", "soillab", "soilsite", "all")
_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def ossl_property_unit(column: str) -> str:
    """Unit of an OSSL property column, from the unit code that ends its name.

    Args:
        column: an OSSL name such as ``"oc_usda.c729_w.pct"`` or ``"ph.h2o_usda.a268_index"``.

    Returns:
        The unit written out (``"%"``, ``"pH"``, ``"cmol(+)/kg"``, ...; see :data:`OSSL_UNITS`), or
        the code itself when eospec does not know it.
    """
    code = column.rsplit("_", 1)[-1]
    return OSSL_UNITS.get(code, code)


def ossl_spectrum_columns(columns: Iterable[str], scan: str) -> tuple[list[str], np.ndarray, str]:
    """Find the spectrum columns of one scan kind in an OSSL table.

    Args:
        columns: the table's column names.
        scan: ``"visnir"``, ``"nir"`` or ``"mir"``.

    Returns:
        ``(names, positions, quantity)``: the column names, their positions as float64 of shape
        (B,) (nm for vis-NIR/NIR, cm-1 for MIR), and ``"reflectance"`` (``_ref``) or
        ``"absorbance"`` (``_abs``).

    Raises:
        SpectralLibraryError: If the table has no such column, or mixes ``_ref`` and ``_abs``.
    """
    pattern = re.compile(rf"^scan_{re.escape(scan)}\.(\d+(?:\.\d+)?)_(ref|abs)$")
    names: list[str] = []
    positions: list[float] = []
    kinds: set[str] = set()
    for column in columns:
        match = pattern.match(str(column))
        if match:
            names.append(str(column))
            positions.append(float(match.group(1)))
            kinds.add(match.group(2))
    if not names:
        raise SpectralLibraryError(
            f"no 'scan_{scan}.<position>_ref' or '_abs' column found: is this an OSSL {scan} table "
            f"(ossl_{scan}_L0_v1.2.csv.gz or ossl_all_*)?"
        )
    if len(kinds) > 1:
        raise SpectralLibraryError(f"the scan_{scan} columns mix '_ref' and '_abs': read them separately")
    return names, np.asarray(positions, dtype=np.float64), "reflectance" if kinds == {"ref"} else "absorbance"


def _table_kind(path: Path) -> str | None:
    name = path.name.lower()
    for kind in _TABLES:
        if re.search(rf"(^|_){kind}_", name):
            return kind
    return None


def _find_tables(folder_or_files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> dict[str, Path]:
    """Map table kind -> file from a folder or a list of files (L1 soil-lab preferred over L0)."""
    if isinstance(folder_or_files, str | os.PathLike):
        root = Path(folder_or_files)
        if root.is_dir():
            candidates = sorted(p for p in root.iterdir() if p.name.lower().endswith(_SUFFIXES))
        elif root.is_file():
            candidates = [root]
        else:
            raise FileNotFoundError(f"{str(root)!r} does not exist: give the folder holding the OSSL files")
    else:
        candidates = [Path(p) for p in folder_or_files]
        for path in candidates:
            if not path.is_file():
                raise FileNotFoundError(f"{str(path)!r} does not exist")
    tables: dict[str, Path] = {}
    for path in candidates:
        # A single file of another name is read as a combined table (like ossl_all_*).
        kind = _table_kind(path) or ("all" if len(candidates) == 1 else None)
        if kind is None:
            continue
        if kind in tables:
            # Prefer the harmonised level 1 over level 0 when both are there.
            if "_l1_" in path.name.lower() and "_l1_" not in tables[kind].name.lower():
                tables[kind] = path
            continue
        tables[kind] = path
    return tables


def _read_table(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    if path.name.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(path, columns=list(columns) if columns is not None else None)
    return pd.read_csv(path, usecols=list(columns) if columns is not None else None, low_memory=False)


def _header(path: Path) -> list[str]:
    if path.name.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        return [str(name) for name in pq.read_schema(path).names]
    return [str(name) for name in pd.read_csv(path, nrows=0).columns]


def _is_property_column(column: str, metadata: Mapping[str, str]) -> bool:
    """Whether a soil-lab (or ossl_all) column is a property, not an id, site, scan or metadata column."""
    if column in metadata or _ID_PATTERN.match(column):
        return False
    return not column.startswith(("scan_", "scan.", "longitude.", "latitude.", "layer.", "observation.", "location."))


def _resolve_properties(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """Exact OSSL names, or unambiguous prefixes such as ``"oc"`` or ``"clay.tot_usda.a334"``."""
    chosen = []
    for name in requested:
        if name in available:
            chosen.append(name)
            continue
        matches = [column for column in available if column.startswith(f"{name}_") or column.startswith(f"{name}.")]
        if len(matches) == 1:
            chosen.append(matches[0])
            continue
        if not matches:
            raise SpectralLibraryError(
                f"property {name!r} is not in the OSSL soil-lab table; it has e.g. {list(available)[:8]} "
                "(names as in the OSSL manual, e.g. 'oc_usda.c729_w.pct')"
            )
        raise SpectralLibraryError(f"property {name!r} is ambiguous: it matches {matches}; give the full name")
    return chosen


def read_ossl(
    folder_or_files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    scan: str = "visnir",
    properties: Sequence[str] | None = None,
    metadata_columns: Mapping[str, str] | None = None,
    dtype: type[np.floating] = np.float32,
) -> SpectralLibrary:
    """Read OSSL tables (as distributed, or a subset with the same columns) into a library.

    The scan table (``ossl_<scan>_L0_*``, else ``ossl_all_*``) gives the spectra; the soil-lab
    table (``ossl_soillab_L1_*`` preferred, else ``_L0_``) the properties, left-joined on
    ``id.layer_uuid_txt``; the soil-site table lon/lat, date and depths. Rows of the scan table
    without any spectrum value of that kind (e.g. layers of ``ossl_all`` with MIR but no vis-NIR
    scan) are left out. Several scans of one layer are repeats (same sample id: the layer id).
    Properties missing for a layer are NaN.

    Args:
        folder_or_files: a folder holding the OSSL files (``.csv``, ``.csv.gz`` or ``.parquet``
            named as distributed, e.g. ``ossl_visnir_L0_v1.2.csv.gz``), or a list of such files,
            or one combined file (``ossl_all_*``, or any single table with the OSSL columns).
        scan: ``"visnir"`` (350-2500 nm, reflectance), ``"nir"`` (portable NIR, reflectance) or
            ``"mir"`` (600-4000 cm-1, absorbance).
        properties: OSSL property names (or unambiguous prefixes, e.g. ``"oc"`` for
            ``oc_usda.c729_w.pct`` in level 1); default: every numeric soil-lab column.
        metadata_columns: extra OSSL columns to keep as metadata, mapped to the names they get
            (added to :data:`OSSL_METADATA_COLUMNS`).
        dtype: float dtype of the spectra (float32 halves the memory of the full OSSL).

    Returns:
        The library: wavelengths in nm (vis-NIR, NIR) or cm-1 (MIR), increasing; property units
        from the OSSL unit codes (:func:`ossl_property_unit`); metadata ``dataset``, ``scan_id``,
        ``lon``, ``lat`` (WGS84 degrees), ``date`` (datetime64), ``depth_top_cm``, ... where present.

    Raises:
        FileNotFoundError: If the folder or a file does not exist.
        SpectralLibraryError: If no scan table of that kind is found, a property is unknown, or
            ``scan`` is not one of the three kinds.
    """
    if scan not in _SCANS:
        raise SpectralLibraryError(f"scan {scan!r} is unknown: use 'visnir', 'nir' or 'mir'")
    tables = _find_tables(folder_or_files)
    scan_path = tables.get(scan) or tables.get("all")
    if scan_path is None:
        raise SpectralLibraryError(
            f"no OSSL {scan} table (ossl_{scan}_L0_v1.2.csv.gz or ossl_all_L1_v1.2.csv.gz) among "
            f"{[p.name for p in tables.values()] or 'the files given'}; download it from "
            f"https://storage.googleapis.com/soilspec4gg-public/ossl_{scan}_L0_v1.2.csv.gz"
        )
    header = _header(scan_path)
    names, positions, quantity = ossl_spectrum_columns(header, scan)
    if OSSL_ID_COLUMN not in header:
        raise SpectralLibraryError(f"{scan_path.name} has no {OSSL_ID_COLUMN!r} column: it is not an OSSL table")
    keep_meta = {
        **OSSL_METADATA_COLUMNS,
        f"scan.{scan}.date.begin_iso.8601_yyyy.mm.dd": "scan_date",
        f"scan.{scan}.model.name_utf8_txt": "instrument",
        **dict(metadata_columns or {}),
    }

    # Properties come from the soil-lab table, else from the scan table itself (ossl_all_*).
    lab_path = tables.get("soillab") or (scan_path if tables.get("all") == scan_path else None)
    wanted: list[str] = []
    if lab_path is not None:
        lab_header = header if lab_path == scan_path else _header(lab_path)
        candidates = [c for c in lab_header if _is_property_column(c, keep_meta)]
        wanted = _resolve_properties(properties, candidates) if properties is not None else candidates
    elif properties:
        raise SpectralLibraryError(
            f"properties {list(properties)} were asked for but no soil-lab table was found: add "
            "ossl_soillab_L1_v1.2.csv.gz (or use an ossl_all_* table)"
        )
    scan_extra = [c for c in header if c in keep_meta and c != OSSL_ID_COLUMN]
    own_lab = wanted if lab_path == scan_path else []
    frame = _read_table(scan_path, [OSSL_ID_COLUMN, *scan_extra, *own_lab, *names])
    spectra = frame[names].to_numpy(dtype=np.float64, na_value=np.nan)
    has_scan = np.isfinite(spectra).any(axis=1)
    frame = frame.loc[has_scan].reset_index(drop=True)
    spectra = spectra[has_scan]
    if lab_path is not None and lab_path != scan_path:
        lab_table = _read_table(lab_path, [OSSL_ID_COLUMN, *wanted]).drop_duplicates(OSSL_ID_COLUMN)
        frame = frame.merge(lab_table, on=OSSL_ID_COLUMN, how="left", validate="many_to_one")
    if properties is None:  # every numeric column (e.g. efferv_usda.a479_class is text)
        wanted = [c for c in wanted if pd.api.types.is_numeric_dtype(frame[c].dtype)]

    # Site metadata from the soil-site table, for what the scan table lacks.
    site_path = tables.get("soilsite")
    if site_path is not None and site_path != scan_path:
        site_columns = [c for c in _header(site_path) if c in keep_meta and c not in frame.columns]
        if site_columns:
            site = _read_table(site_path, [OSSL_ID_COLUMN, *site_columns]).drop_duplicates(OSSL_ID_COLUMN)
            frame = frame.merge(site, on=OSSL_ID_COLUMN, how="left", validate="many_to_one")

    metadata = pd.DataFrame({"sample_id": frame[OSSL_ID_COLUMN].astype(str).to_numpy()})
    for column, short in keep_meta.items():
        if column in frame.columns:
            metadata[short] = frame[column].to_numpy()
    for column in ("date", "scan_date"):
        if column in metadata.columns:
            metadata[column] = pd.to_datetime(metadata[column], errors="coerce")
    lab = frame[wanted]
    return SpectralLibrary.sorted(
        spectra.astype(dtype),
        positions,
        _SCANS[scan],
        quantity=quantity,
        metadata=metadata,
        properties=lab.reset_index(drop=True),
        property_units={c: ossl_property_unit(c) for c in lab.columns},
        name=f"OSSL {scan}",
    )

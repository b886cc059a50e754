"""EnMAP-Box spectral libraries stored as GeoPackages (or any vector file OGR reads).

The EnMAP-Box (Jakimow et al. 2023, "EnMAP-Box: Imaging spectroscopy in QGIS", SoftwareX 23, 101507)
keeps a spectral library as an ordinary vector layer: one feature per profile, attribute fields for
metadata, an optional point geometry, and one or more *profile fields* whose value is a JSON object

.. code-block:: json

    {"x": [0.46, 0.465, ...], "y": [589.9, 655.9, ...], "xUnit": "Micrometers", "yUnit": "...", "bbl": [1, 1, 0, ...]}

(``y`` the values; ``x`` the band positions; ``xUnit``, ``yUnit`` and ``bbl``, the bad-band list with
0 for a bad band, are optional; ``null`` in a list is a missing value). The EnMAP-Box
(``qps/speclib/core/spectralprofile.py``, ``encodeProfileValueDict``) stores it as JSON text in a
text or JSON field, or as the UTF-8 bytes of that text in a binary (BLOB) field, as in
``library_berlin.gpkg``. Very old EnMAP-Box versions pickled the dictionary; those fields are refused,
because unpickling a file can run arbitrary code.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from ..errors import MixedUnitsError, SpectralLibraryError
from .core import SpectralLibrary
from .envi import normalise_unit, order_axis, split_properties, warn_if_scaled

__all__ = ["read_enmapbox_library", "decode_profile"]

#: Layers that QGIS and GDAL keep in a GeoPackage beside the data.
_SYSTEM_LAYERS = {"layer_styles", "qgis_projects"}


def decode_profile(value: Any, source: str = "profile") -> dict[str, Any] | None:
    """Decode one EnMAP-Box profile field value into its dictionary.

    Args:
        value: the field value: JSON text, its UTF-8 bytes (BLOB field), an already parsed dict, or
            None / NaN / empty for no profile.
        source: where the value was read (file, layer, field, feature), quoted in error messages.

    Returns:
        The dictionary with at least ``"y"`` (list of numbers; ``None`` for a missing value), and
        where present ``"x"``, ``"xUnit"``, ``"yUnit"``, ``"bbl"``; or None when the field is empty.

    Raises:
        SpectralLibraryError: If the value is pickled (old EnMAP-Box), not JSON, or a JSON value that is
            not a profile (no ``"y"`` list).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dict):
        profile: Any = value
    else:
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if raw[:1] == b"\x80":
                raise SpectralLibraryError(
                    f"{source} is a pickled profile (EnMAP-Box before 3.10), which eospec does not unpickle "
                    "because that can run code from the file: open and save the library in a current EnMAP-Box"
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise SpectralLibraryError(f"{source} is binary data, not a JSON spectral profile") from error
        elif isinstance(value, str):
            text = value
        else:
            raise SpectralLibraryError(f"{source} holds a {type(value).__name__}, not a JSON spectral profile")
        if not text.strip():
            return None
        try:
            profile = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpectralLibraryError(f"{source} is not a JSON spectral profile: {error}") from error
    if not isinstance(profile, dict) or not isinstance(profile.get("y"), list):
        raise SpectralLibraryError(f"{source} is JSON but not a spectral profile: it needs a list of values under 'y'")
    return profile


def _is_profile_field(values: pd.Series) -> bool:
    """Whether the first non-empty value of a column decodes as a profile (or is a pickled one)."""
    for value in values:
        if isinstance(value, (bytes, bytearray, memoryview)) and bytes(value[:1]) == b"\x80":
            return True  # pickled by an old EnMAP-Box: decode_profile explains why it is not read
        try:
            profile = decode_profile(value)
        except SpectralLibraryError:
            return False
        if profile is not None:
            return True
    return False


def _candidate_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if c != "geometry" and (frame[c].dtype == object or _is_text(frame[c]))]


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column.dtype)


def _read_layer(path: Path, layer: str | None) -> tuple[pd.DataFrame, str, list[str]]:
    """The layer as a (Geo)DataFrame with a ``fid`` column, its name and its binary (BLOB) fields."""
    import pyogrio

    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as error:  # pyogrio raises DataSourceError (and others) for unreadable files
        raise SpectralLibraryError(f"{path} cannot be opened as a vector file: {error}") from error
    if layer is not None:
        if layer not in layers:
            raise SpectralLibraryError(f"{path.name} has no layer {layer!r}: its layers are {layers}")
        names = [layer]
    else:
        names = [name for name in layers if name.lower() not in _SYSTEM_LAYERS]
    found: list[tuple[pd.DataFrame, str, list[str]]] = []
    for name in names:
        frame = pyogrio.read_dataframe(path, layer=name, fid_as_index=True)
        frame = frame.reset_index(names="fid") if "fid" not in frame.columns else frame.reset_index(drop=True)
        if any(_is_profile_field(frame[c]) for c in _candidate_columns(frame)):
            info = pyogrio.read_info(path, layer=name)
            binary = [str(f) for f, t in zip(info["fields"], info["ogr_types"], strict=True) if t == "OFTBinary"]
            found.append((frame, name, binary))
    if not found:
        raise SpectralLibraryError(
            f"no layer of {path.name} ({names}) has a field of EnMAP-Box spectral profiles (JSON with 'x', 'y', "
            "'xUnit'): it is not a spectral library (for sample points use eospec's soil-sample readers)"
        )
    if len(found) > 1:
        raise SpectralLibraryError(
            f"{path.name} has several spectral library layers {[item[1] for item in found]}: pass layer=<name>"
        )
    return found[0]


def _coordinates(frame: pd.DataFrame) -> pd.DataFrame | None:
    """lon/lat (geographic CRS) or x/y plus ``crs`` of the geometry (centroid if not a point); None without."""
    if "geometry" not in frame.columns:
        return None
    geometry = frame["geometry"]
    crs = getattr(geometry, "crs", None)
    if geometry.isna().all() or crs is None:
        return None
    shapes = np.asarray(geometry.to_numpy(), dtype=object)
    empty = shapely.is_missing(shapes) | shapely.is_empty(shapes)
    points = np.where(shapely.get_type_id(shapes) == 0, shapes, shapely.centroid(shapes))
    points[empty] = None
    xs = shapely.get_x(points)  # NaN for None
    ys = shapely.get_y(points)
    if crs.is_geographic:
        return pd.DataFrame({"lon": xs, "lat": ys})
    return pd.DataFrame({"x": xs, "y": ys, "crs": crs.to_string()})


def read_enmapbox_library(
    path: str | os.PathLike[str],
    layer: str | None = None,
    *,
    field: str | None = None,
    axes: Literal["same", "union"] = "same",
    sort_wavelengths: bool = False,
    bad_bands: Literal["nan", "keep"] = "nan",
    scale: float | None = None,
    wavelength_unit: str | None = None,
    quantity: str = "reflectance",
    sample_id: str | None = None,
    properties: Sequence[str] | None = None,
    name: str | None = None,
) -> SpectralLibrary:
    """Read an EnMAP-Box spectral library GeoPackage (or another OGR vector file of the same layout).

    Each feature with a non-empty profile becomes one spectrum; features whose profile field is
    empty are dropped with a warning. Missing values (``null`` in ``y``) and bands that the
    profile's ``bbl`` marks 0 are NaN. A strictly decreasing axis is reversed; any other
    non-increasing axis raises unless ``sort_wavelengths`` is True.

    Metadata keeps every attribute field except the profile fields (with the feature id as ``fid``),
    and the geometry as ``lon``/``lat`` (geographic CRS) or ``x``/``y`` plus ``crs``; empty
    geometries give NaN. ``sample_id`` names the column whose equal values mark repeats of one
    sample (default: ``sample_id`` if present, else ``name``, else none).

    Args:
        path: the ``.gpkg`` (or ``.geojson``, ``.shp``, ...) file.
        layer: the layer to read; default the only layer that holds profiles.
        field: the profile field to read; default the only field that holds profiles. A layer may
            keep several (e.g. ``profiles`` at full resolution and ``Landsat8`` resampled).
        axes: ``"same"`` requires every profile to have the same band positions; ``"union"`` puts the
            profiles on the sorted union of their positions, NaN where a profile has no value (e.g. the
            spectral response functions in ``enmap_srf_library.gpkg``).
        sort_wavelengths: reorder a non-monotonic axis (and the values) instead of raising.
        bad_bands: ``"nan"`` sets bands with ``bbl`` 0 to NaN; ``"keep"`` keeps their values.
        scale: divisor from stored values to reflectance 0-1, e.g. 10000 for ``library_berlin.gpkg``.
        wavelength_unit: ``"nm"``, ``"um"`` or ``"cm-1"`` for profiles without ``xUnit`` (or to
            override it).
        quantity: ``"reflectance"`` or ``"absorbance"``.
        sample_id: column of the layer that identifies samples (repeats share a value).
        properties: attribute columns that are measured properties (moved to ``properties`` as
            float64, NaN where missing).
        name: library name; default the layer name.

    Returns:
        A :class:`SpectralLibrary` with float64 spectra of shape (N, B) and float64 band positions of
        shape (B,), increasing, in the profiles' unit.

    Raises:
        SpectralLibraryError: If the file cannot be opened, no layer (or several) holds profiles, the
            field is missing or not a profile field, several profile fields hold data and ``field`` is
            None, a profile has no ``x`` values or ``x`` and ``y`` differ in length, or the profiles
            have different band positions and ``axes`` is ``"same"``.
        MixedUnitsError: If profiles in one layer use different axis units.
        UnknownUnitError: If a profile's ``xUnit`` is missing or unknown and ``wavelength_unit`` is None.
        WavelengthOrderError: If a profile repeats a band position, or its axis is not monotonic and
            ``sort_wavelengths`` is False.

    Warns:
        UserWarning: If features without a profile are dropped, or reflectance exceeds 2 (pass ``scale``).
    """
    path = Path(path)
    if not path.exists():
        raise SpectralLibraryError(f"{path} does not exist: give the path of an EnMAP-Box spectral library (.gpkg)")
    if axes not in ("same", "union"):
        raise ValueError(f"axes={axes!r} is unknown: use 'same' or 'union'")
    if bad_bands not in ("nan", "keep"):
        raise ValueError(f"bad_bands={bad_bands!r} is unknown: use 'nan' or 'keep'")
    frame, layer_name, binary_fields = _read_layer(path, layer)
    source = f"{path.name} (layer {layer_name!r})"

    profile_fields = [c for c in _candidate_columns(frame) if _is_profile_field(frame[c])]
    if field is None:
        if len(profile_fields) > 1:
            raise SpectralLibraryError(
                f"{source} has several profile fields {profile_fields}: pass field=<name> to read one "
                "(read the others with further calls)"
            )
        field = profile_fields[0]
    elif field not in frame.columns:
        raise SpectralLibraryError(f"{source} has no field {field!r}: its profile fields are {profile_fields}")
    elif field not in profile_fields:
        raise SpectralLibraryError(
            f"field {field!r} of {source} holds no spectral profiles: its profile fields are {profile_fields}"
        )
    empty_blobs = [c for c in binary_fields if c in frame.columns and c not in profile_fields and frame[c].isna().all()]
    decoded = [
        decode_profile(value, f"field {field!r} of feature {fid} in {source}")
        for value, fid in zip(frame[field], frame["fid"], strict=True)
    ]
    present = np.array([profile is not None for profile in decoded])
    if not present.all():
        warnings.warn(
            f"{int((~present).sum())} feature(s) of {source} have no profile in field {field!r} and are dropped "
            f"(fid {frame['fid'][~present].tolist()[:10]})",
            UserWarning,
            stacklevel=2,
        )
    rows = np.flatnonzero(present)
    if rows.size == 0:
        raise SpectralLibraryError(f"field {field!r} of {source} has no profile in any feature")

    axes_list: list[npt.NDArray[np.float64]] = []
    values_list: list[npt.NDArray[np.float64]] = []
    units: list[str] = []
    for row in rows:
        profile = decoded[row]
        assert profile is not None
        where = f"feature {frame['fid'].iloc[row]} of {source}"
        y = np.array([np.nan if v is None else v for v in profile["y"]], dtype=np.float64)
        if profile.get("x") is None:
            raise SpectralLibraryError(
                f"the profile of {where} has no 'x' values (band numbers only): its band positions are unknown"
            )
        x = np.array([np.nan if v is None else v for v in profile["x"]], dtype=np.float64)
        if x.size != y.size:
            raise SpectralLibraryError(f"the profile of {where} has {x.size} 'x' but {y.size} 'y' values")
        bbl = profile.get("bbl")
        if bbl is not None and bad_bands == "nan":
            flags = np.array([1 if v is None else v for v in bbl], dtype=np.float64)
            if flags.size != y.size:
                raise SpectralLibraryError(f"the profile of {where} has {flags.size} 'bbl' but {y.size} 'y' values")
            y[flags == 0] = np.nan
        unit_text = wavelength_unit if wavelength_unit is not None else profile.get("xUnit")
        units.append(normalise_unit(unit_text, f"{where} ('xUnit')"))
        order = order_axis(x, where, sort_wavelengths)
        if order is not None:
            x, y = x[order], y[order]
        axes_list.append(x)
        values_list.append(y)

    distinct_units = sorted(set(units))
    if len(distinct_units) > 1:
        counts = {unit: units.count(unit) for unit in distinct_units}
        raise MixedUnitsError(
            f"profiles in field {field!r} of {source} use different units {counts}: split the layer by unit "
            "(e.g. a QGIS filter on the profile's xUnit) and read each part, or pass wavelength_unit= if the "
            "xUnit values are wrong"
        )
    reference = axes_list[0]
    same = all(x.size == reference.size and np.array_equal(x, reference) for x in axes_list)
    if same:
        wavelengths = reference
        spectra = np.vstack(values_list)
    elif axes == "same":
        n_axes = len({x.tobytes() for x in axes_list})
        other = next(i for i, x in enumerate(axes_list) if x.size != reference.size or not np.array_equal(x, reference))
        raise SpectralLibraryError(
            f"profiles in field {field!r} of {source} have {n_axes} different band axes (feature "
            f"{frame['fid'].iloc[rows[0]]}: {reference.size} bands {reference[0]:g}-{reference[-1]:g} {units[0]}; "
            "feature "
            f"{frame['fid'].iloc[rows[other]]}: {axes_list[other].size} bands {axes_list[other][0]:g}-"
            f"{axes_list[other][-1]:g} {units[0]}): pass axes='union' to put them on the union of their band "
            "positions (NaN elsewhere), pass field= to read another profile field, or resample them first"
        )
    else:
        wavelengths = np.unique(np.concatenate(axes_list))
        spectra = np.full((len(values_list), wavelengths.size), np.nan)
        for i, (x, y) in enumerate(zip(axes_list, values_list, strict=True)):
            spectra[i, np.searchsorted(wavelengths, x)] = y

    if scale is not None:
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale={scale!r} must be a positive number, e.g. 10000")
        spectra = spectra / scale
    warn_if_scaled(spectra, quantity, source)

    kept = frame.iloc[rows].reset_index(drop=True)
    drop = [c for c in profile_fields + empty_blobs + ["geometry"] if c in kept.columns]
    metadata = pd.DataFrame(kept.drop(columns=drop))
    coordinates = _coordinates(kept)
    if coordinates is not None:
        metadata = pd.concat([metadata, coordinates], axis=1)
    metadata, property_table = split_properties(metadata, properties, source)
    id_column = sample_id if sample_id is not None else next((c for c in ("sample_id", "name") if c in metadata), None)
    if sample_id is not None and sample_id not in metadata.columns:
        raise SpectralLibraryError(f"{source} has no column {sample_id!r}: choose from {list(metadata.columns)}")
    ids = None if id_column is None else metadata[id_column].to_numpy()
    return SpectralLibrary(
        spectra=spectra,
        wavelengths=wavelengths,
        wavelength_unit=units[0],
        quantity=quantity,
        metadata=metadata,
        properties=property_table,
        sample_ids=ids,
        name=name if name is not None else layer_name,
    )

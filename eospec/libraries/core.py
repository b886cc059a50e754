r"""The :class:`SpectralLibrary` type: spectra, their wavelength axis and unit, sample metadata and properties.

A library holds N spectra sampled at B bands. The axis is stored in the unit given (``"nm"``,
``"um"`` or ``"cm-1"``), always strictly increasing (for wavenumbers too: a MIR library in cm-1
stores increasing wavenumbers, i.e. decreasing wavelengths). Reflectance is a fraction (0-1, not
percent); absorbance is the apparent absorbance :math:`A = \log_{10}(1/R)` (e.g. Workman & Weyer,
*Practical Guide to Interpretive Near-Infrared Spectroscopy*, 2008, ch. 1). Measured properties
are floats with NaN for a missing value, never zero. Several scans of one sample (repeats) share a
sample id; :meth:`SpectralLibrary.mean_repeats` averages them.

The library is torch-free until indexed: ``library[i]`` returns a dict of torch tensors, so a
library is a map-style PyTorch dataset (``torch.utils.data.DataLoader(library, batch_size=32)``).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from eospec.errors import MixedUnitsError, SpectralLibraryError, UnknownUnitError, WavelengthOrderError
from eospec.units import (
    UNITS,
    absorbance_to_reflectance,
    check_unit,
    convert_axis,
    parse_unit,
    reflectance_to_absorbance,
)

if TYPE_CHECKING:
    import torch
    import xarray as xr

    from eospec.sensors import Sensor

__all__ = [
    "WAVELENGTH_UNITS",
    "QUANTITIES",
    "SPECTRUM_PREFIX",
    "SpectralLibrary",
    "parse_wavelength_unit",
    "convert_axis",
]

#: Units of the spectral axis that a library may carry.
WAVELENGTH_UNITS: tuple[str, ...] = UNITS

#: Quantities a library's values may be: reflectance (fraction 0-1) or absorbance log10(1/R).
QUANTITIES: tuple[str, ...] = ("reflectance", "absorbance")

#: Prefix of the spectrum columns in :meth:`SpectralLibrary.to_pandas` (``"spectrum_350"``, ...).
SPECTRUM_PREFIX = "spectrum_"

#: Key of ``DataFrame.attrs`` (and prefix of ``xarray`` attributes) holding the library's description.
_ATTRS_KEY = "eospec"

#: Read the unit spellings of file headers (``"Nanometers"``, ``"1/cm"``, ...): see :func:`eospec.units.parse_unit`.
parse_wavelength_unit = parse_unit


def _check_unit(unit: str) -> None:
    check_unit(unit)


def _check_quantity(quantity: str) -> None:
    if quantity not in QUANTITIES:
        raise UnknownUnitError(
            f"quantity {quantity!r} is unknown: use 'reflectance' (fraction 0-1) or 'absorbance' (log10(1/R))"
        )


def _format_position(value: float) -> str:
    """Shortest text that reads back to the same float (``1100.0 -> '1100'``, ``0.383 -> '0.383'``)."""
    return np.format_float_positional(float(value), trim="-")


def _numeric_frame(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """Properties as float64 columns (NaN for missing), or SpectralLibraryError naming a bad column."""
    columns: dict[str, npt.NDArray[np.float64]] = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
            columns[str(column)] = values.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            first = values[bad].iloc[0]
            raise SpectralLibraryError(
                f"property {column!r} is not numeric (e.g. {first!r} in row {int(np.flatnonzero(bad)[0])}): "
                "pass text columns as metadata, or convert them to numbers (missing values as NaN)"
            )
        columns[str(column)] = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    result = pd.DataFrame(columns, index=pd.RangeIndex(n))
    return result


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SpectralLibrary:
    """Spectra of N samples at B bands, with their axis, unit, metadata and measured properties.

    A map-style PyTorch dataset (``len(library)``, ``library[i]``), convertible to pandas
    (:meth:`to_pandas`) and xarray (:meth:`to_xarray`). Construction validates the inputs; the
    stored ``metadata`` and ``properties`` are always DataFrames with a ``RangeIndex`` of N rows
    (empty of columns when none were given), ``properties`` float64 with NaN for missing values, and
    ``sample_ids`` always set (from ``metadata["sample_id"]`` when present, else ``0..N-1``).

    Attributes:
        spectra: float32 or float64 array of shape (N, B) (other dtypes become float64); reflectance
            as a fraction 0-1 or absorbance log10(1/R). NaN marks a missing band value.
        wavelengths: float64 array of shape (B,), band positions in ``wavelength_unit``, strictly
            increasing (increasing wavenumbers for ``"cm-1"``).
        wavelength_unit: ``"nm"``, ``"um"`` or ``"cm-1"``.
        quantity: ``"reflectance"`` or ``"absorbance"``.
        metadata: N rows of per-spectrum information (``sample_id``, lon/lat, date, dataset, fold, ...).
        properties: N rows of measured properties, float64, NaN for missing.
        property_units: unit of each property column, e.g. ``{"soc": "g/kg", "clay": "%"}``.
        sample_ids: array of shape (N,), str or int; repeats (several scans of one sample) share an id.
        name: a short name of the library, e.g. ``"NIRsoil"``.

    Raises:
        SpectralLibraryError: If shapes disagree, a property is not numeric, or a unit names a
            property that does not exist.
        WavelengthOrderError: If the wavelengths are not strictly increasing (or not finite).
        UnknownUnitError: If ``wavelength_unit`` or ``quantity`` is unknown.
    """

    spectra: np.ndarray
    wavelengths: np.ndarray
    wavelength_unit: str
    quantity: str = "reflectance"
    metadata: pd.DataFrame | None = None
    properties: pd.DataFrame | None = None
    property_units: Mapping[str, str] = dataclasses.field(default_factory=dict)
    sample_ids: np.ndarray | None = None
    name: str = ""

    # ------------------------------------------------------------------------------------------
    # Construction and validation
    # ------------------------------------------------------------------------------------------

    def __post_init__(self) -> None:
        spectra = np.asarray(self.spectra)
        if spectra.dtype not in (np.float32, np.float64):
            spectra = spectra.astype(np.float64)
        if spectra.ndim == 1:
            spectra = spectra[None, :]
        if spectra.ndim != 2:
            raise SpectralLibraryError(f"spectra must have shape (N, B); got shape {spectra.shape}")
        n, b = spectra.shape
        wavelengths = np.asarray(self.wavelengths, dtype=np.float64)
        if wavelengths.ndim != 1 or wavelengths.size != b:
            raise SpectralLibraryError(
                f"wavelengths must have shape ({b},) to match spectra of shape {spectra.shape}; "
                f"got shape {wavelengths.shape}"
            )
        _check_unit(self.wavelength_unit)
        _check_quantity(self.quantity)
        if not np.all(np.isfinite(wavelengths)):
            index = int(np.flatnonzero(~np.isfinite(wavelengths))[0])
            raise WavelengthOrderError(
                f"wavelength {index} is {float(wavelengths[index])!r}: every band needs a finite position in "
                f"{self.wavelength_unit}; drop that band"
            )
        steps = np.diff(wavelengths)
        if np.any(steps <= 0):
            index = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise WavelengthOrderError(
                f"wavelengths must be strictly increasing, but index {index} ({wavelengths[index]:g} "
                f"{self.wavelength_unit}) follows index {index - 1} ({wavelengths[index - 1]:g} "
                f"{self.wavelength_unit}): sort the bands (columns) by wavelength, e.g. with "
                "SpectralLibrary.sorted(spectra, wavelengths, unit), and average or drop repeated wavelengths"
            )

        metadata = self._frame(self.metadata, n, "metadata")
        properties = _numeric_frame(self._frame(self.properties, n, "properties"), n)
        units = {str(key): str(value) for key, value in dict(self.property_units).items()}
        unknown = sorted(set(units) - set(properties.columns))
        if unknown:
            raise SpectralLibraryError(
                f"property_units names {unknown} but the properties are {list(properties.columns)}: "
                "give units only for property columns"
            )
        if self.sample_ids is not None:
            ids = np.asarray(self.sample_ids)
            if ids.shape != (n,):
                raise SpectralLibraryError(f"sample_ids must have shape ({n},); got shape {ids.shape}")
        elif "sample_id" in metadata.columns:
            ids = metadata["sample_id"].to_numpy()
        else:
            ids = np.arange(n)
        if ids.dtype == object and all(isinstance(value, str) for value in ids):
            ids = ids.astype(str)
        object.__setattr__(self, "spectra", spectra)
        object.__setattr__(self, "wavelengths", wavelengths)
        object.__setattr__(self, "metadata", metadata)
        object.__setattr__(self, "properties", properties)
        object.__setattr__(self, "property_units", units)
        object.__setattr__(self, "sample_ids", ids)

    @staticmethod
    def _frame(frame: pd.DataFrame | None, n: int, what: str) -> pd.DataFrame:
        if frame is None:
            return pd.DataFrame(index=pd.RangeIndex(n))
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        if len(frame) != n:
            raise SpectralLibraryError(f"{what} has {len(frame)} rows but there are {n} spectra: give one row each")
        frame = frame.reset_index(drop=True)
        frame.columns = [str(column) for column in frame.columns]
        return frame

    @classmethod
    def sorted(
        cls,
        spectra: npt.ArrayLike,
        wavelengths: npt.ArrayLike,
        wavelength_unit: str,
        **kwargs: Any,
    ) -> SpectralLibrary:
        """Build a library from bands in any order (e.g. decreasing wavenumbers), sorting them.

        Args:
            spectra: array of shape (N, B).
            wavelengths: array of shape (B,), band positions in ``wavelength_unit``, in any order,
                without repeats.
            wavelength_unit: ``"nm"``, ``"um"`` or ``"cm-1"``.
            **kwargs: the other :class:`SpectralLibrary` fields (``quantity``, ``metadata``, ...).

        Returns:
            The library, bands in increasing order of ``wavelengths``.

        Raises:
            WavelengthOrderError: If a wavelength is repeated.
        """
        values = np.asarray(spectra)
        positions = np.asarray(wavelengths, dtype=np.float64)
        order = np.argsort(positions, kind="stable")
        return cls(np.take(values, order, axis=-1), positions[order], wavelength_unit, **kwargs)

    # ------------------------------------------------------------------------------------------
    # Typed views of the normalised fields
    # ------------------------------------------------------------------------------------------

    @property
    def meta(self) -> pd.DataFrame:
        """``metadata`` (always a DataFrame of N rows after construction)."""
        assert self.metadata is not None
        return self.metadata

    @property
    def props(self) -> pd.DataFrame:
        """``properties`` (always a float64 DataFrame of N rows after construction)."""
        assert self.properties is not None
        return self.properties

    @property
    def ids(self) -> np.ndarray:
        """``sample_ids`` (always set after construction), shape (N,)."""
        assert self.sample_ids is not None
        return self.sample_ids

    @property
    def n_bands(self) -> int:
        """Number of bands, B."""
        return int(self.wavelengths.size)

    @property
    def property_names(self) -> list[str]:
        """Names of the property columns, in order."""
        return [str(column) for column in self.props.columns]

    @property
    def n_samples(self) -> int:
        """Number of distinct sample ids (fewer than ``len(self)`` when there are repeats)."""
        return int(pd.unique(self.ids).size)

    @property
    def folds(self) -> np.ndarray | None:
        """The cross-validation fold of each spectrum (``metadata["fold"]``), shape (N,), or None."""
        if "fold" not in self.meta.columns:
            return None
        return self.meta["fold"].to_numpy()

    def fold_split(self, fold: Hashable) -> tuple[SpectralLibrary, SpectralLibrary]:
        """Split into the training part (other folds) and the test part (this fold).

        Args:
            fold: the fold held out, a value of ``metadata["fold"]``.

        Returns:
            ``(train, test)`` libraries.

        Raises:
            SpectralLibraryError: If the library has no ``fold`` metadata or no spectrum in ``fold``.
        """
        folds = self.folds
        if folds is None:
            raise SpectralLibraryError(
                f"library {self.name!r} has no 'fold' metadata column: add one, or split with subset()"
            )
        test = folds == fold
        if not test.any():
            raise SpectralLibraryError(f"fold {fold!r} is not among the folds {sorted(pd.unique(folds).tolist())}")
        return self.subset(~test), self.subset(test)

    @functools.cached_property
    def _property_matrix(self) -> npt.NDArray[np.float32]:
        return self.props.to_numpy(dtype=np.float32, na_value=np.nan).reshape(len(self), -1)

    # ------------------------------------------------------------------------------------------
    # Sequence / PyTorch dataset protocol
    # ------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.spectra.shape[0])

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> SpectralLibrary: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | SpectralLibrary:
        """One spectrum as a dict of tensors (PyTorch dataset protocol), or a slice as a library.

        Args:
            index: a position in ``[-N, N)``, or a slice.

        Returns:
            For an int: ``{"spectrum": float32 tensor (B,), "properties": float32 tensor (P,) with
            NaN for missing values, "index": int}``; for a slice: :meth:`subset` of those rows.

        Raises:
            IndexError: If the position is out of range.
            TypeError: If ``index`` is neither an int nor a slice.
        """
        if isinstance(index, slice):
            return self.subset(np.arange(len(self))[index])
        if not isinstance(index, int | np.integer):
            raise TypeError(f"index must be an int or a slice, got {type(index).__name__}: use subset() for arrays")
        n = len(self)
        position = int(index)
        if not -n <= position < n:
            raise IndexError(f"index {position} is out of range for a library of {n} spectra")
        position %= n
        import torch

        return {
            "spectrum": torch.from_numpy(np.asarray(self.spectra[position], dtype=np.float32)),
            "properties": torch.from_numpy(self._property_matrix[position].copy()),
            "index": position,
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for position in range(len(self)):
            yield self[position]

    def __repr__(self) -> str:
        span = (
            f"{self.wavelengths[0]:g}-{self.wavelengths[-1]:g} {self.wavelength_unit}" if self.n_bands else "no bands"
        )
        properties = ", ".join(
            f"{name} [{self.property_units[name]}]" if name in self.property_units else name
            for name in self.property_names
        )
        return (
            f"SpectralLibrary(name={self.name!r}, {len(self)} spectra of {self.n_samples} samples, "
            f"{self.n_bands} bands {span}, {self.quantity}, properties: {properties or 'none'})"
        )

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All spectra and properties as tensors (for a ``TensorDataset`` or full-batch training).

        Returns:
            ``(spectra, properties)``: float32 tensors of shape (N, B) and (N, P), NaN for missing.
        """
        import torch

        return (
            torch.from_numpy(np.ascontiguousarray(self.spectra, dtype=np.float32)),
            torch.from_numpy(self._property_matrix.copy()),
        )

    # ------------------------------------------------------------------------------------------
    # Selection and grouping
    # ------------------------------------------------------------------------------------------

    def _replace(self, **changes: Any) -> SpectralLibrary:
        return dataclasses.replace(self, **changes)

    def subset(self, indices_or_mask: npt.ArrayLike) -> SpectralLibrary:
        """The spectra at some positions, with their metadata, properties and ids.

        Args:
            indices_or_mask: int positions of shape (K,), or a bool mask of shape (N,).

        Returns:
            A library of K spectra (in the order given).

        Raises:
            SpectralLibraryError: If a mask does not have N entries.
            IndexError: If a position is out of range.
        """
        selector = np.asarray(indices_or_mask)
        if selector.dtype == bool:
            if selector.shape != (len(self),):
                raise SpectralLibraryError(
                    f"a mask must have shape ({len(self)},) for this library; got shape {selector.shape}"
                )
            positions = np.flatnonzero(selector)
        else:
            positions = selector.astype(np.int64).ravel()
        return self._replace(
            spectra=self.spectra[positions],
            metadata=self.meta.iloc[positions],
            properties=self.props.iloc[positions],
            sample_ids=self.ids[positions],
        )

    def select_properties(self, names: str | Sequence[str]) -> SpectralLibrary:
        """Keep some properties (in the order given), with their units.

        Args:
            names: one property name or several.

        Returns:
            The library with only those property columns.

        Raises:
            SpectralLibraryError: If a name is not a property of the library.
        """
        wanted = [names] if isinstance(names, str) else list(names)
        missing = [name for name in wanted if name not in self.props.columns]
        if missing:
            raise SpectralLibraryError(
                f"properties {missing} are not in library {self.name!r}; it has {self.property_names}"
            )
        units = {name: self.property_units[name] for name in wanted if name in self.property_units}
        return self._replace(properties=self.props[wanted], property_units=units)

    def select_bands(self, start: float | None = None, stop: float | None = None) -> SpectralLibrary:
        """Keep the bands within ``[start, stop]`` (in the library's unit).

        Args:
            start: lowest position kept, in ``wavelength_unit``; None for no lower bound.
            stop: highest position kept, in ``wavelength_unit``; None for no upper bound.

        Returns:
            The library with only those bands.

        Raises:
            SpectralLibraryError: If no band lies in the range.
        """
        keep = np.ones(self.n_bands, dtype=bool)
        if start is not None:
            keep &= self.wavelengths >= start
        if stop is not None:
            keep &= self.wavelengths <= stop
        if not keep.any():
            raise SpectralLibraryError(
                f"no band of {self.name!r} ({self.wavelengths[0]:g}-{self.wavelengths[-1]:g} {self.wavelength_unit}) "
                f"lies in [{start}, {stop}]"
            )
        return self._replace(spectra=self.spectra[:, keep], wavelengths=self.wavelengths[keep])

    def groups(self) -> dict[Hashable, npt.NDArray[np.int64]]:
        """Positions of the spectra of each sample (repeats share a sample id).

        Returns:
            A dict from sample id to an int64 array of row positions, ids in order of first appearance.
        """
        codes, uniques = pd.factorize(pd.Series(self.ids), sort=False)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
        return {
            uniques[k].item() if hasattr(uniques[k], "item") else uniques[k]: order[bounds[k] : bounds[k + 1]]
            for k in range(len(uniques))
        }

    def mean_repeats(self) -> SpectralLibrary:
        """One spectrum per sample id: the mean of its repeats.

        Spectra are averaged band by band, ignoring NaN; each property and metadata column takes the
        first non-missing value of the sample's rows (repeats of one sample share its properties).

        Returns:
            A library of :attr:`n_samples` spectra, ids in order of first appearance, same dtype.
        """
        codes, uniques = pd.factorize(pd.Series(self.ids), sort=False)
        if len(uniques) == len(self):
            return self
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bands of a sample stay NaN
            sums = np.zeros((len(uniques), self.n_bands))
            counts = np.zeros((len(uniques), self.n_bands))
            finite = np.isfinite(self.spectra)
            np.add.at(sums, codes, np.where(finite, self.spectra, 0.0))
            np.add.at(counts, codes, finite)
            means = (sums / counts).astype(self.spectra.dtype)
        key = pd.Series(codes, name="__group__")
        metadata = self.meta.groupby(key.to_numpy(), sort=True).first().reset_index(drop=True)
        properties = self.props.groupby(key.to_numpy(), sort=True).first().reset_index(drop=True)
        ids = np.asarray(uniques)
        return self._replace(spectra=means, metadata=metadata, properties=properties, sample_ids=ids)

    # ------------------------------------------------------------------------------------------
    # Units and quantities
    # ------------------------------------------------------------------------------------------

    def to_unit(self, unit: str) -> SpectralLibrary:
        """The same spectra on an axis in another unit.

        Converting between wavelengths (nm, um) and wavenumbers (cm-1) reverses the band order so
        that the axis stays increasing (see :func:`eospec.units.convert_axis`).

        Args:
            unit: ``"nm"``, ``"um"`` or ``"cm-1"``.

        Returns:
            The converted library (``self`` when the unit is already ``unit``).

        Raises:
            UnknownUnitError: If ``unit`` is unknown.
        """
        _check_unit(unit)
        if unit == self.wavelength_unit:
            return self
        positions = convert_axis(self.wavelengths, self.wavelength_unit, unit)
        if positions.size > 1 and positions[0] > positions[-1]:
            return self._replace(
                spectra=self.spectra[:, ::-1].copy(), wavelengths=positions[::-1], wavelength_unit=unit
            )
        return self._replace(wavelengths=positions, wavelength_unit=unit)

    def to_quantity(self, quantity: str) -> SpectralLibrary:
        r"""Convert between reflectance (fraction) and absorbance :math:`A = \log_{10}(1/R)`.

        Reflectance at or below zero has no absorbance and becomes NaN.

        Args:
            quantity: ``"reflectance"`` or ``"absorbance"``.

        Returns:
            The converted library, same dtype (``self`` when already in ``quantity``).

        Raises:
            UnknownUnitError: If ``quantity`` is unknown.
        """
        _check_quantity(quantity)
        if quantity == self.quantity:
            return self
        values = self.spectra
        if quantity == "absorbance":
            converted = reflectance_to_absorbance(values, floor=None)
        else:
            converted = absorbance_to_reflectance(values)
        return self._replace(spectra=converted.astype(values.dtype), quantity=quantity)

    def resample(
        self,
        target_wavelengths_nm: npt.ArrayLike | Sensor,
        fwhm_nm: npt.ArrayLike | None = None,
        *,
        min_coverage: float = 0.9,
    ) -> SpectralLibrary:
        """Resample to bands with Gaussian spectral responses (e.g. a sensor's).

        Uses :func:`eospec.sensors.gaussian_srf_matrix` and :func:`eospec.sensors.resample` (the
        response-weighted mean of the source samples; Schott 2007, Eq. 7.24). A library in um or
        cm-1 is first put on a nm axis.

        Args:
            target_wavelengths_nm: band centres of shape (T,) in nm, or a :class:`eospec.sensors.Sensor`.
            fwhm_nm: FWHM in nm, shape (T,) or scalar (not needed for a Sensor).
            min_coverage: fraction of each band's response that must fall inside the library's range.

        Returns:
            A library with T bands in nm, float64, same quantity.

        Raises:
            SpectralLibraryError: If a target band lies (partly) outside the library's range, or no
                FWHM is given.
        """
        from eospec.sensors import Sensor, gaussian_srf_matrix, resample

        if isinstance(target_wavelengths_nm, Sensor):
            centres = target_wavelengths_nm.wavelengths_nm
            widths: npt.ArrayLike = target_wavelengths_nm.fwhm_nm if fwhm_nm is None else fwhm_nm
        else:
            centres = np.asarray(target_wavelengths_nm, dtype=np.float64).ravel()
            if fwhm_nm is None:
                raise SpectralLibraryError("resample needs fwhm_nm (the FWHM of each target band, in nm)")
            widths = fwhm_nm
        source = self.to_unit("nm")
        matrix = gaussian_srf_matrix(source.wavelengths, centres, widths, min_coverage=min_coverage)
        outside = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        if outside.size:
            shown = ", ".join(f"{centres[i]:g}" for i in outside[:5])
            raise SpectralLibraryError(
                f"{outside.size} target bands ({shown}{', ...' if outside.size > 5 else ''} nm) lie outside the "
                f"range of library {self.name!r} ({source.wavelengths[0]:g}-{source.wavelengths[-1]:g} nm): "
                "drop those bands from the target or lower min_coverage"
            )
        values = resample(source.spectra, matrix)
        return source._replace(spectra=values, wavelengths=np.asarray(centres, dtype=np.float64), wavelength_unit="nm")

    @classmethod
    def concat(cls, libraries: Sequence[SpectralLibrary], *, name: str = "") -> SpectralLibrary:
        """Stack libraries with the same axis, unit and quantity.

        Properties are joined by name (a property missing from one library is NaN for its
        spectra); metadata likewise. When the libraries carry no ``dataset`` metadata, one is added
        with each library's name. Sample ids are kept as they are: equal ids in two libraries are
        treated as repeats of one sample.

        Args:
            libraries: one or more libraries.
            name: name of the result.

        Returns:
            A library of all spectra, in order.

        Raises:
            MixedUnitsError: If the libraries differ in axis unit, quantity, or the unit of a property;
                convert first with :meth:`to_unit` / :meth:`to_quantity`.
            SpectralLibraryError: If the band positions differ (resample first) or no library is given.
        """
        items = list(libraries)
        if not items:
            raise SpectralLibraryError("concat needs at least one library")
        first = items[0]
        units: dict[str, str] = {}
        for position, library in enumerate(items):
            this = f"library {position} ({library.name!r})"
            that = f"library 0 ({first.name!r})"
            if library.wavelength_unit != first.wavelength_unit:
                raise MixedUnitsError(
                    f"{this} is in {library.wavelength_unit!r} but {that} is in {first.wavelength_unit!r}: "
                    f"convert one with .to_unit({first.wavelength_unit!r}) first"
                )
            if library.quantity != first.quantity:
                raise MixedUnitsError(
                    f"{this} holds {library.quantity} but {that} holds {first.quantity}: "
                    f"convert one with .to_quantity({first.quantity!r}) first"
                )
            if library.wavelengths.shape != first.wavelengths.shape or not np.allclose(
                library.wavelengths, first.wavelengths, rtol=0.0, atol=1e-9 * max(1.0, abs(first.wavelengths[-1]))
            ):
                raise SpectralLibraryError(
                    f"{this} has other band positions than {that}: resample both to one grid first "
                    "(SpectralLibrary.resample)"
                )
            for prop, unit in library.property_units.items():
                if units.setdefault(prop, unit) != unit:
                    raise MixedUnitsError(
                        f"property {prop!r} is in {unit!r} in {this} but in {units[prop]!r} in an earlier "
                        "library: convert it to one unit first"
                    )
        metadata = [library.meta for library in items]
        if not any("dataset" in frame.columns for frame in metadata):
            metadata = [frame.assign(dataset=library.name) for frame, library in zip(metadata, items, strict=True)]
        dtype = np.result_type(*[library.spectra.dtype for library in items])
        return cls(
            spectra=np.concatenate([library.spectra for library in items]).astype(dtype, copy=False),
            wavelengths=first.wavelengths,
            wavelength_unit=first.wavelength_unit,
            quantity=first.quantity,
            metadata=pd.concat(metadata, ignore_index=True),
            properties=pd.concat([library.props for library in items], ignore_index=True),
            property_units=units,
            sample_ids=np.concatenate([np.asarray(library.ids, dtype=object) for library in items]),
            name=name,
        )

    # ------------------------------------------------------------------------------------------
    # pandas and xarray
    # ------------------------------------------------------------------------------------------

    def spectrum_columns(self) -> list[str]:
        """Names of the spectrum columns of :meth:`to_pandas`, e.g. ``["spectrum_350", ...]``."""
        return [f"{SPECTRUM_PREFIX}{_format_position(value)}" for value in self.wavelengths]

    def to_pandas(self) -> pd.DataFrame:
        """One wide table: ``sample_id``, the metadata, the properties, then one column per band.

        Spectrum columns are named ``"spectrum_<position>"`` (position in the library's unit, as
        short as reads back exactly). ``DataFrame.attrs["eospec"]`` records the unit, quantity,
        property names and units and the library name, so that :meth:`from_pandas` restores the
        library (attrs survive pickle and Parquet, not CSV).

        Returns:
            A DataFrame of N rows.
        """
        metadata = self.meta.drop(columns=["sample_id"], errors="ignore")
        spectra = pd.DataFrame(self.spectra, columns=self.spectrum_columns())
        frame = pd.concat(
            [pd.DataFrame({"sample_id": self.ids}), metadata, self.props, spectra],
            axis=1,
        )
        frame.attrs[_ATTRS_KEY] = {
            "wavelength_unit": self.wavelength_unit,
            "quantity": self.quantity,
            "properties": self.property_names,
            "property_units": dict(self.property_units),
            "name": self.name,
        }
        return frame

    @classmethod
    def from_pandas(
        cls,
        frame: pd.DataFrame,
        *,
        wavelength_unit: str | None = None,
        quantity: str | None = None,
        property_columns: Sequence[str] | None = None,
        property_units: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> SpectralLibrary:
        """Read back a table in the layout of :meth:`to_pandas`.

        Columns ``spectrum_<position>`` are the bands; ``sample_id`` the ids; the properties are
        ``property_columns`` (default: those recorded in ``frame.attrs["eospec"]``, else none);
        every other column is metadata. Arguments override what ``attrs`` records.

        Args:
            frame: the table.
            wavelength_unit: ``"nm"``, ``"um"`` or ``"cm-1"``; needed when ``attrs`` lacks it.
            quantity: ``"reflectance"`` or ``"absorbance"`` (default from ``attrs``, else reflectance).
            property_columns: names of the property columns.
            property_units: units of the properties.
            name: library name.

        Returns:
            The library (bands sorted by position).

        Raises:
            SpectralLibraryError: If the table has no ``spectrum_`` column, or a property is missing.
            UnknownUnitError: If no unit is given or recorded.
        """
        recorded: dict[str, Any] = dict(frame.attrs.get(_ATTRS_KEY, {}))
        unit = wavelength_unit or recorded.get("wavelength_unit")
        if unit is None:
            raise UnknownUnitError("the table records no wavelength unit: pass wavelength_unit='nm', 'um' or 'cm-1'")
        band_columns = [str(c) for c in frame.columns if str(c).startswith(SPECTRUM_PREFIX)]
        if not band_columns:
            raise SpectralLibraryError(
                f"no column starts with {SPECTRUM_PREFIX!r} (found {list(frame.columns)[:5]}...): "
                "use eospec.libraries.read_wide_csv for other layouts"
            )
        try:
            positions = np.array([float(c[len(SPECTRUM_PREFIX) :]) for c in band_columns])
        except ValueError as error:
            raise SpectralLibraryError(f"a spectrum column name does not end in a number: {error}") from error
        props = list(property_columns if property_columns is not None else recorded.get("properties", []))
        missing = [p for p in props if p not in frame.columns]
        if missing:
            raise SpectralLibraryError(f"property columns {missing} are not in the table")
        other = [c for c in frame.columns if str(c) not in band_columns and c not in props and c != "sample_id"]
        units = dict(property_units if property_units is not None else recorded.get("property_units", {}))
        return cls.sorted(
            frame[band_columns].to_numpy(dtype=np.float64, na_value=np.nan),
            positions,
            unit,
            quantity=quantity or recorded.get("quantity", "reflectance"),
            metadata=frame[other],
            properties=frame[props],
            property_units={k: v for k, v in units.items() if k in props},
            sample_ids=frame["sample_id"].to_numpy() if "sample_id" in frame.columns else None,
            name=name if name is not None else recorded.get("name", ""),
        )

    def to_xarray(self) -> xr.Dataset:
        """An ``xarray.Dataset`` with ``spectra(sample, wavelength)`` and one variable per property.

        Coordinates: ``wavelength`` (attrs ``units``), ``sample`` (0..N-1), ``sample_id`` and each
        metadata column along ``sample``. Each property variable carries a ``units`` attribute;
        ``spectra`` carries ``quantity`` and ``units`` (``"1"``: reflectance fraction or absorbance).

        Returns:
            The dataset; :meth:`from_xarray` reads it back.
        """
        import xarray as xr

        coords: dict[str, Any] = {
            "sample": np.arange(len(self)),
            "wavelength": ("wavelength", self.wavelengths, {"units": self.wavelength_unit}),
            "sample_id": ("sample", self.ids),
        }
        metadata_names = [c for c in self.meta.columns if c != "sample_id"]
        for column in metadata_names:
            coords[column] = ("sample", self.meta[column].to_numpy())
        variables: dict[str, Any] = {
            "spectra": (
                ("sample", "wavelength"),
                self.spectra,
                {"quantity": self.quantity, "units": "1", "long_name": self.quantity},
            )
        }
        for prop in self.property_names:
            attrs = {"units": self.property_units[prop]} if prop in self.property_units else {}
            variables[prop] = ("sample", self.props[prop].to_numpy(), attrs)
        return xr.Dataset(
            variables,
            coords=coords,
            attrs={
                "name": self.name,
                "quantity": self.quantity,
                "wavelength_unit": self.wavelength_unit,
                f"{_ATTRS_KEY}_metadata": metadata_names,
                f"{_ATTRS_KEY}_properties": self.property_names,
            },
        )

    @classmethod
    def from_xarray(cls, dataset: xr.Dataset) -> SpectralLibrary:
        """Read back a dataset in the layout of :meth:`to_xarray`.

        Args:
            dataset: with a ``spectra`` variable of dims (sample, wavelength) and a ``wavelength``
                coordinate whose ``units`` attribute is ``"nm"``, ``"um"`` or ``"cm-1"``.

        Returns:
            The library.

        Raises:
            SpectralLibraryError: If ``spectra`` is missing or has other dims.
            UnknownUnitError: If the wavelength unit is missing or unknown.
        """
        if "spectra" not in dataset.data_vars or set(dataset["spectra"].dims) != {"sample", "wavelength"}:
            raise SpectralLibraryError("the dataset needs a variable 'spectra' with dims ('sample', 'wavelength')")
        spectra = dataset["spectra"].transpose("sample", "wavelength")
        unit = dataset["wavelength"].attrs.get("units", dataset.attrs.get("wavelength_unit"))
        if unit is None:
            raise UnknownUnitError(
                "the 'wavelength' coordinate has no 'units' attribute: set it to 'nm', 'um' or 'cm-1'"
            )
        props = [str(v) for v in dataset.data_vars if str(v) != "spectra" and dataset[v].dims == ("sample",)]
        recorded_props = list(dataset.attrs.get(f"{_ATTRS_KEY}_properties", props))
        props = [p for p in recorded_props if p in props] + [p for p in props if p not in recorded_props]
        metadata_names = [
            str(c)
            for c in dataset.coords
            if str(c) not in ("sample", "wavelength", "sample_id") and dataset.coords[c].dims == ("sample",)
        ]
        metadata = pd.DataFrame({c: dataset.coords[c].to_numpy() for c in metadata_names})
        properties = pd.DataFrame({p: dataset[p].to_numpy() for p in props})
        units = {p: str(dataset[p].attrs["units"]) for p in props if "units" in dataset[p].attrs}
        ids = dataset.coords["sample_id"].to_numpy() if "sample_id" in dataset.coords else None
        return cls.sorted(
            spectra.to_numpy(),
            dataset["wavelength"].to_numpy(),
            str(unit),
            quantity=str(spectra.attrs.get("quantity", dataset.attrs.get("quantity", "reflectance"))),
            metadata=metadata if metadata_names else None,
            properties=properties if props else None,
            property_units=units,
            sample_ids=ids,
            name=str(dataset.attrs.get("name", "")),
        )

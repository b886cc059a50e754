"""Multi-fidelity spectrum conversion between spectral domains, and its error in the target's units.

A *domain* (:class:`SpectralDomain`) is a spectral axis (band positions in nm, um or cm-1, with
FWHM) and a quantity (reflectance 0-1 or absorbance log10(1/R)): the 202 EnMAP default bands, a
1 nm laboratory vis-NIR grid, a portable NIR grid, the KSSL MIR grid. A *converter* maps spectra of
one domain to another; :func:`convert` looks it up in a small registry (plain dicts,
:func:`register_converter`, :func:`get_converter`, :func:`list_converters`):

- :class:`ResampleConverter`: physical resampling, from a finer (or equal) source that covers the
  target's bands, by the target's Gaussian spectral responses (Schott 2007, Eq. 7.24;
  :func:`eospec.sensors.gaussian_srf_matrix`), in reflectance, then converted to the target's
  quantity. Used automatically for any pair of domains that allows it (e.g. ``lab-asd`` ->
  ``enmap``).
- :class:`LearnedConverter`: the multi-fidelity conversion of Sun, Safanelli, Sanderman et al.
  (2025), "Self-supervised and multi-fidelity learning for extended predictive soil spectroscopy"
  (arXiv:2511.15965): a VAE pretrained on the high-fidelity domain, its decoder frozen, and a new
  low-fidelity encoder trained into its latent space on paired samples
  (:class:`eospec.trainers.vae.MultiFidelityTask`); :func:`fit_converter` does both stages,
  :func:`save_converter` / :func:`load_converter` store it as ``<name>.json`` + ``<name>.safetensors``.
  The paper converts portable NIR to KSSL MIR; any two domains with paired samples work (portable
  NIR range -> full vis-NIR range, EnMAP resolution -> 1 nm lab, NIR -> MIR from the OSSL tables).

:func:`conversion_report` measures a conversion against reference spectra: RMSE and bias per band
and overall, in the target's quantity (reflectance or absorbance units).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .errors import SpectralLibraryError, UnknownModelError, UnknownSensorError
from .libraries.core import QUANTITIES, SpectralLibrary
from .sensors import ENMAP_DEFAULT_BANDS, gaussian_srf_matrix, get_sensor, list_sensors
from .units import absorbance_to_reflectance, check_unit, convert_axis, reflectance_to_absorbance

if TYPE_CHECKING:
    from .models.vae import SpectralConverter, SpectralVAE

__all__ = [
    "ConversionReport",
    "Converter",
    "LearnedConverter",
    "ResampleConverter",
    "SpectralDomain",
    "conversion_report",
    "convert",
    "describe_converters",
    "fit_converter",
    "get_converter",
    "get_domain",
    "list_converters",
    "list_domains",
    "load_converter",
    "pair_by_id",
    "register_converter",
    "register_domain",
    "save_converter",
    "subset_domain",
    "to_domain",
]

FloatArray = npt.NDArray[np.float64]


# ----------------------------------------------------------------------------------------------
# Domains


@dataclass(frozen=True, eq=False)
class SpectralDomain:
    """A spectral axis and quantity: where spectra of one kind live.

    Attributes:
        name: short name, e.g. ``"enmap"``, ``"lab-asd"``.
        wavelengths: float64 (B,), strictly increasing band positions in ``unit``.
        unit: ``"nm"``, ``"um"`` or ``"cm-1"``.
        quantity: ``"reflectance"`` (0-1) or ``"absorbance"`` (log10(1/R)).
        fwhm: float64 (B,), band FWHM in ``unit`` (for resampling onto this domain).
        description: one line.

    Raises:
        UnknownUnitError: If ``unit`` or ``quantity`` is unknown.
        ValueError: If the shapes disagree or the axis is not strictly increasing.
    """

    name: str
    wavelengths: FloatArray
    unit: str = "nm"
    quantity: str = "reflectance"
    fwhm: FloatArray = field(default_factory=lambda: np.zeros(0))
    description: str = ""

    def __post_init__(self) -> None:
        check_unit(self.unit)
        if self.quantity not in QUANTITIES:
            from .errors import UnknownUnitError

            raise UnknownUnitError(f"quantity {self.quantity!r} is unknown: use one of {list(QUANTITIES)}")
        axis = np.asarray(self.wavelengths, dtype=np.float64).ravel()
        if axis.size < 2 or np.any(np.diff(axis) <= 0):
            raise ValueError(f"domain {self.name!r}: wavelengths must be strictly increasing, with 2 or more bands")
        widths = np.asarray(self.fwhm, dtype=np.float64).ravel()
        if widths.size == 0:
            widths = np.gradient(axis)
        widths = np.broadcast_to(widths, axis.shape).copy()
        object.__setattr__(self, "wavelengths", axis)
        object.__setattr__(self, "fwhm", widths)

    @property
    def n_bands(self) -> int:
        """Number of bands, B."""
        return int(self.wavelengths.size)

    def wavelengths_nm(self) -> FloatArray:
        """Band centres in nm, (B,) (decreasing for a cm-1 domain)."""
        return convert_axis(self.wavelengths, self.unit, "nm")

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: name, unit, quantity, wavelengths and FWHM."""
        return {
            "name": self.name,
            "unit": self.unit,
            "quantity": self.quantity,
            "wavelengths": self.wavelengths.tolist(),
            "fwhm": self.fwhm.tolist(),
            "description": self.description,
        }

    @classmethod
    def from_description(cls, entry: dict[str, Any]) -> SpectralDomain:
        """The inverse of :meth:`describe`."""
        return cls(
            str(entry["name"]),
            np.asarray(entry["wavelengths"], dtype=np.float64),
            str(entry.get("unit", "nm")),
            str(entry.get("quantity", "reflectance")),
            np.asarray(entry.get("fwhm", []), dtype=np.float64),
            str(entry.get("description", "")),
        )

    @classmethod
    def from_sensor(cls, name: str, quantity: str | None = None, default_bands: bool = True) -> SpectralDomain:
        """A domain from the sensor catalogue (:func:`eospec.sensors.get_sensor`).

        Args:
            name: a catalogue sensor, e.g. ``"enmap"``, ``"lab-asd"``, ``"portable-nir"``, ``"kssl-mir"``.
            quantity: the quantity; default absorbance for a cm-1 sensor, reflectance otherwise.
            default_bands: keep only the sensor's default (or good) bands.

        Returns:
            The domain, on the sensor's native axis unit, sorted increasingly.

        Raises:
            UnknownSensorError: If the sensor is not in the catalogue.
        """
        sensor = get_sensor(name)
        index = sensor.default_band_indices if default_bands else np.arange(sensor.n_bands)
        centres = sensor.centres_in(sensor.unit)[index]
        widths = sensor.widths_in(sensor.unit)[index]
        order = np.argsort(centres)
        return cls(
            sensor.name,
            centres[order],
            sensor.unit,
            quantity or ("absorbance" if sensor.unit == "cm-1" else "reflectance"),
            widths[order],
            sensor.description,
        )


def _enmap_domain() -> SpectralDomain:
    domain = SpectralDomain.from_sensor("enmap")
    assert domain.n_bands == len(ENMAP_DEFAULT_BANDS)
    return SpectralDomain(
        "enmap",
        domain.wavelengths,
        "nm",
        "reflectance",
        domain.fwhm,
        "EnMAP L2A, the 202 default bands (TorchGeo / SpectralEarth), reflectance",
    )


_DOMAINS: dict[str, Callable[[], SpectralDomain]] = {
    "enmap": _enmap_domain,
    "lab-asd": lambda: SpectralDomain.from_sensor("lab-asd"),
    "portable-nir": lambda: SpectralDomain.from_sensor("portable-nir"),
    "kssl-mir": lambda: SpectralDomain.from_sensor("kssl-mir"),
}


def register_domain(domain: SpectralDomain, *, overwrite: bool = False) -> None:
    """Add a domain to the registry under its name.

    Args:
        domain: the domain.
        overwrite: replace a registered domain of that name.

    Raises:
        ValueError: If the name is taken and ``overwrite`` is false.
    """
    if domain.name in _DOMAINS and not overwrite:
        raise ValueError(f"domain {domain.name!r} is registered already: pass overwrite=True to replace it")
    _DOMAINS[domain.name] = lambda: domain


def list_domains() -> list[str]:
    """Names of the registered domains (sensor-catalogue names also work in :func:`get_domain`)."""
    return sorted(_DOMAINS)


def get_domain(domain: str | SpectralDomain) -> SpectralDomain:
    """A registered domain, or a catalogue sensor's (default bands) as a domain.

    Args:
        domain: a name of :func:`list_domains` or :func:`eospec.sensors.list_sensors`, or a domain.

    Returns:
        The domain.

    Raises:
        UnknownSensorError: If the name is neither.
    """
    if isinstance(domain, SpectralDomain):
        return domain
    if domain in _DOMAINS:
        return _DOMAINS[domain]()
    try:
        return SpectralDomain.from_sensor(domain)
    except UnknownSensorError:
        raise UnknownSensorError(
            f"spectral domain {domain!r} is unknown: use one of {list_domains()} or a sensor of {list_sensors()}, "
            "or register one with register_domain"
        ) from None


def _to_quantity(values: FloatArray, source: str, target: str) -> FloatArray:
    if source == target:
        return values
    if target == "absorbance":
        return reflectance_to_absorbance(values, floor=None)
    return absorbance_to_reflectance(values)


def to_domain(library: SpectralLibrary, domain: str | SpectralDomain, *, edge_nm: float = 0.0) -> SpectralLibrary:
    """Put a library on a domain's axis and quantity (Gaussian SRF resampling in reflectance).

    A library already on the axis (same positions to 1e-6 of the range) is only converted in
    quantity. Otherwise the spectra are resampled in reflectance with the domain's FWHM, in the
    domain's unit (:func:`eospec.sensors.gaussian_srf_matrix`; axis converted with
    :func:`eospec.units.convert_axis`), optionally extended at their ends by ``edge_nm`` (as
    :func:`eospec.embedding.spectra_at_bands`, nm domains only).

    Args:
        library: the spectra.
        domain: the target domain (name or object).
        edge_nm: edge extension in nm for nm domains (0: none).

    Returns:
        A library of B_domain bands in the domain's unit and quantity, same metadata, properties, ids.

    Raises:
        SpectralLibraryError: If some domain band lies outside the library's range.
        UnknownSensorError: If the domain name is unknown.
    """
    target = get_domain(domain)
    if library.wavelength_unit == target.unit and library.n_bands == target.n_bands:
        span = float(target.wavelengths[-1] - target.wavelengths[0])
        if np.allclose(library.wavelengths, target.wavelengths, rtol=0.0, atol=1e-6 * span):
            values = _to_quantity(np.asarray(library.spectra, dtype=np.float64), library.quantity, target.quantity)
            return _rebuild(library, values, target)
    if target.unit == "nm":
        from .embedding import spectra_at_bands

        values = spectra_at_bands(library, target.wavelengths, target.fwhm, quantity="reflectance", edge_nm=edge_nm)
    else:
        source = library.to_unit(target.unit).to_quantity("reflectance")
        matrix = gaussian_srf_matrix(source.wavelengths, target.wavelengths, target.fwhm)
        outside = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        if outside.size:
            raise SpectralLibraryError(
                f"library {library.name!r} ({source.wavelengths[0]:g}-{source.wavelengths[-1]:g} {target.unit}) does "
                f"not cover {outside.size} bands of domain {target.name!r} "
                f"({target.wavelengths[0]:g}-{target.wavelengths[-1]:g} {target.unit})"
            )
        values = np.asarray(source.spectra, dtype=np.float64) @ matrix.T
    return _rebuild(library, _to_quantity(values, "reflectance", target.quantity), target)


def _rebuild(library: SpectralLibrary, values: FloatArray, domain: SpectralDomain) -> SpectralLibrary:
    return SpectralLibrary(
        values,
        domain.wavelengths,
        domain.unit,
        quantity=domain.quantity,
        metadata=library.meta,
        properties=library.props,
        property_units=library.property_units,
        sample_ids=library.ids,
        name=library.name,
    )


# ----------------------------------------------------------------------------------------------
# Converters


class Converter:
    """Base class: maps spectra (N, B_source) of ``source`` to (N, B_target) of ``target``.

    Attributes:
        source: the source domain.
        target: the target domain.
        method: ``"resample"`` or ``"learned"``.
    """

    method = "base"

    def __init__(self, source: SpectralDomain, target: SpectralDomain) -> None:
        self.source = source
        self.target = target

    def __call__(self, spectra: npt.ArrayLike) -> FloatArray:
        """Convert spectra.

        Args:
            spectra: float (N, B_source) on the source domain's axis, in its quantity.

        Returns:
            float64 (N, B_target) on the target's axis, in its quantity.

        Raises:
            ValueError: If the shape does not fit.
        """
        values = np.asarray(spectra, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.source.n_bands:
            raise ValueError(
                f"spectra of shape {values.shape} do not fit domain {self.source.name!r}: pass "
                f"(N, {self.source.n_bands}) values on its axis"
            )
        return self._convert(values)

    def _convert(self, values: FloatArray) -> FloatArray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source.name!r} -> {self.target.name!r})"


class ResampleConverter(Converter):
    """Physical conversion: Gaussian SRF resampling to the target's bands, in reflectance.

    Args:
        source: the source domain (it must cover every target band).
        target: the target domain.

    Raises:
        UnknownModelError: If the source does not cover the target's bands.
    """

    method = "resample"

    def __init__(self, source: SpectralDomain, target: SpectralDomain) -> None:
        super().__init__(source, target)
        positions = convert_axis(source.wavelengths, source.unit, target.unit)
        order = np.argsort(positions)
        matrix = gaussian_srf_matrix(positions[order], target.wavelengths, target.fwhm)
        if not np.isfinite(matrix).all():
            raise UnknownModelError(
                f"domain {source.name!r} does not cover the bands of {target.name!r}: no physical conversion; "
                f"train a multi-fidelity converter (eospec.multifidelity.fit_converter) and register it"
            )
        self._order = order
        self._matrix = matrix

    def _convert(self, values: FloatArray) -> FloatArray:
        reflectance = _to_quantity(values, self.source.quantity, "reflectance")[:, self._order]
        return _to_quantity(reflectance @ self._matrix.T, "reflectance", self.target.quantity)


class LearnedConverter(Converter):
    """Multi-fidelity conversion through a trained :class:`~eospec.models.vae.SpectralConverter`.

    Args:
        module: the converter (low-fidelity encoder + frozen high-fidelity decoder).
        source: the low-fidelity domain (B_source = the encoder's bands).
        target: the high-fidelity domain (B_target = the decoder's bands).
        metadata: provenance (training data, errors), stored by :func:`save_converter`.

    Raises:
        ValueError: If the domains do not match the module's band counts or quantities.
    """

    method = "learned"

    def __init__(
        self,
        module: SpectralConverter,
        source: SpectralDomain,
        target: SpectralDomain,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(source, target)
        if module.source_bands != source.n_bands or module.target_bands != target.n_bands:
            raise ValueError(
                f"the converter maps {module.source_bands} to {module.target_bands} bands but the domains have "
                f"{source.n_bands} ({source.name!r}) and {target.n_bands} ({target.name!r})"
            )
        if module.encoder.quantity != source.quantity or module.decoder.quantity != target.quantity:
            raise ValueError(
                f"the converter takes {module.encoder.quantity} and returns {module.decoder.quantity}, but the domains "
                f"hold {source.quantity} and {target.quantity}"
            )
        self.module = module.eval()
        self.metadata = dict(metadata or {})

    def _convert(self, values: FloatArray) -> FloatArray:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(values.astype(np.float32)))
        return np.asarray(out.numpy(), dtype=np.float64)


_CONVERTERS: dict[tuple[str, str], Converter] = {}


def register_converter(converter: Converter, *, overwrite: bool = False) -> None:
    """Register a converter under its (source, target) domain names.

    Args:
        converter: the converter (e.g. from :func:`fit_converter` or :func:`load_converter`).
        overwrite: replace a registered converter of the same pair.

    Raises:
        ValueError: If the pair is registered and ``overwrite`` is false.
    """
    key = (converter.source.name, converter.target.name)
    if key in _CONVERTERS and not overwrite:
        raise ValueError(f"a converter from {key[0]!r} to {key[1]!r} is registered already: pass overwrite=True")
    _CONVERTERS[key] = converter


def list_converters() -> list[tuple[str, str]]:
    """The registered (source, target) pairs (physical resampling works for more: see :func:`get_converter`)."""
    return sorted(_CONVERTERS)


def get_converter(source: str | SpectralDomain, target: str | SpectralDomain) -> Converter:
    """The converter from one domain to another.

    A registered converter of the pair wins; otherwise a :class:`ResampleConverter` when the source
    covers the target's bands (physical resampling: fine to coarse).

    Args:
        source: the source domain (name or object).
        target: the target domain (name or object).

    Returns:
        The converter.

    Raises:
        UnknownModelError: If no converter is registered and the source does not cover the target.
        UnknownSensorError: If a domain name is unknown.
    """
    source_domain, target_domain = get_domain(source), get_domain(target)
    key = (source_domain.name, target_domain.name)
    if key in _CONVERTERS:
        return _CONVERTERS[key]
    try:
        return ResampleConverter(source_domain, target_domain)
    except UnknownModelError:
        raise UnknownModelError(
            f"No converter from {key[0]!r} to {key[1]!r}: the source does not cover the target's bands, and none is "
            f"registered (registered: {list_converters() or 'none'}). Train one on paired spectra with "
            "eospec.multifidelity.fit_converter, then register_converter(...) or load_converter(path)"
        ) from None


def convert(
    spectra: SpectralLibrary | npt.ArrayLike,
    source: str | SpectralDomain,
    target: str | SpectralDomain,
) -> SpectralLibrary:
    """Convert spectra from one spectral domain to another.

    Args:
        spectra: a library (any axis and quantity covering the source domain: it is first put on
            the source domain with :func:`to_domain`), or a float array (N, B_source) already on the
            source domain's axis and in its quantity.
        source: the source domain (name or object), e.g. ``"portable-nir"``.
        target: the target domain, e.g. ``"lab-asd"``.

    Returns:
        A library of N spectra on the target's axis (``wavelengths``, ``wavelength_unit``) and in
        its ``quantity``; a library input keeps its ids, metadata and properties.

    Raises:
        UnknownModelError: If there is no converter for the pair (see :func:`get_converter`).
        SpectralLibraryError: If a library does not cover the source domain.
        ValueError: If an array does not have B_source columns.
    """
    converter = get_converter(source, target)
    if isinstance(spectra, SpectralLibrary):
        on_source = to_domain(spectra, converter.source)
        return _rebuild(on_source, converter(on_source.spectra), converter.target)
    values = converter(spectra)
    return SpectralLibrary(
        values, converter.target.wavelengths, converter.target.unit, quantity=converter.target.quantity
    )


# ----------------------------------------------------------------------------------------------
# Errors of a conversion


@dataclass
class ConversionReport:
    """Error of converted spectra against reference spectra, in the target's quantity.

    Attributes:
        rmse: overall root-mean-square error (all bands and spectra), in ``quantity`` units
            (reflectance 0-1 or absorbance log10(1/R)).
        rmse_per_band: float64 (B,), RMSE over spectra of each band.
        bias_per_band: float64 (B,), mean of converted - reference per band.
        wavelengths: float64 (B,), band positions in ``unit``.
        unit: axis unit.
        quantity: ``"reflectance"`` or ``"absorbance"``.
        n: number of spectra.
    """

    rmse: float
    rmse_per_band: FloatArray
    bias_per_band: FloatArray
    wavelengths: FloatArray
    unit: str
    quantity: str
    n: int

    def to_frame(self) -> pd.DataFrame:
        """Per-band table: ``wavelength``, ``rmse``, ``bias``."""
        return pd.DataFrame({"wavelength": self.wavelengths, "rmse": self.rmse_per_band, "bias": self.bias_per_band})

    def rmse_between(self, low: float, high: float) -> float:
        """RMSE over the bands within [low, high] (in ``unit``), all spectra.

        Args:
            low: lowest band position.
            high: highest band position.

        Returns:
            The RMSE, NaN when no band lies in the range.
        """
        inside = (self.wavelengths >= low) & (self.wavelengths <= high)
        return float(np.sqrt(np.mean(self.rmse_per_band[inside] ** 2))) if inside.any() else float("nan")

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: overall RMSE, the worst band, n, unit, quantity."""
        worst = int(np.nanargmax(self.rmse_per_band))
        return {
            "rmse": round(self.rmse, 6),
            "max_band_rmse": round(float(self.rmse_per_band[worst]), 6),
            "max_band": float(self.wavelengths[worst]),
            "mean_bias": round(float(np.mean(self.bias_per_band)), 6),
            "n": self.n,
            "unit": self.unit,
            "quantity": self.quantity,
        }


def _domain_of(library: SpectralLibrary) -> SpectralDomain:
    """The registered domain on a library's axis (for its FWHM), else one with the sample spacing as FWHM."""
    for name in list_domains():
        domain = get_domain(name)
        if (
            domain.unit == library.wavelength_unit
            and domain.n_bands == library.n_bands
            and np.allclose(domain.wavelengths, library.wavelengths, rtol=0.0, atol=1e-6)
        ):
            return SpectralDomain(name, domain.wavelengths, domain.unit, library.quantity, domain.fwhm)
    return SpectralDomain("converted", library.wavelengths, library.wavelength_unit, library.quantity)


def conversion_report(
    converted: SpectralLibrary,
    reference: SpectralLibrary | npt.ArrayLike,
    domain: str | SpectralDomain | None = None,
) -> ConversionReport:
    """RMSE and bias of converted spectra against reference spectra of the same samples.

    Args:
        converted: the converted library (e.g. from :func:`convert`).
        reference: the measured spectra of the same N samples in the same order: a library (put
            on the converted axis and quantity with :func:`to_domain` when they differ) or a float
            array (N, B) on the converted axis, in its quantity.
        domain: the converted spectra's domain, whose FWHM resample a library ``reference``;
            default: the registered domain on the same axis, else FWHM = the band spacing.

    Returns:
        The :class:`ConversionReport` in the converted library's quantity.

    Raises:
        ValueError: If the number of spectra or bands differs.
    """
    if isinstance(reference, SpectralLibrary):
        target = _domain_of(converted) if domain is None else get_domain(domain)
        target = SpectralDomain(target.name, target.wavelengths, target.unit, converted.quantity, target.fwhm)
        reference_values = np.asarray(to_domain(reference, target).spectra, dtype=np.float64)
    else:
        reference_values = np.asarray(reference, dtype=np.float64)
    values = np.asarray(converted.spectra, dtype=np.float64)
    if values.shape != reference_values.shape:
        raise ValueError(
            f"converted spectra {values.shape} and reference spectra {reference_values.shape} differ: pass the same "
            "samples, in the same order, on the same axis"
        )
    error = values - reference_values
    return ConversionReport(
        rmse=float(np.sqrt(np.nanmean(error**2))),
        rmse_per_band=np.sqrt(np.nanmean(error**2, axis=0)),
        bias_per_band=np.nanmean(error, axis=0),
        wavelengths=np.asarray(converted.wavelengths, dtype=np.float64),
        unit=converted.wavelength_unit,
        quantity=converted.quantity,
        n=int(values.shape[0]),
    )


# ----------------------------------------------------------------------------------------------
# Paired samples, training, files


def pair_by_id(
    source: SpectralLibrary, target: SpectralLibrary, *, mean_repeats: bool = True
) -> tuple[SpectralLibrary, SpectralLibrary]:
    """The samples present in both libraries, in the same order (e.g. OSSL NIR and MIR scans of a layer).

    Args:
        source: low-fidelity spectra.
        target: high-fidelity spectra.
        mean_repeats: average scan repeats first (one spectrum per sample id in each).

    Returns:
        ``(source_pairs, target_pairs)``: libraries of the common sample ids, order of ``source``.

    Raises:
        SpectralLibraryError: If no sample id is common, or repeats remain with ``mean_repeats=False``.
    """
    if mean_repeats:
        source, target = source.mean_repeats(), target.mean_repeats()
    elif len(pd.unique(source.ids)) != len(source) or len(pd.unique(target.ids)) != len(target):
        raise SpectralLibraryError("the libraries have scan repeats: pass mean_repeats=True to pair samples")
    source_ids = pd.Index(np.asarray(source.ids, dtype=object).astype(str))
    target_ids = pd.Index(np.asarray(target.ids, dtype=object).astype(str))
    common = source_ids.intersection(target_ids, sort=False)
    if common.empty:
        raise SpectralLibraryError(
            f"libraries {source.name!r} and {target.name!r} share no sample id: pair the samples first "
            f"(e.g. {list(source_ids[:3])} vs {list(target_ids[:3])})"
        )
    keep = np.flatnonzero(source_ids.isin(common))
    return source.subset(keep), target.subset(target_ids.get_indexer(source_ids[keep]))


def fit_converter(
    source: SpectralLibrary,
    target: SpectralLibrary,
    source_domain: str | SpectralDomain,
    target_domain: str | SpectralDomain,
    *,
    high_fidelity: SpectralVAE | None = None,
    unpaired_target: SpectralLibrary | None = None,
    vae_kwargs: dict[str, Any] | None = None,
    converter_kwargs: dict[str, Any] | None = None,
    vae_epochs: int = 300,
    converter_epochs: int = 300,
    seed: int = 0,
) -> LearnedConverter:
    """Train a multi-fidelity converter on paired samples (Sun et al. 2025, two stages).

    1. Unless ``high_fidelity`` is given, pretrain a :class:`~eospec.models.vae.SpectralVAE` on the
       target-domain spectra (``target`` plus ``unpaired_target``; scan repeats as views) with
       :func:`eospec.trainers.vae.train_vae`.
    2. Freeze its decoder and train a source-domain encoder into its latent space on the pairs
       (:func:`eospec.trainers.vae.train_converter`).

    Args:
        source: low-fidelity spectra of the paired samples (put on ``source_domain``).
        target: high-fidelity spectra of the same samples, same order (put on ``target_domain``).
        source_domain: the low-fidelity domain.
        target_domain: the high-fidelity domain.
        high_fidelity: a pretrained target-domain VAE; None pretrains one.
        unpaired_target: more target-domain spectra for the pretraining (no pairs needed).
        vae_kwargs: :class:`~eospec.trainers.vae.VAETask` arguments for the pretraining.
        converter_kwargs: :class:`~eospec.trainers.vae.MultiFidelityTask` arguments.
        vae_epochs: pretraining epochs.
        converter_epochs: encoder training epochs.
        seed: seed.

    Returns:
        The :class:`LearnedConverter` (not registered: see :func:`register_converter`).

    Raises:
        ValueError: If the libraries have different numbers of spectra.
        SpectralLibraryError: If a library does not cover its domain.
    """
    from .trainers.vae import train_converter, train_vae

    if len(source) != len(target):
        raise ValueError(f"{len(source)} source and {len(target)} target spectra: pair them first (pair_by_id)")
    low, high = get_domain(source_domain), get_domain(target_domain)
    x_low = np.asarray(to_domain(source, low).spectra, dtype=np.float64)
    x_high = np.asarray(to_domain(target, high).spectra, dtype=np.float64)
    if high_fidelity is None:
        corpus, ids = [x_high], [np.asarray(target.ids, dtype=object).astype(str)]
        if unpaired_target is not None:
            corpus.append(np.asarray(to_domain(unpaired_target, high).spectra, dtype=np.float64))
            ids.append(np.asarray(unpaired_target.ids, dtype=object).astype(str))
        options = {"model_kwargs": {"quantity": high.quantity}, **(vae_kwargs or {})}
        options["model_kwargs"] = {"quantity": high.quantity, **options["model_kwargs"]}
        high_fidelity = train_vae(np.concatenate(corpus), np.concatenate(ids), epochs=vae_epochs, seed=seed, **options)
    options = {"model_kwargs": {"quantity": low.quantity}, **(converter_kwargs or {})}
    options["model_kwargs"] = {"quantity": low.quantity, **options["model_kwargs"]}
    module = train_converter(high_fidelity, x_low, x_high, epochs=converter_epochs, seed=seed, **options)
    metadata = {"n_pairs": len(source), "source_library": source.name, "target_library": target.name}
    return LearnedConverter(module, low, high, metadata)


def save_converter(converter: LearnedConverter, folder: str | os.PathLike[str], name: str) -> Path:
    """Write a learned converter as ``<folder>/<name>.json`` + ``<name>.safetensors``.

    Args:
        converter: the converter.
        folder: an existing folder.
        name: file stem and registry name of the converter.

    Returns:
        The ``.json`` path.

    Raises:
        FileNotFoundError: If the folder does not exist.
    """
    from safetensors.torch import save_file

    target = Path(folder)
    if not target.is_dir():
        raise FileNotFoundError(f"folder {str(target)!r} does not exist: create it first")
    state = {key: value.detach().contiguous() for key, value in converter.module.state_dict().items()}
    save_file(state, str(target / f"{name}.safetensors"))
    metadata = {
        "name": name,
        "task": "conversion",
        "source": converter.source.describe(),
        "target": converter.target.describe(),
        "architecture": converter.module.architecture(),
        "weights": f"{name}.safetensors",
        **converter.metadata,
    }
    path = target / f"{name}.json"
    path.write_text(json.dumps(metadata, indent=1))
    return path


def load_converter(path: str | os.PathLike[str], *, register: bool = True) -> LearnedConverter:
    """Read a converter written by :func:`save_converter` (weights loaded without running code).

    Args:
        path: the ``.json`` file.
        register: also register it (replacing a converter of the same domain pair).

    Returns:
        The converter.

    Raises:
        FileNotFoundError: If the file or its weights are missing.
        ValueError: If the file is not a converter.
    """
    import torch

    from .models.registry import load_weights
    from .models.vae import SpectralConverter

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"converter {str(file)!r} does not exist")
    metadata: dict[str, Any] = json.loads(file.read_text())
    if metadata.get("task") != "conversion":
        raise ValueError(f"{str(file)!r} is not a converter (task {metadata.get('task')!r}, expected 'conversion')")
    source = SpectralDomain.from_description(metadata["source"])
    target = SpectralDomain.from_description(metadata["target"])
    module = SpectralConverter.from_architecture(metadata["architecture"], source.n_bands, target.n_bands)
    state = {key: torch.from_numpy(value) for key, value in load_weights(file.parent / metadata["weights"]).items()}
    module.load_state_dict(state)
    extra = {k: v for k, v in metadata.items() if k not in {"source", "target", "architecture", "weights", "task"}}
    converter = LearnedConverter(module, source, target, extra)
    if register:
        register_converter(converter, overwrite=True)
    return converter


def subset_domain(domain: str | SpectralDomain, low: float, high: float, name: str | None = None) -> SpectralDomain:
    """The bands of a domain within [low, high] (in its unit), as a new domain.

    Args:
        domain: a domain or its name.
        low: lowest band position kept.
        high: highest band position kept.
        name: name of the new domain (default ``"<name>-<low>-<high>"``).

    Returns:
        The sub-domain.

    Raises:
        ValueError: If fewer than two bands lie in the range.
    """
    base = get_domain(domain)
    keep = (base.wavelengths >= low) & (base.wavelengths <= high)
    if keep.sum() < 2:
        raise ValueError(f"fewer than two bands of {base.name!r} lie in [{low}, {high}] {base.unit}")
    return SpectralDomain(
        name or f"{base.name}-{low:g}-{high:g}",
        base.wavelengths[keep],
        base.unit,
        base.quantity,
        base.fwhm[keep],
        f"{base.description} (bands {low:g}-{high:g} {base.unit})",
    )


def describe_converters(names: Sequence[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """Source, target and method of registered converters (for listings).

    Args:
        names: pairs to describe; None for all registered.

    Returns:
        One dict per pair.
    """
    out = []
    for pair in names or list_converters():
        converter = get_converter(*pair)
        out.append({"source": pair[0], "target": pair[1], "method": converter.method})
    return out

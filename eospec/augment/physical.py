r"""Physically based augmentations: Hapke re-illumination and atmospheric compensation.

Source: Dhaini, Berar, Honeine and Van Exem, "Contrastive learning for regression on hyperspectral
data", ICASSP 2024, arXiv:2403.17014 (Sec. 2, Eq. 3-5), and the authors' public code
(github.com/mohamaddhaini/contrastive-learning-hyperspectral, ``transformations.py``: ``hapke``,
``libGeneratorHapke``, ``libGeneratorSimpleAtmospheric``). Both transforms come from the spectral
variability literature (Hapke 1981; Heylen, Parente and Gader 2014, IEEE JSTARS 7(6); Borsoi et al.
2021, IEEE GRSM 9(4), "Spectral variability in hyperspectral data unmixing").

Values are bottom-of-atmosphere reflectance factors in [0, 1]; angles in degrees from the surface
normal; wavelengths in nm; spectral irradiance in W m-2 nm-1.
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from io import StringIO
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from torch import Tensor

from eospec.augment.base import Params, SpectralAugmentation, as_wavelengths, check_range, uniform
from eospec.errors import AugmentationError

__all__ = [
    "HapkeScattering",
    "AtmosphericCompensation",
    "hapke_reflectance",
    "hapke_albedo",
    "clear_sky_irradiance",
    "SPECTRL2_TABLE_RANGES",
]

HapkeModel = Literal["paper", "isotropic"]

#: Ranges of the atmospheric states covered by the bundled SPECTRL2 table.
SPECTRL2_TABLE_RANGES: dict[str, tuple[float, float]] = {
    "solar_zenith_deg": (0.0, 80.0),
    "aod500": (0.02, 0.6),
    "precipitable_water_cm": (0.2, 5.0),
}

#: Irradiance (W m-2 nm-1) added to both sides of the illumination ratio: where both the reference
#: and the new irradiance are far below it (saturated water-vapour bands) the ratio tends to 1.
IRRADIANCE_FLOOR = 1e-4

_MAX_ANGLE_DEG = 89.0


def _cosines(*angles_deg: Tensor | float, like: Tensor) -> list[Tensor]:
    return [torch.cos(torch.deg2rad(torch.as_tensor(a, dtype=torch.float64, device=like.device))) for a in angles_deg]


def _white_reflectance(mu0: Tensor, mu: Tensor) -> Tensor:
    """Hapke's isotropic reflectance factor of a white surface (w = 1, H(x) = 1 + 2x), shape of mu0 * mu."""
    return (1.0 + 2.0 * mu0) * (1.0 + 2.0 * mu) / (4.0 * (mu0 + mu))


def _reflectance64(albedo: Tensor, mu0: Tensor, mu: Tensor, model: HapkeModel) -> Tensor:
    gamma = torch.sqrt((1.0 - albedo).clamp(min=0.0))
    relative = albedo / ((1.0 + 2.0 * mu0 * gamma) * (1.0 + 2.0 * mu * gamma))
    return relative if model == "paper" else relative * _white_reflectance(mu0, mu)


def hapke_reflectance(
    albedo: Tensor, incidence_deg: Tensor | float, emergence_deg: Tensor | float, model: HapkeModel = "paper"
) -> Tensor:
    r"""Reflectance of a particulate surface from its single-scattering albedo (Hapke model, Eq. 3).

    ``model="paper"`` is the form of Dhaini et al. (2024, Eq. 3), of the authors' code and of the
    unmixing literature (Heylen et al. 2014):
    :math:`r = w / \big((1 + 2\mu_0\sqrt{1-w})(1 + 2\mu\sqrt{1-w})\big)`, with
    :math:`\mu_0 = \cos i`, :math:`\mu = \cos e`; it maps [0, 1] onto [0, 1] for every geometry.
    ``model="isotropic"`` is Hapke's (1981, J. Geophys. Res. 86, 3039; 1993, *Theory of reflectance
    and emittance spectroscopy*) reflectance factor of isotropic scatterers without opposition effect
    or roughness, :math:`r = \frac{w}{4(\mu_0 + \mu)} H(\mu_0) H(\mu)` with
    :math:`H(x) = (1 + 2x)/(1 + 2\gamma x)`, :math:`\gamma = \sqrt{1-w}`: the bidirectional
    reflectance divided by that of a Lambertian surface (the quantity atmospheric correction
    returns). It can exceed 1 for bright surfaces at grazing angles (9/8 at normal incidence and
    emergence, more at grazing ones). With Hapke's H-function the two are proportional: the
    ``"paper"`` reflectance is the ``"isotropic"`` one divided by that of a white surface (w = 1)
    at the same geometry, :math:`(1 + 2\mu_0)(1 + 2\mu) / (4(\mu_0 + \mu))`.

    Args:
        albedo: single-scattering albedo w in [0, 1], any shape.
        incidence_deg: incidence angle i in degrees from the normal, in [0, 89], broadcastable to ``albedo``.
        emergence_deg: emergence (viewing) angle e in degrees, in [0, 89], broadcastable to ``albedo``.
        model: ``"paper"`` or ``"isotropic"``.

    Returns:
        Reflectance of the shape and dtype of ``albedo`` (computed in float64).

    Raises:
        AugmentationError: for an unknown ``model``.
    """
    _check_model(model)
    mu0, mu = _cosines(incidence_deg, emergence_deg, like=albedo)
    return _reflectance64(albedo.double().clamp(0.0, 1.0), mu0, mu, model).to(albedo.dtype)


def hapke_albedo(
    reflectance: Tensor, incidence_deg: Tensor | float, emergence_deg: Tensor | float, model: HapkeModel = "paper"
) -> Tensor:
    r"""Single-scattering albedo from reflectance: the inverse of :func:`hapke_reflectance` (Eq. 4).

    For ``model="paper"`` the inverse is closed-form (Dhaini et al. 2024, Eq. 4; authors' code):
    :math:`\gamma = \big(\sqrt{(\mu_0+\mu)^2 r^2 + (1 + 4\mu_0\mu r)(1 - r)} - (\mu_0+\mu) r\big) / (1 + 4\mu_0\mu r)`,
    :math:`w = 1 - \gamma^2`. For ``model="isotropic"``, the same after dividing r by the white-surface
    reflectance of that geometry (see :func:`hapke_reflectance`). Reflectance is first clamped to the
    range the model can produce ([0, 1] for ``"paper"``, [0, white-surface reflectance] for ``"isotropic"``).

    Args:
        reflectance: reflectance factor, any shape.
        incidence_deg: incidence angle in degrees, broadcastable to ``reflectance``.
        emergence_deg: emergence angle in degrees, broadcastable to ``reflectance``.
        model: ``"paper"`` or ``"isotropic"``.

    Returns:
        Albedo in [0, 1], of the shape and dtype of ``reflectance`` (computed in float64).

    Raises:
        AugmentationError: for an unknown ``model``.
    """
    _check_model(model)
    mu0, mu = _cosines(incidence_deg, emergence_deg, like=reflectance)
    return _albedo64(reflectance.double(), mu0, mu, model).to(reflectance.dtype)


def _albedo64(reflectance: Tensor, mu0: Tensor, mu: Tensor, model: HapkeModel) -> Tensor:
    r = reflectance if model == "paper" else reflectance / _white_reflectance(mu0, mu)
    r = r.clamp(0.0, 1.0)
    s = mu0 + mu
    p = 1.0 + 4.0 * mu0 * mu * r
    gamma = (torch.sqrt((s * r) ** 2 + p * (1.0 - r)) - s * r) / p
    return (1.0 - gamma * gamma).clamp(0.0, 1.0)


def _check_model(model: str) -> None:
    if model not in ("paper", "isotropic"):
        raise AugmentationError(f"Hapke model={model!r} is unknown: use 'paper' or 'isotropic'")


class HapkeScattering(SpectralAugmentation):
    r"""Re-illuminate reflectance under new incidence and emergence angles with the Hapke model (Eq. 3-4).

    Each spectrum, taken as observed at the reference angles :math:`(i_0, e_0)`, is inverted to
    single-scattering albedo (:func:`hapke_albedo`, Eq. 4), then reflectance is computed at new
    angles (:func:`hapke_reflectance`, Eq. 3) drawn per sample. Physical meaning: the same material
    seen under another sun and view geometry (topographic slope, time of day, off-nadir viewing),
    which changes brightness and band depths non-linearly. As in the authors' code, the reference
    angles are 30 deg and the new incidence is drawn uniformly in [0, 85] deg, with the emergence
    equal to it unless ``emergence_range_deg`` is given. With the default ``model="paper"`` outputs
    stay in [0, 1]; inputs outside [0, 1] are clamped to it first.

    Args:
        incidence_range_deg: (min, max) of the new incidence angle in degrees, within [0, 89].
        emergence_range_deg: (min, max) of the new emergence angle in degrees, within [0, 89], drawn
            independently; None ties it to the incidence angle (authors' choice).
        reference_incidence_deg: incidence angle of the input spectra in degrees, in [0, 89].
        reference_emergence_deg: emergence angle of the input spectra in degrees, in [0, 89].
        model: ``"paper"`` (Eq. 3-4, default) or ``"isotropic"`` (Hapke's reflectance factor with
            H-functions; may exceed 1 at grazing geometry).
        p: probability that a sample is re-illuminated.

    Raises:
        AugmentationError: for angles outside [0, 89] deg, an unknown model or ``p`` outside [0, 1].
    """

    def __init__(
        self,
        incidence_range_deg: tuple[float, float] = (0.0, 85.0),
        emergence_range_deg: tuple[float, float] | None = None,
        reference_incidence_deg: float = 30.0,
        reference_emergence_deg: float = 30.0,
        model: HapkeModel = "paper",
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        _check_model(model)
        self.incidence_range_deg = check_range("incidence_range_deg", incidence_range_deg, 0.0, _MAX_ANGLE_DEG, " deg")
        self.emergence_range_deg = (
            None
            if emergence_range_deg is None
            else check_range("emergence_range_deg", emergence_range_deg, 0.0, _MAX_ANGLE_DEG, " deg")
        )
        for name, value in (
            ("reference_incidence_deg", reference_incidence_deg),
            ("reference_emergence_deg", reference_emergence_deg),
        ):
            if not 0.0 <= float(value) <= _MAX_ANGLE_DEG:
                raise AugmentationError(f"{name}={value!r} is outside [0, {_MAX_ANGLE_DEG:g}] deg from the normal")
        self.reference_incidence_deg = float(reference_incidence_deg)
        self.reference_emergence_deg = float(reference_emergence_deg)
        self.model: HapkeModel = model

    def _sample(self, n: int, n_bands: int, generator: torch.Generator | None) -> Params:
        incidence = uniform(n, *self.incidence_range_deg, generator)
        if self.emergence_range_deg is None:
            return {"incidence_deg": incidence, "emergence_deg": incidence.clone()}
        return {"incidence_deg": incidence, "emergence_deg": uniform(n, *self.emergence_range_deg, generator)}

    def _augment(self, x: Tensor, params: Params) -> Tensor:
        mu0_ref, mu_ref = _cosines(self.reference_incidence_deg, self.reference_emergence_deg, like=x)
        mu0, mu = _cosines(params["incidence_deg"], params["emergence_deg"], like=x)
        albedo = _albedo64(x.double(), mu0_ref, mu_ref, self.model)
        out = _reflectance64(albedo, mu0.view(-1, 1, 1), mu.view(-1, 1, 1), self.model)
        if self.model == "paper":
            out = out.clamp(0.0, 1.0)
        return out.to(x.dtype)

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return (
            f"incidence_range_deg={self.incidence_range_deg}, emergence_range_deg={self.emergence_range_deg}, "
            f"reference=({self.reference_incidence_deg}, {self.reference_emergence_deg}), model={self.model!r}, "
            f"p={self.p}"
        )


@functools.cache
def _spectrl2_table() -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """The bundled SPECTRL2 table: wavelengths (L,), grid axes, dni and dhi of shape (Z, A, W, L)."""
    text = resources.files("eospec").joinpath("data/spectrl2_clear_sky.csv").read_text(encoding="utf-8")
    table = pd.read_csv(StringIO(text), comment="#")
    state_columns = ["solar_zenith_deg", "aod500", "precipitable_water_cm"]
    wavelengths = np.array([float(c) for c in table.columns if c not in ("component", *state_columns)])
    axes = tuple(np.unique(table[c].to_numpy(dtype=float)) for c in state_columns)
    shape = tuple(len(a) for a in axes)
    components = []
    for name in ("dni", "dhi"):
        part = table[table["component"] == name].sort_values(state_columns)
        components.append(part.drop(columns=["component", *state_columns]).to_numpy(dtype=float).reshape(*shape, -1))
    return wavelengths, (axes[0], axes[1], axes[2]), components[0], components[1]


def _axis_weights(nodes: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    """Lower node index (S,) and weight of the upper node (S,) for linear interpolation, clamped to the nodes."""
    values = values.clamp(nodes[0], nodes[-1]).contiguous()
    upper = torch.searchsorted(nodes, values).clamp(1, nodes.numel() - 1)
    lower = upper - 1
    return lower, (values - nodes[lower]) / (nodes[upper] - nodes[lower])


class _IrradianceTable:
    """Log irradiance of the bundled SPECTRL2 table resampled to given wavelengths, interpolated in the state."""

    def __init__(self, wavelengths_nm: np.ndarray) -> None:
        table_nm, (zenith, aod, water), dni, dhi = _spectrl2_table()
        self.shape = (zenith.size, aod.size, water.size)
        logs = []
        for component in (dni, dhi):
            flat = component.reshape(-1, table_nm.size)
            resampled = np.stack([np.interp(wavelengths_nm, table_nm, row) for row in flat])
            logs.append(torch.from_numpy(np.log(np.maximum(resampled, 1e-9))))
        self.log_dni, self.log_dhi = logs  # (Z * A * W, B) float64
        self.zenith_nodes = torch.from_numpy(1.0 / np.cos(np.deg2rad(zenith)))
        self.aod_nodes = torch.from_numpy(aod)
        self.log_aod_nodes = torch.from_numpy(np.log(aod))
        self.water_nodes = torch.from_numpy(np.log(water))

    def __call__(self, solar_zenith_deg: Tensor, aod500: Tensor, water_cm: Tensor) -> tuple[Tensor, Tensor]:
        """Direct normal and diffuse horizontal irradiance (S, B), float64 on the device of the inputs."""
        device = solar_zenith_deg.device
        sec = 1.0 / torch.cos(torch.deg2rad(solar_zenith_deg.double()))
        iz, tz = _axis_weights(self.zenith_nodes.to(device), sec)
        iw, tw = _axis_weights(self.water_nodes.to(device), torch.log(water_cm.double()))
        out = []
        for log_table, nodes, aod in (
            (self.log_dni, self.aod_nodes, aod500.double()),
            (self.log_dhi, self.log_aod_nodes, torch.log(aod500.double())),
        ):
            ia, ta = _axis_weights(nodes.to(device), aod)
            table = log_table.to(device)
            total = torch.zeros(sec.numel(), table.shape[1], dtype=torch.float64, device=device)
            for dz in (0, 1):
                for da in (0, 1):
                    for dw in (0, 1):
                        weight = (
                            (tz if dz else 1.0 - tz) * (ta if da else 1.0 - ta) * (tw if dw else 1.0 - tw)
                        ).unsqueeze(1)
                        index = ((iz + dz) * self.shape[1] + (ia + da)) * self.shape[2] + (iw + dw)
                        total = total + weight * table[index]
            out.append(torch.exp(total))
        return out[0], out[1]


def clear_sky_irradiance(
    wavelengths_nm: npt.ArrayLike | Tensor,
    solar_zenith_deg: Tensor | float,
    aod500: Tensor | float,
    precipitable_water_cm: Tensor | float,
) -> tuple[Tensor, Tensor]:
    """Clear-sky direct normal and diffuse horizontal spectral irradiance at the ground (SPECTRL2).

    Interpolated from the bundled table of SPECTRL2 spectra (Bird and Riordan 1984, NREL TR-215-2436,
    via pvlib's ``pvlib.spectrum.spectrl2``; ozone 0.31 atm-cm, 1013.25 hPa, ground albedo 0.2, rural
    aerosol; written by ``recipes/make_spectrl2_table.py``): log irradiance linear in 1/cos(zenith),
    log(water) and aerosol optical depth (direct) or its log (diffuse), then linear in wavelength
    from SPECTRL2's 98 wavelengths (350-2600 nm, about 10 nm apart in the visible, 20-100 nm in the
    short-wave infrared; constant outside). Against pvlib, the total (direct at normal incidence
    plus diffuse) has a median relative interpolation error of 0.13 % and a 99th percentile of
    2.7 % in bands with more than 5 % of its peak. States outside the table
    (:data:`SPECTRL2_TABLE_RANGES`) are clamped to it.

    Args:
        wavelengths_nm: shape (B,), strictly increasing wavelengths in nm.
        solar_zenith_deg: solar zenith angle(s) in degrees, scalar or shape (S,).
        aod500: aerosol optical depth at 500 nm, scalar or shape (S,).
        precipitable_water_cm: precipitable water in cm, scalar or shape (S,).

    Returns:
        ``(dni, dhi)``, float64 tensors of shape (S, B) (S = 1 for scalars) in W m-2 nm-1.

    Raises:
        WavelengthOrderError: if ``wavelengths_nm`` is not strictly increasing.
    """
    wavelengths = as_wavelengths(wavelengths_nm).numpy()
    states = torch.broadcast_tensors(
        *(
            torch.as_tensor(v, dtype=torch.float64).reshape(-1)
            for v in (solar_zenith_deg, aod500, precipitable_water_cm)
        )
    )
    return _IrradianceTable(wavelengths)(*states)


class AtmosphericCompensation(SpectralAugmentation):
    r"""Re-weight reflectance by the ratio of ground illumination of two geometries or atmospheres (Eq. 5).

    .. math:: \tilde x(\lambda) = x(\lambda)\,
        \frac{E'_{dir}(\lambda)\cos\theta + E'_{sky}(\lambda)}{E_{dir}(\lambda)\cos\theta_0 + E_{sky}(\lambda)}

    :math:`E_{dir}` is the direct normal and :math:`E_{sky}` the diffuse (sky) horizontal spectral
    irradiance at the ground, from the SPECTRL2 clear-sky model (:func:`clear_sky_irradiance`);
    :math:`\theta` is the local incidence angle of the direct beam on the surface. The denominator is
    the illumination the reflectance was computed for (reference atmosphere, incidence
    :math:`\theta_0`); the numerator the illumination the augmented pixel actually receives (a
    tilted facet, a different atmosphere). This is the "simple atmospheric model" of the authors'
    code, Eq. 5 of the paper: :math:`\theta \sim U(0, 85)` deg, :math:`\theta_0 = 0`, one fixed
    atmosphere; their irradiance spectra came from a file that is not distributed, eospec uses
    SPECTRL2. Optionally the numerator's atmosphere (solar zenith, aerosol optical depth,
    precipitable water) is drawn per sample too. A floor of 1e-4 W m-2 nm-1
    (:data:`IRRADIANCE_FLOOR`) is added to both irradiances, so the ratio tends to 1 in saturated
    water-vapour bands. With one atmosphere and :math:`\theta_0 = 0` the ratio is in (0, 1] and
    reflectance in [0, 1] stays in [0, 1]; different atmospheres can raise it above 1.

    Args:
        wavelengths_nm: shape (B,), strictly increasing band centres in nm.
        incidence_range_deg: (min, max) of the local incidence angle :math:`\theta` in degrees, within [0, 89].
        reference_incidence_deg: :math:`\theta_0` in degrees, in [0, 89] (authors: 0).
        solar_zenith_deg: reference solar zenith angle in degrees (sets the air mass), in [0, 80].
        aod500: reference aerosol optical depth at 500 nm, in [0.02, 0.6].
        precipitable_water_cm: reference precipitable water in cm, in [0.2, 5] (1.4 cm: US Standard
            Atmosphere 1976).
        solar_zenith_range_deg: (min, max) solar zenith of the new atmosphere, within [0, 80]; None
            keeps the reference.
        aod500_range: (min, max) aerosol optical depth of the new atmosphere, within [0.02, 0.6];
            None keeps the reference.
        precipitable_water_range_cm: (min, max) precipitable water of the new atmosphere, within
            [0.2, 5] cm; None keeps the reference.
        p: probability that a sample is re-weighted.

    Raises:
        AugmentationError: for parameters outside their ranges or ``p`` outside [0, 1].
        WavelengthOrderError: if ``wavelengths_nm`` is not strictly increasing.
    """

    reference_irradiance: Tensor
    reference_dni: Tensor
    reference_dhi: Tensor

    def __init__(
        self,
        wavelengths_nm: npt.ArrayLike | Tensor,
        incidence_range_deg: tuple[float, float] = (0.0, 85.0),
        reference_incidence_deg: float = 0.0,
        solar_zenith_deg: float = 30.0,
        aod500: float = 0.1,
        precipitable_water_cm: float = 1.4,
        solar_zenith_range_deg: tuple[float, float] | None = None,
        aod500_range: tuple[float, float] | None = None,
        precipitable_water_range_cm: tuple[float, float] | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(p, wavelengths_nm)
        self.incidence_range_deg = check_range("incidence_range_deg", incidence_range_deg, 0.0, _MAX_ANGLE_DEG, " deg")
        if not 0.0 <= float(reference_incidence_deg) <= _MAX_ANGLE_DEG:
            raise AugmentationError(
                f"reference_incidence_deg={reference_incidence_deg!r} is outside [0, {_MAX_ANGLE_DEG:g}] deg"
            )
        self.reference_incidence_deg = float(reference_incidence_deg)
        reference = {
            "solar_zenith_deg": solar_zenith_deg,
            "aod500": aod500,
            "precipitable_water_cm": precipitable_water_cm,
        }
        ranges = {
            "solar_zenith_deg": solar_zenith_range_deg,
            "aod500": aod500_range,
            "precipitable_water_cm": precipitable_water_range_cm,
        }
        self.reference_state: dict[str, float] = {}
        self.state_ranges: dict[str, tuple[float, float]] = {}
        for name, (low, high) in SPECTRL2_TABLE_RANGES.items():
            value = float(reference[name])
            if not low <= value <= high:
                raise AugmentationError(
                    f"{name}={value!r} is outside the bundled SPECTRL2 table [{low:g}, {high:g}]: choose a value "
                    "inside, or widen the table with recipes/make_spectrl2_table.py"
                )
            self.reference_state[name] = value
            given = ranges[name]
            self.state_ranges[name] = (
                (value, value) if given is None else check_range(f"{name} range", given, low, high, " (SPECTRL2 table)")
            )
        assert self.wavelengths_nm is not None
        self._table = _IrradianceTable(self.wavelengths_nm.numpy())
        state = [torch.tensor([self.reference_state[name]], dtype=torch.float64) for name in SPECTRL2_TABLE_RANGES]
        dni, dhi = self._table(*state)
        cos0 = math.cos(math.radians(self.reference_incidence_deg))
        self.register_buffer("reference_dni", dni[0], persistent=False)
        self.register_buffer("reference_dhi", dhi[0], persistent=False)
        self.register_buffer("reference_irradiance", (dni * cos0 + dhi)[0], persistent=False)
        self.fixed_atmosphere = all(low == high for low, high in self.state_ranges.values())

    def _sample(self, n: int, n_bands: int, generator: torch.Generator | None) -> Params:
        params = {"incidence_deg": uniform(n, *self.incidence_range_deg, generator)}
        for name, (low, high) in self.state_ranges.items():
            params[name] = uniform(n, low, high, generator)
        return params

    def ratio(self, params: Params) -> Tensor:
        """The illumination ratio of Eq. 5 for each sample: float64 tensor of shape (N, B).

        Args:
            params: ``incidence_deg``, ``solar_zenith_deg``, ``aod500`` and ``precipitable_water_cm``,
                each of shape (N,), as drawn by :meth:`sample_parameters`.
        """
        device = params["incidence_deg"].device
        if self.fixed_atmosphere:
            dni = self.reference_dni.double().to(device).unsqueeze(0)
            dhi = self.reference_dhi.double().to(device).unsqueeze(0)
        else:
            dni, dhi = self._table(
                params["solar_zenith_deg"].to(device),
                params["aod500"].to(device),
                params["precipitable_water_cm"].to(device),
            )
        cos_incidence = torch.cos(torch.deg2rad(params["incidence_deg"].double()))
        numerator = dni * cos_incidence[:, None] + dhi
        denominator = self.reference_irradiance.double().to(device)
        return (numerator + IRRADIANCE_FLOOR) / (denominator + IRRADIANCE_FLOOR)

    def _augment(self, x: Tensor, params: Params) -> Tensor:
        return (x.double() * self.ratio(params).unsqueeze(-1)).to(x.dtype)

    def extra_repr(self) -> str:
        """Parameters shown by ``repr``."""
        return (
            f"incidence_range_deg={self.incidence_range_deg}, reference_incidence_deg={self.reference_incidence_deg}, "
            f"reference_state={self.reference_state}, state_ranges={self.state_ranges}, p={self.p}"
        )

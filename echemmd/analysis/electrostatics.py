"""Electrostatic potential profile, potential drops, electrode charges and capacitance.

Potential profile
-----------------
Poisson's equation for the planar average, ``d^2 phi / dz^2 = -rho(z) / eps0``, integrated
twice over the binned charge density of :mod:`echemmd.analysis.profiles`::

    E(z)   = E(z0) + (1/eps0) int_z0^z rho(z') dz'            (V/Å)
    phi(z) = phi(z0) - int_z0^z E(z') dz'                       (V)

with eps0 = 1/(4 pi k_e) in e/(V·Å) (``echemmd.units.EPS0``). Boundary conditions:

* ``"vacuum"`` (slab, pbc T T F; the default there): ``E(z0) = 0`` and ``phi(z0) = 0`` at
  the bottom of the range, in the vacuum below the slab. This is the boundary condition
  of the electrostatics the slab was run with: the Yeh-Berkowitz / Ballenegger-Arnold-Cerda
  corrected Ewald sum reproduces a 2D-periodic system whose field vanishes in the vacuum on
  both sides of a neutral slab. Integrating from the vacuum on one side is the usual
  practice for electrode/electrolyte slabs (the reference of phi is arbitrary: only
  differences mean something). For a neutral slab the field at the top then comes out
  zero as well (``PotentialProfile.field_top`` is the check), and between the interiors
  of two electrodes held at constant potential the profile recovers the applied voltage
  (1.0001 ± 0.0004 V for inputs/capacitor.toml at 1 V).
* ``"periodic"`` (bulk, pbc T T T; the default there): the Ewald sum with tin-foil boundary
  conditions has zero mean field, so the uniform neutralising background is removed from
  rho and the constant of integration makes the cell average of E zero; then phi is
  periodic. ``phi(z0) = 0`` again.

The binned profile holds exactly the charge of each bin and its first moment (Gaussian
charges are integrated analytically over each bin, point charges are exact), so E and phi
are exact at every bin edge for the actual charge distribution, whatever the bin width:
``phi(z_k+1) = phi(z_k) - E(z_k) dz - (1/eps0) int_bin (z_k+1 - z') rho(z') dz'`` and the
last integral needs only the bin's charge and first moment.
The profile is the potential of the charges; an applied uniform field E_ext adds
``-E_ext z``.

Capacitance
-----------
Differential capacitance from the equilibrium fluctuations of an electrode's charge at
constant potential (Scalfi, Limmer, Coretti, Bonella, Madden, Salanne and Rotenberg,
Phys. Chem. Chem. Phys. 22, 10480 (2020); Limmer et al., Phys. Rev. Lett. 111, 106102
(2013))::

    C_diff = <dQ^2> / (k_B T)          (e/V; per area in µF/cm^2)

with the error from block averages of ``dQ^2``. When the electrode charges are solved at
every step (constant-potential method) rather than sampled, the fluctuations hold only the
response to the moving ions, and the total differential capacitance adds the response with
the ions held fixed (Scalfi, Limmer, Coretti et al., J. Chem. Phys. 153, 174704 (2020))::

    C_total = <dQ^2> / (k_B T) + C_inf                       (e/V)

with C_inf from two single points of the deck's structure (:func:`c_infinity`). The integral
capacitance is the slope of ``<Q>`` against the applied voltage over several runs
(:func:`integral_capacitance`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass

import numpy as np

from echemmd import units
from echemmd.analysis import new_figure, save_figure, trajectory_info, write_csv
from echemmd.analysis.blocks import block_average, linear_fit
from echemmd.analysis.profiles import DensityProfile, density_profiles
from echemmd.errors import InputError

BOUNDARIES = ("vacuum", "periodic")


def potential_from_charge_density(edges, rho, boundary="vacuum", polarization=None):
    """Integrate Poisson's equation twice over a binned charge density.

    Parameters
    ----------
    edges : ndarray, (B+1,)
        Bin edges, Å (equally spaced).
    rho : ndarray, (B,) or (M, B)
        Mean charge density of each bin, e/Å^3 (several profiles along the first axis).
    boundary : {"vacuum", "periodic"}
        See the module docstring: zero field at ``edges[0]`` (slab), or zero mean field
        with the neutralising background removed (bulk). ``phi(edges[0]) = 0`` in both.
    polarization : ndarray like ``rho`` or None
        First moment of each bin's charge about its centre per volume,
        ``int_bin (z - c_k) rho dz / dz`` (e/Å^2, see
        :class:`echemmd.analysis.profiles.DensityProfile`). With it phi is exact at every
        edge for the true charge distribution; without it (zero), exact for a density
        uniform inside each bin.

    Returns
    -------
    field : ndarray, (B+1,) or (M, B+1)
        E_z at the edges, V/Å.
    phi : ndarray, (B+1,) or (M, B+1)
        Potential at the edges, V.
    """
    if boundary not in BOUNDARIES:
        raise InputError(f"boundary {boundary!r}: allowed {BOUNDARIES}")
    rho = np.asarray(rho, dtype=np.float64)
    pol = np.zeros_like(rho) if polarization is None else np.asarray(polarization, dtype=np.float64)
    dz = (edges[-1] - edges[0]) / (len(edges) - 1)
    if boundary == "periodic":
        # Ewald's uniform background neutralises a net charge (it has no moment inside a bin).
        rho = rho - rho.mean(axis=-1, keepdims=True)
    zeros = np.zeros(rho.shape[:-1] + (1,))
    # Gauss: the field at an edge is the charge per area below it over eps0 (exact per bin).
    field = np.concatenate([zeros, np.cumsum(rho, axis=-1) * dz / units.EPS0], axis=-1)
    # int_bin E dz = E_k dz + (1/eps0) int_bin (z_k+1 - z') rho dz'
    #             = E_k dz + (rho_k dz^2 / 2 - p_k dz) / eps0       (exact)
    seg = field[..., :-1] * dz + (0.5 * rho * dz - pol) * dz / units.EPS0
    if boundary == "periodic":
        # Tin foil: zero cell-averaged field, which also makes phi periodic.
        mean = seg.sum(axis=-1, keepdims=True) / (edges[-1] - edges[0])
        field = field - mean
        seg = seg - mean * dz
    phi = np.concatenate([zeros, -np.cumsum(seg, axis=-1)], axis=-1)
    return field, phi


@dataclass
class PotentialProfile:
    """Planar-averaged electrostatic potential along z.

    Attributes
    ----------
    edges : ndarray, (B+1,)
        z where phi and E are given (the bin edges of the density), Å.
    phi : ndarray, (B+1,)
        Potential, V; phi(edges[0]) = 0.
    phi_error : ndarray, (B+1,)
        Block-averaged standard error, V.
    field : ndarray, (B+1,)
        E_z, V/Å.
    phi_blocks : ndarray, (n_blocks, B+1)
        Potential of each block of frames, V.
    boundary : str
    density : DensityProfile
        The charge density it came from.
    """

    edges: np.ndarray
    phi: np.ndarray
    phi_error: np.ndarray
    field: np.ndarray
    phi_blocks: np.ndarray
    boundary: str
    density: DensityProfile

    @property
    def z(self) -> np.ndarray:
        return self.edges

    @property
    def field_top(self) -> float:
        """E_z at the top of the range, V/Å (zero for a neutral slab: a check)."""
        return float(self.field[-1])

    def save(self, directory, prefix="") -> list:
        """Write ``potential.csv`` and ``potential.png``; returns the paths."""
        os.makedirs(directory, exist_ok=True)
        paths = [write_csv(os.path.join(directory, f"{prefix}potential.csv"),
                           {"z_A": self.edges, "phi_V": self.phi, "phi_err_V": self.phi_error,
                            "E_z_V/A": self.field})]
        fig, axes = new_figure(2, 1, size=(6.4, 6.0))
        ax = axes[0, 0]
        ax.plot(self.edges, self.phi, color="C0")
        if np.all(np.isfinite(self.phi_error)):
            ax.fill_between(self.edges, self.phi - self.phi_error, self.phi + self.phi_error, color="C0", alpha=0.3)
        ax.set_xlabel("z (Å)")
        ax.set_ylabel("potential φ (V)")
        ax.set_title(f"Poisson potential ({self.boundary} boundary, φ(z₀) = 0)")
        ax = axes[1, 0]
        ax.plot(self.density.centers, self.density.charge, color="k")
        ax.set_xlabel("z (Å)")
        ax.set_ylabel("charge density (e/Å³)")
        paths.append(save_figure(fig, os.path.join(directory, f"{prefix}potential.png")))
        return paths


def _default_boundary(pbc, boundary, where):
    slab = bool(pbc[0] and pbc[1] and not pbc[2])
    bulk = bool(np.all(pbc))
    if boundary is None:
        if slab:
            return "vacuum"
        if bulk:
            return "periodic"
        raise InputError(f"{where}: potential profiles need pbc T T F (slab) or T T T (bulk), got {list(pbc)}")
    if boundary not in BOUNDARIES:
        raise InputError(f"{where}: boundary {boundary!r}; allowed {BOUNDARIES}")
    if boundary == "vacuum" and not slab:
        raise InputError(f"{where}: boundary 'vacuum' (zero field below the slab) needs a slab trajectory "
                         f"(pbc T T F), this one has pbc {list(pbc)}; use 'periodic' for bulk")
    if boundary == "periodic" and not bulk:
        raise InputError(f"{where}: boundary 'periodic' (tin-foil, zero mean field) needs pbc T T T, this "
                         f"trajectory has {list(pbc)}; a slab's field vanishes in the vacuum: use 'vacuum'")
    return boundary


def potential_profile(path=None, bin_width=0.1, z_range=None, sigma=None, boundary=None, start=0, stop=None,
                      stride=1, n_blocks=5, group=None, density=None) -> PotentialProfile:
    """Electrostatic potential along z from a trajectory's charges.

    Parameters
    ----------
    path : str or os.PathLike
        H5MD trajectory with charges (not needed when ``density`` is given).
    bin_width : float
        Å.
    z_range : (float, float) or None
        Å; for a slab it must hold every atom (the field is zero below it).
    sigma : see :func:`echemmd.analysis.profiles.resolve_sigma`
        Gaussian widths of the charges, Å (the electrode's ``sigma``).
    boundary : {"vacuum", "periodic"} or None
        Default from the periodicity (module docstring).
    start, stop, stride, n_blocks, group
        As in :func:`echemmd.analysis.profiles.density_profiles`.
    density : DensityProfile or None
        Reuse an already computed profile (with charges).

    Returns
    -------
    PotentialProfile
    """
    if density is None:
        info = trajectory_info(path, group)
        if not info.has_charges:
            raise InputError(f"{info.path}: the trajectory holds no charges; a potential profile needs them")
        boundary = _default_boundary(info.pbc, boundary, info.path)
        density = density_profiles(path, bin_width, z_range, sigma, None, start, stop, stride, n_blocks, group)
    else:
        if density.charge is None:
            raise InputError("the density profile has no charge density")
        pbc = (True, True, density.periodic)
        boundary = _default_boundary(pbc, boundary, "density profile")
    where = path if path is not None else "density profile"
    if boundary == "vacuum":
        if density.atoms_outside > 0 or abs(density.charge_outside) > 1e-6:
            raise InputError(f"{where}: {density.atoms_outside:g} atoms per frame ({density.charge_outside:.3g} e) "
                             f"lie outside z range {density.edges[0]:g}:{density.edges[-1]:g} Å; the slab "
                             f"potential needs every charge inside it: widen the z range")
    field, phi = potential_from_charge_density(density.edges, density.charge, boundary, density.polarization)
    _, phi_blocks = potential_from_charge_density(density.edges, density.charge_blocks, boundary,
                                                  density.polarization_blocks)
    nb = phi_blocks.shape[0]
    err = phi_blocks.std(axis=0, ddof=1) / np.sqrt(nb) if nb > 1 else np.full_like(phi, np.nan)
    return PotentialProfile(density.edges, phi, err, field, phi_blocks, boundary, density)


# ---------------------------------------------------------------------- drops
def region_average(z, phi, zmin, zmax) -> float:
    """Mean of a piecewise-linear phi(z) over [zmin, zmax] (the value at z when equal).

    Parameters
    ----------
    z, phi : ndarray
        Grid (Å, increasing) and values (V).
    zmin, zmax : float
        Å, inside the grid.
    """
    z = np.asarray(z)
    phi = np.asarray(phi)
    zmin, zmax = float(zmin), float(zmax)
    if zmin > zmax:
        zmin, zmax = zmax, zmin
    if zmin < z[0] - 1e-9 or zmax > z[-1] + 1e-9:
        raise InputError(f"region {zmin:g}:{zmax:g} Å lies outside the profile {z[0]:g}:{z[-1]:g} Å")
    if zmax - zmin < 1e-12:
        return float(np.interp(zmin, z, phi))
    inside = (z > zmin) & (z < zmax)
    zz = np.concatenate([[zmin], z[inside], [zmax]])
    pp = np.concatenate([[np.interp(zmin, z, phi)], phi[inside], [np.interp(zmax, z, phi)]])
    return float(np.trapezoid(pp, zz) / (zmax - zmin))


def _with_error(profile, fn):
    value = fn(profile.phi)
    blocks = np.array([fn(p) for p in profile.phi_blocks])
    err = float(blocks.std(ddof=1) / np.sqrt(len(blocks))) if len(blocks) > 1 else float("nan")
    return value, err


def potential_drop(profile: PotentialProfile, region_a, region_b):
    """Mean potential in region b minus that in region a.

    Parameters
    ----------
    profile : PotentialProfile
    region_a, region_b : (float, float)
        z windows, Å.

    Returns
    -------
    drop : float
        V.
    error : float
        Block-averaged standard error, V.
    """
    z = profile.edges
    return _with_error(profile, lambda p: region_average(z, p, *region_b) - region_average(z, p, *region_a))


def cell_potential_drop(profile: PotentialProfile):
    """phi(top of the range) - phi(bottom), V, with its error: the drop across the whole cell.

    For a neutral slab this is the dipole potential step ``M_z / (A eps0)`` between the
    vacuum regions.
    """
    return _with_error(profile, lambda p: float(p[-1] - p[0]))


def electrode_potential_drops(profile: PotentialProfile, electrodes: dict, bulk=None) -> dict:
    """Potential drops at the electrode/electrolyte interfaces and between the electrodes.

    Parameters
    ----------
    profile : PotentialProfile
    electrodes : dict of str to (float, float)
        Name -> z span of the electrode's atoms (Å, from the lowest to the highest atomic
        plane). The electrode's potential is the mean of phi over the central half of the
        span: the metal's interior, away from the surface charge layer (for a single plane
        the value on that plane).
    bulk : (float, float) or None
        The electrolyte's bulk region, Å; default the middle third of the gap between the
        lowest and the highest electrode.

    Returns
    -------
    dict of str to (float, float)
        ``<name>``: phi_electrode - phi_bulk (V, error), one per electrode (positive for a
        positively charged electrode); ``"between"``: phi(highest electrode) -
        phi(lowest electrode), the potential difference across the cell, which in a
        constant-potential run equals the applied voltage; ``"bulk"``: the region used.

    Raises
    ------
    InputError
        For a bulk (periodic z) profile, or a single electrode without ``bulk``.
    """
    if profile.boundary != "vacuum":
        raise InputError("electrode potential drops need a slab trajectory (pbc T T F) and the vacuum boundary")
    if not electrodes:
        raise InputError("electrode potential drops need at least one electrode z span")
    spans = {k: (min(v), max(v)) for k, v in electrodes.items()}
    order = sorted(spans, key=lambda k: spans[k][0])
    if bulk is None:
        if len(order) < 2:
            raise InputError("one electrode: give the bulk electrolyte region (bulk=(zmin, zmax), --bulk)")
        lo, hi = spans[order[0]][1], spans[order[-1]][0]
        if hi <= lo:
            raise InputError(f"electrodes {order[0]} and {order[-1]} overlap in z; give the bulk region")
        bulk = (lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0)

    def interior(span):
        c, w = 0.5 * (span[0] + span[1]), span[1] - span[0]
        return (c - w / 4.0, c + w / 4.0)

    out = {}
    for name in order:
        out[name] = potential_drop(profile, bulk, interior(spans[name]))
    if len(order) >= 2:
        out["between"] = potential_drop(profile, interior(spans[order[0]]), interior(spans[order[-1]]))
    out["bulk"] = (float(bulk[0]), float(bulk[1]))
    return out


# ---------------------------------------------------------------------- electrode charges
@dataclass
class ChargeSeries:
    """Electrode charges against time.

    Attributes
    ----------
    time : ndarray, (F,)
        fs.
    charges : dict of str to ndarray (F,)
        Total charge of each electrode, e.
    source : dict of str to str
        ``"observable"`` (the charge solver's ``charge_<name>``) or ``"atoms"`` (summed).
    area : float
        In-plane area |a x b| of the first frame, Å^2.
    """

    time: np.ndarray
    charges: dict
    source: dict
    area: float

    def save(self, directory, prefix="") -> list:
        """Write ``electrode_charge.csv`` and ``.png``; returns the paths."""
        os.makedirs(directory, exist_ok=True)
        cols = {"time_fs": self.time}
        cols.update({f"charge_{k}_e": v for k, v in self.charges.items()})
        paths = [write_csv(os.path.join(directory, f"{prefix}electrode_charge.csv"), cols)]
        fig, ax = new_figure()
        ax = ax[0, 0]
        for k, v in self.charges.items():
            ax.plot(self.time / units.FS_PER_PS, v, label=k)
        ax.set_xlabel("time (ps)")
        ax.set_ylabel("electrode charge (e)")
        ax.legend()
        paths.append(save_figure(fig, os.path.join(directory, f"{prefix}electrode_charge.png")))
        return paths


def electrode_charges(path, electrodes=None, start=0, stop=None, stride=1, group=None) -> ChargeSeries:
    """Charge of each electrode in every frame.

    Parameters
    ----------
    path : str or os.PathLike
        H5MD trajectory.
    electrodes : dict of str to (array of int or None), or None
        Name -> atom indices. A name whose observable ``charge_<name>`` is in the file
        is read from it (the solver's own sum, no per-atom data read); otherwise the
        charges of the indices are summed frame by frame. None: every ``charge_<name>``
        observable of the file.
    start, stop, stride : int
        Frames.
    group : str or None

    Returns
    -------
    ChargeSeries
    """
    from echemmd.analysis.profiles import in_plane_area
    from echemmd.io.h5md import iter_h5md_frames

    info = trajectory_info(path, group)
    sel = slice(start, stop, stride)
    available = [o[len("charge_"):] for o in info.observables if o.startswith("charge_")]
    if electrodes is None:
        if not available:
            raise InputError(f"{info.path}: no charge_<electrode> observables; name the electrodes' atoms "
                             f"(--electrode NAME=SELECTION)")
        electrodes = {k: None for k in available}
    charges, source, summed = {}, {}, {}
    for name, idx in electrodes.items():
        if name in available:
            charges[name] = info.observable(f"charge_{name}")[sel]
            source[name] = "observable"
        elif idx is None:
            raise InputError(f"{info.path}: no observable charge_{name}; give the atoms of electrode {name!r}")
        else:
            summed[name] = np.asarray(idx, dtype=np.int64)
    if summed:
        if not info.has_charges:
            raise InputError(f"{info.path}: no per-atom charges to sum for {sorted(summed)}")
        acc = {k: [] for k in summed}
        for fr in iter_h5md_frames(path, group, start, stop, stride):
            for k, idx in summed.items():
                acc[k].append(float(fr.charges[idx].sum()))
        for k in summed:
            charges[k] = np.array(acc[k])
            source[k] = "atoms"
    charges = {k: charges[k] for k in electrodes}  # caller's order
    return ChargeSeries(info.times[sel], charges, source, in_plane_area(info.cell))


@dataclass
class Capacitance:
    """Differential capacitance from charge fluctuations.

    Attributes
    ----------
    capacitance, error : float
        <dQ^2>/(k_B T) and its block-averaged standard error, e/V.
    per_area, per_area_error : float
        The same per electrode area, µF/cm^2 (NaN without an area).
    mean_charge, mean_charge_error : float
        <Q> and its block error, e.
    variance : float
        <dQ^2>, e^2.
    temperature : float
        K.
    area : float or None
        Å^2.
    n_samples, n_blocks : int
    """

    capacitance: float
    error: float
    per_area: float
    per_area_error: float
    mean_charge: float
    mean_charge_error: float
    variance: float
    temperature: float
    area: float | None
    n_samples: int
    n_blocks: int


def differential_capacitance(charge, temperature, area=None, n_blocks=10) -> Capacitance:
    """C = <dQ^2> / (k_B T) from an electrode's charge series at constant potential.

    Parameters
    ----------
    charge : array_like, (n,)
        Electrode charge in time order, e (equilibrated part only).
    temperature : float
        K.
    area : float or None
        Electrode area, Å^2, for µF/cm^2.
    n_blocks : int
        Blocks for the errors: the error of <dQ^2> is the spread of the block means of
        ``(Q - <Q>)^2``, honest when a block is longer than the charge's correlation time.

    Returns
    -------
    Capacitance
    """
    q = np.asarray(charge, dtype=np.float64)
    if not temperature or temperature <= 0:
        raise InputError(f"capacitance needs a temperature > 0 K (--temperature), got {temperature}")
    if len(q) < 2 * n_blocks:
        raise InputError(f"capacitance from {len(q)} charge samples with {n_blocks} blocks: need at least "
                         f"{2 * n_blocks} (more frames or fewer --blocks)")
    size = len(q) // n_blocks
    q = q[len(q) - size * n_blocks:]  # the samples block_average will use
    kt = units.KB * float(temperature)
    d2 = block_average((q - q.mean()) ** 2, n_blocks)
    qm = block_average(q, n_blocks)
    c, err = d2.mean / kt, d2.error / kt
    if area:
        scale = units.E_PER_V_A2_TO_UF_PER_CM2 / float(area)
        pa, pa_err = c * scale, err * scale
    else:
        pa = pa_err = float("nan")
    return Capacitance(float(c), float(err), float(pa), float(pa_err), qm.mean, qm.error, d2.mean,
                       float(temperature), area, len(q), n_blocks)


def c_infinity(deck_path, delta_v=1.0, overrides=None) -> dict:
    """C_inf: the electrodes' charge response to the voltage with the ions held fixed, e/V.

    For a constant-potential run the electrode charges are not sampled: at every step they
    minimise the electrostatic energy for the current ion positions r and the set potentials,
    a linear problem (``A q = psi - phi_ions(r) + mu``, total charge fixed). Its solution is
    therefore exactly ``Q = Q_ions(r) + C_inf dV``: the ionic part follows the ions, the second
    part depends only on the electrode geometry and the applied voltage dV. Thermal
    fluctuations at fixed dV move only ``Q_ions``, so ``<dQ^2>/(k_B T)`` misses the C_inf term,
    and the total differential capacitance is ``<dQ^2>/(k_B T) + C_inf`` (Scalfi, Limmer,
    Coretti et al., J. Chem. Phys. 153, 174704 (2020)). C_inf is the capacitance of the
    "empty" capacitor (about eps0 A / d for two planar electrodes at distance d).

    Two single points (:func:`echemmd.app.evaluate`) of the deck's structure, ions fixed:
    the deck as it is and the deck with the potential difference between the electrodes
    raised by ``delta_v``; ``C_inf_k = |Q_k(shifted) - Q_k(deck)| / delta_v``. The response
    is linear, so neither the deck's potentials nor ``delta_v`` change the result (beyond the
    charge solver's ``charges.tolerance``), and, without QEq atoms, neither do the ion
    positions: only the electrodes' geometry enters. QEq atoms of the deck, if any, keep
    their variable charges in both single points (they respond like the electrodes).

    Which potentials change:

    * two electrodes: the first ``[[electrode]]`` is lowered by ``delta_v / 2`` and the last
      raised by ``delta_v / 2`` (the one whose potential rises gains positive charge, the other
      the same negative charge; both get the same positive C_inf).
    * more than two: the same for the first and the last electrode, the others keep their
      potentials; each electrode's |dQ_k| / delta_v is that of this one voltage pattern (one
      column of the capacitance matrix), what the fluctuation formula pairs with for the
      first and last electrode.
    * one electrode: its potential is raised by ``delta_v``. The solver keeps the total
      charge fixed, so without QEq atoms its charge cannot change and C_inf is 0 (a common
      shift of all potentials is only a gauge); with QEq atoms it is the charge exchanged
      with them.

    Parameters
    ----------
    deck_path : str or path-like
        Input deck (TOML) with ``[[electrode]]`` tables, e.g. the deck of the run.
    delta_v : float
        Change of the potential difference, V (non-zero; 1 V is fine since the response is
        linear).
    overrides : dict, optional
        Dotted key -> value applied to the deck first, as in :func:`echemmd.io.deck.load_deck`.

    Returns
    -------
    dict
        Electrode name -> C_inf, e/V (>= 0), in the deck's order.

    Raises
    ------
    echemmd.errors.InputError
        The deck has no ``[[electrode]]`` (or is invalid), or ``delta_v`` is 0 or not finite.
    """
    from echemmd import app
    from echemmd.io.deck import load_deck

    delta_v = float(delta_v)
    if not np.isfinite(delta_v) or delta_v == 0.0:
        raise InputError(f"C_inf needs a non-zero, finite potential change delta_v, got {delta_v} V")
    base = dict(overrides or {})
    deck = load_deck(deck_path, base)
    electrodes = deck.data.get("electrode") or []
    if not electrodes:
        raise InputError(f"{deck_path}: the deck has no [[electrode]]; C_inf (the electrodes' response with the "
                         f"ions fixed) needs a constant-potential deck")
    potentials = [float(e["potential"]) for e in electrodes]
    shifted = list(potentials)
    if len(electrodes) == 1:
        shifted[0] += delta_v
    else:
        shifted[0] -= delta_v / 2
        shifted[-1] += delta_v / 2
    names = [str(e["name"]) for e in electrodes]
    q0 = app.evaluate(deck)["observables"]
    moved = dict(base)
    moved.update({f"electrode[{k}].potential": v for k, v in enumerate(shifted)})
    q1 = app.evaluate(load_deck(deck_path, moved))["observables"]
    return {n: abs(q1[f"charge_{n}"] - q0[f"charge_{n}"]) / abs(delta_v) for n in names}


@dataclass
class IntegralCapacitance:
    """Slope of <Q> against the applied voltage.

    Attributes
    ----------
    capacitance, error : float
        e/V.
    per_area, per_area_error : float
        µF/cm^2 (NaN without an area).
    intercept, intercept_error : float
        <Q> at zero voltage, e.
    voltages, charges, charge_errors : ndarray
        The points fitted (V, e, e).
    """

    capacitance: float
    error: float
    per_area: float
    per_area_error: float
    intercept: float
    intercept_error: float
    voltages: np.ndarray
    charges: np.ndarray
    charge_errors: np.ndarray | None


def integral_capacitance(voltages, mean_charges, charge_errors=None, area=None) -> IntegralCapacitance:
    """Integral capacitance from runs at several voltages: the slope of <Q>(dV).

    Parameters
    ----------
    voltages : array_like, (M,)
        Applied voltage of each run, V.
    mean_charges : array_like, (M,)
        Mean electrode charge of each run, e.
    charge_errors : array_like, (M,) or None
        Standard errors of the means, e: weighted fit whose slope error follows from
        them; otherwise the error comes from the scatter about the line (M > 2).
    area : float or None
        Å^2, for µF/cm^2.

    Returns
    -------
    IntegralCapacitance
    """
    v = np.asarray(voltages, dtype=np.float64)
    q = np.asarray(mean_charges, dtype=np.float64)
    if len(v) != len(q) or len(v) < 2:
        raise InputError(f"integral capacitance needs >= 2 runs with one charge each, got {len(v)} voltages "
                         f"and {len(q)} charges")
    se = None if charge_errors is None else np.asarray(charge_errors, dtype=np.float64)
    if se is not None and not np.all(se > 0):
        se = None  # a zero error would get infinite weight: fall back to the scatter
    fit = linear_fit(v, q, se)
    scale = units.E_PER_V_A2_TO_UF_PER_CM2 / float(area) if area else float("nan")
    return IntegralCapacitance(fit.slope, fit.slope_error, fit.slope * scale, fit.slope_error * scale,
                               fit.intercept, fit.intercept_error, v, q, se)


def deck_settings(deck_text) -> dict:
    """What the stored input deck says about temperature, electrodes and Gaussian widths.

    Parameters
    ----------
    deck_text : str or None
        The TOML text of ``parameters/deck`` (parsed with tomllib; nothing is evaluated).

    Returns
    -------
    dict
        ``temperature`` (K or None: ``md.temperature``, else ``system.temperature``),
        ``electrodes`` (list of dicts with ``name``, ``potential`` V, ``sigma`` Å),
        ``sigma`` (dict element -> Å from ``electrostatics.sigma``). Empty values when the
        deck is missing or unreadable. The deck is the file as written; ``--set``
        overrides of the run are not in it.
    """
    out = {"temperature": None, "electrodes": [], "sigma": {}}
    if not deck_text:
        return out
    try:
        d = tomllib.loads(deck_text)
    except tomllib.TOMLDecodeError:
        return out
    t = d.get("md", {}).get("temperature", d.get("system", {}).get("temperature"))
    out["temperature"] = float(t) if isinstance(t, (int, float)) else None
    for e in d.get("electrode", []) or []:
        if isinstance(e, dict) and "name" in e:
            out["electrodes"].append({"name": str(e["name"]), "potential": e.get("potential"),
                                      "sigma": e.get("sigma")})
    sig = d.get("electrostatics", {}).get("sigma")
    if isinstance(sig, dict):
        out["sigma"] = {str(k): float(v) for k, v in sig.items() if isinstance(v, (int, float))}
    return out

"""Time integrators: NVE velocity Verlet and three NVT thermostats.

Units (DESIGN.md §2): positions Å, velocities Å/fs, masses amu, forces eV/Å,
energies eV, time fs, temperature K. Only constants from :mod:`echemmd.units`
are used: ``a = F / m * FORCE_TO_ACCEL`` and ``K = 1/2 sum m v^2 * MVV_TO_EV``.

Contract shared by every integrator (docs/architecture.md)::

    integrator.initialize(system, result)      # once, forces (Contribution) at the start
    result = integrator.step(system, compute)  # compute(system) -> Contribution
    integrator.thermostat_energy()             # eV; E_pot + E_kin + this is conserved
    integrator.n_dof(system)                   # degrees of freedom
    integrator.state_dict() / load_state_dict(d)   # exact restart, RNG included

Frozen atoms (``system.frozen``) get a zero inverse mass: their velocity stays
exactly zero, so ``x += dt * v`` leaves their positions bitwise unchanged, and
they carry no degrees of freedom. Centre-of-mass (COM) momentum only counts as
removed (``n_dof`` = 3 n_mobile - 3) when no atom is frozen: a frozen atom
exchanges momentum with the rest, so the COM momentum of the mobile atoms is
not a constant of motion.

Restart. ``state_dict`` holds plain values (ndarray, float, int, str) that an
HDF5 checkpoint can store; the NumPy PCG64 state goes in as a JSON string. It
also holds the forces of the last step, so either protocol continues a run
bitwise:

* fresh integrator -> ``load_state_dict(d)`` -> ``step(...)`` (uses the stored
  forces), or
* fresh integrator -> ``load_state_dict(d)`` -> ``initialize(system, result)``
  -> ``step(...)``: after a load, ``initialize`` only takes the new forces and
  touches neither the velocities nor the thermostat state (bitwise identical
  when ``compute`` is deterministic).

Per-atom factors (inverse masses, frozen mask) are read from the system in
``initialize`` (or in the first ``step`` after a load); call ``initialize``
again if masses or the frozen set change during a run.
"""

from __future__ import annotations

import inspect
import json
import math

import numpy as np

from echemmd.errors import InputError, SimulationError
from echemmd.units import FORCE_TO_ACCEL, KB, MVV_TO_EV

__all__ = [
    "VelocityVerlet",
    "LangevinBAOAB",
    "CSVR",
    "NoseHooverChain",
    "kinetic_energy",
    "temperature",
    "maxwell_boltzmann",
    "remove_com_momentum",
    "make_integrator",
    "INTEGRATORS",
]


# ====================================================================== helpers
def kinetic_energy(system) -> float:
    """Kinetic energy of the atoms.

    Parameters
    ----------
    system : echemmd.system.System
        Masses in amu, velocities in Å/fs.

    Returns
    -------
    float
        ``1/2 sum_i m_i |v_i|^2`` in eV.
    """
    v = system.velocities
    return 0.5 * MVV_TO_EV * float(np.dot(system.masses, np.einsum("ij,ij->i", v, v)))


def temperature(system, n_dof: int) -> float:
    """Instantaneous kinetic temperature ``2 K / (n_dof k_B)``.

    Parameters
    ----------
    system : echemmd.system.System
    n_dof : int
        Degrees of freedom (see ``integrator.n_dof(system)``).

    Returns
    -------
    float
        Temperature in K; 0 when ``n_dof`` is 0.
    """
    if n_dof <= 0:
        return 0.0
    return 2.0 * kinetic_energy(system) / (n_dof * KB)


def remove_com_momentum(system) -> None:
    """Remove the centre-of-mass momentum of the mobile atoms, in place.

    Frozen atoms keep their (zero) velocity; the mass-weighted mean velocity
    of the mobile atoms (Å/fs) is subtracted from each mobile atom.

    Parameters
    ----------
    system : echemmd.system.System
    """
    mobile = ~system.frozen
    if not mobile.any():
        return
    if mobile.all():
        m = system.masses
        vcom = (m @ system.velocities) / m.sum()
        system.velocities -= vcom
    else:
        m = system.masses[mobile]
        vcom = (m @ system.velocities[mobile]) / m.sum()
        system.velocities[mobile] -= vcom


def _n_dof(system, remove_com: bool) -> int:
    """3 per mobile atom, minus 3 when the COM momentum is removed (only without frozen atoms)."""
    n_mobile = int(np.count_nonzero(~system.frozen))
    nd = 3 * n_mobile
    if remove_com and n_mobile == system.n_atoms and n_mobile > 1:
        nd -= 3
    return nd


def maxwell_boltzmann(system, temperature: float, rng=None, remove_com: bool = True) -> None:
    """Draw Maxwell–Boltzmann velocities, in place, at exactly ``temperature``.

    Mobile atoms get Gaussian velocities with variance ``k_B T / m`` (per
    component, Å^2/fs^2); frozen atoms get zero. Without frozen atoms the COM
    momentum is removed (unless ``remove_com`` is false). The velocities are
    then rescaled so that ``temperature(system, n_dof)`` equals the target
    exactly, with ``n_dof = 3 n_mobile`` minus 3 when the COM was removed, the
    same count the integrators use with ``remove_com=True``.

    Parameters
    ----------
    system : echemmd.system.System
    temperature : float
        Target temperature in K (>= 0).
    rng : numpy.random.Generator, int or None
        Random source, or a seed for ``numpy.random.default_rng``.
    remove_com : bool
        Remove the COM momentum when no atom is frozen.
    """
    if temperature < 0.0 or not math.isfinite(temperature):
        raise InputError(f"temperature must be a finite number >= 0 K, got {temperature}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    mobile = ~system.frozen
    sigma = np.where(mobile, np.sqrt(KB * temperature * FORCE_TO_ACCEL / system.masses), 0.0)
    system.velocities[:] = rng.standard_normal((system.n_atoms, 3)) * sigma[:, None]
    if remove_com and mobile.all():
        remove_com_momentum(system)
    nd = _n_dof(system, remove_com)
    # the argument shadows the module function temperature(); compute T directly
    t_now = 2.0 * kinetic_energy(system) / (nd * KB) if nd > 0 else 0.0
    if t_now > 0.0:
        system.velocities *= math.sqrt(temperature / t_now)


def _check_positive(name, value, allow_zero=False):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    ok = value >= 0.0 if allow_zero else value > 0.0
    if not (ok and math.isfinite(value)):
        raise InputError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value}")
    return value


def _rng_to_str(rng: np.random.Generator) -> str:
    # Python's json writes the 128-bit integers of the PCG64 state exactly.
    return json.dumps(rng.bit_generator.state)


def _rng_from_str(s: str) -> np.random.Generator:
    state = json.loads(str(s))
    name = state.get("bit_generator")
    if name != "PCG64":
        raise InputError(f"checkpoint RNG is {name!r}; only 'PCG64' is supported")
    bg = np.random.PCG64()
    bg.state = state
    return np.random.Generator(bg)


# ====================================================================== base
class _Integrator:
    """Velocity Verlet core shared by all integrators (not public)."""

    kind = "base"

    def __init__(self, dt: float, remove_com: bool = True):
        self.dt = _check_positive("dt (fs)", dt)
        self.remove_com = bool(remove_com)
        self._forces = None
        self._bound_n = -1
        self._ndof = 0
        self._restored = False
        self.n_steps = 0

    # -------------------------------------------------------------- binding
    def _bind(self, system) -> None:
        """Cache per-atom factors; frozen atoms get zero inverse mass so they never move."""
        mobile = ~system.frozen
        inv_m = np.where(mobile, FORCE_TO_ACCEL / system.masses, 0.0)
        # velocity increment per half kick = forces * (dt/2) * F2A / m, (N,1) to broadcast
        self._half_kick = (0.5 * self.dt * inv_m)[:, None]
        self._mobile = mobile
        self._all_mobile = bool(mobile.all())
        self._ndof = _n_dof(system, self._com_removed_flag())
        self._bound_n = system.n_atoms

    def _com_removed_flag(self) -> bool:
        return self.remove_com

    def _ensure_bound(self, system) -> None:
        if self._bound_n != system.n_atoms:
            self._bind(system)
        if self._forces is None:
            raise SimulationError(f"{type(self).__name__}.step called before initialize (no forces yet)")
        if self._forces.shape != (system.n_atoms, 3):
            raise SimulationError(
                f"{type(self).__name__}: stored forces have shape {self._forces.shape}, "
                f"system has {system.n_atoms} atoms"
            )

    def n_dof(self, system) -> int:
        """Degrees of freedom: 3 n_mobile, minus 3 when the COM momentum is removed/conserved.

        Parameters
        ----------
        system : echemmd.system.System

        Returns
        -------
        int
        """
        return _n_dof(system, self._com_removed_flag())

    # -------------------------------------------------------------- protocol
    def initialize(self, system, result) -> None:
        """Prepare a run from the forces at the starting positions.

        On a fresh integrator: zero the velocities of frozen atoms, remove the
        COM momentum (``remove_com`` and no frozen atom) and reset the
        thermostat. After :meth:`load_state_dict`: only take the forces, so
        velocities and thermostat state continue bitwise.

        Parameters
        ----------
        system : echemmd.system.System
        result : echemmd.forcefield.Contribution
            Forces (eV/Å) at the current positions.
        """
        forces = np.asarray(result.forces, dtype=np.float64)
        if forces.shape != (system.n_atoms, 3):
            raise SimulationError(f"forces have shape {forces.shape}, expected ({system.n_atoms}, 3)")
        self._bind(system)
        self._forces = forces.copy()
        if self._restored:
            self._restored = False
            return
        system.velocities[system.frozen] = 0.0
        if self.remove_com and self._all_mobile:
            remove_com_momentum(system)
        self.n_steps = 0
        self._reset_thermostat(system)

    def _reset_thermostat(self, system) -> None:
        pass

    def thermostat_energy(self) -> float:
        """Energy (eV) that makes ``E_pot + E_kin + thermostat_energy()`` conserved (0 for NVE)."""
        return 0.0

    # The array operations of a step, each one method: the thermostat arithmetic above them is
    # written once, and the CUDA backend (``echemmd.gpu.integrators``) replaces only these.
    def _kick(self, system) -> None:
        system.velocities += self._forces * self._half_kick

    def _drift(self, system, h: float) -> None:
        system.positions += h * system.velocities

    def _take_forces(self, result) -> None:
        self._forces = np.asarray(result.forces, dtype=np.float64)

    def _kinetic(self, system) -> float:
        return kinetic_energy(system)

    def _scale_velocities(self, system, factor: float) -> None:
        system.velocities *= factor

    def _remove_com(self, system) -> None:
        remove_com_momentum(system)

    def _verlet(self, system, compute):
        """Half kick, drift, force call, half kick; returns the Contribution at the new positions."""
        self._kick(system)
        self._drift(system, self.dt)
        result = compute(system)
        self._take_forces(result)
        self._kick(system)
        return result

    def step(self, system, compute):
        """Advance one time step ``dt``.

        Parameters
        ----------
        system : echemmd.system.System
            Updated in place (positions Å, velocities Å/fs).
        compute : callable
            ``compute(system) -> Contribution`` with forces in eV/Å.

        Returns
        -------
        echemmd.forcefield.Contribution
            The result of ``compute`` at the new positions.
        """
        self._ensure_bound(system)
        self._restored = False
        result = self._step(system, compute)
        self.n_steps += 1
        return result

    def _step(self, system, compute):
        return self._verlet(system, compute)

    # -------------------------------------------------------------- restart
    def state_dict(self) -> dict:
        """Everything needed for an exact restart, as ndarray / float / int / str values.

        Returns
        -------
        dict
        """
        d = {
            "kind": self.kind,
            "dt": float(self.dt),
            "remove_com": int(self.remove_com),
            "n_steps": int(self.n_steps),
        }
        if self._forces is not None:
            d["forces"] = self._forces.copy()
        d.update(self._thermostat_state())
        return d

    def _thermostat_state(self) -> dict:
        return {}

    def load_state_dict(self, d: dict) -> None:
        """Restore the state written by :meth:`state_dict` (parameters set in the constructor win).

        Parameters
        ----------
        d : dict
            As returned by :meth:`state_dict`, possibly after an HDF5 round trip
            (0-d arrays and bytes are accepted).
        """
        kind = _as_str(d.get("kind", ""))
        if kind != self.kind:
            raise InputError(f"checkpoint holds integrator state of kind {kind!r}, this run uses {self.kind!r}")
        self.n_steps = int(d.get("n_steps", 0))
        if "forces" in d:
            self._forces = np.array(d["forces"], dtype=np.float64, copy=True)
        self._bound_n = -1
        self._load_thermostat_state(d)
        self._restored = True

    def _load_thermostat_state(self, d: dict) -> None:
        pass

    def __repr__(self):
        return f"{type(self).__name__}(dt={self.dt})"


def _as_str(x) -> str:
    if isinstance(x, np.ndarray):
        x = x[()]
    if isinstance(x, bytes):
        return x.decode()
    return str(x)


def _as_float(x) -> float:
    return float(np.asarray(x)[()])


# ====================================================================== NVE
class VelocityVerlet(_Integrator):
    """NVE velocity Verlet (symplectic, time reversible).

    Parameters
    ----------
    dt : float
        Time step in fs.
    remove_com : bool
        Remove the COM momentum once in :meth:`initialize` (no frozen atoms
        only). The dynamics conserves it afterwards (forces sum to zero), so
        it is not removed at every step, which keeps the map exactly
        reversible.

    Notes
    -----
    ``n_dof`` is ``3 n_mobile - 3`` without frozen atoms whatever
    ``remove_com`` is, because NVE conserves the COM momentum; an external
    force with a non-zero sum (a field on a charged system) breaks that
    assumption.
    """

    kind = "nve"

    def _com_removed_flag(self) -> bool:
        # NVE conserves the COM momentum: it counts as removed whether or not
        # initialize subtracted it.
        return True


# ====================================================================== Langevin
class LangevinBAOAB(_Integrator):
    """Langevin dynamics with the BAOAB splitting of Leimkuhler and Matthews (2013).

    One step: B (half kick), A (half drift), O (exact Ornstein–Uhlenbeck
    velocity update ``v <- c1 v + sqrt(1 - c1^2) sqrt(k_B T / m) R`` with
    ``c1 = exp(-gamma dt)``), A (half drift), force call, B (half kick).
    BAOAB samples configurations with O(dt^2) error and is exact in the
    positions of a harmonic oscillator.

    Parameters
    ----------
    dt : float
        Time step in fs.
    temperature : float
        Bath temperature in K.
    friction : float
        Friction gamma in 1/fs (e.g. 0.01 = 1/ps).
    seed : int or None
        Seed of the PCG64 generator (None: fresh entropy, not reproducible).
    remove_com : bool
        Without frozen atoms, project the COM momentum out right after each O
        step and count ``n_dof = 3 N - 3``. The random kicks would otherwise
        make the COM momentum random-walk; because the projection is
        orthogonal in the mass-weighted metric, the projected O step is the
        exact OU process on the zero-momentum subspace, so the kinetic energy
        is canonical with 3N - 3 degrees of freedom.

    Notes
    -----
    :meth:`thermostat_energy` is the heat given to the bath: the sum of the
    kinetic energy removed by every O step (and the COM projection), so that
    ``E_pot + E_kin + heat`` is conserved up to the discretisation error.
    """

    kind = "langevin"

    def __init__(self, dt, temperature, friction, seed=None, remove_com=True):
        super().__init__(dt, remove_com)
        self.temperature = _check_positive("temperature (K)", temperature, allow_zero=True)
        self.friction = _check_positive("friction (1/fs)", friction, allow_zero=True)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._heat = 0.0

    def _bind(self, system) -> None:
        super()._bind(system)
        c1 = math.exp(-self.friction * self.dt)
        self._c1 = c1
        sigma = np.where(self._mobile, np.sqrt(KB * self.temperature * FORCE_TO_ACCEL / system.masses), 0.0)
        self._noise = (math.sqrt(max(0.0, 1.0 - c1 * c1)) * sigma)[:, None]

    def _reset_thermostat(self, system) -> None:
        self._heat = 0.0

    def thermostat_energy(self) -> float:
        """Heat given to the bath so far, eV."""
        return self._heat

    def _ornstein_uhlenbeck(self, system) -> None:
        """v <- c1 v + sqrt(1 - c1^2) sqrt(k_B T / m) R, R ~ N(0, 1) from the integrator's stream."""
        v = system.velocities
        v *= self._c1
        v += self._noise * self.rng.standard_normal(v.shape)

    def _step(self, system, compute):
        half = 0.5 * self.dt
        self._kick(system)
        self._drift(system, half)
        k_before = self._kinetic(system)
        self._ornstein_uhlenbeck(system)
        if self.remove_com and self._all_mobile:
            self._remove_com(system)
        self._heat += k_before - self._kinetic(system)
        self._drift(system, half)
        result = compute(system)
        self._take_forces(result)
        self._kick(system)
        return result

    def _thermostat_state(self) -> dict:
        return {
            "temperature": float(self.temperature),
            "friction": float(self.friction),
            "heat": float(self._heat),
            "rng_state": _rng_to_str(self.rng),
        }

    def _load_thermostat_state(self, d) -> None:
        self._heat = _as_float(d["heat"])
        self.rng = _rng_from_str(_as_str(d["rng_state"]))

    def __repr__(self):
        return (
            f"LangevinBAOAB(dt={self.dt}, temperature={self.temperature}, friction={self.friction}, "
            f"seed={self.seed}, remove_com={self.remove_com})"
        )


# ====================================================================== CSVR
def _csvr_resample(kin, kin_target, n_dof, c, rng):
    """New kinetic energy and signed scale factor of one exact CSVR update.

    Bussi, Donadio, Parrinello, J. Chem. Phys. 126, 014101 (2007), appendix,
    as in Bussi's reference ``resamplekin``: with R1 ~ N(0,1) and
    S ~ chi^2(n_dof - 1) (drawn as 2 Gamma((n_dof-1)/2)),
    ``K' = c K + (1-c) Kt (R1^2 + S) / n_dof + 2 R1 sqrt(c (1-c) K Kt / n_dof)``.
    The scale ``alpha = sqrt(K'/K)`` takes the sign of
    ``R1 + sqrt(c n_dof K / ((1-c) Kt))`` so the update is the exact solution
    of the stochastic differential equation (a rare velocity reversal).
    """
    r1 = rng.standard_normal()
    s = 2.0 * rng.standard_gamma(0.5 * (n_dof - 1)) if n_dof > 1 else 0.0
    ratio = kin_target / (n_dof * kin)
    alpha2 = c + (1.0 - c) * ratio * (r1 * r1 + s) + 2.0 * r1 * math.sqrt(c * (1.0 - c) * ratio)
    alpha = math.sqrt(max(alpha2, 0.0))
    if (1.0 - c) * kin_target > 0.0 and r1 + math.sqrt(c / ((1.0 - c) * ratio)) < 0.0:
        alpha = -alpha
    return alpha


class CSVR(_Integrator):
    """Canonical sampling through velocity rescaling (Bussi, Donadio, Parrinello 2007).

    The thermostat is applied for half a step (``dt/2``) before and after a
    velocity Verlet step (Trotter-symmetric, as in i-PI); each half step
    resamples the total kinetic energy exactly from the CSVR stochastic
    differential equation with relaxation time ``tau``.

    Parameters
    ----------
    dt : float
        Time step in fs.
    temperature : float
        Target temperature in K.
    tau : float
        Relaxation time of the kinetic energy in fs (0: full resampling).
    seed : int or None
        Seed of the PCG64 generator.
    remove_com : bool
        Remove the COM momentum in :meth:`initialize` (no frozen atoms); the
        uniform rescaling keeps it zero, and ``n_dof = 3 N - 3``.

    Notes
    -----
    :meth:`thermostat_energy` is the kinetic energy removed by the thermostat
    so far, so ``E_pot + E_kin + thermostat_energy()`` is conserved up to the
    Verlet discretisation error. A system with exactly zero kinetic energy
    cannot be rescaled; start from :func:`maxwell_boltzmann`.
    """

    kind = "csvr"

    def __init__(self, dt, temperature, tau, seed=None, remove_com=True):
        super().__init__(dt, remove_com)
        self.temperature = _check_positive("temperature (K)", temperature, allow_zero=True)
        self.tau = _check_positive("tau (fs)", tau, allow_zero=True)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._eth = 0.0
        # exp(-h/tau) underflows to 0 for tiny tau, which is the full-resampling limit
        self._c_half = math.exp(-0.5 * self.dt / self.tau) if self.tau > 0.0 else 0.0

    def _reset_thermostat(self, system) -> None:
        self._eth = 0.0

    def thermostat_energy(self) -> float:
        """Kinetic energy removed by the thermostat so far, eV."""
        return self._eth

    def _thermostat(self, system) -> None:
        nd = self._ndof
        if nd <= 0:
            return
        kin = self._kinetic(system)
        if kin <= 0.0:
            return
        kin_target = 0.5 * nd * KB * self.temperature
        alpha = _csvr_resample(kin, kin_target, nd, self._c_half, self.rng)
        self._scale_velocities(system, alpha)
        self._eth += kin * (1.0 - alpha * alpha)

    def _step(self, system, compute):
        self._thermostat(system)
        result = self._verlet(system, compute)
        self._thermostat(system)
        return result

    def _thermostat_state(self) -> dict:
        return {
            "temperature": float(self.temperature),
            "tau": float(self.tau),
            "thermostat_energy": float(self._eth),
            "rng_state": _rng_to_str(self.rng),
        }

    def _load_thermostat_state(self, d) -> None:
        self._eth = _as_float(d["thermostat_energy"])
        self.rng = _rng_from_str(_as_str(d["rng_state"]))

    def __repr__(self):
        return (
            f"CSVR(dt={self.dt}, temperature={self.temperature}, tau={self.tau}, "
            f"seed={self.seed}, remove_com={self.remove_com})"
        )


# ====================================================================== Nose-Hoover chain
#: Suzuki–Yoshida weights by order.
_SUZUKI_YOSHIDA = {
    1: (1.0,),
    3: (
        1.0 / (2.0 - 2.0 ** (1.0 / 3.0)),
        1.0 - 2.0 / (2.0 - 2.0 ** (1.0 / 3.0)),
        1.0 / (2.0 - 2.0 ** (1.0 / 3.0)),
    ),
    5: (
        1.0 / (4.0 - 4.0 ** (1.0 / 3.0)),
        1.0 / (4.0 - 4.0 ** (1.0 / 3.0)),
        1.0 - 4.0 / (4.0 - 4.0 ** (1.0 / 3.0)),
        1.0 / (4.0 - 4.0 ** (1.0 / 3.0)),
        1.0 / (4.0 - 4.0 ** (1.0 / 3.0)),
    ),
}


class NoseHooverChain(_Integrator):
    """Nosé–Hoover chain thermostat (Martyna, Klein, Tuckerman 1992; MTTK 1996 integrator).

    One step: chain for ``dt/2``, velocity Verlet, chain for ``dt/2``. The
    chain propagator is split into ``n_respa`` x Suzuki–Yoshida sub-steps of
    order ``sy_order`` (Tuckerman, *Statistical Mechanics*, §4.12), each a
    symmetric Trotter sweep down and up the chain.

    Parameters
    ----------
    dt : float
        Time step in fs.
    temperature : float
        Target temperature in K (> 0).
    tau : float
        Period of the thermostat oscillation in fs; masses
        ``Q_1 = n_dof k_B T tau^2`` and ``Q_j = k_B T tau^2`` (eV fs^2).
    chain : int
        Number of thermostats in the chain (default 3).
    sy_order : int
        Suzuki–Yoshida order, 1, 3 or 5.
    n_respa : int
        Multiple-time-step sub-steps of the chain per half step.
    remove_com : bool
        Remove the COM momentum in :meth:`initialize` (no frozen atoms); the
        uniform scaling keeps it zero, and ``n_dof = 3 N - 3``.

    Notes
    -----
    :meth:`thermostat_energy` is the chain energy
    ``sum_j Q_j vxi_j^2 / 2 + n_dof k_B T xi_1 + k_B T sum_{j>1} xi_j`` (eV),
    so ``E_pot + E_kin + thermostat_energy()`` is the conserved quantity.
    """

    kind = "nose-hoover"

    def __init__(self, dt, temperature, tau, chain=3, sy_order=3, n_respa=1, remove_com=True):
        super().__init__(dt, remove_com)
        self.temperature = _check_positive("temperature (K)", temperature)
        self.tau = _check_positive("tau (fs)", tau)
        if int(chain) != chain or chain < 1:
            raise InputError(f"chain must be an integer >= 1, got {chain!r}")
        if sy_order not in _SUZUKI_YOSHIDA:
            raise InputError(f"sy_order must be one of {sorted(_SUZUKI_YOSHIDA)}, got {sy_order!r}")
        if int(n_respa) != n_respa or n_respa < 1:
            raise InputError(f"n_respa must be an integer >= 1, got {n_respa!r}")
        self.chain = int(chain)
        self.sy_order = int(sy_order)
        self.n_respa = int(n_respa)
        self._xi = np.zeros(self.chain)
        self._vxi = np.zeros(self.chain)
        self._q = None

    def _bind(self, system) -> None:
        super()._bind(system)
        self._set_masses(self._ndof)

    def _set_masses(self, n_dof) -> None:
        kt = KB * self.temperature
        q = np.full(self.chain, kt * self.tau**2)
        q[0] = max(n_dof, 1) * kt * self.tau**2
        self._q = q
        self._ndof = n_dof

    def _reset_thermostat(self, system) -> None:
        self._xi[:] = 0.0
        self._vxi[:] = 0.0

    def thermostat_energy(self) -> float:
        """Chain energy, eV (kinetic energy of the thermostats plus their potential)."""
        if self._q is None:
            return 0.0
        kt = KB * self.temperature
        nd = self._ndof
        return float(
            0.5 * np.dot(self._q, self._vxi**2) + nd * kt * self._xi[0] + kt * float(np.sum(self._xi[1:]))
        )

    def _chain_half(self, system) -> None:
        """Propagate the chain and scale the velocities for dt/2 (scalar loop over a few thermostats)."""
        nd = self._ndof
        if nd <= 0:
            return
        kt = KB * self.temperature
        q = self._q
        xi = self._xi
        vxi = self._vxi
        m = self.chain
        kin2 = 2.0 * self._kinetic(system)
        scale = 1.0
        for _ in range(self.n_respa):
            for w in _SUZUKI_YOSHIDA[self.sy_order]:
                d = w * 0.5 * self.dt / self.n_respa
                d2, d4 = 0.5 * d, 0.25 * d
                # top of the chain down to the first thermostat
                g = (q[m - 2] * vxi[m - 2] ** 2 - kt) / q[m - 1] if m > 1 else (kin2 - nd * kt) / q[0]
                vxi[m - 1] += d2 * g
                for j in range(m - 2, -1, -1):
                    e = math.exp(-d4 * vxi[j + 1])
                    vxi[j] *= e
                    g = (kin2 - nd * kt) / q[0] if j == 0 else (q[j - 1] * vxi[j - 1] ** 2 - kt) / q[j]
                    vxi[j] += d2 * g
                    vxi[j] *= e
                s = math.exp(-d * vxi[0])
                scale *= s
                kin2 *= s * s
                xi += d * vxi
                # back up the chain
                for j in range(m - 1):
                    e = math.exp(-d4 * vxi[j + 1])
                    vxi[j] *= e
                    g = (kin2 - nd * kt) / q[0] if j == 0 else (q[j - 1] * vxi[j - 1] ** 2 - kt) / q[j]
                    vxi[j] += d2 * g
                    vxi[j] *= e
                g = (q[m - 2] * vxi[m - 2] ** 2 - kt) / q[m - 1] if m > 1 else (kin2 - nd * kt) / q[0]
                vxi[m - 1] += d2 * g
        self._scale_velocities(system, scale)

    def _step(self, system, compute):
        self._chain_half(system)
        result = self._verlet(system, compute)
        self._chain_half(system)
        return result

    def _thermostat_state(self) -> dict:
        return {
            "temperature": float(self.temperature),
            "tau": float(self.tau),
            "n_dof": int(self._ndof),
            "xi": self._xi.copy(),
            "vxi": self._vxi.copy(),
        }

    def _load_thermostat_state(self, d) -> None:
        xi = np.array(d["xi"], dtype=np.float64).reshape(-1)
        vxi = np.array(d["vxi"], dtype=np.float64).reshape(-1)
        if xi.shape != (self.chain,) or vxi.shape != (self.chain,):
            raise InputError(f"checkpoint holds a Nose-Hoover chain of length {xi.size}, this run uses {self.chain}")
        self._xi = xi
        self._vxi = vxi
        # thermostat_energy() is valid right after a load, before the first step
        self._set_masses(int(np.asarray(d["n_dof"])[()]))

    def __repr__(self):
        return (
            f"NoseHooverChain(dt={self.dt}, temperature={self.temperature}, tau={self.tau}, chain={self.chain}, "
            f"sy_order={self.sy_order}, n_respa={self.n_respa}, remove_com={self.remove_com})"
        )


# ====================================================================== factory
#: Integrator names accepted by :func:`make_integrator`.
INTEGRATORS = {
    "nve": VelocityVerlet,
    "langevin": LangevinBAOAB,
    "csvr": CSVR,
    "nose-hoover": NoseHooverChain,
}


def make_integrator(name: str, **kwargs):
    """Build an integrator by name.

    Parameters
    ----------
    name : str
        One of ``"nve"``, ``"langevin"``, ``"csvr"``, ``"nose-hoover"``
        (case-insensitive).
    **kwargs
        Constructor arguments (dt in fs, temperature in K, friction in 1/fs,
        tau in fs, seed, ...).

    Raises
    ------
    echemmd.errors.InputError
        Unknown name, unknown or missing parameter, or a bad value.
    """
    key = str(name).strip().lower()
    allowed = ", ".join(repr(k) for k in INTEGRATORS)
    if key not in INTEGRATORS:
        raise InputError(f"unknown integrator {name!r}; allowed values: {allowed}")
    cls = INTEGRATORS[key]
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    names = [p.name for p in params]
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        raise InputError(f"integrator {key!r} has no parameter(s) {', '.join(unknown)}; allowed: {', '.join(names)}")
    missing = [p.name for p in params if p.default is inspect.Parameter.empty and p.name not in kwargs]
    if missing:
        raise InputError(f"integrator {key!r} needs parameter(s) {', '.join(missing)}")
    return cls(**kwargs)

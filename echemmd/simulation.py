"""The MD loop: integrator steps, observers on schedules, blow-up detection, clean stops.

Observers are plain objects with ``every`` (steps; 0 = never during the loop),
``observe(simulation)`` and ``close()``; the files they write are the faces'
business (``echemmd.io``), the loop only decides *when*. A checkpoint writer
is an observer with a ``save(simulation, path=None)`` method too, so the loop
can save on Ctrl-C or on a blow-up.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

import numpy as np

from echemmd.errors import SimulationError
from echemmd.integrators import kinetic_energy, temperature
from echemmd.kernels.checks import force_check
from echemmd.units import EV_PER_A3_TO_GPA


@dataclass
class Limits:
    """When a run is declared blown up.

    Attributes
    ----------
    max_force : float
        Largest force component allowed on any atom, eV/Å.
    min_distance : float
        Shortest allowed pair distance, Å (checked on the neighbour list).
    check_every : int
        Steps between checks (NaN is checked on every step regardless).
    """

    max_force: float = 50.0
    min_distance: float = 0.5
    check_every: int = 1


class Simulation:
    """Drive a system with a force field and an integrator.

    Parameters
    ----------
    system : echemmd.System
    forcefield : echemmd.forcefield.ForceField
    integrator : object
        One of :mod:`echemmd.integrators`.
    observers : list
        Objects with ``every``, ``observe(sim)``, ``close()``.
    checkpointer : object or None
        Observer with ``save(sim, path=None)``; used for emergency checkpoints.
    limits : Limits
    step, time : int, float
        Counters to start from (fs for time).
    restarted : bool
        The state comes from a checkpoint, so the starting step is not observed again.
    """

    def __init__(self, system, forcefield, integrator, observers=(), checkpointer=None, limits=None,
                 step=0, time=0.0, restarted=False):
        self.system = system
        self.forcefield = forcefield
        self.integrator = integrator
        self.observers = list(observers)
        self.checkpointer = checkpointer
        self.limits = limits or Limits()
        self.step = int(step)
        self.time = float(time)
        self.result = None
        self.target_step = self.step
        self._initialized = False
        self._stop_reason = None
        self._observed_start = bool(restarted)

    # ------------------------------------------------------------------ observables
    @property
    def n_dof(self) -> int:
        return self.integrator.n_dof(self.system)

    @property
    def kinetic_energy(self) -> float:
        """Kinetic energy, eV."""
        return kinetic_energy(self.system)

    @property
    def temperature(self) -> float:
        """Instantaneous temperature, K."""
        return temperature(self.system, self.n_dof)

    @property
    def potential_energy(self) -> float:
        """Potential energy, eV."""
        return self.result.energy

    @property
    def conserved_energy(self) -> float:
        """Potential + kinetic + thermostat energy, eV (constant for an exact integrator)."""
        return self.result.energy + self.kinetic_energy + self.integrator.thermostat_energy()

    def observables(self) -> dict:
        """Scalar observables of the current state by canonical name (units in :mod:`echemmd.io.thermo`).

        Energies in eV, time in fs, temperature in K, volume in Å^3 and, for
        people, pressure in GPa.
        """
        kinetic = self.kinetic_energy
        thermostat = self.integrator.thermostat_energy()
        out = {
            "step": self.step,
            "time": self.time,
            "temperature": temperature(self.system, self.n_dof),
            "potential_energy": self.result.energy,
            "kinetic_energy": kinetic,
            "thermostat_energy": thermostat,
            "conserved_energy": self.result.energy + kinetic + thermostat,
        }
        for name, value in self.result.terms.items():
            out[f"energy_{name}"] = value
        out.update(self.result.extra)
        if self.system.pbc.all():
            out["volume"] = self.system.volume
            out["pressure"] = self.pressure * EV_PER_A3_TO_GPA
        return out

    @property
    def pressure(self) -> float:
        """Virial pressure with the kinetic term, eV/Å^3 (periodic cells only)."""
        return (2.0 * self.kinetic_energy + np.trace(self.result.virial)) / (3.0 * self.system.volume)

    # ------------------------------------------------------------------ the loop
    def initialize(self):
        """Compute the forces of the starting state and hand them to the integrator."""
        if self._initialized:
            return
        self.result = self.forcefield.compute(self.system)
        self._check(force=True)
        self.integrator.initialize(self.system, self.result)
        self._initialized = True

    def run(self, n_steps: int):
        """Advance ``n_steps`` steps.

        Raises
        ------
        SimulationError
            On a blow-up or an interruption, after saving a checkpoint and closing outputs.
        """
        self.initialize()
        self.target_step = self.step + int(n_steps)
        if not self._observed_start:
            # A restarted run's first state was observed by the run that wrote the checkpoint.
            self._notify()
        with _StopOnSignal(self):
            # A starting state beyond the limits stops before the first step.
            if self._stop_reason is not None:
                self._abort(self._stop_reason)
            while self.step < self.target_step:
                self.result = self._advance()
                self.step += 1
                self.time += self.integrator.dt
                if self._stop_reason is None:
                    self._check(force=False)
                self._notify()
                if self._stop_reason is not None:
                    self._abort(self._stop_reason)
        return self.result

    def close(self):
        """Close every observer (idempotent)."""
        for obs in self.observers:
            obs.close()

    # ------------------------------------------------------------------ internals
    def _advance(self):
        """One integrator step; returns the force evaluation at the new positions."""
        compute = self.forcefield.compute if self._energy_due(self.step + 1) else self._forces_only
        return self.integrator.step(self.system, compute)

    def _energy_due(self, step: int) -> bool:
        """Whether the result of ``step`` needs its energy and virial: an observer reads that
        step, or it is the last step of the run (its result is returned)."""
        if step >= self.target_step:
            return True
        return any(getattr(obs, "every", 0) and step % obs.every == 0 for obs in self.observers)

    def _forces_only(self, system):
        return self.forcefield.compute(system, energy_virial=False)

    def _notify(self):
        self._observed_start = True
        for obs in self.observers:
            every = getattr(obs, "every", 0)
            if every and self.step % every == 0:
                obs.observe(self)

    def _check(self, force: bool):
        """Set the stop reason if the state is not finite or beyond the limits."""
        r = self.result
        bad, fmax, fmax_atom = force_check(np.ascontiguousarray(r.forces, dtype=np.float64),
                                           np.ascontiguousarray(self.system.positions, dtype=np.float64))
        # A forces-only step leaves the energy NaN by design: its forces show a blow-up.
        if bad >= 0 or not (r.forces_only or np.isfinite(r.energy)):
            where = f" (atom {bad}, {self.system.symbols[bad]})" if bad >= 0 else ""
            self._stop_reason = f"non-finite energy, force or position at step {self.step}{where}"
            return
        if not force and self.limits.check_every > 1 and self.step % self.limits.check_every:
            return
        if fmax > self.limits.max_force:
            self._stop_reason = (f"force of {fmax:.4g} eV/Å on atom {fmax_atom} ({self.system.symbols[fmax_atom]}) "
                                 f"at step {self.step} exceeds limits.max_force = {self.limits.max_force} eV/Å")
            return
        nl = self.forcefield.neighbors
        if (nl is not None and self.limits.min_distance > 0 and nl.neighbors is not None and len(nl.neighbors)
                # The bound costs one displacement pass; the full search runs only when it cannot clear the step.
                and nl.distance_bound(self.system.positions, self.system.cell) < self.limits.min_distance):
            rmin, i, j = nl.closest_pair(self.system.positions, self.system.cell)
            if rmin < self.limits.min_distance:
                self._stop_reason = (f"atoms {i} ({self.system.symbols[i]}) and {j} ({self.system.symbols[j]}) are "
                                     f"{rmin:.4g} Å apart at step {self.step}, closer than "
                                     f"limits.min_distance = {self.limits.min_distance} Å")

    def request_stop(self, reason: str):
        """Ask the loop to stop cleanly after the current step (signal-safe)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def _abort(self, reason: str):
        saved = ""
        if self.checkpointer is not None:
            interrupted = reason.startswith("interrupted")
            path = self.checkpointer.save(self, failed=not interrupted)
            saved = f"; checkpoint of step {self.step} written to {path}"
        self.close()
        raise SimulationError(f"run stopped at step {self.step}: {reason}{saved}")


class _StopOnSignal:
    """Turn SIGINT/SIGTERM into a clean stop at the end of the current step."""

    def __init__(self, sim):
        self.sim = sim
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handler)
        return self

    def _handler(self, signum, frame):
        name = signal.Signals(signum).name
        if self.sim._stop_reason is not None and self.sim._stop_reason.startswith("interrupted"):
            # A second Ctrl-C means: stop now.
            raise KeyboardInterrupt
        self.sim.request_stop(f"interrupted by {name}")

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False

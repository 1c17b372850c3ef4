"""Observers that the simulation loop calls on schedules: thermo, trajectory, checkpoints, progress.

Each has ``every`` (steps), ``observe(sim)`` and ``close()``; the loop decides
when, these decide what goes to which file.
"""

from __future__ import annotations

import time as wallclock
from pathlib import Path

import numpy as np

from echemmd import __version__
from echemmd.io.checkpoint import save_checkpoint


class ThermoObserver:
    """Thermo rows (screen + CSV) every ``every`` steps, with the throughput since the last row."""

    def __init__(self, logger, every, progress=None):
        self.logger = logger
        self.every = int(every)
        self.progress = progress
        self._last = None

    def observe(self, sim):
        now = wallclock.perf_counter()
        obs = sim.observables()
        rate = 0.0
        if self._last is not None and sim.step > self._last[0]:
            rate = sim.system.n_atoms * (sim.step - self._last[0]) / (now - self._last[1])
        obs["atom_steps_per_s"] = rate
        self._last = (sim.step, now)
        if self.progress is not None:
            self.progress.clear()
        self.logger.log(obs)

    def close(self):
        self.logger.close()


class TrajectoryObserver:
    """H5MD frames every ``every`` steps."""

    def __init__(self, writer, every):
        self.writer = writer
        self.every = int(every)

    def observe(self, sim):
        self.writer.write(sim.step, sim.time, sim.system, sim.result, sim.observables())

    def close(self):
        self.writer.close()


class CheckpointObserver:
    """Checkpoints every ``every`` steps (0: only when asked), and on demand.

    A blow-up is saved next to the regular checkpoint as ``<stem>.failed.h5``
    so that the last good checkpoint is kept for a restart.
    """

    def __init__(self, path, every, extra=None):
        self.path = Path(path)
        self.every = int(every)
        self.extra = dict(extra or {})
        self.last_saved_step = None

    def save(self, sim, failed=False):
        path = self.path.with_name(self.path.stem + ".failed" + self.path.suffix) if failed else self.path
        nl = sim.forcefield.neighbors
        extra = dict(self.extra, echemmd_version=__version__)
        if nl is not None and nl.reference_positions is not None:
            # The list's own reference positions: a restart rebuilds the identical list,
            # so the continued run sums forces in the same order, bit for bit.
            extra["neighbor_reference"] = nl.reference_positions.copy()
        solver = getattr(sim.forcefield, "state_solver", None)
        if solver is not None and solver.previous is not None:
            extra["charge_solver_previous"] = solver.previous.copy()
        if solver is not None and getattr(solver, "_adjoint_last", None) is not None:
            extra["charge_solver_adjoint"] = solver._adjoint_last.copy()
        save_checkpoint(path, sim.system, step=sim.step, time=sim.time,
                        integrator_state=sim.integrator.state_dict(), extra=extra)
        if not failed:
            self.last_saved_step = sim.step
        return path

    def observe(self, sim):
        self.save(sim)

    def close(self):
        pass


class ProgressObserver:
    """Redraws the progress bar (rate-limited by the bar itself) every step."""

    every = 1

    def __init__(self, bar):
        self.bar = bar

    def observe(self, sim):
        self.bar.update(sim.step)

    def close(self):
        self.bar.close()


def observables_summary(observables: dict) -> str:
    """One line for the end of a run."""
    parts = []
    for key in ("temperature", "potential_energy", "conserved_energy"):
        if key in observables and np.isfinite(observables[key]):
            parts.append(f"{key} = {observables[key]:.6g}")
    return ", ".join(parts)

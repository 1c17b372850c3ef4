"""The MD loop with the state on the device (:class:`CudaSimulation`)."""

from __future__ import annotations

import numpy as np
from numba import cuda

from echemmd.gpu.forcefield import DeviceForceField
from echemmd.gpu.integrators import to_device as device_integrator
from echemmd.gpu.state import DeviceState
from echemmd.gpu.support import out_of_memory_as_error, require_cuda
from echemmd.kernels.cuda import integrate
from echemmd.kernels.cuda.workspace import Workspace
from echemmd.simulation import Simulation


class CudaSimulation(Simulation):
    """:class:`echemmd.simulation.Simulation` with the whole step on a CUDA GPU.

    Same parameters, observers, limits and checkpoints as the CPU loop. The atoms' arrays live on
    the device; ``system`` and ``result`` (host) are brought up to date before any observer reads
    them, on an emergency stop and at the end of :meth:`run`. In between, :attr:`device_result`
    is the last evaluation on the device.

    Parameters
    ----------
    precision : {"float64", "mixed"}
        Arithmetic of the network potential's descriptors and atomic networks (see
        ``echemmd.gpu.terms.DeviceNetworkPotential``);
        other parameters as :class:`echemmd.simulation.Simulation`.
    """

    def __init__(self, system, forcefield, integrator, observers=(), checkpointer=None, limits=None, step=0,
                 time=0.0, restarted=False, precision="float64"):
        require_cuda()
        self.precision = precision
        super().__init__(system, forcefield, integrator, observers=observers, checkpointer=checkpointer,
                         limits=limits, step=step, time=time, restarted=restarted)
        self.state = None
        self.device_result = None
        self._synced_step = None

    # ------------------------------------------------------------------ set-up
    def initialize(self):
        """Upload the state, evaluate the starting forces on the device, hand them to the integrator."""
        if self._initialized:
            return
        with out_of_memory_as_error("setting up the GPU run", self.system.n_atoms):
            self.state = DeviceState(self.system)
            self.forcefield = DeviceForceField(self.forcefield, self.state, precision=self.precision)
            self.device_result = self.forcefield.compute(self.state)
            self._check_buffer = cuda.device_array(self.system.n_atoms, dtype=np.float64)
            self._check_workspace = Workspace()
        self.state.pull(self.system)  # the solved charges
        self.result = self.device_result.to_host()
        self._synced_step = self.step
        self._check(force=True)
        # The thermostat state is the CPU integrator's: initialise it on the host (frozen velocities,
        # COM momentum, thermostat reset), then move its array operations to the device.
        self.integrator.initialize(self.system, self.result)
        self.state.push(self.system, positions=False, charges=False)
        self.integrator = device_integrator(self.integrator, self.state, self.device_result.forces)
        self._initialized = True

    # ------------------------------------------------------------------ the loop's hooks
    def _advance(self):
        energy_virial = self._energy_due(self.step + 1)

        def compute(state):
            return self.forcefield.compute(state, energy_virial=energy_virial)

        with out_of_memory_as_error(f"step {self.step + 1}", self.system.n_atoms):
            self.device_result = self.integrator.step(self.state, compute)
        self._synced_step = None
        return self.result  # the host result stays that of the last synchronised step

    def synchronize(self):
        """Bring ``system`` (positions, velocities, charges) and ``result`` up to date from the device."""
        if self._synced_step == self.step or self.state is None:
            return
        self.state.pull(self.system)
        self.result = self.device_result.to_host()
        self._synced_step = self.step

    def _notify(self):
        if any(getattr(obs, "every", 0) and self.step % obs.every == 0 for obs in self.observers):
            self.synchronize()
        super()._notify()

    def _check(self, force: bool):
        """The state check on the device: three numbers per step, the closest pair from a bound."""
        if self.device_result is None:
            return super()._check(force)
        bad, fmax, fmax_atom = integrate.force_check(self.device_result.forces, self.state.positions,
                                                     self._check_buffer, self._check_workspace)
        if bad >= 0:
            self._stop_reason = (f"non-finite energy, force or position at step {self.step} "
                                 f"(atom {bad}, {self.system.symbols[bad]})")
            return
        if not force and self.limits.check_every > 1 and self.step % self.limits.check_every:
            return
        if fmax > self.limits.max_force:
            self._stop_reason = (f"force of {fmax:.4g} eV/Å on atom {fmax_atom} ({self.system.symbols[fmax_atom]}) "
                                 f"at step {self.step} exceeds limits.max_force = {self.limits.max_force} eV/Å")
            return
        nl = self.forcefield.neighbors
        if (nl is not None and self.limits.min_distance > 0 and nl.n_entries
                and nl.distance_bound() < self.limits.min_distance):
            rmin, i, j = nl.closest_pair(self.state)
            if rmin < self.limits.min_distance:
                self._stop_reason = (f"atoms {i} ({self.system.symbols[i]}) and {j} ({self.system.symbols[j]}) are "
                                     f"{rmin:.4g} Å apart at step {self.step}, closer than "
                                     f"limits.min_distance = {self.limits.min_distance} Å")

    def _abort(self, reason: str):
        self.synchronize()
        super()._abort(reason)

    def run(self, n_steps: int):
        """Advance ``n_steps`` steps on the device; ``system`` and the returned result are the last step's."""
        try:
            super().run(n_steps)
        finally:
            if self._initialized:
                self.synchronize()
        return self.result

"""The integrators of :mod:`echemmd.integrators` with their array operations on the device.

The step logic and the thermostat arithmetic (the BAOAB splitting, the CSVR resampling, the
Nosé–Hoover chain) are the CPU classes' own, run on the host on a few scalars; a device
integrator replaces only the array operations (``_kick``, ``_drift``, ``_kinetic``,
``_scale_velocities``, ``_remove_com``, ``_ornstein_uhlenbeck``) with CUDA kernels on a
:class:`echemmd.gpu.state.DeviceState`. So the two backends cannot drift apart, a checkpoint
holds the same state (the random stream included) and either backend can resume it.

Langevin noise is drawn on the host from the integrator's own PCG64 stream, the numbers the CPU
backend draws, and copied to the device (3 N doubles per step): the GPU trajectory follows the
CPU one, and a restart continues it exactly.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from echemmd.integrators import LangevinBAOAB
from echemmd.kernels.cuda import integrate
from echemmd.kernels.cuda.workspace import Workspace
from echemmd.units import MVV_TO_EV


class DeviceOperations:
    """Mixin: the array operations of an ``echemmd.integrators`` class on a DeviceState."""

    def _bind(self, state) -> None:
        super()._bind(state)
        n = state.n_atoms
        self._d_half_kick = cuda.to_device(np.ascontiguousarray(self._half_kick[:, 0]))
        self._d_rows = cuda.device_array(n, dtype=np.float64)
        self._d_rows3 = cuda.device_array((n, 3), dtype=np.float64)
        self._workspace = Workspace()
        self._mobile_mass = float(state.masses[~state.frozen].sum())
        if isinstance(self, LangevinBAOAB):
            self._d_noise = cuda.to_device(np.ascontiguousarray(self._noise[:, 0]))
            self._d_gauss = cuda.device_array((n, 3), dtype=np.float64)

    def _kick(self, state) -> None:
        integrate.kick(state.velocities, self._forces, self._d_half_kick)

    def _drift(self, state, h: float) -> None:
        integrate.drift(state.positions, state.velocities, h)

    def _take_forces(self, result) -> None:
        self._forces = result.forces

    def _kinetic(self, state) -> float:
        total = integrate.mass_weighted_square_sum(state.velocities, state.d_masses, self._d_rows, self._workspace)
        return 0.5 * MVV_TO_EV * float(total.copy_to_host()[0])

    def _scale_velocities(self, state, factor: float) -> None:
        integrate.scale(state.velocities, factor)

    def _remove_com(self, state) -> None:
        if self._mobile_mass > 0.0:
            integrate.remove_com_momentum(state.velocities, state.d_masses, state.d_mobile, self._mobile_mass,
                                          self._d_rows3, self._workspace)

    def _ornstein_uhlenbeck(self, state) -> None:
        # The CPU's draw, in the CPU's shape and order: both backends take the same numbers.
        gauss = self.rng.standard_normal((state.n_atoms, 3))
        self._d_gauss.copy_to_device(gauss)
        integrate.ornstein_uhlenbeck(state.velocities, self._c1, self._d_noise, self._d_gauss)

    def state_dict(self) -> dict:
        forces = self._forces
        if forces is not None and hasattr(forces, "copy_to_host"):
            self._forces = forces.copy_to_host()
        try:
            return super().state_dict()
        finally:
            self._forces = forces


_CLASSES = {}


def to_device(integrator, state, forces):
    """A device twin of a CPU integrator that has been initialised (its state is shared, not copied).

    Parameters
    ----------
    integrator : echemmd.integrators._Integrator
        Initialised on the host (frozen velocities zeroed, COM removed, thermostat reset).
    state : echemmd.gpu.state.DeviceState
        Holding the velocities after that initialisation.
    forces : device array (N, 3)
        Forces at the state's positions, eV/Å.
    """
    cls = type(integrator)
    if isinstance(integrator, DeviceOperations):
        twin = integrator
    else:
        device_cls = _CLASSES.get(cls)
        if device_cls is None:
            device_cls = type(f"Device{cls.__name__}", (DeviceOperations, cls), {})
            _CLASSES[cls] = device_cls
        twin = object.__new__(device_cls)
        twin.__dict__.update(integrator.__dict__)
    twin._bind(state)
    twin._forces = forces
    return twin

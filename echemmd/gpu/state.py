"""The atoms' state on the device."""

from __future__ import annotations

import numpy as np
from numba import cuda


class DeviceState:
    """Positions, velocities and charges on the device, and what stays constant on the host.

    Integrators bind to it as they bind to a :class:`echemmd.System` (``n_atoms``, ``masses``,
    ``frozen`` and ``symbols`` are host arrays), and run their array operations on its device
    arrays (``echemmd.gpu.integrators``).

    Parameters
    ----------
    system : echemmd.System
        Copied to the device; later changes to it are not seen (use :meth:`push`).
    """

    def __init__(self, system):
        self.system = system
        self.n_atoms = system.n_atoms
        self.symbols = system.symbols
        self.numbers = system.numbers
        self.masses = np.array(system.masses, dtype=np.float64)
        self.frozen = np.array(system.frozen, dtype=bool)
        self.cell = np.array(system.cell, dtype=np.float64)
        self.pbc = np.array(system.pbc, dtype=bool)
        self.d_masses = cuda.to_device(self.masses)
        self.d_mobile = cuda.to_device(~self.frozen)
        self.d_frozen = cuda.to_device(self.frozen)
        self.d_cell = cuda.to_device(self.cell)
        self.positions = cuda.to_device(np.ascontiguousarray(system.positions, dtype=np.float64))
        self.velocities = cuda.to_device(np.ascontiguousarray(system.velocities, dtype=np.float64))
        self.charges = cuda.to_device(np.ascontiguousarray(system.charges, dtype=np.float64))

    @property
    def mobile(self) -> np.ndarray:
        return ~self.frozen

    def push(self, system=None, velocities=True, positions=True, charges=True) -> None:
        """Copy the host system's arrays to the device."""
        system = system or self.system
        if positions:
            self.positions.copy_to_device(np.ascontiguousarray(system.positions, dtype=np.float64))
        if velocities:
            self.velocities.copy_to_device(np.ascontiguousarray(system.velocities, dtype=np.float64))
        if charges:
            self.charges.copy_to_device(np.ascontiguousarray(system.charges, dtype=np.float64))

    def pull(self, system=None) -> None:
        """Copy positions, velocities and charges from the device into the host system (in place)."""
        system = system or self.system
        system.positions[:] = self.positions.copy_to_host()
        system.velocities[:] = self.velocities.copy_to_host()
        system.charges[:] = self.charges.copy_to_host()

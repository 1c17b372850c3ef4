"""Energy terms on the device: each wraps the CPU term it was built from and reads its parameters.

A device term has ``name`` and ``compute(state, neighbors, energy_virial) -> (sums, forces)``:
``forces`` a device array (N, 3) in eV/Å, ``sums`` a device array (7,) holding
[energy eV, W_xx, W_yy, W_zz, W_yz, W_xz, W_xy eV], or None on a forces-only step of a term that
skips them. Seven numbers per term are all the host reads of a step whose energy is due.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from echemmd.kernels import pair as cpu_pair
from echemmd.kernels.cuda import pair as pair_kernels


class DevicePairPotential:
    """A :class:`echemmd.potentials.PairPotential` (Lennard-Jones, Born–Mayer–Huggins) on the device."""

    forces_only = True

    def __init__(self, term, system):
        self.name = term.name
        self.cutoff = term.cutoff
        species = tuple(system.species)
        self.style = cpu_pair.LENNARD_JONES if term.style == "lj" else cpu_pair.BORN_MAYER_HUGGINS
        types = np.array([species.index(s) for s in system.symbols], dtype=np.int64)
        self._params = cuda.to_device(np.ascontiguousarray(term.parameter_table(species)))
        self._types = cuda.to_device(types)
        n = system.n_atoms
        self._forces = cuda.device_array((n, 3), dtype=np.float64)
        self._per_atom = cuda.device_array((n, 7), dtype=np.float64)

    def compute(self, state, neighbors, energy_virial=True):
        return pair_kernels.pair_forces(self.style, state.positions, state.d_cell, self._types, self._params,
                                        neighbors.first, neighbors.neighbors, neighbors.shifts, bool(energy_virial),
                                        forces=self._forces, per_atom=self._per_atom)

"""The force field on the device: the CPU force field's terms, evaluated by CUDA kernels."""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from echemmd.errors import InputError
from echemmd.forcefield import Contribution
from echemmd.gpu.neighbors import DeviceNeighborList
from echemmd.gpu.support import TIMER
from echemmd.kernels.cuda import integrate
from echemmd.kernels.cuda.pair import virial_matrix


class DeviceResult:
    """What one device force evaluation returns: forces on the device, energy and virial on request.

    Attributes
    ----------
    forces : device float64 (N, 3)
        eV/Å (a buffer the next evaluation overwrites).
    sums : dict of str to device float64 (7,) or None
        Per term [energy, virial xx, yy, zz, yz, xz, xy], eV.
    forces_only : bool
        A term skipped its energy and virial (they read NaN).
    """

    def __init__(self, forces, sums, forces_only, extra):
        self.forces = forces
        self.sums = sums
        self.forces_only = forces_only
        self._extra = extra

    def to_host(self) -> Contribution:
        """The :class:`echemmd.forcefield.Contribution` of this evaluation (copies forces and 7 numbers per term)."""
        energy = 0.0
        virial = np.zeros((3, 3))
        terms = {}
        for name, sums in self.sums.items():
            if sums is None:
                terms[name] = math.nan
                energy = math.nan
                virial = np.full((3, 3), math.nan)
                continue
            s = sums.copy_to_host()
            terms[name] = float(s[0])
            energy += float(s[0])
            virial += virial_matrix(s)
        extra = self._extra() if callable(self._extra) else dict(self._extra or {})
        return Contribution(energy, self.forces.copy_to_host(), virial, terms, extra, forces_only=self.forces_only)


def device_term(term, system, ewald=None, precision="float64"):
    """The device twin of a CPU energy term; InputError naming the term when there is none yet."""
    from echemmd.gpu import terms as device_terms
    from echemmd.potentials import PairPotential

    if isinstance(term, PairPotential):
        return device_terms.DevicePairPotential(term, system)
    builders = getattr(device_terms, "BUILDERS", {})
    for cls_name, builder in builders.items():
        if type(term).__name__ == cls_name:
            if cls_name == "NeuralNetworkPotential":
                return builder(term, system, ewald, precision=precision)
            return builder(term, system, ewald)
    supported = ["PairPotential"] + list(builders)
    raise InputError(f"backend = \"cuda\": the energy term {term.name!r} ({type(term).__name__}) has no CUDA "
                     f"implementation yet; terms that run on the GPU: {', '.join(supported)}. Use backend = \"cpu\"")


class DeviceForceField:
    """Sum of device terms over one device neighbour list, with the charge solve first.

    Parameters
    ----------
    forcefield : echemmd.forcefield.ForceField
        The CPU force field built from the deck; its terms give the device terms their parameters.
        A neighbour list it has already built (a restart) is rebuilt on the device at the same
        reference positions, so the rows, and the trajectory, continue exactly.
    state : echemmd.gpu.state.DeviceState
    precision : {"float64", "mixed"}
        Arithmetic of the network potential's descriptors and atomic networks
        (``echemmd.gpu.terms.DeviceNetworkPotential``).
    """

    def __init__(self, forcefield, state, precision="float64"):
        system = state.system
        self.cpu = forcefield
        self.terms = []
        self.charge_solver = None
        ewald = None
        ordered = sorted(forcefield.terms, key=lambda t: type(t).__name__ == "ChargeSolver")  # Ewald before solver
        for term in ordered:
            dev = device_term(term, system, ewald, precision)
            if type(term).__name__ == "Ewald":
                ewald = dev
            if term is forcefield.charge_solver:
                self.charge_solver = dev
            self.terms.append(dev)
        self.terms.sort(key=lambda d: [t.name for t in forcefield.terms].index(d.name))
        cpu_nl = forcefield.neighbors
        self.neighbors = None
        if cpu_nl is not None:
            self.neighbors = DeviceNeighborList(cpu_nl.cutoff, cpu_nl.skin)
            reference = cpu_nl.reference_positions
            if reference is not None and np.array_equal(cpu_nl._cell, state.cell):
                self.neighbors.build(state, positions=cuda.to_device(np.ascontiguousarray(reference)))
        self._forces = cuda.device_array((state.n_atoms, 3), dtype=np.float64)

    @property
    def state_solver(self):
        """The charge solver whose history a checkpoint keeps (see ``ForceField.state_solver``)."""
        return self.charge_solver

    @property
    def cutoff(self) -> float:
        return self.cpu.cutoff

    def compute(self, state, energy_virial: bool = True) -> DeviceResult:
        """Forces (and, if ``energy_virial``, energies and virial) at the state's positions."""
        if self.neighbors is not None:
            with TIMER("neighbor list (check + builds)"):
                self.neighbors.update(state)
        if self.charge_solver is not None:
            with TIMER("charge solve"):
                self.charge_solver.solve(state, self.neighbors)
        forces = self._forces
        sums = {}
        skipped = False
        first = True
        for term in self.terms:
            with TIMER(f"term {term.name}"):
                part_sums, part_forces = term.compute(state, self.neighbors, energy_virial)
            if part_sums is None:
                skipped = True
            sums[term.name] = part_sums
            if first:
                forces.copy_to_device(part_forces)
                first = False
            else:
                integrate.add_into(forces, part_forces)
        if first:
            forces.copy_to_device(np.zeros((state.n_atoms, 3)))
        if skipped and state.frozen.any():
            integrate.zero_rows(forces, state.d_frozen)
        extra = self.charge_solver.observables if self.charge_solver is not None else None
        return DeviceResult(forces, sums, skipped, extra)

"""The force field: a list of energy terms summed into one set of buffers.

A term is any object with a ``name`` and a method
``compute(system, neighbors) -> Contribution``; a new term touches no other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Contribution:
    """What one energy term (or the whole force field) returns.

    Attributes
    ----------
    energy : float
        Energy in eV.
    forces : ndarray, (N, 3)
        Forces in eV/Å.
    virial : ndarray, (3, 3)
        Virial W = sum over pairs of r_ij (x) F_j, eV. Stress = -W / V.
    terms : dict of str to float
        Energy of each named term, eV.
    extra : dict of str to float
        Other observables of the evaluation by canonical name (e.g. ``charge_<electrode>`` in e,
        ``cg_iterations``, ``cg_residual`` in V).
    forces_only : bool
        The energy and virial were not evaluated (NaN), nor the forces on frozen atoms (zero);
        see :meth:`ForceField.compute`.
    """

    energy: float
    forces: np.ndarray
    virial: np.ndarray
    terms: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    forces_only: bool = False

    def stress(self, volume: float) -> np.ndarray:
        """Stress tensor -W/V in eV/Å^3 (ASE sign convention)."""
        return -self.virial / volume


class ForceField:
    """Sum of energy terms sharing one neighbour list.

    Parameters
    ----------
    terms : list
        Energy terms; each has ``name``, ``cutoff`` (Å, 0 if it needs no list)
        and ``compute(system, neighbors) -> Contribution``.
    neighbors : echemmd.neighbors.NeighborList or None
        Built for the largest cutoff among the terms.
    charge_solver : echemmd.charges.ChargeSolver or None
        Solves the variable charges (warm-started from the current ones) before the terms run;
        it is also a term itself (chi, J, psi and field energies).
    """

    def __init__(self, terms, neighbors=None, charge_solver=None):
        self.terms = list(terms)
        self.neighbors = neighbors
        self.charge_solver = charge_solver
        if charge_solver is not None and charge_solver not in self.terms:
            self.terms.append(charge_solver)
        if neighbors is not None and hasattr(neighbors, "set_half") and self.terms:
            # Half lists when every term reads only the half list (pair potentials).
            neighbors.set_half(all(getattr(t, "neighbor_list", "full") == "half" for t in self.terms))

    @property
    def state_solver(self):
        """The charge solver whose warm-start history a checkpoint keeps: ``charge_solver``, or the
        solver inside a term that solves its own charges (a 4G model), or None."""
        if self.charge_solver is not None:
            return self.charge_solver
        return next((t.solver for t in self.terms if getattr(t, "owns_charges", False)), None)

    @property
    def cutoff(self) -> float:
        return max((t.cutoff for t in self.terms), default=0.0)

    def compute(self, system, energy_virial: bool = True) -> Contribution:
        """Energy, forces and virial of ``system``; updates the neighbour list if needed.

        ``energy_virial=False`` lets terms that can (``forces_only = True``) skip their energy
        and virial sums, for MD steps whose energy and pressure nobody reads (LAMMPS' eflag and
        vflag); the energy and virial of such a result are NaN where a term skipped them, so
        that a reader of the wrong step cannot mistake them for numbers. The forces on frozen
        atoms, which no integrator reads, are zero in such a result: terms may skip them
        (Ewald skips the pairs between two frozen atoms).
        """
        if self.neighbors is not None:
            self.neighbors.update(system.positions, system.cell, system.pbc)
        if self.charge_solver is not None:
            self.charge_solver.solve(system, self.neighbors)
        n = system.n_atoms
        total = Contribution(0.0, np.zeros((n, 3)), np.zeros((3, 3)), {})
        for term in self.terms:
            if not energy_virial and getattr(term, "forces_only", False):
                c = term.compute(system, self.neighbors, energy_virial=False)
                total.forces_only = True
            else:
                c = term.compute(system, self.neighbors)
            total.energy += c.energy
            total.forces += c.forces
            total.virial += c.virial
            total.terms[term.name] = c.energy
            total.extra.update(c.extra)
        if total.forces_only:
            total.forces[system.frozen] = 0.0
        return total

    def __call__(self, system) -> Contribution:
        return self.compute(system)

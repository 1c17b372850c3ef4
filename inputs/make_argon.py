"""Write inputs/argon.extxyz: 256 atoms of liquid argon at 120 K and 1.40 g/cm^3.

Liquid argon near its triple point (83.8 K) has a density of about 1.40 g/cm^3.
The atoms start on a 4x4x4 fcc lattice (conventional cubic cell, 4 atoms each)
whose lattice constant gives exactly that density; echemmd then melts the
crystal (Langevin, 300 K, 4 ps) and equilibrates the liquid (CSVR, 120 K, 4 ps)
with the Lennard-Jones parameters of inputs/lj_argon.toml. Positions and
velocities of the last step are written, so the example deck starts from an
equilibrated liquid.

Run from anywhere: ``python inputs/make_argon.py`` (about ten seconds). The
output is deterministic for one machine and Numba version (fixed seeds).
"""

from pathlib import Path

import numpy as np
from ase.build import bulk, make_supercell
from ase.data import atomic_masses, atomic_numbers
from ase.io import write

from echemmd.forcefield import ForceField
from echemmd.integrators import CSVR, LangevinBAOAB, maxwell_boltzmann
from echemmd.neighbors import NeighborList
from echemmd.potentials import LennardJones
from echemmd.simulation import Simulation
from echemmd.system import System
from echemmd.units import AVOGADRO

DENSITY = 1.40  # g/cm^3
REPEAT = 4  # conventional fcc cells along each axis -> 4 * REPEAT**3 atoms
LJ_ARGON = {"Ar-Ar": {"epsilon": 0.0103, "sigma": 3.405}}  # eV, Å (Rahman 1964)
CUTOFF = 8.5  # Å
DT = 2.0  # fs


def lattice_constant(density: float) -> float:
    """fcc lattice constant in Å for argon at ``density`` g/cm^3 (4 atoms per cubic cell)."""
    mass_g = atomic_masses[atomic_numbers["Ar"]] / AVOGADRO  # g per atom
    number_density = density / mass_g * 1e-24  # atoms per Å^3 (1 cm^3 = 1e24 Å^3)
    return (4.0 / number_density) ** (1.0 / 3.0)


def fcc_argon():
    a = lattice_constant(DENSITY)
    atoms = make_supercell(bulk("Ar", "fcc", a=a, cubic=True), np.eye(3, dtype=int) * REPEAT)
    atoms.pbc = True
    return atoms


def equilibrate(atoms, melt_steps=2000, equilibrate_steps=2000):
    """Melt at 300 K, then equilibrate at 120 K; return the final System."""
    system = System.from_atoms(atoms)
    forcefield = ForceField([LennardJones(LJ_ARGON, cutoff=CUTOFF)], NeighborList(CUTOFF, skin=1.0))
    maxwell_boltzmann(system, 300.0, np.random.default_rng(1))
    Simulation(system, forcefield, LangevinBAOAB(dt=DT, temperature=300.0, friction=0.02, seed=2)).run(melt_steps)
    Simulation(system, forcefield, CSVR(dt=DT, temperature=120.0, tau=100.0, seed=3)).run(equilibrate_steps)
    return system


def main() -> None:
    system = equilibrate(fcc_argon())
    atoms = system.to_atoms(wrap=True)
    atoms.info["comment"] = "liquid argon, LJ eps=0.0103 eV sigma=3.405 A, equilibrated at 120 K by make_argon.py"
    out = Path(__file__).resolve().parent / "argon.extxyz"
    write(out, atoms, format="extxyz")
    print(f"{out}: {len(atoms)} atoms, box = {system.cell[0, 0]:.6f} Å, density = {DENSITY} g/cm^3")


if __name__ == "__main__":
    main()

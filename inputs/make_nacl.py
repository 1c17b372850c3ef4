"""Write inputs/nacl_melt.extxyz (molten NaCl, 1200 K) and inputs/nacl_slab.extxyz (an ion slab with vacuum).

Molten NaCl: 512 ions on a 4x4x4 rock-salt lattice scaled to the density of the melt
near 1200 K (1.50 g/cm^3, Janz 1980), melted with Tosi–Fumi + Ewald (Langevin,
2500 K, 2 ps) and equilibrated (CSVR, 1200 K, 2 ps). Positions and velocities of the
last step are written.

Ion slab: a NaCl(100) crystal slab of 4 layers, 4x4 conventional cells in plane
(a = 5.64 Å), centred in a cell of height 60 Å with pbc (T, T, F).

Run from anywhere: ``python inputs/make_nacl.py`` (a few minutes on 2 cores).
"""

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, make_supercell
from ase.data import atomic_masses, atomic_numbers
from ase.io import write

from echemmd.electrostatics import Ewald
from echemmd.forcefield import ForceField
from echemmd.integrators import CSVR, LangevinBAOAB, maxwell_boltzmann
from echemmd.neighbors import NeighborList
from echemmd.potentials import BornMayerHuggins
from echemmd.simulation import Simulation
from echemmd.system import System
from echemmd.units import AVOGADRO

HERE = Path(__file__).resolve().parent
DENSITY = 1.50  # g/cm^3, NaCl melt near 1200 K
#: Tosi–Fumi (1964) parameters for NaCl: A (eV), rho (Å), sigma (Å), C (eV Å^6), D (eV Å^8).
TOSI_FUMI = {
    "Na-Na": {"A": 0.263705, "rho": 0.317, "sigma": 2.340, "C": 1.048573, "D": 0.499869},
    "Na-Cl": {"A": 0.210964, "rho": 0.317, "sigma": 2.755, "C": 6.990534, "D": 8.675750},
    "Cl-Cl": {"A": 0.158223, "rho": 0.317, "sigma": 3.170, "C": 72.40215, "D": 145.4284},
}
CUTOFF = 9.0  # Å, short-range cutoff


def rock_salt_lattice_constant(density):
    """Conventional rock-salt lattice constant (Å) at ``density`` g/cm^3."""
    mass = (atomic_masses[atomic_numbers["Na"]] + atomic_masses[atomic_numbers["Cl"]]) / AVOGADRO
    return (4 * mass / density * 1e24) ** (1 / 3)


def with_charges(atoms):
    atoms.set_initial_charges([1.0 if s == "Na" else -1.0 for s in atoms.get_chemical_symbols()])
    return atoms


def forcefield(system, accuracy=1e-5):
    ewald = Ewald(accuracy=accuracy)
    ewald.setup(system)
    bmh = BornMayerHuggins(TOSI_FUMI, cutoff=CUTOFF)
    return ForceField([bmh, ewald], NeighborList(max(CUTOFF, ewald.cutoff), skin=1.0))


def molten_nacl(steps=2000):
    a = rock_salt_lattice_constant(DENSITY)
    atoms = with_charges(make_supercell(bulk("NaCl", "rocksalt", a=a, cubic=True), np.eye(3, dtype=int) * 4))
    system = System.from_atoms(atoms)
    ff = forcefield(system)
    maxwell_boltzmann(system, 2500.0, np.random.default_rng(1))
    Simulation(system, ff, LangevinBAOAB(dt=1.0, temperature=2500.0, friction=0.05, seed=2)).run(steps)
    Simulation(system, ff, CSVR(dt=1.0, temperature=1200.0, tau=100.0, seed=3)).run(steps)
    return system


def nacl_slab(layers=4, repeat=4, height=60.0):
    a = 5.64
    crystal = bulk("NaCl", "rocksalt", a=a, cubic=True)
    slab = make_supercell(crystal, np.diag([repeat, repeat, layers // 2]))
    cell = slab.cell.array.copy()
    cell[2] = [0.0, 0.0, height]
    positions = slab.positions + [0.0, 0.0, height / 2 - slab.positions[:, 2].mean()]
    return with_charges(Atoms(slab.get_chemical_symbols(), positions=positions, cell=cell, pbc=(True, True, False)))


def main():
    melt = molten_nacl()
    atoms = melt.to_atoms(wrap=True)
    atoms.info["comment"] = "molten NaCl, Tosi-Fumi + Ewald, equilibrated at 1200 K by make_nacl.py"
    write(HERE / "nacl_melt.extxyz", atoms, format="extxyz")
    write(HERE / "nacl_slab.extxyz", nacl_slab(), format="extxyz")
    print(f"wrote {HERE / 'nacl_melt.extxyz'} ({len(atoms)} ions) and {HERE / 'nacl_slab.extxyz'}")


if __name__ == "__main__":
    main()

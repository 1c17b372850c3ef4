"""Write inputs/capacitor.extxyz: two fcc(111) metal electrodes and a primitive-model electrolyte.

Two frozen electrodes of 3 (111) layers, 6 x 6 atoms each (a = 4.08 Å, gold-like), tagged 1
(bottom) and 2 (top), facing each other across a 24 Å gap filled with a restricted
primitive model (RPM) electrolyte: 48 cations (+1 e, labelled Na) and 48 anions (-1 e,
labelled Cl) inserted at random, no two closer than 3 Å, then relaxed with the
electrodes at 0 V (Langevin, 1000 K, strong friction, 1 ps) so that the example starts
from a liquid instead of a hot random gas. The cell is a slab (pbc T T F) 80 Å high. Deterministic.

Run from anywhere: ``python inputs/make_capacitor.py``.
"""

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import fcc111
from ase.io import write

HERE = Path(__file__).resolve().parent
LATTICE = 4.08  # Å
LAYERS = 3
SIDE = 6
GAP = 24.0  # Å between the inner electrode planes
N_PAIRS = 48
HEIGHT = 80.0


def electrodes():
    slab = fcc111("Au", size=(SIDE, SIDE, LAYERS), a=LATTICE, orthogonal=True, vacuum=0.0)
    spacing = LATTICE / np.sqrt(3)
    bottom = slab.copy()
    bottom.positions[:, 2] += 10.0 - bottom.positions[:, 2].min()
    top = slab.copy()
    # Mirror the top electrode so that its first layer faces the gap.
    top.positions[:, 2] = (10.0 + 2 * spacing + GAP) + (top.positions[:, 2].max() - top.positions[:, 2])
    bottom.set_tags(1)
    top.set_tags(2)
    return bottom + top


def electrolyte(cell, z_low, z_high, rng, min_distance=3.0):
    """Ions inserted at random between z_low and z_high, no two closer than ``min_distance`` Å
    (minimum image in the plane); cations and anions alternate."""
    n = 2 * N_PAIRS
    inv = np.linalg.inv(cell[:2, :2])
    positions = []
    while len(positions) < n:
        p = np.append(rng.uniform(0, 1, 2) @ cell[:2, :2], rng.uniform(z_low, z_high))
        ok = True
        for q in positions:
            d = p - q
            d[:2] -= np.round(d[:2] @ inv) @ cell[:2, :2]
            if d @ d < min_distance**2:
                ok = False
                break
        if ok:
            positions.append(p)
    symbols = ["Na" if k % 2 == 0 else "Cl" for k in range(n)]
    ions = Atoms(symbols, positions=np.array(positions))
    ions.set_initial_charges([1.0 if s == "Na" else -1.0 for s in symbols])
    return ions


def relax(atoms, steps=500):
    """Langevin at 1000 K with the electrodes at 0 V; returns the relaxed atoms (no velocities)."""
    from echemmd.charges import ChargeSolver, Electrode
    from echemmd.electrostatics import Ewald
    from echemmd.forcefield import ForceField
    from echemmd.integrators import LangevinBAOAB, maxwell_boltzmann
    from echemmd.neighbors import NeighborList
    from echemmd.potentials import LennardJones
    from echemmd.simulation import Simulation
    from echemmd.system import System

    system = System.from_atoms(atoms)
    metal = np.nonzero(system.tags > 0)[0]
    system.frozen[metal] = True
    sigma = np.where(system.tags > 0, 0.357, 0.0)
    ewald = Ewald(accuracy=1e-5, sigma=sigma)
    ewald.setup(system)
    coeffs = {pair: {"epsilon": 0.01, "sigma": 3.0} for pair in ("Na-Na", "Cl-Cl", "Na-Cl", "Na-Au", "Cl-Au")}
    coeffs["Au-Au"] = {"epsilon": 0.0, "sigma": 3.0}
    lj = LennardJones(coeffs, cutoff=7.5)
    electrodes = [Electrode(name, np.nonzero(system.tags == tag)[0], 0.0, 0.357)
                  for name, tag in (("bottom", 1), ("top", 2))]
    solver = ChargeSolver(ewald, electrodes, tolerance=1e-6)
    ff = ForceField([lj, ewald], NeighborList(max(7.5, ewald.cutoff), skin=1.0), charge_solver=solver)
    maxwell_boltzmann(system, 1000.0, np.random.default_rng(3))
    Simulation(system, ff, LangevinBAOAB(dt=2.0, temperature=1000.0, friction=0.1, seed=4)).run(steps)
    relaxed = atoms.copy()
    relaxed.positions = system.wrapped_positions()
    charges = relaxed.get_initial_charges()
    charges[metal] = 0.0
    relaxed.set_initial_charges(charges)
    return relaxed


def main():
    rng = np.random.default_rng(7)
    metal = electrodes()
    cell = metal.cell.array.copy()
    cell[2] = [0.0, 0.0, HEIGHT]
    z = metal.positions[:, 2]
    inner_low = z[metal.get_tags() == 1].max()
    inner_high = z[metal.get_tags() == 2].min()
    ions = electrolyte(cell, inner_low + 3.2, inner_high - 3.2, rng)
    atoms = metal + ions
    atoms.set_cell(cell)
    atoms.pbc = (True, True, False)
    atoms = relax(atoms)
    atoms.info["comment"] = "fcc(111) electrodes (tags 1, 2) and RPM electrolyte, by make_capacitor.py"
    write(HERE / "capacitor.extxyz", atoms, format="extxyz")
    print(f"{HERE / 'capacitor.extxyz'}: {len(metal)} electrode atoms, {len(ions)} ions, "
          f"gap {inner_high - inner_low:.2f} Å, area {abs(np.linalg.det(cell[:2, :2])):.2f} Å^2")


if __name__ == "__main__":
    main()

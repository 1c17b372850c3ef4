"""Write inputs/flagship/cell.extxyz: Au(111) | NaCl(aq) | Au(111), the flagship's starting structure.

Two frozen Au(111) electrodes of 3 layers, 4 x 6 atoms (orthogonal cell 11.54 x 14.99 Å,
a = 4.08 Å), tagged 1 (bottom) and 2 (top), face each other across a 22 Å gap between the
inner planes, filled with water at 1 g/cm^3 (over the gap less 1.5 Å on each side) and
2 Na+ and 2 Cl- (about 0.9 mol/L). Molecules are inserted at random (structures.fill), then
the electrolyte is relaxed with the flagship model itself, electrodes at 0 V: a short
Langevin run at 300 K with strong friction, so that the deck starts from a liquid. The cell
is a slab (pbc T T F) 60 Å high. Deterministic.

    python inputs/flagship/make_cell.py [--model inputs/flagship/model.h5] [--steps 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from ase.io import write

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import structures  # noqa: E402

SIZE = (4, 6, 3)
GAP = 22.0
HEIGHT = 60.0
IONS = ["Na", "Cl", "Na", "Cl"]


def electrodes():
    slab = structures.au_slab(SIZE, orthogonal=True, rattle=0.0)
    spacing = structures.LATTICE / np.sqrt(3)
    bottom = slab.copy()
    bottom.positions[:, 2] += 8.0
    top = slab.copy()
    # Mirror the top electrode so that its stacking continues across the gap and its first layer faces it.
    top.positions[:, 2] = (8.0 + 2 * spacing + GAP) + (top.positions[:, 2].max() - top.positions[:, 2])
    bottom.set_tags(1)
    top.set_tags(2)
    out = bottom + top
    out.cell[2] = [0.0, 0.0, HEIGHT]
    out.pbc = (True, True, False)
    return out


def random_cell(seed=7):
    rng = np.random.default_rng(seed)
    metal = electrodes()
    z = metal.positions[:, 2]
    low, high = z[metal.get_tags() == 1].max(), z[metal.get_tags() == 2].min()
    area = abs(np.linalg.det(metal.cell.array[:2, :2]))
    n_water = int(round(structures.WATER_DENSITY * area * (high - low - 3.0) - 1.2 * len(IONS)))
    atoms = structures.fill(metal, n_water, IONS, (low + 2.4, high - 2.4), rng)
    atoms.set_tags(list(metal.get_tags()) + [0] * (len(atoms) - len(metal)))
    return atoms


def relax(atoms, model, steps):
    """Langevin at 300 K, friction 0.05/fs, electrodes at 0 V, with the model; wrapped positions back."""
    from echemmd.app import build_forcefield, build_integrator
    from echemmd.integrators import maxwell_boltzmann
    from echemmd.io.deck import loads_deck
    from echemmd.simulation import Limits, Simulation

    write(HERE / "cell_random.extxyz", atoms, format="extxyz")
    text = (HERE.parent / "flagship.toml").read_text()
    deck = loads_deck(text, base_dir=HERE.parent, source="flagship.toml (relaxation)",
                      overrides={"system.structure": str(HERE / "cell_random.extxyz"), "model.path": str(model),
                                 "electrode[0].potential": 0.0, "electrode[1].potential": 0.0,
                                 "md.friction": 0.05, "md.steps": steps})
    from echemmd.app import prepare_system

    system = prepare_system(deck)
    ff = build_forcefield(deck, system)
    maxwell_boltzmann(system, 300.0, np.random.default_rng(3))
    sim = Simulation(system, ff, build_integrator(deck), limits=Limits(max_force=50.0, min_distance=0.7))
    sim.run(steps)
    relaxed = atoms.copy()
    relaxed.positions = system.wrapped_positions()
    relaxed.set_initial_charges(np.zeros(len(relaxed)))
    (HERE / "cell_random.extxyz").unlink()
    return relaxed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(HERE / "model.h5"))
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--out", default=str(HERE / "cell.extxyz"))
    args = p.parse_args(argv)
    atoms = random_cell()
    if args.steps > 0:
        atoms = relax(atoms, args.model, args.steps)
    atoms.info = {"comment": "Au(111) electrodes (tags 1, 2) and NaCl(aq), by inputs/flagship/make_cell.py"}
    write(args.out, atoms, format="extxyz")
    n_metal = int((atoms.get_tags() > 0).sum())
    print(f"{args.out}: {len(atoms)} atoms: {n_metal} Au, {atoms.get_chemical_symbols().count('O')} water, "
          f"{len(IONS)} ions")


if __name__ == "__main__":
    main()

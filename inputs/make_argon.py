"""Write inputs/argon.extxyz: 256 argon atoms on an fcc lattice at liquid density.

Liquid argon near its triple point (83.8 K) has a density of about 1.40 g/cm^3.
The atoms start on a 4x4x4 fcc lattice (conventional cubic cell, 4 atoms each)
whose lattice constant gives exactly that density. At 120 K and this density
the Lennard-Jones crystal is below its melting density and melts during the
example run (inputs/lj_argon.toml): with CSVR at 120 K the fcc (111) order
parameter has decayed after about 3.5 ps (checked with ASE's LJ calculator).

Run from anywhere: ``python inputs/make_argon.py``. The output is deterministic.
"""

from pathlib import Path

from ase.build import bulk, make_supercell
from ase.data import atomic_masses, atomic_numbers
from ase.io import write

from echemmd.units import AVOGADRO

DENSITY = 1.40  # g/cm^3
REPEAT = 4  # conventional fcc cells along each axis -> 4 * REPEAT**3 atoms


def lattice_constant(density: float) -> float:
    """fcc lattice constant in Å for argon at ``density`` g/cm^3 (4 atoms per cubic cell)."""
    mass_g = atomic_masses[atomic_numbers["Ar"]] / AVOGADRO  # g per atom
    number_density = density / mass_g * 1e-24  # atoms per Å^3 (1 cm^3 = 1e24 Å^3)
    return (4.0 / number_density) ** (1.0 / 3.0)


def main() -> None:
    a = lattice_constant(DENSITY)
    atoms = make_supercell(bulk("Ar", "fcc", a=a, cubic=True), [[REPEAT, 0, 0], [0, REPEAT, 0], [0, 0, REPEAT]])
    atoms.pbc = True
    out = Path(__file__).resolve().parent / "argon.extxyz"
    write(out, atoms, format="extxyz")
    print(f"{out}: {len(atoms)} atoms, a = {a:.6f} Å, box = {REPEAT * a:.6f} Å, density = {DENSITY} g/cm^3")


if __name__ == "__main__":
    main()

"""Candidate structures for the flagship data set: water, NaCl(aq), Au(111) and their interfaces.

Every function returns ``ase.Atoms`` built from random numbers of a ``numpy.random.Generator``
(so the whole set is reproducible from one seed). Water molecules get thermal-like geometries
(O-H 0.975 +- 0.025 Å, H-O-H 104.5 +- 4 degrees, random orientation); molecules and ions are
inserted at random with minimum distances between heavy atoms, so the frames span liquid-like
packings, including close contacts that teach the networks their repulsive walls. A frame's
net charge is ``info["total_charge"]`` and the sum of its initial charges (tblite reads the
latter), placed on the metal: the compensating background is the Ewald sum's (DESIGN §1).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc111

LATTICE = 4.08          # Å, Au (experiment; the electrodes are frozen at it)
WATER_DENSITY = 0.0334  # molecules / Å^3 at 1 g/cm^3
# Smallest distances (Å) between inserted heavy atoms, by pair (unordered).
MIN_DISTANCE = {("O", "O"): 2.55, ("Na", "O"): 2.2, ("Cl", "O"): 2.95, ("Na", "Cl"): 2.6, ("Na", "Na"): 3.4,
                ("Cl", "Cl"): 3.6, ("Au", "O"): 2.5, ("Au", "Na"): 2.6, ("Au", "Cl"): 2.6}


def water_molecule(rng, center, spread=1.0):
    """Positions (3, 3) of O, H, H with thermal-like bond lengths and angle, random orientation.

    ``spread`` scales the widths (0.025 Å, 4 degrees); bonds stay within 0.78-1.35 Å.
    """
    r1, r2 = np.clip(rng.normal(0.975, 0.025 * spread, 2), 0.78, 1.35)
    theta = np.radians(rng.normal(104.5, 4.0 * spread))
    local = np.array([[0, 0, 0], [r1, 0, 0], [r2 * np.cos(theta), r2 * np.sin(theta), 0]])
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    rot = np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                    [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])
    return center + local @ rot.T


def _min_image(d, cell, pbc):
    frac = d @ np.linalg.inv(cell)
    frac[..., pbc] -= np.round(frac[..., pbc])
    return frac @ cell


def _fits(sym, pos, symbols, positions, cell, pbc, scale):
    if not positions:
        return True
    P = np.array(positions)
    d = np.linalg.norm(_min_image(P - pos, cell, pbc), axis=1)
    for s, dist in zip(symbols, d):
        key = tuple(sorted((s, sym)))
        if dist < scale * MIN_DISTANCE.get(key, 2.0):
            return False
    return True


def fill(atoms, n_water, ions, z_range, rng, scale=1.0, max_tries=200000, spread=1.0):
    """Insert ``ions`` (list of symbols) and ``n_water`` molecules between ``z_range`` into ``atoms``.

    Heavy-atom distances respect ``MIN_DISTANCE`` times ``scale`` (minimum image, also against
    the atoms already there). Raises RuntimeError when the box is too full.
    """
    cell = atoms.cell.array
    pbc = np.array(atoms.pbc)
    heavy_sym = [s for s in atoms.get_chemical_symbols() if s != "H"]
    heavy_pos = [p for s, p in zip(atoms.get_chemical_symbols(), atoms.positions) if s != "H"]
    new_sym, new_pos = [], []
    todo = ["H2O"] * n_water + list(ions)  # ions first (popped from the end)
    tries = 0
    while todo:
        tries += 1
        if tries > max_tries:
            raise RuntimeError(f"could not insert {len(todo)} more molecules/ions")
        frac = rng.uniform(0, 1, 3)
        p = frac @ cell
        p[2] = rng.uniform(*z_range)
        kind = todo[-1]
        sym = "O" if kind == "H2O" else kind
        if not _fits(sym, p, heavy_sym, heavy_pos, cell, pbc, scale):
            continue
        todo.pop()
        heavy_sym.append(sym)
        heavy_pos.append(p)
        if kind == "H2O":
            new_sym += ["O", "H", "H"]
            new_pos += list(water_molecule(rng, p, spread))
        else:
            new_sym.append(kind)
            new_pos.append(p)
    out = atoms + Atoms(new_sym, positions=np.array(new_pos).reshape(-1, 3))
    out.cell = atoms.cell
    out.pbc = atoms.pbc
    return out


def set_charge(atoms, total):
    """Net charge ``total`` (e): on the metal atoms' initial charges if there are any, else spread evenly."""
    atoms.info["total_charge"] = float(total)
    q = np.zeros(len(atoms))
    metal = np.array([s == "Au" for s in atoms.get_chemical_symbols()])
    where = metal if metal.any() else np.ones(len(atoms), bool)
    q[where] = total / where.sum()
    atoms.set_initial_charges(q)
    return atoms


def water_box(rng, n_water, density=1.0, ions=(), scale=1.0, spread=1.0):
    """Bulk water (and ions) in a cubic periodic box at ``density`` times 1 g/cm^3."""
    L = ((n_water + 1.2 * len(ions)) / (WATER_DENSITY * density)) ** (1 / 3)
    at = Atoms(cell=np.eye(3) * L, pbc=True)
    return set_charge(fill(at, n_water, ions, (0.0, L), rng, scale=scale, spread=spread), 0.0)


def au_slab(size=(3, 3, 4), orthogonal=False, rattle=0.05, rng=None, strain=0.0):
    """An Au(111) slab (z from 0) of ``size`` (a, b, layers) with rattled atoms."""
    slab = fcc111("Au", size=size, a=LATTICE * (1 + strain), orthogonal=orthogonal, vacuum=0.0)
    slab.positions[:, 2] -= slab.positions[:, 2].min()
    if rng is not None and rattle > 0:
        slab.positions += rng.normal(0, rattle, slab.positions.shape)
    return slab


def au_vacuum(rng, size=(3, 3, 4), vacuum=10.0, charge=0.0):
    """An Au(111) slab with vacuum above and below in a periodic cell."""
    slab = au_slab(size, rng=rng, rattle=rng.uniform(0.02, 0.12))
    top = slab.positions[:, 2].max()
    slab.cell[2] = [0, 0, top + vacuum]
    slab.positions[:, 2] += vacuum / 2
    slab.pbc = True
    return set_charge(slab, charge)


def au_bulk(rng):
    """Bulk fcc Au (conventional 2x2x2, 32 atoms), strained by up to 2 % and rattled."""
    at = bulk("Au", "fcc", a=LATTICE, cubic=True).repeat((2, 2, 2))
    at.set_cell(at.cell.array * (1 + rng.uniform(-0.02, 0.02, 3)), scale_atoms=True)
    at.positions += rng.normal(0, rng.uniform(0.03, 0.12), at.positions.shape)
    return set_charge(at, 0.0)


def interface(rng, size=(3, 3, 4), gap=13.0, ions=(), charge=0.0, density=1.0, scale=1.0, orthogonal=False,
              spread=1.0):
    """Au(111) slab with water (and ions) filling the periodic gap: two interfaces per cell.

    The water sits between 2.3 Å above the top layer and 2.3 Å below the next image of the
    bottom layer; its amount follows ``density`` over the gap minus a 1.5 Å depletion zone
    on each side.
    """
    slab = au_slab(size, orthogonal=orthogonal, rng=rng, rattle=rng.uniform(0.02, 0.08))
    top = slab.positions[:, 2].max()
    slab.cell[2] = [0, 0, top + gap]
    slab.pbc = True
    area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
    n_water = int(round(WATER_DENSITY * density * area * (gap - 3.0) - 1.2 * len(ions)))
    out = fill(slab, n_water, ions, (top + 2.3, top + gap - 2.3), rng, scale=scale, spread=spread)
    return set_charge(out, charge)


def round0(seed=0):
    """The first candidate set (before any model exists): a list of ase.Atoms with ``info["kind"]``."""
    rng = np.random.default_rng(seed)
    out = []

    def add(kind, at):
        at.info["kind"] = kind
        out.append(at)

    for k in range(40):                       # bulk water, 0.9-1.1 g/cm^3, some compressed
        n = (16, 24, 32)[k % 3]
        add("water", water_box(rng, n, density=rng.uniform(0.9, 1.1), scale=rng.uniform(0.9, 1.0)))
    for k in range(40):                       # NaCl(aq), 1-2 pairs, and single ions in a charged box
        n = (24, 32)[k % 2]
        ions = [["Na", "Cl"], ["Na", "Cl", "Na", "Cl"], ["Na"], ["Cl"]][k % 4]
        at = water_box(rng, n, density=rng.uniform(0.92, 1.08), ions=ions, scale=rng.uniform(0.88, 1.0))
        set_charge(at, sum(1.0 if s == "Na" else -1.0 for s in ions))  # a lone ion: charged cell
        add("nacl_aq", at)
    for k in range(12):                       # Au(111) slabs in vacuum, some charged
        add("au_slab", au_vacuum(rng, size=(3, 3, (3, 4)[k % 2]), charge=(0.0, 0.0, 1.0, -1.0)[k % 4]))
    for k in range(8):                        # bulk Au
        add("au_bulk", au_bulk(rng))
    for k in range(50):                       # Au(111)|water
        add("interface", interface(rng, size=(3, 3, 3 + k % 2), gap=rng.uniform(11.0, 15.0),
                                   density=rng.uniform(0.9, 1.05), scale=rng.uniform(0.9, 1.0)))
    for k in range(50):                       # Au(111)|NaCl(aq), neutral or with a charged electrode
        ions = [["Na", "Cl"], ["Na"], ["Cl"], ["Na", "Na", "Cl"], ["Cl", "Cl", "Na"]][k % 5]
        ion_charge = sum(1.0 if s == "Na" else -1.0 for s in ions)
        # total = 0: the metal carries the counter-charge of the ions; otherwise the cell is charged.
        total = (0.0, 0.0, ion_charge + 1.0, ion_charge - 1.0)[k % 4] if k % 5 else (0.0, 1.0, -1.0, 0.0)[k % 4]
        add("interface_ions", interface(rng, size=(3, 3, 3 + k % 2), gap=rng.uniform(12.0, 15.0), ions=ions,
                                        charge=total, density=rng.uniform(0.9, 1.05), scale=rng.uniform(0.9, 1.0)))
    for k in range(20):                       # Au(111) with a charged water film, no ions
        add("interface_charged", interface(rng, size=(3, 3, 3), gap=rng.uniform(11.0, 14.0),
                                           charge=(1.0, -1.0, 2.0, -2.0)[k % 4]))
    # Distorted molecules (bond and angle widths x4-8: O-H from 0.78 to 1.35 Å) so that the model
    # learns the walls of the O-H potential that thermal sampling hardly reaches.
    for k in range(30):
        add("water_wide", water_box(rng, (16, 24)[k % 2], density=rng.uniform(0.9, 1.1), spread=rng.uniform(4, 8)))
    for k in range(20):
        ions = [["Na", "Cl"], ["Na"], ["Cl"], ["Na", "Cl", "Na", "Cl"]][k % 4]
        at = water_box(rng, 24, ions=ions, scale=rng.uniform(0.85, 1.0), spread=rng.uniform(3, 6))
        set_charge(at, sum(1.0 if s == "Na" else -1.0 for s in ions))
        add("nacl_wide", at)
    for k in range(10):
        add("interface_wide", interface(rng, size=(3, 3, 3), gap=rng.uniform(11.0, 14.0), ions=(["Na"], ["Cl"])[k % 2],
                                        spread=rng.uniform(3, 6)))
    return out

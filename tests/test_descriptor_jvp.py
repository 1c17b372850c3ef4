"""Forward-mode derivative (JVP) of the symmetry functions: central finite differences of
``compute``, the adjoint identity with the reverse (force) pass, thread counts and symmetries."""

import numba
import numpy as np
import pytest
from ase import Atoms

from echemmd.descriptors import SymmetryFunctions
from echemmd.errors import InputError
from echemmd.neighbors import NeighborList
from echemmd.system import System

TRICLINIC = np.array([[5.2, 0.0, 0.0], [1.3, 4.9, 0.0], [-0.8, 0.9, 5.4]])


# ---------------------------------------------------------------- structures and functions
def random_structure(rng, symbols, cell, pbc, min_dist=0.9, box=None):
    """Atoms at random, no two closer than min_dist (minimum image where periodic)."""
    cell = np.asarray(cell, dtype=float)
    pos = []
    while len(pos) < len(symbols):
        p = rng.uniform(0, 1, 3) @ cell if box is None else rng.uniform(0, box, 3)
        d = np.array(pos).reshape(-1, 3) - p
        if np.any(pbc):
            d = d - np.round(d @ np.linalg.inv(cell)) @ cell
        if np.all(np.linalg.norm(d, axis=1) >= min_dist):
            pos.append(p)
    return Atoms(symbols=symbols, positions=np.array(pos), cell=cell, pbc=pbc)


def structures():
    rng = np.random.default_rng(21)
    return {
        # K is named by no function: an "other" atom, centre of the centre-free functions only.
        "triclinic": random_structure(rng, ["O", "H", "H", "Na", "O", "H", "K", "H"], TRICLINIC, True),
        "cluster": random_structure(rng, ["O", "H", "H", "Na", "O", "H", "H"], np.zeros((3, 3)), False, box=3.8),
        # Widths ~3 Å < r_c: every atom sees several images of itself and of the others.
        "small-cell": random_structure(rng, ["O", "H", "H"], TRICLINIC * 0.6, True, min_dist=1.0),
    }


def function_set(elements):
    """Types 2, 3 and 9 with several smooth cutoffs, inner cutoffs, shifts, integer and
    non-integer zeta, both lambdas, and groups of several functions sharing a radial part."""
    kinds = ["cos", "poly2", "tanhu", "exp", "poly3", "tanh", "poly1", "poly4"]
    fs = []
    k = 0
    for a in elements:
        fs.append({"type": 2, "neighbors": [a], "eta": 0.4, "r_s": 0.8, "r_c": 4.5, "cutoff": kinds[k % 8],
                   "cutoff_alpha": 0.3})
        k += 1
        for b in elements:
            if b < a:
                continue
            for t, rc in ((3, 4.3), (9, 4.7)):
                common = {"type": t, "neighbors": [a, b], "eta": 0.03, "r_s": 0.4, "r_c": rc,
                          "cutoff": kinds[k % 8], "cutoff_alpha": 0.2}
                k += 1
                # One radial part, four powers: the per-function loop of a group.
                for zeta, lam in ((1.0, 1), (2.0, -1), (3.5, 1), (1.7, -1)):
                    fs.append({**common, "zeta": zeta, "lambda": lam})
    e, f = elements[0], elements[-1]
    fs.append({"type": 2, "neighbors": [f], "eta": 1.1, "r_c": 3.6, "center": e, "cutoff": "poly2"})
    fs.append({"type": 3, "neighbors": [f, e], "eta": 0.1, "zeta": 4.0, "lambda": -1, "r_c": 3.9,
               "center": f, "cutoff": "cos", "cutoff_alpha": 0.1})
    return fs


@pytest.fixture(scope="module")
def cases():
    out = {}
    for name, atoms in structures().items():
        elements = sorted(set(atoms.get_chemical_symbols()) - {"K"})
        out[name] = (atoms, SymmetryFunctions(function_set(elements)))
    return out


def listed(sf, system, skin=0.6):
    nl = NeighborList(sf.cutoff, skin=skin)
    nl.update(system.positions, system.cell, system.pbc)
    return nl


def directions(rng, n):
    """(v, strain) pairs: displacements only, strain only, both."""
    v = rng.normal(size=(n, 3))
    strain = 0.1 * rng.normal(size=(3, 3))
    return [(v, np.zeros((3, 3))), (np.zeros((n, 3)), strain), (rng.normal(size=(n, 3)), strain)]


def moved(atoms, v, strain, h):
    """positions + h (v + positions @ strain), cell + h cell @ strain (row vectors)."""
    out = atoms.copy()
    out.positions = atoms.positions + h * (v + atoms.positions @ strain)
    out.set_cell(atoms.cell.array + h * atoms.cell.array @ strain, scale_atoms=False)
    return out


# ---------------------------------------------------------------- finite differences
@pytest.mark.parametrize("name", ["triclinic", "cluster", "small-cell"])
def test_jvp_matches_central_differences(cases, name):
    atoms, sf = cases[name]
    system = System.from_atoms(atoms)
    nl = listed(sf, system)
    rng = np.random.default_rng(13)
    h = 1e-5
    for v, strain in directions(rng, len(atoms)):
        U = sf.jvp(system, nl, v, strain)
        fd = (sf.compute(moved(atoms, v, strain, h)) - sf.compute(moved(atoms, v, strain, -h))) / (2 * h)
        # Every column is checked on its own scale, so that a wrong small term cannot hide
        # behind a large radial one. Observed: <= 5e-8 of the scale, rounding in G - G (thousands
        # of terms in the small cell); truncation is ~1e-10 at this h.
        scale = np.abs(fd).max(axis=0)
        live = scale > 1e-8
        assert live.sum() >= 0.75 * sf.n_functions
        err = np.abs(U - fd).max(axis=0)
        assert np.all(err[live] <= 3e-7 * scale[live]), (err[live] / scale[live]).max()
        assert np.all(err[~live] <= 1e-12)


# ---------------------------------------------------------------- adjoint of the force pass
@pytest.mark.parametrize("name", ["triclinic", "cluster", "small-cell"])
def test_jvp_is_the_adjoint_of_the_force_pass(cases, name):
    atoms, sf = cases[name]
    system = System.from_atoms(atoms)
    # Unwrapped positions: whole lattice vectors change no list vector.
    if atoms.pbc.any():
        system.positions += np.random.default_rng(1).integers(-2, 3, (len(atoms), 3)) @ system.cell
    nl = listed(sf, system)
    rng = np.random.default_rng(17)
    for v, strain in directions(rng, len(atoms)):
        dEdG = rng.normal(size=(len(atoms), sf.n_functions))
        U = sf.jvp(system, nl, v, strain)
        forces, virial = sf.forces(system, nl, dEdG)
        lhs = np.sum(dEdG * U)
        rhs = -np.sum(forces * v) - np.sum(virial * strain)
        scale = np.abs(dEdG * U).sum()
        assert scale > 1e-2
        assert abs(lhs - rhs) <= 1e-12 * scale, abs(lhs - rhs) / scale


# ---------------------------------------------------------------- symmetries and threads
def test_rigid_motions_do_not_change_G(cases):
    atoms, sf = cases["triclinic"]
    system = System.from_atoms(atoms)
    nl = listed(sf, system)
    n = len(atoms)
    rng = np.random.default_rng(3)
    reference = np.abs(sf.jvp(system, nl, rng.normal(size=(n, 3)))).max()
    # A uniform displacement leaves every list vector exactly as it was.
    U = sf.jvp(system, nl, np.tile(rng.normal(size=3), (n, 1)))
    assert np.all(U == 0.0)
    # An antisymmetric "strain" rotates atoms and cell together: zero to rounding.
    a = rng.normal(size=(3, 3))
    U = sf.jvp(system, nl, np.zeros((n, 3)), a - a.T)
    assert np.abs(U).max() <= 1e-13 * reference
    # strain=None is no strain.
    v = rng.normal(size=(n, 3))
    assert np.array_equal(sf.jvp(system, nl, v), sf.jvp(system, nl, v, np.zeros((3, 3))))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_jvp_does_not_depend_on_thread_count(cases):
    atoms, sf = cases["triclinic"]
    atoms = atoms.repeat((2, 1, 1))
    system = System.from_atoms(atoms)
    nl = listed(sf, system)
    rng = np.random.default_rng(8)
    v, strain = rng.normal(size=(len(atoms), 3)), rng.normal(size=(3, 3))
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results.append(sf.jvp(system, nl, v, strain))
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(results[0], results[1])


def test_jvp_checks_shapes(cases):
    atoms, sf = cases["cluster"]
    system = System.from_atoms(atoms)
    nl = listed(sf, system)
    n = len(atoms)
    with pytest.raises(InputError, match=rf"displacement must have shape \({n}, 3\)"):
        sf.jvp(system, nl, np.zeros((n, 2)))
    with pytest.raises(InputError, match=r"strain must have shape \(3, 3\)"):
        sf.jvp(system, nl, np.zeros((n, 3)), np.zeros(3))

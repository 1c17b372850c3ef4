"""Symmetry functions against a brute-force sum over explicit images, hand values, finite
differences, strain derivatives, symmetries and thread counts."""

import math

import numba
import numpy as np
import pytest
from ase import Atoms

from echemmd.descriptors import SymmetryFunctions
from echemmd.errors import InputError, NeighborListError
from echemmd.kernels import cutoffs
from echemmd.neighbors import NeighborList
from echemmd.system import System

CUTOFF_NAMES = ["hard", "cos", "tanhu", "tanh", "exp", "poly1", "poly2", "poly3", "poly4"]


# ---------------------------------------------------------------- independent references
def ref_cutoff(kind, r, r_c, alpha=0.0):
    """Cutoff functions written from n2p2's documented formulas (expanded polynomials)."""
    r = np.atleast_1d(np.asarray(r, dtype=float))
    f = np.zeros_like(r)
    inside = r < r_c
    if kind == "hard":
        f[inside] = 1.0
        return f
    if kind in ("tanhu", "tanh"):
        t = np.tanh(1.0 - r[inside] / r_c) ** 3
        f[inside] = t / np.tanh(1.0) ** 3 if kind == "tanh" else t
        return f
    r_ci = alpha * r_c
    x = (r - r_ci) / (r_c - r_ci)
    mid = inside & (r >= r_ci)
    xm = x[mid]
    core = {
        "cos": lambda x: 0.5 * (np.cos(np.pi * x) + 1.0),
        "exp": lambda x: np.exp(1.0 - 1.0 / (1.0 - x * x)),
        "poly1": lambda x: 2 * x**3 - 3 * x**2 + 1,
        "poly2": lambda x: 1 - 10 * x**3 + 15 * x**4 - 6 * x**5,
        "poly3": lambda x: 1 - 35 * x**4 + 84 * x**5 - 70 * x**6 + 20 * x**7,
        "poly4": lambda x: 1 - 126 * x**5 + 420 * x**6 - 540 * x**7 + 315 * x**8 - 70 * x**9,
    }[kind]
    f[mid] = core(xm)
    f[r < r_ci] = 1.0
    return f


def brute_neighbors(positions, cell, pbc, r_max):
    """Per atom: (indices, vectors) of every neighbour and image within r_max, without a list."""
    positions = np.asarray(positions, dtype=float)
    pbc = np.asarray(pbc, dtype=bool)
    n = len(positions)
    if pbc.any():
        frac = positions @ np.linalg.inv(cell)
        frac[:, pbc] -= np.floor(frac[:, pbc])
        x = frac @ cell
        widths = abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    else:
        x = positions
        widths = np.ones(3)
    reach = [int(np.ceil(r_max / w)) + 1 if p else 0 for w, p in zip(widths, pbc)]
    images = np.array(np.meshgrid(*[np.arange(-m, m + 1) for m in reach], indexing="ij")).reshape(3, -1).T
    offsets = images @ cell if pbc.any() else np.zeros((1, 3))
    out = []
    for i in range(n):
        d = x[None, :, :] + offsets[:, None, :] - x[i]
        r = np.linalg.norm(d, axis=2)
        mask = (r < r_max) & (r > 1e-10)
        s_idx, j_idx = np.nonzero(mask)
        out.append((j_idx, d[s_idx, j_idx]))
    return out


def brute_G(symbols, positions, cell, pbc, functions):
    """Symmetry functions by the formulas of DESIGN §4 / n2p2 over explicit images."""
    symbols = np.asarray(symbols)
    r_max = max(f["r_c"] for f in functions)
    nbrs = brute_neighbors(positions, cell, pbc, r_max)
    G = np.zeros((len(symbols), len(functions)))
    for i, (js, vec) in enumerate(nbrs):
        el = symbols[js]
        r = np.linalg.norm(vec, axis=1)
        J, K = np.triu_indices(len(js), 1)
        a, b = vec[J], vec[K]
        ra, rb = r[J], r[K]
        cos = np.einsum("ij,ij->i", a, b) / (ra * rb)
        rjk = np.linalg.norm(b - a, axis=1)
        for col, f in enumerate(functions):
            if f.get("center") not in (None, symbols[i]):
                continue
            kind, rc, al = f.get("cutoff", "cos"), f["r_c"], f.get("cutoff_alpha", 0.0)
            eta, rs = f["eta"], f.get("r_s", 0.0)
            if f["type"] == 2:
                m = el == f["neighbors"][0]
                G[i, col] = np.sum(np.exp(-eta * (r[m] - rs) ** 2) * ref_cutoff(kind, r[m], rc, al))
                continue
            e1, e2 = f["neighbors"]
            m = ((el[J] == e1) & (el[K] == e2)) | ((el[J] == e2) & (el[K] == e1))
            lam, zeta = f["lambda"], f["zeta"]
            p = 1.0 + lam * cos[m]
            ang = np.where(p > 0, np.maximum(p, 0.0) ** zeta, 0.0)
            expo = (ra[m] - rs) ** 2 + (rb[m] - rs) ** 2
            fc = ref_cutoff(kind, ra[m], rc, al) * ref_cutoff(kind, rb[m], rc, al)
            if f["type"] == 3:
                expo = expo + (rjk[m] - rs) ** 2
                fc = fc * ref_cutoff(kind, rjk[m], rc, al)
            G[i, col] = 2.0 ** (1.0 - zeta) * np.sum(ang * np.exp(-eta * expo) * fc)
    return G


# ---------------------------------------------------------------- structures and functions
def random_structure(rng, symbols, cell, pbc, min_dist=0.9, box=None):
    cell = np.asarray(cell, dtype=float)
    pos = []
    while len(pos) < len(symbols):
        p = rng.uniform(0, 1, 3) @ cell if box is None else rng.uniform(0, box, 3)
        ok = True
        for q in pos:
            d = p - q
            if np.any(pbc):
                d = d - np.round(d @ np.linalg.inv(cell)) @ cell
            if np.linalg.norm(d) < min_dist:
                ok = False
                break
        if ok:
            pos.append(p)
    return Atoms(symbols=symbols, positions=np.array(pos), cell=cell, pbc=pbc)


TRICLINIC = np.array([[5.2, 0.0, 0.0], [1.3, 4.9, 0.0], [-0.8, 0.9, 5.4]])


def structures():
    rng = np.random.default_rng(7)
    return {
        "cubic-2el": random_structure(rng, ["O", "H", "H"] * 3, np.eye(3) * 5.0, True),
        "triclinic-3el": random_structure(rng, ["O", "H", "H", "Na", "Cl", "O", "H", "H", "K", "O"],
                                          TRICLINIC, True),
        "cluster-3el": random_structure(rng, ["O", "H", "H", "Na", "Cl", "O", "H", "Cl", "O"],
                                        np.zeros((3, 3)), False, box=4.5),
        "slab-2el": random_structure(rng, ["Cu", "O", "H", "H", "Cu", "O", "Cu"],
                                     np.array([[4.5, 0, 0], [0.7, 4.2, 0], [0, 0, 12.0]]), [True, True, False]),
    }


def function_set(elements, smooth=False):
    """Types 2, 3 and 9 over element pairs, with several cutoffs, shifts and inner cutoffs."""
    kinds = ["cos", "poly2", "exp", "tanhu", "poly4", "tanh", "poly1", "poly3"] + ([] if smooth else ["hard"])
    fs = []
    k = 0
    for a in elements:
        fs.append({"type": 2, "neighbors": [a], "eta": 0.3, "r_s": 0.5, "r_c": 4.6, "cutoff": kinds[k % len(kinds)],
                   "cutoff_alpha": 0.25})
        k += 1
        for b in elements:
            if b < a:
                continue
            fs.append({"type": 3, "neighbors": [a, b], "eta": 0.05, "zeta": 2.0, "lambda": -1, "r_c": 4.4,
                       "cutoff": kinds[k % len(kinds)], "r_s": 0.3})
            k += 1
            fs.append({"type": 9, "neighbors": [b, a], "eta": 0.02, "zeta": 1.7, "lambda": 1, "r_c": 4.8,
                       "cutoff": kinds[k % len(kinds)], "cutoff_alpha": 0.4, "r_s": 0.2})
            k += 1
            fs.append({"type": 9, "neighbors": [a, b], "eta": 0.02, "zeta": 4.0, "lambda": -1, "r_c": 4.8,
                       "cutoff": kinds[(k - 1) % len(kinds)], "cutoff_alpha": 0.4, "r_s": 0.2})
    # Functions restricted to one centre element.
    e = elements[0]
    fs.append({"type": 2, "neighbors": [elements[-1]], "eta": 1.0, "r_c": 3.5, "center": e, "cutoff": "poly2"})
    fs.append({"type": 3, "neighbors": [elements[-1], e], "eta": 0.1, "zeta": 1.0, "lambda": 1, "r_c": 3.9,
               "center": elements[-1], "cutoff": "cos", "cutoff_alpha": 0.1})
    return fs


@pytest.fixture(scope="module")
def cases():
    return structures()


def system_of(atoms):
    return System.from_atoms(atoms)


def listed(sf, system, skin=0.7):
    nl = NeighborList(sf.cutoff, skin=skin)
    nl.update(system.positions, system.cell, system.pbc)
    return nl


# ---------------------------------------------------------------- cutoff functions
@pytest.mark.parametrize("kind", CUTOFF_NAMES)
@pytest.mark.parametrize("alpha", [0.0, 0.35])
def test_cutoff_values_and_derivatives(kind, alpha):
    r_c = 4.0
    code = cutoffs.CUTOFF_TYPES[kind]
    r = np.linspace(0.05, 4.5, 397)
    f, df = cutoffs.cutoff_values(code, r, r_c, alpha)
    # atol: the expanded reference polynomials (coefficients up to 540) cancel near r_c.
    np.testing.assert_allclose(f, ref_cutoff(kind, r, r_c, alpha), rtol=1e-13, atol=1e-12)
    # Exactly zero at and beyond r_c.
    f_out, df_out = cutoffs.cutoff_values(code, np.array([r_c, r_c + 1e-9, 7.0]), r_c, alpha)
    assert np.all(f_out == 0.0) and np.all(df_out == 0.0)
    if kind == "hard":
        assert np.all(df == 0.0)
        return
    # Derivative against a five-point stencil away from the inner and outer cutoffs.
    h = 1e-4
    r_ci = alpha * r_c if code in cutoffs.USES_ALPHA else -1.0
    ok = (np.abs(r - r_c) > 3e-4) & (np.abs(r - r_ci) > 3e-4)
    fv = [cutoffs.cutoff_values(code, r + m * h, r_c, alpha)[0] for m in (-2, -1, 1, 2)]
    fd = (fv[0] - 8 * fv[1] + 8 * fv[2] - fv[3]) / (12 * h)
    np.testing.assert_allclose(df[ok], fd[ok], rtol=1e-7, atol=1e-9)
    # Continuous at r_c (f -> 0) and, for all smooth types, df -> 0 there.
    f_in, df_in = cutoffs.cutoff_values(code, np.array([r_c - 1e-7]), r_c, alpha)
    assert abs(f_in[0]) < 1e-6 and abs(df_in[0]) < 1e-5


def test_cutoff_hand_values():
    f = lambda kind, r, rc=2.0, alpha=0.0: cutoffs.cutoff_fdf(cutoffs.CUTOFF_TYPES[kind], r, rc, alpha)[0]
    assert f("tanhu", 0.0) == pytest.approx(math.tanh(1.0) ** 3, rel=1e-15)  # 0.4399..., not normalised
    assert f("tanh", 0.0) == pytest.approx(1.0, rel=1e-14)
    assert f("cos", 1.0) == pytest.approx(0.5, rel=1e-15)
    assert f("poly2", 1.0) == pytest.approx(0.5, rel=1e-15)
    assert f("poly1", 1.0) == pytest.approx(0.5, rel=1e-15)
    assert f("exp", 0.0) == pytest.approx(1.0, rel=1e-15)
    assert f("exp", 1.0) == pytest.approx(math.exp(-1.0 / 3.0), rel=1e-15)
    # Inner cutoff: 1 below alpha r_c, x = (r - alpha r_c) / (r_c - alpha r_c) above.
    assert f("poly2", 0.9, alpha=0.5) == 1.0
    assert f("cos", 1.5, alpha=0.5) == pytest.approx(0.5, rel=1e-15)
    # tanhu/tanh ignore alpha as n2p2 does.
    assert f("tanh", 0.5, alpha=0.5) == f("tanh", 0.5)


def second_derivative_near(code, r0, r_c, alpha, h):
    r = np.array([r0 - 2 * h, r0 - h, r0 + h, r0 + 2 * h])
    _, df = cutoffs.cutoff_values(code, r, r_c, alpha)
    return df, np.array([df[1] - df[0], df[3] - df[2]]) / h


def test_poly2_is_c2():
    r_c = 3.0
    for alpha in (0.0, 0.4):
        for r0 in (r_c, alpha * r_c) if alpha else (r_c,):
            # f' and f'' vanish on both sides of the joins: f'' shrinks with the distance to them
            # (|f''| peaks at ~0.6 / Å^2 inside for these widths).
            for h in (1e-3, 1e-4):
                df, d2 = second_derivative_near(cutoffs.POLY2, r0, r_c, alpha, h)
                assert np.all(np.abs(df) < 1e2 * h * h)
                assert np.all(np.abs(d2) < 50 * h)
    # Contrast: cos is only C1, f'' jumps by (pi / r_c)^2 / 2 at r_c.
    _, d2 = second_derivative_near(cutoffs.COS, r_c, r_c, 0.0, 1e-5)
    assert abs(d2[0]) == pytest.approx(0.5 * (math.pi / r_c) ** 2, rel=1e-3) and d2[1] == 0.0


# ---------------------------------------------------------------- values
@pytest.mark.parametrize("name", ["cubic-2el", "triclinic-3el", "cluster-3el", "slab-2el"])
def test_values_match_brute_force(cases, name):
    atoms = cases[name]
    elements = sorted(set(atoms.get_chemical_symbols()) - {"K"})  # K: an element no function names
    functions = function_set(elements)
    sf = SymmetryFunctions(functions)
    G = sf.compute(atoms)
    ref = brute_G(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array, atoms.pbc, functions)
    assert G.shape == (len(atoms), len(functions))
    assert np.count_nonzero(ref) > 0.5 * ref.size
    np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-14 * np.abs(ref).max())


def test_cutoff_longer_than_half_cell_counts_own_images():
    # One atom in a small cell: every neighbour is one of its own images.
    atoms = Atoms("O", positions=[[0.1, 0.2, 0.3]], cell=TRICLINIC * 0.6, pbc=True)
    fs = [{"type": 2, "neighbors": ["O"], "eta": 0.2, "r_c": 6.0},
          {"type": 3, "neighbors": ["O", "O"], "eta": 0.01, "zeta": 2.0, "lambda": 1, "r_c": 6.0},
          {"type": 9, "neighbors": ["O", "O"], "eta": 0.01, "zeta": 1.0, "lambda": -1, "r_c": 6.0}]
    G = SymmetryFunctions(fs).compute(atoms)
    ref = brute_G(["O"], atoms.positions, atoms.cell.array, atoms.pbc, fs)
    assert ref[0, 0] > 0.1 and len(brute_neighbors(atoms.positions, atoms.cell.array, atoms.pbc, 6.0)[0][0]) > 20
    np.testing.assert_allclose(G, ref, rtol=1e-12)


def test_hand_values_water_molecule():
    """G of the oxygen of one water molecule, written out from n2p2's formulas."""
    r_oh, theta = 0.9572, math.radians(104.52)
    pos = [[0, 0, 0], [r_oh, 0, 0], [r_oh * math.cos(theta), r_oh * math.sin(theta), 0]]
    atoms = Atoms("OH2", positions=pos)
    r_hh = 2 * r_oh * math.sin(theta / 2)
    rc, eta, rs = 3.0, 0.7, 0.2
    fs = [{"type": 2, "neighbors": ["H"], "eta": eta, "r_s": rs, "r_c": rc, "cutoff": "cos"},
          {"type": 3, "neighbors": ["H", "H"], "eta": eta, "zeta": 2.0, "lambda": 1, "r_c": rc, "r_s": rs,
           "cutoff": "poly2"},
          {"type": 9, "neighbors": ["H", "H"], "eta": eta, "zeta": 4.0, "lambda": -1, "r_c": rc, "r_s": rs,
           "cutoff": "cos", "center": "O"}]
    G = SymmetryFunctions(fs).compute(atoms)
    fcos = lambda r: 0.5 * (math.cos(math.pi * r / rc) + 1)
    x = lambda r: r / rc
    fpoly2 = lambda r: 1 - 10 * x(r) ** 3 + 15 * x(r) ** 4 - 6 * x(r) ** 5
    g2 = 2 * math.exp(-eta * (r_oh - rs) ** 2) * fcos(r_oh)
    g3 = (2 ** (1 - 2.0) * (1 + math.cos(theta)) ** 2
          * math.exp(-eta * (2 * (r_oh - rs) ** 2 + (r_hh - rs) ** 2)) * fpoly2(r_oh) ** 2 * fpoly2(r_hh))
    g9 = (2 ** (1 - 4.0) * (1 - math.cos(theta)) ** 4 * math.exp(-eta * 2 * (r_oh - rs) ** 2) * fcos(r_oh) ** 2)
    np.testing.assert_allclose(G[0], [g2, g3, g9], rtol=1e-14)
    # Hydrogen: no H neighbour pairs for type 3 (one H neighbour only) and no O-centred function.
    assert G[1, 1] == 0.0 and G[1, 2] == 0.0 and G[2, 2] == 0.0
    # Worked by hand: 2 exp(-0.7 * 0.7572^2) (cos(pi 0.9572 / 3) + 1) / 2 = 2 * 0.66941 * 0.76915.
    assert g2 == pytest.approx(1.0298, abs=2e-4)


def test_compute_system_with_skin_and_unwrapped_positions(cases):
    atoms = cases["triclinic-3el"]
    sf = SymmetryFunctions(function_set(["Cl", "H", "Na", "O"]))
    ref = sf.compute(atoms)
    system = system_of(atoms)
    # Move atoms by whole lattice vectors: unwrapped positions, same structure.
    rng = np.random.default_rng(3)
    system.positions += rng.integers(-2, 3, (len(atoms), 3)) @ system.cell
    nl = listed(sf, system, skin=1.3)  # the list holds pairs beyond every r_c
    np.testing.assert_allclose(sf.compute_system(system, nl), ref, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- derivatives
def energy(sf, atoms, dEdG):
    return float(np.sum(dEdG * sf.compute(atoms)))


@pytest.mark.parametrize("name", ["triclinic-3el", "cluster-3el", "slab-2el"])
def test_forces_match_finite_differences(cases, name):
    atoms = cases[name]
    elements = sorted(set(atoms.get_chemical_symbols()) - {"K"})
    sf = SymmetryFunctions(function_set(elements, smooth=True))
    system = system_of(atoms)
    rng = np.random.default_rng(11)
    dEdG = rng.normal(size=(len(atoms), sf.n_functions))
    forces, _ = sf.forces(system, listed(sf, system), dEdG)
    h = 1e-5
    fd = np.zeros_like(forces)
    for k in range(len(atoms)):
        for a in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[k, a] += h
            minus.positions[k, a] -= h
            fd[k, a] = -(energy(sf, plus, dEdG) - energy(sf, minus, dEdG)) / (2 * h)
    assert np.abs(fd).max() > 1e-2
    assert np.abs(forces - fd).max() <= 1e-7 * np.abs(fd).max()
    # No net force: E depends on relative positions only.
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-12 * np.abs(forces).max())


@pytest.mark.parametrize("name", ["triclinic-3el", "cluster-3el"])
def test_virial_matches_strain_derivative(cases, name):
    atoms = cases[name]
    elements = sorted(set(atoms.get_chemical_symbols()) - {"K"})
    sf = SymmetryFunctions(function_set(elements, smooth=True))
    system = system_of(atoms)
    dEdG = np.random.default_rng(5).normal(size=(len(atoms), sf.n_functions))
    _, virial = sf.forces(system, listed(sf, system), dEdG)
    h = 1e-6
    fd = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            out = []
            for sign in (1, -1):
                eps = np.eye(3)
                eps[a, b] += sign * h
                strained = atoms.copy()
                strained.positions = atoms.positions @ eps.T
                strained.cell = atoms.cell.array @ eps.T
                out.append(energy(sf, strained, dEdG))
            fd[a, b] = -(out[0] - out[1]) / (2 * h)
    assert np.abs(fd).max() > 1e-2
    np.testing.assert_allclose(virial, fd, atol=1e-7 * np.abs(fd).max())
    np.testing.assert_allclose(virial, virial.T, atol=1e-12 * np.abs(virial).max())


# ---------------------------------------------------------------- symmetries
def test_invariance_translation_rotation_permutation(cases):
    atoms = cases["triclinic-3el"]
    sf = SymmetryFunctions(function_set(["Cl", "H", "Na", "O"], smooth=True))
    G = sf.compute(atoms)
    moved = atoms.copy()
    moved.positions += [3.7, -11.2, 0.4]
    np.testing.assert_allclose(sf.compute(moved), G, rtol=1e-11, atol=1e-13)
    # Rotate atoms and cell together.
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ q.T)
    rotated.positions = atoms.positions @ q.T
    np.testing.assert_allclose(sf.compute(rotated), G, rtol=1e-11, atol=1e-13)
    perm = np.random.default_rng(4).permutation(len(atoms))
    np.testing.assert_allclose(sf.compute(atoms[perm]), G[perm], rtol=1e-12, atol=1e-14)
    # Forces permute with the atoms; the virial does not change.
    dEdG = np.random.default_rng(6).normal(size=G.shape)
    s1, s2 = system_of(atoms), system_of(atoms[perm])
    f1, w1 = sf.forces(s1, listed(sf, s1), dEdG)
    f2, w2 = sf.forces(s2, listed(sf, s2), dEdG[perm])
    np.testing.assert_allclose(f2, f1[perm], rtol=1e-11, atol=1e-12 * np.abs(f1).max())
    np.testing.assert_allclose(w2, w1, rtol=1e-11, atol=1e-12 * np.abs(w1).max())


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_results_do_not_depend_on_thread_count(cases):
    atoms = cases["triclinic-3el"].repeat((2, 2, 1))
    sf = SymmetryFunctions(function_set(["Cl", "H", "Na", "O"]))
    system = system_of(atoms)
    nl = listed(sf, system)
    dEdG = np.random.default_rng(8).normal(size=(len(atoms), sf.n_functions))
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results.append((sf.compute_system(system, nl), *sf.forces(system, nl, dEdG)))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


# ---------------------------------------------------------------- input checks
@pytest.mark.parametrize("bad, message", [
    ({"type": 4, "neighbors": ["O"], "eta": 1.0, "r_c": 5.0}, "type must be"),
    ({"type": 2, "neighbors": ["O"], "r_c": 5.0}, "missing"),
    ({"type": 2, "neighbors": ["O", "H"], "eta": 1.0, "r_c": 5.0}, "neighbors must name 1"),
    ({"type": 3, "neighbors": ["O"], "eta": 1.0, "zeta": 1, "lambda": 1, "r_c": 5.0}, "neighbors must name 2"),
    ({"type": 2, "neighbors": ["Xx"], "eta": 1.0, "r_c": 5.0}, "not a chemical element"),
    ({"type": 2, "neighbors": ["O"], "eta": 1.0, "r_c": 5.0, "zeta": 2}, "unknown key"),
    ({"type": 9, "neighbors": ["O", "H"], "eta": 1.0, "zeta": 1, "lambda": 0.5, "r_c": 5.0}, "lambda"),
    ({"type": 2, "neighbors": ["O"], "eta": 1.0, "r_c": 5.0, "cutoff": "cosine"}, "unknown cutoff type"),
    ({"type": 2, "neighbors": ["O"], "eta": 1.0, "r_c": 5.0, "cutoff_alpha": 1.0}, "cutoff_alpha"),
    ({"type": 2, "neighbors": ["O"], "eta": 1.0, "r_c": -5.0}, "r_c"),
])
def test_bad_definitions_are_rejected(bad, message):
    with pytest.raises(InputError, match=message):
        SymmetryFunctions([bad])


def test_cutoff_by_number_and_short_list_rejected(cases):
    sf = SymmetryFunctions([{"type": 2, "neighbors": ["O"], "eta": 1.0, "r_c": 4.0, "cutoff": 6}])
    assert sf.functions[0]["cutoff"] == "poly2"
    assert sf.cutoff == 4.0
    system = system_of(cases["cubic-2el"])
    nl = NeighborList(3.0, skin=0.5)
    nl.update(system.positions, system.cell, system.pbc)
    with pytest.raises(NeighborListError, match="shorter"):
        sf.compute_system(system, nl)
    nl = listed(sf, system)
    with pytest.raises(InputError, match="dEdG"):
        sf.forces(system, nl, np.zeros((2, 1)))


def test_system_input_isolated_atom_and_columns(cases):
    atoms = cases["cluster-3el"].copy()
    atoms += Atoms("O", positions=[[40.0, 40.0, 40.0]])  # far from everything
    sf = SymmetryFunctions(function_set(["Cl", "H", "Na", "O"], smooth=True))
    G = sf.compute(atoms)
    np.testing.assert_array_equal(sf.compute(system_of(atoms)), G)
    assert np.all(G[-1] == 0.0)
    system = system_of(atoms)
    forces, _ = sf.forces(system, listed(sf, system), np.ones_like(G))
    assert np.all(forces[-1] == 0.0)
    # Columns that apply to an element: those with its centre or none.
    cols = sf.columns("Cl")
    assert all(sf.functions[k]["center"] in (None, "Cl") for k in cols)
    others = np.setdiff1d(np.arange(sf.n_functions), cols)
    assert np.all(G[np.array(atoms.get_chemical_symbols()) == "Cl"][:, others] == 0.0)

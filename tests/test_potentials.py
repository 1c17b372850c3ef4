"""Pair potentials against brute-force sums over images, ASE, finite differences and strain derivatives."""

import numpy as np
import pytest
from ase import Atoms

from echemmd.errors import InputError
from echemmd.forcefield import ForceField
from echemmd.neighbors import NeighborList
from echemmd.potentials import BornMayerHuggins, LennardJones
from echemmd.system import System


def make_system(symbols, positions, cell, pbc=(True, True, True)):
    atoms = Atoms(symbols=symbols, positions=positions, cell=cell, pbc=pbc)
    return System.from_atoms(atoms)


def brute_energy(system, u, rc):
    """Sum of u(r) over pairs and images within rc, no lists."""
    cell, x = system.cell, system.positions
    reach = [int(np.ceil(rc / w)) + 1 if p else 0
             for w, p in zip(np.abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1), system.pbc)]
    imgs = np.array(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")).reshape(3, -1).T
    e = 0.0
    n = len(x)
    for i in range(n):
        for j in range(n):
            d = x[j] + imgs @ cell - x[i]
            r = np.linalg.norm(d, axis=1)
            mask = (r < rc) & (r > 0)
            for rr in r[mask]:
                e += 0.5 * u(rr, system.symbols[i], system.symbols[j])
    return e


def evaluate(system, term, skin=0.5):
    ff = ForceField([term], NeighborList(term.cutoff, skin))
    return ff.compute(system)


def random_liquid(rng, n=40, box=9.0, species=("Ar",), min_dist=2.2, triclinic=False):
    cell = np.eye(3) * box
    if triclinic:
        cell = cell + np.array([[0, 0, 0], [2.1, 0, 0], [-1.3, 1.7, 0]])
    pos = []
    while len(pos) < n:
        p = rng.uniform(0, 1, 3) @ cell
        # Minimum-image check is enough for a rough non-overlapping start.
        ok = True
        for q in pos:
            d = p - q
            d -= np.round(d @ np.linalg.inv(cell)) @ cell
            if np.linalg.norm(d) < min_dist:
                ok = False
                break
        if ok:
            pos.append(p)
    symbols = [species[k % len(species)] for k in range(n)]
    return make_system(symbols, np.array(pos), cell)


LJ = {"Ar-Ar": {"epsilon": 0.0104, "sigma": 3.4}}


def lj_u(eps, sigma, rc):
    def u(r, a=None, b=None):
        f = lambda s: 4 * eps * ((sigma / s) ** 12 - (sigma / s) ** 6)
        return f(r) - f(rc)
    return u


@pytest.mark.parametrize("triclinic", [False, True])
def test_lj_energy_equals_brute_force_and_cutoff_longer_than_half_cell(triclinic):
    rng = np.random.default_rng(0)
    system = random_liquid(rng, n=20, box=7.0, triclinic=triclinic)
    rc = 8.0  # longer than the box: many images of each neighbour
    res = evaluate(system, LennardJones(LJ, cutoff=rc))
    assert res.energy == pytest.approx(brute_energy(system, lj_u(0.0104, 3.4, rc), rc), rel=1e-12)


def test_lj_matches_ase_calculator():
    from ase.calculators.lj import LennardJones as AseLJ

    rng = np.random.default_rng(1)
    system = random_liquid(rng, n=50, box=10.0, triclinic=True)
    atoms = system.to_atoms()
    atoms.calc = AseLJ(epsilon=0.0104, sigma=3.4, rc=6.5, smooth=False)
    res = evaluate(system, LennardJones(LJ, cutoff=6.5))
    assert res.energy == pytest.approx(atoms.get_potential_energy(), rel=1e-11)
    np.testing.assert_allclose(res.forces, atoms.get_forces(), atol=1e-11)
    np.testing.assert_allclose(res.stress(system.volume), _voigt_to_matrix(atoms.get_stress()), atol=1e-12)


def _voigt_to_matrix(v):
    xx, yy, zz, yz, xz, xy = v
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


TOSI_FUMI = {  # NaCl, Tosi–Fumi parameters in eV and Å
    "Na-Na": {"A": 0.2637, "rho": 0.317, "sigma": 2.340, "C": 1.0486, "D": 0.4993},
    "Na-Cl": {"A": 0.2110, "rho": 0.317, "sigma": 2.755, "C": 6.9906, "D": 8.6758},
    "Cl-Cl": {"A": 0.1582, "rho": 0.317, "sigma": 3.170, "C": 72.4022, "D": 145.4285},
}


@pytest.mark.parametrize("term_name", ["lj", "bmh"])
def test_forces_are_minus_gradient_and_virial_is_strain_derivative(term_name):
    rng = np.random.default_rng(2)
    if term_name == "lj":
        system = random_liquid(rng, n=30, box=8.0, triclinic=True)
        term = LennardJones(LJ, cutoff=6.0)
    else:
        system = random_liquid(rng, n=30, box=9.0, species=("Na", "Cl"), min_dist=2.4, triclinic=True)
        term = BornMayerHuggins(TOSI_FUMI, cutoff=7.0)
    res = evaluate(system, term, skin=0.0)
    h = 1e-5
    for i in rng.choice(system.n_atoms, 5, replace=False):
        for k in range(3):
            plus, minus = system.copy(), system.copy()
            plus.positions[i, k] += h
            minus.positions[i, k] -= h
            fd = -(evaluate(plus, term).energy - evaluate(minus, term).energy) / (2 * h)
            assert res.forces[i, k] == pytest.approx(fd, rel=1e-8, abs=2e-7)
    # Virial: W_ab = -dE/d eps_ab for a homogeneous strain x -> (1 + eps) x.
    for a in range(3):
        for b in range(3):
            def strained(e):
                s = system.copy()
                eps = np.eye(3)
                eps[a, b] += e
                s.positions = s.positions @ eps.T
                s.cell = s.cell @ eps.T
                return evaluate(s, term).energy
            fd = -(strained(h) - strained(-h)) / (2 * h)
            assert res.virial[a, b] == pytest.approx(fd, rel=1e-8, abs=1e-6)
    assert np.allclose(res.forces.sum(axis=0), 0.0, atol=1e-10)


def test_bmh_energy_equals_brute_force():
    rng = np.random.default_rng(4)
    system = random_liquid(rng, n=16, box=8.0, species=("Na", "Cl"), min_dist=2.4)
    rc = 6.0
    def u(r, a, b):
        c = TOSI_FUMI[{("Na", "Na"): "Na-Na", ("Cl", "Cl"): "Cl-Cl"}.get((a, b), "Na-Cl")]
        f = lambda s: c["A"] * np.exp((c["sigma"] - s) / c["rho"]) - c["C"] / s**6 - c["D"] / s**8
        return f(r) - f(rc)
    res = evaluate(system, BornMayerHuggins(TOSI_FUMI, cutoff=rc))
    assert res.energy == pytest.approx(brute_energy(system, u, rc), rel=1e-12)


def test_invariance_translation_rotation_permutation():
    rng = np.random.default_rng(5)
    system = random_liquid(rng, n=30, box=9.0, species=("Na", "Cl"), min_dist=2.4, triclinic=True)
    term = BornMayerHuggins(TOSI_FUMI, cutoff=6.0)
    ref = evaluate(system, term)
    moved = system.copy()
    moved.positions += np.array([13.3, -7.1, 2.9])
    assert evaluate(moved, term).energy == pytest.approx(ref.energy, rel=1e-12)
    # Rotate atoms and cell together.
    from scipy.spatial.transform import Rotation
    R = Rotation.from_rotvec([0.3, -1.1, 0.7]).as_matrix()
    rot = system.copy()
    rot.positions = rot.positions @ R.T
    rot.cell = rot.cell @ R.T
    r = evaluate(rot, term)
    assert r.energy == pytest.approx(ref.energy, rel=1e-12)
    np.testing.assert_allclose(r.forces, ref.forces @ R.T, atol=1e-10)
    perm = rng.permutation(system.n_atoms)
    p = System(symbols=[system.symbols[k] for k in perm], numbers=system.numbers[perm], masses=system.masses[perm],
               positions=system.positions[perm], velocities=system.velocities[perm], charges=system.charges[perm],
               cell=system.cell, pbc=system.pbc, tags=system.tags[perm], frozen=system.frozen[perm])
    rp = evaluate(p, term)
    assert rp.energy == pytest.approx(ref.energy, rel=1e-12)
    np.testing.assert_allclose(rp.forces, ref.forces[perm], atol=1e-12)


def test_mixing_and_errors():
    rng = np.random.default_rng(6)
    system = random_liquid(rng, n=10, box=8.0, species=("Ar", "Kr"))
    coeffs = {"Ar-Ar": {"epsilon": 0.0104, "sigma": 3.4}, "Kr-Kr": {"epsilon": 0.014, "sigma": 3.65}}
    with pytest.raises(InputError, match="no coefficients for Ar-Kr"):
        evaluate(system, LennardJones(coeffs, cutoff=6.0))
    lb = LennardJones(coeffs, cutoff=6.0, mixing="lorentz-berthelot")
    explicit = LennardJones(dict(coeffs, **{"Ar-Kr": {"epsilon": np.sqrt(0.0104 * 0.014), "sigma": 3.525}}), cutoff=6.0)
    assert evaluate(system, lb).energy == pytest.approx(evaluate(system, explicit).energy, rel=1e-13)
    with pytest.raises(InputError, match="unknown coefficient"):
        LennardJones({"Ar-Ar": {"epsilon": 1.0, "sigma": 1.0, "A": 2}}, cutoff=5.0)
    with pytest.raises(InputError, match="missing coefficient"):
        BornMayerHuggins({"Na-Cl": {"A": 1.0}}, cutoff=5.0)
    with pytest.raises(InputError, match="allowed: lj, bmh"):
        from echemmd.potentials import PairPotential
        PairPotential("morse", {}, cutoff=5.0)


def test_thread_count_independent():
    import numba

    rng = np.random.default_rng(8)
    system = random_liquid(rng, n=60, box=11.0)
    term = LennardJones(LJ, cutoff=6.0)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = evaluate(system, term)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        b = evaluate(system, term)
    finally:
        numba.set_num_threads(old)
    assert a.energy == b.energy
    np.testing.assert_array_equal(a.forces, b.forces)
    np.testing.assert_array_equal(a.virial, b.virial)


@pytest.mark.parametrize("n,box,cutoff", [(40, 11.0, 6.0), (6, 5.0, 7.0)], ids=["plain", "own-images"])
def test_each_pair_once_equals_a_brute_force_image_sum(n, box, cutoff):
    """Energy, forces and virial of the each-pair-once kernel against a direct sum over periodic
    images, also when atoms see their own images."""
    from echemmd.kernels import pair as kernels

    rng = np.random.default_rng(3)
    system = random_liquid(rng, n=n, box=box)
    term = LennardJones(LJ, cutoff=cutoff, shift=False)
    got = evaluate(system, term)
    (a, b), = [(v["epsilon"], v["sigma"]) for v in LJ.values()][:1]
    c12, c6 = 4 * a * b**12, 4 * a * b**6
    x, cell = system.positions, system.cell
    m = int(np.ceil(cutoff / min(np.diag(cell)))) + 1
    images = np.array([(i, j, k) for i in range(-m, m + 1) for j in range(-m, m + 1) for k in range(-m, m + 1)]) @ cell
    energy, forces, virial = 0.0, np.zeros((n, 3)), np.zeros((3, 3))
    for i in range(n):
        for j in range(n):
            d = x[j] + images - x[i]
            r2 = np.einsum("ij,ij->i", d, d)
            keep = (r2 < cutoff**2) & (r2 > 1e-12)
            for dv, rr in zip(d[keep], r2[keep]):
                e, g = kernels.lennard_jones(rr, c12, c6)
                energy += 0.5 * e
                forces[i] -= g * dv
                virial += 0.5 * g * np.outer(dv, dv)
    assert got.energy == pytest.approx(energy, rel=1e-12)
    np.testing.assert_allclose(got.forces, forces, rtol=0, atol=1e-12 * np.abs(forces).max())
    np.testing.assert_allclose(got.virial, virial, rtol=0, atol=1e-12 * np.abs(virial).max())

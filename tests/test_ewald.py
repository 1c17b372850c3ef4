"""Ewald electrostatics (echemmd.electrostatics.Ewald) against independent oracles.

Oracles: Madelung constants; a textbook numpy 3D Ewald sum and a 2D-periodic (Heyes/Parry)
Ewald sum written again in tests/ewald_oracles.py; closed-form Gaussian pair energies;
finite differences of the energy in positions, strain and charges; symmetry.

Parameters chosen by hand for "exact" comparisons: with alpha r_cut = 6.5 and
k_cut = 13 alpha both truncation errors are ~1e-19 relative, so the energy is a smooth
function of positions and cell (nothing of weight crosses a cutoff) and finite differences
and reference sums can be compared at 1e-9 or better.
"""

import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, make_supercell
from scipy.special import erf

from echemmd.errors import InputError
from echemmd.neighbors import NeighborList
from echemmd.system import System
from echemmd.units import KE

from ewald_oracles import MADELUNG, ewald2d, ewald3d, slab_image_error, switch_s, switch_sum

electrostatics = pytest.importorskip("echemmd.electrostatics")
Ewald = electrostatics.Ewald


def exact(alpha):
    """Hand-set parameters with ~1e-19 truncation error (see module docstring)."""
    return dict(alpha=alpha, r_cut=6.5 / alpha, k_cut=13.0 * alpha)


POINT = exact(0.45)
GAUSS = exact(0.35)  # alpha < 1/gamma_max = 1/(2 * 1.2) for the widths below
SIGMA = {"Na": 0.8, "Cl": 1.2}
SWITCH = (2.0, 5.5)


# --------------------------------------------------------------------------- systems
def make_system(symbols, positions, cell, charges, pbc=(True, True, True)):
    atoms = Atoms(symbols=symbols, positions=positions, cell=cell, pbc=pbc)
    atoms.set_initial_charges(charges)
    return System.from_atoms(atoms)


BULK_CELL = np.array([[8.0, 0.0, 0.0], [1.3, 7.7, 0.0], [-0.9, 1.1, 8.2]])
SLAB_CELL = np.array([[8.0, 0.0, 0.0], [1.5, 7.5, 0.0], [0.0, 0.0, 8.0]])


def random_system(seed, n=8, cell=BULK_CELL, slab=False, net=0.0, min_dist=2.0, zrange=(1.5, 6.5)):
    """n atoms (Na/Cl alternating) with random charges summing to ``net``; slab: z in ``zrange``, pbc T T F."""
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, dtype=float)
    pbc = np.array([True, True, not slab])
    inv = np.linalg.inv(cell)
    pos = []
    while len(pos) < n:
        p = rng.uniform(0.0, 1.0, 3) @ cell
        if slab:
            p[2] = rng.uniform(*zrange)
        ok = True
        for o in pos:
            d = p - o
            d -= (np.round(d @ inv) * pbc) @ cell
            if np.linalg.norm(d) < min_dist:
                ok = False
                break
        if ok:
            pos.append(p)
    q = rng.normal(0.0, 0.7, n)
    q += (net - q.sum()) / n
    return make_system(["Na", "Cl"] * (n // 2) + ["Na"] * (n % 2), np.array(pos), cell, q, pbc)


# (label, system factory, Ewald keyword arguments)
CASES = {
    "bulk-neutral": (lambda: random_system(1), dict(POINT)),
    "bulk-charged-gauss": (lambda: random_system(2, net=0.9), dict(GAUSS, sigma=SIGMA)),
    "bulk-gauss-switch": (lambda: random_system(3, net=-0.4), dict(GAUSS, sigma=SIGMA, switch=SWITCH)),
    "slab-neutral": (lambda: random_system(4, cell=SLAB_CELL, slab=True), dict(POINT)),
    "slab-charged": (lambda: random_system(5, cell=SLAB_CELL, slab=True, net=1.1), dict(POINT)),
    "slab-charged-gauss-switch": (lambda: random_system(6, cell=SLAB_CELL, slab=True, net=-0.7),
                                  dict(GAUSS, sigma=SIGMA, switch=SWITCH)),
}


def fd5(f, h):
    """Five-point central derivative of f at 0."""
    return (8.0 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12.0 * h)


def fd2(f, h):
    """Central derivative of f at 0 (truncation h^2 f3/6 with f3 the third derivative: ~1e-9 relative for the steps used here)."""
    return (f(h) - f(-h)) / (2.0 * h)


def strained(system, a, b, e):
    s = system.copy()
    m = np.eye(3)
    m[a, b] += e
    s.positions = s.positions @ m.T
    s.cell = s.cell @ m.T
    return s


# --------------------------------------------------------------------------- 1. Madelung
def _skewed(atoms):
    # Same lattice, a triclinic supercell of 3 primitive cells: a1, a2, a3 -> mixed integer combinations.
    return make_supercell(atoms, np.array([[1, 1, 0], [0, 1, 1], [1, 0, 2]]))


MADELUNG_CASES = {
    "rocksalt-primitive": ("rocksalt", "NaCl", 5.64, False, False, 0.5),
    "rocksalt-cubic": ("rocksalt", "NaCl", 5.64, True, False, 0.5),
    "rocksalt-triclinic-supercell": ("rocksalt", "NaCl", 5.64, False, True, 0.5),
    "cscl-primitive": ("cesiumchloride", "CsCl", 4.12, False, False, math.sqrt(3) / 2),
    "cscl-triclinic-supercell": ("cesiumchloride", "CsCl", 4.12, False, True, math.sqrt(3) / 2),
    "zincblende-primitive": ("zincblende", "ZnS", 5.41, False, False, math.sqrt(3) / 4),
    "zincblende-cubic": ("zincblende", "ZnS", 5.41, True, False, math.sqrt(3) / 4),
}


@pytest.mark.parametrize("case", list(MADELUNG_CASES))
def test_madelung_constants(case):
    structure, formula, a, cubic, skew, nn_over_a = MADELUNG_CASES[case]
    atoms = bulk(formula, structure, a=a, cubic=cubic)
    if skew:
        atoms = _skewed(atoms)
    cation = atoms.get_chemical_symbols()[0]
    atoms.set_initial_charges([1.0 if s == cation else -1.0 for s in atoms.get_chemical_symbols()])
    system = System.from_atoms(atoms)
    assert abs(system.charges.sum()) < 1e-14
    res = Ewald(accuracy=1e-10).evaluate(system)
    per_pair = res.energy / (len(atoms) / 2)
    expected = -KE * MADELUNG[structure] / (nn_over_a * a)
    assert per_pair == pytest.approx(expected, rel=1e-8)  # observed <= 1.5e-10
    # Forces vanish by symmetry, and the stress is isotropic for cubic lattices.
    assert np.abs(res.forces).max() < 1e-6 * KE
    w = res.virial
    assert np.allclose(w, np.trace(w) / 3 * np.eye(3), atol=1e-6 * abs(np.trace(w)))
    # Coulomb virial of a homogeneous crystal: W = E/3 per diagonal component (E ~ 1/L).
    assert np.trace(w) == pytest.approx(res.energy, rel=1e-6)


# --------------------------------------------------------------------------- reference sums
@pytest.mark.parametrize("label", ["bulk-neutral", "bulk-charged-gauss"])
def test_components_match_reference_ewald(label):
    make, kw = CASES[label]
    system = make()
    ew = Ewald(**kw)
    parts = ew.energy_components(system)
    sigma = ew.widths(system) if kw.get("sigma") else None
    ref = ewald3d(system.positions, system.charges, system.cell, kw["alpha"], kw["r_cut"], kw["k_cut"], sigma)
    scale = abs(ref["real"]) + abs(ref["reciprocal"]) + abs(ref["self"])
    for key in ("real", "reciprocal", "self", "background"):
        assert parts[key] == pytest.approx(ref[key], rel=1e-10, abs=1e-12 * scale), key
    assert parts["slab"] == 0.0
    res = ew.evaluate(system)
    assert res.energy == pytest.approx(sum(parts.values()), rel=1e-13, abs=1e-13 * scale)
    assert res.energy == pytest.approx(ref["total"], rel=1e-10, abs=1e-12 * scale)
    assert res.terms == {"coulomb": res.energy}


# --------------------------------------------------------------------------- 2. alpha / accuracy
@pytest.mark.parametrize("net", [0.0, 1.3])
def test_energy_independent_of_alpha(net):
    system = random_system(11, n=10, net=net)
    results = [Ewald(**exact(alpha)).evaluate(system) for alpha in (0.3, 0.45, 0.7)]
    energies = np.array([r.energy for r in results])
    assert np.ptp(energies) <= 1e-8 * abs(energies[0])
    fmax = np.abs(results[0].forces).max()
    for r in results[1:]:
        np.testing.assert_allclose(r.forces, results[0].forces, rtol=0, atol=1e-8 * fmax)
        np.testing.assert_allclose(r.virial, results[0].virial, rtol=0, atol=1e-8 * np.abs(results[0].virial).max())


@pytest.mark.parametrize("sigma", [None, SIGMA], ids=["point", "gauss"])
@pytest.mark.parametrize("net", [0.0, 0.8])
def test_requested_accuracy_is_met(sigma, net):
    """Parameters chosen from ``accuracy`` give an RMS force error ~ accuracy x (force of two unit charges at 1 Å).

    Kolafa–Perram is an estimate for random systems, so allow a factor 3 on the RMS force
    error; the energy error per atom must be below accuracy x k_e (it is ~0.1 of that).
    """
    system = random_system(12, n=16, cell=BULK_CELL * 9.0 / 8.0, net=net)
    ref = Ewald(**(GAUSS if sigma else POINT), sigma=sigma).evaluate(system)
    for accuracy in (1e-3, 1e-5, 1e-7):
        ew = Ewald(accuracy=accuracy, sigma=sigma)
        res = ew.evaluate(system)
        rms = np.sqrt(np.mean(np.sum((res.forces - ref.forces) ** 2, axis=1)))
        assert rms <= 3.0 * accuracy * KE, (accuracy, ew.params.summary(), rms / (accuracy * KE))
        assert abs(res.energy - ref.energy) / system.n_atoms <= accuracy * KE, (accuracy, ew.params.summary())


# --------------------------------------------------------------------------- 3. forces, virial
@pytest.mark.parametrize("label", list(CASES))
def test_forces_are_minus_gradient(label):
    make, kw = CASES[label]
    system = make()
    ew = Ewald(**kw)
    res = ew.evaluate(system)
    h = 1e-4
    fmax = np.abs(res.forces).max()
    for i in (0, 1, 4, system.n_atoms - 1):
        for k in range(3):
            def energy(d):
                s = system.copy()
                s.positions[i, k] += d
                return ew.evaluate(s).energy
            fd = -fd2(energy, h)
            assert res.forces[i, k] == pytest.approx(fd, rel=1e-6, abs=1e-7 * fmax), (i, k)
    # Total force zero (slab: the correction's total z force -k_e 2 pi/V (2 Q M_z - 2 Q M_z) is zero too).
    assert np.allclose(res.forces.sum(axis=0), 0.0, atol=1e-10 * fmax)


@pytest.mark.parametrize("label", list(CASES))
def test_virial_is_strain_derivative(label):
    """W_ab = -dE/d eps_ab for x -> (1 + eps) x of positions and cell.

    Slab: a, b must stay in the xy plane and c along z, so only the in-plane block and zz are
    cell strains. The x-z and y-z components are checked with a shear of the positions alone
    (x -> x + eps z): z is not periodic, so that is the same deformation up to the slab
    padding's images (an error ~1e-7 relative here, see test_slab_converges_to_2d_ewald_sum).
    """
    make, kw = CASES[label]
    system = make()
    ew = Ewald(**kw)
    res = ew.evaluate(system)
    slab = not system.pbc[2]
    h = 1e-5
    wmax = np.abs(res.virial).max()
    pairs = [(a, b) for a in range(3) for b in range(3)]
    if slab:
        pairs = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2)]
    for a, b in pairs:
        fd = -fd2(lambda e: ew.evaluate(strained(system, a, b, e)).energy, h)
        assert res.virial[a, b] == pytest.approx(fd, rel=1e-6, abs=1e-7 * wmax), (a, b)
    if slab:
        for a in (0, 1):
            def sheared(e):
                s = system.copy()
                s.positions[:, a] += e * s.positions[:, 2]
                return ew.evaluate(s).energy
            fd = -fd2(sheared, h)
            assert res.virial[a, 2] == pytest.approx(fd, rel=1e-5, abs=1e-6 * wmax), (a, 2)
    else:
        np.testing.assert_allclose(res.virial, res.virial.T, atol=1e-10 * wmax)


@pytest.mark.parametrize("label", ["slab-neutral", "slab-charged"])
def test_slab_virial_does_not_depend_on_the_image_of_an_atom(label):
    """The same configuration (an atom replaced by its periodic image along a or b) has the same virial.

    Positions are kept unwrapped during a run, so any term that multiplies an in-plane
    coordinate x_i (not a difference of positions) drifts as atoms diffuse.
    """
    make, kw = CASES[label]
    system = make()
    ew = Ewald(**kw)
    ref = ew.evaluate(system)
    moved = system.copy()
    moved.positions[0] += 3 * system.cell[0] - 2 * system.cell[1]
    moved.positions[3] -= system.cell[1]
    res = ew.evaluate(moved)
    assert res.energy == pytest.approx(ref.energy, rel=1e-12)
    np.testing.assert_allclose(res.forces, ref.forces, rtol=0, atol=1e-10 * np.abs(ref.forces).max())
    np.testing.assert_allclose(res.virial, ref.virial, rtol=0, atol=1e-10 * np.abs(ref.virial).max())


# --------------------------------------------------------------------------- 4. Gaussian charges
@pytest.mark.parametrize("charges", [(0.8, -0.8), (1.0, 0.5)], ids=["neutral", "charged"])
def test_gaussian_pair_in_large_cell(charges):
    """E(Gaussians) = E(point charges, same cell) + k_e q1 q2 (erf(r/gamma) - 1)/r + sum k_e q^2/(2 sqrt(pi) sigma).

    In a 60 Å cell the Gaussian and point-charge image interactions differ by
    erfc(r/gamma) with r >= 57 Å, gamma ~ 2.2 Å: zero in double precision. The point-charge
    sum (images, background) comes from the independent numpy Ewald of the same cell.
    """
    L = 60.0
    sigma = np.array([0.7, 1.05])
    q = np.array(charges)
    x = np.array([[30.0, 29.0, 31.0], [31.7, 30.6, 31.9]])
    r = np.linalg.norm(x[1] - x[0])
    gamma = math.sqrt(2 * (sigma**2).sum())
    system = make_system(["Na", "Cl"], x, np.eye(3) * L, q)
    res = Ewald(accuracy=1e-12, sigma=sigma).evaluate(system)
    point = ewald3d(x, q, np.eye(3) * L, 0.15, 6.5 / 0.15, 13 * 0.15)["total"]
    expected = point + KE * q[0] * q[1] * (erf(r / gamma) - 1.0) / r + KE * np.sum(q**2 / (2 * math.sqrt(math.pi) * sigma))
    assert res.energy == pytest.approx(expected, rel=1e-10)  # observed ~1e-13
    # The same with a per-element dict of widths and with parameters set by hand.
    res2 = Ewald(sigma={"Na": 0.7, "Cl": 1.05}, **exact(0.2)).evaluate(system)
    assert res2.energy == pytest.approx(expected, rel=1e-10)
    # The force on atom 1 is the Gaussian-pair force plus the (point) image force.
    d = (x[1] - x[0]) / r
    dphi = (2 / math.sqrt(math.pi) * math.exp(-(r / gamma) ** 2) / (gamma * r) - erf(r / gamma) / r**2)
    f_pair = -KE * q[0] * q[1] * dphi * d
    point_sys = make_system(["Na", "Cl"], x, np.eye(3) * L, q)
    f_point = Ewald(**exact(0.2)).evaluate(point_sys).forces[1]
    f_images = f_point - KE * q[0] * q[1] / r**2 * d
    np.testing.assert_allclose(res2.forces[1], f_pair + f_images, rtol=0, atol=1e-9 * np.abs(f_pair).max())
    np.testing.assert_allclose(res2.forces[0], -res2.forces[1], rtol=0, atol=1e-12)


def test_single_gaussian_self_energy():
    ew = Ewald(sigma=[0.9], **exact(0.25))
    q = 0.6
    parts = ew.energy_components(make_system(["Na"], [[1.0, 2.0, 3.0]], np.eye(3) * 40.0, [q]))
    ref = ewald3d([[1.0, 2.0, 3.0]], [q], np.eye(3) * 40.0, 0.25, 26.0, 3.25)
    # Self part = Gaussian self energy - the alpha self-interaction; the rest is the lattice of images.
    assert parts["self"] == pytest.approx(KE * q**2 * (1 / (2 * math.sqrt(math.pi) * 0.9) - 0.25 / math.sqrt(math.pi)),
                                          rel=1e-13)
    assert parts["background"] == pytest.approx(-KE * math.pi * q**2 / (2 * 40.0**3 * 0.25**2), rel=1e-13)
    assert sum(parts.values()) == pytest.approx(ref["total"] + KE * q**2 / (2 * math.sqrt(math.pi) * 0.9), rel=1e-10)


# --------------------------------------------------------------------------- 5. slab
SLAB_FACTORS = (2.0, 3.0, 4.0, 6.0, 12.0)


@pytest.mark.parametrize("net", [0.0, 1.1], ids=["neutral", "charged"])
def test_slab_converges_to_2d_ewald_sum(net):
    """Padded 3D Ewald + Ballenegger–Arnold–Cerda correction -> 2D Ewald sum as slab_factor grows.

    The remaining error is the k != 0 interaction with the z-images of the slab
    (ewald_oracles.slab_image_error), ~exp(-G_min (L_pad - z_span)): at the default
    slab_factor 3 with an 8 Å in-plane cell and a 5 Å thick slab in an 8 Å cell it is
    ~5e-7 eV; the module must reproduce E_2D + that prediction to 1e-9 relative at every
    slab_factor, and so converge exponentially.
    """
    system = random_system(21, n=10, cell=SLAB_CELL, slab=True, net=net)
    e2d = ewald2d(system.positions, system.charges, system.cell)
    assert ewald2d(system.positions, system.charges, system.cell, alpha=0.9) == pytest.approx(e2d, rel=1e-13)
    errors = []
    for factor in SLAB_FACTORS:
        ew = Ewald(slab_factor=factor, **POINT)
        energy = ew.evaluate(system).energy
        assert ew.params.slab
        assert ew.params.volume == pytest.approx(system.volume * factor, rel=1e-14)
        predicted = slab_image_error(system.positions, system.charges, system.cell, factor * system.cell[2, 2])
        errors.append(energy - e2d)
        assert energy - e2d == pytest.approx(predicted, abs=1e-10 * abs(e2d)), factor
    errors = np.abs(errors)
    assert np.all(errors[:3] > 100 * errors[1:4])  # exponential convergence: 2 -> 3 -> 4 -> 6
    assert errors[-1] < 1e-11 * abs(e2d)
    # Default slab_factor 3 and parameters from the accuracy: error = image term + accuracy.
    ew = Ewald(accuracy=1e-8)
    energy = ew.evaluate(system).energy
    bound = abs(slab_image_error(system.positions, system.charges, system.cell, 3.0 * system.cell[2, 2]))
    assert abs(energy - e2d) <= bound + 1e-8 * KE * system.n_atoms


@pytest.mark.parametrize("net", [0.0, 1.1], ids=["neutral", "charged"])
def test_slab_forces_match_2d_ewald_sum(net):
    system = random_system(22, n=8, cell=SLAB_CELL, slab=True, net=net)
    h = 1e-3
    fd = np.zeros((system.n_atoms, 3))
    for i in range(system.n_atoms):
        for k in range(3):
            def energy(d):
                x = system.positions.copy()
                x[i, k] += d
                return ewald2d(x, system.charges, system.cell)
            fd[i, k] = -fd5(energy, h)
    fmax = np.abs(fd).max()
    far = Ewald(slab_factor=12.0, **POINT).evaluate(system).forces
    np.testing.assert_allclose(far, fd, rtol=0, atol=1e-9 * fmax)  # observed 1e-12
    # slab_factor 3: the z-image term of test_slab_converges_to_2d_ewald_sum, ~1e-7 of the forces here.
    default = Ewald(**POINT).evaluate(system).forces
    np.testing.assert_allclose(default, fd, rtol=0, atol=1e-6 * fmax)


@pytest.mark.parametrize("net", [0.0, 1.1], ids=["neutral", "charged"])
def test_slab_correction_term(net):
    system = random_system(23, n=8, cell=SLAB_CELL, slab=True, net=net)
    ew = Ewald(slab_factor=3.0, **POINT)
    parts = ew.energy_components(system)
    q, z = system.charges, system.positions[:, 2]
    lz = 3.0 * system.cell[2, 2]
    v = system.volume * 3.0
    expected = KE * 2 * math.pi / v * ((q @ z) ** 2 - q.sum() * (q @ z**2) - q.sum() ** 2 * lz**2 / 12)
    assert parts["slab"] == pytest.approx(expected, rel=1e-12, abs=1e-14)
    assert parts["background"] == pytest.approx(-KE * math.pi * q.sum() ** 2 / (2 * v * POINT["alpha"] ** 2), rel=1e-12,
                                                abs=1e-14)


# --------------------------------------------------------------------------- 6. phi and A v
@pytest.mark.parametrize("label", ["bulk-neutral", "bulk-charged-gauss", "bulk-gauss-switch", "slab-charged",
                                   "slab-charged-gauss-switch"])
def test_potential_is_charge_derivative(label):
    """phi_i = dE/dq_i. E is quadratic in q, so the central difference is exact (up to rounding)."""
    make, kw = CASES[label]
    system = make()
    ew = Ewald(**kw)
    phi = ew.potential(system)
    e0 = ew.evaluate(system).energy
    h = 0.05
    for i in (0, 3, system.n_atoms - 1):
        def energy(d):
            s = system.copy()
            s.charges[i] += d
            return ew.evaluate(s).energy
        fd = (energy(h) - energy(-h)) / (2 * h)
        assert phi[i] == pytest.approx(fd, rel=1e-9, abs=1e-11 * abs(e0)), i
    # Changing a charge changes the net charge: the background (and slab) terms must follow.
    assert ew.params.alpha == kw["alpha"]


@pytest.mark.parametrize("label", ["bulk-neutral", "bulk-gauss-switch", "slab-charged-gauss-switch"])
def test_matvec_symmetric_linear_and_quadratic(label):
    make, kw = CASES[label]
    system = make()
    ew = Ewald(**kw)
    rng = np.random.default_rng(31)
    u, v = rng.normal(size=(2, system.n_atoms))
    au, av = ew.matvec(system, u), ew.matvec(system, v)
    assert u @ av == pytest.approx(v @ au, rel=1e-12, abs=1e-12 * np.abs(au).max())
    a_lin = ew.matvec(system, 2.5 * u - 0.75 * v)
    np.testing.assert_allclose(a_lin, 2.5 * au - 0.75 * av, rtol=0, atol=1e-12 * np.abs(a_lin).max())
    q = system.charges
    aq = ew.matvec(system, q)
    energy = ew.evaluate(system).energy
    assert 0.5 * q @ aq == pytest.approx(energy, rel=1e-12)
    np.testing.assert_array_equal(ew.potential(system, charges=v), av)
    np.testing.assert_allclose(ew.potential(system), aq, rtol=0, atol=1e-13 * np.abs(aq).max())
    # The Hessian column by column is symmetric.
    cols = np.array([ew.matvec(system, e) for e in np.eye(system.n_atoms)])
    np.testing.assert_allclose(cols, cols.T, rtol=0, atol=1e-12 * np.abs(cols).max())
    # With an external neighbour list the results are the same.
    nl = NeighborList(ew.cutoff + 0.3, skin=0.5)
    np.testing.assert_allclose(ew.matvec(system, v, neighbors=nl), av, rtol=0, atol=1e-12 * np.abs(av).max())
    c = ew.compute(system, nl)
    assert c.energy == pytest.approx(energy, rel=1e-13)


# --------------------------------------------------------------------------- 7. switch
@pytest.mark.parametrize("label", ["bulk-gauss-switch", "slab-charged-gauss-switch"])
def test_switch_removes_short_range_coulomb(label):
    make, kw = CASES[label]
    system = make()
    plain = dict(kw)
    r_on, r_off = plain.pop("switch")
    with_switch = Ewald(**kw).evaluate(system).energy
    without = Ewald(**plain).evaluate(system).energy
    sig = np.array([SIGMA[s] for s in system.symbols])
    removed = switch_sum(system.positions, system.charges, system.cell, system.pbc, sig, r_on, r_off)
    assert abs(removed) > 0.1
    assert with_switch == pytest.approx(without - removed, rel=1e-11, abs=1e-11 * abs(removed))


def test_switch_with_point_charges_and_long_r_off():
    """Point charges (erf -> 1) and r_off longer than half the cell: several images per pair."""
    system = random_system(41, n=6, cell=BULK_CELL * 0.8)
    r_on, r_off = 1.5, 7.0
    e_sw = Ewald(switch=(r_on, r_off), **POINT).evaluate(system).energy
    e0 = Ewald(**POINT).evaluate(system).energy
    removed = switch_sum(system.positions, system.charges, system.cell, system.pbc, None, r_on, r_off)
    assert e_sw == pytest.approx(e0 - removed, rel=1e-11, abs=1e-11 * abs(removed))


@pytest.mark.parametrize("where", ["r_on", "r_off"])
def test_switch_is_c2_across_r_on_and_r_off(where):
    """Scan one pair distance d across r_on / r_off: E, dE/dd and d2E/dd2 are continuous.

    Two opposite Gaussian charges in a 14 Å cell (images stay beyond r_off). A C1-only switch
    (S'' != 0 at the ends) would make d2E/dd2 jump by ~S''(0) f/(r_off - r_on)^2 ~ 6 f/w^2; the
    quintic's second derivative changes only by ~E''' x 6h across the point.
    """
    r_on, r_off = SWITCH
    point = r_on if where == "r_on" else r_off
    sigma = np.array([0.8, 1.2])
    q = np.array([0.9, -0.7])
    L = 14.0
    ew = Ewald(sigma=sigma, switch=SWITCH, **GAUSS)
    direction = np.array([0.6, 0.48, 0.64])
    direction /= np.linalg.norm(direction)
    origin = np.array([3.0, 3.5, 2.5])

    def result(d):
        x = np.array([origin, origin + d * direction])
        return ew.evaluate(make_system(["Na", "Cl"], x, np.eye(3) * L, q))

    def energy(d):
        return result(d).energy

    eps = 1e-9
    lo, hi = result(point - eps), result(point + eps)
    f_lo, f_hi = lo.forces[1] @ direction, hi.forces[1] @ direction
    # E(point + eps) - E(point - eps) = -2 eps F: no step.
    assert hi.energy - lo.energy == pytest.approx(-eps * (f_lo + f_hi), abs=1e-12 * max(1.0, abs(lo.energy)))
    assert f_hi == pytest.approx(f_lo, abs=1e-8)
    h = 2e-5

    def d2(d):
        return (energy(d + h) - 2 * energy(d) + energy(d - h)) / h**2

    gamma = math.sqrt(2 * (sigma**2).sum())
    f = KE * abs(q[0] * q[1]) * erf(point / gamma) / point
    scale = f / (r_off - r_on) ** 2  # a C2 break would be ~6 x scale
    jump = d2(point + 3 * h) - d2(point - 3 * h)
    assert abs(jump) < 0.05 * scale, (jump, scale)
    # The force is the derivative along the scan on both sides.
    for d in (point - 0.05, point + 0.05):
        fd = -fd5(lambda e: energy(d + e), 1e-3)
        assert result(d).forces[1] @ direction == pytest.approx(fd, rel=1e-7, abs=1e-9)
    # And the switched part is exactly the closed form along the scan.
    plain = Ewald(sigma=sigma, **GAUSS)
    for d in (point - 0.3, point - 0.01, point + 0.01, point + 0.3):
        x = np.array([origin, origin + d * direction])
        s = make_system(["Na", "Cl"], x, np.eye(3) * L, q)
        expected = plain.evaluate(s).energy - (1 - switch_s(d, r_on, r_off)) * KE * q[0] * q[1] * erf(d / gamma) / d
        assert energy(d) == pytest.approx(expected, rel=1e-12, abs=1e-12)


# --------------------------------------------------------------------------- 8. invariance
def _permuted(system, perm):
    return System(symbols=[system.symbols[k] for k in perm], numbers=system.numbers[perm], masses=system.masses[perm],
                  positions=system.positions[perm], velocities=system.velocities[perm], charges=system.charges[perm],
                  cell=system.cell, pbc=system.pbc, tags=system.tags[perm], frozen=system.frozen[perm])


@pytest.mark.parametrize("label", ["bulk-neutral", "bulk-charged-gauss", "bulk-gauss-switch"])
def test_bulk_invariance(label):
    from scipy.spatial.transform import Rotation

    make, kw = CASES[label]
    system = make()
    ref = Ewald(**kw).evaluate(system)
    fmax = np.abs(ref.forces).max()
    moved = system.copy()
    moved.positions += np.array([13.3, -7.1, 2.9])
    r = Ewald(**kw).evaluate(moved)
    assert r.energy == pytest.approx(ref.energy, rel=1e-12)
    np.testing.assert_allclose(r.forces, ref.forces, rtol=0, atol=1e-11 * fmax)
    np.testing.assert_allclose(r.virial, ref.virial, rtol=0, atol=1e-11 * np.abs(ref.virial).max())
    R = Rotation.from_rotvec([0.3, -1.1, 0.7]).as_matrix()
    rot = system.copy()
    rot.positions = rot.positions @ R.T
    rot.cell = rot.cell @ R.T
    r = Ewald(**kw).evaluate(rot)
    assert r.energy == pytest.approx(ref.energy, rel=1e-11)
    np.testing.assert_allclose(r.forces, ref.forces @ R.T, rtol=0, atol=1e-10 * fmax)
    np.testing.assert_allclose(r.virial, R @ ref.virial @ R.T, rtol=0, atol=1e-10 * np.abs(ref.virial).max())
    perm = np.random.default_rng(7).permutation(system.n_atoms)
    r = Ewald(**kw).evaluate(_permuted(system, perm))
    assert r.energy == pytest.approx(ref.energy, rel=1e-12)
    np.testing.assert_allclose(r.forces, ref.forces[perm], rtol=0, atol=1e-11 * fmax)


@pytest.mark.parametrize("label", ["slab-neutral", "slab-charged", "slab-charged-gauss-switch"])
def test_slab_invariance(label):
    make, kw = CASES[label]
    system = make()
    ref = Ewald(**kw).evaluate(system)
    fmax = np.abs(ref.forces).max()
    for shift in ([5.3, -11.2, 0.0], [0.0, 0.0, 1.2], [0.7, 2.1, -1.4]):
        moved = system.copy()
        moved.positions += np.array(shift)
        r = Ewald(**kw).evaluate(moved)
        assert r.energy == pytest.approx(ref.energy, rel=1e-12), shift
        np.testing.assert_allclose(r.forces, ref.forces, rtol=0, atol=1e-11 * fmax)
    # Rotation about z (a, b stay in the plane): energy invariant, forces rotate.
    t = 0.83
    R = np.array([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0], [0.0, 0.0, 1.0]])
    rot = system.copy()
    rot.positions = rot.positions @ R.T
    rot.cell = rot.cell @ R.T
    r = Ewald(**kw).evaluate(rot)
    assert r.energy == pytest.approx(ref.energy, rel=1e-11)
    np.testing.assert_allclose(r.forces, ref.forces @ R.T, rtol=0, atol=1e-10 * fmax)
    perm = np.random.default_rng(8).permutation(system.n_atoms)
    r = Ewald(**kw).evaluate(_permuted(system, perm))
    assert r.energy == pytest.approx(ref.energy, rel=1e-12)
    np.testing.assert_allclose(r.forces, ref.forces[perm], rtol=0, atol=1e-11 * fmax)


def test_one_term_follows_the_species_of_each_system():
    """One Ewald object evaluating two structures with the same cell and N but other species order.

    (E.g. ``echemmd eval`` over the frames of a data set.) Widths per element must follow the
    atoms of the system evaluated, not those seen at setup.
    """
    make, kw = CASES["bulk-charged-gauss"]
    system = make()
    perm = np.random.default_rng(9).permutation(system.n_atoms)
    permuted = _permuted(system, perm)
    ew = Ewald(**kw)
    ew.evaluate(system)
    assert ew.evaluate(permuted).energy == pytest.approx(Ewald(**kw).evaluate(permuted).energy, rel=1e-12)


def test_parameters_stay_fixed_until_setup_is_called_again():
    """API contract: compute() sets up on first use only; a new cell keeps alpha, r_cut and k_cut."""
    system = random_system(51)
    ew = Ewald(accuracy=1e-6)
    params = ew.setup(system)
    alpha, r_cut, k_cut = params.alpha, params.r_cut, params.k_cut
    ew.evaluate(strained(system, 0, 0, 0.05))
    assert (ew.params.alpha, ew.params.r_cut, ew.params.k_cut) == (alpha, r_cut, k_cut)
    new = ew.setup(strained(system, 0, 0, 0.05))
    assert new.alpha != alpha or new.r_cut != r_cut or new.k_cut != k_cut


@pytest.mark.parametrize("label", ["bulk-charged-gauss", "slab-charged-gauss-switch"])
def test_thread_count_independent(label):
    import numba

    make, kw = CASES[label]
    system = make()
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = Ewald(**kw).evaluate(system)
        pa = Ewald(**kw).potential(system)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        b = Ewald(**kw).evaluate(system)
        pb = Ewald(**kw).potential(system)
    finally:
        numba.set_num_threads(old)
    # Races lose whole contributions; the kernels' fixed chunking makes the sums identical.
    assert a.energy == b.energy
    np.testing.assert_array_equal(a.forces, b.forces)
    np.testing.assert_array_equal(a.virial, b.virial)
    np.testing.assert_array_equal(pa, pb)


# --------------------------------------------------------------------------- 9. errors
def test_input_errors():
    slab = random_system(61, n=4, cell=SLAB_CELL, slab=True)

    def tilted(row, vec):
        s = slab.copy()
        s.cell[row] = vec
        return s

    with pytest.raises(InputError, match=r"c along \+z"):
        Ewald(**POINT).evaluate(tilted(2, [1.0, 0.0, 8.0]))
    with pytest.raises(InputError, match="xy plane"):
        Ewald(**POINT).evaluate(tilted(0, [8.0, 0.0, 0.5]))
    wire = slab.copy()
    wire.pbc = np.array([True, False, False])
    with pytest.raises(InputError, match=r"pbc"):
        Ewald(**POINT).evaluate(wire)
    tall = slab.copy()
    tall.positions[0, 2] = 10.0
    tall.positions[1, 2] = 0.5
    with pytest.raises(InputError, match="c_z"):
        Ewald(**POINT).evaluate(tall)
    gauss = random_system(62, n=4)
    with pytest.raises(InputError, match=r"alpha.*1/gamma_max"):
        Ewald(alpha=0.5, sigma=SIGMA).setup(gauss)  # gamma_max = 2.4 Å
    with pytest.raises(InputError, match=r"sigma.*Xe"):
        Ewald(sigma={"Na": 1.0, "Xe": 1.0}).setup(gauss)
    with pytest.raises(InputError, match=r"sigma.*3 values for 4 atoms"):
        Ewald(sigma=[1.0, 1.0, 1.0]).setup(gauss)
    with pytest.raises(InputError, match=r"sigma.*>= 0"):
        Ewald(sigma={"Na": -1.0, "Cl": 1.0}).setup(gauss)
    with pytest.raises(InputError, match=r"switch.*r_on < r_off"):
        Ewald(switch=(5.0, 4.0))
    with pytest.raises(InputError, match=r"slab_factor.*>= 1"):
        Ewald(slab_factor=0.5)
    with pytest.raises(InputError, match=r"accuracy"):
        Ewald(accuracy=0.0)
    for key in ("alpha", "r_cut", "k_cut"):
        with pytest.raises(InputError, match=key):
            Ewald(**{key: -1.0})
    with pytest.raises(InputError, match=r"r_cut.*r_off"):
        Ewald(alpha=0.3, r_cut=4.0, switch=(2.0, 5.0)).setup(gauss)
    ew = Ewald(**POINT)
    ew.setup(gauss)
    with pytest.raises(InputError, match=r"neighbour list cutoff"):
        ew.compute(gauss, NeighborList(5.0))


@pytest.mark.parametrize("n,box,sigma,switch", [(6, 6.0, 0.0, None), (12, 9.0, 0.8, (1.0, 4.0))],
                         ids=["own-images-point", "gaussian-switched"])
def test_real_space_kernel_equals_a_brute_force_image_sum(n, box, sigma, switch):
    """The each-pair-once real-space kernel against a direct sum of the pair kernel over periodic
    images: potentials, forces and virial, also when atoms see their own images."""
    from echemmd.kernels import ewald as kernels

    rng = np.random.default_rng(4)
    cell = np.diag([box, box * 1.05, box * 0.95]) + rng.normal(0, 0.3, (3, 3))
    atoms = Atoms(["Na"] * n, positions=rng.uniform(0, 1, (n, 3)) @ cell, cell=cell, pbc=True)
    q = rng.normal(0, 1, n)
    atoms.set_initial_charges(q)
    system = System.from_atoms(atoms)
    ew = Ewald(accuracy=1e-6, sigma=np.full(n, sigma) if sigma else None, switch=switch)
    ew.setup(system)
    p = ew.params
    nl = NeighborList(p.r_cut, 0.0)
    nl.build(system.positions, system.cell, system.pbc)
    r_on, r_off = switch or (0.0, 0.0)
    phi, forces, virial = kernels.real_space(system.positions, system.cell, system.charges, ew._sigma, *nl.half,
                                             p.alpha, p.r_cut, r_on, r_off, KE, True)
    x = system.positions
    m = int(np.ceil(p.r_cut / min(np.linalg.norm(cell, axis=1)))) + 2
    images = np.array([(i, j, k) for i in range(-m, m + 1) for j in range(-m, m + 1) for k in range(-m, m + 1)]) @ cell
    gamma = np.sqrt(4.0) * sigma
    phi_ref, f_ref, w_ref = np.zeros(n), np.zeros((n, 3)), np.zeros((3, 3))
    for i in range(n):
        for j in range(n):
            d = x[j] + images - x[i]
            r = np.linalg.norm(d, axis=1)
            keep = (r < p.r_cut) & (r > 1e-9)
            for dv, rr in zip(d[keep], r[keep]):
                f, df = kernels.real_space_pair(rr, p.alpha, gamma, r_on, r_off)
                phi_ref[i] += KE * q[j] * f
                g = -KE * q[i] * q[j] * df / rr
                f_ref[i] -= g * dv
                w_ref += 0.5 * g * np.outer(dv, dv)
    np.testing.assert_allclose(phi, phi_ref, rtol=0, atol=1e-11 * np.abs(phi_ref).max())
    np.testing.assert_allclose(forces, f_ref, rtol=0, atol=1e-11 * np.abs(f_ref).max())
    np.testing.assert_allclose(virial, w_ref, rtol=0, atol=1e-11 * np.abs(w_ref).max())


@pytest.mark.parametrize("slab", [False, True])
def test_potential_at_a_subset_equals_the_full_potential(slab):
    """Ewald.potential_at(indices) is the full potential at those atoms (bulk and slab, Gaussian)."""
    rng = np.random.default_rng(6)
    n = 40
    cell = np.diag([12.0, 12.5, 30.0 if slab else 13.0])
    pos = rng.uniform(0, 1, (n, 3)) @ np.diag([12.0, 12.5, 12.0])
    atoms = Atoms(["Na"] * n, positions=pos, cell=cell, pbc=(True, True, not slab))
    q = rng.normal(0, 1, n)
    atoms.set_initial_charges(q - q.mean() + 0.3)
    system = System.from_atoms(atoms)
    ew = Ewald(accuracy=1e-8, sigma=np.full(n, 0.7))
    ew.setup(system)
    idx = np.array([3, 0, 17, 39, 22])
    np.testing.assert_allclose(ew.potential_at(system, idx), ew.potential(system)[idx], rtol=0, atol=1e-12)


@pytest.mark.parametrize("switch", [None, (1.0, 4.0)])
def test_gaussian_pair_function_equals_the_erf_formula_across_its_reach(switch):
    """f(r) = [S erf(r/gamma) - erf(alpha r)] / r and df/dr against scipy, on both sides of
    r = GAUSSIAN_REACH gamma, where erfc(r/gamma) is dropped (Gaussians as point charges)."""
    from echemmd.kernels import ewald as kernels

    alpha, gamma = 0.3, 0.5
    r_on, r_off = switch or (0.0, 0.0)
    reach = kernels.GAUSSIAN_REACH * gamma
    for r in np.concatenate([np.linspace(0.2, 12.0, 301), reach * (1.0 + np.array([-1e-9, 0.0, 1e-9]))]):
        s, ds = kernels.switch(r, r_on, r_off)
        num = s * erf(r / gamma) - erf(alpha * r)
        dnum = (ds * erf(r / gamma) + s * 2.0 / np.sqrt(np.pi) / gamma * np.exp(-(r / gamma) ** 2)
                - 2.0 / np.sqrt(np.pi) * alpha * np.exp(-(alpha * r) ** 2))
        f, df = kernels.real_space_pair(r, alpha, gamma, r_on, r_off)
        # Tolerances: a few ulps of the terms that enter each expression.
        assert abs(f - num / r) <= 1e-15 * max(1.0, abs(f)), r
        assert abs(df - (dnum - num / r) / r) <= 1e-15 * max(1.0, (abs(dnum) + abs(num / r)) / r), r

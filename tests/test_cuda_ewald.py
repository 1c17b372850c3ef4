"""CUDA Ewald kernels against the CPU kernels and the CPU ``Ewald`` class (numba's CUDA simulator in CI).

Small systems (16 charges) and few k-vectors (k_cut chosen by hand, tens to about a hundred
vectors): the simulator runs every thread as Python. The CUDA and CPU sums run in different
orders (full list against half list, sincospi phases against recurrences), so results agree to
rounding: 1e-10 relative to the largest entry of each array.
"""

import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")

from ase import Atoms  # noqa: E402

from echemmd.electrostatics import Ewald  # noqa: E402
from echemmd.kernels import ewald as cpu  # noqa: E402
from echemmd.kernels.cuda import ewald as gpu  # noqa: E402
from echemmd.neighbors import build_neighbor_list  # noqa: E402
from echemmd.system import System  # noqa: E402
from echemmd.units import KE  # noqa: E402

RTOL = 1e-10
BULK_CELL = np.array([[8.0, 0.0, 0.0], [1.3, 7.7, 0.0], [-0.9, 1.1, 8.2]])
SLAB_CELL = np.array([[8.0, 0.0, 0.0], [1.5, 7.5, 0.0], [0.0, 0.0, 8.0]])
POINT = dict(alpha=0.45, r_cut=5.0, k_cut=2.2)
GAUSS = dict(alpha=0.35, r_cut=5.0, k_cut=2.0)  # alpha < 1/gamma_max = 1/(2 * 1.2)
SIGMA = {"Na": 0.8, "Cl": 1.2}
SWITCH = (2.0, 4.5)


def random_system(seed, n=16, cell=BULK_CELL, slab=False, net=0.0, min_dist=1.8, zrange=(1.5, 6.5)):
    """n atoms (Na/Cl alternating) with random charges summing to ``net``; slab: z in ``zrange``, pbc T T F."""
    rng = np.random.default_rng(seed)
    pbc = np.array([True, True, not slab])
    inv = np.linalg.inv(cell)
    pos = []
    while len(pos) < n:
        p = rng.uniform(0.0, 1.0, 3) @ cell
        if slab:
            p[2] = rng.uniform(*zrange)
        d = np.array(pos).reshape(-1, 3) - p
        d -= (np.round(d @ inv) * pbc) @ cell
        if not len(pos) or np.linalg.norm(d, axis=1).min() >= min_dist:
            pos.append(p)
    q = rng.normal(0.0, 0.7, n)
    q += (net - q.sum()) / n
    atoms = Atoms(symbols=["Na", "Cl"] * (n // 2), positions=np.array(pos), cell=cell, pbc=pbc)
    atoms.set_initial_charges(q)
    return System.from_atoms(atoms)


# (system factory, Ewald keyword arguments)
CASES = {
    "bulk-neutral": (lambda: random_system(1), POINT),
    "bulk-charged-gauss": (lambda: random_system(2, net=0.9), dict(GAUSS, sigma=SIGMA)),
    "bulk-gauss-switch": (lambda: random_system(3, net=-0.4), dict(GAUSS, sigma=SIGMA, switch=SWITCH)),
    "slab-neutral": (lambda: random_system(4, cell=SLAB_CELL, slab=True), POINT),
    "slab-charged": (lambda: random_system(5, cell=SLAB_CELL, slab=True, net=1.1), POINT),
    "slab-charged-gauss-switch": (lambda: random_system(6, cell=SLAB_CELL, slab=True, net=-0.7),
                                  dict(GAUSS, sigma=SIGMA, switch=SWITCH)),
}


def setup(label):
    """(system, Ewald set up for it, device parameters, full list, half list)."""
    make, kw = CASES[label]
    system = make()
    ew = Ewald(**kw)
    ew.setup(system)
    p = ew.params
    params = gpu.upload(p.alpha, p.r_cut, ew.switch, p.volume, p.slab, p.cell, ew._kidx, ew._kvec, ew._weight,
                        ew._ksq, ew._sigma)
    full = build_neighbor_list(system.positions, system.cell, system.pbc, p.r_cut, half=False)
    half = build_neighbor_list(system.positions, system.cell, system.pbc, p.r_cut, half=True)
    return system, ew, params, full, half


def close(device_value, expected, what=""):
    """Device array equal to ``expected`` within RTOL of the largest |entry|; returns the relative deviation."""
    got = device_value.copy_to_host() if hasattr(device_value, "copy_to_host") else np.asarray(device_value)
    expected = np.asarray(expected)
    scale = max(np.abs(expected).max(), 1e-300)
    np.testing.assert_allclose(got, expected, rtol=0, atol=RTOL * scale, err_msg=what)
    return np.abs(got - expected).max() / scale


def frac_of(system, ew):
    return np.ascontiguousarray(system.positions @ np.linalg.inv(ew.params.cell))


# ---------------------------------------------------------------------------- kernels against kernels
@pytest.mark.parametrize("label", ["bulk-charged-gauss", "bulk-gauss-switch", "slab-neutral"])
@pytest.mark.parametrize("with_targets", [False, True])
def test_real_space_equals_cpu(label, with_targets):
    system, ew, params, full, half = setup(label)
    p = ew.params
    r_on, r_off = ew.switch or (0.0, 0.0)
    q = system.charges.copy()
    q[[0, 5]] = 0.0  # uncharged atoms still get their potential
    targets = None
    if with_targets:
        targets = np.zeros(system.n_atoms, dtype=bool)
        targets[::3] = True
    args = (system.positions, system.cell, q, ew._sigma)
    tail = (p.alpha, p.r_cut, r_on, r_off, KE)
    phi_c, f_c, w_c = cpu.real_space(*args, *half, *tail, True, True, targets)
    phi_g, f_g, w_g = gpu.real_space(*args, *full, *tail, True, True, targets)
    # With targets, every entry is the same partial sum on both sides (the same pairs are skipped).
    close(phi_g, phi_c, "phi")
    close(f_g, f_c, "forces")
    close(w_g, w_c, "virial")
    phi_g, f_g, w_g = gpu.real_space(*args, *full, *tail, False, True, targets)
    close(phi_g, phi_c, "phi without forces")
    assert not f_g.copy_to_host().any() and not w_g.copy_to_host().any()
    _, f_g, w_g = gpu.real_space(*args, *full, *tail, True, False, targets)
    close(f_g, f_c, "forces without virial")
    assert not w_g.copy_to_host().any()


@pytest.mark.parametrize("label", ["bulk-neutral", "slab-charged"])
def test_structure_factors_equal_cpu(label):
    system, ew, params, _, _ = setup(label)
    hmax, kmax, lmax = ew.params.kmax
    frac = frac_of(system, ew)
    q = system.charges.copy()
    q[3:7] = 0.0
    s_c = cpu.structure_factors(frac, q, ew._kidx, hmax, kmax, lmax)
    s_g = gpu.structure_factors(frac, q, params.kidx, hmax, kmax, lmax)
    assert s_g.shape == (2, len(ew._kidx))
    close(s_g, np.stack([s_c.real, s_c.imag]))
    # A base: S(q0) + S(dq) = S(q0 + dq).
    dq = np.zeros_like(q)
    dq[3:7] = system.charges[3:7]
    s_sum = gpu.structure_factors(frac, dq, params.kidx, hmax, kmax, lmax, base=s_g)
    s_all = cpu.structure_factors(frac, system.charges, ew._kidx, hmax, kmax, lmax)
    close(s_sum, np.stack([s_all.real, s_all.imag]))
    # Same input, same bits.
    again = gpu.structure_factors(frac, q, params.kidx, hmax, kmax, lmax).copy_to_host()
    np.testing.assert_array_equal(again, s_g.copy_to_host())


@pytest.mark.parametrize("label", ["bulk-charged-gauss", "slab-charged"])
def test_reciprocal_potential_forces_equal_cpu(label):
    system, ew, params, _, _ = setup(label)
    hmax, kmax, lmax = ew.params.kmax
    frac = frac_of(system, ew)
    q = system.charges
    sk = cpu.structure_factors(frac, q, ew._kidx, hmax, kmax, lmax)
    sk_d = gpu.structure_factors(frac, q, params.kidx, hmax, kmax, lmax)
    phi_c, f_c = cpu.reciprocal_potential_forces(frac, q, ew._kidx, ew._kvec, ew._weight, sk, hmax, kmax, lmax, True)
    phi_g, f_g = gpu.reciprocal_potential_forces(frac, q, params.kidx, params.kvec, params.weight, sk_d, hmax, kmax,
                                                 lmax, True)
    close(phi_g, phi_c, "phi")
    close(f_g, f_c, "forces")
    # A host complex S(k), no forces, and targets (zeros elsewhere).
    targets = np.zeros(system.n_atoms, dtype=bool)
    targets[1::4] = True
    phi_g, f_g = gpu.reciprocal_potential_forces(frac, q, ew._kidx, ew._kvec, ew._weight, sk, hmax, kmax, lmax,
                                                 False, targets=targets)
    close(phi_g, np.where(targets, phi_c, 0.0), "phi at targets")
    assert not f_g.copy_to_host().any()


# ---------------------------------------------------------------------------- the whole sum against Ewald
@pytest.mark.parametrize("label", list(CASES))
def test_ewald_terms_equal_evaluate(label):
    system, ew, params, full, _ = setup(label)
    phi_c, f_c, w_c, parts = ew._evaluate(system, None, system.charges, True)
    res = gpu.ewald_terms(params, system.positions, system.cell, system.charges, *full, True)
    close(res.phi, phi_c, "phi")
    close(res.forces, f_c, "forces")
    close(res.virial, w_c, "virial")
    energies = res.energies.copy_to_host()
    scale = sum(abs(v) for v in parts.values())
    for name, value in zip(gpu.ENERGY_PARTS, energies):
        assert value == pytest.approx(parts[name], rel=RTOL, abs=RTOL * scale), name
    # The structure factors it used, for a cache: passing them back gives the same bits.
    again = gpu.ewald_terms(params, system.positions, system.cell, system.charges, *full, True, sk=res.sk)
    np.testing.assert_array_equal(again.forces.copy_to_host(), res.forces.copy_to_host())
    np.testing.assert_array_equal(again.virial.copy_to_host(), res.virial.copy_to_host())


@pytest.mark.parametrize("label", ["bulk-gauss-switch", "slab-charged"])
def test_ewald_terms_forces_only_with_frozen_atoms(label):
    """``Ewald.compute(energy_virial=False)``: forces on the mobile atoms only, virial NaN."""
    system, ew, params, full, _ = setup(label)
    system.frozen[: system.n_atoms // 2] = True
    mobile = ~system.frozen
    _, f_c, _, _ = ew._evaluate(system, None, system.charges, True, want_virial=False, mobile=mobile)
    res = gpu.ewald_terms(params, system.positions, system.cell, system.charges, *full, True, want_virial=False,
                          mobile=mobile)
    close(res.forces, f_c, "forces")
    assert not res.forces.copy_to_host()[~mobile].any()
    assert np.isnan(res.virial.copy_to_host()).all()


@pytest.mark.parametrize("label", ["bulk-charged-gauss", "slab-charged-gauss-switch"])
def test_potential_equals_ewald_potential(label):
    system, ew, params, full, _ = setup(label)
    rng = np.random.default_rng(7)
    v = rng.normal(size=system.n_atoms)  # any charges: A v (net charge included)
    close(gpu.potential(params, system.positions, system.cell, v, *full), ew.potential(system, charges=v), "A v")
    # At some atoms only (the charge solver's right-hand side), with some charges zero.
    idx = np.arange(0, system.n_atoms, 3)
    v[idx] = 0.0
    targets = np.zeros(system.n_atoms, dtype=bool)
    targets[idx] = True
    phi = gpu.potential(params, system.positions, system.cell, v, *full, targets=targets).copy_to_host()
    close(phi[idx], ew.potential_at(system, idx, charges=v), "potential at targets")
    # Without forces the energies are the same as the energy components.
    res = gpu.ewald_terms(params, system.positions, system.cell, system.charges, *full, False)
    parts = ew.energy_components(system)
    scale = sum(abs(x) for x in parts.values())
    for name, value in zip(gpu.ENERGY_PARTS, res.energies.copy_to_host()):
        assert value == pytest.approx(parts[name], rel=RTOL, abs=RTOL * scale), name


# ---------------------------------------------------------------------------- dense matrix
def test_dense_matvec():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(37, 37))
    a = 0.5 * (a + a.T)  # exactly symmetric, as ChargeSolver.dense_matrix builds it
    x = rng.normal(size=37)
    expected = a @ x
    got = gpu.dense_matvec(a, x).copy_to_host()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13 * np.abs(expected).max())
    # Column reads of a symmetric matrix: the same products in the same order, the same bits.
    np.testing.assert_array_equal(gpu.dense_matvec(a, x, symmetric=True).copy_to_host(), got)
    out = cuda.device_array(37)
    assert gpu.dense_matvec(cuda.to_device(a), cuda.to_device(x), out=out) is out
    rect = rng.normal(size=(5, 37))
    np.testing.assert_allclose(gpu.dense_matvec(rect, x).copy_to_host(), rect @ x, rtol=1e-13)
    with pytest.raises(ValueError):
        gpu.dense_matvec(rect, x, symmetric=True)


@pytest.mark.parametrize("min_chunk, target", [(3, 1 << 18), (5, 300), (1, 1)])
def test_chunked_sums_equal_cpu(monkeypatch, min_chunk, target):
    """Several (and uneven) chunks in both reciprocal sums: the split changes rounding only."""
    monkeypatch.setattr(gpu, "MIN_CHUNK", min_chunk)
    monkeypatch.setattr(gpu, "TARGET_THREADS", target)
    system, ew, params, _, _ = setup("slab-charged")
    hmax, kmax, lmax = ew.params.kmax
    frac = frac_of(system, ew)
    q = system.charges
    assert gpu._chunks(len(q), len(ew._kidx))[1] > 1 or target == 1
    sk = cpu.structure_factors(frac, q, ew._kidx, hmax, kmax, lmax)
    sk_d = gpu.structure_factors(frac, q, params.kidx, hmax, kmax, lmax)
    close(sk_d, np.stack([sk.real, sk.imag]), "S(k)")
    phi_c, f_c = cpu.reciprocal_potential_forces(frac, q, ew._kidx, ew._kvec, ew._weight, sk, hmax, kmax, lmax, True)
    phi_g, f_g = gpu.reciprocal_potential_forces(frac, q, params.kidx, params.kvec, params.weight, sk_d, hmax, kmax,
                                                 lmax, True)
    close(phi_g, phi_c, "phi")
    close(f_g, f_c, "forces")

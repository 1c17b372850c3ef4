"""CUDA pair-potential and integrator kernels against their CPU twins (numba's CUDA simulator in CI)."""

import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")

from echemmd import System  # noqa: E402
from echemmd.integrators import kinetic_energy, remove_com_momentum  # noqa: E402
from echemmd.kernels import pair as cpu_pair  # noqa: E402
from echemmd.kernels.checks import force_check  # noqa: E402
from echemmd.kernels.cuda import integrate  # noqa: E402
from echemmd.kernels.cuda import pair as gpu_pair  # noqa: E402
from echemmd.neighbors import build_neighbor_list  # noqa: E402
from echemmd.potentials import BornMayerHuggins, LennardJones  # noqa: E402
from echemmd.units import MVV_TO_EV  # noqa: E402


def _two_species(n=24, seed=0):
    rng = np.random.default_rng(seed)
    cell = np.array([[7.0, 0.0, 0.0], [0.8, 6.6, 0.0], [0.3, -0.4, 7.2]])
    # A jittered lattice: no two atoms closer than ~1.8 Å.
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    frac = (grid + 0.5 + rng.uniform(-0.2, 0.2, grid.shape)) / 3.0
    types = rng.integers(0, 2, n)
    return frac @ cell, cell, types


@pytest.mark.parametrize("term", [
    LennardJones({"Ar-Ar": {"epsilon": 0.0103, "sigma": 3.4}, "Ne-Ne": {"epsilon": 0.003, "sigma": 2.8}}, cutoff=5.0,
                 mixing="lorentz-berthelot"),
    BornMayerHuggins({"Na-Na": {"A": 424.0, "rho": 0.317, "sigma": 2.34, "C": 1.05, "D": 0.5},
                      "Na-Cl": {"A": 254.0, "rho": 0.317, "sigma": 2.755, "C": 6.99, "D": 8.67},
                      "Cl-Cl": {"A": 152.0, "rho": 0.317, "sigma": 3.17, "C": 72.4, "D": 145.4}}, cutoff=4.5),
], ids=["lj", "bmh"])
def test_pair_forces_equal_cpu(term):
    x, cell, types = _two_species()
    species = ("Ar", "Ne") if term.style == "lj" else ("Na", "Cl")
    params = term.parameter_table(species)
    style = cpu_pair.LENNARD_JONES if term.style == "lj" else cpu_pair.BORN_MAYER_HUGGINS
    pbc = np.array([True, True, True])
    half = build_neighbor_list(x, cell, pbc, term.cutoff, half=True)
    full = build_neighbor_list(x, cell, pbc, term.cutoff, half=False)
    e, f, w = cpu_pair.pair_forces(style, x, cell, types, params, *half, True)
    sums, f_g = gpu_pair.pair_forces(style, x, cell, types, params, *full, True)
    sums = sums.copy_to_host()
    assert abs(sums[0] - e) <= 1e-12 * abs(e)
    np.testing.assert_allclose(f_g.copy_to_host(), f, rtol=1e-12, atol=1e-12 * np.abs(f).max())
    np.testing.assert_allclose(gpu_pair.virial_matrix(sums), w, rtol=1e-12, atol=1e-12 * np.abs(w).max())
    assert np.abs(f).max() > 1e-3  # the case has forces
    # Forces only: the same forces, no sums.
    none, f_only = gpu_pair.pair_forces(style, x, cell, types, params, *full, False)
    assert none is None
    np.testing.assert_array_equal(f_only.copy_to_host(), f_g.copy_to_host())


def _system(n=17, seed=3):
    rng = np.random.default_rng(seed)
    s = System(symbols=["Ar"] * n, numbers=np.full(n, 18), masses=rng.uniform(1.0, 40.0, n),
               positions=rng.uniform(0, 10, (n, 3)), velocities=rng.normal(size=(n, 3)) * 0.01,
               charges=np.zeros(n), cell=np.eye(3) * 10, pbc=np.array([True] * 3), tags=np.zeros(n, dtype=int),
               frozen=np.isin(np.arange(n), [2, 5]))
    return s


def test_integrator_operations_equal_numpy():
    s = _system()
    rng = np.random.default_rng(1)
    f = rng.normal(size=(s.n_atoms, 3))
    hk = np.where(s.frozen, 0.0, 0.25 / s.masses)
    v = cuda.to_device(s.velocities)
    x = cuda.to_device(s.positions)
    integrate.kick(v, cuda.to_device(f), cuda.to_device(hk))
    integrate.drift(x, v, 0.7)
    ref_v = s.velocities + f * hk[:, None]
    np.testing.assert_array_equal(v.copy_to_host(), ref_v)
    np.testing.assert_array_equal(x.copy_to_host(), s.positions + 0.7 * ref_v)
    gauss = rng.normal(size=(s.n_atoms, 3))
    noise = rng.uniform(0.0, 0.1, s.n_atoms)
    integrate.ornstein_uhlenbeck(v, 0.9, cuda.to_device(noise), cuda.to_device(gauss))
    ref_v = ref_v * 0.9
    ref_v += noise[:, None] * gauss
    np.testing.assert_allclose(v.copy_to_host(), ref_v, rtol=1e-15, atol=1e-17)
    integrate.scale(v, 1.1)
    ref_v *= 1.1
    s.velocities[:] = v.copy_to_host()
    scratch = cuda.device_array(s.n_atoms)
    m = cuda.to_device(s.masses)
    k = 0.5 * MVV_TO_EV * integrate.mass_weighted_square_sum(v, m, scratch).copy_to_host()[0]
    assert k == pytest.approx(kinetic_energy(s), rel=1e-14)
    mobile = ~s.frozen
    integrate.remove_com_momentum(v, m, cuda.to_device(mobile), s.masses[mobile].sum(),
                                  cuda.device_array((s.n_atoms, 3)))
    remove_com_momentum(s)
    np.testing.assert_allclose(v.copy_to_host(), s.velocities, rtol=1e-13, atol=1e-16)
    assert np.abs(s.masses[mobile] @ v.copy_to_host()[mobile]).max() < 1e-14


def test_force_check_equals_cpu():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(40, 3))
    x = rng.normal(size=(40, 3))
    scratch = cuda.device_array(40)
    assert integrate.force_check(cuda.to_device(f), cuda.to_device(x), scratch) == force_check(f, x)
    f[31, 1] = np.inf
    x[12, 2] = np.nan
    bad, fmax, _ = integrate.force_check(cuda.to_device(f), cuda.to_device(x), scratch)
    assert bad == force_check(f, x)[0] == 12 and np.isnan(fmax)

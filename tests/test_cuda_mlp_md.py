"""The machine-learning potential on the CUDA backend against the CPU: one evaluation, mixed precision,
and MD of a hybrid model (network + Ewald of Gaussian charges with the switch) from one state."""

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from ase import Atoms  # noqa: E402
from ase.build import molecule  # noqa: E402

from echemmd import System  # noqa: E402
from echemmd.forcefield import ForceField  # noqa: E402
from echemmd.gpu.forcefield import DeviceForceField  # noqa: E402
from echemmd.gpu.simulation import CudaSimulation  # noqa: E402
from echemmd.gpu.state import DeviceState  # noqa: E402
from echemmd.gpu.terms import DeviceNetworkPotential  # noqa: E402
from echemmd.integrators import LangevinBAOAB, maxwell_boltzmann  # noqa: E402
from echemmd.mlpotential import NeuralNetworkPotential, long_range_forcefield, random_model  # noqa: E402
from echemmd.neighbors import NeighborList  # noqa: E402
from echemmd.simulation import Simulation  # noqa: E402

MODEL = random_model(["H", "O"], r_c=3.6, hidden=(8, 8), seed=4, charge_model="fixed", switch=(0.5, 3.0),
                     n_radial=3, n_angular=2)


def _water(seed=0):
    """Four water molecules in a 6.4 Å box, rattled."""
    rng = np.random.default_rng(seed)
    atoms = Atoms(cell=np.eye(3) * 6.4, pbc=True)
    for k, corner in enumerate([(0, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1)]):
        w = molecule("H2O")
        w.rotate(90 * k, "z")
        w.translate(np.array(corner) * 3.2 + 1.3)
        atoms += w
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    system = System.from_atoms(atoms)
    maxwell_boltzmann(system, 300.0, rng=np.random.default_rng(seed))
    return system


def _forcefield(system, with_charges=True):
    nnp = NeuralNetworkPotential(MODEL.short_range)
    if not with_charges:
        return ForceField([nnp], NeighborList(nnp.cutoff, 0.5))
    lr = long_range_forcefield(MODEL, system, accuracy=1e-5, tolerance=1e-10)
    ewald = lr.terms[0]
    return ForceField([nnp, ewald], NeighborList(max(nnp.cutoff, ewald.cutoff), 0.5), charge_solver=lr.charge_solver)


def test_network_term_equals_cpu():
    system = _water()
    ff = _forcefield(system, with_charges=False)
    ref = ff.compute(system)
    state = DeviceState(system)
    dff = DeviceForceField(ff, state)
    got = dff.compute(state).to_host()
    assert got.energy == pytest.approx(ref.energy, rel=1e-12)
    np.testing.assert_allclose(got.forces, ref.forces, rtol=0, atol=1e-12 * np.abs(ref.forces).max())
    np.testing.assert_allclose(got.virial, 0.5 * (ref.virial + ref.virial.T), rtol=0,
                               atol=1e-12 * np.abs(ref.virial).max())
    assert np.abs(ref.forces).max() > 1e-2


def test_mixed_precision_error_is_measured_and_small():
    """Mixed precision (float32 descriptors and networks, float64 sums) against float64: energy and force errors.

    Bounds from float32's epsilon: an atomic energy is e_scale y + e_shift with the network output y
    in float32, so its error is a few ulp of |E_i - e_shift| (64 eps of the largest); the forces
    contract float32 descriptor gradients with float32 dE/dG: 64 eps of the largest force, as for
    the descriptor kernels alone (tests/test_cuda_descriptors.py).
    """
    eps = float(np.finfo(np.float32).eps)
    system = _water(1)
    ff = _forcefield(system, with_charges=False)
    state = DeviceState(system)
    dff = DeviceForceField(ff, state)
    ref = dff.compute(state).to_host()
    ref_term = dff.terms[0]
    dff.terms[0] = mixed = DeviceNetworkPotential(ff.terms[0], system, precision="mixed")
    got = dff.compute(state).to_host()
    n = system.n_atoms
    # Atomic energies, and their parts e_scale y that the float32 network output carries.
    e_ref = ref_term.atomic_energies(state, dff.neighbors)[0].copy_to_host()
    e_got = mixed.atomic_energies(state, dff.neighbors)[0].copy_to_host()
    shift = np.empty(n)
    for el in ref_term.elements:
        shift[el["atoms"].copy_to_host()] = el["e_shift"]
    e_err = abs(got.energy - ref.energy) / n
    e_atom = np.abs(e_got - e_ref).max()
    f_max = np.abs(ref.forces).max()
    f_err = np.abs(got.forces - ref.forces).max()
    w_err = np.abs(got.virial - ref.virial).max()
    print(f"mixed precision (float32 descriptors and networks): |dE|/atom = {e_err:.2e} eV "
          f"(max |dE_i| = {e_atom:.2e} eV), max |dF| = {f_err:.2e} eV/Å = {f_err / f_max:.1e} max |F| "
          f"(max |F| = {f_max:.2e} eV/Å), max |dW| = {w_err:.2e} eV")
    assert 0.0 < e_err <= e_atom < 64 * eps * np.abs(e_ref - shift).max()
    assert 0.0 < f_err < 64 * eps * f_max
    assert 0.0 < w_err < 64 * eps * np.abs(ref.virial).max()


def test_hybrid_md_follows_cpu():
    """Network + switched Ewald of Gaussian charges (the hybrid energy of DESIGN §5): the GPU run follows
    the CPU run. (QEq and constant-potential solves on the device: tests/test_cuda_electrostatics_md.py.)"""
    # long_range_forcefield writes the fixed charges into the system it is given: build each
    # force field on the system it will run.
    s_cpu, s_gpu = _water(), _water()
    cpu = Simulation(s_cpu, _forcefield(s_cpu), LangevinBAOAB(dt=0.5, temperature=300.0, friction=0.01, seed=2))
    gpu = CudaSimulation(s_gpu, _forcefield(s_gpu), LangevinBAOAB(dt=0.5, temperature=300.0, friction=0.01, seed=2))
    assert np.abs(s_gpu.charges).max() > 0.1
    for _ in range(2):
        r_cpu = cpu.run(4)
        r_gpu = gpu.run(4)
        np.testing.assert_allclose(gpu.system.positions, cpu.system.positions, rtol=0, atol=1e-8)
        np.testing.assert_allclose(gpu.system.charges, cpu.system.charges, rtol=0, atol=1e-8)
        for name, value in r_cpu.terms.items():
            assert r_gpu.terms[name] == pytest.approx(value, rel=1e-9, abs=1e-10), name
        np.testing.assert_allclose(r_gpu.forces, r_cpu.forces, rtol=0, atol=1e-8)
    assert abs(r_gpu.terms["coulomb"]) > 1e-3

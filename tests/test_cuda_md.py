"""MD on the CUDA backend against the CPU backend from one state (numba's CUDA simulator in CI)."""

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from ase.build import bulk  # noqa: E402

from echemmd import System  # noqa: E402
from echemmd.forcefield import ForceField  # noqa: E402
from echemmd.gpu.simulation import CudaSimulation  # noqa: E402
from echemmd.integrators import CSVR, LangevinBAOAB, NoseHooverChain, VelocityVerlet, maxwell_boltzmann  # noqa: E402
from echemmd.neighbors import NeighborList  # noqa: E402
from echemmd.potentials import LennardJones  # noqa: E402
from echemmd.simulation import Simulation  # noqa: E402


def _argon(seed=0):
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=seed)
    system = System.from_atoms(atoms)
    maxwell_boltzmann(system, 120.0, rng=np.random.default_rng(seed))
    return system


def _forcefield():
    lj = LennardJones({"Ar-Ar": {"epsilon": 0.0103, "sigma": 3.405}}, cutoff=5.0)
    return ForceField([lj], NeighborList(cutoff=5.0, skin=0.5))


INTEGRATORS = {
    "nve": lambda: VelocityVerlet(dt=5.0),
    "langevin": lambda: LangevinBAOAB(dt=5.0, temperature=120.0, friction=0.02, seed=7),
    "csvr": lambda: CSVR(dt=5.0, temperature=120.0, tau=50.0, seed=7),
    "nose-hoover": lambda: NoseHooverChain(dt=5.0, temperature=120.0, tau=100.0),
}


@pytest.mark.parametrize("name", list(INTEGRATORS))
def test_gpu_trajectory_follows_cpu(name):
    """From one state, the GPU run follows the CPU run: positions to 1e-8 Å, energies to 1e-10."""
    cpu = Simulation(_argon(), _forcefield(), INTEGRATORS[name]())
    gpu = CudaSimulation(_argon(), _forcefield(), INTEGRATORS[name]())
    for _ in range(3):
        r_cpu = cpu.run(8)
        r_gpu = gpu.run(8)
        np.testing.assert_allclose(gpu.system.positions, cpu.system.positions, rtol=0, atol=1e-8)
        np.testing.assert_allclose(gpu.system.velocities, cpu.system.velocities, rtol=0, atol=1e-10)
        assert r_gpu.energy == pytest.approx(r_cpu.energy, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(r_gpu.virial, r_cpu.virial, rtol=1e-9, atol=1e-12)
        assert gpu.observables()["conserved_energy"] == pytest.approx(cpu.observables()["conserved_energy"],
                                                                      rel=1e-10)
    assert gpu.forcefield.neighbors.n_builds > 1  # the list was rebuilt on the device along the way
    assert np.abs(gpu.system.positions - _argon().positions).max() > 0.1  # the atoms moved


def test_gpu_checkpoint_state_matches_cpu():
    """The device integrator's state_dict is the CPU's (forces on the host, the same random stream)."""
    cpu = Simulation(_argon(), _forcefield(), INTEGRATORS["langevin"]())
    gpu = CudaSimulation(_argon(), _forcefield(), INTEGRATORS["langevin"]())
    cpu.run(5)
    gpu.run(5)
    a, b = cpu.integrator.state_dict(), gpu.integrator.state_dict()
    assert a["rng_state"] == b["rng_state"]
    np.testing.assert_allclose(b["forces"], a["forces"], rtol=1e-9, atol=1e-12)
    assert isinstance(b["forces"], np.ndarray)
    np.testing.assert_array_equal(gpu.forcefield.neighbors.reference_positions.shape, (32, 3))

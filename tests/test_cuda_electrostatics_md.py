"""Electrostatics on the CUDA backend against the CPU from one state: Ewald MD, constant potential, QEq."""

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from ase.build import bulk  # noqa: E402
from test_charges import SIGMA, capacitor, constant_potential_forcefield  # noqa: E402

from echemmd import System  # noqa: E402
from echemmd.charges import ChargeSolver, QEqParameters  # noqa: E402
from echemmd.electrostatics import Ewald  # noqa: E402
from echemmd.forcefield import ForceField  # noqa: E402
from echemmd.gpu.simulation import CudaSimulation  # noqa: E402
from echemmd.integrators import LangevinBAOAB, VelocityVerlet, maxwell_boltzmann  # noqa: E402
from echemmd.neighbors import NeighborList  # noqa: E402
from echemmd.potentials import BornMayerHuggins  # noqa: E402
from echemmd.simulation import Simulation  # noqa: E402

TOSI_FUMI = {"Na-Na": {"A": 0.263705, "rho": 0.317, "sigma": 2.340, "C": 1.048573, "D": 0.499869},
             "Na-Cl": {"A": 0.210964, "rho": 0.317, "sigma": 2.755, "C": 6.990534, "D": 8.675750},
             "Cl-Cl": {"A": 0.158223, "rho": 0.317, "sigma": 3.170, "C": 72.40215, "D": 145.4284}}


def _salt(seed=0):
    atoms = bulk("NaCl", "rocksalt", a=5.9, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=seed)
    atoms.set_initial_charges([1.0 if s == "Na" else -1.0 for s in atoms.get_chemical_symbols()])
    system = System.from_atoms(atoms)
    maxwell_boltzmann(system, 1200.0, rng=np.random.default_rng(seed))
    return system


def _salt_forcefield(system, sigma=None):
    ewald = Ewald(accuracy=1e-6, sigma=sigma, switch=(0.5, 2.5) if sigma is not None else None)
    ewald.setup(system)
    bmh = BornMayerHuggins(TOSI_FUMI, cutoff=4.5)
    return ForceField([bmh, ewald], NeighborList(max(4.5, ewald.cutoff), 0.5))


def _follow(make_system, make_forcefield, make_integrator, blocks=2, steps=6):
    cpu = Simulation(make_system(), make_forcefield(), make_integrator())
    gpu = CudaSimulation(make_system(), make_forcefield(), make_integrator())
    for _ in range(blocks):
        r_cpu = cpu.run(steps)
        r_gpu = gpu.run(steps)
        np.testing.assert_allclose(gpu.system.positions, cpu.system.positions, rtol=0, atol=1e-8)
        np.testing.assert_allclose(gpu.system.charges, cpu.system.charges, rtol=0, atol=1e-8)
        assert r_gpu.energy == pytest.approx(r_cpu.energy, rel=1e-9)
        for name, value in r_cpu.terms.items():
            assert r_gpu.terms[name] == pytest.approx(value, rel=1e-9, abs=1e-10), name
        np.testing.assert_allclose(r_gpu.virial, r_cpu.virial, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(r_gpu.forces, r_cpu.forces, rtol=0, atol=1e-8)
    return cpu, gpu, r_cpu, r_gpu


@pytest.mark.parametrize("gaussian", [False, True], ids=["point", "gaussian-switched"])
def test_ewald_md_follows_cpu(gaussian):
    sigma = {"Na": 0.6, "Cl": 0.8} if gaussian else None
    _follow(_salt, lambda: _salt_forcefield(_salt(), sigma), lambda: VelocityVerlet(dt=2.0))


def test_constant_potential_md_follows_cpu():
    """Frozen electrodes at +-0.5 V (the cached dense matrix on the device), ions moving, Langevin."""
    def system():
        s = capacitor(side=2, layers=1, gap=12.0, n_pairs=2, height=30.0)
        maxwell_boltzmann(s, 1000.0, rng=np.random.default_rng(1))
        return s

    cpu, gpu, r_cpu, r_gpu = _follow(system, lambda: constant_potential_forcefield(system()),
                                     lambda: LangevinBAOAB(dt=2.0, temperature=1000.0, friction=0.01, seed=3),
                                     steps=3)
    for e in ("charge_bottom", "charge_top"):
        assert r_gpu.extra[e] == pytest.approx(r_cpu.extra[e], abs=1e-9)
    assert abs(r_gpu.extra["charge_top"]) > 1e-3  # the electrodes are charged
    assert abs(r_gpu.extra["cg_iterations"] - r_cpu.extra["cg_iterations"]) <= 1
    assert r_gpu.extra["cg_residual"] <= 1e-10
    assert gpu.forcefield.charge_solver._dense is not None  # the frozen electrodes' matrix path
    np.testing.assert_allclose(gpu.forcefield.state_solver.previous, cpu.forcefield.state_solver.previous,
                               atol=1e-8)


def test_qeq_md_follows_cpu():
    """QEq on every atom (the matrix-free CG through the device Ewald sum), a net-neutral salt."""
    def forcefield():
        system = _salt()
        qeq = {"Na": QEqParameters(chi=-2.0, hardness=6.0, sigma=0.7),
               "Cl": QEqParameters(chi=3.0, hardness=5.0, sigma=0.9)}
        ewald = Ewald(accuracy=1e-5, sigma={"Na": 0.7, "Cl": 0.9})
        ewald.setup(system)
        solver = ChargeSolver(ewald, qeq=qeq, total_charge=0.0, tolerance=1e-9)
        bmh = BornMayerHuggins(TOSI_FUMI, cutoff=4.5)
        return ForceField([bmh, ewald], NeighborList(max(4.5, ewald.cutoff), 0.5), charge_solver=solver)

    cpu, gpu, r_cpu, r_gpu = _follow(_salt, forcefield, lambda: VelocityVerlet(dt=2.0), blocks=1, steps=2)
    assert gpu.forcefield.charge_solver._dense is None
    assert np.abs(gpu.system.charges).max() > 0.05  # charges moved off zero
    assert abs(gpu.system.charges.sum()) < 1e-10
    assert SIGMA > 0


def test_cg_scalars_stay_on_the_device(monkeypatch):
    """A device CG iteration reads the host once (the residual, d.A.d and the multiplier in one copy)."""
    import sys

    system = _salt()
    qeq = {"Na": QEqParameters(chi=-2.0, hardness=6.0, sigma=0.7), "Cl": QEqParameters(chi=3.0, hardness=5.0, sigma=0.9)}
    ewald = Ewald(accuracy=1e-5, sigma={"Na": 0.7, "Cl": 0.9})
    ewald.setup(system)
    solver = ChargeSolver(ewald, qeq=qeq, total_charge=0.0, tolerance=1e-9)
    ff = ForceField([ewald], NeighborList(ewald.cutoff, 0.5), charge_solver=solver)
    gpu = CudaSimulation(system, ff, VelocityVerlet(dt=2.0))
    gpu.run(1)  # builds the device force field
    device_solver = gpu.forcefield.charge_solver
    array_type = type(device_solver._s)
    reads = []
    original = array_type.copy_to_host

    def counted(self, *args, **kwargs):
        caller = sys._getframe(1).f_code.co_filename
        if caller.endswith("charges.py"):
            reads.append(caller)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(array_type, "copy_to_host", counted)
    gpu.run(1)
    info = device_solver.last
    assert info.iterations >= 5
    assert len(reads) == info.iterations + 1

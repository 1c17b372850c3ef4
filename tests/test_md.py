"""Molecular dynamics with the real engine: energy conservation, canonical sampling, NaN detection."""

from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from echemmd.errors import SimulationError
from echemmd.forcefield import Contribution, ForceField
from echemmd.integrators import CSVR, LangevinBAOAB, NoseHooverChain, VelocityVerlet
from echemmd.neighbors import NeighborList
from echemmd.potentials import LennardJones
from echemmd.simulation import Simulation
from echemmd.system import System
from echemmd.units import KB

INPUTS = Path(__file__).resolve().parents[1] / "inputs"
LJ_ARGON = {"Ar-Ar": {"epsilon": 0.0103, "sigma": 3.405}}


def argon_liquid():
    """The shipped 256-atom argon liquid at 120 K, with its velocities."""
    return System.from_atoms(read(INPUTS / "argon.extxyz"))


def lj_forcefield(cutoff=8.5, skin=1.0):
    return ForceField([LennardJones(LJ_ARGON, cutoff=cutoff)], NeighborList(cutoff, skin))


class Recorder:
    """Observer collecting observables every ``every`` steps."""

    def __init__(self, every=1):
        self.every = every
        self.rows = []

    def observe(self, sim):
        self.rows.append(sim.observables())

    def close(self):
        pass

    def column(self, name):
        return np.array([r[name] for r in self.rows])


def test_nve_lj_liquid_conserves_energy():
    system = argon_liquid()
    rec = Recorder()
    sim = Simulation(system, lj_forcefield(), VelocityVerlet(dt=2.0), observers=[rec])
    sim.run(250)  # 0.5 ps
    e = rec.column("conserved_energy")
    drift = np.abs(e - e[0]).max() / abs(e[0])
    print(f"NVE 0.5 ps, dt = 2 fs: max relative energy deviation {drift:.2e}")
    assert drift < 1e-4, drift
    # The liquid really moved: the test is not trivially passing on a frozen state.
    assert np.abs(rec.column("potential_energy") - rec.column("potential_energy")[0]).max() > 50 * np.abs(e - e[0]).max()
    assert sim.forcefield.neighbors.n_builds > 1


THERMOSTATS = {
    "langevin": lambda: LangevinBAOAB(dt=4.0, temperature=120.0, friction=0.05, seed=11),
    "csvr": lambda: CSVR(dt=4.0, temperature=120.0, tau=20.0, seed=12),
    "nose-hoover": lambda: NoseHooverChain(dt=4.0, temperature=120.0, tau=40.0, chain=3),
}


def sample_kinetic_energy(integrator, steps, every=5):
    """Equilibrate 32 LJ argon atoms, then return (mean T, var(KE) / canonical var)."""
    from ase.build import bulk, make_supercell

    from echemmd.integrators import maxwell_boltzmann

    # 32 argon atoms at liquid density: few degrees of freedom give large, cheaply measured
    # kinetic-energy fluctuations. The fcc start melts during the equilibration.
    atoms = make_supercell(bulk("Ar", "fcc", a=5.7438, cubic=True), np.eye(3, dtype=int) * 2)
    small = System.from_atoms(atoms)
    maxwell_boltzmann(small, 120.0, np.random.default_rng(0))
    sim = Simulation(small, lj_forcefield(cutoff=5.5, skin=0.5), integrator)
    sim.run(2000)
    rec = Recorder(every=every)
    sim.observers.append(rec)
    sim.run(steps)
    kin = rec.column("kinetic_energy")
    mean_t = rec.column("temperature").mean()
    return mean_t, kin.var() / (sim.n_dof * (KB * mean_t) ** 2 / 2), len(kin)


@pytest.mark.parametrize("name", sorted(THERMOSTATS))
def test_thermostat_samples_canonical_kinetic_energy(name):
    """<T> within 2 % of target and var(KE) within 10 % of N_dof (k_B T)^2 / 2 on an LJ liquid."""
    target = 120.0
    mean_t, var_ratio, n = sample_kinetic_energy(THERMOSTATS[name](), 40000)
    print(f"{name}: <T> = {mean_t:.2f} K, var(KE) / canonical = {var_ratio:.3f}, {n} samples")
    assert abs(mean_t / target - 1) < 0.02, mean_t
    assert abs(var_ratio * (mean_t / target) ** 2 - 1) < 0.10, var_ratio


def test_kinetic_energy_variance_check_rejects_the_microcanonical_ensemble():
    """Negative control: NVE has smaller KE fluctuations than canonical, and the check sees it."""
    mean_t, var_ratio, n = sample_kinetic_energy(VelocityVerlet(dt=4.0), 10000)
    print(f"nve: <T> = {mean_t:.2f} K, var(KE) / canonical = {var_ratio:.3f}, {n} samples")
    assert var_ratio < 0.9


class ExplodingTerm:
    """A term whose energy turns NaN at a given step (a model evaluated outside its data)."""

    name = "exploding"
    cutoff = 0.0

    def __init__(self, at_call):
        self.calls = 0
        self.at_call = at_call

    def compute(self, system, neighbors):
        self.calls += 1
        n = system.n_atoms
        forces = np.zeros((n, 3))
        if self.calls >= self.at_call:
            forces[7, 1] = np.nan
        return Contribution(0.0, forces, np.zeros((3, 3)), {})


def test_nan_stops_the_run_and_names_the_atom():
    system = argon_liquid()
    ff = lj_forcefield()
    ff.terms.append(ExplodingTerm(at_call=4))
    sim = Simulation(system, ff, VelocityVerlet(dt=2.0))
    with pytest.raises(SimulationError, match=r"non-finite energy, force or position at step 3 \(atom 7, Ar\)"):
        sim.run(10)
    assert sim.step == 3


def test_atoms_closer_than_the_limit_stop_the_run():
    from echemmd.simulation import Limits

    system = argon_liquid()
    ff = lj_forcefield()
    ff.compute(system)
    rmin, i, j = ff.neighbors.closest_pair(system.positions, system.cell)
    sim = Simulation(system, ff, VelocityVerlet(dt=2.0), limits=Limits(min_distance=rmin + 0.2))
    with pytest.raises(SimulationError, match=r"atoms \d+ \(Ar\) and \d+ \(Ar\) are [0-9.]+ Å apart at step 0, "
                                              r"closer than limits.min_distance"):
        sim.run(5)
    assert sim.step == 0


def test_system_from_atoms_does_not_share_arrays_with_the_atoms():
    from ase.build import bulk

    atoms = bulk("Ar", "fcc", a=5.26, cubic=True)
    x0, cell0 = atoms.positions.copy(), atoms.cell.array.copy()
    system = System.from_atoms(atoms)
    system.positions += 1.0
    system.cell *= 2.0
    np.testing.assert_array_equal(atoms.positions, x0)
    np.testing.assert_array_equal(atoms.cell.array, cell0)
    atoms.positions -= 1.0
    np.testing.assert_array_equal(system.positions, x0 + 1.0)


def test_forces_only_steps_leave_the_trajectory_unchanged():
    """Steps nobody observes skip the energy and virial sums: same forces, same trajectory."""
    system = argon_liquid()
    ff = lj_forcefield()
    full = ff.compute(system)
    part = ff.compute(system, energy_virial=False)
    np.testing.assert_array_equal(part.forces, full.forces)
    assert part.forces_only and np.isnan(part.energy) and np.isnan(part.virial).all()
    assert not full.forces_only and np.isfinite(full.energy)

    runs = {}
    for every in (1, 7):
        rec = Recorder(every=every)
        sim = Simulation(argon_liquid(), lj_forcefield(), VelocityVerlet(dt=2.0), observers=[rec])
        sim.run(30)
        runs[every] = (sim.system.positions.copy(), rec)
        # The result handed back (the last step) and every observed step carry real numbers.
        assert not sim.result.forces_only and np.isfinite(sim.result.energy)
        assert np.isfinite(rec.column("potential_energy")).all() and np.isfinite(rec.column("pressure")).all()
    np.testing.assert_array_equal(runs[1][0], runs[7][0])
    # The observed steps of the sparse run equal those of the dense one.
    np.testing.assert_array_equal(runs[7][1].column("potential_energy"), runs[1][1].column("potential_energy")[::7])
    np.testing.assert_array_equal(runs[7][1].column("pressure"), runs[1][1].column("pressure")[::7])


@pytest.mark.parametrize("slab", [False, True])
def test_ewald_forces_only_equal_full_forces(slab):
    """The Ewald term on a forces-only step: the same forces, the virial skipped (NaN)."""
    from echemmd.electrostatics import Ewald

    rng = np.random.default_rng(4)
    n = 40
    cell = np.diag([12.0, 12.0, 30.0 if slab else 12.0])
    positions = rng.uniform(0.0, 12.0, (n, 3))
    charges = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    system = System(symbols=["Na", "Cl"] * (n // 2), numbers=np.array([11, 17] * (n // 2)),
                    masses=np.array([23.0, 35.45] * (n // 2)), positions=positions, velocities=np.zeros((n, 3)),
                    charges=charges, cell=cell, pbc=np.array([True, True, not slab]), tags=np.zeros(n, int),
                    frozen=np.zeros(n, bool))
    ewald = Ewald(accuracy=1e-6)
    ewald.setup(system)
    ff = ForceField([ewald], NeighborList(ewald.cutoff, skin=0.5))
    full = ff.compute(system)
    part = ff.compute(system, energy_virial=False)
    np.testing.assert_array_equal(part.forces, full.forces)
    assert part.forces_only and np.isnan(part.energy) and np.isnan(part.virial).all()
    assert np.isfinite(full.virial).all() and np.abs(full.virial).max() > 0

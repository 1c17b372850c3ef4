"""The machine-learning potential end to end: model files (HDF5, n2p2) give the same numbers, forces
and virial are derivatives of the energy, NVE with network + Ewald conserves energy, and a
structure with an element the model lacks is refused with the atom named."""

import numpy as np
import pytest
from ase import Atoms

from echemmd.electrostatics import Ewald
from echemmd.errors import InputError
from echemmd.forcefield import ForceField
from echemmd.integrators import LangevinBAOAB, VelocityVerlet, maxwell_boltzmann
from echemmd.io.model import load_model, save_model
from echemmd.io.n2p2 import read_n2p2, write_n2p2
from echemmd.mlpotential import HybridModel, NeuralNetworkPotential, random_model
from echemmd.neighbors import NeighborList
from echemmd.potentials import LennardJones
from echemmd.simulation import Simulation
from echemmd.system import System
from echemmd.validate import ModelEnergy, calibrate_scaling, water_box

SWITCH = (1.0, 4.0)


@pytest.fixture(scope="module")
def box():
    return water_box(24, seed=1)


@pytest.fixture(scope="module")
def slab():
    return water_box(24, seed=3, slab=True)


@pytest.fixture(scope="module")
def model(box, slab):
    """Random H/O model with fixed charges and the switch, scaled on the box and the slab.

    conv_energy (network units per eV, random in 0.5..50) is set to 0.5 so the network forces are
    of order 1 eV/Å.
    """
    m = calibrate_scaling(random_model(["H", "O"], seed=4, charge_model="fixed", switch=SWITCH), [box, slab])
    m.short_range.networks.conv_energy = 0.5
    return m


def short_range(nnp, atoms):
    """Energy, forces and virial of the network term alone, with a neighbour list of its own."""
    system = atoms if isinstance(atoms, System) else System.from_atoms(atoms)
    nl = NeighborList(nnp.cutoff, skin=0.0)
    nl.build(system.positions, system.cell, system.pbc)
    return nnp.compute(system, nl)


# ------------------------------------------------------------------ (a) model files
def test_hdf5_round_trip_gives_identical_energies_and_forces(tmp_path, model, box):
    again = load_model(save_model(tmp_path / "model.h5", model))
    assert (again.charge_model, again.charges, again.sigma, again.switch) == \
        (model.charge_model, model.charges, model.sigma, model.switch)
    assert again.provenance["source"] == "echemmd.mlpotential.random_model"
    e1, f1, w1 = ModelEnergy(model, box)(box)
    e2, f2, w2 = ModelEnergy(again, box)(box)
    assert e1 == e2  # bitwise: the file stores every double as it is
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(w1, w2)
    # The QEq tables too.
    qeq = random_model(["H", "O"], seed=5, charge_model="qeq", switch=SWITCH)
    back = load_model(save_model(tmp_path / "qeq.h5", qeq))
    assert back.qeq == qeq.qeq and back.sigma == qeq.sigma and back.charge_model == "qeq"


@pytest.mark.parametrize("units", [("Angstrom", "eV"), ("Bohr", "Hartree")])
def test_n2p2_export_and_import_give_the_same_energies_and_forces(tmp_path, model, box, slab, units):
    write_n2p2(tmp_path, model.short_range, length_unit=units[0], energy_unit=units[1])
    again = HybridModel(read_n2p2(tmp_path, length_unit=units[0], energy_unit=units[1]))
    for atoms in (box, slab):
        a = short_range(NeuralNetworkPotential(model.short_range), atoms)
        b = short_range(NeuralNetworkPotential(again.short_range), atoms)
        scale = np.abs(a.forces).max()
        if units[0] == "Angstrom":
            assert abs(a.energy - b.energy) <= 1e-12 * abs(a.energy)
            np.testing.assert_allclose(b.forces, a.forces, rtol=0, atol=1e-12 * scale)
        else:  # through Bohr and Hartree: the parameters are rescaled, so agreement to rounding
            assert abs(a.energy - b.energy) <= 1e-11 * abs(a.energy)
            np.testing.assert_allclose(b.forces, a.forces, rtol=0, atol=1e-9 * scale)


# ------------------------------------------------------------------ (b) derivatives
@pytest.mark.parametrize("which", ["box", "slab"])
def test_forces_and_virial_are_derivatives_of_the_network_energy(model, box, slab, which):
    atoms = box if which == "box" else slab
    nnp = NeuralNetworkPotential(model.short_range)
    system = System.from_atoms(atoms)
    ref = short_range(nnp, system)
    assert np.abs(ref.forces).max() > 0.3  # forces of a size worth checking (eV/Å)
    h = 1e-4
    rng = np.random.default_rng(0)
    for i in rng.choice(system.n_atoms, 4, replace=False):
        for k in range(3):
            plus, minus = system.copy(), system.copy()
            plus.positions[i, k] += h
            minus.positions[i, k] -= h
            fd = -(short_range(nnp, plus).energy - short_range(nnp, minus).energy) / (2 * h)
            assert abs(fd - ref.forces[i, k]) < 1e-6 * np.abs(ref.forces).max(), (i, k, fd, ref.forces[i, k])
    # Virial W_ab = -dE/d eps_ab under x -> (1 + eps) x, cell -> cell (1 + eps)^T, all nine components
    # (the network term needs no periodicity along z, so a slab may be sheared too).
    W = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            energies = []
            for sign in (1, -1):
                s = system.copy()
                m = np.eye(3)
                m[a, b] += sign * h
                s.positions = system.positions @ m.T
                s.cell = system.cell @ m.T
                energies.append(short_range(nnp, s).energy)
            W[a, b] = -(energies[0] - energies[1]) / (2 * h)
    np.testing.assert_allclose(ref.virial, W, rtol=0, atol=1e-6 * np.abs(W).max())
    np.testing.assert_allclose(ref.virial, ref.virial.T, atol=1e-10 * np.abs(W).max())  # rotation invariance


# ------------------------------------------------------------------ (c) NVE
def random_atoms(n_o, n_h, density=0.1, min_distance=1.6, seed=0):
    """O and H atoms at random in a periodic cube (atoms/Å^3), no two closer than ``min_distance`` Å."""
    rng = np.random.default_rng(seed)
    n = n_o + n_h
    side = (n / density) ** (1 / 3)
    positions = np.zeros((n, 3))
    placed = 0
    while placed < n:
        p = rng.uniform(0, side, 3)
        d = positions[:placed] - p
        d -= side * np.round(d / side)
        if placed and np.linalg.norm(d, axis=1).min() < min_distance:
            continue
        positions[placed] = p
        placed += 1
    return Atoms("O" * n_o + "H" * n_h, positions=positions, cell=[side] * 3, pbc=True)


class Energies:
    every = 10

    def __init__(self):
        self.rows = []

    def observe(self, sim):
        self.rows.append((sim.time, sim.conserved_energy, sim.potential_energy, sim.kinetic_energy))

    def close(self):
        pass


def test_nve_with_network_and_ewald_conserves_energy():
    """48 random H/O atoms (0.1 atoms/Å^3), a random network scaled on them, Gaussian charges +-0.1/0.2 e with
    the switch, and a weak Lennard-Jones wall (sigma 1.5 Å) that keeps atoms apart. 0.2 ps Langevin at
    300 K, then 1 ps NVE at dt = 0.25 fs.

    The drift is measured against the kinetic energy: a random model's total energy has no meaningful
    zero (its reference energies are arbitrary), so |E_total| would make any drift look small.
    """
    atoms = random_atoms(16, 32, seed=1)
    model = random_model(["H", "O"], seed=1, charge_model="fixed", switch=SWITCH)
    model.charges = {"H": 0.1, "O": -0.2}  # neutral
    calibrate_scaling(model, atoms)
    system = System.from_atoms(atoms)
    system.charges = np.array([model.charges[s] for s in system.symbols])
    ewald = Ewald(accuracy=1e-6, sigma=model.sigma, switch=model.switch)
    ewald.setup(system)
    wall = LennardJones({p: {"epsilon": 0.005, "sigma": 1.5} for p in ("H-H", "H-O", "O-O")}, cutoff=5.0)
    nnp = NeuralNetworkPotential(model.short_range)
    ff = ForceField([nnp, ewald, wall], NeighborList(max(nnp.cutoff, ewald.cutoff, wall.cutoff), skin=1.0))
    maxwell_boltzmann(system, 300.0, np.random.default_rng(2))
    Simulation(system, ff, LangevinBAOAB(dt=0.5, temperature=300.0, friction=0.05, seed=3)).run(400)
    rec = Energies()
    sim = Simulation(system, ff, VelocityVerlet(dt=0.25), observers=[rec])
    sim.run(4000)  # 1 ps
    t, e, pe, ke = (np.array(c) for c in zip(*rec.rows))
    kinetic = ke.mean()
    drift = abs(np.polyfit(t - t[0], e, 1)[0]) * (t[-1] - t[0]) / kinetic
    deviation = np.abs(e - e[0]).max() / kinetic
    print(f"NVE 1 ps, dt = 0.25 fs, 48 atoms: linear drift {drift:.2e} and max deviation {deviation:.2e} of "
          f"<E_kin> = {kinetic:.3f} eV (T = {sim.temperature:.0f} K); |E(t) - E(0)| max "
          f"{np.abs(e - e[0]).max():.2e} eV, potential energy range {np.ptp(pe):.3f} eV")
    assert drift < 1e-4
    assert deviation < 1e-3
    # The atoms really moved and exchanged energy; the forces were not trivial.
    assert np.ptp(pe) > 1000 * np.abs(e - e[0]).max()
    assert ff.neighbors.n_builds > 10
    assert 150 < sim.temperature < 2000


# ------------------------------------------------------------------ (d) elements
def test_missing_element_names_the_atom_and_the_element(model, box):
    atoms = box.copy()
    atoms[5].symbol = "Na"
    system = System.from_atoms(atoms)
    nnp = NeuralNetworkPotential(model.short_range)
    message = r"atom 5 is Na, an element the model has no network for \(the model has H, O\)"
    with pytest.raises(InputError, match=message):
        short_range(nnp, system)
    ff = ForceField([nnp], NeighborList(nnp.cutoff, skin=0.5))
    with pytest.raises(InputError, match="atom 5 is Na"):
        ff.compute(system)
    with pytest.raises(InputError, match="atom 5 is Na"):
        ModelEnergy(model, atoms)

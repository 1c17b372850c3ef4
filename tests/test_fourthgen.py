"""4G-HDNNP: charges against a dense solve, the energy against an independent oracle, exact forces.

Small water boxes and a tiny capacitor; a random 4G model whose input scaling comes from the
structure itself. Oracles: a dense KKT solve of the charge equilibration (the matrix built
column by column from unit-charge potentials), brute-force image sums for the screened
electrostatics, and central finite differences of the energy for the forces.
"""

import math

import numpy as np
import pytest
from ase import Atoms
from scipy.special import erf

from echemmd.charges import Electrode
from echemmd.fourthgen import FourthGenPotential, random_fourthgen_model
from echemmd.system import System
from echemmd.units import KE
from ewald_oracles import ewald3d, image_shifts

SCREEN = (1.0, 3.0)


def water_box(n_mol=4, box=6.5, seed=1):
    """n_mol rigid-geometry water molecules at random, non-overlapping places in a cubic box."""
    rng = np.random.default_rng(seed)
    centers = []
    while len(centers) < n_mol:
        c = rng.uniform(0, box, 3)
        if all(np.linalg.norm((c - d + box / 2) % box - box / 2) > 2.6 for d in centers):
            centers.append(c)
    pos, sym = [], []
    t = np.deg2rad(104.5 / 2)
    for c in centers:
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        w = rng.normal(size=3)
        w -= w.dot(u) * u
        w /= np.linalg.norm(w)
        pos += [c, c + 0.96 * (np.cos(t) * u + np.sin(t) * w), c + 0.96 * (np.cos(t) * u - np.sin(t) * w)]
        sym += ["O", "H", "H"]
    return Atoms(sym, positions=np.array(pos), cell=[box] * 3, pbc=True)


@pytest.fixture(scope="module")
def water():
    atoms = water_box()
    model = random_fourthgen_model(["H", "O"], atoms, r_c=4.0, seed=3, screening=SCREEN)
    return atoms, model


def dense_kkt(pot, system):
    """Charges (and the multiplier) of the constrained QEq minimum by a dense solve."""
    solver = pot.solver
    v = solver.variable
    n = v.size
    a = np.zeros((n, n))
    for k in range(n):
        e = np.zeros(system.n_atoms)
        e[v[k]] = 1.0
        a[:, k] = pot.ewald_q.potential(system, charges=e)[v]
    a = 0.5 * (a + a.T) + np.diag(solver._hardness[v])
    b = -solver._chi[v] + solver._psi[v] + system.positions[v] @ solver.field
    kkt = np.block([[a, -np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    x = np.linalg.solve(kkt, np.append(b, solver._total))
    return x[:n], a


def finite_difference_forces(pot, system, h=1e-4, atoms=None):
    atoms = range(system.n_atoms) if atoms is None else atoms
    fd = np.zeros((system.n_atoms, 3))
    for i in atoms:
        for k in range(3):
            s = system.copy()
            s.positions[i, k] += h
            ep = pot.compute(s).energy
            s.positions[i, k] -= 2 * h
            em = pot.compute(s).energy
            fd[i, k] = -(ep - em) / (2 * h)
    return fd


def test_cg_charges_equal_dense_solve_and_warm_start(water):
    atoms, model = water
    system = System.from_atoms(atoms.copy())
    pot = FourthGenPotential(model, accuracy=1e-9, tolerance=1e-12)
    pot.compute(system)
    expected, _ = dense_kkt(pot, system)
    err = np.abs(system.charges - expected).max()
    print(f"max |q_CG - q_dense| = {err:.2e} e in {pot.solver.last.iterations} CG iterations")
    assert err < 1e-8
    assert system.charges.sum() == pytest.approx(0.0, abs=1e-12)
    assert np.ptp(system.charges) > 0.05  # the charges respond to the environment
    # A small move: the warm-started solve needs fewer iterations than the cold one.
    cold = pot.solver.last.iterations
    system.positions += 1e-3 * np.random.default_rng(0).normal(size=system.positions.shape)
    pot.compute(system)
    assert pot.solver.last.iterations < cold


def test_adjoint_solution_equals_dense_projected_inverse(water):
    atoms, model = water
    system = System.from_atoms(atoms.copy())
    pot = FourthGenPotential(model, accuracy=1e-9, tolerance=1e-12)
    pot.compute(system)
    _, a = dense_kkt(pot, system)
    n = a.shape[0]
    rhs = np.random.default_rng(5).normal(size=n)
    lam, _ = pot.solver.solve_adjoint(system, None, rhs, initial=np.zeros(n))
    kkt = np.block([[a, -np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    expected = np.linalg.solve(kkt, np.append(rhs, 0.0))[:n]
    assert np.abs(lam - expected).max() < 1e-9 * np.abs(expected).max()


@pytest.mark.parametrize("kind", ["cos", "poly2"])
def test_energy_equals_independent_oracle(water, kind):
    """E = sum_i E_short(G_i, q_i) + E_Ewald - Gaussian self energies - screened short-range pairs."""
    import dataclasses

    atoms, model = water
    model = dataclasses.replace(model, screening_kind=kind)
    system = System.from_atoms(atoms.copy())
    pot = FourthGenPotential(model, accuracy=1e-10, tolerance=1e-12)
    c = pot.compute(system)
    q = system.charges.copy()
    sigma = np.array([model.sigma[s] for s in system.symbols])
    # Short range: each element's network on [scaled G, raw q], from the network objects directly.
    G = pot.descriptors.compute(atoms)
    e_short = 0.0
    for i, s in enumerate(system.symbols):
        nets = model.short_range
        x = nets.scale(s, np.append(G[i, pot.columns[s]], q[i])[None, :])
        net = nets.networks[s]
        e_short += float(net.evaluate(x, gradient=False)[0]) / nets.conv_energy + nets.energy_shift(s)
    p = pot.ewald_q.params
    ew = ewald3d(system.positions, q, system.cell, p.alpha, p.r_cut, p.k_cut, sigma)["total"]
    self_gauss = KE * np.sum(q**2 / (2 * math.sqrt(math.pi) * sigma))
    r_in, r_out = SCREEN
    screened = 0.0
    shifts = image_shifts(system.cell, system.pbc, r_out + 7.0) @ system.cell
    for i in range(system.n_atoms):
        for j in range(system.n_atoms):
            d = np.linalg.norm(system.positions[j] + shifts - system.positions[i], axis=1)
            d = d[(d > 1e-9) & (d < r_out)]
            x = np.clip((d - r_in) / (r_out - r_in), 0.0, 1.0)
            s_of_r = 0.5 * (1 - np.cos(np.pi * x)) if model.screening_kind == "cos" else x**3 * (10 - 15 * x + 6 * x * x)
            g = math.sqrt(2 * (sigma[i] ** 2 + sigma[j] ** 2))
            screened += 0.5 * KE * q[i] * q[j] * np.sum((1 - s_of_r) * erf(d / g) / d)
    expected = e_short + ew - self_gauss - screened
    print(f"E = {c.energy:.10f} eV, oracle {expected:.10f} eV")
    assert c.energy == pytest.approx(expected, abs=1e-8)
    assert c.extra["e_short"] == pytest.approx(e_short, abs=1e-9)


def test_forces_equal_finite_differences_only_with_the_adjoint_term(water):
    atoms, model = water
    system = System.from_atoms(atoms.copy())
    pot = FourthGenPotential(model, accuracy=1e-9, tolerance=1e-12)
    forces = pot.compute(system.copy()).forces
    fd = finite_difference_forces(pot, system)
    scale = np.abs(fd).max()
    rel = np.abs(forces - fd).max() / scale
    hf = FourthGenPotential(model, accuracy=1e-9, tolerance=1e-12, adjoint=False).compute(system.copy()).forces
    rel_hf = np.abs(hf - fd).max() / scale
    print(f"max |F - F_FD| / max |F_FD| = {rel:.2e} with the adjoint term, {rel_hf:.2e} without")
    assert rel < 1e-6
    assert rel_hf > 1e-3
    assert np.abs(forces.sum(axis=0)).max() < 1e-8 * scale  # no net force in a periodic box


def test_virial_equals_strain_derivative(water):
    atoms, model = water
    system = System.from_atoms(atoms.copy())
    pot = FourthGenPotential(model, accuracy=1e-9, tolerance=1e-12)
    virial = pot.compute(system.copy()).virial
    h = 1e-5
    fd = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            e = []
            for sgn in (1, -1):
                strain = np.eye(3)
                strain[a, b] += sgn * h
                s = system.copy()
                s.positions = system.positions @ strain
                s.cell = system.cell @ strain
                e.append(pot.compute(s).energy)
            fd[a, b] = -(e[0] - e[1]) / (2 * h)
    print(f"max |W - W_FD| = {np.abs(virial - fd).max():.2e} eV (max |W| {np.abs(fd).max():.2e})")
    assert np.abs(virial - fd).max() < 1e-6 * max(1.0, np.abs(fd).max())


def water_capacitor(n_mol=3, gap=9.0, height=40.0, seed=2):
    """Water between two one-layer Au(111) electrodes (tags 1 and 2), slab geometry (pbc T T F)."""
    from ase.build import fcc111

    layer = fcc111("Au", size=(2, 2, 1), a=4.08, orthogonal=True, vacuum=0.0)
    cell = layer.cell.array.copy()
    bottom, top = layer.copy(), layer.copy()
    bottom.positions[:, 2] = 8.0
    top.positions[:, 2] = 8.0 + gap
    bottom.set_tags(1)
    top.set_tags(2)
    rng = np.random.default_rng(seed)
    pos, sym, centers = [], [], []
    t = np.deg2rad(104.5 / 2)
    while len(centers) < n_mol:
        c = np.append(rng.uniform(0, 1, 2) @ cell[:2, :2], rng.uniform(8.0 + 2.8, 8.0 + gap - 2.8))
        d = np.array(centers) - c if centers else np.zeros((0, 3))
        if len(d):
            d[:, :2] -= np.round(d[:, :2] @ np.linalg.inv(cell[:2, :2])) @ cell[:2, :2]
        if not len(d) or np.min(np.linalg.norm(d, axis=1)) > 2.7:
            centers.append(c)
    for c in centers:
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        w = rng.normal(size=3)
        w -= w.dot(u) * u
        w /= np.linalg.norm(w)
        pos += [c, c + 0.96 * (np.cos(t) * u + np.sin(t) * w), c + 0.96 * (np.cos(t) * u - np.sin(t) * w)]
        sym += ["O", "H", "H"]
    atoms = bottom + top + Atoms(sym, positions=np.array(pos))
    cell[2] = [0, 0, height]
    atoms.set_cell(cell)
    atoms.pbc = (True, True, False)
    system = System.from_atoms(atoms.copy())
    system.frozen[system.tags > 0] = True
    return atoms, system


@pytest.fixture(scope="module")
def capacitor():
    atoms, system = water_capacitor()
    model = random_fourthgen_model(["H", "O", "Au"], atoms, r_c=4.0, seed=4, screening=SCREEN, n_angular=1)
    electrodes = [Electrode("bottom", np.nonzero(system.tags == 1)[0], -0.5, 0.6),
                  Electrode("top", np.nonzero(system.tags == 2)[0], 0.5, 0.6)]
    return model, system, electrodes


def test_electrodes_and_field_charges_equal_dense_solve(capacitor):
    model, system, electrodes = capacitor
    system = system.copy()
    pot = FourthGenPotential(model, electrodes=electrodes, field=(0, 0, 0.05), accuracy=1e-9, tolerance=1e-12)
    c = pot.compute(system)
    expected, _ = dense_kkt(pot, system)
    err = np.abs(system.charges - expected).max()
    print(f"capacitor: max |q_CG - q_dense| = {err:.2e} e; electrode charges {c.extra['charge_bottom']:.4f}, "
          f"{c.extra['charge_top']:.4f} e")
    assert err < 1e-8
    assert system.charges.sum() == pytest.approx(0.0, abs=1e-12)
    # The electrode atoms take the potential, not their element's chi: a larger bias charges them more.
    biased = [Electrode(e.name, e.indices, 4 * e.potential, e.sigma) for e in electrodes]
    s2 = system.copy()
    FourthGenPotential(model, electrodes=biased, field=(0, 0, 0.05), accuracy=1e-9, tolerance=1e-12).compute(s2)
    assert s2.charges[system.tags == 2].sum() > system.charges[system.tags == 2].sum() + 1e-3


def test_electrodes_and_field_forces_equal_finite_differences(capacitor):
    model, system, electrodes = capacitor
    pot = FourthGenPotential(model, electrodes=electrodes, field=(0, 0, 0.05), accuracy=1e-9, tolerance=1e-12)
    forces = pot.compute(system.copy()).forces
    atoms = [0, 5] + list(range(8, system.n_atoms))
    # The stiff electrode atoms need a short step: the error of the central difference is O(h^2).
    fd = finite_difference_forces(pot, system, h=2e-5, atoms=atoms)
    scale = np.abs(fd[atoms]).max()
    rel = np.abs(forces[atoms] - fd[atoms]).max() / scale
    print(f"capacitor: max |F - F_FD| / max |F_FD| = {rel:.2e}")
    assert rel < 1e-6


def test_nve_conserves_energy_over_one_picosecond(water):
    """Velocity Verlet, 1 ps at 0.25 fs, warm-started charge and adjoint solves every step.

    The random model is softened (output weights x 0.2) and given a smooth Born–Mayer core so
    that no pair collapses; hydrogens carry the deuterium mass. The conserved energy must not
    drift by more than 1e-4 of |E|.
    """
    from echemmd.forcefield import ForceField
    from echemmd.integrators import VelocityVerlet, maxwell_boltzmann
    from echemmd.network import ElementNetwork
    from echemmd.neighbors import NeighborList
    from echemmd.potentials import BornMayerHuggins
    from echemmd.simulation import Simulation

    atoms, base = water
    model = random_fourthgen_model(["H", "O"], atoms, r_c=4.0, seed=3, screening=SCREEN)
    for nets in (model.short_range, model.electronegativity):
        for e, n in list(nets.networks.items()):
            W = list(n.weights)
            W[-1] = W[-1] * 0.2
            nets.networks[e] = ElementNetwork(n.layer_sizes, n.activations, W, n.biases)
    system = System.from_atoms(atoms.copy())
    system.masses[np.array(system.symbols) == "H"] = 2.014
    pot = FourthGenPotential(model, accuracy=1e-7, tolerance=1e-10)
    pot.setup(system)
    core = BornMayerHuggins({p: {"A": 5.0, "rho": 0.1, "sigma": 0.5} for p in ("H-H", "H-O", "O-O")}, cutoff=2.0)
    ff = ForceField([pot, core], NeighborList(pot.cutoff, 1.0))
    maxwell_boltzmann(system, 300.0, np.random.default_rng(1))

    class Recorder:
        every = 10

        def __init__(self):
            self.energy, self.iterations = [], []

        def observe(self, sim):
            self.energy.append(sim.conserved_energy)
            self.iterations.append(pot.solver.last.iterations)

        def close(self):
            pass

    rec = Recorder()
    Simulation(system, ff, VelocityVerlet(dt=0.25), observers=[rec]).run(4000)
    e = np.array(rec.energy)
    n = len(e) // 10
    drift = abs(e[-n:].mean() - e[:n].mean()) / abs(e[0])
    deviation = np.abs(e - e[0]).max() / abs(e[0])
    print(f"4G NVE 1 ps: relative drift {drift:.1e}, max relative deviation {deviation:.1e}, "
          f"{np.mean(rec.iterations):.1f} CG iterations per step")
    assert drift < 1e-4 and deviation < 1e-4

"""Charge solver: CG against a dense solve, the empty capacitor, the field, NVE at constant potential."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc111

from echemmd.charges import ChargeSolver, Electrode, QEqParameters
from echemmd.electrostatics import Ewald
from echemmd.errors import InputError, SimulationError
from echemmd.forcefield import ForceField
from echemmd.integrators import LangevinBAOAB, VelocityVerlet, maxwell_boltzmann
from echemmd.neighbors import NeighborList
from echemmd.potentials import LennardJones
from echemmd.simulation import Simulation
from echemmd.system import System
from echemmd.units import KE

SIGMA = 0.357  # Å


def capacitor(side=4, layers=2, gap=15.0, n_pairs=0, height=60.0, seed=0):
    """Two fcc(111) electrodes (tags 1, 2) facing each other across ``gap`` Å, optional ions between."""
    slab = fcc111("Au", size=(side, side, layers), a=4.08, orthogonal=True, vacuum=0.0)
    spacing = 4.08 / np.sqrt(3)
    bottom = slab.copy()
    bottom.positions[:, 2] += 10.0 - bottom.positions[:, 2].min()
    top = slab.copy()
    z0 = 10.0 + (layers - 1) * spacing + gap
    top.positions[:, 2] = z0 + (top.positions[:, 2].max() - top.positions[:, 2])
    bottom.set_tags(1)
    top.set_tags(2)
    atoms = bottom + top
    cell = atoms.cell.array.copy()
    cell[2] = [0, 0, height]
    if n_pairs:
        rng = np.random.default_rng(seed)
        zlo, zhi = 10.0 + (layers - 1) * spacing + 3.0, z0 - 3.0
        pos = []
        while len(pos) < 2 * n_pairs:
            p = np.append(rng.uniform(0, 1, 2) @ cell[:2, :2], rng.uniform(zlo, zhi))
            d = np.array(pos) - p if pos else np.zeros((0, 3))
            if len(d):
                d[:, :2] -= np.round(d[:, :2] @ np.linalg.inv(cell[:2, :2])) @ cell[:2, :2]
            if not len(d) or np.min(np.linalg.norm(d, axis=1)) > 3.2:
                pos.append(p)
        ions = Atoms(["Na", "Cl"] * n_pairs, positions=np.array(pos))
        ions.set_initial_charges([1.0, -1.0] * n_pairs)
        atoms = atoms + ions
    atoms.set_cell(cell)
    atoms.pbc = (True, True, False)
    system = System.from_atoms(atoms)
    system.frozen[system.tags > 0] = True
    return system


def solver_for(system, dv=1.0, accuracy=1e-10, slab_factor=3.0, field=(0, 0, 0), tolerance=1e-10, qeq=None, **kw):
    sigma = np.where(system.tags > 0, SIGMA, 0.0)
    for el, p in (qeq or {}).items():
        sigma[np.array(system.symbols) == el] = p.sigma
    ewald = Ewald(accuracy=accuracy, sigma=sigma, slab_factor=slab_factor)
    electrodes = [Electrode("bottom", np.nonzero(system.tags == 1)[0], -dv / 2, SIGMA),
                  Electrode("top", np.nonzero(system.tags == 2)[0], dv / 2, SIGMA)]
    return ChargeSolver(ewald, electrodes, qeq=qeq, field=field, tolerance=tolerance, **kw)


def dense_solution(solver, system):
    """The same constrained minimum by a dense KKT solve, columns of A from unit charges."""
    ew = solver.ewald
    solver.setup(system)
    v = solver.variable
    n = len(v)
    a = np.zeros((n, n))
    for k in range(n):
        e = np.zeros(system.n_atoms)
        e[v[k]] = 1.0
        a[:, k] = ew.potential(system, charges=e)[v]
    a += np.diag(solver._hardness[v])
    fixed = np.zeros(system.n_atoms)
    fixed[solver.fixed] = system.charges[solver.fixed]
    b = -solver._chi[v] + solver._psi[v] + system.positions[v] @ solver.field - ew.potential(system, charges=fixed)[v]
    kkt = np.block([[a, -np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    target = solver._total - fixed.sum()
    x = np.linalg.solve(kkt, np.append(b, target))
    return x[:n], a


def test_cg_equals_dense_solve_with_electrodes_qeq_and_ions():
    system = capacitor(side=4, n_pairs=4)
    # Two ions become QEq atoms (Cl), the Na keep fixed charges.
    qeq = {"Cl": QEqParameters(chi=8.3, hardness=9.0, sigma=1.0)}
    solver = solver_for(system, dv=0.8, qeq=qeq, field=(0, 0, 0.02))
    expected, a = dense_solution(solver, system)
    assert np.allclose(a, a.T, atol=1e-12 * np.abs(a).max())
    info = solver.solve(system)
    got = system.charges[solver.variable]
    print(f"CG: {info.iterations} iterations, residual {info.residual:.2e} V, "
          f"max |q_CG - q_dense| = {np.abs(got - expected).max():.2e} e")
    assert np.abs(got - expected).max() < 1e-8
    assert system.charges.sum() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("switch", [None, (1.0, 5.0)])
def test_cached_electrode_matrix_equals_the_ewald_products(switch):
    """Frozen electrodes: the cached dense A_ee equals A built column by column from Ewald sums of
    unit charges, and the cached solve equals the matrix-free one."""
    system = capacitor(side=4, n_pairs=3)
    solver = solver_for(system, dv=0.7)
    solver.ewald.switch = switch
    expected, a_columns = dense_solution(solver, system)
    a = solver.dense_matrix(system)
    assert a is not None and a.shape == a_columns.shape
    np.testing.assert_allclose(a, a_columns, rtol=0, atol=1e-11 * np.abs(a_columns).max())
    info = solver.solve(system)
    assert solver._dense_active
    cached = system.charges.copy()
    assert np.abs(cached[solver.variable] - expected).max() < 1e-9
    plain = solver_for(system, dv=0.7, cache_matrix=False)
    plain.ewald.switch = switch
    system.charges[solver.variable] = 0.0
    info_plain = plain.solve(system)
    assert not plain._dense_active
    assert np.abs(system.charges - cached).max() < 1e-9
    assert info.iterations == pytest.approx(info_plain.iterations, abs=2)
    # Mobile variable atoms (not frozen) or QEq atoms: no cache.
    system.frozen[:] = False
    assert solver.dense_matrix(system) is None


def test_cg_equals_dense_solve_bulk_qeq_with_net_charge():
    rng = np.random.default_rng(3)
    cell = np.array([[9.0, 0, 0], [1.0, 8.5, 0], [0.5, -0.7, 9.5]])
    atoms = Atoms("O8H16", positions=rng.uniform(0, 1, (24, 3)) @ cell, cell=cell, pbc=True)
    system = System.from_atoms(atoms)
    qeq = {"O": QEqParameters(chi=8.5, hardness=12.0, sigma=0.7), "H": QEqParameters(chi=4.5, hardness=14.0, sigma=0.5)}
    sigma = np.where(np.array(system.symbols) == "O", 0.7, 0.5)
    solver = ChargeSolver(Ewald(accuracy=1e-10, sigma=sigma), qeq=qeq, total_charge=-1.0, tolerance=1e-11)
    expected, _ = dense_solution(solver, system)
    solver.solve(system)
    assert np.abs(system.charges - expected).max() < 1e-8
    assert system.charges.sum() == pytest.approx(-1.0, abs=1e-12)
    # Oxygen (more electronegative) ends up negative on average.
    assert system.charges[np.array(system.symbols) == "O"].mean() < 0


def test_empty_capacitor_is_linear_and_matches_the_parallel_plate():
    system = capacitor(side=4, layers=3, gap=15.0)
    bottom, top = np.nonzero(system.tags == 1)[0], np.nonzero(system.tags == 2)[0]
    charges = []
    for dv in (0.5, 1.0, 2.0):
        s = system.copy()
        solver_for(s, dv=dv).solve(s)
        charges.append(s.charges[top].sum())
        assert s.charges[bottom].sum() == pytest.approx(-charges[-1], abs=1e-10)
    charges = np.array(charges)
    np.testing.assert_allclose(charges / [0.5, 1.0, 2.0], charges[1], rtol=1e-8)  # linear in dV
    area = abs(np.linalg.det(system.cell[:2, :2]))
    z = system.positions[:, 2]
    d = z[top].min() - z[bottom].max()
    eps0 = 1.0 / (4 * np.pi * KE)  # e / (V Å)
    plate = eps0 * area / d
    # The induced charge sits on the surface atoms as Gaussians of width sigma (a little of it
    # on the next layer), so the plates' effective separation d_eff = eps0 A / C is d to within
    # about a width on each side.
    d_eff = eps0 * area / charges[1]
    print(f"capacitor: Q/dV = {charges[1]:.5f} e/V, parallel plate eps0 A/d = {plate:.5f} e/V, "
          f"effective gap {d_eff:.3f} Å vs {d:.3f} Å")
    assert abs(d_eff - d) < 2 * SIGMA
    # A conductor's charge sits on the face towards the other electrode.
    s = system.copy()
    solver_for(s, dv=1.0).solve(s)
    layers = np.round(z[top] - z[top].min(), 2)
    inner = s.charges[top][layers == layers.min()].sum()
    outer = s.charges[top][layers == layers.max()].sum()
    print(f"top electrode: inner layer {inner:.5f} e, outer layer {outer:.2e} e")
    assert abs(outer) < 0.01 * abs(inner)


def test_capacitor_charge_converges_with_slab_factor():
    # A cell barely taller than the capacitor, so that small padding factors leave little vacuum.
    system = capacitor(side=4, layers=2, gap=12.0, height=18.0)
    top = np.nonzero(system.tags == 2)[0]
    q = []
    for factor in (1.25, 1.5, 2.0, 3.0):
        s = system.copy()
        solver_for(s, slab_factor=factor).solve(s)
        q.append(s.charges[top].sum())
    diffs = np.abs(np.diff(q))
    print("Q_top vs slab_factor 1.25, 1.5, 2, 3:", q)
    # Each step of padding gains, until the charge is converged to the solve's resolution
    # (tolerance 1e-10 V: a few 1e-12 relative in the charge), where the differences are noise.
    floor = 1e-11 * abs(q[-1])
    assert diffs[1] < diffs[0] and (diffs[2] < diffs[1] or diffs[2] < floor)
    assert abs(q[-1] - q[-2]) < 1e-6 * abs(q[-1])


def test_field_enters_the_right_hand_side_only():
    system = capacitor(side=4, layers=2, n_pairs=3)
    results = {}
    for name, ez in (("zero", 0.0), ("one", 0.03), ("two", 0.05), ("sum", 0.08)):
        s = system.copy()
        solver_for(s, field=(0, 0, ez)).solve(s)
        results[name] = s.charges.copy()
    # Affine in E with one matrix: q(E1 + E2) = q(E1) + q(E2) - q(0).
    np.testing.assert_allclose(results["sum"], results["one"] + results["two"] - results["zero"], atol=1e-9)
    assert np.abs(results["one"] - results["zero"]).max() > 1e-3


def test_field_forces_are_q_e_and_the_energy_is_hellmann_feynman():
    system = capacitor(side=4, layers=2, n_pairs=3)
    solver = solver_for(system, field=(0, 0, 0.05), tolerance=1e-12)
    ff = ForceField([solver.ewald], NeighborList(solver.ewald.setup(system).r_cut, 0.5), charge_solver=solver)
    res = ff.compute(system)
    # Forces at the converged charges equal -dU/dr with the charges re-solved (Hellmann–Feynman).
    ion = np.nonzero(system.tags == 0)[0][0]
    h = 1e-4
    for k in range(3):
        plus, minus = system.copy(), system.copy()
        plus.positions[ion, k] += h
        minus.positions[ion, k] -= h
        fd = -(ff.compute(plus).energy - ff.compute(minus).energy) / (2 * h)
        assert res.forces[ion, k] == pytest.approx(fd, rel=1e-6, abs=1e-7)


def test_nve_at_constant_potential_conserves_energy_and_warm_start_helps():
    system = capacitor(side=4, layers=2, gap=14.0, n_pairs=6, seed=2)
    solver = solver_for(system, dv=1.0, accuracy=1e-6, tolerance=1e-10)
    ewald = solver.ewald
    ewald.setup(system)
    coeffs = {p: {"epsilon": 0.01, "sigma": 3.0} for p in ("Na-Na", "Cl-Cl", "Na-Cl", "Na-Au", "Cl-Au")}
    coeffs["Au-Au"] = {"epsilon": 0.0, "sigma": 3.0}
    lj = LennardJones(coeffs, cutoff=7.0)
    ff = ForceField([lj, ewald], NeighborList(max(7.0, ewald.cutoff), 1.0), charge_solver=solver)
    maxwell_boltzmann(system, 600.0, np.random.default_rng(5))

    class Recorder:
        every = 5

        def __init__(self):
            self.energy, self.iterations = [], []

        def observe(self, sim):
            self.energy.append(sim.conserved_energy)
            self.iterations.append(solver.last.iterations)

        def close(self):
            pass

    # Thermalise the random start (ion pairing releases several eV) before measuring.
    Simulation(system, ff, LangevinBAOAB(dt=1.0, temperature=600.0, friction=0.05, seed=6)).run(1000)
    rec = Recorder()
    sim = Simulation(system, ff, VelocityVerlet(dt=1.0), observers=[rec])
    sim.run(2000)  # 2 ps
    e = np.array(rec.energy)
    drift = np.abs(e - e[0]).max() / abs(e[0])
    warm = np.mean(rec.iterations[1:])
    # Cold: the same solves from zero electrode charges.
    cold = []
    for _ in range(5):
        s = system.copy()
        cold.append(solver.solve(s, ff.neighbors, initial=np.zeros(len(solver.variable))).iterations)
    print(f"constant-potential NVE 2 ps: max relative energy deviation {drift:.2e}; CG iterations warm "
          f"{warm:.1f}, cold {np.mean(cold):.1f} (x{np.mean(cold) / warm:.1f})")
    assert drift < 1e-4
    assert warm < np.mean(cold)


def constant_potential_forcefield(system):
    solver = solver_for(system, dv=1.0, accuracy=1e-6, tolerance=1e-10)
    solver.ewald.setup(system)
    coeffs = {p: {"epsilon": 0.01, "sigma": 3.0} for p in ("Na-Na", "Cl-Cl", "Na-Cl", "Na-Au", "Cl-Au")}
    coeffs["Au-Au"] = {"epsilon": 0.0, "sigma": 3.0}
    lj = LennardJones(coeffs, cutoff=7.0)
    return ForceField([lj, solver.ewald], NeighborList(max(7.0, solver.ewald.cutoff), 1.0), charge_solver=solver)


def test_forces_only_step_at_constant_potential_skips_the_frozen_electrodes():
    """A forces-only step: the mobile atoms' forces as on a full step (electrode–electrode pairs
    and the electrodes' reciprocal forces skipped), zero on the frozen electrode atoms; the
    structure factors of the force pass reuse the ions' from the charge solve."""
    system = capacitor(side=4, layers=2, gap=14.0, n_pairs=6, seed=2)
    ff = constant_potential_forcefield(system)
    full = ff.compute(system)
    part = ff.compute(system, energy_virial=False)
    mobile = ~system.frozen
    assert system.frozen.sum() == 64 and mobile.sum() == 12
    scale = np.abs(full.forces[mobile]).max()
    np.testing.assert_allclose(part.forces[mobile], full.forces[mobile], rtol=0, atol=1e-12 * scale)
    assert np.all(part.forces[system.frozen] == 0.0)
    assert np.abs(full.forces[system.frozen]).max() > 1e-3  # the full step does compute them
    # Structure factors from the cache (ions from the right-hand side + electrodes) against a fresh sum.
    ewald = ff.charge_solver.ewald
    assert ewald._sk_cache is not None and np.array_equal(ewald._sk_cache[0], system.positions)
    frac = ewald._fractional(system)
    hmax, kmax, lmax = ewald.params.kmax
    from echemmd.kernels import ewald as ewald_kernels

    fresh = ewald_kernels.structure_factors(frac, system.charges, ewald._kidx, hmax, kmax, lmax)
    cached = ewald._structure_factors(system, frac, system.charges)
    np.testing.assert_allclose(cached, fresh, rtol=0, atol=1e-12 * np.abs(fresh).max())
    # Moved atoms invalidate the cache: a fresh sum again.
    system.positions[-1] += 0.01
    moved = ewald._structure_factors(system, ewald._fractional(system), system.charges)
    np.testing.assert_array_equal(
        moved, ewald_kernels.structure_factors(ewald._fractional(system), system.charges, ewald._kidx, hmax, kmax,
                                               lmax))


def test_constant_potential_trajectory_does_not_depend_on_the_observed_steps():
    """Frozen electrodes, charge solve every step: observing every step or every 5th gives the
    same trajectory and the same observed energies (forces-only steps in between)."""

    class Recorder:
        def __init__(self, every):
            self.every, self.energy = every, []

        def observe(self, sim):
            self.energy.append(sim.observables()["potential_energy"])

        def close(self):
            pass

    runs = {}
    for every in (1, 5):
        system = capacitor(side=4, layers=2, gap=14.0, n_pairs=6, seed=2)
        maxwell_boltzmann(system, 600.0, np.random.default_rng(5))
        rec = Recorder(every)
        sim = Simulation(system, constant_potential_forcefield(system), VelocityVerlet(dt=1.0), observers=[rec])
        sim.run(20)
        runs[every] = (system.positions.copy(), np.array(rec.energy))
    np.testing.assert_array_equal(runs[1][0], runs[5][0])
    np.testing.assert_array_equal(runs[5][1], runs[1][1][::5])


def test_non_convergence_names_residual_and_iterations():
    system = capacitor(side=4, n_pairs=2)
    solver = solver_for(system, max_iterations=1, tolerance=1e-14)
    with pytest.raises(SimulationError, match=r"did not converge: RMS residual [0-9.e+-]+ V after 1 iterations"):
        solver.solve(system)


def test_errors():
    system = capacitor(side=4)
    with pytest.raises(InputError, match="sigma must be > 0"):
        ChargeSolver(Ewald(), [Electrode("x", np.array([0, 1]), 0.0, 0.0)]).setup(system)
    with pytest.raises(InputError, match="shares atoms"):
        ChargeSolver(Ewald(), [Electrode("a", np.array([0, 1]), 0.0, 0.4),
                               Electrode("b", np.array([1, 2]), 0.0, 0.4)]).setup(system)
    with pytest.raises(InputError, match="periodic direction"):
        ChargeSolver(Ewald(), [Electrode("a", np.array([0, 1]), 0.0, 0.4)], field=(0.1, 0, 0)).setup(system)


CAPACITOR_DECK = """
[system]
structure = "cap.extxyz"
temperature = 300.0
frozen = ["metal"]
[groups]
metal = {{ elements = ["Au"] }}
[[pair]]
style = "lj"
cutoff = 6.0
[pair.coeffs]
"Na-Na" = {{ epsilon = 0.01, sigma = 3.0 }}
"Cl-Cl" = {{ epsilon = 0.01, sigma = 3.0 }}
"Na-Cl" = {{ epsilon = 0.01, sigma = 3.0 }}
"Na-Au" = {{ epsilon = 0.01, sigma = 3.0 }}
"Cl-Au" = {{ epsilon = 0.01, sigma = 3.0 }}
"Au-Au" = {{ epsilon = 0.0, sigma = 3.0 }}
[electrostatics]
accuracy = 1e-6
[[electrode]]
name = "bottom"
tag = 1
potential = -0.5
sigma = 0.357
[[electrode]]
name = "top"
tag = 2
potential = 0.5
sigma = 0.357
[charges]
tolerance = 1e-9
[md]
steps = 10
dt = 1.0
integrator = "langevin"
temperature = 300.0
seed = 3
[output]
directory = "{out}"
thermo_every = 5
trajectory_every = 5
progress = false
"""


def test_deck_run_and_eval_report_electrode_charges(tmp_path):
    from ase.io import write

    from echemmd.cli import main
    from echemmd.io.h5md import read_h5md

    system = capacitor(side=4, layers=2, gap=12.0, n_pairs=3, seed=4)
    write(tmp_path / "cap.extxyz", system.to_atoms(), format="extxyz")
    deck = tmp_path / "deck.toml"
    deck.write_text(CAPACITOR_DECK.format(out=tmp_path / "out"))
    assert main(["eval", str(deck), "--json", str(tmp_path / "eval.json")]) == 0
    import json

    data = json.loads((tmp_path / "eval.json").read_text())
    q = np.array(data["charges"])
    assert q.sum() == pytest.approx(0.0, abs=1e-10)
    assert data["observables"]["charge_top"] == pytest.approx(-data["observables"]["charge_bottom"], abs=1e-10)
    assert data["observables"]["charge_top"] == pytest.approx(q[system.tags == 2].sum(), abs=1e-12)
    assert main(["run", str(deck)]) == 0
    header = (tmp_path / "out" / "thermo.csv").read_text().splitlines()[0].split(",")
    for column in ("charge_bottom_e", "charge_top_e", "cg_iterations", "cg_residual_V"):
        assert column in header
    traj = read_h5md(tmp_path / "out" / "trajectory.h5md")
    assert len(traj["step"]) == 3
    # Charges are stored every frame, and the electrode totals are observables.
    top = system.tags == 2
    np.testing.assert_allclose(traj["charges"][:, top].sum(axis=1), traj["observables"]["charge_top"],
                               atol=1e-12)
    assert np.ptp(traj["charges"][:, top].sum(axis=1)) > 0  # the ions move, the induced charge follows


@pytest.mark.parametrize("change,fragments", [
    (("[electrostatics]\naccuracy = 1e-6\n", ""), ["electrostatics.method", "[[electrode]] needs electrostatics"]),
    (("tag = 2\n", "tag = 7\n"), ["electrode[1].tag", "no atom", "has tag 7", "tags present: 0, 1, 2"]),
    (("tolerance = 1e-9\n", "tolerance = 1e-9\nqeq = { Na = { chi = 1.0, J = -2.0, sigma = 0.5 } }\n"),
     ["charges.qeq.Na", "J >= 0"]),
    (("tolerance = 1e-9\n", "tolerance = 1e-9\nqeq = { K = { chi = 1.0, J = 2.0, sigma = 0.5 } }\n"),
     ["charges.qeq.K", "not in the structure"]),
    (("[md]\n", "[field]\nE = [0.1, 0.0, 0.0]\n[md]\n"), ["field.E", "component x", "periodic"]),
    (('name = "top"\n', 'name = "bottom"\n'), ["electrode[1].name", "used twice"]),
])
def test_charge_deck_errors(tmp_path, capsys, change, fragments):
    from ase.io import write

    from echemmd.cli import EXIT_INPUT, main

    system = capacitor(side=4, layers=2, gap=12.0, n_pairs=2, seed=4)
    write(tmp_path / "cap.extxyz", system.to_atoms(), format="extxyz")
    text = CAPACITOR_DECK.format(out=tmp_path / "out")
    old, new = change
    assert old in text
    (tmp_path / "deck.toml").write_text(text.replace(old, new, 1) if new or old else text)
    assert main(["eval", str(tmp_path / "deck.toml"), "--json", str(tmp_path / "e.json")]) == EXIT_INPUT
    err = capsys.readouterr().err
    for f in fragments:
        assert f in err, err


def test_constant_potential_restart_continues_exactly(tmp_path):
    from ase.io import write

    from echemmd.cli import main
    from echemmd.io.checkpoint import load_checkpoint

    system = capacitor(side=4, layers=2, gap=12.0, n_pairs=3, seed=4)
    write(tmp_path / "cap.extxyz", system.to_atoms(), format="extxyz")
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(CAPACITOR_DECK.format(out=tmp_path / name))
    assert main(["run", str(tmp_path / "a.toml")]) == 0
    assert main(["run", str(tmp_path / "b.toml"), "--steps", "5"]) == 0
    assert main(["run", str(tmp_path / "b.toml"), "--restart", str(tmp_path / "b" / "checkpoint.h5")]) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoint.h5").system
    b = load_checkpoint(tmp_path / "b" / "checkpoint.h5").system
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.charges, b.charges)

"""Training of 4G models: exact gradients of both stages, the frame constants, and the trained model.

Oracles: central finite differences (of the Coulomb matrix, of both losses), the potential's
own adjoint forces (for the dense adjoint-force map), an exactly realisable charge target
(element-constant QEq, which the least-squares start must reproduce), and the run-time
:class:`FourthGenPotential` evaluated on the model file that training wrote.
"""

import io

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write

from echemmd.charges import ChargeSolver, QEqParameters
from echemmd.electrostatics import Ewald
from echemmd.errors import InputError
from echemmd.fourthgen import FourthGenModel, FourthGenPotential
from echemmd.io.dataset import read_dataset
from echemmd.io.train_deck import loads_train_deck
from echemmd.system import System
from echemmd.training.fourthgen import (ChargeTrainer, _zero_short_range, constrained_inverse, fourthgen_model,
                                        frame_response)
from echemmd.training.recipes import symmetry_function_set
from echemmd.training.run import train
from echemmd.training.trainer import LossWeights, Trainer

FLAGSHIP = "inputs/flagship/data.extxyz"
SIGMA = {"H": 0.8, "O": 0.8}
SCREEN = (0.0, 4.0)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """Four 48-atom water frames of the flagship data (GFN1-xTB energies, forces, charges)."""
    frames = [a for a in read(FLAGSHIP, index="0:12") if len(a) == 48][:4]
    path = tmp_path_factory.mktemp("data") / "water.extxyz"
    write(path, frames)
    return path


@pytest.fixture(scope="module")
def frames(data_file):
    return read_dataset(data_file)


@pytest.fixture(scope="module")
def functions():
    return symmetry_function_set(["H", "O"], 4.0, "shifted", 3, 1, 0.8, "poly2", 3.5)


def random_charged_box(pbc, seed=0):
    rng = np.random.default_rng(seed)
    cell = np.diag([7.0, 7.5, 8.0])
    atoms = Atoms("O3H6", positions=rng.uniform(0.5, 6.5, (9, 3)), cell=cell, pbc=pbc)
    return System.from_atoms(atoms)


@pytest.mark.parametrize("pbc", [(True, True, True), (True, True, False)])
def test_dense_matrix_gradient_matches_finite_differences(pbc):
    system = random_charged_box(pbc)
    sigma = np.where(np.array(system.symbols) == "O", 0.8, 0.6)
    qeq = {"O": QEqParameters(0.0, 5.0, 0.8), "H": QEqParameters(0.0, 7.0, 0.6)}
    solver = ChargeSolver(Ewald(accuracy=1e-10, sigma=sigma, switch=None), (), qeq, total_charge=0.0)
    solver.setup(system)
    D = solver.dense_matrix_gradient(system)
    h = 1e-5
    for atom, axis in [(0, 0), (4, 1), (7, 2)]:
        x0 = system.positions.copy()
        system.positions[atom, axis] = x0[atom, axis] + h
        a_plus = solver.dense_matrix(system, always=True).copy()
        system.positions[atom, axis] = x0[atom, axis] - h
        a_minus = solver.dense_matrix(system, always=True).copy()
        system.positions[:] = x0
        dA = (a_plus - a_minus) / (2 * h)
        # Row `atom` holds dA_atom,j/dx_atom = D[atom, j]; column `atom` holds dA_j,atom/dx_atom = -D[j, atom].
        others = np.arange(system.n_atoms) != atom
        np.testing.assert_allclose(dA[atom, others], D[atom, others, axis], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dA[others, atom], -D[others, atom, axis], rtol=1e-6, atol=1e-8)
        assert abs(dA[atom, atom]) < 1e-7 and np.abs(D[atom, atom]).max() == 0.0


def test_constrained_inverse_solves_the_bordered_system():
    rng = np.random.default_rng(2)
    M = rng.normal(size=(6, 6))
    H = M @ M.T + 6 * np.eye(6) - 3.0  # positive definite on sum(q) = 0 only, like an Ewald matrix
    chi, Q = rng.normal(size=6), 0.7
    K = np.block([[H, np.ones((6, 1))], [np.ones((1, 6)), np.zeros((1, 1))]])
    q = np.linalg.solve(K, np.append(-chi, Q))[:-1]
    P = constrained_inverse(H)
    q_Q = np.linalg.solve(K, np.append(np.zeros(6), Q))[:-1]
    np.testing.assert_allclose(-P @ chi + q_Q, q, atol=1e-12)
    np.testing.assert_allclose(P.sum(axis=1), 0.0, atol=1e-12)


def test_charge_stage_gradient_matches_finite_differences(frames, functions):
    ct = ChargeTrainer(functions, SIGMA, hidden=(4,), seed=1, hardness={"H": 7.0, "O": 9.0})
    cf = ct.prepare(frames[:2])
    theta = ct.initialize(cf)
    theta = theta + 0.1 * np.random.default_rng(0).normal(size=theta.size)
    _, g = ct.loss(theta, cf)
    h = 1e-6
    for k in [0, 7, 30, ct.n_net - 1, ct.n_net, ct.n_net + 1]:
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        fd = (ct.loss(tp, cf, False) - ct.loss(tm, cf, False)) / (2 * h)
        assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-11), k


def test_constant_qeq_charges_are_recovered_exactly(frames, functions):
    """Charges of element-constant chi and the true J: the least-squares start reproduces them."""
    ct = ChargeTrainer(functions, SIGMA, hidden=(4,), hardness={"H": 6.0, "O": 11.0})
    cf = ct.prepare(frames)
    chi_true = {"H": 3.1, "O": 8.4}
    J = np.array([6.0, 11.0])
    for f in cf:
        H = f.coulomb + np.diag(J[f.element_index])
        K = np.block([[H, np.ones((f.n_atoms, 1))], [np.ones((1, f.n_atoms)), np.zeros((1, 1))]])
        chi = np.array([chi_true[s] for s in f.symbols])
        f.charges = np.linalg.solve(K, np.append(-chi, f.total_charge))[:-1]
    theta = ct.initialize(cf)
    theta[:ct.n_net] = 0.0  # networks silent: chi = the fitted offsets
    m = ct.metrics(theta, cf)
    assert m.charge_rmse < 1e-9
    offsets = ct.net.atom_energies
    assert offsets["O"] - offsets["H"] == pytest.approx(chi_true["O"] - chi_true["H"], abs=1e-7)


def charge_parts(frames, functions):
    ct = ChargeTrainer(functions, SIGMA, hidden=(4,), seed=2, hardness={"H": 7.0, "O": 9.0})
    cf = ct.prepare(frames)
    theta = ct.initialize(cf)
    return ct, theta


def test_response_equals_the_potentials_adjoint_forces(frames, functions):
    ct, theta = charge_parts(frames[:1], functions)
    chi, J = ct.electronegativity_networks(theta), ct.hardness(theta)
    fr = frames[0]
    q, e_elec, f_fixed, C = frame_response(functions, chi, J, SIGMA, SCREEN, fr)
    np.testing.assert_allclose(q, ct.charges(theta, ct.prepare([fr]))[0], atol=1e-8)
    model = fourthgen_model(functions, chi, _zero_short_range(functions, ["H", "O"]), J, SIGMA, SCREEN)
    pot = FourthGenPotential(model, total_charge=fr.total_charge, accuracy=1e-6, tolerance=1e-10)
    system = fr.to_system()
    c = pot.compute(system)
    nl = pot._own_list
    _G, _chi, dchi = pot.charges_and_electronegativities(system, nl)
    P = constrained_inverse(pot.solver.dense_matrix(system, nl, always=True))
    for i in [0, 11, 47]:
        f_i, _ = pot.adjoint_forces(system, nl, system.charges.copy(), np.ascontiguousarray(P[:, i]), dchi)
        np.testing.assert_allclose(C[:, i], f_i.reshape(-1), atol=1e-12)
    assert e_elec == pytest.approx(c.energy, abs=1e-10)
    # F_fixed = -dE_elec(q(x))/dx, the charge response included: central differences.
    h = 1e-4
    for atom, axis in [(0, 2), (13, 0)]:
        e = []
        for sign in (1, -1):
            moved = fr.to_system()
            moved.positions[atom, axis] += sign * h
            e.append(frame_response(functions, chi, J, SIGMA, SCREEN, _at(fr, moved.positions))[1])
        assert f_fixed[atom, axis] == pytest.approx(-(e[0] - e[1]) / (2 * h), rel=1e-6, abs=1e-8)


def _at(frame, positions):
    import copy

    moved = copy.copy(frame)
    moved.positions = positions
    return moved


def test_short_range_stage_gradient_with_the_charge_input(frames, functions):
    ct, theta_q = charge_parts(frames[:2], functions)
    chi, J = ct.electronegativity_networks(theta_q), ct.hardness(theta_q)
    parts = [frame_response(functions, chi, J, SIGMA, SCREEN, fr) for fr in frames[:2]]
    tr = Trainer(functions, (5,), "tanh", LossWeights(1.0, 1.0), seed=3, raw_inputs=1)
    lr = [(p[1], p[2], np.zeros((3, 3))) for p in parts]
    prep = tr.prepare(frames[:2], cached={"long_range": lr}, raw=[p[0][:, None] for p in parts],
                      response=[p[3] for p in parts])
    theta = tr.initialize(prep)
    _, g = tr.loss(theta, prep)
    h = 1e-6
    # The first-layer weights of the charge input (last input row) and others.
    n_in = len(functions["H"]) + 1
    charge_row = [(n_in - 1) * 5 + k for k in range(2)]
    for k in charge_row + [3, tr.n_parameters - 1, tr.n_parameters // 2]:
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        fd = (tr.loss(tp, prep, False) - tr.loss(tm, prep, False)) / (2 * h)
        assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-10), k
    # Without the response (the adjoint force of the charge slopes) the forces and gradient change.
    saved = [p.response for p in prep]
    for p in prep:
        p.response = None
    _, g0 = tr.loss(theta, prep)
    for p, r in zip(prep, saved):
        p.response = r
    assert np.abs(g0[charge_row] - g[charge_row]).max() > 1e-3 * np.abs(g[charge_row]).max()


DECK = """
[data]
train = "{data}"
validation_fraction = 0.25

[descriptors]
r_c = 4.0
n_radial = 3
n_angular = 1
r_c_angular = 3.5

[network]
hidden = [5]

[charges]
model = "4g"
sigma = {{ H = 0.8, O = 0.8 }}
hardness = {{ H = 7.0, O = 9.0 }}
epochs = 8

[switch]
r_on = 0.0
r_off = 4.0

[training]
optimizer = "lbfgs"
epochs = 4

[output]
directory = "{out}"
plots = {plots}
"""


def test_trained_model_runs_as_it_was_trained(data_file, tmp_path):
    deck = loads_train_deck(DECK.format(data=data_file, out=tmp_path / "out", plots="true"), tmp_path)
    res = train(deck, stream=io.StringIO(), progress_stream=io.StringIO())
    from echemmd.io.model import load_model

    model = load_model(res.model_path)
    assert isinstance(model, FourthGenModel) and model.screening == SCREEN and model.screening_kind == "poly2"
    frames = {f.source: f for f in read_dataset(data_file)}
    for p in res.prepared["train"][:2] + res.prepared["validation"]:
        fr = frames[p.source]
        ((_dE, _dF, _dW, E, F, _W),) = res.trainer._residuals(res.theta, [p])
        pot = FourthGenPotential(model, total_charge=fr.total_charge, accuracy=1e-6, tolerance=1e-11)
        system = fr.to_system()
        c = pot.compute(system)
        assert c.energy == pytest.approx(E + p.long_range[0], abs=1e-8)
        np.testing.assert_allclose(c.forces, F + p.long_range[1], atol=1e-8)
        np.testing.assert_allclose(system.charges, p.raw[:, 0], atol=1e-9)
    text = (tmp_path / "out" / "report.txt").read_text()
    assert "q RMSE" in text and "hardness (eV/e^2)" in text
    assert res.report["charges"]["train"]["charge_rmse_me"] > 0
    assert (tmp_path / "out" / "parity_charges.png").is_file()
    # A second run takes both stages' frame data from the cache and gives the same model.
    res2 = train(deck, stream=io.StringIO(), progress_stream=io.StringIO())
    np.testing.assert_array_equal(res2.theta, res.theta)


def test_deck_errors(tmp_path, data_file):
    base = DECK.format(data=data_file, out=tmp_path / "o", plots="false")
    with pytest.raises(InputError, match=r"charges\.sigma.*Gaussian width"):
        loads_train_deck(base.replace('sigma = { H = 0.8, O = 0.8 }', ""), tmp_path)
    with pytest.raises(InputError, match=r"charges\.qeq.*not used"):
        loads_train_deck(base.replace("epochs = 8", "epochs = 8\nqeq = { O = { chi = 1.0, J = 1.0 } }"), tmp_path)
    with pytest.raises(InputError, match=r"no Gaussian width for element\(s\) \['O'\]"):
        ChargeTrainer(symmetry_function_set(["H", "O"], 4.0, "shifted", 2, 0, 0.8, "poly2"), {"H": 0.8})
    frames = read_dataset(data_file)
    frames[0].charges = None
    ct = ChargeTrainer(symmetry_function_set(["H", "O"], 4.0, "shifted", 2, 0, 0.8, "poly2"), SIGMA)
    with pytest.raises(InputError, match=r"water.extxyz:0: the frame has no reference charges"):
        ct.prepare(frames[:1])


def test_ase_calculator_runs_a_4g_model_file(tmp_path):
    """EchemmdCalculator of a 4G model file: the potential's energy, forces and charges, finite-difference forces."""
    from echemmd.calculator import EchemmdCalculator
    from echemmd.fourthgen import random_fourthgen_model
    from echemmd.io.model import save_model
    from test_fourthgen import water_box

    atoms = water_box(n_mol=3, box=6.0, seed=4)
    model = random_fourthgen_model(["H", "O"], atoms, r_c=3.5, seed=5, screening=(0.0, 3.0), screening_kind="poly2")
    path = save_model(tmp_path / "m4g.h5", model)
    atoms.info["total_charge"] = 0.0
    atoms.calc = EchemmdCalculator(str(path), accuracy=1e-8)
    e = atoms.get_potential_energy()
    c = FourthGenPotential(model, total_charge=0.0, accuracy=1e-8).compute(System.from_atoms(atoms))
    assert e == pytest.approx(c.energy, abs=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), c.forces, atol=1e-9)
    assert abs(atoms.get_charges().sum()) < 1e-9 and np.abs(atoms.get_charges()).max() > 1e-3
    h = 1e-4
    x0 = atoms.positions.copy()
    for atom, axis in [(0, 1), (5, 2)]:
        energies = []
        for sign in (1, -1):
            atoms.positions = x0
            atoms.positions[atom, axis] += sign * h
            energies.append(atoms.get_potential_energy())
        atoms.positions = x0
        assert atoms.get_forces()[atom, axis] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), rel=1e-6,
                                                               abs=1e-7)

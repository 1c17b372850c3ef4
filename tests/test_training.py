"""Training: exact loss gradients (finite differences are the oracle), Delta learning that a run
reproduces, data-set I/O, the descriptor cache, the deck, reproducibility, and a model trained on
a random teacher of the same architecture that reaches the teacher's energies and forces on
held-out frames."""

import json

import numpy as np
import pytest

from echemmd.calculator import EchemmdCalculator
from echemmd.errors import InputError
from echemmd.io.dataset import Frame, read_dataset, write_dataset
from echemmd.io.model import load_model, save_model
from echemmd.io.train_deck import loads_train_deck
from echemmd.mlpotential import HybridModel
from echemmd.training.optimize import Schedule, fit
from echemmd.training.recipes import count, symmetry_function_set
from echemmd.training.run import split_frames, train
from echemmd.training.synthetic import label as label_with
from echemmd.training.synthetic import molten_nacl, random_teacher, rocksalt_frames
from echemmd.training.trainer import LossWeights, Trainer

ELEMENTS = ["Na", "Cl"]


def structures(n, seed=0):
    return rocksalt_frames(n, seed=seed)


def unlabelled(atoms_list):
    return [Frame(a.get_chemical_symbols(), a.numbers, a.positions, a.cell.array, a.pbc, 0.0, None, None, None,
                  0.0, f"s{k}") for k, a in enumerate(atoms_list)]


def label(model, atoms_list, accuracy=1e-8):
    return label_with(EchemmdCalculator(model, accuracy=accuracy), atoms_list, "test")


def teacher_model(functions, hidden, atoms_list, seed, e_scale=0.5, charge_model="none"):
    """A random network of the given architecture, scaled on the structures it will label."""
    t = random_teacher(functions, hidden, atoms_list, seed, e_scale, {"Na": -1.3, "Cl": -2.1})
    if charge_model == "fixed":
        t = HybridModel(t.short_range, charge_model="fixed", charges={"Na": 0.8, "Cl": -0.8},
                        sigma={"Na": 0.9, "Cl": 1.1}, switch=(1.5, 4.5))
    return t


@pytest.fixture(scope="module")
def small_functions():
    return symmetry_function_set(ELEMENTS, 4.5, n_radial=3, n_angular=1)


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("weights", [LossWeights(1.0, 0.0, 0.0), LossWeights(0.0, 1.0, 0.0),
                                     LossWeights(0.0, 0.0, 1.0), LossWeights(1.0, 3.0, 0.5)],
                         ids=["energy", "forces", "stress", "all"])
def test_loss_gradient_equals_finite_differences(small_functions, weights):
    """Exact gradient of each loss term (and their sum) against central differences."""
    atoms = structures(3, seed=5)
    teacher = teacher_model(small_functions, (5, 4), atoms, seed=2, charge_model="fixed")
    frames = label(teacher, atoms)
    t = Trainer(small_functions, hidden=(5, 4), activation="tanh", weights=weights, seed=7)
    prepared = t.prepare(frames, long_range_model=teacher, accuracy=1e-8)
    theta = t.initialize(prepared)
    theta += np.random.default_rng(0).normal(0, 0.3, theta.shape)  # away from the start's symmetric biases
    loss, grad = t.loss(theta, prepared)
    assert loss > 0
    rng = np.random.default_rng(1)
    idx = rng.choice(theta.size, 40, replace=False)
    h = 1e-5
    fd = []
    for k in idx:
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        fd.append((t.loss(tp, prepared, gradient=False) - t.loss(tm, prepared, gradient=False)) / (2 * h))
    fd = np.array(fd)
    scale = np.abs(fd).max()
    assert scale > 0
    np.testing.assert_allclose(grad[idx], fd, rtol=0, atol=2e-6 * scale)
    # A whole random direction too (catches errors spread over many parameters).
    d = rng.normal(size=theta.shape)
    fd_d = (t.loss(theta + h * d, prepared, gradient=False) - t.loss(theta - h * d, prepared, gradient=False)) / (2 * h)
    assert grad @ d == pytest.approx(fd_d, rel=1e-6)


@pytest.mark.parametrize("charge_model", ["fixed", "qeq"])
def test_model_forces_and_virial_in_training_equal_the_run_model(small_functions, charge_model):
    """The trainer's predicted energy, forces and stress (networks + subtracted long-range part) are
    those of the saved model evaluated by the ASE calculator, i.e. by a run (fixed and QEq charges)."""
    atoms = structures(2, seed=9)
    teacher = teacher_model(small_functions, (5, 4), atoms, seed=4, charge_model="fixed")
    if charge_model == "qeq":
        teacher = HybridModel(teacher.short_range, charge_model="qeq", sigma=teacher.sigma, switch=teacher.switch,
                              qeq={"Na": {"chi": 3.0, "J": 12.0}, "Cl": {"chi": 8.0, "J": 14.0}})
    frames = label(teacher, atoms)
    if charge_model == "qeq":
        assert frames[0].charges[frames[0].symbols.index("Cl")] < -0.05  # charges were solved
    t = Trainer(small_functions, hidden=(6,), activation="softplus", seed=3)
    prepared = t.prepare(frames, long_range_model=teacher, accuracy=1e-8)
    theta = t.initialize(prepared)
    model = HybridModel(t.short_range_model(theta), charge_model=charge_model, charges=teacher.charges,
                        qeq=teacher.qeq, sigma=teacher.sigma, switch=teacher.switch)
    calc = EchemmdCalculator(model, accuracy=1e-8)
    for f, (dE, dF, dW, E, F, W) in zip(prepared, t._residuals(theta, prepared)):
        e_lr, f_lr, w_lr = f.long_range
        a = atoms[prepared.index(f)].copy()
        a.calc = calc
        assert E + e_lr == pytest.approx(a.get_potential_energy(), rel=1e-10, abs=1e-9)
        np.testing.assert_allclose(F + f_lr, a.get_forces(), atol=1e-8)
        np.testing.assert_allclose(-(W + w_lr) / a.get_volume(), a.get_stress(voigt=False), atol=1e-9)


def test_delta_targets_are_reference_minus_long_range(small_functions):
    """With the teacher's own charge model subtracted, a student equal to the teacher has zero error."""
    atoms = structures(2, seed=2)
    teacher = teacher_model(small_functions, (5, 4), atoms, seed=6, charge_model="fixed")
    frames = label(teacher, atoms)
    t = Trainer(small_functions, hidden=(5, 4), seed=0)
    prepared = t.prepare(frames, long_range_model=teacher, accuracy=1e-8)
    t.initialize(prepared)
    nets = teacher.short_range.networks
    t.statistics = nets.statistics
    t.atom_energies = dict(nets.atom_energies)
    t.e_scale = 1.0 / nets.conv_energy
    t._scaling = {e: nets.scaling(e) for e in t.elements}
    theta = np.concatenate([nets.networks[e].to_flat() for e in t.elements])
    m = t.metrics(theta, prepared)
    assert m.energy_rmse < 1e-9 and m.force_rmse < 1e-7 and m.stress_rmse < 1e-9
    # Without the subtraction the same networks miss the long-range part.
    plain = t.prepare(frames)
    assert t.metrics(theta, plain).force_rmse > 1e-3


# ------------------------------------------------------------------ data, recipes, deck
def test_dataset_round_trip(tmp_path):
    atoms = structures(2)
    rng = np.random.default_rng(0)
    frames = []
    for k, a in enumerate(atoms):
        s = rng.normal(size=(3, 3))
        frames.append(Frame(a.get_chemical_symbols(), a.numbers, a.positions, a.cell.array, a.pbc, -3.0 - k,
                            rng.normal(size=(len(a), 3)), s + s.T, rng.normal(size=len(a)), 1.0, ""))
    write_dataset(tmp_path / "d.extxyz", frames, {"method": "test"})
    back = read_dataset(tmp_path / "d.extxyz")
    for a, b in zip(frames, back):
        assert b.energy == a.energy and b.total_charge == 1.0
        np.testing.assert_allclose(b.forces, a.forces, atol=1e-8)
        np.testing.assert_allclose(b.stress, a.stress, atol=1e-12)
        np.testing.assert_allclose(b.charges, a.charges, atol=1e-8)


def test_dataset_errors_name_the_frame(tmp_path):
    p = tmp_path / "bad.extxyz"
    p.write_text("1\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\nNa 0 0 0\n")
    with pytest.raises(InputError, match="frame 0: no energy"):
        read_dataset(p)
    with pytest.raises(InputError, match="not found"):
        read_dataset(tmp_path / "missing.extxyz")


def test_recipe_counts_and_order():
    fs = symmetry_function_set(["O", "H"], 6.0, n_radial=5, n_angular=2)
    assert set(fs) == {"H", "O"}
    assert all(len(v) == count(["O", "H"], 5, 2) for v in fs.values())
    radial = [f for f in fs["O"] if f["type"] == 2 and f["neighbors"] == ["H"]]
    r_s = sorted(f["r_s"] for f in radial)
    assert r_s[0] == pytest.approx(0.8) and r_s[-1] < 6.0
    with pytest.raises(InputError, match="preset"):
        symmetry_function_set(["O"], 6.0, preset="nope")


def test_recipe_angular_cutoff_drops_far_triplets():
    """r_c_angular: the angular functions ignore neighbours beyond it, the radial ones still see them."""
    from ase import Atoms

    from echemmd.descriptors import SymmetryFunctions

    fs = symmetry_function_set(["O", "H"], 6.0, n_radial=4, n_angular=2, r_c_angular=4.0)
    assert {f["r_c"] for f in fs["O"] if f["type"] == 9} == {4.0}
    assert {f["r_c"] for f in fs["O"] if f["type"] == 2} == {6.0}
    assert fs == symmetry_function_set(["O", "H"], 6.0, n_radial=4, n_angular=2, r_c_angular=4.0)
    assert symmetry_function_set(["O"], 6.0, r_c_angular=None) == symmetry_function_set(["O"], 6.0)
    near = Atoms("OHH", positions=[[0, 0, 0], [0.96, 0, 0], [-0.3, 0.9, 0]], cell=[30, 30, 30], pbc=False)
    far = near + Atoms("H", positions=[[0.2, 4.9, 0.3]])  # 4.9 Å from O: inside r_c, outside r_c_angular
    sf = SymmetryFunctions(fs["O"])
    angular = np.array([f["type"] == 9 for f in fs["O"]])
    g_near, g_far = sf.compute(near)[0], sf.compute(far)[0]
    np.testing.assert_allclose(g_far[angular], g_near[angular], rtol=0, atol=1e-14)
    assert np.any(np.abs(g_far[~angular] - g_near[~angular]) > 1e-6)
    with pytest.raises(InputError, match="r_c_angular"):
        symmetry_function_set(["O"], 6.0, r_c_angular=7.0)


def test_split_is_seeded_and_disjoint():
    a_tr, a_val = split_frames(50, 0.2, 3)
    b_tr, b_val = split_frames(50, 0.2, 3)
    assert np.array_equal(a_val, b_val) and len(a_val) == 10
    assert set(a_tr).isdisjoint(a_val) and len(a_tr) + len(a_val) == 50
    assert not np.array_equal(split_frames(50, 0.2, 4)[1], a_val)


def test_deck_errors_name_the_key(tmp_path):
    p = tmp_path / "d.extxyz"
    p.write_text("")
    with pytest.raises(InputError, match=r"training\.epoch.*unknown key.*epochs"):
        loads_train_deck(f'[data]\ntrain = "{p}"\n[training]\nepoch = 3\n')
    with pytest.raises(InputError, match=r"network\.activation"):
        loads_train_deck(f'[data]\ntrain = "{p}"\n[network]\nactivation = "sigmoid"\n')
    with pytest.raises(InputError, match=r"switch"):
        loads_train_deck(f'[data]\ntrain = "{p}"\n[charges]\nmodel = "fixed"\ncharges = {{Na = 1.0}}\n')
    with pytest.raises(InputError, match=r"data\.train.*not found"):
        loads_train_deck('[data]\ntrain = "nope.extxyz"\n', base_dir=tmp_path)


# ------------------------------------------------------------------ learning
@pytest.fixture(scope="module")
def teacher_data(tmp_path_factory, small_functions):
    d = tmp_path_factory.mktemp("teacher")
    atoms = structures(96, seed=0)
    teacher = teacher_model(small_functions, (6, 6), atoms, seed=12)
    save_model(d / "teacher.h5", teacher)
    write_dataset(d / "teacher.extxyz", label(teacher, atoms), {"method": "random teacher"})
    return d


def _deck(d, extra=""):
    text = f"""
[data]
train = "{d / 'teacher.extxyz'}"
validation_fraction = 0.25
[descriptors]
r_c = 4.5
n_radial = 3
n_angular = 1
[network]
hidden = [6, 6]
[training]
optimizer = "lbfgs"
epochs = 1200
patience = 0
seed = 1
[output]
directory = "{d / 'out'}"
{extra}"""
    return loads_train_deck(text)


def test_student_learns_random_teacher(teacher_data, capsys):
    """Held-out frames: energy RMSE < 1 meV/atom, force RMSE < 20 meV/Å (teacher forces ~0.6 eV/Å RMS)."""
    r = train(_deck(teacher_data))
    frames = read_dataset(teacher_data / "teacher.extxyz")
    f_rms = np.sqrt(np.mean(np.concatenate([f.forces.ravel() for f in frames]) ** 2))
    assert f_rms > 0.3
    assert r.validation.n_frames == 24
    assert r.validation.energy_rmse < 1e-3
    assert r.validation.force_rmse < 20e-3
    report = json.loads((teacher_data / "out" / "report.json").read_text())
    assert report["validation"]["force_rmse_meV_per_A"] == pytest.approx(r.validation.force_rmse * 1000)
    for png in ("learning_curve.png", "parity_energy.png", "parity_forces.png"):
        assert (teacher_data / "out" / png).stat().st_size > 1000
    log = (teacher_data / "out" / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,") and len(log) == 2 + r.history[-1].epoch
    # The saved model gives the trained energies through the calculator (and so in a run).
    model = load_model(r.model_path)
    a = structures(1, seed=99)[0]
    a.calc = EchemmdCalculator(model)
    b = a.copy()
    b.calc = EchemmdCalculator(teacher_data / "teacher.h5")
    assert abs(a.get_potential_energy() - b.get_potential_energy()) / len(a) < 3e-3


def test_same_seed_same_model_bit_for_bit_and_cache_reused(teacher_data, capsys):
    d1 = _deck(teacher_data)
    d1.data["training"].update(optimizer="adam", epochs=3, batch_size=4)
    d1.data["output"]["plots"] = False
    r1 = train(d1)
    capsys.readouterr()
    r2 = train(d1)
    assert "descriptors from cache" in capsys.readouterr().out
    assert np.array_equal(r1.theta, r2.theta)
    assert [h.train.loss for h in r1.history] == [h.train.loss for h in r2.history]
    d1.data["training"]["seed"] = 2
    assert not np.array_equal(train(d1).theta, r1.theta)


def test_adam_reduces_the_loss(teacher_data, small_functions):
    frames = read_dataset(teacher_data / "teacher.extxyz")[:12]
    t = Trainer(small_functions, hidden=(6, 6), seed=0)
    prepared = t.prepare(frames)
    theta = t.initialize(prepared)
    best, history, stopped = fit(t, theta, prepared[:9], prepared[9:],
                                 Schedule("adam", epochs=15, batch_size=3, learning_rate=1e-2, patience=0))
    assert stopped == "epochs" and len(history) == 16
    assert history[-1].train.loss < 0.5 * history[0].train.loss


def test_delta_learning_beats_the_plain_network_on_larger_cells():
    """Molten NaCl with Ewald, labelled by the engine: trained on 64-ion cells, tested on 216-ion
    cells. Subtracting the model's own long-range part (Gaussian charges +-1 e, sigma 1 Å, switch
    0-6 Å) lets a 6 Å network reach the reference; the same network without it cannot (the
    Madelung energy of the larger cell is outside its reach)."""
    import types

    train_frames = molten_nacl(32, repeat=2, every=20, equilibrate=200, seed=0)
    test_frames = molten_nacl(6, repeat=3, every=20, equilibrate=200, seed=7)
    functions = symmetry_function_set(ELEMENTS, 6.0, n_radial=6, n_angular=1, r_min=2.0)
    stub = types.SimpleNamespace(elements=ELEMENTS)
    charges = HybridModel(stub, charge_model="fixed", charges={"Na": 1.0, "Cl": -1.0},
                          sigma={"Na": 1.0, "Cl": 1.0}, switch=(0.0, 6.0))
    errors = {}
    for name, lr in (("delta", charges), ("plain", None)):
        t = Trainer(functions, hidden=(8, 8), seed=1)
        p = t.prepare(train_frames, long_range_model=lr)
        q = t.prepare(test_frames, long_range_model=lr)
        best, _, _ = fit(t, t.initialize(p[:28]), p[:28], p[28:], Schedule("lbfgs", epochs=300, patience=0))
        errors[name] = t.metrics(best, q)
    d, p = errors["delta"], errors["plain"]
    print(f"216-ion test cells: Delta E {d.energy_rmse * 1e3:.2f} meV/atom, F {d.force_rmse * 1e3:.1f} meV/Å; "
          f"plain E {p.energy_rmse * 1e3:.2f} meV/atom, F {p.force_rmse * 1e3:.1f} meV/Å")
    assert d.energy_rmse < p.energy_rmse
    assert d.force_rmse < 0.6 * p.force_rmse


def test_training_docs_key_reference_is_current():
    from pathlib import Path

    from echemmd.io.train_deck import GENERATED_BEGIN, schema_markdown

    text = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text(encoding="utf-8")
    assert schema_markdown() in text.split(GENERATED_BEGIN)[1], \
        "docs/training.md is stale: run python -m echemmd.io.train_deck --write-docs docs/training.md"


def test_example_deck_is_valid():
    from pathlib import Path

    from echemmd.io.train_deck import load_train_deck

    deck = load_train_deck(Path(__file__).resolve().parents[1] / "inputs" / "train_nacl.toml")
    assert deck["charges"]["model"] == "fixed" and deck["data"]["test"].endswith("nacl_test216.extxyz")


def test_adam_training_continues_exactly_from_a_checkpoint(teacher_data, tmp_path):
    """6 Adam epochs straight = 3 epochs, then --restart from checkpoint.h5 to 6 (bit for bit)."""
    import shutil

    from echemmd.cli import main

    def deck(out, epochs):
        d = _deck(teacher_data)
        d.data["training"].update(optimizer="adam", epochs=epochs, batch_size=4, learning_rate=5e-3)
        d.data["output"].update(directory=str(out), plots=False)
        return d

    straight = train(deck(tmp_path / "a", 6))
    train(deck(tmp_path / "b", 3))
    shutil.copy(tmp_path / "b" / "checkpoint.h5", tmp_path / "b3.h5")
    resumed = train(deck(tmp_path / "b", 6), restart=tmp_path / "b3.h5")
    assert np.array_equal(resumed.theta, straight.theta)
    assert [h.train.loss for h in resumed.history] == pytest.approx([h.train.loss for h in straight.history],
                                                                    rel=1e-15)
    log_a = (tmp_path / "a" / "log.csv").read_text().splitlines()
    log_b = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert len(log_a) == len(log_b) == 8
    strip = (lambda line: [c for k, c in enumerate(line.split(",")) if k != 2])  # all but the wall time
    assert [strip(x) for x in log_a] == [strip(x) for x in log_b]
    # A checkpoint of other settings is refused with the reason.
    other = deck(tmp_path / "c", 6)
    other.data["network"]["hidden"] = [5, 5]
    with pytest.raises(InputError, match="other data or settings"):
        train(other, restart=tmp_path / "b3.h5")
    assert main(["train", "nope.toml"]) == 2

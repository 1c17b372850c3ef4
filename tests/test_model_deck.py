"""The [model] deck section: echemmd model files and n2p2 directories in `echemmd eval` and `run`."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from echemmd.cli import EXIT_INPUT, main
from echemmd.electrostatics import Ewald
from echemmd.forcefield import ForceField
from echemmd.io.model import save_model
from echemmd.io.n2p2 import write_n2p2
from echemmd.mlpotential import NeuralNetworkPotential, random_model
from echemmd.neighbors import NeighborList
from echemmd.system import System


def water_like(n_o=8, box=7.5, seed=0):
    """O and H atoms at random, no two closer than 1.2 Å, in a periodic box."""
    rng = np.random.default_rng(seed)
    symbols = ["O"] * n_o + ["H"] * (2 * n_o)
    pos = []
    while len(pos) < len(symbols):
        p = rng.uniform(0, box, 3)
        if all(np.linalg.norm((p - q) - box * np.round((p - q) / box)) > 1.2 for q in pos):
            pos.append(p)
    return Atoms(symbols, positions=np.array(pos), cell=np.eye(3) * box, pbc=True)


DECK = """
[system]
structure = "water.extxyz"
[model]
{model}
{extra}
[md]
steps = 4
dt = 0.25
[output]
directory = "{out}"
thermo_every = 2
trajectory_every = 2
progress = false
[limits]
min_distance = 0.5
max_force = 1000.0
"""


def eval_deck(tmp_path, model_lines, extra=""):
    deck = tmp_path / "deck.toml"
    deck.write_text(DECK.format(model=model_lines, extra=extra, out=tmp_path / "out"))
    code = main(["eval", str(deck), "--json", str(tmp_path / "eval.json")])
    return code, (json.loads((tmp_path / "eval.json").read_text()) if code == 0 else None)


def test_model_file_with_fixed_charges_in_eval_and_run(tmp_path):
    atoms = water_like()
    write(tmp_path / "water.extxyz", atoms)
    model = random_model(["H", "O"], r_c=4.5, seed=3, charge_model="fixed", switch=(1.0, 3.5))
    save_model(tmp_path / "model.h5", model)
    code, data = eval_deck(tmp_path, 'path = "model.h5"', "[electrostatics]\naccuracy = 1e-8")
    assert code == 0
    assert set(data["energy_terms"]) == {"nnp", "coulomb"}
    # The same energy from the library, built independently of the deck (on the file's rounded positions).
    from ase.io import read

    system = System.from_atoms(read(tmp_path / "water.extxyz"))
    system.charges[:] = [model.charges[s] for s in system.symbols]
    assert data["charges"] == pytest.approx(system.charges.tolist())
    nnp = NeuralNetworkPotential(model.short_range)
    ewald = Ewald(accuracy=1e-8, sigma=model.sigma, switch=model.switch)
    ewald.setup(system)
    ff = ForceField([nnp, ewald], NeighborList(max(nnp.cutoff, ewald.cutoff), 1.0))
    ref = ff.compute(system)
    assert data["energy"] == pytest.approx(ref.energy, rel=1e-12)
    np.testing.assert_allclose(data["forces"], ref.forces, atol=1e-10)
    assert data["electrostatics"]["alpha"] == pytest.approx(ewald.params.alpha)
    # A short run with the model.
    deck = tmp_path / "deck.toml"
    assert main(["run", str(deck)]) == 0
    header = (tmp_path / "out" / "thermo.csv").read_text().splitlines()[0]
    assert "energy_nnp_eV" in header and "energy_coulomb_eV" in header


def test_n2p2_directory_gives_the_short_range_energy(tmp_path):
    atoms = water_like(seed=1)
    write(tmp_path / "water.extxyz", atoms)
    model = random_model(["H", "O"], r_c=4.5, seed=4)
    save_model(tmp_path / "model.h5", model)
    write_n2p2(tmp_path / "nnp", model.short_range)
    code_a, a = eval_deck(tmp_path, 'path = "model.h5"')
    code_b, b = eval_deck(tmp_path, 'n2p2 = "nnp"')
    assert code_a == code_b == 0
    assert a["energy_terms"] == {"nnp": pytest.approx(a["energy"])}
    assert b["energy"] == pytest.approx(a["energy"], rel=1e-12)
    np.testing.assert_allclose(b["forces"], a["forces"], atol=1e-10)


def test_qeq_model_solves_charges(tmp_path):
    write(tmp_path / "water.extxyz", water_like(seed=2))
    save_model(tmp_path / "model.h5", random_model(["H", "O"], r_c=4.5, seed=5, charge_model="qeq",
                                                   switch=(1.0, 3.5)))
    code, data = eval_deck(tmp_path, 'path = "model.h5"')
    assert code == 0
    q = np.array(data["charges"])
    assert q.sum() == pytest.approx(0.0, abs=1e-10) and np.abs(q).max() > 1e-3
    assert data["observables"]["cg_iterations"] >= 0


@pytest.mark.parametrize("model_lines,extra,fragments", [
    ('path = "model.h5"\nn2p2 = "nnp"', "", ["model", "exactly one of path"]),
    ('n2p2 = "nowhere"', "", ["model.n2p2", "directory not found"]),
    ('path = "missing.h5"', "", ["model.path", "file not found"]),
    ('path = "model.h5"', "[electrostatics]\nsigma = { O = 0.5 }", ["set by the model"]),
])
def test_model_deck_errors(tmp_path, capsys, model_lines, extra, fragments):
    write(tmp_path / "water.extxyz", water_like())
    save_model(tmp_path / "model.h5", random_model(["H", "O"], seed=1, charge_model="fixed"))
    code, _ = eval_deck(tmp_path, model_lines, extra)
    assert code == EXIT_INPUT
    err = capsys.readouterr().err
    for f in fragments:
        assert f in err


def test_element_missing_from_the_model(tmp_path, capsys):
    atoms = water_like()
    atoms.symbols[3] = "N"
    write(tmp_path / "water.extxyz", atoms)
    save_model(tmp_path / "model.h5", random_model(["H", "O"], seed=1))
    code, _ = eval_deck(tmp_path, 'path = "model.h5"')
    assert code == EXIT_INPUT
    err = capsys.readouterr().err
    assert "atom 3 is N" in err and "H, O" in err


def metal_and_water(seed=7):
    """A small Au(111) slab with O/H atoms above it in a periodic cell (no two atoms closer than 1.2 Å)."""
    from ase.build import fcc111

    rng = np.random.default_rng(seed)
    slab = fcc111("Au", size=(2, 2, 2), a=4.08, vacuum=0.0, orthogonal=True)
    slab.cell[2] = [0, 0, 14.0]
    slab.pbc = True
    top = slab.positions[:, 2].max()
    pos = list(slab.positions)
    symbols = ["O", "H", "H"] * 3
    for s in symbols:
        while True:
            p = np.append(rng.uniform(0, 1, 2) @ slab.cell.array[:2, :2], rng.uniform(top + 2.0, 12.0))
            if all(np.linalg.norm(p - q) > 1.2 for q in pos):
                pos.append(p)
                break
    return Atoms(slab.get_chemical_symbols() + symbols, positions=np.array(pos), cell=slab.cell, pbc=True)


def mixed_model(seed=6):
    """A qeq model whose metal is an equipotential (chi = J = 0) beside fixed O/H charges."""
    from echemmd.mlpotential import HybridModel

    short = random_model(["H", "O", "Au"], r_c=4.0, seed=seed).short_range
    return HybridModel(short, charge_model="qeq", qeq={"Au": {"chi": 0.0, "J": 0.0}},
                       charges={"H": 0.4, "O": -0.8}, sigma={"H": 0.8, "O": 0.8, "Au": 0.4}, switch=(0.0, 4.0))


@pytest.mark.parametrize("total", [0.0, -1.0])
def test_metal_beside_fixed_charges_is_an_equipotential_holding_the_net_charge(total):
    from echemmd.mlpotential import long_range_forcefield

    model = mixed_model()
    system = System.from_atoms(metal_and_water())
    ff = long_range_forcefield(model, system, accuracy=1e-9, total_charge=total, tolerance=1e-12)
    ff.compute(system)
    metal = np.array([s == "Au" for s in system.symbols])
    np.testing.assert_array_equal(system.charges[~metal], [model.charges[s] for s in np.array(system.symbols)[~metal]])
    assert system.charges[metal].sum() == pytest.approx(total, abs=1e-10)
    # Optimality, checked independently of the CG: the potential phi_i = dE_elec/dq_i (J = 0, chi = 0)
    # is the same on every metal atom, and the metal is polarised by the fixed charges.
    ewald = ff.terms[0]
    phi = ewald.potential(system, ff.neighbors)
    assert np.ptp(phi[metal]) < 1e-8 * np.abs(phi[metal]).max()
    assert np.ptp(system.charges[metal]) > 1e-3
    # Frames without metal atoms keep the fixed charges; a total charge they cannot hold is an error.
    water = System.from_atoms(metal_and_water()[-9:])
    assert long_range_forcefield(model, water, total_charge=0.0).charge_solver is None
    from echemmd.errors import InputError

    with pytest.raises(InputError, match="no atom has QEq parameters"):
        long_range_forcefield(model, water, total_charge=1.0)


def test_metal_model_in_a_run_gives_electrodes_the_fixed_charges_beside_them(tmp_path):
    """A deck with the mixed model: electrolyte charges from the model, gold solved (QEq metal)."""
    atoms = metal_and_water()
    write(tmp_path / "water.extxyz", atoms)
    model = mixed_model()
    save_model(tmp_path / "model.h5", model)
    code, data = eval_deck(tmp_path, 'path = "model.h5"', "[electrostatics]\naccuracy = 1e-9\n"
                                                          "[charges]\ntolerance = 1e-11")
    assert code == 0
    q = np.array(data["charges"])
    metal = np.array([s == "Au" for s in atoms.get_chemical_symbols()])
    np.testing.assert_allclose(q[~metal], [model.charges[s] for s in np.array(atoms.get_chemical_symbols())[~metal]])
    # The same charges as the training's long-range part (the deck's total is the structure's: 0).
    from ase.io import read

    from echemmd.mlpotential import long_range_forcefield

    system = System.from_atoms(read(tmp_path / "water.extxyz"))
    ff = long_range_forcefield(model, system, accuracy=1e-9, total_charge=0.0, tolerance=1e-11)
    ref = ff.compute(system)
    np.testing.assert_allclose(q, system.charges, atol=1e-8)
    assert data["energy_terms"]["coulomb"] + data["energy_terms"].get("charge", 0.0) == pytest.approx(
        ref.energy, rel=1e-8)

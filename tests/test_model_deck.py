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

"""n2p2 4G-HDNNP files: a round trip through input.nn, weights, weightse, hardness and scaling files,
in Å/eV and in Bohr/Hartree, and clear errors for what is missing or unsupported."""

import numpy as np
import pytest

from echemmd.errors import InputError
from echemmd.fourthgen import FourthGenModel, FourthGenPotential, random_fourthgen_model
from echemmd.io.n2p2 import read_n2p2, write_n2p2_4g
from echemmd.system import System
from test_fourthgen import SCREEN, water_box


@pytest.fixture(scope="module")
def model_and_atoms():
    atoms = water_box()
    return random_fourthgen_model(["H", "O"], atoms, r_c=4.0, seed=3, screening=SCREEN), atoms


@pytest.mark.parametrize("units", [("Angstrom", "eV"), ("Bohr", "Hartree")])
def test_4g_round_trip_gives_the_same_energy_forces_and_charges(tmp_path, model_and_atoms, units):
    model, atoms = model_and_atoms
    write_n2p2_4g(tmp_path, model, *units)
    text = (tmp_path / "input.nn").read_text()
    assert "nnp_generation 4" in text and "fixed_gausswidth H" in text and "screen_electrostatics" in text
    for z in (1, 8):
        assert (tmp_path / f"weightse.{z:03d}.data").is_file()
        assert (tmp_path / f"hardness.{z:03d}.data").is_file()
    back = read_n2p2(tmp_path, *units)
    assert isinstance(back, FourthGenModel)
    for e in model.elements:
        assert back.sigma[e] == pytest.approx(model.sigma[e], rel=1e-14)
        assert back.hardness[e] == pytest.approx(model.hardness[e], rel=1e-14)
    assert back.screening == pytest.approx(model.screening, rel=1e-14)
    results = []
    for m in (model, back):
        system = System.from_atoms(atoms.copy())
        c = FourthGenPotential(m, accuracy=1e-9, tolerance=1e-12).compute(system)
        results.append((c.energy, c.forces, system.charges.copy()))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(results[1][2], results[0][2], rtol=0, atol=1e-11)


def test_4g_files_errors_name_file_and_keyword(tmp_path, model_and_atoms):
    model, _ = model_and_atoms
    write_n2p2_4g(tmp_path, model)
    (tmp_path / "hardness.008.data").unlink()
    with pytest.raises(InputError, match=r"hardness\.008\.data.*element O"):
        read_n2p2(tmp_path)
    write_n2p2_4g(tmp_path, model)
    text = (tmp_path / "input.nn").read_text()
    (tmp_path / "input.nn").write_text("\n".join(l for l in text.splitlines() if not l.startswith("fixed_gausswidth O")))
    with pytest.raises(InputError, match="fixed_gausswidth is missing for element.*O"):
        read_n2p2(tmp_path)
    (tmp_path / "input.nn").write_text(text.replace("nnp_generation 4", ""))
    with pytest.raises(InputError, match="belongs to a 4G-HDNNP"):
        read_n2p2(tmp_path)
    (tmp_path / "input.nn").write_text(text.replace("screen_electrostatics 1.0 3.0",
                                                    "screen_electrostatics 1.0 3.0 c"))
    with pytest.raises(InputError, match="screen_electrostatics"):
        read_n2p2(tmp_path)


def test_4g_n2p2_directory_in_eval_and_run(tmp_path, model_and_atoms):
    """`[model] n2p2 = dir` with a 4G model: eval gives the term's energy, forces and charges; a run steps."""
    from ase.io import read, write

    from test_model_deck import eval_deck

    model, atoms = model_and_atoms
    write(tmp_path / "water.extxyz", atoms)
    write_n2p2_4g(tmp_path / "nnp4g", model, "Bohr", "Hartree")
    extra = "length_unit = \"Bohr\"\nenergy_unit = \"Hartree\"\n[electrostatics]\naccuracy = 1e-9\n" \
            "[charges]\ntolerance = 1e-12"
    code, data = eval_deck(tmp_path, 'n2p2 = "nnp4g"', extra)
    assert code == 0
    system = System.from_atoms(read(tmp_path / "water.extxyz"))  # positions as written to the file
    c = FourthGenPotential(model, accuracy=1e-9, tolerance=1e-12).compute(system)
    assert data["energy"] == pytest.approx(c.energy, rel=1e-12)
    np.testing.assert_allclose(data["forces"], c.forces, atol=1e-9)
    np.testing.assert_allclose(data["charges"], system.charges, atol=1e-11)
    assert data["observables"]["cg_iterations"] > 0
    from echemmd.cli import main

    assert main(["run", str(tmp_path / "deck.toml")]) == 0


EXAMPLE = __import__("pathlib").Path(__file__).parent / "data" / "n2p2" / "H2O_RPBE-D3_4G"
EXAMPLE_FILES = ["input.nn", "input.data", "scaling.data", "hardness.001.data", "hardness.008.data",
                 "weights.001.data", "weights.008.data", "weightse.001.data", "weightse.008.data"]


def read_n2p2_structure(path):
    """The first structure of an n2p2 input.data (Bohr) as an echemmd System in Å."""
    from ase import Atoms

    from echemmd.units import BOHR

    cell, symbols, positions = [], [], []
    for line in path.read_text().splitlines():
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "lattice":
            cell.append([float(v) for v in tok[1:4]])
        elif tok[0] == "atom":
            positions.append([float(v) for v in tok[1:4]])
            symbols.append(tok[4])
        elif tok[0] == "end":
            break
    atoms = Atoms(symbols, positions=np.array(positions) * BOHR, cell=np.array(cell) * BOHR, pbc=True)
    return System.from_atoms(atoms.copy())


@pytest.mark.skipif(not all((EXAMPLE / f).is_file() for f in EXAMPLE_FILES),
                    reason="n2p2's H2O_RPBE-D3_4G example is incomplete under tests/data (see its README)")
def test_n2p2_h2o_4g_example_energy():
    """n2p2's own 4G example (384 atoms, Bohr and Hartree): n2p2's test suite asserts -9801.63275048 Ha."""
    from echemmd.units import HARTREE

    model = read_n2p2(EXAMPLE, "Bohr", "Hartree")
    system = read_n2p2_structure(EXAMPLE / "input.data")
    c = FourthGenPotential(model, accuracy=1e-7, tolerance=1e-9, adjoint=False).compute(system)
    energy = c.energy / HARTREE
    print(f"H2O_RPBE-D3_4G: E = {energy:.8f} Ha, n2p2 -9801.63275048 Ha, difference {energy + 9801.63275048:.2e} Ha")
    assert abs(energy - (-9801.63275048)) < 5e-4


def test_4g_model_file_round_trip_and_deck(tmp_path, model_and_atoms):
    """A 4G model in an echemmd HDF5 model file: the same energy, directly and through `[model] path`."""
    from ase.io import read, write

    from echemmd.io.model import load_model, save_model
    from test_model_deck import eval_deck

    model, atoms = model_and_atoms
    save_model(tmp_path / "model4g.h5", model)
    back = load_model(tmp_path / "model4g.h5")
    assert isinstance(back, FourthGenModel) and back.screening == model.screening
    write(tmp_path / "water.extxyz", atoms)
    system = System.from_atoms(read(tmp_path / "water.extxyz"))
    ref = FourthGenPotential(model, accuracy=1e-9, tolerance=1e-12).compute(system.copy())
    got = FourthGenPotential(back, accuracy=1e-9, tolerance=1e-12).compute(system.copy())
    assert got.energy == ref.energy
    code, data = eval_deck(tmp_path, 'path = "model4g.h5"', "[electrostatics]\naccuracy = 1e-9\n"
                           "[charges]\ntolerance = 1e-12")
    assert code == 0
    assert data["energy"] == pytest.approx(ref.energy, rel=1e-12)


def test_4g_restart_continues_exactly(tmp_path, model_and_atoms):
    """A 4G run interrupted and restarted from its checkpoint ends bit for bit where the whole run
    ends: the checkpoint keeps the charge predictor's history and the adjoint warm start."""
    from ase.io import write

    from echemmd.cli import main
    from echemmd.io.checkpoint import load_checkpoint
    from echemmd.io.model import save_model
    from test_model_deck import DECK

    model, atoms = model_and_atoms
    write(tmp_path / "water.extxyz", atoms)
    save_model(tmp_path / "model4g.h5", model)
    for name in ("a", "b"):
        text = DECK.format(model='path = "model4g.h5"', extra="", out=tmp_path / name)
        text = text.replace('[system]\nstructure = "water.extxyz"',
                            '[system]\nstructure = "water.extxyz"\ntemperature = 300.0')
        text = text.replace("[md]\n", "[electrostatics]\naccuracy = 1e-8\n[charges]\ntolerance = 1e-11\n[md]\nseed = 1\n")
        (tmp_path / f"{name}.toml").write_text(text.replace("steps = 4", "steps = 8"))
    assert main(["run", str(tmp_path / "a.toml")]) == 0
    assert main(["run", str(tmp_path / "b.toml"), "--steps", "4"]) == 0
    ckpt = load_checkpoint(tmp_path / "b" / "checkpoint.h5")
    assert "charge_solver_previous" in ckpt.extra and "charge_solver_adjoint" in ckpt.extra
    assert main(["run", str(tmp_path / "b.toml"), "--restart", str(tmp_path / "b" / "checkpoint.h5")]) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoint.h5").system
    b = load_checkpoint(tmp_path / "b" / "checkpoint.h5").system
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.charges, b.charges)

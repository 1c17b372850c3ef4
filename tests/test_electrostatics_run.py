"""Ewald inside the engine: molten-NaCl NVE, the example decks, and the [electrostatics] deck checks."""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, make_supercell

from echemmd.cli import EXIT_INPUT, main
from echemmd.electrostatics import Ewald
from echemmd.integrators import LangevinBAOAB, VelocityVerlet, maxwell_boltzmann
from echemmd.io.deck import load_deck
from echemmd.simulation import Simulation
from echemmd.system import System

INPUTS = Path(__file__).resolve().parents[1] / "inputs"
MAKE_NACL = runpy.run_path(str(INPUTS / "make_nacl.py"))


def small_melt():
    """64 ions of NaCl at the melt's density, melted by a short hot Langevin run."""
    a = MAKE_NACL["rock_salt_lattice_constant"](MAKE_NACL["DENSITY"])
    atoms = MAKE_NACL["with_charges"](make_supercell(bulk("NaCl", "rocksalt", a=a, cubic=True),
                                                     np.eye(3, dtype=int) * 2))
    system = System.from_atoms(atoms)
    ff = MAKE_NACL["forcefield"](system, accuracy=1e-5)
    maxwell_boltzmann(system, 2500.0, np.random.default_rng(1))
    Simulation(system, ff, LangevinBAOAB(dt=1.0, temperature=1200.0, friction=0.05, seed=2)).run(1000)
    return system, ff


class EnergyRecorder:
    every = 10

    def __init__(self):
        self.values = []

    def observe(self, sim):
        self.values.append((sim.conserved_energy, sim.potential_energy))

    def close(self):
        pass


def test_molten_nacl_nve_conserves_energy():
    system, ff = small_melt()
    rec = EnergyRecorder()
    sim = Simulation(system, ff, VelocityVerlet(dt=1.0), observers=[rec])
    sim.run(5000)  # 5 ps
    e = np.array(rec.values)
    drift = np.abs(e[:, 0] - e[0, 0]).max() / abs(e[0, 0])
    print(f"molten NaCl NVE 5 ps, dt = 1 fs: max relative energy deviation {drift:.2e}, T = {sim.temperature:.0f} K")
    assert drift < 1e-4
    # A liquid, not a frozen crystal: the potential energy fluctuates far more than the total.
    assert np.ptp(e[:, 1]) > 100 * np.abs(e[:, 0] - e[0, 0]).max()
    assert 800 < sim.temperature < 1600


def test_example_decks_load_and_eval(tmp_path):
    for name in ("nacl_melt.toml", "nacl_slab.toml"):
        deck = load_deck(INPUTS / name)
        assert deck["electrostatics"]["method"] == "ewald"
    out = tmp_path / "slab.json"
    assert main(["eval", str(INPUTS / "nacl_slab.toml"), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["energy_terms"]) == {"bmh", "coulomb"}
    # The same Coulomb energy from the library, with the deck's parameters, independently set up.
    from ase.io import read

    system = System.from_atoms(read(INPUTS / "nacl_slab.extxyz"))
    ref = Ewald(accuracy=1e-5, slab_factor=3.0).evaluate(system)
    assert data["energy_terms"]["coulomb"] == pytest.approx(ref.energy, rel=1e-12)
    np.testing.assert_allclose(np.sum(data["forces"], axis=0), 0.0, atol=1e-8)
    # A neutral crystal slab: Coulomb energy per ion pair near the bulk Madelung value (surface costs a bit).
    assert -9.0 < data["energy_terms"]["coulomb"] / (system.n_atoms / 2) < -8.0


DECK = """
[system]
structure = "{structure}"
[[pair]]
style = "bmh"
cutoff = 6.0
[pair.coeffs]
"Na-Na" = {{ A = 0.263705, rho = 0.317, sigma = 2.340 }}
"Na-Cl" = {{ A = 0.210964, rho = 0.317, sigma = 2.755 }}
"Cl-Cl" = {{ A = 0.158223, rho = 0.317, sigma = 3.170 }}
[electrostatics]
{electrostatics}
[md]
steps = 1
"""


def run_eval(tmp_path, electrostatics, structure=None):
    structure = structure or (INPUTS / "nacl_slab.extxyz")
    deck = tmp_path / "deck.toml"
    deck.write_text(DECK.format(structure=structure, electrostatics=electrostatics))
    return main(["eval", str(deck), "--json", str(tmp_path / "out.json")])


@pytest.mark.parametrize("text,expected", [
    ("method = 'pppm'", ["electrostatics.method", "\"none\", \"ewald\""]),
    ("accuracy = 2.0", ["electrostatics.accuracy", "< 1"]),
    ("sigma = { Na = -0.5 }", ["electrostatics.sigma.Na", ">= 0"]),
    ("sigma = { K = 0.5 }", ["electrostatics.sigma.K", "not in the structure", "Cl, Na"]),
    ("switch = { r_on = 4.0, r_off = 3.0 }", ["electrostatics.switch", "r_on < r_off"]),
    ("switch = { r_on = 1.0 }", ["electrostatics.switch", "r_on and r_off"]),
    ("r_cut = 5.0\nswitch = { r_on = 1.0, r_off = 6.0 }", ["electrostatics.r_cut", "below switch.r_off"]),
    ("sigma = { Na = 0.5, Cl = 0.5 }\nalpha = 1.2", ["alpha", "below 1/gamma_max"]),
])
def test_electrostatics_deck_errors(tmp_path, capsys, text, expected):
    assert run_eval(tmp_path, text) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "deck.toml" in err
    for fragment in expected:
        assert fragment in err


def test_electrostatics_needs_a_periodic_or_slab_cell(tmp_path, capsys):
    from ase.io import read, write

    atoms = read(INPUTS / "nacl_slab.extxyz")
    atoms.pbc = (True, False, False)
    write(tmp_path / "wire.extxyz", atoms)
    assert run_eval(tmp_path, "accuracy = 1e-5", structure=tmp_path / "wire.extxyz") == EXIT_INPUT
    err = capsys.readouterr().err
    assert "electrostatics.method" in err and "pbc" in err and "wire.extxyz" in err


def test_field_on_fixed_charges_adds_q_e_forces(tmp_path):
    base = (INPUTS / "nacl_slab.toml").read_text().replace('"nacl_slab.extxyz"', f'"{INPUTS / "nacl_slab.extxyz"}"')
    (tmp_path / "plain.toml").write_text(base)
    (tmp_path / "field.toml").write_text(base.replace("[md]", "[field]\nE = [0.0, 0.0, 0.1]\n\n[md]"))
    assert main(["eval", str(tmp_path / "plain.toml"), "--json", str(tmp_path / "a.json")]) == 0
    assert main(["eval", str(tmp_path / "field.toml"), "--json", str(tmp_path / "b.json")]) == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    q = np.array(a["charges"])
    df = np.array(b["forces"]) - np.array(a["forces"])
    np.testing.assert_allclose(df[:, 2], 0.1 * q, atol=1e-12)
    np.testing.assert_allclose(df[:, :2], 0.0, atol=1e-12)
    from ase.io import read

    z = read(INPUTS / "nacl_slab.extxyz").positions[:, 2]
    assert b["energy"] - a["energy"] == pytest.approx(-0.1 * float(q @ z), abs=1e-9)
    assert b["energy_terms"]["field"] == pytest.approx(-0.1 * float(q @ z), abs=1e-9)

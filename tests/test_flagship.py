"""The flagship: its reference data set, the shipped model and the default deck (inputs/flagship*).

What the files promise: the data set is the concatenation of the labelling rounds, every
frame with GFN1-xTB energy, forces, stress, charges and provenance; the shipped files stay
small; the deck runs the shipped model on the shipped cell with two constant-potential
electrodes that hold opposite charges; the model is the exact gradient of its energy there.
"""

from pathlib import Path

import numpy as np
import pytest

from echemmd.app import build_forcefield, prepare_system
from echemmd.io.dataset import read_dataset
from echemmd.io.deck import load_deck

INPUTS = Path(__file__).resolve().parents[1] / "inputs"
FLAGSHIP = INPUTS / "flagship"


def test_data_set_is_the_rounds_with_provenance():
    rounds = sorted(FLAGSHIP.glob("data_r*.extxyz"), key=lambda p: int(p.stem[6:]))
    assert len(rounds) >= 2  # round 0 (random) and at least one round explored with a model
    parts = [read_dataset(p) for p in rounds]
    data = read_dataset(FLAGSHIP / "data.extxyz")
    assert len(data) == sum(len(p) for p in parts) >= 300
    assert [f.energy for f in data] == [f.energy for p in parts for f in p]
    elements = set()
    for f in data:
        assert f.forces is not None and f.stress is not None and f.charges is not None
        assert np.all(np.isfinite(f.forces)) and abs(f.charges.sum() - f.total_charge) < 1e-3
        elements |= set(f.symbols)
    assert elements == {"H", "O", "Na", "Cl", "Au"}
    assert any(f.total_charge != 0 for f in data)  # charged-electrode frames
    import ase.io

    info = ase.io.read(rounds[0], index=0).info
    assert info["method"] == "GFN1-xTB" and "electronic_temperature=300.0" in info["settings"]
    test = read_dataset(FLAGSHIP / "test_md.extxyz")
    assert len(test) >= 20 and not {f.source for f in test} & {f.source for f in data}


def test_shipped_files_are_small():
    size = sum(p.stat().st_size for p in FLAGSHIP.iterdir() if p.is_file())
    assert size < 20e6, f"inputs/flagship holds {size / 1e6:.1f} MB"


@pytest.fixture(scope="module")
def flagship():
    deck = load_deck(INPUTS / "flagship.toml")
    system = prepare_system(deck)
    return deck, system, build_forcefield(deck, system)


def test_deck_runs_the_model_between_two_electrodes(flagship):
    deck, system, ff = flagship
    symbols = np.array(system.symbols)
    assert 300 <= (symbols != "Au").sum() <= 600 and set(symbols) == {"H", "O", "Na", "Cl", "Au"}
    assert np.all(system.frozen[symbols == "Au"]) and not np.any(system.frozen[symbols != "Au"])
    assert deck["md"]["dt"] == 0.5 and deck["md"]["temperature"] == 300.0
    potentials = sorted(e["potential"] for e in deck.data["electrode"])
    assert potentials[1] - potentials[0] == pytest.approx(1.0)
    res = ff.compute(system)
    assert np.isfinite(res.energy) and np.all(np.isfinite(res.forces))
    tags = system.tags
    q_bottom, q_top = system.charges[tags == 1].sum(), system.charges[tags == 2].sum()
    water_ions = system.charges[tags == 0].sum()
    assert q_bottom + q_top + water_ions == pytest.approx(0.0, abs=1e-8)  # a neutral cell
    # The relaxed cell starts from a liquid: no broken or squeezed water.
    o = np.nonzero(symbols == "O")[0]
    h = np.nonzero(symbols == "H")[0]
    diff = system.positions[h][:, None] - system.positions[o][None]
    frac = diff @ np.linalg.inv(system.cell)
    frac -= np.round(frac) * np.asarray(system.pbc, dtype=float)  # minimum image along x and y
    d = np.linalg.norm(frac @ system.cell, axis=2)
    assert d.min(axis=1).max() < 1.3 and d.min() > 0.8


def test_forces_are_the_gradient_of_the_energy_in_the_deck(flagship):
    """Central differences of the full energy (network + Ewald + constant-potential charges re-solved)."""
    deck, system, ff = flagship
    base = ff.compute(system)
    symbols = np.array(system.symbols)
    picks = [int(np.nonzero(symbols == e)[0][0]) for e in ("O", "H", "Na", "Cl")]
    h = 1e-4
    x0 = system.positions.copy()
    for i in picks:
        for a in range(3):
            e = []
            for s in (1, -1):
                system.positions[:] = x0
                system.positions[i, a] += s * h
                e.append(ff.compute(system).energy)
            assert -(e[0] - e[1]) / (2 * h) == pytest.approx(base.forces[i, a], abs=2e-4 + 1e-4 * abs(base.forces[i, a]))
    system.positions[:] = x0


def test_4g_model_reproduces_its_side_by_side_report():
    """The shipped 4G model, evaluated as a run evaluates it, gives the committed held-out numbers."""
    import json
    import sys

    from echemmd.fourthgen import FourthGenModel
    from echemmd.io.model import load_model

    model = load_model(FLAGSHIP / "model_4g.h5")
    assert isinstance(model, FourthGenModel) and model.elements == ["H", "O", "Na", "Cl", "Au"]
    assert model.hardness["Au"] == 0.0 and model.provenance["deck"].endswith("train_4g.toml")
    sys.path.insert(0, str(FLAGSHIP))
    try:
        from compare_models import errors, held_out
    finally:
        sys.path.remove(str(FLAGSHIP))
    report = json.loads((FLAGSHIP / "report_4g_vs_2g.json").read_text())
    frames = held_out()["test (MD)"]
    got = errors(FLAGSHIP / "model_4g.h5", frames)
    want = report["test (MD)"]["4G"]
    for key in ("energy_rmse_meV_per_atom", "force_rmse_meV_per_A", "charge_rmse_me"):
        assert got[key] == pytest.approx(want[key], rel=1e-6), key

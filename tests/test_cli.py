"""End-to-end: the echemmd command on small decks — run, eval, restart, outputs, error paths."""

import json
import os
import signal

import h5py
import numpy as np
import pytest
from ase.build import bulk, make_supercell
from ase.io import write

from echemmd.cli import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_SIMULATION, main
from echemmd.io.checkpoint import load_checkpoint
from echemmd.io.h5md import read_h5md

A_ARGON = 5.7438  # Å, fcc argon at 1.40 g/cm^3


def write_argon(path, repeat=3, rattle=0.05, seed=0):
    atoms = make_supercell(bulk("Ar", "fcc", a=A_ARGON, cubic=True), np.eye(3) * repeat)
    atoms.rattle(rattle, seed=seed)
    atoms.pbc = True
    write(path, atoms, format="extxyz")
    return atoms


DECK = """
[system]
structure = "argon.extxyz"
temperature = 120.0

[neighbors]
skin = 1.0

[[pair]]
style = "lj"
cutoff = 8.0
[pair.coeffs]
"Ar-Ar" = {{ epsilon = 0.0103, sigma = 3.405 }}

[md]
steps = {steps}
dt = 2.0
integrator = "{integrator}"
temperature = 120.0
tau = 50.0
friction = 0.02
seed = 7

[output]
directory = "{out}"
thermo_every = 5
trajectory_every = 5
checkpoint_every = {checkpoint_every}
progress = false

[limits]
max_force = {max_force}
min_distance = 2.0
"""


def make_deck(tmp_path, name="deck.toml", steps=40, integrator="nve", out="out", checkpoint_every=0,
              max_force=50.0, extra=""):
    if not (tmp_path / "argon.extxyz").exists():
        write_argon(tmp_path / "argon.extxyz")
    path = tmp_path / name
    path.write_text(DECK.format(steps=steps, integrator=integrator, out=tmp_path / out,
                                checkpoint_every=checkpoint_every, max_force=max_force) + extra)
    return path


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from echemmd import __version__
    assert __version__ in capsys.readouterr().out


def test_run_writes_thermo_trajectory_checkpoint(tmp_path, capsys):
    deck = make_deck(tmp_path, steps=20)
    assert main(["run", str(deck)]) == 0
    out = capsys.readouterr().out
    assert "results in" in out
    rows = (tmp_path / "out" / "thermo.csv").read_text().splitlines()
    assert rows[0].startswith("step,time_fs,temperature_K,potential_eV")
    assert [int(r.split(",")[0]) for r in rows[1:]] == [0, 5, 10, 15, 20]
    traj = read_h5md(tmp_path / "out" / "trajectory.h5md")
    assert list(traj["step"]) == [0, 5, 10, 15, 20]
    ckpt = load_checkpoint(tmp_path / "out" / "checkpoint.h5")
    assert ckpt.step == 20 and ckpt.time == pytest.approx(40.0)
    np.testing.assert_allclose(traj["positions"][-1] + traj["images"][-1] @ traj["cell"][-1],
                               ckpt.system.positions, atol=1e-12)


def test_trajectory_opens_in_mdanalysis(tmp_path):
    import MDAnalysis as mda

    deck = make_deck(tmp_path, steps=20)
    assert main(["run", str(deck)]) == 0
    path = tmp_path / "out" / "trajectory.h5md"
    traj = read_h5md(path)
    u = mda.Universe.empty(108, trajectory=True).load_new(str(path), format="H5MD")
    assert len(u.trajectory) == 5
    from ase.geometry import cell_to_cellpar
    for k, ts in enumerate(u.trajectory):
        np.testing.assert_allclose(ts.positions, traj["positions"][k], atol=1e-4)  # MDAnalysis keeps float32
        np.testing.assert_allclose(ts.dimensions, cell_to_cellpar(traj["cell"][k]), rtol=1e-6)
    # The default group also opens without a topology.
    u2 = mda.Universe(str(path))
    assert len(u2.trajectory) == 5 and u2.atoms.n_atoms == 108


@pytest.mark.parametrize("integrator", ["nve", "langevin", "csvr", "nose-hoover"])
def test_restart_continues_exactly(tmp_path, integrator):
    straight = make_deck(tmp_path, "a.toml", steps=40, integrator=integrator, out="a")
    split = make_deck(tmp_path, "b.toml", steps=40, integrator=integrator, out="b")
    assert main(["run", str(straight)]) == 0
    assert main(["run", str(split), "--steps", "20"]) == 0
    assert main(["run", str(split), "--restart", str(tmp_path / "b" / "checkpoint.h5")]) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoint.h5")
    b = load_checkpoint(tmp_path / "b" / "checkpoint.h5")
    assert a.step == b.step == 40
    np.testing.assert_allclose(b.system.positions, a.system.positions, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.system.velocities, a.system.velocities, rtol=0, atol=1e-12)
    ta, tb = read_h5md(tmp_path / "a" / "trajectory.h5md"), read_h5md(tmp_path / "b" / "trajectory.h5md")
    assert list(ta["step"]) == list(tb["step"])
    np.testing.assert_allclose(tb["positions"], ta["positions"], atol=1e-10)
    strip = lambda rows: [r.rsplit(",", 1)[0] for r in rows]  # last column is the wall-clock throughput
    ra = (tmp_path / "a" / "thermo.csv").read_text().splitlines()
    rb = (tmp_path / "b" / "thermo.csv").read_text().splitlines()
    assert strip(ra) == strip(rb)


def test_restart_truncates_frames_written_after_the_checkpoint(tmp_path):
    deck = make_deck(tmp_path, steps=30, checkpoint_every=10)
    assert main(["run", str(deck), "--steps", "25"]) == 0
    # Pretend the run died after step 25 with its last periodic checkpoint at step 20.
    ckpt = tmp_path / "out" / "checkpoint.h5"
    assert main(["run", str(deck), "--steps", "20", "--output", str(tmp_path / "ref")]) == 0
    os.replace(tmp_path / "ref" / "checkpoint.h5", ckpt)
    assert main(["run", str(deck), "--restart", str(ckpt)]) == 0
    steps = list(read_h5md(tmp_path / "out" / "trajectory.h5md")["step"])
    assert steps == [0, 5, 10, 15, 20, 25, 30]
    rows = (tmp_path / "out" / "thermo.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [0, 5, 10, 15, 20, 25, 30]


def test_eval_json_matches_ase(tmp_path):
    from ase.calculators.lj import LennardJones
    from ase.io import read

    deck = make_deck(tmp_path)
    out = tmp_path / "eval.json"
    assert main(["eval", str(deck), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    atoms = read(tmp_path / "argon.extxyz")
    atoms.calc = LennardJones(epsilon=0.0103, sigma=3.405, rc=8.0, smooth=False)
    assert data["energy"] == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
    assert data["energy_terms"] == {"lj": pytest.approx(data["energy"], rel=1e-15)}
    np.testing.assert_allclose(data["forces"], atoms.get_forces(), atol=1e-12)
    s = atoms.get_stress(voigt=False)
    np.testing.assert_allclose(data["stress"], s, atol=1e-12)
    assert data["charges"] == [0.0] * len(atoms)


def test_command_line_overrides_win(tmp_path):
    deck = make_deck(tmp_path, steps=40)
    assert main(["run", str(deck), "--steps", "10", "--output", str(tmp_path / "x"), "--set", "output.thermo_every=2"]) == 0
    rows = (tmp_path / "x" / "thermo.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [0, 2, 4, 6, 8, 10]


# ---------------------------------------------------------------------- error paths
def test_unknown_key_exit_2(tmp_path, capsys):
    deck = make_deck(tmp_path, extra="\n[neighbors2]\nskin = 1.0\n")
    assert main(["run", str(deck)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "deck.toml" in err and "neighbors2" in err and "neighbors" in err


def test_missing_deck_exit_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == EXIT_INPUT
    assert "nope.toml" in capsys.readouterr().err


def test_overlapping_atoms_exit_2(tmp_path, capsys):
    atoms = write_argon(tmp_path / "argon.extxyz")
    atoms.positions[5] = atoms.positions[3] + [0.3, 0.0, 0.0]
    write(tmp_path / "argon.extxyz", atoms, format="extxyz")
    deck = make_deck(tmp_path)
    assert main(["run", str(deck)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "atoms 3 (Ar) and 5 (Ar) overlap" in err and "argon.extxyz" in err and "min_distance" in err


def test_restart_from_non_checkpoint_exit_2(tmp_path, capsys):
    deck = make_deck(tmp_path)
    bogus = tmp_path / "bogus.h5"
    with h5py.File(bogus, "w") as f:
        f["x"] = 1
    assert main(["run", str(deck), "--restart", str(bogus)]) == EXIT_INPUT
    assert "bogus.h5" in capsys.readouterr().err


def test_huge_force_stops_with_checkpoint(tmp_path, capsys):
    deck = make_deck(tmp_path, steps=50, max_force=0.05)
    code = main(["run", str(deck)])
    err = capsys.readouterr().err
    assert code == EXIT_SIMULATION
    assert "exceeds limits.max_force = 0.05 eV/Å" in err and "checkpoint.failed.h5" in err
    failed = load_checkpoint(tmp_path / "out" / "checkpoint.failed.h5")
    assert failed.step >= 1
    # Files were closed cleanly: the trajectory and thermo can be read.
    assert len(read_h5md(tmp_path / "out" / "trajectory.h5md")["step"]) >= 1


def test_ctrl_c_writes_checkpoint_and_exits_130(tmp_path, capsys, monkeypatch):
    from echemmd.io import observers

    deck = make_deck(tmp_path, steps=200)
    original = observers.ThermoObserver.observe

    def observe_then_interrupt(self, sim):
        original(self, sim)
        if sim.step == 10:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(observers.ThermoObserver, "observe", observe_then_interrupt)
    assert main(["run", str(deck)]) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "interrupted by SIGINT" in err
    ckpt = load_checkpoint(tmp_path / "out" / "checkpoint.h5")
    assert ckpt.step == 10
    # The interrupted run continues from its checkpoint.
    monkeypatch.setattr(observers.ThermoObserver, "observe", original)
    assert main(["run", str(deck), "--restart", str(tmp_path / "out" / "checkpoint.h5"), "--steps", "20"]) == 0
    assert load_checkpoint(tmp_path / "out" / "checkpoint.h5").step == 20

"""H5MD trajectories: our reader (exact), MDAnalysis 2.11's reader (independent), restarts, flushing."""

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from echemmd import units
from echemmd.errors import InputError
from echemmd.forcefield import Contribution
from echemmd.io.h5md import H5MDWriter, iter_h5md_frames, read_h5md
from echemmd.system import System

mda = pytest.importorskip("MDAnalysis")
from ase.geometry import cell_to_cellpar  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CELLS = {
    "orthorhombic": np.diag([9.0, 10.5, 12.25]),
    "triclinic": np.array([[9.0, 0.0, 0.0], [2.5, 10.0, 0.0], [-1.5, 2.0, 11.0]]),
    # a rotated triclinic cell: no row is along x
    "general": np.array([[0.0, 5.2, 5.2], [5.2, 0.0, 5.2], [5.2, 5.2, 0.0]]),
}


def make_system(cell, n=7, seed=1, pbc=(True, True, True)):
    rng = np.random.default_rng(seed)
    symbols = list(rng.choice(["O", "H", "Na", "Cl"], size=n))
    from ase.data import atomic_masses, atomic_numbers

    numbers = [atomic_numbers[s] for s in symbols]
    cell = np.asarray(cell, dtype=float)
    # Fractional coordinates well outside [0, 1) so that image flags are non-zero.
    frac = rng.uniform(-2.0, 3.0, size=(n, 3))
    return System(
        symbols=symbols,
        numbers=numbers,
        masses=[atomic_masses[z] for z in numbers],
        positions=frac @ cell if np.linalg.det(cell) != 0 else frac * 10.0,
        velocities=rng.normal(scale=0.01, size=(n, 3)),
        charges=rng.normal(scale=0.5, size=n),
        cell=cell,
        pbc=pbc,
        tags=np.zeros(n, dtype=int),
        frozen=np.zeros(n, dtype=bool),
    )


def run_frames(path, system, steps, seed=2, dt=0.5, **kw):
    """Write one frame per step with new random state; return what was written, per frame."""
    rng = np.random.default_rng(seed)
    frames = []
    with H5MDWriter(path, system, **kw) as w:
        for step in steps:
            system.positions += rng.normal(scale=2.0, size=system.positions.shape)
            system.velocities = rng.normal(scale=0.01, size=system.velocities.shape)
            system.charges = rng.normal(scale=0.5, size=system.n_atoms)
            forces = rng.normal(size=system.positions.shape)
            obs = {
                "potential_energy": float(rng.normal()),
                "kinetic_energy": float(rng.uniform()),
                "temperature": float(rng.uniform(200, 400)),
                "conserved_energy": float(rng.normal()),
                "energy_lj": float(rng.normal()),
            }
            assert w.write(step, step * dt, system, Contribution(0.0, forces, np.zeros((3, 3))), obs)
            frames.append(dict(step=step, time=step * dt, system=system.copy(), forces=forces, obs=obs))
    return frames


def mda_universe(path, n_atoms):
    """A Universe from our file without a topology (MDAnalysis' parse_n_atoms wants particles/trajectory)."""
    u = mda.Universe.empty(n_atoms, trajectory=False)
    u.load_new(str(path), format="H5MD")
    return u


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_roundtrip_own_reader_exact(tmp_path, kind):
    path = tmp_path / "traj.h5md"
    system = make_system(CELLS[kind])
    frames = run_frames(path, system, [0, 5, 10, 15], deck_text="[run]\nsteps = 15\n")
    d = read_h5md(path)
    assert d["step"].tolist() == [0, 5, 10, 15]
    np.testing.assert_array_equal(d["time"], [f["time"] for f in frames])
    np.testing.assert_array_equal(d["species"], system.numbers)
    np.testing.assert_array_equal(d["masses"], system.masses)
    np.testing.assert_array_equal(d["pbc"], [True, True, True])
    assert d["deck"] == "[run]\nsteps = 15\n"
    for k, f in enumerate(frames):
        s = f["system"]
        np.testing.assert_array_equal(d["positions"][k], s.wrapped_positions())
        np.testing.assert_array_equal(d["images"][k], s.image_flags())
        assert np.any(d["images"][k] != 0)
        np.testing.assert_allclose(d["positions"][k] + d["images"][k] @ d["cell"][k], s.positions,
                                   rtol=0, atol=1e-12)
        np.testing.assert_array_equal(d["velocities"][k], s.velocities)
        np.testing.assert_array_equal(d["charges"][k], s.charges)
        np.testing.assert_array_equal(d["cell"][k], s.cell)
        # Stored in kJ/mol/Å and converted back: a rounding or two, no more.
        np.testing.assert_allclose(d["forces"][k], f["forces"], rtol=1e-15, atol=0)
        for name, value in f["obs"].items():
            assert d["observables"][name][k] == value
    # Wrapped positions lie inside the cell.
    frac = d["positions"] @ np.linalg.inv(d["cell"][0])
    assert np.all(frac >= -1e-12) and np.all(frac < 1 + 1e-12)


def test_file_layout_follows_h5md(tmp_path):
    path = tmp_path / "traj.h5md"
    run_frames(path, make_system(CELLS["triclinic"], pbc=(True, True, False)), [0, 1])
    with h5py.File(path, "r") as f:
        assert list(f["h5md"].attrs["version"]) == [1, 1]
        assert f["h5md/author"].attrs["name"] == "echemmd"
        assert f["h5md/creator"].attrs["name"] == "echemmd"
        p = f["particles/trajectory"]
        box = p["box"]
        assert box.attrs["dimension"] == 3
        assert [b.decode() if isinstance(b, bytes) else b for b in box.attrs["boundary"]] == \
            ["periodic", "periodic", "none"]
        assert box["edges/value"].shape == (2, 3, 3)
        for name in ("position", "velocity", "force", "charge", "image", "box/edges"):
            g = p[name]
            assert g["step"].dtype.kind == "i" and g["time"].dtype.kind == "f"
            assert g["time"].attrs["unit"] == "fs"
            assert g["value"].maxshape[0] is None and g["value"].chunks is not None
        assert p["position/value"].attrs["unit"] == "Angstrom"
        assert p["velocity/value"].attrs["unit"] == "Angstrom fs-1"
        assert p["force/value"].attrs["unit"] == "kJ mol-1 Angstrom-1"
        assert p["charge/value"].attrs["unit"] == "e"
        assert f["observables/potential_energy/value"].attrs["unit"] == "eV"
        assert f["observables/temperature/value"].attrs["unit"] == "K"
        assert f["observables/energy_lj/value"].attrs["unit"] == "eV"
        # One step and one time dataset serve every element (hard links, allowed by H5MD).
        assert p["velocity/step"].id == p["position/step"].id == f["observables/energy_lj/step"].id


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_mdanalysis_reads_our_file(tmp_path, kind):
    """MDAnalysis converts to its units: Å, ps, Å/ps, kJ/(mol Å); positions as stored."""
    path = tmp_path / "traj.h5md"
    system = make_system(CELLS[kind])
    frames = run_frames(path, system, [0, 10, 20])
    u = mda_universe(path, system.n_atoms)
    assert u.trajectory.n_frames == 3
    # The 'e' charge unit and the extra elements (image, species, mass) do not upset the reader.
    assert u.trajectory.units == {"time": "fs", "length": "Angstrom", "velocity": "Angstrom/fs",
                                  "force": "kJ/(mol*Angstrom)"}
    for ts, f in zip(u.trajectory, frames):
        s = f["system"]
        np.testing.assert_allclose(ts.positions, s.wrapped_positions(), rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(ts.dimensions, cell_to_cellpar(s.cell), rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(ts.velocities, s.velocities * units.FS_PER_PS, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ts.forces, f["forces"] * units.EV_PER_A_TO_KJ_PER_MOL_A, rtol=1e-6, atol=1e-4)
        assert ts.time == pytest.approx(f["time"] / units.FS_PER_PS)
        assert ts.data["step"] == f["step"]
        for name, value in f["obs"].items():
            assert ts.data[name] == pytest.approx(value)


@pytest.mark.parametrize("kind", ["orthorhombic", "triclinic"])
def test_mdanalysis_periodic_distances(tmp_path, kind):
    """For cells with a along x and b in xy, MDAnalysis' minimum-image distances match ASE's."""
    from ase.geometry import get_distances
    from MDAnalysis.lib.distances import distance_array

    path = tmp_path / "traj.h5md"
    system = make_system(CELLS[kind], n=8)
    frames = run_frames(path, system, [0, 1])
    u = mda_universe(path, system.n_atoms)
    for ts, f in zip(u.trajectory, frames):
        got = distance_array(ts.positions, ts.positions, box=ts.dimensions)
        _, want = get_distances(f["system"].positions, cell=f["system"].cell, pbc=True)
        np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.filterwarnings("ignore:there is no reference attributes")
def test_mdanalysis_reads_trajectory_group_without_topology(tmp_path):
    """With group='trajectory', MDAnalysis builds a Universe from the file alone."""
    path = tmp_path / "traj.h5md"
    system = make_system(CELLS["orthorhombic"])
    frames = run_frames(path, system, [0, 1, 2], group="trajectory")
    u = mda.Universe(str(path))
    assert len(u.atoms) == system.n_atoms and u.trajectory.n_frames == 3
    np.testing.assert_allclose(u.trajectory[2].positions, frames[2]["system"].wrapped_positions(), atol=1e-5)
    assert read_h5md(path)["step"].tolist() == [0, 1, 2]


def test_iter_frames_matches_read(tmp_path):
    path = tmp_path / "traj.h5md"
    frames = run_frames(path, make_system(CELLS["triclinic"]), [0, 3, 6, 9])
    d = read_h5md(path)
    got = list(iter_h5md_frames(path))
    assert [fr.index for fr in got] == [0, 1, 2, 3]
    for k, fr in enumerate(got):
        assert fr.step == d["step"][k] and fr.time == d["time"][k]
        np.testing.assert_array_equal(fr.positions, d["positions"][k])
        np.testing.assert_array_equal(fr.forces, d["forces"][k])
        np.testing.assert_array_equal(fr.cell, d["cell"][k])
        np.testing.assert_allclose(fr.unwrapped_positions(), frames[k]["system"].positions, atol=1e-12)
        assert fr.observables == {n: v[k] for n, v in d["observables"].items()}
    assert [fr.step for fr in iter_h5md_frames(path, start=1, stride=2)] == [3, 9]


def test_slab_and_open_boundaries(tmp_path):
    slab = make_system(CELLS["orthorhombic"], pbc=(True, True, False))
    run_frames(tmp_path / "slab.h5md", slab, [0, 1])
    d = read_h5md(tmp_path / "slab.h5md")
    np.testing.assert_array_equal(d["pbc"], [True, True, False])
    assert np.all(d["images"][:, :, 2] == 0)
    # Along z nothing is wrapped.
    np.testing.assert_array_equal(d["positions"][1][:, 2], slab.positions[:, 2])

    cluster = make_system(np.zeros((3, 3)), pbc=(False, False, False))
    frames = run_frames(tmp_path / "cluster.h5md", cluster, [0, 1])
    d = read_h5md(tmp_path / "cluster.h5md")
    np.testing.assert_array_equal(d["positions"][1], frames[1]["system"].positions)
    assert np.all(d["images"] == 0)
    u = mda_universe(tmp_path / "cluster.h5md", cluster.n_atoms)
    assert u.trajectory.n_frames == 2 and u.dimensions is None


def test_append_truncates_frames_after_restart_step(tmp_path):
    path = tmp_path / "traj.h5md"
    system = make_system(CELLS["triclinic"])
    first = run_frames(path, system, [0, 10, 20, 30, 40], seed=3)
    # Restart from the checkpoint at step 20: frames 30 and 40 belonged to the crashed run.
    restart = first[2]["system"].copy()
    with H5MDWriter(path, restart, append=True, restart_step=20) as w:
        assert w.n_frames == 3 and w.last_step == 20
        # The restart's first frame repeats the checkpoint's frame: skipped.
        assert w.write(20, 10.0, restart, None, {}) is False
        with pytest.raises(ValueError):
            w.write(10, 5.0, restart, None, {})
    second = run_frames(path, restart, [30, 40, 50], seed=4, append=True, restart_step=20)

    d = read_h5md(path)
    assert d["step"].tolist() == [0, 10, 20, 30, 40, 50]
    with h5py.File(path, "r") as f:
        for g in ("particles/trajectory/velocity", "particles/trajectory/image", "particles/trajectory/box/edges",
                  "observables/temperature"):
            assert f[g]["step"][()].tolist() == [0, 10, 20, 30, 40, 50]
            assert f[g]["value"].shape[0] == 6
    for k, fr in enumerate(first[:3] + second):
        np.testing.assert_array_equal(d["positions"][k], fr["system"].wrapped_positions())
        assert d["observables"]["temperature"][k] == fr["obs"]["temperature"]
    assert mda_universe(path, system.n_atoms).trajectory.n_frames == 6


def test_append_checks(tmp_path):
    path = tmp_path / "traj.h5md"
    run_frames(path, make_system(CELLS["orthorhombic"], n=5), [0, 1])
    with pytest.raises(InputError, match="atoms"):
        H5MDWriter(path, make_system(CELLS["orthorhombic"], n=6), append=True)
    with pytest.raises(InputError, match="triclinic"):
        H5MDWriter(path, make_system(CELLS["triclinic"], n=5), append=True)
    # Appending to a missing file starts one.
    run_frames(tmp_path / "new.h5md", make_system(CELLS["orthorhombic"]), [5], append=True, restart_step=5)
    assert read_h5md(tmp_path / "new.h5md")["step"].tolist() == [5]
    with pytest.raises(InputError):
        read_h5md(tmp_path / "missing.h5md")
    (tmp_path / "text.h5md").write_text("not hdf5")
    with pytest.raises(InputError, match="text.h5md"):
        read_h5md(tmp_path / "text.h5md")


def test_cuboid_file_refuses_triclinic_cell(tmp_path):
    system = make_system(CELLS["orthorhombic"])
    with H5MDWriter(tmp_path / "t.h5md", system) as w:
        w.write(0, 0.0, system, None, {})
        system.cell[1, 0] = 0.5
        with pytest.raises(ValueError, match="triclinic"):
            w.write(1, 1.0, system, None, {})


def test_observables_stay_aligned_with_frames(tmp_path):
    path = tmp_path / "traj.h5md"
    system = make_system(CELLS["orthorhombic"])
    with H5MDWriter(path, system) as w:
        w.write(0, 0.0, system, None, {"temperature": 300.0, "step": 0, "time": 0.0})
        w.write(1, 1.0, system, None, {"temperature": 301.0, "charge_left": -0.5})
        w.write(2, 2.0, system, None, {"charge_left": -0.4})
    d = read_h5md(path)
    assert set(d["observables"]) == {"temperature", "charge_left"}
    np.testing.assert_array_equal(d["observables"]["temperature"], [300.0, 301.0, np.nan])
    np.testing.assert_array_equal(d["observables"]["charge_left"], [np.nan, -0.5, -0.4])
    assert np.all(np.isnan(d["forces"]))
    with h5py.File(path, "r") as f:
        assert f["observables/charge_left/step"][()].tolist() == [0, 1, 2]
        assert f["observables/charge_left/value"].attrs["unit"] == "e"
    # MDAnalysis indexes every observable by the frame number: all frames must read.
    u = mda_universe(path, system.n_atoms)
    assert [ts.data["charge_left"] for ts in u.trajectory][1:] == [-0.5, -0.4]


_CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np
    sys.path.insert(0, {repo!r})
    from echemmd.io.h5md import H5MDWriter
    from echemmd.system import System
    n = 4
    s = System(["Ar"] * n, [18] * n, [39.948] * n, np.zeros((n, 3)), np.zeros((n, 3)), np.zeros(n),
               np.eye(3) * 10.0, [True] * 3, [0] * n, [False] * n)
    w = H5MDWriter({path!r}, s, flush_every={flush_every})
    for k in range({frames}):
        s.positions[:] = k + 0.25
        w.write(k, float(k), s, None, {{"temperature": float(k)}})
    os._exit(0)  # a crash: no close, no flush at exit
""")


@pytest.mark.parametrize("flush_every,frames,least", [(1, 5, 5), (2, 5, 4)])
def test_crash_keeps_flushed_frames(tmp_path, flush_every, frames, least):
    path = str(tmp_path / "crash.h5md")
    code = _CHILD.format(repo=REPO, path=path, flush_every=flush_every, frames=frames)
    subprocess.run([sys.executable, "-c", code], check=True)
    d = read_h5md(path)
    assert least <= len(d["step"]) <= frames
    for k in range(len(d["step"])):
        assert d["step"][k] == k
        np.testing.assert_array_equal(d["positions"][k], np.full((4, 3), k + 0.25))
        assert d["observables"]["temperature"][k] == k


def test_flushed_frames_readable_while_writing(tmp_path):
    """Another process (plain h5py, default locking) and MDAnalysis see flushed frames before close."""
    path = tmp_path / "live.h5md"
    system = make_system(CELLS["orthorhombic"])
    with H5MDWriter(path, system, flush_every=1) as w:
        for k in range(3):
            w.write(k, float(k), system, None, {"temperature": 300.0 + k})
        code = (f"import h5py; f = h5py.File({str(path)!r}, 'r'); "
                "print(f['particles/trajectory/position/value'].shape[0], f['observables/temperature/value'][-1])")
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        assert out.split() == ["3", "302.0"]
        code = ("import MDAnalysis as mda; u = mda.Universe.empty(%d); "
                "u.load_new(%r, format='H5MD'); print(u.trajectory.n_frames)" % (system.n_atoms, str(path)))
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        assert out.split()[-1] == "3"
        # In this process too (HDF5 shares the open file; our reader matches its locking).
        assert read_h5md(path)["step"].tolist() == [0, 1, 2]
        w.write(3, 3.0, system, None, {"temperature": 303.0})
    assert read_h5md(path)["step"].tolist() == [0, 1, 2, 3]


def test_own_reader_reads_mdanalysis_writer_output(tmp_path):
    """MDAnalysis writes ps, Å/ps and particles/trajectory: our reader converts back to fs, Å/fs, eV/Å."""
    src = tmp_path / "ours.h5md"
    system = make_system(CELLS["triclinic"])
    frames = run_frames(src, system, [0, 4, 8])
    u = mda_universe(src, system.n_atoms)
    out = tmp_path / "mda.h5md"
    with mda.Writer(str(out), n_atoms=system.n_atoms, format="H5MD", velocities=True, forces=True,
                    timeunit="ps", velocityunit="Angstrom/ps") as w:
        for ts in u.trajectory:
            w.write(u.atoms)
    with h5py.File(out, "r") as f:
        assert f["particles/trajectory/position/time"].attrs["unit"] == "ps"
        assert f["particles/trajectory/velocity/value"].attrs["unit"] == "Angstrom ps-1"
    d = read_h5md(out)
    assert d["step"].tolist() == [0, 4, 8]
    np.testing.assert_allclose(d["time"], [f["time"] for f in frames], rtol=1e-6)
    for k, f in enumerate(frames):
        s = f["system"]
        np.testing.assert_allclose(d["positions"][k], s.wrapped_positions(), atol=1e-5)
        np.testing.assert_allclose(d["velocities"][k], s.velocities, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(d["forces"][k], f["forces"], rtol=1e-5, atol=1e-5)
        # MDAnalysis stores the box in its own orientation: compare shape, not vectors.
        np.testing.assert_allclose(cell_to_cellpar(d["cell"][k]), cell_to_cellpar(s.cell), rtol=1e-5)

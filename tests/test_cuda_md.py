"""MD on the CUDA backend against the CPU backend from one state (numba's CUDA simulator in CI)."""

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from ase.build import bulk  # noqa: E402

from echemmd import System  # noqa: E402
from echemmd.forcefield import ForceField  # noqa: E402
from echemmd.gpu.simulation import CudaSimulation  # noqa: E402
from echemmd.integrators import CSVR, LangevinBAOAB, NoseHooverChain, VelocityVerlet, maxwell_boltzmann  # noqa: E402
from echemmd.neighbors import NeighborList  # noqa: E402
from echemmd.potentials import LennardJones  # noqa: E402
from echemmd.simulation import Simulation  # noqa: E402


def _argon(seed=0):
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=seed)
    system = System.from_atoms(atoms)
    maxwell_boltzmann(system, 120.0, rng=np.random.default_rng(seed))
    return system


def _forcefield():
    lj = LennardJones({"Ar-Ar": {"epsilon": 0.0103, "sigma": 3.405}}, cutoff=5.0)
    return ForceField([lj], NeighborList(cutoff=5.0, skin=0.5))


INTEGRATORS = {
    "nve": lambda: VelocityVerlet(dt=5.0),
    "langevin": lambda: LangevinBAOAB(dt=5.0, temperature=120.0, friction=0.02, seed=7),
    "csvr": lambda: CSVR(dt=5.0, temperature=120.0, tau=50.0, seed=7),
    "nose-hoover": lambda: NoseHooverChain(dt=5.0, temperature=120.0, tau=100.0),
}


@pytest.mark.parametrize("name", list(INTEGRATORS))
def test_gpu_trajectory_follows_cpu(name):
    """From one state, the GPU run follows the CPU run: positions to 1e-8 Å, energies to 1e-10."""
    cpu = Simulation(_argon(), _forcefield(), INTEGRATORS[name]())
    gpu = CudaSimulation(_argon(), _forcefield(), INTEGRATORS[name]())
    for _ in range(3):
        r_cpu = cpu.run(8)
        r_gpu = gpu.run(8)
        np.testing.assert_allclose(gpu.system.positions, cpu.system.positions, rtol=0, atol=1e-8)
        np.testing.assert_allclose(gpu.system.velocities, cpu.system.velocities, rtol=0, atol=1e-10)
        assert r_gpu.energy == pytest.approx(r_cpu.energy, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(r_gpu.virial, r_cpu.virial, rtol=1e-9, atol=1e-12)
        assert gpu.observables()["conserved_energy"] == pytest.approx(cpu.observables()["conserved_energy"],
                                                                      rel=1e-10)
    assert gpu.forcefield.neighbors.n_builds > 1  # the list was rebuilt on the device along the way
    assert np.abs(gpu.system.positions - _argon().positions).max() > 0.1  # the atoms moved


def test_gpu_checkpoint_state_matches_cpu():
    """The device integrator's state_dict is the CPU's (forces on the host, the same random stream)."""
    cpu = Simulation(_argon(), _forcefield(), INTEGRATORS["langevin"]())
    gpu = CudaSimulation(_argon(), _forcefield(), INTEGRATORS["langevin"]())
    cpu.run(5)
    gpu.run(5)
    a, b = cpu.integrator.state_dict(), gpu.integrator.state_dict()
    assert a["rng_state"] == b["rng_state"]
    np.testing.assert_allclose(b["forces"], a["forces"], rtol=1e-9, atol=1e-12)
    assert isinstance(b["forces"], np.ndarray)
    np.testing.assert_array_equal(gpu.forcefield.neighbors.reference_positions.shape, (32, 3))


def _deck(tmp_path, name, backend, steps=20, out=None, integrator="langevin"):
    from test_cli import DECK, write_argon

    if not (tmp_path / "argon.extxyz").exists():
        write_argon(tmp_path / "argon.extxyz", repeat=2)
    text = DECK.format(steps=steps, integrator=integrator, out=tmp_path / (out or name), checkpoint_every=0,
                       max_force=50.0).replace("cutoff = 8.0", "cutoff = 5.0")
    text = text.replace("seed = 7", f"seed = 7\nbackend = \"{backend}\"")
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _thermo(path):
    rows = path.read_text().splitlines()
    # The last column is the wall-clock throughput.
    return rows[0], np.array([[float(v) for v in r.split(",")[:-1]] for r in rows[1:]])


def test_cli_run_on_cuda_matches_cpu(tmp_path):
    from echemmd.cli import main
    from echemmd.io.h5md import read_h5md

    assert main(["run", str(_deck(tmp_path, "cpu", "cpu"))]) == 0
    assert main(["run", str(_deck(tmp_path, "gpu", "cpu")), "--backend", "cuda"]) == 0
    head_c, rows_c = _thermo(tmp_path / "cpu" / "thermo.csv")
    head_g, rows_g = _thermo(tmp_path / "gpu" / "thermo.csv")
    assert head_c == head_g and rows_c.shape == rows_g.shape == (5, rows_c.shape[1])
    np.testing.assert_allclose(rows_g, rows_c, rtol=1e-9, atol=1e-9)
    tc, tg = read_h5md(tmp_path / "cpu" / "trajectory.h5md"), read_h5md(tmp_path / "gpu" / "trajectory.h5md")
    np.testing.assert_allclose(tg["positions"], tc["positions"], atol=1e-8)
    np.testing.assert_allclose(tg["forces"], tc["forces"], atol=1e-8)


def test_cuda_restart_continues_exactly(tmp_path):
    from echemmd.cli import main
    from echemmd.io.checkpoint import load_checkpoint

    assert main(["run", str(_deck(tmp_path, "a", "cuda"))]) == 0
    split = _deck(tmp_path, "b", "cuda")
    assert main(["run", str(split), "--steps", "10"]) == 0
    assert main(["run", str(split), "--restart", str(tmp_path / "b" / "checkpoint.h5")]) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoint.h5")
    b = load_checkpoint(tmp_path / "b" / "checkpoint.h5")
    assert a.step == b.step == 20
    np.testing.assert_allclose(b.system.positions, a.system.positions, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.system.velocities, a.system.velocities, rtol=0, atol=1e-12)
    # A CPU checkpoint resumes on the GPU too: the state is the same.
    c = _deck(tmp_path, "c", "cpu")
    assert main(["run", str(c), "--steps", "10"]) == 0
    assert main(["run", str(c), "--restart", str(tmp_path / "c" / "checkpoint.h5"), "--backend", "cuda"]) == 0
    np.testing.assert_allclose(load_checkpoint(tmp_path / "c" / "checkpoint.h5").system.positions,
                               a.system.positions, rtol=0, atol=1e-8)


def test_term_without_cuda_kernels_is_a_clear_error():
    from echemmd.charges import FieldOnly
    from echemmd.errors import InputError

    ff = _forcefield()
    ff.terms.append(FieldOnly((0.0, 0.0, 0.01)))
    sim = CudaSimulation(_argon(), ff, VelocityVerlet(dt=5.0))
    with pytest.raises(InputError, match=r"'field' \(FieldOnly\) has no CUDA implementation.*PairPotential"):
        sim.run(1)


def test_mixed_precision_needs_the_cuda_backend(tmp_path):
    from echemmd.cli import EXIT_INPUT, main

    deck = _deck(tmp_path, "m", "cpu")
    assert main(["run", str(deck), "--set", "md.precision=mixed"]) == EXIT_INPUT


def test_missing_numba_cuda_is_a_clear_error(monkeypatch):
    import builtins

    from echemmd.errors import InputError
    from echemmd.gpu.support import require_cuda

    real_import = builtins.__import__

    def no_cuda(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "numba" and fromlist and "cuda" in fromlist:
            raise ImportError("No module named 'numba.cuda'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_cuda)
    with pytest.raises(InputError, match=r"pip install -e \"\.\[cuda\]\""):
        require_cuda()

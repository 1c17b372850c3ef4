"""Device workspaces: buffers reused from call to call, and MD steps that allocate no device memory."""

import collections

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from numba import cuda  # noqa: E402

from echemmd.kernels.cuda import reduce  # noqa: E402
from echemmd.kernels.cuda.workspace import GROWTH, Workspace, fill, zeros  # noqa: E402


def test_same_name_and_shape_is_the_same_buffer():
    ws = Workspace()
    a = ws.array("x", (10, 3))
    a.copy_to_device(np.arange(30.0).reshape(10, 3))
    b = ws.array("x", (10, 3))
    np.testing.assert_array_equal(b.copy_to_host(), np.arange(30.0).reshape(10, 3))
    assert ws.allocations == 1
    c = ws.array("x", (4, 3))  # a view of the first rows
    assert c.shape == (4, 3)
    np.testing.assert_array_equal(c.copy_to_host(), np.arange(12.0).reshape(4, 3))
    assert ws.allocations == 1


def test_growth_and_a_new_dtype_or_trailing_shape_reallocate():
    ws = Workspace()
    ws.array("x", 100)
    grown = ws.array("x", 101)
    assert grown.shape == (101,)
    assert ws.allocations == 2
    ws.array("x", int(GROWTH * 100))  # within the grown buffer
    assert ws.allocations == 2
    ws.array("x", 10, np.int64)
    ws.array("x", (10, 2), np.int64)
    assert ws.allocations == 4
    assert ws.nbytes == 10 * 2 * 8


def test_names_do_not_share_memory():
    ws = Workspace()
    a = ws.zeros("a", 5)
    b = ws.array("b", 5)
    fill(b, 7.0)
    np.testing.assert_array_equal(a.copy_to_host(), np.zeros(5))
    np.testing.assert_array_equal(b.copy_to_host(), np.full(5, 7.0))


def test_fill_and_zeros_without_a_workspace():
    z = zeros(None, "unused", (3, 2, 2))
    np.testing.assert_array_equal(z.copy_to_host(), np.zeros((3, 2, 2)))
    i = fill(cuda.device_array(4, dtype=np.int64), -1)
    np.testing.assert_array_equal(i.copy_to_host(), np.full(4, -1))
    with pytest.raises(TypeError, match="float64 or int64"):
        fill(cuda.device_array(4, dtype=np.int32), 0)


def test_reductions_reuse_their_buffers():
    ws = Workspace()
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 4))
    first = reduce.sum_columns(cuda.to_device(a), workspace=ws, name="s").copy_to_host()
    n = ws.allocations
    second = reduce.sum_columns(cuda.to_device(2 * a), workspace=ws, name="s").copy_to_host()
    assert ws.allocations == n
    np.testing.assert_allclose(first, a.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(second, 2 * a.sum(axis=0), rtol=1e-13)
    value, index = reduce.argmax(cuda.to_device(a[:, 0].copy()), workspace=ws)
    assert int(index.copy_to_host()[0]) == int(np.argmax(a[:, 0]))


def _count_allocations(monkeypatch):
    """Count device allocations (and uploads) made through numba.cuda from now on, by caller."""
    counts = collections.Counter()
    for name in ("device_array", "to_device", "device_array_like"):
        original = getattr(cuda, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(cuda, name, counted)
    return counts


def _lj_run(integrator):
    from test_cuda_md import _argon, _forcefield  # noqa: PLC0415

    from echemmd.gpu.simulation import CudaSimulation  # noqa: PLC0415

    system = _argon()
    return CudaSimulation(system, _forcefield(), integrator)


@pytest.mark.parametrize("kind", ["verlet", "langevin"])
def test_a_steady_md_step_allocates_nothing(monkeypatch, kind):
    """After the first steps (and away from list rebuilds) a step takes all its buffers from workspaces."""
    from echemmd.integrators import LangevinBAOAB, VelocityVerlet  # noqa: PLC0415

    integrator = VelocityVerlet(dt=1.0) if kind == "verlet" else LangevinBAOAB(dt=1.0, temperature=100.0,
                                                                                friction=0.01, seed=1)
    sim = _lj_run(integrator)
    sim.run(2)
    builds = sim.forcefield.neighbors.n_builds
    counts = _count_allocations(monkeypatch)
    sim.run(3)
    assert sim.forcefield.neighbors.n_builds == builds, "a rebuild happened: pick a smaller step"
    assert sum(counts.values()) == 0, dict(counts)


def test_a_list_rebuild_allocates_nothing_once_warm(monkeypatch):
    """Rebuilding the device neighbour list reuses its buffers (same cell, a list that fits its capacity)."""
    from echemmd.integrators import VelocityVerlet  # noqa: PLC0415

    sim = _lj_run(VelocityVerlet(dt=1.0))
    sim.run(1)
    nl = sim.forcefield.neighbors
    nl.build(sim.state)
    before = (nl.first.copy_to_host(), nl.neighbors.copy_to_host(), nl.reverse.copy_to_host())
    nl.closest_pair(sim.state)
    counts = _count_allocations(monkeypatch)
    nl.build(sim.state)
    nl.closest_pair(sim.state)
    assert sum(counts.values()) == 0, dict(counts)
    for a, b in zip(before, (nl.first.copy_to_host(), nl.neighbors.copy_to_host(), nl.reverse.copy_to_host())):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("precision", ["float64", "mixed"])
def test_a_steady_network_and_ewald_step_allocates_nothing(monkeypatch, precision):
    """The flagship's terms (network + switched Ewald of Gaussian charges) on workspaces too."""
    from test_cuda_mlp_md import _forcefield, _water  # noqa: PLC0415

    from echemmd.gpu.simulation import CudaSimulation  # noqa: PLC0415
    from echemmd.integrators import LangevinBAOAB  # noqa: PLC0415

    system = _water()
    sim = CudaSimulation(system, _forcefield(system), LangevinBAOAB(dt=0.5, temperature=300.0, friction=0.01, seed=2),
                         precision=precision)
    sim.run(2)
    builds = sim.forcefield.neighbors.n_builds
    counts = _count_allocations(monkeypatch)
    sim.run(2)
    assert sim.forcefield.neighbors.n_builds == builds
    assert sum(counts.values()) == 0, dict(counts)

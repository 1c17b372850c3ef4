"""Checkpoints: bit-exact, type-exact round trips; atomic replacement; clear errors."""

import json
import os

import h5py
import numpy as np
import pytest

from echemmd.errors import InputError
from echemmd.io.checkpoint import FORMAT_VERSION, Checkpoint, load_checkpoint, save_checkpoint
from echemmd.system import System


def make_system(n=9, seed=0):
    rng = np.random.default_rng(seed)
    return System(
        symbols=["Cu"] * 4 + ["O"] * 3 + ["H"] * 2,
        numbers=[29] * 4 + [8] * 3 + [1] * 2,
        masses=rng.uniform(1.0, 64.0, n),
        # Values with full 53-bit mantissas, so any float32 or text detour would show.
        positions=rng.normal(scale=7.0, size=(n, 3)),
        velocities=rng.normal(scale=1e-2, size=(n, 3)),
        charges=rng.normal(size=n),
        cell=np.array([[7.3, 0.0, 0.0], [1.1, 6.9, 0.0], [0.3, -0.4, 25.0]]) + rng.normal(scale=1e-9, size=(3, 3)),
        pbc=[True, True, False],
        tags=[0, 0, 1, 1, 2, 2, 2, 3, 3],
        frozen=[True, True, False, False, False, False, False, False, False],
        groups={"electrode": np.array([0, 1]), "water": np.arange(4, 9), "empty": np.array([], dtype=int)},
    )


def same(a, b):
    """Bit-exact and type-exact equality, recursively."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    elif isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    else:
        assert a == b


def test_system_roundtrip_bit_exact(tmp_path):
    system = make_system()
    path = tmp_path / "run.chk"
    save_checkpoint(path, system, step=12345, time=6172.5, integrator_state={})
    chk = load_checkpoint(path)
    assert isinstance(chk, Checkpoint)
    same(chk.step, 12345)
    same(chk.time, 6172.5)
    assert chk.system.symbols == system.symbols
    for name in ("numbers", "masses", "positions", "velocities", "charges", "cell", "pbc", "tags", "frozen"):
        same(getattr(chk.system, name), getattr(system, name))
    assert list(chk.system.groups) == list(system.groups)
    for name in system.groups:
        same(chk.system.groups[name], system.groups[name])
    assert chk.integrator_state == {} and chk.extra == {}


def test_state_values_roundtrip_type_and_bit_exact(tmp_path):
    rng = np.random.default_rng(42)
    rng.normal(size=3)
    data = np.random.default_rng(7)  # for the arrays, so that rng stays where the state says
    state = {
        "float": 0.1 + 0.2,
        "negzero": -0.0,
        "nan": float("nan"),
        "subnormal": 5e-324,
        "inf": float("-inf"),
        "int": -7,
        "big_int": 2**100 + 1,
        "bool": True,
        "none": None,
        "str": "ångström ✓",
        "empty_str": "",
        "rng_json": json.dumps(rng.bit_generator.state),
        "rng_state": rng.bit_generator.state,  # nested dict with 128-bit ints
        "xi": data.normal(size=3),
        "int_array": np.arange(5, dtype=np.int32),
        "bool_array": np.array([True, False]),
        "matrix_f32": data.normal(size=(2, 3)).astype(np.float32),
        "zero_d": np.array(2.5),
        "empty": np.zeros((0, 3)),
        "np_float": np.float64(1) / 3,
        "np_int": np.int64(-3),
        "list": [1, 2.0, "three", [4]],
        "tuple": (1, 0.5),
        "nested": {"b": 1, "a": {"z": np.ones(2)}},
    }
    extra = {"charges_prev": data.normal(size=9), "note": "warm start"}
    path = tmp_path / "run.chk"
    save_checkpoint(path, make_system(), step=0, time=0.0, integrator_state=state, extra=extra)
    chk = load_checkpoint(path)
    same(chk.integrator_state, state)
    same(chk.extra, extra)
    # The restored RNG continues the same stream.
    restored = np.random.default_rng()
    restored.bit_generator.state = chk.integrator_state["rng_state"]
    expected = rng.normal(size=4)
    np.testing.assert_array_equal(restored.normal(size=4), expected)
    restored.bit_generator.state = json.loads(chk.integrator_state["rng_json"])
    np.testing.assert_array_equal(restored.normal(size=4), expected)


def test_unsupported_value_leaves_old_checkpoint(tmp_path):
    path = tmp_path / "run.chk"
    system = make_system()
    save_checkpoint(path, system, step=10, time=5.0, integrator_state={"a": 1.0})
    before = path.read_bytes()
    with pytest.raises(TypeError, match="integrator_state/bad"):
        save_checkpoint(path, system, step=20, time=10.0, integrator_state={"bad": object()})
    with pytest.raises(TypeError):
        save_checkpoint(path, system, step=20, time=10.0, integrator_state={"bad": np.array(["x"], dtype=object)})
    with pytest.raises(ValueError):
        save_checkpoint(path, system, step=20, time=10.0, integrator_state={"a/b": 1})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["run.chk"]  # no temporary file left behind
    assert load_checkpoint(path).step == 10


def test_overwrite_replaces_whole_file(tmp_path):
    path = tmp_path / "run.chk"
    system = make_system()
    save_checkpoint(path, system, step=10, time=5.0, integrator_state={"old": 1})
    system.positions += 1.0
    save_checkpoint(path, system, step=20, time=10.0, integrator_state={"new": 2})
    chk = load_checkpoint(path)
    assert chk.step == 20 and chk.integrator_state == {"new": 2}
    same(chk.system.positions, system.positions)
    assert sorted(os.listdir(tmp_path)) == ["run.chk"]


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(InputError, match="missing.chk"):
        load_checkpoint(tmp_path / "missing.chk")
    text = tmp_path / "deck.toml"
    text.write_text("[run]\nsteps = 10\n")
    with pytest.raises(InputError, match="deck.toml"):
        load_checkpoint(text)
    other = tmp_path / "traj.h5"
    with h5py.File(other, "w") as f:
        f.create_group("particles")
    with pytest.raises(InputError, match="traj.h5.*not an echemmd checkpoint"):
        load_checkpoint(other)


def test_unknown_version(tmp_path):
    path = tmp_path / "run.chk"
    save_checkpoint(path, make_system(), step=1, time=0.5, integrator_state={})
    with h5py.File(path, "r+") as f:
        assert f.attrs["format_version"] == FORMAT_VERSION
        f.attrs["format_version"] = 99
    with pytest.raises(InputError, match="run.chk.*version 99"):
        load_checkpoint(path)

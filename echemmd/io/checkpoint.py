"""Checkpoints: the exact state of a run in one HDF5 file, for an exact restart.

Layout::

    /                     attrs echemmd_format="checkpoint", format_version=1,
                                echemmd_version, step (int), time (float, fs)
    system/               symbols, numbers, masses, positions, velocities,
                          charges, cell, pbc, tags, frozen (datasets)
    system/groups/<name>  index arrays
    integrator_state/     one entry per key (see below)
    extra/                the same encoding

Values of ``integrator_state`` and ``extra`` round-trip bit-exact and
type-exact. Each entry carries an attribute ``kind``:

* ``ndarray``: any numeric or bool numpy array (dtype and shape kept; 0-d too);
* ``npscalar``: a numpy scalar such as ``np.float64(1.5)`` (returned as the
  same numpy type);
* ``float``, ``int``, ``bool``, ``str``, ``none``: Python scalars (an int of
  any size: those beyond int64, e.g. a PCG64 state, are stored as decimal text);
* ``dict``, ``list``, ``tuple``: containers of the above, stored as groups
  (so ``np.random.Generator.bit_generator.state`` can be stored as it is).

Nothing is pickled. The file is written under a temporary name in the same
directory, synced, then renamed over the target with ``os.replace``, so a
crash leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from echemmd.errors import InputError
from echemmd.system import System

#: Checkpoint format written; readers accept the versions in SUPPORTED_VERSIONS.
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
_FORMAT_NAME = "checkpoint"

_I64 = np.iinfo(np.int64)
_STR = h5py.string_dtype()


@dataclass
class Checkpoint:
    """A run's state as read back from a checkpoint.

    Attributes
    ----------
    system : System
        Atoms, to full float64 precision.
    step : int
        MD step at which the checkpoint was written.
    time : float
        Simulation time, fs.
    integrator_state : dict
        As given to :func:`save_checkpoint` (``integrator.state_dict()``).
    extra : dict
        Any other state (e.g. the charge solver's last charges).
    """

    system: System
    step: int
    time: float
    integrator_state: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------- encoding
def _check_key(key, where):
    if not isinstance(key, str):
        raise TypeError(f"{where}: key {key!r} must be a str")
    if not key or "/" in key or key == ".":
        raise ValueError(f"{where}: key {key!r} cannot be an HDF5 name (empty, '.' or contains '/')")


def _put(parent, key, value, where):
    """Store ``value`` under ``parent[key]`` with a ``kind`` attribute."""
    where = f"{where}/{key}"
    # bool before int: bool is a subclass of int in Python.
    if isinstance(value, bool):
        ds = parent.create_dataset(key, data=np.bool_(value))
        kind = "bool"
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"{where}: array dtype {value.dtype} cannot be stored (numeric or bool only)")
        ds = parent.create_dataset(key, data=value)
        kind = "ndarray"
    elif isinstance(value, np.generic):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"{where}: numpy scalar of dtype {value.dtype} cannot be stored")
        ds = parent.create_dataset(key, data=value)
        kind = "npscalar"
    elif isinstance(value, int):
        if _I64.min <= value <= _I64.max:
            ds = parent.create_dataset(key, data=np.int64(value))
        else:
            ds = parent.create_dataset(key, data=str(value), dtype=_STR)
        kind = "int"
    elif isinstance(value, float):
        ds = parent.create_dataset(key, data=np.float64(value))
        kind = "float"
    elif isinstance(value, str):
        ds = parent.create_dataset(key, data=value, dtype=_STR)
        kind = "str"
    elif value is None:
        ds = parent.create_dataset(key, data=np.int8(0))
        kind = "none"
    elif isinstance(value, dict):
        ds = parent.create_group(key, track_order=True)
        _put_dict(ds, value, where)
        kind = "dict"
    elif isinstance(value, (list, tuple)):
        ds = parent.create_group(key)
        for i, item in enumerate(value):
            _put(ds, str(i), item, where)
        ds.attrs["length"] = len(value)
        kind = "tuple" if isinstance(value, tuple) else "list"
    else:
        raise TypeError(f"{where}: values of type {type(value).__name__} cannot be stored in a checkpoint "
                        "(arrays, int, float, bool, str, None, dict, list, tuple)")
    ds.attrs["kind"] = kind


def _put_dict(group, d, where):
    for key, value in d.items():
        _check_key(key, where)
        _put(group, key, value, where)


def _get(obj):
    kind = obj.attrs["kind"]
    if kind == "ndarray":
        # h5py reads a 0-d dataset as a numpy scalar; keep it an array.
        return np.asarray(obj[()])
    if kind == "npscalar":
        return obj[()]
    if kind == "int":
        if obj.dtype.kind in "OSU":
            return int(obj.asstr()[()])
        return int(obj[()])
    if kind == "float":
        return float(obj[()])
    if kind == "bool":
        return bool(obj[()])
    if kind == "str":
        return obj.asstr()[()]
    if kind == "none":
        return None
    if kind == "dict":
        return _get_dict(obj)
    if kind in ("list", "tuple"):
        items = [_get(obj[str(i)]) for i in range(int(obj.attrs["length"]))]
        return tuple(items) if kind == "tuple" else items
    raise InputError(f"{obj.file.filename}: entry {obj.name} has unknown kind {kind!r}")


def _get_dict(group):
    # Groups are created with track_order, so the dict comes back in its insertion order.
    return {key: _get(group[key]) for key in group}


# ---------------------------------------------------------------------- API
def save_checkpoint(path, system: System, *, step: int, time: float, integrator_state: dict,
                    extra: dict | None = None) -> None:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; replaced in one step when complete.
    system : System
        Stored whole (float64 arrays bit-exact).
    step : int
        MD step.
    time : float
        Simulation time, fs.
    integrator_state : dict
        ``integrator.state_dict()``: str keys; values as in the module docstring.
    extra : dict or None
        More state, same rules.

    Raises
    ------
    TypeError, ValueError
        For a value or key that cannot be stored (nothing is written then).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    # Same directory as the target, so that os.replace is an atomic rename.
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        from echemmd import __version__

        with h5py.File(tmp, "w") as f:
            f.attrs["echemmd_format"] = _FORMAT_NAME
            f.attrs["format_version"] = np.int64(FORMAT_VERSION)
            f.attrs["echemmd_version"] = __version__
            f.attrs["step"] = np.int64(step)
            f.attrs["time"] = np.float64(time)
            s = f.create_group("system")
            s.create_dataset("symbols", data=np.array(system.symbols, dtype=object), dtype=_STR)
            for name in ("numbers", "masses", "positions", "velocities", "charges", "cell", "pbc", "tags",
                         "frozen"):
                s.create_dataset(name, data=getattr(system, name))
            g = s.create_group("groups", track_order=True)
            for name, idx in system.groups.items():
                _check_key(name, "system.groups")
                g.create_dataset(name, data=np.asarray(idx, dtype=np.int64))
            _put_dict(f.create_group("integrator_state", track_order=True), dict(integrator_state or {}),
                      "integrator_state")
            _put_dict(f.create_group("extra", track_order=True), dict(extra or {}), "extra")
        # The data must be on disk before the rename makes it the checkpoint.
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        # Make the rename itself durable; not every platform lets a directory be opened.
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Checkpoint

    Raises
    ------
    InputError
        When the file is missing, not HDF5, not an echemmd checkpoint, or of
        a format version this echemmd cannot read.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: checkpoint file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a checkpoint (not an HDF5 file: {exc})") from None
    with f:
        fmt = f.attrs.get("echemmd_format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != _FORMAT_NAME:
            raise InputError(f"{path}: not an echemmd checkpoint (attribute echemmd_format is {fmt!r})")
        version = f.attrs.get("format_version")
        version = None if version is None else int(version)
        if version not in SUPPORTED_VERSIONS:
            raise InputError(f"{path}: checkpoint format version {version} is unknown to this echemmd "
                             f"(it reads versions {list(SUPPORTED_VERSIONS)})")
        try:
            s = f["system"]
            system = System(
                symbols=list(s["symbols"].asstr()[()]),
                numbers=s["numbers"][()],
                masses=s["masses"][()],
                positions=s["positions"][()],
                velocities=s["velocities"][()],
                charges=s["charges"][()],
                cell=s["cell"][()],
                pbc=s["pbc"][()],
                tags=s["tags"][()],
                frozen=s["frozen"][()],
                groups={name: s["groups"][name][()] for name in s["groups"]},
            )
            return Checkpoint(
                system=system,
                step=int(f.attrs["step"]),
                time=float(f.attrs["time"]),
                integrator_state=_get_dict(f["integrator_state"]),
                extra=_get_dict(f["extra"]),
            )
        except KeyError as exc:
            raise InputError(f"{path}: damaged checkpoint, missing {exc}") from None

"""H5MD 1.1 trajectories: writer and reader (h5py).

Layout written (H5MD 1.1, https://www.nongnu.org/h5md/h5md.html)::

    h5md/                     attrs version=[1, 1]
        author/               attrs name
        creator/              attrs name="echemmd", version
    particles/all/
        position/{step,time,value}   value (F, N, 3) Å, wrapped into the cell
        image/{step,time,value}      value (F, N, 3) int, unwrapped = position + image @ cell
        velocity/{step,time,value}   value (F, N, 3) Å/fs
        force/{step,time,value}      value (F, N, 3) kJ mol-1 Å-1 (NaN when not given)
        charge/{step,time,value}     value (F, N) e
        species                      (N,) atomic numbers (time-independent)
        mass                         (N,) amu (time-independent)
        box/                         attrs dimension=3, boundary=["periodic"|"none"] * 3
            edges/{step,time,value}  value (F, 3) for a diagonal cell, else (F, 3, 3) rows
    observables/<name>/{step,time,value}   scalars, one row per frame (NaN if missing)
    parameters/deck                  the input deck text, if given

``step`` datasets are int64, ``time`` float64 in fs (attribute ``unit="fs"``);
every element's ``step`` and ``time`` are hard links to one pair of datasets
(H5MD allows it), since all are sampled at the same frames.
Every time-dependent element gets exactly one row per frame: MDAnalysis indexes
all of them (observables included) by the frame number.

MDAnalysis 2.11 compatibility (checked by tests/test_h5md.py): its reader refuses
a file whose position, velocity, force or time ``unit`` is outside its table, so
forces are stored in ``kJ mol-1 Angstrom-1`` and converted back on read. It does
not read ``charge``, ``species``, ``mass`` or ``image``, so their units are free
(``e`` and ``u``). It reads ``box/edges`` as a vector (cuboid) or as a 3x3 matrix
of row vectors (triclinic) and reports lengths and angles; from those it rebuilds
box vectors in its own orientation (a along x, b in the xy plane), so its
periodic distances are right only for cells in that form (lower-triangular
rows, as LAMMPS also requires). Positions are stored in the simulation's frame,
never rotated. Its topology-free
``Universe(path)`` looks for ``particles/trajectory`` only and recognises the
``.h5md`` extension, hence the default group name ``trajectory`` and file name
``trajectory.h5md``; for other names use
``mda.Universe.empty(n_atoms).load_new(path, format="H5MD")``.

Crash safety: the file is flushed every ``flush_every`` frames; a run killed
between flushes loses at most the frames written since the last flush. The file
is opened without HDF5 file locking so that other programs (h5py, MDAnalysis)
can read a trajectory while the run is still writing it; as a consequence two
runs writing one file are not prevented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from echemmd import units
from echemmd.errors import InputError

#: H5MD version written.
H5MD_VERSION = (1, 1)
#: Unit strings (H5MD notation) written to the file.
LENGTH_UNIT = "Angstrom"
VELOCITY_UNIT = "Angstrom fs-1"
TIME_UNIT = "fs"
FORCE_UNIT = "kJ mol-1 Angstrom-1"
CHARGE_UNIT = "e"
MASS_UNIT = "u"

# Stored units per echemmd unit, per H5MD unit string: internal = stored / factor.
# Dividing by the factor the writer multiplied with gives back the eV/Å forces to
# within one rounding.
_PER_INTERNAL = {
    "length": {"Angstrom": 1.0, "angstrom": 1.0, "A": 1.0},
    "time": {"fs": 1.0, "ps": 1.0 / units.FS_PER_PS},
    "velocity": {"Angstrom fs-1": 1.0, "A fs-1": 1.0, "Angstrom ps-1": units.FS_PER_PS, "A ps-1": units.FS_PER_PS},
    "force": {"kJ mol-1 Angstrom-1": units.EV_PER_A_TO_KJ_PER_MOL_A, "eV Angstrom-1": 1.0, "eV A-1": 1.0},
}

_SCALAR_CHUNK = 1024  # frames per chunk of step/time/observables: small metadata, few chunks


def _factor(kind, ds, path):
    """Stored units per echemmd unit for the ``unit`` attribute of ``ds`` (1 if it has none)."""
    unit = ds.attrs.get("unit")
    if unit is None:
        return 1.0
    if isinstance(unit, bytes):
        unit = unit.decode()
    try:
        return _PER_INTERNAL[kind][str(unit)]
    except KeyError:
        raise InputError(f"{path}: {ds.name} has unit {unit!r}; known {kind} units: "
                         f"{sorted(_PER_INTERNAL[kind])}") from None


def _is_diagonal(cell):
    return bool(np.all(cell == np.diag(np.diag(cell))))


def _create_element(parent, name, tail, dtype, unit=None, compression=None, clock=None):
    """A time-dependent H5MD element: step, time and a resizable value dataset.

    ``clock`` is an existing element whose ``step`` and ``time`` datasets are
    hard-linked here (H5MD allows it): every element of echemmd's files is
    sampled at the same frames, so one pair of datasets serves all of them.
    """
    g = parent.create_group(name)
    if clock is None:
        g.create_dataset("step", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(_SCALAR_CHUNK,))
        t = g.create_dataset("time", shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(_SCALAR_CHUNK,))
        t.attrs["unit"] = TIME_UNIT
    else:
        g["step"] = clock["step"]
        g["time"] = clock["time"]
    # One frame per chunk for per-atom data: a frame is written and read whole.
    chunks = (1,) + tail if tail else (_SCALAR_CHUNK,)
    v = g.create_dataset("value", shape=(0,) + tail, maxshape=(None,) + tail, dtype=dtype,
                         chunks=chunks, compression=compression if tail else None)
    if unit:
        v.attrs["unit"] = unit
    return g


def _time_series(f):
    """Every group of the file that holds step and value datasets (an H5MD time series)."""
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and isinstance(obj.get("step"), h5py.Dataset) \
                and isinstance(obj.get("value"), h5py.Dataset):
            found.append(obj)

    f.visititems(visit)
    return found


def _unique(datasets):
    """Datasets without repeats (hard links to one dataset count once)."""
    seen = {}
    for ds in datasets:
        seen.setdefault(ds.id, ds)
    return list(seen.values())


class H5MDWriter:
    """Write frames of a run to an H5MD 1.1 file.

    Parameters
    ----------
    path : str or os.PathLike
        Output file. Overwritten unless ``append``.
    system : echemmd.system.System
        Fixes the number of atoms, species, masses, periodicity and whether
        the box is stored as a vector (diagonal cell) or a 3x3 matrix.
    append : bool
        Continue an existing file (restart). A missing file is created.
    restart_step : int or None
        With ``append``: frames with step greater than this are removed first
        (a run that crashed after its last checkpoint wrote them).
    author : str
        ``h5md/author`` name.
    flush_every : int
        Flush the file every this many frames (0: only on close).
    deck_text : str or None
        Input deck, stored in ``parameters/deck``.
    group : str
        Name of the particle group (``particles/<group>``). MDAnalysis builds a
        Universe without a topology only for ``"trajectory"``.
    compression : str or None
        h5py compression filter for per-atom data (e.g. ``"gzip"``); None is fastest.

    Raises
    ------
    InputError
        When appending to a file that is not an H5MD file with this group,
        holds another number of atoms, or stores a cuboid box while the
        system's cell is triclinic.
    """

    _PARTICLE_ELEMENTS = ("position", "image", "velocity", "force", "charge", "box/edges")

    def __init__(self, path, system, *, append=False, restart_step=None, author="echemmd", flush_every=1,
                 deck_text=None, group="trajectory", compression=None):
        self.path = os.fspath(path)
        self.flush_every = int(flush_every or 0)
        self.n_atoms = system.n_atoms
        self.group_name = group
        self._since_flush = 0
        self._file = None
        if append and os.path.exists(self.path):
            # locking=False: readers may watch the file while the run writes it.
            self._file = h5py.File(self.path, "r+", locking=False)
            self._open_existing(system, restart_step, deck_text)
        else:
            self._file = h5py.File(self.path, "w", locking=False)
            self._create(system, author, deck_text, compression)
        self._bind()
        self._file.flush()

    # ------------------------------------------------------------------ layout
    def _create(self, system, author, deck_text, compression):
        from echemmd import __version__

        f = self._file
        h5 = f.create_group("h5md")
        h5.attrs["version"] = np.array(H5MD_VERSION, dtype=np.int32)
        h5.create_group("author").attrs["name"] = author
        creator = h5.create_group("creator")
        creator.attrs["name"] = "echemmd"
        creator.attrs["version"] = __version__

        n = self.n_atoms
        p = f.create_group("particles").create_group(self.group_name)
        clock = _create_element(p, "position", (n, 3), np.float64, LENGTH_UNIT, compression)
        _create_element(p, "image", (n, 3), np.int32, None, compression, clock)
        _create_element(p, "velocity", (n, 3), np.float64, VELOCITY_UNIT, compression, clock)
        _create_element(p, "force", (n, 3), np.float64, FORCE_UNIT, compression, clock)
        _create_element(p, "charge", (n,), np.float64, CHARGE_UNIT, compression, clock)
        p.create_dataset("species", data=np.asarray(system.numbers, dtype=np.int32))
        p.create_dataset("mass", data=np.asarray(system.masses, dtype=np.float64)).attrs["unit"] = MASS_UNIT

        box = p.create_group("box")
        box.attrs["dimension"] = np.int32(3)
        box.attrs["boundary"] = np.array(["periodic" if b else "none" for b in system.pbc],
                                         dtype=h5py.string_dtype())
        # The H5MD idiom: a vector for a cuboid box, a matrix of rows otherwise.
        tail = (3,) if _is_diagonal(system.cell) else (3, 3)
        _create_element(box, "edges", tail, np.float64, LENGTH_UNIT, clock=clock)

        f.create_group("observables")
        if deck_text is not None:
            f.create_group("parameters").create_dataset("deck", data=deck_text, dtype=h5py.string_dtype())

    def _open_existing(self, system, restart_step, deck_text):
        f = self._file
        problem = None
        try:
            p = f["particles"][self.group_name]
            n_file = p["position/value"].shape[1]
            cuboid = p["box/edges/value"].ndim == 2
            for name in self._PARTICLE_ELEMENTS:
                p[name]["value"]
        except KeyError:
            problem = (f"not an H5MD file with particles/{self.group_name}/"
                       f"{{{', '.join(self._PARTICLE_ELEMENTS)}}}")
        else:
            if n_file != self.n_atoms:
                problem = f"the file has {n_file} atoms and the system {self.n_atoms}"
            elif cuboid and not _is_diagonal(system.cell):
                problem = "the system's cell is triclinic and the file stores cuboid box edges"
        if problem is not None:
            self._file.close()
            self._file = None
            raise InputError(f"{self.path}: cannot append, {problem}")
        if restart_step is not None:
            self.truncate(restart_step)
        if deck_text is not None:
            params = f.require_group("parameters")
            if "deck" not in params:
                params.create_dataset("deck", data=deck_text, dtype=h5py.string_dtype())
            elif params["deck"].asstr()[()] != deck_text:
                # Keep the history of a run continued with a changed deck.
                name = f"deck_restart_{len([k for k in params if k.startswith('deck')])}"
                params.create_dataset(name, data=deck_text, dtype=h5py.string_dtype())

    def _bind(self):
        """Keep handles to the datasets written every frame: h5py path lookups are slow."""
        f = self._file
        p = f["particles"][self.group_name]
        self._clock = p["position"]
        self._values = {name: p[name]["value"] for name in self._PARTICLE_ELEMENTS}
        self._cuboid = self._values["box/edges"].ndim == 2
        obs = f.require_group("observables")
        self._obs = {name: obs[name]["value"] for name in obs
                     if isinstance(obs[name], h5py.Group) and "value" in obs[name]}
        groups = [p[name] for name in self._PARTICLE_ELEMENTS] + [obs[name] for name in self._obs]
        # Files from elsewhere may not share step/time datasets: keep every distinct one in step.
        self._steps = _unique([g["step"] for g in groups])
        self._times = _unique([g["time"] for g in groups if "time" in g])
        self._n = int(self._clock["step"].shape[0])
        self._last = int(self._clock["step"][self._n - 1]) if self._n else None

    def truncate(self, step: int) -> int:
        """Remove every frame with step greater than ``step``; returns the frames kept."""
        series = _time_series(self._file)
        n_keep = {g.name: int(np.searchsorted(g["step"][()], step, side="right")) for g in series}
        for g in series:
            k = n_keep[g.name]
            for name in ("step", "time", "value"):
                if name in g and g[name].shape[0] > k:
                    g[name].resize(k, axis=0)
        self._file.flush()
        if hasattr(self, "_clock"):
            self._bind()
        return n_keep.get(f"/particles/{self.group_name}/position", 0)

    # ------------------------------------------------------------------ frames
    @property
    def n_frames(self) -> int:
        """Frames in the file."""
        return self._n

    @property
    def last_step(self) -> int | None:
        """Step of the last frame, None if there is none."""
        return self._last

    def write(self, step: int, time: float, system, result=None, observables=None) -> bool:
        """Append one frame.

        Parameters
        ----------
        step : int
            MD step.
        time : float
            Simulation time, fs.
        system : echemmd.system.System
            Positions (unwrapped, Å; written wrapped with image flags),
            velocities (Å/fs), charges (e), cell (Å).
        result : echemmd.forcefield.Contribution or None
            Forces in eV/Å (written in kJ mol-1 Å-1); None writes NaN forces.
        observables : dict of str to float or None
            Scalars for ``observables/<name>`` (keys ``step`` and ``time`` are
            skipped: the frame records them). An observable first seen now is
            back-filled with NaN; one missing now gets NaN.

        Returns
        -------
        bool
            False when ``step`` equals the last step in the file (the first
            frame after a restart repeats the checkpoint's frame) and nothing
            was written.

        Raises
        ------
        ValueError
            When ``step`` is before the last frame's step, the atom count
            differs, or a file with a cuboid box gets a triclinic cell.
        """
        if self._file is None:
            raise ValueError(f"{self.path}: writer is closed")
        step = int(step)
        if self._last is not None:
            if step == self._last:
                return False
            if step < self._last:
                raise ValueError(f"{self.path}: frame for step {step} after step {self._last}")
        if system.n_atoms != self.n_atoms:
            raise ValueError(f"{self.path}: system has {system.n_atoms} atoms, file {self.n_atoms}")
        if self._cuboid and not _is_diagonal(system.cell):
            raise ValueError(f"{self.path}: the cell became triclinic but the box is stored as a cuboid")
        observables = {k: float(v) for k, v in (observables or {}).items() if k not in ("step", "time")}
        for name in observables:
            if "/" in name:
                raise ValueError(f"observable name {name!r} must not contain '/'")

        images = system.image_flags()
        rows = {
            "position": system.positions - images @ system.cell,
            "image": images,
            "velocity": system.velocities,
            "force": (np.full((self.n_atoms, 3), np.nan) if result is None
                      else np.asarray(result.forces, dtype=np.float64) * units.EV_PER_A_TO_KJ_PER_MOL_A),
            "charge": system.charges,
            "box/edges": np.diag(system.cell) if self._cuboid else system.cell,
        }
        for name in observables:
            if name not in self._obs:
                self._add_observable(name)

        n = self._n
        for ds in self._steps:
            ds.resize(n + 1, axis=0)
            ds[n] = step
        for ds in self._times:
            ds.resize(n + 1, axis=0)
            ds[n] = float(time)
        for name, ds in self._values.items():
            ds.resize(n + 1, axis=0)
            ds[n] = rows[name]
        for name, ds in self._obs.items():
            ds.resize(n + 1, axis=0)
            ds[n] = observables.get(name, np.nan)
        self._n = n + 1
        self._last = step

        self._since_flush += 1
        if self.flush_every and self._since_flush >= self.flush_every:
            self.flush()
        return True

    def _add_observable(self, name):
        from echemmd.io.thermo import quantity

        obs = self._file["observables"]
        unit = quantity(name).h5md_unit
        g = _create_element(obs, name, (), np.float64, unit or None, clock=self._clock)
        # Back-filled so that the series stays aligned with the frames.
        g["value"].resize(self._n, axis=0)
        g["value"][:] = np.nan
        self._obs[name] = g["value"]

    def flush(self) -> None:
        """Write everything buffered to disk."""
        if self._file is not None:
            self._file.flush()
            self._since_flush = 0

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------------- reading
@dataclass
class H5MDFrame:
    """One frame of an H5MD file, in echemmd units.

    Attributes
    ----------
    index : int
        Frame number in the file.
    step : int
    time : float
        fs.
    positions : ndarray, (N, 3)
        Å, as stored (wrapped for files echemmd wrote).
    images : ndarray of int, (N, 3) or None
    velocities : ndarray, (N, 3) or None
        Å/fs.
    forces : ndarray, (N, 3) or None
        eV/Å.
    charges : ndarray, (N,) or None
        e.
    cell : ndarray, (3, 3) or None
        Rows, Å.
    pbc : ndarray of bool, (3,)
    species : ndarray of int, (N,) or None
        Atomic numbers.
    observables : dict of str to float
    """

    index: int
    step: int
    time: float
    positions: np.ndarray
    images: np.ndarray | None
    velocities: np.ndarray | None
    forces: np.ndarray | None
    charges: np.ndarray | None
    cell: np.ndarray | None
    pbc: np.ndarray
    species: np.ndarray | None
    observables: dict = field(default_factory=dict)

    def unwrapped_positions(self) -> np.ndarray:
        """positions + images @ cell, Å."""
        if self.images is None or self.cell is None:
            return self.positions.copy()
        return self.positions + self.images @ self.cell


class _Source:
    """Datasets and unit factors of one open H5MD file."""

    def __init__(self, f, path, group=None):
        self.path = path
        if "particles" not in f or len(f["particles"]) == 0:
            raise InputError(f"{path}: not an H5MD trajectory (no particles group)")
        name = group if group is not None else list(f["particles"])[0]
        p = f["particles"][name]
        self.p = p
        if "position" not in p:
            raise InputError(f"{path}: particles/{name} has no position")
        self.n_frames = p["position/value"].shape[0]
        self.length = _factor("length", p["position/value"], path)
        self.time = _factor("time", p["position/time"], path) if "time" in p["position"] else 1.0
        self.vel = _factor("velocity", p["velocity/value"], path) if "velocity" in p else None
        self.force = _factor("force", p["force/value"], path) if "force" in p else None
        if "box" in p:
            boundary = p["box"].attrs.get("boundary", ["periodic"] * 3)
            self.pbc = np.array([(b.decode() if isinstance(b, bytes) else str(b)) == "periodic"
                                 for b in boundary], dtype=bool)
            self.edges = p["box/edges"] if "edges" in p["box"] else None
        else:
            self.pbc = np.zeros(3, dtype=bool)
            self.edges = None
        self.species = p["species"][()].astype(np.int64) if "species" in p else None
        obs = f["observables"] if "observables" in f else {}
        self.obs = {k: obs[k]["value"] for k in obs
                    if isinstance(obs[k], h5py.Group) and "value" in obs[k]}

    def _cells(self, sel):
        e = self.edges
        fixed = isinstance(e, h5py.Dataset)  # a time-independent box is a plain dataset
        v = np.asarray(e[()] if fixed else e["value"][sel], dtype=np.float64) / self.length
        vector = (e.shape if fixed else e["value"].shape[1:]) == (3,)
        if fixed and isinstance(sel, slice):
            v = np.broadcast_to(v, (len(range(*sel.indices(self.n_frames))),) + v.shape)
        if vector:
            # A cuboid box: the edge lengths on the diagonal.
            return v[..., :, None] * np.eye(3)
        return np.array(v)

    def read(self, sel):
        p = self.p
        out = {
            "step": p["position/step"][sel].astype(np.int64),
            "time": (p["position/time"][sel] / self.time) if "time" in p["position"] else None,
            "positions": p["position/value"][sel].astype(np.float64) / self.length,
            "images": p["image/value"][sel].astype(np.int64) if "image" in p else None,
            "velocities": p["velocity/value"][sel].astype(np.float64) / self.vel if self.vel is not None else None,
            "forces": p["force/value"][sel].astype(np.float64) / self.force if self.force is not None else None,
            "charges": p["charge/value"][sel].astype(np.float64) if "charge" in p else None,
            "cell": self._cells(sel) if self.edges is not None else None,
            "observables": {k: ds[sel] for k, ds in self.obs.items()},
        }
        return out


def _open(path):
    """Open for reading, whatever locking the other open handles of this process use."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    # locking=False first: our writer holds no lock, so a run's trajectory can be
    # read while it is written. HDF5 refuses a second handle in one process whose
    # locking flags differ from the first (e.g. an MDAnalysis Universe still
    # open), so fall back to the other settings.
    error = None
    for locking in (False, None, "best-effort"):
        try:
            return h5py.File(path, "r") if locking is None else h5py.File(path, "r", locking=locking)
        except OSError as exc:
            error = exc
            if "lock" not in str(exc):
                break
    raise InputError(f"{path}: cannot be read as HDF5 ({error})")


def read_h5md(path, group=None) -> dict:
    """Read a whole H5MD trajectory into memory, in echemmd units.

    Parameters
    ----------
    path : str or os.PathLike
    group : str or None
        Particle group; default the first one in ``particles``.

    Returns
    -------
    dict
        ``step`` (F,) int; ``time`` (F,) fs; ``positions`` (F, N, 3) Å as stored
        (wrapped); ``images`` (F, N, 3) int; ``velocities`` (F, N, 3) Å/fs;
        ``forces`` (F, N, 3) eV/Å; ``charges`` (F, N) e; ``cell`` (F, 3, 3) Å;
        ``pbc`` (3,) bool; ``species`` (N,) atomic numbers; ``masses`` (N,) amu;
        ``observables`` dict name -> (F,); ``deck`` str or None. Missing
        elements are None.
    """
    with _open(path) as f:
        src = _Source(f, os.fspath(path), group)
        out = src.read(slice(None))
        out["pbc"] = src.pbc
        out["species"] = src.species
        out["masses"] = src.p["mass"][()].astype(np.float64) if "mass" in src.p else None
        out["deck"] = f["parameters/deck"].asstr()[()] if "parameters/deck" in f else None
    return out


def iter_h5md_frames(path, group=None, start=0, stop=None, stride=1):
    """Yield the frames of an H5MD trajectory one at a time (the file stays open meanwhile).

    Parameters
    ----------
    path : str or os.PathLike
    group : str or None
        Particle group; default the first one in ``particles``.
    start, stop, stride : int
        Frames ``range(start, stop, stride)``; ``stop`` None means all.

    Yields
    ------
    H5MDFrame
    """
    with _open(path) as f:
        src = _Source(f, os.fspath(path), group)
        for i in range(*slice(start, stop, stride).indices(src.n_frames)):
            d = src.read(i)
            yield H5MDFrame(
                index=i,
                step=int(d["step"]),
                time=float(d["time"]) if d["time"] is not None else float("nan"),
                positions=d["positions"],
                images=d["images"],
                velocities=d["velocities"],
                forces=d["forces"],
                charges=d["charges"],
                cell=d["cell"],
                pbc=src.pbc.copy(),
                species=src.species,
                observables={k: float(v) for k, v in d["observables"].items()},
            )

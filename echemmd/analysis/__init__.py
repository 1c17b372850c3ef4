"""Analysis of echemmd trajectories (H5MD) and thermo files (CSV).

Every analysis reads the trajectory frame by frame (:func:`echemmd.io.h5md.iter_h5md_frames`),
so a trajectory larger than memory can be analysed; what it keeps is a histogram, a profile
or, for time correlations, a window of ``max_lag`` frames. Each result object has a
``save(directory)`` method that writes a CSV (header ``<label>_<unit>``, as the thermo CSV)
and a PNG (matplotlib's Agg canvas, no display needed, labelled axes with units).

Modules
-------
profiles
    Number-density profiles per species and the charge-density profile along z
    (Gaussian charges integrated exactly over each slab), atom selections.
electrostatics
    Potential profile from Poisson's equation, potential drops, electrode charges,
    differential and integral capacitance.
structure
    Radial distribution functions (bulk and slab normalisation), coordination numbers,
    water orientation.
dynamics
    Mean-squared displacement, diffusion coefficient, velocity autocorrelation.
thermo
    Thermo CSV: columns, energy drift per atom per ns, block averages.
blocks
    Block averages, the Flyvbjerg-Petersen blocking curve, linear fits with errors.
cli
    ``echemmd analyze`` (also ``python -m echemmd.analysis.cli``).

The public names below are imported lazily so that ``import echemmd.analysis`` stays cheap.

Example
-------
>>> from echemmd.analysis import potential_profile, electrode_potential_drops
>>> prof = potential_profile("out/capacitor/trajectory.h5md", sigma={"Au": 0.357})
>>> prof.save("out/capacitor/analysis")                      # potential.csv, potential.png
>>> electrode_potential_drops(prof, {"bottom": (10.0, 14.7), "top": (38.7, 43.4)})["between"]
(1.0001, 0.0004)                                              # V: the applied voltage
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from echemmd import units
from echemmd.errors import InputError

_LAZY = {
    # blocks
    "BlockAverage": "blocks", "block_average": "blocks", "block_error_curve": "blocks",
    "LinearFit": "blocks", "linear_fit": "blocks",
    # profiles
    "DensityProfile": "profiles", "density_profiles": "profiles", "z_edges": "profiles",
    "binned_charge": "profiles", "resolve_sigma": "profiles", "select_atoms": "profiles",
    # electrostatics
    "PotentialProfile": "electrostatics", "potential_from_charge_density": "electrostatics",
    "potential_profile": "electrostatics", "region_average": "electrostatics",
    "potential_drop": "electrostatics", "cell_potential_drop": "electrostatics",
    "electrode_potential_drops": "electrostatics", "ChargeSeries": "electrostatics",
    "electrode_charges": "electrostatics", "Capacitance": "electrostatics",
    "differential_capacitance": "electrostatics", "IntegralCapacitance": "electrostatics",
    "integral_capacitance": "electrostatics", "deck_settings": "electrostatics",
    # structure
    "RDF": "structure", "rdf": "structure", "coordination_number": "structure",
    "OrientationProfile": "structure", "water_orientation": "structure",
    # dynamics
    "MSD": "dynamics", "msd": "dynamics", "Diffusion": "dynamics",
    "diffusion_coefficient": "dynamics", "VACF": "dynamics", "vacf": "dynamics",
    # thermo
    "ThermoData": "thermo", "read_thermo": "thermo", "EnergyDrift": "thermo",
    "energy_drift": "thermo", "thermo_block_averages": "thermo",
}

__all__ = sorted(_LAZY) + ["TrajectoryInfo", "trajectory_info", "write_csv"]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'echemmd.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"echemmd.analysis.{module}"), name)


# ---------------------------------------------------------------------- shared helpers
class TrajectoryInfo:
    """What an analysis needs to know about a trajectory before reading its frames.

    Attributes
    ----------
    path : str
    n_frames : int
    times : ndarray, (F,)
        fs.
    numbers : ndarray of int, (N,)
        Atomic numbers.
    symbols : list of str, (N,)
    cell : ndarray, (3, 3)
        First frame's cell, rows, Å.
    pbc : ndarray of bool, (3,)
    has_charges, has_velocities, has_images : bool
    observables : list of str
        Names under ``observables/``.
    deck : str or None
        The input deck stored in ``parameters/deck``.
    """

    def __init__(self, path, group=None):
        from ase.data import chemical_symbols

        from echemmd.io.h5md import iter_h5md_frames

        self.path = os.fspath(path)
        try:
            first = next(iter_h5md_frames(self.path, group=group, stop=1), None)
        except KeyError:
            raise InputError(f"{self.path}: no particle group {group!r} (see --group)") from None
        if first is None:
            raise InputError(f"{self.path}: the trajectory has no frames")
        if first.species is None:
            raise InputError(f"{self.path}: particles have no species; analyses need atomic numbers")
        if first.cell is None:
            raise InputError(f"{self.path}: particles have no box; analyses need the cell")
        self.numbers = np.asarray(first.species, dtype=np.int64)
        self.symbols = [chemical_symbols[z] for z in self.numbers]
        self.cell = first.cell
        self.pbc = first.pbc
        self.first_positions = first.positions
        self.has_charges = first.charges is not None
        self.has_velocities = first.velocities is not None
        self.has_images = first.images is not None
        self.first_charges = first.charges
        import h5py

        # Only scalar datasets are read here: times and observables are a few numbers per frame.
        with h5py.File(self.path, "r", locking=False) as f:
            p = f["particles"][group if group is not None else list(f["particles"])[0]]
            self.group = p.name.rsplit("/", 1)[-1]
            pos = p["position"]
            self.n_frames = int(pos["value"].shape[0])
            if "time" in pos:
                t = pos["time"][()].astype(np.float64)
                unit = pos["time"].attrs.get("unit", "fs")
                unit = unit.decode() if isinstance(unit, bytes) else str(unit)
                self.times = t * units.FS_PER_PS if unit == "ps" else t
            else:
                self.times = np.arange(self.n_frames, dtype=np.float64)
            obs = f.get("observables")
            self.observables = sorted(k for k in obs if "value" in obs[k]) if obs is not None else []
            self.deck = f["parameters/deck"].asstr()[()] if "parameters/deck" in f else None

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def species(self) -> list:
        """Unique symbols, sorted by atomic number."""
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in np.unique(self.numbers)]

    @property
    def is_slab(self) -> bool:
        return bool(self.pbc[0] and self.pbc[1] and not self.pbc[2])

    def observable(self, name):
        """Values of ``observables/<name>`` (F,), read directly (no per-atom data)."""
        import h5py

        with h5py.File(self.path, "r", locking=False) as f:
            if f"observables/{name}/value" not in f:
                raise InputError(f"{self.path}: no observable {name!r}; the file has {self.observables}")
            return f[f"observables/{name}/value"][()].astype(np.float64)

    def frame_at_time(self, time_fs) -> int:
        """Index of the first frame at or after ``time_fs``."""
        return int(np.searchsorted(self.times, float(time_fs) - 1e-9, side="left"))


def trajectory_info(path, group=None) -> TrajectoryInfo:
    """Metadata of an H5MD trajectory (see :class:`TrajectoryInfo`)."""
    return TrajectoryInfo(path, group)


def n_selected(n_frames, start=0, stop=None, stride=1) -> int:
    """Number of frames in ``range(start, stop, stride)`` of ``n_frames``."""
    return len(range(*slice(start, stop, stride).indices(n_frames)))


def write_csv(path, columns: dict) -> str:
    """Write equally long columns to CSV.

    Parameters
    ----------
    path : str or os.PathLike
    columns : dict of str to array_like
        Header -> values; headers follow ``<label>_<unit>`` (e.g. ``z_A``, ``phi_V``).

    Returns
    -------
    str
        The path written.
    """
    path = os.fspath(path)
    names = list(columns)
    data = [np.asarray(columns[k]) for k in names]
    n = len(data[0]) if data else 0
    for k, d in zip(names, data):
        if len(d) != n:
            raise ValueError(f"column {k} has {len(d)} rows, expected {n}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(names) + "\n")
        for i in range(n):
            cells = []
            for d in data:
                v = d[i]
                if isinstance(v, (str, np.str_)):
                    cells.append(str(v))
                elif np.issubdtype(type(v), np.integer):
                    cells.append(str(int(v)))
                else:
                    # repr round-trips the float: the CSV is data, not a picture.
                    cells.append(repr(float(v)))
            f.write(",".join(cells) + "\n")
    return path


def new_figure(nrows=1, ncols=1, size=(6.4, 4.0)):
    """A matplotlib Figure on the Agg canvas (no pyplot, so no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save_figure(fig, path) -> str:
    """Save ``fig`` as PNG at ``path``; returns the path."""
    path = os.fspath(path)
    fig.savefig(path, dpi=120)
    return path

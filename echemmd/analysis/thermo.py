"""Thermo CSV analysis: columns with units, energy drift, block averages.

The thermo CSV (:mod:`echemmd.io.thermo`) has one header ``<label>_<unit>`` per column,
e.g. ``step,time_fs,temperature_K,potential_eV,kinetic_eV,conserved_eV``. Columns are
looked up by that header, by the label (``conserved``) or by the observable's name
(``conserved_energy``).

Energy drift: the slope of a straight line fitted to the conserved energy against time,
divided by the number of atoms, in eV/atom/ns. Its error is the least-squares standard
error of the slope, which assumes uncorrelated residuals: fluctuations of the conserved
energy are short-lived next to a run, but treat the error as a lower bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from echemmd import units
from echemmd.analysis import new_figure, save_figure, write_csv
from echemmd.analysis.blocks import block_average, linear_fit
from echemmd.errors import InputError

#: Unit suffixes that echemmd's thermo headers use (see echemmd.io.thermo).
KNOWN_UNITS = ("fs", "K", "eV", "A", "A2", "A3", "GPa", "e", "V", "V/A")
_NOT_AVERAGED = ("step", "time")


@dataclass
class ThermoData:
    """Columns of a thermo CSV.

    Attributes
    ----------
    path : str
    headers : list of str
        As in the file.
    labels, units : dict of str to str
        Header -> label and unit ("" when none).
    values : dict of str to ndarray
        Header -> column (float; NaN where a cell was not a number).
    """

    path: str
    headers: list
    labels: dict
    units: dict
    values: dict

    def __len__(self):
        return len(next(iter(self.values.values()))) if self.values else 0

    def header_of(self, name) -> str:
        """The header of a column given by header, label or observable name."""
        from echemmd.io.thermo import quantity

        if name in self.values:
            return name
        for h, lab in self.labels.items():
            if lab == name:
                return h
        try:
            h = quantity(name).header
        except Exception:  # a malformed name is just not found
            h = None
        if h in self.values:
            return h
        raise InputError(f"{self.path}: no thermo column {name!r}; the columns are {self.headers}")

    def column(self, name) -> np.ndarray:
        """Values of a column given by header, label or observable name."""
        return self.values[self.header_of(name)]

    def has(self, name) -> bool:
        try:
            self.header_of(name)
            return True
        except InputError:
            return False

    @property
    def time(self) -> np.ndarray:
        """fs (from ``time_fs``, else ``time_ps``)."""
        if "time_fs" in self.values:
            return self.values["time_fs"]
        if "time_ps" in self.values:
            return self.values["time_ps"] * units.FS_PER_PS
        raise InputError(f"{self.path}: no time column (time_fs); the columns are {self.headers}")


def split_header(header):
    """``"temperature_K"`` -> ``("temperature", "K")``; a header without a known unit -> ``(header, "")``."""
    if "_" in header:
        label, unit = header.rsplit("_", 1)
        if unit in KNOWN_UNITS:
            return label, unit
    return header, ""


def read_thermo(path) -> ThermoData:
    """Read a thermo CSV.

    Rows with a wrong number of fields (a run killed mid-line) are skipped.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ThermoData
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such thermo file")
    with open(path, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    if not lines:
        raise InputError(f"{path}: empty thermo file")
    headers = lines[0].split(",")
    rows = []
    for ln in lines[1:]:
        fields = ln.split(",")
        if len(fields) != len(headers):
            continue
        row = []
        for x in fields:
            try:
                row.append(float(x))
            except ValueError:
                row.append(np.nan)
        rows.append(row)
    if not rows:
        raise InputError(f"{path}: the thermo file has a header but no complete row")
    data = np.array(rows, dtype=np.float64)
    labels, unit = {}, {}
    for h in headers:
        labels[h], unit[h] = split_header(h)
    return ThermoData(path, headers, labels, unit, {h: data[:, i] for i, h in enumerate(headers)})


@dataclass
class EnergyDrift:
    """Linear drift of an energy.

    Attributes
    ----------
    value, error : float
        Slope per atom, eV/atom/ns, and its least-squares standard error.
    slope : float
        Slope of the total, eV/fs.
    intercept : float
        eV.
    n_atoms : int
    duration : float
        fs covered by the fit.
    """

    value: float
    error: float
    slope: float
    intercept: float
    n_atoms: int
    duration: float


def energy_drift(time, energy, n_atoms) -> EnergyDrift:
    """Drift of the conserved energy per atom per ns.

    Parameters
    ----------
    time : array_like
        fs.
    energy : array_like
        eV (the conserved energy of the run: potential + kinetic + thermostat).
    n_atoms : int
        Atoms of the system.

    Returns
    -------
    EnergyDrift
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(energy, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(e)
    if np.count_nonzero(ok) < 3:
        raise InputError(f"energy drift needs >= 3 rows with a time and an energy, got {np.count_nonzero(ok)}")
    if not n_atoms or int(n_atoms) < 1:
        raise InputError(f"energy drift per atom needs the number of atoms (--natoms), got {n_atoms}")
    fit = linear_fit(t[ok], e[ok])
    per = units.FS_PER_NS / int(n_atoms)
    return EnergyDrift(fit.slope * per, fit.slope_error * per, fit.slope, fit.intercept, int(n_atoms),
                       float(t[ok].max() - t[ok].min()))


def thermo_block_averages(data: ThermoData, n_blocks=10, start_time=None) -> list:
    """Mean and block error of every column but step and time.

    Parameters
    ----------
    data : ThermoData
    n_blocks : int
    start_time : float or None
        fs; rows before it (equilibration) are left out.

    Returns
    -------
    list of dict
        One per column: ``column`` (header), ``label``, ``unit``, ``mean``, ``error``,
        ``n_samples``, ``n_blocks``.
    """
    keep = np.ones(len(data), dtype=bool)
    if start_time is not None:
        keep = data.time >= float(start_time)
    out = []
    for h in data.headers:
        if data.labels[h] in _NOT_AVERAGED:
            continue
        x = data.values[h][keep]
        x = x[np.isfinite(x)]
        nb = min(int(n_blocks), len(x))
        if nb < 1:
            continue
        ba = block_average(x, nb)
        out.append({"column": h, "label": data.labels[h], "unit": data.units[h], "mean": ba.mean,
                    "error": ba.error, "n_samples": len(x), "n_blocks": nb})
    return out


def conserved_header(data: ThermoData):
    """The conserved-energy column's header, or None."""
    for name in ("conserved_energy", "conserved"):
        if data.has(name):
            return data.header_of(name)
    return None


def save_thermo_report(data: ThermoData, directory, n_atoms=None, n_blocks=10, start_time=None, prefix="") -> dict:
    """Write ``thermo_blocks.csv``, ``thermo_drift.csv`` (with a conserved energy and ``n_atoms``)
    and ``thermo.png`` (every column against time).

    Returns
    -------
    dict
        ``paths`` (list), ``blocks`` (from :func:`thermo_block_averages`), ``drift``
        (EnergyDrift or None).
    """
    os.makedirs(directory, exist_ok=True)
    paths = []
    blocks = thermo_block_averages(data, n_blocks, start_time)
    paths.append(write_csv(os.path.join(directory, f"{prefix}thermo_blocks.csv"),
                           {"column": [b["column"] for b in blocks], "unit": [b["unit"] for b in blocks],
                            "mean": [b["mean"] for b in blocks], "error": [b["error"] for b in blocks],
                            "n_samples": np.array([b["n_samples"] for b in blocks], dtype=np.int64),
                            "n_blocks": np.array([b["n_blocks"] for b in blocks], dtype=np.int64)}))
    drift = None
    h = conserved_header(data)
    if h is not None and n_atoms:
        t = data.time
        keep = t >= float(start_time) if start_time is not None else np.ones(len(t), dtype=bool)
        drift = energy_drift(t[keep], data.values[h][keep], n_atoms)
        paths.append(write_csv(os.path.join(directory, f"{prefix}thermo_drift.csv"),
                               {"column": [h], "drift_eV/atom/ns": [drift.value],
                                "drift_err_eV/atom/ns": [drift.error], "slope_eV/fs": [drift.slope],
                                "n_atoms": np.array([drift.n_atoms]), "duration_fs": [drift.duration]}))
    cols = [c for c in data.headers if data.labels[c] not in _NOT_AVERAGED]
    if cols:
        fig, axes = new_figure(len(cols), 1, size=(6.4, 1.8 * len(cols) + 0.6))
        tp = data.time / units.FS_PER_PS
        for ax, c in zip(axes[:, 0], cols):
            ax.plot(tp, data.values[c], lw=0.8)
            if c == h and drift is not None:
                ax.plot(tp, drift.intercept + drift.slope * data.time, "--", color="C3", lw=1,
                        label=f"drift {drift.value:.3g} eV/atom/ns")
                ax.legend(fontsize="small")
            if start_time is not None:
                ax.axvline(float(start_time) / units.FS_PER_PS, color="0.6", lw=0.8, ls=":")
            ax.set_ylabel(f"{data.labels[c]} ({data.units[c]})" if data.units[c] else data.labels[c])
        axes[-1, 0].set_xlabel("time (ps)")
        paths.append(save_figure(fig, os.path.join(directory, f"{prefix}thermo.png")))
    return {"paths": paths, "blocks": blocks, "drift": drift}

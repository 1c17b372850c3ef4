"""Thermo output: one row of observables per report, to a CSV file and to the screen.

Observables are named once, for every output (thermo CSV, screen, H5MD
``observables/``). The simulation builds one dict ``{name: value}`` per report
with these canonical names; each output picks what it needs by name.

Canonical names and their units
-------------------------------
======================  ======  =============================================
name                    unit    meaning
======================  ======  =============================================
``step``                --      MD step (int)
``time``                fs      simulation time
``temperature``         K       kinetic temperature
``potential_energy``    eV      total potential energy
``kinetic_energy``      eV      kinetic energy
``thermostat_energy``   eV      energy stored in the thermostat
``conserved_energy``    eV      potential + kinetic + thermostat
``volume``              Å^3     cell volume
``pressure``            GPa     pressure (printed for people in GPa, §2)
``atom_steps_per_s``    --      throughput, atoms x steps per wall second
``energy_<term>``       eV      energy of one force-field term, e.g. ``energy_lj``
``<anything>_energy``   eV      any other energy
``charge_<group>``      e       total charge of a group, e.g. ``charge_electrode_left``
``voltage_<name>``      V       an electric potential, e.g. an electrode's
``field_<axis>``        V/Å     a field component, e.g. ``field_z``
======================  ======  =============================================

Any other name is accepted and printed without a unit. A name may also carry an
explicit unit as ``"name:unit"`` (e.g. ``"msd:A2"``), which wins over the rules.

The CSV header is ``<label>_<unit>`` per column, so that a column's unit can be
read from the file alone, e.g.
``step,time_fs,temperature_K,potential_eV,kinetic_eV,conserved_eV,atom_steps_per_s``.
The short labels ``potential``, ``kinetic``, ``thermostat`` and ``conserved``
stand for the ``*_energy`` names and are accepted as aliases in column lists.
"""

from __future__ import annotations

import math
import os
import sys
import time as _time
from dataclasses import dataclass

from echemmd.errors import InputError


@dataclass(frozen=True)
class Quantity:
    """How one observable is labelled and printed.

    Attributes
    ----------
    name : str
        Canonical observable name (key in the observables dict).
    label : str
        Short label used in the CSV header and on screen.
    unit : str
        Unit for people and for the CSV header ("" if none), e.g. ``"eV"``.
    h5md_unit : str
        The same unit in H5MD notation ("" if none), e.g. ``"Angstrom3"``.
    fmt : str
        Format spec for the screen, e.g. ``".6f"``.
    integer : bool
        Printed as an integer.
    """

    name: str
    label: str
    unit: str = ""
    h5md_unit: str = ""
    fmt: str = ".6g"
    integer: bool = False

    @property
    def header(self) -> str:
        """CSV and screen header of this column, ``<label>_<unit>``."""
        return f"{self.label}_{self.unit}" if self.unit else self.label


# Energies get 6 decimals (µeV) on screen so drift of the conserved energy is visible.
_KNOWN = {
    q.name: q
    for q in (
        Quantity("step", "step", integer=True),
        Quantity("time", "time", "fs", "fs", ".3f"),
        Quantity("temperature", "temperature", "K", "K", ".3f"),
        Quantity("potential_energy", "potential", "eV", "eV", ".6f"),
        Quantity("kinetic_energy", "kinetic", "eV", "eV", ".6f"),
        Quantity("thermostat_energy", "thermostat", "eV", "eV", ".6f"),
        Quantity("conserved_energy", "conserved", "eV", "eV", ".6f"),
        Quantity("volume", "volume", "A3", "Angstrom3", ".4f"),
        Quantity("pressure", "pressure", "GPa", "GPa", ".5f"),
        Quantity("atom_steps_per_s", "atom_steps_per_s", fmt=".4g"),
    )
}
_ALIASES = {q.label: q.name for q in _KNOWN.values()}

# (prefix or suffix rule, unit, h5md unit, screen format)
_PREFIX_RULES = (
    ("energy_", "eV", "eV", ".6f"),
    ("charge_", "e", "e", ".6f"),
    ("voltage_", "V", "V", ".6f"),
    ("field_", "V/A", "V Angstrom-1", ".6g"),
)
_SUFFIX_RULES = (("_energy", "eV", "eV", ".6f"),)

_H5MD_UNITS = {"A": "Angstrom", "A2": "Angstrom2", "A3": "Angstrom3", "V/A": "V Angstrom-1", "fs": "fs"}


def quantity(name: str) -> Quantity:
    """Label, unit and format of the observable ``name``.

    Parameters
    ----------
    name : str
        A canonical name, a short alias (``"potential"``), a name following
        the prefix rules of this module (``"energy_lj"``, ``"charge_left"``),
        or ``"name:unit"`` with an explicit unit.

    Returns
    -------
    Quantity
    """
    if ":" in name:
        base, unit = name.split(":", 1)
        base = _ALIASES.get(base, base)
        known = _KNOWN.get(base)
        fmt = known.fmt if known else ".6g"
        label = known.label if known else base
        return Quantity(base, label, unit, _H5MD_UNITS.get(unit, unit), fmt)
    name = _ALIASES.get(name, name)
    if name in _KNOWN:
        return _KNOWN[name]
    for prefix, unit, h5unit, fmt in _PREFIX_RULES:
        if name.startswith(prefix):
            return Quantity(name, name, unit, h5unit, fmt)
    for suffix, unit, h5unit, fmt in _SUFFIX_RULES:
        if name.endswith(suffix):
            return Quantity(name, name, unit, h5unit, fmt)
    return Quantity(name, name)


#: Default thermo columns.
DEFAULT_COLUMNS = (
    "step",
    "time",
    "temperature",
    "potential_energy",
    "kinetic_energy",
    "conserved_energy",
    "atom_steps_per_s",
)


def _format_csv(value, q: Quantity) -> str:
    if q.integer:
        return str(int(value))
    # repr round-trips a float exactly: the CSV is data, not a picture.
    return repr(float(value))


class ThermoLogger:
    """Write observables as CSV rows and as an aligned table on the screen.

    Parameters
    ----------
    csv_path : str or os.PathLike or None
        CSV file; ``None`` writes no file.
    columns : list of str
        Observable names (see the module docstring); extra observables such as
        ``energy_<term>`` or ``charge_<group>`` are added by name.
    stream : file-like or None
        Where the screen table goes; ``None`` prints nothing.
    append : bool
        Append to an existing CSV (restart). Its header must match ``columns``.
    truncate_after : int or None
        With ``append``, first drop rows whose step is greater than this (the
        rows a crashed run wrote after its last checkpoint).

    Raises
    ------
    InputError
        When appending to a CSV whose header differs from ``columns``.
    """

    def __init__(self, csv_path, columns, *, stream=sys.stdout, append=False, truncate_after=None):
        self.quantities = [quantity(c) for c in columns]
        names = [q.name for q in self.quantities]
        if len(set(names)) != len(names):
            raise InputError(f"thermo columns repeat a name: {list(columns)}")
        self.columns = names
        self.header = ",".join(q.header for q in self.quantities)
        self.stream = stream
        self.csv_path = None if csv_path is None else os.fspath(csv_path)
        # Screen widths fixed once so that every row lines up with the header.
        self._widths = [max(len(q.header), 12 if q.integer else 14) for q in self.quantities]
        self._screen_header_done = False
        self._file = None
        if self.csv_path is not None:
            self._file = self._open_csv(append, truncate_after)

    def _open_csv(self, append, truncate_after):
        path = self.csv_path
        if append and os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
            if lines[0] != self.header:
                raise InputError(
                    f"{path}: cannot append, its header {lines[0]!r} differs from the columns {self.header!r}"
                )
            if truncate_after is not None and "step" in self.columns:
                k = self.columns.index("step")
                kept = [lines[0]]
                for line in lines[1:]:
                    fields = line.split(",")
                    # A crash can leave a partial last line; drop it as well.
                    if len(fields) != len(self.columns):
                        continue
                    try:
                        if int(fields[k]) > truncate_after:
                            continue
                    except ValueError:
                        continue
                    kept.append(line)
                with open(path, "w", encoding="utf-8") as f:
                    f.write("\n".join(kept) + "\n")
            return open(path, "a", encoding="utf-8")
        f = open(path, "w", encoding="utf-8")
        f.write(self.header + "\n")
        f.flush()
        return f

    def _values(self, observables):
        try:
            return [observables[n] for n in self.columns]
        except KeyError as exc:
            raise KeyError(
                f"thermo column {exc.args[0]!r} is not among the observables {sorted(observables)}"
            ) from None

    def log(self, observables: dict) -> None:
        """Write one row.

        Parameters
        ----------
        observables : dict of str to number
            Values by canonical name, in the units of the module table; must
            hold every column (more keys are ignored).
        """
        values = self._values(observables)
        if self._file is not None:
            self._file.write(",".join(_format_csv(v, q) for v, q in zip(values, self.quantities)) + "\n")
            # Flushed per row so that `tail -f` and a crash both see complete rows.
            self._file.flush()
        if self.stream is not None:
            if not self._screen_header_done:
                self.stream.write(self.screen_header() + "\n")
                self._screen_header_done = True
            self.stream.write(self.screen_row(values) + "\n")
            self.stream.flush()

    def screen_header(self) -> str:
        """The column headers, right-aligned to the row widths."""
        return " ".join(f"{q.header:>{w}}" for q, w in zip(self.quantities, self._widths))

    def screen_row(self, values) -> str:
        """One fixed-width row; values in column order."""
        cells = []
        for v, q, w in zip(values, self.quantities, self._widths):
            if q.integer:
                cells.append(f"{int(v):>{w}d}")
            else:
                cells.append(f"{float(v):>{w}{q.fmt}}")
        return " ".join(cells)

    def close(self) -> None:
        """Close the CSV file (the stream is the caller's)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "--:--:--"
    s = int(round(seconds))
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


class ProgressBar:
    """A one-line progress report: steps done, steps per second, time left.

    Drawn only when ``stream`` is a terminal, so that logs and pipes stay
    clean, and redrawn at most every ``min_interval`` seconds, so that a fast
    run does not spend its time printing.

    Parameters
    ----------
    total_steps : int
        Number of steps of the run.
    stream : file-like
        Where to draw (default stderr, so that it never mixes into stdout data).
    start_step : int
        First step (a restart starts later); rates count from here.
    min_interval : float
        Least time between redraws, s.
    width : int
        Characters in the bar itself.
    clock : callable
        Returns seconds; replaceable in tests.
    """

    def __init__(self, total_steps, stream=sys.stderr, *, start_step=0, min_interval=0.25, width=30,
                 clock=_time.monotonic):
        self.total_steps = int(total_steps)
        self.stream = stream
        self.start_step = int(start_step)
        self.min_interval = float(min_interval)
        self.width = int(width)
        self._clock = clock
        self._t0 = clock()
        self._last_draw = -math.inf
        self._drawn = False
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(stream is not None and isatty is not None and isatty())

    def text(self, step: int, now: float | None = None) -> str:
        """The line shown at ``step`` (without carriage return)."""
        now = self._clock() if now is None else now
        done = step - self.start_step
        todo = self.total_steps - self.start_step
        elapsed = now - self._t0
        rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
        eta = (self.total_steps - step) / rate if rate > 0 else math.inf
        frac = min(max(done / todo, 0.0), 1.0) if todo > 0 else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        return (f"[{bar}] {step}/{self.total_steps} {100 * frac:5.1f}% "
                f"{rate:.4g} steps/s ETA {_format_duration(eta)}")

    def update(self, step: int, force: bool = False) -> bool:
        """Redraw for ``step`` if enough time passed; returns whether it drew."""
        if not self.enabled:
            return False
        now = self._clock()
        if not force and now - self._last_draw < self.min_interval and step < self.total_steps:
            return False
        self._last_draw = now
        # \r + clear-to-end-of-line so a shorter line leaves no debris.
        self.stream.write("\r" + self.text(step, now) + "\x1b[K")
        self.stream.flush()
        self._drawn = True
        return True

    def clear(self) -> None:
        """Erase the bar, e.g. before another line is printed to the same terminal."""
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._last_draw = -math.inf
            self._drawn = False

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

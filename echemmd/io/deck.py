"""Input decks: TOML files checked against one declarative schema.

The schema is the table :data:`KEYS` (one :class:`Key` per deck key) plus the
sections it lives in (:data:`SECTIONS`). The same table validates decks, fills
defaults and writes the key reference in ``docs/input.md``
(:func:`schema_markdown`), so the documentation cannot drift from the code.

Adding a section with plain keys (``[electrostatics]``, ``[electrode]``, ...)
means one :class:`Section` and one :class:`Key` per key; checks that involve
several keys go in a function registered in :data:`_DECK_CHECKS`.

Every problem raises :class:`echemmd.errors.InputError` with a message that
names the deck file, the dotted key (``md.integrator``, ``pair[0].cutoff``)
and what is allowed. Problems found by the per-key checks are collected and
reported together, so a user fixes a deck in one pass.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
import secrets
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from echemmd.errors import InputError

__all__ = [
    "Deck",
    "Key",
    "KEYS",
    "REQUIRED",
    "SECTIONS",
    "Section",
    "complete_lj_coeffs",
    "load_deck",
    "loads_deck",
    "pair_key",
    "parse_overrides",
    "schema_markdown",
    "update_docs",
]


# ---------------------------------------------------------------------- schema types
class _Required:
    """Sentinel default of a key the deck must set."""

    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()


@dataclass(frozen=True)
class Section:
    """A deck section.

    Attributes
    ----------
    name : str
        Schema name: ``"md"`` for ``[md]``; nested item sections use dots
        (``"groups.<name>"``, ``"pair.coeffs.lj"``).
    kind : {"table", "array", "map"}
        ``table``: fixed keys (``[md]``). ``array``: an array of tables
        (``[[pair]]``), each checked against this section's keys. ``map``: a
        table whose keys are names chosen by the user, each value a table
        checked against the section ``item``.
    required : bool
        Whether a deck must contain the section.
    heading : str
        How messages name the section (``"[md]"``).
    description : str
        Markdown paragraph for the documentation.
    item : str
        For ``map`` sections, the section that each value is checked against.
    doc_title : str
        Markdown title in the documentation; default: the heading in backticks.
    """

    name: str
    kind: str = "table"
    required: bool = False
    heading: str = ""
    description: str = ""
    item: str = ""
    doc_title: str = ""

    @property
    def top_level(self) -> bool:
        return "." not in self.name


@dataclass(frozen=True)
class Key:
    """One deck key: its type, unit, default, allowed values and meaning.

    Attributes
    ----------
    section : str
        Name of the :class:`Section` it belongs to.
    name : str
        Key name inside the section.
    type : str
        One of :data:`TYPES`: ``bool``, ``int``, ``float``, ``str``, ``path``
        (an input file, relative to the deck's directory; must exist),
        ``table``, ``list[str]``, ``list[int]``, ``str|list[str]``,
        ``int|list[int]``. ``float`` accepts integers; the ``X|list[X]`` types
        are normalised to lists.
    default : object
        :data:`REQUIRED`, ``None`` (unset) or the value used when absent.
    unit : str
        Physical unit of the value (DESIGN.md §2), ``""`` if none.
    choices : tuple
        Allowed values, when the key is an enumeration.
    min, max : float or None
        Range of a number (each element of a list of numbers).
    min_inclusive, max_inclusive : bool
        Whether the bounds themselves are allowed.
    description : str
        One-line meaning, Markdown.
    doc_default : str or None
        Text shown as the default in the documentation instead of the value.
    doc_allowed : str or None
        Text shown as the allowed values instead of choices / range.
    """

    section: str
    name: str
    type: str
    default: Any = REQUIRED
    unit: str = ""
    choices: tuple = ()
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    description: str = ""
    doc_default: str | None = None
    doc_allowed: str | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def allowed_text(self) -> str:
        """Allowed values in words (used in docs and error messages)."""
        if self.doc_allowed is not None:
            return self.doc_allowed
        if self.choices:
            return ", ".join(_toml_repr(c) for c in self.choices)
        parts = []
        if self.min is not None:
            parts.append(f"{'>=' if self.min_inclusive else '>'} {_bound(self.min)}")
        if self.max is not None:
            parts.append(f"{'<=' if self.max_inclusive else '<'} {_bound(self.max)}")
        return ", ".join(parts)


#: Human names of the schema types, as a TOML user thinks of them.
TYPES = {
    "bool": "boolean",
    "int": "integer",
    "float": "number",
    "str": "string",
    "path": "string (file path)",
    "table": "table",
    "list[str]": "array of strings",
    "list[int]": "array of integers",
    "str|list[str]": "string or array of strings",
    "int|list[int]": "integer or array of integers",
    "list[float]": "array of numbers",
}

INTEGRATORS = ("nve", "langevin", "csvr", "nose-hoover")
THERMOSTATS = ("langevin", "csvr", "nose-hoover")
PAIR_STYLES = ("lj", "bmh")
MIXING_RULES = ("none", "lorentz-berthelot", "geometric")


# ---------------------------------------------------------------------- the schema
SECTIONS: tuple[Section, ...] = (
    Section(
        "system",
        required=True,
        heading="[system]",
        description="The atoms: the structure file, initial velocities and frozen atoms.",
    ),
    Section(
        "groups",
        kind="map",
        item="groups.<name>",
        heading="[groups]",
        description=(
            "Named groups of atoms, used by `system.frozen` (and later by electrodes). "
            "Each key is a group name; each value is an inline table with exactly one of "
            "the keys below, e.g. `bottom = { tag = 1 }`, `mid = { indices = [0, 1, 2] }`, "
            '`ions = { elements = ["Na", "Cl"] }`.'
        ),
    ),
    Section("groups.<name>", heading="[groups] entry", doc_title="`[groups]` entries: `name = { ... }`"),
    Section(
        "neighbors",
        heading="[neighbors]",
        description="Verlet neighbour list shared by all terms; built for the largest cutoff plus the skin.",
    ),
    Section(
        "pair",
        kind="array",
        heading="[[pair]]",
        description=(
            "Pair-potential terms, an array of tables: zero or more `[[pair]]` blocks whose energies add. "
            "Every pair of elements present in the structure needs coefficients in every term "
            "(given in `coeffs`, or mixed for `lj`); to leave a pair out of a term, give it zero "
            "coefficients (`epsilon = 0`, or `A = 0` with `C = 0` and `D = 0`)."
        ),
    ),
    Section(
        "pair.coeffs.lj",
        heading='[pair.coeffs] entry of style "lj"',
        doc_title='`[pair.coeffs]` entries for `style = "lj"`: `"A-B" = { ... }`',
        description=(
            "Lennard-Jones 12-6, `E(r) = 4 epsilon [(sigma/r)^12 - (sigma/r)^6]`. One entry per "
            'element pair, e.g. `"Ar-Ar" = { epsilon = 0.0103, sigma = 3.405 }`; the order of the '
            "two elements does not matter."
        ),
    ),
    Section(
        "pair.coeffs.bmh",
        heading='[pair.coeffs] entry of style "bmh"',
        doc_title='`[pair.coeffs]` entries for `style = "bmh"`: `"A-B" = { ... }`',
        description=(
            "Born–Mayer–Huggins (Tosi–Fumi), `E(r) = A exp((sigma - r)/rho) - C/r^6 - D/r^8`; "
            "Buckingham when `sigma = 0` and `D = 0`. One entry per element pair, e.g. "
            '`"Na-Cl" = { A = 0.2637, rho = 0.317, sigma = 2.755, C = 6.99, D = 8.68 }`.'
        ),
    ),
    Section(
        "model",
        heading="[model]",
        description=(
            "A machine-learning potential: an echemmd model file (HDF5: descriptors, networks, charge "
            "model, Gaussian widths, switch radii) or an n2p2 directory (input.nn, scaling.data, "
            "weights.NNN.data; short range only). A model with a charge model brings its electrostatics: "
            "the Ewald sum of `[electrostatics]` (its method is then `ewald`) uses the model's widths and "
            "switch. Give exactly one of `path` and `n2p2`."
        ),
    ),
    Section(
        "electrostatics",
        heading="[electrostatics]",
        description=(
            "Long-range Coulomb: Ewald sum of Gaussian (or point) charges for bulk cells (pbc T T T) "
            "and slabs (pbc T T F, c along z, padded along z with the Yeh–Berkowitz / "
            "Ballenegger–Arnold–Cerda correction). Charges come from the structure's "
            "`initial_charges`. Whatever of `alpha`, `r_cut`, `k_cut` is not set is chosen from "
            "`accuracy` (Kolafa–Perram estimates) and printed at the start of a run. Giving the "
            'section selects `method = "ewald"` unless `method` says otherwise.'
        ),
    ),
    Section(
        "electrode",
        kind="array",
        heading="[[electrode]]",
        description=(
            "Electrodes held at a fixed electric potential (constant-potential method): an array of "
            "tables, one per electrode. Their atoms carry Gaussian charges solved before every force "
            "evaluation by projected conjugate gradients, together with the QEq atoms of `[charges]`; "
            "the total charge is conserved. Needs `[electrostatics]`. Each electrode names its atoms "
            "with exactly one of `tag`, `indices`, `group`."
        ),
    ),
    Section(
        "charges",
        heading="[charges]",
        description=(
            "Charge equilibration (QEq) and the settings of the charge solver. Atoms of the elements "
            "in `qeq` (outside electrodes) get charges that minimise "
            "`sum (chi q + J q^2 / 2) + E_Coulomb`; all other atoms keep the charges of the structure."
        ),
    ),
    Section(
        "field",
        heading="[field]",
        description=(
            "A uniform applied electric field, along non-periodic directions only (z of a slab). It "
            "enters the charge solve's right-hand side and adds the forces q E."
        ),
    ),
    Section("md", required=True, heading="[md]",
            description="Molecular dynamics: length, time step, thermostat, seed."),
    Section(
        "output",
        heading="[output]",
        description=(
            "What the run writes and how often. `directory` is taken relative to the current working "
            "directory of the run (not to the deck) and created when missing; the file names below "
            "are inside it (an absolute file name is used as is)."
        ),
    ),
    Section(
        "limits",
        heading="[limits]",
        description=(
            "Blow-up detection: when a check fails the run stops, writes a checkpoint and exits "
            "with a non-zero status."
        ),
    ),
)

_ASE_FORMATS_DOC = ('an ASE format name (e.g. "extxyz", "vasp", "cif", "lammps-data"), '
                    'or "" to guess from the file name')

KEYS: tuple[Key, ...] = (
    # [system]
    Key("system", "structure", "path", description=(
        "Structure file, relative to the deck's directory, in any format ASE reads (extended XYZ "
        "recommended). From a file with several frames the last frame is used. Charges are read "
        "from ASE's `initial_charges`, velocities from its momenta when present."),
        doc_allowed="an existing file"),
    Key("system", "format", "str", "", description="ASE format of the structure file.",
        doc_allowed=_ASE_FORMATS_DOC),
    Key("system", "temperature", "float", None, "K", min=0.0, description=(
        "When set, draw Maxwell–Boltzmann initial velocities at this temperature (seeded by "
        "`md.seed`), replacing any velocities in the file. Unset: velocities from the file, or zero."),
        doc_default="unset"),
    Key("system", "frozen", "list[str]", [], description=(
        "Names of groups (see `[groups]`) whose atoms are frozen: zero velocity, never moved, "
        "no degrees of freedom."), doc_allowed="names defined in `[groups]`"),
    # [groups] entries
    Key("groups.<name>", "tag", "int|list[int]", None,
        description="Atoms whose ASE tag is this value (or one of these values).",
        doc_default="unset", doc_allowed="tags present in the structure"),
    Key("groups.<name>", "indices", "list[int]", None, min=0,
        description="Atoms with these 0-based indices (order of the structure file).",
        doc_default="unset", doc_allowed="0 .. N-1"),
    Key("groups.<name>", "elements", "str|list[str]", None,
        description="Atoms of these chemical elements.",
        doc_default="unset", doc_allowed="element symbols present in the structure"),
    # [neighbors]
    Key("neighbors", "skin", "float", 1.0, "Å", min=0.0, description=(
        "Verlet skin: the list holds pairs closer than cutoff + skin and is rebuilt when an atom "
        "has moved more than skin/2 since the last build.")),
    # [[pair]]
    Key("pair", "style", "str", choices=PAIR_STYLES, description=(
        '`"lj"`: Lennard-Jones 12-6; `"bmh"`: Born–Mayer–Huggins / Tosi–Fumi (Buckingham when '
        "sigma = 0 and D = 0).")),
    Key("pair", "cutoff", "float", unit="Å", min=0.0, min_inclusive=False, description=(
        "Cutoff of this term. Per-pair cutoffs in `coeffs` may be shorter, not longer.")),
    Key("pair", "shift", "bool", True, description=(
        "Shift each pair energy to zero at its cutoff (forces are unchanged), so that energy is "
        "conserved when pairs cross the cutoff.")),
    Key("pair", "mixing", "str", "none", choices=MIXING_RULES, description=(
        '`lj` only. How to make missing cross pairs from the like pairs: `"lorentz-berthelot"` '
        "(epsilon geometric, sigma and cutoff arithmetic mean), `\"geometric\"` (all geometric "
        'means); `"none"` requires every pair in `coeffs`.')),
    Key("pair", "coeffs", "table", description=(
        'Coefficients per element pair `"A-B"`, see the two tables below.'),
        doc_allowed="element pairs present in the structure"),
    # [pair.coeffs] lj
    Key("pair.coeffs.lj", "epsilon", "float", unit="eV", min=0.0, description="Well depth."),
    Key("pair.coeffs.lj", "sigma", "float", unit="Å", min=0.0, min_inclusive=False,
        description="Distance at which the unshifted energy is zero."),
    Key("pair.coeffs.lj", "cutoff", "float", None, "Å", min=0.0, min_inclusive=False,
        description="Cutoff of this pair, at most the term's `cutoff`. Unset: the term's cutoff.",
        doc_default="pair cutoff"),
    # [pair.coeffs] bmh
    Key("pair.coeffs.bmh", "A", "float", unit="eV", description="Repulsion prefactor."),
    Key("pair.coeffs.bmh", "rho", "float", unit="Å", min=0.0, min_inclusive=False,
        description="Repulsion decay length."),
    Key("pair.coeffs.bmh", "sigma", "float", 0.0, "Å", min=0.0, description="Repulsion offset (ionic radii sum)."),
    Key("pair.coeffs.bmh", "C", "float", 0.0, "eV Å^6", description="Dipole–dipole dispersion coefficient."),
    Key("pair.coeffs.bmh", "D", "float", 0.0, "eV Å^8", description="Dipole–quadrupole dispersion coefficient."),
    Key("pair.coeffs.bmh", "cutoff", "float", None, "Å", min=0.0, min_inclusive=False,
        description="Cutoff of this pair, at most the term's `cutoff`. Unset: the term's cutoff.",
        doc_default="pair cutoff"),
    # [model]
    Key("model", "path", "path", None, description="echemmd model file (HDF5), relative to the deck.",
        doc_default="unset", doc_allowed="an existing file"),
    Key("model", "n2p2", "str", None, description=(
        "Directory with an n2p2 model (input.nn, scaling.data, weights.NNN.data), relative to the deck."),
        doc_default="unset", doc_allowed="an existing directory"),
    Key("model", "length_unit", "str", "Angstrom", choices=("Angstrom", "Bohr"),
        description="Length unit of the n2p2 files."),
    Key("model", "energy_unit", "str", "eV", choices=("eV", "Hartree"),
        description="Energy unit of the n2p2 files."),
    # [electrostatics]
    Key("electrostatics", "method", "str", "none", choices=("none", "ewald"), description=(
        '`"ewald"`: Ewald sum; `"none"`: no long-range Coulomb.'),
        doc_default='"none" without the section, "ewald" with it'),
    Key("electrostatics", "accuracy", "float", 1e-6, min=0.0, max=1.0, min_inclusive=False,
        max_inclusive=False, description=(
            "Relative RMS force error, relative to the force between two unit charges 1 Å apart "
            "(as LAMMPS `kspace_style ewald`).")),
    Key("electrostatics", "alpha", "float", None, "1/Å", min=0.0, min_inclusive=False,
        description="Ewald splitting parameter. Unset: chosen from `accuracy`.", doc_default="from accuracy"),
    Key("electrostatics", "r_cut", "float", None, "Å", min=0.0, min_inclusive=False,
        description="Real-space cutoff. Unset: chosen from `accuracy`.", doc_default="from accuracy"),
    Key("electrostatics", "k_cut", "float", None, "1/Å", min=0.0, min_inclusive=False,
        description="Reciprocal-space cutoff on |k| (k includes the 2 pi). Unset: chosen from `accuracy`.",
        doc_default="from accuracy"),
    Key("electrostatics", "slab_factor", "float", 3.0, min=1.0, description=(
        "Slabs: the periodic cell of the Ewald sum is the cell with c multiplied by this factor "
        "(LAMMPS `kspace_modify slab`).")),
    Key("electrostatics", "sigma", "table", {}, "Å", description=(
        'Gaussian charge width per element, e.g. `{ Na = 0.5, Cl = 0.9 }`; elements not listed '
        "are point charges."), doc_default="point charges", doc_allowed="elements present, widths >= 0"),
    Key("electrostatics", "switch", "table", None, "Å", description=(
        "`{ r_on = ..., r_off = ... }`: remove the short-range Coulomb that a machine-learning "
        "potential already holds, with the C2 quintic switch (off when unset)."),
        doc_default="unset", doc_allowed="0 <= r_on < r_off"),
    # [[electrode]]
    Key("electrode", "name", "str", description="Name of the electrode (used in thermo and H5MD: `charge_<name>`)."),
    Key("electrode", "tag", "int|list[int]", None, description="Atoms whose ASE tag is this value (or one of these).",
        doc_default="unset"),
    Key("electrode", "indices", "list[int]", None, min=0, description="Atoms with these 0-based indices.",
        doc_default="unset"),
    Key("electrode", "group", "str", None, description="Atoms of a group defined in `[groups]`.",
        doc_default="unset"),
    Key("electrode", "potential", "float", unit="V", description="Electric potential psi of the electrode."),
    Key("electrode", "sigma", "float", unit="Å", min=0.0, min_inclusive=False,
        description="Gaussian width of the electrode charges."),
    # [charges]
    Key("charges", "qeq", "table", {}, description=(
        "QEq parameters per element: `{ O = { chi = ..., J = ..., sigma = ... } }`, chi in eV/e "
        "(electronegativity), J in eV/e^2 (hardness, >= 0), sigma in Å (> 0)."),
        doc_default="none", doc_allowed="elements present"),
    Key("charges", "total", "float", None, "e", description=(
        "Total charge of the system kept by the solver. Unset: the total of the structure's charges."),
        doc_default="structure's total"),
    Key("charges", "tolerance", "float", 1e-8, "V", min=0.0, min_inclusive=False, description=(
        "Convergence: RMS spread of dU/dq over the variable atoms (their potentials minus the common "
        "chemical potential).")),
    Key("charges", "max_iterations", "int", 500, min=1, description=(
        "Conjugate-gradient iterations before a solve that has not converged stops the run.")),
    # [field]
    Key("field", "E", "list[float]", [0.0, 0.0, 0.0], "V/Å", description="The field vector (x, y, z).",
        doc_allowed="3 numbers; non-zero only along non-periodic directions"),
    # [md]
    Key("md", "steps", "int", min=0, description="Number of MD steps."),
    Key("md", "dt", "float", 1.0, "fs", min=0.0, min_inclusive=False, description="Time step."),
    Key("md", "integrator", "str", "nve", choices=INTEGRATORS, description=(
        '`"nve"`: velocity Verlet; `"langevin"`: Langevin BAOAB; `"csvr"`: stochastic velocity '
        'rescaling (Bussi–Donadio–Parrinello); `"nose-hoover"`: Nosé–Hoover chain.')),
    Key("md", "temperature", "float", None, "K", min=0.0, description=(
        "Thermostat temperature; required for `langevin`, `csvr` and `nose-hoover` (> 0 for "
        "`nose-hoover`)."), doc_default="unset"),
    Key("md", "friction", "float", 0.01, "1/fs", min=0.0, min_inclusive=False,
        description="Langevin friction coefficient gamma (`langevin` only)."),
    Key("md", "tau", "float", 100.0, "fs", min=0.0, min_inclusive=False,
        description="Thermostat time constant (`csvr` and `nose-hoover`)."),
    Key("md", "chain", "int", 3, min=1, description="Nosé–Hoover chain length (`nose-hoover` only)."),
    Key("md", "seed", "int", None, min=0, description=(
        "Seed of all random numbers (initial velocities, thermostat noise); one seed and one "
        "deck give one trajectory. Unset: a seed is drawn when the deck is loaded and reported, "
        "so the run can be repeated."), doc_default="drawn at load"),
    Key("md", "remove_com", "bool", True, description=(
        "Remove the centre-of-mass momentum of the mobile atoms from the initial velocities; "
        "the removed momentum is subtracted from the degrees of freedom.")),
    Key("md", "precision", "str", "float64", choices=("float64", "mixed"),
        description="Arithmetic of the network potential on the `cuda` backend: `\"mixed\"` evaluates the "
                    "symmetry functions' per-neighbour and per-pair math and the atomic networks in float32, with "
                    "float64 pair vectors, sums over neighbours and pairs, forces, energy and virial (errors "
                    "measured in tests/test_cuda_mlp_md.py, listed in docs/gpu.md); the CPU backend is always "
                    "float64."),
    Key("md", "backend", "str", "cpu", choices=("cpu", "cuda"),
        description="Where the step runs: `\"cpu\"` (Numba threads) or `\"cuda\"` (the whole step on an NVIDIA GPU, "
                    "the atoms' arrays resident there; needs the `cuda` extra)."),
    # [output]
    Key("output", "directory", "str", "out", description=(
        "Output directory, relative to the current working directory of the run; created when "
        "missing."), doc_allowed="non-empty"),
    Key("output", "thermo_every", "int", 50, "steps", min=1,
        description="Interval of thermo lines (screen and `thermo_file`)."),
    Key("output", "thermo_file", "str", "thermo.csv", description="CSV file of thermo lines.",
        doc_allowed="non-empty"),
    Key("output", "trajectory", "str", "trajectory.h5md", description="H5MD trajectory file.",
        doc_allowed="non-empty"),
    Key("output", "trajectory_every", "int", 50, "steps", min=0,
        description="Interval of trajectory frames; 0 = no trajectory."),
    Key("output", "checkpoint", "str", "checkpoint.h5", description="Checkpoint file (exact restart).",
        doc_allowed="non-empty"),
    Key("output", "checkpoint_every", "int", 500, "steps", min=0,
        description="Interval of checkpoints; 0 = only at the end of the run."),
    Key("output", "flush_every", "int", 1, "frames", min=1,
        description="Trajectory frames written between flushes to disk."),
    Key("output", "progress", "bool", True, description="Progress bar with ETA when the output is a terminal."),
    # [limits]
    Key("limits", "max_force", "float", 50.0, "eV/Å", min=0.0, min_inclusive=False,
        description="Stop when the force on any atom is larger."),
    Key("limits", "min_distance", "float", 0.5, "Å", min=0.0, description=(
        "Stop when any pair of atoms is closer (checked on the neighbour list); 0 = no check.")),
    Key("limits", "check_every", "int", 1, "steps", min=0,
        description="Interval of the checks (NaN, force, distance); 0 = never."),
)

# Keys whose empty string makes no sense (a file or directory name).
_NONEMPTY = {("output", "directory"), ("output", "thermo_file"), ("output", "trajectory"), ("output", "checkpoint")}

_SECTION_BY_NAME = {s.name: s for s in SECTIONS}


def _keys_of(section: str) -> dict[str, Key]:
    return {k.name: k for k in KEYS if k.section == section}


def _check_schema() -> None:
    # Catch schema typos at import time rather than as confusing deck errors.
    for k in KEYS:
        if k.section not in _SECTION_BY_NAME:
            raise RuntimeError(f"schema key {k.section}.{k.name}: no such section")
        if k.type not in TYPES:
            raise RuntimeError(f"schema key {k.section}.{k.name}: unknown type {k.type!r}")
    seen = set()
    for k in KEYS:
        if (k.section, k.name) in seen:
            raise RuntimeError(f"schema key {k.section}.{k.name} defined twice")
        seen.add((k.section, k.name))


_check_schema()


# ---------------------------------------------------------------------- the result
@dataclass
class Deck:
    """A validated input deck with every default filled.

    Attributes
    ----------
    path : pathlib.Path or None
        Absolute path of the deck file (None for a deck read from a string).
    directory : pathlib.Path
        Absolute directory that relative input paths were taken from.
    source : str
        How messages name the deck (the path as given, or ``"<string>"``).
    data : dict
        Section name -> validated values. Tables (``system``, ``neighbors``,
        ``md``, ``output``, ``limits``) are dicts of key -> value with every
        schema key present (unset optional keys are ``None``). ``groups`` is a
        dict group name -> ``{"tag": list[int] | None, "indices": list[int] |
        None, "elements": list[str] | None}`` (exactly one not None).
        ``pair`` is a list of dicts with ``style``, ``cutoff``, ``shift``,
        ``mixing``, ``coeffs`` and ``mixed``: ``coeffs`` maps every pair of
        elements present in the structure, as a tuple ``(A, B)`` ordered by
        atomic number, to its coefficient dict (``cutoff`` always filled);
        ``mixed`` lists the pairs that came from the mixing rule.
        ``system.structure`` is an absolute path; ``md.seed`` is always an int.
    warnings : list of str
        Things that are allowed but probably not meant (ignored keys, ...).
    notes : list of str
        Information for the log (a drawn seed, ...).
    atoms : ase.Atoms or None
        The structure, read once while validating; :func:`echemmd.io.structure.build_system`
        uses a copy of it.

    Sections are reachable as items or attributes: ``deck["md"]["steps"]``,
    ``deck.md["steps"]``, ``deck.get("md.steps")``.
    """

    path: Path | None
    directory: Path
    source: str
    data: dict
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    atoms: Any = field(default=None, repr=False)

    def __getitem__(self, section: str):
        return self.data[section]

    def __contains__(self, section: str) -> bool:
        return section in self.data

    def __getattr__(self, name: str):
        # Only called when normal lookup fails; guard against recursion while
        # the dataclass is half built (copy, pickle).
        data = self.__dict__.get("data")
        if data is not None and name in data:
            return data[name]
        raise AttributeError(name)

    def get(self, dotted: str, default=None):
        """Value at a dotted path such as ``"md.steps"`` or ``"pair[0].cutoff"``."""
        node: Any = self.data
        try:
            for name, index in _parse_path(dotted):
                node = node[name]
                if index is not None:
                    node = node[index]
        except (KeyError, IndexError, TypeError, ValueError):
            return default
        return node

    def output_path(self, key: str) -> Path:
        """Path of an output file: ``output.<key>`` inside ``output.directory``.

        Parameters
        ----------
        key : str
            ``"thermo_file"``, ``"trajectory"`` or ``"checkpoint"``.
        """
        out = self.data["output"]
        return Path(out["directory"]) / out[key]

    def to_dict(self) -> dict:
        """Plain JSON-compatible copy of :attr:`data` (pair tuples become ``"A-B"``)."""
        data = copy.deepcopy(self.data)
        for term in data.get("pair", []):
            term["coeffs"] = {f"{a}-{b}": v for (a, b), v in term["coeffs"].items()}
            term["mixed"] = [f"{a}-{b}" for a, b in term["mixed"]]
        return data


# ---------------------------------------------------------------------- entry points
def load_deck(path, overrides: dict | None = None) -> Deck:
    """Read, validate and complete a TOML input deck.

    Parameters
    ----------
    path : str or path-like
        The deck file. Relative input paths in it are taken from its directory.
    overrides : dict, optional
        Dotted key -> value, e.g. ``{"md.steps": 100, "output.directory": "x",
        "pair[0].cutoff": 9.0}``; they win over the deck. String values for
        keys of another type are parsed as TOML values (``"100"`` -> 100), so
        the strings of a command line can be passed as they are. A path given
        as an override is relative to the current working directory.

    Returns
    -------
    Deck

    Raises
    ------
    echemmd.errors.InputError
        For any problem, with a message naming the file, the key and what is allowed.
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"deck file not found: {path} (absolute: {path.absolute()})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the deck: {exc}") from None
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); TOML decks must be UTF-8") from None
    return _load_text(text, path.absolute().parent, str(path), overrides, path.absolute())


def loads_deck(text: str, base_dir=".", source: str = "<string>", overrides: dict | None = None) -> Deck:
    """Validate a deck given as TOML text; see :func:`load_deck`.

    Parameters
    ----------
    text : str
        TOML text.
    base_dir : str or path-like
        Directory that relative input paths are taken from.
    source : str
        Name of the deck in messages.
    overrides : dict, optional
        As in :func:`load_deck`.

    Returns
    -------
    Deck
    """
    return _load_text(text, Path(base_dir).absolute(), source, overrides, None)


def _load_text(text: str, base_dir: Path, source: str, overrides: dict | None, path: Path | None) -> Deck:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line L, column C)" in its message.
        raise InputError(f"{source}: TOML syntax error: {exc}") from None
    return _validate(raw, _Context(source, base_dir), overrides, path)


def parse_overrides(items) -> dict:
    """Turn command-line ``KEY=VALUE`` strings into an overrides dict.

    Values stay strings; :func:`load_deck` parses them against the schema.

    Parameters
    ----------
    items : iterable of str
        e.g. ``["md.steps=100", "output.directory=run1"]``.

    Returns
    -------
    dict
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"command-line setting {item!r}: expected KEY=VALUE, e.g. md.steps=100")
        out[key] = value.strip()
    return out


def pair_key(a: str, b: str) -> tuple[str, str]:
    """Canonical order of an element pair: by atomic number, then symbol."""
    from ase.data import atomic_numbers

    return tuple(sorted((a, b), key=lambda s: (atomic_numbers.get(s, 0), s)))


def complete_lj_coeffs(coeffs: dict, mixing: str, elements) -> tuple[dict, list]:
    """Fill the cross pairs of a Lennard-Jones table from its like pairs.

    Parameters
    ----------
    coeffs : dict
        ``(A, B) -> {"epsilon", "sigma", "cutoff"}`` with canonical keys
        (:func:`pair_key`); given pairs are kept as they are.
    mixing : {"lorentz-berthelot", "geometric"}
        Lorentz–Berthelot: epsilon geometric, sigma and cutoff arithmetic;
        geometric: all three geometric (LAMMPS ``pair_modify mix``).
    elements : iterable of str
        Elements whose like pairs are all in ``coeffs``.

    Returns
    -------
    coeffs : dict
        A new table with every pair of ``elements``.
    mixed : list of tuple
        The pairs that were added.
    """
    out = dict(coeffs)
    mixed = []
    elements = list(elements)
    for i, a in enumerate(elements):
        for b in elements[i:]:
            key = pair_key(a, b)
            if key in out:
                continue
            ca, cb = coeffs[(a, a)], coeffs[(b, b)]
            eps = math.sqrt(ca["epsilon"] * cb["epsilon"])
            if mixing == "lorentz-berthelot":
                sig = 0.5 * (ca["sigma"] + cb["sigma"])
                rc = 0.5 * (ca["cutoff"] + cb["cutoff"])
            elif mixing == "geometric":
                sig = math.sqrt(ca["sigma"] * cb["sigma"])
                rc = math.sqrt(ca["cutoff"] * cb["cutoff"])
            else:
                raise ValueError(f"unknown mixing rule {mixing!r}")
            out[key] = {"epsilon": eps, "sigma": sig, "cutoff": rc}
            mixed.append(key)
    return out, mixed


# ---------------------------------------------------------------------- validation machinery
class _Context:
    """Error collection and naming for one deck."""

    def __init__(self, source: str, base_dir: Path):
        self.source = source
        self.base_dir = base_dir
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.overridden: set[str] = set()
        # (term index, canonical pair) -> the key as written, for messages.
        self.pair_names: dict = {}

    def name(self, dotted: str) -> str:
        if dotted in self.overridden:
            return f"{dotted} (set on the command line)"
        return dotted

    def error(self, dotted: str | None, message: str) -> None:
        self.errors.append(message if dotted is None else f"{self.name(dotted)}: {message}")

    def raise_if_errors(self) -> None:
        if not self.errors:
            return
        if len(self.errors) == 1:
            raise InputError(f"{self.source}: {self.errors[0]}")
        lines = "\n".join(f"  - {e}" for e in self.errors)
        raise InputError(f"{self.source}: {len(self.errors)} problems in the input deck:\n{lines}")


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_PATH_TOKEN = re.compile(r"^([A-Za-z0-9_-]+)(?:\[(\d+)\])?$")


def _join(where: str, key: str) -> str:
    key_text = key if _BARE_KEY.match(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{where}.{key_text}" if where else key_text


def _parse_path(dotted: str) -> list[tuple[str, int | None]]:
    tokens = []
    for part in dotted.split("."):
        m = _PATH_TOKEN.match(part.strip())
        if m is None:
            raise ValueError(dotted)
        tokens.append((m.group(1), None if m.group(2) is None else int(m.group(2))))
    return tokens


def _toml_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__  # TOML dates and times


def _toml_repr(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_repr(v) for v in value) + "]"
    if isinstance(value, float):
        return _num(value)
    return str(value)


def _num(x) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return f"{x:.1f}"
    return repr(x)


def _bound(x) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _short(value) -> str:
    text = _toml_repr(value) if not isinstance(value, dict) else "{...}"
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: str, options) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if not match and len(word) >= 3:
        # Abbreviations ("lorentz" for "lorentz-berthelot") score low in difflib.
        match = [o for o in options if o.lower().startswith(word.lower())][:1]
    if not match:
        lowered = {o.lower(): o for o in options}
        if word.lower() in lowered:
            match = [lowered[word.lower()]]
    return f" (did you mean {match[0]!r}?)" if match else ""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _coerce(value, key: Key):
    """Check the TOML type of ``value``; return (ok, normalised value)."""
    t = key.type
    if t == "bool":
        return isinstance(value, bool), value
    if t == "int":
        return _is_int(value), value
    if t == "float":
        if _is_int(value):
            return True, float(value)
        return isinstance(value, float), value
    if t in ("str", "path"):
        return isinstance(value, str), value
    if t == "table":
        return isinstance(value, dict), value
    if t in ("list[str]", "str|list[str]"):
        if t == "str|list[str]" and isinstance(value, str):
            return True, [value]
        return isinstance(value, list) and all(isinstance(v, str) for v in value), value
    if t in ("list[int]", "int|list[int]"):
        if t == "int|list[int]" and _is_int(value):
            return True, [value]
        return isinstance(value, list) and all(_is_int(v) for v in value), value
    if t == "list[float]":
        ok = isinstance(value, list) and all(_is_int(v) or isinstance(v, float) for v in value)
        return ok, [float(v) for v in value] if ok else value
    raise AssertionError(t)


def _type_error(value, key: Key) -> str:
    msg = f"expected {TYPES[key.type]}, got {_toml_type(value)} {_short(value)}"
    if key.type == "int" and isinstance(value, float) and value.is_integer():
        msg += f" (write {int(value)} without a decimal point)"
    elif key.type in ("float", "int") and isinstance(value, str) and _looks_numeric(value):
        msg += " (write numbers without quotes)"
    elif key.type == "bool" and isinstance(value, str) and value.lower() in ("true", "false"):
        msg += f" (write {value.lower()} without quotes)"
    elif key.type.startswith("list") and not isinstance(value, list):
        msg += " (write an array, e.g. [...])"
    return msg


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _in_range(x: float, key: Key) -> bool:
    if key.min is not None and (x < key.min or (x == key.min and not key.min_inclusive)):
        return False
    if key.max is not None and (x > key.max or (x == key.max and not key.max_inclusive)):
        return False
    return True


def _check_value(value, key: Key, dotted: str, ctx: _Context):
    """Check one value against its key; return the normalised value or None after an error."""
    ok, value = _coerce(value, key)
    if not ok:
        ctx.error(dotted, _type_error(value, key))
        return None
    numbers = value if isinstance(value, list) else [value]
    if key.type in ("float", "int", "list[int]", "int|list[int]", "list[float]"):
        for x in numbers:
            if isinstance(x, float) and math.isnan(x):
                ctx.error(dotted, "nan is not allowed")
                return None
            if not _in_range(x, key):
                unit = f" {key.unit}" if key.unit and key.unit not in ("steps", "frames") else ""
                ctx.error(dotted, f"must be {key.allowed_text()}{unit}, got {_short(x)}")
                return None
    if key.choices and value not in key.choices:
        hint = _suggest(value, key.choices) if isinstance(value, str) else ""
        ctx.error(dotted, f"{_short(value)} is not allowed{hint}; choose one of: {key.allowed_text()}")
        return None
    if (key.section, key.name) in _NONEMPTY and value.strip() == "":
        ctx.error(dotted, "must not be empty")
        return None
    if key.type == "path":
        value = _resolve_input_path(value, dotted, ctx)
    return value


def _resolve_input_path(value: str, dotted: str, ctx: _Context):
    p = Path(os.path.expanduser(value))
    if not p.is_absolute():
        # Command-line paths are typed relative to where the user stands.
        base = Path.cwd() if dotted in ctx.overridden else ctx.base_dir
        p = base / p
    p = Path(os.path.normpath(p))
    if not p.is_file():
        where = "the current directory" if dotted in ctx.overridden else "the deck's directory"
        what = "is a directory, not a file" if p.is_dir() else "file not found"
        ctx.error(dotted, f"{what}: {p} (from {value!r}; relative paths are taken from {where})")
        return None
    return str(p)


def _check_table(raw, section: str, where: str, ctx: _Context, schema=None) -> dict:
    """Check a table against the keys of ``section``; fill defaults.

    Keys with an error are set to None so later checks can skip them. ``schema`` is
    ``(sections, keys)`` of another deck kind (the training deck); default this module's.
    """
    if schema is None:
        keys = _keys_of(section)
        sec = _SECTION_BY_NAME[section]
    else:
        keys = {k.name: k for k in schema[1] if k.section == section}
        sec = next(s for s in schema[0] if s.name == section)
    if not isinstance(raw, dict):
        ctx.error(where, f"expected a table, got {_toml_type(raw)} {_short(raw)}")
        raw = {}
    out = {}
    for name, value in raw.items():
        dotted = _join(where, name)
        if name not in keys:
            ctx.error(dotted, f"unknown key in {sec.heading}{_suggest(name, keys)}. "
                      f"Valid keys: {', '.join(keys)}")
            continue
        out[name] = _check_value(value, keys[name], dotted, ctx)
    # Schema order, so every deck prints and serialises the same way.
    ordered = {}
    for name, key in keys.items():
        if name in out:
            ordered[name] = out[name]
        elif key.required:
            ctx.error(_join(where, name), f"missing required key ({TYPES[key.type]}"
                      f"{', ' + key.unit if key.unit else ''}): {_strip_md(key.description)}")
            ordered[name] = None
        else:
            ordered[name] = copy.deepcopy(key.default)
    return ordered


def _strip_md(text: str) -> str:
    return text.replace("`", "")


def _apply_overrides(raw: dict, overrides: dict, ctx: _Context) -> None:
    for dotted, value in overrides.items():
        try:
            tokens = _parse_path(str(dotted))
        except ValueError:
            raise InputError(f"command-line setting {dotted!r}: not a key path like md.steps "
                             "or pair[0].cutoff") from None
        canonical = ".".join(f"{n}[{i}]" if i is not None else n for n, i in tokens)
        if isinstance(value, str):
            value = _parse_override_value(tokens, value)
        node = raw
        walked = []
        for depth, (name, index) in enumerate(tokens):
            last = depth == len(tokens) - 1
            walked.append(name if index is None else f"{name}[{index}]")
            if not isinstance(node, dict):
                raise InputError(f"{ctx.source}: command-line setting {dotted}: "
                                 f"{'.'.join(walked[:-1])} is not a table")
            if index is None:
                if last:
                    node[name] = value
                else:
                    node = node.setdefault(name, {})
                continue
            seq = node.get(name)
            if not isinstance(seq, list) or index >= len(seq):
                have = len(seq) if isinstance(seq, list) else 0
                raise InputError(f"{ctx.source}: command-line setting {dotted}: the deck has {have} "
                                 f"{name!r} entr{'y' if have == 1 else 'ies'} (indices start at 0)")
            if last:
                seq[index] = value
            else:
                node = seq[index]
        ctx.overridden.add(canonical)


def _parse_override_value(tokens, text: str):
    top, key = tokens[0][0], tokens[-1][0]
    candidates = [k for k in KEYS if k.name == key and k.section.split(".")[0] == top]
    if not candidates or any(k.type in ("str", "path") for k in candidates):
        return text
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # reported as a type error by the schema check


# ---------------------------------------------------------------------- checks across keys
def _check_system(data: dict, ctx: _Context) -> None:
    fmt = data["system"]["format"]
    if fmt:
        from ase.io.formats import ioformats

        if fmt not in ioformats or not ioformats[fmt].can_read:
            readable = sorted(n for n, f in ioformats.items() if f.can_read)
            ctx.error("system.format", f"{fmt!r} is not a format ASE can read{_suggest(fmt, readable)}. "
                      f"Allowed: \"\" (guess from the file name) or one of: {', '.join(readable)}")
    groups = data.get("groups", {})
    for i, name in enumerate(data["system"]["frozen"] or []):
        if name not in groups:
            defined = ", ".join(groups) if groups else "none"
            ctx.error("system.frozen", f"group {name!r} is not defined in [groups]{_suggest(name, groups)}. "
                      f"Defined groups: {defined}")


def _check_groups(data: dict, ctx: _Context) -> None:
    from ase.data import chemical_symbols

    valid = set(chemical_symbols[1:])
    for name, spec in data.get("groups", {}).items():
        where = _join("groups", name)
        given = [k for k in ("tag", "indices", "elements") if spec.get(k) is not None]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            ctx.error(where, f"needs exactly one of tag, indices, elements; got {what} "
                      "(e.g. { tag = 1 }, { indices = [0, 1] }, { elements = [\"Na\"] })")
            continue
        for sym in spec.get("elements") or []:
            if sym not in valid:
                ctx.error(_join(where, "elements"), f"{sym!r} is not a chemical element symbol"
                          f"{_suggest(sym, chemical_symbols[1:])}")
        if given[0] != "tag" and not spec[given[0]]:
            ctx.error(_join(where, given[0]), "is empty; a group needs at least one atom")


def _check_md(data: dict, ctx: _Context, given: dict) -> None:
    md = data["md"]
    integ = md["integrator"]
    if integ in THERMOSTATS and md["temperature"] is None:
        ctx.error("md.temperature", f"missing: integrator {integ!r} needs a temperature in K "
                  "(required for langevin, csvr, nose-hoover)")
    if integ == "nose-hoover" and md["temperature"] is not None and md["temperature"] <= 0.0:
        ctx.error("md.temperature", "must be > 0 K for nose-hoover (its thermostat masses scale with T)")
    used_by = {"temperature": THERMOSTATS, "friction": ("langevin",), "tau": ("csvr", "nose-hoover"),
               "chain": ("nose-hoover",)}
    for key, integrators in used_by.items():
        if key in given.get("md", ()) and integ not in integrators:
            ctx.warnings.append(f"{ctx.source}: md.{key} is ignored with integrator {integ!r} "
                                f"(used by: {', '.join(integrators)})")


def _check_pair_terms(data: dict, ctx: _Context) -> None:
    """Per-style coefficient names and values, pair names, cutoffs (no structure needed)."""
    from ase.data import chemical_symbols

    valid = set(chemical_symbols[1:])
    for t, term in enumerate(data.get("pair", [])):
        where = f"pair[{t}]"
        style = term["style"]
        if style != "lj" and term["mixing"] != "none":
            ctx.error(f"{where}.mixing", f"mixing is only for style \"lj\"; style {style!r} allows: \"none\"")
        coeffs = {}
        for name, value in (term["coeffs"] or {}).items():
            cwhere = _join(f"{where}.coeffs", name)
            parts = [p.strip() for p in name.split("-")]
            if len(parts) != 2 or not all(parts):
                ctx.error(cwhere, "a pair is written \"A-B\" with two element symbols, e.g. \"Ar-Ar\"")
                continue
            bad = [p for p in parts if p not in valid]
            for p in bad:
                ctx.error(cwhere, f"{p!r} is not a chemical element symbol{_suggest(p, chemical_symbols[1:])}")
            if bad:
                continue
            key = pair_key(*parts)
            checked = _check_table(value, f"pair.coeffs.{style}", cwhere, ctx)
            if key in coeffs:
                ctx.error(cwhere, f"the pair {key[0]}-{key[1]} is given twice (as {coeffs[key][0]!r} and {name!r})")
                continue
            if checked["cutoff"] is None:
                checked["cutoff"] = term["cutoff"]
            elif checked["cutoff"] > term["cutoff"]:
                # The neighbour list is built for the term's cutoff, so a longer
                # pair cutoff would silently lose pairs.
                ctx.error(_join(cwhere, "cutoff"), f"{checked['cutoff']} Å is longer than the term's cutoff "
                          f"{where}.cutoff = {term['cutoff']} Å; allowed: > 0 and <= {term['cutoff']}")
            coeffs[key] = (name, checked)
            ctx.pair_names[(t, key)] = name
        term["coeffs"] = {k: v for k, (_, v) in coeffs.items()}
        term["mixed"] = []


def _check_pairs_against_structure(data: dict, atoms, structure: str, ctx: _Context) -> None:
    from ase.data import atomic_numbers

    present = sorted(set(atoms.get_chemical_symbols()), key=lambda s: (atomic_numbers.get(s, 0), s))
    present_text = ", ".join(present)
    for t, term in enumerate(data.get("pair", [])):
        where = f"pair[{t}].coeffs"
        coeffs = term["coeffs"]
        for a, b in coeffs:
            for el in dict.fromkeys((a, b)):
                if el not in present:
                    written = ctx.pair_names.get((t, (a, b)), f"{a}-{b}")
                    ctx.error(_join(where, written), f"element {el} is not in the structure {structure} "
                              f"(elements present: {present_text}); remove this pair")
        mixing = term["mixing"]
        if term["style"] == "lj" and mixing != "none":
            like_missing = [e for e in present if (e, e) not in coeffs]
            for e in like_missing:
                ctx.error(where, f"mixing = {mixing!r} needs the like pair '{e}-{e}'; elements present: "
                          f"{present_text}")
            if like_missing:
                continue
            term["coeffs"], term["mixed"] = complete_lj_coeffs(coeffs, mixing, present)
            continue
        hint = "set mixing or add" if term["style"] == "lj" else "add"
        for i, a in enumerate(present):
            for b in present[i:]:
                if (a, b) not in coeffs:
                    ctx.error(where, f"no coefficients for {a}-{b}; elements present: {present_text}; "
                              f"{hint} '{a}-{b}'")


def _check_model(data: dict, ctx: _Context, given: dict) -> None:
    m = data["model"]
    if "model" not in given:
        return
    if (m["path"] is None) == (m["n2p2"] is None):
        ctx.error("model", "needs exactly one of path (an echemmd model file) and n2p2 (an n2p2 directory)")
        return
    if m["n2p2"] is not None:
        p = Path(os.path.expanduser(m["n2p2"]))
        if not p.is_absolute():
            p = (Path.cwd() if "model.n2p2" in ctx.overridden else ctx.base_dir) / p
        p = Path(os.path.normpath(p))
        if not p.is_dir():
            ctx.error("model.n2p2", f"directory not found: {p}")
            return
        m["n2p2"] = str(p)
    elif "length_unit" in given["model"] or "energy_unit" in given["model"]:
        ctx.warnings.append(f"{ctx.source}: model.length_unit and model.energy_unit apply to n2p2 models only; "
                            "an echemmd model file is in Å and eV")


def _check_electrostatics(data: dict, ctx: _Context, given: dict) -> None:
    es = data["electrostatics"]
    if "electrostatics" in given and "method" not in given["electrostatics"]:
        es["method"] = "ewald"
    for el, width in (es["sigma"] or {}).items():
        if not isinstance(width, (int, float)) or isinstance(width, bool) or width < 0:
            ctx.error(_join("electrostatics.sigma", el), f"must be a width >= 0 Å, got {_short(width)}")
    sw = es["switch"]
    if sw is not None:
        keys = set(sw)
        if keys != {"r_on", "r_off"}:
            ctx.error("electrostatics.switch", f"needs exactly the keys r_on and r_off (Å), got {sorted(keys)}")
        elif not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sw.values()):
            ctx.error("electrostatics.switch", "r_on and r_off must be numbers (Å)")
        elif not (0.0 <= sw["r_on"] < sw["r_off"]):
            ctx.error("electrostatics.switch", f"needs 0 <= r_on < r_off, got r_on = {sw['r_on']}, "
                      f"r_off = {sw['r_off']}")
        elif es["r_cut"] is not None and es["r_cut"] < sw["r_off"]:
            ctx.error("electrostatics.r_cut", f"{es['r_cut']} Å is below switch.r_off = {sw['r_off']} Å; "
                      "the real-space sum must include every switched pair")


def _check_electrostatics_against_structure(data: dict, atoms, structure: str, ctx: _Context) -> None:
    es = data["electrostatics"]
    if es["method"] == "none":
        return
    present = sorted(set(atoms.get_chemical_symbols()))
    for el in es["sigma"] or {}:
        if el not in present:
            ctx.error(_join("electrostatics.sigma", el), f"element {el} is not in the structure {structure} "
                      f"(elements present: {', '.join(present)})")
    pbc = tuple(bool(p) for p in atoms.pbc)
    if pbc not in ((True, True, True), (True, True, False)):
        ctx.error("electrostatics.method", f"Ewald needs a periodic structure: pbc (T, T, T), or (T, T, F) "
                  f"for a slab; {structure} has pbc {pbc}")
    elif pbc == (True, True, False):
        cell = atoms.cell.array
        if abs(cell[0, 2]) > 1e-8 or abs(cell[1, 2]) > 1e-8 or abs(cell[2, 0]) > 1e-8 or abs(cell[2, 1]) > 1e-8:
            ctx.error("electrostatics.method", f"a slab needs a and b in the xy plane and c along z; the cell "
                      f"of {structure} is {cell.round(6).tolist()}")


def _check_charges(data: dict, ctx: _Context) -> None:
    electrodes = data.get("electrode", [])
    qeq = data["charges"]["qeq"] or {}
    if (electrodes or qeq) and data["electrostatics"]["method"] == "none":
        what = "[[electrode]]" if electrodes else "charges.qeq"
        ctx.error("electrostatics.method", f"{what} needs electrostatics: add [electrostatics] with "
                  'method = "ewald"')
    names = set()
    groups = data.get("groups", {})
    for k, e in enumerate(electrodes):
        where = f"electrode[{k}]"
        given = [key for key in ("tag", "indices", "group") if e.get(key) is not None]
        if len(given) != 1:
            ctx.error(where, f"needs exactly one of tag, indices, group; got {' and '.join(given) or 'none'}")
        if e["name"] in names:
            ctx.error(f"{where}.name", f"electrode name {e['name']!r} is used twice")
        names.add(e["name"])
        if e.get("group") is not None and e["group"] not in groups:
            ctx.error(f"{where}.group", f"group {e['group']!r} is not defined in [groups]{_suggest(e['group'], groups)}")
    for el, spec in qeq.items():
        where = _join("charges.qeq", el)
        if not isinstance(spec, dict) or set(spec) != {"chi", "J", "sigma"}:
            got = sorted(spec) if isinstance(spec, dict) else _toml_type(spec)
            ctx.error(where, f"needs exactly the keys chi (eV/e), J (eV/e^2), sigma (Å); got {got}")
            continue
        if not all(_is_int(v) or isinstance(v, float) for v in spec.values()):
            ctx.error(where, "chi, J and sigma must be numbers")
        elif spec["J"] < 0 or spec["sigma"] <= 0:
            ctx.error(where, f"needs J >= 0 eV/e^2 and sigma > 0 Å; got J = {spec['J']}, sigma = {spec['sigma']}")
    if len(data["field"]["E"]) != 3:
        ctx.error("field.E", f"needs 3 numbers (V/Å), got {len(data['field']['E'])}")


def _check_charges_against_structure(data: dict, atoms, structure: str, ctx: _Context) -> None:
    present = sorted(set(atoms.get_chemical_symbols()))
    for el in data["charges"]["qeq"] or {}:
        if el not in present:
            ctx.error(_join("charges.qeq", el), f"element {el} is not in the structure {structure} "
                      f"(elements present: {', '.join(present)})")
    n = len(atoms)
    tags = set(int(t) for t in atoms.get_tags())
    for k, e in enumerate(data.get("electrode", [])):
        if e.get("indices") is not None:
            bad = [i for i in e["indices"] if i >= n]
            if bad:
                ctx.error(f"electrode[{k}].indices", f"index {bad[0]} is out of range: {structure} has {n} atoms "
                          f"(allowed 0 .. {n - 1})")
        if e.get("tag") is not None:
            missing = [t for t in e["tag"] if t not in tags]
            if missing:
                ctx.error(f"electrode[{k}].tag", f"no atom of {structure} has tag {missing[0]}; tags present: "
                          f"{', '.join(str(t) for t in sorted(tags))}")
    pbc = tuple(bool(p) for p in atoms.pbc)
    for axis, value in enumerate(data["field"]["E"][:3]):
        if value != 0.0 and pbc[axis]:
            ctx.error("field.E", f"component {'xyz'[axis]} = {value} V/Å lies along a periodic direction of "
                      f"{structure} (pbc {pbc}); a uniform field is allowed only along non-periodic directions")


# Checks across keys, run after every key has its type: (function, needs `given`).
_DECK_CHECKS: list[tuple[Callable, bool]] = [
    (_check_system, False),
    (_check_groups, False),
    (_check_md, True),
    (_check_pair_terms, False),
    (_check_model, True),
    (_check_electrostatics, True),
    (_check_charges, False),
]


def _validate(raw: dict, ctx: _Context, overrides: dict | None, path: Path | None) -> Deck:
    raw = copy.deepcopy(raw)
    if overrides:
        _apply_overrides(raw, overrides, ctx)
    given = {k: set(v) if isinstance(v, dict) else set() for k, v in raw.items()}

    top = [s for s in SECTIONS if s.top_level]
    names = [s.name for s in top]
    for name in raw:
        if name not in names:
            ctx.error(None, f"unknown section [{name}]{_suggest(name, names)}. "
                      f"Valid sections: {', '.join(names)}")

    data: dict = {}
    for sec in top:
        value = raw.get(sec.name)
        if value is None and sec.required:
            ctx.error(None, f"missing required section {sec.heading}")
        if sec.kind == "table":
            data[sec.name] = _check_table({} if value is None else value, sec.name, sec.name, ctx)
        elif sec.kind == "array":
            if value is None:
                value = []
            if isinstance(value, dict):
                ctx.error(sec.name, f"write [[{sec.name}]] (an array of tables), not [{sec.name}]")
                value = []
            elif not isinstance(value, list):
                ctx.error(sec.name, f"expected an array of tables [[{sec.name}]], got {_toml_type(value)}")
                value = []
            data[sec.name] = [_check_table(item, sec.name, f"{sec.name}[{i}]", ctx) for i, item in enumerate(value)]
        elif sec.kind == "map":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                ctx.error(sec.name, f"expected a table, got {_toml_type(value)}")
                value = {}
            data[sec.name] = {k: _check_table(v, sec.item, _join(sec.name, k), ctx) for k, v in value.items()}
    ctx.raise_if_errors()

    for check, wants_given in _DECK_CHECKS:
        if wants_given:
            check(data, ctx, given)
        else:
            check(data, ctx)
    ctx.raise_if_errors()

    from echemmd.io.structure import read_structure

    structure = data["system"]["structure"]
    try:
        atoms = read_structure(structure, data["system"]["format"] or None)
    except InputError as exc:
        raise InputError(f"{ctx.source}: system.structure: {exc}") from None
    _check_pairs_against_structure(data, atoms, structure, ctx)
    _check_electrostatics_against_structure(data, atoms, structure, ctx)
    _check_charges_against_structure(data, atoms, structure, ctx)
    ctx.raise_if_errors()

    notes = []
    if data["system"]["temperature"] is not None and atoms.has("momenta"):
        ctx.warnings.append(f"{ctx.source}: system.temperature is set, so the velocities in {structure} "
                            "are replaced by Maxwell–Boltzmann velocities")
    if data["md"]["seed"] is None:
        # A drawn seed is still recorded, so every run can be repeated exactly.
        data["md"]["seed"] = secrets.randbits(32)
        notes.append(f"md.seed is not set: drew seed {data['md']['seed']} "
                     f"(set md.seed = {data['md']['seed']} to repeat this run)")
    return Deck(path=path, directory=ctx.base_dir, source=ctx.source, data=data,
                warnings=list(ctx.warnings), notes=notes, atoms=atoms)


# ---------------------------------------------------------------------- documentation
GENERATED_BEGIN = "<!-- BEGIN GENERATED KEY REFERENCE: python -m echemmd.io.deck --write-docs docs/input.md -->"
GENERATED_END = "<!-- END GENERATED KEY REFERENCE -->"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def schema_markdown() -> str:
    """Key reference in Markdown, generated from :data:`SECTIONS` and :data:`KEYS`.

    Returns
    -------
    str
        One heading, paragraph and table per section.
    """
    lines = []
    for sec in SECTIONS:
        keys = [k for k in KEYS if k.section == sec.name]
        req = " (required)" if sec.required else ""
        lines.append(f"### {sec.doc_title or '`' + sec.heading + '`'}{req}")
        lines.append("")
        if sec.description:
            lines.append(sec.description)
            lines.append("")
        if not keys:
            continue
        lines.append("| key | type | unit | default | allowed | description |")
        lines.append("|---|---|---|---|---|---|")
        for k in keys:
            if k.doc_default is not None:
                default = k.doc_default
            elif k.required:
                default = "**required**"
            else:
                default = f"`{_toml_repr(k.default)}`"
            allowed = k.allowed_text()
            cells = [f"`{k.name}`", TYPES[k.type], k.unit, default, allowed, k.description]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def update_docs(path) -> bool:
    """Rewrite the generated part of ``docs/input.md``.

    Parameters
    ----------
    path : str or path-like
        The Markdown file; it must contain :data:`GENERATED_BEGIN` and :data:`GENERATED_END`.

    Returns
    -------
    bool
        Whether the file changed.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new = _replace_generated(text, schema_markdown())
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def _replace_generated(text: str, generated: str) -> str:
    head, sep1, rest = text.partition(GENERATED_BEGIN)
    _, sep2, tail = rest.partition(GENERATED_END)
    if not sep1 or not sep2:
        raise ValueError("the file lacks the generated-section markers")
    return f"{head}{GENERATED_BEGIN}\n\n{generated}\n{GENERATED_END}{tail}"


def _main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m echemmd.io.deck", description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", metavar="FILE", help="rewrite the key reference in FILE (docs/input.md)")
    parser.add_argument("deck", nargs="?", help="deck to validate")
    args = parser.parse_args(argv)
    if args.write_docs:
        changed = update_docs(args.write_docs)
        print(f"{args.write_docs}: {'updated' if changed else 'up to date'}")
    if args.deck:
        try:
            deck = load_deck(args.deck)
        except InputError as exc:
            print(exc, file=sys.stderr)
            return 2
        for line in deck.warnings + deck.notes:
            print(line)
        print(f"{args.deck}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(_main())

"""Structures through ASE, and the :class:`~echemmd.system.System` a deck describes.

Any format ASE reads is accepted (DESIGN.md §8); extended XYZ is the default.
Problems raise :class:`echemmd.errors.InputError` naming the file and, for
deck-driven problems, the deck key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from echemmd.errors import InputError
from echemmd.system import System

if TYPE_CHECKING:  # pragma: no cover
    from echemmd.io.deck import Deck

__all__ = ["build_system", "check_cell", "read_structure", "resolve_groups"]

_AXES = "abc"


def read_structure(path, format: str | None = None):
    """Read one structure with ASE and check that it can be simulated.

    Parameters
    ----------
    path : str or path-like
        Structure file. From a file with several frames the last one is read
        (ASE's default).
    format : str, optional
        ASE format name; None or ``""`` lets ASE guess from the file name.

    Returns
    -------
    ase.Atoms

    Raises
    ------
    echemmd.errors.InputError
        The file is missing, ASE cannot read it (ASE's message is included),
        it holds no atoms, an atom has no chemical element (ASE's dummy ``X``
        or an unknown symbol), or a position is not finite.
    """
    import ase.io
    from ase.data import chemical_symbols

    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "file not found"
        raise InputError(f"structure {what}: {path}")
    fmt = f" as format {format!r}" if format else ""
    try:
        atoms = ase.io.read(str(path), format=format or None)
    except Exception as exc:  # ASE raises whatever its parsers raise (ValueError, KeyError, StopIteration, ...)
        detail = str(exc) or "(no message)"
        raise InputError(f"{path}: ASE cannot read this structure{fmt}: {type(exc).__name__}: {detail}") from exc
    if isinstance(atoms, list):  # some readers return a list even for one index
        if not atoms:
            raise InputError(f"{path}: the file holds no structure")
        atoms = atoms[-1]
    if len(atoms) == 0:
        raise InputError(f"{path}: the structure has no atoms")
    numbers = atoms.numbers
    bad = np.flatnonzero((numbers <= 0) | (numbers >= len(chemical_symbols)))
    if bad.size:
        i = int(bad[0])
        symbols = atoms.get_chemical_symbols()
        raise InputError(f"{path}: atom {i} has no chemical element (symbol {symbols[i]!r}, atomic number "
                         f"{int(numbers[i])}); {bad.size} atom(s) like this. Every atom needs a real element "
                         "symbol (for masses and force-field parameters)")
    pos = atoms.positions
    if not np.all(np.isfinite(pos)):
        i = int(np.flatnonzero(~np.isfinite(pos).all(axis=1))[0])
        raise InputError(f"{path}: atom {i} has a non-finite position {pos[i].tolist()}")
    return atoms


def check_cell(atoms, source: str) -> None:
    """Check that the cell supports the periodic directions.

    When any direction is periodic, all three cell vectors must be set and
    independent: fractional coordinates and the volume use the whole cell
    (for a slab, the c vector is the height including the vacuum).

    Parameters
    ----------
    atoms : ase.Atoms
    source : str
        File name for messages.

    Raises
    ------
    echemmd.errors.InputError
    """
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if not pbc.any():
        return
    cell = np.asarray(atoms.cell.array, dtype=float)
    pbc_text = " ".join("T" if p else "F" for p in pbc)
    if not np.all(np.isfinite(cell)):
        raise InputError(f"{source}: the cell has non-finite entries: {cell.tolist()}")
    lengths = np.linalg.norm(cell, axis=1)
    for k in range(3):
        if lengths[k] == 0.0:
            role = "the structure is periodic along it" if pbc[k] else (
                "with any periodic direction the cell still needs it (e.g. the vacuum height of a slab)")
            raise InputError(f"{source}: cell vector {_AXES[k]} is zero but pbc = {pbc_text}; {role}. "
                             "Set the cell (extxyz: Lattice=\"...\") or make the structure non-periodic")
    # Scale-free test: the volume relative to the box the three lengths span.
    ratio = abs(np.linalg.det(cell)) / float(np.prod(lengths))
    if ratio < 1e-6:
        raise InputError(f"{source}: the cell is degenerate (its vectors are nearly linearly dependent, "
                         f"volume {abs(np.linalg.det(cell)):.3g} Å^3) with pbc = {pbc_text}; "
                         f"cell = {np.round(cell, 6).tolist()}")


def resolve_groups(atoms, groups: dict, source: str, where: str = "groups") -> dict:
    """Turn group definitions into sorted index arrays.

    Parameters
    ----------
    atoms : ase.Atoms
    groups : dict
        name -> ``{"tag": list[int] | None, "indices": list[int] | None,
        "elements": list[str] | None}`` with exactly one entry set (as in a
        validated :class:`~echemmd.io.deck.Deck`).
    source : str
        Structure file name for messages.
    where : str
        Prefix of the key in messages.

    Returns
    -------
    dict of str to ndarray of int64
        Sorted unique atom indices per group.

    Raises
    ------
    echemmd.errors.InputError
        Naming the group and each index out of range, tag not present or
        element not present; all problems at once.
    """
    n = len(atoms)
    tags = atoms.get_tags()
    symbols = np.array(atoms.get_chemical_symbols())
    errors = []
    out = {}
    for name, spec in groups.items():
        key = f"{where}.{name}"
        if spec.get("tag") is not None:
            present = np.unique(tags)
            missing = [t for t in spec["tag"] if t not in present]
            if missing:
                errors.append(f"{key}.tag: no atom in {source} has tag {', '.join(map(str, missing))} "
                              f"(tags present: {', '.join(map(str, present.tolist()))})")
                continue
            idx = np.flatnonzero(np.isin(tags, spec["tag"]))
        elif spec.get("indices") is not None:
            idx = np.asarray(spec["indices"], dtype=np.int64)
            bad = idx[(idx < 0) | (idx >= n)]
            if bad.size:
                errors.append(f"{key}.indices: index {', '.join(map(str, bad.tolist()))} out of range: "
                              f"{source} has {n} atoms (indices 0 to {n - 1})")
                continue
        elif spec.get("elements") is not None:
            present = sorted(set(symbols.tolist()))
            missing = [e for e in spec["elements"] if e not in present]
            if missing:
                errors.append(f"{key}.elements: no {', '.join(missing)} atom in {source} "
                              f"(elements present: {', '.join(present)})")
                continue
            idx = np.flatnonzero(np.isin(symbols, spec["elements"]))
        else:
            errors.append(f"{key}: needs exactly one of tag, indices, elements")
            continue
        out[name] = np.unique(idx).astype(np.int64)
    if errors:
        raise InputError("\n".join(errors) if len(errors) == 1 else
                         f"{len(errors)} problems with groups:\n" + "\n".join(f"  - {e}" for e in errors))
    return out


def build_system(deck: "Deck") -> System:
    """Build the :class:`~echemmd.system.System` a deck describes.

    Reads the structure (or reuses the one :func:`~echemmd.io.deck.load_deck`
    read), resolves the groups, freezes the atoms of the groups named in
    ``system.frozen`` (their velocities are set to zero) and checks the cell.
    Charges come from ASE's ``initial_charges``, velocities from the file's
    momenta (zero when absent). Maxwell–Boltzmann velocities for
    ``system.temperature`` are *not* drawn here: they need the run's random
    stream (``md.seed``).

    Parameters
    ----------
    deck : echemmd.io.deck.Deck

    Returns
    -------
    System

    Raises
    ------
    echemmd.errors.InputError
        Naming the deck, the key and the structure file.
    """
    sysdeck = deck["system"]
    path = sysdeck["structure"]
    atoms = deck.atoms.copy() if getattr(deck, "atoms", None) is not None else None
    try:
        if atoms is None:
            atoms = read_structure(path, sysdeck["format"] or None)
        check_cell(atoms, path)
    except InputError as exc:
        raise InputError(f"{deck.source}: system.structure: {exc}") from None
    try:
        groups = resolve_groups(atoms, deck["groups"], path)
    except InputError as exc:
        raise InputError(f"{deck.source}: {exc}") from None

    frozen = np.zeros(len(atoms), dtype=bool)
    for name in sysdeck["frozen"]:
        frozen[groups[name]] = True
    if frozen.all():
        raise InputError(f"{deck.source}: system.frozen: groups {', '.join(sysdeck['frozen'])} freeze all "
                         f"{len(atoms)} atoms of {path}; nothing would move")
    system = System.from_atoms(atoms, groups=groups, frozen=np.flatnonzero(frozen))
    system.velocities[system.frozen] = 0.0
    return system

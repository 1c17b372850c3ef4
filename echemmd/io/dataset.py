"""Reference data sets: labelled frames in extended XYZ, as ASE writes them (DESIGN §8).

Each frame carries what a reference method computed for it: the energy (eV), forces
(eV/Å), optionally the stress (eV/Å^3, ASE's sign: sigma = (1/V) dE/d eps), atomic
charges (e) and the total charge (``total_charge`` in the frame's info line, e; default
the sum of the charges, else 0). Frames may differ in atom count, elements and cell.

    frames = read_dataset("train.extxyz")
    frames[0].energy, frames[0].forces, frames[0].stress

Nothing is evaluated or unpickled: the text is parsed by ASE's extxyz reader.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echemmd.errors import InputError

__all__ = ["Frame", "read_dataset", "write_dataset", "file_digest"]


@dataclass
class Frame:
    """One labelled structure.

    Attributes
    ----------
    symbols : list of str (N,)
    numbers : int64 (N,)
    positions : float64 (N, 3)
        Å.
    cell : float64 (3, 3)
        Cell vectors as rows, Å.
    pbc : bool (3,)
    energy : float
        Reference energy, eV.
    forces : float64 (N, 3) or None
        Reference forces, eV/Å.
    stress : float64 (3, 3) or None
        Reference stress, eV/Å^3 (ASE convention, (1/V) dE/d eps; positive under tension).
    charges : float64 (N,) or None
        Reference atomic charges, e.
    total_charge : float
        Net charge of the frame, e.
    source : str
        ``file:index`` for messages.
    """

    symbols: list
    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    energy: float
    forces: np.ndarray | None
    stress: np.ndarray | None
    charges: np.ndarray | None
    total_charge: float
    source: str

    @property
    def n_atoms(self) -> int:
        return len(self.symbols)

    @property
    def volume(self) -> float:
        """Cell volume, Å^3 (0 for a cell that spans no volume)."""
        return float(abs(np.linalg.det(self.cell)))

    def to_system(self):
        """An :class:`echemmd.system.System` of the frame (charges: the reference ones or zero)."""
        from ase.data import atomic_masses

        from echemmd.system import System

        n = self.n_atoms
        return System(symbols=list(self.symbols), numbers=self.numbers.copy(),
                      masses=atomic_masses[self.numbers].copy(), positions=self.positions.copy(),
                      velocities=np.zeros((n, 3)),
                      charges=np.zeros(n) if self.charges is None else self.charges.copy(),
                      cell=self.cell.copy(), pbc=self.pbc.copy(), tags=np.zeros(n, dtype=np.int64),
                      frozen=np.zeros(n, dtype=bool))


def file_digest(path) -> str:
    """SHA-256 of a file's bytes (hex): identifies a data set for descriptor caches."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _results(atoms):
    """(energy, forces, stress, charges) that ASE attached to a frame, or None where absent."""
    calc = atoms.calc
    results = getattr(calc, "results", {}) if calc is not None else {}
    energy = results.get("energy", atoms.info.get("energy"))
    forces = results.get("forces", atoms.arrays.get("forces"))
    stress = results.get("stress", atoms.info.get("stress"))
    charges = results.get("charges")
    for key in ("charges", "charge", "initial_charges"):
        if charges is None and key in atoms.arrays and (key != "initial_charges" or np.any(atoms.arrays[key])):
            charges = atoms.arrays[key]
    return energy, forces, stress, charges


def read_dataset(path, format: str | None = None, require_forces: bool = False) -> list:
    """Read every frame of a labelled data set.

    Parameters
    ----------
    path : str or path-like
        Extended XYZ file (or any format ASE reads with energies and forces attached).
    format : str, optional
        ASE format name; default from the file name.
    require_forces : bool
        Refuse frames without forces.

    Returns
    -------
    list of Frame

    Raises
    ------
    echemmd.errors.InputError
        Missing file, unreadable file, no frames, a frame without an energy (or forces
        when required), non-finite labels, shapes that do not match the atom count.
    """
    import ase.io
    from ase.stress import voigt_6_to_full_3x3_stress

    path = Path(path)
    if not path.is_file():
        raise InputError(f"data set not found: {path}")
    try:
        images = ase.io.read(str(path), index=":", format=format or None)
    except Exception as exc:  # ASE's parsers raise many exception types
        raise InputError(f"{path}: ASE cannot read this data set: {type(exc).__name__}: {exc}") from exc
    if not images:
        raise InputError(f"{path}: the data set holds no frames")
    frames = []
    for k, atoms in enumerate(images):
        where = f"{path}: frame {k}"
        n = len(atoms)
        if n == 0:
            raise InputError(f"{where}: no atoms")
        energy, forces, stress, charges = _results(atoms)
        if energy is None:
            raise InputError(f"{where}: no energy (write it as energy=... in the comment line, as ASE does)")
        energy = float(energy)
        if not np.isfinite(energy):
            raise InputError(f"{where}: the energy is not finite ({energy})")
        if forces is not None:
            forces = np.array(forces, dtype=np.float64)
            if forces.shape != (n, 3):
                raise InputError(f"{where}: forces have shape {forces.shape}, expected ({n}, 3)")
            if not np.all(np.isfinite(forces)):
                bad = int(np.flatnonzero(~np.isfinite(forces).all(axis=1))[0])
                raise InputError(f"{where}: atom {bad} has a non-finite force {forces[bad].tolist()}")
        elif require_forces:
            raise InputError(f"{where}: no forces (a forces column is needed)")
        if stress is not None:
            stress = np.asarray(stress, dtype=np.float64)
            if stress.shape == (6,):
                stress = voigt_6_to_full_3x3_stress(stress)
            elif stress.shape == (9,):
                stress = stress.reshape(3, 3)
            if stress.shape != (3, 3) or not np.all(np.isfinite(stress)):
                raise InputError(f"{where}: stress must be 6 (Voigt) or 9 finite numbers, got {stress.tolist()}")
            if not np.all(atoms.pbc):
                raise InputError(f"{where}: a stress is given for a cell that is not periodic in all directions")
        if charges is not None:
            charges = np.array(charges, dtype=np.float64).reshape(n)
        if "total_charge" in atoms.info:
            total = float(atoms.info["total_charge"])
        else:
            total = float(np.round(charges.sum(), 6)) if charges is not None else 0.0
        bad = np.flatnonzero(atoms.numbers <= 0)
        if bad.size:
            raise InputError(f"{where}: atom {int(bad[0])} has no chemical element")
        frames.append(Frame(symbols=atoms.get_chemical_symbols(), numbers=np.asarray(atoms.numbers, dtype=np.int64),
                            positions=np.array(atoms.positions, dtype=np.float64),
                            cell=np.array(atoms.cell.array, dtype=np.float64), pbc=np.array(atoms.pbc, dtype=bool),
                            energy=energy, forces=forces, stress=stress, charges=charges, total_charge=total,
                            source=f"{path.name}:{k}"))
    return frames


def write_dataset(path, frames, provenance: dict | None = None, append: bool = False) -> Path:
    """Write frames as extended XYZ with energy, forces, stress, charges and total_charge.

    Parameters
    ----------
    path : str or path-like
    frames : iterable of Frame
    provenance : dict, optional
        Written into every frame's info line (method, version, settings, ...).
    append : bool
        Add to the end of an existing file (frames labelled one at a time survive a crash).
    """
    import ase.io
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    images = []
    for fr in frames:
        atoms = Atoms(numbers=fr.numbers, positions=fr.positions, cell=fr.cell, pbc=fr.pbc)
        results = {"energy": fr.energy}
        if fr.forces is not None:
            results["forces"] = fr.forces
        if fr.stress is not None:
            s = fr.stress
            results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        if fr.charges is not None:
            results["charges"] = np.asarray(fr.charges, dtype=np.float64)
        atoms.info["total_charge"] = float(fr.total_charge)
        for k, v in (provenance or {}).items():
            atoms.info[str(k)] = str(v)
        atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    path = Path(path)
    ase.io.write(str(path), images, format="extxyz", append=append)
    return path

"""The state of the atoms: what an integrator moves and an output writes.

Positions are kept *unwrapped* (continuous in time): the neighbour list stores
image shifts relative to these positions, so atoms are never folded back into
the cell during a run. Writers wrap them when they need to (see
:meth:`System.wrapped_positions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from echemmd.errors import InputError


@dataclass
class System:
    """Atoms, their cell and their per-atom data.

    Attributes
    ----------
    symbols : list of str, (N,)
        Chemical symbols.
    numbers : ndarray of int, (N,)
        Atomic numbers.
    masses : ndarray, (N,)
        Masses in amu.
    positions : ndarray, (N, 3)
        Positions in Å (unwrapped).
    velocities : ndarray, (N, 3)
        Velocities in Å/fs.
    charges : ndarray, (N,)
        Charges in e.
    cell : ndarray, (3, 3)
        Cell vectors as rows, Å.
    pbc : ndarray of bool, (3,)
        Periodicity along each cell vector.
    tags : ndarray of int, (N,)
        Integer tags (ASE ``tags``), used to define groups.
    frozen : ndarray of bool, (N,)
        Atoms that never move (zero velocity, no degrees of freedom).
    groups : dict of str to ndarray of int
        Named index groups.
    """

    symbols: list
    numbers: np.ndarray
    masses: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    charges: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    tags: np.ndarray
    frozen: np.ndarray
    groups: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.symbols)
        self.symbols = list(self.symbols)
        self.numbers = np.ascontiguousarray(self.numbers, dtype=np.int64).reshape(n)
        self.masses = np.ascontiguousarray(self.masses, dtype=np.float64).reshape(n)
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float64).reshape(n, 3)
        self.velocities = np.ascontiguousarray(self.velocities, dtype=np.float64).reshape(n, 3)
        self.charges = np.ascontiguousarray(self.charges, dtype=np.float64).reshape(n)
        self.cell = np.ascontiguousarray(self.cell, dtype=np.float64).reshape(3, 3)
        self.pbc = np.asarray(self.pbc, dtype=bool).reshape(3)
        self.tags = np.ascontiguousarray(self.tags, dtype=np.int64).reshape(n)
        self.frozen = np.ascontiguousarray(self.frozen, dtype=bool).reshape(n)
        self.groups = {k: np.asarray(v, dtype=np.int64) for k, v in self.groups.items()}
        if np.any(self.masses <= 0.0):
            i = int(np.argmin(self.masses))
            raise InputError(f"atom {i} ({self.symbols[i]}) has mass {self.masses[i]} amu; masses must be > 0")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_atoms(cls, atoms, groups=None, frozen=None) -> "System":
        """Build a System from an ASE ``Atoms``.

        Charges come from ASE's ``initial_charges`` column, velocities from its
        momenta (converted to Å/fs), masses from ASE's data unless the file set them.
        """
        from ase import units as ase_units

        n = len(atoms)
        masses = atoms.get_masses()
        # ASE velocities are in Å / (ASE time unit); convert to Å/fs.
        velocities = atoms.get_velocities() * ase_units.fs if atoms.has("momenta") else np.zeros((n, 3))
        frozen_mask = np.zeros(n, dtype=bool)
        if frozen is not None:
            frozen_mask[np.asarray(frozen, dtype=np.int64)] = True
        return cls(
            symbols=atoms.get_chemical_symbols(),
            numbers=atoms.numbers,
            masses=masses,
            # Copies: a run must not move the caller's Atoms (nor the Atoms the System).
            positions=atoms.positions.copy(),
            velocities=velocities,
            charges=atoms.get_initial_charges(),
            cell=atoms.cell.array.copy(),
            pbc=atoms.pbc,
            tags=atoms.get_tags(),
            frozen=frozen_mask,
            groups=dict(groups or {}),
        )

    def to_atoms(self, wrap: bool = False):
        """Return an ASE ``Atoms`` with positions, velocities, charges, tags and masses."""
        from ase import Atoms
        from ase import units as ase_units

        atoms = Atoms(
            symbols=self.symbols,
            positions=self.wrapped_positions() if wrap else self.positions,
            cell=self.cell,
            pbc=self.pbc,
            tags=self.tags,
            charges=self.charges,
            masses=self.masses,
        )
        atoms.set_velocities(self.velocities / ase_units.fs)
        return atoms

    def copy(self) -> "System":
        """Deep copy."""
        return System(
            symbols=list(self.symbols),
            numbers=self.numbers.copy(),
            masses=self.masses.copy(),
            positions=self.positions.copy(),
            velocities=self.velocities.copy(),
            charges=self.charges.copy(),
            cell=self.cell.copy(),
            pbc=self.pbc.copy(),
            tags=self.tags.copy(),
            frozen=self.frozen.copy(),
            groups={k: v.copy() for k, v in self.groups.items()},
        )

    # ------------------------------------------------------------------ derived
    @property
    def n_atoms(self) -> int:
        return len(self.symbols)

    @property
    def volume(self) -> float:
        """Cell volume in Å^3."""
        return float(abs(np.linalg.det(self.cell)))

    @property
    def species(self) -> list:
        """Unique chemical symbols, sorted by atomic number."""
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in np.unique(self.numbers)]

    def species_index(self, species=None) -> np.ndarray:
        """Integer type per atom: the index of its symbol in ``species`` (default :attr:`species`)."""
        species = self.species if species is None else list(species)
        lookup = {s: k for k, s in enumerate(species)}
        return np.array([lookup[s] for s in self.symbols], dtype=np.int64)

    def image_flags(self) -> np.ndarray:
        """Integer image of each atom along each periodic cell vector, (N, 3)."""
        if not self.pbc.any():
            return np.zeros((self.n_atoms, 3), dtype=np.int64)
        frac = self.positions @ np.linalg.inv(self.cell)
        img = np.floor(frac).astype(np.int64)
        img[:, ~self.pbc] = 0
        return img

    def wrapped_positions(self) -> np.ndarray:
        """Positions folded into the cell along periodic directions, Å."""
        return self.positions - self.image_flags() @ self.cell

    @property
    def mobile(self) -> np.ndarray:
        """Boolean mask of atoms that move."""
        return ~self.frozen

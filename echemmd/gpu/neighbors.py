"""The Verlet list on the device: built by the CUDA cell-list kernels, kept there between steps."""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from echemmd.errors import NeighborListError
from echemmd.kernels.cuda import neighbors as kernels
from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.workspace import Workspace, upload
from echemmd.neighbors import choose_bins, perpendicular_widths, search_cell

#: Room kept in the list arrays for the pairs of later builds (a denser moment of the run).
CAPACITY_MARGIN = 1.25


class DeviceNeighborList:
    """Full Verlet list with a skin on the device, rebuilt when any atom moved more than skin/2.

    The rule, the bins and the rows are those of :class:`echemmd.neighbors.NeighborList` (same
    ``choose_bins``, the same search compiled for the device), so a list built here holds the
    CPU's entries in the CPU's order. Only full lists: a thread per atom owns its row.

    Parameters
    ----------
    cutoff : float
        Interaction cutoff, Å.
    skin : float
        Verlet skin, Å.

    Attributes
    ----------
    first, neighbors, shifts : device arrays
        The list (CSR, int64 / int32 / int32 (P, 3)) of the last build.
    reverse : device int64 (P,)
        Twin entry of each entry (``kernels.neighbors.reverse_entries``).
    n_builds : int
    """

    def __init__(self, cutoff: float, skin: float = 1.0):
        if cutoff <= 0.0:
            raise NeighborListError(f"neighbour-list cutoff must be > 0 Å, got {cutoff}")
        if skin < 0.0:
            raise NeighborListError(f"neighbour-list skin must be >= 0 Å, got {skin}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.n_builds = 0
        self.first = self.neighbors = self.shifts = self.reverse = None
        self._capacity = None
        self._reference = None
        self._cell = None
        self._pbc = None
        self._scratch = None
        self._closest = None
        self.workspace = Workspace()
        self.last_displacement = 0.0

    @property
    def r_list(self) -> float:
        return self.cutoff + self.skin

    @property
    def n_entries(self) -> int:
        return 0 if self.neighbors is None else int(self.neighbors.shape[0])

    def update(self, state) -> bool:
        """Rebuild if needed (one scalar comes back to decide); return whether it rebuilt."""
        if (self._reference is None or self._reference.shape[0] != state.n_atoms
                or not np.array_equal(state.cell, self._cell) or not np.array_equal(state.pbc, self._pbc)):
            self.build(state)
            return True
        d2 = kernels.max_displacement_sq(state.positions, self._reference, self._scratch,
                                         self.workspace).copy_to_host()[0]
        self.last_displacement = math.sqrt(max(d2, 0.0))
        limit = 0.5 * self.skin
        if d2 > limit * limit or not np.isfinite(d2):
            self.build(state)
            return True
        return False

    def build(self, state, positions=None) -> None:
        """Rebuild unconditionally, at ``positions`` (a device array; default the state's)."""
        positions = state.positions if positions is None else positions
        n = state.n_atoms
        cell = np.asarray(state.cell, dtype=np.float64)
        pbc = np.asarray(state.pbc, dtype=bool)
        if np.any(pbc) and abs(np.linalg.det(search_cell(cell, pbc))) < 1e-12:
            raise NeighborListError("the cell is degenerate (zero volume) along a periodic direction")
        bcell = search_cell(cell, pbc)
        ws = self.workspace
        frac, images, xw = kernels.wrap(positions, bcell, pbc, ws)
        lo = np.zeros(3)
        span = np.ones(3)
        if not pbc.all() and n:
            extent = reduce.column_min_max(frac, workspace=ws).copy_to_host()  # six numbers
            lo = np.where(pbc, 0.0, extent[0])
            span = np.where(pbc, 1.0, extent[1] - lo)
        span = np.maximum(span, 1e-12)
        n_bins, reach = choose_bins(perpendicular_widths(bcell) * span, pbc, self.r_list, n)
        bin_index, bin_start, atoms_in_bins = kernels.assign_bins(frac, lo, span, n_bins, ws)
        self.first, self.neighbors, self.shifts, self._capacity = kernels.search(
            xw, bin_index, n_bins, pbc, reach, upload(ws, "search_cell", bcell, np.float64), images, self.r_list,
            False, bin_start, atoms_in_bins, capacity=self._capacity, margin=CAPACITY_MARGIN, workspace=ws)
        self.reverse = kernels.reverse_entries(self.first, self.neighbors, self.shifts, ws)
        if self._reference is None or self._reference.shape[0] != n:
            self._reference = cuda.device_array((n, 3), dtype=np.float64)
            self._scratch = cuda.device_array(n, dtype=np.float64)
        self._reference.copy_to_device(positions)
        self._cell = cell.copy()
        self._pbc = pbc.copy()
        self._closest = None
        self.last_displacement = 0.0
        self.n_builds += 1

    @property
    def reference_positions(self):
        """Positions of the last build (host copy, Å), or None before the first build."""
        return None if self._reference is None else self._reference.copy_to_host()

    def distance_bound(self) -> float:
        """Lower bound on the closest pair distance now (Å): the closest at the build minus twice the
        largest displacement since (see ``NeighborList.distance_bound``); the closest pair is found
        once per build, on the device."""
        if self._reference is None:
            return 0.0
        if self._closest is None:
            r0 = kernels.closest_pair(self._reference, self._cell, self.first, self.neighbors, self.shifts,
                                      self.workspace)[0]
            self._closest = min(float(r0), self.r_list)
        return self._closest - 2.0 * self.last_displacement

    def closest_pair(self, state):
        """(r_min Å, i, j) of the closest pair in the list at the state's positions."""
        return kernels.closest_pair(state.positions, state.cell, self.first, self.neighbors, self.shifts, self.workspace)

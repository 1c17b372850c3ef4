"""CUDA twins of the cell-list and Verlet-list kernels of :mod:`echemmd.kernels.neighbors`.

The list is the CPU's CSR list, built in the CPU's order: the search of one atom is the same
Python function (``kernels.neighbors.make_search_atom``) compiled as a device function, and the
atoms of a bin are sorted by index as the CPU's counting sort leaves them, so for the same bins
every row holds the same entries in the same order as on the CPU.

A build is a count pass and a fill pass (one thread per atom each), with the CSR offsets from a
prefix sum between them: the number of entries is known before they are written, so the list
arrays are sized exactly (with a margin kept between builds) and a list can never overflow.
The bins themselves are filled with integer atomics (exact, but in no fixed order) and then
sorted, one thread per bin.

All functions take and return device arrays (numpy arrays are copied to the device).
"""

import math

import numpy as np
from numba import cuda

from echemmd.kernels import neighbors as cpu
from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.launch import THREADS, blocks, device, is_device_array, kernel
from echemmd.kernels.cuda.launch import to_device as _dev
from echemmd.kernels.cuda.workspace import empty, upload, zeros
from echemmd.kernels.cuda.scalar import closest_in_row as _closest_in_row

_image_positive = device(cpu.image_positive)
_search_atom = device(cpu.make_search_atom(_image_positive))
_find_reverse = device(cpu.find_reverse)


# ---------------------------------------------------------------------------- wrapping and bins
@kernel("void(float64[:, ::1], float64[:, ::1], float64[:, ::1], boolean[::1], float64[:, ::1], int64[:, ::1], "
        "float64[:, ::1])")
def _wrap(positions, inverse, cell, periodic, frac, images, xw):
    """Fractional coordinates, integer images and wrapped positions (``neighbors.build_neighbor_list``)."""
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    x0 = positions[i, 0]
    x1 = positions[i, 1]
    x2 = positions[i, 2]
    for k in range(3):
        f = x0 * inverse[0, k] + x1 * inverse[1, k] + x2 * inverse[2, k]
        m = 0
        if periodic[k]:
            m = int(math.floor(f))
            f -= m
        frac[i, k] = f
        images[i, k] = m
    for k in range(3):
        xw[i, k] = positions[i, k] - (images[i, 0] * cell[0, k] + images[i, 1] * cell[1, k]
                                      + images[i, 2] * cell[2, k])


@kernel("void(float64[:, ::1], float64[::1], float64[::1], int64[::1], int64[:, ::1], int64[::1], int64[::1])")
def _assign_bins(frac, lo, span, n_bins, bin_index, linear, counts):
    """Bin of each atom along each cell vector, its linear bin, and the atom counts per bin."""
    i = cuda.grid(1)
    if i >= frac.shape[0]:
        return
    for k in range(3):
        b = int(math.floor((frac[i, k] - lo[k]) / span[k] * n_bins[k]))
        if b < 0:
            b = 0
        if b > n_bins[k] - 1:
            b = n_bins[k] - 1
        bin_index[i, k] = b
    lin = (bin_index[i, 0] * n_bins[1] + bin_index[i, 1]) * n_bins[2] + bin_index[i, 2]
    linear[i] = lin
    cuda.atomic.add(counts, lin, 1)


@kernel("void(int64[::1], int64[::1], int64[::1], int64[::1])")
def _fill_bins(linear, bin_start, fill, atoms_in_bins):
    i = cuda.grid(1)
    if i >= linear.shape[0]:
        return
    b = linear[i]
    slot = cuda.atomic.add(fill, b, 1)
    atoms_in_bins[bin_start[b] + slot] = i


@kernel("void(int64[::1], int64[::1])")
def _sort_bins(bin_start, atoms_in_bins):
    """Atoms of each bin in ascending order (insertion sort: a bin holds a handful of atoms)."""
    b = cuda.grid(1)
    if b >= bin_start.shape[0] - 1:
        return
    lo = bin_start[b]
    hi = bin_start[b + 1]
    for p in range(lo + 1, hi):
        a = atoms_in_bins[p]
        q = p - 1
        while q >= lo and atoms_in_bins[q] > a:
            atoms_in_bins[q + 1] = atoms_in_bins[q]
            q -= 1
        atoms_in_bins[q + 1] = a


def wrap(positions, cell, periodic, workspace=None):
    """Fractional coordinates, images and wrapped positions of device ``positions`` in the binning ``cell``.

    ``cell`` is the (host) cell the bins are laid out in (``neighbors.search_cell``); ``periodic``
    a host bool (3,). Returns device arrays frac (N, 3), images int64 (N, 3), xw (N, 3), from
    ``workspace`` (:mod:`.workspace`) when given.
    """
    n = positions.shape[0]
    ws = workspace
    frac = empty(ws, "frac", (n, 3))
    images = empty(ws, "images", (n, 3), np.int64)
    xw = empty(ws, "wrapped", (n, 3))
    _wrap[blocks(n), THREADS](positions, upload(ws, "inverse_cell", np.linalg.inv(cell)),
                              upload(ws, "cell", cell, np.float64), upload(ws, "periodic", periodic, np.bool_),
                              frac, images, xw)
    return frac, images, xw


def assign_bins(frac, lo, span, n_bins, workspace=None):
    """Bins of the atoms, sorted as the CPU's: (bin_index (N, 3), bin_start, atoms_in_bins), device arrays.

    ``lo``, ``span`` (fractional origin and extent along each vector) and ``n_bins`` are host arrays.
    Buffers from ``workspace`` when given.
    """
    n = frac.shape[0]
    ws = workspace
    n_bins = np.asarray(n_bins, dtype=np.int64)
    bin_index = empty(ws, "bin_index", (n, 3), np.int64)
    linear = empty(ws, "linear_bin", n, np.int64)
    counts = zeros(ws, "bin_counts", int(np.prod(n_bins)), np.int64)
    _assign_bins[blocks(n), THREADS](frac, upload(ws, "lo", lo, np.float64), upload(ws, "span", span, np.float64),
                                     upload(ws, "n_bins", n_bins), bin_index, linear, counts)
    bin_start, atoms_in_bins = _sorted_bins(linear, counts, ws)
    return bin_index, bin_start, atoms_in_bins


def bin_atoms(bin_index, n_bins):
    """Atoms sorted by linear bin: (bin_start (n_bins_total + 1,), atoms_in_bins (N,)), as the CPU's.

    ``n_bins`` is a host array (3,); ``bin_index`` a device or host array (N, 3).
    """
    bin_index = _dev(bin_index, np.int64)
    n = bin_index.shape[0]
    n_bins = np.asarray(n_bins, dtype=np.int64)
    total = int(np.prod(n_bins))
    linear = cuda.device_array(n, dtype=np.int64)
    counts = cuda.to_device(np.zeros(total, dtype=np.int64))
    _linear_bins[blocks(n), THREADS](bin_index, cuda.to_device(n_bins), linear, counts)
    return _sorted_bins(linear, counts)


@kernel("void(int64[:, ::1], int64[::1], int64[::1], int64[::1])")
def _linear_bins(bin_index, n_bins, linear, counts):
    i = cuda.grid(1)
    if i >= bin_index.shape[0]:
        return
    lin = (bin_index[i, 0] * n_bins[1] + bin_index[i, 1]) * n_bins[2] + bin_index[i, 2]
    linear[i] = lin
    cuda.atomic.add(counts, lin, 1)


def _sorted_bins(linear, counts, ws=None):
    n = linear.shape[0]
    total = counts.shape[0]
    bin_start = reduce.exclusive_scan(counts, workspace=ws, name="bin_start")
    fill = zeros(ws, "bin_fill", total, np.int64)
    atoms_in_bins = empty(ws, "atoms_in_bins", n, np.int64)
    _fill_bins[blocks(n), THREADS](linear, bin_start, fill, atoms_in_bins)
    _sort_bins[blocks(total), THREADS](bin_start, atoms_in_bins)
    return bin_start, atoms_in_bins


# ---------------------------------------------------------------------------- the Verlet list
@kernel("void(float64[:, ::1], int64[:, ::1], int64[::1], boolean[::1], int64[::1], int64[::1], int64[::1], "
        "float64[:, ::1], int64[:, ::1], float64, boolean, int32[::1], int32[:, ::1], int64[::1])")
def _count_entries(xw, bin_index, n_bins, periodic, reach, bin_start, atoms_in_bins, cell, images, r2_max, half,
                   out_j, out_s, counts):
    i = cuda.grid(1)
    if i >= xw.shape[0]:
        return
    counts[i] = _search_atom(i, xw, bin_index, n_bins, periodic, reach, bin_start, atoms_in_bins, cell, images,
                             r2_max, half, out_j, out_s, 0, 0)


@kernel("void(float64[:, ::1], int64[:, ::1], int64[::1], boolean[::1], int64[::1], int64[::1], int64[::1], "
        "float64[:, ::1], int64[:, ::1], float64, boolean, int64[::1], int32[::1], int32[:, ::1])")
def _fill_entries(xw, bin_index, n_bins, periodic, reach, bin_start, atoms_in_bins, cell, images, r2_max, half,
                  first, out_j, out_s):
    i = cuda.grid(1)
    if i >= xw.shape[0]:
        return
    _search_atom(i, xw, bin_index, n_bins, periodic, reach, bin_start, atoms_in_bins, cell, images, r2_max, half,
                 out_j, out_s, first[i], first[i + 1])


def search(xw, bin_index, n_bins, periodic, reach, cell, images, r_list, half, bin_start, atoms_in_bins,
           capacity=None, margin=1.0, workspace=None):
    """Count pass, offsets, fill pass: the CSR list of binned atoms (device arrays).

    ``n_bins``, ``periodic`` and ``reach`` may be host or device arrays. ``capacity`` is an optional
    pair of device arrays (neighbors (P',), shifts (P', 3)) to fill when P <= P' (the list then
    holds views of their first P rows); otherwise new arrays of ``margin`` P rows are allocated.
    The device list of an MD run keeps its arrays between builds and regrows them only when a
    build needs more (jax-md's capacity and overflow, without a failed build). ``first`` and the
    counts come from ``workspace`` (:mod:`.workspace`) when given.

    Returns
    -------
    first : int64 (N + 1,)
    neighbors : int32 (P,)
    shifts : int32 (P, 3)
    capacity : (int32 (P',), int32 (P', 3))
        The arrays the list lives in (``capacity`` itself when it was large enough).
    """
    n = xw.shape[0]
    ws = workspace

    def device(a, name, dtype):
        return a if is_device_array(a) else upload(ws, name, a, dtype)

    n_bins_d, periodic_d, reach_d = (device(n_bins, "n_bins", np.int64), device(periodic, "periodic", np.bool_),
                                     device(reach, "reach", np.int64))
    r2_max = float(r_list) * float(r_list)
    counts = empty(ws, "entry_counts", n, np.int64)
    empty_j = empty(ws, "no_neighbors", 1, np.int32)
    empty_s = empty(ws, "no_shifts", (1, 3), np.int32)
    _count_entries[blocks(n), THREADS](xw, bin_index, n_bins_d, periodic_d, reach_d, bin_start, atoms_in_bins, cell,
                                       images, r2_max, bool(half), empty_j, empty_s, counts)
    first = reduce.exclusive_scan(counts, workspace=ws, name="first")
    total = int(first[n:n + 1].copy_to_host()[0])  # the one scalar the host needs: how much to allocate
    if capacity is None or capacity[0].shape[0] < total:
        rows = max(int(total * margin), total, 1)
        capacity = (cuda.device_array(rows, dtype=np.int32), cuda.device_array((rows, 3), dtype=np.int32))
    out_j, out_s = capacity[0][:total], capacity[1][:total]
    if total:
        _fill_entries[blocks(n), THREADS](xw, bin_index, n_bins_d, periodic_d, reach_d, bin_start, atoms_in_bins,
                                          cell, images, r2_max, bool(half), first, out_j, out_s)
    return first, out_j, out_s, capacity


def build_verlet_list(xw, bin_index, n_bins, periodic, reach, cell, images, r_list, half):
    """Build a Verlet list by a cell-list search (the CPU's signature and result, as device arrays).

    Parameters and returns as :func:`echemmd.kernels.neighbors.build_verlet_list`.
    """
    xw = _dev(xw, np.float64)
    bin_index = _dev(bin_index, np.int64)
    bin_start, atoms_in_bins = bin_atoms(bin_index, np.asarray(n_bins) if not is_device_array(n_bins)
                                         else n_bins.copy_to_host())
    return search(xw, bin_index, n_bins, periodic, reach, _dev(cell, np.float64), _dev(images, np.int64), r_list,
                  half, bin_start, atoms_in_bins)[:3]


# ---------------------------------------------------------------------------- list helpers
@kernel("void(int64[::1], int32[::1], int32[:, ::1], int64[::1])")
def _reverse(first, neighbors, shifts, out):
    i = cuda.grid(1)
    if i >= first.shape[0] - 1:
        return
    for p in range(first[i], first[i + 1]):
        out[p] = _find_reverse(first, neighbors, shifts, i, p)


def reverse_entries(first, neighbors, shifts, workspace=None):
    """Index of the twin (j, i, -S) of every entry of a full list (device int64 (P,)); see the CPU's.

    The result's buffer comes from ``workspace`` when given.
    """
    first = _dev(first, np.int64)
    n = first.shape[0] - 1
    out = empty(workspace, "reverse", max(neighbors.shape[0], 1), np.int64)[:neighbors.shape[0]]
    if neighbors.shape[0]:
        _reverse[blocks(n), THREADS](first, _dev(neighbors, np.int32), _dev(shifts, np.int32), out)
    return out


@kernel("void(float64[:, ::1], float64[:, ::1], float64[::1])")
def _displacement_sq(positions, reference, out):
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    d0 = positions[i, 0] - reference[i, 0]
    d1 = positions[i, 1] - reference[i, 1]
    d2 = positions[i, 2] - reference[i, 2]
    out[i] = d0 * d0 + d1 * d1 + d2 * d2


def max_displacement_sq(positions, reference, scratch=None, workspace=None):
    """Largest squared displacement since ``reference`` (Å^2), as a device array (1,).

    Buffers from ``workspace`` (:mod:`.workspace`) when given.
    """
    n = positions.shape[0]
    d2 = scratch if scratch is not None else empty(workspace, "displacement", n)
    _displacement_sq[blocks(n), THREADS](positions, reference, d2)
    return reduce.argmax(d2, workspace=workspace, name="max_displacement")[0]


@kernel("void(float64[:, ::1], float64[:, ::1], int64[::1], int32[::1], int32[:, ::1], float64[::1], int64[::1])")
def _closest_in_rows(positions, cell, first, neighbors, shifts, r2, partner):
    """Shortest squared distance of each row to a partner j >= i, and that partner (-1 for none)."""
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    best, bj = _closest_in_row(positions, cell, first, neighbors, shifts, i)
    r2[i] = -best  # argmax finds the shortest
    partner[i] = bj


def closest_pair(positions, cell, first, neighbors, shifts, workspace=None):
    """Shortest pair distance in a list: host (r_min Å, i, j), as the CPU's ``closest_pair``.

    The one pass runs on the device; three numbers come back. Buffers from ``workspace`` when given.
    """
    n = positions.shape[0]
    if n == 0:
        return np.inf, -1, -1
    ws = workspace
    r2 = empty(ws, "closest.r2", n)
    partner = empty(ws, "closest.partner", n, np.int64)
    cell = cell if is_device_array(cell) else upload(ws, "closest.cell", cell, np.float64)
    _closest_in_rows[blocks(n), THREADS](_dev(positions, np.float64), cell, _dev(first, np.int64),
                                         _dev(neighbors, np.int32), _dev(shifts, np.int32), r2, partner)
    value, index = reduce.argmax(r2, workspace=ws, name="closest")
    i = int(index.copy_to_host()[0])
    best = -float(value.copy_to_host()[0])
    if not np.isfinite(best):
        return np.inf, -1, -1
    return float(np.sqrt(best)), i, int(partner[i:i + 1].copy_to_host()[0])

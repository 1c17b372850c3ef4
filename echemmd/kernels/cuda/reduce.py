"""Deterministic sums on the device: strided partial sums per lane, then one ordered pass.

Floating-point atomics would make every energy, virial and CG scalar depend on the order the
threads happen to run in, so runs would not repeat bit for bit. Here lane ``l`` of
``lanes(n)`` adds rows l, l + lanes, l + 2 lanes, ... (coalesced reads), and one thread adds the
lanes in order: the number of lanes depends on the length of the array only, so the same input
gives the same bits on every run and every GPU. No shared memory and no barriers: the second
pass costs a few microseconds on a GPU, and the simulator (which runs barriers slowly) stays fast.
"""

import math

import numpy as np
from numba import cuda

from echemmd.kernels.cuda.launch import THREADS, blocks, kernel
from echemmd.kernels.cuda.workspace import empty

#: Most lanes of the first pass.
MAX_LANES = 1024


def lanes(n):
    """Lanes of the first pass for ``n`` rows: a function of n only."""
    return max(1, min(MAX_LANES, int(n)))


@kernel("void(float64[:, ::1], float64[:, ::1])")
def _column_partials(a, partial):
    """partial[l, c] = sum of a[i, c] over the rows i = l (mod lanes)."""
    lane = cuda.grid(1)
    n_lanes = partial.shape[0]
    if lane >= n_lanes:
        return
    for c in range(a.shape[1]):
        acc = 0.0
        i = lane
        while i < a.shape[0]:
            acc += a[i, c]
            i += n_lanes
        partial[lane, c] = acc


@kernel("void(float64[:], float64[:], float64[:, ::1])")
def _dot_partials(a, b, partial):
    """partial[l, 0] = sum of a[i] b[i] over i = l (mod lanes)."""
    lane = cuda.grid(1)
    n_lanes = partial.shape[0]
    if lane >= n_lanes:
        return
    acc = 0.0
    i = lane
    while i < a.shape[0]:
        acc += a[i] * b[i]
        i += n_lanes
    partial[lane, 0] = acc


@kernel("void(float64[:, ::1], float64[:])")
def _finish(partial, out):
    """out[c] = sum of partial[:, c] in lane order (one thread)."""
    if cuda.grid(1) != 0:
        return
    for c in range(partial.shape[1]):
        acc = 0.0
        for lane in range(partial.shape[0]):
            acc += partial[lane, c]
        out[c] = acc


def _scratch(scratch, n_lanes, m, workspace, name):
    if scratch is None or scratch.shape[0] < n_lanes or scratch.shape[1] != m:
        return empty(workspace, name, (n_lanes, m))
    return scratch[:n_lanes]


def sum_columns(a, out=None, scratch=None, workspace=None, name="sum_columns"):
    """Column sums of a device array (N, m) (or (N,)) into a device array (m,).

    ``out`` and ``scratch`` (at least (lanes(N), m)) are taken from ``workspace`` (under
    ``name``, see :mod:`.workspace`) or allocated when not given.
    """
    if a.ndim == 1:
        a = a.reshape(a.shape[0], 1)
    m = a.shape[1]
    n_lanes = lanes(a.shape[0])
    partial = _scratch(scratch, n_lanes, m, workspace, name + ".partial")
    if out is None:
        out = empty(workspace, name, m)
    _column_partials[blocks(n_lanes), THREADS](a, partial)
    _finish[1, 1](partial, out)
    return out


def dot(a, b, out=None, scratch=None, workspace=None, name="dot"):
    """sum_i a[i] b[i] of two device vectors into the device array ``out`` (1,) (buffers as :func:`sum_columns`)."""
    n_lanes = lanes(a.shape[0])
    partial = _scratch(scratch, n_lanes, 1, workspace, name + ".partial")
    if out is None:
        out = empty(workspace, name, 1)
    _dot_partials[blocks(n_lanes), THREADS](a, b, partial)
    _finish[1, 1](partial, out)
    return out


# ---------------------------------------------------------------------------- extrema
@kernel("void(float64[:, ::1], float64[:, ::1], float64[:, ::1])")
def _min_max_partials(a, part_min, part_max):
    """Per lane, the minimum and maximum of each column over rows i = l (mod lanes)."""
    lane = cuda.grid(1)
    n_lanes = part_min.shape[0]
    if lane >= n_lanes:
        return
    for c in range(a.shape[1]):
        lo = a[lane, c] if lane < a.shape[0] else math.inf
        hi = a[lane, c] if lane < a.shape[0] else -math.inf
        i = lane + n_lanes
        while i < a.shape[0]:
            v = a[i, c]
            if v < lo:
                lo = v
            if v > hi:
                hi = v
            i += n_lanes
        part_min[lane, c] = lo
        part_max[lane, c] = hi


@kernel("void(float64[:, ::1], float64[:, ::1], float64[:, ::1])")
def _min_max_finish(part_min, part_max, out):
    """out[0, c] = min, out[1, c] = max over the lanes (one thread)."""
    if cuda.grid(1) != 0:
        return
    for c in range(part_min.shape[1]):
        lo = part_min[0, c]
        hi = part_max[0, c]
        for lane in range(1, part_min.shape[0]):
            if part_min[lane, c] < lo:
                lo = part_min[lane, c]
            if part_max[lane, c] > hi:
                hi = part_max[lane, c]
        out[0, c] = lo
        out[1, c] = hi


def column_min_max(a, workspace=None, name="column_min_max"):
    """Device array (2, m): the minimum (row 0) and maximum (row 1) of each column of ``a`` (N >= 1, m)."""
    m = a.shape[1]
    n_lanes = lanes(a.shape[0])
    part_min = empty(workspace, name + ".min", (n_lanes, m))
    part_max = empty(workspace, name + ".max", (n_lanes, m))
    out = empty(workspace, name, (2, m))
    _min_max_partials[blocks(n_lanes), THREADS](a, part_min, part_max)
    _min_max_finish[1, 1](part_min, part_max, out)
    return out


@kernel("void(float64[:], float64[:], int64[:])")
def _argmax_partials(a, part_val, part_idx):
    """Per lane, the largest a[i] over i = l (mod lanes) and its first index (NaN counts as largest)."""
    lane = cuda.grid(1)
    n_lanes = part_val.shape[0]
    if lane >= n_lanes:
        return
    best = -math.inf
    idx = -1
    i = lane
    while i < a.shape[0]:
        v = a[i]
        if idx < 0 or v > best or (v != v and best == best):
            best = v
            idx = i
        i += n_lanes
    part_val[lane] = best
    part_idx[lane] = idx


@kernel("void(float64[:], int64[:], float64[:], int64[:])")
def _argmax_finish(part_val, part_idx, out_val, out_idx):
    """The largest lane value; ties and NaNs go to the lowest atom index (one thread)."""
    if cuda.grid(1) != 0:
        return
    best = part_val[0]
    idx = part_idx[0]
    for lane in range(1, part_val.shape[0]):
        v = part_val[lane]
        j = part_idx[lane]
        if j < 0:
            continue
        if idx < 0:
            best = v
            idx = j
            continue
        bn = best != best
        vn = v != v
        if (vn and (not bn or j < idx)) or (not vn and not bn and (v > best or (v == best and j < idx))):
            best = v
            idx = j
    out_val[0] = best
    out_idx[0] = idx


def argmax(a, workspace=None, name="argmax"):
    """(device float64 (1,), device int64 (1,)): the largest entry of the vector ``a`` and its index.

    A NaN counts as larger than any number (a blow-up is found first); ties go to the lowest index.
    Buffers from ``workspace`` under ``name`` when given.
    """
    n_lanes = lanes(a.shape[0])
    part_val = empty(workspace, name + ".values", n_lanes)
    part_idx = empty(workspace, name + ".indices", n_lanes, np.int64)
    out_val = empty(workspace, name, 1)
    out_idx = empty(workspace, name + ".index", 1, np.int64)
    _argmax_partials[blocks(n_lanes), THREADS](a, part_val, part_idx)
    _argmax_finish[1, 1](part_val, part_idx, out_val, out_idx)
    return out_val, out_idx


# ---------------------------------------------------------------------------- prefix sums
#: Entries per thread of the first and last pass of :func:`exclusive_scan`.
SCAN_CHUNK = 256


@kernel("void(int64[::1], int64[::1])")
def _chunk_totals(values, totals):
    c = cuda.grid(1)
    if c >= totals.shape[0]:
        return
    acc = 0
    for i in range(c * SCAN_CHUNK, min(values.shape[0], (c + 1) * SCAN_CHUNK)):
        acc += values[i]
    totals[c] = acc


@kernel("void(int64[::1])")
def _scan_totals(totals):
    """Exclusive prefix sums of the chunk totals in place (one thread: a few hundred chunks)."""
    if cuda.grid(1) != 0:
        return
    acc = 0
    for c in range(totals.shape[0]):
        t = totals[c]
        totals[c] = acc
        acc += t


@kernel("void(int64[::1], int64[::1], int64[::1])")
def _chunk_scan(values, offsets, out):
    c = cuda.grid(1)
    if c >= offsets.shape[0]:
        return
    acc = offsets[c]
    lo = c * SCAN_CHUNK
    if lo == 0:
        out[0] = 0
    for i in range(lo, min(values.shape[0], (c + 1) * SCAN_CHUNK)):
        acc += values[i]
        out[i + 1] = acc


def exclusive_scan(values, out=None, workspace=None, name="exclusive_scan"):
    """CSR offsets of integer counts: out (n + 1,), out[0] = 0, out[i + 1] = values[0] + ... + values[i].

    Integer sums are exact, so the three passes (chunk totals, their prefix, the chunks) give the
    same offsets as a serial loop.
    """
    n = values.shape[0]
    if out is None:
        out = empty(workspace, name, n + 1, np.int64)
    n_chunks = max(1, (n + SCAN_CHUNK - 1) // SCAN_CHUNK)
    totals = empty(workspace, name + ".totals", n_chunks, np.int64)
    _chunk_totals[blocks(n_chunks), THREADS](values, totals)
    _scan_totals[1, 1](totals)
    _chunk_scan[blocks(n_chunks), THREADS](values, totals, out)
    return out

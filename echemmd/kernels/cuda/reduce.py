"""Deterministic sums on the device: strided partial sums per lane, then one ordered pass.

Floating-point atomics would make every energy, virial and CG scalar depend on the order the
threads happen to run in, so runs would not repeat bit for bit. Here lane ``l`` of
``lanes(n)`` adds rows l, l + lanes, l + 2 lanes, ... (coalesced reads), and one thread adds the
lanes in order: the number of lanes depends on the length of the array only, so the same input
gives the same bits on every run and every GPU. No shared memory and no barriers: the second
pass costs a few microseconds on a GPU, and the simulator (which runs barriers slowly) stays fast.
"""

import numpy as np
from numba import cuda

from echemmd.kernels.cuda.launch import THREADS, blocks, kernel

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


def _scratch(scratch, n_lanes, m):
    if scratch is None or scratch.shape[0] < n_lanes or scratch.shape[1] != m:
        return cuda.device_array((n_lanes, m), dtype=np.float64)
    return scratch[:n_lanes]


def sum_columns(a, out=None, scratch=None):
    """Column sums of a device array (N, m) (or (N,)) into a device array (m,).

    ``out`` and ``scratch`` (at least (lanes(N), m)) are allocated when not given.
    """
    if a.ndim == 1:
        a = a.reshape(a.shape[0], 1)
    m = a.shape[1]
    n_lanes = lanes(a.shape[0])
    partial = _scratch(scratch, n_lanes, m)
    if out is None:
        out = cuda.device_array(m, dtype=np.float64)
    _column_partials[blocks(n_lanes), THREADS](a, partial)
    _finish[1, 1](partial, out)
    return out


def dot(a, b, out=None, scratch=None):
    """sum_i a[i] b[i] of two device vectors into the device array ``out`` (1,)."""
    n_lanes = lanes(a.shape[0])
    partial = _scratch(scratch, n_lanes, 1)
    if out is None:
        out = cuda.device_array(1, dtype=np.float64)
    _dot_partials[blocks(n_lanes), THREADS](a, b, partial)
    _finish[1, 1](partial, out)
    return out

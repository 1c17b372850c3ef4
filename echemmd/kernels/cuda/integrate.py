"""CUDA kernels of the integrators' array operations and of the per-step state checks.

Each kernel is one elementwise pass, one thread per atom: the thermostat arithmetic stays in
:mod:`echemmd.integrators` (written once, on the host, on a few scalars) and only the operations
on the atoms' arrays run here (``echemmd.gpu.integrators`` plugs them in).
"""

import math

import numpy as np
from numba import cuda

from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.launch import THREADS, blocks, kernel
from echemmd.kernels.cuda.workspace import empty


@kernel("void(float64[:, ::1], float64[:, ::1], float64[::1])")
def _kick(velocities, forces, half_kick):
    i = cuda.grid(1)
    if i >= velocities.shape[0]:
        return
    h = half_kick[i]
    for k in range(3):
        velocities[i, k] += forces[i, k] * h


@kernel("void(float64[:, ::1], float64[:, ::1], float64)")
def _drift(positions, velocities, h):
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    for k in range(3):
        positions[i, k] += h * velocities[i, k]


@kernel("void(float64[:, ::1], float64, float64[::1], float64[:, ::1])")
def _ornstein_uhlenbeck(velocities, c1, noise, gauss):
    i = cuda.grid(1)
    if i >= velocities.shape[0]:
        return
    s = noise[i]
    for k in range(3):
        v = velocities[i, k] * c1
        velocities[i, k] = v + s * gauss[i, k]


@kernel("void(float64[:, ::1], float64)")
def _scale(velocities, factor):
    i = cuda.grid(1)
    if i >= velocities.shape[0]:
        return
    for k in range(3):
        velocities[i, k] *= factor


@kernel("void(float64[:, ::1], float64[::1], float64[::1])")
def _kinetic_rows(velocities, masses, out):
    i = cuda.grid(1)
    if i >= velocities.shape[0]:
        return
    v0 = velocities[i, 0]
    v1 = velocities[i, 1]
    v2 = velocities[i, 2]
    out[i] = masses[i] * (v0 * v0 + v1 * v1 + v2 * v2)


@kernel("void(float64[:, ::1], float64[::1], boolean[::1], float64[:, ::1])")
def _momentum_rows(velocities, masses, mobile, out):
    i = cuda.grid(1)
    if i >= velocities.shape[0]:
        return
    m = masses[i] if mobile[i] else 0.0
    for k in range(3):
        out[i, k] = m * velocities[i, k]


@kernel("void(float64[:, ::1], boolean[::1], float64[::1], float64)")
def _subtract_com(velocities, mobile, momentum, total_mass):
    i = cuda.grid(1)
    if i >= velocities.shape[0] or not mobile[i]:
        return
    for k in range(3):
        velocities[i, k] -= momentum[k] / total_mass


@kernel("void(float64[:, ::1], float64[:, ::1])")
def _add_into(total, part):
    i = cuda.grid(1)
    if i >= total.shape[0]:
        return
    for k in range(total.shape[1]):
        total[i, k] += part[i, k]


@kernel("void(float64[:, ::1], boolean[::1])")
def _zero_rows(a, rows):
    i = cuda.grid(1)
    if i >= a.shape[0] or not rows[i]:
        return
    for k in range(a.shape[1]):
        a[i, k] = 0.0


@kernel("void(float64[:, ::1], float64[:, ::1], float64[::1])")
def _force_check_rows(forces, positions, out):
    """Largest |force component| of atom i, NaN when a force or position of it is not finite."""
    i = cuda.grid(1)
    if i >= forces.shape[0]:
        return
    m = 0.0
    for k in range(3):
        f = forces[i, k]
        if not (math.isfinite(f) and math.isfinite(positions[i, k])):
            out[i] = math.nan
            return
        if abs(f) > m:
            m = abs(f)
    out[i] = m


def kick(velocities, forces, half_kick):
    """v += F h_i in place (h_i = dt/2 F2A / m_i, 0 for frozen atoms)."""
    _kick[blocks(velocities.shape[0]), THREADS](velocities, forces, half_kick)


def drift(positions, velocities, h):
    """x += h v in place (h in fs)."""
    _drift[blocks(positions.shape[0]), THREADS](positions, velocities, float(h))


def ornstein_uhlenbeck(velocities, c1, noise, gauss):
    """v <- c1 v + noise_i R in place, R a device array (N, 3) of standard normal numbers."""
    _ornstein_uhlenbeck[blocks(velocities.shape[0]), THREADS](velocities, float(c1), noise, gauss)


def scale(velocities, factor):
    """v *= factor in place."""
    _scale[blocks(velocities.shape[0]), THREADS](velocities, float(factor))


def mass_weighted_square_sum(velocities, masses, scratch, workspace=None):
    """sum_i m_i |v_i|^2 (amu Å^2/fs^2) as a device array (1,); ``scratch`` a device array (N,).

    The sum's buffers come from ``workspace`` (:mod:`.workspace`) when given.
    """
    _kinetic_rows[blocks(velocities.shape[0]), THREADS](velocities, masses, scratch)
    return reduce.sum_columns(scratch, workspace=workspace, name="kinetic")


def remove_com_momentum(velocities, masses, mobile, total_mass, scratch, workspace=None):
    """Subtract the mass-weighted mean velocity of the mobile atoms from them (``scratch``: (N, 3))."""
    n = velocities.shape[0]
    _momentum_rows[blocks(n), THREADS](velocities, masses, mobile, scratch)
    momentum = reduce.sum_columns(scratch, workspace=workspace, name="momentum")
    _subtract_com[blocks(n), THREADS](velocities, mobile, momentum, float(total_mass))


def add_into(total, part):
    """total += part in place (two device arrays of one shape (N, m))."""
    _add_into[blocks(total.shape[0]), THREADS](total, part)


def zero_rows(a, rows):
    """a[rows] = 0 in place (``rows`` a device bool array (N,))."""
    _zero_rows[blocks(a.shape[0]), THREADS](a, rows)


@kernel("void(float64[::1], int64[::1], float64[::1])")
def _pack_value_index(value, index, out):
    """out = [value, index] (one thread): both come back in one copy."""
    if cuda.grid(1) == 0:
        out[0] = value[0]
        out[1] = index[0]  # an atom index is exact in float64


def force_check(forces, positions, scratch, workspace=None):
    """(bad_atom, fmax, fmax_atom) on the host, as :func:`echemmd.kernels.checks.force_check`.

    One device pass and one reduction; one copy of two numbers comes back. Buffers from
    ``workspace`` (:mod:`.workspace`) when given.
    """
    n = forces.shape[0]
    if n == 0:
        return -1, 0.0, 0
    _force_check_rows[blocks(n), THREADS](forces, positions, scratch)
    value, index = reduce.argmax(scratch, workspace=workspace, name="force_check")
    packed = empty(workspace, "force_check.packed", 2)
    _pack_value_index[1, 1](value, index, packed)
    v, i = packed.copy_to_host()
    v = float(v)
    i = int(i)
    if not np.isfinite(v):
        return i, math.nan, i
    return -1, v, i

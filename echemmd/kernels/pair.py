"""Pair-potential kernels.

The scalar math of each potential is written once as a plain Python function
of (r^2, parameters) returning the energy and g = -(dU/dr)/r; it is compiled
with ``numba.njit(inline="always")`` here and can be compiled with
``numba.cuda.jit(device=True)`` for the CUDA kernels.

With r_ij = x_j - x_i, the force on j is ``g r_ij``, the force on i is
``-g r_ij`` and the pair's virial is ``g r_ij (x) r_ij``.

Parameter rows (``params[type_i, type_j, :]``), all in eV and Å:

* style 0, Lennard-Jones 12-6: [c12 = 4 eps sigma^12, c6 = 4 eps sigma^6, r_c^2, e_shift]
* style 1, Born–Mayer–Huggins: [A, rho, sigma, C, D, r_c^2, e_shift];
  U = A exp((sigma - r)/rho) - C/r^6 - D/r^8 (Buckingham: sigma = 0, D = 0)
"""

import math

import numpy as np
from numba import njit, prange

from echemmd.kernels.neighbors import _add_outer, _pair_vector, _row, row_blocks, sum_virials

LENNARD_JONES = 0
BORN_MAYER_HUGGINS = 1
N_PARAMS = 7
RC2_INDEX = {LENNARD_JONES: 2, BORN_MAYER_HUGGINS: 5}
SHIFT_INDEX = {LENNARD_JONES: 3, BORN_MAYER_HUGGINS: 6}


def lennard_jones(r2, c12, c6):
    """Lennard-Jones energy (eV) and g = -(dU/dr)/r (eV/Å^2) at squared distance r2 (Å^2)."""
    inv2 = 1.0 / r2
    inv6 = inv2 * inv2 * inv2
    a = c12 * inv6 * inv6
    b = c6 * inv6
    return a - b, (12.0 * a - 6.0 * b) * inv2


def born_mayer_huggins(r2, A, rho, sigma, C, D):
    """Born–Mayer–Huggins energy (eV) and g = -(dU/dr)/r (eV/Å^2) at squared distance r2 (Å^2)."""
    r = math.sqrt(r2)
    inv2 = 1.0 / r2
    inv6 = inv2 * inv2 * inv2
    inv8 = inv6 * inv2
    rep = A * math.exp((sigma - r) / rho)
    return rep - C * inv6 - D * inv8, rep / (rho * r) - (6.0 * C * inv6 + 8.0 * D * inv8) * inv2


_lennard_jones = njit(inline="always")(lennard_jones)
_born_mayer_huggins = njit(inline="always")(born_mayer_huggins)


def make_pair(lennard_jones_fn, born_mayer_huggins_fn):
    """The energy (shifted) and g of one pair of types, on compiled scalar potentials (CPU or CUDA)."""

    def pair(style, r2, params, ti, tj):
        """Energy (shifted) and g of one pair of types (ti, tj) inside its cutoff.

        Reads scalars of ``params`` rather than a row view: a view per pair costs a reference
        count update, which two threads contend for (measured 15 % of the LJ kernel).
        """
        if style == LENNARD_JONES:
            e, g = lennard_jones_fn(r2, params[ti, tj, 0], params[ti, tj, 1])
            return e - params[ti, tj, 3], g
        e, g = born_mayer_huggins_fn(r2, params[ti, tj, 0], params[ti, tj, 1], params[ti, tj, 2],
                                     params[ti, tj, 3], params[ti, tj, 4])
        return e - params[ti, tj, 6], g

    return pair


_pair = njit(inline="always")(make_pair(_lennard_jones, _born_mayer_huggins))


#: Fixed number of atom blocks of :func:`pair_forces`, each with its own force buffer. Fixed
#: (not the thread count) so that the sums, and so the trajectory, do not depend on the threads.
N_BLOCKS = 4




@njit(cache=True, parallel=True)
def pair_forces(style, positions, cell, types, params, first, neighbors, shifts, want_energy_virial=True):
    """Energy, forces and virial of a pair potential over a half neighbour list.

    Each pair is listed once and its force is added to both atoms (Newton's third law).
    Atoms are split into ``N_BLOCKS`` fixed blocks of rows with equal pair counts
    (``row_blocks``), each writing into a force buffer of its
    own (no races); the buffers are added in block order, so the result does not depend on
    the thread count.

    Parameters
    ----------
    style : int
        ``LENNARD_JONES`` or ``BORN_MAYER_HUGGINS``.
    positions : float64 (N, 3)
        Positions the list refers to, Å.
    cell : float64 (3, 3)
        Cell vectors as rows, Å.
    types : int64 (N,)
        Type index of each atom into ``params``.
    params : float64 (T, T, N_PARAMS)
        Per-pair parameters (see module docstring).
    first, neighbors, shifts :
        Half neighbour list (CSR, e.g. ``NeighborList.half``).
    want_energy_virial : bool
        Accumulate the energy and the virial (seven sums per pair); False on MD steps whose
        energy and pressure nobody reads, as LAMMPS does (its ``eflag``/``vflag``).

    Returns
    -------
    energy : float
        eV (0 unless ``want_energy_virial``).
    forces : float64 (N, 3)
        eV/Å.
    virial : float64 (3, 3)
        eV (zeros unless ``want_energy_virial``).
    """
    n = positions.shape[0]
    rc2_index = 2 if style == LENNARD_JONES else 5  # RC2_INDEX
    n_blocks = min(N_BLOCKS, max(n, 1))
    bounds = row_blocks(first, n_blocks)
    buf = np.zeros((n_blocks, n, 3))
    rc2 = np.ascontiguousarray(params[:, :, rc2_index])  # the test every entry takes, from a 2D table
    energy_b = np.zeros(n_blocks)
    virial_b = np.zeros((n_blocks, 6))
    for b in prange(n_blocks):
        f = buf[b]
        e_acc = 0.0
        w = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        for i in range(bounds[b], bounds[b + 1]):
            ti = types[i]
            f0 = 0.0
            f1 = 0.0
            f2 = 0.0
            _, row, row_shifts = _row(first, neighbors, shifts, i)
            for t in range(row.shape[0]):
                j = np.uint32(row[t])  # unsigned: no negative-index wraparound (see _row)
                d0, d1, d2 = _pair_vector(positions, cell, i, j, row_shifts[t])
                r2 = d0 * d0 + d1 * d1 + d2 * d2
                tj = types[j]
                if r2 >= rc2[ti, tj]:
                    continue
                e, g = _pair(style, r2, params, ti, tj)
                f0 -= g * d0
                f1 -= g * d1
                f2 -= g * d2
                f[j, 0] += g * d0
                f[j, 1] += g * d1
                f[j, 2] += g * d2
                if want_energy_virial:
                    e_acc += e
                    w = _add_outer(w, g, d0, d1, d2)
            f[i, 0] += f0
            f[i, 1] += f1
            f[i, 2] += f2
        energy_b[b] = e_acc
        for c in range(6):
            virial_b[b, c] = w[c]
    forces = np.zeros((n, 3))
    for i in prange(n):
        for b in range(n_blocks):
            forces[i, 0] += buf[b, i, 0]
            forces[i, 1] += buf[b, i, 1]
            forces[i, 2] += buf[b, i, 2]
    energy = 0.0
    for b in range(n_blocks):
        energy += energy_b[b]
    return energy, forces, sum_virials(virial_b)

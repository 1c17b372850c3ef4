"""CUDA twin of the pair-potential kernel of :mod:`echemmd.kernels.pair`.

One thread per atom over a *full* list: each thread adds the forces on its own atom only and
half of each pair's energy and virial, so no two threads write one place (no atomics) and the
sums repeat bit for bit. The pair math is the CPU's (``kernels.pair.make_pair``) compiled as a
device function.
"""

import numpy as np
from numba import cuda

from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.launch import THREADS, blocks, kernel, to_device
from echemmd.kernels.cuda.scalar import add_outer, pair_potential, pair_vector
from echemmd.kernels.pair import RC2_INDEX


@kernel("void(int64, float64[:, ::1], float64[:, ::1], int64[::1], float64[:, :, ::1], int64, int64[::1], "
        "int32[::1], int32[:, ::1], boolean, float64[:, ::1], float64[:, ::1])")
def _pair_rows(style, positions, cell, types, params, rc2_index, first, neighbors, shifts, want_energy_virial,
               forces, per_atom):
    """Forces on atom i and, with ``want_energy_virial``, half its pairs' energy and virial (per_atom[i, 0:7])."""
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    ti = types[i]
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    e_acc = 0.0
    w = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    for p in range(first[i], first[i + 1]):
        j = neighbors[p]
        tj = types[j]
        d0, d1, d2 = pair_vector(positions, cell, i, j, shifts[p])
        r2 = d0 * d0 + d1 * d1 + d2 * d2
        if r2 >= params[ti, tj, rc2_index]:
            continue
        e, g = pair_potential(style, r2, params, ti, tj)
        f0 -= g * d0
        f1 -= g * d1
        f2 -= g * d2
        if want_energy_virial:
            e_acc += e
            w = add_outer(w, g, d0, d1, d2)
    forces[i, 0] = f0
    forces[i, 1] = f1
    forces[i, 2] = f2
    if want_energy_virial:
        # Each pair is visited from both sides: half of it belongs to this row.
        per_atom[i, 0] = 0.5 * e_acc
        per_atom[i, 1], per_atom[i, 2], per_atom[i, 3] = 0.5 * w[0], 0.5 * w[1], 0.5 * w[2]
        per_atom[i, 4], per_atom[i, 5], per_atom[i, 6] = 0.5 * w[3], 0.5 * w[4], 0.5 * w[5]


def pair_forces(style, positions, cell, types, params, first, neighbors, shifts, want_energy_virial=True,
                forces=None, per_atom=None, workspace=None):
    """Energy, forces and virial of a pair potential over a FULL neighbour list, on the device.

    Parameters as :func:`echemmd.kernels.pair.pair_forces` (device or host arrays), except that the
    list holds each pair from both sides. ``forces`` (N, 3) and ``per_atom`` (N, 7) are optional
    device buffers to reuse between steps, and ``workspace`` (:mod:`.workspace`) the one for the sums.

    Returns
    -------
    sums : device float64 (7,) or None
        [energy eV, W_xx, W_yy, W_zz, W_yz, W_xz, W_xy eV] (None unless ``want_energy_virial``).
    forces : device float64 (N, 3)
        eV/Å.
    """
    positions = to_device(positions, np.float64)
    n = positions.shape[0]
    if forces is None:
        forces = cuda.device_array((n, 3), dtype=np.float64)
    if per_atom is None:
        per_atom = cuda.device_array((n if want_energy_virial else 1, 7), dtype=np.float64)
    _pair_rows[blocks(n), THREADS](int(style), positions, to_device(cell, np.float64), to_device(types, np.int64),
                                   to_device(params, np.float64), RC2_INDEX[int(style)], to_device(first, np.int64),
                                   to_device(neighbors, np.int32), to_device(shifts, np.int32),
                                   bool(want_energy_virial), forces, per_atom)
    sums = reduce.sum_columns(per_atom[:n], workspace=workspace, name="pair_sums") if want_energy_virial else None
    return sums, forces


def virial_matrix(sums):
    """The (3, 3) virial of a host copy of the sums [E, xx, yy, zz, yz, xz, xy]."""
    w = np.empty((3, 3))
    w[0, 0], w[1, 1], w[2, 2] = sums[1], sums[2], sums[3]
    w[1, 2] = w[2, 1] = sums[4]
    w[0, 2] = w[2, 0] = sums[5]
    w[0, 1] = w[1, 0] = sums[6]
    return w

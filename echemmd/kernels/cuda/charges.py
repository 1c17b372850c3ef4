"""CUDA kernels of the charge solver: the vector operations of projected CG and the charge energy term.

The CG iteration itself (its scalars and its stopping rule) is the host's
(``echemmd.gpu.charges``); these kernels do its work on the vectors of the variable atoms, one
thread per entry, and the sums through :mod:`echemmd.kernels.cuda.reduce` (deterministic).
"""

import numpy as np
from numba import cuda

from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.launch import THREADS, blocks, kernel


@kernel("void(float64[::1], int64[::1], float64[::1])")
def _gather(src, index, out):
    k = cuda.grid(1)
    if k < index.shape[0]:
        out[k] = src[index[k]]


@kernel("void(float64[::1], int64[::1], float64[::1])")
def _scatter(src, index, out):
    k = cuda.grid(1)
    if k < index.shape[0]:
        out[index[k]] = src[k]


@kernel("void(float64[::1], float64, float64[::1])")
def _axpy(y, a, x):
    k = cuda.grid(1)
    if k < y.shape[0]:
        y[k] += a * x[k]


@kernel("void(float64[::1], float64)")
def _add_scalar(y, a):
    k = cuda.grid(1)
    if k < y.shape[0]:
        y[k] += a


@kernel("void(float64[::1], float64[::1], float64, float64[::1])")
def _project(r, inv_m, g_shift, g):
    """g = inv_m r - inv_m g_shift: the preconditioned residual projected onto sum = 0."""
    k = cuda.grid(1)
    if k < r.shape[0]:
        g[k] = inv_m[k] * r[k]
        g[k] -= inv_m[k] * g_shift


@kernel("void(float64[::1], float64[::1], float64)")
def _new_direction(d, g, beta):
    """d = -g + beta d."""
    k = cuda.grid(1)
    if k < d.shape[0]:
        d[k] = -g[k] + beta * d[k]


@kernel("void(float64[::1], float64[::1], float64)")
def _remove_along(d, inv_m, c):
    """d -= inv_m c."""
    k = cuda.grid(1)
    if k < d.shape[0]:
        d[k] -= inv_m[k] * c


@kernel("void(float64[::1], float64[::1], float64[::1], float64[::1], float64[::1])")
def _residual(phi_v, hard, d, b, out):
    """out = phi_v + J d - b (b may be a zero vector)."""
    k = cuda.grid(1)
    if k < out.shape[0]:
        out[k] = phi_v[k] + hard[k] * d[k] - b[k]


@kernel("void(float64[::1], float64[::1], float64[::1])")
def _extrapolate(current, previous, out):
    """out = 2 current - previous (the linear charge predictor)."""
    k = cuda.grid(1)
    if k < out.shape[0]:
        out[k] = 2.0 * current[k] - previous[k]


@kernel("void(float64[::1], float64[::1], float64[::1], float64[:, ::1], float64[::1], float64[::1])")
def _right_hand_side(chi, psi, phi_fixed, positions_v, field, b):
    """b = -chi + psi + E_ext . r - phi_fixed, at the variable atoms."""
    k = cuda.grid(1)
    if k < b.shape[0]:
        b[k] = (-chi[k] + psi[k] + (positions_v[k, 0] * field[0] + positions_v[k, 1] * field[1]
                                    + positions_v[k, 2] * field[2])) - phi_fixed[k]


@kernel("void(float64[::1], float64[:, ::1], float64[::1], float64[::1], float64[::1], float64[::1], "
        "float64[:, ::1], float64[:, ::1])")
def _charge_term_rows(charges, positions, chi, hard, psi, field, forces, rows):
    """Energy chi q + J q^2 / 2 - psi q - q E.r per atom, the field force q E, and its virial r (x) F."""
    i = cuda.grid(1)
    if i >= charges.shape[0]:
        return
    q = charges[i]
    er = positions[i, 0] * field[0] + positions[i, 1] * field[1] + positions[i, 2] * field[2]
    rows[i, 0] = chi[i] * q + 0.5 * hard[i] * q * q - psi[i] * q - q * er
    f0 = q * field[0]
    f1 = q * field[1]
    f2 = q * field[2]
    forces[i, 0] = f0
    forces[i, 1] = f1
    forces[i, 2] = f2
    # W_ab = sum_i F_a x_b (the CPU's einsum("ia,ib->ab", forces, positions)), stored xx yy zz yz xz xy.
    rows[i, 1] = f0 * positions[i, 0]
    rows[i, 2] = f1 * positions[i, 1]
    rows[i, 3] = f2 * positions[i, 2]
    rows[i, 4] = f1 * positions[i, 2]
    rows[i, 5] = f0 * positions[i, 2]
    rows[i, 6] = f0 * positions[i, 1]


@kernel("void(float64[:, ::1], int64[::1], float64[:, ::1])")
def _gather_rows(src, index, out):
    k = cuda.grid(1)
    if k < index.shape[0]:
        for c in range(src.shape[1]):
            out[k, c] = src[index[k], c]


def gather(src, index, out):
    """out[k] = src[index[k]] (vectors) or rows of a (N, m) array."""
    if len(src.shape) == 2:
        _gather_rows[blocks(index.shape[0]), THREADS](src, index, out)
    else:
        _gather[blocks(index.shape[0]), THREADS](src, index, out)
    return out


def scatter(src, index, out):
    """out[index[k]] = src[k]."""
    _scatter[blocks(index.shape[0]), THREADS](src, index, out)
    return out


def axpy(y, a, x):
    """y += a x."""
    _axpy[blocks(y.shape[0]), THREADS](y, float(a), x)


def add_scalar(y, a):
    """y += a."""
    _add_scalar[blocks(y.shape[0]), THREADS](y, float(a))


def project(r, inv_m, g_shift, g):
    """g = inv_m (r - g_shift)."""
    _project[blocks(r.shape[0]), THREADS](r, inv_m, float(g_shift), g)


def new_direction(d, g, beta):
    """d = -g + beta d."""
    _new_direction[blocks(d.shape[0]), THREADS](d, g, float(beta))


def remove_along(d, inv_m, c):
    """d -= inv_m c."""
    _remove_along[blocks(d.shape[0]), THREADS](d, inv_m, float(c))


def residual(phi_v, hard, d, b, out):
    """out = phi_v + J d - b."""
    _residual[blocks(out.shape[0]), THREADS](phi_v, hard, d, b, out)


def extrapolate(current, previous, out):
    """out = 2 current - previous."""
    _extrapolate[blocks(out.shape[0]), THREADS](current, previous, out)


def right_hand_side(chi, psi, phi_fixed, positions_v, field, b):
    """b = -chi + psi + E_ext . r - phi_fixed at the variable atoms."""
    _right_hand_side[blocks(b.shape[0]), THREADS](chi, psi, phi_fixed, positions_v, field, b)


def host_dot(a, b, scratch=None) -> float:
    """sum_k a[k] b[k] on the device, brought to the host (one number)."""
    return float(reduce.dot(a, b, scratch=scratch).copy_to_host()[0])


def host_sum(a) -> float:
    """sum_k a[k] on the device, brought to the host."""
    return float(reduce.sum_columns(a).copy_to_host()[0])


def charge_term(charges, positions, chi, hard, psi, field, forces, rows):
    """(sums (7,) device [E, W xx yy zz yz xz xy], forces) of the charge energy term."""
    n = charges.shape[0]
    _charge_term_rows[blocks(n), THREADS](charges, positions, chi, hard, psi, field, forces, rows)
    return reduce.sum_columns(rows), forces


def zeros(n):
    """A device vector of n zeros."""
    return cuda.to_device(np.zeros(n))

"""CUDA kernels of the charge solver: the vector operations of projected CG and the charge energy term.

The CG iteration's control (its stopping rule) is the host's (``echemmd.gpu.charges``); these
kernels do its work on the vectors of the variable atoms, one thread per entry, and the sums
through :mod:`echemmd.kernels.cuda.reduce` (deterministic). The CG scalars stay on the device, in
a small vector ``s`` with the slots below: the dot products are reduced into their slots, and each
vector kernel forms its coefficient as ``s[num] / s[den]`` in every thread (the same double
division the host would do once), so an iteration brings one short read to the host (the residual,
d.A.d and the multiplier) instead of one read per scalar.
"""

from numba import cuda

from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.launch import THREADS, blocks, kernel


#: Slots of the CG scalar vector. RR, DHD and MU come first: the host reads s[:N_READ] once an iteration.
RR, DHD, MU, MR, RG_A, RG_B, SUM, S_INV, ONE, ZERO, TARGET, TMP = range(12)
N_SCALARS = 12
N_READ = 3


@kernel("void(float64[::1], float64[::1], int64, int64, float64[::1])")
def _axpy_ratio(y, s, num, den, x):
    """y += (s[num] / s[den]) x."""
    k = cuda.grid(1)
    if k < y.shape[0]:
        y[k] += (s[num] / s[den]) * x[k]


@kernel("void(float64[::1], float64[::1], int64, int64)")
def _subtract_ratio(y, s, num, den):
    """y -= s[num] / s[den] (added as its negative, as the host's ``y += -a``)."""
    k = cuda.grid(1)
    if k < y.shape[0]:
        y[k] += -(s[num] / s[den])


@kernel("void(float64[::1], float64[::1], float64[::1], int64, int64, float64[::1])")
def _project_ratio(r, inv_m, s, num, den, g):
    """g = inv_m r - inv_m (s[num] / s[den]): the preconditioned residual projected onto sum = 0."""
    k = cuda.grid(1)
    if k < r.shape[0]:
        g[k] = inv_m[k] * r[k]
        g[k] -= inv_m[k] * (s[num] / s[den])


@kernel("void(float64[::1], float64[::1], float64[::1], int64, int64)")
def _new_direction_ratio(d, g, s, num, den):
    """d = -g + (s[num] / s[den]) d."""
    k = cuda.grid(1)
    if k < d.shape[0]:
        d[k] = -g[k] + (s[num] / s[den]) * d[k]


@kernel("void(float64[::1], float64[::1], float64[::1], int64, int64)")
def _remove_along_ratio(d, inv_m, s, num, den):
    """d -= inv_m (s[num] / s[den])."""
    k = cuda.grid(1)
    if k < d.shape[0]:
        d[k] -= inv_m[k] * (s[num] / s[den])


@kernel("void(float64[::1], int64, int64, int64, int64, int64)")
def _scalar_update(s, out, a, b, den, mode):
    """One thread: mode 0 s[out] = s[a] / s[den]; 1 s[out] += s[a] / s[den]; 2 s[out] = s[a] - s[b]."""
    if cuda.grid(1) != 0:
        return
    if mode == 0:
        s[out] = s[a] / s[den]
    elif mode == 1:
        s[out] += s[a] / s[den]
    else:
        s[out] = s[a] - s[b]


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


def residual(phi_v, hard, d, b, out):
    """out = phi_v + J d - b."""
    _residual[blocks(out.shape[0]), THREADS](phi_v, hard, d, b, out)


def extrapolate(current, previous, out):
    """out = 2 current - previous."""
    _extrapolate[blocks(out.shape[0]), THREADS](current, previous, out)


def right_hand_side(chi, psi, phi_fixed, positions_v, field, b):
    """b = -chi + psi + E_ext . r - phi_fixed at the variable atoms."""
    _right_hand_side[blocks(b.shape[0]), THREADS](chi, psi, phi_fixed, positions_v, field, b)


def axpy_ratio(y, s, num, den, x):
    """y += (s[num] / s[den]) x, the coefficient read from the device scalar vector ``s``."""
    _axpy_ratio[blocks(y.shape[0]), THREADS](y, s, num, den, x)


def subtract_ratio(y, s, num, den):
    """y -= s[num] / s[den]."""
    _subtract_ratio[blocks(y.shape[0]), THREADS](y, s, num, den)


def project_ratio(r, inv_m, s, num, den, g):
    """g = inv_m (r - s[num] / s[den])."""
    _project_ratio[blocks(r.shape[0]), THREADS](r, inv_m, s, num, den, g)


def new_direction_ratio(d, g, s, num, den):
    """d = -g + (s[num] / s[den]) d."""
    _new_direction_ratio[blocks(d.shape[0]), THREADS](d, g, s, num, den)


def remove_along_ratio(d, inv_m, s, num, den):
    """d -= inv_m s[num] / s[den]."""
    _remove_along_ratio[blocks(d.shape[0]), THREADS](d, inv_m, s, num, den)


def set_ratio(s, out, num, den):
    """s[out] = s[num] / s[den] (one thread)."""
    _scalar_update[1, 1](s, out, num, 0, den, 0)


def add_ratio(s, out, num, den):
    """s[out] += s[num] / s[den] (one thread)."""
    _scalar_update[1, 1](s, out, num, 0, den, 1)


def set_difference(s, out, a, b):
    """s[out] = s[a] - s[b] (one thread)."""
    _scalar_update[1, 1](s, out, a, b, 0, 2)


def host_sum(a) -> float:
    """sum_k a[k] on the device, brought to the host."""
    return float(reduce.sum_columns(a).copy_to_host()[0])


def charge_term(charges, positions, chi, hard, psi, field, forces, rows):
    """(sums (7,) device [E, W xx yy zz yz xz xy], forces) of the charge energy term."""
    n = charges.shape[0]
    _charge_term_rows[blocks(n), THREADS](charges, positions, chi, hard, psi, field, forces, rows)
    return reduce.sum_columns(rows), forces

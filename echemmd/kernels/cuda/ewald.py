"""CUDA twins of the Ewald kernels of :mod:`echemmd.kernels.ewald`, and the rest of ``Ewald._evaluate``.

Public host functions (numpy or device arrays in, device arrays out):

* :func:`real_space` — the real-space sum over a FULL neighbour list (the CPU kernel takes the
  half list): one thread per atom sums its own row, so every thread writes only its own row of
  phi, forces and per-atom virial (no atomics); the virial rows are added by ``reduce``.
* :func:`structure_factors` — S(k) as a float64 (2, K) device array (row 0 real, row 1 imaginary).
* :func:`reciprocal_potential_forces` — phi_j and F_j from S(k).
* :func:`fractional` — fractional coordinates in the (padded) periodic cell.
* :func:`upload` — the Ewald parameter set of an ``Ewald`` object on the device
  (:class:`DeviceParameters`); :func:`ewald_terms` — all of ``Ewald._evaluate`` (real, reciprocal,
  self, background, slab: phi, forces, virial, energy parts); :func:`potential` — the potential of
  charges v at all atoms (the charge solver's A·v); :func:`dense_matvec` — A x for the cached
  electrode matrix.

Design (sized for an H100 with 1e3-1e5 atoms and 1e3-2e4 k-vectors):

* Phases are e^{2 pi i (h s0 + k s1 + l s2)} by libdevice's ``sincospi`` (``scalar.sincos_2pi``)
  of the integer-index phase, directly for every (atom, k) term. The argument reduction of
  sincospi is exact (x minus the nearest integer), so a term costs about 30 double-precision
  operations with no table and no memory traffic beyond one broadcast read of the atom (or the
  k-vector) per warp: the reciprocal kernels are compute bound, about 1e12 terms/s at the fp64
  peak of an H100 (~34 Tflop/s without tensor cores): 1e4 charged atoms x 5e3 k-vectors ~50 us,
  1e5 x 2e4 ~2 ms per pass (estimates: no GPU was at hand to time them). The CPU's
  phase recurrences were left out on purpose: a recurrence over l needs per-thread runs of
  k-vectors of unequal length (warp divergence where a run breaks, arrays of accumulators that
  spill to local memory) or [index, atom] tables of N (hmax + 2 kmax + 2 lmax + 3) complex
  numbers read at scattered rows; both trade the cheap arithmetic for memory traffic and
  imbalance whose gain cannot be measured here.
* No floating-point atomics, no shared memory, no barriers (the simulator runs barriers slowly):
  both sums over a long axis are split into a number of chunks fixed by the array sizes only
  (enough threads to fill an H100, :data:`TARGET_THREADS`), each chunk written to a partial
  buffer of its own, and the chunks added in order by one thread per output. The same input
  gives the same bits on every run and every GPU.
* Zero charges are skipped in the structure factors (electrode atoms in the charge solver's
  right-hand side, as the CPU does); the test is uniform across a warp (all its threads read
  the same atom), so it costs no divergence.
* The per-atom terms (self, background, slab) and the sums they need (Q, M_z = sum q z,
  sum q z^2, the energy sums) are one per-atom kernel that writes rows reduced by
  ``reduce.sum_columns``, one per-k kernel likewise for the reciprocal energy and virial, one
  per-atom kernel that assembles phi and forces in place, and one single-thread kernel for the
  five energies and the virial: nothing comes back to the host during an evaluation.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import cuda

from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.launch import THREADS, blocks, kernel
from echemmd.kernels.cuda.launch import to_device as _dev
from echemmd.kernels.cuda.scalar import ewald_self_potential as _self_potential
from echemmd.kernels.cuda.scalar import add_outer as _add_outer
from echemmd.kernels.cuda.scalar import real_space_entry as _real_space_entry
from echemmd.kernels.cuda.scalar import sincos_2pi as _sincos_2pi
from echemmd.kernels.cuda.workspace import empty, zeros
from echemmd.units import KE

#: Threads a two-dimensional sum (structure factors, reciprocal potential) aims at: about the
#: resident threads of an H100 (132 SMs x 2048). The chunk counts follow from it and the array
#: sizes only, so the order of every sum is fixed by the input's shape.
TARGET_THREADS = 1 << 18
#: Fewest atoms (structure factors) or k-vectors (reciprocal potential) one thread sums, so that
#: the partial buffers and their ordered pass stay small against the work.
MIN_CHUNK = 32
#: Order of the energy parts in the device array that :func:`ewald_terms` returns.
ENERGY_PARTS = ("real", "reciprocal", "self", "background", "slab")


def _chunks(n_sum, n_other):
    """(chunk length, number of chunks) for a sum over ``n_sum`` items done for ``n_other`` outputs."""
    if n_sum <= 0:
        return 1, 0
    n_chunks = max(1, min((n_sum + MIN_CHUNK - 1) // MIN_CHUNK, (TARGET_THREADS + n_other - 1) // max(n_other, 1)))
    length = (n_sum + n_chunks - 1) // n_chunks
    return length, (n_sum + length - 1) // length


# ---------------------------------------------------------------------------- real space
@kernel("void(float64[:, ::1], float64[:, ::1], float64[::1], float64[::1], int64[::1], int32[::1], int32[:, ::1], "
        "float64, float64, float64, float64, float64, boolean, boolean, boolean, boolean[::1], float64[::1], "
        "float64[:, ::1], float64[:, ::1])")
def _real_space_rows(positions, cell, charges, sigma, first, neighbors, shifts, alpha, r_cut, r_on, r_off, ke,
                     want_forces, want_virial, use_targets, targets, phi, forces, wrows):
    """Row i of a full list: phi_i, F_i and the row's virial sums (xx, yy, zz, yz, xz, xy) without the 1/2 ke."""
    i = cuda.grid(1)
    n = positions.shape[0]
    if i >= n:
        return
    qi = charges[i]
    si2 = sigma[i] * sigma[i]
    rc2 = r_cut * r_cut
    target_i = use_targets and targets[i]
    p = 0.0
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    w = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    for e in range(first[i], first[i + 1]):
        j = neighbors[e]
        qj = charges[j]
        if qj == 0.0:
            continue  # adds nothing to row i (phi_i gets q_j f, F_i gets q_i q_j f')
        if use_targets and not (target_i or targets[j]):
            continue
        inside, d0, d1, d2, r, f, df = _real_space_entry(positions, cell, sigma, i, j, shifts[e], si2, rc2, alpha,
                                                         r_on, r_off)
        if not inside:
            continue
        p += qj * f
        if want_forces:
            g = -qi * qj * df / r  # force on j is g r_ij, on i -g r_ij (CPU convention)
            f0 -= g * d0
            f1 -= g * d1
            f2 -= g * d2
            if want_virial:
                w = _add_outer(w, g, d0, d1, d2)
    phi[i] = ke * p
    if want_forces:
        forces[i, 0] = ke * f0
        forces[i, 1] = ke * f1
        forces[i, 2] = ke * f2
    elif forces.shape[0] == n:
        forces[i, 0] = 0.0
        forces[i, 1] = 0.0
        forces[i, 2] = 0.0
    if want_virial:
        wrows[i, 0], wrows[i, 1], wrows[i, 2], wrows[i, 3], wrows[i, 4], wrows[i, 5] = w


@kernel("void(float64[::1], float64, boolean, float64[:, ::1])")
def _virial_matrix(wsum, scale, use, virial):
    """virial = scale * (xx, yy, zz, yz, xz, xy) as a symmetric (3, 3); zeros unless ``use`` (one thread)."""
    if cuda.grid(1) != 0:
        return
    for a in range(3):
        for b in range(3):
            virial[a, b] = 0.0
    if use:
        virial[0, 0] = scale * wsum[0]
        virial[1, 1] = scale * wsum[1]
        virial[2, 2] = scale * wsum[2]
        virial[1, 2] = scale * wsum[3]
        virial[0, 2] = scale * wsum[4]
        virial[0, 1] = scale * wsum[5]
        virial[2, 1] = virial[1, 2]
        virial[2, 0] = virial[0, 2]
        virial[1, 0] = virial[0, 1]


def _bool_mask(targets, n, ws=None):
    if targets is None:
        return False, empty(ws, "no_mask", 1, np.bool_)
    return True, _dev(targets, np.bool_)


def _real_space(positions, cell, charges, sigma, first, neighbors, shifts, alpha, r_cut, r_on, r_off, ke,
                want_forces, want_virial, targets, forces_array, ws=None):
    """Launch the row kernel: (phi (N,), forces (N, 3) or a (1, 3) dummy, raw virial sums (6,) or None).

    Buffers from the workspace ``ws`` when given (see :mod:`.workspace`).
    """
    positions = _dev(positions, np.float64)
    n = positions.shape[0]
    want_virial = bool(want_forces and want_virial)
    use_targets, mask = _bool_mask(targets, n, ws)
    neighbors = _dev(neighbors, np.int32)
    shifts = _dev(shifts, np.int32)
    if neighbors.shape[0] == 0:  # an empty list: rows are empty, the kernel reads nothing from these
        neighbors = empty(ws, "real.no_neighbors", 1, np.int32)
        shifts = empty(ws, "real.no_shifts", (1, 3), np.int32)
    phi = empty(ws, "real.phi", n)
    forces = empty(ws, "real.forces", (n, 3) if (want_forces or forces_array) else (1, 3))
    wrows = empty(ws, "real.virial_rows", (n, 6) if want_virial else (1, 6))
    _real_space_rows[blocks(n), THREADS](positions, _dev(cell, np.float64), _dev(charges, np.float64),
                                         _dev(sigma, np.float64), _dev(first, np.int64), neighbors, shifts,
                                         float(alpha), float(r_cut), float(r_on), float(r_off), float(ke),
                                         bool(want_forces), want_virial, use_targets, mask, phi, forces, wrows)
    wsum = reduce.sum_columns(wrows, workspace=ws, name="real.virial") if want_virial and n else None
    return phi, forces, wsum


def real_space(positions, cell, charges, sigma, first, neighbors, shifts, alpha, r_cut, r_on, r_off, ke,
               want_forces, want_virial=True, targets=None):
    """Real-space Ewald sum over a FULL neighbour list (each pair from both sides), on the device.

    Parameters as :func:`echemmd.kernels.ewald.real_space` except the list: ``first`` int64
    (N + 1,), ``neighbors`` int32 (P,), ``shifts`` int32 (P, 3) of a full list
    (``NeighborList.full`` or ``build_neighbor_list(..., half=False)``). One thread per atom i
    sums its row: phi_i = ke sum_j q_j f(r_ij) (V), F_i = -ke sum_j g_ij r_ij (eV/Å) and half of
    each pair's virial g r_ij (x) r_ij per side (eV), added over atoms by ``reduce.sum_columns``.
    ``targets`` (bool (N,)): pairs where neither atom is a target are skipped; phi, forces and
    virial are then exact at the targets only (as on the CPU).

    Returns
    -------
    phi : device float64 (N,)
        V.
    forces : device float64 (N, 3)
        eV/Å (zeros unless ``want_forces``).
    virial : device float64 (3, 3)
        eV (zeros unless ``want_forces`` and ``want_virial``).
    """
    phi, forces, wsum = _real_space(positions, cell, charges, sigma, first, neighbors, shifts, alpha, r_cut, r_on,
                                    r_off, ke, want_forces, want_virial, targets, True)
    virial = cuda.device_array((3, 3), dtype=np.float64)
    use = wsum is not None
    _virial_matrix[1, 1](wsum if use else cuda.device_array(6, dtype=np.float64), 0.5 * float(ke), use, virial)
    return phi, forces, virial


# ---------------------------------------------------------------------------- fractional coordinates
@kernel("void(float64[:, ::1], float64[:, ::1], float64[:, ::1])")
def _fractional(positions, inverse, frac):
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    x0 = positions[i, 0]
    x1 = positions[i, 1]
    x2 = positions[i, 2]
    for k in range(3):
        frac[i, k] = x0 * inverse[0, k] + x1 * inverse[1, k] + x2 * inverse[2, k]


def fractional(positions, inverse, out=None):
    """Fractional coordinates positions @ inverse (inverse of the periodic cell, rows = cell vectors): device (N, 3).

    Unlike ``Ewald._fractional`` this does not check that a slab fits its cell height (the
    engine checks the atoms' z extent where it has it).
    """
    positions = _dev(positions, np.float64)
    n = positions.shape[0]
    if out is None:
        out = cuda.device_array((n, 3), dtype=np.float64)
    _fractional[blocks(n), THREADS](positions, _dev(inverse, np.float64), out)
    return out


# ---------------------------------------------------------------------------- structure factors
@kernel("void(float64[:, ::1], float64[::1], int64[:, ::1], int64, float64[:, :, ::1])")
def _structure_partials(frac, charges, kidx, chunk, partial):
    """partial[c, :, m] = sum of q_j (cos, sin) 2 pi (h s0 + k s1 + l s2) over the atoms of chunk c.

    Thread t = m + K c: a warp holds consecutive k-vectors of one chunk, so its threads read the
    same atom at the same time (one broadcast load) and skip zero charges together.
    """
    t = cuda.grid(1)
    nk = kidx.shape[0]
    if t >= nk * partial.shape[0]:
        return
    m = t % nk
    c = t // nk
    h = kidx[m, 0]
    kk = kidx[m, 1]
    ll = kidx[m, 2]
    sr = 0.0
    si = 0.0
    for j in range(c * chunk, min(frac.shape[0], (c + 1) * chunk)):
        q = charges[j]
        if q == 0.0:
            continue
        s, co = _sincos_2pi(h * frac[j, 0] + kk * frac[j, 1] + ll * frac[j, 2])
        sr += q * co
        si += q * s
    partial[c, 0, m] = sr
    partial[c, 1, m] = si


@kernel("void(float64[:, :, ::1], boolean, float64[:, ::1], float64[:, ::1])")
def _structure_finish(partial, use_base, base, out):
    """out[:, m] = base[:, m] + the chunks' partial sums added in chunk order (one thread per k)."""
    m = cuda.grid(1)
    if m >= out.shape[1]:
        return
    sr = 0.0
    si = 0.0
    for c in range(partial.shape[0]):
        sr += partial[c, 0, m]
        si += partial[c, 1, m]
    if use_base:
        sr = base[0, m] + sr
        si = base[1, m] + si
    out[0, m] = sr
    out[1, m] = si


def structure_factors(frac, charges, kidx, hmax, kmax, lmax, base=None, out=None, workspace=None):
    """S(k) = sum_j q_j exp(i k . r_j) for the listed k (half space), e.

    Parameters as :func:`echemmd.kernels.ewald.structure_factors`; ``hmax, kmax, lmax`` are
    accepted for the same signature and not needed (phases come from sincospi of the integer
    indices directly, see the module docstring). The atoms are split into chunks (a number fixed
    by N and K, :func:`_chunks`), one thread per (k, chunk), then one thread per k adds the
    chunks in order. Atoms with zero charge are skipped.

    Parameters
    ----------
    base : device float64 (2, K), optional
        Structure factors to add to (S is linear in q: S(q0 + dq) = S(q0) + S(dq), the cache
        of ``Ewald._structure_factors``).
    out : device float64 (2, K), optional
        Where to write (may be ``base``).
    workspace : Workspace, optional
        Where ``out`` (when not given) and the partial sums come from (:mod:`.workspace`).

    Returns
    -------
    device float64 (2, K)
        Row 0 the real parts, row 1 the imaginary parts (``sk[0] + 1j * sk[1]`` on the host is
        the CPU's complex128 (K,)).
    """
    frac = _dev(frac, np.float64)
    kidx = _dev(kidx, np.int64)
    n = frac.shape[0]
    nk = kidx.shape[0]
    if out is None:
        out = empty(workspace, "structure_factors", (2, nk))
    if nk == 0:
        return out
    chunk, n_chunks = _chunks(n, nk)
    if n_chunks == 0:  # no atoms: S = 0 (or the base)
        partial = zeros(workspace, "structure_factors.partial", (1, 2, nk))
    else:
        partial = empty(workspace, "structure_factors.partial", (n_chunks, 2, nk))
        _structure_partials[blocks(nk * n_chunks), THREADS](frac, _dev(charges, np.float64), kidx, chunk, partial)
    use_base = base is not None
    _structure_finish[blocks(nk), THREADS](partial, use_base, _dev(base, np.float64) if use_base else out, out)
    return out


def _sk_device(sk):
    """S(k) as the device float64 (2, K) layout: complex host arrays are split into real and imaginary rows."""
    if not hasattr(sk, "copy_to_host") and np.iscomplexobj(sk):
        sk = np.stack([np.real(sk), np.imag(sk)])
    return _dev(sk, np.float64)


# ---------------------------------------------------------------------------- reciprocal potential and forces
@kernel("void(float64[:, ::1], int64[:, ::1], float64[:, ::1], float64[::1], float64[:, ::1], int64, boolean, "
        "boolean, boolean[::1], float64[:, :, ::1])")
def _reciprocal_partials(frac, kidx, kvec, weight, sk, chunk, want_forces, use_targets, targets, partial):
    """partial[c, :, j] = sum over the k of chunk c of W Re(S* e_j) and W k Im(S* e_j) (x, y, z).

    Thread t = j + N c: a warp holds consecutive atoms of one k-chunk and reads the same
    k-vector at the same time (broadcast).
    """
    t = cuda.grid(1)
    n = frac.shape[0]
    if t >= n * partial.shape[0]:
        return
    j = t % n
    c = t // n
    if use_targets and not targets[j]:
        return
    s0 = frac[j, 0]
    s1 = frac[j, 1]
    s2 = frac[j, 2]
    p = 0.0
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    for m in range(c * chunk, min(kidx.shape[0], (c + 1) * chunk)):
        w = weight[m]
        w_r = w * sk[0, m]  # W_k S_k*
        w_i = -w * sk[1, m]
        ei, er = _sincos_2pi(kidx[m, 0] * s0 + kidx[m, 1] * s1 + kidx[m, 2] * s2)
        p += w_r * er - w_i * ei
        if want_forces:
            ti = w_r * ei + w_i * er
            f0 += ti * kvec[m, 0]
            f1 += ti * kvec[m, 1]
            f2 += ti * kvec[m, 2]
    partial[c, 0, j] = p
    if want_forces:
        partial[c, 1, j] = f0
        partial[c, 2, j] = f1
        partial[c, 3, j] = f2


@kernel("void(float64[:, :, ::1], float64[::1], boolean, boolean, boolean[::1], float64[::1], float64[:, ::1])")
def _reciprocal_finish(partial, charges, want_forces, use_targets, targets, phi, forces):
    """phi_j = 2 sum_c partial[c, 0, j], F_j = 2 q_j sum_c partial[c, 1:, j] in chunk order; zeros off target."""
    j = cuda.grid(1)
    n = phi.shape[0]
    if j >= n:
        return
    full = forces.shape[0] == n
    if use_targets and not targets[j]:
        phi[j] = 0.0
        if full:
            forces[j, 0] = 0.0
            forces[j, 1] = 0.0
            forces[j, 2] = 0.0
        return
    p = 0.0
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    for c in range(partial.shape[0]):
        p += partial[c, 0, j]
        if want_forces:
            f0 += partial[c, 1, j]
            f1 += partial[c, 2, j]
            f2 += partial[c, 3, j]
    phi[j] = 2.0 * p
    if want_forces:
        q2 = 2.0 * charges[j]
        forces[j, 0] = q2 * f0
        forces[j, 1] = q2 * f1
        forces[j, 2] = q2 * f2
    elif full:
        forces[j, 0] = 0.0
        forces[j, 1] = 0.0
        forces[j, 2] = 0.0


def _reciprocal(frac, charges, kidx, kvec, weight, sk, want_forces, targets, forces_array, ws=None):
    frac = _dev(frac, np.float64)
    kidx = _dev(kidx, np.int64)
    n = frac.shape[0]
    nk = kidx.shape[0]
    use_targets, mask = _bool_mask(targets, n, ws)
    chunk, n_chunks = _chunks(nk, n)
    rows = 4 if want_forces else 1
    if n_chunks == 0 or n == 0:  # no k-vectors (or no atoms): the reciprocal sum is zero
        partial = zeros(ws, "reciprocal.partial", (1, rows, max(n, 1)))
    else:
        partial = empty(ws, "reciprocal.partial", (n_chunks, rows, n))
        _reciprocal_partials[blocks(n * n_chunks), THREADS](frac, kidx, _dev(kvec, np.float64),
                                                            _dev(weight, np.float64), _sk_device(sk), chunk,
                                                            bool(want_forces), use_targets, mask, partial)
    phi = empty(ws, "reciprocal.phi", n)
    forces = empty(ws, "reciprocal.forces", (n, 3) if (want_forces or forces_array) else (1, 3))
    _reciprocal_finish[blocks(n), THREADS](partial, _dev(charges, np.float64), bool(want_forces), use_targets, mask,
                                           phi, forces)
    return phi, forces


def reciprocal_potential_forces(frac, charges, kidx, kvec, weight, sk, hmax, kmax, lmax, want_forces, targets=None):
    """Reciprocal-space potential and forces from the structure factors, on the device.

    With E = sum_k W_k |S_k|^2 over the half space: phi_j = 2 sum_k W_k Re(S_k* e_j) (V),
    F_j = 2 q_j sum_k W_k k Im(S_k* e_j) (eV/Å), e_j = exp(i k . r_j). Parameters as
    :func:`echemmd.kernels.ewald.reciprocal_potential_forces` (``hmax, kmax, lmax`` unused);
    ``sk`` is the device float64 (2, K) of :func:`structure_factors` or a host complex128 (K,).
    Threads run over (atom, chunk of k-vectors), the chunk count fixed by N and K (one chunk,
    i.e. one thread per atom looping over every k, once N alone fills the GPU), and one thread
    per atom adds its chunks in order.

    Parameters
    ----------
    targets : bool (N,), optional
        Only these atoms are computed; the others get phi = 0 and F = 0 (``Ewald._evaluate``
        with ``mobile``, ``Ewald.potential_at``).

    Returns
    -------
    phi : device float64 (N,)
        V.
    forces : device float64 (N, 3)
        eV/Å (zeros unless ``want_forces``).
    """
    return _reciprocal(frac, charges, kidx, kvec, weight, sk, want_forces, targets, True)


# ---------------------------------------------------------------------------- self, background, slab, energies
#: Columns of the per-atom rows: q, q z, q z^2, q phi_self, q phi_real.
_ATOM_COLUMNS = 5
#: Columns of the per-k rows: E_k, then f_k k_a k_b for (xx, yy, zz, yz, xz, xy).
_K_COLUMNS = 7


@kernel("void(float64[:, ::1], float64[::1], float64[::1], float64[::1], float64, float64, float64[:, ::1])")
def _atom_rows(positions, charges, sigma, phi_r, alpha, ke, rows):
    """Per atom: q, q z, q z^2 (the slab and background moments), q phi_self and q phi_real (the energies)."""
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    q = charges[i]
    z = positions[i, 2]
    rows[i, 0] = q
    rows[i, 1] = q * z
    rows[i, 2] = q * (z * z)
    rows[i, 3] = q * _self_potential(q, sigma[i], alpha, ke)
    rows[i, 4] = q * phi_r[i]


@kernel("void(float64[:, ::1], float64[::1], float64[::1], float64[:, ::1], float64, float64[:, ::1])")
def _k_rows(kvec, weight, ksq, sk, alpha, rows):
    """Per k: E_k = W_k |S_k|^2 and 2 (1/k^2 + 1/(4 alpha^2)) E_k k_a k_b (the reciprocal virial's terms)."""
    m = cuda.grid(1)
    if m >= kvec.shape[0]:
        return
    e = weight[m] * (sk[0, m] * sk[0, m] + sk[1, m] * sk[1, m])
    fac = 2.0 * (1.0 / ksq[m] + 1.0 / (4.0 * alpha * alpha)) * e
    k0 = kvec[m, 0]
    k1 = kvec[m, 1]
    k2 = kvec[m, 2]
    rows[m, 0] = e
    rows[m, 1] = fac * k0 * k0
    rows[m, 2] = fac * k1 * k1
    rows[m, 3] = fac * k2 * k2
    rows[m, 4] = fac * k1 * k2
    rows[m, 5] = fac * k0 * k2
    rows[m, 6] = fac * k0 * k1


@kernel("void(float64[:, ::1], float64[::1], float64[::1], float64[::1], float64[:, ::1], float64[::1], "
        "float64[:, ::1], float64[::1], float64, float64, float64, float64, boolean, boolean, boolean, boolean[::1])")
def _assemble(positions, charges, sigma, phi, forces, phi_k, f_k, atom_sums, alpha, ke, volume, lz, slab, want_forces,
              use_mobile, mobile):
    """phi += phi_k + phi_self + phi_background (+ phi_slab); F += F_k (+ F_slab); in place, in the CPU's order.

    Forces of atoms outside ``mobile`` are set to zero (``Ewald._evaluate`` with ``mobile``).
    """
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    q = charges[i]
    total = atom_sums[0]
    c_bg = -ke * math.pi / (2.0 * volume * alpha * alpha)
    v = phi[i] + phi_k[i] + _self_potential(q, sigma[i], alpha, ke) + 2.0 * c_bg * total
    fz_slab = 0.0
    if slab:
        z = positions[i, 2]
        c = ke * 2.0 * math.pi / volume
        m = atom_sums[1]
        s2 = atom_sums[2]
        v += c * (2.0 * m * z - s2 - total * z * z - total * lz * lz / 6.0)
        fz_slab = -c * (2.0 * q * m - 2.0 * total * q * z)
    phi[i] = v
    if want_forces:
        if use_mobile and not mobile[i]:
            forces[i, 0] = 0.0
            forces[i, 1] = 0.0
            forces[i, 2] = 0.0
        else:
            forces[i, 0] = forces[i, 0] + f_k[i, 0]
            forces[i, 1] = forces[i, 1] + f_k[i, 1]
            forces[i, 2] = (forces[i, 2] + f_k[i, 2]) + fz_slab


@kernel("void(float64[::1], float64[::1], float64[::1], boolean, float64, float64, float64, float64, boolean, "
        "boolean, float64[::1], float64[:, ::1])")
def _energies_virial(atom_sums, k_sums, w_sums, use_w, alpha, ke, volume, lz, slab, want_virial, energies, virial):
    """The five energy parts (:data:`ENERGY_PARTS`, eV) and the virial (eV; NaN unless ``want_virial``): one thread."""
    if cuda.grid(1) != 0:
        return
    total = atom_sums[0]
    e_recip = k_sums[0]
    c_bg = -ke * math.pi / (2.0 * volume * alpha * alpha)
    e_bg = c_bg * total * total
    e_slab = 0.0
    c = ke * 2.0 * math.pi / volume
    m = atom_sums[1]
    s2 = atom_sums[2]
    if slab:
        e_slab = c * (m * m - total * s2 - total * total * lz * lz / 12.0)
    energies[0] = 0.5 * atom_sums[4]
    energies[1] = e_recip
    energies[2] = 0.5 * atom_sums[3]
    energies[3] = e_bg
    energies[4] = e_slab
    if not want_virial:
        for a in range(3):
            for b in range(3):
                virial[a, b] = math.nan
        return
    half_ke = 0.5 * ke
    for a in range(3):
        for b in range(3):
            virial[a, b] = 0.0
    if use_w:
        virial[0, 0] = half_ke * w_sums[0]
        virial[1, 1] = half_ke * w_sums[1]
        virial[2, 2] = half_ke * w_sums[2]
        virial[1, 2] = half_ke * w_sums[3]
        virial[0, 2] = half_ke * w_sums[4]
        virial[0, 1] = half_ke * w_sums[5]
    # Reciprocal: W_ab = sum_k E_k (delta_ab - 2 (1/k^2 + 1/(4 alpha^2)) k_a k_b); background: E_bg delta_ab.
    virial[0, 0] = virial[0, 0] + (e_recip - k_sums[1]) + e_bg
    virial[1, 1] = virial[1, 1] + (e_recip - k_sums[2]) + e_bg
    virial[2, 2] = virial[2, 2] + (e_recip - k_sums[3]) + e_bg
    virial[1, 2] = virial[1, 2] - k_sums[4]
    virial[0, 2] = virial[0, 2] - k_sums[5]
    virial[0, 1] = virial[0, 1] - k_sums[6]
    if slab:
        # Volume (every diagonal term), z and L_z (zz): sum_i F_z,i z_i = -2 c (M_z^2 - Q sum q z^2).
        virial[0, 0] = virial[0, 0] + e_slab
        virial[1, 1] = virial[1, 1] + e_slab
        virial[2, 2] = virial[2, 2] + e_slab + (-2.0 * c * (m * m - total * s2) + c * total * total * lz * lz / 6.0)
    virial[2, 1] = virial[1, 2]
    virial[2, 0] = virial[0, 2]
    virial[1, 0] = virial[0, 1]


class DeviceParameters(NamedTuple):
    """An Ewald parameter set on the device (see :func:`upload`).

    Scalars stay on the host (they are kernel arguments); arrays are device arrays.
    """

    alpha: float  #: splitting parameter, 1/Å
    r_cut: float  #: real-space cutoff, Å
    r_on: float  #: switch radii, Å (r_off <= 0: no switch)
    r_off: float
    ke: float  #: Coulomb constant, eV Å/e^2
    volume: float  #: volume of the (padded) periodic cell, Å^3
    slab: bool  #: slab geometry (padding and correction)
    lz: float  #: c_z of the padded cell, Å (the slab correction's L_z)
    hmax: int  #: largest |index| along each reciprocal vector
    kmax: int
    lmax: int
    inverse: object  #: device (3, 3): inverse of the padded periodic cell (for fractional coordinates)
    kidx: object  #: device int64 (K, 3)
    kvec: object  #: device float64 (K, 3), 1/Å
    weight: object  #: device float64 (K,), eV/e^2: W_k = 2 ke (2 pi / V) exp(-k^2/(4 alpha^2)) / k^2
    ksq: object  #: device float64 (K,), 1/Å^2
    sigma: object  #: device float64 (N,): Gaussian widths, Å


def upload(alpha, r_cut, switch, volume, slab, cell, kidx, kvec, weight, ksq, sigma, ke=KE):
    """Copy an Ewald parameter set to the device (``Ewald.params`` and its k-vector tables).

    Parameters
    ----------
    alpha, r_cut : float
        1/Å, Å.
    switch : (r_on, r_off) or None
        Å.
    volume : float
        Volume of the padded periodic cell, Å^3.
    slab : bool
    cell : float64 (3, 3)
        The padded periodic cell (``EwaldParameters.cell``), Å.
    kidx, kvec, weight, ksq :
        ``Ewald._kidx``, ``_kvec``, ``_weight``, ``_ksq``.
    sigma : float64 (N,)
        ``Ewald._sigma``, Å.
    ke : float
        Coulomb constant (``echemmd.units.KE``).

    Returns
    -------
    DeviceParameters
    """
    cell = np.asarray(cell, dtype=np.float64)
    kidx_h = np.ascontiguousarray(kidx, dtype=np.int64)
    hmax, kmax, lmax = (int(v) for v in np.abs(kidx_h).max(axis=0)) if len(kidx_h) else (0, 0, 0)
    r_on, r_off = (float(v) for v in switch) if switch else (0.0, 0.0)
    return DeviceParameters(
        alpha=float(alpha), r_cut=float(r_cut), r_on=r_on, r_off=r_off, ke=float(ke), volume=float(volume),
        slab=bool(slab), lz=float(cell[2, 2]), hmax=hmax, kmax=kmax, lmax=lmax,
        inverse=cuda.to_device(np.ascontiguousarray(np.linalg.inv(cell))), kidx=cuda.to_device(kidx_h),
        kvec=_dev(kvec, np.float64), weight=_dev(weight, np.float64), ksq=_dev(ksq, np.float64),
        sigma=_dev(sigma, np.float64))


class EwaldTerms(NamedTuple):
    """What :func:`ewald_terms` returns (all device arrays)."""

    phi: object  #: float64 (N,), V
    forces: object  #: float64 (N, 3), eV/Å (zeros unless want_forces)
    virial: object  #: float64 (3, 3), eV (NaN unless want_virial)
    energies: object  #: float64 (5,), eV, in the order of ENERGY_PARTS
    sk: object  #: float64 (2, K): the structure factors used (to cache)


def _atom_sums(params, positions, charges, phi_r, ws=None):
    n = positions.shape[0]
    rows = empty(ws, "atom_rows", (n, _ATOM_COLUMNS))
    _atom_rows[blocks(n), THREADS](positions, charges, params.sigma, phi_r, params.alpha, params.ke, rows)
    return reduce.sum_columns(rows, workspace=ws, name="atom_sums")


def _pipeline(params, positions, cell, charges, first, neighbors, shifts, want_forces, want_virial, targets, sk,
              energies, ws=None):
    """The terms of ``Ewald._evaluate`` on the device; see :func:`ewald_terms`."""
    p = params
    positions = _dev(positions, np.float64)
    charges = _dev(charges, np.float64)
    targets = None if targets is None else _dev(targets, np.bool_)  # copied once, read by three kernels
    n = positions.shape[0]
    want_real_virial = bool(want_forces and want_virial)
    phi, forces, w_sums = _real_space(positions, cell, charges, p.sigma, first, neighbors, shifts, p.alpha, p.r_cut,
                                      p.r_on, p.r_off, p.ke, want_forces, want_real_virial, targets, energies, ws)
    atom_sums = _atom_sums(p, positions, charges, phi, ws)
    frac = fractional(positions, p.inverse, out=None if ws is None else ws.array("fractional", (n, 3)))
    if sk is None:
        sk = structure_factors(frac, charges, p.kidx, p.hmax, p.kmax, p.lmax, workspace=ws)
    else:
        sk = _sk_device(sk)
    phi_k, f_k = _reciprocal(frac, charges, p.kidx, p.kvec, p.weight, sk, want_forces, targets, False, ws)
    use_mobile, mask = _bool_mask(targets if want_forces else None, n, ws)
    _assemble[blocks(n), THREADS](positions, charges, p.sigma, phi, forces, phi_k, f_k, atom_sums, p.alpha, p.ke,
                                  p.volume, p.lz, p.slab, bool(want_forces), use_mobile, mask)
    if not energies:
        return phi
    nk = p.kidx.shape[0]
    if nk:
        k_rows = empty(ws, "k_rows", (nk, _K_COLUMNS))
        _k_rows[blocks(nk), THREADS](p.kvec, p.weight, p.ksq, sk, p.alpha, k_rows)
        k_sums = reduce.sum_columns(k_rows, workspace=ws, name="k_sums")
    else:
        k_sums = zeros(ws, "k_sums", _K_COLUMNS)
    energy = empty(ws, "energies", len(ENERGY_PARTS))
    virial = empty(ws, "virial", (3, 3))
    use_w = w_sums is not None
    _energies_virial[1, 1](atom_sums, k_sums, w_sums if use_w else k_sums, use_w, p.alpha, p.ke, p.volume, p.lz,
                           p.slab, bool(want_virial), energy, virial)
    return EwaldTerms(phi, forces, virial, energy, sk)


def ewald_terms(params, positions, cell, charges, first, neighbors, shifts, want_forces, want_virial=True,
                mobile=None, sk=None, workspace=None):
    """All of ``Ewald._evaluate`` on the device: phi, forces, virial and the five energy parts.

    E = E_real + E_reciprocal + E_self + E_background + E_slab (DESIGN §6), with the same
    conventions as the CPU class: the real-space part of the virial only with ``want_forces``;
    ``mobile`` (with ``want_forces``): pairs between two other atoms and the reciprocal terms of
    other atoms are skipped and their forces are zero, phi is exact at mobile atoms only.
    One difference: without ``want_forces`` the forces are zeros (the CPU still adds the slab
    correction's forces there).

    Parameters
    ----------
    params : DeviceParameters
        From :func:`upload`.
    positions : float64 (N, 3)
        Å.
    cell : float64 (3, 3)
        The system's cell (the one the neighbour list's shifts refer to), Å.
    charges : float64 (N,)
        e.
    first, neighbors, shifts :
        FULL neighbour list with cutoff >= ``params.r_cut``.
    want_forces, want_virial : bool
    mobile : bool (N,), optional
    sk : device float64 (2, K) or host complex128 (K,), optional
        Structure factors of these charges at these positions, when already known.
    workspace : Workspace, optional
        Where the buffers (the results among them) come from (:mod:`.workspace`); allocated
        when not given.

    Returns
    -------
    EwaldTerms
        (phi, forces, virial, energies, sk), all device arrays.
    """
    return _pipeline(params, positions, cell, charges, first, neighbors, shifts, want_forces, want_virial, mobile, sk,
                     True, workspace)


def potential(params, positions, cell, charges, first, neighbors, shifts, targets=None, sk=None, workspace=None):
    """phi_i = dE/dq_i of charges ``charges`` at every atom (the charge solver's A·v), V: device float64 (N,).

    ``Ewald.potential`` on the device: real, reciprocal, self, background and slab potentials,
    no forces, no energies. ``targets`` (bool (N,)): phi exact at these atoms only, the
    reciprocal part evaluated there only (``Ewald.potential_at``). Buffers from ``workspace``
    when given.
    """
    return _pipeline(params, positions, cell, charges, first, neighbors, shifts, False, False, targets, sk, False,
                     workspace)


# ---------------------------------------------------------------------------- dense matrix-vector product
@kernel("void(float64[:, ::1], float64[::1], boolean, float64[::1])")
def _dense_matvec(a, x, symmetric, out):
    """out[i] = sum_j A[i, j] x[j] in j order; ``symmetric`` reads A[j, i] (the same number) instead."""
    i = cuda.grid(1)
    if i >= out.shape[0]:
        return
    acc = 0.0
    if symmetric:
        # Consecutive threads read consecutive addresses of row j: coalesced.
        for j in range(x.shape[0]):
            acc += a[j, i] * x[j]
    else:
        for j in range(x.shape[0]):
            acc += a[i, j] * x[j]
    out[i] = acc


def dense_matvec(a, x, out=None, symmetric=False):
    """out = A x for a dense C-contiguous A (n, m), one thread per row, each sum in column order: device (n,).

    ``symmetric=True`` (A square and exactly symmetric, as ``ChargeSolver.dense_matrix`` builds
    it: 0.5 (a + a.T)) reads column i instead of row i: the same products added in the same
    order, so the same bits, but consecutive threads read consecutive addresses (a row read per
    thread strides by the row length and wastes most of every memory transaction).
    """
    a = _dev(a, np.float64)
    x = _dev(x, np.float64)
    n = a.shape[0]
    if symmetric and a.shape[0] != a.shape[1]:
        raise ValueError(f"dense_matvec(symmetric=True) needs a square matrix, got {a.shape}")
    if out is None:
        out = cuda.device_array(n, dtype=np.float64)
    _dense_matvec[blocks(n), THREADS](a, x, bool(symmetric), out)
    return out

"""Numba kernels for Ewald electrostatics of Gaussian charges.

Pure array functions. The scalar pair math is written once as plain Python
(``switch``, ``make_real_space_pair``) and compiled with ``njit(inline="always")``
here; CUDA kernels compile the same functions as device functions (a scalar
function that calls another is made by a factory taking the compiled callee).

Conventions: energies are ``ke`` (the Coulomb constant, passed in) times
charge products times functions of distance in 1/Å. With r_ij = x_j - x_i,
the force on j is ``g r_ij`` and the pair's virial ``g r_ij (x) r_ij``.
"""

import math

import numpy as np
from numba import njit, prange

from echemmd.kernels.neighbors import _add_outer, _pair_vector, _row, row_blocks, sum_virials
from echemmd.kernels.special import _erfc_exp, erfc_exp

TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
N_CHUNKS = 32  # fixed, so the structure-factor sum does not depend on the thread count


def switch(r, r_on, r_off):
    """C2 quintic switch S(r) = x^3 (10 - 15 x + 6 x^2), x = (r - r_on)/(r_off - r_on), and dS/dr (1/Å).

    S = 0 below r_on, 1 above r_off. ``r_off <= 0`` means no switch (S = 1).
    """
    if r_off <= 0.0 or r >= r_off:
        return 1.0, 0.0
    if r <= r_on:
        return 0.0, 0.0
    width = r_off - r_on
    x = (r - r_on) / width
    x2 = x * x
    return x2 * x * (10.0 - 15.0 * x + 6.0 * x2), 30.0 * x2 * (1.0 - x) * (1.0 - x) / width


#: r / gamma beyond which two Gaussian charges interact as point charges (erfc(6) = 2.2e-17).
GAUSSIAN_REACH = 6.0


def make_real_space_pair(switch_fn, erfc_exp_fn):
    """Build the real-space pair kernel on a compiled ``switch`` and ``erfc_exp`` (CPU or CUDA device functions)."""

    def real_space_pair(r, alpha, gamma, r_on, r_off):
        """Real-space Ewald kernel of two Gaussian charges with the short-range switch.

        f(r) = [S(r) erf(r / gamma) - erf(alpha r)] / r, in 1/Å, and df/dr in 1/Å^2.
        That is erfc(alpha r)/r - erfc(r/gamma)/r (the Gaussian-pair real-space
        term) minus (1 - S) erf(r/gamma)/r (the Coulomb the network already holds).
        gamma = 0 means point charges (erf(r/gamma) = 1). Written with erfc, so that
        S = 1 gives the difference of the two erfc terms without cancellation. Beyond
        r = GAUSSIAN_REACH gamma, erfc(r/gamma) < 2.2e-17 is dropped: the two Gaussians
        interact as point charges there, and most Gaussian pairs cost one erfc.
        """
        s, ds = switch_fn(r, r_on, r_off)
        b, gb = erfc_exp_fn(alpha * r)
        db = TWO_OVER_SQRT_PI * alpha * gb  # d erf(alpha r) / dr
        if gamma > 0.0 and r < GAUSSIAN_REACH * gamma:
            inv_gamma = 1.0 / gamma
            a, ga = erfc_exp_fn(r * inv_gamma)
            da = TWO_OVER_SQRT_PI * inv_gamma * ga  # d erf(r / gamma) / dr
            num = (s - 1.0) - s * a + b  # S erf(r/gamma) - erf(alpha r)
            dnum = ds * (1.0 - a) + s * da - db
        else:
            num = (s - 1.0) + b
            dnum = ds - db
        inv_r = 1.0 / r
        f = num * inv_r
        df = (dnum - f) * inv_r
        return f, df

    return real_space_pair


def make_real_space_entry(pair_vector_fn, real_space_pair_fn):
    """Build :func:`real_space_entry` on compiled ``pair_vector`` and real-space pair functions (CPU or CUDA)."""

    def real_space_entry(positions, cell, sigma, i, j, shift, si2, rc2, alpha, r_on, r_off):
        """One list entry of the real-space sum: (inside, r_ij (3 values), |r_ij|, f, df/dr).

        ``inside`` is False (and the rest unset) for r^2 >= rc2; gamma = sqrt(2 (sigma_i^2 +
        sigma_j^2)) with ``si2`` = sigma_i^2 precomputed for the row, 0 for two point charges.
        Units as :func:`make_real_space_pair`.
        """
        d0, d1, d2 = pair_vector_fn(positions, cell, i, j, shift)
        r2 = d0 * d0 + d1 * d1 + d2 * d2
        if r2 >= rc2:
            return False, d0, d1, d2, 0.0, 0.0, 0.0
        r = math.sqrt(r2)
        s2 = si2 + sigma[j] * sigma[j]
        gamma = math.sqrt(2.0 * s2) if s2 > 0.0 else 0.0
        f, df = real_space_pair_fn(r, alpha, gamma, r_on, r_off)
        return True, d0, d1, d2, r, f, df

    return real_space_entry


_switch = njit(inline="always")(switch)
_real_space_pair = njit(inline="always")(make_real_space_pair(_switch, _erfc_exp))
_real_space_entry = njit(inline="always")(make_real_space_entry(_pair_vector, _real_space_pair))
#: The pair kernel as plain Python (for tests and tools).
real_space_pair = make_real_space_pair(switch, erfc_exp)


#: Fixed number of atom blocks of :func:`real_space` (see ``kernels.pair.N_BLOCKS``).
N_BLOCKS = 4


@njit(cache=True, parallel=True)
def real_space(positions, cell, charges, sigma, first, neighbors, shifts, alpha, r_cut, r_on, r_off, ke,
               want_forces, want_virial=True, targets=None):
    """Real-space sum over a half neighbour list (each pair once).

    Each pair's potential and force go to both atoms. Atoms are split into ``N_BLOCKS`` fixed
    blocks of rows with equal pair counts (``row_blocks``), writing into buffers of their own, added in block order: no races, and results
    independent of the thread count.

    Parameters
    ----------
    positions : float64 (N, 3)
        Positions the list refers to, Å.
    cell : float64 (3, 3)
        Cell vectors as rows, Å.
    charges : float64 (N,)
        Charges, e.
    sigma : float64 (N,)
        Gaussian widths, Å (0 for point charges).
    first, neighbors, shifts :
        Half neighbour list (CSR, ``NeighborList.half``); pairs beyond ``r_cut`` are skipped.
    alpha : float
        Ewald splitting parameter, 1/Å.
    r_cut : float
        Real-space cutoff, Å.
    r_on, r_off : float
        Switch radii, Å (r_off <= 0: no switch).
    ke : float
        Coulomb constant, eV Å / e^2.
    want_forces : bool
        Also compute forces and virial.
    want_virial : bool
        With ``want_forces``: also the virial (False on MD steps whose pressure nobody reads).
    targets : bool (N,) or None
        The potential (and forces) are wanted at these atoms only: pairs between two other atoms
        are skipped, and ``phi``, ``forces`` and the virial are then exact at the targets only.
        Used for the charge solver's right-hand side (the potential of the ions at the electrode
        atoms) and for the forces on the mobile atoms of a forces-only MD step.

    Returns
    -------
    phi : float64 (N,)
        Potential at each atom, dE/dq_i, V.
    forces : float64 (N, 3)
        eV/Å (zeros unless ``want_forces``).
    virial : float64 (3, 3)
        eV.
    """
    n = positions.shape[0]
    rc2 = r_cut * r_cut
    n_blocks = min(N_BLOCKS, max(n, 1))
    bounds = row_blocks(first, n_blocks)
    phi_b = np.zeros((n_blocks, n))
    f_b = np.zeros((n_blocks, n, 3)) if want_forces else np.zeros((n_blocks, 1, 3))
    virial_b = np.zeros((n_blocks, 6))
    for b in prange(n_blocks):
        phi = phi_b[b]
        fb = f_b[b]
        w = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        for i in range(bounds[b], bounds[b + 1]):
            qi = charges[i]
            si2 = sigma[i] * sigma[i]
            p = 0.0
            f0 = 0.0
            f1 = 0.0
            f2 = 0.0
            _, row, row_shifts = _row(first, neighbors, shifts, i)
            for t in range(row.shape[0]):
                j = np.uint32(row[t])  # unsigned: no negative-index wraparound (see _row)
                qj = charges[j]
                if not want_forces and qj == 0.0 and qi == 0.0:
                    continue
                if targets is not None and not (targets[i] or targets[j]):
                    continue
                inside, d0, d1, d2, r, f, df = _real_space_entry(positions, cell, sigma, i, j, row_shifts[t], si2,
                                                                 rc2, alpha, r_on, r_off)
                if not inside:
                    continue
                p += qj * f
                phi[j] += qi * f
                if want_forces:
                    g = -qi * qj * df / r
                    f0 -= g * d0
                    f1 -= g * d1
                    f2 -= g * d2
                    fb[j, 0] += g * d0
                    fb[j, 1] += g * d1
                    fb[j, 2] += g * d2
                    if want_virial:
                        w = _add_outer(w, g, d0, d1, d2)
            phi[i] += p
            if want_forces:
                fb[i, 0] += f0
                fb[i, 1] += f1
                fb[i, 2] += f2
        for c in range(6):
            virial_b[b, c] = w[c]
    phi_out = np.zeros(n)
    forces = np.zeros((n, 3))
    for i in prange(n):
        acc = 0.0
        for b in range(n_blocks):
            acc += phi_b[b, i]
        phi_out[i] = ke * acc
        if want_forces:
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            for b in range(n_blocks):
                a0 += f_b[b, i, 0]
                a1 += f_b[b, i, 1]
                a2 += f_b[b, i, 2]
            forces[i, 0] = ke * a0
            forces[i, 1] = ke * a1
            forces[i, 2] = ke * a2
    return phi_out, forces, sum_virials(virial_b) * ke


#: Atoms per block of the reciprocal kernels: their phase tables are [index, atom] arrays and
#: the innermost loops run over the block's atoms, contiguous and independent of how short
#: the runs of k-vectors are (about 9 in a bulk cell, up to 2 lmax + 1 in a slab).
ATOM_BLOCK = 32


@njit(inline="always")
def _empty_phase_tables(hmax, kmax, lmax):
    """Scratch (xr, xi, yr, yi, zr, zi) for :func:`_block_phase_tables`."""
    return (np.empty((hmax + 1, ATOM_BLOCK)), np.empty((hmax + 1, ATOM_BLOCK)),
            np.empty((2 * kmax + 1, ATOM_BLOCK)), np.empty((2 * kmax + 1, ATOM_BLOCK)),
            np.empty((2 * lmax + 1, ATOM_BLOCK)), np.empty((2 * lmax + 1, ATOM_BLOCK)))


@njit(inline="always")
def _block_phase_tables(frac, atoms, start, count, hmax, kmax, lmax, xr, xi, yr, yi, zr, zi):
    """exp(2 pi i m s) of atoms ``atoms[start:start + count]`` by recurrence, as [m, b] tables.

    m = 0..hmax along a, -kmax..kmax along b, -lmax..lmax along c (at row offset kmax, lmax).
    Columns b >= count (the padding of a last, partial block) get the phases of s = 0.
    """
    two_pi = 2.0 * math.pi
    for b in range(ATOM_BLOCK):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        if b < count:
            j = atoms[start + b]
            s0 = frac[j, 0]
            s1 = frac[j, 1]
            s2 = frac[j, 2]
        cx = math.cos(two_pi * s0)
        sx = math.sin(two_pi * s0)
        xr[0, b] = 1.0
        xi[0, b] = 0.0
        for m in range(1, hmax + 1):
            xr[m, b] = xr[m - 1, b] * cx - xi[m - 1, b] * sx
            xi[m, b] = xr[m - 1, b] * sx + xi[m - 1, b] * cx
        _signed_powers(math.cos(two_pi * s1), math.sin(two_pi * s1), kmax, yr, yi, b)
        _signed_powers(math.cos(two_pi * s2), math.sin(two_pi * s2), lmax, zr, zi, b)


@njit(inline="always")
def _signed_powers(c, s, m_max, re, im, b):
    """(c + i s)^m for m = -m_max..m_max into re/im[m_max + m, b], by recurrence and conjugation."""
    re[m_max, b] = 1.0
    im[m_max, b] = 0.0
    for m in range(1, m_max + 1):
        x = re[m_max + m - 1, b]
        y = im[m_max + m - 1, b]
        re[m_max + m, b] = x * c - y * s
        im[m_max + m, b] = x * s + y * c
        re[m_max - m, b] = re[m_max + m, b]
        im[m_max - m, b] = -im[m_max + m, b]


@njit(inline="always")
def _group_phases(xr, xi, yr, yi, h, kk, scale, ar, ai):
    """e^{i(h a* + k b*).r_b} of the block's atoms (times ``scale[b]``) for one (h, k) run."""
    xrh = xr[h]
    xih = xi[h]
    yrk = yr[kk]
    yik = yi[kk]
    for b in range(ATOM_BLOCK):
        ar[b] = scale[b] * (xrh[b] * yrk[b] - xih[b] * yik[b])
        ai[b] = scale[b] * (xrh[b] * yik[b] + xih[b] * yrk[b])


@njit(cache=True)
def k_groups(kidx):
    """Runs of k-vectors with one (h, k) and consecutive l.

    The k-vector list comes grouped by (h, k) with l increasing by one (a sphere cut of a box
    meshed with l fastest: each (h, k) line meets the sphere in one interval).

    Returns
    -------
    int64 (G + 1, 4)
        Row g: h, k, the first l and the index of the first vector of run g; row G holds the
        end index in column 3.
    """
    nk = kidx.shape[0]
    g = np.zeros((nk + 1, 4), dtype=np.int64)
    count = 0
    for m in range(nk):
        if m == 0 or kidx[m, 0] != kidx[m - 1, 0] or kidx[m, 1] != kidx[m - 1, 1]:
            g[count, 0] = kidx[m, 0]
            g[count, 1] = kidx[m, 1]
            g[count, 2] = kidx[m, 2]
            g[count, 3] = m
            count += 1
        elif kidx[m, 2] != kidx[m - 1, 2] + 1:
            raise ValueError("k-vectors of one (h, k) must have consecutive l")
    g[count, 3] = nk
    return g[:count + 1].copy()


@njit(cache=True, parallel=True, fastmath={"contract", "reassoc"})
def structure_factors(frac, charges, kidx, hmax, kmax, lmax):
    """S(k) = sum_j q_j exp(i k . r_j) for the listed k (half space), e.

    Charged atoms only, in blocks of ``ATOM_BLOCK``; the blocks are split into ``N_CHUNKS``
    fixed chunks with partial sums of their own, added in chunk order: the result does not
    depend on the thread count.

    Parameters
    ----------
    frac : float64 (N, 3)
        Fractional coordinates.
    charges : float64 (N,)
    kidx : int64 (K, 3)
        Integer (h, k, l) of each k-vector, h >= 0, grouped as :func:`k_groups` requires.
    hmax, kmax, lmax : int
        Largest |index| along each reciprocal vector.

    Returns
    -------
    complex128 (K,)
    """
    nk = kidx.shape[0]
    groups = k_groups(kidx)
    ng = groups.shape[0] - 1
    # Uncharged atoms add nothing (the electrodes in the charge solver's right-hand side).
    charged = np.flatnonzero(charges)
    n = charged.shape[0]
    n_blocks = (n + ATOM_BLOCK - 1) // ATOM_BLOCK
    part_r = np.zeros((N_CHUNKS, nk))
    part_i = np.zeros((N_CHUNKS, nk))
    per_chunk = (n_blocks + N_CHUNKS - 1) // N_CHUNKS
    for c in prange(N_CHUNKS):
        xr, xi, yr, yi, zr, zi = _empty_phase_tables(hmax, kmax, lmax)
        ar = np.empty(ATOM_BLOCK)
        ai = np.empty(ATOM_BLOCK)
        qb = np.empty(ATOM_BLOCK)
        pr = part_r[c]
        pi = part_i[c]
        for blk in range(c * per_chunk, min(n_blocks, (c + 1) * per_chunk)):
            start = blk * ATOM_BLOCK
            count = min(ATOM_BLOCK, n - start)
            _block_phase_tables(frac, charged, start, count, hmax, kmax, lmax, xr, xi, yr, yi, zr, zi)
            for b in range(ATOM_BLOCK):
                qb[b] = charges[charged[start + b]] if b < count else 0.0
            for g in range(ng):
                _group_phases(xr, xi, yr, yi, groups[g, 0], kmax + groups[g, 1], qb, ar, ai)
                m0 = groups[g, 3]
                z0 = lmax + groups[g, 2]
                for t in range(groups[g + 1, 3] - m0):
                    zrl = zr[z0 + t]
                    zil = zi[z0 + t]
                    sr = 0.0
                    si = 0.0
                    for b in range(ATOM_BLOCK):
                        sr += ar[b] * zrl[b] - ai[b] * zil[b]
                        si += ar[b] * zil[b] + ai[b] * zrl[b]
                    pr[m0 + t] += sr
                    pi[m0 + t] += si
    s = np.zeros(nk, dtype=np.complex128)
    for c in range(N_CHUNKS):
        for m in range(nk):
            s[m] += complex(part_r[c, m], part_i[c, m])
    return s


@njit(cache=True, parallel=True, fastmath={"contract", "reassoc"})
def reciprocal_potential_forces(frac, charges, kidx, kvec, weight, sk, hmax, kmax, lmax, want_forces):
    """Reciprocal-space potential and forces from the structure factors.

    With E = sum_k W_k |S_k|^2 over the half space: phi_j = 2 sum_k W_k Re(S_k* e_j),
    F_j = 2 q_j sum_k W_k k Im(S_k* e_j), e_j = exp(i k . r_j). Atoms in blocks of
    ``ATOM_BLOCK``, each block's sums over k in a fixed order: the result is the same for
    any thread count.

    Returns
    -------
    phi : float64 (N,)
        V.
    forces : float64 (N, 3)
        eV/Å.
    """
    n = frac.shape[0]
    nk = kidx.shape[0]
    groups = k_groups(kidx)
    ng = groups.shape[0] - 1
    wr = np.empty(nk)  # W_k S_k*
    wi = np.empty(nk)
    for m in range(nk):
        wr[m] = weight[m] * sk[m].real
        wi[m] = -weight[m] * sk[m].imag
    atoms = np.arange(n)
    ones = np.ones(ATOM_BLOCK)
    n_blocks = (n + ATOM_BLOCK - 1) // ATOM_BLOCK
    phi = np.zeros(n)
    forces = np.zeros((n, 3))
    for blk in prange(n_blocks):
        xr, xi, yr, yi, zr, zi = _empty_phase_tables(hmax, kmax, lmax)
        ar = np.empty(ATOM_BLOCK)
        ai = np.empty(ATOM_BLOCK)
        p = np.zeros(ATOM_BLOCK)
        f0 = np.zeros(ATOM_BLOCK)
        f1 = np.zeros(ATOM_BLOCK)
        f2 = np.zeros(ATOM_BLOCK)
        start = blk * ATOM_BLOCK
        count = min(ATOM_BLOCK, n - start)
        _block_phase_tables(frac, atoms, start, count, hmax, kmax, lmax, xr, xi, yr, yi, zr, zi)
        for g in range(ng):
            _group_phases(xr, xi, yr, yi, groups[g, 0], kmax + groups[g, 1], ones, ar, ai)
            m0 = groups[g, 3]
            z0 = lmax + groups[g, 2]
            for t in range(groups[g + 1, 3] - m0):
                m = m0 + t
                w_r = wr[m]
                w_i = wi[m]
                zrl = zr[z0 + t]
                zil = zi[z0 + t]
                if want_forces:
                    k0 = kvec[m, 0]
                    k1 = kvec[m, 1]
                    k2 = kvec[m, 2]
                    for b in range(ATOM_BLOCK):
                        er = ar[b] * zrl[b] - ai[b] * zil[b]
                        ei = ar[b] * zil[b] + ai[b] * zrl[b]
                        p[b] += w_r * er - w_i * ei
                        ti = w_r * ei + w_i * er
                        f0[b] += ti * k0
                        f1[b] += ti * k1
                        f2[b] += ti * k2
                else:
                    for b in range(ATOM_BLOCK):
                        p[b] += w_r * (ar[b] * zrl[b] - ai[b] * zil[b]) - w_i * (ar[b] * zil[b] + ai[b] * zrl[b])
        for b in range(count):
            j = start + b
            phi[j] = 2.0 * p[b]
            if want_forces:
                q2 = 2.0 * charges[j]
                forces[j, 0] = q2 * f0[b]
                forces[j, 1] = q2 * f1[b]
                forces[j, 2] = q2 * f2[b]
    return phi, forces


@njit(cache=True)
def dense_real_space(positions, cell, sigma, first, neighbors, shifts, slot, alpha, r_cut, r_on, r_off, ke, out,
                     gradient):
    """Add the real-space part of the charge Hessian (or its position derivative) among the atoms with ``slot >= 0``.

    For every list entry (i, j, image) with r < r_cut, f the pair kernel of
    :func:`make_real_space_pair`: out[slot[i], slot[j], 0] += ke f(r_ij) (own images of an atom
    land on the diagonal), or, with ``gradient``, out[slot[i], slot[j], :] += -ke f'(r) r_ij / r,
    the derivative dA_ij/dx_i (r_ij = x_j + image - x_i; A_ij depends on x_i - x_j only, so
    dA_ij/dx_j = -dA_ij/dx_i, and own images cancel in pairs). Serial: the matrix is built once
    per geometry.

    Parameters
    ----------
    positions, cell, sigma, first, neighbors, shifts, alpha, r_cut, r_on, r_off, ke :
        As for :func:`real_space` (a full list).
    slot : int64 (N,)
        Row of each atom in ``out``, -1 for atoms left out.
    out : float64 (M, M, 1) or (M, M, 3)
        eV/e^2, or eV/(e^2 Å) with ``gradient``; updated in place.
    gradient : bool
    """
    for i in range(positions.shape[0]):
        si = slot[i]
        if si < 0:
            continue
        for p in range(first[i], first[i + 1]):
            j = neighbors[p]
            sj = slot[j]
            if sj < 0:
                continue
            d0, d1, d2 = _pair_vector(positions, cell, i, j, shifts[p])
            r = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
            if r >= r_cut:
                continue
            gamma = math.sqrt(2.0 * (sigma[i] * sigma[i] + sigma[j] * sigma[j]))
            f, df = _real_space_pair(r, alpha, gamma, r_on, r_off)
            if gradient:
                c = -ke * df / r
                out[si, sj, 0] += c * d0
                out[si, sj, 1] += c * d1
                out[si, sj, 2] += c * d2
            else:
                out[si, sj, 0] += ke * f

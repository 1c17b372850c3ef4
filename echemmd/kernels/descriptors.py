"""Behler–Parrinello (n2p2) symmetry functions and their forces over a full neighbour list.

Pure array functions: no classes, no I/O. :mod:`echemmd.descriptors` turns a
list of function definitions into the parameter ``tables`` below.

Functions (n2p2 types), for a central atom i and neighbours j, k (every
periodic image is a separate neighbour; r_ij = x_j + S @ cell - x_i):

* type 2, radial: ``G_i = sum_j exp(-eta (r_ij - r_s)^2) f_c(r_ij)`` over
  neighbours j of one element.
* type 3, narrow angular: ``G_i = 2^(1 - zeta) sum_{j<k} (1 + lambda cos t_ijk)^zeta
  exp(-eta [(r_ij - r_s)^2 + (r_ik - r_s)^2 + (r_jk - r_s)^2]) f_c(r_ij) f_c(r_ik) f_c(r_jk)``
  over unordered pairs of list entries whose elements are the unordered pair {e1, e2}.
* type 9, wide angular: the same without the r_jk factors.

A term with ``1 + lambda cos t <= 0`` contributes nothing (as in n2p2, which
keeps pow() away from negative bases).

Work sharing. Functions are grouped so that each quantity is evaluated once:
f_c and df_c/dr once per (neighbour, distinct cutoff (type, r_c, alpha));
``exp(-eta (r - r_s)^2) f_c(r)`` of the angular functions once per
(neighbour, distinct (eta, r_s, cutoff)) of the central element; cos t_ijk
once per pair (j, k); the r_jk factor once per (j, k, group); only the
power (1 + lambda cos)^zeta per function. Angular functions of a central
element are stored in *groups* sharing (type, eta, r_s, cutoff, {e1, e2}),
indexed by the element pair, so a pair (j, k) visits only the groups of
its own elements.

Forces. E = sum_i sum_mu dE/dG_i,mu G_i,mu depends on the list vectors
r_p = r_ij only (r_jk = r_ik - r_ij), so the force pass accumulates one
vector g_p = dE_i/dr_p per list entry. Atom i owns its entries, so the
parallel loop has no write races; then F_i = sum_{p of i} g_p and
F_j -= g_p for the neighbour of every entry (a cheap serial scatter over the
list, whose fixed order makes the result independent of the thread count),
and the virial is W = -sum_p r_p (x) g_p (W_ab = -dE/d eps_ab for the strain
x -> (1 + eps) x; stress = -W / V).

Directional derivatives (forward mode). Training on forces needs dG/dh
along a displacement field v and a strain: every list vector changes by
dv_p = v_j - v_i + r_p @ strain, its length by du_p = r_p . dv_p / r_p, and
the JVP pass differentiates each term of the value pass along these, row by
row (no scatter: U_i depends on atom i's own entries only).

Parameter tables (``tables``, a tuple built by the physics layer). Species
are 0 .. n_el - 1 for the elements named by the functions and n_el for any
other element ("other" atoms are never counted as neighbours but may be
centres of functions without a centre element); n_sp = n_el + 1.

 0. ``n_el`` int
 1. ``center_rc`` float64 (n_sp, 2): largest r_c of all / of the angular
    functions of each central species, Å (0: none).
 2. ``cut_kind`` int64 (C,): cutoff type number (see :mod:`.cutoffs`).
 3. ``cut_par`` float64 (C, 2): [r_c Å, alpha].
 4. ``rad_first`` int64 (n_sp * n_el + 1,): CSR offsets of the radial
    functions of (central species c, neighbour element e) at c * n_el + e.
 5. ``rad_int`` int64 (R, 2): [output column, cutoff index].
 6. ``rad_par`` float64 (R, 2): [eta 1/Å^2, r_s Å].
 7. ``rp_first`` int64 (n_sp + 1,): CSR offsets of the angular radial parts
    of each central species.
 8. ``rp_cut`` int64 (RP,): cutoff index of each radial part.
 9. ``rp_par`` float64 (RP, 2): [eta 1/Å^2, r_s Å].
10. ``ang_first`` int64 (n_sp * n_el * n_el + 1,): CSR offsets of the
    angular groups of (c, e_lo, e_hi) at (c * n_el + e_lo) * n_el + e_hi,
    e_lo <= e_hi. Groups are ordered by c, so a species' groups and their
    functions are contiguous.
11. ``grp_int`` int64 (NG, 2): [type 3 or 9, radial-part index (global)].
12. ``grp_first`` int64 (NG + 1,): CSR offsets of each group's functions.
13. ``fn_int`` int64 (M, 2): [output column, zeta as an integer or -1].
14. ``fn_par`` float64 (M, 3): [lambda, zeta, 2^(1 - zeta)].
"""

import math

import numpy as np
from numba import njit, prange

from echemmd.kernels.cutoffs import _cutoff_fdf
from echemmd.kernels.neighbors import _pair_vector, _row


def power(x, zeta, izeta):
    """x^zeta for x > 0: repeated squaring when zeta is a non-negative integer (``izeta`` >= 0).

    Integer powers are exact to rounding and several times faster than pow();
    n2p2 makes the same choice.
    """
    if izeta < 0:
        return math.pow(x, zeta)
    result = 1.0
    base = x
    n = izeta
    while n > 0:
        if n & 1:
            result *= base
        base *= base
        n >>= 1
    return result


_power = njit(inline="always")(power)


@njit(inline="always")
def _gather(i, positions, cell, first, neighbors, shifts, species, r_max, s_p, s_e, s_d, s_r):
    """Copy the list entries of atom i closer than r_max into scratch; return their count."""
    n = 0
    r2_max = r_max * r_max
    lo, row, row_shifts = _row(first, neighbors, shifts, i)
    for t in range(row.shape[0]):
        j = np.uint32(row[t])  # unsigned: no negative-index wraparound (see _row)
        d0, d1, d2 = _pair_vector(positions, cell, i, j, row_shifts[t])
        r2 = d0 * d0 + d1 * d1 + d2 * d2
        if r2 >= r2_max:
            continue
        s_p[n] = lo + t
        s_e[n] = species[j]
        s_d[n, 0] = d0
        s_d[n, 1] = d1
        s_d[n, 2] = d2
        s_r[n] = math.sqrt(r2)
        n += 1
    return n


@njit(inline="always")
def _cutoffs(n, s_r, cut_kind, cut_par, fc, dfc):
    """f_c and df_c/dr of every scratch neighbour for every distinct cutoff."""
    for c in range(cut_kind.shape[0]):
        kind = cut_kind[c]
        r_c = cut_par[c, 0]
        alpha = cut_par[c, 1]
        for s in range(n):
            fc[c, s], dfc[c, s] = _cutoff_fdf(kind, s_r[s], r_c, alpha)


@njit(inline="always")
def _radial_parts(n, s_r, rp0, rp1, rp_cut, rp_par, cut_par, fc, dfc, R, dR):
    """exp(-eta (r - r_s)^2) f_c(r) and its r-derivative per (angular radial part, neighbour)."""
    for q in range(rp0, rp1):
        c = rp_cut[q]
        r_c = cut_par[c, 0]
        eta = rp_par[q, 0]
        r_s = rp_par[q, 1]
        row = q - rp0
        for s in range(n):
            r = s_r[s]
            if r >= r_c:
                R[row, s] = 0.0
                dR[row, s] = 0.0
                continue
            x = r - r_s
            e = math.exp(-eta * x * x)
            R[row, s] = e * fc[c, s]
            dR[row, s] = e * (dfc[c, s] - 2.0 * eta * x * fc[c, s])


@njit(inline="always")
def _angular_order(n, s_r, s_e, r_ang, n_el, a_s, blk):
    """Neighbours that can enter an angular term (r < r_ang, named element), sorted by element.

    A stable counting sort: ``a_s[blk[e]:blk[e + 1]]`` are the scratch indices
    of element e in list order. With the blocks, a pair loop looks up the
    function groups once per (j, element of k) instead of once per (j, k).
    Returns the number of such neighbours.
    """
    for e in range(n_el + 1):
        blk[e] = 0
    for s in range(n):
        if s_r[s] < r_ang and s_e[s] < n_el:
            blk[s_e[s] + 1] += 1
    for e in range(n_el):
        blk[e + 1] += blk[e]
    na = blk[n_el]
    fill = blk[:n_el].copy()
    for s in range(n):
        if s_r[s] < r_ang and s_e[s] < n_el:
            e = s_e[s]
            a_s[fill[e]] = s
            fill[e] += 1
    return na


@njit(cache=True)
def _environment(i, positions, cell, species, first, neighbors, shifts, r_all, cut_kind, cut_par):
    """Atom i's neighbours within r_all (list entry, element, vector, distance) and their cutoff values.

    The common first half of the value and force passes.
    """
    nb = first[i + 1] - first[i]
    s_p = np.empty(nb, dtype=np.int64)
    s_e = np.empty(nb, dtype=np.int64)
    s_d = np.empty((nb, 3))
    s_r = np.empty(nb)
    n = _gather(i, positions, cell, first, neighbors, shifts, species, r_all, s_p, s_e, s_d, s_r)
    fc = np.empty((cut_kind.shape[0], n))
    dfc = np.empty((cut_kind.shape[0], n))
    _cutoffs(n, s_r, cut_kind, cut_par, fc, dfc)
    return n, s_p, s_e, s_d, s_r, fc, dfc


@njit(cache=True)
def _atom_values(i, positions, cell, species, first, neighbors, shifts, tables, out):
    """Fill row i of ``out`` (see :func:`symmetry_functions`).

    A separate (not inlined) function keeps the parallel kernel small: Numba
    compiles a large prange body many times slower.
    """
    (n_el, center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par,
     ang_first, grp_int, grp_first, fn_int, fn_par) = tables
    c = species[i]
    r_all = center_rc[c, 0]
    if r_all <= 0.0:
        return
    n, s_p, s_e, s_d, s_r, fc, dfc = _environment(i, positions, cell, species, first, neighbors, shifts, r_all,
                                                  cut_kind, cut_par)
    # Radial functions: each neighbour visits only the functions of its element.
    for s in range(n):
        e = s_e[s]
        if e >= n_el:
            continue
        key = c * n_el + e
        r = s_r[s]
        for q in range(rad_first[key], rad_first[key + 1]):
            cc = rad_int[q, 1]
            if r >= cut_par[cc, 0]:
                continue
            x = r - rad_par[q, 1]
            out[i, rad_int[q, 0]] += math.exp(-rad_par[q, 0] * x * x) * fc[cc, s]
    # Angular functions.
    r_ang = center_rc[c, 1]
    if r_ang <= 0.0:
        return
    rp0 = rp_first[c]
    rp1 = rp_first[c + 1]
    R = np.empty((rp1 - rp0, n))
    dR = np.empty((rp1 - rp0, n))
    _radial_parts(n, s_r, rp0, rp1, rp_cut, rp_par, cut_par, fc, dfc, R, dR)
    a_s = np.empty(n, dtype=np.int64)
    blk = np.empty(n_el + 1, dtype=np.int64)
    na = _angular_order(n, s_r, s_e, r_ang, n_el, a_s, blk)
    s_inv = 1.0 / s_r[:n]
    base = c * n_el
    for jj in range(na - 1):
        sj = a_s[jj]
        ej = s_e[sj]
        inv_j = s_inv[sj]
        aj0 = s_d[sj, 0]
        aj1 = s_d[sj, 1]
        aj2 = s_d[sj, 2]
        # Sorted by element, so k > j has e_k >= e_j: one group lookup per element block.
        for ek in range(ej, n_el):
            key = (base + ej) * n_el + ek
            g0 = ang_first[key]
            g1 = ang_first[key + 1]
            k0 = max(jj + 1, blk[ek])
            if g0 == g1 or k0 >= blk[ek + 1]:
                continue
            for kk in range(k0, blk[ek + 1]):
                sk = a_s[kk]
                bk0 = s_d[sk, 0]
                bk1 = s_d[sk, 1]
                bk2 = s_d[sk, 2]
                cos_t = (aj0 * bk0 + aj1 * bk1 + aj2 * bk2) * (inv_j * s_inv[sk])
                rjk = -1.0  # computed on first use by a narrow (type 3) group
                for g in range(g0, g1):
                    q = grp_int[g, 1]
                    row = q - rp0
                    rad = R[row, sj] * R[row, sk]
                    if rad == 0.0:
                        continue
                    if grp_int[g, 0] == 3:
                        if rjk < 0.0:
                            c0 = bk0 - aj0
                            c1 = bk1 - aj1
                            c2 = bk2 - aj2
                            rjk = math.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
                        cc = rp_cut[q]
                        if rjk >= cut_par[cc, 0]:
                            continue
                        f3, df3 = _cutoff_fdf(cut_kind[cc], rjk, cut_par[cc, 0], cut_par[cc, 1])
                        x = rjk - rp_par[q, 1]
                        rad *= math.exp(-rp_par[q, 0] * x * x) * f3
                    for m in range(grp_first[g], grp_first[g + 1]):
                        plam = 1.0 + fn_par[m, 0] * cos_t
                        if plam <= 0.0:
                            continue
                        out[i, fn_int[m, 0]] += _power(plam, fn_par[m, 1], fn_int[m, 1]) * rad
    # The 2^(1 - zeta) prefactors, once per function of this species.
    for m in range(grp_first[ang_first[base * n_el]], grp_first[ang_first[(base + n_el) * n_el]]):
        out[i, fn_int[m, 0]] *= fn_par[m, 2]


@njit(cache=True, parallel=True)
def symmetry_functions(positions, cell, species, first, neighbors, shifts, tables, n_columns):
    """Symmetry-function values of every atom.

    Parameters
    ----------
    positions : float64 (N, 3)
        Positions the list refers to (unwrapped), Å.
    cell : float64 (3, 3)
        Cell vectors as rows, Å.
    species : int64 (N,)
        Species index of each atom (see the module docstring).
    first, neighbors, shifts :
        Full neighbour list (CSR); entries beyond the cutoffs are skipped.
    tables : tuple
        Parameter tables (module docstring).
    n_columns : int
        Number of functions (output columns).

    Returns
    -------
    G : float64 (N, n_columns)
        Values; columns of functions that do not apply to an atom's element are 0.
    """
    n_atoms = positions.shape[0]
    out = np.zeros((n_atoms, n_columns))
    for i in prange(n_atoms):
        # np.int64: the prange index may be typed uint64, which would compile the body twice.
        _atom_values(np.int64(i), positions, cell, species, first, neighbors, shifts, tables, out)
    return out


@njit(cache=True)
def _atom_forces(i, positions, cell, species, first, neighbors, shifts, tables, dEdG, gvec, forces, virial_i):
    """dE_i/dr_p of atom i's list entries into ``gvec``, F_i's own part and its virial row.

    See :func:`symmetry_function_forces`; a separate function for compile time.
    """
    (n_el, center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par,
     ang_first, grp_int, grp_first, fn_int, fn_par) = tables
    c = species[i]
    r_all = center_rc[c, 0]
    if r_all <= 0.0:
        return
    n, s_p, s_e, s_d, s_r, fc, dfc = _environment(i, positions, cell, species, first, neighbors, shifts, r_all,
                                                  cut_kind, cut_par)
    # dE_i/d|r_p| from radial terms, turned into vectors at the end.
    g_r = np.zeros(n)
    g_v = np.zeros((n, 3))
    for s in range(n):
        e = s_e[s]
        if e >= n_el:
            continue
        key = c * n_el + e
        r = s_r[s]
        acc = 0.0
        for q in range(rad_first[key], rad_first[key + 1]):
            cc = rad_int[q, 1]
            if r >= cut_par[cc, 0]:
                continue
            w = dEdG[i, rad_int[q, 0]]
            if w == 0.0:
                continue
            eta = rad_par[q, 0]
            x = r - rad_par[q, 1]
            acc += w * math.exp(-eta * x * x) * (dfc[cc, s] - 2.0 * eta * x * fc[cc, s])
        g_r[s] = acc
    r_ang = center_rc[c, 1]
    if r_ang > 0.0:
        rp0 = rp_first[c]
        rp1 = rp_first[c + 1]
        R = np.empty((rp1 - rp0, n))
        dR = np.empty((rp1 - rp0, n))
        _radial_parts(n, s_r, rp0, rp1, rp_cut, rp_par, cut_par, fc, dfc, R, dR)
        a_s = np.empty(n, dtype=np.int64)
        blk = np.empty(n_el + 1, dtype=np.int64)
        na = _angular_order(n, s_r, s_e, r_ang, n_el, a_s, blk)
        s_inv = 1.0 / s_r[:n]
        base = c * n_el
        for jj in range(na - 1):
            sj = a_s[jj]
            ej = s_e[sj]
            inv_j = s_inv[sj]
            inv_j2 = inv_j * inv_j
            aj0 = s_d[sj, 0]
            aj1 = s_d[sj, 1]
            aj2 = s_d[sj, 2]
            # j's share is summed in registers over k and stored once: no store-to-load chain.
            gj_r = 0.0
            gj0 = 0.0
            gj1 = 0.0
            gj2 = 0.0
            for ek in range(ej, n_el):
                key = (base + ej) * n_el + ek
                g0 = ang_first[key]
                g1 = ang_first[key + 1]
                k0 = max(jj + 1, blk[ek])
                if g0 == g1 or k0 >= blk[ek + 1]:
                    continue
                for kk in range(k0, blk[ek + 1]):
                    sk = a_s[kk]
                    inv_k = s_inv[sk]
                    bk0 = s_d[sk, 0]
                    bk1 = s_d[sk, 1]
                    bk2 = s_d[sk, 2]
                    inv_ab = inv_j * inv_k
                    cos_t = (aj0 * bk0 + aj1 * bk1 + aj2 * bk2) * inv_ab
                    rjk = -1.0
                    c0 = 0.0
                    c1 = 0.0
                    c2 = 0.0
                    # dE/dcos t times the product of radial factors, and dE/dr of each distance.
                    s_cos = 0.0
                    s_a = 0.0
                    s_b = 0.0
                    s_c = 0.0
                    for g in range(g0, g1):
                        q = grp_int[g, 1]
                        row = q - rp0
                        Ra = R[row, sj]
                        Rb = R[row, sk]
                        if Ra == 0.0 or Rb == 0.0:
                            continue
                        R3 = 1.0
                        dR3 = 0.0
                        narrow = grp_int[g, 0] == 3
                        if narrow:
                            if rjk < 0.0:
                                c0 = bk0 - aj0
                                c1 = bk1 - aj1
                                c2 = bk2 - aj2
                                rjk = math.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
                            cc = rp_cut[q]
                            if rjk >= cut_par[cc, 0]:
                                continue
                            f3, df3 = _cutoff_fdf(cut_kind[cc], rjk, cut_par[cc, 0], cut_par[cc, 1])
                            eta = rp_par[q, 0]
                            x = rjk - rp_par[q, 1]
                            e3 = math.exp(-eta * x * x)
                            R3 = e3 * f3
                            dR3 = e3 * (df3 - 2.0 * eta * x * f3)
                        # A = sum_m w N zeta lambda P^(zeta-1), B = sum_m w N P^zeta.
                        A = 0.0
                        B = 0.0
                        for m in range(grp_first[g], grp_first[g + 1]):
                            w = dEdG[i, fn_int[m, 0]]
                            if w == 0.0:
                                continue
                            lam = fn_par[m, 0]
                            plam = 1.0 + lam * cos_t
                            if plam <= 0.0:
                                continue
                            zeta = fn_par[m, 1]
                            iz = fn_int[m, 1]
                            pz1 = _power(plam, zeta - 1.0, iz - 1 if iz > 0 else -1)
                            wn = w * fn_par[m, 2]
                            A += wn * zeta * lam * pz1
                            B += wn * pz1 * plam
                        if A == 0.0 and B == 0.0:
                            continue
                        RR = Ra * Rb * R3
                        s_cos += A * RR
                        s_a += B * dR[row, sj] * Rb * R3
                        s_b += B * Ra * dR[row, sk] * R3
                        if narrow:
                            s_c += B * Ra * Rb * dR3
                    if s_cos == 0.0 and s_a == 0.0 and s_b == 0.0 and s_c == 0.0:
                        continue
                    # d cos/d r_ij = r_ik/(r_ij r_ik) - cos r_ij/r_ij^2, and j <-> k; r_jk = r_ik - r_ij.
                    ka = s_cos * cos_t * inv_j2
                    kb = s_cos * cos_t * inv_k * inv_k
                    kab = s_cos * inv_ab
                    gj_r += s_a
                    g_r[sk] += s_b
                    gj0 += kab * bk0 - ka * aj0
                    gj1 += kab * bk1 - ka * aj1
                    gj2 += kab * bk2 - ka * aj2
                    g_v[sk, 0] += kab * aj0 - kb * bk0
                    g_v[sk, 1] += kab * aj1 - kb * bk1
                    g_v[sk, 2] += kab * aj2 - kb * bk2
                    if s_c != 0.0:
                        t = s_c / rjk
                        gj0 -= t * c0
                        gj1 -= t * c1
                        gj2 -= t * c2
                        g_v[sk, 0] += t * c0
                        g_v[sk, 1] += t * c1
                        g_v[sk, 2] += t * c2
            g_r[sj] += gj_r
            g_v[sj, 0] += gj0
            g_v[sj, 1] += gj1
            g_v[sj, 2] += gj2
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    w00 = 0.0
    w01 = 0.0
    w02 = 0.0
    w10 = 0.0
    w11 = 0.0
    w12 = 0.0
    w20 = 0.0
    w21 = 0.0
    w22 = 0.0
    for s in range(n):
        d0 = s_d[s, 0]
        d1 = s_d[s, 1]
        d2 = s_d[s, 2]
        u = g_r[s] / s_r[s]
        v0 = g_v[s, 0] + u * d0
        v1 = g_v[s, 1] + u * d1
        v2 = g_v[s, 2] + u * d2
        p = s_p[s]
        gvec[p, 0] = v0
        gvec[p, 1] = v1
        gvec[p, 2] = v2
        # r_p = x_j - x_i: dE/dx_i = -g_p, so F_i = +g_p.
        f0 += v0
        f1 += v1
        f2 += v2
        w00 -= d0 * v0
        w01 -= d0 * v1
        w02 -= d0 * v2
        w10 -= d1 * v0
        w11 -= d1 * v1
        w12 -= d1 * v2
        w20 -= d2 * v0
        w21 -= d2 * v1
        w22 -= d2 * v2
    forces[i, 0] = f0
    forces[i, 1] = f1
    forces[i, 2] = f2
    virial_i[i, 0] = w00
    virial_i[i, 1] = w01
    virial_i[i, 2] = w02
    virial_i[i, 3] = w10
    virial_i[i, 4] = w11
    virial_i[i, 5] = w12
    virial_i[i, 6] = w20
    virial_i[i, 7] = w21
    virial_i[i, 8] = w22


@njit(cache=True, parallel=True)
def symmetry_function_forces(positions, cell, species, first, neighbors, shifts, tables, dEdG):
    """Forces and virial of E = sum_i sum_mu dEdG[i, mu] G_i,mu (dEdG held fixed).

    Parameters
    ----------
    positions, cell, species, first, neighbors, shifts, tables :
        As for :func:`symmetry_functions`.
    dEdG : float64 (N, n_columns)
        Derivative of the energy with respect to each atom's function values, eV.

    Returns
    -------
    forces : float64 (N, 3)
        F_k = -sum_i sum_mu dEdG[i, mu] dG_i,mu/dx_k, eV/Å.
    virial : float64 (3, 3)
        W = -sum_p r_p (x) dE/dr_p, eV (stress = -W / V).
    """
    n_atoms = positions.shape[0]
    n_entries = neighbors.shape[0]
    # dE_i/dr_p for every list entry p; written only by the owner i of the entry.
    gvec = np.zeros((n_entries, 3))
    forces = np.zeros((n_atoms, 3))
    virial_i = np.zeros((n_atoms, 9))
    for i in prange(n_atoms):
        _atom_forces(np.int64(i), positions, cell, species, first, neighbors, shifts, tables, dEdG,
                     gvec, forces, virial_i)
    # Serial scatter and reductions, in list order: independent of the thread count.
    for i in range(n_atoms):
        for p in range(first[i], first[i + 1]):
            j = neighbors[p]
            forces[j, 0] -= gvec[p, 0]
            forces[j, 1] -= gvec[p, 1]
            forces[j, 2] -= gvec[p, 2]
    virial = np.zeros((3, 3))
    for i in range(n_atoms):
        for a in range(3):
            for b in range(3):
                virial[a, b] += virial_i[i, 3 * a + b]
    return forces, virial


@njit(cache=True)
def _atom_jvp(i, positions, cell, species, first, neighbors, shifts, tables, displacement, strain, out):
    """Row i of the directional derivative U (see :func:`symmetry_function_jvp`).

    The forward-mode twin of :func:`_atom_forces`: the same terms, skipped
    under the same conditions, differentiated along dv_p instead of
    contracted with dE/dG. A separate function for compile time.
    """
    (n_el, center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par,
     ang_first, grp_int, grp_first, fn_int, fn_par) = tables
    c = species[i]
    r_all = center_rc[c, 0]
    if r_all <= 0.0:
        return
    n, s_p, s_e, s_d, s_r, fc, dfc = _environment(i, positions, cell, species, first, neighbors, shifts, r_all,
                                                  cut_kind, cut_par)
    # Change of each list vector (dv) and of its length (du): everything below depends on these only.
    s_dv = np.empty((n, 3))
    s_du = np.empty(n)
    vi0 = displacement[i, 0]
    vi1 = displacement[i, 1]
    vi2 = displacement[i, 2]
    for s in range(n):
        j = neighbors[s_p[s]]
        d0 = s_d[s, 0]
        d1 = s_d[s, 1]
        d2 = s_d[s, 2]
        # The list vector strains with the cell, image shift included: r -> r + r @ strain.
        dv0 = displacement[j, 0] - vi0 + d0 * strain[0, 0] + d1 * strain[1, 0] + d2 * strain[2, 0]
        dv1 = displacement[j, 1] - vi1 + d0 * strain[0, 1] + d1 * strain[1, 1] + d2 * strain[2, 1]
        dv2 = displacement[j, 2] - vi2 + d0 * strain[0, 2] + d1 * strain[1, 2] + d2 * strain[2, 2]
        s_dv[s, 0] = dv0
        s_dv[s, 1] = dv1
        s_dv[s, 2] = dv2
        s_du[s] = (d0 * dv0 + d1 * dv1 + d2 * dv2) / s_r[s]
    # Radial functions.
    for s in range(n):
        e = s_e[s]
        if e >= n_el:
            continue
        du = s_du[s]
        key = c * n_el + e
        r = s_r[s]
        for q in range(rad_first[key], rad_first[key + 1]):
            cc = rad_int[q, 1]
            if r >= cut_par[cc, 0]:
                continue
            eta = rad_par[q, 0]
            x = r - rad_par[q, 1]
            out[i, rad_int[q, 0]] += math.exp(-eta * x * x) * (dfc[cc, s] - 2.0 * eta * x * fc[cc, s]) * du
    # Angular functions.
    r_ang = center_rc[c, 1]
    if r_ang <= 0.0:
        return
    rp0 = rp_first[c]
    rp1 = rp_first[c + 1]
    R = np.empty((rp1 - rp0, n))
    dR = np.empty((rp1 - rp0, n))
    _radial_parts(n, s_r, rp0, rp1, rp_cut, rp_par, cut_par, fc, dfc, R, dR)
    a_s = np.empty(n, dtype=np.int64)
    blk = np.empty(n_el + 1, dtype=np.int64)
    na = _angular_order(n, s_r, s_e, r_ang, n_el, a_s, blk)
    s_inv = 1.0 / s_r[:n]
    base = c * n_el
    for jj in range(na - 1):
        sj = a_s[jj]
        ej = s_e[sj]
        inv_j = s_inv[sj]
        aj0 = s_d[sj, 0]
        aj1 = s_d[sj, 1]
        aj2 = s_d[sj, 2]
        dvj0 = s_dv[sj, 0]
        dvj1 = s_dv[sj, 1]
        dvj2 = s_dv[sj, 2]
        du_j = s_du[sj]
        for ek in range(ej, n_el):
            key = (base + ej) * n_el + ek
            g0 = ang_first[key]
            g1 = ang_first[key + 1]
            k0 = max(jj + 1, blk[ek])
            if g0 == g1 or k0 >= blk[ek + 1]:
                continue
            for kk in range(k0, blk[ek + 1]):
                sk = a_s[kk]
                inv_k = s_inv[sk]
                bk0 = s_d[sk, 0]
                bk1 = s_d[sk, 1]
                bk2 = s_d[sk, 2]
                dvk0 = s_dv[sk, 0]
                dvk1 = s_dv[sk, 1]
                dvk2 = s_dv[sk, 2]
                du_k = s_du[sk]
                inv_ab = inv_j * inv_k
                cos_t = (aj0 * bk0 + aj1 * bk1 + aj2 * bk2) * inv_ab
                # d cos t = (b . dv_a + a . dv_b) / (|a| |b|) - cos t (du_a / |a| + du_b / |b|).
                dcos = ((bk0 * dvj0 + bk1 * dvj1 + bk2 * dvj2 + aj0 * dvk0 + aj1 * dvk1 + aj2 * dvk2) * inv_ab
                        - cos_t * (du_j * inv_j + du_k * inv_k))
                rjk = -1.0  # r_jk and its change, computed on first use by a narrow (type 3) group
                drjk = 0.0
                for g in range(g0, g1):
                    q = grp_int[g, 1]
                    row = q - rp0
                    Ra = R[row, sj]
                    Rb = R[row, sk]
                    if Ra == 0.0 or Rb == 0.0:
                        continue
                    R3 = 1.0
                    dR3 = 0.0
                    if grp_int[g, 0] == 3:
                        if rjk < 0.0:
                            c0 = bk0 - aj0
                            c1 = bk1 - aj1
                            c2 = bk2 - aj2
                            rjk = math.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
                            drjk = (c0 * (dvk0 - dvj0) + c1 * (dvk1 - dvj1) + c2 * (dvk2 - dvj2)) / rjk
                        cc = rp_cut[q]
                        if rjk >= cut_par[cc, 0]:
                            continue
                        f3, df3 = _cutoff_fdf(cut_kind[cc], rjk, cut_par[cc, 0], cut_par[cc, 1])
                        eta = rp_par[q, 0]
                        x = rjk - rp_par[q, 1]
                        e3 = math.exp(-eta * x * x)
                        R3 = e3 * f3
                        dR3 = e3 * (df3 - 2.0 * eta * x * f3) * drjk
                    # Change of the radial product, and the product times d cos t: shared by the group.
                    RR = Ra * Rb * R3
                    dRR = dR[row, sj] * du_j * Rb * R3 + Ra * dR[row, sk] * du_k * R3 + Ra * Rb * dR3
                    RRc = RR * dcos
                    for m in range(grp_first[g], grp_first[g + 1]):
                        lam = fn_par[m, 0]
                        plam = 1.0 + lam * cos_t
                        if plam <= 0.0:
                            continue
                        zeta = fn_par[m, 1]
                        iz = fn_int[m, 1]
                        pz1 = _power(plam, zeta - 1.0, iz - 1 if iz > 0 else -1)
                        out[i, fn_int[m, 0]] += pz1 * (zeta * lam * RRc + plam * dRR)
    # The 2^(1 - zeta) prefactors, once per function of this species (as in the value pass).
    for m in range(grp_first[ang_first[base * n_el]], grp_first[ang_first[(base + n_el) * n_el]]):
        out[i, fn_int[m, 0]] *= fn_par[m, 2]


@njit(cache=True, parallel=True)
def symmetry_function_jvp(positions, cell, species, first, neighbors, shifts, tables, n_columns, displacement,
                          strain):
    """Directional derivative of every symmetry function along a displacement field and a strain.

    ``U[i, mu] = sum_{p of i} dG_i,mu/dr_p . dv_p`` with
    ``dv_p = displacement[j(p)] - displacement[i] + r_p @ strain``, i.e.
    ``d/dh G(positions + h (displacement + positions @ strain), cell + h cell @ strain)``
    at h = 0 (row vectors: every position, cell row and list vector r
    moves to r + h r @ strain). The forward-mode counterpart of
    :func:`symmetry_function_forces`: for any dEdG,
    ``sum(dEdG * U) = -sum(F * displacement) - sum(W * strain)``.

    Parameters
    ----------
    positions, cell, species, first, neighbors, shifts, tables, n_columns :
        As for :func:`symmetry_functions`.
    displacement : float64 (N, 3)
        Direction of motion of each atom, Å.
    strain : float64 (3, 3)
        Homogeneous strain direction (dimensionless), applied as r -> r + r @ strain.

    Returns
    -------
    U : float64 (N, n_columns)
        dG/dh, dimensionless (h is a pure number; the direction carries the
        Å); columns of functions that do not apply to an atom are 0.
    """
    n_atoms = positions.shape[0]
    out = np.zeros((n_atoms, n_columns))
    # Each atom writes its own row only: no races, and the result does not depend on the thread count.
    for i in prange(n_atoms):
        _atom_jvp(np.int64(i), positions, cell, species, first, neighbors, shifts, tables, displacement, strain,
                  out)
    return out

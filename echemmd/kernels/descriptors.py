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
    result = type(x)(1.0)
    base = x
    n = izeta
    while n > 0:
        if n & 1:
            result *= base
        base *= base
        n >>= 1
    return result


# ---------------------------------------------------------------------------- shared scalar math
# Written once as plain Python and compiled twice: with njit(inline="always") below for the CPU
# kernels, and as CUDA device functions in kernels.cuda.scalar for kernels.cuda.descriptors. A
# function that calls another compiled function is built by a factory on the compiled callee.
#
# Both backends index their scratch the same way, so these functions take arrays and indices:
# a neighbour's row s of the per-neighbour arrays (``R[s, part]``, ``gacc[s, :]``; the scratch
# index on the CPU, the list slot on the GPU) and a column f of the cutoff values
# ``fc[cutoff, f]`` (the neighbour on the CPU, which keeps every neighbour's values; the atom on
# the GPU, which keeps those of the entry it is gathering).
#
# Type-generic. The same functions run in float32 for the CUDA backend's mixed precision
# (kernels.cuda.descriptors): distances, table parameters and scratch in float32 give float32
# arithmetic, because every constant is converted to the type of a float argument
# (``type(r)(2.0)``: a bare literal is float64 in Numba and would promote the whole expression,
# ``float32 * 2.0`` being float64). In float64 the conversion is the identity, so the CPU builds
# compile to the code of plain literals. Sums that start from a typed zero are per pair or per
# entry (the groups of one pair, the radial functions of one entry); the callers keep the sums over
# neighbours and pairs (G, gacc, the forces) in float64 arrays or float64 tuples, so they
# accumulate in float64 whatever the terms' precision.


def radial_part(r, eta, r_s, fc, dfc):
    """exp(-eta (r - r_s)^2) f_c(r) and its r-derivative, from f_c(r) and df_c/dr.

    The radial factor of every function type: of a radial function, of each neighbour of an
    angular function, and of the r_jk side of a narrow one.

    Returns
    -------
    R, dR : float
        The factor and d/dr of it, 1/Å.
    """
    x = r - r_s
    e = math.exp(-eta * x * x)
    return e * fc, e * (dfc - type(x)(2.0) * eta * x * fc)


def make_cutoffs_at(cutoff_fdf_fn):
    """Build ``cutoffs_at`` on a compiled ``cutoff_fdf`` (CPU or CUDA device function)."""

    def cutoffs_at(f, r, cut_kind, cut_par, fc, dfc):
        """f_c(r) and df_c/dr of every distinct cutoff into column f of ``fc`` and ``dfc`` (C, ...)."""
        for c in range(cut_kind.shape[0]):
            fc[c, f], dfc[c, f] = cutoff_fdf_fn(cut_kind[c], r, cut_par[c, 0], cut_par[c, 1])

    return cutoffs_at


def make_radial_part_at(radial_part_fn):
    """Build ``radial_part_at`` on a compiled :func:`radial_part`."""

    def radial_part_at(r, q, f, rp_cut, rp_par, cut_par, fc, dfc):
        """(R, dR) of angular radial part q at distance r, (0, 0) at and beyond its cutoff.

        ``fc[:, f]`` and ``dfc[:, f]`` hold the cutoff values at r.
        """
        c = rp_cut[q]
        if r >= cut_par[c, 0]:
            zero = type(r)(0.0)
            return zero, zero
        return radial_part_fn(r, rp_par[q, 0], rp_par[q, 1], fc[c, f], dfc[c, f])

    return radial_part_at


def make_radial_values(radial_part_fn):
    """Build ``radial_values`` on a compiled :func:`radial_part`."""

    def radial_values(out, i, key, r, f, rad_first, rad_int, rad_par, cut_par, fc, dfc):
        """Add a neighbour at distance r to the radial functions ``key`` (centre, element) in row i of ``out``.

        ``fc[:, f]`` and ``dfc[:, f]`` hold the cutoff values at r; the derivative goes unused
        and is compiled away.
        """
        for q in range(rad_first[key], rad_first[key + 1]):
            cc = rad_int[q, 1]
            if r >= cut_par[cc, 0]:
                continue
            out[i, rad_int[q, 0]] += radial_part_fn(r, rad_par[q, 0], rad_par[q, 1], fc[cc, f], dfc[cc, f])[0]

    return radial_values


def radial_gradient(dEdG, i, key, r, f, rad_first, rad_int, rad_par, cut_par, fc, dfc):
    """dE_i/dr of a neighbour at distance r through the radial functions ``key`` (centre, element).

    The sum of dEdG[i, mu] dG_mu/dr over the functions, those of zero weight skipped. Written out
    rather than as ``w * radial_part(...)[1]``: ``w * e * (...)`` rounds as the force pass does.
    """
    real = type(r)
    acc = real(0.0)
    for q in range(rad_first[key], rad_first[key + 1]):
        cc = rad_int[q, 1]
        if r >= cut_par[cc, 0]:
            continue
        w = dEdG[i, rad_int[q, 0]]
        if w == 0.0:
            continue
        eta = rad_par[q, 0]
        x = r - rad_par[q, 1]
        acc += w * math.exp(-eta * x * x) * (dfc[cc, f] - real(2.0) * eta * x * fc[cc, f])
    return acc


#: (r_jk, r_k - r_j) of a neighbour pair before a narrow group needed it (r_jk < 0: not computed).
NO_JK = (-1.0, 0.0, 0.0, 0.0)


def jk_vector(aj0, aj1, aj2, bk0, bk1, bk2):
    """(r_jk, r_k - r_j) of the neighbours at r_ij = a and r_ik = b."""
    c0 = bk0 - aj0
    c1 = bk1 - aj1
    c2 = bk2 - aj2
    return math.sqrt(c0 * c0 + c1 * c1 + c2 * c2), c0, c1, c2


def make_narrow_factor(cutoff_fdf_fn, radial_part_fn):
    """Build ``narrow_factor`` on a compiled ``cutoff_fdf`` and :func:`radial_part`."""

    def narrow_factor(rjk, q, rp_cut, rp_par, cut_kind, cut_par):
        """The r_jk factor of a narrow (type 3) group with radial part q: (inside, R3, dR3/dr_jk).

        ``inside`` is False at and beyond the part's cutoff, where the group's term vanishes (and
        is skipped). The cutoff is evaluated here: r_jk is no list distance with table values.
        """
        # Every table read comes first: see "CPU kernels" below.
        c = rp_cut[q]
        kind = cut_kind[c]
        r_c = cut_par[c, 0]
        alpha = cut_par[c, 1]
        eta = rp_par[q, 0]
        r_s = rp_par[q, 1]
        if rjk >= r_c:
            zero = type(rjk)(0.0)
            return False, zero, zero
        f3, df3 = cutoff_fdf_fn(kind, rjk, r_c, alpha)
        R3, dR3 = radial_part_fn(rjk, eta, r_s, f3, df3)
        return True, R3, dR3

    return narrow_factor


def make_group_radial(jk_vector_fn, narrow_factor_fn):
    """Build ``group_radial`` on compiled :func:`jk_vector` and ``narrow_factor``."""

    def group_radial(g, rp0, sj, sk, R, aj0, aj1, aj2, bk0, bk1, bk2, jk, grp_int, rp_cut, rp_par, cut_kind,
                     cut_par):
        """The radial factors of angular group g for the neighbour pair (j, k).

        Parameters
        ----------
        g, rp0 : int
            Group, and the first angular radial part of the central species (column 0 of ``R``).
        sj, sk : int
            Rows of j and k in ``R``.
        R : float (.., parts), float64 or float32
            exp(-eta (r - r_s)^2) f_c(r) of every neighbour and angular radial part.
        aj0, aj1, aj2, bk0, bk1, bk2 : float
            r_ij and r_ik.
        jk : tuple
            (r_jk, r_k - r_j) if a narrow group of the pair computed them, else ``NO_JK``.

        Returns
        -------
        row : int
            The group's column of ``R``, or -1 where its term vanishes (a zero radial factor, or
            r_jk at or beyond a narrow group's cutoff): skip the group.
        Ra, Rb, R3, dR3 : float
            R of j and of k, the r_jk factor and its r_jk-derivative (1 and 0 for a wide group).
        narrow : bool
            Whether the group is narrow (type 3).
        jk : tuple
            (r_jk, r_k - r_j), computed on first use: a pair of wide groups only needs no sqrt.
        """
        q = grp_int[g, 1]
        row = q - rp0
        Ra = R[sj, row]
        Rb = R[sk, row]
        narrow = grp_int[g, 0] == 3
        R3 = type(aj0)(1.0)
        dR3 = type(aj0)(0.0)
        if Ra == 0.0 or Rb == 0.0:
            return -1, Ra, Rb, R3, dR3, narrow, jk
        if narrow:
            if jk[0] < 0.0:
                jk = jk_vector_fn(aj0, aj1, aj2, bk0, bk1, bk2)
            inside, R3, dR3 = narrow_factor_fn(jk[0], q, rp_cut, rp_par, cut_kind, cut_par)
            if not inside:
                row = -1
        return row, Ra, Rb, R3, dR3, narrow, jk

    return group_radial


def make_angular_power(power_fn):
    """Build ``angular_power`` on a compiled :func:`power`."""

    def angular_power(cos_t, lam, zeta, izeta):
        """(P, P^zeta) with P = 1 + lambda cos t; P^zeta is not computed (0) where P <= 0, whose terms are skipped."""
        plam = type(cos_t)(1.0) + lam * cos_t
        if plam <= 0.0:
            return plam, type(cos_t)(0.0)
        return plam, power_fn(plam, zeta, izeta)

    return angular_power


def make_derivative_power(power_fn):
    """Build ``derivative_power`` on a compiled :func:`power`."""

    def derivative_power(cos_t, m, fn_par, fn_int):
        """(lambda, zeta, P, P^(zeta - 1)) of angular function m, P = 1 + lambda cos t, for the derivative passes.

        d P^zeta / d cos t = zeta lambda P^(zeta - 1) and P^zeta = P^(zeta - 1) P: one power for
        both (integer exponent ``izeta - 1`` where zeta is a positive integer, else pow()). Where
        P <= 0 the term is skipped: zeta and the power are neither read nor computed (0).
        """
        real = type(cos_t)
        lam = fn_par[m, 0]
        plam = real(1.0) + lam * cos_t
        if plam <= 0.0:
            return lam, real(0.0), plam, real(0.0)
        zeta = fn_par[m, 1]
        iz = fn_int[m, 1]
        return lam, zeta, plam, power_fn(plam, zeta - real(1.0), iz - 1 if iz > 0 else -1)

    return derivative_power


def make_pair_sums(group_radial_fn, derivative_power_fn):
    """Build ``pair_sums`` on compiled ``group_radial`` and ``derivative_power``."""

    def pair_sums(i, g0, g1, rp0, sj, sk, cos_t, aj0, aj1, aj2, bk0, bk1, bk2, R, dR, dEdG, grp_int, grp_first,
                  fn_int, fn_par, rp_cut, rp_par, cut_kind, cut_par):
        """The angular groups g0 .. g1 of the neighbour pair (j, k), contracted with dE/dG of atom i.

        Arguments as for ``group_radial``, with ``dR`` the r-derivative of ``R`` and ``cos_t``
        cos t_ijk.

        Returns
        -------
        s_cos, s_a, s_b, s_c : float
            dE/dcos t, and dE/dr of r_ij, r_ik and r_jk, each times the other radial factors.
        jk : tuple
            (r_jk, r_k - r_j), or ``NO_JK`` where no narrow group needed them.
        """
        # Sums over this pair's groups (per-pair math: the type of cos t); ``NO_JK`` in that type.
        zero = type(cos_t)(0.0)
        jk = (type(cos_t)(NO_JK[0]), zero, zero, zero)
        s_cos = zero
        s_a = zero
        s_b = zero
        s_c = zero
        for g in range(g0, g1):
            row, Ra, Rb, R3, dR3, narrow, jk = group_radial_fn(g, rp0, sj, sk, R, aj0, aj1, aj2, bk0, bk1, bk2, jk,
                                                               grp_int, rp_cut, rp_par, cut_kind, cut_par)
            if row < 0:
                continue
            # A = sum_m w N zeta lambda P^(zeta-1), B = sum_m w N P^zeta.
            A = zero
            B = zero
            for m in range(grp_first[g], grp_first[g + 1]):
                w = dEdG[i, fn_int[m, 0]]
                if w == 0.0:
                    continue
                lam, zeta, plam, pz1 = derivative_power_fn(cos_t, m, fn_par, fn_int)
                if plam <= 0.0:
                    continue
                wn = w * fn_par[m, 2]
                A += wn * zeta * lam * pz1
                B += wn * pz1 * plam
            if A == 0.0 and B == 0.0:
                continue
            RR = Ra * Rb * R3
            s_cos += A * RR
            s_a += B * dR[sj, row] * Rb * R3
            s_b += B * Ra * dR[sk, row] * R3
            if narrow:
                s_c += B * Ra * Rb * dR3
        return s_cos, s_a, s_b, s_c, jk

    return pair_sums


def make_pair_force(pair_sums_fn):
    """Build ``pair_force`` on a compiled ``pair_sums``."""

    def pair_force(i, g0, g1, rp0, sj, sk, aj0, aj1, aj2, inv_j, bk0, bk1, bk2, inv_k, R, dR, dEdG, grp_int,
                   grp_first, fn_int, fn_par, rp_cut, rp_par, cut_kind, cut_par, gj, gacc):
        """The angular terms of the neighbour pair (j, k) in the entry gradients of j and k.

        Parameters
        ----------
        inv_j, inv_k : float
            1/r_ij and 1/r_ik.
        gj : tuple
            j's share so far: (dE/d|r_ij|, dE/dr_ij (3) from angles and r_jk).
        gacc : float64 (.., 4)
            The same for every neighbour; k's row sk is updated in place.
        Others :
            As for ``pair_sums``.

        Returns
        -------
        gj : tuple
            j's share with this pair's terms (unchanged where they all vanish).
        """
        inv_ab = inv_j * inv_k
        cos_t = (aj0 * bk0 + aj1 * bk1 + aj2 * bk2) * inv_ab
        s_cos, s_a, s_b, s_c, jk = pair_sums_fn(i, g0, g1, rp0, sj, sk, cos_t, aj0, aj1, aj2, bk0, bk1, bk2, R, dR,
                                                dEdG, grp_int, grp_first, fn_int, fn_par, rp_cut, rp_par, cut_kind,
                                                cut_par)
        if s_cos == 0.0 and s_a == 0.0 and s_b == 0.0 and s_c == 0.0:
            return gj
        # d cos/d r_ij = r_ik/(r_ij r_ik) - cos r_ij/r_ij^2, and j <-> k; r_jk = r_ik - r_ij.
        ka = s_cos * cos_t * (inv_j * inv_j)
        kb = s_cos * cos_t * inv_k * inv_k
        kab = s_cos * inv_ab
        gj_r = gj[0] + s_a
        gj0 = gj[1] + (kab * bk0 - ka * aj0)
        gj1 = gj[2] + (kab * bk1 - ka * aj1)
        gj2 = gj[3] + (kab * bk2 - ka * aj2)
        gk0 = gacc[sk, 1] + (kab * aj0 - kb * bk0)
        gk1 = gacc[sk, 2] + (kab * aj1 - kb * bk1)
        gk2 = gacc[sk, 3] + (kab * aj2 - kb * bk2)
        if s_c != 0.0:
            rjk, c0, c1, c2 = jk
            t = s_c / rjk
            gj0 -= t * c0
            gj1 -= t * c1
            gj2 -= t * c2
            gk0 += t * c0
            gk1 += t * c1
            gk2 += t * c2
        gacc[sk, 0] += s_b
        gacc[sk, 1] = gk0
        gacc[sk, 2] = gk1
        gacc[sk, 3] = gk2
        return gj_r, gj0, gj1, gj2

    return pair_force


#: A neighbour's share of its entry gradient before any term: (dE/d|r_p|, dE/dr_p (3)).
NO_GRADIENT = (0.0, 0.0, 0.0, 0.0)


def add_gradient(gacc, s, g):
    """Add one neighbour's share g = (dE/d|r_p|, dE/dr_p (3)) to its row s of ``gacc``."""
    gacc[s, 0] += g[0]
    gacc[s, 1] += g[1]
    gacc[s, 2] += g[2]
    gacc[s, 3] += g[3]


#: An atom's virial sum before its first entry (9, row-major).
NO_VIRIAL = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def entry_gradient(gvec, p, gacc, s, d0, d1, d2, r, w):
    """g_p = dE_i/dr_p of list entry p (neighbour row s of ``gacc``) into ``gvec[p]``, with its virial.

    Parameters
    ----------
    gvec : float64 or float32 (P, 3)
        g_p by list entry (float32 in the CUDA mixed precision: rounded once, after the float64 sums).
    gacc : float64 (.., 4)
        (dE/d|r_p|, the rest of dE/dr_p (3)) by neighbour.
    d0, d1, d2, r : float
        r_p and |r_p|.
    w : tuple
        The atom's virial sum so far (``NO_VIRIAL`` before its first entry).

    Returns
    -------
    v0, v1, v2 : float
        g_p.
    w : tuple
        The virial sum with -r_p (x) g_p added.
    """
    u = gacc[s, 0] / r
    v0 = gacc[s, 1] + u * d0
    v1 = gacc[s, 2] + u * d1
    v2 = gacc[s, 3] + u * d2
    gvec[p, 0] = v0
    gvec[p, 1] = v1
    gvec[p, 2] = v2
    return v0, v1, v2, (w[0] - d0 * v0, w[1] - d0 * v1, w[2] - d0 * v2,
                        w[3] - d1 * v0, w[4] - d1 * v1, w[5] - d1 * v2,
                        w[6] - d2 * v0, w[7] - d2 * v1, w[8] - d2 * v2)


def element_block(base, ej, ek, n_el, k_first, lo, ang_first, blk):
    """The angular groups g0 .. g1 of the element pair (e_j, e_k) and the rows k0 .. k1 of its k's.

    ``blk[e]`` is the first of the (element-sorted) angular neighbours of element e, counted from
    row ``lo``; k starts at row ``k_first`` or later (k > j). No rows (k1 = k0) where the pair of
    elements has no groups.
    """
    key = (base + ej) * n_el + ek
    g0 = ang_first[key]
    g1 = ang_first[key + 1]
    k0 = max(k_first, lo + blk[ek])
    k1 = lo + blk[ek + 1]
    if g0 == g1:
        return g0, g1, k0, k0
    return g0, g1, k0, k1


# The CPU builds, inlined into the kernels below (kernels.cuda.scalar builds the device ones).
_power = njit(inline="always")(power)
_radial_part = njit(inline="always")(radial_part)
_cutoffs_at = njit(inline="always")(make_cutoffs_at(_cutoff_fdf))
_radial_part_at = njit(inline="always")(make_radial_part_at(_radial_part))
_radial_values = njit(inline="always")(make_radial_values(_radial_part))
_radial_gradient = njit(inline="always")(radial_gradient)
_jk_vector = njit(inline="always")(jk_vector)
_narrow_factor = njit(inline="always")(make_narrow_factor(_cutoff_fdf, _radial_part))
_group_radial = njit(inline="always")(make_group_radial(_jk_vector, _narrow_factor))
_angular_power = njit(inline="always")(make_angular_power(_power))
_derivative_power = njit(inline="always")(make_derivative_power(_power))
_pair_sums = njit(inline="always")(make_pair_sums(_group_radial, _derivative_power))
_pair_force = njit(inline="always")(make_pair_force(_pair_sums))
_add_gradient = njit(inline="always")(add_gradient)
_element_block = njit(inline="always")(element_block)
_entry_gradient = njit(inline="always")(entry_gradient)


# ---------------------------------------------------------------------------- CPU kernels
# Reference counts. Numba counts the references to every array (NRT); an array handed to an
# inlined function becomes a new variable whose count goes up before and down after the call:
# two atomic operations, which the threads contend for. Numba prunes such pairs only where the
# function reads its arrays straight away (before any branch or loop), so the helpers the value
# and JVP passes call per neighbour pair read every table first. ``pair_force`` loops over groups
# with its arrays (the force pass shares it with the GPU): its pair loop runs in ``_force_terms``,
# compiled without NRT (``_nrt=False``, as Numba compiles its own sort kernels), which counts
# nothing and allocates nothing; with NRT, ~20 atomic operations per pair more than doubled the
# force pass. The value and JVP passes keep NRT: their scratch, allocated in the function itself,
# is known not to alias the output they store into (passed in as arguments, the JVP ran 4 % slower).


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
def _environment(i, positions, cell, species, first, neighbors, shifts, tables):
    """Atom i's neighbours within its largest r_c (list entry, element, vector, distance), and scratch.

    The common first half of the three passes, and all their common allocations (inlined, so that
    each pass sees them allocated: see "Reference counts").

    Returns
    -------
    n, s_p, s_e, s_d, s_r :
        Number of neighbours, and their entries, elements, vectors and distances.
    fc, dfc, R, dR, a_s, blk, s_inv :
        Scratch for :func:`_prepare`: (C, n), (C, n), (n, parts), (n, parts), (n,), (2 n_el + 1,), (n,).
    """
    n_el = tables[0]
    c = species[i]
    nb = first[i + 1] - first[i]
    s_p = np.empty(nb, dtype=np.int64)
    s_e = np.empty(nb, dtype=np.int64)
    s_d = np.empty((nb, 3))
    s_r = np.empty(nb)
    n = _gather(i, positions, cell, first, neighbors, shifts, species, tables[1][c, 0], s_p, s_e, s_d, s_r)
    n_cut = tables[2].shape[0]
    n_parts = tables[7][c + 1] - tables[7][c]
    return (n, s_p, s_e, s_d, s_r, np.empty((n_cut, n)), np.empty((n_cut, n)), np.empty((n, n_parts)),
            np.empty((n, n_parts)), np.empty(n, dtype=np.int64), np.empty(2 * n_el + 1, dtype=np.int64),
            np.empty(n))


@njit(inline="always")
def _angular_order(n, s_r, s_e, r_ang, n_el, a_s, blk):
    """Neighbours that can enter an angular term (r < r_ang, named element), sorted by element.

    A stable counting sort: ``a_s[blk[e]:blk[e + 1]]`` are the scratch indices
    of element e in list order. With the blocks, a pair loop looks up the
    function groups once per (j, element of k) instead of once per (j, k).
    ``blk[n_el + 1:]`` holds the fill pointers (no allocation: this runs without NRT).
    Returns the number of such neighbours.
    """
    for e in range(n_el + 1):
        blk[e] = 0
    for s in range(n):
        if s_r[s] < r_ang and s_e[s] < n_el:
            blk[s_e[s] + 1] += 1
    for e in range(n_el):
        blk[e + 1] += blk[e]
        blk[n_el + 1 + e] = blk[e]
    for s in range(n):
        if s_r[s] < r_ang and s_e[s] < n_el:
            e = s_e[s]
            a_s[blk[n_el + 1 + e]] = s
            blk[n_el + 1 + e] += 1
    return blk[n_el]


@njit(inline="always")
def _prepare(c, tables, n, s_e, s_r, fc, dfc, R, dR, a_s, blk, s_inv):
    """f_c and df_c/dr of every neighbour and cutoff; for a centre with angular functions also the
    radial parts of every neighbour (``R[s, q - rp0]``), the neighbours sorted by element and 1/r.

    Returns the number of angular neighbours, or -1 where the centre has no angular functions.
    """
    n_el, center_rc, cut_kind, cut_par = tables[0], tables[1], tables[2], tables[3]
    rp_first, rp_cut, rp_par = tables[7], tables[8], tables[9]
    for s in range(n):
        _cutoffs_at(s, s_r[s], cut_kind, cut_par, fc, dfc)
    r_ang = center_rc[c, 1]
    if r_ang <= 0.0:
        return -1
    # Neighbour-major (as on the GPU): a pair's groups read neighbouring columns of one row.
    for s in range(n):
        s_inv[s] = 1.0 / s_r[s]
        for q in range(rp_first[c], rp_first[c + 1]):
            R[s, q - rp_first[c]], dR[s, q - rp_first[c]] = _radial_part_at(s_r[s], q, s, rp_cut, rp_par, cut_par,
                                                                             fc, dfc)
    return _angular_order(n, s_r, s_e, r_ang, n_el, a_s, blk)


@njit(inline="always")
def _neighbor(t, a_s, s_e, s_inv, s_d):
    """The t-th angular neighbour in element order: (scratch index, element, 1/r, r vector)."""
    s = a_s[t]
    return s, s_e[s], s_inv[s], s_d[s, 0], s_d[s, 1], s_d[s, 2]


@njit(cache=True)
def _atom_values(i, positions, cell, species, first, neighbors, shifts, tables, out):
    """Fill row i of ``out`` (see :func:`symmetry_functions`).

    A separate (not inlined) function keeps the parallel kernel small: Numba
    compiles a large prange body many times slower.
    """
    (n_el, center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par,
     ang_first, grp_int, grp_first, fn_int, fn_par) = tables
    c = species[i]
    if center_rc[c, 0] <= 0.0:
        return
    n, s_p, s_e, s_d, s_r, fc, dfc, R, dR, a_s, blk, s_inv = _environment(i, positions, cell, species, first,
                                                                          neighbors, shifts, tables)
    na = _prepare(c, tables, n, s_e, s_r, fc, dfc, R, dR, a_s, blk, s_inv)
    # Radial functions: each neighbour visits only the functions of its element.
    for s in range(n):
        if s_e[s] < n_el:
            _radial_values(out, i, c * n_el + s_e[s], s_r[s], s, rad_first, rad_int, rad_par, cut_par, fc, dfc)
    if na < 0:
        return
    rp0 = rp_first[c]
    base = c * n_el
    for jj in range(na - 1):
        sj, ej, inv_j, aj0, aj1, aj2 = _neighbor(jj, a_s, s_e, s_inv, s_d)
        # Sorted by element, so k > j has e_k >= e_j: one group lookup per element block.
        for ek in range(ej, n_el):
            g0, g1, k0, k1 = _element_block(base, ej, ek, n_el, jj + 1, 0, ang_first, blk)
            for kk in range(k0, k1):
                sk, _, inv_k, bk0, bk1, bk2 = _neighbor(kk, a_s, s_e, s_inv, s_d)
                cos_t = (aj0 * bk0 + aj1 * bk1 + aj2 * bk2) * (inv_j * inv_k)
                jk = NO_JK  # r_jk, computed on first use by a narrow (type 3) group
                for g in range(g0, g1):
                    # The product only, tested once: leaner than group_radial's factors (measured 6 %).
                    q = grp_int[g, 1]
                    row = q - rp0
                    rad = R[sj, row] * R[sk, row]
                    if rad == 0.0:
                        continue
                    if grp_int[g, 0] == 3:
                        if jk[0] < 0.0:
                            jk = _jk_vector(aj0, aj1, aj2, bk0, bk1, bk2)
                        inside, R3, _ = _narrow_factor(jk[0], q, rp_cut, rp_par, cut_kind, cut_par)
                        if not inside:
                            continue
                        rad *= R3
                    for m in range(grp_first[g], grp_first[g + 1]):
                        plam, pz = _angular_power(cos_t, fn_par[m, 0], fn_par[m, 1], fn_int[m, 1])
                        if plam <= 0.0:
                            continue
                        out[i, fn_int[m, 0]] += pz * rad
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


@njit(_nrt=False)
def _force_terms(i, c, tables, n, s_p, s_e, s_d, s_r, fc, dfc, R, dR, a_s, blk, s_inv, gacc, dEdG, gvec, forces,
                 virial_i):
    """g_p of atom i's entries, F_i's own part and its virial row from the scratch (see :func:`_atom_forces`).

    ``gacc[s]`` (zeros) collects (dE_i/d|r_p|, the rest of dE_i/dr_p) of each neighbour.
    """
    (n_el, center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par,
     ang_first, grp_int, grp_first, fn_int, fn_par) = tables
    na = _prepare(c, tables, n, s_e, s_r, fc, dfc, R, dR, a_s, blk, s_inv)
    # dE_i/d|r_p| from radial terms, turned into vectors at the end.
    for s in range(n):
        if s_e[s] < n_el:
            gacc[s, 0] = _radial_gradient(dEdG, i, c * n_el + s_e[s], s_r[s], s, rad_first, rad_int, rad_par,
                                          cut_par, fc, dfc)
    rp0 = rp_first[c]
    base = c * n_el
    for jj in range(na - 1):
        sj, ej, inv_j, aj0, aj1, aj2 = _neighbor(jj, a_s, s_e, s_inv, s_d)
        # j's share is summed in registers over k and stored once: no store-to-load chain.
        gj = NO_GRADIENT
        for ek in range(ej, n_el):
            g0, g1, k0, k1 = _element_block(base, ej, ek, n_el, jj + 1, 0, ang_first, blk)
            for kk in range(k0, k1):
                sk, _, inv_k, bk0, bk1, bk2 = _neighbor(kk, a_s, s_e, s_inv, s_d)
                gj = _pair_force(i, g0, g1, rp0, sj, sk, aj0, aj1, aj2, inv_j, bk0, bk1, bk2, inv_k, R, dR, dEdG,
                                 grp_int, grp_first, fn_int, fn_par, rp_cut, rp_par, cut_kind, cut_par, gj, gacc)
        _add_gradient(gacc, sj, gj)
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    w = NO_VIRIAL
    for s in range(n):
        v0, v1, v2, w = _entry_gradient(gvec, s_p[s], gacc, s, s_d[s, 0], s_d[s, 1], s_d[s, 2], s_r[s], w)
        # r_p = x_j - x_i: dE/dx_i = -g_p, so F_i = +g_p.
        f0 += v0
        f1 += v1
        f2 += v2
    forces[i, 0] = f0
    forces[i, 1] = f1
    forces[i, 2] = f2
    for a in range(9):
        virial_i[i, a] = w[a]


@njit(cache=True)
def _atom_forces(i, positions, cell, species, first, neighbors, shifts, tables, dEdG, gvec, forces, virial_i):
    """dE_i/dr_p of atom i's list entries into ``gvec``, F_i's own part and its virial row.

    See :func:`symmetry_function_forces`; a separate function for compile time.
    """
    if tables[1][species[i], 0] <= 0.0:
        return
    n, s_p, s_e, s_d, s_r, fc, dfc, R, dR, a_s, blk, s_inv = _environment(i, positions, cell, species, first,
                                                                          neighbors, shifts, tables)
    _force_terms(i, species[i], tables, n, s_p, s_e, s_d, s_r, fc, dfc, R, dR, a_s, blk, s_inv, np.zeros((n, 4)),
                 dEdG, gvec, forces, virial_i)


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
    if center_rc[c, 0] <= 0.0:
        return
    n, s_p, s_e, s_d, s_r, fc, dfc, R, dR, a_s, blk, s_inv = _environment(i, positions, cell, species, first,
                                                                          neighbors, shifts, tables)
    s_dv = np.empty((n, 3))
    s_du = np.empty(n)
    na = _prepare(c, tables, n, s_e, s_r, fc, dfc, R, dR, a_s, blk, s_inv)
    # Change of each list vector (dv) and of its length (du): everything below depends on these only.
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
            out[i, rad_int[q, 0]] += _radial_part(r, rad_par[q, 0], rad_par[q, 1], fc[cc, s], dfc[cc, s])[1] * du
    # Angular functions.
    if na < 0:
        return
    rp0 = rp_first[c]
    base = c * n_el
    for jj in range(na - 1):
        sj, ej, inv_j, aj0, aj1, aj2 = _neighbor(jj, a_s, s_e, s_inv, s_d)
        dvj0 = s_dv[sj, 0]
        dvj1 = s_dv[sj, 1]
        dvj2 = s_dv[sj, 2]
        du_j = s_du[sj]
        for ek in range(ej, n_el):
            g0, g1, k0, k1 = _element_block(base, ej, ek, n_el, jj + 1, 0, ang_first, blk)
            for kk in range(k0, k1):
                sk, _, inv_k, bk0, bk1, bk2 = _neighbor(kk, a_s, s_e, s_inv, s_d)
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
                    # Not group_radial, which hands the tables on inside a branch (see "Reference counts").
                    q = grp_int[g, 1]
                    row = q - rp0
                    Ra = R[sj, row]
                    Rb = R[sk, row]
                    if Ra == 0.0 or Rb == 0.0:
                        continue
                    R3 = 1.0
                    dR3 = 0.0
                    if grp_int[g, 0] == 3:
                        if rjk < 0.0:
                            rjk, c0, c1, c2 = _jk_vector(aj0, aj1, aj2, bk0, bk1, bk2)
                            drjk = (c0 * (dvk0 - dvj0) + c1 * (dvk1 - dvj1) + c2 * (dvk2 - dvj2)) / rjk
                        inside, R3, dR3 = _narrow_factor(rjk, q, rp_cut, rp_par, cut_kind, cut_par)
                        if not inside:
                            continue
                        dR3 *= drjk
                    # Change of the radial product, and the product times d cos t: shared by the group.
                    RR = Ra * Rb * R3
                    dRR = dR[sj, row] * du_j * Rb * R3 + Ra * dR[sk, row] * du_k * R3 + Ra * Rb * dR3
                    RRc = RR * dcos
                    for m in range(grp_first[g], grp_first[g + 1]):
                        # derivative_power written out: it reads its tables after a branch, which would cost
                        # reference counts per call here (see "Reference counts").
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

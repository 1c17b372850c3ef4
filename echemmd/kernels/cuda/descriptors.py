"""CUDA twins of the symmetry-function kernels of :mod:`echemmd.kernels.descriptors`.

The functions, the parameter tables and the skipping rules are those of the CPU module (read its
docstring): n2p2 types 2, 3 and 9, angular functions in groups that share (type, radial part,
element pair), the ``1 + lambda cos t <= 0`` skip, integer zetas by repeated squaring
(:func:`echemmd.kernels.descriptors.power`, compiled for the device in :mod:`.scalar`), the
2^(1 - zeta) prefactor applied to the finished sum. Host functions take device or numpy arrays
and return device arrays.

Parallel layout
---------------
One thread per central atom; a thread writes only its own row of the output and its own region
of the scratch arrays, so there are no atomics and results repeat bit for bit.

* Values: G_i row (N, n_columns).
* Forces: the thread of atom i writes g_p = dE_i/dr_p into the entries p of its own row of the
  list (``gvec`` (P, 3)) and its virial row (N, 9); a second kernel gathers
  ``F_i = sum_{p of i} g_p - sum_{p of i} g_{reverse[p]}`` (the CPU's serial scatter
  ``F_j -= g_p`` turned into a gather by the twin entries of the full list), and
  :func:`echemmd.kernels.cuda.reduce.sum_columns` adds the virial rows in a fixed order.

Scratch (why global arrays, and which)
--------------------------------------
A thread cannot allocate, and ~100-150 neighbours times ~10 angular radial parts do not fit
registers or a compile-time ``cuda.local.array`` of any sensible size, so the per-neighbour data
live in global arrays allocated once per call by the host function. Every per-entry array has one
row per list entry (P rows) and atom i uses the rows ``first[i] .. first[i + 1]`` of the list, so
no row count has to be known before the kernel runs and no atom can overflow into another's rows.

Per list entry (P rows):

* ``cat`` int8: the entry's category, found once: -1 skipped (beyond the centre's largest r_c, or
  an "other" neighbour), e (< n_el) an angular neighbour of element e (r < the largest angular
  r_c), n_el a radial-only neighbour. Storing it (rather than classifying twice) makes the count
  and fill passes agree exactly, so the slots below cannot overflow.
* Slots. The used entries of a row are copied ("gathered", as the CPU's ``_gather``) into the
  first rows of the row's region, angular neighbours first and sorted by element with a stable
  counting sort (the CPU's ``_angular_order``), radial-only ones after them. The sorted copy makes
  the pair loop read consecutive rows (one cache line serves several k) and lets it visit the
  groups of one element pair per block of k, exactly in the CPU's pair order. Per slot:
  ``ent`` int32 (entry index within the row), ``geo`` float64 (4) = [r_p (3), 1/|r_p|] and ``R``
  float64 (max_parts) = exp(-eta (r - r_s)^2) f_c(r) of each angular radial part of the central
  species, plus for the force pass ``dR`` (its r-derivative) and ``gacc`` float64 (4) =
  [dE/d|r_p|, dE/dr_p from the cos t and r_jk terms (3)].
* ``gvec`` float64 (3) (force pass): g_p by list entry, for the gather.

Per atom: ``blk`` int64 (2 n_el + 3): category starts (n_el + 2 values, the last one the number of
slots) and fill pointers; ``fcut`` float64 (2 C): f_c and df_c/dr of the entry being gathered for
each of the C distinct cutoffs, computed once per (entry, cutoff) as on the CPU and reused by every
radial function and radial part of that entry (the row stays in L1).

Memory per list entry: 37 + 8 max_parts bytes for the values, 93 + 16 max_parts for the forces
(with max_parts = 8: ~100 and ~220 B, i.e. 1.5 / 3.3 GB for 1e5 atoms with 150 neighbours each,
0.15 / 0.33 GB at 1e4 atoms), allocated per call and freed afterwards. Recomputing R in the pair
loop instead would cost an exp and a cutoff per (pair, group) instead of per (neighbour, part):
about n/2 times more transcendentals for n angular neighbours (~50x at 100).

Loop order
----------
* Values: for each element pair (e_j <= e_k) with groups, for each group, for each chunk of up to
  ``CHUNK`` = 4 functions of the group, one sweep over the pairs (j < k) of the two element blocks
  with the chunk's sums in registers. The CPU adds every term straight into G[i, mu] (cheap from
  its cache); on a GPU that read-modify-write per (pair, function) would go through L2 (L1 is
  write-through), so the sums stay in registers and G is written once per function. Each sum gets
  the same terms in the same order as on the CPU; the price is recomputing cos t (a dot product)
  per group and chunk, and r_jk per type-3 group, which is small next to the powers.
* Radial functions add into G[i, mu] per (entry, function) in list order, as the CPU does: that
  is O(neighbours x functions), small next to the pairs.
* Forces: the CPU's order (pair outer, groups inner): per pair the groups reduce to four scalars
  (dE/dcos t and dE/dr of the three distances), so only j's and k's accumulators are touched, j's
  in registers and k's in its ``gacc`` row.

Results equal the CPU kernels to rounding: the per-function sums add the same terms in the same
order; sums over entries (forces, virial) run in another order than the CPU's.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import cuda

from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.launch import THREADS, blocks, is_device_array, kernel
from echemmd.kernels.cuda.scalar import cutoff_fdf, pair_vector, power

#: Functions of one angular group summed per sweep over the pairs (registers per thread).
CHUNK = 4

#: Threads per block of the two per-atom kernels: one warp. They need ~150-160 registers a thread
#: (ptxas, sm_90, no spills), so the register file holds about 12 of their warps per SM whatever the
#: block size; one-warp blocks spread a small system over every SM (1e4 atoms: 313 blocks on the
#: 132 SMs of an H100, against 79 blocks of 128 threads leaving 53 SMs idle).
ATOM_THREADS = 32


class DeviceTables(NamedTuple):
    """The parameter tables of :mod:`echemmd.kernels.descriptors` on the device.

    Entries 0-14 are the CPU tuple (``n_el`` a Python int, the rest device arrays of the same
    dtypes and shapes); ``max_parts`` is the largest number of angular radial parts of one
    species (the width of the R scratch). Built by :func:`device_tables`.
    """

    n_el: int
    center_rc: object
    cut_kind: object
    cut_par: object
    rad_first: object
    rad_int: object
    rad_par: object
    rp_first: object
    rp_cut: object
    rp_par: object
    ang_first: object
    grp_int: object
    grp_first: object
    fn_int: object
    fn_par: object
    max_parts: int


_TABLE_DTYPES = (None, np.float64, np.int64, np.float64, np.int64, np.int64, np.float64, np.int64, np.int64,
                 np.float64, np.int64, np.int64, np.int64, np.int64, np.float64)


def _empty(shape, dtype):
    """A device array of ``shape`` (the first axis may be 0: allocated with one row, then sliced)."""
    shape = tuple(int(s) for s in shape)
    if shape[0] > 0:
        return cuda.device_array(shape, dtype=dtype)
    return cuda.device_array((1,) + shape[1:], dtype=dtype)[:0]


def _dev(a, dtype):
    """``a`` as a C-contiguous device array of ``dtype`` (device arrays pass through unchanged)."""
    if is_device_array(a):
        return a
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.shape[0] == 0:
        return _empty(a.shape, dtype)
    return cuda.to_device(a)


def device_tables(tables):
    """Upload the CPU parameter tables once; pass the result to the host functions below.

    Parameters
    ----------
    tables : tuple
        The 15 tables of :mod:`echemmd.kernels.descriptors` (``SymmetryFunctions._tables``), or a
        :class:`DeviceTables` (returned unchanged).

    Returns
    -------
    DeviceTables
        ``n_el`` (int), the 14 arrays on the device, and ``max_parts`` (int).
    """
    if isinstance(tables, DeviceTables):
        return tables
    if len(tables) != 15:
        raise ValueError(f"expected the 15 symmetry-function tables, got {len(tables)} entries")
    rp_first = tables[7]
    rp_first = rp_first.copy_to_host() if is_device_array(rp_first) else np.asarray(rp_first)
    max_parts = int(np.max(np.diff(rp_first))) if rp_first.shape[0] > 1 else 0
    arrays = [_dev(a, dt) for a, dt in zip(tables[1:], _TABLE_DTYPES[1:])]
    return DeviceTables(int(tables[0]), *arrays, max_parts)


# ---------------------------------------------------------------------------- device helpers
@cuda.jit(device=True)
def _classify(i, positions, cell, species, first, neighbors, shifts, n_el, r_all, r_ang, cat, blk):
    """Category of each entry of row i (``cat``), and the slot starts and fill pointers in ``blk[i]``.

    Conditions as the CPU's ``_gather`` (r^2 < r_all^2) and ``_angular_order`` (r < r_ang, named
    element). After the call blk[i, e] is the first slot of category e (0 <= e <= n_el),
    blk[i, n_el + 1] the number of slots, and blk[i, n_el + 2 + e] the fill pointer of e (its start).
    """
    n_cat = n_el + 1
    for k in range(2 * n_cat + 1):
        blk[i, k] = 0
    r2_max = r_all * r_all
    for p in range(first[i], first[i + 1]):
        j = neighbors[p]
        d0, d1, d2 = pair_vector(positions, cell, i, j, shifts[p])
        r2 = d0 * d0 + d1 * d1 + d2 * d2
        k = -1
        if r2 < r2_max:
            e = species[j]
            if e < n_el:
                k = e if math.sqrt(r2) < r_ang else n_el
        cat[p] = k
        if k >= 0:
            blk[i, k + 1] += 1
    for k in range(n_cat):
        blk[i, k + 1] += blk[i, k]
        blk[i, n_cat + 1 + k] = blk[i, k]


@cuda.jit(device=True)
def _cutoffs(i, r, cut_kind, cut_par, fcut):
    """f_c(r) and df_c/dr for every distinct cutoff into fcut[i] (as the CPU's ``_cutoffs``)."""
    for c in range(cut_kind.shape[0]):
        f, df = cutoff_fdf(cut_kind[c], r, cut_par[c, 0], cut_par[c, 1])
        fcut[i, 2 * c] = f
        fcut[i, 2 * c + 1] = df


@cuda.jit(device=True)
def _term(cos_t, lam, zeta, izeta, rad):
    """One angular term (1 + lambda cos t)^zeta rad, or 0 where 1 + lambda cos t <= 0 (as the CPU)."""
    plam = 1.0 + lam * cos_t
    if plam <= 0.0:
        return 0.0
    return power(plam, zeta, izeta) * rad


# ---------------------------------------------------------------------------- signatures
_LIST = "float64[:, ::1], float64[:, ::1], int64[::1], int64[::1], int32[::1], int32[:, ::1]"
# center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par, ang_first,
# grp_int, grp_first, fn_int, fn_par, n_el
_TABLES = ("float64[:, ::1], int64[::1], float64[:, ::1], int64[::1], int64[:, ::1], float64[:, ::1], int64[::1], "
           "int64[::1], float64[:, ::1], int64[::1], int64[:, ::1], int64[::1], int64[:, ::1], float64[:, ::1], int64")


# ---------------------------------------------------------------------------- values
@kernel(f"void({_LIST}, {_TABLES}, int8[::1], int64[:, ::1], float64[:, ::1], int32[::1], float64[:, ::1], "
        "float64[:, ::1], float64[:, ::1])")
def _values(positions, cell, species, first, neighbors, shifts,
            center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par,
            ang_first, grp_int, grp_first, fn_int, fn_par, n_el,
            cat, blk, fcut, ent, geo, R, out):
    """Row i of G (see :func:`symmetry_functions`); one thread per atom."""
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    for col in range(out.shape[1]):
        out[i, col] = 0.0
    c = species[i]
    r_all = center_rc[c, 0]
    if r_all <= 0.0:
        return
    r_ang = center_rc[c, 1]
    _classify(i, positions, cell, species, first, neighbors, shifts, n_el, r_all, r_ang, cat, blk)
    lo = first[i]
    ptr = n_el + 2  # blk[i, ptr + e]: fill pointer of category e
    rp0 = rp_first[c]
    rp1 = rp_first[c + 1]
    # Gather in list order: radial functions at once (the CPU's order of terms), angular
    # neighbours into their element's slots with their radial parts.
    for p in range(lo, first[i + 1]):
        e = cat[p]
        if e < 0:
            continue
        j = neighbors[p]
        d0, d1, d2 = pair_vector(positions, cell, i, j, shifts[p])
        r = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        _cutoffs(i, r, cut_kind, cut_par, fcut)
        key = c * n_el + species[j]
        for q in range(rad_first[key], rad_first[key + 1]):
            cc = rad_int[q, 1]
            if r >= cut_par[cc, 0]:
                continue
            x = r - rad_par[q, 1]
            out[i, rad_int[q, 0]] += math.exp(-rad_par[q, 0] * x * x) * fcut[i, 2 * cc]
        if e == n_el:
            continue  # radial only: the value pass needs no slot
        s = lo + blk[i, ptr + e]
        blk[i, ptr + e] += 1
        ent[s] = p - lo
        geo[s, 0] = d0
        geo[s, 1] = d1
        geo[s, 2] = d2
        geo[s, 3] = 1.0 / r
        for q in range(rp0, rp1):
            cc = rp_cut[q]
            if r >= cut_par[cc, 0]:
                R[s, q - rp0] = 0.0
                continue
            x = r - rp_par[q, 1]
            R[s, q - rp0] = math.exp(-rp_par[q, 0] * x * x) * fcut[i, 2 * cc]
    if blk[i, n_el] < 2:
        return  # fewer than two angular neighbours: no pairs
    base = c * n_el
    for ej in range(n_el):
        j_lo = lo + blk[i, ej]
        j_hi = lo + blk[i, ej + 1]
        if j_lo == j_hi:
            continue
        for ek in range(ej, n_el):
            key = (base + ej) * n_el + ek
            g0 = ang_first[key]
            g1 = ang_first[key + 1]
            k_lo = lo + blk[i, ek]
            k_hi = lo + blk[i, ek + 1]
            if g0 == g1 or k_lo == k_hi:
                continue
            for g in range(g0, g1):
                q = grp_int[g, 1]
                row = q - rp0
                narrow = grp_int[g, 0] == 3
                cc = rp_cut[q]
                kind3 = cut_kind[cc]
                rc3 = cut_par[cc, 0]
                alpha3 = cut_par[cc, 1]
                eta = rp_par[q, 0]
                r_s = rp_par[q, 1]
                m_end = grp_first[g + 1]
                for m0 in range(grp_first[g], m_end, CHUNK):
                    nm = min(CHUNK, m_end - m0)
                    lam0 = fn_par[m0, 0]
                    z0 = fn_par[m0, 1]
                    iz0 = fn_int[m0, 1]
                    lam1 = 0.0
                    z1 = 0.0
                    iz1 = 0
                    lam2 = 0.0
                    z2 = 0.0
                    iz2 = 0
                    lam3 = 0.0
                    z3 = 0.0
                    iz3 = 0
                    if nm > 1:
                        lam1 = fn_par[m0 + 1, 0]
                        z1 = fn_par[m0 + 1, 1]
                        iz1 = fn_int[m0 + 1, 1]
                    if nm > 2:
                        lam2 = fn_par[m0 + 2, 0]
                        z2 = fn_par[m0 + 2, 1]
                        iz2 = fn_int[m0 + 2, 1]
                    if nm > 3:
                        lam3 = fn_par[m0 + 3, 0]
                        z3 = fn_par[m0 + 3, 1]
                        iz3 = fn_int[m0 + 3, 1]
                    a0 = 0.0
                    a1 = 0.0
                    a2 = 0.0
                    a3 = 0.0
                    for sj in range(j_lo, j_hi):
                        Ra = R[sj, row]
                        if Ra == 0.0:
                            continue  # every product with it is 0, which the CPU skips
                        aj0 = geo[sj, 0]
                        aj1 = geo[sj, 1]
                        aj2 = geo[sj, 2]
                        inv_j = geo[sj, 3]
                        k_start = sj + 1 if ek == ej else k_lo
                        for sk in range(k_start, k_hi):
                            rad = Ra * R[sk, row]
                            if rad == 0.0:
                                continue
                            bk0 = geo[sk, 0]
                            bk1 = geo[sk, 1]
                            bk2 = geo[sk, 2]
                            cos_t = (aj0 * bk0 + aj1 * bk1 + aj2 * bk2) * (inv_j * geo[sk, 3])
                            if narrow:
                                c0 = bk0 - aj0
                                c1 = bk1 - aj1
                                c2 = bk2 - aj2
                                rjk = math.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
                                if rjk >= rc3:
                                    continue
                                f3, df3 = cutoff_fdf(kind3, rjk, rc3, alpha3)
                                x = rjk - r_s
                                rad *= math.exp(-eta * x * x) * f3
                            a0 += _term(cos_t, lam0, z0, iz0, rad)
                            if nm > 1:
                                a1 += _term(cos_t, lam1, z1, iz1, rad)
                            if nm > 2:
                                a2 += _term(cos_t, lam2, z2, iz2, rad)
                            if nm > 3:
                                a3 += _term(cos_t, lam3, z3, iz3, rad)
                    # The 2^(1 - zeta) prefactor on the finished sum, as the CPU applies it.
                    out[i, fn_int[m0, 0]] = a0 * fn_par[m0, 2]
                    if nm > 1:
                        out[i, fn_int[m0 + 1, 0]] = a1 * fn_par[m0 + 1, 2]
                    if nm > 2:
                        out[i, fn_int[m0 + 2, 0]] = a2 * fn_par[m0 + 2, 2]
                    if nm > 3:
                        out[i, fn_int[m0 + 3, 0]] = a3 * fn_par[m0 + 3, 2]


# ---------------------------------------------------------------------------- forces
@kernel(f"void({_LIST}, {_TABLES}, float64[:, ::1], int8[::1], int64[:, ::1], float64[:, ::1], int32[::1], "
        "float64[:, ::1], float64[:, ::1], float64[:, ::1], float64[:, ::1], float64[:, ::1], float64[:, ::1])")
def _entry_gradients(positions, cell, species, first, neighbors, shifts,
                     center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par,
                     ang_first, grp_int, grp_first, fn_int, fn_par, n_el,
                     dEdG, cat, blk, fcut, ent, geo, R, dR, gacc, gvec, virial_rows):
    """g_p = dE_i/dr_p of the entries of row i into ``gvec`` and atom i's virial row (the CPU's ``_atom_forces``)."""
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    lo = first[i]
    hi = first[i + 1]
    # Entries that no term reaches keep g_p = 0 (beyond r_c, "other" neighbours, no functions).
    for p in range(lo, hi):
        gvec[p, 0] = 0.0
        gvec[p, 1] = 0.0
        gvec[p, 2] = 0.0
    for a in range(9):
        virial_rows[i, a] = 0.0
    c = species[i]
    r_all = center_rc[c, 0]
    if r_all <= 0.0:
        return
    r_ang = center_rc[c, 1]
    _classify(i, positions, cell, species, first, neighbors, shifts, n_el, r_all, r_ang, cat, blk)
    ptr = n_el + 2
    rp0 = rp_first[c]
    rp1 = rp_first[c + 1]
    # Gather: every used entry gets a slot (angular ones first, by element); dE/d|r| of the
    # radial functions goes straight into the slot's accumulator.
    for p in range(lo, hi):
        e = cat[p]
        if e < 0:
            continue
        j = neighbors[p]
        d0, d1, d2 = pair_vector(positions, cell, i, j, shifts[p])
        r = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        _cutoffs(i, r, cut_kind, cut_par, fcut)
        s = lo + blk[i, ptr + e]
        blk[i, ptr + e] += 1
        ent[s] = p - lo
        geo[s, 0] = d0
        geo[s, 1] = d1
        geo[s, 2] = d2
        geo[s, 3] = 1.0 / r
        key = c * n_el + species[j]
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
            acc += w * math.exp(-eta * x * x) * (fcut[i, 2 * cc + 1] - 2.0 * eta * x * fcut[i, 2 * cc])
        gacc[s, 0] = acc
        gacc[s, 1] = 0.0
        gacc[s, 2] = 0.0
        gacc[s, 3] = 0.0
        if e == n_el:
            continue
        for q in range(rp0, rp1):
            cc = rp_cut[q]
            row = q - rp0
            if r >= cut_par[cc, 0]:
                R[s, row] = 0.0
                dR[s, row] = 0.0
                continue
            eta = rp_par[q, 0]
            x = r - rp_par[q, 1]
            ex = math.exp(-eta * x * x)
            fc = fcut[i, 2 * cc]
            R[s, row] = ex * fc
            dR[s, row] = ex * (fcut[i, 2 * cc + 1] - 2.0 * eta * x * fc)
    na = blk[i, n_el]
    base = c * n_el
    ej = 0
    # The CPU's pair loop: j in sorted order, the element blocks of k from e_j on.
    for sj in range(lo, lo + na - 1):
        while sj >= lo + blk[i, ej + 1]:
            ej += 1
        inv_j = geo[sj, 3]
        inv_j2 = inv_j * inv_j
        aj0 = geo[sj, 0]
        aj1 = geo[sj, 1]
        aj2 = geo[sj, 2]
        # j's share is summed in registers over k and stored once.
        gj_r = 0.0
        gj0 = 0.0
        gj1 = 0.0
        gj2 = 0.0
        for ek in range(ej, n_el):
            key = (base + ej) * n_el + ek
            g0 = ang_first[key]
            g1 = ang_first[key + 1]
            k0 = max(sj + 1, lo + blk[i, ek])
            k1 = lo + blk[i, ek + 1]
            if g0 == g1 or k0 >= k1:
                continue
            for sk in range(k0, k1):
                inv_k = geo[sk, 3]
                bk0 = geo[sk, 0]
                bk1 = geo[sk, 1]
                bk2 = geo[sk, 2]
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
                    Ra = R[sj, row]
                    Rb = R[sk, row]
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
                        f3, df3 = cutoff_fdf(cut_kind[cc], rjk, cut_par[cc, 0], cut_par[cc, 1])
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
                        pz1 = power(plam, zeta - 1.0, iz - 1 if iz > 0 else -1)
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
                if s_cos == 0.0 and s_a == 0.0 and s_b == 0.0 and s_c == 0.0:
                    continue
                # d cos/d r_ij = r_ik/(r_ij r_ik) - cos r_ij/r_ij^2, and j <-> k; r_jk = r_ik - r_ij.
                ka = s_cos * cos_t * inv_j2
                kb = s_cos * cos_t * inv_k * inv_k
                kab = s_cos * inv_ab
                gj_r += s_a
                gj0 += kab * bk0 - ka * aj0
                gj1 += kab * bk1 - ka * aj1
                gj2 += kab * bk2 - ka * aj2
                gk_r = gacc[sk, 0] + s_b
                gk0 = gacc[sk, 1] + (kab * aj0 - kb * bk0)
                gk1 = gacc[sk, 2] + (kab * aj1 - kb * bk1)
                gk2 = gacc[sk, 3] + (kab * aj2 - kb * bk2)
                if s_c != 0.0:
                    t = s_c / rjk
                    gj0 -= t * c0
                    gj1 -= t * c1
                    gj2 -= t * c2
                    gk0 += t * c0
                    gk1 += t * c1
                    gk2 += t * c2
                gacc[sk, 0] = gk_r
                gacc[sk, 1] = gk0
                gacc[sk, 2] = gk1
                gacc[sk, 3] = gk2
        gacc[sj, 0] += gj_r
        gacc[sj, 1] += gj0
        gacc[sj, 2] += gj1
        gacc[sj, 3] += gj2
    # g_p by list entry, and W_i = -sum_p r_p (x) g_p.
    w00 = 0.0
    w01 = 0.0
    w02 = 0.0
    w10 = 0.0
    w11 = 0.0
    w12 = 0.0
    w20 = 0.0
    w21 = 0.0
    w22 = 0.0
    for s in range(lo, lo + blk[i, n_el + 1]):
        d0 = geo[s, 0]
        d1 = geo[s, 1]
        d2 = geo[s, 2]
        u = gacc[s, 0] / math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        v0 = gacc[s, 1] + u * d0
        v1 = gacc[s, 2] + u * d1
        v2 = gacc[s, 3] + u * d2
        p = lo + ent[s]
        gvec[p, 0] = v0
        gvec[p, 1] = v1
        gvec[p, 2] = v2
        w00 -= d0 * v0
        w01 -= d0 * v1
        w02 -= d0 * v2
        w10 -= d1 * v0
        w11 -= d1 * v1
        w12 -= d1 * v2
        w20 -= d2 * v0
        w21 -= d2 * v1
        w22 -= d2 * v2
    virial_rows[i, 0] = w00
    virial_rows[i, 1] = w01
    virial_rows[i, 2] = w02
    virial_rows[i, 3] = w10
    virial_rows[i, 4] = w11
    virial_rows[i, 5] = w12
    virial_rows[i, 6] = w20
    virial_rows[i, 7] = w21
    virial_rows[i, 8] = w22


@kernel("void(int64[::1], int64[::1], float64[:, ::1], float64[:, ::1])")
def _gather_forces(first, reverse, gvec, forces):
    """F_i = sum_{p of i} g_p - sum_{p of i} g_reverse[p]: r_p = x_j - x_i, so dE/dx_i = -g_p, dE/dx_j = g_p."""
    i = cuda.grid(1)
    if i >= forces.shape[0]:
        return
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    for p in range(first[i], first[i + 1]):
        f0 += gvec[p, 0]
        f1 += gvec[p, 1]
        f2 += gvec[p, 2]
    for p in range(first[i], first[i + 1]):
        q = reverse[p]
        if q < 0:
            continue  # no twin (not a full list): skipped rather than read out of bounds
        f0 -= gvec[q, 0]
        f1 -= gvec[q, 1]
        f2 -= gvec[q, 2]
    forces[i, 0] = f0
    forces[i, 1] = f1
    forces[i, 2] = f2


# ---------------------------------------------------------------------------- host functions
def _inputs(positions, cell, species, first, neighbors, shifts, tables):
    return (_dev(positions, np.float64), _dev(cell, np.float64), _dev(species, np.int64), _dev(first, np.int64),
            _dev(neighbors, np.int32), _dev(shifts, np.int32), device_tables(tables))


def _common_scratch(t, n_atoms, n_entries):
    """cat, blk, fcut, ent, geo: the scratch the value and force passes share (module docstring)."""
    n_cut = max(1, t.cut_kind.shape[0])
    return (_empty((n_entries,), np.int8), _empty((n_atoms, 2 * t.n_el + 3), np.int64),
            _empty((n_atoms, 2 * n_cut), np.float64), _empty((n_entries,), np.int32),
            _empty((n_entries, 4), np.float64))


def symmetry_functions(positions, cell, species, first, neighbors, shifts, tables, n_columns):
    """Symmetry-function values of every atom, on the device.

    Parameters
    ----------
    positions : float64 (N, 3)
        Positions the list refers to (unwrapped), Å.
    cell : float64 (3, 3)
        Cell vectors as rows, Å.
    species : int64 (N,)
        Species index of each atom (:mod:`echemmd.kernels.descriptors`).
    first, neighbors, shifts : int64 (N + 1,), int32 (P,), int32 (P, 3)
        Full neighbour list (CSR); entries beyond the cutoffs are skipped.
    tables : DeviceTables or tuple
        :func:`device_tables` of the CPU tables (or the CPU tuple itself, uploaded on every call).
    n_columns : int
        Number of functions (output columns).

    Arrays may be device or numpy arrays (numpy arrays are copied to the device).

    Returns
    -------
    G : device float64 (N, n_columns)
        Values (dimensionless); columns of functions that do not apply to an atom's element are 0.
    """
    positions, cell, species, first, neighbors, shifts, t = _inputs(positions, cell, species, first, neighbors,
                                                                     shifts, tables)
    n_atoms = positions.shape[0]
    out = _empty((n_atoms, int(n_columns)), np.float64)
    if n_atoms == 0:
        return out
    cat, blk, fcut, ent, geo = _common_scratch(t, n_atoms, neighbors.shape[0])
    R = _empty((neighbors.shape[0], max(1, t.max_parts)), np.float64)
    _values[blocks(n_atoms, ATOM_THREADS), ATOM_THREADS](positions, cell, species, first, neighbors, shifts,
                                                         *t[1:15], t.n_el, cat, blk, fcut, ent, geo, R, out)
    return out


def symmetry_function_forces(positions, cell, species, first, neighbors, shifts, tables, dEdG, reverse):
    """Forces and virial of E = sum_i sum_mu dEdG[i, mu] G_i,mu (dEdG held fixed), on the device.

    Parameters
    ----------
    positions, cell, species, first, neighbors, shifts, tables :
        As for :func:`symmetry_functions`.
    dEdG : float64 (N, n_columns)
        Derivative of the energy with respect to each atom's function values, eV.
    reverse : int64 (P,)
        Twin entry (j, i, -S) of every entry (i, j, S):
        :func:`echemmd.kernels.neighbors.reverse_entries` of the same list (or its CUDA twin).
        The list must be a full list: an entry without a twin (-1) would drop that force share.

    Arrays may be device or numpy arrays (numpy arrays are copied to the device).

    Returns
    -------
    forces : device float64 (N, 3)
        F_k = -sum_i sum_mu dEdG[i, mu] dG_i,mu/dx_k, eV/Å.
    virial : device float64 (3, 3)
        W = -sum_p r_p (x) dE/dr_p, eV (stress = -W / V).
    """
    positions, cell, species, first, neighbors, shifts, t = _inputs(positions, cell, species, first, neighbors,
                                                                     shifts, tables)
    dEdG = _dev(dEdG, np.float64)
    reverse = _dev(reverse, np.int64)
    n_atoms = positions.shape[0]
    n_entries = neighbors.shape[0]
    if reverse.shape[0] != n_entries:
        raise ValueError(f"reverse has {reverse.shape[0]} entries, the list {n_entries}")
    forces = _empty((n_atoms, 3), np.float64)
    if n_atoms == 0:
        return forces, cuda.to_device(np.zeros((3, 3)))
    cat, blk, fcut, ent, geo = _common_scratch(t, n_atoms, n_entries)
    width = max(1, t.max_parts)
    R = _empty((n_entries, width), np.float64)
    dR = _empty((n_entries, width), np.float64)
    gacc = _empty((n_entries, 4), np.float64)
    gvec = _empty((n_entries, 3), np.float64)
    virial_rows = cuda.device_array((n_atoms, 9), dtype=np.float64)
    _entry_gradients[blocks(n_atoms, ATOM_THREADS), ATOM_THREADS](
        positions, cell, species, first, neighbors, shifts, *t[1:15], t.n_el, dEdG, cat, blk, fcut, ent, geo, R, dR,
        gacc, gvec, virial_rows)
    _gather_forces[blocks(n_atoms), THREADS](first, reverse, gvec, forces)
    virial = reduce.sum_columns(virial_rows).reshape(3, 3)
    return forces, virial

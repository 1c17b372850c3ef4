"""CUDA twins of the symmetry-function kernels of :mod:`echemmd.kernels.descriptors`.

The functions, the parameter tables and the skipping rules are those of the CPU module (read its
docstring): n2p2 types 2, 3 and 9, angular functions in groups that share (type, radial part,
element pair), the ``1 + lambda cos t <= 0`` skip, integer zetas by repeated squaring, the
2^(1 - zeta) prefactor applied to the finished sum. The math is the CPU module's own: its shared
functions (radial factors and functions, cutoff values, the r_jk factor, the powers, the whole
force term of a neighbour pair, the entry gradients and virial) compiled as device functions in
:mod:`.scalar`; this module adds the GPU's layout and loop order. Host functions take device or
numpy arrays and return device arrays.

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
slots) and fill pointers; column i of ``fc`` and ``dfc`` float64 (C, N): f_c and df_c/dr of the
entry being gathered for each of the C distinct cutoffs, computed once per (entry, cutoff) as on
the CPU and reused by every radial function and radial part of that entry (the CPU keeps one
column per neighbour; the shared functions take the column).

In mixed precision (below) ``geo``, ``R``, ``dR``, ``gvec``, ``fc`` and ``dfc`` are float32.

Memory per list entry: 37 + 8 max_parts bytes for the values, 93 + 16 max_parts for the forces
(with max_parts = 8: ~100 and ~220 B, i.e. 1.5 / 3.3 GB for 1e5 atoms with 150 neighbours each,
0.15 / 0.33 GB at 1e4 atoms); in mixed precision 21 + 4 max_parts and 65 + 8 max_parts (~53 and
~130 B: 0.8 / 1.9 GB at 1e5 atoms, 0.08 / 0.19 GB at 1e4). Allocated per call and freed
afterwards. Recomputing R in the pair loop instead would cost an exp and a cutoff per (pair, group)
instead of per (neighbour, part): about n/2 times more transcendentals for n angular neighbours
(~50x at 100).

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

Precision
---------
``precision="float64"`` (default) is the CPU's arithmetic. ``precision="mixed"`` (the CUDA
backend's ``md.precision = "mixed"``) runs the same kernels and shared functions in float32 where
the work is, and keeps float64 where values are summed:

* float64: the pair vectors r_p and |r_p| (from the float64 positions and cell, so that the
  difference of two large coordinates does not cancel; then rounded to float32 once), the
  classification against the cutoffs, the sums into G over neighbours and pairs, the gradient
  accumulators ``gacc`` (summed over pairs) and j's share in registers, the force gather and the
  virial.
* float32: everything per entry and per pair: f_c and df_c/dr, the radial factors and their
  derivatives, cos t, (1 + lambda cos t)^zeta (``powf``, or repeated squaring), the r_jk factor,
  the contraction of one pair's groups with dE/dG, g_p as stored for the gather; the parameter
  tables they read (``device_tables(tables, "mixed")``), the per-entry scratch and dE/dG (the
  network term scatters it into a float32 array).

One kernel body serves both: a scalar argument ``zero`` (0.0 or float32(0.0), the house style of
:mod:`.network`) gives the type the pair vectors are rounded to, and the shared functions of
:mod:`echemmd.kernels.descriptors` are type-generic (their constants take the type of their float
arguments), so Numba compiles them once per precision. In float64 the PTX is the arithmetic it was
before the mixed mode existed (a zero read from the argument ``zero`` is the only change), and the
CPU builds compile to the same machine code.

G stays float64 in both: the networks scale their inputs as offset + factor (G - shift) in float64
before rounding to float32 (G - shift may cancel, and a float32 G would lose those digits), and G
(N x functions) is a small part of the memory traffic next to the per-entry scratch that the pair
loops read (per atom ~100 columns against ~150 entries of 50-130 B).

Errors against float64 (tests/test_cuda_descriptors.py, simulator): ~5 eps32 relative to the
largest G, ~7 eps32 relative to the largest force, ~13 eps32 relative to the largest virial
component (eps32 = 1.2e-7); each g_p enters F_i and F_j as the same float32 value, so the forces
still sum to zero to float64 rounding.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import cuda, float64

from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.launch import THREADS, blocks, is_device_array, kernel
from echemmd.kernels.cuda.scalar import (add_gradient, angular_power, cutoffs_at, element_block, entry_gradient,
                                         jk_vector, narrow_factor, pair_force, pair_vector, radial_gradient,
                                         radial_part_at, radial_values)
from echemmd.kernels.descriptors import NO_VIRIAL

#: Functions of one angular group summed per sweep over the pairs (registers per thread).
CHUNK = 4

#: Threads per block of the two per-atom kernels: one warp. They need ~150-160 registers a thread
#: (ptxas, sm_90, no spills), so the register file holds about 12 of their warps per SM whatever the
#: block size; one-warp blocks spread a small system over every SM (1e4 atoms: 313 blocks on the
#: 132 SMs of an H100, against 79 blocks of 128 threads leaving 53 SMs idle).
ATOM_THREADS = 32

#: Precisions of the host functions: the float type of the per-entry and per-pair math and of its
#: scratch and parameter tables (module docstring, "Precision").
PRECISIONS = {"float64": np.float64, "mixed": np.float32}


def _real(precision):
    """The numpy float type of ``precision`` ("float64" or "mixed")."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


class DeviceTables(NamedTuple):
    """The parameter tables of :mod:`echemmd.kernels.descriptors` on the device.

    Entries 0-14 are the CPU tuple (``n_el`` a Python int, the rest device arrays of the same
    shapes and of the CPU dtypes, except that for ``precision`` "mixed" the parameters the
    per-entry math reads, ``cut_par``, ``rad_par``, ``rp_par`` and ``fn_par``, are float32);
    ``max_parts`` is the largest number of angular radial parts of one species (the width of the
    R scratch). Built by :func:`device_tables`.
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
    precision: str = "float64"


_TABLE_DTYPES = (None, np.float64, np.int64, np.float64, np.int64, np.int64, np.float64, np.int64, np.int64,
                 np.float64, np.int64, np.int64, np.int64, np.int64, np.float64)
#: The tables in the precision's float type (the others keep theirs: ``center_rc`` is read only by
#: the classification, which runs in float64 in both precisions).
_REAL_TABLES = (3, 6, 9, 14)


def _empty(shape, dtype, workspace=None, name=None):
    """A device array of ``shape`` (the first axis may be 0: allocated with one row, then sliced),
    from ``workspace`` under ``name`` when given (:mod:`.workspace`)."""
    shape = tuple(int(s) for s in shape)
    if workspace is not None:
        return workspace.array(name, shape, dtype)
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


def device_tables(tables, precision="float64"):
    """Upload the CPU parameter tables once; pass the result to the host functions below.

    Parameters
    ----------
    tables : tuple
        The 15 tables of :mod:`echemmd.kernels.descriptors` (``SymmetryFunctions._tables``), or a
        :class:`DeviceTables` (returned unchanged when of ``precision``, else converted).
    precision : {"float64", "mixed"}
        "mixed": the parameters of the per-entry math (cutoffs Å, eta 1/Å^2, r_s Å, lambda, zeta,
        2^(1 - zeta)) rounded to float32 once, here.

    Returns
    -------
    DeviceTables
        ``n_el`` (int), the 14 arrays on the device, ``max_parts`` (int) and ``precision``.
    """
    real = _real(precision)
    if isinstance(tables, DeviceTables):
        if tables.precision == precision:
            return tables
        # Another precision: the same tables with the float ones converted (through the host: once).
        arrays = list(tables[1:15])
        for k in _REAL_TABLES:
            arrays[k - 1] = _dev(arrays[k - 1].copy_to_host(), real)
        return DeviceTables(tables.n_el, *arrays, tables.max_parts, precision)
    if len(tables) != 15:
        raise ValueError(f"expected the 15 symmetry-function tables, got {len(tables)} entries")
    rp_first = tables[7]
    rp_first = rp_first.copy_to_host() if is_device_array(rp_first) else np.asarray(rp_first)
    max_parts = int(np.max(np.diff(rp_first))) if rp_first.shape[0] > 1 else 0
    arrays = []
    for k in range(1, 15):
        a = tables[k]
        if k in _REAL_TABLES and real != np.float64:
            a = a.copy_to_host() if is_device_array(a) else a
        arrays.append(_dev(a, real if k in _REAL_TABLES else _TABLE_DTYPES[k]))
    return DeviceTables(int(tables[0]), *arrays, max_parts, precision)


# ---------------------------------------------------------------------------- device helpers
@cuda.jit(device=True)
def _classify(i, c, positions, cell, species, first, neighbors, shifts, n_el, center_rc, cat, blk):
    """Category of each entry of row i (``cat``), and the slot starts and fill pointers in ``blk[i]``.

    Conditions as the CPU's ``_gather`` (r^2 < r_all^2) and ``_angular_order`` (r < r_ang, named
    element), with r_all and r_ang the cutoffs of the centre's species c. After the call blk[i, e]
    is the first slot of category e (0 <= e <= n_el), blk[i, n_el + 1] the number of slots, and
    blk[i, n_el + 2 + e] the fill pointer of e (its start). Returns False, classifying nothing,
    for a centre without functions.
    """
    r_all = center_rc[c, 0]
    if r_all <= 0.0:
        return False
    r_ang = center_rc[c, 1]
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
    return True


@cuda.jit(device=True)
def _entry(i, p, positions, cell, neighbors, shifts, cut_kind, cut_par, fc, dfc, zero):
    """r_p and |r_p| of entry p of row i; f_c and df_c/dr at |r_p| of every distinct cutoff into column i of ``fc``, ``dfc``.

    Computed once per (entry, cutoff) as on the CPU, and read by every radial function and radial
    part of the entry. r_p and |r_p| are computed in float64 from the float64 positions (a
    difference of large coordinates cancels: rounding them first would lose the digits of a
    short vector), then rounded to the type of ``zero``, the precision of everything after
    (the identity in float64).
    """
    real = type(zero)
    d0, d1, d2 = pair_vector(positions, cell, i, neighbors[p], shifts[p])
    r = real(math.sqrt(d0 * d0 + d1 * d1 + d2 * d2))
    cutoffs_at(i, r, cut_kind, cut_par, fc, dfc)
    return real(d0), real(d1), real(d2), r


@cuda.jit(device=True)
def _slot(i, p, e, n_el, lo, blk, ent, geo, d0, d1, d2, r):
    """The next slot of category e (its fill pointer in ``blk[i]``) for entry p: ``ent`` and ``geo`` = [r_p, 1/|r_p|]."""
    s = lo + blk[i, n_el + 2 + e]
    blk[i, n_el + 2 + e] += 1
    ent[s] = p - lo
    geo[s, 0] = d0
    geo[s, 1] = d1
    geo[s, 2] = d2
    geo[s, 3] = type(r)(1.0) / r
    return s


@cuda.jit(device=True)
def _function(m, m_end, fn_par, fn_int, zero):
    """(lambda, zeta, integer zeta) of angular function m of a chunk, or zeros (``zero``'s type) past its end m_end."""
    if m >= m_end:
        return zero, zero, 0
    return fn_par[m, 0], fn_par[m, 1], fn_int[m, 1]


@cuda.jit(device=True)
def _add_term(acc, cos_t, lam, zeta, izeta, rad):
    """acc + (1 + lambda cos t)^zeta rad, or acc where 1 + lambda cos t <= 0 (a skipped term, as on the CPU).

    The term in the precision of ``cos_t`` and ``rad``, added to the float64 sum ``acc``.
    """
    plam, pz = angular_power(cos_t, lam, zeta, izeta)
    if plam <= 0.0:
        return acc
    return acc + pz * rad


@cuda.jit(device=True)
def _store_sum(out, i, m, m_end, acc, fn_int, fn_par):
    """G[i] of angular function m from its finished sum: the 2^(1 - zeta) prefactor applied as on the CPU."""
    if m < m_end:
        out[i, fn_int[m, 0]] = acc * fn_par[m, 2]


# ---------------------------------------------------------------------------- signatures
# One kernel body per pass for both precisions; its signatures are built from the float type
# ``real`` of the per-entry math, scratch and parameter tables ("float64" or "float32"). The list,
# G, the force-pass accumulators (gacc), the forces and the virial are float64 in both.
_REALS = ("float64", "float32")
_LIST = "float64[:, ::1], float64[:, ::1], int64[::1], int64[::1], int32[::1], int32[:, ::1]"


def _tables_signature(real):
    """center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par, ang_first,
    grp_int, grp_first, fn_int, fn_par, n_el."""
    return (f"float64[:, ::1], int64[::1], {real}[:, ::1], int64[::1], int64[:, ::1], {real}[:, ::1], int64[::1], "
            f"int64[::1], {real}[:, ::1], int64[::1], int64[:, ::1], int64[::1], int64[:, ::1], {real}[:, ::1], int64")


def _scratch_signature(real):
    """cat, blk, fc, dfc, ent, geo."""
    return f"int8[::1], int64[:, ::1], {real}[:, ::1], {real}[:, ::1], int32[::1], {real}[:, ::1]"


# ---------------------------------------------------------------------------- values
@kernel([f"void({_LIST}, {_tables_signature(r)}, {_scratch_signature(r)}, {r}[:, ::1], float64[:, ::1], {r})"
         for r in _REALS])
def _values(positions, cell, species, first, neighbors, shifts,
            center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par,
            ang_first, grp_int, grp_first, fn_int, fn_par, n_el,
            cat, blk, fc, dfc, ent, geo, R, out, zero):
    """Row i of G (see :func:`symmetry_functions`); one thread per atom, per-entry math in the type of ``zero``."""
    i = cuda.grid(1)
    if i >= positions.shape[0]:
        return
    for col in range(out.shape[1]):
        out[i, col] = 0.0
    c = species[i]
    if not _classify(i, c, positions, cell, species, first, neighbors, shifts, n_el, center_rc, cat, blk):
        return
    lo = first[i]
    rp0 = rp_first[c]
    # Gather in list order: radial functions at once (the CPU's order of terms), angular
    # neighbours into their element's slots with their radial parts.
    for p in range(lo, first[i + 1]):
        e = cat[p]
        if e < 0:
            continue
        d0, d1, d2, r = _entry(i, p, positions, cell, neighbors, shifts, cut_kind, cut_par, fc, dfc, zero)
        radial_values(out, i, c * n_el + species[neighbors[p]], r, i, rad_first, rad_int, rad_par, cut_par, fc, dfc)
        if e == n_el:
            continue  # radial only: the value pass needs no slot
        s = _slot(i, p, e, n_el, lo, blk, ent, geo, d0, d1, d2, r)
        for q in range(rp0, rp_first[c + 1]):
            R[s, q - rp0], _ = radial_part_at(r, q, i, rp_cut, rp_par, cut_par, fc, dfc)
    if blk[i, n_el] < 2:
        return  # fewer than two angular neighbours: no pairs
    base = c * n_el
    blk_i = blk[i]
    for ej in range(n_el):
        j_lo = lo + blk_i[ej]
        j_hi = lo + blk_i[ej + 1]
        if j_lo == j_hi:
            continue
        for ek in range(ej, n_el):
            g0, g1, k_lo, k_hi = element_block(base, ej, ek, n_el, 0, lo, ang_first, blk_i)
            if k_lo == k_hi:
                continue  # no groups, or no k
            for g in range(g0, g1):
                q = grp_int[g, 1]
                row = q - rp0
                narrow = grp_int[g, 0] == 3
                m_end = grp_first[g + 1]
                for m0 in range(grp_first[g], m_end, CHUNK):
                    lam0, z0, iz0 = _function(m0, m_end, fn_par, fn_int, zero)
                    lam1, z1, iz1 = _function(m0 + 1, m_end, fn_par, fn_int, zero)
                    lam2, z2, iz2 = _function(m0 + 2, m_end, fn_par, fn_int, zero)
                    lam3, z3, iz3 = _function(m0 + 3, m_end, fn_par, fn_int, zero)
                    nm = min(CHUNK, m_end - m0)
                    # Sums over pairs: float64 in both precisions (float64(0.0) rather than 0.0 so
                    # that the simulator, where float32 + a Python float is float32, agrees).
                    a0 = float64(0.0)
                    a1 = float64(0.0)
                    a2 = float64(0.0)
                    a3 = float64(0.0)
                    for sj in range(j_lo, j_hi):
                        Ra = R[sj, row]
                        if Ra == 0.0:
                            continue  # every product with it is 0, which the CPU skips
                        aj0 = geo[sj, 0]
                        aj1 = geo[sj, 1]
                        aj2 = geo[sj, 2]
                        inv_j = geo[sj, 3]
                        for sk in range(sj + 1 if ek == ej else k_lo, k_hi):
                            rad = Ra * R[sk, row]
                            if rad == 0.0:
                                continue
                            bk0 = geo[sk, 0]
                            bk1 = geo[sk, 1]
                            bk2 = geo[sk, 2]
                            cos_t = (aj0 * bk0 + aj1 * bk1 + aj2 * bk2) * (inv_j * geo[sk, 3])
                            if narrow:
                                rjk, _, _, _ = jk_vector(aj0, aj1, aj2, bk0, bk1, bk2)
                                inside, R3, _ = narrow_factor(rjk, q, rp_cut, rp_par, cut_kind, cut_par)
                                if not inside:
                                    continue
                                rad *= R3
                            a0 = _add_term(a0, cos_t, lam0, z0, iz0, rad)
                            if nm > 1:
                                a1 = _add_term(a1, cos_t, lam1, z1, iz1, rad)
                            if nm > 2:
                                a2 = _add_term(a2, cos_t, lam2, z2, iz2, rad)
                            if nm > 3:
                                a3 = _add_term(a3, cos_t, lam3, z3, iz3, rad)
                    _store_sum(out, i, m0, m_end, a0, fn_int, fn_par)
                    _store_sum(out, i, m0 + 1, m_end, a1, fn_int, fn_par)
                    _store_sum(out, i, m0 + 2, m_end, a2, fn_int, fn_par)
                    _store_sum(out, i, m0 + 3, m_end, a3, fn_int, fn_par)


# ---------------------------------------------------------------------------- forces
@kernel([f"void({_LIST}, {_tables_signature(r)}, {r}[:, ::1], {_scratch_signature(r)}, {r}[:, ::1], {r}[:, ::1], "
         f"float64[:, ::1], {r}[:, ::1], float64[:, ::1], {r})" for r in _REALS])
def _entry_gradients(positions, cell, species, first, neighbors, shifts,
                     center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par, rp_first, rp_cut, rp_par,
                     ang_first, grp_int, grp_first, fn_int, fn_par, n_el,
                     dEdG, cat, blk, fc, dfc, ent, geo, R, dR, gacc, gvec, virial_rows, zero):
    """g_p = dE_i/dr_p of the entries of row i into ``gvec`` and atom i's virial row (the CPU's ``_atom_forces``).

    Per-entry and per-pair math in the precision of ``zero`` (0.0 or float32(0.0)); the sums over
    pairs (``gacc``, j's share ``gj``) and the virial in float64.
    """
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
    if not _classify(i, c, positions, cell, species, first, neighbors, shifts, n_el, center_rc, cat, blk):
        return
    rp0 = rp_first[c]
    # Gather: every used entry gets a slot (angular ones first, by element); dE/d|r| of the
    # radial functions goes straight into the slot's accumulator.
    for p in range(lo, hi):
        e = cat[p]
        if e < 0:
            continue
        d0, d1, d2, r = _entry(i, p, positions, cell, neighbors, shifts, cut_kind, cut_par, fc, dfc, zero)
        s = _slot(i, p, e, n_el, lo, blk, ent, geo, d0, d1, d2, r)
        gacc[s, 0] = radial_gradient(dEdG, i, c * n_el + species[neighbors[p]], r, i, rad_first, rad_int, rad_par,
                                     cut_par, fc, dfc)
        gacc[s, 1] = 0.0
        gacc[s, 2] = 0.0
        gacc[s, 3] = 0.0
        if e == n_el:
            continue
        for q in range(rp0, rp_first[c + 1]):
            R[s, q - rp0], dR[s, q - rp0] = radial_part_at(r, q, i, rp_cut, rp_par, cut_par, fc, dfc)
    base = c * n_el
    blk_i = blk[i]
    ej = 0
    # The CPU's pair loop: j in sorted order, the element blocks of k from e_j on.
    for sj in range(lo, lo + blk_i[n_el] - 1):
        while sj >= lo + blk_i[ej + 1]:
            ej += 1
        aj0 = geo[sj, 0]
        aj1 = geo[sj, 1]
        aj2 = geo[sj, 2]
        inv_j = geo[sj, 3]
        # j's share is summed in registers over k and stored once; in float64 (``NO_GRADIENT`` with
        # float64 zeros: in the simulator a Python float + float32 would be float32).
        z64 = float64(0.0)
        gj = (z64, z64, z64, z64)
        for ek in range(ej, n_el):
            g0, g1, k0, k1 = element_block(base, ej, ek, n_el, sj + 1, lo, ang_first, blk_i)
            for sk in range(k0, k1):
                gj = pair_force(i, g0, g1, rp0, sj, sk, aj0, aj1, aj2, inv_j, geo[sk, 0], geo[sk, 1], geo[sk, 2],
                                geo[sk, 3], R, dR, dEdG, grp_int, grp_first, fn_int, fn_par, rp_cut, rp_par, cut_kind,
                                cut_par, gj, gacc)
        add_gradient(gacc, sj, gj)
    # g_p by list entry, and W_i = -sum_p r_p (x) g_p.
    w = NO_VIRIAL
    for s in range(lo, lo + blk_i[n_el + 1]):
        d0 = geo[s, 0]
        d1 = geo[s, 1]
        d2 = geo[s, 2]
        _, _, _, w = entry_gradient(gvec, lo + ent[s], gacc, s, d0, d1, d2, math.sqrt(d0 * d0 + d1 * d1 + d2 * d2), w)
    for a in range(9):
        virial_rows[i, a] = w[a]


@kernel([f"void(int64[::1], int64[::1], {r}[:, ::1], float64[:, ::1])" for r in _REALS])
def _gather_forces(first, reverse, gvec, forces):
    """F_i = sum_{p of i} g_p - sum_{p of i} g_reverse[p]: r_p = x_j - x_i, so dE/dx_i = -g_p, dE/dx_j = g_p.

    Summed in float64 whatever the type of ``gvec`` (float64(0.0): see ``_values``).
    """
    i = cuda.grid(1)
    if i >= forces.shape[0]:
        return
    f0 = float64(0.0)
    f1 = float64(0.0)
    f2 = float64(0.0)
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
def _inputs(positions, cell, species, first, neighbors, shifts, tables, precision):
    return (_dev(positions, np.float64), _dev(cell, np.float64), _dev(species, np.int64), _dev(first, np.int64),
            _dev(neighbors, np.int32), _dev(shifts, np.int32), device_tables(tables, precision))


def _common_scratch(t, n_atoms, n_entries, real, ws):
    """cat, blk, fc, dfc, ent, geo: the scratch the value and force passes share (module docstring).

    The two passes of a step take the same buffers from a workspace (G is finished before the
    force pass starts).
    """
    n_cut = max(1, t.cut_kind.shape[0])
    return (_empty((n_entries,), np.int8, ws, "cat"), _empty((n_atoms, 2 * t.n_el + 3), np.int64, ws, "blk"),
            _empty((n_cut, n_atoms), real, ws, "fc"), _empty((n_cut, n_atoms), real, ws, "dfc"),
            _empty((n_entries,), np.int32, ws, "ent"), _empty((n_entries, 4), real, ws, "geo"))


def symmetry_functions(positions, cell, species, first, neighbors, shifts, tables, n_columns, precision="float64",
                       workspace=None):
    """Symmetry-function values of every atom, on the device.

    Parameters
    ----------
    positions, cell, species, n_columns :
        As for :func:`echemmd.kernels.descriptors.symmetry_functions`.
    first, neighbors, shifts : int64 (N + 1,), int32 (P,), int32 (P, 3)
        Full neighbour list (CSR); entries beyond the cutoffs are skipped.
    tables : DeviceTables or tuple
        :func:`device_tables` of the CPU tables (or the CPU tuple itself, uploaded on every call),
        best uploaded once in ``precision``.
    precision : {"float64", "mixed"}
        "mixed": the per-entry and per-pair math and its scratch in float32, the sums into G in
        float64 (module docstring, "Precision").
    workspace : Workspace, optional
        Where G and the scratch come from (:mod:`.workspace`); allocated when not given.

    Arrays may be device or numpy arrays (numpy arrays are copied to the device).

    Returns
    -------
    G : device float64 (N, n_columns)
        Values (dimensionless); columns of functions that do not apply to an atom's element are 0.
    """
    real = _real(precision)
    positions, cell, species, first, neighbors, shifts, t = _inputs(positions, cell, species, first, neighbors,
                                                                     shifts, tables, precision)
    n_atoms = positions.shape[0]
    ws = workspace
    out = _empty((n_atoms, int(n_columns)), np.float64, ws, "G")
    if n_atoms == 0:
        return out
    scratch = _common_scratch(t, n_atoms, neighbors.shape[0], real, ws)
    R = _empty((neighbors.shape[0], max(1, t.max_parts)), real, ws, "R")
    _values[blocks(n_atoms, ATOM_THREADS), ATOM_THREADS](positions, cell, species, first, neighbors, shifts,
                                                         *t[1:15], t.n_el, *scratch, R, out, real(0.0))
    return out


def symmetry_function_forces(positions, cell, species, first, neighbors, shifts, tables, dEdG, reverse,
                             precision="float64", workspace=None):
    """Forces and virial of E = sum_i sum_mu dEdG[i, mu] G_i,mu (dEdG held fixed), on the device.

    Parameters
    ----------
    positions, cell, species, first, neighbors, shifts, tables, precision, workspace :
        As for :func:`symmetry_functions` (G is not needed here: its buffer is left alone).
    dEdG : float64 (N, n_columns), float32 for ``precision`` "mixed"
        As for :func:`echemmd.kernels.descriptors.symmetry_function_forces`, eV. A host array is
        converted; a device array must have the precision's dtype (the per-pair math reads it
        once per function and pair: a float64 one would turn that math to float64).
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
    real = _real(precision)
    positions, cell, species, first, neighbors, shifts, t = _inputs(positions, cell, species, first, neighbors,
                                                                     shifts, tables, precision)
    if is_device_array(dEdG) and dEdG.dtype != np.dtype(real):
        raise ValueError(f"dEdG: device array of dtype {dEdG.dtype}, precision {precision!r} needs "
                         f"{np.dtype(real)}")
    dEdG = _dev(dEdG, real)
    reverse = _dev(reverse, np.int64)
    n_atoms = positions.shape[0]
    n_entries = neighbors.shape[0]
    if reverse.shape[0] != n_entries:
        raise ValueError(f"reverse has {reverse.shape[0]} entries, the list {n_entries}")
    ws = workspace
    forces = _empty((n_atoms, 3), np.float64, ws, "forces")
    if n_atoms == 0:
        return forces, cuda.to_device(np.zeros((3, 3)))
    scratch = _common_scratch(t, n_atoms, n_entries, real, ws)
    width = max(1, t.max_parts)
    R = _empty((n_entries, width), real, ws, "R")
    dR = _empty((n_entries, width), real, ws, "dR")
    gacc = _empty((n_entries, 4), np.float64, ws, "gacc")
    gvec = _empty((n_entries, 3), real, ws, "gvec")
    virial_rows = _empty((n_atoms, 9), np.float64, ws, "virial_rows")
    _entry_gradients[blocks(n_atoms, ATOM_THREADS), ATOM_THREADS](
        positions, cell, species, first, neighbors, shifts, *t[1:15], t.n_el, dEdG, *scratch, R, dR, gacc, gvec,
        virial_rows, real(0.0))
    _gather_forces[blocks(n_atoms), THREADS](first, reverse, gvec, forces)
    virial = reduce.sum_columns(virial_rows, workspace=ws, name="virial").reshape(3, 3)
    return forces, virial

"""Peer workload (c): symmetry functions and their derivatives, echemmd against DScribe's ACSF.

Usage::

    python benchmarks/peers/acsf.py              # 1000 water molecules (3000 atoms)
    python benchmarks/peers/acsf.py --quick      # 100 molecules (300 atoms)
    python benchmarks/peers/acsf.py --threads 4

Structure: ``echemmd.validate.water_box`` (1 g/cm^3, O-O >= 2.5 Å, other pairs >= 1.4 Å, as in
``benchmarks/mlp.py``), wrapped into the cell (DScribe replicates the cell around it), periodic.

Functions (r_c = 6 Å, cosine cutoff f_c = (cos(pi r / r_c) + 1) / 2, both codes): every function
applies to every centre; radial ones per neighbour element (H, O), angular ones per unordered
neighbour pair (HH, HO, OO):

* DScribe G1 = sum_j f_c(r_ij)  ==  echemmd type 2 with eta = 0, r_s = 0;
* DScribe G2 (eta, R_s)  ==  echemmd type 2 (eta, r_s): exp(-eta (r_ij - r_s)^2) f_c(r_ij);
* DScribe G4 (eta, zeta, lambda)  ==  echemmd type 3 (narrow) with r_s = 0:
  2 (0.5 (1 + lambda cos))^zeta = 2^(1 - zeta) (1 + lambda cos)^zeta, times
  exp(-eta (r_ij^2 + r_ik^2 + r_jk^2)) f_c(r_ij) f_c(r_ik) f_c(r_jk) -- DScribe includes the r_jk
  term in the exponent and f_c(r_jk) (it skips r_jk > r_c, where f_c = 0 anyway);
* DScribe G5 (eta, zeta, lambda)  ==  echemmd type 9 (wide) with r_s = 0 (no r_jk terms).

DScribe has no r_s in angular functions (hence r_s = 0 there) and no G3 counterpart in echemmd (not
used). Both sum over unordered pairs j < k. DScribe's feature order (species sorted by Z, per
species [G1, G2...], then per species pair its = max(a,b)(max(a,b)+1)/2 + min(a,b) [G4..., G5...])
is rebuilt here and echemmd's columns (given in its own order: all radial, then type 3, then type 9)
are permuted into it before comparing.

Threads. echemmd: ``numba.set_num_threads(T)`` (default T = 2). DScribe's C++ ACSF is serial and
``n_jobs`` parallelises over *systems* only (joblib/loky processes), so for one structure it runs
serially; the same T-way parallelism is obtained by passing the structure T times with the centres
split into T chunks (``create([atoms] * T, centers=chunks, n_jobs=T)``). Both DScribe variants are
timed; the ratio uses the faster of the two (the conservative choice for echemmd).

What is timed (best of several calls after a warm-up call, warm-up/compilation reported apart;
DScribe's derivative calls, seconds long with nothing to compile, once each):

1. Values on the full box. DScribe ``ACSF.create`` (periodic extension + cell list + functions)
   against echemmd ``NeighborList(r_c, skin=0).build`` + ``SymmetryFunctions.compute_system``
   (the list build included, since DScribe's time includes its neighbour search; the
   ``compute_system`` time alone is reported too). Agreement: max |G_echemmd - G_dscribe| and the
   same relative to max |G|.

2. Derivatives. DScribe 2.1's ``ACSF.derivatives`` is numerical only (``method="auto"`` means
   "numerical"; attach=True is required): the pure-Python ``DescriptorLocal.derivatives_numerical``
   calls ``create_single`` on a displaced copy of the whole structure 6 times per (centre, atom)
   pair (central differences, h = 1e-4 Å) and fills a dense (n_centers, n_atoms, 3, n_features)
   tensor. For 3000 atoms that is 9e6 pairs (~5e7 structure evaluations) and a 9 GB tensor: it
   cannot be run, so the comparison is made in two ways:

   a. Small box (16 molecules, 48 atoms; 8 molecules with --quick), everything measured. DScribe
      ``derivatives(atoms, attach=True, return_descriptor=True)`` (values + full dense Jacobian)
      against echemmd (i) list + values + analytic force pass ``SymmetryFunctions.forces(system,
      nl, dEdG)`` with random dE/dG (sum_i dE/dG_i . dG_i/dr, what MD needs) and (ii) list +
      values + the same dense Jacobian from 3N forward-mode ``SymmetryFunctions.jvp`` calls (one
      unit displacement each): the like-for-like output. Agreement: echemmd's Jacobian against
      DScribe's tensor, and echemmd's forces against -sum_i dEdG_i . (DScribe tensor)_i -- within
      DScribe's finite-difference accuracy.
   b. Full box, sampled and extrapolated. DScribe derivatives of one centre (atom 0) with respect
      to only the atoms that can move it (itself and its neighbours within r_c, ``include=``) is
      measured; its cost per (centre, atom) pair times (i) N^2 (what one DScribe call over all
      centres and atoms does) and (ii) sum_i (1 + neighbours of i) (a lower bound: only the non-zero
      pairs, which DScribe's API cannot select per centre) estimates the full derivative cost,
      against echemmd's measured values + force pass on the full box (``forces``) and values +
      one ``jvp``. The sampled tensor, contracted with a random motion v of the included atoms,
      is checked against echemmd's ``jvp`` along v for that centre.

Compilation: ``compile_s`` is the first values + forces + jvp call on a small box in a fresh
interpreter with an empty Numba cache; ``first_call_s`` the same in this process (Numba's cache
loaded, or compiled); DScribe's warm-up (first call, loky worker start-up for n_jobs > 1) is
recorded as ``first_s`` next to its times.

Writes ``benchmarks/results/peers_acsf.json`` (``peers_acsf_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import set_threads, timed, write_result  # noqa: E402

R_C = 6.0  # Å
SPECIES = ["H", "O"]  # DScribe orders species by atomic number; so does echemmd
# DScribe parameter sets (the same for every neighbour element / pair and every centre).
G2_PARAMS = [(0.001, 0.0), (0.01, 0.0), (0.05, 0.0), (0.2, 0.0), (0.5, 1.0), (0.5, 2.0), (0.5, 3.0), (0.5, 4.0)]
G4_PARAMS = [(0.001, 1.0, 1.0), (0.001, 1.0, -1.0), (0.01, 4.0, 1.0), (0.01, 4.0, -1.0)]
G5_PARAMS = [(0.001, 1.0, 1.0), (0.001, 1.0, -1.0), (0.01, 4.0, 1.0), (0.01, 16.0, -1.0)]


def make_box(n_molecules, seed=0):
    from echemmd.validate import water_box

    atoms = water_box(n_molecules, seed=seed, min_oo=2.5, min_distance=1.4)
    atoms.wrap()
    return atoms


def make_dscribe():
    from dscribe.descriptors import ACSF

    return ACSF(r_cut=R_C, g2_params=G2_PARAMS, g4_params=G4_PARAMS, g5_params=G5_PARAMS, species=SPECIES,
                periodic=True)


def make_echemmd():
    """echemmd's SymmetryFunctions for the same functions, and the DScribe column of each of its columns."""
    from echemmd.descriptors import SymmetryFunctions

    n_t = len(SPECIES)
    n_rad = 1 + len(G2_PARAMS)  # G1 + G2 (no G3)
    n_ang = len(G4_PARAMS) + len(G5_PARAMS)
    funcs, cols = [], []
    base = dict(r_c=R_C, cutoff="cos")
    for a, e in enumerate(SPECIES):
        funcs.append({"type": 2, "neighbors": [e], "eta": 0.0, "r_s": 0.0, **base})  # G1
        cols.append(a * n_rad)
        for g, (eta, r_s) in enumerate(G2_PARAMS):
            funcs.append({"type": 2, "neighbors": [e], "eta": eta, "r_s": r_s, **base})
            cols.append(a * n_rad + 1 + g)
    pairs = [(a, b) for a in range(n_t) for b in range(a, n_t)]
    for kind, params, shift in ((3, G4_PARAMS, 0), (9, G5_PARAMS, len(G4_PARAMS))):
        for a, b in pairs:
            its = b * (b + 1) // 2 + a  # a <= b
            for g, (eta, zeta, lam) in enumerate(params):
                funcs.append({"type": kind, "neighbors": [SPECIES[a], SPECIES[b]], "eta": eta, "r_s": 0.0,
                              "zeta": zeta, "lambda": lam, **base})
                cols.append(n_t * n_rad + its * n_ang + shift + g)
    cols = np.array(cols)
    assert sorted(cols) == list(range(len(cols)))
    return SymmetryFunctions(funcs), cols


def _dscribe_split(n, parts):
    return [np.arange(n)[k::parts] for k in range(parts)]


def dscribe_values(acsf, atoms, jobs):
    """Values of every atom; with jobs > 1, the structure ``jobs`` times with the centres split."""
    if jobs == 1:
        return acsf.create(atoms, n_jobs=1)
    chunks = _dscribe_split(len(atoms), jobs)
    out = acsf.create([atoms] * jobs, centers=chunks, n_jobs=jobs)
    G = np.empty((len(atoms), acsf.get_number_of_features()))
    for c, g in zip(chunks, out):
        G[c] = g
    return G


def dscribe_derivatives(acsf, atoms, jobs):
    """(dG/dr (n_centers, n_atoms, 3, F), G) of every centre w.r.t. every atom (numerical, attach=True)."""
    if jobs == 1:
        return acsf.derivatives(atoms, attach=True, return_descriptor=True, n_jobs=1)
    chunks = _dscribe_split(len(atoms), jobs)
    d_parts, g_parts = acsf.derivatives([atoms] * jobs, centers=[list(c) for c in chunks], attach=True,
                                        return_descriptor=True, n_jobs=jobs)
    n, f = len(atoms), acsf.get_number_of_features()
    D, G = np.empty((n, n, 3, f)), np.empty((n, f))
    for c, d, g in zip(chunks, d_parts, g_parts):
        D[c], G[c] = d, g
    return D, G


class Echem:
    """echemmd's side on one structure: list, values, force pass, Jacobian."""

    def __init__(self, atoms, seed=1):
        from echemmd.neighbors import NeighborList
        from echemmd.system import System

        self.sf, self.cols = make_echemmd()
        self.system = System.from_atoms(atoms)
        self.nl = NeighborList(R_C, skin=0.0)
        self.build()
        self.dEdG = np.random.default_rng(seed).normal(size=(self.system.n_atoms, self.sf.n_functions))
        self.v = np.random.default_rng(seed + 1).normal(size=(self.system.n_atoms, 3))

    def build(self):
        s = self.system
        self.nl.build(s.positions, s.cell, s.pbc)

    def values(self):
        return self.sf.compute_system(self.system, self.nl)

    def list_values(self):
        self.build()
        return self.values()

    def list_values_forces(self):
        G = self.list_values()
        return G, self.sf.forces(self.system, self.nl, self.dEdG)

    def list_values_jvp(self):
        G = self.list_values()
        return G, self.sf.jvp(self.system, self.nl, self.v)

    def jacobian(self, atoms_idx=None):
        """dG_i/dr_a (n_atoms, len(atoms_idx), 3, F) from 3 jvp calls per atom, DScribe's column order."""
        n = self.system.n_atoms
        idx = np.arange(n) if atoms_idx is None else np.asarray(atoms_idx)
        J = np.empty((n, len(idx), 3, self.sf.n_functions))
        disp = np.zeros((n, 3))
        for k, a in enumerate(idx):
            for x in range(3):
                disp[a, x] = 1.0
                J[:, k, x, self.cols] = self.sf.jvp(self.system, self.nl, disp)
                disp[a, x] = 0.0
        return J

    def list_values_jacobian(self):
        G = self.list_values()
        return G, self.jacobian()

    def to_dscribe(self, G):
        out = np.empty_like(G)
        out[:, self.cols] = G
        return out


def first_call_seconds():
    """Seconds of the first values + forces + jvp call on a small box (compilation or cache loading)."""
    t0 = time.perf_counter()
    e = Echem(make_box(8, seed=1))
    e.list_values_forces()
    e.list_values_jvp()
    return time.perf_counter() - t0


def cold_compile_seconds():
    """:func:`first_call_seconds` in a fresh interpreter with an empty Numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, __file__, "--first-call"], env=env, capture_output=True, text=True,
                             check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _times(best_median_first):
    best, median, first = best_median_first
    return {"best_s": best, "median_s": median, "first_s": first}


def _once(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _diff(a, b):
    scale = float(np.abs(b).max())
    d = float(np.abs(a - b).max())
    return {"max_abs": d, "max_abs_over_max_value": d / scale, "max_value": scale}


def run(quick=False, threads=2) -> dict:
    n_mol = 100 if quick else 1000
    n_mol_small = 8 if quick else 16
    repeat = 5 if quick else 3
    acsf = make_dscribe()
    sf, cols = make_echemmd()
    out = {"threads": threads, "r_c_A": R_C, "cutoff": "cos", "g2_params": G2_PARAMS, "g4_params": G4_PARAMS,
           "g5_params": G5_PARAMS, "species": SPECIES, "n_features": int(acsf.get_number_of_features()),
           "echemmd_n_functions": sf.n_functions}
    assert out["n_features"] == sf.n_functions

    # Other work on the machine slows Numba's parallel loops far more than serial code: recorded.
    out["load_average_start"] = os.getloadavg()
    out["compile_s"] = cold_compile_seconds()
    out["first_call_s"] = first_call_seconds()

    # ---- 1. values on the full box
    atoms = make_box(n_mol)
    e = Echem(atoms)
    n = len(atoms)
    first, nbrs, shifts = e.nl.full
    r = np.linalg.norm(e.system.positions[nbrs] + shifts @ e.system.cell
                       - np.repeat(e.system.positions, np.diff(first), axis=0), axis=1)
    n_within = np.bincount(np.repeat(np.arange(n), np.diff(first))[r < R_C], minlength=n)
    values = {"n_atoms": n, "n_molecules": n_mol, "cell_A": float(atoms.cell[0, 0]),
              "neighbors_per_atom": float(n_within.mean())}
    values["echemmd_list_values"] = _times(timed(e.list_values, repeat))
    values["echemmd_values_only"] = _times(timed(e.values, repeat))
    values["echemmd_list_build"] = _times(timed(e.build, repeat))
    G_e = e.to_dscribe(e.values())
    values["dscribe_n_jobs_1"] = _times(timed(lambda: dscribe_values(acsf, atoms, 1), repeat))
    G_d = dscribe_values(acsf, atoms, 1)  # (not timed)
    if threads > 1:
        values[f"dscribe_n_jobs_{threads}_split"] = _times(timed(lambda: dscribe_values(acsf, atoms, threads), repeat))
        G_d2 = dscribe_values(acsf, atoms, threads)
        values["dscribe_split_vs_serial_max_abs"] = float(np.abs(G_d2 - G_d).max())
    dscribe_best = min(v["best_s"] for k, v in values.items() if k.startswith("dscribe_n_jobs"))
    values["dscribe_best_s"] = dscribe_best
    values["agreement"] = _diff(G_e, G_d)
    values["ratio_echemmd_over_dscribe"] = values["echemmd_list_values"]["best_s"] / dscribe_best
    out["values"] = values

    # ---- 2a. derivatives, small box, all measured
    small = make_box(n_mol_small, seed=2)
    es = Echem(small)
    ns = len(small)
    der = {"n_atoms": ns, "n_molecules": n_mol_small, "cell_A": float(small.cell[0, 0]),
           "dscribe_method": "numerical (central differences, h = 1e-4 Å; pure-Python loop over (centre, atom))"}
    der["echemmd_list_values_forces"] = _times(timed(es.list_values_forces, repeat))
    der["echemmd_list_values_jvp"] = _times(timed(es.list_values_jvp, repeat))
    der["echemmd_list_values_jacobian"] = _times(timed(es.list_values_jacobian, repeat))
    # DScribe: one call each (seconds long; nothing to compile, and part 1 already started the
    # loky workers that n_jobs > 1 reuses).
    t, (D, G_d) = _once(lambda: dscribe_derivatives(acsf, small, 1))
    der["dscribe_n_jobs_1"] = {"best_s": t, "calls": 1}
    if threads > 1:
        t, (D2, _) = _once(lambda: dscribe_derivatives(acsf, small, threads))
        der[f"dscribe_n_jobs_{threads}_split"] = {"best_s": t, "calls": 1}
        der["dscribe_split_vs_serial_max_abs"] = float(np.abs(D2 - D).max())
        del D2
    dscribe_best = min(v["best_s"] for k, v in der.items() if k.startswith("dscribe_n_jobs"))
    der["dscribe_best_s"] = dscribe_best
    G_e, (F_e, _) = es.list_values_forces()
    J_e = es.jacobian()
    der["values_agreement"] = _diff(es.to_dscribe(G_e), G_d)
    der["jacobian_agreement"] = _diff(J_e, D)
    dEdG_d = es.to_dscribe(es.dEdG)
    F_d = -np.einsum("iaxf,if->ax", D, dEdG_d)
    der["forces_agreement"] = _diff(F_e, F_d)
    for key in ("echemmd_list_values_forces", "echemmd_list_values_jacobian"):
        der[f"ratio_{key}_over_dscribe"] = der[key]["best_s"] / dscribe_best
    out["derivatives_small_box"] = der

    # ---- 2b. derivatives, full box: one centre measured, the rest extrapolated
    centre = 0
    inc = np.unique(np.concatenate([[centre], nbrs[first[centre]:first[centre + 1]][r[first[centre]:
                                                                                    first[centre + 1]] < R_C]]))
    t_sample, d_sample = _once(lambda: acsf.derivatives(atoms, centers=[centre], include=[int(a) for a in inc],
                                                        attach=True, return_descriptor=False))
    per_pair = t_sample / len(inc)
    # echemmd's directional derivative of the centre along a random motion of the included atoms
    # (the others cannot move it), against DScribe's sampled tensor contracted with the same motion.
    v = np.zeros((n, 3))
    v[inc] = np.random.default_rng(3).normal(size=(len(inc), 3))
    U_e = e.to_dscribe(e.sf.jvp(e.system, e.nl, v))[centre]
    U_d = np.einsum("axf,ax->f", d_sample[0], v[inc])
    full = {"centre": centre, "included_atoms": int(len(inc)), "dscribe_sample_s": t_sample,
            "dscribe_per_pair_s": per_pair,
            "dscribe_estimated_all_pairs_s": per_pair * n * n,
            "dscribe_estimated_nonzero_pairs_s": per_pair * float(np.sum(n_within + 1)),
            "dscribe_dense_tensor_GB": n * n * 3 * sf.n_functions * 8 / 1e9,
            "sample_directional_derivative_agreement": _diff(U_e, U_d)}
    full["echemmd_list_values_forces"] = _times(timed(e.list_values_forces, repeat))
    full["echemmd_list_values_jvp"] = _times(timed(e.list_values_jvp, repeat))
    full["ratio_echemmd_forces_over_dscribe_nonzero_pairs_estimate"] = (
        full["echemmd_list_values_forces"]["best_s"] / full["dscribe_estimated_nonzero_pairs_s"])
    out["derivatives_full_box"] = full
    out["load_average_end"] = os.getloadavg()
    return out


def report(r):
    v, d, f = r["values"], r["derivatives_small_box"], r["derivatives_full_box"]
    T = r["threads"]
    print(f"ACSF, {r['n_features']} functions per atom, r_c {r['r_c_A']} Å cos, {T} threads (load average "
          f"{r['load_average_start'][0]:.2f} at start, {r['load_average_end'][0]:.2f} at end)")
    print(f"echemmd compile (empty cache) {r['compile_s']:.2f} s, first call in process {r['first_call_s']:.2f} s")
    print(f"1. values, {v['n_atoms']} atoms ({v['neighbors_per_atom']:.1f} neighbours within r_c):")
    print(f"   echemmd list+values {v['echemmd_list_values']['best_s'] * 1e3:9.2f} ms  (values only "
          f"{v['echemmd_values_only']['best_s'] * 1e3:.2f} ms, list {v['echemmd_list_build']['best_s'] * 1e3:.2f} ms)")
    for k in v:
        if k.startswith("dscribe_n_jobs"):
            print(f"   {k:22s}{v[k]['best_s'] * 1e3:9.2f} ms  (first {v[k]['first_s'] * 1e3:.1f} ms)")
    print(f"   ratio echemmd/DScribe {v['ratio_echemmd_over_dscribe']:.3f};  max |dG| "
          f"{v['agreement']['max_abs']:.2e} (relative {v['agreement']['max_abs_over_max_value']:.2e})")
    print(f"2a. derivatives, {d['n_atoms']} atoms, DScribe numerical dense tensor:")
    for k in ("echemmd_list_values_forces", "echemmd_list_values_jvp", "echemmd_list_values_jacobian"):
        print(f"   {k:30s}{d[k]['best_s'] * 1e3:11.3f} ms")
    for k in d:
        if k.startswith("dscribe_n_jobs"):
            print(f"   {k:30s}{d[k]['best_s'] * 1e3:11.1f} ms")
    print(f"   ratio forces/DScribe {d['ratio_echemmd_list_values_forces_over_dscribe']:.2e}, jacobian/DScribe "
          f"{d['ratio_echemmd_list_values_jacobian_over_dscribe']:.2e}")
    print(f"   agreement: values {d['values_agreement']['max_abs_over_max_value']:.1e}, jacobian "
          f"{d['jacobian_agreement']['max_abs']:.1e} abs ({d['jacobian_agreement']['max_abs_over_max_value']:.1e} "
          f"rel), forces {d['forces_agreement']['max_abs']:.1e} abs "
          f"({d['forces_agreement']['max_abs_over_max_value']:.1e} rel)")
    print(f"2b. derivatives, {v['n_atoms']} atoms: DScribe 1 centre x {f['included_atoms']} atoms "
          f"{f['dscribe_sample_s']:.2f} s ({f['dscribe_per_pair_s'] * 1e3:.2f} ms/pair) -> est. "
          f"{f['dscribe_estimated_nonzero_pairs_s']:.3g} s (non-zero pairs) / "
          f"{f['dscribe_estimated_all_pairs_s']:.3g} s "
          f"(all pairs, {f['dscribe_dense_tensor_GB']:.1f} GB)")
    print(f"   echemmd list+values+forces {f['echemmd_list_values_forces']['best_s'] * 1e3:.2f} ms, list+values+jvp "
          f"{f['echemmd_list_values_jvp']['best_s'] * 1e3:.2f} ms; ratio "
          f"{f['ratio_echemmd_forces_over_dscribe_nonzero_pairs_estimate']:.2e}; sample dG.v "
          f"{f['sample_directional_derivative_agreement']['max_abs']:.1e} abs "
          f"({f['sample_directional_derivative_agreement']['max_abs_over_max_value']:.1e} rel)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 molecules (300 atoms) instead of 1000")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--first-call", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if args.first_call:
        print(first_call_seconds())
        return
    data = run(quick=args.quick, threads=args.threads)
    report(data)
    print(f"results written to {write_result('acsf', data, args.quick)}")


if __name__ == "__main__":
    main()

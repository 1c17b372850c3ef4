"""Peer benchmark (a): Ewald energy + forces of a point-charge electrolyte, echemmd against LAMMPS.

Usage::

    python benchmarks/peers/ewald.py            # 500 to 1.6e4 atoms (the issue's 1e3, 4e3, 1.6e4 among them), bulk and slab; scaling fit + PNG
    python benchmarks/peers/ewald.py --quick    # 1e3 atoms only
    python benchmarks/peers/ewald.py --threads 2

Writes ``benchmarks/results/peers_ewald[_quick].json`` and, for the full run, ``peers_ewald_scaling.png``.

What is compared
----------------
Structure: a random neutral electrolyte of point charges +1 e / -1 e (types Na / Cl, alternating)
at molten-salt number density 0.031 ions/Å^3 (NaCl melt, about 1.5 g/cm^3), placed uniformly at
random with a minimum separation of 2 Å (random sequential redraw) so that no force is huge.

* bulk: cubic cell of side L = (N / 0.031)^(1/3), pbc T T T (LAMMPS ``boundary p p p``);
* slab: the same L x L x L block of ions, z in [L/2, 3L/2], in a cell of height 2 L with pbc
  T T F (LAMMPS ``boundary p p f``, box z in [0, 2L]); both engines pad the periodic cell
  along z by 3 (echemmd ``slab_factor=3.0``, LAMMPS ``kspace_modify slab 3.0``) and add the
  Yeh–Berkowitz dipole correction (the net-charge terms vanish: the system is neutral).

Parameters: relative RMS force accuracy 1e-5 (relative to the force between two unit charges
1 Å apart, the LAMMPS definition; echemmd uses the same one). echemmd chooses alpha and r_cut
(its cost-optimal split) and k_cut from its Kolafa–Perram estimates; LAMMPS gets the *same*
real-space cutoff (``pair_style coul/long r_cut``) and ``kspace_style ewald 1e-5`` and picks
its own g_ewald and k-vectors for the accuracy (the same Kolafa–Perram estimates: in bulk the
same alpha and k-vector set; for slabs LAMMPS sizes g_ewald with the unpadded volume and
echemmd with the padded one, so LAMMPS' alpha is a little larger and it uses more k-vectors;
both alphas and k-vector counts are recorded). ``kspace_style pppm 1e-5``
with the same cutoff is run too, for the record. LAMMPS: ``units metal``, ``atom_style
charge``, default ``pair_modify table 12`` for coul/long, OpenMP styles (``-sf omp -pk omp
T``), one MPI rank. Coulomb constants: echemmd 14.399645478, LAMMPS metal 14.399645 eV Å/e^2
(relative difference 3e-8, negligible here).

Correctness: a reference from echemmd at accuracy 1e-10 (its own alpha, r_cut, k-vectors).
For each engine: the RMS force error |F - F_ref| (root mean square over atoms of the error
vector's length) in eV/Å, relative to 14.4 eV/Å (the accuracy's definition, to set against
1e-5) and relative to the RMS force; energy differences E - E_ref in eV. At the smallest size
the reference is checked against LAMMPS ewald at 1e-10 with the reference's cutoff
(``pair_modify table 0``), which bounds the reference's own error.

Timing (same threads in both engines, compilation and warm-up excluded, best of repeats; the
larger sizes run after the kernels were compiled on the smallest, so every call counts):

* ``echemmd.compute``: ``Ewald.compute(system, neighbors)`` with a prebuilt neighbour list
  (skin 0, cutoff r_cut): real space + structure factors + reciprocal forces + self, slab
  terms and the virial; ``neighbors.update`` only checks displacements;
* ``echemmd.setup_list_compute``: the time including the neighbour-list build: a fresh
  ``Ewald`` (parameter choice and k-vectors, a few ms), a list build (skin 0) and ``compute``
  — what LAMMPS ``run 0 pre yes`` covers; ``setup_and_list_build_derived`` is its difference
  to ``compute``;
* ``lammps.per_step``: ``run 1 pre no post no`` on static atoms (no fix: nothing moves, the
  neighbour list with skin 0 is never rebuilt): one pair + kspace evaluation with energy and
  virial (``thermo 1`` with pe and press), ghost-atom communication, the OPENMP package's
  per-step force-buffer work (its 'Modify' time), plus the overhead of a ``run`` command,
  recorded apart as ``run_overhead`` (``run 0 pre no post no``, about 10 us);
* ``lammps.setup_run0``: ``run 0 pre yes post no``: init (tables, g_ewald, k-vectors),
  ghost atoms, neighbour-list build and one evaluation;
* ``lammps.breakdown``: LAMMPS' own timers (Pair, Kspace, Neigh, Comm, ...) over a few steps.

The machine's load averages at the start and end of each size are recorded: on a shared
machine, other processes inflate (mostly the median) timings of both engines.

Ratios echemmd/LAMMPS < 1 mean echemmd is faster (the issue's target: <= 1 against ewald).
The echemmd profile times its three kernels on the same arrays (``kernels.real_space``,
``kernels.structure_factors``, ``kernels.reciprocal_potential_forces``); the remainder of
``compute`` is Python glue (fractional coordinates, virial sums, self and slab terms).
Neighbour lists: both engines sum over half lists (each pair once; LAMMPS newton on); the pair
counts within r_cut are recorded.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_lammps, set_threads, write_result  # noqa: E402

DENSITY = 0.031  # ions / Å^3 (NaCl melt near 1200 K)
D_MIN = 2.0  # Å, minimum separation of the random ions
ACCURACY = 1e-5
REF_ACCURACY = 1e-10
SLAB_FACTOR = 3.0
MASSES = {1: 22.98977, 2: 35.453}


# ---------------------------------------------------------------------------------- structure
def electrolyte(n, slab, rng, d_min=D_MIN):
    """(positions, charges, cell, pbc) of the random electrolyte; see the module docstring."""
    from scipy.spatial import cKDTree

    side = (n / DENSITY) ** (1.0 / 3.0)
    pos = rng.uniform(0.0, side, (n, 3))
    # Slab: z is open; a periodic box of 4L along z never wraps a pair of the [0, L) layer.
    box = [side, side, 4.0 * side if slab else side]
    for _ in range(1000):
        pairs = cKDTree(pos, boxsize=box).query_pairs(d_min, output_type="ndarray")
        if len(pairs) == 0:
            break
        redo = np.unique(pairs[:, 1])
        pos[redo] = rng.uniform(0.0, side, (len(redo), 3))
    else:
        raise RuntimeError("could not place the ions with the minimum separation")
    cell = np.eye(3) * side
    if slab:
        cell[2, 2] = 2.0 * side
        pos[:, 2] += 0.5 * side
    charges = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return pos, charges, cell, np.array([True, True, not slab])


def echemmd_system(pos, charges, cell, pbc):
    from echemmd.system import System

    n = len(charges)
    na = charges > 0
    return System(symbols=["Na" if s else "Cl" for s in na], numbers=np.where(na, 11, 17),
                  masses=np.where(na, MASSES[1], MASSES[2]), positions=pos.copy(), velocities=np.zeros((n, 3)),
                  charges=charges.copy(), cell=cell.copy(), pbc=pbc.copy(), tags=np.zeros(n, int),
                  frozen=np.zeros(n, bool))


def write_data(path, pos, charges, cell):
    n = len(charges)
    lines = ["echemmd peer benchmark: random electrolyte", "", f"{n} atoms", "2 atom types", "",
             f"0.0 {cell[0, 0]:.12f} xlo xhi", f"0.0 {cell[1, 1]:.12f} ylo yhi", f"0.0 {cell[2, 2]:.12f} zlo zhi",
             "", "Masses", "", f"1 {MASSES[1]}", f"2 {MASSES[2]}", "", "Atoms # charge", ""]
    for i in range(n):
        t = 1 if charges[i] > 0 else 2
        lines.append(f"{i + 1} {t} {charges[i]:.1f} {pos[i, 0]:.12f} {pos[i, 1]:.12f} {pos[i, 2]:.12f}")
    Path(path).write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------- timing
def measure(fn, budget=1.5, max_repeat=10, warmup=True):
    """Best and median wall time of ``fn()`` over repeats within ``budget`` seconds.

    ``warmup``: the first call (compilation, first touch) is reported as ``first`` and left out;
    otherwise (kernels already compiled on a smaller size) it counts as a repeat.
    """
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = [] if warmup else [first]
    more = int(min(max_repeat - len(times), (budget - (0.0 if warmup else first)) / max(first, 1e-9)))
    for _ in range(max(more, 1 if warmup else 0)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"best": min(times), "median": statistics.median(times), "first": first, "repeats": len(times)}


def force_error(forces, ref):
    from echemmd.units import KE

    d = np.asarray(forces) - ref
    abs_rms = float(np.sqrt(np.mean(np.sum(d * d, axis=1))))
    f_rms = float(np.sqrt(np.mean(np.sum(ref * ref, axis=1))))
    return {"abs_rms_eV_per_A": abs_rms, "relative_rms": abs_rms / KE, "relative_to_rms_force": abs_rms / f_rms,
            "max_abs_eV_per_A": float(np.sqrt(np.max(np.sum(d * d, axis=1))))}


# ---------------------------------------------------------------------------------- echemmd
def run_echemmd(system, budget, warmup=True):
    from echemmd.electrostatics import Ewald
    from echemmd.kernels import ewald as kernels
    from echemmd.neighbors import NeighborList
    from echemmd.units import KE

    ewald = Ewald(accuracy=ACCURACY, slab_factor=SLAB_FACTOR)
    p = ewald.setup(system)
    nl = NeighborList(p.r_cut, skin=0.0)
    nl.build(system.positions, system.cell, system.pbc)
    c = ewald.compute(system, nl)
    out = {"alpha": p.alpha, "r_cut": p.r_cut, "k_cut": p.k_cut, "kmax": list(p.kmax), "n_kvectors": p.n_kvectors,
           "estimated_relative_force_error": p.estimated_error,
           "pairs_within_r_cut": int(np.count_nonzero(_pair_lengths(system, nl) < p.r_cut)) // 2,
           "energy_eV": float(c.energy), "energy_parts_eV": ewald.energy_components(system, nl)}

    def setup_list_compute():
        e = Ewald(accuracy=ACCURACY, slab_factor=SLAB_FACTOR)
        e.setup(system)
        lst = NeighborList(e.params.r_cut, skin=0.0)
        lst.build(system.positions, system.cell, system.pbc)
        e.compute(system, lst)

    t = {"compute": measure(lambda: ewald.compute(system, nl), budget, warmup=warmup),
         "setup_list_compute": measure(setup_list_compute, budget, warmup=warmup)}
    t["setup_and_list_build_derived"] = t["setup_list_compute"]["best"] - t["compute"]["best"]
    # Profile: the three kernels on the arrays compute() uses.
    nl.build(system.positions, system.cell, system.pbc)
    first, neigh, shifts = nl.half  # what compute() passes to the kernel: each pair once
    q = np.ascontiguousarray(system.charges)
    frac = ewald._fractional(system)
    hmax, kmax, lmax = p.kmax
    sk = kernels.structure_factors(frac, q, ewald._kidx, hmax, kmax, lmax)
    prof = {
        "real_space": measure(lambda: kernels.real_space(system.positions, system.cell, q, ewald._sigma, first, neigh,
                                                         shifts, p.alpha, p.r_cut, 0.0, 0.0, KE, True), budget,
                              warmup=warmup),
        "structure_factors": measure(lambda: kernels.structure_factors(frac, q, ewald._kidx, hmax, kmax, lmax),
                                     budget, warmup=warmup),
        "reciprocal_forces": measure(lambda: kernels.reciprocal_potential_forces(
            frac, q, ewald._kidx, ewald._kvec, ewald._weight, sk, hmax, kmax, lmax, True), budget, warmup=warmup),
    }
    prof_best = {k: v["best"] for k, v in prof.items()}
    prof_best["reciprocal_total"] = prof_best["structure_factors"] + prof_best["reciprocal_forces"]
    prof_best["rest_of_compute"] = t["compute"]["best"] - sum(prof[k]["best"] for k in prof)
    n, nk = system.n_atoms, p.n_kvectors
    prof_best["ns_per_pair_entry_real"] = prof_best["real_space"] / max(len(neigh), 1) * 1e9  # half-list entries
    prof_best["ns_per_atom_kvector_reciprocal"] = prof_best["reciprocal_total"] / (n * nk) * 1e9
    out.update(times=t, profile=prof_best, half_list_entries=int(len(neigh)))
    return out, c.forces.copy(), float(c.energy)


def _pair_lengths(system, nl):
    first, neigh, shifts = nl.full
    i = np.repeat(np.arange(system.n_atoms), np.diff(first))
    d = system.positions[neigh] + shifts @ system.cell - system.positions[i]
    return np.sqrt(np.einsum("ij,ij->i", d, d))


def reference(system):
    from echemmd.electrostatics import Ewald

    ref = Ewald(accuracy=REF_ACCURACY, slab_factor=SLAB_FACTOR)
    t0 = time.perf_counter()
    c = ref.evaluate(system)
    p = ref.params
    info = {"accuracy": REF_ACCURACY, "alpha": p.alpha, "r_cut": p.r_cut, "n_kvectors": p.n_kvectors,
            "estimated_relative_force_error": p.estimated_error, "energy_eV": float(c.energy),
            "seconds": time.perf_counter() - t0}
    return info, c.forces.copy(), float(c.energy)


# ---------------------------------------------------------------------------------- LAMMPS
_NUM = r"([-+0-9.eE]+)"


def parse_log(text):
    out = {}
    patterns = {"g_ewald": rf"G vector \(1/distance\)\s*=\s*{_NUM}",
                "estimated_absolute_rms_force_accuracy": rf"estimated absolute RMS force accuracy\s*=\s*{_NUM}",
                "estimated_relative_force_accuracy": rf"estimated relative force accuracy\s*=\s*{_NUM}"}
    for key, pat in patterns.items():
        m = re.search(pat, text)
        if m:
            out[key] = float(m.group(1))
    m = re.search(r"KSpace vectors: actual max1d max3d\s*=\s*(\d+)\s+(\d+)\s+(\d+)", text)
    if m:
        out["n_kvectors"] = int(m.group(1))
    m = re.search(r"kxmax kymax kzmax\s*=\s*(\d+)\s+(\d+)\s+(\d+)", text)
    if m:
        out["kmax"] = [int(g) for g in m.groups()]
    m = re.search(r"grid\s*=\s*(\d+)\s+(\d+)\s+(\d+)", text)
    if m:
        out["pppm_grid"] = [int(g) for g in m.groups()]
    m = re.search(r"Loop time of\s+" + _NUM + r" on \d+ procs for (\d+) steps", text.split("BREAKDOWN")[-1])
    steps = int(m.group(2)) if m else None
    if steps:
        part = text.split("BREAKDOWN")[-1]
        br = {}
        for name in ("Pair", "Kspace", "Neigh", "Comm", "Output", "Modify", "Other"):
            mm = re.search(rf"^{name}\s*\|\s*{_NUM}\s*\|\s*{_NUM}", part, re.M)
            if mm:
                br[name.lower()] = float(mm.group(2)) / steps
        out["breakdown_per_step_s"] = br
    return out


def run_lammps(pos, charges, cell, slab, r_cut, kspace, threads, budget, workdir, accuracy=ACCURACY,
               table=None, timing=True):
    n = len(charges)
    tag = f"{'slab' if slab else 'bulk'}_{n}_{kspace}_{accuracy:g}"
    data = Path(workdir) / f"{tag}.data"
    log = Path(workdir) / f"{tag}.log"
    write_data(data, pos, charges, cell)
    lmp = load_lammps(threads)
    try:
        lmp.command(f"log {log}")
        for line in ("units metal", "atom_style charge", "atom_modify map array sort 0 0.0",
                     f"boundary p p {'f' if slab else 'p'}", f"read_data {data}",
                     f"pair_style coul/long {r_cut:.12f}", "pair_coeff * *",
                     f"kspace_style {kspace} {accuracy:g}",
                     "neighbor 0.0 bin", "neigh_modify every 1 delay 0 check yes",
                     "thermo_style custom step pe ecoul elong press", "thermo_modify norm no", "thermo 1"):
            lmp.command(line)
        if table is not None:
            lmp.command(f"pair_modify table {table}")
        if slab:
            lmp.command(f"kspace_modify slab {SLAB_FACTOR}")
        t0 = time.perf_counter()
        lmp.command("run 0 pre yes post no")
        first_setup = time.perf_counter() - t0
        ids = np.array(lmp.numpy.extract_atom("id")[:n])
        order = np.argsort(ids)
        forces = np.array(lmp.numpy.extract_atom("f")[:n])[order]
        out = {"energy_eV": float(lmp.get_thermo("pe")), "ecoul_eV": float(lmp.get_thermo("ecoul")),
               "elong_eV": float(lmp.get_thermo("elong")), "first_run0_s": first_setup}
        if timing:
            # The first run 0 above was the warm-up of run 0 pre yes.
            t = {"setup_run0": measure(lambda: lmp.command("run 0 pre yes post no"), budget, warmup=False),
                 "per_step": measure(lambda: lmp.command("run 1 pre no post no"), budget),
                 "run_overhead": measure(lambda: lmp.command("run 0 pre no post no"), 0.05)}
            steps = int(max(1, min(5, budget / max(t["per_step"]["best"], 1e-9))))
            lmp.command("print BREAKDOWN")
            lmp.command(f"run {steps} pre no post yes")
            out["times"] = t
        lmp.command("log none")
    finally:
        lmp.close()
    out.update(parse_log(log.read_text()))
    return out, forces


# ---------------------------------------------------------------------------------- driver
def run(quick=False, threads=2) -> dict:
    set_threads(threads)
    # The sizes 1e3, 4e3, 1.6e4, and 500 to 8000 ions in between for the scaling fit.
    sizes = [1000] if quick else [500, 1000, 2000, 4000, 8000, 16000]
    budget = 1.0
    rng = np.random.default_rng(2025)
    result = {"description": __doc__.split("What is compared")[1].strip(), "threads": threads, "accuracy": ACCURACY,
              "reference_accuracy": REF_ACCURACY, "density_per_A3": DENSITY, "min_separation_A": D_MIN,
              "slab_factor": SLAB_FACTOR, "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with tempfile.TemporaryDirectory() as workdir:
        for geometry in ("bulk", "slab"):
            rows = []
            for n in sizes:
                slab = geometry == "slab"
                load_start = os.getloadavg()
                pos, charges, cell, pbc = electrolyte(n, slab, rng)
                system = echemmd_system(pos, charges, cell, pbc)
                ref_info, f_ref, e_ref = reference(system)
                ech, f_ech, e_ech = run_echemmd(system, budget, warmup=n == sizes[0])
                lam, f_lam = run_lammps(pos, charges, cell, slab, ech["r_cut"], "ewald", threads, budget, workdir)
                pme, f_pme = run_lammps(pos, charges, cell, slab, ech["r_cut"], "pppm", threads, budget, workdir)
                for rec, f, e in ((ech, f_ech, e_ech), (lam, f_lam, lam["energy_eV"]), (pme, f_pme, pme["energy_eV"])):
                    rec["force_error_vs_reference"] = force_error(f, f_ref)
                    rec["energy_minus_reference_eV"] = e - e_ref
                ech["force_difference_vs_lammps_ewald"] = force_error(f_ech, f_lam)
                if n == sizes[0]:
                    chk, f_chk = run_lammps(pos, charges, cell, slab, ref_info["r_cut"], "ewald", threads, budget,
                                            workdir, accuracy=REF_ACCURACY, table=0, timing=False)
                    ref_info["check_lammps_ewald_1e-10_table0"] = {
                        "g_ewald": chk.get("g_ewald"), "n_kvectors": chk.get("n_kvectors"),
                        "force_difference": force_error(f_chk, f_ref),
                        "energy_difference_eV": chk["energy_eV"] - e_ref}
                row = {"load_average_start_end": [list(load_start), list(os.getloadavg())],
                       "n_atoms": n, "box_side_A": float(cell[0, 0]), "cell_height_A": float(cell[2, 2]),
                       "reference": ref_info, "echemmd": ech, "lammps_ewald": lam, "lammps_pppm": pme,
                       "ratios": ratios(ech, lam, pme), "unit_costs_ns": unit_costs(n, ech, lam)}
                rows.append(row)
                _print_row(geometry, row)
            result[geometry] = rows
    if len(sizes) > 2:
        result["scaling"] = scaling(result)
    return result


def scaling(result):
    """Fitted exponents x of time ~ N^x (least squares in log-log) per engine and geometry."""
    out = {}
    for geometry in ("bulk", "slab"):
        rows = result[geometry]
        n = np.array([r["n_atoms"] for r in rows], dtype=float)
        series = {"echemmd_compute": [r["echemmd"]["times"]["compute"]["best"] for r in rows],
                  "echemmd_real_space": [r["echemmd"]["profile"]["real_space"] for r in rows],
                  "echemmd_reciprocal": [r["echemmd"]["profile"]["reciprocal_total"] for r in rows],
                  "lammps_ewald_step": [r["lammps_ewald"]["times"]["per_step"]["best"] for r in rows],
                  "lammps_pppm_step": [r["lammps_pppm"]["times"]["per_step"]["best"] for r in rows]}
        out[geometry] = {"n_atoms": n.astype(int).tolist(), "seconds": series,
                         "exponents": {k: float(np.polyfit(np.log(n), np.log(v), 1)[0]) for k, v in series.items()}}
    return out


def plot_scaling(result, path):
    """Time per evaluation against N, both geometries, with the fitted exponents in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    styles = {"echemmd_compute": ("C0", "o-"), "lammps_ewald_step": ("C1", "s-"), "lammps_pppm_step": ("C2", "^--"),
              "echemmd_real_space": ("C0", ":"), "echemmd_reciprocal": ("C0", "-.")}
    for ax, geometry in zip(axes, ("bulk", "slab")):
        sc = result["scaling"][geometry]
        for key, (color, style) in styles.items():
            ax.loglog(sc["n_atoms"], sc["seconds"][key], style, color=color,
                      label=f"{key.replace('_', ' ')} (N^{sc['exponents'][key]:.2f})")
        ax.set_title(f"Ewald energy + forces, {geometry}, accuracy {ACCURACY:g}, {result['threads']} threads")
        ax.set_xlabel("ions N")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("time per evaluation (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ratios(ech, lam, pme):
    """echemmd time over LAMMPS time (best of repeats); < 1: echemmd faster."""
    te, tl, tp = ech["times"], lam["times"], pme["times"]
    return {"echemmd_compute_over_lammps_ewald_step": te["compute"]["best"] / tl["per_step"]["best"],
            "echemmd_setup_list_compute_over_lammps_ewald_run0":
                te["setup_list_compute"]["best"] / tl["setup_run0"]["best"],
            "echemmd_compute_over_lammps_pppm_step": te["compute"]["best"] / tp["per_step"]["best"],
            "echemmd_setup_list_compute_over_lammps_pppm_run0":
                te["setup_list_compute"]["best"] / tp["setup_run0"]["best"]}


def unit_costs(n, ech, lam):
    """Cost per pair within r_cut (real space) and per (atom, k-vector) (reciprocal), ns, both engines.

    echemmd: its kernel timings; LAMMPS: its Pair and Kspace timers per step.
    """
    pairs = max(ech["pairs_within_r_cut"], 1)
    br = lam.get("breakdown_per_step_s", {})
    out = {"echemmd_real_per_pair": ech["profile"]["real_space"] / pairs * 1e9,
           "echemmd_reciprocal_per_atom_kvector": ech["profile"]["reciprocal_total"] / (n * ech["n_kvectors"]) * 1e9}
    if "pair" in br:
        out["lammps_pair_per_pair"] = br["pair"] / pairs * 1e9
    if "kspace" in br and lam.get("n_kvectors"):
        out["lammps_kspace_per_atom_kvector"] = br["kspace"] / (n * lam["n_kvectors"]) * 1e9
    return out


def _print_row(geometry, row):
    e, l, p, r = row["echemmd"], row["lammps_ewald"], row["lammps_pppm"], row["ratios"]
    print(f"{geometry} N={row['n_atoms']}: r_cut={e['r_cut']:.3f} Å, alpha echemmd {e['alpha']:.5f} / LAMMPS "
          f"{l.get('g_ewald')} / pppm {p.get('g_ewald')}; k-vectors {e['n_kvectors']} / {l.get('n_kvectors')}; "
          f"pppm grid {p.get('pppm_grid')}", flush=True)
    err = [x["force_error_vs_reference"]["relative_rms"] for x in (e, l, p)]
    print(f"   force err vs ref (rel): echemmd {err[0]:.2e}, ewald {err[1]:.2e}, pppm {err[2]:.2e};"
          f" dE (eV): {e['energy_minus_reference_eV']:.2e}, {l['energy_minus_reference_eV']:.2e}, "
          f"{p['energy_minus_reference_eV']:.2e}", flush=True)
    te, tl, tp = e["times"], l["times"], p["times"]
    print(f"   echemmd compute {te['compute']['best'] * 1e3:.1f} ms (real {e['profile']['real_space'] * 1e3:.1f}, "
          f"recip {e['profile']['reciprocal_total'] * 1e3:.1f}), "
          f"setup+list+compute {te['setup_list_compute']['best'] * 1e3:.1f} ms", flush=True)
    print(f"   LAMMPS ewald step {tl['per_step']['best'] * 1e3:.1f} ms {l.get('breakdown_per_step_s')}, "
          f"run0 {tl['setup_run0']['best'] * 1e3:.1f} ms; pppm step {tp['per_step']['best'] * 1e3:.1f} ms, "
          f"run0 {tp['setup_run0']['best'] * 1e3:.1f} ms", flush=True)
    print("   unit costs (ns) " + ", ".join(f"{k}={v:.2f}" for k, v in row["unit_costs_ns"].items()), flush=True)
    print("   ratios " + ", ".join(f"{k}={v:.2f}" for k, v in r.items()), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1e3 atoms only")
    parser.add_argument("--threads", type=int, default=2, help="threads for both engines (default 2)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    data = run(quick=args.quick, threads=args.threads)
    path = write_result("ewald", data, args.quick)
    print(f"results written to {path}")
    if "scaling" in data:
        png = path.with_name("peers_ewald_scaling.png")
        plot_scaling(data, png)
        for geometry, sc in data["scaling"].items():
            print(f"scaling {geometry}: " + ", ".join(f"{k} N^{v:.2f}" for k, v in sc["exponents"].items()))
        print(f"plot written to {png}")


if __name__ == "__main__":
    main()

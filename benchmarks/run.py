"""Foundation benchmarks: neighbour-list builds and Lennard-Jones MD throughput.

Usage::

    python benchmarks/run.py                 # full sizes (1e3 .. 1e5 atoms), a few minutes
    python benchmarks/run.py --quick         # small sizes, seconds
    python benchmarks/run.py --out benchmarks/results/foundation.json

Writes one JSON file with, per size: neighbour-list build time, pairs per
second, the same build by ASE's ``neighbor_list`` (the reference
implementation) and the ratio; the fitted scaling exponent of build time
with N; and LJ MD atom-steps per second. Compile time is measured
separately and excluded from every timing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ARGON_DENSITY = 0.02125  # atoms/Å^3, liquid argon near its triple point
LJ_ARGON = {"Ar-Ar": {"epsilon": 0.0103, "sigma": 3.405}}


def liquid_box(n_atoms, rng, density=ARGON_DENSITY):
    """Atoms on a jittered simple-cubic lattice at the given density: (positions Å, cell Å)."""
    side = round(n_atoms ** (1 / 3))
    while side**3 < n_atoms:
        side += 1
    length = (n_atoms / density) ** (1 / 3)
    grid = np.array(np.meshgrid(*[np.arange(side)] * 3, indexing="ij")).reshape(3, -1).T[:n_atoms]
    spacing = length / side
    positions = (grid + 0.5) * spacing + rng.uniform(-0.1, 0.1, (n_atoms, 3)) * spacing
    return positions, np.eye(3) * length


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_neighbor_lists(sizes, r_list, ase_max):
    from ase.neighborlist import neighbor_list

    from echemmd.neighbors import build_neighbor_list

    rng = np.random.default_rng(0)
    pbc = np.ones(3, bool)
    x, cell = liquid_box(200, rng)
    t0 = time.perf_counter()
    build_neighbor_list(x, cell, pbc, r_list)
    compile_s = time.perf_counter() - t0
    rows = []
    for n in sizes:
        x, cell = liquid_box(n, rng)
        repeat = 5 if n <= 20000 else 2
        first, neigh, _ = build_neighbor_list(x, cell, pbc, r_list)
        t = best_time(lambda: build_neighbor_list(x, cell, pbc, r_list), repeat)
        row = {"n_atoms": n, "r_list_A": r_list, "build_s": t, "pairs": int(len(neigh) // 2),
               "pairs_per_s": len(neigh) / 2 / t}
        if n <= ase_max:
            from ase import Atoms
            atoms = Atoms(f"Ar{n}", positions=x, cell=cell, pbc=True)
            t_ase = best_time(lambda: neighbor_list("ij", atoms, r_list), 2 if n <= 20000 else 1)
            row["ase_build_s"] = t_ase
            row["speedup_vs_ase"] = t_ase / t
        rows.append(row)
        print(f"  neighbour list N={n:>7d}: {t * 1e3:8.2f} ms, {row['pairs_per_s']:.3g} pairs/s"
              + (f", ASE {row['ase_build_s'] * 1e3:8.1f} ms (x{row['speedup_vs_ase']:.1f})" if "ase_build_s" in row else ""),
              flush=True)
    ns = np.array([r["n_atoms"] for r in rows], float)
    ts = np.array([r["build_s"] for r in rows])
    exponent = float(np.polyfit(np.log(ns), np.log(ts), 1)[0]) if len(rows) > 1 else None
    # Above a few thousand atoms fixed costs are negligible: the exponent there is the asymptotic one.
    big = ns >= 4000
    exponent_large = float(np.polyfit(np.log(ns[big]), np.log(ts[big]), 1)[0]) if big.sum() > 1 else None
    return {"compile_s": compile_s, "sizes": rows, "scaling_exponent": exponent,
            "scaling_exponent_n_ge_4000": exponent_large,
            "ns_per_atom": [1e9 * t / n for t, n in zip(ts, ns)]}


def bench_lj_md(sizes, steps):
    from echemmd.forcefield import ForceField
    from echemmd.integrators import VelocityVerlet, maxwell_boltzmann
    from echemmd.neighbors import NeighborList
    from echemmd.potentials import LennardJones
    from echemmd.system import System

    rows = []
    compile_s = None
    for n in sizes:
        rng = np.random.default_rng(1)
        x, cell = liquid_box(n, rng)
        system = System(symbols=["Ar"] * n, numbers=np.full(n, 18), masses=np.full(n, 39.948), positions=x,
                        velocities=np.zeros((n, 3)), charges=np.zeros(n), cell=cell, pbc=[True] * 3,
                        tags=np.zeros(n, int), frozen=np.zeros(n, bool))
        maxwell_boltzmann(system, 100.0, np.random.default_rng(2))
        ff = ForceField([LennardJones(LJ_ARGON, cutoff=8.5)], NeighborList(8.5, skin=1.0))
        integ = VelocityVerlet(dt=2.0)
        t0 = time.perf_counter()
        integ.initialize(system, ff.compute(system))
        integ.step(system, ff.compute)
        if compile_s is None:
            compile_s = time.perf_counter() - t0
        builds0 = ff.neighbors.n_builds
        t0 = time.perf_counter()
        for _ in range(steps):
            integ.step(system, ff.compute)
        t = time.perf_counter() - t0
        rows.append({"n_atoms": n, "steps": steps, "seconds": t, "atom_steps_per_s": n * steps / t,
                     "ms_per_step": 1e3 * t / steps, "neighbor_builds": ff.neighbors.n_builds - builds0})
        print(f"  LJ MD N={n:>7d}: {n * steps / t:.3g} atom-steps/s ({1e3 * t / steps:.2f} ms/step, "
              f"{rows[-1]['neighbor_builds']} list builds in {steps} steps)", flush=True)
    reference = bench_ase_md(sizes[0], max(steps // 10, 5))
    rows[0]["speedup_vs_ase"] = rows[0]["atom_steps_per_s"] / reference["atom_steps_per_s"]
    print(f"  ASE (LennardJones calculator + VelocityVerlet) N={reference['n_atoms']}: "
          f"{reference['atom_steps_per_s']:.3g} atom-steps/s; echemmd is x{rows[0]['speedup_vs_ase']:.1f}")
    return {"compile_s": compile_s, "cutoff_A": 8.5, "skin_A": 1.0, "dt_fs": 2.0, "sizes": rows,
            "ase_reference": reference}


def bench_ase_md(n, steps):
    """The same MD with ASE's Lennard-Jones calculator and integrator: the simplest correct reference."""
    from ase import Atoms, units
    from ase.calculators.lj import LennardJones as AseLJ
    from ase.md.verlet import VelocityVerlet as AseVerlet

    x, cell = liquid_box(n, np.random.default_rng(1))
    atoms = Atoms(f"Ar{n}", positions=x, cell=cell, pbc=True)
    atoms.calc = AseLJ(epsilon=0.0103, sigma=3.405, rc=8.5, smooth=False)
    dyn = AseVerlet(atoms, timestep=2.0 * units.fs)
    dyn.run(1)
    t0 = time.perf_counter()
    dyn.run(steps)
    t = time.perf_counter() - t0
    return {"n_atoms": n, "steps": steps, "seconds": t, "atom_steps_per_s": n * steps / t}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--out", default=None, help="JSON output path")
    args = parser.parse_args(argv)
    if args.quick:
        nl_sizes, md_sizes, steps = [1000, 4000], [1000], 50
    else:
        nl_sizes, md_sizes, steps = [1000, 4000, 16000, 32000, 64000, 100000], [1000, 4000, 16000], 200
    print("neighbour-list builds (r_list = 9.5 Å, liquid argon density)")
    nl = bench_neighbor_lists(nl_sizes, r_list=9.5, ase_max=16000)
    print(f"  build time ~ N^{nl['scaling_exponent']:.3f} (N >= 4000: N^{nl['scaling_exponent_n_ge_4000'] or float('nan'):.3f})")
    print("Lennard-Jones MD, velocity Verlet")
    md = bench_lj_md(md_sizes, steps)
    from benchmarks_common import machine

    from echemmd import __version__

    out = {"benchmark": "foundation", "echemmd": __version__, "machine": machine(),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "neighbor_list": nl, "lj_md": md}
    path = Path(args.out or Path(__file__).parent / "results" / ("foundation_quick.json" if args.quick else "foundation.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"results written to {path}")


if __name__ == "__main__":
    main()

"""Charge-solver benchmark: solve time and CG iterations per step, cold and warm, 500 to 5000 electrode atoms.

Usage::

    python benchmarks/charges.py            # electrodes of 600 .. 4704 atoms (a few minutes)
    python benchmarks/charges.py --quick    # 600 and 1536

Two frozen fcc(111) electrodes of 3 layers (a = 4.08 Å, sigma = 0.357 Å) at 1 V across a
20 Å gap holding a primitive-model electrolyte (0.01 ions/Å^3). A "step" moves every ion
by 0.02 Å along a straight line (a typical MD step at 2 fs); the warm solve starts from the linear
extrapolation of the previous two solutions (what MD does), the cold one from zero. Tolerance 1e-8 V, Ewald accuracy 1e-5.
Writes ``benchmarks/results/charges.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_charges import capacitor, solver_for  # noqa: E402  (the test's geometry, one definition)

from echemmd.neighbors import NeighborList  # noqa: E402


def run(sides, steps=5):
    rows = []
    for side in sides:
        area = (side * 4.08 / np.sqrt(2)) ** 2 * np.sqrt(3) / 2
        n_pairs = max(1, int(0.01 * area * 14.0 / 2))
        system = capacitor(side=side, layers=3, gap=20.0, n_pairs=n_pairs, height=60.0, seed=1)
        solver = solver_for(system, dv=1.0, accuracy=1e-5, tolerance=1e-8)
        p = solver.ewald.setup(system)
        nl = NeighborList(p.r_cut, skin=1.0)
        nl.update(system.positions, system.cell, system.pbc)
        solver.solve(system, nl)  # compile and first solution
        rng = np.random.default_rng(0)
        ions = np.nonzero(system.tags == 0)[0]
        # Smooth motion (straight lines, 0.02 Å per step), as atoms move over a few MD steps.
        velocity = rng.normal(0, 1, (len(ions), 3))
        velocity *= 0.02 / np.linalg.norm(velocity, axis=1)[:, None]
        warm_t, warm_it, cold_t, cold_it = [], [], [], []
        for _ in range(2):  # build the predictor's history
            system.positions[ions] += velocity
            solver.solve(system, nl)
        for _ in range(steps):
            system.positions[ions] += velocity
            nl.update(system.positions, system.cell, system.pbc)
            cold = system.copy()
            t0 = time.perf_counter()
            info = solver.solve(cold, nl, initial=np.zeros(len(solver.variable)))
            cold_t.append(time.perf_counter() - t0)
            cold_it.append(info.iterations)
            t0 = time.perf_counter()
            info = solver.solve(system, nl)
            warm_t.append(time.perf_counter() - t0)
            warm_it.append(info.iterations)
        n_el = int((system.tags > 0).sum())
        row = {"electrode_atoms": n_el, "ions": len(ions), "n_atoms": system.n_atoms, "n_kvectors": p.n_kvectors,
               "r_cut": p.r_cut, "cold_seconds": float(np.mean(cold_t)), "cold_iterations": float(np.mean(cold_it)),
               "warm_seconds": float(np.mean(warm_t)), "warm_iterations": float(np.mean(warm_it)),
               "iteration_ratio_cold_over_warm": float(np.mean(cold_it) / np.mean(warm_it))}
        rows.append(row)
        print(f"  {n_el:5d} electrode atoms + {len(ions)} ions: cold {row['cold_seconds'] * 1e3:8.1f} ms "
              f"({row['cold_iterations']:.1f} it), warm {row['warm_seconds'] * 1e3:8.1f} ms "
              f"({row['warm_iterations']:.1f} it)", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    sides = [10, 16] if args.quick else [10, 16, 22, 28]
    from benchmarks_common import machine

    result = {"benchmark": "charge_solver", "tolerance_V": 1e-8, "ewald_accuracy": 1e-5, "machine": machine(),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "sizes": run(sides)}
    path = Path(args.out or Path(__file__).parent / "results" / ("charges_quick.json" if args.quick else "charges.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"results written to {path}")


if __name__ == "__main__":
    main()

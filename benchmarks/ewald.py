"""Ewald benchmark: time per energy + forces call for 1e3 to 2e4 point charges, bulk and slab.

Usage::

    python benchmarks/ewald.py            # 1e3 .. 2e4 charges, accuracy 1e-5 (a few minutes)
    python benchmarks/ewald.py --quick    # 1e3 and 2e3

A random neutral electrolyte (+1/-1 charges) at molten-salt number density
(0.031 ions/Å^3, NaCl near 1200 K). Slab: the same density in a layer whose
height equals the box side, in a cell of twice that height (pbc T T F,
padded by slab_factor 3). Parameters are chosen from the accuracy with the
optimal real/reciprocal split, so the cost should scale as about N^1.5.
Timings exclude compilation and the neighbour-list build (reported apart).
Writes ``benchmarks/results/ewald.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from echemmd.electrostatics import Ewald
from echemmd.neighbors import NeighborList
from echemmd.system import System

DENSITY = 0.031  # ions / Å^3


def electrolyte(n, slab, rng):
    side = (n / DENSITY) ** (1 / 3)
    cell = np.eye(3) * side
    positions = rng.uniform(0, side, (n, 3))
    if slab:
        cell[2, 2] = 2 * side
        positions[:, 2] += side / 2
    charges = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return System(symbols=["Na"] * n, numbers=np.full(n, 11), masses=np.full(n, 23.0), positions=positions,
                  velocities=np.zeros((n, 3)), charges=charges, cell=cell,
                  pbc=[True, True, not slab], tags=np.zeros(n, int), frozen=np.zeros(n, bool))


def best_of(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(sizes, accuracy):
    rng = np.random.default_rng(0)
    out = {}
    warm = electrolyte(200, False, rng)
    t0 = time.perf_counter()
    Ewald(accuracy=accuracy).evaluate(warm)
    Ewald(accuracy=accuracy).evaluate(electrolyte(200, True, rng))
    out["compile_s"] = time.perf_counter() - t0
    for geometry in ("bulk", "slab"):
        rows = []
        for n in sizes:
            system = electrolyte(n, geometry == "slab", rng)
            ewald = Ewald(accuracy=accuracy)
            p = ewald.setup(system)
            nl = NeighborList(p.r_cut, skin=0.0)
            t_nl = best_of(lambda: nl.build(system.positions, system.cell, system.pbc), 2)
            repeat = 3 if n <= 5000 else 2
            t = best_of(lambda: ewald.compute(system, nl), repeat)
            parts = ewald.energy_components(system, nl)
            rows.append({"n_atoms": n, "seconds_per_call": t, "neighbor_list_s": t_nl, "alpha": p.alpha,
                         "r_cut": p.r_cut, "k_cut": p.k_cut, "n_kvectors": p.n_kvectors,
                         "pairs_in_list": int(len(nl.neighbors) // 2), "energy_eV": sum(parts.values()),
                         "estimated_relative_force_error": p.estimated_error})
            print(f"  {geometry:4s} N={n:>6d}: {t * 1e3:9.2f} ms/call (list {t_nl * 1e3:.1f} ms), "
                  f"alpha={p.alpha:.4f}, r_cut={p.r_cut:.2f} Å, {p.n_kvectors} k-vectors", flush=True)
        ns = np.array([r["n_atoms"] for r in rows], float)
        ts = np.array([r["seconds_per_call"] for r in rows])
        exponent = float(np.polyfit(np.log(ns), np.log(ts), 1)[0]) if len(rows) > 1 else None
        out[geometry] = {"sizes": rows, "scaling_exponent": exponent}
        print(f"  {geometry}: time ~ N^{exponent:.2f}")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--accuracy", type=float, default=1e-5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    sizes = [1000, 2000] if args.quick else [1000, 2000, 4000, 8000, 16000, 20000]
    from benchmarks_common import machine

    result = {"benchmark": "ewald", "accuracy": args.accuracy, "machine": machine(),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S"), **run(sizes, args.accuracy)}
    path = Path(args.out or Path(__file__).parent / "results" / ("ewald_quick.json" if args.quick else "ewald.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"results written to {path}")


if __name__ == "__main__":
    main()

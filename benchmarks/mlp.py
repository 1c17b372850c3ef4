"""Machine-learning potential benchmark: energy + forces of a Behler–Parrinello network on 3000 atoms of water.

Usage::

    python benchmarks/mlp.py            # 1000 water molecules (3000 atoms)
    python benchmarks/mlp.py --quick    # 100 molecules

Water at 1 g/cm^3: rigid molecules (O-H 0.9572 Å, 104.52 deg) with random positions and
orientations, O-O >= 2.5 Å and any two atoms of different molecules >= 1.4 Å apart. The model
is ``random_model(["H", "O"])`` with r_c = 6 Å (poly2), 9 radial functions per neighbour element
and 4 wide angular functions per neighbour pair: 30 functions per element; two hidden layers of
25 tanh; input scaling from the box itself so the networks work in their normal range.

One energy + forces evaluation is timed piece by piece (best of ``--repeat``):

* neighbour list: ``NeighborList.build`` (cutoff r_c, skin 1 Å; in MD it is rebuilt only every
  so many steps);
* descriptors: ``SymmetryFunctions.compute_system``;
* network: ``ElementNetworks.energies_and_gradients`` (energies and dE/dG);
* force pass: ``SymmetryFunctions.forces`` (forces and virial from dE/dG).

Atom-steps per second are N / (descriptors + network + force pass), without the list, and with a
list build every step (an upper bound of the list's cost). Numba compilation is reported apart:
the first call on a small box in a fresh interpreter with an empty Numba cache (``compile_s``),
and the first call in this process (``first_call_with_cache_s``, loading cached kernels).
Writes ``benchmarks/results/mlp.json`` (``mlp_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from echemmd.descriptors import SymmetryFunctions
from echemmd.mlpotential import NeuralNetworkPotential, random_model
from echemmd.neighbors import NeighborList
from echemmd.system import System
from echemmd.validate import calibrate_scaling, water_box

R_C = 6.0  # Å
SKIN = 1.0  # Å
N_RADIAL = 9  # per neighbour element: 2 x 9 = 18 radial functions per element
N_ANGULAR = 4  # per neighbour pair (HH, HO, OO): 3 x 4 = 12 angular functions per element
HIDDEN = (25, 25)


def best_of(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def pieces(system, sf, networks, columns, nl, repeat):
    """Seconds of each piece of one energy + forces evaluation (best of ``repeat``)."""
    t_nl, _ = best_of(lambda: nl.build(system.positions, system.cell, system.pbc), repeat)
    t_desc, G = best_of(lambda: sf.compute_system(system, nl), repeat)
    t_net, (energies, dEdG) = best_of(lambda: networks.energies_and_gradients(system.symbols, G, columns=columns),
                                      repeat)
    t_force, (forces, virial) = best_of(lambda: sf.forces(system, nl, dEdG), repeat)
    return {"neighbor_list_s": t_nl, "descriptors_s": t_desc, "network_s": t_net, "force_pass_s": t_force,
            "energy_eV": float(energies.sum()), "max_force_eV_per_A": float(np.abs(forces).max()),
            "rms_force_eV_per_A": float(np.sqrt(np.mean(forces**2)))}


def make_model():
    model = random_model(["H", "O"], r_c=R_C, hidden=HIDDEN, n_radial=N_RADIAL, n_angular=N_ANGULAR, seed=0)
    short = model.short_range
    return model, SymmetryFunctions(short.all_functions()), short.columns(), short.networks


def first_call_seconds():
    """Seconds of the first energy + forces call on a small box (compilation, or loading Numba's cache)."""
    model, sf, columns, networks = make_model()
    small = water_box(8, seed=1, min_oo=2.5, min_distance=1.4)
    calibrate_scaling(model, small)
    t0 = time.perf_counter()
    pieces(System.from_atoms(small), sf, networks, columns, NeighborList(R_C, skin=SKIN), 1)
    return time.perf_counter() - t0


def cold_compile_seconds():
    """:func:`first_call_seconds` in a fresh interpreter with an empty Numba cache: the compile time."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, __file__, "--first-call"], env=env, capture_output=True, text=True,
                             check=True)
    return float(out.stdout.strip().splitlines()[-1])


def run(n_molecules, repeat):
    model, sf, columns, networks = make_model()
    short = model.short_range
    n_functions = {e: len(short.symmetry_functions[e]) for e in short.elements}
    compile_s = cold_compile_seconds()
    cached_s = first_call_seconds()  # in this process: compiles, or loads the kernels from the cache

    t0 = time.perf_counter()
    atoms = water_box(n_molecules, seed=0, min_oo=2.5, min_distance=1.4)
    build_s = time.perf_counter() - t0
    calibrate_scaling(model, atoms)
    system = System.from_atoms(atoms)
    nl = NeighborList(R_C, skin=SKIN)
    nl.build(system.positions, system.cell, system.pbc)
    pieces(system, sf, networks, columns, nl, 1)  # warm (first call on this size)
    t = pieces(system, sf, networks, columns, nl, repeat)
    n = system.n_atoms
    compute_s = t["descriptors_s"] + t["network_s"] + t["force_pass_s"]
    # The same through the energy term the engine uses (one call: descriptors, network, force pass).
    nnp = NeuralNetworkPotential(short)
    t_term, _ = best_of(lambda: nnp.compute(system, nl), repeat)
    r_list = R_C + SKIN
    return {
        "n_atoms": n, "n_molecules": n_molecules, "cell_A": float(system.cell[0, 0]),
        "r_c_A": R_C, "skin_A": SKIN, "hidden": list(HIDDEN), "functions_per_element": n_functions,
        "pairs_in_list": int(len(nl.neighbors) // 2), "neighbors_per_atom_within_r_c": float(
            4.0 / 3.0 * np.pi * R_C**3 * n / system.volume), "list_radius_A": r_list,
        "compile_s": compile_s, "first_call_with_cache_s": cached_s, "structure_build_s": build_s, **t,
        "energy_forces_s": compute_s, "nnp_compute_s": t_term,
        "atom_steps_per_s": n / compute_s,
        "atom_steps_per_s_with_list_every_step": n / (compute_s + t["neighbor_list_s"]),
        "fraction": {k: t[k] / compute_s for k in ("descriptors_s", "network_s", "force_pass_s")},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 molecules instead of 1000")
    parser.add_argument("--repeat", type=int, default=10, help="timings are the best of this many calls")
    parser.add_argument("--out", default=None)
    parser.add_argument("--first-call", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.first_call:
        print(first_call_seconds())
        return
    from benchmarks_common import machine

    n_molecules = 100 if args.quick else 1000
    r = run(n_molecules, args.repeat)
    result = {"benchmark": "mlp", "machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%S"), **r}
    print(f"water, {r['n_atoms']} atoms, {r['functions_per_element']} functions per element, hidden {r['hidden']}, "
          f"{result['machine']['numba_threads']} Numba threads")
    print(f"  compile (empty cache) {r['compile_s']:8.2f} s   (first call with this cache "
          f"{r['first_call_with_cache_s']:.2f} s)")
    for key, label in (("neighbor_list_s", "neighbour list"), ("descriptors_s", "descriptors"),
                       ("network_s", "network"), ("force_pass_s", "force pass")):
        print(f"  {label:20s}  {r[key] * 1e3:8.2f} ms")
    print(f"  energy + forces       {r['energy_forces_s'] * 1e3:8.2f} ms  (NeuralNetworkPotential.compute "
          f"{r['nnp_compute_s'] * 1e3:.2f} ms)")
    print(f"  {r['atom_steps_per_s']:.3g} atom-steps/s ({r['atom_steps_per_s_with_list_every_step']:.3g} with a "
          f"list build every step)")
    path = Path(args.out or Path(__file__).parent / "results" / ("mlp_quick.json" if args.quick else "mlp.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"results written to {path}")


if __name__ == "__main__":
    main()

"""GPU benchmark: the flagship chemistry on the CUDA backend at 1e3, 1e4 and 1e5 atoms, against the CPU backend.

Usage (on a machine with an NVIDIA GPU and ``pip install -e ".[cuda]"``)::

    python benchmarks/gpu.py                     # 926, 9 260 and 97 230 atoms; CPU backend on 2 threads too
    python benchmarks/gpu.py --quick             # 926 atoms only, a few steps
    python benchmarks/gpu.py --no-cpu            # GPU only
    python benchmarks/gpu.py --precision mixed   # float32 descriptors and networks, float64 sums

The workload is ``inputs/flagship.toml`` (Au(111) | NaCl(aq) | Au(111) at 1 V: the Behler–Parrinello
model with 90 functions per element, Ewald of Gaussian charges in the slab with the switch, the
constant-potential charge solve every step, Langevin at 300 K, dt 0.5 fs) on its 463-atom cell
repeated (2, 1), (5, 4) and (15, 14) times in the surface plane. The electrodes keep their tags, so
each copy is held at the deck's potentials.

For each size and backend: the simulation is built from the deck (no observers: no thermo,
trajectory or checkpoint output), ``--warmup`` steps are run (CUDA compilation, the first list and
the cached electrode matrix), then ``--steps`` steps are timed: atom-steps per second. The CPU
backend runs with ``--cpu-threads`` Numba threads (2: the project's CPU machine), on fewer steps at
the largest size.

Then a profiled run of the GPU backend times each stage of the step on its own (the device is
synchronised around each stage, so the sum exceeds the unprofiled step slightly) and sets each
stage against its floor: bytes it must move / memory bandwidth and flops / FP64 peak, both from the
device's attributes (bandwidth = 2 x memory clock x bus width; FP64 peak = SMs x clock x FP64
lanes per SM x 2, with 64 lanes for compute capability 9.x, 32 for 8.0, 2 for others). The byte and
flop counts are estimates from the sizes (list entries, functions, k-vectors, network layers), stated
in the result next to each number.

Writes ``benchmarks/results/gpu.json`` (``gpu_quick.json`` with ``--quick``) with the device named.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmarks_common import machine  # noqa: E402

DECK = ROOT / "inputs" / "flagship.toml"
CELL = ROOT / "inputs" / "flagship" / "cell.extxyz"
#: Repeats of the 463-atom cell in the surface plane: 926, 9 260 and 97 230 atoms.
REPEATS = ((2, 1), (5, 4), (15, 14))


def flagship_structure(repeat, directory, cell=CELL):
    """The flagship cell repeated in the surface plane, written as extxyz; returns its path and atom count."""
    from ase.io import read, write

    atoms = read(cell).repeat((repeat[0], repeat[1], 1))
    path = Path(directory) / f"flagship_{repeat[0]}x{repeat[1]}.extxyz"
    write(path, atoms, format="extxyz")
    return path, len(atoms)


def build(structure, backend, directory, precision, limits=True):
    from echemmd.app import build_simulation
    from echemmd.io.deck import load_deck

    extra = {} if limits else {"limits.max_force": 1e30, "limits.min_distance": 0.0}
    deck = load_deck(DECK, overrides={**extra,
        "system.structure": str(structure), "md.backend": backend, "output.directory": str(directory),
        "output.thermo_every": 10**9, "output.trajectory_every": 10**9, "output.checkpoint_every": 10**9,
        "output.progress": False, "md.steps": 10**9, "md.precision": precision})
    sim = build_simulation(deck, stream=open("/dev/null", "w"), progress_stream=open("/dev/null", "w"))
    sim.observers = []  # no outputs at all: the step alone
    sim.checkpointer = None
    return sim


def timed_steps(sim, warmup, steps):
    """Seconds per step after ``warmup`` steps (device synchronised at both ends)."""
    sim.run(warmup)
    _synchronize(sim)
    t0 = time.perf_counter()
    sim.run(steps)
    _synchronize(sim)
    return (time.perf_counter() - t0) / steps


def _synchronize(sim):
    if type(sim).__name__ == "CudaSimulation":
        from numba import cuda

        cuda.synchronize()


def device_peaks():
    """Memory bandwidth (B/s) and FP64 peak (flop/s) of the current device, from its attributes."""
    from numba import cuda

    dev = cuda.get_current_device()
    cc = dev.compute_capability
    bandwidth = 2.0 * dev.MEMORY_CLOCK_RATE * 1e3 * dev.GLOBAL_MEMORY_BUS_WIDTH / 8.0
    lanes = 64 if cc[0] == 9 else 32 if cc == (8, 0) else 2
    peak = dev.MULTIPROCESSOR_COUNT * dev.CLOCK_RATE * 1e3 * lanes * 2.0
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return {"name": name, "compute_capability": f"{cc[0]}.{cc[1]}", "sms": dev.MULTIPROCESSOR_COUNT,
            "bandwidth_GBps": bandwidth / 1e9, "fp64_peak_TFLOPs": peak / 1e12, "fp64_lanes_per_sm": lanes}


def workload_counts(sim):
    """Sizes that set the stages' work: atoms, list entries, functions, k-vectors, electrode atoms, network."""
    ff = sim.forcefield
    nl = ff.neighbors
    counts = {"atoms": sim.system.n_atoms, "list_entries": nl.n_entries}
    for term in ff.terms:
        kind = type(term).__name__
        if kind == "DeviceNetworkPotential":
            counts["functions"] = term.n_columns
            layers = [int(s) for s in term.elements[0]["network"][0]]
            counts["network_layers"] = layers
            counts["network_macs_per_atom"] = int(sum(a * b for a, b in zip(layers[:-1], layers[1:])))
        if kind == "DeviceEwald":
            counts["kvectors"] = int(term.params.kidx.shape[0])
            counts["ewald_r_cut"] = term.params.r_cut
        if kind == "DeviceChargeSolver":
            counts["variable_atoms"] = term.n_variable
            counts["dense_matrix"] = term._dense is not None
            if term.last is not None:
                counts["cg_iterations"] = term.last.iterations
    return counts


def floors(stage_times, counts, peaks):
    """Per stage: estimated bytes and flops, their floors and the fraction of the floor reached."""
    n = counts["atoms"]
    p = counts["list_entries"]
    k = counts.get("kvectors", 0)
    nv = counts.get("variable_atoms", 0)
    it = counts.get("cg_iterations", 0)
    nf = counts.get("network_layers", [0])[0]  # functions of one atom (its network's inputs)
    n_columns = counts.get("functions", 0)  # columns of the descriptor matrix (all elements)
    macs = counts.get("network_macs_per_atom", 0)
    ent = p / max(n, 1)
    est = {
        # list entries read (j, shift: 16 B) and positions; ~10 flops per entry per radial function and
        # ~20 per angular pair and function (a third of the functions angular, pairs ~ ent^2 / 2 / 4 in range).
        "term nnp": (p * 16 * 3 + n * n_columns * 8 * 3 + n * 24,
                     p * 10 * (2 * nf / 3) + n * (ent ** 2 / 8) * 20 * (nf / 3) + 4 * n * macs),
        # full list once (16 B per entry), q and sigma of the partner; ~60 flops per pair;
        # structure factors and reciprocal potential/forces: 2 N K phases of ~40 flops.
        "term coulomb": (p * 16 + n * 48 + k * 40, p * 60 + 2 * n * k * 40),
        # per CG iteration the dense product (8 nv^2 B, 2 nv^2 flops), plus the right-hand side (one
        # potential of the ions: a real-space pass and 2 N K phases).
        "charge solve": ((it + 1) * 8 * nv * nv + p * 16, (it + 1) * 2 * nv * nv + p * 60 + 2 * n * k * 40),
        # the displacement check: positions and reference read (48 B per atom)
        "neighbor list (check + builds)": (48 * n, 8 * n),
        "term charge": (n * 96, n * 30),
    }
    out = {}
    bw = peaks["bandwidth_GBps"] * 1e9
    fl = peaks["fp64_peak_TFLOPs"] * 1e12
    for name, t in stage_times.items():
        row = {"seconds_per_step": t}
        if name in est:
            b, f = est[name]
            floor = max(b / bw, f / fl)
            row.update({"bytes_estimate": b, "flops_estimate": f, "memory_floor_s": b / bw, "compute_floor_s": f / fl,
                        "fraction_of_floor": floor / t if t > 0 else None})
        out[name] = row
    return out


def profile(sim, steps):
    from echemmd.gpu.support import TIMER

    TIMER.reset()
    TIMER.enabled = True
    try:
        t0 = time.perf_counter()
        sim.run(steps)
        _synchronize(sim)
        total = (time.perf_counter() - t0) / steps
    finally:
        TIMER.enabled = False
    stages = {name: TIMER.totals[name] / steps for name in TIMER.totals}
    stages["integrator and the rest"] = max(0.0, total - sum(v for k, v in stages.items() if not k.startswith("nnp:")))
    return total, stages


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="926 atoms only, 5 steps")
    parser.add_argument("--repeats", nargs="*", metavar="AxB", help="repeats of the cell in the surface plane "
                        "(default 2x1 5x4 15x14)")
    parser.add_argument("--cell", default=str(CELL), help="the structure to repeat (default: the flagship cell; "
                        "another one checks the script on a small system, e.g. in the CUDA simulator)")
    parser.add_argument("--steps", type=int, default=50, help="timed GPU steps per size")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU backend")
    parser.add_argument("--cpu-threads", type=int, default=2)
    parser.add_argument("--cpu-steps", type=int, default=10, help="timed CPU steps (fewer at 1e5 atoms)")
    parser.add_argument("--precision", choices=("float64", "mixed"), default="float64")
    parser.add_argument("--out", help="result file (default benchmarks/results/gpu.json)")
    args = parser.parse_args(argv)

    from echemmd.gpu.support import device_name, require_cuda

    require_cuda("benchmarks/gpu.py")
    import numba

    repeats = ([tuple(int(v) for v in r.split("x")) for r in args.repeats] if args.repeats
               else [REPEATS[0]] if args.quick else list(REPEATS))
    steps = 5 if args.quick else args.steps
    result = {"benchmark": "gpu", "device": device_name(), "machine": machine(), "precision": args.precision,
              "deck": str(DECK.relative_to(ROOT)), "cell": str(args.cell), "sizes": []}
    try:
        result["device_peaks"] = device_peaks()
    except Exception as exc:  # noqa: BLE001 - the simulator has no attributes
        result["device_peaks"] = {"error": str(exc)}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in repeats:
            structure, n = flagship_structure(repeat, tmp, args.cell)
            row = {"atoms": n, "repeat": repeat}
            print(f"{n} atoms: GPU ...", flush=True)
            flagship = Path(args.cell).resolve() == CELL.resolve()
            sim = build(structure, "cuda", Path(tmp) / "gpu", args.precision, limits=flagship)
            t0 = time.perf_counter()
            sim.initialize()
            row["gpu_setup_s"] = time.perf_counter() - t0
            t_gpu = timed_steps(sim, args.warmup, steps)
            row["gpu_seconds_per_step"] = t_gpu
            row["gpu_atom_steps_per_s"] = n / t_gpu
            counts = workload_counts(sim)
            row["counts"] = counts
            total, stages = profile(sim, max(3, steps // 5))
            row["profiled_seconds_per_step"] = total
            if "error" not in result["device_peaks"]:
                row["stages"] = floors(stages, counts, result["device_peaks"])
            else:
                row["stages"] = {k: {"seconds_per_step": v} for k, v in stages.items()}
            print(f"  GPU {t_gpu * 1e3:.2f} ms/step, {n / t_gpu:.3g} atom-steps/s", flush=True)
            del sim
            if not args.no_cpu:
                numba.set_num_threads(min(args.cpu_threads, numba.config.NUMBA_NUM_THREADS))
                cpu_steps = max(2, args.cpu_steps if n < 50000 else args.cpu_steps // 5)
                print(f"  CPU ({numba.get_num_threads()} threads) ...", flush=True)
                sim = build(structure, "cpu", Path(tmp) / "cpu", "float64", limits=flagship)
                t_cpu = timed_steps(sim, 2, cpu_steps)
                row["cpu_threads"] = numba.get_num_threads()
                row["cpu_seconds_per_step"] = t_cpu
                row["cpu_atom_steps_per_s"] = n / t_cpu
                row["speedup_gpu_over_cpu"] = t_cpu / t_gpu
                print(f"  CPU {t_cpu * 1e3:.1f} ms/step: GPU x{t_cpu / t_gpu:.1f}", flush=True)
                del sim
            result["sizes"].append(row)
    ns = [r["atoms"] for r in result["sizes"]]
    if len(ns) > 1:
        ts = [r["gpu_seconds_per_step"] for r in result["sizes"]]
        result["gpu_time_exponent"] = float(np.polyfit(np.log(ns), np.log(ts), 1)[0])
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / ("gpu_quick.json" if args.quick
                                                                             else "gpu.json")
    out.write_text(json.dumps(result, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

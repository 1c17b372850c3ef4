"""4G step cost against N: the charge solve by matrix-free projected CG against a dense LU solve (n2p2's way).

Usage::

    python benchmarks/fourthgen.py             # 384 .. 49152 atoms; dense up to --dense-max (6912)
    python benchmarks/fourthgen.py --quick     # 384, 768, 1536
    python benchmarks/fourthgen.py --replicas 8x4x4 --add   # one more size, merged into the result file

Model and structure: n2p2's own 4G water model and its first structure (examples/nnp-predict/
H2O_RPBE-D3_4G, 384 atoms, in tests/data/n2p2), replicated n1 x n2 x n3. A "step" moves every
atom by a random 0.01 Å (an MD step) and then computes the charges and the exact forces.

* CG (echemmd): :class:`echemmd.fourthgen.FourthGenPotential` as a run uses it: the charge
  solve and the adjoint solve by projected PCG on the Ewald sum, warm-started from the previous
  step (tolerance 1e-8 V, Ewald accuracy 1e-6).
* Dense (as n2p2 does, ``Mode::chargeEquilibration``): the (N + 1) x (N + 1) bordered matrix of
  the same Ewald sum built every step (positions change; same terms as the sum), LU-factored by
  scipy (LAPACK getrf), and solved for the charges and for the adjoint.
Everything else of the step (symmetry functions, networks, Ewald forces, adjoint forces) is the
same code for both and is timed once inside the CG step: step_dense = step_cg - solves_cg + dense.
The charges of both solves are compared (max |q_CG - q_dense|, e).

Writes ``benchmarks/results/fourthgen.json`` and ``benchmarks/results/fourthgen.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_n2p2_4g import EXAMPLE, read_n2p2_structure  # noqa: E402  (the test's reader, one definition)

from echemmd.fourthgen import FourthGenPotential  # noqa: E402
from echemmd.io.n2p2 import read_n2p2  # noqa: E402

REPLICAS = [(1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 2, 2), (3, 2, 2), (3, 3, 2), (3, 3, 3), (4, 4, 2), (4, 4, 4),
            (8, 4, 4)]
ACCURACY = 1e-6
TOLERANCE = 1e-8


def replicated(system, reps):
    """The structure repeated reps[0] x reps[1] x reps[2] times (a System)."""
    from ase import Atoms

    from echemmd.system import System

    atoms = Atoms(system.symbols, positions=system.positions, cell=system.cell, pbc=True).repeat(reps)
    return System.from_atoms(atoms)


class _Timed:
    """Wraps a bound method and adds up the seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def dense_solve(pot, system, neighbors, chi, rhs_adjoint):
    """Charges and adjoint of the same systems by one LU factorisation of the bordered matrix (s, q, lam)."""
    solver = pot.solver
    t0 = time.perf_counter()
    solver._dense_key = None  # positions moved: build it again, as n2p2 does every step
    H = solver.dense_matrix(system, neighbors, always=True)
    n = H.shape[0]
    K = np.empty((n + 1, n + 1))
    K[:n, :n] = H
    K[:n, n] = K[n, :n] = 1.0
    K[n, n] = 0.0
    lu = scipy.linalg.lu_factor(K, overwrite_a=True, check_finite=False)
    q = scipy.linalg.lu_solve(lu, np.append(-chi, solver._total), check_finite=False)[:n]
    lam = scipy.linalg.lu_solve(lu, np.append(rhs_adjoint, 0.0), check_finite=False)[:n]
    return time.perf_counter() - t0, q, lam


def run(replicas, dense_max, steps):
    model = read_n2p2(EXAMPLE, "Bohr", "Hartree")
    base = read_n2p2_structure(EXAMPLE / "input.data")
    rng = np.random.default_rng(0)
    rows = []
    for reps in replicas:
        system = replicated(base, reps)
        n = system.n_atoms
        pot = FourthGenPotential(model, accuracy=ACCURACY, tolerance=TOLERANCE)
        pot.compute(system)  # compile, set up, first charges
        pot.compute(system)
        solver = pot.solver
        solve, adjoint = _Timed(solver.solve), _Timed(solver.solve_adjoint)
        solver.solve, solver.solve_adjoint = solve, adjoint
        # Capture the adjoint right-hand side of the last step for the dense comparison.
        seen = {}
        inner = adjoint.fn

        def capture(system_, nl_, rhs, initial=None, _inner=inner):
            seen["rhs"] = np.array(rhs)
            return _inner(system_, nl_, rhs, initial)

        adjoint.fn = capture
        t_step, it_q, it_a = [], [], []
        for _ in range(steps):
            system.positions += rng.normal(0.0, 0.01 / math.sqrt(3), system.positions.shape)
            solve.seconds = adjoint.seconds = 0.0
            t0 = time.perf_counter()
            pot.compute(system)
            t_step.append((time.perf_counter() - t0, solve.seconds + adjoint.seconds))
            it_q.append(solver.last.iterations)
            it_a.append(solver.last_adjoint.iterations)
        step = float(np.median([t for t, _ in t_step]))
        cg = float(np.median([s for _, s in t_step]))
        row = {"replicas": list(reps), "n_atoms": n, "n_kvectors": int(pot.ewald_q.params.n_kvectors),
               "r_cut": float(pot.ewald_q.params.r_cut), "step_cg_s": step, "solves_cg_s": cg,
               "rest_of_step_s": step - cg, "cg_iterations_charges": float(np.mean(it_q)),
               "cg_iterations_adjoint": float(np.mean(it_a))}
        if n <= dense_max:
            nl = pot._own_list
            chi = solver._chi[solver.variable]
            t_dense, q_dense, lam_dense = dense_solve(pot, system, nl, chi, seen["rhs"])
            v = solver.variable
            row.update({"solves_dense_s": t_dense, "step_dense_s": step - cg + t_dense,
                        "max_abs_q_cg_minus_dense_e": float(np.abs(system.charges[v] - q_dense).max()),
                        "dense_matrix_GB": 8.0 * (n + 1) ** 2 / 1e9,
                        "dense_over_cg_step": (step - cg + t_dense) / step,
                        "dense_over_cg_solves": t_dense / cg})
        rows.append(row)
        msg = (f"  N = {n:6d}: step {step:8.3f} s (CG solves {cg:7.3f} s, {row['cg_iterations_charges']:.0f} + "
               f"{row['cg_iterations_adjoint']:.0f} it)")
        if "solves_dense_s" in row:
            msg += (f"; dense {row['solves_dense_s']:8.3f} s, step x{row['dense_over_cg_step']:.2f}, "
                    f"|dq| {row['max_abs_q_cg_minus_dense_e']:.1e} e")
        print(msg, flush=True)
    return rows


def exponent(rows, key):
    pts = [(r["n_atoms"], r[key]) for r in rows if key in r and r["n_atoms"] >= 1000]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def crossover(rows):
    """Smallest measured N from which the CG step is faster than the dense one (None if never)."""
    dense = [r for r in rows if "step_dense_s" in r]
    for k, r in enumerate(dense):
        if all(d["step_dense_s"] > d["step_cg_s"] for d in dense[k:]):
            return r["n_atoms"]
    return None


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.4))
    n = [r["n_atoms"] for r in rows]
    ax.loglog(n, [r["step_cg_s"] for r in rows], "o-", label="step, CG (echemmd)")
    ax.loglog(n, [r["solves_cg_s"] for r in rows], "o--", label="charge + adjoint solves, CG")
    nd = [r["n_atoms"] for r in rows if "step_dense_s" in r]
    ax.loglog(nd, [r["step_dense_s"] for r in rows if "step_dense_s" in r], "s-", label="step, dense LU (n2p2's way)")
    ax.loglog(nd, [r["solves_dense_s"] for r in rows if "step_dense_s" in r], "s--", label="build + LU solves, dense")
    ax.set_xlabel("atoms")
    ax.set_ylabel("seconds per MD step")
    ax.set_title("4G water (n2p2 H2O_RPBE-D3_4G), 2 cores")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dense-max", type=int, default=6912, help="largest N solved densely")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--replicas", nargs="*", default=None, help="sizes as n1xn2xn3 (default: all)")
    parser.add_argument("--add", action="store_true", help="merge the rows into the existing result file")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    replicas = REPLICAS[:3] if args.quick else REPLICAS
    if args.replicas:
        replicas = [tuple(int(v) for v in r.split("x")) for r in args.replicas]
    from benchmarks_common import machine

    name = "fourthgen_quick" if args.quick else "fourthgen"
    path = Path(args.out or Path(__file__).parent / "results" / f"{name}.json")
    rows = run(replicas, args.dense_max, args.steps)
    if args.add and path.is_file():
        new = {r["n_atoms"] for r in rows}
        rows = sorted([r for r in json.loads(path.read_text())["sizes"] if r["n_atoms"] not in new] + rows,
                      key=lambda r: r["n_atoms"])
    dense = [r for r in rows if "step_dense_s" in r]
    result = {"benchmark": "fourthgen_charge_solve", "model": "n2p2 examples/nnp-predict/H2O_RPBE-D3_4G",
              "ewald_accuracy": ACCURACY, "cg_tolerance_V": TOLERANCE, "machine": machine(),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "sizes": rows,
              "exponent_step_cg": exponent(rows, "step_cg_s"), "exponent_solves_cg": exponent(rows, "solves_cg_s"),
              "exponent_solves_dense": exponent(rows, "solves_dense_s"), "crossover_n_atoms": crossover(rows),
              "largest_dense": dense[-1] if dense else None}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    plot(rows, path.with_suffix(".png"))
    print(f"exponents: CG step {result['exponent_step_cg']}, CG solves {result['exponent_solves_cg']}, "
          f"dense solves {result['exponent_solves_dense']}; crossover at N = {result['crossover_n_atoms']}")
    print(f"results written to {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()

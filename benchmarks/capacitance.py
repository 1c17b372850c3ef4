"""Capacitance check: charge fluctuations against the slope dQ/dV (issue 8).

Runs the constant-potential capacitor deck (``inputs/capacitor.toml``: two frozen fcc(111)
electrodes, 96-ion restricted-primitive-model electrolyte, Langevin at 1000 K) at two
applied voltages, dV = 0 V and dV = 1 V (one after the other),
and compares, for the top electrode,

* the slope           C_slope = (<Q>_1V - <Q>_0V) / 1 V, error from the block errors of the means;
* the fluctuations    C_fluct = <dQ^2> / (k_B T) + C_inf, in each run, block-averaged error.

C_inf is the capacitance of the electrodes with the ions held fixed (the "empty
capacitor" part). The electrode charges are not sampled but solved every step (they
minimise the energy for the given ion positions), so Q = Q_ions(r) + C_inf dV exactly, and
the thermal fluctuations <dQ^2> hold only the ionic part of the response; C_inf comes from
two single points (``echemmd eval`` at dV = 0 and 1 V on the same structure). See Scalfi,
Limmer, Coretti et al., Phys. Chem. Chem. Phys. 22, 10480 (2020).

    python benchmarks/capacitance.py                          # 2000 steps (4 ps) per voltage, ~5 min on 2 cores
    python benchmarks/capacitance.py --steps 1000 --quick     # machinery only

Writes ``benchmarks/results/capacitance.json`` (``capacitance_quick.json`` with ``--quick``)
and the runs into ``out/capacitance_check/``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DECK = ROOT / "inputs" / "capacitor.toml"
VOLTAGES = {"0V": (0.0, 0.0), "1V": (-0.5, 0.5)}  # (bottom, top) potentials, V


def overrides(bottom, top):
    return [f"electrode[0].potential={bottom}", f"electrode[1].potential={top}"]


def c_infinity(deck=DECK, electrode="top"):
    """dQ/dV with the ions fixed (structure of the deck), from two single points, e/V."""
    from echemmd import app
    from echemmd.io.deck import load_deck

    q = {}
    for name, (b, t) in VOLTAGES.items():
        d = load_deck(deck, overrides=dict(s.split("=") for s in overrides(b, t)))
        q[name] = app.evaluate(d)["observables"][f"charge_{electrode}"]
    return (q["1V"] - q["0V"]) / 1.0


def run_pair(steps, out, thermo_every, seed=11):
    """The two runs, one after the other (each uses every Numba thread); returns {name: thermo path}."""
    paths = {}
    for name, (b, t) in VOLTAGES.items():
        d = Path(out) / name
        cmd = [sys.executable, "-m", "echemmd.cli", "run", str(DECK), "--steps", str(steps), "--output", str(d),
               "--set", f"output.thermo_every={thermo_every}", "--set", "output.trajectory_every=100",
               "--set", f"md.seed={seed}", "--set", "output.progress=false"]
        for s in overrides(b, t):
            cmd += ["--set", s]
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"run {name} failed ({p.returncode}): {p.stderr[-2000:]}")
        paths[name] = d / "thermo.csv"
    return paths


def analyse(thermo_paths, temperature, start_time, n_blocks, c_inf, area=None, electrode="top"):
    """C_fluct per run and C_slope from the thermo CSVs; a JSON-ready dict."""
    from echemmd.analysis.electrostatics import differential_capacitance
    from echemmd.analysis.thermo import read_thermo

    runs = {}
    for name, path in thermo_paths.items():
        th = read_thermo(path)
        keep = th.time >= start_time
        q = th.column(f"charge_{electrode}")[keep]
        c = differential_capacitance(q, temperature, area, n_blocks)
        runs[name] = {"voltage_V": VOLTAGES[name][1] - VOLTAGES[name][0], "samples": int(len(q)),
                      "mean_Q_e": c.mean_charge, "mean_Q_err_e": c.mean_charge_error,
                      "var_Q_e2": c.variance, "C_fluct_ionic_e_per_V": c.capacitance,
                      "C_fluct_ionic_err_e_per_V": c.error,
                      "C_fluct_e_per_V": c.capacitance + c_inf, "C_fluct_err_e_per_V": c.error}
    a, b = runs["0V"], runs["1V"]
    dv = b["voltage_V"] - a["voltage_V"]
    slope = (b["mean_Q_e"] - a["mean_Q_e"]) / dv
    slope_err = float(np.hypot(a["mean_Q_err_e"], b["mean_Q_err_e"]) / dv)
    # Fluctuations averaged over the two runs (the chord slope is the mean of C over 0..1 V).
    w = np.array([1 / a["C_fluct_err_e_per_V"] ** 2, 1 / b["C_fluct_err_e_per_V"] ** 2])
    cf = float(np.dot(w, [a["C_fluct_e_per_V"], b["C_fluct_e_per_V"]]) / w.sum())
    cf_err = float(1 / np.sqrt(w.sum()))
    diff = cf - slope
    sigma = float(np.hypot(cf_err, slope_err))
    return {"electrode": electrode, "temperature_K": temperature, "start_time_fs": start_time,
            "blocks": n_blocks, "C_inf_e_per_V": c_inf, "runs": runs,
            "C_slope_e_per_V": slope, "C_slope_err_e_per_V": slope_err,
            "C_fluct_e_per_V": cf, "C_fluct_err_e_per_V": cf_err,
            "difference_e_per_V": diff, "difference_in_sigma": diff / sigma if sigma > 0 else float("inf"),
            "agree_within_2_sigma": bool(abs(diff) <= 2 * sigma)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2000, help="steps per voltage (dt = 2 fs)")
    p.add_argument("--start-time", type=float, default=400.0, help="equilibration left out, fs")
    p.add_argument("--blocks", type=int, default=10)
    p.add_argument("--thermo-every", type=int, default=5)
    p.add_argument("--out", default="out/capacitance_check")
    p.add_argument("--quick", action="store_true", help="write capacitance_quick.json")
    p.add_argument("--json", default=None, help="output JSON (default benchmarks/results/capacitance[_quick].json)")
    args = p.parse_args(argv)
    t0 = time.time()
    c_inf = c_infinity()
    paths = run_pair(args.steps, args.out, args.thermo_every)
    res = analyse(paths, 1000.0, args.start_time, args.blocks, c_inf)
    res.update({"deck": "inputs/capacitor.toml", "steps": args.steps, "dt_fs": 2.0, "wall_s": time.time() - t0})
    out = Path(args.json) if args.json else ROOT / "benchmarks" / "results" / (
        "capacitance_quick.json" if args.quick else "capacitance.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    print(f"C_slope = {res['C_slope_e_per_V']:.3f} ± {res['C_slope_err_e_per_V']:.3f} e/V, "
          f"C_fluct = {res['C_fluct_e_per_V']:.3f} ± {res['C_fluct_err_e_per_V']:.3f} e/V "
          f"(C_inf = {c_inf:.3f} e/V), difference {res['difference_in_sigma']:.2f} sigma -> {out}")


if __name__ == "__main__":
    main()

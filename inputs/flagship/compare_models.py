"""The 2G and 4G flagship models side by side on held-out frames: energy, force and charge RMSE.

    python inputs/flagship/compare_models.py            # writes inputs/flagship/report_4g_vs_2g.txt (+ .json)

Held out from both fits: the 29 MD frames of test_md.extxyz (from runs of earlier models,
never trained on) and the 52 validation frames of the training split (data.extxyz, seed 0,
10 %: the frames that chose the best epoch, not fitted). Both models are evaluated as a run
evaluates them, through :class:`echemmd.calculator.EchemmdCalculator` at each frame's total
charge: the 2G model with its fixed electrolyte charges and QEq gold, the 4G model with its
charge equilibration. Reference: GFN1-xTB energies, forces and Mulliken charges.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from ase.io import read

HERE = Path(__file__).resolve().parent
MEV = 1000.0


def held_out():
    from echemmd.training.run import split_frames

    data = read(HERE / "data.extxyz", ":")
    _train, val = split_frames(len(data), 0.1, 0)
    return {"test (MD)": read(HERE / "test_md.extxyz", ":"), "validation": [data[i] for i in val]}


def errors(model_path, frames):
    from echemmd.calculator import EchemmdCalculator

    calc = EchemmdCalculator(str(model_path), accuracy=1e-6)
    de, df, dq = [], [], {}
    for atoms in frames:
        ref = atoms.calc.results
        a = atoms.copy()
        a.info["total_charge"] = float(atoms.info.get("total_charge", np.sum(ref["charges"])))
        a.calc = calc
        de.append((a.get_potential_energy() - ref["energy"]) / len(a))
        df.append((a.get_forces() - ref["forces"]).reshape(-1))
        for s, d in zip(a.get_chemical_symbols(), a.get_charges() - ref["charges"]):
            dq.setdefault(s, []).append(d)
    de, df = np.array(de), np.concatenate(df)
    q_all = np.concatenate([np.array(v) for v in dq.values()])
    rms = (lambda x: float(np.sqrt(np.mean(np.square(x)))))
    return {"frames": len(frames), "energy_rmse_meV_per_atom": rms(de) * MEV,
            "energy_mae_meV_per_atom": float(np.mean(np.abs(de))) * MEV, "force_rmse_meV_per_A": rms(df) * MEV,
            "force_mae_meV_per_A": float(np.mean(np.abs(df))) * MEV, "charge_rmse_me": rms(q_all) * MEV,
            "charge_rmse_by_element_me": {s: rms(v) * MEV for s, v in dq.items()}}


def _shown(path):
    """A path relative to the repository when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(HERE.parents[1]))
    except ValueError:
        return str(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-2g", default=str(HERE / "model.h5"))
    parser.add_argument("--model-4g", default=str(HERE / "model_4g.h5"))
    parser.add_argument("--out", default=str(HERE / "report_4g_vs_2g.txt"))
    args = parser.parse_args(argv)
    sets = held_out()
    results = {name: {"2G": errors(args.model_2g, frames), "4G": errors(args.model_4g, frames)}
               for name, frames in sets.items()}
    lines = ["The flagship models side by side on held-out frames (python inputs/flagship/compare_models.py)",
             f"2G: {_shown(args.model_2g)} (fixed electrolyte charges, QEq gold); 4G: {_shown(args.model_4g)} "
             "(electronegativity networks, charge equilibration)", "",
             f"{'set':<12}{'model':<7}{'frames':>7}{'E RMSE':>10}{'E MAE':>10}{'F RMSE':>10}{'F MAE':>10}"
             f"{'q RMSE':>10}  q RMSE by element",
             f"{'':<12}{'':<7}{'':>7}{'meV/atom':>10}{'meV/atom':>10}{'meV/Å':>10}{'meV/Å':>10}{'me':>10}  me"]
    for name, by_model in results.items():
        for model, r in by_model.items():
            el = ", ".join(f"{s} {v:.1f}" for s, v in r["charge_rmse_by_element_me"].items())
            lines.append(f"{name:<12}{model:<7}{r['frames']:>7d}{r['energy_rmse_meV_per_atom']:>10.2f}"
                         f"{r['energy_mae_meV_per_atom']:>10.2f}{r['force_rmse_meV_per_A']:>10.1f}"
                         f"{r['force_mae_meV_per_A']:>10.1f}{r['charge_rmse_me']:>10.1f}  {el}")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()

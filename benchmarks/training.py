"""Training benchmark: throughput of the exact loss gradient, a random teacher, and Delta learning.

Usage::

    python benchmarks/training.py            # all three parts (about 10 minutes on 2 cores)
    python benchmarks/training.py --quick    # fewer frames, seeds and iterations (about 1 minute)

1. Throughput: frames per second of one loss + exact gradient (energies and forces) on
   batches of 8 frames of a 99-atom water box (33 rigid molecules at 1 g/cm^3, randomly
   placed and rattled, labelled by a random teacher), with the default descriptor recipe (r_c
   6 Å, 6 radial and 2x2 angular functions per element: 24 per element) and networks of
   [25, 25] tanh. Compared with a forward pass alone (energies and forces) and with what
   central finite differences over the parameters would cost (2 n_parameters forward
   passes), the simplest correct way to get the same gradient.
2. Random teacher: rattled rock-salt NaCl cells of 16 atoms labelled by a random network of the
   student's architecture (12 functions per element, [6, 6] tanh, teacher forces ~0.6 eV/Å RMS);
   96 frames, a quarter held out; L-BFGS. Energy and force RMSE on the held-out frames for
   several teacher seeds, against the targets 1 meV/atom and 20 meV/Å.
3. Delta learning: the example data (inputs/nacl_train.extxyz, 64-ion molten NaCl labelled by
   Tosi–Fumi + Ewald) fitted with and without the model's long-range part, tested on 216-ion
   cells (inputs/nacl_test216.extxyz).

Writes ``benchmarks/results/training.json`` (``training_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import time
import types
from pathlib import Path

import numpy as np

from benchmarks_common import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def throughput(quick):
    from echemmd.calculator import EchemmdCalculator
    from echemmd.training.recipes import symmetry_function_set
    from echemmd.training.synthetic import label, random_teacher
    from echemmd.training.trainer import Trainer
    from echemmd.validate import water_box

    n_frames = 16 if quick else 32
    rng = np.random.default_rng(0)
    boxes = []
    for k in range(n_frames):
        a = water_box(33, seed=k)
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        boxes.append(a)
    functions = symmetry_function_set(["H", "O"], 6.0, n_radial=6, n_angular=2)
    teacher = random_teacher(functions, (25, 25), boxes, seed=1)
    frames = label(EchemmdCalculator(teacher), boxes, "water")
    t = Trainer(functions, hidden=(25, 25), seed=0)
    prepared = t.prepare(frames)
    theta = t.initialize(prepared)
    batches = [prepared[i:i + 8] for i in range(0, n_frames, 8)]
    t.loss(theta, batches[0])  # compile / load the kernels
    t.loss(theta, batches[0], gradient=False)

    def best_of(fn, repeat=5):
        best = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            for b in batches:
                fn(b)
            best = min(best, time.perf_counter() - t0)
        return best

    t_grad = best_of(lambda b: t.loss(theta, b))
    t_fwd = best_of(lambda b: t.loss(theta, b, gradient=False))
    n_atoms = frames[0].n_atoms
    out = {"atoms_per_frame": n_atoms, "frames": n_frames, "batch_size": 8,
           "functions_per_element": {e: len(v) for e, v in functions.items()}, "hidden": [25, 25],
           "parameters": t.n_parameters,
           "loss_and_gradient_frames_per_s": n_frames / t_grad,
           "loss_and_gradient_atoms_per_s": n_frames * n_atoms / t_grad,
           "forward_frames_per_s": n_frames / t_fwd,
           "gradient_cost_in_forward_passes": t_grad / t_fwd,
           "finite_difference_gradient_frames_per_s": n_frames / (2 * t.n_parameters * t_fwd),
           "speedup_over_finite_differences": 2 * t.n_parameters * t_fwd / t_grad}
    print(f"throughput: {n_atoms}-atom frames, {t.n_parameters} parameters: loss + exact gradient "
          f"{out['loss_and_gradient_frames_per_s']:.0f} frames/s ({out['gradient_cost_in_forward_passes']:.2f} forward "
          f"passes); finite differences would be x{out['speedup_over_finite_differences']:.0f} slower")
    return out


def teacher(quick):
    from echemmd.calculator import EchemmdCalculator
    from echemmd.training.optimize import Schedule, fit
    from echemmd.training.recipes import symmetry_function_set
    from echemmd.training.run import split_frames
    from echemmd.training.synthetic import label, random_teacher, rocksalt_frames
    from echemmd.training.trainer import Trainer

    n_frames, iterations = (48, 400) if quick else (96, 2000)
    seeds = (11, 12) if quick else (11, 12, 13, 14, 15)
    functions = symmetry_function_set(["Na", "Cl"], 4.5, n_radial=3, n_angular=1)
    atoms = rocksalt_frames(n_frames, seed=0)
    runs = []
    for seed in seeds:
        model = random_teacher(functions, (6, 6), atoms, seed, 0.5, {"Na": -1.3, "Cl": -2.1})
        frames = label(EchemmdCalculator(model), atoms, "teacher")
        f_rms = float(np.sqrt(np.mean(np.concatenate([f.forces.ravel() for f in frames]) ** 2)))
        i_tr, i_val = split_frames(n_frames, 0.25, 1)
        t = Trainer(functions, hidden=(6, 6), seed=1)
        p = t.prepare(frames)
        tr, va = [p[i] for i in i_tr], [p[i] for i in i_val]
        t0 = time.perf_counter()
        best, hist, _ = fit(t, t.initialize(tr), tr, va, Schedule("lbfgs", epochs=iterations, patience=0))
        mt, mv = t.metrics(best, tr), t.metrics(best, va)
        run = {"teacher_seed": seed, "teacher_force_rms_eV_per_A": f_rms, "iterations": hist[-1].epoch,
               "seconds": time.perf_counter() - t0,
               "train_energy_rmse_meV_per_atom": mt.energy_rmse * 1e3, "train_force_rmse_meV_per_A": mt.force_rmse * 1e3,
               "heldout_energy_rmse_meV_per_atom": mv.energy_rmse * 1e3,
               "heldout_force_rmse_meV_per_A": mv.force_rmse * 1e3,
               "meets_targets": bool(mv.energy_rmse < 1e-3 and mv.force_rmse < 20e-3)}
        runs.append(run)
        print(f"teacher seed {seed}: held-out E {run['heldout_energy_rmse_meV_per_atom']:.3f} meV/atom, "
              f"F {run['heldout_force_rmse_meV_per_A']:.2f} meV/Å (train {run['train_force_rmse_meV_per_A']:.2f}) "
              f"in {run['seconds']:.0f} s", flush=True)
    return {"frames": n_frames, "heldout_frames": int(round(0.25 * n_frames)), "atoms_per_frame": 16,
            "functions_per_element": 12, "hidden": [6, 6], "optimizer": "lbfgs", "runs": runs}


def delta(quick):
    from echemmd.io.dataset import read_dataset
    from echemmd.mlpotential import HybridModel
    from echemmd.training.optimize import Schedule, fit
    from echemmd.training.recipes import symmetry_function_set
    from echemmd.training.run import split_frames
    from echemmd.training.trainer import Trainer

    train_frames = read_dataset(ROOT / "inputs" / "nacl_train.extxyz")
    test_frames = read_dataset(ROOT / "inputs" / "nacl_test216.extxyz")
    functions = symmetry_function_set(["Na", "Cl"], 6.0, n_radial=6, n_angular=1, r_min=2.0)
    charges = HybridModel(types.SimpleNamespace(elements=["Na", "Cl"]), charge_model="fixed",
                          charges={"Na": 1.0, "Cl": -1.0}, sigma={"Na": 1.0, "Cl": 1.0}, switch=(0.0, 6.0))
    i_tr, i_val = split_frames(len(train_frames), 0.15, 0)
    out = {"train_frames": len(i_tr), "validation_frames": len(i_val), "test_frames": len(test_frames),
           "train_atoms": train_frames[0].n_atoms, "test_atoms": test_frames[0].n_atoms,
           "charge_model": "fixed +-1 e, Gaussian sigma 1 A, switch 0-6 A", "network": [10, 10],
           "iterations": 100 if quick else 600}
    for name, lr in (("delta", charges), ("plain", None)):
        t = Trainer(functions, hidden=(10, 10), seed=0)
        p = t.prepare(train_frames, long_range_model=lr, accuracy=1e-6)
        q = t.prepare(test_frames, long_range_model=lr, accuracy=1e-6)
        tr, va = [p[i] for i in i_tr], [p[i] for i in i_val]
        best, _, _ = fit(t, t.initialize(tr), tr, va, Schedule("lbfgs", epochs=out["iterations"], patience=0))
        for set_name, s in (("train", tr), ("validation", va), ("test216", q)):
            m = t.metrics(best, s)
            out[f"{name}_{set_name}_energy_rmse_meV_per_atom"] = m.energy_rmse * 1e3
            out[f"{name}_{set_name}_force_rmse_meV_per_A"] = m.force_rmse * 1e3
        print(f"{name}: test (216 ions) E {out[f'{name}_test216_energy_rmse_meV_per_atom']:.2f} meV/atom, "
              f"F {out[f'{name}_test216_force_rmse_meV_per_A']:.1f} meV/Å; validation (64 ions) "
              f"E {out[f'{name}_validation_energy_rmse_meV_per_atom']:.2f}, "
              f"F {out[f'{name}_validation_force_rmse_meV_per_A']:.1f}", flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    result = {"benchmark": "training", "machine": machine(), "quick": args.quick,
              "throughput": throughput(args.quick), "teacher": teacher(args.quick), "delta": delta(args.quick)}
    result["seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("training_quick.json" if args.quick else "training.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

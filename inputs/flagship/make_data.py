"""Make the flagship data set: GFN1-xTB labels of water, NaCl(aq), Au(111) and their interfaces.

    python inputs/flagship/make_data.py round0              # random candidates, all labelled
    python inputs/flagship/make_data.py explore MODEL.h5 K  # round K: MD with a model, frames picked, labelled
    python inputs/flagship/make_data.py charges             # water's charges and chi_Au for train.toml
    python inputs/flagship/make_data.py test MODEL.h5       # RMSE on the held-out MD frames

Round 0 labels every candidate of ``structures.round0`` (random insertion with thermal-like
water geometries, close contacts, neutral and charged cells). Each later round runs short
Langevin MD at 300-400 K with the model trained so far on bulk water, NaCl(aq) and
Au(111)|electrolyte cells (neutral and with a charged electrode), picks the frames that are
farthest from each other and from everything already labelled in descriptor space
(``echemmd.training.label``) and labels them. All output goes to ``inputs/flagship/``:
``data_r<k>.extxyz`` per round (energy, forces, stress, GFN1-xTB charges, total_charge and
provenance on every frame); ``data.extxyz`` is their concatenation, the training set.

The reference is GFN1-xTB through tblite (``pip install -e ".[reference]"``), Fermi smearing
at 300 K, the cell's net charge from ``total_charge`` with Ewald's neutralising background.
Deterministic up to the reference code's own floating-point order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import structures  # noqa: E402


def label(cands, out, resume=True):
    from echemmd import __version__
    from echemmd.training.label import label_structures, make_calculator

    calc, prov = make_calculator("tblite", "GFN1-xTB", electronic_temperature=300.0)
    prov["echemmd"] = __version__
    for k, at in enumerate(cands):
        at.info.pop("adsorbate_info", None)
        at.info.setdefault("source", f"{at.info.get('kind', 'frame')}:{k}")
    label_structures(cands, calc, prov, out, resume=resume)


def round0(args):
    label(structures.round0(seed=0), HERE / "data_r0.extxyz")
    concatenate()


def _no_clash(make, min_distance=0.9, tries=50):
    """``make()`` again until no two atoms are closer than ``min_distance`` Å.

    Random insertion spaces the heavy atoms only; two H of neighbouring molecules may land
    0.7 Å apart, which a run stops at on its first step.
    """
    for _ in range(tries):
        at = make()
        d = at.get_all_distances(mic=True)
        if d[np.triu_indices(len(at), 1)].min() >= min_distance:
            return at
    raise RuntimeError(f"no start without clashes in {tries} tries")


def explore_starts(seed):
    """Starting cells and temperatures for one exploration round: (kind, ase.Atoms, K, Au frozen)."""
    rng = np.random.default_rng(seed)
    out = []
    for T in (300.0, 400.0):
        out.append(("water", _no_clash(lambda: structures.water_box(rng, 32)), T, False))
    for T in (300.0, 360.0):
        out.append(("nacl_aq", _no_clash(lambda: structures.water_box(rng, 30, ions=["Na", "Cl"])), T, False))
    for T, frozen in ((300.0, True), (380.0, False)):
        out.append(("interface", _no_clash(lambda: structures.interface(rng, size=(3, 3, 3), gap=13.0)), T, frozen))
    for T in (300.0, 350.0):
        out.append(("interface_ions", _no_clash(lambda: structures.interface(rng, size=(3, 3, 3), gap=14.0,
                                                                            ions=["Na", "Cl"])), T, True))
    for total, ions in ((1.0, ["Cl"]), (-1.0, ["Na"]), (1.0, []), (-1.0, [])):
        # A charged electrode: the metal carries ``total``, the cell that and the ions' charge.
        cell = total + sum(1.0 if s == "Na" else -1.0 for s in ions)
        out.append(("interface_charged", _no_clash(lambda: structures.interface(
            rng, size=(3, 3, 3), gap=13.0, ions=ions, charge=cell)), 330.0, True))
    return out


def trajectory(model, atoms, temperature, frozen, steps, every, seed):
    """Langevin MD (dt 0.5 fs, friction 0.02/fs) with the model; the frames every ``every`` steps.

    Stops early, keeping the frames so far and the last one, when the run blows up: the
    structures where the model fails are the ones the next round most needs.
    """
    from echemmd.forcefield import ForceField
    from echemmd.integrators import make_integrator, maxwell_boltzmann
    from echemmd.mlpotential import NeuralNetworkPotential, long_range_forcefield
    from echemmd.neighbors import NeighborList
    from echemmd.simulation import Limits, Simulation, SimulationError
    from echemmd.system import System

    au = np.array([s == "Au" for s in atoms.get_chemical_symbols()])
    system = System.from_atoms(atoms, frozen=np.nonzero(au)[0] if frozen else None)
    nnp = NeuralNetworkPotential(model.short_range)
    lr = long_range_forcefield(model, system, accuracy=1e-5, total_charge=atoms.info.get("total_charge", 0.0),
                               tolerance=1e-8)
    terms = [nnp] + (lr.terms if lr is not None else [])
    ff = ForceField(terms, NeighborList(max(t.cutoff for t in terms), skin=1.0),
                    charge_solver=lr.charge_solver if lr is not None else None)
    maxwell_boltzmann(system, temperature, np.random.default_rng(seed))
    integ = make_integrator("langevin", dt=0.5, temperature=temperature, friction=0.02, seed=seed)
    sim = Simulation(system, ff, integ, limits=Limits(max_force=30.0, min_distance=0.75))
    frames, status = [], "ok"

    def snapshot(failed=False):
        at = atoms.copy()
        at.info["failed"] = failed
        at.positions = system.wrapped_positions()
        at.set_initial_charges(atoms.get_initial_charges())
        at.info["temperature"] = temperature
        frames.append(at)

    try:
        for _ in range(steps // every):
            sim.run(every)
            snapshot()
    except SimulationError as exc:
        status = f"stopped at step {sim.step}: {str(exc).splitlines()[0]}"
        if system.positions is not None and np.all(np.isfinite(system.positions)):
            snapshot(failed=True)
    return frames, status


def explore(args):
    """One round: MD with the model from every start, farthest-point selection, labels."""
    import ase.io

    from echemmd.io.model import load_model
    from echemmd.training.label import farthest_point_sampling, fingerprints

    model = load_model(args.model)
    candidates = []
    for k, (kind, atoms, T, frozen) in enumerate(explore_starts(1000 + args.round)):
        frames, status = trajectory(model, atoms, T, frozen, args.steps, args.every, seed=args.round * 100 + k)
        for j, at in enumerate(frames):
            at.info["kind"] = kind
            at.info["source"] = f"r{args.round}:{kind}:{k}:{j}"
        print(f"  {kind} {len(atoms)} atoms at {T:g} K{' (Au frozen)' if frozen else ''}: {len(frames)} frames, "
              f"{status}", flush=True)
        candidates += frames
    known = []
    for path in sorted(HERE.glob("data_r*.extxyz")):
        if path.name != f"data_r{args.round}.extxyz":
            known += ase.io.read(path, index=":")
    fp = fingerprints(candidates + known, r_c=6.0)
    picks = farthest_point_sampling(fp[:len(candidates)], args.select, known=fp[len(candidates):])
    picked = [candidates[i] for i in sorted(picks)]
    print(f"  {len(candidates)} candidates, {len(picked)} picked farthest from each other and from the "
          f"{len(known)} labelled frames", flush=True)
    label(picked, HERE / f"data_r{args.round}.extxyz")
    concatenate()
    if args.test:
        # Held out: frames of this round's MD that selection passed over, drawn at random
        # (so they sample what the model's MD visits, not its extremes); never trained on.
        # The last frame of a run that blew up is no test of the MD the model makes.
        rest = sorted({i for i, at in enumerate(candidates) if not at.info["failed"]} - {int(i) for i in picks})
        draw = np.random.default_rng(args.round).choice(rest, size=min(args.test, len(rest)), replace=False)
        label([candidates[i] for i in sorted(draw)], HERE / "test_md.extxyz")


def concatenate():
    """data.extxyz: every round's frames, in round order (the training set)."""
    paths = sorted(HERE.glob("data_r*.extxyz"), key=lambda p: int(p.stem[6:]))
    with open(HERE / "data.extxyz", "w") as out:
        for path in paths:
            out.write(path.read_text())
    print(f"  wrote {HERE / 'data.extxyz'} from {', '.join(p.name for p in paths)}")


def charges(args):
    """The charge model's parameters from the data: water's charges and the metal's electronegativity.

    q_H: least squares against the GFN1-xTB charges of H and O with q_O = -2 q_H (neutral
    water). chi_Au: the electrode's electron chemical potential (minus the work function of the
    reference method), from a linear fit of the reference energies on the element counts and
    the metal's net charge Q_Au = total_charge - (fixed charges of the electrolyte), so that a
    charged electrode costs chi_Au Q_Au in the model as in the reference.
    """
    import ase.io

    frames = ase.io.read(HERE / "data.extxyz", index=":")
    num = den = 0.0
    for at in frames:
        q = at.calc.results["charges"]
        c = np.array([{"H": 1.0, "O": -2.0}.get(s, 0.0) for s in at.get_chemical_symbols()])
        num, den = num + float(c @ q), den + float(c @ c)
    q_h = num / den
    fixed = {"H": q_h, "O": -2 * q_h, "Na": 1.0, "Cl": -1.0}
    elements = ["H", "O", "Na", "Cl", "Au"]
    X, y = [], []
    for at in frames:
        s = at.get_chemical_symbols()
        q_au = at.info.get("total_charge", 0.0) - sum(fixed[e] for e in s if e in fixed) if "Au" in s else 0.0
        X.append([s.count(e) for e in elements] + [q_au])
        y.append(at.calc.results["energy"])
    coef = np.linalg.lstsq(np.array(X, float), np.array(y), rcond=None)[0]
    print(f"  {len(frames)} frames: q_H = {q_h:.4f} e (q_O = {-2 * q_h:.4f} e), chi_Au = {coef[-1]:.3f} eV/e")


def test(args):
    """The model on the held-out MD frames (test_md.extxyz): RMSE of energy per atom and of forces by element.

    Appends the table to ``--report`` (the training report shipped beside the model).
    """
    import ase.io

    from echemmd.calculator import EchemmdCalculator

    frames = ase.io.read(HERE / "test_md.extxyz", index=":")
    calc = EchemmdCalculator(args.model, accuracy=1e-8)
    de, df, by = [], [], {}
    for at in frames:
        ref_e, ref_f = at.calc.results["energy"], at.calc.results["forces"]
        probe = at.copy()
        probe.info["total_charge"] = at.info.get("total_charge", 0.0)
        probe.calc = calc
        de.append((probe.get_potential_energy() - ref_e) / len(at))
        d = probe.get_forces() - ref_f
        df.append(d)
        for e, row in zip(at.get_chemical_symbols(), d):
            by.setdefault(e, []).append(row)
    de, df = np.array(de), np.concatenate(df)
    order = [e for e in ("H", "O", "Na", "Cl", "Au") if e in by]
    line = (f"test (MD)  {len(frames):6d}   {1e3 * np.sqrt(np.mean(de ** 2)):8.3f}   {1e3 * np.mean(np.abs(de)):8.3f}   "
            f"{1e3 * np.sqrt(np.mean(df ** 2)):8.2f}   {1e3 * np.mean(np.abs(df)):8.2f}  "
            + ", ".join(f"{e} {1e3 * np.sqrt(np.mean(np.array(by[e]) ** 2)):.2f}" for e in order))
    text = ("\nheld out: frames of the models' own MD (make_data.py explore --test), never trained on\n"
            "set         frames     E RMSE      E MAE     F RMSE      F MAE  F RMSE by element\n"
            "                     meV/atom   meV/atom      meV/Å      meV/Å  meV/Å\n" + line + "\n")
    print(text)
    if args.report:
        with open(args.report, "a") as out:
            out.write(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    sub.add_parser("round0")
    sub.add_parser("charges", help="fit q_H and chi_Au to data.extxyz (for train.toml)")
    t = sub.add_parser("test", help="RMSE of a model on test_md.extxyz")
    t.add_argument("model")
    t.add_argument("--report", default=None, help="append the table to this file")
    e = sub.add_parser("explore")
    e.add_argument("model", help="echemmd model file of the previous round")
    e.add_argument("round", type=int, help="round number k >= 1 (writes data_r<k>.extxyz)")
    e.add_argument("--select", type=int, default=80, help="frames to label")
    e.add_argument("--steps", type=int, default=2000, help="MD steps per start (dt 0.5 fs)")
    e.add_argument("--every", type=int, default=40, help="steps between candidate frames")
    e.add_argument("--test", type=int, default=0, help="also label this many unpicked frames as test_md.extxyz")
    args = p.parse_args(argv)
    {"round0": round0, "explore": explore, "charges": charges, "test": test}[args.what](args)


if __name__ == "__main__":
    main()

"""Command line: ``echemmd run``, ``eval``, ``train``, ``label``, ``validate``, ``analyze``, ``--version``.

Exit codes: 0 success, 2 bad input (deck, structure, checkpoint, model), 3 a run that
stopped (blow-up), 130 interrupted (Ctrl-C / SIGTERM; a checkpoint is written).
``echemmd validate`` exits 0 when every check passes and 1 when one fails.
"""

from __future__ import annotations

import argparse
import sys

from echemmd import __version__
from echemmd.errors import InputError, SimulationError

EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_SIMULATION = 3
EXIT_INTERRUPTED = 130


def _parser():
    p = argparse.ArgumentParser(prog="echemmd", description="Molecular dynamics for machine-learning "
                                "potentials at electrochemical interfaces.")
    p.add_argument("--version", action="version", version=f"echemmd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run the MD job described by a deck")
    r.add_argument("deck", help="input deck (TOML)")
    r.add_argument("--steps", type=int, help="total number of steps (overrides md.steps)")
    r.add_argument("--restart", metavar="CHECKPOINT", help="continue from a checkpoint to md.steps")
    r.add_argument("--output", metavar="DIR", help="output directory (overrides output.directory)")
    r.add_argument("--backend", choices=("cpu", "cuda"), help="where the step runs (overrides md.backend)")
    r.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="override any deck key, e.g. --set md.dt=1.0 (repeatable)")

    e = sub.add_parser("eval", help="single point on the deck's structure")
    e.add_argument("deck", help="input deck (TOML)")
    e.add_argument("--json", metavar="OUT.json", default="-",
                   help="write energy, energy_terms, forces, stress, charges here (default: stdout)")
    e.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], help="override any deck key")

    t = sub.add_parser("train", help="fit a model to reference data (energies, forces, stress)",
                       description="Train the networks of a model from a training deck (TOML; see "
                       "docs/training.md). Writes the model file, a per-epoch CSV log, a report and plots.")
    t.add_argument("deck", help="training deck (TOML)")
    t.add_argument("--output", metavar="DIR", help="output directory (overrides output.directory)")
    t.add_argument("--restart", metavar="CHECKPOINT", help="continue from a training checkpoint "
                   "(output.directory/checkpoint.h5, written after every epoch); raise training.epochs to train longer")
    t.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="override any deck key, e.g. --set training.epochs=50 (repeatable)")

    from echemmd.training.label import add_arguments as add_label_arguments

    add_label_arguments(sub.add_parser("label", help="select diverse structures (farthest-point sampling) and "
                                       "label them with a reference calculator (tblite GFN1-xTB, EMT, a model)"))

    from echemmd.analysis.cli import add_arguments as add_analyze_arguments

    add_analyze_arguments(sub.add_parser("analyze", help="analyse an H5MD trajectory: profiles, potential drop, "
                                         "capacitance, RDF, MSD, VACF, orientation, thermo"))
    v = sub.add_parser("validate", help="check a model's invariances, forces, stress and smoothness on a structure",
                       description="Numerical checks of a model on one structure (translation, rotation and "
                       "permutation invariance, F = -dE/dx, symmetric force Jacobian, stress = strain "
                       "derivative, smooth cutoffs), printed as a table. Exit code 0 if all pass, 1 if one "
                       "fails, 2 for bad input.")
    v.add_argument("model", help="model file (HDF5, echemmd format) or, with --n2p2, an n2p2 directory")
    v.add_argument("--structure", required=True, metavar="FILE", help="structure file (any format ASE reads)")
    v.add_argument("--format", metavar="FMT", help="ASE format of the structure file (default: from its name)")
    v.add_argument("--n2p2", action="store_true", help="MODEL is an n2p2 directory (input.nn, scaling.data, "
                   "weights.NNN.data); short-range only")
    v.add_argument("--length-unit", metavar="UNIT", help="length unit of the n2p2 files "
                   "(Angstrom or Bohr; default Angstrom)")
    v.add_argument("--energy-unit", metavar="UNIT", help="energy unit of the n2p2 files (eV or Hartree; "
                   "default eV)")
    v.add_argument("--ewald-accuracy", type=float, default=1e-8, help="relative RMS force error of the Ewald "
                   "sum for models with charges (default 1e-8)")
    v.add_argument("--seed", type=int, default=0, help="seed of the random moves and picks (default 0)")
    return p


def _validate(args) -> int:
    """``echemmd validate``: load the model and the structure, run the checks, print the table."""
    from echemmd.errors import EchemmdError
    from echemmd.io.structure import read_structure
    from echemmd.validate import format_table, validate_model

    try:
        if args.n2p2:
            from echemmd.io.n2p2 import read_n2p2
            from echemmd.mlpotential import HybridModel

            model = HybridModel(read_n2p2(args.model, length_unit=args.length_unit or "Angstrom",
                                          energy_unit=args.energy_unit or "eV"),
                                provenance={"source": f"n2p2 directory {args.model}"})
        else:
            if args.length_unit or args.energy_unit:
                raise InputError("--length-unit and --energy-unit apply to n2p2 models only (with --n2p2); "
                                 "echemmd model files are always in Å and eV")
            from echemmd.io.model import load_model

            model = load_model(args.model)
        atoms = read_structure(args.structure, args.format)
        print(f"model {args.model}: elements {', '.join(model.elements)}, charge model {model.charge_model}"
              + (f", switch {model.switch[0]:g}-{model.switch[1]:g} Å" if model.switch else ""))
        print(f"structure {args.structure}: {len(atoms)} atoms, pbc {''.join('T' if p else 'F' for p in atoms.pbc)}")
        checks = validate_model(model, atoms, ewald_accuracy=args.ewald_accuracy, seed=args.seed)
    except InputError as exc:
        print(f"echemmd: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except SimulationError as exc:  # e.g. a charge solve that does not converge: the model fails
        print(f"echemmd: validation failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except EchemmdError as exc:  # a cell the neighbour list cannot handle, ...
        print(f"echemmd: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    print(format_table(checks))
    return 0 if all(c.passed for c in checks) else EXIT_FAILED


def _train(args) -> int:
    """``echemmd train``: read the training deck, fit, write the model and the report."""
    from echemmd.io.deck import parse_overrides
    from echemmd.io.train_deck import load_train_deck
    from echemmd.training.run import train

    try:
        overrides = parse_overrides(args.set)
        if args.output is not None:
            overrides["output.directory"] = args.output
        deck = load_train_deck(args.deck, overrides=overrides)
        for w in deck.warnings:
            print(f"echemmd: warning: {w}", file=sys.stderr)
        result = train(deck, restart=args.restart)
    except InputError as exc:
        print(f"echemmd: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except SimulationError as exc:
        print(f"echemmd: {exc}", file=sys.stderr)
        return EXIT_SIMULATION
    return EXIT_INTERRUPTED if result.stopped == "interrupted" else 0


def _overrides(args):
    from echemmd.io.deck import parse_overrides

    overrides = parse_overrides(args.set)
    if getattr(args, "steps", None) is not None:
        overrides["md.steps"] = args.steps
    if getattr(args, "output", None) is not None:
        overrides["output.directory"] = args.output
    if getattr(args, "backend", None) is not None:
        overrides["md.backend"] = args.backend
    return overrides


def main(argv=None) -> int:
    """Entry point of the ``echemmd`` console script."""
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return EXIT_INPUT
    if args.command == "validate":
        return _validate(args)
    if args.command == "train":
        return _train(args)
    if args.command == "label":
        from echemmd.training.label import run as label

        try:
            return label(args)
        except InputError as exc:
            print(f"echemmd: error: {exc}", file=sys.stderr)
            return EXIT_INPUT
    if args.command == "analyze":
        from echemmd.analysis.cli import run as analyze

        return analyze(args)
    from echemmd import app
    from echemmd.io.deck import load_deck

    try:
        deck = load_deck(args.deck, overrides=_overrides(args))
        if args.command == "eval":
            app.write_json(app.evaluate(deck), args.json)
        else:
            app.run(deck, restart=args.restart)
    except InputError as exc:
        print(f"echemmd: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except SimulationError as exc:
        print(f"echemmd: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED if "interrupted" in str(exc) else EXIT_SIMULATION
    except KeyboardInterrupt:
        print("echemmd: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())

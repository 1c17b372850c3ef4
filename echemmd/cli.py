"""Command line: ``echemmd run``, ``echemmd eval``, ``echemmd --version``.

Exit codes: 0 success, 2 bad input (deck, structure, checkpoint), 3 a run that
stopped (blow-up), 130 interrupted (Ctrl-C / SIGTERM; a checkpoint is written).
"""

from __future__ import annotations

import argparse
import sys

from echemmd import __version__
from echemmd.errors import InputError, SimulationError

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
    r.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="override any deck key, e.g. --set md.dt=1.0 (repeatable)")

    e = sub.add_parser("eval", help="single point on the deck's structure")
    e.add_argument("deck", help="input deck (TOML)")
    e.add_argument("--json", metavar="OUT.json", default="-",
                   help="write energy, energy_terms, forces, stress, charges here (default: stdout)")
    e.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], help="override any deck key")
    return p


def _overrides(args):
    from echemmd.io.deck import parse_overrides

    overrides = parse_overrides(args.set)
    if getattr(args, "steps", None) is not None:
        overrides["md.steps"] = args.steps
    if getattr(args, "output", None) is not None:
        overrides["output.directory"] = args.output
    return overrides


def main(argv=None) -> int:
    """Entry point of the ``echemmd`` console script."""
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return EXIT_INPUT
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

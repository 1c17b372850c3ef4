"""Training decks (``echemmd train TRAIN.toml``): TOML checked against a declarative schema.

The same machinery as the run deck (:mod:`echemmd.io.deck`): unknown sections and keys,
wrong types and values outside the allowed ones are errors that name the file, the
dotted key and what is allowed; the key reference in ``docs/training.md`` is generated
from this schema (``python -m echemmd.io.train_deck --write-docs docs/training.md``).
"""

from __future__ import annotations

import copy
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from echemmd.errors import InputError
from echemmd.io.deck import (
    REQUIRED,
    TYPES,
    Key,
    Section,
    _Context,
    _check_table,
    _join,
    _md_cell,
    _suggest,
    _toml_repr,
)
from echemmd.network import ACTIVATIONS

HIDDEN_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a != "linear")
CUTOFFS = ("cos", "poly1", "poly2", "poly3", "poly4", "tanhu", "tanh", "exp", "hard")

SECTIONS: tuple[Section, ...] = (
    Section("data", required=True, heading="[data]",
            description="The reference data: extended XYZ as ASE writes it (energy, forces, optionally "
                        "stress, charges, total_charge per frame). Frames may differ in size, elements "
                        "and cell."),
    Section("descriptors", heading="[descriptors]",
            description="Symmetry functions from a recipe (`preset`, see docs/training.md), unless "
                        "`[[function]]` tables list them explicitly."),
    Section("function", kind="array", heading="[[function]]",
            description="Explicit symmetry functions (n2p2 conventions, DESIGN §4), one table each; "
                        "replaces the recipe of `[descriptors]`. Without `center` a function applies to "
                        "every element."),
    Section("network", heading="[network]", description="One multilayer perceptron per element."),
    Section("charges", heading="[charges]",
            description="The model's charge model, whose long-range electrostatics (Ewald of Gaussian "
                        "charges minus the switched short-range Coulomb) is subtracted from the references "
                        "before fitting (Delta learning) and carried by the model file, so a run adds back "
                        "exactly what was subtracted."),
    Section("switch", heading="[switch]",
            description="Radii of the C2 switch that removes the short-range Coulomb the networks learn "
                        "(DESIGN §5). Needed with a charge model."),
    Section("training", heading="[training]", description="Loss weights and the optimiser."),
    Section("output", heading="[output]",
            description="Where results go. File names are inside `directory` (relative to where "
                        "`echemmd train` runs)."),
)

KEYS: tuple[Key, ...] = (
    Key("data", "train", "path", description="Training data set (extended XYZ)."),
    Key("data", "validation", "path", None,
        description="Validation data set; default: `validation_fraction` of the training frames."),
    Key("data", "test", "path", None,
        description="Extra held-out data set (e.g. larger cells), reported but never used to fit or select."),
    Key("data", "validation_fraction", "float", 0.1, min=0.0, max=0.9,
        description="Fraction of the frames of `train` held out for validation (drawn with `training.seed`)."),
    Key("data", "format", "str", "", description="ASE format of the data files (default: from the name)."),
    Key("data", "cache", "bool", True,
        description="Cache descriptors and long-range parts in `output.directory`/descriptors.h5, keyed "
                    "by the data's SHA-256 and the settings, so a second run does not recompute them."),
    Key("descriptors", "r_c", "float", 6.0, unit="Å", min=0.0, min_inclusive=False,
        description="Cutoff radius of the recipe's functions."),
    Key("descriptors", "preset", "str", "shifted", choices=("shifted", "centered"),
        description="Radial grid: `shifted` (Gaussians centred from `r_min` to r_c, width = spacing) or "
                    "`centered` (r_s = 0, widths from `r_min` to r_c)."),
    Key("descriptors", "n_radial", "int", 6, min=1, description="Radial functions per neighbour element."),
    Key("descriptors", "n_angular", "int", 2, min=0,
        description="Angular (type 9) exponents zeta = 1, 2, 4, ... per neighbour pair, each with "
                    "lambda = +1 and -1."),
    Key("descriptors", "r_c_angular", "float", None, unit="Å", min=0.0, min_inclusive=False,
        description="Cutoff of the angular functions (default: `r_c`); a shorter one keeps the first "
                    "shells' angles and cuts the cost, which grows as its sixth power."),
    Key("descriptors", "r_min", "float", 0.8, unit="Å", min=0.0, min_inclusive=False,
        description="Shortest distance the radial grid resolves."),
    Key("descriptors", "cutoff", "str", "poly2", choices=CUTOFFS, description="Cutoff function."),
    Key("function", "type", "int", choices=(2, 3, 9), description="2 radial, 3 narrow angular, 9 wide angular."),
    Key("function", "neighbors", "str|list[str]", description="Neighbour element (type 2) or pair (3, 9)."),
    Key("function", "center", "str", None, description="Central element (default: every element)."),
    Key("function", "eta", "float", unit="1/Å^2", min=0.0, description="Gaussian exponent."),
    Key("function", "r_s", "float", 0.0, unit="Å", description="Gaussian shift."),
    Key("function", "zeta", "float", None, min=0.0, min_inclusive=False, description="Angular exponent (3, 9)."),
    Key("function", "lambda", "int", None, choices=(1, -1), description="Angular sign (3, 9)."),
    Key("function", "r_c", "float", unit="Å", min=0.0, min_inclusive=False, description="Cutoff radius."),
    Key("function", "cutoff", "str", "poly2", choices=CUTOFFS, description="Cutoff function."),
    Key("function", "cutoff_alpha", "float", 0.0, min=0.0, max=1.0, max_inclusive=False,
        description="Inner cutoff as a fraction of r_c."),
    Key("network", "hidden", "list[int]", [25, 25], min=1, description="Neurons of each hidden layer."),
    Key("network", "activation", "str", "tanh", choices=HIDDEN_ACTIVATIONS, description="Hidden activation."),
    Key("charges", "model", "str", "none", choices=("none", "fixed", "qeq", "4g"),
        description="`none`: short range only; `fixed`: a charge per element (`charges`); `qeq`: charge "
                    "equilibration with `qeq` (elements without QEq parameters keep a fixed charge from "
                    "`charges`: e.g. a metal with J = 0, an equipotential at the frame's total charge, "
                    "beside a fixed-charge electrolyte); `4g`: a fourth-generation model (docs/4g.md): "
                    "electronegativity networks and hardness fitted to the frames' reference charges, "
                    "then short-range networks that also read the charge (`sigma` per element; "
                    "`[switch]` screens the pair Coulomb the networks learn)."),
    Key("charges", "charges", "table", None, unit="e",
        description='Fixed charge per element, e.g. `{ Na = 1.0, Cl = -1.0 }` (with `qeq`: the elements '
                    'that have no QEq parameters).'),
    Key("charges", "sigma", "table", None, unit="Å",
        description="Gaussian width per element (absent or 0: point charge; QEq needs > 0)."),
    Key("charges", "qeq", "table", None,
        description='Per element `{ chi = eV/e, J = eV/e^2 }`, e.g. `{ O = { chi = 8.5, J = 12.0 } }`.'),
    Key("charges", "hardness", "table", None, unit="eV/e^2",
        description="`4g`: starting hardness J per element (default 10; an element started at 0 stays "
                    "at 0, a metal)."),
    Key("charges", "fit_hardness", "bool", True, description="`4g`: fit the hardness with the electronegativities."),
    Key("charges", "hidden", "list[int]", None, min=1,
        description="`4g`: hidden layers of the electronegativity networks (default: `network.hidden`)."),
    Key("charges", "epochs", "int", 200, min=1,
        description="`4g`: iterations (L-BFGS) or passes (Adam) of the charge fit, with `training`'s "
                    "optimizer and patience."),
    Key("charges", "accuracy", "float", 1e-6, min=0.0, min_inclusive=False,
        description="Relative accuracy of the Ewald sum used for the long-range part."),
    Key("switch", "r_on", "float", REQUIRED, unit="Å", min=0.0, description="Switch starts."),
    Key("switch", "r_off", "float", REQUIRED, unit="Å", min=0.0, min_inclusive=False,
        description="Switch ends: Coulomb fully on beyond."),
    Key("training", "optimizer", "str", "adam", choices=("adam", "lbfgs"),
        description="`adam` (mini-batches, decaying step) or `lbfgs` (scipy L-BFGS-B, full batch; small sets)."),
    Key("training", "epochs", "int", 200, min=1, description="Adam: passes over the data; L-BFGS: iterations."),
    Key("training", "batch_size", "int", 8, min=1, description="Frames per Adam step."),
    Key("training", "learning_rate", "float", 1e-3, min=0.0, min_inclusive=False, description="Adam's step."),
    Key("training", "lr_decay", "float", 0.98, min=0.0, max=1.0, min_inclusive=False,
        description="Factor on the learning rate after every epoch."),
    Key("training", "lr_min", "float", 1e-5, min=0.0, description="Smallest learning rate."),
    Key("training", "patience", "int", 50, min=0,
        description="Stop when the validation loss has not improved for this many epochs (0: never)."),
    Key("training", "energy_weight", "float", 1.0, min=0.0, description="Weight of (dE/N)^2, eV^2/atom^2."),
    Key("training", "force_weight", "float", 1.0, min=0.0, unit="Å^2",
        description="Weight of the mean squared force-component error."),
    Key("training", "stress_weight", "float", 0.0, min=0.0,
        description="Weight of the squared virial error per atom (V dsigma / N)^2; frames without stress "
                    "skip it."),
    Key("training", "seed", "int", 0, min=0, description="Seeds the split, the initial weights and the batches."),
    Key("output", "directory", "str", "train", description="Output directory."),
    Key("output", "model", "str", "model.h5", description="The model file (HDF5), for `[model] path`."),
    Key("output", "log", "str", "log.csv", description="Per-epoch CSV log."),
    Key("output", "report", "str", "report.txt", description="Errors of the best model (also as report.json)."),
    Key("output", "plots", "bool", True, description="Learning curve and parity plots (PNG)."),
)

_SCHEMA = (SECTIONS, KEYS)


@dataclass
class TrainDeck:
    """A validated training deck: ``data`` maps section -> values (defaults filled)."""

    path: Path | None
    source: str
    data: dict
    warnings: list = field(default_factory=list)

    def __getitem__(self, section):
        return self.data[section]

    def output_path(self, key) -> Path:
        out = self.data["output"]
        return Path(out["directory"]) / out[key]


def load_train_deck(path, overrides: dict | None = None) -> TrainDeck:
    """Read and validate a training deck (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"training deck not found: {path}") from None
    return loads_train_deck(text, path.absolute().parent, str(path), overrides, path.absolute())


def loads_train_deck(text, base_dir=".", source="<string>", overrides=None, path=None) -> TrainDeck:
    """Validate a training deck given as TOML text; relative data paths are taken from ``base_dir``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: TOML syntax error: {exc}") from None
    raw = copy.deepcopy(raw)
    ctx = _Context(source, Path(base_dir).absolute())
    for dotted, value in (overrides or {}).items():
        sec, _, key = dotted.partition(".")
        if not key:
            ctx.error(dotted, "an override needs section.key")
            continue
        if isinstance(value, str):
            try:  # command-line values are TOML values ("100", "[10, 10]", "true"); anything else a string
                value = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                pass
        raw.setdefault(sec, {})[key] = value
        ctx.overridden.add(dotted)
    names = [s.name for s in SECTIONS]
    for name in raw:
        if name not in names:
            ctx.error(None, f"unknown section [{name}]{_suggest(name, names)}. Valid sections: {', '.join(names)}")
    data = {}
    for sec in SECTIONS:
        value = raw.get(sec.name)
        if value is None and sec.required:
            ctx.error(None, f"missing required section {sec.heading}")
        if sec.kind == "array":
            if value is None:
                value = []
            if not isinstance(value, list):
                ctx.error(sec.name, f"write [[{sec.name}]] (an array of tables), not [{sec.name}]")
                value = []
            data[sec.name] = [_check_table(v, sec.name, f"{sec.name}[{i}]", ctx, _SCHEMA) for i, v in enumerate(value)]
        elif sec.name == "switch":
            data[sec.name] = None if value is None else _check_table(value, sec.name, sec.name, ctx, _SCHEMA)
        else:
            data[sec.name] = _check_table({} if value is None else value, sec.name, sec.name, ctx, _SCHEMA)
    ctx.raise_if_errors()
    _check_charges(data, ctx)
    for i, f in enumerate(data["function"]):
        if f["type"] in (3, 9) and (f["zeta"] is None or f["lambda"] is None):
            ctx.error(f"function[{i}]", "angular functions (type 3, 9) need zeta and lambda")
    sw = data["switch"]
    if sw is not None and not sw["r_on"] < sw["r_off"]:
        ctx.error("switch", f"needs r_on < r_off, got {sw['r_on']} and {sw['r_off']}")
    ctx.raise_if_errors()
    return TrainDeck(path=path, source=source, data=data, warnings=list(ctx.warnings))


def _check_charges(data, ctx):
    ch = data["charges"]
    model = ch["model"]
    for key in ("charges", "sigma", "hardness"):
        for el, v in (ch[key] or {}).items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                ctx.error(_join(f"charges.{key}", el), f"must be a number, got {v!r}")
    for el, p in (ch["qeq"] or {}).items():
        if not isinstance(p, dict) or set(p) != {"chi", "J"}:
            ctx.error(_join("charges.qeq", el), f"must be a table {{ chi = ..., J = ... }}, got {p!r}")
    if model == "fixed" and not ch["charges"]:
        ctx.error("charges.charges", 'model = "fixed" needs a charge per element')
    if model == "qeq" and not ch["qeq"]:
        ctx.error("charges.qeq", 'model = "qeq" needs chi and J per element')
    if model == "4g":
        if not ch["sigma"]:
            ctx.error("charges.sigma", 'model = "4g" needs a Gaussian width per element')
        for key in ("charges", "qeq"):
            if ch[key]:
                ctx.error(f"charges.{key}", 'is not used by model = "4g" (its charges come from the '
                          "electronegativity networks); remove it")
    else:
        for key in ("hardness", "hidden"):
            if ch[key]:
                ctx.warnings.append(f"{ctx.source}: charges.{key} is ignored because charges.model = \"{model}\" "
                                    "(it applies to model = \"4g\")")
    if model != "none" and data["switch"] is None:
        ctx.error("switch", f'charges.model = "{model}" needs a [switch] (r_on, r_off): without it the '
                  "short-range Coulomb would be counted by the networks and by the Ewald sum")
    if model == "none":
        for key in ("charges", "sigma", "qeq"):
            if ch[key]:
                ctx.warnings.append(f"{ctx.source}: charges.{key} is ignored because charges.model = \"none\"")


def schema_markdown() -> str:
    """Key reference of the training deck in Markdown."""
    lines = []
    for sec in SECTIONS:
        keys = [k for k in KEYS if k.section == sec.name]
        lines += [f"### `{sec.heading}`{' (required)' if sec.required else ''}", "", sec.description, ""]
        lines += ["| key | type | unit | default | allowed | description |", "|---|---|---|---|---|---|"]
        for k in keys:
            default = "**required**" if k.required else f"`{_toml_repr(k.default)}`"
            cells = [f"`{k.name}`", TYPES[k.type], k.unit, default, k.allowed_text(), k.description]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


GENERATED_BEGIN = ("<!-- BEGIN GENERATED KEY REFERENCE: python -m echemmd.io.train_deck --write-docs "
                   "docs/training.md -->")
GENERATED_END = "<!-- END GENERATED KEY REFERENCE -->"


def update_docs(path) -> bool:
    """Rewrite the generated key reference in ``path``; True if it changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    head, sep1, rest = text.partition(GENERATED_BEGIN)
    _, sep2, tail = rest.partition(GENERATED_END)
    if not sep1 or not sep2:
        raise ValueError(f"{path} lacks the generated-section markers")
    new = f"{head}{GENERATED_BEGIN}\n\n{schema_markdown()}\n{GENERATED_END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def _main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m echemmd.io.train_deck")
    parser.add_argument("--write-docs", metavar="FILE")
    args = parser.parse_args(argv)
    if args.write_docs:
        print(f"{args.write_docs}: {'updated' if update_docs(args.write_docs) else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())

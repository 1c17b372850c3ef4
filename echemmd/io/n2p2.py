"""Import and export of n2p2 short-range models: input.nn, scaling.data, weights.NNN.data.

These are the files n2p2 (nnp-predict, nnp-train) and LAMMPS ``pair_style hdnnp``
read. The conventions below were checked against n2p2's sources (Mode.cpp,
Settings.cpp, SymFnc*.cpp, NeuralNetwork.cpp, CutoffFunction.h) and against the
symmetry-function table of n2p2's own log for its H2O RPBE-D3 example (see
tests/data/n2p2/README.md).

input.nn
    One keyword per line; everything after ``#`` or ``!`` is a comment. Elements
    are indexed by atomic number, whatever the order on the ``elements`` line.
    One ``cutoff_type T [alpha]`` holds for every symmetry function (0 hard,
    1 cos, 2 tanhu, 3 tanh, 4 exp, 5-8 poly1-poly4; alpha is the inner cutoff as
    a fraction of r_c). Symmetry-function lines::

        symfunction_short <center> 2 <e1> <eta> <r_s> <r_c>
        symfunction_short <center> 3|9 <e1> <e2> <eta> <lambda> <zeta> <r_c> [<r_s>]

    Per element the network inputs are these functions sorted by the key
    (type, cutoff type, alpha, r_c, eta, r_s, zeta, lambda, e1, e2), with the
    neighbour elements by atomic number and e1 <= e2 (n2p2's ``operator<`` of
    SymFncExpRad / SymFncExpAngn / SymFncExpAngw; type-2 functions have no zeta,
    lambda or e2). The file order does not matter.
scaling.data
    Rows ``element_index function_index G_min G_max G_mean [G_sigma]`` (1-based,
    elements by atomic number, functions in sorted order); ``#`` lines are comments.
weights.NNN.data (NNN = atomic number, 3 digits)
    First column: per layer, the weights with the target neuron fastest, then the
    layer's biases. The other columns (a/b, counter, layer and neuron indices), when
    present, are checked.

Units. The files are in the units of the training data; ``length_unit`` and
``energy_unit`` say which ("Angstrom" or "Bohr", "eV" or "Hartree"). The
description returned is in Å and eV: eta scales as 1/length^2, r_s and r_c as
length; atom energies and mean_energy as energy; conv_energy becomes network units
per eV and conv_length normalised units per Å. Symmetry-function values (and so
scaling.data) are dimensionless and invariant under these conversions and under
n2p2's conv_length normalisation (see ``echemmd.network``), so G computed in Å from
the converted parameters is exactly what the network saw in training.

4G-HDNNP (``nnp_generation 4``; conventions in docs/4g.md)
    The short-range networks take the raw atomic charge as one more input after the
    scaled symmetry functions; weightse.NNN.data hold the electronegativity networks
    (``global_*_electrostatic``, same symmetry functions and scaling), hardness.NNN.data
    one hardness J (energy/e^2), ``fixed_gausswidth`` the Gaussian width sigma (length)
    and ``screen_electrostatics r_in r_out`` the cosine screening of the pair Coulomb.
    ``read_n2p2`` returns an ``echemmd.fourthgen.FourthGenModel`` for such a directory;
    ``write_n2p2_4g`` writes one.

Not supported (each is a clear ``InputError``): separate electrostatic symmetry functions,
normalised 4G models, committee models, ``normalize_nodes``, per-element architectures
(``element_nodes_short`` etc., whose syntax differs between n2p2 versions), and
symmetry-function types other than 2, 3 and 9.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echemmd.errors import InputError
from echemmd.kernels.activations import N2P2_LETTER_OF, N2P2_LETTERS
from echemmd.network import ElementNetwork, ElementNetworks
from echemmd.units import BOHR, HARTREE

#: n2p2 cutoff type number -> name used in symmetry-function descriptions.
CUTOFF_TYPES = {0: "hard", 1: "cos", 2: "tanhu", 3: "tanh", 4: "exp",
                5: "poly1", 6: "poly2", 7: "poly3", 8: "poly4"}
CUTOFF_NUMBERS = {name: number for number, name in CUTOFF_TYPES.items()}
#: Symmetry-function types read and written.
SYMMETRY_FUNCTION_TYPES = (2, 3, 9)

_LENGTH_UNITS = {"angstrom": 1.0, "ang": 1.0, "a": 1.0, "å": 1.0, "bohr": BOHR}
_ENERGY_UNITS = {"ev": 1.0, "hartree": HARTREE, "ha": HARTREE}

# Keywords of input.nn that define the model and are read here.
_MODEL_KEYWORDS = {
    "number_of_elements", "elements", "atom_energy", "cutoff_type", "symfunction_short",
    "scale_symmetry_functions", "center_symmetry_functions", "scale_symmetry_functions_sigma",
    "scale_min_short", "scale_max_short", "global_hidden_layers_short", "global_nodes_short",
    "global_activation_short", "mean_energy", "conv_energy", "conv_length", "conv_charge",
    "nnp_type", "nn_type", "nnp_generation", "committee_mode",
}
# Keywords that define something this reader does not implement: refusing them is
# better than silently computing a different model.
_UNSUPPORTED_KEYWORDS = {
    "normalize_nodes": "normalised node inputs (normalize_nodes) are not supported",
    "element_hidden_layers_short": "per-element network architectures are not supported",
    "element_nodes_short": "per-element network architectures are not supported "
                           "(their syntax differs between n2p2 versions)",
    "element_activation_short": "per-element activation functions are not supported",
    "symfunction_electrostatic": "separate electrostatic symmetry functions are not supported (n2p2's 4G-HDNNP "
                                 "networks share symfunction_short)",
    "element_nodes_electrostatic": "per-element network architectures are not supported",
    "element_hidden_layers_electrostatic": "per-element network architectures are not supported",
    "element_activation_electrostatic": "per-element activation functions are not supported",
    "committee_dir_prefix": "committee models are not supported",
}
#: Keywords of a 4G-HDNNP (``nnp_generation 4``), refused in a 2G model.
_KEYWORDS_4G = {"fixed_gausswidth", "screen_electrostatics", "initial_hardness",
                "global_hidden_layers_electrostatic", "global_nodes_electrostatic",
                "global_activation_electrostatic", "ewald_truncation_error_method", "ewald_prec",
                "four_pi_epsilon"}
#: 4G keywords that do not change a prediction here: training start values and n2p2's own Ewald
#: accuracy (echemmd converges its Ewald sums to the accuracy a run asks for).
_IGNORED_4G = {"initial_hardness", "ewald_truncation_error_method", "ewald_prec"}
# Training and bookkeeping keywords n2p2 knows; they do not change predictions.
_IGNORED_KEYWORDS = {
    "random_seed", "test_fraction", "epochs", "use_short_forces", "rmse_threshold",
    "rmse_threshold_energy", "rmse_threshold_force", "rmse_threshold_charge", "rmse_threshold_trials",
    "rmse_threshold_trials_energy", "rmse_threshold_trials_force", "rmse_threshold_trials_charge",
    "energy_fraction", "force_fraction", "charge_fraction", "use_old_weights_short",
    "use_old_weights_charge", "weights_min", "weights_max", "nguyen_widrow_weights_short",
    "nguyen_widrow_weights_charge", "precondition_weights", "main_error_metric", "write_trainpoints",
    "write_trainforces", "write_traincharges", "write_weights_epoch", "write_neuronstats",
    "write_trainlog", "repeated_energy_update", "updater_type", "parallel_mode", "jacobian_mode",
    "update_strategy", "selection_mode", "selection_mode_energy", "selection_mode_force",
    "selection_mode_charge", "task_batch_size_energy", "task_batch_size_force", "task_batch_size_charge",
    "gradient_type", "gradient_eta", "gradient_adam_eta", "gradient_adam_beta1", "gradient_adam_beta2",
    "gradient_adam_epsilon", "kalman_type", "kalman_epsilon", "kalman_eta", "kalman_etatau",
    "kalman_etamax", "kalman_q0", "kalman_qtau", "kalman_qmin", "kalman_lambda_short",
    "kalman_nue_short", "memorize_symfunc_results", "force_weight", "short_energy_error_threshold",
    "short_force_error_threshold", "short_energy_fraction", "short_force_fraction",
    "write_symfunctions", "write_symfunction_stats", "calculate_forces",
}
# An unknown keyword containing one of these looks like part of the model (a typo
# of a model keyword, or a feature of a newer n2p2): an error, not a warning.
_MODEL_LIKE = ("symfunction", "activation", "nodes", "hidden_layers", "scale", "center_",
               "cutoff", "atom_energy", "mean_energy", "conv_", "normaliz", "element")
_SINGLE = _MODEL_KEYWORDS - {"atom_energy", "symfunction_short"}


def _atomic_number(symbol: str) -> int:
    from ase.data import atomic_numbers

    z = atomic_numbers.get(symbol, 0)
    return z


def _unit(value, table, what) -> float:
    key = str(value).strip().lower()
    if key not in table:
        raise InputError(f"{what} {value!r} is unknown; allowed: "
                         f"{'Angstrom, Bohr' if what == 'length_unit' else 'eV, Hartree'}")
    return table[key]


def cutoff_number(cutoff) -> int:
    """n2p2 cutoff type number of a name ("tanhu") or number (2)."""
    if isinstance(cutoff, str) and cutoff in CUTOFF_NUMBERS:
        return CUTOFF_NUMBERS[cutoff]
    try:
        number = int(cutoff)
    except (TypeError, ValueError):
        number = -1
    if number not in CUTOFF_TYPES:
        raise InputError(f"unknown cutoff type {cutoff!r}; allowed: "
                         + ", ".join(f"{k} ({v})" for k, v in CUTOFF_TYPES.items()))
    return number


def sort_key(function: dict) -> tuple:
    """n2p2's ordering key of one symmetry function of one central element.

    (type, cutoff type, alpha, r_c, eta, r_s, zeta, lambda, Z(e1), Z(e2)) with
    Z(e1) <= Z(e2); type 2 has zeta = lambda = 0 and Z(e2) = -1 as placeholders
    (only functions of the same type are ever compared beyond the first entry).
    Atomic numbers order the neighbours exactly as n2p2's element indices do.
    """
    t = int(function["type"])
    zs = sorted(_atomic_number(e) for e in function["neighbors"])
    head = (t, cutoff_number(function["cutoff"]), float(function["cutoff_alpha"]),
            float(function["r_c"]), float(function["eta"]), float(function["r_s"]))
    if t == 2:
        return head + (0.0, 0.0, zs[0], -1)
    return head + (float(function["zeta"]), float(function["lambda"]), zs[0], zs[1])


def sort_symmetry_functions(functions) -> list:
    """Indices that put ``functions`` (one central element) into n2p2's network-input order.

    The sort is stable, so identical functions keep their relative order.
    """
    return sorted(range(len(functions)), key=lambda i: sort_key(functions[i]))


def function_columns(elements, symmetry_functions) -> dict:
    """Element -> the columns of its functions when all elements' functions are laid out in ``elements`` order."""
    out, start = {}, 0
    for e in elements:
        n = len(symmetry_functions[e])
        out[e] = np.arange(start, start + n, dtype=np.int64)
        start += n
    return out


@dataclass
class N2P2Model:
    """Neutral description of an n2p2 short-range model, in Å and eV.

    Attributes
    ----------
    elements : list of str
        Element symbols by increasing atomic number (n2p2's element index order).
    symmetry_functions : dict str -> list of dict
        Per central element, its symmetry functions in network-input order (n2p2's
        sorted order for a model read from files). Each dict has the keys
        ``type`` (2, 3 or 9), ``center``, ``neighbors`` (one symbol for type 2, two
        sorted by atomic number for 3 and 9), ``eta`` (1/Å^2), ``r_s`` (Å),
        ``zeta`` and ``lambda`` (types 3 and 9 only; absent for type 2), ``r_c`` (Å),
        ``cutoff`` (name, see ``CUTOFF_TYPES``) and ``cutoff_alpha`` (inner cutoff as
        a fraction of r_c). This is the format ``echemmd.descriptors`` accepts.
    networks : ElementNetworks
        Networks, input scaling and statistics (rows in the same order as the
        functions), atom energies and normalisation, in eV.
    """

    elements: list
    symmetry_functions: dict
    networks: ElementNetworks

    @property
    def cutoff(self) -> float:
        """Largest symmetry-function cutoff radius, Å."""
        return max(f["r_c"] for fs in self.symmetry_functions.values() for f in fs)

    def all_functions(self) -> list:
        """All symmetry functions in one list: element by element (``elements`` order), each in input order.

        This is the column order of a single G matrix over all functions (e.g.
        ``echemmd.descriptors.SymmetryFunctions(model.all_functions())``).
        """
        return [f for e in self.elements for f in self.symmetry_functions[e]]

    def columns(self) -> dict:
        """Element -> indices of its network inputs among ``all_functions()`` (int64 arrays).

        Pass as ``columns`` to ``ElementNetworks.energies_and_gradients``.
        """
        return function_columns(self.elements, self.symmetry_functions)


# ----------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------


def _settings_lines(path: Path):
    """(line number, keyword, arguments) of input.nn, as n2p2's Settings::parseLines splits them."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: n2p2 settings file not found") from None
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        for mark in ("#", "!"):
            if mark in line:
                line = line[:line.index(mark)]
        parts = line.split()
        if parts:
            out.append((number, parts[0], parts[1:]))
    return out


def _float(path, number, token, what) -> float:
    try:
        value = float(token)
    except ValueError:
        raise InputError(f"{path}:{number}: {what} must be a number, got {token!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{path}:{number}: {what} must be finite, got {token!r}")
    return value


def _int(path, number, token, what) -> int:
    try:
        return int(token)
    except ValueError:
        raise InputError(f"{path}:{number}: {what} must be an integer, got {token!r}") from None


def _parse_symmetry_function(path, number, args, elements):
    """One ``symfunction_short`` line -> dict in file units (without cutoff fields)."""
    usage2 = "symfunction_short <center> 2 <e1> <eta> <r_s> <r_c>"
    usage3 = "symfunction_short <center> 3|9 <e1> <e2> <eta> <lambda> <zeta> <r_c> [<r_s>]"
    if len(args) < 2:
        raise InputError(f"{path}:{number}: expected '{usage2}' or '{usage3}'")
    t = _int(path, number, args[1], "symmetry function type")
    if t not in SYMMETRY_FUNCTION_TYPES:
        raise InputError(f"{path}:{number}: symmetry function type {t} is not supported; "
                         f"supported: {', '.join(map(str, SYMMETRY_FUNCTION_TYPES))}")
    n_symbols = 2 if t == 2 else 3
    for sym in args[:1] + args[2:2 + n_symbols - 1]:
        if sym not in elements:
            raise InputError(f"{path}:{number}: element {sym!r} is not on the 'elements' line "
                             f"({' '.join(elements)})")
    if t == 2:
        if len(args) != 6:
            raise InputError(f"{path}:{number}: expected '{usage2}' (6 fields), got {len(args)}")
        eta, r_s, r_c = (_float(path, number, args[i], n) for i, n in ((3, "eta"), (4, "r_s"), (5, "r_c")))
        return {"type": 2, "center": args[0], "neighbors": [args[2]], "eta": eta, "r_s": r_s, "r_c": r_c}
    if len(args) not in (8, 9):
        raise InputError(f"{path}:{number}: expected '{usage3}' (8 or 9 fields), got {len(args)}")
    eta = _float(path, number, args[4], "eta")
    lam = _float(path, number, args[5], "lambda")
    zeta = _float(path, number, args[6], "zeta")
    r_c = _float(path, number, args[7], "r_c")
    r_s = _float(path, number, args[8], "r_s") if len(args) == 9 else 0.0
    neighbors = sorted(args[2:4], key=_atomic_number)
    return {"type": t, "center": args[0], "neighbors": neighbors, "eta": eta, "r_s": r_s,
            "zeta": zeta, "lambda": lam, "r_c": r_c}


def _read_scaling(path: Path, elements, counts):
    """scaling.data -> dict element -> (n, 4) statistics, checking element and function indices."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if s and not s.startswith("#"):
            rows.append((number, s.split()))
    stats, pos = {}, 0
    for ie, e in enumerate(elements):
        n = counts[e]
        block = np.zeros((n, 4))
        for k in range(n):
            if pos >= len(rows):
                raise InputError(f"{path}: ends after {len(rows)} rows; expected a row for element index "
                                 f"{ie + 1} ({e}), function {k + 1} of {n}")
            number, tok = rows[pos]
            pos += 1
            if len(tok) not in (5, 6):
                raise InputError(f"{path}:{number}: expected 'element_index function_index G_min G_max G_mean "
                                 f"[G_sigma]', got {len(tok)} fields")
            ei = _int(path, number, tok[0], "element index")
            fi = _int(path, number, tok[1], "function index")
            if (ei, fi) != (ie + 1, k + 1):
                raise InputError(f"{path}:{number}: expected element index {ie + 1} ({e}) and function index "
                                 f"{k + 1} (of {n}), got {ei} {fi}")
            vals = [_float(path, number, tok[i], name) for i, name in
                    ((2, "G_min"), (3, "G_max"), (4, "G_mean"))]
            # Older n2p2 versions write no sigma; n2p2 then keeps 0.
            vals.append(_float(path, number, tok[5], "G_sigma") if len(tok) == 6 else 0.0)
            block[k] = vals
        stats[e] = block
    if pos != len(rows):
        number = rows[pos][0]
        raise InputError(f"{path}:{number}: unexpected extra row; expected {sum(counts.values())} rows "
                         f"({', '.join(f'{e}: {counts[e]}' for e in elements)})")
    return stats


def _read_weights(path: Path, element, sizes):
    """weights.NNN.data -> flat parameter vector, checking count and (when present) the index columns."""
    n_expected = sum(sizes[l] * sizes[l + 1] + sizes[l + 1] for l in range(len(sizes) - 1))
    # Expected labels of every parameter, as n2p2's NeuralNetwork::writeConnections writes them.
    labels = []
    for l in range(1, len(sizes)):
        for j in range(sizes[l - 1]):
            for k in range(sizes[l]):
                labels.append(("a", (l - 1, j + 1, l, k + 1)))
        for k in range(sizes[l]):
            labels.append(("b", (l, k + 1)))
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: weights file of element {element} is missing; expected {n_expected} "
                         f"parameters for layers {list(sizes)}") from None
    values, last = [], 0
    for number, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        last = number
        tok = s.split()
        i = len(values)
        if i >= n_expected:
            raise InputError(f"{path}:{number}: parameter {i + 1} is one too many; layers {list(sizes)} of "
                             f"element {element} have {n_expected} parameters")
        values.append(_float(path, number, tok[0], "connection value"))
        kind, idx = labels[i]
        if len(tok) >= 2:
            desc = (f"weight from layer {idx[0]} neuron {idx[1]} to layer {idx[2]} neuron {idx[3]}"
                    if kind == "a" else f"bias of layer {idx[0]} neuron {idx[1]}")
            found = tok[1:]
            ok = tok[1] == kind
            if ok and len(tok) >= 3:
                ok = tok[2] == str(i + 1)
            if ok and len(tok) == 3 + len(idx):
                ok = tuple(tok[3:]) == tuple(str(v) for v in idx)
            if not ok:
                raise InputError(f"{path}:{number}: expected parameter {i + 1} to be the {desc} "
                                 f"('{kind} {i + 1} {' '.join(map(str, idx))}') for layers {list(sizes)}, "
                                 f"found '{' '.join(found)}'")
    if len(values) != n_expected:
        raise InputError(f"{path}: has {len(values)} parameters (last at line {last}); layers {list(sizes)} "
                         f"of element {element} need {n_expected}")
    return np.array(values)


def read_n2p2(directory, length_unit="Angstrom", energy_unit="eV", input_file="input.nn",
              scaling_file="scaling.data", weights_format="weights.{:03d}.data") -> N2P2Model:
    """Read an n2p2 short-range model.

    Parameters
    ----------
    directory : path
        Folder with input.nn, scaling.data and weights.NNN.data.
    length_unit : {"Angstrom", "Bohr"}
        Length unit of the model files (of the training data).
    energy_unit : {"eV", "Hartree"}
        Energy unit of the model files.
    input_file, scaling_file, weights_format : str
        File names inside ``directory``; ``weights_format`` is formatted with the atomic number.

    Returns
    -------
    N2P2Model
        In Å and eV.

    Raises
    ------
    InputError
        Naming the file, the line and what was expected.
    """
    L = _unit(length_unit, _LENGTH_UNITS, "length_unit")
    U = _unit(energy_unit, _ENERGY_UNITS, "energy_unit")
    directory = Path(directory)
    path = directory / input_file
    lines = _settings_lines(path)

    seen = {}
    single = {}
    multi = {"atom_energy": [], "symfunction_short": [], "fixed_gausswidth": []}
    generation = 2
    for number, key, args in lines:
        if key == "nnp_generation":
            if args == ["4"]:
                generation = 4
            elif args != ["2"]:
                raise InputError(f"{path}:{number}: nnp_generation {' '.join(args)} is not supported; only 2 "
                                 "(short range) and 4 (4G-HDNNP)")
        if key in ("nnp_type", "nn_type") and args and args[0] in ("4", "4G-HDNNP"):
            generation = 4
    for number, key, args in lines:
        if key in _UNSUPPORTED_KEYWORDS:
            raise InputError(f"{path}:{number}: keyword {key!r}: {_UNSUPPORTED_KEYWORDS[key]}")
        if key in _KEYWORDS_4G or key.endswith("_electrostatic") or key.startswith("ewald"):
            if generation != 4:
                raise InputError(f"{path}:{number}: keyword {key!r} belongs to a 4G-HDNNP; add "
                                 "'nnp_generation 4' or remove it")
            if key not in _KEYWORDS_4G:
                raise InputError(f"{path}:{number}: unknown 4G keyword {key!r} (known: "
                                 f"{', '.join(sorted(_KEYWORDS_4G))})")
            if key in _IGNORED_4G:
                continue
            if key == "four_pi_epsilon":
                raise InputError(f"{path}:{number}: four_pi_epsilon is not supported: echemmd uses k_e in the "
                                 "model's units (1 in Bohr and Hartree)")
            if key == "fixed_gausswidth":
                multi[key].append((number, args))
                continue
            if key in seen:
                raise InputError(f"{path}:{number}: keyword {key!r} given twice (first at line {seen[key]})")
            seen[key] = number
            single[key] = (number, args)
            continue
        if key in _MODEL_KEYWORDS:
            if key in _SINGLE:
                if key in seen:
                    raise InputError(f"{path}:{number}: keyword {key!r} given twice (first at line {seen[key]})")
                seen[key] = number
                single[key] = (number, args)
            else:
                multi[key].append((number, args))
        elif key in _IGNORED_KEYWORDS:
            continue
        elif any(p in key for p in _MODEL_LIKE):
            raise InputError(f"{path}:{number}: unknown keyword {key!r} looks like part of the model "
                             f"definition; check the spelling (known: {', '.join(sorted(_MODEL_KEYWORDS))})")
        else:
            warnings.warn(f"{path}:{number}: unknown keyword {key!r} ignored (n2p2 ignores it too)",
                          stacklevel=2)

    def need(key):
        if key not in single:
            raise InputError(f"{path}: keyword {key!r} is missing")
        return single[key]

    def one_value(key):
        number, args = need(key)
        if len(args) != 1:
            raise InputError(f"{path}:{number}: {key} takes one value, got {len(args)}")
        return number, args[0]

    # Model type: the short-range 2G-HDNNP or the 4G-HDNNP.
    for key in ("nnp_type", "nn_type"):
        if key in single:
            number, args = single[key]
            if not args or args[0] not in ("0", "2", "2G-HDNNP", "4", "4G-HDNNP"):
                raise InputError(f"{path}:{number}: {key} {' '.join(args)} is not supported; only the "
                                 f"short-range 2G-HDNNP (nnp_type 2, '2G-HDNNP', or 0 in older n2p2) and the "
                                 f"4G-HDNNP (4, '4G-HDNNP')")
    if "committee_mode" in single:
        number, args = single["committee_mode"]
        if [a.lower() for a in args] != ["disabled"]:
            raise InputError(f"{path}:{number}: committee models are not supported "
                             f"(committee_mode {' '.join(args)})")

    # Elements, indexed by atomic number.
    number, symbols = need("elements")
    for s in symbols:
        if _atomic_number(s) <= 0:
            raise InputError(f"{path}:{number}: {s!r} is not a chemical element symbol")
    if len(set(symbols)) != len(symbols):
        raise InputError(f"{path}:{number}: an element is listed twice: {' '.join(symbols)}")
    elements = sorted(symbols, key=_atomic_number)
    n_number, n_value = one_value("number_of_elements")
    if _int(path, n_number, n_value, "number_of_elements") != len(elements):
        raise InputError(f"{path}:{n_number}: number_of_elements {n_value} does not match the "
                         f"{len(elements)} symbols on line {number}")

    atom_energies, atom_lines = {}, {}
    for number, args in multi["atom_energy"]:
        if len(args) != 2 or args[0] not in elements:
            raise InputError(f"{path}:{number}: expected 'atom_energy <element> <energy>' with an element "
                             f"from ({' '.join(elements)})")
        if args[0] in atom_lines:
            raise InputError(f"{path}:{number}: atom_energy of {args[0]} given twice "
                             f"(first at line {atom_lines[args[0]]})")
        atom_lines[args[0]] = number
        atom_energies[args[0]] = _float(path, number, args[1], "atom energy") * U

    # Cutoff function, one for all symmetry functions.
    number, args = need("cutoff_type")
    if len(args) not in (1, 2):
        raise InputError(f"{path}:{number}: expected 'cutoff_type <type> [<alpha>]'")
    ct = _int(path, number, args[0], "cutoff type")
    if ct not in CUTOFF_TYPES:
        raise InputError(f"{path}:{number}: unknown cutoff type {ct}; allowed: "
                         + ", ".join(f"{k} ({v})" for k, v in CUTOFF_TYPES.items()))
    alpha = _float(path, number, args[1], "cutoff alpha") if len(args) == 2 else 0.0
    if not 0.0 <= alpha < 1.0:
        raise InputError(f"{path}:{number}: cutoff alpha (inner cutoff / r_c) must be in [0, 1), got {alpha}")

    # Symmetry functions, sorted per element as n2p2 sorts them (in file units).
    per_element = {e: [] for e in elements}
    for number, args in multi["symfunction_short"]:
        f = _parse_symmetry_function(path, number, args, elements)
        f["cutoff"] = CUTOFF_TYPES[ct]
        f["cutoff_alpha"] = alpha
        if f["r_c"] <= 0.0 or f["eta"] < 0.0:
            raise InputError(f"{path}:{number}: expected r_c > 0 and eta >= 0")
        per_element[f["center"]].append(f)
    for e in elements:
        if not per_element[e]:
            raise InputError(f"{path}: element {e} has no symfunction_short lines")
    functions = {}
    for e in elements:
        fs = per_element[e]
        order = sort_symmetry_functions(fs)
        converted = []
        for i in order:
            f = dict(fs[i])
            f["eta"] = f["eta"] / (L * L)
            f["r_s"] = f["r_s"] * L
            f["r_c"] = f["r_c"] * L
            converted.append(f)
        functions[e] = converted
    counts = {e: len(functions[e]) for e in elements}

    # Scaling mode, with n2p2's precedence (Mode::setupSymmetryFunctionScaling).
    scale = "scale_symmetry_functions" in single
    center = "center_symmetry_functions" in single
    sigma = "scale_symmetry_functions_sigma" in single
    if scale and not center:
        mode = "scale"
    elif center and not scale:
        mode = "center"
    elif scale and center:
        mode = "scale_center"
    elif sigma:
        mode = "scale_sigma"
    else:
        mode = "none"
    s_min, s_max = 0.0, 1.0  # n2p2's defaults
    if "scale_min_short" in single:
        number, value = one_value("scale_min_short")
        s_min = _float(path, number, value, "scale_min_short")
    if "scale_max_short" in single:
        number, value = one_value("scale_max_short")
        s_max = _float(path, number, value, "scale_max_short")
    stats = _read_scaling(directory / scaling_file, elements, counts)
    if stats is None:
        if mode != "none":
            raise InputError(f"{directory / scaling_file}: scaling statistics file not found "
                             f"(needed by scaling mode {mode!r})")
        stats = {}
    if mode == "scale_sigma":
        for e in elements:
            bad = np.flatnonzero(stats[e][:, 3] <= 0.0)
            if bad.size:
                raise InputError(f"{directory / scaling_file}: element {e}, function {bad[0] + 1}: "
                                 f"G_sigma must be > 0 for scale_symmetry_functions_sigma")

    # Normalisation: all three keywords or none.
    norm_keys = ("mean_energy", "conv_energy", "conv_length")
    present = [k for k in norm_keys if k in single]
    if present and len(present) != 3:
        missing = [k for k in norm_keys if k not in single]
        raise InputError(f"{path}:{single[present[0]][0]}: use all or none of mean_energy, conv_energy, "
                         f"conv_length; missing {', '.join(missing)}")
    mean_energy, conv_energy, conv_length = 0.0, 1.0, 1.0
    if present:
        vals = {}
        for k in norm_keys:
            number, value = one_value(k)
            vals[k] = _float(path, number, value, k)
            if k != "mean_energy" and vals[k] <= 0.0:
                raise InputError(f"{path}:{number}: {k} must be > 0, got {value}")
        mean_energy, conv_energy, conv_length = vals["mean_energy"], vals["conv_energy"], vals["conv_length"]
    # E_file = NN / conv_energy + ...; in eV: E = U NN / conv_energy, so conv_energy/U network units per eV.
    mean_energy *= U
    conv_energy /= U
    conv_length /= L

    # Architecture: global keywords, one network shape for all elements.
    hidden, activations = _read_architecture(path, single, "short")

    extra = 1 if generation == 4 else 0  # the charge neuron of a 4G short-range network
    networks = {}
    for e in elements:
        sizes = (counts[e] + extra, *hidden, 1)
        flat = _read_weights(directory / weights_format.format(_atomic_number(e)), e, sizes)
        networks[e] = ElementNetwork.from_flat(sizes, activations, flat)

    nets = ElementNetworks(networks, mode, stats, s_min, s_max, atom_energies, mean_energy,
                           conv_energy, conv_length, raw_inputs=extra)
    if generation == 2:
        return N2P2Model(elements=list(elements), symmetry_functions=functions, networks=nets)
    if present:
        raise InputError(f"{path}:{single[present[0]][0]}: data-set normalisation (mean_energy, conv_energy, "
                         "conv_length) of a 4G-HDNNP is not supported")
    return _read_4g(path, directory, single, multi, elements, functions, counts, nets, L, U, weights_format)


def _read_architecture(path, single, suffix):
    """(hidden sizes, activation names) of global_*_<suffix>."""
    def need(key):
        if key not in single:
            raise InputError(f"{path}: keyword {key!r} is missing")
        return single[key]

    number, args = need(f"global_hidden_layers_{suffix}")
    if len(args) != 1:
        raise InputError(f"{path}:{number}: global_hidden_layers_{suffix} takes one value, got {len(args)}")
    n_hidden = _int(path, number, args[0], f"global_hidden_layers_{suffix}")
    if n_hidden < 1:
        raise InputError(f"{path}:{number}: global_hidden_layers_{suffix} must be >= 1, got {n_hidden}")
    number, nodes = need(f"global_nodes_{suffix}")
    if len(nodes) != n_hidden:
        raise InputError(f"{path}:{number}: global_nodes_{suffix} needs {n_hidden} numbers "
                         f"(global_hidden_layers_{suffix}), got {len(nodes)}")
    hidden = [_int(path, number, v, "number of nodes") for v in nodes]
    if min(hidden) < 1:
        raise InputError(f"{path}:{number}: every hidden layer needs at least one node")
    number, letters = need(f"global_activation_{suffix}")
    if len(letters) != n_hidden + 1:
        raise InputError(f"{path}:{number}: global_activation_{suffix} needs {n_hidden + 1} letters "
                         f"(hidden layers and output), got {len(letters)}")
    activations = []
    for letter in letters:
        if letter not in N2P2_LETTERS:
            raise InputError(f"{path}:{number}: unknown activation {letter!r}; expected one of "
                             + ", ".join(f"{k} ({v})" for k, v in N2P2_LETTERS.items()))
        activations.append(N2P2_LETTERS[letter])
    return hidden, activations


def _read_hardness(path: Path, element, unit) -> float:
    """hardness.NNN.data: one number, the hardness J of ``element`` in file energy units per e^2."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: hardness file of element {element} is missing (a 4G-HDNNP needs "
                         f"hardness.NNN.data for every element)") from None
    values = []
    for number, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if s and not s.startswith("#"):
            values.append((number, s.split()[0]))
    if len(values) != 1:
        raise InputError(f"{path}: expected one hardness value for element {element}, found {len(values)}")
    number, token = values[0]
    value = _float(path, number, token, "hardness")
    if value < 0.0:
        raise InputError(f"{path}:{number}: the hardness of {element} must be >= 0, got {value}")
    return value * unit


def _read_4g(path, directory, single, multi, elements, functions, counts, short, L, U, weights_format):
    """The 4G parts of an n2p2 model: widths, screening, electronegativity networks, hardness."""
    from echemmd.fourthgen import FourthGenModel

    sigma, lines = {}, {}
    for number, args in multi["fixed_gausswidth"]:
        if len(args) != 2 or args[0] not in elements:
            raise InputError(f"{path}:{number}: expected 'fixed_gausswidth <element> <sigma>' with an element "
                             f"from ({' '.join(elements)})")
        if args[0] in lines:
            raise InputError(f"{path}:{number}: fixed_gausswidth of {args[0]} given twice "
                             f"(first at line {lines[args[0]]})")
        lines[args[0]] = number
        value = _float(path, number, args[1], "Gaussian width")
        if value <= 0.0:
            raise InputError(f"{path}:{number}: the Gaussian width of {args[0]} must be > 0, got {value}")
        sigma[args[0]] = value * L
    missing = [e for e in elements if e not in sigma]
    if missing:
        raise InputError(f"{path}: fixed_gausswidth is missing for element(s) {', '.join(missing)}")
    screening = None
    if "screen_electrostatics" in single:
        number, args = single["screen_electrostatics"]
        if len(args) != 2:
            raise InputError(f"{path}:{number}: expected 'screen_electrostatics <r_inner> <r_outer>' (n2p2's "
                             "cosine transition; other core functions are not supported)")
        r_in = _float(path, number, args[0], "inner screening radius")
        r_out = _float(path, number, args[1], "outer screening radius")
        if not 0.0 <= r_in < r_out:
            raise InputError(f"{path}:{number}: screen_electrostatics needs 0 <= r_inner < r_outer, "
                             f"got {r_in} {r_out}")
        screening = (r_in * L, r_out * L)
    hidden, activations = _read_architecture(path, single, "electrostatic")
    chi_networks, hardness = {}, {}
    chi_format = weights_format.replace("weights.", "weightse.", 1)
    for e in elements:
        sizes = (counts[e], *hidden, 1)
        flat = _read_weights(directory / chi_format.format(_atomic_number(e)), e, sizes)
        chi_networks[e] = ElementNetwork.from_flat(sizes, activations, flat)
        hardness[e] = _read_hardness(directory / f"hardness.{_atomic_number(e):03d}.data", e, U)
    # chi = NN in file energy units per e: chi [V] = U NN, i.e. conv_energy = 1 / U network units per V.
    chi = ElementNetworks(chi_networks, short.scaling_mode, short.statistics, short.scale_min, short.scale_max,
                          conv_energy=1.0 / U)
    return FourthGenModel(list(elements), functions, chi, short, hardness, sigma, screening, "cos",
                          provenance={"n2p2": str(directory)})


# ----------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------


def _fmt(x) -> str:
    """Shortest text that reads back to the same double."""
    return repr(float(x))


def _export_order(model: N2P2Model):
    """Per element: the functions, statistics and networks permuted into n2p2's sorted order.

    n2p2 sorts the symmetry functions itself, so a model whose inputs are in another
    order is written with the first-layer weights and statistics permuted to match.
    """
    out = {}
    nets = model.networks
    for e in model.elements:
        fs = model.symmetry_functions.get(e, [])
        net = nets.networks.get(e)
        if net is None:
            raise InputError(f"element {e} has no network")
        raw = nets.raw_inputs
        if len(fs) + raw != net.n_inputs:
            raise InputError(f"element {e}: {len(fs)} symmetry functions (+ {raw} unscaled inputs) but the "
                             f"network has {net.n_inputs} inputs")
        order = sort_symmetry_functions(fs)
        st = nets.statistics.get(e)
        st = np.zeros((len(fs), 4)) if st is None else st[order]
        W = [w.copy() for w in net.weights]
        W[0] = W[0][list(order) + list(range(len(fs), len(fs) + raw))]
        net = ElementNetwork(net.layer_sizes, net.activations, W, net.biases).n2p2_compatible()
        out[e] = ([fs[i] for i in order], st, net)
    return out


def write_n2p2(directory, model: N2P2Model, length_unit="Angstrom", energy_unit="eV") -> None:
    """Write ``model`` as input.nn, scaling.data and weights.NNN.data.

    Parameters
    ----------
    directory : path
        Created if missing; existing files of the same names are replaced.
    model : N2P2Model
        In Å and eV.
    length_unit, energy_unit : str
        Units of the files written ("Angstrom"/"Bohr", "eV"/"Hartree").

    Notes
    -----
    Shifted softplus layers are written as n2p2's softplus "p" with -ln 2 folded into
    the next layer's biases (exact up to rounding). n2p2 has one cutoff type and one
    architecture for all elements, so the model must have them too.
    """
    from echemmd import __version__

    L = _unit(length_unit, _LENGTH_UNITS, "length_unit")
    U = _unit(energy_unit, _ENERGY_UNITS, "energy_unit")
    directory = Path(directory)
    nets = model.networks
    elements = sorted(model.elements, key=_atomic_number)
    for e in elements:
        if _atomic_number(e) <= 0:
            raise InputError(f"{e!r} is not a chemical element symbol")
    extra = set(nets.networks) - set(elements)
    if extra:
        raise InputError(f"networks for element(s) {sorted(extra)} not listed in model.elements")
    model = N2P2Model(elements, model.symmetry_functions, nets)
    ordered = _export_order(model)

    cutoffs = {(cutoff_number(f["cutoff"]), float(f["cutoff_alpha"]))
               for fs, _, _ in ordered.values() for f in fs}
    if len(cutoffs) != 1:
        raise InputError(f"n2p2 uses one cutoff function for all symmetry functions; the model has "
                         f"{sorted(cutoffs)} (type, alpha)")
    ct, alpha = cutoffs.pop()
    archs = {(net.layer_sizes[1:], net.activations) for _, _, net in ordered.values()}
    if len(archs) != 1:
        raise InputError("n2p2 files hold one hidden-layer architecture and one set of activations for "
                         f"all elements; the model has {len(archs)} different ones")
    hidden_sizes, activations = archs.pop()
    hidden = hidden_sizes[:-1]

    directory.mkdir(parents=True, exist_ok=True)
    length_name = "Bohr" if L != 1.0 else "Angstrom"
    energy_name = "Hartree" if U != 1.0 else "eV"
    out = ["#" * 79,
           f"# n2p2 short-range HDNNP written by echemmd {__version__}",
           f"# Length unit: {length_name}; energy unit: {energy_name}",
           "#" * 79, ""]
    conv_energy = nets.conv_energy * U
    conv_length = nets.conv_length * L
    mean_energy = nets.mean_energy / U
    if not (mean_energy == 0.0 and math.isclose(conv_energy, 1.0, rel_tol=1e-14)
            and math.isclose(conv_length, 1.0, rel_tol=1e-14)):
        out += ["# Data set normalisation: E = sum_i NN_i / conv_energy + N mean_energy + sum_i atom_energy",
                f"mean_energy {_fmt(mean_energy)}",
                f"conv_energy {_fmt(conv_energy)}",
                f"conv_length {_fmt(conv_length)}",
                "conv_charge 1.0", ""]
    out += [f"number_of_elements {len(elements)}",
            f"elements {' '.join(elements)}"]
    for e in elements:
        if e in nets.atom_energies:
            out.append(f"atom_energy {e} {_fmt(nets.atom_energies[e] / U)}")
    out.append(f"cutoff_type {ct} {_fmt(alpha)}" if alpha != 0.0 else f"cutoff_type {ct}")
    mode = nets.scaling_mode
    if mode in ("scale", "scale_center"):
        out.append("scale_symmetry_functions")
    if mode in ("center", "scale_center"):
        out.append("center_symmetry_functions")
    if mode == "scale_sigma":
        out.append("scale_symmetry_functions_sigma")
    # Written in every mode (n2p2 reads them only when scaling) so that a round trip is exact.
    out += [f"scale_min_short {_fmt(nets.scale_min)}", f"scale_max_short {_fmt(nets.scale_max)}"]
    out += [f"global_hidden_layers_short {len(hidden)}",
            f"global_nodes_short {' '.join(str(h) for h in hidden)}",
            f"global_activation_short {' '.join(N2P2_LETTER_OF[a] for a in activations)}", "",
            "# symfunction_short <center> 2 <e1> <eta> <r_s> <r_c>",
            "# symfunction_short <center> 3|9 <e1> <e2> <eta> <lambda> <zeta> <r_c> <r_s>"]
    for e in elements:
        for f in ordered[e][0]:
            t = int(f["type"])
            if t not in SYMMETRY_FUNCTION_TYPES:
                raise InputError(f"symmetry function type {t} cannot be written; supported: 2, 3, 9")
            if f["center"] != e:
                raise InputError(f"a symmetry function of element {e} has center {f['center']!r}")
            nb = sorted(f["neighbors"], key=_atomic_number)
            for s in nb:
                if s not in elements:
                    raise InputError(f"symmetry function of {e} refers to element {s}, not in the model")
            eta, r_s, r_c = f["eta"] * L * L, f["r_s"] / L, f["r_c"] / L
            if t == 2:
                if len(nb) != 1:
                    raise InputError(f"a type-2 symmetry function of {e} needs one neighbour element, got {nb}")
                out.append(f"symfunction_short {e} 2 {nb[0]} {_fmt(eta)} {_fmt(r_s)} {_fmt(r_c)}")
            else:
                if len(nb) != 2:
                    raise InputError(f"a type-{t} symmetry function of {e} needs two neighbour elements, got {nb}")
                out.append(f"symfunction_short {e} {t} {nb[0]} {nb[1]} {_fmt(eta)} {_fmt(f['lambda'])} "
                           f"{_fmt(f['zeta'])} {_fmt(r_c)} {_fmt(r_s)}")
    (directory / "input.nn").write_text("\n".join(out) + "\n")

    # scaling.data in n2p2's layout.
    rows = ["#" * 80, "# Symmetry function scaling data.", "#" * 80,
            "# Col  Name     Description", "#" * 80,
            "# 1    e_index  Element index.", "# 2    sf_index Symmetry function index.",
            "# 3    sf_min   Symmetry function minimum.", "# 4    sf_max   Symmetry function maximum.",
            "# 5    sf_mean  Symmetry function mean.", "# 6    sf_sigma Symmetry function sigma.",
            "#" * 80]
    for ie, e in enumerate(elements):
        for k, (g_min, g_max, g_mean, g_sigma) in enumerate(ordered[e][1]):
            rows.append(f"{ie + 1:10d} {k + 1:10d} {g_min:24.16E} {g_max:24.16E} {g_mean:24.16E} {g_sigma:24.16E}")
    (directory / "scaling.data").write_text("\n".join(rows) + "\n")

    # weights.NNN.data in n2p2's layout (NeuralNetwork::writeConnections).
    for e in elements:
        _write_weights(directory / f"weights.{_atomic_number(e):03d}.data", ordered[e][2])


def _write_weights(path, net):
    """One network's weights and biases in n2p2's layout (NeuralNetwork::writeConnections)."""
    lines = ["#" * 80, "# Neural network connection values (weights and biases).", "#" * 80,
             "# Col  Name       Description", "#" * 80,
             "# 1    connection Neural network connection value.",
             "# 2    t          Connection type (a = weight, b = bias).",
             "# 3    index      Index enumerating weights.",
             "# 4    l_s        Starting point layer (end point layer for biases).",
             "# 5    n_s        Starting point neuron in starting layer (end point neuron for biases).",
             "# 6    l_e        End point layer.",
             "# 7    n_e        End point neuron in end layer.",
             "#" * 80]
    count = 0
    for l, (w, b) in enumerate(zip(net.weights, net.biases), start=1):
        for j in range(w.shape[0]):
            for k in range(w.shape[1]):
                count += 1
                lines.append(f"{w[j, k]:24.16E} a {count:9d} {l - 1:5d} {j + 1:5d} {l:5d} {k + 1:5d}")
        for k in range(b.shape[0]):
            count += 1
            lines.append(f"{b[k]:24.16E} b {count:9d} {l:5d} {k + 1:5d}")
    Path(path).write_text("\n".join(lines) + "\n")


def _plain_output(nets, U, L, fold_offsets):
    """Equal networks whose output is in file energy units with no data-set normalisation.

    n2p2's 4G files hold y = NN (chi in energy/e; E_i = NN + atom_energy). The output layer is
    linear, so the scale 1 / (conv_energy U) and the shift mean_energy / U (with the per-element
    offsets too when ``fold_offsets``) go into its weights and biases; the returned networks
    have conv_energy = 1/U, mean_energy = 0 and conv_length = 1/L (unused in evaluation).
    """
    networks, atom_energies = {}, {}
    for e, net in nets.networks.items():
        if net.activations[-1] != "linear":
            raise InputError(f"element {e}: an output activation {net.activations[-1]!r} cannot carry the "
                             "normalisation into n2p2 4G files; it must be linear")
        scale = 1.0 / (nets.conv_energy * U)
        shift = nets.mean_energy / U
        if fold_offsets:
            shift += nets.atom_energies.get(e, 0.0) / U
        else:
            atom_energies[e] = nets.atom_energies.get(e, 0.0)
        W, b = list(net.weights), list(net.biases)
        W[-1] = W[-1] * scale
        b[-1] = b[-1] * scale + shift
        networks[e] = ElementNetwork(net.layer_sizes, net.activations, W, b)
    if not fold_offsets:
        atom_energies = {e: v for e, v in atom_energies.items() if e in nets.atom_energies}
    return ElementNetworks(networks, nets.scaling_mode, nets.statistics, nets.scale_min, nets.scale_max,
                           atom_energies, 0.0, 1.0 / U, 1.0 / L, raw_inputs=nets.raw_inputs)


def write_n2p2_4g(directory, model, length_unit="Angstrom", energy_unit="eV") -> None:
    """Write a 4G-HDNNP as n2p2 files: input.nn (``nnp_generation 4``), scaling.data, weights.NNN.data
    (short range, with the charge input), weightse.NNN.data (electronegativity), hardness.NNN.data.

    Parameters
    ----------
    directory : path
    model : echemmd.fourthgen.FourthGenModel
        In Å and eV; both networks must share one input scaling (n2p2 has one scaling.data).
    length_unit, energy_unit : str
        Units of the files ("Angstrom"/"Bohr", "eV"/"Hartree").
    """
    L = _unit(length_unit, _LENGTH_UNITS, "length_unit")
    U = _unit(energy_unit, _ENERGY_UNITS, "energy_unit")
    chi, short = model.electronegativity, model.short_range
    same = (chi.scaling_mode == short.scaling_mode and chi.scale_min == short.scale_min
            and chi.scale_max == short.scale_max and chi.statistics.keys() == short.statistics.keys()
            and all(np.array_equal(chi.statistics[e], short.statistics[e]) for e in chi.statistics))
    if not same:
        raise InputError("n2p2 4G files hold one input scaling for both networks; the electronegativity and "
                         "short-range networks of this model are scaled differently")
    chi = _plain_output(chi, U, L, fold_offsets=True)
    short = _plain_output(short, U, L, fold_offsets=False)
    directory = Path(directory)
    write_n2p2(directory, N2P2Model(model.elements, model.symmetry_functions, short), length_unit, energy_unit)
    elements = sorted(model.elements, key=_atomic_number)
    archs = {(net.layer_sizes[1:-1], net.activations) for net in chi.networks.values()}
    if len(archs) != 1:
        raise InputError("n2p2 files hold one electronegativity architecture for all elements")
    hidden, activations = archs.pop()
    out = ["", "# 4G-HDNNP", "nnp_generation 4"]
    for e in elements:
        out.append(f"fixed_gausswidth {e} {_fmt(model.sigma[e] / L)}")
    if model.screening is not None:
        if model.screening_kind != "cos":
            raise InputError(f"n2p2's screen_electrostatics is the cosine transition; this model's screening is "
                             f"{model.screening_kind!r}")
        out.append(f"screen_electrostatics {_fmt(model.screening[0] / L)} {_fmt(model.screening[1] / L)}")
    out += [f"global_hidden_layers_electrostatic {len(hidden)}",
            f"global_nodes_electrostatic {' '.join(str(h) for h in hidden)}",
            f"global_activation_electrostatic {' '.join(N2P2_LETTER_OF[a] for a in activations)}"]
    with open(directory / "input.nn", "a") as f:
        f.write("\n".join(out) + "\n")
    chi_model = N2P2Model(elements, model.symmetry_functions, chi)
    for e, (_, _, net) in _export_order(chi_model).items():
        _write_weights(directory / f"weightse.{_atomic_number(e):03d}.data", net)
        (directory / f"hardness.{_atomic_number(e):03d}.data").write_text(f"{_fmt(model.hardness[e] / U)}\n")


__all__ = ["CUTOFF_TYPES", "N2P2Model", "read_n2p2", "write_n2p2", "write_n2p2_4g", "sort_key", "sort_symmetry_functions",
           "cutoff_number"]

"""Model files: one HDF5 file with descriptors, scaling, weights, charge model, widths, switch, units, provenance.

Layout (all lengths Å, energies eV)::

    /                       attrs: format = "echemmd-model", version = 1, units = "Angstrom eV e"
    /provenance             attrs: free text, one attribute per item
    /short_range            attrs: elements (by atomic number), scaling_mode, scale_min, scale_max,
                                   mean_energy, conv_energy, conv_length
      /functions/<E>        attrs: json = list of symmetry-function dicts in network-input order
      /networks/<E>         attrs: layer_sizes, activations, atom_energy
                            datasets: W0, b0, W1, b1, ..., statistics (n_inputs, 4) if scaled
    /charges                attrs: model ("none", "fixed", "qeq"), json = {"charges", "qeq", "sigma", "switch"}

A 4G-HDNNP (:class:`echemmd.fourthgen.FourthGenModel`) is stored with attribute
``kind = "4g"``: ``/short_range`` as above (networks with the charge input, attribute
``raw_inputs`` = 1), ``/electronegativity`` laid out like ``/short_range`` (its networks and
scaling), and ``/charges`` with ``model = "4g"`` and json = {"hardness", "sigma", "screening", "screening_kind"}.

Symmetry-function and charge tables are stored as JSON text (data, never code); nothing
is pickled and nothing read is evaluated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from echemmd.errors import InputError
from echemmd.mlpotential import HybridModel
from echemmd.network import ElementNetwork, ElementNetworks

FORMAT = "echemmd-model"
VERSION = 1


def _write_networks(g, elements, functions, nets):
    """One ElementNetworks (and the symmetry functions) into group ``g``."""
    g.attrs["elements"] = json.dumps(list(elements))
    g.attrs["scaling_mode"] = nets.scaling_mode
    g.attrs["raw_inputs"] = int(nets.raw_inputs)
    for key in ("scale_min", "scale_max", "mean_energy", "conv_energy", "conv_length"):
        g.attrs[key] = float(getattr(nets, key))
    fg = g.create_group("functions")
    ng = g.create_group("networks")
    for e in elements:
        fg.create_group(e).attrs["json"] = json.dumps(functions[e])
        net = nets.networks[e]
        eg = ng.create_group(e)
        eg.attrs["layer_sizes"] = json.dumps([int(v) for v in net.layer_sizes])
        eg.attrs["activations"] = json.dumps(list(net.activations))
        eg.attrs["atom_energy"] = float(nets.atom_energies.get(e, 0.0))
        eg.attrs["has_atom_energy"] = e in nets.atom_energies
        for k, (w, b) in enumerate(zip(net.weights, net.biases)):
            eg.create_dataset(f"W{k}", data=np.asarray(w, dtype=np.float64))
            eg.create_dataset(f"b{k}", data=np.asarray(b, dtype=np.float64))
        if e in nets.statistics:
            eg.create_dataset("statistics", data=nets.statistics[e])


def _read_networks(g):
    """(elements, functions, ElementNetworks) of a group written by :func:`_write_networks`."""
    elements = json.loads(g.attrs["elements"])
    functions, networks, statistics, atom_energies = {}, {}, {}, {}
    for e in elements:
        functions[e] = json.loads(g["functions"][e].attrs["json"])
        eg = g["networks"][e]
        sizes = json.loads(eg.attrs["layer_sizes"])
        acts = json.loads(eg.attrs["activations"])
        n_layers = len(sizes) - 1
        networks[e] = ElementNetwork(sizes, acts, [eg[f"W{k}"][()] for k in range(n_layers)],
                                     [eg[f"b{k}"][()] for k in range(n_layers)])
        if "statistics" in eg:
            statistics[e] = eg["statistics"][()]
        if bool(eg.attrs.get("has_atom_energy", False)):
            atom_energies[e] = float(eg.attrs["atom_energy"])
    nets = ElementNetworks(networks, g.attrs["scaling_mode"], statistics or None, g.attrs["scale_min"],
                           g.attrs["scale_max"], atom_energies, g.attrs["mean_energy"], g.attrs["conv_energy"],
                           g.attrs["conv_length"], raw_inputs=int(g.attrs.get("raw_inputs", 0)))
    return elements, functions, nets


def _save_fourthgen(path, model) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        f.attrs["units"] = "Angstrom eV e"
        f.attrs["kind"] = "4g"
        prov = f.create_group("provenance")
        for k, v in (model.provenance or {}).items():
            prov.attrs[str(k)] = str(v)
        _write_networks(f.create_group("short_range"), model.elements, model.symmetry_functions, model.short_range)
        _write_networks(f.create_group("electronegativity"), model.elements, model.symmetry_functions,
                        model.electronegativity)
        c = f.create_group("charges")
        c.attrs["model"] = "4g"
        c.attrs["json"] = json.dumps({"hardness": model.hardness, "sigma": model.sigma,
                                      "screening": list(model.screening) if model.screening else None,
                                      "screening_kind": model.screening_kind})
    os.replace(tmp, path)
    return path


def save_model(path, model) -> Path:
    """Write ``model`` (a HybridModel or a FourthGenModel) to ``path`` (atomically: a temporary file,
    then a rename)."""
    from echemmd.fourthgen import FourthGenModel

    path = Path(path)
    if isinstance(model, FourthGenModel):
        return _save_fourthgen(path, model)
    tmp = path.with_name(path.name + ".tmp")
    sr = model.short_range
    nets = sr.networks
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        f.attrs["units"] = "Angstrom eV e"
        prov = f.create_group("provenance")
        for k, v in (model.provenance or {}).items():
            prov.attrs[str(k)] = str(v)
        _write_networks(f.create_group("short_range"), sr.elements, sr.symmetry_functions, nets)
        c = f.create_group("charges")
        c.attrs["model"] = model.charge_model
        c.attrs["json"] = json.dumps({"charges": model.charges, "qeq": model.qeq, "sigma": model.sigma,
                                      "switch": list(model.switch) if model.switch else None})
    os.replace(tmp, path)
    return path


def load_model(path):
    """Read a model file written by :func:`save_model` (a HybridModel, or a FourthGenModel).

    Raises
    ------
    InputError
        Naming the file when it is missing, not HDF5, not a model file, or of an unknown version.
    """
    from echemmd.io.n2p2 import N2P2Model

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not an HDF5 model file ({exc})") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise InputError(f"{path}: not an echemmd model file (format attribute {f.attrs.get('format')!r}); "
                             "for n2p2 models use [model] n2p2 = \"directory\"")
        version = int(f.attrs.get("version", -1))
        if version != VERSION:
            raise InputError(f"{path}: model file version {version} is not supported (this echemmd reads {VERSION})")
        if f.attrs.get("kind", "") == "4g":
            from echemmd.fourthgen import FourthGenModel

            try:
                elements, functions, short = _read_networks(f["short_range"])
                _, _, chi = _read_networks(f["electronegativity"])
                charges = json.loads(f["charges"].attrs["json"])
                return FourthGenModel(elements, functions, chi, short, charges["hardness"], charges["sigma"],
                                      tuple(charges["screening"]) if charges["screening"] else None,
                                      charges.get("screening_kind", "cos"),
                                      provenance={k: str(v) for k, v in f["provenance"].attrs.items()})
            except KeyError as exc:
                raise InputError(f"{path}: model file is incomplete: missing {exc}") from None
        try:
            elements, functions, nets = _read_networks(f["short_range"])
            charges = json.loads(f["charges"].attrs["json"])
            model = HybridModel(N2P2Model(elements=elements, symmetry_functions=functions, networks=nets),
                                charge_model=str(f["charges"].attrs["model"]), charges=charges["charges"],
                                qeq=charges["qeq"], sigma=charges["sigma"],
                                switch=tuple(charges["switch"]) if charges["switch"] else None,
                                provenance={k: str(v) for k, v in f["provenance"].attrs.items()})
        except KeyError as exc:
            raise InputError(f"{path}: model file is incomplete: missing {exc}") from None
    return model

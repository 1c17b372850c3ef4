"""The machine-learning potential: a Behler–Parrinello short-range term and the hybrid model.

    E = sum_i E_i(G_i) + E_elec^LR(q) (+ charge terms)

The short-range term evaluates the symmetry functions of every atom, the element's
network on them, and the forces in a second pass over the same neighbours with dE/dG
(no dense dG/dr is stored). A :class:`HybridModel` adds what the long-range part needs:
the charge model (none, fixed charges per element, or QEq), Gaussian widths, the switch
radii that remove the short-range Coulomb the networks learned (DESIGN §5), the units of
the data it was trained on, and provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from echemmd.descriptors import SymmetryFunctions
from echemmd.errors import InputError
from echemmd.forcefield import Contribution

CHARGE_MODELS = ("none", "fixed", "qeq")


@dataclass
class HybridModel:
    """Everything a model file carries.

    Attributes
    ----------
    short_range : echemmd.io.n2p2.N2P2Model
        Elements, symmetry functions per element (network-input order) and networks.
    charge_model : str
        "none" (short range only), "fixed" (``charges`` per element) or "qeq" (``qeq``, with
        fixed ``charges`` for the elements that have no QEq parameters).
    charges : dict of str to float
        Fixed charge per element, e.
    qeq : dict of str to dict
        Per element ``{"chi": eV/e, "J": eV/e^2}``.
    sigma : dict of str to float
        Gaussian width per element, Å (0 or absent: point charge).
    switch : tuple (r_on, r_off) or None
        Switch radii, Å.
    provenance : dict of str to str
        Where the model comes from (data set, code, date, ...).
    """

    short_range: object
    charge_model: str = "none"
    charges: dict = field(default_factory=dict)
    qeq: dict = field(default_factory=dict)
    sigma: dict = field(default_factory=dict)
    switch: tuple | None = None
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.charge_model not in CHARGE_MODELS:
            raise InputError(f"charge model {self.charge_model!r} is unknown; allowed: {', '.join(CHARGE_MODELS)}")
        elements = set(self.short_range.elements)
        for what, table in (("charges", self.charges), ("qeq", self.qeq), ("sigma", self.sigma)):
            extra = sorted(set(table) - elements)
            if extra:
                raise InputError(f"model {what} name element(s) {extra} that have no network "
                                 f"(the model has {', '.join(self.short_range.elements)})")
        if self.charge_model == "fixed" and sorted(self.charges) != sorted(elements):
            raise InputError(f"a fixed-charge model needs a charge for every element; has {sorted(self.charges)}")
        if self.charge_model == "qeq":
            # QEq for the elements in ``qeq``; fixed ``charges`` for the others (e.g. a metal solved
            # as an equipotential, J = 0, beside an electrolyte of fixed charges).
            both = sorted(set(self.qeq) & set(self.charges))
            if both:
                raise InputError(f"element(s) {both} have both a fixed charge and QEq parameters")
            missing = sorted(elements - set(self.qeq) - set(self.charges))
            if missing:
                raise InputError(f"a qeq charge model needs QEq parameters or a fixed charge for every element; "
                                 f"{missing} have neither")
            for el, p in self.qeq.items():
                if set(p) != {"chi", "J"}:
                    raise InputError(f"qeq parameters of {el} need exactly chi and J, got {sorted(p)}")
                if self.sigma.get(el, 0.0) <= 0:
                    raise InputError(f"qeq element {el} needs a Gaussian width sigma > 0")
        if self.switch is not None:
            r_on, r_off = (float(v) for v in self.switch)
            if not 0 <= r_on < r_off:
                raise InputError(f"model switch needs 0 <= r_on < r_off, got {self.switch}")
            self.switch = (r_on, r_off)

    @property
    def elements(self) -> list:
        return list(self.short_range.elements)

    @property
    def has_electrostatics(self) -> bool:
        return self.charge_model != "none"


class NeuralNetworkPotential:
    """The short-range Behler–Parrinello energy term.

    Parameters
    ----------
    short_range : echemmd.io.n2p2.N2P2Model
        Elements, symmetry functions per element and networks.
    name : str
        Name of the energy term.
    """

    def __init__(self, short_range, name="nnp"):
        self.model = short_range
        self.descriptors = SymmetryFunctions(short_range.all_functions())
        self.columns = short_range.columns()
        self.networks = short_range.networks
        self.cutoff = float(short_range.cutoff)
        self.name = name

    def check_elements(self, system):
        """InputError naming the first atom whose element has no network."""
        known = set(self.model.elements)
        for i, s in enumerate(system.symbols):
            if s not in known:
                raise InputError(f"atom {i} is {s}, an element the model has no network for "
                                 f"(the model has {', '.join(self.model.elements)})")

    def atomic_energies(self, system, neighbors):
        """Energy of each atom, eV, and dE/dG (N, n_functions)."""
        G = self.descriptors.compute_system(system, neighbors)
        return self.networks.energies_and_gradients(system.symbols, G, columns=self.columns)

    def compute(self, system, neighbors) -> Contribution:
        """Energy (eV), forces (eV/Å) and virial (eV)."""
        if getattr(self, "_checked", None) is not system.numbers:
            self.check_elements(system)
            self._checked = system.numbers
        energies, dEdG = self.atomic_energies(system, neighbors)
        forces, virial = self.descriptors.forces(system, neighbors, dEdG)
        energy = float(energies.sum())
        return Contribution(energy, forces, virial, {self.name: energy})


def random_function_set(elements, r_c, n_radial, n_angular, cutoff="poly2", angular_type=9, radial_eta=4.0,
                        angular_eta=1.0):
    """Per element (sorted by atomic number), test-model symmetry functions in n2p2's input order.

    ``n_radial`` radial functions per neighbour element, eta = radial_eta (k + 1) / r_c^2 and
    shifts spread over half the cutoff; ``n_angular`` angular functions (type
    ``angular_type``) per neighbour pair, eta = angular_eta / r_c^2, zeta 1, 1, 4, 4, ... with
    alternating lambda.
    """
    from echemmd.io.n2p2 import sort_symmetry_functions

    functions = {}
    for c in elements:
        fs = []
        for e in elements:
            for k in range(n_radial):
                fs.append({"type": 2, "center": c, "neighbors": [e], "eta": radial_eta / r_c**2 * (k + 1),
                           "r_s": r_c * k / (2 * n_radial), "r_c": r_c, "cutoff": cutoff, "cutoff_alpha": 0.0})
        for a_i, a in enumerate(elements):
            for b in elements[a_i:]:
                for k in range(n_angular):
                    fs.append({"type": angular_type, "center": c, "neighbors": [a, b], "eta": angular_eta / r_c**2,
                               "r_s": 0.0, "zeta": float(1 + 3 * (k // 2)), "lambda": 1.0 if k % 2 == 0 else -1.0,
                               "r_c": r_c, "cutoff": cutoff, "cutoff_alpha": 0.0})
        functions[c] = [fs[i] for i in sort_symmetry_functions(fs)]
    return functions


def random_model(elements, r_c=5.0, hidden=(10, 10), seed=0, charge_model="none", switch=None, n_radial=4,
                 n_angular=2, cutoff="poly2"):
    """A small random hybrid model (for tests, validation labs and benchmarks).

    Radial functions with shifts spread over the cutoff per neighbour element, and wide
    angular functions (lambda = +-1) per neighbour pair; random networks; fixed charges
    of alternating sign or QEq with random parameters when asked.
    """
    from ase.data import atomic_numbers

    from echemmd.io.n2p2 import N2P2Model
    from echemmd.network import ElementNetworks

    rng = np.random.default_rng(seed)
    elements = sorted(elements, key=lambda e: atomic_numbers[e])
    functions = random_function_set(elements, r_c, n_radial, n_angular, cutoff)
    networks = ElementNetworks.random(elements, {e: len(functions[e]) for e in elements}, hidden=hidden,
                                      seed=rng, scaling_mode="scale_center")
    short = N2P2Model(elements=elements, symmetry_functions=functions, networks=networks)
    charges, qeq, sigma = {}, {}, {}
    if charge_model == "fixed":
        charges = {e: (0.5 if k % 2 == 0 else -0.5) for k, e in enumerate(elements)}
        sigma = {e: 0.8 for e in elements}
    elif charge_model == "qeq":
        qeq = {e: {"chi": float(rng.uniform(3, 9)), "J": float(rng.uniform(8, 14))} for e in elements}
        sigma = {e: float(rng.uniform(0.6, 1.0)) for e in elements}
    return HybridModel(short, charge_model=charge_model, charges=charges, qeq=qeq, sigma=sigma, switch=switch,
                       provenance={"source": "echemmd.mlpotential.random_model", "seed": str(seed)})


def long_range_forcefield(model, system, accuracy=1e-6, total_charge=None, tolerance=1e-10, max_iterations=1000):
    """The long-range part of a hybrid model on one structure: E_elec^LR (+ QEq terms), no networks.

    The same objects a run builds from a model (Ewald of Gaussian charges with the model's
    widths and switch; fixed charges written into ``system.charges``, or a QEq charge
    solver), so training subtracts exactly what a run adds (DESIGN §5).

    Parameters
    ----------
    model : HybridModel
        Its charge model, widths and switch are used; its networks are not.
    system : echemmd.system.System
        Modified: ``charges`` are set (fixed model) or solved on ``compute``.
    accuracy : float
        Relative accuracy of the Ewald sum.
    total_charge : float, optional
        Net charge for QEq, e (default: the sum of ``system.charges``).
    tolerance, max_iterations :
        Of the QEq charge solve (V, iterations).

    Returns
    -------
    echemmd.forcefield.ForceField or None
        None for a model without charges.
    """
    from echemmd.charges import ChargeSolver, QEqParameters
    from echemmd.electrostatics import Ewald
    from echemmd.forcefield import ForceField
    from echemmd.neighbors import NeighborList

    if not model.has_electrostatics:
        return None
    sigma = np.array([float(model.sigma.get(s, 0.0)) for s in system.symbols])
    solver = None
    # Ewald sizes alpha and r_cut from the charges present: QEq atoms start from zero so that the
    # parameters (and so the energy, to the last digit) do not depend on a previous guess.
    system.charges[:] = [model.charges.get(s, 0.0) for s in system.symbols]
    variable = model.charge_model == "qeq" and any(s in model.qeq for s in system.symbols)
    if model.charge_model == "qeq" and not variable and total_charge is not None:
        fixed = float(system.charges.sum())
        if abs(fixed - float(total_charge)) > 1e-8:
            raise InputError(f"total charge {total_charge:g} e, but no atom has QEq parameters and the fixed "
                             f"charges add up to {fixed:g} e")
    ewald = Ewald(accuracy=accuracy, sigma=sigma if np.any(sigma > 0) else None, switch=model.switch)
    ewald.setup(system)
    if variable:
        qeq = {el: QEqParameters(chi=p["chi"], hardness=p["J"], sigma=model.sigma[el]) for el, p in model.qeq.items()}
        solver = ChargeSolver(ewald, [], qeq, total_charge=total_charge, tolerance=tolerance,
                              max_iterations=max_iterations)
        solver.setup(system)
    return ForceField([ewald], NeighborList(ewald.cutoff, skin=0.0), charge_solver=solver)

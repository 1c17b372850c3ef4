"""Fourth-generation HDNNP (4G): electronegativity networks, charge equilibration inside the model.

The 4G-HDNNP of Ko, Finkler, Goedecker and Behler (Nat. Commun. 12, 398 (2021)), as in
n2p2 (conventions in docs/4g.md). Per element e: an electronegativity network
chi_i = NN^chi_e(G_i) on the symmetry functions, a hardness J_e and a Gaussian width sigma_e.
The charges minimise

    U(q) = sum_i (chi_i q_i + J_i q_i^2 / 2) + E_Q(q) [- sum_electrodes psi_e q_i - sum_i q_i E_ext . r_i]

subject to sum_i q_i = Q, where E_Q = q.A_Q.q / 2 is the Ewald energy of the Gaussian charges
(self energies included, no switch: DESIGN §6). Electrode atoms join the same linear system
with their potential psi instead of chi and no hardness; an applied field enters the
right-hand side. The solve is the matrix-free projected PCG of :mod:`echemmd.charges`,
warm-started from the previous step.

The energy is *not* U:

    E = sum_i E^short_i(G_i, q_i) + E_elec(q) [- sum_electrodes psi_e q_i - sum_i q_i E_ext . r_i]

with the charge a raw extra input of the short-range networks (after the scaled symmetry
functions), E_elec the Ewald energy of the same Gaussians with the pair Coulomb below
r_out switched off by f_s(r) (n2p2's ``screen_electrostatics``: the networks learned it) and
without the Gaussian self energies k_e q_i^2 / (2 sqrt(pi) sigma_i), and the per-element
reference energies inside E^short. Since E is not stationary in q, the exact force is

    F = -dE/dx|_q - (dE/dq) dq/dx,     dq/dx = -P d(grad_q U)/dx,

P the constrained inverse of A_Q + J. One adjoint solve, (A_Q + J) lambda = dE/dq + nu 1 with
sum(lambda) = 0 (the same CG), gives (dE/dq) dq/dx = -lambda . d(grad_q U)/dx, so

    F = F_HF + d/dx [lambda . A_Q(x) q] + d/dx [sum_i lambda_i chi_i(G_i(x))] - lambda_i E_ext,

where the first bracket is minus the force of the bilinear energy lambda.A_Q.q,
evaluated by polarisation, (E_Q(q + lambda) - E_Q(q - lambda)) / 2, and the second is one more
backward pass through the descriptors with dE/dG = lambda_i dchi_i/dG_i. No dq/dx matrix
is ever formed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from echemmd.charges import ChargeSolver, QEqParameters
from echemmd.descriptors import SymmetryFunctions
from echemmd.electrostatics import Ewald
from echemmd.errors import InputError
from echemmd.forcefield import Contribution
from echemmd.kernels.screening import screened_pairs
from echemmd.network import ElementNetworks
from echemmd.units import KE

SQRT_PI = math.sqrt(math.pi)
#: Transition functions of the screening, by name -> kernel code.
SCREENING_KINDS = {"poly2": 0, "cos": 1}


@dataclass
class FourthGenModel:
    """A 4G-HDNNP, in Å, eV and e.

    Attributes
    ----------
    elements : list of str
        Element symbols by increasing atomic number.
    symmetry_functions : dict of str to list of dict
        Per element, its symmetry functions in network-input order (the format of
        :class:`echemmd.io.n2p2.N2P2Model`); shared by both networks, as in n2p2.
    electronegativity : ElementNetworks
        chi_i = NN(x_i) / conv_energy + mean_energy + atom_energy_e, eV/e (= V), x the scaled
        symmetry functions.
    short_range : ElementNetworks
        With ``raw_inputs = 1``: inputs (scaled G_i, q_i); E_i in eV, reference energies included.
    hardness : dict of str to float
        J_e, eV/e^2.
    sigma : dict of str to float
        Gaussian width (standard deviation) sigma_e, Å (> 0).
    screening : (r_in, r_out) or None
        Pair Coulomb switched off below r_out with f_s(r), in E_elec only, Å.
    screening_kind : {"cos", "poly2"}
        f_s between r_in and r_out, x = (r - r_in)/(r_out - r_in): "cos" (1 - cos(pi x))/2, as
        n2p2 evaluates ``screen_electrostatics`` (checked against its H2O 4G example), or "poly2"
        x^3 (10 - 15 x + 6 x^2).
    provenance : dict of str to str
    """

    elements: list
    symmetry_functions: dict
    electronegativity: ElementNetworks
    short_range: ElementNetworks
    hardness: dict
    sigma: dict
    screening: tuple | None = None
    screening_kind: str = "cos"
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        from ase.data import atomic_numbers

        self.elements = sorted(self.elements, key=lambda e: atomic_numbers[e])
        for what, table in (("symmetry functions", self.symmetry_functions),
                            ("electronegativity networks", self.electronegativity.networks),
                            ("short-range networks", self.short_range.networks),
                            ("hardness", self.hardness), ("sigma", self.sigma)):
            missing = sorted(set(self.elements) - set(table))
            extra = sorted(set(table) - set(self.elements))
            if missing or extra:
                raise InputError(f"4G model: {what} must name exactly the elements {self.elements}; "
                                 f"missing {missing}, extra {extra}")
        if self.short_range.raw_inputs != 1:
            raise InputError("4G model: the short-range networks need exactly one unscaled input (the charge), "
                             f"got raw_inputs = {self.short_range.raw_inputs}")
        if self.electronegativity.raw_inputs != 0:
            raise InputError("4G model: the electronegativity networks take the symmetry functions only")
        for e in self.elements:
            n = len(self.symmetry_functions[e])
            if self.electronegativity.networks[e].n_inputs != n:
                raise InputError(f"4G model: the electronegativity network of {e} has "
                                 f"{self.electronegativity.networks[e].n_inputs} inputs for {n} symmetry functions")
            if self.short_range.networks[e].n_inputs != n + 1:
                raise InputError(f"4G model: the short-range network of {e} has "
                                 f"{self.short_range.networks[e].n_inputs} inputs; expected {n} symmetry "
                                 "functions + 1 charge")
            if not float(self.sigma[e]) > 0.0:
                raise InputError(f"4G model: element {e} needs a Gaussian width sigma > 0 Å, got {self.sigma[e]}")
            if not float(self.hardness[e]) >= 0.0:
                raise InputError(f"4G model: element {e} needs a hardness J >= 0 eV/e^2, got {self.hardness[e]}")
        self.hardness = {e: float(self.hardness[e]) for e in self.elements}
        self.sigma = {e: float(self.sigma[e]) for e in self.elements}
        if self.screening_kind not in SCREENING_KINDS:
            raise InputError(f"4G model: screening_kind {self.screening_kind!r} is unknown; allowed: "
                             f"{', '.join(SCREENING_KINDS)}")
        if self.screening is not None:
            r_in, r_out = (float(v) for v in self.screening)
            if not 0.0 <= r_in < r_out:
                raise InputError(f"4G model: screening needs 0 <= r_in < r_out, got {self.screening}")
            self.screening = (r_in, r_out)

    @property
    def cutoff(self) -> float:
        """Largest symmetry-function cutoff, Å."""
        return max(f["r_c"] for fs in self.symmetry_functions.values() for f in fs)

    def all_functions(self) -> list:
        """All symmetry functions, element by element (``elements`` order), each in input order."""
        return [f for e in self.elements for f in self.symmetry_functions[e]]

    def columns(self) -> dict:
        """Element -> its network inputs' columns among ``all_functions()``."""
        from echemmd.io.n2p2 import function_columns

        return function_columns(self.elements, self.symmetry_functions)


class FourthGenPotential:
    """The energy term of a 4G-HDNNP: charges, short-range networks, electrostatics, exact forces.

    One term does it all, since the charges need the electronegativities of the step.
    It writes the solved charges into ``system.charges``.

    Parameters
    ----------
    model : FourthGenModel
    electrodes : list of echemmd.charges.Electrode
        Constant-potential atoms: their charges join the linear system with -psi in place of
        chi and no hardness (their short-range networks still see their charges).
    field : (3,) array
        Applied uniform field, V/Å (non-periodic directions only).
    total_charge : float, optional
        Net charge, e (default: the starting charges' sum).
    accuracy : float
        Relative accuracy of the Ewald sums.
    tolerance : float
        RMS residual of the charge and adjoint solves, V.
    max_iterations : int
    adjoint : bool
        Include the adjoint force term (False only to show that forces are then wrong).
    ewald : dict, optional
        More keyword arguments of :class:`echemmd.electrostatics.Ewald` (alpha, r_cut, k_cut,
        slab_factor).
    name : str
    """

    #: The term solves its own charges (the force field's checkpoint keeps ``solver``'s history).
    owns_charges = True

    def __init__(self, model, electrodes=(), field=(0.0, 0.0, 0.0), total_charge=None, accuracy=1e-8,
                 tolerance=1e-10, max_iterations=1000, adjoint=True, ewald=None, name="nnp4g"):
        self.model = model
        self.descriptors = SymmetryFunctions(model.all_functions())
        self.columns = model.columns()
        self.n_functions = self.descriptors.n_functions
        self.columns_q = {e: np.append(c, self.n_functions).astype(np.int64) for e, c in self.columns.items()}
        self.electrodes = list(electrodes)
        self.field = np.asarray(field, dtype=np.float64).reshape(3)
        self.total_charge = total_charge
        self.accuracy = float(accuracy)
        self.tolerance = float(tolerance)
        self.max_iterations = int(max_iterations)
        self.adjoint = bool(adjoint)
        self.ewald_options = dict(ewald or {})
        self.name = name
        self.solver = None
        self._numbers = None
        self._own_list = None

    # ------------------------------------------------------------------ setup
    def check_elements(self, system):
        """InputError naming the first atom whose element the model does not have."""
        known = set(self.model.elements)
        for i, s in enumerate(system.symbols):
            if s not in known:
                raise InputError(f"atom {i} is {s}, an element the 4G model has no networks for "
                                 f"(the model has {', '.join(self.model.elements)})")

    def widths(self, system) -> np.ndarray:
        """Gaussian width of every atom: the model's, or its electrode's, Å."""
        sigma = np.array([self.model.sigma[s] for s in system.symbols])
        for e in self.electrodes:
            sigma[np.asarray(e.indices, dtype=np.int64)] = e.sigma
        return sigma

    def setup(self, system):
        """The Ewald sum (QEq matrix and energy) and the charge solver."""
        self.check_elements(system)
        sigma = self.widths(system)
        saved = system.charges.copy()
        total = float(saved.sum()) if self.total_charge is None else float(self.total_charge)
        # Parameters sized for unit charges, whatever the charges held before.
        system.charges[:] = 0.0
        try:
            self.ewald_q = Ewald(accuracy=self.accuracy, sigma=sigma, switch=None, name="coulomb",
                                 **dict(self.ewald_options))
            self.ewald_q.setup(system)
        finally:
            system.charges[:] = saved
        qeq = {e: QEqParameters(chi=0.0, hardness=self.model.hardness[e], sigma=self.model.sigma[e])
               for e in self.model.elements}
        self.solver = ChargeSolver(self.ewald_q, self.electrodes, qeq, field=self.field, total_charge=total,
                                   tolerance=self.tolerance, max_iterations=self.max_iterations,
                                   name=self.name + "_charge")
        self.solver.setup(system)
        if self.solver.fixed.size:
            raise InputError(f"4G model: atoms {self.solver.fixed[:5].tolist()} have no variable charge")
        self._sigma = sigma
        self._numbers = system.numbers.copy()

    @property
    def cutoff(self) -> float:
        """Neighbour-list cutoff the term needs, Å (the largest of r_c and the real-space cutoffs)."""
        cut = self.model.cutoff
        if self.solver is not None:
            cut = max(cut, self.ewald_q.params.r_cut)
        if self.model.screening is not None:
            cut = max(cut, self.model.screening[1])
        return cut

    def _neighbors(self, system, neighbors):
        if neighbors is not None:
            return neighbors
        from echemmd.neighbors import NeighborList

        if self._own_list is None or self._own_list.cutoff < self.cutoff:
            self._own_list = NeighborList(self.cutoff, skin=0.0)
        self._own_list.update(system.positions, system.cell, system.pbc)
        return self._own_list

    # ------------------------------------------------------------------ evaluation
    def charges_and_electronegativities(self, system, neighbors=None):
        """Solve the charges (written into ``system.charges``); returns G, chi (V) and dchi/dG."""
        if self._numbers is None or not np.array_equal(self._numbers, system.numbers):
            self.setup(system)
        nl = self._neighbors(system, neighbors)
        G = self.descriptors.compute_system(system, nl)
        chi, dchi = self.model.electronegativity.energies_and_gradients(system.symbols, G, columns=self.columns)
        self.solver.set_electronegativity(chi)
        self.solver.solve(system, nl)
        return G, chi, dchi

    def compute(self, system, neighbors=None) -> Contribution:
        """Energy (eV), forces (eV/Å), virial (eV) and the solved charges (in ``system.charges``)."""
        if self._numbers is None or not np.array_equal(self._numbers, system.numbers):
            self.setup(system)
        nl = self._neighbors(system, neighbors)
        G, chi, dchi = self.charges_and_electronegativities(system, nl)
        q = np.array(system.charges, dtype=np.float64)
        n = system.n_atoms
        # Short-range networks on (G, q).
        Gq = np.column_stack([G, q])
        e_short, grad = self.model.short_range.energies_and_gradients(system.symbols, Gq, columns=self.columns_q)
        dEdG = np.ascontiguousarray(grad[:, :self.n_functions])
        dEdq = grad[:, self.n_functions].copy()
        # Electrostatics: the Ewald sum of the QEq matrix, without the Gaussian self energies and
        # with the pairs below r_out screened.
        phi, f_elec, w_elec, parts = self.ewald_q._evaluate(system, nl, q, True)
        inv_sig = 1.0 / self._sigma
        e_gauss_self = 0.5 * KE / SQRT_PI * float(np.dot(q * q, inv_sig))
        e_elec = float(sum(parts.values())) - e_gauss_self
        phi_elec = phi - KE / SQRT_PI * q * inv_sig
        if self.model.screening is not None:
            first, neigh, shifts = nl.full
            r_in, r_out = self.model.screening
            e_s, phi_s, f_s, w_s = screened_pairs(
                np.ascontiguousarray(system.positions, dtype=np.float64),
                np.ascontiguousarray(system.cell, dtype=np.float64), q, np.ascontiguousarray(self._sigma),
                first, neigh, shifts, r_in, r_out, SCREENING_KINDS[self.model.screening_kind], KE)
            e_elec += e_s
            phi_elec = phi_elec + phi_s
            f_elec = f_elec + f_s
            w_elec = w_elec + w_s
        # Electrodes and field.
        psi = self.solver._psi
        field_potential = system.positions @ self.field
        e_ext = -float(np.dot(psi, q)) - float(np.dot(q, field_potential))
        f_field = np.outer(q, self.field)
        w_field = np.einsum("ia,ib->ab", f_field, system.positions)
        energy = float(e_short.sum()) + e_elec + e_ext
        forces = f_elec + f_field
        virial = w_elec + w_field
        extra = {"e_short": float(e_short.sum()), "e_elec": e_elec}
        if self.adjoint:
            dEdq_total = dEdq + phi_elec - psi - field_potential
            v = self.solver.variable
            lam_v, info = self.solver.solve_adjoint(system, nl, dEdq_total[v])
            lam = np.zeros(n)
            lam[v] = lam_v
            # The descriptor terms of the short range and of the adjoint in one pass (both linear in dE/dG).
            f_adj, w_adj = self.adjoint_forces(system, nl, q, lam, dchi, descriptor_weights=dEdG)
            forces = forces + f_adj
            virial = virial + w_adj
            extra["adjoint_iterations"] = info.iterations
        else:
            f_short, w_short = self.descriptors.forces(system, nl, dEdG)
            forces = forces + f_short
            virial = virial + w_short
        extra.update(self.solver.observables(system))
        return Contribution(energy, forces, virial, {self.name: energy}, extra)

    def adjoint_forces(self, system, neighbors, q, lam, dchi, descriptor_weights=None):
        """d/dx [lambda . grad_q U(q, x)] at fixed q and lambda: forces (eV/Å) and virial (eV).

        Parameters
        ----------
        q, lam : array (N,)
            Charges and adjoint variables, e.
        dchi : array (N, n_functions)
            dchi_i/dG_i, V per unit of G.
        descriptor_weights : array (N, n_functions), optional
            dE/dG of another energy whose descriptor forces are added in the same pass.
        """
        # Coulomb: +d/dx (lam.A_Q.q) = -F[lam.A_Q.q], lam.A_Q.q = (E_Q(q + lam) - E_Q(q - lam)) / 2.
        _, f_plus, w_plus, _ = self.ewald_q._evaluate(system, neighbors, q + lam, True)
        _, f_minus, w_minus, _ = self.ewald_q._evaluate(system, neighbors, q - lam, True)
        forces = -0.5 * (f_plus - f_minus)
        virial = -0.5 * (w_plus - w_minus)
        # Electronegativities of the QEq atoms: +d/dx sum_i lam_i chi_i(G_i(x)).
        weights = -np.where(self.solver.kind == 1, lam, 0.0)[:, None] * dchi
        if descriptor_weights is not None:
            weights += descriptor_weights
        f_chi, w_chi = self.descriptors.forces(system, neighbors, np.ascontiguousarray(weights))
        forces += f_chi
        virial += w_chi
        # Field: grad_q U holds -E.r_i, so +d/dx gives -lam_i E.
        f_field = -np.outer(lam, self.field)
        forces += f_field
        virial += np.einsum("ia,ib->ab", f_field, system.positions)
        return forces, virial

    def evaluate(self, system) -> Contribution:
        """:meth:`compute` with a neighbour list of its own."""
        return self.compute(system, None)


def random_fourthgen_model(elements, reference, r_c=4.0, hidden=(6,), seed=0, screening=None, n_radial=3,
                           n_angular=2, cutoff="poly2", sigma=None, hardness=None, chi_offsets=None,
                           screening_kind="cos"):
    """A small random 4G model (tests, labs), its input scaling from the symmetry functions of ``reference``.

    Parameters
    ----------
    elements : sequence of str
    reference : echemmd.system.System or ase.Atoms
        A structure whose symmetry-function statistics (min, max, mean, sigma) set the scaling.
    r_c : float
        Symmetry-function cutoff, Å.
    hidden : tuple of int
        Hidden layers of both networks.
    seed : int
    screening : (r_in, r_out) or None, Å
    sigma, hardness, chi_offsets : dict, optional
        Per element, Å, eV/e^2, V; random when not given.
    """
    from ase.data import atomic_numbers

    from echemmd.mlpotential import random_function_set
    from echemmd.network import ElementNetwork

    rng = np.random.default_rng(seed)
    elements = sorted(elements, key=lambda e: atomic_numbers[e])
    functions = random_function_set(elements, r_c, n_radial, n_angular, cutoff, angular_type=3, radial_eta=3.0,
                                    angular_eta=0.5)
    all_functions = [f for e in elements for f in functions[e]]
    G = SymmetryFunctions(all_functions).compute(reference)
    symbols = np.array(reference.get_chemical_symbols() if hasattr(reference, "get_chemical_symbols")
                       else reference.symbols)
    statistics, start = {}, 0
    for e in elements:
        n = len(functions[e])
        rows = G[symbols == e, start:start + n] if np.any(symbols == e) else np.zeros((1, n))
        g_min, g_max = rows.min(axis=0), rows.max(axis=0)
        # Ranges wider than one structure's spread, so that the scaled inputs (and the energy surface)
        # stay gentle when the atoms move.
        span = np.maximum(g_max - g_min, 0.05 + 0.5 * np.abs(rows.mean(axis=0)))
        g_min, g_max = g_min - 0.5 * span, g_max + 0.5 * span
        statistics[e] = np.column_stack([g_min, g_max, rows.mean(axis=0), np.maximum(rows.std(axis=0), 1e-3)])
        start += n
    chi_offsets = chi_offsets or {e: float(rng.uniform(2.0, 8.0)) for e in elements}
    chi_nets, short_nets = {}, {}
    for e in elements:
        n = len(functions[e])
        net = ElementNetwork.random((n, *hidden, 1), "tanh", rng)
        # The element's offset in the output bias (chi = NN, as n2p2 files hold it).
        biases = list(net.biases)
        biases[-1] = biases[-1] + chi_offsets[e]
        chi_nets[e] = ElementNetwork(net.layer_sizes, net.activations, net.weights, biases)
        short_nets[e] = ElementNetwork.random((n + 1, *hidden, 1), "tanh", rng)
    chi = ElementNetworks(chi_nets, "scale_center", statistics, -1.0, 1.0)
    short = ElementNetworks(short_nets, "scale_center", statistics, -1.0, 1.0,
                            atom_energies={e: float(rng.uniform(-20.0, -1.0)) for e in elements}, raw_inputs=1)
    hardness = hardness or {e: float(rng.uniform(6.0, 12.0)) for e in elements}
    sigma = sigma or {e: float(rng.uniform(0.5, 0.8)) for e in elements}
    return FourthGenModel(elements, functions, chi, short, hardness, sigma, screening, screening_kind,
                          provenance={"source": "echemmd.fourthgen.random_fourthgen_model", "seed": str(seed)})


__all__ = ["FourthGenModel", "FourthGenPotential", "random_fourthgen_model"]

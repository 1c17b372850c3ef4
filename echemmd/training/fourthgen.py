"""Training a 4G-HDNNP (:mod:`echemmd.fourthgen`) from reference energies, forces and charges.

Two stages, as in n2p2 and RuNNer (Ko et al., Nat. Commun. 12, 398 (2021)).

**Stage 1: electronegativities and hardness from reference charges.** In every frame the
model's charges solve the bordered system of the charge equilibration

    [H 1; 1^T 0] [q; -mu] = [-chi; Q],   H = A + diag(J),

A the frame's Coulomb matrix of the Gaussian charges (the Ewald sum of the run, Gaussian
self energies included, no screening), chi_i = NN^chi_e(G_i), J_i = J_e and Q the frame's
total charge. Training frames are small, so A is formed densely once per frame (it depends on
the positions only) and the system is solved directly; at run time the same charges come from
the matrix-free projected CG. The loss is

    L_q = (1/B) sum_f (1/N_f) |q_f - q_ref,f|^2   (e^2).

With y = P dL/dq, P the constrained inverse (the same bordered system with right-hand side
[dL/dq; 0]), the gradients are exact and need no dq/dchi matrix:

    dL/dchi_i = -y_i,   dL/dJ_e = -sum_{i of e} y_i q_i,

and dL/dchi reaches the network parameters through one backward pass. The hardness is
J_e = h_e^2 with h_e optimised, so that it stays >= 0 (an element started at J = 0 stays at
0: a metal). Before the networks are fitted, element-constant electronegativities are fitted
by linear least squares (the charges are linear in them); they become the networks' offsets.

**Stage 2: short-range networks.** The stage-1 charges q of every frame are fixed, and the
short-range networks, which read (G_i, q_i), are fitted to energies and forces:

    E = sum_i E_i(G_i, q_i) + E_elec(q),
    F = -dE_short/dx|_q + F_elec + C (dE_short/dq + g_elec),

the exact force of :class:`echemmd.fourthgen.FourthGenPotential`. C = K P (3N x N) is the
adjoint-force map of the frame: K lambda = d/dx [lambda . grad_q U(q, x)] at fixed q (the
``adjoint_forces`` of the potential, linear in lambda), g_elec the charge derivative of
E_elec. Since q is fixed in stage 2, C, E_elec and F_fixed = F_elec + C g_elec are constants
of the frame, computed once with the potential itself (a zero short-range network gives
E_elec and F_fixed) and C from N adjoint-force evaluations, one per column of P. The targets
are E_ref - E_elec and F_ref - F_fixed, and the loss and its exact gradient are those of
:class:`echemmd.training.trainer.Trainer` with the charge as a raw input and C as the frame's
``response`` (the tangent of the charge input in the force term is -C^T v).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from echemmd.errors import InputError
from echemmd.training.trainer import LossWeights, Trainer

__all__ = ["ChargeFrame", "ChargeMetrics", "ChargeTrainer", "coulomb_matrix", "constrained_inverse",
           "frame_response", "fourthgen_model"]


@dataclass
class ChargeFrame:
    """A frame ready for stage 1: descriptors, Coulomb matrix and reference charges.

    Attributes
    ----------
    source : str
    symbols : ndarray of str (N,)
    rows : dict str -> int64 array
        Atoms of each element.
    G : float64 (N, n_columns)
        Symmetry functions.
    element_inputs : dict str -> float64 (N_e, n_e)
        Network inputs of the atoms of each element.
    coulomb : float64 (N, N)
        A, eV/e^2 (Gaussian charges, Ewald, self energies included).
    charges : float64 (N,)
        Reference charges, e.
    total_charge : float
        e.
    element_index : int64 (N,)
        Index of every atom's element among the trainer's elements.
    """

    source: str
    symbols: np.ndarray
    rows: dict
    G: np.ndarray
    element_inputs: dict
    coulomb: np.ndarray
    charges: np.ndarray
    total_charge: float
    element_index: np.ndarray

    @property
    def n_atoms(self) -> int:
        return int(self.symbols.shape[0])


@dataclass
class ChargeMetrics:
    """Errors of the charges (model minus reference) on a set of frames, e.

    ``energy_rmse`` and ``force_rmse`` are NaN (the optimiser's records expect them).
    """

    loss: float
    charge_rmse: float
    charge_mae: float
    charge_rmse_by_element: dict
    n_frames: int
    energy_rmse: float = float("nan")
    force_rmse: float = float("nan")


def coulomb_matrix(system, sigma, accuracy=1e-6, ewald=None):
    """The Coulomb matrix A of Gaussian charges of a structure, eV/e^2, with what built it.

    Parameters
    ----------
    system : echemmd.system.System
    sigma : array (N,)
        Gaussian widths, Å (> 0).
    accuracy : float
        Relative accuracy of the Ewald sum.
    ewald : dict, optional
        More keyword arguments of :class:`echemmd.electrostatics.Ewald`.

    Returns
    -------
    float64 (N, N)
        E_Q = q.A.q / 2 with the Gaussian self energies (the matrix of the 4G charge
        equilibration, without the hardness).
    """
    from echemmd.charges import ChargeSolver, QEqParameters
    from echemmd.electrostatics import Ewald

    saved = system.charges.copy()
    system.charges[:] = 0.0
    try:
        ew = Ewald(accuracy=accuracy, sigma=np.asarray(sigma, dtype=np.float64), switch=None, name="coulomb",
                   **dict(ewald or {}))
        ew.setup(system)
        qeq = {s: QEqParameters(chi=0.0, hardness=0.0, sigma=1.0) for s in set(system.symbols)}
        solver = ChargeSolver(ew, (), qeq, total_charge=0.0)
        solver.setup(system)
        return np.array(solver.dense_matrix(system, always=True))
    finally:
        system.charges[:] = saved


def constrained_inverse(H):
    """P, the charge response at fixed total charge: the upper-left block of [H 1; 1^T 0]^-1.

    q = -P chi + q_Q solves the bordered system; P is symmetric and P 1 = 0. H needs to be
    positive definite only on the neutral subspace (an Ewald matrix with its neutralising
    background is shifted by a constant, which P does not see).
    """
    n = H.shape[0]
    K = np.empty((n + 1, n + 1))
    K[:n, :n] = H
    K[:n, n] = K[n, :n] = 1.0
    K[n, n] = 0.0
    inv = scipy.linalg.inv(K, check_finite=False)[:n, :n]
    return 0.5 * (inv + inv.T)


class ChargeTrainer:
    """Stage 1: electronegativity networks and hardness fitted to reference charges.

    Parameters
    ----------
    functions : dict str -> list of dict
        Per element, its symmetry functions in network-input order.
    sigma : dict str -> float
        Gaussian width per element, Å.
    hidden : sequence of int
    activation : str
    seed : int
    hardness : dict str -> float
        Starting hardness J_e, eV/e^2 (>= 0).
    fit_hardness : bool
        Fit J_e (else keep the starting values).
    accuracy : float
        Relative accuracy of the Ewald sums of the Coulomb matrices.
    """

    def __init__(self, functions, sigma, hidden=(15, 15), activation="tanh", seed=0, hardness=None,
                 fit_hardness=True, accuracy=1e-6):
        self.net = Trainer(functions, hidden, activation, LossWeights(), seed)
        self.elements = self.net.elements
        self.functions = self.net.functions
        missing = [e for e in self.elements if e not in (sigma or {})]
        if missing:
            raise InputError(f"4G training: charges.sigma has no Gaussian width for element(s) {missing}")
        self.sigma = {e: float(sigma[e]) for e in self.elements}
        for e, s in self.sigma.items():
            if not s > 0.0:
                raise InputError(f"4G training: charges.sigma of {e} must be > 0 Å, got {s}")
        hardness = dict(hardness or {})
        self.hardness0 = {e: float(hardness.get(e, 10.0)) for e in self.elements}
        for e, j in self.hardness0.items():
            if not j >= 0.0:
                raise InputError(f"4G training: charges.hardness of {e} must be >= 0 eV/e^2, got {j}")
        self.fit_hardness = bool(fit_hardness)
        self.accuracy = float(accuracy)
        self.n_net = self.net.n_parameters
        self.n_parameters = self.n_net + len(self.elements)

    # ------------------------------------------------------------------ preparation
    def prepare(self, frames, cached_G=None, coulomb=None) -> list:
        """ChargeFrames: descriptors (or ``cached_G``), Coulomb matrices (or ``coulomb``), reference charges."""
        index = {e: k for k, e in enumerate(self.elements)}
        out = []
        for k, fr in enumerate(frames):
            if fr.charges is None:
                raise InputError(f"{fr.source}: the frame has no reference charges, which 4G training fits")
            for i, s in enumerate(fr.symbols):
                if s not in index:
                    raise InputError(f"{fr.source}: atom {i} is {s}, an element the model has no network for "
                                     f"(the model has {', '.join(self.elements)})")
            G = cached_G[k] if cached_G is not None else self.net.descriptor_values(fr)
            if coulomb is not None:
                A = coulomb[k]
            else:
                A = coulomb_matrix(fr.to_system(), [self.sigma[s] for s in fr.symbols], self.accuracy)
            symbols = np.asarray(fr.symbols)
            rows = {e: np.flatnonzero(symbols == e) for e in self.elements}
            inputs = {e: np.ascontiguousarray(G[np.ix_(rows[e], self.net.columns[e])]) for e in self.elements}
            out.append(ChargeFrame(fr.source, symbols, rows, G, inputs, A, np.array(fr.charges, dtype=np.float64),
                                   float(fr.total_charge), np.array([index[s] for s in fr.symbols])))
        return out

    # ------------------------------------------------------------------ parameters
    def hardness_of(self, theta) -> np.ndarray:
        """J_e (eV/e^2) per element, in ``elements`` order."""
        return theta[self.n_net:] ** 2

    def initialize(self, frames):
        """Scaling, element-constant electronegativities by least squares, output scale; random weights.

        The charges are linear in element-constant electronegativities c:
        q = q_Q - P M c, M the element indicator, so min sum_f |q - q_ref|^2 / N_f is a linear
        least-squares problem (minimum norm: only differences of c matter). The output
        scale (V per network unit) is the spread of the electronegativities that would give
        the reference charges exactly, -H q_ref up to a constant per frame, about c.
        """
        if not frames:
            raise InputError("no training frames")
        J = np.array([self.hardness0[e] for e in self.elements])
        rows_a, rhs = [], []
        responses = []
        for f in frames:
            H = f.coulomb + np.diag(J[f.element_index])
            P = constrained_inverse(H)
            q_total = scipy.linalg.lu_solve(self._kkt(H), np.append(np.zeros(f.n_atoms), f.total_charge),
                                            check_finite=False)[:-1]
            M = np.zeros((f.n_atoms, len(self.elements)))
            M[np.arange(f.n_atoms), f.element_index] = 1.0
            w = 1.0 / math.sqrt(f.n_atoms)
            rows_a.append(-w * (P @ M))
            rhs.append(w * (f.charges - q_total))
            responses.append(H)
        c, *_ = np.linalg.lstsq(np.vstack(rows_a), np.concatenate(rhs), rcond=None)
        spread = []
        for f, H in zip(frames, responses):
            need = -(H @ f.charges) - c[f.element_index]
            spread.append(need - need.mean())
        e_scale = float(np.concatenate(spread).std())
        stats = self.net.input_statistics(frames)
        self.net.set_output(stats, {e: float(v) for e, v in zip(self.elements, c)}, max(e_scale, 1e-3))
        theta = np.concatenate([self.net.initial_weights(), np.sqrt(J)])
        return theta

    # ------------------------------------------------------------------ charges
    def electronegativities(self, theta, batch):
        """Per frame, chi (V) of every atom."""
        chi, _dchi, _raw = self.net._forward(theta[:self.n_net], batch)
        return chi

    @staticmethod
    def _kkt(H):
        """Factor of the bordered matrix and its right-hand-side builder."""
        n = H.shape[0]
        K = np.empty((n + 1, n + 1))
        K[:n, :n] = H
        K[:n, n] = K[n, :n] = 1.0
        K[n, n] = 0.0
        return scipy.linalg.lu_factor(K, check_finite=False)

    def _solve(self, theta, batch):
        """Per frame: (q, factor) of the charge equilibration with the current parameters."""
        J = self.hardness_of(theta)
        chis = self.electronegativities(theta, batch)
        out = []
        for f, chi in zip(batch, chis):
            H = f.coulomb + np.diag(J[f.element_index])
            lu = self._kkt(H)
            x = scipy.linalg.lu_solve(lu, np.append(-chi, f.total_charge), check_finite=False)
            out.append((x[:-1], lu))
        return out

    def charges(self, theta, frames) -> list:
        """Model charges (e) of every frame."""
        return [q for q, _ in self._solve(theta, frames)]

    def loss(self, theta, batch, gradient=True):
        """L_q of ``batch`` (e^2) and, when asked, its exact gradient (module docstring)."""
        solved = self._solve(theta, batch)
        B = len(batch)
        total = 0.0
        coef = []
        dJ = np.zeros(len(self.elements))
        for f, (q, lu) in zip(batch, solved):
            d = q - f.charges
            total += float(d @ d) / f.n_atoms
            if gradient:
                g = 2.0 * d / (f.n_atoms * B)
                y = scipy.linalg.lu_solve(lu, np.append(g, 0.0), check_finite=False)[:-1]
                coef.append(-y)
                dJ += np.bincount(f.element_index, weights=-y * q, minlength=len(self.elements))
        total /= B
        if not gradient:
            return total
        grad = np.zeros(self.n_parameters)
        grad[:self.n_net] = self.net.parameter_gradient(theta[:self.n_net], batch, coef)
        if self.fit_hardness:
            grad[self.n_net:] = dJ * 2.0 * theta[self.n_net:]
        return total, grad

    def metrics(self, theta, frames) -> ChargeMetrics:
        """RMSE and MAE of the charges, e, overall and per element."""
        if not frames:
            nan = float("nan")
            return ChargeMetrics(nan, nan, nan, {}, 0)
        d_all, by_el, loss = [], {e: [] for e in self.elements}, 0.0
        for f, q in zip(frames, self.charges(theta, frames)):
            d = q - f.charges
            loss += float(d @ d) / f.n_atoms
            d_all.append(d)
            for e in self.elements:
                by_el[e].append(d[f.rows[e]])
        d = np.concatenate(d_all)
        rmse = {e: float(np.sqrt(np.mean(np.concatenate(v) ** 2))) for e, v in by_el.items()
                if sum(x.size for x in v)}
        return ChargeMetrics(loss / len(frames), float(np.sqrt(np.mean(d * d))), float(np.mean(np.abs(d))), rmse,
                             len(frames))

    def electronegativity_networks(self, theta):
        """The fitted chi networks (V), with their scaling and offsets."""
        return self.net.networks(theta[:self.n_net])

    def hardness(self, theta) -> dict:
        """J_e, eV/e^2."""
        return {e: float(j) for e, j in zip(self.elements, self.hardness_of(theta))}


def _zero_short_range(functions, elements):
    """Short-range networks that are identically zero (one linear layer of zeros, charge input)."""
    from echemmd.network import ElementNetwork, ElementNetworks

    nets = {}
    for e in elements:
        sizes = (len(functions[e]) + 1, 1)
        nets[e] = ElementNetwork.from_flat(sizes, ["linear"], np.zeros(sizes[0] + 1))
    return ElementNetworks(nets, raw_inputs=1)


def fourthgen_model(functions, electronegativity, short_range, hardness, sigma, screening, provenance=None):
    """A :class:`FourthGenModel` of fitted parts (screening by the C2 quintic switch of DESIGN §5)."""
    from echemmd.fourthgen import FourthGenModel

    elements = list(functions)
    return FourthGenModel(elements, functions, electronegativity, short_range, {e: hardness[e] for e in elements},
                          {e: sigma[e] for e in elements},
                          screening, "poly2", provenance=dict(provenance or {}))


def frame_response(functions, electronegativity, hardness, sigma, screening, frame, accuracy=1e-6,
                   tolerance=1e-10):
    """What stage 2 holds fixed for a frame: charges, E_elec, F_fixed and the adjoint-force map C.

    Evaluated with :class:`echemmd.fourthgen.FourthGenPotential` and a zero short-range network
    (so its energy is E_elec and its force F_elec + C g_elec). C = K P with K the Jacobian
    d(grad_q U)/dx transposed, (3N x N), formed densely: the Coulomb part from the matrix
    gradient of :meth:`echemmd.charges.ChargeSolver.dense_matrix_gradient` at the charges q,
    the electronegativity part dchi_m/dx from one descriptor force pass per atom m over its own
    neighbours only. K lambda equals the potential's ``adjoint_forces`` (the test's oracle).

    Returns
    -------
    q : float64 (N,)
        Charges, e.
    e_elec : float
        eV.
    f_fixed : float64 (N, 3)
        eV/Å.
    response : float64 (3N, N)
        C, eV/Å per eV/e.
    """
    from echemmd.fourthgen import FourthGenPotential
    from echemmd.kernels.descriptors import symmetry_function_forces

    model = fourthgen_model(functions, electronegativity, _zero_short_range(functions, list(functions)), hardness,
                            sigma, screening)
    pot = FourthGenPotential(model, total_charge=frame.total_charge, accuracy=accuracy, tolerance=tolerance)
    system = frame.to_system()
    c = pot.compute(system)
    nl = pot._own_list
    q = system.charges.copy()
    _G, _chi, dchi = pot.charges_and_electronegativities(system, nl)
    n = system.n_atoms
    if pot.solver.variable.size != n:
        raise InputError(f"{frame.source}: 4G training needs every atom's charge to be variable")
    H = pot.solver.dense_matrix(system, nl, always=True)
    P = constrained_inverse(H)
    D = pot.solver.dense_matrix_gradient(system, nl)
    # Coulomb: K[k, :, m] = dphi_m/dx_k = -D_mk q_k (k != m), sum_j D_mj q_j (k = m).
    K = -np.transpose(D, (1, 0, 2)) * q[:, None, None]
    idx = np.arange(n)
    K[idx, idx, :] = np.einsum("mja,j->ma", D, q)
    K = np.ascontiguousarray(np.transpose(K, (0, 2, 1)).reshape(3 * n, n))
    # Electronegativities: K[:, m] += dchi_m/dx, from the neighbours of m alone.
    first, nbrs, shifts = (np.ascontiguousarray(a) for a in nl.full)
    desc = pot.descriptors
    positions = np.ascontiguousarray(system.positions)
    cell = np.ascontiguousarray(system.cell)
    species = desc.species_index(system.numbers)
    weights = np.zeros((n, desc.n_functions))
    for m in np.flatnonzero(pot.solver.kind == 1):
        lo, hi = first[m], first[m + 1]
        first_m = np.zeros(n + 1, dtype=first.dtype)
        first_m[m + 1:] = hi - lo
        weights[m] = dchi[m]
        f_m, _w = symmetry_function_forces(positions, cell, species, first_m, np.ascontiguousarray(nbrs[lo:hi]),
                                           np.ascontiguousarray(shifts[lo:hi]), desc._tables, weights)
        weights[m] = 0.0
        K[:, m] -= f_m.reshape(-1)
    return q, float(c.energy), np.array(c.forces), K @ P

"""Fitting the atomic networks to reference energies, forces and stress (DESIGN §5).

The loss of a set of B frames, each with N_f atoms,

    L = (1/B) sum_f [ w_E (dE_f / N_f)^2 + w_F / (3 N_f) sum_k |dF_k|^2 + w_S / (9 N_f^2) sum_ab dW_ab^2 ]

compares the short-range model with targets from which the model's own long-range
electrostatics has been subtracted (Delta learning: E_t = E_ref - E_elec^LR, F_t and the
virial W_t likewise, W = -V sigma), so that at run time E_NN + E_elec^LR reproduces the
reference. dE, dF, dW are model minus target. The stress term is written with the virial
per atom so that all three terms are in eV^2 per atom^2 (w_S is dimensionless).

Exact gradients of the force and stress terms, without finite differences and without
storing dG/dr. The forces are F_k = -dE/dx_k and the virial W_ab = -dE/d eps_ab, so

    sum_k dF_k . dF_k/dtheta = -d/dtheta [D_v E]  with v = dF held fixed,
    sum_ab dW_ab dW_ab/dtheta = -d/dtheta [D_eps E] with eps = dW held fixed,

where D_v E = sum_i (dE_i/dG_i) . U_i is the directional derivative of the energy along the
displacement field v and the strain eps, and U_i = dG_i[v, eps] is the forward-mode
derivative of the symmetry functions (``kernels.descriptors.symmetry_function_jvp``, one
pass over the neighbours). d/dtheta of (dE_i/dG_i) . U_i is forward-over-reverse through
the network (``kernels.network.network_parameter_gradient``). One loss gradient costs two
network passes and two descriptor passes (forces, then the directional derivative).

Everything is deterministic: kernels that reduce do so in a fixed order, batches are
drawn from a seeded generator, so a seed gives the same model bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from echemmd.errors import InputError
from echemmd.kernels.descriptors import symmetry_function_forces, symmetry_function_jvp
from echemmd.kernels.network import network_energy_gradient, network_parameter_gradient
from echemmd.network import ACTIVATIONS, ElementNetwork, ElementNetworks, pack_flat

__all__ = ["LossWeights", "PreparedFrame", "Metrics", "Trainer"]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three loss terms (see the module docstring)."""

    energy: float = 1.0
    force: float = 1.0
    stress: float = 0.0


@dataclass
class PreparedFrame:
    """A frame ready for training: descriptors, neighbour list and Delta-learning targets.

    Attributes
    ----------
    source : str
    symbols : ndarray of str (N,)
    positions, cell : float64 (N, 3), (3, 3)
        Å; the neighbour list refers to these positions.
    species : int64 (N,)
        Kernel species index of every atom (``SymmetryFunctions.species_index``).
    lists : tuple (first, neighbors, shifts)
        Full neighbour list within the descriptor cutoff.
    G : float64 (N, n_columns)
        Symmetry functions (all elements' columns).
    rows : dict str -> int64 array
        Atoms of each element.
    energy : float
        Target energy E_ref - E_LR, eV.
    forces : float64 (N, 3) or None
        Target forces, eV/Å.
    virial : float64 (3, 3) or None
        Target virial -V sigma_ref - W_LR, eV.
    long_range : tuple (energy, forces, virial)
        What was subtracted (zeros without a charge model), to report totals.
    element_inputs : dict str -> float64 (N_e, n_inputs)
        The network inputs of the atoms of each element: their symmetry functions, then the
        raw inputs.
    raw : float64 (N, n_raw) or None
        Unscaled trailing network inputs (the atomic charges of a 4G model), e.
    response : float64 (3N, N) or None
        Forces (eV/Å, flattened) per unit of dE_i/draw_i (eV/e): the adjoint-force map of a 4G
        model, F_adj = response @ (dE_short/dq) at the frame's fixed charges (see
        :mod:`echemmd.training.fourthgen`). None: the raw inputs do not move the forces.
    """

    source: str
    symbols: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    species: np.ndarray
    lists: tuple
    G: np.ndarray
    rows: dict
    energy: float
    forces: np.ndarray | None
    virial: np.ndarray | None
    long_range: tuple
    element_inputs: dict = field(default_factory=dict)
    raw: np.ndarray | None = None
    response: np.ndarray | None = None

    @property
    def n_atoms(self) -> int:
        return int(self.symbols.shape[0])


@dataclass
class Metrics:
    """Errors of a model on a set of frames (model minus reference).

    Energies per atom in eV, forces in eV/Å, stress in eV/Å^3; ``force_rmse_by_element``
    over the components of the atoms of each element.
    """

    loss: float
    energy_rmse: float
    energy_mae: float
    force_rmse: float
    force_mae: float
    stress_rmse: float
    force_rmse_by_element: dict
    n_frames: int


class Trainer:
    """The short-range networks of a model and the machinery to fit them.

    Parameters
    ----------
    functions : dict str -> list of dict
        Per element, its symmetry functions in network-input order.
    hidden : sequence of int
        Hidden layer sizes (same for every element).
    activation : str
        Hidden activation (output linear).
    weights : LossWeights
    seed : int
        Seeds the initial weights.
    raw_inputs : int
        Unscaled network inputs after the symmetry functions (1: the charge input of a 4G
        short-range network), given per frame to :meth:`prepare`.
    """

    def __init__(self, functions, hidden=(25, 25), activation="tanh", weights=LossWeights(), seed=0, raw_inputs=0):
        from ase.data import atomic_numbers

        from echemmd.descriptors import SymmetryFunctions

        if activation not in ACTIVATIONS or activation == "linear":
            raise InputError(f"network activation {activation!r} is not allowed; choose one of: "
                             + ", ".join(a for a in ACTIVATIONS if a != "linear"))
        self.elements = sorted(functions, key=lambda e: atomic_numbers[e])
        self.functions = {e: list(functions[e]) for e in self.elements}
        self.hidden = tuple(int(h) for h in hidden)
        if not self.hidden or min(self.hidden) < 1:
            raise InputError(f"network hidden layers must be positive sizes, got {list(hidden)}")
        self.activation = activation
        self.weights = weights
        self.seed = int(seed)
        all_functions = [f for e in self.elements for f in self.functions[e]]
        self.descriptors = SymmetryFunctions(all_functions)
        self.cutoff = self.descriptors.cutoff
        self.columns, start = {}, 0
        for e in self.elements:
            n = len(self.functions[e])
            self.columns[e] = np.arange(start, start + n, dtype=np.int64)
            start += n
        self.raw_inputs = int(raw_inputs)
        self.layer_sizes = {e: (len(self.functions[e]) + self.raw_inputs, *self.hidden, 1) for e in self.elements}
        self.acts = [activation] * len(self.hidden) + ["linear"]
        # Packed kernel layout of each element's network and where its parameters live in theta.
        self._sizes, self._w_off, self._b_off, self._slices = {}, {}, {}, {}
        pos = 0
        from echemmd.kernels import activations as act

        self._act_codes = np.array([act.CODES[a] for a in self.acts], dtype=np.int64)
        for e in self.elements:
            sizes = self.layer_sizes[e]
            n_par = sum(sizes[l] * sizes[l + 1] + sizes[l + 1] for l in range(len(sizes) - 1))
            self._slices[e] = slice(pos, pos + n_par)
            pos += n_par
            self._sizes[e] = np.array(sizes, dtype=np.int64)
            w_off, b_off = [0], [0]
            for l in range(len(sizes) - 2):
                w_off.append(w_off[-1] + sizes[l] * sizes[l + 1])
                b_off.append(b_off[-1] + sizes[l + 1])
            self._w_off[e] = np.array(w_off, dtype=np.int64)
            self._b_off[e] = np.array(b_off, dtype=np.int64)
        self.n_parameters = pos
        # Set by ``initialize``.
        self.statistics = None
        self.atom_energies = None
        self.e_scale = None
        self._scaling = None

    # ------------------------------------------------------------------ preparation
    def prepare(self, frames, long_range_model=None, accuracy=1e-6, cached=None, raw=None, response=None):
        """Descriptors, neighbour lists and Delta-learning targets of every frame.

        Parameters
        ----------
        frames : list of echemmd.io.dataset.Frame
        long_range_model : HybridModel or None
            Charge model, widths and switch whose long-range energy, forces and virial
            are subtracted from the references. None: no subtraction.
        accuracy : float
            Relative accuracy of that Ewald sum.
        cached : dict or None
            ``{"G": [...], "long_range": [...]}`` from a descriptor cache; missing
            entries are computed.
        raw : list of float64 (N, raw_inputs), optional
            Per frame, the unscaled inputs (needed when ``raw_inputs`` > 0).
        response : list of float64 (3N, N), optional
            Per frame, the adjoint-force map of the raw input (``PreparedFrame.response``).

        Returns
        -------
        list of PreparedFrame
        """
        known = set(self.elements)
        out = []
        cached = cached or {}
        if self.raw_inputs and (raw is None or len(raw) != len(frames)):
            raise InputError(f"the networks take {self.raw_inputs} unscaled input(s) per atom: give them per frame")
        for k, fr in enumerate(frames):
            for i, s in enumerate(fr.symbols):
                if s not in known:
                    raise InputError(f"{fr.source}: atom {i} is {s}, an element the model has no network for "
                                     f"(the model has {', '.join(self.elements)})")
            lists = self.frame_lists(fr)
            G = cached["G"][k] if cached.get("G") is not None else self.descriptor_values(fr, lists)
            if cached.get("long_range") is not None:
                lr = cached["long_range"][k]
            else:
                lr = long_range_part(long_range_model, fr, accuracy)
            e_lr, f_lr, w_lr = lr
            symbols = np.asarray(fr.symbols)
            rows = {e: np.flatnonzero(symbols == e) for e in self.elements}
            virial = None
            if fr.stress is not None and (response is None or response[k] is None):
                virial = -fr.volume * fr.stress - w_lr
            pf = PreparedFrame(source=fr.source, symbols=symbols, positions=fr.positions, cell=fr.cell,
                               species=self.descriptors.species_index(fr.numbers), lists=lists, G=G, rows=rows,
                               energy=fr.energy - e_lr, forces=None if fr.forces is None else fr.forces - f_lr,
                               virial=virial, long_range=(e_lr, f_lr, w_lr))
            if self.raw_inputs:
                pf.raw = np.asarray(raw[k], dtype=np.float64).reshape(fr.n_atoms, self.raw_inputs)
                if response is not None and response[k] is not None:
                    pf.response = np.ascontiguousarray(response[k], dtype=np.float64)
                    if pf.response.shape != (3 * fr.n_atoms, fr.n_atoms) or self.raw_inputs != 1:
                        raise InputError(f"{fr.source}: the force response must be (3N, N) for one raw input, "
                                         f"got {pf.response.shape}")
            for e in self.elements:
                X = G[np.ix_(rows[e], self.columns[e])]
                if self.raw_inputs:
                    X = np.hstack([X, pf.raw[rows[e]]])
                pf.element_inputs[e] = np.ascontiguousarray(X)
            out.append(pf)
        return out

    def frame_lists(self, frame):
        """Full neighbour list (first, neighbors, shifts) of a frame within the descriptor cutoff."""
        from echemmd.neighbors import NeighborList

        nl = NeighborList(self.cutoff, skin=0.0)
        nl.build(frame.positions, frame.cell, frame.pbc)
        return tuple(np.ascontiguousarray(a) for a in nl.full)

    def descriptor_values(self, frame, lists=None):
        """Symmetry functions (N, n_functions) of a frame."""
        return self.descriptors._values(frame.positions, frame.cell, frame.numbers,
                                        self.frame_lists(frame) if lists is None else lists)

    # ------------------------------------------------------------------ initialisation
    def initialize(self, frames, atom_energies=None):
        """Input scaling, per-element reference energies and output scale from training frames; random weights.

        * Inputs: x = (G - mean) / sigma per function (n2p2's ``scale_symmetry_functions_sigma``),
          statistics over the atoms of the element in ``frames``; a function constant over
          the set gets sigma = 1 (it carries no information, and scaling it by 1/0 would not).
        * Reference energies: least squares of the target energies on the element counts
          (what the networks need not learn); ``atom_energies`` fixes them instead.
        * Output scale: eV per network output, the spread of the remaining energy per atom
          combined with the force scale (RMS force component times 0.5 Å), so that the
          networks' outputs and slopes are of order one.
        * Weights: normal with variance 1/fan_in (Glorot-like for tanh), biases 0.

        Returns
        -------
        theta : float64 (n_parameters,)
        """
        if not frames:
            raise InputError("no training frames")
        self.statistics = self.input_statistics(frames)
        counts = np.array([[f.rows[e].size for e in self.elements] for f in frames], dtype=np.float64)
        energies = np.array([f.energy for f in frames])
        if atom_energies is None:
            coef, *_ = np.linalg.lstsq(counts, energies, rcond=None)
            self.atom_energies = {e: float(c) for e, c in zip(self.elements, coef)}
        else:
            missing = [e for e in self.elements if e not in atom_energies]
            if missing:
                raise InputError(f"atom_energies miss element(s) {missing}")
            self.atom_energies = {e: float(atom_energies[e]) for e in self.elements}
        n_atoms = counts.sum(axis=1)
        residual = (energies - counts @ np.array([self.atom_energies[e] for e in self.elements])) / n_atoms
        forces = [f.forces for f in frames if f.forces is not None]
        f_rms = float(np.sqrt(np.mean(np.concatenate([f.reshape(-1) for f in forces]) ** 2))) if forces else 0.0
        scale = math.sqrt(float(residual.std()) ** 2 + (0.5 * f_rms) ** 2)
        self.e_scale = scale if scale > 1e-6 else 1.0
        self._set_scaling()
        return self.initial_weights()

    def input_statistics(self, frames) -> dict:
        """Per element, (G_min, G_max, G_mean, G_sigma) of its symmetry functions over ``frames``.

        A function constant over the set gets sigma = 1 (it carries no information, and
        scaling it by 1/0 would not).
        """
        stats = {}
        for e in self.elements:
            blocks = [f.element_inputs[e] for f in frames if f.element_inputs[e].shape[0]]
            if not blocks:
                raise InputError(f"the training frames contain no atom of {e}, which the model has a network for")
            X = np.concatenate(blocks)[:, :len(self.functions[e])]
            sigma = X.std(axis=0)
            sigma[sigma <= 1e-12 * np.maximum(1.0, np.abs(X.mean(axis=0)))] = 1.0
            stats[e] = np.column_stack([X.min(axis=0), X.max(axis=0), X.mean(axis=0), sigma])
        return stats

    def set_output(self, statistics, atom_energies, e_scale):
        """Fix the input scaling, the per-element offsets (eV) and the output scale (eV per unit)."""
        self.statistics = statistics
        self.atom_energies = {e: float(atom_energies[e]) for e in self.elements}
        self.e_scale = float(e_scale)
        self._set_scaling()

    def initial_weights(self):
        """Random weights: normal with variance 1/fan_in, biases 0 (seeded)."""
        rng = np.random.default_rng(self.seed)
        theta = np.empty(self.n_parameters)
        for e in self.elements:
            sizes = self.layer_sizes[e]
            parts = []
            for l in range(len(sizes) - 1):
                parts.append(rng.normal(0.0, 1.0 / math.sqrt(sizes[l]), sizes[l] * sizes[l + 1]))
                parts.append(np.zeros(sizes[l + 1]))
            theta[self._slices[e]] = np.concatenate(parts)
        return theta

    def _set_scaling(self):
        """Input scaling arrays of the kernels from ``statistics`` (raw inputs pass unscaled)."""
        self._scaling = {}
        k = self.raw_inputs
        for e in self.elements:
            st = self.statistics[e]
            n = st.shape[0]
            self._scaling[e] = (np.zeros(n + k), np.concatenate([1.0 / st[:, 3], np.ones(k)]),
                                np.concatenate([st[:, 2], np.zeros(k)]))

    # ------------------------------------------------------------------ model
    def _packed(self, theta, e):
        w, b = pack_flat(self.layer_sizes[e], theta[self._slices[e]])
        return self._sizes[e], self._act_codes, w, self._w_off[e], b, self._b_off[e]

    def networks(self, theta) -> ElementNetworks:
        """The fitted networks with their scaling and reference energies."""
        nets = {e: ElementNetwork.from_flat(self.layer_sizes[e], self.acts, theta[self._slices[e]])
                for e in self.elements}
        return ElementNetworks(nets, scaling_mode="scale_sigma", statistics=self.statistics, scale_min=0.0,
                               scale_max=1.0, atom_energies=self.atom_energies, mean_energy=0.0,
                               conv_energy=1.0 / self.e_scale, raw_inputs=self.raw_inputs)

    def short_range_model(self, theta):
        """An ``N2P2Model`` (elements, functions, networks) of parameters ``theta``."""
        from echemmd.io.n2p2 import N2P2Model

        return N2P2Model(elements=list(self.elements), symmetry_functions=self.functions,
                         networks=self.networks(theta))

    # ------------------------------------------------------------------ loss
    def _forward(self, theta, batch):
        """Atomic energies, dE/dG and dE/draw of every frame of ``batch``, one network call per element."""
        energies = [np.zeros(f.n_atoms) for f in batch]
        dEdG = [np.zeros(f.G.shape) for f in batch]
        dEdraw = [np.zeros((f.n_atoms, self.raw_inputs)) for f in batch]
        for e in self.elements:
            blocks = [f.element_inputs[e] for f in batch]
            n_e = [b.shape[0] for b in blocks]
            if sum(n_e) == 0:
                continue
            X = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
            offset, factor, shift = self._scaling[e]
            E, g = network_energy_gradient(X, offset, factor, shift, *self._packed(theta, e), self.e_scale,
                                           self.atom_energies[e], True)
            pos = 0
            cols = self.columns[e]
            n_g = cols.size
            for k, f in enumerate(batch):
                n = n_e[k]
                if n:
                    r = f.rows[e]
                    energies[k][r] = E[pos:pos + n]
                    dEdG[k][np.ix_(r, cols)] = g[pos:pos + n, :n_g]
                    if self.raw_inputs:
                        dEdraw[k][r] = g[pos:pos + n, n_g:]
                pos += n
        return energies, dEdG, dEdraw

    def _residuals(self, theta, batch):
        """Per frame: (dE, dF or None, dW or None, E_pred, F_pred, W_pred), model minus target."""
        tables = self.descriptors._tables
        energies, dEdG, dEdraw = self._forward(theta, batch)
        out = []
        for f, e_at, g, g_raw in zip(batch, energies, dEdG, dEdraw):
            first, nbrs, shifts = f.lists
            F, W = symmetry_function_forces(f.positions, f.cell, f.species, first, nbrs, shifts, tables, g)
            if f.response is not None:
                # The charge slopes of the networks act through the adjoint solve of the charges.
                F = F + (f.response @ g_raw[:, 0]).reshape(-1, 3)
            E = float(e_at.sum())
            dF = None if f.forces is None else F - f.forces
            dW = None if f.virial is None else W - f.virial
            out.append((E - f.energy, dF, dW, E, F, W))
        return out

    def _loss_of(self, batch, res):
        """The loss (module docstring) from the residuals of ``batch``."""
        w = self.weights
        total = 0.0
        for f, (dE, dF, dW, *_r) in zip(batch, res):
            n = f.n_atoms
            total += w.energy * (dE / n) ** 2
            if dF is not None and w.force:
                total += w.force * float(np.sum(dF * dF)) / (3 * n)
            if dW is not None and w.stress:
                total += w.stress * float(np.sum(dW * dW)) / (9 * n * n)
        return total / len(batch)

    def loss(self, theta, batch, gradient=True):
        """Loss of ``batch`` and, when asked, its exact gradient with respect to theta.

        Returns
        -------
        loss : float
        grad : float64 (n_parameters,) (only when ``gradient``)
        """
        res = self._residuals(theta, batch)
        w = self.weights
        B = len(batch)
        total = self._loss_of(batch, res)
        if not gradient:
            return total
        tables = self.descriptors._tables
        n_cols = self.descriptors.n_functions
        coef, tangents, raw_tangents = [], [], []
        for f, (dE, dF, dW, *_r) in zip(batch, res):
            n = f.n_atoms
            coef.append(np.full(n, 2.0 * w.energy * dE / (n * n * B)))
            v = np.zeros((n, 3)) if dF is None or not w.force else -2.0 * w.force / (3 * n * B) * dF
            eps = np.zeros((3, 3)) if dW is None or not w.stress else -2.0 * w.stress / (9 * n * n * B) * dW
            t_raw = np.zeros((n, self.raw_inputs))
            if f.response is not None:
                # d/dtheta of dF . (response @ dE/dq): the tangent of the charge input, -response^T v.
                t_raw[:, 0] = -(f.response.T @ v.reshape(-1))
            raw_tangents.append(t_raw)
            if dF is None and dW is None:
                tangents.append(np.zeros((n, n_cols)))
                continue
            first, nbrs, shifts = f.lists
            tangents.append(symmetry_function_jvp(f.positions, f.cell, f.species, first, nbrs, shifts, tables,
                                                  n_cols, np.ascontiguousarray(v), np.ascontiguousarray(eps)))
        return total, self.parameter_gradient(theta, batch, coef, tangents, raw_tangents)

    def parameter_gradient(self, theta, batch, coef, tangents=None, raw_tangents=None):
        """d/dtheta of sum_f sum_i [c_fi E_fi + (dE_fi/dG_fi) . T_fi + (dE_fi/draw_fi) . Traw_fi].

        Parameters
        ----------
        coef : list of float64 (N_f,)
            Per frame, the coefficient of each atomic energy (loss per eV).
        tangents : list of float64 (N_f, n_functions), optional
            Per frame, the tangent of the symmetry functions (default zero).
        raw_tangents : list of float64 (N_f, raw_inputs), optional
            Per frame, the tangent of the raw inputs (default zero).

        Returns
        -------
        float64 (n_parameters,)
        """
        from echemmd.network import unpack_packed

        grad = np.zeros(self.n_parameters)
        for e in self.elements:
            rows = [f.rows[e] for f in batch]
            if sum(r.size for r in rows) == 0:
                continue
            cols = self.columns[e]
            X = np.concatenate([f.element_inputs[e] for f in batch])
            blocks = []
            for k, (f, r) in enumerate(zip(batch, rows)):
                t = np.zeros((r.size, cols.size)) if tangents is None else tangents[k][np.ix_(r, cols)]
                if self.raw_inputs:
                    t_raw = (np.zeros((r.size, self.raw_inputs)) if raw_tangents is None
                             else raw_tangents[k][r])
                    t = np.hstack([t, t_raw])
                blocks.append(t)
            T = np.ascontiguousarray(np.concatenate(blocks))
            c = np.concatenate([cf[r] for cf, r in zip(coef, rows)])
            offset, factor, shift = self._scaling[e]
            sizes, acts, wts, w_off, b, b_off = self._packed(theta, e)
            _, _, d_w, d_b = network_parameter_gradient(X, T, c, offset, factor, shift, sizes, acts, wts, w_off, b,
                                                        b_off, self.e_scale, self.atom_energies[e])
            grad[self._slices[e]] = unpack_packed(self.layer_sizes[e], d_w, d_b)
        return grad

    # ------------------------------------------------------------------ evaluation
    def metrics(self, theta, frames, batch_size=64) -> Metrics:
        """Loss and errors of the model on ``frames`` (RMSE and MAE; energies per atom)."""
        if not frames:
            nan = float("nan")
            return Metrics(nan, nan, nan, nan, nan, nan, {}, 0)
        de, df, dw = [], [], []
        by_el = {e: [] for e in self.elements}
        loss = 0.0
        for start in range(0, len(frames), batch_size):
            batch = frames[start:start + batch_size]
            res = self._residuals(theta, batch)
            loss += self._loss_of(batch, res) * len(batch)
            for f, (dE, dF, dW, *_r) in zip(batch, res):
                de.append(dE / f.n_atoms)
                if dF is not None:
                    df.append(dF.reshape(-1))
                    for e in self.elements:
                        by_el[e].append(dF[f.rows[e]].reshape(-1))
                if dW is not None:
                    dw.append(dW.reshape(-1) / abs(np.linalg.det(f.cell)))
        de = np.array(de)
        df = np.concatenate(df) if df else np.array([np.nan])
        dw = np.concatenate(dw) if dw else np.array([np.nan])
        rmse = {e: float(np.sqrt(np.mean(np.concatenate(v) ** 2))) for e, v in by_el.items()
                if sum(x.size for x in v)}
        return Metrics(loss=loss / len(frames), energy_rmse=float(np.sqrt(np.mean(de ** 2))),
                       energy_mae=float(np.mean(np.abs(de))), force_rmse=float(np.sqrt(np.mean(df ** 2))),
                       force_mae=float(np.mean(np.abs(df))), stress_rmse=float(np.sqrt(np.mean(dw ** 2))),
                       force_rmse_by_element=rmse, n_frames=len(frames))

    def predictions(self, theta, frames):
        """(E_ref, E_model) per atom, (F_ref, F_model) components, totals including the long-range part."""
        e_ref, e_mod, f_ref, f_mod = [], [], [], []
        for start in range(0, len(frames), 64):
            batch = frames[start:start + 64]
            for f, (_dE, _dF, _dW, E, F, _W) in zip(batch, self._residuals(theta, batch)):
                e_lr, f_lr, _ = f.long_range
                e_ref.append((f.energy + e_lr) / f.n_atoms)
                e_mod.append((E + e_lr) / f.n_atoms)
                if f.forces is not None:
                    f_ref.append((f.forces + f_lr).reshape(-1))
                    f_mod.append((F + f_lr).reshape(-1))
        cat = (lambda x: np.concatenate(x) if x else np.zeros(0))
        return np.array(e_ref), np.array(e_mod), cat(f_ref), cat(f_mod)


def long_range_part(model, frame, accuracy=1e-6):
    """(energy eV, forces eV/Å, virial eV) of a model's long-range part on a frame; zeros without charges."""
    n = frame.n_atoms
    if model is None or not model.has_electrostatics:
        return 0.0, np.zeros((n, 3)), np.zeros((3, 3))
    from echemmd.errors import EchemmdError
    from echemmd.mlpotential import long_range_forcefield

    system = frame.to_system()
    try:
        ff = long_range_forcefield(model, system, accuracy=accuracy, total_charge=frame.total_charge)
        c = ff.compute(system)
    except EchemmdError as exc:
        raise InputError(f"{frame.source}: long-range part of the model: {exc}") from None
    return float(c.energy), np.array(c.forces), np.array(c.virial)

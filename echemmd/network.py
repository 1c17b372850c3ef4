"""Per-element atomic neural networks of a Behler–Parrinello potential (DESIGN §4, §5).

``ElementNetwork`` is one multilayer perceptron; ``ElementNetworks`` holds one
per element together with everything needed to turn raw symmetry-function
values into atomic energies in eV:

1. input scaling with the training-set statistics (n2p2's scaling modes),
2. the network, whose output is in normalised units,
3. E_i = NN(x_i) / conv_energy + mean_energy + atom_energy[element_i].

Summed over atoms this is n2p2's
E = sum_i NN_i / conv_energy + N mean_energy + sum_e N_e atom_energy_e.

About ``conv_length``: n2p2 (normalised mode) multiplies positions and the
symmetry-function lengths r_c, r_s by conv_length and divides eta by
conv_length^2 before computing G. Every symmetry function of types 2, 3, 9 is
invariant under that joint rescaling (it depends only on r/r_c, eta r^2,
eta (r - r_s)^2 and angles), so G computed in Å with the parameters in Å equals
n2p2's G in normalised units, and the scaling statistics apply unchanged.
conv_length therefore never enters the evaluation here; it is kept only so that
a model can be written back to n2p2 files. Forces follow from dE/dG (eV per
unit G) times dG/dr (1/Å); this is n2p2's F = F_NN conv_length / conv_energy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from echemmd.errors import InputError
from echemmd.kernels import activations as act
from echemmd.kernels.network import network_energy_gradient, network_parameter_gradient

#: Activation names understood by ``ElementNetwork``.
ACTIVATIONS = tuple(act.CODES)
#: Input scaling modes (n2p2 keywords in brackets):
#: "none" x = G; "scale" (scale_symmetry_functions) x = S_min + (S_max - S_min)(G - G_min)/(G_max - G_min);
#: "center" (center_symmetry_functions) x = G - G_mean;
#: "scale_center" (both) x = S_min + (S_max - S_min)(G - G_mean)/(G_max - G_min);
#: "scale_sigma" (scale_symmetry_functions_sigma) x = S_min + (S_max - S_min)(G - G_mean)/G_sigma.
SCALING_MODES = ("none", "scale", "center", "scale_center", "scale_sigma")


class ElementNetwork:
    """One atomic multilayer perceptron.

    Parameters
    ----------
    layer_sizes : sequence of int
        Neurons per layer, input layer first: (n_in, h_1, ..., h_H, 1). The
        output layer has one neuron.
    activations : sequence of str
        Activation of every layer after the input, len(layer_sizes) - 1 names
        from ``ACTIVATIONS`` (hidden layers first, output last; the output is
        normally "linear").
    weights : sequence of array
        ``weights[l]`` has shape (layer_sizes[l], layer_sizes[l+1]): source
        index first, target fastest, as n2p2 stores them.
    biases : sequence of array
        ``biases[l]`` has shape (layer_sizes[l+1],).

    The network maps scaled inputs x to y = a_L(W_L^T a_{L-1}(... a_1(W_1^T x + b_1) ...) + b_L),
    in normalised energy units.
    """

    def __init__(self, layer_sizes, activations, weights, biases):
        sizes = tuple(int(n) for n in layer_sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise InputError(f"network layer sizes {list(sizes)} must be at least two positive numbers")
        if sizes[-1] != 1:
            raise InputError(f"network output layer must have 1 neuron, got {sizes[-1]}")
        acts = tuple(str(a) for a in activations)
        if len(acts) != len(sizes) - 1:
            raise InputError(f"network with layers {list(sizes)} needs {len(sizes) - 1} activations, "
                             f"got {len(acts)}")
        for a in acts:
            if a not in act.CODES:
                raise InputError(f"unknown activation {a!r}; allowed: {', '.join(ACTIVATIONS)}")
        if len(weights) != len(sizes) - 1 or len(biases) != len(sizes) - 1:
            raise InputError(f"network with layers {list(sizes)} needs {len(sizes) - 1} weight matrices "
                             f"and bias vectors, got {len(weights)} and {len(biases)}")
        W, b = [], []
        for l in range(len(sizes) - 1):
            w = np.array(weights[l], dtype=np.float64, copy=True)
            v = np.array(biases[l], dtype=np.float64, copy=True).reshape(-1)
            if w.shape != (sizes[l], sizes[l + 1]):
                raise InputError(f"weights of layer {l + 1} have shape {w.shape}, expected "
                                 f"{(sizes[l], sizes[l + 1])} (source, target)")
            if v.shape != (sizes[l + 1],):
                raise InputError(f"biases of layer {l + 1} have shape {v.shape}, expected {(sizes[l + 1],)}")
            # Read-only, so that the packed copy handed to the kernel can never go stale.
            w = np.ascontiguousarray(w)
            w.flags.writeable = False
            v.flags.writeable = False
            W.append(w)
            b.append(v)
        self.layer_sizes = sizes
        self.activations = acts
        self.weights = tuple(W)
        self.biases = tuple(b)
        self._packed = None

    # -- basic properties ------------------------------------------------------------------

    @property
    def n_inputs(self) -> int:
        """Number of inputs (symmetry functions)."""
        return self.layer_sizes[0]

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases."""
        return sum(w.size + v.size for w, v in zip(self.weights, self.biases))

    def __eq__(self, other):
        if not isinstance(other, ElementNetwork):
            return NotImplemented
        return (self.layer_sizes == other.layer_sizes and self.activations == other.activations
                and all(np.array_equal(a, b) for a, b in zip(self.weights, other.weights))
                and all(np.array_equal(a, b) for a, b in zip(self.biases, other.biases)))

    def __repr__(self):
        return f"ElementNetwork(layer_sizes={list(self.layer_sizes)}, activations={list(self.activations)})"

    def copy(self) -> "ElementNetwork":
        return ElementNetwork(self.layer_sizes, self.activations, self.weights, self.biases)

    # -- flat parameter vector (n2p2 order) ------------------------------------------------

    def to_flat(self) -> np.ndarray:
        """All parameters in n2p2's weights.NNN.data order.

        Per layer: the weights with the target neuron fastest (W[source, target]
        row-major), then that layer's biases.
        """
        parts = []
        for w, v in zip(self.weights, self.biases):
            parts.append(w.reshape(-1))
            parts.append(v)
        return np.concatenate(parts)

    @classmethod
    def from_flat(cls, layer_sizes, activations, flat) -> "ElementNetwork":
        """Inverse of ``to_flat``."""
        sizes = tuple(int(n) for n in layer_sizes)
        flat = np.asarray(flat, dtype=np.float64).reshape(-1)
        expected = sum(sizes[l] * sizes[l + 1] + sizes[l + 1] for l in range(len(sizes) - 1))
        if flat.size != expected:
            raise InputError(f"network with layers {list(sizes)} has {expected} parameters, got {flat.size}")
        W, b, pos = [], [], 0
        for l in range(len(sizes) - 1):
            nw = sizes[l] * sizes[l + 1]
            W.append(flat[pos:pos + nw].reshape(sizes[l], sizes[l + 1]))
            pos += nw
            b.append(flat[pos:pos + sizes[l + 1]])
            pos += sizes[l + 1]
        return cls(sizes, activations, W, b)

    @classmethod
    def random(cls, layer_sizes, activations, rng=None, bias_scale=0.5) -> "ElementNetwork":
        """Random network for tests: weights ~ N(0, 1/fan_in), biases ~ N(0, bias_scale^2).

        Parameters
        ----------
        layer_sizes : sequence of int
            (n_in, h_1, ..., 1).
        activations : str or sequence of str
            One name for all hidden layers (output linear), or one per layer after the input.
        rng : numpy.random.Generator or int or None
        """
        rng = np.random.default_rng(rng)
        sizes = tuple(int(n) for n in layer_sizes)
        if isinstance(activations, str):
            activations = [activations] * (len(sizes) - 2) + ["linear"]
        W = [rng.normal(0.0, 1.0 / math.sqrt(sizes[l]), (sizes[l], sizes[l + 1])) for l in range(len(sizes) - 1)]
        b = [rng.normal(0.0, bias_scale, sizes[l + 1]) for l in range(len(sizes) - 1)]
        return cls(sizes, activations, W, b)

    # -- exchange with n2p2 ----------------------------------------------------------------

    def n2p2_compatible(self) -> "ElementNetwork":
        """An equal network that uses only activations n2p2 knows.

        n2p2 has no shifted softplus. softplus(z) - ln 2 feeding layer l+1 equals
        softplus(z) feeding layer l+1 with biases b' = b - ln 2 sum_source W[source, :],
        which is exact up to rounding. A shifted softplus on the output layer has
        no next layer to absorb the shift and is refused.
        """
        acts = list(self.activations)
        W = [w.copy() for w in self.weights]
        b = [v.copy() for v in self.biases]
        for l, a in enumerate(acts):
            if a != "shifted_softplus":
                continue
            if l == len(acts) - 1:
                raise InputError("a shifted softplus on the output layer cannot be exported to n2p2 "
                                 "(there is no next layer to absorb the -ln 2)")
            acts[l] = "softplus"
            b[l + 1] = b[l + 1] - act.LN2 * W[l + 1].sum(axis=0)
        return ElementNetwork(self.layer_sizes, acts, W, b)

    # -- evaluation ------------------------------------------------------------------------

    def packed(self):
        """Flat arrays for ``kernels.network`` (cached): sizes, acts, weights, w_off, biases, b_off."""
        if self._packed is None:
            sizes = np.array(self.layer_sizes, dtype=np.int64)
            acts = np.array([act.CODES[a] for a in self.activations], dtype=np.int64)
            weights = np.ascontiguousarray(np.concatenate([w.reshape(-1) for w in self.weights]))
            biases = np.ascontiguousarray(np.concatenate(self.biases))
            w_off = np.zeros(len(self.weights), dtype=np.int64)
            b_off = np.zeros(len(self.biases), dtype=np.int64)
            for l in range(1, len(self.weights)):
                w_off[l] = w_off[l - 1] + self.weights[l - 1].size
                b_off[l] = b_off[l - 1] + self.biases[l - 1].size
            self._packed = (sizes, acts, weights, w_off, biases, b_off)
        return self._packed

    def evaluate(self, G, offset=None, factor=None, shift=None, e_scale=1.0, e_shift=0.0, gradient=True):
        """Outputs and input gradients for a batch.

        Parameters
        ----------
        G : array (N, n_inputs)
            Inputs. With the default scaling (offset 0, factor 1, shift 0) they are the
            network inputs x directly.
        offset, factor, shift : array (n_inputs,), optional
            Scaling x = offset + factor (G - shift).
        e_scale, e_shift : float
            Output transform E = e_scale y + e_shift.
        gradient : bool
            Also return dE/dG.

        Returns
        -------
        E : float64 (N,)
        dE_dG : float64 (N, n_inputs), only when ``gradient``.
        """
        G = np.ascontiguousarray(G, dtype=np.float64)
        if G.ndim != 2 or G.shape[1] != self.n_inputs:
            raise InputError(f"network inputs must have shape (N, {self.n_inputs}), got {G.shape}")
        n_in = self.n_inputs
        offset = np.zeros(n_in) if offset is None else np.ascontiguousarray(offset, dtype=np.float64)
        factor = np.ones(n_in) if factor is None else np.ascontiguousarray(factor, dtype=np.float64)
        shift = np.zeros(n_in) if shift is None else np.ascontiguousarray(shift, dtype=np.float64)
        if G.shape[0] == 0:
            E, g = np.zeros(0), np.zeros((0, n_in))
        else:
            E, g = network_energy_gradient(G, offset, factor, shift, *self.packed(),
                                           float(e_scale), float(e_shift), bool(gradient))
        return (E, g) if gradient else E

    def parameter_gradient(self, G, T, c, offset=None, factor=None, shift=None, e_scale=1.0, e_shift=0.0):
        """Gradient of sum_a [c_a E_a + s_a] with respect to all weights and biases (training).

        s_a = sum_mu dE_a/dG_a,mu T_a,mu is the derivative of atom a's energy along the
        fixed tangent T_a. With c_a = dLoss/dE_a and T_a = sum over force components of
        dLoss/dF times -dG_a/dr, the result is the exact gradient of energy and force
        losses (see ``kernels.network.network_parameter_gradient``).

        Parameters
        ----------
        G : array (N, n_inputs)
            Raw inputs (units of G).
        T : array (N, n_inputs)
            Per-atom tangents, in units of G (times whatever unit the force loss carries).
        c : array (N,)
            Per-atom energy coefficients (loss unit per eV).
        offset, factor, shift : array (n_inputs,), optional
            Scaling x = offset + factor (G - shift); default identity.
        e_scale, e_shift : float
            Output transform E = e_scale y + e_shift (eV per output unit, eV).

        Returns
        -------
        E : float64 (N,)
            Atomic energies, eV (bitwise equal to ``evaluate``'s).
        s : float64 (N,)
            sum_mu dE/dG_mu T_mu per atom, eV per unit of G times the unit of T.
        grad_flat : float64 (n_parameters,)
            dL/dtheta in ``to_flat()`` order (per layer W row-major, then b).
        """
        G = np.ascontiguousarray(G, dtype=np.float64)
        T = np.ascontiguousarray(T, dtype=np.float64)
        c = np.ascontiguousarray(c, dtype=np.float64).reshape(-1)
        n_in = self.n_inputs
        if G.ndim != 2 or G.shape[1] != n_in:
            raise InputError(f"network inputs must have shape (N, {n_in}), got {G.shape}")
        if T.shape != G.shape:
            raise InputError(f"tangents must have the shape of the inputs {G.shape}, got {T.shape}")
        if c.shape != (G.shape[0],):
            raise InputError(f"energy coefficients must have shape ({G.shape[0]},), got {c.shape}")
        offset = np.zeros(n_in) if offset is None else np.ascontiguousarray(offset, dtype=np.float64)
        factor = np.ones(n_in) if factor is None else np.ascontiguousarray(factor, dtype=np.float64)
        shift = np.zeros(n_in) if shift is None else np.ascontiguousarray(shift, dtype=np.float64)
        if G.shape[0] == 0:
            return np.zeros(0), np.zeros(0), np.zeros(self.n_parameters)
        E, sdot, dw, db = network_parameter_gradient(G, T, c, offset, factor, shift, *self.packed(),
                                                     float(e_scale), float(e_shift))
        return E, sdot, unpack_packed(self.layer_sizes, dw, db)


def pack_flat(layer_sizes, flat):
    """Split a ``to_flat()``-ordered parameter vector into the kernels' packed arrays.

    Parameters
    ----------
    layer_sizes : sequence of int
        (n_in, h_1, ..., 1).
    flat : array (n_parameters,)
        Per layer: W[source, target] row-major, then b (n2p2's weights.NNN.data order).

    Returns
    -------
    weights : float64
        All layers' weights one after the other, each row-major (source, target).
    biases : float64
        All layers' biases one after the other.
    """
    sizes = [int(n) for n in layer_sizes]
    flat = np.asarray(flat, dtype=np.float64).reshape(-1)
    n_w = sum(sizes[l] * sizes[l + 1] for l in range(len(sizes) - 1))
    n_b = sum(sizes[1:])
    if flat.size != n_w + n_b:
        raise InputError(f"network with layers {sizes} has {n_w + n_b} parameters, got {flat.size}")
    weights = np.empty(n_w)
    biases = np.empty(n_b)
    pos = pw = pb = 0
    for l in range(len(sizes) - 1):
        nw = sizes[l] * sizes[l + 1]
        weights[pw:pw + nw] = flat[pos:pos + nw]
        pos += nw
        pw += nw
        nb = sizes[l + 1]
        biases[pb:pb + nb] = flat[pos:pos + nb]
        pos += nb
        pb += nb
    return weights, biases


def unpack_packed(layer_sizes, weights, biases):
    """Inverse of ``pack_flat``: packed (weights, biases) -> ``to_flat()`` order.

    Parameters
    ----------
    layer_sizes : sequence of int
    weights, biases : array
        Packed as in ``ElementNetwork.packed()`` (or gradients in that layout).

    Returns
    -------
    flat : float64 (n_parameters,)
    """
    sizes = [int(n) for n in layer_sizes]
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    biases = np.asarray(biases, dtype=np.float64).reshape(-1)
    n_w = sum(sizes[l] * sizes[l + 1] for l in range(len(sizes) - 1))
    n_b = sum(sizes[1:])
    if weights.size != n_w or biases.size != n_b:
        raise InputError(f"network with layers {sizes} has {n_w} weights and {n_b} biases, "
                         f"got {weights.size} and {biases.size}")
    flat = np.empty(n_w + n_b)
    pos = pw = pb = 0
    for l in range(len(sizes) - 1):
        nw = sizes[l] * sizes[l + 1]
        flat[pos:pos + nw] = weights[pw:pw + nw]
        pos += nw
        pw += nw
        nb = sizes[l + 1]
        flat[pos:pos + nb] = biases[pb:pb + nb]
        pos += nb
        pb += nb
    return flat


def scaling_affine(mode, statistics, s_min=0.0, s_max=1.0):
    """Offset, factor and shift of x = offset + factor (G - shift) for a scaling mode.

    Parameters
    ----------
    mode : str
        One of ``SCALING_MODES``.
    statistics : array (n, 4) or None
        Columns G_min, G_max, G_mean, G_sigma (raw G units). Not needed for "none".
    s_min, s_max : float
        Target range (n2p2's scale_min_short, scale_max_short).

    Returns
    -------
    offset, factor, shift : float64 (n,)
    """
    if mode not in SCALING_MODES:
        raise InputError(f"unknown scaling mode {mode!r}; allowed: {', '.join(SCALING_MODES)}")
    st = np.asarray(statistics, dtype=np.float64)
    n = st.shape[0]
    g_min, g_max, g_mean, g_sigma = st[:, 0], st[:, 1], st[:, 2], st[:, 3]
    if mode == "none":
        return np.zeros(n), np.ones(n), np.zeros(n)
    if mode == "center":
        return np.zeros(n), np.ones(n), g_mean.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == "scale_sigma":
            factor = (s_max - s_min) / g_sigma
        else:
            factor = (s_max - s_min) / (g_max - g_min)
    offset = np.full(n, float(s_min))
    shift = g_min.copy() if mode == "scale" else g_mean.copy()
    return offset, factor, shift


class ElementNetworks:
    """The atomic networks of all elements with input scaling and energy normalisation.

    Parameters
    ----------
    networks : mapping str -> ElementNetwork
        One network per element symbol.
    scaling_mode : str
        One of ``SCALING_MODES`` (same for all elements, as in n2p2).
    statistics : mapping str -> array (n_inputs, 4), optional
        Per element and input: G_min, G_max, G_mean, G_sigma of the raw symmetry
        functions over the training set (n2p2's scaling.data). Required unless the
        mode is "none".
    scale_min, scale_max : float
        S_min, S_max of the scaled inputs (n2p2 defaults 0 and 1).
    atom_energies : mapping str -> float, optional
        Reference energy added per atom of the element, eV (n2p2's atom_energy).
    mean_energy : float
        Energy per atom added to every atom, eV.
    conv_energy : float
        Network output units per eV: E = NN / conv_energy + ...
    conv_length : float
        Normalised length units per Å. Not used for evaluation (see module docstring);
        kept for export.
    raw_inputs : int
        Number of trailing network inputs passed through unscaled (x = input), after the
        scaled symmetry functions: 1 for the atomic charge of a 4G short-range network
        (n2p2's extra charge neuron). ``statistics`` then covers the scaled inputs only.
    """

    def __init__(self, networks, scaling_mode="none", statistics=None, scale_min=0.0, scale_max=1.0,
                 atom_energies=None, mean_energy=0.0, conv_energy=1.0, conv_length=1.0, raw_inputs=0):
        if not networks:
            raise InputError("ElementNetworks needs at least one element network")
        self.networks = {str(e): n for e, n in networks.items()}
        for e, n in self.networks.items():
            if not isinstance(n, ElementNetwork):
                raise InputError(f"network of element {e} is not an ElementNetwork")
        if scaling_mode not in SCALING_MODES:
            raise InputError(f"unknown scaling mode {scaling_mode!r}; allowed: {', '.join(SCALING_MODES)}")
        self.scaling_mode = scaling_mode
        self.raw_inputs = int(raw_inputs)
        if self.raw_inputs < 0:
            raise InputError(f"raw_inputs must be >= 0, got {raw_inputs}")
        for e, n in self.networks.items():
            if n.n_inputs <= self.raw_inputs:
                raise InputError(f"network of element {e} has {n.n_inputs} inputs, not more than the "
                                 f"{self.raw_inputs} unscaled trailing input(s)")
        self.scale_min = float(scale_min)
        self.scale_max = float(scale_max)
        self.statistics = {}
        for e, st in (statistics or {}).items():
            if e not in self.networks:
                raise InputError(f"scaling statistics for element {e}, which has no network")
            st = np.array(st, dtype=np.float64, copy=True)
            n_in = self.networks[e].n_inputs - self.raw_inputs
            if st.shape != (n_in, 4):
                raise InputError(f"scaling statistics of element {e} must have shape ({n_in}, 4) "
                                 f"(G_min, G_max, G_mean, G_sigma), got {st.shape}")
            self.statistics[e] = st
        if scaling_mode != "none":
            missing = [e for e in self.networks if e not in self.statistics]
            if missing:
                raise InputError(f"scaling mode {scaling_mode!r} needs statistics for element(s) {missing}")
        self.atom_energies = {str(e): float(v) for e, v in (atom_energies or {}).items()}
        for e in self.atom_energies:
            if e not in self.networks:
                raise InputError(f"atom energy given for element {e}, which has no network")
        self.mean_energy = float(mean_energy)
        self.conv_energy = float(conv_energy)
        self.conv_length = float(conv_length)
        if not (self.conv_energy > 0.0 and math.isfinite(self.conv_energy)):
            raise InputError(f"conv_energy must be a positive number, got {conv_energy}")
        if not (self.conv_length > 0.0 and math.isfinite(self.conv_length)):
            raise InputError(f"conv_length must be a positive number, got {conv_length}")

    # -- description ---------------------------------------------------------------------

    @property
    def elements(self) -> tuple:
        """Element symbols in the order the networks were given."""
        return tuple(self.networks)

    def n_inputs(self, element) -> int:
        return self.networks[element].n_inputs

    def __eq__(self, other):
        if not isinstance(other, ElementNetworks):
            return NotImplemented
        return (self.networks == other.networks and self.scaling_mode == other.scaling_mode
                and self.scale_min == other.scale_min and self.scale_max == other.scale_max
                and self.statistics.keys() == other.statistics.keys()
                and all(np.array_equal(self.statistics[e], other.statistics[e]) for e in self.statistics)
                and self.atom_energies == other.atom_energies and self.mean_energy == other.mean_energy
                and self.conv_energy == other.conv_energy and self.conv_length == other.conv_length
                and self.raw_inputs == other.raw_inputs)

    def __repr__(self):
        return (f"ElementNetworks(elements={list(self.networks)}, scaling_mode={self.scaling_mode!r}, "
                f"mean_energy={self.mean_energy}, conv_energy={self.conv_energy})")

    def scaling(self, element):
        """(offset, factor, shift) of the input scaling x = offset + factor (G - shift) of ``element``.

        The trailing ``raw_inputs`` inputs get offset 0, factor 1, shift 0 (unscaled).
        """
        n_in = self.networks[element].n_inputs - self.raw_inputs
        st = self.statistics.get(element, np.zeros((n_in, 4)))
        offset, factor, shift = scaling_affine(self.scaling_mode, st, self.scale_min, self.scale_max)
        if not np.all(np.isfinite(factor)):
            bad = np.flatnonzero(~np.isfinite(factor)) + 1
            raise InputError(f"element {element}: symmetry function(s) {bad.tolist()} have zero range "
                             f"(G_max = G_min or G_sigma = 0), so mode {self.scaling_mode!r} cannot scale them")
        if self.raw_inputs:
            k = self.raw_inputs
            offset = np.concatenate([offset, np.zeros(k)])
            factor = np.concatenate([factor, np.ones(k)])
            shift = np.concatenate([shift, np.zeros(k)])
        return offset, factor, shift

    def scale(self, element, G):
        """Network inputs x of raw symmetry functions ``G`` (N, n_inputs) of ``element``."""
        offset, factor, shift = self.scaling(element)
        return offset + factor * (np.asarray(G, dtype=np.float64) - shift)

    def energy_shift(self, element) -> float:
        """Energy added to each atom of ``element``: mean_energy + atom energy, eV."""
        return self.mean_energy + self.atom_energies.get(element, 0.0)

    # -- evaluation ----------------------------------------------------------------------

    def energies_and_gradients(self, elements_of_atoms, G, gradient=True, columns=None):
        """Atomic energies and their gradients with respect to the raw symmetry functions.

        Atoms of one element go through their network as one batch.

        Parameters
        ----------
        elements_of_atoms : sequence of str (N,)
            Element symbol of every atom.
        G : array (N, n_functions)
            Raw symmetry-function values (physical units, unscaled).
        gradient : bool
            Compute dE/dG as well.
        columns : mapping str -> int array, optional
            Per element, the columns of G that are its network inputs, in input order
            (e.g. ``N2P2Model.columns()``). Default: the first n_inputs columns.
            Other columns of an atom's row are ignored.

        Returns
        -------
        energies : float64 (N,)
            E_i = NN(x_i) / conv_energy + mean_energy + atom_energy, eV; their sum is the
            short-range energy.
        dE_dG : float64 (N, n_functions)
            dE_i/dG_i, eV per unit of G (zero in the columns an atom's network does not
            read). Only when ``gradient``.
        """
        symbols = np.asarray(elements_of_atoms).astype(str).reshape(-1)
        G = np.asarray(G, dtype=np.float64)
        if G.ndim != 2 or G.shape[0] != symbols.shape[0]:
            raise InputError(f"G must have shape (N, n_functions) with N = {symbols.shape[0]} atoms, got {G.shape}")
        energies = np.zeros(symbols.shape[0])
        grad = np.zeros(G.shape) if gradient else None
        for e in np.unique(symbols):
            if e not in self.networks:
                raise InputError(f"no network for element {e}; the model has {', '.join(self.networks)}")
            net = self.networks[e]
            n_in = net.n_inputs
            if columns is None:
                if G.shape[1] < n_in:
                    raise InputError(f"element {e} needs {n_in} symmetry functions, G has {G.shape[1]} columns")
                cols = np.arange(n_in)
            else:
                if e not in columns:
                    raise InputError(f"no columns given for element {e}")
                cols = np.asarray(columns[e], dtype=np.int64).reshape(-1)
                if cols.size != n_in or (n_in and (cols.min() < 0 or cols.max() >= G.shape[1])):
                    raise InputError(f"element {e} needs {n_in} columns of G (0..{G.shape[1] - 1}), "
                                     f"got {cols.tolist()}")
            idx = np.flatnonzero(symbols == e)
            offset, factor, shift = self.scaling(e)
            out = net.evaluate(G[np.ix_(idx, cols)], offset, factor, shift, 1.0 / self.conv_energy,
                               self.energy_shift(e), gradient)
            if gradient:
                energies[idx] = out[0]
                grad[np.ix_(idx, cols)] = out[1]
            else:
                energies[idx] = out
        return (energies, grad) if gradient else energies

    def energy(self, elements_of_atoms, G, columns=None) -> float:
        """Total short-range energy, eV (arguments as ``energies_and_gradients``)."""
        return float(np.sum(self.energies_and_gradients(elements_of_atoms, G, gradient=False, columns=columns)))

    # -- construction for tests ------------------------------------------------------------

    @classmethod
    def random(cls, elements, n_functions, hidden=(10, 10), activations="tanh", seed=None,
               scaling_mode="scale_center", scale_min=0.0, scale_max=1.0, mean_energy=None,
               conv_energy=None, conv_length=1.0, atom_energies=True) -> "ElementNetworks":
        """Random networks, statistics and normalisation, for tests.

        Parameters
        ----------
        elements : sequence of str
        n_functions : int or mapping str -> int
            Inputs per element.
        hidden : sequence of int
            Hidden layer sizes (same for all elements, as n2p2 files need).
        activations : str or sequence of str
            One hidden activation (output linear) or one name per layer after the input.
        seed : int or numpy.random.Generator or None
        scaling_mode : str
        mean_energy, conv_energy : float, optional
            Random when not given.
        atom_energies : bool or mapping
            True: random per-element energies; False: none; mapping: as given.
        """
        rng = np.random.default_rng(seed)
        if not isinstance(n_functions, Mapping):
            n_functions = {e: int(n_functions) for e in elements}
        networks, statistics = {}, {}
        for e in elements:
            n = int(n_functions[e])
            sizes = (n, *[int(h) for h in hidden], 1)
            networks[e] = ElementNetwork.random(sizes, activations, rng)
            g_min = rng.uniform(0.0, 1.0, n)
            g_max = g_min + rng.uniform(0.5, 3.0, n)
            g_mean = g_min + rng.uniform(0.2, 0.8, n) * (g_max - g_min)
            g_sigma = rng.uniform(0.1, 0.5, n) * (g_max - g_min)
            statistics[e] = np.column_stack([g_min, g_max, g_mean, g_sigma])
        if atom_energies is True:
            atom_energies = {e: float(rng.uniform(-100.0, -1.0)) for e in elements}
        elif atom_energies is False:
            atom_energies = {}
        return cls(networks, scaling_mode, statistics, scale_min, scale_max, atom_energies,
                   mean_energy=float(rng.uniform(-5.0, 5.0)) if mean_energy is None else mean_energy,
                   conv_energy=float(rng.uniform(0.5, 50.0)) if conv_energy is None else conv_energy,
                   conv_length=conv_length)

    def random_inputs(self, n_atoms, seed=None, elements=None):
        """Random (symbols, G) inside the training ranges, for tests.

        Returns
        -------
        symbols : ndarray of str (n_atoms,)
        G : float64 (n_atoms, max n_inputs), padded with zeros
        """
        rng = np.random.default_rng(seed)
        elements = list(self.networks) if elements is None else list(elements)
        symbols = np.array([elements[i % len(elements)] for i in range(n_atoms)])
        rng.shuffle(symbols)
        width = max(self.networks[e].n_inputs for e in elements)
        G = np.zeros((n_atoms, width))
        for i, e in enumerate(symbols):
            n = self.networks[e].n_inputs
            st = self.statistics.get(e)
            if st is None:
                G[i, :n] = rng.uniform(0.0, 1.0, n)
            else:
                G[i, :n] = rng.uniform(st[:, 0], st[:, 1])
        return symbols, G


__all__ = ["ACTIVATIONS", "SCALING_MODES", "ElementNetwork", "ElementNetworks", "pack_flat", "scaling_affine",
           "unpack_packed"]

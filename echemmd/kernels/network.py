"""Forward and backward pass of one element's atomic network over a batch of atoms.

A network is handed to the kernel packed into flat arrays (no objects):

* ``sizes`` int64 (L+1,): neurons per layer, input first, output (1) last.
* ``acts`` int64 (L,): activation code of layers 1..L (see ``kernels.activations``).
* ``weights`` float64: the L weight matrices one after the other, each stored
  row-major with shape (n_source, n_target), i.e. target index fastest, which
  is n2p2's order in weights.NNN.data; layer l starts at ``w_off[l]``.
* ``biases`` float64: the L bias vectors one after the other; layer l starts at
  ``b_off[l]``.

The raw inputs G are scaled inside the kernel, x = offset + factor (G - shift)
per input (this covers every n2p2 scaling mode), and the output y becomes the
atomic energy E = e_scale y + e_shift. The gradient returned is dE/dG with
respect to the raw G, so the scaling's chain rule is applied here:
dE/dG_j = e_scale factor_j dy/dx_j.

Arithmetic mirrors n2p2 (per target neuron: sum over sources in order, then the
bias, then the activation), so a network read from n2p2 files reproduces n2p2's
outputs to rounding. The parallel loop runs over blocks of atoms and every atom
writes only its own output row, so the results do not depend on the number of
threads.
"""

import numpy as np
from numba import njit, prange

from echemmd.kernels.activations import activate

# Atoms per parallel task: large enough to amortise the scratch allocation.
_BLOCK = 64


@njit(cache=True, parallel=True)
def network_energy_gradient(G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off,
                            e_scale, e_shift, want_gradient):
    """Atomic energies and dE/dG of a batch of atoms of one element.

    Parameters
    ----------
    G : float64 (N, n_in), C-contiguous
        Raw (unscaled) network inputs, one row per atom.
    offset, factor, shift : float64 (n_in,)
        Input scaling x = offset + factor (G - shift).
    sizes, acts, weights, w_off, biases, b_off :
        Packed network (module docstring).
    e_scale : float
        Energy per network output unit (eV; 1 / conv_energy).
    e_shift : float
        Energy added to every atom (eV; mean energy + atomic reference energy).
    want_gradient : bool
        Also run the backward pass.

    Returns
    -------
    energy : float64 (N,)
        Atomic energies, eV.
    gradient : float64 (N, n_in)
        dE/dG, eV per unit of G (zeros when ``want_gradient`` is false).
    """
    n = G.shape[0]
    n_in = sizes[0]
    n_layers = acts.shape[0]
    width = 0
    for l in range(n_layers + 1):
        if sizes[l] > width:
            width = sizes[l]
    energy = np.zeros(n)
    gradient = np.zeros((n, n_in))
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        # Per-task scratch: neuron values and activation derivatives of every layer,
        # and two rows for the back-propagated error.
        value = np.empty((n_layers + 1, width))
        slope = np.empty((n_layers + 1, width))
        delta = np.empty((2, width))
        start = blk * _BLOCK
        stop = min(start + _BLOCK, n)
        for a in range(start, stop):
            for j in range(n_in):
                value[0, j] = offset[j] + factor[j] * (G[a, j] - shift[j])
            for l in range(n_layers):
                n_s = sizes[l]
                n_t = sizes[l + 1]
                for k in range(n_t):
                    value[l + 1, k] = 0.0
                for j in range(n_s):
                    xj = value[l, j]
                    base = w_off[l] + j * n_t
                    for k in range(n_t):
                        value[l + 1, k] += weights[base + k] * xj
                code = acts[l]
                for k in range(n_t):
                    f, d = activate(code, value[l + 1, k] + biases[b_off[l] + k])
                    value[l + 1, k] = f
                    slope[l + 1, k] = d
            energy[a] = e_scale * value[n_layers, 0] + e_shift
            if not want_gradient:
                continue
            # Backward: delta_l[j] = dy/dz_l[j] (z: pre-activation), and finally dy/dx.
            cur = 0
            delta[cur, 0] = slope[n_layers, 0]
            for l in range(n_layers - 1, -1, -1):
                n_s = sizes[l]
                n_t = sizes[l + 1]
                nxt = 1 - cur
                for j in range(n_s):
                    base = w_off[l] + j * n_t
                    s = 0.0
                    for k in range(n_t):
                        s += weights[base + k] * delta[cur, k]
                    if l > 0:
                        s *= slope[l, j]
                    delta[nxt, j] = s
                cur = nxt
            for j in range(n_in):
                gradient[a, j] = e_scale * factor[j] * delta[cur, j]
    return energy, gradient

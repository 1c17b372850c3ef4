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

``network_parameter_gradient`` gives, for training, the gradient with respect
to all weights and biases of L = sum_a [c_a E_a + s_a], where
s_a = sum_mu dE_a/dG_a,mu T_a,mu is the derivative of the atomic energy along a
fixed tangent T_a of the inputs (forward-mode tangent propagation through the
network, then reverse mode through both the primal and the tangent pass; this
needs the activations' second derivatives). With c_a = dLoss/dE_a and T_a the
force-loss weights contracted with dG/dr, it gives exact energy- and force-loss
gradients. Per-atom contributions are accumulated in fixed blocks of atoms into
per-block buffers that are summed in block order afterwards, so the gradient is
bitwise independent of the number of threads.
"""

import numpy as np
from numba import njit, prange

from echemmd.kernels.activations import activate, activate2

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


@njit(cache=True, parallel=True)
def network_parameter_gradient(G, T, c, offset, factor, shift, sizes, acts, weights, w_off, biases,
                               b_off, e_scale, e_shift):
    """Parameter gradient of sum_a [c_a E_a + s_a] for a batch of atoms of one element.

    With x = offset + factor (G - shift) and tangent xdot = factor T, every layer l
    computes z_l = W_l^T a_{l-1} + b_l, a_l = f(z_l) and zdot_l = W_l^T adot_{l-1},
    adot_l = f'(z_l) zdot_l; E = e_scale a_L + e_shift and s = e_scale adot_L, which
    equals sum_mu dE/dG_mu T_mu. The reverse pass carries the adjoints of a_l and
    adot_l, seeded with c e_scale and e_scale:
    adj(zdot_l) = adj(adot_l) f'(z_l),
    adj(z_l) = adj(a_l) f'(z_l) + adj(adot_l) f''(z_l) zdot_l,
    dL/dW_l[j, k] = sum_a a_{l-1}[j] adj(z_l)[k] + adot_{l-1}[j] adj(zdot_l)[k],
    dL/db_l = sum_a adj(z_l),
    adj(a_{l-1}) = W_l adj(z_l), adj(adot_{l-1}) = W_l adj(zdot_l).

    Parameters
    ----------
    G : float64 (N, n_in), C-contiguous
        Raw (unscaled) network inputs, one row per atom (N >= 1).
    T : float64 (N, n_in), C-contiguous
        Per-atom tangent in raw-G units (held fixed; the gradient does not flow into it).
    c : float64 (N,)
        Per-atom energy coefficient, 1/eV times the loss unit (held fixed).
    offset, factor, shift : float64 (n_in,)
        Input scaling x = offset + factor (G - shift).
    sizes, acts, weights, w_off, biases, b_off :
        Packed network (module docstring).
    e_scale : float
        Energy per network output unit (eV; 1 / conv_energy).
    e_shift : float
        Energy added to every atom (eV).

    Returns
    -------
    energy : float64 (N,)
        Atomic energies, eV; bitwise equal to ``network_energy_gradient``'s.
    s : float64 (N,)
        sum_mu dE/dG_mu T_mu, eV times the unit of T per unit of G.
    d_weights : float64, shape and layout of ``weights``
        dL/dW with L = sum_a [c_a E_a + s_a], in the loss unit per weight unit.
    d_biases : float64, shape and layout of ``biases``
        dL/db.
    """
    n = G.shape[0]
    n_in = sizes[0]
    n_layers = acts.shape[0]
    width = 0
    for l in range(n_layers + 1):
        if sizes[l] > width:
            width = sizes[l]
    n_w = weights.shape[0]
    n_b = biases.shape[0]
    energy = np.zeros(n)
    sdot = np.zeros(n)
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    dw_blocks = np.zeros((n_blocks, n_w))
    db_blocks = np.zeros((n_blocks, n_b))
    for blk in prange(n_blocks):
        # Per-task scratch: per layer the activations a, their tangents adot, the
        # pre-activation tangents zdot and f', f'' at z; two rows of adjoints of a and
        # adot (current layer, previous layer) and the adjoints of z and zdot.
        value = np.empty((n_layers + 1, width))
        tangent = np.empty((n_layers + 1, width))
        ztan = np.empty((n_layers + 1, width))
        slope = np.empty((n_layers + 1, width))
        curv = np.empty((n_layers + 1, width))
        adj_a = np.empty((2, width))
        adj_t = np.empty((2, width))
        adj_z = np.empty(width)
        adj_zt = np.empty(width)
        dw = dw_blocks[blk]
        db = db_blocks[blk]
        start = blk * _BLOCK
        stop = min(start + _BLOCK, n)
        for a in range(start, stop):
            for j in range(n_in):
                value[0, j] = offset[j] + factor[j] * (G[a, j] - shift[j])
                tangent[0, j] = factor[j] * T[a, j]
            for l in range(n_layers):
                n_s = sizes[l]
                n_t = sizes[l + 1]
                for k in range(n_t):
                    value[l + 1, k] = 0.0
                    ztan[l + 1, k] = 0.0
                for j in range(n_s):
                    xj = value[l, j]
                    tj = tangent[l, j]
                    base = w_off[l] + j * n_t
                    for k in range(n_t):
                        w = weights[base + k]
                        value[l + 1, k] += w * xj
                        ztan[l + 1, k] += w * tj
                code = acts[l]
                for k in range(n_t):
                    f, d, dd = activate2(code, value[l + 1, k] + biases[b_off[l] + k])
                    value[l + 1, k] = f
                    slope[l + 1, k] = d
                    curv[l + 1, k] = dd
                    tangent[l + 1, k] = d * ztan[l + 1, k]
            energy[a] = e_scale * value[n_layers, 0] + e_shift
            sdot[a] = e_scale * tangent[n_layers, 0]
            # Reverse pass through the primal and the tangent computation.
            cur = 0
            adj_a[cur, 0] = c[a] * e_scale
            adj_t[cur, 0] = e_scale
            for l in range(n_layers - 1, -1, -1):
                n_s = sizes[l]
                n_t = sizes[l + 1]
                for k in range(n_t):
                    d = slope[l + 1, k]
                    adj_zt[k] = adj_t[cur, k] * d
                    adj_z[k] = adj_a[cur, k] * d + adj_t[cur, k] * curv[l + 1, k] * ztan[l + 1, k]
                    db[b_off[l] + k] += adj_z[k]
                nxt = 1 - cur
                for j in range(n_s):
                    xj = value[l, j]
                    tj = tangent[l, j]
                    base = w_off[l] + j * n_t
                    sa = 0.0
                    st = 0.0
                    for k in range(n_t):
                        dw[base + k] += xj * adj_z[k] + tj * adj_zt[k]
                        w = weights[base + k]
                        sa += w * adj_z[k]
                        st += w * adj_zt[k]
                    adj_a[nxt, j] = sa
                    adj_t[nxt, j] = st
                cur = nxt
    # Deterministic reduction: blocks summed in block order.
    d_weights = np.zeros(n_w)
    d_biases = np.zeros(n_b)
    for blk in range(n_blocks):
        for i in range(n_w):
            d_weights[i] += dw_blocks[blk, i]
        for i in range(n_b):
            d_biases[i] += db_blocks[blk, i]
    return energy, sdot, d_weights, d_biases

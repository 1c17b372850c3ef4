"""CUDA twin of :func:`echemmd.kernels.network.network_energy_gradient`, a mixed-precision variant,
and the gather/scatter kernels that connect one element's batch to the arrays of all atoms.

Design
------
One thread per atom, as on the CPU one atom per loop iteration: the thread scales its input row,
runs the forward pass layer by layer, then (when the gradient is wanted) the backward pass, and
writes only its own energy and gradient row, so the results need no reduction and repeat bit for
bit. The arithmetic is the CPU kernel's (n2p2's): per target neuron the sum over the sources in
order starting from 0, then the bias, then the activation; backward, per source the sum over the
targets in order, then the product with f'. On a GPU the compiler contracts a * b + c into a
fused multiply-add, so results differ from the CPU's in the last bits (the tests hold them to
1e-12 relative; the simulator, which does not fuse, reproduces the CPU bit for bit).

Per-thread scratch is ``cuda.local.array`` (its shape must be a compile-time constant, hence the
limits below). It lives in local memory, which the hardware interleaves across the threads of a
warp: as every thread of a warp runs the same network in lock step, the warp's accesses to
scratch element i are one coalesced transaction, served by L1. One flat buffer of
``MAX_INPUTS + MAX_WIDTH`` values holds the layers ping-pong (layer l at offset 0 for even l and
``MAX_INPUTS`` for odd l; the inputs are layer 0), and the same two slots hold the back-propagated
errors, as the forward values are no longer needed then; a second buffer keeps f' of the hidden
layers for the backward pass. Per thread that is 7 KiB in float64 (3.5 KiB in the mixed kernel),
all reserved but only the network's own widths touched.

The weights are read from global memory. Every thread of a warp reads the same weight at the same
time (same network, same loop indices), so each read is one broadcast transaction that hits the
cache after the first warp (a 120-64-64-1 network has 12 k weights, 94 KiB in float64: L1, up to
256 KiB per SM shared with the scratch, or L2). Staging them in shared memory would give the
same broadcast read at similar latency but costs a barrier per block, a static size limit (48 KiB
without opt-in: too small for n2p2-sized networks in float64) and occupancy for small networks,
so it is not done.

What bounds the one-thread-per-atom design is instructions and loads per multiply-add (a weight and
a source value each), so the dense loops work on tiles of ``TILE`` = 4 targets (forward) or sources
(backward): one source value (or error) is loaded per tile and reused from a register, which cuts
the scratch loads per multiply-add from 1 to 1/4 while leaving the summation order of each neuron
unchanged. (A warp-per-atom layout, lanes over neurons, would load weights coalesced instead of
broadcast; it changes the summation order and needs warp shuffles the simulator lacks.) The dense
loops index with unsigned integers: numba wraps a signed index that might be negative (a compare and
a select per access), which there costs more instructions than the multiply-adds; with unsigned
indices the float64 forward loop is 52 PTX instructions per 16 multiply-adds (16 weight loads, 4
scratch loads) against 185 with signed ones (``python -m echemmd.kernels.cuda.ptx`` compiles it;
nothing here has been timed on a GPU yet).

The input row G[a, :] is read once per atom (a strided, per-thread row read; rows are contiguous,
so L1 lines are reused over consecutive columns) and the gradient row is written once.

Mixed precision
---------------
``network_energy_gradient_mixed`` keeps weights, biases, layer values, f' and the back-propagated
errors in float32 and does the dense sums and the activations in float32 (the dense sums are
O(width^2) of the work, the activations O(width)). What stays in float64: the input scaling
x = offset + factor (G - shift) (G - shift may cancel; the result is rounded to float32 once), the
output transform E = e_scale y + e_shift and the gradient dE/dG = e_scale factor (dy/dx), so the
outputs are float64 arrays like the float64 kernel's. The activations are the same Python source
compiled for a float32 argument: tanh, exp, cos are the float32 calls (``tanhf``, ``expf``), and
where a float64 literal enters the formula the rest is float64 (1 - t^2, softplus's log(1 + e^x)),
which is O(width) work per layer against the O(width^2) sums. The relative error against the
float64 kernel is 1e-7 to 3e-7 of the largest atomic energy (less e_shift) and dE/dG entry
(float32's epsilon times a small factor; ``tests/test_cuda_network.py``). The inputs G stay
float64 also when the descriptors run in float32 (``kernels.cuda.descriptors``, "Precision"); the
gradient is scattered into a float32 dE/dG for their force pass (:func:`scatter_gradient`).

Limits
------
``MAX_INPUTS`` inputs, ``MAX_WIDTH`` neurons per hidden layer, ``MAX_HIDDEN`` hidden layers; the
output layer has one neuron. A network beyond them raises ``ValueError`` naming the limit (raise
the constant to allow it, at the cost of more local memory per thread).
"""

import numpy as np
from numba import cuda, float32, float64, uint64

from echemmd.kernels.cuda.launch import THREADS, blocks, device, is_device_array, kernel
from echemmd.kernels.cuda.scalar import activate as _activate

#: Most network inputs (symmetry functions per element).
MAX_INPUTS = 256
#: Most neurons in one hidden layer (at most ``MAX_INPUTS``: hidden layers share its slot).
MAX_WIDTH = 128
#: Most hidden layers (weight layers: ``MAX_HIDDEN + 1``).
MAX_HIDDEN = 4
# Scratch values per thread: two layer slots (a module constant: local array shapes must be literal).
_BUFFER = MAX_INPUTS + MAX_WIDTH
#: Neurons (forward) or sources (backward) per register tile of the dense loops (the four
#: accumulators are written out in ``_dense_forward`` and ``_dense_backward``).
TILE = 4
#: Precisions of :func:`network_energy_gradient`.
PRECISIONS = ("float64", "mixed")


# ---------------------------------------------------------------------------- per-atom device code
# Written once for both precisions: the buffers' dtype and the accumulator start ``acc0`` (0.0 or
# float32(0.0)) passed in choose it.

# Unsigned index constants for the dense loops (module docstring: a signed index costs a wraparound
# compare and select per access). uint64 op int64 is float64 in numba, hence typed constants.
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(TILE)


def _dense_forward(buf, src, dst, n_s, n_t, weights, wb, acc0):
    """buf[dst + k] = sum_j weights[wb + j n_t + k] buf[src + j] for k < n_t, j in order from 0.

    Tiles of four targets: each source value is loaded once per tile and kept in a register.
    """
    us = uint64(src)
    ud = uint64(dst)
    ns = uint64(n_s)
    nt = uint64(n_t)
    k = _U0
    while k + _U4 <= nt:
        s0 = acc0
        s1 = acc0
        s2 = acc0
        s3 = acc0
        w = uint64(wb) + k
        j = _U0
        while j < ns:
            xj = buf[us + j]
            s0 += weights[w] * xj
            s1 += weights[w + _U1] * xj
            s2 += weights[w + _U2] * xj
            s3 += weights[w + _U3] * xj
            w += nt
            j += _U1
        buf[ud + k] = s0
        buf[ud + k + _U1] = s1
        buf[ud + k + _U2] = s2
        buf[ud + k + _U3] = s3
        k += _U4
    while k < nt:
        s = acc0
        w = uint64(wb) + k
        j = _U0
        while j < ns:
            s += weights[w] * buf[us + j]
            w += nt
            j += _U1
        buf[ud + k] = s
        k += _U1


def _dense_backward(buf, src, dst, n_s, n_t, weights, wb, acc0):
    """buf[dst + j] = sum_k weights[wb + j n_t + k] buf[src + k] for j < n_s, k in order from 0.

    Tiles of four sources (four weight rows): each error value is loaded once per tile.
    """
    us = uint64(src)
    ud = uint64(dst)
    ns = uint64(n_s)
    nt = uint64(n_t)
    w0 = uint64(wb)
    j = _U0
    while j + _U4 <= ns:
        s0 = acc0
        s1 = acc0
        s2 = acc0
        s3 = acc0
        w1 = w0 + nt
        w2 = w1 + nt
        w3 = w2 + nt
        k = _U0
        while k < nt:
            dk = buf[us + k]
            s0 += weights[w0 + k] * dk
            s1 += weights[w1 + k] * dk
            s2 += weights[w2 + k] * dk
            s3 += weights[w3 + k] * dk
            k += _U1
        buf[ud + j] = s0
        buf[ud + j + _U1] = s1
        buf[ud + j + _U2] = s2
        buf[ud + j + _U3] = s3
        j += _U4
        w0 = w3 + nt
    while j < ns:
        s = acc0
        k = _U0
        while k < nt:
            s += weights[w0 + k] * buf[us + k]
            k += _U1
        buf[ud + j] = s
        j += _U1
        w0 += nt


_dense_forward_d = device(_dense_forward)
_dense_backward_d = device(_dense_backward)


def _evaluate_atom(a, G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off, e_scale, e_shift,
                   want_gradient, energy, gradient, buf, slope, acc0):
    """Forward and backward pass of atom ``a`` (the CPU kernel's loop body) with scratch ``buf``, ``slope``."""
    n_in = sizes[0]
    n_layers = acts.shape[0]
    # Layer l lives at offset 0 (even l) or MAX_INPUTS (odd l): inputs first, in float64 then rounded.
    for j in range(n_in):
        buf[j] = offset[j] + factor[j] * (G[a, j] - shift[j])
    for l in range(n_layers - 1):
        src = (l % 2) * MAX_INPUTS
        dst = MAX_INPUTS - src
        n_t = sizes[l + 1]
        _dense_forward_d(buf, src, dst, sizes[l], n_t, weights, w_off[l], acc0)
        code = acts[l]
        bb = b_off[l]
        for k in range(n_t):
            f, d = _activate(code, buf[dst + k] + biases[bb + k])
            buf[dst + k] = f
            slope[l, k] = d
    # Output layer: one neuron.
    last = n_layers - 1
    src = (last % 2) * MAX_INPUTS
    dst = MAX_INPUTS - src
    _dense_forward_d(buf, src, dst, sizes[last], 1, weights, w_off[last], acc0)
    y, dy = _activate(acts[last], buf[dst] + biases[b_off[last]])
    # float64 casts: the mixed kernel's y is float32 (under the simulator, float32 * a Python float stays float32).
    energy[a] = e_scale * float64(y) + e_shift
    if not want_gradient:
        for j in range(n_in):
            gradient[a, j] = 0.0
        return
    # Backward: the error dy/dz of layer l + 1 (at its slot) gives that of layer l (at the other).
    buf[dst] = dy
    for l in range(n_layers - 1, -1, -1):
        dst = (l % 2) * MAX_INPUTS
        src = MAX_INPUTS - dst
        n_s = sizes[l]
        _dense_backward_d(buf, src, dst, n_s, sizes[l + 1], weights, w_off[l], acc0)
        if l > 0:
            for j in range(n_s):
                buf[dst + j] *= slope[l - 1, j]
    # dE/dG_j = e_scale factor_j dy/dx_j (the CPU's order of the products), in float64.
    for j in range(n_in):
        gradient[a, j] = e_scale * factor[j] * float64(buf[j])


_evaluate_atom_d = device(_evaluate_atom)


# ---------------------------------------------------------------------------- kernels
@kernel("void(float64[:, ::1], float64[::1], float64[::1], float64[::1], int64[::1], int64[::1], float64[::1], "
        "int64[::1], float64[::1], int64[::1], float64, float64, boolean, float64[::1], float64[:, ::1])")
def _network_f64(G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off, e_scale, e_shift,
                 want_gradient, energy, gradient):
    a = cuda.grid(1)
    if a >= G.shape[0]:
        return
    buf = cuda.local.array(_BUFFER, float64)
    slope = cuda.local.array((MAX_HIDDEN, MAX_WIDTH), float64)
    _evaluate_atom_d(a, G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off, e_scale, e_shift,
                     want_gradient, energy, gradient, buf, slope, 0.0)


@kernel("void(float64[:, ::1], float64[::1], float64[::1], float64[::1], int64[::1], int64[::1], float32[::1], "
        "int64[::1], float32[::1], int64[::1], float64, float64, boolean, float64[::1], float64[:, ::1])")
def _network_mixed(G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off, e_scale, e_shift,
                   want_gradient, energy, gradient):
    a = cuda.grid(1)
    if a >= G.shape[0]:
        return
    buf = cuda.local.array(_BUFFER, float32)
    slope = cuda.local.array((MAX_HIDDEN, MAX_WIDTH), float32)
    _evaluate_atom_d(a, G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off, e_scale, e_shift,
                     want_gradient, energy, gradient, buf, slope, float32(0.0))


@kernel("void(float64[::1], float32[::1])")
def _to_float32(a, out):
    i = cuda.grid(1)
    if i < a.shape[0]:
        out[i] = a[i]


@kernel("void(float64[:, ::1], int64[::1], int64[::1], float64[:, ::1])")
def _gather(G_all, atoms, columns, out):
    """out[a, c] = G_all[atoms[a], columns[c]], one thread per element of ``out`` (row-major: coalesced writes)."""
    i = cuda.grid(1)
    n_c = columns.shape[0]
    if i >= atoms.shape[0] * n_c:
        return
    a = i // n_c
    c = i - a * n_c
    out[a, c] = G_all[atoms[a], columns[c]]


# ``out`` float64, or float32 for the float32 descriptor force pass (precision "mixed"): rounded here.
@kernel([f"void(float64[:, ::1], int64[::1], int64[::1], {real}[:, ::1])" for real in ("float64", "float32")])
def _scatter(grad, atoms, columns, out):
    """out[atoms[a], columns[c]] = grad[a, c], one thread per element of ``grad``."""
    i = cuda.grid(1)
    n_c = columns.shape[0]
    if i >= atoms.shape[0] * n_c:
        return
    a = i // n_c
    c = i - a * n_c
    out[atoms[a], columns[c]] = grad[a, c]


@kernel("void(float64[::1], int64[::1], float64[::1])")
def _scatter_rows(energy, atoms, out):
    i = cuda.grid(1)
    if i < atoms.shape[0]:
        out[atoms[i]] = energy[i]


@kernel([f"void({real}[:, ::1])" for real in ("float64", "float32")])
def _zero(a):
    i = cuda.grid(1)
    n_c = a.shape[1]
    if i < a.shape[0] * n_c:
        r = i // n_c
        a[r, i - r * n_c] = 0.0


# ---------------------------------------------------------------------------- host functions
def _dev(a, dtype, name):
    """``a`` as a C-contiguous device array of ``dtype``: host arrays are copied, device arrays checked."""
    if is_device_array(a):
        if a.dtype != np.dtype(dtype):
            raise ValueError(f"{name}: device array of dtype {a.dtype}, expected {np.dtype(dtype)}")
        return a
    return cuda.to_device(np.ascontiguousarray(a, dtype=dtype))


def _host(a, dtype):
    return np.asarray(a.copy_to_host() if is_device_array(a) else a, dtype=dtype).reshape(-1)


def check_network(sizes, acts):
    """Validate a packed network's shape against the kernel limits.

    Parameters
    ----------
    sizes : int (L+1,), host or device
        Neurons per layer, input first, output (1) last.
    acts : int (L,), host or device
        Activation codes of layers 1..L.

    Returns
    -------
    sizes : numpy int64 (L+1,)
        ``sizes`` on the host.

    Raises
    ------
    ValueError
        When the shape is inconsistent or exceeds ``MAX_INPUTS``, ``MAX_WIDTH`` or ``MAX_HIDDEN``.
    """
    sizes = _host(sizes, np.int64)
    n_layers = len(sizes) - 1
    if n_layers < 1 or sizes[-1] != 1 or np.any(sizes < 1):
        raise ValueError(f"network layer sizes {sizes.tolist()}: need an input layer and one output neuron")
    n_acts = acts.shape[0] if hasattr(acts, "shape") else len(acts)
    if n_acts != n_layers:
        raise ValueError(f"{n_acts} activation codes for {n_layers} layers")
    where = f"network {sizes.tolist()} exceeds the CUDA network kernel's limit"
    if sizes[0] > MAX_INPUTS:
        raise ValueError(f"{where}: {sizes[0]} inputs > MAX_INPUTS = {MAX_INPUTS} "
                         f"(echemmd.kernels.cuda.network.MAX_INPUTS)")
    if n_layers - 1 > MAX_HIDDEN:
        raise ValueError(f"{where}: {n_layers - 1} hidden layers > MAX_HIDDEN = {MAX_HIDDEN} "
                         f"(echemmd.kernels.cuda.network.MAX_HIDDEN)")
    if n_layers > 1 and sizes[1:-1].max() > MAX_WIDTH:
        raise ValueError(f"{where}: a hidden layer of {sizes[1:-1].max()} neurons > MAX_WIDTH = {MAX_WIDTH} "
                         f"(echemmd.kernels.cuda.network.MAX_WIDTH)")
    return sizes


def as_float32(a):
    """A float64 host or device vector as a float32 device vector (float32 device arrays pass through).

    For the mixed kernel's weights and biases: an engine converts them once and passes the result.
    """
    if is_device_array(a):
        if a.dtype == np.float32:
            return a
        if a.dtype != np.float64:
            raise ValueError(f"expected a float64 or float32 vector, got {a.dtype}")
        out = cuda.device_array(a.shape[0], dtype=np.float32)
        if a.shape[0]:
            _to_float32[blocks(a.shape[0]), THREADS](a, out)
        return out
    return cuda.to_device(np.ascontiguousarray(a, dtype=np.float32).reshape(-1))


#: Device copies of host ``sizes`` vectors by content: the sizes are checked on the host and read
#: by the kernel on the device, and an engine step should not upload them again (one entry per
#: network shape in use).
_DEVICE_SIZES = {}


def _device_sizes(sizes, sizes_h):
    if is_device_array(sizes):
        return sizes
    key = sizes_h.tobytes()
    d = _DEVICE_SIZES.get(key)
    if d is None:
        d = _DEVICE_SIZES[key] = cuda.to_device(sizes_h)
    return d


def _launch(kern, wdtype, G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off, e_scale, e_shift,
            want_gradient, energy, gradient):
    sizes_h = check_network(sizes, acts)
    n_in = int(sizes_h[0])
    if G.ndim != 2 or G.shape[1] != n_in:
        raise ValueError(f"network inputs must have shape (N, {n_in}), got {G.shape}")
    G = _dev(G, np.float64, "G")
    n = G.shape[0]
    if wdtype == np.float32:
        weights, biases = as_float32(weights), as_float32(biases)
    else:
        weights, biases = _dev(weights, np.float64, "weights"), _dev(biases, np.float64, "biases")
    if energy is None:
        energy = cuda.device_array(n, dtype=np.float64)
    if gradient is None:
        gradient = cuda.device_array((n, n_in), dtype=np.float64)
    if energy.shape != (n,) or gradient.shape != (n, n_in):
        raise ValueError(f"output arrays must have shapes ({n},) and ({n}, {n_in})")
    if n:
        kern[blocks(n), THREADS](G, _dev(offset, np.float64, "offset"), _dev(factor, np.float64, "factor"),
                                 _dev(shift, np.float64, "shift"), _device_sizes(sizes, sizes_h),
                                 _dev(acts, np.int64, "acts"), weights,
                                 _dev(w_off, np.int64, "w_off"), biases, _dev(b_off, np.int64, "b_off"),
                                 float(e_scale), float(e_shift), bool(want_gradient), energy, gradient)
    return energy, gradient


def network_energy_gradient(G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off, e_scale, e_shift,
                            want_gradient, precision="float64", energy=None, gradient=None):
    """Atomic energies and dE/dG of a batch of atoms of one element, on the device.

    The CPU kernel's signature and results (:func:`echemmd.kernels.network.network_energy_gradient`).
    Arrays may be host (copied) or device arrays; the packed network is best kept on the device
    with ``sizes`` on the host (it is checked on the host; a device ``sizes`` is copied back).

    Parameters
    ----------
    G : float64 (N, n_in), C-contiguous
        Raw (unscaled) network inputs, one row per atom.
    offset, factor, shift : float64 (n_in,)
        Input scaling x = offset + factor (G - shift).
    sizes, acts, weights, w_off, biases, b_off :
        Packed network (``kernels.network``): int64 sizes (L+1,), int64 activation codes (L,),
        float64 weights and biases (float32 accepted for ``precision="mixed"``), int64 offsets.
    e_scale : float
        Energy per network output unit (eV; 1 / conv_energy).
    e_shift : float
        Energy added to every atom (eV).
    want_gradient : bool
        Also run the backward pass (otherwise the gradient is zero, as on the CPU).
    precision : {"float64", "mixed"}
        "mixed" runs :func:`network_energy_gradient_mixed`.
    energy, gradient : device float64 (N,) and (N, n_in), optional
        Output arrays to fill (allocated when not given).

    Returns
    -------
    energy : device float64 (N,)
        Atomic energies, eV.
    gradient : device float64 (N, n_in)
        dE/dG, eV per unit of G.

    Raises
    ------
    ValueError
        For a network beyond ``MAX_INPUTS``, ``MAX_WIDTH``, ``MAX_HIDDEN``, or inconsistent shapes.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "mixed":
        return network_energy_gradient_mixed(G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off,
                                             e_scale, e_shift, want_gradient, energy, gradient)
    return _launch(_network_f64, np.float64, G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off,
                   e_scale, e_shift, want_gradient, energy, gradient)


def network_energy_gradient_mixed(G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off, e_scale,
                                  e_shift, want_gradient, energy=None, gradient=None):
    """As :func:`network_energy_gradient` with float32 layers (module docstring, "Mixed precision").

    ``weights`` and ``biases`` are converted to float32 unless they already are float32 device
    arrays (:func:`as_float32`; convert once and pass those). Inputs, scaling and the outputs
    (energy (N,) eV, dE/dG (N, n_in)) are float64 device arrays; their relative error against the
    float64 kernel is about 1e-7.
    """
    return _launch(_network_mixed, np.float32, G, offset, factor, shift, sizes, acts, weights, w_off, biases, b_off,
                   e_scale, e_shift, want_gradient, energy, gradient)


def gather_inputs(G_all, atoms, columns, out=None):
    """One element's network inputs from the descriptors of all atoms: out[a, c] = G_all[atoms[a], columns[c]].

    Parameters
    ----------
    G_all : device float64 (N_atoms, n_functions)
        Symmetry functions of every atom (units of G).
    atoms : device int64 (n,)
        The atoms of the element, in batch order.
    columns : device int64 (n_in,)
        The element's network inputs, as columns of ``G_all``, in input order.
    out : device float64 (n, n_in), optional
        Filled and returned (allocated when not given).

    Returns
    -------
    out : device float64 (n, n_in)
    """
    G_all = _dev(G_all, np.float64, "G_all")
    atoms, columns = _dev(atoms, np.int64, "atoms"), _dev(columns, np.int64, "columns")
    n, m = atoms.shape[0], columns.shape[0]
    if out is None:
        out = cuda.device_array((n, m), dtype=np.float64)
    if n * m:
        _gather[blocks(n * m), THREADS](G_all, atoms, columns, out)
    return out


def scatter_gradient(grad, atoms, columns, dEdG_all):
    """dEdG_all[atoms[a], columns[c]] = grad[a, c]: one element's dE/dG into the array of all atoms.

    An atom belongs to one element and a column appears once per element, so no two threads write
    the same place. Only those entries are written: zero ``dEdG_all`` (:func:`zero`) before the
    elements are scattered, so the columns an element does not read hold 0.

    Parameters
    ----------
    grad : device float64 (n, n_in)
        dE/dG of the element's batch (eV per unit of G).
    atoms : device int64 (n,)
    columns : device int64 (n_in,)
    dEdG_all : device float64 or float32 (N_atoms, n_functions)
        Written in place (rounded to float32 for a float32 array: the input of the float32
        descriptor force pass, ``kernels.cuda.descriptors``) and returned.
    """
    atoms, columns = _dev(atoms, np.int64, "atoms"), _dev(columns, np.int64, "columns")
    n, m = atoms.shape[0], columns.shape[0]
    if n * m:
        _scatter[blocks(n * m), THREADS](_dev(grad, np.float64, "grad"), atoms, columns, dEdG_all)
    return dEdG_all


def scatter_energy(energy, atoms, out):
    """out[atoms[a]] = energy[a]: one element's atomic energies (eV) into the device array (N_atoms,) of all atoms."""
    atoms = _dev(atoms, np.int64, "atoms")
    if atoms.shape[0]:
        _scatter_rows[blocks(atoms.shape[0]), THREADS](_dev(energy, np.float64, "energy"), atoms, out)
    return out


def zero(a):
    """Set a float64 or float32 device array (2-D, C-contiguous, or 1-D) to 0 in place and return it."""
    a2 = a.reshape(a.shape[0], 1) if a.ndim == 1 else a
    if a2.size:
        _zero[blocks(a2.size), THREADS](a2)
    return a

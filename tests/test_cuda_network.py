"""CUDA atomic-network kernels against the CPU kernel (numba's CUDA simulator in CI).

Every activation code with several depths, with and without the backward pass, against
``kernels.network.network_energy_gradient`` to 1e-12; the mixed-precision kernel against the
float64 one with a float32-sized bound; the gather/scatter kernels against numpy; the limits.
"""

import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")

from echemmd.kernels import activations as act  # noqa: E402
from echemmd.kernels import network as cpu  # noqa: E402
from echemmd.kernels.cuda import network as gpu  # noqa: E402
from echemmd.network import ElementNetwork  # noqa: E402

# Hidden layer sizes per depth: no hidden layer, one, two, three (tile remainders 1..3 included).
DEPTHS = [(), (6,), (5, 7), (4, 9, 3)]


def _batch(net, n_atoms, rng, spread=1.0):
    """Random raw inputs and an input scaling (x = offset + factor (G - shift)) of order ``spread``."""
    n_in = net.n_inputs
    G = rng.normal(2.0, 1.5, (n_atoms, n_in))
    shift = rng.normal(2.0, 0.3, n_in)
    factor = rng.uniform(0.3, 0.7, n_in) * spread
    offset = rng.normal(0.0, 0.1, n_in)
    return G, offset, factor, shift


def _close(actual, desired, rtol):
    """Relative agreement to ``rtol`` of the largest entry (entries near zero are not singled out)."""
    actual = actual.copy_to_host() if hasattr(actual, "copy_to_host") else actual
    scale = max(np.abs(desired).max(), 1e-300) if desired.size else 1.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("code", sorted(act.NAMES))
def test_float64_equals_cpu_every_activation(code):
    name = act.NAMES[code]
    rng = np.random.default_rng(100 + code)
    # exp(-x) and x^2 of sums of exp(-x) or x^2 grow fast: smaller inputs and weights keep them finite.
    small = code in (act.EXP, act.HARMONIC)
    spread = 0.3 if small else 1.0
    for depth, hidden in enumerate(DEPTHS):
        n_in = 9 + depth
        sizes = (n_in, *hidden, 1)
        # Hidden layers with this activation and a linear output, then the activation on the output too.
        for acts in ([name] * len(hidden) + ["linear"], [name] * (len(hidden) + 1)):
            net = ElementNetwork.random(sizes, acts, rng=rng, bias_scale=0.3)
            if small:
                net = ElementNetwork(sizes, acts, [0.4 * w for w in net.weights], net.biases)
            G, offset, factor, shift = _batch(net, 11, rng, spread)
            for want in (True, False):
                args = (G, offset, factor, shift, *net.packed(), 0.37, -4.2, want)
                e_ref, g_ref = cpu.network_energy_gradient(*args)
                e, g = gpu.network_energy_gradient(*args)
                assert e.shape == (11,) and g.shape == (11, n_in)
                _close(e, e_ref, 1e-12)
                _close(g, g_ref, 1e-12)
                if not want:
                    assert not np.any(g.copy_to_host())


def test_float64_mixed_activations_and_device_inputs():
    """Different activations per layer; device arrays in, output arrays reused, N = 0."""
    rng = np.random.default_rng(7)
    names = list(act.CODES)
    net = ElementNetwork.random((13, 10, 8, 5, 1), [names[i] for i in rng.integers(0, 11, 4)], rng=rng)
    G, offset, factor, shift = _batch(net, 37, rng)  # more than one block of 32 threads is not needed: 37 rows
    packed = net.packed()
    e_ref, g_ref = cpu.network_energy_gradient(G, offset, factor, shift, *packed, 1.3, 0.5, True)
    dev = [cuda.to_device(a) for a in (G, offset, factor, shift, *packed)]
    energy = cuda.device_array(37)
    gradient = cuda.device_array((37, 13))
    e, g = gpu.network_energy_gradient(*dev, 1.3, 0.5, True, energy=energy, gradient=gradient)
    assert e is energy and g is gradient
    _close(e, e_ref, 1e-12)
    _close(g, g_ref, 1e-12)
    # Runs repeat bit for bit (one thread per atom, no atomics).
    e2, g2 = gpu.network_energy_gradient(*dev, 1.3, 0.5, True)
    np.testing.assert_array_equal(e2.copy_to_host(), e.copy_to_host())
    np.testing.assert_array_equal(g2.copy_to_host(), g.copy_to_host())
    e0, g0 = gpu.network_energy_gradient(G[:0], offset, factor, shift, *packed, 1.3, 0.5, True)
    assert e0.shape == (0,) and g0.shape == (0, 13)


def test_n2p2_sized_network():
    """A network of n2p2's size (120 inputs, 2 x 64 tanh) on a few atoms."""
    rng = np.random.default_rng(11)
    net = ElementNetwork.random((120, 64, 64, 1), "tanh", rng=rng)
    G, offset, factor, shift = _batch(net, 5, rng, spread=0.2)
    args = (G, offset, factor, shift, *net.packed(), 0.05, -1234.5, True)
    e_ref, g_ref = cpu.network_energy_gradient(*args)
    e, g = gpu.network_energy_gradient(*args)
    _close(e, e_ref, 1e-12)
    _close(g, g_ref, 1e-12)


def test_network_at_the_limits():
    """The largest network the scratch holds (the layer slots filled to the last element)."""
    rng = np.random.default_rng(12)
    sizes = (gpu.MAX_INPUTS, *[gpu.MAX_WIDTH] * gpu.MAX_HIDDEN, 1)
    net = ElementNetwork.random(sizes, "softplus", rng=rng)
    G, offset, factor, shift = _batch(net, 2, rng, spread=0.1)
    args = (G, offset, factor, shift, *net.packed(), 1.0, 0.0, True)
    e_ref, g_ref = cpu.network_energy_gradient(*args)
    e, g = gpu.network_energy_gradient(*args)
    _close(e, e_ref, 1e-12)
    _close(g, g_ref, 1e-12)


@pytest.mark.parametrize("sizes, limit", [
    ((gpu.MAX_INPUTS + 1, 8, 1), "MAX_INPUTS"),
    ((20, gpu.MAX_WIDTH + 1, 1), "MAX_WIDTH"),
    ((20, *[8] * (gpu.MAX_HIDDEN + 1), 1), "MAX_HIDDEN"),
])
def test_network_over_the_limits_raises(sizes, limit):
    net = ElementNetwork.random(sizes, "tanh", rng=0)
    n_in = sizes[0]
    G = np.zeros((3, n_in))
    for fn in (gpu.network_energy_gradient, gpu.network_energy_gradient_mixed):
        with pytest.raises(ValueError, match=limit):
            fn(G, np.zeros(n_in), np.ones(n_in), np.zeros(n_in), *net.packed(), 1.0, 0.0, True)


def test_bad_arguments_raise():
    net = ElementNetwork.random((5, 4, 1), "tanh", rng=0)
    one = np.ones(5)
    with pytest.raises(ValueError, match="shape"):
        gpu.network_energy_gradient(np.zeros((3, 6)), one, one, one, *net.packed(), 1.0, 0.0, True)
    with pytest.raises(ValueError, match="precision"):
        gpu.network_energy_gradient(np.zeros((3, 5)), one, one, one, *net.packed(), 1.0, 0.0, True,
                                    precision="float16")


def _relative_error(actual, desired):
    """max |actual - desired| / max |desired|."""
    return float(np.abs(actual - desired).max() / np.abs(desired).max())


# float32 keeps 24 bits (epsilon 6e-8); through 30-96 inputs and two or three layers the simulator
# measured 1.1e-7 to 1.6e-7 (energy) and 1.8e-7 to 3.1e-7 (dE/dG) relative. The bound leaves a
# factor of about 6 for the GPU's float32 transcendentals (tanhf, expf: up to 2 ulp), which the
# simulator evaluates in double precision.
MIXED_RTOL = 2e-6


@pytest.mark.parametrize("sizes, activation", [
    ((30, 20, 20, 1), "tanh"),
    ((30, 20, 20, 1), "shifted_softplus"),
    ((96, 25, 25, 1), "tanh"),
    ((50, 32, 16, 8, 1), "softplus"),
])
def test_mixed_precision_error(sizes, activation):
    """Mixed precision against float64: relative error of the atomic energy and of dE/dG."""
    rng = np.random.default_rng(sum(sizes))
    net = ElementNetwork.random(sizes, activation, rng=rng)
    G, offset, factor, shift = _batch(net, 24, rng, spread=1.0)
    e_shift = -850.0
    args = (G, offset, factor, shift, *net.packed(), 0.8, e_shift, True)
    e64, g64 = (a.copy_to_host() for a in gpu.network_energy_gradient(*args))
    e32, g32 = (a.copy_to_host() for a in gpu.network_energy_gradient_mixed(*args))
    assert e32.dtype == np.float64 and g32.dtype == np.float64
    # Relative to the network's part of the energy (the constant e_shift is added in float64).
    err_e = _relative_error(e32 - e_shift, e64 - e_shift)
    err_g = _relative_error(g32, g64)
    print(f"\nmixed vs float64 {sizes} {activation}: energy {err_e:.2e}, gradient {err_g:.2e}, "
          f"total energy {_relative_error(e32, e64):.2e}")
    assert err_e < MIXED_RTOL
    assert err_g < MIXED_RTOL
    assert err_e > 1e-9  # the arithmetic really is float32
    # Same results through the precision switch and with float32 device weights converted once.
    sizes_, acts, weights, w_off, biases, b_off = net.packed()
    e_sw, g_sw = gpu.network_energy_gradient(*args, precision="mixed")
    e_f32, g_f32 = gpu.network_energy_gradient_mixed(
        G, offset, factor, shift, sizes_, acts, gpu.as_float32(cuda.to_device(weights)), w_off,
        gpu.as_float32(biases), b_off, 0.8, e_shift, True)
    for e_, g_ in ((e_sw, g_sw), (e_f32, g_f32)):
        np.testing.assert_array_equal(e_.copy_to_host(), e32)
        np.testing.assert_array_equal(g_.copy_to_host(), g32)


def test_mixed_without_gradient():
    rng = np.random.default_rng(3)
    net = ElementNetwork.random((12, 8, 1), "tanh", rng=rng)
    G, offset, factor, shift = _batch(net, 6, rng)
    args = (G, offset, factor, shift, *net.packed(), 1.0, 0.0)
    e1, _ = gpu.network_energy_gradient_mixed(*args, True)
    e0, g0 = gpu.network_energy_gradient_mixed(*args, False)
    np.testing.assert_array_equal(e0.copy_to_host(), e1.copy_to_host())
    assert not np.any(g0.copy_to_host())


def test_gather_scatter_against_numpy():
    rng = np.random.default_rng(4)
    n_atoms, n_functions = 23, 9
    G_all = rng.normal(size=(n_atoms, n_functions))
    atoms = np.array([3, 0, 17, 8, 22, 5], dtype=np.int64)
    columns = np.array([7, 1, 2, 4], dtype=np.int64)
    out = gpu.gather_inputs(cuda.to_device(G_all), atoms, columns)
    np.testing.assert_array_equal(out.copy_to_host(), G_all[np.ix_(atoms, columns)])

    # Two elements scattered into one zeroed array: each atom's row gets its element's columns only.
    other = np.setdiff1d(np.arange(n_atoms), atoms)
    other_columns = np.array([0, 8, 3], dtype=np.int64)
    grad_a = rng.normal(size=(len(atoms), len(columns)))
    grad_b = rng.normal(size=(len(other), len(other_columns)))
    dEdG = cuda.to_device(np.full((n_atoms, n_functions), np.nan))
    gpu.zero(dEdG)
    gpu.scatter_gradient(cuda.to_device(grad_a), atoms, columns, dEdG)
    gpu.scatter_gradient(grad_b, cuda.to_device(other), other_columns, dEdG)
    expected = np.zeros((n_atoms, n_functions))
    expected[np.ix_(atoms, columns)] = grad_a
    expected[np.ix_(other, other_columns)] = grad_b
    np.testing.assert_array_equal(dEdG.copy_to_host(), expected)

    energies = cuda.to_device(np.full(n_atoms, np.nan))
    e_a, e_b = rng.normal(size=len(atoms)), rng.normal(size=len(other))
    gpu.scatter_energy(e_a, atoms, energies)
    gpu.scatter_energy(cuda.to_device(e_b), other, energies)
    expected = np.empty(n_atoms)
    expected[atoms], expected[other] = e_a, e_b
    np.testing.assert_array_equal(energies.copy_to_host(), expected)
    v = cuda.to_device(np.ones(5))
    np.testing.assert_array_equal(gpu.zero(v).copy_to_host(), np.zeros(5))

"""Training support: activations' second derivatives and exact parameter gradients of
energy and force losses, sum_a [c_a E_a + s_a] with s_a = dE_a/dG_a . T_a."""

import numba
import numpy as np
import pytest

from echemmd.kernels import activations as act
from echemmd.kernels.network import network_energy_gradient, network_parameter_gradient
from echemmd.network import ACTIVATIONS, ElementNetwork, pack_flat, unpack_packed


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


# Independent numpy second derivatives (written from the closed forms, not from the kernels).
NUMPY_SECOND = {
    "linear": lambda x: np.zeros_like(x),
    "tanh": lambda x: -2.0 * np.tanh(x) / np.cosh(x) ** 2,
    "softplus": lambda x: _logistic(x) * (1.0 - _logistic(x)),
    "shifted_softplus": lambda x: _logistic(x) * (1.0 - _logistic(x)),
    "logistic": lambda x: _logistic(x) * (1.0 - _logistic(x)) * (1.0 - 2.0 * _logistic(x)),
    "relu": lambda x: np.zeros_like(x),
    "gaussian": lambda x: (x * x - 1.0) * np.exp(-0.5 * x * x),
    "cos": lambda x: -np.cos(x),
    "revlogistic": lambda x: _logistic(x) * (1.0 - _logistic(x)) * (2.0 * _logistic(x) - 1.0),
    "exp": lambda x: np.exp(-x),
    "harmonic": lambda x: np.full_like(x, 2.0),
}

HIDDEN = ["tanh", "softplus", "shifted_softplus", "logistic", "gaussian", "cos", "exp", "harmonic",
          "revlogistic", "relu"]


def test_second_derivative_table_covers_all_activations():
    assert set(NUMPY_SECOND) == set(ACTIVATIONS)
    assert set(HIDDEN) == set(ACTIVATIONS) - {"linear"}


@pytest.mark.parametrize("name", sorted(NUMPY_SECOND))
def test_second_derivatives(name):
    code = act.CODES[name]
    x = np.linspace(-6.0, 6.0, 241) + 0.013  # away from the relu kink
    f, df, d2f = act.evaluate2(code, x)
    np.testing.assert_allclose(d2f, NUMPY_SECOND[name](x), rtol=1e-12, atol=1e-14)
    # f'' is the derivative of f' (central differences of the first-derivative kernel).
    h = 1e-6
    _, dp = act.evaluate(code, x + h)
    _, dm = act.evaluate(code, x - h)
    np.testing.assert_allclose(d2f, (dp - dm) / (2 * h), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("name", sorted(NUMPY_SECOND))
def test_value_and_first_derivative_bitwise_equal_to_activate(name):
    code = act.CODES[name]
    x = np.concatenate([np.linspace(-50.0, 50.0, 2001), [0.0, -0.0, 35.0, -35.0, 35.0 + 1e-12, -35.0 - 1e-12]])
    f, df, _ = act.evaluate2(code, x)
    f1, df1 = act.evaluate(code, x)
    assert np.array_equal(f, f1) and np.array_equal(df, df1)


def test_second_derivative_clamps_follow_first_derivative():
    x = np.array([-40.0, 40.0])
    for code in (act.SOFTPLUS, act.SHIFTED_SOFTPLUS, act.LOGISTIC):
        _, _, d2f = act.evaluate2(code, x)
        assert d2f.tolist() == [0.0, 0.0]
    _, _, d2f = act.evaluate2(act.RELU, np.array([-1.0, 0.0, 1.0]))
    assert d2f.tolist() == [0.0, 0.0, 0.0]


# -- parameter gradients -----------------------------------------------------------------------


def _setup(activations, n_atoms, seed, n_in=5, hidden=(6, 5)):
    rng = np.random.default_rng(seed)
    sizes = (n_in, *hidden, 1)
    net = ElementNetwork.random(sizes, activations, rng)
    shift = rng.uniform(0.5, 1.5, n_in)
    factor = rng.uniform(0.5, 2.0, n_in)
    offset = rng.uniform(-0.3, 0.3, n_in)
    G = shift + rng.uniform(-0.7, 0.7, (n_atoms, n_in)) / factor
    T = rng.normal(0.0, 1.0, (n_atoms, n_in))
    c = rng.normal(0.0, 1.0, n_atoms)
    return net, G, T, c, (offset, factor, shift), 0.37, -2.5


def _preactivations(net, X):
    """All pre-activations z_l (numpy), for keeping finite differences off relu's kink."""
    h, zs = X, []
    for W, b, a in zip(net.weights, net.biases, net.activations):
        z = h @ W + b
        zs.append(z)
        h = np.maximum(z, 0.0) if a == "relu" else {"tanh": np.tanh, "linear": lambda v: v}[a](z)
    return zs


def _loss_via_energy_gradient(net, flat, G, T, c, scaling, e_scale, e_shift):
    """sum(c E) + sum(dE/dG . T) from the production energy/gradient kernel."""
    sizes, acts, _, w_off, _, b_off = net.packed()
    weights, biases = pack_flat(net.layer_sizes, flat)
    E, g = network_energy_gradient(G, *scaling, sizes, acts, weights, w_off, biases, b_off,
                                   e_scale, e_shift, True)
    return np.sum(c * E) + np.sum(g * T)


def _finite_difference_gradient(net, G, T, c, scaling, e_scale, e_shift, h=1e-5):
    theta = net.to_flat()
    fd = np.zeros_like(theta)
    for i in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        fd[i] = (_loss_via_energy_gradient(net, tp, G, T, c, scaling, e_scale, e_shift)
                 - _loss_via_energy_gradient(net, tm, G, T, c, scaling, e_scale, e_shift)) / (2 * h)
    return fd


CASES = [[a, a, "linear"] for a in HIDDEN] + [
    ["tanh", "softplus", "logistic"],          # nonlinear output layer: f'' enters at the top too
    ["gaussian", "revlogistic", "harmonic"],
    ["shifted_softplus", "cos", "exp"],
]


@pytest.mark.parametrize("activations", CASES, ids=lambda a: "-".join(a))
def test_parameter_gradient_matches_finite_differences(activations):
    net, G, T, c, scaling, e_scale, e_shift = _setup(activations, n_atoms=12, seed=3)
    if "relu" in activations:
        # Keep only atoms whose pre-activations are all well away from the kink.
        X = scaling[0] + scaling[1] * (G - scaling[2])
        margin = np.min(np.concatenate([np.abs(z) for z in _preactivations(net, X)[:-1]], axis=1), axis=1)
        keep = margin > 1e-2
        assert keep.sum() >= 4
        G, T, c = G[keep], T[keep], c[keep]
    E, s, grad = net.parameter_gradient(G, T, c, *scaling, e_scale=e_scale, e_shift=e_shift)
    fd = _finite_difference_gradient(net, G, T, c, scaling, e_scale, e_shift)
    scale = np.max(np.abs(fd))
    assert scale > 0.1
    err = np.max(np.abs(grad - fd)) / scale
    assert err < 1e-7, f"max relative error {err:.2e}"
    # Both terms matter (so the check above would catch a dropped one).
    _, _, g_energy = net.parameter_gradient(G, np.zeros_like(T), c, *scaling, e_scale=e_scale, e_shift=e_shift)
    _, _, g_force = net.parameter_gradient(G, T, np.zeros_like(c), *scaling, e_scale=e_scale, e_shift=e_shift)
    assert np.max(np.abs(g_energy)) > 1e-3 * scale and np.max(np.abs(g_force)) > 1e-3 * scale
    np.testing.assert_allclose(g_energy + g_force, grad, rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize("activations", [["tanh", "tanh", "linear"], ["softplus", "cos", "logistic"],
                                         ["exp", "harmonic", "linear"]], ids=lambda a: "-".join(a))
def test_energy_bitwise_and_tangent_match_energy_gradient_kernel(activations):
    net, G, T, c, scaling, e_scale, e_shift = _setup(activations, n_atoms=150, seed=8)
    E, s, _ = net.parameter_gradient(G, T, c, *scaling, e_scale=e_scale, e_shift=e_shift)
    E_ref, g_ref = net.evaluate(G, *scaling, e_scale=e_scale, e_shift=e_shift)
    assert np.array_equal(E, E_ref)
    s_ref = np.sum(g_ref * T, axis=1)
    scale = np.max(np.abs(s_ref))
    assert np.max(np.abs(s - s_ref)) <= 1e-12 * scale


def test_parameter_gradient_independent_of_thread_count():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread")
    net, G, T, c, scaling, e_scale, e_shift = _setup(["softplus", "tanh", "linear"], n_atoms=300, seed=21,
                                                     n_in=8, hidden=(10, 9))
    packed = net.packed()
    before = numba.get_num_threads()
    results = []
    try:
        for n_threads in (1, 2):
            numba.set_num_threads(n_threads)
            results.append(network_parameter_gradient(G, T, c, *scaling, *packed, e_scale, e_shift))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(*results):
        assert np.array_equal(a, b)
    # Several blocks were summed: the result equals the sum over atom-wise halves to rounding.
    first = network_parameter_gradient(G[:150], T[:150], c[:150], *scaling, *packed, e_scale, e_shift)
    second = network_parameter_gradient(G[150:], T[150:], c[150:], *scaling, *packed, e_scale, e_shift)
    np.testing.assert_allclose(results[0][2], first[2] + second[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(results[0][3], first[3] + second[3], rtol=1e-12, atol=1e-12)


def test_flat_packed_round_trip():
    rng = np.random.default_rng(4)
    net = ElementNetwork.random((4, 7, 3, 1), "tanh", rng)
    sizes, _, weights, _, biases, _ = net.packed()
    flat = net.to_flat()
    w, b = pack_flat(net.layer_sizes, flat)
    assert np.array_equal(w, weights) and np.array_equal(b, biases)
    assert np.array_equal(unpack_packed(net.layer_sizes, weights, biases), flat)
    theta = rng.normal(size=net.n_parameters)
    assert np.array_equal(unpack_packed(sizes, *pack_flat(sizes, theta)), theta)
    # A network built from a flat vector packs to the same arrays.
    other = ElementNetwork.from_flat(net.layer_sizes, net.activations, theta)
    assert np.array_equal(other.packed()[2], pack_flat(sizes, theta)[0])
    assert np.array_equal(other.packed()[4], pack_flat(sizes, theta)[1])


def test_empty_batch():
    net = ElementNetwork.random((3, 4, 1), "tanh", 0)
    E, s, g = net.parameter_gradient(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
    assert E.shape == (0,) and s.shape == (0,) and g.shape == (net.n_parameters,) and not g.any()

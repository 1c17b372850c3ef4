"""Atomic neural networks: activations, forward pass against numpy, exact gradients, scaling modes."""

import numba
import numpy as np
import pytest

from echemmd.errors import InputError
from echemmd.kernels import activations as act
from echemmd.network import ACTIVATIONS, SCALING_MODES, ElementNetwork, ElementNetworks

LN2 = np.log(2.0)


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


# Independent numpy definitions (n2p2's NeuralNetwork.cpp conventions): value, derivative.
NUMPY_ACTIVATIONS = {
    "linear": (lambda x: x, lambda x: np.ones_like(x)),
    "tanh": (np.tanh, lambda x: 1.0 / np.cosh(x) ** 2),
    "softplus": (lambda x: np.logaddexp(0.0, x), _logistic),
    "shifted_softplus": (lambda x: np.logaddexp(0.0, x) - LN2, _logistic),
    "logistic": (_logistic, lambda x: _logistic(x) * (1.0 - _logistic(x))),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0.0).astype(float)),
    "gaussian": (lambda x: np.exp(-0.5 * x * x), lambda x: -x * np.exp(-0.5 * x * x)),
    "cos": (np.cos, lambda x: -np.sin(x)),
    "revlogistic": (lambda x: 1.0 - _logistic(x), lambda x: -_logistic(x) * (1.0 - _logistic(x))),
    "exp": (lambda x: np.exp(-x), lambda x: -np.exp(-x)),
    "harmonic": (lambda x: x * x, lambda x: 2.0 * x),
}


def numpy_forward(net, X):
    """Plain numpy MLP: h <- a(h @ W + b), W with shape (source, target)."""
    h = np.asarray(X, dtype=float)
    for W, b, a in zip(net.weights, net.biases, net.activations):
        h = NUMPY_ACTIVATIONS[a][0](h @ W + b)
    return h[:, 0]


def numpy_scale(mode, st, s_min, s_max, G):
    """DESIGN §4 / n2p2 SymFnc::scale written out per mode."""
    g_min, g_max, g_mean, g_sigma = st.T
    if mode == "none":
        return G
    if mode == "center":
        return G - g_mean
    if mode == "scale":
        return s_min + (s_max - s_min) * (G - g_min) / (g_max - g_min)
    if mode == "scale_center":
        return s_min + (s_max - s_min) * (G - g_mean) / (g_max - g_min)
    if mode == "scale_sigma":
        return s_min + (s_max - s_min) * (G - g_mean) / g_sigma
    raise AssertionError(mode)


def test_activation_list_matches_n2p2_letters():
    assert set(ACTIVATIONS) == set(NUMPY_ACTIVATIONS)
    assert set(act.N2P2_LETTERS) == set("ltpsrgcSeh")
    assert set(act.N2P2_LETTERS.values()) == set(ACTIVATIONS) - {"shifted_softplus"}


@pytest.mark.parametrize("name", sorted(NUMPY_ACTIVATIONS))
def test_activation_values_and_derivatives(name):
    x = np.linspace(-6.0, 6.0, 241) + 0.013  # avoid x = 0 exactly (relu kink)
    f, df = act.evaluate(act.CODES[name], x)
    f_ref, df_ref = NUMPY_ACTIVATIONS[name]
    np.testing.assert_allclose(f, f_ref(x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(df, df_ref(x), rtol=1e-12, atol=1e-15)
    # The derivative is the derivative of the value (central differences).
    h = 1e-6
    fp, _ = act.evaluate(act.CODES[name], x + h)
    fm, _ = act.evaluate(act.CODES[name], x - h)
    np.testing.assert_allclose(df, (fp - fm) / (2 * h), rtol=1e-7, atol=1e-8)


def test_activation_overflow_guards_follow_n2p2():
    x = np.array([-40.0, 40.0])
    f, df = act.evaluate(act.SOFTPLUS, x)
    assert f.tolist() == [0.0, 40.0] and df.tolist() == [0.0, 1.0]
    f, df = act.evaluate(act.SHIFTED_SOFTPLUS, x)
    assert f.tolist() == [-LN2, 40.0 - LN2]
    f, df = act.evaluate(act.LOGISTIC, x)
    assert f.tolist() == [0.0, 1.0] and df.tolist() == [0.0, 0.0]
    f, _ = act.evaluate(act.SHIFTED_SOFTPLUS, np.array([0.0]))
    assert f[0] == 0.0


@pytest.mark.parametrize("name", sorted(NUMPY_ACTIVATIONS))
def test_forward_matches_numpy(name):
    rng = np.random.default_rng(11)
    net = ElementNetwork.random((6, 7, 5, 1), [name, name, "linear"], rng)
    X = rng.normal(0.0, 1.0, (40, 6))
    E, g = net.evaluate(X)
    np.testing.assert_allclose(E, numpy_forward(net, X), rtol=1e-13, atol=1e-13)
    assert g.shape == (40, 6)


def test_nonlinear_output_layer():
    rng = np.random.default_rng(5)
    net = ElementNetwork.random((4, 6, 1), ["tanh", "logistic"], rng)
    X = rng.normal(0.0, 1.0, (10, 4))
    np.testing.assert_allclose(net.evaluate(X, gradient=False), numpy_forward(net, X), rtol=1e-13)
    _, g = net.evaluate(X)
    h = 1e-6
    for j in range(4):
        d = np.zeros(4)
        d[j] = h
        fd = (net.evaluate(X + d, gradient=False) - net.evaluate(X - d, gradient=False)) / (2 * h)
        np.testing.assert_allclose(g[:, j], fd, rtol=1e-7, atol=1e-10)


def _central_difference(model, symbols, G, h=1e-5):
    fd = np.zeros_like(G)
    for j in range(G.shape[1]):
        Gp, Gm = G.copy(), G.copy()
        Gp[:, j] += h
        Gm[:, j] -= h
        fd[:, j] = (model.energies_and_gradients(symbols, Gp, gradient=False)
                    - model.energies_and_gradients(symbols, Gm, gradient=False)) / (2 * h)
    return fd


@pytest.mark.parametrize("name", sorted(NUMPY_ACTIVATIONS))
def test_gradient_equals_central_differences(name):
    # Offsets are zero so that the differences are not swamped by rounding of large energies;
    # they do not enter the gradient.
    model = ElementNetworks.random(["H", "O"], {"H": 5, "O": 7}, hidden=(8, 6), activations=name,
                                   seed=3, scaling_mode="scale_center", mean_energy=0.0, conv_energy=2.5,
                                   atom_energies=False)
    symbols, G = model.random_inputs(12, seed=4)
    _, g = model.energies_and_gradients(symbols, G)
    fd = _central_difference(model, symbols, G)
    # Padding columns of H rows have zero gradient, and so does the difference.
    assert np.all(g[symbols == "H", 5:] == 0.0)
    err = np.max(np.abs(g - fd)) / np.max(np.abs(g))
    assert err < 1e-7, err


@pytest.mark.parametrize("mode", SCALING_MODES)
def test_scaling_modes_and_normalisation(mode):
    model = ElementNetworks.random(["H", "O"], {"H": 5, "O": 7}, hidden=(6, 4), activations="tanh", seed=8,
                                   scaling_mode=mode, scale_min=-1.0, scale_max=2.0)
    symbols, G = model.random_inputs(30, seed=9)
    E, g = model.energies_and_gradients(symbols, G)
    for e in ("H", "O"):
        net = model.networks[e]
        idx = symbols == e
        Ge = G[idx, :net.n_inputs]
        x = numpy_scale(mode, model.statistics[e], -1.0, 2.0, Ge)
        ref = numpy_forward(net, x) / model.conv_energy + model.mean_energy + model.atom_energies[e]
        np.testing.assert_allclose(E[idx], ref, rtol=1e-13)
    # Chain rule through the scaling: compare with differences on a zero-offset copy.
    flat = ElementNetworks(model.networks, mode, model.statistics, -1.0, 2.0, conv_energy=model.conv_energy)
    fd = _central_difference(flat, symbols, G)
    _, g0 = flat.energies_and_gradients(symbols, G)
    np.testing.assert_array_equal(g0, g)  # offsets do not change gradients
    assert np.max(np.abs(g - fd)) / np.max(np.abs(g)) < 1e-7


def test_total_energy_formula():
    model = ElementNetworks.random(["H", "O"], 4, hidden=(5,), seed=1)
    symbols, G = model.random_inputs(9, seed=2)
    n_o = int(np.sum(symbols == "O"))
    nn = sum(numpy_forward(model.networks[s], model.scale(s, G[i:i + 1])).item()
             for i, s in enumerate(symbols))
    expected = (nn / model.conv_energy + len(symbols) * model.mean_energy
                + n_o * model.atom_energies["O"] + (len(symbols) - n_o) * model.atom_energies["H"])
    assert model.energy(symbols, G) == pytest.approx(expected, rel=1e-13)


def test_thread_count_independence():
    model = ElementNetworks.random(["H", "O"], {"H": 9, "O": 12}, hidden=(16, 16), seed=21)
    symbols, G = model.random_inputs(700, seed=22)  # several blocks of atoms per element
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        E1, g1 = model.energies_and_gradients(symbols, G)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        En, gn = model.energies_and_gradients(symbols, G)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(E1, En)
    np.testing.assert_array_equal(g1, gn)


def test_batches_equal_single_atoms():
    model = ElementNetworks.random(["Cu", "O"], 6, hidden=(5, 5), seed=30)
    symbols, G = model.random_inputs(150, seed=31)
    E, g = model.energies_and_gradients(symbols, G)
    for i in (0, 7, 63, 64, 149):
        Ei, gi = model.energies_and_gradients(symbols[i:i + 1], G[i:i + 1])
        assert Ei[0] == E[i]
        np.testing.assert_array_equal(gi[0], g[i])


def test_flat_round_trip_is_n2p2_order():
    rng = np.random.default_rng(2)
    net = ElementNetwork.random((3, 4, 1), "tanh", rng)
    flat = net.to_flat()
    # First the 3x4 weights, target fastest, then 4 biases, then 4x1 weights and 1 bias.
    assert flat[:12].tolist() == net.weights[0].reshape(-1).tolist()
    assert flat[1] == net.weights[0][0, 1]
    assert flat[12:16].tolist() == net.biases[0].tolist()
    assert ElementNetwork.from_flat((3, 4, 1), ["tanh", "linear"], flat) == net


def test_shifted_softplus_fold_is_exact():
    rng = np.random.default_rng(7)
    net = ElementNetwork.random((6, 9, 7, 1), "shifted_softplus", rng)
    folded = net.n2p2_compatible()
    assert folded.activations == ("softplus", "softplus", "linear")
    X = rng.normal(0.0, 1.5, (50, 6))
    np.testing.assert_allclose(folded.evaluate(X)[0], net.evaluate(X)[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(folded.evaluate(X)[1], net.evaluate(X)[1], rtol=1e-12, atol=1e-12)
    with pytest.raises(InputError, match="output layer"):
        ElementNetwork.random((3, 2, 1), ["tanh", "shifted_softplus"], rng).n2p2_compatible()


def test_bad_networks_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="shape"):
        ElementNetwork((3, 2, 1), ["tanh", "linear"], [np.zeros((2, 3)), np.zeros((2, 1))], [np.zeros(2), np.zeros(1)])
    with pytest.raises(InputError, match="unknown activation"):
        ElementNetwork.random((3, 2, 1), ["tanhh", "linear"], rng)
    with pytest.raises(InputError, match="output layer"):
        ElementNetwork.random((3, 2, 2), "tanh", rng)
    net = ElementNetwork.random((3, 2, 1), "tanh", rng)
    with pytest.raises(InputError, match="needs statistics"):
        ElementNetworks({"H": net}, scaling_mode="scale")
    model = ElementNetworks({"H": net})
    with pytest.raises(InputError, match="no network for element O"):
        model.energies_and_gradients(["H", "O"], np.zeros((2, 3)))
    with pytest.raises(InputError, match="needs 3 symmetry functions"):
        model.energies_and_gradients(["H"], np.zeros((1, 2)))
    st = np.array([[0.0, 1.0, 0.5, 0.1], [1.0, 1.0, 1.0, 0.0], [0.0, 2.0, 1.0, 0.3]])
    with pytest.raises(InputError, match="zero range"):
        ElementNetworks({"H": net}, "scale", {"H": st}).energies_and_gradients(["H"], np.zeros((1, 3)))

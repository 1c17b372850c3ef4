"""n2p2 model files: sorted input order, units, energies against numpy, round trips, bad files."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from echemmd.errors import InputError
from echemmd.io.n2p2 import N2P2Model, read_n2p2, sort_symmetry_functions, write_n2p2
from echemmd.network import ElementNetwork, ElementNetworks
from echemmd.units import BOHR, HARTREE

DATA = Path(__file__).parent / "data" / "n2p2" / "H2O_RPBE-D3"

# ---------------------------------------------------------------------------------------
# A small hand-written model in Bohr and Hartree. Elements listed O before H (n2p2 indexes
# them by atomic number anyway), functions in shuffled file order.
# ---------------------------------------------------------------------------------------

INPUT_NN = """\
# hand-written test model (Bohr, Hartree)
mean_energy   -0.5
conv_energy    3.0
conv_length    2.0
number_of_elements 2
elements O H                       ! O first on purpose
atom_energy O -75.0
atom_energy H -0.5
cutoff_type 6 0.2
scale_symmetry_functions
center_symmetry_functions
scale_min_short -1.0
scale_max_short 1.0
global_hidden_layers_short 2
global_nodes_short 4 3
global_activation_short t p l
epochs 10                          # training keyword, ignored
symfunction_short H 9 O H 0.02 1.0 2.0 10.0 0.5
symfunction_short O 3 H H 0.03 1.0 1.0 10.0 0.0
symfunction_short H 2 O 0.05 1.0 10.0
symfunction_short O 2 H 0.5 0.0 10.0
symfunction_short H 3 H H 0.01 -1.0 1.0 10.0
symfunction_short H 2 H 0.05 0.0 10.0
symfunction_short O 9 O O 0.005 -1.0 2.0 10.0
symfunction_short H 2 H 0.05 0.0 8.0
symfunction_short H 3 O H 0.01 -1.0 1.0 10.0
symfunction_short O 2 O 0.1 0.0 10.0
symfunction_short H 3 H H 0.01 1.0 1.0 10.0
symfunction_short O 9 H O 0.005 -1.0 2.0 10.0
symfunction_short H 3 H H 0.01 -1.0 4.0 10.0
symfunction_short O 2 H 0.1 0.0 10.0
symfunction_short H 2 O 0.05 0.0 10.0
"""

# n2p2's order by (type, cutoff, alpha, r_c, eta, r_s, zeta, lambda, e1, e2), derived by hand:
# (type, neighbours, eta, r_s, lambda, zeta, r_c) in file units.
EXPECTED_ORDER = {
    "H": [
        (2, ["H"], 0.05, 0.0, None, None, 8.0),
        (2, ["H"], 0.05, 0.0, None, None, 10.0),
        (2, ["O"], 0.05, 0.0, None, None, 10.0),
        (2, ["O"], 0.05, 1.0, None, None, 10.0),
        (3, ["H", "H"], 0.01, 0.0, -1.0, 1.0, 10.0),
        (3, ["H", "O"], 0.01, 0.0, -1.0, 1.0, 10.0),
        (3, ["H", "H"], 0.01, 0.0, 1.0, 1.0, 10.0),
        (3, ["H", "H"], 0.01, 0.0, -1.0, 4.0, 10.0),
        (9, ["H", "O"], 0.02, 0.5, 1.0, 2.0, 10.0),
    ],
    "O": [
        (2, ["H"], 0.1, 0.0, None, None, 10.0),
        (2, ["O"], 0.1, 0.0, None, None, 10.0),
        (2, ["H"], 0.5, 0.0, None, None, 10.0),
        (3, ["H", "H"], 0.03, 0.0, 1.0, 1.0, 10.0),
        (9, ["H", "O"], 0.005, 0.0, -1.0, 2.0, 10.0),
        (9, ["O", "O"], 0.005, 0.0, -1.0, 2.0, 10.0),
    ],
}
HIDDEN = (4, 3)


def hand_statistics(e, n):
    """Distinct, recognisable statistics per sorted function k: (min, max, mean, sigma)."""
    base = 0.0 if e == "H" else 10.0
    k = np.arange(1, n + 1)
    return np.column_stack([base + 0.1 * k, base + 0.1 * k + 1.0 + 0.01 * k, base + 0.1 * k + 0.4, 0.2 + 0.001 * k])


def write_weights_file(path, sizes, flat, labels=True):
    """n2p2 weights file written independently of echemmd's writer."""
    lines = ["# weights written by the test", "# connection t index l_s n_s l_e n_e"]
    i = 0
    for l in range(1, len(sizes)):
        for j in range(sizes[l - 1]):
            for k in range(sizes[l]):
                lines.append(f"{flat[i]:24.16E} a {i + 1:9d} {l - 1:5d} {j + 1:5d} {l:5d} {k + 1:5d}"
                             if labels else f"{flat[i]:.17g}")
                i += 1
        for k in range(sizes[l]):
            lines.append(f"{flat[i]:24.16E} b {i + 1:9d} {l:5d} {k + 1:5d}" if labels else f"{flat[i]:.17g}")
            i += 1
    assert i == len(flat)
    Path(path).write_text("\n".join(lines) + "\n")


def unpack(sizes, flat):
    """Flat n2p2 vector -> list of (W (source, target), b), independently of echemmd."""
    out, pos = [], 0
    for l in range(len(sizes) - 1):
        W = flat[pos:pos + sizes[l] * sizes[l + 1]].reshape(sizes[l], sizes[l + 1])
        pos += W.size
        b = flat[pos:pos + sizes[l + 1]]
        pos += sizes[l + 1]
        out.append((W, b))
    return out


@pytest.fixture
def hand_model(tmp_path):
    """Directory with the hand-written model, and its raw parameters."""
    rng = np.random.default_rng(42)
    (tmp_path / "input.nn").write_text(INPUT_NN)
    rows, params = [], {}
    for ie, (e, z) in enumerate((("H", 1), ("O", 8))):
        n = len(EXPECTED_ORDER[e])
        st = hand_statistics(e, n)
        for k in range(n):
            rows.append(f"{ie + 1} {k + 1} " + " ".join(f"{v:.17g}" for v in st[k]))
        sizes = (n, *HIDDEN, 1)
        n_par = sum(sizes[l] * sizes[l + 1] + sizes[l + 1] for l in range(len(sizes) - 1))
        flat = rng.normal(0.0, 0.7, n_par)
        write_weights_file(tmp_path / f"weights.{z:03d}.data", sizes, flat)
        params[e] = (sizes, flat, st)
    (tmp_path / "scaling.data").write_text("# e sf min max mean sigma\n" + "\n".join(rows) + "\n")
    return tmp_path, params


def numpy_energy_hartree(params, symbols, G):
    """Independent n2p2 prediction in Hartree: scale-center inputs, t p l network, normalisation."""
    s_min, s_max, mean, conv = -1.0, 1.0, -0.5, 3.0
    atom = {"H": -0.5, "O": -75.0}
    total = 0.0
    for i, e in enumerate(symbols):
        sizes, flat, st = params[e]
        g = G[i, :sizes[0]]
        x = s_min + (s_max - s_min) * (g - st[:, 2]) / (st[:, 1] - st[:, 0])
        (W1, b1), (W2, b2), (W3, b3) = unpack(sizes, flat)
        h = np.tanh(x @ W1 + b1)
        h = np.log1p(np.exp(h @ W2 + b2))
        y = (h @ W3 + b3)[0]
        total += y / conv + mean + atom[e]
    return total


def random_inputs(params, n, seed):
    rng = np.random.default_rng(seed)
    symbols = np.array(["H", "O"] * (n // 2))
    rng.shuffle(symbols)
    G = np.zeros((n, max(p[0][0] for p in params.values())))
    for i, e in enumerate(symbols):
        st = params[e][2]
        G[i, :len(st)] = rng.uniform(st[:, 0], st[:, 1])
    return symbols, G


# ---------------------------------------------------------------------------------------


def test_hand_model_order_units_and_energy(hand_model):
    directory, params = hand_model
    model = read_n2p2(directory, length_unit="Bohr", energy_unit="Hartree")
    assert model.elements == ["H", "O"]
    for e, expected in EXPECTED_ORDER.items():
        got = model.symmetry_functions[e]
        assert len(got) == len(expected)
        for f, (t, nb, eta, r_s, lam, zeta, r_c) in zip(got, expected):
            assert (f["type"], f["center"], f["neighbors"], f.get("lambda"), f.get("zeta")) == (t, e, nb, lam, zeta)
            assert ("zeta" in f) == ("lambda" in f) == (t != 2)
            assert f["cutoff"] == "poly2" and f["cutoff_alpha"] == 0.2
            # Physical units: eta in 1/Å^2, r_s and r_c in Å.
            assert f["eta"] == pytest.approx(eta / BOHR**2, rel=1e-15)
            assert f["r_s"] == pytest.approx(r_s * BOHR, rel=1e-15, abs=0.0)
            assert f["r_c"] == pytest.approx(r_c * BOHR, rel=1e-15)
    nets = model.networks
    assert nets.scaling_mode == "scale_center" and (nets.scale_min, nets.scale_max) == (-1.0, 1.0)
    assert nets.mean_energy == pytest.approx(-0.5 * HARTREE, rel=1e-15)
    assert nets.conv_energy == pytest.approx(3.0 / HARTREE, rel=1e-15)
    assert nets.conv_length == pytest.approx(2.0 / BOHR, rel=1e-15)
    assert nets.atom_energies == pytest.approx({"H": -0.5 * HARTREE, "O": -75.0 * HARTREE}, rel=1e-15)
    for e in ("H", "O"):
        np.testing.assert_array_equal(nets.statistics[e], params[e][2])
        assert nets.networks[e].activations == ("tanh", "softplus", "linear")
        assert nets.networks[e].layer_sizes == params[e][0]
    assert model.cutoff == pytest.approx(10.0 * BOHR)

    symbols, G = random_inputs(params, 10, seed=1)
    E, g = nets.energies_and_gradients(symbols, G)
    assert E.sum() == pytest.approx(numpy_energy_hartree(params, symbols, G) * HARTREE, rel=1e-12)
    # dE/dG in eV per unit G, against differences of the numpy model.
    h = 1e-6
    for i in (0, 3):
        for j in range(params[symbols[i]][0][0]):
            Gp, Gm = G[i:i + 1].copy(), G[i:i + 1].copy()
            Gp[0, j] += h
            Gm[0, j] -= h
            fd = (numpy_energy_hartree(params, symbols[i:i + 1], Gp)
                  - numpy_energy_hartree(params, symbols[i:i + 1], Gm)) / (2 * h) * HARTREE
            assert g[i, j] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_sort_helper_matches_reader(hand_model):
    directory, _ = hand_model
    model = read_n2p2(directory)
    for e, fs in model.symmetry_functions.items():
        assert sort_symmetry_functions(fs) == list(range(len(fs)))
        shuffled = fs[::-1]
        assert [shuffled[i] for i in sort_symmetry_functions(shuffled)] == fs


def _read_order_table():
    rows = {"H": [], "O": []}
    for line in (DATA / "n2p2_symfunction_order.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        tok = line.split()
        if tok[2] == "2":
            _, ec, t, e1, eta, rs, rc, ct, ca = tok
            rows[ec].append((2, [e1], float(eta), float(rs), None, None, float(rc), int(ct), float(ca)))
        else:
            _, ec, t, e1, e2, eta, rs, la, zeta, rc, ct, ca = tok
            rows[ec].append((int(t), [e1, e2], float(eta), float(rs), float(la), float(zeta), float(rc),
                             int(ct), float(ca)))
    return rows


@pytest.fixture
def h2o_example(tmp_path):
    """n2p2's H2O example settings and scaling data, with random weights."""
    for name in ("input.nn", "scaling.data"):
        shutil.copy(DATA / name, tmp_path / name)
    rng = np.random.default_rng(0)
    for z, n in ((1, 27), (8, 30)):
        sizes = (n, 25, 25, 1)
        n_par = sum(sizes[l] * sizes[l + 1] + sizes[l + 1] for l in range(3))
        write_weights_file(tmp_path / f"weights.{z:03d}.data", sizes, rng.normal(0, 0.3, n_par))
    return tmp_path


def test_n2p2_example_sorted_order(h2o_example):
    model = read_n2p2(h2o_example, length_unit="Bohr", energy_unit="Hartree")
    table = _read_order_table()
    assert [len(model.symmetry_functions[e]) for e in ("H", "O")] == [27, 30]
    for e in ("H", "O"):
        for k, (f, row) in enumerate(zip(model.symmetry_functions[e], table[e])):
            t, nb, eta, rs, la, zeta, rc, ct, ca = row
            where = f"{e} function {k + 1}"
            assert (f["type"], f["neighbors"], f.get("lambda"), f.get("zeta")) == (t, nb, la, zeta), where
            # The log prints 4 significant digits.
            assert f["eta"] * BOHR**2 == pytest.approx(eta, rel=1e-3), where
            assert f["r_s"] / BOHR == pytest.approx(rs, rel=1e-3, abs=1e-12), where
            assert f["r_c"] / BOHR == pytest.approx(rc, rel=1e-3), where
            assert (f["cutoff"], f["cutoff_alpha"]) == ("tanhu", ca), where
    nets = model.networks
    assert nets.scaling_mode == "scale_center" and (nets.scale_min, nets.scale_max) == (0.0, 1.0)
    assert nets.statistics["H"][0].tolist() == [1.0882016636170764, 9.6166419119419064, 2.2691752247542185,
                                                0.67883526611659284]
    assert nets.statistics["O"][29, 1] == 1.5478537567691833e-01
    assert nets.atom_energies == {}  # commented out in the file
    assert nets.mean_energy == pytest.approx(-2.5521343547039809e+01 * HARTREE, rel=1e-15)
    assert [nets.networks[e].activations for e in ("H", "O")] == [("tanh", "tanh", "linear")] * 2
    symbols, G = nets.random_inputs(6, seed=3)
    assert np.all(np.isfinite(nets.energies_and_gradients(symbols, G)[1]))


def test_weights_without_index_columns_are_read(h2o_example):
    rng = np.random.default_rng(9)
    flat = rng.normal(0, 0.3, 30 * 25 + 25 + 25 * 25 + 25 + 25 + 1)
    write_weights_file(h2o_example / "weights.008.data", (30, 25, 25, 1), flat, labels=False)
    model = read_n2p2(h2o_example)
    np.testing.assert_array_equal(model.networks.networks["O"].to_flat(), flat)


# ---------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------


def random_functions(rng, center, elements, n, cutoff="cos", alpha=0.0):
    out = []
    for _ in range(n):
        t = int(rng.choice([2, 3, 9]))
        if t == 2:
            nb = [str(rng.choice(elements))]
        else:
            nb = sorted((str(s) for s in rng.choice(elements, 2)), key=lambda s: {"H": 1, "O": 8, "Cu": 29}[s])
        f = {"type": t, "center": center, "neighbors": nb, "eta": float(rng.uniform(0.01, 2.0)),
             "r_s": float(rng.uniform(0.0, 2.0)), "r_c": 6.5, "cutoff": cutoff, "cutoff_alpha": alpha}
        if t != 2:
            f["zeta"] = float(rng.choice([1.0, 2.0, 4.0]))
            f["lambda"] = float(rng.choice([-1.0, 1.0]))
        out.append(f)
    return out


def random_model(seed, activations="tanh", mode="scale_center", elements=("H", "O", "Cu")):
    rng = np.random.default_rng(seed)
    counts = {"H": 7, "O": 9, "Cu": 5}
    nets = ElementNetworks.random(elements, counts, hidden=(6, 5), activations=activations, seed=rng,
                                  scaling_mode=mode, scale_min=-1.0, scale_max=1.0, conv_length=1.7)
    fs = {e: random_functions(rng, e, elements, counts[e], cutoff="poly2", alpha=0.1) for e in elements}
    # Put the functions (and the inputs they feed) into n2p2's order, as read_n2p2 returns them.
    networks, statistics = {}, {}
    for e in elements:
        order = sort_symmetry_functions(fs[e])
        fs[e] = [fs[e][i] for i in order]
        net = nets.networks[e]
        networks[e] = ElementNetwork(net.layer_sizes, net.activations, [net.weights[0][order], *net.weights[1:]],
                                     net.biases)
        statistics[e] = nets.statistics[e][order]
    nets = ElementNetworks(networks, nets.scaling_mode, statistics, nets.scale_min, nets.scale_max,
                           nets.atom_energies, nets.mean_energy, nets.conv_energy, nets.conv_length)
    sorted_elements = sorted(elements, key=lambda s: {"H": 1, "O": 8, "Cu": 29}[s])
    return N2P2Model(sorted_elements, fs, nets)


@pytest.mark.parametrize("mode", ["none", "scale", "center", "scale_center", "scale_sigma"])
def test_round_trip_is_identical(tmp_path, mode):
    model = random_model(1, mode=mode)
    write_n2p2(tmp_path, model)
    again = read_n2p2(tmp_path)
    assert again == model
    symbols, G = model.networks.random_inputs(40, seed=2)
    E0, g0 = model.networks.energies_and_gradients(symbols, G)
    E1, g1 = again.networks.energies_and_gradients(symbols, G)
    np.testing.assert_array_equal(E0, E1)
    np.testing.assert_array_equal(g0, g1)
    # Writing what was read gives the same files.
    write_n2p2(tmp_path / "again", again)
    for name in ("input.nn", "scaling.data", "weights.001.data", "weights.008.data", "weights.029.data"):
        assert (tmp_path / name).read_text() == (tmp_path / "again" / name).read_text()


def test_round_trip_in_bohr_and_hartree(hand_model, tmp_path):
    directory, params = hand_model
    model = read_n2p2(directory, length_unit="Bohr", energy_unit="Hartree")
    write_n2p2(tmp_path / "au", model, length_unit="Bohr", energy_unit="Hartree")
    again = read_n2p2(tmp_path / "au", length_unit="Bohr", energy_unit="Hartree")
    for e in model.elements:
        for f, h in zip(model.symmetry_functions[e], again.symmetry_functions[e]):
            for key in ("eta", "r_s", "r_c"):
                assert h[key] == pytest.approx(f[key], rel=1e-15, abs=1e-300)
    symbols, G = random_inputs(params, 12, seed=5)
    np.testing.assert_allclose(again.networks.energies_and_gradients(symbols, G)[0],
                               model.networks.energies_and_gradients(symbols, G)[0], rtol=1e-14)
    # The same model exported in Å and eV reads back identically.
    write_n2p2(tmp_path / "si", model)
    assert read_n2p2(tmp_path / "si") == model


def test_shifted_softplus_export_is_exact(tmp_path):
    model = random_model(4, activations="shifted_softplus")
    write_n2p2(tmp_path, model)
    assert "global_activation_short p p l" in (tmp_path / "input.nn").read_text()
    again = read_n2p2(tmp_path)
    assert again.networks.networks["O"].activations == ("softplus", "softplus", "linear")
    symbols, G = model.networks.random_inputs(60, seed=6)
    E0, g0 = model.networks.energies_and_gradients(symbols, G)
    E1, g1 = again.networks.energies_and_gradients(symbols, G)
    np.testing.assert_allclose(E1, E0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-12, atol=1e-12)


def test_unsorted_model_is_permuted_on_export(tmp_path):
    model = random_model(7)
    rng = np.random.default_rng(8)
    perm = {e: rng.permutation(len(model.symmetry_functions[e])) for e in model.elements}
    nets = model.networks
    shuffled_nets = ElementNetworks(
        {e: ElementNetwork(n.layer_sizes, n.activations, [n.weights[0][perm[e]], *n.weights[1:]], n.biases)
         for e, n in nets.networks.items()},
        nets.scaling_mode, {e: nets.statistics[e][perm[e]] for e in nets.statistics}, nets.scale_min,
        nets.scale_max, nets.atom_energies, nets.mean_energy, nets.conv_energy, nets.conv_length)
    shuffled = N2P2Model(model.elements, {e: [model.symmetry_functions[e][i] for i in perm[e]]
                                          for e in model.elements}, shuffled_nets)
    write_n2p2(tmp_path, shuffled)
    assert read_n2p2(tmp_path) == model


def test_writer_refuses_what_n2p2_cannot_hold(tmp_path):
    model = random_model(3)
    model.symmetry_functions["O"][0] = dict(model.symmetry_functions["O"][0], cutoff="cos")
    with pytest.raises(InputError, match="one cutoff function"):
        write_n2p2(tmp_path, model)
    model = random_model(3)
    nets = model.networks
    nets.networks["H"] = ElementNetworks.random(["H"], 7, hidden=(3,), seed=1).networks["H"]
    with pytest.raises(InputError, match="one hidden-layer architecture"):
        write_n2p2(tmp_path, model)


# ---------------------------------------------------------------------------------------
# bad files
# ---------------------------------------------------------------------------------------


def _line_of(text, needle):
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _edit_input(directory, old, new):
    path = directory / "input.nn"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return _line_of(path.read_text(), new.splitlines()[0]) if new else None


def test_missing_weights_file(hand_model):
    directory, _ = hand_model
    (directory / "weights.008.data").unlink()
    with pytest.raises(InputError, match=r"weights\.008\.data: weights file of element O is missing; "
                                         r"expected \d+ parameters"):
        read_n2p2(directory)


def test_too_few_and_too_many_weights(hand_model):
    directory, _ = hand_model
    path = directory / "weights.001.data"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    n = 9 * 4 + 4 + 4 * 3 + 3 + 3 + 1
    with pytest.raises(InputError, match=rf"weights\.001\.data: has {n - 1} parameters .* need {n}"):
        read_n2p2(directory)
    path.write_text("\n".join(lines + ["1.0"]) + "\n")
    with pytest.raises(InputError, match=rf"weights\.001\.data:{len(lines) + 1}: parameter {n + 1} is one too many"):
        read_n2p2(directory)


def test_weights_for_another_architecture(hand_model):
    directory, _ = hand_model
    _edit_input(directory, "global_nodes_short 4 3", "global_nodes_short 4 4")
    # The 4 x 3 weights of layer 2 end where a 4 x 4 layer still expects weights: the labels disagree.
    with pytest.raises(InputError, match=r"weights\.001\.data:\d+: expected parameter \d+ to be the weight "
                                         r"from layer 1 neuron 1 to layer 2 neuron 4"):
        read_n2p2(directory)


def test_unknown_activation_letter(hand_model):
    directory, _ = hand_model
    line = _edit_input(directory, "global_activation_short t p l", "global_activation_short t x l")
    with pytest.raises(InputError, match=rf"input\.nn:{line}: unknown activation 'x'; expected one of l \(linear\)"):
        read_n2p2(directory)


def test_unknown_keyword_that_matters_and_one_that_does_not(hand_model):
    directory, _ = hand_model
    line = _edit_input(directory, "symfunction_short O 2 O 0.1 0.0 10.0", "symfunction_shrt O 2 O 0.1 0.0 10.0")
    with pytest.raises(InputError, match=rf"input\.nn:{line}: unknown keyword 'symfunction_shrt'"):
        read_n2p2(directory)
    _edit_input(directory, "symfunction_shrt O 2 O 0.1 0.0 10.0", "symfunction_short O 2 O 0.1 0.0 10.0\nfoo_bar 3")
    with pytest.warns(UserWarning, match=r"unknown keyword 'foo_bar' ignored"):
        read_n2p2(directory)


@pytest.mark.parametrize("text, message", [
    ("normalize_nodes", "normalize_nodes"),
    ("nnp_type 3G-HDNNP", "only the short-range 2G-HDNNP"),
    ("element_nodes_short H 5 3", "per-element network architectures"),
    ("symfunction_electrostatic H 2 H 0.1 0.0 10.0", "4G-HDNNP"),
    ("committee_mode prediction", "committee"),
    ("symfunction_short H 12 H 0.1 0.0 10.0", "type 12 is not supported"),
    ("symfunction_short H 2 Cl 0.1 0.0 10.0", "element 'Cl' is not on the 'elements' line"),
    ("symfunction_short H 2 H 0.1 0.0", "expected 'symfunction_short <center> 2"),
    ("symfunction_short H 3 H H 0.1 1.0 1.0 10.0 0.0 7", "8 or 9 fields"),
    ("symfunction_short H 2 H abc 0.0 10.0", "eta must be a number, got 'abc'"),
    ("scale_min_short 0.0", "keyword 'scale_min_short' given twice"),
])
def test_bad_settings_lines(hand_model, text, message):
    directory, _ = hand_model
    path = directory / "input.nn"
    path.write_text(path.read_text() + text + "\n")
    line = len(path.read_text().splitlines())
    with pytest.raises(InputError, match=rf"input\.nn:{line}: .*{message}"):
        read_n2p2(directory)


def test_bad_cutoff_type(hand_model):
    directory, _ = hand_model
    line = _edit_input(directory, "cutoff_type 6 0.2", "cutoff_type 9")
    with pytest.raises(InputError, match=rf"input\.nn:{line}: unknown cutoff type 9; allowed: 0 \(hard\)"):
        read_n2p2(directory)
    line = _edit_input(directory, "cutoff_type 9", "cutoff_type 6 1.0")
    with pytest.raises(InputError, match=rf"input\.nn:{line}: cutoff alpha .* must be in \[0, 1\)"):
        read_n2p2(directory)


def test_missing_keywords_and_partial_normalisation(hand_model):
    directory, _ = hand_model
    _edit_input(directory, "conv_length    2.0\n", "")
    with pytest.raises(InputError, match="use all or none of mean_energy, conv_energy, conv_length; "
                                         "missing conv_length"):
        read_n2p2(directory)
    _edit_input(directory, "mean_energy   -0.5\nconv_energy    3.0\n", "")
    _edit_input(directory, "global_nodes_short 4 3\n", "")
    with pytest.raises(InputError, match="keyword 'global_nodes_short' is missing"):
        read_n2p2(directory)


def test_bad_scaling_data(hand_model):
    directory, _ = hand_model
    path = directory / "scaling.data"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(InputError, match=r"scaling\.data: ends after 14 rows; expected a row for element index 2 "
                                         r"\(O\), function 6 of 6"):
        read_n2p2(directory)
    swapped = lines[:3] + [lines[4], lines[3]] + lines[5:]
    path.write_text("\n".join(swapped) + "\n")
    with pytest.raises(InputError, match=r"scaling\.data:4: expected element index 1 \(H\) and function index 3"):
        read_n2p2(directory)
    path.write_text("\n".join(lines + ["2 7 0 1 0.5 0.1"]) + "\n")
    with pytest.raises(InputError, match=rf"scaling\.data:{len(lines) + 1}: unexpected extra row"):
        read_n2p2(directory)
    path.unlink()
    with pytest.raises(InputError, match="scaling statistics file not found"):
        read_n2p2(directory)


def test_unknown_units_are_refused(hand_model):
    directory, _ = hand_model
    with pytest.raises(InputError, match="length_unit 'nm' is unknown"):
        read_n2p2(directory, length_unit="nm")
    with pytest.raises(InputError, match="energy_unit 'kcal' is unknown"):
        read_n2p2(directory, energy_unit="kcal")


def test_single_g_matrix_over_all_functions(hand_model):
    """One G over all functions (as echemmd.descriptors computes it) with the model's columns."""
    directory, params = hand_model
    model = read_n2p2(directory, length_unit="Bohr", energy_unit="Hartree")
    functions = model.all_functions()
    cols = model.columns()
    assert len(functions) == 15 and cols["O"].tolist() == list(range(9, 15))
    assert all(functions[c]["center"] == e for e, cs in cols.items() for c in cs)
    symbols, G_pad = random_inputs(params, 8, seed=12)
    G = np.zeros((8, 15))
    for i, e in enumerate(symbols):
        G[i, cols[e]] = G_pad[i, :len(cols[e])]
    E0, g0 = model.networks.energies_and_gradients(symbols, G_pad)
    E, g = model.networks.energies_and_gradients(symbols, G, columns=cols)
    np.testing.assert_array_equal(E, E0)
    for i, e in enumerate(symbols):
        np.testing.assert_array_equal(g[i, cols[e]], g0[i, :len(cols[e])])
        assert np.all(np.delete(g[i], cols[e]) == 0.0)

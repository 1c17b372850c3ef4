"""CUDA symmetry-function kernels against their CPU twins (numba's CUDA simulator in CI).

Systems are tiny (the simulator runs every thread as Python) but reach every branch: types 2, 3
and 9, integer and non-integer zeta, lambda +-1, an angular group of more than ``CHUNK`` functions,
cos and poly2 cutoffs with and without an inner cutoff, centre-restricted functions, an element
named by no function ("other"), an element with no functions of its own, a periodic cell smaller
than twice the cutoff (several images of one neighbour) and a slab. Mixed precision (float32
per-entry and per-pair math) is held to bounds derived from float32's epsilon.
"""

import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")

from echemmd.descriptors import SymmetryFunctions  # noqa: E402
from echemmd.kernels import descriptors as cpu  # noqa: E402
from echemmd.kernels.cuda import descriptors as gpu  # noqa: E402
from echemmd.kernels.neighbors import reverse_entries  # noqa: E402
from echemmd.neighbors import NeighborList  # noqa: E402

RTOL = 1e-12
ATOL = 1e-13
EPS32 = float(np.finfo(np.float32).eps)
#: Mixed precision against float64, relative to the largest value. A term of G passes through
#: ~30 float32 roundings (the pair vector's rounding, a cutoff polynomial or cosine, exp, up to
#: log2(zeta) + 2 multiplications of the power, the products of the radial factors), each
#: contributing up to eps/2 relative to the term, and G sums terms of one sign in float64 (no
#: growth with their number): 32 eps of the largest G. Forces and virial contract gradients of
#: such terms with dE/dG of either sign, which cancel: a factor 2 more.
MIXED_G = 32 * EPS32
MIXED_F = 64 * EPS32


def function_set():
    """Types 2, 3, 9 over O, H, Na; a 6-function group (two chunks of the value pass)."""
    fs = [
        {"type": 2, "neighbors": ["O"], "eta": 0.3, "r_s": 0.5, "r_c": 4.8, "cutoff": "cos"},
        {"type": 2, "neighbors": ["H"], "eta": 0.8, "r_c": 4.0, "cutoff": "poly2", "cutoff_alpha": 0.3},
        {"type": 2, "neighbors": ["H"], "eta": 0.1, "r_s": 1.0, "r_c": 4.8, "cutoff": "cos"},
        {"type": 2, "neighbors": ["Na"], "eta": 0.2, "r_c": 4.4, "cutoff": "poly2"},
        # Radial-only reach beyond the angular cutoffs, for one centre only.
        {"type": 2, "neighbors": ["O"], "eta": 0.05, "r_c": 5.2, "cutoff": "cos", "center": "Na"},
    ]
    # One group (type 3, same radial part, pair {O, H}): lambda +-1 x zeta {1, 2, 3.5}.
    for lam in (1, -1):
        for zeta in (1.0, 2.0, 3.5):
            fs.append({"type": 3, "neighbors": ["O", "H"], "eta": 0.05, "zeta": zeta, "lambda": lam, "r_c": 4.4,
                       "cutoff": "cos", "r_s": 0.2})
    fs += [
        {"type": 3, "neighbors": ["H", "H"], "eta": 0.1, "zeta": 4.0, "lambda": -1, "r_c": 4.0, "cutoff": "poly2",
         "cutoff_alpha": 0.25},
        # Second group on the {O, H} pair (another radial part), restricted to O centres.
        {"type": 3, "neighbors": ["H", "O"], "eta": 0.2, "zeta": 1.3, "lambda": 1, "r_c": 4.0, "cutoff": "poly2",
         "center": "O"},
        {"type": 9, "neighbors": ["O", "O"], "eta": 0.02, "zeta": 1.7, "lambda": 1, "r_c": 4.8, "cutoff": "poly2",
         "cutoff_alpha": 0.4},
        {"type": 9, "neighbors": ["O", "O"], "eta": 0.02, "zeta": 4.0, "lambda": -1, "r_c": 4.8, "cutoff": "poly2",
         "cutoff_alpha": 0.4},
        {"type": 9, "neighbors": ["Na", "H"], "eta": 0.03, "zeta": 2.0, "lambda": 1, "r_c": 4.6, "cutoff": "cos",
         "r_s": 0.3},
        {"type": 9, "neighbors": ["O", "H"], "eta": 0.01, "zeta": 0.6, "lambda": -1, "r_c": 4.6, "cutoff": "cos"},
    ]
    return fs


def random_positions(rng, n, cell, pbc, min_dist=1.0, height=None):
    """Positions at least ``min_dist`` apart (minimum image along periodic directions)."""
    inv = np.linalg.inv(cell)
    out = []
    while len(out) < n:
        frac = rng.uniform(0, 1, 3)
        if height is not None:
            frac[2] = rng.uniform(0.5 - height / 2, 0.5 + height / 2)
        p = frac @ cell
        ok = True
        for q in out:
            d = (p - q) @ inv
            d[pbc] -= np.round(d[pbc])
            if np.linalg.norm(d @ cell) < min_dist:
                ok = False
                break
        if ok:
            out.append(p)
    return np.array(out)


def case(name):
    """(positions, cell, pbc, symbols) of a tiny test system."""
    rng = np.random.default_rng(11)
    if name == "bulk":
        # A cell narrower than twice every cutoff: neighbours appear with several images.
        cell = np.array([[4.6, 0.0, 0.0], [1.1, 4.4, 0.0], [-0.7, 0.8, 4.7]])
        pbc = np.array([True, True, True])
        symbols = ["O", "H", "H", "O", "Na", "H", "K", "O"]
        pos = random_positions(rng, len(symbols), cell, pbc, min_dist=1.2)
    else:
        cell = np.array([[4.5, 0.0, 0.0], [0.7, 4.2, 0.0], [0.0, 0.0, 14.0]])
        pbc = np.array([True, True, False])
        symbols = ["Na", "O", "H", "H", "O", "H", "K", "H", "O"]
        pos = random_positions(rng, len(symbols), cell, pbc, min_dist=1.2, height=0.3)
    # Unwrapped positions: the list refers to them through its image shifts.
    pos = pos + rng.integers(-1, 2, (len(pos), 3)) * pbc @ cell
    return pos, cell, pbc, symbols


def inputs(sf, name, skin=0.4):
    positions, cell, pbc, symbols = case(name)
    numbers = np.array([{"H": 1, "O": 8, "Na": 11, "K": 19}[s] for s in symbols])
    nl = NeighborList(sf.cutoff, skin=skin)
    nl.update(positions, cell, pbc)
    first, nbrs, shifts = nl.full
    species = sf.species_index(numbers)
    return (np.ascontiguousarray(positions, dtype=np.float64), np.ascontiguousarray(cell, dtype=np.float64),
            species, first, nbrs, shifts)


def max_rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.fixture(scope="module")
def sf():
    return SymmetryFunctions(function_set())


@pytest.mark.parametrize("name", ["bulk", "slab"])
def test_values_equal_cpu(sf, name):
    args = inputs(sf, name)
    first, nbrs, shifts = args[3:]
    if name == "bulk":
        # Several images of one neighbour in a row: the cutoff exceeds half the cell.
        row = nbrs[first[0]:first[1]]
        assert len(row) > len(np.unique(row))
    ref = cpu.symmetry_functions(*args, sf._tables, sf.n_functions)
    G = gpu.symmetry_functions(*args, sf._tables, sf.n_functions).copy_to_host()  # numpy inputs
    assert G.shape == ref.shape
    # Every kind of column is exercised: most values are nonzero.
    assert np.count_nonzero(ref) > 0.6 * ref.size
    np.testing.assert_allclose(G, ref, rtol=RTOL, atol=ATOL)
    print(f"{name}: G max |dG| / max |G| = {max_rel(G, ref):.1e}")


@pytest.mark.parametrize("name", ["bulk", "slab"])
def test_forces_and_virial_equal_cpu(sf, name):
    args = inputs(sf, name)
    n = args[0].shape[0]
    dEdG = np.random.default_rng(3).normal(size=(n, sf.n_functions))
    ref_f, ref_w = cpu.symmetry_function_forces(*args, sf._tables, dEdG)
    reverse = reverse_entries(*args[3:])
    # Device inputs and tables uploaded once.
    tables = gpu.device_tables(sf._tables)
    dev = [cuda.to_device(a) for a in args]
    f, w = gpu.symmetry_function_forces(*dev, tables, cuda.to_device(dEdG), cuda.to_device(reverse))
    f, w = f.copy_to_host(), w.copy_to_host()
    assert f.shape == (n, 3) and w.shape == (3, 3)
    assert np.abs(ref_f).max() > 1e-2
    np.testing.assert_allclose(f, ref_f, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(w, ref_w, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-12 * np.abs(f).max())
    print(f"{name}: F max |dF| / max |F| = {max_rel(f, ref_f):.1e}, W {max_rel(w, ref_w):.1e}")


def test_atoms_without_functions():
    """H has no functions of its own (every function is centred on O or Na) and K is named by none.

    H's force comes only from the twin entries of its neighbours' rows (the gather); K is no one's
    neighbour and centres nothing, so its force is exactly 0, as on the CPU.
    """
    fs = [
        {"type": 2, "neighbors": ["H"], "eta": 0.5, "r_c": 4.5, "cutoff": "cos", "center": "O"},
        {"type": 2, "neighbors": ["O"], "eta": 0.3, "r_c": 4.5, "cutoff": "poly2", "center": "Na"},
        {"type": 3, "neighbors": ["H", "H"], "eta": 0.05, "zeta": 2.0, "lambda": 1, "r_c": 4.5, "cutoff": "cos",
         "center": "O"},
        {"type": 9, "neighbors": ["O", "H"], "eta": 0.02, "zeta": 1.5, "lambda": -1, "r_c": 4.5,
         "cutoff": "poly2", "cutoff_alpha": 0.2, "center": "Na"},
    ]
    sf = SymmetryFunctions(fs)
    args = inputs(sf, "slab", skin=0.0)
    species = args[2]
    n = species.shape[0]
    h = np.flatnonzero(species == sf.elements.index("H"))
    k = np.flatnonzero(species == len(sf.elements))
    assert h.size and k.size == 1
    G = gpu.symmetry_functions(*args, sf._tables, sf.n_functions).copy_to_host()
    np.testing.assert_allclose(G, cpu.symmetry_functions(*args, sf._tables, sf.n_functions), rtol=RTOL,
                               atol=ATOL)
    assert np.all(G[h] == 0.0) and np.all(G[k] == 0.0)
    dEdG = np.random.default_rng(8).normal(size=(n, sf.n_functions))
    ref_f, ref_w = cpu.symmetry_function_forces(*args, sf._tables, dEdG)
    reverse = reverse_entries(*args[3:])
    tables = gpu.device_tables(sf._tables)
    f1, w1 = gpu.symmetry_function_forces(*args, tables, dEdG, reverse)
    f1, w1 = f1.copy_to_host(), w1.copy_to_host()
    np.testing.assert_allclose(f1[h], ref_f[h], rtol=RTOL, atol=ATOL)
    assert np.abs(f1[h]).max() > 1e-3  # from the reverse entries only
    assert np.all(f1[k] == 0.0) and np.all(ref_f[k] == 0.0)
    np.testing.assert_allclose(f1, ref_f, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(w1, ref_w, rtol=RTOL, atol=ATOL)
    # No atomics: a second run repeats the bits.
    f2, w2 = gpu.symmetry_function_forces(*args, tables, dEdG, reverse)
    assert np.array_equal(f2.copy_to_host(), f1) and np.array_equal(w2.copy_to_host(), w1)


# One cell: float32 scalars run slowly in the simulator (~200 s per cell); the slab's branches are
# the float64 tests' own, and on a GPU the slab is cheap to add back.
@pytest.mark.parametrize("name", ["bulk"])
def test_mixed_precision_against_float64(sf, name):
    """precision="mixed": float32 per-entry and per-pair math, float64 sums, against the float64 CPU kernels.

    The errors are of float32's size: nonzero (float32 is really used: float64 agrees to ~1e-16)
    and within a bound derived from its epsilon (``MIXED_G``, ``MIXED_F``).
    """
    args = inputs(sf, name)
    n = args[0].shape[0]
    tables = gpu.device_tables(sf._tables, "mixed")
    ref = cpu.symmetry_functions(*args, sf._tables, sf.n_functions)
    G = gpu.symmetry_functions(*args, tables, sf.n_functions, precision="mixed").copy_to_host()
    assert G.dtype == np.float64
    dEdG = np.random.default_rng(3).normal(size=(n, sf.n_functions))
    ref_f, ref_w = cpu.symmetry_function_forces(*args, sf._tables, dEdG)
    # dE/dG as float32 device array, as the network term passes it.
    f, w = gpu.symmetry_function_forces(*args, tables, cuda.to_device(dEdG.astype(np.float32)),
                                        reverse_entries(*args[3:]), precision="mixed")
    f, w = f.copy_to_host(), w.copy_to_host()
    # Against the float64 CPU kernels with float32-rounded dE/dG: only the descriptors' precision differs.
    ref_f32, ref_w32 = cpu.symmetry_function_forces(*args, sf._tables, dEdG.astype(np.float32).astype(np.float64))
    e_g, e_f, e_w = max_rel(G, ref), max_rel(f, ref_f32), max_rel(w, ref_w32)
    print(f"{name} mixed: G {e_g:.1e}, F {e_f:.1e}, W {e_w:.1e} (relative to the largest; eps32 = {EPS32:.1e}); "
          f"F against float64 dE/dG {max_rel(f, ref_f):.1e}")
    assert EPS32 / 16 < e_g < MIXED_G
    assert EPS32 / 16 < e_f < MIXED_F
    assert EPS32 / 16 < e_w < MIXED_F
    # Each g_p enters F_i and F_j as the same float32 value: momentum is conserved to float64 rounding.
    np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-12 * np.abs(f).max())


def test_mixed_precision_tables_and_inputs(sf):
    """Mixed tables: the per-entry parameters in float32, the rest as uploaded for float64; dE/dG's dtype checked."""
    t64 = gpu.device_tables(sf._tables)
    t32 = gpu.device_tables(sf._tables, "mixed")
    assert gpu.device_tables(t32, "mixed") is t32 and t32.precision == "mixed" and t64.precision == "float64"
    assert gpu.device_tables(t64, "mixed").precision == "mixed"
    for k, (a32, host) in enumerate(zip(t32[1:15], sf._tables[1:]), start=1):
        want = np.float32 if k in (3, 6, 9, 14) else np.asarray(host).dtype
        assert a32.dtype == want, k
        np.testing.assert_array_equal(a32.copy_to_host(), np.asarray(host).astype(want))
    args = inputs(sf, "slab")
    n = args[0].shape[0]
    with pytest.raises(ValueError, match="float32"):
        gpu.symmetry_function_forces(*args, t32, cuda.to_device(np.zeros((n, sf.n_functions))),
                                     reverse_entries(*args[3:]), precision="mixed")
    with pytest.raises(ValueError, match="precision"):
        gpu.symmetry_functions(*args, t64, sf.n_functions, precision="float32")


def test_device_tables():
    sf = SymmetryFunctions(function_set())
    t = gpu.device_tables(sf._tables)
    assert gpu.device_tables(t) is t
    assert t.n_el == sf._tables[0] == 3
    for dev, host in zip(t[1:15], sf._tables[1:]):
        np.testing.assert_array_equal(dev.copy_to_host(), host)
    rp_first = sf._tables[7]
    assert t.max_parts == np.diff(rp_first).max() >= 2
    # A set without angular functions: empty angular tables upload as empty device arrays.
    radial = SymmetryFunctions(function_set()[:4])
    t2 = gpu.device_tables(radial._tables)
    assert t2.max_parts == 0 and t2.fn_par.shape == (0, 3)
    args = inputs(radial, "slab")
    G = gpu.symmetry_functions(*args, t2, radial.n_functions).copy_to_host()
    np.testing.assert_allclose(G, cpu.symmetry_functions(*args, radial._tables, radial.n_functions), rtol=RTOL,
                               atol=ATOL)

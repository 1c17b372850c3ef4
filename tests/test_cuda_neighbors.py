"""CUDA neighbour-list kernels against their CPU twins (numba's CUDA simulator in CI)."""

import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")

from echemmd.kernels import neighbors as cpu  # noqa: E402
from echemmd.kernels.cuda import neighbors as gpu  # noqa: E402
from echemmd.kernels.cuda import reduce  # noqa: E402
from echemmd.neighbors import build_neighbor_list, choose_bins, perpendicular_widths, search_cell  # noqa: E402


def _binned(positions, cell, pbc, r_list):
    """The CPU's wrapping and binning (neighbors.build_neighbor_list), for feeding both kernels."""
    bcell = search_cell(cell, pbc)
    frac = positions @ np.linalg.inv(bcell)
    images = np.zeros((len(positions), 3), dtype=np.int64)
    images[:, pbc] = np.floor(frac[:, pbc]).astype(np.int64)
    frac = frac - images
    lo = np.where(pbc, 0.0, frac.min(axis=0))
    span = np.maximum(np.where(pbc, 1.0, frac.max(axis=0) - lo), 1e-12)
    n_bins, reach = choose_bins(perpendicular_widths(bcell) * span, pbc, r_list, len(positions))
    bin_index = np.clip(np.floor((frac - lo) / span * n_bins).astype(np.int64), 0, n_bins - 1)
    xw = positions - images @ bcell
    return xw, bin_index, n_bins, reach, np.ascontiguousarray(bcell), images


CASES = [
    # (cell, pbc, r_list, n): a cubic box, a triclinic cell with a cutoff beyond half the cell
    # (several images of one neighbour), a slab and a molecule.
    (np.diag([7.0, 7.5, 8.0]), (True, True, True), 3.2, 40),
    (np.array([[5.0, 0.0, 0.0], [1.5, 4.6, 0.0], [0.7, -0.9, 4.8]]), (True, True, True), 5.5, 12),
    (np.diag([6.0, 6.5, 20.0]), (True, True, False), 3.5, 30),
    (np.zeros((3, 3)), (False, False, False), 4.0, 15),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("half", [False, True])
def test_list_equals_cpu(case, half):
    cell, pbc, r_list, n = CASES[case]
    pbc = np.array(pbc)
    rng = np.random.default_rng(case)
    extent = np.diag(cell) if cell.any() else np.full(3, 6.0)
    positions = rng.uniform(-0.3, 1.3, (n, 3)) * extent  # some atoms outside the cell: unwrapped
    args = _binned(positions, cell, pbc, r_list)
    first_c, nb_c, sh_c = cpu.build_verlet_list(*args[:2], args[2], pbc, args[3], args[4], args[5], r_list, half)
    first_g, nb_g, sh_g = gpu.build_verlet_list(*args[:2], args[2], pbc, args[3], args[4], args[5], r_list, half)
    # Same bins, same search function: the same rows in the same order.
    np.testing.assert_array_equal(first_g.copy_to_host(), first_c)
    np.testing.assert_array_equal(nb_g.copy_to_host(), nb_c)
    np.testing.assert_array_equal(sh_g.copy_to_host(), sh_c)
    assert len(nb_c) > n  # the case has pairs


def test_reverse_entries_equal_cpu():
    cell, pbc, r_list, n = CASES[1]
    positions = np.random.default_rng(5).uniform(0, 4.5, (n, 3))
    lists = build_neighbor_list(positions, cell, np.array(pbc), r_list)
    rev = gpu.reverse_entries(*lists).copy_to_host()
    np.testing.assert_array_equal(rev, cpu.reverse_entries(*lists))
    assert rev.min() >= 0 and np.array_equal(rev[rev], np.arange(len(rev)))


def test_bins_sorted_like_cpu():
    rng = np.random.default_rng(3)
    n_bins = np.array([3, 2, 4])
    bin_index = np.stack([rng.integers(0, m, 50) for m in n_bins], axis=1)
    start_c, atoms_c = cpu.bin_atoms(bin_index, n_bins)
    start_g, atoms_g = gpu.bin_atoms(bin_index, n_bins)
    np.testing.assert_array_equal(start_g.copy_to_host(), start_c)
    np.testing.assert_array_equal(atoms_g.copy_to_host(), atoms_c)


def test_displacement_and_closest_pair():
    cell, pbc, r_list, n = CASES[0]
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 7, (n, 3))
    ref = x + rng.normal(scale=0.1, size=x.shape)
    got = gpu.max_displacement_sq(cuda.to_device(x), cuda.to_device(ref)).copy_to_host()[0]
    assert got == cpu.max_displacement_sq(x, ref)
    lists = build_neighbor_list(x, cell, np.array(pbc), r_list)
    assert gpu.closest_pair(x, cell, *lists) == cpu.closest_pair(x, cell, *lists)


def test_scan_and_sums():
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 40, 700)
    out = reduce.exclusive_scan(cuda.to_device(counts)).copy_to_host()
    np.testing.assert_array_equal(out, np.concatenate([[0], np.cumsum(counts)]))
    a = rng.normal(size=(1500, 4))
    got = reduce.sum_columns(cuda.to_device(a)).copy_to_host()
    np.testing.assert_allclose(got, a.sum(axis=0), rtol=1e-13, atol=1e-12)
    # Bit-for-bit repeatable: the same partial sums in the same order.
    assert np.array_equal(got, reduce.sum_columns(cuda.to_device(a)).copy_to_host())
    mm = reduce.column_min_max(cuda.to_device(a)).copy_to_host()
    np.testing.assert_array_equal(mm, np.stack([a.min(axis=0), a.max(axis=0)]))
    v = a[:, 0].copy()
    v[[17, 900]] = 9.0  # a tie goes to the lowest index
    val, idx = reduce.argmax(cuda.to_device(v))
    assert val.copy_to_host()[0] == 9.0 and idx.copy_to_host()[0] == 17
    v[1200] = np.nan  # a NaN is found before any number
    assert reduce.argmax(cuda.to_device(v))[1].copy_to_host()[0] == 1200

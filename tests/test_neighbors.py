"""Neighbour lists against brute force over periodic images and against ASE."""

import numpy as np
import pytest

from echemmd.errors import NeighborListError
from echemmd.neighbors import NeighborList, build_neighbor_list, perpendicular_widths


def brute_force_pairs(positions, cell, pbc, r_cut, half):
    """Every (i, j, image) with |x_j + image @ cell - x_i| < r_cut, by looping over enough images."""
    reach = [int(np.ceil(r_cut / w)) + 1 if p else 0 for w, p in zip(perpendicular_widths(cell), pbc)]
    # Positions may lie far outside the cell: widen the image range by their spread.
    frac = positions @ np.linalg.inv(cell)
    spread = np.ceil(frac.max(axis=0) - frac.min(axis=0)).astype(int)
    reach = [r + s if p else 0 for r, s, p in zip(reach, spread, pbc)]
    rng = [np.arange(-r, r + 1) for r in reach]
    images = np.array(np.meshgrid(*rng, indexing="ij")).reshape(3, -1).T
    offsets = images @ cell
    out = set()
    n = len(positions)
    for i in range(n):
        d = positions[None, :, :] + offsets[:, None, :] - positions[i]
        r = np.linalg.norm(d, axis=2)
        ks, js = np.nonzero(r < r_cut)
        for k, j in zip(ks, js):
            img = tuple(int(v) for v in images[k])
            if j == i and img == (0, 0, 0):
                continue
            if half:
                if j < i:
                    continue
                if j == i and not (img > (0, 0, 0)):
                    continue
            out.add((i, int(j), img))
    return out


def as_set(first, neighbors, shifts):
    out = set()
    for i in range(len(first) - 1):
        for p in range(first[i], first[i + 1]):
            out.add((i, int(neighbors[p]), tuple(int(v) for v in shifts[p])))
    return out


def random_cell(rng, kind):
    if kind == "cubic":
        return np.eye(3) * rng.uniform(4.0, 12.0)
    if kind == "orthorhombic":
        return np.diag(rng.uniform(3.0, 12.0, 3))
    # Triclinic: upper-triangular-free general cell, strongly skewed at times.
    while True:
        cell = np.diag(rng.uniform(3.0, 10.0, 3)) + rng.uniform(-0.6, 0.6, (3, 3)) * rng.uniform(2.0, 6.0)
        if np.linalg.det(cell) > 0 and perpendicular_widths(cell).min() > 1.0:
            return cell


CASES = []
for seed in range(60):
    kinds = ["cubic", "orthorhombic", "triclinic", "triclinic"]
    pbcs = [(True, True, True), (True, True, True), (True, True, False), (True, False, False), (False, False, False)]
    CASES.append((seed, kinds[seed % 4], pbcs[seed % 5] if seed % 3 else (True, True, True)))


@pytest.mark.parametrize("seed,kind,pbc", CASES)
def test_full_and_half_lists_equal_brute_force(seed, kind, pbc):
    rng = np.random.default_rng(seed)
    cell = random_cell(rng, kind)
    n = int(rng.integers(1, 40))
    positions = rng.uniform(0, 1, (n, 3)) @ cell
    # Some atoms far outside the cell: the list must be right for unwrapped positions too.
    positions[: n // 3] += rng.integers(-3, 4, (n // 3, 3)) @ cell
    # Cutoffs up to twice the smallest width: several images of one neighbour.
    r_cut = rng.uniform(0.3, 2.0) * perpendicular_widths(cell).min() + 0.5
    pbc = np.array(pbc)
    for half in (False, True):
        got = as_set(*build_neighbor_list(positions, cell, pbc, r_cut, half=half))
        want = brute_force_pairs(positions, cell, pbc, r_cut, half)
        assert got == want
        # The stored shift reproduces the geometry.
        first, neighbors, shifts = build_neighbor_list(positions, cell, pbc, r_cut, half=half)
        i = np.repeat(np.arange(n), np.diff(first))
        d = positions[neighbors] + shifts @ cell - positions[i]
        assert np.all(np.linalg.norm(d, axis=1) < r_cut)


@pytest.mark.parametrize("visit_cost", [0.0, 1e9])
def test_bins_narrower_than_the_cutoff_give_the_same_lists(monkeypatch, visit_cost):
    """Free bin visits pick the narrowest bins (1/3 of the cutoff, reach 3), costly ones the
    widest (reach 1): both lists equal brute force."""
    import echemmd.neighbors as nl

    monkeypatch.setattr(nl, "BIN_VISIT_COST", visit_cost)
    reaches = set()
    for seed, kind, pbc in CASES[:24]:
        rng = np.random.default_rng(seed)
        cell = random_cell(rng, kind)
        n = int(rng.integers(20, 60))
        positions = rng.uniform(0, 1, (n, 3)) @ cell
        r_cut = rng.uniform(0.3, 2.0) * perpendicular_widths(cell).min() + 0.5
        pbc = np.array(pbc)
        reaches.add(int(nl.choose_bins(perpendicular_widths(cell), pbc, r_cut, n)[1].max()))
        for half in (False, True):
            got = as_set(*build_neighbor_list(positions, cell, pbc, r_cut, half=half))
            assert got == brute_force_pairs(positions, cell, pbc, r_cut, half)
    assert max(reaches) >= 3 if visit_cost == 0.0 else max(reaches) <= 2


def test_bin_choice_for_a_cell_short_against_the_cutoff():
    """A slab cell 23 x 20 Å with a 14.4 Å list cutoff: one bin per vector would search three
    whole images along x and y; the cost estimate picks narrow bins instead. A large liquid box
    keeps bins one cutoff wide."""
    from echemmd.neighbors import choose_bins

    n_bins, reach = choose_bins(np.array([23.08, 19.99, 45.0]), np.array([True, True, False]), 14.38, 1384)
    assert reach.min() >= 2 and np.all(n_bins >= 3)
    n_bins, reach = choose_bins(np.full(3, 111.9), np.ones(3, bool), 9.5, 29791)
    assert np.all(reach == 1) and np.all(n_bins == 11)


@pytest.mark.parametrize("half", [False, True])
def test_dense_cluster_overflowing_the_density_estimate_equals_brute_force(half):
    """All atoms in one corner of a large periodic cell: the list's per-chunk regions, sized
    from the mean density, overflow and those chunks are searched again."""
    from echemmd.kernels import neighbors as kernels

    rng = np.random.default_rng(5)
    cell = np.eye(3) * 40.0
    n = 700  # more atoms than list chunks, so that chunks hold several atoms each
    positions = rng.uniform(0.0, 6.0, (n, 3))
    pbc = np.array([True, True, True])
    per_atom_mean = n / 40.0**3 * 4.0 / 3.0 * np.pi * 3.0**3
    first, neighbors, shifts = build_neighbor_list(positions, cell, pbc, 3.0, half=half)
    # The regions really overflowed: a chunk holds far more entries than the estimate allows.
    size = -(-n // kernels.N_LIST_CHUNKS)
    assert np.diff(first[::size]).max() > 1.3 * per_atom_mean * size + 64
    assert as_set(first, neighbors, shifts) == brute_force_pairs(positions, cell, pbc, 3.0, half)


def test_half_from_full_equals_direct_half():
    rng = np.random.default_rng(7)
    cell = random_cell(rng, "triclinic")
    positions = rng.uniform(0, 1, (30, 3)) @ cell
    nl = NeighborList(cutoff=6.0, skin=0.0)
    nl.build(positions, cell, np.ones(3, bool))
    direct = build_neighbor_list(positions, cell, np.ones(3, bool), 6.0, half=True)
    assert as_set(*nl.half) == as_set(*direct)
    assert 2 * len(nl.half[1]) == len(nl.neighbors)


@pytest.mark.parametrize("pbc", [(True, True, True), (True, True, False)])
def test_half_built_list_gives_the_full_list_on_demand(pbc):
    """A half-built NeighborList: .half is the direct half list, .full the direct full list (own images too)."""
    rng = np.random.default_rng(8)
    cell = random_cell(rng, "triclinic")
    positions = rng.uniform(0, 1, (25, 3)) @ cell
    pbc = np.array(pbc)
    r_cut = 1.3 * perpendicular_widths(cell).min()  # several images, an atom's own among them
    nl = NeighborList(cutoff=r_cut, skin=0.0, half=True)
    nl.build(positions, cell, pbc)
    assert as_set(*nl.half) == as_set(*build_neighbor_list(positions, cell, pbc, r_cut, half=True))
    assert as_set(*nl.full) == as_set(*build_neighbor_list(positions, cell, pbc, r_cut, half=False))
    assert nl.n_pairs == len(nl.half[1])
    assert nl.closest_pair(positions, cell)[0] == pytest.approx(_closest(positions, cell, pbc, r_cut))


def _closest(positions, cell, pbc, r_cut):
    nl = NeighborList(cutoff=r_cut, skin=0.0)
    nl.build(positions, cell, pbc)
    return nl.closest_pair(positions, cell)[0]


def test_force_field_of_pair_potentials_builds_half_lists():
    from echemmd.forcefield import ForceField
    from echemmd.potentials import LennardJones

    nl = NeighborList(cutoff=5.0, skin=0.5)
    ForceField([LennardJones({"Ar-Ar": {"epsilon": 0.01, "sigma": 3.4}}, cutoff=5.0)], nl)
    assert nl.is_half


def test_matches_ase_neighbor_list():
    from ase.build import bulk
    from ase.neighborlist import neighbor_list

    rng = np.random.default_rng(3)
    atoms = bulk("Cu", "fcc", a=3.6).repeat((3, 2, 2))
    atoms.rattle(0.2, seed=1)
    atoms.set_cell(atoms.cell.array + rng.uniform(-0.5, 0.5, (3, 3)), scale_atoms=True)
    r_cut = 5.0
    i, j, S = neighbor_list("ijS", atoms, r_cut)
    want = {(int(a), int(b), tuple(int(v) for v in s)) for a, b, s in zip(i, j, S)}
    got = as_set(*build_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, r_cut))
    assert got == want


def test_rebuild_only_after_half_skin():
    rng = np.random.default_rng(11)
    cell = np.eye(3) * 10.0
    x = rng.uniform(0, 10, (50, 3))
    nl = NeighborList(cutoff=3.0, skin=1.0)
    assert nl.update(x, cell, np.ones(3, bool))
    y = x.copy()
    y[5, 0] += 0.49
    assert not nl.update(y, cell, np.ones(3, bool))
    y[5, 0] += 0.02
    assert nl.update(y, cell, np.ones(3, bool))
    assert nl.n_builds == 2
    # A new cell always rebuilds.
    assert nl.update(y, cell * 1.01, np.ones(3, bool))


def test_skin_list_contains_every_pair_within_cutoff_until_rebuild():
    rng = np.random.default_rng(5)
    cell = np.eye(3) * 9.0
    x = rng.uniform(0, 9, (60, 3))
    nl = NeighborList(cutoff=3.5, skin=0.8)
    pbc = np.ones(3, bool)
    for _ in range(40):
        nl.update(x, cell, pbc)
        listed = {(i, j, s) for (i, j, s) in as_set(*nl.full)
                  if np.linalg.norm(x[j] + np.array(s) @ cell - x[i]) < 3.5}
        assert listed == brute_force_pairs(x, cell, pbc, 3.5, half=False)
        x = x + rng.normal(0, 0.08, x.shape)  # atoms drift freely, never wrapped


def test_thread_count_does_not_change_the_list():
    import numba

    rng = np.random.default_rng(2)
    cell = np.eye(3) * 12.0
    x = rng.uniform(0, 12, (300, 3))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = build_neighbor_list(x, cell, np.ones(3, bool), 4.0)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        b = build_neighbor_list(x, cell, np.ones(3, bool), 4.0)
    finally:
        numba.set_num_threads(old)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_errors():
    with pytest.raises(NeighborListError, match="cutoff must be > 0"):
        NeighborList(cutoff=0.0)
    with pytest.raises(NeighborListError, match="skin must be >= 0"):
        NeighborList(cutoff=1.0, skin=-1.0)
    with pytest.raises(NeighborListError, match="periodic"):
        build_neighbor_list(np.zeros((2, 3)), np.zeros((3, 3)), np.ones(3, bool), 2.0)


def test_molecule_without_cell():
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 6, (25, 3))
    got = as_set(*build_neighbor_list(x, np.zeros((3, 3)), np.zeros(3, bool), 2.5))
    want = brute_force_pairs(x, np.eye(3), np.zeros(3, bool), 2.5, half=False)
    assert got == want


def test_distance_bound_never_exceeds_the_closest_pair():
    """The cheap per-step bound (closest pair at the build minus twice the largest displacement) is
    a lower bound of the true closest distance, and tight right after a build."""
    from ase.geometry import get_distances

    from echemmd.neighbors import NeighborList

    rng = np.random.default_rng(5)
    cell = np.diag([9.0, 10.0, 11.0])
    pos = rng.uniform(0, 1, (60, 3)) @ cell
    nl = NeighborList(4.0, 1.0)
    nl.build(pos, cell, np.array([True] * 3))
    _, d = get_distances(pos, cell=cell, pbc=True)
    np.fill_diagonal(d, np.inf)
    assert nl.distance_bound(pos, cell) == pytest.approx(min(d.min(), nl.r_list), rel=1e-12)
    for step in range(20):
        moved = pos + rng.normal(0, 0.08, pos.shape)
        _, d = get_distances(moved, cell=cell, pbc=True)
        np.fill_diagonal(d, np.inf)
        assert nl.distance_bound(moved, cell) <= d.min() + 1e-12
    assert nl.distance_bound(pos, cell * 1.01) == 0.0


def test_row_blocks_split_the_pairs_evenly():
    """Blocks of rows with about equal entries, covering every row once, for the half list of
    atoms in random order (row lengths fall off as 1 - i/N) and for empty rows."""
    from echemmd.kernels.neighbors import row_blocks

    rng = np.random.default_rng(2)
    cell = np.eye(3) * 30.0
    positions = rng.uniform(0, 30.0, (3000, 3))
    first, _, _ = build_neighbor_list(positions, cell, np.ones(3, bool), 6.0, half=True)
    lengths = np.diff(first)
    assert lengths[:300].mean() > 5 * lengths[-300:].mean()  # the triangle the blocks correct
    for n_blocks in (1, 2, 4, 7):
        bounds = row_blocks(first, n_blocks)
        assert bounds[0] == 0 and bounds[-1] == 3000 and np.all(np.diff(bounds) >= 0)
        per_block = np.diff(first[bounds])
        assert per_block.sum() == first[-1]
        assert np.abs(per_block - first[-1] / n_blocks).max() <= lengths.max()
    empty = np.zeros(11, dtype=np.int64)
    np.testing.assert_array_equal(row_blocks(empty, 4), [0, 0, 0, 0, 10])

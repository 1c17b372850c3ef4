"""``echemmd label``: farthest-point selection and labelling with provenance, frame by frame."""

import numpy as np
import pytest
from ase.build import fcc111
from ase.io import write

from echemmd.cli import main
from echemmd.io.dataset import read_dataset
from echemmd.training.label import farthest_point_sampling, fingerprints


def test_farthest_point_sampling_picks_the_extremes_first():
    x = np.array([[0.0], [1.0], [2.0], [10.0], [4.0], [5.0]])
    picks = farthest_point_sampling(x, 3)
    assert picks[0] == 3  # farthest from the mean
    assert picks[1] == 0  # then farthest from it
    assert picks[2] == 5 or picks[2] == 4
    assert len(set(farthest_point_sampling(x, 6))) == 6
    assert np.array_equal(farthest_point_sampling(x, 3), picks)


def test_farthest_point_sampling_fills_what_the_known_points_lack():
    # Candidates on a line; the data set already holds points at 0 and 10: the first pick is the
    # candidate farthest from both (5), then those farthest from {0, 5, 10} (2 or 8, then the other).
    x = np.array([[0.0], [0.5], [2.0], [5.0], [8.0], [9.5], [10.0]])
    known = np.array([[0.0], [10.0]])
    picks = farthest_point_sampling(x, 3, known=known)
    assert picks[0] == 3
    assert set(picks[1:]) == {2, 4}
    # The brute-force maximin oracle: each pick maximises the distance to the nearest chosen point.
    rng = np.random.default_rng(4)
    x, known = rng.normal(size=(40, 3)), rng.normal(size=(5, 3))
    picks = farthest_point_sampling(x, 6, known=known)
    all_ = np.vstack([x, known])
    sd = all_.std(axis=0)
    xs, ks = (x - all_.mean(axis=0)) / sd, (known - all_.mean(axis=0)) / sd
    chosen = list(ks)
    for p in picks:
        d = [min(np.linalg.norm(c - q) for q in chosen) for c in xs]
        assert d[p] == pytest.approx(max(d))
        chosen.append(xs[p])


def test_fingerprints_are_invariant_to_atom_order_and_see_distortion():
    a = fcc111("Au", size=(2, 2, 3), vacuum=5.0, orthogonal=True)
    a.pbc = True
    b = a[np.random.default_rng(0).permutation(len(a))]
    c = a.copy()
    c.positions += np.random.default_rng(1).normal(0, 0.1, c.positions.shape)
    f = fingerprints([a, b, c], r_c=5.0)
    np.testing.assert_allclose(f[0], f[1], atol=1e-12)
    assert np.abs(f[0] - f[2]).max() > 1e-3


def test_label_command_selects_labels_and_writes_provenance(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frames = []
    for k in range(10):
        a = fcc111("Au", size=(2, 2, 3), vacuum=5.0, orthogonal=True)
        a.pbc = True
        a.info.clear()
        a.positions += rng.normal(0, 0.03 + 0.02 * k, a.positions.shape)
        frames.append(a)
    write(tmp_path / "cands.extxyz", frames)
    out = tmp_path / "labelled.extxyz"
    assert main(["label", str(tmp_path / "cands.extxyz"), "--calculator", "emt", "--select", "4", "--out",
                 str(out)]) == 0
    data = read_dataset(out)
    assert len(data) == 4
    assert all(f.forces is not None and f.stress is not None for f in data)
    import ase.io

    info = ase.io.read(out, index=0).info
    assert info["method"] == "EMT (ASE)" and info["source"].startswith("cands.extxyz:")
    # The energy is EMT's for that candidate.
    from ase.calculators.emt import EMT

    k = int(info["source"].split(":")[1])
    candidate = ase.io.read(tmp_path / "cands.extxyz", index=k)
    candidate.calc = EMT()
    assert data[0].energy == pytest.approx(candidate.get_potential_energy(), rel=1e-10)
    assert main(["label", str(tmp_path / "missing.xyz"), "--calculator", "emt", "--out", str(out)]) == 2
    assert main(["label", str(tmp_path / "cands.extxyz"), "--calculator", "dft", "--out", str(out)]) == 2


def test_labelling_resumes_where_it_stopped(tmp_path):
    """``resume``: frames whose source is already in the file are skipped, the rest appended."""
    import io

    from ase.calculators.emt import EMT

    from echemmd.training.label import label_structures

    rng = np.random.default_rng(1)
    cands = []
    for k in range(5):
        a = fcc111("Au", size=(2, 2, 2), vacuum=4.0, orthogonal=True)
        a.pbc = True
        a.info = {"source": f"c{k}"}
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        cands.append(a)
    out = tmp_path / "d.extxyz"
    prov = {"method": "EMT (ASE)"}
    label_structures(cands[:3], EMT(), prov, out, stream=io.StringIO())
    log = io.StringIO()
    new = label_structures(cands, EMT(), prov, out, stream=log, resume=True)
    assert [f.source for f in new] == ["c3", "c4"] and "3 of 5 already labelled" in log.getvalue()
    data = read_dataset(out)
    fresh = tmp_path / "fresh.extxyz"
    label_structures(cands, EMT(), prov, fresh, stream=io.StringIO())
    assert [f.energy for f in data] == pytest.approx([f.energy for f in read_dataset(fresh)], rel=1e-12)
    label_structures(cands[:2], EMT(), prov, out, stream=io.StringIO())  # no resume: rewritten
    assert len(read_dataset(out)) == 2


def test_tblite_gfn1_labels_a_periodic_cell(tmp_path):
    pytest.importorskip("tblite")
    from ase.build import molecule

    from echemmd.training.label import label_structures, make_calculator

    w = molecule("H2O")
    w.set_cell([8.0, 8.0, 8.0])
    w.center()
    w.pbc = True
    calc, prov = make_calculator("tblite", "GFN1-xTB")
    fr = label_structures([w], calc, prov, tmp_path / "w.extxyz")[0]
    assert fr.charges is not None and fr.charges[0] < 0 < fr.charges[1]
    assert abs(fr.charges.sum()) < 1e-6
    assert prov["method"] == "GFN1-xTB"

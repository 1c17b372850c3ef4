"""echemmd.validate and ``echemmd validate``: every check passes for random models (short range, fixed
charges, QEq; bulk, slab, cluster) and each check fails for an energy function broken on purpose."""

import math

import numpy as np
import pytest
from ase.io import write

from echemmd.cli import EXIT_FAILED, EXIT_INPUT, main
from echemmd.errors import InputError
from echemmd.io.model import save_model
from echemmd.io.n2p2 import write_n2p2
from echemmd.mlpotential import random_model
from echemmd.neighbors import NeighborList
from echemmd.validate import (ModelEnergy, Tolerances, calibrate_scaling, format_table, run_checks, validate_model,
                              water_box)

NAMES = ["translation invariance (E)", "rotation invariance (E)", "rotation equivariance (F)",
         "permutation invariance (E)", "F = -dE/dx", "conservative forces (dF/dx symmetric)",
         "stress = strain derivative", "smooth cutoff (E)", "smooth cutoff (F)"]
SWITCH = (1.0, 4.0)


@pytest.fixture(scope="module")
def box():
    """24 random water molecules at 1 g/cm^3 (72 atoms, 8.95 Å cube), atoms of different molecules >= 1.6 Å apart."""
    return water_box(24, seed=1, min_distance=1.6)


def hh_model(charge_model, atoms, seed=0):
    """A random H/O model with scaling statistics from ``atoms`` (so its networks do not saturate).

    QEq: the switch removes the short-range Coulomb, and the switched Coulomb matrix has
    eigenvalues down to about -12 eV/e^2 on this box, so the hardness is raised to 20 eV/e^2
    to keep the charge problem convex (random_model draws J from 8..14).
    """
    model = random_model(["H", "O"], seed=seed, charge_model=charge_model,
                         switch=SWITCH if charge_model != "none" else None)
    for p in model.qeq.values():
        p["J"] = 20.0
    return calibrate_scaling(model, atoms)


def by_name(checks):
    return {c.name: c for c in checks}


def failed(checks):
    return {c.name for c in checks if not c.passed}


# ------------------------------------------------------------------ random models pass
@pytest.mark.parametrize("charge_model", ["none", "fixed", "qeq"])
def test_every_check_passes_for_a_random_model_in_a_periodic_box(box, charge_model):
    checks = validate_model(hh_model(charge_model, box), box)
    assert [c.name for c in checks] == NAMES
    print("\n" + format_table(checks))
    assert failed(checks) == set(), format_table(checks)
    assert not any(c.skipped for c in checks)
    # The numbers are far inside the tolerances, not borderline.
    c = by_name(checks)
    for name in NAMES[:4] + ["smooth cutoff (E)", "smooth cutoff (F)"]:
        assert c[name].value < 1e-3 * c[name].tolerance, name
    for name in NAMES[4:7]:
        assert c[name].value < 0.1 * c[name].tolerance, name


def test_smoothness_is_checked_at_every_model_radius(box):
    fn = ModelEnergy(hh_model("fixed", box), box)
    assert fn.cutoffs == [1.0, 4.0, 5.0]  # switch r_on, r_off and the symmetry-function cutoff


def test_uncalibrated_random_model_passes_too(box):
    checks = validate_model(random_model(["H", "O"], seed=3), box, seed=5)
    assert failed(checks) == set(), format_table(checks)


def test_slab_with_fixed_charges():
    slab = water_box(24, seed=3, slab=True)
    checks = validate_model(hh_model("fixed", slab), slab)
    assert failed(checks) == set(), format_table(checks)
    c = by_name(checks)
    assert "about z" in c["rotation invariance (E)"].detail
    assert "in-plane and zz" in c["stress = strain derivative"].detail


def test_cluster_skips_stress():
    cluster = water_box(8, seed=2, pbc=False)
    assert not cluster.pbc.any()
    checks = validate_model(hh_model("none", cluster), cluster)
    c = by_name(checks)
    assert c["stress = strain derivative"].skipped and c["stress = strain derivative"].status == "SKIP"
    assert failed(checks) == set(), format_table(checks)
    # Ewald needs a periodic cell: a model with charges refuses the cluster.
    with pytest.raises(InputError, match="pbc"):
        validate_model(hh_model("fixed", cluster), cluster)


def test_missing_element_names_the_atom(box):
    atoms = box.copy()
    atoms[7].symbol = "Na"
    with pytest.raises(InputError, match=r"atom 7 is Na.*model has H, O"):
        validate_model(hh_model("none", box), atoms)


# ------------------------------------------------------------------ broken energy functions
def poly2(x):
    """DESIGN §4 poly2 cutoff and its derivative in x."""
    return 1 - 10 * x**3 + 15 * x**4 - 6 * x**5, -30 * x**2 + 60 * x**3 - 30 * x**4


class ToyPair:
    """E = sum_pairs w_i w_j A exp(-(s/b)^2) f_c(s/r_c), s = |M r_ij|, with analytic F and virial.

    With the defaults (w = 1, M = 1, nothing added) a smooth, invariant, conservative pair
    potential; each option breaks one property on purpose:

    * ``weights``: w_i = 1 + 0.1 i / N depends on the atom's index (permutation invariance);
    * ``hard``: + hard / s for s < r_c, truncated without shift (smoothness of E and F);
    * ``metric``: M = diag(1, 1, metric) (rotation invariance of E and equivariance of F);
    * ``external``: + external * sum_i z_i, a term of absolute positions (translation invariance);
    * ``curl``: F += curl * (z_i, 0, -x_i), a rotational force field (F = -dE/dx, symmetric Jacobian);
    * ``atomic_virial``: returns sum_i x_i (x) F_i, wrong in a periodic cell (stress).
    """

    def __init__(self, r_c=4.0, A=1.0, b=2.0, weights=False, hard=0.0, metric=1.0, external=0.0, curl=0.0,
                 atomic_virial=False):
        self.r_c, self.A, self.b = r_c, A, b
        self.weights, self.hard, self.metric = weights, hard, metric
        self.external, self.curl, self.atomic_virial = external, curl, atomic_virial

    def __call__(self, system):
        n = system.n_atoms
        x = system.positions
        nl = NeighborList(self.r_c, skin=0.0)
        nl.build(x, system.cell, system.pbc)
        first, neigh, shifts = nl.full
        i = np.repeat(np.arange(n), np.diff(first))
        j = np.asarray(neigh, dtype=np.int64)
        r = x[j] + np.asarray(shifts, dtype=float) @ system.cell - x[i]
        G = np.diag([1.0, 1.0, self.metric**2])  # M^T M
        Gr = r @ G
        s = np.sqrt(np.einsum("pa,pa->p", r, Gr))
        keep = s < self.r_c
        i, r, Gr, s = i[keep], r[keep], Gr[keep], s[keep]
        j = j[keep]
        w = (1.0 + 0.1 * i / n) * (1.0 + 0.1 * j / n) if self.weights else np.ones_like(s)
        fc, dfc = poly2(s / self.r_c)
        g = self.A * np.exp(-(s / self.b) ** 2)
        phi = g * fc
        dphi = g * (dfc / self.r_c - 2.0 * s / self.b**2 * fc)
        if self.hard:
            phi = phi + self.hard / s
            dphi = dphi - self.hard / s**2
        coef = w * dphi / s
        energy = 0.5 * float(np.sum(w * phi))
        forces = np.zeros((n, 3))
        np.add.at(forces, i, coef[:, None] * Gr)
        virial = -0.5 * np.einsum("p,pa,pb->ab", coef, Gr, r)
        if self.external:
            energy += self.external * float(x[:, 2].sum())
            forces[:, 2] -= self.external
            virial[2, :] -= self.external * x.sum(axis=0)
        if self.curl:
            forces += self.curl * np.column_stack([x[:, 2], np.zeros(n), -x[:, 0]])
        if self.atomic_virial:
            virial = np.einsum("ia,ib->ab", x, forces)
        return energy, forces, virial


BROKEN = {
    # option -> the checks it must fail (exactly)
    "weights": {"permutation invariance (E)"},
    "hard": {"smooth cutoff (E)", "smooth cutoff (F)"},
    "metric": {"rotation invariance (E)", "rotation equivariance (F)"},
    "external": {"translation invariance (E)", "rotation invariance (E)", "rotation equivariance (F)"},
    "curl": {"F = -dE/dx", "conservative forces (dF/dx symmetric)", "rotation equivariance (F)"},
    "atomic_virial": {"stress = strain derivative"},
}
OPTIONS = {"weights": {"weights": True}, "hard": {"hard": 0.5}, "metric": {"metric": 1.25},
           "external": {"external": 0.05}, "curl": {"curl": 0.05}, "atomic_virial": {"atomic_virial": True}}


def test_toy_pair_potential_passes_every_check(box):
    """The control: without a defect the toy potential is a correct one, so the failures below are the defects'."""
    checks = run_checks(ToyPair(), box, cutoffs=[4.0])
    assert failed(checks) == set(), format_table(checks)
    assert by_name(checks)["F = -dE/dx"].detail.count("F_rms") == 1


@pytest.mark.parametrize("defect", list(BROKEN))
def test_each_defect_fails_its_checks(box, defect):
    checks = run_checks(ToyPair(**OPTIONS[defect]), box, cutoffs=[4.0])
    print(f"\n{defect}:\n" + format_table(checks))
    assert failed(checks) == BROKEN[defect], format_table(checks)
    for c in checks:
        if c.name in BROKEN[defect]:
            assert c.status == "FAIL" and c.value > 10 * c.tolerance  # far off, not borderline


def test_a_failed_central_difference_is_measured_again_with_a_smaller_step():
    """A difference that straddles an accuracy-level jump fails at one step only; a real error at both."""
    from echemmd.validate import _retry

    steps = []

    def straddles_a_jump(step):
        steps.append(step)
        return (1.0 if step > 5e-5 else 1e-9), step

    assert _retry(straddles_a_jump, 1e-4, 1e-6) == (1e-9, 1e-5) and steps == [1e-4, 1e-5]
    assert _retry(lambda step: (0.5, step), 1e-4, 1e-6) == (0.5, 1e-4)  # a real error stays
    assert _retry(lambda step: (1e-9, step), 1e-4, 1e-6) == (1e-9, 1e-4)  # a pass is not measured again


def test_every_check_is_failed_by_some_defect():
    assert set().union(*BROKEN.values()) == set(NAMES)


def test_broken_model_on_a_cluster_and_stress_units(box):
    # The third value may be the ASE stress -W/V instead of the virial.
    def as_stress(system):
        e, f, w = ToyPair()(system)
        return e, f, -w / system.volume

    assert failed(run_checks(as_stress, box, cutoffs=[4.0], returns="stress")) == set()
    assert "stress = strain derivative" in failed(run_checks(as_stress, box, cutoffs=[4.0]))
    # A cluster: the hard cutoff still shows, stress is skipped.
    cluster = water_box(8, seed=2, pbc=False)
    checks = run_checks(ToyPair(hard=0.5), cluster, cutoffs=[4.0])
    assert failed(checks) == {"smooth cutoff (E)", "smooth cutoff (F)"}
    assert by_name(checks)["stress = strain derivative"].skipped


def test_tolerances_are_used(box):
    checks = run_checks(ToyPair(), box, cutoffs=[4.0], tolerances=Tolerances(force_gradient=0.0))
    assert failed(checks) == {"F = -dE/dx"}
    assert math.isfinite(by_name(checks)["F = -dE/dx"].value)


# ------------------------------------------------------------------ the command line
@pytest.fixture(scope="module")
def files(box, tmp_path_factory):
    d = tmp_path_factory.mktemp("validate")
    model = hh_model("fixed", box)
    save_model(d / "model.h5", model)
    write_n2p2(d / "n2p2", model.short_range, length_unit="Bohr", energy_unit="Hartree")
    write(d / "box.extxyz", box)
    bad = box.copy()
    bad[4].symbol = "Cl"
    write(d / "bad.extxyz", bad)
    return d


def test_cli_passes_on_a_saved_random_model(files, capsys):
    assert main(["validate", str(files / "model.h5"), "--structure", str(files / "box.extxyz")]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    assert "9 passed, 0 failed" in out and "charge model fixed" in out


def test_cli_n2p2_directory_in_bohr_and_hartree(files, capsys):
    argv = ["validate", str(files / "n2p2"), "--structure", str(files / "box.extxyz"), "--n2p2",
            "--length-unit", "Bohr", "--energy-unit", "Hartree"]
    assert main(argv) == 0
    assert "charge model none" in capsys.readouterr().out


def test_cli_exit_1_when_a_check_fails(files, capsys, monkeypatch):
    """No file can hold a broken model, so the model's energy function is broken in place: a curl force."""
    original = ModelEnergy.__call__

    def with_curl(self, atoms):
        e, f, w = original(self, atoms)
        x = atoms.positions
        return e, f + 0.05 * np.column_stack([x[:, 2], np.zeros(len(x)), -x[:, 0]]), w

    monkeypatch.setattr(ModelEnergy, "__call__", with_curl)
    assert main(["validate", str(files / "model.h5"), "--structure", str(files / "box.extxyz")]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "FAIL" in out and "failed" in out


def test_cli_exit_1_for_a_qeq_model_whose_charge_problem_is_not_convex(box, tmp_path, capsys):
    """random_model's QEq hardness (8..14 eV/e^2) is below what the switched Coulomb matrix needs on this box."""
    save_model(tmp_path / "qeq.h5", random_model(["H", "O"], charge_model="qeq", switch=SWITCH))
    write(tmp_path / "box.extxyz", box)
    assert main(["validate", str(tmp_path / "qeq.h5"), "--structure", str(tmp_path / "box.extxyz")]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "validation failed" in err and "not positive definite" in err


@pytest.mark.parametrize("args,message", [
    (["{d}/model.h5", "--structure", "{d}/bad.extxyz"], "atom 4 is Cl, an element the model has no network for"),
    (["{d}/missing.h5", "--structure", "{d}/box.extxyz"], "model file not found"),
    (["{d}/model.h5", "--structure", "{d}/missing.extxyz"], "structure file not found"),
    (["{d}/model.h5", "--structure", "{d}/box.extxyz", "--length-unit", "Bohr"], "apply to n2p2 models only"),
    (["{d}/n2p2", "--structure", "{d}/box.extxyz", "--n2p2", "--energy-unit", "Rydberg"], "energy_unit"),
    (["{d}", "--structure", "{d}/box.extxyz", "--n2p2"], "settings file not found"),
])
def test_cli_bad_input_exits_2(files, capsys, args, message):
    assert main(["validate"] + [a.format(d=files) for a in args]) == EXIT_INPUT
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("cutoff,smooth", [("hard", False), ("cos", True), ("poly1", True)])
def test_model_with_a_hard_cutoff_function_fails_smoothness(box, cutoff, smooth):
    """n2p2's cutoff type 0 (hard) truncates every symmetry function: E and F jump at r_c. cos and poly1
    keep E and F continuous (only dF/dr jumps), which the check accepts."""
    model = calibrate_scaling(random_model(["H", "O"], seed=2, cutoff=cutoff), box)
    checks = validate_model(model, box)
    expected = set() if smooth else {"smooth cutoff (E)", "smooth cutoff (F)"}
    assert failed(checks) == expected, format_table(checks)

"""echemmd.analysis against analytic cases: every expected number is known before the code runs.

Trajectories are written with the real H5MDWriter from System objects (unwrapped positions,
which the writer stores wrapped with image flags), so the reader path is the one users take.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from ase.data import atomic_masses, atomic_numbers
from scipy.special import erf, ndtr

from echemmd import units
from echemmd.analysis import trajectory_info
from echemmd.analysis.blocks import block_average, block_error_curve, linear_fit
from echemmd.analysis.cli import main as analyze_main
from echemmd.analysis.dynamics import diffusion_coefficient, msd, vacf
from echemmd.analysis.electrostatics import (c_infinity, cell_potential_drop, differential_capacitance,
                                             electrode_charges, electrode_potential_drops, integral_capacitance,
                                             potential_from_charge_density, potential_profile)
from echemmd.analysis.profiles import binned_charge, density_profiles, select_atoms
from echemmd.analysis.structure import coordination_number, rdf, water_orientation
from echemmd.analysis.thermo import energy_drift, read_thermo, thermo_block_averages
from echemmd.errors import InputError
from echemmd.io.h5md import H5MDWriter
from echemmd.io.thermo import ThermoLogger
from echemmd.system import System


# ---------------------------------------------------------------------- helpers
def make_system(symbols, positions, cell, pbc, charges=None, velocities=None):
    n = len(symbols)
    return System(symbols=list(symbols), numbers=[atomic_numbers[s] for s in symbols],
                  masses=[atomic_masses[atomic_numbers[s]] for s in symbols], positions=positions,
                  velocities=np.zeros((n, 3)) if velocities is None else velocities,
                  charges=np.zeros(n) if charges is None else charges, cell=cell, pbc=pbc,
                  tags=np.zeros(n, dtype=int), frozen=np.zeros(n, dtype=bool))


def write_traj(path, symbols, cell, pbc, positions, charges=None, velocities=None, dt=10.0, observables=None,
               deck_text=None):
    """positions (F, N, 3) unwrapped; charges (F, N); velocities (F, N, 3); observables: name -> (F,)."""
    sys0 = make_system(symbols, positions[0], cell, pbc)
    with H5MDWriter(path, sys0, flush_every=0, deck_text=deck_text) as w:
        for k in range(len(positions)):
            s = make_system(symbols, positions[k], cell, pbc,
                            None if charges is None else charges[k],
                            None if velocities is None else velocities[k])
            obs = None if observables is None else {n: v[k] for n, v in observables.items()}
            w.write(k, k * dt, s, observables=obs)
    return path


def chi2_per_dof(observed, expected, variance):
    return float(np.sum((observed - expected) ** 2 / variance) / len(observed))


# ---------------------------------------------------------------------- blocks
def test_block_average_and_linear_fit():
    x = np.arange(100, dtype=float)
    ba = block_average(x, 4)
    assert ba.mean == pytest.approx(49.5)
    assert ba.block_means.tolist() == [12.0, 37.0, 62.0, 87.0]
    assert ba.error == pytest.approx(np.std([12, 37, 62, 87], ddof=1) / 2)
    sizes, errs = block_error_curve(np.random.default_rng(0).normal(size=1024))
    assert sizes[0] == 1 and errs[0] == pytest.approx(1 / 32, rel=0.1)
    f = linear_fit([0, 1, 2, 3], [1, 3, 5, 7], sigma=[0.1] * 4)
    assert (f.slope, f.intercept) == pytest.approx((2.0, 1.0))
    # weighted: var(slope) = sigma^2 / sum (x - xm)^2 = 0.01 / 5
    assert f.slope_error == pytest.approx(math.sqrt(0.01 / 5))


# ---------------------------------------------------------------------- density
@pytest.mark.parametrize("slab", [False, True])
def test_uniform_density_is_flat(tmp_path, slab):
    """Uniform random atoms: the profile is N/V in every bin, within multinomial noise (chi^2)."""
    rng = np.random.default_rng(1)
    n_atoms, n_frames, L, H = 300, 40, 20.0, 30.0
    cell = np.diag([L, L, H])
    zlo, zhi = (5.0, 25.0) if slab else (0.0, H)
    pos = np.stack([np.column_stack([rng.uniform(0, L, n_atoms), rng.uniform(0, L, n_atoms),
                                     rng.uniform(zlo, zhi, n_atoms)]) for _ in range(n_frames)])
    pbc = [True, True, not slab]
    path = write_traj(tmp_path / "u.h5md", ["Ar"] * n_atoms, cell, pbc, pos)
    prof = density_profiles(path, bin_width=1.0)
    rho = prof.number["Ar"]
    dz = prof.bin_width
    # Every atom is counted once per frame: exact.
    assert rho.sum() * L * L * dz == pytest.approx(n_atoms, rel=1e-12)
    inside = (prof.centers > zlo) & (prof.centers < zhi)
    assert np.all(rho[~inside] == 0.0)
    n_bins = np.count_nonzero(inside)
    expected = n_atoms / (L * L * (zhi - zlo))
    p = 1.0 / n_bins
    var = expected**2 * (1 - p) / (n_atoms * n_frames * p)  # multinomial counts, in density units
    c2 = chi2_per_dof(rho[inside], expected, var)
    assert c2 < 2.2, c2  # chi^2 with 20-30 dof: < 2.2 per dof at p > 0.999
    # The block errors estimate the same noise.
    assert np.mean(prof.number_error["Ar"][inside] ** 2) / var == pytest.approx(1.0, abs=0.6)


def test_gaussian_charge_binned_exactly():
    edges = np.linspace(0.0, 10.0, 101)
    z, s = np.array([3.0, 6.05]), np.array([0.5, 0.0])
    q = np.array([1.5, -0.7])
    b = binned_charge(z, q, s, edges)
    exact = 1.5 * np.diff(ndtr((edges - 3.0) / 0.5))
    exact[60] -= 0.7
    assert np.allclose(b, exact, atol=1e-15)
    # first moment about each bin centre: sum_k (m_k + c_k q_k) = q z for the whole Gaussian
    # (centred at 5 Å: 10 widths from both ends, nothing outside the range)
    c, m = binned_charge(np.array([5.0]), np.array([1.5]), np.array([0.5]), edges, moment=True)
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert np.sum(m + centres * c) == pytest.approx(1.5 * 5.0, rel=1e-13)
    a, b = edges[47], edges[48]  # one bin by hand: int_a^b (z' - c) n(z') dz'
    pdf = lambda x: math.exp(-0.5 * ((x - 5.0) / 0.5) ** 2) / (0.5 * math.sqrt(2 * math.pi))  # noqa: E731
    assert m[47] / 1.5 == pytest.approx((5.0 - 0.5 * (a + b)) * (ndtr((b - 5) / 0.5) - ndtr((a - 5) / 0.5))
                                        - 0.25 * (pdf(b) - pdf(a)), rel=1e-10)
    # periodic: a Gaussian at the wall wraps around, nothing is lost
    bp = binned_charge(np.array([0.1]), np.array([1.0]), np.array([0.5]), edges, period=10.0)
    assert bp.sum() == pytest.approx(1.0, abs=1e-14)
    assert bp[-1] == pytest.approx(ndtr(-0.1 / 0.5) - ndtr(-1.0 / 0.5 * 0.2), rel=1e-9)


def test_select_atoms():
    sym = ["Au"] * 4 + ["Na", "Cl"]
    pos = np.zeros((6, 3))
    pos[:, 2] = [1, 2, 30, 31, 15, 16]
    assert select_atoms("Au[0:10]", sym, pos).tolist() == [0, 1]
    assert select_atoms("Au[20:]+4", sym, pos).tolist() == [2, 3, 4]
    assert select_atoms("0:2+Cl", sym, pos).tolist() == [0, 1, 5]
    with pytest.raises(InputError, match="no atom of element 'K'"):
        select_atoms("K", sym, pos, "--electrode x")


# ---------------------------------------------------------------------- Poisson
def _sheets(tmp_path, pbc, z1=20.0, z2=30.0, s=0.5, q=0.25, side=4, L=12.0, H=50.0, name="sheets.h5md"):
    """Two square grids of Gaussian charges +q at z1 and -q at z2."""
    g = (np.arange(side) + 0.5) * L / side
    xy = np.array([(x, y) for x in g for y in g])
    pos = np.vstack([np.column_stack([xy, np.full(len(xy), z1)]), np.column_stack([xy, np.full(len(xy), z2)])])
    ch = np.concatenate([np.full(len(xy), q), np.full(len(xy), -q)])
    path = write_traj(tmp_path / name, ["Au"] * len(pos), np.diag([L, L, H]), pbc, pos[None], ch[None])
    sigma_c = q * len(xy) / (L * L)  # e/Å^2
    return path, sigma_c


def _F(u, s):
    """int_-inf^u (u - u') g_s(u') du' for a normalised Gaussian g_s of width s."""
    return u * ndtr(u / s) + s * s * np.exp(-u * u / (2 * s * s)) / (s * math.sqrt(2 * math.pi))


def test_poisson_two_gaussian_sheets_slab(tmp_path):
    """Two Gaussian sheets (+sigma at z1, -sigma at z2, width s), zero field below:
    E(z) = sigma/eps0 [Phi((z-z1)/s) - Phi((z-z2)/s)],  phi(z) = -sigma/eps0 [F(z-z1) - F(z-z2)],
    so the drop across the cell is -sigma d / eps0 and between the sheet planes
    -sigma/eps0 [d erf(d/(s sqrt 2)) + 2 s^2 (g(d) - g(0))] (the smearing correction).
    Bin charges and first moments are integrated analytically, so all of it is exact at the
    bin edges whatever the bin width."""
    z1, z2, s = 20.0, 30.0, 0.5
    path, sc = _sheets(tmp_path, [True, True, False], z1, z2, s)
    d = z2 - z1
    # eps0 = 1/(4 pi k_e): 0.0278 e/Å^2 over 10 Å is 50.26 V
    assert sc * d / units.EPS0 == pytest.approx(sc * d * 4 * math.pi * 14.399645478, rel=1e-12)
    assert sc * d / units.EPS0 == pytest.approx(50.2642, rel=1e-5)
    g = lambda u: math.exp(-u * u / (2 * s * s)) / (s * math.sqrt(2 * math.pi))  # noqa: E731
    between = -sc / units.EPS0 * (d * erf(d / (s * math.sqrt(2))) + 2 * s * s * (g(d) - g(0.0)))
    for bw in (0.1, 0.37):
        prof = potential_profile(path, bin_width=bw, sigma={"Au": s})
        assert prof.boundary == "vacuum"
        z = prof.edges
        e_exact = sc / units.EPS0 * (ndtr((z - z1) / s) - ndtr((z - z2) / s))
        assert np.max(np.abs(prof.field - e_exact)) < 1e-11
        phi_exact = -sc / units.EPS0 * (_F(z - z1, s) - _F(z - z2, s))
        assert np.max(np.abs(prof.phi - phi_exact)) < 1e-11
        drop, err = cell_potential_drop(prof)
        assert drop == pytest.approx(-sc * d / units.EPS0, rel=1e-12)
        assert abs(prof.field_top) < 1e-12
    prof = potential_profile(path, bin_width=0.1, sigma={"Au": s})  # sheets on bin edges
    drops = electrode_potential_drops(prof, {"bottom": (z1, z1), "top": (z2, z2)})
    assert drops["between"][0] == pytest.approx(between, rel=1e-12)
    assert drops["bulk"] == pytest.approx((z1 + d / 3, z2 - d / 3))
    # phi is linear in the bulk region, so its mean is phi at the midpoint: half the drop
    assert drops["bottom"][0] == pytest.approx(-0.5 * between, rel=1e-9)
    assert drops["top"][0] == pytest.approx(0.5 * between, rel=1e-9)
    # point charges (no sigma): the sheets are steps of the field, still exact at the edges
    pp = potential_profile(path, bin_width=0.37)
    assert np.allclose(pp.phi, -sc / units.EPS0 * (np.maximum(pp.edges - z1, 0) - np.maximum(pp.edges - z2, 0)),
                       rtol=0, atol=1e-11)


def test_poisson_periodic_tinfoil(tmp_path):
    """Bulk: zero mean field. E = sigma/eps0 [Phi((z-z1)/s) - Phi((z-z2)/s) - d/L]: between the sheets
    sigma/eps0 (1 - d/L), outside -sigma/eps0 d/L; phi periodic."""
    z1, z2, s, H = 20.0, 30.0, 0.5, 50.0
    path, sc = _sheets(tmp_path, [True, True, True], z1, z2, s, H=H)
    prof = potential_profile(path, bin_width=0.1, sigma={"Au": s})
    assert prof.boundary == "periodic"
    z = prof.edges
    d = z2 - z1
    e_exact = sc / units.EPS0 * (ndtr((z - z1) / s) - ndtr((z - z2) / s) - d / H)
    assert np.max(np.abs(prof.field - e_exact)) < 1e-11
    phi_exact = -sc / units.EPS0 * (_F(z - z1, s) - _F(z - z2, s) - d / H * z)
    assert np.max(np.abs(prof.phi - phi_exact)) < 1e-11
    assert prof.phi[-1] == pytest.approx(prof.phi[0], abs=1e-11)  # periodic
    with pytest.raises(InputError, match="needs a slab"):
        potential_profile(path, sigma={"Au": s}, boundary="vacuum")


def test_potential_from_density_point_sheets():
    """Uniform bins (no moment given): E steps by the bin charge, phi is the dipole step at the top."""
    edges = np.linspace(0, 10, 11)
    rho = np.zeros(10)
    rho[2], rho[7] = 0.1, -0.1  # e/Å^3 in one 1-Å bin each
    field, phi = potential_from_charge_density(edges, rho)
    assert field[3] == pytest.approx(0.1 / units.EPS0)
    assert phi[-1] == pytest.approx(-0.1 * 5 / units.EPS0)  # dipole 0.1 e/Å^2 * 5 Å


# ---------------------------------------------------------------------- capacitance
def test_fluctuation_capacitance_gaussian_series():
    """C = var(Q)/(k_B T): with var = 0.04 e^2 at 300 K, C = 1.547 e/V; error ~ C sqrt(2/n)."""
    rng = np.random.default_rng(3)
    n, var, T, area = 20000, 0.04, 300.0, 150.0
    q = 2.0 + rng.normal(0.0, math.sqrt(var), n)
    c = differential_capacitance(q, T, area, n_blocks=20)
    exact = var / (units.KB * T)
    assert exact == pytest.approx(1.5473, rel=1e-4)
    assert abs(c.capacitance - exact) < 3 * c.error
    assert c.error / (exact * math.sqrt(2.0 / n)) == pytest.approx(1.0, abs=0.4)
    assert c.per_area == pytest.approx(c.capacitance * units.ELEMENTARY_CHARGE * 1e6 / (area * 1e-16))
    assert c.mean_charge == pytest.approx(2.0, abs=4 * c.mean_charge_error)
    with pytest.raises(InputError, match="temperature"):
        differential_capacitance(q, 0.0)


def test_integral_capacitance_slope():
    v = np.array([0.0, 0.5, 1.0, 2.0])
    qerr = np.full(4, 0.01)
    ic = integral_capacitance(v, 0.1 + 2.5 * v, qerr, area=100.0)
    assert ic.capacitance == pytest.approx(2.5)
    assert ic.intercept == pytest.approx(0.1)
    assert ic.error == pytest.approx(0.01 / math.sqrt(np.sum((v - v.mean()) ** 2)))
    assert ic.per_area == pytest.approx(2.5 * units.E_PER_V_A2_TO_UF_PER_CM2 / 100.0)


def test_electrode_charges_from_observables_and_atoms(tmp_path):
    rng = np.random.default_rng(4)
    F = 6
    pos = np.tile(np.array([[1.0, 1.0, 2.0], [2.0, 2.0, 2.0], [1.0, 1.0, 8.0], [3.0, 3.0, 5.0]]), (F, 1, 1))
    q = rng.normal(size=(F, 4))
    path = write_traj(tmp_path / "q.h5md", ["Au", "Au", "Au", "Na"], np.diag([5.0, 5.0, 10.0]),
                      [True, True, False], pos, q, observables={"charge_bottom": q[:, :2].sum(1)})
    s = electrode_charges(path, {"bottom": None, "top": np.array([2])})
    assert s.source == {"bottom": "observable", "top": "atoms"}
    assert np.allclose(s.charges["bottom"], q[:, :2].sum(1))
    assert np.allclose(s.charges["top"], q[:, 2])
    assert s.area == pytest.approx(25.0)
    assert np.allclose(s.time, np.arange(F) * 10.0)


CAP_DECK = """
[system]
structure = "cap.extxyz"
temperature = 300.0
frozen = ["metal"]
[groups]
metal = {{ elements = ["Au"] }}
[[pair]]
style = "lj"
cutoff = 6.0
[pair.coeffs]
"Na-Na" = {{ epsilon = 0.01, sigma = 3.0 }}
"Cl-Cl" = {{ epsilon = 0.01, sigma = 3.0 }}
"Na-Cl" = {{ epsilon = 0.01, sigma = 3.0 }}
"Na-Au" = {{ epsilon = 0.01, sigma = 3.0 }}
"Cl-Au" = {{ epsilon = 0.01, sigma = 3.0 }}
"Au-Au" = {{ epsilon = 0.0, sigma = 3.0 }}
[electrostatics]
accuracy = 1e-8
{electrodes}
[charges]
tolerance = 1e-12
[md]
steps = 20
dt = 1.0
integrator = "langevin"
temperature = 300.0
seed = 3
[output]
directory = "{out}"
thermo_every = 2
trajectory_every = 2
progress = false
"""
CAP_ELECTRODES = """
[[electrode]]
name = "bottom"
tag = 1
potential = -0.5
sigma = 0.357
[[electrode]]
name = "top"
tag = 2
potential = 0.5
sigma = 0.357
"""


def _capacitor_deck(directory, electrodes=CAP_ELECTRODES, side=4, layers=2, gap=10.0, n_pairs=2, seed=4):
    """Two fcc(111) Au electrodes (tags 1, 2; side x side x layers atoms) across ``gap`` Å, ions between:
    a deck file for a constant-potential single point or a short run."""
    from ase import Atoms
    from ase.build import fcc111
    from ase.io import write

    slab = fcc111("Au", size=(side, side, layers), a=4.08, orthogonal=True, vacuum=0.0)
    spacing = 4.08 / np.sqrt(3)
    bottom, top = slab.copy(), slab.copy()
    bottom.positions[:, 2] += 10.0 - bottom.positions[:, 2].min()
    z0 = 10.0 + (layers - 1) * spacing + gap
    top.positions[:, 2] = z0 + (top.positions[:, 2].max() - top.positions[:, 2])
    bottom.set_tags(1)
    top.set_tags(2)
    atoms = bottom + top
    cell = atoms.cell.array.copy()
    cell[2] = [0, 0, 50.0]
    rng = np.random.default_rng(seed)
    zlo, zhi = 10.0 + (layers - 1) * spacing + 3.0, z0 - 3.0
    pos = []
    while len(pos) < 2 * n_pairs:
        p = np.append(rng.uniform(0, 1, 2) @ cell[:2, :2], rng.uniform(zlo, zhi))
        d = np.array(pos).reshape(-1, 3) - p
        d[:, :2] -= np.round(d[:, :2] @ np.linalg.inv(cell[:2, :2])) @ cell[:2, :2]  # minimum image
        if not len(d) or np.linalg.norm(d, axis=1).min() > 3.5:
            pos.append(p)
    ions = Atoms(["Na", "Cl"] * n_pairs, positions=np.array(pos))
    ions.set_initial_charges([1.0, -1.0] * n_pairs)
    atoms = atoms + ions
    atoms.set_cell(cell)
    atoms.pbc = (True, True, False)
    atoms.info.pop("adsorbate_info", None)
    write(directory / "cap.extxyz", atoms, format="extxyz")
    deck = directory / "deck.toml"
    deck.write_text(CAP_DECK.format(out=directory / "out", electrodes=electrodes))
    return deck


def _dense_c_inf(deck_path):
    """Oracle: C_inf of each electrode from the dense charge-solver matrix.

    Columns of A (the Hessian of the electrostatic energy in the electrode charges, eV/e^2)
    from the Ewald potential of unit charges on each electrode atom; the response of the
    constrained minimum (total charge fixed) to a potential pattern dpsi (-1/2 V on the first
    electrode, +1/2 V on the last) from the KKT system [[A, -1], [1^T, 0]] [dq, dmu] = [dpsi, 0].
    """
    from echemmd import app
    from echemmd.io.deck import load_deck

    deck = load_deck(deck_path)
    system = app.build_system(deck)
    solver = app.build_forcefield(deck, system).charge_solver
    ew = solver.ewald
    v = solver.variable
    n = len(v)
    a = np.zeros((n, n))
    for k in range(n):
        e = np.zeros(system.n_atoms)
        e[v[k]] = 1.0
        a[:, k] = ew.matvec(system, e)[v]
    assert np.allclose(a, a.T, atol=1e-10 * np.abs(a).max())
    dpsi = np.zeros(system.n_atoms)
    dpsi[solver.electrodes[0].indices] -= 0.5
    dpsi[solver.electrodes[-1].indices] += 0.5
    kkt = np.block([[a, -np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    dq = np.zeros(system.n_atoms)
    dq[v] = np.linalg.solve(kkt, np.append(dpsi[v], 0.0))[:n]
    return {e.name: float(dq[e.indices].sum()) for e in solver.electrodes}


def test_c_infinity_equals_dense_linear_algebra(tmp_path):
    """Two single points (CG solve through app.evaluate) against the dense constrained solve."""
    deck = _capacitor_deck(tmp_path)
    got = c_infinity(deck)
    oracle = _dense_c_inf(deck)
    print(f"C_inf: two single points {got}, dense KKT {oracle}")
    assert list(got) == ["bottom", "top"]
    # the top electrode's potential rises: it gains +C dV, the bottom the opposite
    assert oracle["top"] > 0 and oracle["bottom"] == pytest.approx(-oracle["top"], rel=1e-10)
    for name in ("bottom", "top"):
        assert got[name] == pytest.approx(abs(oracle[name]), rel=1e-6)
    # linear response: the size of the step does not matter
    assert c_infinity(deck, delta_v=0.1)["top"] == pytest.approx(got["top"], rel=1e-6)
    # the empty capacitor ~ eps0 A / d (d between the facing planes, within a Gaussian width on each side)
    from ase.io import read

    atoms = read(tmp_path / "cap.extxyz")
    z, tags = atoms.positions[:, 2], atoms.get_tags()
    d = z[tags == 2].min() - z[tags == 1].max()
    area = abs(np.linalg.det(atoms.cell.array[:2, :2]))
    d_eff = area / (4 * np.pi * units.KE * got["top"])
    assert abs(d_eff - d) < 2 * 0.357
    with pytest.raises(InputError, match="delta_v"):
        c_infinity(deck, delta_v=0.0)


def test_c_infinity_needs_electrodes(tmp_path):
    deck = _capacitor_deck(tmp_path, electrodes="")
    with pytest.raises(InputError, match=r"deck\.toml.*no \[\[electrode\]\]"):
        c_infinity(deck)


# ---------------------------------------------------------------------- RDF
def test_ideal_gas_rdf_bulk_and_slab(tmp_path):
    """Uncorrelated atoms: g = 1 within Poisson noise, in bulk and in a slab with vacuum
    (slab normalisation); a bulk-style normalisation of the slab would fall to ~0.6 at 7 Å."""
    rng = np.random.default_rng(5)
    L, F, n = 15.0, 12, 150
    bulk = np.stack([rng.uniform(0, L, (n, 3)) for _ in range(F)])
    pb = write_traj(tmp_path / "b.h5md", ["Ar"] * n, np.diag([L, L, L]), [True] * 3, bulk)
    slab = bulk.copy()
    slab[..., 2] = rng.uniform(10.0, 20.0, (F, n))  # 10 Å thick film in a 40 Å cell
    ps = write_traj(tmp_path / "s.h5md", ["Ar"] * n, np.diag([L, L, 40.0]), [True, True, False], slab)
    for path, mode in ((pb, "bulk"), (ps, "slab")):
        g = rdf(path, "Ar-Ar", r_max=9.0, bin_width=0.5)[("Ar", "Ar")]
        assert g.normalization == mode
        sel = g.r > 1.0
        # like pairs are counted from both atoms, so the count's variance is twice Poisson
        c2 = chi2_per_dof(g.g[sel], 1.0, 2.0 / g.reference[sel])
        assert c2 < 2.0, (mode, c2)
        assert np.mean(g.g[sel]) == pytest.approx(1.0, abs=0.02)
    # coordination number of an ideal bulk gas: rho 4/3 pi R^3 (rho of the other n-1 atoms)
    gb = rdf(pb, [("Ar", "Ar")], r_max=6.0, bin_width=0.25)[("Ar", "Ar")]
    cn = coordination_number(gb, 6.0)
    assert cn == pytest.approx((n - 1) / L**3 * 4 / 3 * math.pi * 6.0**3, rel=0.03)


def test_rdf_exact_pairs_and_errors(tmp_path):
    """Two atoms 3 Å apart in a 10 Å box: r_max beyond half the box counts every image:
    3 Å, 7 Å and four at sqrt(3^2 + 10^2) = 10.44 Å."""
    pos = np.array([[[1.0, 1.0, 1.0], [4.0, 1.0, 1.0], [1.0, 6.0, 6.0]]])
    path = write_traj(tmp_path / "p.h5md", ["Na", "Cl", "Ar"], np.diag([10.0] * 3), [True] * 3, pos)
    g = rdf(path, "Na-Cl", r_max=10.5, bin_width=0.5)[("Na", "Cl")]
    assert g.counts[6] == 1 and g.counts[14] == 1 and g.counts[20] == 4 and g.counts.sum() == 6
    assert coordination_number(g, 3.0 + 0.5) == pytest.approx(1.0)
    with pytest.raises(InputError, match="slab RDF normalisation needs a slab"):
        rdf(path, "Na-Cl", normalization="slab")
    with pytest.raises(InputError, match="species 'K'"):
        rdf(path, "Na-K")


# ---------------------------------------------------------------------- MSD, VACF
def test_ballistic_msd_with_unwrapping(tmp_path):
    """x = x0 + v t crossing the cell walls many times: MSD = <|v|^2> t^2 exactly."""
    rng = np.random.default_rng(6)
    n, F, dt, L = 20, 40, 10.0, 8.0
    v = rng.normal(0, 0.05, (n, 3))  # Å/fs: up to ~60 Å in 400 fs, many cell lengths
    x0 = rng.uniform(0, L, (n, 3))
    t = np.arange(F) * dt
    pos = x0[None] + v[None] * t[:, None, None]
    path = write_traj(tmp_path / "ball.h5md", ["Ar"] * n, np.diag([L] * 3), [True] * 3, pos, dt=dt)
    m = msd(path, origin_every=1)
    assert np.allclose(m.msd["Ar"], np.mean(np.sum(v**2, 1)) * m.time**2, rtol=1e-10, atol=1e-10)
    m2 = msd(path, dims="xy", max_lag=100.0)
    assert m2.time[-1] == 100.0
    assert np.allclose(m2.msd["Ar"], np.mean(np.sum(v[:, :2] ** 2, 1)) * m2.time**2, rtol=1e-10)
    # a slab defaults to in-plane
    ps = write_traj(tmp_path / "ballslab.h5md", ["Ar"] * n, np.diag([L, L, 200.0]), [True, True, False],
                    pos + np.array([0, 0, 100.0]), dt=dt)
    assert msd(ps).dims == [0, 1]


def test_brownian_msd_diffusion(tmp_path):
    """Random walk with step variance 2 D dt per axis: MSD = 6 D t and D is recovered within its error."""
    rng = np.random.default_rng(7)
    n, F, dt, D, L = 200, 400, 10.0, 0.005, 15.0
    steps = rng.normal(0, math.sqrt(2 * D * dt), (F, n, 3))
    steps[0] = rng.uniform(0, L, (n, 3))
    pos = np.cumsum(steps, axis=0)
    path = write_traj(tmp_path / "bm.h5md", ["Ar"] * n, np.diag([L] * 3), [True] * 3, pos, dt=dt)
    m = msd(path, max_lag=1000.0, origin_every=2, n_blocks=5)
    fit = diffusion_coefficient(m, "Ar", 100.0, 900.0)
    assert abs(fit.value - D) < 3.5 * fit.error, (fit.value, fit.error)
    assert fit.error < 0.1 * D
    assert fit.si == pytest.approx(fit.value * 1e-5)
    assert m.msd["Ar"][50] == pytest.approx(6 * D * 500.0, rel=0.1)


def test_vacf_of_circular_motion(tmp_path):
    """v_i(t) = A (cos(w t + p_i), sin(w t + p_i), 0): v(t0) . v(t0 + t) = A^2 cos(w t) for every origin."""
    rng = np.random.default_rng(8)
    n, F, dt, A, w = 10, 60, 5.0, 0.02, 2 * math.pi / 200.0
    ph = rng.uniform(0, 2 * math.pi, n)
    t = np.arange(F) * dt
    vel = np.zeros((F, n, 3))
    vel[..., 0] = A * np.cos(w * t[:, None] + ph)
    vel[..., 1] = A * np.sin(w * t[:, None] + ph)
    pos = np.zeros((F, n, 3)) + rng.uniform(0, 5, (n, 3))
    path = write_traj(tmp_path / "v.h5md", ["Ar"] * n, np.diag([10.0] * 3), [True] * 3, pos, velocities=vel, dt=dt)
    c = vacf(path, origin_every=3)
    assert np.allclose(c.vacf["Ar"], A * A * np.cos(w * c.time), rtol=0, atol=1e-15)
    assert np.allclose(c.normalized("Ar"), np.cos(w * c.time), atol=1e-12)
    with pytest.raises(InputError, match="max lag"):
        vacf(path, max_lag=1e6)


# ---------------------------------------------------------------------- orientation
def test_fixed_water_orientation_is_a_delta(tmp_path):
    """Every dipole at 60 degrees to +z (random azimuth): P(cos theta) has all weight in the bin of 0.5."""
    rng = np.random.default_rng(9)
    theta, r, hoh = math.radians(60.0), 0.9572, math.radians(104.52)
    grid = [(x, y, z) for x in (1.5, 4.5, 7.5, 10.5) for y in (1.5, 4.5, 7.5, 10.5) for z in (6.0, 9.0, 12.0)]
    syms, pos = [], []
    for o in grid:
        phi = rng.uniform(0, 2 * math.pi)
        u = np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)])
        wv = np.cross(u, rng.normal(size=3))
        wv /= np.linalg.norm(wv)
        o = np.array(o)
        for sgn in (1, -1):
            pos.append(o + r * (math.cos(hoh / 2) * u + sgn * math.sin(hoh / 2) * wv))
            syms.append("H")
        pos.append(o)
        syms.append("O")
    pos = np.array(pos)
    pos[:, 0] -= 1.4  # some H across the wall: minimum image must pair them back
    path = write_traj(tmp_path / "w.h5md", syms, np.diag([12.0, 12.0, 20.0]), [True, True, False],
                      np.stack([pos, pos]))
    o = water_orientation(path, n_cos=45, bin_width=1.0)
    assert o.n_molecules == len(grid) and o.n_skipped == 0
    k = int((0.5 + 1.0) / (2.0 / 45))
    assert o.counts[:, k].sum() == 2 * len(grid) and o.counts.sum() == 2 * len(grid)
    occupied = o.counts.sum(1) > 0
    assert np.allclose(o.mean_cos[occupied], 0.5, atol=1e-12)
    assert np.allclose(o.probability[occupied][:, k], 45 / 2.0)


# ---------------------------------------------------------------------- thermo
def test_thermo_drift_of_linear_csv(tmp_path):
    """conserved = E0 + s t with s = 2e-6 eV/fs, 50 atoms: drift = s * 1e6 / 50 = 0.04 eV/atom/ns."""
    path = tmp_path / "thermo.csv"
    rng = np.random.default_rng(10)
    cols = ["step", "time", "temperature", "potential_energy", "kinetic_energy", "conserved_energy"]
    with ThermoLogger(path, cols, stream=None) as log:
        for k in range(1001):
            t = 10.0 * k
            log.log({"step": k * 5, "time": t, "temperature": 300 + rng.normal(0, 5),
                     "potential_energy": -110.0, "kinetic_energy": 10.0, "conserved_energy": -100.0 + 2e-6 * t})
    data = read_thermo(path)
    assert data.units["temperature_K"] == "K" and data.labels["conserved_eV"] == "conserved"
    assert np.array_equal(data.column("conserved_energy"), data.column("conserved"))
    d = energy_drift(data.time, data.column("conserved"), 50)
    assert d.value == pytest.approx(0.04, rel=1e-9)
    assert d.error < 1e-9
    rows = {r["column"]: r for r in thermo_block_averages(data, 10)}
    assert "time_fs" not in rows and "step" not in rows
    assert abs(rows["temperature_K"]["mean"] - 300.0) < 4 * rows["temperature_K"]["error"]
    assert rows["temperature_K"]["error"] == pytest.approx(5 / math.sqrt(1000), rel=0.5)
    with pytest.raises(InputError, match="no thermo column 'pressure'"):
        data.column("pressure")


# ---------------------------------------------------------------------- CLI
DECK = """
[system]
structure = "x.extxyz"
temperature = 300.0

[[electrode]]
name = "bottom"
tag = 1
potential = -0.5
sigma = 0.4

[[electrode]]
name = "top"
tag = 2
potential = 0.5
sigma = 0.4

[md]
steps = 100
dt = 1.0
temperature = 350.0
"""


def _capacitor_traj(path, F=30):
    """Au electrodes (4 atoms each, varying charges), Na/Cl ions and 4 waters in a slab."""
    rng = np.random.default_rng(11)
    L = 8.0
    au = [(x, y, z) for z in (3.0, 27.0) for x in (2.0, 6.0) for y in (2.0, 6.0)]
    syms = ["Au"] * 8 + ["Na", "Cl", "Na", "Cl"]
    base = np.array(au + [(1, 1, 10), (5, 5, 12), (3, 6, 18), (6, 2, 20)], dtype=float)
    water = []
    for o in [(2.0, 2.0, 8.0), (6.0, 6.0, 14.0), (2.0, 6.0, 16.0), (6.0, 2.0, 22.0)]:
        water += [o, (o[0] + 0.76, o[1], o[2] + 0.59), (o[0] - 0.76, o[1], o[2] + 0.59)]
        syms += ["O", "H", "H"]
    base = np.vstack([base, water])
    n = len(syms)
    pos = base[None] + np.concatenate([np.zeros((F, 8, 3)), rng.normal(0, 0.05, (F, n - 8, 3)).cumsum(0)], axis=1)
    vel = rng.normal(0, 0.01, (F, n, 3))
    vel[:, :8] = 0
    qe = 0.05 + 0.01 * rng.normal(size=F)
    ch = np.zeros((F, n))
    ch[:, :4] = -qe[:, None] / 4
    ch[:, 4:8] = qe[:, None] / 4
    ch[:, 8:12] = [1, -1, 1, -1]
    ch[:, 12:] = np.tile([-0.8, 0.4, 0.4], 4)
    obs = {"charge_bottom": -qe, "charge_top": qe}
    return write_traj(path, syms, np.diag([L, L, 30.0]), [True, True, False], pos, ch, vel, dt=2.0,
                      observables=obs, deck_text=DECK)


def test_cli_writes_expected_files(tmp_path, capsys):
    traj = _capacitor_traj(tmp_path / "trajectory.h5md")
    thermo = tmp_path / "thermo.csv"
    with ThermoLogger(thermo, ["step", "time", "temperature", "conserved_energy"], stream=None) as log:
        for k in range(30):
            log.log({"step": k, "time": 2.0 * k, "temperature": 350.0 + k % 3, "conserved_energy": -5.0 + 1e-5 * k})
    out = tmp_path / "analysis"
    rc = analyze_main([str(traj), "--out", str(out), "--thermo", str(thermo), "--electrode", "bottom=Au[0:10]",
                       "--electrode", "top=Au[20:]", "--pairs", "Na-Cl,O-O", "--rmax", "6", "--bin-width", "0.2"])
    assert rc == 0, capsys.readouterr().err
    expected = ["density.csv", "density.png", "charge_density.csv", "charge_density.png", "potential.csv",
                "potential.png", "potential_drops.csv", "electrode_charge.csv", "electrode_charge.png",
                "capacitance.csv", "rdf.csv", "rdf.png", "msd.csv", "msd.png", "diffusion.csv", "vacf.csv",
                "vacf.png", "orientation.csv", "orientation_mean.csv", "orientation.png", "thermo_blocks.csv",
                "thermo_drift.csv", "thermo.png", "summary.csv"]
    assert sorted(os.listdir(out)) == sorted(expected)
    header = lambda f: open(out / f).readline().strip()  # noqa: E731
    assert header("potential.csv") == "z_A,phi_V,phi_err_V,E_z_V/A"
    assert header("density.csv").startswith("z_A,rho_H_1/A3,rho_H_err_1/A3,rho_O_1/A3")
    assert header("electrode_charge.csv") == "time_fs,charge_bottom_e,charge_top_e"
    assert header("rdf.csv") == "r_A,g_Na-Cl,g_Na-Cl_err,cn_Na-Cl,g_O-O,g_O-O_err,cn_O-O"
    assert header("msd.csv").startswith("time_fs,msd_H_A2")
    # temperature from the deck's md.temperature (350 K) and Gaussian widths from [[electrode]] sigma
    cap = open(out / "capacitance.csv").read().splitlines()
    assert cap[0].startswith("electrode,C_e/V,C_err_e/V,C_uF/cm2")
    assert float(cap[1].split(",")[8]) == 350.0
    info = trajectory_info(traj)
    q = info.observable("charge_top")
    c = differential_capacitance(q, 350.0, 64.0, 5)
    assert float(cap[2].split(",")[1]) == pytest.approx(c.capacitance)
    # python -m entry point and an error path: a slab-only analysis of a bulk trajectory
    bulk = write_traj(tmp_path / "bulk.h5md", ["Ar", "Ar"], np.diag([5.0] * 3), [True] * 3,
                      np.array([[[1, 1, 1], [3, 3, 3.0]]] * 3), np.zeros((3, 2)))
    rc = analyze_main([str(bulk), "--out", str(tmp_path / "b"), "--what", "potential", "--boundary", "vacuum"])
    assert rc == 2
    assert "needs a slab trajectory" in capsys.readouterr().err
    rc = analyze_main([str(bulk), "--out", str(tmp_path / "b"), "--what", "capacitance"])
    assert rc == 2
    assert "--what capacitance" in capsys.readouterr().err


def _read_csv(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_cli_c_inf_adds_total_capacitance(tmp_path, capsys):
    """--c-inf 0.05: C_total = <dQ^2>/(k_B T) + 0.05 with the error of the fluctuations; the old columns stay."""
    traj = _capacitor_traj(tmp_path / "trajectory.h5md")
    base = [str(traj), "--what", "capacitance"]
    assert analyze_main(base + ["--out", str(tmp_path / "plain")]) == 0
    assert "give --c-inf E_PER_V or --deck DECK" in capsys.readouterr().out  # the note, C_inf unknown
    plain = _read_csv(tmp_path / "plain" / "capacitance.csv")
    assert "C_total_e/V" not in plain[0]
    assert analyze_main(base + ["--out", str(tmp_path / "a"), "--c-inf", "0.05"]) == 0
    assert "note: for a constant-potential run" not in capsys.readouterr().out
    rows = _read_csv(tmp_path / "a" / "capacitance.csv")
    header = open(tmp_path / "a" / "capacitance.csv").readline().strip().split(",")
    assert header == list(plain[0]) + ["C_inf_e/V", "C_total_e/V", "C_total_err_e/V", "C_total_uF/cm2"]
    q = trajectory_info(traj).observable("charge_top")
    c = differential_capacitance(q, 350.0, 64.0, 5)
    summary = {r["quantity"]: r for r in _read_csv(tmp_path / "a" / "summary.csv")}
    for old, row in zip(plain, rows):
        assert {k: row[k] for k in old} == old  # existing columns unchanged
        assert float(row["C_inf_e/V"]) == 0.05
        assert float(row["C_total_e/V"]) == pytest.approx(float(row["C_e/V"]) + 0.05, rel=1e-12)
        assert float(row["C_total_err_e/V"]) == pytest.approx(float(row["C_err_e/V"]), rel=1e-12)
        assert float(row["C_total_uF/cm2"]) == pytest.approx(
            (float(row["C_e/V"]) + 0.05) * units.E_PER_V_A2_TO_UF_PER_CM2 / 64.0, rel=1e-12)
        s = summary[f"C_total {row['electrode']}"]
        assert (float(s["value"]), float(s["error"]), s["unit"]) == pytest.approx(
            (float(row["C_total_e/V"]), float(row["C_total_err_e/V"]), "e/V"))
    assert rows[1]["electrode"] == "top"
    assert float(rows[1]["C_total_e/V"]) == pytest.approx(c.capacitance + 0.05, rel=1e-9)
    assert float(rows[1]["C_total_err_e/V"]) == pytest.approx(c.error, rel=1e-9)
    # bad values and both sources at once are input errors
    assert analyze_main(base + ["--out", str(tmp_path / "b"), "--c-inf", "-0.1"]) == 2
    assert "--c-inf" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        analyze_main(base + ["--out", str(tmp_path / "b"), "--c-inf", "0.1", "--deck", "x.toml"])


def test_cli_deck_computes_c_inf(tmp_path, capsys):
    """--deck DECK: C_inf from the run's deck (c_infinity) matched to the electrodes by name."""
    from echemmd.cli import main as echemmd_main

    deck = _capacitor_deck(tmp_path)
    assert echemmd_main(["run", str(deck)]) == 0
    traj = tmp_path / "out" / "trajectory.h5md"
    out = tmp_path / "analysis"
    assert analyze_main([str(traj), "--out", str(out), "--what", "capacitance", "--blocks", "2",
                         "--deck", str(deck)]) == 0
    assert "C_inf from" in capsys.readouterr().out
    expected = c_infinity(deck)
    rows = _read_csv(out / "capacitance.csv")
    assert [r["electrode"] for r in rows] == ["bottom", "top"]
    for r in rows:
        assert float(r["C_inf_e/V"]) == pytest.approx(expected[r["electrode"]], rel=1e-9)
        assert float(r["C_total_e/V"]) == pytest.approx(float(r["C_e/V"]) + float(r["C_inf_e/V"]), rel=1e-12)
    # electrodes named otherwise than in the deck, or a deck of another structure: input errors
    assert analyze_main([str(traj), "--out", str(out), "--what", "capacitance", "--blocks", "2", "--deck",
                         str(deck), "--electrode", "left=0:32"]) == 2
    assert "no [[electrode]] named left" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    other_deck = _capacitor_deck(other, n_pairs=3)
    assert analyze_main([str(traj), "--out", str(out), "--what", "capacitance", "--blocks", "2", "--deck",
                         str(other_deck)]) == 2
    assert "70 atoms, the trajectory" in capsys.readouterr().err


def test_cli_module_entry_point():
    """``python -m echemmd.analysis.cli`` works (the lead wires the same main into ``echemmd analyze``)."""
    r = subprocess.run([sys.executable, "-m", "echemmd.analysis.cli", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "--electrode NAME=SELECTION" in r.stdout

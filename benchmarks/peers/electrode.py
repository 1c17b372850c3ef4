"""Peer workload (b): one constant-potential MD step, echemmd against LAMMPS ELECTRODE.

What is compared
----------------
The same structure, parameters and thread count in both engines (rules in ``common.py``):

* two frozen fcc(111) metal electrodes of 3 layers x 8 x 8 atoms (a = 4.08 Å, 192 atoms
  each, 384 in all), inner planes 40 Å apart, cell 23.08 x 19.99 x 60 Å, pbc (T, T, F);
* 1000 ions of a restricted primitive model (500 at +1 e, 500 at -1 e, point charges), LJ
  sigma 3.0 Å, epsilon 0.01 eV, cutoff 12 Å (shifted) between ions and between ions and
  electrode atoms; no electrode-electrode LJ (epsilon 0);
* electrode charges Gaussian with LAMMPS eta = 1.979 1/Å, i.e. echemmd sigma =
  1 / (eta sqrt 2) = 0.3573 Å (same kernels: erf(eta r / sqrt 2) between electrode atoms,
  erf(eta r) between an electrode atom and an ion, self energy eta / sqrt(2 pi) q^2);
* 1 V between the electrodes (bottom -0.5 V, top +0.5 V) with total electrode charge 0
  (echemmd: the total charge constraint; LAMMPS: ``symm on``);
* Ewald accuracy 1e-6 (relative RMS force, both), slab geometry: padding factor 3 and the
  Yeh–Berkowitz correction (echemmd ``slab_factor = 3``; LAMMPS ``kspace_modify slab 3.0``);
* Langevin at 1200 K, friction 0.01 1/fs (LAMMPS ``fix langevin`` damp 0.1 ps + ``fix nve``;
  echemmd BAOAB), dt = 1 fs, neighbour skin 1 Å, identical starting velocities;
* charge solve tolerance: echemmd RMS projected residual ``tol`` V (default 1e-6 V; LAMMPS's
  unpreconditioned CG does not reach 1e-8 V from a cold start in 384 iterations); the LAMMPS
  ``algo cg`` threshold is the same residual in its units, n_electrode (tol / qqrd2e)^2 (its
  ``delta`` is the squared norm of the projected residual in e/Å). ``algo mat_inv`` is exact.

Ions: 1000 ions cannot be placed by random sequential insertion at 2.5 Å minimum distance
(the packing fraction would be 0.51, above the jamming limit 0.38 of random insertion).
They start on a body-centred-like lattice of 1008 sites filling the gap at least 2.6 Å from
the inner electrode planes, 1000 sites are drawn at random, charges are shuffled, and a few
sweeps of hard-sphere Monte Carlo (random moves rejected below 2.5 Å and closer than 2.5 Å
to the planes) randomise the positions. Deterministic (seeded).

Peers: LAMMPS ``fix electrode/conp`` with ``kspace_style ewald/electrode`` and
``pppm/electrode``, each with ``algo mat_inv`` (capacitance matrix built and inverted once,
one matrix-vector product per step) and ``algo cg`` (matrix-free CG, warm-started from the
last charges). The ratio is echemmd s/step over the fastest LAMMPS configuration's s/step.

Reported:

* electrode charges after the first solve (step 0, identical positions): max |dq| and RMS
  of the per-atom differences, total charge of each electrode, for every LAMMPS
  configuration against echemmd;
* warm-up apart: echemmd build + compilation + first (cold) solve, further warm-up steps;
  LAMMPS ``run 0`` (setup: matrix build and inversion for mat_inv, first solve) and warm-up;
* s/step of ``steps`` timed steps (20; 5 with ``--quick``) after warm-up: echemmd
  ``Simulation.run`` wall time, LAMMPS ``run N pre no`` loop time (and the wall time);
* a profile of echemmd's step (a second, instrumented run of the same length): charge solve
  (CG iterations per step, time per iteration = per A.v product, i.e. one Ewald potential
  evaluation), Ewald forces, LJ, neighbour list, the rest (integrator, checks); and the
  LAMMPS timing breakdown (Pair, Kspace, Neigh, Modify = fix electrode's solve, ...) with its
  average CG steps.

    flock /tmp/bench.lock python benchmarks/peers/electrode.py [--quick] [--threads 2]

Writes ``benchmarks/results/peers_electrode[_quick].json``.

Scaling (``--scaling``)
-----------------------
The same workload against the electrolyte size: electrodes of k x k atoms per layer (3 layers,
k even; ``--side K`` runs one size), the ions in the same 40 Å gap at the same number density,
n_ions = 1000 (k/8)^2 rounded to an even number (half +1 e, half -1 e); k = 8 is exactly the
structure above. Where 18 layers of the starting lattice would put sites closer than 2.6 Å
(k <= 7) the number of layers is chosen too. Sides 6, 8, 12, 16, 22: 562, 1000, 2250, 4000,
7562 ions (216 .. 2904 electrode atoms); ``--quick``: sides 4 and 6. Per size: 3 warm-up and 5
timed steps (plus echemmd's 5 profiled ones) of echemmd and of LAMMPS ``pppm/electrode`` and
``ewald/electrode`` with ``algo mat_inv`` (``algo cg``: ~1 s/step at 1000 ions already). Each
size runs in a child process (``--timeout`` s, default 7200) that writes its result after every
engine: a size that runs out of time or memory keeps what finished and records the error; a
configuration that failed is not tried at larger sizes, and ``--max-setup S`` skips one whose
setup extrapolated from the smaller sizes exceeds S. Reported: s/step and setup per engine and
size, least-squares log-log exponents of s/step against n_ions and against n_atoms (the same up
to rounding: n_electrode / n_ions is constant) and of the setup against n_electrode, and the
first-step electrode charges of each LAMMPS configuration against echemmd's at every size (the
equal-accuracy check).

    flock /tmp/bench.lock python benchmarks/peers/electrode.py --scaling [--sides 6,8,12,16,22]

Writes ``benchmarks/results/peers_electrode_scaling[_quick].json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_lammps, set_threads, write_result  # noqa: E402

LATTICE = 4.08  # Å
SIDE = 8
LAYERS = 3
GAP = 40.0  # Å between the inner electrode planes
N_IONS = 1000
MIN_DISTANCE = 2.5  # Å, ion-ion and ion-plane
BOTTOM = 5.0  # Å, z of the outer bottom layer
HEIGHT = 60.0  # Å, cell height (vacuum ~5 Å beyond each electrode)
ETA = 1.979  # 1/Å, LAMMPS Gaussian parameter
SIGMA_E = 1.0 / (ETA * math.sqrt(2.0))  # Å, echemmd width
LJ_EPS, LJ_SIGMA, CUTOFF = 0.01, 3.0, 12.0
ACCURACY = 1e-6
POTENTIALS = (-0.5, 0.5)  # V, bottom and top
TEMPERATURE = 1200.0  # K
FRICTION = 0.01  # 1/fs
DT = 1.0  # fs
SKIN = 1.0  # Å
SEED = 2024
QQRD2E_METAL = 14.399645  # LAMMPS metal units: e^2/Å -> eV


# ---------------------------------------------------------------------- structure
def _min_image_xy(d, lx, ly):
    d[..., 0] -= lx * np.round(d[..., 0] / lx)
    d[..., 1] -= ly * np.round(d[..., 1] / ly)
    return d


def n_ions_for(side):
    """Ions for a k x k electrode: the density of the 8 x 8 / 1000-ion system, even (neutral)."""
    return 2 * int(round(N_IONS * (side / SIDE) ** 2 / 2))


def _ion_lattice(n, lx, ly, height):
    """(nx, ny, nz) starting lattice for ``n`` ions in an lx x ly x height region.

    nz = 18 layers (the 8 x 8 system's 8 x 7 x 18) with the (nx, ny) of the largest nearest-site
    distance among those with at least ``n`` sites (ties: fewest sites); if that distance is below
    MIN_DISTANCE + 0.1 Å (k <= 7: the y rows would be 2.498 Å apart), nz is searched too.
    Every other layer is shifted by half a cell in x and y.
    """

    def nearest(nx, ny, nz):
        dx, dy, dz = lx / nx, ly / ny, height / (nz - 1)
        return min(dx, dy, math.sqrt(0.25 * dx * dx + 0.25 * dy * dy + dz * dz), 2.0 * dz)

    def best(layers):
        cands = []
        for nz in layers:
            for nx in range(1, 4 * int(math.ceil(lx / MIN_DISTANCE)) + 1):
                ny = -(-n // (nx * nz))
                cands.append((-nearest(nx, ny, nz), nx * ny * nz, nx, ny, nz))
        d, _, nx, ny, nz = min(cands)
        return -d, (nx, ny, nz)

    d, lattice = best([18])
    if d < MIN_DISTANCE + 0.1:
        d, lattice = best(range(8, 31))
    return lattice


def build_structure(seed=SEED, side=SIDE):
    """ASE Atoms: bottom electrode (tag 1), top electrode (tag 2), RPM ions (tag 0).

    ``side``: electrode atoms per layer side (side x side x 3 per electrode); the ions fill the same
    40 Å gap at the same number density (``n_ions_for(side)``; 1000 for the default 8 x 8).
    ``side`` must be even (ASE's orthogonal fcc(111) cell needs an even number of rows in y).
    """
    from ase import Atoms
    from ase.build import fcc111

    if side < 2 or side % 2:
        raise ValueError(f"electrode side must be an even number >= 2, got {side}")
    n_ions = n_ions_for(side)
    slab = fcc111("Au", size=(side, side, LAYERS), a=LATTICE, orthogonal=True, vacuum=0.0)
    spacing = LATTICE / math.sqrt(3.0)
    bottom = slab.copy()
    bottom.positions[:, 2] += BOTTOM - bottom.positions[:, 2].min()
    z_low = bottom.positions[:, 2].max()  # inner plane of the bottom electrode
    z_high = z_low + GAP
    top = slab.copy()
    # Mirrored so that its first layer faces the gap.
    top.positions[:, 2] = z_high + (top.positions[:, 2].max() - top.positions[:, 2])
    bottom.set_tags(1)
    top.set_tags(2)
    metal = bottom + top
    cell = metal.cell.array.copy()
    cell[2] = [0.0, 0.0, HEIGHT]
    lx, ly = cell[0, 0], cell[1, 1]
    assert abs(cell[0, 1]) < 1e-12 and abs(cell[1, 0]) < 1e-12, "orthogonal cell expected"

    rng = np.random.default_rng(seed)
    # bcc-like lattice (8 x 7 sites per layer, 18 layers for side 8), every other layer shifted
    # by half a cell.
    z0, z1 = z_low + MIN_DISTANCE + 0.1, z_high - MIN_DISTANCE - 0.1
    nx, ny, nz = _ion_lattice(n_ions, lx, ly, z1 - z0)
    sites = []
    for layer in range(nz):
        shift = 0.5 * (layer % 2)
        z = z0 + (z1 - z0) * layer / (nz - 1)
        for i in range(nx):
            for j in range(ny):
                sites.append(((i + shift) * lx / nx, (j + shift) * ly / ny, z))
    sites = np.array(sites)
    pos = sites[rng.choice(len(sites), n_ions, replace=False)]
    # Hard-sphere Monte Carlo: random moves, rejected below MIN_DISTANCE or too close to a plane.
    step, accepted = 0.4, 0
    sweeps = 10
    for _ in range(sweeps):
        for i in rng.permutation(n_ions):
            trial = pos[i] + rng.uniform(-step, step, 3)
            if not (z_low + MIN_DISTANCE <= trial[2] <= z_high - MIN_DISTANCE):
                continue
            d = _min_image_xy(pos - trial, lx, ly)
            r2 = np.einsum("ij,ij->i", d, d)
            r2[i] = np.inf
            if r2.min() >= MIN_DISTANCE**2:
                pos[i] = trial
                accepted += 1
    pos[:, 0] %= lx
    pos[:, 1] %= ly
    charges = np.array([1.0] * (n_ions // 2) + [-1.0] * (n_ions - n_ions // 2))
    rng.shuffle(charges)
    symbols = ["Na" if q > 0 else "Cl" for q in charges]
    ions = Atoms(symbols, positions=pos)
    ions.set_initial_charges(charges)
    atoms = metal + ions
    atoms.set_cell(cell)
    atoms.pbc = (True, True, False)
    atoms.info = {}
    q = atoms.get_initial_charges()
    q[: len(metal)] = 0.0
    atoms.set_initial_charges(q)
    # Checks: minimum ion-ion distance (minimum image in the plane, rows in chunks: no n^2 x 3
    # array at 8000 ions) and distance to the planes.
    r_min = np.inf
    for start in range(0, n_ions, 512):
        d = _min_image_xy(pos[start:start + 512, None, :] - pos[None, :, :], lx, ly)
        r2 = np.einsum("ijk,ijk->ij", d, d)
        rows = np.arange(r2.shape[0])
        r2[rows, start + rows] = np.inf
        r_min = min(r_min, float(np.sqrt(r2.min())))
    info = {"side": side, "n_ions": n_ions, "ion_lattice_sites_xyz": [nx, ny, nz],
            "ion_min_distance_A": r_min,
            "ion_plane_min_distance_A": float(min(pos[:, 2].min() - z_low, z_high - pos[:, 2].max())),
            "mc_acceptance": accepted / (sweeps * n_ions), "inner_planes_z_A": [float(z_low), float(z_high)],
            "cell_A": [float(lx), float(ly), HEIGHT], "layer_spacing_A": spacing}
    return atoms, info


def maxwell_boltzmann_velocities(atoms, seed=SEED + 1):
    """Velocities (Å/fs) at TEMPERATURE for the ions, zero for the electrodes, no net momentum."""
    from echemmd.units import KB, FORCE_TO_ACCEL

    rng = np.random.default_rng(seed)
    m = atoms.get_masses()
    mobile = atoms.get_tags() == 0
    v = np.zeros((len(atoms), 3))
    v[mobile] = rng.normal(size=(mobile.sum(), 3)) * np.sqrt(KB * TEMPERATURE * FORCE_TO_ACCEL / m[mobile])[:, None]
    p = (m[mobile, None] * v[mobile]).sum(axis=0)
    v[mobile] -= p / m[mobile].sum()
    return v


# ---------------------------------------------------------------------- echemmd
DECK = """
[system]
structure = "{structure}"
frozen = ["metal"]

[groups]
metal = {{ elements = ["Au"] }}

[neighbors]
skin = {skin}

[[pair]]
style = "lj"
cutoff = {cutoff}
[pair.coeffs]
"Na-Na" = {{ epsilon = {eps}, sigma = {sig} }}
"Cl-Cl" = {{ epsilon = {eps}, sigma = {sig} }}
"Na-Cl" = {{ epsilon = {eps}, sigma = {sig} }}
"Na-Au" = {{ epsilon = {eps}, sigma = {sig} }}
"Cl-Au" = {{ epsilon = {eps}, sigma = {sig} }}
"Au-Au" = {{ epsilon = 0.0, sigma = {sig} }}

[electrostatics]
method = "ewald"
accuracy = {accuracy}
slab_factor = 3.0

[[electrode]]
name = "bottom"
tag = 1
potential = {psi_bottom}
sigma = {sigma_e}

[[electrode]]
name = "top"
tag = 2
potential = {psi_top}
sigma = {sigma_e}

[charges]
tolerance = {tolerance}

[md]
steps = {steps}
dt = {dt}
integrator = "langevin"
temperature = {temperature}
friction = {friction}
seed = {seed}

[output]
directory = "{outdir}"
thermo_every = 1000000
trajectory_every = 1000000
"""


def build_echemmd(structure_path, velocities, tolerance, steps, workdir):
    """(Simulation, deck) built the way ``echemmd run`` builds them, without observers."""
    from echemmd import app
    from echemmd.io.deck import loads_deck
    from echemmd.simulation import Limits, Simulation

    text = DECK.format(structure=structure_path, skin=SKIN, cutoff=CUTOFF, eps=LJ_EPS, sig=LJ_SIGMA,
                       accuracy=ACCURACY, psi_bottom=POTENTIALS[0], psi_top=POTENTIALS[1], sigma_e=SIGMA_E,
                       tolerance=tolerance, steps=steps, dt=DT, temperature=TEMPERATURE, friction=FRICTION,
                       seed=SEED, outdir=Path(workdir) / "out")
    deck = loads_deck(text, base_dir=workdir, source="electrode-benchmark")
    system = app.prepare_system(deck)
    system.velocities[:] = velocities
    forcefield = app.build_forcefield(deck, system)
    integrator = app.build_integrator(deck)
    lim = deck["limits"]
    limits = Limits(max_force=lim["max_force"], min_distance=lim["min_distance"] or 0.0,
                    check_every=lim["check_every"] or 1)
    return Simulation(system, forcefield, integrator, limits=limits), deck


class _Timer:
    """Wrap a bound method of one instance: counts calls and wall time."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name
        self.fn = getattr(obj, name)
        self.calls, self.seconds = 0, 0.0

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return self.fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls += 1

        setattr(obj, name, wrapper)

    def remove(self):
        delattr(self.obj, self.name)


def profile_echemmd(sim, steps):
    """Instrumented run of ``steps`` steps: where echemmd's step goes (JSON-ready)."""
    ff = sim.forcefield
    solver = ff.charge_solver
    ewald = solver.ewald
    pair = next(t for t in ff.terms if t is not ewald and t is not solver)
    iterations = []
    t_solve = _Timer(solver, "solve")
    t_pot = _Timer(ewald, "potential")
    t_ewald_f = _Timer(ewald, "compute")
    t_pair = _Timer(pair, "compute")
    t_nl = _Timer(ff.neighbors, "update")
    t_ff = _Timer(ff, "compute")
    orig_solve = solver.solve

    def solve_and_count(*a, **k):
        info = orig_solve(*a, **k)
        iterations.append(info.iterations)
        return info

    solver.solve = solve_and_count  # counts iterations, calls the timer's wrapper
    # The three kernels of one Ewald evaluation (module attributes, restored afterwards).
    from echemmd import electrostatics

    kern = electrostatics.kernels
    t_kernels = {name: _Timer(kern, name) for name in ("real_space", "structure_factors",
                                                       "reciprocal_potential_forces")}
    t0 = time.perf_counter()
    try:
        sim.run(steps)
    finally:
        total = time.perf_counter() - t0
        for t in (t_solve, t_pot, t_ewald_f, t_pair, t_nl, t_ff):
            t.remove()
        for t in t_kernels.values():
            setattr(kern, t.name, t.fn)
    n_iter = int(np.sum(iterations))
    # Every CG iteration is one A.v product = one Ewald potential evaluation; each solve also
    # evaluates the potential of the fixed ions (right-hand side) and A.q of the starting charges.
    per_pot = t_pot.seconds / max(t_pot.calls, 1)
    solve_s = t_solve.seconds / steps
    return {
        "steps": steps, "s_per_step": total / steps,
        "charge_solve_s_per_step": solve_s,
        "cg_iterations_per_step": n_iter / steps, "cg_iterations": [int(i) for i in iterations],
        "ewald_potential_evaluations_per_step": t_pot.calls / steps,
        "ewald_potential_evaluation_s": per_pot,
        "charge_solve_s_per_cg_iteration": t_solve.seconds / max(n_iter, 1),
        "ewald_forces_s_per_step": t_ewald_f.seconds / steps,
        "lj_s_per_step": t_pair.seconds / steps,
        "neighbor_update_s_per_step (incl. checks inside Ewald calls)": t_nl.seconds / steps,
        "forcefield_total_s_per_step": t_ff.seconds / steps,
        "integrator_and_checks_s_per_step": (total - t_ff.seconds) / steps,
        "ewald_kernels (every evaluation: CG products, right-hand side, forces)": {
            name: {"calls_per_step": t.calls / steps, "s_per_call": t.seconds / max(t.calls, 1),
                   "s_per_step": t.seconds / steps} for name, t in t_kernels.items()},
        "real_space_full_list_entries": int(len(ff.neighbors.full[1])),
    }


def run_echemmd(structure_path, velocities, tolerance, warmup, steps, workdir):
    from echemmd.electrostatics import Ewald

    t0 = time.perf_counter()
    sim, _ = build_echemmd(structure_path, velocities, tolerance, warmup + 2 * steps, workdir)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.initialize()  # compiles the kernels (or loads them from Numba's cache), cold first solve
    t_init = time.perf_counter() - t0
    solver = sim.forcefield.charge_solver
    first = {"iterations": solver.last.iterations, "residual_V": solver.last.residual,
             "charges": sim.system.charges.copy()}
    t0 = time.perf_counter()
    sim.run(warmup)
    t_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.run(steps)
    t_steps = time.perf_counter() - t0
    ewald = next(t for t in sim.forcefield.terms if isinstance(t, Ewald))
    p = ewald.params
    profile = profile_echemmd(sim, steps)
    return {
        "build_s": t_build, "initialize_s (compile + cold first solve)": t_init,
        "first_solve_cg_iterations": first["iterations"], "first_solve_residual_V": first["residual_V"],
        "warmup_steps": warmup, "warmup_s": t_warm,
        "steps": steps, "s_per_step": t_steps / steps,
        "ewald": {"alpha_per_A": p.alpha, "r_cut_A": p.r_cut, "k_cut_per_A": p.k_cut, "kmax": list(p.kmax),
                  "n_kvectors": p.n_kvectors, "estimated_relative_force_error": p.estimated_error},
        "neighbor_cutoff_A": sim.forcefield.neighbors.cutoff,
        "tolerance_V": tolerance,
        "profile": profile,
    }, first["charges"]


# ---------------------------------------------------------------------- LAMMPS
def _f(x):
    """A float in full precision for a LAMMPS input."""
    return f"{float(x):.17g}"


def write_lammps_data(path, atoms, velocities):
    """atom_style charge data file: types 1 bottom, 2 top, 3 cation, 4 anion; metal units."""
    tags = atoms.get_tags()
    q = atoms.get_initial_charges()
    types = np.where(tags == 1, 1, np.where(tags == 2, 2, np.where(q > 0, 3, 4)))
    cell = atoms.cell.array
    pos = atoms.positions
    lines = ["LAMMPS data file: constant-potential benchmark (benchmarks/peers/electrode.py)", "",
             f"{len(atoms)} atoms", "4 atom types", "",
             f"0.0 {_f(cell[0, 0])} xlo xhi", f"0.0 {_f(cell[1, 1])} ylo yhi", f"0.0 {_f(cell[2, 2])} zlo zhi", "",
             "Atoms # charge", ""]
    for i in range(len(atoms)):
        lines.append(f"{i + 1} {types[i]} {_f(q[i])} {_f(pos[i, 0])} {_f(pos[i, 1])} {_f(pos[i, 2])}")
    lines += ["", "Velocities", ""]
    v = velocities * 1000.0  # Å/fs -> Å/ps
    for i in range(len(atoms)):
        lines.append(f"{i + 1} {_f(v[i, 0])} {_f(v[i, 1])} {_f(v[i, 2])}")
    Path(path).write_text("\n".join(lines) + "\n")
    return types


def lammps_script(data, masses, kspace, algo, cg_threshold, etypes):
    algo_args = "algo mat_inv" if algo == "mat_inv" else f"algo cg {cg_threshold:.6g}"
    return f"""
units metal
dimension 3
boundary p p f
atom_style charge
atom_modify map array
read_data {data}
mass 1 {_f(masses[0])}
mass 2 {_f(masses[1])}
mass 3 {_f(masses[2])}
mass 4 {_f(masses[3])}
group bot type 1
group top type 2
group electrolyte type 3 4
pair_style lj/cut/coul/long {CUTOFF}
pair_coeff * * {LJ_EPS} {LJ_SIGMA}
pair_coeff 1*2 1*2 0.0 {LJ_SIGMA}
pair_modify shift yes
kspace_style {kspace}/electrode {ACCURACY}
kspace_modify slab 3.0
neighbor {SKIN} bin
neigh_modify every 1 delay 0 check yes
timestep {DT / 1000.0}
fix conp bot electrode/conp {POTENTIALS[0]} {ETA} couple top {POTENTIALS[1]} symm on {algo_args} etypes {etypes}
fix_modify conp timer on
fix integrate electrolyte nve
fix thermostat electrolyte langevin {TEMPERATURE} {TEMPERATURE} {1.0 / FRICTION / 1000.0} {SEED}
thermo_style custom step temp pe
thermo 0
""".strip().splitlines()


def _parse_log(text):
    out = {}
    m = re.search(r"G vector \(1/distance\)\s*=\s*([0-9.eE+-]+)", text)
    if m:
        out["g_ewald_per_A"] = float(m.group(1))
    m = re.search(r"KSpace vectors: actual max1d max3d = (\d+) (\d+) (\d+)", text)
    if m:
        out["kspace_vectors_actual_max1d_max3d"] = [int(g) for g in m.groups()]
    m = re.search(r"kxmax kymax kzmax\s*=\s*(\d+) (\d+) (\d+)", text)
    if m:
        out["kmax_xyz"] = [int(g) for g in m.groups()]
    m = re.search(r"grid = (\d+) (\d+) (\d+)", text)
    if m:
        out["pppm_grid"] = [int(g) for g in m.groups()]
    m = re.search(r"estimated absolute RMS force accuracy = ([0-9.eE+-]+)", text)
    if m:
        out["estimated_absolute_rms_force_accuracy"] = float(m.group(1))
    return out


def _parse_breakdown(text):
    """Last 'MPI task timing breakdown' table: section -> average seconds."""
    idx = text.rfind("MPI task timing breakdown")
    if idx < 0:
        return {}
    out = {}
    for line in text[idx:].splitlines()[3:12]:
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 3 and parts[0] in ("Pair", "Kspace", "Neigh", "Comm", "Output", "Modify", "Other", "Bond"):
            try:
                out[parts[0]] = float(parts[2])
            except ValueError:
                pass
    return out


def run_lammps(config, threads, data, masses, n_el, tolerance, warmup, steps, workdir):
    kspace, algo, etypes = config
    cg_threshold = n_el * (tolerance / QQRD2E_METAL) ** 2
    lmp = load_lammps(threads)
    log = Path(workdir) / f"log.{kspace}.{algo}.{etypes}"
    lmp.command(f"log {log}")
    lmp.commands_list(lammps_script(data, masses, kspace, algo, cg_threshold, etypes))
    t0 = time.perf_counter()
    lmp.command("run 0")  # setup: neighbour lists, (matrix build + inversion), first charge solve
    t_setup = time.perf_counter() - t0
    n = lmp.get_natoms()
    ids = np.array(lmp.numpy.extract_atom("id")[:n])
    q = np.array(lmp.numpy.extract_atom("q")[:n])
    charges = np.empty(n)
    charges[ids - 1] = q
    t0 = time.perf_counter()
    lmp.command(f"run {warmup} pre no post no")
    t_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    lmp.command(f"run {steps} pre no post yes")
    t_steps = time.perf_counter() - t0
    lmp.command("log none")
    text = log.read_text()
    lmp.command(f"log {log}.end")
    lmp.command("unfix conp")  # the destructor logs average CG steps and the solve time (whole life)
    lmp.close()
    end = Path(f"{log}.end").read_text() if Path(f"{log}.end").exists() else ""
    loop = re.findall(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps", text)
    loop_s = float(loop[-1][0]) if loop else float("nan")
    res = {"kspace_style": f"{kspace}/electrode", "algo": algo, "etypes": etypes,
           "cg_threshold": cg_threshold if algo == "cg" else None,
           "setup_s (run 0: matrix + first solve)": t_setup, "warmup_steps": warmup, "warmup_s": t_warm,
           "steps": steps, "s_per_step": loop_s / steps, "wall_s_per_step": t_steps / steps,
           "timing_breakdown_s_per_step": {k: v / steps for k, v in _parse_breakdown(text).items()},
           **_parse_log(text)}
    m = re.search(r"Total # of neighbors = (\d+)", text)
    if m:
        res["neighbor_pairs_half_list"] = int(m.group(1))
    m = re.search(r"Average conjugate gradient steps: ([0-9.eE+-]+)", end)
    if m:
        res["average_cg_steps (all solves)"] = float(m.group(1))
    m = re.search(r"Update time: ([0-9.eE+-]+) s", end)
    if m:
        res["charge_update_s (all solves)"] = float(m.group(1))
    return res, charges


def compare_charges(q_ref, q, tags):
    el = tags > 0
    d = q[el] - q_ref[el]
    return {"max_abs_dq_e": float(np.abs(d).max()), "rms_dq_e": float(np.sqrt(np.mean(d * d))),
            "max_abs_q_e": float(np.abs(q_ref[el]).max()),
            "Q_bottom_e": float(q[tags == 1].sum()), "Q_top_e": float(q[tags == 2].sum())}


# ---------------------------------------------------------------------- driver
DEFAULT_CONFIGS = tuple((k, a, "on") for k in ("ewald", "pppm") for a in ("mat_inv", "cg"))
#: Electrode sides of the scaling study: 562, 1000, 2250, 4000, 7562 ions (216 .. 2904 electrode atoms).
SCALING_SIDES = (6, 8, 12, 16, 22)
SCALING_SIDES_QUICK = (4, 6)
#: LAMMPS configurations of the scaling study (algo cg is ~1 s/step already at 1000 ions).
SCALING_CONFIGS = (("pppm", "mat_inv", "on"), ("ewald", "mat_inv", "on"))


def _config_label(config):
    return f"lammps_{config[0]}_{config[1]}" + ("" if config[2] == "on" else f"_etypes_{config[2]}")


def _result(atoms, info, echem, q_echem, peers, threads, tolerance):
    """The JSON-ready result of one size (``echem`` None or ``{"error": ...}`` when it did not run)."""
    tags = atoms.get_tags()
    n_el = int((tags > 0).sum())
    n_ions = len(atoms) - n_el
    ok = [p for p in peers if "error" not in p]
    fastest = min(ok, key=lambda p: p["s_per_step"]) if ok else None
    echem_ok = echem is not None and "error" not in echem
    ratio = echem["s_per_step"] / fastest["s_per_step"] if fastest and echem_ok else float("nan")
    if echem_ok:
        echem = {**echem, "first_step_charges": {"Q_bottom_e": float(q_echem[tags == 1].sum()),
                                                 "Q_top_e": float(q_echem[tags == 2].sum())}}
    return {
        "description": f"one constant-potential MD step (charge solve + forces + Langevin), {n_el} frozen electrode "
                       f"atoms (Gaussian, eta 1.979/Å) + {n_ions} RPM ions, 1 V, Ewald accuracy 1e-6, slab x3",
        "threads": threads,
        "structure": {"n_atoms": len(atoms), "n_electrode": n_el, "n_ions": n_ions, **info},
        "parameters": {"eta_per_A": ETA, "sigma_echemmd_A": SIGMA_E, "potentials_V": list(POTENTIALS),
                       "lj_epsilon_eV": LJ_EPS, "lj_sigma_A": LJ_SIGMA, "cutoff_A": CUTOFF,
                       "accuracy": ACCURACY, "slab_factor": 3.0, "temperature_K": TEMPERATURE,
                       "friction_per_fs": FRICTION, "dt_fs": DT, "skin_A": SKIN, "tolerance_V": tolerance},
        "echemmd": echem,
        "lammps": peers,
        "fastest_lammps": (f"{fastest['kspace_style']} algo {fastest['algo']} etypes {fastest['etypes']}"
                           if fastest else None),
        "ratio_echemmd_over_fastest_lammps": ratio,
        "target_ratio": 1.0,
    }


def run(quick=False, threads=2, tolerance=1e-6, configs=None, side=SIDE, steps=None, warmup=None,
        progress=None) -> dict:
    """Both engines on the side x side structure; ``progress(result)`` after each engine (partial results).

    An engine or configuration that fails is recorded as ``{"error": ...}``, not raised.
    """
    set_threads(threads)
    steps = steps or (5 if quick else 20)
    warmup = warmup if warmup is not None else (2 if quick else 3)
    configs = list(configs or DEFAULT_CONFIGS)
    from ase.data import atomic_masses, atomic_numbers
    from ase.io import write

    atoms, info = build_structure(side=side)
    velocities = maxwell_boltzmann_velocities(atoms)
    tags = atoms.get_tags()
    n_el = int((tags > 0).sum())
    masses = [float(atomic_masses[atomic_numbers[s]]) for s in ("Au", "Au", "Na", "Cl")]
    echem, q_echem, peers = None, None, []

    def report():
        if progress is not None:
            progress(_result(atoms, info, echem, q_echem, peers, threads, tolerance))

    report()
    with tempfile.TemporaryDirectory(prefix="echemmd_electrode_") as workdir:
        structure = Path(workdir) / "electrode.extxyz"
        write(structure, atoms, format="extxyz")
        data = Path(workdir) / "electrode.data"
        write_lammps_data(data, atoms, velocities)

        try:
            echem, q_echem = run_echemmd(structure, velocities, tolerance, warmup, steps, workdir)
        except Exception as exc:  # noqa: BLE001 - recorded (e.g. memory at large sizes), the peers still run
            echem = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"echemmd: failed: {echem['error']}", flush=True)
        else:
            print(f"echemmd: {echem['s_per_step']:.4f} s/step ({echem['profile']['cg_iterations_per_step']:.1f} CG "
                  f"iterations/step), first solve {echem['first_solve_cg_iterations']} iterations, "
                  f"Q_top = {q_echem[tags == 2].sum():.6f} e", flush=True)
        report()
        for config in configs:
            try:
                res, q_lmp = run_lammps(config, threads, data, masses, n_el, tolerance, warmup, steps, workdir)
            except Exception as exc:  # noqa: BLE001 - one configuration failing is recorded, not fatal
                peers.append({"kspace_style": f"{config[0]}/electrode", "algo": config[1], "etypes": config[2],
                              "error": str(exc)})
                print(f"LAMMPS {config}: failed: {exc}", flush=True)
                report()
                continue
            if q_echem is not None:
                res["first_step_charges_vs_echemmd"] = compare_charges(q_echem, q_lmp, tags)
            peers.append(res)
            c = res.get("first_step_charges_vs_echemmd")
            agreement = (f"max|dq| {c['max_abs_dq_e']:.2e} e, Q_top {c['Q_top_e']:.6f} e" if c
                         else f"Q_top {q_lmp[tags == 2].sum():.6f} e")
            print(f"LAMMPS {res['kspace_style']} {res['algo']} (etypes {config[2]}): {res['s_per_step']:.4f} s/step "
                  f"(wall {res['wall_s_per_step']:.4f}), setup {res['setup_s (run 0: matrix + first solve)']:.2f} s; "
                  f"charges: {agreement}", flush=True)
            report()

    result = _result(atoms, info, echem, q_echem, peers, threads, tolerance)
    print(f"ratio echemmd / fastest LAMMPS ({result['fastest_lammps']}) = "
          f"{result['ratio_echemmd_over_fastest_lammps']:.2f}")
    return result


# ---------------------------------------------------------------------- scaling
def _fit(x, y):
    """Least-squares power law y = c x^p in log-log over the finite, positive points, or None (< 2 points)."""
    pts = [(a, b) for a, b in zip(x, y) if b is not None and np.isfinite(b) and b > 0]
    if len(pts) < 2:
        return None
    lx, ly = np.log([a for a, _ in pts]), np.log([b for _, b in pts])
    p, c = np.polyfit(lx, ly, 1)
    return {"exponent": float(p), "prefactor": float(math.exp(c)), "n_points": len(pts)}


def _scaling_row(side, detail, configs, skipped, error, wall):
    """Summary of one size from the child's (possibly partial) result."""
    n_ions, n_el = n_ions_for(side), 2 * LAYERS * side * side
    row = {"side": side, "n_ions": n_ions, "n_electrode": n_el, "n_atoms": n_ions + n_el, "wall_s": wall,
           "error": error}
    ech = detail.get("echemmd")
    if ech is None:
        row["echemmd"] = {"error": error or "did not run"}
    elif "error" in ech:
        row["echemmd"] = {"error": ech["error"]}
    else:
        pr = ech["profile"]
        init = ech["initialize_s (compile + cold first solve)"]
        row["echemmd"] = {
            "s_per_step": ech["s_per_step"], "setup_s": ech["build_s"] + init,
            "build_s": ech["build_s"], "initialize_s (compile + cold first solve)": init,
            "first_solve_cg_iterations": ech["first_solve_cg_iterations"],
            "cg_iterations_per_step": pr["cg_iterations_per_step"],
            "charge_solve_s_per_step": pr["charge_solve_s_per_step"],
            "ewald_forces_s_per_step": pr["ewald_forces_s_per_step"], "lj_s_per_step": pr["lj_s_per_step"],
            "ewald_alpha_per_A": ech["ewald"]["alpha_per_A"], "ewald_r_cut_A": ech["ewald"]["r_cut_A"],
            "ewald_n_kvectors": ech["ewald"]["n_kvectors"]}
    done = {(p["kspace_style"].split("/")[0], p["algo"], p["etypes"]): p for p in detail.get("lammps", [])}
    row["lammps"] = {}
    for config in configs:
        label = _config_label(config)
        if config in skipped:
            row["lammps"][label] = {"skipped": skipped[config]}
            continue
        p = done.get(config)
        if p is None:
            row["lammps"][label] = {"error": f"did not finish ({error or 'unknown'})"}
        elif "error" in p:
            row["lammps"][label] = {"error": p["error"]}
        else:
            out = {"s_per_step": p["s_per_step"], "wall_s_per_step": p["wall_s_per_step"],
                   "setup_s": p["setup_s (run 0: matrix + first solve)"],
                   "timing_breakdown_s_per_step": p.get("timing_breakdown_s_per_step", {})}
            for key in ("g_ewald_per_A", "kspace_vectors_actual_max1d_max3d", "pppm_grid"):
                if key in p:
                    out[key] = p[key]
            c = p.get("first_step_charges_vs_echemmd")
            if c:
                out["first_step_charges_vs_echemmd"] = {**c,
                                                        "max_abs_dq_relative": c["max_abs_dq_e"] / c["max_abs_q_e"]}
            row["lammps"][label] = out
    return row


def _predict_setup(rows, label, n_el):
    """Setup time of LAMMPS ``label`` at n_el electrode atoms, extrapolated from the sizes done (n_el^3 from one)."""
    pts = [(r["n_electrode"], r["lammps"][label]["setup_s"]) for r in rows if "setup_s" in r["lammps"].get(label, {})]
    if not pts:
        return None
    fit = _fit(*zip(*pts)) if len(pts) >= 2 else None
    if fit is None:
        return pts[-1][1] * (n_el / pts[-1][0]) ** 3
    return fit["prefactor"] * n_el ** max(fit["exponent"], 2.0)


def scaling(sides=SCALING_SIDES, threads=2, tolerance=1e-6, warmup=3, steps=5, configs=SCALING_CONFIGS,
            timeout=7200.0, max_setup=None) -> dict:
    """Workload (b) against the electrolyte size: s/step of echemmd and of the LAMMPS ``configs``.

    Every size runs in a child process of its own (``--side K --json PATH``, a fresh LAMMPS and
    Numba state, memory returned afterwards) limited to ``timeout`` s; the child writes its result
    after every engine, so a size that runs out of time or memory keeps what finished and records
    the error. A LAMMPS configuration that failed at a smaller size, or whose setup extrapolated
    from the smaller sizes exceeds ``max_setup`` s, is skipped (recorded). Exponents: least squares
    in log-log of s/step against n_ions and n_atoms, of the setup against n_electrode.
    """
    import json
    import os
    import subprocess

    configs = [tuple(c) for c in configs]
    rows = []
    with tempfile.TemporaryDirectory(prefix="echemmd_electrode_scaling_") as tmp:
        for side in sides:
            n_el = 2 * LAYERS * side * side
            skipped, use = {}, []
            for config in configs:
                label = _config_label(config)
                failed = [r["side"] for r in rows if "error" in r["lammps"].get(label, {})
                          or "skipped" in r["lammps"].get(label, {})]
                predicted = _predict_setup(rows, label, n_el)
                if failed:
                    skipped[config] = f"failed or skipped at side {failed[0]}"
                elif max_setup is not None and predicted is not None and predicted > max_setup:
                    skipped[config] = f"predicted setup {predicted:.3g} s > max_setup {max_setup:g} s"
                else:
                    use.append(config)
            path = Path(tmp) / f"side{side}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--side", str(side), "--threads", str(threads),
                   "--tolerance", repr(tolerance), "--warmup", str(warmup), "--steps", str(steps),
                   "--configs", ",".join(":".join(c) for c in use) or "none", "--json", str(path)]
            print(f"== side {side}: {n_ions_for(side)} ions, {n_el} electrode atoms; LAMMPS "
                  f"{[_config_label(c) for c in use]}, skipped {[_config_label(c) for c in skipped]}", flush=True)
            load_start = os.getloadavg()
            t0 = time.perf_counter()
            error = None
            try:
                proc = subprocess.run(cmd, timeout=timeout)
                if proc.returncode != 0:
                    error = f"child exited with status {proc.returncode}" + (
                        " (killed by signal; -9: out of memory?)" if proc.returncode < 0 else "")
            except subprocess.TimeoutExpired:
                error = f"timed out after {timeout:.0f} s"
            wall = time.perf_counter() - t0
            detail = json.loads(path.read_text()) if path.exists() else {}
            row = _scaling_row(side, detail, configs, skipped, error, wall)
            row["load_average_start_end"] = [list(load_start), list(os.getloadavg())]
            row["detail"] = detail
            rows.append(row)
            if error:
                print(f"   side {side}: {error}", flush=True)
    series = {"echemmd": [r["echemmd"].get("s_per_step") for r in rows]}
    setup = {"echemmd": [r["echemmd"].get("setup_s") for r in rows]}
    for config in configs:
        label = _config_label(config)
        series[label] = [r["lammps"][label].get("s_per_step") for r in rows]
        setup[label] = [r["lammps"][label].get("setup_s") for r in rows]
    n_ions = [r["n_ions"] for r in rows]
    n_atoms = [r["n_atoms"] for r in rows]
    n_el = [r["n_electrode"] for r in rows]
    accuracy = {_config_label(c): [r["lammps"][_config_label(c)].get("first_step_charges_vs_echemmd") for r in rows]
                for c in configs}
    ratios = {}
    for config in configs:
        label = _config_label(config)
        ratios[f"echemmd_over_{label}"] = [e / l if e and l else None for e, l in zip(series["echemmd"], series[label])]
    return {
        "description": "workload (b), one constant-potential MD step, against the electrolyte size: electrodes of "
                       "side x side x 3 fcc(111) atoms each, ions at the density of the 8 x 8 / 1000-ion system in "
                       "the same 40 Å gap; every other setting as in peers_electrode.json",
        "threads": threads, "warmup_steps": warmup, "steps": steps, "tolerance_V": tolerance,
        "timeout_per_size_s": timeout, "max_setup_s": max_setup,
        "sides": list(sides), "n_ions": n_ions, "n_atoms": n_atoms, "n_electrode": n_el,
        "s_per_step": series, "setup_s": setup,
        "exponents_s_per_step_vs_n_ions": {k: _fit(n_ions, v) for k, v in series.items()},
        "exponents_s_per_step_vs_n_atoms": {k: _fit(n_atoms, v) for k, v in series.items()},
        "exponents_setup_vs_n_electrode": {k: _fit(n_el, v) for k, v in setup.items()},
        "s_per_step_echemmd_over_lammps": ratios,
        "first_step_charges_vs_echemmd (equal-accuracy check)": accuracy,
        "rows": rows,
    }


def plot_scaling(result, path):
    """s/step against n_ions and setup against n_electrode, log-log, fitted exponents in the legends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"echemmd": ("C0", "o-"), "lammps_pppm_mat_inv": ("C2", "^--"), "lammps_ewald_mat_inv": ("C1", "s-"),
              "lammps_pppm_cg": ("C3", "v:"), "lammps_ewald_cg": ("C4", "d:")}
    for i, (key, values) in enumerate(result["s_per_step"].items()):
        color, style = styles.get(key, (f"C{5 + i}", "x-"))
        pts = [(n, v) for n, v in zip(result["n_ions"], values) if v]
        fit = result["exponents_s_per_step_vs_n_ions"].get(key)
        if pts:
            ax.loglog(*zip(*pts), style, color=color,
                      label=key.replace("_", " ") + (f" (N^{fit['exponent']:.2f})" if fit else ""))
        pts = [(n, v) for n, v in zip(result["n_electrode"], result["setup_s"][key]) if v]
        fit = result["exponents_setup_vs_n_electrode"].get(key)
        if pts:
            bx.loglog(*zip(*pts), style, color=color,
                      label=key.replace("_", " ") + (f" (n_el^{fit['exponent']:.2f})" if fit else ""))
    ax.set_title(f"constant-potential MD step, {result['threads']} threads", fontsize=10)
    ax.set_xlabel("ions N")
    ax.set_ylabel("time per step (s)")
    bx.set_title("setup (echemmd build + first solve; LAMMPS run 0)", fontsize=10)
    bx.set_xlabel("electrode atoms")
    bx.set_ylabel("setup time (s)")
    for a in (ax, bx):
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _print_scaling(result):
    keys = list(result["s_per_step"])
    print("side  n_ions  n_el  " + "  ".join(f"{k + ' s/step (setup s)':>34}" for k in keys))
    for i, r in enumerate(result["rows"]):
        cells = []
        for k in keys:
            v, s = result["s_per_step"][k][i], result["setup_s"][k][i]
            cells.append(f"{v:.4f} ({s:.1f})".rjust(34) if v else "-".rjust(34))
        print(f"{r['side']:4d}  {r['n_ions']:6d}  {r['n_electrode']:4d}  " + "  ".join(cells))
    for name, key in (("s/step vs n_ions", "exponents_s_per_step_vs_n_ions"),
                      ("s/step vs n_atoms", "exponents_s_per_step_vs_n_atoms"),
                      ("setup vs n_electrode", "exponents_setup_vs_n_electrode")):
        print(f"exponents {name}: " + ", ".join(f"{k} {v['exponent']:.2f}" if v else f"{k} -"
                                                for k, v in result[key].items()))
    for label, rows in result["first_step_charges_vs_echemmd (equal-accuracy check)"].items():
        print(f"charges {label} vs echemmd, max|dq| (e): "
              + ", ".join(f"{c['max_abs_dq_e']:.1e}" if c else "-" for c in rows))


def _parse_configs(text):
    if text in ("", "none"):
        return []
    out = []
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) == 2:
            parts.append("on")
        if len(parts) != 3 or parts[0] not in ("ewald", "pppm") or parts[1] not in ("mat_inv", "cg"):
            raise SystemExit(f"bad configuration {item!r}: KSPACE:ALGO[:ETYPES], KSPACE ewald|pppm, ALGO mat_inv|cg")
        out.append(tuple(parts))
    return out


def main(argv=None):
    import json
    import os

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="5 timed steps instead of 20; with --scaling: sides 4 and 6 only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tolerance", type=float, default=1e-6, help="charge-solve RMS residual, V (both engines)")
    p.add_argument("--side", type=int, default=SIDE, help="electrode atoms per layer side (even; default 8)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 20, 5 with --quick or --scaling)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 3; 2 with --quick)")
    p.add_argument("--configs", default=None,
                   help="LAMMPS configurations, e.g. pppm:mat_inv,ewald:cg (default: all four; with --scaling "
                        "pppm:mat_inv,ewald:mat_inv)")
    p.add_argument("--json", default=None, help="write this size's raw result here (after every engine) instead "
                                                "of benchmarks/results (used by --scaling)")
    p.add_argument("--scaling", action="store_true", help="time against the electrolyte size (sides --sides)")
    p.add_argument("--sides", default=None,
                   help=f"comma-separated even sides for --scaling (default {','.join(map(str, SCALING_SIDES))})")
    p.add_argument("--timeout", type=float, default=7200.0, help="--scaling: seconds per size (default 7200)")
    p.add_argument("--max-setup", type=float, default=None,
                   help="--scaling: skip a LAMMPS configuration whose extrapolated setup exceeds this (s)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    if args.scaling:
        sides = ([int(x) for x in args.sides.split(",")] if args.sides
                 else list(SCALING_SIDES_QUICK if args.quick else SCALING_SIDES))
        configs = _parse_configs(args.configs) if args.configs is not None else list(SCALING_CONFIGS)
        data = scaling(sides, threads=args.threads, tolerance=args.tolerance,
                       warmup=args.warmup if args.warmup is not None else 3, steps=args.steps or 5,
                       configs=configs, timeout=args.timeout, max_setup=args.max_setup)
        path = write_result("electrode_scaling", data, args.quick)
        png = path.with_suffix(".png")
        plot_scaling(data, png)
        _print_scaling(data)
        print(f"results written to {path}\nplot written to {png}")
        return 0
    configs = _parse_configs(args.configs) if args.configs is not None else None
    progress = None
    if args.json:
        out = Path(args.json)

        def progress(result):
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(result, indent=1, default=float) + "\n")
            os.replace(tmp, out)

    data = run(quick=args.quick, threads=args.threads, tolerance=args.tolerance, configs=configs, side=args.side,
               steps=args.steps, warmup=args.warmup, progress=progress)
    if not args.json:
        name = "electrode" if args.side == SIDE else f"electrode_side{args.side}"
        path = write_result(name, data, args.quick)
        print(f"results written to {path}")
    echem = data["echemmd"]
    return 1 if echem is None or "error" in echem else 0


if __name__ == "__main__":
    sys.exit(main())

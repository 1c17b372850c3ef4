"""Peer workload (d): one Lennard-Jones liquid MD step, echemmd against LAMMPS ``lj/cut/omp``.

What is compared
----------------
One NVE velocity-Verlet MD step of liquid argon -- neighbour-list maintenance (skin check and,
when needed, rebuild), pair forces and the integrator -- in echemmd and in LAMMPS, on the same
atoms with the same parameters, the same thread count (default 2, ``--threads``) and one
process / one MPI rank:

* structure: ``liquid_box`` of ``benchmarks/run.py`` (jittered simple-cubic lattice, seed 1) at
  0.02125 atoms/Å^3, N = 31^3 = 29791 atoms (about 3e4; ``--quick``: 16^3 = 4096, about 4e3),
  Maxwell-Boltzmann velocities at 94 K (seed 2), melted and equilibrated by 600 untimed echemmd
  CSVR steps at 94 K (tau = 100 fs, seed 3; the lattice is unstable and would otherwise heat to
  about 160 K while it melts during the timing). A perfect cube is used because ``liquid_box``
  fills an incomplete lattice plane by plane and would leave an empty slab for other N;
* both engines start from these positions (wrapped into the cubic cell) and velocities, taken
  from echemmd's arrays after its NVE integrator is initialised (centre-of-mass momentum removed)
  and handed to LAMMPS (``lammps.create_atoms``, ids 1..N in echemmd order, Å/fs -> Å/ps);
* potential: LJ 12-6, epsilon = 0.0103 eV, sigma = 3.405 Å, cutoff 8.5 Å, energy shifted to zero
  at the cutoff (echemmd ``shift=True`` <-> LAMMPS ``pair_modify shift yes``); mass 39.948 amu;
* neighbour list: skin 1.0 Å, rebuilt when any atom moved more than skin/2 since the last build
  (echemmd ``NeighborList``; LAMMPS ``neighbor 1.0 bin``, ``neigh_modify every 1 delay 0 check
  yes``). echemmd keeps a full list (each pair twice) and sums energy and virial on every step;
  LAMMPS keeps a half list with Newton's third law and computes energy/virial only on thermo steps;
* integrator: NVE velocity Verlet, dt = 2 fs (LAMMPS ``units metal``, ``timestep 0.002`` ps,
  ``fix nve``). echemmd's timed path is ``Simulation.run(M)`` without observers (it checks for
  non-finite values, the largest force and the closest pair on every step, ``Limits``); the bare
  integrator loop (``VelocityVerlet.step(system, ff.compute)``, as ``benchmarks/run.py``) is
  timed too.

How
---
1. Warm-up, timed apart and excluded: echemmd's first force call (Numba compilation or cache
   load, first neighbour build; at the start of the equilibration), then on the benchmark's own
   Simulation ``initialize()`` (first neighbour build and forces) and one step; LAMMPS ``run 0``
   (setup, first neighbour build) and ``run 1``.
2. Check: potential energy (eV) and forces (eV/Å) of the starting structure from both engines
   (max |F_echemmd - F_lammps| and relative energy difference), then after 100 steps the total
   energy (eV), its relative difference and the largest minimum-image position difference (Å).
   The engines' unit constants differ slightly (echemmd CODATA 2018, LAMMPS ``metal``
   1.0364269e-4 eV/(amu Å^2/ps^2)), about 6e-8 relative in the accelerations and kinetic energies.
3. Timing: M steps (200; ``--quick``: 50) in each engine, best of 3 runs (``--quick``: 5): echemmd
   ``Simulation.run(M)``, echemmd integrator loop, LAMMPS ``run M pre no post no``. Reported as
   s/step, atom-steps/s and the ratio echemmd/LAMMPS in time per step (issue target: <= 1.5).
4. Profile: echemmd's parts timed alone on the final state (list build, skin check, pair kernel,
   the LJ term and the whole force field without a rebuild, the integrator's array updates, the
   Simulation's per-step checks); LAMMPS's own timer breakdown (Pair, Neigh, ...) of one more
   M-step run with ``post yes``, and both engines' number of list builds and pairs (LAMMPS counts
   builds cumulatively across ``pre no`` runs: the count is the difference of two ``run 0 pre no
   post yes`` summaries, which add no step and no build).

Units: times in s, energies in eV, forces in eV/Å, positions in Å.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, load_lammps, set_threads, write_result  # noqa: E402

_spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
_bench_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench_run)
liquid_box = _bench_run.liquid_box
ARGON_DENSITY = _bench_run.ARGON_DENSITY
LJ_ARGON = _bench_run.LJ_ARGON

EPSILON = LJ_ARGON["Ar-Ar"]["epsilon"]  # eV
SIGMA = LJ_ARGON["Ar-Ar"]["sigma"]  # Å
CUTOFF = 8.5  # Å
SKIN = 1.0  # Å
MASS_AR = 39.948  # amu
DT_FS = 2.0
TEMPERATURE = 94.0  # K
CHECK_STEPS = 100
EQUILIBRATION_STEPS = 600
REPEAT = {True: 5, False: 3}  # timed runs per engine, by quick
FS_PER_PS = 1000.0


# ----------------------------------------------------------------------------- echemmd
def make_echemmd(positions, cell, velocities):
    """System, ForceField, VelocityVerlet and Simulation of argon atoms, as benchmarks/run.py."""
    from echemmd.forcefield import ForceField
    from echemmd.integrators import VelocityVerlet
    from echemmd.neighbors import NeighborList
    from echemmd.potentials import LennardJones
    from echemmd.simulation import Simulation
    from echemmd.system import System

    n = len(positions)
    system = System(symbols=["Ar"] * n, numbers=np.full(n, 18), masses=np.full(n, MASS_AR), positions=positions,
                    velocities=velocities, charges=np.zeros(n), cell=cell, pbc=[True] * 3,
                    tags=np.zeros(n, int), frozen=np.zeros(n, bool))
    ff = ForceField([LennardJones(LJ_ARGON, cutoff=CUTOFF, shift=True)], NeighborList(CUTOFF, skin=SKIN))
    integ = VelocityVerlet(dt=DT_FS)
    return Simulation(system, ff, integ)


def equilibrated_liquid(n):
    """Positions (Å, wrapped into the cell), cell (Å) and velocities (Å/fs) of an equilibrated liquid.

    ``liquid_box`` (seed 1) with Maxwell-Boltzmann velocities at 94 K (seed 2), then
    ``EQUILIBRATION_STEPS`` steps of echemmd CSVR (tau = 100 fs, seed 3) at 94 K: the jittered
    simple-cubic lattice is unstable and melts (its potential energy per atom settles after about
    600 steps), so timing it directly would measure a heating solid, not the liquid.
    """
    from echemmd.integrators import CSVR, maxwell_boltzmann
    from echemmd.simulation import Simulation

    x, cell = liquid_box(n, np.random.default_rng(1), ARGON_DENSITY)
    sim = make_echemmd(x, cell, np.zeros((n, 3)))
    maxwell_boltzmann(sim.system, TEMPERATURE, np.random.default_rng(2))
    eq = Simulation(sim.system, sim.forcefield, CSVR(dt=DT_FS, temperature=TEMPERATURE, tau=100.0, seed=3))
    t0 = time.perf_counter()
    eq.initialize()
    first_call = time.perf_counter() - t0
    t0 = time.perf_counter()
    eq.run(EQUILIBRATION_STEPS)
    info = {"steps": EQUILIBRATION_STEPS, "seconds": time.perf_counter() - t0,
            "echemmd_first_force_call_s": first_call,
            "potential_energy_per_atom_eV": eq.result.energy / n, "temperature_K": eq.temperature}
    length = cell[0, 0]
    return np.mod(sim.system.positions, length), cell, sim.system.velocities.copy(), info


def total_energy_echemmd(sim):
    from echemmd.integrators import kinetic_energy

    return sim.result.energy + kinetic_energy(sim.system)


# ----------------------------------------------------------------------------- LAMMPS
def make_lammps(threads, system):
    """LAMMPS with the same atoms (ids 1..N in echemmd order), velocities and parameters."""
    lmp = load_lammps(threads)
    length = float(system.cell[0, 0])
    assert np.allclose(system.cell, np.eye(3) * length), "liquid_box gives a cubic cell"
    for line in [
        "units metal",
        "atom_style atomic",
        "atom_modify map array",
        "boundary p p p",
        f"region box block 0 {length!r} 0 {length!r} 0 {length!r}",
        "create_box 1 box",
        f"mass 1 {MASS_AR!r}",
        f"pair_style lj/cut {CUTOFF!r}",
        f"pair_coeff 1 1 {EPSILON!r} {SIGMA!r}",
        "pair_modify shift yes",
        f"neighbor {SKIN!r} bin",
        "neigh_modify every 1 delay 0 check yes",
        f"timestep {DT_FS / FS_PER_PS!r}",
    ]:
        lmp.command(line)
    n = system.n_atoms
    created = lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, system.positions.ravel().tolist(),
                               (system.velocities * FS_PER_PS).ravel().tolist())
    assert created == n, f"LAMMPS created {created} of {n} atoms"
    lmp.command("fix integrate all nve")
    return lmp


def gather(lmp, name):
    """Per-atom array ordered by atom id, (N, 3)."""
    n = lmp.get_natoms()
    return np.ctypeslib.as_array(lmp.gather_atoms(name, 1, 3)).reshape(n, 3).copy()


def total_energy_lammps(lmp):
    return lmp.get_thermo("pe") + lmp.get_thermo("ke")


def lammps_log(lmp, command):
    """Text that LAMMPS logs while running ``command``."""
    fd, path = tempfile.mkstemp(suffix=".log")
    os.close(fd)
    try:
        lmp.command(f"log {path}")
        lmp.command(command)
        lmp.command("log none")
        return Path(path).read_text()
    finally:
        os.unlink(path)


def lammps_builds(text):
    """Neighbour-list builds since the last ``pre yes`` run, from a ``post yes`` summary."""
    return int(re.search(r"Neighbor list builds = (\d+)", text).group(1))


def lammps_build_count(lmp):
    """Cumulative build counter (``run 0 pre no``: forces at the same positions, no step, no build)."""
    return lammps_builds(lammps_log(lmp, "run 0 pre no post yes"))


def lammps_profile(lmp, steps):
    """Run ``steps`` more steps with LAMMPS's timing summary; parse the breakdown and neighbour stats."""
    before = lammps_build_count(lmp)
    text = lammps_log(lmp, f"run {steps} pre no post yes")
    out = {"steps": steps}
    m = re.search(r"Loop time of ([\d.eE+-]+) on (\d+) procs for (\d+) steps", text)
    if m:
        out["loop_s"] = float(m.group(1))
        out["procs_x_threads"] = int(m.group(2))
    sections = {}
    for name in ("Pair", "Neigh", "Comm", "Output", "Modify", "Other"):
        m = re.search(rf"^{name}\s*\|([^\n]*)$", text, re.M)
        if m:
            cols = [c.strip() for c in m.group(1).split("|")]
            # min | avg | max | %varavg | %total; "Other" has only avg and %total
            sections[name] = {"s": float(cols[1]), "percent": float(cols[-1])}
    out["sections"] = sections
    m = re.search(r"Total # of neighbors = (\d+)", text)
    if m:
        out["total_neighbors_half_list"] = int(m.group(1))
    out["neighbor_builds"] = lammps_builds(text) - before
    m = re.search(r"Dangerous builds = (\d+)", text)
    if m:
        out["dangerous_builds_cumulative"] = int(m.group(1))
    return out


# ----------------------------------------------------------------------------- helpers
def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), times


def part_time(fn, repeat):
    """Best wall time of ``fn()`` over ``repeat`` calls (one untimed call first), s."""
    fn()
    return best_of(fn, repeat)[0]


def echemmd_profile(sim, steps_timed, builds_timed, step_s):
    """Time each part of an echemmd step alone on the current state; s per call."""
    from echemmd.kernels import pair as pair_kernels

    system, ff, integ = sim.system, sim.forcefield, sim.integrator
    nl = ff.neighbors
    lj = ff.terms[0]
    x, cell, pbc = system.positions, system.cell, system.pbc
    rep = 10
    prof = {}
    prof["skin_check_s"] = part_time(lambda: nl.needs_rebuild(x, cell, pbc), 20)
    prof["list_build_s"] = part_time(lambda: nl.build(x, cell, pbc), rep)
    first, neigh, shifts = nl.half
    types = lj._lookup[system.numbers]
    prof["pair_kernel_s"] = part_time(
        lambda: pair_kernels.pair_forces(pair_kernels.LENNARD_JONES, x, cell, types, lj._params,
                                              first, neigh, shifts), rep)
    prof["pair_kernel_forces_only_s"] = part_time(
        lambda: pair_kernels.pair_forces(pair_kernels.LENNARD_JONES, x, cell, types, lj._params,
                                         first, neigh, shifts, False), rep)
    prof["lj_term_s"] = part_time(lambda: lj.compute(system, nl), rep)
    prof["forcefield_no_rebuild_s"] = part_time(lambda: ff.compute(system), rep)
    v, f, hk = system.velocities.copy(), integ._forces.copy(), integ._half_kick
    xx = x.copy()

    def integrator_arrays():
        v.__iadd__(f * hk)
        xx.__iadd__(integ.dt * v)
        v.__iadd__(f * hk)

    prof["integrator_arrays_s"] = part_time(integrator_arrays, 20)
    prof["simulation_checks_s"] = part_time(lambda: sim._check(force=False), rep)
    prof["of_which_closest_pair_s"] = part_time(lambda: nl.closest_pair(x, cell), rep)
    assert sim._stop_reason is None
    # What a step should cost from its parts, list builds amortised over the timed steps.
    build_per_step = prof["list_build_s"] * builds_timed / steps_timed
    predicted = (prof["forcefield_no_rebuild_s"] + prof["integrator_arrays_s"] + prof["simulation_checks_s"]
                 + build_per_step)
    prof["list_build_per_step_amortised_s"] = build_per_step
    prof["predicted_step_s"] = predicted
    prof["measured_step_s"] = step_s
    shares = {
        "pair_kernel": prof["pair_kernel_s"],
        "forcefield_overhead (skin check, zeros, sums, Contribution)": prof["forcefield_no_rebuild_s"] - prof["pair_kernel_s"],
        "list_build_amortised": build_per_step,
        "integrator_arrays": prof["integrator_arrays_s"],
        "simulation_checks": prof["simulation_checks_s"],
    }
    prof["share_of_measured_step"] = {k: val / step_s for k, val in shares.items()}
    prof["list_entries_full"] = int(len(neigh))
    return prof


# ----------------------------------------------------------------------------- the workload
def run(quick=False, threads=2) -> dict:
    """Run workload (d) and return a JSON-ready dict (see the module docstring)."""
    import numba

    side = 16 if quick else 31
    n = side**3
    steps = 50 if quick else 200
    repeat = REPEAT[bool(quick)]
    assert numba.get_num_threads() == threads, "call set_threads(threads) first"
    load_before = os.getloadavg()

    # --- the liquid (its first force call also compiles echemmd's kernels or loads them from the cache)
    t0 = time.perf_counter()
    x, cell, v, equilibration = equilibrated_liquid(n)
    equilibration["seconds_with_setup"] = time.perf_counter() - t0
    # --- warm-up, echemmd
    sim = make_echemmd(x, cell, v)
    system = sim.system
    t0 = time.perf_counter()
    sim.initialize()
    warm_init_e = time.perf_counter() - t0
    e0_echemmd = sim.result.energy
    f0_echemmd = sim.result.forces.copy()
    x_start = system.positions.copy()
    # --- LAMMPS from the same positions and (post-initialize) velocities
    lmp = make_lammps(threads, system)
    t0 = time.perf_counter()
    lmp.command("run 0")
    warm_setup_l = time.perf_counter() - t0
    e0_lammps = lmp.get_thermo("pe")
    f0_lammps = gather(lmp, "f")
    x0_lammps = gather(lmp, "x")
    assert np.abs(x0_lammps - x_start).max() < 1e-9, "LAMMPS atoms are not at echemmd's positions"
    df = np.abs(f0_echemmd - f0_lammps).max()
    check = {
        "initial_potential_energy_eV": {"echemmd": e0_echemmd, "lammps": e0_lammps},
        "initial_energy_rel_diff": abs(e0_echemmd - e0_lammps) / abs(e0_lammps),
        "initial_max_force_diff_eV_A": float(df),
        "initial_max_force_eV_A": float(np.abs(f0_lammps).max()),
        "initial_max_force_rel_diff": float(df / np.abs(f0_lammps).max()),
        "initial_total_energy_eV": {"echemmd": total_energy_echemmd(sim), "lammps": total_energy_lammps(lmp)},
    }
    t0 = time.perf_counter()
    sim.run(1)
    warm_step_e = time.perf_counter() - t0
    t0 = time.perf_counter()
    lmp.command("run 1 pre no post no")
    warm_step_l = time.perf_counter() - t0

    # --- check after CHECK_STEPS steps
    sim.run(CHECK_STEPS - 1)
    lmp.command(f"run {CHECK_STEPS - 1} pre no post no")
    from echemmd.integrators import kinetic_energy
    from echemmd.units import MVV_TO_EV

    et_e, et_l = total_energy_echemmd(sim), total_energy_lammps(lmp)
    v_l = gather(lmp, "v") / FS_PER_PS
    ke_l_echemmd_units = 0.5 * MVV_TO_EV * MASS_AR * float(np.sum(v_l * v_l))
    dx = gather(lmp, "x") - system.positions
    length = system.cell[0, 0]
    dx -= length * np.round(dx / length)
    check.update({
        "check_steps": CHECK_STEPS,
        "total_energy_eV": {"echemmd": et_e, "lammps": et_l},
        "total_energy_diff_eV": et_e - et_l,
        "total_energy_rel_diff": abs(et_e - et_l) / abs(et_l),
        "potential_energy_eV": {"echemmd": sim.result.energy, "lammps": lmp.get_thermo("pe")},
        "kinetic_energy_eV": {"echemmd": kinetic_energy(system), "lammps": lmp.get_thermo("ke"),
                              "lammps_velocities_echemmd_constant": ke_l_echemmd_units},
        "total_energy_drift_eV": {"echemmd": et_e - check["initial_total_energy_eV"]["echemmd"],
                                  "lammps": et_l - check["initial_total_energy_eV"]["lammps"]},
        "max_position_diff_A": float(np.abs(dx).max()),
        "temperature_K": {"echemmd": sim.temperature, "lammps": lmp.get_thermo("temp")},
    })

    # --- timing
    builds0 = sim.forcefield.neighbors.n_builds
    t_sim, t_sim_all = best_of(lambda: sim.run(steps), repeat)
    builds_sim = (sim.forcefield.neighbors.n_builds - builds0) / repeat
    integ, ff = sim.integrator, sim.forcefield

    def integrator_loop():
        for _ in range(steps):
            integ.step(system, ff.compute)

    builds0 = ff.neighbors.n_builds
    t_loop, t_loop_all = best_of(integrator_loop, repeat)
    builds_loop = (ff.neighbors.n_builds - builds0) / repeat
    # integrator_loop bypassed the Simulation: resync its result for the checks of the profile
    sim.result = ff.compute(system)
    builds0 = lammps_build_count(lmp)
    t_lmp, t_lmp_all = best_of(lambda: lmp.command(f"run {steps} pre no post no"), repeat)
    builds_lmp = (lammps_build_count(lmp) - builds0) / repeat

    # --- profiles
    prof_e = echemmd_profile(sim, steps, builds_sim, t_sim / steps)
    # fraction of the list entries inside the cutoff; r_ij = x_j + shift @ cell - x_i
    first, neigh, shifts = ff.neighbors.full
    i_idx = np.repeat(np.arange(n), np.diff(first))
    d = system.positions[neigh] + shifts @ system.cell - system.positions[i_idx]
    r2 = np.einsum("ij,ij->i", d, d)
    prof_e["within_cutoff_fraction"] = float(np.mean(r2 < CUTOFF * CUTOFF))
    prof_l = lammps_profile(lmp, steps)
    pair_l = prof_l.get("sections", {}).get("Pair", {}).get("s")
    neigh_l = prof_l.get("sections", {}).get("Neigh", {}).get("s")
    prof_l["pair_s_per_step"] = pair_l / steps if pair_l is not None else None
    prof_l["neigh_s_per_step"] = neigh_l / steps if neigh_l is not None else None
    # cost per list entry: echemmd visits every pair twice (full list), LAMMPS once (half list, Newton)
    prof_e["pair_kernel_ns_per_list_entry"] = 1e9 * prof_e["pair_kernel_s"] / prof_e["list_entries_full"]
    if prof_l["pair_s_per_step"] and prof_l.get("total_neighbors_half_list"):
        prof_l["pair_ns_per_half_list_pair"] = 1e9 * prof_l["pair_s_per_step"] / prof_l["total_neighbors_half_list"]
    if prof_l.get("neighbor_builds"):
        prof_l["neigh_s_per_build"] = neigh_l / prof_l["neighbor_builds"]
    lmp.close()

    def rate(t):
        return {"s_per_step": t / steps, "atom_steps_per_s": n * steps / t}

    timing = {
        "steps": steps,
        "repeat": repeat,
        "echemmd_simulation_run": {**rate(t_sim), "all_s": t_sim_all, "neighbor_builds_per_run": builds_sim},
        "echemmd_integrator_loop": {**rate(t_loop), "all_s": t_loop_all, "neighbor_builds_per_run": builds_loop},
        "lammps": {**rate(t_lmp), "all_s": t_lmp_all, "neighbor_builds_per_run": builds_lmp},
    }
    comparison = {
        "ratio": t_sim / t_lmp,
        "ratio_integrator_loop": t_loop / t_lmp,
        "target": 1.5,
        "meets_target": t_sim / t_lmp <= 1.5,
        "pair_kernel_ratio": (prof_e["pair_kernel_s"] / prof_l["pair_s_per_step"]
                              if prof_l.get("pair_s_per_step") else None),
        "list_build_per_step_ratio": (prof_e["list_build_per_step_amortised_s"] / prof_l["neigh_s_per_step"]
                                      if prof_l.get("neigh_s_per_step") else None),
    }
    return {
        "description": "LJ liquid argon NVE MD step (list + forces + velocity Verlet), echemmd vs LAMMPS lj/cut/omp",
        "n_atoms": n,
        "threads": threads,
        "numba_threading_layer": _threading_layer(),
        # 1-min load average of the machine before and after: above ~threads, something else ran
        "loadavg_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "parameters": {"epsilon_eV": EPSILON, "sigma_A": SIGMA, "cutoff_A": CUTOFF, "skin_A": SKIN,
                       "density_per_A3": ARGON_DENSITY, "mass_amu": MASS_AR, "dt_fs": DT_FS,
                       "temperature_K": TEMPERATURE, "box_A": float(system.cell[0, 0]), "shift": True},
        "equilibration": equilibration,
        "warmup_s": {"echemmd_first_force_call_compile_or_cache": equilibration["echemmd_first_force_call_s"],
                     "echemmd_initialize": warm_init_e, "echemmd_first_step": warm_step_e,
                     "lammps_run0": warm_setup_l, "lammps_first_step": warm_step_l},
        "check": check,
        "timing": timing,
        "comparison": comparison,
        "profile_echemmd": prof_e,
        "profile_lammps": prof_l,
    }


def _threading_layer():
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4096 atoms, 50 timed steps")
    parser.add_argument("--threads", type=int, default=2, help="threads of both engines (default 2)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    data = run(quick=args.quick, threads=args.threads)
    path = write_result("lj", data, args.quick)
    c, t, cmp_ = data["check"], data["timing"], data["comparison"]
    eq = data["equilibration"]
    print(f"LJ MD, N = {data['n_atoms']}, {args.threads} threads, {t['steps']} steps; liquid after "
          f"{eq['steps']} CSVR steps: {eq['temperature_K']:.1f} K, {eq['potential_energy_per_atom_eV']:.5f} eV/atom")
    w = data["warmup_s"]
    print("  warm-up (excluded): " + ", ".join(f"{k} {v:.3f} s" for k, v in w.items()))
    print(f"  initial: |dE|/E = {c['initial_energy_rel_diff']:.2e}, max |dF| = {c['initial_max_force_diff_eV_A']:.2e} eV/Å")
    print(f"  after {c['check_steps']} steps: E_tot echemmd {c['total_energy_eV']['echemmd']:.8f} eV, "
          f"LAMMPS {c['total_energy_eV']['lammps']:.8f} eV (rel diff {c['total_energy_rel_diff']:.2e}), "
          f"max |dx| = {c['max_position_diff_A']:.2e} Å")
    for key in ("echemmd_simulation_run", "echemmd_integrator_loop", "lammps"):
        r = t[key]
        print(f"  {key:24s} {1e3 * r['s_per_step']:8.3f} ms/step  {r['atom_steps_per_s']:.3g} atom-steps/s  "
              f"{r['neighbor_builds_per_run']:g} list builds per {t['steps']} steps")
    print(f"  ratio echemmd/LAMMPS = {cmp_['ratio']:.2f} (integrator loop {cmp_['ratio_integrator_loop']:.2f}; target <= 1.5)")
    pe, pl = data["profile_echemmd"], data["profile_lammps"]
    print("  echemmd profile (ms): " + ", ".join(
        f"{k[:-2]} {1e3 * v:.3f}" for k, v in pe.items() if k.endswith("_s") and v is not None))
    print("  LAMMPS sections (s over the run): " + ", ".join(
        f"{k} {v['s']:.4f}" for k, v in pl.get("sections", {}).items())
          + f"; {pl.get('neighbor_builds')} builds; {pl.get('total_neighbors_half_list')} half-list pairs "
          f"(echemmd full list: {pe['list_entries_full']} entries)")
    print(f"results written to {path}")


if __name__ == "__main__":
    main()

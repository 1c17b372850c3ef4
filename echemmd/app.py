"""From a validated deck to engine objects, and the two jobs the CLI runs: ``run`` and ``eval``.

This is a face: it reads decks, structures and checkpoints and writes outputs;
the engine below it never parses a deck.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from echemmd import __version__
from echemmd.charges import ChargeSolver, Electrode, FieldOnly, QEqParameters
from echemmd.electrostatics import Ewald
from echemmd.errors import InputError, SimulationError
from echemmd.forcefield import ForceField
from echemmd.fourthgen import FourthGenModel, FourthGenPotential
from echemmd.integrators import make_integrator, maxwell_boltzmann
from echemmd.mlpotential import HybridModel, NeuralNetworkPotential
from echemmd.io.checkpoint import load_checkpoint
from echemmd.io.h5md import H5MDWriter
from echemmd.io.model import load_model
from echemmd.io.n2p2 import read_n2p2
from echemmd.io.observers import (CheckpointObserver, ProgressObserver, ThermoObserver, TrajectoryObserver,
                                  observables_summary)
from echemmd.io.structure import build_system
from echemmd.io.thermo import DEFAULT_COLUMNS, ProgressBar, ThermoLogger
from echemmd.neighbors import NeighborList
from echemmd.potentials import PairPotential
from echemmd.simulation import Limits, Simulation


def electrode_indices(electrode, system) -> np.ndarray:
    """Atom indices of one ``[[electrode]]`` table."""
    if electrode.get("indices") is not None:
        return np.asarray(electrode["indices"], dtype=np.int64)
    if electrode.get("group") is not None:
        return np.asarray(system.groups[electrode["group"]], dtype=np.int64)
    return np.nonzero(np.isin(system.tags, electrode["tag"]))[0]


def build_charge_solver(deck, system, ewald, qeq=None):
    """The charge solver of ``[[electrode]]``, QEq (``[charges]`` or the model) and ``[field]``, or None."""
    electrodes = [Electrode(e["name"], electrode_indices(e, system), e["potential"], e["sigma"])
                  for e in deck.data.get("electrode", [])]
    ch = deck["charges"]
    qeq = {el: QEqParameters(chi=p["chi"], hardness=p["J"], sigma=p["sigma"]) for el, p in (qeq or {}).items()}
    field = deck["field"]["E"]
    if not electrodes and not qeq:
        if any(field):
            return FieldOnly(field)
        return None
    solver = ChargeSolver(ewald, electrodes, qeq, field=field, total_charge=ch["total"],
                          tolerance=ch["tolerance"], max_iterations=ch["max_iterations"])
    try:
        solver.setup(system)
    except InputError as exc:
        raise InputError(f"{deck.source}: {exc}") from None
    return solver


def load_deck_model(deck):
    """The HybridModel of ``[model]``, or None."""
    m = deck["model"]
    if m["path"] is not None:
        return load_model(m["path"])  # a HybridModel or a FourthGenModel
    if m["n2p2"] is not None:
        read = read_n2p2(m["n2p2"], length_unit=m["length_unit"], energy_unit=m["energy_unit"])
        if isinstance(read, FourthGenModel):
            return read
        return HybridModel(read, provenance={"n2p2": m["n2p2"]})
    return None


def build_fourthgen(deck, system, model):
    """The 4G term of a 4G model: its charges (QEq inside the model, electrodes, field) and electrostatics."""
    es = deck["electrostatics"]
    if es["sigma"] or es["switch"]:
        raise InputError(f"{deck.source}: electrostatics.sigma and electrostatics.switch are set by the 4G model "
                         f"({deck['model']['n2p2'] or deck['model']['path']}); remove them from the deck")
    if deck["charges"]["qeq"]:
        raise InputError(f"{deck.source}: charges.qeq: a 4G model brings its own electronegativities and hardness")
    electrodes = [Electrode(e["name"], electrode_indices(e, system), e["potential"], e["sigma"])
                  for e in deck.data.get("electrode", [])]
    ch = deck["charges"]
    ewald = {k: es[k] for k in ("alpha", "r_cut", "k_cut") if es[k] is not None}
    ewald["slab_factor"] = es["slab_factor"]
    term = FourthGenPotential(model, electrodes=electrodes, field=deck["field"]["E"],
                              total_charge=ch["total"],
                              accuracy=es["accuracy"], tolerance=ch["tolerance"],
                              max_iterations=ch["max_iterations"], ewald=ewald)
    try:
        term.setup(system)
    except InputError as exc:
        raise InputError(f"{deck.source}: model: {exc}") from None
    return term


def build_electrostatics(deck, system, model=None):
    """The Ewald term (set up for ``system``) and the charge solver, each or None.

    A model with a charge model brings its Gaussian widths, switch radii and charges
    (fixed per element, written into ``system.charges``, or QEq parameters).
    """
    es = deck["electrostatics"]
    with_model = model is not None and model.has_electrostatics
    if es["method"] == "none" and not with_model:
        return None, build_charge_solver(deck, system, None) if any(deck["field"]["E"]) else None
    sigma = np.array([float((es["sigma"] or {}).get(sym, 0.0)) for sym in system.symbols])
    sw = es["switch"]
    switch = (sw["r_on"], sw["r_off"]) if sw else None
    qeq = dict(deck["charges"]["qeq"] or {})
    if with_model:
        if es["sigma"] or sw:
            raise InputError(f"{deck.source}: electrostatics.sigma and electrostatics.switch are set by the model "
                             f"({deck['model']['path']}); remove them from the deck")
        if qeq and model.charge_model == "qeq":
            raise InputError(f"{deck.source}: charges.qeq: the model brings its own QEq parameters")
        sigma = np.array([float(model.sigma.get(sym, 0.0)) for sym in system.symbols])
        switch = model.switch
        if model.charge_model == "fixed":
            system.charges[:] = [model.charges[sym] for sym in system.symbols]
        else:
            fixed = np.array([sym in model.charges for sym in system.symbols])
            system.charges[fixed] = [model.charges[sym] for sym in np.array(system.symbols)[fixed]]
            qeq = {el: {"chi": p["chi"], "J": p["J"], "sigma": model.sigma[el]} for el, p in model.qeq.items()}
    for el, p in qeq.items():
        sigma[np.array(system.symbols) == el] = p["sigma"]
    for e in deck.data.get("electrode", []):
        sigma[electrode_indices(e, system)] = e["sigma"]
    ewald = Ewald(accuracy=es["accuracy"], alpha=es["alpha"], r_cut=es["r_cut"], k_cut=es["k_cut"],
                  slab_factor=es["slab_factor"], sigma=sigma if np.any(sigma > 0) else None, switch=switch)
    try:
        ewald.setup(system)
    except InputError as exc:
        raise InputError(f"{deck.source}: [electrostatics]: {exc}") from None
    return ewald, build_charge_solver(deck, system, ewald, qeq)


def build_forcefield(deck, system) -> ForceField:
    """The force field of a deck: one term per ``[[pair]]`` table and the electrostatics, one neighbour list."""
    terms = []
    model = load_deck_model(deck)
    if isinstance(model, FourthGenModel):
        term = build_fourthgen(deck, system, model)
        terms = [term]
        for k, t in enumerate(deck.data.get("pair", [])):
            name = t["style"] if len(deck.data["pair"]) == 1 else f"{t['style']}{k}"
            terms.append(PairPotential(t["style"], t["coeffs"], t["cutoff"], shift=t["shift"], mixing=t["mixing"],
                                       name=name))
        cutoff = max(t.cutoff for t in terms)
        return ForceField(terms, NeighborList(cutoff, deck["neighbors"]["skin"]))
    if model is not None:
        nnp = NeuralNetworkPotential(model.short_range)
        try:
            nnp.check_elements(system)
        except InputError as exc:
            raise InputError(f"{deck.source}: model: {exc}") from None
        terms.append(nnp)
    for k, t in enumerate(deck.data.get("pair", [])):
        name = t["style"] if len(deck.data["pair"]) == 1 else f"{t['style']}{k}"
        terms.append(PairPotential(t["style"], t["coeffs"], t["cutoff"], shift=t["shift"], mixing=t["mixing"],
                                   name=name))
    ewald, solver = build_electrostatics(deck, system, model)
    if ewald is not None:
        terms.append(ewald)
    cutoff = max((t.cutoff for t in terms), default=0.0)
    neighbors = NeighborList(cutoff, deck["neighbors"]["skin"]) if cutoff > 0 else None
    if isinstance(solver, FieldOnly):
        return ForceField(terms + [solver], neighbors)
    return ForceField(terms, neighbors, charge_solver=solver)


def build_integrator(deck):
    """The integrator of ``[md]``."""
    md = deck["md"]
    name = md["integrator"]
    kwargs = {"dt": md["dt"], "remove_com": md["remove_com"]}
    if name == "langevin":
        kwargs.update(temperature=md["temperature"], friction=md["friction"], seed=md["seed"])
    elif name == "csvr":
        kwargs.update(temperature=md["temperature"], tau=md["tau"], seed=md["seed"])
    elif name == "nose-hoover":
        kwargs.update(temperature=md["temperature"], tau=md["tau"], chain=md["chain"])
    return make_integrator(name, **kwargs)


def _velocity_rng(seed):
    # A stream of its own, so the thermostat noise does not depend on whether velocities were drawn.
    return np.random.default_rng([int(seed), 1])


def prepare_system(deck):
    """The deck's System, with Maxwell–Boltzmann velocities when ``system.temperature`` is set."""
    system = build_system(deck)
    t0 = deck["system"]["temperature"]
    if t0 is not None:
        maxwell_boltzmann(system, float(t0), _velocity_rng(deck["md"]["seed"]),
                          remove_com=deck["md"]["remove_com"])
    return system


def check_structure(deck, system, forcefield):
    """Raise InputError for overlapping atoms or non-finite forces in the starting structure."""
    result = forcefield.compute(system)
    where = f"{deck.source}: system.structure ({deck['system']['structure']})"
    nl = forcefield.neighbors
    limit = deck["limits"]["min_distance"]
    if nl is not None and limit and nl.neighbors is not None and len(nl.neighbors):
        rmin, i, j = nl.closest_pair(system.positions, system.cell)
        if rmin < limit:
            raise InputError(f"{where}: atoms {i} ({system.symbols[i]}) and {j} ({system.symbols[j]}) overlap: "
                             f"{rmin:.4g} Å apart, below limits.min_distance = {limit} Å")
    if not (np.isfinite(result.energy) and np.all(np.isfinite(result.forces))):
        raise InputError(f"{where}: the starting structure gives non-finite energy or forces")
    return result


def evaluate(deck) -> dict:
    """Single point on the deck's structure: energy, terms, forces, stress, charges (JSON-ready)."""
    system = build_system(deck)
    forcefield = build_forcefield(deck, system)
    result = check_structure(deck, system, forcefield)
    volume = system.volume
    return {
        "energy": float(result.energy),
        "energy_terms": {k: float(v) for k, v in result.terms.items()},
        "forces": result.forces.tolist(),
        "stress": result.stress(volume).tolist() if volume > 0 else None,
        "charges": system.charges.tolist(),
        "observables": {k: float(v) for k, v in result.extra.items()},
        "electrostatics": next(({"alpha": t.params.alpha, "r_cut": t.params.r_cut, "k_cut": t.params.k_cut,
                                 "n_kvectors": t.params.n_kvectors, "slab": t.params.slab,
                                 "estimated_relative_force_error": t.params.estimated_error}
                                for t in forcefield.terms if isinstance(t, Ewald)), None),
        "n_atoms": system.n_atoms,
        "units": {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å^3", "charges": "e"},
        "deck": str(deck.path) if deck.path else deck.source,
        "echemmd": __version__,
    }


def build_simulation(deck, restart=None, stream=None, progress_stream=None):
    """Everything a run needs: system, force field, integrator, observers.

    Parameters
    ----------
    deck : echemmd.io.deck.Deck
    restart : path or None
        Checkpoint to continue from; the run then appends to the deck's outputs.
    stream, progress_stream : file-like
        Screen thermo table and progress bar.

    Returns
    -------
    Simulation
    """
    stream = sys.stdout if stream is None else stream
    progress_stream = sys.stderr if progress_stream is None else progress_stream
    out = deck["output"]
    directory = Path(out["directory"])
    directory.mkdir(parents=True, exist_ok=True)
    integrator = build_integrator(deck)
    step, time = 0, 0.0
    if restart is not None:
        ckpt = load_checkpoint(restart)
        system = ckpt.system
        _check_restart_matches(deck, system, restart)
        forcefield = build_forcefield(deck, build_system(deck))
        step, time = ckpt.step, ckpt.time
        integrator.load_state_dict(ckpt.integrator_state)
        reference = ckpt.extra.get("neighbor_reference") if ckpt.extra else None
        if forcefield.neighbors is not None and reference is not None:
            forcefield.neighbors.build(np.asarray(reference), system.cell, system.pbc)
        previous = ckpt.extra.get("charge_solver_previous") if ckpt.extra else None
        adjoint = ckpt.extra.get("charge_solver_adjoint") if ckpt.extra else None
        state = forcefield.state_solver
        if state is not None:
            state.resume = True
            if previous is not None:
                state.previous = np.asarray(previous, dtype=np.float64)
            if adjoint is not None:
                state._adjoint_last = np.asarray(adjoint, dtype=np.float64)
                state.resume_adjoint = True
    else:
        system = prepare_system(deck)
        forcefield = build_forcefield(deck, system)
        check_structure(deck, system, forcefield)
        if forcefield.neighbors is not None:
            # Start the run from a list built on the starting positions, as a restart would.
            forcefield.neighbors.build(system.positions, system.cell, system.pbc)

    total = int(deck["md"]["steps"])
    observers = []
    bar = None
    if out["progress"]:
        bar = ProgressBar(max(total - step, 0), stream=progress_stream, start_step=step)
    columns = list(DEFAULT_COLUMNS)
    if len(forcefield.terms) > 1:
        columns[4:4] = [f"energy_{t.name}" for t in forcefield.terms]
    if system.pbc.all():
        columns.insert(-1, "pressure")
    solver = forcefield.state_solver
    if solver is not None:
        columns[-1:-1] = [f"charge_{e.name}" for e in solver.electrodes] + ["cg_iterations", "cg_residual:V"]
    if out["thermo_every"]:
        logger = ThermoLogger(directory / out["thermo_file"], columns, stream=stream,
                              append=restart is not None, truncate_after=step if restart is not None else None)
        observers.append(ThermoObserver(logger, out["thermo_every"], progress=bar))
    if out["trajectory_every"]:
        deck_text = deck.path.read_text() if deck.path else None
        writer = H5MDWriter(directory / out["trajectory"], system, append=restart is not None,
                            restart_step=step if restart is not None else None,
                            flush_every=out["flush_every"], deck_text=deck_text)
        observers.append(TrajectoryObserver(writer, out["trajectory_every"]))
    checkpointer = CheckpointObserver(directory / out["checkpoint"], out["checkpoint_every"],
                                      extra={"deck": str(deck.path) if deck.path else deck.source,
                                             "seed": int(deck["md"]["seed"])})
    observers.append(checkpointer)
    if bar is not None and bar.enabled:
        observers.append(ProgressObserver(bar))
    lim = deck["limits"]
    limits = Limits(max_force=lim["max_force"], min_distance=lim["min_distance"] or 0.0,
                    check_every=lim["check_every"] or 1)
    kwargs = {}
    cls = Simulation
    if deck["md"]["backend"] == "cuda":
        from echemmd.gpu.simulation import CudaSimulation

        cls = CudaSimulation
        kwargs["precision"] = deck["md"]["precision"]
    elif deck["md"]["precision"] != "float64":
        raise InputError(f"{deck.source}: md.precision = \"{deck['md']['precision']}\" needs md.backend = \"cuda\" "
                         "(the CPU backend runs in float64)")
    return cls(system, forcefield, integrator, observers=observers, checkpointer=checkpointer,
               limits=limits, step=step, time=time, restarted=restart is not None, **kwargs)


def _check_restart_matches(deck, system, restart):
    structure_symbols = deck.atoms.get_chemical_symbols() if getattr(deck, "atoms", None) is not None else None
    if structure_symbols is not None and structure_symbols != system.symbols:
        raise InputError(f"{restart}: the checkpoint holds {system.n_atoms} atoms that do not match the deck's "
                         f"structure {deck['system']['structure']} ({len(structure_symbols)} atoms)")


def run(deck, restart=None, stream=None, progress_stream=None):
    """Run the deck to ``md.steps`` (a restart continues to the same total).

    Returns
    -------
    Simulation
        The finished simulation (outputs closed).
    """
    stream = sys.stdout if stream is None else stream
    for line in deck.notes:
        print(f"note: {line}", file=stream)
    for line in deck.warnings:
        print(f"warning: {line}", file=stream)
    sim = build_simulation(deck, restart=restart, stream=stream, progress_stream=progress_stream)
    total = int(deck["md"]["steps"])
    remaining = total - sim.step
    directory = Path(deck["output"]["directory"])
    if remaining <= 0:
        print(f"nothing to do: the run is at step {sim.step}, md.steps = {total}", file=stream)
        sim.close()
        return sim
    print(f"echemmd {__version__}: {sim.system.n_atoms} atoms, {type(sim.integrator).__name__}, "
          f"dt = {sim.integrator.dt} fs, steps {sim.step} -> {total}", file=stream)
    for term in sim.forcefield.terms:
        if isinstance(term, Ewald):
            print(term.params.summary(), file=stream)
    try:
        sim.run(remaining)
    except SimulationError:
        raise
    except BaseException:
        sim.close()
        raise
    sim.checkpointer.save(sim)
    summary = observables_summary(sim.observables())
    sim.close()
    print(f"done: step {sim.step}, {summary}", file=stream)
    print(f"results in {directory}/: {deck['output']['thermo_file']} (thermo), "
          f"{deck['output']['trajectory']} (H5MD trajectory), {deck['output']['checkpoint']} (checkpoint)",
          file=stream)
    return sim


def write_json(data, path):
    """Write ``data`` as JSON to ``path`` ('-' for stdout)."""
    text = json.dumps(data, indent=1)
    if str(path) == "-":
        print(text)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")

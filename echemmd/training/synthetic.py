"""Reference data made by the engine itself, for tests, teaching labs and benchmarks.

* :func:`rocksalt_frames`: rattled, strained rock-salt NaCl cells (structures only);
* :func:`random_teacher`: a random network model of a given architecture, scaled on the
  structures it will label, so that a student of the same architecture can in principle
  reproduce it exactly;
* :func:`label`: energies, forces, stress and charges of structures from any ASE calculator;
* :func:`molten_nacl`: molten NaCl (Tosi–Fumi Born–Mayer–Huggins + Ewald of point charges
  +-1 e), sampled by Langevin MD with the engine and labelled with the same force field,
  a data set with a long-range Coulomb part.
"""

from __future__ import annotations

import numpy as np

from echemmd.io.dataset import Frame

#: Tosi & Fumi (1964) NaCl: A eV, rho Å, sigma Å, C eV Å^6, D eV Å^8.
TOSI_FUMI_NACL = {
    "Na-Na": {"A": 0.263705, "rho": 0.317, "sigma": 2.340, "C": 1.048573, "D": 0.499869},
    "Na-Cl": {"A": 0.210964, "rho": 0.317, "sigma": 2.755, "C": 6.990534, "D": 8.675750},
    "Cl-Cl": {"A": 0.158223, "rho": 0.317, "sigma": 3.170, "C": 72.40215, "D": 145.4284},
}


def rocksalt_frames(n, seed=0, rattle=0.15, repeats=((2, 1, 1), (1, 1, 2)), a=5.64, strain=0.03):
    """Rattled rock-salt NaCl cells (ase.Atoms), cycling through ``repeats`` of the 8-atom cube.

    Each cell is scaled by a random factor in 1 +- ``strain`` per axis and every atom displaced
    by a normal deviate of ``rattle`` Å per component.
    """
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    base = bulk("NaCl", "rocksalt", a=a, cubic=True)
    out = []
    for k in range(n):
        at = base.repeat(repeats[k % len(repeats)]).copy()
        at.set_cell(at.cell * rng.uniform(1 - strain, 1 + strain, 3), scale_atoms=True)
        at.positions += rng.normal(0, rattle, at.positions.shape)
        out.append(at)
    return out


def label(calculator, structures, provenance=""):
    """Frames with the calculator's energy, forces, stress (periodic cells) and charges (if any)."""
    frames = []
    for k, at in enumerate(structures):
        at = at.copy()
        at.calc = calculator
        energy = at.get_potential_energy()
        forces = at.get_forces()
        stress = at.get_stress(voigt=False) if np.all(at.pbc) else None
        try:
            charges = at.get_charges()
        except Exception:  # noqa: BLE001 - calculators without charges raise various errors
            charges = None
        frames.append(Frame(at.get_chemical_symbols(), np.asarray(at.numbers, dtype=np.int64), at.positions.copy(),
                            at.cell.array.copy(), np.array(at.pbc), float(energy), np.array(forces),
                            None if stress is None else np.array(stress),
                            None if charges is None else np.array(charges),
                            float(at.info.get("total_charge", 0.0)), f"{provenance}:{k}"))
    return frames


def random_teacher(functions, hidden, structures, seed, e_scale=0.5, atom_energies=None, activation="tanh"):
    """A random model of the given architecture (a HybridModel without charges).

    Scaling statistics come from ``structures``; the output is E_i = e_scale NN(x_i) + atom
    energy, so forces are of order e_scale per Å.
    """
    from echemmd.mlpotential import HybridModel
    from echemmd.training.trainer import Trainer

    t = Trainer(functions, hidden=hidden, activation=activation, seed=seed)
    frames = [Frame(a.get_chemical_symbols(), np.asarray(a.numbers, dtype=np.int64), a.positions, a.cell.array,
                    np.array(a.pbc), 0.0, None, None, None, 0.0, f"s{k}") for k, a in enumerate(structures)]
    theta = t.initialize(t.prepare(frames))
    t.e_scale = float(e_scale)
    t.atom_energies = dict(atom_energies or {e: -1.0 - 0.5 * k for k, e in enumerate(t.elements)})
    return HybridModel(t.short_range_model(theta), provenance={"source": "echemmd random teacher",
                                                               "seed": str(seed)})


def molten_nacl_forcefield(system, accuracy=1e-8, cutoff=8.0):
    """Tosi–Fumi BMH (shifted at ``cutoff``) + Ewald of point charges on ``system`` (charges set to +-1)."""
    from echemmd.electrostatics import Ewald
    from echemmd.forcefield import ForceField
    from echemmd.neighbors import NeighborList
    from echemmd.potentials import PairPotential

    system.charges[:] = [1.0 if s == "Na" else -1.0 for s in system.symbols]
    pair = PairPotential("bmh", TOSI_FUMI_NACL, cutoff, shift=True)
    ewald = Ewald(accuracy=accuracy)
    ewald.setup(system)
    return ForceField([pair, ewald], NeighborList(max(pair.cutoff, ewald.cutoff), skin=1.0))


def molten_nacl(n_frames, repeat=2, temperature=1500.0, density=1.50, every=25, equilibrate=400, seed=0,
                dt=2.0):
    """Frames of molten NaCl (8 repeat^3 ions) from Langevin MD, labelled by the same force field.

    Parameters
    ----------
    n_frames : int
    repeat : int
        The cubic 8-ion cell repeated ``repeat`` times per axis.
    temperature : float
        K.
    density : float
        g/cm^3 (1.50: the melt near 1200 K).
    every : int
        Steps between frames.
    equilibrate : int
        Steps before the first frame.
    seed : int
    dt : float
        fs.

    Returns
    -------
    list of Frame
        Energies eV, forces eV/Å, stress eV/Å^3 and the charges +-1 e.
    """
    from ase.build import bulk
    from ase.data import atomic_masses, atomic_numbers

    from echemmd.integrators import LangevinBAOAB, maxwell_boltzmann
    from echemmd.simulation import Simulation
    from echemmd.system import System
    from echemmd.units import AVOGADRO

    pair_mass = (atomic_masses[atomic_numbers["Na"]] + atomic_masses[atomic_numbers["Cl"]]) / AVOGADRO  # g
    a = (4 * pair_mass / density * 1e24) ** (1 / 3)  # Å: 4 pairs per conventional cube, 1 cm^3 = 1e24 Å^3
    atoms = bulk("NaCl", "rocksalt", a=a, cubic=True).repeat((repeat,) * 3)
    system = System.from_atoms(atoms)
    ff = molten_nacl_forcefield(system)
    maxwell_boltzmann(system, temperature, np.random.default_rng(seed))
    integrator = LangevinBAOAB(dt=dt, temperature=temperature, friction=0.01, seed=seed + 1)
    sim = Simulation(system, ff, integrator)
    sim.run(equilibrate)
    frames = []
    for k in range(n_frames):
        sim.run(every)
        c = ff.compute(system)
        volume = system.volume
        frames.append(Frame(list(system.symbols), system.numbers.copy(), system.wrapped_positions(),
                            system.cell.copy(), system.pbc.copy(), float(c.energy), c.forces.copy(),
                            -c.virial / volume, system.charges.copy(), 0.0,
                            f"molten NaCl {len(system.symbols)} ions, {temperature:g} K, frame {k}"))
    return frames

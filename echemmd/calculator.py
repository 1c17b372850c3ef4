"""An ASE calculator for echemmd models (ASE's Calculator protocol).

    from echemmd.calculator import EchemmdCalculator
    atoms.calc = EchemmdCalculator("model.h5")
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(), atoms.get_charges()

The energy is that of a run with the model: networks + long-range electrostatics of the
model's charge model (fixed or QEq charges, Gaussian widths, switch), or, for a 4G model
(:class:`echemmd.fourthgen.FourthGenModel`), its charge equilibration, networks and
screened electrostatics with the exact forces. Used to label data with a model (teacher
data sets, committee disagreement) and to drive ASE's tools.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from echemmd.mlpotential import HybridModel, NeuralNetworkPotential, long_range_forcefield


class EchemmdCalculator(Calculator):
    """ASE calculator of a HybridModel.

    Parameters
    ----------
    model : HybridModel or FourthGenModel or str or path-like
        The model, or an echemmd model file.
    accuracy : float
        Relative accuracy of the Ewald sum (models with charges).
    total_charge : float, optional
        Net charge for QEq models, e (default: ``atoms.info["total_charge"]``, else 0).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "charges"]

    def __init__(self, model, accuracy=1e-8, total_charge=None, **kwargs):
        super().__init__(**kwargs)
        from echemmd.fourthgen import FourthGenModel

        if not isinstance(model, (HybridModel, FourthGenModel)):
            from echemmd.io.model import load_model

            model = load_model(model)
        self.model = model
        self.accuracy = float(accuracy)
        self.total_charge = total_charge
        self.fourthgen = isinstance(model, FourthGenModel)
        self.nnp = None if self.fourthgen else NeuralNetworkPotential(model.short_range)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from echemmd.forcefield import ForceField
        from echemmd.neighbors import NeighborList
        from echemmd.system import System

        system = System.from_atoms(self.atoms)
        total = self.total_charge if self.total_charge is not None else float(self.atoms.info.get("total_charge", 0.0))
        if self.fourthgen:
            from echemmd.fourthgen import FourthGenPotential

            c = FourthGenPotential(self.model, total_charge=total, accuracy=self.accuracy).compute(system)
            self._store(c.energy, c.forces, c.virial, system.charges)
            return
        self.nnp.check_elements(system)
        neighbors = NeighborList(self.nnp.cutoff, skin=0.0)
        neighbors.build(system.positions, system.cell, system.pbc)
        c = self.nnp.compute(system, neighbors)
        energy, forces, virial = c.energy, c.forces.copy(), c.virial.copy()
        lr = long_range_forcefield(self.model, system, accuracy=self.accuracy, total_charge=total)
        if lr is not None:
            c_lr = ForceField.compute(lr, system)
            energy += c_lr.energy
            forces += c_lr.forces
            virial += c_lr.virial
        self._store(energy, forces, virial, system.charges)

    def _store(self, energy, forces, virial, charges):
        self.results["energy"] = float(energy)
        self.results["free_energy"] = float(energy)
        self.results["forces"] = np.array(forces)
        self.results["charges"] = np.array(charges)
        if np.all(self.atoms.pbc):
            stress = -virial / self.atoms.get_volume()
            self.results["stress"] = np.array([stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2],
                                               stress[0, 1]])

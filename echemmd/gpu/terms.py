"""Energy terms on the device: each wraps the CPU term it was built from and reads its parameters.

A device term has ``name`` and ``compute(state, neighbors, energy_virial) -> (sums, forces)``:
``forces`` a device array (N, 3) in eV/Å, ``sums`` a device array (7,) holding
[energy eV, W_xx, W_yy, W_zz, W_yz, W_xz, W_xy eV], or None on a forces-only step of a term that
skips them. Seven numbers per term are all the host reads of a step whose energy is due.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from echemmd.kernels import pair as cpu_pair
from echemmd.gpu.support import TIMER
from echemmd.kernels.cuda import descriptors as descriptor_kernels
from echemmd.kernels.cuda import ewald as ewald_kernels
from echemmd.kernels.cuda import network as network_kernels
from echemmd.kernels.cuda import pair as pair_kernels
from echemmd.kernels.cuda import reduce
from echemmd.kernels.cuda.launch import kernel
from echemmd.kernels.cuda.workspace import Workspace


class DevicePairPotential:
    """A :class:`echemmd.potentials.PairPotential` (Lennard-Jones, Born–Mayer–Huggins) on the device."""

    forces_only = True

    def __init__(self, term, system):
        self.name = term.name
        self.cutoff = term.cutoff
        species = tuple(system.species)
        self.style = cpu_pair.LENNARD_JONES if term.style == "lj" else cpu_pair.BORN_MAYER_HUGGINS
        types = np.array([species.index(s) for s in system.symbols], dtype=np.int64)
        self._params = cuda.to_device(np.ascontiguousarray(term.parameter_table(species)))
        self._types = cuda.to_device(types)
        n = system.n_atoms
        self._forces = cuda.device_array((n, 3), dtype=np.float64)
        self._per_atom = cuda.device_array((n, 7), dtype=np.float64)
        self.workspace = Workspace()

    def compute(self, state, neighbors, energy_virial=True):
        return pair_kernels.pair_forces(self.style, state.positions, state.d_cell, self._types, self._params,
                                        neighbors.first, neighbors.neighbors, neighbors.shifts, bool(energy_virial),
                                        forces=self._forces, per_atom=self._per_atom, workspace=self.workspace)


class DeviceEwald:
    """An :class:`echemmd.electrostatics.Ewald` term on the device (its parameters, k-vectors and widths)."""

    forces_only = True

    def __init__(self, term, system, ewald=None):
        term._ensure_setup(system)
        p = term.params
        self.cpu = term
        self.name = term.name
        self.cutoff = p.r_cut
        self.params = ewald_kernels.upload(p.alpha, p.r_cut, term.switch, p.volume, p.slab, p.cell, term._kidx,
                                           term._kvec, term._weight, term._ksq, term._sigma)
        self._sums = cuda.device_array(7, dtype=np.float64)
        # Two workspaces: the energy terms' results (forces) are read after the charge solver's
        # potentials of the same step have come and gone.
        self.workspace = Workspace()
        self.potential_workspace = Workspace()

    def compute(self, state, neighbors, energy_virial=True):
        mobile = None
        if not energy_virial and state.frozen.any():
            mobile = state.d_mobile
        r = ewald_kernels.ewald_terms(self.params, state.positions, state.d_cell, state.charges, neighbors.first,
                                      neighbors.neighbors, neighbors.shifts, True, want_virial=energy_virial,
                                      mobile=mobile, workspace=self.workspace)
        if not energy_virial:
            return None, r.forces
        _pack_sums[1, 1](r.energies, r.virial, self._sums)
        return self._sums, r.forces

    def potential(self, state, neighbors, charges, targets=None):
        """phi_i = dE/dq_i of ``charges`` (device (N,)), V; exact at ``targets`` only when given."""
        return ewald_kernels.potential(self.params, state.positions, state.d_cell, charges, neighbors.first,
                                       neighbors.neighbors, neighbors.shifts, targets=targets,
                                       workspace=self.potential_workspace)


@kernel("void(float64[::1], float64[:, ::1], float64[::1])")
def _pack_sums(energies, virial, out):
    """[sum of the energy parts, W xx, yy, zz, yz, xz, xy]."""
    if cuda.grid(1) != 0:
        return
    e = 0.0
    for k in range(energies.shape[0]):
        e += energies[k]
    out[0] = e
    out[1] = virial[0, 0]
    out[2] = virial[1, 1]
    out[3] = virial[2, 2]
    out[4] = virial[1, 2]
    out[5] = virial[0, 2]
    out[6] = virial[0, 1]


class DeviceNetworkPotential:
    """A :class:`echemmd.mlpotential.NeuralNetworkPotential` (Behler–Parrinello) on the device.

    One step: the symmetry functions of all atoms (one kernel), per element the network inputs
    gathered from their columns, the network forward and backward (one kernel per element), dE/dG
    scattered back, then the descriptor force pass (entry gradients and their gather over the
    twin entries). The tables, networks and scalings are the CPU term's, uploaded once.

    Parameters
    ----------
    term : echemmd.mlpotential.NeuralNetworkPotential
    system : echemmd.System
    precision : {"float64", "mixed"}
        "mixed": float32 descriptors and networks with float64 accumulation. The symmetry
        functions' per-entry and per-pair math (radial functions, cutoffs, cos t,
        (1 + lambda cos t)^zeta, the r_jk factor, their gradients) and its scratch in float32 from
        pair vectors computed in float64 (``kernels.cuda.descriptors``); the networks' weights,
        layer sums and activations in float32 (``kernels.cuda.network``); G, dE/dG (rounded to
        float32 for the force pass), the sums over neighbours and pairs, the forces, the energy
        and the virial in float64. Measured error against float64 on a small random water model
        (``tests/test_cuda_mlp_md.py``, simulator): 2.8e-10 eV/atom in the energy (5e-9 eV for one
        atom) and 7e-9 eV/Å, 7e-7 of the largest force, in the forces (docs/gpu.md, "Precision").
    """

    forces_only = False

    def __init__(self, term, system, ewald=None, precision="float64"):
        term.check_elements(system)
        self.name = term.name
        self.cutoff = term.cutoff
        self.precision = precision
        sf = term.descriptors
        self.tables = descriptor_kernels.device_tables(sf._tables, precision)
        self.n_columns = sf.n_functions
        self.species = cuda.to_device(np.ascontiguousarray(sf.species_index(system.numbers), dtype=np.int64))
        nets = term.networks
        symbols = np.array(system.symbols)
        n = system.n_atoms
        self.elements = []
        for e in np.unique(symbols):
            net = nets.networks[e]
            atoms = np.flatnonzero(symbols == e).astype(np.int64)
            columns = np.asarray(term.columns[e], dtype=np.int64).reshape(-1)
            offset, factor, shift = nets.scaling(e)
            sizes, acts, weights, w_off, biases, b_off = net.packed()
            network_kernels.check_network(sizes, acts)
            if precision == "mixed":
                weights_d = network_kernels.as_float32(weights)
                biases_d = network_kernels.as_float32(biases)
            else:
                weights_d, biases_d = cuda.to_device(weights), cuda.to_device(biases)
            n_e, n_in = atoms.size, int(sizes[0])
            self.elements.append(dict(
                element=e, atoms=cuda.to_device(atoms), columns=cuda.to_device(columns),
                scaling=tuple(cuda.to_device(np.ascontiguousarray(a, dtype=np.float64)) for a in (offset, factor, shift)),
                network=(np.asarray(sizes), cuda.to_device(acts), weights_d, cuda.to_device(w_off), biases_d,
                         cuda.to_device(b_off)),
                e_scale=1.0 / nets.conv_energy, e_shift=float(nets.energy_shift(e)),
                inputs=cuda.device_array((n_e, n_in)), energy=cuda.device_array(n_e),
                gradient=cuda.device_array((n_e, n_in))))
        self._energies = cuda.device_array(n)
        # float32 in mixed precision: the force pass's per-pair math reads dE/dG as a float32.
        self._dEdG = cuda.device_array((n, self.n_columns),
                                       dtype=np.float32 if precision == "mixed" else np.float64)
        self._sums = cuda.device_array(7)
        self.workspace = Workspace()

    def atomic_energies(self, state, neighbors):
        """Energy of each atom (device float64 (N,), eV) and dE/dG (device (N, n_functions), eV; float32 in
        mixed precision); fills both buffers."""
        G = descriptor_kernels.symmetry_functions(state.positions, state.d_cell, self.species, neighbors.first,
                                                  neighbors.neighbors, neighbors.shifts, self.tables,
                                                  self.n_columns, precision=self.precision,
                                                  workspace=self.workspace)
        network_kernels.zero(self._dEdG)
        for el in self.elements:
            network_kernels.gather_inputs(G, el["atoms"], el["columns"], el["inputs"])
            network_kernels.network_energy_gradient(el["inputs"], *el["scaling"], *el["network"], el["e_scale"],
                                                    el["e_shift"], True, precision=self.precision,
                                                    energy=el["energy"], gradient=el["gradient"])
            network_kernels.scatter_gradient(el["gradient"], el["atoms"], el["columns"], self._dEdG)
            network_kernels.scatter_energy(el["energy"], el["atoms"], self._energies)
        return self._energies, self._dEdG

    def compute(self, state, neighbors, energy_virial=True):
        with TIMER("nnp: descriptors + networks"):
            energies, dEdG = self.atomic_energies(state, neighbors)
        with TIMER("nnp: descriptor forces"):
            forces, virial = descriptor_kernels.symmetry_function_forces(
                state.positions, state.d_cell, self.species, neighbors.first, neighbors.neighbors, neighbors.shifts,
                self.tables, dEdG, neighbors.reverse, precision=self.precision, workspace=self.workspace)
        total = reduce.sum_columns(energies, workspace=self.workspace, name="energy")
        _pack_energy_virial[1, 1](total, virial, self._sums)
        return self._sums, forces


@kernel("void(float64[::1], float64[:, ::1], float64[::1])")
def _pack_energy_virial(energy, virial, out):
    """[energy, W xx, yy, zz, yz, xz, xy] (the symmetric part of the virial's off-diagonal pairs)."""
    if cuda.grid(1) != 0:
        return
    out[0] = energy[0]
    out[1] = virial[0, 0]
    out[2] = virial[1, 1]
    out[3] = virial[2, 2]
    out[4] = 0.5 * (virial[1, 2] + virial[2, 1])
    out[5] = 0.5 * (virial[0, 2] + virial[2, 0])
    out[6] = 0.5 * (virial[0, 1] + virial[1, 0])


def _charge_solver(term, system, ewald):
    from echemmd.gpu.charges import DeviceChargeSolver

    return DeviceChargeSolver(term, system, ewald)


#: Device twins of the CPU terms by class name (``echemmd.gpu.forcefield.device_term``).
BUILDERS = {
    "Ewald": DeviceEwald,
    "ChargeSolver": _charge_solver,
    "NeuralNetworkPotential": DeviceNetworkPotential,
}

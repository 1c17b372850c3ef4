"""The charge solver on the device: projected, Jacobi-preconditioned CG with A·v from the device Ewald sum.

The iteration is :meth:`echemmd.charges.ChargeSolver._pcg` step for step (the same scalars, the
same stopping rule, the same error when it does not converge); its vectors live on the device
and each iteration brings six numbers to the host. The set-up is the CPU solver's own: the
variable atoms, chi, J, psi, the field, the target total charge, the Jacobi diagonal and, for
frozen electrodes without QEq atoms, the dense matrix A_vv (built once on the host from the same
terms as the sum, then copied to the device: each CG product is one dense matrix-vector product).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from echemmd.charges import SolveInfo
from echemmd.errors import SimulationError
from echemmd.kernels.cuda import charges as ops
from echemmd.kernels.cuda import ewald as ewald_kernels
from echemmd.kernels.cuda import reduce


class DeviceChargeSolver:
    """:class:`echemmd.charges.ChargeSolver` on the device.

    Parameters
    ----------
    solver : echemmd.charges.ChargeSolver
        The CPU solver (its set-up, parameters and warm-start history are taken over).
    system : echemmd.System
        The starting state (host).
    ewald : echemmd.gpu.terms.DeviceEwald
        The device Ewald term whose potential gives A·v.
    """

    def __init__(self, solver, system, ewald):
        if ewald is None:
            raise SimulationError("the device charge solver needs the device Ewald term")
        self.cpu = solver
        self.name = solver.name
        self.ewald = ewald
        if solver._numbers is None or not np.array_equal(solver._numbers, system.numbers):
            solver.setup(system)
        v = solver.variable
        n = system.n_atoms
        self.n_variable = v.size
        self.tolerance = solver.tolerance
        self.max_iterations = solver.max_iterations
        self._v = cuda.to_device(np.ascontiguousarray(v, dtype=np.int64))
        fixed_mask = np.zeros(n, dtype=bool)
        fixed_mask[solver.fixed] = True
        fixed_q = np.where(fixed_mask, system.charges, 0.0)
        self._fixed_charges = cuda.to_device(np.ascontiguousarray(fixed_q))
        self._has_fixed = bool(np.any(fixed_q != 0.0))
        self._q_target = solver._total - float(system.charges[solver.fixed].sum())
        targets = np.zeros(n, dtype=bool)
        targets[v] = True
        self._targets = cuda.to_device(targets)
        self._chi_v = cuda.to_device(np.ascontiguousarray(solver._chi[v]))
        self._psi_v = cuda.to_device(np.ascontiguousarray(solver._psi[v]))
        self._hard_v = cuda.to_device(np.ascontiguousarray(solver._hardness[v]))
        self._chi = cuda.to_device(np.ascontiguousarray(solver._chi))
        self._psi = cuda.to_device(np.ascontiguousarray(solver._psi))
        self._hard = cuda.to_device(np.ascontiguousarray(solver._hardness))
        self._field = cuda.to_device(np.ascontiguousarray(solver.field))
        # The Jacobi preconditioner and, for frozen electrodes, the dense matrix: the CPU's, once.
        dense = solver.dense_matrix(system, None)
        self._dense = None if dense is None else cuda.to_device(np.ascontiguousarray(dense))
        inv_m = 1.0 / (np.diag(dense).copy() if dense is not None else solver.diagonal(system, None))
        if np.any(inv_m <= 0):
            raise SimulationError("the charge solver's matrix has a non-positive diagonal: give every variable "
                                  "atom a Gaussian width sigma > 0 (and QEq atoms a hardness J >= 0)")
        self._inv_m = cuda.to_device(inv_m)
        self._sum_inv_m = float(inv_m.sum())
        self.electrodes = [(e.name, cuda.to_device(np.asarray(e.indices, dtype=np.int64))) for e in solver.electrodes]
        # Work vectors.
        nv = v.size
        self._full = cuda.to_device(np.zeros(n))
        self._current = cuda.device_array(nv)
        self._q = cuda.device_array(nv)
        self._b = cuda.device_array(nv)
        self._r = cuda.device_array(nv)
        self._g = cuda.device_array(nv)
        self._d = cuda.device_array(nv)
        self._hd = cuda.device_array(nv)
        self._phi_v = cuda.device_array(nv)
        self._zero_v = cuda.to_device(np.zeros(nv))
        self._pos_v = cuda.device_array((nv, 3))
        self._dot_scratch = cuda.device_array((reduce.MAX_LANES, 1))
        self._term_forces = cuda.device_array((n, 3))
        self._term_rows = cuda.device_array((n, 7))
        self._previous = None if solver.previous is None else cuda.to_device(np.asarray(solver.previous))
        self.resume = bool(solver.resume)
        self.last = None
        self._charges_ref = None

    # ------------------------------------------------------------------ checkpoint state
    @property
    def previous(self):
        """The variable charges of the solve before the last (host copy, e), or None."""
        return None if self._previous is None else self._previous.copy_to_host()

    # ------------------------------------------------------------------ the solve
    def _dot(self, a, b) -> float:
        return ops.host_dot(a, b, self._dot_scratch)

    def _apply(self, state, neighbors, d, out):
        """out = (A_vv + J) d."""
        if self._dense is not None:
            ewald_kernels.dense_matvec(self._dense, d, out=out, symmetric=True)
            return out
        ops.scatter(d, self._v, self._full)
        phi = self.ewald.potential(state, neighbors, self._full)
        ops.gather(phi, self._v, self._phi_v)
        ops.residual(self._phi_v, self._hard_v, d, self._zero_v, out)
        return out

    def _right_hand_side(self, state, neighbors):
        phi = self._zero_v
        if self._has_fixed:
            phi_all = self.ewald.potential(state, neighbors, self._fixed_charges, targets=self._targets)
            phi = ops.gather(phi_all, self._v, self._phi_v)
        ops.gather(state.positions, self._v, self._pos_v)
        ops.right_hand_side(self._chi_v, self._psi_v, phi, self._pos_v, self._field, self._b)
        return self._b

    def solve(self, state, neighbors) -> SolveInfo:
        """Solve the variable charges in place (``state.charges``), warm-started as the CPU solver does."""
        q = self._q
        self._charges_ref = state.charges
        ops.gather(state.charges, self._v, self._current)
        resuming, self.resume = self.resume, False
        if resuming:
            q.copy_to_device(self._current)
        elif self._previous is not None:
            ops.extrapolate(self._current, self._previous, q)
        else:
            q.copy_to_device(self._current)
        if not resuming:
            shift = (self._q_target - ops.host_sum(q)) / self._sum_inv_m
            ops.axpy(q, shift, self._inv_m)
        b = self._right_hand_side(state, neighbors)
        info = self._pcg(state, neighbors, b, q, resuming)
        self.last = info
        if resuming and info.iterations == 0:
            return info
        if self._previous is None:
            self._previous = cuda.device_array(self.n_variable)
        self._previous.copy_to_device(self._current)
        ops.scatter(q, self._v, state.charges)
        return info

    def _pcg(self, state, neighbors, b, q, resuming):
        inv_m, s_inv = self._inv_m, self._sum_inv_m
        r, g, d, hd = self._r, self._g, self._d, self._hd
        nv = self.n_variable
        self._apply(state, neighbors, q, r)
        ops.axpy(r, -1.0, b)
        mu = self._dot(inv_m, r) / s_inv
        ops.add_scalar(r, -mu)
        residual = math.sqrt(self._dot(r, r) / nv)
        history = [residual]
        ops.project(r, inv_m, self._dot(inv_m, r) / s_inv, g)
        rg = self._dot(r, g)
        d.copy_to_device(g)
        ops.new_direction(d, g, 0.0)  # d = -g
        it = 0
        if resuming and residual <= self.tolerance:
            return SolveInfo(iterations=0, residual=residual, multiplier=mu, converged=True, history=history)
        while residual > self.tolerance and it < self.max_iterations:
            self._apply(state, neighbors, d, hd)
            dhd = self._dot(d, hd)
            if dhd <= 0:
                raise SimulationError(f"the charge solver's matrix is not positive definite on the constraint "
                                      f"(d.A.d = {dhd:.3g} at iteration {it}); check the Gaussian widths")
            step = rg / dhd
            ops.axpy(q, step, d)
            ops.axpy(r, step, hd)
            shift = self._dot(inv_m, r) / s_inv
            ops.add_scalar(r, -shift)
            mu += shift
            ops.project(r, inv_m, self._dot(inv_m, r) / s_inv, g)
            rg_new = self._dot(r, g)
            ops.new_direction(d, g, rg_new / rg)
            ops.remove_along(d, inv_m, ops.host_sum(d) / s_inv)
            rg = rg_new
            it += 1
            residual = math.sqrt(self._dot(r, r) / nv)
            history.append(residual)
        info = SolveInfo(iterations=it, residual=residual, multiplier=mu, converged=residual <= self.tolerance,
                         history=history)
        if not info.converged:
            self.last = info
            raise SimulationError(f"charge solve did not converge: RMS residual {residual:.3g} V after {it} "
                                  f"iterations (tolerance {self.tolerance:.3g} V, max_iterations "
                                  f"{self.max_iterations})")
        ops.axpy(q, (self._q_target - ops.host_sum(q)) / s_inv, inv_m)  # exact total despite round-off
        return info

    # ------------------------------------------------------------------ the energy term
    forces_only = False

    def compute(self, state, neighbors, energy_virial=True):
        """Energy of chi, J, psi and the field at the current charges, and the field forces (device)."""
        return ops.charge_term(state.charges, state.positions, self._chi, self._hard, self._psi, self._field,
                               self._term_forces, self._term_rows)

    def observables(self) -> dict:
        """Electrode charges (e) and the last solve's iterations and residual (V); a few numbers from the device."""
        out = {}
        for name, idx in self.electrodes if self._charges_ref is not None else ():
            out[f"charge_{name}"] = ops.host_sum(ops.gather(self._charges_ref, idx, cuda.device_array(idx.shape[0])))
        if self.last is not None:
            out["cg_iterations"] = self.last.iterations
            out["cg_residual"] = self.last.residual
        return out

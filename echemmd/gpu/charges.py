"""The charge solver on the device: projected, Jacobi-preconditioned CG with A·v from the device Ewald sum.

The iteration is :meth:`echemmd.charges.ChargeSolver._pcg` step for step (the same scalars, the
same stopping rule, the same error when it does not converge); its vectors and its scalars live
on the device (``kernels.cuda.charges``: the dot products reduce into a scalar vector that the
vector kernels read their coefficients from), and each iteration brings one read of three
numbers to the host (the residual's sum of squares, d.A.d and the multiplier) for the stopping
rule. The set-up is the CPU solver's own: the
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
        scalars = np.zeros(ops.N_SCALARS)
        scalars[ops.S_INV] = self._sum_inv_m
        scalars[ops.ONE] = 1.0
        scalars[ops.TARGET] = self._q_target
        self._s = cuda.to_device(scalars)
        self._s_host = cuda.pinned_array(ops.N_READ)
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
    def _dot_into(self, slot, a, b):
        """s[slot] = a . b on the device."""
        reduce.dot(a, b, out=self._s[slot:slot + 1], scratch=self._dot_scratch)

    def _read(self):
        """(r.r, d.A.d, mu) from the device: the iteration's one read."""
        self._s[:ops.N_READ].copy_to_host(self._s_host)
        return float(self._s_host[0]), float(self._s_host[1]), float(self._s_host[2])

    def _restore_total(self, q):
        """q += inv_m (target - sum q) / sum(inv_m): the feasible start, and the exact total at the end."""
        reduce.sum_columns(q, out=self._s[ops.SUM:ops.SUM + 1], scratch=self._dot_scratch)
        ops.set_difference(self._s, ops.TMP, ops.TARGET, ops.SUM)
        ops.axpy_ratio(q, self._s, ops.TMP, ops.S_INV, self._inv_m)

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
            self._restore_total(q)
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
        inv_m, sc = self._inv_m, self._s
        r, g, d, hd = self._r, self._g, self._d, self._hd
        nv = self.n_variable
        self._apply(state, neighbors, q, r)
        ops.axpy(r, -1.0, b)
        # mu = inv_m.r / sum(inv_m); r -= mu (see the CPU's _pcg for why r is kept free of it).
        self._dot_into(ops.MR, inv_m, r)
        ops.set_ratio(sc, ops.MU, ops.MR, ops.S_INV)
        ops.subtract_ratio(r, sc, ops.MR, ops.S_INV)
        self._dot_into(ops.MR, inv_m, r)
        ops.project_ratio(r, inv_m, sc, ops.MR, ops.S_INV, g)
        rg, rg_new = ops.RG_A, ops.RG_B
        self._dot_into(rg, r, g)
        d.copy_to_device(g)
        ops.new_direction_ratio(d, g, sc, ops.ZERO, ops.ONE)  # d = -g
        self._dot_into(ops.RR, r, r)
        rr, _, mu = self._read()
        residual = math.sqrt(rr / nv)
        history = [residual]
        it = 0
        if resuming and residual <= self.tolerance:
            return SolveInfo(iterations=0, residual=residual, multiplier=mu, converged=True, history=history)
        while residual > self.tolerance and it < self.max_iterations:
            self._apply(state, neighbors, d, hd)
            self._dot_into(ops.DHD, d, hd)
            ops.axpy_ratio(q, sc, rg, ops.DHD, d)  # step = rg / d.A.d
            ops.axpy_ratio(r, sc, rg, ops.DHD, hd)
            self._dot_into(ops.MR, inv_m, r)
            ops.subtract_ratio(r, sc, ops.MR, ops.S_INV)
            ops.add_ratio(sc, ops.MU, ops.MR, ops.S_INV)
            self._dot_into(ops.MR, inv_m, r)
            ops.project_ratio(r, inv_m, sc, ops.MR, ops.S_INV, g)
            self._dot_into(rg_new, r, g)
            ops.new_direction_ratio(d, g, sc, rg_new, rg)
            reduce.sum_columns(d, out=sc[ops.SUM:ops.SUM + 1], scratch=self._dot_scratch)
            ops.remove_along_ratio(d, inv_m, sc, ops.SUM, ops.S_INV)
            rg, rg_new = rg_new, rg
            self._dot_into(ops.RR, r, r)
            rr, dhd, mu = self._read()
            # Checked after the iteration's kernels (one read, not two): a non-positive d.A.d spoils
            # only the solver's own vectors, and the error stops the step before they are used.
            if not dhd > 0:
                raise SimulationError(f"the charge solver's matrix is not positive definite on the constraint "
                                      f"(d.A.d = {dhd:.3g} at iteration {it}); check the Gaussian widths")
            it += 1
            residual = math.sqrt(rr / nv)
            history.append(residual)
        info = SolveInfo(iterations=it, residual=residual, multiplier=mu, converged=residual <= self.tolerance,
                         history=history)
        if not info.converged:
            self.last = info
            raise SimulationError(f"charge solve did not converge: RMS residual {residual:.3g} V after {it} "
                                  f"iterations (tolerance {self.tolerance:.3g} V, max_iterations "
                                  f"{self.max_iterations})")
        self._restore_total(q)  # exact total despite round-off
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

"""Charge equilibration and constant-potential electrodes by projected preconditioned CG.

With variable charges q_v (QEq atoms and electrode atoms) and fixed charges q_f, the
charges minimise (DESIGN §6)

    U(q) = E_elec(q) + sum_QEq (chi_i q_i + J_i q_i^2 / 2) - sum_electrodes psi_e q_i
           - sum_i q_i E_ext . r_i

subject to sum_i q_i = Q_total. E_elec = q.A.q / 2 (Ewald, :mod:`echemmd.electrostatics`),
so the minimum solves

    (A_vv + diag(J)) q_v = -chi + psi + E_ext . r_v - A_vf q_f + mu 1,   1.q_v = Q_v

with mu the Lagrange multiplier (the chemical potential of the electrons, V). The system
is solved matrix-free: every product A.d is one Ewald potential evaluation of the charges
d; a Jacobi preconditioner and the M-weighted projection onto the constraint keep the
iterates feasible (Gould, Hribar and Nocedal 2001). The field enters the right-hand side
only. Forces are those of the electrostatics at the converged charges plus q_i E_ext
(Hellmann–Feynman: U is stationary in q).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from echemmd.errors import InputError, SimulationError
from echemmd.forcefield import Contribution
from echemmd.kernels import ewald as ewald_kernels
from echemmd.units import KE


@dataclass
class Electrode:
    """Atoms held at one electric potential.

    Attributes
    ----------
    name : str
    indices : ndarray of int
        Atoms of the electrode.
    potential : float
        Electric potential psi, V.
    sigma : float
        Gaussian width of the electrode charges, Å (> 0).
    """

    name: str
    indices: np.ndarray
    potential: float
    sigma: float


@dataclass
class QEqParameters:
    """Charge-equilibration parameters of one element.

    Attributes
    ----------
    chi : float
        Electronegativity, eV/e (V).
    hardness : float
        Hardness J, eV/e^2.
    sigma : float
        Gaussian width, Å.
    """

    chi: float
    hardness: float
    sigma: float


@dataclass
class SolveInfo:
    """What one charge solve did."""

    iterations: int
    residual: float
    multiplier: float
    converged: bool
    history: list = field(default_factory=list)


class ChargeSolver:
    """Solve the variable charges of a system before every force evaluation.

    Parameters
    ----------
    ewald : echemmd.electrostatics.Ewald
        The electrostatics (its widths must give the electrode and QEq atoms their sigma).
    electrodes : list of Electrode
    qeq : dict of str to QEqParameters
        QEq parameters per element; atoms of these elements (not in an electrode) are variable.
    field : (3,) array
        Applied uniform field E_ext, V/Å, only along non-periodic directions.
    total_charge : float or None
        Total charge of the system, e; None keeps the starting structure's total.
    tolerance : float
        Convergence when the RMS projected residual (the spread of dU/dq_i over the variable
        atoms) is below this, V.
    max_iterations : int
        Non-convergence after this many iterations is an error.
    name : str
        Name of the energy term for chi, J, psi and the field.
    """

    #: Reads the half list through the Ewald sum (the dense matrix derives the full list once).
    neighbor_list = "half"
    #: Largest number of variable atoms for which the dense matrix is cached (8 bytes n^2: 200 MB).
    DENSE_MAX = 5000

    def __init__(self, ewald, electrodes=(), qeq=None, field=(0.0, 0.0, 0.0), total_charge=None,
                 tolerance=1e-8, max_iterations=1000, name="charge", cache_matrix=True):
        self.ewald = ewald
        self.electrodes = list(electrodes)
        self.qeq = dict(qeq or {})
        self.field = np.asarray(field, dtype=np.float64).reshape(3)
        self.total_charge = total_charge
        if tolerance <= 0:
            raise InputError(f"charge solver tolerance must be > 0 V, got {tolerance}")
        self.tolerance = float(tolerance)
        self.max_iterations = int(max_iterations)
        self.name = name
        self.cache_matrix = bool(cache_matrix)
        self._dense = None
        self._dense_key = None
        self._dense_active = False
        self.cutoff = 0.0  # needs no neighbour list of its own
        self.last = None
        #: Variable charges of the solve before the last one (the predictor's history; checkpointed).
        self.previous = None
        #: Set after restoring a checkpoint: the next solve keeps the charges if they are converged.
        self.resume = False
        self._numbers = None

    # ------------------------------------------------------------------ setup
    def setup(self, system):
        """Work out the variable atoms, the constant parts of the right-hand side and the constraint."""
        n = system.n_atoms
        kind = np.zeros(n, dtype=np.int64)  # 0 fixed, 1 QEq, 2 electrode
        psi = np.zeros(n)
        chi = np.zeros(n)
        hard = np.zeros(n)
        for e in self.electrodes:
            idx = np.asarray(e.indices, dtype=np.int64)
            if idx.size == 0:
                raise InputError(f"electrode {e.name!r} has no atoms")
            if np.any(kind[idx] == 2):
                raise InputError(f"electrode {e.name!r} shares atoms with another electrode")
            if e.sigma <= 0:
                raise InputError(f"electrode {e.name!r}: sigma must be > 0 Å (Gaussian charges), got {e.sigma}")
            kind[idx] = 2
            psi[idx] = e.potential
        for el, p in self.qeq.items():
            mask = (np.array(system.symbols) == el) & (kind == 0)
            kind[mask] = 1
            chi[mask] = p.chi
            hard[mask] = p.hardness
        self.variable = np.nonzero(kind > 0)[0]
        if self.variable.size == 0:
            raise InputError("the charge solver has no variable atoms (no electrode and no QEq element present)")
        self.kind = kind
        self.fixed = np.nonzero(kind == 0)[0]
        self._chi, self._psi, self._hardness = chi, psi, hard
        for k in range(3):
            if self.field[k] != 0.0 and system.pbc[k]:
                raise InputError(f"an applied field along a periodic direction (component {k} = {self.field[k]} "
                                 "V/Å) is not defined; apply it along the non-periodic z of a slab")
        total = float(system.charges.sum()) if self.total_charge is None else float(self.total_charge)
        self._total = total
        self._numbers = system.numbers.copy()

    def widths(self, system) -> np.ndarray:
        """Gaussian width of each atom implied by the electrodes and QEq elements, Å (0 elsewhere)."""
        sigma = np.zeros(system.n_atoms)
        for el, p in self.qeq.items():
            sigma[np.array(system.symbols) == el] = p.sigma
        for e in self.electrodes:
            sigma[np.asarray(e.indices, dtype=np.int64)] = e.sigma
        return sigma

    # ------------------------------------------------------------------ the solve
    def dense_matrix(self, system, neighbors=None, always=False):
        """A_vv + J as a dense matrix, eV/e^2, or None when it is not cached.

        ``always``: build it whatever the atoms do (a fixed geometry, e.g. a training frame);
        the solve itself keeps using it only under the conditions below.

        When every variable atom is frozen (electrodes that do not move, no QEq atoms), the
        matrix depends only on their positions, the cell, the widths and the Ewald parameters,
        so it is built once (the "mat_inv" idea of LAMMPS' ELECTRODE package) and every CG
        product becomes a small dense matrix-vector product instead of an Ewald sum over all
        atoms. Built from the same terms as the sum: the real-space kernel over the neighbour
        list, reciprocal sum 2 sum_k w_k cos(k . (r_i - r_j)), Gaussian self terms, the
        neutralising background and the slab correction's second derivatives.
        """
        v = self.variable
        if not always and (not self.cache_matrix or v.size > self.DENSE_MAX or not np.all(system.frozen[v])
                           or np.any(self.kind[v] == 1)):
            return None
        ew = self.ewald
        ew._ensure_setup(system)
        p = ew.params
        pos_v = np.ascontiguousarray(system.positions[v])
        key = (pos_v.tobytes(), system.cell.tobytes(), p.alpha, p.r_cut, p.k_cut, ew._sigma.tobytes(),
               v.tobytes(), ew.switch, p.slab)
        if self._dense_key == key:
            return self._dense
        sig = ew._sigma
        # Reciprocal part: 2 sum_k w_k [cos k.r_i cos k.r_j + sin k.r_i sin k.r_j].
        phase = pos_v @ ew._kvec.T
        c, s_ = np.cos(phase), np.sin(phase)
        w = ew._weight
        a = 2.0 * ((c * w) @ c.T + (s_ * w) @ s_.T)
        self_term = np.where(sig[v] > 0, 1.0 / (2.0 * math.sqrt(math.pi) * np.where(sig[v] > 0, sig[v], 1.0)), 0.0)
        a[np.diag_indices_from(a)] += 2.0 * KE * (self_term - p.alpha / math.sqrt(math.pi))
        a += -KE * math.pi / (p.volume * p.alpha**2)
        if p.slab:
            z = pos_v[:, 2]
            lz = p.cell[2, 2]
            zz = z * z
            a += (KE * 2.0 * math.pi / p.volume) * (2.0 * np.outer(z, z) - zz[:, None] - zz[None, :] - lz * lz / 6.0)
        nl = ew._neighbors(system, neighbors)
        first, neigh, shifts = nl.full
        slot = np.full(system.n_atoms, -1, dtype=np.int64)
        slot[v] = np.arange(v.size)
        r_on, r_off = ew.switch if ew.switch else (0.0, 0.0)
        ewald_kernels.dense_real_space(np.ascontiguousarray(system.positions), np.ascontiguousarray(system.cell),
                                       np.ascontiguousarray(sig), first, neigh, shifts, slot, p.alpha, p.r_cut,
                                       r_on, r_off, KE, a.reshape(a.shape[0], a.shape[1], 1), False)
        a[np.diag_indices_from(a)] += self._hardness[v]
        self._dense, self._dense_key = 0.5 * (a + a.T), key
        return self._dense

    def dense_matrix_gradient(self, system, neighbors=None):
        """D_ij = dA_ij/dx_i among the variable atoms, eV/(e^2 Å), shape (n_variable, n_variable, 3).

        The position derivative of :meth:`dense_matrix` (the hardness is constant). Every term
        of A_ij depends on x_i - x_j only, so dA_ij/dx_j = -D_ij and D_ii = 0: the reciprocal
        part -2 sum_k w_k k sin(k . (x_i - x_j)), the slab part -(4 pi k_e / V) (z_i - z_j) e_z
        and the real-space kernel's derivative. With it, the Jacobian of the potentials
        phi = A q at fixed q is dphi_i/dx_k = -D_ik q_k (k != i) and sum_j D_ij q_j (k = i).
        """
        v = self.variable
        ew = self.ewald
        ew._ensure_setup(system)
        p = ew.params
        pos_v = np.ascontiguousarray(system.positions[v])
        phase = pos_v @ ew._kvec.T
        c, s_ = np.cos(phase), np.sin(phase)
        D = np.empty((v.size, v.size, 3))
        for a in range(3):
            wk = ew._weight * ew._kvec[:, a]
            D[:, :, a] = -2.0 * ((s_ * wk) @ c.T - (c * wk) @ s_.T)
        if p.slab:
            z = pos_v[:, 2]
            D[:, :, 2] -= (KE * 4.0 * math.pi / p.volume) * (z[:, None] - z[None, :])
        nl = ew._neighbors(system, neighbors)
        first, neigh, shifts = nl.full
        slot = np.full(system.n_atoms, -1, dtype=np.int64)
        slot[v] = np.arange(v.size)
        r_on, r_off = ew.switch if ew.switch else (0.0, 0.0)
        ewald_kernels.dense_real_space(np.ascontiguousarray(system.positions), np.ascontiguousarray(system.cell),
                                       np.ascontiguousarray(ew._sigma), first, neigh, shifts, slot, p.alpha, p.r_cut,
                                       r_on, r_off, KE, D, True)
        idx = np.arange(v.size)
        D[idx, idx, :] = 0.0
        return D

    def _apply(self, system, neighbors, d_variable):
        """(A_vv + J) d for d on the variable atoms."""
        if self._dense is not None and self._dense_active:
            return self._dense @ d_variable
        full = np.zeros(system.n_atoms)
        full[self.variable] = d_variable
        phi = self.ewald.potential(system, neighbors, charges=full)
        return phi[self.variable] + self._hardness[self.variable] * d_variable

    def diagonal(self, system, neighbors):
        """Diagonal of A_vv + J, eV/e^2 (the Jacobi preconditioner).

        It depends on the cell, the Ewald parameters and the widths only, so it is cached.
        """
        ew = self.ewald
        ew._ensure_setup(system)
        p = ew.params
        key = (system.cell.tobytes(), p.alpha, p.r_cut, p.k_cut, ew._sigma.tobytes(), self.variable.tobytes())
        if getattr(self, "_diagonal_key", None) == key:
            return self._diagonal
        sig = ew._sigma
        v = self.variable
        # Reciprocal part: a unit charge alone has |S(k)|^2 = 1 for every k.
        d = np.full(v.size, 2.0 * float(ew._weight.sum()))
        self_term = np.where(sig[v] > 0, 1.0 / (2.0 * math.sqrt(math.pi) * np.where(sig[v] > 0, sig[v], 1.0)), 0.0)
        d += 2.0 * KE * (self_term - p.alpha / math.sqrt(math.pi))
        d += -2.0 * KE * math.pi / (2.0 * p.volume * p.alpha**2)
        if p.slab:
            lz = p.cell[2, 2]
            d += -(KE * 2.0 * math.pi / p.volume) * lz * lz / 6.0
        # A charge's own periodic images inside the real-space cutoff (only in small cells).
        nl = ew._neighbors(system, neighbors)
        first, neigh, shifts = nl.full
        owner = np.repeat(np.arange(system.n_atoms), np.diff(first))
        r_on, r_off = ew.switch if ew.switch else (0.0, 0.0)
        slot = np.full(system.n_atoms, -1)
        slot[v] = np.arange(v.size)
        for q in np.nonzero((neigh == owner) & (slot[owner] >= 0))[0]:
            i = owner[q]
            r = float(np.linalg.norm(shifts[q] @ system.cell))
            if r < p.r_cut:
                f, _ = ewald_kernels.real_space_pair(r, p.alpha, 2.0 * sig[i], r_on, r_off)
                d[slot[i]] += KE * f
        self._diagonal = d + self._hardness[v]
        self._diagonal_key = key
        return self._diagonal

    def right_hand_side(self, system, neighbors):
        """b = -chi + psi + E_ext . r - (A q_f)_v, V."""
        v = self.variable
        b = -self._chi[v] + self._psi[v] + system.positions[v] @ self.field
        if self.fixed.size:
            fixed_charges = np.zeros(system.n_atoms)
            fixed_charges[self.fixed] = system.charges[self.fixed]
            if np.any(fixed_charges != 0.0):
                b -= self.ewald.potential_at(system, v, neighbors, charges=fixed_charges)
        return b

    def solve(self, system, neighbors=None, initial=None) -> SolveInfo:
        """Solve the variable charges in place (``system.charges``), warm-started from ``initial``."""
        if self._numbers is None or not np.array_equal(self._numbers, system.numbers):
            self.setup(system)
        v = self.variable
        q_v_target = self._total - float(system.charges[self.fixed].sum())
        current = np.array(system.charges[v], dtype=np.float64)
        resuming, self.resume = self.resume, False
        if resuming:
            # The charges of a checkpoint were converged at these positions: keep them bit for bit
            # when they still are, so a restarted run continues exactly.
            q = current
        elif initial is not None:
            q = np.array(initial, dtype=np.float64)
        elif self.previous is not None and self.previous.shape == current.shape:
            # Linear extrapolation from the last two solutions: charges follow the atoms smoothly,
            # so this starts the CG an order closer than the last charges alone.
            q = 2.0 * current - self.previous
        else:
            q = current
        inv_m = self._preconditioner(system, neighbors)
        # Feasible start: the M-weighted shift onto the constraint plane.
        if not resuming:
            q += inv_m * (q_v_target - q.sum()) / inv_m.sum()
        b = self.right_hand_side(system, neighbors)
        q, info = self._pcg(system, neighbors, b, q, q_v_target, inv_m, resuming, "charge solve")
        self.last = info
        if resuming and info.iterations == 0:
            return info  # the checkpoint's charges (and predictor history) stand as they are
        if initial is None:  # an explicit start (a cold solve, a test) leaves the MD history alone
            self.previous = current
        system.charges[v] = q
        return info

    def _preconditioner(self, system, neighbors):
        """1 / diag(A_vv + J) (the Jacobi preconditioner), 1/(eV/e^2)."""
        self._dense_active = self.dense_matrix(system, neighbors) is not None
        inv_m = 1.0 / (np.diag(self._dense).copy() if self._dense_active else self.diagonal(system, neighbors))
        if np.any(inv_m <= 0):
            raise SimulationError("the charge solver's matrix has a non-positive diagonal: give every variable "
                                  "atom a Gaussian width sigma > 0 (and QEq atoms a hardness J >= 0)")
        return inv_m

    def _pcg(self, system, neighbors, b, q, target, inv_m, resuming=False, what="charge solve"):
        """Projected preconditioned CG for (A_vv + J) x = b + mu 1 with sum(x) = target.

        ``q`` is the feasible start (modified in place). Returns the solution (with the exact
        sum restored) and a :class:`SolveInfo` whose multiplier is mu, V. Non-convergence is a
        SimulationError naming the residual.
        """
        r = self._apply(system, neighbors, q) - b  # gradient of U in q_v, V
        # r is kept free of its component along 1 (the Lagrange multiplier mu, accumulated apart):
        # that leaves the preconditioned projection g unchanged and stops round-off in mu from
        # stalling the iteration (the "residual update" of Gould, Hribar and Nocedal).
        mu = float(np.dot(inv_m, r) / inv_m.sum())
        r -= mu
        history = [float(np.sqrt(np.mean(r * r)))]
        g = inv_m * r
        g -= inv_m * (g.sum() / inv_m.sum())
        rg = float(np.dot(r, g))
        d = -g
        it = 0
        residual = history[0]
        if resuming and residual <= self.tolerance:
            return q, SolveInfo(iterations=0, residual=residual, multiplier=mu, converged=True, history=history)
        while residual > self.tolerance and it < self.max_iterations:
            hd = self._apply(system, neighbors, d)
            dhd = float(np.dot(d, hd))
            if dhd <= 0:
                raise SimulationError(f"the charge solver's matrix is not positive definite on the constraint "
                                      f"(d.A.d = {dhd:.3g} at iteration {it}); check the Gaussian widths")
            step = rg / dhd
            q += step * d
            r += step * hd
            shift = float(np.dot(inv_m, r) / inv_m.sum())
            r -= shift
            mu += shift
            g = inv_m * r
            g -= inv_m * (g.sum() / inv_m.sum())
            rg_new = float(np.dot(r, g))
            d = -g + (rg_new / rg) * d
            # Keep d on the constraint plane: the uniform mode of a slab or charged cell has a negative
            # eigenvalue, so round-off along it would grow without this.
            d -= inv_m * (d.sum() / inv_m.sum())
            rg = rg_new
            it += 1
            residual = float(np.sqrt(np.mean(r * r)))
            history.append(residual)
        info = SolveInfo(iterations=it, residual=residual, multiplier=mu, converged=residual <= self.tolerance,
                         history=history)
        if not info.converged:
            if what == "charge solve":
                self.last = info
            raise SimulationError(f"{what} did not converge: RMS residual {residual:.3g} V after {it} "
                                  f"iterations (tolerance {self.tolerance:.3g} V, max_iterations "
                                  f"{self.max_iterations})")
        q += inv_m * (target - q.sum()) / inv_m.sum()  # exact total despite round-off
        return q, info

    def set_electronegativity(self, chi):
        """Per-atom electronegativities of the QEq atoms (a 4G model's chi_i = NN(G_i)), eV/e.

        Parameters
        ----------
        chi : array (N,)
            Used for the QEq atoms; ignored for electrode and fixed atoms.
        """
        if self._numbers is None:
            raise RuntimeError("ChargeSolver.setup(system) must run before set_electronegativity")
        chi = np.asarray(chi, dtype=np.float64).reshape(-1)
        if chi.shape != self._chi.shape:
            raise InputError(f"electronegativities: {chi.size} values for {self._chi.size} atoms")
        qeq = self.kind == 1
        self._chi = np.where(qeq, chi, 0.0)

    def solve_adjoint(self, system, neighbors, rhs, initial=None) -> tuple:
        """Solve the adjoint system (A_vv + J) lambda = rhs + nu 1 with sum(lambda) = 0.

        The same matrix and projected CG as :meth:`solve` (so lambda = P rhs with P the
        constrained inverse, dq/dx = -P d(grad U)/dx): with rhs = dE/dq_v it turns the charge
        response of any energy E(q) into lambda^T d(grad_q U)/dx without a dq/dx matrix.
        Warm-started from the last adjoint solution.

        Parameters
        ----------
        rhs : array (n_variable,)
            Right-hand side on the variable atoms, V (eV/e).
        initial : array, optional
            Start; default the previous adjoint solution, else 0.

        Returns
        -------
        lam : ndarray (n_variable,)
            e (charge per unit of rhs, e^2/eV times V).
        info : SolveInfo
        """
        if self._numbers is None or not np.array_equal(self._numbers, system.numbers):
            raise RuntimeError("ChargeSolver.solve must run (for this system) before solve_adjoint")
        v = self.variable
        rhs = np.asarray(rhs, dtype=np.float64).reshape(-1)
        if rhs.shape != (v.size,):
            raise InputError(f"adjoint right-hand side: {rhs.size} values for {v.size} variable atoms")
        if initial is not None:
            lam = np.array(initial, dtype=np.float64)
        elif getattr(self, "_adjoint_last", None) is not None and self._adjoint_last.shape == (v.size,):
            lam = self._adjoint_last.copy()
        else:
            lam = np.zeros(v.size)
        inv_m = self._preconditioner(system, neighbors)
        # After a checkpoint restore the stored solution is kept bit for bit when it is still converged.
        resuming, self.resume_adjoint = getattr(self, "resume_adjoint", False) and initial is None, False
        if not resuming:
            lam -= inv_m * lam.sum() / inv_m.sum()
        lam, info = self._pcg(system, neighbors, rhs, lam, 0.0, inv_m, resuming, "adjoint charge solve")
        self._adjoint_last = lam.copy()
        self.last_adjoint = info
        return lam, info

    # ------------------------------------------------------------------ the energy term
    def compute(self, system, neighbors) -> Contribution:
        """Energy of chi, J, psi and the field at the current charges, and the field forces."""
        if self._numbers is None or not np.array_equal(self._numbers, system.numbers):
            self.setup(system)
        q = system.charges
        energy = float(np.dot(self._chi, q) + 0.5 * np.dot(self._hardness, q * q) - np.dot(self._psi, q)
                       - np.dot(q, system.positions @ self.field))
        forces = np.outer(q, self.field)
        # W = sum_i r_i (x) F_i for a one-body external force; stress of a field is not defined in bulk.
        virial = np.einsum("ia,ib->ab", forces, system.positions)
        extra = self.observables(system)
        return Contribution(energy, forces, virial, {self.name: energy}, extra)

    def observables(self, system) -> dict:
        """Electrode charges (e) and the last solve's iterations and residual (V)."""
        out = {}
        for e in self.electrodes:
            out[f"charge_{e.name}"] = float(system.charges[np.asarray(e.indices, dtype=np.int64)].sum())
        if self.last is not None:
            out["cg_iterations"] = self.last.iterations
            out["cg_residual"] = self.last.residual
        return out


class FieldOnly:
    """A uniform applied field on fixed charges (no charge solve): energy -sum q E.r, forces q E."""

    cutoff = 0.0
    neighbor_list = "half"  # uses none

    def __init__(self, field, name="field"):
        self.field = np.asarray(field, dtype=np.float64).reshape(3)
        self.name = name

    def compute(self, system, neighbors) -> Contribution:
        for k in range(3):
            if self.field[k] != 0.0 and system.pbc[k]:
                raise InputError(f"an applied field along a periodic direction (component {k}) is not defined")
        q = system.charges
        forces = np.outer(q, self.field)
        energy = -float(np.dot(q, system.positions @ self.field))
        return Contribution(energy, forces, np.einsum("ia,ib->ab", forces, system.positions), {self.name: energy})

"""Ewald electrostatics of Gaussian charges in bulk and slab cells, with the short-range switch.

    E = E_real + E_reciprocal + E_self + E_background + E_slab

* real space (DESIGN §6): k_e sum_{i<j, images} q_i q_j [erfc(alpha r) - erfc(r/gamma_ij)]/r,
  gamma_ij = sqrt(2 (sigma_i^2 + sigma_j^2)); with the switch of §5 the pairs below r_off
  lose (1 - S(r)) k_e q_i q_j erf(r/gamma_ij)/r, the Coulomb a network already learned;
* reciprocal: k_e (2 pi / V) sum_{k != 0} exp(-k^2/(4 alpha^2))/k^2 |S(k)|^2, structure
  factors by recurrence over the reciprocal-lattice indices;
* self: k_e sum_i q_i^2 (1/(2 sqrt(pi) sigma_i) - alpha/sqrt(pi));
* neutralising background for a net charge Q: -k_e pi Q^2 / (2 V alpha^2);
* slab (pbc T T F): 3D Ewald in the cell padded along z by ``slab_factor``, plus the
  correction of Yeh and Berkowitz generalised by Ballenegger, Arnold and Cerda (2009):
  k_e (2 pi / V) [M_z^2 - Q sum_i q_i z_i^2 - Q^2 L_z^2 / 12] (V, L_z of the padded cell).

E is a quadratic form in the charges, E = q.A.q / 2, so the potential phi = dE/dq = A q
and the matrix-free product A v (for the charge solver) are the same computation.

Parameters (alpha, r_cut, k_cut) follow from a requested relative RMS force error with
the Kolafa–Perram estimates (relative to the force between two unit charges 1 Å apart,
as in LAMMPS); each may be set by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from echemmd.errors import InputError
from echemmd.forcefield import Contribution
from echemmd.kernels import ewald as kernels
from echemmd.units import KE

#: Cost of one real-space pair relative to one (atom, k-vector) term; sets the optimal alpha.
#: Timed (2026-12, 2 threads): 5, 10, 20, 40, 80 on 1e3 and 4e3 ions, bulk and slab; 20 was the
#: fastest or within the noise of it everywhere.
REAL_TO_RECIPROCAL_COST = 20.0
SQRT_PI = math.sqrt(math.pi)


@dataclass
class EwaldParameters:
    """The parameters an Ewald sum runs with (all chosen or validated by :meth:`Ewald.setup`).

    Attributes
    ----------
    alpha : float
        Splitting parameter, 1/Å.
    r_cut : float
        Real-space cutoff, Å.
    k_cut : float
        Reciprocal-space cutoff on |k| (k includes the 2 pi), 1/Å.
    kmax : tuple of int
        Largest reciprocal-lattice index along each reciprocal vector.
    n_kvectors : int
        Number of k-vectors in the half space.
    slab : bool
        Slab geometry (pbc T T F) with padding and correction.
    volume : float
        Volume of the (padded) periodic cell, Å^3.
    cell : ndarray (3, 3)
        The (padded) periodic cell, Å.
    accuracy : float or None
        Requested relative RMS force error.
    estimated_error : float
        Kolafa–Perram estimate of the relative RMS force error (real and reciprocal combined).
    """

    alpha: float
    r_cut: float
    k_cut: float
    kmax: tuple
    n_kvectors: int
    slab: bool
    volume: float
    cell: np.ndarray
    accuracy: float | None
    estimated_error: float

    def summary(self) -> str:
        """One line for people."""
        geometry = "slab" if self.slab else "bulk"
        return (f"Ewald ({geometry}): alpha = {self.alpha:.6g} 1/Å, r_cut = {self.r_cut:.4g} Å, "
                f"k_cut = {self.k_cut:.5g} 1/Å, kmax = {self.kmax}, {self.n_kvectors} k-vectors, "
                f"estimated relative force error {self.estimated_error:.2g}")


def real_space_error(q2, n, r_cut, volume, alpha):
    """Kolafa–Perram RMS real-space force error, eV/Å (q2 = k_e sum q^2, eV Å)."""
    return 2.0 * q2 * math.exp(-(alpha * r_cut) ** 2) / math.sqrt(n * r_cut * volume)


def reciprocal_error(q2, n, kmax, width, alpha):
    """Kolafa–Perram RMS reciprocal force error along one direction of width ``width`` Å, eV/Å."""
    if kmax <= 0:
        return math.inf
    return (2.0 * q2 * alpha / width * math.sqrt(1.0 / (math.pi * kmax * n))
            * math.exp(-(math.pi * kmax / (alpha * width)) ** 2))


def _perpendicular_widths(cell):
    volume = abs(np.linalg.det(cell))
    a, b, c = cell
    return volume / np.array([np.linalg.norm(np.cross(b, c)), np.linalg.norm(np.cross(c, a)),
                              np.linalg.norm(np.cross(a, b))])


class Ewald:
    """Ewald sum of Gaussian (or point) charges for bulk and slab cells.

    Parameters
    ----------
    accuracy : float
        Relative RMS force error used to choose whatever is not set by hand.
    alpha : float, optional
        Splitting parameter, 1/Å.
    r_cut : float, optional
        Real-space cutoff, Å.
    k_cut : float, optional
        Reciprocal cutoff on |k|, 1/Å.
    slab_factor : float
        Padding of the cell along z for slabs (LAMMPS ``kspace_modify slab``).
    sigma : dict of str to float, or array (N,), or None
        Gaussian widths per element or per atom, Å; None or 0 for point charges.
    switch : (r_on, r_off) or None
        Remove the short-range Coulomb below r_off with the C2 quintic switch (DESIGN §5).
    name : str
        Name of the energy term.
    """

    #: The real-space sum reads the half list.
    neighbor_list = "half"

    def __init__(self, accuracy=1e-6, alpha=None, r_cut=None, k_cut=None, slab_factor=3.0, sigma=None,
                 switch=None, name="coulomb"):
        if not (0.0 < accuracy < 1.0):
            raise InputError(f"electrostatics.accuracy must be in (0, 1), got {accuracy}")
        for key, value in (("alpha", alpha), ("r_cut", r_cut), ("k_cut", k_cut)):
            if value is not None and value <= 0:
                raise InputError(f"electrostatics.{key} must be > 0, got {value}")
        if slab_factor < 1.0:
            raise InputError(f"electrostatics.slab_factor must be >= 1, got {slab_factor}")
        if switch is not None:
            r_on, r_off = (float(v) for v in switch)
            if not (0.0 <= r_on < r_off):
                raise InputError(f"electrostatics.switch needs 0 <= r_on < r_off, got r_on = {r_on}, r_off = {r_off}")
            switch = (r_on, r_off)
        self.accuracy = float(accuracy)
        self.alpha_set, self.r_cut_set, self.k_cut_set = alpha, r_cut, k_cut
        self.slab_factor = float(slab_factor)
        self.sigma_spec = sigma
        self.switch = switch
        self.name = name
        self.params = None
        self._key = None
        self._sk_cache = None  # (positions, charges, S(k)) of the last potential_at

    # ------------------------------------------------------------------ parameters
    @property
    def cutoff(self) -> float:
        """Real-space cutoff, Å (parameters must have been set up)."""
        if self.params is None:
            raise RuntimeError("Ewald.setup(system) must run before the cutoff is known")
        return self.params.r_cut

    def widths(self, system) -> np.ndarray:
        """Gaussian width of each atom, Å."""
        spec = self.sigma_spec
        if spec is None:
            return np.zeros(system.n_atoms)
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - set(system.species))
            sig = np.array([float(spec.get(s, 0.0)) for s in system.symbols])
            if unknown:
                raise InputError(f"electrostatics.sigma names elements not in the structure: {', '.join(unknown)}; "
                                 f"elements present: {', '.join(system.species)}")
        else:
            sig = np.asarray(spec, dtype=np.float64).reshape(-1)
            if sig.size == 1:
                sig = np.full(system.n_atoms, float(sig[0]))
            if sig.shape != (system.n_atoms,):
                raise InputError(f"electrostatics.sigma has {sig.size} values for {system.n_atoms} atoms")
        if np.any(sig < 0):
            raise InputError("electrostatics.sigma: widths must be >= 0 Å")
        return sig

    def periodic_cell(self, system):
        """The cell the reciprocal sum uses: the system's, padded along z for slabs."""
        pbc = tuple(bool(p) for p in system.pbc)
        cell = np.array(system.cell, dtype=np.float64)
        if pbc == (True, True, True):
            return cell, False
        if pbc != (True, True, False):
            raise InputError(f"Ewald needs pbc (T, T, T) or a slab (T, T, F); the structure has pbc {pbc}")
        scale = max(1.0, np.abs(cell).max())
        if abs(cell[0, 2]) > 1e-10 * scale or abs(cell[1, 2]) > 1e-10 * scale:
            raise InputError("slab electrostatics needs cell vectors a and b in the xy plane (a_z = b_z = 0)")
        if abs(cell[2, 0]) > 1e-10 * scale or abs(cell[2, 1]) > 1e-10 * scale or cell[2, 2] <= 0:
            raise InputError("slab electrostatics needs the cell vector c along +z (c = (0, 0, c_z)), "
                             f"got c = {cell[2].tolist()}")
        padded = cell.copy()
        padded[2] *= self.slab_factor
        return padded, True

    def setup(self, system) -> EwaldParameters:
        """Choose (or check) alpha, r_cut and k_cut for this system; they stay fixed until called again."""
        cell, slab = self.periodic_cell(system)
        n = max(system.n_atoms, 1)
        volume = abs(np.linalg.det(cell))
        sigma = self.widths(system)
        gamma_max = math.sqrt(2.0 * 2.0 * sigma.max() ** 2) if sigma.size and sigma.max() > 0 else 0.0
        sum_q2 = float(np.dot(system.charges, system.charges))
        # Charges still to be solved (electrodes start at zero): size the sum for unit charges.
        q2 = KE * (sum_q2 if sum_q2 > 1e-12 else float(n))
        target = self.accuracy * KE  # absolute RMS force error, eV/Å
        widths = _perpendicular_widths(cell)
        alpha, r_cut = self.alpha_set, self.r_cut_set
        r_min = self.switch[1] if self.switch else 0.0
        if r_cut is None and alpha is None:
            # Optimal split: real-space work ~ N rho r_c^3, reciprocal work ~ N V k_c^3 with r_c ~ 1/alpha,
            # k_c ~ alpha; rho is the density where the atoms are (the slab, not the padded cell).
            occupied = volume
            if slab:
                z = system.positions[:, 2]
                extent = (z.max() - z.min() + 1.0) if z.size else 1.0
                occupied = abs(np.linalg.det(system.cell[:2, :2])) * min(extent, system.cell[2, 2])
            alpha = SQRT_PI * (REAL_TO_RECIPROCAL_COST * n / (occupied * volume)) ** (1.0 / 6.0)
        if r_cut is None:
            r_cut = self._cutoff_for(q2, n, volume, alpha, target)
            if r_cut < r_min:
                r_cut = r_min
                if self.alpha_set is None:
                    alpha = self._alpha_for(q2, n, volume, r_cut, target)
        elif alpha is None:
            alpha = self._alpha_for(q2, n, volume, r_cut, target)
        if r_cut < r_min:
            raise InputError(f"electrostatics.r_cut = {r_cut} Å is below the switch's r_off = {r_min} Å; "
                             "the real-space sum must include every switched pair")
        if gamma_max > 0 and alpha * gamma_max >= 1.0:
            if self.alpha_set is not None:
                raise InputError(f"electrostatics.alpha = {alpha} 1/Å must be below 1/gamma_max = "
                                 f"{1 / gamma_max:.4g} 1/Å for Gaussian charges of width up to {sigma.max()} Å")
            alpha = 0.95 / gamma_max
            if self.r_cut_set is None:
                # A smaller alpha needs a longer real-space cutoff for the same accuracy.
                r_cut = max(self._cutoff_for(q2, n, volume, alpha, target), r_min)
        if self.k_cut_set is not None:
            k_cut = float(self.k_cut_set)
            kmax = [max(1, int(math.floor(k_cut * w / (2 * math.pi)))) for w in widths]
        else:
            kmax = []
            for w in widths:
                m = 1
                while reciprocal_error(q2, n, m, w, alpha) > target and m < 10000:
                    m += 1
                kmax.append(m)
            k_cut = max(2.0 * math.pi * m / w for m, w in zip(kmax, widths)) * 1.00001
        err_real = real_space_error(q2, n, r_cut, volume, alpha)
        err_recip = math.sqrt(sum(reciprocal_error(q2, n, m, w, alpha) ** 2 for m, w in zip(kmax, widths)))
        self.params = EwaldParameters(
            alpha=float(alpha), r_cut=float(r_cut), k_cut=float(k_cut), kmax=(0, 0, 0), n_kvectors=0,
            slab=slab, volume=float(volume), cell=cell, accuracy=self.accuracy,
            estimated_error=math.hypot(err_real, err_recip) / KE)
        self._sigma = sigma
        self._numbers = system.numbers.copy()
        self._geometry(system)
        return self.params

    def _geometry(self, system):
        """Everything that follows from the cell at fixed alpha, r_cut and k_cut: the energy stays one
        function of the cell, so the virial is its strain derivative."""
        p = self.params
        self._sk_cache = None  # another set of k-vectors
        cell, slab = self.periodic_cell(system)
        volume = abs(np.linalg.det(cell))
        kidx, kvec = self._kvectors(cell, p.k_cut)
        p.cell, p.slab, p.volume = cell, slab, float(volume)
        p.kmax = tuple(int(v) for v in np.abs(kidx).max(axis=0)) if len(kidx) else (0, 0, 0)
        p.n_kvectors = len(kidx)
        self._kidx, self._kvec = kidx, kvec
        ksq = np.einsum("ij,ij->i", kvec, kvec)
        # Factor 2: each k in the half space stands for k and -k.
        self._weight = 2.0 * KE * 2.0 * math.pi / volume * np.exp(-ksq / (4.0 * p.alpha**2)) / ksq
        self._ksq = ksq
        self._key = (system.cell.tobytes(), tuple(system.pbc))

    @staticmethod
    def _cutoff_for(q2, n, volume, alpha, target):
        r = 3.0 / alpha
        for _ in range(50):  # fixed point of the real-space estimate = target
            arg = target * math.sqrt(n * r * volume) / (2.0 * q2)
            r_new = math.sqrt(max(-math.log(arg), 1.0)) / alpha if arg < 1 else 1.0 / alpha
            if abs(r_new - r) < 1e-10:
                break
            r = r_new
        return r

    @staticmethod
    def _alpha_for(q2, n, volume, r_cut, target):
        arg = target * math.sqrt(n * r_cut * volume) / (2.0 * q2)
        if arg >= 1.0:
            return (1.35 - 0.15 * math.log(target / KE)) / r_cut  # LAMMPS' fallback for tiny systems
        return math.sqrt(-math.log(arg)) / r_cut

    @staticmethod
    def _kvectors(cell, k_cut):
        recip = 2.0 * math.pi * np.linalg.inv(cell).T  # rows b_i with a_i . b_j = 2 pi delta_ij
        lengths = np.linalg.norm(cell, axis=1)
        hmax, kmax, lmax = (int(math.floor(k_cut * L / (2.0 * math.pi))) for L in lengths)
        h, k, l = np.meshgrid(np.arange(0, hmax + 1), np.arange(-kmax, kmax + 1), np.arange(-lmax, lmax + 1),
                              indexing="ij")
        idx = np.stack([h.ravel(), k.ravel(), l.ravel()], axis=1)
        half = (idx[:, 0] > 0) | ((idx[:, 0] == 0) & ((idx[:, 1] > 0) | ((idx[:, 1] == 0) & (idx[:, 2] > 0))))
        idx = idx[half]
        kvec = idx @ recip
        keep = np.einsum("ij,ij->i", kvec, kvec) <= k_cut * k_cut
        return np.ascontiguousarray(idx[keep], dtype=np.int64), np.ascontiguousarray(kvec[keep])

    def _ensure_setup(self, system):
        if (self.params is None or system.n_atoms != len(self._numbers)
                or not np.array_equal(system.numbers, self._numbers)):
            self.setup(system)  # another system: choose parameters and widths anew
        elif (system.cell.tobytes(), tuple(system.pbc)) != self._key:
            self._geometry(system)

    # ------------------------------------------------------------------ evaluation
    def _neighbors(self, system, neighbors):
        if neighbors is not None:
            if neighbors.cutoff < self.params.r_cut:
                raise InputError(f"the neighbour list cutoff {neighbors.cutoff} Å is below the Ewald real-space "
                                 f"cutoff {self.params.r_cut} Å")
            neighbors.update(system.positions, system.cell, system.pbc)
            return neighbors
        from echemmd.neighbors import NeighborList

        nl = getattr(self, "_own_list", None)
        if nl is None or nl.cutoff != self.params.r_cut:
            nl = NeighborList(self.params.r_cut, skin=0.0, half=True)
            self._own_list = nl
        nl.update(system.positions, system.cell, system.pbc)
        return nl

    def _fractional(self, system):
        frac = system.positions @ np.linalg.inv(self.params.cell)
        if self.params.slab:
            z = system.positions[:, 2]
            height = system.cell[2, 2]
            if z.size and z.max() - z.min() > height:
                raise InputError(f"slab electrostatics: the atoms span {z.max() - z.min():.4g} Å along z, more "
                                 f"than the cell height c_z = {height:.4g} Å; enlarge the vacuum")
        return np.ascontiguousarray(frac)

    def _real_space(self, system, nl, q, want_forces, want_virial, targets):
        """kernels.real_space on the half list: phi (N,), forces (N, 3), virial (3, 3)."""
        p = self.params
        r_on, r_off = self.switch if self.switch else (0.0, 0.0)
        return kernels.real_space(system.positions, system.cell, q, self._sigma, *nl.half, p.alpha, p.r_cut,
                                  r_on, r_off, KE, want_forces, want_virial, targets)

    def _structure_factors(self, system, frac, q):
        """S(k) of charges ``q``, from the last :meth:`potential_at` when that is cheaper.

        S is linear in the charges: at unchanged positions, S(q) = S(q0) + S(q - q0), and the
        kernel skips atoms whose charge did not change. The charge solver's right-hand side
        computes S of the fixed charges (the ions) at the electrode atoms; the force pass of
        the same step then only adds the electrode atoms' part.
        """
        hmax, kmax, lmax = self.params.kmax
        cached = self._sk_cache
        if cached is not None and np.array_equal(cached[0], system.positions):
            dq = q - cached[1]
            if np.count_nonzero(dq) < np.count_nonzero(q):
                return cached[2] + kernels.structure_factors(frac, dq, self._kidx, hmax, kmax, lmax)
        return kernels.structure_factors(frac, q, self._kidx, hmax, kmax, lmax)

    def _evaluate(self, system, neighbors, charges, want_forces, want_virial=True, mobile=None):
        """phi (N,), forces (N,3), virial (3,3; NaN unless ``want_virial``), components dict.

        ``mobile`` (bool (N,), with ``want_forces`` and not ``want_virial``): forces are wanted
        on these atoms only; pairs between two other atoms and the reciprocal forces on them
        are skipped, and their forces are zero.
        """
        self._ensure_setup(system)
        p = self.params
        nl = self._neighbors(system, neighbors)
        q = np.ascontiguousarray(charges, dtype=np.float64)
        phi_r, f_r, w_r = self._real_space(system, nl, q, want_forces, want_forces and want_virial, mobile)
        frac = self._fractional(system)
        hmax, kmax, lmax = p.kmax
        sk = self._structure_factors(system, frac, q)
        if mobile is None:
            phi_k, f_k = kernels.reciprocal_potential_forces(frac, q, self._kidx, self._kvec, self._weight, sk,
                                                             hmax, kmax, lmax, want_forces)
        else:
            idx = np.flatnonzero(mobile)
            phi_k, f_k = np.zeros(system.n_atoms), np.zeros((system.n_atoms, 3))
            phi_k[idx], f_k[idx] = kernels.reciprocal_potential_forces(
                np.ascontiguousarray(frac[idx]), np.ascontiguousarray(q[idx]), self._kidx, self._kvec, self._weight,
                sk, hmax, kmax, lmax, want_forces)
        sk2 = sk.real**2 + sk.imag**2
        e_recip = float(np.dot(self._weight, sk2))
        # Self energy of each Gaussian and the alpha self-interaction of the reciprocal sum.
        sig = self._sigma
        inv_self = np.where(sig > 0, 1.0 / (2.0 * SQRT_PI * np.where(sig > 0, sig, 1.0)), 0.0) - p.alpha / SQRT_PI
        phi_s = 2.0 * KE * q * inv_self
        e_self = 0.5 * float(np.dot(q, phi_s))
        total_q = float(q.sum())
        c_bg = -KE * math.pi / (2.0 * p.volume * p.alpha**2)
        e_bg = c_bg * total_q**2
        phi_bg = np.full_like(q, 2.0 * c_bg * total_q)
        phi = phi_r + phi_k + phi_s + phi_bg
        forces = f_r + f_k
        if want_virial:
            virial = w_r.copy()
            # Reciprocal virial: W_ab = sum_k E_k (delta_ab - 2 (1/k^2 + 1/(4 alpha^2)) k_a k_b).
            e_k = self._weight * sk2
            fac = 2.0 * (1.0 / self._ksq + 1.0 / (4.0 * p.alpha**2)) * e_k
            virial += e_recip * np.eye(3) - np.einsum("k,ka,kb->ab", fac, self._kvec, self._kvec)
            virial += e_bg * np.eye(3)
        else:
            virial = np.full((3, 3), math.nan)
        e_slab = 0.0
        if p.slab:
            e_slab, phi_slab, f_slab, w_slab = self._slab_correction(system, q)
            phi += phi_slab
            forces += f_slab
            virial += w_slab
        if mobile is not None:
            forces[~mobile] = 0.0
        e_real = 0.5 * float(np.dot(q, phi_r))
        parts = {"real": e_real, "reciprocal": e_recip, "self": e_self, "background": e_bg, "slab": e_slab}
        return phi, forces, virial, parts

    def _slab_correction(self, system, q):
        """Yeh–Berkowitz with the net-charge terms of Ballenegger, Arnold and Cerda (2009)."""
        p = self.params
        z = system.positions[:, 2]
        lz = p.cell[2, 2]
        c = KE * 2.0 * math.pi / p.volume
        m = float(np.dot(q, z))
        total = float(q.sum())
        s2 = float(np.dot(q, z * z))
        energy = c * (m * m - total * s2 - total * total * lz * lz / 12.0)
        phi = c * (2.0 * m * z - s2 - total * z * z - total * lz * lz / 6.0)
        forces = np.zeros((system.n_atoms, 3))
        forces[:, 2] = -c * (2.0 * q * m - 2.0 * total * q * z)
        # Strain derivative: the volume (all diagonal terms), z and L_z (zz). Shears that tilt the
        # slab (zx, zy) are outside the slab geometry and depend on the image of an atom: none.
        virial = energy * np.eye(3)
        virial[2, 2] += float(forces[:, 2] @ z) + c * total * total * lz * lz / 6.0
        return energy, phi, forces, virial

    #: ``compute(..., energy_virial=False)`` skips the virial and the frozen atoms' forces
    #: (see ``ForceField.compute``).
    forces_only = True

    def compute(self, system, neighbors, energy_virial=True) -> Contribution:
        """Energy (eV), forces (eV/Å) and virial (eV) at the system's charges.

        ``energy_virial=False``: forces only, energy and virial NaN, and the forces on frozen
        atoms zero: the virial sums, the pairs between two frozen atoms (electrode–electrode)
        and the reciprocal forces on frozen atoms are skipped (LAMMPS ELECTRODE's ``etypes``).
        """
        mobile = None
        if not energy_virial and system.frozen.any():
            mobile = ~system.frozen
        phi, forces, virial, parts = self._evaluate(system, neighbors, system.charges, True,
                                                    want_virial=energy_virial, mobile=mobile)
        energy = sum(parts.values()) if energy_virial else math.nan
        return Contribution(energy, forces, virial, {self.name: energy}, forces_only=not energy_virial)

    def evaluate(self, system) -> Contribution:
        """:meth:`compute` with a neighbour list of its own."""
        self._ensure_setup(system)
        return self.compute(system, None)

    def potential(self, system, neighbors=None, charges=None) -> np.ndarray:
        """phi_i = dE/dq_i, V."""
        q = system.charges if charges is None else np.asarray(charges, dtype=np.float64)
        return self._evaluate(system, neighbors, q, False)[0]

    def potential_at(self, system, indices, neighbors=None, charges=None) -> np.ndarray:
        """phi_i = dE/dq_i at the atoms ``indices`` only, V (equal to ``potential(...)[indices]``).

        The reciprocal potential, the costly part after the structure factors, is evaluated at
        those atoms only: the charge solver needs the potential of the fixed charges at the
        electrode atoms, a fraction of all atoms.
        """
        self._ensure_setup(system)
        idx = np.asarray(indices, dtype=np.int64)
        q = np.ascontiguousarray(system.charges if charges is None else charges, dtype=np.float64)
        p = self.params
        nl = self._neighbors(system, neighbors)
        targets = np.zeros(system.n_atoms, dtype=np.bool_)
        targets[idx] = True
        phi_r, _, _ = self._real_space(system, nl, q, False, False, targets)
        frac = self._fractional(system)
        hmax, kmax, lmax = p.kmax
        sk = self._structure_factors(system, frac, q)
        self._sk_cache = (system.positions.copy(), q.copy(), sk)
        phi_k, _ = kernels.reciprocal_potential_forces(np.ascontiguousarray(frac[idx]), np.ascontiguousarray(q[idx]),
                                                       self._kidx, self._kvec, self._weight, sk, hmax, kmax, lmax,
                                                       False)
        sig = self._sigma[idx]
        inv_self = np.where(sig > 0, 1.0 / (2.0 * SQRT_PI * np.where(sig > 0, sig, 1.0)), 0.0) - p.alpha / SQRT_PI
        phi = phi_r[idx] + phi_k + 2.0 * KE * q[idx] * inv_self
        phi = phi + 2.0 * (-KE * math.pi / (2.0 * p.volume * p.alpha**2)) * float(q.sum())
        if p.slab:
            phi = phi + self._slab_correction(system, q)[1][idx]
        return phi

    def matvec(self, system, v, neighbors=None) -> np.ndarray:
        """A v, with A the Hessian of E in the charges (eV/e^2): the potential of charges v."""
        return self.potential(system, neighbors, charges=v)

    def energy_components(self, system, neighbors=None) -> dict:
        """Energy split into real, reciprocal, self, background and slab parts, eV."""
        return self._evaluate(system, neighbors, system.charges, False)[3]

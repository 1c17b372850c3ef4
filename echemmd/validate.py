"""Numerical checks that a potential is a physical one: symmetries, conservative forces, stress, smoothness.

:func:`validate_model` builds the energy function of a :class:`~echemmd.mlpotential.HybridModel`
for one structure (or takes any energy function) and runs these checks, each a number with
a documented tolerance and a pass/fail verdict::

    checks = validate_model(load_model("model.h5"), read("water.extxyz"))
    print(format_table(checks))

The checks and their default tolerances (:class:`Tolerances`):

===========================  ==========================================================  ============
check                        value                                                       tolerance
===========================  ==========================================================  ============
translation invariance (E)   |E(x + t) - E(x)| / N, t a random vector (not a lattice      1e-8 eV/atom
                             vector)
rotation invariance (E)      |E(R x, R cell) - E(x)| / N, R random (about z for a slab)   1e-8 eV/atom
permutation invariance (E)   |E(P x) - E(x)| / N, P a random permutation of the atoms     1e-8 eV/atom
rotation equivariance (F)    max |F(R x) - R F(x)|                                         1e-6 eV/Å
F = -dE/dx                   max |F_fd - F| / max(F_rms, 1e-3 eV/Å) over random           1e-5
                             (atom, component) pairs, F_fd by central differences
conservative forces          max |J - J^T| / max |J| of the force Jacobian                1e-4
                             J_ab = -dF_a/dx_b (central differences) on the six
                             coordinates of an atom and its nearest neighbour
stress = strain derivative   max |W_fd - W| / max(max |W|, 1e-3 eV N), W_ab =             1e-5
                             -dE/d eps_ab by central differences of a homogeneous
                             strain (periodic cells; a slab only in-plane and zz)
smooth cutoff (E)            |E(r_c + d) - 2 E(r_c - d) + E(r_c - 3 d)|, one pair          1e-8 eV
                             distance moved across each cutoff radius, d = 1e-7 Å
smooth cutoff (F)            the same second difference of the forces, max component      1e-6 eV/Å
===========================  ==========================================================  ============

The invariance tolerances sit four or more orders of magnitude above round-off of a
double-precision model (and of the charge solve at its default tolerance) and far below any
physical effect. For a smooth function the second differences of the smoothness check are of
order d^2 E'' (1e-13 eV) and d^2 F'' (1e-12 eV/Å); a jump of E or F at a cutoff shows at full
size, a kink of F (jump of dF/dr by K) as K d.

Known limits, accepted: the Ewald real-space sum is truncated at r_cut and the reciprocal sum at
k_cut, which makes E discontinuous at the level of the Ewald accuracy (jumps of about 1e-8 eV
at accuracy 1e-8 when k-vectors leave the sphere under strain). :class:`ModelEnergy` puts k_cut
in a gap between k-vector shells, so strains below 1e-3 change no k-vector; pairs still cross
r_cut. A central difference whose two points straddle such a jump can fail by chance, so a
central-difference check that fails is measured again with a ten times smaller step and the
smaller error is kept: a real error shows at both steps. The smoothness check moves pairs across
the short-range radii (symmetry-function cutoffs and switch radii), not across the Ewald r_cut.

Models with charges need a periodic cell (bulk, or a slab with pbc T T F): a cluster can only be
validated with a short-range model. For a slab the rotation is about z and the strain derivative
is checked for the in-plane and zz components only (the slab Ewald needs c along z).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from echemmd.errors import InputError
from echemmd.system import System

__all__ = ["Check", "ModelEnergy", "Tolerances", "calibrate_scaling", "format_table", "model_energy_function",
           "print_table", "run_checks", "validate_model", "water_box"]


@dataclass
class Check:
    """The result of one check.

    Attributes
    ----------
    name : str
        What was checked.
    value : float
        The measured error (NaN when skipped), in ``unit``.
    tolerance : float
        The check passes when ``value <= tolerance``.
    passed : bool
        Verdict (True for a skipped check).
    detail : str
        How the value was obtained, or why the check was skipped.
    unit : str
        Unit of ``value`` and ``tolerance`` ("" for a relative error).
    skipped : bool
        The check does not apply to this structure (e.g. stress without periodic directions).
    """

    name: str
    value: float
    tolerance: float
    passed: bool
    detail: str = ""
    unit: str = ""
    skipped: bool = False

    @property
    def status(self) -> str:
        """"PASS", "FAIL" or "SKIP"."""
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")


@dataclass
class Tolerances:
    """Tolerances of the checks (see the module docstring for what each value measures).

    Attributes
    ----------
    energy_invariance : float
        eV/atom, translation, rotation and permutation invariance of E.
    force_equivariance : float
        eV/Å, rotation equivariance of F.
    force_gradient : float
        Relative error of F against central differences of E.
    jacobian_symmetry : float
        Relative asymmetry of the force Jacobian.
    stress : float
        Relative error of the virial against central differences in the strain.
    smooth_energy : float
        eV, second difference of E across a cutoff.
    smooth_force : float
        eV/Å, second difference of F across a cutoff.
    """

    energy_invariance: float = 1e-8
    force_equivariance: float = 1e-6
    force_gradient: float = 1e-5
    jacobian_symmetry: float = 1e-4
    stress: float = 1e-5
    smooth_energy: float = 1e-8
    smooth_force: float = 1e-6


# ---------------------------------------------------------------------------------------------
# the energy function of a model
# ---------------------------------------------------------------------------------------------


def _as_system(atoms) -> System:
    if isinstance(atoms, System):
        return atoms.copy()
    if hasattr(atoms, "get_positions"):
        return System.from_atoms(atoms)
    raise InputError(f"expected an ase.Atoms or an echemmd System, got {type(atoms).__name__}")


class ModelEnergy:
    """Energy, forces and virial of a :class:`~echemmd.mlpotential.HybridModel` on one kind of structure.

    The short-range network term, plus for a model with charges an Ewald sum of Gaussian charges
    with the model's widths and switch: fixed charges per element, or charges solved by QEq with
    the model's chi and J (forces are then Hellmann–Feynman forces at the converged charges). The
    Ewald parameters (alpha, r_cut, k_cut) are chosen once for the structure given here and then
    held fixed, so the energy is one function of positions and cell; k_cut is raised into a gap
    between k-vector shells (see :func:`_k_cut_in_gap`).

    Parameters
    ----------
    model : HybridModel
    atoms : ase.Atoms or System
        The structure the parameters are chosen for; every later call may pass this structure
        moved, rotated, strained or with its atoms permuted.
    ewald_accuracy : float
        Relative RMS force error of the Ewald sum.
    qeq_tolerance : float
        Convergence of the charge solve, V (RMS spread of dU/dq).
    total_charge : float
        Total charge of a QEq structure, e (the fixed charges included).
    skin : float
        Neighbour-list skin, Å.

    Attributes
    ----------
    cutoffs : list of float
        Radii (Å) where the energy must stay smooth: the symmetry-function cutoffs and the switch
        radii.
    ewald : echemmd.electrostatics.Ewald or None
    forcefield : echemmd.forcefield.ForceField
    charges : ndarray (N,)
        Charges of the last call, e.

    Calling it with a System (or ase.Atoms) returns ``(E eV, F (N, 3) eV/Å, W (3, 3) eV)`` with
    the virial W = -dE/d eps (stress = -W / V).
    """

    def __init__(self, model, atoms, ewald_accuracy=1e-8, qeq_tolerance=1e-10, total_charge=0.0, skin=1.0):
        from echemmd.charges import ChargeSolver, QEqParameters
        from echemmd.electrostatics import Ewald
        from echemmd.forcefield import ForceField
        from echemmd.mlpotential import NeuralNetworkPotential
        from echemmd.neighbors import NeighborList

        system = _as_system(atoms)
        self.model = model
        self.nnp = NeuralNetworkPotential(model.short_range)
        self.nnp.check_elements(system)
        radii = {float(f["r_c"]) for f in model.short_range.all_functions()}
        if model.switch is not None and model.has_electrostatics:
            radii.update(float(r) for r in model.switch if r > 0)
        self.cutoffs = sorted(radii)
        self.ewald = None
        solver = None
        terms = [self.nnp]
        cutoff = self.nnp.cutoff
        if model.has_electrostatics:
            present = set(system.symbols)
            sigma = {e: float(s) for e, s in model.sigma.items() if e in present}
            probe = Ewald(accuracy=ewald_accuracy, sigma=sigma or None, switch=model.switch)
            system.charges = self._fixed_charges(system)
            p = probe.setup(system)
            # Held fixed from here on: E is then one function of positions and cell.
            self.ewald = Ewald(accuracy=ewald_accuracy, alpha=p.alpha, r_cut=p.r_cut, k_cut=_k_cut_in_gap(p),
                               sigma=sigma or None, switch=model.switch)
            self.ewald.setup(system)
            terms.append(self.ewald)
            cutoff = max(cutoff, self.ewald.cutoff)
            if model.charge_model == "qeq":
                qeq = {e: QEqParameters(chi=float(v["chi"]), hardness=float(v["J"]), sigma=float(model.sigma[e]))
                       for e, v in model.qeq.items() if e in present}
                if not qeq:
                    raise InputError(f"the structure has no atom of a QEq element of the model "
                                     f"({', '.join(sorted(model.qeq))})")
                solver = ChargeSolver(self.ewald, qeq=qeq, total_charge=float(total_charge),
                                      tolerance=qeq_tolerance)
        self.forcefield = ForceField(terms, NeighborList(cutoff, skin=skin), charge_solver=solver)
        self._last = None  # (numbers, charges) of the last QEq solve: warm start

    def _fixed_charges(self, system):
        # Fixed charges per element (QEq atoms start from them too; elements without one: 0).
        return np.array([float(self.model.charges.get(s, 0.0)) for s in system.symbols])

    def __call__(self, atoms):
        system = _as_system(atoms)
        system.charges = self._fixed_charges(system)
        if self.forcefield.charge_solver is not None and self._last is not None \
                and np.array_equal(self._last[0], system.numbers):
            system.charges = self._last[1].copy()
        c = self.forcefield.compute(system)
        if self.forcefield.charge_solver is not None:
            self._last = (system.numbers.copy(), system.charges.copy())
        self.charges = system.charges.copy()
        return c.energy, c.forces, c.virial


def _k_cut_in_gap(params, margin=1e-3):
    """A k_cut >= params.k_cut with no k-vector of the cell within a relative ``margin`` of it.

    Under a strain below ``margin`` the set of k-vectors then stays the same, so the central
    differences of the stress check see no accuracy-level jump of the reciprocal energy (a
    larger k_cut only improves the sum). Falls back to params.k_cut when no such gap exists
    below 1.5 k_cut.
    """
    from echemmd.electrostatics import Ewald

    k_cut = float(params.k_cut)
    _, kvec = Ewald._kvectors(params.cell, 1.5 * k_cut)
    ks = np.unique(np.round(np.linalg.norm(kvec, axis=1), 12))
    above = ks[ks > k_cut]
    for candidate in [k_cut] + list(0.5 * (above[:-1] + above[1:])):
        if np.abs(ks - candidate).min() >= margin * candidate:
            return float(candidate)
    return k_cut


def model_energy_function(model, atoms, **kwargs) -> ModelEnergy:
    """The energy function of ``model`` for ``atoms``; keyword arguments go to :class:`ModelEnergy`."""
    return ModelEnergy(model, atoms, **kwargs)


# ---------------------------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------------------------


def _random_rotation(rng, slab):
    if slab:
        a = rng.uniform(0.3, 2.0 * math.pi - 0.3)
        c, s = math.cos(a), math.sin(a)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _rotation_angle(R):
    return math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(R) - 1.0) / 2.0))))


def _permuted(system, perm):
    s = system.copy()
    s.symbols = [system.symbols[k] for k in perm]
    for name in ("numbers", "masses", "positions", "velocities", "charges", "tags", "frozen"):
        setattr(s, name, getattr(system, name)[perm].copy())
    s.groups = {}
    return s


class _Evaluator:
    """Calls the energy function on copies and normalises what it returns."""

    def __init__(self, fn, returns):
        if returns not in ("virial", "stress"):
            raise InputError(f"returns must be 'virial' or 'stress', got {returns!r}")
        self.fn = fn
        self.returns = returns
        self.calls = 0

    def __call__(self, system):
        self.calls += 1
        out = self.fn(system.copy())
        if hasattr(out, "energy") and hasattr(out, "forces"):
            e, f, w = out.energy, out.forces, getattr(out, "virial", None)
        else:
            e, f, w = out
        f = np.asarray(f, dtype=np.float64).reshape(system.n_atoms, 3)
        if w is not None:
            w = np.asarray(w, dtype=np.float64).reshape(3, 3)
            if self.returns == "stress":
                w = -w * system.volume
        return float(e), f, w


def _moved(system, atom, displacement):
    s = system.copy()
    s.positions[atom] += displacement
    return s


def _strained(system, eps):
    s = system.copy()
    m = np.eye(3) + eps
    s.positions = system.positions @ m.T
    s.cell = system.cell @ m.T
    return s


def _pairs(system, r_max):
    """(i, j, r_ij vector, r) of all pairs i != j within r_max (each pair once per side)."""
    from echemmd.neighbors import NeighborList

    nl = NeighborList(r_max, skin=0.0)
    nl.build(system.positions, system.cell, system.pbc)
    first, neigh, shifts = nl.full
    i = np.repeat(np.arange(system.n_atoms), np.diff(first))
    j = np.asarray(neigh, dtype=np.int64)
    vec = system.positions[j] + np.asarray(shifts, dtype=np.float64) @ system.cell - system.positions[i]
    keep = i != j  # moving j would move i's own image along
    return i[keep], j[keep], vec[keep], np.linalg.norm(vec[keep], axis=1)


def _retry(measure, step, tolerance):
    """``measure(step) -> (error, data)``, measured again with step / 10 when it fails.

    A central difference whose two points straddle one of the accuracy-level discontinuities
    of a truncated sum (an Ewald pair crossing r_cut, a k-vector crossing k_cut under strain)
    fails by chance; a real error shows at both steps, so the smaller error is kept.
    """
    first = measure(step)
    if first[0] <= tolerance:
        return first
    second = measure(step / 10.0)
    return second if second[0] < first[0] else first


def _check(name, value, tol, unit, detail):
    value = float(value)
    return Check(name, value, tol, bool(np.isfinite(value) and value <= tol), detail, unit)


def run_checks(energy_forces, atoms, *, cutoffs=(), h=1e-4, strain_h=1e-4, smooth_step=1e-7, n_gradient=6,
               seed=0, tolerances=None, returns="virial") -> list:
    """Run every check on an energy function.

    Parameters
    ----------
    energy_forces : callable
        ``energy_forces(system) -> (E, F, W)`` with E in eV, F (N, 3) in eV/Å and W the virial
        (3, 3) in eV (W = -dE/d eps; None if it has none), or a
        :class:`~echemmd.forcefield.Contribution`. It receives an :class:`~echemmd.system.System`
        (a copy it may modify).
    atoms : ase.Atoms or System
        The structure.
    cutoffs : sequence of float
        Radii (Å) where E must be smooth; the smoothness checks are skipped when empty.
    h : float
        Displacement of the central differences in positions, Å.
    strain_h : float
        Strain of the central differences of the virial.
    smooth_step : float
        Step d of the smoothness check, Å.
    n_gradient : int
        Number of random (atom, component) pairs for the F = -dE/dx check.
    seed : int
        Seed of the random translation, rotation, permutation and picks.
    tolerances : Tolerances, optional
    returns : {"virial", "stress"}
        What the third value of ``energy_forces`` is: the virial W in eV, or the ASE stress
        -W / V in eV/Å^3.

    Returns
    -------
    list of Check
    """
    tol = tolerances or Tolerances()
    system = _as_system(atoms)
    n = system.n_atoms
    if n < 2:
        raise InputError("validation needs a structure of at least 2 atoms")
    rng = np.random.default_rng(seed)
    ev = _Evaluator(energy_forces, returns)
    e0, f0, w0 = ev(system)
    checks = []
    slab = tuple(bool(p) for p in system.pbc) == (True, True, False)

    # --- translation
    t = rng.uniform(-2.0, 2.0, 3)
    s = system.copy()
    s.positions = s.positions + t
    e1, f1, _ = ev(s)
    checks.append(_check("translation invariance (E)", abs(e1 - e0) / n, tol.energy_invariance, "eV/atom",
                         f"t = ({t[0]:.3f}, {t[1]:.3f}, {t[2]:.3f}) Å; max |dF| = {np.abs(f1 - f0).max():.2e} eV/Å"))

    # --- rotation
    R = _random_rotation(rng, slab)
    s = system.copy()
    s.positions = system.positions @ R.T
    s.cell = system.cell @ R.T
    e1, f1, _ = ev(s)
    about = "about z (slab)" if slab else "random axis"
    checks.append(_check("rotation invariance (E)", abs(e1 - e0) / n, tol.energy_invariance, "eV/atom",
                         f"{_rotation_angle(R):.1f} deg {about}, atoms and cell"))
    dev = np.abs(f1 - f0 @ R.T).max()
    checks.append(_check("rotation equivariance (F)", dev, tol.force_equivariance, "eV/Å",
                         f"max |F(Rx) - R F(x)|, {_rotation_angle(R):.1f} deg {about}; max |F| = "
                         f"{np.abs(f0).max():.3g} eV/Å"))

    # --- permutation
    perm = rng.permutation(n)
    e1, f1, _ = ev(_permuted(system, perm))
    checks.append(_check("permutation invariance (E)", abs(e1 - e0) / n, tol.energy_invariance, "eV/atom",
                         f"random permutation of {n} atoms; max |F(Px) - P F(x)| = "
                         f"{np.abs(f1 - f0[perm]).max():.2e} eV/Å"))

    # --- F = -dE/dx
    f_scale = max(float(np.sqrt(np.mean(f0 * f0))), 1e-3)
    atoms_fd = rng.choice(n, size=min(n_gradient, n), replace=False)
    components = [(int(a), int(rng.integers(3))) for a in atoms_fd]

    def gradient_error(a, k, step):
        d = np.zeros(3)
        d[k] = step
        ep, _, _ = ev(_moved(system, a, d))
        em, _, _ = ev(_moved(system, a, -d))
        fd = -(ep - em) / (2.0 * step)
        return abs(fd - f0[a, k]) / f_scale, fd

    worst, where = 0.0, ""
    for a, k in components:
        err, fd = _retry(lambda step: gradient_error(a, k, step), h, tol.force_gradient)
        if err >= worst:
            worst, where = err, f"atom {a} {'xyz'[k]}: F = {f0[a, k]:.6g}, F_fd = {fd:.6g} eV/Å"
    checks.append(_check("F = -dE/dx", worst, tol.force_gradient, "",
                         f"{len(components)} components, h = {h:g} Å, F_rms = {f_scale:.3g} eV/Å; worst {where}"))

    # --- Jacobian symmetry (conservative forces)
    a = int(rng.integers(n))
    i_p, j_p, _, r_p = _pairs(system, 6.0)
    near = (i_p == a) & (j_p != a)
    chosen = [a] if not near.any() else [a, int(j_p[near][np.argmin(r_p[near])])]
    coords = [(m, k) for m in chosen for k in range(3)]

    def jacobian(step):
        J = np.zeros((len(coords), len(coords)))
        for col, (m, k) in enumerate(coords):
            d = np.zeros(3)
            d[k] = step
            _, fp, _ = ev(_moved(system, m, d))
            _, fm, _ = ev(_moved(system, m, -d))
            dF = -(fp - fm) / (2.0 * step)
            for row, (m2, k2) in enumerate(coords):
                J[row, col] = dF[m2, k2]
        return np.abs(J - J.T).max() / max(np.abs(J).max(), 1e-3), J

    asym, J = _retry(jacobian, h, tol.jacobian_symmetry)
    diff = np.abs(J - J.T)
    r, c = np.unravel_index(np.argmax(diff), diff.shape)
    label = lambda q: f"{coords[q][0]}{'xyz'[coords[q][1]]}"  # noqa: E731
    checks.append(_check("conservative forces (dF/dx symmetric)", asym, tol.jacobian_symmetry, "",
                         f"atoms {chosen}, {len(coords)} coordinates, max |J| = {np.abs(J).max():.3g} eV/Å^2; "
                         f"worst J[{label(r)},{label(c)}] = {J[r, c]:.6g} vs {J[c, r]:.6g}"))

    # --- stress
    if not system.pbc.any():
        checks.append(Check("stress = strain derivative", math.nan, tol.stress, True,
                            "skipped: no periodic direction", "", skipped=True))
    elif w0 is None:
        checks.append(Check("stress = strain derivative", math.nan, tol.stress, True,
                            "skipped: the energy function returns no virial", "", skipped=True))
    else:
        comps = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2)] if slab else [(p, q) for p in range(3) for q in range(3)]
        w_scale = max(np.abs(w0).max(), 1e-3 * n)

        def strain_error(p, q, step):
            eps = np.zeros((3, 3))
            eps[p, q] = step
            ep, _, _ = ev(_strained(system, eps))
            em, _, _ = ev(_strained(system, -eps))
            return abs(-(ep - em) / (2.0 * step) - w0[p, q]) / w_scale, None

        err = max(_retry(lambda step: strain_error(p, q, step), strain_h, tol.stress)[0] for p, q in comps)
        which = "in-plane and zz components (slab)" if slab else "all 9 components"
        checks.append(_check("stress = strain derivative", err, tol.stress, "",
                             f"{which}, strain {strain_h:g}; max |W| = {np.abs(w0).max():.4g} eV"))

    # --- smoothness across the cutoffs
    cutoffs = sorted({float(rc) for rc in cutoffs if rc > 0})
    if not cutoffs:
        for what in ("E", "F"):
            checks.append(Check(f"smooth cutoff ({what})", math.nan, 0.0, True, "skipped: no cutoff radius given",
                                skipped=True))
    else:
        e_worst, f_worst, e_where, f_where = 0.0, 0.0, "", ""
        i_p, j_p, v_p, r_p = _pairs(system, max(cutoffs) + 2.0)
        for rc in cutoffs:
            if r_p.size == 0:
                raise InputError("the smoothness check needs at least one pair of atoms")
            # The pair closest to the cutoff (from inside or out); j moves along the pair axis.
            k = int(np.argmin(np.abs(r_p - rc)))
            i, j, u, r = int(i_p[k]), int(j_p[k]), v_p[k] / r_p[k], float(r_p[k])
            results = []
            for off in (-3.0, -1.0, 1.0):
                results.append(ev(_moved(system, j, (rc - r + off * smooth_step) * u)))
            (em3, fm3, _), (em1, fm1, _), (ep1, fp1, _) = results
            d2e = abs(ep1 - 2.0 * em1 + em3)
            d2f = np.abs(fp1 - 2.0 * fm1 + fm3).max()
            where = f"r_c = {rc:g} Å (atoms {i}-{j}, moved {rc - r:+.2g} Å)"
            if d2e >= e_worst:
                e_worst, e_where = d2e, where
            if d2f >= f_worst:
                f_worst, f_where = d2f, where
        checks.append(_check("smooth cutoff (E)", e_worst, tol.smooth_energy, "eV",
                             f"|E(r_c+d) - 2E(r_c-d) + E(r_c-3d)|, d = {smooth_step:g} Å; worst {e_where}"))
        checks.append(_check("smooth cutoff (F)", f_worst, tol.smooth_force, "eV/Å",
                             f"same second difference of F; worst {f_where}"))
    return checks


def validate_model(model, atoms, *, ewald_accuracy=1e-8, qeq_tolerance=1e-10, total_charge=0.0, h=1e-4,
                   strain_h=1e-4, smooth_step=1e-7, n_gradient=6, seed=0, tolerances=None, cutoffs=None,
                   returns="virial") -> list:
    """Validate a model (or any energy function) on a structure.

    Parameters
    ----------
    model : HybridModel or callable
        A model (its energy function is built by :class:`ModelEnergy`), or a callable
        ``energy_forces(system) -> (E, F, W)`` as for :func:`run_checks`.
    atoms : ase.Atoms or System
    ewald_accuracy : float
        Relative RMS force error of the Ewald sum (models with charges).
    qeq_tolerance : float
        Charge-solve convergence, V (QEq models).
    total_charge : float
        Total charge of a QEq structure, e.
    h, strain_h, smooth_step, n_gradient, seed, tolerances, returns
        See :func:`run_checks`.
    cutoffs : sequence of float, optional
        Radii (Å) for the smoothness checks; default: the model's symmetry-function cutoffs and
        switch radii (required for a callable, else those checks are skipped).

    Returns
    -------
    list of Check

    Raises
    ------
    InputError
        An atom whose element the model lacks (naming the atom and the element), a model with
        charges on a structure Ewald cannot handle, a structure of fewer than 2 atoms.
    """
    from echemmd.mlpotential import HybridModel

    if isinstance(model, HybridModel):
        fn = ModelEnergy(model, atoms, ewald_accuracy=ewald_accuracy, qeq_tolerance=qeq_tolerance,
                         total_charge=total_charge)
        radii = fn.cutoffs if cutoffs is None else cutoffs
    elif callable(model):
        fn, radii = model, (cutoffs or ())
    else:
        raise InputError(f"validate_model needs a HybridModel or an energy function, got {type(model).__name__}")
    return run_checks(fn, atoms, cutoffs=radii, h=h, strain_h=strain_h, smooth_step=smooth_step,
                      n_gradient=n_gradient, seed=seed, tolerances=tolerances, returns=returns)


def format_table(checks, details=True) -> str:
    """The checks as a text table (one row per check, a summary line at the end)."""
    rows = [("check", "value", "tolerance", "unit", "result", "detail" if details else "")]
    for c in checks:
        value = "-" if c.skipped else f"{c.value:.2e}"
        rows.append((c.name, value, f"{c.tolerance:.0e}" if not c.skipped else "-", c.unit or "rel.", c.status,
                     c.detail if details else ""))
    widths = [max(len(r[k]) for r in rows) for k in range(5)]
    lines = []
    for k, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [r[m].rjust(widths[m]) for m in (1, 2)] + [r[3].ljust(widths[3]),
                                                                                    r[4].ljust(widths[4])]
        lines.append("  ".join(cells + ([r[5]] if details else [])).rstrip())
        if k == 0:
            lines.append("-" * len(lines[0]))
    n_fail = sum(1 for c in checks if not c.passed)
    n_skip = sum(1 for c in checks if c.skipped)
    lines.append(f"{len(checks) - n_fail - n_skip} passed, {n_fail} failed, {n_skip} skipped")
    return "\n".join(lines)


def print_table(checks, file=None, details=True) -> None:
    """Print :func:`format_table` (to stdout by default)."""
    print(format_table(checks, details=details), file=file)


# ---------------------------------------------------------------------------------------------
# structures and models for tests, labs and benchmarks
# ---------------------------------------------------------------------------------------------

#: Water geometry of the random boxes (TIP3P): O-H bond, Å, and H-O-H angle, degrees.
WATER_OH = 0.9572
WATER_ANGLE = 104.52


def water_box(n_molecules, density=1.0, seed=0, min_distance=1.6, min_oo=0.0, pbc=True, slab=False,
              max_tries=1000000):
    """Rigid water molecules with random positions and orientations (a test structure, not a liquid).

    Molecules are added one by one at random and kept when no atom comes closer than
    ``min_distance`` to an atom of another molecule (and no O closer than ``min_oo`` to another O).

    Parameters
    ----------
    n_molecules : int
    density : float
        Mass density, g/cm^3 (1.0: 29.9 Å^3 per molecule).
    seed : int
    min_distance : float
        Smallest distance between atoms of different molecules, Å.
    min_oo : float
        Smallest O-O distance, Å.
    pbc : bool
        Periodic cube (minimum-image distances), or a cluster in a cube of the same volume
        with pbc False and no cell.
    slab : bool
        A periodic layer (pbc T T F) of the same density in a cell twice as high as the layer.
    max_tries : int
        Placements tried before giving up.

    Returns
    -------
    ase.Atoms
        Symbols O H H per molecule.

    Raises
    ------
    InputError
        When the molecules cannot be placed (too dense for the distances asked).
    """
    from ase import Atoms
    from ase.data import atomic_masses, atomic_numbers

    from echemmd.units import AVOGADRO

    rng = np.random.default_rng(seed)
    molar_mass = atomic_masses[atomic_numbers["O"]] + 2.0 * atomic_masses[atomic_numbers["H"]]  # g/mol
    side = (n_molecules * molar_mass / (density * AVOGADRO) * 1e24) ** (1.0 / 3.0)  # cm^3 -> Å^3
    half = math.radians(WATER_ANGLE) / 2.0
    molecule = np.array([[0.0, 0.0, 0.0], [WATER_OH * math.sin(half), 0.0, WATER_OH * math.cos(half)],
                         [-WATER_OH * math.sin(half), 0.0, WATER_OH * math.cos(half)]])
    molecule -= molecule.mean(axis=0)
    periodic = np.array([True, True, not slab]) if (pbc or slab) else np.zeros(3, dtype=bool)
    positions = np.zeros((3 * n_molecules, 3))
    placed, tries = 0, 0
    while placed < n_molecules:
        tries += 1
        if tries > max_tries:
            raise InputError(f"water_box: placed {placed} of {n_molecules} molecules in {max_tries} tries; "
                             f"lower the density or min_distance ({min_distance} Å) / min_oo ({min_oo} Å)")
        trial = molecule @ _random_rotation(rng, False).T + rng.uniform(0.0, side, 3)
        if placed:
            d = trial[:, None, :] - positions[None, :3 * placed, :]
            d[..., periodic] -= side * np.round(d[..., periodic] / side)
            r = np.linalg.norm(d, axis=2)
            if r.min() < min_distance or (min_oo > 0 and r[0, 0::3].min() < min_oo):
                continue
        positions[3 * placed:3 * placed + 3] = trial
        placed += 1
    if not periodic.any():
        return Atoms("OH2" * n_molecules, positions=positions, pbc=False)
    cell = np.eye(3) * side
    if slab:
        cell[2, 2] = 2.0 * side
        positions[:, 2] += 0.5 * side
    return Atoms("OH2" * n_molecules, positions=positions, cell=cell, pbc=periodic)


def calibrate_scaling(model, structures):
    """Set the input-scaling statistics of a model's networks from the symmetry functions of structures.

    A random model (:func:`echemmd.mlpotential.random_model`) comes with random statistics, so the
    inputs of a real structure lie far outside the range its networks were "trained" on and the
    hidden layers saturate (tiny forces). With statistics from the structures themselves, as n2p2
    computes them from a training set, the scaled inputs are of order one.

    Parameters
    ----------
    model : HybridModel or echemmd.io.n2p2.N2P2Model
        Changed in place.
    structures : ase.Atoms or System, or a list of them

    Returns
    -------
    model
    """
    from echemmd.descriptors import SymmetryFunctions

    short = getattr(model, "short_range", model)
    if not isinstance(structures, (list, tuple)):
        structures = [structures]
    sf = SymmetryFunctions(short.all_functions())
    columns = short.columns()
    rows = {e: [] for e in short.elements}
    for atoms in structures:
        G = sf.compute(atoms)
        symbols = np.array(atoms.get_chemical_symbols() if hasattr(atoms, "get_chemical_symbols") else atoms.symbols)
        for e in short.elements:
            rows[e].append(G[np.ix_(symbols == e, columns[e])])
    nets = short.networks
    for e in short.elements:
        g = np.concatenate(rows[e], axis=0)
        if g.shape[0] == 0:
            continue
        g_min, g_max = g.min(axis=0), g.max(axis=0)
        spread = np.maximum(g_max - g_min, 1e-3 * np.maximum(np.abs(g_max), 1.0))
        g_max = g_min + spread
        nets.statistics[e] = np.column_stack([g_min, g_max, g.mean(axis=0), np.maximum(g.std(axis=0), spread / 4)])
    return model

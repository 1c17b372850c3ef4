"""Behler–Parrinello symmetry functions with n2p2's conventions (DESIGN §4).

``SymmetryFunctions`` turns a list of function definitions into the parameter
tables of :mod:`echemmd.kernels.descriptors` and evaluates the functions and
their forces (and directional derivatives) over a full neighbour list::

    sf = SymmetryFunctions([
        {"type": 2, "neighbors": ["O"], "eta": 0.5, "r_s": 0.0, "r_c": 6.0, "cutoff": "poly2"},
        {"type": 3, "neighbors": ["H", "O"], "eta": 0.01, "zeta": 4.0, "lambda": -1, "r_c": 6.0,
         "center": "O"},
    ])
    G = sf.compute(atoms)                      # (n_atoms, n_functions)
    forces, virial = sf.forces(system, neighbor_list, dEdG)
    U = sf.jvp(system, neighbor_list, v, strain)   # dG along a displacement field

Units: distances Å, eta 1/Å^2; G is dimensionless; forces eV/Å and virial eV
when dEdG is in eV.
"""

from __future__ import annotations

import math

import numpy as np

from echemmd.errors import InputError, NeighborListError
from echemmd.kernels import cutoffs as cutoff_kernels
from echemmd.kernels import descriptors as kernels

_TYPE_KEYS = {
    2: {"required": ("neighbors", "eta", "r_c"), "optional": ("r_s",)},
    3: {"required": ("neighbors", "eta", "zeta", "lambda", "r_c"), "optional": ("r_s",)},
    9: {"required": ("neighbors", "eta", "zeta", "lambda", "r_c"), "optional": ("r_s",)},
}
_COMMON_KEYS = ("type", "cutoff", "cutoff_alpha", "center")
_CUTOFF_NAMES = {v: k for k, v in cutoff_kernels.CUTOFF_TYPES.items()}
DEFAULT_CUTOFF = "cos"


def _atomic_number(symbol, where):
    from ase.data import atomic_numbers

    if not isinstance(symbol, str) or symbol not in atomic_numbers or atomic_numbers[symbol] == 0:
        raise InputError(f"{where}: {symbol!r} is not a chemical element symbol")
    return atomic_numbers[symbol]


def _float(value, where, key):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {key} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise InputError(f"{where}: {key} must be finite, got {value!r}")
    return x


def cutoff_type(value, where="cutoff"):
    """n2p2 cutoff type number of a name ("cos", "poly2", ...) or a number 0..8."""
    if isinstance(value, str):
        key = value.strip().lower()
        if key in cutoff_kernels.CUTOFF_TYPES:
            return cutoff_kernels.CUTOFF_TYPES[key]
        if key.isdigit():
            value = int(key)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) in _CUTOFF_NAMES:
        return int(value)
    allowed = ", ".join(f"{k} ({v})" for k, v in cutoff_kernels.CUTOFF_TYPES.items())
    raise InputError(f"{where}: unknown cutoff type {value!r}; allowed: {allowed}")


def normalize_function(spec: dict, index: int = 0) -> dict:
    """Check one function definition and return it with defaults filled in.

    Parameters
    ----------
    spec : dict
        ``type`` (2, 3 or 9), ``neighbors`` (one element for type 2, two for 3
        and 9), ``eta`` (1/Å^2, >= 0), ``r_s`` (Å, default 0), ``zeta`` (> 0)
        and ``lambda`` (+1 or -1) for angular types, ``r_c`` (Å, > 0),
        ``cutoff`` (n2p2 name or number, default "cos"), ``cutoff_alpha``
        (inner cutoff fraction, 0 <= alpha < 1, default 0), ``center``
        (element, or absent/None for every atom).
    index : int
        Position in the list, for error messages.

    Returns
    -------
    dict
        All keys present; ``cutoff`` as its n2p2 name, ``neighbors`` a tuple.
    """
    where = f"symmetry function {index}"
    if not isinstance(spec, dict):
        raise InputError(f"{where}: expected a dict of parameters, got {type(spec).__name__}")
    t = spec.get("type")
    try:
        t_int = int(t)
    except (TypeError, ValueError):
        t_int = None
    if t_int not in _TYPE_KEYS or isinstance(t, bool) or (isinstance(t, float) and t != t_int):
        raise InputError(f"{where}: type must be 2 (radial), 3 (narrow angular) or 9 (wide angular), got {t!r}")
    t = t_int
    keys = _TYPE_KEYS[t]
    allowed = set(keys["required"]) | set(keys["optional"]) | set(_COMMON_KEYS)
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise InputError(f"{where} (type {t}): unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = [k for k in keys["required"] if k not in spec]
    if missing:
        raise InputError(f"{where} (type {t}): missing key(s) {missing}")
    neighbors = spec["neighbors"]
    if isinstance(neighbors, str):
        neighbors = [neighbors]
    neighbors = tuple(neighbors)
    n_need = 1 if t == 2 else 2
    if len(neighbors) != n_need:
        raise InputError(f"{where} (type {t}): neighbors must name {n_need} element(s), got {list(neighbors)}")
    for e in neighbors:
        _atomic_number(e, where)
    out = {"type": t, "neighbors": neighbors}
    out["eta"] = _float(spec["eta"], where, "eta")
    if out["eta"] < 0.0:
        raise InputError(f"{where}: eta must be >= 0 1/Å^2, got {out['eta']}")
    out["r_s"] = _float(spec.get("r_s", 0.0), where, "r_s")
    out["r_c"] = _float(spec["r_c"], where, "r_c")
    if out["r_c"] <= 0.0:
        raise InputError(f"{where}: r_c must be > 0 Å, got {out['r_c']}")
    if t != 2:
        out["zeta"] = _float(spec["zeta"], where, "zeta")
        if out["zeta"] <= 0.0:
            raise InputError(f"{where}: zeta must be > 0, got {out['zeta']}")
        out["lambda"] = _float(spec["lambda"], where, "lambda")
        if out["lambda"] not in (1.0, -1.0):
            raise InputError(f"{where}: lambda must be +1 or -1, got {spec['lambda']!r}")
    kind = cutoff_type(spec.get("cutoff", DEFAULT_CUTOFF), where)
    out["cutoff"] = _CUTOFF_NAMES[kind]
    out["cutoff_alpha"] = _float(spec.get("cutoff_alpha", 0.0), where, "cutoff_alpha")
    if not 0.0 <= out["cutoff_alpha"] < 1.0:
        raise InputError(f"{where}: cutoff_alpha must satisfy 0 <= alpha < 1, got {out['cutoff_alpha']}")
    center = spec.get("center")
    if center is not None:
        _atomic_number(center, where)
    out["center"] = center
    return out


def _integer_zeta(zeta):
    # Exactly integral zetas use repeated squaring (as n2p2's pow_int); the rest pow().
    return int(zeta) if float(zeta).is_integer() and zeta <= 1 << 30 else -1


class SymmetryFunctions:
    """A set of n2p2 symmetry functions (types 2, 3 and 9) and their analytic forces.

    Parameters
    ----------
    functions : list of dict
        One dict per function, in output-column order (see
        :func:`normalize_function` for the keys). Neighbour elements are
        resolved: a radial function counts neighbours of its one element, an
        angular function unordered pairs (j, k) whose elements are its pair.

    Attributes
    ----------
    functions : list of dict
        The definitions with defaults filled in.
    elements : list of str
        Every element named by the functions (centres and neighbours), by atomic number.
    cutoff : float
        Largest r_c, Å: the neighbour list must reach at least this far.
    n_functions : int
        Number of functions (columns of G).

    Notes
    -----
    Sums run over all neighbours within r_c including periodic images (several
    images of one atom, and an atom's own images, when r_c exceeds half the
    cell). n2p2 conventions: a term with 1 + lambda cos t <= 0 is dropped; the
    shift r_s of angular functions applies to r_ij, r_ik (and r_jk for type 3);
    hard, tanhu and tanh cutoffs ignore cutoff_alpha.
    """

    def __init__(self, functions):
        functions = list(functions)
        if not functions:
            raise InputError("SymmetryFunctions needs at least one function")
        self.functions = [normalize_function(f, k) for k, f in enumerate(functions)]
        named = set()
        for f in self.functions:
            named.update(f["neighbors"])
            if f["center"] is not None:
                named.add(f["center"])
        self.elements = sorted(named, key=lambda s: _atomic_number(s, "element"))
        self.cutoff = max(f["r_c"] for f in self.functions)
        self._tables = self._build_tables()
        # Atomic number -> species index; any element not named maps to "other" (n_el).
        n_el = len(self.elements)
        self._z_to_species = np.full(119, n_el, dtype=np.int64)
        for k, e in enumerate(self.elements):
            self._z_to_species[_atomic_number(e, "element")] = k

    # ------------------------------------------------------------------ description
    @property
    def n_functions(self) -> int:
        return len(self.functions)

    def __len__(self) -> int:
        return len(self.functions)

    def __repr__(self) -> str:
        return f"SymmetryFunctions({self.n_functions} functions, elements={self.elements}, cutoff={self.cutoff} Å)"

    def columns(self, element: str) -> np.ndarray:
        """Columns of G that apply to atoms of ``element`` (its centre or no centre), in order."""
        return np.array([k for k, f in enumerate(self.functions) if f["center"] in (None, element)],
                        dtype=np.int64)

    # ------------------------------------------------------------------ tables
    def _build_tables(self):
        """Group the functions into the kernels' parameter tables (kernels.descriptors docstring)."""
        elements = self.elements
        n_el = len(elements)
        n_sp = n_el + 1
        index = {e: k for k, e in enumerate(elements)}

        cut_keys = {}

        def cut_index(f):
            kind = cutoff_kernels.CUTOFF_TYPES[f["cutoff"]]
            # alpha only matters where n2p2 applies it; elsewhere equal cutoffs share one entry.
            alpha = f["cutoff_alpha"] if kind in cutoff_kernels.USES_ALPHA else 0.0
            return cut_keys.setdefault((kind, f["r_c"], alpha), len(cut_keys))

        center_rc = np.zeros((n_sp, 2))
        rad_rows = []  # (key, col, cut, eta, r_s)
        rp_rows = []  # (cut, eta, r_s), species after species (offsets in rp_first)
        grp_rows = []  # (key, type, rp global, [(col, izeta, lambda, zeta, norm), ...])
        rp_first = [0]
        for c in range(n_sp):
            center = elements[c] if c < n_el else None
            rp_local = {}
            groups = {}
            for col, f in enumerate(self.functions):
                if f["center"] is not None and f["center"] != center:
                    continue
                cut = cut_index(f)
                center_rc[c, 0] = max(center_rc[c, 0], f["r_c"])
                if f["type"] == 2:
                    key = c * n_el + index[f["neighbors"][0]]
                    rad_rows.append((key, col, cut, f["eta"], f["r_s"]))
                    continue
                center_rc[c, 1] = max(center_rc[c, 1], f["r_c"])
                rp = rp_local.setdefault((cut, f["eta"], f["r_s"]), rp_first[-1] + len(rp_local))
                lo, hi = sorted(index[e] for e in f["neighbors"])
                gkey = ((c * n_el + lo) * n_el + hi, f["type"], rp)
                groups.setdefault(gkey, []).append(
                    (col, _integer_zeta(f["zeta"]), f["lambda"], f["zeta"], 2.0 ** (1.0 - f["zeta"])))
            for (cut, eta, r_s), q in sorted(rp_local.items(), key=lambda kv: kv[1]):
                rp_rows.append((cut, eta, r_s))
            rp_first.append(rp_first[-1] + len(rp_local))
            # Dict order keeps the groups of one key in the order functions were given.
            for gkey in sorted(groups, key=lambda g: g[0]):
                grp_rows.append((gkey[0], gkey[1], gkey[2], groups[gkey]))

        cut_kind = np.array([k[0] for k in cut_keys], dtype=np.int64)
        cut_par = np.array([[k[1], k[2]] for k in cut_keys], dtype=np.float64).reshape(-1, 2)

        rad_rows.sort(key=lambda row: row[0])  # stable: column order within a key
        rad_first = np.zeros(n_sp * n_el + 1, dtype=np.int64)
        for row in rad_rows:
            rad_first[row[0] + 1] += 1
        rad_first = np.cumsum(rad_first).astype(np.int64)
        rad_int = np.array([[r[1], r[2]] for r in rad_rows], dtype=np.int64).reshape(-1, 2)
        rad_par = np.array([[r[3], r[4]] for r in rad_rows], dtype=np.float64).reshape(-1, 2)

        rp_cut = np.array([r[0] for r in rp_rows], dtype=np.int64)
        rp_par = np.array([[r[1], r[2]] for r in rp_rows], dtype=np.float64).reshape(-1, 2)

        ang_first = np.zeros(n_sp * n_el * n_el + 1, dtype=np.int64)
        for row in grp_rows:
            ang_first[row[0] + 1] += 1
        ang_first = np.cumsum(ang_first).astype(np.int64)
        grp_int = np.array([[r[1], r[2]] for r in grp_rows], dtype=np.int64).reshape(-1, 2)
        grp_first = np.zeros(len(grp_rows) + 1, dtype=np.int64)
        fn = []
        for g, row in enumerate(grp_rows):
            fn.extend(row[3])
            grp_first[g + 1] = len(fn)
        fn_int = np.array([[m[0], m[1]] for m in fn], dtype=np.int64).reshape(-1, 2)
        fn_par = np.array([[m[2], m[3], m[4]] for m in fn], dtype=np.float64).reshape(-1, 3)
        return (int(n_el), center_rc, cut_kind, cut_par, rad_first, rad_int, rad_par,
                np.array(rp_first, dtype=np.int64), rp_cut, rp_par, ang_first, grp_int, grp_first,
                fn_int, fn_par)

    # ------------------------------------------------------------------ evaluation
    def species_index(self, numbers) -> np.ndarray:
        """Kernel species of each atom: index into :attr:`elements`, or len(elements) for others."""
        numbers = np.asarray(numbers, dtype=np.int64)
        if numbers.size and (numbers.min() < 0 or numbers.max() >= self._z_to_species.size):
            raise InputError(f"atomic numbers must be in 0..{self._z_to_species.size - 1}")
        return self._z_to_species[numbers]

    def compute(self, atoms) -> np.ndarray:
        """Symmetry functions of a structure, with a neighbour list built for it.

        Parameters
        ----------
        atoms : ase.Atoms or echemmd.system.System

        Returns
        -------
        G : float64 (n_atoms, n_functions)
            In the order the functions were given; 0 where a function's centre
            is another element.
        """
        from echemmd.neighbors import NeighborList

        positions, cell, pbc, numbers = _structure_arrays(atoms)
        neighbors = NeighborList(self.cutoff, skin=0.0)
        neighbors.build(positions, cell, pbc)
        return self._values(positions, cell, numbers, neighbors.full)

    def compute_system(self, system, neighbors) -> np.ndarray:
        """Symmetry functions of ``system`` over an up-to-date full neighbour list.

        Parameters
        ----------
        system : echemmd.system.System
            Positions (unwrapped, as the list was updated with), cell, numbers.
        neighbors : echemmd.neighbors.NeighborList
            Full list with ``cutoff`` >= :attr:`cutoff`; pairs beyond a
            function's r_c are skipped.

        Returns
        -------
        G : float64 (n_atoms, n_functions)
        """
        lists = self._check_neighbors(system, neighbors)
        return self._values(system.positions, system.cell, system.numbers, lists)

    def forces(self, system, neighbors, dEdG):
        """Forces and virial of an energy E(G) given its gradient dE/dG.

        F_k = -sum_i sum_mu dEdG[i, mu] dG_i,mu/dx_k, from a second pass over
        the same neighbours (no dense dG/dr is stored).

        Parameters
        ----------
        system : echemmd.system.System
        neighbors : echemmd.neighbors.NeighborList
            As for :meth:`compute_system`.
        dEdG : array (n_atoms, n_functions)
            dE/dG_i,mu, eV (columns that do not apply to an atom are ignored).

        Returns
        -------
        forces : float64 (n_atoms, 3)
            eV/Å.
        virial : float64 (3, 3)
            W = sum over pairs r_ij (x) F_j generalised to many-body terms
            (W_ab = -dE/d eps_ab under x -> (1 + eps) x), eV; stress = -W / V.
        """
        lists = self._check_neighbors(system, neighbors)
        n = system.n_atoms
        dEdG = np.ascontiguousarray(dEdG, dtype=np.float64)
        if dEdG.shape != (n, self.n_functions):
            raise InputError(f"dEdG must have shape ({n}, {self.n_functions}), got {dEdG.shape}")
        first, nbrs, shifts = lists
        return kernels.symmetry_function_forces(
            np.ascontiguousarray(system.positions, dtype=np.float64),
            np.ascontiguousarray(system.cell, dtype=np.float64),
            self.species_index(system.numbers), first, nbrs, shifts, self._tables, dEdG)

    def jvp(self, system, neighbors, displacement, strain=None) -> np.ndarray:
        """Directional derivative of every function along a displacement field and a strain.

        ``U[i, mu] = d/dh G_i,mu(positions + h (displacement + positions @ strain),
        cell + h cell @ strain)`` at h = 0 (row vectors: r -> r + h r @ strain),
        exact and from one pass over the neighbours. It is the forward-mode
        twin of :meth:`forces`: for any dEdG,
        ``sum(dEdG * U) = -sum(forces * displacement) - sum(virial * strain)``.

        Parameters
        ----------
        system : echemmd.system.System
        neighbors : echemmd.neighbors.NeighborList
            As for :meth:`compute_system`.
        displacement : array (n_atoms, 3)
            Direction of motion of each atom, Å.
        strain : array (3, 3), optional
            Homogeneous strain direction (dimensionless); None means none.

        Returns
        -------
        U : float64 (n_atoms, n_functions)
            Dimensionless; 0 in columns that do not apply to an atom.
        """
        lists = self._check_neighbors(system, neighbors)
        n = system.n_atoms
        displacement = np.ascontiguousarray(displacement, dtype=np.float64)
        if displacement.shape != (n, 3):
            raise InputError(f"displacement must have shape ({n}, 3), got {displacement.shape}")
        if strain is None:
            strain = np.zeros((3, 3))
        strain = np.ascontiguousarray(strain, dtype=np.float64)
        if strain.shape != (3, 3):
            raise InputError(f"strain must have shape (3, 3), got {strain.shape}")
        first, nbrs, shifts = lists
        return kernels.symmetry_function_jvp(
            np.ascontiguousarray(system.positions, dtype=np.float64),
            np.ascontiguousarray(system.cell, dtype=np.float64),
            self.species_index(system.numbers), first, nbrs, shifts, self._tables, self.n_functions,
            displacement, strain)

    # ------------------------------------------------------------------ helpers
    def _values(self, positions, cell, numbers, lists):
        first, nbrs, shifts = lists
        return kernels.symmetry_functions(
            np.ascontiguousarray(positions, dtype=np.float64), np.ascontiguousarray(cell, dtype=np.float64),
            self.species_index(numbers), first, nbrs, shifts, self._tables, self.n_functions)

    def _check_neighbors(self, system, neighbors):
        if getattr(neighbors, "first", None) is None:
            raise NeighborListError("the neighbour list has not been built; call neighbors.update(...) first")
        cutoff = getattr(neighbors, "cutoff", None)
        if cutoff is not None and cutoff < self.cutoff * (1.0 - 1e-12):
            raise NeighborListError(f"the neighbour-list cutoff {cutoff} Å is shorter than the largest "
                                    f"symmetry-function cutoff {self.cutoff} Å")
        first, nbrs, shifts = neighbors.full
        if first.shape[0] != system.n_atoms + 1:
            raise NeighborListError(f"the neighbour list holds {first.shape[0] - 1} atoms, "
                                    f"the system {system.n_atoms}")
        return first, nbrs, shifts


def _structure_arrays(atoms):
    """(positions, cell, pbc, numbers) of an ASE Atoms or an echemmd System."""
    if hasattr(atoms, "get_positions"):
        return (np.asarray(atoms.get_positions(), dtype=np.float64), np.asarray(atoms.cell.array, dtype=np.float64),
                np.asarray(atoms.pbc, dtype=bool), np.asarray(atoms.numbers, dtype=np.int64))
    return atoms.positions, atoms.cell, atoms.pbc, atoms.numbers

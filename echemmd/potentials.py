"""Pair potentials for tests and teaching labs: Lennard-Jones and Born–Mayer–Huggins.

Per-pair parameters are given by element pair. Energies can be shifted to
zero at the cutoff (forces are unchanged, as in LAMMPS ``pair_modify shift yes``).
"""

from __future__ import annotations

import math

import numpy as np

from echemmd.errors import InputError
from echemmd.forcefield import Contribution
from echemmd.kernels import pair as kernels

_REQUIRED = {"lj": ("epsilon", "sigma"), "bmh": ("A", "rho")}
_OPTIONAL = {"lj": ("cutoff",), "bmh": ("sigma", "C", "D", "cutoff")}
MIXING_RULES = ("none", "lorentz-berthelot", "geometric")


def pair_key(a: str, b: str) -> tuple:
    """Order-free key of an element pair."""
    return tuple(sorted((a, b)))


def parse_pair_name(name: str) -> tuple:
    """'Na-Cl' -> ('Cl', 'Na')."""
    parts = name.split("-")
    if len(parts) != 2 or not all(parts):
        raise InputError(f"pair name {name!r} must look like 'A-B' with two element symbols")
    return pair_key(*parts)


class PairPotential:
    """A short-range pair potential over the half neighbour list.

    Parameters
    ----------
    style : {"lj", "bmh"}
        "lj": U = 4 eps [(sigma/r)^12 - (sigma/r)^6], coefficients epsilon (eV), sigma (Å).
        "bmh": U = A exp((sigma - r)/rho) - C/r^6 - D/r^8, coefficients A (eV), rho (Å),
        sigma (Å, default 0), C (eV Å^6, default 0), D (eV Å^8, default 0); Buckingham is
        sigma = 0 and D = 0.
    coeffs : dict
        Element pair ("A-B" string or (A, B) tuple) -> dict of coefficients; each may set its
        own ``cutoff`` (Å).
    cutoff : float
        Default cutoff, Å.
    shift : bool
        Shift each pair's energy to zero at its cutoff.
    mixing : {"none", "lorentz-berthelot", "geometric"}
        LJ only: how missing cross pairs are made from the like pairs.
    name : str
        Name of the energy term (default: the style).
    """

    #: Reads only the half list: a force field of pair potentials alone builds half lists.
    neighbor_list = "half"

    def __init__(self, style, coeffs, cutoff, shift=True, mixing="none", name=None):
        if style not in _REQUIRED:
            raise InputError(f"pair style {style!r} is unknown; allowed: {', '.join(_REQUIRED)}")
        if mixing not in MIXING_RULES:
            raise InputError(f"mixing rule {mixing!r} is unknown; allowed: {', '.join(MIXING_RULES)}")
        if mixing != "none" and style != "lj":
            raise InputError(f"mixing rules apply to style 'lj' only, not {style!r}")
        if cutoff <= 0:
            raise InputError(f"pair cutoff must be > 0 Å, got {cutoff}")
        self.style = style
        self.shift = bool(shift)
        self.mixing = mixing
        self.default_cutoff = float(cutoff)
        self.name = name or style
        self.coeffs = {}
        for key, values in coeffs.items():
            pair = parse_pair_name(key) if isinstance(key, str) else pair_key(*key)
            unknown = set(values) - set(_REQUIRED[style]) - set(_OPTIONAL[style])
            if unknown:
                allowed = ", ".join(_REQUIRED[style] + _OPTIONAL[style])
                raise InputError(f"pair {'-'.join(pair)}: unknown coefficient(s) {sorted(unknown)}; "
                                 f"style {style!r} takes {allowed}")
            missing = [k for k in _REQUIRED[style] if k not in values]
            if missing:
                raise InputError(f"pair {'-'.join(pair)}: missing coefficient(s) {missing} for style {style!r}")
            self.coeffs[pair] = {k: float(v) for k, v in values.items()}
        self._species = None
        self._numbers = None
        self._params = None

    @property
    def cutoff(self) -> float:
        """Largest cutoff of any pair, Å."""
        return max([self.default_cutoff] + [c.get("cutoff", 0.0) for c in self.coeffs.values()])

    def pair_coefficients(self, a: str, b: str) -> dict:
        """Coefficients of the pair (a, b), mixed if allowed."""
        key = pair_key(a, b)
        if key in self.coeffs:
            return self.coeffs[key]
        like_a, like_b = self.coeffs.get((a, a)), self.coeffs.get((b, b))
        if self.mixing != "none" and like_a is not None and like_b is not None:
            eps = math.sqrt(like_a["epsilon"] * like_b["epsilon"])
            if self.mixing == "lorentz-berthelot":
                sigma = 0.5 * (like_a["sigma"] + like_b["sigma"])
            else:
                sigma = math.sqrt(like_a["sigma"] * like_b["sigma"])
            return {"epsilon": eps, "sigma": sigma}
        hint = "" if self.style != "lj" else " or set a mixing rule"
        raise InputError(f"pair style {self.name!r}: no coefficients for {a}-{b}; "
                         f"add '{a}-{b}'{hint}")

    def parameter_table(self, species) -> np.ndarray:
        """Kernel parameter table (T, T, N_PARAMS) for the given species order."""
        t = len(species)
        params = np.zeros((t, t, kernels.N_PARAMS))
        for i, a in enumerate(species):
            for j, b in enumerate(species):
                c = self.pair_coefficients(a, b)
                rc = c.get("cutoff", self.default_cutoff)
                if self.style == "lj":
                    s6 = c["sigma"] ** 6
                    c12, c6 = 4.0 * c["epsilon"] * s6 * s6, 4.0 * c["epsilon"] * s6
                    shift = kernels.lennard_jones(rc * rc, c12, c6)[0] if self.shift else 0.0
                    # A pair that does not interact gets a zero cutoff: the kernel skips it.
                    params[i, j, :4] = (c12, c6, rc * rc if c12 or c6 else 0.0, shift)
                else:
                    p = (c["A"], c["rho"], c.get("sigma", 0.0), c.get("C", 0.0), c.get("D", 0.0))
                    shift = kernels.born_mayer_huggins(rc * rc, *p)[0] if self.shift else 0.0
                    interacts = p[0] or p[3] or p[4]
                    params[i, j, :] = p + (rc * rc if interacts else 0.0, shift)
        return params

    #: ``compute(..., energy_virial=False)`` skips the energy and virial sums (forces only).
    forces_only = True

    def compute(self, system, neighbors, energy_virial=True) -> Contribution:
        """Energy (eV), forces (eV/Å) and virial (eV) of ``system``.

        ``energy_virial=False``: forces only; energy and virial are NaN (see
        :meth:`echemmd.forcefield.ForceField.compute`).
        """
        # The type table is rebuilt only when the atoms' elements change (np.unique is a sort).
        if self._numbers is None or not np.array_equal(system.numbers, self._numbers):
            self._numbers = np.array(system.numbers)
            species = tuple(system.species)
            if species != self._species:
                self._params = self.parameter_table(species)
                self._species = species
                # Atomic number -> type index, so types cost one gather per call.
                self._lookup = np.full(max(system.numbers) + 1, -1, dtype=np.int64)
                for k, s in enumerate(species):
                    self._lookup[system.numbers[system.symbols.index(s)]] = k
        types = self._lookup[system.numbers]
        style = kernels.LENNARD_JONES if self.style == "lj" else kernels.BORN_MAYER_HUGGINS
        first, neigh, shifts = neighbors.half
        e, f, w = kernels.pair_forces(style, system.positions, system.cell, types, self._params,
                                      first, neigh, shifts, bool(energy_virial))
        if not energy_virial:
            e, w = math.nan, np.full((3, 3), math.nan)
        return Contribution(e, f, w, {self.name: e}, forces_only=not energy_virial)


def LennardJones(coeffs, cutoff, shift=True, mixing="none", name="lj"):
    """Lennard-Jones 12-6 term; see :class:`PairPotential`."""
    return PairPotential("lj", coeffs, cutoff, shift=shift, mixing=mixing, name=name)


def BornMayerHuggins(coeffs, cutoff, shift=True, name="bmh"):
    """Born–Mayer–Huggins (Tosi–Fumi) / Buckingham term; see :class:`PairPotential`."""
    return PairPotential("bmh", coeffs, cutoff, shift=shift, name=name)

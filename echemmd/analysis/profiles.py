"""Density profiles along z: number density per species and charge density.

Slabs are bins of width ``dz`` along z, each of volume ``A dz`` with ``A = |a x b|`` the
in-plane area of that frame (profiles along z need a and b in the xy plane, which is the
slab convention of DESIGN.md §3). Number densities count atoms as points (1/Å^3).

The charge density (e/Å^3) treats every atom as DESIGN.md §6 does: a Gaussian of width
sigma_i, or a point charge when sigma_i = 0. A Gaussian's share of a bin is integrated
exactly, ``q_i [Phi((z_k+1 - z_i)/sigma_i) - Phi((z_k - z_i)/sigma_i)]`` with Phi the normal
CDF, so the binned profile holds exactly the charge of each slab: the electric field
obtained from it by Gauss's law is exact at every bin edge (see
:mod:`echemmd.analysis.electrostatics`). Electrode charges in a constant-potential run are
Gaussians of width ``sigma`` (the deck's ``[[electrode]] sigma``), so pass the same widths
here, per atom or per element.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from echemmd.analysis import n_selected, new_figure, save_figure, trajectory_info, write_csv
from echemmd.errors import InputError

#: Gaussian tails beyond this many widths hold < 1e-15 of the charge: images further away are skipped.
_GAUSS_REACH = 8.0
_CHUNK = 2048  # atoms per chunk of the (atoms x edges) CDF table, bounds memory
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def check_z_cell(cell, where="trajectory"):
    """Raise InputError unless a and b lie in the xy plane (profiles along z need it)."""
    cell = np.asarray(cell, dtype=np.float64)
    scale = max(1.0, float(np.abs(cell).max()))
    if abs(cell[0, 2]) > 1e-8 * scale or abs(cell[1, 2]) > 1e-8 * scale or cell[2, 2] <= 0:
        raise InputError(f"{where}: profiles along z need cell vectors a and b in the xy plane and c_z > 0 "
                         f"(the slab convention); this cell is {cell.tolist()}")


def in_plane_area(cell) -> float:
    """|a x b|, Å^2."""
    return float(np.linalg.norm(np.cross(cell[0], cell[1])))


def z_edges(cell, bin_width=0.1, z_range=None) -> np.ndarray:
    """Bin edges along z, Å.

    Parameters
    ----------
    cell : ndarray, (3, 3)
        Rows, Å; a and b in the xy plane.
    bin_width : float
        Requested width, Å; adjusted so that a whole number of bins fills the range.
    z_range : (float, float) or None
        Range, Å; default ``(0, c_z)``, the cell.
    """
    check_z_cell(cell)
    zlo, zhi = (0.0, float(cell[2, 2])) if z_range is None else (float(z_range[0]), float(z_range[1]))
    if not zhi > zlo:
        raise InputError(f"z range must have zmax > zmin, got {zlo}:{zhi}")
    if not bin_width > 0:
        raise InputError(f"bin width must be > 0 Å, got {bin_width}")
    n = max(1, int(round((zhi - zlo) / bin_width)))
    return np.linspace(zlo, zhi, n + 1)


def resolve_sigma(sigma, symbols) -> np.ndarray:
    """Gaussian width per atom, Å (0: point charge).

    Parameters
    ----------
    sigma : None, float, dict of str to float, or array_like (N,)
        None: all point charges; a float: every atom; a dict: per element symbol
        (elements not named are point charges); an array: per atom.
    symbols : list of str, (N,)
    """
    n = len(symbols)
    if sigma is None:
        return np.zeros(n)
    if isinstance(sigma, dict):
        present = set(symbols)
        unknown = sorted(set(sigma) - present)
        if unknown:
            raise InputError(f"sigma given for {unknown}, which the trajectory does not hold; "
                             f"its elements are {sorted(present)}")
        out = np.array([float(sigma.get(s, 0.0)) for s in symbols])
    elif np.ndim(sigma) == 0:
        out = np.full(n, float(sigma))
    else:
        out = np.asarray(sigma, dtype=np.float64)
        if out.shape != (n,):
            raise InputError(f"sigma per atom must have {n} values, got shape {out.shape}")
    if np.any(out < 0) or not np.all(np.isfinite(out)):
        raise InputError("sigma must be finite and >= 0 Å")
    return out


def binned_charge(z, q, sigma, edges, period=None, moment=False):
    """Charge (or any weight) of Gaussian/point atoms in each bin, and optionally its first moment.

    Parameters
    ----------
    z : ndarray, (N,)
        Heights, Å.
    q : ndarray, (N,)
        Charges (e) or weights.
    sigma : ndarray, (N,)
        Gaussian widths, Å (0: point).
    edges : ndarray, (B+1,)
        Bin edges, Å, increasing and equally spaced.
    period : float or None
        Periodic length along z (bulk); heights are folded into
        ``[edges[0], edges[0] + period)`` and Gaussian tails wrap around.
    moment : bool
        Also return the first moment of each bin's charge about the bin centre c_k,
        ``sum_i q_i int_bin (z' - c_k) n_i(z') dz'`` (e·Å), n_i the atom's normalised
        profile. It makes the double integration of Poisson's equation exact at the edges
        (:func:`echemmd.analysis.electrostatics.potential_from_charge_density`).

    Returns
    -------
    charge : ndarray, (B,)
        Sum of ``q_i`` times the fraction of atom i in each bin (what falls outside
        the edges of a non-periodic range is lost).
    first_moment : ndarray, (B,)
        Only with ``moment=True``.
    """
    z = np.asarray(z, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    nb = len(edges) - 1
    lo, width = edges[0], (edges[-1] - edges[0]) / nb
    centres = 0.5 * (edges[1:] + edges[:-1])
    if period is not None:
        z = lo + np.mod(z - lo, period)
    out = np.zeros(nb)
    mom = np.zeros(nb)
    point = sigma == 0.0
    if point.any():
        k = np.floor((z[point] - lo) / width).astype(np.int64)
        ok = (k >= 0) & (k < nb)
        out += np.bincount(k[ok], weights=q[point][ok], minlength=nb)
        if moment:
            mom += np.bincount(k[ok], weights=q[point][ok] * (z[point][ok] - centres[k[ok]]), minlength=nb)
    gi = np.nonzero(~point)[0]
    if len(gi):
        images = [0.0]
        if period is not None:
            m = int(math.ceil(_GAUSS_REACH * sigma[gi].max() / period)) + 1
            images = [n * period for n in range(-m, m + 1)]
        cdf = np.zeros(nb + 1)
        first = np.zeros(nb + 1)
        for s in range(0, len(gi), _CHUNK):
            idx = gi[s:s + _CHUNK]
            for shift in images:
                zi = z[idx, None] + shift
                u = (edges[None, :] - zi) / sigma[idx, None]
                cdf += q[idx] @ ndtr(u)
                if moment:
                    # int_-inf^e (z' - lo) n_i dz' = (z_i - lo) Phi(u) - sigma phi(u), phi the normal pdf;
                    # measured from lo so that no large numbers cancel.
                    pdf = np.exp(-0.5 * u * u) * _INV_SQRT_2PI
                    first += q[idx] @ ((zi - lo) * ndtr(u) - sigma[idx, None] * pdf)
        qg = np.diff(cdf)
        out += qg
        if moment:
            mom += np.diff(first) - (centres - lo) * qg
    return (out, mom) if moment else out


_TERM = re.compile(r"^(?P<what>[A-Za-z*][a-z]?|\d+(?::\d+)?)(?:\[(?P<zlo>[-+0-9.eE]*):(?P<zhi>[-+0-9.eE]*)\])?$")


def select_atoms(spec, symbols, positions=None, where="selection") -> np.ndarray:
    """Atom indices from a short selection string.

    Terms joined by ``+``: an element (``Au``), every atom (``*``), an index (``12``) or an
    index range (``0:108``, end excluded), each optionally followed by a z window
    ``[zmin:zmax]`` in Å tested on ``positions`` (e.g. ``Au[0:40]``: the gold atoms
    below z = 40 Å, an electrode).

    Parameters
    ----------
    spec : str
    symbols : list of str
    positions : ndarray, (N, 3) or None
        Needed for z windows.
    where : str
        Named in error messages (e.g. the option that gave the string).

    Returns
    -------
    ndarray of int
        Sorted unique indices.
    """
    symbols = np.asarray(symbols)
    n = len(symbols)
    chosen = np.zeros(n, dtype=bool)
    for term in str(spec).replace(" ", "").split("+"):
        m = _TERM.match(term)
        if not m:
            raise InputError(f"{where}: cannot read {term!r}; use an element (Au), *, an index (12), "
                             f"a range (0:108), optionally with a z window [zmin:zmax], joined by +")
        what = m.group("what")
        mask = np.zeros(n, dtype=bool)
        if what == "*":
            mask[:] = True
        elif what[0].isdigit():
            if ":" in what:
                a, b = (int(v) for v in what.split(":"))
            else:
                a = int(what)
                b = a + 1
            if not 0 <= a < b <= n:
                raise InputError(f"{where}: index range {what!r} outside 0:{n}")
            mask[a:b] = True
        else:
            mask = symbols == what
            if not mask.any():
                raise InputError(f"{where}: no atom of element {what!r}; the trajectory has {sorted(set(symbols))}")
        if m.group("zlo") is not None:
            if positions is None:
                raise InputError(f"{where}: a z window needs positions")
            zlo = float(m.group("zlo")) if m.group("zlo") else -np.inf
            zhi = float(m.group("zhi")) if m.group("zhi") else np.inf
            z = np.asarray(positions)[:, 2]
            mask &= (z >= zlo) & (z < zhi)
        chosen |= mask
    idx = np.nonzero(chosen)[0]
    if len(idx) == 0:
        raise InputError(f"{where}: {spec!r} selects no atom")
    return idx


@dataclass
class DensityProfile:
    """Number and charge density profiles along z, averaged over frames.

    Attributes
    ----------
    edges : ndarray, (B+1,)
        Bin edges, Å.
    area : float
        Mean in-plane area |a x b|, Å^2.
    number : dict of str to ndarray (B,)
        Number density per species, 1/Å^3.
    number_error : dict of str to ndarray (B,)
        Block-averaged standard error, 1/Å^3.
    charge : ndarray (B,) or None
        Charge density, e/Å^3 (Gaussian charges integrated over each bin).
    charge_error : ndarray (B,) or None
    charge_blocks : ndarray (n_blocks, B) or None
        Block means of the charge density (for errors of quantities derived from it).
    polarization : ndarray (B,) or None
        First moment of each bin's charge about the bin centre per volume,
        ``int_bin (z - c_k) rho dz / dz``, e/Å^2 (zero for a uniform bin); with it the
        Poisson integration is exact at the bin edges.
    polarization_blocks : ndarray (n_blocks, B) or None
    n_frames, n_blocks : int
    periodic : bool
        Whether z is periodic (bulk) or not (slab).
    atoms_outside : float
        Mean number of atoms per frame outside the z range (non-periodic z).
    """

    edges: np.ndarray
    area: float
    number: dict
    number_error: dict
    charge: np.ndarray | None
    charge_error: np.ndarray | None
    charge_blocks: np.ndarray | None
    polarization: np.ndarray | None
    polarization_blocks: np.ndarray | None
    n_frames: int
    n_blocks: int
    periodic: bool
    atoms_outside: float = 0.0
    charge_outside: float = 0.0
    sigma: np.ndarray | None = field(default=None, repr=False)

    @property
    def centers(self) -> np.ndarray:
        """Bin centres, Å."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def bin_width(self) -> float:
        return float(self.edges[1] - self.edges[0])

    def save(self, directory, prefix="") -> list:
        """Write ``density.csv/png`` and, with charges, ``charge_density.csv/png``; returns the paths."""
        os.makedirs(directory, exist_ok=True)
        paths = []
        cols = {"z_A": self.centers}
        for s in self.number:
            cols[f"rho_{s}_1/A3"] = self.number[s]
            cols[f"rho_{s}_err_1/A3"] = self.number_error[s]
        paths.append(write_csv(os.path.join(directory, f"{prefix}density.csv"), cols))
        fig, ax = new_figure()
        ax = ax[0, 0]
        for s in self.number:
            ax.plot(self.centers, self.number[s], label=s)
        ax.set_xlabel("z (Å)")
        ax.set_ylabel("number density (1/Å³)")
        ax.set_title(f"density profiles, {self.n_frames} frames")
        ax.legend()
        paths.append(save_figure(fig, os.path.join(directory, f"{prefix}density.png")))
        if self.charge is not None:
            paths.append(write_csv(os.path.join(directory, f"{prefix}charge_density.csv"),
                                   {"z_A": self.centers, "rho_q_e/A3": self.charge,
                                    "rho_q_err_e/A3": self.charge_error}))
            fig, ax = new_figure()
            ax = ax[0, 0]
            ax.plot(self.centers, self.charge, color="k")
            ax.axhline(0.0, color="0.7", lw=0.8)
            ax.set_xlabel("z (Å)")
            ax.set_ylabel("charge density (e/Å³)")
            ax.set_title("charge density (Gaussian charges integrated per bin)")
            paths.append(save_figure(fig, os.path.join(directory, f"{prefix}charge_density.png")))
        return paths


def density_profiles(path, bin_width=0.1, z_range=None, sigma=None, species=None, start=0, stop=None, stride=1,
                     n_blocks=5, group=None, charges=True) -> DensityProfile:
    """Number-density profiles per species and the charge-density profile along z.

    Parameters
    ----------
    path : str or os.PathLike
        H5MD trajectory.
    bin_width : float
        Å.
    z_range : (float, float) or None
        Å; default the cell, ``(0, c_z)`` of the first frame.
    sigma : see :func:`resolve_sigma`
        Gaussian widths of the charges, Å; None: point charges.
    species : list of str or None
        Species for number densities; default all.
    start, stop, stride : int
        Frames ``range(start, stop, stride)``.
    n_blocks : int
        Blocks of consecutive frames for the error bars (fewer if fewer frames).
    group : str or None
        H5MD particle group.
    charges : bool
        Also the charge density (needs charges in the file).

    Returns
    -------
    DensityProfile
    """
    from echemmd.io.h5md import iter_h5md_frames

    info = trajectory_info(path, group)
    try:
        edges = z_edges(info.cell, bin_width, z_range)
    except InputError as exc:
        raise InputError(f"{info.path}: {exc}") from None
    nb = len(edges) - 1
    dz = edges[1] - edges[0]
    periodic = bool(info.pbc[2])
    symbols = np.asarray(info.symbols)
    names = info.species if species is None else list(species)
    for s in names:
        if s not in info.species:
            raise InputError(f"{info.path}: species {s!r} not in the trajectory; it has {info.species}")
    members = {s: np.nonzero(symbols == s)[0] for s in names}
    sig = resolve_sigma(sigma, info.symbols)
    want_charge = charges and info.has_charges
    n = n_selected(info.n_frames, start, stop, stride)
    if n == 0:
        raise InputError(f"{info.path}: no frames in range({start}, {stop}, {stride}) of {info.n_frames}")
    n_blocks = max(1, min(int(n_blocks), n))
    num_blocks = {s: np.zeros((n_blocks, nb)) for s in names}
    q_blocks = np.zeros((n_blocks, nb))
    p_blocks = np.zeros((n_blocks, nb))
    per_block = np.zeros(n_blocks)
    area_sum = outside = q_outside = 0.0
    for k, fr in enumerate(iter_h5md_frames(path, group, start, stop, stride)):
        b = k * n_blocks // n
        check_z_cell(fr.cell, info.path)
        area = in_plane_area(fr.cell)
        area_sum += area
        vol = area * dz
        z = fr.positions[:, 2]
        period = fr.cell[2, 2] if periodic else None
        if period is not None:
            z = edges[0] + np.mod(z - edges[0], period)
        else:
            outside += np.count_nonzero((z < edges[0]) | (z >= edges[-1]))
        for s in names:
            num_blocks[s][b] += binned_charge(z[members[s]], np.ones(len(members[s])),
                                              np.zeros(len(members[s])), edges) / vol
        if want_charge:
            qb, pb = binned_charge(z, fr.charges, sig, edges, period, moment=True)
            q_outside += fr.charges.sum() - qb.sum()
            q_blocks[b] += qb / vol
            p_blocks[b] += pb / vol
        per_block[b] += 1
    num_blocks = {s: v / per_block[:, None] for s, v in num_blocks.items()}
    q_blocks = q_blocks / per_block[:, None]
    p_blocks = p_blocks / per_block[:, None]
    w = per_block / per_block.sum()  # blocks may differ by one frame: weight by frames

    def mean_err(blocks):
        mean = w @ blocks
        err = blocks.std(axis=0, ddof=1) / np.sqrt(n_blocks) if n_blocks > 1 else np.full(nb, np.nan)
        return mean, err

    number, number_err = {}, {}
    for s in names:
        number[s], number_err[s] = mean_err(num_blocks[s])
    charge = charge_err = None
    if want_charge:
        charge, charge_err = mean_err(q_blocks)
    return DensityProfile(edges, area_sum / n, number, number_err, charge, charge_err,
                          q_blocks if want_charge else None, (w @ p_blocks) if want_charge else None,
                          p_blocks if want_charge else None, n, n_blocks, periodic,
                          outside / n, q_outside / n, sig)

"""Structure: radial distribution functions, coordination numbers, water orientation.

RDF normalisation
-----------------
``g_AB(r) = <n_AB(r)> / n_AB^ideal(r)``: the number of B atoms in the shell [r, r + dr]
around each A atom, over the same count for an ideal (uncorrelated) reference. Pairs are
counted over *all* periodic images within ``r_max`` (not only the nearest one), so any
``r_max`` is exact in any cell; an atom is never paired with itself or its own images.

* bulk (pbc T T T): ideal gas at the cell's density,
  ``n^ideal = N_A (N_B - delta_AB) / V * 4 pi/3 (r_k+1^3 - r_k^3)`` per frame.
* slab (pbc T T F): a uniform density is wrong — the liquid fills only part of the cell
  and is layered at the walls, so the plain bulk formula makes g(r) fall below 1 at
  large r. The reference keeps the measured heights of the atoms and puts B at random
  in the plane (the in-plane minimum image / all in-plane images): a pair at height
  difference u = |z_j - z_i| has, over a random in-plane position, a probability
  ``2 pi r dr / A`` to lie in the shell when u < r (and 0 otherwise), A = |a x b|. Hence,
  integrated exactly over each bin,
  ``n^ideal_k = (pi / A) sum_pairs (r_k+1^2 - max(r_k, u)^2) [u < r_k+1]``.
  For an ideal gas of any density profile rho(z) this gives g = 1 exactly, for a slab of
  any thickness and at any r: the accessible volume of each shell is accounted for pair
  by pair. (Bulk normalisation is the special case of a uniform rho(z) in a periodic cell.)

Coordination numbers need no reference: ``n_AB(R)`` = mean number of B within R of an A.

Water orientation
-----------------
Each oxygen takes its two nearest hydrogens (minimum image, within ``r_oh``); the dipole
direction is O -> midpoint of the two H. The distribution of cos(theta), theta the angle
between that vector and +z, is histogrammed against the oxygen's height. Bins are in
cos(theta) because an isotropic liquid is uniform in cos(theta) (P(theta) carries a
sin(theta) Jacobian).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from echemmd.analysis import n_selected, new_figure, save_figure, trajectory_info, write_csv
from echemmd.analysis.profiles import check_z_cell, in_plane_area, z_edges
from echemmd.errors import InputError

_PAIR_CHUNK = 1_000_000  # pair distances per block of work, bounds memory


def image_shifts(cell, pbc, r_max) -> np.ndarray:
    """Cartesian image shifts that can hold a pair closer than ``r_max`` (after minimum image).

    A displacement reduced to fractional coordinates in [-1/2, 1/2] reaches image n along a
    periodic vector k only if (|n| - 1/2) w_k < r_max, w_k the cell's width perpendicular to
    the other two vectors.
    """
    cell = np.asarray(cell, dtype=np.float64)
    vol = abs(np.linalg.det(cell))
    ranges = []
    for k in range(3):
        if pbc[k]:
            width = vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3]))
            m = int(math.floor(r_max / width + 0.5))
            ranges.append(np.arange(-m, m + 1))
        else:
            ranges.append(np.array([0]))
    n = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    return n @ cell


def minimum_image(d, cell, pbc) -> np.ndarray:
    """Displacements reduced to fractional coordinates in [-1/2, 1/2] along periodic vectors, Å."""
    pbc = np.asarray(pbc, dtype=bool)
    if not pbc.any():
        return d
    frac = d @ np.linalg.inv(cell)
    frac[..., pbc] -= np.round(frac[..., pbc])
    return frac @ cell


def _mode(pbc, normalization, where):
    pbc = np.asarray(pbc, dtype=bool)
    auto = "bulk" if pbc.all() else ("slab" if pbc[0] and pbc[1] and not pbc[2] else None)
    if normalization is None:
        if auto is None:
            raise InputError(f"{where}: RDF normalisation needs pbc T T T (bulk) or T T F (slab), got {list(pbc)}")
        return auto
    if normalization not in ("bulk", "slab"):
        raise InputError(f"{where}: RDF normalization {normalization!r}; allowed 'bulk', 'slab'")
    if normalization == "bulk" and not pbc.all():
        raise InputError(f"{where}: bulk RDF normalisation (ideal gas in the cell volume) needs pbc T T T; "
                         f"this trajectory has {list(pbc)}: use 'slab'")
    if normalization == "slab" and auto != "slab":
        raise InputError(f"{where}: slab RDF normalisation needs a slab trajectory (pbc T T F), this one has "
                         f"{list(pbc)}")
    return normalization


@dataclass
class RDF:
    """Radial distribution function of one pair of species.

    Attributes
    ----------
    pair : (str, str)
        (A, B): B around A.
    edges : ndarray, (K+1,)
        Shell edges, Å.
    g, g_error : ndarray, (K,)
        g(r) and its block-averaged standard error (dimensionless).
    counts : ndarray, (K,)
        B atoms found in each shell, summed over A atoms and frames.
    reference : ndarray, (K,)
        The ideal reference for the same frames.
    n_centres : float
        Number of A atoms summed over frames (for coordination numbers).
    n_frames : int
    normalization : str
        ``"bulk"`` or ``"slab"``.
    """

    pair: tuple
    edges: np.ndarray
    g: np.ndarray
    g_error: np.ndarray
    counts: np.ndarray
    reference: np.ndarray
    n_centres: float
    n_frames: int
    normalization: str

    @property
    def r(self) -> np.ndarray:
        """Shell centres, Å."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def label(self) -> str:
        return f"{self.pair[0]}-{self.pair[1]}"

    @property
    def coordination(self) -> np.ndarray:
        """n_AB(r) at the outer edge of every shell (mean number of B within r of an A)."""
        return np.cumsum(self.counts) / self.n_centres

    def save(self, directory, prefix="") -> list:
        """Write ``rdf_<A>-<B>.csv`` and ``.png``; returns the paths."""
        return save_rdfs([self], directory, name=f"{prefix}rdf_{self.label}")


def save_rdfs(rdfs, directory, name="rdf") -> list:
    """Several RDFs (same shells) into one CSV and one PNG: ``r_A``, ``g_<A>-<B>``, ``cn_<A>-<B>``."""
    os.makedirs(directory, exist_ok=True)
    rdfs = list(rdfs)
    r = rdfs[0].r
    cols = {"r_A": r}
    for x in rdfs:
        if len(x.r) != len(r) or not np.allclose(x.r, r):
            raise ValueError("RDFs saved together must share their shells")
        cols[f"g_{x.label}"] = x.g
        cols[f"g_{x.label}_err"] = x.g_error
        # Coordination at the shell centre: half the shell's own count.
        cols[f"cn_{x.label}"] = x.coordination - 0.5 * x.counts / x.n_centres
    paths = [write_csv(os.path.join(directory, f"{name}.csv"), cols)]
    fig, axes = new_figure(2, 1, size=(6.4, 6.0))
    for x in rdfs:
        axes[0, 0].plot(x.r, x.g, label=x.label)
        axes[1, 0].plot(x.edges[1:], x.coordination, label=x.label)
    axes[0, 0].axhline(1.0, color="0.7", lw=0.8)
    axes[0, 0].set_xlabel("r (Å)")
    axes[0, 0].set_ylabel("g(r)")
    axes[0, 0].set_title(f"RDF ({rdfs[0].normalization} normalisation)")
    axes[0, 0].legend()
    axes[1, 0].set_xlabel("r (Å)")
    axes[1, 0].set_ylabel("coordination number n(r)")
    paths.append(save_figure(fig, os.path.join(directory, f"{name}.png")))
    return paths


def _pair_histogram(xa, xb, same, cell, pbc, edges, slab):
    """Counts and ideal reference of one frame for B around A (module docstring)."""
    nb = len(edges) - 1
    r_max = edges[-1]
    dr = (edges[-1] - edges[0]) / nb
    counts = np.zeros(nb)
    u2_sum = np.zeros(nb)
    u_count = np.zeros(nb)
    below_total = 0
    shifts = image_shifts(cell, pbc, r_max)
    rows = max(1, _PAIR_CHUNK // max(1, len(xb) * len(shifts)))
    for s in range(0, len(xa), rows):
        d = minimum_image(xb[None, :, :] - xa[s:s + rows, None, :], cell, pbc)  # (a, b, 3)
        not_self = np.ones(d.shape[:2], dtype=bool)
        if same:
            ia = np.arange(s, s + d.shape[0])
            not_self[np.arange(d.shape[0]), ia] = False
        for shift in shifts:
            r = np.linalg.norm(d + shift, axis=-1)
            ok = not_self & (r < r_max) & (r >= edges[0])
            k = np.minimum(((r[ok] - edges[0]) / dr).astype(np.int64), nb - 1)
            counts += np.bincount(k, minlength=nb)
        if slab:
            # Height differences of the pairs (independent of the in-plane image).
            u = np.abs(d[..., 2])[not_self]
            u = u[u < r_max]
            k = np.floor((u - edges[0]) / dr).astype(np.int64)
            below = k < 0  # u below the first shell: the pair reaches every shell fully
            below_total += np.count_nonzero(below)
            k = np.minimum(k[~below], nb - 1)
            u_count += np.bincount(k, minlength=nb)
            u2_sum += np.bincount(k, weights=u[~below] ** 2, minlength=nb)
    if slab:
        area = in_plane_area(cell)
        r2 = edges ** 2
        # Pairs with u below a shell's inner edge cover the whole shell; pairs with u inside
        # the shell cover it from u outwards.
        full = below_total + np.concatenate([[0.0], np.cumsum(u_count)[:-1]])
        ref = np.pi / area * ((r2[1:] - r2[:-1]) * full + (r2[1:] * u_count - u2_sum))
    else:
        vol = abs(np.linalg.det(cell))
        n_pairs = len(xa) * (len(xb) - (1 if same else 0))
        ref = n_pairs / vol * 4.0 * np.pi / 3.0 * (edges[1:] ** 3 - edges[:-1] ** 3)
    return counts, ref


def rdf(path, pairs, r_max=10.0, bin_width=0.05, start=0, stop=None, stride=1, n_blocks=5, group=None,
        normalization=None) -> dict:
    """Radial distribution functions of pairs of species.

    Parameters
    ----------
    path : str or os.PathLike
        H5MD trajectory.
    pairs : list of (str, str) or str
        Species pairs, e.g. ``[("Na", "Cl"), ("O", "O")]`` or ``"Na-Cl,O-O"``.
    r_max : float
        Å; any value (all images within it are counted).
    bin_width : float
        Å.
    start, stop, stride : int
        Frames.
    n_blocks : int
        Blocks of frames for the error bars.
    group : str or None
    normalization : {"bulk", "slab"} or None
        Default from the periodicity (module docstring).

    Returns
    -------
    dict of (str, str) to RDF
    """
    from echemmd.io.h5md import iter_h5md_frames

    info = trajectory_info(path, group)
    pairs = parse_pairs(pairs, info.species, info.path)
    mode = _mode(info.pbc, normalization, info.path)
    if mode == "slab":
        check_z_cell(info.cell, info.path)
    if not (r_max > 0 and bin_width > 0):
        raise InputError(f"RDF needs r_max > 0 and bin width > 0 Å, got {r_max}, {bin_width}")
    nbins = max(1, int(round(r_max / bin_width)))
    edges = np.linspace(0.0, float(r_max), nbins + 1)
    symbols = np.asarray(info.symbols)
    idx = {s: np.nonzero(symbols == s)[0] for p in pairs for s in p}
    n = n_selected(info.n_frames, start, stop, stride)
    if n == 0:
        raise InputError(f"{info.path}: no frames in range({start}, {stop}, {stride})")
    n_blocks = max(1, min(int(n_blocks), n))
    cnt = {p: np.zeros((n_blocks, nbins)) for p in pairs}
    ref = {p: np.zeros((n_blocks, nbins)) for p in pairs}
    centres = {p: 0.0 for p in pairs}
    for k, fr in enumerate(iter_h5md_frames(path, group, start, stop, stride)):
        b = k * n_blocks // n
        for p in pairs:
            a, bb = p
            c, r = _pair_histogram(fr.positions[idx[a]], fr.positions[idx[bb]], a == bb, fr.cell, fr.pbc,
                                   edges, mode == "slab")
            cnt[p][b] += c
            ref[p][b] += r
            centres[p] += len(idx[a])
    out = {}
    for p in pairs:
        C, R = cnt[p].sum(0), ref[p].sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = np.where(R > 0, C / R, 0.0)
            gb = np.where(ref[p] > 0, cnt[p] / ref[p], 0.0)
        err = gb.std(axis=0, ddof=1) / np.sqrt(n_blocks) if n_blocks > 1 else np.full(nbins, np.nan)
        out[p] = RDF(p, edges, g, err, C, R, centres[p], n, mode)
    return out


def parse_pairs(pairs, species, where="rdf"):
    """``"Na-Cl,O-O"`` or a list of pairs -> list of (A, B), checked against ``species``."""
    if isinstance(pairs, str):
        items = [t for t in pairs.replace(" ", "").split(",") if t]
        pairs = []
        for t in items:
            if t.count("-") != 1:
                raise InputError(f"{where}: pair {t!r}: write pairs as A-B, e.g. Na-Cl,O-H")
            pairs.append(tuple(t.split("-")))
    out = []
    for p in pairs:
        p = tuple(p)
        if len(p) != 2:
            raise InputError(f"{where}: pair {p!r} must name two species")
        for s in p:
            if s not in species:
                raise InputError(f"{where}: species {s!r} not in the trajectory; it has {list(species)}")
        out.append(p)
    if not out:
        raise InputError(f"{where}: no RDF pairs given")
    return out


def coordination_number(result: RDF, radius) -> float:
    """Mean number of B atoms within ``radius`` (Å) of an A atom (linear within a shell)."""
    e = result.edges
    if not e[0] <= radius <= e[-1]:
        raise InputError(f"coordination radius {radius} Å outside the RDF range {e[0]:g}:{e[-1]:g} Å")
    cum = np.concatenate([[0.0], result.coordination])
    return float(np.interp(radius, e, cum))


# ---------------------------------------------------------------------- water orientation
@dataclass
class OrientationProfile:
    """Distribution of the water dipole's angle to +z against height.

    Attributes
    ----------
    z_edges : ndarray, (Z+1,)
        Å (oxygen height).
    cos_edges : ndarray, (C+1,)
        cos(theta) bins over [-1, 1].
    counts : ndarray, (Z, C)
        Molecules counted, summed over frames.
    mean_cos : ndarray, (Z,)
        <cos theta> per height bin (NaN where empty).
    n_frames : int
    n_molecules : float
        Molecules found per frame (mean).
    n_skipped : float
        Oxygens per frame without two hydrogens within ``r_oh`` (mean).
    """

    z_edges: np.ndarray
    cos_edges: np.ndarray
    counts: np.ndarray
    mean_cos: np.ndarray
    n_frames: int
    n_molecules: float
    n_skipped: float

    @property
    def z(self) -> np.ndarray:
        return 0.5 * (self.z_edges[1:] + self.z_edges[:-1])

    @property
    def cos(self) -> np.ndarray:
        return 0.5 * (self.cos_edges[1:] + self.cos_edges[:-1])

    @property
    def probability(self) -> np.ndarray:
        """P(cos theta | z), normalised per height bin to integrate to 1 over cos theta (0 where empty)."""
        dc = self.cos_edges[1] - self.cos_edges[0]
        tot = self.counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, self.counts / (tot * dc), 0.0)

    def save(self, directory, prefix="") -> list:
        """Write ``orientation.csv`` (z, cos theta, P), ``orientation_mean.csv`` and ``orientation.png``."""
        os.makedirs(directory, exist_ok=True)
        zz, cc = np.meshgrid(self.z, self.cos, indexing="ij")
        p = self.probability
        paths = [write_csv(os.path.join(directory, f"{prefix}orientation.csv"),
                           {"z_A": zz.ravel(), "cos_theta": cc.ravel(),
                            "theta_deg": np.degrees(np.arccos(cc.ravel())), "p_cos": p.ravel(),
                            "count": self.counts.ravel().astype(np.int64)})]
        per_frame = self.counts.sum(axis=1) / max(self.n_frames, 1)
        paths.append(write_csv(os.path.join(directory, f"{prefix}orientation_mean.csv"),
                               {"z_A": self.z, "mean_cos_theta": self.mean_cos, "n_water": per_frame}))
        fig, axes = new_figure(2, 1, size=(6.4, 6.0))
        ax = axes[0, 0]
        mesh = ax.pcolormesh(self.z_edges, self.cos_edges, p.T, shading="flat", cmap="viridis")
        fig.colorbar(mesh, ax=ax, label="P(cos θ | z)")
        ax.set_xlabel("z of O (Å)")
        ax.set_ylabel("cos θ (dipole vs +z)")
        ax = axes[1, 0]
        ax.plot(self.z, self.mean_cos, "o-", ms=3)
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.set_xlabel("z of O (Å)")
        ax.set_ylabel("⟨cos θ⟩")
        paths.append(save_figure(fig, os.path.join(directory, f"{prefix}orientation.png")))
        return paths


def water_orientation(path, oxygen="O", hydrogen="H", r_oh=1.3, bin_width=0.5, z_range=None, n_cos=50,
                      start=0, stop=None, stride=1, group=None) -> OrientationProfile:
    """Water dipole orientation against height.

    Parameters
    ----------
    path : str or os.PathLike
        H5MD trajectory.
    oxygen, hydrogen : str
        Element symbols of the water's O and H.
    r_oh : float
        Largest O-H distance of a molecule, Å.
    bin_width : float
        Height bins, Å.
    z_range : (float, float) or None
        Å; default the cell.
    n_cos : int
        Bins of cos(theta) over [-1, 1].
    start, stop, stride : int
        Frames.
    group : str or None

    Returns
    -------
    OrientationProfile
    """
    from echemmd.io.h5md import iter_h5md_frames

    info = trajectory_info(path, group)
    symbols = np.asarray(info.symbols)
    io, ih = np.nonzero(symbols == oxygen)[0], np.nonzero(symbols == hydrogen)[0]
    if len(io) == 0 or len(ih) < 2:
        raise InputError(f"{info.path}: water orientation needs {oxygen} and {hydrogen} atoms (--water O,H); "
                         f"the trajectory has {info.species}")
    try:
        zed = z_edges(info.cell, bin_width, z_range)
    except InputError as exc:
        raise InputError(f"{info.path}: {exc}") from None
    ced = np.linspace(-1.0, 1.0, int(n_cos) + 1)
    nz, nc = len(zed) - 1, int(n_cos)
    counts = np.zeros((nz, nc))
    cos_sum = np.zeros(nz)
    found = skipped = 0
    n = 0
    for fr in iter_h5md_frames(path, group, start, stop, stride):
        n += 1
        xo, xh = fr.positions[io], fr.positions[ih]
        d = minimum_image(xh[None, :, :] - xo[:, None, :], fr.cell, fr.pbc)  # (O, H, 3)
        r = np.linalg.norm(d, axis=-1)
        near = np.argsort(r, axis=1)[:, :2]
        rows = np.arange(len(io))
        ok = r[rows, near[:, 1]] < r_oh
        skipped += np.count_nonzero(~ok)
        found += np.count_nonzero(ok)
        dip = 0.5 * (d[rows, near[:, 0]] + d[rows, near[:, 1]])[ok]
        cos = dip[:, 2] / np.linalg.norm(dip, axis=1)
        z = xo[ok, 2]
        if fr.pbc[2]:
            z = zed[0] + np.mod(z - zed[0], fr.cell[2, 2])
        kz = np.floor((z - zed[0]) / (zed[1] - zed[0])).astype(np.int64)
        kc = np.clip(np.floor((cos + 1.0) / (ced[1] - ced[0])).astype(np.int64), 0, nc - 1)
        inside = (kz >= 0) & (kz < nz)
        np.add.at(counts, (kz[inside], kc[inside]), 1.0)
        cos_sum += np.bincount(kz[inside], weights=cos[inside], minlength=nz)
    if n == 0:
        raise InputError(f"{info.path}: no frames in range({start}, {stop}, {stride})")
    tot = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(tot > 0, cos_sum / tot, np.nan)
    return OrientationProfile(zed, ced, counts, mean, n, found / n, skipped / n)

"""Dynamics: mean-squared displacement, diffusion coefficient, velocity autocorrelation.

Positions are unwrapped with the image flags of the trajectory, ``x = position + image @ cell``
(echemmd writes wrapped positions and images), so an atom crossing the cell wall keeps a
continuous path. For a slab (pbc T T F) the default MSD is in-plane (``dims="xy"``): motion
along z is confined between the walls and its MSD saturates.

Time origins: every ``origin_every``-th frame starts a window of ``max_lag`` frames, and
each later frame inside a window adds ``|x(t) - x(t0)|^2`` (or ``v(t0) . v(t)``) at its lag.
Only the open windows are kept, so memory is ``(max_lag / origin_every) * N * 3`` numbers
whatever the trajectory's length; frames must be equally spaced in time.

Diffusion coefficient: ``MSD = 2 d D t + b`` (d = number of dimensions) fitted over a lag
range. Its error is the spread of the same fit done separately on ``n_blocks`` blocks of
consecutive time origins (origins whose whole window lies in the trajectory), divided by
sqrt(n_blocks) — blocks of distant origins are nearly independent.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np

from echemmd import units
from echemmd.analysis import new_figure, save_figure, trajectory_info, write_csv
from echemmd.analysis.blocks import linear_fit
from echemmd.errors import InputError

_AXES = {"x": 0, "y": 1, "z": 2}


def parse_dims(dims, pbc=None) -> list:
    """``"xyz"``, ``"xy"``, ``"z"``, ... -> axis indices; None: xy for a slab, xyz otherwise."""
    if dims is None:
        slab = pbc is not None and bool(pbc[0] and pbc[1] and not pbc[2])
        dims = "xy" if slab else "xyz"
    dims = str(dims).lower()
    if not dims or any(c not in _AXES for c in dims) or len(set(dims)) != len(dims):
        raise InputError(f"dims {dims!r}: give distinct axes from x, y, z, e.g. xyz or xy")
    return sorted(_AXES[c] for c in dims)


class _Correlator:
    """Windowed time-correlation over streamed frames (module docstring)."""

    def __init__(self, n_frames, max_lag, origin_every, groups, n_blocks, kernel):
        self.max_lag = int(max_lag)
        self.every = int(origin_every)
        self.groups = groups
        self.kernel = kernel
        self.window = deque()
        # Origins whose whole window is inside the trajectory get a block; the others only
        # feed the total (their long lags would be missing in a block fit).
        n_full = len(range(0, max(0, n_frames - self.max_lag), self.every))
        self.n_full = n_full
        self.n_blocks = max(1, min(int(n_blocks), n_full)) if n_full else 0
        L = self.max_lag + 1
        self.total = {g: np.zeros(L) for g in groups}
        self.total_n = np.zeros(L)
        self.block = {g: np.zeros((max(self.n_blocks, 1), L)) for g in groups}
        self.block_n = np.zeros((max(self.n_blocks, 1), L))

    def add(self, k, x):
        if k % self.every == 0:
            o = k // self.every
            b = o * self.n_blocks // self.n_full if o < self.n_full else -1
            self.window.append((k, b, x.copy()))
        while self.window and k - self.window[0][0] > self.max_lag:
            self.window.popleft()
        for k0, b, x0 in self.window:
            lag = k - k0
            val = self.kernel(x0, x)
            self.total_n[lag] += 1
            if b >= 0:
                self.block_n[b, lag] += 1
            for g, idx in self.groups.items():
                m = val[idx].mean()
                self.total[g][lag] += m
                if b >= 0:
                    self.block[g][b, lag] += m

    def result(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            tot = {g: self.total[g] / self.total_n for g in self.groups}
            blk = {g: self.block[g][:self.n_blocks] / self.block_n[:self.n_blocks] for g in self.groups}
        return tot, blk


def _frames_setup(path, group, start, stop, stride, max_lag_fs, species, need):
    info = trajectory_info(path, group)
    if need == "velocities" and not info.has_velocities:
        raise InputError(f"{info.path}: the trajectory holds no velocities; the VACF needs them")
    sel = np.arange(info.n_frames)[slice(start, stop, stride)]
    n = len(sel)
    if n < 2:
        raise InputError(f"{info.path}: a time correlation needs at least 2 frames, range({start}, {stop}, "
                         f"{stride}) selects {n}")
    t = info.times[sel]
    dt = float(t[1] - t[0])
    if dt <= 0 or not np.allclose(np.diff(t), dt, rtol=1e-6, atol=1e-9):
        raise InputError(f"{info.path}: frames are not equally spaced in time (dt from {np.diff(t).min():g} to "
                         f"{np.diff(t).max():g} fs); MSD and VACF need a constant frame interval")
    if max_lag_fs is None:
        max_lag = n // 2
    else:
        max_lag = int(round(float(max_lag_fs) / dt))
        if not 1 <= max_lag <= n - 1:
            raise InputError(f"max lag {max_lag_fs} fs is {max_lag} frames of {dt:g} fs; allowed 1 to {n - 1} "
                             f"frames ({(n - 1) * dt:g} fs)")
    max_lag = max(1, max_lag)
    symbols = np.asarray(info.symbols)
    names = info.species if species is None else list(species)
    groups = {}
    for s in names:
        if s not in info.species:
            raise InputError(f"{info.path}: species {s!r} not in the trajectory; it has {info.species}")
        groups[s] = np.nonzero(symbols == s)[0]
    return info, n, dt, max_lag, groups


def _origin_every(origin_every, max_lag):
    if origin_every is None:
        # About 100 open windows: enough origins for smooth curves at bounded cost.
        return max(1, max_lag // 100)
    if int(origin_every) < 1:
        raise InputError(f"origin_every must be >= 1 frame, got {origin_every}")
    return int(origin_every)


@dataclass
class MSD:
    """Mean-squared displacement per species.

    Attributes
    ----------
    time : ndarray, (L+1,)
        Lag times, fs.
    msd : dict of str to ndarray (L+1,)
        Å^2, averaged over atoms of the species and time origins.
    blocks : dict of str to ndarray (n_blocks, L+1)
        The same for blocks of time origins (for errors).
    dims : list of int
        Axes included (0, 1, 2 for x, y, z).
    n_frames : int
    """

    time: np.ndarray
    msd: dict
    blocks: dict
    dims: list
    n_frames: int

    @property
    def n_dims(self) -> int:
        return len(self.dims)

    @property
    def dims_label(self) -> str:
        return "".join("xyz"[k] for k in self.dims)

    def save(self, directory, prefix="", fits=None) -> list:
        """Write ``msd.csv`` and ``msd.png`` (with ``fits``: dict species -> Diffusion, drawn)."""
        os.makedirs(directory, exist_ok=True)
        cols = {"time_fs": self.time}
        cols.update({f"msd_{s}_A2": v for s, v in self.msd.items()})
        paths = [write_csv(os.path.join(directory, f"{prefix}msd.csv"), cols)]
        fig, ax = new_figure()
        ax = ax[0, 0]
        tp = self.time / units.FS_PER_PS
        for i, (s, v) in enumerate(self.msd.items()):
            ax.plot(tp, v, color=f"C{i}", label=s)
            if fits and s in fits:
                f = fits[s]
                tt = np.array([f.t_min, f.t_max])
                ax.plot(tt / units.FS_PER_PS, 2 * self.n_dims * f.value * tt + f.intercept, "--", color=f"C{i}",
                        lw=1)
        ax.set_xlabel("lag time (ps)")
        ax.set_ylabel(f"MSD ({self.dims_label}) (Å²)")
        ax.legend()
        paths.append(save_figure(fig, os.path.join(directory, f"{prefix}msd.png")))
        return paths


def msd(path, species=None, dims=None, max_lag=None, origin_every=None, start=0, stop=None, stride=1, n_blocks=5,
        group=None) -> MSD:
    """Mean-squared displacement from unwrapped positions.

    Parameters
    ----------
    path : str or os.PathLike
        H5MD trajectory.
    species : list of str or None
        Default all.
    dims : str or None
        Axes, e.g. ``"xyz"`` or ``"xy"``; default in-plane for a slab, xyz otherwise.
    max_lag : float or None
        Longest lag, fs; default half the selected frames.
    origin_every : int or None
        Frames between time origins; default ``max_lag / 100`` frames.
    start, stop, stride : int
        Frames.
    n_blocks : int
        Blocks of time origins for error bars.
    group : str or None

    Returns
    -------
    MSD
    """
    from echemmd.io.h5md import iter_h5md_frames

    info, n, dt, lag, groups = _frames_setup(path, group, start, stop, stride, max_lag, species, "positions")
    axes = parse_dims(dims, info.pbc)
    if not info.has_images and info.pbc.any():
        warnings.warn(f"{info.path}: no image flags; positions are taken as already unwrapped", stacklevel=2)

    def kernel(x0, x):
        d = x[:, axes] - x0[:, axes]
        return np.einsum("ij,ij->i", d, d)

    corr = _Correlator(n, lag, _origin_every(origin_every, lag), groups, n_blocks, kernel)
    for k, fr in enumerate(iter_h5md_frames(path, group, start, stop, stride)):
        corr.add(k, fr.unwrapped_positions())
    tot, blk = corr.result()
    return MSD(np.arange(lag + 1) * dt, tot, blk, axes, n)


@dataclass
class Diffusion:
    """Diffusion coefficient from a linear fit of the MSD.

    Attributes
    ----------
    species : str
    value, error : float
        D and its standard error (blocks of time origins), Å^2/fs.
    intercept : float
        Å^2.
    t_min, t_max : float
        Fit range, fs.
    n_blocks : int
        Blocks that gave the error.
    """

    species: str
    value: float
    error: float
    intercept: float
    t_min: float
    t_max: float
    n_blocks: int

    @property
    def si(self) -> float:
        """D in m^2/s."""
        return self.value * units.A2_PER_FS_TO_M2_PER_S

    @property
    def si_error(self) -> float:
        return self.error * units.A2_PER_FS_TO_M2_PER_S


def diffusion_coefficient(result: MSD, species=None, t_min=None, t_max=None) -> Diffusion:
    """D from ``MSD = 2 d D t + b`` over lags in [t_min, t_max].

    Parameters
    ----------
    result : MSD
    species : str or None
        Default the only species (an error if there are several).
    t_min, t_max : float or None
        Fit range, fs; default 20 % to 80 % of the longest lag, which leaves out the
        ballistic start and the noisy end.

    Returns
    -------
    Diffusion
    """
    if species is None:
        if len(result.msd) != 1:
            raise InputError(f"several species {list(result.msd)}: name one for the diffusion coefficient")
        species = next(iter(result.msd))
    if species not in result.msd:
        raise InputError(f"no MSD for species {species!r}; it has {list(result.msd)}")
    T = result.time[-1]
    t_min = 0.2 * T if t_min is None else float(t_min)
    t_max = 0.8 * T if t_max is None else float(t_max)
    sel = (result.time >= t_min - 1e-9) & (result.time <= t_max + 1e-9)
    if np.count_nonzero(sel) < 2:
        raise InputError(f"diffusion fit range {t_min:g}:{t_max:g} fs holds {np.count_nonzero(sel)} lags; the MSD "
                         f"has lags 0 to {T:g} fs every {result.time[1] - result.time[0]:g} fs")
    k = 2.0 * result.n_dims
    fit = linear_fit(result.time[sel], result.msd[species][sel])
    blocks = result.blocks.get(species, np.zeros((0, len(result.time))))
    ds = []
    for row in blocks:
        y = row[sel]
        if np.all(np.isfinite(y)):
            ds.append(linear_fit(result.time[sel], y).slope / k)
    err = float(np.std(ds, ddof=1) / np.sqrt(len(ds))) if len(ds) > 1 else float("nan")
    return Diffusion(species, fit.slope / k, err, fit.intercept, t_min, t_max, len(ds))


@dataclass
class VACF:
    """Velocity autocorrelation per species.

    Attributes
    ----------
    time : ndarray, (L+1,)
        fs.
    vacf : dict of str to ndarray (L+1,)
        <v(0) . v(t)> over the chosen axes, Å^2/fs^2.
    dims : list of int
    n_frames : int
    """

    time: np.ndarray
    vacf: dict
    blocks: dict
    dims: list
    n_frames: int

    def normalized(self, species) -> np.ndarray:
        """C(t) / C(0) (NaN for atoms that never move, C(0) = 0)."""
        c = self.vacf[species]
        return c / c[0] if c[0] != 0 else np.full_like(c, np.nan)

    def green_kubo(self, species) -> np.ndarray:
        """Running Green-Kubo integral (1/d) int_0^t C dt', Å^2/fs (trapezoid); its plateau is D."""
        c = self.vacf[species]
        dt = self.time[1] - self.time[0]
        return np.concatenate([[0.0], np.cumsum(0.5 * (c[1:] + c[:-1]) * dt)]) / len(self.dims)

    def save(self, directory, prefix="") -> list:
        """Write ``vacf.csv`` and ``vacf.png``; returns the paths."""
        os.makedirs(directory, exist_ok=True)
        cols = {"time_fs": self.time}
        for s in self.vacf:
            cols[f"vacf_{s}_A2/fs2"] = self.vacf[s]
            cols[f"vacf_{s}_norm"] = self.normalized(s)
            cols[f"D_gk_{s}_A2/fs"] = self.green_kubo(s)
        paths = [write_csv(os.path.join(directory, f"{prefix}vacf.csv"), cols)]
        fig, ax = new_figure()
        ax = ax[0, 0]
        for s in self.vacf:
            ax.plot(self.time, self.normalized(s), label=s)
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.set_xlabel("lag time (fs)")
        ax.set_ylabel("⟨v(0)·v(t)⟩ / ⟨v²⟩")
        ax.legend()
        paths.append(save_figure(fig, os.path.join(directory, f"{prefix}vacf.png")))
        return paths


def vacf(path, species=None, dims="xyz", max_lag=None, origin_every=None, start=0, stop=None, stride=1,
         n_blocks=5, group=None) -> VACF:
    """Velocity autocorrelation function <v(0) . v(t)>.

    Parameters
    ----------
    path : str or os.PathLike
        H5MD trajectory with velocities.
    species : list of str or None
    dims : str
        Axes, default ``"xyz"``.
    max_lag : float or None
        fs; default half the selected frames.
    origin_every : int or None
        Frames between time origins; default ``max_lag / 100`` frames.
    start, stop, stride, n_blocks, group
        As in :func:`msd`.

    Returns
    -------
    VACF
    """
    from echemmd.io.h5md import iter_h5md_frames

    info, n, dt, lag, groups = _frames_setup(path, group, start, stop, stride, max_lag, species, "velocities")
    axes = parse_dims(dims, info.pbc)

    def kernel(v0, v):
        return np.einsum("ij,ij->i", v0[:, axes], v[:, axes])

    corr = _Correlator(n, lag, _origin_every(origin_every, lag), groups, n_blocks, kernel)
    for k, fr in enumerate(iter_h5md_frames(path, group, start, stop, stride)):
        corr.add(k, fr.velocities)
    tot, blk = corr.result()
    return VACF(np.arange(lag + 1) * dt, tot, blk, axes, n)

"""Statistics for correlated time series: block averages, blocking curve, linear fits.

MD samples are correlated in time, so the naive error ``std / sqrt(n)`` is too small.
Block averaging (Flyvbjerg and Petersen, J. Chem. Phys. 91, 461 (1989)) cuts the series
into ``n_blocks`` consecutive blocks; when a block is longer than the correlation time
the block means are independent and their spread gives an honest error of the mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BlockAverage:
    """Mean of a series with its block-averaged standard error.

    Attributes
    ----------
    mean : float or ndarray
        Mean over the samples used (same unit as the data).
    error : float or ndarray
        Standard error of the mean, ``std(block_means, ddof=1) / sqrt(n_blocks)``;
        NaN with fewer than two blocks.
    n_blocks : int
    block_size : int
        Samples per block.
    block_means : ndarray, (n_blocks, ...)
    """

    mean: float | np.ndarray
    error: float | np.ndarray
    n_blocks: int
    block_size: int
    block_means: np.ndarray


def _split(x, n_blocks):
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    n_blocks = int(n_blocks)
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
    if n < n_blocks:
        raise ValueError(f"{n} samples cannot make {n_blocks} blocks")
    size = n // n_blocks
    # Equal blocks; the samples left over are dropped from the *start*, which is the
    # part of a run least likely to be equilibrated.
    x = x[n - size * n_blocks:]
    return x.reshape((n_blocks, size) + x.shape[1:]), size


def block_average(x, n_blocks=10) -> BlockAverage:
    """Block average of a series along its first axis.

    Parameters
    ----------
    x : array_like, (n, ...)
        Samples in time order.
    n_blocks : int
        Number of equal, consecutive blocks (>= 2 for an error).

    Returns
    -------
    BlockAverage
    """
    blocks, size = _split(x, n_blocks)
    means = blocks.mean(axis=1)
    mean = means.mean(axis=0)
    error = means.std(axis=0, ddof=1) / np.sqrt(n_blocks) if n_blocks > 1 else np.full_like(mean, np.nan)
    if np.ndim(mean) == 0:
        mean, error = float(mean), float(error)
    return BlockAverage(mean, error, int(n_blocks), int(size), means)


def block_error_curve(x, min_blocks=4):
    """Flyvbjerg-Petersen blocking: error of the mean against block size.

    Parameters
    ----------
    x : array_like, (n,)
    min_blocks : int
        Stop when fewer blocks than this are left.

    Returns
    -------
    sizes : ndarray of int
        Block size in samples (1, 2, 4, ...).
    errors : ndarray
        Error of the mean at that block size (same unit as ``x``). It rises and
        reaches a plateau once blocks are longer than the correlation time; the
        plateau is the error to quote.
    """
    y = np.asarray(x, dtype=np.float64).copy()
    sizes, errors = [], []
    size = 1
    while len(y) >= min_blocks:
        sizes.append(size)
        errors.append(y.std(ddof=1) / np.sqrt(len(y)))
        m = len(y) // 2
        y = 0.5 * (y[0:2 * m:2] + y[1:2 * m:2])
        size *= 2
    return np.array(sizes, dtype=np.int64), np.array(errors)


@dataclass
class LinearFit:
    """y = slope x + intercept, with standard errors.

    Attributes
    ----------
    slope, intercept : float
    slope_error, intercept_error : float
        One standard error. With ``sigma`` given to :func:`linear_fit` they follow
        from those errors (absolute); otherwise from the scatter of the residuals.
    n : int
        Points fitted.
    """

    slope: float
    intercept: float
    slope_error: float
    intercept_error: float
    n: int


def linear_fit(x, y, sigma=None) -> LinearFit:
    """Least-squares straight line.

    Parameters
    ----------
    x, y : array_like, (n,)
    sigma : array_like, (n,) or None
        Standard errors of ``y``: weighted fit with absolute errors.

    Returns
    -------
    LinearFit
        Errors are NaN when they cannot be estimated (two points, no ``sigma``).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 2:
        raise ValueError(f"a line needs at least 2 points, got {n}")
    w = np.ones(n) if sigma is None else 1.0 / np.asarray(sigma, dtype=np.float64) ** 2
    S, Sx, Sy = w.sum(), (w * x).sum(), (w * y).sum()
    xm = Sx / S
    Sxx = (w * (x - xm) ** 2).sum()
    if Sxx <= 0:
        raise ValueError("a line needs at least two distinct x values")
    slope = (w * (x - xm) * y).sum() / Sxx
    intercept = (Sy - slope * Sx) / S
    if sigma is not None:
        var_slope = 1.0 / Sxx
        var_icpt = 1.0 / S + xm**2 / Sxx
    elif n > 2:
        s2 = ((y - slope * x - intercept) ** 2).sum() / (n - 2)
        var_slope = s2 / Sxx
        var_icpt = s2 * (1.0 / n + xm**2 / Sxx)
    else:
        var_slope = var_icpt = np.nan
    return LinearFit(float(slope), float(intercept), float(np.sqrt(var_slope)), float(np.sqrt(var_icpt)), n)

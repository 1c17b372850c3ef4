"""Optimisers for the network parameters: Adam on mini-batches and L-BFGS on the full set.

Both report one record per epoch (Adam: one pass over the training frames; L-BFGS: one
iteration) with the training and validation errors, stop early when the validation loss
has not improved for ``patience`` epochs, and return the parameters of the best
validation loss (the training loss when there is no validation set).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from echemmd.errors import InputError

OPTIMIZERS = ("adam", "lbfgs")


@dataclass(frozen=True)
class Schedule:
    """How to optimise.

    Attributes
    ----------
    optimizer : {"adam", "lbfgs"}
    epochs : int
        Adam: passes over the training set; L-BFGS: iterations.
    batch_size : int
        Frames per Adam step.
    learning_rate : float
        Adam's initial step size.
    lr_decay : float
        Factor applied to the learning rate after every epoch (exponential schedule).
    lr_min : float
        Floor of the learning rate.
    patience : int
        Stop after this many epochs without a better validation loss (0: never stop early).
    seed : int
        Seeds the order of the mini-batches.
    """

    optimizer: str = "adam"
    epochs: int = 100
    batch_size: int = 8
    learning_rate: float = 1e-3
    lr_decay: float = 0.98
    lr_min: float = 1e-5
    patience: int = 50
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer {self.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")


@dataclass
class EpochRecord:
    """One line of the training log. Energies per atom eV, forces eV/Å, times s."""

    epoch: int
    learning_rate: float
    train: object
    validation: object
    seconds: float


def fit(trainer, theta, train, validation, schedule: Schedule, on_epoch=None, should_stop=None):
    """Optimise ``theta`` on ``train``; keep the parameters that do best on ``validation``.

    Parameters
    ----------
    trainer : echemmd.training.trainer.Trainer
    theta : float64 (n_parameters,)
        Start (not modified).
    train, validation : list of PreparedFrame
    schedule : Schedule
    on_epoch : callable(EpochRecord), optional
        Called after every epoch (and once for the start, epoch 0).
    should_stop : callable() -> bool, optional
        Polled between steps (an interrupt); the best parameters so far are returned.

    Returns
    -------
    best_theta : float64 (n_parameters,)
    history : list of EpochRecord
    stopped : str
        Why the optimisation ended ("epochs", "early stopping", "interrupted", "converged").
    """
    state = _Tracker(trainer, train, validation, schedule, on_epoch)
    state.record(0, theta, schedule.learning_rate)
    if schedule.optimizer == "adam":
        reason = _adam(trainer, np.array(theta, dtype=np.float64), train, schedule, state, should_stop)
    else:
        reason = _lbfgs(trainer, np.array(theta, dtype=np.float64), train, schedule, state, should_stop)
    return state.best_theta, state.history, reason


class _Tracker:
    """Records epochs, keeps the best parameters, decides early stopping."""

    def __init__(self, trainer, train, validation, schedule, on_epoch):
        self.trainer = trainer
        self.train = train
        self.validation = validation
        self.schedule = schedule
        self.on_epoch = on_epoch
        self.history = []
        self.best_loss = math.inf
        self.best_theta = None
        self.best_epoch = 0
        self.t0 = time.perf_counter()

    def record(self, epoch, theta, lr):
        tm = self.trainer.metrics(theta, self.train)
        vm = self.trainer.metrics(theta, self.validation) if self.validation else None
        rec = EpochRecord(epoch, lr, tm, vm, time.perf_counter() - self.t0)
        self.history.append(rec)
        score = vm.loss if vm is not None else tm.loss
        if not math.isfinite(tm.loss):
            raise FloatingPointError(f"the training loss is not finite at epoch {epoch}; lower the learning rate")
        if score < self.best_loss:
            self.best_loss = score
            self.best_theta = np.array(theta, copy=True)
            self.best_epoch = epoch
        if self.on_epoch is not None:
            self.on_epoch(rec)
        return rec

    def patience_exhausted(self, epoch):
        p = self.schedule.patience
        return p > 0 and epoch - self.best_epoch >= p


def _adam(trainer, theta, train, schedule, state, should_stop, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam (Kingma and Ba 2015) with bias correction and an exponentially decaying step size."""
    rng = np.random.default_rng(schedule.seed)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    t = 0
    lr = schedule.learning_rate
    n = len(train)
    for epoch in range(1, schedule.epochs + 1):
        order = rng.permutation(n)
        for start in range(0, n, schedule.batch_size):
            if should_stop is not None and should_stop():
                return "interrupted"
            batch = [train[i] for i in order[start:start + schedule.batch_size]]
            _, g = trainer.loss(theta, batch)
            t += 1
            m = beta1 * m + (1.0 - beta1) * g
            v = beta2 * v + (1.0 - beta2) * g * g
            m_hat = m / (1.0 - beta1 ** t)
            v_hat = v / (1.0 - beta2 ** t)
            theta -= lr * m_hat / (np.sqrt(v_hat) + eps)
        state.record(epoch, theta, lr)
        if state.patience_exhausted(epoch):
            return "early stopping"
        lr = max(lr * schedule.lr_decay, schedule.lr_min)
    return "epochs"


def _lbfgs(trainer, theta, train, schedule, state, should_stop):
    """L-BFGS-B from scipy on the full training set (exact loss and gradient)."""
    from scipy.optimize import minimize

    epoch = [0]
    reason = ["epochs"]

    def fun(x):
        return trainer.loss(x, train)

    def callback(intermediate_result):
        epoch[0] += 1
        state.record(epoch[0], intermediate_result.x, float("nan"))
        if should_stop is not None and should_stop():
            reason[0] = "interrupted"
            raise StopIteration
        if state.patience_exhausted(epoch[0]):
            reason[0] = "early stopping"
            raise StopIteration

    res = minimize(fun, theta, jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": schedule.epochs, "maxcor": 20, "ftol": 0.0, "gtol": 0.0})
    if reason[0] == "epochs" and res.nit < schedule.epochs:
        reason[0] = "converged"
    return reason[0]


__all__ = ["OPTIMIZERS", "EpochRecord", "Schedule", "fit"]

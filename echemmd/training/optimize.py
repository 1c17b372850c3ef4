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


@dataclass
class OptimizerState:
    """Everything needed to continue an optimisation (written to the training checkpoint).

    Attributes
    ----------
    epoch : int
        Epochs done.
    theta, best_theta : float64 (n_parameters,)
        Current and best parameters.
    best_loss : float
    best_epoch : int
    learning_rate : float
        The next epoch's learning rate (Adam).
    adam_m, adam_v : float64 (n_parameters,) or None
        Adam's moment estimates.
    adam_t : int
        Adam steps done.
    rng_state : dict or None
        State of the generator that orders the mini-batches (numpy bit generator state).
    history : list of list
        Per epoch: [epoch, learning rate, seconds, train loss, train E RMSE, train F RMSE,
        validation loss, validation E RMSE, validation F RMSE] (nan where absent).
    """

    epoch: int
    theta: np.ndarray
    best_theta: np.ndarray
    best_loss: float
    best_epoch: int
    learning_rate: float
    adam_m: np.ndarray | None = None
    adam_v: np.ndarray | None = None
    adam_t: int = 0
    rng_state: dict | None = None
    history: list = None


class _Summary:
    """The parts of a Metrics that a resumed history keeps."""

    def __init__(self, loss, energy_rmse, force_rmse):
        self.loss, self.energy_rmse, self.force_rmse = loss, energy_rmse, force_rmse


def _history_row(rec):
    v = rec.validation
    nan = float("nan")
    return [rec.epoch, rec.learning_rate, rec.seconds, rec.train.loss, rec.train.energy_rmse, rec.train.force_rmse,
            v.loss if v else nan, v.energy_rmse if v else nan, v.force_rmse if v else nan]


def _record_of(row):
    val = None if math.isnan(row[6]) else _Summary(*row[6:9])
    return EpochRecord(int(row[0]), row[1], _Summary(*row[3:6]), val, row[2])


def fit(trainer, theta, train, validation, schedule: Schedule, on_epoch=None, should_stop=None, resume=None,
        on_state=None):
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
    resume : OptimizerState, optional
        Continue from a checkpoint: Adam continues exactly (moments, step count, learning
        rate and batch order); L-BFGS restarts from the saved parameters with an empty
        curvature memory.
    on_state : callable(OptimizerState), optional
        Called after every epoch with the state to checkpoint.

    Returns
    -------
    best_theta : float64 (n_parameters,)
    history : list of EpochRecord
    stopped : str
        Why the optimisation ended ("epochs", "early stopping", "interrupted", "converged").
    """
    state = _Tracker(trainer, train, validation, schedule, on_epoch, on_state)
    if resume is None:
        state.record(0, theta, schedule.learning_rate)
    else:
        state.restore(resume)
        theta = resume.theta
    if state.history[-1].epoch >= schedule.epochs:
        return state.best_theta, state.history, "epochs"
    if schedule.optimizer == "adam":
        reason = _adam(trainer, np.array(theta, dtype=np.float64), train, schedule, state, should_stop, resume)
    else:
        reason = _lbfgs(trainer, np.array(theta, dtype=np.float64), train, schedule, state, should_stop)
    return state.best_theta, state.history, reason


class _Tracker:
    """Records epochs, keeps the best parameters, decides early stopping."""

    def __init__(self, trainer, train, validation, schedule, on_epoch, on_state=None):
        self.on_state = on_state
        self.optimizer_extra = {}
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

    def restore(self, st):
        self.history = [_record_of(r) for r in st.history]
        self.best_theta = np.array(st.best_theta, copy=True)
        self.best_loss = st.best_loss
        self.best_epoch = st.best_epoch
        self.t0 = time.perf_counter() - (self.history[-1].seconds if self.history else 0.0)

    def checkpoint(self, theta, next_lr, **extra):
        if self.on_state is None:
            return
        self.on_state(OptimizerState(epoch=self.history[-1].epoch, theta=np.array(theta, copy=True),
                                     best_theta=self.best_theta, best_loss=self.best_loss, best_epoch=self.best_epoch,
                                     learning_rate=next_lr, history=[_history_row(r) for r in self.history],
                                     **extra))

    def patience_exhausted(self, epoch):
        p = self.schedule.patience
        return p > 0 and epoch - self.best_epoch >= p


def _adam(trainer, theta, train, schedule, state, should_stop, resume=None, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam (Kingma and Ba 2015) with bias correction and an exponentially decaying step size."""
    rng = np.random.default_rng(schedule.seed)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    t = 0
    lr = schedule.learning_rate
    first = 1
    if resume is not None and resume.adam_m is not None:
        m, v, t, lr = resume.adam_m.copy(), resume.adam_v.copy(), resume.adam_t, resume.learning_rate
        rng.bit_generator.state = resume.rng_state
        first = resume.epoch + 1
    n = len(train)
    for epoch in range(first, schedule.epochs + 1):
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
        lr = max(lr * schedule.lr_decay, schedule.lr_min)
        state.checkpoint(theta, lr, adam_m=m, adam_v=v, adam_t=t, rng_state=rng.bit_generator.state)
        if state.patience_exhausted(epoch):
            return "early stopping"
    return "epochs"


def _lbfgs(trainer, theta, train, schedule, state, should_stop):
    """L-BFGS-B from scipy on the full training set (exact loss and gradient)."""
    from scipy.optimize import minimize

    epoch = [state.history[-1].epoch]
    reason = ["epochs"]

    def fun(x):
        return trainer.loss(x, train)

    def callback(intermediate_result):
        epoch[0] += 1
        state.record(epoch[0], intermediate_result.x, float("nan"))
        state.checkpoint(intermediate_result.x, float("nan"))
        if should_stop is not None and should_stop():
            reason[0] = "interrupted"
            raise StopIteration
        if state.patience_exhausted(epoch[0]):
            reason[0] = "early stopping"
            raise StopIteration

    remaining = schedule.epochs - epoch[0]
    res = minimize(fun, theta, jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": remaining, "maxcor": 20, "ftol": 0.0, "gtol": 0.0})
    if reason[0] == "epochs" and res.nit < remaining:
        reason[0] = "converged"
    return reason[0]


__all__ = ["OPTIMIZERS", "EpochRecord", "OptimizerState", "Schedule", "fit"]

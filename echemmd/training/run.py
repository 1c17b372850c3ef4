"""``echemmd train TRAIN.toml``: a training deck in, a model file, a log, a report and plots out.

Steps: read the data -> split train / validation by frames (seeded) -> symmetry functions
(recipe or explicit) -> descriptors and long-range parts (from the cache when the data and
settings are unchanged) -> initial scaling, reference energies and weights -> Adam or
L-BFGS with early stopping -> the best model, its report (RMSE and MAE of energy per atom
and forces, per element), the per-epoch CSV log and PNG plots.

Ctrl-C (or SIGTERM) stops after the current step: the best model so far is written with
its report, and the run exits with status 130.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import signal
import sys
import time
import types
from pathlib import Path

import numpy as np

from echemmd import __version__
from echemmd.errors import InputError
from echemmd.io.dataset import file_digest, read_dataset
from echemmd.mlpotential import HybridModel
from echemmd.training.optimize import OptimizerState, Schedule, _record_of, fit
from echemmd.training.recipes import symmetry_function_set
from echemmd.training.trainer import LossWeights, Trainer

__all__ = ["train", "split_frames", "TrainingResult"]

MEV = 1000.0


class TrainingResult(types.SimpleNamespace):
    """What :func:`train` made: model, paths, metrics of the best model, history, why it stopped."""


def split_frames(n_frames, fraction, seed):
    """Indices (train, validation) of a seeded random split by frames.

    At least one validation frame when ``fraction`` > 0 and there are two frames or more.
    """
    if fraction <= 0 or n_frames < 2:
        return np.arange(n_frames), np.zeros(0, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(n_frames)
    n_val = min(max(1, int(round(fraction * n_frames))), n_frames - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _functions(deck, elements):
    """Per element, its symmetry functions (recipe or explicit ``[[function]]``)."""
    from ase.data import atomic_numbers

    from echemmd.io.n2p2 import sort_symmetry_functions

    explicit = deck["function"]
    if not explicit:
        d = deck["descriptors"]
        return symmetry_function_set(elements, d["r_c"], d["preset"], d["n_radial"], d["n_angular"], d["r_min"],
                                     d["cutoff"], d["r_c_angular"])
    out = {e: [] for e in elements}
    for i, f in enumerate(explicit):
        nb = f["neighbors"]
        nb = sorted(nb, key=lambda s: atomic_numbers.get(s, 0))
        for s in nb + ([f["center"]] if f["center"] else []):
            if s not in elements:
                raise InputError(f"{deck.source}: function[{i}] names {s}, which is not in the data "
                                 f"(elements {', '.join(elements)})")
        spec = {"type": f["type"], "neighbors": nb, "eta": f["eta"], "r_s": f["r_s"], "r_c": f["r_c"],
                "cutoff": f["cutoff"], "cutoff_alpha": f["cutoff_alpha"]}
        if f["type"] != 2:
            spec["zeta"], spec["lambda"] = float(f["zeta"]), float(f["lambda"])
        for c in ([f["center"]] if f["center"] else elements):
            out[c].append({**spec, "center": c})
    for e in elements:
        if not out[e]:
            raise InputError(f"{deck.source}: no [[function]] applies to element {e}")
        out[e] = [out[e][k] for k in sort_symmetry_functions(out[e])]
    return out


def _charge_template(deck, elements):
    """A HybridModel carrying only the charge model (its short range is filled in after training)."""
    ch = deck["charges"]
    sw = deck["switch"]
    model = ch["model"]
    stub = types.SimpleNamespace(elements=list(elements))
    charges = {e: float(v) for e, v in (ch["charges"] or {}).items()} if model in ("fixed", "qeq") else {}
    qeq = {e: {"chi": float(p["chi"]), "J": float(p["J"])} for e, p in (ch["qeq"] or {}).items()} if model == "qeq" else {}
    sigma = {e: float(v) for e, v in (ch["sigma"] or {}).items()} if model != "none" else {}
    switch = (sw["r_on"], sw["r_off"]) if (sw is not None and model != "none") else None
    try:
        return HybridModel(stub, charge_model=model, charges=charges, qeq=qeq, sigma=sigma, switch=switch)
    except InputError as exc:
        raise InputError(f"{deck.source}: [charges]: {exc}") from None


def _descriptor_values(trainer, frames, digest, cache):
    """Symmetry functions of every frame of one data file, through the cache; (list, from_cache)."""
    key = "G_" + _cache_key(digest, trainer.functions)
    g = cache.load(key, len(frames))
    if g is not None:
        return g["G"], True
    out = [trainer.descriptor_values(fr) for fr in frames]
    cache.store(key, {"G": out})
    return out, False


def _prepare_fourthgen(deck, trainer, groups, cache, stream, progress_stream):
    """Both stages' data of a 4G training: the charge fit (stage 1) and the short-range frames.

    Parameters
    ----------
    groups : list of (frames, digest, {set name: indices})
        The data files and which of their frames go to "train", "validation" and "test".

    Returns
    -------
    dict set name -> list of PreparedFrame, and a namespace ``charge`` (trainer, theta,
    metrics per set, ChargeFrames per set, history, seconds).
    """
    from echemmd.training.fourthgen import ChargeTrainer, frame_response

    ch, t, sw = deck["charges"], deck["training"], deck["switch"]
    screening = (sw["r_on"], sw["r_off"])
    hidden = ch["hidden"] or deck["network"]["hidden"]
    ct = ChargeTrainer(trainer.functions, ch["sigma"], hidden, deck["network"]["activation"], t["seed"],
                       ch["hardness"], ch["fit_hardness"], ch["accuracy"])
    t0 = time.perf_counter()
    charge_sets = {"train": [], "validation": [], "test": []}
    frame_sets = {"train": [], "validation": [], "test": []}
    g_sets = {"train": [], "validation": [], "test": []}
    for frames, digest, parts in groups:
        G, hit = _descriptor_values(trainer, frames, digest, cache)
        cf = ct.prepare(frames, cached_G=G)
        for name, idx in parts.items():
            charge_sets[name] += [cf[i] for i in idx]
            frame_sets[name] += [frames[i] for i in idx]
            g_sets[name] += [G[i] for i in idx]
        print(f"  {len(frames)} frames: descriptors {'from cache' if hit else 'computed'}, Coulomb matrices "
              f"({time.perf_counter() - t0:.1f} s)", file=stream)
    # Stage 1: electronegativities and hardness.
    theta0 = ct.initialize(charge_sets["train"])
    m0 = ct.metrics(theta0, charge_sets["train"])
    print(f"  stage 1, charges: element-constant electronegativities give {m0.charge_rmse * MEV:.1f} me RMSE "
          f"(train); networks {list(hidden)} {deck['network']['activation']}, {ct.n_parameters} parameters",
          file=stream)
    key_q = "Q4G_" + _cache_key([g[1] for g in groups], [{k: list(map(int, v)) for k, v in g[2].items()}
                                                          for g in groups], trainer.functions, ch,
                                hidden, deck["network"]["activation"], t["seed"], t["optimizer"], t["batch_size"],
                                t["learning_rate"], t["lr_decay"], t["lr_min"], t["patience"])
    got = cache.load(key_q, 1)
    t1 = time.perf_counter()
    history = []
    if got is not None:
        theta_q = got["theta"][0]
        print("  stage 1 from cache", file=stream)
    else:
        schedule = Schedule(t["optimizer"], ch["epochs"], t["batch_size"], t["learning_rate"], t["lr_decay"],
                            t["lr_min"], t["patience"], t["seed"])
        last = [-1]

        def on_epoch(rec):
            history.append(rec)
            pct = int(10 * rec.epoch / max(ch["epochs"], 1))
            if pct != last[0]:
                last[0] = pct
                v = rec.validation or rec.train
                print(f"charge epoch {rec.epoch:>4d}/{ch['epochs']}  q RMSE {v.charge_rmse * MEV:7.2f} me "
                      f"({'val' if rec.validation else 'train'})", file=progress_stream, flush=True)

        theta_q, history, _stopped = fit(ct, theta0, charge_sets["train"], charge_sets["validation"], schedule,
                                         on_epoch)
        cache.store(key_q, {"theta": [theta_q]})
    charge = types.SimpleNamespace(trainer=ct, theta=theta_q, history=history, seconds=time.perf_counter() - t1,
                                   metrics={k: ct.metrics(theta_q, v) if v else None for k, v in charge_sets.items()},
                                   frames=charge_sets, screening=screening,
                                   electronegativity=ct.electronegativity_networks(theta_q),
                                   hardness=ct.hardness(theta_q), sigma=ct.sigma)
    m = charge.metrics
    print(f"  stage 1 done ({charge.seconds:.1f} s): q RMSE train {m['train'].charge_rmse * MEV:.1f} me"
          + (f", validation {m['validation'].charge_rmse * MEV:.1f} me" if m["validation"] else "")
          + "; J " + ", ".join(f"{e} {j:.3g}" for e, j in charge.hardness.items()) + " eV/e^2", file=stream)
    # Stage 2: the fixed charges, E_elec, F_elec and the adjoint-force map of every frame.
    prepared = {}
    key_r = _cache_key(theta_q.tobytes().hex(), screening, ch["accuracy"])
    t2 = time.perf_counter()
    for name in ("train", "validation", "test"):
        frames = frame_sets[name]
        if not frames:
            prepared[name] = []
            continue
        key = f"R4G_{name}_" + _cache_key(key_r, [fr.source for fr in frames], [g[1] for g in groups])
        got = cache.load(key, len(frames))
        if got is None:
            parts = [frame_response(trainer.functions, charge.electronegativity, charge.hardness, charge.sigma,
                                    screening, fr, ch["accuracy"]) for fr in frames]
            got = {"q": [p[0] for p in parts], "energy": [np.array([p[1]]) for p in parts],
                   "forces": [p[2] for p in parts], "response": [p[3] for p in parts]}
            cache.store(key, got)
        lr = [(float(e[0]), f, np.zeros((3, 3))) for e, f in zip(got["energy"], got["forces"])]
        prepared[name] = trainer.prepare(frames, cached={"G": g_sets[name], "long_range": lr},
                                         raw=[q[:, None] for q in got["q"]], response=got["response"])
    print(f"  stage 2: charges, electrostatics and adjoint-force maps of the frames "
          f"({time.perf_counter() - t2:.1f} s)", file=stream)
    return prepared, charge


def _cache_key(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


class _Cache:
    """Descriptors and long-range parts per data file in one HDF5 file, keyed by content and settings."""

    def __init__(self, path):
        self.path = Path(path) if path else None

    def load(self, key, n_frames):
        if self.path is None or not self.path.is_file():
            return None
        import h5py

        try:
            with h5py.File(self.path, "r") as f:
                if key not in f:
                    return None
                g = f[key]
                if int(g.attrs["n_frames"]) != n_frames:
                    return None
                return {name: [np.array(g[name][str(k)]) for k in range(n_frames)] for name in g if name != "meta"}
        except OSError:
            return None

    def store(self, key, arrays):
        if self.path is None:
            return
        import h5py

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(self.path, "a") as f:
            if key in f:
                del f[key]
            g = f.create_group(key)
            n = None
            for name, items in arrays.items():
                sub = g.create_group(name)
                for k, a in enumerate(items):
                    sub.create_dataset(str(k), data=np.asarray(a))
                n = len(items)
            g.attrs["n_frames"] = n


def _prepare(trainer, frames, digest, charge_model, accuracy, cache, stream):
    """PreparedFrames for one data file, through the cache."""
    from echemmd.training.trainer import long_range_part

    cm = {"model": charge_model.charge_model, "charges": charge_model.charges, "qeq": charge_model.qeq,
          "sigma": charge_model.sigma, "switch": charge_model.switch, "accuracy": accuracy}
    key_g = "G_" + _cache_key(digest, trainer.functions)
    key_lr = "LR_" + _cache_key(digest, cm)
    n = len(frames)
    g = cache.load(key_g, n)
    lr = cache.load(key_lr, n)
    t0 = time.perf_counter()
    if g is None:
        cached_g = None
    else:
        cached_g = g["G"]
    if lr is None:
        parts = [long_range_part(charge_model, fr, accuracy) for fr in frames]
        cached_lr = parts
    else:
        cached_lr = [(float(e[0]), f, w) for e, f, w in zip(lr["energy"], lr["forces"], lr["virial"])]
    prepared = trainer.prepare(frames, cached={"G": cached_g, "long_range": cached_lr})
    if g is None:
        cache.store(key_g, {"G": [p.G for p in prepared]})
    if lr is None:
        cache.store(key_lr, {"energy": [np.array([p[0]]) for p in cached_lr], "forces": [p[1] for p in cached_lr],
                             "virial": [p[2] for p in cached_lr]})
    what = "descriptors from cache" if g is not None else "descriptors computed"
    what += ", long-range part from cache" if lr is not None else (
        ", long-range part computed" if charge_model.has_electrostatics else "")
    print(f"  {n} frames: {what} ({time.perf_counter() - t0:.1f} s)", file=stream)
    return prepared


class _Progress:
    """One line per epoch on a terminal (rewritten in place), every 10% otherwise."""

    def __init__(self, total, stream):
        self.total = total
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.t0 = time.perf_counter()
        self.last_pct = -1

    def update(self, rec):
        done = rec.epoch
        elapsed = time.perf_counter() - self.t0
        rate = done / elapsed if elapsed > 0 and done else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        width = 24
        fill = int(width * done / max(self.total, 1))
        v = rec.validation or rec.train
        line = (f"epoch {done:>4d}/{self.total} [{'=' * fill}{' ' * (width - fill)}] "
                f"E {v.energy_rmse * MEV:8.3f} meV/atom  F {v.force_rmse * MEV:8.2f} meV/Å "
                f"({'val' if rec.validation else 'train'})  {rate:5.2f} ep/s  ETA {_fmt_time(eta)}")
        if self.tty:
            print("\r" + line, end="", file=self.stream, flush=True)
            if done >= self.total:
                print(file=self.stream)
        else:
            pct = int(10 * done / max(self.total, 1))
            if pct != self.last_pct or done == 0:
                self.last_pct = pct
                print(line, file=self.stream, flush=True)

    def close(self):
        if self.tty:
            print(file=self.stream, flush=True)


def _fmt_time(s):
    if not math.isfinite(s):
        return "--"
    s = int(s)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


_LOG_FIELDS = ["epoch", "learning_rate", "seconds", "loss_train", "loss_validation",
               "energy_rmse_train_meV_per_atom", "force_rmse_train_meV_per_A",
               "energy_rmse_validation_meV_per_atom", "force_rmse_validation_meV_per_A"]


def _log_row(rec):
    v = rec.validation
    nan = float("nan")
    return [rec.epoch, rec.learning_rate, round(rec.seconds, 3), rec.train.loss, v.loss if v else nan,
            rec.train.energy_rmse * MEV, rec.train.force_rmse * MEV, v.energy_rmse * MEV if v else nan,
            v.force_rmse * MEV if v else nan]


def _metrics_dict(m):
    if m is None or m.n_frames == 0:
        return None
    return {"frames": m.n_frames, "loss": m.loss, "energy_rmse_meV_per_atom": m.energy_rmse * MEV,
            "energy_mae_meV_per_atom": m.energy_mae * MEV, "force_rmse_meV_per_A": m.force_rmse * MEV,
            "force_mae_meV_per_A": m.force_mae * MEV,
            "stress_rmse_GPa": None if not math.isfinite(m.stress_rmse) else m.stress_rmse * 160.21766208,
            "force_rmse_by_element_meV_per_A": {e: v * MEV for e, v in m.force_rmse_by_element.items()}}


def _charge_metrics_dict(m):
    if m is None or m.n_frames == 0:
        return None
    return {"frames": m.n_frames, "charge_rmse_me": m.charge_rmse * MEV, "charge_mae_me": m.charge_mae * MEV,
            "charge_rmse_by_element_me": {e: v * MEV for e, v in m.charge_rmse_by_element.items()}}


def write_report(path, metrics_train, metrics_val, info, metrics_test=None, charges=None) -> dict:
    """report.txt (a table) and report.json beside it; ``charges``: set name -> ChargeMetrics (4G)."""
    rows = [("train", _metrics_dict(metrics_train)), ("validation", _metrics_dict(metrics_val)),
            ("test", _metrics_dict(metrics_test))]
    lines = [f"echemmd {__version__} training report", ""]
    for k, v in info.items():
        lines.append(f"{k}: {v}")
    lines += ["", f"{'set':<11}{'frames':>7}{'E RMSE':>11}{'E MAE':>11}{'F RMSE':>11}{'F MAE':>11}  F RMSE by element",
              f"{'':<11}{'':>7}{'meV/atom':>11}{'meV/atom':>11}{'meV/Å':>11}{'meV/Å':>11}  meV/Å"]
    for name, d in rows:
        if d is None:
            continue
        el = ", ".join(f"{e} {v:.2f}" for e, v in d["force_rmse_by_element_meV_per_A"].items())
        lines.append(f"{name:<11}{d['frames']:>7d}{d['energy_rmse_meV_per_atom']:>11.3f}"
                     f"{d['energy_mae_meV_per_atom']:>11.3f}{d['force_rmse_meV_per_A']:>11.2f}"
                     f"{d['force_mae_meV_per_A']:>11.2f}  {el}")
    charge_rows = {name: _charge_metrics_dict(m) for name, m in (charges or {}).items()}
    if charges:
        lines += ["", f"{'charges':<11}{'frames':>7}{'q RMSE':>11}{'q MAE':>11}  q RMSE by element",
                  f"{'':<11}{'':>7}{'me':>11}{'me':>11}  me"]
        for name, c in charge_rows.items():
            if c is None:
                continue
            el = ", ".join(f"{e} {v:.1f}" for e, v in c["charge_rmse_by_element_me"].items())
            lines.append(f"{name:<11}{c['frames']:>7d}{c['charge_rmse_me']:>11.2f}{c['charge_mae_me']:>11.2f}  {el}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = {"info": info, **{name: d for name, d in rows}}
    if charges:
        out["charges"] = charge_rows
    Path(path).with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


def _plots(directory, history, trainer, theta, train, validation, test=()):
    """learning_curve.png, parity_energy.png, parity_forces.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r.epoch for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, attr, unit in ((axes[0], "energy_rmse", "meV/atom"), (axes[1], "force_rmse", "meV/Å")):
        ax.semilogy(ep, [getattr(r.train, attr) * MEV for r in history], label="train")
        if history[0].validation is not None:
            ax.semilogy(ep, [getattr(r.validation, attr) * MEV for r in history], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{'energy' if attr.startswith('energy') else 'force'} RMSE ({unit})")
        ax.legend()
    fig.tight_layout()
    fig.savefig(directory / "learning_curve.png", dpi=110)
    plt.close(fig)
    sets = [("train", train)] + ([("validation", validation)] if validation else []) + ([("test", test)] if test else [])
    for kind, unit in (("energy", "eV/atom"), ("forces", "eV/Å")):
        fig, ax = plt.subplots(figsize=(4.6, 4.4))
        lo, hi = math.inf, -math.inf
        for name, frames in sets:
            e_ref, e_mod, f_ref, f_mod = trainer.predictions(theta, frames)
            x, y = (e_ref, e_mod) if kind == "energy" else (f_ref, f_mod)
            if x.size == 0:
                continue
            ax.plot(x, y, ".", ms=3 if kind == "forces" else 5, alpha=0.6, label=name)
            lo, hi = min(lo, x.min(), y.min()), max(hi, x.max(), y.max())
        if math.isfinite(lo):
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_xlabel(f"reference {kind} ({unit})")
        ax.set_ylabel(f"model {kind} ({unit})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(directory / f"parity_{kind}.png", dpi=110)
        plt.close(fig)


def _charge_parity(directory, charge):
    """parity_charges.png: model against reference charges (4G stage 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    lo, hi = math.inf, -math.inf
    for name, frames in charge.frames.items():
        if not frames:
            continue
        ref = np.concatenate([f.charges for f in frames])
        mod = np.concatenate(charge.trainer.charges(charge.theta, frames))
        ax.plot(ref, mod, ".", ms=3, alpha=0.6, label=name)
        lo, hi = min(lo, ref.min(), mod.min()), max(hi, ref.max(), mod.max())
    if math.isfinite(lo):
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.set_xlabel("reference charge (e)")
    ax.set_ylabel("model charge (e)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(directory / "parity_charges.png", dpi=110)
    plt.close(fig)


def _deck_fingerprint(deck) -> str:
    """Hash of everything that fixes the meaning of the parameters and the optimisation path.

    ``training.epochs``, ``training.patience`` and ``[output]`` may change between a run and
    its continuation (to train longer, or write elsewhere).
    """
    data = json.loads(json.dumps(deck.data, default=str))
    for key in ("epochs", "patience"):
        data["training"].pop(key, None)
    data.pop("output", None)
    return _cache_key(data)


def save_checkpoint(path, st: OptimizerState, fingerprint: str):
    """Training checkpoint (HDF5, written atomically): optimizer state and the deck's fingerprint."""
    import h5py

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "echemmd-training-checkpoint"
        f.attrs["fingerprint"] = fingerprint
        for key in ("epoch", "best_loss", "best_epoch", "learning_rate", "adam_t"):
            f.attrs[key] = getattr(st, key)
        f.attrs["rng_state"] = json.dumps(st.rng_state) if st.rng_state is not None else ""
        for key in ("theta", "best_theta", "adam_m", "adam_v"):
            if getattr(st, key) is not None:
                f.create_dataset(key, data=getattr(st, key))
        f.create_dataset("history", data=np.array(st.history, dtype=np.float64))
    tmp.replace(path)


def load_checkpoint(path, fingerprint: str) -> OptimizerState:
    """Read a training checkpoint; InputError when it is not one or belongs to another deck or data."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"training checkpoint not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != "echemmd-training-checkpoint":
                raise InputError(f"{path} is not an echemmd training checkpoint")
            if f.attrs["fingerprint"] != fingerprint:
                raise InputError(f"{path} was written for other data or settings (only training.epochs, "
                                 "training.patience and [output] may change when continuing a training)")
            rng = f.attrs["rng_state"]
            return OptimizerState(
                epoch=int(f.attrs["epoch"]), theta=np.array(f["theta"]), best_theta=np.array(f["best_theta"]),
                best_loss=float(f.attrs["best_loss"]), best_epoch=int(f.attrs["best_epoch"]),
                learning_rate=float(f.attrs["learning_rate"]),
                adam_m=np.array(f["adam_m"]) if "adam_m" in f else None,
                adam_v=np.array(f["adam_v"]) if "adam_v" in f else None, adam_t=int(f.attrs["adam_t"]),
                rng_state=json.loads(rng) if rng else None, history=np.array(f["history"]).tolist())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the training checkpoint: {exc}") from None


def train(deck, stream=None, progress_stream=None, restart=None) -> TrainingResult:
    """Run a training deck (see the module docstring).

    Parameters
    ----------
    deck : echemmd.io.train_deck.TrainDeck
    stream, progress_stream : file-like, optional
        Log and progress output (default stdout and stderr).
    restart : path-like, optional
        A training checkpoint (``checkpoint.h5``, written after every epoch) to continue from.

    Returns
    -------
    TrainingResult
        ``model`` (HybridModel), ``model_path``, ``train``/``validation`` (Metrics of the best
        model), ``history``, ``stopped``, ``report`` (dict).
    """
    stream = stream or sys.stdout
    progress_stream = progress_stream or sys.stderr
    d, t, out = deck["data"], deck["training"], deck["output"]
    directory = Path(out["directory"])
    directory.mkdir(parents=True, exist_ok=True)
    fmt = d["format"] or None
    frames_all = read_dataset(d["train"], fmt)
    if d["validation"]:
        train_frames, val_frames = frames_all, read_dataset(d["validation"], fmt)
        digest_val = file_digest(d["validation"])
    else:
        i_tr, i_val = split_frames(len(frames_all), d["validation_fraction"], t["seed"])
        train_frames, val_frames = [frames_all[i] for i in i_tr], [frames_all[i] for i in i_val]
        digest_val = None
    from ase.data import atomic_numbers

    elements = sorted({s for fr in frames_all + val_frames for s in fr.symbols}, key=lambda e: atomic_numbers[e])
    functions = _functions(deck, elements)
    four_g = deck["charges"]["model"] == "4g"
    charge_model = None if four_g else _charge_template(deck, elements)
    weights = LossWeights(t["energy_weight"], t["force_weight"], t["stress_weight"])
    trainer = Trainer(functions, deck["network"]["hidden"], deck["network"]["activation"], weights, t["seed"],
                      raw_inputs=1 if four_g else 0)
    n_in = {e: len(functions[e]) for e in elements}
    print(f"echemmd {__version__} train: {deck.source}", file=stream)
    print(f"  data {d['train']}: {len(frames_all)} frames, elements {', '.join(elements)}; "
          f"{len(train_frames)} for training, {len(val_frames)} for validation", file=stream)
    print(f"  {sum(n_in.values())} symmetry functions ({', '.join(f'{e} {n}' for e, n in n_in.items())}), "
          f"cutoff {trainer.cutoff:g} Å; networks {list(trainer.layer_sizes[elements[0]][1:-1])} "
          f"{deck['network']['activation']}, {trainer.n_parameters} parameters", file=stream)
    if four_g:
        sw = deck["switch"]
        print(f"  charge model 4g: electronegativity networks and hardness from the reference charges, then "
              f"short-range networks with the charge input; pair Coulomb screened {sw['r_on']:g}-{sw['r_off']:g} Å",
              file=stream)
    else:
        print(f"  charge model {charge_model.charge_model}"
              + (f", switch {charge_model.switch[0]:g}-{charge_model.switch[1]:g} Å (Delta learning: the long-range "
                 "part is subtracted from the references)" if charge_model.has_electrostatics else ""), file=stream)
    cache = _Cache(directory / "descriptors.h5" if d["cache"] else None)
    digest = file_digest(d["train"])
    acc = deck["charges"]["accuracy"]
    charge = None
    if four_g:
        if d["validation"]:
            groups = [(train_frames, digest, {"train": range(len(train_frames))}),
                      (val_frames, digest_val, {"validation": range(len(val_frames))})]
        else:
            groups = [(frames_all, digest, {"train": i_tr, "validation": i_val})]
        if d["test"]:
            test_frames = read_dataset(d["test"], fmt)
            groups.append((test_frames, file_digest(d["test"]), {"test": range(len(test_frames))}))
        sets, charge = _prepare_fourthgen(deck, trainer, groups, cache, stream, progress_stream)
        train_p, val_p, test_p = sets["train"], sets["validation"], sets["test"]
    elif d["validation"]:
        train_p = _prepare(trainer, train_frames, digest, charge_model, acc, cache, stream)
        val_p = _prepare(trainer, val_frames, digest_val, charge_model, acc, cache, stream)
    else:
        all_p = _prepare(trainer, frames_all, digest, charge_model, acc, cache, stream)
        train_p, val_p = [all_p[i] for i in i_tr], [all_p[i] for i in i_val]
    if not four_g:
        test_p = []
    if d["test"] and not four_g:
        test_frames = read_dataset(d["test"], fmt)
        test_p = _prepare(trainer, test_frames, file_digest(d["test"]), charge_model, acc, cache, stream)
    theta0 = trainer.initialize(train_p)
    schedule = Schedule(t["optimizer"], t["epochs"], t["batch_size"], t["learning_rate"], t["lr_decay"],
                        t["lr_min"], t["patience"], t["seed"])
    fingerprint = _deck_fingerprint(deck)
    resume = load_checkpoint(restart, fingerprint) if restart else None
    checkpoint_path = directory / "checkpoint.h5"
    log_path = directory / out["log"]
    progress = _Progress(schedule.epochs, progress_stream)
    interrupted = {"flag": False}

    def on_signal(signum, frame):
        interrupted["flag"] = True

    handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            handlers[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread (e.g. a test runner thread): no signal handling
            pass
    t0 = time.perf_counter()
    try:
        with open(log_path, "w", newline="", encoding="utf-8") as log:
            writer = csv.writer(log)
            writer.writerow(_LOG_FIELDS)
            if resume is not None:
                print(f"  continuing from {restart} after epoch {resume.epoch}", file=stream)
                for row in resume.history:
                    writer.writerow(_log_row(_record_of(row)))

            def on_epoch(rec):
                writer.writerow(_log_row(rec))
                log.flush()
                progress.update(rec)

            best, history, stopped = fit(trainer, theta0, train_p, val_p, schedule, on_epoch,
                                         should_stop=lambda: interrupted["flag"], resume=resume,
                                         on_state=lambda st: save_checkpoint(checkpoint_path, st, fingerprint))
    except FloatingPointError as exc:
        raise InputError(f"{deck.source}: {exc}") from None
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)
    seconds = time.perf_counter() - t0
    if interrupted["flag"]:
        stopped = "interrupted"
    progress.close()
    best_epoch = min(history, key=lambda r: (r.validation or r.train).loss).epoch
    provenance = {"source": "echemmd train", "version": __version__, "deck": deck.source,
                  "data": str(d["train"]), "data_sha256": digest, "seed": str(t["seed"]),
                  "optimizer": t["optimizer"], "best_epoch": str(best_epoch),
                  "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if four_g:
        from echemmd.training.fourthgen import fourthgen_model

        model = fourthgen_model(trainer.functions, charge.electronegativity, trainer.networks(best), charge.hardness,
                                charge.sigma, charge.screening, provenance)
    else:
        model = HybridModel(trainer.short_range_model(best), charge_model=charge_model.charge_model,
                            charges=charge_model.charges, qeq=charge_model.qeq, sigma=charge_model.sigma,
                            switch=charge_model.switch, provenance=provenance)
    from echemmd.io.model import save_model

    model_path = save_model(directory / out["model"], model)
    m_train = trainer.metrics(best, train_p)
    m_val = trainer.metrics(best, val_p) if val_p else None
    m_test = trainer.metrics(best, test_p) if test_p else None
    info = {"deck": deck.source, "data": d["train"], "model": str(model_path), "elements": ", ".join(elements),
            "charge model": "4g" if four_g else charge_model.charge_model, "optimizer": t["optimizer"],
            "epochs run": history[-1].epoch,
            "best epoch": best_epoch, "stopped": stopped, "seconds": round(seconds, 1),
            "frames per second (loss + gradient)": round(
                (history[-1].epoch - (resume.epoch if resume else 0)) * len(train_p) / seconds, 2)
            if seconds > 0 else None}
    if four_g:
        info["hardness (eV/e^2)"] = ", ".join(f"{e} {j:.4g}" for e, j in charge.hardness.items())
        info["charge stage"] = (f"{len(charge.history) - 1 if charge.history else 'cached'} epochs, "
                                f"{charge.seconds:.1f} s")
    report = write_report(directory / out["report"], m_train, m_val, info, m_test,
                          charges=charge.metrics if four_g else None)
    if out["plots"]:
        _plots(directory, history, trainer, best, train_p, val_p, test_p)
        if four_g:
            _charge_parity(directory, charge)
    print((directory / out["report"]).read_text(encoding="utf-8"), file=stream)
    if stopped == "interrupted":
        print(f"  interrupted: the best model so far is written; continue with "
              f"echemmd train {deck.source} --restart {checkpoint_path}", file=stream)
    print(f"  model: {model_path}\n  log: {log_path}\n  report: {directory / out['report']}"
          + (f"\n  plots: {directory}/learning_curve.png, parity_energy.png, parity_forces.png" if out["plots"] else ""),
          file=stream)
    return TrainingResult(model=model, model_path=model_path, train=m_train, validation=m_val, test=m_test,
                          history=history,
                          stopped=stopped, report=report, trainer=trainer, theta=best,
                          prepared={"train": train_p, "validation": val_p, "test": test_p}, charge=charge)

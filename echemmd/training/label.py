"""``echemmd label``: select diverse structures and label them with a reference calculator.

    echemmd label out/run/trajectory.h5md inputs/*.extxyz --calculator tblite --method GFN1-xTB \
        --select 50 --out data/labelled.extxyz

Structures come from any file ASE reads (every frame) or from H5MD trajectories. Selection
is farthest-point sampling in descriptor space: each structure is summarised by the mean and
standard deviation, per element, of a fixed set of symmetry functions (the training recipe),
standardised over the candidates; starting from the structure farthest from the mean, the
next pick is always the candidate farthest from all picks so far. The picks are labelled one
by one and appended to the output file as soon as each is done (a crash loses at most the
frame being computed), with energy, forces, stress (periodic cells), charges when the
calculator has them, and provenance (method, versions, settings) in every frame's info line.

Calculators: ``tblite`` (GFN1-xTB / GFN2-xTB / IPEA1-xTB through the optional ``tblite``
package, offline, periodic cells, net charge from ``total_charge``), ``emt`` (ASE's effective
medium theory: quick tests), ``model:PATH`` (an echemmd model file).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from echemmd import __version__
from echemmd.errors import InputError

CALCULATORS = ("tblite", "emt", "model:PATH")


def read_structures(paths, stride=1):
    """Every frame of every file (ASE formats; ``.h5``/``.h5md`` as echemmd trajectories), as ase.Atoms."""
    import ase.io

    out = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"structure file not found: {path}")
        if path.suffix in (".h5md", ".h5"):
            from echemmd.io.h5md import iter_h5md_frames

            from ase import Atoms

            frames = []
            for fr in iter_h5md_frames(str(path)):
                if fr.species is None or fr.cell is None:
                    raise InputError(f"{path}: frame {fr.index} lacks species or box")
                frames.append(Atoms(numbers=fr.species, positions=fr.positions, cell=fr.cell, pbc=fr.pbc))
        else:
            try:
                frames = ase.io.read(str(path), index=":")
            except Exception as exc:  # ASE's readers raise many types
                raise InputError(f"{path}: ASE cannot read it: {type(exc).__name__}: {exc}") from exc
        for k, at in enumerate(frames[::stride]):
            at.info["source"] = f"{path.name}:{k * stride}"
            out.append(at)
    if not out:
        raise InputError("no structures to label")
    return out


def fingerprints(structures, r_c=6.0, n_radial=6, n_angular=1):
    """One vector per structure: per element, the mean and standard deviation of its atoms' symmetry functions."""
    from ase.data import atomic_numbers

    from echemmd.descriptors import SymmetryFunctions
    from echemmd.training.recipes import symmetry_function_set

    elements = sorted({s for at in structures for s in at.get_chemical_symbols()}, key=lambda e: atomic_numbers[e])
    functions = symmetry_function_set(elements, r_c, n_radial=n_radial, n_angular=n_angular)
    sf = SymmetryFunctions([f for e in elements for f in functions[e]])
    start, cols = 0, {}
    for e in elements:
        cols[e] = np.arange(start, start + len(functions[e]))
        start += len(functions[e])
    rows = []
    for at in structures:
        G = sf.compute(at)
        sym = np.array(at.get_chemical_symbols())
        parts = []
        for e in elements:
            X = G[np.ix_(sym == e, cols[e])]
            if X.shape[0]:
                parts += [X.mean(axis=0), X.std(axis=0)]
            else:
                parts += [np.zeros(len(cols[e])), np.zeros(len(cols[e]))]
        rows.append(np.concatenate(parts))
    return np.array(rows)


def farthest_point_sampling(features, n, known=None):
    """Indices of ``n`` rows picked by farthest-point sampling (standardised features, deterministic).

    Parameters
    ----------
    features : (M, D) array
        Candidates, one row each.
    n : int
        How many to pick (at most M).
    known : (K, D) array, optional
        Points already in the data set: each pick is the candidate farthest from these and
        from the earlier picks, so a new round adds what the data set lacks. Standardised
        with the candidates.
    """
    X = np.asarray(features, dtype=np.float64)
    n = min(int(n), X.shape[0])
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    K = np.zeros((0, X.shape[1])) if known is None else np.asarray(known, dtype=np.float64).reshape(-1, X.shape[1])
    both = np.vstack([X, K])
    mean, sd = both.mean(axis=0), both.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    X, K = (X - mean) / sd, (K - mean) / sd
    if K.shape[0]:
        dist = np.full(X.shape[0], np.inf)
        for row in K:
            dist = np.minimum(dist, np.linalg.norm(X - row, axis=1))
        picks = []
    else:
        picks = [int(np.argmax(np.einsum("ij,ij->i", X, X)))]
        dist = np.linalg.norm(X - X[picks[0]], axis=1)
    while len(picks) < n:
        k = int(np.argmax(dist))
        picks.append(k)
        dist = np.minimum(dist, np.linalg.norm(X - X[k], axis=1))
    return np.array(picks, dtype=np.int64)


def make_calculator(name, method="GFN1-xTB", accuracy=1.0, electronic_temperature=300.0):
    """(ASE calculator, provenance dict) for a calculator name (see ``CALCULATORS``)."""
    if name == "tblite":
        try:
            import tblite
            from tblite.ase import TBLite
        except ImportError:
            raise InputError("the tblite calculator needs the optional package: pip install -e \".[reference]\" "
                             "(or pip install tblite)") from None
        calc = TBLite(method=method, accuracy=accuracy, electronic_temperature=electronic_temperature, verbosity=0)
        return calc, {"method": method, "code": f"tblite {getattr(tblite, '__version__', 'unknown')}",
                      "settings": f"accuracy={accuracy} electronic_temperature={electronic_temperature} K"}
    if name == "emt":
        from ase.calculators.emt import EMT

        import ase

        return EMT(), {"method": "EMT (ASE)", "code": f"ase {ase.__version__}", "settings": "defaults"}
    if name.startswith("model:"):
        from echemmd.calculator import EchemmdCalculator

        path = name.split(":", 1)[1]
        return EchemmdCalculator(path), {"method": f"echemmd model {path}", "code": f"echemmd {__version__}",
                                         "settings": "Ewald accuracy 1e-8"}
    raise InputError(f"unknown calculator {name!r}; allowed: {', '.join(CALCULATORS)}")


def label_structures(structures, calc, provenance, out, stream=None, resume=False):
    """Label each structure and append it to ``out`` (extended XYZ) at once; returns the new frames.

    With ``resume``, an existing ``out`` is kept and the structures whose ``info["source"]`` it
    already holds are skipped, so an interrupted labelling run continues where it stopped
    (sources must then be unique). Without it, ``out`` is rewritten.
    """
    import ase.io

    from echemmd.io.dataset import write_dataset
    from echemmd.training.synthetic import label

    stream = stream or sys.stdout
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists() and resume:
        done = {at.info.get("source") for at in ase.io.read(out, index=":")}
        todo = [at for at in structures if at.info.get("source") not in done]
        print(f"  resuming {out}: {len(structures) - len(todo)} of {len(structures)} already labelled",
              file=stream, flush=True)
        structures = todo
    elif out.exists():
        out.unlink()
    frames = []
    t0 = time.perf_counter()
    for k, at in enumerate(structures):
        fr = label(calc, [at], provenance.get("method", ""))[0]
        fr.source = at.info.get("source", fr.source)
        frames.append(fr)
        info = dict(provenance, source=fr.source)
        write_dataset(out, [fr], info, append=True)
        el = time.perf_counter() - t0
        print(f"  labelled {k + 1}/{len(structures)} ({fr.source}): E = {fr.energy:.4f} eV, "
              f"{el / (k + 1):.1f} s/frame, ETA {el / (k + 1) * (len(structures) - k - 1):.0f} s", file=stream,
              flush=True)
    return frames


def run(args) -> int:
    """The ``echemmd label`` command (argparse namespace from ``add_arguments``)."""
    structures = read_structures(args.structures, args.stride)
    print(f"echemmd label: {len(structures)} candidate structures from {len(args.structures)} file(s)")
    if args.select and args.select < len(structures):
        picks = farthest_point_sampling(fingerprints(structures, r_c=args.r_c), args.select)
        structures = [structures[i] for i in picks]
        print(f"  selected {len(structures)} by farthest-point sampling in descriptor space (r_c {args.r_c} Å)")
    calc, prov = make_calculator(args.calculator, args.method)
    prov["echemmd"] = __version__
    label_structures(structures, calc, prov, args.out)
    print(f"  wrote {args.out}")
    return 0


def add_arguments(p):
    p.add_argument("structures", nargs="+", help="structure files (any ASE format, every frame) or H5MD trajectories")
    p.add_argument("--out", required=True, help="labelled data set (extended XYZ)")
    p.add_argument("--calculator", default="tblite", help="tblite (default), emt, or model:PATH")
    p.add_argument("--method", default="GFN1-xTB", help="tblite method: GFN1-xTB (default), GFN2-xTB, IPEA1-xTB")
    p.add_argument("--select", type=int, default=0, help="pick this many by farthest-point sampling (0: all)")
    p.add_argument("--stride", type=int, default=1, help="use every N-th frame of each file")
    p.add_argument("--r-c", type=float, default=6.0, help="cutoff of the selection descriptors, Å (6)")
    return p

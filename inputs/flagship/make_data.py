"""Make the flagship data set: GFN1-xTB labels of water, NaCl(aq), Au(111) and their interfaces.

    python inputs/flagship/make_data.py round0              # random candidates, all labelled
    python inputs/flagship/make_data.py explore MODEL.h5 N  # MD with a model, N frames picked, labelled

Round 0 labels every candidate of ``structures.round0`` (random insertion with thermal-like
water geometries, close contacts, neutral and charged cells). Each later round runs short
Langevin MD at 300-400 K with the model trained so far on bulk water, NaCl(aq) and
Au(111)|electrolyte cells (neutral and with a charged electrode), picks the frames that are
farthest from each other and from everything already labelled in descriptor space
(``echemmd.training.label``) and labels them. All output goes to ``inputs/flagship/``:
``data_r<k>.extxyz`` per round (energy, forces, stress, GFN1-xTB charges, total_charge and
provenance on every frame); ``data.extxyz`` is their concatenation, the training set.

The reference is GFN1-xTB through tblite (``pip install -e ".[reference]"``), Fermi smearing
at 300 K, the cell's net charge from ``total_charge`` with Ewald's neutralising background.
Deterministic up to the reference code's own floating-point order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import structures  # noqa: E402


def label(cands, out):
    from echemmd import __version__
    from echemmd.training.label import label_structures, make_calculator

    calc, prov = make_calculator("tblite", "GFN1-xTB", electronic_temperature=300.0)
    prov["echemmd"] = __version__
    for k, at in enumerate(cands):
        at.info.pop("adsorbate_info", None)
        at.info["source"] = f"{at.info.get('kind', 'frame')}:{k}"
    label_structures(cands, calc, prov, out)


def round0(args):
    label(structures.round0(seed=0), HERE / "data_r0.extxyz")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    sub.add_parser("round0")
    args = p.parse_args(argv)
    {"round0": round0}[args.what](args)


if __name__ == "__main__":
    main()

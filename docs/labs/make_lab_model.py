"""Lab 1 files: a small random H/O machine-learning potential and a water-like test box.

    python docs/labs/make_lab_model.py                      # lab_model.h5, lab_water.extxyz, lab_water_slab.extxyz
    python docs/labs/make_lab_model.py --cutoff hard        # the broken model: lab_model_hard.h5
    python docs/labs/make_lab_model.py --charges fixed      # with fixed Gaussian charges (+ Ewald, switch)

Files are written into the current directory (or --out DIR):

* ``lab_water.extxyz``: 16 rigid water molecules at random positions and orientations at
  1 g/cm^3 (48 atoms, a 7.8 Å periodic cube; a test structure, not an equilibrated liquid);
* ``lab_water_slab.extxyz``: the same kind of box as a periodic layer with vacuum (pbc T T F);
* ``lab_model[_<cutoff>][_<charges>].h5``: an echemmd model file made by
  :func:`echemmd.mlpotential.random_model` (n2p2 symmetry functions with r_c = 5 Å, two
  hidden layers of 10, random weights), its input scaling calibrated on the box
  (:func:`echemmd.validate.calibrate_scaling`) so that the networks do not saturate.

The model is random: its energies mean nothing physically, but every symmetry an
interatomic potential must have, it has (or, with ``--cutoff hard``, deliberately lacks one).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ase.io import write

from echemmd.io.model import save_model
from echemmd.mlpotential import random_model
from echemmd.validate import calibrate_scaling, water_box


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cutoff", default="poly2", help="symmetry-function cutoff function: poly2 (smooth, default), "
                   "cos, poly1, hard (n2p2 type 0: truncated, not smooth)")
    p.add_argument("--charges", default="none", choices=("none", "fixed"),
                   help="charge model: none (short range only) or fixed Gaussian charges +-0.5 e with Ewald")
    p.add_argument("--molecules", type=int, default=16, help="water molecules in the box (16)")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--out", default=".", help="output directory (.)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    box = water_box(args.molecules, seed=1, min_distance=1.6)
    slab = water_box(args.molecules, seed=1, min_distance=1.6, slab=True)
    write(out / "lab_water.extxyz", box, format="extxyz")
    write(out / "lab_water_slab.extxyz", slab, format="extxyz")
    model = random_model(["H", "O"], seed=args.seed, cutoff=args.cutoff, charge_model=args.charges,
                         switch=(1.0, 4.0) if args.charges != "none" else None)
    model = calibrate_scaling(model, [box, slab])
    name = "lab_model" + ("" if args.cutoff == "poly2" else f"_{args.cutoff}") + \
        ("" if args.charges == "none" else f"_{args.charges}") + ".h5"
    save_model(out / name, model)
    print(f"wrote {out / name} (H/O random model, cutoff function {args.cutoff}, charges {args.charges}), "
          f"{out / 'lab_water.extxyz'} ({len(box)} atoms, {box.cell[0, 0]:.2f} Å cube) and "
          f"{out / 'lab_water_slab.extxyz'}")


if __name__ == "__main__":
    main()

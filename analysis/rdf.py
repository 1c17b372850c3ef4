"""Radial distribution functions and coordination numbers.

    python analysis/rdf.py out/nacl_melt/trajectory.h5md --pairs Na-Cl,Na-Na,Cl-Cl --rmax 10

Slab trajectories (pbc T T F) are normalised pair by pair against an ideal gas with the
atoms' own heights (g = 1 for uncorrelated atoms, whatever the film's thickness). Prints
the first peak, the first minimum after it and the coordination number up to that minimum.
"""

import argparse

import numpy as np

from echemmd.analysis.structure import coordination_number, rdf, save_rdfs

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("trajectory")
p.add_argument("--pairs", required=True, help="e.g. Na-Cl,O-O")
p.add_argument("--rmax", type=float, default=10.0, help="Å")
p.add_argument("--dr", type=float, default=0.05, help="Å")
p.add_argument("--start", type=int, default=0, help="first frame")
p.add_argument("--out", default="analysis_out")
args = p.parse_args()

results = rdf(args.trajectory, args.pairs, r_max=args.rmax, bin_width=args.dr, start=args.start)
print("wrote", *save_rdfs(results.values(), args.out))
for g in results.values():
    if g.counts.sum() == 0:
        print(f"{g.label}: no pair within {args.rmax} Å")
        continue
    peak = int(np.argmax(g.g))
    # First minimum: the lowest point of the first stretch after the peak where g < 1.
    below = np.nonzero(g.g[peak:] < 1.0)[0]
    if len(below) == 0:
        print(f"{g.label}: highest g = {g.g[peak]:.2f} at {g.r[peak]:.2f} Å, no minimum below 1 within {args.rmax} Å")
        continue
    start = peak + below[0]
    above = np.nonzero(g.g[start:] > 1.0)[0]
    stop = start + above[0] if len(above) else len(g.g)
    minimum = start + int(np.argmin(g.g[start:stop]))
    r_min = g.r[minimum]
    print(f"{g.label}: first peak g = {g.g[peak]:.2f} at {g.r[peak]:.2f} Å, minimum at {r_min:.2f} Å, "
          f"coordination number {coordination_number(g, r_min):.2f}")

"""Potential profile and potential drops of a constant-potential (electrode) trajectory.

    python analysis/potential_drop.py out/capacitor/trajectory.h5md \
        --electrode 'bottom=Au[0:40]' --electrode 'top=Au[40:]' --sigma Au=0.357 --out out/capacitor/analysis

Integrates Poisson's equation twice over the planar-averaged charge density (Gaussian
electrode charges of width sigma included), with zero field in the vacuum below the slab,
and prints the drop at each electrode/electrolyte interface and between the electrodes
(which, at constant potential, should match the applied voltage).
"""

import argparse

from echemmd.analysis import trajectory_info
from echemmd.analysis.electrostatics import cell_potential_drop, electrode_potential_drops, potential_profile
from echemmd.analysis.profiles import select_atoms

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("trajectory")
p.add_argument("--electrode", action="append", default=[], metavar="NAME=SELECTION", help="e.g. 'bottom=Au[0:40]'")
p.add_argument("--sigma", default=None, metavar="EL=W", help="Gaussian width of an element's charges, Å")
p.add_argument("--bin-width", type=float, default=0.1, help="Å")
p.add_argument("--out", default="analysis_out")
args = p.parse_args()

sigma = dict((k, float(v)) for k, v in (item.split("=") for item in args.sigma.split(","))) if args.sigma else None
prof = potential_profile(args.trajectory, bin_width=args.bin_width, sigma=sigma)
print("wrote", *prof.save(args.out))

drop, err = cell_potential_drop(prof)
print(f"phi(top of cell) - phi(bottom of cell) = {drop:.4f} ± {err:.2g} V")

info = trajectory_info(args.trajectory)
spans = {}
for item in args.electrode:
    name, spec = item.split("=", 1)
    z = info.first_positions[select_atoms(spec, info.symbols, info.first_positions), 2]
    spans[name] = (z.min(), z.max())
if spans:
    drops = electrode_potential_drops(prof, spans)
    lo, hi = drops.pop("bulk")
    print(f"bulk electrolyte region: {lo:.2f} to {hi:.2f} Å")
    for name, (value, error) in drops.items():
        what = "phi(highest) - phi(lowest electrode)" if name == "between" else f"phi({name}) - phi(bulk)"
        print(f"{what:>40s} = {value:8.4f} ± {error:.2g} V")

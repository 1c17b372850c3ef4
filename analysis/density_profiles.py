"""Number-density profiles per species and the charge-density profile along z.

    python analysis/density_profiles.py out/nacl_slab/trajectory.h5md --out out/nacl_slab/analysis
    python analysis/density_profiles.py out/capacitor/trajectory.h5md --sigma Au=0.357 --bin-width 0.2

Writes density.csv/png (1/Å³ per species, with block errors) and charge_density.csv/png
(e/Å³, Gaussian charges of width sigma integrated over each slab) and prints where each
species peaks.
"""

import argparse

import numpy as np

from echemmd.analysis.profiles import density_profiles

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("trajectory")
p.add_argument("--bin-width", type=float, default=0.1, help="Å")
p.add_argument("--sigma", default=None, metavar="EL=W", help="Gaussian width of an element's charges, Å")
p.add_argument("--start", type=int, default=0, help="first frame")
p.add_argument("--out", default="analysis_out")
args = p.parse_args()

sigma = dict((k, float(v)) for k, v in (item.split("=") for item in args.sigma.split(","))) if args.sigma else None
prof = density_profiles(args.trajectory, bin_width=args.bin_width, sigma=sigma, start=args.start)
print("wrote", *prof.save(args.out))
for species, rho in prof.number.items():
    k = int(np.argmax(rho))
    print(f"{species:>3s}: highest density {rho[k]:.4g} 1/Å³ at z = {prof.centers[k]:.2f} Å")

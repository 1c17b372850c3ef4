"""Differential capacitance from charge fluctuations, and integral capacitance from several runs.

    python analysis/capacitance.py out/cap_1V/trajectory.h5md                   # one run
    python analysis/capacitance.py out/cap_0V/trajectory.h5md out/cap_1V/trajectory.h5md \
        out/cap_2V/trajectory.h5md --electrode top                              # several voltages

C_diff = <dQ^2> / (k_B T) from the electrode's charge (the charge solver's charge_<name>
observable), with a block-averaged error; the temperature comes from the run's deck
(md.temperature) unless given. With several runs, C_int is the slope of <Q> against the
applied voltage (potential of the electrode minus that of the other one in the deck, or
--voltages).
"""

import argparse

from echemmd.analysis import trajectory_info
from echemmd.analysis.electrostatics import (deck_settings, differential_capacitance, electrode_charges,
                                             integral_capacitance)

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("trajectories", nargs="+")
p.add_argument("--electrode", default=None, help="electrode name (default: the first charge_<name> observable)")
p.add_argument("--temperature", type=float, default=None, help="K (default: the deck's md.temperature)")
p.add_argument("--voltages", default=None, help="applied voltage of each run, V, comma-separated")
p.add_argument("--start-time", type=float, default=0.0, help="equilibration left out, fs")
p.add_argument("--blocks", type=int, default=10)
args = p.parse_args()

voltages, means, errors = [], [], []
for k, path in enumerate(args.trajectories):
    info = trajectory_info(path)
    deck = deck_settings(info.deck)
    series = electrode_charges(path, start=info.frame_at_time(args.start_time))
    name = args.electrode or next(iter(series.charges))
    T = args.temperature or deck["temperature"]
    c = differential_capacitance(series.charges[name], T, series.area, args.blocks)
    print(f"{path}: electrode {name}, T = {T} K, <Q> = {c.mean_charge:.4f} ± {c.mean_charge_error:.4f} e, "
          f"C_diff = {c.capacitance:.4f} ± {c.error:.4f} e/V = {c.per_area:.3f} ± {c.per_area_error:.3f} µF/cm²")
    if args.voltages:
        voltages.append(float(args.voltages.split(",")[k]))
    else:
        pot = {e["name"]: e["potential"] for e in deck["electrodes"]}
        others = [v for n, v in pot.items() if n != name]
        voltages.append(pot[name] - others[0])
    means.append(c.mean_charge)
    errors.append(c.mean_charge_error)

if len(args.trajectories) > 1:
    ic = integral_capacitance(voltages, means, errors, series.area)
    print(f"C_int = d<Q>/dV = {ic.capacitance:.4f} ± {ic.error:.4f} e/V = {ic.per_area:.3f} ± "
          f"{ic.per_area_error:.3f} µF/cm² over voltages {voltages} V")

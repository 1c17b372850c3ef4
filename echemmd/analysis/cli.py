"""``echemmd analyze TRAJ.h5md --out DIR``: the analyses of :mod:`echemmd.analysis` from the shell.

Runs the analyses chosen with ``--what`` (default: every one that the trajectory supports)
and writes, into ``--out``, one CSV (header ``<label>_<unit>``) and one PNG per analysis plus
``summary.csv`` (quantity, value, error, unit) with the numbers also printed on screen:

============  ==========================================  =========================================
``--what``    files                                        needs
============  ==========================================  =========================================
density       density.csv/png                              a cell with a, b in the xy plane
charge        electrode_charge.csv/png                     ``charge_<name>`` observables or
                                                           ``--electrode``
potential     charge_density.csv/png, potential.csv/png,   charges; pbc T T F (vacuum boundary) or
              potential_drops.csv                          T T T (periodic)
capacitance   capacitance.csv                              electrode charges and a temperature;
                                                           C_total also ``--c-inf`` or ``--deck``
rdf           rdf.csv/png                                  pbc T T T or T T F
msd           msd.csv/png, diffusion.csv                   >= 2 equally spaced frames
vacf          vacf.csv/png                                 velocities
orientation   orientation.csv, orientation_mean.csv/png    water O and H (``--water``)
thermo        thermo_blocks.csv, thermo_drift.csv,         ``--thermo thermo.csv``
              thermo.png
============  ==========================================  =========================================

Electrodes are named with ``--electrode NAME=SELECTION`` (repeatable), SELECTION as in
:func:`echemmd.analysis.profiles.select_atoms`: ``Au[0:40]`` (gold below z = 40 Å),
``0:108`` (atoms 0 to 107), joined with ``+``. An electrode whose ``charge_<NAME>``
observable is in the file takes its charge from there. Gaussian widths for the charge
density come from the stored deck (``[[electrode]] sigma`` for the named electrodes,
``electrostatics.sigma`` per element) unless ``--sigma`` is given. The temperature of the
capacitance comes from ``--temperature`` or the deck's ``md.temperature``.

Capacitance of a constant-potential run: the fluctuation formula C = <dQ^2>/(k_B T) sees only
the electrolyte's part of the response (the electrode charges are solved for the ion
positions, not sampled), so the total is C_total = C + C_inf, with C_inf the electrodes'
response with the ions fixed (Scalfi et al., J. Chem. Phys. 153, 174704 (2020)). Give it as
``--c-inf E_PER_V`` (one number for every electrode) or let ``--deck DECK`` compute it from
two single points of the run's input deck
(:func:`echemmd.analysis.electrostatics.c_infinity`); then capacitance.csv gains the columns
``C_inf_e/V``, ``C_total_e/V``, ``C_total_err_e/V`` (the error of C: C_inf is exact) and
``C_total_uF/cm2``. The deck stored in the trajectory is not used for this: it is the text
alone, without the directory its structure path is relative to or the run's ``--set``
overrides, so ``--deck`` names the file.

Wiring into ``echemmd``: ``add_arguments(subparser)`` fills an argparse (sub)parser and
``run(args)`` runs a parsed namespace and returns the exit code (0, or 2 for bad input).
"""

from __future__ import annotations

import argparse
import os
import sys

ANALYSES = ("density", "charge", "potential", "capacitance", "rdf", "msd", "vacf", "orientation", "thermo")
EXIT_INPUT = 2


def _range(text, option):
    from echemmd.errors import InputError

    try:
        a, b = text.split(":")
        a = float(a) if a.strip() else None
        b = float(b) if b.strip() else None
    except ValueError:
        raise InputError(f"{option} {text!r}: write MIN:MAX in the option's unit, e.g. 10:40") from None
    return a, b


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``analyze`` options to ``p`` (a parser or a subparser)."""
    p.add_argument("trajectory", help="H5MD trajectory (e.g. out/run/trajectory.h5md)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the CSV and PNG files")
    p.add_argument("--what", default=None, metavar="LIST",
                   help=f"comma-separated analyses from {','.join(ANALYSES)} (default: all that apply)")
    g = p.add_argument_group("frames")
    g.add_argument("--group", default=None, help="H5MD particle group (default: the first)")
    g.add_argument("--start-time", type=float, default=None, metavar="FS",
                   help="leave out frames (and thermo rows) before this time, fs (equilibration)")
    g.add_argument("--stop-time", type=float, default=None, metavar="FS", help="last time used, fs")
    g.add_argument("--stride", type=int, default=1, metavar="N", help="use every N-th frame")
    g.add_argument("--blocks", type=int, default=5, metavar="N", help="blocks for error bars (default 5)")
    g = p.add_argument_group("profiles and potential")
    g.add_argument("--bin-width", type=float, default=0.1, metavar="A", help="slab width along z, Å (0.1)")
    g.add_argument("--zrange", default=None, metavar="ZMIN:ZMAX", help="z range, Å (default: the cell)")
    g.add_argument("--sigma", default=None, metavar="EL=W,...",
                   help="Gaussian charge widths per element, Å (e.g. Au=0.357), or one width for all atoms")
    g.add_argument("--boundary", choices=("vacuum", "periodic"), default=None,
                   help="Poisson boundary condition (default: vacuum for a slab, periodic for bulk)")
    g.add_argument("--electrode", action="append", default=[], metavar="NAME=SELECTION",
                   help="an electrode's atoms, e.g. bottom='Au[0:40]' (repeatable)")
    g.add_argument("--bulk", default=None, metavar="ZMIN:ZMAX",
                   help="electrolyte bulk region for interface drops, Å (default: middle third of the gap)")
    g = p.add_argument_group("capacitance")
    g.add_argument("--temperature", type=float, default=None, metavar="K",
                   help="temperature, K (default: the deck's md.temperature)")
    g.add_argument("--area", type=float, default=None, metavar="A2", help="electrode area, Å^2 (default |a x b|)")
    x = g.add_mutually_exclusive_group()
    x.add_argument("--c-inf", type=float, default=None, metavar="E_PER_V",
                   help="C_inf, the electrode response with the ions fixed, e/V, for every electrode: "
                        "capacitance.csv then also gives C_total = <dQ^2>/(k_B T) + C_inf")
    x.add_argument("--deck", default=None, metavar="DECK",
                   help="the run's input deck (TOML file): C_inf from two single points of its structure "
                        "(ions fixed, the voltage changed by 1 V), matched to the electrodes by name")
    g = p.add_argument_group("structure")
    g.add_argument("--pairs", default=None, metavar="A-B,...", help="RDF pairs (default: all pairs of species)")
    g.add_argument("--rmax", type=float, default=10.0, metavar="A", help="RDF range, Å (10)")
    g.add_argument("--dr", type=float, default=0.05, metavar="A", help="RDF shell width, Å (0.05)")
    g.add_argument("--water", default="O,H", metavar="O,H", help="water's oxygen and hydrogen elements (O,H)")
    g.add_argument("--r-oh", type=float, default=1.3, metavar="A", help="largest O-H distance in a water, Å")
    g.add_argument("--orientation-bin", type=float, default=0.5, metavar="A", help="height bins, Å (0.5)")
    g = p.add_argument_group("dynamics")
    g.add_argument("--species", default=None, metavar="LIST", help="species for MSD/VACF (default all)")
    g.add_argument("--dims", default=None, help="MSD axes: xyz, xy, z (default xy for a slab, else xyz)")
    g.add_argument("--max-lag", type=float, default=None, metavar="FS", help="longest lag, fs (half the run)")
    g.add_argument("--fit", default=None, metavar="TMIN:TMAX", help="diffusion fit range, fs (20-80%% of max lag)")
    g.add_argument("--origin-every", type=int, default=None, metavar="N", help="frames between time origins")
    g = p.add_argument_group("thermo")
    g.add_argument("--thermo", default=None, metavar="CSV", help="thermo CSV of the run")
    g.add_argument("--natoms", type=int, default=None, help="atoms for the drift per atom (default: trajectory)")
    return p


def build_parser(prog="echemmd analyze") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Analyse an echemmd H5MD trajectory (and thermo CSV): "
                                "density, charge and potential profiles, capacitance, RDF, MSD, VACF, water "
                                "orientation, thermo statistics.")
    return add_arguments(p)


def main(argv=None) -> int:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``) and run; returns the exit code."""
    return run(build_parser().parse_args(argv))


def run(args) -> int:
    """Run the analyses of a parsed namespace; 0 on success, 2 on bad input (message on stderr)."""
    from echemmd.errors import InputError

    try:
        _run(args)
    except InputError as exc:
        print(f"echemmd analyze: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    return 0


class _Summary:
    def __init__(self):
        self.rows = []

    def add(self, quantity, value, error=float("nan"), unit=""):
        self.rows.append((quantity, float(value), float(error), unit))
        err = f" ± {error:.3g}" if error == error else ""
        print(f"  {quantity:<34s} {value:.6g}{err} {unit}")

    def save(self, directory):
        from echemmd.analysis import write_csv

        if not self.rows:
            return None
        return write_csv(os.path.join(directory, "summary.csv"),
                         {"quantity": [r[0] for r in self.rows], "value": [r[1] for r in self.rows],
                          "error": [r[2] for r in self.rows], "unit": [r[3] for r in self.rows]})


def _parse_sigma(text):
    from echemmd.errors import InputError

    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    out = {}
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        if item.count("=") != 1:
            raise InputError(f"--sigma {text!r}: write EL=WIDTH[,EL=WIDTH] in Å (e.g. Au=0.357) or one width")
        k, v = item.split("=")
        try:
            out[k] = float(v)
        except ValueError:
            raise InputError(f"--sigma {text!r}: {v!r} is not a width in Å") from None
    return out


def _c_inf(args, info, names):
    """C_inf (e/V) per electrode name from ``--c-inf`` or ``--deck``; None when neither is given."""
    from echemmd.errors import InputError

    if args.c_inf is not None:
        return {k: float(args.c_inf) for k in names}
    if args.deck is None:
        return None
    from echemmd.analysis.electrostatics import c_infinity
    from echemmd.io.deck import load_deck

    deck = load_deck(args.deck)
    n = len(deck.atoms) if getattr(deck, "atoms", None) is not None else None
    if n is not None and n != info.n_atoms:
        raise InputError(f"--deck {args.deck}: its structure has {n} atoms, the trajectory {info.path} "
                         f"{info.n_atoms}: give the deck the trajectory was run with")
    c_inf = c_infinity(args.deck)
    missing = [k for k in names if k not in c_inf]
    if missing:
        raise InputError(f"--deck {args.deck}: no [[electrode]] named {', '.join(missing)} (the deck's electrodes: "
                         f"{', '.join(c_inf)}); name the --electrode selections as in the deck")
    print(f"  C_inf from {args.deck} (two single points, ions fixed): "
          + ", ".join(f"{k} {c_inf[k]:.6g} e/V" for k in names))
    return {k: c_inf[k] for k in names}


def _run(args):
    import numpy as np

    from echemmd import units
    from echemmd.analysis import trajectory_info
    from echemmd.analysis.electrostatics import deck_settings
    from echemmd.analysis.profiles import resolve_sigma, select_atoms
    from echemmd.errors import InputError

    info = trajectory_info(args.trajectory, args.group)
    out = args.out
    os.makedirs(out, exist_ok=True)
    explicit = args.what is not None
    what = [w.strip() for w in args.what.split(",") if w.strip()] if explicit else list(ANALYSES)
    for w in what:
        if w not in ANALYSES:
            raise InputError(f"--what {w!r}: allowed {', '.join(ANALYSES)}")
    if args.stride < 1:
        raise InputError(f"--stride {args.stride}: must be >= 1")
    if args.blocks < 1:
        raise InputError(f"--blocks {args.blocks}: must be >= 1")
    if args.c_inf is not None and not (np.isfinite(args.c_inf) and args.c_inf >= 0):
        raise InputError(f"--c-inf {args.c_inf}: C_inf is a capacitance >= 0 in e/V (e.g. 0.06)")
    start = info.frame_at_time(args.start_time) if args.start_time is not None else 0
    stop = int(np.searchsorted(info.times, args.stop_time + 1e-9, side="right")) if args.stop_time is not None \
        else None
    frames = dict(start=start, stop=stop, stride=args.stride, group=args.group)
    n_frames = len(range(*slice(start, stop, args.stride).indices(info.n_frames)))
    if n_frames == 0:
        raise InputError(f"{info.path}: no frame between --start-time and --stop-time "
                         f"(the frames span {info.times[0]:g} to {info.times[-1]:g} fs)")
    deck = deck_settings(info.deck)
    print(f"echemmd analyze: {info.path}: {info.n_atoms} atoms, {n_frames} of {info.n_frames} frames, "
          f"pbc {''.join('T' if b else 'F' for b in info.pbc)}, species {info.species}")

    electrodes = {}
    for item in args.electrode:
        if "=" not in item:
            raise InputError(f"--electrode {item!r}: write NAME=SELECTION, e.g. bottom='Au[0:40]'")
        name, spec = item.split("=", 1)
        electrodes[name.strip()] = select_atoms(spec, info.symbols, info.first_positions, f"--electrode {name}")

    # Gaussian widths: deck defaults (per element, then per named electrode), then --sigma.
    sigma = resolve_sigma({k: v for k, v in deck["sigma"].items() if k in info.species} or None, info.symbols)
    unmapped = []
    for e in deck["electrodes"]:
        if not isinstance(e["sigma"], (int, float)):
            continue
        if e["name"] in electrodes:
            sigma[electrodes[e["name"]]] = float(e["sigma"])
        else:
            unmapped.append(e["name"])
    user_sigma = _parse_sigma(args.sigma)
    if user_sigma is not None:
        if isinstance(user_sigma, dict):
            s = resolve_sigma(user_sigma, info.symbols)
            named = np.isin(info.symbols, list(user_sigma))
            sigma[named] = s[named]
        else:
            sigma[:] = user_sigma
    if unmapped and user_sigma is None:
        print(f"  note: the deck's electrodes {unmapped} have Gaussian charges; name their atoms with "
              f"--electrode NAME=SELECTION (or give --sigma) to use those widths in the charge density")
    widths = sorted({(sym, float(w)) for sym, w in zip(info.symbols, sigma) if w > 0})
    if widths:
        print("  Gaussian charge widths: " + ", ".join(f"{sym} {w:g} Å" for sym, w in widths))
    zrange = None
    if args.zrange:
        zrange = _range(args.zrange, "--zrange")
        if None in zrange:
            raise InputError(f"--zrange {args.zrange!r}: give both ZMIN and ZMAX")
    summary = _Summary()
    written = []

    def skip(name, reason):
        if explicit:
            raise InputError(f"{info.path}: cannot run --what {name}: {reason}")
        print(f"  (skipped {name}: {reason})")

    def applies(name):
        return name in what

    # ------------------------------------------------------------ profiles and potential
    density = None
    if applies("density") or applies("potential"):
        from echemmd.analysis.profiles import density_profiles

        try:
            density = density_profiles(args.trajectory, args.bin_width, zrange, sigma, None, n_blocks=args.blocks,
                                       charges=info.has_charges, **frames)
        except InputError as exc:
            if explicit:
                raise
            print(f"  (skipped density and potential: {exc})")
        else:
            if applies("density"):
                written += density.save(out)
    if applies("potential") and density is not None:
        from echemmd.analysis.electrostatics import (cell_potential_drop, electrode_potential_drops,
                                                     potential_profile)

        if not info.has_charges:
            skip("potential", "the trajectory holds no charges")
        else:
            prof = potential_profile(args.trajectory, boundary=args.boundary, density=density)
            written += prof.save(out)
            if not applies("density"):
                written += density.save(out)
            rows = []
            drop, err = cell_potential_drop(prof)
            summary.add("potential drop across the cell", drop, err, "V")
            rows.append(("cell", drop, err))
            if electrodes and prof.boundary == "vacuum":
                spans = {k: (float(info.first_positions[v, 2].min()), float(info.first_positions[v, 2].max()))
                         for k, v in electrodes.items()}
                bulk = _range(args.bulk, "--bulk") if args.bulk else None
                drops = electrode_potential_drops(prof, spans, bulk)
                for k, v in drops.items():
                    if k == "bulk":
                        continue
                    label = "phi(top) - phi(bottom) electrode" if k == "between" else f"phi({k}) - phi(bulk)"
                    summary.add(label, v[0], v[1], "V")
                    rows.append((k, v[0], v[1]))
            from echemmd.analysis import write_csv

            written.append(write_csv(os.path.join(out, "potential_drops.csv"),
                                     {"drop": [r[0] for r in rows], "value_V": [r[1] for r in rows],
                                      "error_V": [r[2] for r in rows]}))

    # ------------------------------------------------------------ electrode charges, capacitance
    series = None
    if applies("charge") or applies("capacitance"):
        from echemmd.analysis.electrostatics import electrode_charges

        has_obs = any(o.startswith("charge_") for o in info.observables)
        if not electrodes and not has_obs:
            for name in ("charge", "capacitance"):
                if applies(name):
                    skip(name, "no charge_<electrode> observables and no --electrode")
        else:
            elec = {k: v for k, v in electrodes.items()} if electrodes else None
            if elec is not None:
                # Observables without a selection are analysed too.
                for o in info.observables:
                    if o.startswith("charge_") and o[7:] not in elec:
                        elec[o[7:]] = None
            series = electrode_charges(args.trajectory, elec, **frames)
            if applies("charge"):
                written += series.save(out)
                from echemmd.analysis.blocks import block_average

                for k, q in series.charges.items():
                    ba = block_average(q, max(1, min(args.blocks, len(q))))
                    summary.add(f"<Q> {k}", ba.mean, ba.error, "e")
    if applies("capacitance") and series is not None:
        from echemmd.analysis.electrostatics import differential_capacitance

        temperature = args.temperature if args.temperature is not None else deck["temperature"]
        if temperature is None:
            skip("capacitance", "no temperature: give --temperature K (the trajectory's deck has none)")
        else:
            area = args.area if args.area is not None else series.area
            c_inf = _c_inf(args, info, list(series.charges))
            rows = {k: [] for k in ("electrode", "C_e/V", "C_err_e/V", "C_uF/cm2", "C_err_uF/cm2", "mean_Q_e",
                                    "mean_Q_err_e", "var_Q_e2", "T_K", "area_A2")}
            if c_inf is not None:
                rows.update({k: [] for k in ("C_inf_e/V", "C_total_e/V", "C_total_err_e/V", "C_total_uF/cm2")})
            for k, q in series.charges.items():
                c = differential_capacitance(q, temperature, area, max(2, args.blocks))
                values = [k, c.capacitance, c.error, c.per_area, c.per_area_error, c.mean_charge,
                          c.mean_charge_error, c.variance, c.temperature, area]
                summary.add(f"C_diff {k}", c.capacitance, c.error, "e/V")
                summary.add(f"C_diff {k} per area", c.per_area, c.per_area_error, "uF/cm2")
                if c_inf is not None:
                    # C_inf is exact (up to the solver tolerance): the error is that of the fluctuations.
                    total = c.capacitance + c_inf[k]
                    per_area = total * units.E_PER_V_A2_TO_UF_PER_CM2 / float(area) if area else float("nan")
                    values += [c_inf[k], total, c.error, per_area]
                    summary.add(f"C_inf {k}", c_inf[k], float("nan"), "e/V")
                    summary.add(f"C_total {k}", total, c.error, "e/V")
                    summary.add(f"C_total {k} per area", per_area, c.per_area_error, "uF/cm2")
                for key, v in zip(rows, values):
                    rows[key].append(v)
            from echemmd.analysis import write_csv

            written.append(write_csv(os.path.join(out, "capacitance.csv"), rows))
            if c_inf is None:
                # Charges solved at every step (constant potential) fluctuate only through the electrolyte:
                # the total capacitance adds the response with the ions held fixed (Scalfi et al. 2020).
                print("  note: for a constant-potential run, C = <dQ^2>/(k_B T) + C_inf, where C_inf is the "
                      "electrode response with the ions fixed: give --c-inf E_PER_V or --deck DECK (two "
                      "single points of the run's deck) to get C_total; see docs/labs/03_capacitor.md")

    # ------------------------------------------------------------ structure
    if applies("rdf"):
        from echemmd.analysis.structure import rdf, save_rdfs

        sp = info.species
        pairs = args.pairs or ",".join(f"{a}-{b}" for i, a in enumerate(sp) for b in sp[i:])
        try:
            res = rdf(args.trajectory, pairs, args.rmax, args.dr, n_blocks=args.blocks, **frames)
        except InputError as exc:
            if explicit:
                raise
            print(f"  (skipped rdf: {exc})")
        else:
            written += save_rdfs(res.values(), out)
            for x in res.values():
                if x.counts.sum() > 0:
                    k = int(np.argmax(x.g))
                    summary.add(f"g_{x.label} highest at", x.r[k], float("nan"), "A")
    if applies("orientation"):
        from echemmd.analysis.structure import water_orientation

        parts = [s.strip() for s in args.water.split(",")]
        if len(parts) != 2:
            raise InputError(f"--water {args.water!r}: give the oxygen and hydrogen elements, e.g. O,H")
        if parts[0] not in info.species or parts[1] not in info.species:
            skip("orientation", f"no {parts[0]} and {parts[1]} atoms (species {info.species}; see --water)")
        else:
            o = water_orientation(args.trajectory, parts[0], parts[1], args.r_oh, args.orientation_bin, zrange,
                                  **frames)
            written += o.save(out)
            summary.add("waters found per frame", o.n_molecules, float("nan"), "")

    # ------------------------------------------------------------ dynamics
    species = [s.strip() for s in args.species.split(",")] if args.species else None
    if applies("msd"):
        from echemmd.analysis.dynamics import diffusion_coefficient, msd

        if n_frames < 3:
            skip("msd", f"{n_frames} frames; the MSD needs at least 3")
        else:
            m = msd(args.trajectory, species, args.dims, args.max_lag, args.origin_every, n_blocks=args.blocks,
                    **frames)
            t_min, t_max = _range(args.fit, "--fit") if args.fit else (None, None)
            fits = {}
            for s in m.msd:
                if not np.any(m.msd[s][1:]):
                    print(f"  (no diffusion coefficient for {s}: its atoms never move)")
                    continue
                try:
                    fits[s] = diffusion_coefficient(m, s, t_min, t_max)
                except InputError:
                    if args.fit:
                        raise
            written += m.save(out, fits=fits)
            from echemmd.analysis import write_csv

            written.append(write_csv(os.path.join(out, "diffusion.csv"), {
                "species": list(fits), "D_A2/fs": [f.value for f in fits.values()],
                "D_err_A2/fs": [f.error for f in fits.values()], "D_m2/s": [f.si for f in fits.values()],
                "D_err_m2/s": [f.si_error for f in fits.values()], "t_min_fs": [f.t_min for f in fits.values()],
                "t_max_fs": [f.t_max for f in fits.values()]}))
            for s, f in fits.items():
                summary.add(f"D {s} ({m.dims_label})", f.si, f.si_error, "m2/s")
    if applies("vacf"):
        from echemmd.analysis.dynamics import vacf

        if not info.has_velocities:
            skip("vacf", "the trajectory holds no velocities")
        elif n_frames < 3:
            skip("vacf", f"{n_frames} frames; the VACF needs at least 3")
        else:
            v = vacf(args.trajectory, species, "xyz", args.max_lag, args.origin_every, n_blocks=args.blocks,
                     **frames)
            written += v.save(out)

    # ------------------------------------------------------------ thermo
    if applies("thermo"):
        if args.thermo is None:
            skip("thermo", "no --thermo CSV given")
        else:
            from echemmd.analysis.thermo import read_thermo, save_thermo_report

            data = read_thermo(args.thermo)
            rep = save_thermo_report(data, out, args.natoms or info.n_atoms, max(2, args.blocks),
                                     args.start_time)
            written += rep["paths"]
            for b in rep["blocks"]:
                summary.add(f"<{b['label']}>", b["mean"], b["error"], b["unit"])
            if rep["drift"] is not None:
                summary.add("conserved-energy drift", rep["drift"].value, rep["drift"].error, "eV/atom/ns")
    path = summary.save(out)
    if path:
        written.append(path)
    print(f"echemmd analyze: wrote {len(written)} files to {out}")
    return written


if __name__ == "__main__":
    sys.exit(main())

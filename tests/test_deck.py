"""Input decks: the example loads, defaults, overrides, every error message, docs/input.md."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write

from echemmd.errors import InputError
from echemmd.io import deck as deckmod
from echemmd.io.deck import KEYS, SECTIONS, load_deck, loads_deck, parse_overrides, schema_markdown
from echemmd.io.structure import build_system, check_cell, read_structure

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ROOT / "inputs"
DOCS = ROOT / "docs" / "input.md"

BASE = """
[system]
structure = "s.extxyz"
{system}
{groups}
[[pair]]
style = "lj"
cutoff = 6.0
{pair}
[pair.coeffs]
{coeffs}
[md]
steps = 10
{md}
{extra}
"""


AR = '"Ar-Ar" = { epsilon = 0.01, sigma = 3.4 }'


def _argon(n=2):
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((n, n, n))
    atoms.pbc = True
    return atoms


def _write_structure(directory: Path, atoms=None, name="s.extxyz") -> Path:
    path = directory / name
    write(path, _argon() if atoms is None else atoms, format="extxyz")
    return path


def _deck(tmp_path: Path, *, system="", groups="", pair="", coeffs='"Ar-Ar" = { epsilon = 0.0103, sigma = 3.405 }',
          md="", extra="", atoms=None, write_structure=True, name="deck.toml") -> Path:
    if write_structure:
        _write_structure(tmp_path, atoms)
    path = tmp_path / name
    path.write_text(BASE.format(system=system, groups=groups, pair=pair, coeffs=coeffs, md=md, extra=extra))
    return path


def _error(path, overrides=None) -> str:
    with pytest.raises(InputError) as info:
        load_deck(path, overrides)
    return str(info.value)


def _arkr(tmp_path):
    atoms = _argon()
    atoms.symbols[[1, 5]] = "Kr"
    return atoms


# ---------------------------------------------------------------------- the example and defaults
def test_example_deck_loads_and_builds():
    deck = load_deck(INPUTS / "lj_argon.toml")
    assert deck.path == (INPUTS / "lj_argon.toml").absolute()
    assert Path(deck["system"]["structure"]) == INPUTS / "argon.extxyz"
    assert deck.md["integrator"] in ("langevin", "csvr")
    assert deck.md["temperature"] == 120.0 and deck.md["dt"] == 2.0 and deck.md["steps"] == 2000
    assert deck.get("output.trajectory_every") == 50
    (term,) = deck["pair"]
    assert term["style"] == "lj" and term["cutoff"] == 8.5 and term["shift"] is True
    assert term["coeffs"] == {("Ar", "Ar"): {"epsilon": 0.0103, "sigma": 3.405, "cutoff": 8.5}}
    system = build_system(deck)
    assert system.n_atoms == 256 and system.species == ["Ar"]
    assert not system.frozen.any() and system.pbc.all()
    # 1.40 g/cm^3 of argon: 256 * 39.948 amu / V.
    density = 256 * 39.948 / 6.02214076e23 / (system.volume * 1e-24)
    assert density == pytest.approx(1.40, rel=1e-3)
    # The shipped structure is an equilibrated liquid: no fcc order left (S(k_111) of the start is N).
    a = system.cell[0, 0] / 4
    k = 2 * np.pi / a * np.array([1.0, 1.0, 1.0])
    s_k = abs(np.exp(1j * system.positions @ k).sum()) ** 2 / system.n_atoms
    assert s_k < 10.0
    # ... and its velocities (from the file) are those of about 120 K.
    from echemmd.integrators import temperature
    assert 90.0 < temperature(system, 3 * system.n_atoms - 3) < 150.0
    import json

    json.dumps(deck.to_dict())


def test_argon_script_builds_the_fcc_start_at_the_stated_density():
    import runpy

    script = runpy.run_path(str(INPUTS / "make_argon.py"))
    atoms = script["fcc_argon"]()
    density = len(atoms) * 39.948 / 6.02214076e23 / (atoms.get_volume() * 1e-24)
    assert len(atoms) == 256 and density == pytest.approx(1.40, rel=1e-6)
    assert np.linalg.norm(atoms.positions[1] - atoms.positions[0]) == pytest.approx(script["lattice_constant"](1.40) / np.sqrt(2))


def test_defaults_are_filled(tmp_path):
    deck = load_deck(_deck(tmp_path))
    for key in KEYS:
        section = key.section
        if section in ("system", "neighbors", "md", "output", "limits"):
            assert key.name in deck[section], f"{section}.{key.name} missing"
    assert deck.md["dt"] == 1.0 and deck.md["integrator"] == "nve" and deck.md["chain"] == 3
    assert deck.neighbors["skin"] == 1.0
    assert deck.output == {
        "directory": "out", "thermo_every": 50, "thermo_file": "thermo.csv", "trajectory": "trajectory.h5md",
        "trajectory_every": 50, "checkpoint": "checkpoint.h5", "checkpoint_every": 500, "flush_every": 1,
        "progress": True,
    }
    assert deck.limits == {"max_force": 50.0, "min_distance": 0.5, "check_every": 1}
    assert deck.system["temperature"] is None and deck.system["frozen"] == [] and deck.groups == {}
    assert deck["pair"][0]["mixing"] == "none" and deck["pair"][0]["shift"] is True
    # A drawn seed is an int and is reported.
    assert isinstance(deck.md["seed"], int)
    assert any(str(deck.md["seed"]) in n for n in deck.notes)
    assert deck.output_path("trajectory") == Path("out") / "trajectory.h5md"


def test_int_accepted_for_float_and_list_normalisation(tmp_path):
    path = _deck(tmp_path, md="dt = 2", groups='[groups]\ng = { tag = 0 }\nh = { elements = "Ar" }')
    deck = load_deck(path)
    assert deck.md["dt"] == 2.0 and isinstance(deck.md["dt"], float)
    assert deck.groups["g"] == {"tag": [0], "indices": None, "elements": None}
    assert deck.groups["h"]["elements"] == ["Ar"]


# ---------------------------------------------------------------------- overrides
def test_overrides_win(tmp_path, monkeypatch):
    path = _deck(tmp_path, md="seed = 1")
    deck = load_deck(path, {"md.steps": 100, "output.directory": "x", "pair[0].cutoff": 7.0})
    assert deck.md["steps"] == 100 and deck.output["directory"] == "x" and deck["pair"][0]["cutoff"] == 7.0
    assert deck["pair"][0]["coeffs"][("Ar", "Ar")]["cutoff"] == 7.0
    # Command-line strings are parsed against the schema.
    over = parse_overrides(["md.steps=5", "md.integrator=langevin", "md.temperature=300", "output.directory=1.0",
                            "output.progress=false"])
    deck = load_deck(path, over)
    assert deck.md["steps"] == 5 and deck.md["integrator"] == "langevin" and deck.md["temperature"] == 300.0
    assert deck.output["directory"] == "1.0" and deck.output["progress"] is False
    # A structure path on the command line is relative to the working directory.
    other = tmp_path / "elsewhere"
    other.mkdir()
    _write_structure(other, name="t.extxyz")
    monkeypatch.chdir(other)
    deck = load_deck(path, {"system.structure": "t.extxyz"})
    assert Path(deck.system["structure"]) == other / "t.extxyz"


def test_override_errors_are_marked(tmp_path):
    path = _deck(tmp_path)
    msg = _error(path, {"md.steps": -3})
    assert "md.steps (set on the command line)" in msg and ">= 0" in msg
    msg = _error(path, {"md.stepz": 3})
    assert "md.stepz" in msg and "'steps'" in msg
    msg = _error(path, {"pair[3].cutoff": 3.0})
    assert "pair[3].cutoff" in msg and "1 'pair' entry" in msg
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_overrides(["md.steps"])
    with pytest.raises(InputError, match="not a key path"):
        load_deck(path, {"md..steps": 1})


# ---------------------------------------------------------------------- errors: deck level
def test_deck_file_not_found(tmp_path):
    msg = _error(tmp_path / "nope.toml")
    assert "deck file not found" in msg and "nope.toml" in msg


def test_toml_syntax_error_has_line_and_column(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[system]\nstructure = "s.extxyz"\n[md]\nsteps = = 3\n')
    msg = _error(path)
    assert "bad.toml" in msg and "TOML syntax error" in msg
    assert "line 4" in msg and "column" in msg


def test_unknown_section_suggests(tmp_path):
    msg = _error(_deck(tmp_path, extra="[limit]\nmax_force = 3.0"))
    assert "deck.toml" in msg and "unknown section [limit]" in msg and "'limits'" in msg
    assert "Valid sections: system, groups, neighbors, pair, model, electrostatics, electrode, charges, field, md, output, limits" in msg
    # Sections of later parts are not in the schema yet.
    msg = _error(_deck(tmp_path, extra="[training]\nepochs = 3"))
    assert "unknown section [training]" in msg


def test_unknown_key_suggests(tmp_path):
    msg = _error(_deck(tmp_path, md="integrater = 'nve'"))
    assert "deck.toml" in msg and "md.integrater" in msg and "did you mean 'integrator'" in msg
    assert "Valid keys: steps, dt, integrator" in msg


def test_wrong_types(tmp_path):
    msg = _error(_deck(tmp_path, md='dt = "2.0"'))
    assert "deck.toml" in msg and "md.dt" in msg and "expected number, got string" in msg
    msg = _error(_deck(tmp_path, extra="[neighbors]\nskin = true"))
    assert "neighbors.skin" in msg and "expected number, got boolean" in msg
    msg = _error(_deck(tmp_path, md="seed = 1.0"))
    assert "md.seed" in msg and "expected integer, got float" in msg and "without a decimal point" in msg
    msg = _error(_deck(tmp_path, pair='shift = "yes"'))
    assert "pair[0].shift" in msg and "expected boolean, got string" in msg
    msg = _error(_deck(tmp_path, system='frozen = "g"'))
    assert "system.frozen" in msg and "expected array of strings" in msg
    msg = _error(_deck(tmp_path, coeffs='"Ar-Ar" = { epsilon = "0.01", sigma = 3.4 }'))
    assert "pair[0].coeffs.Ar-Ar.epsilon" in msg and "expected number, got string" in msg


def test_out_of_range(tmp_path):
    msg = _error(_deck(tmp_path, md="dt = -1.0"))
    assert "deck.toml" in msg and "md.dt" in msg and "must be > 0 fs" in msg and "-1.0" in msg
    msg = _error(_deck(tmp_path, md="chain = 0"))
    assert "md.chain" in msg and ">= 1" in msg
    msg = _error(_deck(tmp_path, extra="[limits]\nmax_force = 0.0"))
    assert "limits.max_force" in msg and "> 0 eV/Å" in msg
    msg = _error(_deck(tmp_path, extra="[limits]\nmin_distance = nan"))
    assert "limits.min_distance" in msg and "nan" in msg
    msg = _error(_deck(tmp_path, groups="[groups]\ng = { indices = [0, -1] }"))
    assert "groups.g.indices" in msg and "must be 0 .. N-1, got -1" in msg


def test_invalid_choice_lists_allowed(tmp_path):
    msg = _error(_deck(tmp_path, md='integrator = "nvt"'))
    assert "deck.toml" in msg and "md.integrator" in msg and '"nvt" is not allowed' in msg
    assert '"nve", "langevin", "csvr", "nose-hoover"' in msg
    msg = _error(_deck(tmp_path, md='backend = "gpu"'))
    assert "md.backend" in msg and 'choose one of: "cpu", "cuda"' in msg
    msg = _error(_deck(tmp_path, pair='mixing = "arithmetic"'))
    assert "pair[0].mixing" in msg and '"lorentz-berthelot"' in msg


def test_missing_required(tmp_path):
    path = tmp_path / "deck.toml"
    _write_structure(tmp_path)
    path.write_text('[system]\nstructure = "s.extxyz"\n')
    msg = _error(path)
    assert "missing required section [md]" in msg and "md.steps: missing required key" in msg
    path.write_text("[md]\nsteps = 1\n")
    msg = _error(path)
    assert "missing required section [system]" in msg and "system.structure: missing required key" in msg
    path.write_text('[system]\nstructure = "s.extxyz"\n[md]\nsteps = 1\n[[pair]]\nstyle = "lj"\n')
    msg = _error(path)
    assert "pair[0].cutoff: missing required key" in msg and "pair[0].coeffs: missing required key" in msg
    msg = _error(_deck(tmp_path, md='integrator = "csvr"'))
    assert "md.temperature" in msg and "csvr" in msg and "langevin" in msg
    msg = _error(_deck(tmp_path, coeffs='"Ar-Ar" = { epsilon = 0.01 }'))
    assert "pair[0].coeffs.Ar-Ar.sigma: missing required key" in msg


def test_all_problems_reported_together(tmp_path):
    msg = _error(_deck(tmp_path, md='dt = -1.0\nintegrator = "x"\nfoo = 1'))
    assert "3 problems" in msg and "md.dt" in msg and "md.integrator" in msg and "md.foo" in msg


def test_missing_structure_file_names_path(tmp_path):
    msg = _error(_deck(tmp_path, write_structure=False))
    assert "deck.toml" in msg and "system.structure" in msg and "file not found" in msg
    assert str(tmp_path / "s.extxyz") in msg and "deck's directory" in msg


def test_pair_written_as_table(tmp_path):
    _write_structure(tmp_path)
    path = tmp_path / "deck.toml"
    path.write_text('[system]\nstructure = "s.extxyz"\n[pair]\nstyle = "lj"\n[md]\nsteps = 1\n')
    msg = _error(path)
    assert "pair" in msg and "[[pair]]" in msg


def test_ignored_keys_warn(tmp_path):
    deck = load_deck(_deck(tmp_path, md="friction = 0.1\nseed = 3"))
    assert any("md.friction is ignored" in w and "langevin" in w for w in deck.warnings)
    assert deck.notes == []


# ---------------------------------------------------------------------- errors: pair coefficients
def test_pair_unknown_element(tmp_path):
    msg = _error(_deck(tmp_path, coeffs=AR + '\n"AR-Xx" = { epsilon = 0.01, sigma = 3.4 }'))
    assert "pair[0].coeffs.AR-Xx" in msg and "'Xx' is not a chemical element" in msg
    assert "'AR' is not a chemical element" in msg and "did you mean 'Ar'" in msg
    msg = _error(_deck(tmp_path, coeffs='"ArAr" = { epsilon = 0.01, sigma = 3.4 }'))
    assert "pair[0].coeffs.ArAr" in msg and '"A-B"' in msg


def test_pair_element_not_in_structure(tmp_path):
    msg = _error(_deck(tmp_path, coeffs=AR + '\n"Ne-Ar" = { epsilon = 0.01, sigma = 3.4 }'))
    assert "deck.toml" in msg and "pair[0].coeffs.Ne-Ar" in msg and "Ne is not in the structure" in msg
    assert "elements present: Ar" in msg


def test_pair_missing_cross_pair(tmp_path):
    msg = _error(_deck(tmp_path, atoms=_arkr(tmp_path),
                       coeffs=AR + '\n"Kr-Kr" = { epsilon = 0.014, sigma = 3.6 }'))
    assert ("pair[0].coeffs: no coefficients for Ar-Kr; elements present: Ar, Kr; set mixing or add 'Ar-Kr'"
            in msg)
    assert "deck.toml" in msg


def test_pair_mixing_fills_cross_pairs_and_needs_like_pairs(tmp_path):
    coeffs = '"Ar-Ar" = { epsilon = 0.01, sigma = 3.4 }\n"Kr-Kr" = { epsilon = 0.04, sigma = 3.6, cutoff = 5.0 }'
    deck = load_deck(_deck(tmp_path, atoms=_arkr(tmp_path), pair='mixing = "lorentz-berthelot"', coeffs=coeffs))
    term = deck["pair"][0]
    assert term["mixed"] == [("Ar", "Kr")]
    assert term["coeffs"][("Ar", "Kr")] == pytest.approx({"epsilon": 0.02, "sigma": 3.5, "cutoff": 5.5})
    deck = load_deck(_deck(tmp_path, atoms=_arkr(tmp_path), pair='mixing = "geometric"', coeffs=coeffs))
    assert deck["pair"][0]["coeffs"][("Ar", "Kr")]["sigma"] == pytest.approx(np.sqrt(3.4 * 3.6))
    assert deck.to_dict()["pair"][0]["mixed"] == ["Ar-Kr"]
    # A given cross pair is kept, not mixed.
    deck = load_deck(_deck(tmp_path, atoms=_arkr(tmp_path), pair='mixing = "geometric"',
                           coeffs=coeffs + '\n"Kr-Ar" = { epsilon = 0.5, sigma = 3.0 }'))
    assert deck["pair"][0]["coeffs"][("Ar", "Kr")]["epsilon"] == 0.5 and deck["pair"][0]["mixed"] == []
    msg = _error(_deck(tmp_path, atoms=_arkr(tmp_path), pair='mixing = "lorentz-berthelot"',
                       coeffs='"Ar-Ar" = { epsilon = 0.01, sigma = 3.4 }'))
    assert "pair[0].coeffs" in msg and "needs the like pair 'Kr-Kr'" in msg and "elements present: Ar, Kr" in msg


def test_pair_duplicate_and_style_checks(tmp_path):
    atoms = _arkr(tmp_path)
    coeffs = ('"Ar-Ar" = { epsilon = 0.01, sigma = 3.4 }\n"Kr-Kr" = { epsilon = 0.01, sigma = 3.4 }\n'
              '"Ar-Kr" = { epsilon = 0.01, sigma = 3.4 }\n"Kr-Ar" = { epsilon = 0.01, sigma = 3.4 }')
    msg = _error(_deck(tmp_path, atoms=atoms, coeffs=coeffs))
    assert "pair[0].coeffs.Kr-Ar" in msg and "given twice" in msg and "'Ar-Kr'" in msg
    # Coefficient names belong to the style.
    msg = _error(_deck(tmp_path, coeffs='"Ar-Ar" = { epsilon = 0.01, sigma = 3.4, A = 1.0 }'))
    assert "pair[0].coeffs.Ar-Ar.A" in msg and 'style "lj"' in msg and "Valid keys: epsilon, sigma, cutoff" in msg
    msg = _error(_bmh_deck(tmp_path, 'mixing = "geometric"'))
    assert "pair[0].mixing" in msg and 'only for style "lj"' in msg
    msg = _error(_deck(tmp_path, coeffs='"Ar-Ar" = { epsilon = 0.01, sigma = 3.4, cutoff = 7.0 }'))
    assert "pair[0].coeffs.Ar-Ar.cutoff" in msg and "longer than the term's cutoff" in msg and "<= 6.0" in msg


def _bmh_deck(tmp_path, pair_extra="", coeffs='"Ar-Ar" = { A = 1.0, rho = 0.3 }'):
    _write_structure(tmp_path)
    path = tmp_path / "bmh.toml"
    path.write_text(f'[system]\nstructure = "s.extxyz"\n[[pair]]\nstyle = "bmh"\ncutoff = 6.0\n{pair_extra}\n'
                    f"[pair.coeffs]\n{coeffs}\n[md]\nsteps = 1\n")
    return path


def test_bmh_defaults_and_ranges(tmp_path):
    deck = load_deck(_bmh_deck(tmp_path))
    assert deck["pair"][0]["coeffs"][("Ar", "Ar")] == {"A": 1.0, "rho": 0.3, "sigma": 0.0, "C": 0.0, "D": 0.0,
                                                        "cutoff": 6.0}
    msg = _error(_bmh_deck(tmp_path, coeffs='"Ar-Ar" = { A = 1.0, rho = 0.0 }'))
    assert "pair[0].coeffs.Ar-Ar.rho" in msg and "> 0" in msg
    msg = _error(_bmh_deck(tmp_path, coeffs='"Ar-Ar" = { A = 1.0, rho = 0.3, epsilon = 1.0 }'))
    assert "pair[0].coeffs.Ar-Ar.epsilon" in msg and "Valid keys: A, rho, sigma, C, D, cutoff" in msg
    msg = _error(_bmh_deck(tmp_path, coeffs='"Ar-Ar" = { A = 1.0, rho = 0.3 }\n"Ar-Kr" = { A = 1.0, rho = 0.3 }'))
    assert "Kr is not in the structure" in msg


# ---------------------------------------------------------------------- errors: groups and frozen atoms
def test_groups_and_frozen_build(tmp_path):
    atoms = _arkr(tmp_path)
    atoms.set_tags([1 if z < 1.0 else 0 for z in atoms.positions[:, 2]])
    atoms.set_initial_charges(np.round(np.linspace(-0.1, 0.1, len(atoms)), 4))
    atoms.set_velocities(np.ones((len(atoms), 3)))
    coeffs = '"Ar-Ar" = { epsilon = 0.01, sigma = 3.4 }\n"Kr-Kr" = { epsilon = 0.014, sigma = 3.6 }'
    path = _deck(tmp_path, atoms=atoms, pair='mixing = "lorentz-berthelot"', coeffs=coeffs,
                 system='frozen = ["bottom", "kr"]',
                 groups='[groups]\nbottom = { tag = 1 }\nkr = { elements = ["Kr"] }\nmid = { indices = [3, 2, 2] }')
    system = build_system(load_deck(path))
    tags = atoms.get_tags()
    np.testing.assert_array_equal(system.groups["bottom"], np.flatnonzero(tags == 1))
    np.testing.assert_array_equal(system.groups["kr"], [1, 5])
    np.testing.assert_array_equal(system.groups["mid"], [2, 3])
    expected = (tags == 1)
    expected[[1, 5]] = True
    np.testing.assert_array_equal(system.frozen, expected)
    assert np.all(system.velocities[system.frozen] == 0.0)
    assert np.all(system.velocities[~system.frozen] != 0.0)
    np.testing.assert_allclose(system.charges, atoms.get_initial_charges())


def test_group_errors(tmp_path):
    msg = _error(_deck(tmp_path, groups="[groups]\ng = { tag = 1, indices = [0] }"))
    assert "groups.g" in msg and "exactly one of tag, indices, elements" in msg and "tag and indices" in msg
    msg = _error(_deck(tmp_path, groups="[groups]\ng = { }"))
    assert "groups.g" in msg and "got none" in msg
    msg = _error(_deck(tmp_path, groups="[groups]\ng = { atoms = [1] }"))
    assert "groups.g.atoms" in msg and "Valid keys: tag, indices, elements" in msg
    msg = _error(_deck(tmp_path, groups="[groups]\ng = 3"))
    assert "groups.g" in msg and "expected a table" in msg
    msg = _error(_deck(tmp_path, groups='[groups]\ng = { elements = ["Aa"] }'))
    assert "groups.g.elements" in msg and "'Aa' is not a chemical element" in msg
    msg = _error(_deck(tmp_path, system='frozen = ["botom"]', groups="[groups]\nbottom = { tag = 1 }"))
    assert "system.frozen" in msg and "'botom'" in msg and "did you mean 'bottom'" in msg
    assert "Defined groups: bottom" in msg


def test_group_errors_against_structure(tmp_path):
    def build_error(groups, system=""):
        deck = load_deck(_deck(tmp_path, groups=groups, system=system))
        with pytest.raises(InputError) as info:
            build_system(deck)
        return str(info.value)

    msg = build_error("[groups]\nmid = { indices = [0, 32, 40] }")
    assert "deck.toml" in msg and "groups.mid.indices" in msg and "32, 40 out of range" in msg
    assert "has 32 atoms" in msg and "s.extxyz" in msg
    msg = build_error("[groups]\nbottom = { tag = [1, 2] }")
    assert "groups.bottom.tag" in msg and "tag 1, 2" in msg and "tags present: 0" in msg
    msg = build_error('[groups]\nions = { elements = ["Na", "Ar"] }')
    assert "groups.ions.elements" in msg and "no Na atom" in msg and "elements present: Ar" in msg
    msg = build_error("[groups]\nall = { tag = 0 }", system='frozen = ["all"]')
    assert "system.frozen" in msg and "freeze all 32 atoms" in msg


# ---------------------------------------------------------------------- errors: structures
def test_structure_ase_cannot_read(tmp_path):
    (tmp_path / "s.extxyz").write_text("this is not\na structure\n")
    msg = _error(_deck(tmp_path, write_structure=False))
    assert "deck.toml" in msg and "system.structure" in msg and "s.extxyz" in msg
    assert "ASE cannot read this structure" in msg
    (tmp_path / "s.extxyz").write_text('1\nLattice="5 0 0 0 5 0 0 0 5" pbc="T T T"\nXx 0 0 0\n')
    msg = _error(_deck(tmp_path, write_structure=False))
    assert "ASE cannot read" in msg and "Xx" in msg


def test_structure_format(tmp_path):
    msg = _error(_deck(tmp_path, system='format = "extxzy"'))
    assert "system.format" in msg and "'extxzy'" in msg and "did you mean 'extxyz'" in msg
    deck = load_deck(_deck(tmp_path, system='format = "extxyz"'))
    assert deck.system["format"] == "extxyz"
    msg = _error(_deck(tmp_path, system='format = "vasp"'))
    assert "as format 'vasp'" in msg and "s.extxyz" in msg


def test_structure_without_atoms_or_elements(tmp_path):
    write(tmp_path / "e.extxyz", Atoms(cell=[5, 5, 5], pbc=True))
    with pytest.raises(InputError, match=r"e\.extxyz: the structure has no atoms"):
        read_structure(tmp_path / "e.extxyz")
    (tmp_path / "x.extxyz").write_text('2\nLattice="5 0 0 0 5 0 0 0 5" pbc="T T T"\nAr 0 0 0\nX 1 1 1\n')
    with pytest.raises(InputError, match=r"x\.extxyz: atom 1 has no chemical element \(symbol 'X'"):
        read_structure(tmp_path / "x.extxyz")
    with pytest.raises(InputError, match=r"structure file not found: .*missing\.xyz"):
        read_structure(tmp_path / "missing.xyz")


def test_degenerate_cell(tmp_path):
    atoms = Atoms("Ar2", positions=[[0, 0, 0], [3, 0, 0]], cell=[[10, 0, 0], [0, 10, 0], [0, 0, 0]],
                  pbc=[True, True, True])
    deck = load_deck(_deck(tmp_path, atoms=atoms))
    with pytest.raises(InputError) as info:
        build_system(deck)
    msg = str(info.value)
    assert "deck.toml" in msg and "s.extxyz" in msg and "cell vector c is zero" in msg and "pbc = T T T" in msg
    flat = atoms.copy()
    flat.cell = [[10, 0, 0], [0, 10, 0], [10, 10, 1e-9]]
    with pytest.raises(InputError, match="degenerate"):
        check_cell(flat, "flat.extxyz")
    # A cluster needs no cell.
    check_cell(Atoms("Ar2", positions=[[0, 0, 0], [3, 0, 0]]), "cluster.xyz")


# ---------------------------------------------------------------------- documentation
def test_docs_input_md_is_current():
    text = DOCS.read_text(encoding="utf-8")
    expected = deckmod._replace_generated(text, schema_markdown())
    assert text == expected, "docs/input.md is out of date: run python -m echemmd.io.deck --write-docs docs/input.md"


def test_docs_document_every_key():
    reference = schema_markdown()
    for sec in SECTIONS:
        assert (sec.doc_title or f"`{sec.heading}`") in reference
    for key in KEYS:
        assert f"| `{key.name}` |" in reference


def test_docs_examples_load(tmp_path):
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    full = [b for b in blocks if "[system]" in b]
    assert len(full) >= 2
    shutil.copy(INPUTS / "argon.extxyz", tmp_path / "argon.extxyz")
    salt = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 2, 2))
    salt.set_tags((salt.positions[:, 2] < 1.0).astype(int))
    write(tmp_path / "nacl_slab.extxyz", salt)
    for block in full:
        deck = loads_deck(block, base_dir=tmp_path, source="docs/input.md example")
        build_system(deck)
    # The fragment with mixing works inside a full deck.
    fragment = next(b for b in blocks if "mixing" in b and "[system]" not in b)
    mix = _argon()
    mix.symbols[[0, 3]] = "Kr"
    write(tmp_path / "arkr.extxyz", mix)
    deck = loads_deck('[system]\nstructure = "arkr.extxyz"\n[md]\nsteps = 1\n' + fragment, base_dir=tmp_path)
    assert ("Ar", "Kr") in deck["pair"][0]["coeffs"]


def test_deck_main_validates(tmp_path, capsys):
    assert deckmod._main([str(INPUTS / "lj_argon.toml")]) == 0
    assert "ok" in capsys.readouterr().out
    bad = _deck(tmp_path, md="dt = 0.0")
    assert deckmod._main([str(bad)]) == 2
    assert "md.dt" in capsys.readouterr().err

"""Thermo CSV and screen table; progress bar only on terminals."""

import csv
import io

import pytest

from echemmd.errors import InputError
from echemmd.io.thermo import DEFAULT_COLUMNS, ProgressBar, ThermoLogger, quantity


def observables(step, extra=None):
    d = {
        "step": step,
        "time": 0.5 * step,
        "temperature": 300.0 + 0.1 * step + 1e-13,
        "potential_energy": -1234.5678901234567 + step / 3,
        "kinetic_energy": 3.8775 + step / 7,
        "conserved_energy": -1230.69039012345 - 1e-9 * step,
        "atom_steps_per_s": 1.25e6,
        "energy_lj": -12.0 - step / 11,
        "charge_electrode_left": -0.125 * step,
    }
    d.update(extra or {})
    return d


def test_default_header():
    log = ThermoLogger(None, DEFAULT_COLUMNS, stream=None)
    assert log.header == "step,time_fs,temperature_K,potential_eV,kinetic_eV,conserved_eV,atom_steps_per_s"


def test_column_names_and_units():
    assert quantity("potential").name == "potential_energy"
    assert quantity("energy_lj").header == "energy_lj_eV"
    assert quantity("ewald_energy").header == "ewald_energy_eV"
    assert quantity("charge_electrode_left").header == "charge_electrode_left_e"
    assert quantity("voltage_left").header == "voltage_left_V"
    assert quantity("field_z").header == "field_z_V/A"
    assert quantity("field_z").h5md_unit == "V Angstrom-1"
    assert quantity("volume").header == "volume_A3" and quantity("volume").h5md_unit == "Angstrom3"
    assert quantity("n_rebuilds").header == "n_rebuilds"
    assert quantity("msd:A2").header == "msd_A2" and quantity("msd:A2").name == "msd"
    with pytest.raises(InputError):
        ThermoLogger(None, ["potential", "potential_energy"], stream=None)


def test_csv_rows_exact_and_flushed(tmp_path):
    path = tmp_path / "thermo.csv"
    cols = list(DEFAULT_COLUMNS) + ["energy_lj", "charge_electrode_left"]
    log = ThermoLogger(path, cols, stream=None)
    rows = [observables(s) for s in (0, 10, 20)]
    for r in rows:
        log.log(r)
        # Each row is on disk as soon as it is logged (a crash keeps it).
        assert path.read_text().count("\n") == 1 + rows.index(r) + 1
    log.close()
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["step", "time_fs", "temperature_K", "potential_eV", "kinetic_eV", "conserved_eV",
                        "atom_steps_per_s", "energy_lj_eV", "charge_electrode_left_e"]
    for line, r in zip(table[1:], rows):
        assert int(line[0]) == r["step"]
        names = ["time", "temperature", "potential_energy", "kinetic_energy", "conserved_energy",
                 "atom_steps_per_s", "energy_lj", "charge_electrode_left"]
        assert [float(x) for x in line[1:]] == [r[n] for n in names]  # repr round-trips exactly


def test_screen_table_aligned():
    out = io.StringIO()
    log = ThermoLogger(None, list(DEFAULT_COLUMNS) + ["energy_lj"], stream=out)
    for s in (0, 5, 100000):
        log.log(observables(s))
    log.log(observables(7, {"temperature": float("nan")}))
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert lines[0].split() == ["step", "time_fs", "temperature_K", "potential_eV", "kinetic_eV", "conserved_eV",
                                "atom_steps_per_s", "energy_lj_eV"]
    # Every line has the same width and each header ends where its values end.
    assert len({len(line) for line in lines}) == 1
    head = lines[0]
    ends = [i + 1 for i in range(len(head)) if head[i] != " " and (i + 1 == len(head) or head[i + 1] == " ")]
    for line in lines[1:]:
        for e in ends:
            assert line[e - 1] != " "
            assert e == len(line) or line[e] == " "
    assert "-1234.567890" in lines[1]
    assert "nan" in lines[4]


def test_missing_value_names_the_column():
    log = ThermoLogger(None, ["step", "charge_left"], stream=None)
    with pytest.raises(KeyError, match="charge_left"):
        log.log({"step": 1})


def test_append_and_truncate(tmp_path):
    path = tmp_path / "thermo.csv"
    with ThermoLogger(path, DEFAULT_COLUMNS, stream=None) as log:
        for s in (0, 10, 20, 30):
            log.log(observables(s))
    with open(path, "a") as f:
        f.write("40,20.0,3")  # a crash in the middle of a row
    # Restart from the checkpoint at step 20: rows after it and the partial row go.
    with ThermoLogger(path, DEFAULT_COLUMNS, stream=None, append=True, truncate_after=20) as log:
        log.log(observables(30))
    lines = path.read_text().splitlines()
    assert lines[0] == ThermoLogger(None, DEFAULT_COLUMNS, stream=None).header
    assert [int(line.split(",")[0]) for line in lines[1:]] == [0, 10, 20, 30]
    with pytest.raises(InputError, match="thermo.csv"):
        ThermoLogger(path, ["step", "temperature"], stream=None, append=True)
    # Appending to a missing file writes its header.
    new = tmp_path / "new.csv"
    with ThermoLogger(new, ["step"], stream=None, append=True) as log:
        log.log({"step": 3})
    assert new.read_text() == "step\n3\n"


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_bar_silent_off_terminal():
    out = io.StringIO()
    bar = ProgressBar(100, stream=out)
    for s in range(101):
        bar.update(s)
    bar.close()
    assert out.getvalue() == ""


def test_progress_bar_rate_limited_with_eta():
    out, clock = FakeTTY(), Clock()
    bar = ProgressBar(1000, stream=out, start_step=200, clock=clock, min_interval=0.25)
    drawn = []
    for s in range(200, 1001):
        clock.t += 0.001  # 1000 steps/s
        drawn.append(bar.update(s))
    bar.close()
    # 0.8 s of run: a draw every 0.25 s at most, plus the final one.
    assert 3 <= sum(drawn) <= 5 and drawn[-1]
    text = bar.text(600, now=0.4)
    assert "600/1000" in text and "50.0%" in text
    assert "1000 steps/s" in text and "ETA 00:00:00" in text
    assert ProgressBar(10**6, stream=out, clock=lambda: 0.0).text(1000, now=10.0).endswith("ETA 02:46:30")
    assert out.getvalue().endswith("\n") and "\r[" in out.getvalue()

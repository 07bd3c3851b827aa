"""The `lvv` command line as a user runs it: exit codes, one-line errors, formats, no Prefect.

A command's answer (its exit code, stdout, stderr) through lvv's entry point in this process
(tests/_s1_cli.py: main(), the exit code it gives the shell); in a new process where the process is
the subject: validate's exit codes as a shell sees them, and what a fresh interpreter imports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lvv.settings import KEY_ENV, DataPaths, SettingsError, is_demo_data, pseudonym_key
from tests._s1_cli import lvv_here


def lvv(*args: str) -> subprocess.CompletedProcess:
    """`lvv` in a new process."""
    return subprocess.run([sys.executable, "-m", "lvv.cli", *args], capture_output=True, text=True, timeout=120)


def test_outflow_by_municipality_as_json(published):
    result = lvv_here("outflow", "--ref-date", "2020-11-01", "--by", "municipality", "--format", "json",
                      "--data-dir", str(published.parent.parent))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["municipality"] for r in rows} == {"amsterdam"} and len(rows) == 8
    assert sum(r["persons"] for r in rows) == 4


BAD_INPUT = [
    (["outflow", "--ref-date", "1-11-2020"], "--ref-date: '1-11-2020' is not a date"),
    (["outflow", "--ref-date", "2020-11-01", "--definition", "wodc"], "unknown counting rule 'wodc'"),
    (["outflow", "--ref-date", "2020-11-01", "--by", "province"], "--by takes 'municipality'"),
    (["reconcile", "--ref-date", "2020-11-01", "--definitions", "programme", "x"], "unknown counting rule 'x'"),
]


def test_bad_input_is_one_clear_line(published):
    """Each bad input on the same publication."""
    for args, message in BAD_INPUT:
        result = lvv_here(*args, "--data-dir", str(published.parent.parent))
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr + result.stdout, (args, result.stderr)


def test_no_publication_yet_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = lvv_here("outflow", "--ref-date", "2020-11-01", env={"LVV_DATA_DIR": ""})
    assert result.returncode == 2 and "run `lvv demo` or `lvv run` first" in result.stderr


def test_reconcile_prints_a_bridge_that_adds_up(published):
    result = lvv_here("reconcile", "--ref-date", "2020-11-01", "--definitions", "programme", "evaluation-2021",
                      "--known-at-a", "2020-10-31", "--data-dir", str(published.parent.parent),
                      env={"COLUMNS": "150"})
    assert result.returncode == 0, result.stderr
    assert "every difference is explained" in result.stdout and "counting rule" in result.stdout


def test_series_exports_excel(published, tmp_path):
    import openpyxl

    target = tmp_path / "series.xlsx"
    result = lvv_here("series", "--from", "2020-01-01", "--to", "2020-12-31", "-o", str(target),
                      "--data-dir", str(published.parent.parent))
    assert result.returncode == 0, result.stderr
    sheet = openpyxl.load_workbook(target)["series"]
    assert [c.value for c in sheet[1]][:2] == ["month_end", "municipality"]


def test_query_commands_do_not_import_prefect(published):
    code = ("import sys; from lvv.cli import main; sys.argv=['lvv','outflow','--ref-date','2020-11-01',"
            f"'--data-dir',{str(published.parent.parent)!r},'--format','csv'];\n"
            "try:\n    main()\nexcept SystemExit as stop:\n"
            "    assert stop.code in (0, None), f'exit code {stop.code}'\n"
            "assert 'prefect' not in sys.modules, 'prefect was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "line,durability,persons"
    assert sum(int(line.split(",")[2]) for line in result.stdout.splitlines()[1:]) == 4


@pytest.mark.parametrize("args, message", [
    (["outflow"], "--ref-date"),  # a required option missing
    (["outflow", "--ref-date", "2020-11-01", "--no-such-option"], "--no-such-option"),
    (["no-such-verb"], "no-such-verb"),
])
def test_usage_errors_fail_and_name_the_problem(tmp_path, args, message):
    result = lvv_here(*args, "--data-dir", str(tmp_path))  # refused before any data is read
    # README: usage errors exit 2 with click's usage line, never "unexpected error"
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Usage: lvv" in result.stderr and "unexpected error" not in result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def test_validate_exits_0_deliverable_1_errors_2_unreadable(tmp_path):
    from datetime import date

    from conftest import good_row, write_sheet
    from schemas.contracts import contract_for

    utrecht = contract_for("utrecht")
    good = write_sheet(tmp_path / "good.xlsx", utrecht, [good_row(1), good_row(2)], stand_per=date(2020, 4, 30))
    bad = write_sheet(tmp_path / "bad.xlsx", utrecht, [good_row(1), good_row(2, intake_date="31-02-2020")],
                      stand_per=date(2020, 4, 30))
    unreadable = tmp_path / "broken.xlsx"
    unreadable.write_bytes(b"not a workbook")
    codes = {}
    for name, path in (("good", good), ("bad", bad), ("unreadable", unreadable)):
        result = lvv("validate", str(path), "--municipality", "utrecht")
        assert "Traceback" not in result.stderr + result.stdout, name
        codes[name] = result.returncode
    assert codes == {"good": 0, "bad": 1, "unreadable": 2}


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("LVV_DATA_DIR", str(tmp_path / "env"))
    assert DataPaths.resolve().root == tmp_path / "env"
    assert DataPaths.resolve(tmp_path / "opt").root == tmp_path / "opt"
    monkeypatch.delenv("LVV_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert DataPaths.resolve().raw == tmp_path / "data" / "raw"


def test_real_data_without_a_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    raw = tmp_path / "raw"
    (raw / "utrecht" / "2020-10").mkdir(parents=True)
    (raw / "utrecht" / "2020-10" / "export.xlsx").write_bytes(b"real register")
    with pytest.raises(SettingsError, match=KEY_ENV):
        pseudonym_key(raw)
    monkeypatch.setenv(KEY_ENV, "s3cret")
    assert pseudonym_key(raw) == ("s3cret", False)


def test_demo_key_only_for_files_the_demo_wrote(tmp_path, monkeypatch):
    from lvv.demo import write_demo

    monkeypatch.delenv(KEY_ENV, raising=False)
    raw = tmp_path / "raw"
    (raw / "utrecht" / "2019-05").mkdir(parents=True)
    (raw / "utrecht" / "2019-05" / "x.csv").write_text("a;b\n")  # a foreign file beside the demo's
    (raw / ".lvv-demo-manifest.json").write_text(json.dumps({"files": {}}))
    assert not is_demo_data(raw)
    (raw / "utrecht" / "2019-05" / "x.csv").unlink()
    write_demo(raw)
    assert is_demo_data(raw) and pseudonym_key(raw)[1] is True
    result = lvv_here("run", "--data-dir", str(tmp_path / "other"), env={KEY_ENV: ""})
    assert result.returncode == 2 and "no deliveries under" in result.stderr
    (tmp_path / "real" / "raw" / "utrecht" / "2020-10").mkdir(parents=True)
    (tmp_path / "real" / "raw" / "utrecht" / "2020-10" / "export.xlsx").write_bytes(b"real register")
    result = lvv_here("run", "--data-dir", str(tmp_path / "real"), env={KEY_ENV: ""})
    assert result.returncode == 2 and KEY_ENV in result.stderr and "Traceback" not in result.stderr

"""`lvv outflow` starts quickly: no pandas, no source contracts; and prints what it printed with them.

The command fetches the query's rows from DuckDB and prints them itself; the frames the other
commands print go through `_emit`. These tests hold both to the same bytes, and hold the quick
command to the modules it imports (the start-up is measured by `python -m benchmarks`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import duckdb
import pytest

from lvv import cli
from lvv.settings import KEY_ENV
from transforms.queries import (connect, outflow, outflow_by_outcome, outflow_by_outcome_result, outflow_result,
                                quarantine_impact, quarantine_line)

#: what `lvv outflow` must not import: pandas (with numpy and pyarrow, most of the old start-up),
#: the source contracts (read for validate's help only) and Prefect
HEAVY = ("pandas", "numpy", "pyarrow", "schemas.contracts", "prefect")


def _printed(capsys, emit, *args) -> str:
    cli.out.width = 120  # the same table width whatever the terminal
    emit(*args)
    return capsys.readouterr().out


def test_the_rows_print_as_the_frame_did(published, capsys):
    """Every breakdown (none, municipality, outcome) in every format, from one publication."""
    con = connect(published)
    try:
        day, known = date(2020, 11, 1), date(2020, 10, 31)
        answers = {None: (outflow(con, day, "evaluation-2021", known),
                          cli._fetched(outflow_result(con, day, "evaluation-2021", known))),
                   "municipality": (outflow(con, day, "evaluation-2021", known, by_municipality=True),
                                    cli._fetched(outflow_result(con, day, "evaluation-2021", known,
                                                                by_municipality=True))),
                   "outcome": (outflow_by_outcome(con, day, "evaluation-2021", known),
                               cli._fetched(outflow_by_outcome_result(con, day, "evaluation-2021", known)))}
    finally:
        con.close()
    for by, (frame, rows) in answers.items():
        assert frame["persons"].sum() > 0 and len(rows[2]) == len(frame), by
        if by == "outcome":
            assert any(row[rows[0][2]] is None for row in rows[2])  # no follow-up: an empty cell, JSON null
        for fmt in cli.Format:
            assert _printed(capsys, cli._emit_rows, *rows, fmt, "t") == _printed(capsys, cli._emit, frame, fmt, "t"), \
                (by, fmt)


@pytest.mark.parametrize("fmt", list(cli.Format))
def test_text_a_spreadsheet_could_take_for_a_formula_and_empty_cells_print_as_before(capsys, fmt):
    """Values the demo never holds: formula-like text, a comma and a quote, an empty text cell,
    a zero count, a wide number."""
    con = duckdb.connect()
    sql = ("select * from (values ('=1+1', 'a, \"b\"', 0::bigint), ('-x', null, 12345678901::bigint), "
           "('@y', 'tab\tin', 7::bigint)) as t(line, durability, persons)")
    frame = con.execute(sql).df()
    rows = cli._fetched(con.execute(sql))
    assert rows[1] == [False, False, True]
    printed = _printed(capsys, cli._emit_rows, *rows, fmt, "t")
    if fmt is not cli.Format.json:
        assert printed == _printed(capsys, cli._emit, frame, fmt, "t")
    else:  # an empty text cell is null, where a frame printed NaN (not JSON; outflow_by_outcome mends it)
        assert json.loads(printed) == [{"line": "=1+1", "durability": 'a, "b"', "persons": 0},
                                       {"line": "-x", "durability": None, "persons": 12345678901},
                                       {"line": "@y", "durability": "tab\tin", "persons": 7}]


def test_the_quarantine_line_names_each_municipality_held_back():
    impact = [{"municipality": "amsterdam", "latest_delivery": "amsterdam/2020-11", "episodes_stale": 2,
               "episodes_missing": 0},
              {"municipality": "zwolle", "latest_delivery": "zwolle/2020-11", "episodes_stale": 0,
               "episodes_missing": 0},
              {"municipality": "ede", "latest_delivery": "ede/2020-11", "episodes_stale": 1, "episodes_missing": 3}]
    assert quarantine_line(impact) == ("quarantine: 3 episodes counted at an older version and 3 not counted, "
                                       "because their rows in the latest delivery are in quarantine "
                                       "(stale/missing: amsterdam 2/0, ede 1/3)")
    assert quarantine_line(impact[1:2]) == "quarantine: no episode of the latest deliveries is held back"


def test_the_quarantine_impact_of_a_store_is_fetched_as_rows(published):
    con = connect(published)
    try:
        impact = quarantine_impact(con, date(2020, 11, 1))
    finally:
        con.close()
    assert [r["municipality"] for r in impact] == ["amsterdam"]
    assert set(impact[0]) == {"municipality", "latest_delivery", "episodes_stale", "episodes_missing"}


def test_outflow_imports_neither_pandas_nor_the_contracts_and_prints_the_same(published):
    """Through the real entry point, in a new process: every format answers, and none of the
    heavy modules was imported."""
    script = (
        "import json, sys\n"
        "from lvv.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})\n"
        "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n"
    )
    data_dir = str(published.parent.parent)
    outputs = {}
    for fmt in ("table", "csv", "json"):
        result = subprocess.run(
            [sys.executable, "-c", script, "outflow", "--ref-date", "2020-11-01", "--by", "municipality",
             "--format", fmt, "--data-dir", data_dir], capture_output=True, text=True, timeout=120,
            env={**os.environ, "COLUMNS": "120"})
        seen = json.loads(result.stderr.strip().splitlines()[-1])
        assert seen == {"code": 0, "heavy": []}, (fmt, seen, result.stderr)
        outputs[fmt] = result.stdout
    rows = json.loads(outputs["json"])
    assert sum(r["persons"] for r in rows) == 4 and {r["municipality"] for r in rows} == {"amsterdam"}
    assert outputs["csv"].splitlines()[0] == "municipality,line,durability,persons"
    assert "quarantine: no episode of the latest deliveries is held back" in outputs["table"]
    assert "│ total" in outputs["table"] and "4 │" in outputs["table"]


def _lvv_and_its_imports(*args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`lvv *args` in a new process without a pseudonymisation key, and the heavy modules it had
    imported when it exited (the last line of its stderr, printed at exit: the process's exit code
    stays the one lvv gave)."""
    script = ("import atexit, json, sys\n"
              "atexit.register(lambda: print(json.dumps(sorted(m for m in sys.modules\n"
              f"    if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})), file=sys.stderr))\n"
              "from lvv.cli import main\n"
              "main()\n")
    env = {name: value for name, value in os.environ.items() if name != KEY_ENV}
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120,
                            env=env)
    return result, json.loads(result.stderr.strip().splitlines()[-1])


def test_a_usage_error_is_answered_without_importing_pandas_or_the_contracts():
    """The usage line of a mistyped command, exit 2 as a shell sees it, without the second of imports
    the domain errors' modules cost (main() looks for those last)."""
    result, heavy = _lvv_and_its_imports("outflow", "--ref-date", "2020-11-01", "--format", "xml")
    assert result.returncode == 2, result.stderr
    assert "Usage: lvv outflow" in result.stderr and "'xml' is not one of" in result.stderr
    assert heavy == [], heavy


def test_a_refused_run_imports_no_prefect_and_writes_nothing(tmp_path):
    """`lvv run` with nothing to run, or real data without the key, says so before Prefect's import
    (several CPU seconds) and before it writes anything (runs/prefect.log): exit 2 as a shell sees it."""
    result, heavy = _lvv_and_its_imports("run", "--data-dir", str(tmp_path / "none"))
    assert result.returncode == 2 and "no deliveries under" in result.stderr, result.stderr
    assert heavy == [] and not (tmp_path / "none").exists(), heavy
    export = tmp_path / "real" / "raw" / "utrecht" / "2020-10" / "export.xlsx"
    export.parent.mkdir(parents=True)
    export.write_bytes(b"real register")
    result, heavy = _lvv_and_its_imports("run", "--data-dir", str(tmp_path / "real"), "--reference-date", "2020-10-31")
    assert result.returncode == 2 and KEY_ENV in result.stderr, result.stderr
    assert "prefect" not in heavy and [p.name for p in (tmp_path / "real").iterdir()] == ["raw"], heavy


def test_validate_help_still_lists_the_known_municipalities():
    result = subprocess.run([sys.executable, "-m", "lvv.cli", "validate", "--help"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "(known: amsterdam, eindhoven, groningen, rotterdam, utrecht)" in result.stdout
    assert "{known}" not in result.stdout

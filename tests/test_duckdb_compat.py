"""The published database opens in DuckDB 1.x: researchers' tools lag behind the newest wheel.

Each DuckDB version runs in its own environment (uv venv, cached under tmp/cache/ after the first
time), in a subprocess, read-only, on the demo's publication. The expected figures are Table A of
the interim evaluation, typed from ../shared/reference/published-figures.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.flow

CACHE = Path(__file__).resolve().parent.parent / "tmp" / "cache"
TABLE_A = {"legalised": 43, "returned": 50, "onward_migration": 2, "repeat_application": 170,
           "postponed_departure": 20, "departed_unknown": 100, "stay_terminated": 76,
           "other_non_durable": 76}
QUERY = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
rows = con.execute("select line, sum(persons)::bigint from outflow(date '2020-11-01', "
                   "definition := 'evaluation-2021') group by line").fetchall()
bridge = con.execute("select distinct line, persons_b::bigint from reconcile(date '2020-11-01', "
                     "'programme', 'evaluation-2021', known_at_a := date '2020-11-30')").fetchall()
print(json.dumps({"version": duckdb.__version__, "table_a": dict(rows), "bridge_b": dict(bridge)}))
"""


def duckdb_python(requirement: str, name: str) -> Path:
    """A Python with only `requirement` installed, made once and kept under tmp/cache/."""
    venv = CACHE / name
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import duckdb"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    # `uv run` names its own binary in $UV; else the one `make` installs into the system Python
    found = os.environ.get("UV") or shutil.which("uv")
    uv = [found] if found else ["python3", "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--clear", str(venv)], check=True)
    subprocess.run([*uv, "pip", "install", "--quiet", "--python", str(python), requirement], check=True)
    return python


@pytest.mark.parametrize(("requirement", "name", "major_minor"), [
    ("duckdb<2", "duckdb-1-latest", None),     # the newest 1.x
    ("duckdb==1.1.3", "duckdb-1.1", "1.1"),    # the oldest the publication promises
])
def test_duckdb_1x_opens_the_publication_and_answers_table_a(demo_run, requirement, name, major_minor):
    paths, _, _ = demo_run
    python = duckdb_python(requirement, name)
    done = subprocess.run([str(python), "-c", QUERY, str(paths.database)], capture_output=True,
                          text=True, cwd=CACHE)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["version"].startswith(major_minor or "1.")
    assert answer["table_a"] == TABLE_A
    assert answer["bridge_b"] == TABLE_A  # B of the bridge is the evaluation's table

"""sqlfluff, configured in .sqlfluff for DuckDB, passes on sql/ (CI runs this with the suite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sqlfluff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sqlfluff", "lint", "--config", str(REPO / ".sqlfluff"),
                           "--nocolor", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_sql_files_pass_sqlfluff():
    done = sqlfluff("sql/")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PRS" not in done.stdout


def test_the_configuration_catches_what_the_style_forbids(tmp_path):
    bad = tmp_path / "bad.sql"
    bad.write_text("create or replace view v as\n    SELECT t.a, u.b c\n    from t\n"
                   "    join u on t.x = u.x;\n", encoding="utf-8")
    done = sqlfluff(str(bad))
    assert done.returncode == 1
    for code in ("CP01", "AL02", "AM05"):  # uppercase, alias without `as`, a bare join
        assert code in done.stdout, done.stdout

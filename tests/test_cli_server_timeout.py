"""Prefect's temporary server not started in time: a known error (exit 2) with what to do, not an
"unexpected error" (exit 3).

Prefect 3 raises a RuntimeError ("Timed out while attempting to connect to ephemeral Prefect API
server") from SubprocessASGIServer.start when the server does not answer within
PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: where lvv starts it, and again at a flow's first
API call (get_client starts it when it is not running). A timeout of 0 makes it happen for real
at once, whatever the machine's load. Each test is one process with its own PREFECT_HOME.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from lvv.settings import KEY_ENV
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # the temporary server
    return {**env, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0",
            KEY_ENV: "server-timeout-key", "COLUMNS": "250", "PYTHONPATH": str(ROOT)}


def _says_what_to_do(stderr: str) -> None:
    assert "Traceback" not in stderr and "unexpected error" not in stderr, stderr
    (line,) = [line for line in stderr.splitlines() if "did not start" in line]  # one line
    assert line.startswith("error: Prefect's temporary server did not start within 0 s, so nothing was run")
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher" in line
    assert "`prefect server start`" in line and "PREFECT_API_URL" in line


def test_lvv_run_whose_temporary_server_does_not_start_in_time_exits_2_and_says_what_to_do(tmp_path):
    data = tmp_path / "data"
    write_sheet(data / "raw" / "amsterdam" / "2020-10" / "a.xlsx", contract_for("amsterdam"), [good_row(1)],
                stand_per=date(2020, 10, 31))
    done = subprocess.run([sys.executable, "-m", "lvv.cli", "run", "--data-dir", str(data), "--reference-date",
                           "2020-10-31"], env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    _says_what_to_do(done.stderr)
    assert not list((data / "curated").glob("staged/*/*/delivery.json"))  # nothing was processed


FLOW_WITHOUT_LVV_STARTING_THE_SERVER = """
from prefect import flow
from lvv.cli import UserError, _server_not_started_is_a_user_error

@flow
def tiny() -> int:
    return 1

try:
    with _server_not_started_is_a_user_error():
        tiny()
except UserError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(exc.code)
"""


def test_the_same_timeout_at_a_flows_first_api_call_is_the_same_error(tmp_path):
    """Where Prefect's own client starts the server (lvv did not): the flow engine's get_client."""
    done = subprocess.run([sys.executable, "-c", "import sys\n" + FLOW_WITHOUT_LVV_STARTING_THE_SERVER],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    _says_what_to_do(done.stderr)


def test_lvvs_longer_default_is_the_timeout_prefect_waits(tmp_path):
    """lvv's 120 s (_prefect_env) was set after `lvv run`'s progress display had imported Prefect,
    which reads its settings once: Prefect waited its own 20 s (a loaded 2-core machine's run failed
    so). Read as Prefect reads it, inside what `lvv run` and `lvv demo` wrap the flow in."""
    env = {k: v for k, v in _env(tmp_path).items() if k != "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"}
    script = ("import sys\nfrom pathlib import Path\nfrom lvv.cli import _flow_output\n"
              "with _flow_output(Path(sys.argv[1]), False):\n"
              "    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as timeout\n"
              "    print(timeout.value())\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "curated")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["120"], done.stdout + done.stderr

"""The deployment for real: a local Prefect server, `prefect deploy --all` from prefect.yaml, a run
created through the API, a process worker that executes it, and the publication it leaves.

The server is the session's (conftest's `prefect_harness`: Prefect's own server in a subprocess,
on 127.0.0.1 at a free port, started once for the flow tests; starting another costs 13 CPU s).
The commands run as an operator runs them, in subprocesses with their own environment (PREFECT_HOME
in a temporary folder), bounded by timeouts; the worker is stopped in `finally`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet

REPO = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
pytestmark = pytest.mark.flow


def api(url: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}{path}", data=data, method="POST" if data else "GET",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def run(args: list[str], env: dict, timeout: float, cwd: Path = REPO) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def stop(process: subprocess.Popen | None) -> None:
    """Stop a process group started here: SIGTERM, then SIGKILL after a grace period."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def test_prefect_yaml_declares_a_monthly_amsterdam_schedule_and_typed_parameters():
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    (deployment,) = config["deployments"]
    assert deployment["entrypoint"] == "flows/monthly_outflow.py:monthly_outflow"
    (schedule,) = deployment["schedules"]
    # README: the 10th of every month at 06:00 Amsterdam time (minute, hour, day, month, weekday)
    assert schedule["timezone"] == "Europe/Amsterdam"
    assert schedule["cron"].split() == ["0", "6", "10", "*", "*"]
    assert deployment["parameters"]["params"]["reference_date"] is None  # the month before the run
    assert deployment["work_pool"]["name"] == "lvv-process"
    from flows.monthly_outflow import RunParameters

    RunParameters(**deployment["parameters"]["params"])  # every default is a valid parameter


def test_deploy_trigger_and_a_worker_runs_the_monthly_flow(tmp_path, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    data = tmp_path / "data"
    ams = contract_for("amsterdam")
    write_sheet(data / "raw" / "amsterdam" / "2020-11" / "export.xlsx", ams,
                [good_row(1, exit_date=date(2020, 11, 2), outcome="MOB"), good_row(2)],
                stand_per=date(2020, 11, 30))
    url = PREFECT_API_URL.value()  # the harness's server, running
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "LVV_PSEUDONYM_KEY": "deployment-test-key", "LVV_REPO_DIR": str(REPO)}
    env.pop("LVV_DATA_DIR", None)
    worker = None
    try:
        urllib.request.urlopen(f"{url}/health", timeout=30).read()
        run([PREFECT, "work-pool", "create", "lvv-process", "--type", "process"], env, 90)
        run([PREFECT, "--no-prompt", "deploy", "--all"], env, 180)
        deployment = api(url, "/deployments/name/monthly-outflow/monthly")
        stored = deployment["schedules"][0]["schedule"]
        assert (stored["cron"], stored["timezone"]) == ("0 6 10 * *", "Europe/Amsterdam")
        # the deployment's own default reference date: the last day of the month before the run
        flow_run = api(url, f"/deployments/{deployment['id']}/create_flow_run", {"parameters": {
            "params": {"data_dir": str(data)}}})
        worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "lvv-process", "--run-once"],
                                  env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, start_new_session=True)
        worker_output, _ = worker.communicate(timeout=240)
        state = api(url, f"/flow_runs/{flow_run['id']}")["state"]
        assert state["type"] == "COMPLETED", f"{state}\n{worker_output[-4000:]}"
    finally:
        stop(worker)
    month_before = date.today().replace(day=1) - timedelta(days=1)
    database = data / "curated" / "lvv.duckdb"
    con = duckdb.connect(str(database), read_only=True)
    assert con.execute("select sum(persons) from outflow(date '2020-11-30')").fetchall() == [(1,)]
    assert con.execute("select status, reference_date from runs").fetchall() == [("published", month_before)]
    report = data / "reports" / month_before.isoformat() / f"lvv-monthly-{month_before}-internal.xlsx"
    assert report.exists()

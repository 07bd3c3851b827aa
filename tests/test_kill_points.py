"""What a killed run leaves, and how the next run cleans it: `lvv run` as a subprocess, stopped at
named points of the flow (LVV_FAULT_AT, transforms/runs.fault_point), never by a timer.

A run that is killed starts its own temporary Prefect server, as `lvv run` does for a user, and is
tagged with an environment variable, so the test finds the server that run started (the server
inherits the environment) and checks none is left behind. The runs that wait on the lock talk to the
session's Prefect API: a temporary server costs several CPU seconds to start and would test nothing
more there. The undisturbed runs (the releases compared against, the run after a kill or a SIGTERM,
a run whose lock wait ends) are `lvv run` through its entry point in this process (tests/_s1_cli.py):
their subject is what the store holds and the exit code main() gives, not the process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import duckdb
import pytest

from lvv.settings import KEY_ENV, DataPaths
from schemas.contracts import contract_for
from tests._s1_cli import Done, lvv_here
from tests.conftest import good_row, write_sheet
from transforms.publish import verify_release
from transforms.runs import FAULT_ACTION_ENV, FAULT_AT_ENV, read_runs

REF = "2020-11-30"
TAG = "LVV_TEST_RUN_TAG"
STARTED: list[subprocess.Popen] = []  # every `lvv run` process a test started; no_run_left_behind ends them


def write_month(root: Path, period: str, stand_per: date, rows: list[dict]) -> None:
    for municipality in ("amsterdam", "rotterdam"):
        write_sheet(root / "raw" / municipality / period / "export.xlsx", contract_for(municipality), rows,
                    stand_per=stand_per)


OCTOBER = [good_row(1, exit_date=date(2020, 10, 20), outcome="MOB"), good_row(2), good_row(3)]
NOVEMBER = [OCTOBER[0], good_row(2, exit_date=date(2020, 11, 3), outcome="Art. 64"), good_row(3), good_row(4)]


def api() -> str:
    """The session's Prefect API (the prefect_harness fixture)."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def lvv(root: Path, *args: str, fault: str | None = None, action: str = "kill", tag: str | None = None,
        api_url: str | None = None) -> subprocess.Popen:
    """`lvv run` in a new process; without api_url it starts (and must stop) its own temporary server."""
    env = {**os.environ, KEY_ENV: "kill-test-key", TAG: tag or uuid.uuid4().hex,
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    env.pop(FAULT_AT_ENV, None)
    if fault:
        env.update({FAULT_AT_ENV: fault, FAULT_ACTION_ENV: action})
    logs = root.parent / f"run-{uuid.uuid4().hex[:8]}"
    logs.mkdir()
    with (logs / "out").open("w") as out, (logs / "err").open("w") as err:  # files: a pipe could fill
        process = subprocess.Popen([sys.executable, "-m", "lvv.cli", "run", "--data-dir", str(root),
                                    "--reference-date", REF, *args], env=env, text=True, stdout=out,
                                   stderr=err)
    process.logs = logs
    STARTED.append(process)
    return process


@pytest.fixture(autouse=True)
def no_run_left_behind():
    """Whatever a test asserts, no `lvv run` it started is left paused at a fault point, waiting on
    the lock or running once it ends: each still alive is killed (its temporary server goes with
    it: lvv ties the server to itself with PR_SET_PDEATHSIG) and reaped, within a bounded wait. A
    failed assertion between a pause and its `go` used to leave the run waiting for ever."""
    yield
    started, STARTED[:] = list(STARTED), []
    for process in started:  # every one killed before any is waited for
        if process.poll() is None:
            process.kill()
    for process in started:
        process.wait(timeout=60)


def lvv_run_here(root: Path, *args: str) -> Done:
    """`lvv run` in this process, talking to the session's Prefect API, with the key the processes use."""
    return lvv_here("run", "--data-dir", str(root), "--reference-date", REF, *args,
                    env={KEY_ENV: "kill-test-key", "PREFECT_API_URL": api()})


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    """Wait, at most `timeout` seconds (then subprocess.TimeoutExpired; no_run_left_behind kills it)."""
    process.wait(timeout=timeout)
    return process.returncode, (process.logs / "out").read_text(), (process.logs / "err").read_text()


def paused(process: subprocess.Popen, folder: Path, point: str = "after-processing",
           patience: float = 300) -> None:
    """Wait until the run reached the named point (it waits there for folder/go), at most `patience`
    seconds: its temporary server may take 180 s to start on a loaded machine."""
    deadline = time.monotonic() + patience
    while not (folder / f"{point}.reached").exists():
        assert process.poll() is None, finish(process)
        assert time.monotonic() < deadline, f"the run did not reach {point} within {patience:.0f} s"
        time.sleep(0.1)


def tagged_processes(tag: str) -> list[int]:
    """Processes whose environment carries this run's tag (the run and the server it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"{TAG}={tag}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def no_orphans(tag: str, patience: float = 60) -> bool:
    """True once no process of the run is left (a server told to stop needs a moment to exit)."""
    deadline = time.monotonic() + patience
    while tagged_processes(tag):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def figures(database: Path) -> list:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(f"select line, sum(persons) from outflow(date '{REF}') group by line order by line").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def releases(tmp_path_factory, prefect_harness) -> dict:
    """The figures of the October release and of the November one, each from an undisturbed run."""
    base = tmp_path_factory.mktemp("kill")
    root = base / "october" / "data"
    write_month(root, "2020-10", date(2020, 10, 31), OCTOBER)
    assert lvv_run_here(root).returncode == 0
    october = figures(DataPaths.resolve(root).database)
    shutil.copytree(root, base / "november" / "data", symlinks=True)
    write_month(base / "november" / "data", "2020-11", date(2020, 11, 30), NOVEMBER)
    assert lvv_run_here(base / "november" / "data").returncode == 0
    november = figures(DataPaths.resolve(base / "november" / "data").database)
    assert october != november
    return {"october": october, "november": november, "root": root}


@pytest.fixture
def october_published(releases, tmp_path) -> DataPaths:
    """A copy of the October publication, with November's deliveries waiting in raw/."""
    root = tmp_path / "data"
    shutil.copytree(releases["root"], root, symlinks=True)
    write_month(root, "2020-11", date(2020, 11, 30), NOVEMBER)
    return DataPaths.resolve(root)


@pytest.mark.parametrize("point, in_force", [("after-processing", "october"), ("during-publish", "october"),
                                             ("during-report", "november")])
def test_a_run_killed_at_a_named_point_leaves_a_complete_release_and_the_next_finishes(
        releases, october_published, point, in_force):
    paths, tag = october_published, uuid.uuid4().hex
    code, _, _ = finish(lvv(paths.root, fault=point, tag=tag))
    assert code == -signal.SIGKILL
    assert no_orphans(tag), "the temporary Prefect server outlived the killed run"
    assert figures(paths.database) == releases[in_force] and verify_release(paths.curated) == []
    assert read_runs(paths.curated)[-1]["status"] == "running"
    after = lvv_run_here(paths.root)
    assert after.returncode == 0, after.stderr
    assert figures(paths.database) == releases["november"] and verify_release(paths.curated) == []
    log = read_runs(paths.curated)
    interrupted = [r for r in log if r["status"] == "interrupted"]
    assert len(interrupted) == 1 and "interrupted" in interrupted[0]["message"]
    assert sorted(d["delivery_id"] for d in interrupted[0]["deliveries"]) == ["amsterdam/2020-11", "rotterdam/2020-11"]
    assert log[-1]["status"] == ("published" if in_force == "october" else "unchanged")
    assert (paths.root / "reports" / REF).is_dir()
    assert not list((paths.curated / "releases").glob(".building-*"))
    published = {d["delivery_id"] for r in log for d in r["deliveries"]}
    assert {"amsterdam/2020-11", "rotterdam/2020-11"} <= published  # every published delivery is logged


def test_sigterm_stops_the_run_and_its_server_and_is_logged(releases, october_published, tmp_path):
    paths, tag = october_published, uuid.uuid4().hex
    first = lvv(paths.root, fault="after-processing", action=f"pause:{tmp_path}", tag=tag)
    paused(first, tmp_path)
    first.send_signal(signal.SIGTERM)
    code, _, err = finish(first)
    assert code == 128 + signal.SIGTERM
    assert no_orphans(tag)
    last = read_runs(paths.curated)[-1]
    assert last["status"] == "failed" and "SIGTERM" in last["message"]
    assert sorted(d["delivery_id"] for d in last["deliveries"]) == ["amsterdam/2020-11", "rotterdam/2020-11"]
    assert figures(paths.database) == releases["october"]
    assert lvv_run_here(paths.root).returncode == 0 and figures(paths.database) == releases["november"]


def test_a_second_run_stops_with_a_clear_message_when_its_wait_ends_a_third_says_at_once_that_it_waits(
        october_published, tmp_path):
    """One run paused holding the lock: a run whose wait ends first, then one that waits until it is free."""
    paths = october_published
    first = lvv(paths.root, fault="after-processing", action=f"pause:{tmp_path}", api_url=api())
    try:  # a failed assertion leaves no run paused or waiting behind: no_run_left_behind kills both
        paused(first, tmp_path)
        stopped = lvv_run_here(paths.root, "--lock-wait", "1")
        assert stopped.returncode == 2 and "another run is publishing" in stopped.stderr
        assert "waited 1 s" in stopped.stderr
        assert first.poll() is None  # the first still holds the lock, paused
        second = lvv(paths.root, "--lock-wait", "900", api_url=api())
        line, deadline = "", time.monotonic() + 120
        while "waiting" not in line:  # its first words, before it starts Prefect
            assert second.poll() is None, finish(second)
            assert time.monotonic() < deadline, "the second run said nothing of the lock within 120 s"
            line = next((x for x in (second.logs / "err").read_text().splitlines() if "waiting" in x), "")
            time.sleep(0.1)
        line = (second.logs / "err").read_text().replace("\n", " ")
        assert "another run holds the publication lock" in line and "waits up to 900 s" in line
        assert " since " in line and "run " in line
        assert second.poll() is None  # still waiting: the first holds the lock
    finally:
        (tmp_path / "go").touch()
    assert finish(first)[0] == 0
    code, out, _ = finish(second)
    assert code == 0 and "nothing new" in out
    assert [r["status"] for r in read_runs(paths.curated)][-2:] == ["published", "unchanged"]


def test_the_next_run_marks_an_unfinished_one_interrupted_with_what_it_processed(tmp_path):
    from transforms.runs import append_run, begin_run, new_run
    from transforms.store import save_record

    curated, staged = tmp_path / "curated", tmp_path / "curated" / "staged"
    killed = new_run(date(2020, 11, 30), ["programme"], run_id="killed")
    append_run(curated, {**killed, "status": "running"})
    for delivery_id, run_id in (("amsterdam/2020-11", "killed"), ("amsterdam/2020-10", "earlier")):
        municipality, period = delivery_id.split("/")
        (staged / municipality / period).mkdir(parents=True)
        save_record(staged, {"delivery_id": delivery_id, "municipality": municipality, "period": period,
                             "status": "accepted", "sha256": "x", "rows_read": 3, "rows_curated": 3,
                             "rows_quarantined": 0, "run_id": run_id})
    marked = begin_run(curated, staged, new_run(date(2020, 11, 30), ["programme"], run_id="next"), None)
    assert [r["run_id"] for r in marked] == ["killed"]
    log = {r["run_id"]: r for r in read_runs(curated)}
    assert log["killed"]["status"] == "interrupted" and log["next"]["status"] == "running"
    assert [d["delivery_id"] for d in log["killed"]["deliveries"]] == ["amsterdam/2020-11"]
    assert "nothing of it was published" in log["killed"]["message"] and log["killed"]["rows_read"] == 3
    # a run still `running` when another starts is one that died: "next" is marked in turn
    later = begin_run(curated, staged, new_run(date(2020, 11, 30), ["programme"], run_id="third"), None)
    assert [r["run_id"] for r in later] == ["next"] and later[0]["deliveries"] == []

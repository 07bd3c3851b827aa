"""`lvv run`'s exit status: 0 when everything is in force and published, 1 when a steward must act.

The real command on a store of small hand-written Amsterdam deliveries (not the demo's): in a new
process where the exit code as a shell sees it is checked (a run that exits 1 with a held delivery,
one that exits 0 once all is published), the other commands through the same entry point in this
process (tests/_s1_cli.py: the exit code main() gives; stderr with Prefect's console lines). A
delivery that back-dates the exits of most open episodes is held by the plausibility gate, a file
that is not a workbook is rejected, the held delivery once released moves published figures
beyond the tolerance. Each run's Prefect flow run ends in a Completed-type state, named `Needs
steward` with the same phrases as its message whenever `lvv run` exits 1 (a deployment is judged by it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from lvv.settings import KEY_ENV
from schemas.contracts import contract_for
from tests._s1_cli import Done, lvv_here
from tests.conftest import good_row, write_sheet
from transforms.run_states import waiting_for_steward

pytestmark = pytest.mark.flow

#: 25 open stays in October; November closes every one of them back in October: 100 % of the open
#: episodes back-dated (gate: 25 % of at least 20), and, once released, 25 persons more outflow at the
#: October month end already published (revision tolerance: 10 persons and 5 %)
OCTOBER = [good_row(n) for n in range(1, 26)]
NOVEMBER = [{**row, "exit_date": date(2020, 10, 15), "outcome": "Zelfstandig vertrek"} for row in OCTOBER]


def settings(api_url: str) -> dict[str, str]:
    return {KEY_ENV: "exit-test-key", "PREFECT_API_URL": api_url, "LVV_USER": "steward-test", "COLUMNS": "200"}


def lvv(root: Path, *args: str, api_url: str) -> subprocess.CompletedProcess:
    """`lvv` in a new process."""
    return subprocess.run([sys.executable, "-m", "lvv.cli", *args, "--data-dir", str(root)],
                          env={**os.environ, **settings(api_url)}, capture_output=True, text=True, timeout=600)


def lvv_in_process(root: Path, *args: str, api_url: str) -> Done:
    """`lvv` through its entry point in this process: no interpreter and Prefect import paid again."""
    return lvv_here(*args, "--data-dir", str(root), env=settings(api_url))


def final_state(root: Path):
    """The final state, as the Prefect API holds it, of the flow run of the last run in the run log."""
    import json

    from prefect.client.orchestration import get_client

    run_id = json.loads((root / "curated" / "runs" / "log.jsonl").read_text().splitlines()[-1])["run_id"]
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def assert_needs_steward(root: Path, stderr: str) -> None:
    state = final_state(root)
    assert state.is_completed() and state.name == "Needs steward", state
    line = next(line for line in stderr.splitlines() if line.startswith("needs a steward: "))
    assert state.message == line  # the same phrases, in the same order


def month(root: Path, period: str, rows: list[dict], stand_per: date) -> None:
    write_sheet(root / "raw" / "amsterdam" / period / "amsterdam.xlsx", contract_for("amsterdam"), rows,
                stand_per=stand_per)


def test_run_exits_1_while_a_steward_must_act_and_0_when_all_is_published(tmp_path, prefect_harness, monkeypatch):
    from prefect.settings import PREFECT_API_URL

    api_url, root = PREFECT_API_URL.value(), tmp_path / "data"
    month(root, "2020-10", OCTOBER, date(2020, 10, 31))
    first = lvv_in_process(root, "run", "--reference-date", "2020-10-31", api_url=api_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("published: 1 new") and "needs a steward" not in first.stderr
    assert final_state(root).name == "Completed" and final_state(root).is_completed()

    month(root, "2020-11", NOVEMBER, date(2020, 11, 30))
    held = lvv(root, "run", "--reference-date", "2020-11-30", api_url=api_url)
    assert held.returncode == 1, held.stderr
    assert "held, not in force: amsterdam/2020-11 (" in held.stdout  # the run's own message, as before
    assert "needs a steward: held, not in force: amsterdam/2020-11 (`lvv deliveries list --held`)" in held.stderr
    assert "Traceback" not in held.stderr
    assert_needs_steward(root, held.stderr)

    # nothing new; still held
    again = lvv_in_process(root, "run", "--reference-date", "2020-11-30", api_url=api_url)
    assert again.returncode == 1 and again.stdout.startswith("nothing new"), again.stderr
    assert "held, not in force: amsterdam/2020-11" in again.stderr
    assert_needs_steward(root, again.stderr)

    from flows.monthly_outflow import RunParameters, monthly_outflow

    monkeypatch.setenv(KEY_ENV, "exit-test-key")  # a Python caller gets the summary, not the state
    summary = monthly_outflow(RunParameters(data_dir=str(root), reference_date=date(2020, 11, 30)))
    assert summary["run"]["status"] == "unchanged" and summary["needs_steward"] == [
        "held, not in force: amsterdam/2020-11 (`lvv deliveries list --held`)"]
    assert final_state(root).message == "needs a steward: " + summary["needs_steward"][0]

    (root / "raw" / "amsterdam" / "2020-12").mkdir(parents=True)
    (root / "raw" / "amsterdam" / "2020-12" / "amsterdam.xlsx").write_bytes(b"not a workbook")
    month(root, "2021-01 (copy)", OCTOBER, date(2021, 1, 31))  # no period: rejected, stored under `unknown`
    rejected = lvv_in_process(root, "run", "--reference-date", "2020-11-30", api_url=api_url)
    assert rejected.returncode == 1, rejected.stderr
    expected = ("needs a steward: rejected whole, nothing of it in force: amsterdam/2020-12 "
                "(amsterdam/2020-12/amsterdam.xlsx), amsterdam/? (amsterdam/2021-01 (copy)/amsterdam.xlsx) "
                "(fix or remove the file); held, not in force: amsterdam/2020-11 (`lvv deliveries list --held`)")
    assert expected in rejected.stderr.splitlines()
    assert_needs_steward(root, rejected.stderr)
    # a stored rejection keeps every run at exit 1, not only the run that found it
    still = lvv_in_process(root, "run", "--reference-date", "2020-11-30", api_url=api_url)
    assert still.returncode == 1 and still.stdout.startswith("nothing new"), still.stdout + still.stderr
    assert expected in still.stderr.splitlines() and "Traceback" not in still.stderr
    assert_needs_steward(root, still.stderr)
    (root / "raw" / "amsterdam" / "2020-12" / "amsterdam.xlsx").unlink()  # removed: their records go
    (root / "raw" / "amsterdam" / "2021-01 (copy)" / "amsterdam.xlsx").unlink()

    released = lvv_in_process(root, "deliveries", "release", "amsterdam/2020-11", "--reason",
                              "the register was emptied", api_url=api_url)
    assert released.returncode == 0, released.stderr
    waiting = lvv_in_process(root, "run", "--reference-date", "2020-11-30", api_url=api_url)
    assert waiting.returncode == 1 and waiting.stdout.startswith("awaiting-acceptance"), waiting.stdout
    assert "needs a steward: the new release awaits acceptance (`lvv run --accept-revisions`)" in waiting.stderr
    assert "held" not in waiting.stderr  # released: in force
    assert_needs_steward(root, waiting.stderr)

    accepted = lvv(root, "run", "--reference-date", "2020-11-30", "--accept-revisions", api_url=api_url)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("published") and "needs a steward" not in accepted.stderr
    assert final_state(root).name == "Completed"


def test_a_held_delivery_superseded_by_a_later_one_in_force_waits_for_nobody(tmp_path):
    """The store's records as the gate leaves them, and run records as the flow writes them."""
    import json

    staged = tmp_path / "staged"
    for period, status in (("2020-10", "accepted"), ("2020-11", "held"), ("2020-12", "accepted")):
        folder = staged / "amsterdam" / period
        folder.mkdir(parents=True)
        (folder / "delivery.json").write_text(json.dumps({
            "delivery_id": f"amsterdam/{period}", "municipality": "amsterdam", "period": period,
            "status": status, "hold_reason": "100% of the 25 episodes open in amsterdam/2020-10 now have an exit dated before 2020-10-31"}))
    published = {"status": "published", "deliveries": [{"delivery_id": "amsterdam/2020-12", "status": "accepted"}]}
    assert waiting_for_steward(published, staged) == []
    (staged / "amsterdam" / "2020-12" / "delivery.json").unlink()
    assert waiting_for_steward({**published, "status": "unchanged", "deliveries": []}, staged) == [
        "held, not in force: amsterdam/2020-11 (`lvv deliveries list --held`)"]

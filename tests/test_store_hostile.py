"""Store states no run of ours writes: a month folder not named YYYY-MM, a hand-edited or cut
delivery.json. Each once ended every later `lvv run` in "unexpected error" (exit 3), found by the
debt round's hostile review (/work/tmp/debt21-repro: s2_pieces.py bad_month_name, s5_store_edits.py).

The real command on small hand-written Amsterdam deliveries (not the demo's), published once for
the module and copied for each test: in a new process where the exit code as a shell sees it is
checked, through the same entry point in this process (tests/_s1_cli.py) for a run after it; and
the store's own reader called directly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from lvv.settings import KEY_ENV
from schemas.contracts import contract_for
from tests._s1_cli import lvv_here
from tests.conftest import good_row, write_sheet
from transforms.curate import fingerprint_chain
from transforms.store import StoreError, load_records, period_folder

pytestmark = pytest.mark.flow

ROWS = [good_row(n) for n in range(1, 6)]


KEY = "store-hostile-key"


def lvv(root: Path, *args: str, api_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, KEY_ENV: KEY, "PREFECT_API_URL": api_url, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "lvv.cli", *args, "--data-dir", str(root)], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def store(tmp_path_factory, prefect_harness) -> Path:
    """October and November published by the flow in this process (what a test asserts of it is its
    success): the commands that follow read a copy of the store it left, as the real `lvv run`."""
    from flows.monthly_outflow import RunParameters, monthly_outflow

    root = tmp_path_factory.mktemp("store-hostile") / "data"
    month(root, "2020-10", date(2020, 10, 31))
    month(root, "2020-11", date(2020, 11, 30))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, KEY)
        summary = monthly_outflow(RunParameters(data_dir=str(root), reference_date=date(2020, 11, 30)))
    # what `lvv run` exits 0 on: published, nothing waits for a steward
    assert summary["published"] and not summary["needs_steward"], summary["run"]
    return root


@pytest.fixture
def root(store, tmp_path) -> Path:
    """A copy of the published store, this test's own."""
    return shutil.copytree(store, tmp_path / "data", symlinks=True)


def month(root: Path, folder: str, stand_per: date) -> None:
    write_sheet(root / "raw" / "amsterdam" / folder / "amsterdam.xlsx", contract_for("amsterdam"), ROWS,
                stand_per=stand_per)


def test_a_month_folder_not_named_yyyy_mm_is_rejected_and_later_runs_go_on(root):
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    month(root, "2020-12 (copy)", date(2020, 12, 31))  # a steward's copy, or 2020-12 typed as "2020-12 (copy)"
    done = lvv(root, "run", "--reference-date", "2020-11-30", api_url=api_url)
    assert done.returncode == 1, done.stdout + done.stderr  # a steward must act: the file is not in force
    assert "rejected whole" in done.stderr and "amsterdam/?" in done.stderr
    assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr
    # reads its stored record
    after = lvv_here("run", "--reference-date", "2020-11-30", "--data-dir", str(root),
                     env={KEY_ENV: KEY, "PREFECT_API_URL": api_url, "COLUMNS": "250"})
    # nothing new, but the file is still not in force: said again, with the file (tests/test_run_steward_states.py)
    assert after.returncode == 1 and after.stdout.startswith("nothing new"), after.stdout + after.stderr
    assert "amsterdam/? (amsterdam/2020-12 (copy)/amsterdam.xlsx)" in after.stderr
    assert "unexpected error" not in after.stderr and "Traceback" not in after.stderr
    stored = {r["delivery_id"]: r for r in load_records(root / "curated" / "staged", "amsterdam")}
    assert stored["amsterdam/?"]["status"] == "rejected" and stored["amsterdam/?"]["period"] is None
    assert stored["amsterdam/2020-11"]["status"] == "accepted"  # the months before stay in force


def test_a_record_without_a_period_has_its_folder_whether_read_as_a_dict_or_from_a_frame(tmp_path):
    record = {"delivery_id": "amsterdam/?", "municipality": "amsterdam", "period": None, "status": "rejected",
              "file": "amsterdam/2020-12 (copy)/amsterdam.xlsx"}
    from_frame = pd.DataFrame([record, {**record, "period": "2020-10"}]).to_dict("records")
    assert from_frame[0]["period"] != from_frame[0]["period"]  # NaN: what made the fingerprint fail
    folders = [period_folder(r) for r in (record, *from_frame)]
    assert folders[0] == folders[1] != folders[2] == "2020-10" and folders[0].startswith("unknown-2020-12-copy-")
    assert len(fingerprint_chain(tmp_path, from_frame)) == 3


def stored(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "staged" / "utrecht" / "2020-10"
    folder.mkdir(parents=True)
    (folder / "delivery.json").write_text(text, encoding="utf-8")
    return tmp_path / "staged"


GOOD = {"delivery_id": "utrecht/2020-10", "municipality": "utrecht", "period": "2020-10", "status": "accepted",
        "stand_per": "2020-10-31", "rows_read": 12, "rows_curated": 12, "rows_quarantined": 0}


@pytest.mark.parametrize("text, why", [
    (json.dumps(GOOD)[:60], "not valid JSON"),  # cut: a disk that filled, an editor that crashed
    (json.dumps({**GOOD, "stand_per": "2020-13-45"}), "stand_per is not a date"),
    (json.dumps({**GOOD, "rows_curated": "many"}), "rows_curated is not a number"),
    (json.dumps({**GOOD, "status": ["accepted"]}), "status is not text"),
    (json.dumps([GOOD]), "does not hold one record"),
    ("\ufeff\x00\xff", "not valid JSON"),
])
def test_a_damaged_record_names_its_file_and_what_to_do(tmp_path, text, why):
    staged = stored(tmp_path, text)
    with pytest.raises(StoreError) as caught:
        load_records(staged)
    message = str(caught.value)
    assert why in message and str(staged / "utrecht" / "2020-10" / "delivery.json") in message
    assert "remove its folder" in message and "Traceback" not in message


def test_a_whole_record_still_reads(tmp_path):
    staged = stored(tmp_path, json.dumps({**GOOD, "rows_quarantined": None, "rows_read": 12.0}))
    (record,) = load_records(staged)
    assert record["stand_per"] == date(2020, 10, 31) and record["rows_curated"] == 12


def test_lvv_run_on_a_damaged_record_exits_2_with_one_line(root):
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    record = root / "curated" / "staged" / "amsterdam" / "2020-10" / "delivery.json"
    record.write_text(record.read_text(encoding="utf-8")[:100], encoding="utf-8")
    done = lvv(root, "run", "--reference-date", "2020-10-31", api_url=api_url)
    assert done.returncode == 2, done.stderr
    assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr
    assert f"{record}: the stored record of a processed delivery cannot be read" in " ".join(done.stderr.split())

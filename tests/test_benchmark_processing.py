"""benchmarks.processing runs on the tiny network and reports every step; its hashes of the store
and of the curated tables say whether an output changed. No timing is asserted here: the figures
are measured with `python -m benchmarks.processing --factor 4`."""

from __future__ import annotations

import json
import shutil

import pytest

from benchmarks.datasets import prepare
from benchmarks.processing import STEPS, measure, output_hashes, process_all, table


def test_every_step_is_reported_per_100k_rows_and_against_the_read_floor(tmp_path, monkeypatch):
    monkeypatch.setenv("LVV_SOURCES_DIR", "")  # the tiny network sets it: put back afterwards
    dataset = prepare("tiny", tmp_path)
    result = measure(dataset, tmp_path, 1, with_hash=True)
    # the rows read: the data rows written and the totals lines some files close with
    assert dataset.rows <= result["rows"] <= dataset.rows + len(dataset.files)
    assert result["files"] == len(dataset.files)
    for step in (*STEPS, "total"):
        assert result[f"{step}_s"] >= 0 and result[f"{step}_cpu_s"] >= 0, step
        # the seconds are shown to the millisecond: per 100k rows as exact as that allows
        per_100k = result[f"{step}_s"] / result["rows"] * 1e5
        assert result[f"{step}_s_per_100k_rows"] == pytest.approx(per_100k, abs=0.0006e5 / result["rows"] + 0.001)
    assert result["total_s"] >= result["read_s"] + result["stage_s"] > 0
    month = result["month"]  # the last month's deliveries alone: a part of the rows, with its own floor
    assert month["period"] == dataset.last_period and 0 < month["rows"] < result["rows"]
    # its own floor, measured (not compared with the whole's: on a loaded machine a few
    # milliseconds of one month's files can take longer than the tiny network's all)
    assert month["read_floor_s"] > 0 and month["total_s"] > 0
    assert all(len(result["hashes"][kind]) == 64 for kind in ("staged", "curated"))
    fresh = result["month_new_process"]  # the same deliveries, processed again in a new process
    assert fresh["period"] == month["period"] and fresh["rows"] == month["rows"]
    assert fresh["read_floor_s"] == month["read_floor_s"] and fresh["validate_cpu_s"] > 0
    shown = table([result])
    assert "| read: s" in shown and "last month's deliveries alone" in shown and result["hashes"]["staged"][:16] in shown
    assert "in a new process" in shown and "| fixed cost per run: s [CPU s] |" in shown
    json.dumps(result)


def test_the_hashes_are_the_same_for_the_same_files_and_change_with_a_delivery(tmp_path, monkeypatch):
    monkeypatch.setenv("LVV_SOURCES_DIR", "")
    dataset = prepare("tiny", tmp_path)
    hashes = []
    for attempt in range(2):
        staged = tmp_path / f"staged-{attempt}"
        process_all(dataset, staged)
        hashes.append(output_hashes(staged, dataset.raw, tmp_path / "curated"))
    assert hashes[0] == hashes[1]  # processing is deterministic: the same files give the same bytes
    last = max(dataset.files)
    shutil.rmtree(last.parent)  # one delivery fewer: a different store and different tables
    staged = tmp_path / "staged-fewer"
    process_all(dataset.__class__(**{**dataset.__dict__, "files": [f for f in dataset.files if f != last]}), staged)
    fewer = output_hashes(staged, dataset.raw, tmp_path / "curated")
    assert fewer["staged"] != hashes[0]["staged"] and fewer["curated"] != hashes[0]["curated"]

"""The increment's profiling tools: `benchmarks.increment_base` leaves a published history whose
next run is the monthly increment, and `benchmarks.increment_profile --cpu` counts the CPU seconds
of the tasks the flow runs in worker threads too. No timing is asserted."""

from __future__ import annotations

from datetime import date


def test_the_cpu_profile_counts_the_tasks_in_worker_threads(tmp_path, prefect_harness, monkeypatch, capsys):
    """Deliveries are processed in a worker thread: without --cpu cProfile sees only the flow's
    wait for them (`_fan_out`); with it, process_deliveries_task has its own CPU seconds."""
    import pstats

    from benchmarks.increment_profile import main
    from schemas.contracts import contract_for
    from tests.conftest import good_row, write_sheet

    monkeypatch.setenv("LVV_PSEUDONYM_KEY", "increment-profile-cpu-test-key")
    rows = [good_row(n) for n in range(1, 40)] + [good_row(40, exit_date=date(2020, 10, 1), outcome="MOB")]
    write_sheet(tmp_path / "raw" / "amsterdam" / "2020-10" / "a.xlsx", contract_for("amsterdam"), rows,
                stand_per=date(2020, 10, 31))
    assert main(["--data-dir", str(tmp_path), "--reference-date", "2020-11-01", "--cpu", "--out",
                 str(tmp_path / "run.prof"), "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "| step (every thread) | CPU s |" in out and "run: published, 1 deliveries" in out
    steps = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out.splitlines()
             if line.startswith("| ") and not line.startswith("| step")}
    assert steps["process_deliveries_task"] > 0 and steps["monthly_report_task"] > 0
    # the worker thread's functions are in the kept profile, beside the flow thread's
    names = {name for _, _, name in pstats.Stats(str(tmp_path / "run.prof")).stats}
    assert {"process_deliveries_task", "process_deliveries", "monthly_outflow"} <= names


def test_the_increment_base_is_published_without_its_last_month_which_is_back_in_raw(tmp_path, monkeypatch):
    from benchmarks.increment_base import build
    from transforms.store import load_records

    monkeypatch.setenv("LVV_SOURCES_DIR", "")  # the tiny network sets it
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    command = build("tiny", None, None, tmp_path / "inc")
    base = tmp_path / "inc" / "base"
    assert "increment_profile" in command and str(base).replace("/base", "/run") in command
    periods = sorted({p.parent.name for p in (base / "raw").rglob("*.*") if p.parent.name[:2] == "20"})
    stored = {record["period"] for record in load_records(base / "curated" / "staged")}
    assert periods[-1] not in stored and set(periods[:-1]) <= stored  # held back, then put back
    assert (base / "curated" / "current" / "release.json").is_file()
    assert not (tmp_path / "inc" / "held-back").exists() and not (tmp_path / "inc" / "data").exists()

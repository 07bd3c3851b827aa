"""The benchmark code runs and reports every figure; the analyst's baseline computes Table A right.

No timing is asserted here: the figures themselves are measured with `python -m benchmarks`
(docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from benchmarks.__main__ import REQUIRED_KEYS, run_benchmark, table
from benchmarks.baseline_analyst import table_a

pytestmark = pytest.mark.flow


def test_the_benchmark_runs_on_a_tiny_network_and_reports_every_figure(tmp_path, monkeypatch, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("LVV_SOURCES_DIR", "")  # the tiny network sets it: put back afterwards
    result = run_benchmark("tiny", tmp_path, api_url=PREFECT_API_URL.value(), log=lambda _: None)
    for key in REQUIRED_KEYS:
        assert isinstance(result[key], (int, float)) and result[key] > 0, key
    assert set(result["phases"]) >= {"generation_s", "flow_startup_s", "reading_s", "validation_s",
                                      "history_s", "publishing_s", "report_s"}
    assert {"full_rebuild_s", "increment_s", "validate_cold_s", "outflow_warm_ms",
            "baseline_ratio", "baseline_vs_outflow"} <= set(result["targets"])
    assert result["baseline_matches"], (result["table_a_baseline"], result["table_a_pipeline"])
    # the analyst's script against `lvv outflow` in a new process, as the series reports it
    median = {key: result["stats"][key]["median"] for key in ("baseline_s", "outflow_cli_s", "increment_s")}
    assert result["baseline_vs_outflow"] == pytest.approx(median["baseline_s"] / median["outflow_cli_s"], abs=0.01)
    assert result["baseline_vs_increment"] == pytest.approx(median["baseline_s"] / median["increment_s"], abs=0.01)
    assert "baseline_vs_outflow" in table(result)
    assert result["validate"]["prefect_imported"] is False
    assert result["outflow_cli_imports_prefect"] is False
    assert result["stack_import_s"] > 0  # the imports every rebuild pays beyond Prefect
    assert "read_floor_s" in table(result) and "stack_import_s" in table(result)
    json.dumps(result)  # the --json output


def test_the_scale_series_measures_each_run_with_its_floors(tmp_path, monkeypatch, prefect_harness):
    """One scale of `python -m benchmarks --scale series`, on the tiny network: the increment run
    published the new month and the last run found nothing new (checked inside one_scale)."""
    from prefect.settings import PREFECT_API_URL

    from benchmarks.datasets import prepare
    from benchmarks.scale import growth, one_scale, series_table

    monkeypatch.setenv("LVV_SOURCES_DIR", "")
    dataset = prepare("tiny", tmp_path)
    result = one_scale(dataset, tmp_path, PREFECT_API_URL.value(), 1, log=lambda _: None)
    for key in ("read_floor_s", "increment_read_floor_s", "full_rebuild_s", "increment_s", "nothing_new_s",
                "peak_rss_mb_full_rebuild", "peak_rss_mb_increment", "peak_rss_mb_nothing_new",
                "read_floor_cpu_s", "increment_read_floor_cpu_s", "full_rebuild_cpu_s", "increment_cpu_s",
                "nothing_new_cpu_s"):
        assert isinstance(result[key], (int, float)) and result[key] > 0, key
    # the CPU seconds beside the wall seconds: a run's own process and the workers it started
    assert result["increment_work_cpu_s"] == pytest.approx(
        result["increment_cpu_s"] - result["nothing_new_cpu_s"], rel=1e-2, abs=1e-3)
    assert result["increment_work_cpu_vs_read_floor_cpu"] == pytest.approx(
        result["increment_work_cpu_s"] / result["increment_read_floor_cpu_s"], rel=1e-2)
    assert result["full_rebuild_cpu_vs_read_floor_cpu"] == pytest.approx(
        result["full_rebuild_cpu_s"] / result["read_floor_cpu_s"], rel=1e-2)
    # each run's steps, from the server's task runs: the report apart from the rest
    for run in ("full_rebuild", "increment", "nothing_new"):
        steps = result[f"steps_{run}"]
        assert steps["monthly-report"] > 0 and steps["tidy"] > 0, (run, steps)
        assert sum(steps.values()) < result[f"{run}_s"], (run, steps)
    assert "build-history" in result["steps_increment"] and "build-history" not in result["steps_nothing_new"]
    assert result["steps_increment"]["process-deliveries"] > 0 and "process-deliveries" not in result["steps_nothing_new"]
    # the increment reports at the month just ended, after last month's run reported at its own end:
    # a new reference date and series point, protected afresh (before round 25 both runs reported at
    # the fixed reference date, after a full rebuild had cached every pattern: nothing was solved)
    assert result["increment_reference_date"] == dataset.increment_dates[1].isoformat()
    assert result["increment_new_protection_files"] > 0
    assert result["increment_without_report_s"] == pytest.approx(
        result["increment_s"] - result["steps_increment"]["monthly-report"], rel=1e-3)
    # the analyst's script on the same files, against `lvv outflow` and the increment
    assert result["baseline_matches"] and result["baseline_s"] > 0 and result["outflow_cli_s"] > 0
    assert result["baseline_vs_outflow"] == pytest.approx(result["baseline_s"] / result["outflow_cli_s"], rel=0.01)
    assert set(result["targets"]) == {"increment_work_vs_read_floor", "increment_work_without_report_vs_read_floor",
                                      "baseline_vs_outflow"}
    bigger = {**result, "rows": result["rows"] * 16, "full_rebuild_s": result["full_rebuild_s"] * 16}
    assert growth(result, bigger)["full_rebuild_s"] == {"k": 1.0, "growth": "linear"}
    text = series_table({"scales": {"national-x1": result, "national-x16": bigger}, "growth": growth(result, bigger)})
    assert "| `increment_work_s` |" in text and "1.00 (linear)" in text
    assert "| `increment_work_cpu_vs_read_floor_cpu` |" in text
    assert "| `baseline_vs_outflow` |" in text and "| increment: build-history |" in text
    json.dumps(result)


def test_a_full_rebuild_is_measured_from_the_raw_files_alone(tmp_path, monkeypatch):
    """from_scratch leaves the raw files and removes what a run publishes and what its report keeps
    (gathered figures, protection patterns): a full rebuild measured after an earlier run in the
    same --workdir took its protection patterns from that run's cache, and the increment measured
    after the full rebuild found the new month's there too."""
    from benchmarks.datasets import prepare
    from benchmarks.datasets import from_scratch, protection_files, reports_dir
    from transforms.public_edition import PROTECTION_CACHE

    monkeypatch.setenv("LVV_SOURCES_DIR", "")
    dataset = prepare("tiny", tmp_path)
    kept = reports_dir(dataset) / PROTECTION_CACHE
    kept.mkdir(parents=True)
    (kept / "pattern.json").write_text("{}")
    (dataset.curated / "lvv.duckdb").parent.mkdir(parents=True, exist_ok=True)
    (dataset.curated / "lvv.duckdb").write_text("")
    assert protection_files(dataset) == {"pattern.json"}
    raw = sorted(p.relative_to(dataset.root) for p in dataset.raw.rglob("*") if p.is_file())
    from_scratch(dataset)
    assert not reports_dir(dataset).exists() and not dataset.curated.exists()
    assert protection_files(dataset) == set()
    assert sorted(p.relative_to(dataset.root) for p in dataset.raw.rglob("*") if p.is_file()) == raw and raw


def test_the_analysts_script_computes_the_same_table_a_as_the_pipeline(demo_run):
    paths, demo, _ = demo_run
    baseline, files, _ = table_a(str(paths.raw), datetime(2020, 11, 1))
    assert files == len(demo.files)  # the same raw files, every one of them
    con = duckdb.connect(str(paths.database), read_only=True)
    try:
        rows = con.execute("select line, sum(persons) from outflow(date '2020-11-01', "
                           "definition := 'evaluation-2021') group by line").fetchall()
    finally:
        con.close()
    assert baseline == {line: int(n) for line, n in rows}
    assert sum(baseline.values()) == 537  # Table A of the interim evaluation


def test_the_commands_that_need_no_orchestration_never_import_prefect(demo_run, tmp_path):
    paths, demo, _ = demo_run
    workbook = paths.raw / next(d.file for d in demo.deliveries if d.municipality == "utrecht")
    commands = [
        ["validate", str(workbook), "--municipality", "utrecht", "--format", "json"],
        ["outflow", "--ref-date", "2020-11-01", "--data-dir", str(paths.root), "--format", "csv"],
        ["reconcile", "--ref-date", "2020-11-01", "--definitions", "programme", "evaluation-2021",
         "--data-dir", str(paths.root), "--format", "csv"],
        ["series", "--from", "2020-01-01", "--to", "2020-12-31", "-o", str(tmp_path / "s.csv"),
         "--data-dir", str(paths.root)],
    ]
    script = (
        "import json, sys\n"
        "from lvv.cli import app\n"
        "seen = {}\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        app(args, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    seen[args[0]] = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))[:3]\n"
        "print(json.dumps(seen))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, json.dumps(commands)], check=False, capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"validate": [], "outflow": [], "reconcile": [], "series": []}


def test_a_network_written_before_is_reused_only_when_whole_and_the_same(tmp_path, monkeypatch):
    """benchmarks.large --reuse: the full network takes minutes to write; a second run takes the
    files a first one wrote (same scale and factor, every file there) and writes nothing."""
    from benchmarks.datasets import MANIFEST, prepare

    monkeypatch.setenv("LVV_SOURCES_DIR", "")
    first = prepare("tiny", tmp_path)
    (first.curated / "marker").parent.mkdir(parents=True, exist_ok=True)
    (first.curated / "marker").write_text("from an earlier run")
    stamps = {path: path.stat().st_mtime_ns for path in first.files}
    again = prepare("tiny", tmp_path, reuse=True)
    assert again.files == first.files and again.rows == first.rows and again.ref_date == first.ref_date
    assert {path: path.stat().st_mtime_ns for path in again.files} == stamps  # nothing written again
    assert not first.curated.exists()  # the curated data never carries over
    first.files[0].unlink()  # not whole: written again
    rewritten = prepare("tiny", tmp_path, reuse=True)
    assert rewritten.files[0].is_file() and rewritten.rows == first.rows
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["scale"] == "tiny" and len(manifest["files"]) == len(first.files)
    assert prepare("tiny", tmp_path, reuse=False).files == first.files  # without --reuse: written again


@pytest.mark.parametrize("module, argv, said", [
    ("benchmarks.__main__", ["--repeat", "0"], "--repeat: '0': give at least 1"),
    ("benchmarks.__main__", ["--scale", "series", "--factors", "1", "-4"], "'-4': give a number above 0"),
    ("benchmarks.__main__", ["--json", "{list}"], "holds JSON, but not an object of figures"),
    ("benchmarks.__main__", ["--json", "{missing}/figures.json"], "is not a directory"),
    ("benchmarks.__main__", ["--workdir", "{list}"], "exists and is not a directory"),
    ("benchmarks.large", ["--reuse"], "give --workdir"),
    ("benchmarks.large", ["--factor", "many"], "'many' is not a number"),
    ("benchmarks.history_step", ["--factor", "0"], "give a number above 0"),
    ("benchmarks.report", ["--json", "{broken}"], "is not a readable JSON file"),
    ("benchmarks.report_step", ["--data-dir", "{tmp}", "--reference-date", "2020-11-01"], "holds no published release"),
    ("benchmarks.report_step", ["--data-dir", "{missing}", "--reference-date", "2020-11-01"], "does not exist"),
    ("benchmarks.report_step", ["--data-dir", "{tmp}", "--reference-date", "2020-11-01", "--json", "{broken}"],
     "is not a readable JSON file"),
    ("benchmarks.safeguards", ["--factor", "nan"], "give a number above 0"),
    ("benchmarks.growth", ["{missing}"], "does not exist"),
    ("benchmarks.growth", ["{empty}"], "need at least two national scales"),
    ("benchmarks.queries", ["{missing}", "outflow", "2020-11-01", "2020-11-01", "2020-01-01"], "does not exist"),
    ("benchmarks.queries", ["{list}", "outflow", "2020-11-31", "2020-11-01", "2020-01-01"], "is not a date"),
    ("benchmarks.increment_steps", ["--workdir", "{tmp}"], "holds no published network"),
    ("benchmarks.increment_steps", ["--workdir", "{missing}"], "does not exist"),
    ("benchmarks.baseline_analyst", ["{missing}"], "does not exist"),
    ("benchmarks.baseline_analyst", ["{tmp}"], "has no deliveries"),
    ("benchmarks.task_overhead", ["--tasks", "1"], "--tasks must be at least 2"),
    ("benchmarks.increment_profile", ["--data-dir", "{missing}", "--reference-date", "2020-11-01"], "does not exist"),
    ("benchmarks.increment_profile", ["--data-dir", "{tmp}", "--reference-date", "2020-11-31"], "invalid"),
])
def test_a_benchmark_tool_given_a_wrong_path_or_value_says_so_and_exits_2(module, argv, said, tmp_path, capsys):
    """Checked before any data is written: argparse's one-line error, exit 2, no traceback."""
    import importlib

    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "empty.json").write_text("{}")
    names = {"list": tmp_path / "list.json", "broken": tmp_path / "broken.json", "empty": tmp_path / "empty.json",
             "missing": tmp_path / "missing", "tmp": tmp_path}
    with pytest.raises(SystemExit) as stopped:
        importlib.import_module(module).main([a.format(**names) for a in argv])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and said in err, err
    assert not (tmp_path / "missing").exists()


def test_the_runner_s_peak_memory_counts_the_children_a_run_starts():
    """benchmarks.lvv_runner's peak is of the process tree (the processes runner's workers hold
    their deliveries in their own memory), not of the flow's process alone."""
    import time

    from benchmarks.lvv_runner import TreePeak, tree_rss_mb

    alone = tree_rss_mb(os.getpid())
    with TreePeak(interval=0.05) as tree:
        child = subprocess.Popen([sys.executable, "-c", "import sys, time; held = bytearray(160_000_000); "
                                  "[b for b in range(0, len(held), 4096) if held.__setitem__(b, 1)]; "
                                  "print('ready', flush=True); time.sleep(2)"], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        child.wait()
    assert tree.peak >= alone + 150
    assert tree_rss_mb(os.getpid()) < alone + 50  # the child is gone, and so is its memory


def test_the_runner_s_cpu_seconds_count_the_workers_a_run_started_and_waited_for():
    """benchmarks.lvv_runner's tree_cpu_s is the command's own CPU seconds and those of the processes
    it started (the processes runner's workers do the processing of a large full rebuild): a run
    whose work is all in a child still shows that work. Measured in a new process, whose children
    are only the one started here."""
    code = ("import json, subprocess, sys, time\n"
            "from benchmarks.lvv_runner import measure\n"
            "def run():\n"
            "    subprocess.run([sys.executable, '-c', 'import time\\nt = time.process_time()\\n"
            "while time.process_time() - t < 0.6: pass'], check=True)\n"
            "    return 0, time.perf_counter()\n"
            "print(json.dumps(measure(run)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    measured = json.loads(done.stdout.splitlines()[-1])
    assert measured["children_cpu_s"] >= 0.5  # the child's busy loop
    assert measured["tree_cpu_s"] == pytest.approx(measured["cpu_s"] + measured["children_cpu_s"])
    assert measured["cpu_s"] < measured["tree_cpu_s"] - 0.5  # not in the runner's own seconds


def test_timed_adds_the_cpu_seconds_of_each_run_beside_its_wall_seconds():
    """A run that waits costs wall seconds and almost no CPU; one that computes costs both."""
    import time

    from benchmarks.measure import Stat, timed

    cpu = Stat()
    wall = timed(lambda: time.sleep(0.2), 2, cpu=cpu)
    assert len(cpu.runs) == 2 and min(wall.runs) >= 0.2 and max(cpu.runs) < 0.1

    def busy():
        started = time.process_time()
        while time.process_time() - started < 0.2:
            pass
    busy_cpu = Stat()
    timed(busy, 1, scale=2.0, cpu=busy_cpu)
    assert busy_cpu.runs[0] >= 0.4  # scaled as the wall seconds are


def test_the_task_overhead_benchmark_runs_real_task_runs_and_reports_their_cost(prefect_harness):
    """Each measured flow run records its empty tasks on the server: the figures are of real task
    runs (counted back from the API), not of function calls."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterId

    from benchmarks.task_overhead import measure

    result = measure(3, repeat=1)
    assert result["tasks"] == 3 and result["flow_with_one_task_s"] > 0 and result["flow_with_3_tasks_s"] > 0
    per_task = (result["flow_with_3_tasks_s"] - result["flow_with_one_task_s"]) / 2  # of the rounded figures
    assert abs(result["per_task_s"] - per_task) <= 1e-4
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["benchmark-task-overhead"])))
        ids = [run.id for run in runs]
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    assert len(ids) == 3  # the warm-up, one with 1 task, one with 3
    assert sorted(len([t for t in task_runs if t.flow_run_id == i and t.name.startswith("nothing")])
                  for i in ids) == [1, 1, 3]


def test_the_increment_profile_runs_the_flow_and_splits_its_time_by_task(tmp_path, prefect_harness, monkeypatch,
                                                                           capsys):
    """A hand-made delivery: the flow runs in process, publishes it, and the profile names each
    task the flow waited for and the time outside them, and keeps the pstats file."""
    import pstats
    from datetime import date

    from benchmarks.increment_profile import main
    from schemas.contracts import contract_for
    from tests.conftest import good_row, write_sheet

    monkeypatch.setenv("LVV_PSEUDONYM_KEY", "increment-profile-test-key")
    rows = [good_row(1), good_row(2, exit_date=date(2020, 10, 1), outcome="MOB")]
    write_sheet(tmp_path / "raw" / "amsterdam" / "2020-10" / "a.xlsx", contract_for("amsterdam"), rows,
                stand_per=date(2020, 10, 31))
    assert main(["--data-dir", str(tmp_path), "--reference-date", "2020-11-01", "--out",
                 str(tmp_path / "run.prof"), "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "run: published, 1 deliveries" in out
    steps = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out.splitlines()
             if line.startswith("| ") and not line.startswith("| step")}
    assert {"tidy", "find_deliveries", "_fan_out", "build_history", "monthly_report_task"} <= set(steps)
    # printed to 0.01 s: a step of a few milliseconds (tidy on an empty store) may show 0.00
    assert all(seconds >= 0 for name, seconds in steps.items() if name != "outside every task (flow start, "
               "engine, lock, end)")
    assert all(steps[name] > 0 for name in ("_fan_out", "build_history", "monthly_report_task"))
    assert any(name.endswith("monthly_outflow.py") for name, _, _ in pstats.Stats(str(tmp_path / "run.prof")).stats)


def test_the_report_step_is_timed_part_by_part_without_writing_into_its_inputs(demo_run, tmp_path, capsys):
    """benchmarks.report_step on the published demo, protection starting from the demo run's own
    cache: every part timed, the table and the JSON say so, and neither the data directory nor
    the cache it started from changed (the cache is copied; the files go to a temporary place)."""
    import hashlib
    import json

    from benchmarks import report_step

    paths, _, _ = demo_run

    def digest() -> str:
        files = sorted(p for p in paths.root.rglob("*") if p.is_file() and "prefect" not in p.parts[-1])
        return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()

    before = digest()
    out = tmp_path / "figures.json"
    assert report_step.main(["--data-dir", str(paths.root), "--reference-date", "2020-11-01",
                             "--cache-from", str(paths.root), "--json", str(out)]) == 0
    assert digest() == before
    table = capsys.readouterr().out
    assert all(f"| {part} |" in table for part in report_step.PARTS)
    figures = json.loads(out.read_text())["report_step"]
    for kind in ("cpu_s", "wall_s"):
        assert set(figures[kind]) == set(report_step.PARTS)
        assert all(stat["median"] > 0 for stat in figures[kind].values())

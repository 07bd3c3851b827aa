"""Does a monthly run's cost grow with the history? The flow's figures at several scales, in one run.

    python -m benchmarks --scale series [--factors 1 4 16] [--repeat N] [--json PATH]

For the demo and each national factor (x1, x4, x16: 12, 24 and 48 months of 25 municipalities):
the full rebuild, the monthly increment (the last month's deliveries added to the history) and a
run with nothing new, each `lvv run` in a new process against one running Prefect server, with its
wall seconds and peak RSS; beside them the floors: the read floor of every file and of the month
the increment adds (python-calamine / csv parsing alone), importing the data stack and the flow's
start-up. Each run's seconds per step come from the Prefect server (its task runs), so that the
monthly report's share is known apart from the rest (`steps_<run>`, `*_without_report_s`). Then the
analyst's script (benchmarks/baseline_analyst.py) against `lvv outflow` and the increment on the
same files, the issue's targets met or missed, and the growth exponent of each figure from the
smallest national factor to the largest (figure ~ rows^k). What each figure means:
docs/performance.md (section "Scale").
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any, Callable

from benchmarks import figures
from benchmarks.datasets import Dataset, from_scratch, prepare
from benchmarks.growth import exponent, verdict
from benchmarks.measure import PrefectServer, Stat, run_lvv, step_seconds, timed

#: the figures of each scale whose growth is reported
GROWING = ("read_floor_s", "increment_read_floor_s", "full_rebuild_s", "increment_s", "nothing_new_s",
           "increment_work_s", "increment_work_without_report_s", "report_s_increment", "baseline_s",
           "full_rebuild_cpu_s", "increment_cpu_s", "increment_work_cpu_s",
           "peak_rss_mb_full_rebuild", "peak_rss_mb_increment", "peak_rss_mb_nothing_new")
#: the runs measured at each scale
RUNS = ("full_rebuild", "increment", "nothing_new")


def series(workdir: Path, factors: list[float], repeat: int = 1, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The figures of the demo and of each national factor, and their growth exponents."""
    out: dict[str, Any] = {"scales": {}}
    with PrefectServer(workdir / "prefect-server") as server:
        for scale, factor in [("demo", None), *(("national", f) for f in factors)]:
            name = "demo" if scale == "demo" else f"national-x{factor:g}"
            log(f"[{name}] writing the data ...")
            dataset = prepare(scale, workdir / name, factor)
            out["scales"][name] = one_scale(dataset, workdir / name, server.api_url, repeat, log)
            shutil.rmtree(workdir / name, ignore_errors=True)
            # each scale's figures as soon as they are known (a long series stopped keeps them)
            (workdir / "series-so-far.json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    national = [s for n, s in out["scales"].items() if n.startswith("national")]
    if len(national) >= 2:
        out["growth"] = growth(national[0], national[-1])
    return out


def one_scale(dataset: Dataset, workdir: Path, api_url: str, repeat: int, log: Callable[[str], None],
              analyst: bool = True) -> dict[str, Any]:
    """Full rebuild, increment and nothing new through the flow, with the floors beside them.

    The full rebuild starts from the raw files alone (from_scratch) and reports at the dataset's
    reference date; the increment is the month's run: the run before it published the history
    without the last month and reported at that month's end, leaving its report caches, and the
    increment publishes the last month and reports at its end (Dataset.increment_dates); the run
    with nothing new repeats the increment's command.

    analyst: also run the analyst's script on the same files (about 13 minutes at x100)."""
    stats: dict[str, Stat] = {}
    rss: dict[str, float] = {}
    steps: dict[str, dict[str, float]] = {}  # the last run of each kind, seconds per step
    stats["read_floor_cpu_s"], stats["increment_read_floor_cpu_s"] = Stat(), Stat()
    stats["read_floor_s"] = figures.read_floor(dataset, repeat, cpu=stats["read_floor_cpu_s"])
    stats["increment_read_floor_s"] = increment_read_floor(dataset, repeat, cpu=stats["increment_read_floor_cpu_s"])
    stats["stack_import_s"] = figures.stack_import(repeat)
    env = figures.flow_env(dataset, workdir / "prefect-client", api_url)
    stats["flow_startup_s"] = figures.startup(env, repeat)
    log(f"[{dataset.scale} x{dataset.factor:g}] {len(dataset.files)} files, {dataset.rows} rows; full rebuild ...")
    stats["full_rebuild_s"], rss["full_rebuild"] = Stat(), 0.0
    for run in RUNS:  # each run's CPU seconds, of its process and the workers it started
        stats[f"{run}_cpu_s"] = Stat()
    for _ in range(repeat):
        from_scratch(dataset)
        measured = run_lvv(figures.run_args(dataset), env)
        steps["full_rebuild"] = step_seconds(api_url, _last_run_id(dataset))
        stats["full_rebuild_s"].add(measured["seconds"])
        stats["full_rebuild_cpu_s"].add(measured["tree_cpu_s"])
        rss["full_rebuild"] = max(rss["full_rebuild"], measured["peak_rss_mb"])
    log("  increment ...")
    stats["increment_s"], rss["increment"] = Stat(), 0.0
    aside = dataset.root.parent / "held-back"
    now = dataset.increment_dates[1]
    for _ in range(repeat):
        # the month's run as it happens (figures.month_run): last month's run reported at last
        # month's end and left its report caches; the increment reports at the month just ended.
        # Before round 25 both ran at the dataset's fixed reference date, right after a full
        # rebuild of the same files had cached every pattern the increment needed.
        measured, new_protection_files = figures.month_run(dataset, env, aside)
        steps["increment"] = step_seconds(api_url, _last_run_id(dataset))
        stats["increment_s"].add(measured["seconds"])
        stats["increment_cpu_s"].add(measured["tree_cpu_s"])
        rss["increment"] = max(rss["increment"], measured["peak_rss_mb"])
    shutil.rmtree(aside, ignore_errors=True)
    log("  nothing new ...")
    stats["nothing_new_s"], rss["nothing_new"] = Stat(), 0.0
    for _ in range(repeat):
        measured = run_lvv(figures.run_args(dataset, now), env)
        figures.check_last_run(dataset, "unchanged", 0)
        steps["nothing_new"] = step_seconds(api_url, _last_run_id(dataset))
        stats["nothing_new_s"].add(measured["seconds"])
        stats["nothing_new_cpu_s"].add(measured["tree_cpu_s"])
        rss["nothing_new"] = max(rss["nothing_new"], measured["peak_rss_mb"])
    log("  the analyst's script and `lvv outflow` on the same files ..." if analyst else "  `lvv outflow` ...")
    baseline_table: dict[str, int] | None = None
    if analyst:
        stats["baseline_s"], baseline_table = figures.baseline(dataset, repeat)
    stats["outflow_cli_s"] = Stat()
    for _ in range(repeat):
        stats["outflow_cli_s"].add(run_lvv(["outflow", "--ref-date", dataset.ref_date.isoformat(), "--data-dir",
                                            str(dataset.root), "--format", "csv"], env)["seconds"])
    med = {key: stat.median for key, stat in stats.items()}
    report = {run: steps.get(run, {}).get("monthly-report", 0.0) for run in RUNS}
    work = med["increment_s"] - med["nothing_new_s"]
    work_cpu = med["increment_cpu_s"] - med["nothing_new_cpu_s"]
    work_without_report = work - (report["increment"] - report["nothing_new"])
    floor = med["read_floor_s"] + med["stack_import_s"] + med["flow_startup_s"]
    result: dict[str, Any] = {
        "scale": dataset.scale, "factor": dataset.factor, "municipalities": dataset.municipalities,
        "months": dataset.months, "files": len(dataset.files), "rows": dataset.rows,
        **{key: _sig(value) for key, value in med.items()},
        "increment_work_s": _sig(work),
        "increment_work_vs_read_floor": round(work / med["increment_read_floor_s"], 2),
        # the same in CPU seconds: what a busy machine's other processes change far less
        "increment_work_cpu_s": _sig(work_cpu),
        "increment_work_cpu_vs_read_floor_cpu": round(work_cpu / med["increment_read_floor_cpu_s"], 2),
        **{f"report_s_{run}": _sig(seconds) for run, seconds in report.items()},
        "increment_without_report_s": _sig(med["increment_s"] - report["increment"]),
        "increment_work_without_report_s": _sig(work_without_report),
        "increment_work_without_report_vs_read_floor": round(work_without_report / med["increment_read_floor_s"], 2),
        **(analyst_ratios(med, baseline_table, figures.pipeline_table_a(dataset)) if baseline_table is not None else {}),
        "full_rebuild_floor_s": _sig(floor),
        "full_rebuild_vs_floor": round(med["full_rebuild_s"] / floor, 2),
        "full_rebuild_vs_read_floor": round(med["full_rebuild_s"] / med["read_floor_s"], 2),
        "full_rebuild_cpu_vs_read_floor_cpu": round(med["full_rebuild_cpu_s"] / med["read_floor_cpu_s"], 2),
        **{f"peak_rss_mb_{key}": round(value, 1) for key, value in rss.items()},
        "peak_rss_mb": round(max(rss.values()), 1),
        "increment_reference_date": now.isoformat(),
        "increment_new_protection_files": new_protection_files,
        "stats": {key: stat.as_dict() for key, stat in stats.items()},
        **{f"steps_{run}": by_step for run, by_step in steps.items()},
    }
    result["targets"] = targets(result)
    log("  " + ", ".join(f"{k} {result[k]}" for k in ("full_rebuild_s", "increment_s", "nothing_new_s",
                                                       "peak_rss_mb")))
    return result


def analyst_ratios(med: dict[str, float], baseline_table: dict[str, int], pipeline_table: dict[str, int]) -> dict[str, Any]:
    """The analyst's script against `lvv outflow` and the increment (medians: baseline_s,
    outflow_cli_s, increment_s), and whether both give Table A; every scale's, the demo's too."""
    return {"baseline_vs_outflow": round(med["baseline_s"] / med["outflow_cli_s"], 2),
            "baseline_vs_increment": round(med["baseline_s"] / med["increment_s"], 2),
            "baseline_matches": all(baseline_table.get(k, 0) == pipeline_table.get(k, 0)
                                    for k in set(baseline_table) | set(pipeline_table))}


def _last_run_id(dataset: Dataset) -> str:
    from transforms.runs import read_runs

    return read_runs(dataset.curated)[-1]["run_id"]


def targets(fig: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets at one scale: the figure, the limit, met or not (x100's limits are the
    lead's; x16's memory limit applies from x16 on, the 10x and 5x ratios as the issue states them)."""
    out = {
        "increment_work_vs_read_floor": (fig["increment_work_vs_read_floor"], "<=", 5),
        "increment_work_without_report_vs_read_floor": (fig["increment_work_without_report_vs_read_floor"], "<=", 5),
    }
    if "baseline_vs_outflow" in fig:
        out["baseline_vs_outflow"] = (fig["baseline_vs_outflow"], ">=", 10)
    if fig["scale"] == "demo":
        out["full_rebuild_vs_floor"] = (fig["full_rebuild_vs_floor"], "<=", 1.5)
    if fig["scale"] == "national" and 16 <= fig["factor"] < 100:
        out["peak_rss_mb"] = (fig["peak_rss_mb"], "<=", 600)
        if "baseline_vs_increment" in fig:
            out["baseline_vs_increment"] = (fig["baseline_vs_increment"], ">=", 5)
    if fig["scale"] == "national" and fig["factor"] >= 100:
        out["peak_rss_mb"] = (fig["peak_rss_mb"], "<=", 1000)
        out["full_rebuild_vs_read_floor"] = (fig["full_rebuild_vs_read_floor"], "<=", 3)
        # the whole increment under 10 s plus the flow's start-up
        out["increment_s"] = (fig["increment_s"], "<=", round(10 + fig["flow_startup_s"], 2))
    return {key: {"figure": value, "limit": f"{op} {limit}",
                  "met": value <= limit if op == "<=" else value >= limit} for key, (value, op, limit) in out.items()}


def increment_read_floor(dataset: Dataset, repeat: int, cpu: Stat | None = None) -> Stat:
    """The read floor of the deliveries the increment adds: the last month's files (cpu: also its
    CPU seconds, added to it)."""
    from schemas.contracts import contracts

    known = contracts()
    items = [(f.path, known[f.municipality]) for f in figures._files(dataset) if f.period == dataset.last_period]
    return timed(lambda: [figures.parse_only(path, contract) for path, contract in items], repeat, cpu=cpu)


def growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Each figure's exponent k (figure ~ rows^k) between two national scales."""
    out = {}
    for key in GROWING:
        a, b = small.get(key), large.get(key)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > 0 and b > 0:
            k = exponent(a, b, small["rows"], large["rows"])
            out[key] = {"k": round(k, 2), "growth": verdict(k)}
    return out


def series_table(result: dict[str, Any]) -> str:
    """The figures of every scale as one Markdown table, with the growth exponents."""
    scales = result["scales"]
    keys = ("files", "rows", "read_floor_s", "increment_read_floor_s", "stack_import_s", "flow_startup_s",
            "full_rebuild_s", "full_rebuild_floor_s", "full_rebuild_vs_floor", "increment_s", "nothing_new_s",
            "increment_work_s", "increment_work_vs_read_floor", "read_floor_cpu_s", "increment_read_floor_cpu_s",
            "full_rebuild_cpu_s", "full_rebuild_cpu_vs_read_floor_cpu", "increment_cpu_s", "nothing_new_cpu_s",
            "increment_work_cpu_s", "increment_work_cpu_vs_read_floor_cpu", "report_s_full_rebuild", "report_s_increment",
            "report_s_nothing_new", "increment_without_report_s", "increment_work_without_report_s",
            "increment_work_without_report_vs_read_floor", "peak_rss_mb_full_rebuild",
            "peak_rss_mb_increment", "peak_rss_mb_nothing_new", "baseline_s", "outflow_cli_s",
            "baseline_vs_outflow", "baseline_vs_increment", "baseline_matches")
    growing = result.get("growth", {})
    names = list(scales)
    span = [n for n in names if n.startswith("national")]
    head = ["figure", *names] + ([f"k ({span[0]} to {span[-1]})"] if len(span) >= 2 else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        cells = [_cell(scales[n].get(key)) for n in names]
        g = growing.get(key)
        extra = [f"{g['k']:.2f} ({g['growth']})" if g else ""] if len(span) >= 2 else []
        lines.append(f"| `{key}` | " + " | ".join(cells + extra) + " |")
    lines += ["", "| target | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for key in dict.fromkeys(k for n in names for k in scales[n].get("targets", {})):
        cells = []
        for n in names:
            goal = scales[n].get("targets", {}).get(key)
            cells.append("" if goal is None else f"{_cell(goal['figure'])} ({goal['limit']}): "
                                                 f"{'met' if goal['met'] else 'MISSED'}")
        lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
    lines += ["", "Seconds per step of each run (Prefect task runs; `process-deliveries`: the tasks summed):", "",
              "| run | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for run in RUNS:
        for step in dict.fromkeys(s for n in names for s in scales[n].get(f"steps_{run}", {})):
            cells = [_cell(scales[n].get(f"steps_{run}", {}).get(step)) for n in names]
            lines.append(f"| {run}: {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sig(value: float) -> float:
    """Four significant digits (a tiny network's read floor is a fraction of a millisecond)."""
    return float(f"{value:.4g}")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)

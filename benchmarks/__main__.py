"""python -m benchmarks --scale demo|national|tiny [--factor F] [--json PATH]
python -m benchmarks --scale series [--factors 1 4 16] [--json PATH]

Measures the figures of issue 6 on one scale, prints them as a table (median, min and max of the
runs) with the targets, and adds one object for the scale to the JSON file. `series` measures the
flow's figures of issue 13 (full rebuild, increment, nothing new, peak RSS, their floors) at the
demo and at each national factor in one run, with the growth exponents (benchmarks/scale.py).
What each figure means and how it is measured: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import figures
from benchmarks.arguments import json_output, positive_int, positive_number, work_dir
from benchmarks.datasets import Dataset, prepare
from benchmarks.measure import Stat, peak_rss_mb
from benchmarks.scale import analyst_ratios

#: keys every scale's object has (the issue's list), each a median
REQUIRED_KEYS = ("read_floor_s", "full_rebuild_s", "flow_startup_s", "increment_s", "validate_cold_s",
                 "outflow_cold_ms", "outflow_warm_ms", "baseline_s", "peak_rss_mb", "baseline_vs_outflow")
PHASE_KEYS = ("generation_s", "flow_startup_s", "reading_s", "validation_s", "history_s",
              "publishing_s", "report_s")
#: repeats per scale: (flow runs, quick figures, warm queries, temporary-server start-ups);
#: the demo's fit in 5 minutes on 2 cores
REPEATS = {"demo": (3, 3, 20, 1), "national": (1, 3, 10, 1), "tiny": (1, 1, 3, 0)}


def run_benchmark(scale: str, workdir: Path, factor: float | None = None, repeat: int | None = None,
                  api_url: str | None = None, log=print) -> dict[str, Any]:
    """Every figure of one scale as a JSON-ready dict (medians at the top, runs under `stats`)."""
    flow_n, quick_n, warm_n, temporary_n = REPEATS[scale]
    if repeat is not None:
        flow_n, quick_n, temporary_n = repeat, max(repeat, quick_n if repeat > 1 else 1), min(temporary_n, repeat)
    stats: dict[str, Stat] = {}
    extra: dict[str, Any] = {}
    started = time.perf_counter()

    log(f"[{scale}] writing the data ...")
    dataset = prepare(scale, workdir, factor)
    stats["generation_s"] = Stat([dataset.generation_s])
    log(f"[{scale}] {len(dataset.files)} files, {dataset.rows} data rows in {dataset.generation_s:.1f} s")

    log(f"[{scale}] read floor ...")
    stats["read_floor_s"] = figures.read_floor(dataset, quick_n)
    stats["stack_import_s"] = figures.stack_import(quick_n)
    log(f"[{scale}] the plain functions, phase by phase ...")
    rss_before = peak_rss_mb()
    phase = figures.phases(dataset, workdir)
    extra["plain_peak_rss_mb"] = max(peak_rss_mb(), rss_before)
    for key, value in phase.items():
        stats[key] = Stat([value])

    log(f"[{scale}] the flow: start-up, full rebuild, increment ...")
    flow = _flow(dataset, workdir, flow_n, temporary_n, api_url)
    for key, value in flow.items():
        if isinstance(value, Stat):
            stats[key] = value
        else:
            extra[key] = value

    log(f"[{scale}] the steward's check, the queries ...")
    stats["validate_cold_s"], extra["validate"] = figures.validate_cold(workdir, quick_n)
    for key, value in figures.queries(dataset, quick_n, warm_n).items():
        if isinstance(value, Stat):
            stats[key] = value
        else:
            extra[key] = value

    log(f"[{scale}] the analyst's script ...")
    stats["baseline_s"], baseline_table = figures.baseline(dataset, min(flow_n, quick_n))
    pipeline_table = figures.pipeline_table_a(dataset)
    extra["table_a_baseline"] = baseline_table
    extra["table_a_pipeline"] = pipeline_table

    result = _summary(scale, dataset, stats, extra)
    result["benchmark_s"] = round(time.perf_counter() - started, 1)
    return result


def _flow(dataset: Dataset, workdir: Path, flow_n: int, temporary_n: int, api_url: str | None) -> dict:
    if api_url is None:
        return figures.flow_figures(dataset, workdir, flow_n, temporary_n)
    # a server the caller runs (the test suite's harness): no server start-up of our own
    env = figures.flow_env(dataset, workdir / "prefect-client", api_url)
    out: dict[str, Any] = {"flow_startup_s": figures.startup(env, flow_n, warm_up=False)}
    rebuild, rss = Stat(), []
    for _ in range(flow_n):
        import shutil

        shutil.rmtree(dataset.curated, ignore_errors=True)
        measured = figures.run_lvv(figures.run_args(dataset), env)
        rebuild.add(measured["seconds"])
        rss.append(measured["peak_rss_mb"])
    out["full_rebuild_s"], out["peak_rss_mb"] = rebuild, max(rss)
    out["increment_s"] = figures.increment(dataset, env, flow_n)
    return out


def _summary(scale: str, dataset: Dataset, stats: dict[str, Stat], extra: dict[str, Any]) -> dict[str, Any]:
    med = {key: stat.median for key, stat in stats.items()}
    out: dict[str, Any] = {
        "scale": scale, "factor": dataset.factor, "municipalities": dataset.municipalities,
        "months": dataset.months, "files": len(dataset.files), "rows": dataset.rows,
        "ref_date": dataset.ref_date.isoformat(), "cores": os.cpu_count(),
        "task_runner": figures.TASK_RUNNER["name"],
    }
    out.update({key: _round(value) for key, value in med.items()})
    out.update({key: _round(value) if isinstance(value, float) else value for key, value in extra.items()})
    out["rebuild_vs_read_floor"] = _round(med["full_rebuild_s"] / med["read_floor_s"])
    out["plain_vs_read_floor"] = _round(med["plain_total_s"] / med["read_floor_s"])
    # baseline_vs_outflow, baseline_vs_increment, baseline_matches: as the series reports them
    out.update(analyst_ratios(med, extra["table_a_baseline"], extra["table_a_pipeline"]))
    out["baseline_ratio"] = _round(med["baseline_s"] / med["full_rebuild_s"])
    out["baseline_ratio_increment"] = _round(med["baseline_s"] / med["increment_s"])
    out["baseline_ratio_plain"] = _round(med["baseline_s"] / med["plain_total_s"])
    out["phases"] = {key: _round(med.get(key, math.nan)) for key in PHASE_KEYS}
    out["targets"] = targets(scale, out)
    out["stats"] = {key: stat.as_dict() for key, stat in stats.items()}
    missing = [key for key in REQUIRED_KEYS if key not in out]
    if missing:
        raise RuntimeError(f"benchmark produced no {missing}")
    return out


def targets(scale: str, fig: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target of issue 6: the limit, the figure, met or not."""
    outflow_limit_ms = 50 if scale != "national" else 1000
    limits = {
        "full_rebuild_s": 2 * fig["read_floor_s"] + fig["flow_startup_s"],
        "increment_s": 10.0,
        "validate_cold_s": 2.0,
        "outflow_warm_ms": outflow_limit_ms,
        "outflow_cold_ms": 1000 if scale == "national" else None,
    }
    out = {key: {"figure": fig[key], "limit": _round(limit), "met": fig[key] <= limit}
           for key, limit in limits.items() if limit is not None}
    out["baseline_ratio"] = {"figure": fig["baseline_ratio"], "limit": 5, "met": fig["baseline_ratio"] >= 5}
    # issue 13: the analyst's script at least 10x slower than `lvv outflow` (as in the series)
    out["baseline_vs_outflow"] = {"figure": fig["baseline_vs_outflow"], "limit": 10,
                                  "met": fig["baseline_vs_outflow"] >= 10}
    return out


def _round(value: Any) -> Any:
    if isinstance(value, float) and not math.isnan(value):
        return round(value, 4 if abs(value) < 10 else 2)
    return value


def table(result: dict[str, Any]) -> str:
    """The figures of one scale as a fixed-width text table."""
    title = f"{result['scale']}" + (f" x{result['factor']:g}" if result["scale"] == "national" else "")
    lines = [f"LVV benchmark, {title}: {result['municipalities']} municipalities, {result['months']} months, "
             f"{result['files']} files, {result['rows']} data rows, {result['cores']} cores",
             f"{'figure':34s}{'median':>10s}{'min':>10s}{'max':>10s}{'n':>4s}  target",
             "-" * 84]
    goals = result["targets"]
    for key, stat in result["stats"].items():
        goal = goals.get(key)
        mark = "" if goal is None else f"{'met' if goal['met'] else 'MISSED'} (<= {goal['limit']})"
        lines.append(f"{key:34s}{stat['median']:10.3f}{stat['min']:10.3f}{stat['max']:10.3f}"
                     f"{len(stat['runs']):4d}  {mark}")
    lines.append("-" * 84)
    for key in ("peak_rss_mb", "plain_peak_rss_mb", "rebuild_vs_read_floor", "plain_vs_read_floor",
                "baseline_ratio", "baseline_ratio_increment", "baseline_ratio_plain", "baseline_vs_outflow",
                "baseline_vs_increment", "baseline_matches"):
        goal = goals.get(key)
        mark = "" if goal is None else f"  {'met' if goal['met'] else 'MISSED'} (>= {goal['limit']})"
        lines.append(f"{key:34s}{result.get(key)!s:>10s}{mark}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted([*REPEATS, "series"]), default="demo")
    parser.add_argument("--factors", type=positive_number, nargs="+", default=[1.0, 4.0, 16.0],
                        help="series only: the national factors (default 1 4 16)")
    parser.add_argument("--factor", type=positive_number, default=None,
                        help="national only: about this many times the demo's rows (default 100, "
                             "the full network; 1, 4, 16 are 12, 24, 48 months)")
    parser.add_argument("--json", type=json_output, default=None, help="add this scale's figures to this file")
    parser.add_argument("--repeat", type=positive_int, default=None, help="runs per figure (default per scale)")
    parser.add_argument("--workdir", type=work_dir, default=None, help="keep the data here (default: a temp dir)")
    parser.add_argument("--api-url", default=None, help="a running Prefect API (default: start one)")
    parser.add_argument("--task-runner", choices=["auto", "threads", "processes", "dask"], default="auto",
                        help="the flow's task runner in the flow figures (default auto, as `lvv run`)")
    args = parser.parse_args(argv)
    figures.TASK_RUNNER["name"] = args.task_runner
    log = lambda text: print(text, file=sys.stderr, flush=True)
    if args.scale == "series":
        return _series(args, log)
    with tempfile.TemporaryDirectory(prefix="lvv-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = run_benchmark(args.scale, workdir, args.factor, args.repeat, args.api_url, log)
    print(table(result))
    if args.json:
        key = result["scale"] if result["scale"] != "national" else f"national-x{result['factor']:g}"
        key += "" if args.task_runner == "auto" else f"-{args.task_runner}"
        document = json.loads(args.json.read_text()) if args.json.exists() else {}
        document[key] = result
        args.json.write_text(json.dumps(document, indent=1, default=str) + "\n")
        log(f"figures written to {args.json} under {key!r}")
    return 0


def _series(args: argparse.Namespace, log) -> int:
    from benchmarks.scale import series, series_table

    with tempfile.TemporaryDirectory(prefix="lvv-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = series(workdir, args.factors, args.repeat or 1, log)
    print(series_table(result))
    if args.json:
        document = json.loads(args.json.read_text()) if args.json.exists() else {}
        document["series"] = result
        args.json.write_text(json.dumps(document, indent=1, default=str) + "\n")
        log(f"figures written to {args.json} under 'series'")
    return 0


if __name__ == "__main__":
    sys.exit(main())

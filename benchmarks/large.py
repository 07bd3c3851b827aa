"""The figures that stay affordable at the full national scale, measured once each.

    python -m benchmarks.large --factor 100 [--task-runner dask] [--json PATH] [--workdir DIR]

Writes the network, measures the read floor, one full rebuild through the flow in a new process
against a running Prefect server (peak RSS included), one monthly increment, and the queries cold
and warm. It leaves out what `python -m benchmarks --scale national` adds (the plain functions
phase by phase, repeats, the temporary server, the steward's check, the analyst's script), which
at 100x would take hours on 2 cores; docs/performance.md extrapolates those from smaller scales.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import figures
from benchmarks.datasets import prepare
from benchmarks.measure import PrefectServer, Stat, run_lvv


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.large", description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=100.0)
    parser.add_argument("--task-runner", choices=["threads", "dask"], default="threads")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    figures.TASK_RUNNER["name"] = args.task_runner
    log = lambda text: print(text, file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="lvv-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        out = measure(args.factor, workdir, log)
    out["task_runner"] = args.task_runner
    print(json.dumps({k: v for k, v in out.items() if k != "stats"}, indent=1))
    if args.json:
        document = json.loads(args.json.read_text()) if args.json.exists() else {}
        document[f"national-x{args.factor:g}-large-{args.task_runner}"] = out
        args.json.write_text(json.dumps(document, indent=1, default=str) + "\n")
    return 0


def measure(factor: float, workdir: Path, log) -> dict:
    started = time.perf_counter()
    log(f"[x{factor:g}] writing the data ...")
    dataset = prepare("national", workdir, factor)
    log(f"[x{factor:g}] {len(dataset.files)} files, {dataset.rows} data rows in {dataset.generation_s:.0f} s")
    stats = {"generation_s": Stat([dataset.generation_s]), "read_floor_s": figures.read_floor(dataset, 1)}
    log(f"[x{factor:g}] read floor {stats['read_floor_s'].median:.1f} s; full rebuild ...")
    with PrefectServer(workdir / "prefect-server") as server:
        env = figures.flow_env(dataset, workdir / "prefect-client", server.api_url)
        shutil.rmtree(dataset.curated, ignore_errors=True)
        rebuild = run_lvv(figures.run_args(dataset), env, timeout=6 * 3600)
        stats["full_rebuild_s"] = Stat([rebuild["seconds"]])
        log(f"[x{factor:g}] full rebuild {rebuild['seconds']:.0f} s; increment ...")
        stats["increment_s"] = figures.increment(dataset, env, 1)
    log(f"[x{factor:g}] queries ...")
    queries = figures.queries(dataset, 2, 5)
    stats.update({k: v for k, v in queries.items() if isinstance(v, Stat)})
    return {"scale": "national", "factor": factor, "files": len(dataset.files), "rows": dataset.rows,
            "municipalities": dataset.municipalities, "months": dataset.months,
            **{k: round(s.median, 4) for k, s in stats.items()},
            "peak_rss_mb": round(rebuild["peak_rss_mb"], 1), "benchmark_s": round(time.perf_counter() - started),
            "stats": {k: s.as_dict() for k, s in stats.items()}}


if __name__ == "__main__":
    sys.exit(main())

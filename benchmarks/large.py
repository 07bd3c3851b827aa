"""The figures that stay affordable at the full national scale, measured once each.

    python -m benchmarks.large --factor 100 [--task-runner threads|processes|dask] [--json PATH] [--workdir DIR] [--reuse]

Writes the network (or, with --reuse, takes the one a previous run wrote in --workdir), then measures
what `python -m benchmarks --scale series` measures at each scale (benchmarks/scale.py: the read
floors, start-up, a full rebuild, the monthly increment and a run with nothing new through the flow in
new processes against a running Prefect server, with peak RSS and seconds per step, and the targets
of issue 13 at x100), and the queries cold and warm. It leaves out the analyst's script (about 13
minutes at x100) and what `python -m benchmarks --scale national` adds (the plain functions phase by
phase, repeats, the temporary server, the steward's check), which at 100x would take hours on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import figures
from benchmarks.arguments import json_output, positive_number, work_dir
from benchmarks.datasets import prepare
from benchmarks.measure import PrefectServer, Stat
from benchmarks.scale import one_scale, series_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.large", description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=positive_number, default=100.0)
    parser.add_argument("--task-runner", choices=["auto", "threads", "processes", "dask"], default="auto")
    parser.add_argument("--json", type=json_output, default=None)
    parser.add_argument("--workdir", type=work_dir, default=None)
    parser.add_argument("--reuse", action="store_true",
                        help="take the network a previous run wrote in --workdir instead of writing it again")
    args = parser.parse_args(argv)
    if args.reuse and args.workdir is None:
        parser.error("--reuse takes the network a previous run wrote in --workdir: give --workdir")
    figures.TASK_RUNNER["name"] = args.task_runner
    log = lambda text: print(text, file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="lvv-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        out = measure(args.factor, workdir, log, reuse=args.reuse)
    out["task_runner"] = args.task_runner
    print(json.dumps({k: v for k, v in out.items() if k != "stats" and not k.startswith("steps_")}, indent=1))
    print(series_table({"scales": {f"national-x{args.factor:g}": out}}))
    if args.json:
        document = json.loads(args.json.read_text()) if args.json.exists() else {}
        document[f"national-x{args.factor:g}-large-{args.task_runner}"] = out
        args.json.write_text(json.dumps(document, indent=1, default=str) + "\n")
    return 0


def measure(factor: float, workdir: Path, log, reuse: bool = False) -> dict:
    started = time.perf_counter()
    log(f"[x{factor:g}] {'taking the data written before' if reuse else 'writing the data'} ...")
    dataset = prepare("national", workdir, factor, reuse=reuse)
    log(f"[x{factor:g}] {len(dataset.files)} files, {dataset.rows} data rows (written in {dataset.generation_s:.0f} s)")
    with PrefectServer(workdir / "prefect-server") as server:
        out = one_scale(dataset, workdir, server.api_url, 1, log, analyst=False)
    out["generation_s"] = round(dataset.generation_s, 1)
    log(f"[x{factor:g}] queries ...")
    queries = figures.queries(dataset, 2, 5)
    out.update({k: round(v.median, 4) for k, v in queries.items() if isinstance(v, Stat)})
    out["stats"].update({k: v.as_dict() for k, v in queries.items() if isinstance(v, Stat)})
    out["benchmark_s"] = round(time.perf_counter() - started)
    return out


if __name__ == "__main__":
    sys.exit(main())

"""A published history without its last month, to profile the monthly increment on again and again.

    python -m benchmarks.increment_base --network DIR --scale national --factor F --out OUT
    python -m benchmarks.increment_base --scale demo --out OUT

Copies the raw files (and the contracts) of a network `benchmarks.datasets.prepare` wrote in DIR
(DIR itself is only read: a network being written or measured elsewhere is left alone), or writes
the demo, into OUT; holds the last month's deliveries back, publishes the rest through the flow in
a new process (as `benchmarks.scale` does before its increment), and puts the month back. OUT/base
is then a data directory whose next run is the monthly increment. Each profile runs on a fresh
copy at the same place, so that every run, before and after a change, starts from the same bytes:

    rm -rf OUT/run && cp -a OUT/base OUT/run
    LVV_SOURCES_DIR=OUT/sources python -m benchmarks.increment_profile --data-dir OUT/run --reference-date D

(the command printed at the end, with the reference date of the network's figures).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from benchmarks.arguments import existing_dir, positive_number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.increment_base", description=__doc__.splitlines()[0])
    parser.add_argument("--network", type=existing_dir, default=None,
                        help="a directory benchmarks.datasets.prepare wrote (national scales); only read")
    parser.add_argument("--scale", choices=["demo", "national", "tiny"], required=True)
    parser.add_argument("--factor", type=positive_number, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--api-url", default=os.environ.get("PREFECT_API_URL") or None,
                        help="a running Prefect server (default: $PREFECT_API_URL; none: a temporary one)")
    parser.add_argument("--task-runner", choices=["auto", "threads", "processes", "dask"], default="auto",
                        help="the task runner of the run that publishes the history (not of the increment)")
    args = parser.parse_args(argv)
    from benchmarks import figures

    figures.TASK_RUNNER["name"] = args.task_runner
    if args.scale != "demo" and args.network is None:
        parser.error("a national network is copied from --network DIR (benchmarks.datasets.prepare's workdir)")
    print(build(args.scale, args.factor, args.network, args.out, args.api_url))
    return 0


def build(scale: str, factor: float | None, network: Path | None, out: Path, api_url: str | None = None) -> str:
    """Write OUT/base (published, last month held back then put back); the profile command."""
    from benchmarks.datasets import MANIFEST, prepare
    from benchmarks.figures import flow_env, last_month_published
    from lvv.settings import DEMO_MANIFEST

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if network is not None:
        manifest = json.loads((network / MANIFEST).read_text())
        (out / MANIFEST).write_text(json.dumps(manifest) + "\n")
        for name in manifest["files"]:
            target = out / "data" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(network / "data" / name, target)
        demo_manifest = network / "data" / "raw" / DEMO_MANIFEST  # the demo key is taken only with it
        if demo_manifest.is_file():
            shutil.copy2(demo_manifest, out / "data" / "raw" / DEMO_MANIFEST)
        if (network / "sources").is_dir():
            shutil.copytree(network / "sources", out / "sources")
        dataset = prepare(scale, out, factor, reuse=True)
    else:
        dataset = prepare(scale, out, factor)
    env = flow_env(dataset, out / "prefect-client", api_url)
    moves = last_month_published(dataset, env, out / "held-back")  # as benchmarks.scale runs it
    shutil.rmtree(out / "held-back", ignore_errors=True)
    now = dataset.increment_dates[1]
    dataset.root.rename(out / "base")
    sources = f"LVV_SOURCES_DIR={dataset.sources_dir} " if dataset.sources_dir else ""
    return (f"# {len(moves)} deliveries held back and put back; then:\n"
            f"rm -rf {out}/run && cp -a {out}/base {out}/run && {sources}python -m benchmarks.increment_profile "
            f"--data-dir {out}/run --reference-date {now.isoformat()}")


if __name__ == "__main__":
    sys.exit(main())

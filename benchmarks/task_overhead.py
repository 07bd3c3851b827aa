"""What one Prefect task run costs the monthly flow, doing nothing: the floor under every step.

    python -m benchmarks.task_overhead [--tasks 9] [--repeat 5]

A flow that runs 1 empty task and one that runs `--tasks` empty tasks, in this process, against
the API that is set (or a temporary server Prefect starts once): the difference divided by the
extra tasks is what each task run costs in Prefect's bookkeeping (its run record, its states, its
events), whatever the task does. The monthly increment runs six steps that a run with nothing new
does not (process-deliveries, build-history, build-release, revision-check, figure-changes,
switch-release), so its work cannot fall below six of these (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from benchmarks.arguments import positive_int
from benchmarks.measure import Stat


@task(name="nothing", cache_policy=NO_CACHE)
def nothing(n: int) -> int:
    """Do nothing (as the flow's steps, no result cache)."""
    return n


@flow(name="benchmark-task-overhead")
def tasks(count: int) -> int:
    """`count` empty tasks, one after the other (as the flow's steps run)."""
    return sum(nothing(n) for n in range(count))


def measure(count: int, repeat: int) -> dict:
    """Seconds of a flow run with 1 and with `count` empty tasks (medians), and per extra task."""
    tasks(1)  # the first run starts the temporary server and warms the imports: not counted
    one, many = Stat(), Stat()
    for _ in range(repeat):
        for size, stat in ((1, one), (count, many)):
            started = time.perf_counter()
            tasks(size)
            stat.add(time.perf_counter() - started)
    return {"tasks": count, "repeat": repeat, "flow_with_one_task_s": round(one.median, 4),
            f"flow_with_{count}_tasks_s": round(many.median, 4),
            "per_task_s": round((many.median - one.median) / (count - 1), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.task_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=positive_int, default=9, help="empty tasks in the larger flow (at least 2)")
    parser.add_argument("--repeat", type=positive_int, default=5)
    args = parser.parse_args(argv)
    if args.tasks < 2:
        parser.error("--tasks must be at least 2 (the difference to one task is measured)")
    print(json.dumps(measure(args.tasks, args.repeat), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

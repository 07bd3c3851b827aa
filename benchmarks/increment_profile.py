"""Where a monthly run's time goes: the flow run in this process under cProfile.

    python -m benchmarks.increment_profile --data-dir DIR --reference-date YYYY-MM-DD [--out PATH] [--top N] [--cpu]

DIR is a data directory whose raw/ holds the deliveries to process (for the x100 increment: a copy
of `benchmarks.large`'s network with the last month held back, published, and put back; see
docs/performance.md). The flow `monthly-outflow` runs once, in this process, with the Prefect API
the environment gives (else a temporary server, whose start is counted). Prints the process's
CPU seconds (all threads) beside the wall seconds, the wall seconds of each task as the flow's
thread waited for it and of the time outside every task (the flow's own work and Prefect's
engine), beside each the process's CPU seconds while the flow's thread ran it (every thread:
DuckDB's and the worker threads' too), and the functions with the most cumulative wall seconds in the flow's thread. Deliveries
are processed in worker threads, which cProfile does not follow: their seconds show as the wait
for them (`process-deliveries`). DIR is changed as a run changes it: run it on a copy
(`python -m benchmarks.increment_base` writes one to copy again and again).
--out: also keep the profile (pstats) there.
--cpu: count CPU seconds, not wall seconds, and in every thread the run starts, not only the
flow's (each thread profiled on its own, then summed): the tasks in worker threads
(`process_deliveries_task`) show their own CPU seconds, and a machine loaded by others distorts
the figures far less than wall seconds. Threads Python did not start (DuckDB's) are not profiled:
their CPU seconds are in the process CPU column and in "outside every task", not in a function;
and a call that blocks in a thread running an event loop (Prefect's, `select.epoll.poll`) was
seen to show seconds it cannot have spent on the CPU: read the tasks' rows and the process CPU
column, not the event loops' functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import sys
import threading
import time
from datetime import date
from pathlib import Path

from benchmarks.arguments import existing_dir, positive_int

#: the flow's steps, by the function each task runs (flows/monthly_outflow.py)
TASKS = ("tidy", "find_deliveries", "_fan_out", "process_deliveries_task", "checkpoint", "needs_release", "build_history",
         "build_release_task", "revision_check", "figure_changes", "switch_release_task", "record_run",
         "monthly_report_task", "artifacts", "waiting_for_steward")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.increment_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=existing_dir, required=True)
    parser.add_argument("--reference-date", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--top", type=positive_int, default=40)
    parser.add_argument("--cpu", action="store_true",
                        help="CPU seconds of every thread (time.thread_time), not the flow thread's wall seconds")
    args = parser.parse_args(argv)
    # as lvv sets it: a temporary server's telemetry heartbeat otherwise races the flow for its
    # SQLite database and prints a "database is locked" traceback into the profile's output
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    started_cpu, started = cpu_seconds(), time.perf_counter()
    from flows.monthly_outflow import RunParameters, monthly_outflow

    imported_cpu, imported = cpu_seconds(), time.perf_counter()
    profiles = [cProfile.Profile(time.thread_time) if args.cpu else cProfile.Profile()]
    if args.cpu:
        threading.setprofile(_profile_thread(profiles))
    process_cpu: dict[str, float] = {}
    restore = _count_process_cpu(process_cpu)
    profiles[0].enable()
    try:
        summary = monthly_outflow(RunParameters(data_dir=str(args.data_dir), reference_date=args.reference_date))
    finally:
        profiles[0].disable()
        threading.setprofile(None)
        restore()
    ended_cpu, ended = cpu_seconds(), time.perf_counter()
    stats = pstats.Stats(profiles[0])
    for other in profiles[1:]:
        other.disable()
        other.create_stats()
        if other.stats:  # a thread that ran no Python function under the profile has none
            stats.add(other)
    if args.out:
        stats.dump_stats(args.out)
    run = summary["run"] if isinstance(summary, dict) else summary
    print(f"run: {run.get('status')}, {len(run.get('deliveries', []))} deliveries")
    print(f"importing the flow: {imported - started:.2f} s wall, {imported_cpu - started_cpu:.2f} CPU s")
    print(f"the flow run: {ended - imported:.2f} s wall, {ended_cpu - imported_cpu:.2f} CPU s (every thread)")
    by_name = {}
    for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():
        if filename.endswith("monthly_outflow.py") and name in TASKS:
            by_name[name] = by_name.get(name, 0.0) + cumulative
    print("\n| step (every thread) | CPU s | process CPU s |\n|---|---|---|" if args.cpu else
          "\n| step (the flow's thread) | wall s | process CPU s |\n|---|---|---|")
    for name in TASKS:
        if name in by_name:
            print(f"| {name} | {by_name[name]:.2f} | {_shown(process_cpu.get(name))} |")
    flow_s = (ended_cpu - imported_cpu) if args.cpu else (ended - imported)
    print(f"| outside every task (flow start, engine, lock, end) | {flow_s - sum(by_name.values()):.2f} |")
    text = io.StringIO()
    stats.stream = text
    stats.sort_stats("cumulative").print_stats(args.top)
    print(text.getvalue())
    return 0


def _shown(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.2f}"


def _count_process_cpu(seconds: dict[str, float]):
    """The process's CPU seconds (every thread: DuckDB's and the worker threads' too) while the
    flow's thread runs each step of flows/monthly_outflow.py that runs in it: each task's function
    and _fan_out (the processing: the flow's thread waits for its worker threads), added up in
    `seconds` by name. The steps run one after the other, so these add up to most of the run; what
    other threads do meanwhile (Prefect's logging and API calls) is counted in the step it overlaps.
    Returns the function that puts every step back as it was."""
    from flows import monthly_outflow as module

    def counted(name: str, fn):
        def step(*args, **kwargs):
            started = cpu_seconds()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + cpu_seconds() - started
        return step

    undo = []
    for name in TASKS:
        found = getattr(module, name, None)
        if name == "process_deliveries_task" or found is None:  # in worker threads: counted in _fan_out
            continue
        if hasattr(found, "fn"):  # a task: the engine calls its fn
            undo.append((found, "fn", found.fn))
            found.fn = counted(name, found.fn)
        else:
            undo.append((module, name, found))
            setattr(module, name, counted(name, found))

    def restore() -> None:
        for owner, attribute, value in undo:
            setattr(owner, attribute, value)

    return restore


def _profile_thread(profiles: list[cProfile.Profile]):
    """threading.setprofile's hook: each thread started from now on gets its own profiler (CPU
    seconds of that thread), enabled at the thread's first event and kept in `profiles`."""
    def start(frame, event, arg):  # noqa: ARG001 (the signature of a profile function)
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()  # replaces this hook in this thread

    return start


if __name__ == "__main__":
    sys.exit(main())

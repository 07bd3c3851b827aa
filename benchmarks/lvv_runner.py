"""Run one `lvv` command and report its exit code and peak memory as JSON (for run_lvv).

    python -m benchmarks.lvv_runner REPORT.json run --data-dir ...
    python -m benchmarks.lvv_runner REPORT.json flow DATA_DIR REFERENCE_DATE TASK_RUNNER

The second form calls the monthly flow with a task runner (what `lvv run` does, with the
flow's task_runner parameter set).

The report's figures (MB of resident memory; seconds):

- self_peak_rss_mb: this process's own peak, its VmHWM (benchmarks.measure.peak_rss_mb); the
  command runs in this process, so it is the command's peak plus this module's small imports.
- children_peak_rss_mb: the largest peak of any single process this one started, directly or not
  (the processes runner's workers, a Dask cluster's, a temporary Prefect server): the VmHWM each
  descendant last showed in /proc, sampled every 0.2 s while it lived (TreePeak). A descendant
  that lived less than one interval may be missed, and one's growth after its last sample is;
  0 when none was seen.
  Not ru_maxrss of RUSAGE_CHILDREN, as before: Linux carries a child's ru_maxrss over its exec from
  the process that forked it, so a small worker started by this process reported at least this
  process's size. Earlier figures of children_peak_rss_mb could only overstate.
- peak_rss_mb: the peak of this process and its descendants together (the sum of their VmRSS,
  sampled every 0.2 s; a descendant from the second sample that sees it, see TreePeak), and never
  less than self_peak_rss_mb. Pages shared between processes (their libraries) count in each.
- cpu_s: CPU seconds (user + system) of this process, imports included.
- children_cpu_s: CPU seconds of the processes it started and waited for (the processes runner's
  workers, a local Dask cluster's); not the Prefect server the benchmarks start beside it.
- tree_cpu_s: the two together, what the command cost the machine's cores whatever else ran
  beside it (its wall seconds grow with the other processes' load; its CPU seconds much less).
- import_s, command_s: wall seconds of the imports and of the command.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.measure import peak_rss_mb, proc_stat


def tree_memory_kb(root: int) -> dict[tuple[int, int], tuple[int, int]]:
    """VmRSS and VmHWM (kB) now of a process and each of its descendants, by (pid, start time in
    clock ticks: a pid used again is another process) (Linux /proc, whose task/*/children lists each
    thread's children; a process that cannot be read is left out)."""
    found: dict[tuple[int, int], tuple[int, int]] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            start = int(proc_stat(pid)[19])  # starttime, field 22 of stat(5)
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS:", "VmHWM:")))
            found[pid, start] = tuple(int(fields.get(name, "0 kB").split()[0]) for name in ("VmRSS", "VmHWM"))
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as children:
                    todo += [int(child) for child in children.read().split()]
        except (OSError, ValueError, IndexError):
            continue
    return found


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants now, in MB (0 where it cannot be read)."""
    return sum(rss for rss, _ in tree_memory_kb(root).values()) / 1024


class TreePeak:
    """Sampled in a thread while the block lasts: peak, the largest resident memory of this process
    and its descendants together (MB); children_peak, the largest peak (VmHWM, MB) of any one of
    its descendants.

    A child just forked shows the memory of the process that forked it until it execs (shared with
    it, or copied on write), as its VmRSS and its VmHWM: a sample at that moment counted the parent
    twice (a 337 MB process starting a 50 MB child read 674 MB). So a descendant's memory counts in
    peak from the second sample that sees it on (a process that lived less than an interval is
    missed: it was mostly missed before), and a descendant's peak is its last reading (VmHWM only
    grows within one program and an exec starts it again: the last reading is the peak of the
    program the process ended as). A forked child that never execs still counts its parent's pages
    in its own resident memory, as VmRSS does."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        self._last_hwm_kb: dict[tuple[int, int], int] = {}
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def children_peak(self) -> float:
        return max(self._last_hwm_kb.values(), default=0) / 1024

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            tree = tree_memory_kb(me)
            self.peak = max(self.peak, sum(rss for key, (rss, _) in tree.items()
                                           if key[0] == me or key in self._last_hwm_kb) / 1024)
            self._last_hwm_kb.update({key: hwm for key, (_, hwm) in tree.items() if key[0] != me})
            self._stop.wait(self.interval)

    def __enter__(self) -> "TreePeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    report, args = Path(sys.argv[1]), sys.argv[2:]
    measured = measure(lambda: _run(args))
    report.write_text(json.dumps(measured))
    sys.exit(measured["exit_code"])


def measure(run: Callable[[], tuple[int, float]]) -> dict[str, Any]:
    """Call run (which gives its exit code and when its imports were done): the report's figures."""
    started = time.perf_counter()
    with TreePeak() as tree:
        code, imported = run()
    finished = time.perf_counter()
    self_mb = peak_rss_mb()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own, theirs = cpu.ru_utime + cpu.ru_stime, children.ru_utime + children.ru_stime
    return {"exit_code": code, "import_s": imported - started, "command_s": finished - imported,
            "cpu_s": own, "children_cpu_s": theirs, "tree_cpu_s": own + theirs,
            "peak_rss_mb": max(self_mb, tree.peak),
            "self_peak_rss_mb": self_mb, "children_peak_rss_mb": tree.children_peak,
            "prefect_imported": "prefect" in sys.modules}


def _run(args: list[str]) -> tuple[int, float]:
    """Run the command; its exit code and when the imports were done."""
    if args[0] == "flow":
        from flows.monthly_outflow import RunParameters, monthly_outflow

        imported = time.perf_counter()
        data_dir, reference_date, runner = args[1:4]
        monthly_outflow(RunParameters(data_dir=data_dir, reference_date=reference_date, task_runner=runner))
        code = 0
    else:
        from lvv.cli import main as lvv_main

        imported = time.perf_counter()
        sys.argv = ["lvv", *args]
        code = 0
        try:
            lvv_main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, imported


if __name__ == "__main__":
    main()

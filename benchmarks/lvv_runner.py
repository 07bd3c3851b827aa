"""Run one `lvv` command and report its exit code and peak memory as JSON (for run_lvv).

    python -m benchmarks.lvv_runner REPORT.json run --data-dir ...
    python -m benchmarks.lvv_runner REPORT.json flow DATA_DIR REFERENCE_DATE TASK_RUNNER

The second form calls the monthly flow with a task runner (what `lvv run` does, with the
flow's task_runner parameter set).

peak_rss_mb is the peak of this process and its children together (the processes runner's
workers, a Dask cluster's, a temporary Prefect server), sampled every 0.2 s, and never less than
this process's own peak (self_peak_rss_mb); children_peak_rss_mb is the largest single child's.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

from benchmarks.measure import peak_rss_mb


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants now, in MB (Linux /proc, whose
    task/*/children lists each thread's children; 0 where it cannot be read)."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as children:
                    todo += [int(child) for child in children.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


class TreePeak:
    """The largest tree_rss_mb of this process seen while the block lasts, sampled in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(os.getpid()))
            self._stop.wait(self.interval)

    def __enter__(self) -> "TreePeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    report, args = Path(sys.argv[1]), sys.argv[2:]
    started = time.perf_counter()
    with TreePeak() as tree:
        code, imported = _run(args)
    finished = time.perf_counter()
    self_mb = peak_rss_mb()
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report.write_text(json.dumps({
        "exit_code": code, "import_s": imported - started, "command_s": finished - imported,
        "peak_rss_mb": max(self_mb, tree.peak), "self_peak_rss_mb": self_mb, "children_peak_rss_mb": children_mb,
        "prefect_imported": "prefect" in sys.modules}))
    sys.exit(code)


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

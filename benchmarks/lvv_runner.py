"""Run one `lvv` command and report its exit code and peak memory as JSON (for run_lvv).

    python -m benchmarks.lvv_runner REPORT.json run --data-dir ...
    python -m benchmarks.lvv_runner REPORT.json flow DATA_DIR REFERENCE_DATE TASK_RUNNER

The second form calls the monthly flow with a task runner (what `lvv run` does, with the
flow's task_runner parameter set).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    report, args = Path(sys.argv[1]), sys.argv[2:]
    started = time.perf_counter()
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
    finished = time.perf_counter()
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report.write_text(json.dumps({
        "exit_code": code, "import_s": imported - started, "command_s": finished - imported,
        "peak_rss_mb": self_mb, "children_peak_rss_mb": children_mb,
        "prefect_imported": "prefect" in sys.modules}))
    sys.exit(code)


if __name__ == "__main__":
    main()

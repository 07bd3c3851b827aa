"""Flow start-up: a new process imports what the monthly flow imports and runs one empty task.

    python -m benchmarks.noop_flow

Its wall time is what any run pays before the first delivery is read: the interpreter, the
flow's imports, and Prefect's flow and task bookkeeping (plus starting a temporary server when
PREFECT_API_URL is unset).
"""

from __future__ import annotations

from prefect import flow, task

import flows.monthly_outflow  # noqa: F401  (the flow's imports are part of its start-up)


@task(name="nothing")
def nothing() -> int:
    """Do nothing."""
    return 1


@flow(name="benchmark-startup")
def startup() -> int:
    """One empty task."""
    return nothing()


if __name__ == "__main__":
    startup()

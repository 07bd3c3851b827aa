"""benchmarks.measure reads a flow run's task runs from the Prefect API: every one of them, also past
the number the API returns in one answer (the step figures summed the first 200 and dropped the rest)."""

from __future__ import annotations

import time

from benchmarks.measure import step_seconds, task_runs


def test_every_task_run_is_read_also_past_one_page(prefect_harness):
    from prefect import flow, task
    from prefect.context import get_run_context
    from prefect.settings import PREFECT_API_URL

    @task(name="tiny")
    def tiny(n: int) -> int:
        return n

    @flow(name="many-task-runs")
    def many(count: int) -> str:
        for n in range(count):
            tiny(n)
        return str(get_run_context().flow_run.id)

    flow_run_id = many(25)
    api = PREFECT_API_URL.value()
    deadline = time.monotonic() + 60  # task runs reach the API as events: wait until all are there
    while len(found := task_runs(api, flow_run_id, page=200)) < 25 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(found) == 25
    paged = task_runs(api, flow_run_id, page=7)  # four requests, the last one short
    assert len(paged) == 25 and len({run["id"] for run in paged}) == 25
    assert len(task_runs(api, flow_run_id, page=5)) == 25  # the last request comes back empty
    assert set(step_seconds(api, flow_run_id)) == {"tiny"}

"""Prefect flow `monthly-outflow`: new deliveries in, curated publication and figures out.

The flow only orchestrates: every step is a plain function in transforms/ wrapped in a small task.
Retries sit on the tasks that do I/O that can fail transiently (reading a delivery from a share,
publishing); pure steps have none.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field

from lvv.settings import DataPaths, pseudonym_key
from schemas.contracts import contracts
from transforms.curate import curated_tables
from transforms.delivery import process_delivery
from transforms.discover import DeliveryFile, discover, needs_processing
from transforms.protect import Pseudonymiser
from transforms.publish import publish
from transforms.queries import connect, outflow
from transforms.store import load_records, prune, save_result

DEFAULT_DEFINITIONS = ["programme", "evaluation-2021", "evaluation-2022"]


def last_day_of_previous_month(today: date | None = None) -> date:
    today = today or date.today()
    return today.replace(day=1) - timedelta(days=1)


class RunParameters(BaseModel):
    """Parameters of a monthly run; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")
    data_dir: str | None = Field(None, description="data location (default: $LVV_DATA_DIR or ./data)")
    reference_date: date | None = Field(None, description="peildatum (default: last day of previous month)")
    definitions: list[str] = Field(default_factory=lambda: list(DEFAULT_DEFINITIONS),
                                   description="counting rules to report")


@task(name="find-deliveries", cache_policy=NO_CACHE)
def find_deliveries(paths: DataPaths) -> list[DeliveryFile]:
    """List the raw deliveries that are new or changed since they were last processed."""
    logger = get_run_logger()
    found, notes = discover(paths.raw, contracts())
    for note in notes:
        logger.warning(note)
    todo = needs_processing(found, load_records(paths.staged))
    dropped = prune(paths.staged, {(f.municipality, f.period or "unknown") for f in found})
    logger.info("%d deliveries found, %d new or changed, %d withdrawn", len(found), len(todo), len(dropped))
    return todo


@task(name="process-delivery", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE,
      task_run_name="process-{item.delivery_id}")
def process_delivery_task(item: DeliveryFile, paths: DataPaths) -> dict:
    """Read, validate and protect one delivery and store its result."""
    key, _ = pseudonym_key(paths.raw)
    result = process_delivery(item.path, contracts()[item.municipality], item.period,
                              Pseudonymiser(key), display_name=item.relative)
    save_result(paths.staged, result)
    record = result.delivery
    get_run_logger().info(
        "%s: %s, %d rows read, %d curated, %d quarantined, %d skipped", record["delivery_id"],
        record["status"], record["rows_read"], record["rows_curated"], record["rows_quarantined"],
        record["rows_skipped"])
    return record


@task(name="build-history", cache_policy=NO_CACHE)
def build_history(paths: DataPaths) -> dict[str, pd.DataFrame]:
    """Rebuild the episode versions and curated tables from every stored delivery."""
    tables = curated_tables(paths.staged)
    get_run_logger().info("%d episode versions from %d deliveries", len(tables["episode_versions"]),
                          len(tables["deliveries"]))
    return tables


@task(name="publish", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def publish_task(paths: DataPaths, tables: dict[str, pd.DataFrame]) -> list[str]:
    """Replace the curated Parquet files and lvv.duckdb atomically."""
    written = publish(paths.curated, tables)
    get_run_logger().info("published %d files to %s", len(written), paths.curated)
    return [str(p) for p in written]


@task(name="headline-figures", cache_policy=NO_CACHE)
def headline_figures(paths: DataPaths, reference_date: date, definitions: list[str]) -> pd.DataFrame:
    """Outflow per reporting line under each counting rule, as a Prefect table artifact."""
    con = connect(paths.database)
    try:
        frames = [outflow(con, reference_date, d).assign(definition=d) for d in definitions]
    finally:
        con.close()
    table = pd.concat(frames).pivot_table(index="line", columns="definition", values="persons",
                                          aggfunc="sum", sort=False).reset_index()
    create_table_artifact(key="outflow-headline", table=table.to_dict("records"),
                          description=f"Outflow (persons) at {reference_date:%Y-%m-%d} per counting rule")
    return table


def _summary_markdown(processed: list[dict], reference_date: date) -> str:
    lines = [f"# monthly-outflow, reference date {reference_date:%Y-%m-%d}", "",
             "| delivery | status | read | curated | quarantined | skipped |", "|---|---|---|---|---|---|"]
    for r in processed:
        lines.append(f"| {r['delivery_id']} | {r['status']} | {r['rows_read']} | {r['rows_curated']} | "
                     f"{r['rows_quarantined']} | {r['rows_skipped']} |")
    if not processed:
        lines.append("| (nothing new) | | | | | |")
    return "\n".join(lines)


@flow(name="monthly-outflow", log_prints=False)
def monthly_outflow(params: RunParameters | None = None) -> dict:
    """Process new deliveries, rebuild the history, publish, and report the headline figures."""
    params = params or RunParameters()
    paths = DataPaths.resolve(params.data_dir)
    pseudonym_key(paths.raw)  # refuse to start on real data without a key
    reference_date = params.reference_date or last_day_of_previous_month()
    todo = find_deliveries(paths)
    processed = [f.result() for f in process_delivery_task.map(todo, paths=unmapped(paths))] if todo else []
    published = bool(processed) or not paths.database.exists()
    if published:
        tables = build_history(paths)
        publish_task(paths, tables)
    else:
        get_run_logger().info("nothing new: the publication is left unchanged")
    create_markdown_artifact(key="run-summary", markdown=_summary_markdown(processed, reference_date))
    headline = headline_figures(paths, reference_date, params.definitions)
    return {"processed": processed, "published": published, "headline": headline.to_dict("records")}


__all__ = ["RunParameters", "monthly_outflow", "Path"]

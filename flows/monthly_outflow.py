"""Prefect flow `monthly-outflow`: new deliveries in; publication, run record and report out.

The flow only orchestrates: every step is a plain function in transforms/ wrapped in a small task
that logs what it did in one line. Retries sit on the tasks that read deliveries from the share;
pure steps and the publish (which must not half-repeat) have none. The whole run holds the
publication lock, so two runs never write data/curated/ at once.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import pandas as pd
from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flows import progress
from lvv.settings import DataPaths, pseudonym_key
from schemas.contracts import contracts
from schemas.taxonomy import counting_rules
from transforms import monthly_report, runs
from transforms.curate import curated_tables
from transforms.delivery import DeliveryInput, process_deliveries
from transforms.discover import DeliveryFile, discover, needs_processing
from transforms.corrections import corrections_fingerprint
from transforms.protect import Pseudonymiser
from transforms.revisions import reject_if_duplicate
from transforms.publish import (
    build_release,
    clean_leftovers,
    current_manifest,
    inputs_fingerprint,
    publication_lock,
    seal_release,
    switch_release,
)
from transforms.store import clean_store, load_records, prune, save_result

DEFAULT_DEFINITIONS = ["programme", "evaluation-2021", "evaluation-2022"]


def last_day_of_previous_month(today: date | None = None) -> date:
    today = today or date.today()
    return today.replace(day=1) - timedelta(days=1)


class RunParameters(BaseModel):
    """Parameters of a monthly run; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")
    data_dir: str | None = Field(None, description="data location (default: $LVV_DATA_DIR, else ./data)")
    reference_date: date | None = Field(
        None, description="peildatum (default: the last day of the month before the run)")
    definitions: list[str] = Field(default_factory=lambda: list(DEFAULT_DEFINITIONS),
                                   description="counting rules to report", min_length=1)
    small_cell_threshold: int = Field(
        monthly_report.DEFAULT_THRESHOLD, ge=1,
        description="public report: counts of persons below this are suppressed")
    report_language: Literal["nl", "en"] = Field(
        monthly_report.DEFAULT_LANGUAGE, description="language of the monthly report: nl or en")
    lock_wait_seconds: float = Field(
        600, ge=0, description="how long to wait for a run that is still publishing, then stop")
    republish: bool = Field(False, description="build a new release even when no input changed")
    task_runner: Literal["threads", "dask"] = Field(
        "threads", description="where deliveries are processed: threads of this process, or Dask (a "
                               "local cluster, or dask_address; needs the 'dask' extra)")
    dask_address: str | None = Field(None, description="a running Dask scheduler, e.g. tcp://host:8786")
    dask_workers: int = Field(2, ge=1, description="worker processes of the local Dask cluster")
    threads: int = Field(1, ge=1, description="municipalities processed at once by the threads runner; "
                                              "more only helps when reading from a slow share")

    @field_validator("definitions")
    @classmethod
    def _known_rules(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in counting_rules()]
        if unknown:
            raise ValueError(f"unknown counting rule(s) {unknown}; known: {sorted(counting_rules())}")
        return names


@dataclass(frozen=True)
class Work:
    """What find-deliveries decided: files to process, deliveries withdrawn, records before."""

    todo: list[DeliveryFile]
    withdrawn: list[str]
    previous: list[dict]


@task(name="tidy", cache_policy=NO_CACHE)
def tidy(paths: DataPaths) -> None:
    """Remove what a killed run left behind and log the last published run if it was not."""
    removed = clean_leftovers(paths.curated) + clean_store(paths.staged)
    recovered = runs.recover_published_run(paths.curated, current_manifest(paths.curated))
    get_run_logger().info("tidy: %d leftovers removed%s", len(removed),
                          "; the last published run was added to the run log" if recovered else "")


@task(name="find-deliveries", cache_policy=NO_CACHE)
def find_deliveries(paths: DataPaths) -> Work:
    """List the raw deliveries that are new or changed since they were last processed."""
    logger = get_run_logger()
    found, notes = discover(paths.raw, contracts())
    for note in notes:
        logger.warning(note)
    previous = load_records(paths.staged)
    todo = needs_processing(found, previous)
    withdrawn = prune(paths.staged, {(f.municipality, f.period or "unknown") for f in found})
    logger.info("find-deliveries: %d found, %d new or changed, %d withdrawn", len(found), len(todo),
                len(withdrawn))
    return Work(todo=todo, withdrawn=withdrawn, previous=previous)


@task(name="process-deliveries", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE,
      task_run_name="process-{municipality}")
def process_deliveries_task(municipality: str, items: list[DeliveryFile], paths: DataPaths) -> list[dict]:
    """Read, validate and protect one municipality's new deliveries and store each result."""
    key, _ = pseudonym_key(paths.raw)
    contract, pseudonymiser, logger = contracts()[municipality], Pseudonymiser(key), get_run_logger()
    records, shown = [], []
    stored = load_records(paths.staged, municipality)  # its own records only: 25 tasks, 3,000 records
    deliveries = [DeliveryInput(item.path, item.period, item.relative) for item in items]
    for item, result in zip(items, process_deliveries(deliveries, contract, pseudonymiser)):
        result = reject_if_duplicate(result, [r for r in stored if r["status"] == "accepted"])
        save_result(paths.staged, result)
        stored = [r for r in stored if r["period"] != item.period] + [result.delivery]
        shown.append(_findings_shown(result))
        record = result.delivery
        logger.info("%s: %s, %d rows read, %d curated, %d quarantined, %d skipped", record["delivery_id"],
                    record["status"], record["rows_read"], record["rows_curated"],
                    record["rows_quarantined"], record["rows_skipped"])
        records.append(record)
        progress.advance()
    _findings_artifact(municipality, shown)
    return records


#: findings shown per delivery in the findings artifact (all are in validation_issues)
FINDINGS_SHOWN = 20
FINDING_COLUMNS = ("severity", "code", "sheet", "cell_ref", "excel_row", "value", "message")


def _findings_shown(result) -> tuple[str, str, dict[str, int], list[dict]]:
    """One delivery's part of the findings artifact: (delivery, status, count per check, first rows)."""
    rows = [f.as_row("nl") for f in result.findings if f.severity != "info"]
    counts: dict[str, int] = {}
    for row in rows:
        counts[f"{row['severity']} {row['code']}"] = counts.get(f"{row['severity']} {row['code']}", 0) + 1
    shown = [{"delivery": result.delivery["delivery_id"], **{c: row[c] for c in FINDING_COLUMNS}}
             for row in rows[:FINDINGS_SHOWN]]
    return result.delivery["delivery_id"], result.delivery["status"], counts, shown


def _findings_artifact(municipality: str, deliveries: list[tuple[str, str, dict[str, int], list[dict]]]) -> None:
    """One artifact per municipality and run (key findings-<municipality>): the deliveries this run
    processed that have anything to act on, counts per check and the first findings, located.

    One per municipality, not per delivery: a full rebuild then makes five API calls, not one per
    delivery with a finding (docs/performance.md), and its history under one key is that
    municipality's findings run after run.
    """
    acting = [d for d in deliveries if d[2]]
    if not acting:
        return
    description = "; ".join(
        f"{delivery_id} ({status}): " + ", ".join(f"{n}x {k}" for k, n in sorted(counts.items()))
        + (f", first {FINDINGS_SHOWN} shown" if sum(counts.values()) > FINDINGS_SHOWN else "")
        for delivery_id, status, counts, _ in acting)
    create_table_artifact(key=re.sub(r"[^a-z0-9-]+", "-", f"findings-{municipality}".lower()),
                          table=[row for *_, rows in acting for row in rows], description=description)


@flow(name="process-deliveries")
def process_on_runner(batches: dict[str, list[DeliveryFile]], paths: DataPaths) -> list[dict]:
    """The new deliveries on the task runner given with with_options (Dask): a task per municipality."""
    return _process(batches, paths)


@task(name="needs-release", cache_policy=NO_CACHE)
def needs_release(paths: DataPaths, republish: bool) -> str | None:
    """The inputs' fingerprint when they differ from the current release's (else None: no publish)."""
    fingerprint = inputs_fingerprint(paths.staged, corrections_fingerprint(paths.raw, contracts()))
    published = (current_manifest(paths.curated) or {}).get("fingerprint")
    needed = republish or fingerprint != published
    get_run_logger().info("needs-release: %s", "inputs changed, a new release will be built" if needed
                          else "inputs unchanged since the current release")
    return fingerprint if needed else None


@task(name="build-history", cache_policy=NO_CACHE)
def build_history(paths: DataPaths) -> dict[str, pd.DataFrame]:
    """Rebuild the episode versions and curated tables from every stored delivery."""
    tables = curated_tables(paths.staged, raw_dir=paths.raw)
    get_run_logger().info("build-history: %d episode versions from %d deliveries",
                          len(tables["episode_versions"]), len(tables["deliveries"]))
    return tables


@task(name="build-release", cache_policy=NO_CACHE)
def build_release_task(paths: DataPaths, tables: dict[str, pd.DataFrame]) -> Path:
    """Write the new database and Parquet files beside the current release (not yet visible)."""
    building = build_release(paths.curated, tables, runs.read_runs(paths.curated))
    get_run_logger().info("build-release: %s written", building.name)
    return building


@task(name="figure-changes", cache_policy=NO_CACHE)
def figure_changes(paths: DataPaths, building: Path, reference_date: date,
                   definitions: list[str]) -> pd.DataFrame:
    """Headline outflow per line and rule in the new release against the current one."""
    after = runs.headline(building / "lvv.duckdb", reference_date, definitions)
    before = runs.headline(paths.database, reference_date, definitions) if paths.database.exists() else None
    changes = runs.headline_changes(before, after)
    get_run_logger().info("figure-changes: %d of %d headline figures changed",
                          int((changes["change"] != 0).sum()), len(changes))
    return changes


@task(name="switch-release", cache_policy=NO_CACHE)
def switch_release_task(paths: DataPaths, building: Path, fingerprint: str, run: dict) -> dict:
    """Seal the new release with this run's record and make it current in one rename."""
    manifest = seal_release(building, fingerprint, run)
    switch_release(paths.curated, building)
    get_run_logger().info("switch-release: %s is now current", manifest["release_id"])
    return manifest["run"]


@task(name="record-run", cache_policy=NO_CACHE)
def record_run(paths: DataPaths, run: dict) -> dict:
    """Append this run to the run log, data/curated/runs/log.jsonl."""
    runs.append_run(paths.curated, run)
    get_run_logger().info("record-run: %s", runs.summary_line(run))
    return run


@task(name="monthly-report", cache_policy=NO_CACHE)
def monthly_report_task(paths: DataPaths, run: dict, params: RunParameters,
                        reference_date: date) -> monthly_report.ReportData:
    """Write the internal and public workbook and page for the reference date."""
    data = monthly_report.gather(paths.database, reference_date, params.definitions, run)
    written = monthly_report.write_monthly_report(
        data, monthly_report.report_dir(paths.root, reference_date), params.small_cell_threshold,
        params.report_language)
    get_run_logger().info("monthly-report: %d files in %s", len(written),
                          monthly_report.report_dir(paths.root, reference_date))
    return data


@task(name="artifacts", cache_policy=NO_CACHE)
def artifacts(data: monthly_report.ReportData, run: dict) -> None:
    """Headline, changes since last month and data quality, for the Prefect UI."""
    create_table_artifact(key="outflow-headline", table=_records(data.headline),
                          description=f"Outflow (persons) at {data.reference_date} per line and counting rule")
    create_markdown_artifact(key="changes-since-last-month", markdown=_changes_markdown(data, run))
    create_table_artifact(key="data-quality", table=_records(_quality_table(data)),
                          description="Latest delivery per municipality: rows, quarantined rows, findings")
    get_run_logger().info("artifacts: headline, changes since last month, data quality")


@flow(name="monthly-outflow", log_prints=False)
def monthly_outflow(params: RunParameters | None = None) -> dict:
    """Process new deliveries, publish a new release when anything changed, record, report."""
    params = params or RunParameters()
    paths = DataPaths.resolve(params.data_dir)
    pseudonym_key(paths.raw)  # refuse to start on real data without a key
    reference_date = params.reference_date or last_day_of_previous_month()
    run = runs.new_run(reference_date, params.definitions, run_id=_run_id())
    with fewer_gc_passes(), publication_lock(paths.curated, params.lock_wait_seconds):
        try:
            run = _process_and_publish(paths, params, run)
        except Exception as exc:
            record_run(paths, runs.finish_run(run, "failed", message=f"{type(exc).__name__}: {exc}"))
            raise
        progress.step("monthly report")
        data = monthly_report_task(paths, run, params, reference_date)
    artifacts(data, run)
    return {"run": run, "processed": run["deliveries"], "published": run["status"] == "published",
            "headline": data.headline.to_dict("records")}


@contextmanager
def fewer_gc_passes(young: int = 100_000) -> Iterator[None]:
    """Python's cycle collector with a larger young generation while the run lasts.

    A run allocates millions of small objects that live until their batch is done (sheet cells,
    parsed rows, findings); with the default threshold (700 allocations) the collector walks
    them again and again. Processing and storing the demo's deliveries took 15 % less CPU with
    100,000 (docs/performance.md). Nothing is left uncollected: collections are rarer, not off.
    """
    before = gc.get_threshold()
    gc.set_threshold(young, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _process_and_publish(paths: DataPaths, params: RunParameters, run: dict) -> dict:
    """The steps under the lock: tidy, process what is new, publish if the inputs changed."""
    tidy(paths)
    work = find_deliveries(paths)
    progress.step("processing deliveries", total=len(work.todo))
    records = _fan_out(work.todo, paths, params)
    entries = runs.delivery_entries(work.todo, records, work.previous, work.withdrawn)
    fingerprint = needs_release(paths, params.republish)
    if fingerprint is None:
        return record_run(paths, runs.finish_run(run, "unchanged", entries))
    progress.step("building the history and the release")
    tables = build_history(paths)
    building = build_release_task(paths, tables)
    changes = figure_changes(paths, building, run["reference_date"], params.definitions)
    run = switch_release_task(paths, building, fingerprint, runs.finish_run(run, "published", entries, changes))
    return record_run(paths, run)


def _fan_out(todo: list[DeliveryFile], paths: DataPaths, params: RunParameters) -> list[dict]:
    """Process the new deliveries, a task per municipality, in threads or on a Dask cluster.

    A task per municipality, not per delivery: a full rebuild then makes tens of task runs, not
    thousands, and checks the pseudonymisation key once per municipality (docs/performance.md).
    """
    batches: dict[str, list[DeliveryFile]] = {}
    for item in todo:
        batches.setdefault(item.municipality, []).append(item)
    if params.task_runner == "threads" or not batches:
        # the work is Python under the GIL: on 2 cores 6 threads at once were 40 % slower than 1
        return _process(batches, paths, in_flight=params.threads)
    from prefect.settings import get_current_settings
    from prefect_dask import DaskTaskRunner

    # the local workers report to this run's API, also a temporary one (else each starts its own)
    api = {"PREFECT_API_URL": str(get_current_settings().api.url or "")}
    runner = DaskTaskRunner(address=params.dask_address) if params.dask_address else DaskTaskRunner(
        cluster_kwargs={"n_workers": params.dask_workers, "threads_per_worker": 1, "processes": True,
                        "env": api if api["PREFECT_API_URL"] else {}})
    return process_on_runner.with_options(task_runner=runner)(batches, paths)


def _process(batches: dict[str, list[DeliveryFile]], paths: DataPaths,
             in_flight: int | None = None) -> list[dict]:
    """Submit the batches, at most in_flight at a time (None: all at once)."""
    items, records = list(batches.items()), []
    step = in_flight or len(items) or 1
    for start in range(0, len(items), step):
        wave = items[start:start + step]
        futures = [process_deliveries_task.submit(m, batch, paths) for m, batch in wave]
        records += [record for future in futures for record in future.result()]
    return records


def _run_id() -> str | None:
    return str(runtime.flow_run.id) if runtime.flow_run.id else None


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{str(k): monthly_report._plain(v) if not isinstance(v, str) else v for k, v in row.items()}
            for row in frame.astype(object).to_dict("records")]


def _md(value: object) -> str:
    """A value safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _changes_markdown(data: monthly_report.ReportData, run: dict) -> str:
    lines = [f"# monthly-outflow: {runs.summary_line(run)}", "",
             f"Outflow at {data.reference_date} against {data.previous_date} (persons): new exits since "
             "last month, and revisions of last month's figure by later deliveries.", "",
             "| rule | line | last month as known then | revision | new exits | now |",
             "|---|---|---:|---:|---:|---:|"]
    for row in data.changes.itertuples():
        lines.append(f"| {_md(row.definition)} | {_md(row.line)} | {row.as_known_then} | {row.revision:+d} | "
                     f"{row.new_exits:+d} | {row.now} |")
    lines += ["", "Deliveries this run:", "", "| delivery | action | status | read | curated | quarantined |",
              "|---|---|---|---:|---:|---:|"]
    for d in run["deliveries"]:
        lines.append(f"| {_md(d['delivery_id'])} | {d['action']} | {_md(d['status'])} | {d['rows_read']} | "
                     f"{d['rows_curated']} | {d['rows_quarantined']} |")
    if not run["deliveries"]:
        lines.append("| (nothing new) | | | | | |")
    return "\n".join(lines)


def _quality_table(data: monthly_report.ReportData) -> pd.DataFrame:
    findings = data.quality.groupby("municipality")["findings"].sum() if len(data.quality) else {}
    table = data.deliveries[["municipality", "delivery_id", "status", "rows_read", "rows_curated",
                             "rows_quarantined"]].copy()
    table["findings"] = table["municipality"].map(findings).fillna(0).astype("int64")
    per_check = data.quality.groupby("municipality").apply(
        lambda g: "; ".join(f"{code}: {n}" for code, n in zip(g["code"], g["findings"])),
        include_groups=False) if len(data.quality) else {}
    table["findings_per_check"] = [per_check.get(m, "") for m in table["municipality"]]
    return table

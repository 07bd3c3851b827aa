"""Prefect flow `monthly-outflow`: new deliveries in; publication, run record and report out.

The flow only orchestrates: every step is a plain function in transforms/ wrapped in a small task
that logs what it did in one line. Retries sit on the tasks that read deliveries from the share;
pure steps and the publish (which must not half-repeat) have none. The whole run holds the
publication lock, so two runs never write data/curated/ at once.
"""

from __future__ import annotations

import gc
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import pandas as pd
import duckdb
from prefect import flow, get_run_logger, pause_flow_run, runtime, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import FlowPauseTimeout, TerminationSignal
from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flows import progress
from lvv.settings import DataPaths, check_key, pseudonym_key, record_key
from schemas.gates import revision_tolerance
from schemas.contracts import contracts
from schemas.taxonomy import counting_rules
from transforms import monthly_report, runs
from transforms.curate import curated_tables
from transforms.date_notations import CODES as NOTATION_CODES
from transforms.delivery import DeliveryInput, process_deliveries
from transforms.discover import DeliveryFile, discover, needs_processing
from transforms.corrections import corrections_fingerprint
from transforms.protect import Pseudonymiser
from transforms.revisions import reject_if_duplicate
from transforms.publish import (
    build_release,
    clean_leftovers,
    current_manifest,
    current_release,
    inputs_fingerprint,
    publication_lock,
    published_before,
    seal_release,
    switch_release,
    verify_release,
)
from transforms.gate import gate_delivery, user_name
from transforms.store import (clean_store, drop_store_aside, load_delivery_table, load_raw_hashes, load_records,
                              prune, save_raw_hashes, save_result, set_store_aside, stored_records)

DEFAULT_DEFINITIONS = ["programme", "evaluation-2021", "evaluation-2022"]
#: task_runner="auto": worker processes from this many bytes of delivery files to process (the
#: national network's full rebuild, about 320 MB, went from 124 s of processing to 58-78 s on 2 cores;
#: a month of it, about 5 MB, the whole demo, 5 MB, and x16, about 50 MB, whose peak memory
#: with threads is near its 600 MB target, stay in threads)
AUTO_PROCESSES_BYTES = 128 * 2**20
#: task_runner="auto": at most this many worker processes (the full rebuild's peak, 903-911 MB, was
#: measured with 2; more workers by setting `processes`)
AUTO_WORKERS = 2


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
    accept_revisions: bool = Field(False, description="publish even when figures already published move "
                                                      "beyond the tolerance (schemas/checks.yaml, revisions)")
    rebuild: bool = Field(False, description="key rotation: process every raw delivery again into a new "
                                             "store with the current key and publish it as one release")
    revision_wait_seconds: float = Field(
        86_400, ge=0, description="deployment runs: how long to wait for somebody to accept large revisions "
                                  "in the UI; then the run stands down and the old release stays")
    task_runner: Literal["auto", "threads", "processes", "dask"] = Field(
        "auto", description="where deliveries are processed: threads of this process, worker processes "
                            "on this machine's cores (a full rebuild of a large network), Dask (a local "
                            "cluster, or dask_address; needs the 'dask' extra), or auto: worker processes "
                            "when there are several cores and at least AUTO_PROCESSES_BYTES of files to "
                            "process, else threads")
    processes: int | None = Field(None, ge=1, description="worker processes of the processes runner "
                                                          "(default: the machine's cores; auto: at most "
                                                          "AUTO_WORKERS)")
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
def tidy(paths: DataPaths, run: dict, key: str, rebuild: bool) -> list[str]:
    """Log this run as running and the unfinished ones as interrupted, remove what a killed run
    left behind, verify the current release. Returns what is wrong with it (empty: whole)."""
    logger = get_run_logger()
    manifest = current_manifest(paths.curated)
    for record in runs.begin_run(paths.curated, paths.staged, run, manifest):
        logger.warning("tidy: run %s %s", record["run_id"], record["message"])
    removed = clean_leftovers(paths.curated) + clean_store(paths.staged)
    recovered = runs.recover_published_run(paths.curated, manifest)
    if rebuild:
        aside = set_store_aside(paths.staged)
        logger.warning("tidy: key rotation: the store was moved to %s; every delivery is processed again", aside)
    record_key(paths, key)
    problems = verify_release(paths.curated) if published_before(paths.curated) else []
    for problem in problems:
        logger.warning("verify: %s", problem)
    logger.info("tidy: %d leftovers removed%s; %s", len(removed),
                "; the last published run was added to the run log" if recovered else "",
                f"the current release is damaged ({len(problems)} problems): it is rebuilt from the store"
                if problems else "the current release is whole")
    return problems


@task(name="find-deliveries", cache_policy=NO_CACHE)
def find_deliveries(paths: DataPaths) -> Work:
    """List the raw deliveries that are new or changed since they were last processed."""
    logger = get_run_logger()
    found, notes = discover(paths.raw, contracts())
    for note in notes:
        logger.warning(note)
    previous = load_records(paths.staged)
    kept = load_raw_hashes(paths.staged)  # a raw file not written since the last run is not read
    hashes = dict(kept)  # needs_processing adds what it hashes; kept stays what the file holds
    todo = needs_processing(found, previous, hashes)
    save_raw_hashes(paths.staged, hashes, {f.relative for f in found}, kept)
    withdrawn = prune(paths.staged, {(f.municipality, f.folder) for f in found})
    logger.info("find-deliveries: %d found, %d new or changed, %d withdrawn", len(found), len(todo),
                len(withdrawn))
    return Work(todo=todo, withdrawn=withdrawn, previous=previous)


@task(name="process-deliveries", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE,
      task_run_name="process-{municipality}")
def process_deliveries_task(municipality: str, items: list[DeliveryFile], paths: DataPaths,
                            run_id: str | None = None) -> list[dict]:
    """Read, validate, protect and gate one municipality's new deliveries and store each result."""
    key = _RUN_KEYS.get(str(paths.raw)) or pseudonym_key(paths.raw)[0]
    contract, pseudonymiser, logger = contracts()[municipality], Pseudonymiser(key), get_run_logger()
    records, shown = [], []
    stored = load_records(paths.staged, municipality)  # its own records only: 25 tasks, 3,000 records
    deliveries = [DeliveryInput(item.path, item.period, item.relative) for item in items]
    last_episodes: dict[str, pd.DataFrame] = {}
    for item, result in zip(items, process_deliveries(deliveries, contract, pseudonymiser)):
        result = reject_if_duplicate(result, [r for r in stored if r["status"] == "accepted"])
        result.delivery, verdict = gate_delivery(
            result.delivery, result.episodes, result.quarantine, stored,
            lambda previous: last_episodes.get(previous["delivery_id"])
            if previous["delivery_id"] in last_episodes else load_delivery_table(paths.staged, previous, "episodes"),
            paths.curated, contract.gates)
        if result.delivery["status"] == "accepted":  # the next one is compared with it: keep its rows
            last_episodes = {result.delivery["delivery_id"]: result.episodes}
        result.delivery["run_id"] = run_id
        if verdict is not None and verdict.held:
            logger.warning("%s is %s: %s", result.delivery["delivery_id"],
                           "released (was held)" if result.delivery["status"] == "accepted" else "HELD, not in force",
                           verdict.reason("en"))
        save_result(paths.staged, result)
        stored = [r for r in stored if r["period"] != item.period] + [result.delivery]
        shown.append(_findings_shown(result))
        record = result.delivery
        logger.info("%s: %s, %d rows read, %d curated, %d quarantined, %d skipped", record["delivery_id"],
                    record["status"], record["rows_read"], record["rows_curated"],
                    record["rows_quarantined"], record["rows_skipped"])
        if record["status"] == "rejected":  # a warning: shown on the terminal too, with the reason
            logger.warning("%s is rejected, nothing of it is in force: %s", record["delivery_id"],
                           rejection_reason(result.findings))
        records.append(record)
        progress.advance()
    _findings_artifact(municipality, shown)
    return records


#: the pseudonymisation key of each run in progress in this process, by raw location: the flow
#: checks it once and its tasks in threads take it from here (on a Dask worker, in another
#: process, a task checks it itself). Checking it looks at every raw file (is the location the
#: demo's?): 25 tasks did that 25 times, 0.7 s at x4 and growing with the files stored
#: (docs/performance.md). Never a task parameter: Prefect records those.
_RUN_KEYS: dict[str, str] = {}


def rejection_reason(findings) -> str:
    """Why a delivery was rejected: its fatal findings' messages (scrubbed like every stored one)."""
    fatal = [f.as_row("en") for f in findings if f.severity == "fatal"]
    return "; ".join(f"{row['message']} {row['fix']}".strip() for row in fatal[:3]) or "no fatal finding recorded"


#: findings shown per delivery in the findings artifact (all are in validation_issues)
FINDINGS_SHOWN = 20
FINDING_COLUMNS = ("severity", "code", "sheet", "cell_ref", "excel_row", "value", "message")


def _findings_shown(result) -> tuple[str, str, dict[str, int], list[dict]]:
    """One delivery's part of the findings artifact: (delivery, status, count per check, first rows).

    Counted from each finding's severity and code; only the rows shown are rendered (a message
    each): save_result renders every finding once already, for the store."""
    # a note of a column's dates in another notation first: it says at once what thousands of cells share
    acting = ([f for f in result.findings if f.code in NOTATION_CODES]
              + [f for f in result.findings if f.severity != "info"])
    counts: dict[str, int] = {}
    for f in acting:
        counts[f"{f.severity} {f.code}"] = counts.get(f"{f.severity} {f.code}", 0) + 1
    shown = [{"delivery": result.delivery["delivery_id"], **{c: row[c] for c in FINDING_COLUMNS}}
             for row in (f.as_row("nl") for f in acting[:FINDINGS_SHOWN])]
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


#: the batches of each run's process-deliveries subflow, by run id, handed over in this process (a
#: subflow runs in its caller's process), never as the subflow's parameters: Prefect's API refuses a
#: flow run whose parameters pass 512 KB when serialized (HTTP 422, before any work), and a full
#: rebuild of the national network lists 3,000 files, 525 KB with their paths under /work/tmp
_RUN_WORK: dict[str, dict[str, list[DeliveryFile]]] = {}


@flow(name="process-deliveries")
def process_on_runner(paths: DataPaths, run_id: str, sizes: dict[str, int] | None = None) -> list[dict]:
    """The new deliveries of run `run_id` (_RUN_WORK) on the task runner given with with_options
    (worker processes, Dask): a task per municipality. sizes: each batch's bytes, as _fan_out
    measured them. Its parameters stay the same size however many files the run processes."""
    return _process(_RUN_WORK[run_id], paths, run_id=run_id, elsewhere=True, sizes=sizes)


@task(name="needs-release", cache_policy=NO_CACHE)
def needs_release(paths: DataPaths, republish: bool) -> tuple[str | None, list[dict]]:
    """The inputs' fingerprint when they differ from the current release's (else None: no publish),
    and the stored records it hashed: the store as this run leaves it (every write of a record in a
    run comes before this step; a release of a held delivery waits for the run's lock), read once
    for the fingerprint and the run's final state (waiting_for_steward), not twice (x100: 3,000 records,
    0.07 CPU s a read; 0.5 s wall at load 5)."""
    stored = stored_records(paths.staged)
    fingerprint = inputs_fingerprint(paths.staged, corrections_fingerprint(paths.raw, contracts()), records=stored)
    published = (current_manifest(paths.curated) or {}).get("fingerprint")
    needed = republish or fingerprint != published
    get_run_logger().info("needs-release: %s", "inputs changed, a new release will be built" if needed
                          else "inputs unchanged since the current release")
    return (fingerprint if needed else None), [record for _, record in stored]


@task(name="build-history", cache_policy=NO_CACHE)
def build_history(paths: DataPaths) -> dict[str, pd.DataFrame]:
    """Rebuild the episode versions and curated tables from every stored delivery."""
    merges: dict[str, list[str]] = {}
    tables = curated_tables(paths.staged, raw_dir=paths.raw, merges=merges)
    logger = get_run_logger()
    logger.info("build-history: %d episode versions from %d deliveries; history kept for %d municipalities, "
                "the latest delivery appended for %d, merged whole for %d", len(tables["episode_versions"]),
                len(tables["deliveries"]), len(merges["kept"]), len(merges["appended"]), len(merges["merged"]))
    if merges["other_layout"]:
        logger.warning("build-history: the history kept in %s matched no municipality's inputs (kept by other "
                       "code, in another layout or language): every municipality was merged again, once",
                       merges["other_layout"][0])
    return tables


@task(name="build-release", cache_policy=NO_CACHE)
def build_release_task(paths: DataPaths, tables: dict[str, pd.DataFrame], run_id: str) -> Path:
    """Write the new database and Parquet files beside the current release (not yet visible);
    its run log: every run before this one (which the switch adds, finished)."""
    earlier = [r for r in runs.read_runs(paths.curated) if r["run_id"] != run_id]
    building = build_release(paths.curated, tables, earlier)
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
    out_dir = monthly_report.report_dir(paths.root, reference_date)
    # the same release, date and rules as a run before (nothing new): its gathered figures again
    data = monthly_report.gather_cached(paths.database, reference_date, params.definitions, run,
                                        out_dir.parent / monthly_report.GATHER_CACHE)
    runs.fault_point("during-report")
    written = monthly_report.write_monthly_report(data, out_dir, params.small_cell_threshold,
                                                  params.report_language)
    get_run_logger().info("monthly-report: %d files in %s", len(written), out_dir)
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
    """Process new deliveries, gate them, publish a new release when anything changed (unless
    figures already published move too far), record, report."""
    params = params or RunParameters()
    paths = DataPaths.resolve(params.data_dir)
    key, _ = pseudonym_key(paths.raw)  # refuse to start on real data without a key
    if not params.rebuild:
        check_key(paths, key)  # refuse before reading any delivery when the store has another key
    reference_date = params.reference_date or last_day_of_previous_month()
    run = runs.new_run(reference_date, params.definitions, run_id=_run_id())
    on_wait = get_run_logger().warning
    with fewer_gc_passes(), run_key(paths, key), publication_lock(
            paths.curated, params.lock_wait_seconds, on_wait=on_wait, holder=f"run {run['run_id']}"):
        try:
            run, stored = _process_and_publish(paths, params, run, key)
            progress.step("monthly report")
            data = monthly_report_task(paths, run, params, reference_date)
        except BaseException as exc:
            so_far = runs.latest_record(paths.curated, run["run_id"]) or run  # with what it processed
            record_run(paths, runs.finish_run({**so_far, **{k: v for k, v in run.items() if v}}, "failed",
                                              message=_failure(run, exc)))
            raise
        run = record_run(paths, run)
    artifacts(data, run)
    from prefect.states import Completed
    from transforms.run_states import waiting_for_steward

    waiting = waiting_for_steward(run, paths.staged, paths.database, paths.raw, records=stored)
    summary = {"run": run, "processed": run["deliveries"], "published": run["status"] == "published",
               "headline": data.headline.to_dict("records"), "needs_steward": waiting}
    # a finished run that leaves work for a steward says so in its final state (still Completed: a
    # held file is a normal month, no retry or failure alert); a caller still gets the summary
    if not waiting:
        return summary
    return Completed(data=summary, name="Needs steward", message="needs a steward: " + "; ".join(waiting))


def _failure(run: dict, exc: BaseException) -> str:
    """The message of a failed run: the error, and what it had published before it."""
    what = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    if isinstance(exc, TerminationSignal):  # Prefect's handler of SIGTERM in a flow run
        what = f"stopped by {signal.Signals(exc.signal).name}"
    elif isinstance(exc, SystemExit) and isinstance(exc.code, int) and exc.code > 128:
        what = f"stopped by {signal.Signals(exc.code - 128).name}"
    if run.get("status") == "published":
        return f"release {run['release_id']} was published; then the monthly report failed: {what}"
    return what


@contextmanager
def run_key(paths: DataPaths, key: str) -> Iterator[None]:
    """The run's key where its tasks in this process find it (_RUN_KEYS), while the run lasts."""
    _RUN_KEYS[str(paths.raw)] = key
    try:
        yield
    finally:
        _RUN_KEYS.pop(str(paths.raw), None)


#: the cycle collector's young generation while a run lasts (fewer_gc_passes)
YOUNG_GENERATION = 100_000


@contextmanager
def fewer_gc_passes(young: int = YOUNG_GENERATION) -> Iterator[None]:
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


def _process_and_publish(paths: DataPaths, params: RunParameters, run: dict, key: str) -> tuple[dict, list[dict]]:
    """The steps under the lock: tidy and verify, process and gate what is new, publish if the
    inputs changed or the release is damaged, unless figures already published move too far.
    Returns the run and the stored records as it leaves them (needs_release's: not to be changed)."""
    problems = tidy(paths, run, key, params.rebuild)
    work = find_deliveries(paths)
    progress.step("processing deliveries", total=len(work.todo))
    records = _fan_out(work.todo, paths, params, run["run_id"])
    entries = runs.delivery_entries(work.todo, records, work.previous, work.withdrawn)
    run = checkpoint(paths, {**run, "deliveries": entries})
    runs.fault_point("after-processing")
    notes = ([f"repaired the damaged release ({'; '.join(problems)})"] if problems else []) + \
        ([f"key rotation: every delivery processed again with the new key"] if params.rebuild else []) + \
        held_notes(records)
    fingerprint, stored = needs_release(paths, params.republish or params.rebuild or bool(problems))
    if fingerprint is None:
        return runs.finish_run(run, "unchanged", entries, message="; ".join(notes) or None), stored
    progress.step("building the history and the release")
    tables = build_history(paths)
    building = build_release_task(paths, tables, run["run_id"])
    runs.fault_point("during-publish")
    table = revision_check(paths, building, run["reference_date"], params.definitions)
    accepted = _decide(table, params)
    if accepted is False:
        text = runs.revisions_text(table)
        return runs.finish_run(run, "awaiting-acceptance", entries, message="; ".join(notes + [
            f"not published: figures already published would move beyond the tolerance: {text}. "
            "The current release stays in force; to publish, run `lvv run --accept-revisions`"])), stored
    if accepted:
        notes.append(f"large revisions accepted by {user_name()}: {runs.revisions_text(table)}")
    changes = figure_changes(paths, building, run["reference_date"], params.definitions)
    done = runs.finish_run(run, "published", entries, changes, message="; ".join(notes) or None)
    run = switch_release_task(paths, building, fingerprint, done)
    if params.rebuild:
        drop_store_aside(paths.staged)
    return run, stored


@task(name="checkpoint", cache_policy=NO_CACHE)
def checkpoint(paths: DataPaths, run: dict) -> dict:
    """The run log's `running` entry with what the run processed so far."""
    runs.append_run(paths.curated, {**run, "status": "running"})
    return run


def held_notes(records: list[dict]) -> list[str]:
    """One note per delivery this run held, with the reason."""
    return [f"held, not in force: {r['delivery_id']} ({r['hold_reason']}); release it with "
            f"`lvv deliveries release {r['delivery_id']} --reason ...` if it is right" for r in records
            if r.get("status") == "held"]


@task(name="revision-check", cache_policy=NO_CACHE)
def revision_check(paths: DataPaths, building: Path, reference_date: date,
                   definitions: list[str]) -> pd.DataFrame | None:
    """Figures already published in the new release against the current one: the month ends of
    the last months up to the reference date, and no later than the current release knows (its
    latest stand-per date: a later month's new exits are news, not revisions). None when there is
    no current release to compare with (the first publish)."""
    logger = get_run_logger()
    current = current_release(paths.curated)
    if current is None or not (current / "lvv.duckdb").is_file():
        logger.info("revision-check: no current release, nothing to compare with")
        return None
    tolerance = revision_tolerance()
    try:
        known_until = runs.known_until(current / "lvv.duckdb") or reference_date
        dates = runs.month_ends(min(reference_date, known_until), tolerance.months)
        before = runs.release_series(current, dates, definitions)
    except (duckdb.Error, OSError, ValueError) as exc:  # a damaged release being repaired
        logger.warning("revision-check: the current release cannot be read (%s); nothing compared", exc)
        return None
    after = runs.check_series(building, dates, reference_date, definitions)  # kept: the next run's before
    table = runs.revisions(before, after, tolerance)
    large = table[table["is_large"]]
    logger.info("revision-check: %d figures at %d month ends revised, %d beyond the tolerance",
                len(table), len(dates), len(large))
    if len(large):
        create_table_artifact(key="revisions", table=_records(table.assign(month_end=table["month_end"].astype(str))),
                              description=f"Revisions of figures already published, {len(large)} beyond the "
                                          f"tolerance ({tolerance.persons} persons and {tolerance.share:.0%})")
    return table


class RevisionDecision(RunInput):
    """The answer to a paused run: publish the revisions (accept) or not, and why."""

    accept: bool = Field(False, description="publish the new release with these revisions")
    reason: str = Field("", description="why (recorded in the run log)")


def _decide(table: pd.DataFrame | None, params: RunParameters) -> bool | None:
    """None: nothing beyond the tolerance. True: accepted (the option, or the answer in the UI).
    False: not accepted; a deployment run asks in the UI first and takes no answer as a no."""
    if table is None or not table["is_large"].any():
        return None
    if params.accept_revisions:
        return True
    if runtime.deployment.id is None or params.revision_wait_seconds <= 0:
        return False
    logger = get_run_logger()
    logger.warning("waiting up to %.0f s for somebody to accept or refuse the revisions (artifact "
                   "`revisions`): Resume the run in the UI", params.revision_wait_seconds)
    try:
        answer = pause_flow_run(wait_for_input=RevisionDecision, timeout=int(params.revision_wait_seconds),
                                key="revisions")
    except FlowPauseTimeout:
        logger.warning("no answer: the run stands down, the current release stays in force")
        return False
    logger.warning("revisions %s: %s", "accepted" if answer.accept else "refused", answer.reason)
    return bool(answer.accept)


def _fan_out(todo: list[DeliveryFile], paths: DataPaths, params: RunParameters, run_id: str) -> list[dict]:
    """Process the new deliveries, a task per municipality, in threads, in worker processes or on
    a Dask cluster.

    A task per municipality, not per delivery: a full rebuild then makes tens of task runs, not
    thousands, and checks the pseudonymisation key once per municipality (docs/performance.md).
    """
    batches: dict[str, list[DeliveryFile]] = {}
    for item in todo:
        batches.setdefault(item.municipality, []).append(item)
    where, workers = params.task_runner if batches else "threads", params.processes
    # each file's size, asked once: to choose the runner, then to submit the largest batch first
    sizes = {m: sum(map(_size, batch)) for m, batch in batches.items()} if where != "threads" else None
    if where == "auto":
        where, workers = choose_runner(list(sizes.values()), cores(), params.processes)
    if where == "threads":
        # the work is Python under the GIL: on 2 cores 6 threads at once were 40 % slower than 1
        return _process(batches, paths, in_flight=params.threads, run_id=run_id)
    # the workers report to this run's API, also a temporary one (else each starts its own)
    api = run_api_url()
    if where == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        # each worker gets this process's environment (the key, LVV_SOURCES_DIR) and settings
        runner = ProcessPoolTaskRunner(max_workers=min(workers or cores(), len(batches)),
                                       initializer=worker_started)
    else:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=params.dask_address) if params.dask_address else DaskTaskRunner(
            cluster_kwargs={"n_workers": params.dask_workers, "threads_per_worker": 1, "processes": True,
                            "env": {"PREFECT_API_URL": api} if api else {}})
    from prefect.settings import PREFECT_API_URL, temporary_settings

    _RUN_WORK[run_id] = batches
    try:
        with temporary_settings(updates={PREFECT_API_URL: api} if api else {}):
            return process_on_runner.with_options(task_runner=runner)(paths, run_id, sizes)
    finally:
        _RUN_WORK.pop(run_id, None)


def choose_runner(batch_bytes: list[int], cores: int, processes: int | None = None) -> tuple[str, int | None]:
    """The task runner "auto" stands for, and its workers: worker processes when the machine has
    several cores, the work several municipalities and at least AUTO_PROCESSES_BYTES of files
    (each worker imports the stack, 2 to 3 CPU seconds, which a month's or a small network's
    deliveries do not win back); else threads. At most AUTO_WORKERS workers unless `processes`
    says more: the configuration whose peak memory was measured (docs/performance.md)."""
    if cores < 2 or len(batch_bytes) < 2 or sum(batch_bytes) < AUTO_PROCESSES_BYTES:
        return "threads", None
    return "processes", processes or min(cores, AUTO_WORKERS)


def run_api_url() -> str:
    """The Prefect API this flow run reports to: the one set, or the temporary server Prefect
    started for it ("" when neither is known)."""
    from prefect.context import FlowRunContext
    from prefect.settings import get_current_settings

    context = FlowRunContext.get()
    client = context.client if context is not None else None
    return str(client.api_url) if client is not None else str(get_current_settings().api.url or "")


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_started() -> None:
    """Run once in each worker process of the processes runner: the flow's setting of the cycle
    collector (fewer_gc_passes), which a new process does not inherit."""
    gc.set_threshold(YOUNG_GENERATION, *gc.get_threshold()[1:])


def _process(batches: dict[str, list[DeliveryFile]], paths: DataPaths,
             in_flight: int | None = None, run_id: str | None = None, elsewhere: bool = False,
             sizes: dict[str, int] | None = None) -> list[dict]:
    """Submit the batches, at most in_flight at a time (None: all at once, the largest first, so
    that the last task to end is a small one); the records in the batches' order.

    elsewhere: the tasks run in other processes (whose progress this process shows as each ends).
    sizes: each batch's bytes (by municipality), when known; else its files are asked.
    """
    items, records = list(batches.items()), []
    if in_flight is None:
        known = sizes if sizes is not None else {m: sum(map(_size, batch)) for m, batch in items}
        order = sorted(items, key=lambda kv: -known[kv[0]])
        futures = {m: process_deliveries_task.submit(m, batch, paths, run_id) for m, batch in order}
        done = {}
        for m, future in futures.items():
            done[m] = future.result()
            if elsewhere:
                progress.advance(len(batches[m]))
        return [record for m, _ in items for record in done[m]]
    for start in range(0, len(items), in_flight):
        wave = items[start:start + in_flight]
        futures = [process_deliveries_task.submit(m, batch, paths, run_id) for m, batch in wave]
        records += [record for future in futures for record in future.result()]
    return records


def _size(item: DeliveryFile) -> int:
    try:
        return item.path.stat().st_size
    except OSError:
        return 0


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
    table = data.deliveries[["municipality", "delivery_id", "status", "status_reason", "rows_read",
                             "rows_curated", "rows_quarantined", "episodes_stale", "episodes_missing"]].copy()
    table["findings"] = table["municipality"].map(findings).fillna(0).astype("int64")
    per_check = data.quality.groupby("municipality").apply(
        lambda g: "; ".join(f"{code}: {n}" for code, n in zip(g["code"], g["findings"])),
        include_groups=False) if len(data.quality) else {}
    table["findings_per_check"] = [per_check.get(m, "") for m in table["municipality"]]
    return table

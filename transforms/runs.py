"""The run record: what each monthly run did, kept in data/curated/runs/log.jsonl.

One JSON object per line, one line per run: when, which deliveries (new, changed, withdrawn),
rows read / curated / quarantined, the status (published, unchanged, failed), and which headline
figures changed and by how much. Every publish loads the log into the database as the `run_log`
table behind the `runs` view. The log is rewritten whole under the publication lock (temporary
file, then rename), so it is never half-written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from transforms.discover import DeliveryFile
from transforms.files import replace_file
from transforms.store import period_folder

RUNS_LOG = "runs/log.jsonl"
#: running: started, not finished (a run killed in between is marked interrupted by the next);
#: awaiting-acceptance: a release was built with large revisions and not switched to;
#: released: not a monthly run but a steward's release of a held delivery
STATUSES = ("published", "unchanged", "failed", "running", "interrupted", "awaiting-acceptance", "released")
#: environment variables of the fault points (tests of what a killed run leaves): the point's name
#: and what happens there, `kill` (SIGKILL of this process) or `pause:<dir>` (wait for <dir>/go)
FAULT_AT_ENV, FAULT_ACTION_ENV = "LVV_FAULT_AT", "LVV_FAULT_ACTION"


def new_run(reference_date: date, definitions: list[str], run_id: str | None = None) -> dict:
    """A run record at its start."""
    return {"run_id": run_id or uuid.uuid4().hex, "started_at": _now(), "finished_at": None,
            "status": None, "reference_date": reference_date, "definitions": list(definitions),
            "release_id": None, "deliveries": [], "rows_read": 0, "rows_curated": 0,
            "rows_quarantined": 0, "changes": [], "message": None}


def delivery_entries(todo: list[DeliveryFile], records: list[dict], previous: list[dict],
                     withdrawn: list[str]) -> list[dict]:
    """One entry per delivery the run touched: new, changed (with the hash it replaced) or withdrawn.

    Paired by where each is stored (<municipality>/<store.stored_folder>, a period's delivery id;
    what prune names the withdrawn by), and each file with the record made of it: deliveries
    rejected without a period all have the delivery id <municipality>/?."""
    before = {f"{r['municipality']}/{period_folder(r)}": r.get("sha256") for r in previous}
    by_file = {r["file"]: r for r in records if r.get("file")}
    by_id = {r["delivery_id"]: r for r in records}
    entries = []
    for item in todo:
        record = by_file.get(item.relative) or by_id.get(item.delivery_id, {})
        old = before.get(f"{item.municipality}/{item.folder}")
        entries.append({"delivery_id": item.delivery_id, "action": "changed" if old else "new",
                        "status": record.get("status"), "sha256": record.get("sha256"),
                        "previous_sha256": old, **{k: int(record.get(k, 0)) for k in
                                                   ("rows_read", "rows_curated", "rows_quarantined")}})
    for delivery_id in withdrawn:
        entries.append({"delivery_id": delivery_id, "action": "withdrawn", "status": None, "sha256": None,
                        "previous_sha256": before.get(delivery_id), "rows_read": 0, "rows_curated": 0,
                        "rows_quarantined": 0})
    return entries


def finish_run(run: dict, status: str, deliveries: list[dict] | None = None,
               changes: pd.DataFrame | None = None, message: str | None = None) -> dict:
    """The record completed with its outcome; totals summed over the deliveries."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {STATUSES}")
    deliveries = run["deliveries"] if deliveries is None else deliveries
    done = {**run, "status": status, "finished_at": _now(), "deliveries": deliveries, "message": message}
    for key in ("rows_read", "rows_curated", "rows_quarantined"):
        done[key] = int(sum(d[key] for d in deliveries))
    if changes is not None:
        done["changes"] = json.loads(changes[changes["change"] != 0].to_json(orient="records"))
    return done


def begin_run(curated_dir: Path, staged_root: Path, run: dict, manifest: dict | None) -> list[dict]:
    """Under the lock, at the start of a run: mark the runs that never finished as interrupted
    (listing what they processed) and record this one as `running`. Returns the interrupted."""
    interrupted = [interrupted_run(r, staged_root, manifest) for r in read_runs(curated_dir)
                   if r["status"] == "running" and r["run_id"] != run["run_id"]]
    for record in interrupted:
        append_run(curated_dir, record)
    append_run(curated_dir, {**run, "status": "running"})
    return interrupted


def interrupted_run(run: dict, staged_root: Path, manifest: dict | None) -> dict:
    """A run that never finished, as the log keeps it: what it processed (its deliveries in the
    store carry its run_id) and whether its release was switched to before it ended."""
    from transforms.store import load_records

    processed = [r for r in load_records(staged_root) if r.get("run_id") == run["run_id"]]
    known = {d["delivery_id"] for d in run.get("deliveries") or []}
    entries = list(run.get("deliveries") or []) + [
        {"delivery_id": r["delivery_id"], "action": "processed", "status": r.get("status"),
         "sha256": r.get("sha256"), "previous_sha256": None,
         **{k: int(r.get(k) or 0) for k in ("rows_read", "rows_curated", "rows_quarantined")}}
        for r in processed if r["delivery_id"] not in known]
    published = (manifest or {}).get("run", {}) or {}
    release = manifest["release_id"] if published.get("run_id") == run["run_id"] else None
    message = (f"interrupted: the process ended before the run finished; it had processed {len(entries)} "
               f"deliveries; " + (f"its release {release} was published, its monthly report may be missing"
                                  if release else "nothing of it was published") +
               "; the next run published what it left")
    return {**finish_run({**run, "release_id": release}, "interrupted", entries, message=message)}


def latest_record(curated_dir: Path, run_id: str) -> dict | None:
    """This run's entry in the log as last written (None when it has none)."""
    return next((r for r in reversed(read_runs(curated_dir)) if r["run_id"] == run_id), None)


def fault_point(name: str) -> None:
    """A named point of the run where a test may stop it as a crash would (LVV_FAULT_AT=name).

    LVV_FAULT_ACTION: `kill` (default) sends SIGKILL to this process: nothing after runs, no
    cleanup; `pause:<dir>` writes <dir>/<name>.reached and waits until <dir>/go exists. Unset in
    normal operation: then this does nothing.
    """
    if os.environ.get(FAULT_AT_ENV) != name:
        return
    action = os.environ.get(FAULT_ACTION_ENV, "kill")
    if action.startswith("pause:"):
        folder = Path(action.removeprefix("pause:"))
        (folder / f"{name}.reached").write_text(str(os.getpid()), encoding="utf-8")
        while not (folder / "go").exists():
            time.sleep(0.05)
        return
    os.kill(os.getpid(), signal.SIGKILL)


def read_runs(curated_dir: Path) -> list[dict]:
    """Every run in the log, oldest first (a line that does not parse is passed over)."""
    path = curated_dir / RUNS_LOG
    if not path.exists():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            runs.append(_decode(json.loads(line)))
        except ValueError:
            continue
    return runs


def append_run(curated_dir: Path, run: dict) -> None:
    """Add one run to the log (replacing an entry with the same run_id); the file is replaced whole:
    every run read_runs reads in it, written again as this writes a run, then this one.

    A monthly run appends three times (running, its deliveries, finished). Each line's run id and
    its text as written again are kept in this process (_WRITTEN, by the line as read), so the log's
    earlier runs are parsed and encoded once per process, not at every append: 23 of the 29 CPU ms
    an append cost at x100, where the first run lists 3,000 deliveries, and the log only grows."""
    global _WRITTEN
    path = curated_dir / RUNS_LOG
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    written = {line: _WRITTEN[line] if line in _WRITTEN else _written(line) for line in dict.fromkeys(lines)}
    text = "".join(entry[1] for entry in map(written.get, lines) if entry is not None and entry[0] != run["run_id"])
    replace_file(path, text + _line(run), durable=True)
    _WRITTEN = written


#: a run log line as last read in this process -> (its run id, the line append_run writes for it),
#: None for a line read_runs passes over; the lines of the log as append_run last read it
_WRITTEN: dict[str, tuple[str, str] | None] = {}


def _written(line: str) -> tuple[str, str] | None:
    """What append_run makes of one line of the log: its run's id and the run as it writes it
    (read_runs' record encoded again); None when read_runs passes the line over."""
    try:
        record = _decode(json.loads(line))
    except ValueError:
        return None
    return record["run_id"], _line(record)


def _line(record: dict) -> str:
    return json.dumps(record, default=_encode, sort_keys=True) + "\n"


def recover_published_run(curated_dir: Path, manifest: dict | None) -> bool:
    """Log the run of the current release if a crash came between its publish and its log line."""
    run = (manifest or {}).get("run")
    if not run or any(r["run_id"] == run["run_id"] for r in read_runs(curated_dir)):
        return False
    append_run(curated_dir, _decode(run))
    return True


def headline(database: Path, reference_date: date, definitions: list[str]) -> pd.DataFrame:
    """Outflow (persons) per reporting line under each rule: definition, line, persons. Taken
    from the figures the database's release keeps (`kept_headline`) where it has them."""
    from transforms.queries import outflow

    kept = kept_headline(Path(database).resolve().parent, reference_date, definitions)
    if kept is not None:
        return kept
    con = duckdb.connect(str(database), read_only=True)
    try:
        frames = [outflow(con, reference_date, d).assign(definition=d) for d in definitions]
    finally:
        con.close()
    table = pd.concat(frames, ignore_index=True)
    return table.groupby(["definition", "line"], sort=False, as_index=False)["persons"].sum()


def headline_changes(before: pd.DataFrame | None, after: pd.DataFrame) -> pd.DataFrame:
    """definition, line, persons_before, persons_after, change (before: the previous publication)."""
    keys = ["definition", "line"]
    previous = before if before is not None else after.assign(persons=0)
    merged = after.merge(previous, on=keys, how="outer", suffixes=("_after", "_before"), sort=False)
    merged = merged.fillna({"persons_after": 0, "persons_before": 0})
    merged["persons_before"] = merged["persons_before"].astype("int64")
    merged["persons_after"] = merged["persons_after"].astype("int64")
    merged["change"] = merged["persons_after"] - merged["persons_before"]
    return merged[[*keys, "persons_before", "persons_after", "change"]]


def month_ends(reference_date: date, months: int) -> list[date]:
    """The last day of each of the `months` months up to reference_date (its own month only
    when reference_date is that month's last day), oldest first."""
    ends, day = [], reference_date
    nxt = day + timedelta(days=1)
    if nxt.month == day.month:  # not a month end: start from the month before
        day = day.replace(day=1) - timedelta(days=1)
    for _ in range(months):
        ends.append(day)
        day = day.replace(day=1) - timedelta(days=1)
    return ends[::-1]


def known_until(database: Path) -> date | None:
    """The latest stand-per date of the deliveries in force in a release (None: none)."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute("select max(stand_per) from deliveries where status = 'accepted'").fetchone()[0]
    finally:
        con.close()


def headline_series(database: Path, dates: list[date], definitions: list[str]) -> pd.DataFrame:
    """Outflow (persons) per line and rule at each date: definition, line, month_end, persons;
    every line of each rule, zeros included, by date, rule and line.

    One pass over the versions in force for every date and rule: a person counts at a date in the
    outflow macro's group (municipality, line, durability) when one of their exits there is on or
    before it, that is when their first exit there is. The outflow macro at each date and rule,
    united (36 subqueries), cost 0.28 s at x4 where this costs 0.08 s, most of a revision check
    (docs/performance.md); tests/test_revision_gate.py holds it to the outflow query.
    """
    from transforms.queries import check_definition

    if not dates or not definitions:
        return pd.DataFrame({"definition": [], "line": [], "month_end": [], "persons": []})
    params: dict[str, object] = {f"d{i}": check_definition(d) for i, d in enumerate(definitions)}
    params.update(days=list(dates), last=max(dates))
    cases = " union all ".join(f"select {i} as rule, * from rule_cases($d{i})" for i in range(len(definitions)))
    sql = f"""
        with cases as ({cases}),
        firsts as (
            select cases.rule, versions.municipality, cases.line, cases.durability, versions.person_id,
                min(versions.exit_date) as first_exit
            from episodes_known_at(null) as versions
            inner join cases
                on versions.outcome_code = cases.outcome_code
                and versions.follow_up_code is not distinct from cases.follow_up_code
            where versions.exit_date <= cast($last as date)
            group by all
        ),
        lines as (
            select cases.rule, cases.line, min(taxonomy.position) as position
            from cases inner join taxonomy on taxonomy.vocabulary = 'reporting_lines' and taxonomy.code = cases.line
            group by all
        ),
        days as (select unnest(range({len(dates)})) as day, unnest($days::date[]) as month_end)
        select days.day, lines.rule, lines.line,
            (count(firsts.person_id) filter (where firsts.first_exit <= days.month_end))::bigint as persons
        from lines cross join days
        left join firsts on firsts.rule = lines.rule and firsts.line = lines.line
        group by days.day, lines.rule, lines.line, lines.position
        order by days.day, lines.rule, lines.position
    """
    con = duckdb.connect(str(database), read_only=True)
    try:
        table = con.execute(sql, params).df()
    finally:
        con.close()
    return pd.DataFrame({"definition": [definitions[i] for i in table["rule"]], "line": table["line"],
                         "month_end": [dates[j] for j in table["day"]], "persons": table["persons"].astype("int64")})


#: a release's headline figures at the month ends its revision check compared (headline_series),
#: kept in the release (listed and hashed in its release.json like every file): the next run's
#: check takes the current release's figures from here and computes only the month ends it lacks
#: (one, in the monthly run), instead of asking the whole history again (docs/performance.md)
KEPT_SERIES = "headline-series.parquet"


def keep_series(release_dir: Path, table: pd.DataFrame) -> None:
    """Keep a release's headline_series beside its database (before the release is sealed)."""
    frame = table.assign(month_end=pd.to_datetime(table["month_end"]).dt.date) if len(table) else table
    frame.to_parquet(release_dir / KEPT_SERIES, index=False)


def check_series(release_dir: Path, dates: list[date], reference_date: date, definitions: list[str]
                 ) -> pd.DataFrame:
    """headline_series of the release's database at the revision check's month ends, kept in the
    release (keep_series) with the reference date's figures besides: the headline is then asked
    once per run (figure-changes, the report's gather and the next run's check read it there,
    `kept_headline`, `release_series`). Returns the check's month ends only."""
    days = list(dates) if reference_date in dates else [*dates, reference_date]
    table = headline_series(release_dir / "lvv.duckdb", days, definitions)
    keep_series(release_dir, table)
    return table[table["month_end"].isin(list(dates))].reset_index(drop=True)


def _kept_series(path: Path) -> pd.DataFrame | None:
    """The figures a release keeps (KEPT_SERIES at path; None: no such file), parsed once per
    content (`_kept_entry`). The frame is shared: never changed in place."""
    entry = _kept_entry(path)
    return None if entry is None else entry[1]


def _kept_entry(path: Path) -> tuple[bytes, pd.DataFrame] | None:
    """(sha256 of the file's bytes, its frame), parsed once per content: a report reads them three
    times (the headline, the reference date and the month end before in gather). By the file's
    bytes, not its time or size: a file rewritten within one tick of the clock, to the same size,
    is read again. Reading and hashing the small file is 0.04 ms an ask; what each ask then picks
    from the frame is kept by content too (`kept_headline`)."""
    if not path.is_file():
        return None
    content = path.read_bytes()
    digest = hashlib.sha256(content).digest()
    if digest not in _PARSED_SERIES:
        _PARSED_SERIES[digest] = pd.read_parquet(io.BytesIO(content))
        while len(_PARSED_SERIES) > 4:  # the newest few (a release and the one before)
            del _PARSED_SERIES[next(iter(_PARSED_SERIES))]
    return digest, _PARSED_SERIES[digest]


_PARSED_SERIES: dict[bytes, pd.DataFrame] = {}
#: kept_headline's answers by (content, day, rules): picking them out of the frame with pandas took
#: 17 ms an ask (x4, load 5), the file's read and hash 0.04 ms; a run asks the same three times
_HEADLINES: dict[tuple[bytes, date, tuple[str, ...]], pd.DataFrame | None] = {}


def kept_headline(release_dir: Path, day: date, definitions: list[str]) -> pd.DataFrame | None:
    """`headline` at `day` (definition, line, persons; rules in the order asked) from the figures
    the release keeps (KEPT_SERIES), when it keeps that day for every rule; else None. A new
    frame each ask (the caller may change it)."""
    try:
        entry = _kept_entry(release_dir / KEPT_SERIES)
    except (OSError, ValueError):
        return None
    if entry is None or not len(entry[1]):
        return None
    key = (entry[0], day, tuple(definitions))
    if key not in _HEADLINES:
        _HEADLINES[key] = _headline_of(entry[1], day, definitions)
        while len(_HEADLINES) > 16:
            del _HEADLINES[next(iter(_HEADLINES))]
    found = _HEADLINES[key]
    return None if found is None else found.copy()


def _headline_of(kept: pd.DataFrame, day: date, definitions: list[str]) -> pd.DataFrame | None:
    rows = kept[(kept["month_end"] == day) & kept["definition"].isin(definitions)]
    if set(rows["definition"]) != set(definitions):
        return None
    rank = rows["definition"].map({d: i for i, d in enumerate(definitions)})
    rows = rows.iloc[rank.argsort(kind="stable")]
    return rows[["definition", "line", "persons"]].reset_index(drop=True).astype({"persons": "int64"})


def release_series(release_dir: Path, dates: list[date], definitions: list[str]) -> pd.DataFrame:
    """headline_series of the release's database: the month ends it keeps figures of for every
    rule asked (KEPT_SERIES) taken from there, the others computed; the same rows in the same order."""
    kept = _kept_series(release_dir / KEPT_SERIES)
    if kept is None or not len(kept):
        return headline_series(release_dir / "lvv.duckdb", dates, definitions)
    kept = kept[kept["definition"].isin(definitions) & kept["month_end"].isin(dates)]
    complete = kept.groupby("month_end")["definition"].nunique()
    have = [day for day in dates if complete.get(day, 0) == len(set(definitions))]
    computed = headline_series(release_dir / "lvv.duckdb", [d for d in dates if d not in have], definitions)
    table = pd.concat([kept[kept["month_end"].isin(have)], computed], ignore_index=True)
    order = pd.DataFrame({"day": table["month_end"].map({d: i for i, d in enumerate(dates)}),
                          "rule": table["definition"].map({d: i for i, d in enumerate(definitions)})})
    table = table.iloc[order.sort_values(["day", "rule"], kind="stable").index].reset_index(drop=True)
    return table.astype({"persons": "int64"})


def revisions(before: pd.DataFrame, after: pd.DataFrame, tolerance) -> pd.DataFrame:
    """The figures that moved: definition, line, month_end, persons_before, persons_after, change,
    is_large (beyond the tolerance: needs somebody to accept it)."""
    keys = ["definition", "line", "month_end"]
    merged = after.merge(before, on=keys, how="outer", suffixes=("_after", "_before"))
    merged = merged.fillna({"persons_after": 0, "persons_before": 0})
    merged = merged.astype({"persons_after": "int64", "persons_before": "int64"})
    merged["change"] = merged["persons_after"] - merged["persons_before"]
    moved = merged[merged["change"] != 0].copy()
    moved["is_large"] = [tolerance.is_large(b, c) for b, c in zip(moved["persons_before"], moved["change"])]
    columns = [*keys, "persons_before", "persons_after", "change", "is_large"]
    return moved[columns].sort_values(["is_large", "month_end"], ascending=[False, True], ignore_index=True)


def revisions_text(table: pd.DataFrame, shown: int = 5) -> str:
    """The large revisions in one sentence: how many, at how many month ends, the largest."""
    large = table[table["is_large"]]
    largest = large.reindex(large["change"].abs().sort_values(ascending=False).index).head(shown)
    lines = [f"{r.definition} {r.line} at {r.month_end}: {r.persons_before} -> {r.persons_after} ({r.change:+d})"
             for r in largest.itertuples()]
    return (f"{len(large)} figures at {large['month_end'].nunique()} month ends beyond the tolerance; "
            f"the largest: " + "; ".join(lines))


def summary_line(run: dict) -> str:
    """One sentence for the log and the command line."""
    actions = {a: sum(d["action"] == a for d in run["deliveries"]) for a in ("new", "changed", "withdrawn")}
    if run["status"] == "unchanged":
        return "nothing new: the publication is left byte-for-byte unchanged" + (
            f" ({run['message']})" if run.get("message") else "")
    if run["status"] in ("failed", "interrupted", "awaiting-acceptance", "released"):
        return f"{run['status']}: {run.get('message') or ''}"
    changed = len(run["changes"])
    return (f"{run['status']}: {actions['new']} new, {actions['changed']} changed, {actions['withdrawn']} "
            f"withdrawn deliveries; {run['rows_read']} rows read, {run['rows_curated']} curated, "
            f"{run['rows_quarantined']} quarantined; {changed} headline figures changed")


def _now() -> datetime:
    return datetime.now(UTC)


def _encode(value: object) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _decode(record: dict) -> dict:
    out = dict(record)
    for key in ("started_at", "finished_at"):
        if isinstance(out.get(key), str):
            out[key] = datetime.fromisoformat(out[key])
    if isinstance(out.get("reference_date"), str):
        out["reference_date"] = date.fromisoformat(out["reference_date"])
    return out

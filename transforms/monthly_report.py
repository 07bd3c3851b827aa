"""The monthly report: an Excel workbook and an HTML page with charts, internal and public.

`gather` asks the published database everything the report shows (plain DuckDB queries over the
contract's macros); `public_edition` (transforms/public_edition.py) applies small-cell protection
for the public edition; `write_excel`
and `write_html` render either edition. `write_monthly_report` does all four files at once.

Safety of what is written:
- Excel: every text cell is written as a string (the writer's formula, URL and number conversion
  is off), and text that starts with = + - @ tab or CR also gets Excel's quote prefix, so a
  delivered label such as =HYPERLINK(...) is shown as the text it is and never runs.
- HTML: every value is escaped; the charts are plotly with plotly.js inlined (works offline).
- Public edition: counts of persons between 1 and threshold-1 are suppressed ("x"), and further
  cells chosen by an optimisation over everything the edition publishes at the reference date, then
  audited by linear programming (transforms/suppression.py); the About sheet states the method,
  what was hidden and that the audit passed; a durable share whose count is hidden beside a shown
  total is given as a band the audit allows. The internal edition shows exact numbers and the
  quarantined rows.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import html
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from importlib.resources import files
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from schemas import load_yaml
from transforms import suppression
from transforms.files import read_checked, replace_file, write_checked
from transforms.queries import line_labels
from transforms.queries import outflow as outflow_query

SUPPRESSED = "x"
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_THRESHOLD = suppression.DEFAULT_THRESHOLD
#: the deployment's readers are the ministry and the municipalities
DEFAULT_LANGUAGE = "nl"
#: rows of a table a page shows, and a workbook's sheet holds; the rest are counted in a note
PAGE_ROWS, SHEET_ROWS = 2_000, 100_000


@dataclass
class ReportData:
    """Everything one edition of the report shows; frames in long form."""

    reference_date: date
    previous_date: date
    definitions: list[str]
    run: dict
    headline: pd.DataFrame            # line, label, <definition>...
    by_municipality: pd.DataFrame     # definition, municipality, line, durability, persons
    outflow_series: pd.DataFrame      # month_end, definition, municipality, line, persons (cumulative)
    occupancy_series: pd.DataFrame    # month_end, municipality, occupancy, inflow
    durable_share: pd.DataFrame       # definition, municipality, durable, semi_durable, non_durable, total, share
    changes: pd.DataFrame             # definition, line, as_known_then, revision, previous_now, new_exits, now
    bridge: pd.DataFrame              # definition, line, effect, persons (revisions of last month, by cause)
    deliveries: pd.DataFrame          # the latest delivery per municipality and its row counts
    quality: pd.DataFrame             # municipality, code, severity, findings (latest delivery)
    quarantine: pd.DataFrame          # quarantined rows of the latest deliveries, as delivered
    atoms: pd.DataFrame               # municipality, classes, persons (transforms/suppression.atoms)
    series_atoms: pd.DataFrame        # month_end, classes, persons: the atoms at each month end, summed
    public: bool = False
    threshold: int = DEFAULT_THRESHOLD
    notes: list[str] = field(default_factory=list)
    language: str = DEFAULT_LANGUAGE


@functools.cache
def report_texts(language: str = DEFAULT_LANGUAGE) -> dict:
    """The report's texts in `language` (schemas/report_texts.yaml: nl and en, the same keys)."""
    texts = load_yaml(files("schemas").joinpath("report_texts.yaml").read_text(encoding="utf-8"))
    if language not in texts:
        raise ValueError(f"report language {language!r}: choose one of {', '.join(texts)}")
    return texts[language]


@functools.cache
def value_texts(language: str = DEFAULT_LANGUAGE) -> dict[str, dict[str, str]]:
    """column -> {code: text}: how the codes in the report's tables and charts read in `language`.

    Reporting lines and durability classes from the taxonomy (schemas/taxonomy.yaml), every other
    code (effects, statuses, actions, severities) from the report texts' `values`
    (schemas/report_texts.yaml).
    """
    from schemas.taxonomy import taxonomy

    english = language == "en"
    vocabularies = {"line": taxonomy().reporting_lines, "durability": taxonomy().durability_classes}
    return {**{column: {term.code: term.en if english else term.nl for term in terms}
               for column, terms in vocabularies.items()},
            **report_texts(language)["values"]}


def in_language(frame: pd.DataFrame, language: str, keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """The frame with the codes of every column value_texts knows (but those in `keep`) shown in
    `language`. A code without a text is an error that names it: never shown untranslated."""
    words = value_texts(language)
    translated = {}
    for column in frame.columns:
        if column not in words or column in keep:
            continue
        known = words[column]
        missing = sorted({str(code) for code in frame[column].dropna().unique()} - set(known))
        if missing:
            where = ("schemas/taxonomy.yaml" if column in ("line", "durability")
                     else f"schemas/report_texts.yaml ({language}.values.{column})")
            raise ValueError(f"the report has no {language} text for {column} "
                             f"{', '.join(map(repr, missing))}: add it to {where}")
        translated[column] = frame[column].map(known)
    return frame.assign(**translated) if translated else frame


def value_text(language: str, column: str, code: str | None) -> str | None:
    """One code of `column` in `language` (None stays None), as in_language shows it."""
    if code is None:
        return None
    return in_language(pd.DataFrame({column: [code]}), language)[column].iloc[0]


# --- gathering ------------------------------------------------------------------------------------

def month_end_before(day: date) -> date:
    return day.replace(day=1) - timedelta(days=1)


def gather(database: Path, reference_date: date, definitions: list[str], run: dict | None = None,
           *, timings: dict[str, float] | None = None) -> ReportData:
    """Read every figure the report shows from the published database (read-only).

    timings: when given, the seconds each part took are added to it (benchmarks/report.py).
    """
    clock = _Clock(timings)
    con = duckdb.connect(str(database), read_only=True)
    try:
        macros = _report_objects(con)
        previous = month_end_before(reference_date)
        first = _first_intake(con)
        with clock("headline"):  # per line at the reference date: headline and changes
            now = _kept_per_line(database, reference_date, definitions) or {
                d: _per_line(con, reference_date, d, None) for d in definitions}
            headline = _headline(now)
        with clock("by_municipality"):
            by_municipality = pd.concat([outflow_query(con, reference_date, d, by_municipality=True)
                                         .assign(definition=d) for d in definitions], ignore_index=True)
            durable_share = _durable_share(by_municipality)
        with clock("outflow_series"):
            outflow_series = _outflow_series(con, first, reference_date, definitions)
        with clock("occupancy_series"):
            occupancy_series = _occupancy_series(con, first, reference_date)
        with clock("changes"):
            changes = _changes(con, now, previous, _kept_per_line(database, previous, definitions))
        with clock("bridge"):
            bridge = _bridge(con, previous, definitions, has_reconcile="reconcile" in macros)
        with clock("quality_tables"):  # deliveries, quality findings, quarantined rows
            deliveries, quality, quarantine = (_latest_deliveries(con, reference_date), _quality(con),
                                               _quarantine(con))
        with clock("atoms"):  # what small-cell protection sums (transforms/suppression.py)
            atoms = _atoms(con, first, reference_date, definitions)
        return ReportData(
            reference_date=reference_date, previous_date=previous, definitions=list(definitions),
            run=run or {}, headline=headline,
            by_municipality=by_municipality[["definition", "municipality", "line", "durability", "persons"]],
            outflow_series=outflow_series, occupancy_series=occupancy_series, durable_share=durable_share,
            changes=changes, bridge=bridge, deliveries=deliveries, quality=quality, quarantine=quarantine,
            **atoms,
        )
    finally:
        con.close()


#: gathered figures kept beside the reports (data/reports/gather-cache/<key>/), by the release's
#: database (its sha256 in release.json), the reference date, the rules and the code that gathers
#: (these files and sql/, whose views and macros an older release gets from there: REPORT_OBJECTS):
#: a run with nothing new reads the store no more (gather was 2.4 s of its 10.8 s at x100). Each
#: kept file's sha256 is in meta.json: a damaged one is gathered again
GATHER_CACHE = "gather-cache"
GATHER_CODE = ("monthly_report.py", "queries.py", "reconcile.py", "suppression.py")
#: gathered sets kept (one per reference date and release); older ones are removed
GATHER_KEPT = 4


def gather_cached(database: Path, reference_date: date, definitions: list[str], run: dict | None,
                  cache_dir: Path) -> ReportData:
    """gather, or what it gave before for the same release, reference date and rules (the run's
    record is this run's). A database outside a release (no release.json) is always gathered."""
    key = _gather_key(database, reference_date, definitions)
    if key is None:
        return gather(database, reference_date, definitions, run)
    folder = cache_dir / key
    if (folder / "meta.json").is_file():
        try:
            return _read_gathered(folder, run)
        except (OSError, ValueError, KeyError):  # a damaged cache is gathered again, and replaced
            shutil.rmtree(folder, ignore_errors=True)
    data = gather(database, reference_date, definitions, run)
    _write_gathered(cache_dir, key, data)
    return data


def _gather_key(database: Path, reference_date: date, definitions: list[str]) -> str | None:
    manifest = database.resolve().parent / "release.json"
    try:
        entry = json.loads(manifest.read_text(encoding="utf-8"))["files"][database.name]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    from transforms.publish import SQL_FILES, sql_text

    digest = hashlib.sha256(f"{entry['sha256']}\0{reference_date.isoformat()}\0{chr(0).join(definitions)}\0".encode())
    for name in GATHER_CODE:
        digest.update(name.encode() + (Path(__file__).parent / name).read_bytes())
    for name in SQL_FILES:
        digest.update(f"sql/{name}\0{sql_text(name)}\0".encode())
    return digest.hexdigest()[:32]


def _frames() -> list[str]:
    return [f.name for f in fields(ReportData) if f.type in ("pd.DataFrame", pd.DataFrame)]


def _write_gathered(cache_dir: Path, key: str, data: ReportData) -> None:
    """One Parquet file per frame (the format the store and the leak check read) and meta.json,
    written aside and renamed into place."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    aside = cache_dir / f".{key}.tmp-{os.getpid()}"
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir()
    tuples, sha256 = {}, {}  # columns of tuples (the atoms' class sets): Parquet gives them back as arrays
    for name in _frames():
        frame = getattr(data, name)
        tuples[name] = [c for c in frame.columns if frame[c].dtype == object and len(frame)
                        and isinstance(frame[c].dropna().iloc[0] if frame[c].notna().any() else None, tuple)]
        kept = frame.to_parquet()  # the bytes written, hashed as they are (not read back)
        (aside / f"{name}.parquet").write_bytes(kept)
        sha256[name] = hashlib.sha256(kept).hexdigest()
    meta = {"reference_date": data.reference_date.isoformat(), "previous_date": data.previous_date.isoformat(),
            "definitions": list(data.definitions), "tuples": tuples, "sha256": sha256}
    write_checked(aside / "meta.json", meta)
    try:
        os.rename(aside, cache_dir / key)
    except OSError:  # another run kept the same meanwhile
        shutil.rmtree(aside, ignore_errors=True)
    older = sorted((p for p in cache_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                   key=lambda p: p.stat().st_mtime, reverse=True)[GATHER_KEPT:]
    for folder in older:
        shutil.rmtree(folder, ignore_errors=True)


def _read_gathered(folder: Path, run: dict | None) -> ReportData:
    """The kept frames, each checked against its sha256 in meta.json (ValueError when one is
    damaged or missing, or meta.json itself is)."""
    meta = read_checked(folder / "meta.json")
    frames = {}
    for name in _frames():  # each file read once: hashed, then parsed from the same bytes
        kept = (folder / f"{name}.parquet").read_bytes()
        if hashlib.sha256(kept).hexdigest() != meta["sha256"][name]:
            raise ValueError(f"{folder / name}.parquet: its checksum does not match")
        frames[name] = pd.read_parquet(io.BytesIO(kept))
    for name, columns in meta["tuples"].items():
        for column in columns:
            frames[name][column] = pd.Series([_as_tuple(v) for v in frames[name][column]],
                                             index=frames[name].index, dtype=object)
    return ReportData(reference_date=date.fromisoformat(meta["reference_date"]),
                      previous_date=date.fromisoformat(meta["previous_date"]),
                      definitions=list(meta["definitions"]), run=run or {}, **frames)


def _as_tuple(value):
    """A value Arrow gave back as a list or array, as the tuple it was (nested ones too)."""
    if isinstance(value, (list, np.ndarray)):
        return tuple(_as_tuple(v) for v in value)
    return value


class _Clock:
    """`with clock(name):` adds the block's seconds to timings[name] (nothing when timings is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.timings is not None:
                self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started


#: the (definition, line, durability) triples of the rules asked, numbered from 0 in their order:
#: a class set is a bitstring over them (bit t set: triple t is in the set)
_TRIPLES = """
    select definition, line, durability,
        (row_number() over (order by definition, line, durability) - 1)::integer as t
    from (select distinct definition, line, durability from counting_rules
          where list_contains($definitions, definition))
"""


def _atoms(con: duckdb.DuckDBPyConnection, first: date | None, reference_date: date,
           definitions: list[str]) -> dict[str, pd.DataFrame]:
    """What the figures sum: persons per municipality and class set at the reference date (atoms),
    and per class set summed over the municipalities at each month end of the series.

    As transforms/suppression.atoms counts them (a person's class set: every (definition, line,
    durability) of their exits up to the date), in one pass: a person's class set changes only
    at their exit dates, so each (person, class set) holds from one exit date to the next: it adds
    one at the month end on or after the first and takes it off at the one on or after the next,
    and a running sum gives every month end (work in the exits and the class sets times months,
    not the persons times months). Rows in suppression.atoms' order: atoms by municipality
    and class set, each month's class sets in order of first appearance there.

    A class set is a bitstring over the rules' triples (_TRIPLES), a person's at each exit date the
    running bit_or of their exits' bits (one window over their exit dates), not a sorted list of
    lists built by joining each exit date to every exit before it: grouping, joining and fetching
    lists of lists of text was most of the query (x100: 0.9 against 0.2 CPU s).
    """
    if first is None:
        return {"atoms": pd.DataFrame(columns=["municipality", "classes", "persons"]),
                "series_atoms": pd.DataFrame(columns=["month_end", "classes", "persons"])}
    asked = {"definitions": list(definitions)}
    triples = con.execute(f"select definition, line, durability from ({_TRIPLES}) order by t", asked).fetchall()
    counted = con.execute(f"""
        with triples as (
            select *, set_bit(bitstring('0', (count(*) over ())::integer), t, 1) as bit from ({_TRIPLES})
        ),
        exits as (
            select versions.municipality, versions.person_id, versions.exit_date, triples.bit
            from episodes_known_at(null) as versions
            inner join counting_rules as rules
                on versions.outcome_code = rules.outcome_code
                and versions.follow_up_code is not distinct from rules.follow_up_code
            inner join triples using (definition, line, durability)
            where versions.exit_date <= $ref
        ),

        held as (  -- a person's class set from each of their exit dates (since) to the next (until)
            select municipality, exit_date as since,
                bit_or(bit_or(bit)) over (partition by municipality, person_id order by exit_date
                    rows between unbounded preceding and current row) as classes,
                lead(exit_date) over (partition by municipality, person_id order by exit_date) as until
            from exits
            group by municipality, person_id, exit_date
        ),

        changes as (  -- a person counts from the series point on or after since, to the one on or after until
            select municipality, classes, least(last_day(since), $ref) as month_end, 1 as delta from held
            union all
            select municipality, classes, least(last_day(until), $ref) as month_end, -1 as delta from held
            where until is not null
        ),

        per_month as (
            select municipality, classes, month_end, sum(delta) as delta from changes group by all
        ),

        grid as (  -- every month end from each (municipality, class set)'s first on
            select starts.municipality, starts.classes, months.month_end
            from (select municipality, classes, min(month_end) as start from per_month group by all) as starts
            inner join series_points($first, $ref) as months on months.month_end >= starts.start
        ),

        counted as (
            select grid.month_end, grid.municipality, grid.classes,
                sum(coalesce(per_month.delta, 0)) over (
                    partition by grid.municipality, grid.classes order by grid.month_end
                )::bigint as persons
            from grid
            left join per_month using (municipality, classes, month_end)
        )

        select month_end, municipality, classes::varchar as classes, persons from counted where persons > 0
    """, {"first": first, "ref": reference_date, **asked}).df()
    # class sets as suppression.atoms writes them: sorted tuples of (definition, line, durability),
    # each distinct bitstring converted once (a row per month end, municipality and class set:
    # 100,000 rows at 120 months, a few hundred class sets)
    codes, keys = pd.factorize(counted["classes"])
    sets = [tuple(sorted(triples[t] for t, bit in enumerate(key) if bit == "1")) for key in keys]
    counted["classes"] = pd.Series(sets, dtype=object).to_numpy()[codes]
    rank = {c: r for r, c in enumerate(sorted(sets))}
    counted["rank"] = np.array([rank[c] for c in sets], dtype=np.int64)[codes]
    counted = counted.sort_values(["month_end", "municipality", "rank"], kind="stable", ignore_index=True)
    # the last point is the reference date itself (series_points, sql/reconcile.sql): no exit after it
    atoms = (counted[counted["month_end"] == counted["month_end"].max()]
             [["municipality", "classes", "persons"]].reset_index(drop=True))
    series = counted.groupby(["month_end", "classes"], sort=False, as_index=False)["persons"].sum()
    return {"atoms": atoms, "series_atoms": series[["month_end", "classes", "persons"]]}


def _headline(now: dict[str, pd.Series]) -> pd.DataFrame:
    """line, label, one column of persons per counting rule (every line, zeros included).

    now: persons per line at the reference date, per counting rule (see _per_line).
    """
    wide = pd.DataFrame({"line": list(line_labels())})
    for definition, per_line in now.items():
        wide[definition] = wide["line"].map(per_line).fillna(0).astype("int64")
    wide.insert(1, "label", wide["line"].map(line_labels()))
    return wide


def _first_intake(con: duckdb.DuckDBPyConnection) -> date | None:
    """Where the monthly series start (None: no episodes)."""
    return con.execute("select min(intake_date) from episode_versions").fetchall()[0][0]


def _series_point(day: str) -> str:
    """SQL for the series point on or after the date `day` (an SQL expression): its month end, no
    earlier than the first point and no later than the reference date, as series_points($first,
    $ref) lists them (sql/reconcile.sql). One text for the three places that place a date on the
    series, so that they cannot place it differently."""
    return f"least(greatest(last_day({day}), last_day(cast($first as date))), cast($ref as date))"


def _outflow_series(con: duckdb.DuckDBPyConnection, first: date | None, reference_date: date,
                    definitions: list[str]) -> pd.DataFrame:
    columns = ["month_end", "definition", "municipality", "line", "persons"]
    if first is None:
        return pd.DataFrame(columns=columns)
    # outflow(month_end) at every month end, in one pass: a person counts in a municipality, line
    # and durability from their first exit there on (what outflow() counts at each month end,
    # summed over durability). Calling outflow() once per month end through a lateral join took
    # 11 s of the report on the full network (120 months x 3 rules); every rule in one statement
    # (the versions read once, not once per rule: 0.4 s at x100). Each first exit is counted once,
    # at the series point on or after it (its month end, the reference date for the last month,
    # the first point for an exit before the series starts), and a running sum over the points
    # gives every month end: joining each first exit to every later point instead made persons x
    # months rows (2.0-2.2 CPU s at x100, against 0.45-0.49 s this way)
    asked = [d.lower() for d in definitions]  # as rule_cases reads a rule's name
    counted = con.execute(f"""
        with firsts as (
            select rules.definition, versions.municipality, rules.line, rules.durability, versions.person_id,
                min(versions.exit_date) as first_exit
            from episodes_known_at(null) as versions
            inner join counting_rules as rules
                on versions.outcome_code = rules.outcome_code
                and versions.follow_up_code is not distinct from rules.follow_up_code
            inner join taxonomy as lines
                on lines.vocabulary = 'reporting_lines' and lines.code = rules.line
            where versions.exit_date is not null and list_contains($definitions, rules.definition)
            group by all
        ),

        per_point as (  -- the series point on or after each first exit (series_points, sql/reconcile.sql)
            select list_position($definitions, definition) as rule, municipality, line,
                {_series_point("first_exit")} as month_end,
                count(*) as persons
            from firsts
            where first_exit <= cast($ref as date)
            group by all
        ),

        grid as (  -- every point from each (rule, municipality, line)'s first on
            select starts.rule, starts.municipality, starts.line, months.month_end
            from (select rule, municipality, line, min(month_end) as start from per_point group by all) as starts
            inner join series_points($first, $ref) as months on months.month_end >= starts.start
        )

        select grid.rule, grid.month_end, grid.municipality, grid.line,
            sum(coalesce(per_point.persons, 0)) over (
                partition by grid.rule, grid.municipality, grid.line order by grid.month_end
            )::bigint as persons
        from grid
        left join per_point using (rule, municipality, line, month_end)
        order by all
    """, {"first": first, "ref": reference_date, "definitions": asked}).df()
    # each rule by the name asked, in the order asked (a rule asked twice: its rows twice)
    frames = [counted[counted["rule"] == asked.index(d.lower()) + 1].assign(definition=d)
              for d in definitions]
    return pd.concat(frames, ignore_index=True)[columns]


def _occupancy_series(con: duckdb.DuckDBPyConnection, first: date | None, reference_date: date
                      ) -> pd.DataFrame:
    """occupancy() and inflow() at every month end, in one pass: a person counts in a municipality's
    inflow from the series point of their first intake there on, and is in an LVV there at the
    points their stays cover (a stay covers the points from the one on or after its intake up to,
    not with, the one on or after its exit; a person's overlapping or adjacent stays are joined
    first, so that they count once); a running sum over the points gives every month end (calling
    the macros once per month end took 1.3 s at x100; joining every episode to every point it
    covers, persons x months rows, 0.52-0.63 CPU s, against 0.20-0.22 s this way). Only the persons
    with several stays in a municipality go through the windows that join overlapping stays (two
    sorts of every stay by person): one stay is a span as it is (x100: 0.14 against 0.085 CPU s)."""
    columns = ["month_end", "municipality", "occupancy", "inflow"]
    if first is None:
        return pd.DataFrame(columns=columns)
    return con.execute(f"""
        with episodes as (
            select municipality, person_id, intake_date, exit_date
            from episodes_known_at(null)
            where intake_date is not null and intake_date <= cast($ref as date)
        ),

        points as (  -- each date's series point: the first on or after it (series_points, sql/reconcile.sql)
            select
                {_series_point("intake_date")} as start,
                case when exit_date <= cast($ref as date) then {_series_point("exit_date")} end as stop,
                municipality, person_id, intake_date
            from episodes
        ),

        entries as (  -- a person counts in the inflow from the point of their first intake on
            select municipality, min(start) as month_end, 1 as inflow, 0 as occupancy
            from points group by municipality, person_id
        ),

        stays as (  -- the points an episode covers: start up to, not with, stop (none when it left before)
            select municipality, person_id, start, stop from points where stop is null or stop > start
        ),

        several as (  -- the persons with more than one stay in a municipality: only theirs can overlap
            select municipality, person_id from stays group by all having count(*) > 1
        ),

        reached as (
            select *, max(coalesce(stop, date 'infinity')) over (
                partition by municipality, person_id order by start, stop nulls last
                rows between unbounded preceding and 1 preceding) as reach
            from stays semi join several using (municipality, person_id)
        ),

        islands as (  -- a person's overlapping or adjacent stays as one: counted once
            select municipality, person_id, start, stop,
                sum(case when reach is null or start > reach then 1 else 0 end) over (
                    partition by municipality, person_id order by start, stop nulls last
                    rows unbounded preceding) as island
            from reached
        ),

        spans as (  -- a person's one stay is a span; several are joined where they overlap or touch
            select municipality, start, stop from stays anti join several using (municipality, person_id)
            union all
            select municipality, min(start) as start,
                nullif(max(coalesce(stop, date 'infinity')), date 'infinity') as stop
            from islands group by municipality, person_id, island
        ),

        changes as (
            select municipality, month_end, sum(inflow) as inflow, sum(occupancy) as occupancy from (
                select * from entries
                union all select municipality, start, 0, 1 from spans
                union all select municipality, stop, 0, -1 from spans where stop is not null
            ) group by all
        ),

        grid as (
            select starts.municipality, months.month_end
            from (select municipality, min(month_end) as first_point from entries group by all) as starts
            inner join series_points($first, $ref) as months on months.month_end >= starts.first_point
        )

        select grid.month_end, grid.municipality,
            sum(coalesce(changes.occupancy, 0)) over running::bigint as occupancy,
            sum(coalesce(changes.inflow, 0)) over running::bigint as inflow
        from grid
        left join changes using (municipality, month_end)
        window running as (partition by grid.municipality order by grid.month_end)
        order by all
    """, {"first": first, "ref": reference_date}).df()[columns]


def _durable_share(by_municipality: pd.DataFrame) -> pd.DataFrame:
    if by_municipality.empty:
        return pd.DataFrame(columns=["definition", "municipality", "durable", "semi_durable",
                                     "non_durable", "total", "share"])
    wide = by_municipality.pivot_table(index=["definition", "municipality"], columns="durability",
                                       values="persons", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=["durable", "semi_durable", "non_durable"], fill_value=0).astype("int64")
    wide["total"] = wide.sum(axis=1)
    wide["share"] = (100 * wide["durable"] / wide["total"].where(wide["total"] > 0)).round(1)
    wide.columns.name = None
    return wide.reset_index()


def _changes(con: duckdb.DuckDBPyConnection, now_per_rule: dict[str, pd.Series], previous: date,
             previous_per_rule: dict[str, pd.Series] | None = None) -> pd.DataFrame:
    """now_per_rule: persons per line at the reference date, per counting rule (see _per_line);
    previous_per_rule: the same at the previous month end, where known (else asked)."""
    rows = []
    for definition, now in now_per_rule.items():
        previous_now = (previous_per_rule[definition] if previous_per_rule
                        else _per_line(con, previous, definition, None))
        then = _per_line(con, previous, definition, previous)
        for line in now.index:
            rows.append({"definition": definition, "line": line, "as_known_then": int(then[line]),
                         "revision": int(previous_now[line] - then[line]),
                         "previous_now": int(previous_now[line]),
                         "new_exits": int(now[line] - previous_now[line]), "now": int(now[line])})
    return pd.DataFrame(rows, columns=["definition", "line", "as_known_then", "revision", "previous_now",
                                       "new_exits", "now"])


def _kept_per_line(database: Path, day: date, definitions: list[str]) -> dict[str, pd.Series] | None:
    """Persons per line at `day` per rule (as _per_line gives them, known now) from the figures
    the database's release keeps (transforms/runs.kept_headline: the run's revision check asked
    them), or None where it keeps none for that day."""
    from transforms.runs import kept_headline

    kept = kept_headline(Path(database).resolve().parent, day, definitions)
    if kept is None:
        return None
    return {d: rows.set_index("line")["persons"] for d, rows in kept.groupby("definition", sort=False)}


def _per_line(con: duckdb.DuckDBPyConnection, ref: date, definition: str, known_at: date | None
              ) -> pd.Series:
    frame = outflow_query(con, ref, definition, known_at)
    return frame.groupby("line", sort=False)["persons"].sum()


def _bridge(con: duckdb.DuckDBPyConnection, previous: date, definitions: list[str],
            has_reconcile: bool | None = None) -> pd.DataFrame:
    """Last month's revisions by cause: per rule, line and effect, the persons that moved, as
    `reconcile(previous, rule, rule, known_at_a := previous)` gives them (effect not 'none',
    persons not 0), every rule in one query, where the database has the reconcile() macro
    (has_reconcile: whether it has, when the caller knows; else asked).

    One query, not one reconcile() call per rule: the pairing of every episode as known last month
    with its version now (a full outer join over all versions) is the costly part, and it is the
    same for every rule; reconcile() also counts figures A and B (six outflow() calls), which the
    bridge does not show. With rule A the same as rule B, the bridge has no counting-rule step (the
    middle figure M is B), so only the knowledge moves are left (tests/test_perf24_bridge.py holds
    this query to the reconcile() calls, on hand-made versions and on the demo). The pairing and the
    effect of each revision are reconcile()'s own (knowledge_pairs, revision_rank and effect_order
    in sql/reconcile.sql; a release older than them gets them for this read: REPORT_OBJECTS).

    Only the persons with a revised episode (another person, exit date, outcome or follow-up last
    month than now, or an episode added or withdrawn) are classified: a person whose episodes are
    all as they were is under the same lines at A and at M and moves nowhere. A month revises a
    few thousand of the network's episodes; comparing every person's lines at A and M took most
    of the bridge's time (x100 at 2022-07-31: 90,000 episodes, 1,631 revised; 0.45 against 0.13 CPU s).
    """
    columns = ["definition", "line", "effect", "persons"]
    if has_reconcile is None:
        has_reconcile = bool(con.execute("select count(*) from duckdb_functions() where function_name = 'reconcile'"
                                         ).fetchall()[0][0])
    if not has_reconcile or not definitions:
        return pd.DataFrame(columns=columns)
    names = {f"d{i}": d for i, d in enumerate(definitions)}
    rules = " union all ".join(f"select {i} as i, outcome_code, follow_up_code, line from rule_cases($d{i})"
                               for i in range(len(definitions)))
    rules_of = ", ".join(f"({i}, $d{i})" for i in range(len(definitions)))
    return con.execute(f"""
        with pairs as (  -- every episode last month and now, and the revision between (sql/reconcile.sql)
            select *,
                person_a is null or person_b is null or person_a <> person_b
                or exit_a is distinct from exit_b or outcome_a is distinct from outcome_b
                or follow_up_a is distinct from follow_up_b as revised
            from knowledge_pairs($previous, known_at_a := $previous)
        ),
        touched as (  -- the persons with a revised episode, last month's or now
            select municipality, person_a as person_id from pairs where revised and person_a is not null
            union
            select municipality, person_b from pairs where revised and person_b is not null
        ),
        effect_of as (  -- every episode of those persons: nobody else moves
            select * from pairs where revised
            union all
            select * from pairs
            where not revised and exists (select 1 from touched
                where touched.municipality = pairs.municipality and touched.person_id = pairs.person_a)
        ),
        rules as ({rules}),
        rule_ids as (select * from (values {rules_of}) as t(i, definition)),
        classified as (
            select rule_ids.i, effect_of.municipality, effect_of.person_a, effect_of.person_b,
                effect_of.knowledge_effect, at_a.line as line_a, at_b.line as line_m
            from effect_of
            cross join rule_ids
            left join rules as at_a
                on at_a.i = rule_ids.i and effect_of.exit_a <= cast($previous as date)
                and effect_of.outcome_a = at_a.outcome_code
                and effect_of.follow_up_a is not distinct from at_a.follow_up_code
            left join rules as at_b
                on at_b.i = rule_ids.i and effect_of.exit_b <= cast($previous as date)
                and effect_of.outcome_b = at_b.outcome_code
                and effect_of.follow_up_b is not distinct from at_b.follow_up_code
        ),
        in_a as (select distinct i, municipality, person_a as person_id, line_a as line
                 from classified where line_a is not null),
        in_m as (select distinct i, municipality, person_b as person_id, line_m as line
                 from classified where line_m is not null),
        revised as (
            select i, municipality, person_a as person_id, knowledge_effect from classified
            where person_a is not null and (line_a is distinct from line_m or person_a is distinct from person_b)
            union all
            select i, municipality, person_b as person_id, knowledge_effect from classified
            where person_b is not null and (line_a is distinct from line_m or person_a is distinct from person_b)
        ),
        revision as (
            select i, municipality, person_id,
                arg_min(knowledge_effect, revision_rank(knowledge_effect)) as effect
            from revised
            group by i, municipality, person_id
        ),
        changes as (
            select i, municipality, person_id, line, -1 as sign from (select * from in_a except select * from in_m)
            union all
            select i, municipality, person_id, line, 1 from (select * from in_m except select * from in_a)
        ),
        numbered as (
            select *, row_number() over (partition by i, municipality, person_id, sign order by line) as pair_no
            from changes
        ),
        moves as (
            select coalesce(left_line.i, joined_line.i) as i,
                coalesce(left_line.municipality, joined_line.municipality) as municipality,
                coalesce(left_line.person_id, joined_line.person_id) as person_id,
                left_line.line as from_line, joined_line.line as to_line
            from (select * from numbered where sign = -1) as left_line
            full outer join (select * from numbered where sign = 1) as joined_line
                on left_line.i = joined_line.i and left_line.municipality = joined_line.municipality
                and left_line.person_id = joined_line.person_id and left_line.pair_no = joined_line.pair_no
        ),
        with_effect as (
            select moves.i, moves.from_line, moves.to_line,
                coalesce(revision.effect, 'corrected_outcome') as effect
            from moves
            left join revision
                on moves.i = revision.i and moves.municipality = revision.municipality
                and moves.person_id = revision.person_id
        ),
        effects as (
            select i, to_line as line, effect, 1 as persons from with_effect where to_line is not null
            union all
            select i, from_line, effect, -1 from with_effect where from_line is not null
        ),
        per_effect as (
            select i, line, effect, sum(persons)::bigint as persons from effects group by i, line, effect
        )
        select rule_ids.definition, per_effect.line, per_effect.effect, per_effect.persons
        from per_effect
        inner join rule_ids on per_effect.i = rule_ids.i
        inner join (select code as line, position from taxonomy where vocabulary = 'reporting_lines') as lines
            on per_effect.line = lines.line
        where per_effect.persons <> 0
        order by per_effect.i, lines.position, effect_order(per_effect.effect)
    """, {"previous": previous, **names}).df()[columns]


#: what the report reads beyond the tables, newer than some releases: (kind, name, sql file)
REPORT_OBJECTS = (("view", "latest_deliveries", "views.sql"), ("macro", "series_points", "reconcile.sql"),
                  ("macro", "knowledge_pairs", "reconcile.sql"), ("macro", "revision_rank", "reconcile.sql"),
                  ("macro", "effect_order", "reconcile.sql"))


def _report_objects(con: duckdb.DuckDBPyConnection) -> set[str]:
    """A release published before sql/ had a view or macro the report reads (still current when a
    large revision awaits acceptance after an upgrade) gets it for this connection, as a temporary
    object of the same definition; the file itself is left as it was.

    Returns the names of the macros the database has among REPORT_OBJECTS' and reconcile (which
    the bridge needs), as it had them before: the catalogue is read once, since each read of
    duckdb_functions() lists every function DuckDB has (28 ms; five reads were a tenth of gather)."""
    from transforms.publish import sql_statement

    names = [name for _, name, _ in REPORT_OBJECTS] + ["reconcile"]
    present = set(con.execute("""
        select 'view', view_name from duckdb_views() where list_contains($names, view_name)
        union all
        select 'macro', function_name from duckdb_functions() where list_contains($names, function_name)
    """, {"names": names}).fetchall())
    for kind, name, file in REPORT_OBJECTS:
        if (kind, name) in present:
            continue
        statement = sql_statement(file, kind, name)
        con.execute(statement.replace(f"create or replace {kind}", f"create temp {kind}", 1))
    return {name for kind, name in present if kind == "macro"}


def _latest_deliveries(con: duckdb.DuckDBPyConnection, reference_date: date) -> pd.DataFrame:
    """The latest delivery per municipality (a held one with the reason it is held), and what its
    quarantine does to the figures at the reference date (quarantine_impact): episodes counted at
    an older version, and episodes in no figure at all."""
    return con.execute("""
        select latest.municipality, latest.period, latest.delivery_id, latest.status,
            coalesce(latest.status_reason, '') as status_reason, latest.stand_per, latest.rows_read,
            latest.rows_curated, latest.rows_quarantined, latest.rows_skipped,
            coalesce(impact.episodes_stale, 0) as episodes_stale,
            coalesce(impact.episodes_missing, 0) as episodes_missing
        from latest_deliveries as latest
        left join quarantine_impact($ref) as impact on latest.delivery_id = impact.latest_delivery
        order by latest.municipality
    """, {"ref": reference_date}).df()


def _quality(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("""
        select latest.municipality, issues.code, issues.severity, count(*) as findings
        from validation_issues as issues
        inner join latest_deliveries as latest on issues.delivery_id = latest.delivery_id
        group by all
        order by latest.municipality, findings desc, issues.code
    """).df()


def _quarantine(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("""
        select quarantined.*
        from quarantined_rows as quarantined
        inner join latest_deliveries as latest on quarantined.delivery_id = latest.delivery_id
        order by quarantined.delivery_id, quarantined.excel_row
    """).df()


# --- cells safe to write ------------------------------------------------------------------------

def is_dangerous(value: object) -> bool:
    """Text that a spreadsheet could take for a formula (or DDE command)."""
    return isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES)


def _plain(value: object) -> object:
    """A cell value as a Python scalar: None for missing, date for timestamps."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(str(v) for v in value)
    return value


# --- Excel ----------------------------------------------------------------------------------------

def write_excel(data: ReportData, path: Path, sections: list[tuple[str, pd.DataFrame, str]] | None = None) -> Path:
    """The workbook: one sheet per section, every text cell written as text (see module doc).
    sections: _sections(data), when the caller has them already (the page shows the same)."""
    import xlsxwriter

    replace_file(path, lambda part: _build_workbook(xlsxwriter.Workbook(
        str(part), {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
                    "remove_timezone": True}), data, sections))
    return path


def _build_workbook(book, data: ReportData, sections: list[tuple[str, pd.DataFrame, str]] | None) -> None:
    formats = {"head": book.add_format({"bold": True, "bg_color": "#E8EEF4", "text_wrap": True}),
               "date": book.add_format({"num_format": "yyyy-mm-dd"}),
               "time": book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
               "text": book.add_format({"quote_prefix": True}),
               "title": book.add_format({"bold": True, "font_size": 13})}
    texts = report_texts(data.language)
    for title, frame, note in _sections(data) if sections is None else sections:
        sheet = book.add_worksheet(title[:31])
        sheet.write_string(0, 0, title, formats["title"])
        if len(frame) > SHEET_ROWS:
            note = f"{note} {_more_rows(texts, len(frame), SHEET_ROWS)}".strip()
            frame = frame.head(SHEET_ROWS)
        if note:
            sheet.write_string(1, 0, note)
        _write_frame(sheet, frame, 3, formats)
    book.close()


def _write_frame(sheet, frame: pd.DataFrame, top: int, formats: dict) -> None:
    for col, name in enumerate(frame.columns):
        sheet.write_string(top, col, str(name), formats["head"])
        sheet.set_column(col, col, max(10, min(40, len(str(name)) + 2)))
    for col in range(len(frame.columns)):
        _write_column(sheet, top + 1, col, frame.iloc[:, col], formats)
    if len(frame.columns):
        sheet.freeze_panes(top + 1, 0)
        sheet.autofilter(top, 0, top + max(len(frame), 1), len(frame.columns) - 1)


def _write_column(sheet, first: int, col: int, values: pd.Series, formats: dict) -> None:
    """One column's cells from row `first` on, as write_cell writes them, in one loop per column type.

    Plain numbers, text and dates without time zone go straight to the writer's typed methods;
    any other column (objects, booleans, time zones, ...) goes cell by cell through write_cell.
    """
    dtype = values.dtype
    if dtype.kind in "iuf" and isinstance(dtype, np.dtype):  # numbers; NaN is a blank cell
        number, blank = sheet.write_number, sheet.write_blank
        for row, value in enumerate(values.to_numpy().tolist(), start=first):
            if value != value:
                blank(row, col, None)
            else:
                number(row, col, value)
    elif isinstance(dtype, pd.StringDtype):  # text, never a formula
        string, blank, quoted = sheet.write_string, sheet.write_blank, formats["text"]
        for row, value in enumerate(values.to_numpy(dtype=object, na_value=None), start=first):
            if value is None:
                blank(row, col, None)
            else:
                string(row, col, value, quoted if value.startswith(DANGEROUS_PREFIXES) else None)
    elif dtype.kind == "M" and isinstance(dtype, np.dtype):  # timestamps: a date when at midnight
        number, blank = sheet.write_number, sheet.write_blank
        at_midnight = (values == values.dt.normalize()).to_numpy()
        for row, value, day in zip(range(first, first + len(values)), excel_serials(values).tolist(),
                                   at_midnight, strict=True):
            if value != value:
                blank(row, col, None)
            else:  # the cell write_datetime writes: the serial number in the date's format
                number(row, col, value, formats["date"] if day else formats["time"])
    else:
        for row, value in enumerate(values, start=first):
            write_cell(sheet, row, col, value, formats)


#: Excel's epoch (its day 0) for the 1900 date system
_EXCEL_EPOCH = np.datetime64("1899-12-31")


def excel_serials(values: pd.Series) -> np.ndarray:
    """Naive timestamps as Excel serial numbers (NaT: NaN), the numbers xlsxwriter's
    write_datetime computes one value at a time, in the same arithmetic: whole days since
    1899-12-31 plus (seconds + microseconds / 1e6) / 86400, one day more after 1900-02-28 (Excel
    counts 1900-02-29), one less on 1900-01-01 itself. 17,640 dates of the national series took
    0.3 s through write_datetime."""
    stamps = values.to_numpy(dtype="datetime64[us]")
    missing = np.isnat(stamps)
    delta = (np.where(missing, _EXCEL_EPOCH, stamps) - _EXCEL_EPOCH).astype(np.int64)  # microseconds
    days, rest = np.divmod(delta, 86_400_000_000)
    seconds, micros = np.divmod(rest, 1_000_000)
    serial = days.astype("float64") + (seconds.astype("float64") + micros.astype("float64") / 1e6) / (60 * 60 * 24)
    serial -= (stamps == np.datetime64("1900-01-01T00:00:00", "us"))
    serial += serial > 59
    return np.where(missing, np.nan, serial)


def write_cell(sheet, row: int, col: int, value: object, formats: dict) -> None:
    """One cell, by type: numbers as numbers, dates as dates, all else as text (never a formula)."""
    value = _plain(value)
    if value is None:
        sheet.write_blank(row, col, None)
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, (int, float)):
        sheet.write_number(row, col, value)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value.replace(tzinfo=None), formats["time"])
    elif isinstance(value, date):
        sheet.write_datetime(row, col, datetime(value.year, value.month, value.day), formats["date"])
    else:
        text = str(value)
        sheet.write_string(row, col, text, formats["text"] if is_dangerous(text) else None)


def _sections(data: ReportData) -> list[tuple[str, pd.DataFrame, str]]:
    """(title, table, note) per section, in report order, in the report's language; empty internal
    sections are left out. Column names and codes are in the report's language (in_language); the
    headline keeps the line codes beside their labels: the key to the database's figures."""
    texts = report_texts(data.language)
    edition = "public" if data.public else "internal"
    shown = _shown if data.public else (lambda frame: frame)
    item = texts["about"]
    about = pd.DataFrame([
        (item["reference_date"], data.reference_date), (item["previous_date"], data.previous_date),
        (item["edition"], texts["edition"][edition]), (item["definitions"], ", ".join(data.definitions)),
        (item["run"], data.run.get("run_id")), (item["run_status"], value_text(data.language, "run_status", data.run.get("status"))),
        (item["release"], data.run.get("release_id")),
        (item["generated_at"], datetime.now(UTC).replace(microsecond=0)),
        *((item["note"], note) for note in data.notes),
    ], columns=["item", "value"])
    headline = data.headline.assign(  # the lines' labels in the report's language
        label=data.headline["line"].map(line_labels(data.language)).fillna(""))
    series = shown(data.outflow_series) if data.public else _wide_series(data.outflow_series)
    frames = [("about", about), ("headline", headline), ("by_municipality", data.by_municipality),
              ("durable_share", data.durable_share), ("outflow_series", series),
              ("occupancy_series", shown(data.occupancy_series))]
    if not data.public:
        frames += [("changes", data.changes), ("bridge", data.bridge), ("deliveries", data.deliveries),
                   ("quality", data.quality), ("quarantine", data.quarantine),
                   ("run", pd.DataFrame(data.run.get("deliveries", [])))]
    values = {"reference_date": data.reference_date, "previous_date": data.previous_date}
    # column names in the report's language; the public table by municipality has a column per line
    columns = {**value_texts(data.language)["line"], **texts["columns"]}
    return [(texts["sections"][key][0],
             in_language(frame, data.language, keep=("line",) if key == "headline" else ())
             .rename(columns=lambda c: columns.get(c, c)),
             texts["sections"][key][1].format(**values)) for key, frame in frames]


def _wide_series(series: pd.DataFrame) -> pd.DataFrame:
    """The internal outflow series as a table: a row per month end, counting rule and municipality,
    a column per line (the taxonomy's order, 0 where nobody left by it): an eighth of the rows."""
    keys, lines = ["month_end", "definition", "municipality"], list(line_labels())
    if series.empty:
        return pd.DataFrame(columns=[*keys, *lines])
    wide = (series.set_index([*keys, "line"])["persons"].unstack("line", fill_value=0)
            .reindex(columns=lines, fill_value=0).astype("int64"))
    wide.columns.name = None
    return wide.reset_index()


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """A public series for a table: points left out of the charts shown as SUPPRESSED."""
    out = frame.copy()
    for col in out.columns:
        if str(out[col].dtype) == "Float64":
            out[col] = out[col].astype(object).where(out[col].notna(), SUPPRESSED)
    return out


# --- HTML -----------------------------------------------------------------------------------------

def write_html(data: ReportData, path: Path, sections: list[tuple[str, pd.DataFrame, str]] | None = None) -> Path:
    """One self-contained page: the charts (plotly.js inlined) and every table, values escaped.
    sections: _sections(data), when the caller has them already (the workbook shows the same)."""
    from plotly.offline import get_plotlyjs

    texts = report_texts(data.language)
    charts = "\n".join(f"<section><h2>{html.escape(title)}</h2>{body}</section>"
                       for title, body in _charts(data))
    tables = "\n".join(f"<section><h2>{html.escape(title)}</h2><p>{html.escape(note)}</p>"
                       f"{_html_table(frame, texts)}</section>"
                       for title, frame, note in (_sections(data) if sections is None else sections))
    edition = texts["edition_short"]["public" if data.public else "internal"]
    title = texts["page_title"].format(reference_date=data.reference_date, edition=edition)
    heading = texts["heading"].format(reference_date=data.reference_date)
    page = (f"<!doctype html><html lang='{data.language}'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
            f"<h1>{html.escape(heading)} <small>({html.escape(edition)})</small></h1>{charts}{tables}"
            "</body></html>")
    return replace_file(path, page)


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
        "font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "th{background:#e8eef4}td.t{text-align:left}section{margin-bottom:2em}")


def _more_rows(texts: dict, rows: int, shown: int) -> str:
    """The note under a table cut at `shown` rows: where the others are."""
    where = "more_rows" if rows <= SHEET_ROWS else "more_rows_database"
    return texts[where].format(n=rows - shown)  # plain digits: 16.000 reads as 16 in English


def _html_table(frame: pd.DataFrame, texts: dict) -> str:
    if frame.empty:
        return f"<p>{html.escape(texts['none'])}</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    shown = frame.head(PAGE_ROWS)
    columns = [_html_cells(shown.iloc[:, col]) for col in range(shown.shape[1])]
    rows = ["<tr>" + "".join(cells) + "</tr>" for cells in zip(*columns)]
    more = (f"<p>{html.escape(_more_rows(texts, len(frame), PAGE_ROWS))}</p>" if len(frame) > PAGE_ROWS else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _html_cells(values: pd.Series) -> list[str]:
    """One column's cells of a page's table: numbers right-aligned, all else as escaped text (left);
    a missing value an empty text cell. Whole numbers, text and dates in one pass per column (the page's
    tables were a cell at a time through _plain: 31,000 cells, a tenth of a nothing-new report)."""
    dtype = values.dtype
    if dtype.kind in "iu" and isinstance(dtype, np.dtype):  # digits: nothing to escape
        return [f"<td>{value}</td>" for value in values.to_numpy().tolist()]
    if isinstance(dtype, pd.StringDtype):
        return ["<td class='t'></td>" if value is None else f"<td class='t'>{html.escape(value)}</td>"
                for value in values.to_numpy(dtype=object, na_value=None)]
    if dtype.kind == "M" and isinstance(dtype, np.dtype):  # naive timestamps
        # a timestamp at midnight is its date (ISO digits and dashes: nothing to escape), as _plain
        # makes it; any other through _plain (a series' 2,000 month ends took 15 ms a column)
        stamps = values.to_numpy()
        days = stamps.astype("datetime64[D]")
        plain = ((days == stamps) & (days >= _FIRST_DAY) & (days <= _LAST_DAY)).tolist()
        return ["<td class='t'></td>" if missing else f"<td class='t'>{text}</td>" if day
                else _html_cell(values.iloc[row])
                for row, (text, day, missing) in enumerate(zip(np.datetime_as_string(days, unit="D").tolist(),
                                                               plain, np.isnat(stamps).tolist()))]
    return [_html_cell(value) for value in values.to_numpy(dtype=object)]


#: the dates a Python date can hold (_plain makes a timestamp at midnight one)
_FIRST_DAY, _LAST_DAY = np.datetime64("0001-01-01", "D"), np.datetime64("9999-12-31", "D")


def _html_cell(value: object) -> str:
    """One cell of a page's table, by type: a number right-aligned, all else escaped text (left)."""
    value = _plain(value)
    text = "" if value is None else str(value)
    css = "" if isinstance(value, (int, float)) else " class='t'"
    return f"<td{css}>{html.escape(text)}</td>"


def _charts(data: ReportData) -> list[tuple[str, str]]:
    """(title, chart html) for each chart this edition has, in the report's language."""
    texts = report_texts(data.language)
    title, words = texts["charts"], texts["columns"]
    charts = []
    series = in_language(data.outflow_series, data.language)
    if not series.empty:
        # min_count=1: a point suppressed in the public edition (NA) stays a gap, not 0
        per_line = series.groupby(["month_end", "definition", "line"], as_index=False)["persons"].sum(
            min_count=1)
        charts.append((title["outflow_per_line"], _chart(
            per_line, "month_end", "persons", "line", facet="definition",
            labels={**words, "persons": words["persons_cumulative"]})))
        if "municipality" in series.columns:
            first = series[series["definition"] == data.definitions[0]]
            charts.append((title["outflow_per_municipality"].format(definition=data.definitions[0]),
                           _chart(first, "month_end", "persons", "line", facet="municipality", wrap=3,
                                  labels=words)))
    # exact shares only: a marker or a band (text) is no point to draw
    shares = data.durable_share[~data.durable_share["share"].map(lambda v: isinstance(v, str))].copy()
    if not shares.empty:
        shares["share"] = shares["share"].astype(float)
        charts.append((title["durable_share"], _chart(
            shares, "municipality", "share", "definition", bar="group", labels=words)))
    if not data.occupancy_series.empty:
        charts.append((title["occupancy"], _chart(
            data.occupancy_series, "month_end", "occupancy", "municipality", labels=words)))
    if not data.changes.empty:
        moved = in_language(data.changes.melt(id_vars=["definition", "line"], value_vars=["new_exits", "revision"],
                                              var_name="kind", value_name="persons"), data.language)
        charts.append((title["changes"], _chart(
            moved, "line", "persons", "kind", facet="definition", bar="group", labels=words)))
    if not data.quality.empty:
        charts.append((title["quality"], _chart(
            data.quality, "municipality", "findings", "code", bar="relative", labels=words)))
    return charts


#: chart height: the plot's margins, and each row of panels
CHART_MARGIN_PX, PANEL_ROW_PX = 120, 300
#: the gap between two rows of panels (a panel's title sits in it), whatever the number of rows:
#: as a fixed fraction of the chart, 9 rows of municipalities left each panel 130 of its 300 px
PANEL_GAP_PX = 45


def chart_height(n_panels: int, wrap: int) -> int:
    """Pixels for a chart of n_panels panels wrapped after `wrap` (0: all in one row)."""
    rows = -(-max(n_panels, 1) // wrap) if wrap else 1
    return CHART_MARGIN_PX + PANEL_ROW_PX * rows


def _chart(frame: pd.DataFrame, x: str, y: str, colour: str, *, facet: str | None = None,
           wrap: int = 0, bar: str | None = None, labels: dict[str, str] | None = None) -> str:
    """One chart as an html div (plotly.js not included), built with plotly.graph_objects.

    Lines, or bars in the given barmode, of y against x: one trace per value of `colour` (the
    template's colours in order of first appearance) in each panel, one panel per value of `facet`
    (wrapped after `wrap` panels, axes shared), as plotly.express draws them. `labels` renames
    columns in axis titles, legend title and hover text. Rows are taken in the frame's order;
    missing values (pd.NA) are gaps.
    """
    import plotly.io as pio
    from plotly.colors import qualitative

    labels = labels or {}
    # values in order of first appearance; a missing value is a value of its own, as in plotly.express
    colour_codes, colours = pd.factorize(frame[colour], use_na_sentinel=False)
    if facet:
        panel_codes, panels = pd.factorize(frame[facet], use_na_sentinel=False)
    else:
        panel_codes, panels = np.zeros(len(frame), dtype="int64"), [None]
    layout, axes = _panels([str(p) for p in panels] if facet else None, wrap,
                           labels.get(x, x), labels.get(y, y))
    sequence = pio.templates[pio.templates.default].layout.colorway or qualitative.D3
    xs, ys = frame[x].to_numpy(), frame[y]
    ys = (ys.to_numpy(dtype="float64", na_value=np.nan)
          if isinstance(ys.dtype, pd.api.extensions.ExtensionDtype) else ys.to_numpy())
    traces, named = [], set()
    for (c, p), rows in frame.groupby([colour_codes, panel_codes], sort=True).indices.items():
        name = str(colours[c])
        hover = [f"{labels.get(colour, colour)}={name}"]
        if facet:
            hover.append(f"{labels.get(facet, facet)}={panels[p]}")
        hover += [f"{labels.get(x, x)}=%{{x}}", f"{labels.get(y, y)}=%{{y}}<extra></extra>"]
        trace = {"name": name, "legendgroup": name, "showlegend": name not in named,
                 "x": xs[rows], "y": ys[rows], "xaxis": axes[p][0], "yaxis": axes[p][1],
                 "orientation": "v", "hovertemplate": "<br>".join(hover)}
        named.add(name)
        hue = sequence[c % len(sequence)]
        if bar:
            trace.update(type="bar", marker={"color": hue, "pattern": {"shape": ""}}, textposition="auto")
            if bar == "group":
                trace.update(alignmentgroup=True, offsetgroup=name)
        else:
            trace.update(type="scatter", mode="lines", marker={"symbol": "circle"},
                         line={"color": hue, "dash": "solid"})
        traces.append(trace)
    layout.update(legend={"title": {"text": labels.get(colour, colour)}, "tracegroupgap": 0},
                  margin={"t": 40, "l": 40, "r": 20, "b": 40},
                  height=chart_height(len(panels), wrap if facet else 0))
    if bar:
        layout["barmode"] = bar
    # the figure as plotly.js takes it, with the template go.Figure would add; not validated
    # property by property (that took most of the charts' time: 200 traces at 25 municipalities)
    return pio.to_html({"data": traces, "layout": {**layout, "template": _template()}}, full_html=False,
                       include_plotlyjs=False, validate=False)


@functools.cache
def _template() -> dict:
    """The default plotly template as JSON, as go.Figure puts it in every figure's layout."""
    import plotly.io as pio

    return pio.templates[pio.templates.default].to_plotly_json()


def _panels(titles: list[str] | None, wrap: int, x_title: str, y_title: str
            ) -> tuple[dict, list[tuple[str, str]]]:
    """The axes of a chart: (layout, (xaxis, yaxis) of each panel), as plotly.express lays out facets.

    titles None: one panel. Otherwise one titled panel per title, in a row or wrapped after `wrap`
    panels (filling rows from the top), all axes shared; x titles on the bottom row, y titles in
    the first column.
    """
    if titles is None:
        return ({"xaxis": {"anchor": "y", "domain": [0.0, 1.0], "title": {"text": x_title}},
                 "yaxis": {"anchor": "x", "domain": [0.0, 1.0], "title": {"text": y_title}}},
                [("x", "y")])
    grid, axes, bottom, left = _grid(len(titles), wrap)
    layout = copy.deepcopy(grid)
    layout["annotations"] = [{**note, "text": titles[int(note["text"])]}  # the panel's number: its title
                             for note in layout.get("annotations", []) if titles[int(note["text"])]]
    for name in bottom:
        layout[name]["title"] = {"text": x_title}
    for name in left:
        layout[name]["title"] = {"text": y_title}
    return layout, list(axes)


@functools.lru_cache(maxsize=32)
def _grid(n_panels: int, wrap: int) -> tuple[dict, tuple, tuple, tuple]:
    """The grid plotly's make_subplots lays out for n_panels panels, each titled with its number:
    shared axes ("all"), filled from the bottom-left cell, horizontal spacing 0.02, the vertical
    spacing PANEL_GAP_PX of a row wrapped after `wrap` panels (else all in one row, 0.03), equal
    widths and heights; titles above each panel (wrapped) or over each column (one row).

    (layout, (xaxis, yaxis) of each panel, the x axes of the bottom row, the y axes of the first
    column). The same layout, key order and floating-point arithmetic as make_subplots (a test
    compares them shape by shape), computed here: make_subplots builds and validates a
    plotly.graph_objects figure, and the internal page's two grids cost 0.3 to 0.7 s in each new
    process (each run of the flow is one). Cached, so copy the layout before changing it: the same
    grid serves several charts and both editions.
    """
    n_cols = min(wrap, n_panels) if wrap else n_panels
    n_rows = -(-n_panels // n_cols)
    across, down = 0.02, PANEL_GAP_PX / (PANEL_ROW_PX * n_rows) if wrap else 0.03
    width = (1.0 - across * (n_cols - 1)) * (1.0 / float(n_cols))
    height = (1.0 - down * (n_rows - 1)) * (1.0 / float(n_rows))
    # the template's place: make_subplots puts it first; _chart sets it
    layout: dict = {"template": None}
    domains: dict[tuple[int, int], tuple[list[float], list[float]]] = {}
    suffix: dict[tuple[int, int], str] = {}
    for r in range(n_rows):  # r = 0: the bottom row
        for c in range(n_cols):
            left, bottom = sum([width] * c) + c * across, sum([height] * r) + r * down
            # make_subplots puts y within [0, 1] and titles the cell as computed; plotly's
            # validation then puts x within [0, 1] too (a last column's 1.0000000000000002)
            y_domain = [_unit(bottom), _unit(bottom + height)]
            domains[r, c], x_domain = ([left, left + width], y_domain), [_unit(left), _unit(left + width)]
            suffix[r, c] = number = "" if (r, c) == (0, 0) else str(r * n_cols + c + 1)
            shared = {} if (r, c) == (0, 0) else {"matches": "x"}
            layout[f"xaxis{number}"] = {"anchor": f"y{number}", "domain": x_domain, **shared,
                                        **({"showticklabels": False} if r > 0 else {})}
            layout[f"yaxis{number}"] = {"anchor": f"x{number}", "domain": y_domain,
                                        **({"matches": "y"} if shared else {}),
                                        **({"showticklabels": False} if c > 0 else {})}
    cells = [(n_rows - 1 - i // n_cols, i % n_cols) for i in range(n_panels)]  # rows from the bottom
    numbers = {cell: str(i) for i, cell in enumerate(cells)}
    # a panel's title above it (wrapped), or a column's above the row (one row; cells = columns)
    titled = [cell for cell in domains if cell in numbers] if wrap else [(n_rows - 1, c) for c in range(n_cols)]
    layout["annotations"] = [{"showarrow": False, "text": numbers[cell], "x": sum(domains[cell][0]) / 2.0,
                              "xanchor": "center", "xref": "paper", "y": domains[cell][1][1],
                              "yanchor": "bottom", "yref": "paper"} for cell in titled]
    return (layout, tuple((f"x{suffix[cell]}", f"y{suffix[cell]}") for cell in cells),
            tuple(f"xaxis{suffix[0, c]}" for c in range(n_cols)),
            tuple(f"yaxis{suffix[r, 0]}" for r in range(n_rows)))


def _unit(value: float) -> float:
    return min(max(value, 0.0), 1.0)


# --- all four files -------------------------------------------------------------------------------

def report_dir(data_root: Path, reference_date: date) -> Path:
    """data/reports/<reference date>/: beside the publication, not in it (it is for people)."""
    return data_root / "reports" / f"{reference_date:%Y-%m-%d}"


def write_monthly_report(data: ReportData, out_dir: Path, threshold: int = DEFAULT_THRESHOLD,
                         language: str = DEFAULT_LANGUAGE) -> dict[str, Path]:
    """The internal and public workbook and page in `language` (nl or en); returns {name: path}."""
    report_texts(language)  # an unknown language fails before anything is written
    data = replace(data, language=language)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"lvv-monthly-{data.reference_date:%Y-%m-%d}"
    from transforms.public_edition import PROTECTION_CACHE, public_edition

    # patterns kept by fingerprint beside the reports: a run with nothing new optimises nothing
    public = public_edition(data, threshold, cache_dir=out_dir.parent / PROTECTION_CACHE)
    written = {}
    for edition, shown in (("internal", data), ("public", public)):
        sections = _sections(shown)  # the tables of both files of the edition, built once
        written[f"{edition}_xlsx"] = write_excel(shown, out_dir / f"{stem}-{edition}.xlsx", sections)
        written[f"{edition}_html"] = write_html(shown, out_dir / f"{stem}-{edition}.html", sections)
    return written

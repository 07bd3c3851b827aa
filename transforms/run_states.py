"""What a finished run leaves for a steward: the run states behind `Needs steward` and `lvv run`'s exit 1.

A held delivery, a rejected one still in data/raw, and lines of a corrections file that the release
did not apply each wait for a steward; `waiting_for_steward` names them, one phrase each, and the
flow's final state and the CLI's exit code follow from whether there is any (docs/operations.md).
"""

from __future__ import annotations

from pathlib import Path


def _folders(raw_dir: Path) -> list[Path]:
    try:
        return [folder for folder in raw_dir.iterdir() if folder.is_dir()]
    except OSError:
        return []


#: line numbers named per corrections file on the terminal (the rest are counted)
LINES_SHOWN = 10


def lines_not_applied(database: Path, raw_dir: Path) -> list[str]:
    """Per corrections file with lines that are not applied, as the published release found them
    (a correction finding of severity fatal or error in its validation_issues): one phrase with
    the file, the count and the first LINES_SHOWN line numbers, and where the reasons are. Empty
    when there is none, or no release to read. One query over the release's findings: the same
    every run until the file is fixed (the corrections files are part of the release's inputs).
    Asked only when raw_dir holds a corrections file: the query costs 0.05-0.14 CPU s (DuckDB
    opened), which a run with nothing new and no corrections file need not pay."""
    import duckdb

    from transforms.corrections import corrections_path

    if not database.is_file() or not any(
            corrections_path(raw_dir, folder.name) for folder in _folders(raw_dir)):
        return []
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            rows = con.execute("""
                select file, delivery_id, list(distinct excel_row order by excel_row) filter (excel_row is not null),
                    count(*) filter (excel_row is null) > 0
                from validation_issues
                where level = 'correction' and severity in ('fatal', 'error')
                group by file, delivery_id order by file
            """).fetchall()
    except duckdb.Error:  # a damaged release: the run repairs it and says so
        return []
    phrases = []
    for file, delivery_id, lines, whole in rows:
        where = f"the reasons in validation_issues under {delivery_id}"
        if whole:
            phrases.append(f"corrections not applied: {file} cannot be read, no line of it applied ({where})")
            continue
        shown = ", ".join(map(str, lines[:LINES_SHOWN])) + (", ..." if len(lines) > LINES_SHOWN else "")
        phrases.append(f"corrections not applied: {len(lines)} line{'s' if len(lines) != 1 else ''} of {file} "
                       f"(line{'s' if len(lines) != 1 else ''} {shown}; {where})")
    return phrases


def waiting_for_steward(run_record: dict, staged: Path, database: Path | None = None,
                        raw_dir: Path | None = None, records: list[dict] | None = None) -> list[str]:
    """What a finished run leaves for a steward, one phrase each (none: everything is in force and
    published): the flow's final state is named `Needs steward` and `lvv run` exits 1 when there is
    any. A held delivery counts until it is released or a later delivery of its municipality is in
    force, so every run says so, not only the one that held it; a rejected delivery counts while
    its raw file is still in data/raw unchanged (a file fixed is processed again, a file removed
    takes its record with it) and, where it has a period, no later delivery of its municipality is
    in force, every run, with the file named; lines of a corrections file not
    applied count while the release (database) says so and raw_dir holds a corrections file.
    Quarantined rows do not count (their delivery is in force, the report lists them). records: the
    stored records as the run left them, when the caller has read them after the run's last write
    (the flow: needs_release's; not changed here), else read from staged."""
    from transforms.gate import HELD, with_gate_status
    from transforms.store import load_records

    waiting = []
    if run_record["status"] == "awaiting-acceptance":
        waiting.append("the new release awaits acceptance (`lvv run --accept-revisions`)")
    records = load_records(staged) if records is None else records
    # as a held delivery: a rejection with a later delivery of its municipality in force no longer
    # waits (each delivery is a whole snapshot, so the later one holds everything it would have); a
    # rejection without a period (a folder not named YYYY-MM) waits until it is fixed or removed
    in_force: dict[str, str] = {}
    for r in records:
        if r.get("status") == "accepted":
            in_force[r["municipality"]] = max(in_force.get(r["municipality"], ""), r.get("period") or "")
    rejected = [f"{r['delivery_id']} ({r['file']})" if r.get("file") else r["delivery_id"]
                for r in records if r.get("status") == "rejected"
                and not (r.get("period") and in_force.get(r["municipality"], "") > r["period"])]
    if rejected:
        waiting.append(f"rejected whole, nothing of it in force: {', '.join(rejected)} (fix or remove the file)")
    held = [r["delivery_id"] for r in with_gate_status(records) if r.get("status") == HELD]
    if held:
        waiting.append(f"held, not in force: {', '.join(held)} (`lvv deliveries list --held`)")
    if database is not None and raw_dir is not None:
        waiting += lines_not_applied(database, raw_dir)
    return waiting

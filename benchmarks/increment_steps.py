"""The monthly run's steps other than processing, one by one, in this process, on a published network.

    python -m benchmarks.increment_steps --workdir DIR [--repeat 3]

DIR holds a network that `python -m benchmarks.large --factor F --workdir DIR` (or `--scale series`
with --workdir) wrote and published: its raw files, store and current release are read, nothing of
them is changed (the release built here is removed again). Times, per step, the plain functions
the flow's tasks call: listing the deliveries against the store, every raw file hashed or its hash
kept from the run before (find-deliveries), the inputs' fingerprint (needs-release), verifying the current release (tidy), the history with every
municipality kept (build-history with nothing new), writing a release of those tables
(build-release), the revision check with the current release's figures computed and, as the
monthly run has them, kept in the release before (revision-check), the headline changes
(figure-changes), and the report's gather fresh and from its cache (monthly-report); the
revision check, figure-changes and gather also as before the headline was shared (every figure
asked, or all but the last month end kept) and as since (the check keeps the reference date's
figures besides, which figure-changes and gather read). Prints a
Markdown table: median, min and max seconds of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from benchmarks.arguments import existing_dir, positive_int
from benchmarks.measure import Stat

RULES = ["programme", "evaluation-2021", "evaluation-2022"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.increment_steps", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=existing_dir, required=True,
                        help="a network written and published by benchmarks.large --workdir")
    parser.add_argument("--repeat", type=positive_int, default=3)
    args = parser.parse_args(argv)
    root = args.workdir / "data"
    if not (root / "curated" / "current" / "release.json").is_file() or not (args.workdir / "dataset.json").is_file():
        parser.error(f"{args.workdir} holds no published network (run benchmarks.large --workdir {args.workdir} first)")
    if (args.workdir / "sources").is_dir():
        os.environ["LVV_SOURCES_DIR"] = str(args.workdir / "sources")
    stats = measure(root, args.repeat)
    print("| step (in process) | median s | min | max |\n|---|---|---|---|")
    for name, stat in stats.items():
        print(f"| {name} | {stat.median:.3f} | {stat.min:.3f} | {stat.max:.3f} |")
    return 0


def measure(root: Path, repeat: int) -> dict[str, Stat]:
    from lvv.settings import DataPaths
    from schemas.contracts import contracts
    from schemas.gates import revision_tolerance
    from transforms import monthly_report, runs
    from transforms.corrections import corrections_fingerprint
    from transforms.curate import curated_tables
    from transforms.discover import discover, needs_processing
    from transforms.publish import build_release, current_release, inputs_fingerprint, verify_release
    from transforms.store import load_records

    paths = DataPaths(root)
    release = current_release(paths.curated)
    reference = runs.known_until(release / "lvv.duckdb")
    tolerance = revision_tolerance()
    dates = runs.month_ends(reference, tolerance.months)
    contracts()  # parsed once per process, as in a run
    state: dict[str, object] = {}
    scratch = Path(tempfile.mkdtemp(prefix="lvv-steps-"))

    # the current release with the figures a revision check a month before kept (before the check
    # kept its reference date besides: all but the last month end); the same with every month end
    # kept (since: the run before kept its reference date, this check's last month end); the
    # database alone (nothing kept: every figure asked); a new release its check writes into
    kept = scratch / "release"
    shutil.copytree(release, kept)
    runs.keep_series(kept, runs.headline_series(kept / "lvv.duckdb", dates[:-1], RULES))
    bare, whole, checked = (scratch / name for name in ("bare", "whole", "checked"))
    for folder in (bare, whole, checked):
        folder.mkdir()
        shutil.copy(release / "lvv.duckdb", folder / "lvv.duckdb")
    runs.keep_series(whole, runs.headline_series(bare / "lvv.duckdb", dates, RULES))
    runs.check_series(checked, dates, reference, RULES)
    monthly_report.gather_cached(paths.database, reference, RULES, None, scratch / "gather-cache")
    hashes: dict[str, list] = {}
    needs_processing(discover(paths.raw, contracts())[0], [], hashes)

    def build() -> None:
        building = build_release(paths.curated, state["tables"], runs.read_runs(paths.curated))
        shutil.rmtree(state.get("building", building), ignore_errors=True)
        state["building"] = building

    def revision(before: Callable[[], object], after: Callable[[], object] | None = None) -> Callable[[], None]:
        def run() -> None:
            new = after() if after else runs.headline_series(bare / "lvv.duckdb", dates, RULES)
            runs.revisions(before(), new, tolerance)
        return run

    def gather_cached() -> None:
        monthly_report.gather_cached(paths.database, reference, RULES, None, scratch / "gather-cache")

    steps: dict[str, Callable[[], None]] = {
        "find-deliveries: discover, records, what is new": lambda: needs_processing(
            discover(paths.raw, contracts())[0], load_records(paths.staged)),
        "find-deliveries, the raw files' hashes kept": lambda: needs_processing(
            discover(paths.raw, contracts())[0], load_records(paths.staged), dict(hashes)),
        "needs-release: the inputs' fingerprint": lambda: inputs_fingerprint(
            paths.staged, corrections_fingerprint(paths.raw, contracts())),
        "tidy: verify the current release": lambda: verify_release(paths.curated),
        "build-history, nothing new (every municipality kept)": lambda: state.update(
            tables=curated_tables(paths.staged, raw_dir=paths.raw)),
        "build-release": build,
        "revision-check, the current release's figures computed": revision(
            lambda: runs.headline_series(bare / "lvv.duckdb", dates, RULES)),
        "revision-check, its figures kept but the last month end": revision(
            lambda: runs.release_series(kept, dates, RULES)),
        "revision-check, every figure kept (the run before kept its reference date)": revision(
            lambda: runs.release_series(whole, dates, RULES),
            lambda: runs.check_series(checked, dates, reference, RULES)),
        "figure-changes, both releases' headline asked": lambda: runs.headline_changes(
            runs.headline(bare / "lvv.duckdb", reference, RULES), runs.headline(bare / "lvv.duckdb", reference, RULES)),
        "figure-changes, the new release's kept by its check": lambda: runs.headline_changes(
            runs.headline(bare / "lvv.duckdb", reference, RULES), runs.headline(checked / "lvv.duckdb", reference, RULES)),
        "monthly-report: gather, the headline asked": lambda: monthly_report.gather(
            bare / "lvv.duckdb", reference, RULES),
        "monthly-report: gather, the headline kept by the check": lambda: monthly_report.gather(
            checked / "lvv.duckdb", reference, RULES),
        "monthly-report: gather, from its cache (nothing new)": gather_cached,
    }
    stats: dict[str, Stat] = {}
    try:
        for name, step in steps.items():
            stats[name] = Stat()
            for _ in range(repeat):
                started = time.perf_counter()
                step()
                stats[name].add(time.perf_counter() - started)
    finally:
        shutil.rmtree(state.get("building", scratch / "none"), ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return stats


if __name__ == "__main__":
    sys.exit(main())

"""The monthly run's report step, part by part, on a published data directory (issue 13).

    python -m benchmarks.report_step --data-dir DIR --reference-date YYYY-MM-DD [--cache-from DIR2]
                                     [--repeat N] [--json PATH]

What `monthly_report_task` does, each part timed in this process (CPU and wall seconds, median of
--repeat): `gather` from DIR's current release; the public edition's protection (`public_edition`)
starting from the protection cache of DIR2 (a data directory as the run before left it, e.g.
`benchmarks.increment_base`'s OUT/base: its reports/protection-cache holds last month's
patterns, so the new month's problems and the joint audits over every month end are solved, as
in a monthly increment) or from none (as a full rebuild); the same again from the cache this
left (a run with nothing new); and each edition's workbook and page. Nothing is written into DIR
or DIR2: the cache is copied, the files go to a temporary directory. With --json, the figures are
added to the file under 'report_step'.

For the x100 increment (docs/performance.md, eleventh round): DIR is a copy of
`benchmarks.increment_base`'s OUT/base after its next `lvv run --reference-date 2022-07-31`,
and DIR2 is OUT/base.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.arguments import existing_dir, json_output, positive_int
from benchmarks.figures import DEFINITIONS
from benchmarks.measure import Stat

PARTS = ("gather", "public_edition", "public_edition_nothing_new", "workbook_internal", "page_internal",
         "workbook_public", "page_public")


def measure(data_dir: Path, reference_date: date, cache_from: Path | None, repeat: int = 1
            ) -> dict[str, dict[str, Stat]]:
    """{'cpu_s': {part: Stat}, 'wall_s': {part: Stat}} of the report step's parts (see the module doc)."""
    from lvv.settings import DataPaths
    from transforms import monthly_report
    from transforms.delivery import StepClock
    from transforms.public_edition import PROTECTION_CACHE, public_edition

    database = DataPaths.resolve(data_dir).database
    threshold = monthly_report.DEFAULT_THRESHOLD
    cpu: dict[str, Stat] = {}
    wall: dict[str, Stat] = {}
    for _ in range(repeat):
        clock = StepClock()  # this repeat's seconds of each part
        with tempfile.TemporaryDirectory(prefix="report-step-") as scratch:
            cache = Path(scratch) / PROTECTION_CACHE
            kept = None if cache_from is None else cache_from / "reports" / PROTECTION_CACHE
            if kept is not None and kept.is_dir():
                shutil.copytree(kept, cache)
            else:
                cache.mkdir()
            with clock.step("gather"):
                data = monthly_report.gather(database, reference_date, DEFINITIONS)
            with clock.step("public_edition"):
                public = public_edition(data, threshold, cache_dir=cache)
            with clock.step("public_edition_nothing_new"):
                public_edition(data, threshold, cache_dir=cache)
            for edition, shown in (("internal", data), ("public", public)):  # each builds its tables
                with clock.step(f"workbook_{edition}"):
                    monthly_report.write_excel(shown, Path(scratch) / f"{edition}.xlsx")
                with clock.step(f"page_{edition}"):
                    monthly_report.write_html(shown, Path(scratch) / f"{edition}.html")
        for part in PARTS:
            cpu.setdefault(part, Stat()).add(clock.cpu_seconds[part])
            wall.setdefault(part, Stat()).add(clock.seconds[part])
    return {"cpu_s": cpu, "wall_s": wall}


def table(figures: dict[str, dict[str, Stat]]) -> str:
    """A Markdown table: each part's median CPU and wall seconds, and the step's sum (nothing new apart)."""
    rows = ["| part | CPU s | wall s |", "|---|---|---|"]
    for part in PARTS:
        rows.append(f"| {part} | {figures['cpu_s'][part].median:.3f} | {figures['wall_s'][part].median:.3f} |")
    step = [part for part in PARTS if part != "public_edition_nothing_new"]
    rows.append(f"| the step (all but nothing new) | {sum(figures['cpu_s'][p].median for p in step):.3f} "
                f"| {sum(figures['wall_s'][p].median for p in step):.3f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report_step", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=existing_dir, required=True)
    parser.add_argument("--reference-date", type=date.fromisoformat, required=True)
    parser.add_argument("--cache-from", type=existing_dir, default=None,
                        help="a data directory whose reports/protection-cache the protection starts from")
    parser.add_argument("--repeat", type=positive_int, default=1)
    parser.add_argument("--json", type=json_output, default=None, help="add the figures to this JSON file")
    args = parser.parse_args(argv)
    from lvv.settings import DataPaths

    if not DataPaths.resolve(args.data_dir).database.is_file():
        parser.error(f"--data-dir {args.data_dir} holds no published release (run `lvv run` on it first)")
    figures = measure(args.data_dir, args.reference_date, args.cache_from, args.repeat)
    print(table(figures))
    if args.json is not None:
        out: dict[str, Any] = json.loads(args.json.read_text(encoding="utf-8")) if args.json.exists() else {}
        out["report_step"] = {kind: {part: stat.as_dict() for part, stat in stats.items()}
                              for kind, stats in figures.items()}
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

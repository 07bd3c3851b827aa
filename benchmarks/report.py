"""The monthly report at national scale: gather part by part, protection, each writer.

    python -m benchmarks.report [--factor 4] [--workdir DIR] [--repeat N] [--json PATH]

Writes a national network at `factor` (benchmarks/datasets.py: 25 municipalities; x4 is 24
months, x16 48, x100 120) and publishes it with the plain transforms functions (process every
delivery into the store, `curated_tables`, `publish`), or reuses the database a previous run left
in --workdir (when it was published with the same SQL). Then times, in this process, `gather` part by part (headline, by municipality,
outflow series, occupancy series, changes, bridge, quality tables, and the atoms small-cell
protection sums), the public edition's protection (`public_edition`, reported apart: it is the
protection's work, not the report's), and each writer: the workbook of each edition, the charts
of each edition alone, and the page of each edition (charts included), and the whole step as a run
with nothing new pays it once gathered (`write_monthly_report` with the protection patterns kept:
their fresh audits and the four files, `report_from_kept_patterns_s`). Prints a Markdown table
(median of the runs) and, with --json, adds one object for the factor to the file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.measure import Stat, peak_rss_mb

#: the file beside the data that says what a --workdir holds (for reuse)
STAMP = "report-benchmark.json"
DEFINITIONS = ["programme", "evaluation-2021", "evaluation-2022"]


def build(workdir: Path, factor: float, log=print) -> dict[str, Any]:
    """The national network's published database under workdir (reused when the stamp matches)."""
    from transforms.publish import SQL_FILES, sql_text

    stamp, sql = workdir / STAMP, hashlib.sha256("".join(map(sql_text, SQL_FILES)).encode()).hexdigest()
    if stamp.exists():
        known = json.loads(stamp.read_text(encoding="utf-8"))
        if known["factor"] == factor and known.get("sql") == sql and Path(known["database"]).exists():
            os.environ["LVV_SOURCES_DIR"] = known["sources"]
            log(f"reusing the x{factor:g} database in {workdir}")
            return known
    from benchmarks.datasets import prepare
    from lvv.settings import DEMO_PSEUDONYM_KEY
    from schemas.contracts import contracts
    from transforms.curate import curated_tables
    from transforms.delivery import DeliveryInput, process_deliveries
    from transforms.discover import discover
    from transforms.protect import Pseudonymiser
    from transforms.publish import publish
    from transforms.store import save_result

    log(f"writing the x{factor:g} network ...")
    dataset = prepare("national", workdir, factor)
    started = time.perf_counter()
    staged, known_contracts = dataset.curated / "staged", contracts()
    pseudo = Pseudonymiser(DEMO_PSEUDONYM_KEY)
    by_municipality: dict[str, list] = {}
    for item in discover(dataset.raw, known_contracts)[0]:
        by_municipality.setdefault(item.municipality, []).append(item)
    log(f"processing {len(dataset.files)} files ({dataset.rows:,} rows) ...")
    for municipality, items in by_municipality.items():
        batch = [DeliveryInput(i.path, i.period, i.relative) for i in items]
        for result in process_deliveries(batch, known_contracts[municipality], pseudo):
            save_result(staged, result)
    publish(dataset.curated, curated_tables(staged, dataset.raw))
    out = {"factor": factor, "sql": sql, "database": str(dataset.curated / "lvv.duckdb"), "sources": str(dataset.sources_dir),
           "ref_date": dataset.ref_date.isoformat(), "rows": dataset.rows, "files": len(dataset.files),
           "municipalities": dataset.municipalities, "months": dataset.months,
           "build_s": round(time.perf_counter() - started, 1)}
    stamp.write_text(json.dumps(out, indent=1), encoding="utf-8")
    log(f"published in {out['build_s']} s")
    return out


def measure(database: Path, ref_date: date, out_dir: Path, repeat: int = 1,
            threshold: int | None = None) -> dict[str, Stat]:
    """Seconds of each part of gather, of protection and of each writer (one Stat per figure)."""
    from transforms import monthly_report as report, public_edition

    threshold = threshold or report.DEFAULT_THRESHOLD
    stats: dict[str, Stat] = {}

    def add(key: str, seconds: float) -> None:
        stats.setdefault(key, Stat()).add(seconds)

    def timed(key: str, fn):
        started = time.perf_counter()
        value = fn()
        add(key, time.perf_counter() - started)
        return value

    out_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(repeat):
        parts: dict[str, float] = {}
        data = timed("gather_s", lambda: report.gather(database, ref_date, DEFINITIONS, {"run_id": "bench"},
                                                        timings=parts))
        data = replace(data, language=report.DEFAULT_LANGUAGE)
        for part, seconds in parts.items():
            add(f"gather.{part}_s", seconds)
        public = timed("protection_s", lambda: public_edition.public_edition(data, threshold))
        for edition, shown in (("internal", data), ("public", public)):
            timed(f"excel_{edition}_s", lambda: report.write_excel(shown, out_dir / f"{edition}.xlsx"))
            timed(f"charts_{edition}_s", lambda: report._charts(shown))
            timed(f"html_{edition}_s", lambda: report.write_html(shown, out_dir / f"{edition}.html"))
        add("writers_s", sum(stats[f"{kind}_{edition}_s"].runs[-1] for kind in ("excel", "html")
                             for edition in ("internal", "public")))
        # the flow's report step in a run with nothing new, once gathered: write_monthly_report with
        # the protection patterns kept (their fresh audits) and all four files, beside out_dir
        step = out_dir.with_name(f"{out_dir.name}-step") / f"{ref_date:%Y-%m-%d}"
        if not (step.parent / public_edition.PROTECTION_CACHE).is_dir():
            report.write_monthly_report(data, step, threshold)  # the patterns kept, as by an earlier run
        timed("report_from_kept_patterns_s", lambda: report.write_monthly_report(data, step, threshold))
        add("report_without_protection_s", stats["gather_s"].runs[-1] - parts.get("atoms", 0.0)
            + stats["writers_s"].runs[-1])
    stats["file_mb"] = Stat([sum(p.stat().st_size for p in out_dir.iterdir()) / 1e6])
    return stats


def table(stats: dict[str, Stat], info: dict[str, Any]) -> str:
    lines = [f"x{info['factor']:g}: {info['municipalities']} municipalities, {info['months']} months, "
             f"{info['rows']:,} rows, reference date {info['ref_date']}", "",
             "| figure | median | min | max | runs |", "|---|---|---|---|---|"]
    for key, stat in stats.items():
        lines.append(f"| `{key}` | {stat.median:.3f} | {stat.min:.3f} | {stat.max:.3f} | {len(stat.runs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.arguments import json_output, positive_int, positive_number, work_dir

    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=positive_number, default=4.0)
    parser.add_argument("--workdir", type=work_dir, default=None, help="keep (and reuse) the database here")
    parser.add_argument("--repeat", type=positive_int, default=1)
    parser.add_argument("--json", type=json_output, default=None, help="add the figures to this JSON file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lvv-report-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        info = build(workdir, args.factor, log=lambda m: print(m, file=sys.stderr, flush=True))
        stats = measure(Path(info["database"]), date.fromisoformat(info["ref_date"]), workdir / "reports",
                        args.repeat)
    print(table(stats, info))
    peak = peak_rss_mb()
    print(f"\npeak RSS of this process: {peak:.0f} MB")
    if args.json:
        figures = json.loads(args.json.read_text(encoding="utf-8")) if args.json.exists() else {}
        figures[f"report-x{args.factor:g}"] = {**info, "peak_rss_mb": round(peak, 1),
                                               **{k: s.as_dict() for k, s in stats.items()}}
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

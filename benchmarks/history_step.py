"""The history step alone (`curated_tables`), merged whole, kept, and with a month appended.

    python -m benchmarks.history_step [--factor 16] [--workdir DIR]

Writes a national network, processes every delivery into the store with the plain functions (as
the flow's tasks do), then times `curated_tables` in this process: with nothing kept (a full
rebuild's history step), with everything kept (a run with nothing new), with the last month's
deliveries appended to the versions kept before them (the monthly run), and the same store merged
whole (`incremental=False`). One run each; prints a Markdown table (wall and CPU seconds) and
the process's peak RSS.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import peak_rss_mb


def main(argv: list[str] | None = None) -> int:
    from benchmarks.arguments import positive_number, work_dir

    parser = argparse.ArgumentParser(prog="python -m benchmarks.history_step", description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=positive_number, default=16.0)
    parser.add_argument("--workdir", type=work_dir, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lvv-history-") as tmp:
        for line in measure(args.factor, args.workdir or Path(tmp)):
            print(line, flush=True)
    return 0


def measure(factor: float, workdir: Path) -> list[str]:
    from benchmarks.datasets import prepare
    from lvv.settings import DEMO_PSEUDONYM_KEY
    from schemas.contracts import contracts
    from transforms.curate import curated_tables
    from transforms.delivery import DeliveryInput, process_deliveries
    from transforms.discover import discover
    from transforms.protect import Pseudonymiser
    from transforms.store import HISTORY_DIR, prune, save_result

    dataset = prepare("national", workdir, factor)
    staged, raw, last = dataset.curated / "staged", dataset.raw, dataset.last_period
    known, pseudo = contracts(), Pseudonymiser(DEMO_PSEUDONYM_KEY)
    found = discover(raw, known)[0]
    by_municipality: dict[str, list] = {}
    for item in found:
        by_municipality.setdefault(item.municipality, []).append(item)
    for municipality, items in by_municipality.items():
        batch = [DeliveryInput(i.path, i.period, i.relative) for i in items]
        for result in process_deliveries(batch, known[municipality], pseudo):
            save_result(staged, result)
    lines = [f"x{factor:g}: {len(found)} files, {dataset.rows:,} rows", "",
             "| `curated_tables` | seconds | CPU seconds |", "|---|---|---|"]

    def timed(label: str, run) -> None:
        # CPU seconds beside the wall: on a machine shared with other work the wall measures the load
        started, cpu = time.perf_counter(), time.process_time()
        run()
        lines.append(f"| {label} | {time.perf_counter() - started:.2f} | {time.process_time() - cpu:.2f} |")

    timed("full merge, nothing kept (a full rebuild's history step)", lambda: curated_tables(staged, raw))
    timed("nothing new: every municipality kept", lambda: curated_tables(staged, raw))
    aside = workdir / "last-month"
    for item in found:
        if item.period == last:
            shutil.copytree(staged / item.municipality / last, aside / item.municipality / last)
    prune(staged, {(i.municipality, i.period) for i in found if i.period != last})
    curated_tables(staged, raw)  # the history without the last month, kept
    for folder in aside.iterdir():
        shutil.copytree(folder / last, staged / folder.name / last)
    timed("the last month's deliveries appended to the versions kept", lambda: curated_tables(staged, raw))
    shutil.rmtree(staged / HISTORY_DIR)
    timed("the same store, every municipality merged whole", lambda: curated_tables(staged, raw, incremental=False))
    lines += ["", f"peak RSS of this process: {peak_rss_mb():.0f} MB"]
    return lines


if __name__ == "__main__":
    sys.exit(main())

"""How each figure grows with volume: a Markdown table from the JSON of several scales.

    python -m benchmarks.growth bench.json

Columns are the scales in order of data rows; the last column is the growth exponent between the
smallest and the largest scale (figure ~ rows^k: k = 1 linear, < 1 better, > 1 worse).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

FIGURES = ("read_floor_s", "reading_s", "validation_s", "history_s", "publishing_s", "report_s",
           "plain_total_s", "flow_startup_s", "full_rebuild_s", "increment_s", "nothing_new_s",
           "validate_cold_s", "outflow_cold_ms", "outflow_warm_ms", "occupancy_warm_ms",
           "reconcile_warm_ms", "monthly_series_warm_ms", "outflow_cli_s", "baseline_s", "peak_rss_mb")


def exponent(small: float, large: float, rows_small: int, rows_large: int) -> float:
    return math.log(large / small) / math.log(rows_large / rows_small)


def verdict(k: float) -> str:
    return "flat" if k < 0.2 else "better than linear" if k < 0.85 else "linear" if k <= 1.15 else "worse than linear"


def growth_table(document: dict) -> str:
    scales = sorted((s for s in document.values()  # full runs of python -m benchmarks, threads
                     if s.get("scale") == "national" and "phases" in s and s.get("task_runner") != "dask"),
                    key=lambda s: s["rows"])
    if len(scales) < 2:
        raise SystemExit("need at least two national scales")
    head = ["figure"] + [f"x{s['factor']:g} ({s['files']} files, {s['rows']:,} rows)" for s in scales] + \
        [f"k (x{scales[0]['factor']:g} to x{scales[-1]['factor']:g})", "growth"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in FIGURES:
        values = [s.get(key) for s in scales]
        if any(not isinstance(v, (int, float)) or v <= 0 for v in values):
            continue
        k = exponent(values[0], values[-1], scales[0]["rows"], scales[-1]["rows"])
        cells = [f"{v:.3g}" for v in values]
        lines.append(f"| `{key}` | " + " | ".join(cells) + f" | {k:.2f} | {verdict(k)} |")
    return "\n".join(lines)



def main(argv: list[str] | None = None) -> int:
    from benchmarks.arguments import json_object

    parser = argparse.ArgumentParser(prog="python -m benchmarks.growth", description=__doc__.splitlines()[0])
    parser.add_argument("json", type=json_object, help="the JSON file of `python -m benchmarks --json`")
    args = parser.parse_args(argv)
    try:
        print(growth_table(json.loads(args.json.read_text(encoding="utf-8"))))
    except SystemExit as stop:  # fewer than two national scales
        parser.error(f"{args.json}: {stop}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

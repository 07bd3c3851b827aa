"""What processing a delivery costs, step by step, against the read floor (issue 13).

    python -m benchmarks.processing [--factor 4] [--repeat N] [--workdir DIR] [--hash] [--json PATH]

On the demo and on a national network at each --factor (x4: 25 municipalities, 24 months; do not
ask for x16 or more on a shared machine), every delivery goes the flow's way, a task per
municipality, with the flow's setting of the cycle collector: `process_deliveries` (read, stage,
validate, pseudonymise, curate the delivery's result), then the gate (`gate_delivery`: the
delivery against the one in force before it, as the flow's task keeps that one's rows), then the
result written to the store (`save_result`, counted in curate). Each step's
seconds are summed over the deliveries (transforms.delivery.StepClock) and shown as seconds per
100,000 rows read and as a multiple of the read floor (python-calamine or the csv module alone
on every file: benchmarks.figures.read_floor), with the CPU seconds of each step beside them
(on a shared machine the wall seconds move with the other processes' load; the CPU seconds
less so). `*_cpu_s` in the JSON. The same figures under `month` for the last month's deliveries
alone, processed in a new process's state (no cell parsed before): what a monthly increment
processes, against the read floor of that month's files (benchmarks.scale.increment_read_floor).
(Its gate compares nothing: the month's store is new, no delivery before; a monthly run's gate
reads the delivery before from the store, load_delivery_table.) The same again under
`month_new_process`, each run in a new process that has imported the flow module and nothing
more (median of --repeat): what a monthly run's processing step pays once per run on top of
`month` (pandera imported, its backends registered by the first validation, every cache empty)
is their difference, `fixed_cost_s`.

--hash: also print a SHA-256 of the store the deliveries were written to (every file's bytes) and
of the curated tables built from it (`curated_tables`, a full rebuild, each table written as a
release writes it): a change meant to make processing cheaper must leave both as they were.
--workdir: keep the generated data there and reuse it on the next call (x4 takes a minute to write).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import figures
from benchmarks.datasets import Dataset, prepare
from benchmarks.measure import Stat

STEPS = ("read", "stage", "validate", "pseudonymise", "gate", "curate")


def process_all(dataset: Dataset, staged_root: Path, period: str | None = None) -> tuple[dict[str, float], int]:
    """Every delivery (of one period, when given) processed and stored as the flow's tasks do;
    seconds per step, rows read."""
    from lvv.settings import DEMO_PSEUDONYM_KEY
    from transforms.delivery import DeliveryInput, StepClock, process_deliveries
    from transforms.gate import gate_delivery
    from transforms.protect import Pseudonymiser
    from transforms.store import load_delivery_table, save_result

    contracts = figures._contracts()
    by_municipality: dict[str, list] = {}
    for item in figures._files(dataset):
        if period is None or item.period == period:
            by_municipality.setdefault(item.municipality, []).append(item)
    from flows.monthly_outflow import fewer_gc_passes

    clock, rows = StepClock(), 0
    started, cpu = time.perf_counter(), time.process_time()
    with fewer_gc_passes():  # as the flow runs
        for municipality, items in sorted(by_municipality.items()):
            batch = [DeliveryInput(item.path, item.period, item.relative) for item in items]
            pseudonymiser = Pseudonymiser(DEMO_PSEUDONYM_KEY)  # a task's own, as in the flow
            stored: list[dict] = []
            last: dict[str, Any] = {}  # the rows of the delivery last accepted, as the flow keeps them
            for result in process_deliveries(batch, contracts[municipality], pseudonymiser, clock=clock):
                with clock.step("gate"):
                    result.delivery, _ = gate_delivery(
                        result.delivery, result.episodes, result.quarantine, stored,
                        lambda previous: last[previous["delivery_id"]] if previous["delivery_id"] in last
                        else load_delivery_table(staged_root, previous, "episodes"),
                        staged_root.parent / "curated", contracts[municipality].gates)
                if result.delivery["status"] == "accepted":
                    last = {result.delivery["delivery_id"]: result.episodes}
                stored = [r for r in stored if r["period"] != result.delivery["period"]] + [result.delivery]
                with clock.step("curate"):
                    save_result(staged_root, result)
                rows += result.delivery["rows_read"]
    seconds = {step: clock.seconds.get(step, 0.0) for step in STEPS}
    seconds["total"] = time.perf_counter() - started
    seconds |= {f"{step}_cpu": clock.cpu_seconds.get(step, 0.0) for step in STEPS}
    seconds["total_cpu"] = time.process_time() - cpu
    return seconds, rows


def measure(dataset: Dataset, workdir: Path, repeat: int, with_hash: bool) -> dict[str, Any]:
    """The read floor and each step's seconds (median of `repeat` runs), per 100k rows and vs the
    floor: of every delivery (a full rebuild's processing), and under `month` of the last month's
    deliveries alone, in a new store (what a monthly increment processes: each delivery a full
    snapshot, none of its cells parsed before in the process)."""
    from benchmarks.scale import increment_read_floor

    out: dict[str, Any] = {"scale": dataset.scale, "factor": dataset.factor, "files": len(dataset.files)}
    staged = workdir / "staged"
    out |= _figures(dataset, staged, None, figures.read_floor(dataset, repeat).median, repeat)
    if with_hash:
        out["hashes"] = output_hashes(staged, dataset.raw, workdir / "curated")
    month_floor = increment_read_floor(dataset, repeat).median
    month = _figures(dataset, staged, dataset.last_period, month_floor, repeat)
    out["month"] = {"period": dataset.last_period, **month}
    fresh = _figures(dataset, staged, dataset.last_period, month_floor, repeat, new_process=True)
    fresh["fixed_cost_s"] = round(fresh["total_s"] - month["total_s"], 3)
    fresh["fixed_cost_cpu_s"] = round(fresh["total_cpu_s"] - month["total_cpu_s"], 3)
    out["month_new_process"] = {"period": dataset.last_period, **fresh}
    shutil.rmtree(staged, ignore_errors=True)
    return out


def in_new_process(dataset: Dataset, staged: Path, period: str | None) -> tuple[dict[str, float], int]:
    """process_all in a new process that has imported the flow module (as `lvv run` has when its
    first task starts) and nothing else: the seconds of each step and the rows read."""
    from benchmarks.measure import base_env, run_python

    code = ("import json, sys; from pathlib import Path; import flows.monthly_outflow; "
            "from benchmarks.processing import _child; print(json.dumps(_child(*sys.argv[1:])))")
    _, result = run_python(["-c", code, str(dataset.root.parent), str(staged), period or ""], base_env(dataset.env))
    seconds, rows = json.loads(result.stdout.strip().splitlines()[-1])
    return seconds, rows


def _child(workdir: str, staged: str, period: str) -> tuple[dict[str, float], int]:
    """in_new_process's side: the dataset prepare wrote under workdir (never written again), processed."""
    from benchmarks.datasets import MANIFEST, _kept

    manifest = json.loads((Path(workdir) / MANIFEST).read_text())
    dataset = _kept(Path(workdir), manifest["scale"], manifest["factor"])
    if dataset is None:
        raise SystemExit(f"{workdir} holds no whole dataset")
    return process_all(dataset, Path(staged), period or None)


def _figures(dataset: Dataset, staged: Path, period: str | None, floor: float, repeat: int,
             new_process: bool = False) -> dict[str, Any]:
    stats: dict[str, Stat] = {key: Stat() for step in (*STEPS, "total") for key in (step, f"{step}_cpu")}
    rows = 0
    for _ in range(repeat):
        shutil.rmtree(staged, ignore_errors=True)
        seconds, rows = (in_new_process if new_process else process_all)(dataset, staged, period)
        for key, value in seconds.items():
            stats[key].add(value)
    out: dict[str, Any] = {"rows": rows, "read_floor_s": round(floor, 3),
                           "read_floor_s_per_100k_rows": round(floor / rows * 1e5, 3)}
    for key, stat in stats.items():
        out[f"{key}_s"] = round(stat.median, 3)
        out[f"{key}_s_per_100k_rows"] = round(stat.median / rows * 1e5, 3)
        out[f"{key}_vs_read_floor"] = round(stat.median / floor, 2)
    return out


def output_hashes(staged_root: Path, raw_dir: Path, curated_dir: Path) -> dict[str, str]:
    """SHA-256 of the store (every file, by relative path) and of the curated tables a full
    rebuild publishes from it (the release's Parquet files)."""
    from transforms.curate import curated_tables
    from transforms.publish import build_release

    out = {"staged": tree_hash(staged_root, "*")}
    tables = curated_tables(staged_root, raw_dir=raw_dir, incremental=False)
    shutil.rmtree(curated_dir, ignore_errors=True)
    building = build_release(curated_dir, tables)
    out["curated"] = tree_hash(building, "*.parquet")
    shutil.rmtree(curated_dir, ignore_errors=True)
    return out


def tree_hash(root: Path, pattern: str) -> str:
    """One SHA-256 over the files under root matching pattern: each one's relative path and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob(pattern) if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def table(results: list[dict[str, Any]]) -> str:
    """The figures of each scale as one Markdown table: every delivery, then the last month's alone."""
    names = [r["scale"] if r["scale"] == "demo" else f"national x{r['factor']:g}" for r in results]
    out = [_table(results, names, "every delivery")]
    out.append(_table([r["month"] for r in results], names, "the last month's deliveries alone (" + ", ".join(
        r["month"]["period"] for r in results) + ")"))
    if all("month_new_process" in r for r in results):
        fresh = [r["month_new_process"] for r in results]
        out.append(_table(fresh, names, "the same in a new process (the flow module imported)") + "\n"
                   + "| fixed cost per run: s [CPU s] | " + " | ".join(
                       f"{r['fixed_cost_s']} [{r['fixed_cost_cpu_s']}]" for r in fresh) + " |")
    if all("hashes" in r for r in results):
        out.append("\n".join(f"sha256 {kind}: " + ", ".join(f"{n} {r['hashes'][kind][:16]}" for n, r in zip(names, results))
                             for kind in ("staged", "curated")))
    return "\n\n".join(out)


def _table(results: list[dict[str, Any]], names: list[str], what: str) -> str:
    lines = [f"| {what} | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    lines.append("| rows | " + " | ".join(f"{r['rows']:,}" for r in results) + " |")
    lines.append("| read floor: s (s per 100k rows) | "
                 + " | ".join(f"{r['read_floor_s']} ({r['read_floor_s_per_100k_rows']})" for r in results) + " |")
    for key in (*STEPS, "total"):
        lines.append(f"| {key}: s (s per 100k rows; x read floor) [CPU s] | " + " | ".join(
            f"{r[f'{key}_s']} ({r[f'{key}_s_per_100k_rows']}; {r[f'{key}_vs_read_floor']}x) [{r[f'{key}_cpu_s']}]"
            for r in results) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.processing", description=__doc__.split("\n")[0])
    parser.add_argument("--factor", type=float, action="append", default=[],
                        help="a national network at this factor besides the demo (repeatable)")
    parser.add_argument("--no-demo", action="store_true", help="the national factors only")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep and reuse the generated data here")
    parser.add_argument("--hash", action="store_true", help="also hash the store and the curated tables")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    scales = ([] if args.no_demo else [("demo", None)]) + [("national", f) for f in args.factor]
    temporary = args.workdir is None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lvv-processing-"))
    results = []
    try:
        for scale, factor in scales:
            where = workdir / ("demo" if factor is None else f"x{factor:g}")
            dataset = prepare(scale, where, factor, reuse=True)
            results.append(measure(dataset, where, args.repeat, args.hash))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

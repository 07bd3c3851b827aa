"""What the safeguards cost: the plausibility gate per delivery, the release verification every run
makes, and the revision check per publish, beside the whole run they are part of.

    python -m benchmarks.safeguards --scale demo
    python -m benchmarks.safeguards --scale national --factor 4

Writes the data, runs `lvv run` once (a temporary Prefect server; the full rebuild, every
safeguard included), then times each safeguard again on its own, on the store and release that
run made: the gate over every stored delivery against the one in force before it (loading that
one's episodes included), verify_release over the published files, and the revision check
(12 month ends x 3 counting rules, in the current release and a second copy of it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.datasets import prepare
from benchmarks.measure import base_env, run_python
from lvv.settings import KEY_ENV, DataPaths


def measure(scale: str, workdir: Path, factor: float | None = None) -> dict:
    dataset = prepare(scale, workdir, factor)
    env = base_env({**dataset.env, KEY_ENV: "benchmark-key", "PREFECT_HOME": str(workdir / "prefect")})
    env.pop("PREFECT_API_URL", None)
    seconds, _ = run_python(["-m", "lvv.cli", "run", "--data-dir", str(dataset.root), "--reference-date",
                             dataset.ref_date.isoformat()], env, cwd=Path(__file__).resolve().parent.parent)
    import os

    os.environ.update(dataset.env)
    paths = DataPaths.resolve(dataset.root)
    out = {"scale": scale, "factor": dataset.factor, "files": len(dataset.files), "rows": dataset.rows,
           "full_rebuild_s": round(seconds, 2)}
    out.update(gate_seconds(paths))
    out.update(verify_seconds(paths))
    out.update(revision_seconds(paths, dataset.ref_date))
    return out


def gate_seconds(paths: DataPaths) -> dict:
    from schemas.contracts import contracts
    from transforms.gate import in_force_before, verdict
    from transforms.store import load_delivery_table, load_records

    records = load_records(paths.staged)
    by_municipality: dict[str, list[dict]] = {}
    for record in records:
        by_municipality.setdefault(record["municipality"], []).append(record)
    tables = {r["delivery_id"]: (load_delivery_table(paths.staged, r, "episodes"),
                                 load_delivery_table(paths.staged, r, "quarantine")) for r in records}
    started, held = time.perf_counter(), 0
    for record in records:
        previous = in_force_before(by_municipality[record["municipality"]], record["period"])
        episodes, quarantine = tables[record["delivery_id"]]
        before = load_delivery_table(paths.staged, previous, "episodes") if previous else None
        held += verdict(record, episodes, quarantine, previous, before,
                        contracts()[record["municipality"]].gates).held
    total = time.perf_counter() - started
    return {"gate_total_s": round(total, 3), "gate_per_delivery_ms": round(1000 * total / max(len(records), 1), 2),
            "deliveries": len(records), "held": held}


def verify_seconds(paths: DataPaths) -> dict:
    from transforms.publish import current_manifest, verify_release

    started = time.perf_counter()
    problems = verify_release(paths.curated)
    seconds = time.perf_counter() - started
    size = sum(f["size"] for f in current_manifest(paths.curated)["files"].values())
    return {"verify_s": round(seconds, 3), "release_mb": round(size / 1e6, 1), "verify_problems": len(problems)}


def revision_seconds(paths: DataPaths, reference_date) -> dict:
    from flows.monthly_outflow import DEFAULT_DEFINITIONS
    from schemas.gates import revision_tolerance
    from transforms import runs

    copy = Path(tempfile.mkdtemp()) / "lvv.duckdb"
    shutil.copy(paths.database, copy)
    started = time.perf_counter()
    tolerance = revision_tolerance()
    dates = runs.month_ends(min(reference_date, runs.known_until(paths.database)), tolerance.months)
    table = runs.revisions(runs.headline_series(paths.database, dates, DEFAULT_DEFINITIONS),
                           runs.headline_series(copy, dates, DEFAULT_DEFINITIONS), tolerance)
    seconds = time.perf_counter() - started
    shutil.rmtree(copy.parent)
    assert isinstance(table, pd.DataFrame) and table.empty
    return {"revision_check_s": round(seconds, 3)}


def main(argv: list[str] | None = None) -> None:
    from benchmarks.arguments import positive_number

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["demo", "national", "tiny"], default="demo")
    parser.add_argument("--factor", type=positive_number, default=None, help="national only; at most 4 on a shared machine")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        print(json.dumps(measure(args.scale, Path(workdir), args.factor), indent=1))


if __name__ == "__main__":
    main()

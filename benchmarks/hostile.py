"""Hostile deliveries, written fast, and what checking them costs (issue 11).

`write_xlsx` writes a workbook's XML parts directly (inline strings, one sheet), so a
million-row file takes seconds, and lets a file state any dimension it likes (a lie included).
The tests build their small hostile corpus with it; run as a script it measures the cases of the
issue in a subprocess each (wall and CPU seconds, the command's own peak memory, output size; see
`measure`):

    python -m benchmarks.hostile            # all cases
    python -m benchmarks.hostile --only dup  # one case (dup, dup-run, overlap, bomb, bomb-lying, rows-lying, plain)

Cases: `dup` 20,000 Utrecht rows with one record number through `lvv validate` (table and csv);
`dup-run` 10,000 such rows through `lvv run` (size of the stored findings); `overlap` one person
(one V-number) with 20,000 open stays through `lvv validate`: a finding on every row, each scrubbed
of its own row's identifiers; `bomb` one million
rows in Utrecht's layout (30 MB on disk, inline strings); `bomb-lying` the same stating a three-row
dimension; `rows-lying` a million two-cell rows stating three rows (under the part-size limit);
`plain` a correct 200,000-row workbook through `lvv validate`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from transforms.read import column_letter

ROOT = Path(__file__).resolve().parent.parent

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
{sheets}
</Types>"""
_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets>{sheets}</sheets></workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"""
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               '{doctype}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               '{dimension}<sheetData>')
_EPOCH = date(1899, 12, 30)


def _cell(ref: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return f'<c r="{ref}"><v>{(value - _EPOCH).days}</v></c>'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'


def write_xlsx(path: Path, rows: Iterable[list[Any]], sheet: str = "Export", dimension: str | None = "auto",
               extra_sheets: Iterable[str] = (), doctype: str = "", hidden: bool = False,
               compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A workbook of one data sheet (plus empty extra sheets), rows from sheet row 1.

    dimension: 'auto' states the real one, None states none, any other text is stated as given.
    doctype: text put before the root element of the sheet (a DTD, for the entity cases).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [sheet, *extra_sheets]
    rows = list(rows)
    width = max((len(r) for r in rows), default=1)
    if dimension == "auto":
        dimension = f"A1:{column_letter(max(width, 1) - 1)}{max(len(rows), 1)}"
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets="".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, len(names) + 1))))
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK.format(sheets="".join(
            f'<sheet name="{escape(n)}" sheetId="{i}" r:id="rId{i}"'
            + (' state="hidden"' if hidden and i == 1 else "") + "/>" for i, n in enumerate(names, start=1))))
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS.format(rels="".join(
            f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            f'worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(names) + 1))))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as handle:
            handle.write(_SHEET_HEAD.format(doctype=doctype, dimension=dim).encode())
            block: list[str] = []
            for r, row in enumerate(rows, start=1):
                cells = "".join(_cell(f"{column_letter(c)}{r}", v) for c, v in enumerate(row))
                block.append(f'<row r="{r}">{cells}</row>')
                if len(block) >= 5000:
                    handle.write("".join(block).encode())
                    block = []
            handle.write(("".join(block) + "</sheetData></worksheet>").encode())
        for i in range(2, len(names) + 1):
            archive.writestr(f"xl/worksheets/sheet{i}.xml", _SHEET_HEAD.format(doctype="", dimension="")
                             + "</sheetData></worksheet>")
    return path


UTRECHT_HEADER = ["ID", "Vreemdelingennummer", "Achternaam", "Voornaam", "Geboortedatum", "Begin verblijf",
                  "Einde verblijf", "Uitstroom naar", "Na VB"]


def utrecht_rows(n: int, record: str | None = None, stand_per: date = date(2020, 10, 31)) -> list[list[Any]]:
    """A title row, the header on row 2 and n stays (one record number for all when given)."""
    rows: list[list[Any]] = [["Stand per", stand_per], UTRECHT_HEADER]
    for i in range(n):
        rows.append([record or f"U{i:07d}", f"{1000000000 + i}", "Testnaam", "Test", date(1990, 1, 1),
                     date(2019, 9, 1), date(2020, 3, 1) if i % 3 == 0 else None,
                     "Eigen netwerk" if i % 3 == 0 else None, None])
    return rows


# ------------------------------------------------------------------ measuring
def run_measured(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                 timeout: float | None = None) -> tuple[subprocess.CompletedProcess, dict[str, Any]]:
    """`lvv ARGS` in a new process through benchmarks.lvv_runner (lvv's entry point, main(), in that
    process): the finished process (its output as bytes) and the runner's report (its figures are
    described there; {} if the runner could not write it)."""
    with tempfile.TemporaryDirectory(prefix="hostile-measure-") as folder:
        report = Path(folder) / "report.json"
        env = {**os.environ, **(env or {})}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        done = subprocess.run([sys.executable, "-m", "benchmarks.lvv_runner", str(report), *args],
                              capture_output=True, env=env, cwd=cwd or ROOT, timeout=timeout)
        measured = json.loads(report.read_text() or "{}") if report.exists() else {}
    return done, measured


def measure(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """`lvv ARGS` in a new process: wall seconds, CPU seconds and peak memory (MB) of the process that
    ran the command, the largest peak of a process it started (a temporary Prefect server), exit code,
    output bytes. Each peak is the process's own VmHWM (lvv_runner), not ru_maxrss of the children,
    which on Linux starts from the size of the process that forked the child: a case's figure was
    never below its caller's size (earlier figures could only overstate)."""
    start = time.perf_counter()
    done, measured = run_measured(args, env, cwd)
    seconds = time.perf_counter() - start

    def figure(key: str, digits: int | None = None) -> float | None:  # None: the runner wrote no report
        return round(measured[key], digits) if key in measured else None

    return {"seconds": round(seconds, 2), "cpu_s": figure("cpu_s", 2), "peak_mb": figure("self_peak_rss_mb"),
            "children_peak_mb": figure("children_peak_rss_mb"), "exit": done.returncode,
            "stdout_bytes": len(done.stdout), "stderr_bytes": len(done.stderr),
            "stderr_tail": done.stderr.decode(errors="replace").strip().splitlines()[-1:]}


def case_dup(folder: Path) -> dict[str, Any]:
    path = write_xlsx(folder / "dup.xlsx", utrecht_rows(20_000, record="4711"))
    out = {"file_kb": round(path.stat().st_size / 1024)}
    for fmt in ("table", "csv"):
        out[fmt] = measure(["validate", str(path), "--municipality", "utrecht", "--period", "2020-10",
                            "--format", fmt])
    return out


def case_dup_run(folder: Path) -> dict[str, Any]:
    data = folder / "data"
    write_xlsx(data / "raw" / "utrecht" / "2020-10" / "dup.xlsx", utrecht_rows(10_000, record="4711"))
    env = {"LVV_DATA_DIR": str(data), "LVV_PSEUDONYM_KEY": "benchmark-key-not-secret-0123456789abcdef",
           "PREFECT_HOME": str(folder / "prefect")}
    result = measure(["run", "--reference-date", "2020-10-31"], env=env)  # not the cases after it
    import pyarrow.parquet as pq

    stored = list(data.rglob("findings.parquet"))
    issues = [p for p in data.rglob("*.parquet") if p.name.startswith("validation_issues")]
    result["stored_findings_kb"] = round(sum(p.stat().st_size for p in stored) / 1024, 1)
    result["validation_issues_kb"] = round(sum(p.stat().st_size for p in issues) / 1024, 1)
    if stored:
        table = pq.read_table(stored[0])
        result["stored_findings_rows"] = table.num_rows
        result["longest_message"] = max(len(m) for m in table.column("message").to_pylist())
        result["message_text_kb"] = round(sum(len(m) for m in table.column("message").to_pylist()) / 1024, 1)
    return result


def case_overlap(folder: Path) -> dict[str, Any]:
    rows = utrecht_rows(20_000)
    for row in rows[2:]:
        row[1], row[6], row[7] = "1000000001", None, None  # one person, every stay open
    path = write_xlsx(folder / "overlap.xlsx", rows)
    return measure(["validate", str(path), "--municipality", "utrecht", "--period", "2020-10"])


def case_bomb(folder: Path, lying: bool = False) -> dict[str, Any]:
    path = write_xlsx(folder / "bomb.xlsx", utrecht_rows(1_000_000), dimension="A1:I3" if lying else "auto")
    out = {"file_mb": round(path.stat().st_size / 1e6, 1)}
    out.update(measure(["validate", str(path), "--municipality", "utrecht", "--period", "2020-10"]))
    return out


def case_rows_lying(folder: Path) -> dict[str, Any]:
    """A million short rows (under the part-size limit) stating a three-row dimension: stopped by
    the streaming row count."""
    rows = utrecht_rows(0) + [[f"U{i:07d}", f"{1000000000 + i}"] for i in range(1_000_000)]
    path = write_xlsx(folder / "rows.xlsx", rows, dimension="A1:I3")
    out = {"file_mb": round(path.stat().st_size / 1e6, 1)}
    out.update(measure(["validate", str(path), "--municipality", "utrecht", "--period", "2020-10"]))
    return out


def case_plain(folder: Path) -> dict[str, Any]:
    path = write_xlsx(folder / "plain.xlsx", utrecht_rows(200_000))
    out = {"file_mb": round(path.stat().st_size / 1e6, 1)}
    for fmt in ("table", "csv"):
        out[fmt] = measure(["validate", str(path), "--municipality", "utrecht", "--period", "2020-10",
                            "--format", fmt])
    return out


CASES = {"dup": case_dup, "dup-run": case_dup_run, "overlap": case_overlap, "bomb": case_bomb,
         "bomb-lying": lambda folder: case_bomb(folder, lying=True), "rows-lying": case_rows_lying,
         "plain": case_plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(CASES), action="append")
    options = parser.parse_args()
    for name in options.only or list(CASES):
        folder = Path(tempfile.mkdtemp(prefix=f"hostile-{name}-"))
        try:
            print(name, CASES[name](folder), flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Table A the way an analyst computes it by hand: pandas, openpyxl and loops, no tool.

This is the benchmark's baseline (issue 6), written on purpose the way a capable analyst writes a
one-off script: every delivery is read with `pd.read_excel(engine="openpyxl")` (or `read_csv`),
stacked into one frame, the label spellings of each municipality are mapped by a dictionary typed
from looking at the files, dates are parsed row by row, and the latest delivery of each
municipality gives the outflow per reporting line of the interim evaluation (evaluation-2021) at
the reference date. It reads the same raw files as the pipeline and must give the same Table A on
the demo (tests/test_benchmarks.py checks that); it validates, pseudonymises and keeps nothing.

    python benchmarks/baseline_analyst.py data/raw --ref-date 2020-11-01 [--json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time
from datetime import datetime, timedelta

import pandas as pd

# What each export looks like, learned by opening the files: the column names per layout.
LAYOUTS = [
    {"name": "amsterdam", "v": "V-nummer", "start": "Datum instroom", "end": "Datum uitstroom",
     "reason": "Reden uitstroom", "record": "Dossiernummer"},
    {"name": "eindhoven", "v": "Vnr", "start": "Startdatum", "end": "Einddatum", "reason": "Uitstroom",
     "record": "Clientnr"},
    {"name": "groningen", "v": "V-nummer", "start": "Instroomdatum", "end": "Uitstroomdatum",
     "reason": "Uitstroombestemming", "record": "Registratienummer"},
    {"name": "rotterdam", "v": "V-nr", "start": "Instroom", "end": "Uitstroom", "reason": "Resultaat",
     "record": "Kenmerk"},
    {"name": "utrecht", "v": "Vreemdelingennummer", "start": "Begin verblijf", "end": "Einde verblijf",
     "reason": "Uitstroom naar", "record": "ID"},
]

# Every spelling seen in the registers -> the line of the interim evaluation's table (lower case).
# Immigration detention counts as other non-durable outflow whatever followed (the letter says so).
LINES = {
    "verblijfsvergunning verleend": "legalised", "verblijfsvergunning": "legalised",
    "vergunning": "legalised", "legaal verblijf": "legalised", "vvr": "legalised",
    "zelfstandig vertrek": "returned", "vertrek hl": "returned",
    "zelfst. vertrek herkomstland": "returned", "terugkeer zelfstandig": "returned",
    "terugkeer": "returned", "vertrek land van herkomst": "returned",
    "gedwongen vertrek": "returned", "uitzetting": "returned", "terugkeer gedwongen": "returned",
    "gedwongen terugkeer": "returned",
    "doormigratie": "onward_migration",
    "herhaalde aanvraag (azc)": "repeat_application", "herh. aanvraag": "repeat_application",
    "herhaalde asielaanvraag": "repeat_application", "herhaalde aanvraag": "repeat_application",
    "ha": "repeat_application", "asielaanvraag (azc)": "repeat_application",
    "art. 64": "postponed_departure", "art 64": "postponed_departure",
    "artikel 64": "postponed_departure", "uitstel van vertrek art. 64": "postponed_departure",
    "mob": "departed_unknown", "onbekend vertrokken": "departed_unknown",
    "vertrokken onbekend": "departed_unknown", "onbekend": "departed_unknown",
    "verblijf beëindigd": "stay_terminated", "gedwongen beëindigd": "stay_terminated",
    "beëindigd door lvv": "stay_terminated", "gedwongen beëindiging": "stay_terminated",
    "beëindiging verblijf": "stay_terminated",
}
OTHER = ["detentie", "strafrechtelijke detentie", "vreemdelingenbewaring", "vb", "vb - uitgezet",
         "vb - vrijgelaten", "vreemdelingenbewaring, uitgezet", "vreemdelingenbewaring, vrij",
         "andere opvang", "eigen netwerk", "netwerk", "terug naar bbb", "bbb", "overleden"]
for label in OTHER:
    LINES[label] = "other_non_durable"
TABLE_A_LINES = ["legalised", "returned", "onward_migration", "repeat_application",
                 "postponed_departure", "departed_unknown", "stay_terminated", "other_non_durable"]


def read_file(path):
    """One export as a frame with its own column names (header found by looking for them)."""
    if path.endswith(".csv"):
        df = pd.read_csv(path, sep=";", encoding="cp1252", dtype=str)
    else:
        df = pd.read_excel(path, header=None, engine="openpyxl")
        for i in range(10):
            values = [str(v).strip() for v in df.iloc[i].tolist()]
            if any(layout["v"] in values for layout in LAYOUTS):
                df.columns = values
                df = df.iloc[i + 1:]
                break
    for layout in LAYOUTS:
        if layout["v"] in df.columns and layout["reason"] in df.columns:
            df = df.rename(columns={layout["v"]: "v", layout["start"]: "start", layout["end"]: "end",
                                    layout["reason"]: "reason", layout["record"]: "record"})
            return df[["record", "v", "start", "end", "reason"]]
    raise ValueError(f"{path}: unknown layout")


def parse_date(value):
    """A date cell in any of the notations the registers use (date, Excel number, text)."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)):
        return datetime(1899, 12, 30) + timedelta(days=int(value))
    text = str(value).strip()
    if text == "" or text.lower() == "nan":
        return None
    if re.fullmatch(r"\d+(\.0)?", text):
        return datetime(1899, 12, 30) + timedelta(days=int(float(text)))
    for fmt in ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    return None


def table_a(raw_dir, ref_date):
    """Outflow per line (persons per municipality, summed) at ref_date, from the latest deliveries."""
    frames = []
    for path in sorted(glob.glob(os.path.join(raw_dir, "*", "*", "*"))):
        municipality, month = path.split(os.sep)[-3], path.split(os.sep)[-2]
        df = read_file(path)
        df["municipality"] = municipality
        df["month"] = month
        frames.append(df)
    everything = pd.concat(frames, ignore_index=True)
    latest = everything.groupby("municipality")["month"].transform("max")
    current = everything[everything["month"] == latest]
    counted = {}
    for _, row in current.iterrows():
        record = str(row["record"]).strip().lower()
        if record.startswith(("totaal", "aantal", "opmerking")) or pd.isna(row["v"]):
            continue
        end = parse_date(row["end"])
        if end is None or end > ref_date or pd.isna(row["reason"]):
            continue
        label = re.sub(r"\s+", " ", str(row["reason"])).strip().lower()
        line = LINES.get(label)
        if line is None:
            print(f"unknown label: {row['reason']!r} ({row['municipality']})", file=sys.stderr)
            continue
        counted.setdefault((row["municipality"], line), set()).add(str(row["v"]).strip())
    result = {line: 0 for line in TABLE_A_LINES}
    for (municipality, line), persons in counted.items():
        result[line] += len(persons)
    return result, len(frames), len(everything)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", type=_raw_dir)
    parser.add_argument("--ref-date", type=_date, default="2020-11-01")
    parser.add_argument("--json", action="store_true", help="print Table A and the timing as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result, files, rows = table_a(args.raw_dir, args.ref_date)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({"table_a": result, "files": files, "rows": rows, "seconds": seconds}))
    else:
        for line, persons in result.items():
            print(f"{line:22s}{persons:6d}")
        print(f"{'total':22s}{sum(result.values()):6d}   ({files} files, {rows} rows, {seconds:.1f} s)")



def _raw_dir(text: str) -> str:
    """The raw folder: it exists and has the deliveries the script reads (<municipality>/<month>/)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is not a directory" if os.path.exists(text) else f"{text} does not exist")
    if not any(glob.glob(os.path.join(text, "*", "*", pattern)) for pattern in ("*.xlsx", "*.csv")):
        raise argparse.ArgumentTypeError(f"{text} has no deliveries (<municipality>/<month>/<file>.xlsx or .csv)")
    return text


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


if __name__ == "__main__":
    main()

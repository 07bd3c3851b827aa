"""Read back everything a run stored, as values, and find direct identifiers among them.

Compressed Parquet and DuckDB pages hide text from a byte search (and a DATE is never text), so
every file is opened by its own reader: Parquet and DuckDB tables through DuckDB, workbooks
through openpyxl, HTML through html.parser, JSON and JSON lines through json, anything else as
text. Each value is then matched by what it is: text by substring (V-numbers) or word (names),
dates as dates (a birth date in a DATE column, a datetime cell, or a date written in text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import openpyxl

EXCEL_EPOCH = date(1899, 12, 30)
#: how a date may be written in text
DATE_TEXT = re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\b|\b(\d{4})-(\d{2})-(\d{2})\b")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.extend(v for _, v in attrs if v)


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _walk(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def _distinct(con: duckdb.DuckDBPyConnection, source: str) -> Iterator[tuple[str, Any]]:
    """(column, value) for every distinct value of every column of a table or query."""
    columns = [r[0] for r in con.execute(f"describe select * from {source}").fetchall()]
    for column in columns:
        for (value,) in con.execute(f'select distinct "{column}" from {source}').fetchall():
            for v in _walk(value):
                yield column, v


def _parquet(paths: list[Path]) -> Iterator[tuple[str, Any]]:
    con = duckdb.connect()
    try:
        listed = ", ".join(f"'{p.as_posix()}'" for p in paths)
        source = f"read_parquet([{listed}], union_by_name = true)"
        for column, v in _distinct(con, source):
            yield f"{paths[0].name}:{column}", v
    finally:
        con.close()


def file_values(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, value) for every value stored in one file (each distinct value of a table once)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet([path])
    elif suffix == ".duckdb":
        con = duckdb.connect(str(path), read_only=True)
        try:
            tables = con.execute("select table_name from information_schema.tables "
                                 "where table_type = 'BASE TABLE'").fetchall()
            assert tables, path
            for (table,) in tables:
                for column, v in _distinct(con, f'"{table}"'):
                    yield f"{path.name}:{table}.{column}", v
        finally:
            con.close()
    elif suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            for ws in wb.worksheets:
                for row in ws.iter_rows(values_only=True):
                    for v in row:
                        yield f"{path.name}:{ws.title}", v
        finally:
            wb.close()
    elif suffix in (".html", ".htm"):
        parser = _Text()
        parser.feed(path.read_text(encoding="utf-8"))
        for part in parser.parts:
            yield path.name, part
    elif suffix == ".json":
        for v in _walk(json.loads(path.read_text(encoding="utf-8"))):
            yield path.name, v
    elif suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                for v in _walk(json.loads(line)):
                    yield path.name, v
    else:  # a CSV or any other file: its text, cell by cell where it has cells
        text = path.read_bytes().decode("utf-8", errors="replace")
        for line in text.splitlines():
            for cell in re.split(r"[;,\t]", line):
                yield path.name, cell


def stored_values(roots: Iterable[Path]) -> Iterator[tuple[str, Any]]:
    """Every value stored under the roots; Parquet files of one name are read together."""
    files = sorted(p for root in roots for p in root.rglob("*") if p.is_file())
    assert files, "nothing stored"
    parquet: dict[str, list[Path]] = {}
    for path in files:
        if path.suffix.lower() == ".parquet":
            parquet.setdefault(path.name, []).append(path)
        else:
            yield from file_values(path)
    for group in parquet.values():
        yield from _parquet(group)


@dataclass
class Needles:
    """The direct identifiers to look for: V-numbers, names, birth dates."""

    v_numbers: set[str]
    names: set[str] = field(default_factory=set)
    birth_dates: set[date] = field(default_factory=set)

    def __post_init__(self) -> None:
        words = sorted((n for n in self.names if len(n) >= 4), key=len, reverse=True)
        self._names = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b" if words else "(?!)")
        self._serials = {(d - EXCEL_EPOCH).days for d in self.birth_dates}
        #: a V-number read as a number loses its leading zeros
        self._unpadded = {v.lstrip("0") for v in self.v_numbers}

    def in_value(self, value: Any) -> str | None:
        """The identifier a stored value holds, or None."""
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            return f"birth date {value}" if value in self.birth_dates else None
        if isinstance(value, (int, float)):
            if isinstance(value, float) and not value.is_integer():
                return None
            number = int(value)
            if number in self._serials:
                return f"birth date as serial {number}"
            text = str(number)
            return text if text in self._unpadded else None
        text = str(value)
        for run in re.findall(r"\d{10,}", text):
            for i in range(len(run) - 9):
                if run[i : i + 10] in self.v_numbers:
                    return run[i : i + 10]
        if found := self._names.search(text):
            return found.group(0)
        for m in DATE_TEXT.finditer(text):
            d, mo, y, iy, imo, iday = m.groups()
            try:
                day = date(int(y), int(mo), int(d)) if y else date(int(iy), int(imo), int(iday))
            except ValueError:
                continue
            if day in self.birth_dates:
                return f"birth date {m.group(0)}"
        return None


def leaks(values: Iterable[tuple[str, Any]], needles: Needles) -> list[tuple[str, str]]:
    """(where, identifier) for each stored value that holds one (each distinct value once)."""
    seen: dict[tuple[type, Any], str] = {}
    for where, value in values:
        try:
            seen.setdefault((type(value), value), where)
        except TypeError:  # unhashable: match as text
            seen.setdefault((str, str(value)), where)
    return [(where, hit) for (_, value), where in seen.items() if (hit := needles.in_value(value))]


__all__ = ["Needles", "file_values", "leaks", "stored_values"]

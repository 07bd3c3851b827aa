"""The monthly report as plain functions: small-cell protection, safe cells, the files it writes."""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pytest

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.curate import curated_tables
from transforms.delivery import process_delivery
from transforms.monthly_report import (
    SUPPRESSED,
    _grid,
    _wide_series,
    _write_frame,
    chart_height,
    gather,
    in_language,
    is_dangerous,
    report_texts,
    write_cell,
    write_excel,
    write_html,
    write_monthly_report,
)
from transforms.protect import Pseudonymiser
from transforms.publish import publish
from transforms.store import save_result

PLANTED = '=HYPERLINK("http://example.invalid/x","click")'
REF = date(2020, 11, 30)


def test_dangerous_prefixes():
    assert all(is_dangerous(s) for s in ("=1+1", "+31", "-2", "@SUM(A1)", "\tx", "\rx"))
    assert not any(is_dangerous(s) for s in ("MOB", "1", "", 5))


def test_columns_are_written_as_cell_by_cell(tmp_path):
    """The column-wise writer gives each cell the value, type and format write_cell gives it."""
    import xlsxwriter

    frame = pd.DataFrame({
        "count": [3, 0, -2], "share": [0.25, np.nan, 1.0],
        "text": pd.array(["MOB", None, "=1+1"], dtype="str"),
        "day": pd.to_datetime(["2020-10-31 00:00", None, "2020-11-30 14:05"]),
        "zoned": pd.to_datetime(["2020-10-31 10:00", "2020-11-01 00:00", None]).tz_localize("UTC"),
        "flag": [True, False, True], "mixed": ["a", 2, date(2020, 1, 2)],
        "nullable": pd.array([1.5, None, 4.0], dtype="Float64")})
    paths = {}
    for how in ("columns", "cells"):
        paths[how] = tmp_path / f"{how}.xlsx"
        book = xlsxwriter.Workbook(str(paths[how]), {"strings_to_formulas": False, "strings_to_numbers": False,
                                                   "strings_to_urls": False, "remove_timezone": True})
        formats = {"head": None, "date": book.add_format({"num_format": "yyyy-mm-dd"}),
                   "time": book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
                   "text": book.add_format({"quote_prefix": True})}
        sheet = book.add_worksheet("s")
        if how == "columns":
            _write_frame(sheet, frame, 0, formats)
        else:
            for r, row in enumerate(frame.itertuples(index=False), start=1):
                for c, value in enumerate(row):
                    write_cell(sheet, r, c, value, formats)
        book.close()
    read = {how: [[(c.value, c.data_type, c.number_format, c.quotePrefix) for c in row]
                  for row in openpyxl.load_workbook(path)["s"].iter_rows(min_row=2, max_col=len(frame.columns))]
            for how, path in paths.items()}
    assert read["columns"] == read["cells"]
    assert read["columns"][2][2] == ("=1+1", "s", "General", True)  # still text, never a formula
    assert read["columns"][0][3][2] == "yyyy-mm-dd" and read["columns"][2][3][2] == "yyyy-mm-dd hh:mm"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, Path]:
    """A small publication with a quarantined row whose outcome label is a formula, and its report."""
    root = tmp_path_factory.mktemp("report")
    ams = contract_for("amsterdam")
    rows = [good_row(n, exit_date=date(2020, 10, n), outcome="Zelfstandig vertrek") for n in range(1, 9)]
    rows += [good_row(20, exit_date=date(2020, 11, 2), outcome="Art. 64"), good_row(21),
             good_row(22, exit_date=date(2020, 11, 3), outcome="placeholder")]
    path = write_sheet(root / "raw" / "amsterdam" / "2020-11" / "export.xlsx", ams, rows, stand_per=REF)
    book = openpyxl.load_workbook(path)  # plant the label as text, as a steward's export would hold it
    cell = next(c for c in book.active["H"] if c.value == "placeholder")
    cell.value, cell.data_type = PLANTED, "s"
    book.save(path)
    staged = root / "curated" / "staged"
    save_result(staged, process_delivery(path, ams, "2020-11", Pseudonymiser("k")))
    publish(root / "curated", curated_tables(staged))
    data = gather(root / "curated" / "lvv.duckdb", REF, ["programme", "evaluation-2021"], {"run_id": "r1"})
    return write_monthly_report(data, root / "reports", threshold=5, language="en")


def _database_of(report: dict[str, Path]) -> Path:
    """The published database the `report` fixture's files were written from."""
    return report["internal_xlsx"].parent.parent / "curated" / "lvv.duckdb"


def test_the_workbooks_open_and_hold_every_section(report):
    internal = openpyxl.load_workbook(report["internal_xlsx"])
    assert {"Headline", "Outflow by municipality", "Durable share", "Outflow over time",
            "Occupancy over time", "Changes since last month", "Data quality",
            "Quarantined rows"} <= set(internal.sheetnames)
    headline = {r[0]: r[2] for r in internal["Headline"].iter_rows(min_row=5, values_only=True)}
    assert headline["returned"] == 8 and headline["postponed_departure"] == 1
    public = openpyxl.load_workbook(report["public_xlsx"])
    assert "Quarantined rows" not in public.sheetnames
    header = [c.value for c in public["Outflow by municipality"][4]]  # a column per line, in words
    assert header[:4] == ["counting rule", "municipality", "stay legalised", "departed to country of origin"]
    assert header[-1] == "total"
    published = {r[0]: r[2] for r in public["Headline"].iter_rows(min_row=5, values_only=True)}
    assert published["postponed_departure"] == SUPPRESSED  # 1 person
    # and a partner, so that the total less the shown lines does not give the 1 away
    assert sum(v == SUPPRESSED for v in published.values()) >= 2, published
    for sheet in public.worksheets:
        for row in sheet.iter_rows(min_row=5, values_only=True):
            assert not any(isinstance(v, int) and 0 < v < 5 for v in row if not isinstance(v, bool)), row



def test_each_editions_tables_are_built_once_for_its_workbook_and_page(report, tmp_path, monkeypatch):
    """The workbook and the page of an edition show the same tables: built once (at x100 a
    build of the internal ones costs about 0.05 s), so both files also say the same time."""
    import transforms.monthly_report as monthly_report

    built, build = [], monthly_report._sections
    monkeypatch.setattr(monthly_report, "_sections", lambda data: built.append(data.public) or build(data))
    data = (gather(Path(report["internal_xlsx"]).parents[1] / "curated" / "lvv.duckdb", REF,
                          ["programme", "evaluation-2021"], {"run_id": "r1"}))
    written = write_monthly_report(data, tmp_path / "reports", threshold=5, language="en")
    assert built == [False, True]
    about = {r[0]: r[1] for r in openpyxl.load_workbook(written["internal_xlsx"])["About"]
             .iter_rows(min_row=5, values_only=True)}
    page = written["internal_html"].read_text(encoding="utf-8")
    assert f"<td class='t'>generated at</td><td class='t'>{about['generated at']:%Y-%m-%d %H:%M:%S}+00:00</td>" in page

def test_a_formula_in_a_delivered_label_is_written_as_text(report):
    book = openpyxl.load_workbook(report["internal_xlsx"])
    cells = [c for row in book["Quarantined rows"].iter_rows() for c in row if c.value == PLANTED]
    assert cells, "the quarantined row with the planted label is listed"
    for cell in cells:
        assert cell.data_type == "s" and cell.quotePrefix
    findings = [c for row in book["Data quality"].iter_rows() for c in row
                if c.value == "outcome-unknown-label"]
    assert findings
    page = report["internal_html"].read_text(encoding="utf-8")
    assert PLANTED not in page and "=HYPERLINK(&quot;http://example.invalid/x&quot;" in page


def test_the_pages_carry_their_charts_offline(report):
    for name in ("internal_html", "public_html"):
        page = report[name].read_text(encoding="utf-8")
        assert "<script src=" not in page and 'src="http' not in page  # no CDN
        assert "plotly.js v" in page or "Plotly" in page[:5_000_000]  # the library is inlined
        charts = page.count('class="plotly-graph-div"')
        assert charts >= (5 if name == "internal_html" else 2), (name, charts)
        assert "Occupancy over time" in page


def _charts_in(page: str) -> dict[str, tuple[list[dict], dict]]:
    """The plotly charts of a report page, {section title: (traces, layout)}, read from its JSON."""
    decoder = json.JSONDecoder()
    charts = {}
    for section in re.finditer(r"<section><h2>([^<]*)</h2>(.*?)</section>", page, re.S):
        title, body = html.unescape(section.group(1)), section.group(2)
        if 'class="plotly-graph-div"' not in body:
            continue
        call = body[body.index("Plotly.newPlot(") + len("Plotly.newPlot("):]
        rest = call[call.index(",") + 1:].lstrip()  # after the div's id
        traces, end = decoder.raw_decode(rest)
        layout, _ = decoder.raw_decode(rest[end:].lstrip()[1:].lstrip())
        charts[title] = (traces, layout)
    return charts


def _values(array) -> list:
    """A trace's x or y as a list (plotly writes numeric arrays base64-encoded)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_each_chart_has_its_traces_panels_and_titles(report):
    internal = _charts_in(report["internal_html"].read_text(encoding="utf-8"))
    assert list(internal) == [
        "Outflow per line over time", "Outflow per line and municipality over time (programme)",
        "Durable share per municipality", "Occupancy over time", "What changed since last month",
        "Data quality per municipality (latest delivery)"]

    traces, layout = internal["Outflow per line over time"]
    lines = ["departed to country of origin", "departure postponed (art. 64)"]  # the lines in English
    assert [(t["name"], t["xaxis"]) for t in traces] == [(n, a) for n in lines for a in ("x", "x2")]
    assert [a["text"] for a in layout["annotations"]] == ["evaluation-2021", "programme"]  # a panel per rule
    assert [t["name"] for t in traces if t["showlegend"]] == lines  # one legend entry per line
    colours = {t["name"]: t["line"]["color"] for t in traces}
    assert all(t["line"]["color"] == colours[t["name"]] for t in traces) and len(set(colours.values())) == 2
    assert {t["type"] for t in traces} == {"scatter"} and {t["mode"] for t in traces} == {"lines"}
    assert layout["xaxis"]["title"]["text"] == "month end"
    assert layout["yaxis"]["title"]["text"] == "persons (cumulative)"
    assert layout["legend"]["title"]["text"] == "line"
    programme = next(t for t in traces if t["name"] == lines[0] and t["xaxis"] == "x2")
    assert _values(programme["y"])[-1] == 8  # cumulative outflow of the line at the last month end

    traces, layout = internal["Outflow per line and municipality over time (programme)"]
    assert [t["name"] for t in traces] == lines and [a["text"] for a in layout["annotations"]] == ["amsterdam"]
    traces, layout = internal["Durable share per municipality"]
    assert [t["name"] for t in traces] == ["evaluation-2021", "programme"]
    assert {t["type"] for t in traces} == {"bar"} and layout["barmode"] == "group"
    assert layout["yaxis"]["title"]["text"] == "durable share (%)"
    traces, layout = internal["Occupancy over time"]
    assert [t["name"] for t in traces] == ["amsterdam"]
    assert layout["yaxis"]["title"]["text"] == "persons in an LVV"
    colourway = layout["template"]["layout"]["colorway"]  # the template go.Figure would have added
    assert traces[0]["line"]["color"] == colourway[0] and layout["template"]["layout"]["plot_bgcolor"]
    traces, layout = internal["What changed since last month"]
    assert [(t["name"], t["xaxis"]) for t in traces] == [
        ("new exits", "x"), ("new exits", "x2"), ("revision", "x"), ("revision", "x2")]
    assert [a["text"] for a in layout["annotations"]] == ["programme", "evaluation-2021"]
    traces, layout = internal["Data quality per municipality (latest delivery)"]
    assert [(t["name"], _values(t["x"])) for t in traces] == [("outcome-unknown-label", ["amsterdam"])]

    public = _charts_in(report["public_html"].read_text(encoding="utf-8"))
    # no chart by municipality, of shares that are all suppressed here, or of internal sections
    assert list(public) == ["Outflow per line over time", "Occupancy over time"]


def test_the_public_charts_leave_suppressed_points_out(report, tmp_path):
    internal = _charts_in(report["internal_html"].read_text(encoding="utf-8"))
    public = _charts_in(report["public_html"].read_text(encoding="utf-8"))
    exact = {(t["name"], t["xaxis"]): dict(zip(_values(t["x"]), _values(t["y"]), strict=True))
             for t in internal["Outflow per line over time"][0]}
    points = 0
    for trace in public["Outflow per line over time"][0]:
        shown = _values(trace["y"])
        # the public series end at the month end before the reference date (the internal one at it)
        assert len(exact[trace["name"], trace["xaxis"]]) == len(shown) + 1
        values = [exact[trace["name"], trace["xaxis"]][x] for x in _values(trace["x"])]
        assert values == shown  # nothing small before the reference date here: every point shown
        points += len(shown)
    assert points  # the public chart has points before the reference date (October's exits)
    # the fixture's small cell (postponed_departure: 1 person) is at the reference date: in the
    # internal chart only
    assert any(0 < v < 5 for t in internal["Outflow per line over time"][0] for v in _values(t["y"]))

    # a series with points hidden (benchmarks/report_memory.py's synthetic edition, 3
    # municipalities x 12 month ends: its first month ends are small): each hidden point is a
    # gap in the public chart, not a 0, and every other point is the exact value
    from benchmarks.report_memory import synthetic
    from transforms.public_edition import public_edition

    data = replace(synthetic(3, 12), language="en")
    edition = public_edition(data, 5)
    hidden = edition.outflow_series[edition.outflow_series["persons"].isna()]
    assert len(hidden)
    traces = _charts_in(write_html(edition, tmp_path / "public.html").read_text(encoding="utf-8"))[
        "Outflow per line over time"][0]
    gaps = [(trace["name"], x) for trace in traces
            for x, y in zip(_values(trace["x"]), _values(trace["y"]), strict=True) if y is None or np.isnan(y)]
    assert len(gaps) == len(hidden)
    keys = ["month_end", "definition", "line"]
    both = edition.outflow_series.merge(data.outflow_series.groupby(keys, as_index=False)["persons"].sum(),
                                        on=keys, suffixes=("", "_exact"), validate="one_to_one")
    shown = both.dropna(subset=["persons"])
    assert len(shown) == len(both) - len(hidden) and (shown["persons"] == shown["persons_exact"]).all()


def test_no_raw_identifier_reaches_the_report(report):
    from plotly.offline import get_plotlyjs

    for path in report.values():
        if path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path)
            text = " ".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row)
        else:  # the inlined library's own text is not data
            text = path.read_text(encoding="utf-8").replace(get_plotlyjs(), "")
        assert "Testnaam" not in text and "1000000001" not in text, path.name


def test_the_texts_have_the_same_keys_in_dutch_and_english():
    def keys(tree, prefix=""):
        return {f"{prefix}{k}" for k in tree} | {
            key for k, v in tree.items() if isinstance(v, dict) for key in keys(v, f"{prefix}{k}.")}

    dutch, english = report_texts("nl"), report_texts("en")
    assert keys(dutch) == keys(english)
    assert all(len(title) <= 31 for title, _ in dutch["sections"].values())  # Excel's sheet names
    with pytest.raises(ValueError, match="report language 'fr'"):
        report_texts("fr")


def test_the_report_is_dutch_by_default_with_shares_in_per_cent(report, tmp_path):
    """The Dutch edition, from the same figures as the English fixture's."""
    english = openpyxl.load_workbook(report["internal_xlsx"])
    data = gather(report["internal_xlsx"].parent.parent / "curated" / "lvv.duckdb", REF,
                  ["programme", "evaluation-2021"], {"run_id": "r1"})
    dutch = write_monthly_report(data, tmp_path, threshold=5)
    book = openpyxl.load_workbook(dutch["internal_xlsx"])
    assert book.sheetnames[:4] == ["Over dit rapport", "Kerncijfers", "Uitstroom per gemeente",
                                   "Aandeel bestendig"]
    assert len(book.sheetnames) == len(english.sheetnames)
    header = [c.value for c in book["Aandeel bestendig"][4]]
    assert header == ["telregel", "gemeente", "bestendig", "semi-bestendig", "niet-bestendig", "totaal",
                      "aandeel bestendig (%)"]
    for definition, _, durable, _, _, total, share in book["Aandeel bestendig"].iter_rows(
            min_row=5, values_only=True):
        assert share == pytest.approx(round(100 * durable / total, 1)), definition  # 88.9, not 0.889
    page = dutch["public_html"].read_text(encoding="utf-8")
    assert "<html lang='nl'>" in page and "Uitstroom per rapportageregel in de tijd" in page
    labels = {r[0]: r[1] for r in book["Kerncijfers"].iter_rows(min_row=5, values_only=True)}
    english_labels = {r[0]: r[1] for r in english["Headline"].iter_rows(min_row=5, values_only=True)}
    assert labels["returned"] == "Vertrek naar land van herkomst"
    assert english_labels["returned"] == "departed to country of origin"
    assert "Controle geslaagd" in page and "Audit passed" not in page


def test_charts_grow_with_their_rows_of_panels():
    assert chart_height(1, 0) == chart_height(3, 0)  # one row of panels
    assert chart_height(25, 3) == chart_height(1, 3) + 8 * (chart_height(4, 3) - chart_height(1, 3))
    assert chart_height(25, 3) >= 25 // 3 * 250  # 9 rows of municipalities stay readable



def _make_subplots_grid(n_panels: int, wrap: int) -> tuple[dict, tuple, tuple, tuple]:
    """The grid as plotly's make_subplots lays it out (what _grid computes without it)."""
    from plotly.subplots import make_subplots

    from transforms.monthly_report import PANEL_GAP_PX, PANEL_ROW_PX

    n_cols = min(wrap, n_panels) if wrap else n_panels
    n_rows = -(-n_panels // n_cols)
    cells = [(n_rows - i // n_cols, i % n_cols + 1) for i in range(n_panels)]
    numbers = {cell: str(i) for i, cell in enumerate(cells)}
    layout = make_subplots(rows=n_rows, cols=n_cols, shared_xaxes="all", shared_yaxes="all",
                           start_cell="bottom-left", horizontal_spacing=0.02,
                           vertical_spacing=PANEL_GAP_PX / (PANEL_ROW_PX * n_rows) if wrap else 0.03,
                           row_heights=[1.0] * n_rows, column_widths=[1.0] * n_cols,
                           column_titles=None if wrap else list(numbers.values()),
                           subplot_titles=[numbers.get((r, c)) for r in range(1, n_rows + 1)
                                           for c in range(1, n_cols + 1)] if wrap else None
                           ).layout.to_plotly_json()
    for note in layout.get("annotations", []):
        del note["font"]
    suffix = {(r, c): "" if (r, c) == (1, 1) else str((r - 1) * n_cols + c)
              for r in range(1, n_rows + 1) for c in range(1, n_cols + 1)}
    return (layout, tuple((f"x{suffix[cell]}", f"y{suffix[cell]}") for cell in cells),
            tuple(f"xaxis{s}" for (r, _), s in suffix.items() if r == 1),
            tuple(f"yaxis{s}" for (_, c), s in suffix.items() if c == 1))


def _laid_out_by_make_subplots(wrap: int) -> list[int]:
    """The panel counts whose grid the test below has make_subplots lay out (about 5 ms per cell).

    make_subplots computes a cell's x domain from the column widths alone and its y domain from
    the row heights alone (plotly/_subplots.py), so the floating-point arithmetic of every grid is
    that of its column count (one row: wrap 0) and of its row count (one column: wrap 1, the
    wrapped vertical spacing): both are laid out for every count up to 40. A wrapped grid adds
    where its panels go: one row short of `wrap`, one full row, a second row with one panel, two
    rows with the top one short, two full rows, a third row with one panel, and the largest
    grids (39 and 40 panels: every wrap's top row short or full)."""
    return list(range(1, 41)) if wrap <= 1 else sorted({*range(1, 2 * wrap + 2), 39, 40})


@pytest.mark.parametrize("wrap", [0, 1, 2, 3, 4, 7])
def test_the_chart_grid_is_the_one_make_subplots_lays_out(wrap):
    """_grid gives make_subplots' layout to the bit and in its key order (the JSON plotly.js reads),
    its template's place included; for every number of panels up to 40 its domains are those of
    its column count and its row count, each laid out by make_subplots."""
    for n_panels in _laid_out_by_make_subplots(wrap):
        grid, expected = _grid(n_panels, wrap), _make_subplots_grid(n_panels, wrap)
        assert list(grid[0]) == list(expected[0]), (n_panels, wrap)  # the template first, as there
        mine, theirs = ({k: v for k, v in layout.items() if k != "template"} for layout in (grid[0], expected[0]))
        assert json.dumps(mine) == json.dumps(theirs), (n_panels, wrap)
        assert grid[1:] == expected[1:], (n_panels, wrap)
    for n_panels in range(1, 41):  # every count: each cell's domains are its column's and its row's
        layout, _, bottom, left = _grid(n_panels, wrap)
        n_cols, n_rows = len(bottom), len(left)
        columns, rows = _grid(n_cols, 0)[0], _grid(n_rows, 1)[0]
        assert sum(name.startswith("xaxis") for name in layout) == n_cols * n_rows, (n_panels, wrap)
        for r in range(n_rows):
            for c in range(n_cols):
                number = str(r * n_cols + c + 1) if r or c else ""
                assert layout[f"xaxis{number}"]["domain"] == columns[f"xaxis{c + 1 if c else ''}"]["domain"], (
                    n_panels, wrap, r, c)
                assert layout[f"yaxis{number}"]["domain"] == rows[f"yaxis{r + 1 if r else ''}"]["domain"], (
                    n_panels, wrap, r, c)


# --- a hand-built network of 25 municipalities (no generator) ---------------------------------------

NET_REF = date(2020, 11, 30)
NET_PREVIOUS = date(2020, 10, 31)
#: exits the demo generator never wrote in this mix: a rule-dependent outcome in every municipality
OUTCOMES = [("permit_granted", None), ("immigration_detention", "forced_departure"), ("departed_unknown", None),
            ("return_independent", None), ("repeat_application", None), ("immigration_detention", "released")]


def _versions() -> list[dict]:
    """Episode versions of 25 municipalities over 2020: g25 has no exit at all, nobody enters or
    leaves in June, g01's p0 leaves twice under different outcomes, g02's p9 holds two overlapping
    stays, and g03's p0's exit in October was registered late (only the November delivery has it).
    g01's p0 leaves the second time on a month end: counted at it, no longer in an LVV on it; g04's
    p0 leaves twice within months."""
    rows = []

    def stay(m: str, person: str, n: int, intake: date, exit_date: date | None = None, outcome=(None, None),
             known_from: date = NET_PREVIOUS, known_to: date | None = None) -> None:
        rows.append(dict(episode_id=f"{m}-{person}-{n}", municipality=m, version=1, person_id=f"{m}-{person}",
                         intake_date=intake, exit_date=exit_date, outcome_code=outcome[0], follow_up_code=outcome[1],
                         known_from=known_from, known_to=known_to, stated_in=f"{m}/2020-11", excel_row=2 + len(rows),
                         correction=None))

    for i in range(1, 26):
        m = f"g{i:02d}"
        for k in range(6):
            intake = date(2020, 1 + k % 4, 1 + i)
            leaves = i < 25 and k < 5
            exit_month = [2, 4, 5, 8, 10][k] if leaves else None  # June: nobody leaves
            stay(m, f"p{k}", 1, intake, date(2020, exit_month, 10 + k) if leaves else None,
                 OUTCOMES[(i + k) % len(OUTCOMES)] if leaves else (None, None))
    stay("g01", "p0", 2, date(2020, 3, 20), date(2020, 9, 30), ("return_independent", None))  # on a month end
    stay("g04", "p0", 2, date(2020, 4, 1), date(2020, 10, 15), ("departed_unknown", None))
    stay("g02", "p9", 1, date(2020, 2, 1))
    stay("g02", "p9", 2, date(2020, 4, 1), date(2020, 9, 10), ("permit_granted", None))
    late = next(r for r in rows if r["episode_id"] == "g03-p0-1")
    rows.append({**late, "exit_date": None, "outcome_code": None, "follow_up_code": None,
                 "known_to": NET_REF, "stated_in": "g03/2020-10", "version": 1})
    late.update(version=2, exit_date=date(2020, 10, 20), outcome_code="permit_granted", follow_up_code=None,
                known_from=NET_REF)
    return rows


@pytest.fixture(scope="module")
def network(report, tmp_path_factory) -> Path:
    """A published database of the hand-built network (tables typed as a real publication's)."""
    from transforms.publish import build_database

    real = duckdb.connect(str(report["internal_xlsx"].parent.parent / "curated" / "lvv.duckdb"), read_only=True)
    typed = {t: real.execute(f"select * from {t} limit 0").df() for t in
             ("episode_versions", "deliveries", "validation_issues", "quarantined_rows")}
    real.close()
    deliveries = [dict(delivery_id=f"g{i:02d}/2020-11", municipality=f"g{i:02d}", period="2020-11",
                       file=f"g{i:02d}/2020-11/export.xlsx", sha256="0" * 64, stand_per=NET_REF, stand_per_stated=True,
                       status="accepted", rows_read=7, rows_curated=7, rows_quarantined=0, rows_skipped=0,
                       status_reason=None, superseded_by=None) for i in range(1, 26)]
    deliveries += [{**deliveries[0], "delivery_id": "g01/2020-12", "period": "2020-12", "status": "held",
                    "status_reason": "most rows quarantined"},
                   {**deliveries[2], "delivery_id": "g03/2020-12", "period": "2020-12", "status": "superseded"}]
    issues = [{**{c: None for c in typed["validation_issues"].columns}, "delivery_id": "g01/2020-12",
               "code": "date-unparseable", "severity": severity, "level": "field", "excel_row": 3}
              for severity in ("error", "warning", "warning")]
    tables = {name: pd.concat([typed[name], pd.DataFrame(rows, columns=typed[name].columns)], ignore_index=True)
              .astype(typed[name].dtypes.to_dict())
              for name, rows in (("episode_versions", _versions()), ("deliveries", deliveries),
                                 ("validation_issues", issues), ("quarantined_rows", []))}
    path = tmp_path_factory.mktemp("network") / "lvv.duckdb"
    build_database(path, tables)
    return path


@pytest.mark.parametrize("ref, points", [(NET_REF, 11), (date(2020, 10, 14), 10)])
def test_the_series_are_the_macros_at_every_month_end(network, ref, points):
    """Each series, computed in one pass, is what the contract's macros (and suppression.atoms)
    answer at each month end: a month without exits, a municipality without any, two exits of one
    person, overlapping stays. A reference date inside a month (2020-10-14: exits that day count,
    those of the 15th and 20th do not) ends every series on that date: no series counts an exit
    after it, so the last point is the headline's figure, and the atoms protect what is shown."""
    from transforms import suppression

    rules = ["programme", "evaluation-2021", "evaluation-2022"]
    data = gather(network, ref, rules)
    con = duckdb.connect(str(network), read_only=True)
    month_ends = sorted(pd.to_datetime(data.occupancy_series["month_end"]).dt.date.unique())
    assert month_ends[0] == date(2020, 1, 31) and month_ends[-1] == ref and len(month_ends) == points
    for frame in (data.outflow_series, data.series_atoms):
        assert sorted(pd.to_datetime(frame["month_end"]).dt.date.unique())[-1] == ref
    last = data.outflow_series[pd.to_datetime(data.outflow_series["month_end"]).dt.date == ref]
    assert last.groupby("definition")["persons"].sum().to_dict() == data.headline[rules].sum().to_dict()
    exits = con.execute("select municipality, person_id, outcome_code, follow_up_code, exit_date "
                        "from episodes where exit_date is not null and exit_date <= $ref", {"ref": ref}).df()
    counting = con.execute("select * from counting_rules").df()
    occupancy = data.occupancy_series.assign(month_end=lambda f: pd.to_datetime(f["month_end"]).dt.date)
    series = data.outflow_series.assign(month_end=lambda f: pd.to_datetime(f["month_end"]).dt.date)
    atoms = data.series_atoms.assign(month_end=lambda f: pd.to_datetime(f["month_end"]).dt.date)
    for month_end in month_ends:
        at = {"d": month_end}
        expected = dict(con.execute("select municipality, persons from occupancy($d)", at).fetchall())
        got = occupancy[occupancy["month_end"] == month_end]
        assert {m: o for m, o in zip(got["municipality"], got["occupancy"]) if o} == expected, month_end
        assert dict(zip(got["municipality"], got["inflow"])) == dict(
            con.execute("select municipality, persons from inflow($d)", at).fetchall()), month_end
        for rule in rules:
            expected = con.execute("select municipality, line, sum(persons)::bigint from outflow($d, definition := $r) "
                                   "group by all", {**at, "r": rule}).fetchall()
            got = series[(series["month_end"] == month_end) & (series["definition"] == rule)]
            assert sorted(zip(got["municipality"], got["line"], got["persons"])) == sorted(expected)
        oracle = suppression.atoms(exits[pd.to_datetime(exits["exit_date"]).dt.date <= month_end], counting, rules)
        oracle = oracle.groupby("classes")["persons"].sum().to_dict()
        assert atoms[atoms["month_end"] == month_end].set_index("classes")["persons"].to_dict() == oracle, month_end
    assert june_without_exits(series)
    assert "g25" not in set(data.atoms["municipality"]) and "g25" in set(occupancy["municipality"])
    reference = suppression.atoms(exits, counting, rules)
    pd.testing.assert_frame_equal(data.atoms.reset_index(drop=True), reference, check_dtype=False)


def june_without_exits(series: pd.DataFrame) -> bool:
    per_month = series.groupby(["month_end", "definition"])["persons"].sum().unstack("definition")
    return (per_month.loc[date(2020, 6, 30)] == per_month.loc[date(2020, 5, 31)]).all()


def test_the_latest_delivery_of_each_municipality_is_the_newest_not_superseded(network):
    data = gather(network, NET_REF, ["programme"])
    latest = dict(zip(data.deliveries["municipality"], data.deliveries["delivery_id"]))
    assert len(latest) == 25
    assert latest["g01"] == "g01/2020-12"  # held: shown, with its reason
    assert latest["g03"] == "g03/2020-11"  # the superseded December delivery is not
    assert data.deliveries.set_index("municipality").loc["g01", "status_reason"] == "most rows quarantined"
    assert data.quality.to_dict("records") == [
        {"municipality": "g01", "code": "date-unparseable", "severity": "warning", "findings": 2},
        {"municipality": "g01", "code": "date-unparseable", "severity": "error", "findings": 1}]


def _cells(book) -> dict[str, list[tuple]]:
    return {sheet.title: [r for r in sheet.iter_rows(min_row=5, values_only=True)] for sheet in book.worksheets}


def test_codes_in_the_tables_are_in_the_reports_language(network, tmp_path):
    """Lines, durability classes, effects, statuses and severities read as words, in Dutch by
    default and in English; only the headline keeps the line codes, beside their labels."""
    data = gather(network, NET_REF, ["programme", "evaluation-2021"], {"run_id": "r", "status": "published"})
    for language, words in [
        ("nl", {"bridge": ("Herzieningen verklaard", ("Verblijf gelegaliseerd", "late registratie", 1)),
                "held": ("Leveringen", "aangehouden"), "severity": ("Datakwaliteit", "waarschuwing"),
                "durability": ("Uitstroom per gemeente", {"bestendig", "semi-bestendig", "niet-bestendig"}),
                "run": "gepubliceerd"}),
        ("en", {"bridge": ("Revisions explained", ("stay legalised", "late registration", 1)),
                "held": ("Deliveries", "held"), "severity": ("Data quality", "warning"),
                "durability": ("Outflow by municipality", {"durable", "semi-durable", "non-durable"}),
                "run": "published"})]:
        path = write_excel(replace(data, language=language), tmp_path / f"{language}.xlsx")
        cells = _cells(openpyxl.load_workbook(path))
        sheet, row = words["bridge"]
        assert [r[1:] for r in cells[sheet]] == [row, row], language  # the same under both rules
        sheet, status = words["held"]
        assert {r[0]: r[3] for r in cells[sheet]}["g01"] == status
        sheet, severity = words["severity"]
        assert {r[2] for r in cells[sheet]} == {severity, "fout" if language == "nl" else "error"}
        sheet, classes = words["durability"]
        assert {r[3] for r in cells[sheet]} == classes
        assert words["run"] in [r[1] for r in cells[next(iter(cells))]]
        codes = {"late_registration", "semi_durable", "non_durable", "accepted", "warning", "repeat_application"}
        for title, rows in list(cells.items())[2:]:  # after About and the headline
            shown = {v for r in rows for v in r if isinstance(v, str)}
            assert not (shown & codes) - {"warning"} - ({"accepted"} if language == "en" else set()), title
    headline = openpyxl.load_workbook(tmp_path / "nl.xlsx")["Kerncijfers"]
    assert [r[:2] for r in headline.iter_rows(min_row=5, max_row=6, values_only=True)] == [
        ("legalised", "Verblijf gelegaliseerd"), ("returned", "Vertrek naar land van herkomst")]


def test_a_code_without_a_text_is_an_error_naming_it(network, tmp_path):
    with pytest.raises(ValueError, match=r"no nl text for effect 'moon_phase'.*nl\.values\.effect"):
        in_language(pd.DataFrame({"effect": ["late_registration", "moon_phase", None]}), "nl")
    with pytest.raises(ValueError, match=r"no en text for line 'teleported'.*taxonomy\.yaml"):
        in_language(pd.DataFrame({"line": ["returned", "teleported"]}), "en")
    assert in_language(pd.DataFrame({"effect": ["late_registration", None]}), "en")["effect"].tolist()[0] == \
        "late registration"
    data = gather(network, NET_REF, ["programme"])
    odd = replace(data, deliveries=data.deliveries.assign(status="parked"))  # a status no text names
    with pytest.raises(ValueError, match="status 'parked'"):
        write_excel(odd, tmp_path / "odd.xlsx")
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_a_table_longer_than_a_sheet_is_cut_with_a_note(network, tmp_path, monkeypatch):
    import transforms.monthly_report as report_module

    monkeypatch.setattr(report_module, "SHEET_ROWS", 40)
    monkeypatch.setattr(report_module, "PAGE_ROWS", 15)
    data = replace(gather(network, NET_REF, ["programme"]), language="en")
    rows = len(_wide_series(data.outflow_series))
    # a row per month end and municipality with an exit by then: 24 municipalities (g25 has none)
    # from February to November, less g03's February and March (its February exit became October's)
    assert rows == 24 * 10 - 2
    sheet = openpyxl.load_workbook(write_excel(data, tmp_path / "cut.xlsx"))["Outflow over time"]
    assert sheet.max_row == 4 + 40
    assert sheet["A2"].value.endswith(f"{rows - 40} more rows not shown; the database (lvv.duckdb) has them all.")
    page = write_html(data, tmp_path / "cut.html").read_text(encoding="utf-8")
    assert f"{rows - 15} more rows not shown; the database" in page
    assert len(data.deliveries) == 25 and "10 more rows in the workbook" in page  # the sheet has them


def test_the_panels_of_25_municipalities_stay_readable(network, tmp_path):
    data = replace(gather(network, NET_REF, ["programme"]), language="en")
    page = write_html(data, tmp_path / "network.html").read_text(encoding="utf-8")
    traces, layout = _charts_in(page)["Outflow per line and municipality over time (programme)"]
    assert len(layout["annotations"]) == 24  # a titled panel per municipality with an exit
    plot = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    heights = [plot * (axis["domain"][1] - axis["domain"][0]) for name, axis in layout.items()
               if name.startswith("yaxis")]
    assert len(heights) == 24 and min(heights) >= 220, min(heights)  # of the 300 px a row of panels gets
    assert {t["name"] for t in traces} >= {"stay legalised", "departed to country of origin"}


def test_the_report_benchmark_times_every_part(report, tmp_path):
    """benchmarks/report.py on the small publication: every part of gather, protection and each
    writer measured (no timing asserted: `python -m benchmarks.report` reports the figures). Its
    size is not what is tested: on the hand-built network the protection alone, run three times
    here, cost about 30 CPU seconds."""
    from benchmarks.report import measure, table

    stats = measure(_database_of(report), REF, tmp_path / "reports")
    parts = {"headline", "by_municipality", "outflow_series", "occupancy_series", "changes", "bridge",
             "quality_tables", "atoms"}
    assert {f"gather.{p}_s" for p in parts} | {"gather_s", "protection_s", "writers_s",
                                                 "report_from_kept_patterns_s"} <= set(stats)
    for edition in ("internal", "public"):
        assert {f"excel_{edition}_s", f"charts_{edition}_s", f"html_{edition}_s"} <= set(stats)
    assert all(s.runs and s.median > 0 for s in stats.values())
    assert sum(stats[f"gather.{p}_s"].median for p in parts) <= stats["gather_s"].median
    info = {"factor": 0, "municipalities": 1, "months": 1, "rows": 0, "ref_date": REF}
    assert "`gather.atoms_s`" in table(stats, info)
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "internal.html", "internal.xlsx", "public.html", "public.xlsx"]
    step = tmp_path / "reports-step"  # the report step from the kept patterns: its four files beside
    assert len(list((step / "protection-cache").iterdir())) > 0
    assert len(list((step / f"{REF:%Y-%m-%d}").glob("lvv-monthly-*.*"))) == 4


def test_a_release_published_before_the_latest_deliveries_view_still_reports(network, tmp_path):
    import shutil

    older = tmp_path / "older.duckdb"
    shutil.copy(network, older)
    con = duckdb.connect(str(older))
    con.execute("drop view latest_deliveries")
    con.execute("drop macro table series_points")  # also newer than some releases
    # and the bridge's pairing and effect rules, shared with reconcile() since round 25
    con.execute("drop macro table knowledge_pairs")
    con.execute("drop macro revision_rank")
    con.execute("drop macro effect_order")
    con.close()
    expected = gather(network, NET_REF, ["programme"])
    data = gather(older, NET_REF, ["programme"])
    pd.testing.assert_frame_equal(data.deliveries, expected.deliveries)
    pd.testing.assert_frame_equal(data.quality, expected.quality)
    pd.testing.assert_frame_equal(data.outflow_series, expected.outflow_series)
    assert len(expected.bridge)  # revisions last month: the bridge has rows to compare
    pd.testing.assert_frame_equal(data.bridge, expected.bridge)
    con = duckdb.connect(str(older), read_only=True)  # the file itself is left as it was
    assert con.execute("select count(*) from duckdb_views() where view_name = 'latest_deliveries'").fetchall() == [(0,)]


def test_a_release_without_the_reconcile_macro_has_an_empty_bridge_and_every_other_table(network, tmp_path):
    """gather reads the catalogue once (_report_objects) and tells the bridge whether reconcile()
    is there: a release without it has no bridge, as before, and every other table as it was."""
    import shutil
    from dataclasses import fields

    from transforms.monthly_report import ReportData

    older = tmp_path / "older.duckdb"
    shutil.copy(network, older)
    con = duckdb.connect(str(older))
    con.execute("drop macro table reconcile")
    con.close()
    expected = gather(network, NET_REF, ["programme", "evaluation-2021"])
    data = gather(older, NET_REF, ["programme", "evaluation-2021"])
    assert len(expected.bridge) and data.bridge.empty
    assert list(data.bridge.columns) == ["definition", "line", "effect", "persons"]
    frames = [f.name for f in fields(ReportData) if isinstance(getattr(data, f.name), pd.DataFrame)]
    for name in (n for n in frames if n != "bridge"):
        pd.testing.assert_frame_equal(getattr(data, name), getattr(expected, name), obj=name)


def test_a_run_with_nothing_new_takes_every_pattern_from_the_cache(report, monkeypatch):
    """write_monthly_report kept its patterns beside the reports; the same figures again
    optimise nothing (protect is never called) and publish the same cells, audited afresh."""
    from dataclasses import replace

    from transforms import public_edition, suppression

    root = report["public_xlsx"].parent.parent
    cache = root / public_edition.PROTECTION_CACHE
    assert list(cache.glob("*.json"))
    data = replace(gather(root / "curated" / "lvv.duckdb", REF, ["programme", "evaluation-2021"],
                          {"run_id": "r1"}), language="en")
    fresh = public_edition.public_edition(data, 5)

    def no_optimisation(*args, **kwargs):
        raise AssertionError("protect() ran although every pattern is in the cache")

    monkeypatch.setattr(suppression, "protect", no_optimisation)
    cached = public_edition.public_edition(data, 5, cache_dir=cache)
    for name in ("headline", "by_municipality", "durable_share", "outflow_series", "occupancy_series"):
        pd.testing.assert_frame_equal(getattr(cached, name), getattr(fresh, name))
    assert cached.notes == fresh.notes and any("Audit passed" in n for n in cached.notes)


def test_a_banded_share_is_text_in_the_tables_and_no_point_in_the_chart(report, tmp_path):
    """A hidden durable count beside a shown total: its share printed as a band (text), in the
    workbook and on the page, and left out of the share chart (a band is no point)."""
    from transforms.public_edition import band_text, public_edition

    data = replace(gather(report["internal_xlsx"].parent.parent / "curated" / "lvv.duckdb", REF,
                          ["programme", "evaluation-2021"]), language="en")
    public = public_edition(data, 5)
    public.durable_share = pd.DataFrame(
        [{"definition": "programme", "municipality": "noord", "durable": SUPPRESSED, "semi_durable": 7,
          "non_durable": SUPPRESSED, "total": 22, "share": band_text((10, 20))},
         {"definition": "programme", "municipality": "zuid", "durable": 13, "semi_durable": 23,
          "non_durable": 34, "total": 70, "share": 18.6}], columns=public.durable_share.columns)
    book = openpyxl.load_workbook(write_excel(public, tmp_path / "banded.xlsx"))
    shares = {r[1]: r[6] for r in book["Durable share"].iter_rows(min_row=5, values_only=True) if r[0]}
    assert shares == {"noord": "10–20 %", "zuid": 18.6}
    page = write_html(public, tmp_path / "banded.html").read_text(encoding="utf-8")
    assert "10–20 %" in page
    traces, _ = _charts_in(page)["Durable share per municipality"]
    assert [(_values(t["x"]), _values(t["y"])) for t in traces] == [(["zuid"], [18.6])]


def test_the_report_memory_benchmark_reports_both_halves(report, capsys):
    """benchmarks/report_memory.py (docs/performance.md, x100): peak memory after gather and after
    the protection, with their seconds, on a published database (the small publication: its size
    is not what is tested)."""
    from benchmarks.report_memory import main

    assert main([str(_database_of(report)), REF.isoformat(), "--definitions", "programme"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["imported", "gather", "public_edition"]
    peaks = [float(line.rsplit("peak ", 1)[1].split()[0]) for line in lines]
    assert all(p > 0 for p in peaks) and peaks == sorted(peaks)  # a peak never falls


def test_the_report_memory_benchmark_builds_a_synthetic_edition_without_a_network(capsys):
    """benchmarks/report_memory.py --synthetic: the national protection problem's shape (here 4
    municipalities x 6 month ends) protected and audited by public_edition, no database needed."""
    from benchmarks.report_memory import main, synthetic
    from transforms import public_edition

    data = synthetic(4, 6)
    assert data.series_atoms["month_end"].nunique() == 6 == data.occupancy_series["month_end"].nunique()
    assert pd.Timestamp(data.series_atoms["month_end"].max()) < pd.Timestamp(data.reference_date)
    public = public_edition.public_edition(data, 5)  # consistent: the atoms give the tables' figures
    assert "x" in public.by_municipality.to_numpy()
    assert main(["--synthetic", "4", "6"]) == 0
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == [
        "imported", "gather", "public_edition"]


def test_the_public_series_end_before_the_reference_date(network):
    """At the reference date the outflow series' figures are the headline's (per rule and line),
    protected by an optimisation of their own: published in both, a secondary one pattern hides
    can stand in the other, and the headline's total less its shown lines gives a primary back.
    So the public series stop at the month end before; the internal edition keeps the point."""
    from transforms import public_edition

    rules = ["programme", "evaluation-2021"]
    data = gather(network, NET_REF, rules)
    public = public_edition.public_edition(data, 5)
    for name in ("outflow_series", "occupancy_series"):
        internal_ends = set(pd.to_datetime(getattr(data, name)["month_end"]).dt.date)
        public_ends = set(pd.to_datetime(getattr(public, name)["month_end"]).dt.date)
        assert NET_REF in internal_ends, name
        assert public_ends == internal_ends - {NET_REF}, name


def test_the_gathered_figures_of_a_release_are_taken_again_for_the_same_date_and_rules(demo_run, tmp_path,
                                                                                       monkeypatch):
    """A run with nothing new reads the store no more: gather_cached gives what gather gave (every
    frame, the atoms' class sets as tuples) with this run's record; another date, other rules, a
    database outside a release or a damaged cache are gathered again."""
    import shutil

    from transforms import monthly_report

    paths, _, _ = demo_run
    rules, ref, cache = ["programme", "evaluation-2021", "evaluation-2022"], date(2020, 11, 1), tmp_path / "cache"
    fresh = gather(paths.database, ref, rules, {"run_id": "a"})
    assert any(isinstance(c, tuple) for c in fresh.atoms["classes"])
    monthly_report.gather_cached(paths.database, ref, rules, {"run_id": "a"}, cache)
    calls = []
    monkeypatch.setattr(monthly_report, "gather", lambda *a, **k: calls.append(a) or fresh)
    again = monthly_report.gather_cached(paths.database, ref, rules, {"run_id": "b"}, cache)
    assert calls == [] and again.run == {"run_id": "b"}
    assert (again.reference_date, again.previous_date, again.definitions) == (ref, fresh.previous_date, rules)
    for name in monthly_report._frames():
        pd.testing.assert_frame_equal(getattr(again, name), getattr(fresh, name), check_exact=True)
    assert again.atoms["classes"].tolist() == fresh.atoms["classes"].tolist()
    monthly_report.gather_cached(paths.database, date(2020, 10, 31), rules, None, cache)
    monthly_report.gather_cached(paths.database, ref, rules[:2], None, cache)
    alone = tmp_path / "alone.duckdb"
    shutil.copy(paths.database.resolve(), alone)
    monthly_report.gather_cached(alone, ref, rules, None, cache)
    assert len(calls) == 3
    for kept in cache.glob("*/atoms.parquet"):
        kept.write_bytes(b"damaged")
    monthly_report.gather_cached(paths.database, ref, rules, None, cache)
    assert len(calls) == 4
    monthly_report.gather_cached(paths.database, ref, rules, None, cache)  # replaced by the gather after it
    assert len(calls) == 4


def test_a_kept_gather_altered_but_readable_is_gathered_again_and_sql_is_in_its_key(demo_run, tmp_path,
                                                                                     monkeypatch):
    """A kept frame replaced by another valid Parquet file (one figure changed: it still reads)
    is caught by its checksum and gathered again; a change to sql/ (whose views and macros an
    older release gets from there) is another key."""
    from transforms import monthly_report, publish

    paths, _, _ = demo_run
    rules, ref, cache = ["programme"], date(2020, 11, 1), tmp_path / "cache"
    fresh = monthly_report.gather_cached(paths.database, ref, rules, None, cache)
    (kept,) = cache.glob("*/headline.parquet")
    forged = fresh.headline.copy()
    forged.loc[0, "programme"] += 1
    forged.to_parquet(kept)
    calls = []
    monkeypatch.setattr(monthly_report, "gather", lambda *a, **k: calls.append(a) or fresh)
    again = monthly_report.gather_cached(paths.database, ref, rules, None, cache)
    assert calls and again.headline.equals(fresh.headline)
    key = monthly_report._gather_key(paths.database, ref, rules)
    text = publish.sql_text
    monkeypatch.setattr(publish, "sql_text", lambda name: text(name) + ("\n-- changed" if name == "views.sql" else ""))
    assert monthly_report._gather_key(paths.database, ref, rules) != key


def test_every_status_a_run_record_can_have_reads_in_every_report_language():
    """runs.finish_run accepts only runs.STATUSES; each has a run_status text (nl and en), so
    the About sheet never meets a status it cannot show, and no text is left for a status that
    no longer exists."""
    from schemas import load_yaml
    from importlib.resources import files
    from transforms import runs

    texts = load_yaml(files("schemas").joinpath("report_texts.yaml").read_text(encoding="utf-8"))
    for language, words in texts.items():
        assert set(words["values"]["run_status"]) == set(runs.STATUSES), language
    with pytest.raises(ValueError, match="succeeded"):
        runs.finish_run(runs.new_run(date(2020, 11, 1), ["programme"]), "succeeded")


def test_dates_are_written_as_the_serial_numbers_xlsxwriter_computes(tmp_path):
    """excel_serials (a column of timestamps at once) gives the numbers xlsxwriter's own
    write_datetime computes one value at a time, Excel's 1900 quirks included (no 1900-02-29,
    1900-01-01 as day 0 with a time, day 0 for a time alone); a missing one is blank, and the cell
    read back is the date written, in the date's or the time's format."""
    from datetime import datetime as dt

    from xlsxwriter.utility import _datetime_to_excel_datetime

    from transforms.monthly_report import excel_serials, write_cell, _write_column

    stamps = pd.Series(pd.to_datetime(
        ["1900-01-01", "1900-02-28", "1900-03-01", "2020-11-30", "2020-10-31 13:45:12.123456", None,
         "1899-12-31 06:00", "2099-12-31 23:59:59.999999"], format="ISO8601"))
    serials = excel_serials(stamps)
    for serial, stamp in zip(serials, stamps):
        if pd.isna(stamp):
            assert np.isnan(serial)
        else:
            assert serial == _datetime_to_excel_datetime(stamp.to_pydatetime(), False, False), stamp
    import xlsxwriter

    path = tmp_path / "dates.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("d")
    formats = {"date": book.add_format({"num_format": "yyyy-mm-dd"}),
               "time": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}), "text": book.add_format()}
    _write_column(sheet, 0, 0, stamps.iloc[3:6].reset_index(drop=True), formats)
    write_cell(sheet, 0, 1, dt(2020, 10, 31, 13, 45, 12, 123456), formats)  # the cell-by-cell path
    book.close()
    cells = openpyxl.load_workbook(path)["d"]
    assert [cells.cell(r, 1).value for r in (1, 2, 3)] == [dt(2020, 11, 30), dt(2020, 10, 31, 13, 45, 12, 123000), None]  # read back to the ms
    assert cells.cell(1, 1).number_format == "yyyy-mm-dd" and cells.cell(2, 1).number_format.endswith("hh:mm:ss")
    assert cells.cell(1, 2).value == cells.cell(2, 1).value


def test_the_outflow_series_of_several_rules_at_once_is_each_rule_alone(network):
    """Every rule in one statement: each rule's rows as asked alone, under the name asked (any
    case), the rules in the order asked; a rule asked twice, its rows twice."""
    from transforms.monthly_report import _first_intake, _outflow_series

    con = duckdb.connect(str(network), read_only=True)
    first = _first_intake(con)
    asked = ["Evaluation-2022", "programme", "evaluation-2021", "programme"]
    together = _outflow_series(con, first, NET_REF, asked)
    alone = pd.concat([_outflow_series(con, first, NET_REF, [rule]) for rule in asked], ignore_index=True)
    assert len(together) and list(dict.fromkeys(together["definition"])) == ["Evaluation-2022", "programme",
                                                                             "evaluation-2021"]
    pd.testing.assert_frame_equal(together, alone, check_exact=True)


def test_a_page_table_shows_every_kind_of_column_as_written_by_hand():
    """The page's table, a column at a time: whole numbers and floats right-aligned, a missing value
    an empty text cell, text escaped (never markup), nullable numbers, dates (a date at midnight,
    else date and time), tuples joined and booleans as the page has always shown them."""
    from transforms.monthly_report import _html_table, report_texts

    frame = pd.DataFrame({
        "n": np.array([3, 10], dtype="int64"),
        "f": [1.5, np.nan],
        "s": pd.array(["a<b & 'c'", pd.NA], dtype="string"),
        "i": pd.array([1, pd.NA], dtype="Int64"),
        "d": pd.to_datetime(["2020-01-31 00:00", "2020-02-29 12:00"]),
        "o": [("x", "y"), None],
        "b": [True, False],
        "u": np.array([7, 0], dtype="uint8"),
    })
    expected = ("<table><thead><tr><th>n</th><th>f</th><th>s</th><th>i</th><th>d</th><th>o</th><th>b</th>"
                "<th>u</th></tr></thead><tbody>"
                "<tr><td>3</td><td>1.5</td><td class='t'>a&lt;b &amp; &#x27;c&#x27;</td><td>1</td>"
                "<td class='t'>2020-01-31</td><td class='t'>x, y</td><td>True</td><td>7</td></tr>"
                "<tr><td>10</td><td class='t'></td><td class='t'></td><td class='t'></td>"
                "<td class='t'>2020-02-29 12:00:00</td><td class='t'></td><td>False</td><td>0</td></tr>"
                "</tbody></table>")
    assert _html_table(frame, report_texts("en")) == expected


@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_a_page_column_of_timestamps_is_the_cells_written_one_at_a_time(unit):
    """The page's fast path for timestamps gives each cell what the cell-by-cell path (_plain) gives
    it: a date at midnight, date and time otherwise (microseconds too), an empty text cell for NaT,
    the first and last days a date can hold, on a column of any unit and index; a year a date
    cannot hold is refused by both."""
    from transforms.monthly_report import _html_cells

    stamps = ["2020-01-31T00:00", "NaT", "2020-02-29T12:00", "2020-03-01T00:00:00.000001", "0001-01-01T00:00",
              "9999-12-31T00:00", "9999-12-31T23:59:59", "2262-04-11T00:00", "1970-01-01T00:00", "NaT"]
    if unit == "ns":  # the years a nanosecond timestamp holds
        stamps = [s for s in stamps if s == "NaT" or "1678" < s[:4] < "2262"]
    if unit == "s":
        stamps = [s for s in stamps if "." not in s]
    values = pd.Series(np.array(stamps, dtype=f"datetime64[{unit}]"), index=range(40, 40 + 3 * len(stamps), 3))
    fast, by_cell = _html_cells(values), _html_cells(values.astype(object))
    assert fast == by_cell
    assert fast[:3] == ["<td class='t'>2020-01-31</td>", "<td class='t'></td>", "<td class='t'>2020-02-29 12:00:00</td>"]
    if unit != "ns":
        late = pd.Series(np.array(["2020-01-31", "10000-01-01"], dtype=f"datetime64[{unit}]"))
        for column in (late, late.astype(object)):
            with pytest.raises(ValueError, match="out of range"):
                _html_cells(column)

"""The monthly report as plain functions: small-cell protection, safe cells, the files it writes."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import date
from pathlib import Path

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
    _write_frame,
    chart_height,
    gather,
    is_dangerous,
    report_texts,
    write_cell,
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


def test_the_workbooks_open_and_hold_every_section(report):
    internal = openpyxl.load_workbook(report["internal_xlsx"])
    assert {"Headline", "Outflow by municipality", "Durable share", "Outflow over time",
            "Occupancy over time", "Changes since last month", "Data quality",
            "Quarantined rows"} <= set(internal.sheetnames)
    headline = {r[0]: r[2] for r in internal["Headline"].iter_rows(min_row=5, values_only=True)}
    assert headline["returned"] == 8 and headline["postponed_departure"] == 1
    public = openpyxl.load_workbook(report["public_xlsx"])
    assert "Quarantined rows" not in public.sheetnames
    published = {r[0]: r[2] for r in public["Headline"].iter_rows(min_row=5, values_only=True)}
    assert published["postponed_departure"] == SUPPRESSED  # 1 person
    # and a partner, so that the total less the shown lines does not give the 1 away
    assert sum(v == SUPPRESSED for v in published.values()) >= 2, published
    for sheet in public.worksheets:
        for row in sheet.iter_rows(min_row=5, values_only=True):
            assert not any(isinstance(v, int) and 0 < v < 5 for v in row if not isinstance(v, bool)), row


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
    lines = ["returned", "postponed_departure"]
    assert [(t["name"], t["xaxis"]) for t in traces] == [(n, a) for n in lines for a in ("x", "x2")]
    assert [a["text"] for a in layout["annotations"]] == ["evaluation-2021", "programme"]  # a panel per rule
    assert [t["name"] for t in traces if t["showlegend"]] == lines  # one legend entry per line
    colours = {t["name"]: t["line"]["color"] for t in traces}
    assert all(t["line"]["color"] == colours[t["name"]] for t in traces) and len(set(colours.values())) == 2
    assert {t["type"] for t in traces} == {"scatter"} and {t["mode"] for t in traces} == {"lines"}
    assert layout["xaxis"]["title"]["text"] == "month end"
    assert layout["yaxis"]["title"]["text"] == "persons (cumulative)"
    assert layout["legend"]["title"]["text"] == "line"
    programme = next(t for t in traces if t["name"] == "returned" and t["xaxis"] == "x2")
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
    traces, layout = internal["What changed since last month"]
    assert [(t["name"], t["xaxis"]) for t in traces] == [
        ("new_exits", "x"), ("new_exits", "x2"), ("revision", "x"), ("revision", "x2")]
    assert [a["text"] for a in layout["annotations"]] == ["programme", "evaluation-2021"]
    traces, layout = internal["Data quality per municipality (latest delivery)"]
    assert [(t["name"], _values(t["x"])) for t in traces] == [("outcome-unknown-label", ["amsterdam"])]

    public = _charts_in(report["public_html"].read_text(encoding="utf-8"))
    # no chart by municipality, of shares that are all suppressed here, or of internal sections
    assert list(public) == ["Outflow per line over time", "Occupancy over time"]


def test_the_public_charts_leave_suppressed_points_out(report):
    internal = _charts_in(report["internal_html"].read_text(encoding="utf-8"))
    public = _charts_in(report["public_html"].read_text(encoding="utf-8"))
    exact = {(t["name"], t["xaxis"]): _values(t["y"]) for t in internal["Outflow per line over time"][0]}
    gaps = 0
    for trace in public["Outflow per line over time"][0]:
        shown = _values(trace["y"])
        for value, published in zip(exact[trace["name"], trace["xaxis"]], shown, strict=True):
            if 0 < value < 5:
                assert np.isnan(published), (trace["name"], value, published)  # a gap, not 0
                gaps += 1
            else:
                assert published == value
    assert gaps  # the fixture has small cells (postponed_departure: 1 person)


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
                                   "Aandeel duurzaam"]
    assert len(book.sheetnames) == len(english.sheetnames)
    header = [c.value for c in book["Aandeel duurzaam"][4]]
    assert header == ["telregel", "gemeente", "duurzaam", "semi-duurzaam", "niet duurzaam", "totaal",
                      "aandeel duurzaam (%)"]
    for definition, _, durable, _, _, total, share in book["Aandeel duurzaam"].iter_rows(
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


def test_a_run_with_nothing_new_takes_every_pattern_from_the_cache(report, monkeypatch):
    """write_monthly_report kept its patterns beside the reports; the same figures again
    optimise nothing (protect is never called) and publish the same cells, audited afresh."""
    from dataclasses import replace

    from transforms import monthly_report, suppression

    root = report["public_xlsx"].parent.parent
    cache = root / monthly_report.PROTECTION_CACHE
    assert list(cache.glob("*.json"))
    data = replace(gather(root / "curated" / "lvv.duckdb", REF, ["programme", "evaluation-2021"],
                          {"run_id": "r1"}), language="en")
    fresh = monthly_report.public_edition(data, 5)

    def no_optimisation(*args, **kwargs):
        raise AssertionError("protect() ran although every pattern is in the cache")

    monkeypatch.setattr(suppression, "protect", no_optimisation)
    cached = monthly_report.public_edition(data, 5, cache_dir=cache)
    for name in ("headline", "by_municipality", "durable_share", "outflow_series", "occupancy_series"):
        pd.testing.assert_frame_equal(getattr(cached, name), getattr(fresh, name))
    assert cached.notes == fresh.notes and any("Audit passed" in n for n in cached.notes)

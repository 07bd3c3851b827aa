"""The findings artifact's part of one delivery (flows.monthly_outflow._findings_shown): counts per
check from every finding, the first rows rendered; the same as rendering every finding first (the
former way, kept here as the oracle), on findings the demo never makes together."""

from __future__ import annotations

import pandas as pd

from flows.monthly_outflow import FINDING_COLUMNS, FINDINGS_SHOWN, _findings_shown
from schemas.checks import Finding
from transforms.delivery import DeliveryResult


def _oracle(result: DeliveryResult) -> tuple:
    rows = [f.as_row("nl") for f in result.findings if f.severity != "info"]
    counts: dict[str, int] = {}
    for row in rows:
        counts[f"{row['severity']} {row['code']}"] = counts.get(f"{row['severity']} {row['code']}", 0) + 1
    shown = [{"delivery": result.delivery["delivery_id"], **{c: row[c] for c in FINDING_COLUMNS}}
             for row in rows[:FINDINGS_SHOWN]]
    return result.delivery["delivery_id"], result.delivery["status"], counts, shown


def _result(findings: list[Finding]) -> DeliveryResult:
    return DeliveryResult({"delivery_id": "utrecht/2031-02", "status": "accepted"}, pd.DataFrame(), pd.DataFrame(),
                          findings)


def test_counts_and_rows_shown_as_when_every_finding_was_rendered():
    codes = ["person-id-normalised", "date-unparseable", "episodes-overlap", "row-not-data", "column-unknown",
             "date-after-delivery", "person-id-malformed"]
    findings = [Finding(codes[(i * 5) % len(codes)], file="lvv_utrecht_203102.csv", sheet="", excel_row=i + 2,
                        column_letter="C", column_header="Instroom", field="intake_date", value=f"3{i}-13-2031",
                        params={"field_label": "instroomdatum", "stand_per": "28-02-2031", "formats": "31-10-2020",
                                "count": 3, "rows": "4, 5", "others": 2, "found": "Kolom X", "text": "Totaal"})
                for i in range(3 * FINDINGS_SHOWN)]
    got = _findings_shown(_result(findings))
    assert got == _oracle(_result(findings))
    assert len(got[3]) == FINDINGS_SHOWN and "info person-id-normalised" not in got[2]
    assert sum(got[2].values()) == sum(1 for f in findings if f.severity != "info") > FINDINGS_SHOWN


def test_a_delivery_with_info_findings_alone_has_nothing_to_act_on():
    findings = [Finding("person-id-normalised", file="x.xlsx", params={"count": 4}),
                Finding("row-not-data", file="x.xlsx", excel_row=9, value="Totaal", params={"text": "Totaal"})]
    assert _findings_shown(_result(findings)) == ("utrecht/2031-02", "accepted", {}, [])


def test_a_column_s_date_notation_note_is_shown_first_and_counted():
    """The run's findings artifact shows the note that a column's unreadable dates are in another
    notation (an info finding, stored by process_delivery) above the cells it explains, which past
    FINDINGS_SHOWN would hide it; counted as a check of its own."""
    from transforms.date_notations import notation_findings, written_in

    cells = [Finding("date-unparseable", file="lvv_tiel_203102.csv", sheet="", excel_row=i + 2,
                     column_letter="C", column_header="Instroom", field="intake_date", value="masked",
                     params={"accepted": "31-10-2020", "written": written_in(f"2031-01-{i % 28 + 1:02d}")})
             for i in range(2 * FINDINGS_SHOWN)]
    notes = notation_findings(cells)
    assert [n.code for n in notes] == ["date-notation-other"]
    got = _findings_shown(_result(cells + notes))
    assert got[3][0]["code"] == "date-notation-other" and len(got[3]) == FINDINGS_SHOWN
    assert got[2] == {"error date-unparseable": 2 * FINDINGS_SHOWN, "info date-notation-other": 1}

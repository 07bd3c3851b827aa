"""The steward's report (an annotated copy of their workbook) and `lvv validate` itself."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from lvv.cli import app
from schemas.checks import catalogue
from schemas.contracts import OPTIONAL_FIELDS, REQUIRED_FIELDS, MappedOutcome, SourceContract, contract_for
from tests.conftest import good_row, write_sheet
from transforms.delivery import check_delivery
from transforms.protect import Pseudonymiser
from transforms.steward_report import (FILLS, GUIDE_MARKERS, checks_guide_table, safe_text,
                                       write_steward_report)

PSEUDO = Pseudonymiser("test-key")
OCT = date(2020, 10, 31)
ROOT = Path(__file__).resolve().parents[1]


def amsterdam_file(folder: Path, *changed: dict, extra_rows=None) -> Path:
    rows = [good_row(1), good_row(2, exit_date=date(2020, 5, 1), outcome="MOB"), good_row(3)]
    for i, change in enumerate(changed):
        rows[i] = {**rows[i], **change}
    return write_sheet(folder / "2020-10" / "export.xlsx", contract_for("amsterdam"), rows, stand_per=OCT,
                       extra_rows=extra_rows)


def report_of(source: Path, out: Path, municipality: str = "amsterdam", lang: str = "nl"):
    contract = contract_for(municipality)
    result = check_delivery(source, contract, "2020-10", PSEUDO)
    write_steward_report(source, contract, result.findings, out, lang, result.delivery)
    return openpyxl.load_workbook(out), result


def summary_rows(book) -> list[list]:
    return [[c for c in row] for row in book.worksheets[0].iter_rows(values_only=True)]


# ------------------------------------------------------------------ the annotated workbook
def test_problem_cells_are_filled_and_commented_and_the_rest_is_untouched(tmp_path):
    source = amsterdam_file(tmp_path, dict(intake_date="onbekend"),
                            dict(outcome="Gedwongen vertrok"), extra_rows=[["Totaal", 3]])
    book, result = report_of(source, tmp_path / "report.xlsx")
    assert book.sheetnames == ["Samenvatting", "Cliënten LVV"] and book.active.title == "Samenvatting"
    data = book["Cliënten LVV"]
    assert data["F6"].value == "onbekend" and data["F6"].fill.start_color.rgb.endswith(FILLS["error"])
    assert "date-unparseable" in data["F6"].comment.text and "Wat te doen" in data["F6"].comment.text
    assert "'onbekend' is geen datum" in data["F6"].comment.text
    assert data["H7"].fill.start_color.rgb.endswith(FILLS["error"]) and "'Gedwongen vertrek'" in data["H7"].comment.text
    assert data["A9"].comment is not None and data["A9"].fill.start_color.rgb.endswith(FILLS["info"])
    assert data["G6"].comment is None and data["G6"].fill.fill_type is None  # an untouched cell
    assert data["A2"].value == "Stand per" and data["B2"].value.date() == OCT  # the title block is copied
    assert not data.sheet_view.tabSelected


def test_summary_counts_per_severity_and_check_and_links_every_finding(tmp_path):
    source = amsterdam_file(tmp_path, dict(intake_date="onbekend"), dict(outcome="Gedwongen vertrok"),
                            dict(intake_date=date(2019, 1, 1)), extra_rows=[["Totaal", 3]])
    book, result = report_of(source, tmp_path / "report.xlsx")
    rows = summary_rows(book)
    assert rows[0][0] == "Controle van export.xlsx"
    assert rows[2][0].startswith("Het bestand heeft fouten")
    per_severity = {r[0]: r[1] for r in rows[6:10]}
    assert per_severity == {"onbruikbaar": 0, "fout": 2, "waarschuwing": 1, "info": 1}
    per_check = {r[0]: r[2] for r in rows if r[0] in {"date-unparseable", "outcome-unknown-label",
                                                         "intake-before-pilot", "row-not-data"}
                 and isinstance(r[2], int)}
    assert per_check == {"date-unparseable": 1, "outcome-unknown-label": 1, "intake-before-pilot": 1,
                         "row-not-data": 1}
    sheet = book.worksheets[0]
    links = {c.value: c.hyperlink.location for c in sheet["A"] if c.hyperlink is not None}
    assert links == {"F6": "'Cliënten LVV'!F6", "H7": "'Cliënten LVV'!H7", "F8": "'Cliënten LVV'!F8",
                     "A9": "'Cliënten LVV'!A9"}
    listed = [r for r in rows if r[0] in links]
    assert [r[1] for r in listed] == ["date-unparseable", "outcome-unknown-label", "intake-before-pilot",
                                      "row-not-data"]  # worst first, then by row
    assert listed[0][3] == "F (Datum instroom)" and listed[0][4] == 6 and listed[0][5] == "onbekend"


def test_english_report_and_a_clean_file(tmp_path):
    book, result = report_of(amsterdam_file(tmp_path), tmp_path / "report.xlsx", lang="en")
    assert book.sheetnames[0] == "Summary" and result.findings == []
    rows = summary_rows(book)
    assert rows[2][0] == "The file can be delivered." and ["No findings."] in [list(r[:1]) for r in rows]


def test_identifiers_never_reach_the_summary_or_the_comments(tmp_path):
    source = amsterdam_file(tmp_path, dict(person_id="12345"), dict(record_id="R0001"))
    book, _ = report_of(source, tmp_path / "report.xlsx")
    written = [str(v) for row in summary_rows(book) for v in row if v is not None]
    written += [c.comment.text for row in book["Cliënten LVV"].iter_rows() for c in row if c.comment]
    text = "\n".join(written)
    assert "12345" not in text and "R0001" not in text and "1000000002" not in text and "Testnaam" not in text
    assert "person-id-malformed" in text and "episode-duplicate" in text


def test_a_csv_becomes_a_workbook_whose_rows_are_the_csv_lines_and_formulas_stay_text(tmp_path):
    eindhoven = contract_for("eindhoven")
    rows = [good_row(1, intake_date="05-09-2019"), good_row(2, intake_date="=HYPERLINK(\"x\")"),
            good_row(3, intake_date="01-10-2019", exit_date="02-10-2019", outcome="@SUM(A1)")]
    source = write_sheet(tmp_path / "e.csv", eindhoven, rows)
    book, result = report_of(source, tmp_path / "report.xlsx", municipality="eindhoven")
    data = book["Gegevens"]
    assert data["A1"].value == "Clientnr" and data["A2"].value == "R0001"
    assert data["E3"].value == "'=HYPERLINK(\"x\")" and data["E3"].data_type == "s"
    assert data["E3"].comment is not None and data["G4"].value == "'@SUM(A1)"
    cells = {f.cell_ref for f in result.findings}
    assert cells == {"E3", "G4"}
    summary_values = [v for row in summary_rows(book) for v in row if isinstance(v, str)]
    assert not any(v.startswith(("=", "+", "-", "@")) for v in summary_values)


@pytest.mark.parametrize("value, shown", [("=1+1", "'=1+1"), ("+31 6", "'+31 6"), ("-", "'-"),
                                          ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
                                          ("MOB", "MOB"), (5, 5)])
def test_safe_text(value, shown):
    assert safe_text(value) == shown


def test_an_unreadable_file_gets_a_summary_only(tmp_path):
    source = tmp_path / "x.xlsx"
    source.write_bytes(b"\x00garbage" * 100)
    book, result = report_of(source, tmp_path / "report.xlsx")
    assert book.sheetnames == ["Samenvatting"]
    rows = summary_rows(book)
    assert rows[2][0].startswith("Het bestand kan niet worden gebruikt")
    assert any(r[0] is None and r[1] == "file-not-spreadsheet" for r in rows)


# ------------------------------------------------------------------ lvv validate
runner = CliRunner()


def test_validate_a_good_file_exits_0(tmp_path):
    source = amsterdam_file(tmp_path)
    result = runner.invoke(app, ["validate", str(source), "--municipality", "amsterdam"])
    assert result.exit_code == 0, result.output
    assert "kan worden geleverd" in result.output


def test_validate_a_date_replaced_by_text_exits_1_and_names_the_cell(tmp_path):
    good = amsterdam_file(tmp_path)
    book = openpyxl.load_workbook(good)
    book["Cliënten LVV"]["F7"] = "begin oktober"
    bad = tmp_path / "bad" / "2020-10" / "export.xlsx"
    bad.parent.mkdir(parents=True)
    book.save(bad)
    result = runner.invoke(app, ["validate", str(bad), "--municipality", "amsterdam", "--report",
                                 str(tmp_path / "controle.xlsx")])
    assert result.exit_code == 1
    assert "F7" in result.stdout and "date-unparseable" in result.stdout
    marked = openpyxl.load_workbook(tmp_path / "controle.xlsx")["Cliënten LVV"]["F7"]
    assert marked.value == "begin oktober" and "date-unparseable" in marked.comment.text
    as_json = runner.invoke(app, ["validate", str(bad), "--municipality", "amsterdam", "--format", "json",
                                  "--lang", "en"])
    payload = json.loads(as_json.stdout)
    [finding] = payload["findings"]
    assert (finding["cell_ref"], finding["value"], as_json.exit_code) == ("F7", "begin oktober", 1)
    assert payload["delivery"]["period"] == "2020-10" and payload["delivery"]["rows_quarantined"] == 1


def test_validate_random_bytes_exits_2_with_one_clear_line_and_no_traceback(tmp_path):
    source = tmp_path / "export.xlsx"
    source.write_bytes(bytes(range(256)) * 40)
    done = subprocess.run([sys.executable, "-m", "lvv.cli", "validate", str(source), "--municipality", "amsterdam"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "export.xlsx" in lines[0] and "Traceback" not in done.stderr
    assert "geen Excel-werkmap" in lines[0] and done.stdout == ""


# ------------------------------------------------------------------ the steward's guide
GUIDE = ROOT / "docs" / "steward-guide.md"


def test_the_guide_lists_every_check_and_its_generated_table_is_current():
    text = GUIDE.read_text(encoding="utf-8")
    begin, end = GUIDE_MARKERS
    section = text.split(begin, 1)[1].split(end, 1)[0].strip()
    assert section == checks_guide_table().strip(), "regenerate: .venv/bin/python -m transforms.steward_report"
    for code in catalogue():
        assert f"| `{code}` |" in section, code


def contract_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key a source contract may hold, dotted, nested models included."""
    keys = []
    for name, info in model.model_fields.items():
        keys.append(prefix + name)
        annotation = info.annotation
        nested = [a for a in (annotation, *typing.get_args(annotation))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        for sub in nested:
            keys += contract_keys(sub, f"{prefix}{name}.")
    return keys


def test_the_guide_documents_every_source_contract_key_with_meaning_type_and_values():
    text = GUIDE.read_text(encoding="utf-8")
    keys = contract_keys(SourceContract)
    keys += [f"columns.{f}" for f in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)]
    keys += [f"outcomes.<label>.{k}" for k in MappedOutcome.model_fields]
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    for key in keys:
        assert f"`{key}`" in rows, f"{key} is not in the contract table of docs/steward-guide.md"
        assert len([c for c in rows[f"`{key}`"].split("|")[2:-1]]) == 3, key


def test_validate_imports_neither_pandas_nor_pandera_nor_prefect(tmp_path):
    """What keeps the steward's check fast from a cold start (see transforms/stage.py)."""
    source = amsterdam_file(tmp_path, dict(intake_date="onbekend"))
    script = (f"import sys\nfrom lvv.cli import app\n"
              f"app(['validate', {str(source)!r}, '--municipality', 'amsterdam', '--format', 'json'],"
              f" standalone_mode=False)\n"
              f"print('imported:', sorted(m for m in ('pandas', 'pandera', 'numpy', 'prefect', 'openpyxl')"
              f" if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip().endswith("imported: []"), done.stdout[-300:] + done.stderr[-300:]


def test_a_stand_per_date_of_another_month_is_marked_where_it_stands(tmp_path):
    source = write_sheet(tmp_path / "2020-10" / "export.xlsx", contract_for("amsterdam"), [good_row(1)],
                         stand_per=date(2020, 9, 30))
    book, result = report_of(source, tmp_path / "report.xlsx")
    [finding] = result.findings
    assert (finding.code, finding.cell_ref, finding.value) == ("period-inconsistent", "B2", "30-09-2020")
    assert "period-inconsistent" in book["Cliënten LVV"]["B2"].comment.text

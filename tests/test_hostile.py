"""Hostile input (issue 11): bounded cost and bounded output, whatever a file holds.

The files are generated here, small, with benchmarks.hostile.write_xlsx (which writes the XML parts
directly, so a file can state any dimension, lie included). The checks are called directly;
tests/test_hostile_cli.py runs the corpus through `lvv validate` and `lvv run`.
"""

from __future__ import annotations

import random
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from benchmarks.hostile import utrecht_rows, write_xlsx
from schemas.checks import Finding, bounded, limits
from schemas.contracts import contract_for
from transforms import limits as limits_check
from transforms.delivery import check_delivery, process_delivery
from transforms.protect import Pseudonymiser
from transforms.stage import ROWS_NAMED, overlapping_stays

PSEUDO = Pseudonymiser("test-key")
UTRECHT = contract_for("utrecht")


# ------------------------------------------------------------------ bounded findings
def test_one_record_number_on_every_row_gives_one_bounded_finding_per_row(tmp_path):
    n = 3000
    path = write_xlsx(tmp_path / "dup.xlsx", utrecht_rows(n, record="4711"))
    found = [f for f in check_delivery(path, UTRECHT, "2020-10", PSEUDO).findings if f.code == "episode-duplicate"]
    assert len(found) == n
    rows = [f.as_row("en") for f in found]
    assert max(len(r["message"]) for r in rows) < 200
    assert "3000 times" in rows[0]["message"] and "also on row 4, 5, 6, 7, 8, ..." in rows[0]["message"]
    assert "also on row 3, 4, 5, 6, 7, ..." in rows[-1]["message"]


def test_the_pipeline_names_the_same_rows_and_stores_a_bounded_number_per_check(tmp_path):
    n = limits().findings_per_check + 50
    path = write_xlsx(tmp_path / "dup.xlsx", utrecht_rows(n, record="4711"))
    result = process_delivery(path, UTRECHT, "2020-10", PSEUDO)
    duplicates = [f for f in result.findings if f.code == "episode-duplicate"]
    assert len(duplicates) == limits().findings_per_check
    [more] = [f for f in result.findings if f.code == "findings-more"]
    assert more.params == {"check": "episode-duplicate", "more": 50, "kept": limits().findings_per_check}
    assert "50 more finding(s) 'episode-duplicate'" in more.as_row("en")["message"]
    assert len(result.quarantine) == n  # every row is quarantined, not only those stored one by one
    quick = check_delivery(path, UTRECHT, "2020-10", PSEUDO).findings
    assert [f.as_row("en")["message"] for f in quick[:5]] == [f.as_row("en")["message"] for f in duplicates[:5]]


def test_bounded_keeps_the_first_of_each_check_in_order():
    findings = [Finding("episode-duplicate", excel_row=i) for i in range(5)] + [Finding("date-missing", excel_row=9)]
    kept = bounded(findings, per_check=2)
    assert [(f.code, f.excel_row) for f in kept] == [("episode-duplicate", 0), ("episode-duplicate", 1),
                                                     ("date-missing", 9), ("findings-more", None)]
    assert kept[-1].params["more"] == 3
    assert bounded(findings, per_check=5) == findings


def _stays(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for row in range(n):
        intake = date(2020, 1, 1) + timedelta(days=rng.randrange(40))
        exit_ = None if rng.random() < 0.3 else intake + timedelta(days=rng.randrange(0, 20))
        out.append({"excel_row": row + 2, "person_id": rng.choice("PQ"), "record_id": rng.choice("ABCDEFGH"),
                    "intake_date": intake, "exit_date": exit_})
    return out


def _brute_force(stays: list[dict]) -> dict[int, set[int]]:
    """The definition, pair by pair: [intake, exit) (a same-day stay is that day), open stays run on."""
    def span(s):
        start = 2 * s["intake_date"].toordinal()
        if s["exit_date"] is None:
            return start, float("inf")
        return start, max(2 * s["exit_date"].toordinal(), start + 1)

    out: dict[int, set[int]] = {}
    for a in stays:
        for b in stays:
            if a is b or a["person_id"] != b["person_id"] or a["record_id"] == b["record_id"]:
                continue
            (s1, e1), (s2, e2) = span(a), span(b)
            if s1 < e2 and s2 < e1:
                out.setdefault(a["excel_row"], set()).add(b["excel_row"])
    return out


@pytest.mark.parametrize("seed", range(25))
def test_overlap_counts_and_named_rows_agree_with_the_pairwise_definition(seed):
    stays = _stays(random.Random(seed).randrange(2, 40), seed)
    expected = _brute_force(stays)
    found = overlapping_stays(stays)
    assert {row: count for row, (_, count) in found.items()} == {row: len(o) for row, o in expected.items()}
    for row, (named, count) in found.items():
        assert set(named) <= expected[row] and len(named) == min(len(named), ROWS_NAMED)
        assert named or count > 0


def test_one_person_with_thousands_of_open_stays_costs_linear_text(tmp_path):
    n = 3000
    rows = utrecht_rows(n)
    for row in rows[2:]:
        row[1], row[6], row[7] = "1000000001", None, None  # one person, every stay open
    path = write_xlsx(tmp_path / "overlap.xlsx", rows)
    found = [f.as_row("en") for f in check_delivery(path, UTRECHT, "2020-10", PSEUDO).findings
             if f.code == "episodes-overlap"]
    assert len(found) == n
    assert all(f"overlaps {n - 1} other stay(s)" in f["message"] and len(f["message"]) < 200 for f in found)


# ------------------------------------------------------------------ limits before parsing
def _small(**changes) -> limits_check.Limits:
    return limits().model_copy(update=changes)


def test_a_workbook_lying_about_its_dimension_is_stopped_at_the_row_limit(tmp_path):
    path = write_xlsx(tmp_path / "lies.xlsx", utrecht_rows(3000), dimension="A1:I3")
    found = limits_check.check_workbook(path, "lies.xlsx", _small(rows=1000))
    assert found.code == "limit-exceeded" and found.params["limit"] == "limits.rows (sheet1.xml)"
    assert int(found.params["found"].replace(".", "")) > 1000
    assert limits_check.check_workbook(path, "lies.xlsx", _small(rows=4000)) is None


def test_a_stated_dimension_over_the_limit_is_not_refused_by_itself(tmp_path):
    """python-calamine allocates nothing by the dimension (Excel states 'A1:Z1048576' for columns
    formatted whole): the cells holding values are what the limits count (test_unseen_exports_3)."""
    import python_calamine

    path = write_xlsx(tmp_path / "wide.xlsx", utrecht_rows(5), dimension="A1:XFD1048576")
    assert limits_check.check_workbook(path, "wide.xlsx") is None
    assert len(python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()) < 10


def test_a_far_away_cell_counts_by_its_reference_not_by_the_rows_written(tmp_path):
    path = write_xlsx(tmp_path / "far.xlsx", [["a"]], dimension=None)
    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
        b"</sheetData>", b'<row r="900000"><c r="ZZ900000"><v>1</v></c></row></sheetData>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    found = limits_check.check_workbook(path, "far.xlsx")
    assert found.params["limit"] == "limits.rows (sheet1.xml)" and found.params["found"] == "900000"
    assert limits_check.check_workbook(path, "far.xlsx", _small(rows=10**6)).params["limit"] == \
        "limits.columns (sheet1.xml)"


def _rewrite_sheet(path: Path, rewrite) -> None:
    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    parts["xl/worksheets/sheet1.xml"] = rewrite(parts["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("prefixed", ["every", "some"])
def test_rows_written_with_a_namespace_prefix_count_as_rows(tmp_path, prefixed):
    """A writer may prefix the sheet's elements (<x:row r="5">): those rows count as well, and
    the row numbers they state, whether all rows or only some carry the prefix."""
    path = write_xlsx(tmp_path / "prefixed.xlsx", utrecht_rows(3000), dimension="A1:I3")
    count = -1 if prefixed == "every" else 7
    _rewrite_sheet(path, lambda xml: xml.replace(b"<row ", b"<x:row ", count).replace(b"</row>", b"</x:row>", count))
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    assert xml.count(b"<x:row ") > 3000 and b"<row " not in xml if count < 0 else xml.count(b"<x:row ") == 7
    found = limits_check.check_workbook(path, "prefixed.xlsx", _small(rows=1000))
    assert found.params["limit"] == "limits.rows (sheet1.xml)" and int(found.params["found"].replace(".", "")) > 1000
    assert limits_check.check_workbook(path, "prefixed.xlsx", _small(rows=4000)) is None
    _rewrite_sheet(path, lambda xml: xml.replace(b"</sheetData>", b'<x:row r="900000"><c r="A900000"><v>1</v></c>'
                                                                   b'</x:row></sheetData>'))
    far = limits_check.check_workbook(path, "prefixed.xlsx")
    assert far.params["limit"] == "limits.rows (sheet1.xml)" and far.params["found"] == "900000"


#: one cell's reference or one row's number as python-calamine reads it (it places the cell there)
_FAR_SPELLINGS = [b'<c r="A5000"', b"<c r='A5000'", b'<c\tr="A5000"', b'<c r = "A5000"', b'<c r="a5000"',
                  b'<c r="A0000005000"', b'<c x="a>b" r="A5000"', b'<c x="1"r="A5000"', b'<c x="<" r="A5000"',
                  b"<c x='<t>' r=\"A5000\" y='</t>'", b'<c x="<" y="1"r="A5000"']


@pytest.mark.parametrize("spelling", _FAR_SPELLINGS)
def test_a_cell_whose_reference_is_far_away_is_refused_however_it_is_spelled(tmp_path, spelling):
    """calamine places a cell where its reference says, whatever row element holds it, and reads
    the reference in every spelling XML allows: a sheet of three rows whose last cell says row 5000
    is read as 5000 rows. The row limit refuses it; only <row r="..."> was looked at before."""
    import python_calamine

    path = write_xlsx(tmp_path / "far.xlsx", [["a", "b"], ["c", "d"], ["e", "f"]], dimension=None)
    _rewrite_sheet(path, lambda xml: xml.replace(b'<c r="B3"', spelling.replace(b"A", b"B").replace(b"a5", b"b5")))
    assert len(python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()) == 5000
    found = limits_check.check_workbook(path, "far.xlsx", _small(rows=1000))
    assert found.params == {"limit": "limits.rows (sheet1.xml)", "found": "5000", "maximum": "1000"}
    assert limits_check.check_workbook(path, "far.xlsx", _small(rows=5000)) is None
    wide = spelling.replace(b"5000", b"3").replace(b"A", b"GT").replace(b"a", b"gt")  # column 202, row 3
    path = write_xlsx(tmp_path / "wide.xlsx", [["a", "b"], ["c", "d"], ["e", "f"]], dimension=None)
    _rewrite_sheet(path, lambda xml: xml.replace(b'<c r="B3"', wide))
    assert len(python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[0]) == 202
    found = limits_check.check_workbook(path, "wide.xlsx")
    assert found.params == {"limit": "limits.columns (sheet1.xml)", "found": "202", "maximum": "200"}


def _texts_spelling_far_references(path: Path) -> Path:
    """A workbook as openpyxl writes it whose cell texts, a formula and a data validation's prompt
    spell far references: none of them is a cell's place (python-calamine reads three rows)."""
    import openpyxl
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["a", 'zie r="A300000"', "<c r='B900000'><v>1</v></c>"])
    sheet.append(["b", "=\"zie r='A300000'\"", "c"])
    sheet.append(["d", "e", "f"])
    prompt = DataValidation(type="list", formula1='"ja,nee"', prompt="kies r='A300000'", showInputMessage=True)
    sheet.add_data_validation(prompt)
    prompt.add("C3")
    book.save(path)
    return path


def test_text_that_spells_a_far_reference_is_no_reference(tmp_path):
    """Only an r attribute of a cell's or a row's tag places a cell: a harmless workbook whose
    texts say ' r="A300000"' was refused as 300,000 rows (900,000 for the text '<c r='B900000'>'),
    and so would one whose other elements have an r attribute. A real far cell added to the same
    sheet is still refused."""
    import python_calamine

    path = _texts_spelling_far_references(tmp_path / "texts.xlsx")
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    assert b' r="A300000"' in xml and b" r='B900000'" in xml and b"<f>" in xml and b"prompt=" in xml
    assert len(python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()) == 3
    assert limits_check.check_workbook(path, "texts.xlsx") is None
    _rewrite_sheet(path, lambda xml: xml.replace(b"</worksheet>", b'<extLst><ext r="A300000"/></extLst></worksheet>'))
    assert len(python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()) == 3
    assert limits_check.check_workbook(path, "texts.xlsx") is None  # an r attribute of no cell and no row
    _rewrite_sheet(path, lambda xml: xml.replace(b"</sheetData>", b'<row r="4"><c r="A300000"><v>1</v></c></row>'
                                                                   b"</sheetData>"))
    found = limits_check.check_workbook(path, "texts.xlsx")
    assert found.params == {"limit": "limits.rows (sheet1.xml)", "found": "300000", "maximum": "250000"}


def test_text_that_spells_a_far_reference_is_no_reference_wherever_a_chunk_ends(tmp_path, monkeypatch):
    """The text stands in a later chunk than the first, whichever of its bytes the chunks end near
    (chunks of 100 to 260 bytes, each longer than any element of the sheet): the chunks before it
    are read again to know each '<' starts a tag; the sheet is not refused."""
    rows = [[f"v{i}", "w"] for i in range(40)]
    rows[20][1] = "zie r=\"B5000\" en r = 'A9000'"
    path = write_xlsx(tmp_path / "chunks.xlsx", rows, dimension=None)
    for chunk in range(100, 261):
        monkeypatch.setattr(limits_check, "CHUNK", chunk)
        assert limits_check.check_workbook(path, "chunks.xlsx", _small(rows=1000)) is None, chunk


@pytest.mark.parametrize("reference, key, found", [(b"A" + b"0" * 20000 + b"5000", "rows", "5000"),
                                                   (b"A" + b"9" * 20000, "rows", "999999999"),
                                                   (b"A" * 20000 + b"1", "columns", "18279")])
def test_a_reference_of_thousands_of_characters_costs_no_more_than_its_length(tmp_path, reference, key, found):
    """A reference padded with zeros, or of thousands of digits or letters, is refused by the limit
    it passes (its number read from nine significant digits, its column from four letters), not
    left to a conversion that grows faster than its length or refuses numbers that long."""
    path = write_xlsx(tmp_path / "long.xlsx", [["a", "b"], ["c", "d"]], dimension=None)
    _rewrite_sheet(path, lambda xml: xml.replace(b'<c r="B2"', b'<c r="' + reference + b'"'))
    result = limits_check.check_workbook(path, "long.xlsx", _small(rows=1000))
    assert result.params == {"limit": f"limits.{key} (sheet1.xml)", "found": found,
                             "maximum": "1000" if key == "rows" else "200"}


def test_a_reference_in_an_element_longer_than_a_chunk_s_tail_is_not_cut_in_two(tmp_path, monkeypatch):
    """A cell whose tag reaches past a chunk's end with no element starting in the chunk's last
    64 kB (100 kB of one attribute before its reference, 20 kB after): the chunk ends inside the
    tag, and ending it on any byte of ' r="B5000"' does not hide the reference (calamine reads the
    cell at row 5000). A tag of nothing but such bytes that long is refused."""
    import python_calamine

    rows = [["a", "b"], ["c", "d"]] + [["e", "f"]] * 3000
    path = write_xlsx(tmp_path / "long.xlsx", rows, dimension=None)
    padded = b'<c x="' + b"y-" * 50_000 + b'" r="B5000" z="' + b"z" * 20_000 + b'"'
    _rewrite_sheet(path, lambda xml: xml.replace(b'<c r="B2"', padded))
    assert len(python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()) == 5000
    with zipfile.ZipFile(path) as archive:
        at = archive.read("xl/worksheets/sheet1.xml").index(b' r="B5000"')
    for end in range(at - 2, at + 12):
        monkeypatch.setattr(limits_check, "CHUNK", end + 4096)  # the chunk cut 4 kB before its end
        found = limits_check.check_workbook(path, "long.xlsx", _small(rows=4000))
        assert found.params == {"limit": "limits.rows (sheet1.xml)", "found": "5000", "maximum": "4000"}, end
    _rewrite_sheet(path, lambda xml: xml.replace(b"y-" * 50_000, b"y" * 100_000))
    found = limits_check.check_workbook(path, "long.xlsx", _small(rows=4000))
    assert found.code == "file-unreadable" and "64 kB" in found.params["detail"]


def test_an_attribute_whose_name_only_ends_in_r_is_no_reference(tmp_path):
    """'header' and 'operator' end in r: their values are no cell's place, however large."""
    path = write_xlsx(tmp_path / "margins.xlsx", [["a"], ["b"]], dimension=None)
    _rewrite_sheet(path, lambda xml: xml.replace(b"</sheetData>", b'</sheetData><pageMargins left="0.7" right="0.7" '
                                                 b'top="0.75" bottom="0.75" header="900000" footer="ZZ900000"/>'))
    assert limits_check.check_workbook(path, "margins.xlsx", _small(rows=1000)) is None


@pytest.mark.parametrize("spelling", [b'<c r =  "B5000"', b"<c x='<c>' r=\"B5000\" y='</c>'"])
def test_a_far_reference_is_found_wherever_a_chunk_ends(tmp_path, monkeypatch, spelling):
    """The sheet is streamed in chunks: a reference spelled with spaces around '=' is found
    whichever of its bytes a chunk would end at (chunks of every size from 48 to 160 bytes move
    the end over each of them). So is one after a value holding what looks like a cell of its own:
    a chunk that starts at that '<c>' reads as plain XML with the reference in a text, but the
    chunk before it does not (python-calamine reads the value whole and the cell at row 5000)."""
    import python_calamine

    rows = [[f"v{i}", "w"] for i in range(40)]
    path = write_xlsx(tmp_path / "chunks.xlsx", rows, dimension=None)
    _rewrite_sheet(path, lambda xml: xml.replace(b'<c r="B20"', spelling))
    assert len(python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()) == 5000
    for chunk in range(48, 161):
        monkeypatch.setattr(limits_check, "CHUNK", chunk)
        found = limits_check.check_workbook(path, "chunks.xlsx", _small(rows=1000))
        assert found.params == {"limit": "limits.rows (sheet1.xml)", "found": "5000", "maximum": "1000"}, chunk


@pytest.mark.parametrize("element, key", [(b"<v>", "cells"), (b"<is>", "cells"), (b"<x:v ", "cells"),
                                          (b"<row ", "rows"), (b"<row/>", "rows"), (b"<x:row>", "rows")])
def test_a_part_packed_with_elements_up_to_its_size_is_counted(tmp_path, element, key):
    """Rows and values are counted only in a part large enough to hold more of them than the limit
    allows (5 bytes a row, 3 a value): a part of nothing but the shortest elements, the most its
    size can hold, still passes the limit set one below their number, and not the limit equal to it.
    The rows end in a value written without a reference: python-calamine places it after them (a
    row holding no value is nothing in its range)."""
    n = 1000
    path = write_xlsx(tmp_path / "packed.xlsx", utrecht_rows(2), dimension=None)
    _rewrite_sheet(path, lambda xml: element * n if key == "cells" else element * (n - 1) + b"<row><c><v>1</v></c></row>")
    found = limits_check.check_workbook(path, "packed.xlsx", _small(**{key: n - 1}))
    assert found.params == {"limit": f"limits.{key} (sheet1.xml)", "found": f"{n}", "maximum": f"{n - 1}"}
    assert limits_check.check_workbook(path, "packed.xlsx", _small(**{key: n})) is None


def test_a_highly_compressed_part_is_refused_from_the_zip_directory(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * 5_000_000)
    found = limits_check.check_workbook(path, "bomb.xlsx")
    assert found.params["limit"] == "limits.compression_ratio (xl/worksheets/sheet1.xml)"
    assert int(found.params["found"].replace(".", "")) > 200


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>',
    '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
])
def test_an_xml_part_with_a_document_type_declaration_is_refused(tmp_path, doctype):
    path = write_xlsx(tmp_path / "dtd.xlsx", utrecht_rows(2), doctype=doctype)
    result = check_delivery(path, UTRECHT, "2020-10", PSEUDO)
    [finding] = result.findings
    assert finding.code == "file-not-spreadsheet" and "document type declaration" in finding.params["detail"]


# ------------------------------------------------------------------ scrubbing of free text
def canary_rows() -> list[list]:
    """Utrecht rows whose label and date columns carry the row's own V-number (in several
    notations), record number, names and birth date, and someone else's number."""
    rows = utrecht_rows(3)
    canary = [
        "Terug naar BBB 0970859557 Traoré",                  # the example
        "zie 097.085.9557 / 970859557 Ahmadi-Traoré",        # other notations, name within a name
        "geb. 07-03-1988 dossier LVV-4711-Q",                # birth date, record number
    ]
    for i, (row, text) in enumerate(zip(rows[2:], canary)):
        row[0], row[1], row[2], row[3], row[4] = "LVV-4711-Q", "0970859557", "Traoré", "Moussa", date(1988, 3, 7)
        row[0] = f"LVV-4711-Q{i}" if i else "LVV-4711-Q"
        row[6], row[7], row[8] = date(2020, 3, 1), text, "Moussa 123456789"
    return rows


CANARIES = ("0970859557", "970859557", "097.085.9557", "Traoré", "Moussa", "07-03-1988", "4711", "123456789")


def test_no_identifier_of_the_row_survives_in_a_finding_or_the_quarantine(tmp_path):
    path = write_xlsx(tmp_path / "canary.xlsx", canary_rows())
    result = process_delivery(path, UTRECHT, "2020-10", PSEUDO)
    assert len(result.quarantine) == 3
    kept = [str(v) for f in result.findings for v in f.as_row("nl").values()]
    kept += [str(v) for v in result.quarantine.astype(str).to_numpy().ravel()]
    assert [t for t in kept if any(c.casefold() in t.casefold() for c in CANARIES)] == []
    labels = set(result.quarantine["raw_outcome"])
    assert labels == {"Terug naar BBB *** ***", "zie *** / *** Ahmadi-***", "geb. *** dossier ***-***-Q"}
    # the quick check scrubs the same way
    quick = [str(v) for f in check_delivery(path, UTRECHT, "2020-10", PSEUDO).findings
             for v in f.as_row("en").values()]
    assert not [t for t in quick if any(c.casefold() in t.casefold() for c in CANARIES)]


def test_scrubbing_keeps_what_is_not_an_identifier():
    from transforms.scrub import identifier_pattern, scrub

    pattern = identifier_pattern(["0970859557", "R12", "De Vries", date(1990, 1, 2)])
    assert scrub("Uitgezet 05-11-2020 (rij 17)", pattern) == "Uitgezet 05-11-2020 (rij 17)"
    assert scrub("vries 0 970 859 557, 02-01-1990, 2-1-1990, 19900102", pattern) == "*** ***, ***, ***, ***"
    assert scrub("BSN 123456789 of 12345", None) == "BSN *** of 12345"


def test_a_number_with_few_significant_digits_masks_only_itself():
    from transforms.scrub import identifier_pattern, scrub

    pattern = identifier_pattern(["U0000001", "1000000001"])
    assert scrub("@SUM(1+1) U0000001 1000000001", pattern) == "@SUM(1+1) *** ***"


def test_a_missing_column_is_matched_only_to_a_column_that_is_really_close(tmp_path):
    from benchmarks.hostile import UTRECHT_HEADER

    for header, closest in (("Notitie", "-"), ("Einde verblijff", "Einde verblijff")):
        rows = utrecht_rows(2)
        rows[1] = [header if h == "Einde verblijf" else h for h in UTRECHT_HEADER]
        [finding] = check_delivery(write_xlsx(tmp_path / "c.xlsx", rows), UTRECHT, "2020-10", PSEUDO).findings
        assert finding.code == "column-missing" and finding.params["closest"] == closest


def test_a_utf8_byte_order_mark_does_not_hide_the_first_column(tmp_path):
    from tests.conftest import good_row, write_sheet

    eindhoven = contract_for("eindhoven")
    day = {"intake_date": "01-09-2019", "birth_date": "01-01-1990"}
    path = write_sheet(tmp_path / "e.csv", eindhoven, [good_row(1, **day)])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().decode("cp1252").replace("Testnaam", "Traoré").encode())
    result = check_delivery(path, eindhoven, "2020-10", PSEUDO)
    assert result.accepted and not [f for f in result.findings if f.severity != "info"]

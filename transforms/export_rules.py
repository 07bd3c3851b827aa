"""What a municipality's export states about itself besides its rows: a 'stand per' date in the
file name, and a closing line with the number of data rows (`Aantal regels: 412`).

Both are source-contract keys (file.stand_per.file_name, file.row_count_label); the functions
here are called after the read step and look at nothing but the file name and the raw cells.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from schemas.checks import Finding
from schemas.contracts import SourceContract, normalise_label
from transforms.read import RawSheet, column_letter
from transforms.values import as_text, is_blank

_NUMBER = re.compile(r"(\d[\d.\s]*)")


def stand_per_from_name(file_name: str, contract: SourceContract) -> date | None:
    """The 'stand per' date written in the file name, per the contract's notation (else None).

    The last match counts: `lvv_2021-03-31_v2_2021-04-02.csv` is the export of 2 April.
    """
    rule = contract.file.stand_per
    pattern = rule.file_name_pattern() if rule is not None else None
    if pattern is None:
        return None
    found = None
    for match in pattern.finditer(file_name):
        try:
            found = date(int(match["Y"]), int(match["m"]), int(match["d"]))
        except ValueError:
            continue
    return found


def stated_row_count(raw: RawSheet, contract: SourceContract) -> tuple[int, int, Any] | None:
    """(the number stated, its Excel row, the cell as found) of the closing row-count line."""
    label = contract.file.row_count_label
    if not label:
        return None
    wanted = normalise_label(label)
    for cells, excel_row in zip(reversed(raw.rows), reversed(raw.excel_rows)):
        filled = [(i, v) for i, v in enumerate(cells) if not is_blank(v)]
        if not filled or not normalise_label(filled[0][1]).startswith(wanted):
            continue
        rest = normalise_label(filled[0][1])[len(wanted):]
        for text in [rest] + [as_text(v) for _, v in filled[1:2]]:
            match = _NUMBER.search(text)
            if match:
                return int(re.sub(r"[.\s]", "", match.group(1))), excel_row, filled[0][1]
    return None


def row_count_findings(raw: RawSheet, contract: SourceContract, skipped_rows: list[int]) -> list[Finding]:
    """A warning when the closing line's row count differs from the data rows read."""
    stated = stated_row_count(raw, contract)
    if stated is None:
        return []
    number, excel_row, cell = stated
    read = len(raw.rows) - len(skipped_rows)
    if number == read:
        return []
    column = next(i for i, v in enumerate(raw.rows[raw.row_index()[excel_row]]) if not is_blank(v))
    return [Finding("row-count-mismatch", file=raw.file, sheet=raw.sheet, excel_row=excel_row,
                    column_letter=column_letter(column), value=as_text(cell),
                    params={"stated": number, "read": read})]

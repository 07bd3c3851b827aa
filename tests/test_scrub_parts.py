"""transforms/scrub.py matches a row's identifiers part by part, each part compiled once for every row
that has it: it masks what the one alternation of the row's parts masked, and scrubbing more rows of
one person compiles no more expressions."""

from __future__ import annotations

import random
import re
from datetime import date

from transforms import scrub
from transforms.scrub import MASK, RowScrubber, identifier_pattern

#: characters that match another one when case is ignored (the Kelvin sign and k, the long s and s,
#: the dotless i and i, the micro sign and mu, the final and the other sigma), digits of another
#: script, separators
_TRICKY = "kKsSiI\u212a\u017f\u0131\u0130\u00b5\u03bc\u03c3\u03c2\u03a3\u00df\u1e9e\u0345\u03b9\u0663\u0664 -./_"
_VALUES = ["0970859557", "LVV-4711-Q", "Traoré", "De Vries", "R12", "U0000001", "\u212aim Sung", "Yıldız",
           "Kuß", "Σίσυφος", "\u0663\u0664\u0665\u0666\u0667", 34567, date(1988, 3, 7), date(2001, 12, 31)]
_PIECES = ["Traoré", "TRAORE\u0301", "097.085.9557", "970859557", "07-03-1988", "7.3.1988", "lvv-4711-q",
           "de vries", "kim", "KIM", "sung", "YILDIZ", "yildiz", "KUSS", "kuß", "ΣΊΣΥΦΟΣ", "34567",
           "2001-12-31", "31122001", "u0000001", "r12"]


def test_the_parts_mask_what_their_one_alternation_masks():
    """Each part is looked for on its own and left out where its needle is not in the text: the
    spans are still those of the parts joined into one expression, case ignored, over texts mixing
    the identifiers with characters that match others when case is ignored."""
    rng = random.Random(26)
    for _ in range(3000):
        pattern = identifier_pattern(rng.sample(_VALUES, rng.randrange(1, 6)))
        text = "".join(rng.choice([*_TRICKY, *_PIECES]) for _ in range(rng.randrange(1, 30)))
        joined = re.compile("|".join(part.expression for part in pattern.parts), re.IGNORECASE)
        assert list(pattern.spans(text)) == [m.span() for m in joined.finditer(text)], (pattern.parts, text)


def test_a_name_of_a_hundred_words_masks_what_the_one_alternation_masks():
    """A text that may hold more parts than a row usually has (a name cell of a hundred words) is
    searched with their one alternation: the same spans, the same order of parts."""
    rng = random.Random(13)
    words = ["".join(rng.choice("abcKk\u212as\u017f") for _ in range(rng.randrange(2, 6))) for _ in range(100)]
    name = " ".join(words)
    pattern = identifier_pattern([name, "0970859557"])
    joined = re.compile("|".join(part.expression for part in pattern.parts), re.IGNORECASE)
    for _ in range(200):
        text = " ".join(rng.choice(words + ["097.085.9557", "xy", name.upper()]) for _ in range(40))
        spans = list(pattern.spans(text))
        assert spans == [m.span() for m in joined.finditer(text)] and spans, text


def test_a_name_in_a_case_only_the_expression_knows_is_masked():
    """'ſ' (long s) matches 's' and the Kelvin sign matches 'k' when case is ignored, though neither
    lower-cases to them: a text holding only those spellings of a name is masked all the same."""
    pattern = identifier_pattern(["Kim Sung", "Susan"])
    assert scrub.scrub("\u212aIM / \u017fu\u017fan", pattern) == f"{MASK} / {MASK}"


class _CountingRe:
    """The module `re` as scrub.py sees it, counting the expressions it compiles."""

    def __init__(self) -> None:
        self.compiled = 0

    def __getattr__(self, name: str):
        return getattr(re, name)

    def compile(self, *args, **kwargs):
        self.compiled += 1
        return re.compile(*args, **kwargs)


def test_more_rows_of_one_person_compile_no_more_expressions(monkeypatch):
    """One person's stays, each with its own record number: their V-number, names and birth date
    are compiled for the first rows, not again for each further row, and a record number the text
    does not hold is not compiled at all (one expression per row with a finding cost 20 CPU s for
    20,000 stays). Every row's own identifiers are still masked."""
    counting = _CountingRe()
    monkeypatch.setattr(scrub, "re", counting)
    scrub.forget()  # nothing compiled by a test before
    # record numbers whose digits the text does not hold
    rows = {row: [f"U{row + 5_000_000:08d}", "0977123456", "Zwaantje-Oostermeer", "Ietje", date(1977, 7, 17)]
            for row in range(3, 2003)}
    scrubber = RowScrubber(lambda row: rows.get(row, []))

    def scrubbed(excel_rows: range) -> tuple[int, list[str]]:
        before = counting.compiled
        texts = [scrubber.scrub("Oostermeer 17-7-1977 2019-09-01", row) for row in excel_rows]
        return counting.compiled - before, texts

    first, first_texts = scrubbed(range(3, 23))
    further, further_texts = scrubbed(range(23, 2003))
    assert set(first_texts + further_texts) == {f"{MASK} {MASK} 2019-09-01"}
    assert first > 0 and further <= first, (first, further)
    assert scrubber.scrub("dossier u05002002 van IETJE", 2002) == f"dossier {MASK} van {MASK}"

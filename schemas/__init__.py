"""The project's schemas: source contracts, the outcome taxonomy, counting rules and checks."""

from __future__ import annotations

import re
import unicodedata

import yaml

#: libyaml's parser where PyYAML was built with it (about 10x faster on the project's files, the
#: same values); the pure-Python one otherwise
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> object:
    """Safe-load YAML text (only plain types), with libyaml when available."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506  safe loader


#: characters nobody sees (Unicode's format characters: soft hyphen, zero-width space and joiners,
#: direction marks, word joiner, byte-order mark), pasted with a value from a web page, a chat or a
#: CSV read with its mark
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


def without_invisible(text: str) -> str:
    """The text without characters nobody sees: 'Dossiernummer' with a zero-width space after it
    looks like the header it is, and a V-number with a direction mark before it like the number
    it is; compared as typed, each was another (a header not found, a malformed V-number)."""
    return text if text.isascii() else _INVISIBLE.sub("", text)


def ascii_digits(text: str) -> str:
    """The text with every decimal digit of another script as its ASCII digit: Arabic-Indic
    '٦٦٥٢' and full-width '６６５２' are 6652. Other characters stay as they are.

    A V-number or a record number typed in such digits is the same number: left as typed it got a
    pseudonym of its own, so one person (one stay) had two. Here, not in transforms/values.py, so
    that the record-number rule of a source contract (schemas/contracts.py) takes it too.
    """
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)

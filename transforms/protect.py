"""Pseudonymisation: direct identifiers become keyed hashes (HMAC-SHA256); nothing else survives.

The same V-number gets the same pseudonym in every municipality (so a person who moves between
pilots is one person), and the key never leaves the process environment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

PSEUDONYM_HEX_CHARS = 20  # 80 bits: collision-free at any plausible register size


def keyed_states(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 with `key` as two SHA-256 states, made once: the inner one has absorbed the key
    xor ipad, the outer one the key xor opad (RFC 2104). HMAC(key, text) is then the outer state
    fed the inner state's digest of the text, from a copy of each: the same bytes as
    hmac.new(key, text, sha256) (tests/test_pseudonyms.py holds the two equal), at 0.10 instead of
    0.17 CPU s per 50,000 texts: hmac.HMAC's copy, update and hexdigest are Python wrappers around
    the C state, and a full register's identifiers are all new to a run's Pseudonymiser."""
    block = hashlib.sha256().block_size  # 64 bytes: HMAC pads its key to it
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key)))


class Pseudonymiser:
    """Keyed, deterministic pseudonyms for persons and episodes."""

    def __init__(self, key: str | bytes):
        if not key:
            raise ValueError("the pseudonymisation key is empty")
        self._key = key.encode("utf-8") if isinstance(key, str) else key
        self._inner, self._outer = keyed_states(self._key)
        # each text hashed once: a register repeats the same persons and records every month
        self._known: dict[str, str] = {}

    def __getstate__(self) -> dict:
        """Pickled (a Dask worker's copy) without the HMAC state, which does not pickle: made again."""
        return {name: value for name, value in self.__dict__.items() if name not in ("_inner", "_outer")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._inner, self._outer = keyed_states(self._key)

    def _digests(self, texts: list[str]) -> list[str]:
        """The keyed digest of each text (HMAC-SHA-256, its first PSEUDONYM_HEX_CHARS hex digits),
        each text hashed once per Pseudonymiser; in one loop: the per-call cost of a method and its
        wrappers was as much as the HMAC itself, for every row of a month's deliveries."""
        known = self._known
        found = list(map(known.get, texts))
        if None in found:
            inner, outer, chars = self._inner, self._outer, PSEUDONYM_HEX_CHARS
            for i, text in enumerate(texts):
                if found[i] is None:
                    hashed = inner.copy()
                    hashed.update(text.encode("utf-8"))
                    keyed = outer.copy()
                    keyed.update(hashed.digest())
                    found[i] = known[text] = keyed.hexdigest()[:chars]
        return found

    def persons(self, person_ids: Iterable[str]) -> list[str]:
        """The pseudonym of each person identifier (V-number), the same in every municipality."""
        return ["P" + d for d in self._digests(["person|" + p.strip() for p in person_ids])]

    def episodes(self, municipality: str, record_ids: Iterable[str]) -> list[str]:
        """The pseudonym of each of one municipality's records (one stay each)."""
        prefix = f"episode|{municipality}|"
        return ["E" + d for d in self._digests([prefix + r.strip() for r in record_ids])]

    def person(self, person_id: str) -> str:
        """The pseudonym of a person identifier (V-number), the same in every municipality."""
        return self.persons([person_id])[0]

    def episode(self, municipality: str, record_id: str) -> str:
        """The pseudonym of one municipality's record (one stay)."""
        return self.episodes(municipality, [record_id])[0]

    def hide(self, value: str) -> str:
        """A pseudonym for an identifier cell shown in a report (never the raw value)."""
        return "X" + self._digests(["cell|" + value.strip()])[0][:12]

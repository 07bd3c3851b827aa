"""Pseudonymisation: direct identifiers become keyed hashes (HMAC-SHA256); nothing else survives.

The same V-number gets the same pseudonym in every municipality (so a person who moves between
pilots is one person), and the key never leaves the process environment.
"""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_HEX_CHARS = 20  # 80 bits: collision-free at any plausible register size


class Pseudonymiser:
    """Keyed, deterministic pseudonyms for persons and episodes."""

    def __init__(self, key: str | bytes):
        if not key:
            raise ValueError("the pseudonymisation key is empty")
        self._key = key.encode("utf-8") if isinstance(key, str) else key
        # the key's HMAC state, made once: each text is hashed from a copy of it (what hmac.new
        # would compute again for every text, at twice the cost)
        self._keyed = hmac.new(self._key, digestmod=hashlib.sha256)
        # each text hashed once: a register repeats the same persons and records every month
        self._known: dict[str, str] = {}

    def __getstate__(self) -> dict:
        """Pickled (a Dask worker's copy) without the HMAC state, which does not pickle: made again."""
        return {name: value for name, value in self.__dict__.items() if name != "_keyed"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._keyed = hmac.new(self._key, digestmod=hashlib.sha256)

    def _digest(self, text: str) -> str:
        known = self._known.get(text)
        if known is None:
            mac = self._keyed.copy()
            mac.update(text.encode("utf-8"))
            known = self._known[text] = mac.hexdigest()[:PSEUDONYM_HEX_CHARS]
        return known

    def person(self, person_id: str) -> str:
        """The pseudonym of a person identifier (V-number), the same in every municipality."""
        return "P" + self._digest("person|" + person_id.strip())

    def episode(self, municipality: str, record_id: str) -> str:
        """The pseudonym of one municipality's record (one stay)."""
        return "E" + self._digest(f"episode|{municipality}|{record_id.strip()}")

    def hide(self, value: str) -> str:
        """A pseudonym for an identifier cell shown in a report (never the raw value)."""
        return "X" + self._digest("cell|" + value.strip())[:12]

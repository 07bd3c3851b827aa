"""The tests' own reading of the counting rules and pseudonyms, typed apart from the pipeline.

Typed from the published definitions (shared/reference/published-figures.md, README "Method"),
not from schemas/rules/*.rule.yaml or transforms/protect.py: a rule file or a pseudonym function
that drifts from them makes the oracle tests fail instead of agreeing with itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import pandas as pd

#: the demo's key, as README's configuration table states it
DEMO_KEY = "lvv-demo-key-not-secret"

D, S, N = "durable", "semi_durable", "non_durable"
DETENTION = "immigration_detention"

# outcome -> (line, durability); immigration detention by follow-up for the programme only
_COMMON = {
    "permit_granted": ("legalised", D),
    "return_independent": ("returned", D),
    "onward_migration": ("onward_migration", D),
    "repeat_application": ("repeat_application", S),
    "postponed_departure": ("postponed_departure", S),
    "departed_unknown": ("departed_unknown", N),
    "stay_terminated": ("stay_terminated", N),
    "criminal_detention": ("other_non_durable", N),
    "other_shelter": ("other_non_durable", N),
    "own_network": ("other_non_durable", N),
    "back_to_bbb": ("other_non_durable", N),
    "deceased": ("other_non_durable", N),
}
RULES: dict[str, dict[tuple[str, str | None], tuple[str, str]]] = {
    # 2018 letter: departure from the Netherlands counts, forced or not, and a forced departure
    # that followed immigration detention too
    "programme": {
        **{(o, None): v for o, v in _COMMON.items()},
        ("return_forced", None): ("returned", D),
        (DETENTION, "forced_departure"): ("returned", D),
        (DETENTION, "released"): ("other_non_durable", N),
        (DETENTION, "unknown"): ("other_non_durable", N),
    },
    # interim evaluation: return to the country of origin is durable; detention is other
    # non-durable whatever followed
    "evaluation-2021": {
        **{(o, None): v for o, v in _COMMON.items()},
        ("return_forced", None): ("returned", D),
        **{(DETENTION, f): ("other_non_durable", N) for f in ("forced_departure", "released", "unknown")},
    },
    # final evaluation: a forced removal is not durable
    "evaluation-2022": {
        **{(o, None): v for o, v in _COMMON.items()},
        ("return_forced", None): ("other_non_durable", N),
        **{(DETENTION, f): ("other_non_durable", N) for f in ("forced_departure", "released", "unknown")},
    },
}


def classify(rule: str, outcome: str, follow_up: str | None) -> tuple[str, str]:
    table = RULES[rule]
    if outcome == DETENTION:
        return table[(outcome, follow_up or "unknown")]
    return table[(outcome, None)]


def hmac_hex(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def person_pseudonym(v_number: str, key: str = DEMO_KEY) -> str:
    return "P" + hmac_hex(key, "person|" + v_number)[:20]


def episode_pseudonym(municipality: str, record_id: str, key: str = DEMO_KEY) -> str:
    return "E" + hmac_hex(key, f"episode|{municipality}|{record_id}")[:20]


def lines(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Per municipality, line and durability: distinct persons (closed episodes of `frame`)."""
    picked = [classify(rule, o, f) for o, f in zip(frame["outcome_code"], frame["follow_up_code"], strict=True)]
    out = frame.assign(line=[p[0] for p in picked], durability=[p[1] for p in picked])
    return (
        out.groupby(["municipality", "line", "durability"])["person_id"].nunique()
        .rename("persons").reset_index()
    )


def as_rows(frame: pd.DataFrame, columns: Iterable[str]) -> set[tuple]:
    return {tuple(None if pd.isna(v) else v for v in row) for row in frame[list(columns)].itertuples(index=False)}

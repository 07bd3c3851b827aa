"""The demo's oracle: every episode as the generator made it, and what each delivery said of it.

In the generator's own terms (its outcome codes, its record numbers, V-numbers, delivery months),
from the synthetic truth alone: nothing here reads a file, a source contract or the pipeline.
Tests set the pipeline's published figures against it; `write_demo` writes the episode record
next to its manifest (ORACLE_NAME), so a reader can check a demo run without this package.

    oracle_episodes(seed)   one row per episode: the final facts, and in which delivery each fact
                            first appeared and was corrected
    oracle_statements(seed) one row per data row of every delivery: what that delivery said
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from lvv.demo.periods import month_end, period_of, period_text
from lvv.demo.truth import Episode, Truth, build_truth

#: the oracle's file, next to the demo's manifest in raw_dir (a dot file: never a delivery)
ORACLE_NAME = ".lvv-demo-oracle.csv"

EPISODE_COLUMNS = [
    "municipality",
    "record_id",
    "person_id",
    "intake_date",
    "exit_date",
    "outcome_code",
    "follow_up_code",
    "appeared_in",  # delivery id (<municipality>/<YYYY-MM>) that first lists the episode
    "exit_stated_in",  # first delivery that states the exit (None: still open)
    "outcome_stated_first",  # outcome that delivery stated
    "outcome_corrected_in",  # first delivery with the corrected outcome (None: never corrected)
    "follow_up_stated_first",
    "follow_up_corrected_in",
    "mistake_in",  # delivery whose row of this episode carries a planted mistake (None: none)
    "mistake_kind",
]

STATEMENT_COLUMNS = [
    "delivery_id",
    "stand_per",
    "municipality",
    "record_id",
    "person_id",
    "intake_date",
    "exit_date",
    "outcome_code",
    "follow_up_code",
    "mistake_kind",  # None: the row is as the truth states it
]


def delivery_id(municipality: str, period: int) -> str:
    return f"{municipality}/{period_text(period)}"


def _first_period(truth: Truth, e: Episode) -> int:
    return max(period_of(e.intake_date), truth.periods[e.municipality][0])


def oracle_episodes(seed: int) -> pd.DataFrame:
    """Every episode of the demo (final state) and the delivery history of each of its facts."""
    truth = build_truth(seed)
    mistakes = {m.episode_key: m for m in truth.mistakes}
    rows = []
    for e in truth.episodes:
        muni = e.municipality
        closed = e.exit_date is not None and e.registered is not None
        mistake = mistakes.get(e.key)
        rows.append(
            (
                muni,
                str(e.record_id),
                e.person_id,
                e.intake_date,
                e.exit_date,
                e.outcome,
                e.follow_up,
                delivery_id(muni, _first_period(truth, e)),
                delivery_id(muni, e.registered) if closed else None,
                (e.first_outcome if e.corrected is not None else e.outcome) if closed else None,
                delivery_id(muni, e.corrected) if e.corrected is not None else None,
                (e.first_follow_up if e.follow_up_known is not None else e.follow_up)
                if closed
                else None,
                delivery_id(muni, e.follow_up_known) if e.follow_up_known is not None else None,
                delivery_id(muni, mistake.period) if mistake else None,
                mistake.kind if mistake else None,
            )
        )
    return pd.DataFrame(rows, columns=EPISODE_COLUMNS)


def oracle_statements(seed: int) -> pd.DataFrame:
    """What every delivery said: one row per episode listed in it (a planted mistake marked)."""
    truth = build_truth(seed)
    mistakes = {(m.municipality, m.period, m.episode_key): m.kind for m in truth.mistakes}
    rows = []
    for muni, periods in truth.periods.items():
        episodes = truth.of(muni)
        for period in periods:
            did, stand_per = delivery_id(muni, period), month_end(period)
            for e in episodes:
                if period_of(e.intake_date) > period:
                    continue
                exit_date, outcome, follow_up = e.stated(period)
                rows.append(
                    (
                        did,
                        stand_per,
                        muni,
                        str(e.record_id),
                        e.person_id,
                        e.intake_date,
                        exit_date,
                        outcome,
                        follow_up,
                        mistakes.get((muni, period, e.key)),
                    )
                )
    return pd.DataFrame(rows, columns=STATEMENT_COLUMNS)


def oracle_csv(seed: int) -> bytes:
    """The episode record as the CSV `write_demo` puts next to its manifest (ISO dates)."""
    frame = oracle_episodes(seed)
    for col in ("intake_date", "exit_date"):
        frame[col] = [d.isoformat() if isinstance(d, date) else None for d in frame[col]]
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


__all__ = [
    "EPISODE_COLUMNS",
    "ORACLE_NAME",
    "STATEMENT_COLUMNS",
    "delivery_id",
    "oracle_csv",
    "oracle_episodes",
    "oracle_statements",
]

"""The synthetic truth and its history: every episode, and what each delivery states about it.

Built once per seed from the scenario (scenario.py) with numpy's default_rng; nothing here knows
how a file looks. The counts per time window are fixed by the scenario, so every seed meets the
published figures exactly; the seed only decides who, when and how.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

import numpy as np

from lvv.demo import names, scenario
from lvv.demo.periods import month_end, parse_period, period_of, period_text
from lvv.demo.registers import DATE_FIELDS, FOLLOW_UP_OUTCOMES, REGISTERS

DAY = timedelta(days=1)


@dataclass
class Episode:
    """One stay of one person in one municipality's LVV, with its register history."""

    key: int  # unique over the demo
    municipality: str
    intake_date: date
    exit_date: date | None = None
    outcome: str | None = None
    follow_up: str | None = None
    seq: int = 0  # position in the municipality's register (intake order), from 0
    record_id: str | int = ""
    person_id: str = ""
    family_name: str = ""
    given_name: str = ""
    birth_date: date = date(1980, 1, 1)
    # history: the delivery month from which the exit is stated, and what was stated first
    registered: int | None = None
    first_outcome: str | None = None
    corrected: int | None = None
    first_follow_up: str | None = None
    follow_up_known: int | None = None
    # register habits, drawn once per episode so a row does not change between deliveries
    u_label: float = 0.0
    u_noise: float = 1.0
    u_variant: float = 0.0
    u_blank_follow_up: float = 0.0
    u_date_format: dict[str, float] = field(default_factory=dict)
    blank_after: bool = False
    remark: str | None = None

    def stated(self, period: int) -> tuple[date | None, str | None, str | None]:
        """(exit date, outcome, follow-up) as the delivery of `period` states them."""
        if self.exit_date is None or self.registered is None or period < self.registered:
            return None, None, None
        outcome = self.outcome
        if self.corrected is not None and period < self.corrected:
            outcome = self.first_outcome
        follow_up = self.follow_up
        if self.follow_up_known is not None and period < self.follow_up_known:
            follow_up = self.first_follow_up
        return self.exit_date, outcome, follow_up


@dataclass(frozen=True)
class MistakeSpec:
    """A plain mistake planted in one delivery (placed on a cell when the file is written)."""

    municipality: str
    period: int
    episode_key: int
    kind: str
    field: str
    param: str | int | None


@dataclass(frozen=True)
class Revision:
    """How the register caught up with reality: what it stated first, from when it was right."""

    municipality: str
    record_id: str
    kind: str  # exit-registered-late | outcome-corrected | follow-up-known-later
    exit_date: date
    stated_before: str | None  # outcome/follow-up code stated first (None: exit not yet stated)
    stated_after: str
    first_period: str  # first delivery month that could have stated it right / stated it wrong
    fixed_period: str  # first delivery month that states it right


@dataclass(frozen=True)
class Mover:
    """The one person with episodes in two pilots."""

    person_id: str
    first: tuple[str, str]  # (municipality, record_id), ends in another shelter
    second: tuple[str, str]


@dataclass
class Truth:
    seed: int
    episodes: list[Episode]  # by municipality, then register order
    periods: dict[str, list[int]]
    mistakes: list[MistakeSpec]
    revisions: list[Revision]
    mover: Mover

    def of(self, municipality: str) -> list[Episode]:
        return [e for e in self.episodes if e.municipality == municipality]


def _windows(start: date) -> list[tuple[date, date]]:
    """The four time windows (inclusive bounds) of scenario.Population for a pilot start."""
    end = parse_period(scenario.LAST_PERIOD)
    return [
        (start, scenario.REF_B),
        (scenario.REF_B + DAY, scenario.REF_A),
        (scenario.REF_A + DAY, scenario.REF_C),
        (scenario.REF_C + DAY, month_end(end)),
    ]


def _uniform_days(rng: np.random.Generator, lo: date, hi: date, n: int) -> list[date]:
    offsets = rng.integers(0, (hi - lo).days + 1, size=n)
    return [lo + timedelta(days=int(k)) for k in offsets]


def _expand(mix: tuple[tuple[str, str | None, int], ...]) -> list[tuple[str, str | None]]:
    return [(outcome, follow_up) for outcome, follow_up, n in mix for _ in range(n)]


@cache
def build_truth(seed: int) -> Truth:
    """The whole synthetic truth for a seed (cached: treat it as read-only)."""
    rng = np.random.default_rng(seed)
    munis = sorted(scenario.POPULATIONS)
    last = parse_period(scenario.LAST_PERIOD)
    episodes: dict[str, list[Episode]] = {}
    window_exits: dict[int, list[Episode]] = {0: [], 1: [], 2: [], 3: []}
    key = 0

    # 1. intakes and exits, per time window
    for muni in munis:
        pop = scenario.POPULATIONS[muni]
        windows = _windows(REGISTERS[muni].pilot_start)
        eps: list[Episode] = []
        for w, ((lo, hi), n) in enumerate(zip(windows, pop.intakes, strict=True)):
            bulk = pop.at_start if w == 0 else 0
            days = [lo] * bulk + _uniform_days(rng, lo, hi, n - bulk)
            if w < 3 and n - bulk > 0:  # someone comes in on the reference date itself
                days[bulk + int(rng.integers(0, n - bulk))] = hi
            for day in days:
                eps.append(Episode(key=key, municipality=muni, intake_date=day))
                key += 1
        min_stay = timedelta(days=scenario.MIN_STAY_DAYS)
        for w, ((lo, hi), n) in enumerate(zip(windows, pop.exits, strict=True)):
            candidates = [e for e in eps if e.exit_date is None and e.intake_date + min_stay <= hi]
            if n > len(candidates):
                raise ValueError(
                    f"{muni}: {n} exits in window {w + 1} but {len(candidates)} candidates"
                )
            chosen = [candidates[i] for i in sorted(rng.choice(len(candidates), n, replace=False))]
            for e in chosen:
                first = max(lo, e.intake_date + min_stay)
                e.exit_date = _uniform_days(rng, first, hi, 1)[0]
            # exits on the reference dates themselves (and the day after REF_A)
            pins = {
                0: [scenario.REF_B],
                1: [scenario.REF_A],
                2: [scenario.REF_A + DAY, scenario.REF_C],
            }
            for pin in pins.get(w, []):
                fits = [
                    e
                    for e in chosen
                    if e.intake_date + min_stay <= pin and e.exit_date not in pins[w]
                ]
                if fits:
                    fits[int(rng.integers(0, len(fits)))].exit_date = pin
            window_exits[w] += chosen
        eps.sort(key=lambda e: (e.intake_date, e.key))
        episodes[muni] = eps

    # 2. outcomes: the published mix, shuffled over the exits of its windows
    for windows_, mix in (((0, 1), scenario.OUTFLOW_TO_A), ((2,), scenario.OUTFLOW_A_TO_C)):
        exits = [e for w in windows_ for e in window_exits[w]]
        tokens = _expand(mix)
        if len(tokens) != len(exits):
            raise ValueError(f"scenario: {len(tokens)} outcomes for {len(exits)} exits")
        for e, i in zip(exits, rng.permutation(len(tokens)), strict=True):
            e.outcome, e.follow_up = tokens[i]
    tail = _expand(scenario.OUTFLOW_AFTER_C)
    for e in window_exits[3]:
        e.outcome, e.follow_up = tail[int(rng.integers(0, len(tail)))]

    # 3. persons and record ids
    n_total = key
    v_numbers: set[str] = set()
    while len(v_numbers) < n_total:
        lead = 0 if rng.random() < 0.25 else int(rng.integers(1, 10))
        v_numbers.add(f"{lead}{int(rng.integers(0, 10**9)):09d}")
    v_list = sorted(v_numbers)
    v_order = rng.permutation(n_total)
    born_lo, born_hi = date(1960, 1, 1), date(2002, 12, 31)
    for muni in munis:
        habits = scenario.HABITS.get(muni, scenario.DEFAULT_HABITS)
        per_year: dict[int, int] = {}
        for seq, e in enumerate(episodes[muni]):
            e.seq = seq
            e.person_id = v_list[v_order[e.key]]
            e.given_name = names.GIVEN_NAMES[int(rng.integers(0, len(names.GIVEN_NAMES)))]
            if seq < len(names.SHOWCASE_FAMILY_NAMES):
                e.family_name = names.SHOWCASE_FAMILY_NAMES[seq]
            else:
                e.family_name = names.FAMILY_NAMES[int(rng.integers(0, len(names.FAMILY_NAMES)))]
            e.birth_date = _uniform_days(rng, born_lo, born_hi, 1)[0]
            year = e.intake_date.year
            per_year[year] = per_year.get(year, 0) + 1
            number = habits.first_seq + (
                per_year[year] - 1 if "{year}" in habits.record_id else seq
            )
            rid = habits.record_id.format(seq=number, year=year)
            e.record_id = int(rid) if habits.numeric_record_id else rid

    # 4. the mover: leaves one pilot for another shelter and turns up in another pilot later
    mover = _plant_mover(rng, episodes, munis)

    # 5. history: registration lag, corrections, follow-ups known later
    revisions = _plant_history(rng, episodes, munis, last)

    # 6. register habits per episode
    for muni in munis:
        for e in episodes[muni]:
            e.u_label, e.u_noise, e.u_variant, e.u_blank_follow_up = (
                float(x) for x in rng.random(4)
            )
            e.u_date_format = {f: float(rng.random()) for f in DATE_FIELDS}
            e.blank_after = e.seq == 2 or bool(rng.random() < 0.015)
            if rng.random() < 0.07:
                e.remark = scenario.REMARKS[int(rng.integers(0, len(scenario.REMARKS)))]

    periods = {m: list(range(period_of(REGISTERS[m].pilot_start), last + 1)) for m in munis}
    mistakes = _plant_mistakes(rng, episodes, munis, periods, mover)
    flat = [e for m in munis for e in episodes[m]]
    return Truth(
        seed=seed,
        episodes=flat,
        periods=periods,
        mistakes=mistakes,
        revisions=revisions,
        mover=mover,
    )


def _plant_mover(
    rng: np.random.Generator, episodes: dict[str, list[Episode]], munis: list[str]
) -> Mover:
    showcase = len(names.SHOWCASE_FAMILY_NAMES)
    firsts = [
        e
        for m in munis
        for e in episodes[m]
        if e.outcome == "other_shelter" and e.exit_date <= scenario.REF_A and e.seq >= showcase
    ]
    for i in rng.permutation(len(firsts)):
        first = firsts[i]
        seconds = [
            e
            for m in munis
            if m != first.municipality
            for e in episodes[m]
            if e.seq >= showcase
            and first.exit_date + timedelta(days=14)
            <= e.intake_date
            <= first.exit_date + timedelta(days=180)
        ]
        if not seconds:
            continue
        second = seconds[int(rng.integers(0, len(seconds)))]
        spelled = [n for n in names.FAMILY_NAMES if names.ascii_spelling(n) != n]
        first.family_name = spelled[int(rng.integers(0, len(spelled)))]
        second.family_name = names.ascii_spelling(first.family_name)
        second.person_id = first.person_id
        second.given_name = first.given_name
        second.birth_date = first.birth_date
        return Mover(
            person_id=first.person_id,
            first=(first.municipality, str(first.record_id)),
            second=(second.municipality, str(second.record_id)),
        )
    raise ValueError("scenario: no episode pair for the person who moves between pilots")


def _plant_history(
    rng: np.random.Generator, episodes: dict[str, list[Episode]], munis: list[str], last: int
) -> list[Revision]:
    h = scenario.HISTORY
    p_a = period_of(scenario.REF_A)  # the delivery of REF_A's month
    closed = [e for m in munis for e in episodes[m] if e.exit_date is not None]
    lo_fix, hi_fix = h.correction_months

    for e in closed:
        month = period_of(e.exit_date)
        lag = int(rng.choice(len(h.lag_months), p=np.array(h.lag_months) / sum(h.lag_months)))
        e.registered = min(month + lag, last)
    # exits on or before REF_A that the REF_A delivery does not state yet
    late = [
        e
        for e in closed
        if e.exit_date <= scenario.REF_A
        and period_of(e.exit_date) >= p_a - 1
        and e.registered <= p_a
    ]
    for i in rng.choice(len(late), min(h.late_across_a, len(late)), replace=False):
        late[i].registered = p_a + 1

    def correct(e: Episode, stated_first: str, attr: str, when: int) -> None:
        when = min(when, last)
        if when <= e.registered:
            return
        if attr == "outcome":
            e.first_outcome, e.corrected = stated_first, when
        else:
            e.first_follow_up, e.follow_up_known = stated_first, when

    late_follow_up = dict(h.follow_up_late)
    for e in closed:
        if e.outcome == "return_independent" and rng.random() < h.mob_first:
            correct(
                e,
                "departed_unknown",
                "outcome",
                e.registered + int(rng.integers(lo_fix, hi_fix + 1)),
            )
        if e.outcome in FOLLOW_UP_OUTCOMES and rng.random() < late_follow_up.get(
            e.follow_up or "", 0
        ):
            correct(e, "unknown", "follow_up", e.registered + int(rng.integers(lo_fix, hi_fix + 1)))

    def straddles(e: Episode) -> bool:
        return e.exit_date <= scenario.REF_A and e.registered <= p_a

    mob = [
        e
        for e in closed
        if e.outcome == "return_independent"
        and straddles(e)
        and e.registered >= p_a - 3
        and not (e.corrected and e.corrected > p_a)
    ]
    for i in rng.choice(len(mob), min(h.mob_across_a, len(mob)), replace=False):
        mob[i].first_outcome, mob[i].corrected = (
            "departed_unknown",
            p_a + 1 + int(rng.integers(0, 3)),
        )
    fu = [
        e
        for e in closed
        if e.follow_up == "forced_departure"
        and straddles(e)
        and not (e.follow_up_known and e.follow_up_known > p_a)
    ]
    for i in rng.choice(len(fu), min(h.follow_up_across_a, len(fu)), replace=False):
        fu[i].first_follow_up, fu[i].follow_up_known = "unknown", p_a + 1 + int(rng.integers(0, 4))

    revisions: list[Revision] = []
    for e in closed:
        common = dict(
            municipality=e.municipality, record_id=str(e.record_id), exit_date=e.exit_date
        )
        if e.registered > period_of(e.exit_date):
            revisions.append(
                Revision(
                    kind="exit-registered-late",
                    stated_before=None,
                    stated_after=e.outcome,
                    first_period=period_text(period_of(e.exit_date)),
                    fixed_period=period_text(e.registered),
                    **common,
                )
            )
        if e.corrected is not None:
            revisions.append(
                Revision(
                    kind="outcome-corrected",
                    stated_before=e.first_outcome,
                    stated_after=e.outcome,
                    first_period=period_text(e.registered),
                    fixed_period=period_text(e.corrected),
                    **common,
                )
            )
        if e.follow_up_known is not None:
            revisions.append(
                Revision(
                    kind="follow-up-known-later",
                    stated_before=e.first_follow_up,
                    stated_after=e.follow_up,
                    first_period=period_text(e.registered),
                    fixed_period=period_text(e.follow_up_known),
                    **common,
                )
            )
    return revisions


def _plant_mistakes(
    rng: np.random.Generator,
    episodes: dict[str, list[Episode]],
    munis: list[str],
    periods: dict[str, list[int]],
    mover: Mover,
) -> list[MistakeSpec]:
    """Plain mistakes, each in its own delivery, never in the last two nor at REF_A or REF_B."""
    h = scenario.HISTORY
    last = parse_period(scenario.LAST_PERIOD)
    avoid = {last, last - 1, period_of(scenario.REF_A), period_of(scenario.REF_B)}
    used: set[tuple[str, int]] = set()
    mistakes: list[MistakeSpec] = []
    turn = 0
    for kind in scenario.MISTAKE_KINDS:
        for nth in range(h.mistakes_per_kind):
            muni = munis[turn % len(munis)]
            turn += 1
            columns = REGISTERS[muni].columns
            options = [p for p in periods[muni][1:] if p not in avoid and (muni, p) not in used]
            for attempt in rng.permutation(len(options)):
                period = options[attempt]
                present = [
                    e
                    for e in episodes[muni]
                    if period_of(e.intake_date) <= period and e.person_id != mover.person_id
                ]
                if kind in ("outcome-unknown-label", "exit-before-intake"):
                    present = [e for e in present if e.stated(period)[0] is not None]
                if present:
                    break
            else:
                raise ValueError(f"scenario: no delivery of {muni} to plant {kind} in")
            e = present[int(rng.integers(0, len(present)))]
            param: str | int | None = None
            if kind == "date-unparseable":
                fields = [
                    f
                    # the dates the figures rest on (a birth date is dropped, not validated)
                    for f in ("intake_date", "exit_date")
                    if f in columns and (f != "exit_date" or e.stated(period)[0] is not None)
                ]
                target = fields[int(rng.integers(0, len(fields)))]
                year = getattr(e, target).year
                param = f"31-02-{year}" if nth % 2 == 0 else "onbekend"  # no such day; no date
            elif kind == "outcome-unknown-label":
                target, param = "outcome", int(rng.integers(0, 1000))
            elif kind == "person-id-missing":
                target = "person_id"
            else:
                target, param = "exit_date", int(rng.integers(5, 61))
            used.add((muni, period))
            mistakes.append(
                MistakeSpec(
                    municipality=muni,
                    period=period,
                    episode_key=e.key,
                    kind=kind,
                    field=target,
                    param=param,
                )
            )
    return mistakes

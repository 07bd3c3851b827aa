"""A synthetic national LVV network, for benchmarks: up to 25 municipalities and 10 years.

    NationalSpec.scaled(factor)            about `factor` times the demo's data rows
    write_national(raw_dir, sources_dir, spec) -> NationalResult
    register_bytes(municipality, rows)      one delivery of a given size in a pilot's layout

Reuses the demo's pieces: the five pilots' source contracts, cycled under new municipality names
(a contract per municipality is written to `sources_dir`; point the pipeline at it with
LVV_SOURCES_DIR), their register habits (scenario.HABITS), the Episode and its history rules, the
Renderer and the writer. What differs from the demo is the population: drawn month by month from
an intake rate and a stay length, not calibrated on the published tables, so no figure here is a
published one. Deliveries are full snapshots, as in the demo, so a municipality's files grow month
by month and the data rows of a network grow with the square of its months.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import yaml

from lvv.demo import names, scenario
from lvv.demo.core import DEFAULT_SEED, MANIFEST_NAME
from lvv.demo.periods import month_end, month_start, parse_period, period_of, period_text
from lvv.demo.registers import REGISTERS, Register
from lvv.demo.render import Renderer
from lvv.demo.truth import Episode, MistakeSpec
from lvv.demo.writer import lay_out, to_bytes
from transforms.files import replace_file
from schemas.contracts import DATE_FIELDS, SOURCES_DIR, SourceContract, contracts, load_contract
from schemas.taxonomy import OUTCOMES_WITH_FOLLOW_UP

#: the network's municipalities (none of them a pilot: a pilot's contract keeps its own start)
MUNICIPALITIES: tuple[tuple[str, str], ...] = (
    ("almere", "Almere"), ("alkmaar", "Alkmaar"), ("amersfoort", "Amersfoort"),
    ("apeldoorn", "Apeldoorn"), ("arnhem", "Arnhem"), ("breda", "Breda"), ("delft", "Delft"),
    ("den-bosch", "'s-Hertogenbosch"), ("den-haag", "Den Haag"), ("deventer", "Deventer"),
    ("dordrecht", "Dordrecht"), ("ede", "Ede"), ("enschede", "Enschede"), ("haarlem", "Haarlem"),
    ("leeuwarden", "Leeuwarden"), ("leiden", "Leiden"), ("maastricht", "Maastricht"),
    ("nijmegen", "Nijmegen"), ("tilburg", "Tilburg"), ("venlo", "Venlo"), ("zaanstad", "Zaanstad"),
    ("zoetermeer", "Zoetermeer"), ("zwolle", "Zwolle"), ("hengelo", "Hengelo"), ("oss", "Oss"),
)
#: the pilots whose layouts the network's municipalities use, in turn
LAYOUTS = ("amsterdam", "eindhoven", "groningen", "rotterdam", "utrecht")
#: the full network: 25 municipalities x 120 months at 30 intakes a month is about 100x the demo
FULL_MONTHS = 120
FULL_FACTOR = 100
INTAKES_PER_MONTH = 30.0
#: mean stay beyond the shortest one, in days (the demo's registers close about 60 % of stays)
MEAN_STAY_DAYS = 270
#: the outcome mix of all exits: the demo's published mix up to its final evaluation
OUTCOME_MIX = scenario.OUTFLOW_TO_A + scenario.OUTFLOW_A_TO_C
NATIONAL_GENERATOR = "lvv.demo.national"


@dataclass(frozen=True)
class NationalSpec:
    """How big a synthetic network to write."""

    municipalities: int = len(MUNICIPALITIES)
    months: int = FULL_MONTHS
    intakes_per_month: float = INTAKES_PER_MONTH  # mean per municipality; sizes vary 0.5x-1.5x
    last_period: str = scenario.LAST_PERIOD
    seed: int = DEFAULT_SEED
    #: share of deliveries (not the last two of a municipality) with one planted mistake
    mistake_rate: float = 0.03

    @classmethod
    def scaled(cls, factor: float, **overrides) -> NationalSpec:
        """About `factor` times the demo's data rows: 25 municipalities over fewer months.

        Rows grow with the square of the months (full snapshots of growing registers), so
        factor 1 is 12 months, 4 is 24, 16 is 48 and 100 (the full network) is 120.
        """
        months = max(2, round(FULL_MONTHS * math.sqrt(factor / FULL_FACTOR)))
        return cls(months=months, **overrides)

    @property
    def periods(self) -> list[int]:
        last = parse_period(self.last_period)
        return list(range(last - self.months + 1, last + 1))

    @property
    def expected_rows(self) -> int:
        return int(self.municipalities * self.intakes_per_month * self.months * (self.months + 1) / 2)


@dataclass
class NationalResult:
    raw_dir: Path
    sources_dir: Path
    spec: NationalSpec
    files: list[Path] = field(default_factory=list)  # in (municipality, period) order
    periods: dict[str, list[str]] = field(default_factory=dict)
    rows: int = 0
    planted: int = 0


# --- contracts ----------------------------------------------------------------------------------

def network_contracts(spec: NationalSpec) -> dict[str, SourceContract]:
    """A contract per municipality: a pilot's layout and vocabulary under the municipality's name."""
    pilots = contracts(SOURCES_DIR)
    start = month_start(spec.periods[0])
    out = {}
    for i, (name, display) in enumerate(MUNICIPALITIES[: spec.municipalities]):
        layout = pilots[LAYOUTS[i % len(LAYOUTS)]]
        out[name] = layout.model_copy(update={
            "municipality": name, "display_name": display, "pilot_start": start})
    return out


def register_of(contract: SourceContract, layout: str) -> Register:
    """The demo's own register table of the pilot `layout`, under a network municipality's name."""
    return replace(REGISTERS[layout], municipality=contract.municipality,
                   display_name=contract.display_name, pilot_start=contract.pilot_start)


def layout_of(municipality: str) -> str:
    """The pilot whose layout a network municipality uses."""
    index = [name for name, _ in MUNICIPALITIES].index(municipality)
    return LAYOUTS[index % len(LAYOUTS)]


def write_contracts(sources_dir: Path, spec: NationalSpec) -> dict[str, SourceContract]:
    """Write the network's contracts as schemas/sources-style YAML files, checked on reading back."""
    sources_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, contract in network_contracts(spec).items():
        path = sources_dir / f"{name}.yaml"
        document = contract.model_dump(mode="json")
        header = (f"# Synthetic source contract ({NATIONAL_GENERATOR}): the layout of "
                  f"{layout_of(name)} under the name {contract.display_name}.\n")
        path.write_text(header + yaml.safe_dump(document, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
        written[name] = load_contract(path)
    return written


# --- the population -------------------------------------------------------------------------------

def _habits(layout: str) -> scenario.Habits:
    return replace(scenario.HABITS.get(layout, scenario.DEFAULT_HABITS),
                   file_name=scenario.DEFAULT_HABITS.file_name)


def _v_numbers(rng: np.random.Generator, n: int) -> list[str]:
    found: set[str] = set()
    while len(found) < n:
        lead = rng.integers(0, 10, size=n - len(found))
        body = rng.integers(0, 10**9, size=n - len(found))
        found.update(f"{a}{b:09d}" for a, b in zip(lead, body))
    out = sorted(found)
    rng.shuffle(out)
    return out


def build_episodes(spec: NationalSpec, municipality: str, index: int, layout: str,
                   first_key: int, rate: float) -> list[Episode]:
    """One municipality's episodes in register (intake) order, with their history and habits."""
    rng = np.random.default_rng([spec.seed, index])
    periods = spec.periods
    last, end = periods[-1], month_end(periods[-1])
    habits = _habits(layout)
    episodes: list[Episode] = []
    for period in periods:
        lo, n = month_start(period), int(rng.poisson(rate))
        days = sorted(lo + timedelta(days=int(d)) for d in rng.integers(0, month_end(period).day, n))
        episodes += [Episode(key=first_key + len(episodes) + k, municipality=municipality,
                             intake_date=d) for k, d in enumerate(days)]
    n = len(episodes)
    stays = scenario.MIN_STAY_DAYS + rng.exponential(MEAN_STAY_DAYS, n).astype(int)
    mix = np.array([w for _, _, w in OUTCOME_MIX], dtype=float)
    outcomes = rng.choice(len(OUTCOME_MIX), size=n, p=mix / mix.sum())
    lags = rng.choice(3, size=n, p=np.array(scenario.HISTORY.lag_months) / sum(scenario.HISTORY.lag_months))
    v_numbers = _v_numbers(rng, n)
    per_year: dict[int, int] = {}
    h = scenario.HISTORY
    late_follow_up = dict(h.follow_up_late)
    for seq, e in enumerate(episodes):
        e.seq = seq
        exit_date = e.intake_date + timedelta(days=int(stays[seq]))
        if exit_date <= end:
            e.exit_date = exit_date
            e.outcome, e.follow_up = OUTCOME_MIX[outcomes[seq]][:2]
            e.registered = min(period_of(exit_date) + int(lags[seq]), last)
            fix = e.registered + int(rng.integers(h.correction_months[0], h.correction_months[1] + 1))
            if e.outcome == "return_independent" and rng.random() < h.mob_first and fix <= last:
                e.first_outcome, e.corrected = "departed_unknown", fix
            if (e.outcome in OUTCOMES_WITH_FOLLOW_UP and fix <= last
                    and rng.random() < late_follow_up.get(e.follow_up or "", 0)):
                e.first_follow_up, e.follow_up_known = "unknown", fix
        year = e.intake_date.year
        per_year[year] = per_year.get(year, 0) + 1
        number = habits.first_seq + (per_year[year] - 1 if "{year}" in habits.record_id else seq)
        rid = habits.record_id.format(seq=number, year=year)
        e.record_id = int(rid) if habits.numeric_record_id else rid
        e.person_id = v_numbers[seq]
        e.given_name = names.GIVEN_NAMES[int(rng.integers(0, len(names.GIVEN_NAMES)))]
        e.family_name = names.FAMILY_NAMES[int(rng.integers(0, len(names.FAMILY_NAMES)))]
        e.birth_date = date(1960, 1, 1) + timedelta(days=int(rng.integers(0, 15700)))
        e.u_label, e.u_noise, e.u_variant, e.u_blank_follow_up = (float(x) for x in rng.random(4))
        e.u_date_format = {f: float(rng.random()) for f in DATE_FIELDS}
        e.blank_after = bool(rng.random() < 0.015)
        if rng.random() < 0.07:
            e.remark = scenario.REMARKS[int(rng.integers(0, len(scenario.REMARKS)))]
    return episodes


def _mistake(rng: np.random.Generator, municipality: str, period: int, present: list[Episode],
             contract: SourceContract) -> MistakeSpec | None:
    kind = scenario.MISTAKE_KINDS[int(rng.integers(0, len(scenario.MISTAKE_KINDS)))]
    if kind in ("outcome-unknown-label", "exit-before-intake"):
        present = [e for e in present if e.stated(period)[0] is not None]
    if not present:
        return None
    e = present[int(rng.integers(0, len(present)))]
    param: str | int | None = None
    if kind == "date-unparseable":
        target, param = "intake_date", "onbekend"
    elif kind == "outcome-unknown-label":
        target, param = "outcome", int(rng.integers(0, 1000))
    elif kind == "person-id-missing":
        target = "person_id"
    else:
        target, param = "exit_date", int(rng.integers(5, 61))
    if target not in contract.columns:
        return None
    return MistakeSpec(municipality, period, e.key, kind, target, param)


def delivery_files(spec: NationalSpec, municipality: str, contract: SourceContract, layout: str,
                   episodes: list[Episode]):
    """Yield (relative path, bytes, data rows, planted) for each month of one municipality."""
    habits = _habits(layout)
    register = register_of(contract, layout)
    renderer = Renderer(register, habits)
    rng = np.random.default_rng([spec.seed, 7, period_of(contract.pilot_start), len(episodes)])
    intake_periods = [period_of(e.intake_date) for e in episodes]
    periods = spec.periods
    for i, period in enumerate(periods):
        present = episodes[: bisect_right(intake_periods, period)]
        data = [(e.key, renderer.row(e, period), e.blank_after) for e in present]
        planted = 0
        if present and i < len(periods) - 2 and rng.random() < spec.mistake_rate:
            mistake = _mistake(rng, municipality, period, present, contract)
            if mistake is not None:
                at = next(k for k, e in enumerate(present) if e.key == mistake.episode_key)
                renderer.plant(data[at][1], present[at], mistake)
                planted = 1
        if not data:
            continue
        stand_per = month_end(period)
        sheet = lay_out(register, habits, stand_per, renderer.headers, data)
        yyyymm = period_text(period)
        name = habits.file_name.format(municipality=municipality, yyyymm=yyyymm.replace("-", ""),
                                       ext=register.file_type)
        yield f"{municipality}/{yyyymm}/{name}", to_bytes(register, sheet, stand_per), len(data), planted


# --- writing --------------------------------------------------------------------------------------

def _rates(spec: NationalSpec) -> list[float]:
    rng = np.random.default_rng([spec.seed, 0])
    weights = rng.uniform(0.5, 1.5, spec.municipalities)
    return list(spec.intakes_per_month * weights / weights.mean())


def _write_municipality(job: tuple) -> list[tuple[str, str, int, int]]:
    spec, raw_dir, index, name, contract = job
    layout = LAYOUTS[index % len(LAYOUTS)]
    episodes = build_episodes(spec, name, index, layout, first_key=index * 10**7,
                              rate=_rates(spec)[index])
    written = []
    for rel, data, rows, planted in delivery_files(spec, name, contract, layout, episodes):
        replace_file(raw_dir / rel, data)
        written.append((rel, hashlib.sha256(data).hexdigest(), rows, planted))
    return written


def write_national(raw_dir: Path, sources_dir: Path, spec: NationalSpec = NationalSpec(),
                   processes: int | None = None) -> NationalResult:
    """Write the network's contracts to sources_dir and its deliveries to raw_dir (in parallel).

    raw_dir gets a demo manifest (generator lvv.demo.national), so a run over it uses the demo's
    fixed pseudonymisation key, as for the demo.
    """
    raw_dir, sources_dir = Path(raw_dir), Path(sources_dir)
    network = write_contracts(sources_dir, spec)
    jobs = [(spec, raw_dir, i, name, contract) for i, (name, contract) in enumerate(network.items())]
    processes = processes or min(os.cpu_count() or 1, len(jobs))
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            parts = pool.map(_write_municipality, jobs, chunksize=1)
    else:
        parts = [_write_municipality(job) for job in jobs]
    result = NationalResult(raw_dir=raw_dir, sources_dir=sources_dir, spec=spec)
    manifest = {}
    for part in parts:
        for rel, digest, rows, planted in part:
            manifest[rel] = digest
            result.files.append(raw_dir / rel)
            municipality, period = rel.split("/")[:2]
            result.periods.setdefault(municipality, []).append(period)
            result.rows += rows
            result.planted += planted
    document = {"generator": NATIONAL_GENERATOR, "seed": spec.seed, "files": dict(sorted(manifest.items()))}
    (raw_dir / MANIFEST_NAME).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return result


def register_bytes(municipality: str, rows: int, seed: int = DEFAULT_SEED) -> tuple[bytes, str]:
    """The last delivery (bytes, period) of a pilot's register grown to about `rows` episodes.

    For the steward's check benchmark: a file in a pilot's own layout and contract.
    """
    contract = contracts(SOURCES_DIR)[municipality]
    first, last = period_of(contract.pilot_start), parse_period(scenario.LAST_PERIOD)
    spec = NationalSpec(municipalities=1, months=last - first + 1, seed=seed, mistake_rate=0.0,
                        intakes_per_month=rows / (last - first + 1))
    episodes = build_episodes(spec, municipality, 0, municipality, 0, spec.intakes_per_month)
    habits = replace(scenario.HABITS.get(municipality, scenario.DEFAULT_HABITS))
    register = register_of(contract, municipality)
    renderer = Renderer(register, habits)
    data = [(e.key, renderer.row(e, last), e.blank_after) for e in episodes]
    sheet = lay_out(register, habits, month_end(last), renderer.headers, data)
    return to_bytes(register, sheet, month_end(last)), period_text(last)


__all__ = ["FULL_FACTOR", "LAYOUTS", "MUNICIPALITIES", "NationalResult", "NationalSpec",
           "build_episodes", "layout_of", "network_contracts", "register_bytes", "write_contracts",
           "write_national"]

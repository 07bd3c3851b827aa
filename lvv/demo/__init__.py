"""The deterministic synthetic demo: monthly LVV deliveries of the five pilots, and their truth.

    write_demo(raw_dir, seed)  -> DemoResult   writes raw_dir/<municipality>/<YYYY-MM>/<file>
    truth_episodes(seed)       -> DataFrame    the final true state, one row per episode
    oracle_episodes(seed)      -> DataFrame    the oracle: each episode and its delivery history
    oracle_statements(seed)    -> DataFrame    what every delivery said, row by row
    DEMO_PSEUDONYM_KEY                         the fixed, not secret, key of demo mode

Modules: scenario (the calibration and register habits, as data), registers (each pilot's layout,
labels and date notation, typed by hand: nothing is read from schemas/), truth (episodes and their
history), render (cells in a register's words), writer (a file in a register's layout), oracle
(the record tests check the pipeline against), core.
"""

from lvv.demo.core import (
    DEFAULT_SEED,
    MANIFEST_NAME,
    Delivery,
    DemoError,
    DemoResult,
    PlantedMistake,
    build_files,
    truth_episodes,
    write_demo,
)
from lvv.demo.oracle import ORACLE_NAME, oracle_episodes, oracle_statements
from lvv.demo.scenario import DEMO_PSEUDONYM_KEY
from lvv.demo.truth import Mover, Revision

__all__ = [
    "DEFAULT_SEED",
    "DEMO_PSEUDONYM_KEY",
    "MANIFEST_NAME",
    "ORACLE_NAME",
    "Delivery",
    "DemoError",
    "DemoResult",
    "Mover",
    "PlantedMistake",
    "Revision",
    "build_files",
    "oracle_episodes",
    "oracle_statements",
    "truth_episodes",
    "write_demo",
]

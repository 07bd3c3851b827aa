"""The deterministic synthetic demo: monthly LVV deliveries of the five pilots, and their truth.

    write_demo(raw_dir, seed)  -> DemoResult   writes raw_dir/<municipality>/<YYYY-MM>/<file>
    truth_episodes(seed)       -> DataFrame    the final true state, one row per episode
    DEMO_PSEUDONYM_KEY                         the fixed, not secret, key of demo mode

Modules: scenario (the calibration and register habits, as data), truth (episodes and their
history), render (cells in a contract's words), writer (a file in a contract's layout), core.
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
from lvv.demo.scenario import DEMO_PSEUDONYM_KEY
from lvv.demo.truth import Mover, Revision

__all__ = [
    "DEFAULT_SEED",
    "DEMO_PSEUDONYM_KEY",
    "MANIFEST_NAME",
    "Delivery",
    "DemoError",
    "DemoResult",
    "Mover",
    "PlantedMistake",
    "Revision",
    "build_files",
    "truth_episodes",
    "write_demo",
]

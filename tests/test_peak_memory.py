"""A process's peak memory as the benchmarks and the hostile-input tests report it is its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_process_started_by_a_large_one_reports_its_own_peak_not_its_parents():
    """Linux carries ru_maxrss over an exec from the process that forked it: a small command started
    by a pytest worker holding 590 MB reported 590 MB. peak_rss_mb reads the process's own VmHWM."""
    large = bytearray(400 * 2**20)
    large[::4096] = b"\1" * len(range(0, len(large), 4096))  # every page resident in this process
    code = ("from benchmarks.measure import peak_rss_mb; import resource; "
            "print(peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    own, inherited = map(float, done.stdout.split())
    assert inherited >= 400  # what the old measure reported: the parent's pages, not the child's
    assert 1 < own < 150, own  # an interpreter that imported only the standard library
    del large

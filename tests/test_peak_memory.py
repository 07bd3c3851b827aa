"""A process's peak memory as the benchmarks and the hostile-input tests report it is its own: not
the size of the process that started it (Linux carries ru_maxrss over an exec from the process that
forked it, so a child's ru_maxrss, RUSAGE_CHILDREN included, is never below its parent's size)."""

from __future__ import annotations

import json
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


TOUCH = "held = bytearray({mb} * 2**20); held[::4096] = bytes(len(range(0, len(held), 4096))).replace(b'\\0', b'\\1')"
LARGE_PARENT = TOUCH.format(mb=300) + "\nimport json, os, resource, subprocess, sys, time\n"


def test_the_runner_reports_the_peak_of_the_processes_it_starts_not_its_own_size():
    """benchmarks.lvv_runner's children_peak_rss_mb: a runner holding 300 MB whose command starts a
    child that holds 40 MB reports the child's peak, not the runner's 300 MB (what ru_maxrss of
    RUSAGE_CHILDREN, its reading before, said)."""
    child = TOUCH.format(mb=40) + "; import time; time.sleep(1)"
    code = (LARGE_PARENT + "from benchmarks.lvv_runner import measure\n"
            f"def run():\n    started = time.perf_counter()\n"
            f"    subprocess.run([sys.executable, '-c', {child!r}], check=True)\n"
            "    return 0, started\n"
            "report = measure(run)\n"
            "children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
            "print(json.dumps({**report, 'ru_maxrss_children': children}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=120)
    report = json.loads(done.stdout)
    assert report["self_peak_rss_mb"] >= 300 and report["ru_maxrss_children"] >= 300  # the old reading
    assert 40 < report["children_peak_rss_mb"] < 150, report  # the child: an interpreter and its 40 MB


def test_a_child_seen_between_its_fork_and_its_exec_is_not_its_parent_counted_again():
    """A child just forked shows its parent's memory until it execs. The runner's sampler, every 2 s
    here, sees such a child of a 300 MB process at t = 2 s (forked at 1 s, exec at 3 s) and again at
    4 s, as the 40 MB program it became: the tree's peak is the parent's and the child's own, not
    twice the parent's, and the child's peak its own. Exits at 5.5 s."""
    child = TOUCH.format(mb=40) + "; import time; time.sleep(2.5)"
    code = (LARGE_PARENT + "from benchmarks.lvv_runner import TreePeak\n"
            "from benchmarks.measure import peak_rss_mb\n"
            "with TreePeak(interval=2) as tree:\n"
            "    time.sleep(1)\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        time.sleep(2)\n"
            f"        os.execv(sys.executable, [sys.executable, '-c', {child!r}])\n"
            "    os.waitpid(pid, 0)\n"
            "print(json.dumps({'peak': tree.peak, 'children_peak': tree.children_peak, 'self': peak_rss_mb()}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=120)
    seen = json.loads(done.stdout)
    assert seen["self"] >= 300 and 40 < seen["children_peak"] < 150, seen
    assert seen["peak"] < seen["self"] + 150, seen  # not the parent's 300 MB twice


def test_a_hostile_case_reports_the_command_s_own_peak_not_its_caller_s(tmp_path):
    """benchmarks.hostile.measure called by a process holding 300 MB: the peak of the `lvv` command
    it measures is the command's own (ru_maxrss of the children, its reading before, started from
    the caller's size)."""
    code = (LARGE_PARENT + "from benchmarks.hostile import measure\n"
            f"print(json.dumps(measure(['validate', {str(tmp_path / 'absent.xlsx')!r}, '--municipality', "
            "'utrecht', '--period', '2020-10'])))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=300)
    result = json.loads(done.stdout)
    assert result["exit"] == 2 and "absent.xlsx" in result["stderr_tail"][0], result  # the command ran
    assert 1 < result["peak_mb"] < 200, result  # lvv's imports, far below the caller's 300 MB

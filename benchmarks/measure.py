"""Timing helpers: repeated measurements, subprocess timing, a Prefect server for the run."""

from __future__ import annotations

import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Stat:
    """Repeated measurements of one figure: median, min and max."""

    runs: list[float] = field(default_factory=list)

    def add(self, value: float) -> float:
        self.runs.append(value)
        return value

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def min(self) -> float:
        return min(self.runs) if self.runs else float("nan")

    @property
    def max(self) -> float:
        return max(self.runs) if self.runs else float("nan")

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        return {"median": round(self.median, digits), "min": round(self.min, digits),
                "max": round(self.max, digits), "runs": [round(r, digits) for r in self.runs]}


def timed(fn: Callable[[], Any], repeat: int, scale: float = 1.0, cpu: Stat | None = None) -> Stat:
    """Run fn `repeat` times; seconds (times `scale`) of each run. cpu: also add each run's CPU
    seconds of this process (times `scale`) to it, what a busy machine's other processes change
    less than the wall seconds (fn's work in this process: not in processes it starts)."""
    stat = Stat()
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        stat.add((time.perf_counter() - started) * scale)
        if cpu is not None:
            cpu.add((time.process_time() - started_cpu) * scale)
    return stat


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a measured subprocess: quiet Prefect, the project on the path."""
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def run_python(args: list[str], env: dict[str, str], cwd: Path | None = None,
               timeout: float = 3600, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of `python ARGS` in a new process (interpreter start-up included)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, check=False,
                            timeout=timeout)
    seconds = time.perf_counter() - started
    if check and result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"python {' '.join(args)} exited {result.returncode}:\n{tail}")
    return seconds, result


def run_lvv(args: list[str], env: dict[str, str], timeout: float = 3600) -> dict[str, Any]:
    """`lvv ARGS` in a new process through benchmarks.lvv_runner: wall seconds and peak RSS."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        report = Path(handle.name)
    try:
        seconds, result = run_python(["-m", "benchmarks.lvv_runner", str(report), *args], env,
                                     timeout=timeout, check=False)
        measured = json.loads(report.read_text() or "{}")
    finally:
        report.unlink(missing_ok=True)
    if result.returncode not in (0, 1) or measured.get("exit_code") not in (0, 1):
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"lvv {' '.join(args)} exited {result.returncode}:\n{tail}")
    return {"seconds": seconds, **measured}


#: task runs asked per request (the most Prefect's API gives by default)
TASK_RUNS_PAGE = 200


def task_runs(api_url: str, flow_run_id: str, page: int = TASK_RUNS_PAGE) -> list[dict]:
    """Every task run of one flow run the server holds, asked a page at a time (the API returns at
    most `page` per request: one request would silently drop the rest)."""
    found: list[dict] = []
    while True:
        request = urllib.request.Request(
            f"{api_url}/task_runs/filter", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"flow_runs": {"id": {"any_": [flow_run_id]}}, "sort": "ID_DESC",
                             "limit": page, "offset": len(found)}).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            batch = json.loads(response.read())
        found += batch
        if len(batch) < page:
            return found


def step_seconds(api_url: str, flow_run_id: str) -> dict[str, float]:
    """Seconds per step of one flow run, from the server's task runs: each task's run time, the
    tasks of one function summed (the 25 `process-<municipality>` runs are one step)."""
    import re

    steps: dict[str, float] = {}
    for task_run in task_runs(api_url, flow_run_id):
        name = re.sub(r"-[0-9a-f]{3}$", "", task_run["name"])
        name = "process-deliveries" if task_run["task_key"].startswith("process_deliveries_task") else name
        steps[name] = round(steps.get(name, 0.0) + float(task_run.get("total_run_time") or 0.0), 3)
    return steps


def proc_stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the process's name (Linux, stat(5)): the name is in
    parentheses and may hold spaces and ')', so the fields are counted after its last ')'; field
    n of stat(5) is item n - 3 here (utime 14 and stime 15: 11 and 12; starttime 22: 19)."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def cpu_seconds_of(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far (proc_stat, in clock ticks)."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB: VmHWM, the high-water mark of its own
    address space (Linux). Not ru_maxrss where VmHWM is known: Linux carries ru_maxrss over an exec
    from the process that forked it, so a process started by a 590 MB pytest worker reported 590 MB
    however little it used itself (and one started by the 200 MB benchmark process, 200 MB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrefectServer:
    """`prefect server start` on 127.0.0.1 with its own PREFECT_HOME, for the duration of a block."""

    def __init__(self, home: Path, startup_timeout: float = 180):
        self.home = home
        self.port = free_port()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.startup_s = float("nan")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def __enter__(self) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = base_env({"PREFECT_HOME": str(self.home)})
        env.pop("PREFECT_API_URL", None)
        started = time.perf_counter()
        self.log = (self.home / "server.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
             str(self.port)], env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + self.startup_timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prefect server exited; see {self.home / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        self.startup_s = time.perf_counter() - started
                        return self
            except OSError:
                time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError(f"prefect server did not answer within {self.startup_timeout:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.log.close()

"""lvv ties Prefect's temporary server to its own process (lvv/cli.py, _tie_to_us): Prefect 3 has
no setting or public API for a parent-death signal, so lvv swaps the `subprocess` name of Prefect's
server module while SubprocessASGIServer._run_uvicorn_command runs. These tests fail first when
Prefect moves that internal, and show the swap gives a real child the signal and reports when it
could not. The whole lifecycle (kill -9, SIGTERM, no orphan server) is tests/test_kill_points.py."""

from __future__ import annotations

import inspect
import signal
import subprocess
import sys
import types

from lvv.cli import _tie_to_us

PRINT_DEATH_SIGNAL = ("import ctypes; v = ctypes.c_int(); "
                      "ctypes.CDLL('libc.so.6').prctl(2, ctypes.byref(v)); print(v.value)")  # PR_GET_PDEATHSIG


def test_prefects_temporary_server_still_makes_its_process_where_lvv_ties_it():
    from prefect.server.api import server as prefect_server

    method = prefect_server.SubprocessASGIServer._run_uvicorn_command
    assert prefect_server.subprocess is subprocess
    assert "subprocess.Popen(" in inspect.getsource(method), "Prefect changed how it starts its temporary server"


def _fake_prefect() -> types.ModuleType:
    """A module shaped like Prefect's server module: a class that starts its process through the
    module's `subprocess` name."""
    module = types.ModuleType("fake_prefect_server")
    module.subprocess = subprocess
    exec("import sys\n"
         "class SubprocessASGIServer:\n"
         "    def _run_uvicorn_command(self):\n"
         f"        return subprocess.Popen([sys.executable, '-c', {PRINT_DEATH_SIGNAL!r}], stdout=subprocess.PIPE, text=True)\n",
         module.__dict__)
    return module


def test_the_server_process_starts_with_the_death_signal_and_nothing_else_is_patched():
    module = _fake_prefect()
    instance = module.SubprocessASGIServer()
    tied = _tie_to_us(module, instance)
    assert not tied()
    child = instance._run_uvicorn_command()
    assert child.communicate(timeout=60)[0].strip() == str(int(signal.SIGTERM)) and tied()
    assert module.subprocess is subprocess and subprocess.Popen.__module__ == "subprocess"
    untouched = subprocess.run([sys.executable, "-c", PRINT_DEATH_SIGNAL], capture_output=True, text=True)
    assert untouched.stdout.strip() == "0"


def test_when_the_internal_is_gone_lvv_says_it_could_not_tie_the_server():
    module = _fake_prefect()
    del module.SubprocessASGIServer._run_uvicorn_command
    assert not _tie_to_us(module, module.SubprocessASGIServer())()
    other = _fake_prefect()
    other.subprocess = types.SimpleNamespace(Popen=subprocess.Popen)  # Prefect imports Popen otherwise
    assert not _tie_to_us(other, other.SubprocessASGIServer())()

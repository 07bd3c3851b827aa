"""The test helper that runs lvv commands in one child process (tests/_s1_cli.LvvChild): a command
that does not answer in time fails its test instead of hanging the whole module."""

from __future__ import annotations

import pytest

from tests._s1_cli import LvvChild


def test_a_command_that_does_not_answer_in_time_fails_instead_of_hanging(tmp_path):
    child = LvvChild()
    try:
        answer = child("--help")  # the child answers at all
        assert answer["exit"] == 0 and "validate" in answer["stdout"]
        slow = tmp_path / "export.csv"
        slow.write_text("a;b\n1;2\n", encoding="utf-8")
        # no command of lvv answers within a millisecond: the child is killed, the call raises
        with pytest.raises(RuntimeError, match="killed after 0.001 s without an answer"):
            child("validate", str(slow), "--municipality", "utrecht", "--period", "2020-10", timeout=0.001)
        assert child.process.poll() is not None  # nothing left running
    finally:
        if child.process.poll() is None:
            child.process.kill()
        child.process.wait(timeout=60)

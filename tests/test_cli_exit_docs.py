"""The exit codes of `lvv run` and the deployment's `Needs steward` state are stated where users
read them: README, docs/operations.md and `lvv run --help`, with the state's name as the flow sets it."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from lvv.cli import app

ROOT = Path(__file__).resolve().parent.parent


def test_every_place_states_the_exit_codes_and_the_state_the_flow_really_ends_in():
    state = re.search(r'Completed\(.*name="([^"]+)"', (ROOT / "flows" / "monthly_outflow.py").read_text()).group(1)
    assert state == "Needs steward"
    help_text = " ".join(CliRunner().invoke(app, ["run", "--help"], terminal_width=200).output.split())
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    operations = " ".join((ROOT / "docs" / "operations.md").read_text(encoding="utf-8").split())
    for text in (help_text, readme, operations):
        assert f"named `{state}`" in text
        for code in ("0", "1", "2", "3"):
            assert re.search(rf"\b{code}\b", text)
    assert "2 for usage and settings errors" in help_text and "3 for a bug" in help_text
    assert "2 for usage and settings errors" in readme and "3 for a bug" in readme

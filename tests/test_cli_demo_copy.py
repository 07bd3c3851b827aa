"""The analyst's and researcher's first steps off the demo's path (robustness review, round 21):
a copy of the demo with a month added by hand, and a series asked up to a mistyped year."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lvv.settings import DEMO_MANIFEST, DEMO_PSEUDONYM_KEY, KEY_ENV, SettingsError, pseudonym_key
from lvv.cli import app


def _raw(tmp_path, manifest: bool):
    raw = tmp_path / "raw"
    for month in ("2022-07", "2022-08"):
        (raw / "utrecht" / month).mkdir(parents=True)
        (raw / "utrecht" / month / f"lvv_utrecht_{month}.xlsx").write_bytes(b"PK")
    if manifest:  # lvv demo wrote July; August was added by hand
        (raw / DEMO_MANIFEST).write_text(json.dumps({"files": {"utrecht/2022-07/lvv_utrecht_2022-07.xlsx": "x"}}))
    return raw


def test_a_demo_copy_with_a_month_added_by_hand_names_the_key_that_opens_its_store(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(SettingsError, match=f"export {KEY_ENV}={DEMO_PSEUDONYM_KEY}"):
        pseudonym_key(_raw(tmp_path / "copy", manifest=True))
    with pytest.raises(SettingsError) as real:  # real data is never told the demo's key
        pseudonym_key(_raw(tmp_path / "real", manifest=False))
    assert DEMO_PSEUDONYM_KEY not in str(real.value)
    monkeypatch.setenv(KEY_ENV, DEMO_PSEUDONYM_KEY)
    assert pseudonym_key(_raw(tmp_path / "again", manifest=True)) == (DEMO_PSEUDONYM_KEY, False)


def test_a_series_up_to_a_mistyped_year_is_warned_about(published, tmp_path):
    done = CliRunner().invoke(app, ["series", "--from", "2020-10-01", "--to", "2202-07-31", "-o",
                                    str(tmp_path / "s.csv"), "--data-dir", str(published.parent.parent)])
    text = done.output + (done.stderr if done.stderr_bytes is not None else "")
    assert done.exit_code == 0, text
    assert "warning: reference date 2202-07-31 is after the last delivery (stand per 2020-11-30)" in " ".join(text.split())

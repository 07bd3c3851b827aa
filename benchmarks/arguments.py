"""Argument types of the benchmark tools: a wrong path or value is a clear usage error (exit 2,
argparse's `error: argument --x: ...` line), found before any data is written or any figure is
measured, never a traceback minutes later."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path


def positive_number(text: str) -> float:
    """A factor: a number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number above 0")
    return value


def positive_int(text: str) -> int:
    """A count of runs: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least 1")
    return value


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is not a directory" if path.exists() else f"{path} does not exist")
    return path


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path} is not a file" if path.exists() else f"{path} does not exist")
    return path


def work_dir(text: str) -> Path:
    """A directory to keep the data in: absent (it is created) or a directory."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} exists and is not a directory")
    return path


def json_object(text: str) -> Path:
    """A JSON file to read: it exists and holds one JSON object."""
    path = existing_file(text)
    _read_object(path)
    return path


def json_output(text: str) -> Path:
    """A JSON file the figures are added to: absent (written at the end, in an existing directory)
    or holding one JSON object (checked now, not after the measurements)."""
    path = Path(text)
    if path.exists():
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"{path} is not a file")
        _read_object(path)
    elif not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{path.parent} (where {path.name} would be written) is not a directory")
    return path


def _read_object(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{path} is not a readable JSON file ({exc})") from None
    if not isinstance(document, dict):
        raise argparse.ArgumentTypeError(f"{path} holds JSON, but not an object of figures")
    return document

"""One way to replace a small file whole: written aside under a hidden name, renamed over it.

A reader sees the old file or the new one, never a part; a write that fails (a full disk, an error
in the writer, an interrupt) leaves the old content and removes its part. The part is named
`.<name>.tmp-<pid>-<thread>` beside the target (a target already hidden keeps its one dot), so two
processes or threads never share one, whatever they write, and `store.clean_store` finds the part a
killed process left by `temporary_glob`. A small JSON file that must tell damage from content
(a cache's entry) is written as checksummed JSON, `write_checked` and `read_checked`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path


def temporary_glob(name: str) -> str:
    """The glob of the parts a writer of the file `name` may leave (for a clean-up after a kill)."""
    return f"{_hidden(name)}.tmp-*"


def replace_file(path: Path, content: str | bytes | Callable[[Path], object], *, durable: bool = False) -> Path:
    """Replace `path` whole with `content`: text (UTF-8), bytes, or a writer called with the path
    of the part (for a library that saves to a path: a workbook, a symlink). `durable`: the part is
    flushed to disk before the rename (for a log that must survive a power cut). The parent folder
    is made when missing. Returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{_hidden(path.name)}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        if callable(content):
            content(part)
        else:
            with part.open("wb") as handle:
                handle.write(content.encode("utf-8") if isinstance(content, str) else content)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
        if durable and callable(content):
            fsync_path(part)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return path


def _hidden(name: str) -> str:
    return name if name.startswith(".") else f".{name}"


def fsync_path(path: Path) -> None:
    """Flush a written file's content to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_checked(path: Path, body: dict) -> None:
    """body as checksummed JSON, {"checksum": sha256 of body's canonical JSON, "body": body} (a
    damaged file is told from an intact one), written aside and renamed into place. The one
    writer of this format: suppression's protection patterns and joint audits, and the report's
    gather cache (monthly_report's meta.json)."""
    replace_file(path, json.dumps({"checksum": _checksum(body), "body": body}))


def read_checked(path: Path) -> dict:
    """The body write_checked wrote; ValueError when the file is damaged (its checksum does not
    match, or it is not that format), OSError when it cannot be read."""
    stored = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(stored, dict) or not isinstance(stored.get("body"), dict) \
            or _checksum(stored["body"]) != stored.get("checksum"):
        raise ValueError(f"{path}: its checksum does not match")
    return stored["body"]


def _checksum(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

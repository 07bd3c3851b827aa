"""Paths, fixed dates and environment settings, in one place."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DATA_DIR_ENV = "LVV_DATA_DIR"
KEY_ENV = "LVV_PSEUDONYM_KEY"
DEMO_MANIFEST = ".lvv-demo-manifest.json"
DEMO_PSEUDONYM_KEY = "lvv-demo-key-not-secret"
#: the reference date of the seed letter and Table A
SEED_REFERENCE_DATE = date(2020, 11, 1)


class SettingsError(RuntimeError):
    """A setting that stops a run before it touches data; the message says what to do."""


@dataclass(frozen=True)
class DataPaths:
    """Where a run reads and writes: data/raw in, data/curated out."""

    root: Path

    @classmethod
    def resolve(cls, data_dir: str | Path | None = None) -> "DataPaths":
        """An explicit path or file:// URI, else $LVV_DATA_DIR, else ./data under the working directory."""
        chosen = data_dir or os.environ.get(DATA_DIR_ENV) or "data"
        return cls(Path(local_path(chosen)).expanduser().resolve())

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def curated(self) -> Path:
        return self.root / "curated"

    @property
    def staged(self) -> Path:
        return self.curated / "staged"

    @property
    def database(self) -> Path:
        return self.curated / "lvv.duckdb"


def delivery_files(raw_dir: Path) -> list[Path]:
    """Every file under raw_dir/<municipality>/<period>/, hidden files left out."""
    return [raw_dir / name for name in relative_delivery_files(raw_dir)]


def relative_delivery_files(raw_dir: Path) -> list[str]:
    """delivery_files as paths relative to raw_dir (posix), in no particular order.

    Listed with os.scandir, whose entries know their type: pathlib's glob and is_file built and
    stat'ed a Path per file, and the demo check lists every raw file of the history each run.
    """
    return list(_delivery_names(raw_dir))


def _delivery_names(raw_dir: Path) -> Iterator[str]:
    for municipality in _subfolders(str(raw_dir)):
        for period in _subfolders(municipality.path):
            with os.scandir(period.path) as entries:
                names = [f"{municipality.name}/{period.name}/{entry.name}" for entry in entries
                         if not entry.name.startswith(".") and entry.is_file()]
            yield from names


def _subfolders(folder: str) -> list[os.DirEntry]:
    """The folders in a folder, hidden ones included (as pathlib's `*` matches them); none when
    it is not a folder."""
    try:
        with os.scandir(folder) as entries:
            return [entry for entry in entries if entry.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def has_deliveries(raw_dir: Path) -> bool:
    """Whether raw_dir holds a delivery file: the listing stops at the first."""
    return next(_delivery_names(raw_dir), None) is not None


#: URI schemes of the local file system (fsspec's names)
LOCAL_SCHEMES = ("file", "local")
URI_PATTERN = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")


def local_path(location: str | Path) -> str:
    """A data location as a local path: a plain path as it is, a file:// URI via fsspec.

    A remote URI (s3://, abfs://, gs://, ...) is refused with a SettingsError: the per-delivery
    store, the publication's atomic switch and its lock, and DuckDB's database file all need a
    local (or mounted) file system; see docs/performance.md.
    """
    text = str(location)
    uri = URI_PATTERN.match(text)  # also "scheme:/x", what Path() makes of "scheme://x"
    if uri is None:
        return text
    from fsspec.core import url_to_fs

    scheme = uri.group(1).lower()
    if scheme not in LOCAL_SCHEMES:
        raise SettingsError(
            f"{text}: the data location must be a local path or a file:// URI, not {scheme}://. "
            "Mount the storage and give its local path (see docs/performance.md).")
    return url_to_fs(text)[1]


def is_demo_data(raw_dir: Path) -> bool:
    """True when every delivery file under raw_dir was written by `lvv demo` (per its manifest)."""
    manifest = raw_dir / DEMO_MANIFEST
    if not manifest.exists():
        return False
    try:
        written = set(json.loads(manifest.read_text(encoding="utf-8")).get("files", {}))
    except (OSError, ValueError, AttributeError):
        return False
    present = set(relative_delivery_files(raw_dir))
    return bool(present) and present <= written


def pseudonym_key(raw_dir: Path) -> tuple[str, bool]:
    """(key, is_demo_key). Real data without $LVV_PSEUDONYM_KEY refuses to start.

    The demo key is taken without being asked only where every delivery is the demo's own. Set
    explicitly, it is also accepted in a location `lvv demo` wrote (its manifest is there) with
    files added by hand: trying a hostile delivery on the demo, as docs/operations.md does. It is
    refused anywhere else, so real registers are never pseudonymised with a published key.
    """
    key = os.environ.get(KEY_ENV, "")
    manifest = (raw_dir / DEMO_MANIFEST).exists()
    # a key set is taken without listing the raw files (is_demo_data needs the manifest anyway)
    if key == DEMO_PSEUDONYM_KEY and not manifest:
        raise SettingsError(
            f"{KEY_ENV} is the demo's published key. The deliveries under {raw_dir} are not the "
            f"synthetic demo: set {KEY_ENV} to the programme's secret key and run again."
        )
    if key:
        return key, False
    if is_demo_data(raw_dir):
        return DEMO_PSEUDONYM_KEY, True
    if manifest:  # a copy of the demo with files added by hand
        raise SettingsError(
            f"{KEY_ENV} is not set. {raw_dir} was written by `lvv demo`, but holds files the demo did not "
            f"write, so the demo's key is not taken without being asked. To try them on the demo's store, "
            f"export {KEY_ENV}={DEMO_PSEUDONYM_KEY} (the demo's published key); real registers need the "
            "programme's secret key, in a location of their own.")
    raise SettingsError(
        f"{KEY_ENV} is not set. The deliveries under {raw_dir} are not the synthetic demo, so they "
        f"must be pseudonymised with the programme's secret key: export {KEY_ENV}=... and run again."
    )


#: the store's record of the key it was built with: an HMAC of a fixed label, never the key
KEY_CHECK_FILE = "key-check.json"
KEY_CHECK_LABEL = b"lvv pseudonym key check v1"


def key_check_value(key: str) -> str:
    """A keyed check value of the pseudonymisation key: equal keys give equal values; the value
    does not reveal the key (HMAC-SHA256 of a fixed label)."""
    import hashlib
    import hmac

    return hmac.new(key.encode("utf-8"), KEY_CHECK_LABEL, hashlib.sha256).hexdigest()


def check_key(paths: DataPaths, key: str) -> None:
    """Refuse (SettingsError) when the store was built with another key. Reads no delivery."""
    path = paths.staged / KEY_CHECK_FILE
    if not path.is_file():
        return
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))["check"]
    except (OSError, ValueError, KeyError, TypeError):
        raise SettingsError(f"{path} cannot be read; restore it from a backup, or rebuild the store "
                            "with `lvv rekey`") from None
    if stored != key_check_value(key):
        raise SettingsError(
            f"{KEY_ENV} is not the key the store in {paths.staged} was built with (its check value "
            f"differs), so its pseudonyms would not link. Run with the original key, or rotate to this "
            f"one with `lvv rekey` (every raw delivery is processed again and published as one release).")


def record_key(paths: DataPaths, key: str) -> bool:
    """Write the store's key check value when it has none yet; True when written."""
    path = paths.staged / KEY_CHECK_FILE
    if path.is_file():
        return False
    from transforms.files import replace_file

    replace_file(path, json.dumps({"check": key_check_value(key), "algorithm": "hmac-sha256",
                                   "label": KEY_CHECK_LABEL.decode()}))
    return True

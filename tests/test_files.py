"""transforms.files.replace_file, the one writer of small files: the old content or the new, whole;
no part left behind; writers of different (and of the same) files at once in threads and processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from transforms.files import replace_file, temporary_glob


def parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".tmp-" in p.name)


def test_text_bytes_and_a_writer_each_replace_the_file_whole(tmp_path):
    target = tmp_path / "deep" / "er" / "record.json"  # the folders are made
    assert replace_file(target, "é text") == target and target.read_text(encoding="utf-8") == "é text"
    replace_file(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    seen = []
    replace_file(target, lambda part: (seen.append(part), part.write_bytes(b"from a writer")))
    assert target.read_bytes() == b"from a writer"
    assert seen[0].parent == target.parent and seen[0].name.startswith(".record.json.tmp-")
    assert parts(target.parent) == []


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_write_that_fails_halfway_leaves_the_old_content_and_no_part(tmp_path, failure):
    target = tmp_path / "runs" / "log.jsonl"
    replace_file(target, "old\n")

    def half_then_fail(part: Path) -> None:
        part.write_text("new, but only the first ha")
        raise failure

    with pytest.raises(type(failure)):
        replace_file(target, half_then_fail)
    assert target.read_text() == "old\n" and parts(target.parent) == []


def test_a_rename_that_fails_leaves_the_old_content_and_no_part(tmp_path, monkeypatch):
    target = tmp_path / ".records.json"
    replace_file(target, "old")

    def refuse(*args):
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        replace_file(target, "new " * 10_000, durable=True)
    assert target.read_text() == "old" and parts(tmp_path) == []


def test_the_part_is_hidden_beside_the_target_under_the_name_the_clean_up_knows(tmp_path):
    """A writer killed outright leaves its part; the store's clean-up (clean_store) finds it by the
    same glob for a hidden target (.raw-hashes.json) as for a plain one."""
    from transforms.store import RAW_HASHES, clean_store

    staged = tmp_path / "staged"
    staged.mkdir()
    script = ("import os, signal, sys; from pathlib import Path; from transforms.files import replace_file\n"
              "replace_file(Path(sys.argv[1]), lambda part: (part.write_text('half'), "
              "os.kill(os.getpid(), signal.SIGKILL)))")
    killed = subprocess.run([sys.executable, "-c", script, str(staged / RAW_HASHES)],
                            cwd=Path(__file__).parent.parent, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = parts(staged)
    assert len(left) == 1 and left[0].match(temporary_glob(RAW_HASHES)) and not (staged / RAW_HASHES).exists()
    assert left[0].name.startswith(".raw-hashes.json.tmp-")  # one dot, not two
    assert clean_store(staged) == [left[0].name] and parts(staged) == []
    assert Path("x/.a.tmp-1-2").match(temporary_glob("a")) and not Path("x/a.tmp-1").match(temporary_glob("a"))


def test_threads_writing_different_files_in_one_folder_each_get_their_own(tmp_path):
    def write(n: int) -> None:
        for round_ in range(40):
            replace_file(tmp_path / f"file-{n}.json", json.dumps({"n": n, "round": round_, "pad": "x" * 5000 * n}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    for n in range(8):
        assert json.loads((tmp_path / f"file-{n}.json").read_text()) == {"n": n, "round": 39, "pad": "x" * 5000 * n}
    assert parts(tmp_path) == []


def _write_in_a_process(args: tuple[str, int]) -> None:
    folder, n = args
    for round_ in range(30):
        replace_file(Path(folder) / f"file-{n}.txt", f"{n}:{round_}")


def test_processes_writing_different_files_in_one_folder(tmp_path):
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        pool.map(_write_in_a_process, [(str(tmp_path), n) for n in range(6)])
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {f"file-{n}.txt": f"{n}:29" for n in range(6)}


def test_threads_writing_one_file_never_show_a_reader_a_mixture(tmp_path):
    """Each writer has its own part, so one rename wins whole; a reader at any moment reads one
    writer's content entire (a shared part name would mix them or lose a rename)."""
    target = tmp_path / "index.json"
    versions = {json.dumps({"writer": n, "body": str(n) * (20_000 + 997 * n)}) for n in range(6)}
    replace_file(target, next(iter(versions)))
    done = threading.Event()
    seen: set[str] = set()

    def read() -> None:
        while not done.is_set():
            seen.add(target.read_text())

    def write(text: str) -> None:
        for _ in range(30):
            replace_file(target, text)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(write, sorted(versions)))
    finally:
        done.set()
        reader.join()
    assert seen <= versions and target.read_text() in versions and parts(tmp_path) == []


def test_durable_flushes_the_part_to_disk_before_the_rename(tmp_path, monkeypatch):
    synced, replace = [], os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")))
    monkeypatch.setattr(os, "replace", lambda a, b: (synced.append("rename"), replace(a, b)))
    replace_file(tmp_path / "log.jsonl", "a line\n", durable=True)
    replace_file(tmp_path / "book.xlsx", lambda part: part.write_bytes(b"PK"), durable=True)
    assert [Path(s).name.split("-")[0] if s != "rename" else s for s in synced] == [
        ".log.jsonl.tmp", "rename", ".book.xlsx.tmp", "rename"]
    synced.clear()
    replace_file(tmp_path / "log.jsonl", "fast\n")
    assert synced == ["rename"]


def test_the_steward_report_and_the_key_check_keep_the_old_file_when_saving_fails(tmp_path):
    from openpyxl import Workbook

    from lvv.settings import DataPaths, record_key
    from transforms.steward_report import _save

    out = tmp_path / "report.xlsx"
    _save(Workbook(), out)
    before = out.read_bytes()

    class Broken(Workbook):
        def save(self, filename):
            Path(filename).write_bytes(b"PK\x03\x04 half a zip")
            raise OSError("no space left on device")

    with pytest.raises(OSError):
        _save(Broken(), out)
    assert out.read_bytes() == before and parts(tmp_path) == []
    paths = DataPaths.resolve(tmp_path / "data")
    assert record_key(paths, "a key") is True and record_key(paths, "another") is False
    assert parts(paths.staged) == [] and json.loads(next(paths.staged.iterdir()).read_text())["check"]

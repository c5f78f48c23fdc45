"""The progress store: schema, migrations, concurrent writers, kill -9, refusal messages."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kata.results import KataResult
from kata.results import TestResult
from kata.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError, open_store, store_path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _result(kata="alpha", ok=True) -> KataResult:
    status = "passed" if ok else "failed"
    return KataResult(kata=kata, target=f"exercises/{kata}.py", device="cpu",
                      tests=[TestResult("test_a", "passed"), TestResult("test_b", status)])


def test_run_is_recorded_and_read_back(tmp_path):
    with open_store(tmp_path) as store:
        store.record_run(_result(ok=False), kind="exercises", source="grade", file_sha="abc")
        row = store.last_run("alpha")
    assert (row["passed"], row["total"], row["ok"], row["first_failure"]) == (1, 2, 0, "test_b")
    assert row["file_sha"] == "abc"


def test_new_store_is_at_current_version_in_wal_mode(tmp_path):
    with open_store(tmp_path) as store:
        assert store.version() == SCHEMA_VERSION
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_old_store_is_migrated_keeping_its_rows(tmp_path):
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO reveals (at, kata, kind, level) VALUES (1, 'alpha', 'hint', 2)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.version() == SCHEMA_VERSION
        assert store.hint_level("alpha") == 2
        columns = [row[1] for row in store.db.execute("PRAGMA table_info(attempts)")]
        assert "mock" in columns


def test_newer_schema_is_refused_with_a_clear_message_and_kept(tmp_path):
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"schema version 99, newer than .*git pull"):
        Store(path)
    assert path.read_bytes() == before


def test_corrupt_store_is_refused_with_a_clear_message_and_kept(tmp_path):
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="left untouched.*mv "):
        Store(path)
    assert path.read_bytes() == b"this is not a database" * 100


WRITER = """
import sys
from pathlib import Path
from kata.results import KataResult
from kata.results import TestResult
from kata.store import open_store
root, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with open_store(root) as store:
    print("ready", flush=True)
    for i in range(count):
        result = KataResult(kata=name, target="exercises/x.py", device="cpu",
                            tests=[TestResult("t", "passed")])
        store.record_run(result, kind="exercises", source="grade")
        store.record_reveal(name, "hint", 1)
"""


def _writer(root: Path, name: str, count: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), name, str(count)],
                            env={**os.environ, "PYTHONPATH": SRC}, stdout=subprocess.PIPE,
                            text=True)


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    open_store(tmp_path).close()
    writers = [_writer(tmp_path, name, 150) for name in ("alpha", "beta")]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    with open_store(tmp_path) as store:
        assert store.count_runs("alpha") == 150 and store.count_runs("beta") == 150
        count = store.db.execute("SELECT COUNT(*) FROM reveals").fetchone()[0]
    assert count == 300


def test_store_killed_mid_write_stays_readable(tmp_path):
    writer = _writer(tmp_path, "alpha", 1_000_000)
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    with open_store(tmp_path) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.count_runs("alpha") > 0
        store.record_run(_result(), kind="exercises", source="grade")  # and still writable


# ---------------------------------------------------------------- damaged, read-only, stale


@pytest.fixture
def shared_dir():
    """A folder another user can enter (pytest's tmp_path is private to root)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="kata-store-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder)


class _AsUser:
    """Run a block as an unprivileged user when we are root (root ignores file modes)."""

    def __enter__(self):
        self.root = hasattr(os, "geteuid") and os.geteuid() == 0
        if self.root:
            os.setegid(65534)
            os.seteuid(65534)

    def __exit__(self, *exc):
        if self.root:
            os.seteuid(0)
            os.setegid(0)


def _filled_store(root: Path) -> Path:
    with open_store(root) as store:
        for i in range(300):
            store.record_run(_result(ok=i % 2 == 0), kind="exercises", source="grade",
                             file_sha="x" * 16)
        store.record_reveal("alpha", "hint", 2)
    return store_path(root)


def test_a_read_only_store_is_read_not_called_unreadable(shared_dir):
    path = _filled_store(shared_dir)
    before = path.read_bytes()
    path.chmod(0o444)
    path.parent.chmod(0o555)
    with _AsUser():
        with open_store(shared_dir) as store:  # no StoreError: the history is readable
            assert store.hint_level("alpha") == 2 and store.count_runs("alpha") == 300
            assert "read-only" in store.problem and str(path) in store.problem
            assert "chmod" in store.problem and "mv " not in store.problem
            assert "\n" not in store.problem
            store.record_run(_result(), kind="exercises", source="grade")  # kept in memory only
    assert path.read_bytes() == before


def _corrupt_one_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 6 * page
    last = len(data) // page - 2  # a page of the runs table (0-based), past its header
    data[last * page + 8: (last + 1) * page] = b"\xff" * (page - 8)
    path.write_bytes(bytes(data))


def test_a_corrupted_page_is_one_clear_error_naming_the_file(tmp_path):
    path = _filled_store(tmp_path)
    _corrupt_one_page(path)
    before = path.read_bytes()
    with pytest.raises(StoreError) as caught:
        with open_store(tmp_path) as store:
            store.record_run(_result(), kind="exercises", source="grade")
            store.ever_passed("alpha")
    message = str(caught.value)
    assert "damaged" in message and str(path) in message and "mv " in message
    assert "\n" not in message
    assert path.read_bytes() == before


@pytest.mark.parametrize("damage", ["not a database", "corrupt page", ".kata is a file"])
def test_with_fallback_a_broken_store_becomes_a_memory_store(tmp_path, damage):
    path = store_path(tmp_path)
    if damage == "not a database":
        path.parent.mkdir()
        path.write_bytes(b"garbage" * 200)
    elif damage == "corrupt page":
        _corrupt_one_page(_filled_store(tmp_path))
    else:
        path.parent.write_text("not a folder")
    with open_store(tmp_path, fallback=True) as store:
        assert store.problem and "\n" not in store.problem
        assert str(path.parent if damage == ".kata is a file" else path) in store.problem
        store.record_reveal("alpha", "hint", 1)
        assert store.hint_level("alpha") == 1


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_running_attempts_are_closed_as_abandoned_with_their_runs(tmp_path):
    now = time.time()
    with open_store(tmp_path) as store:
        killed = store.start_attempt("alpha", mode="live", minutes=15, target_minutes=15,
                                     file="practice/alpha.py", started=now - 60)
        store.db.execute("UPDATE attempts SET pid = ? WHERE id = ?", (_dead_pid(), killed))
        for _ in range(2):
            store.record_run(_result(ok=False), kind="practice", source="practice",
                             attempt=killed)
        alive = store.start_attempt("alpha", mode="live", minutes=15, target_minutes=15,
                                    file="practice/alpha.py", started=now - 30)
        old = store.start_attempt("beta", mode="blind", minutes=5, target_minutes=5,
                                  file="practice/beta.py", started=now - 3 * 3600)
        store.db.execute("UPDATE attempts SET pid = NULL, host = NULL WHERE id = ?", (old,))
        recent = store.start_attempt("beta", mode="blind", minutes=5, target_minutes=5,
                                     file="practice/beta.py", started=now - 60)
        store.db.execute("UPDATE attempts SET pid = NULL, host = NULL WHERE id = ?", (recent,))
    with open_store(tmp_path) as store:
        attempts = {a.id: a for a in store.attempts()}
    assert attempts[killed].outcome == "abandoned" and attempts[killed].runs == 2
    assert attempts[killed].ended is not None and (attempts[killed].passed,
                                                   attempts[killed].total) == (1, 2)
    assert attempts[alive].outcome == "running"  # this process is alive
    assert attempts[old].outcome == "abandoned"  # past twice its clock: no session lasts that
    assert attempts[recent].outcome == "running"  # no pid to check, and still within its time


def test_a_partial_run_is_recorded_but_never_passing(tmp_path):
    partial = _result(ok=True)
    partial.complete = False
    with open_store(tmp_path) as store:
        store.record_run(partial, kind="exercises", source="grade")
        row = store.last_run("alpha")
        assert (row["ok"], row["complete"]) == (0, 0)
        assert not store.ever_passed("alpha")
        assert store.last_run("alpha", complete_only=True) is None

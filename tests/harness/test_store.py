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

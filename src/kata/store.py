"""The progress store: every graded run, hint reveal and practice attempt, in SQLite.

Lives at `.kata/progress.db` (git-ignored). WAL mode with a busy timeout, so two processes
writing at once (a `kata watch` and a `kata grade` in another terminal) both get their rows in;
every write is one short transaction, so a process killed mid-write leaves the last committed
state readable. The schema is versioned (`PRAGMA user_version`) and migrated forward on open.
A file that is not a store, or one written by a newer harness, raises StoreError with a message
that says what to do; the file itself is never deleted or rewritten.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 2
# Each migration takes the store from version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, kata TEXT NOT NULL,
        kind TEXT NOT NULL,        -- exercises | solutions | practice | other
        target TEXT NOT NULL, source TEXT NOT NULL,  -- grade | watch | practice | mock
        device TEXT, passed INTEGER, total INTEGER, ok INTEGER, not_started INTEGER,
        duration REAL, first_failure TEXT, diagnosis TEXT, crashed TEXT, file_sha TEXT,
        attempt INTEGER
    );
    CREATE INDEX runs_by_kata ON runs (kata, kind, at);
    CREATE TABLE reveals (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, kata TEXT NOT NULL,
        kind TEXT NOT NULL,        -- hint | solution
        level INTEGER NOT NULL
    );
    CREATE INDEX reveals_by_kata ON reveals (kata, at);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY, kata TEXT NOT NULL, started REAL NOT NULL, ended REAL,
        mode TEXT NOT NULL,        -- live (graded on save) | blind
        minutes REAL NOT NULL, target_minutes REAL NOT NULL, file TEXT NOT NULL,
        outcome TEXT NOT NULL,     -- running | passed | failed | abandoned
        time_to_green REAL, runs INTEGER NOT NULL DEFAULT 0, hints INTEGER NOT NULL DEFAULT 0,
        inside_target INTEGER NOT NULL DEFAULT 0, passed INTEGER, total INTEGER
    );
    CREATE INDEX attempts_by_kata ON attempts (kata, started);
    """,
    # v2: attempts made inside one `kata mock` interview share its id.
    "ALTER TABLE attempts ADD COLUMN mock INTEGER;",
)
assert len(MIGRATIONS) == SCHEMA_VERSION


class StoreError(RuntimeError):
    """The store cannot be used; the message names the file and the way out."""


@dataclass(frozen=True)
class Attempt:
    id: int
    kata: str
    started: float
    ended: float | None
    mode: str
    minutes: float
    target_minutes: float
    file: str
    outcome: str
    time_to_green: float | None
    runs: int
    hints: int
    inside_target: bool
    passed: int | None
    total: int | None
    mock: int | None


def store_path(root: Path) -> Path:
    return root / ".kata" / "progress.db"


def file_sha(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


class Store:
    """A connection to the progress store. Use as a context manager or call close()."""

    def __init__(self, path: Path, clock=time.time) -> None:
        self.path = path
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(self._unreadable(error)) from None
        try:
            self.db.execute("PRAGMA busy_timeout = 30000")
            self._refuse_newer(self.version())  # before anything could write to the file
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise StoreError(self._unreadable(error)) from None
        except StoreError:
            self.db.close()
            raise

    # ------------------------------------------------------------ schema

    def _unreadable(self, error: Exception) -> str:
        return (f"the progress store {self.path} cannot be read ({error}). It was left untouched. "
                f"To start a fresh history, move it aside: mv {self.path} {self.path}.bad")

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the progress store {self.path} has schema version {version}, newer than "
                f"this harness understands ({SCHEMA_VERSION}); it was written by a newer "
                "version of LLM Katas. Update this checkout (git pull), or move the file "
                "aside to start a fresh history. It was left untouched.")

    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.version() == SCHEMA_VERSION:
            return
        self.db.execute("BEGIN IMMEDIATE")  # one migrator at a time; re-read inside the lock
        try:
            current = self.version()
            self._refuse_newer(current)
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, sql: str, params: tuple) -> int:
        cursor = self.db.execute(sql, params)  # autocommit: one statement, one transaction
        return int(cursor.lastrowid or 0)

    # ------------------------------------------------------------ runs

    def record_run(self, result, *, kind: str, source: str, file_sha: str = "",
                   attempt: int | None = None) -> int:
        """Record one graded run (a `kata.results.KataResult`)."""
        first = result.first_failure
        return self._write(
            "INSERT INTO runs (at, kata, kind, target, source, device, passed, total, ok, "
            "not_started, duration, first_failure, diagnosis, crashed, file_sha, attempt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.clock(), result.kata, kind, result.target, source, result.device,
             result.passed, result.graded, int(result.ok), int(result.not_started),
             result.duration, first.name if first else "", result.diagnosis, result.crashed,
             file_sha, attempt))

    def last_run(self, kata: str, kind: str = "exercises") -> sqlite3.Row | None:
        cursor = self.db.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute("SELECT * FROM runs WHERE kata = ? AND kind = ? "
                               "ORDER BY at DESC, id DESC LIMIT 1", (kata, kind)).fetchone()

    def ever_passed(self, kata: str) -> bool:
        row = self.db.execute("SELECT 1 FROM runs WHERE kata = ? AND ok = 1 AND kind IN "
                              "('exercises', 'practice', 'other') LIMIT 1", (kata,)).fetchone()
        return row is not None

    def count_runs(self, kata: str | None = None) -> int:
        if kata is None:
            return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM runs WHERE kata = ?",
                                   (kata,)).fetchone()[0])

    # ------------------------------------------------------------ reveals

    def record_reveal(self, kata: str, kind: str, level: int) -> None:
        self._write("INSERT INTO reveals (at, kata, kind, level) VALUES (?, ?, ?, ?)",
                    (self.clock(), kata, kind, level))

    def hint_level(self, kata: str) -> int:
        """The highest hint level revealed so far (0 for none)."""
        row = self.db.execute("SELECT MAX(level) FROM reveals WHERE kata = ? AND kind = 'hint'",
                              (kata,)).fetchone()
        return int(row[0] or 0)

    def solution_revealed(self, kata: str) -> bool:
        return self.db.execute("SELECT 1 FROM reveals WHERE kata = ? AND kind = 'solution'",
                               (kata,)).fetchone() is not None

    def reveals_between(self, kata: str, start: float, end: float) -> int:
        return int(self.db.execute(
            "SELECT COUNT(*) FROM reveals WHERE kata = ? AND at >= ? AND at <= ?",
            (kata, start, end)).fetchone()[0])

    # ------------------------------------------------------------ attempts

    def start_attempt(self, kata: str, *, mode: str, minutes: float, target_minutes: float,
                      file: str, started: float, mock: int | None = None) -> int:
        return self._write(
            "INSERT INTO attempts (kata, started, mode, minutes, target_minutes, file, outcome, "
            "mock) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
            (kata, started, mode, minutes, target_minutes, file, mock))

    def finish_attempt(self, attempt: int, *, ended: float, outcome: str,
                       time_to_green: float | None, runs: int, hints: int, inside_target: bool,
                       passed: int | None, total: int | None) -> None:
        self._write(
            "UPDATE attempts SET ended = ?, outcome = ?, time_to_green = ?, runs = ?, hints = ?, "
            "inside_target = ?, passed = ?, total = ? WHERE id = ?",
            (ended, outcome, time_to_green, runs, hints, int(inside_target), passed, total,
             attempt))

    def attempts(self, kata: str | None = None) -> list[Attempt]:
        sql = ("SELECT id, kata, started, ended, mode, minutes, target_minutes, file, outcome, "
               "time_to_green, runs, hints, inside_target, passed, total, mock FROM attempts")
        rows = (self.db.execute(sql + " WHERE kata = ? ORDER BY started, id", (kata,))
                if kata else self.db.execute(sql + " ORDER BY started, id"))
        return [Attempt(*row[:12], bool(row[12]), *row[13:]) for row in rows]

    def next_mock_id(self) -> int:
        row = self.db.execute("SELECT MAX(mock) FROM attempts").fetchone()
        return int(row[0] or 0) + 1


def open_store(root: Path, clock=time.time) -> Store:
    return Store(store_path(root), clock=clock)

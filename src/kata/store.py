"""The progress store: every graded run, hint reveal and practice attempt, in SQLite.

Lives at `.kata/progress.db` (git-ignored). WAL mode with a busy timeout, so two processes
writing at once (a `kata watch` and a `kata grade` in another terminal) both get their rows in;
every write is one short transaction, so a process killed mid-write leaves the last committed
state readable. The schema is versioned (`PRAGMA user_version`) and migrated forward on open.

A store that cannot be used is never deleted or rewritten, and every problem is one line that
names the file and a safe way out (`StoreError`):
- read-only (the file or `.kata/`): its history is read into memory and used as it is; what
  this process records is kept in memory only, and `Store.problem` says so (not an error);
- damaged (not a database, a corrupted page: `PRAGMA quick_check` on open), or written by a
  newer harness: StoreError, or with `open_store(..., fallback=True)` an empty in-memory store
  whose `problem` says why, so hints, practice and watch work without a store.
Any SQLite error later on is raised as StoreError too, never as a traceback.

Practice attempts left `running` by a session that was killed (kill -9, a closed terminal) are
closed as `abandoned` the next time the store is opened for writing, keeping the runs they
recorded. An attempt is stale when the process that started it is gone (its pid, checked only
on the same host, POSIX only) or when twice its clock plus 15 minutes have passed since it
started: a practice session ends itself by then (overtime is capped at the clock's length and
a grade at 300 s), which also covers pid reuse, Windows and rows from before pids were kept.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 3
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
        kind TEXT NOT NULL,        -- hint | solution | hint_reset (level 0)
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
    # v3: whether a run graded the whole kata (NULL: recorded before this was kept; counted as
    # whole); the process and host that started an attempt (stale attempts are closed).
    """
    ALTER TABLE runs ADD COLUMN complete INTEGER;
    ALTER TABLE attempts ADD COLUMN pid INTEGER;
    ALTER TABLE attempts ADD COLUMN host TEXT;
    """,
)
# A running attempt whose process is unknown is stale this long after its clock ran out twice.
STALE_GRACE = 15 * 60
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


def _sqlite_code(error: BaseException) -> str:
    return getattr(error, "sqlite_errorname", "") or ""


def _guarded(method):
    """Raise any SQLite error of a store method as one clear StoreError."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise StoreError(self.explain(error)) from None

    return wrapper


class Store:
    """A connection to the progress store. Use as a context manager or call close().

    `problem` is "" for a healthy store; otherwise one line saying why what is recorded now is
    not kept (a read-only store read into memory, or the empty fallback of a broken one).
    """

    def __init__(self, path: Path, clock=time.time) -> None:
        self.path = path
        self.clock = clock
        self.problem = ""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(self.explain(error)) from None
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(self.explain(error)) from None
        try:
            self.db.execute("PRAGMA busy_timeout = 30000")
            self._refuse_newer(self.version())  # before anything could write to the file
            self._check_pages()
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
            self.close_stale_attempts()
        except sqlite3.Error as error:
            self.db.close()
            if not self._read_only(error):
                raise StoreError(self.explain(error)) from None
            self._read_into_memory(error)
        except StoreError:
            self.db.close()
            raise

    @classmethod
    def in_memory(cls, path: Path, problem: str, clock=time.time) -> Store:
        """An empty store that keeps nothing, standing in for the broken one at `path`."""
        store = cls.__new__(cls)
        store.path, store.clock, store.problem = path, clock, problem
        store.db = sqlite3.connect(":memory:", isolation_level=None)
        store._migrate()
        return store

    # ------------------------------------------------------------ problems

    def explain(self, error: BaseException) -> str:
        """One line: what is wrong with the store, and a safe way out."""
        code = _sqlite_code(error)
        if isinstance(error, FileExistsError | NotADirectoryError):
            folder = self.path.parent
            return (f"{folder} is not a folder, so progress cannot be recorded; grading works "
                    f"without it. Move it aside to record again: mv {folder} {folder}.bad")
        if isinstance(error, OSError) or self._read_only(error):
            return self._read_only_message(str(error))
        if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(error):
            return (f"the progress store {self.path} is damaged ({error}); it was left "
                    "untouched and grading works without it. To start a fresh history and keep "
                    f"the old file: mv {self.path} {self.path}.bad")
        return (f"the progress store {self.path} cannot be used ({error}); it was left "
                f"untouched. If this persists, move it aside: mv {self.path} {self.path}.bad")

    def _read_only_message(self, detail: str) -> str:
        return (f"the progress store {self.path} is read-only here ({detail}): its history "
                "is intact, but nothing new is kept. To record again, make it writable: "
                f"chmod u+w {self.path.parent} {self.path}")

    @staticmethod
    def _read_only(error: BaseException) -> bool:
        code = _sqlite_code(error)
        return (code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"))
                or "readonly" in str(error))

    def _read_into_memory(self, error: sqlite3.Error) -> None:
        """A store we may not write: copy its history into memory (read-only, or immutable)."""
        source = None
        for query in ("mode=ro", "immutable=1"):
            try:
                source = sqlite3.connect(f"{self.path.resolve().as_uri()}?{query}", uri=True)
                self._refuse_newer(int(source.execute("PRAGMA user_version").fetchone()[0]))
                source.execute("PRAGMA quick_check(1)").fetchone()
                break
            except sqlite3.Error:
                source.close()
                source = None
            except StoreError:
                source.close()
                raise
        if source is None:
            raise StoreError(self._read_only_message(str(error))) from None
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        try:
            source.backup(self.db)
        finally:
            source.close()
        self._migrate()
        self.problem = self._read_only_message(str(error))

    def _check_pages(self) -> None:
        """A damaged page fails here, with one message, not later in the middle of a write."""
        if not self.path.exists() or not self.path.stat().st_size:
            return
        verdict = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if verdict != "ok":
            raise StoreError(
                f"the progress store {self.path} is damaged (SQLite's integrity check "
                "failed); it was left "
                "untouched and grading works without it. To start a fresh history and keep "
                f"the old file: mv {self.path} {self.path}.bad")

    # ------------------------------------------------------------ schema

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

    @_guarded
    def record_run(self, result, *, kind: str, source: str, file_sha: str = "",
                   attempt: int | None = None) -> int:
        """Record one graded run (a `kata.results.KataResult`); a partial run is never ok."""
        first = result.first_failure
        return self._write(
            "INSERT INTO runs (at, kata, kind, target, source, device, passed, total, ok, "
            "not_started, duration, first_failure, diagnosis, crashed, file_sha, attempt, "
            "complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.clock(), result.kata, kind, result.target, source, result.device,
             result.passed, result.graded, int(result.ok), int(result.not_started),
             result.duration, first.name if first else "", result.diagnosis, result.crashed,
             file_sha, attempt, int(getattr(result, "complete", True))))

    @_guarded
    def last_run(self, kata: str, kind: str = "exercises",
                 complete_only: bool = False) -> sqlite3.Row | None:
        """The latest run; with `complete_only`, the latest that graded the whole kata."""
        cursor = self.db.cursor()
        cursor.row_factory = sqlite3.Row
        whole = " AND complete IS NOT 0" if complete_only else ""
        return cursor.execute(f"SELECT * FROM runs WHERE kata = ? AND kind = ?{whole} "
                               "ORDER BY at DESC, id DESC LIMIT 1", (kata, kind)).fetchone()

    @_guarded
    def ever_passed(self, kata: str) -> bool:
        row = self.db.execute("SELECT 1 FROM runs WHERE kata = ? AND ok = 1 AND kind IN "
                              "('exercises', 'practice', 'other') LIMIT 1", (kata,)).fetchone()
        return row is not None

    @_guarded
    def count_runs(self, kata: str | None = None) -> int:
        if kata is None:
            return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM runs WHERE kata = ?",
                                   (kata,)).fetchone()[0])

    # ------------------------------------------------------------ reveals

    @_guarded
    def record_reveal(self, kata: str, kind: str, level: int) -> None:
        self._write("INSERT INTO reveals (at, kata, kind, level) VALUES (?, ?, ?, ?)",
                    (self.clock(), kata, kind, level))

    @_guarded
    def hint_level(self, kata: str) -> int:
        """The highest hint level revealed so far (0 for none)."""
        row = self.db.execute(
            "SELECT MAX(level) FROM reveals WHERE kata = ? AND kind = 'hint' AND at > "
            "COALESCE((SELECT MAX(at) FROM reveals WHERE kata = ? AND kind = 'hint_reset'), -1)",
            (kata, kata)).fetchone()
        return int(row[0] or 0)

    @_guarded
    def hints_were_reset(self, kata: str) -> bool:
        return self.db.execute("SELECT 1 FROM reveals WHERE kata = ? AND kind = 'hint_reset'",
                               (kata,)).fetchone() is not None

    @_guarded
    def solution_revealed(self, kata: str) -> bool:
        return self.db.execute("SELECT 1 FROM reveals WHERE kata = ? AND kind = 'solution'",
                               (kata,)).fetchone() is not None

    @_guarded
    def reveals_between(self, kata: str, start: float, end: float) -> int:
        return int(self.db.execute(
            "SELECT COUNT(*) FROM reveals WHERE kata = ? AND at >= ? AND at <= ? "
            "AND kind != 'hint_reset'",
            (kata, start, end)).fetchone()[0])

    # ------------------------------------------------------------ attempts

    @_guarded
    def start_attempt(self, kata: str, *, mode: str, minutes: float, target_minutes: float,
                      file: str, started: float, mock: int | None = None) -> int:
        return self._write(
            "INSERT INTO attempts (kata, started, mode, minutes, target_minutes, file, outcome, "
            "mock, pid, host) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
            (kata, started, mode, minutes, target_minutes, file, mock, os.getpid(),
             socket.gethostname()))

    @_guarded
    def finish_attempt(self, attempt: int, *, ended: float, outcome: str,
                       time_to_green: float | None, runs: int, hints: int, inside_target: bool,
                       passed: int | None, total: int | None) -> None:
        self._write(
            "UPDATE attempts SET ended = ?, outcome = ?, time_to_green = ?, runs = ?, hints = ?, "
            "inside_target = ?, passed = ?, total = ? WHERE id = ?",
            (ended, outcome, time_to_green, runs, hints, int(inside_target), passed, total,
             attempt))

    @_guarded
    def close_stale_attempts(self) -> int:
        """Close `running` attempts whose session is gone as abandoned; how many were closed."""
        now, host = self.clock(), socket.gethostname()
        rows = self.db.execute("SELECT id, kata, started, minutes, pid, host FROM attempts "
                               "WHERE outcome = 'running'").fetchall()
        closed = 0
        for attempt, kata, started, minutes, pid, where in rows:
            expired = now > started + 2 * minutes * 60 + STALE_GRACE
            if not expired and not (pid and where == host and not _alive(pid)):
                continue
            runs, last = self.db.execute(
                "SELECT COUNT(*), MAX(at) FROM runs WHERE attempt = ?", (attempt,)).fetchone()
            final = self.db.execute("SELECT passed, total FROM runs WHERE attempt = ? "
                                    "ORDER BY at DESC, id DESC LIMIT 1", (attempt,)).fetchone()
            ended = max(started, last or started)
            hints = self.db.execute("SELECT COUNT(*) FROM reveals WHERE kata = ? AND at >= ? "
                                    "AND at <= ?", (kata, started, ended)).fetchone()[0]
            self.db.execute(
                "UPDATE attempts SET ended = ?, outcome = 'abandoned', runs = ?, hints = ?, "
                "passed = ?, total = ? WHERE id = ? AND outcome = 'running'",
                (ended, runs, hints, *(final or (None, None)), attempt))
            closed += 1
        return closed

    @_guarded
    def attempts(self, kata: str | None = None) -> list[Attempt]:
        sql = ("SELECT id, kata, started, ended, mode, minutes, target_minutes, file, outcome, "
               "time_to_green, runs, hints, inside_target, passed, total, mock FROM attempts")
        rows = (self.db.execute(sql + " WHERE kata = ? ORDER BY started, id", (kata,))
                if kata else self.db.execute(sql + " ORDER BY started, id"))
        return [Attempt(*row[:12], bool(row[12]), *row[13:]) for row in rows]

    @_guarded
    def next_mock_id(self) -> int:
        row = self.db.execute("SELECT MAX(mock) FROM attempts").fetchone()
        return int(row[0] or 0) + 1


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (POSIX; elsewhere assume it does: the time rule decides)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def open_store(root: Path, clock=time.time, fallback: bool = False) -> Store:
    """The store under `root`; with `fallback`, a broken one is replaced by an empty in-memory
    store whose `problem` says why (for hints and the loops, which work without history)."""
    try:
        return Store(store_path(root), clock=clock)
    except StoreError as error:
        if not fallback:
            raise
        return Store.in_memory(store_path(root), str(error), clock=clock)

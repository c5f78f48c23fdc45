"""The learner's files: fresh stubs, backups, reset and restore. Nothing is overwritten unsaved.

Before a learner's file is replaced, a copy goes to `.kata/backups/<id>/<time>-<role>.py`
(role: `exercises` or `practice`). A file identical to the generated stub holds no work and is
not backed up.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from kata.catalog import Kata
from kata.stubgen import stub_for


class WorkspaceError(RuntimeError):
    """A file operation the learner asked for cannot be done; the message says why."""


@dataclass(frozen=True)
class Replaced:
    path: Path  # the file now holding a fresh stub (or the restored copy)
    backup: Path | None  # where the previous content went, if it held work


def backups_dir(kata: Kata) -> Path:
    return kata.root / ".kata" / "backups" / kata.id


def backup(kata: Kata, path: Path, role: str) -> Path | None:
    """Copy `path` under `.kata/backups/` unless it is missing or is the untouched stub."""
    if not path.is_file():
        return None
    if path.read_text(encoding="utf-8") == stub_for(kata.solution, kata.id):
        return None
    folder = backups_dir(kata)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"{stamp}-{role}.py"
    counter = 1
    while target.exists():
        counter += 1
        target = folder / f"{stamp}.{counter}-{role}.py"
    shutil.copy2(path, target)
    return target


def fresh_stub(kata: Kata, path: Path, role: str) -> Replaced:
    """Write the generated stub to `path`, backing up what was there."""
    saved = backup(kata, path, role)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stub_for(kata.solution, kata.id), encoding="utf-8")
    return Replaced(path, saved)


def practice_path(kata: Kata) -> Path:
    return kata.root / "practice" / f"{kata.id}.py"


def reset(kata: Kata) -> Replaced:
    """`kata reset <id>`: back up exercises/<id>.py, then write the stub again."""
    return fresh_stub(kata, kata.exercise, "exercises")


def latest_backup(kata: Kata, role: str) -> Path | None:
    found = sorted(backups_dir(kata).glob(f"*-{role}.py"), key=lambda p: p.stat().st_mtime_ns)
    return found[-1] if found else None


def restore(kata: Kata, role: str = "exercises") -> Replaced:
    """`kata restore <id>`: bring the newest backup back (backing up the current file first)."""
    source = latest_backup(kata, role)
    if source is None:
        raise WorkspaceError(f"no backup of {role}/{kata.id}.py in {backups_dir(kata)}; "
                             f"`nox -s reset -- {kata.id}` and `nox -s practice -- {kata.id}` make them")
    target = kata.exercise if role == "exercises" else practice_path(kata)
    content = source.read_bytes()
    saved = None
    if target.is_file() and target.read_bytes() != content:
        saved = backup(kata, target, role)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    if saved is not None:  # keep `restore` pointing at the older copy it just brought back
        source.touch()
    return Replaced(target, saved)

"""The learner's files: fresh stubs, backups, reset, restore and updating the repo.

Nothing is overwritten unsaved. Before a learner's file is replaced, a copy goes to
`.kata/backups/<id>/<time>-<role>.py` (role: `exercises` or `practice`). A file identical to
the generated stub holds no work and is not backed up. `update` pulls a newer version of the
repo around the learner's edited exercises (backed up first, then written back).
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
    return _copy_into(path, backups_dir(kata), role)


def _copy_into(path: Path, folder: Path, role: str) -> Path:
    """Copy `path` to `folder/<timestamp>-<role>.py` (a counter keeps same-second copies apart)."""
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


# ---------------------------------------------------------------- updating the repo


@dataclass
class Update:
    """What `kata update` did: kept learner files, new katas, stubs that changed upstream."""

    kept: list[str]  # exercises/<id>.py files put back as the learner left them
    backups: list[str]  # where each was saved first (.kata/backups/...)
    new_katas: list[str]
    stub_changed: list[str]  # katas whose stub changed upstream while the learner's file is kept
    pulled: str  # git's one-line summary ("Already up to date." or the range)


def _git(root: Path, *args: str, check: bool = True):
    import subprocess

    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise WorkspaceError(f"git {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")
    return done


def _catalog_ids(root: Path) -> set[str]:
    from kata.catalog import load_catalog

    try:
        return {kata.id for kata in load_catalog(root)}
    except Exception:
        return set()


def update(root: Path, pull: tuple[str, ...] = ("pull", "--ff-only")) -> Update:
    """`kata update`: bring a newer version of the repo without losing a learner file.

    Learner work lives in tracked files (`exercises/*.py`), so a plain `git pull` conflicts
    with it. This saves every changed exercise under `.kata/backups/<id>/` (where
    `kata restore` finds it), puts the committed stubs back, pulls (fast-forward only), then
    writes each learner file back. Progress (`.kata/`) and `practice/` are git-ignored and
    untouched. Any other local change to a tracked file stops the update before anything is
    touched (the learner decides: commit or `git stash` it). If the pull fails, the learner
    files are written back all the same.
    """
    if _git(root, "rev-parse", "--is-inside-work-tree", check=False).returncode != 0:
        raise WorkspaceError(f"{root} is not a git clone; download the new version instead")
    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=no").stdout
    changed = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
    others = [path for path in changed if not (path.startswith("exercises/")
                                               and path.endswith(".py") and "/" not in path[10:])]
    if others:
        raise WorkspaceError(
            "these tracked files have local changes that are not exercises: "
            f"{', '.join(sorted(others))}. Commit them or `git stash` them, then update again; "
            "nothing was changed")
    before = _catalog_ids(root)
    head = _git(root, "rev-parse", "HEAD").stdout.strip()
    saved: dict[str, bytes] = {}
    backups: list[str] = []
    for path in changed:
        file = root / path
        if not file.is_file():
            continue  # a deleted stub: the pull brings it back
        saved[path] = file.read_bytes()
        target = _copy_into(file, root / ".kata" / "backups" / Path(path).stem, "exercises")
        backups.append(str(target.relative_to(root)))
    try:
        if changed:
            _git(root, "checkout", "--", *changed)
        pulled = _git(root, *pull).stdout.strip().splitlines()
    finally:
        for path, content in saved.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content)
    now = _git(root, "rev-parse", "HEAD").stdout.strip()
    stub_changed = []
    if now != head and saved:
        diff = _git(root, "diff", "--name-only", head, now, "--", *saved).stdout.split()
        stub_changed = sorted(Path(path).stem for path in diff)
    return Update(kept=sorted(saved), backups=backups,
                  new_katas=sorted(_catalog_ids(root) - before), stub_changed=stub_changed,
                  pulled=pulled[-1] if pulled else "")

"""Which file is graded (`--target`), and loading it as a module."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from kata.catalog import Kata

NAMED_TARGETS = ("exercises", "solutions", "practice")


class TargetError(ValueError):
    """`--target` names nothing that exists; the message says what to pass instead."""


class TargetImportError(Exception):
    """The learner's module could not be imported (syntax error, exception at import time)."""


def resolve_target(target: str, kata: Kata, cwd: Path | None = None) -> Path:
    """The file to grade for `kata`.

    `target` is `exercises` (default), `solutions`, `practice`, a path to a .py file, or a
    path to a folder laid out like `exercises/` (then `<folder>/<id>.py`).
    """
    if target in NAMED_TARGETS:
        path = kata.root / target / f"{kata.id}.py"
        if not path.is_file():
            hint = (f" Start a practice copy with: nox -s practice -- {kata.id}"
                    if target == "practice" else "")
            raise TargetError(f"--target {target}: {path} does not exist.{hint}")
        return path
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    if path.is_dir():
        path = path / f"{kata.id}.py"
        if not path.is_file():
            raise TargetError(f"--target {target}: the folder has no {kata.id}.py")
        return path
    if not path.is_file():
        raise TargetError(
            f"--target {target}: no such file or folder. Use exercises, solutions, practice, "
            "a .py file, or a folder laid out like exercises/")
    if path.suffix != ".py":
        raise TargetError(f"--target {target}: expected a .py file")
    return path


def load_module(path: Path, name: str, keep: bool = True) -> types.ModuleType:
    """Import `path` afresh as module `name` (replacing any earlier module of that name).

    The module is in `sys.modules` while it executes (dataclasses and typing look classes'
    modules up there); with `keep=False` it is taken out again afterwards.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        # Compile the source every time: a cached .pyc is keyed on the file's mtime in whole
        # seconds and its size, so two quick saves of the same length would run stale code.
        source = path.read_bytes()
        exec(compile(source, str(path), "exec"), module.__dict__)
    except SyntaxError as error:
        del sys.modules[name]
        raise TargetImportError(
            f"{path}:{error.lineno}: syntax error: {error.msg}. Fix it and grade again") from None
    except Exception as error:
        del sys.modules[name]
        raise TargetImportError(f"importing {path} raised {type(error).__name__}: {error}") from error
    if not keep:
        del sys.modules[name]
    return module

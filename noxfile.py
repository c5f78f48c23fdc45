"""LLM Katas: `nox -s <kata>` grades exercises/<kata>.py; `nox -s hint -- <kata>` gives hints.

Learner loop: practice, watch, progress, stats, mock, reset, restore, solution.
"""

# nox cannot share one virtualenv across sessions, so this file owns a single `.venv` and every
# session runs with python=False against it. A stamp file (hash of the dependency groups, the
# torch choice and the Python version) skips reinstalling; a file lock guards parallel runs.
#
# Choose torch with KATA_TORCH (nox rejects unknown command-line options):
#   cpu     (default) torch==2.13.0; set KATA_TORCH_INDEX=https://download.pytorch.org/whl/cpu
#           where your package index serves the multi-GB CUDA build for plain torch
#   cuda    torch==2.13.0 from KATA_TORCH_INDEX or your default index (a CUDA build on Linux)
#   system  reuse the torch already installed for this Python (--system-site-packages)

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".kata-stamp"
TORCH_VERSION = "2.13.0"
TORCH_CHOICES = ("cpu", "cuda", "system")

LEARNER: set[str] = set()  # sessions whose output is the kata CLI's alone (filled below)
QUIET_CODES = {1, 130}  # a failing verdict, Ctrl-C: the kata command has said everything


class _LearnerView(logging.Filter):
    """Keep nox's own lines out of a learner's screen.

    A learner session prints what the kata command prints and nothing else: no "Running
    session", no command echo, no "was successful", and, when the command exits 1 (a failing
    grade) or 130 (Ctrl-C), no red "Command ... failed" / "Session ... failed" either. The exit
    status stays non-zero, so scripts and CI still see a failing grade. Any other failure
    (building .venv, exit 2 on a usage error) keeps nox's messages. Every session runs with
    python=False, so nox's probe for the uv binary is noise too.
    """

    def __init__(self) -> None:
        super().__init__()
        self.quiet_failure = False

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text == "uv binary not found.":
            return False
        if match := re.fullmatch(r"Running session (\S+)", text):
            return match[1] not in LEARNER
        if match := re.fullmatch(r"Session (\S+) was successful.*", text, re.S):
            return match[1] not in LEARNER
        if match := re.fullmatch(r"Command .* -m kata \S+.* failed with exit code (-?\d+).*",
                                 text, re.S):
            self.quiet_failure = int(match[1]) in QUIET_CODES
            return not self.quiet_failure
        if match := re.fullmatch(r"Session (\S+) failed\.", text):
            return not (match[1] in LEARNER and self.quiet_failure)
        return True


logging.getLogger("nox").addFilter(_LearnerView())
nox.options.sessions = ["list"]  # a bare `nox` shows the catalog
nox.options.error_on_missing_interpreters = False


def _groups(pyproject: dict, name: str) -> list[str]:
    requirements = []
    for item in pyproject.get("dependency-groups", {}).get(name, []):
        if isinstance(item, dict):
            requirements += _groups(pyproject, item["include-group"])
        else:
            requirements.append(item)
    return requirements


def _plan(extra: tuple[str, ...] = ()) -> tuple[str, list[str], str]:
    choice = os.environ.get("KATA_TORCH", "cpu")
    if choice not in TORCH_CHOICES:
        raise SystemExit(f"KATA_TORCH={choice!r}: use one of {', '.join(TORCH_CHOICES)}")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [*pyproject["project"]["dependencies"], *_groups(pyproject, "test"), *extra]
    key = json.dumps([choice, os.environ.get("KATA_TORCH_INDEX", ""), requirements,
                      sys.version_info[:2], TORCH_VERSION])
    return choice, requirements, hashlib.sha256(key.encode()).hexdigest()


def _pip(session: nox.Session, python: Path, *args: str) -> None:
    # No command echo: the learner sees "setting up .venv", then the verdict; a failing pip
    # still gets nox's "Command ... failed" with pip's own error above it.
    session.run(str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args,
                external=True, log=False)


def venv_command(venv: Path = VENV, system_site_packages: bool = False) -> list[str]:
    """Create `venv` with virtualenv, which nox itself depends on.

    Not `python -m venv`: on Debian/Ubuntu that needs the separate python3-venv package
    (ensurepip), while virtualenv ships its own pip, so `pipx run nox` / `uvx nox` work on a
    bare system Python.
    """
    command = [sys.executable, "-m", "virtualenv", "--clear", "--quiet", "--no-periodic-update"]
    if system_site_packages:
        command.append("--system-site-packages")
    return [*command, str(venv)]


def _ensure(session: nox.Session, venv: Path, extra: tuple[str, ...] = ()) -> Path:
    """Create or refresh `venv` when its stamp is stale; its Python."""
    from filelock import FileLock  # ships with nox (through virtualenv)

    python = venv / PYTHON.relative_to(VENV)
    stamp = venv / STAMP.name
    choice, requirements, digest = _plan(extra)
    with FileLock(str(venv.with_name(venv.name + ".lock"))):
        if stamp.exists() and stamp.read_text().strip() == digest and python.exists():
            return python
        session.log(f"setting up {venv.name} (torch: {choice}); this happens once")
        subprocess.run(venv_command(venv, choice == "system"), check=True)
        if choice != "system":  # torch first and pinned, so nothing after it pulls CUDA wheels
            index = os.environ.get("KATA_TORCH_INDEX")
            _pip(session, python, f"torch=={TORCH_VERSION}",
                 *(["--index-url", index] if index else []))
        _pip(session, python, *requirements, "setuptools>=69")
        _pip(session, python, "--no-deps", "--no-build-isolation", "-e", str(ROOT))
        stamp.write_text(digest)
    return python


def ensure_env(session: nox.Session) -> None:
    """Create or refresh the shared .venv when its stamp is stale."""
    _ensure(session, VENV)


def kata(session: nox.Session, *args: str, success_codes=(0,)) -> None:
    ensure_env(session)
    session.run(str(PYTHON), "-m", "kata", *args, external=True, success_codes=list(success_codes),
                log=False)


def _catalog() -> list[dict]:
    try:
        return tomllib.loads((ROOT / "kata.toml").read_text(encoding="utf-8")).get("kata", [])
    except (OSError, tomllib.TOMLDecodeError):
        return []  # `nox -s tests` reports the broken catalog with a proper message


def _register(entry: dict) -> None:
    kata_id = entry["id"]

    def grade(session: nox.Session) -> None:
        kata(session, "grade", kata_id, "--", *session.posargs)

    grade.__doc__ = entry.get("title", kata_id)
    nox.session(name=kata_id, python=False)(grade)
    LEARNER.add(kata_id)


RESERVED = {"tests", "hint", "env", "bench", "practice", "progress", "watch", "mock", "list",
            "stats", "reset", "restore", "solution", "grade", "verify", "sync", "lint", "task",
            "update"}
for _entry in _catalog():
    if isinstance(_entry.get("id"), str) and _entry["id"] not in RESERVED:
        _register(_entry)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The project's own checks: harness unit tests, then verify of every kata."""
    ensure_env(session)
    session.run(str(PYTHON), "-m", "pytest", "tests/harness", "-q", *session.posargs,
                external=True)
    session.run(str(PYTHON), "-m", "kata", "verify", external=True)


LEARNER.update({"hint", "env", "list"})


@nox.session(python=False)
def hint(session: nox.Session) -> None:
    """Reveal the next hint for a kata: nox -s hint -- <id> [--all]."""
    if not session.posargs:
        session.error("which kata? nox -s hint -- attention")
    kata(session, "hint", *session.posargs)


@nox.session(python=False)
def env(session: nox.Session) -> None:
    """Show the Python, torch build and devices the katas run on."""
    kata(session, "env")


@nox.session(name="list", python=False)
def list_(session: nox.Session) -> None:
    """The catalog with your progress (status, best times, hints)."""
    kata(session, "list")


def _learner(name: str, doc: str, needs_id: bool = False, codes=(0,)) -> None:
    def run(session: nox.Session) -> None:
        if needs_id and not session.posargs:
            session.error(f"which kata? nox -s {name} -- attention")
        kata(session, name, *session.posargs, success_codes=codes)

    run.__doc__ = doc
    nox.session(name=name, python=False)(run)
    LEARNER.add(name)


# The learner loop: thin sessions over the `kata` CLI (arguments after --).
_learner("practice", "Timed practice on a fresh copy: nox -s practice -- <id> [--minutes N] "
         "[--blind]", needs_id=True, codes=(0, 1, 130))
_learner("progress", "Your progress by track: status, best times, hints (-- --by seed)")
_learner("watch", "Re-grade on every save, moving on when a kata passes (rustlings-style)",
         codes=(0, 130))
_learner("mock", "A mock interview: unmastered katas back to back, blind (-- --minutes 45)",
         codes=(0, 130))
_learner("stats", "One kata's practice history with a time-to-green chart: -- <id>",
         needs_id=True)
_learner("reset", "Fresh stub in exercises/<id>.py; your file is backed up: -- <id>",
         needs_id=True)
_learner("restore", "Bring back the last backup of exercises/<id>.py: -- <id>", needs_id=True)
_learner("task", "A kata's task statement, in your language (KATA_LANG=zh|en): -- <id>",
         needs_id=True)
_learner("solution", "The reference solution, once the kata passes: -- <id> [--reveal]",
         needs_id=True)
_learner("update", "Update the repo (git pull), keeping your exercise files and progress")


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (bench/*.py): figures printed as ratios measured within one run."""
    ensure_env(session)
    nox_command = f'"{sys.executable}" -m nox'  # the nox running now, however it was installed
    for script in sorted((ROOT / "bench").glob("*.py")):
        session.run(str(PYTHON), str(script), *session.posargs, external=True,
                    env={"KATA_NOX": nox_command})



# The libraries the references cite, pinned: `nox -s oracles` checks each reference against them
# in its own environment, so the learner's .venv stays lean (torch is installed first, pinned).
ORACLES_VENV = ROOT / ".venv-oracles"
ORACLE_LIBRARIES = ("transformers==5.24.0", "tokenizers==0.23.3", "trl==1.16.0",
                    "peft==0.21.2", "pydantic==2.14.4", "rank_bm25==0.2.2")


@nox.session(python=False)
def oracles(session: nox.Session) -> None:
    """Maintainers: check every reference against the library it cites (tests/oracles)."""
    python = _ensure(session, ORACLES_VENV, ORACLE_LIBRARIES)
    report = ROOT / ".kata" / "oracles.xml"
    report.parent.mkdir(exist_ok=True)
    report.unlink(missing_ok=True)
    # record_property needs the xunit1 family to be written without a warning.
    code = subprocess.run(
        [str(python), "-m", "pytest", "tests/oracles", "--target", "solutions", "-q",
         "-o", "junit_family=xunit1", f"--junitxml={report}", *session.posargs],
        cwd=ROOT).returncode
    if report.exists():
        session.run(str(python), "-m", "kata.oracles", str(report), external=True,
                    success_codes=[0, 1])
    if code != 0:
        session.error(f"oracle tests failed (pytest exit {code}); see above")

"""Fixtures for the learner-loop tests: a tiny repo with two katas and a fake grader."""

from __future__ import annotations

from pathlib import Path

import pytest

from kata.catalog import load_catalog
from kata.events import FakeClock
from kata.results import KataResult, TestResult
from kata.stubgen import stub_for

CATALOG = '''
[[kata]]
id = "alpha"
title = "Alpha"
track = "foundations"
seed = "1.1 大模型核心概念"
difficulty = 1
minutes = 10
summary = "first"

[[kata]]
id = "beta"
title = "Beta"
track = "systems"
seed = "3.2 性能优化"
difficulty = 2
minutes = 5
summary = "second"
'''

SOLUTION = '''"""{id}."""


def f(x):
    """Add one."""
    # BEGIN SOLUTION
    return x + 1
    # END SOLUTION
'''

HINTS = """# Hints

## Hint 1
idea

## Hint 2
plan

## Hint 3
near code

## Follow-up questions
- **why?** because.
- **how?** so.
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "kata.toml").write_text(CATALOG, encoding="utf-8")
    for kata_id in ("alpha", "beta"):
        for folder in ("solutions", "exercises", "hints"):
            (tmp_path / folder).mkdir(exist_ok=True)
        solution = tmp_path / "solutions" / f"{kata_id}.py"
        solution.write_text(SOLUTION.format(id=kata_id), encoding="utf-8")
        (tmp_path / "exercises" / f"{kata_id}.py").write_text(stub_for(solution, kata_id))
        (tmp_path / "hints" / f"{kata_id}.md").write_text(HINTS, encoding="utf-8")
    monkeypatch.setenv("KATA_ROOT", str(tmp_path))
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


@pytest.fixture
def katas(repo):
    return load_catalog(repo)


@pytest.fixture
def clock():
    return FakeClock()


class FakeGrader:
    """Grades by reading the file: `return x + 1` passes, NotImplementedError is not started."""

    def __init__(self, clock=None, seconds: float = 0.5) -> None:
        self.calls: list[tuple[str, Path, bool]] = []
        self.clock, self.seconds = clock, seconds

    def grade(self, kata, target: Path, quick: bool = True, interrupt=None) -> KataResult:
        self.calls.append((kata.id, Path(target), quick))
        if self.clock is not None:
            self.clock.advance(self.seconds)
        text = Path(target).read_text(encoding="utf-8")
        shown = str(target)
        if Path(target).is_relative_to(kata.root):
            shown = str(Path(target).relative_to(kata.root))
        if "NotImplementedError" in text:
            tests = [TestResult("test_one", "not_started", "f: not written yet"),
                     TestResult("test_two", "not_started", "f: not written yet")]
        elif "return x + 1" in text:
            tests = [TestResult("test_one", "passed"), TestResult("test_two", "passed")]
        else:
            tests = [TestResult("test_one", "passed"),
                     TestResult("test_two", "failed", "output: wrong", diagnosis="Off by one.")]
        return KataResult(kata=kata.id, target=shown, device="cpu", tests=tests, duration=0.1)

    def start(self, warm=()) -> None:
        pass


@pytest.fixture
def grader(clock):
    return FakeGrader(clock)


@pytest.fixture(autouse=True)
def english_by_default(monkeypatch):
    """Harness tests read English unless a test asks for Chinese (KATA_LANG=zh)."""
    monkeypatch.setenv("KATA_LANG", "en")

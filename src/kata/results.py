"""The machine-readable result of grading one kata (written as JSON after every run)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

# passed | failed | not_started | timeout | error | skipped
STATUSES = ("passed", "failed", "not_started", "timeout", "error", "skipped")


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    name: str
    status: str
    message: str = ""
    example: str = ""  # hypothesis's minimal falsifying example, if any
    diagnosis: str = ""  # the catalogued mistake whose behaviour matched, if any
    mutant: str = ""  # that mistake's id
    duration: float = 0.0


@dataclass
class KataResult:
    kata: str
    target: str
    device: str
    tests: list[TestResult] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # rule violations, one message each
    duration: float = 0.0
    crashed: str = ""  # set when the grading process died (written by the launcher)
    todo: list[str] = field(default_factory=list)  # functions still raising the stub's error
    # Every test of the kata ran: False after -k, -m, node ids, --deselect, -x stopping early.
    # A partial run never counts as passing.
    complete: bool = True

    def count(self, status: str) -> int:
        return sum(test.status == status for test in self.tests)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def graded(self) -> int:
        """Tests that ran (not skipped as not covered)."""
        return len(self.tests) - self.count("skipped")

    @property
    def not_started(self) -> bool:
        graded = [t for t in self.tests if t.status != "skipped"]
        return bool(graded) and all(t.status == "not_started" for t in graded)

    @property
    def ok(self) -> bool:
        return self.selected_ok and self.complete

    @property
    def selected_ok(self) -> bool:
        """Every test that ran passed (the whole verdict only when `complete`)."""
        return (not self.crashed and not self.rules and self.graded > 0
                and self.passed == self.graded)

    @property
    def first_failure(self) -> TestResult | None:
        return next((t for t in self.tests
                     if t.status in ("failed", "timeout", "error")), None)

    @property
    def diagnosis(self) -> str:
        return next((t.diagnosis for t in self.tests if t.diagnosis), "")

    def to_dict(self) -> dict:
        data = asdict(self)
        first = self.first_failure
        data.update(passed=self.passed, total=self.graded, ok=self.ok,
                    not_started=self.not_started, first_failure=first.name if first else "",
                    diagnosis=self.diagnosis)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> KataResult:
        tests = [TestResult(**t) for t in data.get("tests", [])]
        keep = {"kata", "target", "device", "rules", "duration", "crashed", "todo", "complete"}
        return cls(tests=tests, **{k: v for k, v in data.items() if k in keep})


def write_json(path: Path, data: dict) -> None:
    """Write atomically: a crash mid-write leaves the old file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_result(path: Path) -> KataResult | None:
    try:
        return KataResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None

"""verify on a tiny throw-away kata: it passes when honest and catches each kind of dishonesty."""

import os
import textwrap
from pathlib import Path

import pytest

from kata.stubgen import stub_for
from kata.verify import check_hints, static_checks, verify_kata
from kata.catalog import load_catalog

CATALOG = """
[[kata]]
id = "double"
title = "Double a tensor"
track = "foundations"
seed = "1.1 大模型核心概念"
difficulty = 1
minutes = 1
summary = "x * 2"
"""
SOLUTION = '''"""Double."""
import torch


def double(x):
    """Return 2x."""
    # BEGIN SOLUTION
    return x * 2
    # END SOLUTION
'''
TEST = '''
import torch
from kata.check import assert_close, call


def test_doubles(impl):
    x = torch.tensor([1.0, -2.0])
    assert_close(call(impl.double, x), torch.tensor([2.0, -4.0]))
'''
MUTANTS = '''
[[mutant]]
id = "adds"
find = "return x * 2"
replace = "return x + 2"
mistake = "adds 2 instead of doubling"
'''
HINTS = """# Hints
## Hint 1
a
## Hint 2
b
## Hint 3
c
## Follow-up questions
- **q1?** a1
- **q2?** a2
"""
ZH_HINTS = """# double
## 任务
乘以 2。
## 提示 1
甲
## 提示 2
乙
## 提示 3
丙
## 追问
- **问1？** 答1
- **问2？** 答2
## 常见错误
- `adds`: 加了 2，而不是乘以 2
"""


@pytest.fixture
def kata_root(tmp_path, monkeypatch):
    for folder in ("solutions", "exercises", "tests/mutants", "hints"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "kata.toml").write_text(CATALOG)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["kata.plugin"]\n')
    (tmp_path / "solutions" / "double.py").write_text(SOLUTION)
    (tmp_path / "tests" / "test_double.py").write_text(textwrap.dedent(TEST))
    (tmp_path / "tests" / "mutants" / "double.toml").write_text(MUTANTS)
    (tmp_path / "hints" / "double.md").write_text(HINTS)
    (tmp_path / "hints" / "double.zh.md").write_text(ZH_HINTS, encoding="utf-8")
    (tmp_path / "exercises" / "double.py").write_text(stub_for(tmp_path / "solutions" / "double.py", "double"))
    monkeypatch.setenv("KATA_ROOT", str(tmp_path))
    from kata.i18n import restamp

    restamp(kata(tmp_path))
    src = str(Path(__file__).resolve().parents[2] / "src")
    monkeypatch.setenv("PYTHONPATH", src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return tmp_path


def kata(root):
    (entry,) = load_catalog(root)
    return entry


def test_honest_kata_verifies(kata_root):
    report = verify_kata(kata(kata_root))
    assert report.ok, report.problems
    assert (report.tests, report.mutants, report.killed) == (1, 1, 1)


def test_surviving_mutant_is_reported(kata_root):
    (kata_root / "tests" / "mutants" / "double.toml").write_text(
        MUTANTS.replace('replace = "return x + 2"', 'replace = "return x + x"'))
    report = verify_kata(kata(kata_root))
    assert any("survives" in p for p in report.problems), report.problems


def test_stub_that_passes_is_reported(kata_root):
    (kata_root / "tests" / "test_double.py").write_text(TEST + "\n\ndef test_nothing(impl):\n    pass\n")
    report = verify_kata(kata(kata_root))
    assert any("test_nothing is passed, expected not started" in p for p in report.problems)


def test_failing_solution_is_reported(kata_root):
    (kata_root / "tests" / "test_double.py").write_text(TEST.replace("-4.0", "-5.0"))
    report = verify_kata(kata(kata_root))
    assert any(p.startswith("solution fails test_doubles") for p in report.problems)


def test_drifted_stub_and_stale_mutant_are_reported(kata_root):
    (kata_root / "exercises" / "double.py").write_text("# edited by hand\n")
    (kata_root / "tests" / "mutants" / "double.toml").write_text(MUTANTS.replace("x * 2", "x * 3"))
    problems = static_checks(kata(kata_root))
    assert any("out of sync" in p for p in problems)
    assert any("occurs 0 times" in p for p in problems)


def test_hints_need_three_levels_and_follow_ups(tmp_path):
    path = tmp_path / "h.md"
    path.write_text(HINTS.replace("## Hint 3\nc\n", ""))
    assert any("Hint 3" in p for p in check_hints(path))
    path.write_text(HINTS.replace("- **q2?** a2\n", ""))
    assert any("two follow-up" in p for p in check_hints(path))


def test_missing_files_are_reported(kata_root):
    (kata_root / "hints" / "double.md").unlink()
    assert any("missing hints file" in p for p in static_checks(kata(kata_root)))

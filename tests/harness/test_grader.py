"""The warm grader on the real `attention` kata: verdicts, diagnosis, crash recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from kata.catalog import find_kata, load_catalog
from kata.grader import WarmGrader
from kata.mutants import load_mutants

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def attention():
    return find_kata("attention", load_catalog(ROOT))


def test_warm_grader_grades_diagnoses_and_survives_a_crash(attention, tmp_path, monkeypatch):
    monkeypatch.setenv("KATA_ROOT", str(ROOT))
    source = attention.solution.read_text(encoding="utf-8")
    (mutant,) = [m for m in load_mutants(attention.mutants) if m.id == "no_scaling"]
    wrong = tmp_path / "wrong.py"
    wrong.write_text(mutant.apply(source), encoding="utf-8")
    crash = tmp_path / "crash.py"
    crash.write_text("import os\nos._exit(3)\n", encoding="utf-8")
    with WarmGrader(ROOT) as grader:
        stub = grader.grade(attention, attention.exercise)
        assert stub.not_started, stub
        result = grader.grade(attention, wrong)
        assert not result.ok and "1/sqrt(head_dim)" in result.diagnosis
        crashed = grader.grade(attention, crash)
        assert "exited with code 3" in crashed.crashed
        again = grader.grade(attention, wrong)  # a new child took over
        assert again.first_failure is not None and not again.crashed


def test_quick_check_counts_out_of_every_test_and_a_hang_is_cancelled(attention, tmp_path,
                                                                      monkeypatch):
    import time

    monkeypatch.setenv("KATA_ROOT", str(ROOT))
    source = attention.solution.read_text(encoding="utf-8")
    (mutant,) = [m for m in load_mutants(attention.mutants) if m.id == "no_scaling"]
    wrong = tmp_path / "wrong.py"
    wrong.write_text(mutant.apply(source), encoding="utf-8")
    hang = tmp_path / "hang.py"
    hang.write_text("def scaled_dot_product_attention(*args, **kwargs):\n    while True:\n"
                    "        pass\n", encoding="utf-8")
    with WarmGrader(ROOT, time_limit=60) as grader:
        quick = grader.grade(attention, wrong, quick=True)
        full = grader.grade(attention, wrong, quick=False)
        assert not quick.ok and quick.graded == full.graded > 5  # not "0/1"
        started = time.monotonic()
        cancelled = grader.grade(attention, hang, interrupt=lambda: time.monotonic() >
                                 started + 1)
        assert cancelled is None and time.monotonic() - started < 5
        again = grader.grade(attention, wrong, quick=True)  # a fresh warm child took over
        assert again.first_failure is not None and not again.crashed

"""The warm grader on the real `attention` kata: verdicts, diagnosis, crash recovery."""

from __future__ import annotations

import os
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


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return not stat.parent.parent.exists()  # no /proc: trust os.kill


def test_quick_check_counts_out_of_every_test_and_a_hang_is_cancelled(attention, tmp_path,
                                                                      monkeypatch):
    import time

    monkeypatch.setenv("KATA_ROOT", str(ROOT))
    source = attention.solution.read_text(encoding="utf-8")
    (mutant,) = [m for m in load_mutants(attention.mutants) if m.id == "no_scaling"]
    wrong = tmp_path / "wrong.py"
    wrong.write_text(mutant.apply(source), encoding="utf-8")
    hang = tmp_path / "hang.py"
    pid_file = tmp_path / "sleep.pid"
    hang.write_text("import subprocess\n"
                    f"_sleep = subprocess.Popen(['sleep', '86401'])\n"
                    f"open({str(pid_file)!r}, 'w').write(str(_sleep.pid))\n"
                    "def scaled_dot_product_attention(*args, **kwargs):\n    while True:\n"
                    "        pass\n", encoding="utf-8")
    with WarmGrader(ROOT, time_limit=60) as grader:
        quick = grader.grade(attention, wrong, quick=True)
        full = grader.grade(attention, wrong, quick=False)
        assert not quick.ok and quick.graded == full.graded > 5  # not "0/1"
        started = time.monotonic()
        cancelled = grader.grade(attention, hang, interrupt=lambda: time.monotonic() >
                                 started + 1)
        assert cancelled is None and time.monotonic() - started < 5
        sleep_pid = int(pid_file.read_text())
        for _ in range(50):  # what the learner's code started goes with the cancelled grade
            if not _alive(sleep_pid):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the learner's `sleep` outlived the cancelled grade")
        again = grader.grade(attention, wrong, quick=True)  # a fresh warm child took over
        assert again.first_failure is not None and not again.crashed

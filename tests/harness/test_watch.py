"""`kata watch` and the event inbox: first unfinished kata, re-grade on save, move on."""

from __future__ import annotations

import io
import time

import pytest

from kata import render
from kata.events import Event, Inbox, ScriptedInbox
from kata.results import KataResult, TestResult
from kata.store import file_sha, open_store
from kata.watch import Watch

SOLVED = "def f(x):\n    return x + 1\n"
WRONG = "def f(x):\n    return x + 2\n"


def _save(path, text):
    def write():
        path.write_text(text, encoding="utf-8")
        return Event("changed", str(path))
    return write


def _watch(katas, repo, clock, grader, script):
    out = io.StringIO()
    store = open_store(repo, clock=clock)
    watch = Watch(katas, store=store, grader=grader, inbox=ScriptedInbox(script, clock),
                  screen=render.Screen(out, tty=False))
    return watch, out, store


def test_starts_at_first_unfinished_kata_and_moves_on_when_green(katas, repo, clock, grader):
    alpha, beta = katas
    alpha.exercise.write_text(SOLVED, encoding="utf-8")
    store = open_store(repo, clock=clock)
    passed = KataResult("alpha", "exercises/alpha.py", "cpu", [TestResult("t", "passed")])
    store.record_run(passed, kind="exercises", source="grade", file_sha=file_sha(alpha.exercise))
    script = [(5, _save(beta.exercise, WRONG)), (5, _save(beta.exercise, SOLVED))]
    watch, out, store = _watch(katas, repo, clock, grader, script)
    assert watch.run() == 0
    assert [kata for kata, _ in watch.graded] == ["beta"] * 4  # stub, wrong, quick + full
    text = out.getvalue()
    assert "beta (2 of 2)" in text and "Watching exercises/beta.py" in text
    assert "✓ beta passes." in text and "All 2 katas pass" in text
    assert store.last_run("beta")["ok"] == 1


def test_a_kata_edited_after_passing_is_graded_again(katas, repo, clock, grader):
    alpha, _ = katas
    store = open_store(repo, clock=clock)
    passed = KataResult("alpha", "exercises/alpha.py", "cpu", [TestResult("t", "passed")])
    store.record_run(passed, kind="exercises", source="grade", file_sha="something-else")
    watch, out, _ = _watch(katas, repo, clock, grader, [(1, Event("key", "q"))])
    assert watch.run() == 130
    assert watch.graded[0][0] == "alpha"
    assert "alpha: not started (exercises/alpha.py)" in out.getvalue()


def test_quit_key_and_hint_key(katas, repo, clock, grader):
    script = [(1, Event("key", "h")), (1, Event("key", "q"))]
    watch, out, store = _watch(katas, repo, clock, grader, script)
    assert watch.run() == 130
    assert "## Hint 1" in out.getvalue() and store.hint_level("alpha") == 1


def test_every_kata_finished_says_so_without_grading(katas, repo, clock, grader):
    store = open_store(repo, clock=clock)
    for kata in katas:
        ok = KataResult(kata.id, f"exercises/{kata.id}.py", "cpu", [TestResult("t", "passed")])
        store.record_run(ok, kind="exercises", source="grade", file_sha=file_sha(kata.exercise))
    watch, out, _ = _watch(katas, repo, clock, grader, [])
    assert watch.run() == 0 and watch.graded == []
    assert "All 2 katas pass" in out.getvalue()


@pytest.mark.parametrize("poll", [True, False], ids=["polling", "watchfiles"])
def test_inbox_reports_a_save(tmp_path, poll):
    path = tmp_path / "exercise.py"
    path.write_text("x = 1\n")
    with Inbox() as inbox:
        inbox.watch([path], poll=poll)
        time.sleep(0.3)  # let the watcher start
        path.write_text("x = 2\n")
        deadline = time.monotonic() + 5
        event = None
        while event is None and time.monotonic() < deadline:
            event = inbox.get(0.1)
    assert event == Event("changed", str(path.resolve()))


def test_inbox_reads_lines_from_a_pipe():
    with Inbox() as inbox:
        inbox.read_keys(io.StringIO("h\ndone\n"))
        events = [inbox.get(2) for _ in range(3)]
    assert events == [Event("key", "h"), Event("key", "done"), Event("eof")]


def test_one_save_is_one_recorded_run(katas, repo, clock, grader):
    _, beta = katas
    store = open_store(repo, clock=clock)
    alpha = katas[0]
    alpha.exercise.write_text(SOLVED, encoding="utf-8")
    store.record_run(KataResult("alpha", "exercises/alpha.py", "cpu", [TestResult("t", "passed")]),
                     kind="exercises", source="grade", file_sha=file_sha(alpha.exercise))
    script = [(5, _save(beta.exercise, SOLVED))]
    watch, _, store = _watch(katas, repo, clock, grader, script)
    assert watch.run() == 0
    # the stub on start, then the green save (its quick check and full grade are one run)
    assert store.count_runs("beta") == 2


class _HangingGrader:
    """Grades like FakeGrader, except that WRONG hangs, polling `interrupt` as the real one does."""

    def __init__(self, inner):
        self.inner, self.cancelled = inner, 0

    def grade(self, kata, target, quick=True, interrupt=None):
        if "x + 2" in target.read_text():
            inbox = interrupt.inbox  # waiting on the scripted inbox moves the fake clock
            for _ in range(3000):
                if (event := inbox.get(0.1)) is not None:
                    inbox.put(event)
                if interrupt():
                    self.cancelled += 1
                    return None
            raise AssertionError("the grade was never cancelled")
        return self.inner.grade(kata, target, quick)


def test_a_hanging_grade_is_cancelled_by_a_save_and_keys_stay_live(katas, repo, clock, grader):
    alpha = katas[0]
    hanging = _HangingGrader(grader)
    script = [(2, _save(alpha.exercise, WRONG)), (1, Event("key", "h")),
              (1, _save(alpha.exercise, SOLVED)), (1, Event("key", "q"))]
    watch, out, store = _watch(katas, repo, clock, hanging, script)
    watch.run()
    text = out.getvalue()
    assert hanging.cancelled == 1 and "## Hint 1" in text
    assert "changed while it was graded" in text and "✓ alpha passes." in text
    assert store.last_run("alpha")["ok"] == 1


def test_q_while_a_grade_hangs_quits_at_once(katas, repo, clock, grader):
    alpha = katas[0]
    alpha.exercise.write_text(WRONG, encoding="utf-8")
    hanging = _HangingGrader(grader)
    watch, _, store = _watch(katas, repo, clock, hanging, [(1, Event("key", "q"))])
    started = clock()
    assert watch.run() == 130
    assert clock() - started < 3 and store.count_runs("alpha") == 0


def test_the_status_line_says_a_grade_is_running():
    assert "grading exercises/alpha.py" in render.grading_status("exercises/alpha.py")

"""`kata practice`: the timer, grading on save, blind mode, Ctrl-C — no terminal, fake clock."""

from __future__ import annotations

import io

import pytest

from kata import render
from kata.events import Event, ScriptedInbox
from kata.practice import Session
from kata.store import open_store

SOLVED = "def f(x):\n    return x + 1\n"
WRONG = "def f(x):\n    return x + 2\n"


def _save(path, text):
    def write():
        path.write_text(text, encoding="utf-8")
        return Event("changed", str(path))
    return write


def _session(katas, repo, clock, grader, script, **options):
    kata = katas[0]
    path = repo / "practice" / "alpha.py"
    out = io.StringIO()
    store = open_store(repo, clock=clock)
    session = Session(kata, store=store, grader=grader, inbox=ScriptedInbox(script, clock),
                      screen=render.Screen(out, tty=False), clock=clock, **options)
    return session, path, out, store


def test_fresh_stub_is_written_and_an_old_practice_file_backed_up(katas, repo, clock, grader):
    old = repo / "practice" / "alpha.py"
    old.parent.mkdir()
    old.write_text("my earlier attempt\n", encoding="utf-8")
    session, path, out, _ = _session(katas, repo, clock, grader, [(1, Event("key", "q"))])
    session.run()
    assert "NotImplementedError" in path.read_text()
    backups = list((repo / ".kata" / "backups" / "alpha").glob("*-practice.py"))
    assert [b.read_text() for b in backups] == ["my earlier attempt\n"]
    assert str(backups[0].relative_to(repo)) in out.getvalue()


def test_saves_are_graded_until_green_and_time_to_green_recorded(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    script = [(60, _save(path, WRONG)), (120, _save(path, SOLVED))]
    session, _, out, store = _session(katas, repo, clock, grader, script)
    outcome = session.run()
    assert outcome.outcome == "passed"
    # green at the second save: 60 + 120 s plus the 0.5 s the first (quick) grade took
    assert outcome.time_to_green == 180.5
    assert outcome.inside_target  # target 10 min
    assert [quick for _, _, quick in grader.calls] == [True, True, False]
    (attempt,) = store.attempts("alpha")
    # one run per graded save: the passing quick check and its full grade are one run
    assert (attempt.outcome, attempt.runs, attempt.inside_target) == ("passed", 2, True)
    assert store.count_runs("alpha") == 2
    assert attempt.time_to_green == 180.5
    text = out.getvalue()
    assert "likely mistake: Off by one." in text and "green in 3:01" in text
    assert "\033[" not in text  # no terminal: no colour, no live countdown


def test_plain_output_prints_minutes_left_instead_of_a_live_countdown(katas, repo, clock,
                                                                       grader):
    path = repo / "practice" / "alpha.py"
    session, _, out, _ = _session(katas, repo, clock, grader, [(7 * 60, _save(path, SOLVED))])
    session.run()
    text = out.getvalue()
    assert "⏱ 5 minutes left" in text and "\r" not in text


def test_slow_green_is_recorded_outside_the_target(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    session, _, out, store = _session(katas, repo, clock, grader,
                                      [(11 * 60, _save(path, SOLVED))], minutes=20)
    outcome = session.run()
    assert outcome.outcome == "passed" and not outcome.inside_target
    assert "over the 10-minute target" in out.getvalue()


def test_time_up_announces_overtime_and_keeps_grading(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    session, _, out, _ = _session(katas, repo, clock, grader,
                                  [(70, _save(path, SOLVED))], minutes=1)
    outcome = session.run()
    assert "Time is up" in out.getvalue()
    assert outcome.outcome == "passed" and outcome.time_to_green == 70


def test_blind_grades_once_when_time_is_up(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    script = [(30, _save(path, WRONG)), (30, _save(path, SOLVED))]
    session, _, out, store = _session(katas, repo, clock, grader, script, blind=True,
                                      minutes=2)
    outcome = session.run()
    assert outcome.outcome == "passed" and outcome.runs == 1
    assert grader.calls[0][2] is False  # the full grade, once
    assert outcome.time_to_green == 120  # graded when the clock ran out
    assert "Time is up" in out.getvalue()


def test_blind_done_key_grades_once_and_ends(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    script = [(30, _save(path, WRONG)), (5, Event("key", "done"))]
    session, _, _, store = _session(katas, repo, clock, grader, script, blind=True)
    outcome = session.run()
    assert outcome.outcome == "failed" and outcome.runs == 1
    assert store.attempts("alpha")[0].passed == 1


def test_ctrl_c_records_an_abandoned_attempt_and_keeps_the_file(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"

    def interrupt():
        raise KeyboardInterrupt

    script = [(10, _save(path, WRONG)), (10, interrupt)]
    session, _, out, store = _session(katas, repo, clock, grader, script)
    outcome = session.run()
    assert outcome.outcome == "abandoned" and outcome.interrupted
    assert path.read_text() == WRONG
    assert store.attempts("alpha")[0].outcome == "abandoned"
    assert "Your file is kept: practice/alpha.py" in out.getvalue()


def test_an_attempt_the_store_cannot_keep_is_not_called_recorded(katas, repo, clock, grader):
    """A learner's trial: with a read-only .kata/ the first line said "progress not recorded",
    and the last one "recorded as abandoned"."""
    session, _, out, store = _session(katas, repo, clock, grader, [(10, Event("key", "q"))])
    store.problem = "the progress store is read-only here"  # what a read-only .kata/ gives
    assert session.run().outcome == "abandoned"
    assert "stopped after" in out.getvalue() and "recorded as abandoned" not in out.getvalue()


def test_closed_input_is_said_once_and_saves_still_grade(katas, repo, clock, grader):
    """A learner's trial: `nox -s practice -- id < /dev/null` went silent for the whole clock."""
    path = repo / "practice" / "alpha.py"
    script = [(1, Event("eof")), (5, Event("eof")), (10, _save(path, SOLVED))]
    session, _, out, _store = _session(katas, repo, clock, grader, script)
    assert session.run().outcome == "passed"
    assert out.getvalue().count("input closed") == 1, out.getvalue()


def test_hints_taken_during_the_attempt_are_counted(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    script = [(10, Event("key", "h")), (10, Event("key", "h")), (10, _save(path, SOLVED))]
    session, _, out, store = _session(katas, repo, clock, grader, script)
    outcome = session.run()
    # the attempt's own count: the kata's hint level (nox -s hint) is not used up
    assert outcome.hints == 2 and store.hint_level("alpha") == 0
    assert store.attempts("alpha")[0].hints == 2
    assert "## Hint 2" in out.getvalue() and "type h and Enter again" in out.getvalue()
    # the next attempt starts again at hint 1
    again, _, out, _ = _session(katas, repo, clock, grader, [(10, Event("key", "h")),
                                                            (10, Event("key", "q"))])
    assert again.run().hints == 1 and "## Hint 1" in out.getvalue()


def test_saving_unchanged_content_does_not_grade(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    script = [(5, _save(path, WRONG)), (5, _save(path, WRONG)), (5, Event("key", "q"))]
    session, *_ = _session(katas, repo, clock, grader, script)
    assert session.run().runs == 1


def test_file_option_practises_elsewhere(katas, repo, clock, grader, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("mine") / "attempt.py"
    script = [(5, _save(elsewhere, SOLVED))]
    session, *_ = _session(katas, repo, clock, grader, script, path=elsewhere)
    assert session.run().outcome == "passed"
    assert grader.calls[0][1] == elsewhere.resolve()


def test_overtime_ends_after_the_clock_again_with_a_final_grade(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    session, _, out, _ = _session(katas, repo, clock, grader, [(30, _save(path, WRONG))],
                                  minutes=1)
    outcome = session.run()
    assert outcome.outcome == "failed" and "overtime used up" in out.getvalue()
    assert outcome.elapsed == pytest.approx(120, abs=2)


def test_pipe_mode_never_says_press(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    script = [(5, _save(path, WRONG)), (5, Event("key", "h")), (5, Event("key", "q"))]
    session, _, out, _ = _session(katas, repo, clock, grader, script)
    session.run()
    text = out.getvalue()
    assert "press" not in text and "type hint, grade or quit and Enter" in text
    assert "type h and Enter for a hint" in text


@pytest.mark.parametrize("blind", [True, False], ids=["blind", "overtime"])
def test_a_finished_attempt_does_not_ask_for_another_save(katas, repo, clock, grader, blind):
    path = repo / "practice" / "alpha.py"
    session, _, out, _ = _session(katas, repo, clock, grader, [(30, _save(path, WRONG))],
                                  minutes=1, blind=blind)
    assert session.run().outcome == "failed"
    final = out.getvalue().split("overtime used up" if not blind else "Time is up")[-1]
    assert "save again" not in final and "for a hint" not in final
    assert "Try again: nox -s practice -- alpha" in final


class _SlowGrader:
    """Grades like FakeGrader, but a grade of WRONG keeps polling `interrupt` (a hang)."""

    def __init__(self, inner, clock):
        self.inner, self.clock, self.cancelled = inner, clock, 0

    def grade(self, kata, target, quick=True, interrupt=None):
        if "x + 2" in target.read_text():
            inbox = interrupt.inbox  # the scripted inbox: waiting on it moves the fake clock
            for _ in range(600):
                if (event := inbox.get(0.1)) is not None:
                    inbox.put(event)
                if interrupt():
                    self.cancelled += 1
                    return None
        return self.inner.grade(kata, target, quick)


def test_a_save_cancels_a_running_grade_and_q_stops_at_once(katas, repo, clock, grader):
    path = repo / "practice" / "alpha.py"
    slow = _SlowGrader(grader, clock)
    script = [(5, _save(path, WRONG)), (0.5, Event("key", "h")), (0.5, _save(path, SOLVED))]
    session, _, out, store = _session(katas, repo, clock, slow, script)
    outcome = session.run()
    assert outcome.outcome == "passed" and slow.cancelled == 1
    assert outcome.hints == 1 and "## Hint 1" in out.getvalue()  # h answered mid-grade
    assert "changed while it was graded" in out.getvalue()
    assert outcome.runs == 1 and outcome.time_to_green == pytest.approx(6, abs=0.1)
    stuck = [(5, _save(path, WRONG)), (1, Event("key", "q"))]
    session, _, out, _ = _session(katas, repo, clock, slow, stuck)
    started = clock()
    assert session.run().outcome == "abandoned"
    assert clock() - started < 8  # not the 60 s the grade would have taken

"""`kata practice <id>`: timed whiteboard practice on a fresh copy of the stub.

The learner gets `practice/<id>.py` (an existing one is backed up first), a countdown, and a
grade on every save, with overtime allowed up to the clock's length again; with `blind`, one
grade when they press d or the time is up. The attempt is recorded in the progress store: time
to green, grading runs (one per save graded, even when a passing quick check is followed by the
full grade), hints used, and whether it went green inside the catalog's target time. Ctrl-C or
q records it as abandoned and keeps the file.

Hints are counted per attempt: each practice starts again at hint 1, and what it reveals is
recorded as kind "practice", so it does not use up the kata's own hint levels. While a grade
runs, keys stay live and a new save cancels it (`kata.events.Interrupter`).

Everything the loop depends on is passed in (clock, inbox of events, grader, screen), so it runs
the same on a terminal, in a pipe and under tests with a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kata import render
from kata.catalog import Kata
from kata.events import Interrupter
from kata.i18n import _
from kata.results import KataResult
from kata.store import Store, file_sha
from kata.workspace import fresh_stub


@dataclass
class Outcome:
    kata: Kata
    outcome: str  # passed | failed | abandoned
    elapsed: float
    time_to_green: float | None
    runs: int
    hints: int
    inside_target: bool
    result: KataResult | None
    path: Path
    attempt: int
    interrupted: bool = False  # Ctrl-C (a mock interview stops); q only gives up this kata


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _milestones(minutes: float) -> list[float]:
    """Seconds-left marks at which a plain (non-terminal) session prints the time left."""
    marks = {m * 60.0 for m in range(5, int(minutes), 5)} | ({60.0} if minutes > 1 else set())
    return sorted(marks, reverse=True)


class Session:
    """One practice attempt. `run()` returns its Outcome."""

    def __init__(self, kata: Kata, *, store: Store, grader, inbox, screen: render.Screen,
                 clock, minutes: float | None = None, blind: bool = False,
                 path: Path | None = None, mock: int | None = None) -> None:
        self.kata = kata
        self.store, self.grader, self.inbox, self.screen, self.clock = (
            store, grader, inbox, screen, clock)
        self.minutes = float(minutes or kata.minutes)
        self.blind = blind
        self.path = (path or kata.root / "practice" / f"{kata.id}.py").resolve()
        self.mock = mock
        self.runs = 0
        self.hints = 0  # this attempt's own hint level
        self.last: KataResult | None = None
        self.last_sha = ""
        self.input_closed = False

    # ------------------------------------------------------------ steps

    def _grade(self, quick: bool, final: bool = False) -> KataResult | None:
        """One grader call (None when a new save or q cancelled it; a final grade ignores
        saves)."""
        self.interrupt = Interrupter(self.inbox, self.path, self.last_sha, self._key,
                                     cancel_on_save=not final)
        self.screen.status(render.grading_status(_display(self.path, self.kata.root),
                                                 self.screen.tty))
        return self.grader.grade(self.kata, self.path, quick=quick, interrupt=self.interrupt)

    def _record(self, result: KataResult) -> None:
        """Count and record one graded save."""
        self.runs += 1
        self.last = result
        try:
            self.store.record_run(result, kind="practice", source="mock" if self.mock else
                                  "practice", file_sha=self.last_sha, attempt=self.attempt)
        except Exception as error:  # a store problem must not end the attempt
            self.screen.line(render.store_warning(str(error)))

    def _show(self, result: KataResult, quick: bool, final: bool = False) -> None:
        self.screen.line(render.kata_summary(result, self.screen.color,
                                             loop="ended" if final else "practice", quick=quick,
                                             typed=not self.screen.tty).rstrip("\n"))

    def _on_save(self) -> bool | None:
        """Grade after a save; True when green (confirmed by the full grade), None on q."""
        if file_sha(self.path) == self.last_sha:
            return False  # saved without changes
        while True:
            saved_at = self.clock()
            self.last_sha = file_sha(self.path)
            result = self._grade(quick=True)
            quick = result is not None and not result.ok
            if result is not None and result.ok:
                self.screen.line(render.full_grade_note())
                result = self._grade(quick=False)
            if result is not None:
                break
            if self.interrupt.reason == "quit":
                return None
            self.screen.line(render.grade_cancelled(_display(self.path, self.kata.root)))
        self._record(result)
        if result.ok:
            self.green_at = saved_at
        self._show(result, quick=quick)
        return result.ok

    def _key(self, key: str) -> None:
        if key == "h":
            self._hint()

    def _hint(self) -> None:
        from kata import hints

        available = hints.levels(self.kata)
        self.hints = min(self.hints + 1, len(available))
        try:
            self.store.record_reveal(self.kata.id, "practice", self.hints)
        except Exception as error:
            self.screen.line(render.store_warning(str(error)))
        self.screen.line(render.hints_text(self.kata, available[self.hints - 1:self.hints],
                                           self.hints, len(available), "", loop=True,
                                           typed=not self.screen.tty).rstrip("\n"))

    # ------------------------------------------------------------ loop

    def prepare(self) -> str:
        """Write the fresh stub; returns where an earlier practice file was backed up."""
        replaced = fresh_stub(self.kata, self.path, "practice")
        self.last_sha = file_sha(self.path)
        return _display(replaced.backup, self.kata.root) if replaced.backup else ""

    def run(self) -> Outcome:
        backup = self.prepare()
        display = _display(self.path, self.kata.root)
        self.started = self.clock()
        self.green_at: float | None = None
        self.attempt = self.store.start_attempt(
            self.kata.id, mode="blind" if self.blind else "live", minutes=self.minutes,
            target_minutes=self.kata.minutes, file=display, started=self.started, mock=self.mock)
        self.inbox.watch([self.path])
        self.inbox.read_keys()
        self.screen.line(render.practice_banner(self.kata, display, self.minutes, self.blind,
                                                backup, self.inbox.watching,
                                                typed=not self.screen.tty))
        outcome, interrupted = "abandoned", False
        try:
            outcome = self._loop()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.screen.close()
        result = self._finish(outcome)
        result.interrupted = interrupted
        return result

    def _loop(self) -> str:
        deadline = self.started + self.minutes * 60
        marks = _milestones(self.minutes)
        announced = False
        while True:
            left = deadline - self.clock()
            if left <= -self.minutes * 60:  # overtime is capped at the clock's length again
                self.screen.line(render.overtime_over(self.minutes))
                return self._blind_grade(announced=True)
            if left <= 0 and not announced:
                announced = True
                self.screen.line(render.time_up(self.blind, self.minutes,
                                                typed=not self.screen.tty))
                if self.blind:
                    return self._blind_grade(announced=True)
            crossed = None
            while marks and left <= marks[0]:
                crossed = marks.pop(0)
            if crossed is not None and left > 0 and not self.screen.tty:
                self.screen.line(render.minutes_left(crossed))
            last = render.short_verdict(self.last) if self.last else ""
            self.screen.status(render.countdown(left, self.runs, last, self.blind,
                                                typed=not self.screen.tty))
            wait = 1.0 if left <= 0 else min(1.0, left - int(left) or 1.0, left)
            event = self.inbox.get(wait)
            if event is not None and event.kind == "eof" and not self.input_closed:
                self.input_closed = True  # said once: the clock and the saves carry on
                self.screen.line(render.input_closed())
            if event is None or event.kind == "eof":
                continue
            if event.kind == "changed":
                if not self.blind:
                    green = self._on_save()
                    if green is None:
                        return "abandoned"
                    if green:
                        return "passed"
                self.inbox.drain_changes()
                continue
            key = event.value.strip().lower()[:1] or "\n"
            if key == "q":
                return "abandoned"
            if key == "h":
                self._hint()
            elif self.blind and key == "d":
                return self._blind_grade()
            elif not self.blind and key in ("g", "\n"):
                self.last_sha = ""
                green = self._on_save()
                if green is None:
                    return "abandoned"
                if green:
                    return "passed"

    def _blind_grade(self, announced: bool = False) -> str:
        done_at = self.clock()
        if not announced:
            self.screen.line(_("Grading your file once, as it is now…"))
        self.last_sha = file_sha(self.path)
        result = self._grade(quick=False, final=True)
        if result is None:  # q while the final grade ran
            return "abandoned"
        self._record(result)
        self._show(result, quick=False, final=True)
        if result.ok:
            self.green_at = done_at
            return "passed"
        return "failed"

    def _finish(self, outcome: str) -> Outcome:
        ended = self.clock()
        elapsed = ended - self.started
        ttg = self.green_at - self.started if self.green_at is not None else None
        inside = ttg is not None and ttg <= self.kata.minutes * 60
        hints = self.hints
        result = self.last
        self.store.finish_attempt(
            self.attempt, ended=ended, outcome=outcome, time_to_green=ttg, runs=self.runs,
            hints=hints, inside_target=inside, passed=result.passed if result else None,
            total=result.graded if result else None)
        display = _display(self.path, self.kata.root)
        self.screen.line(render.practice_end(self.kata, outcome, elapsed, ttg, self.runs, hints,
                                             inside, display, result,
                                             recorded=not self.store.problem))
        return Outcome(self.kata, outcome, elapsed, ttg, self.runs, hints, inside, result,
                       self.path, self.attempt)

"""`kata watch`: rustlings-style. Re-grade the current kata on every save, move on when green.

Starts at the first kata, in catalog order, that is not finished: its last graded run of
`exercises/<id>.py` passed and the file has not changed since. Grading goes through the warm
grader (`kata.grader`), so a save costs a test run, not a Python start plus torch's imports.
While a grade runs the status line says so and the keys stay live: h shows a hint, q quits at
once, and a new save cancels the running grade (an infinite loop included) and grades the new
version.
"""

from __future__ import annotations

from kata import render
from kata.catalog import Kata
from kata.events import Interrupter
from kata.results import KataResult
from kata.store import Store, file_sha


def finished(kata: Kata, store: Store) -> bool:
    run = store.last_run(kata.id, "exercises")
    return bool(run and run["ok"] and run["file_sha"] and run["file_sha"] == file_sha(kata.exercise))


class Watch:
    def __init__(self, katas: list[Kata], *, store: Store, grader, inbox,
                 screen: render.Screen) -> None:
        self.katas = katas
        self.store, self.grader, self.inbox, self.screen = store, grader, inbox, screen
        self.graded: list[tuple[str, KataResult]] = []  # (kata id, result) for tests and bench
        self.last_sha = ""

    def _grade(self, kata: Kata, quick: bool, interrupt: Interrupter) -> KataResult | None:
        result = self.grader.grade(kata, kata.exercise, quick=quick, interrupt=interrupt)
        if result is not None:
            self.graded.append((kata.id, result))
        return result

    def _record(self, result: KataResult, sha: str) -> None:
        try:
            self.store.record_run(result, kind="exercises", source="watch", file_sha=sha)
        except Exception as error:
            self.screen.line(render.store_warning(str(error)))

    def _check(self, kata: Kata) -> bool | None:
        """Grade the file as saved: quick, then the full grade when the quick one passes.

        True when green, False when not, None when the learner pressed q meanwhile. A save
        with new content while grading cancels the grade and starts again on the new version.
        One save is one recorded run (the full grade's result when the quick check passed).
        """
        path = str(kata.exercise.relative_to(kata.root))
        while True:
            sha = self.last_sha = file_sha(kata.exercise)
            interrupt = Interrupter(self.inbox, kata.exercise, sha, lambda key: self._key(kata, key))
            self.screen.status(render.grading_status(path, self.screen.tty))
            result = self._grade(kata, True, interrupt)
            quick = result is not None and not result.ok
            if result is not None and result.ok:
                self.screen.line(render.full_grade_note())
                result = self._grade(kata, False, interrupt)
            if result is None:
                if interrupt.reason == "quit":
                    return None
                self.screen.line(render.grade_cancelled(path))
                continue
            self._record(result, sha)
            self.screen.line(render.kata_summary(result, self.screen.color, loop="watch",
                                                 quick=quick, typed=not self.screen.tty
                                                 ).rstrip("\n"))
            return result.ok

    def _key(self, kata: Kata, key: str) -> None:
        if key == "h":
            from kata import hints

            level, shown = hints.reveal_next(kata, self.store)
            self.screen.line(render.hints_text(kata, shown[-1:], level,
                                               len(hints.levels(kata)), "", loop=True,
                                               typed=not self.screen.tty).rstrip("\n"))

    def run(self) -> int:
        """0 when every kata passes, 130 when the learner quits first."""
        pending = [k for k in self.katas if not finished(k, self.store)]
        if not pending:
            self.screen.line(render.watch_done(len(self.katas)))
            return 0
        if hasattr(self.grader, "start"):
            self.grader.start(warm=pending[:1])
        self.inbox.read_keys()
        try:
            for index, kata in enumerate(pending):
                if not self._kata(kata, index):
                    return 130
                following = pending[index + 1] if index + 1 < len(pending) else None
                self.screen.line(render.watch_passed(kata, following))
        except KeyboardInterrupt:
            return 130
        finally:
            self.screen.close()
        self.screen.line(render.watch_done(len(self.katas)))
        return 0

    def _kata(self, kata: Kata, index: int) -> bool:
        """Watch one kata until it passes (True) or the learner quits (False)."""
        path = str(kata.exercise.relative_to(kata.root))
        position = self.katas.index(kata) + 1
        self.inbox.watch([kata.exercise])
        self.screen.line(render.watch_banner(kata, path, position, len(self.katas),
                                             self.inbox.watching, typed=not self.screen.tty))
        checked = self._check(kata)
        while checked is not True:
            if checked is None:
                return False
            checked = False
            self.screen.status(render.watch_status(path, typed=not self.screen.tty))
            event = self.inbox.get(1.0)
            if event is None or event.kind == "eof":
                continue
            if event.kind == "changed":
                if file_sha(kata.exercise) != self.last_sha:
                    checked = self._check(kata)
                    self.inbox.drain_changes()
                continue
            key = event.value.strip().lower()[:1] or "\n"
            if key == "q":
                return False
            if key in ("g", "\n"):
                checked = self._check(kata)
            else:
                self._key(kata, key)
        return True

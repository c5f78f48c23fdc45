"""`kata watch`: rustlings-style. Re-grade the current kata on every save, move on when green.

Starts at the first kata, in catalog order, that is not finished: its last graded run of
`exercises/<id>.py` passed and the file has not changed since. Grading goes through the warm
grader (`kata.grader`), so a save costs a test run, not a Python start plus torch's imports.
"""

from __future__ import annotations

from kata import render
from kata.catalog import Kata
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

    def _grade(self, kata: Kata, quick: bool) -> KataResult:
        sha = file_sha(kata.exercise)
        result = self.grader.grade(kata, kata.exercise, quick=quick)
        self.graded.append((kata.id, result))
        try:
            self.store.record_run(result, kind="exercises", source="watch", file_sha=sha)
        except Exception as error:
            self.screen.line(render.store_warning(str(error)))
        return result

    def _check(self, kata: Kata) -> bool:
        """Quick grade, then the full grade when the quick one passes; True when green."""
        self.last_sha = file_sha(kata.exercise)
        result = self._grade(kata, quick=True)
        quick = not result.ok
        if result.ok:
            self.screen.line(render.full_grade_note())
            result = self._grade(kata, quick=False)
        self.screen.line(render.kata_summary(result, self.screen.color, loop="watch",
                                             quick=quick).rstrip("\n"))
        return result.ok

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
                                             self.inbox.watching))
        if self._check(kata):
            return True
        while True:
            self.screen.status(render.watch_status(path))
            event = self.inbox.get(1.0)
            if event is None or event.kind == "eof":
                continue
            if event.kind == "changed":
                if file_sha(kata.exercise) == self.last_sha:
                    continue
                if self._check(kata):
                    return True
                self.inbox.drain_changes()
                continue
            key = event.value.strip().lower()[:1] or "\n"
            if key == "q":
                return False
            if key == "h":
                from kata import hints

                level, shown = hints.reveal_next(kata, self.store)
                self.screen.line(render.hints_text(kata, shown[-1:], level,
                                                   len(hints.levels(kata)), "",
                                                   loop=True).rstrip("\n"))
            elif key in ("g", "\n") and self._check(kata):
                return True

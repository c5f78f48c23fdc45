"""Where a learner stands on each kata, from the progress store.

Status comes from the latest graded run of `exercises/<id>.py` (a green practice attempt
counts as passing when the exercise was never graded). A kata is *mastered* when a practice
attempt went green inside its target time; `kata mock` picks the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from kata.catalog import Kata
from kata.store import Attempt, Store


def seed_section(kata: Kata) -> str:
    """The guide's part the kata's seed belongs to ("1. 基础概念")."""
    from kata.guide import part_of

    return part_of(kata.seed)


@dataclass
class KataProgress:
    kata: Kata
    status: str  # "not started" | "failing" | "passing"
    passed: int = 0
    total: int = 0
    best_seconds: float | None = None  # fastest green practice attempt
    hints: int = 0  # hint levels revealed
    solution_seen: bool = False
    last_attempt: float | None = None  # when the learner last graded or practised it
    attempts: int = 0

    @property
    def target_seconds(self) -> float:
        return self.kata.minutes * 60.0

    @property
    def mastered(self) -> bool:
        return self.best_seconds is not None and self.best_seconds <= self.target_seconds


def best_time(attempts: list[Attempt]) -> float | None:
    times = [a.time_to_green for a in attempts if a.outcome == "passed"
             and a.time_to_green is not None]
    return min(times) if times else None


def kata_progress(kata: Kata, store: Store) -> KataProgress:
    attempts = store.attempts(kata.id)
    run = store.last_run(kata.id, "exercises")
    if run is not None and run["ok"]:
        status = "passing"
    elif run is not None and not run["not_started"]:
        status = "failing"
    elif any(a.outcome == "passed" for a in attempts):
        status = "passing"
    else:
        status = "not started"
    moments = [a.ended or a.started for a in attempts]
    practice_run = store.last_run(kata.id, "practice")
    for row in (run, practice_run):
        if row is not None:
            moments.append(row["at"])
    return KataProgress(
        kata=kata, status=status, passed=run["passed"] if run else 0,
        total=run["total"] if run else 0, best_seconds=best_time(attempts),
        hints=store.hint_level(kata.id), solution_seen=store.solution_revealed(kata.id),
        last_attempt=max(moments) if moments else None, attempts=len(attempts))


def progress(katas: list[Kata], store: Store) -> list[KataProgress]:
    return [kata_progress(kata, store) for kata in katas]


def unmastered(rows: list[KataProgress]) -> list[KataProgress]:
    """Katas never passed first, then those passed but never inside the target, catalog order."""
    never = [r for r in rows if r.status != "passing" and not r.mastered]
    slow = [r for r in rows if r.status == "passing" and not r.mastered]
    return never + slow

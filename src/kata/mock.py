"""`kata mock`: a mock interview from the katas not yet mastered, back to back, blind.

Picks, in catalog order, katas never passed and then katas passed but never inside their target
time, until their target minutes fill the interview (at least one kata). Each runs as a blind
practice session with its own countdown; the score card comes at the end, or after Ctrl-C with
what was done so far.
"""

from __future__ import annotations

from kata import render
from kata.catalog import Kata
from kata.i18n import _
from kata.practice import Outcome, Session
from kata.progress import progress, unmastered
from kata.store import Store


def pick(katas: list[Kata], store: Store, minutes: float, tracks: list[str] | None = None):
    rows = progress([k for k in katas if not tracks or k.track in tracks], store)
    chosen, used = [], 0.0
    for row in unmastered(rows):
        if chosen and used + row.kata.minutes > minutes:
            continue
        chosen.append(row)
        used += row.kata.minutes
    return chosen


def clocks(rows, minutes: float) -> list[float]:
    """Each chosen kata's clock in minutes: its target, scaled so they fit in `minutes`."""
    planned = sum(r.kata.minutes for r in rows)
    scale = min(1.0, minutes / planned) if planned else 1.0
    return [r.kata.minutes * scale for r in rows]


def run_mock(katas: list[Kata], *, store: Store, grader, inbox_factory, screen: render.Screen,
             clock, minutes: float, tracks: list[str] | None = None) -> int:
    rows = pick(katas, store, minutes, tracks)
    if not rows:
        screen.line(_("Nothing left to practise: every kata is mastered (green inside its "
                      "target). Try nox -s practice -- <id> to beat your best time."))
        return 0
    times = clocks(rows, minutes)
    screen.line(render.mock_plan(rows, sum(times), times))
    if hasattr(grader, "start"):
        grader.start(warm=[r.kata for r in rows[:1]])
    mock_id = store.next_mock_id()
    outcomes: list[Outcome] = []
    interrupted = False
    for row, kata_minutes in zip(rows, times, strict=True):
        with inbox_factory() as inbox:
            session = Session(row.kata, store=store, grader=grader, inbox=inbox, screen=screen,
                              clock=clock, minutes=kata_minutes, blind=True, mock=mock_id)
            outcome = session.run()
        outcomes.append(outcome)
        if outcome.interrupted:
            interrupted = True
            break
    entries = [(o.kata, o.outcome, o.elapsed, o.result.passed if o.result else 0,
                o.result.graded if o.result else 0, o.inside_target) for o in outcomes]
    screen.line(render.mock_scorecard(entries).rstrip("\n"))
    return 130 if interrupted else 0

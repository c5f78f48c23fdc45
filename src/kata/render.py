"""Everything a learner reads. Functions here return text; the CLI and plugin write it."""

from __future__ import annotations

import os

from kata.results import KataResult

_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2", "cyan": "36"}
DETAILED_FAILURES = 3


def use_color(is_tty: bool) -> bool:
    return is_tty and "NO_COLOR" not in os.environ


def _paint(text: str, style: str, color: bool) -> str:
    return f"\033[{_CODES[style]}m{text}\033[0m" if color else text


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _clip(text: str, width: int = 600, max_lines: int = 12) -> str:
    """Keep flooded messages readable: long lines and long messages are cut, but the last
    `call: ...` line (which call failed) is always kept."""
    lines = [line if len(line) <= width else line[:width] + " …" for line in text.splitlines()]
    calls = [i for i, line in enumerate(lines) if line.lstrip().startswith("call: ")]
    tail = [lines.pop(calls[-1])] if calls and calls[-1] >= max_lines else []
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"… ({len(lines) - max_lines} more lines)"]
    return "\n".join(lines + tail)


def headline(result: KataResult) -> str:
    if result.crashed:
        return f"{result.kata}: crashed ({result.target})"
    if result.graded == 0 and result.tests:
        return f"{result.kata}: nothing graded, {len(result.tests)} not covered ({result.target})"
    text = f"{result.kata}: {result.passed}/{result.graded} passing"
    if result.not_started:
        text += " — not started"
    elif result.ok:
        text += " — all passing"
    return f"{text} ({result.target})"


def kata_summary(result: KataResult, color: bool = False, *, loop: str = "",
                 quick: bool = False, typed: bool = False) -> str:
    """The learner's verdict: headline, then what to do next.

    `loop` is "" for `kata grade`, "watch" or "practice" inside those loops (the next step is
    then "save again" and hints are a key press away), "ended" for the final grade of a
    practice that is over (no next step: the attempt's summary follows); `quick` marks a run
    that stopped at the first failure; `typed` means keys are read as lines (no terminal).
    """
    lines = []
    style = "green" if result.ok else ("yellow" if result.not_started else "red")
    head = headline(result)
    if quick and result.not_started:
        head = f"{result.kata}: not started ({result.target})"
    elif quick and not result.ok and not result.crashed:
        head = (f"{result.kata}: {result.passed} passed, then a failure — quick check "
                f"({result.target})")
    lines.append(_paint(head, style, color) if color else head)
    hint = (f"Stuck? {_press('h', typed)} for a hint" if loop
            else f"Stuck? nox -s hint -- {result.kata}")
    if result.crashed:
        lines.append(_indent(result.crashed, "  "))
    for message in result.rules:
        lines.append(_paint("  ✗ rules: ", "red", color) + message)
    if result.not_started:
        functions = []
        for test in result.tests:
            name = test.message.split(":")[0].strip()
            if test.status == "not_started" and name and name not in functions:
                functions.append(name)
        functions += [name for name in result.todo if name not in functions]
        if functions:
            lines.append(f"  not started: {', '.join(functions)}")
        if loop != "ended":
            lines.append(f"  Open {result.target}, read the docstrings and replace each TODO"
                         f"{', then save' if loop else ''}. {hint}")
    else:
        shown_messages: set[str] = set()
        shown_mistakes: set[str] = set()  # one detailed failure per likely mistake
        also: list[str] = []
        failures = [t for t in result.tests if t.status in ("failed", "timeout", "error")]
        detailed = 0
        for test in failures:
            mark = _paint("✗", "red", color)
            if (detailed >= DETAILED_FAILURES or test.message in shown_messages
                    or (test.mutant and test.mutant in shown_mistakes)):
                also.append(f"{test.name} [{test.mutant}]" if test.mutant else test.name)
                continue
            detailed += 1
            shown_messages.add(test.message)
            shown_mistakes.add(test.mutant)
            same = sum(t.message == test.message for t in failures) - 1
            label = {"timeout": " (timed out)", "error": " (error)"}.get(test.status, "")
            if same:
                label += f" (and {same} more with the same message)"
            lines.append(f"  {mark} {_paint(test.name, 'bold', color)}{label}")
            lines.append(_indent(_clip(test.message), "      "))
            if example := _clean_example(test.example):
                lines.append(_indent("minimal example:\n" + _indent(_clip(example), "  "),
                                     "      "))
            if test.diagnosis:
                lines.append("      " + _paint("likely mistake: ", "yellow", color) + test.diagnosis)
        if also:
            lines.append(f"  {_paint('✗', 'red', color)} also failing: {', '.join(also)}")
        pending = [t.name for t in result.tests if t.status == "not_started"]
        if pending:
            todo = f" (still TODO: {', '.join(result.todo)})" if result.todo else ""
            lines.append(f"  … {len(pending)} tests not started{todo}: {', '.join(pending)}")
        skipped = [t for t in result.tests if t.status == "skipped"]
        if skipped:
            reason = skipped[0].message.removeprefix("not covered: ")
            lines.append(_paint(f"  · {len(skipped)} not covered: {reason}", "dim", color))
        if failures and not result.not_started and loop != "ended":
            again = "save again" if loop else "grade again"
            lines.append(f"  Fix the first failure, then {again}. {hint}")
        elif result.ok and not loop:
            lines.append(f"  Done. Time yourself next: nox -s practice -- {result.kata}")
    return "\n".join(lines) + "\n"


def _clean_example(text: str) -> str:
    """Hypothesis's falsifying example without coverage notes and fixture arguments."""
    import re

    kept = [line for line in text.splitlines()
            if "were always and only run by failing test cases" not in line
            and not re.fullmatch(r"\s*\S+\.py:\d+", line)
            and not re.match(r"\s+(impl|ref|kata)=<module |\s+device=device\(", line)]
    return "\n".join(kept).strip("\n")


def verify_line(report) -> str:
    status = "ok  " if report.ok else "FAIL"
    text = (f"{status} {report.kata}: {report.tests} tests, mutants {report.killed}/"
            f"{report.mutants} killed ({report.seconds:.1f} s)")
    for problem in report.problems:
        text += "\n" + _indent(problem, "       ")
    return text


def verify_total(reports) -> str:
    bad = [r.kata for r in reports if not r.ok]
    tests = sum(r.tests for r in reports)
    mutants = sum(r.mutants for r in reports)
    killed = sum(r.killed for r in reports)
    head = f"verify: {len(reports)} katas, {tests} tests, {killed}/{mutants} mutants killed"
    head += f"; FAILED: {', '.join(bad)}" if bad else "; all good"
    # The last line is the plain "N passed, N failed" that CI reads (katas, not tests).
    return f"{head}\nverify: {len(reports) - len(bad)} passed, {len(bad)} failed"


def terminal_width() -> int:
    """The terminal's width in columns (COLUMNS when set; 80 when not a terminal)."""
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)


def _to_text(renderable, width: int | None = None) -> str:
    import io
    import sys

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, force_terminal=use_color(sys.stdout.isatty()),
            width=width or terminal_width()).print(renderable)
    return buffer.getvalue()


def _natural_width(renderable) -> int:
    """The width `renderable` takes when nothing has to wrap."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, force_terminal=False, width=1000).print(renderable)
    return max((len(line.rstrip()) for line in buffer.getvalue().splitlines()), default=0)


def catalog_table(katas, width: int | None = None) -> str:
    """The catalog; ids are never cut, the summary wraps to fit the terminal."""
    from rich.table import Table

    table = Table(title="LLM katas", title_justify="left")
    table.add_column("id", no_wrap=True)
    for column in ("track", "seed", "level", "min"):
        table.add_column(column)
    table.add_column("summary", ratio=1, overflow="fold")
    for kata in katas:
        table.add_row(kata.id, kata.track, kata.seed, "●" * kata.difficulty, str(kata.minutes),
                      kata.summary)
    return _to_text(table, width) + "Grade one: nox -s <id>    Hints: nox -s hint -- <id>\n"


def _press(key: str, typed: bool) -> str:
    """How to give a key: a key press on a terminal, a line in a pipe."""
    return f"type {key} and Enter" if typed else f"press {key}"


def hints_text(kata, shown, level: int, total: int, follow_ups: str, loop: bool = False,
               typed: bool = False) -> str:
    lines = [f"{kata.id} — {kata.title}"]
    for heading, body in shown:
        lines += ["", f"## {heading}", body]
    again = f"{_press('h', typed)} again" if loop else "run the same command again"
    if level < total:
        lines += ["", f"(hint {level} of {total}; {again} for the next one)"]
    elif loop:
        lines += ["", f"(that was the last hint; interview follow-ups: nox -s hint -- {kata.id} "
                      "--follow-ups)"]
    if follow_ups:
        lines += ["", "## Follow-up questions", follow_ups]
    elif not loop and level < total:
        lines += [f"(the interview follow-up questions, without using a hint: nox -s hint -- "
                  f"{kata.id} --follow-ups)"]
    if level >= total and not loop:
        lines += ["", f"(all {total} hints shown; the reference, once you pass: "
                      f"nox -s solution -- {kata.id})"]
    return "\n".join(lines) + "\n"


def environment() -> str:
    import platform
    import sys

    import torch

    lines = [f"python  {platform.python_version()} ({sys.executable})",
             f"torch   {torch.__version__}",
             f"cuda    {'available: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available (GPU tests: not covered)'}",
             f"mps     {'available' if torch.backends.mps.is_available() else 'not available'}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the interactive loops


class Screen:
    """Where the loops write: lines, plus one live status line on a terminal.

    On a terminal the status line (the countdown) is redrawn in place and cleared before each
    ordinary line; elsewhere it is never drawn, and the loops print plain milestone lines.
    """

    def __init__(self, stream=None, tty: bool | None = None) -> None:
        import sys

        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.color = use_color(self.tty)
        self._status = ""

    def line(self, text: str = "") -> None:
        self._clear()
        self.stream.write(text if text.endswith("\n") else text + "\n")
        self._draw()

    def status(self, text: str) -> None:
        """Replace the live status line (terminal only), cut to the terminal's width."""
        import shutil

        width = shutil.get_terminal_size((80, 24)).columns - 1
        text = text if len(text) <= width else text[:width - 1] + "…"
        if self.tty and text != self._status:
            self._status = text
            self._clear_now()
            self._draw()

    def close(self) -> None:
        self._clear()
        self._status = ""

    def _clear(self) -> None:
        if self.tty and self._status:
            self._clear_now()

    def _clear_now(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()

    def _draw(self) -> None:
        if self.tty and self._status:
            self.stream.write(_paint(self._status, "cyan", self.color))
        self.stream.flush()


def clock(seconds: float) -> str:
    """12:05 (minutes:seconds), or 1:02:05 past an hour; negative values count overtime."""
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds) + (0.999 if seconds > 0 else 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}" if hours else f"{sign}{minutes}:{secs:02d}"


def follow_ups_text(kata, follow_ups: str) -> str:
    """`kata hint <id> --follow-ups`: the interview follow-up questions alone (no hint used)."""
    body = follow_ups or "(this kata has no follow-up questions yet)"
    return f"{kata.id} — {kata.title}\n\n## Follow-up questions\n{body}\n"


def _keys(blind: bool, typed: bool = False) -> str:
    if typed:
        return ("type done, hint or quit and Enter" if blind
                else "type hint, grade or quit and Enter")
    return "d done · h hint · q give up" if blind else "h hint · g grade now · q give up"


def grading_status(path: str, tty: bool = True) -> str:
    """The status line while a grade runs."""
    how = "press q to quit" if tty else "type quit and Enter to stop"
    return f"⏳ grading {path}… (saving again restarts it; {how})"


def grade_cancelled(path: str) -> str:
    return f"↻ {path} changed while it was graded: grading the new version…"


def practice_banner(kata, path: str, minutes: float, blind: bool, backup: str = "",
                    watching: str = "", typed: bool = False) -> str:
    target = f"target {kata.minutes} min"
    lines = [f"Practice: {kata.id} — {kata.title}",
             f"  {clock(minutes * 60)} on the clock ({target}). Your file: {path}"]
    if backup:
        lines.append(f"  (your previous practice file was saved to {backup})")
    if blind:
        lines.append("  Blind, like a whiteboard: nothing is graded until you press d (done) or "
                     "the time is up.")
    else:
        lines.append("  Edit it in your editor; every save is graded. The clock stops when all "
                     "tests pass.")
    if typed:
        lines.append(f"  No terminal: {_keys(blind, typed)}. Ctrl-C stops, keeping your file.")
    else:
        lines.append(f"  Keys: {_keys(blind)} (or type the word and Enter)   Ctrl-C: stop, "
                     "keeping your file")
    return "\n".join(lines)


def countdown(left: float, runs: int, last: str, blind: bool, typed: bool = False) -> str:
    """The live status line of a practice session."""
    when = f"{clock(left)} left" if left >= 0 else f"{clock(-left)} over time"
    parts = [f"⏱ {when}"]
    if not blind:
        parts.append(f"{runs} run{'s' if runs != 1 else ''}")
        if last:
            parts.append(last)
    parts.append(_keys(blind, typed))
    return " · ".join(parts)


def minutes_left(left: float) -> str:
    minutes = round(left / 60)
    return f"⏱ {minutes} minute{'s' if minutes != 1 else ''} left"


def time_up(blind: bool, minutes: float, typed: bool = False) -> str:
    if blind:
        return "⏱ Time is up. Grading your file once, as it is now…"
    stop = "typing quit gives up" if typed else "q gives up"
    return (f"⏱ Time is up ({clock(minutes * 60)} on the clock). Keep going: the overtime is "
            f"recorded (up to another {clock(minutes * 60)}); {stop}.")


def overtime_over(minutes: float) -> str:
    return f"⏱ {clock(minutes * 60)} of overtime used up. Grading your file one last time…"


def short_verdict(result: KataResult) -> str:
    if result.crashed:
        return "crashed"
    if result.not_started:
        return "not started"
    if result.ok:
        return f"{result.passed}/{result.graded} passing"
    first = result.first_failure
    return f"✗ {first.name}" if first else "rules broken" if result.rules else "failing"


def full_grade_note() -> str:
    return "All quick checks pass; running the full grade…"


def practice_end(kata, outcome: str, elapsed: float, time_to_green: float | None, runs: int,
                 hints: int, inside: bool, path: str, result: KataResult | None) -> str:
    target = kata.minutes * 60
    if outcome == "passed":
        verdict = "inside" if inside else "over"
        head = (f"✓ {kata.id}: green in {clock(time_to_green or 0)} — {verdict} the "
                f"{kata.minutes}-minute target")
    elif outcome == "failed":
        passed = f"{result.passed}/{result.graded} passing" if result else "not graded"
        head = f"✗ {kata.id}: not green after {clock(elapsed)} ({passed})"
    else:
        head = f"· {kata.id}: stopped after {clock(elapsed)}, recorded as abandoned"
    lines = [head, f"  {runs} grading run{'s' if runs != 1 else ''}, {hints} hint"
             f"{'s' if hints != 1 else ''} used. Your file is kept: {path}"]
    if outcome == "passed" and not inside:
        lines.append(f"  {clock((time_to_green or 0) - target)} over; try again later: "
                     f"nox -s practice -- {kata.id}")
    elif outcome != "passed":
        lines.append(f"  Try again: nox -s practice -- {kata.id}   History: nox -s stats -- {kata.id}")
    else:
        lines.append(f"  History: nox -s stats -- {kata.id}   Everything: nox -s progress")
    return "\n".join(lines)


def _watch_keys(typed: bool) -> str:
    return ("type hint, grade or quit and Enter" if typed
            else "Keys: h hint · g grade now · q quit")


def watch_banner(kata, path: str, index: int, total: int, watching: str,
                 typed: bool = False) -> str:
    how = " (polling for changes)" if watching == "polling" else ""
    return (f"── {kata.id} ({index} of {total}): {kata.title}\n"
            f"Watching {path}{how}: every save is graded. {_watch_keys(typed)}")


def watch_status(path: str, typed: bool = False) -> str:
    return f"watching {path} · " + ("type hint, grade or quit" if typed
                                    else "h hint · g grade now · q quit")


def all_done(count: int) -> str:
    return f"All {count} kata{'s' if count != 1 else ''} pass."


def watch_passed(kata, next_kata) -> str:
    text = f"✓ {kata.id} passes."
    if next_kata is not None:
        text += f" Next: {next_kata.id} ({next_kata.exercise.relative_to(next_kata.root)})"
    return text


def watch_done(count: int) -> str:
    return (f"{all_done(count)} Time yourself now: nox -s practice -- <id>, or a mock "
            "interview: nox -s mock")


# ---------------------------------------------------------------- progress and stats

_STATUS_STYLE = {"passing": "green", "failing": "red", "not started": "dim"}


# progress_table's columns, most important first: the narrowest terminal keeps the first ones.
_PROGRESS_COLUMNS = ("kata", "status", "best/target", "hints", "last", "level", "seed")


def _ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "—"
    seconds = max(0.0, now - moment)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def progress_table(rows, now: float, by: str = "track", width: int | None = None) -> str:
    """`kata progress` / `kata list`: one table grouped by track (or seed section).

    Fits `width` (default: the terminal's): columns are dropped from the least important
    (seed, level, last) until it does; ids are never cut, and the summary lines wrap.
    """
    import textwrap

    from kata.progress import seed_section

    width = width or terminal_width()
    group = (lambda r: r.kata.track) if by == "track" else (lambda r: seed_section(r.kata))
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(group(row), []).append(row)
    table = None
    for keep in range(len(_PROGRESS_COLUMNS), 0, -1):
        table = _progress_rich(groups, now, by, _PROGRESS_COLUMNS[:keep])
        if _natural_width(table) <= width:
            break
    other = "seed" if by == "track" else "track"
    passing = sum(r.status == "passing" for r in rows)
    summary = f"{passing}/{len(rows)} passing · by {other}: {_group_totals(rows, other)}"
    footer = textwrap.fill(summary, width, subsequent_indent="  ",
                           break_on_hyphens=False) + "\n"
    footer += textwrap.fill("Next: nox -s watch (re-grade on save) · nox -s practice -- <id> "
                            "(timed) · nox -s stats -- <id>", width, subsequent_indent="  ") + "\n"
    return _to_text(table, _natural_width(table) if table else width) + footer


def _progress_rich(groups: dict, now: float, by: str, columns: tuple[str, ...]):
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"LLM katas — progress by {by}", title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for name, members in groups.items():
        done = sum(r.status == "passing" for r in members)
        table.add_row(Text(f"{name} ({done}/{len(members)})", style="bold"), end_section=False)
        for r in members:
            status = r.status
            if r.status == "failing" and r.total:
                status += f" {r.passed}/{r.total}"
            best = (f"{clock(r.best_seconds)}/{r.kata.minutes}:00"
                    if r.best_seconds is not None else f"—/{r.kata.minutes}:00")
            cells = {"kata": "  " + r.kata.id, "seed": r.kata.seed,
                     "level": "●" * r.kata.difficulty,
                     "status": Text(status, style=_STATUS_STYLE[r.status]),
                     "best/target": best + (" ✓" if r.mastered else ""),
                     "hints": f"{r.hints}/3" + ("+sol" if r.solution_seen else ""),
                     "last": _ago(r.last_attempt, now)}
            table.add_row(*(cells[c] for c in columns), end_section=r is members[-1])
    return table


def _group_totals(rows, by: str) -> str:
    from kata.progress import seed_section

    counts: dict[str, list[int]] = {}
    for r in rows:
        key = r.kata.track if by == "track" else seed_section(r.kata)
        pair = counts.setdefault(key, [0, 0])
        pair[0] += r.status == "passing"
        pair[1] += 1
    return ", ".join(f"{k} {done}/{total}" for k, (done, total) in counts.items())


def stats_text(kata, attempts, now: float, width: int = 40) -> str:
    """`kata stats <id>`: the attempt history and a bar chart of time-to-green vs target."""
    import time

    target = kata.minutes * 60
    lines = [f"{kata.id} — {kata.title} (target {kata.minutes} min)"]
    if not attempts:
        lines.append(f"  no practice attempts yet: nox -s practice -- {kata.id}")
        return "\n".join(lines) + "\n"
    greens = [a.time_to_green for a in attempts if a.time_to_green is not None]
    scale = max([target * 1.25, *greens]) / width
    lines.append("")
    lines.append(f"  {'when':<16} {'mode':<6} {'result':<10} {'runs':>4} {'hints':>5}  "
                 f"time to green (│ = target)")
    marker = int(round(target / scale))
    for a in attempts:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(a.started))
        mode = "mock" if a.mock else a.mode
        if a.time_to_green is not None:
            filled = max(1, int(round(a.time_to_green / scale)))
            bar = "".join("█" if i < filled else ("│" if i == marker else " ")
                          for i in range(max(filled, marker + 1)))
            if filled > marker:
                bar = bar[:marker] + "┃" + bar[marker + 1:]
            chart = f"{bar} {clock(a.time_to_green)}" + (" ✓" if a.inside_target else "")
        else:
            chart = " " * marker + "│ " + ("(not green)" if a.outcome != "running" else "")
        result = a.outcome if a.outcome != "passed" else "green"
        lines.append(f"  {when:<16} {mode:<6} {result:<10} {a.runs:>4} {a.hints:>5}  {chart}")
    best = min(greens) if greens else None
    inside = sum(a.inside_target for a in attempts)
    lines.append("")
    plural = "" if len(attempts) == 1 else "s"
    lines.append(f"  {len(attempts)} attempt{plural}, {len(greens)} green, {inside} inside the target"
                 + (f"; best {clock(best)}" if best is not None else ""))
    return "\n".join(lines) + "\n"


def mock_plan(rows, minutes: float, clocks: list[float] | None = None) -> str:
    """The plan: each kata with its clock (its target, or less when the interview is short)."""
    clocks = clocks or [r.kata.minutes for r in rows]
    names = ", ".join(f"{r.kata.id} ({clock(m * 60)}" + (
        f" of its {r.kata.minutes}-minute target)" if m < r.kata.minutes else ")")
        for r, m in zip(rows, clocks, strict=True))
    return (f"Mock interview: {len(rows)} kata{'s' if len(rows) != 1 else ''} in "
            f"{clock(minutes * 60)}, blind (graded once each, when you press d or time is up): "
            f"{names}")


def mock_scorecard(entries) -> str:
    """entries: (kata, outcome, seconds used, passed, total, inside target)."""
    lines = ["", "Score card", f"  {'kata':<22} {'result':<10} {'tests':>7}  {'time':>6} / target"]
    solved = 0
    for kata, outcome, used, passed, total, inside in entries:
        tests = f"{passed}/{total}" if total else "—"
        mark = "✓" if outcome == "passed" else ("✗" if outcome == "failed" else "·")
        solved += outcome == "passed"
        lines.append(f"  {mark} {kata.id:<20} {outcome:<10} {tests:>7}  {clock(used):>6} / "
                     f"{kata.minutes}:00" + ("  inside" if inside else ""))
    inside = sum(e[5] for e in entries)
    lines.append(f"  solved {solved}/{len(entries)}, {inside} inside the target time")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- files, hints, solutions


def solution_text(kata, source: str, revealed: bool) -> str:
    note = " (revealed before passing; recorded)" if revealed else ""
    return f"# {kata.id}: reference solution{note}\n{source}"


def solution_locked(kata) -> str:
    return (f"{kata.id}: the reference is shown once the kata passes (nox -s {kata.id}). "
            f"Stuck? nox -s hint -- {kata.id}. To see it anyway: nox -s solution -- {kata.id} "
            "--reveal (recorded in your progress).")


def replaced(action: str, kata, path: str, backup: str | None) -> str:
    saved = f"; your previous file is in {backup}" if backup else ""
    if action == "reset":
        text = f"{path} is the fresh stub again{saved}."
        return text + (f" Undo: nox -s restore -- {kata.id}" if backup else "")
    return f"restored {path} from the last backup{saved}."


def store_problem(message: str) -> str:
    return f"kata: {message}"


def store_warning(message: str) -> str:
    return f"(progress not recorded: {message})"


def update_text(done) -> str:
    """`kata update`: what was pulled, what was kept, what is new."""
    lines = [f"update: {done.pulled or 'pulled'}"]
    if done.kept:
        lines.append(f"  your files are kept as they were: {', '.join(done.kept)}")
        lines.append(f"  (copies saved first: {', '.join(done.backups)})")
    if done.new_katas:
        lines.append(f"  new katas: {', '.join(done.new_katas)} (nox -s <id> to start)")
    for kata_id in done.stub_changed:
        lines.append(f"  {kata_id}: its stub changed upstream; yours is kept. The new stub: "
                     f"nox -s reset -- {kata_id} (your file is backed up first)")
    return "\n".join(lines) + "\n"

"""Everything a learner reads. Functions here return text; the CLI and plugin write it."""

from __future__ import annotations

import os

from kata.i18n import _, mistake, title
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
        lines = lines[:max_lines] + [_("… ({n} more lines)", n=len(lines) - max_lines)]
    return "\n".join(lines + tail)


def headline(result: KataResult) -> str:
    if result.crashed:
        return _("{kata}: crashed ({target})", kata=result.kata, target=result.target)
    if result.graded == 0 and result.tests:
        return _("{kata}: nothing graded, {n} not covered ({target})", kata=result.kata,
                 n=len(result.tests), target=result.target)
    if not result.complete:  # -k, -m, node ids, --deselect, -x: never a pass
        text = _("{kata}: {passed}/{graded} selected passing — partial run", kata=result.kata,
                 passed=result.passed, graded=result.graded)
        if result.selected_ok:
            text += _(", not recorded as passing")
        return f"{text} ({result.target})"
    text = _("{kata}: {passed}/{graded} passing", kata=result.kata, passed=result.passed,
             graded=result.graded)
    if result.not_started:
        text += _(" — not started")
    elif result.rules:
        text += _(" — breaks the kata's rules, not passing")
    elif result.ok:
        text += _(" — all passing")
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
    style = "green" if result.ok else (
        "yellow" if result.not_started or result.selected_ok else "red")
    head = headline(result)
    if quick and result.not_started:
        head = _("{kata}: not started ({target})", kata=result.kata, target=result.target)
    elif quick and not result.ok and not result.crashed:
        head = _("{kata}: {passed} passed, then a failure — quick check ({target})",
                 kata=result.kata, passed=result.passed, target=result.target)
    lines.append(_paint(head, style, color) if color else head)
    hint = ((_("Stuck? type h and Enter for a hint") if typed else _("Stuck? press h for a hint"))
            if loop else _("Stuck? nox -s hint -- {kata}", kata=result.kata))
    if result.crashed:
        lines.append(_indent(result.crashed, "  "))
    for message in result.rules:
        lines.append(_paint(_("  ✗ rules: "), "red", color) + message)
    if result.not_started:
        functions = []
        for test in result.tests:
            name = test.message.split(":")[0].strip()
            if test.status == "not_started" and name and name not in functions:
                functions.append(name)
        functions += [name for name in result.todo if name not in functions]
        if functions:
            lines.append(_("  not started: {names}", names=", ".join(functions)))
        if loop != "ended":
            lines.append((_("  Open {target}, read the docstrings and replace each TODO, then "
                            "save.") if loop else
                          _("  Open {target}, read the docstrings and replace each TODO."))
                         .format(target=result.target) + f" {hint}")
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
            label = {"timeout": _(" (timed out)"), "error": _(" (error)")}.get(test.status, "")
            if same:
                label += _(" (and {n} more with the same message)", n=same)
            lines.append(f"  {mark} {_paint(test.name, 'bold', color)}{label}")
            lines.append(_indent(_clip(test.message), "      "))
            if example := _clean_example(test.example):
                lines.append(_indent(_("minimal example:") + "\n" + _indent(_clip(example), "  "),
                                     "      "))
            if test.diagnosis:
                lines.append("      " + _paint(_("likely mistake: "), "yellow", color)
                             + mistake(result.kata, test.mutant, test.diagnosis))
        if also:
            lines.append(f"  {_paint('✗', 'red', color)} "
                         + _("also failing: {names}", names=", ".join(also)))
        pending = [t.name for t in result.tests if t.status == "not_started"]
        if pending:
            todo = _(" (still TODO: {names})", names=", ".join(result.todo)) if result.todo else ""
            lines.append(_("  … {n} tests not started{todo}: {names}", n=len(pending), todo=todo,
                           names=", ".join(pending)))
        skipped = [t for t in result.tests if t.status == "skipped"]
        if skipped:
            reason = skipped[0].message.removeprefix("not covered: ")
            lines.append(_paint(_("  · {n} not covered: {reason}", n=len(skipped), reason=reason),
                                "dim", color))
        if failures and not result.not_started and loop != "ended":
            again = (_("  Fix the first failure, then save again.") if loop
                     else _("  Fix the first failure, then grade again."))
            lines.append(f"{again} {hint}")
        elif result.ok and not loop:
            lines.append(_("  Done. Time yourself next: nox -s practice -- {kata}",
                           kata=result.kata))
        elif result.selected_ok and not loop:  # a partial run that passed
            lines.append(_("  Grade the whole kata to record it: nox -s {kata}", kata=result.kata))
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
    return max((_width(line.rstrip()) for line in buffer.getvalue().splitlines()), default=0)


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
    return (_to_text(table, width) + _("Grade one: nox -s <id>    Hints: nox -s hint -- <id>")
            + "\n")


def _press(key: str, typed: bool) -> str:
    """How to give a key: a key press on a terminal, a line in a pipe."""
    return _("type {key} and Enter", key=key) if typed else _("press {key}", key=key)


def hints_text(kata, shown, level: int, total: int, follow_ups: str, loop: bool = False,
               typed: bool = False) -> str:
    lines = [f"{kata.id} — {title(kata)}"]
    for heading, body in shown:
        lines += ["", f"## {heading}", body]
    if level < total:
        if loop and typed:
            more = _("(hint {level} of {total}; type h and Enter again for the next one)")
        elif loop:
            more = _("(hint {level} of {total}; press h again for the next one)")
        else:
            more = _("(hint {level} of {total}; run the same command again for the next one)")
        lines += ["", more.format(level=level, total=total)]
    elif loop:
        lines += ["", _("(that was the last hint; interview follow-ups: nox -s hint -- {kata} "
                        "--follow-ups)", kata=kata.id)]
    if follow_ups:
        lines += ["", _("## Follow-up questions"), follow_ups]
    elif not loop and level < total:
        lines += [_("(the interview follow-up questions, without using a hint: nox -s hint -- "
                    "{kata} --follow-ups)", kata=kata.id)]
    if level >= total and not loop:
        lines += ["", _("(all {total} hints shown; the reference, once you pass: "
                        "nox -s solution -- {kata})", total=total, kata=kata.id)]
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
    body = follow_ups or _("(this kata has no follow-up questions yet)")
    return f"{kata.id} — {title(kata)}\n\n" + _("## Follow-up questions") + f"\n{body}\n"


def _keys(blind: bool, typed: bool = False) -> str:
    if typed:
        return (_("type done, hint or quit and Enter") if blind
                else _("type hint, grade or quit and Enter"))
    return _("d done · h hint · q give up") if blind else _("h hint · g grade now · q give up")


def grading_status(path: str, tty: bool = True) -> str:
    """The status line while a grade runs."""
    return (_("⏳ grading {path}… (saving again restarts it; press q to quit)", path=path) if tty
            else _("⏳ grading {path}… (saving again restarts it; type quit and Enter to stop)",
                   path=path))


def grade_cancelled(path: str) -> str:
    return _("↻ {path} changed while it was graded: grading the new version…", path=path)


def practice_banner(kata, path: str, minutes: float, blind: bool, backup: str = "",
                    watching: str = "", typed: bool = False) -> str:
    lines = [_("Practice: {kata} — {title}", kata=kata.id, title=title(kata)),
             _("  {clock} on the clock (target {minutes} min). Your file: {path}",
               clock=clock(minutes * 60), minutes=kata.minutes, path=path)]
    if backup:
        lines.append(_("  (your previous practice file was saved to {backup})", backup=backup))
    if blind:
        lines.append(_("  Blind, like a whiteboard: nothing is graded until you press d (done) or "
                       "the time is up."))
    else:
        lines.append(_("  Edit it in your editor; every save is graded. The clock stops when all "
                       "tests pass."))
    if typed:
        lines.append(_("  No terminal: {keys}. Ctrl-C stops, keeping your file.",
                       keys=_keys(blind, typed)))
    else:
        lines.append(_("  Keys: {keys} (or type the word and Enter)   Ctrl-C: stop, keeping "
                       "your file", keys=_keys(blind)))
    return "\n".join(lines)


def countdown(left: float, runs: int, last: str, blind: bool, typed: bool = False) -> str:
    """The live status line of a practice session."""
    when = (_("{clock} left", clock=clock(left)) if left >= 0
            else _("{clock} over time", clock=clock(-left)))
    parts = [f"⏱ {when}"]
    if not blind:
        parts.append(_("{n} run", n=runs) if runs == 1 else _("{n} runs", n=runs))
        if last:
            parts.append(last)
    parts.append(_keys(blind, typed))
    return " · ".join(parts)


def minutes_left(left: float) -> str:
    minutes = round(left / 60)
    return (_("⏱ {n} minute left", n=minutes) if minutes == 1
            else _("⏱ {n} minutes left", n=minutes))


def time_up(blind: bool, minutes: float, typed: bool = False) -> str:
    if blind:
        return _("⏱ Time is up. Grading your file once, as it is now…")
    if typed:
        return _("⏱ Time is up ({clock} on the clock). Keep going: the overtime is "
                 "recorded (up to another {clock}). Typing quit gives up.",
                 clock=clock(minutes * 60))
    return _("⏱ Time is up ({clock} on the clock). Keep going: the overtime is "
             "recorded (up to another {clock}). q gives up.", clock=clock(minutes * 60))


def overtime_over(minutes: float) -> str:
    return _("⏱ {clock} of overtime used up. Grading your file one last time…",
             clock=clock(minutes * 60))


def short_verdict(result: KataResult) -> str:
    if result.crashed:
        return _("crashed")
    if result.not_started:
        return _("not started")
    if result.ok:
        return _("{passed}/{graded} passing", passed=result.passed, graded=result.graded)
    first = result.first_failure
    return f"✗ {first.name}" if first else _("rules broken") if result.rules else _("failing")


def full_grade_note() -> str:
    return _("All quick checks pass; running the full grade…")


def input_closed() -> str:
    return _("(input closed: no more typed commands; saves are still graded and the clock runs "
             "on. Ctrl-C stops, keeping your file.)")


def practice_end(kata, outcome: str, elapsed: float, time_to_green: float | None, runs: int,
                 hints: int, inside: bool, path: str, result: KataResult | None,
                 recorded: bool = True) -> str:
    target = kata.minutes * 60
    if outcome == "passed":
        head = (_("✓ {kata}: green in {clock} — inside the {minutes}-minute target") if inside
                else _("✓ {kata}: green in {clock} — over the {minutes}-minute target")).format(
            kata=kata.id, clock=clock(time_to_green or 0), minutes=kata.minutes)
    elif outcome == "failed":
        passed = (_("{passed}/{graded} passing", passed=result.passed, graded=result.graded)
                  if result else _("not graded"))
        head = _("✗ {kata}: not green after {clock} ({passed})", kata=kata.id,
                 clock=clock(elapsed), passed=passed)
    else:
        head = (_("· {kata}: stopped after {clock}, recorded as abandoned", kata=kata.id,
                  clock=clock(elapsed)) if recorded
                else _("· {kata}: stopped after {clock}", kata=kata.id, clock=clock(elapsed)))
    runs_text = _("{n} grading run", n=runs) if runs == 1 else _("{n} grading runs", n=runs)
    hints_text_ = _("{n} hint", n=hints) if hints == 1 else _("{n} hints", n=hints)
    lines = [head, _("  {runs}, {hints} used. Your file is kept: {path}", runs=runs_text,
                     hints=hints_text_, path=path)]
    if outcome == "passed" and not inside:
        lines.append(_("  {clock} over; try again later: nox -s practice -- {kata}",
                       clock=clock((time_to_green or 0) - target), kata=kata.id))
    elif outcome != "passed":
        lines.append(_("  Try again: nox -s practice -- {kata}   History: nox -s stats -- {kata}",
                       kata=kata.id))
    else:
        lines.append(_("  History: nox -s stats -- {kata}   Everything: nox -s progress",
                       kata=kata.id))
    return "\n".join(lines)


def watch_banner(kata, path: str, index: int, total: int, watching: str,
                 typed: bool = False) -> str:
    how = _(" (polling for changes)") if watching == "polling" else ""
    head = _("── {kata} ({index} of {total}): {title}", kata=kata.id, index=index, total=total,
             title=title(kata)) + "\n"
    if typed:
        return head + _("Watching {path}{how}: every save is graded. Type hint, grade or quit "
                        "and Enter", path=path, how=how)
    return head + _("Watching {path}{how}: every save is graded. Keys: h hint · g grade now · "
                    "q quit", path=path, how=how)


def watch_status(path: str, typed: bool = False) -> str:
    if typed:
        return _("watching {path} · type hint, grade or quit", path=path)
    return _("watching {path} · h hint · g grade now · q quit", path=path)


def all_done(count: int) -> str:
    return _("All {n} kata pass.", n=count) if count == 1 else _("All {n} katas pass.", n=count)


def watch_passed(kata, next_kata) -> str:
    text = _("✓ {kata} passes.", kata=kata.id)
    if next_kata is not None:
        text += _(" Next: {kata} ({path})", kata=next_kata.id,
                  path=next_kata.exercise.relative_to(next_kata.root))
    return text


def watch_done(count: int) -> str:
    return all_done(count) + _(" Time yourself now: nox -s practice -- <id>, or a mock "
                               "interview: nox -s mock")


# ---------------------------------------------------------------- progress and stats

_STATUS_STYLE = {"passing": "green", "failing": "red", "not started": "dim"}


# progress_table's columns, most important first: the narrowest terminal keeps the first ones.
_PROGRESS_COLUMNS = ("kata", "status", "best/target", "hints", "last", "level", "seed")


def _ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "—"
    seconds = max(0.0, now - moment)
    for size, unit in ((86400, "{n}d ago"), (3600, "{n}h ago"), (60, "{n}min ago")):
        if seconds >= size:
            return _(unit, n=int(seconds // size))
    return _("just now")


def progress_table(rows, now: float, by: str = "track", width: int | None = None) -> str:
    """`kata progress` / `kata list`: one table grouped by track (or the guide's sections).

    Fits `width` (default: the terminal's): columns are dropped from the least important
    (seed, level, last) until it does; ids are never cut, and the summary lines wrap.
    """
    if by == "seed":
        return guide_table(rows, now)
    width = width or terminal_width()
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row.kata.track, []).append(row)
    table = None
    for keep in range(len(_PROGRESS_COLUMNS), 0, -1):
        table = _progress_rich(groups, now, by, _PROGRESS_COLUMNS[:keep])
        if _natural_width(table) <= width:
            break
    totals = _group_totals(rows, "seed")
    passing = sum(r.status == "passing" for r in rows)
    summary = _("{passing}/{total} passing · by {other}: {totals}", passing=passing,
                total=len(rows), other=_("seed"), totals=totals)
    footer = _fold(summary, width, ", ") + "\n"
    footer += _fold(_("Next: nox -s watch (re-grade on save) · nox -s practice -- <id> (timed) · "
                      "nox -s stats -- <id>"), width, "· ") + "\n"
    text = _to_text(table, _natural_width(table))
    return "".join(line.rstrip(" ") + "\n" for line in text.splitlines()) + footer


def _fold(text: str, width: int, sep: str, indent: str = "  ") -> str:
    """Wrap `text` at `sep` (a command or a count is never split) to `width` terminal columns (CJK
    characters take two); a piece wider than `width` gets a line of its own."""
    lines: list[str] = []
    for piece in text.split(sep):
        joined = lines[-1] + sep + piece if lines else piece
        if lines and _width(joined) + _width(sep.rstrip()) <= width:
            lines[-1] = joined
        else:
            if lines:
                lines[-1] += sep.rstrip()  # the line ends on its separator: more follows
            lines.append(indent + piece if lines else piece)
    return "\n".join(lines)


def _progress_rich(groups: dict, now: float, by: str, columns: tuple[str, ...]):
    from rich.table import Table
    from rich.text import Text

    table = Table(title=_("LLM katas — progress by {by}", by=_(by)), title_justify="left")
    for column in columns:
        table.add_column(_(column), no_wrap=True)
    for name, members in groups.items():
        done = sum(r.status == "passing" for r in members)
        table.add_row(Text(f"{name} ({done}/{len(members)})", style="bold"), end_section=False)
        for r in members:
            status = _(r.status)
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


def _width(text: str) -> int:
    """Columns `text` takes on a terminal (CJK characters take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def guide_table(rows, now: float) -> str:
    """`kata progress --by seed`: the interview guide's sections in its order, with their katas
    (sections without one too), then its 面试准备清单 ticking as katas pass."""
    from kata.catalog import repo_root
    from kata.guide import load_guide

    root = rows[0].kata.root if rows else repo_root()
    guide = load_guide(root)
    by_seed: dict[str, list] = {}
    for row in rows:
        by_seed.setdefault(row.kata.seed, []).append(row)
    status = {row.kata.id: row.status for row in rows}
    id_width = max([22, *(len(row.kata.id) for row in rows)])
    lines = [_("LLM katas — progress by the guide's sections ({title})", title=guide.title)]
    part = None
    for section in guide.sections:
        if section.part != part:
            part = section.part
            lines += ["", f"{part}. {guide.parts.get(part, '')}"]
        members = by_seed.get(section.id, [])
        done = sum(r.status == "passing" for r in members)
        head = f"  {section.id}"
        if section.question:
            head += f" — {section.question}"
        if members:
            lines.append(head + f" ({done}/{len(members)})")
        else:
            lines.append(head + _(" (no kata yet)"))
        for r in members:
            state = _(r.status)
            if r.status == "failing" and r.total:
                state += f" {r.passed}/{r.total}"
            mark = "✓" if r.status == "passing" else "·"
            best = f"{clock(r.best_seconds)} / " if r.best_seconds is not None else "— / "
            lines.append(f"    {mark} {r.kata.id:<{id_width}} {_pad(state, 14)} {best}"
                         f"{r.kata.minutes}:00  {_ago(r.last_attempt, now)}")
    if guide.checklist:
        lines += ["", _("面试准备清单 (the guide's preparation checklist; an item ticks when "
                        "its katas pass)")]
        group = None
        for item in guide.checklist:
            if item.group != group:
                group = item.group
                lines.append(f"  {group}")
            if not item.katas:
                lines.append(f"    [ ] {_pad(item.item, 16)} " + _("(no kata covers this yet)"))
                continue
            done = sum(status.get(k) == "passing" for k in item.katas)
            tick = "x" if done == len(item.katas) else " "
            lines.append(f"    [{tick}] {_pad(item.item, 16)} {done}/{len(item.katas)}: "
                         + ", ".join(item.katas))
    passing = sum(r.status == "passing" for r in rows)
    lines += ["", _("{passing}/{total} passing · by track: {totals}", passing=passing,
                    total=len(rows), totals=_group_totals(rows, "track")),
              _("Next: nox -s watch (re-grade on save) · nox -s practice -- <id> (timed) · "
                "nox -s stats -- <id>")]
    return "\n".join(lines) + "\n"


def _group_totals(rows, by: str) -> str:
    from kata.progress import seed_section

    counts: dict[str, list[int]] = {}
    for r in rows:
        key = r.kata.track if by == "track" else seed_section(r.kata)
        pair = counts.setdefault(key, [0, 0])
        pair[0] += r.status == "passing"
        pair[1] += 1
    order = sorted(counts) if by == "seed" else list(counts)  # the guide's parts in order
    return ", ".join(f"{k} {counts[k][0]}/{counts[k][1]}" for k in order)


def stats_text(kata, attempts, now: float, width: int = 40) -> str:
    """`kata stats <id>`: the attempt history and a bar chart of time-to-green vs target."""
    import time

    target = kata.minutes * 60
    lines = [_("{kata} — {title} (target {minutes} min)", kata=kata.id, title=title(kata),
               minutes=kata.minutes)]
    if not attempts:
        lines.append(_("  no practice attempts yet: nox -s practice -- {kata}", kata=kata.id))
        return "\n".join(lines) + "\n"
    greens = [a.time_to_green for a in attempts if a.time_to_green is not None]
    scale = max([target * 1.25, *greens]) / width
    lines.append("")
    lines.append(f"  {_pad(_('when'), 16)} {_pad(_('mode'), 6)} {_pad(_('result'), 10)} "
                 f"{_pad(_('runs'), 4, right=True)} {_pad(_('hints'), 5, right=True)}  "
                 + _("time to green (│ = target)"))
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
            chart = " " * marker + "│ " + (_("(not green)") if a.outcome != "running" else "")
        result = _(a.outcome) if a.outcome != "passed" else _("green")
        lines.append(f"  {when:<16} {_pad(_(mode), 6)} {_pad(result, 10)} {a.runs:>4} "
                     f"{a.hints:>5}  {chart}")
    best = min(greens) if greens else None
    inside = sum(a.inside_target for a in attempts)
    lines.append("")
    summary = (_("  {n} attempt, {green} green, {inside} inside the target") if len(attempts) == 1
               else _("  {n} attempts, {green} green, {inside} inside the target"))
    lines.append(summary.format(n=len(attempts), green=len(greens), inside=inside)
                 + (_("; best {clock}", clock=clock(best)) if best is not None else ""))
    return "\n".join(lines) + "\n"


def mock_plan(rows, minutes: float, clocks: list[float] | None = None) -> str:
    """The plan: each kata with its clock (its target, or less when the interview is short)."""
    clocks = clocks or [r.kata.minutes for r in rows]
    names = ", ".join(
        _("{kata} ({clock} of its {minutes}-minute target)", kata=r.kata.id, clock=clock(m * 60),
          minutes=r.kata.minutes) if m < r.kata.minutes
        else _("{kata} ({minutes} min)", kata=r.kata.id, minutes=r.kata.minutes)
        for r, m in zip(rows, clocks, strict=True))
    return _("Mock interview: {n} katas in about {minutes} minutes, blind (graded once each, "
             "when you press d or time is up): {names}", n=len(rows), minutes=f"{minutes:g}",
             names=names)


def mock_scorecard(entries) -> str:
    """entries: (kata, outcome, seconds used, passed, total, inside target)."""
    id_width = max([20, *(len(e[0].id) for e in entries)])
    lines = ["", _("Score card"), f"  {_pad(_('kata'), id_width + 2)} {_pad(_('result'), 10)} "
             f"{_pad(_('tests'), 7, right=True)}  {_pad(_('time'), 6, right=True)} / "
             + _("target")]
    solved = 0
    for kata, outcome, used, passed, total, inside in entries:
        tests = f"{passed}/{total}" if total else "—"
        mark = "✓" if outcome == "passed" else ("✗" if outcome == "failed" else "·")
        solved += outcome == "passed"
        lines.append(f"  {mark} {kata.id:<{id_width}} {_pad(_(outcome), 10)} {tests:>7}  "
                     f"{clock(used):>6} / {kata.minutes}:00" + (_("  inside") if inside else ""))
    inside = sum(e[5] for e in entries)
    lines.append(_("  solved {solved}/{total}, {inside} inside the target time", solved=solved,
                   total=len(entries), inside=inside))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- files, hints, solutions


def task_text(kata, statement: str) -> str:
    """`kata task <id>`: the task statement, then where to write it and how to grade it."""
    lines = [f"{kata.id} — {title(kata)}", "", statement, "",
             _("Your file: {path}   Grade: nox -s {kata}   Stuck? nox -s hint -- {kata}",
               path=kata.exercise.relative_to(kata.root), kata=kata.id)]
    return "\n".join(lines) + "\n"


def solution_text(kata, source: str, revealed: bool) -> str:
    note = _(" (revealed before passing; recorded)") if revealed else ""
    return _("# {kata}: reference solution{note}", kata=kata.id, note=note) + f"\n{source}"


def solution_locked(kata) -> str:
    return _("{kata}: the reference is shown once the kata passes (nox -s {kata}). "
             "Stuck? nox -s hint -- {kata}. To see it anyway: nox -s solution -- {kata} "
             "--reveal (recorded in your progress).", kata=kata.id)


def replaced(action: str, kata, path: str, backup: str | None) -> str:
    saved = _("; your previous file is in {backup}", backup=backup) if backup else ""
    if action == "reset":
        text = _("{path} is the fresh stub again{saved}.", path=path, saved=saved)
        return text + (_(" Undo: nox -s restore -- {kata}", kata=kata.id) if backup else "")
    return _("restored {path} from the last backup{saved}.", path=path, saved=saved)


def store_problem(message: str) -> str:
    return f"kata: {message}"


def store_warning(message: str) -> str:
    return _("(progress not recorded: {message})", message=message)


def update_text(done) -> str:
    """`kata update`: what was pulled, what was kept, what is new."""
    lines = [_("update: {summary}", summary=done.pulled or "git pull")]
    if done.kept:
        lines.append(_("  your files are kept as they were: {files}", files=", ".join(done.kept)))
        lines.append(_("  (copies saved first: {files})", files=", ".join(done.backups)))
    if done.new_katas:
        lines.append(_("  new katas: {ids} (nox -s <id> to start)", ids=", ".join(done.new_katas)))
    for kata_id in done.stub_changed:
        lines.append(_("  {kata}: its stub changed upstream; yours is kept. The new stub: "
                       "nox -s reset -- {kata} (your file is backed up first)", kata=kata_id))
    return "\n".join(lines) + "\n"

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


def _clip(text: str, width: int = 300, max_lines: int = 12) -> str:
    """Keep flooded messages readable: long lines and long messages are cut."""
    lines = [line if len(line) <= width else line[:width] + " …" for line in text.splitlines()]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"… ({len(lines) - max_lines} more lines)"]
    return "\n".join(lines)


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


def kata_summary(result: KataResult, color: bool = False) -> str:
    """The learner's verdict: headline, then what to do next."""
    lines = []
    style = "green" if result.ok else ("yellow" if result.not_started else "red")
    lines.append(_paint(headline(result), style, color) if color else headline(result))
    hint = f"Stuck? nox -s hint -- {result.kata}"
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
        if functions:
            lines.append(f"  not started: {', '.join(functions)}")
        lines.append(f"  Open {result.target}, read the docstrings and replace each TODO. {hint}")
    else:
        shown_messages: set[str] = set()
        also: list[str] = []
        failures = [t for t in result.tests if t.status in ("failed", "timeout", "error")]
        detailed = 0
        for test in failures:
            mark = _paint("✗", "red", color)
            if detailed >= DETAILED_FAILURES or test.message in shown_messages:
                also.append(test.name)
                continue
            detailed += 1
            shown_messages.add(test.message)
            same = sum(t.message == test.message for t in failures) - 1
            label = {"timeout": " (timed out)", "error": " (error)"}.get(test.status, "")
            if same:
                label += f" (and {same} more with the same message)"
            lines.append(f"  {mark} {_paint(test.name, 'bold', color)}{label}")
            lines.append(_indent(_clip(test.message), "      "))
            if test.example:
                lines.append(_indent("minimal example:\n" + _indent(_clip(test.example), "  "),
                                     "      "))
            if test.diagnosis:
                lines.append("      " + _paint("likely mistake: ", "yellow", color) + test.diagnosis)
        if also:
            lines.append(f"  {_paint('✗', 'red', color)} also failing: {', '.join(also)}")
        pending = [t.name for t in result.tests if t.status == "not_started"]
        if pending:
            lines.append(f"  … {len(pending)} not started: {', '.join(pending)}")
        skipped = [t for t in result.tests if t.status == "skipped"]
        if skipped:
            reason = skipped[0].message.removeprefix("not covered: ")
            lines.append(_paint(f"  · {len(skipped)} not covered: {reason}", "dim", color))
        if failures and not result.not_started:
            lines.append(f"  Fix the first failure, then grade again. {hint}")
        elif result.ok:
            lines.append(f"  Done. Time yourself next: nox -s practice -- {result.kata}")
    return "\n".join(lines) + "\n"


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


def _to_text(renderable) -> str:
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, force_terminal=use_color(__import__("sys").stdout.isatty()),
            width=110).print(renderable)
    return buffer.getvalue()


def catalog_table(katas) -> str:
    from rich.table import Table

    table = Table(title="LLM katas", title_justify="left")
    for column in ("id", "track", "seed", "level", "min", "summary"):
        table.add_column(column)
    for kata in katas:
        table.add_row(kata.id, kata.track, kata.seed, "●" * kata.difficulty, str(kata.minutes),
                      kata.summary)
    return _to_text(table) + "Grade one: nox -s <id>    Hints: nox -s hint -- <id>\n"


def hints_text(kata, shown, level: int, total: int, follow_ups: str) -> str:
    lines = [f"{kata.id} — {kata.title}"]
    for heading, body in shown:
        lines += ["", f"## {heading}", body]
    if level < total:
        lines += ["", f"(hint {level} of {total}; run the same command again for the next one)"]
    if follow_ups:
        lines += ["", "## Follow-up questions", follow_ups]
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

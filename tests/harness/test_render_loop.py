"""The loops' screen and the grade recorder's target kinds."""

from __future__ import annotations

import io

from kata import render
from kata.grade import target_kind


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_status_line_is_redrawn_in_place_and_cleared_before_lines(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = _Terminal()
    screen = render.Screen(out)
    screen.status("⏱ 14:59 left")
    screen.status("⏱ 14:58 left")
    screen.line("graded")
    text = out.getvalue()
    assert text.count("\r\033[K") >= 3 and text.endswith("graded\n⏱ 14:58 left")
    assert "\033[36m" not in text  # NO_COLOR


def test_status_line_is_cut_to_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    out = _Terminal()
    render.Screen(out).status("x" * 100)
    assert max(len(part) for part in out.getvalue().split("\r")) < 60


def test_plain_screen_never_draws_a_status_line():
    out = io.StringIO()
    screen = render.Screen(out)
    screen.status("⏱ 14:59 left")
    screen.line("graded")
    assert out.getvalue() == "graded\n"


def test_clock_formats_minutes_hours_and_overtime():
    assert render.clock(605) == "10:05"
    assert render.clock(3725) == "1:02:05"
    assert render.clock(-61) == "-1:01"


def test_target_kind_names_the_graded_file(katas):
    alpha = katas[0]
    assert target_kind(alpha, "exercises/alpha.py") == ("exercises", alpha.exercise)
    assert target_kind(alpha, "solutions")[0] == "solutions"
    assert target_kind(alpha, str(alpha.root / "practice" / "alpha.py"))[0] == "practice"
    assert target_kind(alpha, "/elsewhere/alpha.py")[0] == "other"


def test_minimal_example_drops_coverage_notes_and_fixture_arguments():
    example = ("Failing test case: test_x(\n"
               "    impl=<module 'kata_impl_attention' from '/tmp/x.py'>,\n"
               "    device=device(type='cpu'),\n"
               "    shape=(1, 2),\n"
               ")\n"
               "These lines were always and only run by failing test cases:\n"
               "        /repo/src/kata/check.py:160")
    assert render._clean_example(example) == "Failing test case: test_x(\n    shape=(1, 2),\n)"


def test_progress_table_fits_80_columns_and_never_cuts_an_id(katas):
    from dataclasses import replace

    from kata.progress import KataProgress

    long_ids = [replace(katas[0], id="softmax_cross_entropy_with_a_long_name", seed="1.2 Transformer架构"),
                replace(katas[1], id="memory_store")]
    rows = [KataProgress(long_ids[0], "failing", passed=12, total=21, best_seconds=754.0,
                         hints=3, solution_seen=True, last_attempt=0.0, attempts=3),
            KataProgress(long_ids[1], "passing", best_seconds=100.0, hints=1,
                         last_attempt=500.0)]
    for width in (80, 60):
        text = render.progress_table(rows, now=100_000.0, width=width)
        lines = text.splitlines()
        assert max(len(line.rstrip()) for line in lines) <= width, text
        assert "softmax_cross_entropy_with_a_long_name" in text and "memory_store" in text
        assert "…" not in text
    wide = render.progress_table(rows, now=100_000.0, width=160)
    assert "1.2 Transformer架构" in wide and "failing 12/21" in wide  # room for every column


def test_a_long_failure_message_keeps_its_call_line():
    """Issue 8, item 10: a long SchemaError in tool_registry showed no call."""
    from kata.results import KataResult, TestResult

    message = "SchemaError: 'str' is not valid\n" + "\n".join(f"  detail {i}" for i in range(40))
    message += "\n  call: ToolRegistry.schemas()"
    result = KataResult("tool_registry", "exercises/tool_registry.py", "cpu",
                        [TestResult("test_schemas_are_valid", "failed", message)])
    text = render.kata_summary(result)
    assert "call: ToolRegistry.schemas()" in text and "more lines" in text


def _columns(line: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def test_progress_footer_fits_in_terminal_columns_and_never_splits_a_command(katas):
    """A learner's trial: at 80 columns the by-seed summary (CJK section names, two columns a
    character) ran to 94, the title carried trailing blanks, and `nox -s stats` was cut in two."""
    from dataclasses import replace

    from kata.progress import KataProgress

    seeds = ["1.1 大模型核心概念", "2.1 强化学习（RLHF）", "3.2 性能优化", "4.4 多智能体系统"]
    rows = [KataProgress(replace(katas[0], id=f"kata_{n}", seed=seed), "not started")
            for n, seed in enumerate(seeds)]
    for width in (80, 60, 40):
        text = render.progress_table(rows, now=100_000.0, width=width)
        footer = text.splitlines()[-4:]
        assert all(_columns(line) <= width for line in footer), text
        assert all(line == line.rstrip() for line in text.splitlines()), text
        assert not any(line.rstrip().endswith(("nox -s", "nox", "--")) for line in footer), text
        assert "nox -s stats -- <id>" in text and "4. Agent系统 0/1" in text, text


def test_a_file_that_breaks_the_rules_never_reads_as_passing():
    """A learner's trial: `from solutions.attention import *` was refused, yet the headline
    above the ✗ rules line read "23/23 passing"."""
    from kata.results import KataResult, TestResult

    result = KataResult("attention", "exercises/attention.py", "cpu",
                        [TestResult("test_a", "passed", ""), TestResult("test_b", "passed", "")],
                        rules=["exercises/attention.py:1 imports the reference solution"])
    head = render.headline(result)
    assert "not passing" in head and "all passing" not in head

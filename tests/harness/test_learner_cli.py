"""The learner commands: hint, solution, reset/restore, progress/list, stats, mock."""

from __future__ import annotations

import io

from kata import render
from kata.cli import main
from kata.events import Event, ScriptedInbox
from kata.grade import record
from kata.mock import pick, run_mock
from kata.results import KataResult, TestResult
from kata.store import open_store, store_path

SOLVED = "def f(x):\n    return x + 1\n"


def _passed(kata_id: str) -> KataResult:
    return KataResult(kata_id, f"exercises/{kata_id}.py", "cpu", [TestResult("t", "passed")])


def test_hint_reveals_one_more_level_each_time_and_records_it(repo, capsys):
    assert main(["hint", "alpha"]) == 0
    first = capsys.readouterr().out
    assert "## Hint 1" in first and "## Hint 2" not in first and "hint 1 of 3" in first
    main(["hint", "alpha"])
    assert "## Hint 2" in capsys.readouterr().out
    with open_store(repo) as store:
        assert store.hint_level("alpha") == 2 and store.hint_level("beta") == 0


def test_hint_all_shows_every_level_and_follow_ups(repo, capsys):
    main(["hint", "alpha", "--all"])
    out = capsys.readouterr().out
    assert "## Hint 3" in out and "## Follow-up questions" in out
    with open_store(repo) as store:
        assert store.hint_level("alpha") == 3


def test_solution_is_locked_until_the_kata_passes(repo, capsys):
    assert main(["solution", "alpha"]) == 1
    out = capsys.readouterr().out
    assert "return x + 1" not in out and "--reveal" in out
    record(_passed("alpha"))
    assert main(["solution", "alpha"]) == 0
    out = capsys.readouterr().out
    assert "return x + 1" in out and "BEGIN SOLUTION" not in out


def test_solution_reveal_is_recorded(repo, capsys):
    assert main(["solution", "beta", "--reveal"]) == 0
    assert "return x + 1" in capsys.readouterr().out
    with open_store(repo) as store:
        assert store.solution_revealed("beta")


def test_reset_backs_up_and_restore_brings_it_back(repo, katas, capsys):
    alpha = katas[0]
    alpha.exercise.write_text("my work\n", encoding="utf-8")
    assert main(["reset", "alpha"]) == 0
    assert "NotImplementedError" in alpha.exercise.read_text()
    assert "nox -s restore -- alpha" in capsys.readouterr().out
    assert main(["restore", "alpha"]) == 0
    assert alpha.exercise.read_text() == "my work\n"
    assert main(["restore", "alpha"]) == 0  # idempotent: still the same backup
    assert alpha.exercise.read_text() == "my work\n"


def test_reset_of_an_untouched_stub_makes_no_backup(repo, capsys):
    assert main(["reset", "alpha"]) == 0
    assert not (repo / ".kata" / "backups" / "alpha").exists()
    assert main(["restore", "alpha"]) == 1
    assert "no backup" in capsys.readouterr().err


def test_progress_shows_status_best_time_and_hints(repo, katas, capsys):
    record(_passed("alpha"))
    failing = KataResult("beta", "exercises/beta.py", "cpu",
                         [TestResult("t", "passed"), TestResult("u", "failed", "x")])
    record(failing)
    with open_store(repo) as store:
        attempt = store.start_attempt("alpha", mode="live", minutes=10, target_minutes=10,
                                      file="practice/alpha.py", started=100.0)
        store.finish_attempt(attempt, ended=400.0, outcome="passed", time_to_green=300.0, runs=3,
                             hints=1, inside_target=True, passed=2, total=2)
        store.record_reveal("beta", "hint", 2)
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "foundations (1/1)" in out and "systems (0/1)" in out
    assert "passing" in out and "failing 1/2" in out
    assert "5:00/10:00 ✓" in out and "2/3" in out
    assert main(["list", "--by", "seed"]) == 0
    out = capsys.readouterr().out
    assert "3.2 性能优化 (0/1)" in out and "2.2 注意力机制 (no kata yet)" in out


def test_stats_charts_time_to_green_against_the_target(repo, capsys):
    with open_store(repo) as store:
        for seconds in (900.0, 400.0):
            attempt = store.start_attempt("alpha", mode="live", minutes=10, target_minutes=10,
                                          file="practice/alpha.py", started=1000.0 + seconds)
            store.finish_attempt(attempt, ended=2000.0 + seconds, outcome="passed",
                                 time_to_green=seconds, runs=2, hints=0,
                                 inside_target=seconds <= 600, passed=2, total=2)
    assert main(["stats", "alpha"]) == 0
    out = capsys.readouterr().out
    assert "15:00" in out and "6:40 ✓" in out and "█" in out and "best 6:40" in out


def test_corrupt_store_gives_a_clear_message_and_is_kept(repo, capsys):
    path = store_path(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 200)
    assert main(["progress"]) == 2
    assert "left untouched" in capsys.readouterr().err
    assert path.read_bytes() == b"garbage" * 200
    assert "progress not recorded" in record(_passed("alpha"))  # grading goes on


def test_mock_picks_unmastered_katas_within_the_time(repo, katas):
    with open_store(repo) as store:
        assert [r.kata.id for r in pick(katas, store, 45)] == ["alpha", "beta"]
        assert [r.kata.id for r in pick(katas, store, 12)] == ["alpha"]
        assert [r.kata.id for r in pick(katas, store, 45, ["systems"])] == ["beta"]
        attempt = store.start_attempt("alpha", mode="live", minutes=10, target_minutes=10,
                                      file="practice/alpha.py", started=0.0)
        store.finish_attempt(attempt, ended=60.0, outcome="passed", time_to_green=60.0, runs=1,
                             hints=0, inside_target=True, passed=2, total=2)
        assert [r.kata.id for r in pick(katas, store, 45)] == ["beta"]


def test_mock_runs_blind_sessions_back_to_back_and_prints_a_score_card(repo, katas, clock,
                                                                        grader):
    script = {"alpha": [(60, lambda: _write(repo / "practice" / "alpha.py", SOLVED)),
                        (1, Event("key", "d"))],
              "beta": [(2, Event("key", "d"))]}
    order = iter(["alpha", "beta"])
    out = io.StringIO()
    with open_store(repo, clock=clock) as store:
        code = run_mock(katas, store=store, grader=grader,
                        inbox_factory=lambda: ScriptedInbox(script[next(order)], clock),
                        screen=render.Screen(out, tty=False), clock=clock, minutes=45)
        attempts = store.attempts()
    assert code == 0
    text = out.getvalue()
    assert "Score card" in text and "solved 1/2" in text
    assert [a.outcome for a in attempts] == ["passed", "failed"]
    assert attempts[0].mock == attempts[1].mock == 1 and attempts[0].mode == "blind"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return None


def test_hint_levels_from_the_old_json_file_still_count(repo, capsys):
    (repo / ".kata").mkdir(exist_ok=True)
    (repo / ".kata" / "hints.json").write_text('{"alpha": 2}', encoding="utf-8")
    main(["hint", "alpha"])
    assert "## Hint 3" in capsys.readouterr().out


def test_hint_works_without_a_store(repo, capsys):
    path = store_path(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 200)
    assert main(["hint", "alpha"]) == 0
    captured = capsys.readouterr()
    assert "## Hint 1" in captured.out
    assert len(captured.err.strip().splitlines()) == 1 and str(path) in captured.err
    assert path.read_bytes() == b"garbage" * 200


def test_a_store_problem_after_grading_is_one_line_never_a_traceback(repo):
    (repo / ".kata").write_text("a file where the folder should be")
    warning = record(_passed("alpha"))
    assert "progress not recorded" in warning and "\n" not in warning
    assert str(repo / ".kata") in warning and "mv " in warning


def test_a_partial_run_does_not_change_progress_or_unlock_the_solution(repo, capsys):
    partial = _passed("alpha")
    partial.complete = False
    assert record(partial) == ""
    assert main(["solution", "alpha"]) == 1
    capsys.readouterr()
    main(["progress"])
    row = next(line for line in capsys.readouterr().out.splitlines() if "alpha" in line)
    assert "passing" not in row


def test_a_corrupted_page_after_grading_is_one_line_never_a_traceback(repo):
    with open_store(repo) as store:
        for _ in range(300):
            store.record_run(_passed("alpha"), kind="exercises", source="grade",
                             file_sha="x" * 16)
    path = store_path(repo)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 6 * page
    last = len(data) // page - 2  # a page of the runs table (0-based), past its header
    data[last * page + 8: (last + 1) * page] = b"\xff" * (page - 8)
    path.write_bytes(bytes(data))
    warning = record(_passed("alpha"))
    assert "damaged" in warning and str(path) in warning and "\n" not in warning


def test_mock_minutes_set_the_clock_even_for_one_longer_kata(repo, katas, clock, grader):
    # alpha's target is 10 minutes; a 5-minute mock must not run a 10-minute clock.
    out = io.StringIO()
    with open_store(repo, clock=clock) as store:
        run_mock(katas, store=store, grader=grader, tracks=["foundations"],
                 inbox_factory=lambda: ScriptedInbox([], clock),
                 screen=render.Screen(out, tty=False), clock=clock, minutes=5)
        (attempt,) = store.attempts()
    assert attempt.minutes == 5 and 300 <= attempt.ended - attempt.started <= 301
    assert "5:00 of its 10-minute target" in out.getvalue()


def test_follow_ups_are_read_without_spending_a_hint(repo, capsys):
    assert main(["hint", "alpha", "--follow-ups"]) == 0
    out = capsys.readouterr().out
    assert "## Follow-up questions" in out and "because." in out and "## Hint" not in out
    assert not store_path(repo).exists() or open_store(repo).hint_level("alpha") == 0
    main(["hint", "alpha"])
    assert "--follow-ups" in capsys.readouterr().out  # hint 1 says where they are


def test_loops_accept_the_time_limit_their_timeout_message_suggests():
    from kata.cli import build_parser

    parser = build_parser()
    for argv in (["watch", "--kata-time-limit", "60"], ["practice", "alpha", "--kata-time-limit",
                                                          "60"], ["mock", "--kata-time-limit", "60"]):
        assert parser.parse_args(argv).kata_time_limit == 60


def test_hints_can_start_again_without_losing_their_history(repo, capsys):
    main(["hint", "alpha"])
    main(["hint", "alpha"])
    assert "## Hint 2" in capsys.readouterr().out
    assert main(["hint", "alpha", "--reset"]) == 0
    assert "level 1" in capsys.readouterr().out
    main(["hint", "alpha"])
    out = capsys.readouterr().out
    assert "## Hint 1" in out and "## Hint 2" not in out
    with open_store(repo) as store:
        assert store.hint_level("alpha") == 1
        assert store.reveals_between("alpha", 0, float("inf")) == 3  # the reset is not a hint


def test_long_kata_ids_keep_the_by_seed_and_score_card_columns_aligned(repo):
    from types import SimpleNamespace

    def row(kata_id, status):
        kata = SimpleNamespace(id=kata_id, seed="3.2 性能优化", minutes=30, root=repo,
                               track="systems")
        return SimpleNamespace(kata=kata, status=status, passed=0, total=0, best_seconds=None,
                               last_attempt=None)

    long_id, short_id = "activation_checkpointing_long", "kv_cache"
    lines = render.guide_table([row(long_id, "not started"), row(short_id, "passing")],
                               now=0.0).splitlines()
    starts = {line.index("— / 30:00") for line in lines if "— / 30:00" in line}
    assert len(starts) == 1, lines
    card = render.mock_scorecard([(row(long_id, "").kata, "failed", 60.0, 0, 3, False),
                                  (row(short_id, "").kata, "passed", 60.0, 3, 3, True)])
    rows = [line for line in card.splitlines() if "/ 30:00" in line]
    assert len({line.index("/ 30:00") for line in rows}) == 1, card
    header = next(line for line in card.splitlines() if "result" in line)
    assert header.index("result") == rows[0].index("failed"), card

"""The `kata` command line. Each subcommand returns an exit code; only `kata.render` formats."""

from __future__ import annotations

import argparse
import sys

from kata.catalog import CatalogError, UnknownKataError, find_kata, load_catalog, repo_root


def _catalog():
    return load_catalog(repo_root())


def cmd_grade(args: argparse.Namespace, extra: list[str]) -> int:
    from kata.grade import grade

    katas = _catalog()
    chosen = [find_kata(i, katas) for i in args.ids] if args.ids else katas
    return grade(chosen, extra)


def cmd_sync(args: argparse.Namespace, extra: list[str]) -> int:
    from kata.stubgen import stub_for

    drift = []
    for kata in _catalog():
        if args.ids and kata.id not in args.ids:
            continue
        stub = stub_for(kata.solution, kata.id)
        current = kata.exercise.read_text(encoding="utf-8") if kata.exercise.exists() else None
        if stub == current:
            continue
        if args.check:
            drift.append(kata.id)
        else:
            if current is not None and not args.force:
                print(f"exercises/{kata.id}.py differs from the generated stub; it may hold your "
                      f"work. Use `nox -s reset -- {kata.id}` (keeps a backup) or `kata sync --force`.")
                drift.append(kata.id)
                continue
            kata.exercise.write_text(stub, encoding="utf-8")
            print(f"wrote exercises/{kata.id}.py")
    if args.check and drift:
        print(f"stubs out of sync with solutions: {', '.join(drift)}; run: kata sync --force")
    from kata.readme import sync_readme

    if not sync_readme(repo_root(), _catalog(), check=args.check):
        print("README.md kata table " + ("is out of date; run: kata sync" if args.check
                                         else "updated from kata.toml"))
        if args.check:
            return 1
    return 1 if drift else 0


def cmd_verify(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import render
    from kata.verify import verify

    def progress(report):
        print(render.verify_line(report), flush=True)

    reports, errors = verify(args.ids, jobs=args.jobs, run_tests=not args.static,
                             progress=progress)
    for error in errors:
        print(f"verify: {error}")
    print(render.verify_total(reports))
    return 0 if reports and not errors and all(r.ok for r in reports) else 1


def _store(root=None, fallback: bool = False):
    """The progress store; a store problem is one line on stderr.

    A read-only store is read into memory (its history shows; nothing new is kept). With
    `fallback`, a broken store gives way to an empty one in memory, so hints and the loops
    work without it; otherwise StoreError ends the command (main prints it).
    """
    from kata import render
    from kata.store import open_store

    store = open_store(root or repo_root(), fallback=fallback)
    if store.problem:
        print(render.store_warning(store.problem), file=sys.stderr)
    return store


def cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    """`kata list` and `kata progress`: the catalog with where the learner stands."""
    import time

    from kata import render
    from kata.progress import progress

    katas = _catalog()
    with _store() as store:
        rows = progress(katas, store)
    print(render.progress_table(rows, time.time(), by=getattr(args, "by", "track")), end="")
    return 0


def cmd_stats(args: argparse.Namespace, extra: list[str]) -> int:
    import time

    from kata import render

    kata = find_kata(args.id, _catalog())
    with _store() as store:
        attempts = store.attempts(kata.id)
    print(render.stats_text(kata, attempts, time.time()), end="")
    return 0


def cmd_hint(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import hints, render

    kata = find_kata(args.id, _catalog())
    if args.follow_ups:  # reading them uses no hint and needs no store
        print(render.follow_ups_text(kata, hints.follow_ups(kata)), end="")
        return 0
    total = len(hints.levels(kata))
    with _store(fallback=True) as store:
        if args.reset:
            from kata.i18n import _

            hints.reset(kata, store)
            print(_("Hints for {kata} start again from level 1 (the ones you saw stay in your "
                    "stats).", kata=kata.id))
            return 0
        if args.all:
            shown, level = hints.reveal_all(kata, store), total
        else:
            level, shown = hints.reveal_next(kata, store)
    print(render.hints_text(kata, shown, level, total,
                            hints.follow_ups(kata) if args.all or level == total else ""), end="")
    return 0


def cmd_task(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import i18n, render

    kata = find_kata(args.id, _catalog())
    print(render.task_text(kata, i18n.task(kata)), end="")
    return 0


def cmd_zh_stamp(args: argparse.Namespace, extra: list[str]) -> int:
    """Record that hints/<id>.zh.md now translates the English as it is (after updating it)."""
    from kata import i18n

    katas = _catalog()
    chosen = [find_kata(i, katas) for i in args.ids] if args.ids else katas
    status = 0
    for kata in chosen:
        if not i18n.zh_path(kata).is_file():
            print(f"kata: hints/{kata.id}.zh.md does not exist; write it first "
                  "(docs/authoring.md, Chinese texts)", file=sys.stderr)
            status = 1
            continue
        path = i18n.restamp(kata)
        print(f"stamped {path.relative_to(kata.root)}")
        for problem in i18n.check(kata):
            print(f"  still to do: {problem}")
    return status


def cmd_solution(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import render
    from kata.stubgen import strip_markers

    kata = find_kata(args.id, _catalog())
    with _store() as store:
        passed = store.ever_passed(kata.id)
        if not passed and not args.reveal:
            print(render.solution_locked(kata))
            return 1
        if not passed:
            store.record_reveal(kata.id, "solution", 0)
    source = strip_markers(kata.solution.read_text(encoding="utf-8"))
    print(render.solution_text(kata, source, revealed=not passed), end="")
    return 0


def cmd_reset(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import render, workspace

    kata = find_kata(args.id, _catalog())
    done = workspace.reset(kata)
    backup = str(done.backup.relative_to(kata.root)) if done.backup else None
    print(render.replaced("reset", kata, str(done.path.relative_to(kata.root)), backup))
    return 0


def cmd_restore(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import render, workspace

    kata = find_kata(args.id, _catalog())
    try:
        done = workspace.restore(kata, "practice" if args.practice else "exercises")
    except workspace.WorkspaceError as error:
        print(f"kata: {error}", file=sys.stderr)
        return 1
    backup = str(done.backup.relative_to(kata.root)) if done.backup else None
    print(render.replaced("restore", kata, str(done.path.relative_to(kata.root)), backup))
    return 0


def cmd_update(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import render, workspace

    try:
        done = workspace.update(repo_root())
    except workspace.WorkspaceError as error:
        print(f"kata update: {error}", file=sys.stderr)
        return 1
    print(render.update_text(done), end="")
    return 0


def _loop_parts(root, args: argparse.Namespace):
    """The real clock, grader, screen and event inbox of the interactive loops."""
    import os
    import time

    if args.poll:
        os.environ["KATA_WATCH_POLL"] = "1"

    from kata import render
    from kata.events import Inbox
    from kata.grader import WarmGrader

    return time.time, WarmGrader(root, time_limit=args.kata_time_limit), render.Screen(), Inbox


def _time_limit_error(args: argparse.Namespace) -> int:
    if args.kata_time_limit is not None and args.kata_time_limit <= 0:
        print(f"kata: --kata-time-limit must be positive (seconds), got {args.kata_time_limit:g}",
              file=sys.stderr)
        return 2
    return 0


def cmd_practice(args: argparse.Namespace, extra: list[str]) -> int:
    from pathlib import Path

    from kata.practice import Session

    root = repo_root()
    kata = find_kata(args.id, _catalog())
    if args.minutes is not None and args.minutes <= 0:
        print(f"kata: --minutes must be positive, got {args.minutes:g}", file=sys.stderr)
        return 2
    if _time_limit_error(args):
        return 2
    clock, grader, screen, inbox_type = _loop_parts(root, args)
    path = Path(args.file).expanduser().resolve() if args.file else None
    if path is not None and path.suffix != ".py":
        print(f"kata: --file {args.file}: give a .py path", file=sys.stderr)
        return 2
    with _store(root, fallback=True) as store, grader, inbox_type() as inbox:
        grader.start(warm=[kata])  # imports torch while the learner reads the stub
        session = Session(kata, store=store, grader=grader, inbox=inbox, screen=screen,
                          clock=clock, minutes=args.minutes, blind=args.blind, path=path)
        outcome = session.run()
    if outcome.interrupted:
        return 130
    return 0 if outcome.outcome == "passed" else 1


def cmd_watch(args: argparse.Namespace, extra: list[str]) -> int:
    from kata.watch import Watch

    root = repo_root()
    katas = _catalog()
    if args.ids:
        katas = [find_kata(i, katas) for i in args.ids]
    if _time_limit_error(args):
        return 2
    _clock, grader, screen, inbox_type = _loop_parts(root, args)
    with _store(root, fallback=True) as store, grader, inbox_type() as inbox:
        return Watch(katas, store=store, grader=grader, inbox=inbox, screen=screen).run()


def cmd_mock(args: argparse.Namespace, extra: list[str]) -> int:
    from kata.catalog import TRACKS
    from kata.mock import run_mock

    root = repo_root()
    for track in args.track or []:
        if track not in TRACKS:
            print(f"kata: --track {track}: use one of {', '.join(TRACKS)}", file=sys.stderr)
            return 2
    if args.minutes <= 0:
        print(f"kata: --minutes must be positive, got {args.minutes:g}", file=sys.stderr)
        return 2
    if _time_limit_error(args):
        return 2
    clock, grader, screen, inbox_type = _loop_parts(root, args)
    with _store(root, fallback=True) as store, grader:
        return run_mock(_catalog(), store=store, grader=grader, inbox_factory=inbox_type,
                        screen=screen, clock=clock, minutes=args.minutes, tracks=args.track)


def cmd_env(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import render

    print(render.environment(), end="")
    return 0


def _loop_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--poll", action="store_true",
                   help="poll for saves (for file systems where change events fail)")
    p.add_argument("--kata-time-limit", type=float, default=None, metavar="SECONDS",
                   help="seconds one kata test may run before it fails as a timeout (default 20)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kata", description="LLM katas: grade, hint, watch, practise, progress.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("grade", help="grade katas; pytest options pass through after -- "
                                     "(e.g. -- -k worked_example -x, -- --target solutions)")
    p.add_argument("ids", nargs="*", help="kata ids (default: all, in catalog order)")
    p.set_defaults(func=cmd_grade)
    p = sub.add_parser("sync", help="generate exercises/ stubs from solutions/")
    p.add_argument("ids", nargs="*")
    p.add_argument("--check", action="store_true", help="fail if a committed stub drifted")
    p.add_argument("--force", action="store_true", help="overwrite a stub that differs")
    p.set_defaults(func=cmd_sync)
    p = sub.add_parser("verify", help="prove stubs fail, solutions pass, mutants die")
    p.add_argument("ids", nargs="*")
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--static", action="store_true", help="skip running the kata tests")
    p.set_defaults(func=cmd_verify)
    for name in ("list", "progress"):
        p = sub.add_parser(name, help="the catalog with your status, best times and hints")
        p.add_argument("--by", choices=("track", "seed"), default="track",
                       help="group by track (default) or by the seed guide's sections")
        p.set_defaults(func=cmd_list)
    p = sub.add_parser("stats", help="one kata's practice history with a time-to-green chart")
    p.add_argument("id")
    p.set_defaults(func=cmd_stats)
    p = sub.add_parser("hint", help="reveal the next hint level for a kata")
    p.add_argument("id")
    p.add_argument("--all", action="store_true", help="show every level and the follow-ups")
    p.add_argument("--reset", action="store_true",
                   help="start the hints again from level 1 (what you saw stays in your stats)")
    p.add_argument("--follow-ups", action="store_true",
                   help="only the interview follow-up questions (uses no hint)")
    p.set_defaults(func=cmd_hint)
    p = sub.add_parser("task", help="a kata's task statement (in KATA_LANG's language)")
    p.add_argument("id")
    p.set_defaults(func=cmd_task)
    p = sub.add_parser("zh-stamp", help="record that hints/<id>.zh.md translates the current "
                                        "English (run after updating the Chinese)")
    p.add_argument("ids", nargs="*", help="kata ids (default: every kata with a zh file)")
    p.set_defaults(func=cmd_zh_stamp)
    p = sub.add_parser("solution", help="the reference solution (after the kata passes)")
    p.add_argument("id")
    p.add_argument("--reveal", action="store_true",
                   help="show it before passing (recorded in your progress)")
    p.set_defaults(func=cmd_solution)
    p = sub.add_parser("practice", help="timed practice on a fresh copy of the stub")
    p.add_argument("id")
    p.add_argument("--minutes", type=float, default=None,
                   help="time on the clock (default: the kata's target)")
    p.add_argument("--blind", action="store_true",
                   help="like a whiteboard: grade once, when you are done or time is up")
    p.add_argument("--file", default=None,
                   help="practise in this file instead of practice/<id>.py")
    _loop_options(p)
    p.set_defaults(func=cmd_practice)
    p = sub.add_parser("watch", help="re-grade on every save; move on when a kata passes")
    p.add_argument("ids", nargs="*", help="katas to go through (default: all, in order)")
    _loop_options(p)
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("mock", help="a mock interview: unmastered katas back to back, blind")
    p.add_argument("--minutes", type=float, default=45)
    p.add_argument("--track", action="append", help="only this track (repeatable)")
    _loop_options(p)
    p.set_defaults(func=cmd_mock)
    p = sub.add_parser("reset", help="fresh stub in exercises/<id>.py (your file is backed up)")
    p.add_argument("id")
    p.set_defaults(func=cmd_reset)
    p = sub.add_parser("restore", help="bring back the last backup of exercises/<id>.py")
    p.add_argument("id")
    p.add_argument("--practice", action="store_true", help="restore practice/<id>.py instead")
    p.set_defaults(func=cmd_restore)
    p = sub.add_parser("update", help="git pull a newer version, keeping your exercise files")
    p.set_defaults(func=cmd_update)
    p = sub.add_parser("env", help="python, torch and devices in use")
    p.set_defaults(func=cmd_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command == "grade":
        extra = unknown + extra
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.func(args, extra)
    except (CatalogError, UnknownKataError) as error:
        print(f"kata: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        from kata.store import StoreError

        if not isinstance(error, StoreError):
            raise
        from kata import render

        print(render.store_problem(str(error)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

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
                      f"work. Use `kata reset {kata.id}` (keeps a backup) or `kata sync --force`.")
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


def cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import render

    print(render.catalog_table(_catalog()), end="")
    return 0


def cmd_hint(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import hints, render

    kata = find_kata(args.id, _catalog())
    if args.all:
        shown, level = hints.levels(kata), len(hints.levels(kata))
    else:
        level, shown = hints.reveal_next(kata)
    print(render.hints_text(kata, shown, level, len(hints.levels(kata)),
                            hints.follow_ups(kata) if args.all or level == 3 else ""), end="")
    return 0


def cmd_env(args: argparse.Namespace, extra: list[str]) -> int:
    from kata import render

    print(render.environment(), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kata", description="LLM katas: grade, hint, verify.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("grade", help="grade katas (pytest options after --)")
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
    p = sub.add_parser("list", help="the catalog")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("hint", help="reveal the next hint level for a kata")
    p.add_argument("id")
    p.add_argument("--all", action="store_true", help="show every level and the follow-ups")
    p.set_defaults(func=cmd_hint)
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
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

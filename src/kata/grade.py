"""Grade katas, each in its own pytest process, so a crash in one cannot affect the next.

The child process runs pytest with the grading plugin and writes a JSON result. If it dies
without writing one (segfault, `os._exit`, out of memory), the launcher writes a "crashed"
result naming the test that was running.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from kata import render
from kata.catalog import Kata
from kata.results import KataResult, read_result, write_json
from kata.target import TargetError, resolve_target

MEMORY_LIMIT_GIB = float(os.environ.get("KATA_MEMORY_LIMIT_GB", "8"))


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a grading process: ours plus `extra` (torch threads: kata.plugin)."""
    return {**os.environ, **extra}


def _limit_memory() -> None:
    # An address-space cap turns a runaway allocation into a MemoryError/RuntimeError in the
    # learner's test instead of the machine swapping. CUDA maps huge address ranges, so the cap
    # is skipped where a GPU driver is present.
    if MEMORY_LIMIT_GIB > 0 and not Path("/proc/driver/nvidia").exists():
        limit = int(MEMORY_LIMIT_GIB * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def pytest_command(kata: Kata, result_path: Path, pytest_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", str(kata.test), "--kata-quiet", "-q", "--no-header",
            "--disable-warnings", "-p", "no:faulthandler", f"--kata-result={result_path}", *pytest_args]


def _crash_message(returncode: int, running: str) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        how = f"was killed by {name}"
        if name == "SIGKILL":
            how += " (out of memory?)"
    else:
        how = f"exited with code {returncode} before reporting (does your code call sys.exit or os._exit?)"
    where = f" while running {running.split('::')[-1]}" if running else ""
    return f"The grading process {how}{where}. Nothing after that point was graded."


def grade_one(kata: Kata, pytest_args: list[str], color: bool) -> KataResult | None:
    results = kata.root / ".kata" / "results"
    results.mkdir(parents=True, exist_ok=True)
    result_path = results / f"{kata.id}.json"
    running = results / f"{kata.id}.running"
    result_path.unlink(missing_ok=True)
    env = child_env(KATA_RUNNING_FILE=str(running), KATA_ROOT=str(kata.root))
    if color and "PY_COLORS" not in env:
        env["PY_COLORS"] = "1"
    process = subprocess.run(pytest_command(kata, result_path, pytest_args), env=env,
                             preexec_fn=_limit_memory if os.name == "posix" else None)
    result = read_result(result_path)
    if result is not None:
        return result
    if process.returncode in (2, 3, 4) and not running.exists():
        return None  # a usage error pytest already explained (bad option, bad --target)
    current = running.read_text(encoding="utf-8") if running.exists() else ""
    running.unlink(missing_ok=True)
    result = KataResult(kata=kata.id, target=_target_arg(pytest_args), device="?",
                        crashed=_crash_message(process.returncode, current))
    write_json(result_path, result.to_dict())
    sys.stdout.write(render.kata_summary(result, color=color))
    return result


def _target_arg(args: list[str]) -> str:
    for index, arg in enumerate(args):
        if arg.startswith("--target="):
            return arg.split("=", 1)[1]
        if arg == "--target" and index + 1 < len(args):
            return args[index + 1]
    return os.environ.get("KATA_TARGET", "exercises")


def target_kind(kata: Kata, target: str) -> tuple[str, Path | None]:
    """("exercises" | "solutions" | "practice" | "other", the graded file) for a result's target."""
    if target in ("exercises", "solutions", "practice"):
        return target, kata.root / target / f"{kata.id}.py"
    path = Path(target)
    path = path if path.is_absolute() else kata.root / path
    for kind in ("exercises", "solutions", "practice"):
        if path == kata.root / kind / f"{kata.id}.py":
            return kind, path
    return "other", path


def record(result: KataResult, source: str = "grade") -> str:
    """Add a graded run to the progress store; a warning to show when that fails, else ""."""
    from kata.catalog import repo_root
    from kata.store import StoreError, file_sha, open_store

    try:
        root = repo_root()
        kind, path = target_kind(Kata(result.kata, "", "", "", 1, 1, "", root=root), result.target)
        with open_store(root) as store:
            store.record_run(result, kind=kind, source=source,
                             file_sha=file_sha(path) if path and path.is_file() else "")
    except (StoreError, OSError) as error:
        return render.store_warning(str(error))
    return ""


def grade(katas: list[Kata], pytest_args: list[str]) -> int:
    """Grade each kata in turn; 0 when every one passes, 1 otherwise (2 on usage errors).

    Each run is recorded in the progress store after its child process has finished, so
    recording never delays the verdict.
    """
    if "--help" in pytest_args or "-h" in pytest_args:  # pytest's help, with the kata options
        return subprocess.run([sys.executable, "-m", "pytest", str(katas[0].test), "--help"]).returncode
    color = render.use_color(sys.stdout.isatty())
    target = _target_arg(pytest_args)
    for kata in katas:  # fail fast, before any child pays for importing torch
        try:
            resolve_target(target, kata)
        except TargetError as error:
            sys.stderr.write(f"kata: {error}\n")
            return 2
    code = 0
    for kata in katas:
        sys.stdout.flush()
        result = grade_one(kata, pytest_args, color)
        if result is None:
            return 2
        if warning := record(result):
            print(warning, file=sys.stderr)
        if not result.ok:
            code = 1
    return code

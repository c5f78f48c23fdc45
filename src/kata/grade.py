"""Grade katas, each in its own pytest process, so a crash in one cannot affect the next.

The child process runs pytest with the grading plugin and writes a JSON result. If it dies
without writing one (segfault, `os._exit`, out of memory), the launcher writes a "crashed"
result naming the test that was running.

The child starts in its own session (so its own process group). Once the verdict is printed it
exits at once (`--kata-exit`: a non-daemon thread left by the graded code cannot keep it
alive), and the launcher then kills whatever is left in that group (a `sleep` the code
started), so nothing outlives the grade. The child writes its result and running-test marker in
a temporary folder, so a read-only `.kata/` cannot cost the verdict; the result is then copied
to `.kata/results/<id>.json` when that folder is writable.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from kata import render
from kata.catalog import Kata
from kata.results import KataResult, read_result, write_json
from kata.target import TargetError, resolve_target

MEMORY_LIMIT_GIB = float(os.environ.get("KATA_MEMORY_LIMIT_GB", "8"))
# Seconds a child may linger after writing its verdict before its process group is killed (a
# backstop: the plugin ends the process itself).
AFTER_VERDICT = 10.0


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
            "--disable-warnings", "-p", "no:faulthandler", "--kata-exit",
            f"--kata-result={result_path}", *pytest_args]


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


def become_subreaper() -> None:
    """Linux: processes the learner's code detaches (setsid, double fork) become this process's
    children instead of init's, so `end_orphans` can find them once the grade is over."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def _children() -> list[int]:
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                found.append(int(entry))
    return found


def end_orphans(keep: set[int] = frozenset()) -> None:
    """Linux: kill (with their groups) and reap this process's children other than `keep`: after
    a grade they are what the learner's code left running outside the child's process group."""
    if not sys.platform.startswith("linux"):
        return
    for _ in range(20):  # a killed orphan's own children are reparented here in turn
        orphans = [pid for pid in _children() if pid not in keep]
        if not orphans:
            return
        for pid in orphans:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for pid in orphans:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def end_group(process: subprocess.Popen) -> None:
    """Kill what is left of the process group `process` leads (it was started in a new session),
    and what it detached from that group."""
    if os.name == "posix":
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # nothing left in the group
        end_orphans(keep={process.pid})


def _run_child(command: list[str], env: dict[str, str], result_path: Path) -> int:
    become_subreaper()
    process = subprocess.Popen(command, env=env, start_new_session=os.name == "posix",
                               preexec_fn=_limit_memory if os.name == "posix" else None)
    done = threading.Event()

    def backstop() -> None:  # the child lingers after its verdict: end its group
        while not done.wait(0.5):
            if result_path.exists():
                if not done.wait(AFTER_VERDICT):
                    end_group(process)
                return

    threading.Thread(target=backstop, daemon=True).start()
    try:
        return process.wait()  # blocking: no polling delay after the child exits
    finally:  # also on Ctrl-C: the child, in its own session, did not get the SIGINT
        done.set()
        end_group(process)
        if process.poll() is None:
            process.kill()
            process.wait()


def _keep(kata: Kata, result: KataResult) -> None:
    """Copy the result to `.kata/results/<id>.json`, when that folder can be written."""
    try:
        write_json(kata.root / ".kata" / "results" / f"{kata.id}.json", result.to_dict())
    except OSError:
        pass  # a read-only .kata/: the verdict is printed all the same


def grade_one(kata: Kata, pytest_args: list[str], color: bool) -> KataResult | None:
    with tempfile.TemporaryDirectory(prefix=f"kata-{kata.id}-") as folder:
        result_path = Path(folder) / "result.json"
        running = Path(folder) / "running"
        env = child_env(KATA_RUNNING_FILE=str(running), KATA_ROOT=str(kata.root))
        if color and "PY_COLORS" not in env:
            env["PY_COLORS"] = "1"
        returncode = _run_child(pytest_command(kata, result_path, pytest_args), env, result_path)
        result = read_result(result_path)
        if result is None:
            if returncode in (2, 3, 4) and not running.exists():
                return None  # a usage error pytest already explained (bad option, bad --target)
            current = running.read_text(encoding="utf-8") if running.exists() else ""
            result = KataResult(kata=kata.id, target=_target_arg(pytest_args), device="?",
                                crashed=_crash_message(returncode, current))
            sys.stdout.write(render.kata_summary(result, color=color))
    _keep(kata, result)
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
            if store.problem:  # read-only: recorded in memory only
                return render.store_warning(store.problem)
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
        if not result.selected_ok:  # a partial run that passed exits 0, as pytest does
            code = 1
    return code

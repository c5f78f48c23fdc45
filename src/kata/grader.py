"""A warm grading process for `kata watch` and `kata practice`.

`kata grade` starts a fresh pytest process per kata (about 1.5 s of imports before the first
test). The loops that re-grade on every save instead keep one child process alive with torch,
pytest, hypothesis and the kata's mutants already imported, and send it one request per save;
only the learner's module is imported again (the grading plugin loads it afresh per run). The
child is a separate process so a learner's crash (`os._exit`, a segfault, running out of
memory) cannot take the loop down: the client reports it like `kata grade` does and starts a
new child.

A *quick* run (on every save) stops at the first failing test and draws fewer hypothesis
examples; a *full* run (when everything passes quickly) is the same grade as `kata grade`. A
quick run that stops early lists the tests it did not reach as "not_run", so its counts are out
of the kata's whole test count (3 passed of 17, not of 4).

A grade can be cancelled while it runs (`interrupt`, polled every 0.1 s): the loops cancel when
the file is saved again or the learner presses q. Cancelling kills the child's whole process
group (the learner's code and anything it started) and starts a fresh child at once, so the
next grade is warm again.

Protocol: `python -m kata.grader [ids to warm up]`; one JSON request per line on the child's
stdin ({"kata", "target", "quick", "time_limit"}), one JSON reply per line on the child's
original stdout.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kata.catalog import Kata
from kata.results import KataResult, TestResult

QUICK_EXAMPLES = int(os.environ.get("KATA_WATCH_EXAMPLES", "10"))
REQUEST_TIMEOUT = float(os.environ.get("KATA_WATCH_TIMEOUT", "300"))


# ---------------------------------------------------------------- parent side


class WarmGrader:
    """Client of one warm grading child; restarts it when it dies or a grade is cancelled.

    `time_limit` is the per-test limit in seconds (`--kata-time-limit`; None: the plugin's).
    """

    def __init__(self, root: Path, time_limit: float | None = None) -> None:
        self.root = root
        self.time_limit = time_limit
        self.process: subprocess.Popen | None = None
        self.warm: list[str] = []
        sweep_leftovers(root)
        results, logs = root / ".kata" / "results", root / ".kata" / "logs"
        try:
            for folder in (results, logs):
                folder.mkdir(parents=True, exist_ok=True)
                probe = folder / f".probe-{os.getpid()}"
                probe.touch()
                probe.unlink()
        except OSError:  # a read-only or broken .kata/: grade all the same
            results = logs = Path(tempfile.mkdtemp(prefix="kata-grader-"))
        self.running_file = results / f"grader-{os.getpid()}.running"
        self.log = logs / f"grader-{os.getpid()}.log"

    def start(self, warm: list[Kata] = ()) -> None:
        """Start the child now (it imports torch while the learner reads), warming `warm`."""
        if self.process is None or self.process.poll() is not None:
            self._stop()
            self._start([kata.id for kata in warm])

    def _start(self, warm: list[str] = ()) -> subprocess.Popen:
        from kata.grade import _limit_memory, become_subreaper, child_env

        become_subreaper()
        self.warm = list(warm) or self.warm
        self.running_file.parent.mkdir(parents=True, exist_ok=True)
        # The child imports this very harness, wherever it was imported from.
        package = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH", "")]))
        env = child_env(KATA_ROOT=str(self.root), KATA_RUNNING_FILE=str(self.running_file),
                        KATA_GRADER_LOG=str(self.log), PYTHONDONTWRITEBYTECODE="1",
                        PYTHONPATH=path)
        env.pop("PY_COLORS", None)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w", encoding="utf-8") as log:  # startup errors only
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kata.grader", *self.warm], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, env=env, cwd=self.root, text=True, bufsize=1,
                start_new_session=True,  # Ctrl-C goes to the loop, which then stops the child
                preexec_fn=_limit_memory if os.name == "posix" else None)
        return self.process

    def _ask(self, request: dict, timeout: float,
             interrupt: Callable[[], bool] | None = None) -> dict | None:
        """Send a request; the reply, or None when the child died, or {"timeout"} /
        {"cancelled"} when it ran too long or `interrupt()` asked to stop."""
        if self.process is not None and self.process.poll() is not None:
            self._stop()  # died since the last request: end what it left behind
        process = self.process or self._start()
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        deadline = time.monotonic() + timeout
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                while not selector.select(min(0.1, max(0.0, deadline - time.monotonic()))):
                    if interrupt is not None and interrupt():
                        self.close()
                        self._start()  # warm again while the learner edits
                        return {"cancelled": True}
                    if time.monotonic() >= deadline:
                        self.close()
                        return {"timeout": True}
            line = process.stdout.readline()
        except BaseException:  # Ctrl-C mid-grade: its late reply must not answer a later request
            self.close()
            raise
        if not line:
            return None
        return json.loads(line)

    def grade(self, kata: Kata, target: Path, quick: bool = True,
              interrupt: Callable[[], bool] | None = None) -> KataResult | None:
        """Grade `target` (a .py file) for `kata`; a crash becomes a "crashed" result.

        Returns None when `interrupt()` (polled while the grade runs) returned True: the grade
        was cancelled and a fresh child is starting.
        """
        from kata.grade import _crash_message

        self.running_file.unlink(missing_ok=True)
        request = {"kata": kata.id, "target": str(target), "quick": quick,
                   "time_limit": self.time_limit}
        timeout = REQUEST_TIMEOUT + (self.time_limit or 0)
        reply = self._ask(request, timeout, interrupt)
        display = _display(target, kata.root)
        if reply is not None and reply.get("cancelled"):
            return None
        if reply is None or reply.get("timeout"):
            code = self._stop() if self.process else -9
            running = (self.running_file.read_text(encoding="utf-8")
                       if self.running_file.exists() else "")
            self.running_file.unlink(missing_ok=True)
            if reply:
                message = f"Grading took longer than {timeout:g} s and was stopped."
            elif running:
                message = _crash_message(code, running)
            else:
                message = (f"The grading process stopped before running a test (exit {code}); "
                           f"its log: {self.log}")
            return KataResult(kata=kata.id, target=display, device="?", crashed=message)
        if "error" in reply:
            return KataResult(kata=kata.id, target=display, device="?", crashed=reply["error"])
        result = KataResult.from_dict(reply["result"])
        reached = {test.name for test in result.tests}
        if result.not_started:  # "not started" stays the whole verdict
            return result
        result.tests += [TestResult(name, "not_run", "not run: the quick check stops at the "
                                    "first failure") for name in reply.get("collected", [])
                         if name not in reached]
        return result

    def _stop(self) -> int | None:
        """End the child and everything it started (its process group); its exit status."""
        process, self.process = self.process, None
        if process is None:
            return None
        if os.name == "posix":  # the group outlives a dead child while its leftovers run
            from kata.grade import end_group

            end_group(process)
        elif process.poll() is None:
            process.kill()
        return process.wait()

    def close(self) -> None:
        """Stop the child and everything it started."""
        self._stop()
        self.running_file.unlink(missing_ok=True)
        if self.log.exists() and not self.log.stat().st_size:
            self.log.unlink()

    def __enter__(self) -> WarmGrader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sweep_leftovers(root: Path) -> None:
    """Remove what graders of dead loops left (kill -9, a closed terminal): their running
    markers and empty logs. A log with content is kept: it holds a startup error."""
    from kata.store import _alive

    for pattern in ("results/grader-*.running", "logs/grader-*.log"):
        for path in (root / ".kata").glob(pattern):
            try:
                pid = int(path.stem.split("-", 1)[1])
                if not _alive(pid) and (path.suffix == ".running" or not path.stat().st_size):
                    path.unlink()
            except (ValueError, IndexError, OSError):
                continue


def _display(target: Path, root: Path) -> str:
    try:
        return str(target.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(target)


# ---------------------------------------------------------------- child side


def _serve() -> None:
    # Replies go to the original stdout; whatever else writes to fd 1 or 2 is discarded.
    replies = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.dont_write_bytecode = True

    from hypothesis import settings

    import torch  # noqa: F401  (the point: imported once)

    import kata.plugin  # noqa: F401  (registers the grading profiles and loads the default)
    from kata.catalog import find_kata, load_catalog, repo_root

    # The quick first-failure run on save: the grading profile (derandomized, no database)
    # with fewer examples; the full grade that follows decides the verdict.
    settings.register_profile("watch", parent=settings.get_profile("grade"),
                              max_examples=QUICK_EXAMPLES)
    profiles = {True: "watch", False: settings._current_profile}  # full: the grading profile
    katas = load_catalog(repo_root())
    out = Path(tempfile.mkdtemp(prefix="kata-grader-")) / "result.json"
    for kata_id in sys.argv[1:]:
        _warm(find_kata(kata_id, katas), out, profiles)
    try:
        for line in sys.stdin:
            request = json.loads(line)
            kata = find_kata(request["kata"], katas)
            data = _pytest(kata, request["target"], out, profiles, request["quick"],
                           request.get("time_limit"))
            _end_strays()
            replies.write(json.dumps(data) + "\n")
    except BrokenPipeError:
        pass  # the loop is gone (killed): nobody to reply to
    _tidy()


def _tidy() -> None:
    """The loop closed our stdin or died: leave no empty log or marker behind."""
    for variable in ("KATA_GRADER_LOG", "KATA_RUNNING_FILE"):
        path = Path(os.environ.get(variable, ""))
        try:
            if path.name and (variable == "KATA_RUNNING_FILE" or not path.stat().st_size):
                path.unlink(missing_ok=True)
        except OSError:
            pass


def _end_strays() -> None:
    """Stop the processes the graded code started: the rest of this child's process group.

    SIGTERM goes to the group while this process ignores it; what ignores SIGTERM too is
    killed with the whole group when the loop closes the grader (`WarmGrader.close`).
    """
    if os.name != "posix" or os.getpgrp() != os.getpid():
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(0, signal.SIGTERM)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Collected:
    """A pytest plugin that remembers the names of the collected tests."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def pytest_collection_finish(self, session) -> None:
        self.names = [item.name for item in session.items]


def _pytest(kata: Kata, target: str, out: Path, profiles: dict, quick: bool,
            time_limit: float | None = None) -> dict:
    import contextlib
    import io

    import pytest
    from hypothesis import settings

    settings.load_profile(profiles[quick])
    args = [str(kata.test), f"--target={target}", f"--kata-result={out}", "-q", "--kata-quiet",
            "--no-header", "-p", "no:randomly", "-p", "no:cacheprovider"]
    if time_limit is not None:
        args.append(f"--kata-time-limit={time_limit:g}")
    if quick:
        args.append("-x")
    out.unlink(missing_ok=True)
    buffer = io.StringIO()
    collected = _Collected()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        pytest.main(args, plugins=[collected])
    try:
        return {"result": json.loads(out.read_text(encoding="utf-8")),
                "collected": collected.names if quick else []}
    except (OSError, ValueError):
        return {"error": buffer.getvalue().strip()[-1500:] or "pytest reported nothing"}


def _warm(kata: Kata, out: Path, profiles: dict) -> None:
    """Pay the first-use costs before the learner saves: mutants, lazy imports, collection."""
    from kata.diagnosis import mutant_modules

    mutant_modules(kata)
    _pytest(kata, str(kata.solution), out, profiles, quick=True)


if __name__ == "__main__":
    _serve()

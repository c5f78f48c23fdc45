"""The grading pytest plugin, loaded by the repo-root conftest.py.

Adds `--target` and `--device`, the `kata`/`impl`/`ref`/`device` fixtures, hypothesis profiles,
a per-test time limit, the rules check, "not started" detection, diagnosis, the learner's
summary and the JSON result. Files that are not kata graders (`tests/test_<id>.py` for a
catalogued id) are left alone, so the harness's own tests run as plain pytest.
"""

from __future__ import annotations

import gc
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

# Importing torch and hypothesis allocates about a million objects; the cyclic collections it
# triggers cost ~0.2 s of every grading run. Nothing cyclic needs freeing meanwhile. They are
# then frozen (moved out of the collected generations): otherwise every later young-generation
# collection walks them once more, ~0.4 s of CPU per graded solution here.
gc.disable()
try:
    from hypothesis import HealthCheck, Phase, settings

    from kata import render
    from kata.catalog import Kata, load_catalog, repo_root
    from kata.check import RECORDER, NotStarted
    from kata.results import KataResult, TestResult, write_json
    from kata.rules import check_file
    from kata.target import TargetError, TargetImportError, load_module, resolve_target
finally:
    gc.freeze()
    gc.enable()

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.differing_executors, HealthCheck.data_too_large]
# A verdict is reproducible: every profile is derandomized (each test draws from a seed derived
# from its own source, so the same examples on every run and machine) and keeps no example
# database (nothing saved while grading one file is replayed on another). Learner grading, CI and
# verify draw the same examples, so a mistake verify kills is killed for a learner too; verify
# only skips shrinking (it needs *whether* a test fails, not the minimal example).
# One bug at a time: hypothesis reports the minimal example of one failure, not a group.
EXAMPLES = 80
settings.register_profile("grade", max_examples=EXAMPLES, deadline=None, derandomize=True,
                          database=None, print_blob=False, report_multiple_bugs=False,
                          suppress_health_check=_SUPPRESS,
                          phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink])
settings.register_profile("verify", parent=settings.get_profile("grade"),
                          phases=[Phase.explicit, Phase.generate, Phase.target])
for _alias in ("dev", "ci"):  # the names earlier versions used: the same grading profile
    settings.register_profile(_alias, parent=settings.get_profile("grade"))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "grade"))


def _no_local_constants() -> None:
    """Stop hypothesis drawing literals found in loaded local modules.

    Hypothesis (6.13x+) sometimes draws a constant collected from every non-library module in
    `sys.modules`: the graded file, the reference, mutants that diagnosis or verify loaded. The
    examples would then depend on the file being graded and on what ran before in the process.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:  # another hypothesis layout: nothing to switch off
        return
    if hasattr(providers, "_get_local_constants"):
        empty = Constants()
        providers._get_local_constants = lambda: empty


_no_local_constants()


class KataTimeout(BaseException):
    """Raised by the per-test alarm. A BaseException so hypothesis does not swallow and retry it."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kata", "LLM katas grading")
    group.addoption("--target", default=os.environ.get("KATA_TARGET", "exercises"),
                    help="what to grade: exercises (default), solutions, practice, a .py file, "
                         "or a folder laid out like exercises/ (env KATA_TARGET)")
    group.addoption("--device", default=os.environ.get("KATA_DEVICE", "auto"),
                    choices=("auto", "cpu", "cuda", "mps"),
                    help="device for kata tensors; auto = cuda when available (env KATA_DEVICE)")
    group.addoption("--kata-result", default=None,
                    help="where to write the JSON result (default .kata/results/<id>.json)")
    group.addoption("--kata-time-limit", type=float,
                    default=float(os.environ.get("KATA_TIME_LIMIT", "20")),
                    help="seconds one kata test may run before it fails as a timeout")
    group.addoption("--kata-quiet", action="store_true",
                    help="learner view: hide pytest tracebacks, print only the kata summary")
    group.addoption("--kata-exit", action="store_true",
                    help="end the process (os._exit) as soon as the verdict is printed, even if "
                         "the graded code left threads running (kata grade's children)")


class _State:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.root = repo_root(Path(str(config.rootpath)))
        self._catalog: dict[str, Kata] | None = None
        self.results: dict[str, KataResult] = {}
        self.targets: dict[str, Path] = {}
        self.modules: dict[tuple[str, str], object] = {}
        self.started = time.perf_counter()
        self.timed_out = False
        self.rules_broken = False
        self.expected: dict[str, list[str]] = {}  # kata id -> every test item its file defines
        self.exitstatus: int | None = None  # set once the session finished

    @property
    def catalog(self) -> dict[str, Kata]:
        if self._catalog is None:
            self._catalog = {kata.id: kata for kata in load_catalog(self.root)}
        return self._catalog

    def kata_for(self, path: Path) -> Kata | None:
        """The kata a grader file (`tests/test_<id>.py`) grades; None for any other file."""
        if path.parent != self.root / "tests" or not path.name.startswith("test_"):
            return None
        return self.catalog.get(path.stem.removeprefix("test_"))

    def oracle_for(self, path: Path) -> Kata | None:
        """The kata an oracle file (`tests/oracles/test_<id>.py`) checks; not a grader."""
        if path.parent != self.root / "tests" / "oracles" or not path.name.startswith("test_"):
            return None
        return self.catalog.get(path.stem.removeprefix("test_"))

    def target(self, kata: Kata) -> Path:
        if kata.id not in self.targets:
            self.targets[kata.id] = resolve_target(self.config.getoption("target"), kata,
                                                   Path(str(self.config.invocation_params.dir)))
        return self.targets[kata.id]

    def module(self, kata: Kata, which: str):
        key = (kata.id, which)
        if key not in self.modules:
            path = kata.solution if which == "ref" else self.target(kata)
            name = f"kata_{which}_{kata.id}"
            try:
                # The reference is not left in sys.modules, where learner code could borrow it.
                self.modules[key] = load_module(path, name, keep=which != "ref")
            except TargetImportError as error:
                self.modules[key] = error
        module = self.modules[key]
        if isinstance(module, TargetImportError):
            raise module
        return module

    def result(self, kata: Kata) -> KataResult:
        if kata.id not in self.results:
            self.results[kata.id] = KataResult(kata=kata.id, target=self._display(kata),
                                               device=self.device_name())
        return self.results[kata.id]

    def _display(self, kata: Kata) -> str:
        try:
            return str(self.target(kata).relative_to(self.root))
        except (ValueError, TargetError):
            return self.config.getoption("target")

    def device_name(self) -> str:
        choice = self.config.getoption("device")
        if choice != "auto":
            return choice
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


_KEY = pytest.StashKey[_State]()


def _state(config: pytest.Config) -> _State:
    return config.stash[_KEY]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = _State(config)
    if "OMP_NUM_THREADS" not in os.environ:
        # The one place the thread policy lives (every grading process runs this plugin: kata
        # grade's children, the warm grader, verify workers, plain pytest). Kata tensors are
        # tiny, so intra-op threads only cost: on a busy machine a small attention call took
        # 32 ms with 2 threads vs 0.06 ms with 1. Set OMP_NUM_THREADS to override.
        import torch

        torch.set_num_threads(1)
    config.addinivalue_line("markers", "gpu: needs a CUDA device; skipped as not covered without")
    config.addinivalue_line("markers", "kata_time_limit(seconds): a longer per-test limit for "
                                       "tests that start processes (never a shorter one)")
    if config.getoption("kata_quiet"):
        config.option.tbstyle = "no"
        config.option.reportchars = ""
        config.option.showcapture = "no"
        if config.option.verbose == -1:  # plain -q: no row of F/. and no "21 failed in 0.3s"
            config.option.verbose = -2   # (the kata summary says it); -v still lists tests
    target = config.getoption("target")
    if target not in ("exercises", "solutions", "practice"):
        path = Path(str(config.invocation_params.dir)) / target
        if not path.exists():
            raise pytest.UsageError(
                f"--target {target}: no such file or folder. Use exercises, solutions, practice, "
                "a .py file, or a folder laid out like exercises/")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave tests/oracles/ out unless it is asked for by path (`nox -s oracles` does).

    The oracle tests need the libraries the references cite (`.venv-oracles`), not the
    learner's `.venv`, so a plain `pytest` or `nox -s tests` never collects them.
    """
    oracles = _state(config).root / "tests" / "oracles"
    if collection_path != oracles:
        return None
    invocation = Path(str(config.invocation_params.dir))
    for arg in config.args:
        asked = (invocation / arg.split("::")[0]).resolve()
        if asked == oracles or oracles in asked.parents:
            return None
    return True


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    gc.freeze()  # skip the slow final collection of torch's objects at exit
    state = config.stash.get(_KEY, None)
    if config.getoption("kata_exit", False) and state is not None and state.exitstatus is not None:
        # The verdict is written and printed: a non-daemon thread the graded code started must
        # not keep the process alive (the interpreter would join it). The launcher then ends
        # the process group, so anything the code spawned ends too (kata.grade).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(state.exitstatus))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def kata(request: pytest.FixtureRequest) -> Kata:
    """The catalog entry of the kata this test file grades (or, in tests/oracles/, checks)."""
    state, path = _state(request.config), Path(str(request.path))
    found = state.kata_for(path) or state.oracle_for(path)
    if found is None:
        pytest.fail(f"{request.path.name} is not a kata grader (tests/test_<id>.py for an id in "
                    "kata.toml) nor an oracle test (tests/oracles/test_<id>.py)")
    return found


@pytest.fixture(scope="module")
def impl(request: pytest.FixtureRequest, kata: Kata):
    """The module under test (`--target`)."""
    return _state(request.config).module(kata, "impl")


@pytest.fixture(scope="module")
def ref(request: pytest.FixtureRequest, kata: Kata):
    """The reference solution module."""
    return _state(request.config).module(kata, "ref")


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest):
    """The torch.device kata tensors live on; skips (not covered) when it is unavailable."""
    import torch

    choice = request.config.getoption("device")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        pytest.skip("not covered: --device cuda but CUDA is not available on this machine")
    if choice == "mps" and not torch.backends.mps.is_available():
        pytest.skip("not covered: --device mps but MPS is not available on this machine")
    return torch.device(choice)


@pytest.fixture(scope="session")
def float_dtypes(device) -> list:
    """The floating dtypes `device` supports, widest first (float64 is absent on MPS)."""
    import torch

    dtypes = [torch.float64, torch.float32, torch.bfloat16, torch.float16]
    return [d for d in dtypes if not (device.type == "mps" and d == torch.float64)]


# ---------------------------------------------------------------- collection


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector, name: str, obj):
    """Note every test item a kata's file defines, before any selection (-k, node ids, -m).

    A run is *complete* only when each of them ran: a filtered or stopped run never counts as
    passing (`KataResult.complete`).
    """
    made = yield
    state = _state(collector.config)
    found = state.kata_for(Path(str(collector.path)))
    if found is None or made is None:
        return made
    if not isinstance(made, list | pytest.Item | pytest.Collector):
        made = list(made)  # parametrized functions come as a generator
    for item in made if isinstance(made, list) else [made]:
        if isinstance(item, pytest.Item):
            state.expected.setdefault(found.id, []).append(item.name)
        elif isinstance(item, pytest.Collector):
            # A test class: collecting it here notes its tests (this hook again), even when a
            # node id or -k leaves the class itself out of the run.
            try:
                item.collect()
            except Exception:
                state.expected.setdefault(found.id, []).append(f"{item.name} (not collected)")
    return made


# The generated stub's marker (kata.stubgen): functions the learner has not started yet.
_STUB_RAISE = re.compile(r'"(\w+): not written yet\.')


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Rules: check each graded module against its kata's `forbid` list (AST, no import).

    Violations are part of the verdict (JSON `rules`, summary, exit status), not a test, so the
    "N/M passing" count is the kata's tests only.
    """
    state = _state(config)
    for found in {k.id: k for item in items if (k := state.kata_for(item.path))}.values():
        result = state.result(found)
        try:
            path = state.target(found)
            violations = check_file(path, found.forbid)
            result.todo = list(dict.fromkeys(_STUB_RAISE.findall(path.read_text(encoding="utf-8"))))
        except (TargetError, SyntaxError, OSError, UnicodeDecodeError):
            continue  # an unreadable or broken module is reported by every test already
        shown = path.relative_to(state.root) if path.is_relative_to(state.root) else path
        result.rules.extend(v.message(shown) for v in violations)
        if violations:
            state.rules_broken = True


# ---------------------------------------------------------------- running


def _alarm(limit: float):
    def handler(signum, frame):
        raise KataTimeout(f"took longer than {limit:g} s (an infinite loop? a huge tensor? "
                          "raise the limit with --kata-time-limit SECONDS)")

    return handler


def _seed_globals() -> None:
    """Seed the global generators before each kata test: a test's verdict must not depend on
    which tests ran before it (a `-x` run, a single test) when code draws from them."""
    random.seed(0)
    if (numpy := sys.modules.get("numpy")) is not None:
        numpy.random.seed(0)
    if (torch := sys.modules.get("torch")) is not None:
        torch.manual_seed(0)


AFTER_TIMEOUT_LIMIT = 2.0  # seconds per test once one test has timed out in this run


def _timed(item: pytest.Item):
    limit = item.config.getoption("kata_time_limit")
    if (marker := item.get_closest_marker("kata_time_limit")) is not None:
        limit = max(limit, float(marker.args[0]))  # a kata that starts processes needs longer
    if _state(item.config).timed_out:
        # Code that hung once usually hangs again: keep the whole run bounded.
        limit = min(limit, AFTER_TIMEOUT_LIMIT)
    usable = (limit > 0 and hasattr(signal, "SIGALRM")
              and threading.current_thread() is threading.main_thread()
              and _state(item.config).kata_for(item.path) is not None)
    if not usable:
        return (yield)
    previous = signal.signal(signal.SIGALRM, _alarm(limit))
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    """Run the tests in a scratch working directory, removed afterwards.

    Learner code that writes, deletes or leaves files relative to its working directory
    (`memory.json`, a half-written `*.tmp`) does so in a fresh temporary folder, never in the
    repo. Absolute paths are not sandboxed.
    """
    state = _state(session.config)
    if not any(state.kata_for(item.path) for item in session.items):
        return (yield)
    previous = os.getcwd()
    scratch = tempfile.mkdtemp(prefix="kata-run-")
    os.chdir(scratch)
    try:
        return (yield)
    finally:
        os.chdir(previous)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    RECORDER.reset()
    if _state(item.config).kata_for(item.path) is not None:
        _seed_globals()
    if marker := os.environ.get("KATA_RUNNING_FILE"):
        Path(marker).write_text(item.nodeid, encoding="utf-8")
    return (yield from _timed(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    return (yield from _timed(item))


@pytest.hookimpl(wrapper=True)
def pytest_report_teststatus(report, config: pytest.Config):
    """The learner's view (--kata-quiet -q) prints no progress letters: the summary counts."""
    outcome = yield
    if outcome and config.getoption("kata_quiet") and config.option.verbose < -1:
        return outcome[0], "", ""
    return outcome


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _raised_in(error: BaseException, path: Path) -> bool:
    tb = error.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return last is not None and Path(last.tb_frame.f_code.co_filename) == path


def _example(error: BaseException) -> str:
    """Hypothesis's falsifying example, without the fixture arguments."""
    for leaf in [error, *_leaves(error)]:
        for note in getattr(leaf, "__notes__", []):
            if note.startswith(("Falsifying example", "Failing test case")):
                lines = [line for line in note.splitlines()
                         if not re.match(r"\s+(impl|ref|kata|device)=", line)]
                return "\n".join(lines).strip()
    return ""


def _classify(item: pytest.Item, call: pytest.CallInfo, state: _State, found: Kata) -> TestResult:
    name = item.name
    if call.excinfo is None:
        return TestResult(name, "passed", duration=call.duration)
    error = call.excinfo.value
    if call.excinfo.errisinstance(pytest.skip.Exception):
        return TestResult(name, "skipped", str(getattr(error, "msg", error)))
    leaves = _leaves(error)
    try:
        target = state.target(found)
    except TargetError:
        target = None
    def not_started(e: BaseException) -> bool:
        if isinstance(e, NotStarted):
            e = e.__cause__ or e
        return isinstance(e, NotImplementedError) and target is not None and _raised_in(e, target)

    if all(not_started(e) for e in leaves):
        return TestResult(name, "not_started", str(leaves[0]), duration=call.duration)
    if any(isinstance(e, KataTimeout) for e in leaves):
        state.timed_out = True
        return TestResult(name, "timeout", str(next(e for e in leaves if isinstance(e, KataTimeout))),
                          duration=call.duration)
    if isinstance(error, TargetImportError | TargetError):
        return TestResult(name, "error", str(error), duration=call.duration)
    first = leaves[0]
    if isinstance(first, AssertionError):
        message = str(first).split("\nassert ")[0].strip() or "assertion failed"
    else:
        message = f"{type(first).__name__}: {first}"
    # Every failure names the call it is about (a bare assert or a long SchemaError included);
    # the call line survives the cut of a long message.
    shown_call = ""
    if RECORDER.last is not None and "\n  call: " not in message:
        shown_call = f"\n  call: {RECORDER.last.describe()}"
    result = TestResult(name, "failed", message[:2000] + shown_call, _example(error)[:2000],
                        duration=call.duration)
    try:
        from kata.diagnosis import diagnose

        mutant = diagnose(found, RECORDER.last, state.module(found, "ref"))
    except Exception:  # diagnosis is a courtesy; never let it break grading
        mutant = None
    if mutant is not None:
        result.diagnosis, result.mutant = mutant.mistake, mutant.id
    return result


def _hide_reference(error: BaseException, reference: set[str], seen: set[int]) -> None:
    """Drop the reference's frames from `error`'s traceback (and its causes and contexts).

    Every traceback style (native included) then shows the test's line and the error, never a
    line of the reference solution or of a mutant built from it.
    """
    if id(error) in seen:
        return
    seen.add(id(error))
    head = error.__traceback__
    while head is not None and head.tb_frame.f_code.co_filename in reference:
        head = head.tb_next
    tb = head
    while tb is not None:
        while tb.tb_next is not None and tb.tb_next.tb_frame.f_code.co_filename in reference:
            tb.tb_next = tb.tb_next.tb_next
        tb = tb.tb_next
    if head is not error.__traceback__:
        error.__traceback__ = head
    for inner in (error.__cause__, error.__context__,
                  *(error.exceptions if isinstance(error, BaseExceptionGroup) else ())):
        if inner is not None:
            _hide_reference(inner, reference, seen)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    state = _state(item.config)
    found = state.kata_for(item.path)
    if found is not None and call.excinfo is not None:
        reference = {str(found.solution)}
        try:
            if state.target(found).resolve() == found.solution.resolve():
                reference = set()  # grading the reference itself: its frames are the point
        except TargetError:
            pass
        if reference:  # the traceback starts in pytest's frames, so it is pruned in place
            _hide_reference(call.excinfo.value, reference, set())
    report = yield
    if found is None:
        return report
    kata_result = state.result(found)
    if call.when == "setup" and call.excinfo is None:
        return report
    if call.when == "teardown" and call.excinfo is None:
        return report
    if call.when == "call" or call.excinfo is not None:
        if any(t.name == item.name for t in kata_result.tests):
            return report  # a teardown error after a result was already recorded
        kata_result.tests.append(_classify(item, call, state, found))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if state.rules_broken and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    state.exitstatus = session.exitstatus
    duration = time.perf_counter() - state.started
    explicit = session.config.getoption("kata_result")
    for kata_id, result in state.results.items():
        result.duration = round(duration, 3)
        expected = state.expected.get(kata_id, [])
        ran = {test.name for test in result.tests}
        result.complete = bool(expected) and all(name in ran for name in expected)
        path = Path(explicit) if explicit and len(state.results) == 1 else (
            state.root / ".kata" / "results" / f"{kata_id}.json")
        try:
            write_json(path, result.to_dict())
        except OSError:
            pass
    if marker := os.environ.get("KATA_RUNNING_FILE"):
        Path(marker).unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = _state(config)
    for result in state.results.values():
        if config.option.verbose >= -1:  # quieter: pytest's own blank line is separation enough
            terminalreporter.write_line("")
        terminalreporter.write(render.kata_summary(result, color=terminalreporter.hasmarkup))


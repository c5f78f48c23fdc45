"""Nothing a learner's file does can hurt their repo or fake a pass (issue 8).

Each test grades in a copy of the repo (`sandbox`), so what the learner's file does to its
working directory, the progress store or the results lands there, not in this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kata.catalog import find_kata, load_catalog
from kata.store import open_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("kata.toml", "conftest.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, repo / name)
    for folder in ("solutions", "exercises", "hints"):
        shutil.copytree(ROOT / folder, repo / folder)
    shutil.copytree(ROOT / "tests", repo / "tests", ignore=shutil.ignore_patterns(
        "harness", "__pycache__"))
    return repo


def _env(repo: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "KATA_ROOT": str(repo), "NO_COLOR": "1", "KATA_TIME_LIMIT": "5",
            **extra}


def kata(repo: Path, *args: str, timeout: float = 120, **env: str):
    return subprocess.run([sys.executable, "-m", "kata", *args], capture_output=True, text=True,
                          cwd=repo, env=_env(repo, **env), timeout=timeout)


def result_json(repo: Path, kata_id: str) -> dict:
    return json.loads((repo / ".kata" / "results" / f"{kata_id}.json").read_text())


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").exists() and ") Z " in Path(f"/proc/{pid}/stat").read_text():
            return True  # a zombie waiting for init: ended
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------- 1. filtered runs


def _ppo_failing_but_masked_mean(repo: Path) -> None:
    """The reference with value_loss wrong: most tests fail, masked_mean's tests pass."""
    source = (repo / "solutions" / "ppo_loss.py").read_text()
    assert "return 0.5 * masked_mean(" in source
    (repo / "exercises" / "ppo_loss.py").write_text(
        source.replace("return 0.5 * masked_mean(", "return 0.7 * masked_mean("))


def test_a_filtered_grade_is_partial_never_passing(sandbox):
    _ppo_failing_but_masked_mean(sandbox)
    process = kata(sandbox, "grade", "ppo_loss", "--", "-k", "masked_mean")
    out = process.stdout + process.stderr
    result = result_json(sandbox, "ppo_loss")
    assert result["passed"] == result["total"] > 0, out
    assert result["complete"] is False and result["ok"] is False
    assert "partial run" in out and "all passing" not in out, out
    with open_store(sandbox) as store:
        assert not store.ever_passed("ppo_loss")
        assert store.last_run("ppo_loss")["complete"] == 0
    locked = kata(sandbox, "solution", "ppo_loss")
    assert locked.returncode == 1 and "def masked_mean" not in locked.stdout
    listing = kata(sandbox, "progress").stdout
    row = next(line for line in listing.splitlines() if "ppo_loss" in line)
    assert "passing" not in row, listing


@pytest.mark.parametrize("selection", [
    ["tests/test_ppo_loss.py::test_masked_mean_worked_example"],
    ["tests/test_ppo_loss.py", "-x"],
])
def test_node_ids_and_stopping_early_are_partial(sandbox, selection):
    _ppo_failing_but_masked_mean(sandbox)
    out = sandbox / "result.json"
    subprocess.run([sys.executable, "-m", "pytest", *selection, f"--kata-result={out}",
                    "--kata-quiet", "-q"], cwd=sandbox, env=_env(sandbox), capture_output=True,
                   timeout=120)
    result = json.loads(out.read_text())
    assert result["complete"] is False and result["ok"] is False


def test_a_whole_run_is_complete(sandbox):
    process = kata(sandbox, "grade", "ppo_loss", "--", "--target", "solutions")
    result = result_json(sandbox, "ppo_loss")
    assert result["complete"] is True and result["ok"] is True, process.stdout


# ---------------------------------------------------------------- 2, 3, 4. the learner's file

MISBEHAVING = '''
import os, pathlib, subprocess, sys, threading, time

PROBE = pathlib.Path(os.environ["KATA_PROBE"])
PROBE.write_text(json.dumps({"cwd": os.getcwd(), "pid": subprocess.Popen(["sleep", "86401"]).pid}))
try:
    os.remove("memory.json")  # a relative path: the working directory's file
except OSError:
    pass
pathlib.Path("leftover.tmp").write_text("half-written")
threading.Thread(target=time.sleep, args=(86400,)).start()  # a non-daemon thread
'''


def _misbehaving(repo: Path, tmp_path: Path) -> Path:
    probe = tmp_path / "probe.json"
    (repo / "memory.json").write_text("the repo's own file")
    source = (repo / "solutions" / "attention.py").read_text()
    (repo / "exercises" / "attention.py").write_text(
        "import json\n" + MISBEHAVING + source.split('"""', 2)[2])
    return probe


def _assert_contained(repo: Path, probe: Path) -> None:
    seen = json.loads(probe.read_text())
    assert (repo / "memory.json").read_text() == "the repo's own file"
    assert not (repo / "leftover.tmp").exists()
    cwd = Path(seen["cwd"]).resolve()
    assert not cwd.is_relative_to(repo.resolve()), cwd
    assert not cwd.exists(), f"scratch folder {cwd} was left behind"
    assert _gone(seen["pid"]), "the learner's `sleep` outlived the grade"


def test_learner_code_runs_in_a_scratch_folder_and_leaves_no_process(sandbox, tmp_path):
    probe = _misbehaving(sandbox, tmp_path)
    start = time.monotonic()
    process = kata(sandbox, "grade", "attention", KATA_PROBE=str(probe), timeout=90)
    assert time.monotonic() - start < 60, "a non-daemon thread kept the grade alive"
    assert "attention:" in process.stdout and "Traceback" not in process.stdout + process.stderr
    assert process.returncode == 0, process.stdout + process.stderr  # still graded, and passing
    _assert_contained(sandbox, probe)


DETACHING = """
import json, os, pathlib, subprocess

pids = [subprocess.Popen(["sleep", "86401"], start_new_session=True).pid]
child = os.fork()
if child == 0:  # a double fork into a new session: a daemon
    os.setsid()
    daemon = os.fork()
    if daemon == 0:
        os.execvp("sleep", ["sleep", "86401"])
    pathlib.Path(os.environ["KATA_PROBE"] + ".daemon").write_text(str(daemon))
    os._exit(0)
os.waitpid(child, 0)
pids.append(int(pathlib.Path(os.environ["KATA_PROBE"] + ".daemon").read_text()))
pathlib.Path(os.environ["KATA_PROBE"]).write_text(json.dumps(pids))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a child subreaper is Linux's")
def test_processes_the_learner_detaches_do_not_outlive_the_grade(sandbox, tmp_path):
    probe = tmp_path / "probe.json"
    source = (sandbox / "solutions" / "attention.py").read_text()
    (sandbox / "exercises" / "attention.py").write_text(DETACHING + source.split('"""', 2)[2])
    process = kata(sandbox, "grade", "attention", KATA_PROBE=str(probe), timeout=90)
    assert process.returncode == 0, process.stdout + process.stderr
    session, daemon = json.loads(probe.read_text())
    assert _gone(session), "a `sleep` started in a new session outlived the grade"
    assert _gone(daemon), "a double-forked `sleep` outlived the grade"


def test_the_warm_grader_contains_the_learner_file_too(sandbox, tmp_path, monkeypatch):
    from kata.grader import WarmGrader

    probe = _misbehaving(sandbox, tmp_path)
    monkeypatch.setenv("KATA_ROOT", str(sandbox))
    monkeypatch.setenv("KATA_PROBE", str(probe))
    attention = find_kata("attention", load_catalog(sandbox))
    with WarmGrader(sandbox) as grader:
        result = grader.grade(attention, sandbox / "exercises" / "attention.py", quick=True)
        assert result.ok, result
        seen = json.loads(probe.read_text())
        assert _gone(seen["pid"], within=5), "the learner's `sleep` outlived the grade"
    _assert_contained(sandbox, probe)


def test_importing_the_reference_fails_the_grade(sandbox):
    (sandbox / "exercises" / "attention.py").write_text("from solutions.attention import *\n")
    process = kata(sandbox, "grade", "attention")
    result = result_json(sandbox, "attention")
    assert process.returncode == 1 and not result["ok"], process.stdout
    assert result["rules"] and "reference solution" in process.stdout, process.stdout


NOT_IN_SYS_MODULES = '''
import sys


def test_the_reference_is_not_in_sys_modules(impl, ref):
    reference = ref.__file__
    assert not [name for name, module in list(sys.modules.items())
                if getattr(module, "__file__", None) == reference]
'''


def test_grading_leaves_no_reference_module_in_sys_modules(repo):
    (repo / "tests").mkdir()
    (repo / "tests" / "test_alpha.py").write_text(NOT_IN_SYS_MODULES)
    (repo / "conftest.py").write_text('pytest_plugins = ["kata.plugin"]\n')
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_alpha.py", "-p", "no:cacheprovider",
         "--rootdir", str(repo)], cwd=repo, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stdout + process.stderr


# ---------------------------------------------------------------- 13. the reference stays hidden


def test_editor_and_search_tools_skip_the_reference():
    settings = json.loads((ROOT / ".vscode" / "settings.json").read_text())
    for key in ("files.exclude", "search.exclude"):
        assert settings[key].get("solutions/**") is True, key
        assert settings[key].get("tests/mutants/**") is True, key
    ignored = (ROOT / ".ignore").read_text().split()
    assert "solutions/" in ignored and "tests/mutants/" in ignored


REF_RAISES = '''
def test_calls_the_reference(impl, ref):
    ref.f(None)  # raises inside the reference


def test_chained(impl, ref):
    try:
        ref.f(None)
    except TypeError as error:
        raise ValueError("while checking") from error
'''


@pytest.mark.parametrize("tb", ["auto", "long", "native"])
def test_a_failure_never_prints_the_reference_source(repo, tb):
    (repo / "tests").mkdir()
    (repo / "tests" / "test_alpha.py").write_text(REF_RAISES)
    (repo / "conftest.py").write_text('pytest_plugins = ["kata.plugin"]\n')
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_alpha.py", f"--tb={tb}", "-p",
         "no:cacheprovider", "--rootdir", str(repo)],
        cwd=repo, capture_output=True, text=True, timeout=120)
    out = process.stdout + process.stderr
    assert "2 failed" in out, out
    assert "return x + 1" not in out and "BEGIN SOLUTION" not in out, out


# ---------------------------------------------------------------- 5. a broken .kata/


def test_grading_prints_its_verdict_whatever_state_kata_is_in(sandbox):
    (sandbox / ".kata").write_text("a file where the folder should be")
    process = kata(sandbox, "grade", "attention")
    assert process.returncode == 1
    assert "attention: 0/" in process.stdout and "not started" in process.stdout, process.stdout
    assert "Traceback" not in process.stdout + process.stderr, process.stderr
    problem = process.stderr.strip().splitlines()
    assert len(problem) == 1 and str(sandbox / ".kata") in problem[0], process.stderr


# ---------------------------------------------------------------- 6. a killed practice session


def test_a_killed_practice_is_closed_as_abandoned_and_leaves_no_empty_log(sandbox):
    import signal

    practice = subprocess.Popen([sys.executable, "-m", "kata", "practice", "attention",
                                 "--minutes", "5"], cwd=sandbox, env=_env(sandbox),
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    log = sandbox / ".kata" / "logs" / f"grader-{practice.pid}.log"
    deadline = time.monotonic() + 60
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert log.exists(), "practice did not start its grader"
    practice.send_signal(signal.SIGKILL)
    practice.wait()
    deadline = time.monotonic() + 90  # the grader finishes warming up, sees EOF, tidies up
    while log.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not log.exists(), "an empty grader log was left behind"
    stats = kata(sandbox, "stats", "attention")
    assert stats.returncode == 0, stats.stderr
    with open_store(sandbox) as store:
        (attempt,) = store.attempts("attention")
    assert attempt.outcome == "abandoned" and attempt.ended is not None


CLASS_TESTS = '''
def test_plain(impl):
    assert impl.f(1) == 2


class TestGroup:
    def test_one(self, impl):
        assert impl.f(2) == 3

    def test_two(self, impl):
        assert impl.f(3) == 4
'''


@pytest.mark.parametrize("selection, complete", [
    (["tests/test_alpha.py"], True),
    (["tests/test_alpha.py::test_plain"], False),
    (["tests/test_alpha.py::TestGroup"], False),
    (["tests/test_alpha.py", "--deselect", "tests/test_alpha.py::TestGroup::test_two"], False),
])
def test_completeness_counts_tests_inside_classes(repo, selection, complete):
    (repo / "tests").mkdir()
    (repo / "tests" / "test_alpha.py").write_text(CLASS_TESTS)
    (repo / "conftest.py").write_text('pytest_plugins = ["kata.plugin"]\n')
    out = repo / "result.json"
    subprocess.run([sys.executable, "-m", "pytest", *selection, "--target=solutions",
                    f"--kata-result={out}", "-p", "no:cacheprovider", "--rootdir", str(repo)],
                   cwd=repo, capture_output=True, text=True, timeout=120)
    result = json.loads(out.read_text())
    assert result["complete"] is complete and result["ok"] is complete, result

"""The first thing a learner sees: `nox -s attention` on the stub prints what the README shows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kata.catalog import find_kata, load_catalog
from kata.stubgen import stub_for

ROOT = Path(__file__).resolve().parents[2]


def _readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Then:\n\n```\n(.*?)```", text, re.S)
    assert match, "README: the block after 'Then:' is gone"
    return match[1]


@pytest.fixture(scope="module")
def stub_in_place():
    kata = find_kata("attention", load_catalog(ROOT))
    if kata.exercise.read_text(encoding="utf-8") != stub_for(kata.solution, kata.id):
        pytest.skip("exercises/attention.py holds work; the first run is about the stub")
    return kata


def _env() -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    env.pop("PY_COLORS", None)
    env.pop("KATA_ROOT", None)
    return env


def test_first_grade_prints_the_readme_lines_and_nothing_else(stub_in_place):
    done = subprocess.run([sys.executable, "-m", "kata", "grade", "attention"], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1  # a failing grade still fails for scripts and CI
    assert done.stdout.strip("\n") == _readme_block().strip("\n")
    assert done.stderr == ""


@pytest.mark.skipif(shutil.which("nox") is None, reason="nox is not on PATH")
def test_nox_adds_no_lines_to_a_failing_grade_but_keeps_real_errors(stub_in_place):
    done = subprocess.run(["nox", "-s", "attention"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert (done.stdout + done.stderr).strip("\n") == _readme_block().strip("\n")
    bad = subprocess.run(["nox", "-s", "attention", "--", "--no-such-option"], cwd=ROOT,
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "Session attention failed" in bad.stderr


def test_readme_start_works_without_pip_installing_into_the_system_python():
    """Issue 8, item 11: `pip install nox` is refused by Debian/Ubuntu's Python (PEP 668)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.split("## Start", 1)[1].split("Then:", 1)[0]
    assert "pipx run nox -s attention" in start and "uvx nox -s attention" in start
    assert "python3 -m venv .tools && .tools/bin/python -m pip install nox" in start
    assert "pip install nox &&" not in start.replace("-m pip install nox &&", "")
    # .venv is built with virtualenv (a nox dependency), not `-m venv`, which needs Debian's
    # separate python3-venv package.
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert '"-m", "virtualenv"' in noxfile and '"-m", "venv"' not in noxfile


def test_ci_runs_the_readme_test_command_in_each_readme_way():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    maintainers = readme.split("## For maintainers", 1)[1]
    assert "pipx run nox -s tests" in maintainers and "uvx nox -s tests" in maintainers
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "uvx" in ci and "pipx run" in ci and ".tools/bin/nox" in ci
    assert '"${nox[@]}" -s tests' in ci
    assert ".tools/" in (ROOT / ".gitignore").read_text(encoding="utf-8")

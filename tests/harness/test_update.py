"""`kata update`: a newer version of the repo arrives; every learner file stays."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kata import workspace

SOLUTION = '''"""{id}."""


def f(x):
    """Add one."""
    # BEGIN SOLUTION
    return x + 1
    # END SOLUTION
'''
ENTRY = '''
[[kata]]
id = "{id}"
title = "{id}"
track = "foundations"
seed = "1.1 大模型核心概念"
difficulty = 1
minutes = 10
summary = "{id}"
'''


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


def _add_kata(repo: Path, kata_id: str, stub: str = "raise NotImplementedError\n") -> None:
    with open(repo / "kata.toml", "a", encoding="utf-8") as catalog:
        catalog.write(ENTRY.format(id=kata_id))
    for folder, text in (("solutions", SOLUTION.format(id=kata_id)), ("exercises", stub)):
        (repo / folder).mkdir(exist_ok=True)
        (repo / folder / f"{kata_id}.py").write_text(text, encoding="utf-8")


@pytest.fixture
def clones(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    _git(upstream, "init", "-q", "-b", "main")
    (upstream / ".gitignore").write_text(".kata/\npractice/\n", encoding="utf-8")
    _add_kata(upstream, "alpha")
    _add_kata(upstream, "beta")
    _git(upstream, "add", "-A")
    _git(upstream, "commit", "-qm", "first")
    learner = tmp_path / "learner"
    _git(tmp_path, "clone", "-q", str(upstream), str(learner))
    return upstream, learner


def test_update_keeps_learner_files_and_brings_new_katas(clones):
    upstream, learner = clones
    (learner / "exercises" / "alpha.py").write_text("my alpha\n", encoding="utf-8")
    (learner / "exercises" / "beta.py").write_text("my beta\n", encoding="utf-8")
    (learner / ".kata").mkdir()
    (learner / ".kata" / "progress.db").write_bytes(b"progress")
    # upstream: a new kata, and a changed stub for alpha (the same file the learner edited)
    _add_kata(upstream, "gamma")
    (upstream / "exercises" / "alpha.py").write_text("new alpha stub\n", encoding="utf-8")
    _git(upstream, "add", "-A")
    _git(upstream, "commit", "-qm", "second")
    with pytest.raises(subprocess.CalledProcessError):  # what the README used to leave them
        _git(learner, "pull", "-q", "--ff-only")
    done = workspace.update(learner)
    assert (learner / "exercises" / "alpha.py").read_text() == "my alpha\n"
    assert (learner / "exercises" / "beta.py").read_text() == "my beta\n"
    assert (learner / "exercises" / "gamma.py").exists() and done.new_katas == ["gamma"]
    assert done.stub_changed == ["alpha"]
    assert (learner / ".kata" / "progress.db").read_bytes() == b"progress"
    saved = sorted(p.read_text() for p in (learner / ".kata" / "backups").rglob("*-exercises.py"))
    assert saved == ["my alpha\n", "my beta\n"]
    assert _git(learner, "log", "-1", "--format=%s").strip() == "second"


def test_other_local_changes_stop_the_update_before_anything_is_touched(clones):
    upstream, learner = clones
    (learner / "exercises" / "alpha.py").write_text("my alpha\n", encoding="utf-8")
    (learner / "kata.toml").write_text("# edited\n", encoding="utf-8")
    with pytest.raises(workspace.WorkspaceError, match="kata.toml"):
        workspace.update(learner)
    assert (learner / "exercises" / "alpha.py").read_text() == "my alpha\n"
    assert not (learner / ".kata" / "backups").exists()


def test_a_failed_pull_still_puts_the_learner_files_back(clones):
    upstream, learner = clones
    (learner / "exercises" / "alpha.py").write_text("my alpha\n", encoding="utf-8")
    with pytest.raises(workspace.WorkspaceError):
        workspace.update(learner, pull=("pull", "--ff-only", "no-such-remote"))
    assert (learner / "exercises" / "alpha.py").read_text() == "my alpha\n"

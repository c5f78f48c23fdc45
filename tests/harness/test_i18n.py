"""The Chinese edition: KATA_LANG, every learner screen in zh, and verify's sync rule."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest

from kata import i18n, render
from kata.catalog import load_catalog
from kata.cli import main
from kata.events import Event, ScriptedInbox
from kata.grade import record
from kata.messages import ZH
from kata.mock import run_mock
from kata.practice import Session
from kata.results import KataResult, TestResult
from kata.store import open_store

SRC = Path(__file__).resolve().parents[2] / "src" / "kata"
MUTANTS = '''
[[mutant]]
id = "off_by_one"
find = "return x + 1"
replace = "return x + 2"
mistake = "Adds two instead of one."
'''
ZH_TEXT = """# {id}：加一

## 任务
实现 `f`：返回 x + 1。

## 提示 1
想法：加一。

## 提示 2
计划：写 return。

## 提示 3
```python
return x + ____
```

## 追问
- **为什么加一？** 因为题目这么要求。
- **能加二吗？** 不能。

## 常见错误
- `off_by_one`: 加了二，而不是一。
"""


@pytest.fixture
def zh(repo, monkeypatch):
    """The tiny repo with a mutant file and a stamped Chinese text per kata, read in zh."""
    (repo / "tests" / "mutants").mkdir(parents=True)
    for kata in load_catalog(repo):
        kata.mutants.write_text(MUTANTS, encoding="utf-8")
        i18n.zh_path(kata).write_text(ZH_TEXT.format(id=kata.id), encoding="utf-8")
        i18n.restamp(kata)
    monkeypatch.setenv("KATA_LANG", "zh")
    return repo


def _kata(repo, kata_id="alpha"):
    return next(k for k in load_catalog(repo) if k.id == kata_id)


@pytest.mark.parametrize("env, expected", [
    ({"KATA_LANG": "zh"}, "zh"), ({"KATA_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US"}, "zh"),
    ({"LANG": "en_GB.UTF-8"}, "en"), ({}, "en"),
])
def test_language_comes_from_kata_lang_then_the_locale(monkeypatch, env, expected):
    for name in ("KATA_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert i18n.lang() == expected


def test_every_ui_string_has_chinese():
    missing = []
    for path in sorted(SRC.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "_" and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value not in ZH):
                missing.append(f"{path.name}:{node.lineno} {node.args[0].value!r}")
    assert not missing, "add these to kata.messages.ZH:\n" + "\n".join(missing)


def test_chinese_templates_keep_the_placeholders():
    for english, chinese in ZH.items():
        assert set(re.findall(r"{(\w+)}", english)) == set(re.findall(r"{(\w+)}", chinese)), english


def test_verdict_in_chinese_names_the_mistake_in_chinese(zh):
    result = KataResult("alpha", "exercises/alpha.py", "cpu", [
        TestResult("test_one", "passed"),
        TestResult("test_two", "failed", "output: wrong", diagnosis="Adds two instead of one.",
                   mutant="off_by_one")])
    text = render.kata_summary(result)
    assert "alpha：1/2 通过" in text
    assert "可能的错误：加了二，而不是一。" in text and "Adds two" not in text
    assert "先修第一个失败，再评测一次。" in text and "nox -s task -- alpha" in text
    both = KataResult("alpha", "exercises/alpha.py", "cpu", [
        TestResult("test_two", "failed", "output: wrong", diagnosis="One of these mistakes: ...",
                   mutant="off_by_one|off_by_one")])
    assert "可能的错误：以下之一（失败的调用分不出是哪一个）：（1）加了二，而不是一。（2）" in (
        render.kata_summary(both))
    stub = KataResult("alpha", "exercises/alpha.py", "cpu",
                      [TestResult("test_one", "not_started", "f: not written yet")])
    assert "还没开始" in render.kata_summary(stub)


def test_hint_and_follow_ups_in_chinese(zh, capsys):
    assert main(["hint", "alpha"]) == 0
    out = capsys.readouterr().out
    assert "alpha — 加一" in out and "## 提示 1" in out and "想法：加一。" in out
    assert "（提示 1/3；再运行一次同样的命令看下一条）" in out and "Hint" not in out
    main(["hint", "alpha", "--all"])
    out = capsys.readouterr().out
    assert "## 提示 3" in out and "## 追问" in out and "为什么加一？" in out


def test_task_screen_in_both_languages(zh, monkeypatch, capsys):
    assert main(["task", "alpha"]) == 0
    out = capsys.readouterr().out
    assert "实现 `f`：返回 x + 1。" in out and "评测：nox -s alpha" in out
    monkeypatch.setenv("KATA_LANG", "en")
    solution = zh / "solutions" / "alpha.py"
    solution.write_text('"""Alpha.\n\nTask:\n    Add one to x.\n\nGrade: nox -s alpha\n"""\n'
                        + solution.read_text().split('"""', 2)[2], encoding="utf-8")
    main(["task", "alpha"])
    out = capsys.readouterr().out
    assert "Task:\nAdd one to x." in out and "Grade: nox -s alpha" in out


def test_progress_by_track_and_by_the_guide_in_chinese(zh, capsys):
    record(KataResult("alpha", "exercises/alpha.py", "cpu", [TestResult("t", "passed")]))
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "按方向查看进度" in out and "通过" in out and "还没开始" in out
    assert main(["progress", "--by", "seed"]) == 0
    out = capsys.readouterr().out
    assert "1.1 大模型核心概念 (1/1)" in out and "3.2 性能优化 (0/1)" in out
    assert "2.3 知识增强（还没有题）" in out
    assert out.index("1. 基础概念") < out.index("2. 核心技术") < out.index("4. Agent系统")


def test_guide_checklist_ticks_when_its_katas_pass(zh, capsys):
    (zh / "docs").mkdir()
    sections = "\n".join(f'[[section]]\nid = "{s}"\n' for s in
                         __import__("kata.catalog", fromlist=["x"]).GUIDE_SECTIONS)
    (zh / "docs" / "guide-sections.toml").write_text(
        'title = "大模型岗位面试完整指南"\n' + sections
        + '[[checklist]]\ngroup = "技术准备"\nitem = "Transformer架构"\nkatas = ["alpha"]\n'
        + '[[checklist]]\ngroup = "工程准备"\nitem = "性能优化"\nkatas = ["alpha", "beta"]\n'
        + '[[checklist]]\ngroup = "工程准备"\nitem = "监控调试"\nkatas = []\n',
        encoding="utf-8")
    record(KataResult("alpha", "exercises/alpha.py", "cpu", [TestResult("t", "passed")]))
    main(["progress", "--by", "seed"])
    out = capsys.readouterr().out
    assert "面试准备清单" in out
    assert re.search(r"\[x\] Transformer架构\s+1/1: alpha", out)
    assert re.search(r"\[ \] 性能优化\s+1/2: alpha, beta", out)
    assert re.search(r"\[ \] 监控调试\s+（暂无对应的题）", out)


def test_stats_in_chinese(zh, capsys):
    with open_store(zh) as store:
        attempt = store.start_attempt("alpha", mode="live", minutes=10, target_minutes=10,
                                      file="practice/alpha.py", started=1000.0)
        store.finish_attempt(attempt, ended=1400.0, outcome="passed", time_to_green=400.0,
                             runs=2, hints=0, inside_target=True, passed=2, total=2)
    assert main(["stats", "alpha"]) == 0
    out = capsys.readouterr().out
    assert "（目标 10 分钟）" in out and "通过用时" in out and "共 1 次，1 次通过" in out
    assert "alpha — 加一（目标 10 分钟）" in out  # the Chinese title, not the catalog's English


def test_practice_in_a_pipe_in_chinese(zh, katas, clock, grader):
    path = zh / "practice" / "alpha.py"

    def solve():
        path.write_text("def f(x):\n    return x + 1\n", encoding="utf-8")
        return Event("changed", str(path))

    out = io.StringIO()
    with open_store(zh, clock=clock) as store:
        Session(katas[0], store=store, grader=grader,
                inbox=ScriptedInbox([(1, Event("key", "h")), (30, solve)], clock),
                screen=render.Screen(out, tty=False), clock=clock).run()
    text = out.getvalue()
    assert "限时练习：alpha — 加一" in text and "每次保存都会评测" in text
    # a pipe has no key presses: it says to type (issue 8, item 9)
    assert "## 提示 1" in text and "（提示 1/3；再输入 h 回车看下一条）" in text
    assert "全部通过 — 在 10 分钟目标之内" in text and "看了 1 条提示" in text


def test_mock_in_a_pipe_in_chinese(zh, katas, clock, grader):
    out = io.StringIO()
    with open_store(zh, clock=clock) as store:
        run_mock(katas, store=store, grader=grader,
                 inbox_factory=lambda: ScriptedInbox([(2, Event("key", "d"))], clock),
                 screen=render.Screen(out, tty=False), clock=clock, minutes=45)
    text = out.getvalue()
    assert "模拟面试：2 道题" in text and "盲写模式" in text
    assert "成绩单" in text and "解出 0/2" in text


def test_verify_names_the_kata_and_the_part_that_changed(zh):
    alpha = _kata(zh)
    assert i18n.check(alpha) == []
    hints = zh / "hints" / "alpha.md"
    hints.write_text(hints.read_text() + "- **new?** yes.\n", encoding="utf-8")
    assert i18n.check(alpha) == [
        "hints/alpha.zh.md: the English hints changed since this translation "
        "(run kata zh-stamp alpha after updating it)"]
    i18n.restamp(alpha)
    alpha.mutants.write_text(MUTANTS.replace("Adds two", "Adds 2"), encoding="utf-8")
    assert ["mistakes changed" in p for p in i18n.check(alpha)] == [True]
    alpha.solution.write_text('"""Alpha.\n\nTask:\n    New task.\n"""\n'
                              + alpha.solution.read_text(), encoding="utf-8")
    assert any("task statement changed" in p for p in i18n.check(alpha))


def test_verify_wants_the_file_and_a_line_per_mutant(zh):
    alpha = _kata(zh)
    alpha.mutants.write_text(MUTANTS + MUTANTS.replace("off_by_one", "other").replace(
        '"return x + 1"', '"x + 1"'), encoding="utf-8")
    i18n.restamp(alpha)
    assert i18n.check(alpha) == ["hints/alpha.zh.md: no Chinese line for mutant 'other' under "
                                 "## 常见错误 (- `other`: …)"]
    i18n.zh_path(alpha).unlink()
    (problem,) = i18n.check(alpha)
    assert problem.startswith("hints/alpha.zh.md is missing")


def test_zh_stamp_command_rewrites_the_first_line_only(zh, capsys):
    path = zh / "hints" / "alpha.zh.md"
    body = path.read_text(encoding="utf-8").split("\n", 1)[1]
    path.write_text("<!-- en: task=000000000000 hints=000000000000 mistakes=000000000000 -->\n"
                    + body, encoding="utf-8")
    assert main(["zh-stamp", "alpha"]) == 0
    assert "stamped hints/alpha.zh.md" in capsys.readouterr().out
    text = path.read_text(encoding="utf-8")
    assert text.split("\n", 1)[1] == body and i18n.check(_kata(zh)) == []


def test_the_repo_guide_file_names_the_guide_sections_and_real_katas():
    from kata.guide import load_guide

    root = SRC.parents[1]
    guide = load_guide(root)  # raises when its sections differ from GUIDE_SECTIONS
    ids = {k.id for k in load_catalog(root)}
    assert len(guide.sections) == 13 and all(s.question.endswith("？") for s in guide.sections)
    for item in guide.checklist:
        assert set(item.katas) <= ids, f"{item.item}: unknown katas {set(item.katas) - ids}"
    original = root.parent / "shared" / "research" / "interview-guide.md"
    if original.is_file():  # the maintainers' workspace: the copy must match the guide
        text = original.read_text(encoding="utf-8")
        items = re.findall(r"^- \[ \] (.+)$", text.split("面试准备清单", 1)[1], flags=re.M)
        assert [c.item for c in guide.checklist] == items
        for section in guide.sections:
            assert f"### {section.id}" in text and section.question in text

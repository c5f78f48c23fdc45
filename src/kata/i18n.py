"""Chinese texts: the language choice and the per-kata translations (`hints/<id>.zh.md`).

The learner's language is `KATA_LANG` (`zh` or `en`); unset, a `zh_*` locale (`LC_ALL`,
`LC_MESSAGES`, `LANG`) means Chinese and anything else English. UI strings go through `_()`
(catalog: `kata.messages`); kata texts come from the kata's files:

| part | English source | Chinese (`hints/<id>.zh.md`) |
|---|---|---|
| task | the solution's module docstring: Task, Rules, Notable choices | `## 任务` |
| hints | `hints/<id>.md`: Hint 1-3 and Follow-up questions | `## 提示 1..3`, `## 追问` |
| mistakes | `tests/mutants/<id>.toml`: each mutant's `mistake` | `## 常见错误`, one line per mutant |

The zh file's first line records which English it translates, one sha256 prefix per part:
`<!-- en: task=<12 hex> hints=<12 hex> mistakes=<12 hex> -->`. Verify compares them with the
English as it is now; `kata zh-stamp <id>` rewrites the line after the Chinese is updated.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import textwrap
from pathlib import Path

from kata.catalog import Kata

LANGS = ("en", "zh")
PARTS = ("task", "hints", "mistakes")
TASK_SECTIONS = ("Task", "Rules", "Notable choices")
ZH_HEADINGS = ("任务", "提示 1", "提示 2", "提示 3", "追问", "常见错误")
_STAMP = re.compile(r"^<!-- en: task=([0-9a-f]{12}) hints=([0-9a-f]{12}) "
                    r"mistakes=([0-9a-f]{12}) -->$")
_MISTAKE = re.compile(r"^- `([A-Za-z0-9_]+)`[:：]\s*(.+)$")


def lang() -> str:
    """`zh` or `en`: `KATA_LANG` when set, else the locale (zh_* → zh)."""
    chosen = os.environ.get("KATA_LANG", "").strip().lower()
    if chosen.startswith("zh"):
        return "zh"
    if chosen.startswith("en"):
        return "en"
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def _(text: str, **values) -> str:
    """The UI string `text` (English, used as the key) in the learner's language, formatted."""
    if lang() == "zh":
        from kata.messages import ZH

        text = ZH.get(text, text)
    return text.format(**values) if values else text


# ---------------------------------------------------------------- the English sources


def docstring_sections(path: Path) -> dict[str, str]:
    """`Heading:` sections of a module docstring, bodies dedented (title line under "")."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    parts = re.split(r"^([A-Z][A-Za-z ]*):[ \t]*$", doc, flags=re.M)
    found = {"": parts[0].strip()}
    for i in range(1, len(parts), 2):
        body = re.split(r"^\s*Grade:", parts[i + 1], maxsplit=1, flags=re.M)[0]
        found[parts[i]] = textwrap.dedent(body).strip()
    return found


def task_source(kata: Kata) -> str:
    """The English task statement: the docstring's Task, Rules and Notable choices."""
    found = docstring_sections(kata.solution)
    return "\n\n".join(f"{name}:\n{found[name]}" for name in TASK_SECTIONS if name in found)


def _sections(text: str) -> list[tuple[str, str]]:
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def hints_source(kata: Kata) -> str:
    """The English hints: every `## ` section of hints/<id>.md, whitespace-normalised."""
    text = kata.hints.read_text(encoding="utf-8")
    return "\n\n".join(f"## {h}\n{b}" for h, b in _sections(text))


def mistakes_source(kata: Kata) -> str:
    """One `<mutant id>: <mistake>` line per catalogued mutant, in file order."""
    from kata.mutants import load_mutants

    return "\n".join(f"{m.id}: {m.mistake}" for m in load_mutants(kata.mutants))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def english_stamp(kata: Kata) -> dict[str, str]:
    return {"task": digest(task_source(kata)), "hints": digest(hints_source(kata)),
            "mistakes": digest(mistakes_source(kata))}


def stamp_line(stamp: dict[str, str]) -> str:
    return (f"<!-- en: task={stamp['task']} hints={stamp['hints']} "
            f"mistakes={stamp['mistakes']} -->")


# ---------------------------------------------------------------- the Chinese file


def zh_path(kata: Kata) -> Path:
    return kata.root / "hints" / f"{kata.id}.zh.md"


class ZhText:
    """A parsed `hints/<id>.zh.md`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        text = path.read_text(encoding="utf-8")
        first = text.split("\n", 1)[0].strip()
        match = _STAMP.match(first)
        self.stamp = dict(zip(PARTS, match.groups(), strict=True)) if match else None
        self.sections = dict(_sections(text))
        self.mistakes: dict[str, str] = {}
        for line in self.sections.get("常见错误", "").splitlines():
            if found := _MISTAKE.match(line.strip()):
                self.mistakes[found.group(1)] = found.group(2).strip()


def load_zh(kata: Kata) -> ZhText | None:
    path = zh_path(kata)
    return ZhText(path) if path.is_file() else None


def check(kata: Kata) -> list[str]:
    """Problems with the kata's Chinese texts (verify): missing file, parts or mistake lines,
    and parts whose English changed since the translation was stamped."""
    from kata.mutants import MutantError, load_mutants

    name = f"hints/{kata.id}.zh.md"
    text = load_zh(kata)
    if text is None:
        return [f"{name} is missing: every kata needs its Chinese texts (see docs/authoring.md; "
                f"then run kata zh-stamp {kata.id})"]
    problems = [f"{name}: missing heading '## {h}'" for h in ZH_HEADINGS
                if h not in text.sections]
    if text.stamp is None:
        return problems + [f"{name}: the first line must be the stamp "
                           f"'<!-- en: task=… hints=… mistakes=… -->'; run kata zh-stamp {kata.id}"]
    try:
        now = english_stamp(kata)
        mutants = load_mutants(kata.mutants)
    except (OSError, SyntaxError, MutantError) as error:
        return problems + [f"{name}: cannot read the English sources ({error})"]
    words = {"task": "task statement", "hints": "hints", "mistakes": "mistakes"}
    for part in PARTS:
        if text.stamp[part] != now[part]:
            problems.append(f"{name}: the English {words[part]} changed since this translation "
                            f"(run kata zh-stamp {kata.id} after updating it)")
    for mutant in mutants:
        if mutant.id not in text.mistakes:
            problems.append(f"{name}: no Chinese line for mutant '{mutant.id}' under "
                            f"## 常见错误 (- `{mutant.id}`: …)")
    ids = {m.id for m in mutants}
    for extra in sorted(set(text.mistakes) - ids):
        problems.append(f"{name}: '{extra}' under ## 常见错误 is not a mutant of {kata.id}")
    return problems


def restamp(kata: Kata) -> Path:
    """Write the current English digests into the zh file's first line (`kata zh-stamp`)."""
    path = zh_path(kata)
    text = path.read_text(encoding="utf-8")
    line = stamp_line(english_stamp(kata))
    first, _sep, rest = text.partition("\n")
    text = (line + "\n" + rest) if _STAMP.match(first.strip()) else (line + "\n" + text)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- what the learner reads


def _zh(kata: Kata) -> ZhText | None:
    return load_zh(kata) if lang() == "zh" else None


def task(kata: Kata) -> str:
    """The task statement in the learner's language (English when no translation exists)."""
    if (text := _zh(kata)) and text.sections.get("任务"):
        return text.sections["任务"]
    return task_source(kata)


def title(kata: Kata) -> str:
    """The kata's title: the zh file's `# <id>：<标题>` line in Chinese, else the catalog's."""
    if text := _zh(kata):
        for line in text.path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].split("：", 1)[-1].strip() or kata.title
    return kata.title


def hint_levels(kata: Kata) -> list[tuple[str, str]]:
    """(heading, body) of each hint level, in the learner's language."""
    if (text := _zh(kata)) and all(f"提示 {i}" in text.sections for i in (1, 2, 3)):
        return [(f"提示 {i}", text.sections[f"提示 {i}"]) for i in (1, 2, 3)]
    return [(h, b) for h, b in _sections(kata.hints.read_text(encoding="utf-8"))
            if h.startswith("Hint ")]


def follow_ups(kata: Kata) -> str:
    if (text := _zh(kata)) and text.sections.get("追问"):
        return text.sections["追问"]
    return dict(_sections(kata.hints.read_text(encoding="utf-8"))).get("Follow-up questions", "")


def mistake(kata_id: str, mutant_id: str, english: str, root: Path | None = None) -> str:
    """A likely-mistake line in the learner's language (the English one when untranslated)."""
    if lang() != "zh" or not mutant_id:
        return english
    try:
        from kata.catalog import repo_root

        path = (root or repo_root()) / "hints" / f"{kata_id}.zh.md"
        if path.is_file():
            mistakes = ZhText(path).mistakes
            ids = mutant_id.split("|")  # diagnosis names two or three look-alikes as "a|b"
            if len(ids) > 1 and all(i in mistakes for i in ids):
                return "以下之一（失败的调用分不出是哪一个）：" + "".join(
                    f"（{n}）{mistakes[i].rstrip('。')}。" for n, i in enumerate(ids, 1))
            return mistakes.get(mutant_id, english)
    except Exception:  # a translation is a courtesy; never let it break a verdict
        pass
    return english

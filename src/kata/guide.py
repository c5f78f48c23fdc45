"""The interview guide's sections and preparation checklist (`docs/guide-sections.toml`).

The guide (《大模型岗位面试完整指南》) lives outside the repo; the parts the harness needs are
copied into `docs/guide-sections.toml`: its parts, its sections (the valid catalog `seed`
values, in the guide's order) and its 面试准备清单 items with the katas that drill each one.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from kata.catalog import GUIDE_SECTIONS, CatalogError

GUIDE_FILE = Path("docs") / "guide-sections.toml"
PART_TITLES = {"1": "基础概念", "2": "核心技术", "3": "工程实践", "4": "Agent系统"}


@dataclass(frozen=True)
class Section:
    id: str  # "2.2 注意力机制": number and title, exactly as a catalog seed names it
    question: str = ""

    @property
    def part(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass(frozen=True)
class ChecklistItem:
    group: str
    item: str
    katas: tuple[str, ...]


@dataclass(frozen=True)
class Guide:
    title: str
    parts: dict[str, str]
    sections: tuple[Section, ...]
    checklist: tuple[ChecklistItem, ...]


def load_guide(root: Path) -> Guide:
    """Read docs/guide-sections.toml; without it, the sections alone (no questions, no list)."""
    path = root / GUIDE_FILE
    if not path.is_file():
        return Guide("大模型岗位面试完整指南", dict(PART_TITLES),
                     tuple(Section(s) for s in GUIDE_SECTIONS), ())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{GUIDE_FILE} is not valid TOML: {error}") from None
    sections = tuple(Section(s["id"], s.get("question", "")) for s in data.get("section", []))
    if [s.id for s in sections] != list(GUIDE_SECTIONS):
        raise CatalogError(f"{GUIDE_FILE}: its sections must be the guide's, in order: "
                           f"{', '.join(GUIDE_SECTIONS)}")
    parts = {p["number"]: p["title"] for p in data.get("part", [])} or dict(PART_TITLES)
    checklist = tuple(ChecklistItem(c["group"], c["item"], tuple(c.get("katas", [])))
                      for c in data.get("checklist", []))
    return Guide(data.get("title", ""), parts, sections, checklist)


def part_of(seed: str) -> str:
    """The guide's part a seed belongs to: "1. 基础概念"."""
    number = seed.split(".", 1)[0].strip()
    return f"{number}. {PART_TITLES[number]}" if number in PART_TITLES else seed

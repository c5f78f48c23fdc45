"""The README's kata table, generated from the catalog (kept current by `kata sync`)."""

from __future__ import annotations

from pathlib import Path

from kata.catalog import Kata

BEGIN, END = "<!-- katas:begin -->", "<!-- katas:end -->"


def table_rows(katas: list[Kata]) -> str:
    return "\n".join(f"| `{k.id}` | {k.track} | {k.title} ({k.minutes} min) |" for k in katas)


def with_table(text: str, katas: list[Kata]) -> str:
    """README text with the rows between the markers replaced; unchanged if markers are absent."""
    if BEGIN not in text or END not in text:
        return text
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table_rows(katas)}\n{END}{tail}"


def sync_readme(root: Path, katas: list[Kata], check: bool) -> bool:
    """Write (or with `check`, compare) the table; True when the README was already current."""
    path = root / "README.md"
    text = path.read_text(encoding="utf-8")
    updated = with_table(text, katas)
    if updated != text and not check:
        path.write_text(updated, encoding="utf-8")
    return updated == text

"""Progressive hints (`hints/<id>.md`): `## Hint 1..3`, then `## Follow-up questions`.

In Chinese (`KATA_LANG=zh`) they come from `hints/<id>.zh.md` (see `kata.i18n`).

What a learner has revealed is kept in the progress store (`kata.store`).
"""

from __future__ import annotations

import re
from pathlib import Path

from kata.catalog import Kata


def sections(path: Path) -> list[tuple[str, str]]:
    """(heading, body) for each `## ` section, in file order."""
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def levels(kata: Kata) -> list[tuple[str, str]]:
    """(heading, body) per hint level, in the learner's language."""
    from kata.i18n import hint_levels

    return hint_levels(kata)


def follow_ups(kata: Kata) -> str:
    from kata.i18n import follow_ups as translated

    return translated(kata)


def revealed(kata: Kata, store) -> int:
    """How many hint levels the learner has seen (from the progress store).

    Levels revealed before the store existed (`.kata/hints.json`) still count, until the
    learner starts the hints again (`reset`).
    """
    if store.hints_were_reset(kata.id):
        return store.hint_level(kata.id)
    return max(store.hint_level(kata.id), _legacy_level(kata))


def reset(kata: Kata, store) -> None:
    """Start the hints again from level 1; the levels already seen stay in the history."""
    store.record_reveal(kata.id, "hint_reset", 0)


def _legacy_level(kata: Kata) -> int:
    import json

    try:
        data = json.loads((kata.root / ".kata" / "hints.json").read_text(encoding="utf-8"))
        return int(data.get(kata.id, 0))
    except (OSError, ValueError, AttributeError, TypeError):
        return 0


def reveal_next(kata: Kata, store) -> tuple[int, list[tuple[str, str]]]:
    """Reveal one more level and record it; returns (level now shown, every level up to it)."""
    available = levels(kata)
    level = min(revealed(kata, store) + 1, len(available))
    store.record_reveal(kata.id, "hint", level)
    return level, available[:level]


def reveal_all(kata: Kata, store) -> list[tuple[str, str]]:
    """Reveal every level (`kata hint --all`) and record it."""
    available = levels(kata)
    store.record_reveal(kata.id, "hint", len(available))
    return available

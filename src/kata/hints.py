"""Progressive hints (`hints/<id>.md`): `## Hint 1..3`, then `## Follow-up questions`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kata.catalog import Kata


def sections(path: Path) -> list[tuple[str, str]]:
    """(heading, body) for each `## ` section, in file order."""
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def levels(kata: Kata) -> list[tuple[str, str]]:
    return [(h, b) for h, b in sections(kata.hints) if h.startswith("Hint ")]


def follow_ups(kata: Kata) -> str:
    return next((b for h, b in sections(kata.hints) if h == "Follow-up questions"), "")


def _state_file(kata: Kata) -> Path:
    return kata.root / ".kata" / "hints.json"


def revealed(kata: Kata) -> int:
    """How many hint levels the learner has seen."""
    try:
        return int(json.loads(_state_file(kata).read_text(encoding="utf-8")).get(kata.id, 0))
    except (FileNotFoundError, ValueError, AttributeError):
        return 0


def reveal_next(kata: Kata) -> tuple[int, list[tuple[str, str]]]:
    """Reveal one more level; returns (level now shown, every level up to it)."""
    from kata.results import write_json

    available = levels(kata)
    level = min(revealed(kata) + 1, len(available))
    path = _state_file(kata)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        state = {}
    state[kata.id] = level
    write_json(path, state)
    return level, available[:level]

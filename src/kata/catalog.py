"""The kata catalog (`kata.toml`): loading, validation and lookup.

Every kata is one `[[kata]]` table. Its `id` names all of its files:
`solutions/<id>.py`, `exercises/<id>.py`, `tests/test_<id>.py`, `tests/mutants/<id>.toml`
and `hints/<id>.md`. Catalog order is the suggested learning order.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

TRACKS = ("foundations", "post-training", "systems", "rag-agents")
# The sections of the interview guide (docs/guide-sections.toml), in its order: a kata's `seed`.
GUIDE_SECTIONS = (
    "1.1 大模型核心概念", "1.2 Transformer架构", "1.3 预训练与微调",
    "2.1 强化学习（RLHF）", "2.2 注意力机制", "2.3 知识增强",
    "3.1 模型部署", "3.2 性能优化", "3.3 监控与调试",
    "4.1 Agent架构", "4.2 工具调用", "4.3 记忆系统", "4.4 多智能体系统",
)
# nox session names that are not katas; a kata may not take one of these ids.
RESERVED_IDS = frozenset(
    {"tests", "hint", "env", "bench", "practice", "progress", "watch", "mock", "list", "stats",
     "reset", "restore", "solution", "grade", "verify", "sync", "lint", "task", "update"}
)
_REQUIRED = {"id": str, "title": str, "track": str, "seed": str, "difficulty": int,
             "minutes": int, "summary": str}
_OPTIONAL = {"forbid": list, "requires": list, "tags": list}


class CatalogError(ValueError):
    """The catalog is malformed; the message names the entry and the field."""


class UnknownKataError(LookupError):
    """A kata id is not in the catalog; the message lists the closest ids."""


@dataclass(frozen=True)
class Kata:
    id: str
    title: str
    track: str
    seed: str
    difficulty: int
    minutes: int
    summary: str
    forbid: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    root: Path = field(default=Path("."), compare=False, repr=False)

    @property
    def solution(self) -> Path:
        return self.root / "solutions" / f"{self.id}.py"

    @property
    def exercise(self) -> Path:
        return self.root / "exercises" / f"{self.id}.py"

    @property
    def test(self) -> Path:
        return self.root / "tests" / f"test_{self.id}.py"

    @property
    def mutants(self) -> Path:
        return self.root / "tests" / "mutants" / f"{self.id}.toml"

    @property
    def hints(self) -> Path:
        return self.root / "hints" / f"{self.id}.md"

    def files(self) -> dict[str, Path]:
        return {"solution": self.solution, "exercise": self.exercise, "test": self.test,
                "mutants": self.mutants, "hints": self.hints}


def repo_root(start: Path | None = None) -> Path:
    """The folder holding `kata.toml`: `$KATA_ROOT`, else the nearest parent of `start` (cwd)."""
    if env := os.environ.get("KATA_ROOT"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "kata.toml").is_file():
            return folder
    package_root = Path(__file__).resolve().parents[2]
    if (package_root / "kata.toml").is_file():
        return package_root
    raise CatalogError(f"no kata.toml found in {here} or its parents; run this inside the repo")


def _check_entry(index: int, entry: dict) -> str:
    where = f"kata.toml entry #{index + 1}"
    if isinstance(entry.get("id"), str):
        where += f" (id = {entry['id']!r})"
    for name, kind in _REQUIRED.items():
        if name not in entry:
            raise CatalogError(f"{where}: missing required field '{name}'")
    for name, value in entry.items():
        kind = _REQUIRED.get(name) or _OPTIONAL.get(name)
        if kind is None:
            allowed = ", ".join([*_REQUIRED, *_OPTIONAL])
            raise CatalogError(f"{where}: unknown field '{name}' (allowed: {allowed})")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CatalogError(f"{where}: field '{name}' must be {kind.__name__}, got {value!r}")
        if kind is list and not all(isinstance(item, str) for item in value):
            raise CatalogError(f"{where}: field '{name}' must be a list of strings, got {value!r}")
    kata_id = entry["id"]
    if not kata_id.isidentifier() or kata_id != kata_id.lower():
        raise CatalogError(f"{where}: id must be a lower-case Python identifier, got {kata_id!r}")
    if kata_id in RESERVED_IDS:
        raise CatalogError(f"{where}: id {kata_id!r} is a reserved session name; pick another id")
    if entry["track"] not in TRACKS:
        raise CatalogError(f"{where}: track {entry['track']!r} is not one of {', '.join(TRACKS)}")
    if entry["seed"] not in GUIDE_SECTIONS:
        raise CatalogError(f"{where}: seed {entry['seed']!r} is not a section of the interview "
                           f"guide; use exactly one of: {', '.join(GUIDE_SECTIONS)}")
    if not 1 <= entry["difficulty"] <= 3:
        raise CatalogError(f"{where}: difficulty must be 1, 2 or 3, got {entry['difficulty']}")
    if entry["minutes"] <= 0:
        raise CatalogError(f"{where}: minutes must be positive, got {entry['minutes']}")
    return kata_id


def load_catalog(root: Path | None = None) -> list[Kata]:
    """Read and validate `kata.toml`. Raises CatalogError naming the entry and field."""
    root = root or repo_root()
    path = root / "kata.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{path} is not valid TOML: {error}") from None
    extra = set(data) - {"kata"}
    if extra:
        raise CatalogError(f"kata.toml: unknown top-level key(s) {sorted(extra)}; use [[kata]] tables")
    katas, seen = [], set()
    for index, entry in enumerate(data.get("kata", [])):
        kata_id = _check_entry(index, entry)
        if kata_id in seen:
            raise CatalogError(f"kata.toml entry #{index + 1}: duplicate id {kata_id!r}")
        seen.add(kata_id)
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
        katas.append(Kata(**fields, root=root))
    for kata in katas:
        for needed in kata.requires:
            if needed not in seen:
                raise CatalogError(f"kata.toml entry {kata.id!r}: requires unknown kata {needed!r}")
    return katas


def find_kata(kata_id: str, katas: list[Kata]) -> Kata:
    """Look a kata up by id; UnknownKataError lists the closest ids."""
    for kata in katas:
        if kata.id == kata_id:
            return kata
    ids = [kata.id for kata in katas]
    close = difflib.get_close_matches(kata_id, ids, n=3, cutoff=0.5)
    suggestion = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownKataError(
        f"unknown kata {kata_id!r}.{suggestion} All katas: {', '.join(ids)} (see `nox -s list`)")

"""Catalogued classic mistakes (`tests/mutants/<id>.toml`) and how to apply them.

Each `[[mutant]]` table has `id`, `find` (text that occurs exactly once inside a solution
region of `solutions/<id>.py`), `replace`, and `mistake` (the learner-facing explanation
that diagnosis prints when a learner's code behaves like this mutant).
"""

from __future__ import annotations

import sys
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path

from kata.stubgen import find_regions

_FIELDS = {"id", "find", "replace", "mistake"}


class MutantError(ValueError):
    """A mutant no longer applies to the solution, or its table is malformed."""


@dataclass(frozen=True)
class Mutant:
    id: str
    find: str
    replace: str
    mistake: str

    def apply(self, source: str, filename: str = "<solution>") -> str:
        """The solution source with this mistake written in."""
        count = source.count(self.find)
        if count != 1:
            raise MutantError(
                f"mutant {self.id!r}: its 'find' text occurs {count} times in {filename} "
                "(needs exactly once); update tests/mutants to match the solution")
        offset = source.index(self.find)
        line = source.count("\n", 0, offset) + 1
        last = line + self.find.rstrip("\n").count("\n")
        regions = find_regions(source, filename)
        if not any(r.contains(line) and r.contains(last) for r in regions):
            raise MutantError(f"mutant {self.id!r}: {filename}:{line} is outside every solution "
                              "region; mutants may only edit what the learner writes")
        return source.replace(self.find, self.replace)


def load_mutants(path: Path) -> list[Mutant]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MutantError(f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise MutantError(f"{path} is not valid TOML: {error}") from None
    mutants, seen = [], set()
    for index, entry in enumerate(data.get("mutant", [])):
        missing, extra = _FIELDS - set(entry), set(entry) - _FIELDS
        if missing or extra:
            raise MutantError(f"{path} mutant #{index + 1}: missing {sorted(missing)} "
                              f"unknown {sorted(extra)}")
        if entry["id"] in seen:
            raise MutantError(f"{path}: duplicate mutant id {entry['id']!r}")
        seen.add(entry["id"])
        mutants.append(Mutant(**entry))
    return mutants


def module_from_source(source: str, name: str, filename: str) -> types.ModuleType:
    """Execute source as a fresh module registered under `name`."""
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module  # dataclasses and typing look classes' modules up here
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module

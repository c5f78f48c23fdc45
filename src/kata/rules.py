"""Rules: a kata's `forbid` list, enforced by reading the learner's module (AST).

An entry such as `torch.nn.functional.scaled_dot_product_attention` forbids any reference to
that object however it was imported (`import torch.nn.functional as F` then
`F.scaled_dot_product_attention`, `from torch.nn import functional`, a direct `from ... import`).
An entry also forbids everything under it (`torch.nn.MultiheadAttention` covers its methods).

Every kata also refuses the reference solution itself: importing the `solutions` package in any
spelled-out form (`import solutions.x`, `from solutions import x`, `importlib.import_module` or
`__import__` with a literal name) and any string literal that names it as a path or module
(`"solutions/x.py"`, `Path("solutions") / ...`, `"solutions.x"`). This is a static check: code
that builds the name at run time (`"sol" + "utions"`), walks the interpreter's frames or `gc`,
or copies the reference into the learner's file is not caught; the reference is not secret
(it sits in the repo), the rule stops the easy shortcut and the accidental import.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Violation:
    line: int
    name: str  # the dotted name as resolved
    forbidden: str  # the catalog entry it matched, or REFERENCE

    def message(self, path: Path | str) -> str:
        if self.forbidden == REFERENCE:
            return (f"{path}:{self.line} uses {self.name}, the kata's reference solution, which "
                    "grading refuses: the point is to write it yourself")
        return (f"{path}:{self.line} uses {self.name}, which this kata forbids ({self.forbidden}): "
                "the point is to write it yourself")


REFERENCE = "solutions"  # the package of reference solutions, refused in every kata
# A string naming the reference as a path or a module: "solutions", "solutions/x.py",
# "../solutions/x.py", "solutions\\x.py", "solutions.x" (not the word inside a sentence).
_REFERENCE_TEXT = re.compile(r"(?:^|[\\/])solutions(?:$|[\\/]|\.\w)")


def _is_reference(module: str) -> bool:
    return module == REFERENCE or module.startswith(REFERENCE + ".")


def _reference_uses(tree: ast.AST) -> list[Violation]:
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Violation(node.lineno, alias.name, REFERENCE) for alias in node.names
                      if _is_reference(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _is_reference(node.module):
                found.append(Violation(node.lineno, node.module, REFERENCE))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings and _REFERENCE_TEXT.search(node.value)):
            found.append(Violation(node.lineno, repr(node.value), REFERENCE))
    return found


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _matches(name: str, forbid: tuple[str, ...] | list[str]) -> str | None:
    for entry in forbid:
        if name == entry or name.startswith(entry + "."):
            return entry
    return None


def check_source(source: str, forbid: tuple[str, ...] | list[str],
                 filename: str = "<module>") -> list[Violation]:
    """Every use of a forbidden API or of the reference solution in `source`, in line order."""
    tree = ast.parse(source, filename=filename)
    aliases: dict[str, str] = {}
    violations: list[Violation] = _reference_uses(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    aliases[head] = head
                if hit := _matches(alias.name, forbid):
                    violations.append(Violation(node.lineno, alias.name, hit))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                aliases[alias.asname or alias.name] = full
                if hit := _matches(full, forbid):
                    violations.append(Violation(node.lineno, full, hit))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            if head not in aliases:
                continue
            full = aliases[head] + ("." + rest if rest else "")
            if hit := _matches(full, forbid):
                violations.append(Violation(node.lineno, full, hit))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in {"getattr", "__import__", "eval", "exec"} and forbid:
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        if hit := next((f for f in forbid if f.endswith("." + arg.value)), None):
                            violations.append(Violation(node.lineno, arg.value, hit))
    # An attribute chain a.b.c is visited at a.b.c, a.b and a: keep the longest per line.
    unique: dict[tuple[int, str], Violation] = {}
    for violation in sorted(violations, key=lambda v: (v.line, -len(v.name))):
        unique.setdefault((violation.line, violation.forbidden), violation)
    return sorted(unique.values(), key=lambda v: v.line)


def check_file(path: Path, forbid: tuple[str, ...] | list[str]) -> list[Violation]:
    return check_source(path.read_text(encoding="utf-8"), forbid, str(path))

"""Single source: generate a learner stub from a reference solution.

A solution marks every part the learner writes with a pair of comment lines (the
nbgrader / otter-grader convention)::

    # BEGIN SOLUTION
    ...reference code...
    # END SOLUTION

`make_stub` copies everything outside the regions verbatim and replaces each region with a
`# TODO` line (with a size cue) and a `raise NotImplementedError` naming the function and
the hint command. Regions must sit inside a function body, so the stub still imports.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")


class StubError(ValueError):
    """A solution's markers are malformed; the message names the file and line."""


@dataclass(frozen=True)
class Region:
    start: int  # 1-based line of the BEGIN marker
    end: int  # 1-based line of the END marker
    indent: str
    function: str

    def contains(self, line: int) -> bool:
        return self.start < line < self.end


def _enclosing_function(tree: ast.AST, line: int) -> str | None:
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.lineno < line <= (node.end_lineno or node.lineno):
                if best is None or node.lineno > best[0]:
                    best = (node.lineno, node.name)
    return best[1] if best else None


def find_regions(source: str, filename: str = "<solution>") -> list[Region]:
    """Locate the solution regions. Raises StubError on unbalanced or misplaced markers."""
    tree = ast.parse(source, filename=filename)
    regions, start = [], None
    for number, text in enumerate(source.splitlines(), start=1):
        if match := BEGIN.match(text):
            if start is not None:
                raise StubError(f"{filename}:{number}: BEGIN SOLUTION inside another region")
            start = (number, match["indent"])
        elif END.match(text):
            if start is None:
                raise StubError(f"{filename}:{number}: END SOLUTION without BEGIN SOLUTION")
            function = _enclosing_function(tree, start[0])
            if function is None:
                raise StubError(f"{filename}:{start[0]}: a solution region must be inside a function")
            regions.append(Region(start[0], number, start[1], function))
            start = None
    if start is not None:
        raise StubError(f"{filename}:{start[0]}: BEGIN SOLUTION is never closed")
    return regions


def make_stub(source: str, kata_id: str, filename: str = "<solution>") -> str:
    """The learner's stub for a solution source."""
    lines = source.splitlines()
    out: list[str] = []
    cursor = 0
    for region in find_regions(source, filename):
        out.extend(lines[cursor:region.start - 1])
        body = [line for line in lines[region.start:region.end - 1] if line.strip()]
        code_lines = [line for line in body if not line.strip().startswith("#")]
        cue = f"about {len(code_lines)} line{'s' if len(code_lines) != 1 else ''}"
        out.append(f"{region.indent}# TODO: implement this ({cue} in the reference).")
        out.append(f"{region.indent}raise NotImplementedError(")
        out.append(f'{region.indent}    "{region.function}: not written yet. Stuck? nox -s hint -- {kata_id}"')
        out.append(f"{region.indent})")
        cursor = region.end
    out.extend(lines[cursor:])
    return "\n".join(out) + "\n"


def stub_for(solution: Path, kata_id: str) -> str:
    return make_stub(solution.read_text(encoding="utf-8"), kata_id, str(solution))


def strip_markers(source: str) -> str:
    """The solution with marker lines removed (what `kata solution` shows)."""
    return "\n".join(
        line for line in source.splitlines() if not (BEGIN.match(line) or END.match(line))
    ) + "\n"

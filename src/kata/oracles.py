"""The `nox -s oracles` table: each reference checked against the library it cites.

The oracle tests (`tests/oracles/test_<id>.py`) report their figures with pytest's
`record_property("library", ...)`, `record_property("cases", n)` and
`record_property("max_abs_diff", d)`; the session runs them with `--junitxml` and this module
reads that file back into one row per kata: `python -m kata.oracles report.xml`.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class OracleRow:
    """One kata's oracle figures, summed over its oracle tests."""

    kata: str
    libraries: list[str] = field(default_factory=list)
    cases: int = 0
    max_abs_diff: float = 0.0
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def status(self) -> str:
        if self.failed:
            return "FAILED"
        return "skipped" if self.skipped and not self.passed else "ok"


def _kata_of(classname: str, file: str) -> str:
    name = Path(file).stem if file else classname.split(".")[-1]
    return name.removeprefix("test_")


def read_report(path: Path) -> list[OracleRow]:
    """Rows in file order from a JUnit XML report written by pytest."""
    rows: dict[str, OracleRow] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        kata = _kata_of(case.get("classname", ""), case.get("file", ""))
        row = rows.setdefault(kata, OracleRow(kata))
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        for library in (properties.get("library") or "").split(", "):
            if library and library not in row.libraries:
                row.libraries.append(library)
        row.cases += int(properties.get("cases", 0) or 0)
        row.max_abs_diff = max(row.max_abs_diff, float(properties.get("max_abs_diff", 0) or 0))
        if case.find("skipped") is not None:
            row.skipped += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            row.failed += 1
        else:
            row.passed += 1
    return list(rows.values())


def format_table(rows: list[OracleRow]) -> str:
    """A plain-text table: kata, library, cases, largest difference, status."""
    header = ("kata", "library", "cases", "largest difference", "status")
    body = [(r.kata, ", ".join(r.libraries) or "-", str(r.cases), f"{r.max_abs_diff:.3g}",
             r.status) for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [header, *body]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kata.oracles REPORT.xml", file=sys.stderr)
        return 2
    rows = read_report(Path(args[0]))
    print(format_table(rows))
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())

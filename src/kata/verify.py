"""Verify: prove that every kata's grader is honest.

For each kata: its five files exist, the stub is in sync with the solution, the hints have
three levels and follow-up questions, its Chinese texts (`hints/<id>.zh.md`) exist and
translate the English as it is now, every test passes on the solution, every test fails on
the stub as "not started", and every catalogued mutant is killed by at least one test.
Katas run in parallel worker processes; each worker runs pytest in-process once per target.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kata.catalog import CatalogError, Kata, load_catalog, repo_root
from kata.mutants import MutantError, load_mutants
from kata.results import KataResult
from kata.stubgen import StubError, stub_for

HINT_HEADINGS = ("## Hint 1", "## Hint 2", "## Hint 3", "## Follow-up questions")


@dataclass
class KataReport:
    kata: str
    problems: list[str] = field(default_factory=list)
    tests: int = 0
    mutants: int = 0
    killed: int = 0
    seconds: float = 0.0
    signatures: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_hints(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    problems = [f"{path.name}: missing heading '{h}'" for h in HINT_HEADINGS if h not in text]
    if not problems:
        follow = text.split("## Follow-up questions", 1)[1]
        if len(re.findall(r"^\s*[-*] ", follow, flags=re.M)) < 2:
            problems.append(f"{path.name}: give at least two follow-up questions as '- ' items")
    return problems


def static_checks(kata: Kata) -> list[str]:
    """Files, stub sync, hints and mutants: everything that needs no test run."""
    missing = [f"missing {role} file {path.relative_to(kata.root)}"
               for role, path in kata.files().items() if not path.is_file()]
    if missing:
        return missing
    problems = []
    try:
        if stub_for(kata.solution, kata.id) != kata.exercise.read_text(encoding="utf-8"):
            problems.append(f"exercises/{kata.id}.py is out of sync with its solution; run: kata sync")
    except (StubError, SyntaxError) as error:
        problems.append(str(error))
    problems += check_hints(kata.hints)
    from kata.i18n import check as check_chinese

    problems += check_chinese(kata)
    try:
        mutants = load_mutants(kata.mutants)
        source = kata.solution.read_text(encoding="utf-8")
        for mutant in mutants:
            mutant.apply(source, str(kata.solution))
        if not mutants:
            problems.append(f"{kata.mutants.name}: no mutants catalogued")
    except (MutantError, StubError, SyntaxError) as error:
        problems.append(str(error))
    return problems


def _run_worker(kata: Kata, timeout: float) -> dict:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "verify", "KATA_ROOT": str(kata.root)}
    try:
        process = subprocess.run([sys.executable, "-m", "kata.verify_worker", kata.id],
                                 capture_output=True, text=True, env=env, timeout=timeout,
                                 cwd=kata.root)
    except subprocess.TimeoutExpired:
        return {"problems": [f"the verify worker took longer than {timeout:.0f} s"]}
    lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        tail = (process.stderr or process.stdout)[-1500:]
        return {"problems": [f"the verify worker failed (exit {process.returncode}):\n{tail}"]}
    return json.loads(lines[-1])


def dynamic_checks(kata: Kata, report: KataReport, timeout: float) -> None:
    data = _run_worker(kata, timeout)
    report.problems += data.get("problems", [])
    report.tests = data.get("tests", 0)
    report.mutants = data.get("mutants", 0)
    report.killed = data.get("killed", 0)
    report.signatures = data.get("signatures", {})


def verify_kata(kata: Kata, run_tests: bool = True, timeout: float = 900) -> KataReport:
    started = time.perf_counter()
    report = KataReport(kata.id, static_checks(kata))
    if run_tests and not any(p.startswith("missing") for p in report.problems):
        dynamic_checks(kata, report, timeout)
    report.seconds = time.perf_counter() - started
    return report


def verify(ids: list[str] | None = None, jobs: int | None = None, run_tests: bool = True,
           progress=None) -> tuple[list[KataReport], list[str]]:
    """Verify the catalog and the named katas (all when `ids` is empty)."""
    try:
        katas = load_catalog(repo_root())
    except CatalogError as error:
        return [], [str(error)]
    from kata.readme import sync_readme

    if not ids and not sync_readme(repo_root(), katas, check=True):
        return [], ["README.md's kata table is out of date with kata.toml; run: kata sync"]
    if ids:
        unknown = sorted(set(ids) - {k.id for k in katas})
        if unknown:
            return [], [f"unknown kata id(s): {', '.join(unknown)}"]
        katas = [k for k in katas if k.id in ids]
    jobs = jobs or max(1, min(len(katas), os.cpu_count() or 1))
    reports = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for report in pool.map(lambda k: verify_kata(k, run_tests), katas):
            reports.append(report)
            if progress:
                progress(report)
    return reports, []


# ---------------------------------------------------------------- worker side


def _pytest_once(kata: Kata, target: Path, result_path: Path,
                 first_failure: bool = False) -> KataResult | None:
    import contextlib
    import io

    import pytest

    from kata.results import read_result

    result_path.unlink(missing_ok=True)
    args = [str(kata.test), f"--target={target}", f"--kata-result={result_path}", "-q",
            "--kata-quiet", "--kata-time-limit=120", "-p", "no:randomly"]
    if first_failure:  # a mutant is killed by its first failing test; the rest would only cost
        args.append("-x")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(args)
    return read_result(result_path)


def worker(kata_id: str) -> dict:
    """Run one kata's tests against solution, stub and every mutant, in this process."""
    root = repo_root()
    kata = next(k for k in load_catalog(root) if k.id == kata_id)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"verify-{kata_id}-") as tmp:
        out = Path(tmp) / "result.json"
        solution = _pytest_once(kata, kata.solution, out)
        if solution is None or not solution.tests:
            return {"problems": [f"{kata_id}: the tests did not run on the solution"]}
        for test in solution.tests:
            if test.status not in ("passed", "skipped"):
                problems.append(f"solution fails {test.name}: {test.message[:300]}")
        if solution.rules:
            problems.append(f"solution breaks its own rules: {solution.rules}")
        stub = _pytest_once(kata, kata.exercise, out)
        for test in (stub.tests if stub else []):
            if test.status not in ("not_started", "skipped"):
                problems.append(f"stub: {test.name} is {test.status}, expected not started"
                                + (f" ({test.message[:200]})" if test.message else ""))
        mutants = load_mutants(kata.mutants)
        source = kata.solution.read_text(encoding="utf-8")
        signatures, killed = {}, 0
        for mutant in mutants:
            path = Path(tmp) / f"{kata_id}.py"
            try:
                path.write_text(mutant.apply(source, str(kata.solution)), encoding="utf-8")
            except MutantError:
                continue  # the static checks already report a mutant that does not apply
            result = _pytest_once(kata, path, out, first_failure=True)
            failing = [t.name for t in (result.tests if result else [])
                       if t.status in ("failed", "timeout", "error")]
            if result and result.tests and all(t.status == "error" for t in result.tests):
                problems.append(f"mutant {mutant.id!r} does not import: {result.tests[0].message}")
            elif failing:
                killed += 1
            else:
                problems.append(f"mutant {mutant.id!r} survives: no test fails when "
                                f"{mutant.mistake!r}")
            signatures[mutant.id] = failing
    graded = [t for t in solution.tests if t.status != "skipped"]
    return {"problems": problems, "tests": len(graded), "mutants": len(mutants),
            "killed": killed, "signatures": signatures}

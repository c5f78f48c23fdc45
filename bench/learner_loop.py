"""Benchmark of the learner loop, all figures measured in this one run.

1. `kata watch` re-grade latency: a real `kata watch attention` process on a scratch copy of
   the repo; the script saves `exercises/attention.py` (each catalogued mistake in turn, then
   the stub) and times each save until the verdict's headline line is printed. Target: median
   ≤ 0.5 s.
2. Diagnosis overhead on a failing run: the time spent inside `kata.diagnosis.diagnose` during a
   failing grade, in a fresh process as `kata grade` runs it (mutant modules built on demand)
   and in the warm grader of `kata watch` (built before the first save). Target: ≤ 0.3 s.

Run: python bench/learner_loop.py [--saves N]   (or nox -s bench)
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from kata.catalog import find_kata, load_catalog  # noqa: E402
from kata.mutants import load_mutants  # noqa: E402
from kata.stubgen import stub_for  # noqa: E402

KATA = "attention"


def scratch_repo() -> Path:
    """A copy of the repo's grading files, so the learner's files and progress are untouched."""
    tmp = Path(tempfile.mkdtemp(prefix="kata-bench-"))
    for name in ("kata.toml", "conftest.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp / name)
    for name in ("exercises", "solutions", "hints"):
        shutil.copytree(ROOT / name, tmp / name)
    shutil.copytree(ROOT / "tests", tmp / "tests", ignore=shutil.ignore_patterns("harness",
                                                                                  "__pycache__"))
    return tmp


def _env(root: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "KATA_ROOT": str(root), "PYTHONPATH": path, "NO_COLOR": "1"}


def sources(root: Path) -> list[tuple[str, str]]:
    kata = find_kata(KATA, load_catalog(root))
    solution = kata.solution.read_text(encoding="utf-8")
    edits = [(m.id, m.apply(solution)) for m in load_mutants(kata.mutants)]
    return edits + [("stub", stub_for(kata.solution, KATA))]


def watch_latency(root: Path, saves: int) -> tuple[list[float], list[str]]:
    lines: queue.Queue[tuple[float, str]] = queue.Queue()
    process = subprocess.Popen([sys.executable, "-m", "kata", "watch", KATA], cwd=root,
                               env=_env(root), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)

    def read() -> None:
        for line in process.stdout:
            lines.put((time.perf_counter(), line.rstrip("\n")))
        lines.put((time.perf_counter(), "<exit>"))

    threading.Thread(target=read, daemon=True).start()

    def verdict(timeout: float = 120) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            moment, line = lines.get(timeout=deadline - time.monotonic())
            if line.startswith(f"{KATA}:") or line == "<exit>":
                return moment, line
        raise TimeoutError("no verdict from kata watch")

    exercise = root / "exercises" / f"{KATA}.py"
    verdict()  # the first grade, of the untouched stub
    time.sleep(1.0)  # let the watcher settle
    latencies, notes = [], []
    edits = sources(root)
    try:
        for number in range(saves):
            name, text = edits[number % len(edits)]
            if exercise.read_text(encoding="utf-8") == text:
                continue
            started = time.perf_counter()
            exercise.write_text(text, encoding="utf-8")
            moment, line = verdict()
            if line == "<exit>":
                notes.append(f"{name}: kata watch exited (the edit passed)")
                break
            latencies.append(moment - started)
            notes.append(f"{name}: {moment - started:.3f} s  {line}")
            time.sleep(0.3)
    finally:
        if process.poll() is None:
            process.stdin.write("q\n")
            process.stdin.flush()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return latencies, notes


DIAGNOSE = r"""
import contextlib, io, json, sys, time
import kata.diagnosis as diagnosis
spent = [0.0, 0]
original = diagnosis.diagnose
def timed(*args, **kwargs):
    start = time.perf_counter()
    try:
        return original(*args, **kwargs)
    finally:
        spent[0] += time.perf_counter() - start
        spent[1] += 1
diagnosis.diagnose = timed
import pytest
from kata.catalog import find_kata, load_catalog, repo_root
kata = find_kata(sys.argv[1], load_catalog(repo_root()))
warm, targets = sys.argv[2] == "warm", sys.argv[3:]
if warm:
    diagnosis.mutant_modules(kata)
out = []
for target in targets:
    spent[:] = [0.0, 0]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main([str(kata.test), f"--target={target}", "-q", "--kata-quiet", "-p",
                     "no:randomly", "--kata-result=" + target + ".json"] + (["-x"] if warm else []))
    out.append({"run": time.perf_counter() - start, "diagnose": spent[0], "calls": spent[1]})
print(json.dumps(out))
"""


def diagnosis_overhead(root: Path, mutant_files: list[Path], warm: bool) -> list[dict]:
    from kata.grade import child_env

    env = child_env(**_env(root))
    if warm:
        args = [[sys.executable, "-c", DIAGNOSE, KATA, "warm", *map(str, mutant_files)]]
    else:  # a fresh process per run, as `kata grade` does
        args = [[sys.executable, "-c", DIAGNOSE, KATA, "fresh", str(f)] for f in mutant_files]
    runs = []
    for command in args:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                              timeout=600)
        runs += json.loads(done.stdout.strip().splitlines()[-1])
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=13)
    args = parser.parse_args()
    root = scratch_repo()
    try:
        latencies, notes = watch_latency(root, args.saves)
        edits = sources(root)[:-1]
        files = []
        for name, text in edits[:4]:
            path = root / f"{name}.py"
            path.write_text(text, encoding="utf-8")
            files.append(path)
        fresh = diagnosis_overhead(root, files, warm=False)
        warm = diagnosis_overhead(root, files, warm=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"learner loop bench ({KATA}; {os.cpu_count()} cores, load average {load:.1f})")
    for note in notes:
        print(f"  save {note}")
    if latencies:
        median = statistics.median(latencies)
        print(f"kata watch re-grade after a save: median {median:.3f} s, max "
              f"{max(latencies):.3f} s over {len(latencies)} saves (target ≤ 0.5 s: "
              f"{'ok' if median <= 0.5 else 'MISSED'})")
    for label, runs in (("fresh process (kata grade)", fresh), ("warm grader (kata watch)", warm)):
        spent = [r["diagnose"] for r in runs]
        share = [r["diagnose"] / r["run"] for r in runs if r["run"]]
        print(f"diagnosis on a failing run, {label}: median {statistics.median(spent):.3f} s, "
              f"max {max(spent):.3f} s ({statistics.median(share):.1%} of the run; "
              f"{sum(r['calls'] for r in runs)} failing tests over {len(runs)} runs; "
              f"target ≤ 0.3 s: {'ok' if max(spent) <= 0.3 else 'MISSED'})")


if __name__ == "__main__":
    main()

"""Benchmark: warm `nox -s attention` against the import floor, measured in one run.

The floor is `python -c "import torch, pytest, hypothesis"` with the project's venv: no grader
can start faster. Three commands, interleaved so machine load affects them alike: the floor,
`nox -s attention` on the untouched stub (the learner's first command) and on a correct
solution (`-- --target solutions`). For each, the median wall time and the median CPU time
(user + system of the command and every process it started) are printed with their ratio to
the floor's. Target: both ratios ≤ 1.3. On a busy machine the wall ratio is noise (the floor
itself can take several times its idle time); the CPU ratio is not.

Usage: python bench/grading.py [--repeat N] [--nox "python -m nox"]
(`nox -s bench` passes the nox it runs under as KATA_NOX.)
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
TARGET = 1.3


def _children_cpu() -> float:
    try:
        import resource
    except ImportError:  # Windows: no CPU figure
        return float("nan")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "NO_COLOR": "1"})
    wall = time.perf_counter() - started
    return wall, _children_cpu() - before


def _stub_target() -> list[str]:
    """Grade the stub: exercises/attention.py if untouched, else a scratch copy of the stub."""
    sys.path.insert(0, str(ROOT / "src"))
    from kata.stubgen import stub_for

    stub = stub_for(ROOT / "solutions" / "attention.py", "attention")
    if (ROOT / "exercises" / "attention.py").read_text(encoding="utf-8") == stub:
        return []
    folder = Path(tempfile.mkdtemp(prefix="kata-bench-stub-"))
    (folder / "attention.py").write_text(stub, encoding="utf-8")
    return ["--", "--target", str(folder / "attention.py")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nox", default=os.environ.get("KATA_NOX"),
                        help="how to run nox (default: $KATA_NOX, set by nox -s bench, or nox "
                             "on PATH)")
    args, _ = parser.parse_known_args()
    nox = shlex.split(args.nox) if args.nox else [shutil.which("nox") or "nox"]
    if not PYTHON.exists():
        sys.exit("needs a prepared .venv (run `nox -s attention` once)")
    commands = {
        "import floor": [str(PYTHON), "-c", "import torch, pytest, hypothesis"],
        "nox -s attention (stub)": [*nox, "-s", "attention", *_stub_target()],
        "nox -s attention -- --target solutions": [*nox, "-s", "attention", "--", "--target",
                                                    "solutions"],
    }
    for command in commands.values():  # warm the caches once
        measure(command)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            wall, cpu = measure(command)
            walls[name].append(wall)
            cpus[name].append(cpu)
    floor_wall = statistics.median(walls["import floor"])
    floor_cpu = statistics.median(cpus["import floor"])
    print(f"grading benchmark ({args.repeat} interleaved runs, medians; target ratio ≤ {TARGET})")
    verdicts = []
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"  {name:40s} wall {wall:5.2f} s ({wall / floor_wall:4.2f}×)   "
              f"cpu {cpu:5.2f} s ({cpu / floor_cpu:4.2f}×)")
        if name != "import floor":
            verdicts.append((name, wall / floor_wall, cpu / floor_cpu))
    for name, wall, cpu in verdicts:
        met = "met" if max(wall, cpu) <= TARGET else "NOT met"
        print(f"target {name}: wall {wall:.2f}×, cpu {cpu:.2f}× -> {met}")


if __name__ == "__main__":
    main()

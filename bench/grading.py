"""Benchmark: warm `nox -s attention` against the import floor, measured in one run.

The floor is `python -c "import torch, pytest, hypothesis"` with the project's venv: no grader
can start faster. Runs are interleaved so machine load affects both alike; medians are printed
with their ratio (target: ≤ 1.5 on the untouched stub, the learner's first command).

Usage: python bench/grading.py [--repeat N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    nox = shutil.which("nox")
    if nox is None or not PYTHON.exists():
        sys.exit("needs `pip install nox` and a prepared .venv (run `nox -s attention` once)")
    commands = {
        "import floor": [str(PYTHON), "-c", "import torch, pytest, hypothesis"],
        "nox -s attention (stub)": [nox, "-s", "attention"],
        "nox -s attention -- --target solutions": [nox, "-s", "attention", "--", "--target",
                                                    "solutions"],
    }
    for command in commands.values():  # warm the caches once
        wall(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            times[name].append(wall(command))
    floor = statistics.median(times["import floor"])
    print(f"grading benchmark ({args.repeat} interleaved runs, medians)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:42s} {median:6.2f} s   ratio to floor {median / floor:4.2f}")
    stub = statistics.median(times["nox -s attention (stub)"]) / floor
    print(f"target: stub ratio ≤ 1.5 -> {'met' if stub <= 1.5 else 'NOT met'} ({stub:.2f})")


if __name__ == "__main__":
    main()

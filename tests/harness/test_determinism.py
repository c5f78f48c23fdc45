"""A verdict is reproducible: the same file gets the same result on every run and machine."""

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kata.target import load_module

ROOT = Path(__file__).resolve().parents[2]
# LayerNorm's one-pass variance E[x²] − mean²: right on small inputs, wrong (even NaN) at large
# offsets, so whether it is caught depends on which examples are drawn.
ONE_PASS = ("var = ((h - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased",
            "var = (h * h).mean(dim=-1, keepdim=True) - mean * mean")


def _without_durations(value):
    if isinstance(value, dict):
        return {k: _without_durations(v) for k, v in value.items() if k != "duration"}
    if isinstance(value, list):
        return [_without_durations(v) for v in value]
    return value


def test_same_file_gets_the_same_verdict_in_five_fresh_runs(tmp_path):
    source = (ROOT / "solutions" / "normalization.py").read_text(encoding="utf-8")
    assert source.count(ONE_PASS[0]) == 1, "the reference changed: update ONE_PASS"
    target = tmp_path / "normalization.py"
    target.write_text(source.replace(*ONE_PASS), encoding="utf-8")
    # The learner's default profile (no CI, no HYPOTHESIS_PROFILE), a fresh hypothesis folder
    # and a different hash seed each run.
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    verdicts = []
    for run in range(5):
        storage = tmp_path / f"hypothesis-{run}"
        result = tmp_path / f"result-{run}.json"
        subprocess.run(
            [sys.executable, "-m", "pytest", "tests/test_normalization.py", f"--target={target}",
             f"--kata-result={result}", "-q", "--kata-quiet", "-p", "no:cacheprovider"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
            env={**env, "HYPOTHESIS_STORAGE_DIRECTORY": str(storage),
                 "PYTHONHASHSEED": str(run), "NO_COLOR": "1"})
        verdicts.append(_without_durations(json.loads(result.read_text(encoding="utf-8"))))
        assert not (storage / "examples").exists(), "grading saved examples to replay later"
    assert verdicts[0]["total"] > 0 and not verdicts[0]["ok"], verdicts[0]
    for run, verdict in enumerate(verdicts[1:], start=1):
        assert verdict == verdicts[0], f"run {run} differs from run 0"


def _draws() -> list[int]:
    seen = []

    @settings(max_examples=200)  # the loaded grading profile: derandomized, no database
    @given(st.integers(min_value=0, max_value=2**31 - 1))
    def record(value):
        seen.append(value)

    record()
    return seen


def test_drawn_examples_do_not_depend_on_the_graded_files_constants(tmp_path):
    # Hypothesis can draw literals found in local modules: the graded file would steer its own
    # examples, and mutants loaded by diagnosis or verify would steer later tests.
    before = _draws()
    constants = tmp_path / "graded.py"
    constants.write_text("".join(f"C{i} = {1_000_003 * (i + 7)}\n" for i in range(64)))
    load_module(constants, "kata_determinism_constants")
    try:
        after = _draws()
    finally:
        sys.modules.pop("kata_determinism_constants", None)
    assert after == before

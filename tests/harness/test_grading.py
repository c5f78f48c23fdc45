"""End-to-end grading of misbehaving learner code: always a clear failing verdict, bounded in
time, never a harness traceback, and later katas in the same run unaffected."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIGNATURE = ("def scaled_dot_product_attention(query, key, value, attn_mask=None, "
             "is_causal=False, scale=None):\n")


def grade(tmp_path: Path, body: str, *ids: str, limit: str = "3"):
    target = tmp_path / "target"
    target.mkdir(exist_ok=True)
    (target / "attention.py").write_text("import torch\n" + SIGNATURE + textwrap.indent(body, "    "))
    env = {**os.environ, "KATA_TIME_LIMIT": limit, "NO_COLOR": "1"}
    process = subprocess.run(
        [sys.executable, "-m", "kata", "grade", *(ids or ("attention",)), "--",
         f"--target={target}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    result = json.loads((ROOT / ".kata" / "results" / "attention.json").read_text())
    return process, result


def assert_clear_failure(process, result):
    assert process.returncode == 1, process.stdout + process.stderr
    assert "Traceback" not in process.stdout + process.stderr, process.stdout + process.stderr
    assert not result["ok"]
    assert result["passed"] < result["total"] or result["crashed"]


@pytest.mark.parametrize("body, words", [
    ("while True:\n    pass\n", "took longer than"),
    ("return scaled_dot_product_attention(query, key, value)\n", "RecursionError"),
    ("import sys\nsys.exit(3)\n", "SystemExit"),
    ("raise RuntimeError('boom ' + 'y' * 100000)\n", "boom"),
    ("out = torch.full(query.shape[:-1] + value.shape[-1:], float('nan'))\nreturn out, out\n",
     "NaN"),
    ("return [1, 2]\n", "expected a tensor"),
    ("return (\n", "syntax error"),
])
def test_misbehaving_code_gets_a_clear_failing_verdict(tmp_path, body, words):
    process, result = grade(tmp_path, body, limit="1" if "while True" in body else "3")
    assert_clear_failure(process, result)
    assert words in process.stdout, process.stdout
    if "while True" in body:  # bounded: one full time limit, then short ones
        assert result["duration"] < 1 + 1 * len(result["tests"]) + 30


@pytest.mark.parametrize("body, words", [
    ("import ctypes\nctypes.string_at(0)\n", "SIGSEGV"),
    ("import os\nos._exit(0)\n", "exited with code 0"),
])
def test_crash_is_reported_and_later_katas_still_run(tmp_path, body, words):
    process, result = grade(tmp_path, body, "attention", "attention")
    assert_clear_failure(process, result)
    assert process.stdout.count("attention: crashed") == 2, process.stdout
    assert words in process.stdout and "test_" in result["crashed"]


def test_untouched_stub_is_not_started_and_fails():
    process = subprocess.run([sys.executable, "-m", "kata", "grade", "attention"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300,
                             env={**os.environ, "NO_COLOR": "1"})
    assert process.returncode == 1
    assert "— not started (exercises/attention.py)" in process.stdout
    assert "nox -s hint -- attention" in process.stdout


def test_unknown_kata_lists_closest_ids():
    process = subprocess.run([sys.executable, "-m", "kata", "grade", "atention"],
                             capture_output=True, text=True, cwd=ROOT)
    assert process.returncode == 2
    assert "unknown kata 'atention'" in process.stderr and "attention" in process.stderr


def test_missing_target_path_is_a_clear_error(tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "kata", "grade", "attention", "--", f"--target={tmp_path}/nope"],
        capture_output=True, text=True, cwd=ROOT)
    assert process.returncode != 0
    assert "no such file or folder" in process.stdout + process.stderr
    assert "Traceback" not in process.stdout + process.stderr


def test_classic_mistake_is_named(tmp_path):
    body = ("scores = query @ key.transpose(-2, -1)\n"
            "weights = torch.softmax(scores, dim=-1)\n"
            "return weights @ value, weights\n")
    process, result = grade(tmp_path, body)
    assert_clear_failure(process, result)
    assert "likely mistake: The scores are not scaled by 1/sqrt(head_dim)" in process.stdout
    assert any(t["mutant"] == "no_scaling" for t in result["tests"])

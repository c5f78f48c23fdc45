"""The oracle session's pieces: tests/oracles stays out of normal runs; the report table."""

import subprocess
import sys
from pathlib import Path

from kata.oracles import format_table, read_report

ROOT = Path(__file__).resolve().parents[2]

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.oracles.test_rope" name="test_a" file="tests/oracles/test_rope.py">
<properties><property name="library" value="transformers 5.18.0"/>
<property name="cases" value="100"/><property name="max_abs_diff" value="2.5e-07"/></properties>
</testcase>
<testcase classname="tests.oracles.test_rope" name="test_b" file="tests/oracles/test_rope.py">
<properties><property name="library" value="torch 2.13.0, transformers 5.18.0"/>
<property name="cases" value="20"/><property name="max_abs_diff" value="1e-06"/></properties>
</testcase>
<testcase classname="tests.oracles.test_adamw" name="test_c" file="tests/oracles/test_adamw.py">
<properties><property name="library" value="torch 2.13.0"/>
<property name="cases" value="3"/><property name="max_abs_diff" value="0.5"/></properties>
<failure message="boom">boom</failure></testcase>
</testsuite></testsuites>
"""


def test_report_sums_cases_and_keeps_the_largest_difference_per_kata(tmp_path):
    path = tmp_path / "report.xml"
    path.write_text(REPORT, encoding="utf-8")
    rows = read_report(path)
    assert [(r.kata, r.libraries, r.cases, r.max_abs_diff, r.status) for r in rows] == [
        ("rope", ["transformers 5.18.0", "torch 2.13.0"], 120, 1e-06, "ok"),
        ("adamw", ["torch 2.13.0"], 3, 0.5, "FAILED")]
    table = format_table(rows).splitlines()
    assert table[0].split() == ["kata", "library", "cases", "largest", "difference", "status"]
    assert table[2].split() == ["rope", "transformers", "5.18.0,", "torch", "2.13.0", "120",
                                "1e-06", "ok"]


def test_oracle_tests_are_not_collected_by_a_plain_pytest_run():
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "tests/harness/test_oracles.py" in process.stdout, process.stdout[-2000:]
    assert "tests/oracles/" not in process.stdout, "tests/oracles was collected"
    named = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/oracles/test_adamw.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "tests/oracles/test_adamw.py::" in named.stdout, named.stdout[-2000:]

"""Oracle tests: each reference against the library it cites, on random seeded inputs.

Run by `nox -s oracles` in `.venv-oracles` (never by `nox -s tests` or verify: the grading
plugin leaves this folder out unless it is named). A test takes the `ref` fixture (the
reference module of the kata its file is named after) and the `oracle` fixture below, which
counts the cases and the largest absolute difference and reports them with `record_property`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest
import torch


def library(name: str) -> str:
    """'name X.Y.Z' for an installed distribution (skips the test when it is missing)."""
    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        pytest.skip(f"{name} is not installed (run nox -s oracles)")


class Oracle:
    """Figures of one oracle test: the library, the number of cases, the largest difference."""

    def __init__(self) -> None:
        self.libraries: list[str] = []
        self.cases = 0
        self.max_abs_diff = 0.0

    def uses(self, *names: str) -> None:
        for name in names:
            if (found := library(name)) not in self.libraries:
                self.libraries.append(found)

    def compare(self, actual, expected, *, atol: float, rtol: float = 0.0, what: str = "") -> None:
        """One case: record |actual - expected| and fail beyond atol + rtol·|expected|."""
        self.cases += 1
        if not isinstance(actual, torch.Tensor):
            actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
        assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
        if actual.dtype == torch.bool or not actual.is_floating_point():
            differs = int((actual != expected).sum())
            self.max_abs_diff = max(self.max_abs_diff, float(differs))
            assert differs == 0, f"{what}: {differs} of {actual.numel()} values differ"
            return
        a, e = actual.detach().double(), expected.detach().double()
        both_inf = (a == e) & torch.isinf(e)
        assert torch.equal(torch.isnan(a), torch.isnan(e)), f"{what}: NaN at different places"
        finite = ~(both_inf | torch.isnan(e))
        diff = (a - e).abs()[finite]
        largest = float(diff.max()) if diff.numel() else 0.0
        self.max_abs_diff = max(self.max_abs_diff, largest)
        allowed = (atol + rtol * e.abs())[finite]
        assert bool((diff <= allowed).all()), f"{what}: largest difference {largest:.3g}"

    def equal(self, actual, expected, what: str = "") -> None:
        """One case compared exactly (ids, merges, schemas)."""
        self.cases += 1
        if actual != expected:
            self.max_abs_diff = max(self.max_abs_diff, 1.0)
        assert actual == expected, f"{what}: {actual!r} != {expected!r}"


@pytest.fixture
def oracle(record_property):
    figures = Oracle()
    yield figures
    record_property("library", ", ".join(figures.libraries))
    record_property("cases", figures.cases)
    record_property("max_abs_diff", figures.max_abs_diff)

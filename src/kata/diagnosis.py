"""Name the classic mistake a failing implementation makes.

When a test fails after a recorded `call(...)`, the same call is replayed on the reference and
on every catalogued mutant of the kata. If the learner's output equals a mutant's output (and
differs from the reference's), that mutant's explanation is the likely mistake. Mutant modules
are built once per process, only when something fails, so a passing run pays nothing.
"""

from __future__ import annotations

import copy
import types
from typing import Any

import torch

from kata.catalog import Kata
from kata.check import Call, _snapshot, tolerance
from kata.mutants import Mutant, MutantError, load_mutants, module_from_source

_CACHE: dict[str, list[tuple[Mutant, types.ModuleType]]] = {}
_RAISED = object()


def same(a: Any, b: Any) -> bool:
    """Structural equality with the dtype tolerance for tensors (NaN equals NaN)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype == torch.bool or not a.is_floating_point():
            return bool(torch.equal(a.cpu(), b.cpu()))
        atol, rtol = tolerance(a.dtype)
        return bool(torch.allclose(a.double().cpu(), b.double().cpu(), atol=atol, rtol=rtol,
                                   equal_nan=True))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:
        return False


def mutant_modules(kata: Kata) -> list[tuple[Mutant, types.ModuleType]]:
    if kata.id not in _CACHE:
        source = kata.solution.read_text(encoding="utf-8")
        built = []
        try:
            mutants = load_mutants(kata.mutants)
        except MutantError:
            mutants = []
        for mutant in mutants:
            try:
                mutated = mutant.apply(source, str(kata.solution))
                name = f"kata_mutant_{kata.id}_{mutant.id}"
                built.append((mutant, module_from_source(mutated, name, str(kata.solution))))
            except Exception:  # a stale mutant is verify's business, not the learner's
                continue
        _CACHE[kata.id] = built
    return _CACHE[kata.id]


def _replay(module: types.ModuleType, call: Call) -> Any:
    if call.owner_class:
        cls = getattr(module, call.owner_class, None)
        if not isinstance(cls, type):
            return None
        try:  # the same instance state, with the module's methods
            owner = copy.deepcopy(call.owner)
            owner.__class__ = cls
        except Exception:
            return None
        function = getattr(owner, call.function, None)
    else:
        function = getattr(module, call.function, None)
    if not callable(function):
        return None
    try:
        return function(*_snapshot(call.args), **_snapshot(call.kwargs))
    except Exception:
        return _RAISED


def diagnose(kata: Kata, call: Call | None, reference: types.ModuleType) -> Mutant | None:
    """The catalogued mutant whose output on `call` equals the learner's, first in catalog order."""
    if call is None or call.error is not None or call.output is None:
        return None
    expected = _replay(reference, call)
    if expected is not _RAISED and expected is not None and same(expected, call.output):
        return None  # the recorded call was answered correctly; the failure is elsewhere
    for mutant, module in mutant_modules(kata):
        output = _replay(module, call)
        if output is not None and output is not _RAISED and same(output, call.output):
            return mutant
    return None

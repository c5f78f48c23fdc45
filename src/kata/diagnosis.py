"""Name the classic mistake a failing implementation makes.

When a test fails after a recorded `call(...)`, the same call is replayed on the reference and
on every catalogued mutant of the kata. If the learner's output equals a mutant's output (and
differs from the reference's), that mutant's explanation is the likely mistake. Mutant modules
are built once per process, one at a time and only when something fails, so a passing run pays
nothing; the warm grader of `kata watch` builds them all before the first save.
"""

from __future__ import annotations

import sys
import types
import weakref
from typing import Any

import torch

from kata.catalog import Kata
from kata.check import Call, NotStarted, _snapshot, tolerance
from kata.mutants import Mutant, MutantError, load_mutants, module_from_source

_MODULES: dict[tuple[str, str], types.ModuleType | None] = {}  # (kata, mutant) -> module
_MUTANTS: dict[str, list[Mutant]] = {}
class _Raised:
    """A replay that raised; `kind` is the exception's type."""

    def __init__(self, kind: type) -> None:
        self.kind = kind
# Only the first few failures of a run are shown in detail (render.DETAILED_FAILURES), so only
# those are diagnosed: a run with many failing tests pays for three diagnoses, not one per test.
# Counted per reference module, which the grading plugin loads afresh for every pytest session.
DIAGNOSED_PER_RUN = 3
_COUNTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LAST_MATCH: dict[str, str] = {}  # kata id -> id of the mutant matched most recently


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


def _mutants(kata: Kata) -> list[Mutant]:
    if kata.id not in _MUTANTS:
        try:
            _MUTANTS[kata.id] = load_mutants(kata.mutants)
        except MutantError:
            _MUTANTS[kata.id] = []
    return _MUTANTS[kata.id]


def _module(kata: Kata, mutant: Mutant) -> types.ModuleType | None:
    """The solution with `mutant` applied, built on first use and kept for this process."""
    key = (kata.id, mutant.id)
    if key not in _MODULES:
        try:
            source = kata.solution.read_text(encoding="utf-8")
            mutated = mutant.apply(source, str(kata.solution))
            name = f"kata_mutant_{kata.id}_{mutant.id}"
            _MODULES[key] = module_from_source(mutated, name, str(kata.solution))
            sys.modules.pop(name, None)  # near-reference code: not where learner code looks
        except Exception:  # a stale mutant is verify's business, not the learner's
            _MODULES[key] = None
    return _MODULES[key]


def mutant_modules(kata: Kata) -> list[tuple[Mutant, types.ModuleType]]:
    """Every mutant of `kata` with its module (built now; the warm grader calls this early)."""
    built = [(mutant, _module(kata, mutant)) for mutant in _mutants(kata)]
    return [(mutant, module) for mutant, module in built if module is not None]


def _replay(module: types.ModuleType, call: Call) -> Any:
    if call.owner_class:
        cls = getattr(module, call.owner_class, None)
        if not isinstance(cls, type):
            return None
        try:  # the same instance state, with the module's methods
            owner = _snapshot(call.owner)
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
    except Exception as error:
        return _Raised(type(error))


def diagnose(kata: Kata, call: Call | None, reference: types.ModuleType) -> Mutant | None:
    """The catalogued mutant whose output on `call` equals the learner's (the last one matched
    first, then catalog order), for at most DIAGNOSED_PER_RUN failing tests per run."""
    if call is None or isinstance(call.error, NotStarted):
        return None
    if call.error is None and call.output is None:
        return None
    try:
        done = _COUNTS.get(reference, 0)
        if done >= DIAGNOSED_PER_RUN:
            return None
        _COUNTS[reference] = done + 1
    except TypeError:  # not weak-referenceable: no budget
        pass
    expected = _replay(reference, call)
    if call.error is not None:
        # The learner's call raised: match a mutant that raises the same type where the
        # reference does not (e.g. a tool's exception escaping dispatch).
        if isinstance(expected, _Raised):
            return None
        return _first_match(kata, call, lambda out: isinstance(out, _Raised)
                            and out.kind is type(call.error))
    if not isinstance(expected, _Raised) and expected is not None and same(expected, call.output):
        return None  # the recorded call was answered correctly; the failure is elsewhere
    return _first_match(kata, call, lambda out: out is not None and not isinstance(out, _Raised)
                        and same(out, call.output))


def _first_match(kata: Kata, call: Call, matches) -> Mutant | None:
    # The mistake matched last (usually in an earlier test of this run) is tried first.
    mutants = sorted(_mutants(kata), key=lambda m: m.id != _LAST_MATCH.get(kata.id))
    for mutant in mutants:
        module = _module(kata, mutant)  # built lazily: an early match skips building the rest
        if module is None:
            continue
        if matches(_replay(module, call)):
            _LAST_MATCH[kata.id] = mutant.id
            return mutant
    return None

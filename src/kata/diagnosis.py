"""Name the classic mistake a failing implementation makes, when the evidence singles it out.

When a test fails after a recorded `call(...)`, that call is replayed on the reference and on
every catalogued mutant of the kata; the mutants whose output equals the learner's (and differs
from the reference's) are the candidates. Each candidate is then checked against the other calls
recorded in the same test (up to EVIDENCE_CALLS of them, newest first): wherever the learner's
output is known, the mutant must give the same output (a call the learner answered correctly
rules out a mutant that gets it wrong). One survivor is named; two or three that no recorded
call tells apart are named as candidates ("one of: ..."); more, or none, and nothing is named.
An exception matches only the same type with the same message.

Mutant modules are built once per process and only when something fails, so a passing run pays
nothing; the warm grader of `kata watch` builds them all before the first save.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import weakref
from typing import Any

import torch

from kata.catalog import Kata
from kata.check import RECORDER, Call, NotStarted, _snapshot, tolerance
from kata.mutants import Mutant, MutantError, load_mutants, module_from_source

_MODULES: dict[tuple[str, str], types.ModuleType | None] = {}  # (kata, mutant) -> module
_MUTANTS: dict[str, list[Mutant]] = {}


class _Raised:
    """A replay that raised: the exception's type and message."""

    def __init__(self, error: BaseException) -> None:
        self.kind = type(error)
        self.text = str(error)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Raised) and (self.kind, self.text) == (other.kind, other.text)


# Only the first few failures of a run are shown in detail (render.DETAILED_FAILURES), so only
# those are diagnosed: a run with many failing tests pays for three diagnoses, not one per test.
# Counted per reference module, which the grading plugin loads afresh for every pytest session.
DIAGNOSED_PER_RUN = 3
_COUNTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
EVIDENCE_CALLS = 8  # other calls of the failing test each candidate is checked against
MAX_CANDIDATES = 3  # more look-alikes than this and nothing is named


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
    if _record(a) and _record(b):
        # The learner's and each mutant's dataclass (Chunk, Answer...) are distinct classes of
        # the same name, and a dataclass's == is False across classes: compare field by field.
        names = [f.name for f in dataclasses.fields(a)]
        return (type(a).__qualname__ == type(b).__qualname__
                and names == [f.name for f in dataclasses.fields(b)]
                and all(same(getattr(a, n), getattr(b, n)) for n in names))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:
        return False


def _record(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


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
        return _Raised(error)


def _observed(call: Call) -> Any:
    """What the learner's code did on `call`: its output, a _Raised, or None when unknown."""
    if isinstance(call.error, NotStarted | NotImplementedError):
        return None
    if isinstance(call.error, Exception):
        return _Raised(call.error)
    if call.error is not None:  # a timeout or an exit: nothing to compare
        return None
    return call.output


def _agrees(replayed: Any, observed: Any) -> bool:
    if replayed is None:
        return False
    if isinstance(replayed, _Raised) or isinstance(observed, _Raised):
        return replayed == observed
    return same(replayed, observed)


def diagnose(kata: Kata, call: Call | None, reference: types.ModuleType,
             others: list[Call] | None = None) -> Mutant | None:
    """The catalogued mistake the recorded calls single out, for at most DIAGNOSED_PER_RUN
    failing tests per run.

    Args:
        kata: the kata graded.
        call: the failing test's last recorded call (the one its failure message shows).
        reference: the reference solution module.
        others: the test's other recorded calls (default: every call the recorder holds).

    Returns:
        The matching Mutant; a combined Mutant ("One of these mistakes: ...", id "a|b") when
        two or three candidates agree with every recorded call; None otherwise.
    """
    if call is None:
        return None
    observed = _observed(call)
    if observed is None and (call.error is not None or call.output is not None):
        return None
    try:
        done = _COUNTS.get(reference, 0)
        if done >= DIAGNOSED_PER_RUN:
            return None
        _COUNTS[reference] = done + 1
    except TypeError:  # not weak-referenceable: no budget
        pass
    expected = _replay(reference, call)
    if observed is None:  # returned None: right for in-place code, a missing return otherwise
        return _structure(call, expected, observed) if expected is not None else None
    if _agrees(expected, observed):
        return None  # the recorded call was answered correctly; the failure is elsewhere
    candidates = [(mutant, module) for mutant, module in mutant_modules(kata)
                  if _agrees(_replay(module, call), observed)]
    if not candidates:
        return _structure(call, expected, observed)
    for other in _evidence(call, RECORDER.calls if others is None else others):
        seen = _observed(other)
        if seen is None or not _comparable(reference, other):
            continue
        candidates = [(m, module) for m, module in candidates
                      if _agrees(_replay(module, other), seen)]
        if not candidates:
            return None
    if len(candidates) == 1:
        return candidates[0][0]
    if len(candidates) > MAX_CANDIDATES:
        return None
    mistakes = "; ".join(f"({n}) {m.mistake}" for n, (m, _) in enumerate(candidates, 1))
    return Mutant(id="|".join(m.id for m, _ in candidates), find="", replace="",
                  mistake=f"One of these mistakes (the failing calls do not tell them apart): "
                          f"{mistakes}")


def _comparable(reference: types.ModuleType, call: Call) -> bool:
    """Whether `call`'s output can tell mutants apart at all: replayed twice on the reference,
    it agrees with itself. A constructor's fresh object without == (RAGSystem(...)) never does,
    and as evidence it would rule out every candidate."""
    return _agrees(_replay(reference, call), _replay(reference, call))


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return "a Tensor"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    article = "an" if type(value).__name__[:1] in "aeiouAEIOU" else "a"
    return f"{article} {type(value).__name__}"


def _structure(call: Call, expected: Any, observed: Any) -> Mutant | None:
    """A pseudo-mistake when the learner's result has the wrong structure: a Tensor where
    (output, weights) is due, a tuple of the wrong length, a missing return. The test's own
    error (e.g. "not enough values to unpack") does not say what was expected; this does."""
    if expected is None or isinstance(expected, _Raised) or isinstance(observed, _Raised):
        return None
    name = f"{call.owner_class}.{call.function}" if call.owner_class else call.function
    if isinstance(expected, tuple):
        parts = ", ".join(_kind(item).removeprefix("a ").removeprefix("an ")
                          for item in expected)
        want = f"a tuple of {len(expected)} ({parts})"
        if isinstance(observed, tuple) and len(observed) == len(expected):
            return None
    else:
        want = _kind(expected)
        if isinstance(observed, type(expected)) or isinstance(expected, type(observed)):
            return None
        if isinstance(expected, int | float) and isinstance(observed, int | float):
            return None
    hint = " (a missing return?)" if observed is None else ""
    return Mutant(id="wrong_return_structure", find="", replace="",
                  mistake=f"{name} returned {_kind(observed)}{hint}; it must return {want}, "
                          "as its docstring says.")


def _evidence(call: Call, calls: list[Call]) -> list[Call]:
    """Up to EVIDENCE_CALLS other recorded calls, newest first, without exact repeats."""
    picked: list[Call] = []
    seen = {_fingerprint(call)}
    for other in reversed(calls):
        if other is call:
            continue
        key = _fingerprint(other)
        if key in seen:
            continue
        seen.add(key)
        picked.append(other)
        if len(picked) == EVIDENCE_CALLS:
            break
    return picked


def _fingerprint(call: Call) -> str:
    """Tells repeated calls apart cheaply: the description plus a checksum of each tensor."""
    def sums(value: Any) -> list:
        if isinstance(value, torch.Tensor):
            return [float(value.detach().double().sum().nan_to_num()) if value.numel() else 0.0]
        if isinstance(value, list | tuple):
            return [s for v in value for s in sums(v)]
        if isinstance(value, dict):
            return [s for v in value.values() for s in sums(v)]
        return []

    try:
        return f"{call.describe()} {sums((call.args, call.kwargs))}"
    except Exception:
        return str(id(call))

"""Assertions for kata tests whose failure messages teach.

Tests call the learner's code through `call(...)`, which records the call (arguments
snapshotted before the call, and the output) so that a failure can show it and diagnosis can
replay it on catalogued mistakes. `assert_close` compares tensors with the per-dtype tolerance
table and says what differed, by how much and where.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

# (atol, rtol) per dtype: loose enough for any correct float32-accumulating implementation,
# tight enough that the catalogued mistakes (a missing scale, a dropped mask) fail.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-7, 1e-7),
    torch.float32: (1e-5, 1e-4),
    torch.float16: (1e-3, 1e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}


def tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """(atol, rtol) for comparing results of `dtype`; exact for integer and bool dtypes."""
    return TOLERANCES.get(dtype, (0.0, 0.0))


class NotStarted(BaseException):
    """The code under test raised NotImplementedError (an untouched stub).

    A BaseException so that hypothesis stops at once instead of shrinking a stub's failure.
    """


@dataclass
class Call:
    function: str
    args: tuple
    kwargs: dict
    output: Any = None
    error: BaseException | None = None
    owner: Any = None  # for a bound method: a copy of the instance taken before the call
    owner_class: str = ""

    def describe(self) -> str:
        parts = [describe(a) for a in self.args]
        parts += [f"{k}={describe(v)}" for k, v in self.kwargs.items()]
        name = f"{self.owner_class}.{self.function}" if self.owner_class else self.function
        return f"{name}({', '.join(parts)})"


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)

    def reset(self) -> None:
        self.calls.clear()

    @property
    def last(self) -> Call | None:
        return self.calls[-1] if self.calls else None


RECORDER = Recorder()  # reset by the grading plugin before every test


def _snapshot(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, list | tuple):
        return type(value)(_snapshot(v) for v in value)
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    try:
        return copy.deepcopy(value)
    except Exception:  # e.g. it holds non-leaf tensors, which refuse deepcopy
        if not hasattr(value, "__dict__"):
            return value
        clone = copy.copy(value)
        clone.__dict__ = {k: _snapshot(v) for k, v in vars(value).items()}
        return clone


def call(function, *args, **kwargs):
    """Call the code under test, recording arguments and output for the failure report.

    Raises NotStarted (from the original error) when the code raises NotImplementedError.
    """
    record = Call(getattr(function, "__name__", repr(function)), _snapshot(args), _snapshot(kwargs))
    owner = getattr(function, "__self__", None)
    if not hasattr(function, "__name__") and hasattr(type(function), "__call__"):
        owner, record.function = function, "__call__"  # a callable instance, e.g. an nn.Module
    if owner is not None and not isinstance(owner, type) and hasattr(owner, "__dict__"):
        # lets diagnosis replay the method on a mutant's class
        record.owner, record.owner_class = _snapshot(owner), type(owner).__name__
    RECORDER.calls.append(record)
    try:
        record.output = function(*args, **kwargs)
    except NotImplementedError as error:
        record.error = error
        raise NotStarted(str(error)) from error
    except BaseException as error:
        record.error = error
        raise
    return record.output


def describe(value: Any) -> str:
    """A short description: `float32[2, 3, 4]` for a tensor (values too when ≤ 8), repr (cut to
    160 chars) otherwise."""
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        device = "" if value.device.type == "cpu" else f"@{value.device.type}"
        if value.dim() == 0:
            return f"{dtype}({value.item():.4g}){device}"
        text = f"{dtype}{list(value.shape)}{device}"
        if 0 < value.numel() <= 8:  # small inputs: show the values so the case can be rebuilt
            shown = value.detach().cpu()
            shown = shown.tolist() if not shown.is_floating_point() else [
                float(f"{v:.4g}") for v in shown.double().flatten().tolist()]
            text += f"={shown}"
        return text
    if isinstance(value, list | tuple) and any(isinstance(v, torch.Tensor) for v in value):
        inner = ", ".join(describe(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _context() -> str:
    last = RECORDER.last
    return f"\n  call: {last.describe()}" if last else ""


def _index(flat_index: int, shape: torch.Size) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat_index % size)
        flat_index //= size
    return tuple(reversed(index))


def assert_close(actual: Any, expected: torch.Tensor, *, what: str = "output",
                 atol: float | None = None, rtol: float | None = None,
                 check_dtype: bool = True, allow_nan: bool = False) -> None:
    """Fail with a teaching message unless `actual` matches `expected` within tolerance.

    Checks, in order: that `actual` is a tensor, its shape, dtype and device, that it has no NaN
    (unless `allow_nan`, then NaN must match NaN in `expected`), then the values with the
    tolerance for `expected.dtype` (or the given `atol`/`rtol`). A NaN is never accepted by
    default, so self-consistency tests (output vs the learner's own output) cannot pass on NaN.
    """
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor, got {type(actual).__name__} "
                             f"({describe(actual)}){_context()}")
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: wrong shape, expected {list(expected.shape)}, got "
                             f"{list(actual.shape)}{_context()}")
    if check_dtype and actual.dtype != expected.dtype:
        raise AssertionError(f"{what}: wrong dtype, expected {expected.dtype}, got {actual.dtype} "
                             f"(return results in the input's dtype){_context()}")
    if actual.device != expected.device:
        raise AssertionError(f"{what}: on {actual.device}, expected {expected.device} (create new "
                             f"tensors with device=input.device){_context()}")
    if expected.dtype == torch.bool or not expected.is_floating_point():
        wrong = actual.cpu() != expected.cpu()
        if wrong.any():
            where = _index(int(wrong.flatten().nonzero()[0]), wrong.shape)
            raise AssertionError(
                f"{what}: {int(wrong.sum())} of {wrong.numel()} entries differ, first at index "
                f"{list(where)} (expected {expected[where].item()}, got {actual[where].item()})"
                f"{_context()}")
        return
    default_atol, default_rtol = tolerance(expected.dtype)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    bad_nan = torch.isnan(a) if not allow_nan else torch.isnan(a) & ~torch.isnan(e)
    if bad_nan.any():
        where = _index(int(bad_nan.flatten().nonzero()[0]), a.shape)
        count = int(bad_nan.sum())
        raise AssertionError(f"{what}: {count} NaN value(s), first at index {list(where)} "
                             f"(expected {e[where]:.6g}){_context()}")
    close = torch.isclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
    if not close.all():
        error = (a - e).abs().nan_to_num(nan=float("inf"), posinf=float("inf"))
        error[close] = 0
        error[torch.isinf(a) & ~close] = float("inf")  # a non-finite value, not "1.8e308"
        flat = int(error.flatten().argmax())
        where = _index(flat, a.shape)
        wrong = int((~close).sum())
        raise AssertionError(
            f"{what}: {wrong} of {a.numel()} values differ; max abs error "
            f"{error.flatten()[flat]:.4g} at index {list(where)} (expected {e[where]:.6g}, got "
            f"{a[where]:.6g}; tolerance atol={atol:g}, rtol={rtol:g}){_context()}")


def first_difference(actual: Any, expected: Any, path: str = "") -> str:
    """Where two unequal plain values first differ, for messages about long transcripts and
    prompts: `[3]['content'] at character 87: expected '...', got '...'` ("" when equal)."""
    if actual == expected:
        return ""
    if isinstance(actual, list | tuple) and isinstance(expected, list | tuple):
        for index, (a, e) in enumerate(zip(actual, expected)):
            if a != e:
                return first_difference(a, e, f"{path}[{index}]")
        shorter = min(len(actual), len(expected))
        if len(actual) == len(expected):  # equal items but list vs tuple
            return f"{path or 'the value'}: expected a {type(expected).__name__}"
        side, item = (("extra", actual[shorter]) if len(actual) > shorter
                      else ("missing", expected[shorter]))
        return (f"{path or 'the list'} has {len(actual)} items, expected {len(expected)}; "
                f"{side} item [{shorter}]: {describe(item)}")
    if isinstance(actual, dict) and isinstance(expected, dict):
        if actual.keys() != expected.keys():
            return f"{path or 'the dict'} has keys {list(actual)}, expected {list(expected)}"
        key = next(k for k in expected if actual[k] != expected[k])
        return first_difference(actual[key], expected[key], f"{path}[{key!r}]")
    if isinstance(actual, str) and isinstance(expected, str):
        at = next((i for i, (a, e) in enumerate(zip(actual, expected)) if a != e),
                  min(len(actual), len(expected)))
        start = max(0, at - 20)
        return (f"{path or 'the text'} at character {at}: expected "
                f"{expected[start:at + 30]!r}, got {actual[start:at + 30]!r}")
    return f"{path or 'the value'}: expected {describe(expected)}, got {describe(actual)}"


def assert_equal(actual: Any, expected: Any, *, what: str = "output") -> None:
    """Exact equality for tensors (shape, dtype and values) or plain Python values; for long
    lists, dicts and strings the message also says where they first differ."""
    if isinstance(expected, torch.Tensor):
        assert_close(actual, expected, what=what, atol=0.0, rtol=0.0)
        return
    if actual != expected:
        where = ""
        if len(repr(expected)) > 160 or len(repr(actual)) > 160:
            where = f"\n  first difference: {first_difference(actual, expected)}"
        raise AssertionError(f"{what}: expected {describe(expected)}, got {describe(actual)}"
                             f"{where}{_context()}")

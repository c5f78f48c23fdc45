"""Probes for graders that check cost, not just values: FLOPs and the largest allocation.

`count_flops` runs a function under torch's `FlopCounterMode` and returns the FLOPs of its
matrix products (mm, bmm, addmm, baddbmm, convolution; einsum and matmul lower to these).
Element-wise ops count 0, and so does CPU `scaled_dot_product_attention` (fused, not lowered
to bmm): a kata whose complexity is graded this way must forbid SDPA.

`record_allocations` runs a function under a `TorchDispatchMode` and lists every tensor that an
aten op created with fresh storage (views and in-place results, which share an input's storage,
are skipped). Graders use it to prove that no (q_len × kv_len) score matrix was materialised.

Both work on any device and report exact, deterministic counts: use them instead of wall-clock
timing. The first use of either mode in a process costs about a second (torch sets up the
dispatch machinery); later uses are cheap. Call the learner's code through `kata.check.call`
once first, so that an untouched stub is reported as "not started" and the call is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class FlopLog:
    """What one call cost: total FLOPs, FLOPs per aten op, and the call's result."""

    total: int
    by_op: dict[str, int]
    result: Any = None

    def describe(self) -> str:
        """`1,234 FLOPs (aten.bmm 1,000, aten.mm 234)`: for failure messages."""
        parts = ", ".join(f"{op} {count:,}" for op, count in
                          sorted(self.by_op.items(), key=lambda item: -item[1]))
        return f"{self.total:,} FLOPs" + (f" ({parts})" if parts else "")


def record_flops(fn: Callable, *args, **kwargs) -> FlopLog:
    """Run `fn(*args, **kwargs)` and count the FLOPs of its matrix products.

    A matmul of (m, k) by (k, n) counts 2·m·k·n. Exceptions from `fn` propagate unchanged.
    """
    with FlopCounterMode(display=False) as mode:
        result = fn(*args, **kwargs)
    counts = mode.get_flop_counts().get("Global", {})
    by_op = {str(op): int(count) for op, count in counts.items()}
    return FlopLog(int(mode.get_total_flops()), by_op, result)


def count_flops(fn: Callable, *args, **kwargs) -> int:
    """FLOPs of the matrix products in `fn(*args, **kwargs)`; see `record_flops`."""
    return record_flops(fn, *args, **kwargs).total


@dataclass(frozen=True)
class Allocation:
    """One tensor created with fresh storage: the aten op, its shape and dtype."""

    op: str
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count

    def describe(self) -> str:
        return f"{str(self.dtype).removeprefix('torch.')}{list(self.shape)} from {self.op}"


@dataclass
class AllocationLog:
    """Every fresh tensor a call created, in order, and the call's result."""

    allocations: list[Allocation] = field(default_factory=list)
    result: Any = None

    @property
    def largest(self) -> Allocation | None:
        """The allocation with the most elements (the first of equals); None if there was none."""
        return max(self.allocations, key=lambda a: a.numel, default=None)

    def at_least(self, numel: int) -> list[Allocation]:
        """The allocations with `numel` elements or more."""
        return [a for a in self.allocations if a.numel >= numel]

    def describe(self, top: int = 3) -> str:
        """The `top` largest allocations, for failure messages."""
        ranked = sorted(self.allocations, key=lambda a: -a.numel)[:top]
        return ", ".join(f"{a.describe()} ({a.numel:,} elements)" for a in ranked) or "none"


def _tensors(value: Any):
    """The tensors in an op's arguments or result (nested lists, tuples and dicts)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _storage(tensor: torch.Tensor) -> tuple[str, int] | None:
    try:
        return str(tensor.device), tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # tensors without storage (meta, sparse, ...)
        return None


class _AllocationRecorder(TorchDispatchMode):
    def __init__(self, log: AllocationLog) -> None:
        super().__init__()
        self.log = log

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = {_storage(t) for t in _tensors((args, kwargs))}
        for tensor in _tensors(out):
            storage = _storage(tensor)
            if storage is not None and storage not in inputs and storage[1] != 0:
                self.log.allocations.append(
                    Allocation(str(func.overloadpacket), tuple(tensor.shape), tensor.dtype))
        return out


def record_allocations(fn: Callable, *args, **kwargs) -> AllocationLog:
    """Run `fn(*args, **kwargs)` and record every tensor it created with fresh storage.

    Views (`view`, `expand`, slicing, `transpose`) and in-place results share storage with an
    input and are not allocations. Exceptions from `fn` propagate unchanged.
    """
    log = AllocationLog()
    with _AllocationRecorder(log):
        log.result = fn(*args, **kwargs)
    return log


def largest_allocation(fn: Callable, *args, **kwargs) -> int:
    """Elements of the largest tensor `fn(*args, **kwargs)` created (0 if none); see
    `record_allocations` for the shapes and ops behind it."""
    largest = record_allocations(fn, *args, **kwargs).largest
    return 0 if largest is None else largest.numel

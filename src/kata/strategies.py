"""Hypothesis building blocks shared by kata tests.

Tensors are drawn as (shape, seed) and filled from a seeded `torch.Generator`: about three
times faster than element-wise strategies and still shrinkable (hypothesis shrinks the sizes
and the seed), and the falsifying example stays readable.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**31 - 1)


def size(max_value: int = 6, min_value: int = 1) -> st.SearchStrategy[int]:
    """A small size for one named axis."""
    return st.integers(min_value=min_value, max_value=max_value)


def randn(shape, seed: int, *, dtype: torch.dtype = torch.float32, device="cpu",
          scale: float = 1.0) -> torch.Tensor:
    """A standard-normal tensor (times `scale`) from a seeded generator, cast to dtype/device."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(tuple(shape), generator=generator, dtype=torch.float64) * scale
    return values.to(dtype=dtype, device=device)


def bernoulli(shape, seed: int, p: float = 0.5, *, device="cpu") -> torch.Tensor:
    """A boolean tensor, True with probability p, from a seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(tuple(shape), generator=generator) < p).to(device)


def response_mask(shape, seed: int, *, device="cpu") -> torch.Tensor:
    """(batch, seq) bool, True on one contiguous response per row (>= 1 token): after a prompt of
    any length, before padding. The token layout of RLHF batches (ppo_loss, gae)."""
    batch, seq = shape
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(batch, seq, dtype=torch.bool)
    for b in range(batch):
        start = int(torch.randint(0, seq, (1,), generator=generator))
        stop = int(torch.randint(start + 1, seq + 1, (1,), generator=generator))
        mask[b, start:stop] = True
    return mask.to(device)

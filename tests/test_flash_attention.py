"""Grader for the `flash_attention` kata: worked examples, properties, SDPA, then cost probes."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.probes import record_allocations, record_flops
from kata.strategies import randn, seeds, size

# (batch, heads, q_len, kv_len, head_dim); value features are head_dim + 1
shapes = st.tuples(size(2), size(2), size(9), size(9), size(6))
blocks = st.tuples(size(5), size(5))


def _inputs(shape, seed, device, dtype=torch.float32, scale=1.0):
    batch, heads, q_len, kv_len, head_dim = shape
    query = randn((batch, heads, q_len, head_dim), seed, dtype=dtype, device=device, scale=scale)
    key = randn((batch, heads, kv_len, head_dim), seed + 1, dtype=dtype, device=device, scale=scale)
    value = randn((batch, heads, kv_len, head_dim + 1), seed + 2, dtype=dtype, device=device)
    return query, key, value


def _exact_logsumexp(query, key, is_causal, scale=None):
    """log Σ_j exp(scale · q·k_j) over the visible keys, from the full score matrix (float64)."""
    scaling = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = query.double() @ key.double().transpose(-2, -1) * scaling
    if is_causal:
        q_len, kv_len = scores.shape[-2:]
        visible = torch.ones(q_len, kv_len, dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~visible, float("-inf"))
    return torch.logsumexp(scores, dim=-1)


# ---------------------------------------------------------------- worked examples


@pytest.mark.parametrize("block_size_kv", [1, 2])
def test_single_query_worked_example(impl, device, block_size_kv):
    query = torch.tensor([[1.0, 0.0]], device=device)
    key = torch.tensor([[1.0, 0.0], [0.0, 1.0]], device=device)
    value = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    # scores = [1, 0] / sqrt(2); softmax and logsumexp by hand
    s = 1 / math.sqrt(2)
    first = math.exp(s) / (math.exp(s) + 1)
    expected = torch.tensor([[first * 1 + (1 - first) * 3, first * 2 + (1 - first) * 4]],
                            device=device)
    output, lse = call(impl.flash_attention, query, key, value, block_size_kv=block_size_kv)
    assert_close(output, expected)
    assert_close(lse, torch.tensor([math.log(math.exp(s) + 1)], device=device), what="logsumexp")


@pytest.mark.parametrize("block_sizes", [(1, 1), (2, 1), (1, 3), (4, 4)])
def test_causal_worked_example_is_a_running_mean(impl, device, block_sizes):
    # All-zero queries and keys: every visible key scores 0, so query i averages values 0..i
    # and its logsumexp is log(i + 1).
    zeros = torch.zeros(4, 3, device=device)
    value = torch.tensor([[2.0], [4.0], [6.0], [8.0]], device=device)
    output, lse = call(impl.flash_attention, zeros, zeros, value, is_causal=True,
                       block_size_q=block_sizes[0], block_size_kv=block_sizes[1])
    assert_close(output, torch.tensor([[2.0], [3.0], [4.0], [5.0]], device=device),
                 what=f"causal output with blocks {block_sizes}")
    assert_close(lse, torch.log(torch.tensor([1.0, 2.0, 3.0, 4.0], device=device)),
                 what=f"causal logsumexp with blocks {block_sizes}")


@pytest.mark.parametrize("block_size_kv", [1, 2])
def test_huge_scores_do_not_overflow(impl, device, block_size_kv):
    # Scores 1e4 and 9.9e3: exp overflows float32 unless each block subtracts the running max,
    # and a later block with a *smaller* max must not blow the correction factor up.
    query = torch.tensor([[100.0]], device=device)
    key = torch.tensor([[100.0], [99.0]], device=device)
    value = torch.tensor([[1.0], [-1.0]], device=device)
    output, lse = call(impl.flash_attention, query, key, value, scale=1.0,
                       block_size_kv=block_size_kv)
    weight = 1 / (1 + math.exp(-100))  # the second key's weight is e^-100: negligible
    assert_close(output, torch.tensor([[2 * weight - 1]], device=device))
    assert_close(lse, torch.tensor([1e4 + math.log1p(math.exp(-100))], device=device),
                 what="logsumexp of scores (1e4, 9.9e3)")


@pytest.mark.parametrize("block_size_kv", [1, 2])
def test_float64_inputs_are_computed_in_float64(impl, device, block_size_kv):
    # Keys 1 and 1 + 1e-8 are equal in float32. Scores [1e4, 1e4 + 1e-4] (head_dim 1, scale 1):
    # the output is sigmoid(1e-4) = 0.500025 (0.5 in float32), the logsumexp
    # 1e4 + log(1 + e^1e-4), also float64.
    query = torch.tensor([[1e4]], dtype=torch.float64, device=device)
    key = torch.tensor([[1.0], [1.0 + 1e-8]], dtype=torch.float64, device=device)
    value = torch.tensor([[0.0], [1.0]], dtype=torch.float64, device=device)
    gap = 1e4 * (1.0 + 1e-8) - 1e4
    output, lse = call(impl.flash_attention, query, key, value, block_size_kv=block_size_kv)
    assert_close(output, torch.tensor([[1.0 / (1.0 + math.exp(-gap))]], dtype=torch.float64,
                                      device=device),
                 what="float64 output (a float32 computation gives 0.5)")
    assert_close(lse, torch.tensor([1e4 + math.log1p(math.exp(gap))], dtype=torch.float64,
                                   device=device),
                 atol=1e-9, rtol=0.0, what="float64 logsumexp")


@pytest.mark.parametrize("block_size_kv", [1, 2])
def test_explicit_scale_replaces_the_default(impl, device, block_size_kv):
    # head_dim 4, scale 2: scores [2·1, 0] = [2, 0] (the default would give [0.5, 0]).
    query = torch.tensor([[1.0, 0.0, 0.0, 0.0]], device=device)
    key = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], device=device)
    value = torch.tensor([[1.0], [0.0]], device=device)
    output, lse = call(impl.flash_attention, query, key, value, scale=2.0,
                       block_size_kv=block_size_kv)
    first = math.exp(2.0) / (math.exp(2.0) + 1.0)
    assert_close(output, torch.tensor([[first]], device=device), what="output with scale=2")
    assert_close(lse, torch.tensor([math.log(math.exp(2.0) + 1.0)], device=device),
                 what="logsumexp with scale=2")


# ---------------------------------------------------------------- properties


@given(shape=shapes, seed=seeds, block=blocks, causal=st.booleans())
def test_result_does_not_depend_on_block_sizes(impl, device, shape, seed, block, causal):
    query, key, value = _inputs(shape, seed, device)
    whole, whole_lse = call(impl.flash_attention, query, key, value, is_causal=causal,
                            block_size_q=16, block_size_kv=16)
    tiled, tiled_lse = call(impl.flash_attention, query, key, value, is_causal=causal,
                            block_size_q=block[0], block_size_kv=block[1])
    assert_close(tiled, whole, what=f"output with blocks {block} vs one block")
    assert_close(tiled_lse, whole_lse, what=f"logsumexp with blocks {block} vs one block")


@given(shape=shapes, seed=seeds, block=blocks, causal=st.booleans())
def test_logsumexp_is_log_of_the_softmax_denominator(impl, device, shape, seed, block, causal):
    query, key, value = _inputs(shape, seed, device)
    _, lse = call(impl.flash_attention, query, key, value, is_causal=causal,
                  block_size_q=block[0], block_size_kv=block[1])
    expected = _exact_logsumexp(query, key, causal).float()
    assert_close(lse, expected, what="logsumexp = log Σ_j exp(scale·q·k_j) over visible keys")


@given(shape=shapes, seed=seeds, block=blocks, data=st.data())
def test_causal_output_ignores_later_keys(impl, device, shape, seed, block, data):
    query, key, value = _inputs(shape, seed, device)
    q_len, kv_len = shape[2], shape[3]
    position = data.draw(st.integers(0, min(q_len, kv_len) - 1), label="position")
    changed_key, changed_value = key.clone(), value.clone()
    changed_key[..., position + 1:, :] *= -3.0
    changed_value[..., position + 1:, :] += 5.0
    kwargs = dict(is_causal=True, block_size_q=block[0], block_size_kv=block[1])
    before, _ = call(impl.flash_attention, query, key, value, **kwargs)
    after, _ = call(impl.flash_attention, query, changed_key, changed_value, **kwargs)
    assert_close(after[..., : position + 1, :], before[..., : position + 1, :],
                 what=f"causal output at queries <= {position} after changing later keys")


# ---------------------------------------------------------------- oracle


@given(shape=shapes, seed=seeds, block=blocks, causal=st.booleans(),
       scale=st.none() | st.floats(0.05, 2.0))
def test_matches_torch_sdpa(impl, device, shape, seed, block, causal, scale):
    query, key, value = _inputs(shape, seed, device)
    expected = F.scaled_dot_product_attention(query, key, value, is_causal=causal, scale=scale)
    output, lse = call(impl.flash_attention, query, key, value, is_causal=causal, scale=scale,
                       block_size_q=block[0], block_size_kv=block[1])
    assert_close(output, expected, what="output vs torch SDPA")
    assert_close(lse, _exact_logsumexp(query, key, causal, scale).float(), what="logsumexp")


@given(shape=shapes, seed=seeds, block=blocks, causal=st.booleans(),
       dtype=st.sampled_from((torch.float16, torch.bfloat16)))
def test_low_precision_matches_float64_and_keeps_dtype(impl, device, shape, seed, block, causal,
                                                       dtype):
    query, key, value = _inputs(shape, seed, device, dtype=dtype)
    exact = F.scaled_dot_product_attention(query.double(), key.double(), value.double(),
                                           is_causal=causal)
    output, lse = call(impl.flash_attention, query, key, value, is_causal=causal,
                       block_size_q=block[0], block_size_kv=block[1])
    assert_close(output, exact.to(dtype), what=f"{dtype} output vs float64 attention")
    assert_close(lse, _exact_logsumexp(query, key, causal).float(),
                 what="logsumexp (float32, also for half-precision inputs)")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_scores_beyond_float16_range_are_exact(impl, device, dtype):
    # Entries ~300: scale·q·k has a spread of ~9e4 > 65504 (float16 max), and bfloat16 rounds
    # such scores by hundreds: tiles must be computed in float32.
    query, key, value = _inputs((1, 2, 5, 6, 8), 11, device, dtype=dtype, scale=300.0)
    exact = F.scaled_dot_product_attention(query.double(), key.double(), value.double())
    output, _ = call(impl.flash_attention, query, key, value, block_size_q=2, block_size_kv=4)
    assert_close(output, exact.to(dtype))


# ---------------------------------------------------------------- cost

Q_LEN = KV_LEN = 64
BLOCK = 8


def test_no_q_len_by_kv_len_tensor_is_created(impl, device):
    # One batch element, two heads: a tile has 8 × 8 = 64 scores per head; the full score
    # matrix of a single head would have 64 × 64 = 4096 elements.
    query, key, value = _inputs((1, 2, Q_LEN, KV_LEN, 4), 0, device)
    for causal in (False, True):
        kwargs = dict(is_causal=causal, block_size_q=BLOCK, block_size_kv=BLOCK)
        call(impl.flash_attention, query, key, value, **kwargs)
        log = record_allocations(impl.flash_attention, query, key, value, **kwargs)
        too_big = log.at_least(Q_LEN * KV_LEN)
        assert not too_big, (
            f"flash_attention(is_causal={causal}, q_len={Q_LEN}, kv_len={KV_LEN}, blocks "
            f"{BLOCK}×{BLOCK}) created {len(too_big)} tensor(s) with at least q_len × kv_len "
            f"= {Q_LEN * KV_LEN} elements: {', '.join(a.describe() for a in too_big[:3])}. "
            "Build scores, probabilities and masks one tile at a time.")


def test_causal_skips_fully_masked_blocks(impl, device):
    # With 8 query blocks × 8 key blocks, causal attention needs the 36 tiles on or below the
    # diagonal: 36/64 of the matmul FLOPs of the non-causal call, not 64/64 plus masking.
    query, key, value = _inputs((1, 1, Q_LEN, KV_LEN, 4), 0, device)
    kwargs = dict(block_size_q=BLOCK, block_size_kv=BLOCK)
    call(impl.flash_attention, query, key, value, is_causal=True, **kwargs)
    full = record_flops(impl.flash_attention, query, key, value, is_causal=False, **kwargs)
    causal = record_flops(impl.flash_attention, query, key, value, is_causal=True, **kwargs)
    assert full.total > 0, (
        "the FLOP counter saw no matrix products: compute each tile with @, matmul or einsum")
    blocks = Q_LEN // BLOCK
    bound = (blocks + 1) / (2 * blocks) + 0.02
    assert causal.total <= bound * full.total, (
        f"causal flash_attention costs {causal.total:,} FLOPs, {causal.total / full.total:.0%} "
        f"of the non-causal {full.total:,}; skipping the key blocks after each query block "
        f"leaves at most {bound:.0%}. Are fully masked tiles computed and then masked?")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("which", ["head_dim", "kv_len", "batch"])
def test_mismatched_shapes_raise_value_error_naming_both(impl, device, which):
    query = torch.zeros(2, 3, 5, device=device)
    key = torch.zeros(2, 7, 5, device=device)
    value = torch.zeros(2, 7, 4, device=device)
    if which == "head_dim":
        key = torch.zeros(2, 7, 6, device=device)
        shown = [(2, 3, 5), (2, 7, 6)]
    elif which == "kv_len":
        value = torch.zeros(2, 8, 4, device=device)
        shown = [(2, 7, 5), (2, 8, 4)]
    else:
        key = torch.zeros(9, 7, 5, device=device)
        shown = [(2, 3, 5), (9, 7, 5)]
    with pytest.raises(ValueError) as raised:
        call(impl.flash_attention, query, key, value)
    message = str(raised.value)
    for dims in shown:
        pattern = r"\D+".join(str(d) for d in dims)
        assert re.search(pattern, message), (
            f"the ValueError should name the shape {dims}; it said: {message!r}")


@pytest.mark.parametrize("sizes", [(0, 4), (4, 0), (-1, 2)])
def test_block_size_below_one_raises_value_error(impl, device, sizes):
    query, key, value = _inputs((1, 1, 3, 3, 2), 0, device)
    with pytest.raises(ValueError) as raised:
        call(impl.flash_attention, query, key, value, block_size_q=sizes[0],
             block_size_kv=sizes[1])
    bad = str(min(sizes))
    assert bad in str(raised.value), f"the ValueError should name the block size {bad}"


def test_empty_key_raises_value_error(impl, device):
    # kv_len = 0: there is nothing to attend to, and acc / l would silently be 0 / 0 = NaN.
    query = torch.zeros(1, 3, 4, device=device)
    key = torch.zeros(1, 0, 4, device=device)
    value = torch.zeros(1, 0, 2, device=device)
    with pytest.raises(ValueError):
        call(impl.flash_attention, query, key, value)

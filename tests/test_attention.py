"""Grader for the `attention` kata: worked examples, properties, then the torch oracle."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import bernoulli, randn, seeds, size

MASK_KINDS = ("none", "bool", "float", "causal", "broadcast_bool", "key_padding")


def _inputs(shape, seed, device, dtype=torch.float32, scale=1.0):
    batch, heads, q_len, kv_len, head_dim = shape
    query = randn((batch, heads, q_len, head_dim), seed, dtype=dtype, device=device, scale=scale)
    key = randn((batch, heads, kv_len, head_dim), seed + 1, dtype=dtype, device=device, scale=scale)
    value = randn((batch, heads, kv_len, head_dim + 1), seed + 2, dtype=dtype, device=device)
    return query, key, value


def _mask(kind, shape, seed, device):
    batch, heads, q_len, kv_len, _ = shape
    if kind == "bool":
        return bernoulli((batch, heads, q_len, kv_len), seed + 3, 0.7, device=device)
    if kind == "float":
        return randn((batch, heads, q_len, kv_len), seed + 3, device=device)
    if kind == "broadcast_bool":
        return bernoulli((q_len, kv_len), seed + 3, 0.7, device=device)
    if kind == "key_padding":  # (batch, 1, 1, kv_len): the usual padding mask
        return bernoulli((batch, 1, 1, kv_len), seed + 3, 0.8, device=device)
    return None


shapes = st.tuples(size(3), size(3), size(6), size(6), size(8))


# ---------------------------------------------------------------- worked examples


def test_single_query_worked_example(impl, device):
    query = torch.tensor([[1.0, 0.0]], device=device)
    key = torch.tensor([[1.0, 0.0], [0.0, 1.0]], device=device)
    value = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    # scores = [1, 0] / sqrt(2); softmax by hand
    first = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)
    expected_weights = torch.tensor([[first, 1 - first]], device=device)
    expected_output = torch.tensor([[first * 1 + (1 - first) * 3, first * 2 + (1 - first) * 4]],
                                   device=device)
    output, weights = call(impl.scaled_dot_product_attention, query, key, value)
    assert_close(weights, expected_weights, what="weights")
    assert_close(output, expected_output)


def test_causal_worked_example_is_lower_triangular(impl, device):
    # All-zero queries and keys: every allowed key scores the same, so weights are uniform
    # over the keys each query may see.
    zeros = torch.zeros(3, 4, device=device)
    value = torch.tensor([[3.0], [6.0], [9.0]], device=device)
    output, weights = call(impl.scaled_dot_product_attention, zeros, zeros, value, is_causal=True)
    third = 1 / 3
    expected = torch.tensor([[1, 0, 0], [0.5, 0.5, 0], [third, third, third]], device=device)
    assert_close(weights, expected, what="weights")
    assert_close(output, torch.tensor([[3.0], [4.5], [6.0]], device=device))


def test_float_mask_is_added_to_scores(impl, device):
    query, key = torch.zeros(1, 2, device=device), torch.zeros(2, 2, device=device)
    value = torch.tensor([[0.0], [4.0]], device=device)
    mask = torch.tensor([[0.0, math.log(3.0)]], device=device)  # weights 1:3
    output, weights = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask)
    assert_close(weights, torch.tensor([[0.25, 0.75]], device=device), what="weights")
    assert_close(output, torch.tensor([[3.0]], device=device))


def test_explicit_scale_replaces_default(impl, device):
    query = torch.tensor([[2.0, 0.0, 0.0, 0.0]], device=device)
    key = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], device=device)
    value = torch.tensor([[1.0], [0.0]], device=device)
    # scores = [2, 0] * 0.5 = [1, 0]
    output, weights = call(impl.scaled_dot_product_attention, query, key, value, scale=0.5)
    first = math.e / (math.e + 1)
    assert_close(weights, torch.tensor([[first, 1 - first]], device=device), what="weights")


def test_fully_masked_row_gives_zero_weights_and_output(impl, device):
    query, key, value = _inputs((1, 1, 3, 4, 2), 0, device)
    mask = torch.tensor([[True, True, False, False], [False] * 4, [True] * 4], device=device)
    output, weights = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask)
    assert_close(weights[..., 1, :], torch.zeros(1, 1, 4, device=device),
                 what="weights of the fully masked query (row 1)")
    assert_close(output[..., 1, :], torch.zeros(1, 1, 3, device=device),
                 what="output of the fully masked query (row 1)")
    assert_close(weights[..., 0, 2:], torch.zeros(1, 1, 2, device=device),
                 what="weights on masked keys (row 0)")


def test_float_mask_of_all_neg_inf_gives_zero_row(impl, device):
    # A float mask can block a whole row too (-inf everywhere): zeros, not NaN.
    query, key, value = _inputs((1, 1, 2, 3, 2), 0, device)
    inf = float("-inf")
    mask = torch.tensor([[0.0, inf, 0.0], [inf, inf, inf]], device=device)
    output, weights = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask)
    assert_close(weights[..., 1, :], torch.zeros(1, 1, 3, device=device),
                 what="weights of the query whose float mask row is all -inf (row 1)")
    assert_close(output[..., 1, :], torch.zeros(1, 1, 3, device=device),
                 what="output of the query whose float mask row is all -inf (row 1)")
    assert_close(weights[..., 0, 1], torch.zeros(1, 1, device=device),
                 what="weight on the key blocked by -inf (row 0, key 1)")


def test_float64_inputs_are_computed_in_float64(impl, device):
    # The keys differ by 1e-8, which float32 rounds away (1 + 1e-8 == 1 in float32): scores
    # [1e4, 1e4 + 1e-4] give weights sigmoid(∓1e-4), so the output is 0.500025, not 0.5.
    query = torch.tensor([[1e4]], dtype=torch.float64, device=device)
    key = torch.tensor([[1.0], [1.0 + 1e-8]], dtype=torch.float64, device=device)
    value = torch.tensor([[0.0], [1.0]], dtype=torch.float64, device=device)
    gap = 1e4 * (1.0 + 1e-8) - 1e4  # the score difference, head_dim 1 so scale 1
    second = 1.0 / (1.0 + math.exp(-gap))
    output, weights = call(impl.scaled_dot_product_attention, query, key, value)
    assert_close(weights, torch.tensor([[1 - second, second]], dtype=torch.float64,
                                       device=device),
                 what="float64 weights (a float32 computation gives [0.5, 0.5])")
    assert_close(output, torch.tensor([[second]], dtype=torch.float64, device=device),
                 what="float64 output (a float32 computation gives 0.5)")


def test_mask_with_size_one_axes_broadcasts(impl, device):
    # (q_len, 1) and (1, kv_len) masks broadcast to (q_len, kv_len): valid, not an error.
    query, key = torch.zeros(2, 2, device=device), torch.zeros(3, 2, device=device)
    value = torch.tensor([[0.0], [3.0], [6.0]], device=device)
    per_query = torch.tensor([[True], [False]], device=device)  # query 1 sees no key
    output, _ = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=per_query)
    assert_close(output, torch.tensor([[3.0], [0.0]], device=device),
                 what="output with a (q_len, 1) mask: row 0 the mean of value, row 1 fully masked")
    per_key = torch.tensor([[0.0, 0.0, float("-inf")]], device=device)
    output, _ = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=per_key)
    assert_close(output, torch.tensor([[1.5], [1.5]], device=device),
                 what="output with a (1, kv_len) float mask blocking key 2")


# ---------------------------------------------------------------- properties


@given(shape=shapes, seed=seeds, kind=st.sampled_from(("none", "bool", "causal", "key_padding")))
def test_rows_sum_to_one(impl, device, shape, seed, kind):
    query, key, value = _inputs(shape, seed, device)
    mask = _mask(kind, shape, seed, device)
    _, weights = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask,
                      is_causal=kind == "causal")
    sums = weights.sum(dim=-1)
    if mask is None:
        expected = torch.ones_like(sums)
    else:  # rows whose keys are all masked sum to 0
        expected = mask.expand(weights.shape).any(dim=-1).to(sums.dtype)
    assert_close(sums, expected, what="row sums of the weights")
    assert bool((weights >= 0).all()), "attention weights must be non-negative"


@given(shape=shapes, seed=seeds, data=st.data())
def test_output_ignores_future_positions(impl, device, shape, seed, data):
    query, key, value = _inputs(shape, seed, device)
    q_len, kv_len = shape[2], shape[3]
    position = data.draw(st.integers(0, min(q_len, kv_len) - 1), label="position")
    changed_key, changed_value = key.clone(), value.clone()
    changed_key[..., position + 1:, :] = randn(changed_key[..., position + 1:, :].shape, seed + 7,
                                               device=device)
    changed_value[..., position + 1:, :] += 5.0
    before, _ = call(impl.scaled_dot_product_attention, query, key, value, is_causal=True)
    after, _ = call(impl.scaled_dot_product_attention, query, changed_key, changed_value,
                    is_causal=True)
    assert_close(after[..., : position + 1, :], before[..., : position + 1, :],
                 what=f"causal output at positions <= {position} after changing later keys/values")


@given(shape=shapes, seed=seeds, kind=st.sampled_from(("none", "bool", "float")))
def test_permuting_keys_and_values_together_changes_nothing(impl, device, shape, seed, kind):
    query, key, value = _inputs(shape, seed, device)
    mask = _mask(kind, shape, seed, device)
    order = torch.randperm(shape[3], generator=torch.Generator().manual_seed(seed)).to(device)
    output, _ = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask)
    permuted_mask = None if mask is None else mask[..., order]
    permuted, _ = call(impl.scaled_dot_product_attention, query, key[..., order, :],
                       value[..., order, :], attn_mask=permuted_mask)
    assert_close(permuted, output, what="output after permuting keys and values together")


@given(shape=shapes, seed=seeds, shift=st.floats(-50, 50))
def test_adding_constant_to_mask_row_changes_nothing(impl, device, shape, seed, shift):
    query, key, value = _inputs(shape, seed, device)
    mask = _mask("float", shape, seed, device)
    output, weights = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask)
    shifted, shifted_weights = call(impl.scaled_dot_product_attention, query, key, value,
                                    attn_mask=mask + shift)
    assert_close(shifted_weights, weights, what=f"weights after adding {shift:g} to every mask row")
    assert_close(shifted, output, what=f"output after adding {shift:g} to every mask row")


@given(shape=shapes, seed=seeds)
def test_batch_elements_are_independent(impl, device, shape, seed):
    query, key, value = _inputs(shape, seed, device)
    mask = _mask("bool", shape, seed, device)
    output, _ = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask)
    for b in range(shape[0]):
        alone, _ = call(impl.scaled_dot_product_attention, query[b : b + 1], key[b : b + 1],
                        value[b : b + 1], attn_mask=mask[b : b + 1])
        assert_close(alone, output[b : b + 1], what=f"batch element {b} computed alone")


# ---------------------------------------------------------------- oracle


@given(shape=shapes, seed=seeds, kind=st.sampled_from(MASK_KINDS),
       scale=st.none() | st.floats(0.05, 2.0))
def test_matches_torch_sdpa(impl, device, shape, seed, kind, scale):
    query, key, value = _inputs(shape, seed, device)
    mask = _mask(kind, shape, seed, device)
    causal = kind == "causal"
    expected = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, is_causal=causal,
                                              scale=scale)
    output, weights = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask,
                           is_causal=causal, scale=scale)
    assert_close(output, expected)
    assert weights.shape == (*shape[:3], shape[3]), (
        f"weights: expected shape {[*shape[:3], shape[3]]}, got {list(weights.shape)}")


@given(shape=shapes, seed=seeds, dtype=st.sampled_from((torch.float16, torch.bfloat16)),
       kind=st.sampled_from(("none", "bool", "causal")))
def test_low_precision_inputs_match_float64_and_keep_dtype(impl, ref, device, shape, seed, dtype,
                                                           kind):
    query, key, value = _inputs(shape, seed, device, dtype=dtype)
    mask = _mask(kind, shape, seed, device)
    exact, exact_weights = ref.scaled_dot_product_attention(
        query.double(), key.double(), value.double(), attn_mask=mask, is_causal=kind == "causal")
    output, weights = call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask,
                           is_causal=kind == "causal")
    assert_close(output, exact.to(dtype))
    assert_close(weights, exact_weights.to(dtype), what="weights")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_large_scores_in_half_precision_do_not_overflow(impl, ref, device, dtype):
    # |q·k| reaches ~8e4 > 65504 (float16 max): scores must be formed in float32.
    shape = (1, 2, 5, 6, 8)
    query, key, value = _inputs(shape, 11, device, dtype=dtype, scale=100.0)
    exact, _ = ref.scaled_dot_product_attention(query.double(), key.double(), value.double())
    output, _ = call(impl.scaled_dot_product_attention, query, key, value)
    assert_close(output, exact.to(dtype))


@given(seed=seeds, q_len=size(6), kv_len=size(6))
def test_causal_with_unequal_lengths_is_top_left_aligned(impl, device, seed, q_len, kv_len):
    shape = (1, 1, q_len, kv_len, 4)
    query, key, value = _inputs(shape, seed, device)
    expected = F.scaled_dot_product_attention(query, key, value, is_causal=True)
    output, _ = call(impl.scaled_dot_product_attention, query, key, value, is_causal=True)
    assert_close(output, expected)


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
        call(impl.scaled_dot_product_attention, query, key, value)
    message = str(raised.value)
    for dims in shown:
        pattern = r"\D+".join(str(d) for d in dims)
        assert re.search(pattern, message), (
            f"the ValueError should name the shape {dims}; it said: {message!r}")


def test_causal_combined_with_mask_raises_value_error(impl, device):
    query, key, value = _inputs((1, 1, 2, 2, 2), 0, device)
    mask = torch.ones(2, 2, dtype=torch.bool, device=device)
    with pytest.raises(ValueError):
        call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask, is_causal=True)


def test_mask_that_does_not_broadcast_raises_value_error(impl, device):
    query, key, value = _inputs((1, 1, 2, 3, 2), 0, device)
    mask = torch.ones(2, 4, dtype=torch.bool, device=device)  # kv_len is 3, not 4
    with pytest.raises(ValueError):
        call(impl.scaled_dot_product_attention, query, key, value, attn_mask=mask)

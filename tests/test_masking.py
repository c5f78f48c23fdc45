"""Grader for the `masking` kata: worked examples, properties, the reference and torch SDPA."""

import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call
from kata.strategies import bernoulli, randn, seeds, size

T, F_ = True, False


def _bool(rows, device):
    return torch.tensor(rows, dtype=torch.bool, device=device)


def _lengths(batch, max_len, seed, device):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, max_len + 1, (batch,), generator=generator).to(device)


def _expected_causal(q_len, kv_len, device):
    # Query i sits at absolute position kv_len - q_len + i and sees keys 0 .. that position.
    return torch.ones(q_len, kv_len, dtype=torch.bool, device=device).tril(diagonal=kv_len - q_len)


def _expected_padding(lengths, max_len, side):
    rows = []
    for n in lengths.tolist():
        real, pads = [True] * n, [False] * (max_len - n)
        rows.append(real + pads if side == "right" else pads + real)
    return torch.tensor(rows, dtype=torch.bool, device=lengths.device).reshape(len(rows), max_len)


# ---------------------------------------------------------------- worked examples


def test_causal_mask_square_is_the_lower_triangle(impl, device):
    expected = _bool([[T, F_, F_], [T, T, F_], [T, T, T]], device)
    assert_equal(call(impl.causal_mask, 3, 3, device=device), expected, what="causal_mask(3, 3)")


def test_causal_mask_while_decoding_is_bottom_right_aligned(impl, device):
    # 2 new queries after 2 cached tokens: they sit at positions 2 and 3.
    expected = _bool([[T, T, T, F_], [T, T, T, T]], device)
    assert_equal(call(impl.causal_mask, 2, 4, device=device), expected,
                 what="causal_mask(2, 4): queries at absolute positions 2 and 3")


def test_causal_mask_with_more_queries_than_keys_blocks_the_first_rows(impl, device):
    # 3 queries, 2 keys: the queries sit at positions -1, 0, 1; the first sees nothing.
    expected = _bool([[F_, F_], [T, F_], [T, T]], device)
    assert_equal(call(impl.causal_mask, 3, 2, device=device), expected, what="causal_mask(3, 2)")


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_mask_worked_example(impl, device, side):
    lengths = torch.tensor([2, 4, 0], device=device)
    if side == "right":
        expected = _bool([[T, T, F_, F_], [T, T, T, T], [F_, F_, F_, F_]], device)
    else:
        expected = _bool([[F_, F_, T, T], [T, T, T, T], [F_, F_, F_, F_]], device)
    assert_equal(call(impl.padding_mask, lengths, 4, side=side), expected,
                 what=f"padding_mask([2, 4, 0], 4, side={side!r})")


def test_sliding_window_worked_example(impl, device):
    # window 2: each query sees itself and the position just before it.
    expected = _bool([[T, F_, F_, F_], [T, T, F_, F_], [F_, T, T, F_], [F_, F_, T, T]], device)
    assert_equal(call(impl.sliding_window_mask, 4, 4, 2, device=device), expected,
                 what="sliding_window_mask(4, 4, window=2)")


def test_sliding_window_while_decoding_sees_the_last_window_keys(impl, device):
    # One query at position 4, window 3: keys 2, 3, 4.
    expected = _bool([[F_, F_, T, T, T]], device)
    assert_equal(call(impl.sliding_window_mask, 1, 5, 3, device=device), expected,
                 what="sliding_window_mask(1, 5, window=3)")


def test_combine_masks_worked_example_with_left_padding(impl, device):
    attention_mask = _bool([[F_, T, T], [T, T, T]], device)  # lengths 2 and 3, left padded
    expected = torch.stack([
        _bool([[F_, F_, F_], [F_, T, F_], [F_, T, T]], device),  # key 0 is a pad in row 0
        _bool([[T, F_, F_], [T, T, F_], [T, T, T]], device),
    ])[:, None]  # (batch, 1, q_len, kv_len)
    assert_equal(call(impl.combine_masks, attention_mask), expected,
                 what="combine_masks(left-padded lengths [2, 3])")


def test_combine_masks_worked_example_decoding_with_window(impl, device):
    attention_mask = _bool([[F_, T, T, T, T]], device)
    # one query at position 4, window 2: keys 3 and 4; the pad at key 0 is outside anyway.
    expected = _bool([[[[F_, F_, F_, T, T]]]], device)
    assert_equal(call(impl.combine_masks, attention_mask, q_len=1, window=2), expected,
                 what="combine_masks(q_len=1, window=2)")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_to_additive_is_zero_or_the_most_negative_finite_value(impl, device, dtype):
    mask = _bool([[T, F_], [F_, F_]], device)
    lowest = torch.finfo(dtype).min  # float16: -65504; float64: -1.8e308, -inf in float32
    expected = torch.tensor([[0.0, lowest], [lowest, lowest]], dtype=dtype, device=device)
    assert_equal(call(impl.to_additive, mask, dtype), expected, what=f"to_additive(mask, {dtype})")


def test_position_ids_worked_example_with_left_padding(impl, device):
    attention_mask = _bool([[F_, F_, T, T, T], [T, T, T, T, T]], device)
    # real tokens count 0, 1, 2 ...; pads hold 0 (documented, as in transformers 5.x generate)
    expected = torch.tensor([[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]], device=device)
    assert_equal(call(impl.position_ids, attention_mask), expected, what="position_ids")


# ---------------------------------------------------------------- properties


@given(n=size(6, min_value=0))
def test_causal_mask_with_equal_lengths_is_tril(impl, device, n):
    expected = torch.ones(n, n, dtype=torch.bool, device=device).tril()
    assert_equal(call(impl.causal_mask, n, n, device=device), expected,
                 what=f"causal_mask({n}, {n})")


@given(q_len=size(6), extra=size(5, min_value=0))
def test_each_query_sees_every_key_up_to_its_absolute_position(impl, device, q_len, extra):
    kv_len = q_len + extra
    mask = call(impl.causal_mask, q_len, kv_len, device=device)
    assert_equal(mask[-1], torch.ones(kv_len, dtype=torch.bool, device=device),
                 what=f"last query row of causal_mask({q_len}, {kv_len}) (it sees all keys)")
    expected_counts = torch.arange(q_len, device=device) + extra + 1
    assert_equal(mask.sum(dim=-1), expected_counts,
                 what=f"keys visible per query in causal_mask({q_len}, {kv_len})")


@given(q_len=size(6), extra=size(5, min_value=0))
def test_decoding_mask_equals_last_rows_of_prefill_mask(impl, device, q_len, extra):
    kv_len = q_len + extra
    full = call(impl.causal_mask, kv_len, kv_len, device=device)
    decoding = call(impl.causal_mask, q_len, kv_len, device=device)
    assert_equal(decoding, full[kv_len - q_len:],
                 what=f"causal_mask({q_len}, {kv_len}) vs the last rows of causal_mask({kv_len}, "
                      f"{kv_len})")


@given(batch=size(4), max_len=size(6, min_value=0), seed=seeds,
       side=st.sampled_from(["right", "left"]))
def test_padding_mask_row_sums_equal_lengths_with_pads_on_the_given_side(impl, device, batch,
                                                                         max_len, seed, side):
    lengths = _lengths(batch, max_len, seed, device)
    mask = call(impl.padding_mask, lengths, max_len, side=side)
    assert_equal(mask.sum(dim=-1), lengths, what="real tokens per row (padding_mask row sums)")
    assert_equal(mask, _expected_padding(lengths, max_len, side),
                 what=f"padding_mask(side={side!r}): real tokens "
                      f"{'first' if side == 'right' else 'last'}")


@given(q_len=size(6), extra=size(5, min_value=0), window=size(7))
def test_sliding_window_shows_the_window_most_recent_positions(impl, device, q_len, extra, window):
    kv_len = q_len + extra
    mask = call(impl.sliding_window_mask, q_len, kv_len, window, device=device)
    rows = []
    for i in range(q_len):
        position = kv_len - q_len + i
        rows.append([position - window < j <= position for j in range(kv_len)])
    assert_equal(mask, torch.tensor(rows, dtype=torch.bool, device=device),
                 what=f"sliding_window_mask({q_len}, {kv_len}, window={window}): keys "
                      "position - window < j <= position")


@given(q_len=size(6), extra=size(5, min_value=0), more=size(3, min_value=0))
def test_window_at_least_kv_len_equals_causal_mask(impl, device, q_len, extra, more):
    kv_len = q_len + extra
    mask = call(impl.sliding_window_mask, q_len, kv_len, kv_len + more, device=device)
    assert_equal(mask, _expected_causal(q_len, kv_len, device),
                 what=f"sliding_window_mask({q_len}, {kv_len}, window={kv_len + more})")


@settings(max_examples=40)
@given(batch=size(3), q_len=size(5), extra=size(3, min_value=0), seed=seeds,
       side=st.sampled_from(["right", "left"]), window=st.none() | size(4))
def test_combined_mask_is_the_and_of_padding_and_causal(impl, device, batch, q_len, extra, seed,
                                                        side, window):
    kv_len = q_len + extra
    attention_mask = _expected_padding(_lengths(batch, kv_len, seed, device), kv_len, side)
    combined = call(impl.combine_masks, attention_mask, q_len=q_len, window=window)
    allowed = _expected_causal(q_len, kv_len, device)
    if window is not None:  # drop keys j <= position - window
        allowed = allowed & ~allowed.new_ones(q_len, kv_len).tril(diagonal=kv_len - q_len - window)
    expected = allowed[None, None] & attention_mask[:, None, None, :]
    assert_equal(combined, expected, what="combine_masks: padding (keys) AND causal AND window")


@given(batch=size(3), seq=size(6), seed=seeds)
def test_combine_masks_without_causal_is_the_key_padding_mask(impl, device, batch, seq, seed):
    attention_mask = bernoulli((batch, seq), seed, 0.7, device=device)
    combined = call(impl.combine_masks, attention_mask, causal=False)
    expected = attention_mask[:, None, None, :].expand(batch, 1, seq, seq)
    assert_equal(combined, expected, what="combine_masks(causal=False)")


@settings(max_examples=40)
@given(shape=st.tuples(size(3), size(5), size(6)), seed=seeds)
def test_additive_mask_in_fp16_never_gives_inf_or_nan_in_softmax(impl, device, shape, seed):
    mask = bernoulli(shape, seed, 0.6, device=device)
    mask[0, 0, :] = False  # a fully masked row
    scores = randn(shape, seed + 1, dtype=torch.float16, device=device, scale=5.0).clamp(-15, 15)
    additive = call(impl.to_additive, mask, torch.float16)
    masked_scores = scores + additive  # in float16, as a model running in half precision does
    assert bool(torch.isfinite(masked_scores).all()), (
        "scores + to_additive(mask, float16) overflowed to -inf: fill with "
        "torch.finfo(float16).min, not -inf or -1e9")
    weights = torch.softmax(masked_scores.float(), dim=-1)
    assert not bool(weights.isnan().any()), "softmax gave NaN on a fully masked row"
    has_key = mask.any(dim=-1, keepdim=True)
    leaked = torch.where(~mask & has_key, weights, torch.zeros_like(weights))
    assert_close(leaked, torch.zeros_like(leaked), what="softmax weight on masked keys")


@given(batch=size(4), seq=size(6), seed=seeds)
def test_position_ids_count_real_tokens_from_zero(impl, device, batch, seq, seed):
    attention_mask = bernoulli((batch, seq), seed, 0.6, device=device)
    ids = call(impl.position_ids, attention_mask)
    for b in range(batch):
        real = attention_mask[b]
        count = int(real.sum())
        assert_equal(ids[b][real], torch.arange(count, device=device),
                     what=f"position ids of the real tokens of row {b}")
        assert_equal(ids[b][~real], torch.zeros(seq - count, dtype=torch.long, device=device),
                     what=f"position ids at the pads of row {b} (documented: 0)")


@given(batch=size(4), max_len=size(6), seed=seeds)
def test_position_ids_of_real_tokens_ignore_the_padding_side(impl, device, batch, max_len, seed):
    lengths = _lengths(batch, max_len, seed, device)
    right = _expected_padding(lengths, max_len, "right")
    left = _expected_padding(lengths, max_len, "left")
    right_ids = call(impl.position_ids, right)
    left_ids = call(impl.position_ids, left)
    assert_equal(left_ids[left], right_ids[right],
                 what="position ids of the real tokens, left vs right padding")


# ---------------------------------------------------------------- reference and torch SDPA


@given(batch=size(3), q_len=size(5), extra=size(3, min_value=0), seed=seeds,
       side=st.sampled_from(["right", "left"]), causal=st.booleans(), window=st.none() | size(4))
def test_masks_match_the_reference(impl, ref, device, batch, q_len, extra, seed, side, causal,
                                   window):
    kv_len = q_len + extra
    window = window if causal else None
    lengths = _lengths(batch, kv_len, seed, device)
    attention_mask = call(impl.padding_mask, lengths, kv_len, side=side)
    assert_equal(attention_mask, ref.padding_mask(lengths, kv_len, side=side), what="padding_mask")
    expected = ref.combine_masks(attention_mask, q_len=q_len, causal=causal, window=window)
    combined = call(impl.combine_masks, attention_mask, q_len=q_len, causal=causal, window=window)
    assert_equal(combined, expected, what="combine_masks")
    assert_equal(call(impl.position_ids, attention_mask), ref.position_ids(attention_mask),
                 what="position_ids")


@settings(max_examples=10)  # each example runs SDPA once per sequence: the slow test
@given(lengths=st.lists(size(5), min_size=1, max_size=3), seed=seeds)
def test_left_padded_batch_attends_like_each_sequence_alone(impl, device, lengths, seed):
    # The masks plugged into torch SDPA (True = attend): every real query of a left-padded batch
    # must get the output it gets when its sequence runs alone, unpadded, with is_causal.
    max_len, batch, heads, head_dim = max(lengths), len(lengths), 2, 4
    query, key, value = (randn((batch, heads, max_len, head_dim), seed + k, device=device)
                         for k in range(3))
    attention_mask = call(impl.padding_mask, torch.tensor(lengths, device=device), max_len,
                          side="left")
    mask = call(impl.combine_masks, attention_mask)
    output = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
    for b, n in enumerate(lengths):
        real = slice(max_len - n, max_len)
        alone = F.scaled_dot_product_attention(query[b:b + 1, :, real], key[b:b + 1, :, real],
                                               value[b:b + 1, :, real], is_causal=True)
        assert_close(output[b:b + 1, :, real], alone,
                     what=f"attention output of the real tokens of sequence {b} (length {n})")


def test_lengths_and_sizes_at_the_edge_of_their_range_are_accepted(impl, device):
    # lengths 0 and max_len are valid; max_len 0 gives an empty row; window 1 is the diagonal.
    lengths = torch.tensor([0, 3], device=device)
    assert_equal(call(impl.padding_mask, lengths, 3),
                 _bool([[F_, F_, F_], [T, T, T]], device), what="padding_mask([0, 3], 3)")
    assert_equal(call(impl.padding_mask, lengths, 3, side="left"),
                 _bool([[F_, F_, F_], [T, T, T]], device), what="padding_mask([0, 3], 3, 'left')")
    empty = call(impl.padding_mask, torch.tensor([0], device=device), 0)
    assert tuple(empty.shape) == (1, 0), f"padding_mask([0], 0) has shape (1, 0), got {empty.shape}"
    assert_equal(call(impl.sliding_window_mask, 2, 3, 1, device=device),
                 _bool([[F_, T, F_], [F_, F_, T]], device),
                 what="sliding_window_mask(2, 3, window=1): each query sees only itself")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [-3, -1, 6, 7])  # max_len 5: -1 and 6 are the first invalid
def test_padding_mask_rejects_bad_lengths_naming_the_value(impl, device, bad):
    lengths = torch.tensor([2, bad, 1], device=device)
    with pytest.raises(ValueError) as raised:
        call(impl.padding_mask, lengths, 5)
    message = str(raised.value)
    assert re.search(rf"(?<![\d-]){bad}(?!\d)", message), (
        f"the ValueError should name the bad length {bad}; it said: {message!r}")


def test_padding_mask_rejects_a_negative_max_len(impl, device):
    with pytest.raises(ValueError):
        call(impl.padding_mask, torch.tensor([0], device=device), -1)


def test_padding_mask_rejects_an_unknown_side(impl, device):
    with pytest.raises(ValueError):
        call(impl.padding_mask, torch.tensor([1], device=device), 2, side="middle")


@pytest.mark.parametrize("window", [0, -2])
def test_sliding_window_rejects_window_below_one(impl, device, window):
    with pytest.raises(ValueError):
        call(impl.sliding_window_mask, 3, 3, window, device=device)


def test_causal_mask_rejects_negative_lengths(impl, device):
    with pytest.raises(ValueError):
        call(impl.causal_mask, -1, 3, device=device)
    with pytest.raises(ValueError):
        call(impl.causal_mask, 3, -1, device=device)


def test_to_additive_rejects_a_non_bool_mask(impl, device):
    with pytest.raises(ValueError):
        call(impl.to_additive, torch.zeros(2, 2, device=device), torch.float32)


def test_to_additive_rejects_a_non_floating_dtype(impl, device):
    with pytest.raises(ValueError):
        call(impl.to_additive, _bool([[T, F_]], device), torch.int32)


def test_combine_masks_rejects_a_window_without_causal(impl, device):
    with pytest.raises(ValueError):
        call(impl.combine_masks, _bool([[T, T, T]], device), causal=False, window=2)


def test_combine_masks_rejects_a_mask_that_is_not_2d(impl, device):
    with pytest.raises(ValueError):
        call(impl.combine_masks, _bool([[[T, T, T]]], device))

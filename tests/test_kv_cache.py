"""Grader for the `kv_cache` kata: the cache by hand, decoding = full forward, FLOP growth."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call
from kata.probes import record_flops
from kata.strategies import randn, seeds, size

# Building a model per example is the slow part: model tests draw fewer examples.
few = settings(max_examples=20)
# (vocab, heads, num_layers, head_dim, d_ff); d_model = heads * head_dim, head_dim even for RoPE
configs = st.tuples(size(9, 2), size(2), size(2), st.sampled_from((2, 4)), size(6))


def _lm(module, config, seed, device, dtype=torch.float32):
    vocab, heads, num_layers, head_dim, d_ff = config
    model = module.TinyLM(vocab, heads * head_dim, num_layers, heads, d_ff)
    with torch.no_grad():
        for index, (_, param) in enumerate(sorted(model.named_parameters())):
            param.copy_(randn(param.shape, seed + index, scale=0.5) + (param.dim() == 1))
    return model.to(device=device, dtype=dtype)


def _ids(batch, seq, vocab, seed, device):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, seq), generator=generator).to(device)


def _averaging_attention(impl, device):
    """One head of size 2 whose queries are 0 (uniform weights over the visible keys) and whose
    value and output projections are the identity: the output is the mean of visible inputs."""
    attention = impl.Attention(d_model=2, num_heads=1, layer=0)
    with torch.no_grad():
        attention.q_proj.weight.zero_()
        attention.k_proj.weight.copy_(torch.eye(2))
        attention.v_proj.weight.copy_(torch.eye(2))
        attention.o_proj.weight.copy_(torch.eye(2))
    return attention.to(device)


# ---------------------------------------------------------------- worked examples


def test_update_appends_along_the_sequence_axis(impl, device):
    cache = impl.KVCache(num_layers=1)
    assert call(cache.seq_length, 0) == 0, "an empty cache holds 0 positions"
    first_keys = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], device=device)  # (1, 1, 2, 2)
    first_values = -first_keys
    keys, values = call(cache.update, 0, first_keys, first_values)
    assert_equal(keys, first_keys, what="keys after the first update")
    next_keys = torch.tensor([[[[5.0, 6.0]]]], device=device)  # (1, 1, 1, 2)
    keys, values = call(cache.update, 0, next_keys, -next_keys)
    expected = torch.tensor([[[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]]], device=device)
    assert_equal(keys, expected, what="keys after appending one position (oldest first)")
    assert_equal(values, -expected, what="values after appending one position (oldest first)")
    assert call(cache.seq_length, 0) == 3, "the cache should hold 3 positions after 2 + 1"


def test_layers_are_cached_separately(impl, device):
    cache = impl.KVCache(num_layers=2)
    key = torch.ones(2, 3, 4, 2, device=device)  # (batch, heads, seq, head_dim)
    call(cache.update, 1, key, key)
    assert call(cache.seq_length, 1) == 4, "layer 1 holds the 4 positions given to it"
    assert call(cache.seq_length, 0) == 0, "updating layer 1 must not touch layer 0"
    keys, _ = call(cache.update, 0, 2 * key[:, :, :1], 2 * key[:, :, :1])
    assert_equal(keys, 2 * key[:, :, :1], what="layer 0's keys after its first update")


def test_cached_new_tokens_average_every_visible_position(impl, device):
    # Zero queries -> equal scores -> each query averages the values it may see.
    # Prefill position 0, then positions 1 and 2 in one call: they see 0..1 and 0..2.
    attention = _averaging_attention(impl, device)
    x = torch.tensor([[[3.0, 0.0], [0.0, 3.0], [6.0, 6.0]]], device=device)
    cache = impl.KVCache(num_layers=1)
    first = call(attention.forward, x[:, :1], cache)
    assert_close(first, x[:, :1], what="output of position 0 (it sees only itself)")
    rest = call(attention.forward, x[:, 1:], cache)
    expected = torch.tensor([[[1.5, 1.5], [3.0, 3.0]]], device=device)
    assert_close(rest, expected, what="outputs of positions 1 and 2 given a cache holding "
                                      "position 0 (mean of kv positions 0..1 and 0..2; is the "
                                      "causal mask aligned to the end of the cache?)")


def test_attention_without_cache_is_causal_worked_example(impl, device):
    attention = _averaging_attention(impl, device)
    x = torch.tensor([[[4.0, 0.0], [0.0, 2.0], [2.0, 4.0]]], device=device)
    expected = torch.tensor([[[4.0, 0.0], [2.0, 1.0], [2.0, 2.0]]], device=device)
    assert_close(call(attention.forward, x), expected, what="causal running mean of the values")


# ---------------------------------------------------------------- decoding = full forward


def test_bfloat16_scores_are_computed_in_float32(impl, ref, device):
    # bfloat16, head_dim 2, identity q/v/o projections and a zero key projection (the new
    # token's own key scores 0 and gets weight ~e^-213). Two cached keys point along the
    # query, lengths 1 and 1 + 1/128: scores ~213.1 and ~214.8, a gap of ~1.7 that bfloat16
    # (spacing 1 at 128..256) rounds to 1. The output is the weight of the second key.
    bf16 = torch.bfloat16
    attention = impl.Attention(d_model=2, num_heads=1, layer=0)
    with torch.no_grad():
        for proj in (attention.q_proj, attention.v_proj, attention.o_proj):
            proj.weight.copy_(torch.eye(2))
        attention.k_proj.weight.zero_()
    attention = attention.to(device=device, dtype=bf16)
    x = torch.tensor([[[300.0, 0.0]]], dtype=bf16, device=device)  # position 2
    query = ref.apply_rope(x.view(1, 1, 1, 2), torch.tensor([2], device=device)).double()
    direction = query.flatten() / query.norm()
    keys = torch.stack((direction, direction * (1 + 1 / 128))).to(bf16).view(1, 1, 2, 2)
    values = torch.tensor([[[[0.0, 0.0], [1.0, 0.0]]]], dtype=bf16, device=device)
    scores = (query.flatten() @ keys.view(2, 2).double().T) / math.sqrt(2)
    second = 1.0 / (1.0 + math.exp(float(scores[0] - scores[1])))
    cache = impl.KVCache(num_layers=1)
    call(cache.update, 0, keys, values)
    with torch.no_grad():
        out = call(attention, x, cache)
    expected = torch.tensor([[[second, 0.0]]], dtype=bf16, device=device)
    assert_close(out, expected, what="bfloat16 attention output = weight of the longer key "
                 f"(float32 scores {scores.tolist()}; bfloat16 scores round the gap to 1)")


@few
@given(config=configs, seed=seeds, batch=size(2), seq=size(6, 2), data=st.data())
def test_token_by_token_decoding_reproduces_full_forward(impl, device, config, seed, batch, seq,
                                                         data):
    model = _lm(impl, config, seed, device)
    ids = _ids(batch, seq, config[0], seed, device)
    prefill = data.draw(st.integers(1, seq), label="prefill")
    full = call(model.forward, ids)
    cache = impl.KVCache(len(model.blocks))
    for t in range(prefill, seq + 1):
        logits = call(impl.decode_step, model, ids[:, :t], cache)
        assert_close(logits, full[:, t - 1],
                     what=f"decode_step logits after {t} tokens (prefill of {prefill}) vs the "
                          f"full forward at position {t - 1} (RoPE offset? cache order?)")


@few
@given(config=configs, seed=seeds, seq=size(6, 2), data=st.data())
def test_chunked_forward_with_cache_reproduces_full_forward(impl, device, config, seed, seq, data):
    model = _lm(impl, config, seed, device)
    ids = _ids(2, seq, config[0], seed, device)
    cuts = sorted(data.draw(st.sets(st.integers(1, seq - 1), max_size=3), label="cuts"))
    full = call(model.forward, ids)
    cache = impl.KVCache(len(model.blocks))
    for start, stop in zip([0, *cuts], [*cuts, seq], strict=True):
        chunk = call(model.forward, ids[:, start:stop], cache)
        assert_close(chunk, full[:, start:stop],
                     what=f"logits of positions {start}..{stop - 1} fed with a cache of {start} "
                          "(chunked prefill: bottom-right causal mask, RoPE from the offset)")


@pytest.mark.parametrize(("config", "seq"), [((7, 1, 1, 2, 3), 1), ((9, 2, 3, 4, 5), 4)])
def test_cache_holds_every_position_after_decode_step(impl, device, config, seq):
    vocab, heads, num_layers, head_dim, _ = config
    model = _lm(impl, config, 0, device)
    ids = _ids(2, seq + 1, vocab, 0, device)
    cache = impl.KVCache(num_layers)
    call(impl.decode_step, model, ids[:, :seq], cache)
    call(impl.decode_step, model, ids, cache)
    for layer in range(num_layers):
        assert call(cache.seq_length, layer) == seq + 1, (
            f"after decode_step on {seq + 1} tokens layer {layer} should cache {seq + 1} "
            f"positions, it holds {cache.seq_length(layer)}")
        assert tuple(cache.keys[layer].shape) == (2, heads, seq + 1, head_dim), (
            f"layer {layer} keys: expected (batch, heads, kv_len, head_dim) = "
            f"{(2, heads, seq + 1, head_dim)}, got {tuple(cache.keys[layer].shape)}")


@few
@given(config=configs, seed=seeds, batch=size(2), seq=size(5))
def test_full_forward_matches_reference(impl, ref, device, config, seed, batch, seq):
    model, expected_model = _lm(impl, config, seed, device), _lm(ref, config, seed, device)
    ids = _ids(batch, seq, config[0], seed, device)
    assert_close(call(model.forward, ids), expected_model(ids), what="TinyLM logits, no cache")


# ---------------------------------------------------------------- complexity (FLOP counts)

D_MODEL, NUM_LAYERS = 16, 2
LENGTHS = (8, 16, 24)


def _decode_flops(impl, device):
    """FLOPs of one decode step (one new token) at each cache length in LENGTHS."""
    model = _lm(impl, (11, 2, NUM_LAYERS, D_MODEL // 2, 24), 0, device)
    ids = _ids(1, max(LENGTHS) + 1, 11, 0, device)
    logs = {}
    for length in LENGTHS:
        cache = impl.KVCache(NUM_LAYERS)
        call(impl.decode_step, model, ids[:, :length], cache)  # prefill `length` positions
        logs[length] = record_flops(impl.decode_step, model, ids[:, : length + 1], cache)
    return logs


def test_decode_step_flops_grow_linearly_with_cache_length(impl, device):
    logs = _decode_flops(impl, device)
    (a, b, c) = (logs[t].total for t in LENGTHS)
    assert c - b == pytest.approx(b - a, rel=0.05), (
        f"one decode step costs {a:,} / {b:,} / {c:,} FLOPs at cache lengths {LENGTHS}: the "
        f"growth {b - a:,} then {c - b:,} is not constant, so the step is not O(T·d_model). "
        f"Does decode_step run the model on the whole sequence instead of the new token? "
        f"At {LENGTHS[-1]}: {logs[LENGTHS[-1]].describe()}")


def test_decode_step_costs_order_d_model_per_cached_token(impl, device):
    # Attending one query to T cached positions costs 4·T·d_model FLOPs per layer (q·Kᵀ and
    # weights·V); everything else in a step (projections, MLP, head) does not depend on T.
    logs = _decode_flops(impl, device)
    short, long = LENGTHS[0], LENGTHS[-1]
    per_token = (logs[long].total - logs[short].total) / (long - short)
    budget = 8 * D_MODEL * NUM_LAYERS
    assert per_token <= budget, (
        f"each extra cached position adds {per_token:,.0f} FLOPs to a decode step; attention "
        f"over a cache needs about {4 * D_MODEL * NUM_LAYERS} (4·d_model per layer), at most "
        f"{budget}. Are cached positions re-projected or re-run through the model? At "
        f"{long}: {logs[long].describe()}")


# ---------------------------------------------------------------- bad input


def test_decode_step_without_new_tokens_raises_value_error(impl, device):
    model = _lm(impl, (5, 1, 1, 2, 3), 0, device)
    ids = _ids(1, 3, 5, 0, device)
    cache = impl.KVCache(1)
    call(impl.decode_step, model, ids, cache)
    with pytest.raises(ValueError) as raised:
        call(impl.decode_step, model, ids, cache)
    assert "3" in str(raised.value), (
        f"the ValueError should name the lengths (3 positions, 3 cached): {raised.value}")

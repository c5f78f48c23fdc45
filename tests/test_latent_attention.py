"""Grader for the `latent_attention` kata: a hand example, absorbed == naive, cached decoding,
the allocation probe on the absorbed path, and the paper's cache size."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.probes import record_allocations
from kata.strategies import randn, seeds, size

# (heads, rank, nope_dim, rope_dim, v_dim); rope_dim even
configs = st.tuples(size(3), size(5), size(4), st.sampled_from([2, 4]), size(4))
few = settings(max_examples=30)


def _mla(module, config, seed, d_model=6, dtype=torch.float32):
    heads, rank, nope_dim, rope_dim, v_dim = config
    mla = module.MLA(d_model, heads, rank, nope_dim, rope_dim, v_dim)
    with torch.no_grad():
        for index, (_, param) in enumerate(sorted(mla.named_parameters())):
            param.copy_(randn(param.shape, seed + index, scale=0.6))
    return mla.to(dtype)


def _cache(mla, hidden):
    positions = torch.arange(hidden.shape[1])
    return mla.compress(hidden, positions)


# ---------------------------------------------------------------- worked example


@pytest.mark.parametrize("which", ["naive_attention", "absorbed_attention"])
def test_zero_queries_average_the_visible_values(impl, which):
    # Zero query weights give equal scores, so each position averages the values it may see;
    # with W_DKV, W_UV and W_O the identity, the output is the causal running mean of hidden.
    mla = impl.MLA(2, 1, 2, 2, 2, 2)
    with torch.no_grad():
        for linear in (mla.q_proj, mla.k_rope, mla.k_up):
            linear.weight.zero_()
        for linear in (mla.kv_down, mla.v_up, mla.o_proj):
            linear.weight.copy_(torch.eye(2))
    hidden = torch.tensor([[[4.0, 0.0], [0.0, 2.0], [2.0, 4.0]]])
    latent, k_rope = _cache(mla, hidden)
    expected = torch.tensor([[[4.0, 0.0], [2.0, 1.0], [2.0, 2.0]]])
    with torch.no_grad():
        got = call(getattr(impl, which), mla, hidden, latent, k_rope)
    assert_close(got, expected, what=f"{which}: causal running mean of the hidden states")
    with torch.no_grad():
        last = call(getattr(impl, which), mla, hidden[:, 2:], latent, k_rope)
    assert_close(last, expected[:, 2:],
                 what=f"{which} of the last position only (it sees all 3 cached positions)")


@pytest.mark.parametrize("which", ["naive_attention", "absorbed_attention"])
def test_bfloat16_scores_and_softmax_in_float32(impl, which):
    # bfloat16 keeps 8 significant bits: the last query's scores 2000/2 = 1000 and
    # (2000 + 2)/2 = 1001 are one apart in float32 but both 1000 in bfloat16 (spacing 8 at
    # 2002). With W_DKV, W_UK, W_UV and W_O the identity and no RoPE part, the output is
    # p_0·h_0 + p_1·h_1 = [1, p_1] with p_1 = sigmoid(1) ≈ 0.731; bfloat16 scores give 0.5.
    mla = impl.MLA(2, 1, 2, 2, 2, 2)
    with torch.no_grad():
        mla.q_proj.weight.copy_(torch.tensor([[2000.0, 0.0], [0.0, 2.0], [0.0, 0.0], [0.0, 0.0]]))
        mla.k_rope.weight.zero_()
        for linear in (mla.kv_down, mla.k_up, mla.v_up, mla.o_proj):
            linear.weight.copy_(torch.eye(2))
    mla = mla.to(torch.bfloat16)
    hidden = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]], dtype=torch.bfloat16)
    latent, k_rope = _cache(mla, hidden)
    p_1 = 1.0 / (1.0 + math.exp(-1.0))
    expected = torch.tensor([[[1.0, p_1]]], dtype=torch.bfloat16)
    with torch.no_grad():
        got = call(getattr(impl, which), mla, hidden[:, 1:], latent, k_rope)
    assert_close(got, expected, atol=0.02, rtol=0.0,
                 what=f"{which} on bfloat16 inputs whose scores 1000 and 1001 bfloat16 cannot "
                      "tell apart (scores and softmax must be computed in float32)")


# ---------------------------------------------------------------- absorbed == naive


@few
@given(config=configs, seed=seeds, batch=size(2), kv_len=size(6), data=st.data())
def test_absorbed_path_equals_naive_path(impl, config, seed, batch, kv_len, data):
    mla = _mla(impl, config, seed, dtype=torch.float64)
    hidden = randn((batch, kv_len, 6), seed, dtype=torch.float64)
    latent, k_rope = _cache(mla, hidden)
    q_len = data.draw(st.integers(1, kv_len), label="q_len")
    with torch.no_grad():
        naive = call(impl.naive_attention, mla, hidden[:, -q_len:], latent, k_rope)
        absorbed = call(impl.absorbed_attention, mla, hidden[:, -q_len:], latent, k_rope)
    assert_close(absorbed, naive, what=f"absorbed vs naive MLA, float64 (q_len={q_len}, "
                                       f"kv_len={kv_len}, config={config})")


@few
@given(config=configs, seed=seeds, batch=size(2), kv_len=size(6))
def test_naive_path_matches_reference(impl, ref, config, seed, batch, kv_len):
    mla, ref_mla = _mla(impl, config, seed), _mla(ref, config, seed)
    hidden = randn((batch, kv_len, 6), seed)
    latent, k_rope = _cache(mla, hidden)
    with torch.no_grad():
        got = call(impl.naive_attention, mla, hidden, latent, k_rope)
        expected = ref.naive_attention(ref_mla, hidden, *_cache(ref_mla, hidden))
    assert_close(got, expected, what="naive MLA over the whole sequence vs the reference")


@few
@given(config=configs, seed=seeds, kv_len=size(6, 2), data=st.data())
def test_decoding_from_the_latent_cache_equals_the_full_forward(impl, config, seed, kv_len,
                                                               data):
    mla = _mla(impl, config, seed)
    hidden = randn((1, kv_len, 6), seed)
    with torch.no_grad():
        full = call(impl.naive_attention, mla, hidden, *_cache(mla, hidden))
        prefill = data.draw(st.integers(1, kv_len - 1), label="prefill")
        latent, k_rope = mla.compress(hidden[:, :prefill], torch.arange(prefill))
        for t in range(prefill, kv_len):
            new_latent, new_rope = mla.compress(hidden[:, t:t + 1], torch.tensor([t]))
            latent, k_rope = torch.cat((latent, new_latent), 1), torch.cat((k_rope, new_rope), 1)
            step = call(impl.absorbed_attention, mla, hidden[:, t:t + 1], latent, k_rope)
            assert_close(step, full[:, t:t + 1],
                         what=f"absorbed decode of position {t} from a cache of latents and "
                              "RoPE keys vs the full forward (RoPE position of the new query?)")


# ---------------------------------------------------------------- cost


def test_absorbed_decode_never_builds_per_head_keys_or_values(impl):
    heads, rank, nope_dim, rope_dim, v_dim, kv_len = 4, 8, 16, 4, 16, 64
    mla = _mla(impl, (heads, rank, nope_dim, rope_dim, v_dim), 0)
    hidden = randn((1, kv_len, 6), 1)
    latent, k_rope = _cache(mla, hidden)
    with torch.no_grad():
        call(impl.absorbed_attention, mla, hidden[:, -1:], latent, k_rope)
        log = record_allocations(impl.absorbed_attention, mla, hidden[:, -1:], latent, k_rope)
    limit = kv_len * heads * min(nope_dim, v_dim)
    too_big = log.at_least(limit)
    assert not too_big, (
        f"one absorbed decode step over {kv_len} cached tokens allocated {too_big[0].describe()}"
        f": per-head keys or values ({kv_len} x {heads} heads x {nope_dim}) are what absorption "
        f"avoids; fold W_UK into the query and apply W_UV after the weighted sum. Largest: "
        f"{log.describe()}")


def test_cache_bytes_per_token_as_in_the_paper(impl):
    # DeepSeek-V2: 60 layers, d_c = 512, d_h^R = 64, bf16 -> 576 · 60 · 2 bytes per token.
    assert call(impl.cache_bytes_per_token, 60, 512, 64) == 576 * 60 * 2
    # Table 1: with d_c = 4·d_h and d_h^R = d_h / 2 the cache is 4.5·d_h·l elements.
    head_dim, layers = 128, 10
    got = call(impl.cache_bytes_per_token, layers, 4 * head_dim, head_dim // 2, 1)
    assert got == 4.5 * head_dim * layers, (
        f"(d_c + d_h^R)·l = 4.5·d_h·l = {4.5 * head_dim * layers} elements, got {got} (the "
        "latent is shared by keys and values: it is not stored twice)")

"""Grader for the `multihead_attention` kata: worked examples, properties, then torch oracles.

Every test builds the learner's module through `call(impl.MultiHeadAttention, ...)` and then
writes seeded weights into the documented projections (q_proj, k_proj, v_proj, o_proj), so the
result never depends on how the module initialises itself.
"""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import bernoulli, randn, seeds, size

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")

# (batch, q_len, kv_len, kv_heads, group, head_dim, bias): heads = kv_heads * group.
configs = st.tuples(size(2), size(5), size(5), size(3), size(3), size(4), st.booleans())


def _weights(d_model, num_heads, num_kv_heads, bias, seed, scale=1.0):
    """Seeded weights for the four projections, as {name: (weight, bias or None)}."""
    head_dim = d_model // num_heads
    shapes = {"q_proj": (num_heads * head_dim, d_model),
              "k_proj": (num_kv_heads * head_dim, d_model),
              "v_proj": (num_kv_heads * head_dim, d_model),
              "o_proj": (d_model, num_heads * head_dim)}
    weights = {}
    for i, (name, shape) in enumerate(shapes.items()):
        w = randn(shape, seed + 10 * i, scale=scale / math.sqrt(shape[1]))
        b = randn(shape[:1], seed + 10 * i + 1, scale=0.5) if bias else None
        weights[name] = (w, b)
    return weights


@torch.no_grad()
def _load(module, weights, dtype, device):
    module.to(dtype=dtype, device=device)
    for name, (w, b) in weights.items():
        layer = getattr(module, name)
        assert tuple(layer.weight.shape) == tuple(w.shape), (
            f"{name}.weight: expected shape {list(w.shape)} (out_features, in_features), got "
            f"{list(layer.weight.shape)}; see the class docstring")
        layer.weight.copy_(w)
        if b is not None:
            assert layer.bias is not None, f"{name} has no bias although bias=True"
            layer.bias.copy_(b)
    return module


def build(impl, d_model, num_heads, num_kv_heads=None, bias=False, seed=0, dtype=torch.float32,
          device="cpu", weights=None, scale=1.0):
    """The learner's module with seeded (or given) weights."""
    module = call(impl.MultiHeadAttention, d_model, num_heads, num_kv_heads, bias=bias)
    kv = num_heads if num_kv_heads is None else num_kv_heads
    weights = weights or _weights(d_model, num_heads, kv, bias, seed, scale)
    return _load(module, weights, dtype, device), weights


def oracle(x, context, weights, num_heads, num_kv_heads, attn_mask=None):
    """The same computation with F.linear and torch's SDPA (enable_gqa)."""
    context = x if context is None else context
    (qw, qb), (kw, kb), (vw, vb), (ow, ob) = (weights[n] for n in PROJECTIONS)
    to = dict(dtype=x.dtype, device=x.device)
    batch, q_len, d_model = x.shape
    head_dim = d_model // num_heads
    query = F.linear(x, qw.to(**to), None if qb is None else qb.to(**to))
    key = F.linear(context, kw.to(**to), None if kb is None else kb.to(**to))
    value = F.linear(context, vw.to(**to), None if vb is None else vb.to(**to))
    query = query.view(batch, q_len, num_heads, head_dim).transpose(1, 2)
    key = key.view(batch, -1, num_kv_heads, head_dim).transpose(1, 2)
    value = value.view(batch, -1, num_kv_heads, head_dim).transpose(1, 2)
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, enable_gqa=True)
    if attn_mask is not None and attn_mask.dtype == torch.bool:  # documented: zero for a query
        blocked = ~attn_mask.expand(*out.shape[:-1], -1).any(dim=-1, keepdim=True)  # with no key
        out = out.masked_fill(blocked, 0.0)  # (SDPA's CUDA kernels need not give 0 there)
    out = out.transpose(1, 2).reshape(batch, q_len, d_model)
    return F.linear(out, ow.to(**to), None if ob is None else ob.to(**to))


def _inputs(config, seed, device, cross, dtype=torch.float32, scale=1.0):
    batch, q_len, kv_len, kv_heads, group, head_dim, bias = config
    d_model = kv_heads * group * head_dim
    x = randn((batch, q_len, d_model), seed + 100, dtype=dtype, device=device, scale=scale)
    context = (randn((batch, kv_len, d_model), seed + 101, dtype=dtype, device=device, scale=scale)
               if cross else None)
    return x, context, d_model, kv_heads * group, kv_heads, bias


def _identity_weights(d_model, num_heads, num_kv_heads=None):
    eye = torch.eye(d_model)
    kv = (num_kv_heads or num_heads) * (d_model // num_heads)
    return {"q_proj": (eye, None), "k_proj": (eye[:kv], None), "v_proj": (eye[:kv], None),
            "o_proj": (eye, None)}


# ---------------------------------------------------------------- worked examples


def test_two_heads_with_identity_projections_worked_example(impl, device):
    # d_model=4, 2 heads of head_dim 2, identity projections: head 0 attends with features 0:2,
    # head 1 with features 2:4, each scaled by 1/sqrt(2) (not 1/sqrt(d_model)).
    rows = [[1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 2.0], [1.0, 1.0, -1.0, 1.0]]
    x = torch.tensor([rows], device=device)
    module, _ = build(impl, 4, 2, weights=_identity_weights(4, 2), device=device)
    expected = []
    for query in rows:
        out_row = []
        for h in range(2):
            cols = slice(2 * h, 2 * h + 2)
            scores = [sum(a * b for a, b in zip(query[cols], key[cols], strict=True)) / math.sqrt(2)
                      for key in rows]
            exps = [math.exp(s) for s in scores]
            weights = [e / sum(exps) for e in exps]
            out_row += [sum(w * key[c] for w, key in zip(weights, rows, strict=True))
                        for c in range(2 * h, 2 * h + 2)]
        expected.append(out_row)
    output = call(module, x)
    assert_close(output, torch.tensor([expected], device=device))


def test_query_head_reads_kv_head_h_div_group(impl, device):
    # 4 query heads, 2 kv heads (group 2), head_dim 1. Zero q/k weights give uniform attention;
    # v_proj has zero weight and bias [1, 2], so kv head j's values are all j + 1. With an
    # identity o_proj, query head h outputs the value of kv head h // 2: [1, 1, 2, 2]
    # (tiling would give [1, 2, 1, 2]).
    weights = {"q_proj": (torch.zeros(4, 4), torch.zeros(4)),
               "k_proj": (torch.zeros(2, 4), torch.zeros(2)),
               "v_proj": (torch.zeros(2, 4), torch.tensor([1.0, 2.0])),
               "o_proj": (torch.eye(4), torch.zeros(4))}
    module, _ = build(impl, 4, 4, 2, bias=True, weights=weights, device=device)
    output = call(module, randn((2, 3, 4), 0, device=device))
    assert_close(output, torch.tensor([1.0, 1.0, 2.0, 2.0], device=device).expand(2, 3, 4),
                 what="per-head outputs (query head h should read kv head h // group)")


def test_causal_mask_worked_example_gives_running_means(impl, device):
    # Zero q/k weights: every allowed key scores the same, so query i averages values 0..i.
    weights = {"q_proj": (torch.zeros(2, 2), None), "k_proj": (torch.zeros(2, 2), None),
               "v_proj": (torch.eye(2), None), "o_proj": (torch.eye(2), None)}
    module, _ = build(impl, 2, 1, weights=weights, device=device)
    x = torch.tensor([[[3.0, 0.0], [6.0, 3.0], [9.0, 9.0]]], device=device)
    mask = torch.ones(3, 3, dtype=torch.bool, device=device).tril()
    output = call(module, x, attn_mask=mask)
    expected = torch.tensor([[[3.0, 0.0], [4.5, 1.5], [6.0, 4.0]]], device=device)
    assert_close(output, expected)


def test_cross_attention_worked_example_averages_the_context(impl, device):
    # Zero q/k weights give uniform weights over the context; identity v/o: every query's output
    # is the mean of the context rows, whatever x is (q_len 3 != kv_len 2).
    weights = {"q_proj": (torch.zeros(2, 2), None), "k_proj": (torch.zeros(2, 2), None),
               "v_proj": (torch.eye(2), None), "o_proj": (torch.eye(2), None)}
    module, _ = build(impl, 2, 1, weights=weights, device=device)
    x = torch.tensor([[[1.0, 1.0], [5.0, -5.0], [0.0, 7.0]]], device=device)
    context = torch.tensor([[[2.0, 4.0], [6.0, -8.0]]], device=device)
    output = call(module, x, context)
    assert_close(output, torch.tensor([[[4.0, -2.0]] * 3], device=device),
                 what="cross-attention output (should be the mean of the context rows)")


def test_fully_masked_query_outputs_the_o_proj_bias(impl, device):
    module, weights = build(impl, 6, 3, 1, bias=True, seed=3, device=device)
    x = randn((2, 4, 6), 5, device=device)
    mask = torch.ones(4, 4, dtype=torch.bool, device=device)
    mask[2] = False  # query 2 may attend to nothing
    output = call(module, x, attn_mask=mask)
    assert_close(output[:, 2], weights["o_proj"][1].to(device).expand(2, 6),
                 what="output of the fully masked query 2 (zero attention, then o_proj)")
    assert_close(output[:, [0, 1, 3]], oracle(x, None, weights, 3, 1, mask)[:, [0, 1, 3]],
                 what="outputs of the other queries")


# ---------------------------------------------------------------- properties


@given(config=configs)
def test_projection_shapes_follow_num_kv_heads(impl, config):
    _, _, _, kv_heads, group, head_dim, bias = config
    heads, d_model = kv_heads * group, kv_heads * group * head_dim
    module = call(impl.MultiHeadAttention, d_model, heads, kv_heads, bias=bias)
    expected = {"q_proj": (heads * head_dim, d_model), "k_proj": (kv_heads * head_dim, d_model),
                "v_proj": (kv_heads * head_dim, d_model), "o_proj": (d_model, heads * head_dim)}
    for name, shape in expected.items():
        layer = getattr(module, name, None)
        assert isinstance(layer, torch.nn.Linear), f"{name} should be an nn.Linear, got {layer!r}"
        assert tuple(layer.weight.shape) == shape, (
            f"MultiHeadAttention({d_model}, {heads}, {kv_heads}).{name}.weight: expected "
            f"{list(shape)}, got {list(layer.weight.shape)}")
        assert (layer.bias is not None) == bias, f"{name}: bias should be {'on' if bias else 'off'}"


@given(config=configs, seed=seeds)
def test_gqa_equals_mha_with_kv_weights_repeated_per_group(impl, device, config, seed):
    x, context, d_model, heads, kv_heads, bias = _inputs(config, seed, device, cross=True)
    gqa, weights = build(impl, d_model, heads, kv_heads, bias, seed, device=device)
    group, head_dim = heads // kv_heads, d_model // heads

    def per_group(tensor):  # kv head j's rows, repeated for each query head of its group
        if tensor is None:
            return None
        blocks = tensor.reshape(kv_heads, head_dim, *tensor.shape[1:])
        return blocks.repeat_interleave(group, dim=0).reshape(heads * head_dim, *tensor.shape[1:])

    full = dict(weights)
    for name in ("k_proj", "v_proj"):
        full[name] = tuple(per_group(t) for t in weights[name])
    mha, _ = build(impl, d_model, heads, heads, bias, weights=full, device=device)
    assert_close(call(gqa, x, context), call(mha, x, context),
                 what=f"GQA ({heads} heads, {kv_heads} kv heads) vs MHA with repeated kv weights")


@given(config=configs, seed=seeds)
def test_permuting_context_positions_changes_nothing(impl, device, config, seed):
    x, context, d_model, heads, kv_heads, bias = _inputs(config, seed, device, cross=True)
    module, _ = build(impl, d_model, heads, kv_heads, bias, seed, device=device)
    order = torch.randperm(context.shape[1], generator=torch.Generator().manual_seed(seed))
    output = call(module, x, context)
    assert_close(call(module, x, context[:, order.to(device)]), output,
                 what="cross-attention output after permuting the context positions")


@given(config=configs, seed=seeds)
def test_permuting_queries_permutes_output(impl, device, config, seed):
    x, _, d_model, heads, kv_heads, bias = _inputs(config, seed, device, cross=False)
    module, _ = build(impl, d_model, heads, kv_heads, bias, seed, device=device)
    order = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(seed)).to(device)
    output = call(module, x)
    assert_close(call(module, x[:, order]), output[:, order],
                 what="self-attention output for permuted positions (no mask)")


@given(config=configs, seed=seeds)
def test_batch_elements_are_independent(impl, device, config, seed):
    x, context, d_model, heads, kv_heads, bias = _inputs(config, seed, device, cross=True)
    module, _ = build(impl, d_model, heads, kv_heads, bias, seed, device=device)
    output = call(module, x, context)
    for b in range(x.shape[0]):
        assert_close(call(module, x[b : b + 1], context[b : b + 1]), output[b : b + 1],
                     what=f"batch element {b} computed alone")


# ---------------------------------------------------------------- oracles


@given(config=configs, seed=seeds, cross=st.booleans(),
       mask_kind=st.sampled_from(("none", "bool", "float", "key_padding")))
def test_matches_sdpa_with_enable_gqa(impl, device, config, seed, cross, mask_kind):
    x, context, d_model, heads, kv_heads, bias = _inputs(config, seed, device, cross)
    module, weights = build(impl, d_model, heads, kv_heads, bias, seed, device=device)
    kv_len = x.shape[1] if context is None else context.shape[1]
    mask = None
    if mask_kind == "bool":
        mask = bernoulli((x.shape[1], kv_len), seed + 7, 0.7, device=device)
    elif mask_kind == "float":
        mask = randn((x.shape[0], heads, x.shape[1], kv_len), seed + 7, device=device)
    elif mask_kind == "key_padding":
        mask = bernoulli((x.shape[0], 1, 1, kv_len), seed + 7, 0.8, device=device)
    output = call(module, x, context, attn_mask=mask)
    assert_close(output, oracle(x, context, weights, heads, kv_heads, mask))


@given(config=configs, seed=seeds, cross=st.booleans(), masked=st.booleans())
def test_matches_nn_multihead_attention_with_copied_weights(impl, device, config, seed, cross,
                                                            masked):
    config = (*config[:3], config[3] * config[4], 1, *config[5:])  # num_kv_heads == num_heads
    x, context, d_model, heads, _, bias = _inputs(config, seed, device, cross)
    module, weights = build(impl, d_model, heads, heads, bias, seed, device=device)
    torch_mha = torch.nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=True).to(device)
    with torch.no_grad():
        torch_mha.in_proj_weight.copy_(torch.cat([weights[n][0] for n in PROJECTIONS[:3]]))
        torch_mha.out_proj.weight.copy_(weights["o_proj"][0])
        if bias:
            torch_mha.in_proj_bias.copy_(torch.cat([weights[n][1] for n in PROJECTIONS[:3]]))
            torch_mha.out_proj.bias.copy_(weights["o_proj"][1])
    source = x if context is None else context
    mask = None
    if masked:  # key 0 always allowed, so no row is fully masked (nn.MultiheadAttention gives NaN)
        mask = bernoulli((x.shape[1], source.shape[1]), seed + 7, 0.6, device=device)
        mask[:, 0] = True
    with torch.no_grad():  # nn.MultiheadAttention's bool mask means True = blocked
        expected, _ = torch_mha(x, source, source, need_weights=False,
                                attn_mask=None if mask is None else ~mask)
    assert_close(call(module, x, context, attn_mask=mask), expected)


@given(config=configs, seed=seeds, dtype=st.sampled_from((torch.float16, torch.bfloat16)))
def test_low_precision_matches_float64_and_keeps_dtype(impl, device, config, seed, dtype):
    x, context, d_model, heads, kv_heads, bias = _inputs(config, seed, device, True, dtype=dtype)
    module, weights = build(impl, d_model, heads, kv_heads, bias, seed, dtype=dtype, device=device)
    # The projections themselves round to `dtype`, so compare with a looser tolerance.
    exact = oracle(x.double(), context.double(), weights, heads, kv_heads)
    tol = 1e-2 if dtype == torch.float16 else 6e-2
    assert_close(call(module, x, context), exact.to(dtype), atol=tol, rtol=tol)


def test_large_scores_in_float16_do_not_overflow(impl, device):
    # q·k reaches ~1e5 > 65504 (float16 max): scores must be formed in float32.
    weights = _identity_weights(8, 2)
    module, _ = build(impl, 8, 2, weights=weights, dtype=torch.float16, device=device)
    x = randn((1, 4, 8), 1, device=device, scale=150.0).to(torch.float16)
    exact = oracle(x.double(), None, weights, 2, 2)
    assert_close(call(module, x), exact.to(torch.float16), atol=1e-2, rtol=1e-2)


def test_float64_module_computes_in_float64(impl, device):
    # One head of size 2, identity projections, cross-attention. The query (1e4, 0) scores the
    # keys (1, 0) and (1 + 1e-8, 1) at 1e4/√2 and (1e4 + 1e-4)/√2: float32 rounds 1 + 1e-8 to 1
    # and gives weights [0.5, 0.5]; in float64 the second weight is sigmoid(1e-4/√2).
    weights = {name: (w.double(), b) for name, (w, b) in _identity_weights(2, 1).items()}
    module, _ = build(impl, 2, 1, weights=weights, dtype=torch.float64, device=device)
    x = torch.tensor([[[1e4, 0.0]]], dtype=torch.float64, device=device)
    context = torch.tensor([[[1.0, 0.0], [1.0 + 1e-8, 1.0]]], dtype=torch.float64, device=device)
    gap = (1e4 * (1.0 + 1e-8) - 1e4) / math.sqrt(2)
    second = 1.0 / (1.0 + math.exp(-gap))
    expected = torch.tensor([[[(1 - second) + second * (1.0 + 1e-8), second]]],
                            dtype=torch.float64, device=device)
    assert_close(call(module, x, context), expected,
                 what="float64 cross-attention output (a float32 computation gives [1, 0.5])")


@pytest.mark.parametrize(("d_model", "num_heads", "num_kv_heads"),
                         [(4, 4, 1), (4, 4, 4), (4, 1, 1), (6, 3, None)])
def test_sizes_at_the_edge_of_their_range_are_accepted(impl, device, d_model, num_heads,
                                                       num_kv_heads):
    # head_dim 1, MQA (one kv head), MHA (kv heads = heads) and a single head are all valid.
    module, weights = build(impl, d_model, num_heads, num_kv_heads, device=device)
    x = randn((1, 3, d_model), 5, device=device)
    kv = num_heads if num_kv_heads is None else num_kv_heads
    assert_close(call(module, x), oracle(x, None, weights, num_heads, kv),
                 what=f"MultiHeadAttention({d_model}, {num_heads}, {num_kv_heads}) output")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("d_model", "num_heads", "num_kv_heads", "named"),
                         [(10, 4, None, (10, 4)), (12, 6, 4, (6, 4)), (12, 4, 3, (4, 3)),
                          (8, 4, 8, (4, 8))])
def test_indivisible_sizes_raise_value_error_naming_them(impl, d_model, num_heads, num_kv_heads,
                                                         named):
    with pytest.raises(ValueError) as raised:
        call(impl.MultiHeadAttention, d_model, num_heads, num_kv_heads)
    message = str(raised.value)
    for value in named:
        assert re.search(rf"\b{value}\b", message), (
            f"MultiHeadAttention({d_model}, {num_heads}, {num_kv_heads}): the ValueError should "
            f"name {value}; it said: {message!r}")

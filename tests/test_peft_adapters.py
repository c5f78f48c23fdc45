"""Grader for the `peft_adapters` kata: adapter, prefix tuning and prompt tuning."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size

IGNORE = -100
# (batch, seq, heads, head_dim / 2, virtual)
configs = st.tuples(size(3), size(5), size(2), size(2), size(3))


def _attention(ref, d_model, heads, seed, dtype=torch.float64):
    torch.manual_seed(seed)
    return ref.TinyAttention(d_model, heads).to(dtype)


def _oracle(attn, x, attention_mask, prefix_key, prefix_value):
    """[prefix; x] attention written out: prefixes visible to all, positions 0..seq-1."""
    batch, seq, _ = x.shape
    positions = torch.arange(seq).expand(batch, seq)
    query, key, value = attn.project(x, positions)
    key = torch.cat([prefix_key.expand(batch, -1, -1, -1), key], 2)
    value = torch.cat([prefix_value.expand(batch, -1, -1, -1), value], 2)
    virtual = prefix_key.shape[1]
    scores = query @ key.transpose(-1, -2) / math.sqrt(attn.head_dim)
    allowed = torch.ones(batch, 1, seq, virtual + seq, dtype=torch.bool)
    allowed[..., virtual:] = torch.ones(seq, seq, dtype=torch.bool).tril() & \
        attention_mask.bool()[:, None, None, :]
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1)
    out = (weights @ value).transpose(1, 2).reshape(batch, seq, -1)
    return attn.o_proj(out)


def _prefix_layer(impl, ref, config, seed):
    batch, seq, heads, half, virtual = config
    d_model = heads * 2 * half
    attn = _attention(ref, d_model, heads, seed)
    layer = call(impl.PrefixAttention, attn, virtual)
    with torch.no_grad():
        layer.prefix_key.copy_(randn((heads, virtual, 2 * half), seed + 1, dtype=torch.float64))
        layer.prefix_value.copy_(randn((heads, virtual, 2 * half), seed + 2,
                                       dtype=torch.float64))
    lengths = torch.randint(1, seq + 1, (batch,), generator=torch.Generator().manual_seed(seed))
    mask = (torch.arange(seq)[None, :] < lengths[:, None]).long()
    x = randn((batch, seq, d_model), seed + 3, dtype=torch.float64)
    return layer, attn, x, mask


# ---------------------------------------------------------------- worked examples


def test_bottleneck_adapter_worked_example(impl):
    adapter = call(impl.BottleneckAdapter, 2, 1)
    with torch.no_grad():
        adapter.down.weight.copy_(torch.tensor([[1.0, -1.0]]))
        adapter.down.bias.zero_()
        adapter.up.weight.copy_(torch.tensor([[2.0], [3.0]]))
        adapter.up.bias.copy_(torch.tensor([0.5, -0.5]))
    hidden = torch.tensor([[3.0, 1.0], [1.0, 3.0]])
    # row 0: down = 2, relu 2, up = [4.5, 5.5], plus h; row 1: down = -2, relu 0, up = bias
    expected = torch.tensor([[3.0 + 4.5, 1.0 + 5.5], [1.0 + 0.5, 3.0 - 0.5]])
    assert_close(call(adapter, hidden), expected, what="adapter h + up(relu(down(h)))")


def test_prefix_attention_worked_example(impl, ref):
    # one head, head_dim 2, identity projections without bias; a single real token at position
    # 0 (no rotation): q = k = v = x = [1, 0]; prefixes k = [0, 0], [2, 0], v = [1, 1], [0, 2]
    attn = ref.TinyAttention(2, 1).double()
    with torch.no_grad():
        for proj in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj):
            proj.weight.copy_(torch.eye(2))
            proj.bias.zero_()
    layer = call(impl.PrefixAttention, attn, 2)
    with torch.no_grad():
        layer.prefix_key.copy_(torch.tensor([[[0.0, 0.0], [2.0, 0.0]]]))
        layer.prefix_value.copy_(torch.tensor([[[1.0, 1.0], [0.0, 2.0]]]))
    x = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    # the first (and only) query sees both prefixes and itself: scores [0, 2, 1] / sqrt(2)
    exps = [math.exp(s / math.sqrt(2)) for s in (0.0, 2.0, 1.0)]
    w = [e / sum(exps) for e in exps]
    expected = torch.tensor([[[w[0] * 1 + w[1] * 0 + w[2] * 1, w[0] * 1 + w[1] * 2 + w[2] * 0]]],
                            dtype=torch.float64)
    assert_close(call(layer, x, torch.ones(1, 1, dtype=torch.long)), expected,
                 what="PrefixAttention on one token (attends to both prefixes and itself)")


def test_prompt_tuning_worked_example(impl):
    embedding = torch.nn.Embedding(5, 2)
    with torch.no_grad():
        embedding.weight.copy_(torch.arange(10.0).view(5, 2))
    prompt = call(impl.PromptTuning, embedding, 2)
    with torch.no_grad():
        prompt.prompt_embeddings.copy_(torch.tensor([[-1.0, -2.0], [-3.0, -4.0]]))
    input_ids = torch.tensor([[4, 1, 0]])
    out = call(prompt, input_ids, torch.tensor([[1, 1, 0]]), torch.tensor([[IGNORE, 1, 0]]))
    expected = torch.tensor([[[-1.0, -2.0], [-3.0, -4.0], [8.0, 9.0], [2.0, 3.0], [0.0, 1.0]]])
    assert_close(out["inputs_embeds"], expected,
                 what="inputs_embeds (the 2 virtual tokens, then the embedded input_ids)")
    assert_equal(out["attention_mask"], torch.tensor([[1, 1, 1, 1, 0]]),
                 what="attention_mask (1 on the virtual tokens, then the original mask)")
    assert_equal(out["labels"], torch.tensor([[IGNORE, IGNORE, IGNORE, 1, 0]]),
                 what="labels (-100 on the virtual tokens, then the original labels)")


# ---------------------------------------------------------------- properties


@given(batch=size(3), d_model=size(6), bottleneck=size(4), seed=seeds)
def test_adapter_starts_as_the_identity(impl, batch, d_model, bottleneck, seed):
    torch.manual_seed(seed)
    adapter = call(impl.BottleneckAdapter, d_model, bottleneck)
    hidden = randn((batch, 3, d_model), seed)
    out = call(adapter, hidden)
    assert_close(out.detach(), hidden, what="a fresh adapter's output (the identity)")
    out.sum().backward()
    assert adapter.up.bias.grad is not None and bool(adapter.up.bias.grad.any()), (
        "the up projection must get a gradient at initialisation")


@given(config=configs, seed=seeds)
def test_prefix_attention_matches_attention_over_prefix_and_tokens(impl, ref, config, seed):
    layer, attn, x, mask = _prefix_layer(impl, ref, config, seed)
    out = call(layer, x, mask)
    expected = _oracle(attn, x, mask, layer.prefix_key.detach(), layer.prefix_value.detach())
    real = mask.bool()[..., None].expand_as(expected)
    assert_close(out.detach()[real], expected.detach()[real],
                 what="PrefixAttention output at real tokens (prefixes visible to every query, "
                      "real positions 0..seq-1)")


@given(config=configs, seed=seeds)
def test_each_row_of_the_batch_is_independent_of_the_others(impl, ref, config, seed):
    layer, _, x, mask = _prefix_layer(impl, ref, config, seed)
    together = call(layer, x, mask).detach()
    last = int(mask[-1].sum())
    alone = call(layer, x[-1:, :last], mask[-1:, :last]).detach()
    assert_close(together[-1, :last], alone[0],
                 what="the last row's real tokens in the batch vs alone without its padding")


@given(config=configs, seed=seeds)
def test_only_the_prefixes_are_trained(impl, ref, config, seed):
    layer, attn, x, mask = _prefix_layer(impl, ref, config, seed)
    assert not any(p.requires_grad for p in attn.parameters()), (
        "the wrapped attention must be frozen (requires_grad False)")
    call(layer, x, mask)[mask.bool()].sum().backward()
    assert all(p.grad is None for p in attn.parameters()), "the frozen attention got a gradient"
    assert layer.prefix_key.grad is not None and layer.prefix_value.grad is not None, (
        "prefix_key and prefix_value must get gradients")
    assert bool(layer.prefix_value.grad.abs().sum() > 0), "prefix_value's gradient is all zero"


@given(batch=size(3), seq=size(5), virtual=size(3), seed=seeds)
def test_prompt_tuning_trains_only_the_prompt(impl, batch, seq, virtual, seed):
    torch.manual_seed(seed)
    embedding = torch.nn.Embedding(11, 4)
    prompt = call(impl.PromptTuning, embedding, virtual)
    assert tuple(prompt.prompt_embeddings.shape) == (virtual, 4), (
        "prompt_embeddings must have shape (num_virtual_tokens, d_model)")
    assert not embedding.weight.requires_grad, "the embedding must be frozen"
    input_ids = torch.randint(0, 11, (batch, seq), generator=torch.Generator().manual_seed(seed))
    out = call(prompt, input_ids, torch.ones(batch, seq, dtype=torch.long))
    assert out["labels"] is None, "labels=None should give labels None"
    assert_close(out["inputs_embeds"][:, virtual:].detach(), embedding(input_ids).detach(),
                 what="inputs_embeds after the virtual tokens")
    out["inputs_embeds"].pow(2).sum().backward()
    assert_close(prompt.prompt_embeddings.grad, 2 * batch * prompt.prompt_embeddings.detach(),
                 what="d sum(inputs_embeds²) / d prompt_embeddings (shared by the batch)")
    assert embedding.weight.grad is None, "the frozen embedding got a gradient"


# ---------------------------------------------------------------- bad input


def test_zero_virtual_tokens_raise_value_error(impl, ref):
    attn = _attention(ref, 4, 2, 0)
    call(impl.PrefixAttention, attn, 1)
    call(impl.PromptTuning, torch.nn.Embedding(3, 4), 1)
    with pytest.raises(ValueError):
        call(impl.PrefixAttention, attn, 0)
    with pytest.raises(ValueError):
        call(impl.PromptTuning, torch.nn.Embedding(3, 4), 0)

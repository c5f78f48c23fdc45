"""Grader for the `transformer_block` kata: worked examples, properties, then the reference."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import randn, seeds, size

# (vocab, heads, num_layers, head_dim, d_ff); d_model = heads * head_dim, head_dim even for RoPE
# Building a model per example is the slow part: model tests draw fewer examples.
few = settings(max_examples=20)
configs = st.tuples(size(7, 2), size(3), size(3, 0), st.sampled_from((2, 4)), size(6))


def _fill(model, seed, device, dtype=torch.float32):
    """Seeded random weights everywhere, norm weights included (so that swapped norms show)."""
    with torch.no_grad():
        for index, (_, param) in enumerate(sorted(model.named_parameters())):
            param.copy_(randn(param.shape, seed + index, scale=0.5) + (param.dim() == 1))
    return model.to(device=device, dtype=dtype)


def _lm(module, config, seed, device, dtype=torch.float32, eps=1e-6):
    vocab, heads, num_layers, head_dim, d_ff = config
    model = module.TinyLM(vocab, heads * head_dim, num_layers, heads, d_ff, eps=eps)
    return _fill(model, seed, device, dtype)


def _ids(batch, seq, vocab, seed, device):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, seq), generator=generator).to(device)


def _zero_sublayer_outputs(model):
    """Zero the output projections of every attention and MLP: each sub-layer then returns 0."""
    blocks = model.blocks if hasattr(model, "blocks") else [model]
    with torch.no_grad():
        for block in blocks:
            block.attn.o_proj.weight.zero_()
            block.mlp.down.weight.zero_()
    return model


# ---------------------------------------------------------------- worked examples


def test_model_without_blocks_worked_example(impl, device):
    # No blocks: logits = rmsnorm(E[id]) · Eᵀ. With eps = 0 and unit norm weights:
    # E[0] = (1, 0) has rms 1/√2 -> (√2, 0); E[2] = (3, 4) has rms 5/√2 -> (3√2/5, 4√2/5).
    model = impl.TinyLM(vocab=3, d_model=2, num_layers=0, num_heads=1, d_ff=2, eps=0.0)
    with torch.no_grad():
        model.embed.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]]))
    model.to(device)
    r = math.sqrt(2)
    expected = torch.tensor([[[r, 0.0, 3 * r], [3 * r / 5, 8 * r / 5, 5 * r]]], device=device)
    logits = call(model.forward, torch.tensor([[0, 2]], device=device))
    assert_close(logits, expected, what="logits of TinyLM with no blocks (embed -> norm -> Eᵀ)")


def test_final_norm_weight_scales_the_logits(impl, device):
    # The final norm's weight multiplies each feature of h before the tied head.
    model = impl.TinyLM(vocab=2, d_model=2, num_layers=0, num_heads=1, d_ff=2, eps=0.0)
    with torch.no_grad():
        model.embed.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0]]))
        model.norm.weight.copy_(torch.tensor([2.0, 0.5]))
    model.to(device)
    # rmsnorm((1, 1)) = (1, 1); times (2, 0.5) -> (2, 0.5); logits = (2.5, 1.5)
    logits = call(model.forward, torch.tensor([[0]], device=device))
    assert_close(logits, torch.tensor([[[2.5, 1.5]]], device=device),
                 what="logits: the final norm's weight must be applied before the head")


def test_tied_head_passes_gradients_to_the_shared_embedding(impl, device):
    # Token 2 is not in the input, so row 2 of the embedding reaches logit[..., 2] only through
    # the tied head: d logit_2 / d E[2] = h = rmsnorm(E[0]) = (√2, 0) with eps 0.
    model = impl.TinyLM(vocab=3, d_model=2, num_layers=0, num_heads=1, d_ff=2, eps=0.0)
    with torch.no_grad():
        model.embed.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]]))
    model.to(device)
    logits = call(model.forward, torch.tensor([[0]], device=device))
    logits[0, 0, 2].backward()
    grad = model.embed.weight.grad
    assert grad is not None, (
        "embed.weight got no gradient from the logits: the head must be embed.weight itself "
        "(logits = h @ embed.weight.T), not a detached copy")
    assert_close(grad[2], torch.tensor([math.sqrt(2), 0.0], device=device),
                 what="gradient of logit 2 with respect to embedding row 2 (through the tied head)")


# ---------------------------------------------------------------- properties


@few
@given(config=configs, seed=seeds, batch=size(2), seq=size(5))
def test_block_with_zeroed_sublayers_leaves_stream_unchanged(impl, device, config, seed, batch,
                                                             seq):
    _, heads, _, head_dim, d_ff = config
    block = _fill(impl.DecoderBlock(heads * head_dim, heads, d_ff), seed, device)
    _zero_sublayer_outputs(block)
    x = randn((batch, seq, heads * head_dim), seed, device=device, scale=3.0)
    out = call(block.forward, x)
    assert_close(out, x, what="block output when every sub-layer returns 0 (pre-norm: the "
                              "residual stream passes through untouched; is the stream itself "
                              "normalised?)")


@few
@given(config=configs, seed=seeds, batch=size(2), seq=size(5))
def test_model_with_zeroed_sublayers_equals_model_without_blocks(impl, device, config, seed,
                                                                 batch, seq):
    vocab, heads, num_layers, head_dim, d_ff = config
    model = _zero_sublayer_outputs(_lm(impl, (vocab, heads, max(num_layers, 1), head_dim, d_ff),
                                       seed, device))
    ids = _ids(batch, seq, vocab, seed, device)
    embedding = model.embed.weight.detach()
    h = embedding[ids]
    normed = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6) * model.norm.weight.detach()
    logits = call(model.forward, ids)
    assert_close(logits, normed @ embedding.T,
                 what="logits with zeroed sub-layers: rmsnorm(E[ids]) · final-norm weight · Eᵀ")


@few
@given(config=configs, seed=seeds, scale=st.floats(0.1, 10.0),
       which=st.sampled_from(("attn", "mlp")))
def test_sublayer_update_is_invariant_to_stream_scale(impl, device, config, seed, scale, which):
    # With eps = 0, norm(c·x) = norm(x): a sub-layer that reads a normalised stream adds the
    # same update to c·x as to x. Silence the other sub-layer so only one update remains.
    _, heads, _, head_dim, d_ff = config
    block = _fill(impl.DecoderBlock(heads * head_dim, heads, d_ff, eps=0.0), seed, device)
    with torch.no_grad():
        (block.mlp.down if which == "attn" else block.attn.o_proj).weight.zero_()
    x = randn((2, 4, heads * head_dim), seed, device=device)
    update = call(block.forward, x) - x
    scaled_update = call(block.forward, x * scale) - x * scale
    assert_close(scaled_update, update, what=f"{which} update for the stream scaled by "
                                             f"{scale:g} (does the sub-layer read its norm?)")


@few
@given(config=configs, seed=seeds, batch=size(2), seq=size(6, 2), data=st.data())
def test_logits_at_t_ignore_tokens_after_t(impl, device, config, seed, batch, seq, data):
    vocab = config[0]
    model = _lm(impl, config, seed, device)
    ids = _ids(batch, seq, vocab, seed, device)
    t = data.draw(st.integers(0, seq - 2), label="t")
    changed = ids.clone()
    changed[:, t + 1:] = (ids[:, t + 1:] + 1) % vocab
    before = call(model.forward, ids)
    after = call(model.forward, changed)
    assert_close(after[:, : t + 1], before[:, : t + 1],
                 what=f"logits at positions <= {t} after changing the tokens after {t}")


@few
@given(config=configs, seed=seeds, seq=size(5))
def test_sequences_in_a_batch_are_independent(impl, device, config, seed, seq):
    model = _lm(impl, config, seed, device)
    ids = _ids(2, seq, config[0], seed, device)
    together = call(model.forward, ids)
    for b in range(2):
        alone = call(model.forward, ids[b : b + 1])
        assert_close(alone, together[b : b + 1], what=f"logits of batch row {b} computed alone")


# ---------------------------------------------------------------- reference


@few
@given(config=configs, seed=seeds, batch=size(2), seq=size(5))
def test_block_matches_reference(impl, ref, device, config, seed, batch, seq):
    _, heads, _, head_dim, d_ff = config
    block = _fill(impl.DecoderBlock(heads * head_dim, heads, d_ff), seed, device)
    expected_block = _fill(ref.DecoderBlock(heads * head_dim, heads, d_ff), seed, device)
    x = randn((batch, seq, heads * head_dim), seed, device=device)
    assert_close(call(block.forward, x), expected_block(x), what="DecoderBlock output")


@few
@given(config=configs, seed=seeds, batch=size(2), seq=size(5))
def test_model_matches_reference(impl, ref, device, config, seed, batch, seq):
    model, expected_model = _lm(impl, config, seed, device), _lm(ref, config, seed, device)
    ids = _ids(batch, seq, config[0], seed, device)
    assert_close(call(model.forward, ids), expected_model(ids), what="TinyLM logits")


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_dtypes_match_float64_and_keep_dtype(impl, ref, device, dtype):
    config = (7, 2, 2, 4, 6)
    model = _lm(impl, config, 3, device, dtype=dtype)
    exact = _lm(ref, config, 3, device, dtype=torch.float64)
    exact.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    ids = _ids(2, 5, 7, 3, device)
    assert_close(call(model.forward, ids), exact(ids).to(dtype),
                 what=f"logits of a {dtype} model", atol=0.1 if dtype == torch.bfloat16 else None)


# ---------------------------------------------------------------- bad input


def test_token_id_outside_vocabulary_raises_value_error_naming_it(impl, device):
    model = _lm(impl, (5, 1, 1, 2, 3), 0, device)
    with pytest.raises(ValueError) as raised:
        call(model.forward, torch.tensor([[1, 2, 9]], device=device))
    assert "9" in str(raised.value), f"the ValueError should name the id 9: {raised.value}"
    with pytest.raises(ValueError):  # the first id outside [0, 5) is 5, the vocabulary size
        call(model.forward, torch.tensor([[0, 5]], device=device))
    with pytest.raises(ValueError):
        call(model.forward, torch.tensor([[-1, 0]], device=device))


def test_first_and_last_ids_of_the_vocabulary_are_accepted(impl, device):
    model = _lm(impl, (5, 1, 1, 2, 3), 0, device)
    logits = call(model.forward, torch.tensor([[0, 4]], device=device))
    assert logits.shape == (1, 2, 5), (
        f"ids 0 and vocab - 1 = 4 are valid: expected logits of shape [1, 2, 5], got "
        f"{list(logits.shape)}")


def test_one_dimensional_input_ids_raise_value_error(impl, device):
    model = _lm(impl, (5, 1, 1, 2, 3), 0, device)
    with pytest.raises(ValueError):
        call(model.forward, torch.tensor([1, 2, 3], device=device))

"""masking vs torch's causal_lower_right and transformers' masking_utils and generate."""

import pytest
import torch

CASES = 150


def _case(seed: int):
    g = torch.Generator().manual_seed(seed)
    batch, q_len = (int(v) for v in torch.randint(1, 6, (2,), generator=g))
    kv_len = q_len + int(torch.randint(0, 6, (), generator=g))
    window = int(torch.randint(1, kv_len + 2, (), generator=g))
    lengths = torch.randint(0, kv_len + 1, (batch,), generator=g)
    side = ("right", "left")[seed % 2]
    return batch, q_len, kv_len, window, lengths, side


def _grid(fn, batch, q_len, kv_len):
    """Evaluate a transformers mask function (batch, head, q, kv) -> bool on the index grid."""
    b = torch.arange(batch)[:, None, None, None]
    q = torch.arange(q_len)[None, None, :, None]
    kv = torch.arange(kv_len)[None, None, None, :]
    return fn(b, torch.zeros_like(b), q, kv).expand(batch, 1, q_len, kv_len)


def test_causal_mask_matches_torch_causal_lower_right(ref, oracle):
    from torch.nn.attention.bias import causal_lower_right

    oracle.uses("torch")
    for seed in range(CASES):
        _, q_len, kv_len, *_ = _case(seed)
        for q, kv in ((q_len, kv_len), (kv_len, q_len)):  # q_len > kv_len too
            expected = causal_lower_right(q, kv)._materialize().bool()
            oracle.compare(ref.causal_mask(q, kv), expected, atol=0,
                           what=f"causal_mask({q}, {kv})")


def test_combined_masks_match_transformers_mask_functions(ref, oracle):
    pytest.importorskip("transformers")
    from transformers import masking_utils as mu

    oracle.uses("transformers")
    for seed in range(CASES):
        batch, q_len, kv_len, window, lengths, side = _case(seed)
        attention_mask = ref.padding_mask(lengths, kv_len, side=side)
        # the queries are the last q_len positions: shift their indices by kv_len - q_len
        for causal, win in ((True, None), (True, window), (False, None)):
            if not causal:
                pattern = mu.bidirectional_mask_function
            elif win is None:
                pattern = mu.causal_mask_function
            else:
                pattern = mu.sliding_window_causal_mask_function(win)
            fn = mu.and_masks(mu.add_offsets_to_mask_function(pattern, kv_len - q_len, 0),
                              mu.padding_mask_function(attention_mask))
            expected = _grid(fn, batch, q_len, kv_len)
            actual = ref.combine_masks(attention_mask, q_len=q_len, causal=causal, window=win)
            oracle.compare(actual, expected, atol=0,
                           what=f"combine_masks(causal={causal}, window={win}), seed {seed}")


def test_position_ids_match_transformers_generate(ref, oracle):
    pytest.importorskip("transformers")
    from transformers.generation.utils import GenerationMixin

    oracle.uses("transformers")
    for seed in range(CASES):
        batch, _, kv_len, _, lengths, side = _case(seed)
        attention_mask = ref.padding_mask(lengths, kv_len, side=side)
        if seed % 3 == 0:  # any pattern, not only padding
            g = torch.Generator().manual_seed(seed)
            attention_mask = torch.rand(batch, kv_len, generator=g) < 0.6
        input_ids = torch.zeros(batch, kv_len, dtype=torch.long)
        expected = GenerationMixin._prepare_position_ids_for_generation(
            None, input_ids, {"attention_mask": attention_mask.long()})
        oracle.compare(ref.position_ids(attention_mask), expected, atol=0,
                       what=f"position_ids, seed {seed}")


def test_to_additive_matches_transformers_mask_converter(ref, oracle):
    # transformers 4.x-5.2x shipped AttentionMaskConverter; later 5.x dropped the module (its
    # masking_utils builds the same finfo.min masks inline), so the check runs where it exists.
    converter = pytest.importorskip("transformers.modeling_attn_mask_utils",
                                    reason="this transformers has no AttentionMaskConverter")
    AttentionMaskConverter = converter.AttentionMaskConverter

    oracle.uses("transformers")
    for seed in range(CASES):
        batch, _, kv_len, _, lengths, side = _case(seed)
        attention_mask = ref.padding_mask(lengths, kv_len, side=side)
        for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
            # (batch, kv_len) -> (batch, 1, 1, kv_len): 0 where attended, finfo.min elsewhere
            expected = AttentionMaskConverter._expand_mask(attention_mask.long(), dtype, tgt_len=1)
            actual = ref.to_additive(attention_mask[:, None, None, :], dtype)
            oracle.compare(actual, expected, atol=0, what=f"to_additive({dtype}), seed {seed}")

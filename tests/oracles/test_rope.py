"""rope vs transformers' Llama rotary embedding (half-split) and GPT-J's (interleaved)."""

import pytest
import torch

CASES = 100


def _case(seed: int):
    g = torch.Generator().manual_seed(seed)
    batch, heads, seq = (int(v) for v in torch.randint(1, 5, (3,), generator=g))
    head_dim = 2 * int(torch.randint(1, 9, (), generator=g))
    base = [10000.0, 500000.0, 100.0][seed % 3]
    max_position = seq + int(torch.randint(0, 3000, (), generator=g))
    positions = torch.randint(0, max_position, (batch, seq), generator=g)
    x = torch.randn(batch, heads, seq, head_dim, generator=g)
    return x, positions, head_dim, base, max_position


def test_half_split_matches_transformers_llama(ref, oracle):
    pytest.importorskip("transformers")
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    oracle.uses("transformers")
    for seed in range(CASES):
        x, positions, head_dim, base, max_position = _case(seed)
        config = LlamaConfig(hidden_size=head_dim, num_attention_heads=1, head_dim=head_dim,
                             rope_theta=base, max_position_embeddings=max_position)
        cos, sin = LlamaRotaryEmbedding(config)(x, positions)
        expected, _ = apply_rotary_pos_emb(x, x, cos, sin)
        actual = ref.apply_rope(x, *ref.rope_tables(head_dim, max_position, base), positions)
        oracle.compare(actual, expected, atol=1e-5, what=f"apply_rope, seed {seed}")


def test_interleaved_matches_transformers_gptj(ref, oracle):
    pytest.importorskip("transformers")
    from transformers.models.gptj.modeling_gptj import (
        apply_rotary_pos_emb,
        create_sinusoidal_positions,
    )

    oracle.uses("transformers")
    for seed in range(CASES):
        x, positions, head_dim, base, max_position = _case(seed)
        if base != 10000.0:
            continue  # GPT-J's table is fixed to base 10000
        table = create_sinusoidal_positions(max_position, head_dim)  # (positions, [sin | cos])
        sin, cos = torch.split(table[positions], head_dim // 2, dim=-1)  # (batch, seq, pair)
        # GPT-J rotates (batch, seq, heads, head_dim); it interleaves the (batch, seq, pair) tables.
        expected = apply_rotary_pos_emb(x.transpose(1, 2), sin, cos)
        actual = ref.apply_rope(x, *ref.rope_tables(head_dim, max_position, base), positions,
                                interleaved=True)
        oracle.compare(actual, expected.transpose(1, 2), atol=1e-5,
                       what=f"apply_rope(interleaved=True), seed {seed}")

"""kv_cache vs transformers' DynamicCache (update / sequence length) and Llama's RoPE."""

import pytest
import torch

CASES = 60


def test_cache_updates_match_transformers_dynamic_cache(ref, oracle):
    pytest.importorskip("transformers")
    from transformers import DynamicCache

    oracle.uses("transformers")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        layers, batch, heads, head_dim = (int(v) for v in torch.randint(1, 4, (4,), generator=g))
        ours, theirs = ref.KVCache(layers), DynamicCache()
        for step in range(int(torch.randint(1, 6, (), generator=g))):
            for layer in range(layers):
                seq = int(torch.randint(1, 4, (), generator=g))
                key = torch.randn(batch, heads, seq, head_dim, generator=g)
                value = torch.randn(batch, heads, seq, head_dim, generator=g)
                keys, values = ours.update(layer, key, value)
                their_keys, their_values = theirs.update(key, value, layer)
                oracle.compare(keys, their_keys, atol=0, what=f"keys, seed {seed} step {step}")
                oracle.compare(values, their_values, atol=0, what=f"values, seed {seed}")
                oracle.equal(ours.seq_length(layer), theirs.get_seq_length(layer),
                             what=f"sequence length of layer {layer}, seed {seed}")


def test_rope_matches_transformers_llama(ref, oracle):
    pytest.importorskip("transformers")
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    oracle.uses("transformers")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        batch, heads, seq = (int(v) for v in torch.randint(1, 5, (3,), generator=g))
        head_dim = 2 * int(torch.randint(1, 9, (), generator=g))
        base = [10000.0, 500000.0][seed % 2]
        start = int(torch.randint(0, 2000, (), generator=g))
        positions = torch.arange(start, start + seq)
        x = torch.randn(batch, heads, seq, head_dim, generator=g)
        config = LlamaConfig(hidden_size=head_dim, num_attention_heads=1, head_dim=head_dim,
                             rope_theta=base)
        cos, sin = LlamaRotaryEmbedding(config)(x, positions[None])
        expected, _ = apply_rotary_pos_emb(x, x, cos, sin)
        oracle.compare(ref.apply_rope(x, positions, base), expected, atol=1e-4,
                       what=f"apply_rope, seed {seed}")

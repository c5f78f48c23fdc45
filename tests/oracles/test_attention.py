"""attention vs torch.nn.functional.scaled_dot_product_attention (torch >= 2.5 safe softmax)."""

import torch
import torch.nn.functional as F

CASES = 200


def _case(seed: int):
    g = torch.Generator().manual_seed(seed)
    batch, heads, q_len, kv_len, head_dim, head_dim_v = (
        int(v) for v in torch.randint(1, 7, (6,), generator=g))
    query = torch.randn(batch, heads, q_len, head_dim, generator=g, dtype=torch.float64)
    key = torch.randn(batch, heads, kv_len, head_dim, generator=g, dtype=torch.float64)
    value = torch.randn(batch, heads, kv_len, head_dim_v, generator=g, dtype=torch.float64)
    kind = seed % 4
    mask, causal = None, False
    if kind == 1:
        mask = torch.rand(batch, 1, q_len, kv_len, generator=g) < 0.6  # rows may be all False
    elif kind == 2:
        mask = torch.randn(1, heads, q_len, kv_len, generator=g, dtype=torch.float64)
    elif kind == 3:
        causal = True
    scale = None if seed % 3 else float(torch.rand((), generator=g)) + 0.1
    return query, key, value, mask, causal, scale


def test_output_and_weights_match_torch_sdpa(ref, oracle):
    oracle.uses("torch")
    for seed in range(CASES):
        query, key, value, mask, causal, scale = _case(seed)
        output, weights = ref.scaled_dot_product_attention(query, key, value, mask, causal, scale)
        expected = F.scaled_dot_product_attention(query, key, value, attn_mask=mask,
                                                  is_causal=causal, scale=scale)
        oracle.compare(output, expected, atol=1e-10, what=f"output, seed {seed}")
        # SDPA with the identity as value returns the attention weights themselves.
        eye = torch.eye(key.shape[-2], dtype=key.dtype).expand(*key.shape[:-1], -1)
        expected = F.scaled_dot_product_attention(query, key, eye, attn_mask=mask,
                                                  is_causal=causal, scale=scale)
        oracle.compare(weights, expected, atol=1e-10, what=f"weights, seed {seed}")

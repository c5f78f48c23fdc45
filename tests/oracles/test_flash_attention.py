"""flash_attention vs torch.nn.functional.scaled_dot_product_attention and torch.logsumexp."""

import math

import torch
import torch.nn.functional as F

CASES = 100


def test_output_and_logsumexp_match_torch(ref, oracle):
    oracle.uses("torch")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        batch, heads, head_dim = (int(v) for v in torch.randint(1, 5, (3,), generator=g))
        q_len, kv_len = (int(v) for v in torch.randint(1, 40, (2,), generator=g))
        causal = bool(seed % 2) and q_len <= kv_len  # top-left causal: every query sees a key
        query = torch.randn(batch, heads, q_len, head_dim, generator=g, dtype=torch.float64)
        key = torch.randn(batch, heads, kv_len, head_dim, generator=g, dtype=torch.float64)
        value = torch.randn(batch, heads, kv_len, head_dim, generator=g, dtype=torch.float64)
        blocks = [int(v) for v in torch.randint(1, 17, (2,), generator=g)]
        output, lse = ref.flash_attention(query, key, value, causal, None, *blocks)
        expected = F.scaled_dot_product_attention(query, key, value, is_causal=causal)
        oracle.compare(output, expected, atol=1e-10, what=f"output, seed {seed}")
        scores = query @ key.transpose(-2, -1) / math.sqrt(head_dim)
        if causal:
            keep = torch.ones(q_len, kv_len, dtype=torch.bool).tril()
            scores = scores.masked_fill(~keep, float("-inf"))
        oracle.compare(lse, torch.logsumexp(scores, dim=-1), atol=1e-10,
                       what=f"logsumexp, seed {seed}")

"""multihead_attention vs transformers' LlamaAttention (GQA, q/k/v/o_proj; RoPE switched off
with cos = 1, sin = 0) and torch.nn.MultiheadAttention (cross-attention, biases)."""

import pytest
import torch

CASES = 80


def _draw(seed: int):
    g = torch.Generator().manual_seed(seed)
    num_kv_heads = int(torch.randint(1, 4, (), generator=g))
    num_heads = num_kv_heads * int(torch.randint(1, 4, (), generator=g))
    head_dim = 2 * int(torch.randint(1, 5, (), generator=g))
    batch, q_len, kv_len = (int(v) for v in torch.randint(1, 7, (3,), generator=g))
    return g, num_heads, num_kv_heads, head_dim, batch, q_len, kv_len


def test_self_attention_matches_transformers_llama_attention(ref, oracle):
    pytest.importorskip("transformers")
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaAttention

    oracle.uses("transformers")
    # float32: transformers' eager attention runs its softmax in float32 even for float64.
    for seed in range(CASES):
        g, num_heads, num_kv_heads, head_dim, batch, q_len, _ = _draw(seed)
        d_model = num_heads * head_dim
        config = LlamaConfig(hidden_size=d_model, num_attention_heads=num_heads,
                             num_key_value_heads=num_kv_heads, head_dim=head_dim)
        config._attn_implementation = "eager"
        theirs = LlamaAttention(config, layer_idx=0).eval()
        ours = ref.MultiHeadAttention(d_model, num_heads, num_kv_heads)
        with torch.no_grad():
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                weight = torch.randn(getattr(theirs, name).weight.shape, generator=g)
                getattr(theirs, name).weight.copy_(weight)
                getattr(ours, name).weight.copy_(weight)
            x = torch.randn(batch, q_len, d_model, generator=g, dtype=torch.float32)
            keep = torch.ones(q_len, q_len, dtype=torch.bool).tril()
            additive = torch.zeros(q_len, q_len, dtype=torch.float32).masked_fill(
                ~keep, torch.finfo(torch.float32).min)[None, None]
            identity = (torch.ones(batch, q_len, head_dim, dtype=torch.float32),
                        torch.zeros(batch, q_len, head_dim, dtype=torch.float32))
            expected, _ = theirs(x, identity, additive)
            oracle.compare(ours(x, attn_mask=keep), expected, atol=1e-5,
                           what=f"causal GQA self-attention, seed {seed}")


def test_cross_attention_matches_torch_multihead_attention(ref, oracle):
    oracle.uses("torch")
    for seed in range(CASES):
        g, num_heads, _, head_dim, batch, q_len, kv_len = _draw(seed)
        d_model = num_heads * head_dim
        theirs = torch.nn.MultiheadAttention(d_model, num_heads, bias=True, batch_first=True)
        theirs = theirs.double()
        ours = ref.MultiHeadAttention(d_model, num_heads, bias=True).double()
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
            w, b = theirs.in_proj_weight, theirs.in_proj_bias
            for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
                getattr(ours, name).weight.copy_(w[i * d_model:(i + 1) * d_model])
                getattr(ours, name).bias.copy_(b[i * d_model:(i + 1) * d_model])
            ours.o_proj.weight.copy_(theirs.out_proj.weight)
            ours.o_proj.bias.copy_(theirs.out_proj.bias)
            x = torch.randn(batch, q_len, d_model, generator=g, dtype=torch.float64)
            context = torch.randn(batch, kv_len, d_model, generator=g, dtype=torch.float64)
            padding = torch.rand(batch, kv_len, generator=g) < 0.8
            padding[:, 0] = True  # every query sees a key
            expected, _ = theirs(x, context, context, key_padding_mask=~padding)
            actual = ours(x, context, attn_mask=padding[:, None, None, :])
            oracle.compare(actual, expected, atol=1e-10, what=f"cross-attention, seed {seed}")

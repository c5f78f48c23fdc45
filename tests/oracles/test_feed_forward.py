"""feed_forward vs torch's GELU and transformers' LlamaMLP (SwiGLU)."""

import pytest
import torch
import torch.nn.functional as F

CASES = 100


def test_gelu_matches_torch(ref, oracle):
    oracle.uses("torch")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(int(torch.randint(1, 50, (), generator=g)), generator=g,
                        dtype=torch.float64) * 4
        approximate = ("none", "tanh")[seed % 2]
        oracle.compare(ref.gelu(x, approximate), F.gelu(x, approximate=approximate),
                       atol=1e-12, what=f"gelu({approximate}), seed {seed}")


def test_swiglu_matches_transformers_llama_mlp(ref, oracle):
    pytest.importorskip("transformers")
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaMLP

    oracle.uses("transformers")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        d_model, d_ff, batch, seq = (int(v) for v in torch.randint(1, 9, (4,), generator=g))
        config = LlamaConfig(hidden_size=d_model, intermediate_size=d_ff, hidden_act="silu",
                             num_attention_heads=1, head_dim=2)
        mlp = LlamaMLP(config).double()
        x = torch.randn(batch, seq, d_model, generator=g, dtype=torch.float64)
        with torch.no_grad():
            for linear in (mlp.gate_proj, mlp.up_proj, mlp.down_proj):
                linear.weight.copy_(torch.randn(linear.weight.shape, generator=g))
            expected = mlp(x)
        actual = ref.swiglu(x, mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight)
        oracle.compare(actual, expected, atol=1e-10, what=f"swiglu, seed {seed}")

"""transformer_block's TinyLM vs transformers' LlamaForCausalLM with the same weights (pre-norm
RMSNorm, RoPE, SwiGLU, causal attention, tied embeddings)."""

import pytest
import torch

CASES = 25


def test_logits_match_transformers_llama(ref, oracle):
    pytest.importorskip("transformers")
    from transformers import LlamaConfig, LlamaForCausalLM

    oracle.uses("transformers")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        num_heads = int(torch.randint(1, 4, (), generator=g))
        head_dim = 2 * int(torch.randint(1, 5, (), generator=g))
        d_model, vocab = num_heads * head_dim, int(torch.randint(5, 40, (), generator=g))
        num_layers = int(torch.randint(1, 3, (), generator=g))
        d_ff = int(torch.randint(1, 20, (), generator=g))
        ours = ref.TinyLM(vocab, d_model, num_layers, num_heads, d_ff)
        config = LlamaConfig(vocab_size=vocab, hidden_size=d_model, intermediate_size=d_ff,
                             num_hidden_layers=num_layers, num_attention_heads=num_heads,
                             num_key_value_heads=num_heads, head_dim=head_dim,
                             rms_norm_eps=1e-6, tie_word_embeddings=True, rope_theta=10000.0)
        config._attn_implementation = "eager"
        theirs = LlamaForCausalLM(config).eval()
        with torch.no_grad():
            for p in ours.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            theirs.model.embed_tokens.weight.copy_(ours.embed.weight)
            theirs.model.norm.weight.copy_(ours.norm.weight)
            for block, layer in zip(ours.blocks, theirs.model.layers):
                layer.input_layernorm.weight.copy_(block.attn_norm.weight)
                layer.post_attention_layernorm.weight.copy_(block.mlp_norm.weight)
                for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                    getattr(layer.self_attn, name).weight.copy_(getattr(block.attn, name).weight)
                layer.mlp.gate_proj.weight.copy_(block.mlp.gate.weight)
                layer.mlp.up_proj.weight.copy_(block.mlp.up.weight)
                layer.mlp.down_proj.weight.copy_(block.mlp.down.weight)
            batch, seq = (int(v) for v in torch.randint(1, 6, (2,), generator=g))
            input_ids = torch.randint(0, vocab, (batch, seq), generator=g)
            expected = theirs(input_ids).logits
            oracle.compare(ours(input_ids), expected, atol=1e-4, rtol=1e-4,
                           what=f"logits, seed {seed}")

"""A pre-norm decoder block and a tiny causal language model.

Task:
    The building blocks are given: RMSNorm, causal self-attention with RoPE, a SwiGLU MLP, and
    every `__init__`. Wire them up. `DecoderBlock.forward` is a pre-norm residual block: each
    sub-layer (attention, then the MLP) reads a normalised copy of the residual stream and adds
    its output back to the stream. `TinyLM.forward` embeds the tokens, runs the blocks in order,
    applies the final norm and projects onto the vocabulary with the embedding matrix itself
    (tied weights: logits = h @ embed.weightᵀ).

Rules:
    Do not use torch.nn.Transformer, TransformerEncoder(Layer), TransformerDecoder(Layer),
    nn.MultiheadAttention or scaled_dot_product_attention.

Shapes:
    batch, seq (token positions), d_model, heads, head_dim = d_model // heads, d_ff, vocab.

Reference:
    Pre-norm residual blocks: Xiong et al. 2020, "On Layer Normalization in the Transformer
    Architecture", Fig. 1(b); GPT-2 (Radford et al. 2019, §2.3). RMSNorm, SwiGLU and RoPE as in
    LLaMA (Touvron et al. 2023, §2.2; HF `modeling_llama.py`). Tied input/output embeddings:
    Press & Wolf 2017.
    Version line: transformers 5.x LlamaForCausalLM (tied embeddings); `nox -s oracles`
    checks TinyLM's logits against transformers 5.18 with the same weights.

Notable choices:
    - No biases, no dropout (LLaMA). The final norm sits before the head (GPT-2 `ln_f`).
    - Embeddings are not scaled by sqrt(d_model) (the original Transformer and Gemma do scale).

Grade: nox -s transformer_block
"""

import math

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · weight over d_model, computed in float32 and cast back."""

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d_model)), eps

    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        x32 = x.float() if x.dtype != torch.float64 else x
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * self.weight.to(x32.dtype)).to(x.dtype)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with half-split RoPE at positions 0..seq-1."""

    def __init__(self, d_model: int, num_heads: int, rope_base: float = 10000.0) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.rope_base = num_heads, d_model // num_heads, rope_base
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (
            nn.Linear(d_model, d_model, bias=False) for _ in range(4))

    def forward(self, x: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_model"]:
        batch, seq, d_model = x.shape
        # (batch, seq, d_model) -> (batch, heads, seq, head_dim)
        q, k, v = (p(x).view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        half = self.head_dim // 2
        inv_freq = self.rope_base ** (-torch.arange(half, device=x.device) / half)
        angles = torch.arange(seq, device=x.device)[:, None] * inv_freq  # (seq, head_dim/2)
        cos, sin = angles.cos().repeat(1, 2).to(x.dtype), angles.sin().repeat(1, 2).to(x.dtype)
        q, k = ((t * cos + torch.cat((-t[..., half:], t[..., :half]), -1) * sin) for t in (q, k))
        scores = q.float() @ k.float().transpose(-2, -1) / math.sqrt(self.head_dim)
        causal = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
        weights = scores.masked_fill(~causal, float("-inf")).softmax(-1).to(v.dtype)
        # (batch, heads, seq, head_dim) -> (batch, seq, d_model)
        return self.o_proj((weights @ v).transpose(1, 2).reshape(batch, seq, d_model))


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)) (Shazeer 2020)."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.gate, self.up, self.down = (nn.Linear(d_model, d_ff, bias=False),
                                         nn.Linear(d_model, d_ff, bias=False),
                                         nn.Linear(d_ff, d_model, bias=False))

    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        return self.down(nn.functional.silu(self.gate(x)) * self.up(x))


class DecoderBlock(nn.Module):
    """Pre-norm decoder block: x + attn(attn_norm(x)), then h + mlp(mlp_norm(h)).

    d_model must be divisible by num_heads with an even head_dim (RoPE rotates pairs).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.attn_norm, self.attn = RMSNorm(d_model, eps), CausalSelfAttention(d_model, num_heads)
        self.mlp_norm, self.mlp = RMSNorm(d_model, eps), SwiGLU(d_model, d_ff)

    def forward(self, x: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_model"]:
        """The residual stream after the attention sub-layer, then the MLP sub-layer.

        Each sub-layer reads its own norm of the stream (`attn_norm`, `mlp_norm`) and adds its
        output to the stream; the stream itself is never normalised. Same shape and dtype as x.
        """
        # TODO: implement this (about 2 lines in the reference).
        raise NotImplementedError(
            "forward: not written yet. Stuck? nox -s hint -- transformer_block"
        )


class TinyLM(nn.Module):
    """Decoder-only LM: embed -> num_layers DecoderBlocks -> final RMSNorm -> tied head."""

    def __init__(self, vocab: int, d_model: int, num_layers: int, num_heads: int, d_ff: int,
                 eps: float = 1e-6) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.blocks = nn.ModuleList(DecoderBlock(d_model, num_heads, d_ff, eps)
                                    for _ in range(num_layers))
        self.norm = RMSNorm(d_model, eps)  # the final norm; the head is embed.weight (tied)

    def forward(self, input_ids: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch seq vocab"]:
        """Next-token logits at every position.

        Args:
            input_ids: (batch, seq) integer token ids in [0, vocab).

        Returns:
            (batch, seq, vocab) logits in the model's dtype; position t depends only on tokens
            0..t.

        Raises:
            ValueError: `input_ids` is not 2-D, or holds an id outside [0, vocab) (the message
                names the id and the vocabulary size).
        """
        # TODO: implement this (about 13 lines in the reference).
        raise NotImplementedError(
            "forward: not written yet. Stuck? nox -s hint -- transformer_block"
        )

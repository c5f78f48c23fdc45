"""A KV cache and an incremental decode step for a tiny causal LM.

Task:
    Make the given model decode one token at a time. `KVCache.update` appends one layer's new
    keys and values along the sequence axis and returns everything that layer has cached;
    `KVCache.seq_length` counts the cached positions. `Attention.forward` serves both a full
    forward (no cache) and a cached forward of only the new tokens: their RoPE positions
    continue after the cached ones, and their causal mask is aligned to the end. `decode_step`
    runs the model on the tokens the cache has not seen yet and returns the next-token logits.
    Decoding token by token must reproduce the full forward's logits at every position.

Rules:
    Do not use torch.nn.functional.scaled_dot_product_attention or nn.MultiheadAttention (the
    FLOP counter cannot see inside CPU SDPA, and the attention is the point).

Shapes:
    batch, seq (tokens in this call), past (positions already cached), kv_len = past + seq,
    heads, head_dim = d_model // heads, d_model, d_ff, vocab.

Reference:
    KV caching: Pope et al. 2022, "Efficiently Scaling Transformer Inference", §2 and §3.3.
    Cache layout and API follow Hugging Face `DynamicCache` (`update` concatenates on the
    sequence axis, dim=-2, and returns the layer's full keys and values; `get_seq_length`).
    RoPE: Su et al. 2021, Eq. 34, in the half-split layout of HF `modeling_llama.py`.
    Version line: transformers 5.x DynamicCache and Llama RoPE; `nox -s oracles` checks it
    against transformers 5.18.

Notable choices:
    - Keys are cached after RoPE (as in HF), so a cached key is never rotated again.
    - New tokens see the whole cache: query i of this call sits at position past + i and
      attends to kv positions 0..past + i (a bottom-right aligned causal mask).
    - Complexity: at cache length T, one decode step costs O(T·d_model) attention FLOPs per
      layer on top of a fixed O(d_model²) for the projections; graded with a FLOP counter.

Grade: nox -s kv_cache
"""

import math

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn


def apply_rope(x: Float[Tensor, "batch heads seq head_dim"], positions: Int[Tensor, " seq"],
               base: float = 10000.0) -> Float[Tensor, "batch heads seq head_dim"]:
    """Rotate each pair (j, j + head_dim/2) of x by angle positions · base^(-2j/head_dim)."""
    half = x.shape[-1] // 2
    inv_freq = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.to(torch.float32)[:, None] * inv_freq  # (seq, head_dim/2)
    cos, sin = angles.cos().repeat(1, 2).to(x.dtype), angles.sin().repeat(1, 2).to(x.dtype)
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class KVCache:
    """Per-layer cache: `keys[layer]` and `values[layer]` are (batch, heads, past, head_dim),
    or None before the layer's first update."""

    def __init__(self, num_layers: int) -> None:
        self.keys: list[Tensor | None] = [None] * num_layers
        self.values: list[Tensor | None] = [None] * num_layers

    def __repr__(self) -> str:
        shapes = [None if k is None else tuple(k.shape) for k in self.keys]
        return f"KVCache(keys per layer: {shapes})"

    def update(self, layer: int, key: Float[Tensor, "batch heads seq head_dim"],
               value: Float[Tensor, "batch heads seq head_dim"],
               ) -> tuple[Float[Tensor, "batch heads kv_len head_dim"],
                          Float[Tensor, "batch heads kv_len head_dim"]]:
        """Append this call's keys and values to `layer`; return all of the layer's keys and
        values, oldest position first."""
        # TODO: implement this (about 6 lines in the reference).
        raise NotImplementedError(
            "update: not written yet. Stuck? nox -s hint -- kv_cache"
        )

    def seq_length(self, layer: int = 0) -> int:
        """Number of positions cached for `layer` (0 before its first update)."""
        # TODO: implement this (about 2 lines in the reference).
        raise NotImplementedError(
            "seq_length: not written yet. Stuck? nox -s hint -- kv_cache"
        )


class Attention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, layer: int, rope_base: float = 10000.0):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.layer, self.rope_base = layer, rope_base  # `layer`: this module's slot in the cache
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (
            nn.Linear(d_model, d_model, bias=False) for _ in range(4))

    def forward(self, x: Float[Tensor, "batch seq d_model"], cache: KVCache | None = None,
                ) -> Float[Tensor, "batch seq d_model"]:
        """Causal multi-head self-attention of this call's tokens, scores in float32.

        Without a cache, x holds positions 0..seq-1. With a cache that holds `past` positions
        for this layer, x holds positions past..past+seq-1: RoPE them at those positions, append
        their keys/values to the cache, and let query i attend to kv positions 0..past+i.
        """
        # TODO: implement this (about 13 lines in the reference).
        raise NotImplementedError(
            "forward: not written yet. Stuck? nox -s hint -- kv_cache"
        )


class Block(nn.Module):
    def __init__(self, d_model: int, num_heads: int, d_ff: int, layer: int) -> None:
        super().__init__()
        self.attn_norm, self.mlp_norm = nn.RMSNorm(d_model, eps=1e-6), nn.RMSNorm(d_model, eps=1e-6)
        self.attn = Attention(d_model, num_heads, layer)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff, bias=False), nn.SiLU(),
                                 nn.Linear(d_ff, d_model, bias=False))

    def forward(self, x: Float[Tensor, "batch seq d_model"], cache: KVCache | None = None):
        x = x + self.attn(self.attn_norm(x), cache)
        return x + self.mlp(self.mlp_norm(x))


class TinyLM(nn.Module):
    """Pre-norm decoder with tied embeddings; `forward(input_ids, cache)` -> (batch, seq, vocab)."""

    def __init__(self, vocab: int, d_model: int, num_layers: int, num_heads: int, d_ff: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.blocks = nn.ModuleList(Block(d_model, num_heads, d_ff, i) for i in range(num_layers))
        self.norm = nn.RMSNorm(d_model, eps=1e-6)

    def forward(self, input_ids: Int[Tensor, "batch seq"], cache: KVCache | None = None,
                ) -> Float[Tensor, "batch seq vocab"]:
        x = self.embed(input_ids)
        for block in self.blocks:
            x = block(x, cache)
        return self.norm(x) @ self.embed.weight.T


def decode_step(model: TinyLM, input_ids: Int[Tensor, "batch seq"], cache: KVCache,
                ) -> Float[Tensor, "batch vocab"]:
    """Logits for the token that follows `input_ids`, reusing and extending `cache`.

    Args:
        model: the TinyLM.
        input_ids: (batch, seq) the whole sequence so far. The cache already holds its first
            `cache.seq_length()` positions (from earlier calls on a prefix of it).
        cache: a KVCache with one slot per block; extended in place to all `seq` positions.

    Returns:
        (batch, vocab) logits at the last position, equal to model(input_ids)[:, -1].

    Raises:
        ValueError: input_ids has no position beyond the cache (the message names both lengths).

    Runs the model only on the uncached positions (all of them when the cache is empty: the
    prefill), so one new token costs O(seq·d_model) attention FLOPs per layer, not a forward
    over the whole sequence.
    """
    # TODO: implement this (about 6 lines in the reference).
    raise NotImplementedError(
        "decode_step: not written yet. Stuck? nox -s hint -- kv_cache"
    )

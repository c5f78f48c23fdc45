"""Multi-head latent attention (DeepSeek-V2): a compressed KV cache and the absorbed decode path.

Task:
    Write MLA's attention over a cache that holds only, per token, the joint KV latent c_KV
    (kv_lora_rank numbers) and one RoPE key shared by all heads (rope_dim numbers).
    `naive_attention` rebuilds every head's keys and values from the latents (k = W_UK c_KV,
    v = W_UV c_KV), appends the RoPE part, and attends. `absorbed_attention` never builds them:
    it folds W_UK into the query (q·k = (W_UKᵀ q)·c_KV) and W_UV into the output, attending in
    the latent space. Both must give the same output. `cache_bytes_per_token` is the paper's
    (d_c + d_h^R) · layers elements.

Rules:
    No torch.nn.functional.scaled_dot_product_attention and no transformers/vllm: the
    attention is the point, and the FLOP and allocation probes must see it.

Shapes:
    batch, q_len (new tokens), kv_len (cached + new), heads, d_model, rank = kv_lora_rank (d_c),
    nope_dim (per-head dimension without RoPE, d_h), rope_dim (d_h^R), v_dim (value head dim).

Reference:
    DeepSeek-AI 2024, "DeepSeek-V2", §2.1.2 (low-rank key-value joint compression, Eq. 9-11),
    §2.1.3 (decoupled RoPE, Eq. 12-19) and Table 1 (cache (d_c + d_h^R)·l per token). Weight
    absorption as in the paper's note after Eq. 11 and vLLM's MLA decode path.

Notable choices:
    - Queries are not compressed here (DeepSeek-V2-Lite style: q = W_Q h); keys and values are.
    - RoPE uses the half-split layout of HF Llama on the rope part only; the scale is
      1/sqrt(nope_dim + rope_dim); scores and softmax in float32 (float64 stays float64).
    - The causal mask is aligned to the end of the cache: query i of this call sits at
      position kv_len − q_len + i.

Grade: nox -s latent_attention
"""

import math

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn


def apply_rope(x: Float[Tensor, "... seq rope_dim"], positions: Int[Tensor, " seq"],
               base: float = 10000.0) -> Float[Tensor, "... seq rope_dim"]:
    """Rotate pairs (j, j + rope_dim/2) by angle position · base^(-2j/rope_dim)."""
    half = x.shape[-1] // 2
    inv_freq = base ** (-torch.arange(half, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * inv_freq  # (seq, rope_dim/2)
    cos, sin = angles.cos().repeat(1, 2).to(x.dtype), angles.sin().repeat(1, 2).to(x.dtype)
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class MLA(nn.Module):
    """The projections of one MLA layer (no biases, as in DeepSeek-V2)."""

    def __init__(self, d_model: int, heads: int, rank: int, nope_dim: int, rope_dim: int,
                 v_dim: int) -> None:
        super().__init__()
        self.heads, self.rank, self.nope_dim, self.rope_dim, self.v_dim = (
            heads, rank, nope_dim, rope_dim, v_dim)
        self.q_proj = nn.Linear(d_model, heads * (nope_dim + rope_dim), bias=False)
        self.kv_down = nn.Linear(d_model, rank, bias=False)  # W_DKV: h -> c_KV
        self.k_rope = nn.Linear(d_model, rope_dim, bias=False)  # W_KR: shared RoPE key
        self.k_up = nn.Linear(rank, heads * nope_dim, bias=False)  # W_UK
        self.v_up = nn.Linear(rank, heads * v_dim, bias=False)  # W_UV
        self.o_proj = nn.Linear(heads * v_dim, d_model, bias=False)  # W_O

    def compress(self, hidden: Float[Tensor, "batch seq d_model"], positions: Int[Tensor, " seq"],
                 ) -> tuple[Float[Tensor, "batch seq rank"], Float[Tensor, "batch seq rope_dim"]]:
        """What the cache stores for these tokens: c_KV and the RoPE'd shared key."""
        return self.kv_down(hidden), apply_rope(self.k_rope(hidden), positions)

    def queries(self, hidden: Float[Tensor, "batch q_len d_model"],
                positions: Int[Tensor, " q_len"]) -> tuple[Float[Tensor, "batch heads q_len nope_dim"],
                           Float[Tensor, "batch heads q_len rope_dim"]]:
        """Per-head queries split into the no-RoPE part and the RoPE'd part."""
        batch, q_len, _ = hidden.shape
        q = self.q_proj(hidden).view(batch, q_len, self.heads, self.nope_dim + self.rope_dim)
        q = q.transpose(1, 2)  # (batch, heads, q_len, nope_dim + rope_dim)
        return q[..., : self.nope_dim], apply_rope(q[..., self.nope_dim:], positions)


def _causal_mask(q_len: int, kv_len: int) -> Tensor:
    """(q_len, kv_len) bool, True where query i (at position kv_len − q_len + i) may look."""
    return torch.ones(q_len, kv_len, dtype=torch.bool).tril(kv_len - q_len)


def naive_attention(mla: MLA, hidden: Float[Tensor, "batch q_len d_model"],
                    latent: Float[Tensor, "batch kv_len rank"],
                    k_rope: Float[Tensor, "batch kv_len rope_dim"],
                    ) -> Float[Tensor, "batch q_len d_model"]:
    """MLA output for the last q_len positions, with per-head keys and values rebuilt.

    Args:
        mla: the layer's weights.
        hidden: (batch, q_len) new tokens' hidden states, at positions kv_len − q_len ...
        latent, k_rope: the cache for all kv_len positions (the new ones included), as
            mla.compress returns them.

    Returns:
        (batch, q_len, d_model) = W_O · concat_h softmax(q_h·k_h / sqrt(nope + rope)) v_h.
    """
    # TODO: implement this (about 13 lines in the reference).
    raise NotImplementedError(
        "naive_attention: not written yet. Stuck? nox -s hint -- latent_attention"
    )


def absorbed_attention(mla: MLA, hidden: Float[Tensor, "batch q_len d_model"],
                       latent: Float[Tensor, "batch kv_len rank"],
                       k_rope: Float[Tensor, "batch kv_len rope_dim"],
                       ) -> Float[Tensor, "batch q_len d_model"]:
    """The same output as naive_attention, attending in the latent space: W_UK is folded into
    the queries and W_UV applied after the weighted sum of latents, so no (kv_len, heads,
    nope_dim) key or (kv_len, heads, v_dim) value tensor is ever built."""
    # TODO: implement this (about 15 lines in the reference).
    raise NotImplementedError(
        "absorbed_attention: not written yet. Stuck? nox -s hint -- latent_attention"
    )


def cache_bytes_per_token(num_layers: int, rank: int, rope_dim: int,
                          bytes_per_element: int = 2) -> int:
    """MLA cache size of one token over all layers: (d_c + d_h^R) · layers · bytes."""
    # TODO: implement this (about 1 line in the reference).
    raise NotImplementedError(
        "cache_bytes_per_token: not written yet. Stuck? nox -s hint -- latent_attention"
    )

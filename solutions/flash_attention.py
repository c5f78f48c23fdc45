"""Blockwise (flash) attention with the online softmax.

Task:
    Write `flash_attention`: the same result as softmax(query @ keyᵀ · scale) @ value, computed
    one (query block × key block) tile at a time so that the (q_len, kv_len) score matrix never
    exists. Per query row keep a running max m, a running sum l of exp(score − m) and an
    accumulator of exp(score − m) @ value; when a new block raises the max, rescale l and the
    accumulator by exp(m_old − m_new). Also return the logsumexp m + log(l), which the backward
    pass needs. With `is_causal`, key blocks that every query of the block must ignore are
    skipped, not computed and masked.

Rules:
    Do not call torch.nn.functional.scaled_dot_product_attention (or its aten ops) or
    nn.MultiheadAttention. Compute each tile's products with matmul / @ / einsum: the grader
    counts their FLOPs to check that causal skipping happens, and records every allocation to
    check that no (q_len, kv_len) tensor is created.

Shapes:
    batch axes (any number, `...`), q_len, kv_len, head_dim (query/key features), head_dim_v
    (value features); block_size_q × block_size_kv is one tile of scores.

Reference:
    Dao et al. 2022, "FlashAttention", Algorithm 1 (tiling, online softmax after Milakov &
    Gimelshein 2018); Dao 2023, "FlashAttention-2", Algorithm 1 (rescale once at the end,
    return the logsumexp L = m + log l, skip fully masked blocks).
    Version line: torch 2.x SDPA and torch.logsumexp; `nox -s oracles` checks it against
    torch 2.13.

Notable choices:
    - `is_causal` is top-left aligned like torch SDPA (query i sees keys 0..i). The
      flash-attn library aligns bottom-right since v2.1; they agree when q_len == kv_len.
    - Tiles are computed in float32 (float64 stays float64); the output is cast back to the
      input dtype, the logsumexp stays in float32 (as flash-attn's softmax_lse).

Grade: nox -s flash_attention
"""

import math

import torch
from jaxtyping import Float
from torch import Tensor


def flash_attention(
    query: Float[Tensor, "... q_len head_dim"],
    key: Float[Tensor, "... kv_len head_dim"],
    value: Float[Tensor, "... kv_len head_dim_v"],
    is_causal: bool = False,
    scale: float | None = None,
    block_size_q: int = 64,
    block_size_kv: int = 64,
) -> tuple[Float[Tensor, "... q_len head_dim_v"], Float[Tensor, "... q_len"]]:
    """Attention output and per-query logsumexp, one tile at a time.

    Args:
        query: (..., q_len, head_dim), any float dtype.
        key: (..., kv_len, head_dim), kv_len >= 1, same leading axes and dtype as `query`.
        value: (..., kv_len, head_dim_v), same leading axes and dtype as `query`.
        is_causal: query i attends to keys 0..i only (top-left aligned, as torch SDPA); key
            blocks that lie entirely after a query block's last query are skipped.
        scale: multiplier of the scores; default 1/sqrt(head_dim).
        block_size_q: queries per tile (>= 1); the last block may be shorter.
        block_size_kv: keys per tile (>= 1); the last block may be shorter.

    Returns:
        (output, logsumexp): output (..., q_len, head_dim_v) in the input dtype, equal to
        softmax(scale · query @ keyᵀ) @ value; logsumexp (..., q_len) in float32 (float64 for
        float64 inputs), log Σ_j exp(scale · q·k_j) over the keys the query may see (natural
        log). Scores exist one tile at a time: at most block_size_q × block_size_kv per index
        of the leading axes, never a (q_len, kv_len) matrix.

    Raises:
        ValueError: shapes that do not fit together (the message names both shapes),
            kv_len == 0, or a block size < 1 (the message names it).
    """
    # BEGIN SOLUTION
    if query.dim() < 2 or query.shape[:-2] != key.shape[:-2] or query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query {tuple(query.shape)} and key {tuple(key.shape)} must share the "
                         "leading axes and head_dim: (..., q_len, head_dim) vs "
                         "(..., kv_len, head_dim)")
    if key.shape[:-1] != value.shape[:-1] or key.shape[-2] == 0:
        raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must share the "
                         "leading axes and a kv_len >= 1")
    if block_size_q < 1 or block_size_kv < 1:
        raise ValueError(f"block sizes must be >= 1, got block_size_q={block_size_q}, "
                         f"block_size_kv={block_size_kv}")
    q_len, kv_len, head_dim = query.shape[-2], key.shape[-2], query.shape[-1]
    scaling = 1.0 / math.sqrt(head_dim) if scale is None else scale
    dtype, compute = query.dtype, torch.promote_types(query.dtype, torch.float32)
    query, key, value = query.to(compute), key.to(compute), value.to(compute)
    output = query.new_empty(*query.shape[:-1], value.shape[-1])  # (..., q_len, head_dim_v)
    logsumexp = query.new_empty(query.shape[:-1])  # (..., q_len)
    for q_start in range(0, q_len, block_size_q):
        q_end = min(q_start + block_size_q, q_len)
        q = query[..., q_start:q_end, :] * scaling  # (..., bq, head_dim)
        row_max = q.new_full((*q.shape[:-1], 1), float("-inf"))  # m: (..., bq, 1)
        row_sum = q.new_zeros((*q.shape[:-1], 1))  # l: (..., bq, 1)
        acc = q.new_zeros((*q.shape[:-1], value.shape[-1]))  # (..., bq, head_dim_v)
        # Causal: keys at or after q_end are masked for every query of this block: skip them.
        kv_stop = min(kv_len, q_end) if is_causal else kv_len
        for kv_start in range(0, kv_stop, block_size_kv):
            kv_end = min(kv_start + block_size_kv, kv_stop)
            # (..., bq, head_dim) @ (..., head_dim, bkv) -> (..., bq, bkv)
            scores = q @ key[..., kv_start:kv_end, :].transpose(-2, -1)
            if is_causal and kv_end - 1 > q_start:  # the tile crosses the diagonal
                rows = torch.arange(q_start, q_end, device=q.device)[:, None]
                cols = torch.arange(kv_start, kv_end, device=q.device)[None, :]
                scores = scores.masked_fill(cols > rows, float("-inf"))
            new_max = torch.maximum(row_max, scores.amax(dim=-1, keepdim=True))
            correction = torch.exp(row_max - new_max)  # rescales what was summed so far
            probs = torch.exp(scores - new_max)  # (..., bq, bkv)
            row_sum = row_sum * correction + probs.sum(dim=-1, keepdim=True)
            # (..., bq, bkv) @ (..., bkv, head_dim_v) -> (..., bq, head_dim_v)
            acc = acc * correction + probs @ value[..., kv_start:kv_end, :]
            row_max = new_max
        output[..., q_start:q_end, :] = acc / row_sum
        logsumexp[..., q_start:q_end] = (row_max + torch.log(row_sum)).squeeze(-1)
    return output.to(dtype), logsumexp
    # END SOLUTION

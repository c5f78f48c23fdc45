"""Scaled dot-product attention with masks.

Task:
    Write `scaled_dot_product_attention`: softmax(query @ keyᵀ · scale + mask) @ value, returning
    the output and the attention weights. Follow torch.nn.functional.scaled_dot_product_attention:
    a boolean mask marks the keys a query may attend to (True = attend), a float mask is added to
    the scores, masks broadcast over the leading axes, `is_causal=True` lets query i see keys
    0..i (top-left aligned). A query whose keys are all masked gets zero weights and a zero
    output, never NaN.

Rules:
    Do not call torch.nn.functional.scaled_dot_product_attention, torch.nn.MultiheadAttention or
    torch.nn.functional.multi_head_attention_forward. Matmul, einsum and softmax are fine.

Shapes:
    batch axes (any number, `...`), q_len (queries), kv_len (keys and values), head_dim
    (query/key feature size), head_dim_v (value feature size).

Reference:
    Vaswani et al. 2017, "Attention Is All You Need", §3.2.1, Eq. 1. Mask and fully-masked-row
    conventions: torch.nn.functional.scaled_dot_product_attention (torch >= 2.5, "safe softmax").
    Version line: torch 2.5+ SDPA semantics; `nox -s oracles` checks it against torch 2.13.

Notable choices:
    - Scores, softmax and the weighted sum are computed in float32 (float64 stays float64);
      results are cast back to the input dtype. float16 scores overflow at 65504.
    - `is_causal` is top-left aligned as in torch; the KV-cache (bottom-right) convention is
      the `masking` kata's `causal_mask`.

Grade: nox -s attention
"""

import math

import torch
from jaxtyping import Bool, Float
from torch import Tensor


def scaled_dot_product_attention(
    query: Float[Tensor, "... q_len head_dim"],
    key: Float[Tensor, "... kv_len head_dim"],
    value: Float[Tensor, "... kv_len head_dim_v"],
    attn_mask: Bool[Tensor, "... q_len kv_len"] | Float[Tensor, "... q_len kv_len"] | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> tuple[Float[Tensor, "... q_len head_dim_v"], Float[Tensor, "... q_len kv_len"]]:
    """Attention output and weights.

    Args:
        query: (..., q_len, head_dim), any float dtype.
        key: (..., kv_len, head_dim), same leading axes and dtype as `query`.
        value: (..., kv_len, head_dim_v), same leading axes and dtype as `query`.
        attn_mask: optional, broadcastable to (..., q_len, kv_len). bool: True = may attend.
            float: added to the scores (use -inf to block).
        is_causal: mask keys after the query's position (query i sees keys 0..i, top-left
            aligned). May not be combined with `attn_mask`.
        scale: multiplier of the scores; default 1/sqrt(head_dim).

    Returns:
        (output, weights): output (..., q_len, head_dim_v) and weights (..., q_len, kv_len), both
        in the input dtype. Each weights row sums to 1, or is all zeros when every key of that
        query is masked (then its output row is zero too).

    Raises:
        ValueError: shapes that do not fit together (the message names both shapes), a mask
            that does not broadcast to (..., q_len, kv_len), or `is_causal` with `attn_mask`.
    """
    # BEGIN SOLUTION
    if query.dim() < 2 or query.shape[:-2] != key.shape[:-2] or query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query {tuple(query.shape)} and key {tuple(key.shape)} must share the "
                         "leading axes and head_dim: (..., q_len, head_dim) vs (..., kv_len, head_dim)")
    if key.shape[:-1] != value.shape[:-1]:
        raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must share the "
                         "leading axes and kv_len: (..., kv_len, head_dim) vs (..., kv_len, head_dim_v)")
    if is_causal and attn_mask is not None:
        raise ValueError("pass attn_mask or is_causal=True, not both (fold the causal mask into "
                         "attn_mask instead)")
    q_len, kv_len, head_dim = query.shape[-2], key.shape[-2], query.shape[-1]
    compute = torch.promote_types(query.dtype, torch.float32)
    scaling = 1.0 / math.sqrt(head_dim) if scale is None else scale
    # (..., q_len, head_dim) @ (..., head_dim, kv_len) -> (..., q_len, kv_len)
    scores = torch.matmul(query.to(compute), key.to(compute).transpose(-2, -1)) * scaling
    if attn_mask is not None:
        try:
            torch.broadcast_tensors(attn_mask, scores)  # views; raises when they do not broadcast
        except RuntimeError:
            raise ValueError(f"attn_mask {tuple(attn_mask.shape)} does not broadcast to the scores "
                             f"{tuple(scores.shape)} (..., q_len, kv_len)") from None
    allowed = None
    if is_causal:
        allowed = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril()
    elif attn_mask is not None and attn_mask.dtype == torch.bool:
        allowed = attn_mask
    elif attn_mask is not None:
        scores = scores + attn_mask.to(compute)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    # Safe softmax: a row with every score at -inf gets zero weights instead of NaN.
    fully_masked = torch.isneginf(scores).all(dim=-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(fully_masked, 0.0), dim=-1)
    weights = weights.masked_fill(fully_masked, 0.0)
    # (..., q_len, kv_len) @ (..., kv_len, head_dim_v) -> (..., q_len, head_dim_v)
    output = torch.matmul(weights, value.to(compute))
    return output.to(query.dtype), weights.to(query.dtype)
    # END SOLUTION

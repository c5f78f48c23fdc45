"""Rotary position embedding (RoPE): cos/sin tables and their application, two layouts.

Task:
    Write `rope_tables`, the cos/sin of the angle position · θ_i for every position and every
    rotation pair i, with θ_i = base^(-2i / head_dim); and `apply_rope`, which rotates each pair
    of features of a query or key by its angle. Positions may start anywhere (decoding with a KV
    cache) and may differ per batch row (left padding). The default pairs feature i with
    i + head_dim/2 (half-split, `rotate_half`); `interleaved=True` pairs 2i with 2i + 1.

Rules:
    Write the rotation yourself; no RoPE from transformers, torchtune, flash_attn or
    rotary_embedding_torch. Complex numbers (torch.polar, view_as_complex) are fine.

Shapes:
    batch, heads, seq, head_dim (even), max_position; pair = head_dim // 2 rotation pairs.

Reference:
    Su et al. 2021, "RoFormer", §3.4.2, Eq. 34 (interleaved pairs, as in GPT-J and Meta's LLaMA
    code); Hugging Face `modeling_llama.py` `rotate_half`/`apply_rotary_pos_emb` (half-split).
    Version line: transformers 5.x (Llama half-split, GPT-J interleaved); `nox -s oracles`
    checks it against transformers 5.18.

Notable choices:
    - Tables hold one angle per pair: (max_position, head_dim // 2), float32, shared by both
      layouts (Hugging Face repeats them to head_dim for the half-split layout).
    - The layouts are the same rotation after a permutation of the features: interleaved feature
      2i is half-split feature i and 2i + 1 is i + head_dim/2. Hugging Face permutes the q/k
      weights of Meta's checkpoints this way, so use the layout your weights were trained with.
    - The rotation is computed in float32 (float64 stays float64) and cast back to x's dtype.

Grade: nox -s rope
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


def rope_tables(
    head_dim: int, max_position: int, base: float = 10000.0, device: torch.device | None = None,
) -> tuple[Float[Tensor, "max_position pair"], Float[Tensor, "max_position pair"]]:
    """cos and sin of position · θ_i, θ_i = base^(-2i / head_dim), i = 0 .. head_dim/2 - 1.

    Args:
        head_dim: features per head, positive and even.
        max_position: number of positions 0 .. max_position - 1 to tabulate, >= 0.
        base: the RoPE base (10000 in RoFormer and LLaMA 1/2; 500000 in LLaMA 3), > 0.
        device: where to create the tables (default: the CPU).

    Returns:
        (cos, sin), each (max_position, head_dim // 2), float32, on `device`; row p is position p.

    Raises:
        ValueError: head_dim not a positive even number (the message names it).
    """
    # BEGIN SOLUTION
    if head_dim <= 0 or head_dim % 2:
        raise ValueError(f"head_dim={head_dim} must be positive and even: RoPE rotates pairs")
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim
    inv_freq = 1.0 / base**exponents  # θ_i, (pair,)
    positions = torch.arange(max_position, dtype=torch.float32, device=device)
    angles = torch.outer(positions, inv_freq)  # (max_position, pair)
    return angles.cos(), angles.sin()
    # END SOLUTION


def apply_rope(
    x: Float[Tensor, "batch heads seq head_dim"],
    cos: Float[Tensor, "max_position pair"],
    sin: Float[Tensor, "max_position pair"],
    position_ids: Int[Tensor, "batch seq"] | Int[Tensor, " seq"] | None = None,
    interleaved: bool = False,
) -> Float[Tensor, "batch heads seq head_dim"]:
    """Rotate each feature pair (a, b) of x by its angle: (a cos - b sin, b cos + a sin).

    Args:
        x: queries or keys, (batch, heads, seq, head_dim), any float dtype.
        cos, sin: tables from `rope_tables`, (max_position, head_dim // 2).
        position_ids: integer positions, (seq,) shared by the batch or (batch, seq) per row;
            None means 0 .. seq - 1. A cache of length t continues at t, t + 1, ...
        interleaved: pairs are features (2i, 2i + 1) instead of (i, i + head_dim/2).

    Returns:
        The rotated x, same shape and dtype.

    Raises:
        ValueError: head_dim != 2 · cos.shape[-1] (the message names both), or a position
            outside 0 .. max_position - 1 (the message names it and max_position).
    """
    # BEGIN SOLUTION
    pair = cos.shape[-1]
    if x.shape[-1] != 2 * pair:
        raise ValueError(f"x has head_dim={x.shape[-1]} but the tables have {pair} pairs "
                         f"(head_dim={2 * pair}); build them with rope_tables({x.shape[-1]}, ...)")
    if position_ids is None:
        position_ids = torch.arange(x.shape[-2], device=x.device)
    if position_ids.numel() and (position_ids.min() < 0 or position_ids.max() >= cos.shape[0]):
        raise ValueError(f"positions {position_ids.min().item()}..{position_ids.max().item()} "
                         f"are outside the tables' 0..{cos.shape[0] - 1} (max_position="
                         f"{cos.shape[0]}); build larger tables")
    compute = torch.promote_types(x.dtype, torch.float32)
    # (seq, pair) or (batch, seq, pair); the latter broadcasts over heads as (batch, 1, seq, pair)
    cos_p, sin_p = cos[position_ids].to(compute), sin[position_ids].to(compute)
    if position_ids.dim() == 2:
        cos_p, sin_p = cos_p.unsqueeze(-3), sin_p.unsqueeze(-3)
    x_c = x.to(compute)
    if interleaved:
        first, second = x_c[..., 0::2], x_c[..., 1::2]  # (batch, heads, seq, pair) each
    else:
        first, second = x_c[..., :pair], x_c[..., pair:]
    rotated_first = first * cos_p - second * sin_p
    rotated_second = second * cos_p + first * sin_p
    if interleaved:  # (.., pair, 2) -> (.., head_dim): back to 2i, 2i + 1
        out = torch.stack((rotated_first, rotated_second), dim=-1).flatten(-2)
    else:
        out = torch.cat((rotated_first, rotated_second), dim=-1)
    return out.to(x.dtype)
    # END SOLUTION

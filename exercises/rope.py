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
    # TODO: implement this (about 7 lines in the reference).
    raise NotImplementedError(
        "rope_tables: not written yet. Stuck? nox -s hint -- rope"
    )


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
    # TODO: implement this (about 26 lines in the reference).
    raise NotImplementedError(
        "apply_rope: not written yet. Stuck? nox -s hint -- rope"
    )

"""Attention masks: causal (KV-cache aligned), padding, sliding window, additive, position ids.

Task:
    Build the masks a decoder feeds to attention. `causal_mask` and `sliding_window_mask` are
    aligned bottom-right: the q_len queries are the *last* q_len of the kv_len positions, as when
    decoding with a KV cache. `padding_mask` marks real tokens of right- or left-padded batches;
    `combine_masks` ANDs padding, causal and window into one (batch, 1, q_len, kv_len) mask;
    `to_additive` turns a boolean mask into a float one; `position_ids` numbers real tokens only.

Rules:
    Do not call torch.nn.attention.bias.causal_lower_right / causal_upper_left or the Hugging Face
    mask helpers. arange, comparisons, tril/triu and cumsum are fine.

Shapes:
    batch, seq (padded length, = max_len), q_len (queries), kv_len (keys, cached + new).

Reference:
    Boolean masks follow torch.nn.functional.scaled_dot_product_attention: True = may attend.
    Bottom-right causal alignment: torch.nn.attention.bias.causal_lower_right. Sliding window:
    Mistral 7B (Jiang et al. 2023, §2) as implemented in transformers' masking_utils
    (`sliding_window_overlay`: key j visible to query i iff j > i - window). Additive fill and
    position ids under left padding: transformers 5.x (`torch.finfo(dtype).min`;
    `position_ids = attention_mask.cumsum(-1) - 1` with pads filled with 0, as in `generate`'s
    `_prepare_position_ids_for_generation`; transformers 4.x filled them with 1).
    Version line: torch 2.x and transformers 5.x; `nox -s oracles` checks it against torch
    2.13 and transformers 5.18 (masking_utils mask functions, AttentionMaskConverter, generate).

Notable choices:
    - A window of W keys means the W most recent positions *including the query itself*
      (transformers, flash-attn window_size=(W - 1, 0)). The Mistral paper's wording
      ("positions between i - W and i") would give W + 1 keys.
    - Padding masks only the keys. A padded query's row may be entirely False; attention must
      then return zeros for it (the `attention` kata does), and its output is ignored anyway.
    - The additive mask uses the dtype's most negative finite value, not -inf: a fully masked
      row then gives a finite (uniform) softmax instead of NaN, and fp16 never overflows.

Grade: nox -s masking
"""

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor


def causal_mask(q_len: int, kv_len: int, device=None) -> Bool[Tensor, "q_len kv_len"]:
    """Bottom-right aligned causal mask: query i may attend to keys 0 .. kv_len - q_len + i.

    Query i sits at absolute position kv_len - q_len + i (the queries are the last q_len
    positions). Equal lengths give the usual lower triangle; with q_len < kv_len the last query
    sees every key; with q_len > kv_len the first q_len - kv_len queries see no key.

    Args:
        q_len: number of queries, >= 0.
        kv_len: number of keys, >= 0.
        device: where to create the mask (default: the CPU).

    Returns:
        bool (q_len, kv_len), True = may attend.

    Raises:
        ValueError: q_len or kv_len negative (the message names the value).
    """
    # TODO: implement this (about 5 lines in the reference).
    raise NotImplementedError(
        "causal_mask: not written yet. Stuck? nox -s hint -- masking"
    )


def padding_mask(lengths: Int[Tensor, " batch"], max_len: int,
                 side: str = "right") -> Bool[Tensor, "batch seq"]:
    """True at the real tokens of each padded sequence.

    Args:
        lengths: (batch,) integer tensor, the number of real tokens per sequence, each in
            [0, max_len].
        max_len: the padded length seq, >= 0.
        side: "right" (real tokens first, then pads) or "left" (pads first, as for generation).

    Returns:
        bool (batch, max_len) on lengths' device; row b has exactly lengths[b] True values.

    Raises:
        ValueError: a length < 0 or > max_len, max_len < 0, or an unknown side (the message
            names the offending value).
    """
    # TODO: implement this (about 11 lines in the reference).
    raise NotImplementedError(
        "padding_mask: not written yet. Stuck? nox -s hint -- masking"
    )


def sliding_window_mask(q_len: int, kv_len: int, window: int,
                        device=None) -> Bool[Tensor, "q_len kv_len"]:
    """Causal sliding-window mask, bottom-right aligned like `causal_mask`.

    Query i at absolute position p = kv_len - q_len + i may attend to key j iff
    p - window < j <= p: the `window` most recent positions, itself included.

    Args:
        q_len: number of queries, >= 0.
        kv_len: number of keys, >= 0.
        window: keys visible per query, >= 1. window >= kv_len gives `causal_mask`.
        device: where to create the mask (default: the CPU).

    Returns:
        bool (q_len, kv_len), True = may attend.

    Raises:
        ValueError: window < 1, or a negative length (the message names the value).
    """
    # TODO: implement this (about 7 lines in the reference).
    raise NotImplementedError(
        "sliding_window_mask: not written yet. Stuck? nox -s hint -- masking"
    )


def combine_masks(attention_mask: Bool[Tensor, "batch kv_len"], q_len: int | None = None,
                  causal: bool = True,
                  window: int | None = None) -> Bool[Tensor, "batch 1 q_len kv_len"]:
    """One boolean mask for attention: padding AND causal AND (optionally) sliding window.

    Args:
        attention_mask: bool (batch, kv_len) from `padding_mask` (Hugging Face's 2-D
            `attention_mask`), True = real token, covering every key (cached and new). Only keys
            are masked: a pad query may end up with an all-False row.
        q_len: number of queries, the last q_len positions (default kv_len, i.e. a prefill).
        causal: apply `causal_mask(q_len, kv_len)`; False gives bidirectional attention.
        window: if given, apply `sliding_window_mask(q_len, kv_len, window)` instead of the plain
            causal mask (needs causal=True).

    Returns:
        bool (batch, 1, q_len, kv_len): the singleton head axis broadcasts over heads in
        attention. result[b, 0, i, j] = attention_mask[b, j] and query i may see key j.

    Raises:
        ValueError: attention_mask not 2-D, or window given with causal=False.
    """
    # TODO: implement this (about 15 lines in the reference).
    raise NotImplementedError(
        "combine_masks: not written yet. Stuck? nox -s hint -- masking"
    )


def to_additive(mask: Bool[Tensor, "..."],
                dtype: torch.dtype = torch.float32) -> Float[Tensor, "..."]:
    """Boolean mask -> float mask to add to attention scores.

    Args:
        mask: bool, any shape, True = may attend.
        dtype: a floating dtype for the result (float16, bfloat16, float32, float64).

    Returns:
        `dtype` tensor of mask's shape and device: 0 where True, torch.finfo(dtype).min (the most
        negative finite value) where False. Never -inf, so a fully masked row stays finite.

    Raises:
        ValueError: mask not bool, or dtype not floating point.
    """
    # TODO: implement this (about 6 lines in the reference).
    raise NotImplementedError(
        "to_additive: not written yet. Stuck? nox -s hint -- masking"
    )


def position_ids(attention_mask: Bool[Tensor, "batch seq"]) -> Int[Tensor, "batch seq"]:
    """Positions that count real tokens only, so left padding does not shift them.

    Args:
        attention_mask: bool (batch, seq), True = real token (any pattern, e.g. left padding).

    Returns:
        int64 (batch, seq): the k-th real token of a row (k = 0, 1, ...) gets k; pad positions
        get 0 (as in transformers 5.x `generate`; 4.x used 1; pads are masked, so any valid
        position would do).
    """
    # TODO: implement this (about 3 lines in the reference).
    raise NotImplementedError(
        "position_ids: not written yet. Stuck? nox -s hint -- masking"
    )

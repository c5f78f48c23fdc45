"""Multi-head attention with grouped key/value heads (MHA, GQA, MQA) as an nn.Module.

Task:
    Write `MultiHeadAttention`: project the input to queries, keys and values, split them into
    heads, let every query head attend over its key/value head, merge the heads and apply the
    output projection. `num_kv_heads` < `num_heads` shares each key/value head between a group
    of `num_heads // num_kv_heads` query heads (GQA; `num_kv_heads=1` is MQA). Passing `context`
    makes it cross-attention: keys and values come from `context`, queries from `x`.

Rules:
    Do not call torch.nn.functional.scaled_dot_product_attention, torch.nn.MultiheadAttention or
    torch.nn.functional.multi_head_attention_forward: write the attention with matmul/softmax.
    nn.Linear, view/reshape/transpose, repeat_interleave and einops are fine.

Shapes:
    batch, q_len (queries), kv_len (keys/values), d_model, heads (num_heads), kv_heads
    (num_kv_heads), head_dim = d_model // num_heads, group = num_heads // num_kv_heads.

Reference:
    Vaswani et al. 2017, "Attention Is All You Need", §3.2.2 (multi-head attention); Shazeer 2019
    (MQA); Ainslie et al. 2023 (GQA). Projection names and the head grouping follow Hugging Face
    `modeling_llama.py` (`q_proj`, `k_proj`, `v_proj`, `o_proj`; query head h reads key/value
    head h // group, i.e. repeat_interleave, as `scaled_dot_product_attention(enable_gqa=True)`).
    Version line: transformers 5.x LlamaAttention and torch 2.x nn.MultiheadAttention;
    `nox -s oracles` checks it against transformers 5.18 and torch 2.13.

Notable choices:
    - `bias` switches the bias of all four projections together, as in nn.MultiheadAttention
      (LLaMA uses bias=False, the original Transformer and GPT-2 use biases).
    - Masks follow scaled_dot_product_attention: bool True = may attend (nn.MultiheadAttention
      uses the opposite, True = blocked); a float mask is added to the scores.
    - Scores and softmax are computed in float32 and cast back to the input dtype. A query whose
      keys are all masked gets a zero attention output (so its result is o_proj's bias), not NaN.

Grade: nox -s multihead_attention
"""

import math

import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn


class MultiHeadAttention(nn.Module):
    """Multi-head attention; set `num_kv_heads` for grouped-query (GQA) or multi-query (MQA).

    Attributes (tests copy weights into these, so use exactly these names and shapes):
        q_proj: nn.Linear(d_model, num_heads * head_dim, bias=bias)
        k_proj: nn.Linear(d_model, num_kv_heads * head_dim, bias=bias)
        v_proj: nn.Linear(d_model, num_kv_heads * head_dim, bias=bias)
        o_proj: nn.Linear(num_heads * head_dim, d_model, bias=bias)
    Head h owns output features h * head_dim .. (h + 1) * head_dim - 1 of its projection.
    `num_kv_heads=None` means num_heads (plain MHA); 1 is MQA. `bias` applies to all four.

    Raises:
        ValueError: d_model not divisible by num_heads, or num_heads not divisible by
            num_kv_heads (the message names the values).
    """

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int | None = None,
                 bias: bool = False) -> None:
        super().__init__()
        # TODO: implement this (about 13 lines in the reference).
        raise NotImplementedError(
            "__init__: not written yet. Stuck? nox -s hint -- multihead_attention"
        )

    def forward(
        self,
        x: Float[Tensor, "batch q_len d_model"],
        context: Float[Tensor, "batch kv_len d_model"] | None = None,
        attn_mask: Bool[Tensor, "... q_len kv_len"] | Float[Tensor, "... q_len kv_len"]
        | None = None,
    ) -> Float[Tensor, "batch q_len d_model"]:
        """Attend from `x` to `context` (self-attention when `context` is None).

        Args:
            x: (batch, q_len, d_model), the module's dtype (any float dtype).
            context: optional (batch, kv_len, d_model): keys and values come from it.
            attn_mask: optional, broadcastable to (batch, heads, q_len, kv_len), e.g.
                (q_len, kv_len) or a key-padding mask (batch, 1, 1, kv_len). bool: True = may
                attend; float: added to the scores (-inf blocks).

        Returns:
            (batch, q_len, d_model) in the dtype of `x`.
        """
        # TODO: implement this (about 21 lines in the reference).
        raise NotImplementedError(
            "forward: not written yet. Stuck? nox -s hint -- multihead_attention"
        )

"""Feed-forward blocks: the GELU MLP and SwiGLU, with LLaMA's hidden-size rule.

Task:
    Write `gelu` (exact erf form and the tanh approximation), the GPT/BERT-style MLP
    down(gelu(up(x))), the LLaMA SwiGLU block down(silu(gate(x)) * up(x)), and
    `llama_hidden_size`: 2/3 of 4·d_model, optionally scaled, rounded up to a multiple.

Rules:
    Do not call torch.nn.functional.gelu or torch.nn.GELU. F.linear, matmul, torch.erf,
    torch.tanh, torch.sigmoid and torch.nn.functional.silu are fine.

Shapes:
    batch axes (any number, `...`), d_model (model width), d_ff (hidden width). Weights use
    nn.Linear's layout (out_features, in_features): a projection is x @ weightᵀ (+ bias).

Reference:
    GELU: Hendrycks & Gimpel 2016, x·Φ(x) and its tanh approximation (torch.nn.GELU).
    SwiGLU: Shazeer 2020, "GLU Variants Improve Transformer", Eq. 6 (FFN_SwiGLU, no biases).
    Hidden size: Meta's llama `model.py` FeedForward (multiple_of, ffn_dim_multiplier).
    Version line: torch 2.x GELU and transformers 5.x LlamaMLP; `nox -s oracles` checks it
    against torch 2.13 and transformers 5.18.

Notable choices:
    - Projections run in x's dtype, as nn.Linear would; activations (GELU, SiLU) are evaluated
      in float32 for half-precision x and in float64 for float64 x, then cast back. Every result
      has x's dtype.
    - Hidden size: int(2·4·d_model/3), then int(· ffn_dim_multiplier), then rounded up to
      multiple_of: LLaMA-7B's 4096 gives 11008.

Grade: nox -s feed_forward
"""

import math

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor


def gelu(x: Float[Tensor, "..."], approximate: str = "none") -> Float[Tensor, "..."]:
    """x·Φ(x) = 0.5·x·(1 + erf(x/√2)); with approximate="tanh",
    0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). Same shape and dtype as x.

    Raises:
        ValueError: approximate is not "none" or "tanh".
    """
    # TODO: implement this (about 8 lines in the reference).
    raise NotImplementedError(
        "gelu: not written yet. Stuck? nox -s hint -- feed_forward"
    )


def gelu_mlp(
    x: Float[Tensor, "... d_model"],
    up_weight: Float[Tensor, "d_ff d_model"],
    down_weight: Float[Tensor, "d_model d_ff"],
    up_bias: Float[Tensor, " d_ff"] | None = None,
    down_bias: Float[Tensor, " d_model"] | None = None,
    approximate: str = "none",
) -> Float[Tensor, "... d_model"]:
    """down(gelu(up(x))): the Transformer / GPT-2 / BERT position-wise feed-forward block.

    Args:
        x: (..., d_model), any float dtype; the weights and biases share its dtype and device.
        up_weight: (d_ff, d_model); down_weight: (d_model, d_ff) (nn.Linear layout).
        up_bias: optional (d_ff,); down_bias: optional (d_model,); None means no bias.
        approximate: "none" (erf) or "tanh", as in `gelu`.

    Returns:
        (..., d_model) in x's dtype.

    Raises:
        ValueError: weight or bias shapes that do not fit x and each other (names the shapes).
    """
    # TODO: implement this (about 10 lines in the reference).
    raise NotImplementedError(
        "gelu_mlp: not written yet. Stuck? nox -s hint -- feed_forward"
    )


def swiglu(
    x: Float[Tensor, "... d_model"],
    gate_weight: Float[Tensor, "d_ff d_model"],
    up_weight: Float[Tensor, "d_ff d_model"],
    down_weight: Float[Tensor, "d_model d_ff"],
) -> Float[Tensor, "... d_model"]:
    """down(silu(gate(x)) * up(x)) with silu(z) = z·sigmoid(z); no biases (LLaMA's MLP).

    silu is evaluated in float32 for half-precision x (float64 x stays float64) and cast back
    to x's dtype before the product with up(x).

    Args:
        x: (..., d_model), any float dtype; the weights share its dtype and device.
        gate_weight, up_weight: (d_ff, d_model) each; down_weight: (d_model, d_ff).

    Returns:
        (..., d_model) in x's dtype.

    Raises:
        ValueError: weight shapes that do not fit x and each other (names the shapes).
    """
    # TODO: implement this (about 11 lines in the reference).
    raise NotImplementedError(
        "swiglu: not written yet. Stuck? nox -s hint -- feed_forward"
    )


def llama_hidden_size(d_model: int, multiple_of: int = 256,
                      ffn_dim_multiplier: float | None = None) -> int:
    """d_ff for a SwiGLU block with about the parameters of a 4·d_model GELU MLP.

    Args:
        d_model: model width, >= 1.
        multiple_of: d_ff is rounded up to a multiple of this, >= 1 (256 in LLaMA 1/2).
        ffn_dim_multiplier: optional factor > 0 applied before rounding (1.3 in Llama 3 8B/70B).

    Returns:
        The hidden size d_ff, a Python int.

    Raises:
        ValueError: d_model or multiple_of < 1, or ffn_dim_multiplier <= 0.
    """
    # TODO: implement this (about 8 lines in the reference).
    raise NotImplementedError(
        "llama_hidden_size: not written yet. Stuck? nox -s hint -- feed_forward"
    )

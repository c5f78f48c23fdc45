"""LayerNorm and RMSNorm.

Task:
    Write `layer_norm` and `rms_norm` over the last axis. LayerNorm subtracts the mean and
    divides by the standard deviation; RMSNorm only divides by the root mean square (no mean,
    no bias). Both then scale by an optional `weight` (LayerNorm also adds an optional `bias`).
    Compute in float32 and cast the result back to the input dtype.

Rules:
    Do not call torch.nn.functional.layer_norm, rms_norm, group_norm or normalize,
    torch.layer_norm, torch.rms_norm, torch.nn.LayerNorm or torch.nn.RMSNorm. mean, var, sqrt
    and rsqrt are fine.

Shapes:
    batch axes (any number, `...`), d_model (the normalised, last axis).

Reference:
    LayerNorm: Ba et al. 2016, "Layer Normalization", Eq. 4 (torch.nn.functional.layer_norm).
    RMSNorm: Zhang & Sennrich 2019, "Root Mean Square Layer Normalization", Eq. 4
    (torch.nn.functional.rms_norm; LlamaRMSNorm in transformers).
    Version line: torch 2.x layer_norm / rms_norm and transformers 5.x LlamaRMSNorm (which
    computes float64 inputs in float32; this kata keeps float64); `nox -s oracles` checks it
    against torch 2.13 and transformers 5.18.

Notable choices:
    - eps goes inside the square root: x / sqrt(var + eps), as in torch and LLaMA.
    - The variance is the biased one (divide by d_model, not d_model - 1), as in torch.
    - float16/bfloat16 inputs are upcast to float32 (float64 stays float64): squares of
      float16 values above 256 overflow 65504. weight and bias are applied in that dtype too.

Grade: nox -s normalization
"""

import torch
from jaxtyping import Float
from torch import Tensor


def layer_norm(
    x: Float[Tensor, "... d_model"],
    weight: Float[Tensor, " d_model"] | None = None,
    bias: Float[Tensor, " d_model"] | None = None,
    eps: float = 1e-5,
) -> Float[Tensor, "... d_model"]:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis.

    Args:
        x: (..., d_model), any float dtype.
        weight: optional (d_model,) gain; None means 1.
        bias: optional (d_model,) shift; None means 0.
        eps: >= 0, added to the biased variance inside the square root.

    Returns:
        (..., d_model) in x's dtype.

    Raises:
        ValueError: weight or bias whose shape is not (d_model,); the message names both shapes.
    """
    # TODO: implement this (about 15 lines in the reference).
    raise NotImplementedError(
        "layer_norm: not written yet. Stuck? nox -s hint -- normalization"
    )


def rms_norm(
    x: Float[Tensor, "... d_model"],
    weight: Float[Tensor, " d_model"] | None = None,
    eps: float = 1e-6,
) -> Float[Tensor, "... d_model"]:
    """x / sqrt(mean(x²) + eps) * weight over the last axis (no centring, no bias).

    Args:
        x: (..., d_model), any float dtype.
        weight: optional (d_model,) gain; None means 1.
        eps: >= 0, added to the mean square inside the square root.

    Returns:
        (..., d_model) in x's dtype.

    Raises:
        ValueError: weight whose shape is not (d_model,); the message names both shapes.
    """
    # TODO: implement this (about 11 lines in the reference).
    raise NotImplementedError(
        "rms_norm: not written yet. Stuck? nox -s hint -- normalization"
    )

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
    # BEGIN SOLUTION
    d_model = x.shape[-1]
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and tuple(param.shape) != (d_model,):
            raise ValueError(f"{name} has shape {tuple(param.shape)} but x {tuple(x.shape)} has "
                             f"d_model={d_model}: pass a ({d_model},) tensor")
    compute = torch.promote_types(x.dtype, torch.float32)
    h = x.to(compute)
    mean = h.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((h - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased
    out = (h - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        out = out * weight.to(compute)
    if bias is not None:
        out = out + bias.to(compute)
    return out.to(x.dtype)
    # END SOLUTION


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
    # BEGIN SOLUTION
    d_model = x.shape[-1]
    if weight is not None and tuple(weight.shape) != (d_model,):
        raise ValueError(f"weight has shape {tuple(weight.shape)} but x {tuple(x.shape)} has "
                         f"d_model={d_model}: pass a ({d_model},) tensor")
    compute = torch.promote_types(x.dtype, torch.float32)
    h = x.to(compute)
    mean_square = h.pow(2).mean(dim=-1, keepdim=True)  # (..., 1)
    out = h * torch.rsqrt(mean_square + eps)
    if weight is not None:
        out = out * weight.to(compute)
    return out.to(x.dtype)
    # END SOLUTION

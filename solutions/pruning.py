"""Pruning: magnitude masks per layer and global, 2:4 sparsity, channels and heads, masked layers.

Task:
    Build the masks that make a model sparse, and a layer that keeps them through training.
    `magnitude_mask` drops exactly k weights of smallest |w| in one tensor, `global_masks` the k
    smallest across several tensors at once; `semi_structured_mask` keeps the 2 largest of
    every 4 consecutive weights along the input dimension (NVIDIA's 2:4 sparsity);
    `channel_mask` drops whole channels (or groups of `group_size` consecutive channels, e.g.
    the head_dim rows of an attention head) with the smallest L_n norm. `MaskedLinear`
    multiplies its weight by the mask at every forward, so no optimizer step can revive a
    pruned weight. Use the given `num_to_prune` to turn an amount into a count.

Rules:
    Do not use torch.nn.utils.prune (the grader's oracle) or torch's sparse tensor types.

Shapes:
    d_out, d_in (a weight is (d_out, d_in), as in nn.Linear); masks are bool tensors of the
    weight's shape, True = keep.

Reference:
    Magnitude pruning: Han et al. 2015, "Learning both Weights and Connections for Efficient
    Neural Networks"; amounts, norms and the weight_orig · weight_mask reparametrization as in
    torch.nn.utils.prune (l1_unstructured, global_unstructured, ln_structured,
    custom_from_mask; torch 2.x). 2:4: Mishra et al. 2021, "Accelerating Sparse Deep Neural
    Networks" (NVIDIA Ampere), groups of 4 along the reduction (input) dimension. Heads:
    Michel et al. 2019, "Are Sixteen Heads Really Better than One?".

Notable choices:
    - Ties: among equal scores the lower index is pruned first (for global masks: the earlier
      tensor, then the lower flat index); for 2:4 the lower index of a tie is kept.
      torch.nn.utils.prune breaks ties by torch.topk, which does not promise an order.
    - A float amount is a fraction (k = round(amount · count), Python's round), an int amount
      is a count, as in torch.nn.utils.prune.
    - MaskedLinear keeps the unpruned original in `weight_orig` and the mask as a float buffer
      `weight_mask`; its `weight` is their product (torch's reparametrization).

Grade: nox -s pruning
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn


def num_to_prune(amount: int | float, count: int) -> int:
    """How many of `count` units to prune: an int amount as is, a float as round(amount·count).

    Raises:
        ValueError: a float outside [0, 1], an int outside [0, count], or another type.
    """
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ValueError(f"amount {amount!r} must be an int count or a float fraction")
    if isinstance(amount, int):
        if not 0 <= amount <= count:
            raise ValueError(f"cannot prune {amount} of {count} units")
        return amount
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount {amount} is a fraction and must lie in [0, 1]")
    return round(amount * count)


def magnitude_mask(weight: Float[Tensor, "..."], amount: int | float) -> Bool[Tensor, "..."]:
    """Keep-mask that prunes the num_to_prune(amount, weight.numel()) entries of smallest |w|."""
    # BEGIN SOLUTION
    k = num_to_prune(amount, weight.numel())
    order = torch.sort(weight.detach().abs().flatten(), stable=True).indices  # ascending |w|
    mask = torch.ones(weight.numel(), dtype=torch.bool, device=weight.device)
    mask[order[:k]] = False
    return mask.view(weight.shape)
    # END SOLUTION


def global_masks(weights: list[Tensor], amount: int | float) -> list[Bool[Tensor, "..."]]:
    """Keep-masks that prune the k entries of smallest |w| among all tensors together,
    k = num_to_prune(amount, total number of entries)."""
    # BEGIN SOLUTION
    flat = torch.cat([weight.detach().abs().flatten() for weight in weights])
    masks = magnitude_mask(flat, num_to_prune(amount, flat.numel()))
    sizes = [weight.numel() for weight in weights]
    return [mask.view(weight.shape) for mask, weight in zip(masks.split(sizes), weights,
                                                             strict=True)]
    # END SOLUTION


def semi_structured_mask(weight: Float[Tensor, "d_out d_in"]) -> Bool[Tensor, "d_out d_in"]:
    """2:4 keep-mask: in every group of 4 consecutive entries of a row, the 2 of largest |w|.

    Raises:
        ValueError: weight is not 2-D or d_in is not a multiple of 4.
    """
    # BEGIN SOLUTION
    if weight.dim() != 2 or weight.shape[1] % 4:
        raise ValueError(f"weight of shape {tuple(weight.shape)}: 2:4 sparsity needs a 2-D "
                         "weight whose d_in is a multiple of 4")
    d_out, d_in = weight.shape
    groups = weight.detach().abs().reshape(d_out, d_in // 4, 4)
    # sort descending with stable ties: the 2 first are the kept ones, lower index first
    keep = torch.sort(groups, dim=-1, descending=True, stable=True).indices[..., :2]
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)
    return mask.reshape(d_out, d_in)
    # END SOLUTION


def channel_mask(weight: Float[Tensor, "..."], amount: int | float, dim: int = 0,
                 n: float = 2.0, group_size: int = 1) -> Bool[Tensor, "..."]:
    """Structured keep-mask: prune whole groups of channels along `dim` by their L_n norm.

    Channels are the slices weight.select(dim, c); group g is channels
    g·group_size .. (g + 1)·group_size − 1 (group_size = head_dim prunes attention heads), and
    its score is the L_n norm of all its entries. num_to_prune(amount, number of groups) groups
    with the smallest scores are pruned. group_size = 1 is torch's ln_structured.

    Raises:
        ValueError: weight.shape[dim] is not a multiple of group_size.
    """
    # BEGIN SOLUTION
    channels = weight.shape[dim]
    if group_size < 1 or channels % group_size:
        raise ValueError(f"{channels} channels along dim {dim} do not split into groups of "
                         f"{group_size}")
    moved = weight.detach().movedim(dim, 0)  # (channels, ...)
    groups = moved.reshape(channels // group_size, -1)  # (group, group_size · rest)
    scores = torch.linalg.vector_norm(groups, ord=n, dim=1)
    keep = magnitude_mask(scores, num_to_prune(amount, scores.numel()))  # (group,)
    keep = keep.repeat_interleave(group_size)  # (channels,)
    shape = [1] * weight.dim()
    shape[dim] = channels
    return keep.view(shape).expand(weight.shape).clone()
    # END SOLUTION


class MaskedLinear(nn.Module):
    """An nn.Linear pruned by a keep-mask that holds through training.

    Attributes:
        weight_orig: nn.Parameter, the linear's weight before pruning (trained).
        weight_mask: float buffer of the weight's shape, 1.0 = keep.
        bias: the linear's bias (a copy), or None.

    Raises:
        ValueError: the mask's shape differs from the weight's.
    """

    def __init__(self, linear: nn.Linear, mask: Bool[Tensor, "d_out d_in"]) -> None:
        super().__init__()
        # BEGIN SOLUTION
        if mask.shape != linear.weight.shape:
            raise ValueError(f"mask of shape {tuple(mask.shape)} for a weight of shape "
                             f"{tuple(linear.weight.shape)}")
        self.weight_orig = nn.Parameter(linear.weight.detach().clone())
        self.register_buffer("weight_mask", mask.to(linear.weight.dtype))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())
        # END SOLUTION

    @property
    def weight(self) -> Float[Tensor, "d_out d_in"]:
        """The effective (pruned) weight."""
        # BEGIN SOLUTION
        return self.weight_orig * self.weight_mask
        # END SOLUTION

    def forward(self, x: Float[Tensor, "*batch d_in"]) -> Float[Tensor, "*batch d_out"]:
        return nn.functional.linear(x, self.weight, self.bias)

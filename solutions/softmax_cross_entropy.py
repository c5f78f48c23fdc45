"""Stable softmax, log-softmax and logsumexp; cross-entropy and the causal-LM loss.

Task:
    Write `logsumexp`, `log_softmax` and `softmax` that never overflow (logits of ±1e4 in
    float16 included), then `cross_entropy` with `ignore_index`, the causal-LM loss (position t
    predicts label t+1) and a loss over gradient-accumulation micro-batches that is normalised
    by the total number of counted tokens of all micro-batches, not the mean of their means.

Rules:
    Do not call torch's softmax, log_softmax, logsumexp or cross_entropy / nll_loss (torch.*,
    torch.special.*, torch.nn.functional.*, nn.CrossEntropyLoss). exp, log, amax, sum, gather fine.

Shapes:
    batch axes (any number, `...`), batch, seq, vocab (classes, the last axis of logits).

Reference:
    logsumexp trick: log Σ exp(x) = m + log Σ exp(x − m), m = max(x). Loss conventions:
    torch.nn.functional.cross_entropy (ignore_index, reductions) and transformers'
    ForCausalLMLoss (label shift inside the loss; `num_items_in_batch` for accumulation).
    Version line: torch 2.x and transformers 5.x ForCausalLMLoss; `nox -s oracles` checks it
    against torch 2.13 and transformers 5.18.

Notable choices:
    - All maths in float32 (float64 stays float64). softmax / log_softmax / logsumexp return
      the input dtype; losses are float32 (float64 for float64 logits), as transformers upcasts
      logits for the loss.
    - A logsumexp over only -inf entries is -inf (torch's convention), never NaN. An empty
      axis is not an error, as in torch: logsumexp over it is -inf (the log of an empty sum),
      softmax and log_softmax return the empty input's shape.
    - A "mean" over zero counted targets is NaN, as in torch.

Grade: nox -s softmax_cross_entropy
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


def logsumexp(x: Float[Tensor, "..."], dim: int = -1) -> Float[Tensor, "..."]:
    """log(sum(exp(x))) over `dim` (removed from the shape), in x's dtype; entries may be -inf.

    An empty `dim` gives -inf (log 0), as torch.logsumexp does.
    """
    # BEGIN SOLUTION
    h = x.to(torch.promote_types(x.dtype, torch.float32))
    if h.shape[dim] == 0:  # amax has no value to shift by; the sum of no terms is 0
        return torch.full_like(h.sum(dim=dim), float("-inf")).to(x.dtype)
    m = h.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # an all -inf slice: shift by 0
    out = m.squeeze(dim) + torch.log(torch.exp(h - m).sum(dim=dim))
    return out.to(x.dtype)
    # END SOLUTION


def log_softmax(x: Float[Tensor, "..."], dim: int = -1) -> Float[Tensor, "..."]:
    """x − logsumexp(x) over `dim`, same shape and dtype as x; accurate for large x too.

    An empty `dim` gives an empty result of x's shape, as torch.log_softmax does.
    """
    # BEGIN SOLUTION
    h = x.to(torch.promote_types(x.dtype, torch.float32))
    if h.shape[dim] == 0:
        return x.clone()
    shifted = h - h.amax(dim=dim, keepdim=True)  # <= 0: x − lse(x) would cancel for |x| ~ 1e4
    return (shifted - logsumexp(shifted, dim).unsqueeze(dim)).to(x.dtype)
    # END SOLUTION


def softmax(x: Float[Tensor, "..."], dim: int = -1) -> Float[Tensor, "..."]:
    """exp(x) / sum(exp(x)) over `dim`, same shape and dtype as x; no overflow for large x.

    An empty `dim` gives an empty result of x's shape, as torch.softmax does.
    """
    # BEGIN SOLUTION
    h = x.to(torch.promote_types(x.dtype, torch.float32))
    if h.shape[dim] == 0:
        return x.clone()
    e = torch.exp(h - h.amax(dim=dim, keepdim=True))
    return (e / e.sum(dim=dim, keepdim=True)).to(x.dtype)
    # END SOLUTION


def cross_entropy(
    logits: Float[Tensor, "... vocab"], targets: Int[Tensor, "..."], ignore_index: int = -100,
    reduction: str = "mean",
) -> Float[Tensor, "..."]:
    """−log softmax(logits)[target] per position, like torch.nn.functional.cross_entropy.

    Positions whose target is `ignore_index` add 0 and are not counted. reduction: "none" →
    (...) losses, "sum" → their sum, "mean" → sum / number of counted targets. The result is
    float32 for float32 and half-precision logits, float64 for float64 logits.

    Raises:
        ValueError: targets.shape != logits.shape[:-1], a target outside [0, vocab) that is
            not ignore_index (the message names it), or an unknown reduction.
    """
    # BEGIN SOLUTION
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets {tuple(targets.shape)} must have the shape of logits "
                         f"{tuple(logits.shape)} without its last (vocab) axis")
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction={reduction!r}: use 'none', 'sum' or 'mean'")
    vocab = logits.shape[-1]
    counted = targets != ignore_index
    bad = counted & ((targets < 0) | (targets >= vocab))
    if bad.any():
        raise ValueError(f"target {int(targets[bad][0])} is outside [0, {vocab}); use "
                         f"ignore_index={ignore_index} for positions without a label")
    logprobs = log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)))
    safe = torch.where(counted, targets, torch.zeros_like(targets)).unsqueeze(-1)  # (..., 1)
    losses = -logprobs.gather(-1, safe).squeeze(-1) * counted  # (...), 0 where ignored
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / counted.sum()
    # END SOLUTION


def causal_lm_loss(
    logits: Float[Tensor, "batch seq vocab"], labels: Int[Tensor, "batch seq"],
    ignore_index: int = -100, num_items_in_batch: int | None = None,
) -> Float[Tensor, ""]:
    """Next-token loss: logits at position t are scored against labels[t + 1].

    Args:
        logits: (batch, seq, vocab), any float dtype; the last position predicts nothing.
        labels: (batch, seq) integer input ids, ignore_index on padding / prompt tokens; the
            first label is never predicted. The shift happens here, not in the data.
        ignore_index: label value that is not scored.
        num_items_in_batch: optional positive count to divide the summed loss by (the counted
            targets of the whole accumulated batch, as in transformers).

    Returns:
        A scalar, float32 (float64 for float64 logits): the mean over counted targets (NaN if
        none), or their sum / num_items_in_batch when given.

    Raises:
        ValueError: as `cross_entropy`, for a label outside [0, vocab) that is not ignore_index.
    """
    # BEGIN SOLUTION
    shift_logits = logits[:, :-1, :]  # (batch, seq - 1, vocab): positions 0..seq-2
    shift_labels = labels[:, 1:]  # (batch, seq - 1): the tokens they predict
    if num_items_in_batch is None:
        return cross_entropy(shift_logits, shift_labels, ignore_index, "mean")
    return cross_entropy(shift_logits, shift_labels, ignore_index, "sum") / num_items_in_batch
    # END SOLUTION


def accumulated_causal_lm_loss(
    micro_batches: list[tuple[Float[Tensor, "batch seq vocab"], Int[Tensor, "batch seq"]]],
    ignore_index: int = -100,
) -> Float[Tensor, ""]:
    """Loss of one optimizer step made of micro-batches (logits, labels), for one backward.

    Equals causal_lm_loss of all micro-batches concatenated: the summed token losses divided
    by the total number of counted targets (after the shift) of every micro-batch.

    Raises:
        ValueError: no micro-batch, or no counted target in any of them.
    """
    # BEGIN SOLUTION
    total = sum(int((labels[:, 1:] != ignore_index).sum()) for _, labels in micro_batches)
    if total == 0:
        raise ValueError(f"no counted target in {len(micro_batches)} micro-batches: every label "
                         f"after the shift is ignore_index={ignore_index}")
    return sum(causal_lm_loss(logits, labels, ignore_index, num_items_in_batch=total)
               for logits, labels in micro_batches)
    # END SOLUTION

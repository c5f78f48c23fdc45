"""Mixed-precision training: dynamic loss scaling, global-norm clipping, fp32 master weights.

Task:
    Write the loop that trains an fp16/bf16 model safely. `DynamicLossScaler` follows
    torch.amp.GradScaler: the loss is multiplied by `scale` before backward; `unscale_` divides
    the optimizer's gradients by it and records whether any is inf/NaN; `step` skips the
    optimizer step when one was; `update` halves the scale after an overflow and doubles it
    after `growth_interval` clean steps in a row. `clip_grad_norm_` rescales gradients to a
    global norm of at most `max_norm` (torch's formula). `train_step` ties them together with
    fp32 master weights: half-precision forward/backward, gradients copied to the fp32 master
    copy, unscale, clip, step, update, and the master weights cast back into the model.

Rules:
    Do not use torch.amp.GradScaler (or torch.cuda.amp / torch.cpu.amp) or
    torch.nn.utils.clip_grad_norm_ and friends: the grader uses them as oracles.

Reference:
    Micikevicius et al. 2018, "Mixed Precision Training", §3.1 (fp32 master copy) and §3.2
    (loss scaling); the dynamic schedule and API of torch.amp.GradScaler (torch 2.x):
    init_scale 2^16, growth_factor 2, backoff_factor 0.5, growth_interval 2000, unscale_
    before clipping. Clipping: torch.nn.utils.clip_grad_norm_ (total norm = the norm of the
    per-tensor norms; coefficient max_norm / (total + 1e-6), applied only when below 1).

Notable choices:
    - After an overflow the step is skipped, the scale is multiplied by backoff_factor and the
      count of clean steps restarts at 0; the growth_interval-th clean step in a row multiplies
      the scale by growth_factor and restarts the count (GradScaler's _amp_update_scale_).
    - unscale_ multiplies by 1/scale computed in float64 and cast to float32, as GradScaler.
    - The total norm has the gradients' dtype (float64 gradients give a float64 norm).

Grade: nox -s mixed_precision
"""

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn


class DynamicLossScaler:
    """GradScaler's dynamic loss scale for one optimizer.

    Use per iteration: `scaler.scale_loss(loss).backward()`, optionally `scaler.unscale_(opt)`
    and clipping, then `scaler.step(opt)` and `scaler.update()`.

    Attributes:
        scale: the current loss scale (a float).
        growth_tracker: clean steps in a row since the scale last changed.
    """

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000) -> None:
        if not (init_scale > 0 and growth_factor > 1 and 0 < backoff_factor < 1
                and growth_interval >= 1):
            raise ValueError("need init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1 and "
                             f"growth_interval >= 1; got {init_scale}, {growth_factor}, "
                             f"{backoff_factor}, {growth_interval}")
        self.scale, self.growth_factor, self.backoff_factor = init_scale, growth_factor, \
            backoff_factor
        self.growth_interval, self.growth_tracker = growth_interval, 0
        self.found_inf: bool | None = None  # None until this iteration's grads are unscaled

    def scale_loss(self, loss: Tensor) -> Tensor:
        """loss · scale."""
        return loss * self.scale

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients of the optimizer's parameters by `scale`, in place, and record
        whether any of them holds inf or NaN.

        Raises:
            RuntimeError: unscale_ was already called since the last update().
        """
        # TODO: implement this (about 9 lines in the reference).
        raise NotImplementedError(
            "unscale_: not written yet. Stuck? nox -s hint -- mixed_precision"
        )

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Unscale (unless done already) and take the optimizer step unless a gradient is inf
        or NaN. Returns True when the step was taken."""
        # TODO: implement this (about 6 lines in the reference).
        raise NotImplementedError(
            "step: not written yet. Stuck? nox -s hint -- mixed_precision"
        )

    def update(self) -> None:
        """End the iteration: back off after an overflow, grow after growth_interval clean steps.

        Raises:
            RuntimeError: neither unscale_ nor step ran since the last update().
        """
        # TODO: implement this (about 11 lines in the reference).
        raise NotImplementedError(
            "update: not written yet. Stuck? nox -s hint -- mixed_precision"
        )


def clip_grad_norm_(parameters: Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0) -> Tensor:
    """Scale all gradients in place so that their global norm is at most max_norm.

    total = ‖(‖g_1‖_p, ..., ‖g_n‖_p)‖_p over the parameters that have a gradient (p = inf: the
    largest |g|); each gradient is multiplied by min(1, max_norm / (total + 1e-6)).

    Args:
        parameters: tensors whose .grad to clip; any iterable, e.g. model.parameters().
        max_norm: the largest global norm allowed.
        norm_type: p ≥ 1, or math.inf.

    Returns:
        The total norm before clipping, a 0-d tensor in the gradients' dtype (0.0 without
        gradients).
    """
    # TODO: implement this (about 12 lines in the reference).
    raise NotImplementedError(
        "clip_grad_norm_: not written yet. Stuck? nox -s hint -- mixed_precision"
    )


def make_master_params(model: nn.Module) -> list[Tensor]:
    """An fp32 copy of the model's parameters (leaf tensors; give these to the optimizer)."""
    return [param.detach().float().clone().requires_grad_() for param in model.parameters()]


def train_step(model: nn.Module, master_params: list[Tensor], optimizer: torch.optim.Optimizer,
               scaler: DynamicLossScaler, compute_loss: Callable[[nn.Module], Tensor],
               max_norm: float | None = None) -> tuple[float, bool]:
    """One mixed-precision step with fp32 master weights.

    Args:
        model: the half-precision (fp16/bf16) model used for forward and backward.
        master_params: fp32 copies of model.parameters(), in the same order; the optimizer
            updates these.
        optimizer: an optimizer over master_params.
        scaler: the loss scaler.
        compute_loss: compute_loss(model) -> the scalar (float32) loss of this step's batch.
        max_norm: if given, clip the unscaled master gradients to this global 2-norm.

    Returns:
        (the unscaled loss as a float, whether the optimizer step was taken). After the call
        the model holds the master weights cast to its dtype, and no gradients.
    """
    # TODO: implement this (about 14 lines in the reference).
    raise NotImplementedError(
        "train_step: not written yet. Stuck? nox -s hint -- mixed_precision"
    )

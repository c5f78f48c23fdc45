"""AdamW: Adam with bias correction and decoupled weight decay.

Task:
    Write `adamw_update`, one AdamW step for one tensor as a pure function, and
    `AdamW.step`, which keeps per-parameter state (step count, first and second moments) and
    applies the update to every parameter that has a gradient. The result must equal
    torch.optim.AdamW over any number of steps and hyper-parameters.

Rules:
    Do not use torch.optim.AdamW or torch.optim.Adam (nor torch.optim's functional adam/adamw).
    Plain tensor arithmetic only.

Shapes:
    A parameter and its gradient and moments all share one shape (any).

Reference:
    Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2; bias
    correction from Kingma & Ba 2015, Algorithm 1. Conventions of torch.optim.AdamW:
        param ← param · (1 − lr · weight_decay)          (decoupled: not added to the grad)
        m ← β1 · m + (1 − β1) · g,   v ← β2 · v + (1 − β2) · g²
        param ← param − lr · (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + eps)
    Version line: torch 2.x torch.optim.AdamW; `nox -s oracles` checks it against torch 2.13.

Notable choices:
    - The decay is scaled by lr (torch's convention; the paper scales it by the schedule only).
    - eps is added after the square root of the bias-corrected v̂, as in torch.
    - A parameter whose .grad is None is skipped entirely: no decay, no step count.

Grade: nox -s adamw
"""

from collections.abc import Iterable

import torch
from torch import Tensor


def adamw_update(
    param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, step: int,
    lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
    weight_decay: float = 1e-2,
) -> tuple[Tensor, Tensor, Tensor]:
    """One AdamW step; returns (new_param, new_exp_avg, new_exp_avg_sq) and changes no input.

    Args:
        param, grad, exp_avg (m), exp_avg_sq (v): same shape, float32 or float64. m and v are
            the moments after step − 1 updates (zeros before the first).
        step: 1 for the first update, 2 for the second... (the t of the bias corrections).
        lr, eps, weight_decay: >= 0. betas: (β1, β2), each in [0, 1).

    Raises:
        ValueError: step < 1 or a hyper-parameter out of range (the message names it).
    """
    # TODO: implement this (about 14 lines in the reference).
    raise NotImplementedError(
        "adamw_update: not written yet. Stuck? nox -s hint -- adamw"
    )


class AdamW:
    """A minimal torch.optim-style AdamW: `opt.zero_grad(); loss.backward(); opt.step()`."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        self.params = list(params)
        self.hyper = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        # state[i] = {"step": int, "exp_avg": Tensor, "exp_avg_sq": Tensor} for self.params[i],
        # created at its first update (moments start at zero).
        self.state: dict[int, dict] = {}

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a .grad in place; skip those whose .grad is None."""
        # TODO: implement this (about 10 lines in the reference).
        raise NotImplementedError(
            "step: not written yet. Stuck? nox -s hint -- adamw"
        )

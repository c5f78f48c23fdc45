"""Activation checkpointing: keep segment inputs, recompute the rest in backward.

Task:
    Trade compute for memory. `CheckpointFunction` is a torch.autograd.Function whose forward
    runs `run_function` without recording a graph and saves only its input (and the CPU RNG
    state); its backward replays the forward from that input with the same RNG state (so
    dropout draws the same mask), then backpropagates through the replay. `checkpoint_sequential`
    splits a stack of layers into `segments` segments and checkpoints all but the last, so
    training keeps about segments + n / segments activations alive instead of n: O(√n) with
    √n segments (Chen et al. 2016). Gradients must equal the plain model's exactly.

Rules:
    Do not use torch.utils.checkpoint (the point is to write it) or torch.autograd.graph hooks.

Shapes:
    batch, d_model; x is whatever the layers take; a segment maps a tensor to a tensor.

Reference:
    Chen, Xu, Zhang, Guestrin 2016, "Training Deep Nets with Sublinear Memory Cost", §3-4.
    Segmentation and RNG handling of torch.utils.checkpoint (torch 2.x, the reentrant
    variant): segment_size = n // segments, the last segment takes the remaining layers and
    runs without checkpointing; the RNG state at forward is restored inside
    torch.random.fork_rng for the recomputation.

Notable choices:
    - Only the CPU generator's state is saved (a CUDA version also saves each device's state).
    - If the input does not require grad, checkpoint_sequential makes a detached copy that does,
      so a Function output still joins the graph and the first segment's parameters get
      gradients (the reentrant checkpoint's classic pitfall).
    - The recomputation must not disturb the global RNG: after backward, random draws continue
      exactly as after the plain model's backward.

Grade: nox -s activation_checkpointing
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn


class CheckpointFunction(torch.autograd.Function):
    """y = run_function(x), storing only x (and the RNG state) for backward."""

    @staticmethod
    def forward(ctx, run_function: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        # TODO: implement this (about 5 lines in the reference).
        raise NotImplementedError(
            "forward: not written yet. Stuck? nox -s hint -- activation_checkpointing"
        )

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[None, Tensor | None]:
        # TODO: implement this (about 7 lines in the reference).
        raise NotImplementedError(
            "backward: not written yet. Stuck? nox -s hint -- activation_checkpointing"
        )


def checkpoint(run_function: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """run_function(x) through CheckpointFunction."""
    return CheckpointFunction.apply(run_function, x)


def run_layers(layers: Sequence[nn.Module], start: int, stop: int) -> Callable[[Tensor], Tensor]:
    """A function applying layers[start:stop] in order."""
    def forward(x: Tensor) -> Tensor:
        for layer in layers[start:stop]:
            x = layer(x)
        return x
    return forward


def checkpoint_sequential(layers: Sequence[nn.Module], segments: int, x: Tensor) -> Tensor:
    """Run layers on x in `segments` segments, checkpointing all but the last.

    With n = len(layers) and size = n // segments, segment i (i < segments − 1) is
    layers[i·size : (i + 1)·size] and goes through `checkpoint`; the last segment is
    layers[(segments − 1)·size :] and runs normally.

    Raises:
        ValueError: segments < 1 or segments > len(layers).
    """
    # TODO: implement this (about 10 lines in the reference).
    raise NotImplementedError(
        "checkpoint_sequential: not written yet. Stuck? nox -s hint -- activation_checkpointing"
    )

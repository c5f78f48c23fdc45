"""Distributed training on torch.distributed: DDP gradients, a ZeRO-1 optimizer, tensor parallel.

Task:
    Write the collectives behind multi-GPU training; every function runs on each rank of an
    initialised process group. `broadcast_parameters` makes every rank start from rank 0's
    weights; `average_gradients` averages gradients across ranks with one all_reduce per bucket
    of flattened gradients (as DDP does); `ShardedOptimizer` is ZeRO stage 1: each rank keeps
    optimizer state for its own shard of the parameters, steps it, and broadcasts the result;
    `ColumnParallelLinear` and `RowParallelLinear` split a linear layer across ranks (Megatron-LM)
    so that column-parallel → activation → row-parallel equals the unsharded MLP.

Rules:
    No DistributedDataParallel, FSDP, ZeroRedundancyOptimizer or torch.distributed.tensor:
    write the collectives yourself (dist.broadcast, dist.all_reduce).

Shapes:
    batch, d_model, d_ff; world = dist.get_world_size(), rank = dist.get_rank();
    d_ff and d_model must be divisible by world where they are split.

Reference:
    Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel Training"
    (gradient buckets, averaging); Rajbhandari et al. 2020, "ZeRO", §5.1 (P_os: optimizer state
    partitioning); Shoeybi et al. 2019, "Megatron-LM", §3 and Fig. 3 (column- then
    row-parallel MLP, f and g operators). Stanford CS336 assignment 2 grades the same pieces.

Notable choices:
    - Buckets take gradients in reverse parameter order (the order backward produces them)
      until adding the next would exceed bucket_cap_bytes; a gradient larger than the cap
      gets a bucket of its own. Parameters without a gradient are skipped.
    - ShardedOptimizer gives parameter i (in module order) to rank i % world.
    - ColumnParallelLinear keeps rows rank·d_out/world .. of the weight (output features);
      RowParallelLinear keeps the matching columns (input features), all-reduces the partial
      outputs and adds its bias once, after the reduction.

Grade: nox -s distributed
"""

from collections.abc import Callable

import torch
import torch.distributed as dist
from jaxtyping import Float
from torch import Tensor, nn


def broadcast_parameters(module: nn.Module, src: int = 0) -> None:
    """Overwrite every parameter and buffer of `module` with rank src's, in place."""
    # BEGIN SOLUTION
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor, src=src)
    # END SOLUTION


def average_gradients(module: nn.Module, bucket_cap_bytes: int = 1 << 20) -> int:
    """Replace each parameter's .grad by its mean over all ranks, one all_reduce per bucket.

    Returns:
        The number of buckets (all_reduce calls) used.
    """
    # BEGIN SOLUTION
    grads = [p.grad for p in reversed(list(module.parameters())) if p.grad is not None]
    buckets, current, size = [], [], 0
    for grad in grads:
        nbytes = grad.numel() * grad.element_size()
        if current and size + nbytes > bucket_cap_bytes:
            buckets.append(current)
            current, size = [], 0
        current.append(grad)
        size += nbytes
    if current:
        buckets.append(current)
    world = dist.get_world_size()
    for bucket in buckets:
        flat = torch.cat([grad.flatten() for grad in bucket])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= world
        for grad, chunk in zip(bucket, flat.split([g.numel() for g in bucket]), strict=True):
            grad.copy_(chunk.view_as(grad))
    return len(buckets)
    # END SOLUTION


class ShardedOptimizer:
    """ZeRO-1: `optimizer_class` over this rank's shard only, then broadcast every parameter
    from the rank that owns it. Gradients must already be averaged (average_gradients).

    Attributes:
        params: all parameters, in the given order; parameter i belongs to rank i % world.
        optimizer: the local optimizer, built over this rank's parameters only.
    """

    def __init__(self, params, optimizer_class: Callable[..., torch.optim.Optimizer],
                 **kwargs) -> None:
        self.params = list(params)
        # BEGIN SOLUTION
        rank, world = dist.get_rank(), dist.get_world_size()
        self.owners = [i % world for i in range(len(self.params))]
        mine = [p for p, owner in zip(self.params, self.owners, strict=True) if owner == rank]
        self.optimizer = optimizer_class(mine, **kwargs)
        # END SOLUTION

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        """Step this rank's shard, then give every rank every updated parameter."""
        # BEGIN SOLUTION
        self.optimizer.step()
        with torch.no_grad():
            for param, owner in zip(self.params, self.owners, strict=True):
                dist.broadcast(param, src=owner)
        # END SOLUTION


class _CopyToParallel(torch.autograd.Function):
    """Megatron's f: identity in forward, all-reduce (sum) of the gradient in backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class _ReduceFromParallel(torch.autograd.Function):
    """Megatron's g: all-reduce (sum) in forward, identity in backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad


copy_to_parallel: Callable[[Tensor], Tensor] = _CopyToParallel.apply
reduce_from_parallel: Callable[[Tensor], Tensor] = _ReduceFromParallel.apply


class ColumnParallelLinear(nn.Module):
    """This rank's slice of `linear` split along its output features (weight rows, bias).

    forward(x) takes the full input (batch, d_in) and returns this rank's slice of the output
    (batch, d_out / world); pass x through copy_to_parallel so gradients of x are summed.

    Raises:
        ValueError: d_out is not divisible by world.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        # BEGIN SOLUTION
        rank, world = dist.get_rank(), dist.get_world_size()
        d_out = linear.out_features
        if d_out % world:
            raise ValueError(f"d_out = {d_out} does not split over {world} ranks")
        rows = slice(rank * d_out // world, (rank + 1) * d_out // world)
        self.weight = nn.Parameter(linear.weight.detach()[rows].clone())
        self.bias = None if linear.bias is None else nn.Parameter(
            linear.bias.detach()[rows].clone())
        # END SOLUTION

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_out_shard"]:
        # BEGIN SOLUTION
        return nn.functional.linear(copy_to_parallel(x), self.weight, self.bias)
        # END SOLUTION


class RowParallelLinear(nn.Module):
    """This rank's slice of `linear` split along its input features (weight columns).

    forward(x) takes this rank's slice of the input (batch, d_in / world) and returns the full
    output (batch, d_out): the partial products summed over ranks with reduce_from_parallel,
    plus the bias once.

    Raises:
        ValueError: d_in is not divisible by world.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        # BEGIN SOLUTION
        rank, world = dist.get_rank(), dist.get_world_size()
        d_in = linear.in_features
        if d_in % world:
            raise ValueError(f"d_in = {d_in} does not split over {world} ranks")
        columns = slice(rank * d_in // world, (rank + 1) * d_in // world)
        self.weight = nn.Parameter(linear.weight.detach()[:, columns].clone())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())
        # END SOLUTION

    def forward(self, x: Float[Tensor, "batch d_in_shard"]) -> Float[Tensor, "batch d_out"]:
        # BEGIN SOLUTION
        partial = nn.functional.linear(x, self.weight)  # (batch, d_out), this rank's share
        out = reduce_from_parallel(partial)
        return out if self.bias is None else out + self.bias
        # END SOLUTION

"""Grader for the `activation_checkpointing` kata: recomputation order, exact gradients, RNG,
and the saved-activation memory measured with saved-tensor hooks."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size

D_MODEL, BATCH = 8, 4


class _Logged(nn.Module):
    """x -> x · (index + 2), appending its index to `log` on every call."""

    def __init__(self, index, log):
        super().__init__()
        self.index, self.log = index, log
        self.scale = nn.Parameter(torch.tensor(float(index + 2)))

    def forward(self, x):
        self.log.append(self.index)
        return x * self.scale


def _layers(num_blocks, seed, dropout=0.0):
    torch.manual_seed(seed)
    layers = []
    for _ in range(num_blocks):
        layers += [nn.Linear(D_MODEL, D_MODEL), nn.Tanh()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


def _grads(layers, x):
    return [p.grad.clone() if p.grad is not None else None
            for layer in layers for p in layer.parameters()] + [x.grad]


def _plain_and_checkpointed(impl, num_blocks, segments, seed, dropout, input_requires_grad):
    """(gradients, next random draws) of the plain model and of checkpoint_sequential."""
    results = []
    for checkpointed in (False, True):
        layers = _layers(num_blocks, seed, dropout)
        x = randn((BATCH, D_MODEL), seed).requires_grad_(input_requires_grad)
        torch.manual_seed(seed + 1)
        if checkpointed:
            out = call(impl.checkpoint_sequential, layers, min(segments, len(layers)), x)
        else:
            out = nn.Sequential(*layers)(x)
        (out * torch.arange(D_MODEL)).sum().backward()
        results.append((out.detach(), _grads(layers, x), torch.rand(4)))
    return results


class _LiveSavedBytes:
    """Bytes of activations saved for backward that are still alive, and their peak.

    Every tensor autograd saves passes through the pack hook; the handle it returns lives as
    long as the graph keeps it, so its finalizer tracks when the saved tensor is released. A
    storage saved twice (a Linear's input is the previous Tanh's output) counts once.
    Parameters (saved by linear layers for the input gradient) are not activations: skipped.
    """

    def __init__(self, parameters):
        self.parameters = {p.data_ptr() for p in parameters}
        self.holders = {}  # storage pointer -> handles alive
        self.live, self.peak = 0, 0

    def pack(self, tensor):
        return _Handle(tensor, self)

    @staticmethod
    def unpack(handle):
        return handle.tensor

    def hold(self, key, size):
        self.holders[key] = self.holders.get(key, 0) + 1
        if self.holders[key] == 1:
            self.live += size
            self.peak = max(self.peak, self.live)

    def release(self, key, size):
        self.holders[key] -= 1
        if self.holders[key] == 0:
            self.live -= size


class _Handle:
    def __init__(self, tensor, counter):
        self.tensor, self.counter = tensor, counter
        self.key = tensor.untyped_storage().data_ptr()
        self.size = 0 if tensor.data_ptr() in counter.parameters else (
            tensor.untyped_storage().nbytes())
        counter.hold(self.key, self.size)

    def __del__(self):
        self.counter.release(self.key, self.size)


def _peak_saved_bytes(impl, num_blocks, segments):
    """Peak live saved activations over forward + backward, in units of one (batch, d_model)
    float32 activation."""
    layers = _layers(num_blocks, 0)
    x = randn((BATCH, D_MODEL), 1).requires_grad_()
    counter = _LiveSavedBytes([p for layer in layers for p in layer.parameters()])
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        if segments is None:
            out = nn.Sequential(*layers)(x)
        else:
            out = call(impl.checkpoint_sequential, layers, segments, x)
        out.sum().backward()
    return counter.peak / (BATCH * D_MODEL * 4)


# ---------------------------------------------------------------- worked examples


def test_checkpoint_function_recomputes_in_backward(impl):
    calls = []

    def cube_sum(x):
        calls.append(torch.is_grad_enabled())
        return (x**3).sum(dim=-1, keepdim=True)

    x = torch.tensor([[1.0, 2.0, -1.0]], requires_grad=True)
    y = call(impl.CheckpointFunction.apply, cube_sum, x)
    assert_close(y.detach(), torch.tensor([[8.0]]), what="forward value 1 + 8 - 1")
    assert calls == [False], (
        f"forward must run run_function once without recording a graph, calls saw grad "
        f"enabled = {calls}")
    (2 * y).sum().backward()
    assert_close(x.grad, torch.tensor([[6.0, 24.0, 6.0]]), what="d(2·Σx³)/dx = 6x²")
    assert calls == [False, True], (
        f"backward must recompute run_function once with grad enabled; calls: {calls}")


@pytest.mark.parametrize(("num_layers", "segments", "expected"), [
    (5, 2, [0, 1, 2, 3, 4, 0, 1]),  # size 2: [0, 1] checkpointed, [2, 3, 4] plain
    (7, 3, [0, 1, 2, 3, 4, 5, 6, 2, 3, 0, 1]),  # size 2: [0, 1], [2, 3]; [4, 5, 6] plain
    (4, 4, [0, 1, 2, 3, 2, 1, 0]),  # size 1: three checkpointed layers, the last plain
    (3, 1, [0, 1, 2]),  # one segment: nothing is checkpointed
])
def test_segments_are_recomputed_in_reverse_order(impl, num_layers, segments, expected):
    log = []
    layers = [_Logged(i, log) for i in range(num_layers)]
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    out = call(impl.checkpoint_sequential, layers, segments, x)
    scale = math.prod(i + 2 for i in range(num_layers))
    assert_close(out.detach(), x.detach() * scale, what="output of the chained layers")
    out.sum().backward()
    assert log == expected, (
        f"{num_layers} layers in {segments} segments (size n // segments, the last segment "
        f"takes the rest and is not checkpointed): forward then backward should call the "
        f"layers in the order {expected}, got {log}")
    assert_close(x.grad, torch.full((2,), float(scale)), what="gradient of the input")


# ---------------------------------------------------------------- exact gradients and RNG


@settings(max_examples=30)
@given(num_blocks=size(6), segments=size(8), seed=seeds,
       dropout=st.sampled_from([0.0, 0.5]), input_requires_grad=st.booleans())
def test_gradients_equal_the_plain_model(impl, num_blocks, segments, seed, dropout,
                                         input_requires_grad):
    (out, grads, _), (got_out, got_grads, _) = _plain_and_checkpointed(
        impl, num_blocks, segments, seed, dropout, input_requires_grad)
    assert_close(got_out, out, what="checkpointed output vs the plain model")
    for index, (got, want) in enumerate(zip(got_grads, grads, strict=True)):
        name = "input" if index == len(grads) - 1 else f"parameter {index}"
        if want is None:
            assert got is None, f"{name} needs no gradient but got one"
            continue
        assert got is not None, (
            f"{name} got no gradient: when the input does not require grad the checkpointed "
            "output does not join the graph (give the first segment an input that requires it)")
        assert_close(got, want, what=f"gradient of {name} (dropout {dropout}: is the RNG "
                                     "state restored for the recomputation?)")


def test_dropout_masks_match_and_rng_continues_as_in_the_plain_run(impl):
    (_, grads, after), (_, got_grads, got_after) = _plain_and_checkpointed(
        impl, 4, 2, 7, 0.5, True)
    for index, (got, want) in enumerate(zip(got_grads, grads, strict=True)):
        assert_close(got, want, what=f"gradient {index} with dropout 0.5")
    assert_equal(got_after, after,
                 what="torch.rand(4) after backward: recomputation must not rewind or advance "
                      "the global RNG (restore its state inside torch.random.fork_rng)")


def test_first_segment_parameters_get_gradients_without_input_grad(impl):
    (_, grads, _), (_, got_grads, _) = _plain_and_checkpointed(impl, 3, 3, 11, 0.0, False)
    assert got_grads[0] is not None, (
        "the first Linear got no weight gradient because the model input does not require "
        "grad: a Function whose inputs need no grad is cut out of the graph")
    assert_close(got_grads[0], grads[0], what="first weight gradient")


# ---------------------------------------------------------------- memory


@pytest.mark.parametrize(("num_blocks", "segments"), [(32, 8), (128, 16)])
def test_saved_activations_are_order_sqrt_n(impl, num_blocks, segments):
    # 2·num_blocks layers (Linear, Tanh); plain training keeps every block's activation, about
    # num_blocks + 1. Checkpointed: segments − 1 segment inputs + one segment's activations
    # (half its layer count + 1; the last segment is the largest).
    plain = _peak_saved_bytes(impl, num_blocks, None)
    peak = _peak_saved_bytes(impl, num_blocks, segments)
    layers = 2 * num_blocks
    last = layers - (layers // segments) * (segments - 1)
    budget = (segments - 1) + last // 2 + 1 + 3
    assert peak <= budget, (
        f"{layers} layers in {segments} segments kept up to {peak:.1f} activations alive "
        f"(plain: {plain:.1f}); checkpointing should keep {segments - 1} segment inputs + one "
        f"segment's ~{last // 2 + 1} (+3 slack) = {budget}. Are intermediate activations saved "
        "in forward, or is every layer checkpointed?")
    assert peak < plain / 2, f"checkpointed peak {peak:.1f} vs plain {plain:.1f} activations"


def test_saved_memory_grows_like_sqrt_n(impl):
    small, large = _peak_saved_bytes(impl, 32, 8), _peak_saved_bytes(impl, 128, 16)
    plain_small = _peak_saved_bytes(impl, 32, None)
    plain_large = _peak_saved_bytes(impl, 128, None)
    assert plain_large / plain_small == pytest.approx(4, rel=0.1), "sanity: plain grows like n"
    assert large / small <= 2.5, (
        f"4x the layers with 2x the segments (√n): the checkpointed peak grew {large / small:.2f}x"
        f" ({small:.1f} -> {large:.1f} activations); it should grow about 2x")


# ---------------------------------------------------------------- bad input


def test_segments_must_be_between_1_and_the_number_of_layers(impl):
    layers = _layers(2, 0)  # 4 layers
    x = randn((BATCH, D_MODEL), 0)
    call(impl.checkpoint_sequential, layers, 1, x)
    call(impl.checkpoint_sequential, layers, 4, x)
    for segments in (0, 5):
        with pytest.raises(ValueError):
            call(impl.checkpoint_sequential, layers, segments, x)

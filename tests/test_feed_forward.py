"""Grader for the `feed_forward` kata: worked examples, properties, then the torch oracles."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size

leading = st.lists(size(4), max_size=2).map(tuple)
modes = st.sampled_from(("none", "tanh"))
# Low-precision projections round at every step: compare with float64 within a few roundings.
LOOSE = {torch.float16: 4e-3, torch.bfloat16: 4e-2}


def _phi(x):  # standard normal CDF
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _weights(d_model, d_ff, seed, device, dtype=torch.float32):
    gate = randn((d_ff, d_model), seed + 1, dtype=dtype, device=device, scale=d_model**-0.5)
    up = randn((d_ff, d_model), seed + 2, dtype=dtype, device=device, scale=d_model**-0.5)
    down = randn((d_model, d_ff), seed + 3, dtype=dtype, device=device, scale=d_ff**-0.5)
    return gate, up, down


def _biases(d_model, d_ff, seed, device, dtype=torch.float32):
    return (randn((d_ff,), seed + 4, dtype=dtype, device=device),
            randn((d_model,), seed + 5, dtype=dtype, device=device))


# ---------------------------------------------------------------- worked examples


def test_gelu_worked_examples(impl, device):
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0], dtype=torch.float64, device=device)
    exact = torch.tensor([v * _phi(v) for v in x.tolist()], dtype=torch.float64, device=device)
    tanh = torch.tensor([_gelu_tanh(v) for v in x.tolist()], dtype=torch.float64, device=device)
    assert_close(call(impl.gelu, x), exact, what="gelu(x) = x·Φ(x)")
    assert_close(call(impl.gelu, x, approximate="tanh"), tanh, what="gelu(x, approximate='tanh')")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_keeps_float64_in_float64(impl, device, approximate):
    # gelu(x) = x for x = 100000001 (Φ(x) = 1), exact in float64; float32 rounds it to 1e8.
    x = torch.tensor([100000001.0], dtype=torch.float64, device=device)
    assert_close(call(impl.gelu, x, approximate=approximate), x, atol=0.0, rtol=1e-12,
                 what=f"float64 gelu(100000001, approximate={approximate!r}) (a float32 "
                      "computation gives 1e8)")


def test_gelu_mlp_worked_example(impl, device):
    x = torch.tensor([[1.0, -1.0]], device=device)
    up_weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], device=device)  # (3, 2)
    up_bias = torch.tensor([0.0, 0.0, 1.0], device=device)
    down_weight = torch.tensor([[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]], device=device)  # (2, 3)
    down_bias = torch.tensor([0.5, -0.5], device=device)
    hidden = [1.0 * _phi(1.0), -1.0 * _phi(-1.0), 1.0 * _phi(1.0)]  # up: [1, -1, 0 + 1]
    expected = torch.tensor([[sum(hidden) + 0.5, 2 * hidden[0] - 0.5]], device=device)
    output = call(impl.gelu_mlp, x, up_weight, down_weight, up_bias, down_bias)
    assert_close(output, expected, what="down(gelu(up(x))) with biases")


def test_swiglu_worked_example_gates_with_silu_of_gate(impl, device):
    x = torch.tensor([[1.0]], device=device)
    gate_weight = torch.tensor([[1.0], [2.0]], device=device)  # gate(x) = [1, 2]
    up_weight = torch.tensor([[3.0], [-1.0]], device=device)  # up(x) = [3, -1]
    down_weight = torch.tensor([[1.0, 1.0]], device=device)

    def silu(z):
        return z / (1.0 + math.exp(-z))

    expected = torch.tensor([[silu(1.0) * 3.0 + silu(2.0) * -1.0]], device=device)
    output = call(impl.swiglu, x, gate_weight, up_weight, down_weight)
    assert_close(output, expected, what="down(silu(gate(x)) * up(x)) (gate and up not swapped?)")


def test_swiglu_keeps_float64_activations_in_float64(impl, device):
    # Two gates 1e-6 apart near 20: their silu values differ by ~1e-6, which float32 (spacing
    # 1.9e-6 at 20) cannot hold; down = [1, -1] keeps only that difference.
    x = torch.tensor([[1.0]], dtype=torch.float64, device=device)
    gate_weight = torch.tensor([[20.0 + 1e-6], [20.0]], dtype=torch.float64, device=device)
    up_weight = torch.ones(2, 1, dtype=torch.float64, device=device)
    down_weight = torch.tensor([[1.0, -1.0]], dtype=torch.float64, device=device)

    def silu(z):
        return z / (1.0 + math.exp(-z))

    expected = torch.tensor([[silu(20.0 + 1e-6) - silu(20.0)]], dtype=torch.float64,
                            device=device)
    output = call(impl.swiglu, x, gate_weight, up_weight, down_weight)
    assert_close(output, expected, what="float64 swiglu (is silu computed in float32?)")


@pytest.mark.parametrize(("d_model", "multiple_of", "multiplier", "expected"), [
    (4096, 256, None, 11008),  # LLaMA-7B: int(8·4096/3) = 10922 -> next multiple of 256
    (5120, 256, None, 13824),  # LLaMA-13B: 13653 -> 13824
    (8192, 256, None, 22016),  # LLaMA-65B: 21845 -> 22016
    (4096, 1024, 1.3, 14336),  # Llama-3-8B: int(1.3 · 10922) = 14198 -> 14336
    (8192, 4096, 1.3, 28672),  # Llama-3-70B: int(1.3 · 21845) = 28398 -> 28672
    (6, 4, None, 16),  # int(48/3) = 16, already a multiple of 4
    (3, 1, None, 8),  # multiple_of 1: just int(24/3) = 8
    (1, 1, None, 2),  # the smallest valid arguments: int(8/3) = 2
])
def test_llama_hidden_size_of_published_models(impl, d_model, multiple_of, multiplier, expected):
    got = call(impl.llama_hidden_size, d_model, multiple_of, multiplier)
    assert_equal(got, expected, what=f"llama_hidden_size({d_model}, {multiple_of}, {multiplier})")


# ---------------------------------------------------------------- properties


@given(batch=leading, seed=seeds, approximate=modes)
def test_gelu_of_x_minus_gelu_of_minus_x_is_x(impl, device, batch, seed, approximate):
    # x·Φ(x) + x·Φ(−x) = x, since Φ(x) + Φ(−x) = 1 (the tanh form keeps this symmetry).
    x = randn((*batch, 5), seed, dtype=torch.float64, device=device, scale=3.0)
    difference = call(impl.gelu, x, approximate) - call(impl.gelu, -x, approximate)
    assert_close(difference, x, what=f"gelu(x) − gelu(−x) (approximate={approximate!r})")


@given(batch=leading, d_model=size(6), d_ff=size(8), seed=seeds)
def test_swiglu_with_zero_gate_is_zero(impl, device, batch, d_model, d_ff, seed):
    x = randn((*batch, d_model), seed, device=device)
    _, up, down = _weights(d_model, d_ff, seed, device)
    output = call(impl.swiglu, x, torch.zeros(d_ff, d_model, device=device), up, down)
    assert_close(output, torch.zeros_like(x), what="swiglu with gate_weight = 0 (silu(0) = 0)")


@given(batch=leading, d_model=size(6), d_ff=size(8), seed=seeds, factor=st.floats(-4.0, 4.0))
def test_swiglu_is_linear_in_the_up_projection(impl, device, batch, d_model, d_ff, seed, factor):
    x = randn((*batch, d_model), seed, dtype=torch.float64, device=device)
    gate, up, down = _weights(d_model, d_ff, seed, device, dtype=torch.float64)
    output = call(impl.swiglu, x, gate, up, down)
    scaled = call(impl.swiglu, x, gate, up * factor, down)
    assert_close(scaled, output * factor, what=f"swiglu with up_weight × {factor:g}")


@given(seq=size(6), d_model=size(6), d_ff=size(8), seed=seeds, approximate=modes)
def test_tokens_are_processed_independently(impl, device, seq, d_model, d_ff, seed, approximate):
    x = randn((seq, d_model), seed, device=device)
    gate, up, down = _weights(d_model, d_ff, seed, device)
    order = torch.randperm(seq, generator=torch.Generator().manual_seed(seed)).to(device)
    output = call(impl.swiglu, x, gate, up, down)
    assert_close(call(impl.swiglu, x[order], gate, up, down), output[order],
                 what="swiglu of permuted tokens vs permuted swiglu output")
    output = call(impl.gelu_mlp, x, up, down, approximate=approximate)
    assert_close(call(impl.gelu_mlp, x[order], up, down, approximate=approximate), output[order],
                 what="gelu_mlp of permuted tokens vs permuted gelu_mlp output")


@given(d_model=st.integers(1, 20000), multiple_of=st.sampled_from((1, 2, 8, 64, 256, 1024)),
       multiplier=st.none() | st.floats(0.5, 2.0))
def test_llama_hidden_size_is_the_smallest_multiple_at_least_two_thirds_of_4d(
        impl, d_model, multiple_of, multiplier):
    target = int(8 * d_model / 3)
    if multiplier is not None:
        target = int(multiplier * target)
    got = call(impl.llama_hidden_size, d_model, multiple_of, multiplier)
    assert isinstance(got, int), f"llama_hidden_size must return an int, got {type(got).__name__}"
    assert got % multiple_of == 0 and target <= got < target + multiple_of, (
        f"llama_hidden_size({d_model}, {multiple_of}, {multiplier}) = {got}: expected the "
        f"smallest multiple of {multiple_of} that is >= {target}")


# ---------------------------------------------------------------- oracle


@given(batch=leading, seed=seeds, approximate=modes,
       dtype=st.sampled_from((torch.float32, torch.float64, torch.float16, torch.bfloat16)))
def test_gelu_matches_torch(impl, device, batch, seed, approximate, dtype):
    x = randn((*batch, 6), seed, dtype=dtype, device=device, scale=3.0)
    expected = F.gelu(x.double(), approximate=approximate).to(dtype)
    assert_close(call(impl.gelu, x, approximate), expected, what=f"gelu({approximate!r})")


@given(batch=leading, d_model=size(6), d_ff=size(8), seed=seeds, approximate=modes,
       biased=st.booleans())
def test_gelu_mlp_matches_torch_modules(impl, device, batch, d_model, d_ff, seed, approximate,
                                        biased):
    x = randn((*batch, d_model), seed, device=device)
    _, up, down = _weights(d_model, d_ff, seed, device)
    up_bias, down_bias = _biases(d_model, d_ff, seed, device) if biased else (None, None)
    mlp = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff, bias=biased),
                              torch.nn.GELU(approximate=approximate),
                              torch.nn.Linear(d_ff, d_model, bias=biased)).to(device)
    with torch.no_grad():
        mlp[0].weight.copy_(up)
        mlp[2].weight.copy_(down)
        if biased:
            mlp[0].bias.copy_(up_bias)
            mlp[2].bias.copy_(down_bias)
        expected = mlp(x)
    output = call(impl.gelu_mlp, x, up, down, up_bias, down_bias, approximate)
    assert_close(output, expected, what=f"gelu_mlp vs nn.Linear → nn.GELU({approximate!r}) → "
                                        "nn.Linear with the same weights")


@given(batch=leading, d_model=size(6), d_ff=size(8), seed=seeds)
def test_swiglu_matches_torch_linear_and_silu(impl, device, batch, d_model, d_ff, seed):
    x = randn((*batch, d_model), seed, device=device)
    gate, up, down = _weights(d_model, d_ff, seed, device)
    expected = F.linear(F.silu(F.linear(x, gate)) * F.linear(x, up), down)
    assert_close(call(impl.swiglu, x, gate, up, down), expected)


@given(batch=leading, d_model=size(6), d_ff=size(8), seed=seeds,
       dtype=st.sampled_from((torch.float16, torch.bfloat16)))
def test_low_precision_blocks_keep_dtype_and_match_float64(impl, device, batch, d_model, d_ff,
                                                           seed, dtype):
    x = randn((*batch, d_model), seed, dtype=dtype, device=device)
    gate, up, down = _weights(d_model, d_ff, seed, device, dtype=dtype)
    wide = [t.double() for t in (x, gate, up, down)]
    expected = F.linear(F.silu(F.linear(wide[0], wide[1])) * F.linear(wide[0], wide[2]), wide[3])
    tol = LOOSE[dtype]
    assert_close(call(impl.swiglu, x, gate, up, down), expected.to(dtype), atol=tol, rtol=tol,
                 what=f"{dtype} swiglu")
    expected = F.linear(F.gelu(F.linear(wide[0], wide[2]), approximate="tanh"), wide[3])
    assert_close(call(impl.gelu_mlp, x, up, down, approximate="tanh"), expected.to(dtype),
                 atol=tol, rtol=tol, what=f"{dtype} gelu_mlp")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("which", ["swiglu_down", "swiglu_up", "swiglu_up_broadcasts", "swiglu_x",
                                   "gelu_mlp_down"])
def test_mismatched_weights_raise_value_error_naming_shapes(impl, device, which):
    x = torch.zeros(2, 3, device=device)
    gate, up, down = (torch.zeros(5, 3, device=device), torch.zeros(5, 3, device=device),
                      torch.zeros(3, 5, device=device))
    shown = None
    if which == "swiglu_down":
        down, shown = torch.zeros(3, 4, device=device), (3, 4)
    elif which == "swiglu_up":
        up, shown = torch.zeros(6, 3, device=device), (6, 3)
    elif which == "swiglu_up_broadcasts":  # (1, d_model): silu(gate) * up would broadcast
        up, shown = torch.zeros(1, 3, device=device), (1, 3)
    elif which == "swiglu_x":
        x, shown = torch.zeros(2, 7, device=device), (2, 7)
    else:
        down, shown = torch.zeros(4, 5, device=device), (4, 5)
    with pytest.raises(ValueError) as raised:
        if which.startswith("swiglu"):
            call(impl.swiglu, x, gate, up, down)
        else:
            call(impl.gelu_mlp, x, up, down)
    message = str(raised.value)
    assert re.search(r"\D+".join(str(d) for d in shown), message), (
        f"the ValueError should name the shape {shown}; it said: {message!r}")


@pytest.mark.parametrize("case", ["gelu_mode", "zero_d_model", "zero_multiple",
                                  "zero_multiplier", "up_bias_shape", "down_bias_shape",
                                  "up_bias_broadcasts"])
def test_bad_arguments_raise_value_error(impl, device, case):
    x, up, down = (torch.zeros(2, 3, device=device), torch.zeros(5, 3, device=device),
                   torch.zeros(3, 5, device=device))
    with pytest.raises(ValueError):
        if case == "gelu_mode":
            call(impl.gelu, torch.zeros(3, device=device), "erf")
        elif case == "zero_d_model":
            call(impl.llama_hidden_size, 0)
        elif case == "zero_multiple":
            call(impl.llama_hidden_size, 4096, 0)
        elif case == "zero_multiplier":
            call(impl.llama_hidden_size, 4096, 256, 0.0)
        elif case == "up_bias_shape":  # (d_model,) instead of (d_ff,)
            call(impl.gelu_mlp, x, up, down, torch.zeros(3, device=device))
        elif case == "up_bias_broadcasts":  # (1,) would broadcast over d_ff
            call(impl.gelu_mlp, x, up, down, torch.zeros(1, device=device))
        else:  # (d_ff,) instead of (d_model,)
            call(impl.gelu_mlp, x, up, down, None, torch.zeros(5, device=device))

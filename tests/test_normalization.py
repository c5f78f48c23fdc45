"""Grader for the `normalization` kata: worked examples, properties, then the torch oracles."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import randn, seeds, size

leading = st.lists(size(4), max_size=2).map(tuple)  # any number of batch axes
epsilons = st.sampled_from((0.0, 1e-6, 1e-5, 1e-2, 0.5))


def _params(d_model, seed, device, dtype=torch.float32, with_bias=True):
    weight = 1.0 + randn((d_model,), seed + 1, dtype=dtype, device=device, scale=0.5)
    bias = randn((d_model,), seed + 2, dtype=dtype, device=device) if with_bias else None
    return weight, bias


# ---------------------------------------------------------------- worked examples


def test_layer_norm_worked_example_uses_biased_variance(impl, device):
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]], device=device)
    # mean 2.5; squared deviations 2.25, 0.25, 0.25, 2.25 -> biased variance 5/4 (not 5/3)
    expected = torch.tensor([[-1.5, -0.5, 0.5, 1.5]], device=device) / math.sqrt(1.25)
    assert_close(call(impl.layer_norm, x, eps=0.0), expected)


def test_rms_norm_worked_example_does_not_centre(impl, device):
    x = torch.tensor([3.0, 4.0], device=device)
    # mean square (9 + 16) / 2 = 12.5; no mean is subtracted
    expected = torch.tensor([3.0, 4.0], device=device) / math.sqrt(12.5)
    assert_close(call(impl.rms_norm, x, eps=0.0), expected)


def test_layer_norm_scales_by_weight_then_adds_bias(impl, device):
    x = torch.tensor([0.0, 2.0], device=device)  # normalises to [-1, 1]
    weight = torch.tensor([2.0, 3.0], device=device)
    bias = torch.tensor([1.0, -1.0], device=device)
    expected = torch.tensor([-1 * 2 + 1, 1 * 3 - 1], dtype=torch.float32, device=device)
    assert_close(call(impl.layer_norm, x, weight, bias, eps=0.0), expected)


def test_rms_norm_scales_by_weight(impl, device):
    x = torch.tensor([[1.0, -1.0, 1.0, -1.0]], device=device)  # rms 1
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    expected = torch.tensor([[1.0, -2.0, 3.0, -4.0]], device=device)
    assert_close(call(impl.rms_norm, x, weight, eps=0.0), expected)


@pytest.mark.parametrize("which", ["layer_norm", "rms_norm"])
def test_eps_sits_inside_the_square_root(impl, device, which):
    # x = [a, -a]: mean 0, variance = mean square = a². With a = 0.01 and eps = 1e-4 the
    # result is a / sqrt(a² + eps) = 1/sqrt(2); eps outside the root would give a / (a + eps).
    a, eps = 0.01, 1e-4
    x = torch.tensor([a, -a], device=device)
    value = a / math.sqrt(a * a + eps)
    output = call(getattr(impl, which), x, eps=eps)
    assert_close(output, torch.tensor([value, -value], device=device),
                 what=f"{which}([0.01, -0.01], eps=1e-4) (is eps inside the sqrt?)")


def test_constant_row_gives_bias_not_nan(impl, device):
    x = torch.full((2, 3), 7.0, device=device)
    bias = torch.tensor([0.5, -0.5, 2.0], device=device)
    output = call(impl.layer_norm, x, None, bias, eps=1e-5)
    assert_close(output, bias.expand(2, 3).clone(), what="layer_norm of a constant row")


def test_zero_row_gives_zeros_not_nan(impl, device):
    x = torch.zeros(2, 5, device=device)
    assert_close(call(impl.rms_norm, x, eps=1e-6), torch.zeros(2, 5, device=device),
                 what="rms_norm of an all-zero row")


@pytest.mark.parametrize("offset", [1e4, 1e6])
def test_layer_norm_of_a_large_offset_row_is_exact(impl, device, offset):
    # offset + [0, 1, 2, 3] is exact in float32: mean offset + 1.5, biased variance 1.25.
    # One-pass E[x²] - mean² cancels catastrophically here (0 or negative: inf or NaN).
    x = offset + torch.tensor([[0.0, 1.0, 2.0, 3.0]], device=device)
    expected = torch.tensor([[-1.5, -0.5, 0.5, 1.5]], device=device) / math.sqrt(1.25 + 1e-5)
    assert_close(call(impl.layer_norm, x), expected,
                 what=f"layer_norm of {offset:g} + [0, 1, 2, 3] (variance from x - mean, not "
                      "E[x²] - mean²)")


def test_float64_inputs_are_normalised_in_float64(impl, device):
    # 1e8 + [0, 1, 2, 3] rounds to 1e8 (spacing 8) in float32; [3e20, 4e20] squares overflow
    # float32 (max 3.4e38). In float64 both are exact.
    x = 1e8 + torch.tensor([[0.0, 1.0, 2.0, 3.0]], dtype=torch.float64, device=device)
    expected = torch.tensor([[-1.5, -0.5, 0.5, 1.5]], dtype=torch.float64,
                            device=device) / math.sqrt(1.25 + 1e-5)
    assert_close(call(impl.layer_norm, x), expected,
                 what="float64 layer_norm of 1e8 + [0, 1, 2, 3]")
    x = torch.tensor([[3e20, 4e20]], dtype=torch.float64, device=device)
    rms = math.sqrt((9e40 + 16e40) / 2)
    expected = torch.tensor([[3e20 / rms, 4e20 / rms]], dtype=torch.float64, device=device)
    assert_close(call(impl.rms_norm, x), expected, what="float64 rms_norm of [3e20, 4e20]")


# ---------------------------------------------------------------- properties


@given(batch=leading, d_model=size(8, min_value=2), seed=seeds)
def test_layer_norm_rows_have_zero_mean_and_unit_variance(impl, device, batch, d_model, seed):
    x = randn((*batch, d_model), seed, dtype=torch.float64, device=device, scale=3.0)
    output = call(impl.layer_norm, x, eps=0.0)
    mean = output.mean(dim=-1)
    var = ((output - mean.unsqueeze(-1)) ** 2).mean(dim=-1)
    assert_close(mean, torch.zeros_like(mean), what="row means of layer_norm(x)", atol=1e-9)
    assert_close(var, torch.ones_like(var), what="row (biased) variances of layer_norm(x)",
                 atol=1e-9, rtol=1e-9)


@given(batch=leading, d_model=size(8), seed=seeds)
def test_rms_norm_rows_have_unit_root_mean_square(impl, device, batch, d_model, seed):
    x = randn((*batch, d_model), seed, dtype=torch.float64, device=device, scale=3.0)
    output = call(impl.rms_norm, x, eps=0.0)
    rms = output.pow(2).mean(dim=-1).sqrt()
    assert_close(rms, torch.ones_like(rms), what="row root-mean-squares of rms_norm(x)")


@given(batch=leading, d_model=size(8, min_value=2), seed=seeds, scale=st.floats(0.01, 100.0),
       shift=st.floats(-10.0, 10.0))
def test_layer_norm_is_invariant_to_scale_and_shift(impl, device, batch, d_model, seed, scale,
                                                    shift):
    x = randn((*batch, d_model), seed, dtype=torch.float64, device=device)
    weight, bias = _params(d_model, seed, device, dtype=torch.float64)
    output = call(impl.layer_norm, x, weight, bias, eps=0.0)
    moved = call(impl.layer_norm, x * scale + shift, weight, bias, eps=0.0)
    assert_close(moved, output, what=f"layer_norm(x * {scale:g} + {shift:g}) vs layer_norm(x)",
                 atol=1e-6, rtol=1e-6)


@given(batch=leading, d_model=size(8), seed=seeds, scale=st.floats(0.01, 100.0))
def test_rms_norm_is_invariant_to_scale(impl, device, batch, d_model, seed, scale):
    x = randn((*batch, d_model), seed, dtype=torch.float64, device=device)
    weight, _ = _params(d_model, seed, device, dtype=torch.float64, with_bias=False)
    output = call(impl.rms_norm, x, weight, eps=0.0)
    scaled = call(impl.rms_norm, x * scale, weight, eps=0.0)
    assert_close(scaled, output, what=f"rms_norm(x * {scale:g}) vs rms_norm(x)", atol=1e-6,
                 rtol=1e-6)


@given(batch=leading, d_model=size(8, min_value=2), seed=seeds, eps=epsilons)
def test_rms_norm_of_centred_input_equals_layer_norm(impl, device, batch, d_model, seed, eps):
    x = randn((*batch, d_model), seed, device=device)
    weight, _ = _params(d_model, seed, device, with_bias=False)
    centred = x - x.mean(dim=-1, keepdim=True)
    expected = call(impl.layer_norm, x, weight, eps=eps)
    assert_close(call(impl.rms_norm, centred, weight, eps=eps), expected,
                 what="rms_norm(x - mean(x)) vs layer_norm(x) (same weight, no bias)")


# ---------------------------------------------------------------- oracle


@given(batch=leading, d_model=size(8), seed=seeds, eps=epsilons, affine=st.booleans(),
       dtype=st.sampled_from((torch.float32, torch.float64)))
def test_layer_norm_matches_torch(impl, device, batch, d_model, seed, eps, affine, dtype):
    x = randn((*batch, d_model), seed, dtype=dtype, device=device, scale=2.0) + 1.0
    weight, bias = _params(d_model, seed, device, dtype=dtype) if affine else (None, None)
    expected = F.layer_norm(x, (d_model,), weight, bias, eps)
    # eps = 0 with d_model = 1 is 0/0: torch gives NaN and so must a faithful implementation.
    assert_close(call(impl.layer_norm, x, weight, bias, eps=eps), expected, allow_nan=True)


@given(batch=leading, d_model=size(8), seed=seeds, eps=epsilons, affine=st.booleans(),
       dtype=st.sampled_from((torch.float32, torch.float64)))
def test_rms_norm_matches_torch(impl, device, batch, d_model, seed, eps, affine, dtype):
    x = randn((*batch, d_model), seed, dtype=dtype, device=device, scale=2.0) + 1.0
    weight = _params(d_model, seed, device, dtype=dtype)[0] if affine else None
    expected = F.rms_norm(x, (d_model,), weight, eps)
    assert_close(call(impl.rms_norm, x, weight, eps=eps), expected, allow_nan=True)


@given(batch=leading, d_model=size(8), seed=seeds,
       dtype=st.sampled_from((torch.float16, torch.bfloat16)))
def test_low_precision_inputs_match_float64_and_keep_dtype(impl, device, batch, d_model, seed,
                                                           dtype):
    x = randn((*batch, d_model), seed, dtype=dtype, device=device, scale=2.0)
    weight, bias = _params(d_model, seed, device, dtype=dtype)
    wide = (x.double(), weight.double(), bias.double())
    expected = F.layer_norm(wide[0], (d_model,), wide[1], wide[2], 1e-5).to(dtype)
    assert_close(call(impl.layer_norm, x, weight, bias, eps=1e-5), expected, what="layer_norm")
    expected = F.rms_norm(wide[0], (d_model,), wide[1], 1e-6).to(dtype)
    assert_close(call(impl.rms_norm, x, weight, eps=1e-6), expected, what="rms_norm")


@pytest.mark.parametrize("which", ["layer_norm", "rms_norm"])
def test_float16_squares_that_overflow_need_the_upcast(impl, device, which):
    # Entries reach ~3000: their squares (~1e7) overflow float16 (max 65504), so the
    # statistics must be computed in float32.
    x = randn((3, 8), 5, dtype=torch.float16, device=device, scale=1000.0)
    assert bool(torch.isinf(x.pow(2)).any()), "test setup: some squares must overflow float16"
    weight, bias = _params(8, 5, device, dtype=torch.float16)
    if which == "layer_norm":
        expected = F.layer_norm(x.double(), (8,), weight.double(), bias.double(), 1e-5)
        output = call(impl.layer_norm, x, weight, bias, eps=1e-5)
    else:
        expected = F.rms_norm(x.double(), (8,), weight.double(), 1e-6)
        output = call(impl.rms_norm, x, weight, eps=1e-6)
    assert_close(output, expected.to(torch.float16),
                 what=f"{which} of float16 input with |x| up to ~3000 (did you upcast?)")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("which", ["layer_norm_weight", "layer_norm_bias", "rms_norm_weight"])
def test_wrong_parameter_shape_raises_value_error_naming_it(impl, device, which):
    x = torch.zeros(2, 3, 5, device=device)
    wrong = torch.ones(4, device=device)
    _raises_for(impl, which, x, torch.ones(1, device=device))  # (1,) would broadcast silently
    with pytest.raises(ValueError) as raised:
        if which == "layer_norm_weight":
            call(impl.layer_norm, x, wrong)
        elif which == "layer_norm_bias":
            call(impl.layer_norm, x, None, wrong)
        else:
            call(impl.rms_norm, x, wrong)
    message = str(raised.value)
    assert re.search(r"\b4\b", message) and re.search(r"\b5\b", message), (
        f"the ValueError should name the parameter's shape (4,) and d_model 5; it said: "
        f"{message!r}")


def _raises_for(impl, which, x, wrong):
    with pytest.raises(ValueError):
        if which == "layer_norm_weight":
            call(impl.layer_norm, x, wrong)
        elif which == "layer_norm_bias":
            call(impl.layer_norm, x, None, wrong)
        else:
            call(impl.rms_norm, x, wrong)

"""Grader for the `quantization` kata: codes by hand, error bounds, torch's quantizers as oracle."""

import warnings

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch import nn

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size

EPS = torch.finfo(torch.float32).eps
float_dtypes = st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.float64])


def _weight(shape, seed, dtype=torch.float32, scale=1.0):
    """A weight with a few outliers, so absmax and max differ in sign about half the time."""
    weight = randn(shape, seed, scale=scale)
    weight[..., 0] *= 1 + 3 * torch.rand(weight.shape[:-1], generator=torch.Generator()
                                         .manual_seed(seed))
    return weight.to(dtype)


def _torch_quantize(x, scale, zero_point, dtype, axis=None):
    """torch's reference quantizer (deprecated in torch 2.13 but still exact); its int codes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if axis is None:
            quantized = torch.quantize_per_tensor(x, float(scale), int(zero_point), dtype)
        else:
            quantized = torch.quantize_per_channel(x, scale.double(), zero_point, axis, dtype)
        return quantized.int_repr()


def _bound_holds(x, restored, scale, what):
    """|x − dequantize(quantize(x))| ≤ scale / 2 per element (plus float32 rounding)."""
    error = (x.float() - restored).abs()
    bound = scale / 2 * (1 + 1e-5) + 1e-30
    worst = int((error - bound).flatten().argmax())
    assert (error <= bound).all(), (
        f"{what}: round-trip error {error.flatten()[worst]:.4g} exceeds scale/2 = "
        f"{bound.flatten()[worst] if bound.dim() else bound:.4g} at flat index {worst} (value "
        f"{x.flatten()[worst].item():.4g}): a code was clamped or the scale does not cover "
        "absmax (max instead of absmax? 128 instead of 127?)")


# ---------------------------------------------------------------- worked examples


def test_int8_per_tensor_worked_example(impl):
    # absmax 254 -> scale 254/127 = 2; codes round(w / 2) half to even: 63.5 -> 64, 2.5 -> 2.
    weight = torch.tensor([[-254.0, 127.0], [5.0, 0.0]])
    q, scale = call(impl.quantize_int8, weight)
    assert_close(scale, torch.tensor(254.0 / 127), what="scale = absmax / 127")
    assert_equal(q, torch.tensor([[-127, 64], [2, 0]], dtype=torch.int8),
                 what="int8 codes round(w / scale), ties to even")


def test_int8_per_channel_worked_example(impl):
    # row absmax 254 and 63.5 -> scales 2 and 0.5.
    weight = torch.tensor([[127.0, -254.0], [63.5, 1.25]])
    q, scale = call(impl.quantize_int8, weight, per_channel=True)
    assert_close(scale, torch.tensor([254.0 / 127, 63.5 / 127]),
                 what="per-channel scales: one absmax / 127 per output row")
    assert_equal(q, torch.tensor([[64, -127], [127, 2]], dtype=torch.int8),
                 what="per-channel codes (row i divided by scale[i])")


def test_uint8_worked_example(impl):
    # min -76.75, max 50.75: scale 127.5 / 255 = 0.5; zero_point round(153.5) = 154 (to even);
    # 50.75 / 0.5 = 101.5 -> 102, and 102 + 154 = 256 must clamp to 255.
    x = torch.tensor([-76.75, 0.0, 3.0, 50.75])
    q, scale, zero_point = call(impl.quantize_uint8, x)
    assert_close(scale, torch.tensor(0.5), what="scale = (max - min) / 255")
    assert zero_point.dtype == torch.int32 and int(zero_point) == 154, (
        f"zero_point should be the int32 round(76.75 / 0.5) = round(153.5) = 154 (ties to even), "
        f"got {zero_point!r}: is it rounded, and kept an integer?")
    assert_equal(q, torch.tensor([0, 154, 160, 255], dtype=torch.uint8),
                 what="uint8 codes round(x / scale) + zero_point, clamped to [0, 255]")


def test_uint8_range_includes_zero_worked_example(impl):
    # All positive: the range is widened to [0, 255], so scale 1 and zero_point 0.
    x = torch.tensor([51.0, 102.0, 255.0])
    q, scale, zero_point = call(impl.quantize_uint8, x)
    assert int(zero_point) == 0, (
        f"zero_point for all-positive data should be 0 (the range [min, max] is widened to "
        f"include 0, so 0.0 stays representable), got {int(zero_point)}")
    assert_close(scale, torch.tensor(1.0), what="scale = (255 - 0) / 255")
    assert_equal(q, torch.tensor([51, 102, 255], dtype=torch.uint8), what="uint8 codes")


def test_dequantize_worked_examples(impl):
    q = torch.tensor([0, 154, 255], dtype=torch.uint8)
    assert_close(call(impl.dequantize, q, torch.tensor(0.5), torch.tensor(154, dtype=torch.int32)),
                 torch.tensor([-77.0, 0.0, 50.5]),
                 what="(q - zero_point) * scale for uint8 codes below and above the zero point "
                      "(subtracting in uint8 wraps around: convert to float first)")
    q = torch.tensor([[1, 2], [3, -4]], dtype=torch.int8)
    assert_close(call(impl.dequantize, q, torch.tensor([1.0, 10.0])),
                 torch.tensor([[1.0, 2.0], [30.0, -40.0]]),
                 what="per-channel dequantize: scale[i] multiplies row i, not column i")
    # per-channel zero points (shaped like scale) belong to rows too: row 0 has zero_point 1 and
    # scale 1, row 1 zero_point 10 and scale 2 -> [[0, 2], [0, 8]].
    q = torch.tensor([[1, 3], [10, 14]], dtype=torch.uint8)
    assert_close(call(impl.dequantize, q, torch.tensor([1.0, 2.0]),
                      torch.tensor([1, 10], dtype=torch.int32)),
                 torch.tensor([[0.0, 2.0], [0.0, 8.0]]),
                 what="per-channel zero points: zero_point[i] is subtracted from row i, like "
                      "scale[i] (reshape it to (d_out, 1) as well)")


def test_pack_int4_worked_example(impl):
    # nibbles q + 8 = [0, 15, 8, 7]; byte j = low (element 2j) | high (element 2j + 1) << 4.
    q = torch.tensor([-8, 7, 0, -1], dtype=torch.int8)
    expected = torch.tensor([0 | 15 << 4, 8 | 7 << 4], dtype=torch.uint8)
    assert_equal(call(impl.pack_int4, q), expected,
                 what="packed bytes (element 2j in the low nibble, 2j + 1 in the high nibble)")
    assert_equal(call(impl.unpack_int4, expected), q, what="unpack_int4 of the packed bytes")


def test_int4_groupwise_worked_example(impl):
    # group_size 2: groups [7, -3.5] (absmax 7 -> scale 1) and [14, 28] (absmax 28 -> scale 4);
    # codes [7, round(-3.5) = -4] and [round(3.5) = 4, 7] (ties to even).
    weight = torch.tensor([[7.0, -3.5, 14.0, 28.0]])
    packed, scales = call(impl.quantize_int4, weight, 2)
    assert_close(scales, torch.tensor([[1.0, 4.0]]), what="group scales absmax / 7")
    nibbles = [7 + 8, -4 + 8, 4 + 8, 7 + 8]
    assert_equal(packed, torch.tensor([[nibbles[0] | nibbles[1] << 4,
                                        nibbles[2] | nibbles[3] << 4]], dtype=torch.uint8),
                 what="packed int4 codes of two groups of 2 columns")
    assert_close(call(impl.dequantize_int4, packed, scales),
                 torch.tensor([[7.0, -4.0, 16.0, 28.0]]),
                 what="dequantize_int4: each column times its own group's scale")


# ---------------------------------------------------------------- properties


@given(shape=st.tuples(size(6), size(8)), seed=seeds, dtype=float_dtypes,
       per_channel=st.booleans())
@example(shape=(2, 3), seed=0, dtype=torch.float32, per_channel=False)
def test_int8_round_trip_error_is_at_most_half_a_scale(impl, shape, seed, dtype, per_channel):
    weight = _weight(shape, seed, dtype)
    q, scale = call(impl.quantize_int8, weight, per_channel=per_channel)
    assert q.dtype == torch.int8 and scale.dtype == torch.float32, (
        f"codes must be int8 and scales float32, got {q.dtype} and {scale.dtype}")
    restored = q.float() * (scale[:, None] if per_channel else scale)
    _bound_holds(weight, restored, scale[:, None] if per_channel else scale,
                 f"quantize_int8(per_channel={per_channel})")


@given(shape=st.tuples(size(6), size(8)), seed=seeds, per_channel=st.booleans())
def test_int8_largest_magnitude_maps_to_127_and_codes_are_odd(impl, shape, seed, per_channel):
    weight = _weight(shape, seed)
    q, _ = call(impl.quantize_int8, weight, per_channel=per_channel)
    axis = {"dim": 1} if per_channel else {}
    assert (q.to(torch.int32).abs().amax(**axis) == 127).all(), (
        f"the largest |w| of each {'row' if per_channel else 'tensor'} must map to ±127 (scale = "
        f"absmax / 127); got largest |code| {q.to(torch.int32).abs().amax(**axis).tolist()}")
    negated, _ = call(impl.quantize_int8, -weight, per_channel=per_channel)
    assert_equal(negated, -q, what="quantize_int8(-w) codes: symmetric int8 must satisfy "
                                   "q(-w) = -q(w) (scale from absmax, not max)")


@given(shape=st.tuples(size(6), size(8)), seed=seeds, dtype=float_dtypes)
def test_uint8_round_trip_error_is_at_most_half_a_scale(impl, shape, seed, dtype):
    x = _weight(shape, seed, dtype) + randn((), seed + 1).item()
    q, scale, zero_point = call(impl.quantize_uint8, x)
    assert q.dtype == torch.uint8 and scale.dtype == torch.float32, (
        f"codes must be uint8 and the scale float32, got {q.dtype} and {scale.dtype}")
    assert 0 <= int(zero_point) <= 255, f"zero_point {int(zero_point)} is not a uint8 code"
    _bound_holds(x, (q.float() - zero_point.float()) * scale, scale, "quantize_uint8")


@given(shape=st.tuples(size(6), size(8)), seed=seeds, offset=st.sampled_from([-3.0, 0.0, 3.0]))
@example(shape=(1, 3), seed=0, offset=3.0)
def test_zero_maps_to_zero(impl, shape, seed, offset):
    x = _weight(shape, seed) + offset
    x[0, 0] = 0.0
    q, scale, zero_point = call(impl.quantize_uint8, x)
    assert int(q[0, 0]) == int(zero_point), (
        f"0.0 must quantize to the zero point {int(zero_point)}, got code {int(q[0, 0])} "
        f"(data range [{x.min():.3g}, {x.max():.3g}]): widen the range to include 0 and round "
        "the zero point")
    restored = call(impl.dequantize, q, scale, zero_point)
    assert restored[0, 0].item() == 0.0, f"0.0 round-trips to {restored[0, 0].item()}, not 0"
    q8, scale8 = call(impl.quantize_int8, x, per_channel=True)
    assert int(q8[0, 0]) == 0, f"symmetric int8 must map 0.0 to code 0, got {int(q8[0, 0])}"


def test_all_zero_channel_gets_zero_codes_and_a_finite_scale(impl):
    weight = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, -2.0, 3.0, 0.5]])
    for q, scale, what in [(*call(impl.quantize_int8, weight, per_channel=True), "int8"),
                           (*call(impl.quantize_int4, weight, 2), "int4")]:
        assert torch.isfinite(scale).all() and (scale > 0).all(), (
            f"{what}: an all-zero row needs a finite positive scale (at least EPS), got {scale}")
        codes = q if what == "int8" else call(impl.unpack_int4, q)
        assert (codes[0] == 0).all(), f"{what}: an all-zero row must get codes 0, got {codes[0]}"


@given(shape=st.tuples(size(3), size(4), size(4)), seed=seeds)
@example(shape=(1, 1, 8), seed=0)
def test_pack_unpack_round_trip(impl, shape, seed):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randint(-8, 8, (*shape[:-1], 2 * shape[-1]), generator=generator, dtype=torch.int8)
    if q.numel() >= 16:
        q.view(-1)[:16] = torch.arange(-8, 8, dtype=torch.int8)  # every code once
    packed = call(impl.pack_int4, q)
    assert packed.dtype == torch.uint8 and packed.shape == (*shape[:-1], shape[-1]), (
        f"pack_int4 of {tuple(q.shape)} int8 should give uint8 {(*shape[:-1], shape[-1])}, got "
        f"{packed.dtype} {tuple(packed.shape)}")
    assert_equal(call(impl.unpack_int4, packed), q, what="unpack_int4(pack_int4(q))")


@given(shape=st.tuples(size(5), size(4)), group_size=st.sampled_from([2, 4, 8]), seed=seeds,
       dtype=float_dtypes)
def test_int4_round_trip_error_is_at_most_half_a_group_scale(impl, shape, group_size, seed,
                                                               dtype):
    d_out, groups = shape
    weight = _weight((d_out, groups * group_size), seed, dtype)
    packed, scales = call(impl.quantize_int4, weight, group_size)
    assert scales.shape == (d_out, groups) and scales.dtype == torch.float32, (
        f"scales should be float32 (d_out, d_in // group_size) = {(d_out, groups)}, got "
        f"{scales.dtype} {tuple(scales.shape)}")
    restored = call(impl.dequantize_int4, packed, scales)
    per_column = scales.repeat_interleave(group_size, dim=1)
    _bound_holds(weight, restored, per_column, f"int4 with group_size={group_size}")
    codes = call(impl.unpack_int4, packed).to(torch.int32).view(d_out, groups, group_size)
    assert (codes.abs().amax(-1) == 7).all(), (
        "the largest |w| of each group must map to ±7 (scale = group absmax / 7); largest "
        f"|code| per group: {codes.abs().amax(-1).tolist()}")


def test_quantize_computes_in_float32_for_half_inputs(impl):
    # bfloat16 has an 8-bit mantissa: dividing in bfloat16 moves some quotients across a .5.
    weight = _weight((4, 16), 3, torch.bfloat16)
    expected_q, expected_scale = call(impl.quantize_int8, weight.float(), per_channel=True)
    w16 = weight / (weight.abs().amax(1, keepdim=True) / 127)
    assert (w16.round() != expected_q).any(), "this input must tell bf16 from float32 maths"
    q, scale = call(impl.quantize_int8, weight, per_channel=True)
    assert_close(scale, expected_scale, what="int8 scales of a bfloat16 weight (float32)")
    assert_equal(q, expected_q, what="int8 codes of a bfloat16 weight: compute in float32")


# ---------------------------------------------------------------- torch's quantizers as oracles


@given(shape=st.tuples(size(6), size(8)), seed=seeds, per_channel=st.booleans())
def test_int8_matches_torch_quantize(impl, shape, seed, per_channel):
    weight = _weight(shape, seed)
    q, scale = call(impl.quantize_int8, weight, per_channel=per_channel)
    if per_channel:
        expected = _torch_quantize(weight, scale, torch.zeros(shape[0], dtype=torch.int64),
                                   torch.qint8, axis=0)
    else:
        expected = _torch_quantize(weight, scale, 0, torch.qint8)
    assert_equal(q, expected, what=f"int8 codes vs torch.quantize_per_"
                                   f"{'channel' if per_channel else 'tensor'} at your scale")


@given(shape=st.tuples(size(6), size(8)), seed=seeds, offset=st.sampled_from([-4.0, 0.0, 4.0]))
def test_uint8_matches_torch_min_max_observer(impl, shape, seed, offset):
    from torch.ao.quantization import MinMaxObserver

    x = _weight(shape, seed) + offset
    observer = MinMaxObserver(dtype=torch.quint8)
    observer(x)
    expected_scale, expected_zero_point = observer.calculate_qparams()
    q, scale, zero_point = call(impl.quantize_uint8, x)
    assert_close(scale, expected_scale[0], what="scale vs MinMaxObserver(dtype=quint8)")
    assert int(zero_point) == int(expected_zero_point), (
        f"zero_point {int(zero_point)} vs MinMaxObserver's {int(expected_zero_point)}")
    assert_equal(q, _torch_quantize(x, scale, zero_point, torch.quint8),
                 what="uint8 codes vs torch.quantize_per_tensor(quint8)")


@given(shape=st.tuples(size(4), size(4)), seed=seeds)
def test_pack_int4_matches_torch_quint4x2(impl, shape, seed):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randint(-8, 8, (shape[0], 2 * shape[1]), generator=generator, dtype=torch.int8)
    # quint4x2 stores round(x / scale) + zero_point in 4 bits, the first element low.
    expected = _torch_quantize(q.float(), 1.0, 8, torch.quint4x2).view(shape)
    assert_equal(call(impl.pack_int4, q), expected, what="packed bytes vs torch.quint4x2")


def _linear(d_in, d_out, seed, bias=True):
    linear = nn.Linear(d_in, d_out, bias=bias)
    with torch.no_grad():
        linear.weight.copy_(_weight((d_out, d_in), seed))
        if bias:
            linear.bias.copy_(randn((d_out,), seed + 1))
    return linear


@given(d_out=size(6), groups=size(3), bits=st.sampled_from([8, 4]), seed=seeds,
       dtype=st.sampled_from([torch.float32, torch.bfloat16, torch.float16]),
       bias=st.booleans())
def test_quant_linear_equals_linear_with_the_dequantized_weight(impl, d_out, groups, bits, seed,
                                                                dtype, bias):
    group_size = 4
    linear = _linear(groups * group_size, d_out, seed, bias)
    layer = call(impl.QuantLinear, linear, bits=bits, group_size=group_size)
    if bits == 8:
        q, scale = call(impl.quantize_int8, linear.weight.detach(), per_channel=True)
        weight = q.float() * scale[:, None]
    else:
        packed, scales = call(impl.quantize_int4, linear.weight.detach(), group_size)
        weight = call(impl.dequantize_int4, packed, scales)
    x = randn((2, 3, groups * group_size), seed + 2, dtype=dtype)
    expected = nn.functional.linear(x, weight.to(dtype),
                                    None if not bias else linear.bias.detach().to(dtype))
    with torch.no_grad():
        assert_close(call(layer, x), expected,
                     what=f"W{bits}A16 QuantLinear output for {dtype} activations (weight "
                          "dequantized, cast to the activations' dtype)")


@pytest.mark.parametrize(("bits", "weight_bytes"), [(8, 32 * 64), (4, 32 * 64 // 2)])
def test_quant_linear_keeps_no_float_weight(impl, bits, weight_bytes):
    linear = _linear(64, 32, 0)
    layer = call(impl.QuantLinear, linear, bits=bits, group_size=16)
    state = layer.state_dict()
    floats = {name: tuple(t.shape) for name, t in state.items()
              if t.is_floating_point() and t.numel() >= 32 * 64 // 2}
    total = sum(t.numel() * t.element_size() for t in state.values())
    scale_bytes = 4 * (32 if bits == 8 else 32 * 64 // 16)
    assert not floats and total <= weight_bytes + scale_bytes + 4 * 32, (
        f"W{bits} QuantLinear(64 -> 32) holds {total:,} bytes of state, expected "
        f"{weight_bytes:,} (codes) + {scale_bytes:,} (float32 scales) + {4 * 32} (bias); large "
        f"floating tensors: {floats or 'none'} (do not keep the float weight)")


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.Linear(8, 8)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8, bias=False))
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        x = x + self.attn(self.norm(x))
        return x + self.mlp(self.norm(x))


class _Model(nn.Module):
    """Linear layers at depths 1 to 4: in a Sequential, a ModuleList, and blocks."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.blocks = nn.ModuleList([_Block(), _Block()])
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def _model(seed):
    torch.manual_seed(seed)
    return _Model()


@pytest.mark.parametrize("bits", [8, 4])
def test_quantize_dynamic_replaces_every_linear_and_keeps_the_input(impl, bits):
    model = _model(0)
    before = {name: p.detach().clone() for name, p in model.state_dict().items()}
    quantized = call(impl.quantize_dynamic, model, bits=bits, group_size=4)
    kinds = {name: type(m).__name__ for name, m in quantized.named_modules()}
    left = [name for name, m in quantized.named_modules() if isinstance(m, nn.Linear)]
    assert not left, f"nn.Linear modules left unquantized at: {left} (recurse into children)"
    expected = {name for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    swapped = {name for name, kind in kinds.items() if kind == "QuantLinear"}
    assert swapped == expected, f"QuantLinear at {sorted(swapped)}, expected {sorted(expected)}"
    assert kinds["blocks.0.norm"] == "LayerNorm", "modules other than nn.Linear must be kept"
    original = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert sorted(original) == sorted(expected), (
        "quantize_dynamic changed its input model: return a quantized copy (copy.deepcopy)")
    for name, value in model.state_dict().items():
        assert_equal(value, before[name], what=f"input model's {name} after quantize_dynamic")


@pytest.mark.parametrize("bits", [8, 4])
def test_quantize_dynamic_output_stays_within_the_rounding_bound(impl, bits):
    # One linear layer: |y - y_q|_i <= sum_j |x_j| * scale_ij / 2.
    linear = _linear(8, 5, 7)
    x = randn((3, 8), 8)
    quantized = call(impl.quantize_dynamic, linear, bits=bits, group_size=4)
    with torch.no_grad():
        error = (call(quantized, x) - linear(x)).abs()
    weight = linear.weight.detach()
    if bits == 8:
        scale = (weight.abs().amax(1, keepdim=True) / 127).expand(5, 8)
    else:
        scale = (weight.view(5, 2, 4).abs().amax(-1) / 7).repeat_interleave(4, dim=1)
    bound = x.abs() @ scale.T / 2 + 1e-5
    assert (error <= bound).all(), (
        f"quantize_dynamic(nn.Linear(8, 5), bits={bits}) output differs from the float layer "
        f"by up to {error.max():.4g}, above the rounding bound sum_j |x_j|·scale/2 "
        f"(max {bound.max():.4g})")
    model = _model(1)
    quantized = call(impl.quantize_dynamic, model, bits=bits, group_size=4)
    with torch.no_grad():
        x = randn((2, 4), 9)
        difference = (call(quantized, x) - model(x)).abs().max()
    limit = 0.05 if bits == 8 else 0.5
    assert difference < limit, (
        f"a quantized 6-layer model differs from the float one by {difference:.3g} "
        f"(expected < {limit} for W{bits}); are the weights dequantized with their own scales?")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_non_finite_weight_raises_value_error(impl, bad):
    largest = torch.finfo(torch.float32).max
    q, _ = call(impl.quantize_int8, torch.tensor([[largest, -1.0]]))  # the last valid value
    assert int(q[0, 0]) == 127, f"float32 max should quantize to 127, got {int(q[0, 0])}"
    with pytest.raises(ValueError):
        call(impl.quantize_int8, torch.tensor([[bad, 1.0]]))
    with pytest.raises(ValueError):
        call(impl.quantize_uint8, torch.tensor([bad, 1.0]))
    with pytest.raises(ValueError):
        call(impl.quantize_int4, torch.tensor([[bad, 1.0]]), 2)


def test_int4_group_size_must_divide_an_even_d_in(impl):
    call(impl.quantize_int4, torch.ones(2, 6), 3)  # 6 = 2 groups of 3: valid
    call(impl.quantize_int4, torch.ones(2, 6), 6)  # one group per row: valid
    for d_in, group_size in [(6, 4), (5, 5), (6, 0), (6, 12)]:
        with pytest.raises(ValueError):
            call(impl.quantize_int4, torch.ones(2, d_in), group_size)
            pytest.fail(f"quantize_int4 with d_in={d_in}, group_size={group_size} should raise")


def test_pack_int4_rejects_codes_outside_4_bits(impl):
    call(impl.pack_int4, torch.tensor([-8, 7], dtype=torch.int8))  # the extremes are valid
    for bad in ([-9, 0], [0, 8]):
        with pytest.raises(ValueError):
            call(impl.pack_int4, torch.tensor(bad, dtype=torch.int8))
    with pytest.raises(ValueError):
        call(impl.pack_int4, torch.tensor([1, 2, 3], dtype=torch.int8))


def test_quant_linear_accepts_only_8_or_4_bits(impl):
    linear = _linear(4, 2, 0)
    for bits in (8, 4):
        call(impl.QuantLinear, linear, bits=bits, group_size=4)
    for bits in (3, 16):
        with pytest.raises(ValueError):
            call(impl.QuantLinear, linear, bits=bits, group_size=4)

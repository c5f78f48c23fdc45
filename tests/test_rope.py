"""Grader for the `rope` kata: worked examples, properties, then a complex-number oracle."""

import math
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import randn, seeds, size

MAX_POSITION = 48
# (batch, heads, seq, pair): head_dim = 2 * pair
shapes = st.tuples(size(2), size(3), size(6), size(4))
bases = st.sampled_from((10000.0, 500.0, 10.0))


def _x(shape, seed, device, dtype=torch.float32):
    batch, heads, seq, pair = shape
    return randn((batch, heads, seq, 2 * pair), seed, dtype=dtype, device=device)


def _rope(impl, x, base=10000.0, position_ids=None, interleaved=False, max_position=MAX_POSITION):
    cos, sin = call(impl.rope_tables, x.shape[-1], max_position, base, device=x.device)
    return call(impl.apply_rope, x, cos, sin, position_ids, interleaved=interleaved)


def _half_to_interleaved(head_dim):
    """Interleaved feature 2i is half-split feature i; 2i + 1 is i + head_dim/2."""
    pair = head_dim // 2
    return torch.stack((torch.arange(pair), torch.arange(pair) + pair), dim=-1).flatten()


def complex_oracle(x, positions, base, interleaved):
    """Rotation as complex multiplication, (a + ib) · e^(i·p·θ_k), in float64."""
    head_dim = x.shape[-1]
    pair = head_dim // 2
    theta = base ** (-2.0 * torch.arange(pair, dtype=torch.float64) / head_dim)
    angles = positions.double().cpu()[..., None] * theta  # (..., seq, pair)
    if positions.dim() == 2:
        angles = angles[:, None]
    x64 = x.double().cpu()
    if interleaved:
        z = torch.view_as_complex(x64.reshape(*x.shape[:-1], pair, 2).contiguous())
    else:
        z = torch.complex(x64[..., :pair], x64[..., pair:])
    rotated = z * torch.polar(torch.ones_like(angles), angles)
    if interleaved:
        out = torch.view_as_real(rotated).flatten(-2)
    else:
        out = torch.cat((rotated.real, rotated.imag), dim=-1)
    return out.to(dtype=x.dtype, device=x.device)


# ---------------------------------------------------------------- worked examples


def test_tables_worked_example(impl, device):
    # head_dim 4, base 100: θ = [100^0, 100^(-2/4)] = [1, 0.1].
    cos, sin = call(impl.rope_tables, 4, 3, 100.0, device=device)
    expected_cos = [[math.cos(p * t) for t in (1.0, 0.1)] for p in range(3)]
    expected_sin = [[math.sin(p * t) for t in (1.0, 0.1)] for p in range(3)]
    assert_close(cos, torch.tensor(expected_cos, device=device), what="cos table")
    assert_close(sin, torch.tensor(expected_sin, device=device), what="sin table")


def test_half_split_worked_example(impl, device):
    # Position 1, θ = [1, 0.1]: pairs are (x0, x2) at angle 1 and (x1, x3) at angle 0.1.
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device).view(1, 1, 1, 4)
    c1, s1, c2, s2 = math.cos(1), math.sin(1), math.cos(0.1), math.sin(0.1)
    expected = [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2]
    out = _rope(impl, x, 100.0, torch.tensor([1], device=device))
    assert_close(out, torch.tensor(expected, device=device).view(1, 1, 1, 4))


def test_interleaved_worked_example(impl, device):
    # Position 1, θ = [1, 0.1]: pairs are (x0, x1) at angle 1 and (x2, x3) at angle 0.1.
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device).view(1, 1, 1, 4)
    c1, s1, c2, s2 = math.cos(1), math.sin(1), math.cos(0.1), math.sin(0.1)
    expected = [1 * c1 - 2 * s1, 2 * c1 + 1 * s1, 3 * c2 - 4 * s2, 4 * c2 + 3 * s2]
    out = _rope(impl, x, 100.0, torch.tensor([1], device=device), interleaved=True)
    assert_close(out, torch.tensor(expected, device=device).view(1, 1, 1, 4))


def test_default_positions_count_from_zero(impl, device):
    # seq 3, head_dim 2, base irrelevant (θ_0 = 1): position p rotates (1, 0) to (cos p, sin p).
    x = torch.tensor([[1.0, 0.0]] * 3, device=device).view(1, 1, 3, 2)
    expected = torch.tensor([[math.cos(p), math.sin(p)] for p in range(3)], device=device)
    assert_close(_rope(impl, x), expected.view(1, 1, 3, 2))


def test_tables_are_exact_at_long_positions(impl, device):
    # head_dim 2: θ_0 = 1, so row p holds cos(p), sin(p). Positions past 256 are not exact in
    # bfloat16 (257 rounds to 256), and cos(257) - cos(256) is about 0.9.
    positions = [255, 256, 257, 1000, 4095]
    cos, sin = call(impl.rope_tables, 2, 4096, device=device)
    assert_close(cos[positions], torch.tensor([[math.cos(p)] for p in positions], device=device),
                 what=f"cos table rows {positions}")
    assert_close(sin[positions], torch.tensor([[math.sin(p)] for p in positions], device=device),
                 what=f"sin table rows {positions}")


def test_float64_x_is_rotated_in_float64(impl, device):
    # Position 0 is the identity; 100000001 is exact in float64 but rounds to 1e8 in float32.
    x = torch.tensor([100000001.0, 0.0], dtype=torch.float64, device=device).view(1, 1, 1, 2)
    out = _rope(impl, x, position_ids=torch.tensor([0], device=device))
    assert_close(out, x, atol=0.0, rtol=1e-15,
                 what="float64 x at position 0 (a float32 computation gives 1e8)")


# ---------------------------------------------------------------- properties


@given(shape=shapes, seed=seeds, base=bases, interleaved=st.booleans(), data=st.data())
def test_rope_preserves_norm(impl, device, shape, seed, base, interleaved, data):
    x = _x(shape, seed, device)
    positions = torch.tensor(data.draw(st.lists(st.integers(0, MAX_POSITION - 1),
                                                min_size=shape[2], max_size=shape[2])),
                             device=device)
    out = _rope(impl, x, base, positions, interleaved)
    assert_close(out.norm(dim=-1), x.norm(dim=-1), what="norm of each rotated vector")


@given(shape=shapes, seed=seeds, base=bases, interleaved=st.booleans())
def test_position_zero_is_identity(impl, device, shape, seed, base, interleaved):
    x = _x(shape, seed, device)
    zeros = torch.zeros(shape[2], dtype=torch.long, device=device)
    assert_close(_rope(impl, x, base, zeros, interleaved), x, what="x rotated at position 0")


@given(pair=size(4), seed=seeds, base=bases, interleaved=st.booleans(),
       m=st.integers(0, 20), n=st.integers(0, 20), shift=st.integers(0, 20))
def test_scores_depend_only_on_relative_position(impl, device, pair, seed, base, interleaved,
                                                 m, n, shift):
    query = randn((1, 1, 1, 2 * pair), seed, device=device)
    key = randn((1, 1, 1, 2 * pair), seed + 1, device=device)

    def score(p, q):
        rq = _rope(impl, query, base, torch.tensor([p], device=device), interleaved)
        rk = _rope(impl, key, base, torch.tensor([q], device=device), interleaved)
        return (rq * rk).sum()

    assert_close(score(m + shift, n + shift), score(m, n), atol=1e-4,
                 what=f"<R_(m+s) q, R_(n+s) k> vs <R_m q, R_n k> (m={m}, n={n}, s={shift})")


@given(shape=shapes, seed=seeds, base=bases, interleaved=st.booleans(),
       a=st.integers(0, 23), b=st.integers(0, 23))
def test_rotations_compose_by_adding_positions(impl, device, shape, seed, base, interleaved, a, b):
    x = _x(shape, seed, device)

    def at(p):
        return torch.full((shape[2],), p, dtype=torch.long, device=device)

    twice = _rope(impl, _rope(impl, x, base, at(a), interleaved), base, at(b), interleaved)
    assert_close(twice, _rope(impl, x, base, at(a + b), interleaved),
                 atol=1e-4, what=f"R_{b}(R_{a} x) vs R_{a + b} x")


@given(shape=shapes, seed=seeds, base=bases, offset=st.integers(0, 30))
def test_layouts_agree_after_the_documented_permutation(impl, device, shape, seed, base, offset):
    x = _x(shape, seed, device)
    perm = _half_to_interleaved(x.shape[-1]).to(device)
    positions = torch.arange(offset, offset + shape[2], device=device)
    half = _rope(impl, x, base, positions, interleaved=False)
    inter = _rope(impl, x[..., perm], base, positions, interleaved=True)
    assert_close(inter, half[..., perm],
                 what="interleaved RoPE of the permuted x vs half-split RoPE, permuted")


@given(shape=shapes, seed=seeds, base=bases, interleaved=st.booleans(), data=st.data())
def test_offset_positions_equal_a_slice_of_the_full_sequence(impl, device, shape, seed, base,
                                                             interleaved, data):
    # Decoding with a cache: the last tokens at positions start.. match the full-sequence result.
    x = _x(shape, seed, device)
    start = data.draw(st.integers(0, shape[2] - 1), label="start")
    full = _rope(impl, x, base, interleaved=interleaved)
    tail = _rope(impl, x[..., start:, :], base, torch.arange(start, shape[2], device=device),
                 interleaved)
    assert_close(tail, full[..., start:, :], what=f"positions {start}.. computed alone")


@given(shape=shapes, seed=seeds, interleaved=st.booleans(), data=st.data())
def test_per_row_positions_match_rows_computed_alone(impl, device, shape, seed, interleaved, data):
    x = _x(shape, seed, device)
    starts = data.draw(st.lists(st.integers(0, 30), min_size=shape[0], max_size=shape[0]))
    positions = torch.stack([torch.arange(s, s + shape[2]) for s in starts]).to(device)
    out = _rope(impl, x, position_ids=positions, interleaved=interleaved)
    for b in range(shape[0]):
        alone = _rope(impl, x[b : b + 1], position_ids=positions[b], interleaved=interleaved)
        assert_close(out[b : b + 1], alone, what=f"batch row {b} (positions from {starts[b]})")


# ---------------------------------------------------------------- oracle


@given(shape=shapes, seed=seeds, base=bases, interleaved=st.booleans(), per_row=st.booleans(),
       data=st.data())
def test_matches_complex_multiplication(impl, device, shape, seed, base, interleaved, per_row,
                                        data):
    x = _x(shape, seed, device)
    rows = shape[0] if per_row else 1
    drawn = data.draw(st.lists(st.integers(0, MAX_POSITION - 1), min_size=rows * shape[2],
                               max_size=rows * shape[2]), label="positions")
    positions = torch.tensor(drawn, device=device).view(rows, shape[2])
    positions = positions if per_row else positions[0]
    expected = complex_oracle(x, positions, base, interleaved)
    assert_close(_rope(impl, x, base, positions, interleaved), expected)


@given(shape=shapes, seed=seeds, dtype=st.sampled_from((torch.float16, torch.bfloat16)),
       interleaved=st.booleans())
def test_low_precision_matches_float64_and_keeps_dtype(impl, device, shape, seed, dtype,
                                                       interleaved):
    x = _x(shape, seed, device, dtype)
    positions = torch.arange(20, 20 + shape[2], device=device)
    expected = complex_oracle(x.double(), positions, 10000.0, interleaved).to(dtype)
    assert_close(_rope(impl, x, 10000.0, positions, interleaved), expected)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("head_dim", [3, 0, -2])
def test_odd_or_non_positive_head_dim_raises_value_error(impl, head_dim):
    with pytest.raises(ValueError) as raised:
        call(impl.rope_tables, head_dim, 8)
    assert re.search(rf"(?<!\d){head_dim}\b", str(raised.value)), (
        f"rope_tables({head_dim}, 8): the ValueError should name head_dim={head_dim}; "
        f"it said: {str(raised.value)!r}")


def test_head_dim_mismatch_raises_value_error_naming_both(impl, device):
    cos, sin = call(impl.rope_tables, 4, 8, device=device)
    x = torch.zeros(1, 1, 2, 6, device=device)
    with pytest.raises(ValueError) as raised:
        call(impl.apply_rope, x, cos, sin)
    message = str(raised.value)
    assert re.search(r"\b6\b", message) and re.search(r"\b(4|2)\b", message), (
        f"apply_rope with head_dim 6 and tables for head_dim 4: the ValueError should name both; "
        f"it said: {message!r}")


@pytest.mark.parametrize("bad", [8, 11, -1])
def test_position_outside_the_tables_raises_value_error(impl, device, bad):
    cos, sin = call(impl.rope_tables, 4, 8, device=device)
    x = torch.zeros(1, 1, 3, 4, device=device)
    positions = torch.tensor([0, 1, bad], device=device)
    with pytest.raises(ValueError) as raised:
        call(impl.apply_rope, x, cos, sin, positions)
    assert re.search(rf"(?<!\d){bad}\b", str(raised.value)), (
        f"apply_rope with position {bad} and max_position 8: the ValueError should name the "
        f"position; it said: {str(raised.value)!r}")


def test_last_position_of_the_tables_is_accepted(impl, device):
    # max_position 8: position 7 is the last valid one (8 raises, tested above).
    cos, sin = call(impl.rope_tables, 2, 8, device=device)
    x = torch.tensor([[1.0, 0.0]] * 2, device=device).view(1, 1, 2, 2)
    out = call(impl.apply_rope, x, cos, sin, torch.tensor([0, 7], device=device))
    expected = torch.tensor([[1.0, 0.0], [math.cos(7), math.sin(7)]], device=device)
    assert_close(out, expected.view(1, 1, 2, 2), what="x at positions [0, 7] with max_position 8")


def test_default_positions_beyond_the_tables_raise_value_error(impl, device):
    # position_ids=None means 0 .. seq - 1: seq == max_position fits, seq == max_position + 1
    # needs position 8, which tables of 8 positions do not hold.
    cos, sin = call(impl.rope_tables, 2, 8, device=device)
    fits = torch.tensor([[1.0, 0.0]] * 8, device=device).view(1, 1, 8, 2)
    out = call(impl.apply_rope, fits, cos, sin)
    expected = torch.tensor([[math.cos(p), math.sin(p)] for p in range(8)], device=device)
    assert_close(out, expected.view(1, 1, 8, 2), what="seq 8 with max_position 8")
    too_long = torch.zeros(1, 1, 9, 2, device=device)
    with pytest.raises(ValueError) as raised:
        call(impl.apply_rope, too_long, cos, sin)
    assert re.search(r"\b8\b", str(raised.value)), (
        "apply_rope with seq 9, position_ids=None and max_position 8: the ValueError should "
        f"name the position or max_position; it said: {str(raised.value)!r}")

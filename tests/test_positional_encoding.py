"""Grader for the `positional_encoding` kata: worked examples, properties, then the formula."""

import math
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import seeds, size

pairs = size(5)  # d_model = 2 * pair
bases = st.sampled_from((10000.0, 100.0, 7.0))
offsets = st.integers(-200, 200)


def _positions(seed, seq, device, high=500):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, (seq,), generator=generator).to(device)


def paper_formula(positions, d_model, base):
    """PE(pos, 2i) = sin(pos / base^(2i/d)), PE(pos, 2i+1) = cos(...), in float64 (§3.5)."""
    pos = positions.double().cpu()[..., None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / base ** (two_i / d_model)
    out = torch.empty(*positions.shape, d_model, dtype=torch.float64)
    out[..., 0::2], out[..., 1::2] = torch.sin(angle), torch.cos(angle)
    return out.to(positions.device)


# ---------------------------------------------------------------- worked examples


def test_position_zero_is_zero_one_repeated(impl, device):
    encoding = call(impl.sinusoidal_encoding, torch.tensor([0], device=device), 6)
    assert_close(encoding, torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]], device=device))


def test_small_table_worked_example(impl, device):
    # d_model 4, base 100: ω = [100^0, 100^(-2/4)] = [1, 0.1].
    encoding = call(impl.sinusoidal_encoding, torch.arange(3, device=device), 4, 100.0)
    expected = [[math.sin(p), math.cos(p), math.sin(0.1 * p), math.cos(0.1 * p)] for p in range(3)]
    assert_close(encoding, torch.tensor(expected, device=device))


def test_longest_wavelength_is_short_of_base_times_2pi(impl, device):
    # d_model 8, base 10^4: the last pair (i = 3) has ω = 10^4^(-6/8) = 10^-3, so its wavelength
    # is 2000π, not the 20000π of "up to base · 2π". Half a wavelength later: (sin, cos) = (0, -1).
    half = 1000 * math.pi
    encoding = call(impl.sinusoidal_encoding, torch.tensor([half], dtype=torch.float64,
                                                           device=device), 8, 10000.0,
                    torch.float64)
    assert_close(encoding[0, 6:], torch.tensor([0.0, -1.0], dtype=torch.float64, device=device),
                 what="last sin/cos pair half a wavelength (1000π) from position 0", atol=1e-9)


def test_offset_matrix_worked_example(impl, device):
    # d_model 2: one pair with ω = 1; shifting by 1 rotates (sin p, cos p) by 1 radian.
    c, s = math.cos(1.0), math.sin(1.0)
    matrix = call(impl.offset_matrix, 1, 2, device=device)
    assert_close(matrix, torch.tensor([[c, s], [-s, c]], device=device), what="offset matrix M_1")


def test_positions_near_one_hundred_thousand_need_float64_angles(impl, device):
    # d_model 512: p · ω_i in float32 near p = 10^5 is off by up to ~7e-3 radians.
    positions = torch.tensor([99_999, 100_000], device=device)
    expected = paper_formula(positions, 512, 10000.0)
    assert_close(call(impl.sinusoidal_encoding, positions, 512), expected.float(),
                 what="encoding at positions 99999 and 100000 (float32 result)")


def test_float64_result_is_exact_to_float64(impl, device):
    # dtype=float64: the values must be float64 sines, not float32 ones cast up (~3e-8 off).
    positions = torch.tensor([3, 1000, 99_999], device=device)
    expected = paper_formula(positions, 8, 10000.0)
    assert_close(call(impl.sinusoidal_encoding, positions, 8, 10000.0, torch.float64), expected,
                 atol=1e-9, rtol=0.0, what="float64 encoding (computed and kept in float64)")
    shift = 99_999
    omega = 10000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    c, s_ = torch.cos(shift * omega), torch.sin(shift * omega)
    expected = torch.block_diag(*[torch.tensor([[c[i], s_[i]], [-s_[i], c[i]]])
                                  for i in range(4)]).to(device)
    assert_close(call(impl.offset_matrix, shift, 8, dtype=torch.float64, device=device), expected,
                 atol=1e-9, rtol=0.0, what=f"float64 offset_matrix({shift}, 8)")


# ---------------------------------------------------------------- properties


@given(pair=pairs, seed=seeds, base=bases, seq=size(6))
def test_each_sin_cos_pair_has_unit_norm(impl, device, pair, seed, base, seq):
    encoding = call(impl.sinusoidal_encoding, _positions(seed, seq, device), 2 * pair, base)
    norms = encoding.view(seq, pair, 2).square().sum(dim=-1)
    assert_close(norms, torch.ones(seq, pair, device=device),
                 what="sin² + cos² of each pair (features 2i, 2i + 1)")


@given(pair=pairs, seed=seeds, base=bases, seq=size(6), shift=offsets)
def test_dot_product_depends_only_on_offset(impl, device, pair, seed, base, seq, shift):
    positions = _positions(seed, seq, device) + 200
    encoding = call(impl.sinusoidal_encoding, positions, 2 * pair, base).double()
    shifted = call(impl.sinusoidal_encoding, positions + shift, 2 * pair, base).double()
    assert_close(shifted @ shifted.T, encoding @ encoding.T, atol=1e-4,
                 what=f"PE(p)·PE(q) after shifting every position by {shift}")


@given(pair=pairs, seed=seeds, base=bases, seq=size(6), shift=offsets)
def test_shifting_positions_is_the_offset_matrix(impl, device, pair, seed, base, seq, shift):
    positions = _positions(seed, seq, device) + 200
    encoding = call(impl.sinusoidal_encoding, positions, 2 * pair, base, torch.float64)
    matrix = call(impl.offset_matrix, shift, 2 * pair, base, torch.float64, device)
    expected = call(impl.sinusoidal_encoding, positions + shift, 2 * pair, base, torch.float64)
    assert_close(encoding @ matrix.T, expected, atol=1e-9, rtol=1e-9,
                 what=f"M_{shift} @ PE(p) vs PE(p + {shift})")


@given(pair=pairs, base=bases, j=offsets, k=offsets)
def test_offset_matrices_compose_and_are_orthogonal(impl, device, pair, base, j, k):
    def m(offset):
        return call(impl.offset_matrix, offset, 2 * pair, base, torch.float64, device)

    assert_close(m(j) @ m(k), m(j + k), atol=1e-9, rtol=1e-9, what=f"M_{j} @ M_{k} vs M_{j + k}")
    assert_close(m(k) @ m(k).T, torch.eye(2 * pair, dtype=torch.float64, device=device),
                 atol=1e-9, rtol=1e-9, what=f"M_{k} @ M_{k}ᵀ (a rotation is orthogonal)")
    assert_close(m(0), torch.eye(2 * pair, dtype=torch.float64, device=device),
                 what="M_0 (no shift)")


@given(pair=pairs, base=bases, seed=seeds, seq=size(6), data=st.data())
def test_pair_i_repeats_after_its_wavelength(impl, device, pair, base, seed, seq, data):
    # Pair i has wavelength 2π · base^(2i/d_model): from 2π (i = 0) up to nearly base · 2π.
    i = data.draw(st.integers(0, pair - 1), label="i")
    wavelength = 2 * math.pi * base ** (2 * i / (2 * pair))
    positions = _positions(seed, seq, device).double()
    encoding = call(impl.sinusoidal_encoding, positions, 2 * pair, base, torch.float64)
    later = call(impl.sinusoidal_encoding, positions + wavelength, 2 * pair, base, torch.float64)
    assert_close(later[:, 2 * i : 2 * i + 2], encoding[:, 2 * i : 2 * i + 2], atol=1e-9,
                 what=f"pair {i} one wavelength ({wavelength:.4g}) later")


@given(pair=pairs, seed=seeds, rows=size(3), seq=size(5))
def test_leading_axes_of_positions_are_kept(impl, device, pair, seed, rows, seq):
    positions = torch.stack([_positions(seed + r, seq, device) for r in range(rows)])
    encoding = call(impl.sinusoidal_encoding, positions, 2 * pair)
    for r in range(rows):
        assert_close(encoding[r], call(impl.sinusoidal_encoding, positions[r], 2 * pair),
                     what=f"row {r} of a (rows, seq) positions tensor")


# ---------------------------------------------------------------- the paper's formula


@given(pair=pairs, seed=seeds, base=bases, seq=size(6), start=st.integers(0, 100_000))
def test_matches_the_paper_formula_at_any_position(impl, device, pair, seed, base, seq, start):
    positions = _positions(seed, seq, device, high=1000) + start
    expected = paper_formula(positions, 2 * pair, base)
    encoding = call(impl.sinusoidal_encoding, positions, 2 * pair, base)
    assert_close(encoding, expected.float(),
                 what=f"encoding at positions {start}.. (angles need float64 there)")


@given(pair=pairs, seed=seeds, dtype=st.sampled_from((torch.float16, torch.bfloat16,
                                                      torch.float64)))
def test_result_has_the_requested_dtype(impl, device, pair, seed, dtype):
    positions = _positions(seed, 4, device)
    encoding = call(impl.sinusoidal_encoding, positions, 2 * pair, 10000.0, dtype)
    assert_close(encoding, paper_formula(positions, 2 * pair, 10000.0).to(dtype))


@given(pair=pairs, base=bases, shift=st.integers(-100_000, 100_000))
def test_offset_matrix_matches_the_formula(impl, device, pair, base, shift):
    omega = base ** (-torch.arange(0, 2 * pair, 2, dtype=torch.float64) / (2 * pair))
    c, s = torch.cos(shift * omega), torch.sin(shift * omega)
    blocks = [torch.tensor([[c[i], s[i]], [-s[i], c[i]]]) for i in range(pair)]
    expected = torch.block_diag(*blocks).to(device)
    assert_close(call(impl.offset_matrix, shift, 2 * pair, base, device=device), expected.float(),
                 what=f"offset_matrix({shift}, {2 * pair}, {base})")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("d_model", [5, 1, 0, -4])
@pytest.mark.parametrize("function", ["sinusoidal_encoding", "offset_matrix"])
def test_odd_or_non_positive_d_model_raises_value_error(impl, device, function, d_model):
    first = torch.arange(3, device=device) if function == "sinusoidal_encoding" else 1
    with pytest.raises(ValueError) as raised:
        call(getattr(impl, function), first, d_model)
    assert re.search(rf"(?<!\d){d_model}\b", str(raised.value)), (
        f"{function}(..., d_model={d_model}): the ValueError should name d_model={d_model}; "
        f"it said: {str(raised.value)!r}")

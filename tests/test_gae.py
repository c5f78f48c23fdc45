"""Grader for the `gae` kata: worked examples, properties (λ = 0 and 1, masking), the reference."""

import re

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import randn, response_mask, seeds, size

shapes = st.tuples(size(4), size(7))
gammas = st.sampled_from([0.0, 0.5, 0.9, 1.0])
lams = st.sampled_from([0.0, 0.5, 0.95, 1.0])


def _episode(shape, seed, device, dtype=torch.float64):
    return (randn(shape, seed, dtype=dtype, device=device),
            randn(shape, seed + 1, dtype=dtype, device=device),
            response_mask(shape, seed + 2, device=device))


def _discounted(rewards, mask, gamma):
    """Σ_k γ^k r_{t+k} over the rest of the response, by a plain loop (the test's oracle)."""
    out = torch.zeros_like(rewards)
    for b in range(rewards.shape[0]):
        running = 0.0
        for t in reversed(range(rewards.shape[1])):
            if mask[b, t]:
                running = float(rewards[b, t]) + gamma * running
                out[b, t] = running
    return out


# ---------------------------------------------------------------- worked examples


def test_gae_worked_example(impl, device):
    # prompt, 3 response tokens, padding; the 9s outside the response must not count
    mask = torch.tensor([[False, True, True, True, False]], device=device)
    rewards = torch.tensor([[9.0, 0.0, 0.0, 1.0, 9.0]], device=device)
    values = torch.tensor([[9.0, 0.5, 0.4, 0.3, 9.0]], device=device)
    gamma, lam = 0.9, 0.5
    d3 = 1.0 + gamma * 0.0 - 0.3  # the last response token: next value 0
    d2 = 0.0 + gamma * 0.3 - 0.4
    d1 = 0.0 + gamma * 0.4 - 0.5
    a3 = d3
    a2 = d2 + gamma * lam * a3
    a1 = d1 + gamma * lam * a2
    advantages, returns = call(impl.gae, rewards, values, mask, gamma=gamma, lam=lam)
    assert_close(advantages, torch.tensor([[0.0, a1, a2, a3, 0.0]], device=device),
                 what="advantages (backward recursion A_t = δ_t + γλ A_{t+1})")
    assert_close(returns, torch.tensor([[0.0, a1 + 0.5, a2 + 0.4, a3 + 0.3, 0.0]],
                                       device=device), what="returns = advantages + values")


def test_float64_keeps_small_returns_next_to_large_values(impl, device):
    # float64 in, float64 out, computed in float64: a 2-token response with V = 1e8 on both tokens
    # and reward 0.25 on the last, γ = λ = 1. δ_1 = 0.25 + 0 - 1e8, δ_0 = 0 + 1e8 - 1e8 = 0, so
    # A_0 = A_1 = 0.25 - 1e8 and the returns A + V are 0.25 (the rewards to go). Advantages held
    # in float32 anywhere (spacing 8 at 1e8) lose the 0.25 and the returns come out 0.
    to = {"dtype": torch.float64, "device": device}
    mask = torch.tensor([[True, True]], device=device)
    rewards = torch.tensor([[0.0, 0.25]], **to)
    values = torch.tensor([[1e8, 1e8]], **to)
    advantages, returns = call(impl.gae, rewards, values, mask, gamma=1.0, lam=1.0)
    assert_close(advantages, torch.tensor([[0.25 - 1e8, 0.25 - 1e8]], **to),
                 what="float64 advantages next to values of 1e8")
    assert_close(returns, torch.tensor([[0.25, 0.25]], **to), atol=1e-9,
                 what="float64 returns A + V = 0.25 next to values of 1e8 (float32 gives 0)")


def test_masked_whiten_worked_example(impl, device):
    # masked values 1, 2, 3: mean 2, unbiased variance (1 + 0 + 1) / 2 = 1
    values = torch.tensor([[1.0, 2.0, 100.0], [3.0, -50.0, 7.0]], dtype=torch.float64,
                          device=device)
    mask = torch.tensor([[True, True, False], [True, False, False]], device=device)
    scale = (1 + 1e-8) ** -0.5
    expected = torch.tensor([[-scale, 0.0, 0.0], [scale, 0.0, 0.0]], dtype=torch.float64,
                            device=device)
    assert_close(call(impl.masked_whiten, values, mask), expected,
                 what="masked_whiten (mean 2, unbiased variance 1 over the 3 masked values)")
    expected = torch.tensor([[2 - scale, 2.0, 0.0], [2 + scale, 0.0, 0.0]], dtype=torch.float64,
                            device=device)
    assert_close(call(impl.masked_whiten, values, mask, shift_mean=False), expected,
                 what="masked_whiten(shift_mean=False) (the mean added back)")


# ---------------------------------------------------------------- properties


@given(shape=shapes, seed=seeds, gamma=gammas)
@example(shape=(2, 5), seed=0, gamma=0.9)
def test_lambda_one_gives_discounted_return_minus_value(impl, device, shape, seed, gamma):
    rewards, values, mask = _episode(shape, seed, device)
    advantages, returns = call(impl.gae, rewards, values, mask, gamma=gamma, lam=1.0)
    expected_returns = _discounted(rewards, mask, gamma)
    assert_close(returns, expected_returns,
                 what=f"returns with lam=1 (Monte-Carlo discounted return, gamma={gamma})")
    assert_close(advantages, torch.where(mask, expected_returns - values, 0.0),
                 what="advantages with lam=1 (discounted return - V)")


@given(shape=shapes, seed=seeds, gamma=gammas)
def test_lambda_zero_gives_one_step_td_error(impl, device, shape, seed, gamma):
    rewards, values, mask = _episode(shape, seed, device)
    advantages, _ = call(impl.gae, rewards, values, mask, gamma=gamma, lam=0.0)
    next_values = torch.nn.functional.pad(torch.where(mask, values, 0.0)[:, 1:], (0, 1))
    expected = torch.where(mask, rewards + gamma * next_values - values, 0.0)
    assert_close(advantages, expected,
                 what="advantages with lam=0 (r_t + γ V_{t+1} - V_t; V after the end is 0)")


@given(shape=shapes, seed=seeds, gamma=gammas, lam=lams)
def test_positions_outside_the_response_do_not_matter(impl, device, shape, seed, gamma, lam):
    rewards, values, mask = _episode(shape, seed, device)
    expected = call(impl.gae, rewards, values, mask, gamma=gamma, lam=lam)
    noise = randn(shape, seed + 9, dtype=torch.float64, device=device, scale=50)
    got = call(impl.gae, torch.where(mask, rewards, noise), torch.where(mask, values, -noise),
               mask, gamma=gamma, lam=lam)
    assert_close(got[0], expected[0],
                 what="advantages after changing rewards/values outside the response")
    assert_close(got[1], expected[1], what="returns after changing them")
    zeros = torch.zeros_like(got[0])
    assert_close(torch.where(mask, zeros, got[0]), zeros, what="advantages outside the response")
    assert_close(torch.where(mask, zeros, got[1]), zeros, what="returns outside the response")


@given(shape=shapes, seed=seeds, gamma=gammas, lam=lams)
def test_returns_are_advantages_plus_values(impl, device, shape, seed, gamma, lam):
    rewards, values, mask = _episode(shape, seed, device)
    advantages, returns = call(impl.gae, rewards, values, mask, gamma=gamma, lam=lam)
    assert_close(returns, torch.where(mask, advantages + values, 0.0),
                 what="returns vs advantages + values on the response")


@given(shape=shapes, seed=seeds, gamma=gammas, lam=lams)
def test_advantages_ignore_the_prompt_length(impl, device, shape, seed, gamma, lam):
    # the same response placed after a longer prompt gets the same advantages
    batch, seq = shape
    rewards, values, _ = _episode((batch, seq), seed, device)
    mask = torch.zeros(batch, seq + 3, dtype=torch.bool, device=device)
    mask[:, :seq] = True
    pad = torch.zeros(batch, 3, dtype=torch.float64, device=device)
    short = call(impl.gae, torch.cat([rewards, pad], 1), torch.cat([values, pad], 1), mask,
                 gamma=gamma, lam=lam)
    long = call(impl.gae, torch.cat([pad, rewards], 1), torch.cat([pad, values], 1),
                mask.roll(3, dims=1), gamma=gamma, lam=lam)
    assert_close(long[0][:, 3:], short[0][:, :seq],
                 what="advantages of a response after a 3-token prompt vs at position 0")


@given(shape=shapes, seed=seeds, shift_mean=st.booleans())
@example(shape=(2, 6), seed=3, shift_mean=True)
def test_whitened_values_have_zero_mean_and_unit_variance_on_the_mask(impl, device, shape, seed,
                                                                      shift_mean):
    values = randn(shape, seed, dtype=torch.float64, device=device, scale=3) + 5
    mask = response_mask(shape, seed + 1, device=device)
    if int(mask.sum()) < 2:
        mask = mask | torch.ones_like(mask)
    if int(mask.sum()) < 2:
        return  # a 1 x 1 batch: nothing to whiten
    noise = randn(shape, seed + 2, dtype=torch.float64, device=device, scale=100)
    whitened = call(impl.masked_whiten, torch.where(mask, values, noise), mask,
                    shift_mean=shift_mean)
    kept = values[mask]
    mean, var = kept.mean(), kept.var()  # var: unbiased
    expected = (values - mean) / torch.sqrt(var + 1e-8) + (0 if shift_mean else mean)
    assert_close(whitened, torch.where(mask, expected, 0.0),
                 what="masked_whiten (statistics over the masked positions only)")


# ---------------------------------------------------------------- reference


@given(shape=shapes, seed=seeds, gamma=gammas, lam=lams, shift_mean=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_matches_reference(impl, ref, device, shape, seed, gamma, lam, shift_mean, dtype):
    rewards, values, mask = _episode(shape, seed, device, dtype)
    expected = ref.gae(rewards, values, mask, gamma=gamma, lam=lam)
    got = call(impl.gae, rewards, values, mask, gamma=gamma, lam=lam)
    assert_close(got[0], expected[0], what="advantages")
    assert_close(got[1], expected[1], what="returns")
    if int(mask.sum()) >= 2:
        assert_close(call(impl.masked_whiten, got[0], mask, shift_mean=shift_mean),
                     ref.masked_whiten(expected[0], mask, shift_mean=shift_mean),
                     what="masked_whiten(advantages)")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", ["gamma", "lam"])
def test_gamma_or_lambda_outside_unit_interval_raises_value_error(impl, device, name):
    rewards, values, mask = _episode((2, 3), 0, device)
    for valid in (0.0, 1.0):
        call(impl.gae, rewards, values, mask, **{name: valid})
    for bad in (1.01, -0.1):
        with pytest.raises(ValueError) as raised:
            call(impl.gae, rewards, values, mask, **{name: bad})
        assert str(bad) in str(raised.value), (
            f"the ValueError should name {name}={bad}; it said: {raised.value}")


def test_whitening_fewer_than_two_values_raises_value_error(impl, device):
    values = torch.arange(6.0, device=device).view(2, 3)
    mask = torch.zeros(2, 3, dtype=torch.bool, device=device)
    mask[0, 1] = mask[1, 2] = True
    call(impl.masked_whiten, values, mask)  # 2 values: the last valid
    mask[1, 2] = False
    with pytest.raises(ValueError) as raised:
        call(impl.masked_whiten, values, mask)
    assert re.search(r"(?<!\d)1(?!\d)", str(raised.value)), (
        f"the ValueError should say how many values there were (1); it said: {raised.value}")
